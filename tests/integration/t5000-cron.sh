#!/usr/bin/env bash
# services/scheduler/cron against an independent reference: some 1800
# generated expressions, in zones with DST (30-minute, southern, negative,
# a whole day), odd offsets and footer-only rules, from random instants
# and instants next to DST changes, then twice in every other zone of the
# system.  tests/helpers/cronnext gives the next fire times, and a
# brute-force search in Python (zoneinfo, minute by minute in UTC: a minute
# fires when its wall time matches the fields and is the first occurrence
# of that wall time) gives its own.  Prints the first disagreements in
# full.  No stack is started.
#
#   CRON_SEED=N   another sequence of cases (the default is fixed)
. "$(dirname "$0")/../lib.sh"

REF=$LF_TMP/cronref.py
cat > "$REF" <<'PY'
import os, random, struct, subprocess, sys
from datetime import datetime, timedelta, timezone
import zoneinfo
from zoneinfo import ZoneInfo

bin_, tzdir, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
NFIRES = 5
HORIZON = 1827 * 86400

# ---- zones: real ones linked into tzdir, footer-only ones written there
REAL = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
        "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns",
        "Europe/Dublin", "Asia/Tehran", "America/Sao_Paulo",
        "Pacific/Apia", "America/Santiago"]
# The zero-based day form ("300") is left to t_cron: Python 3.11's zoneinfo
# puts it a day early (n counts from January 1, as glibc does).
SYN = {
    "Syn/Julian": "XST3XDT,J60/0,J300/1",
    "Syn/AllDst": "EST5EDT4,0/0,J365/25",
    "Syn/Midnight": "<-03>3<-02>,M10.1.0/0,M2.3.0/0",
    "Syn/Negative": "IST-1GMT0,M10.5.0,M3.5.0/1",
    "Syn/LateHour": "EST5EDT,M3.2.0/-1,M11.1.0/26",
    "Syn/Dateline": "<-11>11<+13>-13,M9.5.0/3,M4.1.0/4",
}
SYSTZ = "/usr/share/zoneinfo"
for entry in os.listdir(SYSTZ):
    os.symlink(os.path.join(SYSTZ, entry), os.path.join(tzdir, entry))

def tzif(utoff, footer):
    block = b"TZif2" + b"\0" * 15 + struct.pack(">6I", 0, 0, 0, 0, 1, 4)
    block += struct.pack(">lBB", utoff, 0, 0) + b"XST\0"
    return block + block + b"\n" + footer.encode() + b"\n"

for name, footer in SYN.items():
    path = os.path.join(tzdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(tzif(0, footer))

def zone(name):
    with open(os.path.join(tzdir, name), "rb") as f:
        return ZoneInfo.from_file(f, key=name)
ZONES = {n: zone(n) for n in REAL + list(SYN)}
# Every other zone of the system once or twice: each file and footer read.
OTHERS = sorted(n for n in zoneinfo.available_timezones()
                if n not in ZONES and not n.startswith(("posix/", "right/"))
                and n != "localtime")

# ---- the reference: its own parser and a brute-force search
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DAYS = "sun mon tue wed thu fri sat".split()
FIELDS = [(0, 59, None), (0, 23, None), (1, 31, None), (1, 12, MONTHS),
          (0, 7, DAYS)]

def value(s, f):
    lo, hi, names = FIELDS[f]
    if names and s.lower() in names:
        return names.index(s.lower()) + lo
    v = int(s)
    assert lo <= v <= hi, s
    return v

def field(s, f):
    """The set of values of field f, and whether it counts as "*"."""
    lo, hi, _ = FIELDS[f]
    top = 6 if f == 4 else hi
    star = s[0] in "*?"
    out = set()
    for part in ("*" if s == "?" else s).split(","):
        base, slash, step = part.partition("/")
        step = int(step) if slash else 1
        if base == "*":
            a, b = lo, top
        elif "-" in base:
            a, b = (value(x, f) for x in base.split("-"))
        else:
            a = value(base, f)
            b = top if slash else a
        if f == 4 and a > b:
            # days of the week as a cycle: walk from a round to b
            seq = [a % 7]
            while seq[-1] != b % 7:
                seq.append((seq[-1] + 1) % 7)
        else:
            assert a <= b, part
            seq = [v % 7 if f == 4 else v for v in range(a, b + 1)]
        out.update(seq[::step])
    return out, star

def parse(expr):
    parts = expr.split()
    assert len(parts) == 5
    return [field(p, i) for i, p in enumerate(parts)]

def day_ok(c, d):
    (dom, dstar), (dow, wstar) = c[2], c[4]
    a, b = d.day in dom, (d.isoweekday() % 7) in dow
    return (a and b) if (dstar or wstar) else (a or b)

def skip(u, z, w, left):
    """u moved ahead by `left` seconds of wall clock, never past the wall
    time w + left: when the offset grows by D on the way (one change a day
    at most here), D less; at least a minute."""
    u2 = u + left
    grow = z.utcoffset(datetime.fromtimestamp(u2, z)) - w.utcoffset()
    return max(u + 60, u2 - max(0, int(grow.total_seconds())))

def ref_next(c, z, after):
    """First UTC minute > after whose wall time matches and is the first
    occurrence of that wall time (fold 0); None past the horizon."""
    u = (after // 60 + 1) * 60
    end = u + HORIZON
    mins, hours, months = c[0][0], c[1][0], c[3][0]
    while u <= end:
        w = datetime.fromtimestamp(u, z)
        sec = w.hour * 3600 + w.minute * 60 + w.second
        if w.month not in months or not day_ok(c, w):
            u = skip(u, z, w, 86400 - sec)		# to the next local day
        elif w.hour not in hours:
            u = skip(u, z, w, 3600 - sec % 3600)	# to the next local hour
        elif w.fold == 0 and w.second == 0 and w.minute in mins:
            return u
        else:
            u += 60
    return None

# ---- cases
def rand_elem(f):
    lo, hi, names = FIELDS[f]
    top = 6 if f == 4 else hi
    k = rng.random()

    def name(v):
        if names is None or v - lo >= len(names) or rng.random() < 0.6:
            return str(v)
        return names[v - lo].capitalize() if rng.random() < 0.5 else names[v - lo]
    if k < 0.3:
        return name(rng.randint(lo, hi))
    if k < 0.5:
        a = rng.randint(lo, top)
        if f == 4:
            b = rng.randint(lo, hi)		# may wrap: fri-mon, 6-7
        else:
            b = rng.randint(a, top)
        return name(a) + "-" + name(b)
    if k < 0.65:
        return "*/" + str(rng.randint(1, min(top - lo + 1, 30)))
    if k < 0.8:
        a = rng.randint(lo, top)
        b = rng.randint(lo, hi) if f == 4 else rng.randint(a, top)
        return "%s-%s/%d" % (name(a), name(b),
                             rng.randint(1, min(top - lo + 1, 12)))
    if k < 0.9:
        return "%d/%d" % (rng.randint(lo, top),
                          rng.randint(1, min(top - lo + 1, 15)))
    return "*"

def rand_field(f):
    k = rng.random()
    if f in (2, 3, 4) and k < 0.45:
        return "?" if f != 3 and rng.random() < 0.2 else "*"
    if f == 1 and k < 0.25:
        return "*"
    n = 1 if rng.random() < 0.7 else rng.randint(2, 3)
    return ",".join(rand_elem(f) for _ in range(n))

def rand_expr():
    return " ".join(rand_field(f) for f in range(5))

DST_EXPRS = ["30 2 * * *", "0 * * * *", "*/15 * * * *", "30 1 * * *",
             "0,30 0-3 * * *", "45 1 * * sun", "* * * * *", "0 0 * * *",
             "15 0,1,2,3 * * *", "*/20 23,0,1 * * *"]

def transitions(z, y0, y1):
    """UTC instants where z's offset changes in [y0, y1)."""
    out = []
    t = int(datetime(y0, 1, 1, tzinfo=timezone.utc).timestamp())
    stop = int(datetime(y1, 1, 1, tzinfo=timezone.utc).timestamp())
    prev = z.utcoffset(datetime.fromtimestamp(t, z))
    while t < stop:
        off = z.utcoffset(datetime.fromtimestamp(t + 3600, z))
        if off != prev:
            lo, hi = t, t + 3600
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if z.utcoffset(datetime.fromtimestamp(mid, z)) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = off
        t += 3600
    return out

cases = []
t2024 = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
t2045 = int(datetime(2045, 1, 1, tzinfo=timezone.utc).timestamp())
for name, z in ZONES.items():
    trs = transitions(z, 2026, 2028) + transitions(z, 2040, 2041)
    for _ in range(24):
        cases.append((rng.randint(t2024, t2045), name, rand_expr()))
    for tr in trs:
        for _ in range(3):
            e = rng.choice(DST_EXPRS) if rng.random() < 0.6 else rand_expr()
            cases.append((tr + rng.randint(-4 * 3600, 3 * 3600), name, e))
near = sum(1 for c in cases if c[2] in DST_EXPRS)
for name in OTHERS:
    ZONES[name] = zone(name)
    for _ in range(2):
        e = rng.choice(DST_EXPRS) if rng.random() < 0.5 else rand_expr()
        cases.append((rng.randint(t2024, t2045), name, e))
nothers = len(OTHERS)

inp = "".join("%d\t%s\t%s\n" % c for c in cases)
env = dict(os.environ, TZDIR=tzdir)
res = subprocess.run([bin_, "-b", "-n", str(NFIRES)], input=inp, env=env,
                     capture_output=True, text=True, timeout=120)
lines = res.stdout.splitlines()
if res.returncode != 0 or len(lines) != len(cases):
    print("# cronnext exited %d with %d lines for %d cases: %s" %
          (res.returncode, len(lines), len(cases), res.stderr[:300]))
    print("RESULT %d %d 0 0 0 0" % (len(cases), len(cases)))
    sys.exit(0)

def show(ts, z):
    return ", ".join("%s (%s)" % (
        datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        datetime.fromtimestamp(t, z).strftime("%a %Y-%m-%d %H:%M%z")
        + (" fold" if datetime.fromtimestamp(t, z).fold else ""))
        for t in ts) or "none"

bad = rejected = fires = 0
for (after, name, expr), line in zip(cases, lines):
    z = ZONES[name]
    c = parse(expr)
    want, t = [], after
    while len(want) < NFIRES:
        t = ref_next(c, z, t)
        if t is None:
            break
        want.append(t)
    if line.startswith("error: "):
        got = None
        ok = not want and "never fires" in line
        rejected += 1
    else:
        got = [int(x) for x in line.split()]
        ok = got == want
        fires += len(got)
    if not ok:
        bad += 1
        if bad <= 3:
            print("# DISAGREE: '%s' in %s after %d (%s)" % (expr, name, after,
                  datetime.fromtimestamp(after, timezone.utc).isoformat()))
            print("#   cronnext:  %s" % (line if got is None else show(got, z)))
            print("#   reference: %s" % show(want, z))
print("RESULT %d %d %d %d %d %d" % (len(cases), bad, rejected, fires, near,
                                    nothers))
PY

if [ ! -x "$LF_BIN/cronnext" ]; then
	echo "1..0 # SKIP $LF_BIN/cronnext is not built"
	exit 0
fi
if ! python3 -c 'import zoneinfo; zoneinfo.ZoneInfo("America/New_York")' 2>/dev/null; then
	echo "1..0 # SKIP python3 with zoneinfo and /usr/share/zoneinfo (tzdata) are needed"
	exit 0
fi
mkdir -p "$LF_TMP/zones"
out=$(timeout 500 python3 "$REF" "$LF_BIN/cronnext" "$LF_TMP/zones" \
    "${CRON_SEED:-5000}" 2>&1)
rc=$?
printf '%s\n' "$out" | grep '^#'
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
t_eq "the reference ran (exit 0; 124 is its 500 s bound)" "$rc" 0
read -r _ ncases nbad nrej nfires nnear nzones <<<"$(printf '%s\n' "$out" | grep '^RESULT')"
t_ok "a few hundred cases (${ncases:-0})" test "${ncases:-0}" -ge 300
t_ok "near DST changes (${nnear:-0})" test "${nnear:-0}" -ge 100
t_ok "every other zone of the system (${nzones:-0})" test "${nzones:-0}" -ge 300
t_ok "most fire (${nfires:-0} fires, ${nrej:-0} rejected)" \
    test "${nfires:-0}" -ge $((${ncases:-1} * 3))
t_eq "cronnext and the reference agree on every case" "${nbad:-none}" 0
t_done
