/*
 * linalg.c — small dense kernels for src/model (see linalg.h).
 *
 * Dispatch: lt__kern() checks the CPU once (pthread_once) and returns a
 * table of function pointers: the AVX2+FMA versions below (compiled with
 * __attribute__((target)), so the rest of the library keeps its baseline
 * ISA) or the portable C ones. Both compute the same sums, in a different
 * order, so results agree to float rounding, not bit for bit.
 *
 * symv is written for the iALS inner loop, where M is the k x k Gramian
 * (16 KiB at k = 64, resident in L1): it walks M row by row and keeps up
 * to 32 outputs in four vector accumulators, so each M element is loaded
 * once per call.
 */
#include "model/linalg.h"

#include "core/error.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- portable versions ---- */

static float dot_c(const float *a, const float *b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++)
    s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

static void axpy_c(float a, const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    y[i] += a * x[i];
}

static void symv_c(const float *M, const float *x, float *y, size_t n) {
  memset(y, 0, n * sizeof *y);
  for (size_t j = 0; j < n; j++)
    axpy_c(x[j], M + j * n, y, n);
}

/* ---- AVX2 + FMA versions ---- */

#define LT_AVX2 __attribute__((target("avx2,fma")))

LT_AVX2 static inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

LT_AVX2 static float dot_avx2(const float *a, const float *b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; i++)
    s += a[i] * b[i];
  return s;
}

LT_AVX2 static void axpy_avx2(float a, const float *x, float *y, size_t n) {
  __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++)
    y[i] += a * x[i];
}

LT_AVX2 static void symv_avx2(const float *M, const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *m = M + i;
    for (size_t j = 0; j < n; j++, m += n) {
      __m256 xj = _mm256_set1_ps(x[j]);
      a0 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(m), a0);
      a1 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(m + 8), a1);
      a2 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(m + 16), a2);
      a3 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(m + 24), a3);
    }
    _mm256_storeu_ps(y + i, a0);
    _mm256_storeu_ps(y + i + 8, a1);
    _mm256_storeu_ps(y + i + 16, a2);
    _mm256_storeu_ps(y + i + 24, a3);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 a0 = _mm256_setzero_ps();
    const float *m = M + i;
    for (size_t j = 0; j < n; j++, m += n)
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(x[j]), _mm256_loadu_ps(m), a0);
    _mm256_storeu_ps(y + i, a0);
  }
  for (; i < n; i++) {
    float s = 0;
    for (size_t j = 0; j < n; j++)
      s += M[j * n + i] * x[j];
    y[i] = s;
  }
}

static const lt__kern_t kern_c = {dot_c, axpy_c, symv_c, "generic"};
static const lt__kern_t kern_avx2 = {dot_avx2, axpy_avx2, symv_avx2, "avx2"};
static const lt__kern_t *kern_sel = &kern_c;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static void kern_init(void) {
  __builtin_cpu_init();
  const char *force = getenv("LT_NO_AVX2");
  if (!(force && *force) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    kern_sel = &kern_avx2;
}

const lt__kern_t *lt__kern(void) {
  pthread_once(&kern_once, kern_init);
  return kern_sel;
}

int lt__chol_solve(const float *A, const float *b, float *x, size_t n, double *L) {
  /* L (row-major, lower triangle used) = cholesky(A); A's upper triangle
   * is read as its lower by symmetry. */
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j <= i; j++) {
      const double *li = L + i * n, *lj = L + j * n;
      /* four partial sums: one chain of dependent adds would bound this
       * loop by the add latency (the O(n^3) part of the solve) */
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t t = 0;
      for (; t + 4 <= j; t += 4) {
        s0 += li[t] * lj[t];
        s1 += li[t + 1] * lj[t + 1];
        s2 += li[t + 2] * lj[t + 2];
        s3 += li[t + 3] * lj[t + 3];
      }
      for (; t < j; t++)
        s0 += li[t] * lj[t];
      double s = A[j * n + i] - ((s0 + s1) + (s2 + s3));
      if (i == j) {
        if (!(s > 0) || !isfinite(s)) return LT_ERANGE;
        L[i * n + i] = sqrt(s);
      } else {
        L[i * n + j] = s / lj[j];
      }
    }
  }
  double *tmp = L + n * n; /* forward then backward substitution */
  for (size_t i = 0; i < n; i++) {
    double s = b[i];
    for (size_t t = 0; t < i; t++)
      s -= L[i * n + t] * tmp[t];
    tmp[i] = s / L[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = tmp[i];
    for (size_t t = i + 1; t < n; t++)
      s -= L[t * n + i] * tmp[t];
    tmp[i] = s / L[i * n + i];
  }
  for (size_t i = 0; i < n; i++)
    x[i] = (float)tmp[i];
  return 0;
}

float lt__randn(uint64_t *state) {
  uint64_t a = (*state += 0x9e3779b97f4a7c15ULL), b = (*state += 0x9e3779b97f4a7c15ULL);
  a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ULL;
  a = (a ^ (a >> 27)) * 0x94d049bb133111ebULL;
  a ^= a >> 31;
  b = (b ^ (b >> 30)) * 0xbf58476d1ce4e5b9ULL;
  b = (b ^ (b >> 27)) * 0x94d049bb133111ebULL;
  b ^= b >> 31;
  double u1 = ((a >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  double u2 = (b >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t lt__ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > 64) n = 64;
  return (uint32_t)n;
}
