/*
 * state.c — applying log records to the in-memory state (see state.h).
 *
 * Layout (state_int.h):
 *  - six intern tables (users, items, creators, tags, groups, products)
 *    map external strings to dense ids;
 *  - items: two chunkvecs indexed by item id, lt_item_meta_t (what the
 *    catalog says) and lt_item_counters_t (what happened to it);
 *  - users: a chunkvec of lt__user_t, each with a ring of recent history
 *    (hcap entries at most), its follows, groups and per-day activity;
 *  - creators: a chunkvec of lt__creator_t with the creator's items;
 *  - idem: XXH3-64 of the event ids applied within the idempotency
 *    window, with the event clock (idem.c);
 *  - days: platform totals per local day, an array over every day number.
 *
 * Invariants:
 *  1. for every namespace, per-id storage exists for ids [0, count);
 *  2. an event id the index holds within its window was applied exactly
 *     once since it entered the window;
 *  3. user->days is sorted by day, one entry per day; a new entry adds 1
 *     to that day's active_users;
 *  4. a user's ring holds min(events kept, hcap) entries, hhead the oldest;
 *  5. creator->items holds each item at most once, in order of first put.
 *
 * Only lt_state_apply (and lt_state_load) move the state; both run on the
 * single writer.
 */
#include "state/state_int.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The single writer's updates of fields read without its lock (state.h,
 * "Concurrency"): relaxed atomic stores, no read-modify-write instruction
 * (nobody else writes them). ADD is for the _Atomic fields of the public
 * structs, PADD / PSET for plain fields of private ones read through
 * relaxed atomic loads. */
#define LOAD(f) atomic_load_explicit(&(f), memory_order_relaxed)
#define SET(f, v) atomic_store_explicit(&(f), (v), memory_order_relaxed)
#define ADD(f, d) SET(f, LOAD(f) + (d))
#define PSET(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)
#define PADD(f, d) PSET(f, (f) + (d))
#define PLOAD(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)

void lt_state_opts_default(lt_state_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->timezone = "Asia/Shanghai";
  o->history_cap = 2000;
  o->trend_half_life_s = 6 * 3600;
  o->finish_ratio = 0.9;
  o->idem_window_ms = 7 * 86400000LL;
}

int lt_state_new(const lt_state_opts_t *opts, lt_state_t **out) {
  lt_state_t *st = calloc(1, sizeof *st);
  if (!st) return LT_ENOMEM;
  int rc = LT_ENOMEM;
  if (opts) st->opts = *opts;
  else lt_state_opts_default(&st->opts);
  lt_state_opts_t def;
  lt_state_opts_default(&def);
  if (!st->opts.timezone) st->opts.timezone = def.timezone;
  if (!st->opts.history_cap) st->opts.history_cap = def.history_cap;
  if (!(st->opts.trend_half_life_s > 0)) st->opts.trend_half_life_s = def.trend_half_life_s;
  if (!(st->opts.finish_ratio > 0)) st->opts.finish_ratio = def.finish_ratio;
  if (!st->opts.idem_window_ms) st->opts.idem_window_ms = def.idem_window_ms;
  if (st->opts.idem_window_ms < 0) st->opts.idem_window_ms = -1;
  st->decay_per_ms = log(2.0) / (st->opts.trend_half_life_s * 1000.0);
  for (int i = 0; i < LT__STRIPES; i++) {
    pthread_mutex_init(&st->user_locks[i], NULL);
    pthread_mutex_init(&st->creator_locks[i], NULL);
  }
  if ((rc = lt_tz_load(&st->tz, st->opts.timezone))) goto fail;
  st->opts.timezone = st->tz.name;
  rc = LT_ENOMEM;
  for (int i = 0; i < LT_NS__COUNT; i++)
    if (lt_intern_new(&st->ns[i])) goto fail;
  if (lt_cv_init(&st->items, sizeof(lt_item_meta_t)) ||
      lt_cv_init(&st->counters, sizeof(lt_item_counters_t)) ||
      lt_cv_init(&st->users, sizeof(lt__user_t)) ||
      lt_cv_init(&st->creators, sizeof(lt__creator_t)))
    goto fail;
  lt__idem_init(&st->idem, st->opts.idem_window_ms);
  /* every possible day, zeroed lazily by the kernel: only touched pages
   * become resident, and the array never moves under lock-free readers */
  if (!(st->days = calloc(LT__MAX_DAYS, sizeof *st->days))) goto fail;
  st->totals.min_day = INT32_MAX;
  st->totals.max_day = INT32_MIN;
  *out = st;
  return LT_OK;
fail:
  lt_state_free(st);
  return rc;
}

void lt_state_free(lt_state_t *st) {
  if (!st) return;
  uint32_t nu = lt_cv_len(&st->users), nc = lt_cv_len(&st->creators);
  for (uint32_t u = 0; u < nu; u++) {
    lt__user_t *us = lt__user(st, u);
    free(us->hist);
    free(us->follows);
    free(us->groups);
    free(us->days);
  }
  for (uint32_t c = 0; c < nc; c++) free(lt__creator(st, c)->items);
  lt_cv_free(&st->items);
  lt_cv_free(&st->counters);
  lt_cv_free(&st->users);
  lt_cv_free(&st->creators);
  for (int i = 0; i < LT_NS__COUNT; i++) lt_intern_free(st->ns[i]);
  lt__idem_free(&st->idem);
  free(st->days);
  lt_tz_free(&st->tz);
  for (int i = 0; i < LT__STRIPES; i++) {
    pthread_mutex_destroy(&st->user_locks[i]);
    pthread_mutex_destroy(&st->creator_locks[i]);
  }
  free(st);
}

/* ---- ids ----------------------------------------------------------- */

int lt__state_grow(lt_state_t *st, lt_ns_t ns, uint32_t id) {
  int rc = LT_OK;
  switch (ns) {
  case LT_NS_ITEM:
    if (id < lt_cv_len(&st->items)) return LT_OK;
    if ((rc = lt_cv_reserve(&st->items, id + 1)) || (rc = lt_cv_reserve(&st->counters, id + 1)))
      return rc;
    lt_item_meta_t *m = lt_cv_at(&st->items, id);
    m->creator = LT_NONE;
    m->product = LT_NONE;
    lt_cv_resize(&st->counters, id + 1);
    lt_cv_resize(&st->items, id + 1);
    return LT_OK;
  case LT_NS_USER:
    return id < lt_cv_len(&st->users) ? LT_OK : lt_cv_resize(&st->users, id + 1);
  case LT_NS_CREATOR:
    return id < lt_cv_len(&st->creators) ? LT_OK : lt_cv_resize(&st->creators, id + 1);
  default:
    return LT_OK;
  }
}

static int intern(lt_state_t *st, lt_ns_t ns, lt_str_t s, uint32_t *id, int *created) {
  int c = 0, rc = lt_intern_put(st->ns[ns], s.p, s.n, id, &c);
  if (rc) return rc;
  if (created) *created = c;
  return c ? lt__state_grow(st, ns, *id) : LT_OK;
}

int lt_state_find(const lt_state_t *st, lt_ns_t ns, const char *s, size_t n, uint32_t *id) {
  if ((unsigned)ns >= LT_NS__COUNT) return LT_EINVAL;
  return lt_intern_find(st->ns[ns], s, n, id);
}

int lt_state_event_ids(const lt_state_t *st, const lt_event_t *e, uint32_t *user, uint32_t *item) {
  if (e->ids_set) {
    if (user) *user = e->user_id;
    if (item) *item = e->item_id;
    return LT_OK;
  }
  uint32_t u = LT_NONE, i = LT_NONE;
  if ((user && lt_intern_find(st->ns[LT_NS_USER], e->user.p, e->user.n, &u)) ||
      (item && lt_intern_find(st->ns[LT_NS_ITEM], e->item.p, e->item.n, &i)))
    return LT_ENOTFOUND;
  if (user) *user = u;
  if (item) *item = i;
  return LT_OK;
}

const char *lt_state_name(const lt_state_t *st, lt_ns_t ns, uint32_t id) {
  if ((unsigned)ns >= LT_NS__COUNT) return NULL;
  return lt_intern_str(st->ns[ns], id, NULL);
}

uint32_t lt_state_count(const lt_state_t *st, lt_ns_t ns) {
  switch (ns) { /* the per-id storage, published after the intern entry */
  case LT_NS_ITEM:
    return lt_cv_len(&st->items);
  case LT_NS_USER:
    return lt_cv_len(&st->users);
  case LT_NS_CREATOR:
    return lt_cv_len(&st->creators);
  default:
    return (unsigned)ns < LT_NS__COUNT ? lt_intern_count(st->ns[ns]) : 0;
  }
}

/* ---- helpers ------------------------------------------------------- */

static pthread_mutex_t *user_lock(lt_state_t *st, uint32_t u) {
  return &st->user_locks[u % LT__STRIPES];
}
static pthread_mutex_t *creator_lock(lt_state_t *st, uint32_t c) {
  return &st->creator_locks[c % LT__STRIPES];
}

/* Grows a u32 array to hold one more element (1.5x growth). */
static int push_u32(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v) {
  if (*n == *cap) {
    uint32_t nc = *cap ? *cap + *cap / 2 + 1 : 4;
    uint32_t *p = realloc(*a, nc * sizeof *p);
    if (!p) return LT_ENOMEM;
    *a = p;
    *cap = nc;
  }
  (*a)[(*n)++] = v;
  return LT_OK;
}

lt_day_totals_t *lt__state_day(lt_state_t *st, int32_t day) {
  if (day < 0 || day >= LT__MAX_DAYS) return NULL;
  return &st->days[day];
}

static double decay(const lt_state_t *st, int64_t dt_ms) {
  return dt_ms <= 0 ? 1.0 : exp(-(double)dt_ms * st->decay_per_ms);
}

/* Adds weight w at time ts_ms to an item's decayed popularity. The pair is
 * published popularity first, time last (release), as lt_state_item_pop
 * reads it (state.h). */
static void pop_add(lt_state_t *st, lt_item_counters_t *c, int64_t ts_ms, double w) {
  if (w == 0) return;
  int64_t t = LOAD(c->pop_ts_ms);
  double pop = LOAD(c->pop);
  if (ts_ms >= t) {
    SET(c->pop, pop * decay(st, ts_ms - t) + w);
    atomic_store_explicit(&c->pop_ts_ms, ts_ms, memory_order_release);
  } else {
    SET(c->pop, pop + w * decay(st, t - ts_ms));
  }
}

/* Records user activity on a local day; *new_day is 1 for the user's first
 * event that day. Caller holds the user's stripe lock. */
static int user_day_add(lt__user_t *u, int32_t day, uint32_t watch_ms, uint32_t plays,
                        int *new_day) {
  *new_day = 0;
  if (day < 0 || day > UINT16_MAX) return LT_ERANGE;
  uint32_t i = u->ndays;
  while (i > 0 && u->days[i - 1].day > day) i--;
  if (!(i > 0 && u->days[i - 1].day == day)) {
    if (u->ndays == u->dcap) {
      uint32_t nc = u->dcap ? u->dcap + u->dcap / 2 + 1 : 4;
      lt__uday_t *p = realloc(u->days, nc * sizeof *p);
      if (!p) return LT_ENOMEM;
      u->days = p;
      u->dcap = nc;
    }
    memmove(&u->days[i + 1], &u->days[i], (u->ndays - i) * sizeof *u->days);
    u->days[i] = (lt__uday_t){(uint16_t)day, 0, 0};
    u->ndays++;
    i++;
    *new_day = 1;
  }
  lt__uday_t *d = &u->days[i - 1];
  uint64_t w = (uint64_t)d->watch_ms + watch_ms;
  d->watch_ms = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
  uint32_t p = (uint32_t)d->plays + plays;
  d->plays = p > UINT16_MAX ? UINT16_MAX : (uint16_t)p;
  return LT_OK;
}

static int hist_push(lt_state_t *st, lt__user_t *u, const lt_hist_t *h) {
  uint32_t cap = st->opts.history_cap;
  if (u->hlen < cap) {
    if (u->hlen == u->hcap) {
      uint32_t nc = u->hcap ? u->hcap + u->hcap / 2 + 1 : 8;
      if (nc > cap) nc = cap;
      lt_hist_t *p = realloc(u->hist, nc * sizeof *p);
      if (!p) return LT_ENOMEM;
      u->hist = p;
      u->hcap = nc;
    }
    u->hist[u->hlen++] = *h; /* hhead stays 0 until the ring is full */
  } else {
    u->hist[u->hhead] = *h;
    u->hhead = (u->hhead + 1) % u->hlen;
  }
  return LT_OK;
}

static int follow_set(lt_state_t *st, uint32_t user, uint32_t creator, int on) {
  lt__user_t *u = lt__user(st, user);
  int rc = LT_OK, changed = 0;
  pthread_mutex_lock(user_lock(st, user));
  uint32_t i = 0;
  while (i < u->nfollows && u->follows[i] != creator) i++;
  if (on && i == u->nfollows) {
    rc = push_u32(&u->follows, &u->nfollows, &u->fcap, creator);
    changed = rc == LT_OK;
  } else if (!on && i < u->nfollows) {
    u->follows[i] = u->follows[--u->nfollows];
    changed = 1;
  }
  pthread_mutex_unlock(user_lock(st, user));
  if (changed) {
    lt__creator_t *c = lt__creator(st, creator);
    if (on) PADD(c->followers, 1);
    else if (c->followers) PSET(c->followers, c->followers - 1);
  }
  return rc;
}

static int creator_add_item(lt_state_t *st, uint32_t creator, uint32_t item, int remove) {
  lt__creator_t *c = lt__creator(st, creator);
  int rc = LT_OK;
  pthread_mutex_lock(creator_lock(st, creator));
  uint32_t i = 0;
  while (i < c->nitems && c->items[i] != item) i++;
  if (remove) {
    if (i < c->nitems) {
      memmove(&c->items[i], &c->items[i + 1], (c->nitems - i - 1) * sizeof *c->items);
      c->nitems--;
    }
  } else if (i == c->nitems) {
    rc = push_u32(&c->items, &c->nitems, &c->icap, item);
  }
  pthread_mutex_unlock(creator_lock(st, creator));
  return rc;
}

/* ---- apply --------------------------------------------------------- */

static double event_pop_weight(const lt_event_t *e, double ratio) {
  switch (e->type) {
  case LT_EV_PLAY:
    return ratio >= 0 ? (ratio < 1 ? 0.2 + 0.8 * ratio : 1.0) : 1.0;
  case LT_EV_LIKE:
  case LT_EV_COMMENT:
  case LT_EV_GIFT:
    return 1.0;
  case LT_EV_SHARE:
  case LT_EV_FOLLOW:
  case LT_EV_PURCHASE:
    return 2.0;
  default:
    return 0.0;
  }
}

static int apply_event(lt_state_t *st, lt_event_t *e, const lt_state_ids_t *known) {
  int rc;
  int created = 0;
  if (e->id.n) {
    uint64_t key = lt_u64map_key(lt_hash64(e->id.p, e->id.n));
    if (lt__idem_seen(&st->idem, key)) {
      PADD(st->totals.duplicates_rejected, 1);
      return LT_EDUPLICATE;
    }
    lt__idem_tick(&st->idem, e->ts_ms);
    if ((rc = lt__idem_put(&st->idem, key))) return rc;
  } else {
    lt__idem_tick(&st->idem, e->ts_ms);
  }
  uint32_t uid = known ? known->user : LT_NONE, iid = known ? known->item : LT_NONE;
  if (uid == LT_NONE && (rc = intern(st, LT_NS_USER, e->user, &uid, NULL))) return rc;
  if (iid == LT_NONE && (rc = intern(st, LT_NS_ITEM, e->item, &iid, &created))) return rc;
  e->user_id = uid; /* for the observers (lt_state_event_ids) */
  e->item_id = iid;
  e->ids_set = 1;
  lt_item_meta_t *m = lt_cv_at(&st->items, iid);
  lt_item_counters_t *c = lt_cv_at(&st->counters, iid);
  if (created) SET(m->published_at_ms, e->ts_ms);
  uint32_t dur = LOAD(m->duration_ms);
  if (e->duration_ms && !dur) SET(m->duration_ms, dur = e->duration_ms);

  double ratio = -1;
  if (dur && (e->type == LT_EV_PLAY)) ratio = (double)e->watch_ms / dur;
  int finished = ratio >= st->opts.finish_ratio;
  lt__creator_t *cr = m->creator != LT_NONE ? lt__creator(st, m->creator) : NULL;

  switch (e->type) {
  case LT_EV_IMPRESSION:
    ADD(c->impressions, 1);
    if (cr) PADD(cr->impressions, 1);
    break;
  case LT_EV_PLAY:
    ADD(c->plays, 1);
    ADD(c->watch_ms, e->watch_ms);
    if (cr) PADD(cr->watch_ms, e->watch_ms);
    if (ratio >= 0) ADD(c->ratio_sum, ratio);
    if (finished) ADD(c->completions, 1);
    break;
  case LT_EV_LIKE: ADD(c->likes, 1); break;
  case LT_EV_COMMENT: ADD(c->comments, 1); break;
  case LT_EV_SHARE: ADD(c->shares, 1); break;
  case LT_EV_FOLLOW:
  case LT_EV_UNFOLLOW:
    if (e->type == LT_EV_FOLLOW) ADD(c->follows, 1);
    if (m->creator != LT_NONE && (rc = follow_set(st, uid, m->creator, e->type == LT_EV_FOLLOW)))
      return rc;
    break;
  case LT_EV_NOT_INTERESTED: ADD(c->not_interested, 1); break;
  case LT_EV_PURCHASE:
    ADD(c->purchases, 1);
    ADD(c->gmv_cents, (uint64_t)e->value);
    break;
  case LT_EV_GIFT: ADD(c->gift_cents, (uint64_t)e->value); break;
  case LT_EV_AD_IMPRESSION: ADD(c->ad_impressions, 1); break;
  case LT_EV_AD_CLICK: ADD(c->ad_clicks, 1); break;
  case LT_EV_AD_CONVERSION: ADD(c->ad_conversions, 1); break;
  }
  pop_add(st, c, e->ts_ms, event_pop_weight(e, ratio));
  if (e->ts_ms > LOAD(c->last_event_ms)) SET(c->last_event_ms, e->ts_ms);

  /* the user: history, per-day activity */
  int64_t ts_s = e->ts_ms / 1000;
  int32_t day = lt_tz_day(&st->tz, ts_s);
  /* lt_record_check bounds ts; a zone west of UTC can still put the first
   * hours of 1970 on day -1: count them on day 0 */
  if (day < 0) day = 0;
  if (day >= LT__MAX_DAYS) day = LT__MAX_DAYS - 1;
  uint32_t watch = e->type == LT_EV_PLAY ? e->watch_ms : 0, plays = e->type == LT_EV_PLAY;
  int new_day = 0;
  lt__user_t *u = lt__user(st, uid);
  pthread_mutex_lock(user_lock(st, uid));
  int new_user = u->events == 0;
  u->events++;
  u->plays += plays;
  u->watch_ms += watch;
  if (!u->first_ms || e->ts_ms < u->first_ms) u->first_ms = e->ts_ms;
  if (e->ts_ms > u->last_ms) u->last_ms = e->ts_ms;
  rc = user_day_add(u, day, watch, plays, &new_day);
  if (!rc && e->type != LT_EV_IMPRESSION && e->type < LT_EV_AD_IMPRESSION) {
    double w = e->weight > 0 ? e->weight : (ratio >= 0 ? ratio : 0);
    double wq = w * 100.0 + 0.5;
    lt_hist_t h = {iid, (uint32_t)(ts_s > UINT32_MAX ? UINT32_MAX : (ts_s < 0 ? 0 : ts_s)),
                   e->watch_ms, e->type, (uint8_t)(finished ? LT_HIST_FINISHED : 0),
                   (uint16_t)(wq > UINT16_MAX ? UINT16_MAX : wq)};
    rc = hist_push(st, u, &h);
  }
  pthread_mutex_unlock(user_lock(st, uid));
  if (rc) return rc;

  lt_day_totals_t *d = lt__state_day(st, day);
  if (d) {
    PADD(d->events, 1);
    PADD(d->active_users, new_day);
    PADD(d->new_users, new_user);
    PADD(d->watch_ms, watch);
    switch (e->type) {
    case LT_EV_IMPRESSION: PADD(d->impressions, 1); break;
    case LT_EV_PLAY:
      PADD(d->plays, 1);
      PADD(d->completions, finished);
      break;
    case LT_EV_LIKE: PADD(d->likes, 1); break;
    case LT_EV_SHARE: PADD(d->shares, 1); break;
    case LT_EV_FOLLOW: PADD(d->follows, 1); break;
    case LT_EV_PURCHASE:
      PADD(d->purchases, 1);
      PADD(d->gmv_cents, (uint64_t)e->value);
      break;
    case LT_EV_GIFT: PADD(d->gift_cents, (uint64_t)e->value); break;
    }
  }
  lt_state_totals_t *t = &st->totals;
  PADD(t->events, 1);
  if (!t->min_ts_ms || e->ts_ms < t->min_ts_ms) PSET(t->min_ts_ms, e->ts_ms);
  if (e->ts_ms > t->max_ts_ms) PSET(t->max_ts_ms, e->ts_ms);
  if (day < t->min_day) PSET(t->min_day, day);
  if (day > t->max_day) PSET(t->max_day, day);
  return LT_OK;
}

static int apply_item(lt_state_t *st, const lt_item_rec_t *r) {
  uint32_t iid, cid, tag, prod = LT_NONE;
  int rc, created, new_creator;
  if ((rc = intern(st, LT_NS_ITEM, r->id, &iid, &created))) return rc;
  if ((rc = intern(st, LT_NS_CREATOR, r->creator, &cid, &new_creator))) return rc;
  if (r->product_id.n && (rc = intern(st, LT_NS_PRODUCT, r->product_id, &prod, NULL))) return rc;
  uint32_t tags[LT_MAX_TAGS];
  for (uint32_t i = 0; i < r->ntags; i++) {
    if ((rc = intern(st, LT_NS_TAG, r->tags[i], &tag, NULL))) return rc;
    tags[i] = tag;
  }
  lt_item_meta_t *m = lt_cv_at(&st->items, iid);
  if (m->creator != cid) {
    if (m->creator != LT_NONE && (rc = creator_add_item(st, m->creator, iid, 1))) return rc;
    if ((rc = creator_add_item(st, cid, iid, 0))) return rc;
  }
  m->creator = cid;
  m->kind = r->kind;
  m->aigc = r->aigc;
  SET(m->deleted, 0);
  m->in_catalog = 1;
  if (r->duration_ms) SET(m->duration_ms, r->duration_ms);
  memcpy(m->tags, tags, r->ntags * sizeof *tags);
  m->ntags = r->ntags;
  m->product = prod;
  m->price_cents = r->price_cents;
  /* the publish time: as given; else, for an item first seen now, the time
   * of the put (an item seen first in events keeps its first event time) */
  if (r->published_at_ms) SET(m->published_at_ms, r->published_at_ms);
  else if (created || !LOAD(m->published_at_ms)) SET(m->published_at_ms, r->ts_ms);
  m->live_start_ms = r->live_start_ms;
  m->live_end_ms = r->live_end_ms;
  lt__creator_t *c = lt__creator(st, cid);
  int64_t pub = LOAD(m->published_at_ms);
  if (pub && (!c->first_seen_ms || pub < c->first_seen_ms)) PSET(c->first_seen_ms, pub);
  return LT_OK;
}

static int apply_user(lt_state_t *st, const lt_user_rec_t *r) {
  uint32_t uid, g[LT_MAX_GROUPS];
  int rc;
  if ((rc = intern(st, LT_NS_USER, r->id, &uid, NULL))) return rc;
  for (uint32_t i = 0; i < r->ngroups; i++)
    if ((rc = intern(st, LT_NS_GROUP, r->groups[i], &g[i], NULL))) return rc;
  uint32_t *groups = NULL;
  if (r->ngroups && !(groups = malloc(r->ngroups * sizeof *groups))) return LT_ENOMEM;
  if (r->ngroups) memcpy(groups, g, r->ngroups * sizeof *groups);
  lt__user_t *u = lt__user(st, uid);
  pthread_mutex_lock(user_lock(st, uid));
  free(u->groups);
  u->groups = groups;
  u->ngroups = r->ngroups;
  pthread_mutex_unlock(user_lock(st, uid));
  return LT_OK;
}

int lt_state_apply(lt_state_t *st, lt_record_t *rec, uint64_t lsn) {
  return lt_state_apply_known(st, rec, lsn, NULL);
}

int lt_state_apply_known(lt_state_t *st, lt_record_t *rec, uint64_t lsn,
                         const lt_state_ids_t *known) {
  const char *why;
  if (rec->kind == LT_REC_EVENT) rec->u.ev.ids_set = 0;
  if (lt_record_check(rec, &why)) return LT_EINVAL;
  int rc = LT_OK;
  uint32_t a, b;
  switch (rec->kind) {
  case LT_REC_EVENT:
    rc = apply_event(st, &rec->u.ev, known);
    break;
  case LT_REC_ITEM_PUT:
    rc = apply_item(st, &rec->u.item);
    break;
  case LT_REC_ITEM_DEL:
    if (lt_intern_find(st->ns[LT_NS_ITEM], rec->u.del.id.p, rec->u.del.id.n, &a) == LT_OK)
      SET(((lt_item_meta_t *)lt_cv_at(&st->items, a))->deleted, 1);
    break;
  case LT_REC_USER_PUT:
    rc = apply_user(st, &rec->u.user);
    break;
  case LT_REC_CREATOR_PUT: {
    int created;
    if ((rc = intern(st, LT_NS_CREATOR, rec->u.creator.id, &a, &created))) break;
    if (rec->u.creator.created_at_ms)
      PSET(lt__creator(st, a)->first_seen_ms, rec->u.creator.created_at_ms);
    break;
  }
  case LT_REC_FOLLOW:
  case LT_REC_UNFOLLOW:
    if ((rc = intern(st, LT_NS_USER, rec->u.follow.user, &a, NULL)) ||
        (rc = intern(st, LT_NS_CREATOR, rec->u.follow.creator, &b, NULL)))
      break;
    rc = follow_set(st, a, b, rec->kind == LT_REC_FOLLOW);
    break;
  default:
    return LT_EINVAL;
  }
  if (rc == LT_OK) PADD(st->totals.records, 1);
  (void)lsn;
  return rc;
}

void lt_state_set_applied(lt_state_t *st, uint64_t end) {
  __atomic_store_n(&st->applied, end, __ATOMIC_RELEASE);
}
uint64_t lt_state_applied(const lt_state_t *st) {
  return __atomic_load_n(&st->applied, __ATOMIC_ACQUIRE);
}

void lt_state_prefetch(const lt_state_t *st, const lt_record_t *rec, int step,
                       lt_state_ids_t *ids) {
  if (step == 3 && ids) *ids = (lt_state_ids_t){LT_NONE, LT_NONE}; /* filled as found below */
  if (rec->kind != LT_REC_EVENT) return;
  const lt_event_t *e = &rec->u.ev;
  if (step < 3) {
    if (step == 0 && e->id.n)
      lt__idem_prefetch(&st->idem, lt_u64map_key(lt_hash64(e->id.p, e->id.n)));
    lt_intern_prefetch(st->ns[LT_NS_USER], e->user.p, e->user.n, step);
    lt_intern_prefetch(st->ns[LT_NS_ITEM], e->item.p, e->item.n, step);
    return;
  }
  /* a found id may lack its storage when growing it failed: such an id is
   * not reported (applying it interns it again) */
  uint32_t uid = LT_NONE, iid;
  if (step == 4 && ids) uid = ids->user;
  else if (lt_intern_find(st->ns[LT_NS_USER], e->user.p, e->user.n, &uid))
    uid = LT_NONE;
  if (uid < lt_cv_len(&st->users)) {
    const lt__user_t *u = lt__user(st, uid);
    if (step == 3) {
      if (ids) ids->user = uid;
      __builtin_prefetch(u);
    } else {
      if (u->ndays) __builtin_prefetch(&u->days[u->ndays - 1]);
      uint32_t next = u->hlen < st->opts.history_cap ? u->hlen : u->hhead;
      if (u->hist) __builtin_prefetch(&u->hist[next]);
    }
  }
  if (step == 3 && !lt_intern_find(st->ns[LT_NS_ITEM], e->item.p, e->item.n, &iid) &&
      iid < lt_cv_len(&st->items) && iid < lt_cv_len(&st->counters)) {
    __builtin_prefetch(lt_cv_at(&st->items, iid));
    __builtin_prefetch(lt_cv_at(&st->counters, iid));
    if (ids) ids->item = iid;
  }
}

int lt_state_event_seen(const lt_state_t *st, lt_str_t id) {
  if (!id.n) return 0;
  return lt__idem_seen(&st->idem, lt_u64map_key(lt_hash64(id.p, id.n)));
}

void lt_state_idem_info(const lt_state_t *st, lt_idem_info_t *out) {
  out->ids = st->idem.len;
  out->slots = st->idem.cap;
  out->clock_ms = st->idem.clock_ms;
  out->window_ms = st->idem.window_ms;
}

/* ---- readers ------------------------------------------------------- */

const lt_item_meta_t *lt_state_item(const lt_state_t *st, uint32_t item) {
  return item < lt_cv_len(&st->items) ? lt_cv_at(&st->items, item) : NULL;
}

const lt_item_counters_t *lt_state_item_counters(const lt_state_t *st, uint32_t item) {
  return item < lt_cv_len(&st->counters) ? lt_cv_at(&st->counters, item) : NULL;
}

double lt_state_item_pop(const lt_state_t *st, uint32_t item, int64_t now_ms) {
  const lt_item_counters_t *c = lt_state_item_counters(st, item);
  if (!c) return 0;
  int64_t t = atomic_load_explicit(&c->pop_ts_ms, memory_order_acquire);
  /* (read in single precision — a feed request reads hundreds — where the
   * writer's running sum keeps double: relative error below 1e-6) */
  int64_t dt = now_ms - t;
  return LOAD(c->pop) * (dt <= 0 ? 1.0 : (double)expf((float)(-(double)dt * st->decay_per_ms)));
}

int lt_state_item_counters_copy(const lt_state_t *st, uint32_t item, lt_item_counters_t *out) {
  const lt_item_counters_t *c = lt_state_item_counters(st, item);
  if (!c) return LT_ENOTFOUND;
#define COPY(f) SET(out->f, LOAD(c->f));
  COPY(impressions) COPY(plays) COPY(watch_ms) COPY(completions) COPY(likes) COPY(comments)
  COPY(shares) COPY(follows) COPY(not_interested) COPY(purchases) COPY(gmv_cents)
  COPY(gift_cents) COPY(ad_impressions) COPY(ad_clicks) COPY(ad_conversions) COPY(ratio_sum)
  COPY(pop) COPY(pop_ts_ms) COPY(last_event_ms)
#undef COPY
  return LT_OK;
}

size_t lt_state_creator_items(lt_state_t *st, uint32_t creator, uint32_t *out, size_t max) {
  if (creator >= lt_cv_len(&st->creators)) return 0;
  lt__creator_t *c = lt__creator(st, creator);
  pthread_mutex_lock(creator_lock(st, creator));
  size_t n = c->nitems, take = n < max ? n : max;
  if (take) memcpy(out, c->items + (n - take), take * sizeof *out);
  pthread_mutex_unlock(creator_lock(st, creator));
  return n;
}

int lt_state_creator_info(const lt_state_t *st, uint32_t creator, lt_creator_info_t *out) {
  if (creator >= lt_cv_len(&st->creators)) return LT_ENOTFOUND;
  const lt__creator_t *c = lt__creator(st, creator);
  pthread_mutex_t *l = &((lt_state_t *)st)->creator_locks[creator % LT__STRIPES];
  pthread_mutex_lock(l); /* the item list's length changes under it */
  out->items = c->nitems;
  pthread_mutex_unlock(l);
  out->followers = PLOAD(c->followers);
  out->impressions = PLOAD(c->impressions);
  out->watch_ms = PLOAD(c->watch_ms);
  out->first_seen_ms = PLOAD(c->first_seen_ms);
  return LT_OK;
}

size_t lt_state_user_history(lt_state_t *st, uint32_t user, lt_hist_t *out, size_t max) {
  if (user >= lt_cv_len(&st->users)) return 0;
  lt__user_t *u = lt__user(st, user);
  pthread_mutex_lock(user_lock(st, user));
  size_t n = u->hlen, take = n < max ? n : max;
  /* the newest `take` entries, oldest first: ring positions n-take .. n-1
   * after hhead, in at most two runs (one division, not one per entry:
   * the ranker copies 64 entries per event on the writer path) */
  if (take) {
    size_t from = (u->hhead + (n - take)) % n, first = n - from < take ? n - from : take;
    memcpy(out, u->hist + from, first * sizeof *out);
    memcpy(out + first, u->hist, (take - first) * sizeof *out);
  }
  pthread_mutex_unlock(user_lock(st, user));
  return take;
}

size_t lt_state_user_follows(lt_state_t *st, uint32_t user, uint32_t *out, size_t max) {
  if (user >= lt_cv_len(&st->users)) return 0;
  lt__user_t *u = lt__user(st, user);
  pthread_mutex_lock(user_lock(st, user));
  size_t n = u->nfollows;
  if (out && max && n) memcpy(out, u->follows, (n < max ? n : max) * sizeof *out);
  pthread_mutex_unlock(user_lock(st, user));
  return n;
}

size_t lt_state_user_groups(lt_state_t *st, uint32_t user, uint32_t *out, size_t max) {
  if (user >= lt_cv_len(&st->users)) return 0;
  lt__user_t *u = lt__user(st, user);
  pthread_mutex_lock(user_lock(st, user));
  size_t n = u->ngroups;
  if (out && max && n) memcpy(out, u->groups, (n < max ? n : max) * sizeof *out);
  pthread_mutex_unlock(user_lock(st, user));
  return n;
}

int lt_state_user_in_group(lt_state_t *st, uint32_t user, uint32_t group) {
  uint32_t g[LT_MAX_GROUPS];
  size_t n = lt_state_user_groups(st, user, g, LT_MAX_GROUPS);
  for (size_t i = 0; i < n && i < LT_MAX_GROUPS; i++)
    if (g[i] == group) return 1;
  return 0;
}

int lt_state_user_info(lt_state_t *st, uint32_t user, lt_user_info_t *out) {
  if (user >= lt_cv_len(&st->users)) return LT_ENOTFOUND;
  lt__user_t *u = lt__user(st, user);
  pthread_mutex_lock(user_lock(st, user));
  out->events = u->events;
  out->plays = u->plays;
  out->watch_ms = u->watch_ms;
  out->first_ms = u->first_ms;
  out->last_ms = u->last_ms;
  out->history_len = u->hlen;
  out->nfollows = u->nfollows;
  out->ngroups = u->ngroups;
  pthread_mutex_unlock(user_lock(st, user));
  return LT_OK;
}

const lt_tz_t *lt_state_tz(const lt_state_t *st) { return &st->tz; }

void lt_state_day_totals(const lt_state_t *st, int32_t day, lt_day_totals_t *out) {
  memset(out, 0, sizeof *out);
  if (day < 0 || day >= LT__MAX_DAYS) return;
  const lt_day_totals_t *d = &st->days[day];
#define COPY(f) out->f = PLOAD(d->f);
  COPY(active_users) COPY(new_users) COPY(events) COPY(impressions) COPY(plays)
  COPY(completions) COPY(likes) COPY(shares) COPY(follows) COPY(watch_ms) COPY(purchases)
  COPY(gmv_cents) COPY(gift_cents)
#undef COPY
}

void lt_state_user_day(const lt_state_t *st, uint32_t user, int32_t day, uint64_t *watch_ms,
                       uint32_t *plays) {
  *watch_ms = 0;
  *plays = 0;
  if (user >= lt_cv_len(&st->users)) return;
  lt__user_t *u = lt__user(st, user);
  pthread_mutex_t *l = &((lt_state_t *)st)->user_locks[user % LT__STRIPES];
  pthread_mutex_lock(l);
  for (uint32_t i = u->ndays; i > 0; i--) {
    if (u->days[i - 1].day == day) {
      *watch_ms = u->days[i - 1].watch_ms;
      *plays = u->days[i - 1].plays;
      break;
    }
    if (u->days[i - 1].day < day) break;
  }
  pthread_mutex_unlock(l);
}

void lt_state_each_user_day(const lt_state_t *st, int32_t from, int32_t to,
                            void (*fn)(void *, uint32_t, int32_t, uint64_t, uint32_t),
                            void *ctx) {
  uint32_t nu = lt_cv_len(&st->users);
  for (uint32_t uid = 0; uid < nu; uid++) {
    lt__user_t *u = lt__user(st, uid);
    pthread_mutex_t *l = &((lt_state_t *)st)->user_locks[uid % LT__STRIPES];
    pthread_mutex_lock(l);
    for (uint32_t i = 0; i < u->ndays; i++) {
      int32_t d = u->days[i].day;
      if (d >= from && d <= to) fn(ctx, uid, d, u->days[i].watch_ms, u->days[i].plays);
    }
    pthread_mutex_unlock(l);
  }
}

void lt_state_totals(const lt_state_t *st, lt_state_totals_t *out) {
  const lt_state_totals_t *t = &st->totals;
  memset(out, 0, sizeof *out);
#define COPY(f) out->f = PLOAD(t->f);
  COPY(events) COPY(duplicates_rejected) COPY(records) COPY(min_ts_ms) COPY(max_ts_ms)
  COPY(min_day) COPY(max_day)
#undef COPY
  if (!out->events) out->min_day = out->max_day = 0;
  out->users = lt_cv_len(&st->users);
  out->items = lt_cv_len(&st->items);
  out->creators = lt_cv_len(&st->creators);
}

size_t lt_state_bytes(const lt_state_t *st) {
  size_t b = sizeof *st + lt_cv_bytes(&st->items) + lt_cv_bytes(&st->counters) +
             lt_cv_bytes(&st->users) + lt_cv_bytes(&st->creators) +
             st->idem.cap * sizeof *st->idem.slots;
  for (int i = 0; i < LT_NS__COUNT; i++) b += lt_intern_bytes(st->ns[i]);
  uint32_t nu = lt_cv_len(&st->users);
  for (uint32_t u = 0; u < nu; u++) {
    const lt__user_t *us = lt__user(st, u);
    b += us->hcap * sizeof(lt_hist_t) + us->fcap * 4 + us->ngroups * 4 + us->dcap * sizeof(lt__uday_t);
  }
  return b;
}
