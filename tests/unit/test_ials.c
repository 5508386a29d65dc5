/*
 * test_ials.c — model/csr and model/ials: building the interaction matrix,
 * recovering planted structure, fold-in, persistence and corrupt files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "model/csr.h"
#include "model/ials.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* ---- csr ---- */

static void csr_sorts_rows_and_merges_duplicates_by_sum_or_max(void **st) {
  const uint32_t r[] = {2, 0, 2, 0, 2, 1};
  const uint32_t c[] = {3, 1, 0, 1, 3, 2};
  const float v[] = {1, 2, 5, 4, 7, 1};
  lt_csr_t *a = NULL, *b = NULL;
  assert_int_equal(lt_csr_build(3, 4, r, c, v, 6, LT_CSR_DUP_SUM, &a), 0);
  assert_int_equal(lt_csr_check(a), 0);
  assert_int_equal(a->nnz, 4);
  assert_int_equal(lt_csr_row_len(a, 0), 1);
  assert_int_equal(a->col[0], 1);
  assert_true(a->val[0] == 6.0f); /* 2 + 4 */
  assert_int_equal(a->col[1], 2);
  assert_int_equal(a->col[2], 0); /* row 2 sorted: 0, 3 */
  assert_true(a->val[2] == 5.0f);
  assert_int_equal(a->col[3], 3);
  assert_true(a->val[3] == 8.0f); /* 1 + 7 */
  assert_int_equal(lt_csr_build(3, 4, r, c, v, 6, LT_CSR_DUP_MAX, &b), 0);
  assert_true(b->val[0] == 4.0f);
  assert_true(b->val[3] == 7.0f);
  lt_csr_free(b);

  assert_int_equal(lt_csr_transpose(a, &b), 0);
  assert_int_equal(lt_csr_check(b), 0);
  assert_int_equal(b->nrows, 4);
  assert_int_equal(b->ncols, 3);
  assert_int_equal(lt_csr_row_len(b, 3), 1);
  assert_int_equal(b->col[b->rowptr[3]], 2);
  assert_true(b->val[b->rowptr[3]] == 8.0f);
  lt_csr_free(b);
  lt_csr_free(a);
  lt_csr_free(NULL);
}

static void csr_rejects_out_of_range_ids_and_bad_weights(void **st) {
  const uint32_t r[] = {0, 3};
  const uint32_t c[] = {0, 0};
  const float nan_v[] = {1, NAN};
  lt_csr_t *a = (lt_csr_t *)1;
  assert_int_equal(lt_csr_build(3, 1, r, c, NULL, 2, LT_CSR_DUP_SUM, &a), LT_EINVAL);
  assert_null(a);
  assert_int_equal(lt_csr_build(4, 1, r, c, nan_v, 2, LT_CSR_DUP_SUM, &a), LT_EINVAL);
  assert_int_equal(lt_csr_build(4, 1, r, c, NULL, 2, (lt_csr_dup_t)7, &a), LT_EINVAL);
  assert_int_equal(lt_csr_build(4, 1, NULL, NULL, NULL, 0, LT_CSR_DUP_SUM, &a), 0);
  assert_int_equal(a->nnz, 0);
  assert_int_equal(lt_csr_check(a), 0);
  lt_csr_free(a);
}

/* ---- a planted low-rank data set ----
 * NC clusters of users and items; a user watches PER items of its own
 * cluster (at random) and one random item elsewhere. HOLD more of its own
 * cluster's items are held out as the positives to recover. */
#define NC 4
#define NU 200
#define NI 120
#define PER 12
#define HOLD 3

typedef struct planted {
  lt_csr_t *ui;
  uint32_t held[NU][HOLD];
  uint8_t seen[NU][NI];
} planted_t;

static void planted_make(planted_t *p) {
  memset(p, 0, sizeof *p);
  uint64_t s = 7;
  uint32_t *r = malloc(NU * (PER + 1) * sizeof *r), *c = malloc(NU * (PER + 1) * sizeof *c);
  size_t n = 0;
  const uint32_t per_cluster = NI / NC;
  for (uint32_t u = 0; u < NU; u++) {
    uint32_t cl = u % NC, got = 0;
    while (got < PER + HOLD) {
      uint32_t it = cl * per_cluster + (uint32_t)(rng(&s) % per_cluster);
      if (p->seen[u][it]) continue;
      p->seen[u][it] = 1;
      if (got < PER) {
        r[n] = u, c[n] = it, n++;
      } else {
        p->held[u][got - PER] = it;
      }
      got++;
    }
    uint32_t noise = (uint32_t)(rng(&s) % NI);
    if (!p->seen[u][noise]) p->seen[u][noise] = 1, r[n] = u, c[n] = noise, n++;
  }
  assert_int_equal(lt_csr_build(NU, NI, r, c, NULL, n, LT_CSR_DUP_MAX, &p->ui), 0);
  free(r);
  free(c);
}

static void train_small(const lt_csr_t *ui, uint32_t iters, uint32_t cg, uint32_t threads,
                        lt_ials_t **m) {
  lt_ials_opts_t o;
  lt_ials_opts_default(&o);
  o.k = 8;
  o.iters = iters;
  o.cg_steps = cg;
  o.alpha = 5;
  o.lambda = 1;
  o.threads = threads;
  o.init_std = 0.1f;
  assert_int_equal(lt_ials_train(ui, &o, m), 0);
}

static void training_ranks_held_out_positives_above_negatives(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_t *m = NULL;
  train_small(p->ui, 10, 3, 2, &m);
  assert_int_equal(m->nusers, NU);
  assert_int_equal(m->nitems, NI);
  /* AUC over (held-out positive, unseen item of another cluster) pairs */
  float scores[NI];
  uint64_t good = 0, pairs = 0;
  for (uint32_t u = 0; u < NU; u++) {
    assert_int_equal(lt_ials_score(m, m->U + (size_t)u * m->k, NULL, 0, scores), 0);
    for (int h = 0; h < HOLD; h++) {
      for (uint32_t j = 0; j < NI; j++) {
        if (p->seen[u][j] || j / (NI / NC) == u % NC) continue;
        pairs++;
        good += scores[p->held[u][h]] > scores[j];
      }
    }
  }
  double auc = (double)good / (double)pairs;
  print_message("held-out AUC %.4f\n", auc);
  assert_true(auc > 0.95);
  lt_ials_free(m);
  lt_csr_free(p->ui);
  free(p);
}

static void training_does_not_depend_on_thread_count(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_t *a = NULL, *b = NULL;
  train_small(p->ui, 3, 3, 1, &a);
  train_small(p->ui, 3, 3, 2, &b);
  assert_memory_equal(a->U, b->U, (size_t)NU * a->k * sizeof(float));
  assert_memory_equal(a->V, b->V, (size_t)NI * a->k * sizeof(float));
  lt_ials_free(a);
  lt_ials_free(b);
  lt_csr_free(p->ui);
  free(p);
}

static void fold_in_of_a_users_history_matches_its_trained_vector(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_t *m = NULL;
  /* converged: many iterations, CG run to (near) exactness */
  train_small(p->ui, 40, 8, 2, &m);
  float x[8];
  double worst = 0;
  for (uint32_t u = 0; u < NU; u += 7) {
    uint64_t s = p->ui->rowptr[u];
    assert_int_equal(
        lt_ials_fold_in(m, p->ui->col + s, p->ui->val + s, lt_csr_row_len(p->ui, u), x), 0);
    double d = 0, nn = 0;
    for (uint32_t t = 0; t < m->k; t++) {
      double e = x[t] - m->U[(size_t)u * m->k + t];
      d += e * e;
      nn += (double)x[t] * x[t];
    }
    if (sqrt(d / nn) > worst) worst = sqrt(d / nn);
  }
  print_message("fold-in vs trained vector: worst relative error %.5f\n", worst);
  assert_true(worst < 0.02);
  /* ids beyond the model are skipped; an empty history gives 0 */
  uint32_t unknown = NI + 5;
  assert_int_equal(lt_ials_fold_in(m, &unknown, NULL, 1, x), 0);
  for (uint32_t t = 0; t < m->k; t++)
    assert_true(x[t] == 0.0f);
  float bad_w = -1;
  uint32_t it = 0;
  assert_int_equal(lt_ials_fold_in(m, &it, &bad_w, 1, x), LT_EINVAL);
  lt_ials_free(m);
  lt_csr_free(p->ui);
  free(p);
}

static void bad_options_are_rejected(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_opts_t o;
  lt_ials_t *m = NULL;
  lt_ials_opts_default(&o);
  o.k = 0;
  assert_int_equal(lt_ials_train(p->ui, &o, &m), LT_EINVAL);
  lt_ials_opts_default(&o);
  o.alpha = -1;
  assert_int_equal(lt_ials_train(p->ui, &o, &m), LT_EINVAL);
  o.alpha = 1;
  o.lambda = NAN;
  assert_int_equal(lt_ials_train(p->ui, &o, &m), LT_EINVAL);
  assert_null(m);
  assert_int_equal(lt_ials_train(NULL, NULL, &m), LT_EINVAL);
  lt_csr_free(p->ui);
  free(p);
}

/* ---- persistence ---- */

static char *model_path(const char *dir) {
  char *path = malloc(strlen(dir) + 32);
  sprintf(path, "%s/ials.bin", dir);
  return path;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 16);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void save_then_load_round_trips_exactly(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_t *m = NULL, *l = NULL;
  train_small(p->ui, 3, 3, 2, &m);
  char *dir = lt_test_tmpdir("ials");
  char *path = model_path(dir);
  assert_int_equal(lt_ials_save(m, path), 0);
  assert_int_equal(lt_ials_load(path, &l), 0);
  assert_int_equal(l->k, m->k);
  assert_int_equal(l->nusers, m->nusers);
  assert_int_equal(l->nitems, m->nitems);
  assert_true(l->alpha == m->alpha && l->lambda == m->lambda);
  assert_memory_equal(l->U, m->U, (size_t)m->nusers * m->k * sizeof(float));
  assert_memory_equal(l->V, m->V, (size_t)m->nitems * m->k * sizeof(float));
  float a[8], b[8];
  uint64_t s = p->ui->rowptr[3];
  lt_ials_fold_in(m, p->ui->col + s, NULL, lt_csr_row_len(p->ui, 3), a);
  lt_ials_fold_in(l, p->ui->col + s, NULL, lt_csr_row_len(p->ui, 3), b);
  assert_memory_equal(a, b, sizeof a);
  /* saving again replaces the file atomically */
  assert_int_equal(lt_ials_save(l, path), 0);
  lt_ials_free(l);
  assert_int_equal(lt_ials_load(path, &l), 0);
  lt_ials_free(l);
  lt_ials_free(m);
  lt_ials_free(NULL);
  lt_test_rmdir(dir);
  free(path);
  free(dir);
  lt_csr_free(p->ui);
  free(p);
}

static void corrupt_or_truncated_model_files_are_rejected(void **st) {
  planted_t *p = malloc(sizeof *p);
  planted_make(p);
  lt_ials_t *m = NULL, *l = (lt_ials_t *)1;
  train_small(p->ui, 2, 2, 1, &m);
  char *dir = lt_test_tmpdir("ialsbad");
  char *path = model_path(dir);
  char *bad = malloc(strlen(dir) + 32);
  sprintf(bad, "%s/bad.bin", dir);
  assert_int_equal(lt_ials_save(m, path), 0);
  size_t n;
  unsigned char *b = slurp(path, &n);
  assert_int_equal(n, 40 + 4 * 8 * (NU + NI));

  /* one flipped bit in the factors */
  b[100] ^= 0x10;
  assert_int_equal(lt_test_write_file(bad, b, n), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  assert_null(l);
  b[100] ^= 0x10;
  /* truncated, and one byte too long */
  assert_int_equal(lt_test_write_file(bad, b, n - 1), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  assert_int_equal(lt_test_write_file(bad, b, 10), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  b[n] = 0;
  assert_int_equal(lt_test_write_file(bad, b, n + 1), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  /* bad magic; huge dimensions; a newer version */
  b[0] = 'X';
  assert_int_equal(lt_test_write_file(bad, b, n), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  b[0] = 'L';
  unsigned char save16 = b[16];
  b[19] = 0x7f; /* nusers ~ 2^31: size no longer matches */
  assert_int_equal(lt_test_write_file(bad, b, n), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_ECORRUPT);
  b[19] = 0, b[16] = save16;
  b[8] = 9;
  assert_int_equal(lt_test_write_file(bad, b, n), 0);
  assert_int_equal(lt_ials_load(bad, &l), LT_EVERSION);
  b[8] = 1;
  /* the untouched bytes still load */
  assert_int_equal(lt_test_write_file(bad, b, n), 0);
  assert_int_equal(lt_ials_load(bad, &l), 0);
  lt_ials_free(l);
  sprintf(bad, "%s/missing.bin", dir);
  assert_int_equal(lt_ials_load(bad, &l), LT_ENOTFOUND);

  free(b);
  free(bad);
  lt_ials_free(m);
  lt_test_rmdir(dir);
  free(path);
  free(dir);
  lt_csr_free(p->ui);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(csr_sorts_rows_and_merges_duplicates_by_sum_or_max),
      cmocka_unit_test(csr_rejects_out_of_range_ids_and_bad_weights),
      cmocka_unit_test(training_ranks_held_out_positives_above_negatives),
      cmocka_unit_test(training_does_not_depend_on_thread_count),
      cmocka_unit_test(fold_in_of_a_users_history_matches_its_trained_vector),
      cmocka_unit_test(bad_options_are_rejected),
      cmocka_unit_test(save_then_load_round_trips_exactly),
      cmocka_unit_test(corrupt_or_truncated_model_files_are_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
