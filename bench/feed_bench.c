/*
 * feed_bench.c — in-process latency of lt_feed_get (fold-in + candidate
 * retrieval + ranking of `candidates` candidates), and optionally the
 * ranking quality of the whole pipeline on MovieLens-100K.
 *
 * Latency mode (default). Generates a state through lt_state_apply (no
 * log): ITEMS videos from ITEMS/10 creators in 200 topics (4 tags from a
 * topic's 8 + a shared pool), durations 5-300 s; USERS users, each with 1-3
 * favourite topics, playing EVENTS_PER_USER videos (85% from a favourite
 * topic, Zipf-like popularity within a topic, watch ratio by a per-item
 * quality), some likes and follows. Then trains (lt_feed_train, stage
 * times on stderr) and measures, single-threaded and with THREADS threads:
 *   trained    users whose history did not change since training (trained
 *              vector);
 *   fold-in    users who played 3 more videos after training (their
 *              vector is folded in at request time);
 *   cold       never-seen users (trending + fresh);
 *   ranked     trained users again after the online ranker has learned
 *              from >= rank_warmup impressions (ranker heads on every
 *              candidate).
 * Prints wall-clock p50 / p90 / p99 / max and thread-CPU p50 / p99 in
 * microseconds per case (CPU time leaves out preemption: on a shared
 * machine the wall-clock tail is mostly other processes' time slices).
 *
 *   feed_bench [--items N] [--users N] [--events N] [--requests N]
 *              [--threads N] [--k N] [--iters N] [--candidates N]
 *              [--alpha X] [--lambda X] [--w-ials X] [--w-cowatch X] [--w-pop X]
 *              [--tau X]   (blend overrides, both modes; --candidates too)
 *              [--set KEY=VALUE]  (any feed option, as in the config file)
 *              [--models DIR]  (save the trained model there; a later run with
 *                               the same sizes loads it instead of training;
 *                               saved rankers are removed first, so the
 *                               ranker starts untrained every run)
 *   defaults:  100000 100000 40 (per user) 20000 2 64 10 500
 *
 * Quality mode: feed_bench --ml100k path/to/u.data [--k N] [--iters N]
 * Per user, interactions ordered by (timestamp, item) and the last 20% held
 * out (users with >= 5 interactions); the rest is applied as plays with the
 * rating as weight; after training, every test user's feed of 20 (no fresh
 * slots: the catalogue has no new items) is scored against the held-out
 * items that are not in the train part: Recall@20 = hits / min(20,
 * |relevant|), NDCG@20 as in src/eval/offline.h.
 *
 * OpenBLAS 0.3.21 does not recognise this CPU and picks a slow kernel; as
 * bench/ials_bench.c does, the bench re-executes itself once with
 * OPENBLAS_CORETYPE=Haswell unless the variable is set.
 *
 * Build (from the project root):
 *   gcc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *     bench/feed_bench.c $(ls src/{core,state,log,model,feed}/?*.c) \
 *     -lopenblas -lxxhash -lm -lpthread -o feed_bench
 */
#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"
#include "model/models.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double unit(uint64_t *s) { return (rng(s) >> 11) * (1.0 / 9007199254740992.0); }

static void apply(lt_state_t *st, lt_record_t *r) {
  int rc = lt_state_apply(st, r, 0);
  if (rc && rc != LT_EDUPLICATE) {
    fprintf(stderr, "apply: %s\n", lt_strerror(rc));
    exit(1);
  }
}

static lt_record_t play_rec(const char *u, const char *i, int type, int64_t ts, uint32_t watch) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(u);
  r.u.ev.item = lt_str_of(i);
  r.u.ev.type = (uint8_t)type;
  r.u.ev.ts_ms = ts;
  r.u.ev.watch_ms = watch;
  r.u.ev.position = -1;
  return r;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* blend overrides from the command line (NAN = default) */
static float g_alpha = NAN, g_lambda = NAN, g_w_ials = NAN, g_w_cowatch = NAN, g_w_pop = NAN,
             g_tau = NAN;
static uint32_t g_candidates; /* --candidates (0: the default) */
static const char *g_set;    /* --set KEY=VALUE (NULL: none) */

static void overrides(lt_feed_opts_t *o) {
  if (!isnan(g_alpha)) o->ials_alpha = g_alpha;
  if (!isnan(g_lambda)) o->ials_lambda = g_lambda;
  if (!isnan(g_w_ials)) o->w_ials = g_w_ials;
  if (!isnan(g_w_cowatch)) o->w_cowatch = g_w_cowatch;
  if (!isnan(g_w_pop)) o->w_pop = g_w_pop;
  if (!isnan(g_tau)) o->recency_tau = g_tau;
  if (g_candidates) o->candidates = g_candidates;
  if (g_set) {
    char key[64], err[200];
    const char *eq = strchr(g_set, '=');
    size_t kl = eq ? (size_t)(eq - g_set) : 0;
    if (!eq || kl >= sizeof key) {
      fprintf(stderr, "--set wants KEY=VALUE\n");
      exit(2);
    }
    memcpy(key, g_set, kl);
    key[kl] = 0;
    if (lt_feed_opts_set(o, key, eq + 1, err, sizeof err)) {
      fprintf(stderr, "--set %s: %s\n", g_set, err);
      exit(2);
    }
  }
}

/* ---- latency mode ------------------------------------------------------------ */

typedef struct gen {
  uint32_t items, users, events, topics;
  uint32_t *topic_items; /* items of topic t at [t * per, (t + 1) * per) */
  uint32_t per;
  uint32_t *dur;
  float *quality;
  int64_t now;
} gen_t;

static void item_name(char *b, size_t n, uint32_t i) { snprintf(b, n, "v%u", i); }
static void user_name(char *b, size_t n, uint32_t u) { snprintf(b, n, "u%u", u); }

static void generate(lt_state_t *st, gen_t *g, uint64_t seed) {
  uint64_t s = seed;
  char id[32], cr[32], u[32];
  g->topics = 200;
  g->per = g->items / g->topics;
  g->dur = malloc(g->items * sizeof *g->dur);
  g->quality = malloc(g->items * sizeof *g->quality);
  g->now = lt_now_ms() / 1000 * 1000;
  double t0 = (double)lt_mono_ns();
  for (uint32_t i = 0; i < g->items; i++) {
    lt_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_ITEM_PUT;
    item_name(id, sizeof id, i);
    snprintf(cr, sizeof cr, "c%u", (uint32_t)(rng(&s) % (g->items / 10 + 1)));
    uint32_t topic = i % g->topics;
    char tags[4][24];
    snprintf(tags[0], sizeof tags[0], "t%u", topic);
    snprintf(tags[1], sizeof tags[1], "t%u-%u", topic, (uint32_t)(rng(&s) % 8));
    snprintf(tags[2], sizeof tags[2], "pool%u", (uint32_t)(rng(&s) % 50));
    snprintf(tags[3], sizeof tags[3], "pool%u", (uint32_t)(rng(&s) % 50));
    r.u.item.id = lt_str_of(id);
    r.u.item.creator = lt_str_of(cr);
    g->dur[i] = 5000 + (uint32_t)(rng(&s) % 295000);
    g->quality[i] = (float)(0.2 + 0.8 * unit(&s));
    r.u.item.duration_ms = g->dur[i];
    /* published over the last 30 days; the newest ~1% in the last day */
    r.u.item.published_at_ms = g->now - (int64_t)((double)(g->items - i) / g->items * 30 * 86400e3);
    r.u.item.ntags = 4;
    for (int k = 0; k < 4; k++)
      r.u.item.tags[k] = lt_str_of(tags[k]);
    apply(st, &r);
  }
  uint64_t nev = 0;
  for (uint32_t k = 0; k < g->users; k++) {
    user_name(u, sizeof u, k);
    uint32_t fav[3], nfav = 1 + (uint32_t)(rng(&s) % 3);
    for (uint32_t f = 0; f < nfav; f++)
      fav[f] = (uint32_t)(rng(&s) % g->topics);
    uint32_t ne = g->events / 2 + (uint32_t)(rng(&s) % (g->events + 1));
    for (uint32_t e = 0; e < ne; e++) {
      uint32_t topic = unit(&s) < 0.85 ? fav[rng(&s) % nfav] : (uint32_t)(rng(&s) % g->topics);
      /* Zipf-like rank inside the topic: r = per^u - 1 */
      uint32_t rank = (uint32_t)(pow((double)g->per, unit(&s))) - 1;
      if (rank >= g->per) rank = g->per - 1;
      uint32_t i = rank * g->topics + topic;
      if (i >= g->items) continue;
      item_name(id, sizeof id, i);
      int64_t ts = g->now - 7 * 86400000LL + (int64_t)(unit(&s) * 7 * 86400e3);
      double ratio = g->quality[i] * (0.3 + 0.9 * unit(&s));
      lt_record_t r = play_rec(u, id, LT_EV_PLAY, ts, (uint32_t)(ratio * g->dur[i]));
      apply(st, &r);
      nev++;
      if (unit(&s) < 0.05 * g->quality[i]) {
        r = play_rec(u, id, LT_EV_LIKE, ts + 1000, 0);
        apply(st, &r);
        nev++;
      }
      if (unit(&s) < 0.003) {
        r = play_rec(u, id, LT_EV_FOLLOW, ts + 2000, 0);
        apply(st, &r);
        nev++;
      }
    }
  }
  fprintf(stderr, "generated %u items, %u users, %llu events in %.1f s\n", g->items, g->users,
          (unsigned long long)nev, ((double)lt_mono_ns() - t0) / 1e9);
}

typedef struct job {
  lt_feed_t *f;
  const char *const *users;
  uint32_t nusers, from, to;
  int64_t now;
  uint64_t *lat, *cpu; /* wall and thread-CPU ns per request */
  int errors;
} job_t;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run_job(void *p) {
  job_t *j = p;
  lt_feed_result_t r;
  for (uint32_t k = j->from; k < j->to; k++) {
    const char *u = j->users[k % j->nusers];
    uint64_t c = thread_cpu_ns(), t = lt_mono_ns();
    if (lt_feed_get(j->f, u, strlen(u), 20, j->now, &r)) j->errors++;
    j->lat[k] = lt_mono_ns() - t;
    j->cpu[k] = thread_cpu_ns() - c;
  }
  return NULL;
}

static void measure(const char *name, lt_feed_t *f, const char *const *users, uint32_t nusers,
                    uint32_t requests, uint32_t threads, int64_t now) {
  uint64_t *lat = malloc(requests * sizeof *lat), *cpu = malloc(requests * sizeof *cpu);
  for (uint32_t th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
    job_t jobs[64];
    pthread_t tid[64];
    uint64_t t0 = lt_mono_ns();
    for (uint32_t t = 0; t < th; t++) {
      jobs[t] =
          (job_t){f, users, nusers, requests * t / th, requests * (t + 1) / th, now, lat, cpu, 0};
      pthread_create(&tid[t], NULL, run_job, &jobs[t]);
    }
    int errors = 0;
    for (uint32_t t = 0; t < th; t++) {
      pthread_join(tid[t], NULL);
      errors += jobs[t].errors;
    }
    double wall = (double)(lt_mono_ns() - t0) / 1e9;
    qsort(lat, requests, sizeof *lat, cmp_u64);
    qsort(cpu, requests, sizeof *cpu, cmp_u64);
    printf("%-8s threads %u: wall p50 %6.0f p90 %6.0f p99 %6.0f max %7.0f us | "
           "cpu p50 %6.0f p99 %6.0f us | %6.0f req/s%s\n",
           name, th, lat[requests / 2] / 1e3, lat[requests * 9 / 10] / 1e3,
           lat[requests * 99 / 100] / 1e3, lat[requests - 1] / 1e3, cpu[requests / 2] / 1e3,
           cpu[requests * 99 / 100] / 1e3, requests / wall, errors ? "  ERRORS" : "");
    fflush(stdout);
    if (th == threads) break;
  }
  free(lat);
  free(cpu);
}

/* Removes the saved online rankers under a models directory, so every run
 * starts with an untrained ranker (a loaded one would be warm at once). */
static void forget_ranker(const char *dir) {
  char p[4400];
  snprintf(p, sizeof p, "%s/ranker.bin", dir);
  unlink(p);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "models-", 7)) continue;
    snprintf(p, sizeof p, "%s/%s/ranker.bin", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
}

static int latency_mode(uint32_t items, uint32_t users, uint32_t events, uint32_t requests,
                        uint32_t threads, uint32_t k, uint32_t iters, uint32_t candidates,
                        const char *models) {
  lt_state_t *st;
  lt_state_opts_t so;
  lt_state_opts_default(&so);
  so.history_cap = 500;
  if (lt_state_new(&so, &st)) return 1;
  gen_t g = {items, users, events, 0, NULL, 0, NULL, NULL, 0};
  generate(st, &g, 42);
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_k = k;
  o.ials_iters = iters;
  o.candidates = candidates;
  o.threads = 2;
  overrides(&o);
  lt_feed_t *f;
  if (models) forget_ranker(models);
  if (lt_feed_new(st, &o, models, &f)) return 1;
  if (lt_feed_model_version(f)) { /* the generator is deterministic: same ids */
    fprintf(stderr, "loaded model v%llu from %s\n", (unsigned long long)lt_feed_model_version(f),
            models ? models : "-");
  } else {
    int rc = lt_feed_train(f, 0, stderr);
    if (rc) {
      fprintf(stderr, "train: %s\n", lt_strerror(rc));
      return 1;
    }
  }
  uint32_t nsample = 5000;
  char **trained = malloc(nsample * sizeof *trained), **folded = malloc(nsample * sizeof *folded),
       **cold = malloc(nsample * sizeof *cold);
  uint64_t s = 7;
  char id[32];
  for (uint32_t i = 0; i < nsample; i++) {
    trained[i] = malloc(32);
    folded[i] = malloc(32);
    cold[i] = malloc(32);
    user_name(trained[i], 32, (uint32_t)(rng(&s) % (users / 2)));
    user_name(folded[i], 32, users / 2 + (uint32_t)(rng(&s) % (users / 2)));
    snprintf(cold[i], 32, "stranger%u", i);
    for (int p = 0; p < 3; p++) { /* three new plays: the vector must be folded in */
      item_name(id, sizeof id, (uint32_t)(rng(&s) % items));
      lt_record_t r = play_rec(folded[i], id, LT_EV_PLAY, g.now - 1000 + p, 20000);
      apply(st, &r);
    }
  }
  printf("feed_bench: %u items, %u users, k %u, %u candidates, n 20, %u requests per case\n", items,
         users, k, candidates, requests);
  measure("trained", f, (const char *const *)trained, nsample, requests, threads, g.now);
  measure("fold-in", f, (const char *const *)folded, nsample, requests, threads, g.now);
  measure("cold", f, (const char *const *)cold, nsample, requests, threads, g.now);

  /* warm the online ranker: impressions of served feeds, plays of some */
  uint64_t t0 = lt_mono_ns();
  lt_feed_result_t res;
  uint32_t imps = 0;
  for (uint32_t i = 0; imps < 2 * o.rank_warmup + 1000; i++) {
    const char *u = trained[i % nsample];
    if (lt_feed_get(f, u, strlen(u), 20, g.now, &res)) break;
    lt_record_t recs[2 * LT_FEED_MAX];
    char rid[40];
    snprintf(rid, sizeof rid, "%s", res.request_id);
    uint32_t nr = 0;
    for (uint32_t j = 0; j < res.n; j++) {
      const char *item = lt_state_name(st, LT_NS_ITEM, res.items[j].item);
      recs[nr] = play_rec(u, item, LT_EV_IMPRESSION, g.now + i * 10 + j, 0);
      recs[nr].u.ev.request_id = lt_str_of(rid);
      recs[nr].u.ev.position = (int32_t)j;
      apply(st, &recs[nr++]);
      imps++;
      if (unit(&s) < 0.3) {
        uint32_t it = res.items[j].item;
        recs[nr] = play_rec(u, item, LT_EV_PLAY, g.now + i * 10 + j + 1,
                            (uint32_t)(g.quality[it] * unit(&s) * 1.2 * g.dur[it]));
        apply(st, &recs[nr++]);
      }
    }
    lt_feed_observe(f, recs, nr);
  }
  fprintf(stderr, "ranker warm-up: %u impressions observed in %.1f s\n", imps,
          (double)(lt_mono_ns() - t0) / 1e9);
  /* far enough in time that every pending impression has closed */
  lt_record_t late = play_rec("clock", "v0", LT_EV_IMPRESSION, g.now + 86400000LL, 0);
  apply(st, &late);
  lt_feed_observe(f, &late, 1);
  measure("ranked", f, (const char *const *)trained, nsample, requests, threads, g.now);
  lt_feed_metrics(f, stderr);
  for (uint32_t i = 0; i < nsample; i++) {
    free(trained[i]);
    free(folded[i]);
    free(cold[i]);
  }
  free(trained);
  free(folded);
  free(cold);
  free(g.dur);
  free(g.quality);
  lt_feed_free(f);
  lt_state_free(st);
  return 0;
}

/* ---- quality mode (MovieLens-100K) ---------------------------------------------- */

typedef struct row {
  uint32_t u, i, r;
  int64_t t;
} row_t;

static int row_cmp(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  if (x->u != y->u) return x->u < y->u ? -1 : 1;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static int ml100k_mode(const char *path, uint32_t k, uint32_t iters) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    perror(path);
    return 1;
  }
  size_t n = 0, cap = 1 << 17;
  row_t *rows = malloc(cap * sizeof *rows);
  unsigned u, i, r;
  long long t;
  while (fscanf(fp, "%u %u %u %lld", &u, &i, &r, &t) == 4) {
    if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
    rows[n++] = (row_t){u, i, r, t * 1000};
  }
  fclose(fp);
  qsort(rows, n, sizeof *rows, row_cmp);
  uint8_t *test = calloc(n, 1);
  int64_t tmax = 0;
  for (size_t a = 0; a < n;) {
    size_t b = a;
    while (b < n && rows[b].u == rows[a].u)
      b++;
    size_t cnt = b - a;
    if (cnt >= 5) {
      size_t nt = (size_t)ceil(cnt * 0.2 - 1e-9);
      for (size_t x = b - nt; x < b; x++)
        test[x] = 1;
    }
    a = b;
  }
  lt_state_t *st;
  if (lt_state_new(NULL, &st)) return 1;
  char us[32], is[32];
  for (size_t x = 0; x < n; x++) {
    if (test[x]) continue;
    snprintf(us, sizeof us, "u%u", rows[x].u);
    snprintf(is, sizeof is, "i%u", rows[x].i);
    lt_record_t rec = play_rec(us, is, LT_EV_PLAY, rows[x].t, 0);
    rec.u.ev.weight = (float)rows[x].r;
    apply(st, &rec);
    if (rows[x].t > tmax) tmax = rows[x].t;
  }
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_k = k;
  o.ials_iters = iters;
  o.fresh_every = 1000; /* no traffic pool for a closed catalogue */
  overrides(&o);
  lt_feed_t *f;
  if (lt_feed_new(st, &o, NULL, &f) || lt_feed_train(f, 0, stderr)) return 1;
  double rec_sum = 0, ndcg_sum = 0;
  uint32_t users = 0;
  lt_feed_result_t res;
  for (size_t a = 0; a < n;) {
    size_t b = a;
    while (b < n && rows[b].u == rows[a].u)
      b++;
    /* relevant: distinct test items not in the user's train part */
    uint32_t rel[2000], nrel = 0;
    for (size_t x = a; x < b; x++) {
      if (!test[x]) continue;
      int dup = 0;
      for (size_t y = a; y < b && !dup; y++)
        if (!test[y] && rows[y].i == rows[x].i) dup = 1;
      for (uint32_t z = 0; z < nrel && !dup; z++)
        if (rel[z] == rows[x].i) dup = 1;
      if (!dup && nrel < 2000) rel[nrel++] = rows[x].i;
    }
    if (nrel) {
      snprintf(us, sizeof us, "u%u", rows[a].u);
      if (lt_feed_get(f, us, strlen(us), 20, tmax + 1000, &res)) return 1;
      double hits = 0, dcg = 0, idcg = 0;
      uint32_t m = nrel < 20 ? nrel : 20;
      for (uint32_t z = 0; z < m; z++)
        idcg += 1.0 / log2(z + 2.0);
      for (uint32_t z = 0; z < res.n; z++) {
        const char *name = lt_state_name(st, LT_NS_ITEM, res.items[z].item);
        unsigned id = (unsigned)atoi(name + 1);
        for (uint32_t w = 0; w < nrel; w++)
          if (rel[w] == id) {
            hits++;
            dcg += 1.0 / log2(z + 2.0);
            break;
          }
      }
      rec_sum += hits / m;
      ndcg_sum += dcg / idcg;
      users++;
    }
    a = b;
  }
  printf("ml-100k full pipeline (lt_feed_get, ranker untrained, k %u, %u iters, alpha %g, "
         "lambda %g, w_ials %g, w_cowatch %g, w_pop %g, tau %g): Recall@20 %.4f  NDCG@20 %.4f  "
         "over %u users\n",
         k, iters, (double)o.ials_alpha, (double)o.ials_lambda, (double)o.w_ials,
         (double)o.w_cowatch, (double)o.w_pop, (double)o.recency_tau, rec_sum / users,
         ndcg_sum / users, users);
  lt_feed_free(f);
  lt_state_free(st);
  free(rows);
  free(test);
  return 0;
}

int main(int argc, char **argv) {
  if (!getenv("OPENBLAS_CORETYPE")) {
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv);
  }
  uint32_t items = 100000, users = 100000, events = 40, requests = 20000, threads = 2, k = 64,
           iters = 10, candidates = 500;
  const char *ml = NULL, *models = NULL;
  const struct {
    const char *name;
    uint32_t *u; /* one of u, f, s */
    float *f;
    const char **s;
  } opts[] = {
      {"--items", &items, NULL, NULL},     {"--users", &users, NULL, NULL},
      {"--events", &events, NULL, NULL},   {"--requests", &requests, NULL, NULL},
      {"--threads", &threads, NULL, NULL}, {"--k", &k, NULL, NULL},
      {"--iters", &iters, NULL, NULL},     {"--candidates", &candidates, NULL, NULL},
      {"--ml100k", NULL, NULL, &ml},       {"--models", NULL, NULL, &models},
      {"--alpha", NULL, &g_alpha, NULL},   {"--lambda", NULL, &g_lambda, NULL},
      {"--w-ials", NULL, &g_w_ials, NULL}, {"--w-cowatch", NULL, &g_w_cowatch, NULL},
      {"--w-pop", NULL, &g_w_pop, NULL},   {"--tau", NULL, &g_tau, NULL},
      {"--set", NULL, NULL, &g_set},
  };
  for (int a = 1; a < argc; a += 2) {
    size_t o = 0, no = sizeof opts / sizeof *opts;
    while (o < no && strcmp(argv[a], opts[o].name))
      o++;
    if (o == no || a + 1 >= argc) {
      fprintf(stderr, "bad option %s: see the header of bench/feed_bench.c\n", argv[a]);
      return 2;
    }
    const char *v = argv[a + 1];
    if (opts[o].u)
      *opts[o].u = (uint32_t)strtoul(v, NULL, 10);
    else if (opts[o].f)
      *opts[o].f = strtof(v, NULL);
    else
      *opts[o].s = v;
  }
  if (!threads) threads = 1;
  if (threads > 64) threads = 64;
  g_candidates = candidates;
  if (ml) return ml100k_mode(ml, k, iters);
  if (items < 1000 || users < 1000 || !requests) {
    fprintf(stderr, "need at least 1000 items and users, and some requests\n");
    return 2;
  }
  return latency_mode(items, users, events, requests, threads, k, iters, candidates, models);
}
