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
 *              t    the item's table, NULL before its first pair: nb
 *                   buckets (a power of two, doubling from 1 up to nb_max,
 *                   the least with BE x nb_max >= capacity) of one cache
 *                   line each; a bucket holds BE (5) counters, each a
 *                   partner id (EMPTY = free), c_ij and its error (below);
 *                   partner j lives in bucket mix(j) & (nb - 1), so
 *                   finding, counting, inserting and evicting j read and
 *                   write that one line; nb is in the table's own header,
 *                   so a pointer is all a reader needs;
 *              p    its prior count (itemcf.h: counting on top of a base);
 *              mask (writer only) nb - 1, so the writer finds a bucket
 *                   without reading the table's header;
 *   garbage  tables that were replaced by a larger one (a reader may still
 *            be scanning one); freed with the model. Tables double, so
 *            the garbage never outweighs the live tables.
 * Invariants:
 *   1. each key sits in its bucket (mix(key) & (nb - 1)), at most once;
 *      nb <= nb_max (a batch-built table too: it keeps the partners that
 *      fit, best first);
 *   2. a counter is evicted only from a full bucket of a table of nb_max
 *      buckets;
 *   3. no table holds its own item as a key; counts are >= 1 and above
 *      their error;
 *   4. an item's seq is even whenever no change of that item is under way,
 *      and every change of n, t or a counter happens between two
 *      increments.
 * Without evictions the tables are symmetric (c_ij == c_ji); an eviction
 * forgets a pair on one side only, which is why neighbours are read from
 * the queried item's own table.
 *
 * State changes: lt_itemcf_observe bumps counters one pair at a time:
 * count; insert into a free counter of the bucket; double the table when
 * the bucket is full and the table is below nb_max; otherwise a
 * Space-Saving step in the bucket (Metwally et al. 2005): the bucket's
 * smallest counter gives way, and the newcomer takes its count + 1 and
 * records the count it inherited as its error (c - error co-watches are
 * certain, and the similarities use that). Each bucket is so a
 * Space-Saving summary of the pairs whose partner falls in it: a partner
 * with more than 1/BE of them is never lost. Why buckets rather than one
 * open-addressing table with evictions of its smallest counter (until
 * session 6): with uniformly random partners nearly every bump of a full
 * table is an eviction, and the search for the smallest, the removal
 * (backward shift) and the insertion, each with its error, touched about
 * five lines of a table that is a random read; a bucket is one line.
 * Counting the bench's uniform events over 100k items, 3M events in, cost
 * 4.9-5.2 ms per 1000 events that way and 1.5-1.7 ms this way
 * (bench/cowatch_bench.c; bench/README.md, "Ingest, session 6").
 * lt_itemcf_build counts exactly with a dense per-thread accumulator —
 * for item i, walk its users and their items, O(sum over users of n_u^2)
 * in total — then keeps each item's `capacity` most similar partners that
 * fit its buckets (invariant 1: one that finds its bucket full of better
 * ones is left out).
 *
 * Concurrency: one writer, any number of readers (lt_itemcf_neighbors,
 * lt_itemcf_neighbors_over, lt_itemcf_count), no locks. The writer changes an item inside a
 * sequence-lock section: store seq + 1 (odd), the changes as release
 * stores (each word of a counter on its own), store seq + 2 with
 * release. A reader loads seq (acquire), skips an odd value,
 * reads the table pointer, n and the counters with acquire loads, and
 * loads seq again: if it read any value stored inside a later change, the
 * release/acquire pair makes that change's odd seq visible to its second
 * load, so the same even value twice means every counter it read belongs
 * to one state of the item; anything else means the writer was there, and it
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
#define MAX_CAPACITY (1u << 20)
#define BE 5     /* counters per bucket: a cache line of them */
#define TRIES 32 /* a reader's attempts at a consistent read of one item */

/* One cache line: BE counters, each word atomic. */
typedef struct bucket {
  uint32_t key[BE]; /* partner id, EMPTY = free */
  uint32_t cnt[BE]; /* c_ij */
  uint32_t err[BE]; /* the count inherited at an eviction (Space-Saving's error) */
  uint32_t pad;
} bucket_t;
_Static_assert(sizeof(bucket_t) == 64, "a bucket is one cache line");

typedef struct tmem {
  struct tmem *next; /* in the garbage list, once replaced */
  uint32_t nb;       /* buckets: a power of two; written before publication */
  uint32_t hi;       /* no count is above it (atomic; lets a reader skip the
                        scan of a table that cannot change its answer) */
  unsigned char pad[48]; /* the buckets start on a line */
  bucket_t b[];
} tmem_t;
_Static_assert(sizeof(tmem_t) == 64, "the header is one cache line");

typedef struct item {
  uint32_t seq, n; /* atomic (readers) */
  tmem_t *t;       /* atomic pointer */
  uint32_t p;      /* prior count (lt_itemcf_set_prior); atomic */
  uint32_t mask;   /* writer only: t->nb - 1 (0 without a table), so that a
                      bucket's address needs no load of the table's header */
} item_t;

struct lt_itemcf {
  lt_chunkvec_t items; /* item_t by id; its len is the model's nitems */
  uint32_t capacity, nb_max;
  float shrink;
  size_t table_bytes; /* live tables and garbage */
  tmem_t *garbage;
};

/* A counter as a reader saw it. */
typedef struct ent {
  uint32_t key, cnt, err;
} ent_t;

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

/* Release stores: a reader that sees a counter (or n) written inside a
 * change also sees the odd seq that opened it. */
static inline void ent_set(tmem_t *t, bucket_t *b, int e, uint32_t key, uint32_t cnt,
                           uint32_t err) {
  __atomic_store_n(&b->key[e], key, __ATOMIC_RELEASE);
  __atomic_store_n(&b->cnt[e], cnt, __ATOMIC_RELEASE);
  __atomic_store_n(&b->err[e], err, __ATOMIC_RELEASE);
  if (cnt > t->hi) __atomic_store_n(&t->hi, cnt, __ATOMIC_RELEASE);
}

/* Reader side: counter i (bucket i / BE) of a table being read. */
static inline ent_t r_ent(const tmem_t *t, uint32_t i) {
  const bucket_t *b = &t->b[i / BE];
  uint32_t e = i % BE;
  ent_t v = {__atomic_load_n(&b->key[e], __ATOMIC_ACQUIRE),
             __atomic_load_n(&b->cnt[e], __ATOMIC_ACQUIRE),
             __atomic_load_n(&b->err[e], __ATOMIC_ACQUIRE)};
  return v;
}

/* The certain count of a counter read (count - error). */
static inline uint32_t r_count(ent_t v) {
  return v.cnt > v.err ? v.cnt - v.err : 0; /* err >= cnt only in a torn read, which is retried */
}

/* Opens and closes a change of one item (the sequence lock). */
static void w_begin(item_t *it) { __atomic_store_n(&it->seq, it->seq + 1, __ATOMIC_RELAXED); }

static void w_end(item_t *it) { __atomic_store_n(&it->seq, it->seq + 1, __ATOMIC_RELEASE); }

static size_t tmem_size(uint32_t nb) { return sizeof(tmem_t) + (size_t)nb * sizeof(bucket_t); }

/* An empty table of nb buckets, counted in the model's bytes. */
static tmem_t *tmem_new(lt_itemcf_t *cf, uint32_t nb) {
  tmem_t *t = aligned_alloc(64, tmem_size(nb));
  if (!t) return NULL;
  memset(t, 0, tmem_size(nb));
  t->nb = nb;
  for (uint32_t i = 0; i < nb; i++)
    for (int e = 0; e < BE; e++)
      t->b[i].key[e] = EMPTY;
  __atomic_add_fetch(&cf->table_bytes, tmem_size(nb), __ATOMIC_RELAXED);
  return t;
}

/* Puts a key known to be absent into a free counter of its bucket in t;
 * returns -1 when the bucket is full. */
static int tab_put(tmem_t *t, uint32_t key, uint32_t cnt, uint32_t err) {
  bucket_t *b = &t->b[home(key, t->nb - 1)];
  for (int e = 0; e < BE; e++)
    if (b->key[e] == EMPTY) {
      ent_set(t, b, e, key, cnt, err);
      return 0;
    }
  return -1;
}

/* Gives item `it` a table of nb buckets with its counters; the old one
 * becomes garbage (a reader may be scanning it). Inside a change of it.
 * A table of half as many buckets always fits: each of its buckets
 * splits into two. */
static int tab_resize(lt_itemcf_t *cf, item_t *it, uint32_t nb) {
  tmem_t *nt = tmem_new(cf, nb), *old = it->t;
  if (!nt) return LT_ENOMEM;
  for (uint32_t i = 0; old && i < old->nb; i++)
    for (int e = 0; e < BE; e++)
      if (old->b[i].key[e] != EMPTY)
        (void)tab_put(nt, old->b[i].key[e], old->b[i].cnt[e], old->b[i].err[e]);
  __atomic_store_n(&it->t, nt, __ATOMIC_RELEASE);
  it->mask = nb - 1;
  if (old) {
    old->next = cf->garbage;
    cf->garbage = old;
  }
  return 0;
}

/* c(item, key) += 1: count, insert, grow, or the Space-Saving step in the
 * key's bucket (design note). Inside a change of it. */
static int tab_bump(lt_itemcf_t *cf, item_t *it, uint32_t key) {
  for (;;) {
    tmem_t *t = it->t;
    if (!t) {
      int rc = tab_resize(cf, it, 1);
      if (rc) return rc;
      continue;
    }
    bucket_t *b = &t->b[home(key, it->mask)];
    int free_e = -1, min_e = 0;
    uint32_t mc = UINT32_MAX;
    for (int e = 0; e < BE; e++) {
      uint32_t k = b->key[e];
      if (k == key) {
        if (b->cnt[e] < UINT32_MAX) ent_set(t, b, e, key, b->cnt[e] + 1, b->err[e]);
        return 0;
      }
      if (k == EMPTY) {
        if (free_e < 0) free_e = e;
      } else if (b->cnt[e] < mc) {
        mc = b->cnt[e];
        min_e = e;
      }
    }
    if (free_e >= 0) {
      ent_set(t, b, free_e, key, 1, 0);
      return 0;
    }
    if (t->nb < cf->nb_max) {
      int rc = tab_resize(cf, it, t->nb * 2);
      if (rc) return rc;
      continue;
    }
    ent_set(t, b, min_e, key, mc < UINT32_MAX ? mc + 1 : mc, mc);
    return 0;
  }
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
  cf->nb_max = 1;
  while ((uint64_t)cf->nb_max * BE < o.capacity)
    cf->nb_max *= 2;
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
    free(item_at(cf, i)->t);
  while (cf->garbage) {
    tmem_t *g = cf->garbage;
    cf->garbage = g->next;
    free(g);
  }
  lt_cv_free(&cf->items);
  free(cf);
}

void lt_itemcf_prefetch(const lt_itemcf_t *cf, const uint32_t *recent, size_t n, uint32_t item,
                        int step) {
  if (!cf || (n && !recent)) return;
  uint32_t nitems = lt_cv_len(&cf->items);
  if (item >= nitems) return;
  const item_t *a = item_at(cf, item);
  if (step == 0) {
    __builtin_prefetch(a);
    for (size_t j = 0; j < n; j++)
      if (recent[j] < nitems) __builtin_prefetch(item_at(cf, recent[j]));
    return;
  }
  for (size_t j = 0; j < n; j++) {
    if (recent[j] >= nitems || recent[j] == item) continue;
    const item_t *b = item_at(cf, recent[j]);
    if (a->t) __builtin_prefetch(&a->t->b[home(recent[j], a->mask)]);
    if (b->t) __builtin_prefetch(&b->t->b[home(item, b->mask)]);
  }
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
  /* each bump's bucket is a random read: start them all before the first
   * is needed (in cache already when the caller prefetched) */
  item_t *a = item_at(cf, new_item);
  for (size_t j = 0; j < n; j++)
    if (a->t) __builtin_prefetch(&a->t->b[home(recent[j], a->mask)]);
  w_begin(a);
  if (a->n < UINT32_MAX) __atomic_store_n(&a->n, a->n + 1, __ATOMIC_RELEASE);
  for (size_t j = 0; j < n && !rc; j++)
    if (recent[j] != new_item) rc = tab_bump(cf, a, recent[j]);
  w_end(a);
  for (size_t j = 0; j < n; j++) {
    const item_t *b = item_at(cf, recent[j]);
    if (b->t) __builtin_prefetch(&b->t->b[home(new_item, b->mask)]);
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
    size_t got = 0;
    int torn = 0;
    for (uint32_t i = 0; t && i < t->nb * BE; i++) {
      ent_t v = r_ent(t, i);
      uint32_t j = v.key;
      if (j == EMPTY) continue;
      if (j >= nitems) {
        torn = 1;
        break;
      }
      uint32_t c = r_count(v);
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

/* Finds key in a table being read (acquire loads): 1 with its counter in
 * *v, or 0. */
static int r_find(const tmem_t *t, uint32_t key, ent_t *v) {
  uint32_t i = home(key, t->nb - 1) * BE;
  for (int e = 0; e < BE; e++)
    if ((*v = r_ent(t, i + e)).key == key) return 1;
  return 0;
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
  uint32_t ncnt = t ? t->nb * BE : 0;
  for (uint32_t i = 0; t && i < t->nb; i++) /* the table's lines, all in flight at once */
    __builtin_prefetch(&t->b[i]);
  /* a base similarity s_ij stands for s_ij sqrt(p_i p_j) co-watches; with
   * nothing counted for the pair it is worth s_ij sqrt(p_i p_j / (N_i N_j)),
   * taken as s_ij sqrt(p_i / N_i) (p_j / N_j is read only for partners
   * counted here: reading it for every listed partner would cost a random
   * read each) */
  o.scale = o.Ni ? sqrt((double)o.pi / o.Ni) : 1.0;
  size_t n = base_prefix(base, nbase, o.scale, out, max);
  /* listed partners counted since: each looked up in a large table; a
   * small one (no more counters than twice the list) is cheaper to scan,
   * which the loop below does, looking each entry up in the list */
  int probe = t && ncnt > 2 * nbase;
  for (size_t k = 0; probe && k < nbase && max; k++) {
    ent_t v;
    if (r_find(t, base[k].item, &v)) raise_listed(cf, &o, (size_t)k, r_count(v), out, &n, max);
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
  for (uint32_t i = 0; t && i < ncnt && max; i++) {
    ent_t v = r_ent(t, i);
    /* one test for most counters, free ones included (their count is 0) */
    if (probe && (v.cnt < o.Ni ? v.cnt : o.Ni) < m_min) continue;
    uint32_t j = v.key;
    if (j == EMPTY) continue;
    if (j >= nitems) return 1; /* see lt_itemcf_neighbors */
    if (nbase) {
      if (!o.hmask) over_index(&o);
      int64_t k = base_find(&o, j);
      if (k >= 0) { /* listed: raised above when the table was probed */
        if (!probe) raise_listed(cf, &o, (size_t)k, r_count(v), out, &n, max);
        continue;
      }
      if ((v.cnt < o.Ni ? v.cnt : o.Ni) < m_min) continue;
    }
    __builtin_prefetch(item_at(cf, j));
    bj[nb] = j;
    bc[nb++] = r_count(v);
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

uint32_t lt_itemcf_capacity(const lt_itemcf_t *cf) { return cf ? cf->nb_max * BE : 0; }

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
      /* best first into the fewest buckets they all fit, at most nb_max
       * (invariant 1: there, one whose bucket is full is left out) */
      heap_sort_best_first(best, got);
      uint32_t nb = 1;
      while ((uint64_t)nb * BE < got)
        nb *= 2;
      tmem_t *tb = NULL;
      for (;; nb *= 2) {
        if (!(tb = tmem_new(cf, nb))) break;
        size_t q = 0;
        for (; q < got; q++) /* acc is reset below */
          if (tab_put(tb, best[q].item, acc[best[q].item], 0) && nb < cf->nb_max) break;
        if (q == got) break;
        __atomic_sub_fetch(&cf->table_bytes, tmem_size(nb), __ATOMIC_RELAXED);
        free(tb);
      }
      if (!tb) {
        atomic_store(&b->err, LT_ENOMEM);
        break;
      }
      item_t *it = item_at(cf, i);
      it->t = tb; /* no reader yet: the model is published after the build */
      it->mask = nb - 1;
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
