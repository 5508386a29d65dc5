/*
 * itemcf.c — co-watch item similarity with bounded per-item counters
 * (see itemcf.h).
 *
 * In memory:
 *   n[i]     users who watched item i (uint32);
 *   tab[i]   an open-addressing table (linear probing, power-of-two slots,
 *            load <= 1/2) of {partner j, c_ij} for item i; allocated on the
 *            first pair, doubling up to slots_max = pow2 >= 2 * capacity.
 * Invariants:
 *   1. tab[i].len <= capacity and tab[i].len <= tab[i].cap / 2;
 *   2. every key sits in the probe run starting at its home slot (removal
 *      is by backward shift, so there are no tombstones);
 *   3. no table holds its own item as a key; counts are >= 1.
 * Without evictions the tables are symmetric (c_ij == c_ji); an eviction
 * forgets a pair on one side only, which is why neighbours are read from
 * the queried item's own table.
 *
 * State changes: lt_itemcf_observe bumps counters one pair at a time
 * (count, insert, or Space-Saving eviction when a table is full).
 * lt_itemcf_build counts exactly with a dense per-thread accumulator —
 * for item i, walk its users and their items, O(sum over users of n_u^2)
 * in total — then keeps each item's `capacity` most similar partners.
 */
#include "model/itemcf.h"

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

typedef struct slot {
  uint32_t key, cnt;
} slot_t;

typedef struct tab {
  slot_t *s;
  uint32_t cap, len; /* cap: slots (0 or a power of two) */
} tab_t;

struct lt_itemcf {
  uint32_t nitems, alloc;
  uint32_t *n;
  tab_t *tab;
  uint32_t capacity, slots_max;
  float shrink;
  size_t table_bytes;
};

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

/* ---- per-item tables ---- */

static inline uint32_t home(uint32_t key, uint32_t mask) { return (uint32_t)lt_mix64(key) & mask; }

static int tab_resize(lt_itemcf_t *cf, tab_t *t, uint32_t cap) {
  slot_t *s = malloc((size_t)cap * sizeof *s);
  if (!s) return LT_ENOMEM;
  for (uint32_t i = 0; i < cap; i++)
    s[i].key = EMPTY;
  uint32_t mask = cap - 1;
  for (uint32_t i = 0; i < t->cap; i++) {
    if (t->s[i].key == EMPTY) continue;
    uint32_t h = home(t->s[i].key, mask);
    while (s[h].key != EMPTY)
      h = (h + 1) & mask;
    s[h] = t->s[i];
  }
  cf->table_bytes += (size_t)cap * sizeof *s;
  cf->table_bytes -= (size_t)t->cap * sizeof *s;
  free(t->s);
  t->s = s;
  t->cap = cap;
  return 0;
}

static slot_t *tab_find(const tab_t *t, uint32_t key) {
  if (!t->cap) return NULL;
  uint32_t mask = t->cap - 1;
  for (uint32_t h = home(key, mask);; h = (h + 1) & mask) {
    if (t->s[h].key == key) return &t->s[h];
    if (t->s[h].key == EMPTY) return NULL;
  }
}

/* Inserts a key known to be absent; the table has room (invariant 1). */
static void tab_put(tab_t *t, uint32_t key, uint32_t cnt) {
  uint32_t mask = t->cap - 1;
  uint32_t h = home(key, mask);
  while (t->s[h].key != EMPTY)
    h = (h + 1) & mask;
  t->s[h].key = key;
  t->s[h].cnt = cnt;
  t->len++;
}

/* Removes the slot at i by backward shift (invariant 2). */
static void tab_remove_at(tab_t *t, uint32_t i) {
  uint32_t mask = t->cap - 1;
  for (uint32_t j = (i + 1) & mask; t->s[j].key != EMPTY; j = (j + 1) & mask) {
    uint32_t h = home(t->s[j].key, mask);
    /* the entry at j may move to i unless its home lies cyclically in (i, j] */
    int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!stays) {
      t->s[i] = t->s[j];
      i = j;
    }
  }
  t->s[i].key = EMPTY;
  t->len--;
}

/* c(item, key) += 1, with Space-Saving eviction when the table is full. */
static int tab_bump(lt_itemcf_t *cf, tab_t *t, uint32_t key) {
  slot_t *s = tab_find(t, key);
  if (s) {
    if (s->cnt < UINT32_MAX) s->cnt++;
    return 0;
  }
  if (t->len < cf->capacity) {
    if ((t->len + 1) * 2 > t->cap) {
      uint32_t cap = t->cap ? t->cap * 2 : 8;
      if (cap > cf->slots_max) cap = cf->slots_max;
      if (cap > t->cap) {
        int rc = tab_resize(cf, t, cap);
        if (rc) return rc;
      }
    }
    tab_put(t, key, 1);
    return 0;
  }
  uint32_t mi = EMPTY, mc = UINT32_MAX;
  for (uint32_t i = 0; i < t->cap; i++)
    if (t->s[i].key != EMPTY && t->s[i].cnt < mc) mc = t->s[i].cnt, mi = i;
  tab_remove_at(t, mi);
  tab_put(t, key, mc < UINT32_MAX ? mc + 1 : mc);
  return 0;
}

/* ---- the model ---- */

static int cf_grow(lt_itemcf_t *cf, uint32_t nitems) {
  if (nitems <= cf->nitems) return 0;
  if (nitems > cf->alloc) {
    uint32_t a = cf->alloc > UINT32_MAX / 2 ? UINT32_MAX : cf->alloc * 2;
    if (a < nitems) a = nitems;
    if (a < 16) a = 16;
    uint32_t *n = realloc(cf->n, (size_t)a * sizeof *n);
    if (!n) return LT_ENOMEM;
    cf->n = n;
    tab_t *t = realloc(cf->tab, (size_t)a * sizeof *t);
    if (!t) return LT_ENOMEM;
    cf->tab = t;
    cf->alloc = a;
  }
  memset(cf->n + cf->nitems, 0, (size_t)(nitems - cf->nitems) * sizeof *cf->n);
  memset(cf->tab + cf->nitems, 0, (size_t)(nitems - cf->nitems) * sizeof *cf->tab);
  cf->nitems = nitems;
  return 0;
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
  if ((rc = cf_grow(cf, nitems))) {
    lt_itemcf_free(cf);
    return rc;
  }
  *out = cf;
  return 0;
}

void lt_itemcf_free(lt_itemcf_t *cf) {
  if (!cf) return;
  for (uint32_t i = 0; i < cf->nitems; i++)
    free(cf->tab[i].s);
  free(cf->tab);
  free(cf->n);
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
  if (cf->n[new_item] < UINT32_MAX) cf->n[new_item]++;
  for (size_t j = 0; j < n; j++) {
    uint32_t o = recent[j];
    if (o == new_item) continue;
    if ((rc = tab_bump(cf, &cf->tab[new_item], o))) return rc;
    if ((rc = tab_bump(cf, &cf->tab[o], new_item))) return rc;
  }
  return 0;
}

int lt_itemcf_neighbors(const lt_itemcf_t *cf, uint32_t item, lt_itemcf_nb_t *out, size_t max,
                        size_t *nout) {
  if (!cf || !nout || (max && !out)) return LT_EINVAL;
  *nout = 0;
  if (item >= cf->nitems) return 0;
  const tab_t *t = &cf->tab[item];
  size_t got = 0;
  for (uint32_t i = 0; i < t->cap; i++) {
    const slot_t *s = &t->s[i];
    if (s->key == EMPTY) continue;
    lt_itemcf_nb_t x = {s->key, pair_sim(s->cnt, cf->n[item], cf->n[s->key], cf->shrink)};
    heap_offer(out, &got, max, x);
  }
  heap_sort_best_first(out, got);
  *nout = got;
  return 0;
}

uint32_t lt_itemcf_count(const lt_itemcf_t *cf, uint32_t item) {
  return cf && item < cf->nitems ? cf->n[item] : 0;
}

uint32_t lt_itemcf_nitems(const lt_itemcf_t *cf) { return cf ? cf->nitems : 0; }

size_t lt_itemcf_memory(const lt_itemcf_t *cf) {
  if (!cf) return 0;
  return sizeof *cf + (size_t)cf->alloc * (sizeof *cf->n + sizeof *cf->tab) + cf->table_bytes;
}

/* ---- batch build ---- */

typedef struct build {
  lt_itemcf_t *cf;
  const lt_csr_t *ui, *iu;
  const uint8_t *skip; /* users over max_user_items */
  _Atomic uint32_t next;
  _Atomic int err;
  pthread_mutex_t mu; /* guards cf->table_bytes */
} build_t;

static void *build_worker(void *arg) {
  build_t *b = arg;
  lt_itemcf_t *cf = b->cf;
  const uint32_t ni = cf->nitems;
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
      lt_itemcf_nb_t x = {j, pair_sim(acc[j], cf->n[i], cf->n[j], cf->shrink)};
      heap_offer(best, &got, cf->capacity, x);
    }
    tab_t *tb = &cf->tab[i];
    if (got) {
      uint32_t cap = 8;
      while (cap < 2 * got)
        cap *= 2;
      slot_t *s = malloc((size_t)cap * sizeof *s);
      if (!s) {
        atomic_store(&b->err, LT_ENOMEM);
        break;
      }
      for (uint32_t q = 0; q < cap; q++)
        s[q].key = EMPTY;
      tb->s = s;
      tb->cap = cap;
      tb->len = 0;
      for (size_t q = 0; q < got; q++)
        tab_put(tb, best[q].item, acc[best[q].item]); /* acc is reset below */
      pthread_mutex_lock(&b->mu);
      cf->table_bytes += (size_t)cap * sizeof *s;
      pthread_mutex_unlock(&b->mu);
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
  if ((rc = lt_itemcf_new(ui->ncols, &o, &cf))) goto cleanup;
  rc = LT_ENOMEM;
  skip = calloc(ui->nrows ? ui->nrows : 1, 1);
  if (!skip) goto cleanup;
  if ((rc = lt_csr_transpose(ui, &iu))) goto cleanup;
  for (uint32_t u = 0; u < ui->nrows; u++) {
    uint32_t len = lt_csr_row_len(ui, u);
    if (o.max_user_items && len > o.max_user_items) {
      skip[u] = 1;
      continue;
    }
    for (uint64_t e = ui->rowptr[u]; e < ui->rowptr[u + 1]; e++)
      cf->n[ui->col[e]]++;
  }

  build_t b;
  memset(&b, 0, sizeof b);
  b.cf = cf;
  b.ui = ui;
  b.iu = iu;
  b.skip = skip;
  pthread_mutex_init(&b.mu, NULL);
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
  pthread_mutex_destroy(&b.mu);
  if ((rc = atomic_load(&b.err))) goto cleanup;
  *out = cf;
  cf = NULL;

cleanup:
  lt_itemcf_free(cf);
  lt_csr_free(iu);
  free(skip);
  return rc;
}
