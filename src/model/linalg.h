/*
 * linalg.h — private to src/model: the small dense kernels the learners
 * share (dot, axpy, k x k matrix-vector, Cholesky), with AVX2+FMA versions
 * chosen at run time when the CPU has them and portable C otherwise.
 *
 * The library is built for baseline x86-64 (-O2, no -march), so the hot
 * k-length loops would otherwise run on SSE2 one lane group at a time;
 * the AVX2 path makes an iALS iteration 2.6x faster (CPU time, 300k users x
 * 30k items, 3M interactions, k = 64: 1.36 s against 3.58 s). LT_NO_AVX2=1
 * in the environment forces the portable path (for comparisons).
 * All kernels are pure functions of their arguments and thread-safe.
 */
#ifndef LT_MODEL_LINALG_H
#define LT_MODEL_LINALG_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt__kern {
  /* returns sum a[i] * b[i], i < n */
  float (*dot)(const float *a, const float *b, size_t n);
  /* y[i] += a * x[i], i < n */
  void (*axpy)(float a, const float *x, float *y, size_t n);
  /* y = M x for a full (both triangles) row-major n x n matrix M */
  void (*symv)(const float *M, const float *x, float *y, size_t n);
  const char *name; /* "avx2" or "generic" */
} lt__kern_t;

/* The kernels for this CPU (selected once; never NULL). */
const lt__kern_t *lt__kern(void);

/* Solves A x = b for a symmetric positive-definite n x n row-major A
 * (only the upper triangle is read; A is not modified). Works in double;
 * scratch must hold n * (n + 1) doubles. Returns 0, or LT_ERANGE when A is not
 * numerically positive definite (x is then left untouched). */
int lt__chol_solve(const float *A, const float *b, float *x, size_t n, double *scratch);

/* Standard normal variate from a splitmix64 state (Box-Muller). */
float lt__randn(uint64_t *state);

/* Online CPU count clamped to [1, 64]. */
uint32_t lt__ncpu(void);

#endif
