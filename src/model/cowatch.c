/*
 * cowatch.c — live co-watch counts between trainings, combined with the
 * trained snapshot's lists (see cowatch.h for the rules).
 *
 * How readers and the writer share the counts, and why. Two mechanisms,
 * one per rate of change:
 *   - inside a generation, counters change at every positive event (2 x
 *     window per event): the per-item sequence locks of model/itemcf.c.
 *     The writer changes a counter in place (two extra stores per item);
 *     a reader that met a change retries that item, so it never sees a
 *     torn list and never waits (after 32 attempts it serves the base
 *     list alone). Copy-on-write lists would cost a copy and an allocation
 *     per counter bump and a grace period per old copy.
 *   - generations change once per training: swapped by pointer and freed
 *     after their last reference (below), which also frees every table a
 *     generation outgrew (model/itemcf.c keeps those until then, because
 *     a reader may still be scanning one). Memory that a grace period
 *     holds back is thus at most one generation, for one request.
 *
 * In memory:
 *   cur, next  generations (gen_t: an lt_itemcf_t with capacity N and the
 *              live shrink, an id, a reference count); cur is never NULL,
 *              next exists while a training runs. Atomic pointers.
 *   win        the users' windows, writer only: user u's (K + 1) words at
 *              u x (K + 1): [0] length, then the items, newest first.
 *              Grown (zeroed) to the largest user id seen.
 *   acquiring  readers (and the writer) between loading cur / next and
 *              taking their reference.
 * Invariants:
 *   1. generation ids only grow: next->id > cur->id;
 *   2. a generation's prior counts (itemcf.h) are what the generation
 *      before it counted in all (its priors + its counts) when it was
 *      opened; the first one's come from lt_cowatch_prior;
 *   3. a user's window holds distinct items, at most K.
 *
 * Lifetime of a generation (the scheme of lt_feed_publish): a reference
 * is taken as
 *     acquiring++ ; g = cur ; g->refs++ ; acquiring--
 * and the learner replaces one as
 *     old = exchange(cur, new) ; wait until acquiring == 0 ; release(old)
 * (sequentially consistent), so old cannot be freed under a reader that
 * loaded it and is about to take its reference; readers never wait. The
 * writer takes references the same way and keeps them from one event to
 * the next (wgen) until lt_cowatch_done: at each event it compares cur and
 * next with the generations it holds, and takes a new reference only when
 * the learner moved one. A generation it holds a reference to cannot be
 * freed, so its address cannot come back as another one: the same pointer
 * is the same generation. Per event that is two loads instead of six
 * atomic read-modify-writes on lines the readers write too; a generation
 * retired meanwhile stays alive until the writer lets go of it.
 *
 * State changes: lt_cowatch_positive / _negative (writer) change windows
 * and counts; lt_cowatch_begin / _end (learner) move generations.
 */
#include "model/cowatch.h"

#include "core/error.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* A generation; readers see it as an opaque lt_cowatch_view_t. */
typedef struct lt_cowatch_view {
  lt_itemcf_t *cf;
  uint32_t id;
  int refs;            /* atomic */
  lt_cowatch_t *owner; /* for the busy counter */
} gen_t;

struct lt_cowatch {
  lt_cowatch_opts_t o;
  gen_t *cur, *next;  /* atomic pointers */
  uint32_t acquiring; /* atomic */
  uint32_t last_id;   /* learner (and new): the newest id handed out */
  /* writer only */
  gen_t *wgen[2]; /* its references to cur and next (writer_pin) */
  uint32_t *win;
  uint32_t win_users;
  /* statistics (atomic) */
  uint64_t positives, repeats, busy, win_bytes;
};

void lt_cowatch_opts_default(lt_cowatch_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->window = 20;
  o->capacity = 128;
  o->shrink = 5.0f;
}

/* ---- generations ------------------------------------------------------ */

/* A generation whose priors are what `from` (may be NULL) counted in all. */
static int gen_new(lt_cowatch_t *cw, uint32_t id, const gen_t *from, gen_t **out) {
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  o.capacity = cw->o.capacity;
  o.shrink = cw->o.shrink;
  gen_t *g = calloc(1, sizeof *g);
  if (!g) return LT_ENOMEM;
  uint32_t n = from ? lt_itemcf_nitems(from->cf) : 0;
  int rc = lt_itemcf_new(n, &o, &g->cf);
  for (uint32_t i = 0; !rc && i < n; i++) {
    uint32_t c = lt_itemcf_support(from->cf, i);
    if (c) rc = lt_itemcf_set_prior(g->cf, i, c);
  }
  if (rc) {
    lt_itemcf_free(g->cf);
    free(g);
    return rc;
  }
  g->id = id;
  g->refs = 1;
  g->owner = cw;
  *out = g;
  return 0;
}

static gen_t *gen_get(lt_cowatch_t *cw, gen_t **slot) {
  __atomic_add_fetch(&cw->acquiring, 1, __ATOMIC_SEQ_CST);
  gen_t *g = __atomic_load_n(slot, __ATOMIC_SEQ_CST);
  if (g) __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&cw->acquiring, 1, __ATOMIC_SEQ_CST);
  return g;
}

static void gen_put(gen_t *g) {
  if (g && __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    lt_itemcf_free(g->cf);
    free(g);
  }
}

/* Releases a generation just unlinked from cur or next. */
static void gen_retire(lt_cowatch_t *cw, gen_t *g) {
  if (!g) return;
  while (__atomic_load_n(&cw->acquiring, __ATOMIC_SEQ_CST))
    sched_yield();
  gen_put(g);
}

int lt_cowatch_new(const lt_cowatch_opts_t *opts, lt_cowatch_t **out) {
  if (!out) return LT_EINVAL;
  *out = NULL;
  lt_cowatch_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_cowatch_opts_default(&o);
  if (o.window < 1 || o.window > LT_COWATCH_MAX_WINDOW || o.capacity < 1 ||
      o.capacity > LT_COWATCH_MAX_CAPACITY || !(o.shrink >= 0 && o.shrink < 1e30f))
    return LT_EINVAL;
  lt_cowatch_t *cw = calloc(1, sizeof *cw);
  if (!cw) return LT_ENOMEM;
  cw->o = o;
  cw->last_id = 1;
  int rc = gen_new(cw, cw->last_id, NULL, &cw->cur);
  if (rc) {
    free(cw);
    return rc;
  }
  *out = cw;
  return 0;
}

void lt_cowatch_free(lt_cowatch_t *cw) {
  if (!cw) return;
  lt_cowatch_done(cw);
  gen_put(cw->cur);
  gen_put(cw->next);
  free(cw->win);
  free(cw);
}

int lt_cowatch_prior(lt_cowatch_t *cw, uint32_t item, uint32_t count) {
  if (!cw) return LT_EINVAL;
  return lt_itemcf_set_prior(cw->cur->cf, item, count);
}

int lt_cowatch_begin(lt_cowatch_t *cw) {
  if (!cw) return LT_EINVAL;
  lt_cowatch_end(cw, 0);
  gen_t *g, *cur = gen_get(cw, &cw->cur);
  int rc = gen_new(cw, ++cw->last_id, cur, &g);
  gen_put(cur);
  if (rc) return rc;
  __atomic_store_n(&cw->next, g, __ATOMIC_SEQ_CST);
  return 0;
}

void lt_cowatch_end(lt_cowatch_t *cw, int published) {
  if (!cw) return;
  gen_t *n = __atomic_exchange_n(&cw->next, NULL, __ATOMIC_SEQ_CST);
  if (!published) {
    gen_retire(cw, n);
    return;
  }
  if (!n) { /* no begin (or it ran out of memory): start from cur's counts */
    gen_t *cur = gen_get(cw, &cw->cur);
    int rc = gen_new(cw, ++cw->last_id, cur, &n);
    gen_put(cur);
    if (rc) return; /* out of memory: keep counting in cur */
  }
  gen_retire(cw, __atomic_exchange_n(&cw->cur, n, __ATOMIC_SEQ_CST));
}

/* ---- the writer --------------------------------------------------------- */

static uint32_t *window_of(lt_cowatch_t *cw, uint32_t user) {
  return cw->win + (size_t)user * (cw->o.window + 1);
}

static int win_grow(lt_cowatch_t *cw, uint32_t user) {
  if (user < cw->win_users) return 0;
  uint64_t want = (uint64_t)cw->win_users * 2;
  if (want < (uint64_t)user + 1) want = (uint64_t)user + 1;
  if (want < 1024) want = 1024;
  if (want > UINT32_MAX) want = UINT32_MAX;
  size_t per = (size_t)cw->o.window + 1;
  uint32_t *w = realloc(cw->win, (size_t)want * per * sizeof *w);
  if (!w) return LT_ENOMEM;
  memset(w + (size_t)cw->win_users * per, 0, (size_t)(want - cw->win_users) * per * sizeof *w);
  cw->win = w;
  cw->win_users = (uint32_t)want;
  __atomic_store_n(&cw->win_bytes, (uint64_t)want * per * sizeof *w, __ATOMIC_RELAXED);
  return 0;
}

/* Index of item in the window w (length len), or -1. */
static int win_find(const uint32_t *w, uint32_t len, uint32_t item) {
  for (uint32_t r = 0; r < len; r++)
    if (w[1 + r] == item) return (int)r;
  return -1;
}

/* Moves entry r of window w to the front, or (r = -1) pushes item there,
 * dropping the oldest when full. */
static void win_front(lt_cowatch_t *cw, uint32_t *w, int r, uint32_t item) {
  uint32_t len = w[0];
  if (r < 0) {
    r = (int)(len < cw->o.window ? len : cw->o.window - 1);
    if (len < cw->o.window) w[0] = len + 1;
  }
  memmove(w + 2, w + 1, (size_t)r * sizeof *w);
  w[1] = item;
}

/* Makes the writer's references (wgen) those of cur and next now. */
static void writer_pin(lt_cowatch_t *cw) {
  gen_t **slot[2] = {&cw->cur, &cw->next};
  for (int k = 0; k < 2; k++) {
    if (__atomic_load_n(slot[k], __ATOMIC_ACQUIRE) == cw->wgen[k]) continue;
    gen_t *g = gen_get(cw, slot[k]);
    gen_put(cw->wgen[k]);
    cw->wgen[k] = g;
  }
}

void lt_cowatch_done(lt_cowatch_t *cw) {
  if (!cw) return;
  for (int k = 0; k < 2; k++) {
    gen_put(cw->wgen[k]);
    cw->wgen[k] = NULL;
  }
}

int lt_cowatch_positive(lt_cowatch_t *cw, uint32_t user, uint32_t item) {
  if (!cw || user == UINT32_MAX || item == UINT32_MAX) return LT_EINVAL;
  int rc = win_grow(cw, user);
  if (rc) return rc;
  uint32_t *w = window_of(cw, user), len = w[0];
  int r = win_find(w, len, item);
  if (r >= 0) {
    win_front(cw, w, r, item);
    __atomic_add_fetch(&cw->repeats, 1, __ATOMIC_RELAXED);
    return 0;
  }
  writer_pin(cw);
  for (int k = 0; k < 2 && !rc; k++)
    if (cw->wgen[k]) rc = lt_itemcf_observe(cw->wgen[k]->cf, w + 1, len, item);
  if (rc) return rc;
  win_front(cw, w, -1, item);
  __atomic_add_fetch(&cw->positives, 1, __ATOMIC_RELAXED);
  return 0;
}

void lt_cowatch_prefetch(lt_cowatch_t *cw, uint32_t user, uint32_t item, int step) {
  if (!cw || user >= cw->win_users) return;
  const uint32_t *w = window_of(cw, user);
  if (step == 0) {
    __builtin_prefetch(w);
    __builtin_prefetch(w + cw->o.window); /* a window may span two lines */
    return;
  }
  writer_pin(cw);
  for (int k = 0; k < 2; k++)
    if (cw->wgen[k]) lt_itemcf_prefetch(cw->wgen[k]->cf, w + 1, w[0], item, step - 1);
}

void lt_cowatch_negative(lt_cowatch_t *cw, uint32_t user, uint32_t item) {
  if (!cw || user >= cw->win_users) return;
  uint32_t *w = window_of(cw, user);
  int r = win_find(w, w[0], item);
  if (r < 0) return;
  memmove(w + 1 + r, w + 2 + r, (size_t)(w[0] - (uint32_t)r - 1) * sizeof *w);
  w[0]--;
}

/* ---- readers ----------------------------------------------------------------- */

lt_cowatch_view_t *lt_cowatch_acquire(lt_cowatch_t *cw) {
  return cw ? gen_get(cw, &cw->cur) : NULL;
}

void lt_cowatch_release(lt_cowatch_view_t *v) { gen_put(v); }

int lt_cowatch_neighbors(const lt_cowatch_view_t *v, uint32_t item, const lt_itemcf_nb_t *base,
                         size_t nbase, lt_itemcf_nb_t *out, size_t max, size_t *nout) {
  int rc = lt_itemcf_neighbors_over(v ? v->cf : NULL, item, base, nbase, out, max, nout);
  if (rc != LT_EBUSY) return rc;
  __atomic_add_fetch(&v->owner->busy, 1, __ATOMIC_RELAXED);
  return 0;
}

void lt_cowatch_stats(lt_cowatch_t *cw, lt_cowatch_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!cw) return;
  gen_t *c = gen_get(cw, &cw->cur), *n = gen_get(cw, &cw->next);
  out->generation = c->id;
  out->items = lt_itemcf_nitems(c->cf);
  out->bytes = sizeof *cw + 2 * sizeof(gen_t) + lt_itemcf_memory(c->cf) +
               (n ? lt_itemcf_memory(n->cf) : 0) +
               __atomic_load_n(&cw->win_bytes, __ATOMIC_RELAXED);
  gen_put(c);
  gen_put(n);
  out->positives = __atomic_load_n(&cw->positives, __ATOMIC_RELAXED);
  out->repeats = __atomic_load_n(&cw->repeats, __ATOMIC_RELAXED);
  out->busy = __atomic_load_n(&cw->busy, __ATOMIC_RELAXED);
}
