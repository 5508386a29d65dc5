/*
 * intern.c — string interning with lock-free readers (see intern.h).
 *
 * Layout:
 *  - strings: a chunkvec of bytes is awkward, so strings are packed into
 *    1 MiB blocks that never move; each entry is [len u8][bytes][NUL].
 *  - refs: chunkvec of const char* (id -> entry start).
 *  - table: array of uint64 slots, (hash32 << 32) | (id + 1), 0 = empty,
 *    linear probing, load <= 0.5. On growth a new table is built and
 *    published with a release store; the old one joins a retired list that
 *    is freed in lt_intern_free (total retired <= the live table's size).
 *
 * Invariants:
 *  1. a slot is written (release) only after refs[id] and the string bytes;
 *  2. count is published after the slot, so find() never sees an id whose
 *     string is not readable.
 */
#include "core/intern.h"

#include "core/chunkvec.h"
#include "core/error.h"
#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES (1u << 20)

typedef struct table {
  uint64_t *slots;
  size_t cap;
  struct table *retired; /* older tables, freed at the end */
} table_t;

struct lt_intern {
  table_t *table; /* atomic pointer */
  lt_chunkvec_t refs; /* const char* per id */
  uint32_t count;     /* atomic */
  char **blocks;
  size_t nblocks, blocks_cap, block_used;
};

int lt_intern_new(lt_intern_t **out) {
  lt_intern_t *t = calloc(1, sizeof *t);
  table_t *tab = calloc(1, sizeof *tab);
  if (!t || !tab) goto fail;
  tab->cap = 1024;
  tab->slots = calloc(tab->cap, sizeof *tab->slots);
  if (!tab->slots) goto fail;
  if (lt_cv_init(&t->refs, sizeof(const char *))) goto fail;
  t->table = tab;
  t->block_used = BLOCK_BYTES; /* forces a block on first put */
  *out = t;
  return LT_OK;
fail:
  if (tab) free(tab->slots);
  free(tab);
  if (t) lt_cv_free(&t->refs);
  free(t);
  return LT_ENOMEM;
}

void lt_intern_free(lt_intern_t *t) {
  if (!t) return;
  table_t *tab = t->table;
  while (tab) {
    table_t *next = tab->retired;
    free(tab->slots);
    free(tab);
    tab = next;
  }
  for (size_t i = 0; i < t->nblocks; i++) free(t->blocks[i]);
  free(t->blocks);
  lt_cv_free(&t->refs);
  free(t);
}

static const char *entry_of(const lt_intern_t *t, uint32_t id) {
  return *(const char *const *)lt_cv_at(&t->refs, id);
}

static int entry_eq(const char *e, const char *s, size_t n) {
  return (unsigned char)e[0] == n && memcmp(e + 1, s, n) == 0;
}

int lt_intern_find(const lt_intern_t *t, const char *s, size_t n, uint32_t *id) {
  if (n == 0 || n > LT_ID_MAX) return LT_ENOTFOUND;
  uint64_t h = lt_hash64(s, n);
  uint32_t tag = (uint32_t)(h >> 32);
  const table_t *tab = __atomic_load_n(&t->table, __ATOMIC_ACQUIRE);
  size_t mask = tab->cap - 1, i = h & mask;
  for (;;) {
    uint64_t slot = __atomic_load_n(&tab->slots[i], __ATOMIC_ACQUIRE);
    if (!slot) return LT_ENOTFOUND;
    if ((uint32_t)(slot >> 32) == tag) {
      uint32_t cand = (uint32_t)slot - 1;
      if (entry_eq(entry_of(t, cand), s, n)) {
        *id = cand;
        return LT_OK;
      }
    }
    i = (i + 1) & mask;
  }
}

void lt_intern_prefetch(const lt_intern_t *t, const char *s, size_t n, int step) {
  if (n == 0 || n > LT_ID_MAX) return;
  uint64_t h = lt_hash64(s, n);
  uint32_t tag = (uint32_t)(h >> 32);
  const table_t *tab = __atomic_load_n(&t->table, __ATOMIC_ACQUIRE);
  size_t mask = tab->cap - 1, i = h & mask;
  if (step == 0) {
    __builtin_prefetch(&tab->slots[i]);
    return;
  }
  for (;; i = (i + 1) & mask) {
    uint64_t slot = __atomic_load_n(&tab->slots[i], __ATOMIC_ACQUIRE);
    if (!slot) return;
    if ((uint32_t)(slot >> 32) != tag) continue;
    uint32_t cand = (uint32_t)slot - 1;
    if (step == 1) __builtin_prefetch(lt_cv_at(&t->refs, cand));
    else __builtin_prefetch(entry_of(t, cand));
  }
}

static void place(table_t *tab, uint64_t h, uint64_t slot) {
  size_t mask = tab->cap - 1, i = h & mask;
  while (tab->slots[i]) i = (i + 1) & mask;
  __atomic_store_n(&tab->slots[i], slot, __ATOMIC_RELEASE);
}

static int grow_table(lt_intern_t *t) {
  table_t *old = t->table, *tab = calloc(1, sizeof *tab);
  if (!tab) return LT_ENOMEM;
  tab->cap = old->cap * 2;
  tab->slots = calloc(tab->cap, sizeof *tab->slots);
  if (!tab->slots) {
    free(tab);
    return LT_ENOMEM;
  }
  for (uint32_t id = 0; id < t->count; id++) {
    const char *e = entry_of(t, id);
    uint64_t h = lt_hash64(e + 1, (unsigned char)e[0]);
    place(tab, h, ((h >> 32) << 32) | (uint64_t)(id + 1));
  }
  tab->retired = old;
  __atomic_store_n(&t->table, tab, __ATOMIC_RELEASE);
  return LT_OK;
}

static char *alloc_entry(lt_intern_t *t, size_t need) {
  if (t->block_used + need > BLOCK_BYTES) {
    if (t->nblocks == t->blocks_cap) {
      size_t cap = t->blocks_cap ? t->blocks_cap * 2 : 16;
      char **b = realloc(t->blocks, cap * sizeof *b);
      if (!b) return NULL;
      t->blocks = b;
      t->blocks_cap = cap;
    }
    char *blk = malloc(BLOCK_BYTES);
    if (!blk) return NULL;
    t->blocks[t->nblocks++] = blk;
    t->block_used = 0;
  }
  char *e = t->blocks[t->nblocks - 1] + t->block_used;
  t->block_used += need;
  return e;
}

int lt_intern_put(lt_intern_t *t, const char *s, size_t n, uint32_t *id, int *created) {
  if (n == 0 || n > LT_ID_MAX) return LT_EINVAL;
  if (lt_intern_find(t, s, n, id) == LT_OK) {
    if (created) *created = 0;
    return LT_OK;
  }
  if (t->count == UINT32_MAX - 1) return LT_ETOOBIG;
  if ((size_t)(t->count + 1) * 2 > t->table->cap) {
    int rc = grow_table(t);
    if (rc) return rc;
  }
  uint32_t nid = t->count;
  int rc = lt_cv_reserve(&t->refs, nid + 1);
  if (rc) return rc;
  char *e = alloc_entry(t, n + 2);
  if (!e) return LT_ENOMEM;
  e[0] = (char)(unsigned char)n;
  memcpy(e + 1, s, n);
  e[n + 1] = 0;
  *(const char **)lt_cv_at(&t->refs, nid) = e;
  lt_cv_resize(&t->refs, nid + 1);
  uint64_t h = lt_hash64(s, n);
  place(t->table, h, ((h >> 32) << 32) | (uint64_t)(nid + 1));
  __atomic_store_n(&t->count, nid + 1, __ATOMIC_RELEASE);
  *id = nid;
  if (created) *created = 1;
  return LT_OK;
}

const char *lt_intern_str(const lt_intern_t *t, uint32_t id, size_t *n) {
  if (id >= lt_intern_count(t)) return NULL;
  const char *e = entry_of(t, id);
  if (n) *n = (unsigned char)e[0];
  return e + 1;
}

uint32_t lt_intern_count(const lt_intern_t *t) { return __atomic_load_n(&t->count, __ATOMIC_ACQUIRE); }

size_t lt_intern_bytes(const lt_intern_t *t) {
  size_t b = t->nblocks * (size_t)BLOCK_BYTES + lt_cv_bytes(&t->refs);
  for (const table_t *tab = t->table; tab; tab = tab->retired) b += tab->cap * sizeof(uint64_t);
  return b;
}
