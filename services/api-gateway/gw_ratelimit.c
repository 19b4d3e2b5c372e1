/*
 * gw_ratelimit.c - the GCRA rate limiter, keyed per client IP
 * (kernel.md 6.2).
 *
 * The quota is rate_limit.api_requests_per_minute tokens a minute with a
 * burst of the same size, refilled continuously.  GCRA keeps one number
 * per client, the theoretical arrival time (TAT): a request costing c
 * tokens is allowed when max(TAT, now) + c*T - now <= burst*T, where T is
 * the time one token takes to come back; it then advances TAT.  An entry
 * whose TAT is in the past is a full bucket and carries no information,
 * so the sweep drops it.  A quota of 0 disables the limiter.
 *
 * The table is split into shards, each a chained hash under its own
 * mutex; a check is one lock, one lookup and a few additions.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define GW_RL_SHARDS	16
#define GW_RL_BUCKETS	256		/* per shard */

struct gw_rl_entry {
	struct gw_rl_entry	*e_next;
	unsigned char		 e_key[16];
	uint64_t		 e_tat;		/* ns, monotonic */
};

struct gw_rl_shard {
	pthread_mutex_t		 s_mtx;
	struct gw_rl_entry	*s_heads[GW_RL_BUCKETS];
};

static struct gw_rl_shard	gw_rl_shards[GW_RL_SHARDS];
static _Atomic uint64_t		gw_rl_t;	/* ns per token */
static _Atomic uint64_t		gw_rl_tau;	/* burst * T */
static atomic_llong		gw_rl_count;

int
gw_rl_init(const struct sh_config *cfg)
{
	int	i;

	for (i = 0; i < GW_RL_SHARDS; i++)
		pthread_mutex_init(&gw_rl_shards[i].s_mtx, NULL);
	gw_rl_configure(cfg);
	return (0);
}

void
gw_rl_configure(const struct sh_config *cfg)
{
	uint64_t	t = 0;

	/* A request between the two stores is judged by one old value:
	 * harmless.  Clients' arrival times carry over. */
	if (cfg->rl_requests_per_minute > 0) {
		t = 60ULL * 1000000000ULL /
		    (uint64_t)cfg->rl_requests_per_minute;
		gw_rl_tau = t * (uint64_t)cfg->rl_requests_per_minute;
	}
	gw_rl_t = t;
	gw_authrl_configure(cfg);
}

void
gw_rl_fini(void)
{
	struct gw_rl_entry	*e, *next;
	int			 i, b;

	for (i = 0; i < GW_RL_SHARDS; i++) {
		for (b = 0; b < GW_RL_BUCKETS; b++) {
			for (e = gw_rl_shards[i].s_heads[b]; e != NULL;
			    e = next) {
				next = e->e_next;
				free(e);
			}
			gw_rl_shards[i].s_heads[b] = NULL;
		}
		pthread_mutex_destroy(&gw_rl_shards[i].s_mtx);
	}
	atomic_store(&gw_rl_count, 0);
	gw_authrl_fini();
}

static uint32_t
gw_rl_hash(const unsigned char *key)
{
	uint32_t	h = 2166136261U;	/* FNV-1a */
	int		i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 16777619U;
	}
	return (h);
}

int
gw_rl_charge(const unsigned char *key, int cost)
{
	struct gw_rl_shard	*s;
	struct gw_rl_entry	*e;
	uint64_t		 now, tat, ntat, t = gw_rl_t, tau = gw_rl_tau;
	uint32_t		 h;
	int			 limited = 0;

	if (t == 0)
		return (0);
	h = gw_rl_hash(key);
	s = &gw_rl_shards[h % GW_RL_SHARDS];
	now = util_now_ns();
	pthread_mutex_lock(&s->s_mtx);
	for (e = s->s_heads[(h / GW_RL_SHARDS) % GW_RL_BUCKETS]; e != NULL;
	    e = e->e_next)
		if (memcmp(e->e_key, key, 16) == 0)
			break;
	tat = e != NULL && e->e_tat > now ? e->e_tat : now;
	ntat = tat + (uint64_t)cost * t;
	if (ntat - now > tau)
		limited = 1;
	else if (e != NULL)
		e->e_tat = ntat;
	else if ((e = malloc(sizeof(*e))) != NULL) {
		memcpy(e->e_key, key, 16);
		e->e_tat = ntat;
		e->e_next = s->s_heads[(h / GW_RL_SHARDS) % GW_RL_BUCKETS];
		s->s_heads[(h / GW_RL_SHARDS) % GW_RL_BUCKETS] = e;
		atomic_fetch_add(&gw_rl_count, 1);
	}
	/* Out of memory: let the request through rather than fail it. */
	pthread_mutex_unlock(&s->s_mtx);
	return (limited);
}

void
gw_rl_sweep(void)
{
	struct gw_rl_entry	**ep, *e;
	uint64_t		  now = util_now_ns();
	int			  i, b;

	for (i = 0; i < GW_RL_SHARDS; i++) {
		pthread_mutex_lock(&gw_rl_shards[i].s_mtx);
		for (b = 0; b < GW_RL_BUCKETS; b++) {
			ep = &gw_rl_shards[i].s_heads[b];
			while ((e = *ep) != NULL) {
				if (e->e_tat > now) {
					ep = &e->e_next;
					continue;
				}
				*ep = e->e_next;
				free(e);
				atomic_fetch_sub(&gw_rl_count, 1);
			}
		}
		pthread_mutex_unlock(&gw_rl_shards[i].s_mtx);
	}
}

long long
gw_rl_entries(void)
{
	return (atomic_load(&gw_rl_count));
}

int
gw_rl_exempt_path(const char *path)
{
	return (strcmp(path, "/") == 0 || strcmp(path, "/favicon.ico") == 0 ||
	    strcmp(path, "/logo.png") == 0 ||
	    strcmp(path, "/dashboard") == 0 ||
	    strncmp(path, "/dashboard/", 11) == 0 ||
	    strncmp(path, "/locales/", 9) == 0);
}

/* ---- the login brute-force limiter (kernel.md 6.2) -------------------- */

/*
 * A fixed window per client IP, apart from the GCRA: login-class paths
 * (gw_authrl_path()) may be tried rate_limit.auth_rate_limit_per_ip times
 * in GW_AUTHRL_WINDOW_MS; past that every one of them answers 429 until
 * the window that began with the first attempt ends.  A failed dashboard
 * login counts; so does every request to the other login-class paths.
 */
#define GW_AUTHRL_WINDOW_MS	(15 * 60 * 1000ULL)
#define GW_AUTHRL_BUCKETS	64
#define GW_AUTHRL_MAX		8192	/* entries before a sweep */

struct gw_authrl_entry {
	struct gw_authrl_entry	*a_next;
	unsigned char		 a_key[16];
	uint64_t		 a_start;	/* ms, monotonic */
	long long		 a_n;
};

static pthread_mutex_t		 gw_authrl_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_authrl_entry	*gw_authrl_tab[GW_AUTHRL_BUCKETS];
static long long		 gw_authrl_n;
static atomic_llong		 gw_authrl_limit = 10;

void
gw_authrl_configure(const struct sh_config *cfg)
{
	atomic_store(&gw_authrl_limit, cfg->rl_auth_per_ip);
}

int
gw_authrl_path(const char *path)
{
	return (strcmp(path, "/api/auth/dashboard-login") == 0 ||
	    strcmp(path, "/api/auth/login") == 0 ||
	    strncmp(path, "/api/auth/login/", 16) == 0 ||
	    strcmp(path, "/api/auth/introspect") == 0 ||
	    strcmp(path, "/api/auth/refresh") == 0 ||
	    strcmp(path, "/api/auth/callback") == 0);
}

/* key's entry, its window current (a new one when it ended), or NULL on
 * ENOMEM.  gw_authrl_mtx held. */
static struct gw_authrl_entry *
gw_authrl_get(const unsigned char *key, uint64_t now)
{
	struct gw_authrl_entry	**ep, *e;
	uint32_t		  h = gw_rl_hash(key) % GW_AUTHRL_BUCKETS;
	int			  b;

	for (e = gw_authrl_tab[h]; e != NULL; e = e->a_next)
		if (memcmp(e->a_key, key, 16) == 0)
			break;
	if (e != NULL) {
		if (now - e->a_start >= GW_AUTHRL_WINDOW_MS) {
			e->a_start = now;
			e->a_n = 0;
		}
		return (e);
	}
	if (gw_authrl_n >= GW_AUTHRL_MAX) {
		/* Windows that ended carry nothing: drop them. */
		for (b = 0; b < GW_AUTHRL_BUCKETS; b++) {
			ep = &gw_authrl_tab[b];
			while ((e = *ep) != NULL) {
				if (now - e->a_start < GW_AUTHRL_WINDOW_MS) {
					ep = &e->a_next;
					continue;
				}
				*ep = e->a_next;
				free(e);
				gw_authrl_n--;
			}
		}
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	memcpy(e->a_key, key, 16);
	e->a_start = now;
	e->a_next = gw_authrl_tab[h];
	gw_authrl_tab[h] = e;
	gw_authrl_n++;
	return (e);
}

int
gw_authrl_over(const unsigned char *key)
{
	struct gw_authrl_entry	*e;
	long long		 limit = atomic_load(&gw_authrl_limit);
	int			 over;

	if (limit <= 0)
		return (0);
	pthread_mutex_lock(&gw_authrl_mtx);
	e = gw_authrl_get(key, util_now_ms());
	over = e != NULL && e->a_n >= limit;
	pthread_mutex_unlock(&gw_authrl_mtx);
	return (over);
}

void
gw_authrl_count(const unsigned char *key)
{
	struct gw_authrl_entry	*e;

	if (atomic_load(&gw_authrl_limit) <= 0)
		return;
	pthread_mutex_lock(&gw_authrl_mtx);
	if ((e = gw_authrl_get(key, util_now_ms())) != NULL)
		e->a_n++;
	pthread_mutex_unlock(&gw_authrl_mtx);
}

void
gw_authrl_fini(void)
{
	struct gw_authrl_entry	*e;
	int			 b;

	pthread_mutex_lock(&gw_authrl_mtx);
	for (b = 0; b < GW_AUTHRL_BUCKETS; b++)
		while ((e = gw_authrl_tab[b]) != NULL) {
			gw_authrl_tab[b] = e->a_next;
			free(e);
		}
	gw_authrl_n = 0;
	pthread_mutex_unlock(&gw_authrl_mtx);
}
