/*
 * metrics.c - GET /metrics (Prometheus text format) and GET /healthz.
 */
#include <stdio.h>

#include <event2/buffer.h>

#include "futex.h"
#include "master.h"

/* Upper bounds of the item latency histogram, in seconds. */
static const double lat_bounds[LAT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 1.0, 10.0
};

static const char *cause_names[RC__COUNT] = {
	"crash", "timeout", "oom", "recycle", "exit"
};

void
metrics_item(struct master *m, int status, uint64_t lat_ns)
{
	struct metrics	*mt = &m->metrics;
	double		 s = (double)lat_ns / 1e9;
	int		 i, c = status / 100;

	mt->items_by_class[c >= 1 && c <= 5 ? c : 0]++;
	if (lat_ns == 0)
		return;
	for (i = 0; i < LAT_BUCKETS && s > lat_bounds[i]; i++)
		;
	mt->lat_bucket[i]++;
	mt->lat_sum += s;
	mt->lat_count++;
}

void
metrics_response(struct master *m, int status, int is_batch)
{
	int c = status / 100;

	c = c >= 1 && c <= 5 ? c : 0;
	m->metrics.responses_by_class[c]++;
	if (is_batch)
		m->metrics.batches_by_class[c]++;
}

void
metrics_render(struct master *m, struct evbuffer *o, uint32_t live,
    uint32_t quarantined)
{
	struct metrics	*mt = &m->metrics;
	uint64_t	 cum = 0;
	int		 i;

	evbuffer_add_printf(o,
	    "# HELP batchd_http_requests_total HTTP requests received.\n"
	    "# TYPE batchd_http_requests_total counter\n"
	    "batchd_http_requests_total %llu\n"
	    "# HELP batchd_batches_total Batches accepted.\n"
	    "# TYPE batchd_batches_total counter\n"
	    "batchd_batches_total %llu\n"
	    "# HELP batchd_items_total Items answered, by status class.\n"
	    "# TYPE batchd_items_total counter\n",
	    (unsigned long long)mt->requests, (unsigned long long)mt->batches);
	for (i = 1; i <= 5; i++)
		evbuffer_add_printf(o, "batchd_items_total{status=\"%dxx\"} "
		    "%llu\n", i, (unsigned long long)mt->items_by_class[i]);
	evbuffer_add_printf(o, "# HELP batchd_http_responses_total HTTP "
	    "responses, by status class.\n"
	    "# TYPE batchd_http_responses_total counter\n");
	for (i = 1; i <= 5; i++)
		evbuffer_add_printf(o, "batchd_http_responses_total{status="
		    "\"%dxx\"} %llu\n", i,
		    (unsigned long long)mt->responses_by_class[i]);
	evbuffer_add_printf(o, "# HELP batchd_batch_responses_total $batch "
	    "responses, by status class.\n"
	    "# TYPE batchd_batch_responses_total counter\n");
	for (i = 1; i <= 5; i++)
		evbuffer_add_printf(o, "batchd_batch_responses_total{status="
		    "\"%dxx\"} %llu\n", i,
		    (unsigned long long)mt->batches_by_class[i]);
	evbuffer_add_printf(o,
	    "# HELP batchd_item_duration_seconds Time from ring to answer.\n"
	    "# TYPE batchd_item_duration_seconds histogram\n");
	for (i = 0; i < LAT_BUCKETS; i++) {
		cum += mt->lat_bucket[i];
		evbuffer_add_printf(o, "batchd_item_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", lat_bounds[i],
		    (unsigned long long)cum);
	}
	cum += mt->lat_bucket[LAT_BUCKETS];
	evbuffer_add_printf(o,
	    "batchd_item_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "batchd_item_duration_seconds_sum %.9f\n"
	    "batchd_item_duration_seconds_count %llu\n",
	    (unsigned long long)cum, mt->lat_sum,
	    (unsigned long long)mt->lat_count);
	evbuffer_add_printf(o,
	    "# HELP batchd_ring_depth Items published and not yet claimed.\n"
	    "# TYPE batchd_ring_depth gauge\n"
	    "batchd_ring_depth %llu\n"
	    "# HELP batchd_pending_items Items waiting for ring room.\n"
	    "# TYPE batchd_pending_items gauge\n"
	    "batchd_pending_items %llu\n"
	    "# HELP batchd_inflight_items Items in the ring or running.\n"
	    "# TYPE batchd_inflight_items gauge\n"
	    "batchd_inflight_items %llu\n"
	    "# HELP batchd_workers Live worker processes.\n"
	    "# TYPE batchd_workers gauge\n"
	    "batchd_workers %u\n"
	    "# HELP batchd_worker_restarts_total Worker exits, by cause.\n"
	    "# TYPE batchd_worker_restarts_total counter\n",
	    (unsigned long long)ring_depth(&m->ring),
	    (unsigned long long)m->npending,
	    (unsigned long long)m->inflight_items, live);
	for (i = 0; i < RC__COUNT; i++)
		evbuffer_add_printf(o, "batchd_worker_restarts_total"
		    "{cause=\"%s\"} %llu\n", cause_names[i],
		    (unsigned long long)mt->restarts[i]);
	evbuffer_add_printf(o, "# HELP batchd_items_requeued_total Items of "
	    "an uncommitted write group run again after their worker died.\n"
	    "# TYPE batchd_items_requeued_total counter\n"
	    "batchd_items_requeued_total %llu\n",
	    (unsigned long long)mt->requeued);
	evbuffer_add_printf(o,
	    "# HELP batchd_quarantined_total Items answered by the quarantine "
	    "without running.\n"
	    "# TYPE batchd_quarantined_total counter\n"
	    "batchd_quarantined_total %llu\n"
	    "# HELP batchd_quarantine_entries Items the quarantine remembers.\n"
	    "# TYPE batchd_quarantine_entries gauge\n"
	    "batchd_quarantine_entries %u\n",
	    (unsigned long long)mt->quarantined, quarantined);
}

void
health_render(struct master *m, struct evbuffer *o, uint32_t live)
{
	static const char *states[] = { "empty", "starting", "idle", "busy",
	    "exiting" };
	struct mworker	*w;
	uint64_t	 now = mono_ns(), started;
	uint32_t	 i, st, n = 0;

	evbuffer_add_printf(o, "{\"status\":\"%s\",\"workers\":[",
	    live > 0 ? "ok" : "degraded");
	for (i = 0; i < m->nslots; i++) {
		w = &m->workers[i];
		if (w->w_slot == NULL || !w->w_wanted)
			continue;
		st = w->w_state == MW_RUNNING ?
		    atomic_load(&w->w_slot->state) : WS_EMPTY;
		started = atomic_load(&w->w_slot->started_ns);
		evbuffer_add_printf(o, "%s{\"slot\":%u,\"pid\":%ld,"
		    "\"state\":\"%s\",\"items_done\":%llu,"
		    "\"current_item_age_ms\":%llu}", n++ ? "," : "", i,
		    (long)w->w_pid, w->w_state == MW_BACKOFF ? "backoff" :
		    states[st < 5 ? st : 0],
		    (unsigned long long)atomic_load(&w->w_slot->items_done),
		    (unsigned long long)(st == WS_BUSY && started && now >
		    started ? (now - started) / 1000000ULL : 0));
	}
	evbuffer_add_printf(o, "],\"ring_depth\":%llu,\"pending_items\":%llu,"
	    "\"inflight_items\":%llu,\"batches\":%llu,\"connections\":%u}",
	    (unsigned long long)ring_depth(&m->ring),
	    (unsigned long long)m->npending,
	    (unsigned long long)m->inflight_items,
	    (unsigned long long)m->nbatches, m->nconns);
}
