/*
 * t_libshared.c - unit tests for buf, util, log redaction, cfg, bus
 * address derivation and svc's UUID and periodic-job helpers.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "bus.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "svc.h"
#include "tap.h"
#include "util.h"

static int
t_buf_grows_and_caps(void)
{
	struct buf	b;
	char		block[100];
	int		i;

	memset(block, 'x', sizeof(block));
	buf_init(&b, 1000);
	for (i = 0; i < 10; i++)
		T_EQ_INT(buf_add(&b, block, sizeof(block)), 0);
	T_EQ_INT(b.b_len, 1000);
	T_EQ_INT(b.b_data[1000], '\0');
	T_EQ_INT(buf_add(&b, "y", 1), SH_ETOOBIG);
	T_EQ_INT(b.b_len, 0);		/* a failed append resets */
	T_OK(b.b_data == NULL);
	T_EQ_INT(buf_addf(&b, "%d-%s", 42, "z"), 0);
	T_EQ_STR(b.b_data, "42-z");
	buf_release(&b);
	return (0);
}

static int
t_buf_addf_long(void)
{
	struct buf	 b;
	char		 big[600];
	char		*d;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 4096);
	T_EQ_INT(buf_addf(&b, "[%s]", big), 0);
	T_EQ_INT(b.b_len, 601);
	d = buf_detach(&b);
	T_EQ_INT(d[0], '[');
	T_EQ_INT(d[600], ']');
	free(d);
	T_OK(b.b_data == NULL);
	return (0);
}

static int
t_strtonum_table(void)
{
	static const struct {
		const char	*in;
		long long	 lo, hi, want;
		int		 rc;
	} cases[] = {
		{ "42", 0, 100, 42, 0 },
		{ "-5", -10, 10, -5, 0 },
		{ "101", 0, 100, 0, SH_EINVAL },
		{ "12x", 0, 100, 0, SH_EINVAL },
		{ "", 0, 100, 0, SH_EINVAL },
		{ "99999999999999999999999", 0, 100, 0, SH_EINVAL },
		{ " 7", 0, 100, 7, 0 },	/* strtoll skips leading space */
	};
	long long	v;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 0;
		T_EQ_INT(util_strtonum(cases[i].in, cases[i].lo, cases[i].hi,
		    &v), cases[i].rc);
		if (cases[i].rc == 0)
			T_EQ_INT(v, cases[i].want);
	}
	return (0);
}

static int
t_uuid(void)
{
	char	a[UTIL_UUID_LEN], b[UTIL_UUID_LEN];
	int	i;

	util_uuid4(a);
	util_uuid4(b);
	T_OK(util_uuid_valid(a));
	T_OK(strcmp(a, b) != 0);
	T_EQ_INT(a[14], '4');
	/* 600 ids cross two refills of the per-thread random pool. */
	for (i = 0; i < 600; i++) {
		memcpy(b, a, sizeof(b));
		util_uuid4(a);
		T_OK(util_uuid_valid(a) && a[14] == '4');
		T_OK(strchr("89ab", a[19]) != NULL);	/* RFC 4122 variant */
		T_OK(strcmp(a, b) != 0);
	}
	T_OK(!util_uuid_valid("not-a-uuid"));
	T_OK(!util_uuid_valid("a1b2c3d4-e5f6-7890-abcd-ef123456789g"));
	T_OK(util_uuid_valid("A1B2C3D4-E5F6-7890-ABCD-EF1234567890"));
	/* RFC 4122 appendix-style check: v5 of "python.org" in the DNS
	 * namespace is a published value. */
	T_EQ_INT(util_uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	    "python.org", a), 0);
	T_EQ_STR(a, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
	T_EQ_INT(util_uuid5("bogus", "x", a), SH_EINVAL);
	return (0);
}

static int
t_ct_equal(void)
{
	T_OK(util_ct_equal("secret", 6, "secret", 6));
	T_OK(!util_ct_equal("secret", 6, "secreT", 6));
	T_OK(!util_ct_equal("secret", 6, "secret2", 7));
	return (0);
}

/* FIPS 180-2 vectors; the gateway's ETags and session hashes rely on them. */
static int
t_sha256_hex(void)
{
	char	h[65];

	T_EQ_INT(util_sha256_hex("abc", 3, h), 0);
	T_EQ_STR(h, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	T_EQ_INT(util_sha256_hex("", 0, h), 0);
	T_EQ_STR(h, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	return (0);
}

static int
t_rfc3339(void)
{
	char	ts[32];

	int64_t	ms;

	util_rfc3339(1736937000000LL, ts);
	T_EQ_STR(ts, "2025-01-15T10:30:00Z");
	T_OK(util_rfc3339_parse("2025-01-15T10:30:00Z", &ms) == 0);
	T_OK(ms == 1736937000000LL);
	T_OK(util_rfc3339_parse("2025-01-15t10:30:00.250z", &ms) == 0);
	T_OK(ms == 1736937000250LL);
	T_OK(util_rfc3339_parse("2025-01-15 12:30:00.1+02:00", &ms) == 0);
	T_OK(ms == 1736937000100LL);
	T_OK(util_rfc3339_parse("2025-01-15T05:00:00-05:30", &ms) == 0);
	T_OK(ms == 1736937000000LL);
	T_OK(util_rfc3339_parse("2024-02-29T00:00:00Z", &ms) == 0);
	T_OK(util_rfc3339_parse("2025-02-29T00:00:00Z", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-04-31T00:00:00Z", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-01-15T24:00:00Z", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-01-15T10:30:00", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-01-15T10:30:00Zjunk", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-01-15T10:30:00.Z", &ms) != 0);
	T_OK(util_rfc3339_parse("2025-1-15T10:30:00Z", &ms) != 0);
	T_OK(util_rfc3339_parse("", &ms) != 0);
	return (0);
}

static int
t_log_redacts(void)
{
	char	out[256];

	log_add_secret("sk-very-secret-key");
	log_redact("using key sk-very-secret-key now", out, sizeof(out));
	T_EQ_STR(out, "using key [REDACTED] now");
	log_redact("Authorization: Bearer abc.def-123, next", out,
	    sizeof(out));
	T_EQ_STR(out, "Authorization: Bearer [REDACTED], next");
	log_redact("nothing here", out, sizeof(out));
	T_EQ_STR(out, "nothing here");
	log_redact("sk-very-secret-key", out, 5);	/* tiny buffer */
	T_OK(strlen(out) < 5);
	return (0);
}

/* log_set_hook(): each line written, redacted, once; a line logged from
 * inside the hook is written but not handed back to it. */
static int	t_hook_n;
static int	t_hook_level;
static char	t_hook_line[256];

static void
t_hook(int level, const char *ts, const char *line)
{
	t_hook_n++;
	t_hook_level = level;
	snprintf(t_hook_line, sizeof(t_hook_line), "%s", line);
	(void)ts;
	log_warnx("logged from inside the hook");
}

static int
t_log_hook(void)
{
	log_init("t_libshared", LOG_LVL_WARN, 0);
	log_add_secret("sk-very-secret-key");
	log_set_hook(t_hook);
	log_warnx("key %s here", "sk-very-secret-key");
	log_info("below the level: neither written nor hooked");
	log_set_hook(NULL);
	log_warnx("after the hook is removed");
	log_init("t_libshared", LOG_LVL_ERROR, 0);
	T_EQ_INT(t_hook_n, 1);
	T_EQ_INT(t_hook_level, LOG_LVL_WARN);
	T_EQ_STR(t_hook_line, "key [REDACTED] here");
	T_EQ_STR(log_level_name(LOG_LVL_WARN), "warn");
	return (0);
}

/* 1 if any run of 8 characters of key shows in text. */
static int
leaks8(const char *text, const char *key)
{
	char	run[9];
	size_t	i;

	for (i = 0; i + 8 <= strlen(key); i++) {
		memcpy(run, key + i, 8);
		run[8] = '\0';
		if (strstr(text, run) != NULL)
			return (1);
	}
	return (0);
}

static int
t_log_redacts_whole(void)
{
	static const char key40[] = "sk-Redact0123456789abcdefghijklmnopqrstu";
	char	 out[64], line[400], *s;
	size_t	 i;

	/* A secret shorter than LOG_SECRET_MIN is not registered ... */
	log_add_secret("abc");
	log_redact("abc abc", out, sizeof(out));
	T_EQ_STR(out, "abc abc");
	/* ... but any known key is redacted by value as the extra. */
	s = log_redact_text("a key xy and xy", "xy", 0);
	T_EQ_STR(s, "a key [REDACTED] and [REDACTED]");
	free(s);
	/* Seven characters: shorter than the mark, still redacted. */
	log_add_secret("Zq7xK9w");
	s = log_redact_text("key Zq7xK9w.", NULL, 0);
	T_EQ_STR(s, "key [REDACTED].");
	free(s);
	/* The longest secret at a place wins over one it begins with. */
	log_add_secret("Zq7xK9w-and-more");
	s = log_redact_text("(Zq7xK9w-and-more)", NULL, 0);
	T_EQ_STR(s, "([REDACTED])");
	free(s);
	/* Redacted whole, then cut: a key straddling the cut leaves
	 * nothing of itself, whichever way the cut falls. */
	log_add_secret(key40);
	for (i = 280; i <= 330; i++) {
		memset(line, 'x', sizeof(line));
		memcpy(line + 290, key40, strlen(key40));
		line[sizeof(line) - 1] = '\0';
		s = log_redact_text(line, NULL, i);
		T_OK(s != NULL && strlen(s) <= i && !leaks8(s, key40));
		free(s);
		log_redact(line, out, sizeof(out));
		T_OK(!leaks8(out, key40));
	}
	/* A cut never splits a character. */
	s = log_redact_text("\xc3\xa9\xc3\xa9", NULL, 3);
	T_EQ_STR(s, "\xc3\xa9");
	free(s);
	s = log_redactf(0, "%s=%d", "Zq7xK9w", 5);
	T_EQ_STR(s, "[REDACTED]=5");
	free(s);
	return (0);
}

static int
t_bus_addr(void)
{
	char	a[256];

	T_EQ_INT(bus_addr("ipc:///tmp/x/bus", "front", a, sizeof(a)), 0);
	T_EQ_STR(a, "ipc:///tmp/x/bus.front");
	T_EQ_INT(bus_addr("ipc:///tmp/x/bus", "memory", a, sizeof(a)), 0);
	T_EQ_STR(a, "ipc:///tmp/x/bus.memory");
	T_EQ_INT(bus_addr("tcp://10.0.0.5:7000", "front", a, sizeof(a)), 0);
	T_EQ_STR(a, "tcp://10.0.0.5:7000");
	T_EQ_INT(bus_addr("tcp://10.0.0.5:7000", "sub", a, sizeof(a)), 0);
	T_EQ_STR(a, "tcp://10.0.0.5:7002");
	T_EQ_INT(bus_addr("tcp://h:7000", "agent-runtime", a, sizeof(a)), 0);
	T_EQ_STR(a, "tcp://h:7003");
	T_EQ_INT(bus_addr("tcp://h:7000", "channels", a, sizeof(a)), 0);
	T_EQ_STR(a, "tcp://h:7007");
	T_EQ_INT(bus_addr("tcp://h:7000", "nosuch", a, sizeof(a)), SH_EINVAL);
	T_EQ_INT(bus_addr("tcp://h", "front", a, sizeof(a)), SH_EINVAL);
	T_EQ_INT(bus_addr("tcp://h:65535", "front", a, sizeof(a)), SH_EINVAL);
	T_EQ_INT(bus_addr("http://h:1", "front", a, sizeof(a)), SH_EINVAL);
	return (0);
}

/* Writes text to a temp config file; returns its path (static). */
static const char *
write_conf(const char *text)
{
	static char	path[64];
	FILE		*f;
	int		 fd;

	snprintf(path, sizeof(path), "/tmp/t_cfg.XXXXXX");
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		return (NULL);
	fputs(text, f);
	fclose(f);
	return (path);
}

static int
t_cfg_layers(void)
{
	struct sh_config	 cfg;
	const char		*p;
	char			 err[256];
	int			 rc;

	setenv("LIBREFANG_HOME", "/tmp/lf-home-test", 1);
	unsetenv("LIBREFANG_API_LISTEN");
	unsetenv("LIBREFANG_API_KEY");
	p = write_conf("api_listen = \"127.0.0.1:9999\"\n"
	    "api_key = \"file-key\"\nmystery = 1\n"
	    "[rate_limit]\napi_requests_per_minute = 42\nbogus = true\n"
	    "[channels.telegram]\nbot_token_env = \"X\"\n");
	T_OK(p != NULL);
	setenv("LIBREFANG_API_KEY", "env-key", 1);
	rc = cfg_load(&cfg, p, err, sizeof(err));
	unsetenv("LIBREFANG_API_KEY");
	unlink(p);
	if (rc != 0)
		printf("# %s\n", err);
	T_EQ_INT(rc, 0);
	T_EQ_STR(cfg.api_listen, "127.0.0.1:9999");	/* file */
	T_EQ_STR(cfg.api_key, "env-key");		/* env wins */
	T_EQ_INT(cfg.rl_requests_per_minute, 42);
	T_EQ_INT(cfg.rl_retry_after_secs, 60);		/* default */
	T_EQ_STR(cfg.home_dir, "/tmp/lf-home-test");
	T_EQ_STR(cfg.bus_url, "ipc:///tmp/lf-home-test/run/bus");
	T_EQ_INT(json_array_size(cfg.cf_warnings), 2);	/* mystery, bogus */
	T_OK(json_object_get(cfg.cf_doc, "channels") != NULL);
	cfg_release(&cfg);

	/* The per-IP limits have variables too (compose: env only). */
	p = write_conf("[rate_limit]\napi_requests_per_minute = 42\n"
	    "[api]\nmax_connections_per_ip = 5\n");
	T_OK(p != NULL);
	setenv("LIBREFANG_RATE_LIMIT_PER_MINUTE", "100000", 1);
	setenv("LIBREFANG_API_MAX_CONNECTIONS_PER_IP", "300", 1);
	rc = cfg_load(&cfg, p, err, sizeof(err));
	unsetenv("LIBREFANG_RATE_LIMIT_PER_MINUTE");
	unsetenv("LIBREFANG_API_MAX_CONNECTIONS_PER_IP");
	unlink(p);
	T_EQ_INT(rc, 0);
	T_EQ_INT(cfg.rl_requests_per_minute, 100000);	/* env wins */
	T_EQ_INT(cfg.http_max_conn_per_ip, 300);
	cfg_release(&cfg);
	return (0);
}

static int
t_cfg_errors(void)
{
	struct sh_config	 cfg;
	const char		*p;
	char			 err[256];
	int			 rc;

	p = write_conf("api_listen = \"x\"\n\n[rate_limit\n");
	rc = cfg_load(&cfg, p, err, sizeof(err));
	cfg_release(&cfg);
	T_EQ_INT(rc, -1);
	T_OK(strstr(err, "line 3") != NULL);
	unlink(p);

	p = write_conf("[rate_limit]\napi_requests_per_minute = \"many\"\n");
	rc = cfg_load(&cfg, p, err, sizeof(err));
	cfg_release(&cfg);
	unlink(p);
	T_EQ_INT(rc, -1);
	T_OK(strstr(err, "rate_limit.api_requests_per_minute") != NULL);

	p = write_conf("strict_config = true\nunknown_thing = 1\n");
	rc = cfg_load(&cfg, p, err, sizeof(err));
	cfg_release(&cfg);
	unlink(p);
	T_EQ_INT(rc, -1);
	T_OK(strstr(err, "unknown_thing") != NULL);

	setenv("LIBREFANG_ALLOW_NO_AUTH", "maybe", 1);
	rc = cfg_load(&cfg, "/nonexistent/config.toml", err, sizeof(err));
	cfg_release(&cfg);
	T_EQ_INT(rc, -1);			/* -f names a missing file */
	rc = cfg_load(&cfg, NULL, err, sizeof(err));
	cfg_release(&cfg);
	unsetenv("LIBREFANG_ALLOW_NO_AUTH");
	T_EQ_INT(rc, -1);			/* bad boolean in env */
	T_OK(strstr(err, "LIBREFANG_ALLOW_NO_AUTH") != NULL);
	return (0);
}

static int
t_cfg_redacts(void)
{
	struct sh_config	 cfg;
	char			 err[256], *js;
	json_t			*j;

	setenv("LIBREFANG_API_KEY", "top-secret-value", 1);
	T_EQ_INT(cfg_load(&cfg, NULL, err, sizeof(err)), 0);
	unsetenv("LIBREFANG_API_KEY");
	j = cfg_to_json(&cfg);
	js = json_dumps(j, 0);
	T_OK(js != NULL && strstr(js, "top-secret-value") == NULL);
	T_EQ_STR(json_string_value(json_object_get(j, "api_key")),
	    "[REDACTED]");
	free(js);
	json_decref(j);
	cfg_release(&cfg);
	return (0);
}

static int
t_uuid_lower(void)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: refused */
	} cases[] = {
		{ "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
		    "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" },
		{ "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		    "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" },
		{ "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4", NULL },
		{ "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4dx", NULL },
		{ "not-a-uuid", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};
	char	 id[UTIL_UUID_LEN];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(id, sizeof(id), "untouched");
		if (cases[i].out == NULL) {
			T_EQ_INT(svc_uuid_lower(cases[i].in, id), -1);
			T_EQ_STR(id, "untouched");
		} else {
			T_EQ_INT(svc_uuid_lower(cases[i].in, id), 0);
			T_EQ_STR(id, cases[i].out);
		}
	}
	return (0);
}

static atomic_int	 ticks;

static void
t_tick_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ticks, 1);
}

/* Up to 5 s for n ticks; how many there were. */
static int
wait_ticks(int n)
{
	int	i;

	for (i = 0; i < 500 && atomic_load(&ticks) < n; i++)
		util_sleep_ms(10);
	return (atomic_load(&ticks));
}

static int
t_svc_tick(void)
{
	struct svc_tick	*t;
	uint64_t	 t0;

	/* At once, then every 20 ms. */
	atomic_store(&ticks, 0);
	T_OK((t = svc_tick_start("t-fast", 20, 1, t_tick_fn, NULL)) != NULL);
	T_OK(wait_ticks(3) >= 3);
	svc_tick_stop(t);
	/* Not at once: nothing before the first interval (an hour), and
	 * the stop does not wait it out. */
	atomic_store(&ticks, 0);
	T_OK((t = svc_tick_start("t-slow", 3600 * 1000LL, 0, t_tick_fn,
	    NULL)) != NULL);
	util_sleep_ms(100);
	t0 = util_now_ms();
	svc_tick_stop(t);
	T_OK(util_now_ms() - t0 < 2000);
	T_EQ_INT(atomic_load(&ticks), 0);
	svc_tick_stop(NULL);
	return (0);
}

static const struct tap_case cases[] = {
	{ "buf grows to its ceiling and resets on overflow", t_buf_grows_and_caps },
	{ "buf_addf formats past the small buffer", t_buf_addf_long },
	{ "util_strtonum bounds and junk", t_strtonum_table },
	{ "uuid v4 and v5", t_uuid },
	{ "constant-time compare", t_ct_equal },
	{ "sha256 hex: FIPS 180-2 vectors", t_sha256_hex },
	{ "rfc3339 timestamps", t_rfc3339 },
	{ "log redacts secrets and bearer tokens", t_log_redacts },
	{ "log redacts whole texts, then cuts them", t_log_redacts_whole },
	{ "log hook: each line once, redacted, never re-entered", t_log_hook },
	{ "bus addresses for ipc and tcp", t_bus_addr },
	{ "config layers: defaults, file, environment", t_cfg_layers },
	{ "config errors name the line or key", t_cfg_errors },
	{ "config dump redacts secrets", t_cfg_redacts },
	{ "svc_uuid_lower: UUIDs lowercased, the rest refused",
	    t_uuid_lower },
	{ "svc_tick: at once or after an interval, stopped at once",
	    t_svc_tick },
	{ NULL, NULL }
};

int
main(void)
{
	log_init("t_libshared", LOG_LVL_ERROR, 0);
	return (tap_main(cases));
}
