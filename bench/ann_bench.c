/*
 * ann_bench.c — recall@10 and single-thread queries/s of the HNSW index
 * (src/model/ann.c), on data it generates from a seed.
 *
 * Data sets (--data):
 *   uniform  n vectors uniform in [0,1)^d, queries likewise; L2.
 *   gauss    n vectors N(0, I_d), queries likewise; L2.
 *   items    item-factor-like vectors for inner product: rank-16 latent
 *            structure around 64 cluster centres plus small full-rank
 *            noise, with log-normal norms (popular items are longer, as in
 *            implicit ALS); queries are user vectors drawn the same way from
 *            other mixtures, without the norm spread.
 *
 * It writes, under --dir DIR: base.fvecs and query.fvecs (the .fvecs
 * format: per row an int32 dimension then that many float32), gt.ivecs
 * (exact top-10 ids per query, from lt_ann_exact), index.ann (the saved
 * index), laotie.csv (ef,recall,qps) and laotie_build.txt (seconds), for
 * bench/ann_faiss.py, which runs FAISS on the same files and prints both.
 * --reuse 1 loads index.ann and gt.ivecs of an earlier run instead of
 * building (to time queries only; --nq may then be smaller).
 *
 * Options: --data uniform|gauss|items  --n  --d  --nq  --M  --efc
 *          --threads (build)  --seed  --metric l2|ip|cos  --ef 16,32,...
 *
 * Build:
 *   gcc -std=gnu11 -D_GNU_SOURCE -O2 -g -Isrc bench/ann_bench.c src/model/ann.c \
 *       src/core/hash.c src/core/error.c -lm -lpthread -o /tmp/ann_bench
 * Run:
 *   /tmp/ann_bench --data uniform --n 1000000 --d 64 --dir /tmp/annu
 *   /usr/bin/python3 bench/ann_faiss.py /tmp/annu
 */
#include "core/error.h"
#include "model/ann.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define K 10

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* xoshiro256** seeded through splitmix64. */
static uint64_t rs[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rnext(void) {
  uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
  rs[2] ^= rs[0];
  rs[3] ^= rs[1];
  rs[1] ^= rs[2];
  rs[0] ^= rs[3];
  rs[2] ^= t;
  rs[3] = rotl(rs[3], 45);
  return r;
}
static void rseed(uint64_t s) {
  for (int i = 0; i < 4; i++) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    rs[i] = z ^ (z >> 31);
  }
}
static double runif(void) { return (double)(rnext() >> 11) * (1.0 / 9007199254740992.0); }
static double rgauss(void) {
  double u = runif() + 1e-300, v = runif();
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Item-factor-like data; user != 0 draws queries. */
#define RANK 16
#define NCLUST 64
static void gen_items(float *out, uint32_t n, uint32_t d, int user, const float *A,
                      const float *Z) {
  float z[RANK];
  for (uint32_t i = 0; i < n; i++) {
    /* users mix two centres; items sit near one */
    uint32_t c1 = (uint32_t)(rnext() % NCLUST), c2 = (uint32_t)(rnext() % NCLUST);
    double w = user ? runif() : 1.0;
    for (int r = 0; r < RANK; r++)
      z[r] = (float)(w * Z[c1 * RANK + r] + (1 - w) * Z[c2 * RANK + r] + 0.5 * rgauss());
    double scale = user ? 1.0 : exp(0.35 * rgauss());
    for (uint32_t j = 0; j < d; j++) {
      double s = 0;
      for (int r = 0; r < RANK; r++)
        s += A[j * RANK + r] * z[r];
      out[(size_t)i * d + j] = (float)(scale * (s + 0.15 * rgauss()));
    }
  }
}

static void gen(const char *kind, float *base, uint32_t n, float *qs, uint32_t nq, uint32_t d) {
  if (strcmp(kind, "items") == 0) {
    float *A = malloc(sizeof(float) * d * RANK), *Z = malloc(sizeof(float) * NCLUST * RANK);
    for (uint32_t i = 0; i < d * RANK; i++)
      A[i] = (float)(rgauss() / sqrt(RANK));
    for (uint32_t i = 0; i < NCLUST * RANK; i++)
      Z[i] = (float)rgauss();
    gen_items(base, n, d, 0, A, Z);
    gen_items(qs, nq, d, 1, A, Z);
    free(A);
    free(Z);
    return;
  }
  int g = strcmp(kind, "gauss") == 0;
  for (size_t i = 0; i < (size_t)n * d; i++)
    base[i] = (float)(g ? rgauss() : runif());
  for (size_t i = 0; i < (size_t)nq * d; i++)
    qs[i] = (float)(g ? rgauss() : runif());
}

static int write_vecs(const char *path, const void *data, uint32_t rows, uint32_t d) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  const char *p = data;
  int32_t dd = (int32_t)d;
  for (uint32_t i = 0; i < rows; i++) {
    fwrite(&dd, 4, 1, f);
    fwrite(p + (size_t)i * d * 4, 4, d, f);
  }
  return fclose(f);
}

/* Ground truth with lt_ann_exact on two threads. */
struct gt_job {
  const lt_ann_t *ix;
  const float *qs;
  uint32_t d, from, to;
  uint32_t *gt;
};
static void *gt_run(void *arg) {
  struct gt_job *j = arg;
  for (uint32_t q = j->from; q < j->to; q++) {
    uint32_t got;
    lt_ann_exact(j->ix, j->qs + (size_t)q * j->d, K, NULL, NULL, j->gt + (size_t)q * K, NULL, &got);
  }
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double recall_at(const uint32_t *ids, const uint32_t *gt, uint32_t nq) {
  size_t hit = 0;
  for (uint32_t q = 0; q < nq; q++) {
    uint32_t g[K];
    memcpy(g, gt + (size_t)q * K, sizeof g);
    qsort(g, K, sizeof *g, cmp_u32);
    for (int j = 0; j < K; j++)
      if (bsearch(&ids[(size_t)q * K + j], g, K, sizeof *g, cmp_u32)) hit++;
  }
  return (double)hit / ((double)nq * K);
}

int main(int argc, char **argv) {
  const char *kind = "uniform", *dir = "/tmp/ann_bench",
             *efs = "10,16,24,32,48,64,96,128,192,256,384,512";
  uint32_t n = 100000, d = 64, nq = 10000, M = 16, efc = 200, threads = 2;
  uint64_t seed = 1;
  int metric = -1, reuse = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--data"))
      kind = v;
    else if (!strcmp(a, "--dir"))
      dir = v;
    else if (!strcmp(a, "--ef"))
      efs = v;
    else if (!strcmp(a, "--n"))
      n = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--d"))
      d = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--nq"))
      nq = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--M"))
      M = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--efc"))
      efc = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--threads"))
      threads = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--seed"))
      seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--reuse"))
      reuse = atoi(v);
    else if (!strcmp(a, "--metric"))
      metric = !strcmp(v, "l2") ? LT_ANN_L2 : !strcmp(v, "cos") ? LT_ANN_COS : LT_ANN_IP;
    else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  if (metric < 0) metric = strcmp(kind, "items") == 0 ? LT_ANN_IP : LT_ANN_L2;
  mkdir(dir, 0755);
  char path[1024];

  float *base = malloc(sizeof(float) * n * (size_t)d), *qs = malloc(sizeof(float) * nq * (size_t)d);
  uint32_t *gt = malloc(sizeof(uint32_t) * nq * K), *ids = malloc(sizeof(uint32_t) * nq * K);
  if (!base || !qs || !gt || !ids) return 1;
  rseed(seed);
  double t0 = now_s();
  gen(kind, base, n, qs, nq, d);
  snprintf(path, sizeof path, "%s/base.fvecs", dir);
  write_vecs(path, base, n, d);
  snprintf(path, sizeof path, "%s/query.fvecs", dir);
  write_vecs(path, qs, nq, d);
  snprintf(path, sizeof path, "%s/meta.txt", dir);
  FILE *mf = fopen(path, "w");
  fprintf(mf, "data=%s\nn=%u\nd=%u\nnq=%u\nmetric=%s\nM=%u\nefc=%u\nthreads=%u\nseed=%llu\n", kind,
          n, d, nq,
          metric == LT_ANN_L2    ? "l2"
          : metric == LT_ANN_COS ? "cos"
                                 : "ip",
          M, efc, threads, (unsigned long long)seed);
  fclose(mf);
  printf("data %s n=%u d=%u nq=%u metric=%s M=%u efc=%u build threads=%u (generated in %.1fs)\n",
         kind, n, d, nq,
         metric == LT_ANN_L2    ? "l2"
         : metric == LT_ANN_COS ? "cos"
                                : "ip",
         n ? M : 0, efc, threads, now_s() - t0);

  lt_ann_opts_t o;
  lt_ann_opts_default(&o);
  o.metric = metric;
  o.M = M;
  o.ef_construction = efc;
  o.threads = threads;
  o.seed = seed;
  lt_ann_t *ix = NULL;
  char ipath[1024];
  snprintf(ipath, sizeof ipath, "%s/index.ann", dir);
  double tb = 0;
  int rc;
  if (reuse) {
    /* queries only: the index and ground truth of an earlier run */
    t0 = now_s();
    rc = lt_ann_load(ipath, &ix);
    printf("laotie load+verify %s: %.1f s (%s)\n", ipath, now_s() - t0, lt_strerror(rc));
    snprintf(path, sizeof path, "%s/gt.ivecs", dir);
    FILE *gf = fopen(path, "rb");
    for (uint32_t q = 0; gf && q < nq; q++) {
      int32_t dd;
      if (fread(&dd, 4, 1, gf) != 1 || fread(gt + (size_t)q * K, 4, K, gf) != K) rc = -1;
    }
    if (!gf || rc) return 1;
    fclose(gf);
    goto queries;
  }
  t0 = now_s();
  rc = lt_ann_build(base, n, d, &o, &ix);
  tb = now_s() - t0;
  if (rc) {
    fprintf(stderr, "build: %s\n", lt_strerror(rc));
    return 1;
  }
  printf("laotie build: %.1f s, %.0f MB\n", tb, lt_ann_memory(ix) / 1e6);

  t0 = now_s();
  pthread_t th[2];
  struct gt_job jobs[2] = {{ix, qs, d, 0, nq / 2, gt}, {ix, qs, d, nq / 2, nq, gt}};
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, gt_run, &jobs[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  printf("exact ground truth: %.1f s (2 threads)\n", now_s() - t0);
  snprintf(path, sizeof path, "%s/gt.ivecs", dir);
  write_vecs(path, gt, nq, K);

  t0 = now_s();
  rc = lt_ann_save(ix, ipath);
  double ts = now_s() - t0;
  lt_ann_t *ix2 = NULL;
  t0 = now_s();
  if (!rc) rc = lt_ann_load(ipath, &ix2);
  printf("save %.2f s, load+verify %.2f s (%s)\n", ts, now_s() - t0, rc ? lt_strerror(rc) : "ok");
  lt_ann_free(ix2);

queries:

  snprintf(path, sizeof path, "%s/laotie.csv", dir);
  FILE *csv = fopen(path, "w");
  fprintf(csv, "ef,recall,qps\n");
  printf("%6s %8s %10s %9s\n", "ef", "recall", "qps", "us/query");
  /* warm-up: touch the index and this thread's scratch */
  for (uint32_t q = 0; q < nq && q < 1000; q++) {
    uint32_t got;
    lt_ann_search(ix, qs + (size_t)q * d, K, 64, NULL, NULL, ids + (size_t)q * K, NULL, &got);
  }
  char *list = strdup(efs), *save = NULL;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    uint32_t ef = (uint32_t)strtoul(tok, NULL, 10);
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
      t0 = now_s();
      for (uint32_t q = 0; q < nq; q++) {
        uint32_t got = 0;
        lt_ann_search(ix, qs + (size_t)q * d, K, ef, NULL, NULL, ids + (size_t)q * K, NULL, &got);
        for (uint32_t j = got; j < K; j++)
          ids[(size_t)q * K + j] = UINT32_MAX;
      }
      double t = now_s() - t0;
      if (t < best) best = t;
    }
    double r = recall_at(ids, gt, nq), qps = nq / best;
    printf("%6u %8.4f %10.0f %9.1f\n", ef, r, qps, 1e6 / qps);
    fprintf(csv, "%u,%.5f,%.1f\n", ef, r, qps);
  }
  fclose(csv);
  if (!reuse) {
    snprintf(path, sizeof path, "%s/laotie_build.txt", dir);
    csv = fopen(path, "w");
    fprintf(csv, "%.2f\n", tb);
    fclose(csv);
  }
  free(list);
  lt_ann_free(ix);
  free(base);
  free(qs);
  free(gt);
  free(ids);
  return 0;
}
