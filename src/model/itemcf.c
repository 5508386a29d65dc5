/*
 * itemcf.c — co-watch item similarity with bounded per-item counters
 * (see itemcf.h).
 *
 * In memory:
 *   items    a chunkvec (elements never move, so readers index it without
 *            a lock while the writer appends) of one item_t per item id:
 *              seq  the item's sequence lock: odd while the writer is
 *                   changing the item;
 *              n    users who watched the item (uint32);
 *              t    the item's table, NULL before its first pair: an
 *                   open-addressing table (linear probing, power-of-two
 *                   slots, load <= 1/2) of 64-bit words, partner id in the
 *                   low half (EMPTY = a free slot) and c_ij in the high
 *                   half; allocated on the first pair, doubling up to
 *                   slots_max = pow2 >= 2 * capacity; its slot count is in
 *                   its own header, so a pointer is all a reader needs;
 *              p    its prior count (itemcf.h: counting on top of a base);
 *              len, lo  (writer only) entries in use, and a count no
 *                   entry is below (lets an eviction stop at the first
 *                   smallest counter instead of scanning every slot; the
 *                   table's `ev` is where the next search starts);
 *   garbage  tables that were replaced by a larger one (a reader may still
 *            be scanning one); freed with the model. Tables double, so
 *            the garbage never outweighs the live tables.
 * Invariants:
 *   1. len <= capacity and len <= cap / 2;
 *   2. every key sits in the probe run starting at its home slot (removal
 *      is by backward shift, so there are no tombstones);
 *   3. no table holds its own item as a key; counts are >= 1 and >= lo;
 *   4. an item's seq is even whenever no change of that item is under way,
 *      and every change of n, t or a slot happens between two increments.
 * Without evictions the tables are symmetric (c_ij == c_ji); an eviction
 * forgets a pair on one side only, which is why neighbours are read from
 * the queried item's own table.
 *
 * State changes: lt_itemcf_observe bumps counters one pair at a time
 * (count, insert, or Space-Saving eviction when a table is full).
 * lt_itemcf_build counts exactly with a dense per-thread accumulator —
 * for item i, walk its users and their items, O(sum over users of n_u^2)
 * in total — then keeps each item's `capacity` most similar partners.
 *
 * Concurrency: one writer, any number of readers (lt_itemcf_neighbors,
 * lt_itemcf_neighbors_over, lt_itemcf_count), no locks. The writer changes an item inside a
 * sequence-lock section: store seq + 1 (odd), the changes as release
 * stores (a slot is one word, so no single slot is ever torn), store
 * seq + 2 with release. A reader loads seq (acquire), skips an odd value,
 * reads the table pointer, n and the slots with acquire loads, and loads
 * seq again: if it read any value stored inside a later change, the
 * release/acquire pair makes that change's odd seq visible to its second
 * load, so the same even value twice means every slot it read belongs to
 * one state of the item; anything else means the writer was there, and it
 * starts over — at most TRIES times,
 * then it gives up with LT_EBUSY (only possible when the writer is
 * descheduled inside a section). A reader therefore never waits on the
 * writer and never returns a torn list. (Acquire loads instead of the
 * classic relaxed loads and fences: the same on x86, and ThreadSanitizer
 * understands them.) Why a sequence lock rather than
 * copy-on-write lists swapped by pointer: a positive event bumps 2 x
 * window counters in as many tables; a copy per touched table would cost
 * O(capacity) bytes and an allocation per counter and a grace period
 * before each old copy may be freed, where the sequence lock costs the
 * writer two stores per table and costs readers a retry only when they
 * meet the writer on the same item. Memory reclamation is left for the
 * tables that grow (kept in `garbage` until lt_itemcf_free: the owner
 * frees the model once no reader holds it, see model/cowatch.c).
 */
#include "model/itemcf.h"

#include "core/chunkvec.h"
#include "core/error.h"
#include "core/hash.h"
#include "model/linalg.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY UINT32_MAX
#define S_EMPTY ((uint64_t)EMPTY)
#define MAX_CAPACITY (1u << 20)
#define TRIES 32 /* a reader's attempts at a consistent read of one item */

typedef struct tmem {
  struct tmem *next; /* in the garbage list, once replaced */
  uint32_t cap;      /* slots: a power of two; written before publication */
  uint32_t ev;       /* writer only: where the next eviction search starts */
  uint32_t *e;       /* per slot, the count inherited at an eviction (Space-
                        Saving's error); NULL until the table's first eviction
                        (atomic pointer, atomic entries) */
  uint32_t hi;       /* no count is above it (atomic; lets a reader skip the
                        scan of a table that cannot change its answer) */
  uint32_t pad;
  uint64_t s[]; /* key | count << 32 */
} tmem_t;

typedef struct item {
  uint32_t seq, n; /* atomic (readers) */
  tmem_t *t;       /* atomic pointer */
  uint32_t len, lo;
  uint32_t p; /* prior count (lt_itemcf_set_prior); atomic */
} item_t;

struct lt_itemcf {
  lt_chunkvec_t items; /* item_t by id; its len is the model's nitems */
  uint32_t capacity, slots_max;
  float shrink;
  size_t table_bytes; /* live tables and garbage */
  tmem_t *garbage;
};

static inline uint32_t s_key(uint64_t w) { return (uint32_t)w; }
static inline uint32_t s_cnt(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t s_make(uint32_t key, uint32_t cnt) { return (uint64_t)cnt << 32 | key; }

static inline item_t *item_at(const lt_itemcf_t *cf, uint32_t i) { return lt_cv_at(&cf->items, i); }

/* N = prior + n, saturating; any thread (acquire: a reader of the item
 * under its sequence lock must see the odd seq of a change it reads). */
static inline uint32_t support_of(const item_t *it) {
  uint64_t v = (uint64_t)__atomic_load_n(&it->p, __ATOMIC_ACQUIRE) +
               __atomic_load_n(&it->n, __ATOMIC_ACQUIRE);
  return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void lt_itemcf_opts_default(lt_itemcf_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->capacity = 200;
  o->max_user_items = 5000;
  o->shrink = 0;
  o->threads = 0;
}

static int opts_read(const lt_itemcf_opts_t *opts, lt_itemcf_opts_t *o) {
  if (opts)
    *o = *opts;
  else
    lt_itemcf_opts_default(o);
  if (o->capacity == 0 || o->capacity > MAX_CAPACITY) return LT_EINVAL;
  if (!isfinite(o->shrink) || o->shrink < 0) return LT_EINVAL;
  return 0;
}

/* Space-Saving counts can overestimate; a pair is never co-watched more
 * often than either item is watched, so the count is clamped to that. */
static float pair_sim(uint32_t c, uint32_t ni, uint32_t nj, float shrink) {
  if (c > ni) c = ni;
  if (c > nj) c = nj;
  double d = sqrt((double)ni * (double)nj) + shrink;
  return d > 0 ? (float)(c / d) : 0.0f;
}

/* a ranks before b: larger similarity, then smaller id */
static int nb_better(const lt_itemcf_nb_t *a, const lt_itemcf_nb_t *b) {
  return a->sim > b->sim || (a->sim == b->sim && a->item < b->item);
}

/* ---- a bounded "best max" selection: a heap whose root is the worst kept ---- */

static void heap_sift_down(lt_itemcf_nb_t *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && nb_better(&h[w], &h[l])) w = l;
    if (r < n && nb_better(&h[w], &h[r])) w = r;
    if (w == i) return;
    lt_itemcf_nb_t t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

static void heap_offer(lt_itemcf_nb_t *h, size_t *n, size_t max, lt_itemcf_nb_t x) {
  if (*n < max) {
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!nb_better(&h[p], &h[i])) break;
      lt_itemcf_nb_t t = h[i];
      h[i] = h[p];
      h[p] = t;
      i = p;
    }
  } else if (max > 0 && nb_better(&x, &h[0])) {
    h[0] = x;
    heap_sift_down(h, *n, 0);
  }
}

/* Sorts the heap best-first in place. */
static void heap_sort_best_first(lt_itemcf_nb_t *h, size_t n) {
  for (size_t end = n; end > 1; end--) {
    lt_itemcf_nb_t t = h[0];
    h[0] = h[end - 1];
    h[end - 1] = t;
    heap_sift_down(h, end - 1, 0);
  }
  /* the worst went to the back each time: h is now best-first */
}

/* ---- per-item tables (writer side) ---- */

static inline uint32_t home(uint32_t key, uint32_t mask) { return (uint32_t)lt_mix64(key) & mask; }

/* Release stores: a reader that sees a slot (or n) written inside a
 * change also sees the odd seq that opened it. */
static inline void slot_set(tmem_t *t, uint32_t i, uint64_t w) {
  __atomic_store_n(&t->s[i], w, __ATOMIC_RELEASE);
  if (s_key(w) != EMPTY && s_cnt(w) > t->hi) __atomic_store_n(&t->hi, s_cnt(w), __ATOMIC_RELEASE);
}

static inline void err_set(tmem_t *t, uint32_t i, uint32_t e) {
  if (t->e) __atomic_store_n(&t->e[i], e, __ATOMIC_RELEASE);
}

static inline uint32_t err_at(const tmem_t *t, uint32_t i) { return t->e ? t->e[i] : 0; }

/* Reader side: the certain count of slot word w at i (count - error);
 * e is the table's error array as loaded, or NULL. */
static inline uint32_t r_count(const uint32_t *e, uint32_t i, uint64_t w) {
  uint32_t c = s_cnt(w), err = e ? __atomic_load_n(&e[i], __ATOMIC_ACQUIRE) : 0;
  return c > err ? c - err : 0; /* err > c only in a torn read, which is retried */
}

/* Opens and closes a change of one item (the sequence lock). */
static void w_begin(item_t *it) { __atomic_store_n(&it->seq, it->seq + 1, __ATOMIC_RELAXED); }

static void w_end(item_t *it) { __atomic_store_n(&it->seq, it->seq + 1, __ATOMIC_RELEASE); }

static size_t tmem_size(uint32_t cap) { return sizeof(tmem_t) + (size_t)cap * sizeof(uint64_t); }

/* An empty table of cap slots (the caller counts its bytes). */
static tmem_t *tmem_new(uint32_t cap) {
  tmem_t *t = malloc(tmem_size(cap));
  if (!t) return NULL;
  t->next = NULL;
  t->cap = cap;
  t->ev = 0;
  t->e = NULL;
  t->hi = 0;
  t->pad = 0;
  for (uint32_t i = 0; i < cap; i++)
    t->s[i] = S_EMPTY;
  return t;
}

/* Inserts a key known to be absent into t (which has room, invariant 1),
 * with its error (t->e must exist when err > 0). */
static void tab_put(tmem_t *t, uint32_t key, uint32_t cnt, uint32_t err) {
  uint32_t mask = t->cap - 1;
  uint32_t h = home(key, mask);
  while (s_key(t->s[h]) != EMPTY)
    h = (h + 1) & mask;
  slot_set(t, h, s_make(key, cnt));
  err_set(t, h, err);
}

static void tmem_free(tmem_t *t) {
  if (t) free(t->e);
  free(t);
}

/* Gives item `it` a table of cap slots with its entries; the old one
 * becomes garbage (a reader may be scanning it). Inside a change of it. */
static int tab_resize(lt_itemcf_t *cf, item_t *it, uint32_t cap) {
  tmem_t *nt = tmem_new(cap), *old = it->t;
  if (!nt) return LT_ENOMEM;
  __atomic_add_fetch(&cf->table_bytes, tmem_size(cap), __ATOMIC_RELAXED);
  if (old && old->e) {
    if (!(nt->e = calloc(cap, sizeof *nt->e))) {
      free(nt);
      return LT_ENOMEM;
    }
    __atomic_add_fetch(&cf->table_bytes, (size_t)cap * sizeof *nt->e, __ATOMIC_RELAXED);
  }
  for (uint32_t i = 0; old && i < old->cap; i++)
    if (s_key(old->s[i]) != EMPTY) tab_put(nt, s_key(old->s[i]), s_cnt(old->s[i]), err_at(old, i));
  __atomic_store_n(&it->t, nt, __ATOMIC_RELEASE);
  if (old) {
    old->next = cf->garbage;
    cf->garbage = old;
  }
  return 0;
}

/* The slot of key in t, or -1. */
static int64_t tab_find(const tmem_t *t, uint32_t key) {
  if (!t) return -1;
  uint32_t mask = t->cap - 1;
  for (uint32_t h = home(key, mask);; h = (h + 1) & mask) {
    if (s_key(t->s[h]) == key) return h;
    if (s_key(t->s[h]) == EMPTY) return -1;
  }
}

/* Removes the slot at i by backward shift (invariant 2). */
static void tab_remove_at(tmem_t *t, uint32_t i) {
  uint32_t mask = t->cap - 1;
  for (uint32_t j = (i + 1) & mask; s_key(t->s[j]) != EMPTY; j = (j + 1) & mask) {
    uint32_t h = home(s_key(t->s[j]), mask);
    /* the entry at j may move to i unless its home lies cyclically in (i, j] */
    int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!stays) {
      slot_set(t, i, t->s[j]);
      err_set(t, i, err_at(t, j));
      i = j;
    }
  }
  slot_set(t, i, S_EMPTY);
  err_set(t, i, 0);
}

/* c(item, key) += 1, with Space-Saving eviction when the table is full.
 * Inside a change of it. */
static int tab_bump(lt_itemcf_t *cf, item_t *it, uint32_t key) {
  tmem_t *t = it->t;
  int64_t at = tab_find(t, key);
  if (at >= 0) {
    uint32_t c = s_cnt(t->s[at]);
    if (c < UINT32_MAX) slot_set(t, (uint32_t)at, s_make(key, c + 1));
    return 0;
  }
  if (it->len < cf->capacity) {
    uint32_t cap = t ? t->cap : 0;
    if ((it->len + 1) * 2 > cap) {
      uint32_t want = cap ? cap * 2 : 8;
      if (want > cf->slots_max) want = cf->slots_max;
      if (want > cap) {
        int rc = tab_resize(cf, it, want);
        if (rc) return rc;
      }
    }
    tab_put(it->t, key, 1, 0);
    it->len++;
    it->lo = 1;
    return 0;
  }
  /* evict a smallest counter; none is below lo, so the first at lo will
   * do. The search goes on from where the last one stopped: the counters
   * at lo are found in one sweep instead of one scan from slot 0 each. */
  uint32_t mask = t->cap - 1, mi = EMPTY, mc = UINT32_MAX;
  for (uint32_t k = 0, i = t->ev & mask; k < t->cap && mc > it->lo; k++, i = (i + 1) & mask) {
    uint64_t w = t->s[i];
    if (s_key(w) != EMPTY && s_cnt(w) < mc) mc = s_cnt(w), mi = i;
  }
  if (!t->e) {
    uint32_t *e = calloc(t->cap, sizeof *e);
    if (!e) return LT_ENOMEM;
    __atomic_add_fetch(&cf->table_bytes, (size_t)t->cap * sizeof *e, __ATOMIC_RELAXED);
    __atomic_store_n(&t->e, e, __ATOMIC_RELEASE);
  }
  it->lo = mc;
  t->ev = mi + 1;
  tab_remove_at(t, mi);
  /* the newcomer inherits the evicted count (so a real heavy hitter that
   * arrives late can stay) and records it as its error: c - e co-watches
   * are certain, and the similarities use that */
  tab_put(t, key, mc < UINT32_MAX ? mc + 1 : mc, mc);
  return 0;
}

/* ---- the model ---- */

static int cf_grow(lt_itemcf_t *cf, uint32_t nitems) {
  if (nitems <= lt_cv_len(&cf->items)) return 0;
  return lt_cv_resize(&cf->items, nitems);
}

int lt_itemcf_new(uint32_t nitems, const lt_itemcf_opts_t *opts, lt_itemcf_t **out) {
  if (!out) return LT_EINVAL;
  *out = NULL;
  lt_itemcf_opts_t o;
  int rc = opts_read(opts, &o);
  if (rc) return rc;
  if (nitems == UINT32_MAX) return LT_EINVAL;
  lt_itemcf_t *cf = calloc(1, sizeof *cf);
  if (!cf) return LT_ENOMEM;
  cf->capacity = o.capacity;
  cf->shrink = o.shrink;
  cf->slots_max = 8;
  while (cf->slots_max < 2 * o.capacity)
    cf->slots_max *= 2;
  if ((rc = lt_cv_init(&cf->items, sizeof(item_t))) || (rc = cf_grow(cf, nitems))) {
    lt_itemcf_free(cf);
    return rc;
  }
  *out = cf;
  return 0;
}

void lt_itemcf_free(lt_itemcf_t *cf) {
  if (!cf) return;
  uint32_t n = lt_cv_len(&cf->items);
  for (uint32_t i = 0; i < n; i++)
    tmem_free(item_at(cf, i)->t);
  while (cf->garbage) {
    tmem_t *g = cf->garbage;
    cf->garbage = g->next;
    tmem_free(g);
  }
  lt_cv_free(&cf->items);
  free(cf);
}

int lt_itemcf_observe(lt_itemcf_t *cf, const uint32_t *recent, size_t n, uint32_t new_item) {
  if (!cf || (n && !recent) || new_item == EMPTY) return LT_EINVAL;
  uint32_t top = new_item;
  for (size_t j = 0; j < n; j++) {
    if (recent[j] == EMPTY) return LT_EINVAL;
    if (recent[j] > top) top = recent[j];
  }
  int rc = cf_grow(cf, top + 1);
  if (rc) return rc;
  /* the partners' items and then their tables are random reads: start
   * them all before they are needed */
  for (size_t j = 0; j < n; j++)
    __builtin_prefetch(item_at(cf, recent[j]));
  item_t *a = item_at(cf, new_item);
  /* a's slots for every partner (and their errors): random lines of one
   * table, each otherwise a miss in its turn */
  const tmem_t *ta = a->t;
  for (size_t j = 0; ta && j < n; j++) {
    uint32_t h = home(recent[j], ta->cap - 1);
    __builtin_prefetch(&ta->s[h]);
    if (ta->e) __builtin_prefetch(&ta->e[h]);
  }
  w_begin(a);
  if (a->n < UINT32_MAX) __atomic_store_n(&a->n, a->n + 1, __ATOMIC_RELEASE);
  for (size_t j = 0; j < n && !rc; j++)
    if (recent[j] != new_item) rc = tab_bump(cf, a, recent[j]);
  w_end(a);
  for (size_t j = 0; j < n; j++) {
    const tmem_t *t = item_at(cf, recent[j])->t;
    if (!t) continue;
    uint32_t h = home(new_item, t->cap - 1);
    __builtin_prefetch(&t->s[h]);
    if (t->e) __builtin_prefetch(&t->e[h]);
  }
  for (size_t j = 0; j < n && !rc; j++) {
    if (recent[j] == new_item) continue;
    item_t *b = item_at(cf, recent[j]);
    w_begin(b);
    rc = tab_bump(cf, b, new_item);
    w_end(b);
  }
  return rc;
}

int lt_itemcf_neighbors(const lt_itemcf_t *cf, uint32_t item, lt_itemcf_nb_t *out, size_t max,
                        size_t *nout) {
  if (!cf || !nout || (max && !out)) return LT_EINVAL;
  *nout = 0;
  uint32_t nitems = lt_cv_len(&cf->items);
  if (item >= nitems) return 0;
  const item_t *it = item_at(cf, item);
  for (int tries = 0; tries < TRIES; tries++) {
    uint32_t s1 = __atomic_load_n(&it->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1) continue; /* the writer is changing this item */
    /* the writer grows the items before it opens a change that may add a
     * partner; a key beyond what this reader sees is from a torn read */
    nitems = lt_cv_len(&cf->items);
    uint32_t ni = support_of(it);
    const tmem_t *t = __atomic_load_n(&it->t, __ATOMIC_ACQUIRE);
    const uint32_t *e = t ? __atomic_load_n(&t->e, __ATOMIC_ACQUIRE) : NULL;
    size_t got = 0;
    int torn = 0;
    for (uint32_t i = 0; t && i < t->cap; i++) {
      uint64_t w = __atomic_load_n(&t->s[i], __ATOMIC_ACQUIRE);
      uint32_t j = s_key(w);
      if (j == EMPTY) continue;
      if (j >= nitems) {
        torn = 1;
        break;
      }
      uint32_t c = r_count(e, i, w);
      lt_itemcf_nb_t x = {j, pair_sim(c, ni, support_of(item_at(cf, j)), cf->shrink)};
      heap_offer(out, &got, max, x);
    }
    if (torn || __atomic_load_n(&it->seq, __ATOMIC_RELAXED) != s1) continue;
    heap_sort_best_first(out, got);
    *nout = got;
    return 0;
  }
  return LT_EBUSY;
}

/* ---- serving: an item's counters merged over a base list ---- */

/* Offers x to out[0..*n), kept best first and at most max long: the
 * worst entry falls off the end. O(1) when x is no better than the last,
 * which is the common case for a base list given best first. */
static void ins_offer(lt_itemcf_nb_t *out, size_t *n, size_t max, lt_itemcf_nb_t x) {
  size_t k = *n;
  if (k == max) {
    if (!max || !nb_better(&x, &out[max - 1])) return;
    k = max - 1;
  } else {
    (*n)++;
  }
  for (; k > 0 && nb_better(&x, &out[k - 1]); k--)
    out[k] = out[k - 1];
  out[k] = x;
}

/* The least m with m / (sqrt(ni m) + shrink) >= w, less one for rounding
 * (a bound to skip by, never above the exact one). With x = sqrt(m):
 * x^2 - w sqrt(ni) x - w shrink >= 0. */
static uint64_t min_count(float w, uint32_t ni, float shrink) {
  if (!(w > 0)) return 0;
  double a = (double)w * sqrt((double)ni);
  double x = (a + sqrt(a * a + 4.0 * w * shrink)) / 2;
  double m = floor(x * x) - 1;
  return m > 0 ? (uint64_t)m : 0;
}

/* What one read over a base list knows about the queried item i: the
 * base list, an index of its first BASE_HASHED entries (open addressing,
 * slot = index in base + 1; later entries are searched linearly), and i's
 * counts. */
#define BASE_HASHED 1024
typedef struct over {
  const lt_itemcf_nb_t *base;
  size_t nbase;
  uint16_t h[2 * BASE_HASHED];
  uint32_t hmask;
  uint32_t Ni, pi; /* N_i and its prior part */
  double scale;    /* a listed partner not counted since keeps s_ij x scale */
} over_t;

static void over_index(over_t *o) {
  size_t nh = o->nbase < BASE_HASHED ? o->nbase : BASE_HASHED;
  uint32_t cap = 8;
  while (cap < 2 * nh)
    cap *= 2;
  o->hmask = cap - 1;
  memset(o->h, 0, cap * sizeof o->h[0]);
  for (size_t k = 0; k < nh; k++) {
    uint32_t s = home(o->base[k].item, o->hmask);
    while (o->h[s])
      s = (s + 1) & o->hmask;
    o->h[s] = (uint16_t)(k + 1);
  }
}

/* Index of j in the base list, or -1. */
static int64_t base_find(const over_t *o, uint32_t j) {
  for (uint32_t s = home(j, o->hmask); o->h[s]; s = (s + 1) & o->hmask)
    if (o->base[o->h[s] - 1].item == j) return o->h[s] - 1;
  for (size_t k = BASE_HASHED; k < o->nbase; k++)
    if (o->base[k].item == j) return (int64_t)k;
  return -1;
}

/* The counted part of a pair's similarity: c co-watches of items seen by
 * N_i and N_j users; *d gets sqrt(N_i N_j). */
static double counted_sim(const lt_itemcf_t *cf, uint32_t c, uint32_t Ni, uint32_t Nj, double *d) {
  if (c > Ni) c = Ni;
  if (c > Nj) c = Nj;
  *d = sqrt((double)Ni * (double)Nj);
  return *d > 0 ? c / (*d + cf->shrink) : 0;
}

/* Partner j that the base does not list, counted c times with i. */
static void offer_counted(const lt_itemcf_t *cf, const over_t *o, uint32_t j, uint32_t c,
                          lt_itemcf_nb_t *out, size_t *n, size_t max) {
  double d;
  lt_itemcf_nb_t x = {j, (float)counted_sim(cf, c, o->Ni, support_of(item_at(cf, j)), &d)};
  ins_offer(out, n, max, x);
}

/* base[k], counted c times since: out holds it at its scaled base value
 * (or it fell off the end); the summed value replaces that if larger. */
static void raise_listed(const lt_itemcf_t *cf, const over_t *o, size_t k, uint32_t c,
                         lt_itemcf_nb_t *out, size_t *n, size_t max) {
  const lt_itemcf_nb_t *bk = &o->base[k];
  const item_t *b = item_at(cf, bk->item);
  double d, sim = counted_sim(cf, c, o->Ni, support_of(b), &d);
  if (d > 0) sim += bk->sim * sqrt((double)o->pi * __atomic_load_n(&b->p, __ATOMIC_RELAXED)) / d;
  lt_itemcf_nb_t x = {bk->item, (float)sim};
  if (x.sim <= (float)(bk->sim * o->scale)) return;
  size_t p = 0;
  while (p < *n && out[p].item != x.item)
    p++;
  if (p == *n) {
    ins_offer(out, n, max, x);
    return;
  }
  for (; p > 0 && nb_better(&x, &out[p - 1]); p--)
    out[p] = out[p - 1];
  out[p] = x;
}

/* The slot of key in a table being read (acquire loads), or -1. */
static int64_t r_find(const tmem_t *t, uint32_t key, uint64_t *w) {
  uint32_t mask = t->cap - 1;
  for (uint32_t k = 0, h = home(key, mask); k < t->cap; k++, h = (h + 1) & mask) {
    *w = __atomic_load_n(&t->s[h], __ATOMIC_ACQUIRE);
    if (s_key(*w) == key) return h;
    if (s_key(*w) == EMPTY) return -1;
  }
  return -1;
}

/* The best max of a base list (given best first) scaled by a positive
 * factor, which keeps the order, into out; returns how many. */
static size_t base_prefix(const lt_itemcf_nb_t *base, size_t nbase, double scale,
                          lt_itemcf_nb_t *out, size_t max) {
  size_t n = nbase < max ? nbase : max;
  if (scale == 1.0) {
    if (n) memcpy(out, base, n * sizeof *out);
    return n;
  }
  for (size_t k = 0; k < n; k++) {
    out[k].item = base[k].item;
    out[k].sim = (float)(base[k].sim * scale);
  }
  return n;
}

/* One attempt: base, then item's entries, into out; returns 0, or 1 when
 * the read met the writer. */
static int over_once(const lt_itemcf_t *cf, const item_t *it, const lt_itemcf_nb_t *base,
                     size_t nbase, lt_itemcf_nb_t *out, size_t max, size_t *nout) {
  enum { BATCH = 16 };
  over_t o;
  o.base = base;
  o.nbase = nbase;
  o.hmask = 0;
  uint32_t s1 = __atomic_load_n(&it->seq, __ATOMIC_ACQUIRE);
  if (s1 & 1) return 1;
  uint32_t nitems = lt_cv_len(&cf->items);
  o.pi = __atomic_load_n(&it->p, __ATOMIC_RELAXED);
  o.Ni = support_of(it);
  const tmem_t *t = __atomic_load_n(&it->t, __ATOMIC_ACQUIRE);
  const uint32_t *e = t ? __atomic_load_n(&t->e, __ATOMIC_ACQUIRE) : NULL;
  if (t)
    for (uint32_t i = 0; i < t->cap; i += 8) /* the table's lines, all in flight at once */
      __builtin_prefetch(&t->s[i]);
  /* a base similarity s_ij stands for s_ij sqrt(p_i p_j) co-watches; with
   * nothing counted for the pair it is worth s_ij sqrt(p_i p_j / (N_i N_j)),
   * taken as s_ij sqrt(p_i / N_i) (p_j / N_j is read only for partners
   * counted here: reading it for every listed partner would cost a random
   * read each) */
  o.scale = o.Ni ? sqrt((double)o.pi / o.Ni) : 1.0;
  size_t n = base_prefix(base, nbase, o.scale, out, max);
  /* listed partners counted since: each looked up in a large table; a
   * small one (no more slots than twice the list) is cheaper to scan,
   * which the loop below does, looking each entry up in the list */
  int probe = t && t->cap > 2 * nbase;
  for (size_t k = 0; probe && k < nbase && max; k++) {
    uint64_t w;
    int64_t h = r_find(t, base[k].item, &w);
    if (h >= 0) raise_listed(cf, &o, (size_t)k, r_count(e, (uint32_t)h, w), out, &n, max);
  }
  /* the other counted partners, from a scan of the table. One not listed
   * is worth at most ub(m) = m / (sqrt(N_i m) + shrink), m = min(c, N_i)
   * (N_j >= c), which grows with m: counts below m_min, the least m with
   * ub(m) >= the worst kept, cannot enter, and are skipped on the count
   * alone (before the error, N_j or the base index is looked at). The
   * others are taken BATCH at a time, their items fetched ahead. */
  uint64_t m_min = n == max && max ? min_count(out[max - 1].sim, o.Ni, cf->shrink) : 0;
  uint32_t bj[BATCH], bc[BATCH], nb = 0, hi = t ? __atomic_load_n(&t->hi, __ATOMIC_ACQUIRE) : 0;
  if (probe && (hi < o.Ni ? hi : o.Ni) < m_min) t = NULL; /* no count can enter */
  if (t && !probe && nbase) over_index(&o);
  for (uint32_t i = 0; t && i < t->cap && max; i++) {
    uint64_t w = __atomic_load_n(&t->s[i], __ATOMIC_ACQUIRE);
    /* one test for most slots, empty ones included (their count is 0) */
    if (probe && (s_cnt(w) < o.Ni ? s_cnt(w) : o.Ni) < m_min) continue;
    uint32_t j = s_key(w);
    if (j == EMPTY) continue;
    if (j >= nitems) return 1; /* see lt_itemcf_neighbors */
    if (nbase) {
      if (!o.hmask) over_index(&o);
      int64_t k = base_find(&o, j);
      if (k >= 0) { /* listed: raised above when the table was probed */
        if (!probe) raise_listed(cf, &o, (size_t)k, r_count(e, i, w), out, &n, max);
        continue;
      }
      if ((s_cnt(w) < o.Ni ? s_cnt(w) : o.Ni) < m_min) continue;
    }
    __builtin_prefetch(item_at(cf, j));
    bj[nb] = j;
    bc[nb++] = r_count(e, i, w);
    if (nb == BATCH || n < max) { /* until out is full, every entry goes in at once */
      for (uint32_t q = 0; q < nb; q++)
        offer_counted(cf, &o, bj[q], bc[q], out, &n, max);
      nb = 0;
      if (n == max) m_min = min_count(out[max - 1].sim, o.Ni, cf->shrink);
    }
  }
  for (uint32_t q = 0; q < nb; q++)
    offer_counted(cf, &o, bj[q], bc[q], out, &n, max);
  *nout = n;
  return __atomic_load_n(&it->seq, __ATOMIC_RELAXED) != s1;
}

int lt_itemcf_neighbors_over(const lt_itemcf_t *cf, uint32_t item, const lt_itemcf_nb_t *base,
                             size_t nbase, lt_itemcf_nb_t *out, size_t max, size_t *nout) {
  if (!nout || (nbase && !base) || (max && !out)) return LT_EINVAL;
  *nout = 0;
  const item_t *it = cf && item < lt_cv_len(&cf->items) ? item_at(cf, item) : NULL;
  if (!it) {
    *nout = base_prefix(base, nbase, 1.0, out, max);
    return 0;
  }
  for (int tries = 0; tries < TRIES; tries++)
    if (!over_once(cf, it, base, nbase, out, max, nout)) return 0;
  /* the writer held the item throughout: the base list alone */
  *nout = base_prefix(base, nbase, 1.0, out, max);
  return LT_EBUSY;
}

int lt_itemcf_set_prior(lt_itemcf_t *cf, uint32_t item, uint32_t count) {
  if (!cf || item == EMPTY) return LT_EINVAL;
  int rc = cf_grow(cf, item + 1);
  if (rc) return rc;
  item_t *it = item_at(cf, item);
  w_begin(it);
  __atomic_store_n(&it->p, count, __ATOMIC_RELEASE);
  w_end(it);
  return 0;
}

uint32_t lt_itemcf_support(const lt_itemcf_t *cf, uint32_t item) {
  if (!cf || item >= lt_cv_len(&cf->items)) return 0;
  return support_of(item_at(cf, item));
}

uint32_t lt_itemcf_count(const lt_itemcf_t *cf, uint32_t item) {
  if (!cf || item >= lt_cv_len(&cf->items)) return 0;
  return __atomic_load_n(&item_at(cf, item)->n, __ATOMIC_RELAXED);
}

uint32_t lt_itemcf_nitems(const lt_itemcf_t *cf) { return cf ? lt_cv_len(&cf->items) : 0; }

size_t lt_itemcf_memory(const lt_itemcf_t *cf) {
  if (!cf) return 0;
  /* from the published length, not the writer's chunk count (this may run
   * on any thread): the writer grows by lt_cv_resize, so they agree */
  size_t chunks = ((size_t)lt_cv_len(&cf->items) + LT_CV_CHUNK - 1) >> LT_CV_SHIFT;
  return sizeof *cf + LT_CV_DIR * sizeof(void *) + chunks * LT_CV_CHUNK * sizeof(item_t) +
         __atomic_load_n(&cf->table_bytes, __ATOMIC_RELAXED);
}

/* ---- batch build ---- */

typedef struct build {
  lt_itemcf_t *cf;
  const lt_csr_t *ui, *iu;
  const uint8_t *skip; /* users over max_user_items */
  const uint32_t *n;   /* n_i by item, flat (the hot loop's lookups) */
  _Atomic uint32_t next;
  _Atomic int err;
} build_t;

static void *build_worker(void *arg) {
  build_t *b = arg;
  lt_itemcf_t *cf = b->cf;
  const uint32_t ni = lt_cv_len(&cf->items);
  uint32_t *acc = calloc(ni ? ni : 1, sizeof *acc);
  uint32_t *touched = malloc((ni ? ni : 1) * sizeof *touched);
  lt_itemcf_nb_t *best = malloc((size_t)cf->capacity * sizeof *best);
  if (!acc || !touched || !best) {
    atomic_store(&b->err, LT_ENOMEM);
    goto done;
  }
  for (;;) {
    uint32_t i = atomic_fetch_add(&b->next, 1);
    if (i >= ni || atomic_load(&b->err)) break;
    uint32_t nt = 0;
    for (uint64_t e = b->iu->rowptr[i]; e < b->iu->rowptr[i + 1]; e++) {
      uint32_t u = b->iu->col[e];
      if (b->skip[u]) continue;
      for (uint64_t f = b->ui->rowptr[u]; f < b->ui->rowptr[u + 1]; f++) {
        uint32_t j = b->ui->col[f];
        if (j == i) continue;
        if (acc[j]++ == 0) touched[nt++] = j;
      }
    }
    size_t got = 0;
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t j = touched[t];
      lt_itemcf_nb_t x = {j, pair_sim(acc[j], b->n[i], b->n[j], cf->shrink)};
      heap_offer(best, &got, cf->capacity, x);
    }
    if (got) {
      uint32_t cap = 8;
      while (cap < 2 * got)
        cap *= 2;
      tmem_t *tb = tmem_new(cap);
      if (!tb) {
        atomic_store(&b->err, LT_ENOMEM);
        break;
      }
      for (size_t q = 0; q < got; q++)
        tab_put(tb, best[q].item, acc[best[q].item], 0); /* acc is reset below */
      item_t *it = item_at(cf, i);
      it->t = tb; /* no reader yet: the model is published after the build */
      it->len = (uint32_t)got;
      __atomic_add_fetch(&cf->table_bytes, tmem_size(cap), __ATOMIC_RELAXED);
    }
    for (uint32_t t = 0; t < nt; t++)
      acc[touched[t]] = 0;
  }
done:
  free(acc);
  free(touched);
  free(best);
  return NULL;
}

int lt_itemcf_build(const lt_csr_t *ui, const lt_itemcf_opts_t *opts, lt_itemcf_t **out) {
  if (!ui || !out) return LT_EINVAL;
  *out = NULL;
  lt_itemcf_opts_t o;
  int rc = opts_read(opts, &o);
  if (rc) return rc;
  lt_itemcf_t *cf = NULL;
  lt_csr_t *iu = NULL;
  uint8_t *skip = NULL;
  uint32_t *n = NULL;
  if ((rc = lt_itemcf_new(ui->ncols, &o, &cf))) goto cleanup;
  rc = LT_ENOMEM;
  skip = calloc(ui->nrows ? ui->nrows : 1, 1);
  n = calloc(ui->ncols ? ui->ncols : 1, sizeof *n);
  if (!skip || !n) goto cleanup;
  if ((rc = lt_csr_transpose(ui, &iu))) goto cleanup;
  for (uint32_t u = 0; u < ui->nrows; u++) {
    uint32_t len = lt_csr_row_len(ui, u);
    if (o.max_user_items && len > o.max_user_items) {
      skip[u] = 1;
      continue;
    }
    for (uint64_t e = ui->rowptr[u]; e < ui->rowptr[u + 1]; e++)
      n[ui->col[e]]++;
  }
  for (uint32_t i = 0; i < ui->ncols; i++)
    item_at(cf, i)->n = n[i];

  build_t b;
  memset(&b, 0, sizeof b);
  b.cf = cf;
  b.ui = ui;
  b.iu = iu;
  b.skip = skip;
  b.n = n;
  uint32_t threads = o.threads ? o.threads : lt__ncpu();
  if (threads > 64) threads = 64;
  pthread_t tid[64];
  uint32_t started = 0;
  for (uint32_t t = 1; t < threads; t++) {
    if (pthread_create(&tid[started], NULL, build_worker, &b)) break;
    started++;
  }
  build_worker(&b);
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  if ((rc = atomic_load(&b.err))) goto cleanup;
  *out = cf;
  cf = NULL;

cleanup:
  lt_itemcf_free(cf);
  lt_csr_free(iu);
  free(skip);
  free(n);
  return rc;
}
