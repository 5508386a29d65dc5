/*
 * ials.c — implicit ALS with conjugate-gradient row updates (see ials.h).
 *
 * Training alternates two half-iterations, users then items. A half-
 * iteration fixes one side Y (n x k) and updates every row x of the other
 * side toward the solution of
 *     (Y^T Y + Y^T (C - I) Y + lambda I) x = Y^T C p
 * where C is the row's diagonal confidence (1 + alpha w on its observed
 * items, 1 elsewhere) and p its 0/1 preferences. The dense part Y^T Y (the
 * Gramian G) is the same for all rows: it is computed once per half-
 * iteration with cblas_ssyrk. Each row then takes cg_steps CG steps warm-
 * started from its previous value, never forming the k x k matrix:
 *     A v = G v + lambda v + sum_{i in row} (c_i - 1) (y_i . v) y_i
 * costs O(k^2 + n_row k). The first residual is fused into one pass:
 *     r = b - A x = sum_i (c_i - (c_i - 1) y_i . x) y_i - (G + lambda I) x.
 *
 * Threads: rows are handed out in chunks from an atomic counter; each row
 * touches only its own x and reads Y and G, so no locks are needed and the
 * result does not depend on the thread count or the scheduling.
 *
 * Fold-in (request time) forms the k x k system for one history exactly
 * and solves it by Cholesky (double precision), using the Gramian of V
 * kept in the model.
 *
 * File format (lt_ials_save / lt_ials_load), little-endian:
 *   offset  size  field
 *        0     8  magic "LTIALS\0\0"
 *        8     4  version = 1
 *       12     4  k        (1 .. LT_IALS_MAX_K)
 *       16     4  nusers
 *       20     4  nitems
 *       24     4  alpha    (f32)
 *       28     4  lambda   (f32)
 *       32     .  U: nusers * k f32, row-major
 *        .     .  V: nitems * k f32, row-major
 *        .     8  XXH3-64 of every byte before it
 * The file size must equal 40 + 4 k (nusers + nitems) exactly.
 */
#include "model/ials.h"

#include "core/error.h"
#include "core/fileio.h"
#include "model/linalg.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ials.c writes factors as raw little-endian floats"
#endif

#define IALS_MAGIC "LTIALS\0\0"
#define IALS_VERSION 1u
#define IALS_HDR 32u
#define ROW_CHUNK 32u
#define PREFETCH_AHEAD 4u

void lt_ials_opts_default(lt_ials_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->k = 64;
  o->iters = 15;
  o->alpha = 1.0f;
  o->lambda = 1.0f;
  o->cg_steps = 3;
  o->threads = 0;
  o->seed = 1;
  o->init_std = 0.01f;
}

void lt_ials_free(lt_ials_t *m) {
  if (!m) return;
  free(m->U);
  free(m->V);
  free(m->VtV);
  free(m);
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* G = Y^T Y (k x k, both triangles) for Y n x k row-major. */
static void gramian(const float *Y, uint32_t n, uint32_t k, float *G) {
  if (n == 0) {
    memset(G, 0, (size_t)k * k * sizeof *G);
    return;
  }
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)n, 1.0f, Y, (int)k, 0.0f, G,
              (int)k);
  for (uint32_t i = 0; i < k; i++)
    for (uint32_t j = 0; j < i; j++)
      G[(size_t)i * k + j] = G[(size_t)j * k + i];
}

static lt_ials_t *model_alloc(uint32_t k, uint32_t nusers, uint32_t nitems) {
  lt_ials_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->k = k;
  m->nusers = nusers;
  m->nitems = nitems;
  m->U = malloc(((size_t)nusers * k + 1) * sizeof *m->U);
  m->V = malloc(((size_t)nitems * k + 1) * sizeof *m->V);
  m->VtV = malloc((size_t)k * k * sizeof *m->VtV);
  if (!m->U || !m->V || !m->VtV) {
    lt_ials_free(m);
    return NULL;
  }
  return m;
}

/* ---- one half-iteration ---- */

typedef struct half {
  const lt_csr_t *R; /* rows to update x their observed columns */
  float *X;          /* R->nrows x k, updated in place */
  const float *Y;    /* R->ncols x k */
  const float *G;    /* Y^T Y */
  uint32_t k, cg_steps;
  float alpha, lambda;
  const lt__kern_t *K;
  _Atomic uint64_t next; /* 64-bit: chunks may step past UINT32_MAX */
  _Atomic int err;
} half_t;

/* v_out = (G + lambda I) v + sum_i (c_i - 1)(y_i . v) y_i over the row. */
static void apply_A(const half_t *h, const uint32_t *cols, const float *w, uint32_t n,
                    const float *v, float *out) {
  const lt__kern_t *K = h->K;
  const uint32_t k = h->k;
  K->symv(h->G, v, out, k);
  K->axpy(h->lambda, v, out, k);
  for (uint32_t e = 0; e < n; e++) {
    float cm1 = h->alpha * w[e];
    if (cm1 == 0) continue;
    const float *y = h->Y + (size_t)cols[e] * k;
    K->axpy(cm1 * K->dot(y, v, k), y, out, k);
  }
}

static void update_row(const half_t *h, uint32_t row, float *r, float *p, float *Ap) {
  const lt__kern_t *K = h->K;
  const uint32_t k = h->k;
  const lt_csr_t *R = h->R;
  const uint64_t s = R->rowptr[row];
  const uint32_t n = (uint32_t)(R->rowptr[row + 1] - s);
  const uint32_t *cols = R->col + s;
  const float *w = R->val + s;
  float *x = h->X + (size_t)row * k;

  /* r = b - A x, fused */
  K->symv(h->G, x, r, k);
  for (uint32_t t = 0; t < k; t++)
    r[t] = -(r[t] + h->lambda * x[t]);
  for (uint32_t e = 0; e < n; e++) {
    /* the first touch of each y_i is a cache miss (Y is large and read in
     * column order); start loading a few rows ahead */
    if (e + PREFETCH_AHEAD < n) {
      const char *q = (const char *)(h->Y + (size_t)cols[e + PREFETCH_AHEAD] * k);
      for (uint32_t off = 0; off < k * sizeof(float); off += 64)
        __builtin_prefetch(q + off);
    }
    float cm1 = h->alpha * w[e];
    const float *y = h->Y + (size_t)cols[e] * k;
    K->axpy((1.0f + cm1) - cm1 * K->dot(y, x, k), y, r, k);
  }
  memcpy(p, r, k * sizeof *p);
  float rs = K->dot(r, r, k);
  for (uint32_t step = 0; step < h->cg_steps; step++) {
    if (!(rs > 1e-20f)) break;
    apply_A(h, cols, w, n, p, Ap);
    float pAp = K->dot(p, Ap, k);
    if (!(pAp > 0)) break;
    float a = rs / pAp;
    K->axpy(a, p, x, k);
    K->axpy(-a, Ap, r, k);
    float rs2 = K->dot(r, r, k);
    float beta = rs2 / rs;
    for (uint32_t t = 0; t < k; t++)
      p[t] = r[t] + beta * p[t];
    rs = rs2;
  }
}

static void *half_worker(void *arg) {
  half_t *h = arg;
  const uint32_t k = h->k;
  float *scratch = malloc(3 * (size_t)k * sizeof *scratch);
  if (!scratch) {
    atomic_store(&h->err, LT_ENOMEM);
    return NULL;
  }
  const uint32_t nrows = h->R->nrows;
  for (;;) {
    uint64_t lo64 = atomic_fetch_add(&h->next, ROW_CHUNK);
    if (lo64 >= nrows) break;
    uint32_t lo = (uint32_t)lo64;
    uint32_t hi = nrows - lo < ROW_CHUNK ? nrows : lo + ROW_CHUNK;
    for (uint32_t row = lo; row < hi; row++)
      update_row(h, row, scratch, scratch + k, scratch + 2 * k);
  }
  free(scratch);
  return NULL;
}

static int half_step(half_t *h, uint32_t threads) {
  atomic_store(&h->next, 0);
  atomic_store(&h->err, 0);
  pthread_t tid[64];
  uint32_t started = 0;
  for (uint32_t t = 1; t < threads; t++) {
    if (pthread_create(&tid[started], NULL, half_worker, h)) break;
    started++;
  }
  half_worker(h); /* the calling thread works too */
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  return atomic_load(&h->err);
}

int lt_ials_train(const lt_csr_t *ui, const lt_ials_opts_t *opts, lt_ials_t **out) {
  if (!ui || !out) return LT_EINVAL;
  *out = NULL;
  lt_ials_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_ials_opts_default(&o);
  if (o.k == 0 || o.k > LT_IALS_MAX_K) return LT_EINVAL;
  if (!isfinite(o.alpha) || o.alpha < 0 || !isfinite(o.lambda) || o.lambda < 0) return LT_EINVAL;
  if (!isfinite(o.init_std) || o.init_std < 0) return LT_EINVAL;
  for (uint64_t e = 0; e < ui->nnz; e++)
    if (!(ui->val[e] >= 0)) return LT_EINVAL;
  uint32_t threads = o.threads ? o.threads : lt__ncpu();
  if (threads > 64) threads = 64;

  int rc = LT_ENOMEM;
  lt_csr_t *iu = NULL;
  float *G = NULL;
  lt_ials_t *m = model_alloc(o.k, ui->nrows, ui->ncols);
  if (!m) goto cleanup;
  m->alpha = o.alpha;
  m->lambda = o.lambda;
  G = malloc((size_t)o.k * o.k * sizeof *G);
  if (!G) goto cleanup;
  if ((rc = lt_csr_transpose(ui, &iu))) goto cleanup;

  uint64_t rng = o.seed;
  for (size_t i = 0; i < (size_t)m->nusers * o.k; i++)
    m->U[i] = o.init_std * lt__randn(&rng);
  for (size_t i = 0; i < (size_t)m->nitems * o.k; i++)
    m->V[i] = o.init_std * lt__randn(&rng);

  half_t h;
  memset(&h, 0, sizeof h);
  h.k = o.k;
  h.cg_steps = o.cg_steps;
  h.alpha = o.alpha;
  h.lambda = o.lambda;
  h.G = G;
  h.K = lt__kern();
  for (uint32_t it = 0; it < o.iters; it++) {
    double t0 = now_sec();
    gramian(m->V, m->nitems, o.k, G);
    h.R = ui, h.X = m->U, h.Y = m->V;
    if ((rc = half_step(&h, threads))) goto cleanup;
    gramian(m->U, m->nusers, o.k, G);
    h.R = iu, h.X = m->V, h.Y = m->U;
    if ((rc = half_step(&h, threads))) goto cleanup;
    if (o.on_iter) o.on_iter(o.ctx, it, now_sec() - t0);
  }
  gramian(m->V, m->nitems, o.k, m->VtV);
  *out = m;
  m = NULL;
  rc = 0;

cleanup:
  lt_ials_free(m);
  lt_csr_free(iu);
  free(G);
  return rc;
}

/* ---- request time ---- */

int lt_ials_fold_in(const lt_ials_t *m, const uint32_t *items, const float *weights, size_t n,
                    float *out) {
  if (!m || !out || (n && !items)) return LT_EINVAL;
  const uint32_t k = m->k;
  const lt__kern_t *K = lt__kern();
  size_t kk = (size_t)k * k;
  float *A = malloc((kk + k) * sizeof *A);
  double *scratch = malloc((kk + k) * sizeof *scratch);
  int rc = LT_ENOMEM;
  if (!A || !scratch) goto cleanup;
  float *b = A + kk;
  memcpy(A, m->VtV, kk * sizeof *A);
  for (uint32_t t = 0; t < k; t++)
    A[(size_t)t * k + t] += m->lambda;
  memset(b, 0, k * sizeof *b);
  for (size_t j = 0; j < n; j++) {
    if (items[j] >= m->nitems) continue;
    float w = weights ? weights[j] : 1.0f;
    if (!(w >= 0) || !isfinite(w)) {
      rc = LT_EINVAL;
      goto cleanup;
    }
    const float *y = m->V + (size_t)items[j] * k;
    float cm1 = m->alpha * w;
    K->axpy(1.0f + cm1, y, b, k);
    if (cm1 == 0) continue;
    /* A += cm1 y y^T, upper triangle only (the solver reads no more) */
    for (uint32_t r = 0; r < k; r++)
      K->axpy(cm1 * y[r], y + r, A + (size_t)r * k + r, k - r);
  }
  rc = lt__chol_solve(A, b, out, k, scratch);

cleanup:
  free(A);
  free(scratch);
  return rc;
}

int lt_ials_score(const lt_ials_t *m, const float *x, const uint32_t *items, size_t n, float *out) {
  if (!m || !x || !out) return LT_EINVAL;
  const lt__kern_t *K = lt__kern();
  const uint32_t k = m->k;
  if (!items) {
    for (uint32_t j = 0; j < m->nitems; j++)
      out[j] = K->dot(x, m->V + (size_t)j * k, k);
    return 0;
  }
  for (size_t j = 0; j < n; j++)
    out[j] = items[j] < m->nitems ? K->dot(x, m->V + (size_t)items[j] * k, k) : -INFINITY;
  return 0;
}

/* ---- persistence ---- */

/* Writes p[0..n) whole, adding it to the checksum st (may be NULL). */
static int write_hashed(int fd, const void *p, size_t n, XXH3_state_t *st) {
  if (st) XXH3_64bits_update(st, p, n);
  return lt_write_all(fd, p, n);
}

static int read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return LT_EIO;
    }
    if (r == 0) return LT_ECORRUPT; /* shorter than its header says */
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

int lt_ials_save(const lt_ials_t *m, const char *path) {
  if (!m || !path || strlen(path) > 4000) return LT_EINVAL;
  char tmp[4096 + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  int rc = 0, fd = -1;
  XXH3_state_t *st = XXH3_createState();
  if (!st) return LT_ENOMEM;
  XXH3_64bits_reset(st);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  unsigned char hdr[IALS_HDR];
  memcpy(hdr, IALS_MAGIC, 8);
  uint32_t f[6] = {IALS_VERSION, m->k, m->nusers, m->nitems, 0, 0};
  memcpy(&f[4], &m->alpha, 4);
  memcpy(&f[5], &m->lambda, 4);
  memcpy(hdr + 8, f, sizeof f);
  if ((rc = write_hashed(fd, hdr, sizeof hdr, st))) goto cleanup;
  if ((rc = write_hashed(fd, m->U, (size_t)m->nusers * m->k * sizeof(float), st))) goto cleanup;
  if ((rc = write_hashed(fd, m->V, (size_t)m->nitems * m->k * sizeof(float), st))) goto cleanup;
  uint64_t sum = XXH3_64bits_digest(st);
  if ((rc = write_hashed(fd, &sum, sizeof sum, NULL))) goto cleanup;
  if (fsync(fd)) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  if (close(fd)) {
    fd = -1;
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  fd = -1;
  if (rename(tmp, path)) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  rc = lt_fsync_parent(path);

cleanup:
  if (fd >= 0) close(fd);
  if (rc) unlink(tmp);
  XXH3_freeState(st);
  return rc;
}

int lt_ials_load(const char *path, lt_ials_t **out) {
  if (!path || !out) return LT_EINVAL;
  *out = NULL;
  int rc = LT_ECORRUPT;
  lt_ials_t *m = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LT_ENOTFOUND : lt_err_from_errno(errno);
  struct stat sb;
  if (fstat(fd, &sb)) {
    rc = LT_EIO;
    goto cleanup;
  }
  unsigned char hdr[IALS_HDR];
  if ((uint64_t)sb.st_size < IALS_HDR + 8) goto cleanup;
  if ((rc = read_all(fd, hdr, sizeof hdr))) goto cleanup;
  rc = LT_ECORRUPT;
  if (memcmp(hdr, IALS_MAGIC, 8)) goto cleanup;
  uint32_t f[6];
  memcpy(f, hdr + 8, sizeof f);
  if (f[0] != IALS_VERSION) {
    rc = f[0] > IALS_VERSION ? LT_EVERSION : LT_ECORRUPT;
    goto cleanup;
  }
  uint32_t k = f[1], nusers = f[2], nitems = f[3];
  if (k == 0 || k > LT_IALS_MAX_K) goto cleanup;
  uint64_t want = IALS_HDR + 8 + 4ull * k * ((uint64_t)nusers + nitems);
  if ((uint64_t)sb.st_size != want) goto cleanup;
  float alpha, lambda;
  memcpy(&alpha, &f[4], 4);
  memcpy(&lambda, &f[5], 4);
  if (!isfinite(alpha) || alpha < 0 || !isfinite(lambda) || lambda < 0) goto cleanup;
  m = model_alloc(k, nusers, nitems);
  if (!m) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  m->alpha = alpha;
  m->lambda = lambda;
  size_t nu = (size_t)nusers * k * sizeof(float), ni = (size_t)nitems * k * sizeof(float);
  uint64_t sum;
  if ((rc = read_all(fd, m->U, nu)) || (rc = read_all(fd, m->V, ni)) ||
      (rc = read_all(fd, &sum, sizeof sum)))
    goto cleanup;
  rc = LT_ECORRUPT;
  XXH3_state_t *st = XXH3_createState();
  if (!st) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, hdr, sizeof hdr);
  XXH3_64bits_update(st, m->U, nu);
  XXH3_64bits_update(st, m->V, ni);
  uint64_t got = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (got != sum) goto cleanup;
  for (size_t i = 0; i < (size_t)nusers * k; i++)
    if (!isfinite(m->U[i])) goto cleanup;
  for (size_t i = 0; i < (size_t)nitems * k; i++)
    if (!isfinite(m->V[i])) goto cleanup;
  gramian(m->V, nitems, k, m->VtV);
  *out = m;
  m = NULL;
  rc = 0;

cleanup:
  close(fd);
  lt_ials_free(m);
  return rc;
}
