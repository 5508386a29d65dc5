/*
 * chunkvec.c — growable arrays with stable element addresses (chunkvec.h).
 * Chunks are allocated zeroed and never freed before lt_cv_free, which is
 * what lets readers index them without locks.
 */
#include "core/chunkvec.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

int lt_cv_init(lt_chunkvec_t *v, size_t elt) {
  memset(v, 0, sizeof *v);
  v->elt = elt;
  v->dir = calloc(LT_CV_DIR, sizeof *v->dir);
  return v->dir ? LT_OK : LT_ENOMEM;
}

void lt_cv_free(lt_chunkvec_t *v) {
  if (!v || !v->dir) return;
  for (uint32_t c = 0; c < v->nchunks; c++) free(v->dir[c]);
  free(v->dir);
  memset(v, 0, sizeof *v);
}

int lt_cv_reserve(lt_chunkvec_t *v, uint32_t n) {
  uint32_t need = (uint32_t)(((uint64_t)n + LT_CV_CHUNK - 1) >> LT_CV_SHIFT);
  if (need > LT_CV_DIR) return LT_ETOOBIG;
  while (v->nchunks < need) {
    unsigned char *c = calloc(LT_CV_CHUNK, v->elt);
    if (!c) return LT_ENOMEM;
    __atomic_store_n(&v->dir[v->nchunks], c, __ATOMIC_RELEASE);
    v->nchunks++;
  }
  return LT_OK;
}

int lt_cv_resize(lt_chunkvec_t *v, uint32_t n) {
  int rc = lt_cv_reserve(v, n);
  if (rc) return rc;
  if (n > v->len) __atomic_store_n(&v->len, n, __ATOMIC_RELEASE);
  return LT_OK;
}

size_t lt_cv_bytes(const lt_chunkvec_t *v) { return (size_t)v->nchunks * LT_CV_CHUNK * v->elt; }
