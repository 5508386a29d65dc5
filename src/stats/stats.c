/*
 * stats.c — the log-derived figures the state does not keep: exposure per
 * (day, creator), AIGC and young-creator exposure per day (see stats.h).
 *
 * Layout (all owned by one lt_stats_t, guarded by its rwlock):
 *  - items[iid]: what the stats know of item iid as of the last record
 *    applied: creator (LT_NONE = unknown), aigc, published_ms (from the
 *    catalog, else the time of the item's first event), known (seen yet).
 *    Ids are the state's dense ids, which are a function of the log too
 *    (interned in order of first sight), so the same after a restart.
 *  - creators[cid]: created_ms (from CREATOR_PUT), first_item_ms (earliest
 *    published_ms of the creator's items put so far), first_event_ms
 *    (earliest impression or play of their items applied so far). A
 *    creator's start is created_ms when known, else first_item_ms, else
 *    first_event_ms; an impression at time t is "young" when start > 0 and
 *    t - start < LT_STATS_YOUNG_DAYS days. (Imported history without
 *    creation dates therefore makes every creator young for the first 30
 *    days of the data: send created_at with PUT /v1/creators/{id}.)
 *  - days[d - day0]: per local day, the counters of lt__sday_t and the
 *    creators that had an impression or a play that day (cr[0..ncr)).
 *  - cidx: key (day << 32 | creator) -> index into days[day].cr.
 *
 * Attribution of an event uses items[iid] as it stands when the event is
 * applied: a later ITEM_PUT that changes the creator or the aigc flag does
 * not move exposure already counted. Everything here is therefore a pure
 * function of the sequence of records (invariant 4).
 *
 * Invariants (lt_stats_check):
 *  1. for every day, the sum over cr[] of impressions equals
 *     creator_impressions, and of watch_ms is <= watch_ms;
 *  2. aigc_impressions, young_impressions, creator_impressions <=
 *     impressions; aigc_watch_ms <= watch_ms;
 *  3. cidx holds exactly one key per (day, cr[i]) and maps it to i;
 *  4. the contents depend only on the records applied and their order:
 *     a full log scan at open equals the live observer's result.
 *
 * lt_stats_apply (one record) and lt_stats_observe (a batch) move the
 * stats; they run on the store's writer. Days outside [0, 65535] (the
 * state's own limit) are counted in out_of_range and otherwise ignored.
 */
#include "stats/stats.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MAX 65535
#define YOUNG_MS ((int64_t)LT_STATS_YOUNG_DAYS * 86400000)

typedef struct lt__imeta {
  uint32_t creator;
  uint8_t aigc, known;
  int64_t published_ms;
} lt__imeta_t;

typedef struct lt__cmeta {
  int64_t created_ms, first_item_ms, first_event_ms;
} lt__cmeta_t;

typedef struct lt__cday {
  uint32_t creator;
  uint64_t impressions, plays, watch_ms;
} lt__cday_t;

typedef struct lt__sday {
  uint64_t impressions, plays, watch_ms;
  uint64_t aigc_impressions, aigc_watch_ms;
  uint64_t young_impressions, creator_impressions;
  lt__cday_t *cr;
  uint32_t ncr, crcap;
} lt__sday_t;

struct lt_stats {
  lt_state_t *st;
  pthread_rwlock_t lock;
  lt__imeta_t *items;
  uint32_t nitems;
  lt__cmeta_t *creators;
  uint32_t ncreators;
  lt__sday_t *days;
  int32_t day0;
  uint32_t ndays;
  lt_u64map_t cidx;
  uint64_t records, skipped, out_of_range;
  int degraded;
  lt_stats_pool_fn pool_fn; /* the feed's pools (lt_stats_set_pool_fn), or NULL */
  void *pool_ctx;
};

int lt_stats_new(lt_state_t *st, lt_stats_t **out) {
  lt_stats_t *s = calloc(1, sizeof *s);
  if (!s) return LT_ENOMEM;
  s->st = st;
  pthread_rwlock_init(&s->lock, NULL);
  lt_u64map_init(&s->cidx);
  *out = s;
  return LT_OK;
}

void lt_stats_free(lt_stats_t *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->ndays; i++)
    free(s->days[i].cr);
  free(s->days);
  free(s->items);
  free(s->creators);
  lt_u64map_clear(&s->cidx);
  pthread_rwlock_destroy(&s->lock);
  free(s);
}

lt_state_t *lt_stats_state(const lt_stats_t *s) { return s->st; }

/* ---- growth (writer) ------------------------------------------------ */

/* Grows an array of elt-sized entries to hold index i (zeroed); *n is the
 * entries held. Doubling keeps appends amortised O(1). */
static int grow(void **a, uint32_t *n, uint32_t i, size_t elt) {
  if (i < *n) return LT_OK;
  uint64_t nn = *n ? *n : 64;
  while (nn <= i)
    nn *= 2;
  if (nn > UINT32_MAX) return LT_ENOMEM;
  void *p = realloc(*a, (size_t)nn * elt);
  if (!p) return LT_ENOMEM;
  memset((char *)p + (size_t)*n * elt, 0, (size_t)(nn - *n) * elt);
  *a = p;
  *n = (uint32_t)nn;
  return LT_OK;
}

static lt__imeta_t *item_at(lt_stats_t *s, uint32_t iid) {
  uint32_t had = s->nitems;
  if (grow((void **)&s->items, &s->nitems, iid, sizeof *s->items)) return NULL;
  for (uint32_t i = had; i < s->nitems; i++)
    s->items[i].creator = LT_NONE;
  return &s->items[iid];
}

static lt__cmeta_t *creator_at(lt_stats_t *s, uint32_t cid) {
  if (grow((void **)&s->creators, &s->ncreators, cid, sizeof *s->creators)) return NULL;
  return &s->creators[cid];
}

/* The day's record, growing the dense array either way (as the state's
 * day totals do). NULL on ENOMEM. */
static lt__sday_t *day_at(lt_stats_t *s, int32_t day) {
  if (!s->ndays) {
    if (!(s->days = calloc(1, sizeof *s->days))) return NULL;
    s->day0 = day;
    s->ndays = 1;
  } else if (day < s->day0) {
    uint32_t shift = (uint32_t)(s->day0 - day);
    lt__sday_t *d = calloc((size_t)s->ndays + shift, sizeof *d);
    if (!d) return NULL;
    memcpy(d + shift, s->days, s->ndays * sizeof *d);
    free(s->days);
    s->days = d;
    s->ndays += shift;
    s->day0 = day;
  } else if ((uint32_t)(day - s->day0) >= s->ndays) {
    uint32_t n = (uint32_t)(day - s->day0) + 1;
    lt__sday_t *d = realloc(s->days, (size_t)n * sizeof *d);
    if (!d) return NULL;
    memset(d + s->ndays, 0, (size_t)(n - s->ndays) * sizeof *d);
    s->days = d;
    s->ndays = n;
  }
  return &s->days[day - s->day0];
}

static uint64_t ckey(int32_t day, uint32_t creator) {
  return lt_u64map_key((uint64_t)(uint32_t)day << 32 | creator);
}

/* The (day, creator) entry, created when absent. Room is made before the
 * key is inserted, so a failed allocation leaves cidx untouched (inv. 3). */
static lt__cday_t *cday_at(lt_stats_t *s, lt__sday_t *d, int32_t day, uint32_t creator) {
  uint64_t key = ckey(day, creator), *slot = lt_u64map_get(&s->cidx, key);
  if (slot) return &d->cr[*slot];
  if (d->ncr == d->crcap) {
    uint32_t nc = d->crcap ? d->crcap * 2 : 8;
    lt__cday_t *p = realloc(d->cr, nc * sizeof *p);
    if (!p) return NULL;
    d->cr = p;
    d->crcap = nc;
  }
  if (lt_u64map_upsert(&s->cidx, key, &slot, NULL)) return NULL;
  *slot = d->ncr;
  d->cr[d->ncr] = (lt__cday_t){creator, 0, 0, 0};
  return &d->cr[d->ncr++];
}

/* ---- apply (writer) ------------------------------------------------- */

static int find(lt_stats_t *s, lt_ns_t ns, lt_str_t id, uint32_t *out) {
  return lt_state_find(s->st, ns, id.p, id.n, out);
}

static int young(const lt_stats_t *s, uint32_t cid, int64_t ts_ms) {
  if (cid >= s->ncreators) return 0;
  const lt__cmeta_t *c = &s->creators[cid];
  int64_t start = c->created_ms      ? c->created_ms
                  : c->first_item_ms ? c->first_item_ms
                                     : c->first_event_ms;
  return start > 0 && ts_ms - start < YOUNG_MS;
}

static int apply_event(lt_stats_t *s, const lt_event_t *e) {
  uint32_t iid;
  if (lt_state_event_ids(s->st, e, NULL, &iid)) {
    s->skipped++;
    return LT_OK;
  }
  lt__imeta_t *m = item_at(s, iid);
  if (!m) return LT_ENOMEM;
  if (!m->known) { /* first sight through an event: as the state does */
    m->known = 1;
    m->published_ms = e->ts_ms;
  }
  if (e->type != LT_EV_IMPRESSION && e->type != LT_EV_PLAY) return LT_OK;
  int32_t day = lt_tz_day(lt_state_tz(s->st), e->ts_ms / 1000); /* as the state */
  if (day < 0 || day > DAY_MAX) {
    s->out_of_range++;
    return LT_OK;
  }
  lt__sday_t *d = day_at(s, day);
  if (!d) return LT_ENOMEM;
  lt__cday_t *c = NULL;
  if (m->creator != LT_NONE) {
    lt__cmeta_t *cm = creator_at(s, m->creator);
    if (!cm || !(c = cday_at(s, d, day, m->creator))) return LT_ENOMEM;
    if (e->ts_ms > 0 && (!cm->first_event_ms || e->ts_ms < cm->first_event_ms))
      cm->first_event_ms = e->ts_ms;
  }
  if (e->type == LT_EV_IMPRESSION) {
    d->impressions++;
    if (m->aigc) d->aigc_impressions++;
    if (c) {
      c->impressions++;
      d->creator_impressions++;
      if (young(s, m->creator, e->ts_ms)) d->young_impressions++;
    }
  } else {
    d->plays++;
    d->watch_ms += e->watch_ms;
    if (m->aigc) d->aigc_watch_ms += e->watch_ms;
    if (c) {
      c->plays++;
      c->watch_ms += e->watch_ms;
    }
  }
  return LT_OK;
}

static int apply_item(lt_stats_t *s, const lt_item_rec_t *r) {
  uint32_t iid, cid;
  if (find(s, LT_NS_ITEM, r->id, &iid) || find(s, LT_NS_CREATOR, r->creator, &cid)) {
    s->skipped++;
    return LT_OK;
  }
  lt__imeta_t *m = item_at(s, iid);
  lt__cmeta_t *c = creator_at(s, cid);
  if (!m || !c) return LT_ENOMEM;
  int first_put = !m->known;
  m->known = 1;
  m->creator = cid;
  m->aigc = r->aigc;
  /* as the state does: the given publish time, else the time of the first put */
  if (r->published_at_ms) m->published_ms = r->published_at_ms;
  else if (first_put || !m->published_ms) m->published_ms = r->ts_ms;
  if (m->published_ms > 0 && (!c->first_item_ms || m->published_ms < c->first_item_ms))
    c->first_item_ms = m->published_ms;
  return LT_OK;
}

static int apply_creator(lt_stats_t *s, const lt_creator_rec_t *r) {
  uint32_t cid;
  if (find(s, LT_NS_CREATOR, r->id, &cid)) {
    s->skipped++;
    return LT_OK;
  }
  lt__cmeta_t *c = creator_at(s, cid);
  if (!c) return LT_ENOMEM;
  if (r->created_at_ms) c->created_ms = r->created_at_ms;
  return LT_OK;
}

static int apply_locked(lt_stats_t *s, const lt_record_t *rec) {
  int rc = LT_OK;
  switch (rec->kind) {
  case LT_REC_EVENT:
    rc = apply_event(s, &rec->u.ev);
    break;
  case LT_REC_ITEM_PUT:
    rc = apply_item(s, &rec->u.item);
    break;
  case LT_REC_CREATOR_PUT:
    rc = apply_creator(s, &rec->u.creator);
    break;
  default:
    break; /* deletes, users, follows: the state answers for them */
  }
  /* read without the lock by lt_stats_records / lt_stats_degraded */
  __atomic_store_n(&s->records, s->records + 1, __ATOMIC_RELAXED);
  if (rc) __atomic_store_n(&s->degraded, 1, __ATOMIC_RELAXED);
  return rc;
}

int lt_stats_apply(lt_stats_t *s, const lt_record_t *rec) {
  pthread_rwlock_wrlock(&s->lock);
  int rc = apply_locked(s, rec);
  pthread_rwlock_unlock(&s->lock);
  return rc;
}

void lt_stats_observe(void *ctx, const lt_record_t *recs, size_t n) {
  lt_stats_t *s = ctx;
  pthread_rwlock_wrlock(&s->lock);
  for (size_t i = 0; i < n; i++)
    apply_locked(s, &recs[i]);
  pthread_rwlock_unlock(&s->lock);
}

int lt_stats_open(lt_store_t *store, lt_stats_t **out) {
  lt_stats_t *s = NULL;
  int rc = lt_stats_new(lt_store_state(store), &s);
  if (!rc) rc = lt_store_scan(store, lt_stats_observe, NULL, s, NULL);
  if (rc) {
    lt_stats_free(s);
    return rc;
  }
  *out = s;
  return LT_OK;
}

uint64_t lt_stats_records(const lt_stats_t *s) {
  return __atomic_load_n(&s->records, __ATOMIC_RELAXED);
}

int lt_stats_degraded(const lt_stats_t *s) {
  return __atomic_load_n(&s->degraded, __ATOMIC_RELAXED);
}

size_t lt_stats_bytes(const lt_stats_t *s) {
  pthread_rwlock_rdlock((pthread_rwlock_t *)&s->lock);
  size_t b = sizeof *s + (size_t)s->nitems * sizeof *s->items +
             (size_t)s->ncreators * sizeof *s->creators + (size_t)s->ndays * sizeof *s->days +
             s->cidx.cap * 2 * sizeof(uint64_t);
  for (uint32_t i = 0; i < s->ndays; i++)
    b += (size_t)s->days[i].crcap * sizeof(lt__cday_t);
  pthread_rwlock_unlock((pthread_rwlock_t *)&s->lock);
  return b;
}

int lt_stats_check(lt_stats_t *s) {
  int ok = 1;
  size_t keys = 0;
  pthread_rwlock_rdlock(&s->lock);
  for (uint32_t i = 0; i < s->ndays && ok; i++) {
    const lt__sday_t *d = &s->days[i];
    uint64_t imp = 0, watch = 0;
    for (uint32_t k = 0; k < d->ncr; k++) {
      imp += d->cr[k].impressions;
      watch += d->cr[k].watch_ms;
      uint64_t *v = lt_u64map_get(&s->cidx, ckey(s->day0 + (int32_t)i, d->cr[k].creator));
      if (!v || *v != k) ok = 0;
    }
    keys += d->ncr;
    if (imp != d->creator_impressions || watch > d->watch_ms) ok = 0;
    if (d->aigc_impressions > d->impressions || d->young_impressions > d->impressions ||
        d->creator_impressions > d->impressions || d->aigc_watch_ms > d->watch_ms)
      ok = 0;
  }
  if (keys != s->cidx.len) ok = 0;
  pthread_rwlock_unlock(&s->lock);
  return ok;
}

/* ---- queries (readers) ---------------------------------------------- */

static const lt__sday_t *day_get(const lt_stats_t *s, int32_t day) {
  if (!s->ndays || day < s->day0 || (uint32_t)(day - s->day0) >= s->ndays) return NULL;
  return &s->days[day - s->day0];
}

static int range_ok(int32_t from, int32_t to) {
  return from <= to && (int64_t)to - from < LT_STATS_MAX_DAYS;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

double lt_stats_gini(uint64_t *x, size_t n) {
  if (n < 2) return 0.0;
  qsort(x, n, sizeof *x, cmp_u64);
  double sum = 0, wsum = 0;
  for (size_t i = 0; i < n; i++) {
    sum += (double)x[i];
    wsum += (double)(i + 1) * (double)x[i];
  }
  if (sum <= 0) return 0.0;
  double g = 2.0 * wsum / ((double)n * sum) - ((double)n + 1.0) / (double)n;
  return g < 0 ? 0.0 : g; /* rounding near 0 */
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static void eco_rates(lt_stats_eco_day_t *e) {
  e->young_share = ratio(e->young_impressions, e->impressions);
  e->aigc_impression_share = ratio(e->aigc_impressions, e->impressions);
  e->aigc_watch_share = ratio(e->aigc_watch_ms, e->watch_ms);
}

int lt_stats_ecosystem(lt_stats_t *s, int32_t from, int32_t to, lt_stats_eco_t *out) {
  memset(out, 0, sizeof *out);
  if (!range_ok(from, to)) return LT_ERANGE;
  uint32_t nd = (uint32_t)(to - from + 1);
  int rc = LT_ENOMEM;
  uint64_t *x = NULL;
  size_t xcap = 0;
  lt_u64map_t agg; /* creator + 1 -> range impressions */
  lt_u64map_init(&agg);
  out->from = from;
  out->to = to;
  out->ndays = nd;
  if (!(out->days = calloc(nd, sizeof *out->days))) return LT_ENOMEM;
  pthread_rwlock_rdlock(&s->lock);
  for (uint32_t i = 0; i < nd; i++) {
    lt_stats_eco_day_t *e = &out->days[i];
    e->day = from + (int32_t)i;
    const lt__sday_t *d = day_get(s, e->day);
    if (!d) continue;
    e->impressions = d->impressions;
    e->watch_ms = d->watch_ms;
    e->young_impressions = d->young_impressions;
    e->aigc_impressions = d->aigc_impressions;
    e->aigc_watch_ms = d->aigc_watch_ms;
    eco_rates(e);
    if (d->ncr > xcap) {
      uint64_t *p = realloc(x, d->ncr * sizeof *x);
      if (!p) goto out;
      x = p;
      xcap = d->ncr;
    }
    size_t m = 0;
    for (uint32_t k = 0; k < d->ncr; k++) {
      if (!d->cr[k].impressions) continue;
      x[m++] = d->cr[k].impressions;
      uint64_t *v;
      if (lt_u64map_upsert(&agg, (uint64_t)d->cr[k].creator + 1, &v, NULL)) goto out;
      *v += d->cr[k].impressions;
    }
    e->creators = m;
    e->gini = lt_stats_gini(x, m);
    out->sum.impressions += e->impressions;
    out->sum.watch_ms += e->watch_ms;
    out->sum.young_impressions += e->young_impressions;
    out->sum.aigc_impressions += e->aigc_impressions;
    out->sum.aigc_watch_ms += e->aigc_watch_ms;
  }
  pthread_rwlock_unlock(&s->lock);
  /* the range: Gini over each creator's total */
  if (agg.len > xcap) {
    uint64_t *p = realloc(x, agg.len * sizeof *x);
    if (!p) goto out_unlocked;
    x = p;
  }
  size_t m = 0;
  for (size_t i = 0; i < agg.cap; i++)
    if (agg.keys[i]) x[m++] = agg.vals[i];
  out->sum.day = from;
  out->sum.creators = m;
  out->sum.gini = lt_stats_gini(x, m);
  eco_rates(&out->sum);
  rc = LT_OK;
  goto out_unlocked;
out:
  pthread_rwlock_unlock(&s->lock);
out_unlocked:
  free(x);
  lt_u64map_clear(&agg);
  if (rc) lt_stats_eco_free(out);
  return rc;
}

void lt_stats_eco_free(lt_stats_eco_t *e) {
  if (!e) return;
  free(e->days);
  e->days = NULL;
  e->ndays = 0;
}

void lt_stats_set_pool_fn(lt_stats_t *s, lt_stats_pool_fn fn, void *ctx) {
  s->pool_fn = fn;
  s->pool_ctx = ctx;
}

int lt_stats_stage_of(const lt_stats_t *s, lt_state_t *st, uint32_t item, int *status) {
  lt_stats_pool_view_t v;
  if (status) *status = -1;
  if (s && s->pool_fn && s->pool_fn(s->pool_ctx, item, &v) == 0 && v.status >= 0 &&
      v.status < LT_STATS_POOL_STATUSES) {
    if (status) *status = v.status;
    if (v.status == LT_STATS_POOL_NEVER || v.reached < 0) return LT_STATS_STAGE_NONE;
    if (v.status == LT_STATS_POOL_GRADUATED) return LT_STATS_STAGE_TOP;
    return v.reached < LT_STATS_STAGE_TOP - 1 ? v.reached : LT_STATS_STAGE_TOP - 1;
  }
  const lt_item_counters_t *c = lt_state_item_counters(st, item);
  return lt_stats_pool_stage(c ? c->impressions : 0);
}

/* Counts a creator's items per traffic-pool stage and, with the feed's
 * pools, per pool status (state). */
static void creator_pools(const lt_stats_t *s, lt_stats_creator_t *cr) {
  lt_state_t *st = s->st;
  memset(cr->pool, 0, sizeof cr->pool);
  memset(cr->outcome, 0, sizeof cr->outcome);
  cr->has_outcomes = s->pool_fn != NULL;
  size_t n = lt_state_creator_items(st, cr->creator, NULL, 0);
  if (!n) return;
  uint32_t *ids = malloc(n * sizeof *ids);
  if (!ids) return;
  size_t got = lt_state_creator_items(st, cr->creator, ids, n);
  if (got > n) got = n;
  for (size_t i = 0; i < got; i++) {
    const lt_item_meta_t *m = lt_state_item(st, ids[i]);
    if (!m || m->deleted) continue;
    int status;
    cr->pool[lt_stats_stage_of(s, st, ids[i], &status)]++;
    if (status >= 0) cr->outcome[status]++;
  }
  free(ids);
}

static void creator_now(const lt_stats_t *s, lt_stats_creator_t *c) {
  lt_state_t *st = s->st;
  lt_creator_info_t ci;
  memset(&ci, 0, sizeof ci);
  lt_state_creator_info(st, c->creator, &ci);
  c->followers = ci.followers;
  c->items = ci.items;
  c->name = lt_state_name(st, LT_NS_CREATOR, c->creator);
  creator_pools(s, c);
}

int lt_stats_creator(lt_stats_t *s, uint32_t creator, int32_t from, int32_t to,
                     lt_stats_creator_t *out) {
  memset(out, 0, sizeof *out);
  if (creator >= lt_state_count(s->st, LT_NS_CREATOR)) return LT_ENOTFOUND;
  if (!range_ok(from, to)) return LT_ERANGE;
  out->creator = creator;
  pthread_rwlock_rdlock(&s->lock);
  for (int32_t day = from; day <= to; day++) {
    const lt__sday_t *d = day_get(s, day);
    if (!d) continue;
    out->all_impressions += d->impressions;
    uint64_t *v = lt_u64map_get(&s->cidx, ckey(day, creator));
    if (!v) continue;
    const lt__cday_t *c = &d->cr[*v];
    out->impressions += c->impressions;
    out->plays += c->plays;
    out->watch_ms += c->watch_ms;
  }
  pthread_rwlock_unlock(&s->lock);
  out->exposure_share = ratio(out->impressions, out->all_impressions);
  creator_now(s, out);
  return LT_OK;
}

static uint64_t by_key(const lt_stats_creator_t *c, int by) {
  return by == LT_STATS_BY_PLAYS   ? c->plays
         : by == LT_STATS_BY_WATCH ? c->watch_ms
                                   : c->impressions;
}

static int cmp_creator(const void *a, const void *b, void *ctx) {
  const lt_stats_creator_t *x = a, *y = b;
  int by = *(const int *)ctx;
  uint64_t kx = by_key(x, by), ky = by_key(y, by);
  if (kx != ky) return kx > ky ? -1 : 1;
  return x->creator < y->creator ? -1 : x->creator > y->creator;
}

size_t lt_stats_top_creators(lt_stats_t *s, int32_t from, int32_t to, int by,
                             lt_stats_creator_t *out, size_t n) {
  if (!range_ok(from, to) || !n) return 0;
  if (n > LT_STATS_TOP_MAX) n = LT_STATS_TOP_MAX;
  lt_u64map_t idx; /* creator + 1 -> index into all */
  lt_u64map_init(&idx);
  lt_stats_creator_t *all = NULL;
  size_t nall = 0, cap = 0, written = 0;
  uint64_t total = 0;
  int fail = 0;
  pthread_rwlock_rdlock(&s->lock);
  for (int32_t day = from; day <= to && !fail; day++) {
    const lt__sday_t *d = day_get(s, day);
    if (!d) continue;
    total += d->impressions;
    for (uint32_t k = 0; k < d->ncr; k++) {
      uint64_t *v;
      int created = 0;
      if (lt_u64map_upsert(&idx, (uint64_t)d->cr[k].creator + 1, &v, &created)) {
        fail = 1;
        break;
      }
      if (created) {
        if (nall == cap) {
          size_t nc = cap ? cap * 2 : 64;
          lt_stats_creator_t *p = realloc(all, nc * sizeof *p);
          if (!p) {
            fail = 1;
            break;
          }
          all = p;
          cap = nc;
        }
        memset(&all[nall], 0, sizeof *all);
        all[nall].creator = d->cr[k].creator;
        *v = nall++;
      }
      lt_stats_creator_t *c = &all[*v];
      c->impressions += d->cr[k].impressions;
      c->plays += d->cr[k].plays;
      c->watch_ms += d->cr[k].watch_ms;
    }
  }
  pthread_rwlock_unlock(&s->lock);
  if (!fail && nall) {
    qsort_r(all, nall, sizeof *all, cmp_creator, &by);
    for (size_t i = 0; i < nall && written < n; i++) {
      if (!by_key(&all[i], by)) break;
      out[written] = all[i];
      out[written].all_impressions = total;
      out[written].exposure_share = ratio(all[i].impressions, total);
      creator_now(s, &out[written]);
      written++;
    }
  }
  free(all);
  lt_u64map_clear(&idx);
  return written;
}
