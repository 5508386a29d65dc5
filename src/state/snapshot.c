/*
 * snapshot.c — the state written to and read from one file.
 *
 * Format (version 2): "LTSNAP1\n" (8 bytes), u32le version, then a body of
 * varints (core/buf.h), then u64le XXH3-64 of every byte before it.
 * Body, in order:
 *   str timezone, uvar history_cap, svar idempotency window (ms, -1 = for
 *   ever), u64le applied (log offset covered),
 *   totals: uvar events, duplicates_rejected, records, svar min_ts_ms,
 *           max_ts_ms, min_day, max_day;
 *   for each of the 6 namespaces: uvar count, count x str (id order);
 *   items (count = item namespace count): meta then counters per item;
 *   users: per user history (uvar n, n x entry oldest first), follows,
 *          groups, days, uvar events, plays, watch_ms, svar first, last;
 *   creators: uvar nitems, items, followers, impressions, watch_ms,
 *          svar first_seen_ms;
 *   idempotency index (idem.c): svar event clock, uvar n, n x svar event
 *          times of the clock's current block (sorted); u8 log2 of the table size
 *          (0 = no table), uvar sweep cursor, uvar n, n x (u64le key, svar
 *          clock - stamp), keys in slot order from the slot after the
 *          first empty one round to it (so a load rebuilds the same table);
 *   days: svar first day, uvar ndays, ndays x 13 uvars (days with events).
 * Doubles travel as their IEEE bits (u64le).
 *
 * Version 1 (before the idempotency window: uvar n, n x u64le key, no
 * stamps) is LT_EVERSION: the store skips it and replays the log, which
 * it keeps whole, so the ids get the stamps a replay gives them.
 *
 * Loading checks the trailing hash over the whole file before decoding,
 * then range-checks every id against its namespace's count, so a
 * malformed or hostile file is rejected (LT_ECORRUPT), never trusted.
 * A file written with other options (time zone, history cap,
 * idempotency window) is LT_EVERSION: replay instead.
 */
#include "state/state_int.h"

#include "core/buf.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MAGIC "LTSNAP1\n"
#define VERSION 2u

typedef struct writer {
  FILE *f;
  lt_buf_t b;
  XXH3_state_t *h;
  int err;
} writer_t;

static void wflush(writer_t *w) {
  if (w->b.err) w->err = w->b.err;
  if (w->err || !w->b.len) return;
  XXH3_64bits_update(w->h, w->b.p, w->b.len);
  if (fwrite(w->b.p, 1, w->b.len, w->f) != w->b.len) w->err = LT_EIO;
  lt_buf_reset(&w->b);
}

static void wmaybe(writer_t *w) {
  if (w->b.len >= (1u << 20)) wflush(w);
}

static void wf64(lt_buf_t *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  lt_buf_u64le(b, u);
}

static double rf64(lt_rd_t *r) {
  uint64_t u = lt_rd_u64le(r);
  double v;
  memcpy(&v, &u, 8);
  return v;
}

static void put_day_totals(lt_buf_t *b, const lt_day_totals_t *d) {
  const uint64_t v[] = {d->active_users, d->new_users, d->events,   d->impressions, d->plays,
                        d->completions,  d->likes,     d->shares,   d->follows,     d->watch_ms,
                        d->purchases,    d->gmv_cents, d->gift_cents};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) lt_buf_uvar(b, v[i]);
}

static void get_day_totals(lt_rd_t *r, lt_day_totals_t *d) {
  uint64_t *v[] = {&d->active_users, &d->new_users, &d->events,   &d->impressions, &d->plays,
                   &d->completions,   &d->likes,     &d->shares,   &d->follows,     &d->watch_ms,
                   &d->purchases,     &d->gmv_cents, &d->gift_cents};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) *v[i] = lt_rd_uvar(r);
}

#define COUNTER_FIELDS(X)                                                                         \
  X(impressions) X(plays) X(watch_ms) X(completions) X(likes) X(comments) X(shares) X(follows)   \
  X(not_interested) X(purchases) X(gmv_cents) X(gift_cents) X(ad_impressions) X(ad_clicks)       \
  X(ad_conversions)

int lt_state_save(const lt_state_t *st, FILE *f) {
  writer_t w = {.f = f};
  lt_buf_init(&w.b);
  w.h = XXH3_createState();
  if (!w.h) return LT_ENOMEM;
  XXH3_64bits_reset(w.h);
  lt_buf_t *b = &w.b;
  lt_buf_put(b, MAGIC, 8);
  lt_buf_u32le(b, VERSION);
  lt_buf_str(b, st->tz.name, strlen(st->tz.name));
  lt_buf_uvar(b, st->opts.history_cap);
  lt_buf_svar(b, st->idem.window_ms);
  lt_buf_u64le(b, st->applied);
  lt_buf_uvar(b, st->totals.events);
  lt_buf_uvar(b, st->totals.duplicates_rejected);
  lt_buf_uvar(b, st->totals.records);
  lt_buf_svar(b, st->totals.min_ts_ms);
  lt_buf_svar(b, st->totals.max_ts_ms);
  lt_buf_svar(b, st->totals.min_day);
  lt_buf_svar(b, st->totals.max_day);
  for (int ns = 0; ns < LT_NS__COUNT; ns++) {
    uint32_t n = lt_intern_count(st->ns[ns]);
    lt_buf_uvar(b, n);
    for (uint32_t i = 0; i < n; i++) {
      size_t len;
      const char *s = lt_intern_str(st->ns[ns], i, &len);
      lt_buf_str(b, s, len);
      wmaybe(&w);
    }
  }
  uint32_t ni = lt_cv_len(&st->items);
  for (uint32_t i = 0; i < ni; i++) {
    const lt_item_meta_t *m = lt_cv_at(&st->items, i);
    const lt_item_counters_t *c = lt_cv_at(&st->counters, i);
    lt_buf_uvar(b, m->creator == LT_NONE ? 0 : (uint64_t)m->creator + 1);
    lt_buf_u8(b, m->kind);
    lt_buf_u8(b, (uint8_t)(m->aigc | m->deleted << 1 | m->in_catalog << 2));
    lt_buf_uvar(b, m->duration_ms);
    lt_buf_uvar(b, m->ntags);
    for (uint32_t t = 0; t < m->ntags; t++) lt_buf_uvar(b, m->tags[t]);
    lt_buf_uvar(b, m->product == LT_NONE ? 0 : (uint64_t)m->product + 1);
    lt_buf_svar(b, m->price_cents);
    lt_buf_svar(b, m->published_at_ms);
    lt_buf_svar(b, m->live_start_ms);
    lt_buf_svar(b, m->live_end_ms);
#define PUT_COUNTER(f) lt_buf_uvar(b, c->f);
    COUNTER_FIELDS(PUT_COUNTER)
#undef PUT_COUNTER
    wf64(b, c->ratio_sum);
    wf64(b, c->pop);
    lt_buf_svar(b, c->pop_ts_ms);
    lt_buf_svar(b, c->last_event_ms);
    wmaybe(&w);
  }
  uint32_t nu = lt_cv_len(&st->users);
  for (uint32_t u = 0; u < nu; u++) {
    const lt__user_t *us = lt__user(st, u);
    lt_buf_uvar(b, us->hlen);
    for (uint32_t k = 0; k < us->hlen; k++) {
      const lt_hist_t *h = &us->hist[(us->hhead + k) % us->hlen];
      lt_buf_uvar(b, h->item);
      lt_buf_uvar(b, h->ts);
      lt_buf_uvar(b, h->watch_ms);
      lt_buf_u8(b, h->type);
      lt_buf_u8(b, h->flags);
      lt_buf_uvar(b, h->weight_q);
    }
    lt_buf_uvar(b, us->nfollows);
    for (uint32_t k = 0; k < us->nfollows; k++) lt_buf_uvar(b, us->follows[k]);
    lt_buf_uvar(b, us->ngroups);
    for (uint32_t k = 0; k < us->ngroups; k++) lt_buf_uvar(b, us->groups[k]);
    lt_buf_uvar(b, us->ndays);
    for (uint32_t k = 0; k < us->ndays; k++) {
      lt_buf_uvar(b, us->days[k].day);
      lt_buf_uvar(b, us->days[k].plays);
      lt_buf_uvar(b, us->days[k].watch_ms);
    }
    lt_buf_uvar(b, us->events);
    lt_buf_uvar(b, us->plays);
    lt_buf_uvar(b, us->watch_ms);
    lt_buf_svar(b, us->first_ms);
    lt_buf_svar(b, us->last_ms);
    wmaybe(&w);
  }
  uint32_t nc = lt_cv_len(&st->creators);
  for (uint32_t c = 0; c < nc; c++) {
    const lt__creator_t *cr = lt__creator(st, c);
    lt_buf_uvar(b, cr->nitems);
    for (uint32_t k = 0; k < cr->nitems; k++) lt_buf_uvar(b, cr->items[k]);
    lt_buf_uvar(b, cr->followers);
    lt_buf_uvar(b, cr->impressions);
    lt_buf_uvar(b, cr->watch_ms);
    lt_buf_svar(b, cr->first_seen_ms);
    wmaybe(&w);
  }
  const lt__idem_t *x = &st->idem;
  lt_buf_svar(b, x->clock_ms);
  lt_buf_uvar(b, x->nbuf);
  for (uint32_t k = 0; k < x->nbuf; k++) lt_buf_svar(b, x->buf[k]);
  unsigned lg = 0;
  while (((size_t)1 << lg) < x->cap) lg++;
  lt_buf_u8(b, (uint8_t)(x->cap ? lg : 0));
  lt_buf_uvar(b, x->cursor);
  lt_buf_uvar(b, x->len);
  size_t start = lt__idem_start(x);
  for (size_t k = 1; k <= x->cap; k++) {
    size_t i = (start + k) & (x->cap - 1);
    if (!x->slots[i].key) continue;
    lt_buf_u64le(b, x->slots[i].key);
    lt_buf_svar(b, x->clock_ms - x->slots[i].stamp);
    wmaybe(&w);
  }
  int32_t d0 = st->totals.events ? st->totals.min_day : 0;
  int32_t d1 = st->totals.events ? st->totals.max_day + 1 : 0;
  if (d0 < 0) d0 = 0;
  if (d1 > LT__MAX_DAYS) d1 = LT__MAX_DAYS;
  if (d1 < d0) d1 = d0;
  lt_buf_svar(b, d0);
  lt_buf_uvar(b, (uint64_t)(d1 - d0));
  for (int32_t d = d0; d < d1; d++) put_day_totals(b, &st->days[d]);
  wflush(&w);
  if (!w.err) {
    unsigned char tail[8];
    lt_store_u64le(tail, XXH3_64bits_digest(w.h));
    if (fwrite(tail, 1, 8, f) != 8) w.err = LT_EIO;
  }
  if (!w.err && fflush(f)) w.err = LT_EIO;
  XXH3_freeState(w.h);
  lt_buf_free(&w.b);
  return w.err;
}

/* Reads a uvar that must be < limit; sets r->err otherwise. */
static uint32_t rd_id(lt_rd_t *r, uint64_t limit) {
  uint64_t v = lt_rd_uvar(r);
  if (v >= limit) {
    r->err = LT_ECORRUPT;
    return 0;
  }
  return (uint32_t)v;
}

static uint32_t rd_opt_id(lt_rd_t *r, uint64_t limit) {
  uint64_t v = lt_rd_uvar(r);
  if (v > limit) {
    r->err = LT_ECORRUPT;
    return LT_NONE;
  }
  return v ? (uint32_t)(v - 1) : LT_NONE;
}

/* Reads a count that also bounds an allocation: each element takes at
 * least one byte, so a count above the bytes left is a lie. */
static uint32_t rd_count(lt_rd_t *r, uint64_t max) {
  uint64_t v = lt_rd_uvar(r);
  if (v > max || v > (uint64_t)(r->end - r->p)) {
    r->err = LT_ECORRUPT;
    return 0;
  }
  return (uint32_t)v;
}

/* The idempotency index; invariants of idem.c checked as it is built. */
static int load_idem(lt__idem_t *x, lt_rd_t *r) {
  int64_t clock = lt_rd_svar(r);
  uint32_t nbuf = rd_count(r, LT__IDEM_BLOCK - 1);
  if (r->err || clock < 0 || clock > LT_TS_MAX_MS) return LT_ECORRUPT;
  x->clock_ms = clock;
  x->nbuf = nbuf;
  for (uint32_t k = 0; k < nbuf; k++) {
    x->buf[k] = lt_rd_svar(r);
    if (x->buf[k] < 0 || x->buf[k] > LT_TS_MAX_MS || (k && x->buf[k] < x->buf[k - 1]))
      r->err = LT_ECORRUPT;
  }
  unsigned lg = lt_rd_u8(r);
  uint64_t cursor = lt_rd_uvar(r), len = lt_rd_uvar(r);
  if (lg > 40) return LT_ECORRUPT;
  size_t cap = lg ? (size_t)1 << lg : 0;
  /* invariant 1 bounds the table by the entries, and each entry takes at
   * least 9 bytes of the file: a hostile size cannot reserve memory */
  if (r->err || (lg && cap < LT__IDEM_MIN) || len * 2 > cap ||
      (cap > LT__IDEM_MIN && len * 8 < cap) || len > (uint64_t)(r->end - r->p) / 9 ||
      (cap ? cursor >= cap : cursor != 0))
    return LT_ECORRUPT;
  int rc = lt__idem_load_begin(x, cap, (size_t)cursor);
  for (uint64_t i = 0; i < len && !rc; i++) {
    uint64_t key = lt_rd_u64le(r);
    int64_t age = lt_rd_svar(r);
    if (r->err || age > clock || age < clock - LT_TS_MAX_MS) return LT_ECORRUPT;
    rc = lt__idem_load_put(x, key, clock - age);
  }
  return rc;
}

static int load_body(lt_state_t *st, lt_rd_t *r) {
  int rc;
  size_t n;
  const char *tz = lt_rd_str(r, &n, 63);
  if (r->err) return LT_ECORRUPT;
  if (n != strlen(st->tz.name) || memcmp(tz, st->tz.name, n)) return LT_EVERSION;
  uint64_t hcap = lt_rd_uvar(r);
  if (hcap != st->opts.history_cap) return LT_EVERSION; /* replay instead */
  if (lt_rd_svar(r) != st->idem.window_ms) return r->err ? LT_ECORRUPT : LT_EVERSION;
  st->applied = lt_rd_u64le(r);
  st->totals.events = lt_rd_uvar(r);
  st->totals.duplicates_rejected = lt_rd_uvar(r);
  st->totals.records = lt_rd_uvar(r);
  st->totals.min_ts_ms = lt_rd_svar(r);
  st->totals.max_ts_ms = lt_rd_svar(r);
  int64_t min_day = lt_rd_svar(r), max_day = lt_rd_svar(r);
  int64_t t0 = st->totals.min_ts_ms, t1 = st->totals.max_ts_ms;
  /* with events, the day and time ranges hold them; without, they are
   * exactly what a state that never had an event writes (events applied
   * later widen them from there: anything else made the next save
   * unloadable — fuzz/regressions/snapshot/no-events-but-a-day-range) */
  if (st->totals.events ? min_day < 0 || max_day >= LT__MAX_DAYS || min_day > max_day ||
                              t0 < 0 || t0 > t1 || t1 > LT_TS_MAX_MS
                        : min_day != INT32_MAX || max_day != INT32_MIN || t0 || t1)
    return LT_ECORRUPT;
  st->totals.min_day = (int32_t)min_day;
  st->totals.max_day = (int32_t)max_day;
  uint32_t count[LT_NS__COUNT];
  for (int ns = 0; ns < LT_NS__COUNT && !r->err; ns++) {
    count[ns] = rd_count(r, UINT32_MAX - 1);
    for (uint32_t i = 0; i < count[ns] && !r->err; i++) {
      const char *s = lt_rd_str(r, &n, LT_ID_MAX);
      uint32_t id;
      int created;
      /* a name no record could have made (state.c applies only checked
       * records): every later record naming it would be refused */
      if (r->err || !lt_record_id_ok((lt_str_t){s, n})) return LT_ECORRUPT;
      if ((rc = lt_intern_put(st->ns[ns], s, n, &id, &created))) return rc;
      if (!created || id != i) return LT_ECORRUPT; /* duplicate string */
      if ((rc = lt__state_grow(st, (lt_ns_t)ns, id))) return rc;
    }
  }
  if (r->err) return LT_ECORRUPT;
  for (uint32_t i = 0; i < count[LT_NS_ITEM] && !r->err; i++) {
    lt_item_meta_t *m = lt_cv_at(&st->items, i);
    lt_item_counters_t *c = lt_cv_at(&st->counters, i);
    m->creator = rd_opt_id(r, count[LT_NS_CREATOR]);
    m->kind = lt_rd_u8(r);
    uint8_t fl = lt_rd_u8(r);
    m->aigc = fl & 1;
    m->deleted = (fl >> 1) & 1;
    m->in_catalog = (fl >> 2) & 1;
    m->duration_ms = (uint32_t)lt_rd_uvar(r);
    m->ntags = rd_id(r, LT_MAX_TAGS + 1);
    for (uint32_t t = 0; t < m->ntags; t++) m->tags[t] = rd_id(r, count[LT_NS_TAG]);
    m->product = rd_opt_id(r, count[LT_NS_PRODUCT]);
    m->price_cents = lt_rd_svar(r);
    m->published_at_ms = lt_rd_svar(r);
    m->live_start_ms = lt_rd_svar(r);
    m->live_end_ms = lt_rd_svar(r);
    if (m->kind > LT_KIND_DRAMA || fl > 7) r->err = LT_ECORRUPT;
#define GET_COUNTER(f) c->f = lt_rd_uvar(r);
    COUNTER_FIELDS(GET_COUNTER)
#undef GET_COUNTER
    c->ratio_sum = rf64(r);
    c->pop = rf64(r);
    c->pop_ts_ms = lt_rd_svar(r);
    c->last_event_ms = lt_rd_svar(r);
    /* trending multiplies these: a NaN or an infinity would rank first */
    if (!isfinite(c->pop) || c->pop < 0 || !isfinite(c->ratio_sum) || c->ratio_sum < 0)
      r->err = LT_ECORRUPT;
  }
  for (uint32_t u = 0; u < count[LT_NS_USER] && !r->err; u++) {
    lt__user_t *us = lt__user(st, u);
    uint32_t hn = rd_count(r, st->opts.history_cap);
    if (hn) {
      if (!(us->hist = malloc(hn * sizeof *us->hist))) return LT_ENOMEM;
      us->hlen = us->hcap = hn;
    }
    for (uint32_t k = 0; k < hn && !r->err; k++) {
      lt_hist_t *h = &us->hist[k];
      h->item = rd_id(r, count[LT_NS_ITEM]);
      h->ts = (uint32_t)lt_rd_uvar(r);
      h->watch_ms = (uint32_t)lt_rd_uvar(r);
      h->type = lt_rd_u8(r);
      h->flags = lt_rd_u8(r);
      h->weight_q = (uint16_t)rd_id(r, 65536);
      if (h->type >= LT_EV__COUNT) r->err = LT_ECORRUPT;
    }
    uint32_t nf = rd_count(r, count[LT_NS_CREATOR]);
    if (nf) {
      if (!(us->follows = malloc(nf * sizeof *us->follows))) return LT_ENOMEM;
      us->nfollows = us->fcap = nf;
    }
    for (uint32_t k = 0; k < nf; k++) us->follows[k] = rd_id(r, count[LT_NS_CREATOR]);
    uint32_t ng = rd_count(r, LT_MAX_GROUPS);
    if (ng) {
      if (!(us->groups = malloc(ng * sizeof *us->groups))) return LT_ENOMEM;
      us->ngroups = ng;
    }
    for (uint32_t k = 0; k < ng; k++) us->groups[k] = rd_id(r, count[LT_NS_GROUP]);
    uint32_t nd = rd_count(r, 65536);
    if (nd) {
      if (!(us->days = malloc(nd * sizeof *us->days))) return LT_ENOMEM;
      us->ndays = us->dcap = nd;
    }
    for (uint32_t k = 0; k < nd; k++) {
      us->days[k].day = (uint16_t)rd_id(r, 65536);
      us->days[k].plays = (uint16_t)rd_id(r, 65536);
      us->days[k].watch_ms = (uint32_t)rd_id(r, (uint64_t)UINT32_MAX + 1);
      if (k && us->days[k].day <= us->days[k - 1].day) r->err = LT_ECORRUPT;
    }
    us->events = lt_rd_uvar(r);
    us->plays = lt_rd_uvar(r);
    us->watch_ms = lt_rd_uvar(r);
    us->first_ms = lt_rd_svar(r);
    us->last_ms = lt_rd_svar(r);
  }
  for (uint32_t c = 0; c < count[LT_NS_CREATOR] && !r->err; c++) {
    lt__creator_t *cr = lt__creator(st, c);
    uint32_t ni = rd_count(r, count[LT_NS_ITEM]);
    if (ni) {
      if (!(cr->items = malloc(ni * sizeof *cr->items))) return LT_ENOMEM;
      cr->nitems = cr->icap = ni;
    }
    for (uint32_t k = 0; k < ni; k++) cr->items[k] = rd_id(r, count[LT_NS_ITEM]);
    cr->followers = lt_rd_uvar(r);
    cr->impressions = lt_rd_uvar(r);
    cr->watch_ms = lt_rd_uvar(r);
    cr->first_seen_ms = lt_rd_svar(r);
  }
  if ((rc = load_idem(&st->idem, r))) return rc;
  int64_t day0 = lt_rd_svar(r);
  uint32_t nd = rd_count(r, LT__MAX_DAYS);
  if (r->err || day0 < 0 || day0 + nd > LT__MAX_DAYS) return LT_ECORRUPT;
  for (uint32_t d = 0; d < nd; d++) get_day_totals(r, &st->days[day0 + d]);
  if (r->err || r->p != r->end) return LT_ECORRUPT;
  return LT_OK;
}

int lt_state_load(const void *p, size_t n, const lt_state_opts_t *opts, lt_state_t **out) {
  const unsigned char *b = p;
  if (n < 8 + 4 + 8 || memcmp(b, MAGIC, 8)) return LT_ECORRUPT;
  if (lt_load_u32le(b + 8) != VERSION) return LT_EVERSION;
  if (XXH3_64bits(b, n - 8) != lt_load_u64le(b + n - 8)) return LT_ECORRUPT;
  lt_state_t *st;
  int rc = lt_state_new(opts, &st);
  if (rc) return rc;
  lt_rd_t r;
  lt_rd_init(&r, b + 12, n - 12 - 8);
  rc = load_body(st, &r);
  if (!rc && r.err) rc = LT_ECORRUPT;
  if (rc) {
    lt_state_free(st);
    return rc;
  }
  *out = st;
  return LT_OK;
}
