/*
 * hash.h — hashing (XXH3 from libxxhash) and an open-addressing map from
 * 64-bit keys to 64-bit values.
 *
 * lt_u64map_t: linear probing, power-of-two capacity, load factor <= 0.5.
 * Key 0 is reserved as "empty"; callers that may produce 0 keys go through
 * lt_u64map_key() which remaps 0. Not thread-safe: the owner serialises.
 */
#ifndef LT_CORE_HASH_H
#define LT_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t lt_hash64(const void *p, size_t n);
uint64_t lt_hash64_seed(const void *p, size_t n, uint64_t seed);
uint32_t lt_hash32(const void *p, size_t n);

/* A 64-bit mix (splitmix64 finaliser): for integer keys. */
static inline uint64_t lt_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

typedef struct lt_u64map {
  uint64_t *keys; /* 0 = empty */
  uint64_t *vals;
  size_t cap;     /* power of two, or 0 */
  size_t len;
} lt_u64map_t;

/* Remaps the reserved key 0 to a fixed non-zero key. */
static inline uint64_t lt_u64map_key(uint64_t k) { return k ? k : 0x9e3779b97f4a7c15ULL; }

void lt_u64map_init(lt_u64map_t *m);
void lt_u64map_clear(lt_u64map_t *m); /* frees storage; map stays usable */
/* Finds key; returns a pointer to its value or NULL. Valid until next put. */
uint64_t *lt_u64map_get(const lt_u64map_t *m, uint64_t key);
/* Inserts key if absent (value 0) and returns a pointer to its value in *out.
 * *created is set to 1 when inserted. Returns 0 or LT_ENOMEM. */
int lt_u64map_upsert(lt_u64map_t *m, uint64_t key, uint64_t **out, int *created);
int lt_u64map_reserve(lt_u64map_t *m, size_t n);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) ... */

#endif
