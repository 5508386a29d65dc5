/*
 * cowatch_replay.c — what the co-watch counted between trainings
 * (model/cowatch.h) is worth: a data set replayed in time order, trained
 * once part-way, then streamed event by event with and without the live
 * counts, scoring each next item before it is seen.
 *
 * Protocol. The rows (user item rating unix-seconds: MovieLens u.data, or
 * any file of that shape) are sorted by (time, user, item). The first
 * --train share (default 0.8) is applied as plays with the rating as
 * weight (all positive, as in src/eval and bench/feed_bench.c) and one
 * model is trained and published to two feeds: "live" (co-watch counted
 * between trainings, the default) and "snapshot" (live_cowatch off). The
 * rest is streamed in order; for each event of a user with some history,
 * on an item the user has not seen yet, before the event is applied:
 *   similar  hit when the item is among lt_feed_similar(20) of the user's
 *            newest history item (the item-to-item lists alone);
 *   feed     hit when the item is in the user's lt_feed_get(20) at the
 *            event's time (the whole pipeline; no impressions are posted,
 *            so seen-dedup only hides the history);
 * then the event is applied to the state and observed by both feeds (the
 * store's order). Hits are also split by whether the item existed at
 * training time ("old") or appeared in the stream ("new"). No retraining
 * happens during the stream: it measures one training interval.
 * Also printed, as thread CPU time: lt_feed_observe per event (the
 * difference between the feeds is the live counting), and lt_feed_similar
 * and lt_feed_get per scored event (the difference is reading the
 * counts).
 *
 *   cowatch_replay FILE [--train 0.8] [--window K] [--neighbors N]
 *                  [--shrink S] [--max-events M] [--k 64] [--iters 10]
 *
 * Build (from the project root, after cmake --build build):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags openblas) \
 *     bench/cowatch_replay.c build/liblaotie.a \
 *     $(pkg-config --libs libcjson libmicrohttpd libxxhash openblas) -lm -lpthread \
 *     -o cowatch_replay
 */
#include "core/error.h"
#include "feed/feed.h"
#include "model/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct row {
  uint32_t u, i, r;
  int64_t t;
} row_t;

static int row_cmp(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  if (x->u != y->u) return x->u < y->u ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static lt_record_t play(const char *u, const char *i, int64_t ts_ms, float weight) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(u);
  r.u.ev.item = lt_str_of(i);
  r.u.ev.type = LT_EV_PLAY;
  r.u.ev.ts_ms = ts_ms;
  r.u.ev.position = -1;
  r.u.ev.weight = weight;
  return r;
}

typedef struct score {
  uint64_t sim_hits[2], feed_hits[2], n[2]; /* [old, new] */
  double observe_s, similar_s, feed_s;      /* thread CPU */
} score_t;

static int similar_hit(lt_feed_t *f, uint32_t seed, uint32_t item) {
  lt_feed_entry_t out[20];
  uint32_t n = 0;
  if (lt_feed_similar(f, seed, 20, out, &n)) return 0;
  for (uint32_t k = 0; k < n; k++)
    if (out[k].item == item) return 1;
  return 0;
}

static int feed_hit(lt_feed_t *f, const char *user, int64_t now, uint32_t item) {
  static lt_feed_result_t res;
  if (lt_feed_get(f, user, strlen(user), 20, now, &res)) return 0;
  for (uint32_t k = 0; k < res.n; k++)
    if (res.items[k].item == item) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (!getenv("OPENBLAS_CORETYPE")) { /* see bench/ials_bench.c */
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv);
  }
  if (argc < 2) {
    fprintf(stderr, "usage: see the header of bench/cowatch_replay.c\n");
    return 2;
  }
  double train_share = 0.8;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.fresh_every = 1000; /* no exploration slots: a replay cannot answer them */
  o.request_seed = 1;
  size_t max_events = 0;
  for (int a = 2; a + 1 < argc; a += 2) {
    const char *k = argv[a], *v = argv[a + 1];
    if (!strcmp(k, "--train"))
      train_share = atof(v);
    else if (!strcmp(k, "--window"))
      o.cowatch_window = (uint32_t)atoi(v);
    else if (!strcmp(k, "--neighbors"))
      o.cowatch_capacity = (uint32_t)atoi(v);
    else if (!strcmp(k, "--shrink"))
      o.cowatch_shrink = (float)atof(v);
    else if (!strcmp(k, "--max-events"))
      max_events = (size_t)atol(v);
    else if (!strcmp(k, "--k"))
      o.ials_k = (uint32_t)atoi(v);
    else if (!strcmp(k, "--iters"))
      o.ials_iters = (uint32_t)atoi(v);
    else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  FILE *fp = fopen(argv[1], "r");
  if (!fp) {
    perror(argv[1]);
    return 1;
  }
  size_t n = 0, cap = 1 << 17;
  row_t *rows = malloc(cap * sizeof *rows);
  unsigned u, i, r;
  long long t;
  while (rows && fscanf(fp, "%u %u %u %lld", &u, &i, &r, &t) == 4) {
    if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
    if (rows) rows[n++] = (row_t){u, i, r, t * 1000};
  }
  fclose(fp);
  if (!rows || !n) return 1;
  qsort(rows, n, sizeof *rows, row_cmp);
  size_t split = (size_t)(train_share * (double)n);
  lt_state_t *st;
  if (lt_state_new(NULL, &st)) return 1;
  char us[32], is[32];
  for (size_t x = 0; x < split; x++) {
    snprintf(us, sizeof us, "u%u", rows[x].u);
    snprintf(is, sizeof is, "i%u", rows[x].i);
    lt_record_t rec = play(us, is, rows[x].t, (float)rows[x].r);
    if (lt_state_apply(st, &rec, 0)) return 1;
  }
  lt_feed_t *f[2]; /* live, snapshot */
  if (lt_feed_new(st, &o, NULL, &f[0])) return 1;
  o.policies_off |= LT_POL_LIVE_COWATCH;
  if (lt_feed_new(st, &o, NULL, &f[1])) return 1;
  if (lt_feed_train(f[0], rows[split - 1].t, stderr)) return 1; /* at the data's time */
  lt_feed_publish(f[1], lt_feed_acquire(f[0])); /* the same snapshot for both */
  uint32_t trained_items = lt_state_count(st, LT_NS_ITEM);

  score_t sc[2];
  memset(sc, 0, sizeof sc);
  lt_hist_t h[2048];
  size_t end = max_events && split + max_events < n ? split + max_events : n;
  for (size_t x = split; x < end; x++) {
    snprintf(us, sizeof us, "u%u", rows[x].u);
    snprintf(is, sizeof is, "i%u", rows[x].i);
    uint32_t uid, iid;
    size_t nh = 0;
    int seen = 0;
    if (lt_state_find(st, LT_NS_USER, us, strlen(us), &uid) == LT_OK)
      nh = lt_state_user_history(st, uid, h, 2048);
    int known = lt_state_find(st, LT_NS_ITEM, is, strlen(is), &iid) == LT_OK;
    for (size_t k = 0; k < nh && known; k++)
      seen |= h[k].item == iid;
    if (nh && known && !seen) {
      int fresh = iid >= trained_items;
      for (int v = 0; v < 2; v++) {
        sc[v].n[fresh]++;
        double c0 = cpu_now();
        sc[v].sim_hits[fresh] += (uint64_t)similar_hit(f[v], h[nh - 1].item, iid);
        double c1 = cpu_now();
        sc[v].feed_hits[fresh] += (uint64_t)feed_hit(f[v], us, rows[x].t, iid);
        sc[v].similar_s += c1 - c0;
        sc[v].feed_s += cpu_now() - c1;
      }
    }
    lt_record_t rec = play(us, is, rows[x].t, (float)rows[x].r);
    if (lt_state_apply(st, &rec, 0)) return 1;
    for (int v = 0; v < 2; v++) {
      double c0 = cpu_now();
      lt_feed_observe(f[v], &rec, 1);
      sc[v].observe_s += cpu_now() - c0;
    }
  }
  size_t streamed = end - split;
  printf("cowatch_replay %s: %zu rows, trained on %zu, streamed %zu; window %u, neighbours %u, "
         "shrink %g\n",
         argv[1], n, split, streamed, o.cowatch_window, o.cowatch_capacity,
         (double)o.cowatch_shrink);
  printf("%-9s %8s %8s %8s %8s %8s %8s %10s %10s %10s\n", "feed", "sim@20", "old", "new", "feed@20",
         "old", "new", "observe", "similar", "feed");
  const char *names[2] = {"live", "snapshot"};
  for (int v = 0; v < 2; v++) {
    uint64_t all = sc[v].n[0] + sc[v].n[1];
#define R(h, k) (sc[v].n[k] ? (double)sc[v].h[k] / (double)sc[v].n[k] : 0.0)
    double q = (double)(all ? all : 1);
    printf("%-9s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %7.0f ns %7.1f us %7.1f us\n", names[v],
           all ? (double)(sc[v].sim_hits[0] + sc[v].sim_hits[1]) / (double)all : 0.0,
           R(sim_hits, 0), R(sim_hits, 1),
           all ? (double)(sc[v].feed_hits[0] + sc[v].feed_hits[1]) / (double)all : 0.0,
           R(feed_hits, 0), R(feed_hits, 1), sc[v].observe_s / (double)streamed * 1e9,
           sc[v].similar_s / q * 1e6, sc[v].feed_s / q * 1e6);
#undef R
  }
  printf("scored events: %llu on old items, %llu on new items\n", (unsigned long long)sc[0].n[0],
         (unsigned long long)sc[0].n[1]);
  for (int v = 0; v < 2; v++)
    lt_feed_free(f[v]);
  lt_state_free(st);
  free(rows);
  return 0;
}
