#!/bin/bash
# check.sh [--boot] - checks the units of deploy/systemd; TAP output.
#
# Always: systemd-analyze verify of every unit (one instance of each
# template) in a scratch root whose /opt/librefang/bin holds stand-ins.
# Any message fails: verify only warns about an unknown key or a bad value.
#
# --boot: boots systemd in a docker container made from $LF_SYSTEMD_BASE
# (default librefang-base:bookworm, made by deploy/; Debian's systemd and
# PostgreSQL are added once, image librefang-systemd-check), installs the
# programs of $LF_BIN (default build/default/bin) and the units as
# docs/production.md section 1 says, and checks that the stack gets ready
# behind two gateways, that the API key is required, what shell_exec can
# and cannot touch inside agent-runtime's sandbox, and that stopping
# librefang.target stops every unit.  Skipped, saying why, when docker or
# the base image is missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${LF_BIN:-$top/build/default/bin}
base=${LF_SYSTEMD_BASE:-librefang-base:bookworm}
image=librefang-systemd-check
progs="bus api-gateway agent-runtime scheduler memory audit channels"
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# t_eq DESC GOT WANT
t_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else
		not_ok "$1"; echo "#   got:  $2"; echo "#   want: $3"; fi
}

# ---- systemd-analyze verify ------------------------------------------------

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP no systemd-analyze (apt-get install systemd)"
	exit 0
fi

root=$(mktemp -d /tmp/lf-systemd-check.XXXXXX)
cname=lf-systemd-check-$$
cleanup() {
	rm -rf "$root"
	docker rm -f "$cname" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$root/opt/librefang/bin" "$root/etc/systemd/system" \
    "$root/usr/lib/systemd"
# Verify resolves the dependencies (sysinit.target, ...) in the root.
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
for p in $progs; do
	printf '#!/bin/sh\n' >"$root/opt/librefang/bin/$p"
	chmod 755 "$root/opt/librefang/bin/$p"
done
cp "$here"/*.service "$here"/*.target "$root/etc/systemd/system/"
for f in "$here"/*.service "$here"/*.target; do
	u=$(basename "$f")
	case $u in *@.service) u=${u%@.service}@1.service ;; esac
	# The root's own symlinks (kmod.service, ...) do not resolve in a
	# scratch root: not ours.
	out=$(timeout 60 systemd-analyze verify --root="$root" "$u" 2>&1 |
	    grep -v 'Too many levels of symbolic links')
	rc=$?
	if [ -z "$out" ]; then ok "systemd-analyze verify $u"; else
		not_ok "systemd-analyze verify $u"
		echo "$out" | sed 's/^/#   /'
	fi
	[ $rc -eq 124 ] && echo "#   (systemd-analyze hung for 60 s)"
done

if [ "${1:-}" != "--boot" ]; then
	echo "1..$n"
	exit $((failed > 0))
fi

# ---- boot it ---------------------------------------------------------------

skip() {
	echo "# skipped the boot: $1"
	echo "1..$n"
	exit $((failed > 0))
}
command -v docker >/dev/null || skip "no docker"
timeout 20 docker info >/dev/null 2>&1 || skip "dockerd does not answer"
docker image inspect "$base" >/dev/null 2>&1 ||
    skip "no base image $base (deploy/ makes it)"
for p in $progs; do
	[ -x "$bin/$p" ] || skip "no $bin/$p (make first)"
done
if ! docker image inspect "$image" >/dev/null 2>&1; then
	ctx=$root/ctx
	mkdir -p "$ctx"
	cat >"$ctx/Dockerfile" <<EOF
FROM $base
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \\
    --no-install-recommends systemd systemd-sysv dbus postgresql curl \\
    ca-certificates libcurl4 libjansson4 libmicrohttpd12 libnng1 libpq5 \\
    libssl3 libuuid1 && rm -rf /var/lib/apt/lists/*
EOF
	timeout 900 docker build -q -t "$image" "$ctx" >/dev/null ||
	    skip "could not build $image (apt-get in the container?)"
fi

# systemd needs CAP_SYS_ADMIN to set up the units' sandboxes.
timeout 60 docker run -d --name "$cname" --cap-add SYS_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    "$image" /lib/systemd/systemd >/dev/null || skip "systemd did not boot"
x() { timeout 120 docker exec "$cname" bash -c "$1"; }
state=
for i in $(seq 1 60); do
	state=$(x 'systemctl is-system-running' 2>/dev/null)
	case $state in running|degraded) break ;; esac
	sleep 0.5
done
case $state in running|degraded) ;; *)
	skip "systemd in the container is '$state' after 30 s" ;; esac

timeout 60 docker exec "$cname" mkdir -p /src/build/default/bin /src/docs
for p in $progs; do
	timeout 60 docker cp "$bin/$p" "$cname:/src/build/default/bin/"
done
timeout 60 docker cp "$here" "$cname:/src/systemd"
timeout 60 docker cp "$top/docs/production.md" "$cname:/src/docs/"

# docs/production.md section 1, with the secrets filled in.
x '
set -e
cd /src
useradd --system --home-dir /var/lib/librefang --shell /usr/sbin/nologin librefang
install -d -m 0755 /opt/librefang/bin /opt/librefang/docs
install -m 0755 build/default/bin/{bus,api-gateway,agent-runtime,scheduler,memory,audit,channels} /opt/librefang/bin/
install -m 0644 docs/production.md /opt/librefang/docs/
install -d -m 0750 -g librefang /etc/librefang
install -m 0640 -g librefang /dev/null /etc/librefang/config.toml
install -m 0600 systemd/env/*.env /etc/librefang/
install -m 0644 systemd/*.service systemd/*.target /etc/systemd/system/
# Writable by librefang, outside the state directory: probes ProtectSystem.
install -d -o librefang /srv/librefang-probe
for i in $(seq 1 60); do runuser -u postgres -- pg_isready -q && break; sleep 0.5; done
runuser -u postgres -- psql -q -c "CREATE ROLE librefang LOGIN PASSWORD '\''s3cret'\''" \
    -c "CREATE DATABASE librefang OWNER librefang ENCODING '\''UTF8'\'' TEMPLATE template0"
sed -i "s/CHANGE-ME@/s3cret@/" /etc/librefang/database.env
sed -i "s/^LIBREFANG_API_KEY=CHANGE-ME/LIBREFANG_API_KEY=checkkey/" /etc/librefang/api-gateway.env
echo LIBREFANG_API_LISTEN=127.0.0.1:4546 >/etc/librefang/api-gateway@2.env
printf "[tool_invoke]\nenabled = true\nallowlist = [\"shell_exec\"]\n" >/etc/librefang/config.toml
systemctl daemon-reload
systemctl enable -q librefang.target librefang-bus.service librefang-api-gateway@1 \
    librefang-api-gateway@2 librefang-agent-runtime@1 librefang-agent-runtime@2 \
    librefang-scheduler@1 librefang-memory@1 librefang-audit@1 librefang-channels@1
systemctl start librefang.target
' >/dev/null 2>&1
t_eq "installed as docs/production.md says and started" "$?" 0

# ready: 200 from both gateways, bounded.
ready() {
	x "for i in \$(seq 1 120); do
	    c=\$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:$1/api/ready)
	    [ \"\$c\" = 200 ] && break; sleep 0.25; done; echo \$c"
}
t_eq "gateway @1 ready within 30 s" "$(ready 4545)" 200
t_eq "gateway @2 (its own env file) ready" "$(ready 4546)" 200
t_eq "every unit is active" "$(x "systemctl list-units 'librefang-*' \
    --no-legend --state=active | wc -l")" 9
t_eq "the bus sockets are the librefang user's only" \
    "$(x 'stat -c "%a %U" /run/librefang /run/librefang/bus.front')" \
    "$(printf '750 librefang\n700 librefang')"
t_eq "the API key is required" "$(x "curl -s -o /dev/null -w '%{http_code}' \
    127.0.0.1:4545/api/agents")" 401
t_eq "and accepted" "$(x "curl -s -o /dev/null -w '%{http_code}' \
    -H 'Authorization: Bearer checkkey' 127.0.0.1:4545/api/agents")" 200
t_eq "each replica's connections are named" "$(x "runuser -u postgres -- \
    psql -d librefang -Atc \"SELECT count(DISTINCT application_name) FROM \
    pg_stat_activity WHERE application_name LIKE 'librefang-%'\"")" 6

# shell_exec inside agent-runtime's sandbox
x 'K="Authorization: Bearer checkkey"
curl -s -H "$K" -H "Content-Type: application/json" -X POST \
    127.0.0.1:4545/api/agents -d "{\"manifest_toml\": \"name = \\\"sh\\\"\\n[capabilities]\\ntools = [\\\"shell_exec\\\"]\"}" |
    sed -n "s/.*\"agent_id\": *\"\([^\"]*\)\".*/\1/p" >/tmp/aid' >/dev/null
sh_run() {
	x "curl -s -H 'Authorization: Bearer checkkey' -H 'Content-Type: application/json' \
	    -X POST \"127.0.0.1:4545/api/tools/shell_exec/invoke?agent_id=\$(cat /tmp/aid)\" \
	    -d '{\"command\":\"$1\"}' | sed -n 's/.*\"content\":\"\\([^\"]*\\)\".*/\\1/p'"
}
t_eq "shell_exec runs as librefang in the workspace" \
    "$(sh_run 'id -un; pwd')" 'librefang\n/var/lib/librefang/data/workspaces/sh\n'
t_eq "and writes there and in its private /tmp" \
    "$(sh_run 'echo a > f && touch /tmp/t && echo ok')" 'ok\n'
t_eq "nowhere else, not even where the user may write" \
    "$(sh_run 'for d in /etc /opt/librefang /srv/librefang-probe; do touch $d/x 2>/dev/null || echo no; done')" \
    'no\nno\nno\n'
t_eq "and sees no /home and no process of another user" \
    "$(sh_run 'ls /home >/dev/null 2>&1 || echo no; test -e /proc/1/environ || echo no')" \
    'no\nno\n'

# stop: every unit, the broker last, bounded.
x 'systemctl stop librefang.target' >/dev/null 2>&1
t_eq "stopping librefang.target stops every unit within 30 s" \
    "$(x "for i in \$(seq 1 60); do n=\$(systemctl list-units 'librefang-*' \
    --no-legend --state=active,deactivating | wc -l); [ \$n = 0 ] && break; \
    sleep 0.5; done; echo \$n")" 0
t_eq "none failed or was killed" "$(x "systemctl list-units 'librefang-*' \
    --no-legend --state=failed | wc -l; journalctl -u 'librefang-*' \
    --no-pager | grep -c -E 'SIGKILL|Failed with result'")" "$(printf '0\n0')"

echo "1..$n"
exit $((failed > 0))
