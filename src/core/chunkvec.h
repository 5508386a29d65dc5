/*
 * chunkvec.h — a growable array whose elements never move.
 *
 * Elements live in chunks of LT_CV_CHUNK elements, found through a fixed
 * directory, so a pointer to an element stays valid for the life of the
 * vector and readers on other threads can index published elements without
 * a lock while one writer appends (single writer, many readers).
 *
 * Invariants:
 *  1. elements [0, len) are initialised (zeroed on growth, then written);
 *  2. len is published with a release store after the element is written,
 *     read with an acquire load (lt_cv_len), so a reader that sees len > i
 *     sees element i's initial contents.
 *  3. capacity is LT_CV_CHUNK * LT_CV_DIR elements (268M).
 */
#ifndef LT_CORE_CHUNKVEC_H
#define LT_CORE_CHUNKVEC_H

#include <stddef.h>
#include <stdint.h>

#define LT_CV_SHIFT 16
#define LT_CV_CHUNK (1u << LT_CV_SHIFT)
#define LT_CV_DIR 4096u

typedef struct lt_chunkvec {
  unsigned char **dir; /* LT_CV_DIR chunk pointers */
  size_t elt;          /* element size in bytes */
  uint32_t len;        /* published length (atomic) */
  uint32_t nchunks;
} lt_chunkvec_t;

int lt_cv_init(lt_chunkvec_t *v, size_t elt);
void lt_cv_free(lt_chunkvec_t *v);
/* Writer: makes sure elements [0, n) exist (zeroed), without publishing. */
int lt_cv_reserve(lt_chunkvec_t *v, uint32_t n);
/* Writer: grows to n elements (zeroed) and publishes len = n. */
int lt_cv_resize(lt_chunkvec_t *v, uint32_t n);
static inline uint32_t lt_cv_len(const lt_chunkvec_t *v) {
  return __atomic_load_n(&v->len, __ATOMIC_ACQUIRE);
}
/* Element i (i < reserved capacity). */
static inline void *lt_cv_at(const lt_chunkvec_t *v, uint32_t i) {
  return v->dir[i >> LT_CV_SHIFT] + (size_t)(i & (LT_CV_CHUNK - 1)) * v->elt;
}
/* Bytes held by the chunks. */
size_t lt_cv_bytes(const lt_chunkvec_t *v);

#endif
