/*
 * metrics.c — GET /metrics in the Prometheus text format: the server's own
 * per-route request counts and latency histograms, events ingested, the
 * log's size, state sizes, resident memory, the feed engine's lines
 * (model version, training runs, policies) and, with an ads engine, the
 * ad serving counters (pages, auctions, ads served, why slots stayed
 * organic, billed events, today's spend).
 */
#include "http/http_int.h"

#include "core/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const bounds_txt[LT__LAT_BUCKETS] = {"0.0001", "0.00025", "0.0005", "0.001",
                                                        "0.0025", "0.005",   "0.01",   "0.025",
                                                        "0.05",   "0.1",     "0.5",    "1"};

/* The ad serving lines (ads/ads.h lt_ads_metrics, lt_ads_campaign_serving). */
static void ads_metrics(lt_buf_t *o, lt_ads_t *a) {
  lt_ads_metrics_t m;
  lt_ads_metrics(a, &m);
  int64_t spent = 0, reserved = 0;
  uint32_t nc = lt_ads_campaign_count(a);
  for (uint32_t c = 0; c < nc; c++) {
    lt_ads_serving_t sv;
    if (lt_ads_campaign_serving(a, c, &sv)) continue;
    spent += sv.spent_ucents;
    reserved += sv.reserved_ucents;
  }
  lt_buf_printf(
      o,
      "# HELP laotie_ads_pages_total Feed pages offered to the ads engine.\n"
      "# TYPE laotie_ads_pages_total counter\nlaotie_ads_pages_total %" PRIu64 "\n"
      "# HELP laotie_ads_auctions_total Ad slots auctioned.\n"
      "# TYPE laotie_ads_auctions_total counter\nlaotie_ads_auctions_total %" PRIu64 "\n"
      "# HELP laotie_ads_served_total Ad slots filled (ads put in feed pages).\n"
      "# TYPE laotie_ads_served_total counter\nlaotie_ads_served_total %" PRIu64 "\n"
      "# HELP laotie_ads_unfilled_total Ad slots left organic, by why.\n"
      "# TYPE laotie_ads_unfilled_total counter\n"
      "laotie_ads_unfilled_total{why=\"no_bid\"} %" PRIu64 "\n"
      "laotie_ads_unfilled_total{why=\"below_floor\"} %" PRIu64 "\n"
      "# HELP laotie_ads_bids_skipped_total Campaigns that sat out an auction, by why.\n"
      "# TYPE laotie_ads_bids_skipped_total counter\n"
      "laotie_ads_bids_skipped_total{why=\"budget\"} %" PRIu64 "\n"
      "laotie_ads_bids_skipped_total{why=\"frequency_cap\"} %" PRIu64 "\n"
      "laotie_ads_bids_skipped_total{why=\"pacing\"} %" PRIu64 "\n"
      "# HELP laotie_ads_billable_events_total Billable ad events applied, billed > 0 or not.\n"
      "# TYPE laotie_ads_billable_events_total counter\n"
      "laotie_ads_billable_events_total{result=\"billed\"} %" PRIu64 "\n"
      "laotie_ads_billable_events_total{result=\"unbilled\"} %" PRIu64 "\n"
      "# TYPE laotie_ads_records_skipped_total counter\nlaotie_ads_records_skipped_total %" PRIu64
      "\n"
      "# TYPE laotie_ads_served_table_entries gauge\nlaotie_ads_served_table_entries %" PRIu64 "\n"
      "# TYPE laotie_ads_campaigns gauge\nlaotie_ads_campaigns %u\n"
      "# HELP laotie_ads_spend_today_ucents Ad spend billed today (local day), micro-cents.\n"
      "# TYPE laotie_ads_spend_today_ucents gauge\nlaotie_ads_spend_today_ucents %" PRId64 "\n"
      "# HELP laotie_ads_reserved_ucents Budget reserved by served, not yet billed ads.\n"
      "# TYPE laotie_ads_reserved_ucents gauge\nlaotie_ads_reserved_ucents %" PRId64 "\n",
      m.fills, m.slots_offered, m.ads_served, m.no_bid, m.below_floor, m.budget_rejects,
      m.freq_rejects, m.throttled, m.billed_events, m.unbilled_events, m.records_skipped,
      m.served_entries, nc, spent, reserved);
}

static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
    fclose(f);
  }
  return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void lt__metrics(lt__req_t *r) {
  lt_server_t *s = r->srv;
  lt_buf_t *o = &r->out;
  lt__route_stats_t *snap = calloc(lt__nroutes + 1, sizeof *snap);
  if (!snap) return;
  pthread_mutex_lock(&s->stats_lock);
  memcpy(snap, s->stats, (lt__nroutes + 1) * sizeof *snap);
  pthread_mutex_unlock(&s->stats_lock);

  lt_buf_printf(o, "# HELP laotie_http_requests_total Requests answered, by route and status class.\n"
                   "# TYPE laotie_http_requests_total counter\n");
  static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i <= lt__nroutes; i++) {
    const char *m = i < lt__nroutes ? lt__routes[i].method : "any";
    const char *p = i < lt__nroutes ? lt__routes[i].pattern : "unmatched";
    for (int c = 0; c < 6; c++)
      if (snap[i].status[c])
        lt_buf_printf(o,
                      "laotie_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %" PRIu64
                      "\n",
                      m, p, cls[c], snap[i].status[c]);
  }
  lt_buf_printf(o, "# HELP laotie_http_request_seconds Request latency, by route.\n"
                   "# TYPE laotie_http_request_seconds histogram\n");
  for (size_t i = 0; i <= lt__nroutes; i++) {
    if (!snap[i].requests) continue;
    const char *m = i < lt__nroutes ? lt__routes[i].method : "any";
    const char *p = i < lt__nroutes ? lt__routes[i].pattern : "unmatched";
    uint64_t cum = 0;
    for (int b = 0; b < LT__LAT_BUCKETS; b++) {
      cum += snap[i].lat[b];
      lt_buf_printf(o,
                    "laotie_http_request_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%s\"} %" PRIu64
                    "\n",
                    m, p, bounds_txt[b], cum);
    }
    cum += snap[i].lat[LT__LAT_BUCKETS];
    lt_buf_printf(o,
                  "laotie_http_request_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %" PRIu64
                  "\n"
                  "laotie_http_request_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
                  "laotie_http_request_seconds_count{method=\"%s\",route=\"%s\"} %" PRIu64 "\n",
                  m, p, cum, m, p, snap[i].lat_sum, m, p, cum);
  }
  free(snap);
  lt_state_t *st = lt_store_state(s->store);
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  lt_buf_printf(o,
                "# TYPE laotie_events_ingested_total counter\n"
                "laotie_events_ingested_total{result=\"accepted\"} %" PRIu64 "\n"
                "laotie_events_ingested_total{result=\"duplicate\"} %" PRIu64 "\n"
                "laotie_events_ingested_total{result=\"rejected\"} %" PRIu64 "\n"
                "# TYPE laotie_state_events gauge\nlaotie_state_events %" PRIu64 "\n"
                "# TYPE laotie_state_users gauge\nlaotie_state_users %" PRIu64 "\n"
                "# TYPE laotie_state_items gauge\nlaotie_state_items %" PRIu64 "\n"
                "# TYPE laotie_state_creators gauge\nlaotie_state_creators %" PRIu64 "\n"
                "# TYPE laotie_log_bytes gauge\nlaotie_log_bytes %" PRIu64 "\n"
                "# TYPE laotie_log_fsyncs_total counter\nlaotie_log_fsyncs_total %" PRIu64 "\n"
                "# TYPE laotie_resident_memory_bytes gauge\nlaotie_resident_memory_bytes %" PRIu64
                "\n"
                "# TYPE laotie_uptime_seconds gauge\nlaotie_uptime_seconds %.1f\n",
                __atomic_load_n(&s->events_accepted, __ATOMIC_RELAXED),
                __atomic_load_n(&s->events_duplicate, __ATOMIC_RELAXED),
                __atomic_load_n(&s->events_rejected, __ATOMIC_RELAXED), t.events, t.users,
                t.items, t.creators, lt_log_bytes(lt_store_log(s->store)),
                lt_log_fsync_count(lt_store_log(s->store)), rss_bytes(),
                (lt_now_ms() - s->started_ms) / 1000.0);
  lt_buf_printf(o,
                "# HELP laotie_http_write_queue Writes waiting for a thread of the write pool.\n"
                "# TYPE laotie_http_write_queue gauge\nlaotie_http_write_queue %u\n"
                "# HELP laotie_http_write_threads Threads of the write pool.\n"
                "# TYPE laotie_http_write_threads gauge\nlaotie_http_write_threads %u\n",
                __atomic_load_n(&s->q_len, __ATOMIC_RELAXED), s->opts.write_threads);
  lt_buf_printf(o,
                "# HELP laotie_store_writable 0 while the event log refuses writes (503) after a "
                "write or fsync error.\n"
                "# TYPE laotie_store_writable gauge\nlaotie_store_writable %d\n"
                "# TYPE laotie_store_recoveries_total counter\n"
                "laotie_store_recoveries_total{result=\"ok\"} %" PRIu64 "\n"
                "laotie_store_recoveries_total{result=\"failed\"} %" PRIu64 "\n",
                lt_store_failed_since(s->store) == 0,
                __atomic_load_n(&s->recoveries, __ATOMIC_RELAXED),
                __atomic_load_n(&s->recover_failures, __ATOMIC_RELAXED));
  lt_store_snapshot_stats_t ss;
  lt_store_snapshot_stats(s->store, &ss);
  lt_buf_printf(o,
                "# TYPE laotie_snapshots_total counter\n"
                "laotie_snapshots_total{result=\"ok\"} %" PRIu64 "\n"
                "laotie_snapshots_total{result=\"failed\"} %" PRIu64 "\n"
                "# HELP laotie_snapshot_last_seconds The last snapshot written: its whole time.\n"
                "# TYPE laotie_snapshot_last_seconds gauge\nlaotie_snapshot_last_seconds %.6f\n"
                "# HELP laotie_snapshot_last_hold_seconds The last snapshot written: how long "
                "writes waited for it (the state's image made in memory).\n"
                "# TYPE laotie_snapshot_last_hold_seconds gauge\n"
                "laotie_snapshot_last_hold_seconds %.6f\n"
                "# TYPE laotie_snapshot_last_bytes gauge\nlaotie_snapshot_last_bytes %" PRIu64 "\n",
                ss.written, ss.failures, ss.last_ns / 1e9, ss.last_lock_ns / 1e9, ss.last_bytes);
  uint64_t fh[LT_LOG_FSYNC_BUCKETS + 1], fsum, fcum = 0;
  lt_log_fsync_latency(lt_store_log(s->store), fh, &fsum);
  lt_buf_printf(o, "# HELP laotie_log_fsync_seconds Latency of the event log's data fsyncs.\n"
                   "# TYPE laotie_log_fsync_seconds histogram\n");
  for (int b = 0; b < LT_LOG_FSYNC_BUCKETS; b++) {
    fcum += fh[b];
    lt_buf_printf(o, "laotie_log_fsync_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                  lt_log_fsync_bounds_us[b] / 1e6, fcum);
  }
  fcum += fh[LT_LOG_FSYNC_BUCKETS];
  lt_buf_printf(o,
                "laotie_log_fsync_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                "laotie_log_fsync_seconds_sum %.6f\nlaotie_log_fsync_seconds_count %" PRIu64 "\n",
                fcum, fsum / 1e9, fcum);
  char *text = NULL;
  size_t len = 0;
  FILE *mf = open_memstream(&text, &len);
  if (mf) {
    lt_feed_metrics(s->feed, mf);
    fclose(mf);
    lt_buf_put(o, text, len);
    free(text);
  }
  if (s->opts.ads) ads_metrics(o, s->opts.ads);
}
