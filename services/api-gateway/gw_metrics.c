/*
 * gw_metrics.c - the gateway's Prometheus metrics (text format 0.0.4).
 *
 * Request counters are labelled by route pattern (never the raw path, so
 * the number of series stays bounded by the route table), method and
 * status; they live in a fixed open-addressed table whose slots are
 * claimed with compare-and-swap, so counting takes no lock.  The latency
 * histogram is per route, in atomics.  Service and agent gauges
 * come from the health poller's snapshot (gw_system.c), the replicas from
 * the heartbeat table (libshared/beat.h), so rendering never waits on the
 * bus.  Every gateway has the same heartbeat table, so the librefang_
 * instance_* and librefang_service_replicas series are the same whichever
 * gateway is scraped; the request series are each gateway's own.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "beat.h"
#include "err.h"
#include "gateway.h"
#include "services.h"

#define GW_MX_SLOTS	4096		/* (route, method, status) series */

static const double gw_mx_le[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define GW_MX_NLE	(sizeof(gw_mx_le) / sizeof(gw_mx_le[0]))

/* A series: key (route + 1) << 32 | method << 16 | status, 0 = free. */
struct gw_mx_slot {
	atomic_ullong	 ms_key;
	atomic_ullong	 ms_n;
};

struct gw_mx_hist {
	atomic_ullong	 h_le[GW_MX_NLE];	/* not cumulative */
	atomic_ullong	 h_count;
	atomic_ullong	 h_sum_ns;
};

static struct gw_mx_slot *gw_mx_slots;
static struct gw_mx_hist *gw_mx_hists;		/* gw_nroutes + 1 */
static atomic_ullong	 gw_mx_limited;
static atomic_ullong	 gw_mx_dropped;

int
gw_metrics_init(void)
{
	gw_mx_slots = calloc(GW_MX_SLOTS, sizeof(*gw_mx_slots));
	gw_mx_hists = calloc(gw_nroutes + 1, sizeof(*gw_mx_hists));
	if (gw_mx_slots == NULL || gw_mx_hists == NULL) {
		gw_metrics_fini();
		return (-1);
	}
	return (0);
}

void
gw_metrics_fini(void)
{
	free(gw_mx_slots);
	free(gw_mx_hists);
	gw_mx_slots = NULL;
	gw_mx_hists = NULL;
}

void
gw_metrics_request(int route, enum gw_method m, int status, uint64_t dur_ns)
{
	struct gw_mx_hist	*h;
	struct gw_mx_slot	*s;
	unsigned long long	 key, cur;
	uint32_t		 i, h0;
	size_t			 b;
	double			 secs;

	if (gw_mx_slots == NULL)
		return;
	if (route < 0 || (size_t)route >= gw_nroutes)
		route = (int)gw_nroutes;		/* unmatched */
	key = (unsigned long long)(route + 1) << 32 |
	    (unsigned long long)m << 16 | (unsigned long long)(status & 0xffff);
	h0 = (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 40) % GW_MX_SLOTS;
	for (i = 0; i < GW_MX_SLOTS; i++) {
		s = &gw_mx_slots[(h0 + i) % GW_MX_SLOTS];
		cur = atomic_load(&s->ms_key);
		if (cur == 0 && atomic_compare_exchange_strong(&s->ms_key,
		    &cur, key))
			cur = key;
		if (cur != key)
			continue;
		atomic_fetch_add_explicit(&s->ms_n, 1, memory_order_relaxed);
		break;
	}
	if (i == GW_MX_SLOTS)
		atomic_fetch_add(&gw_mx_dropped, 1);

	h = &gw_mx_hists[route];
	secs = (double)dur_ns / 1e9;
	for (b = 0; b < GW_MX_NLE; b++)
		if (secs <= gw_mx_le[b])
			break;
	if (b < GW_MX_NLE)
		atomic_fetch_add_explicit(&h->h_le[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->h_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->h_sum_ns, dur_ns, memory_order_relaxed);
}

void
gw_metrics_rate_limited(void)
{
	atomic_fetch_add(&gw_mx_limited, 1);
}

static const char *
gw_mx_route(int route)
{
	return ((size_t)route < gw_nroutes ? gw_routes[route].rt_pattern :
	    "unmatched");
}

static int
gw_mx_histograms(struct buf *b)
{
	struct gw_mx_hist	*h;
	unsigned long long	 cum, n;
	size_t			 r, i;
	int			 rc = 0;

	rc |= buf_adds(b, "# HELP librefang_request_duration_seconds "
	    "API request latency by route\n"
	    "# TYPE librefang_request_duration_seconds histogram\n");
	for (r = 0; r <= gw_nroutes && rc == 0; r++) {
		h = &gw_mx_hists[r];
		if ((n = atomic_load(&h->h_count)) == 0)
			continue;
		cum = 0;
		for (i = 0; i < GW_MX_NLE; i++) {
			cum += atomic_load(&h->h_le[i]);
			rc |= buf_addf(b, "librefang_request_duration_seconds_"
			    "bucket{route=\"%s\",le=\"%g\"} %llu\n",
			    gw_mx_route((int)r), gw_mx_le[i], cum);
		}
		rc |= buf_addf(b, "librefang_request_duration_seconds_bucket"
		    "{route=\"%s\",le=\"+Inf\"} %llu\n"
		    "librefang_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
		    "librefang_request_duration_seconds_count{route=\"%s\"} "
		    "%llu\n", gw_mx_route((int)r), n, gw_mx_route((int)r),
		    (double)atomic_load(&h->h_sum_ns) / 1e9,
		    gw_mx_route((int)r), n);
	}
	return (rc);
}

/*
 * One series per process heard from (an "instance" label: its host:pid),
 * and per service the number of its replicas up.  Label values were
 * checked when the beat came in (no quote, backslash or space), so they
 * go in as they are.  A process stays listed, up 0, until the table
 * forgets it (beat.h).
 */
static int
gw_mx_instances(struct buf *b)
{
	static const char *const svcs[] = SVC_LIST;
	struct beat_entry	*e = NULL;
	uint64_t		 now;
	size_t			 i;
	int			 n, j, k, up, rc = 0;

	if ((n = beat_watch_list(&e, &now)) < 0)
		return (SH_ENOMEM);
	rc |= buf_adds(b, "# HELP librefang_instance_up Whether the process "
	    "sent a heartbeat within its last 3 intervals (0: down, or gone "
	    "after its goodbye)\n# TYPE librefang_instance_up gauge\n");
	for (j = 0; j < n; j++)
		rc |= buf_addf(b, "librefang_instance_up{service=\"%s\","
		    "instance=\"%s\"} %d\n", e[j].be_service,
		    e[j].be_instance, beat_entry_state(&e[j], now) == BEAT_UP);
	rc |= buf_adds(b, "# HELP librefang_instance_info The process's "
	    "host and version (always 1)\n"
	    "# TYPE librefang_instance_info gauge\n");
	for (j = 0; j < n; j++)
		rc |= buf_addf(b, "librefang_instance_info{service=\"%s\","
		    "instance=\"%s\",host=\"%s\",pid=\"%lld\","
		    "version=\"%s\"} 1\n",
		    e[j].be_service, e[j].be_instance, e[j].be_host,
		    e[j].be_pid, e[j].be_version);
	rc |= buf_adds(b, "# HELP librefang_instance_last_seen_seconds "
	    "Seconds since the process's last heartbeat\n"
	    "# TYPE librefang_instance_last_seen_seconds gauge\n");
	for (j = 0; j < n; j++)
		rc |= buf_addf(b, "librefang_instance_last_seen_seconds{"
		    "service=\"%s\",instance=\"%s\"} %.3f\n",
		    e[j].be_service, e[j].be_instance, now > e[j].be_seen ?
		    (double)(now - e[j].be_seen) / 1000 : 0.0);
	rc |= buf_adds(b, "# HELP librefang_instance_start_time_seconds "
	    "When the process started (Unix time)\n"
	    "# TYPE librefang_instance_start_time_seconds gauge\n");
	for (j = 0; j < n; j++)
		rc |= buf_addf(b, "librefang_instance_start_time_seconds{"
		    "service=\"%s\",instance=\"%s\"} %.3f\n",
		    e[j].be_service, e[j].be_instance,
		    (double)e[j].be_started_ms / 1000);
	/* Every service of SVC_LIST, 0 when none is up, then the others
	 * heard of (the gateways) in the table's order. */
	rc |= buf_adds(b, "# HELP librefang_service_replicas Processes of "
	    "the service up (heard from within 3 heartbeat intervals)\n"
	    "# TYPE librefang_service_replicas gauge\n");
	for (i = 0; svcs[i] != NULL; i++) {
		for (up = 0, j = 0; j < n; j++)
			if (strcmp(e[j].be_service, svcs[i]) == 0 &&
			    beat_entry_state(&e[j], now) == BEAT_UP)
				up++;
		rc |= buf_addf(b, "librefang_service_replicas{service=\"%s\"} "
		    "%d\n", svcs[i], up);
	}
	for (j = 0; j < n; j = k) {
		for (up = 0, k = j; k < n && strcmp(e[k].be_service,
		    e[j].be_service) == 0; k++)
			up += beat_entry_state(&e[k], now) == BEAT_UP;
		for (i = 0; svcs[i] != NULL; i++)
			if (strcmp(svcs[i], e[j].be_service) == 0)
				break;
		if (svcs[i] == NULL)
			rc |= buf_addf(b, "librefang_service_replicas{"
			    "service=\"%s\"} %d\n", e[j].be_service, up);
	}
	free(e);
	return (rc);
}

int
gw_metrics_render(struct buf *b)
{
	static const char *const svcs[] = SVC_LIST;
	struct gw_mx_slot	*s;
	unsigned long long	 key;
	size_t			 i;
	int			 rc = 0;

	if (gw_mx_slots == NULL)
		return (SH_EINVAL);
	rc |= buf_adds(b, "# HELP librefang_requests_total Total API "
	    "requests\n# TYPE librefang_requests_total counter\n");
	for (i = 0; i < GW_MX_SLOTS && rc == 0; i++) {
		s = &gw_mx_slots[i];
		if ((key = atomic_load(&s->ms_key)) == 0)
			continue;
		rc |= buf_addf(b, "librefang_requests_total{route=\"%s\","
		    "method=\"%s\",status=\"%d\"} %llu\n",
		    gw_mx_route((int)(key >> 32) - 1),
		    gw_method_name((enum gw_method)(key >> 16 & 0xffff)),
		    (int)(key & 0xffff), (unsigned long long)atomic_load(
		    &s->ms_n));
	}
	rc |= gw_mx_histograms(b);
	rc |= buf_adds(b, "# HELP librefang_service_up Whether the service "
	    "answered its last health check\n"
	    "# TYPE librefang_service_up gauge\n");
	for (i = 0; svcs[i] != NULL; i++)
		rc |= buf_addf(b, "librefang_service_up{service=\"%s\"} %d\n",
		    svcs[i], gw_health_service_up((int)i));
	rc |= buf_addf(b,
	    "# HELP librefang_agents_total Total number of agents\n"
	    "# TYPE librefang_agents_total gauge\n"
	    "librefang_agents_total %lld\n"
	    "# HELP librefang_uptime_seconds Gateway uptime\n"
	    "# TYPE librefang_uptime_seconds gauge\n"
	    "librefang_uptime_seconds %lld\n"
	    "# HELP librefang_rate_limited_total Requests refused by the "
	    "rate limiter\n"
	    "# TYPE librefang_rate_limited_total counter\n"
	    "librefang_rate_limited_total %llu\n"
	    "# HELP librefang_http_connections Open HTTP connections\n"
	    "# TYPE librefang_http_connections gauge\n"
	    "librefang_http_connections %lld\n"
	    "# HELP librefang_request_timeouts_total Requests answered 408 "
	    "because they arrived too slowly\n"
	    "# TYPE librefang_request_timeouts_total counter\n"
	    "librefang_request_timeouts_total %lld\n"
	    "# HELP librefang_rate_limit_entries Clients tracked by the rate "
	    "limiter\n"
	    "# TYPE librefang_rate_limit_entries gauge\n"
	    "librefang_rate_limit_entries %lld\n",
	    gw_health_agent_count(), gw_uptime_seconds(),
	    (unsigned long long)atomic_load(&gw_mx_limited), gw_conn_count(),
	    gw_conn_reaped(), gw_rl_entries());
	rc |= gw_mx_instances(b);
	return (rc);
}
