/*
 * csr.h — a compressed sparse row matrix of float weights over dense
 * uint32 ids: the user x item interaction matrix the learners train on
 * (and, transposed, item x user).
 *
 * Layout (all arrays owned by the matrix):
 *   rowptr[r] .. rowptr[r + 1] - 1 index the entries of row r in col[]/val[];
 *   rowptr has nrows + 1 entries, rowptr[0] = 0, rowptr[nrows] = nnz.
 * Invariants (lt_csr_check):
 *   1. rowptr is non-decreasing;
 *   2. within a row, col[] is strictly increasing (no duplicates) and < ncols;
 *   3. every val[] is finite.
 *
 * A matrix is immutable after lt_csr_build / lt_csr_transpose: any number of
 * threads may read it at once. Fields are public for hot loops; treat them
 * as read-only.
 *
 * Typical use:
 *   lt_csr_t *ui, *iu;
 *   if (lt_csr_build(nusers, nitems, users, items, NULL, n, LT_CSR_DUP_MAX, &ui)) ...;
 *   if (lt_csr_transpose(ui, &iu)) ...;
 *   for (uint64_t e = ui->rowptr[u]; e < ui->rowptr[u + 1]; e++) use(ui->col[e], ui->val[e]);
 *   lt_csr_free(iu); lt_csr_free(ui);
 */
#ifndef LT_MODEL_CSR_H
#define LT_MODEL_CSR_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt_csr {
  uint32_t nrows, ncols;
  uint64_t nnz;
  uint64_t *rowptr; /* nrows + 1 */
  uint32_t *col;    /* nnz; ascending within each row */
  float *val;       /* nnz */
} lt_csr_t;

/* What lt_csr_build does with several triples for the same (row, col). */
typedef enum lt_csr_dup {
  LT_CSR_DUP_SUM = 0, /* the weights are added (e.g. repeated plays accumulate) */
  LT_CSR_DUP_MAX = 1, /* the largest weight is kept (e.g. the best watch ratio) */
} lt_csr_dup_t;

/* Builds an nrows x ncols matrix from n triples (rows[i], cols[i], vals[i]).
 * vals may be NULL: every weight is then 1. Triples may come in any order;
 * duplicates are merged by dup. The input arrays are only read.
 * On success *out owns the new matrix until lt_csr_free().
 * Returns 0, LT_EINVAL (NULL pointers with n > 0, a row or column id out of
 * range, a NaN or infinite weight, an unknown dup) or LT_ENOMEM. */
int lt_csr_build(uint32_t nrows, uint32_t ncols, const uint32_t *rows, const uint32_t *cols,
                 const float *vals, size_t n, lt_csr_dup_t dup, lt_csr_t **out);

/* Builds the transpose of a (ncols x nrows) into *out (owned by the caller
 * until lt_csr_free()). Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_csr_transpose(const lt_csr_t *a, lt_csr_t **out);

/* Frees a matrix; NULL is accepted. */
void lt_csr_free(lt_csr_t *a);

/* Checks invariants 1-3 above. Returns 0 or LT_ECORRUPT. O(nnz). */
int lt_csr_check(const lt_csr_t *a);

/* Number of entries in row r (r < nrows). */
static inline uint32_t lt_csr_row_len(const lt_csr_t *a, uint32_t r) {
  return (uint32_t)(a->rowptr[r + 1] - a->rowptr[r]);
}

#endif
