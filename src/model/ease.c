/*
 * ease.c — EASE closed-form item-item model (see ease.h).
 *
 * Steps of lt_ease_train:
 *   1. G = X^T X + lambda I, counted row by row from the item x user
 *      transpose (row i of G: for each user of i, +1 on each of the user's
 *      items), threads over rows — each thread writes only its own rows;
 *   2. Cholesky factorisation and inverse in place (LAPACK spotrf, spotri;
 *      G is symmetric, so row- versus column-major does not matter), which
 *      fills one triangle of P; the other is mirrored;
 *   3. B[j][i] = -P[j][i] / P[i][i], zero diagonal, written over P.
 * Peak memory is the one nitems^2 float matrix.
 */
#include "model/ease.h"

#include "core/error.h"
#include "model/linalg.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran interface, exported by OpenBLAS). */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);

typedef struct gram_job {
  const lt_csr_t *ui, *iu;
  float *G;
  _Atomic uint32_t next;
} gram_job_t;

static void *gram_worker(void *arg) {
  gram_job_t *j = arg;
  const uint32_t n = j->iu->nrows;
  for (;;) {
    uint32_t i = atomic_fetch_add(&j->next, 1);
    if (i >= n) break;
    float *row = j->G + (size_t)i * n;
    for (uint64_t e = j->iu->rowptr[i]; e < j->iu->rowptr[i + 1]; e++) {
      uint32_t u = j->iu->col[e];
      for (uint64_t f = j->ui->rowptr[u]; f < j->ui->rowptr[u + 1]; f++)
        row[j->ui->col[f]] += 1;
    }
  }
  return NULL;
}

int lt_ease_train(const lt_csr_t *ui, float lambda, uint32_t max_items, lt_ease_t **out) {
  if (!ui || !out || !isfinite(lambda) || !(lambda > 0)) return LT_EINVAL;
  *out = NULL;
  if (!max_items) max_items = LT_EASE_MAX_ITEMS;
  const uint32_t n = ui->ncols;
  if (n > max_items || n > 46000) return LT_ETOOBIG; /* n^2 must fit an int for LAPACK */
  int rc = LT_ENOMEM;
  lt_csr_t *iu = NULL;
  lt_ease_t *m = calloc(1, sizeof *m);
  if (!m) goto cleanup;
  m->nitems = n;
  m->lambda = lambda;
  m->B = calloc((size_t)n * n + 1, sizeof *m->B);
  if (!m->B) goto cleanup;
  if ((rc = lt_csr_transpose(ui, &iu))) goto cleanup;

  gram_job_t job;
  job.ui = ui;
  job.iu = iu;
  job.G = m->B;
  atomic_store(&job.next, 0);
  uint32_t threads = lt__ncpu();
  pthread_t tid[64];
  uint32_t started = 0;
  for (uint32_t t = 1; t < threads; t++) {
    if (pthread_create(&tid[started], NULL, gram_worker, &job)) break;
    started++;
  }
  gram_worker(&job);
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);

  float *P = m->B;
  for (uint32_t i = 0; i < n; i++)
    P[(size_t)i * n + i] += lambda;
  if (n > 0) {
    int nn = (int)n, info = 0;
    spotrf_("U", &nn, P, &nn, &info);
    if (info == 0) spotri_("U", &nn, P, &nn, &info);
    if (info != 0) {
      rc = info > 0 ? LT_ERANGE : LT_EINVAL;
      goto cleanup;
    }
  }
  /* Column-major "U" is the row-major lower triangle (j >= i): mirror it up. */
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = i + 1; j < n; j++)
      P[(size_t)i * n + j] = P[(size_t)j * n + i];
  float *dinv = malloc(((size_t)n + 1) * sizeof *dinv);
  if (!dinv) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  for (uint32_t i = 0; i < n; i++)
    dinv[i] = -1.0f / P[(size_t)i * n + i];
  for (uint32_t j = 0; j < n; j++) {
    float *row = P + (size_t)j * n;
    for (uint32_t i = 0; i < n; i++)
      row[i] *= dinv[i];
    row[j] = 0;
  }
  free(dinv);
  *out = m;
  m = NULL;
  rc = 0;

cleanup:
  lt_ease_free(m);
  lt_csr_free(iu);
  return rc;
}

int lt_ease_score(const lt_ease_t *m, const uint32_t *items, const float *weights, size_t n,
                  float *out) {
  if (!m || !out || (n && !items)) return LT_EINVAL;
  const lt__kern_t *K = lt__kern();
  memset(out, 0, (size_t)m->nitems * sizeof *out);
  for (size_t j = 0; j < n; j++) {
    if (items[j] >= m->nitems) continue;
    float w = weights ? weights[j] : 1.0f;
    if (w != 0) K->axpy(w, m->B + (size_t)items[j] * m->nitems, out, m->nitems);
  }
  return 0;
}

void lt_ease_free(lt_ease_t *m) {
  if (!m) return;
  free(m->B);
  free(m);
}
