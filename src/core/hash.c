/*
 * hash.c — XXH3 wrappers and the u64 open-addressing map (see hash.h).
 *
 * Invariants of lt_u64map_t:
 *  1. cap is 0 or a power of two; len * 2 <= cap after every upsert.
 *  2. a key lives at the first empty-free run starting at mix(key) & (cap-1);
 *     there are no deletions, so probing stops at the first empty slot.
 */
#include "core/hash.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t lt_hash64(const void *p, size_t n) { return XXH3_64bits(p, n); }
uint64_t lt_hash64_seed(const void *p, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(p, n, seed);
}
uint32_t lt_hash32(const void *p, size_t n) { return (uint32_t)XXH3_64bits(p, n); }

void lt_u64map_init(lt_u64map_t *m) { memset(m, 0, sizeof *m); }

void lt_u64map_clear(lt_u64map_t *m) {
  if (!m) return;
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

uint64_t *lt_u64map_get(const lt_u64map_t *m, uint64_t key) {
  if (!m->cap) return NULL;
  size_t mask = m->cap - 1, i = lt_mix64(key) & mask;
  for (;;) {
    uint64_t k = m->keys[i];
    if (k == key) return &m->vals[i];
    if (!k) return NULL;
    i = (i + 1) & mask;
  }
}

static int grow(lt_u64map_t *m, size_t cap) {
  uint64_t *keys = calloc(cap, sizeof *keys), *vals = malloc(cap * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return LT_ENOMEM;
  }
  size_t mask = cap - 1;
  for (size_t j = 0; j < m->cap; j++) {
    uint64_t k = m->keys[j];
    if (!k) continue;
    size_t i = lt_mix64(k) & mask;
    while (keys[i]) i = (i + 1) & mask;
    keys[i] = k;
    vals[i] = m->vals[j];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return LT_OK;
}

int lt_u64map_reserve(lt_u64map_t *m, size_t n) {
  size_t cap = m->cap ? m->cap : 16;
  while (cap < n * 2) cap *= 2;
  return cap == m->cap ? LT_OK : grow(m, cap);
}

int lt_u64map_upsert(lt_u64map_t *m, uint64_t key, uint64_t **out, int *created) {
  if ((m->len + 1) * 2 > m->cap) {
    int rc = grow(m, m->cap ? m->cap * 2 : 16);
    if (rc) return rc;
  }
  size_t mask = m->cap - 1, i = lt_mix64(key) & mask;
  for (;;) {
    uint64_t k = m->keys[i];
    if (k == key) {
      if (created) *created = 0;
      *out = &m->vals[i];
      return LT_OK;
    }
    if (!k) break;
    i = (i + 1) & mask;
  }
  m->keys[i] = key;
  m->vals[i] = 0;
  m->len++;
  if (created) *created = 1;
  *out = &m->vals[i];
  return LT_OK;
}
