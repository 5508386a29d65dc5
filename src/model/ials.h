/*
 * ials.h — implicit-feedback matrix factorisation: iALS (Hu, Koren &
 * Volinsky 2008) solved with conjugate gradient (Takacs, Pilaszy & Tikk
 * 2011).
 *
 * Model: user u and item i get k-dimensional factors x_u, y_i; the score
 * is dot(x_u, y_i). Training minimises over ALL user x item cells
 *     sum c_ui (p_ui - x_u . y_i)^2 + lambda (sum |x_u|^2 + sum |y_i|^2)
 * with p_ui = 1 and confidence c_ui = 1 + alpha * w_ui for an observed
 * interaction of weight w_ui (a watch ratio, a rating, a play count...),
 * and p_ui = 0, c_ui = 1 for every other cell.
 *
 * A trained model is immutable: any number of threads may call
 * lt_ials_fold_in / lt_ials_score on it at once. Its fields are public so
 * that other modules (the ANN index, the ranker) can read the factor
 * matrices directly; treat them as read-only.
 *
 * Typical use:
 *   lt_ials_opts_t o; lt_ials_opts_default(&o); o.alpha = 3;
 *   lt_ials_t *m; if (lt_ials_train(ui, &o, &m)) ...;
 *   float x[64]; lt_ials_fold_in(m, hist, NULL, nhist, x);   // a user now
 *   lt_ials_score(m, x, NULL, 0, scores);                    // all items
 *   lt_ials_save(m, "/data/ials.bin"); lt_ials_free(m);
 */
#ifndef LT_MODEL_IALS_H
#define LT_MODEL_IALS_H

#include "model/csr.h"

#include <stddef.h>
#include <stdint.h>

/* Largest number of factors accepted by train and load. */
#define LT_IALS_MAX_K 1024

typedef struct lt_ials_opts {
  uint32_t k;        /* factors; default 64 */
  uint32_t iters;    /* full iterations (users then items); default 15 */
  float alpha;       /* confidence slope: c = 1 + alpha * w; default 1 */
  float lambda;      /* L2 regularisation; default 1 */
  uint32_t cg_steps; /* CG steps per row per half-iteration; default 3 */
  uint32_t threads;  /* worker threads; 0 = online CPUs */
  uint64_t seed;     /* initial factors ~ N(0, init_std^2) from this seed */
  float init_std;    /* default 0.01 */
  /* Called after every iteration with the seconds it took (optional). */
  void (*on_iter)(void *ctx, uint32_t iter, double seconds);
  void *ctx;
} lt_ials_opts_t;

typedef struct lt_ials {
  uint32_t k, nusers, nitems;
  float alpha, lambda; /* as trained; fold-in uses the same */
  float *U;            /* nusers x k, row-major */
  float *V;            /* nitems x k, row-major */
  float *VtV;          /* k x k Gramian V^T V, both triangles (for fold-in) */
} lt_ials_t;

/* Fills *o with the defaults listed above. */
void lt_ials_opts_default(lt_ials_opts_t *o);

/* Trains on ui (users x items; values are the weights w >= 0, see above).
 * opts may be NULL for the defaults. Deterministic for a given seed: rows
 * are independent within a half-iteration, so the thread count does not
 * change the result. On success *out owns the model until lt_ials_free().
 * Returns 0, LT_EINVAL (NULL ui/out, k == 0 or > LT_IALS_MAX_K, alpha or
 * lambda negative or not finite, a negative weight) or LT_ENOMEM. */
int lt_ials_train(const lt_csr_t *ui, const lt_ials_opts_t *opts, lt_ials_t **out);

/* Computes the vector of a user from a history, at request time: the exact
 * least-squares solution of the user half-step against the fixed item
 * factors (a k x k Cholesky solve in double precision; ~50 us of CPU at
 * k = 64 and 100 items: 25 us for the solve, 0.25 us per item).
 * items[0..n) are item ids, weights[0..n) their w (NULL = all 1). Items
 * with id >= nitems (newer than the model) are skipped; the caller merges
 * duplicate items. out receives k floats. n may be 0 (out = 0).
 * Cost O(n k^2 + k^3): cap the history (most recent few hundred) on the
 * serving path. Returns 0, LT_EINVAL, LT_ENOMEM or LT_ERANGE (singular
 * system: only with lambda == 0). Thread-safe. */
int lt_ials_fold_in(const lt_ials_t *m, const uint32_t *items, const float *weights, size_t n,
                    float *out);

/* Scores items for a user vector x (k floats): out[j] = dot(x, V[items[j]])
 * for j < n. With items == NULL, scores every item: out[0..nitems), n is
 * ignored. Item ids >= nitems score -INFINITY. Returns 0 or LT_EINVAL. */
int lt_ials_score(const lt_ials_t *m, const float *x, const uint32_t *items, size_t n, float *out);

/* Writes the model to path atomically (temp file, fsync, rename, fsync of
 * the directory). File format (little-endian), see ials.c. Returns 0,
 * LT_EINVAL, LT_EIO or LT_ENOSPACE. */
int lt_ials_save(const lt_ials_t *m, const char *path);

/* Reads a model written by lt_ials_save. A file that is truncated, too
 * long, has a bad magic, unknown version, inconsistent dimensions, a
 * non-finite factor or a checksum mismatch is rejected with LT_ECORRUPT
 * (LT_EVERSION for a newer version) and nothing is allocated. On success
 * *out owns the model until lt_ials_free(). Returns 0, LT_EINVAL,
 * LT_ENOTFOUND, LT_EIO, LT_ECORRUPT, LT_EVERSION or LT_ENOMEM. */
int lt_ials_load(const char *path, lt_ials_t **out);

/* Frees a model; NULL is accepted. */
void lt_ials_free(lt_ials_t *m);

#endif
