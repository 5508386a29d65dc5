/*
 * csr.c — compressed sparse row matrices (see csr.h).
 *
 * Building is two stable counting-sort passes, O(n + nrows + ncols), no
 * comparisons:
 *   1. scatter the triples by column into (trow[], tval[]) — the column is
 *      implicit in the bucket, so it is not stored;
 *   2. walk the columns in ascending order and scatter each entry into its
 *      row. Because pass 2 visits columns in order, every row comes out
 *      sorted by column, and duplicates of (row, col) end up adjacent;
 *   3. merge adjacent duplicates (sum or max) and compact the arrays.
 * Peak memory is about 2 x n x 8 bytes plus the row and column counters.
 *
 * Transposition is the same pass 2 applied to an existing matrix.
 */
#include "model/csr.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lt_csr_t *csr_alloc(uint32_t nrows, uint32_t ncols, uint64_t nnz) {
  lt_csr_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->nrows = nrows;
  a->ncols = ncols;
  a->nnz = nnz;
  a->rowptr = calloc((size_t)nrows + 1, sizeof *a->rowptr);
  a->col = malloc((nnz ? nnz : 1) * sizeof *a->col);
  a->val = malloc((nnz ? nnz : 1) * sizeof *a->val);
  if (!a->rowptr || !a->col || !a->val) {
    lt_csr_free(a);
    return NULL;
  }
  return a;
}

void lt_csr_free(lt_csr_t *a) {
  if (!a) return;
  free(a->rowptr);
  free(a->col);
  free(a->val);
  free(a);
}

int lt_csr_build(uint32_t nrows, uint32_t ncols, const uint32_t *rows, const uint32_t *cols,
                 const float *vals, size_t n, lt_csr_dup_t dup, lt_csr_t **out) {
  if (!out) return LT_EINVAL;
  *out = NULL;
  if (n && (!rows || !cols)) return LT_EINVAL;
  if (dup != LT_CSR_DUP_SUM && dup != LT_CSR_DUP_MAX) return LT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (rows[i] >= nrows || cols[i] >= ncols) return LT_EINVAL;
    if (vals && !isfinite(vals[i])) return LT_EINVAL;
  }

  int rc = LT_ENOMEM;
  uint64_t *colptr = NULL;
  uint32_t *trow = NULL;
  float *tval = NULL;
  lt_csr_t *a = csr_alloc(nrows, ncols, n);
  colptr = calloc((size_t)ncols + 1, sizeof *colptr);
  trow = malloc((n ? n : 1) * sizeof *trow);
  tval = malloc((n ? n : 1) * sizeof *tval);
  if (!a || !colptr || !trow || !tval) goto cleanup;

  /* pass 1: by column */
  for (size_t i = 0; i < n; i++)
    colptr[cols[i] + 1]++;
  for (uint32_t c = 0; c < ncols; c++)
    colptr[c + 1] += colptr[c];
  for (size_t i = 0; i < n; i++) {
    uint64_t p = colptr[cols[i]]++;
    trow[p] = rows[i];
    tval[p] = vals ? vals[i] : 1.0f;
  }
  /* colptr[c] now holds the end of column c; shift back to starts */
  memmove(colptr + 1, colptr, (size_t)ncols * sizeof *colptr);
  colptr[0] = 0;

  /* pass 2: by row, visiting columns in order */
  uint64_t *rp = a->rowptr;
  for (size_t i = 0; i < n; i++)
    rp[trow[i] + 1]++;
  for (uint32_t r = 0; r < nrows; r++)
    rp[r + 1] += rp[r];
  /* rp[r] serves as row r's next free slot, then is shifted back to starts */
  for (uint32_t c = 0; c < ncols; c++) {
    for (uint64_t e = colptr[c]; e < colptr[c + 1]; e++) {
      uint64_t p = rp[trow[e]]++;
      a->col[p] = c;
      a->val[p] = tval[e];
    }
  }
  memmove(rp + 1, rp, (size_t)nrows * sizeof *rp);
  rp[0] = 0;

  /* pass 3: merge duplicates, compacting in place */
  uint64_t w = 0;
  for (uint32_t r = 0; r < nrows; r++) {
    uint64_t s = rp[r], e = rp[r + 1];
    rp[r] = w;
    for (uint64_t i = s; i < e; i++) {
      if (w > rp[r] && a->col[w - 1] == a->col[i]) {
        float *v = &a->val[w - 1];
        *v = dup == LT_CSR_DUP_SUM ? *v + a->val[i] : fmaxf(*v, a->val[i]);
      } else {
        a->col[w] = a->col[i];
        a->val[w] = a->val[i];
        w++;
      }
    }
  }
  rp[nrows] = w;
  a->nnz = w;
  if (w < n && w > 0) {
    uint32_t *nc = realloc(a->col, w * sizeof *nc);
    if (nc) a->col = nc;
    float *nv = realloc(a->val, w * sizeof *nv);
    if (nv) a->val = nv;
  }
  *out = a;
  a = NULL;
  rc = 0;

cleanup:
  lt_csr_free(a);
  free(colptr);
  free(trow);
  free(tval);
  return rc;
}

int lt_csr_transpose(const lt_csr_t *a, lt_csr_t **out) {
  if (!a || !out) return LT_EINVAL;
  *out = NULL;
  lt_csr_t *t = csr_alloc(a->ncols, a->nrows, a->nnz);
  if (!t) return LT_ENOMEM;
  uint64_t *rp = t->rowptr;
  for (uint64_t e = 0; e < a->nnz; e++)
    rp[a->col[e] + 1]++;
  for (uint32_t c = 0; c < a->ncols; c++)
    rp[c + 1] += rp[c];
  for (uint32_t r = 0; r < a->nrows; r++) {
    for (uint64_t e = a->rowptr[r]; e < a->rowptr[r + 1]; e++) {
      uint64_t p = rp[a->col[e]]++;
      t->col[p] = r;
      t->val[p] = a->val[e];
    }
  }
  memmove(rp + 1, rp, (size_t)a->ncols * sizeof *rp);
  rp[0] = 0;
  *out = t;
  return 0;
}

int lt_csr_check(const lt_csr_t *a) {
  if (!a || !a->rowptr) return LT_ECORRUPT;
  if (a->rowptr[0] != 0 || a->rowptr[a->nrows] != a->nnz) return LT_ECORRUPT;
  for (uint32_t r = 0; r < a->nrows; r++) {
    if (a->rowptr[r + 1] < a->rowptr[r]) return LT_ECORRUPT;
    for (uint64_t e = a->rowptr[r]; e < a->rowptr[r + 1]; e++) {
      if (a->col[e] >= a->ncols || !isfinite(a->val[e])) return LT_ECORRUPT;
      if (e > a->rowptr[r] && a->col[e] <= a->col[e - 1]) return LT_ECORRUPT;
    }
  }
  return 0;
}
