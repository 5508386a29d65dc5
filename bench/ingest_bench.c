/*
 * ingest_bench.c — the CPU cost of ingesting events, stage by stage, in
 * process and without the network, so that it can be compared across
 * builds on a shared machine (where events/s over HTTP swings with the
 * neighbours' load).
 *
 * A fresh store in a temporary directory (fsync off: the disk is not what
 * is measured here) gets the observers `laotie serve` registers — the feed
 * (online ranker, policies, live co-watch), the stats and the ads books —
 * and is written B batches of N events from one thread, the mix of
 * bench/lib/wrk.lua: users and items uniform over U and I, types play,
 * play, play, impression, impression, like, plays watching 500..60000 ms,
 * unique ids. The generator is seeded, so two builds see the same events.
 * Printed per 1000 events (median of the batches after the first tenth,
 * and the mean): the CPU time of stage 1 (lt_store_write
 * minus the observer: check, encode, log, apply to the state); stage 2
 * (the observer) as wall time — how long the serial stage holds each
 * batch, which bounds ingestion — and as the process's CPU time (all
 * threads: the feed counts co-watch on a helper thread), the latter
 * split into feed / stats / ads.
 *
 *   ingest_bench [--batches 1500] [--batch 1000] [--users 100000]
 *                [--items 100000] [--seed 1] [--no-cowatch]
 *
 * Build: bench/run builds it with the others; by hand, from the project
 * root after cmake --build build:
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/ingest_bench.c build/liblaotie.a \
 *     $(pkg-config --libs libcjson libmicrohttpd libxxhash openblas) -lm -lpthread \
 *     -o ingest_bench
 */
#include "ads/ads.h"
#include "core/error.h"
#include "feed/feed.h"
#include "state/store.h"
#include "stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct observers {
  lt_feed_t *feed;
  lt_stats_t *stats;
  lt_ads_t *ads;
  double ns[3]; /* process CPU in each observer during the current batch */
  double wall;  /* wall time in the observer during the current batch */
} observers_t;

static double ns_of(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static double proc_ns(void) { return ns_of(CLOCK_PROCESS_CPUTIME_ID); }

/* As cmd_serve.c's observe(), timed. */
static void prepare(void *ctx, const lt_record_t *recs, size_t n) {
  observers_t *o = ctx;
  lt_feed_prepare(o->feed, recs, n);
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) {
  observers_t *o = ctx;
  double w0 = ns_of(CLOCK_MONOTONIC), t0 = proc_ns();
  lt_feed_observe(o->feed, recs, n);
  double t1 = proc_ns();
  lt_stats_observe(o->stats, recs, n);
  double t2 = proc_ns();
  lt_ads_observe(o->ads, recs, n);
  double t3 = proc_ns();
  o->wall += ns_of(CLOCK_MONOTONIC) - w0;
  o->ns[0] += t1 - t0;
  o->ns[1] += t2 - t1;
  o->ns[2] += t3 - t2;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { /* xorshift64 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of v[from..n) (sorted in place) and its mean. */
static void summary(double *v, size_t from, size_t n, double *med, double *mean) {
  double s = 0;
  for (size_t i = from; i < n; i++)
    s += v[i];
  *mean = n > from ? s / (double)(n - from) : 0;
  qsort(v + from, n - from, sizeof *v, cmp_d);
  *med = n > from ? v[from + (n - from) / 2] : 0;
}

int main(int argc, char **argv) {
  unsigned batches = 1500, batch = 1000, users = 100000, items = 100000, seed = 1;
  int cowatch = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-cowatch")) {
      cowatch = 0;
      continue;
    }
    unsigned *dst = !strcmp(a, "--batches") ? &batches
                    : !strcmp(a, "--batch") ? &batch
                    : !strcmp(a, "--users") ? &users
                    : !strcmp(a, "--items") ? &items
                    : !strcmp(a, "--seed")  ? &seed
                                            : NULL;
    if (!dst || !v || sscanf(v, "%u", dst) != 1 || !*dst) {
      fprintf(stderr, "usage: ingest_bench [--batches B] [--batch N] [--users U] [--items I] "
                      "[--seed S] [--no-cowatch]\n");
      return 2;
    }
    i++;
  }
  rng ^= (uint64_t)seed * 0x9E3779B97F4A7C15ull;
  char dir[] = "/tmp/ingest_bench.XXXXXX", mdir[64], cmd[128];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(mdir, sizeof mdir, "%s/models", dir);
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  lt_ads_opts_t ao;
  lt_ads_opts_default(&ao);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  char err[128];
  observers_t obs = {0};
  lt_store_t *store = NULL;
  lt_record_t *recs = malloc(batch * sizeof *recs);
  char *strs = malloc((size_t)batch * 64);
  double *s1 = malloc(batches * sizeof *s1), *s2 = malloc(batches * sizeof *s2),
         *sw = malloc(batches * sizeof *sw);
  double tot[3] = {0, 0, 0};
  int rc = !recs || !strs || !s1 || !s2 || !sw ? LT_ENOMEM : LT_OK;
  if (!rc && !cowatch) rc = lt_feed_opts_set(&fo, "live_cowatch", "off", err, sizeof err);
  if (!rc && !(rc = lt_ads_new(&ao, &obs.ads))) {
    so.ext = lt_ads_ext;
    so.ext_ctx = obs.ads;
    rc = lt_store_open(dir, &so, &store, NULL);
  }
  if (!rc) rc = lt_feed_new(lt_store_state(store), &fo, mdir, &obs.feed);
  if (!rc) rc = lt_stats_new(lt_store_state(store), &obs.stats);
  if (!rc) rc = lt_ads_attach(obs.ads, store);
  if (rc) {
    fprintf(stderr, "ingest_bench: setup: %s\n", lt_strerror(rc));
    goto out;
  }
  lt_store_set_observer(store, observe, prepare, &obs);
  static const uint8_t types[6] = {LT_EV_PLAY,       LT_EV_PLAY,       LT_EV_PLAY,
                                   LT_EV_IMPRESSION, LT_EV_IMPRESSION, LT_EV_LIKE};
  int64_t ts = 1764261000000LL;
  for (unsigned b = 0; b < batches; b++) {
    for (unsigned j = 0; j < batch; j++) {
      char *p = strs + (size_t)j * 64;
      lt_record_t *r = &recs[j];
      memset(r, 0, sizeof *r);
      r->kind = LT_REC_EVENT;
      lt_event_t *e = &r->u.ev;
      int n1 = snprintf(p, 24, "b%u-%u", b, j);
      int n2 = snprintf(p + 24, 20, "%u", (unsigned)(next() % users));
      int n3 = snprintf(p + 44, 20, "%u", (unsigned)(next() % items));
      e->id = (lt_str_t){p, (size_t)n1};
      e->user = (lt_str_t){p + 24, (size_t)n2};
      e->item = (lt_str_t){p + 44, (size_t)n3};
      e->type = types[next() % 6];
      e->watch_ms = e->type == LT_EV_PLAY ? 500 + (uint32_t)(next() % 59501) : 0;
      e->ts_ms = ts++;
      e->position = -1;
    }
    obs.ns[0] = obs.ns[1] = obs.ns[2] = obs.wall = 0;
    lt_write_result_t res;
    double p0 = proc_ns();
    rc = lt_store_write(store, recs, batch, 0, NULL, NULL, &res);
    double p1 = proc_ns();
    if (rc || res.accepted != batch) {
      fprintf(stderr, "ingest_bench: batch %u: %s (%u accepted)\n", b, lt_strerror(rc),
              res.accepted);
      rc = rc ? rc : LT_EIO;
      goto out;
    }
    double obs_ns = obs.ns[0] + obs.ns[1] + obs.ns[2], k = 1000.0 / batch / 1e3; /* -> us/1000 */
    /* one writer and no other work: the process's CPU in the write minus
     * its CPU in the observer is stage 1 */
    s1[b] = (p1 - p0 - obs_ns) * k;
    s2[b] = obs_ns * k;
    sw[b] = obs.wall * k;
    if (b >= batches / 10)
      for (int q = 0; q < 3; q++)
        tot[q] += obs.ns[q] * k;
  }
  size_t from = batches / 10, cnt = batches - from;
  double m1, a1, m2, a2, mw, aw;
  summary(s1, from, batches, &m1, &a1);
  summary(s2, from, batches, &m2, &a2);
  summary(sw, from, batches, &mw, &aw);
  printf("ingest_bench: %u batches x %u events, users %u, items %u, live co-watch %s\n", batches,
         batch, users, items, cowatch ? "on" : "off");
  printf("CPU us per 1000 events (median / mean of batches %zu..%u):\n", from, batches - 1);
  printf("  stage 1 (check, encode, log, apply)  %7.0f / %7.0f\n", m1, a1);
  printf("  stage 2 (observer), wall             %7.0f / %7.0f\n", mw, aw);
  printf("  stage 2 (observer), CPU              %7.0f / %7.0f\n", m2, a2);
  printf("    feed %.0f  stats %.0f  ads %.0f (means)\n", tot[0] / cnt, tot[1] / cnt, tot[2] / cnt);
  printf("  total CPU                            %7.0f (means)\n", a1 + a2);
out:
  lt_store_close(store, 0);
  lt_feed_free(obs.feed);
  lt_stats_free(obs.stats);
  lt_ads_free(obs.ads);
  free(recs);
  free(strs);
  free(s1);
  free(s2);
  free(sw);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) fprintf(stderr, "ingest_bench: could not remove %s\n", dir);
  return rc ? 1 : 0;
}
