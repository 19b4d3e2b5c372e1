/*
 * turn/loop.c - the pure pieces of an iteration (no I/O, no globals):
 * the loop guard (notes 4.7), the cost of a turn (4.11), the token
 * estimate (4.9) and <think> stripping (4.12).  turn/machine.c drives the turn
 * itself; tests/unit/t_session.c drives these directly.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "turn/turn.h"

#define GUARD_WARN_AT		3	/* identical calls */
#define GUARD_BLOCK_AT		5
#define GUARD_BREAKER		30	/* calls per turn */
#define GUARD_POLL_MULT		3
#define GUARD_OUTCOME_WARN	2	/* identical call + result */
#define GUARD_OUTCOME_BLOCK	3
#define GUARD_PINGPONG_MIN	3	/* cycles */
#define GUARD_WARNINGS_MAX	3	/* per call; the next one blocks */
#define GUARD_RING		9
#define GUARD_RESULT_HASHED	1000	/* bytes of a result hashed */

struct guard_entry {
	unsigned char	ge_hash[32];
	int		ge_count;
	int		ge_warnings;
	int		ge_blocked;	/* its outcome repeated: auto-block */
};

struct loop_guard {
	struct guard_entry	*g_calls;
	size_t			 g_ncalls, g_capcalls;
	struct guard_entry	*g_outs;
	size_t			 g_nouts, g_capouts;
	unsigned char		 g_ring[GUARD_RING][32];
	size_t			 g_nring;	/* calls seen (ring index) */
	int			 g_total;
	int			 g_breaker;
};

static const char *const guard_poll_prefixes[] = {
	"docker ps", "kubectl get", "systemctl status", "pgrep", "curl -s",
	"ps ", "tail ", NULL
};
static const char *const guard_poll_words[] = {
	"status", "poll", "wait", "watch", "tail", "ps ", "jobs", "health",
	"ping", "alive", "ready", "check", NULL
};

struct loop_guard *
loop_guard_new(int max_iterations)
{
	struct loop_guard	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return (NULL);
	g->g_breaker = GUARD_BREAKER;
	if (max_iterations > GUARD_BREAKER)
		g->g_breaker = 3 * max_iterations;
	return (g);
}

void
loop_guard_free(struct loop_guard *g)
{
	if (g == NULL)
		return;
	free(g->g_calls);
	free(g->g_outs);
	free(g);
}

/* SHA-256 over name | json(input) [| result]. */
static void
guard_hash(const char *name, json_t *input, const char *result,
    unsigned char out[32])
{
	EVP_MD_CTX	*ctx;
	char		*js;
	unsigned int	 n = 32;
	size_t		 rlen;

	memset(out, 0, 32);
	js = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY);
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		free(js);
		return;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, name, strlen(name));
	EVP_DigestUpdate(ctx, "|", 1);
	if (js != NULL)
		EVP_DigestUpdate(ctx, js, strlen(js));
	if (result != NULL) {
		rlen = strlen(result);
		EVP_DigestUpdate(ctx, "|", 1);
		EVP_DigestUpdate(ctx, result, rlen > GUARD_RESULT_HASHED ?
		    GUARD_RESULT_HASHED : rlen);
	}
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	free(js);
}

/* The entry for h in the list, added if new; NULL on ENOMEM. */
static struct guard_entry *
guard_find(struct guard_entry **list, size_t *n, size_t *cap,
    const unsigned char h[32])
{
	struct guard_entry	*e;
	size_t			 i, ncap;

	for (i = 0; i < *n; i++)
		if (memcmp((*list)[i].ge_hash, h, 32) == 0)
			return (&(*list)[i]);
	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 16;
		if ((e = reallocarray(*list, ncap, sizeof(*e))) == NULL)
			return (NULL);
		*list = e;
		*cap = ncap;
	}
	e = &(*list)[(*n)++];
	memset(e, 0, sizeof(*e));
	memcpy(e->ge_hash, h, 32);
	return (e);
}

static int
guard_is_poll(const char *name, json_t *input)
{
	const char	*cmd;
	char		*js;
	size_t		 i;
	int		 poll = 0;

	if (json_is_true(json_object_get(input, "poll")))
		return (1);
	if (strcmp(name, "shell_exec") == 0 && (cmd = json_string_value(
	    json_object_get(input, "command"))) != NULL) {
		for (i = 0; guard_poll_prefixes[i] != NULL; i++)
			if (strncmp(cmd, guard_poll_prefixes[i],
			    strlen(guard_poll_prefixes[i])) == 0)
				return (1);
		for (i = 0; guard_poll_words[i] != NULL; i++)
			if (strstr(cmd, guard_poll_words[i]) != NULL)
				return (1);
	}
	if ((js = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		poll = strstr(js, "status") != NULL ||
		    strstr(js, "poll") != NULL || strstr(js, "wait") != NULL;
		free(js);
	}
	return (poll);
}

/* Full cycles of period p at the tail of the ring (0 when the last p
 * hashes are not all different). */
static int
guard_cycles(struct loop_guard *g, size_t p)
{
	size_t	n = g->g_nring < GUARD_RING ? g->g_nring : GUARD_RING;
	size_t	i, j, run = 0;

#define RING(k)	g->g_ring[(g->g_nring - 1 - (k)) % GUARD_RING]
	if (n < 2 * p)
		return (0);
	for (i = 0; i < p; i++)
		for (j = i + 1; j < p; j++)
			if (memcmp(RING(i), RING(j), 32) == 0)
				return (0);
	for (i = 0; i + p < n; i++) {
		if (memcmp(RING(i), RING(i + p), 32) != 0)
			break;
		run++;
	}
#undef RING
	return ((int)((run + p) / p));
}

enum guard_verdict
loop_guard_check(struct loop_guard *g, const char *name, json_t *input,
    char *msg, size_t msglen)
{
	struct guard_entry	*e;
	unsigned char		 h[32];
	int			 mult, cyc2, cyc3, cyc;
	enum guard_verdict	 v = GUARD_ALLOW;

	*msg = '\0';
	if (++g->g_total > g->g_breaker) {
		snprintf(msg, msglen, "Circuit breaker: %d tool calls in one "
		    "turn (limit %d)", g->g_total, g->g_breaker);
		return (GUARD_BREAK);
	}
	guard_hash(name, input, NULL, h);
	memcpy(g->g_ring[g->g_nring % GUARD_RING], h, 32);
	g->g_nring++;
	if ((e = guard_find(&g->g_calls, &g->g_ncalls, &g->g_capcalls, h)) ==
	    NULL)
		return (GUARD_ALLOW);
	e->ge_count++;
	mult = guard_is_poll(name, input) ? GUARD_POLL_MULT : 1;
	if (e->ge_blocked) {
		snprintf(msg, msglen, "Blocked: '%s' was called with the same "
		    "input %d times and kept giving the same result; try "
		    "something else", name, e->ge_count);
		return (GUARD_BLOCK);
	}
	if (e->ge_count >= GUARD_BLOCK_AT * mult) {
		snprintf(msg, msglen, "Blocked: '%s' was called %d times with "
		    "the same input; stop repeating it and answer with what "
		    "you have", name, e->ge_count);
		return (GUARD_BLOCK);
	}
	if (e->ge_count >= GUARD_WARN_AT * mult) {
		snprintf(msg, msglen, "Warning: '%s' has been called %d times "
		    "with the same input%s", name, e->ge_count, mult > 1 ?
		    "; wait longer between checks (5 s, 10 s, 30 s, 60 s)" :
		    "; do not repeat it");
		v = GUARD_WARN;
	}
	cyc2 = guard_cycles(g, 2);
	cyc3 = guard_cycles(g, 3);
	cyc = cyc2 > cyc3 ? cyc2 : cyc3;
	if (cyc >= GUARD_PINGPONG_MIN) {
		snprintf(msg, msglen, "Blocked: the same %d calls keep "
		    "alternating (ping-pong); change approach",
		    cyc2 >= GUARD_PINGPONG_MIN ? 2 : 3);
		return (GUARD_BLOCK);
	}
	if (cyc == GUARD_PINGPONG_MIN - 1 && v == GUARD_ALLOW) {
		snprintf(msg, msglen, "Warning: your calls are alternating "
		    "in a cycle; make progress or answer");
		v = GUARD_WARN;
	}
	if (v == GUARD_WARN && ++e->ge_warnings > GUARD_WARNINGS_MAX) {
		snprintf(msg, msglen, "Blocked: '%s' was warned about %d "
		    "times", name, GUARD_WARNINGS_MAX);
		return (GUARD_BLOCK);
	}
	return (v);
}

enum guard_verdict
loop_guard_outcome(struct loop_guard *g, const char *name, json_t *input,
    const char *result, char *msg, size_t msglen)
{
	struct guard_entry	*e, *call;
	unsigned char		 h[32], ch[32];

	*msg = '\0';
	guard_hash(name, input, result ? result : "", h);
	if ((e = guard_find(&g->g_outs, &g->g_nouts, &g->g_capouts, h)) ==
	    NULL)
		return (GUARD_ALLOW);
	e->ge_count++;
	if (e->ge_count >= GUARD_OUTCOME_BLOCK) {
		guard_hash(name, input, NULL, ch);
		if ((call = guard_find(&g->g_calls, &g->g_ncalls,
		    &g->g_capcalls, ch)) != NULL)
			call->ge_blocked = 1;
	}
	if (e->ge_count >= GUARD_OUTCOME_WARN) {
		snprintf(msg, msglen, "Warning: this call returned the same "
		    "result %d times; repeating it will not change it",
		    e->ge_count);
		return (GUARD_WARN);
	}
	return (GUARD_ALLOW);
}

/* ---- accounting ------------------------------------------------------ */

double
turn_cost(const struct turn_usage *u, double in_per_m, double out_per_m)
{
	long long	regular;

	regular = u->u_in - u->u_cache_read - u->u_cache_create;
	if (regular < 0)
		regular = 0;
	return ((double)regular * in_per_m / 1e6 +
	    (double)u->u_cache_read * in_per_m * 0.10 / 1e6 +
	    (double)u->u_cache_create * in_per_m * 1.25 / 1e6 +
	    (double)u->u_out * out_per_m / 1e6);
}

/* Tokens of a text: 0.25 per character, 1.5 per CJK character. */
static double
est_text(const char *s, int json)
{
	const unsigned char	*p = (const unsigned char *)s;
	double			 t = 0;
	unsigned int		 cp;

	while (*p != '\0') {
		if (*p < 0x80) {
			t += (json && strchr("{}[]\":,", *p) != NULL) ? 0.5 :
			    0.25;
			p++;
			continue;
		}
		/* A multi-byte character: CJK ranges cost more. */
		cp = 0;
		if ((*p & 0xf0) == 0xe0 && p[1] && p[2])
			cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) |
			    (p[2] & 0x3fu);
		t += (cp >= 0x2e80 && cp <= 0x9fff) ||
		    (cp >= 0xac00 && cp <= 0xd7af) ? 1.5 : 0.25;
		for (p++; (*p & 0xc0) == 0x80; p++)
			;
	}
	return (t);
}

long long
turn_estimate_tokens(json_t *messages)
{
	json_t		*m, *c, *b;
	const char	*type;
	char		*js;
	double		 t = 0;
	size_t		 i, k;

	json_array_foreach(messages, i, m) {
		t += 4;
		c = json_object_get(m, "content");
		if (json_is_string(c)) {
			t += est_text(json_string_value(c), 0);
			continue;
		}
		json_array_foreach(c, k, b) {
			type = json_string_value(json_object_get(b, "type"));
			if (type == NULL)
				continue;
			if (strcmp(type, "text") == 0)
				t += est_text(json_string_value(
				    json_object_get(b, "text")) ?: "", 0);
			else if (strcmp(type, "thinking") == 0)
				t += est_text(json_string_value(
				    json_object_get(b, "thinking")) ?: "", 0);
			else if (strcmp(type, "tool_result") == 0)
				t += est_text(json_string_value(
				    json_object_get(b, "content")) ?: "", 1);
			else if (strcmp(type, "tool_use") == 0) {
				js = json_dumps(json_object_get(b, "input"),
				    JSON_COMPACT | JSON_ENCODE_ANY);
				t += est_text(js ? js : "", 1);
				free(js);
			} else if (strcmp(type, "image") == 0)
				t += 85 + (double)json_string_length(
				    json_object_get(b, "data")) / 4;
		}
	}
	return ((long long)t);
}

/* ---- <think> ---------------------------------------------------------- */

char *
turn_strip_think(const char *text, char **thinking)
{
	struct buf	 out = BUF_INIT(SIZE_MAX / 2), th = BUF_INIT(SIZE_MAX / 2);
	const char	*p = text, *open, *close;
	char		*s;
	size_t		 len;

	*thinking = NULL;
	while ((open = strstr(p, "<think>")) != NULL) {
		if (buf_add(&out, p, (size_t)(open - p)) != 0)
			goto fail;
		open += strlen("<think>");
		close = strstr(open, "</think>");
		len = close ? (size_t)(close - open) : strlen(open);
		if ((th.b_len > 0 && buf_adds(&th, "\n") != 0) ||
		    buf_add(&th, open, len) != 0)
			goto fail;
		if (close == NULL) {
			p = open + len;
			break;
		}
		p = close + strlen("</think>");
	}
	if (buf_adds(&out, p) != 0)
		goto fail;
	/* Trim the whitespace the blocks leave behind. */
	s = buf_detach(&out);
	if (s == NULL)
		goto fail;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	for (p = s; isspace((unsigned char)*p); p++)
		;
	memmove(s, p, strlen(p) + 1);
	if (th.b_len > 0)
		*thinking = buf_detach(&th);
	buf_release(&th);
	return (s);
 fail:
	buf_release(&out);
	buf_release(&th);
	return (NULL);
}
