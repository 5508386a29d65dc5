/*
 * ease.h — EASE, an item-item linear model with a closed form (Steck,
 * "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).
 *
 * With X the binary users x items matrix and P = (X^T X + lambda I)^-1,
 *     B[j][i] = -P[j][i] / P[i][i]  (i != j),   B[i][i] = 0,
 * and a user with history weights h (h_j > 0 for watched items j) scores
 *     s_i = sum_j h_j B[j][i].
 * Scoring is a sum of |history| dense rows, O(|history| * nitems): a
 * real-time model while the catalog is small enough to hold B (4 nitems^2
 * bytes) and to invert X^T X + lambda I (O(nitems^3)). Larger catalogs are
 * refused with LT_ETOOBIG at train time; use iALS + itemcf there.
 *
 * A trained model is immutable; lt_ease_score is thread-safe.
 */
#ifndef LT_MODEL_EASE_H
#define LT_MODEL_EASE_H

#include "model/csr.h"

#include <stddef.h>
#include <stdint.h>

/* Default item limit for lt_ease_train (B is then at most 400 MB). */
#define LT_EASE_MAX_ITEMS 10000

typedef struct lt_ease {
  uint32_t nitems;
  float lambda;
  float *B; /* nitems x nitems, row-major: row j = weights of history item j */
} lt_ease_t;

/* Trains on ui (users x items; a cell counts as 1 when non-zero) with L2
 * weight lambda > 0. max_items: refuse catalogs above it (0 = the default
 * LT_EASE_MAX_ITEMS). Uses LAPACK (spotrf/spotri from OpenBLAS). On success
 * *out owns the model until lt_ease_free(). Returns 0, LT_EINVAL,
 * LT_ETOOBIG, LT_ERANGE (not positive definite: lambda too small for float
 * precision) or LT_ENOMEM. */
int lt_ease_train(const lt_csr_t *ui, float lambda, uint32_t max_items, lt_ease_t **out);

/* out[0..nitems) = sum_j weights[j] * B[items[j]] (weights NULL = all 1).
 * Ids >= nitems are skipped. Returns 0 or LT_EINVAL. */
int lt_ease_score(const lt_ease_t *m, const uint32_t *items, const float *weights, size_t n,
                  float *out);

/* Frees a model; NULL is accepted. */
void lt_ease_free(lt_ease_t *m);

#endif
