/*
 * ann_file.c — recall@10 and single-thread queries/s of laotie's HNSW
 * (src/model/ann.c) on the item vectors of a trained model: the real
 * serving workload (maximum inner product of user vectors against item
 * vectors), where bench/ann_bench.c uses generated vectors.
 *
 * From a model's ials.bin (lt_ials_save format) it writes, under DIR, the
 * files bench/ann_faiss.py reads: base.fvecs (the item factors V), and
 * query.fvecs (NQ user factors, rows of U drawn with a fixed seed), meta.txt
 * (metric ip, M, efc, build threads); builds the index with the options
 * the model builder uses (lt_ann_opts_default: M 16, efConstruction 200),
 * computes the exact top-10 with lt_ann_exact (gt.ivecs), and sweeps
 * efSearch single-threaded (best of 2 passes per ef), writing laotie.csv
 * (ef,recall,qps) and laotie_build.txt (seconds) — the same outputs as
 * bench/ann_bench.c, so ann_faiss.py compares the two at matched recall.
 *
 *   ann_file MODEL/ials.bin DIR [NQ [EFS [THREADS]]]
 *   defaults: NQ 10000, EFS 10,16,24,32,48,64,96,128,192,256,384,512, 2 build threads
 */
#include "core/error.h"
#include "model/ann.h"
#include "model/ials.h"

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
  if (argc < 3) {
    fprintf(stderr, "usage: ann_file MODEL/ials.bin DIR [NQ [EFS [THREADS]]]\n");
    return 2;
  }
  const char *dir = argv[2];
  uint32_t nq = argc > 3 ? (uint32_t)atol(argv[3]) : 10000;
  const char *efs = argc > 4 ? argv[4] : "10,16,24,32,48,64,96,128,192,256,384,512";
  uint32_t threads = argc > 5 ? (uint32_t)atol(argv[5]) : 2;
  lt_ials_t *m = NULL;
  int rc = lt_ials_load(argv[1], &m);
  if (rc) {
    fprintf(stderr, "ann_file: %s: %s\n", argv[1], lt_strerror(rc));
    return 1;
  }
  uint32_t n = m->nitems, d = m->k;
  if (nq > m->nusers) nq = m->nusers;
  mkdir(dir, 0755);
  char path[1024];
  float *qs = malloc(sizeof(float) * nq * (size_t)d);
  uint32_t *gt = malloc(sizeof(uint32_t) * nq * K), *ids = malloc(sizeof(uint32_t) * nq * K);
  if (!qs || !gt || !ids) return 1;
  /* queries: users spread over the whole id range (a multiplicative
   * stride, so no two queries are the same user) */
  uint64_t stride = 2654435761u % m->nusers;
  while (stride == 0 || m->nusers % stride == 0) stride++;
  for (uint32_t q = 0; q < nq; q++) {
    uint32_t u = (uint32_t)((q * stride) % m->nusers);
    memcpy(qs + (size_t)q * d, m->U + (size_t)u * d, d * sizeof(float));
  }
  snprintf(path, sizeof path, "%s/base.fvecs", dir);
  if (write_vecs(path, m->V, n, d)) return 1;
  snprintf(path, sizeof path, "%s/query.fvecs", dir);
  if (write_vecs(path, qs, nq, d)) return 1;

  lt_ann_opts_t o;
  lt_ann_opts_default(&o);
  o.metric = LT_ANN_IP;
  o.threads = threads;
  o.M = o.M ? o.M : 16;
  o.ef_construction = o.ef_construction ? o.ef_construction : 200;
  snprintf(path, sizeof path, "%s/meta.txt", dir);
  FILE *mf = fopen(path, "w");
  if (!mf) return 1;
  fprintf(mf, "data=trained-items\nn=%u\nd=%u\nnq=%u\nmetric=ip\nM=%u\nefc=%u\nthreads=%u\n", n, d,
          nq, o.M, o.ef_construction, threads);
  fclose(mf);
  printf("trained item vectors: n=%u d=%u, %u user queries, M=%u efc=%u, %u build threads\n", n, d,
         nq, o.M, o.ef_construction, threads);

  lt_ann_t *ix = NULL;
  double t0 = now_s();
  rc = lt_ann_build(m->V, n, d, &o, &ix);
  double tb = now_s() - t0;
  if (rc) {
    fprintf(stderr, "ann_file: build: %s\n", lt_strerror(rc));
    return 1;
  }
  printf("laotie build: %.1f s, %.0f MB\n", tb, lt_ann_memory(ix) / 1e6);
  for (uint32_t q = 0; q < nq; q++) {
    uint32_t got = 0;
    lt_ann_exact(ix, qs + (size_t)q * d, K, NULL, NULL, gt + (size_t)q * K, NULL, &got);
  }
  snprintf(path, sizeof path, "%s/gt.ivecs", dir);
  write_vecs(path, gt, nq, K);

  snprintf(path, sizeof path, "%s/laotie.csv", dir);
  FILE *csv = fopen(path, "w");
  if (!csv) return 1;
  fprintf(csv, "ef,recall,qps\n");
  for (uint32_t q = 0; q < nq && q < 1000; q++) { /* warm-up */
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
        for (uint32_t j = got; j < K; j++) ids[(size_t)q * K + j] = UINT32_MAX;
      }
      double t = now_s() - t0;
      if (t < best) best = t;
    }
    double r = recall_at(ids, gt, nq), qps = nq / best;
    printf("%6u %8.4f %10.0f\n", ef, r, qps);
    fprintf(csv, "%u,%.5f,%.1f\n", ef, r, qps);
  }
  fclose(csv);
  snprintf(path, sizeof path, "%s/laotie_build.txt", dir);
  csv = fopen(path, "w");
  if (!csv) return 1;
  fprintf(csv, "%.2f\n", tb);
  fclose(csv);
  free(list);
  lt_ann_free(ix);
  lt_ials_free(m);
  free(qs);
  free(gt);
  free(ids);
  return 0;
}
