/*
 * ials_bench.c — seconds per iALS iteration on a generated data set.
 *
 * Generates NNZ interactions between USERS users and ITEMS items: users
 * uniform, item popularity power-law (P(item rank r) ~ 1 / r^0.9, a
 * Zipf-like head and long tail, like a short-video catalog), weights 1;
 * duplicates are merged (DUP_MAX), so nnz ends a little below the target.
 * Then trains iALS and prints each iteration's time and the median, plus
 * the request-time fold-in latency.
 *
 *   ials_bench [USERS ITEMS NNZ [K [ITERS [THREADS]]]]
 *   defaults:  1000000 100000 10000000 64 3 0(=all CPUs)
 *   ials_bench --udata PATH [K [ITERS [THREADS]]]
 *              trains on a MovieLens u.data file (all ratings as
 *              positives, weight 1); defaults 64 15 0
 *
 * OpenBLAS 0.3.21 does not recognise this machine's CPU and picks a slow
 * kernel for the Gramian; the bench re-executes itself once with
 * OPENBLAS_CORETYPE=Haswell unless that variable is already set (it is read
 * when the library loads, so it cannot be set later in-process).
 *
 * Build (from the project root):
 *   gcc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *     bench/ials_bench.c src/model/{csr,linalg,ials}.c src/core/error.c \
 *     -lopenblas -lxxhash -lm -lpthread -o ials_bench
 */
#include "model/ials.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static double cpu_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct times {
  double t[256], cpu[256];
  double cpu_mark;
  uint32_t n;
} times_t;

/* Wall time per iteration, and the CPU time of all threads: on a shared
 * machine the wall figure includes waiting for the CPU, the CPU figure
 * does not. */
static void on_iter(void *ctx, uint32_t iter, double sec) {
  times_t *t = ctx;
  double c = cpu_sec();
  if (t->n < 256) t->t[t->n] = sec, t->cpu[t->n] = c - t->cpu_mark, t->n++;
  printf("  iteration %u: %.2f s wall, %.2f s CPU\n", iter + 1, sec, c - t->cpu_mark);
  t->cpu_mark = c;
  fflush(stdout);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Full training on a MovieLens u.data file: "user item rating ts" lines. */
static int udata_main(int argc, char **argv) {
  FILE *f = fopen(argv[2], "r");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  size_t cap = 1 << 16, n = 0;
  uint32_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it), nu = 0, ni = 0;
  unsigned a, b, r;
  long long t;
  while (u && it && fscanf(f, "%u %u %u %lld", &a, &b, &r, &t) == 4) {
    if (a == 0 || b == 0) continue;
    if (n == cap) {
      cap *= 2;
      u = realloc(u, cap * sizeof *u);
      it = realloc(it, cap * sizeof *it);
      if (!u || !it) return 1;
    }
    u[n] = a - 1, it[n] = b - 1, n++;
    if (a > nu) nu = a;
    if (b > ni) ni = b;
  }
  fclose(f);
  lt_csr_t *ui = NULL;
  if (!u || !it || lt_csr_build(nu, ni, u, it, NULL, n, LT_CSR_DUP_MAX, &ui)) return 1;
  lt_ials_opts_t o;
  lt_ials_opts_default(&o);
  o.k = argc > 3 ? (uint32_t)atol(argv[3]) : 64;
  o.iters = argc > 4 ? (uint32_t)atol(argv[4]) : 15;
  o.threads = argc > 5 ? (uint32_t)atol(argv[5]) : 0;
  lt_ials_t *m = NULL;
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_sec(), c0 = cpu_sec();
    if (lt_ials_train(ui, &o, &m)) return 1;
    double w = now_sec() - t0, c = cpu_sec() - c0;
    printf("%s: %u users x %u items, %llu ratings; iALS k=%u iters=%u: %.3f s wall, %.3f s CPU\n",
           argv[2], nu, ni, (unsigned long long)ui->nnz, o.k, o.iters, w, c);
    if (w < best) best = w;
    lt_ials_free(m);
  }
  printf("best of 5: %.3f s\n", best);
  lt_csr_free(ui);
  free(u);
  free(it);
  return 0;
}

int main(int argc, char **argv) {
  if (!getenv("OPENBLAS_CORETYPE")) {
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv);
    /* fall through on failure: run with whatever kernel OpenBLAS chose */
  }
  if (argc > 2 && !strcmp(argv[1], "--udata")) return udata_main(argc, argv);
  uint32_t nusers = argc > 1 ? (uint32_t)atol(argv[1]) : 1000000;
  uint32_t nitems = argc > 2 ? (uint32_t)atol(argv[2]) : 100000;
  size_t nnz = argc > 3 ? (size_t)atoll(argv[3]) : 10000000;
  uint32_t k = argc > 4 ? (uint32_t)atol(argv[4]) : 64;
  uint32_t iters = argc > 5 ? (uint32_t)atol(argv[5]) : 3;
  uint32_t threads = argc > 6 ? (uint32_t)atol(argv[6]) : 0;
  if (!nusers || !nitems || !nnz || !k || !iters) {
    fprintf(stderr, "usage: %s [USERS ITEMS NNZ [K [ITERS [THREADS]]]]\n", argv[0]);
    return 2;
  }

  /* power-law item sampling by inverting the cumulative distribution */
  double t0 = now_sec();
  double *cdf = malloc(nitems * sizeof *cdf);
  uint32_t *u = malloc(nnz * sizeof *u), *it = malloc(nnz * sizeof *it);
  if (!cdf || !u || !it) return 1;
  double acc = 0;
  for (uint32_t i = 0; i < nitems; i++)
    cdf[i] = (acc += 1.0 / pow(i + 1.0, 0.9));
  uint64_t s = 42;
  for (size_t e = 0; e < nnz; e++) {
    u[e] = (uint32_t)(rng_next(&s) % nusers);
    double x = rng_unit(&s) * acc;
    uint32_t lo = 0, hi = nitems - 1;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (cdf[mid] < x)
        lo = mid + 1;
      else
        hi = mid;
    }
    it[e] = lo;
  }
  lt_csr_t *ui = NULL;
  if (lt_csr_build(nusers, nitems, u, it, NULL, nnz, LT_CSR_DUP_MAX, &ui)) return 1;
  free(u);
  free(it);
  free(cdf);
  printf("generated %u users x %u items, %llu interactions (after merging duplicates) in %.1f s\n",
         nusers, nitems, (unsigned long long)ui->nnz, now_sec() - t0);

  lt_ials_opts_t o;
  lt_ials_opts_default(&o);
  o.k = k;
  o.iters = iters;
  o.threads = threads;
  times_t tm;
  memset(&tm, 0, sizeof tm);
  o.on_iter = on_iter;
  o.ctx = &tm;
  lt_ials_t *m = NULL;
  printf("training iALS k=%u cg_steps=%u threads=%u (OPENBLAS_CORETYPE=%s)\n", k, o.cg_steps,
         threads, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "-");
  t0 = now_sec();
  tm.cpu_mark = cpu_sec(); /* the first iteration's CPU also counts the setup */
  if (lt_ials_train(ui, &o, &m)) return 1;
  double total = now_sec() - t0;
  qsort(tm.t, tm.n, sizeof tm.t[0], cmp_double);
  qsort(tm.cpu, tm.n, sizeof tm.cpu[0], cmp_double);
  printf("iALS: median %.2f s/iteration wall (%.2f s CPU), total %.2f s for %u iterations\n",
         tm.t[tm.n / 2], tm.cpu[tm.n / 2], total, iters);

  /* request-time fold-in latency for histories of random items */
  float *x = malloc(k * sizeof *x);
  uint32_t hist[200];
  for (uint32_t j = 0; j < 200; j++)
    hist[j] = (uint32_t)(rng_next(&s) % nitems);
  for (uint32_t n = 10; n <= 200; n *= 2) {
    int reps = 2000;
    t0 = now_sec();
    for (int r = 0; r < reps; r++)
      lt_ials_fold_in(m, hist, NULL, n, x);
    printf("fold-in, history of %3u items: %.1f us\n", n, (now_sec() - t0) / reps * 1e6);
  }
  free(x);
  lt_ials_free(m);
  lt_csr_free(ui);
  return 0;
}
