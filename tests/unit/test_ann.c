/*
 * test_ann.c — the HNSW index (src/model/ann.c): recall against exact
 * search, filters, edge sizes, concurrent readers, save/load and hostile
 * files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "core/hash.h"
#include "model/ann.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 10

static uint64_t rng_state;
static uint64_t rnd(void) { return lt_mix64(rng_state += 0x9e3779b97f4a7c15ULL); }
static float runif(void) { return (float)((rnd() >> 40) * (1.0 / 16777216.0)); }
static float rgauss(void) {
  double u = runif() + 1e-9, v = runif();
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static float *random_vecs(uint32_t n, uint32_t d, int gauss, uint64_t seed) {
  rng_state = seed;
  float *v = malloc(sizeof(float) * ((size_t)n * d + 1));
  assert_non_null(v);
  for (size_t i = 0; i < (size_t)n * d; i++)
    v[i] = gauss ? rgauss() : runif();
  return v;
}

static lt_ann_t *build(const float *v, uint32_t n, uint32_t d, int metric, uint32_t threads) {
  lt_ann_opts_t o;
  lt_ann_opts_default(&o);
  o.metric = metric;
  o.ef_construction = 100;
  o.threads = threads;
  o.seed = 42;
  lt_ann_t *ix = NULL;
  assert_int_equal(lt_ann_build(v, n, d, &o, &ix), 0);
  assert_non_null(ix);
  assert_int_equal(lt_ann_check(ix), 0);
  return ix;
}

/* recall@K of lt_ann_search against lt_ann_exact over nq queries. */
static double recall(const lt_ann_t *ix, const float *qs, uint32_t nq, uint32_t ef,
                     lt_ann_filter_fn f, void *ctx) {
  size_t hit = 0, want = 0;
  for (uint32_t q = 0; q < nq; q++) {
    uint32_t a[K], e[K], na, ne;
    const float *qv = qs + (size_t)q * lt_ann_dim(ix);
    assert_int_equal(lt_ann_search(ix, qv, K, ef, f, ctx, a, NULL, &na), 0);
    assert_int_equal(lt_ann_exact(ix, qv, K, f, ctx, e, NULL, &ne), 0);
    want += ne;
    for (uint32_t i = 0; i < ne; i++)
      for (uint32_t j = 0; j < na; j++)
        if (e[i] == a[j]) {
          hit++;
          break;
        }
  }
  return want ? (double)hit / (double)want : 1.0;
}

static void test_recall_l2_at_least_095(void **state) {
  (void)state;
  const uint32_t n = 4000, d = 24, nq = 200;
  float *v = random_vecs(n, d, 0, 1), *q = random_vecs(nq, d, 0, 2);
  lt_ann_t *ix = build(v, n, d, LT_ANN_L2, 2);
  double r = recall(ix, q, nq, 64, NULL, NULL);
  assert_true(r >= 0.95);
  lt_ann_free(ix);
  free(v);
  free(q);
}

static void test_recall_ip_at_least_095(void **state) {
  (void)state;
  const uint32_t n = 4000, d = 32, nq = 200;
  float *v = random_vecs(n, d, 1, 3), *q = random_vecs(nq, d, 1, 4);
  /* item norms vary, as trained item factors do */
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < d; j++)
      v[(size_t)i * d + j] *= 0.5f + (float)(i % 7) * 0.25f;
  lt_ann_t *ix = build(v, n, d, LT_ANN_IP, 1);
  assert_true(recall(ix, q, nq, 64, NULL, NULL) >= 0.95);
  /* scores come back as dot products, best first */
  uint32_t ids[K], got;
  float sc[K];
  assert_int_equal(lt_ann_search(ix, q, K, 64, NULL, NULL, ids, sc, &got), 0);
  assert_int_equal(got, K);
  for (uint32_t i = 0; i < got; i++) {
    double dot = 0;
    for (uint32_t j = 0; j < d; j++)
      dot += (double)q[j] * v[(size_t)ids[i] * d + j];
    assert_true(fabs(dot - sc[i]) < 1e-3 * (1 + fabs(dot)));
    if (i) assert_true(sc[i - 1] >= sc[i]);
  }
  lt_ann_free(ix);
  free(v);
  free(q);
}

static void test_cosine_finds_itself_with_score_one(void **state) {
  (void)state;
  const uint32_t n = 1000, d = 16;
  float *v = random_vecs(n, d, 1, 5);
  lt_ann_t *ix = build(v, n, d, LT_ANN_COS, 2);
  for (uint32_t i = 0; i < 50; i++) {
    float q[16];
    for (uint32_t j = 0; j < d; j++)
      q[j] = 3.0f * v[(size_t)i * d + j]; /* scale-free */
    uint32_t ids[K], got;
    float sc[K];
    assert_int_equal(lt_ann_search(ix, q, K, 32, NULL, NULL, ids, sc, &got), 0);
    assert_int_equal(ids[0], i);
    assert_true(fabsf(sc[0] - 1.0f) < 1e-4f);
    assert_true(sc[got - 1] >= -1.0001f);
  }
  lt_ann_free(ix);
  free(v);
}

/* Every item of a multi-threaded build is reachable: searched for with
 * ef = n (the whole connected part of the graph), each one finds itself.
 * An insertion that overwrote the links other threads had already made to
 * the new item left about one item in 1,700 unreachable (found by CI: the
 * test above failed once under ASan); over these 10 builds that failed
 * with near certainty. */
static void test_threaded_build_leaves_no_item_unreachable(void **state) {
  (void)state;
  const uint32_t n = 1000, d = 16;
  float *v = random_vecs(n, d, 1, 5);
  uint32_t lost = 0;
  for (int r = 0; r < 10; r++) {
    lt_ann_t *ix = build(v, n, d, r % 2 ? LT_ANN_COS : LT_ANN_L2, 2);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t ids[K], got;
      float sc[K];
      assert_int_equal(lt_ann_search(ix, &v[(size_t)i * d], K, n, NULL, NULL, ids, sc, &got), 0);
      lost += ids[0] != i;
    }
    lt_ann_free(ix);
  }
  assert_int_equal(lost, 0);
  free(v);
}

static int keep_odd(uint32_t item, void *ctx) {
  (*(size_t *)ctx)++;
  return item & 1;
}

static void test_filter_excludes_items(void **state) {
  (void)state;
  const uint32_t n = 3000, d = 16, nq = 100;
  float *v = random_vecs(n, d, 0, 6), *q = random_vecs(nq, d, 0, 7);
  lt_ann_t *ix = build(v, n, d, LT_ANN_L2, 2);
  size_t calls = 0;
  for (uint32_t i = 0; i < nq; i++) {
    uint32_t ids[K], got;
    assert_int_equal(lt_ann_search(ix, q + i * d, K, 64, keep_odd, &calls, ids, NULL, &got), 0);
    assert_int_equal(got, K);
    for (uint32_t j = 0; j < got; j++)
      assert_true(ids[j] & 1);
  }
  assert_true(calls > 0);
  /* and the filtered search still finds the filtered exact answer */
  assert_true(recall(ix, q, nq, 64, keep_odd, &calls) >= 0.95);
  lt_ann_free(ix);
  free(v);
  free(q);
}

static int keep_none(uint32_t item, void *ctx) { return 0; }

static void test_filter_rejecting_everything_returns_nothing(void **state) {
  (void)state;
  float *v = random_vecs(500, 8, 0, 8);
  lt_ann_t *ix = build(v, 500, 8, LT_ANN_L2, 1);
  uint32_t ids[K], got = 99;
  assert_int_equal(lt_ann_search(ix, v, K, 16, keep_none, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, 0);
  assert_int_equal(lt_ann_exact(ix, v, K, keep_none, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, 0);
  lt_ann_free(ix);
  free(v);
}

static void test_k_larger_than_n_returns_all(void **state) {
  (void)state;
  const uint32_t n = 37, d = 8;
  float *v = random_vecs(n, d, 0, 9);
  lt_ann_t *ix = build(v, n, d, LT_ANN_L2, 2);
  uint32_t ids[100], ex[100], got, gote;
  float sc[100];
  assert_int_equal(lt_ann_search(ix, v, 100, 0, NULL, NULL, ids, sc, &got), 0);
  assert_int_equal(lt_ann_exact(ix, v, 100, NULL, NULL, ex, NULL, &gote), 0);
  assert_int_equal(got, n);
  assert_int_equal(gote, n);
  assert_memory_equal(ids, ex, n * sizeof *ids);
  assert_int_equal(ids[0], 0);
  assert_true(sc[0] == 0.0f);
  lt_ann_free(ix);
  free(v);
}

static void test_empty_index(void **state) {
  (void)state;
  lt_ann_t *ix = NULL;
  assert_int_equal(lt_ann_build(NULL, 0, 8, NULL, &ix), 0);
  assert_int_equal(lt_ann_check(ix), 0);
  float q[8] = {0};
  uint32_t ids[K], got = 7;
  assert_int_equal(lt_ann_search(ix, q, K, 0, NULL, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, 0);
  assert_int_equal(lt_ann_exact(ix, q, K, NULL, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, 0);

  char *dir = lt_test_tmpdir("ann");
  char path[512];
  snprintf(path, sizeof path, "%s/empty.ann", dir);
  assert_int_equal(lt_ann_save(ix, path), 0);
  lt_ann_t *ix2 = NULL;
  assert_int_equal(lt_ann_load(path, &ix2), 0);
  assert_int_equal(lt_ann_size(ix2), 0);
  assert_int_equal(lt_ann_search(ix2, q, K, 0, NULL, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, 0);
  lt_ann_free(ix2);
  lt_ann_free(ix);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_single_item(void **state) {
  (void)state;
  float v[5] = {1, 2, 3, 4, 5}, q[5] = {1, 0, 0, 0, 0};
  lt_ann_t *ix = build(v, 1, 5, LT_ANN_IP, 4);
  uint32_t ids[K], got;
  float sc[K];
  assert_int_equal(lt_ann_search(ix, q, K, 0, NULL, NULL, ids, sc, &got), 0);
  assert_int_equal(got, 1);
  assert_int_equal(ids[0], 0);
  assert_true(sc[0] == 1.0f);
  lt_ann_free(ix);
}

static void test_duplicate_vectors_do_not_break_the_graph(void **state) {
  (void)state;
  const uint32_t n = 600, d = 8;
  float *v = random_vecs(n, d, 0, 10);
  for (uint32_t i = 0; i < n; i++)
    if (i % 3) memcpy(v + (size_t)i * d, v, d * sizeof(float)); /* 2/3 identical */
  lt_ann_t *ix = build(v, n, d, LT_ANN_L2, 2);
  uint32_t ids[K], got;
  assert_int_equal(lt_ann_search(ix, v + 3 * d, K, 32, NULL, NULL, ids, NULL, &got), 0);
  assert_int_equal(got, K);
  assert_int_equal(ids[0], 3);
  /* a query equal to the copies gets copies, at distance 0 */
  float sc[K];
  assert_int_equal(lt_ann_search(ix, v, K, 32, NULL, NULL, ids, sc, &got), 0);
  assert_int_equal(got, K);
  assert_true(sc[0] == 0.0f && sc[1] == 0.0f);
  /* and every unique item is reachable: found from its own vector (item 0
   * is not unique: it is the copies' original). The copies are a plateau
   * of equal distances two thirds the size of the graph, which a narrow
   * beam may not cross; ef 128 of 600 items is still far from a scan. */
  for (uint32_t i = 3; i < n; i += 3) {
    assert_int_equal(lt_ann_search(ix, v + (size_t)i * d, K, 128, NULL, NULL, ids, NULL, &got), 0);
    assert_int_equal(ids[0], i);
  }
  lt_ann_free(ix);
  free(v);
}

static void test_rejects_bad_arguments(void **state) {
  (void)state;
  float v[16] = {0};
  lt_ann_t *ix = NULL;
  lt_ann_opts_t o;
  lt_ann_opts_default(&o);
  assert_int_equal(lt_ann_build(v, 2, 0, &o, &ix), LT_EINVAL);
  assert_int_equal(lt_ann_build(v, 2, LT_ANN_MAX_DIM + 1, &o, &ix), LT_EINVAL);
  assert_int_equal(lt_ann_build(NULL, 2, 8, &o, &ix), LT_EINVAL);
  o.M = 1;
  assert_int_equal(lt_ann_build(v, 2, 8, &o, &ix), LT_EINVAL);
  lt_ann_opts_default(&o);
  o.metric = 7;
  assert_int_equal(lt_ann_build(v, 2, 8, &o, &ix), LT_EINVAL);
  lt_ann_opts_default(&o);
  v[3] = NAN;
  assert_int_equal(lt_ann_build(v, 2, 8, &o, &ix), LT_EINVAL);
  v[3] = 0;
  assert_null(ix);
  assert_int_equal(lt_ann_build(v, 2, 8, &o, &ix), 0);
  float q[8] = {0, INFINITY};
  uint32_t ids[2], got;
  assert_int_equal(lt_ann_search(ix, q, 2, 0, NULL, NULL, ids, NULL, &got), LT_EINVAL);
  assert_int_equal(lt_ann_search(ix, v, 2, 0, NULL, NULL, NULL, NULL, &got), LT_EINVAL);
  assert_int_equal(lt_ann_search(ix, v, 0, 0, NULL, NULL, NULL, NULL, &got), 0);
  assert_int_equal(got, 0);
  lt_ann_free(ix);
  lt_ann_free(NULL);
}

/* Concurrent readers. */
struct reader {
  const lt_ann_t *ix;
  const float *qs;
  uint32_t nq, d;
  uint32_t *ids;
  float *sc;
  int rc;
};

static void *reader_run(void *arg) {
  struct reader *r = arg;
  for (int rep = 0; rep < 3; rep++)
    for (uint32_t q = 0; q < r->nq; q++) {
      uint32_t got;
      int rc = lt_ann_search(r->ix, r->qs + (size_t)q * r->d, K, 48, NULL, NULL,
                             r->ids + (size_t)q * K, r->sc + (size_t)q * K, &got);
      if (rc || got != K) r->rc = rc ? rc : -1;
    }
  return NULL;
}

static void test_concurrent_searches_match_serial(void **state) {
  (void)state;
  const uint32_t n = 3000, d = 16, nq = 300, T = 4;
  float *v = random_vecs(n, d, 1, 11), *q = random_vecs(nq, d, 1, 12);
  lt_ann_t *ix = build(v, n, d, LT_ANN_IP, 2);
  uint32_t *serial = malloc(sizeof(uint32_t) * nq * K);
  float *ssc = malloc(sizeof(float) * nq * K);
  for (uint32_t i = 0; i < nq; i++) {
    uint32_t got;
    assert_int_equal(
        lt_ann_search(ix, q + i * d, K, 48, NULL, NULL, serial + i * K, ssc + i * K, &got), 0);
  }
  pthread_t th[4];
  struct reader r[4];
  for (uint32_t t = 0; t < T; t++) {
    r[t] = (struct reader){
        ix, q, nq, d, malloc(sizeof(uint32_t) * nq * K), malloc(sizeof(float) * nq * K), 0};
    assert_int_equal(pthread_create(&th[t], NULL, reader_run, &r[t]), 0);
  }
  for (uint32_t t = 0; t < T; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(r[t].rc, 0);
    assert_memory_equal(r[t].ids, serial, sizeof(uint32_t) * nq * K);
    assert_memory_equal(r[t].sc, ssc, sizeof(float) * nq * K);
    free(r[t].ids);
    free(r[t].sc);
  }
  free(serial);
  free(ssc);
  lt_ann_free(ix);
  free(v);
  free(q);
}

static void test_single_thread_build_is_deterministic(void **state) {
  (void)state;
  const uint32_t n = 1500, d = 12;
  float *v = random_vecs(n, d, 0, 13);
  lt_ann_t *a = build(v, n, d, LT_ANN_L2, 1), *b = build(v, n, d, LT_ANN_L2, 1);
  char *dir = lt_test_tmpdir("ann");
  char pa[512], pb[512];
  snprintf(pa, sizeof pa, "%s/a.ann", dir);
  snprintf(pb, sizeof pb, "%s/b.ann", dir);
  assert_int_equal(lt_ann_save(a, pa), 0);
  assert_int_equal(lt_ann_save(b, pb), 0);
  FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
  int ca, cb;
  do {
    ca = fgetc(fa);
    cb = fgetc(fb);
    assert_int_equal(ca, cb);
  } while (ca != EOF);
  fclose(fa);
  fclose(fb);
  lt_ann_free(a);
  lt_ann_free(b);
  lt_test_rmdir(dir);
  free(dir);
  free(v);
}

static void test_scalar_and_simd_kernels_agree(void **state) {
  (void)state;
  const uint32_t n = 500, d = 40, nq = 20; /* d not a multiple of 16: padding */
  float *v = random_vecs(n, d, 1, 14), *q = random_vecs(nq, d, 1, 15);
  for (int metric = 0; metric <= 2; metric++) {
    lt_ann_t *simd = build(v, n, d, metric, 1);
    setenv("LT_ANN_KERNEL", "scalar", 1);
    lt_ann_t *scal = build(v, n, d, metric, 1);
    setenv("LT_ANN_KERNEL", "avx2", 1);
    lt_ann_t *avx2 = build(v, n, d, metric, 1);
    unsetenv("LT_ANN_KERNEL");
    for (uint32_t i = 0; i < nq; i++) {
      uint32_t a[K], b[K], c[K], na, nb, nc;
      float sa[K], sb[K], sc[K];
      assert_int_equal(lt_ann_exact(simd, q + i * d, K, NULL, NULL, a, sa, &na), 0);
      assert_int_equal(lt_ann_exact(scal, q + i * d, K, NULL, NULL, b, sb, &nb), 0);
      assert_int_equal(lt_ann_exact(avx2, q + i * d, K, NULL, NULL, c, sc, &nc), 0);
      assert_int_equal(na, K);
      assert_int_equal(nb, K);
      assert_int_equal(nc, K);
      for (uint32_t j = 0; j < K; j++) {
        assert_true(fabsf(sa[j] - sb[j]) <= 1e-4f * (1 + fabsf(sb[j])));
        assert_true(fabsf(sc[j] - sb[j]) <= 1e-4f * (1 + fabsf(sb[j])));
      }
    }
    lt_ann_free(simd);
    lt_ann_free(scal);
    lt_ann_free(avx2);
  }
  free(v);
  free(q);
}

/* Save/load and hostile files. */

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*len);
  assert_int_equal(fread(p, 1, *len, f), *len);
  fclose(f);
  return p;
}

static int load_bytes(const char *path, const unsigned char *p, size_t len) {
  assert_int_equal(lt_test_write_file(path, p, len), 0);
  lt_ann_t *ix = NULL;
  int rc = lt_ann_load(path, &ix);
  if (rc == 0) assert_int_equal(lt_ann_check(ix), 0);
  lt_ann_free(ix);
  return rc;
}

static uint32_t rd32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Recomputes the trailer the way ann.c does (chained XXH3 over the header
 * and each section), so a test can forge a file whose checksum is valid. */
static void reseal(unsigned char *p, size_t len) {
  uint64_t n = rd32(p + 16), dpad = rd32(p + 24), M = rd32(p + 28), M0 = rd32(p + 32), nu;
  memcpy(&nu, p + 56, 8);
  size_t sec[4] = {(n + 7) & ~7ull, n * dpad * 4, n * (M0 + 1) * 4, nu * (M + 1) * 4};
  uint64_t h = lt_hash64(p, 64);
  size_t off = 64;
  for (int i = 0; i < 4; i++) {
    if (i == 0) {
      h = lt_hash64_seed(p + off, n, h);
      h = lt_hash64_seed(p + off + n, sec[0] - n, h);
    } else {
      h = lt_hash64_seed(p + off, sec[i], h);
    }
    off += sec[i];
  }
  assert_int_equal(off + 8, len);
  memcpy(p + off, &h, 8);
}

static void test_save_load_round_trip_gives_equal_results(void **state) {
  (void)state;
  const uint32_t n = 2000, d = 20, nq = 50;
  float *v = random_vecs(n, d, 1, 16), *q = random_vecs(nq, d, 1, 17);
  char *dir = lt_test_tmpdir("ann");
  char path[512];
  snprintf(path, sizeof path, "%s/ix.ann", dir);
  for (int metric = 0; metric <= 2; metric++) {
    lt_ann_t *ix = build(v, n, d, metric, 2), *ix2 = NULL;
    assert_int_equal(lt_ann_save(ix, path), 0);
    assert_int_equal(lt_ann_load(path, &ix2), 0);
    assert_int_equal(lt_ann_size(ix2), n);
    assert_int_equal(lt_ann_dim(ix2), d);
    assert_int_equal(lt_ann_metric(ix2), metric);
    assert_int_equal(lt_ann_memory(ix2), lt_ann_memory(ix));
    for (uint32_t i = 0; i < nq; i++) {
      uint32_t a[K], b[K], na, nb;
      float sa[K], sb[K];
      assert_int_equal(lt_ann_search(ix, q + i * d, K, 40, NULL, NULL, a, sa, &na), 0);
      assert_int_equal(lt_ann_search(ix2, q + i * d, K, 40, NULL, NULL, b, sb, &nb), 0);
      assert_int_equal(na, nb);
      assert_memory_equal(a, b, na * sizeof *a);
      assert_memory_equal(sa, sb, na * sizeof *sa);
    }
    lt_ann_free(ix);
    lt_ann_free(ix2);
  }
  lt_ann_t *ix = NULL;
  snprintf(path, sizeof path, "%s/missing.ann", dir);
  assert_int_equal(lt_ann_load(path, &ix), LT_ENOTFOUND);
  assert_null(ix);
  lt_test_rmdir(dir);
  free(dir);
  free(v);
  free(q);
}

static void test_truncated_or_corrupt_file_rejected(void **state) {
  (void)state;
  const uint32_t n = 800, d = 10;
  float *v = random_vecs(n, d, 0, 18);
  lt_ann_t *ix = build(v, n, d, LT_ANN_L2, 2);
  char *dir = lt_test_tmpdir("ann");
  char path[512], bad[512];
  snprintf(path, sizeof path, "%s/ix.ann", dir);
  snprintf(bad, sizeof bad, "%s/bad.ann", dir);
  assert_int_equal(lt_ann_save(ix, path), 0);
  size_t len;
  unsigned char *good = slurp(path, &len), *p = malloc(len + 16);
  assert_int_equal(load_bytes(bad, good, len), 0);

  /* truncated anywhere, or extended */
  size_t cuts[] = {0, 1, 8, 63, 64, 65, 64 + n, len / 2, len - 9, len - 8, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
    assert_int_equal(load_bytes(bad, good, cuts[i]), LT_ECORRUPT);
  memcpy(p, good, len);
  memset(p + len, 0, 16);
  assert_int_equal(load_bytes(bad, p, len + 16), LT_ECORRUPT);

  /* any flipped byte: header, levels, vectors, links, trailer */
  rng_state = 99;
  for (int i = 0; i < 200; i++) {
    size_t at = i < 64 ? (size_t)i : (size_t)(rnd() % len);
    memcpy(p, good, len);
    p[at] ^= (unsigned char)(1u << (rnd() % 8));
    int rc = load_bytes(bad, p, len);
    assert_true(rc == LT_ECORRUPT || rc == LT_EVERSION);
  }

  /* bad magic and a future version */
  memcpy(p, good, len);
  p[0] = 'X';
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len);
  p[8] = 2;
  assert_int_equal(load_bytes(bad, p, len), LT_EVERSION);

  /* hostile files with valid checksums */
  const size_t links0 = 64 + ((n + 7) & ~7u) + (size_t)n * 16 * 4; /* dpad = 16 */
  uint32_t big = n, self = 5, cnt = 99;
  memcpy(p, good, len); /* a neighbour id out of range */
  memcpy(p + links0 + 5 * 33 * 4 + 4, &big, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* a self link */
  memcpy(p + links0 + 5 * 33 * 4 + 4, &self, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* a count past M0 */
  memcpy(p + links0 + 7 * 33 * 4, &cnt, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* entry point out of range */
  memcpy(p + 48, &big, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* an item above max_level */
  p[64 + 3] = 31;
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* a NaN in a vector */
  float nan = NAN;
  memcpy(p + 64 + ((n + 7) & ~7u) + 4, &nan, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* non-zero padding in a vector */
  float one = 1.0f;
  memcpy(p + 64 + ((n + 7) & ~7u) + 12 * 4, &one, 4);
  reseal(p, len);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* a huge n that the size cannot match */
  uint32_t huge = 0x7fffffff;
  memcpy(p + 16, &huge, 4);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  memcpy(p, good, len); /* M0 != 2M */
  uint32_t m0 = 31;
  memcpy(p + 32, &m0, 4);
  assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);

  /* a link on level l to an item whose top level is below l */
  uint32_t mx = rd32(good + 44), entry = rd32(good + 48);
  if (mx >= 1) {
    uint32_t low = 0;
    while (good[64 + low] != 0)
      low++;
    size_t upper = links0 + (size_t)n * 33 * 4;
    /* entry's lists: its rows start at the sum of the levels before it */
    size_t row = 0;
    for (uint32_t i = 0; i < entry; i++)
      row += good[64 + i];
    memcpy(p, good, len);
    unsigned char *ll = p + upper + row * 17 * 4;
    assert_true(rd32(ll) > 0); /* the entry has links on level 1 */
    memcpy(ll + 4, &low, 4);
    reseal(p, len);
    assert_int_equal(load_bytes(bad, p, len), LT_ECORRUPT);
  }

  free(good);
  free(p);
  lt_ann_free(ix);
  lt_test_rmdir(dir);
  free(dir);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall_l2_at_least_095),
      cmocka_unit_test(test_recall_ip_at_least_095),
      cmocka_unit_test(test_cosine_finds_itself_with_score_one),
      cmocka_unit_test(test_threaded_build_leaves_no_item_unreachable),
      cmocka_unit_test(test_filter_excludes_items),
      cmocka_unit_test(test_filter_rejecting_everything_returns_nothing),
      cmocka_unit_test(test_k_larger_than_n_returns_all),
      cmocka_unit_test(test_empty_index),
      cmocka_unit_test(test_single_item),
      cmocka_unit_test(test_duplicate_vectors_do_not_break_the_graph),
      cmocka_unit_test(test_rejects_bad_arguments),
      cmocka_unit_test(test_concurrent_searches_match_serial),
      cmocka_unit_test(test_single_thread_build_is_deterministic),
      cmocka_unit_test(test_scalar_and_simd_kernels_agree),
      cmocka_unit_test(test_save_load_round_trip_gives_equal_results),
      cmocka_unit_test(test_truncated_or_corrupt_file_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
