/*
 * ads.c — the ads engine: campaign records, the writer path that keeps the
 * books, attach (one scan of the log), the campaign API, and the background
 * tick (day roll-over, reservation expiry, pacing).
 *
 * ---- Extension records (log payloads, varints as in core/buf.h) ----------
 *
 * CAMPAIGN_PUT (kind LT_REC_EXT_BASE + 0 = 64): the whole campaign after a
 * create or an update.
 *   u8   kind = 64
 *   u8   version = 1
 *   str  id                (1..128 bytes)
 *   str  advertiser        (1..128)
 *   str  name              (0..255)
 *   svar ts_ms             when the change was made (created_at / updated_at)
 *   uvar daily_budget_cents (1..10^10)
 *   u8   bid_type          0 cpm, 1 cpc, 2 ocpm
 *   uvar bid_cents         (1..10^7): per mille, per click, per conversion
 *   svar start_ms, svar end_ms   (0 = open)
 *   uvar freq_cap          (0 = the configured default; <= 1000)
 *   u8   status            0 active, 1 paused
 *   uvar ntags  (<= 16),  ntags  x str tag
 *   uvar ngroups (<= 16), ngroups x str group
 *   uvar ncreatives (1..64), ncreatives x { str item, u8 flags (bit 0: aigc) }
 * CAMPAIGN_STATUS (kind 65): pause / resume.
 *   u8 kind = 65, u8 version = 1, str id, u8 status, svar ts_ms
 * Kinds 66 and 67 are reserved for ads and skipped. A record with another
 * version, a field out of range or trailing bytes is skipped and counted
 * (metrics.records_skipped), never applied in part.
 *
 * ---- Applying (the books are a pure function of the log) ---------------
 *
 * Records are applied in log order by one writer, always through
 * lt_ads_ext (campaign records) and lt_ads_observe (catalog and events):
 * at attach fed the whole log by lt_store_scan (no write in progress),
 * then live by the store, one batch at a time in log order. One path, the same
 * functions (apply_put, apply_status, apply_event), so the books after a
 * restart equal the books before it (invariant 1).
 *
 *  - CAMPAIGN_PUT creates the campaign (dense id = order of creation) or
 *    replaces its definition. Its creatives are claimed in the owner map
 *    (item -> campaign); an item already owned by another campaign stays
 *    with that one and is dropped from this definition (first owner wins:
 *    deterministic; the API refuses such a write before it is logged).
 *  - ITEM_PUT records are tracked (creator, live or not, aigc) so gifts and
 *    purchases are attributed as of their place in the log.
 *  - gift: revenue of its day (live rooms vs other items), per creator, per
 *    room; purchase: GMV of its day, per creator, per item, and attributed
 *    GMV when it carries a request_id.
 *  - ad_impression / ad_click / ad_conversion on a creative: counted in the
 *    owning campaign's (day, hour) and (day) entries; when billable for the
 *    bid type (impression: CPM, oCPM; click: CPC) billed
 *      min(clamp(value, 0, max price of the bid), budget - day's spend)
 *    ucents (invariant 2: a campaign's billed spend of a day never exceeds
 *    its daily budget as of that point of the log).
 *
 * ---- Serving state (not billed from) -------------------------------------
 *
 * Each campaign has a mutex-guarded budget state per day slot (rt[day & 1]:
 * spent, mirroring the ledger, and reserved by auctions). lt_ads_fill
 * reserves a winner's price there only while spent + reserved < budget
 * (invariant 3: served-but-unbilled plus billed never exceeds the budget by
 * more than one price). Billing an event releases the reservation of the
 * auction that served it (found by request_id + item in the served table);
 * lt_ads_tick releases the ones never billed after reserve_ttl_s.
 *
 * Pacing (lt_ads_tick, every pacing_interval_s): the plan is a cumulative
 * curve F over the local day, mixing the traffic shape (learned from the
 * auction opportunities of past days, a built-in daily shape until one day
 * is seen) with a uniform spread, compressed into the first pacing_finish
 * of the day (a hedge: demand a campaign can win may fade in the contested
 * evening peak; what is left after that point is spread over the rest of
 * the day). For each campaign the remaining budget R (budget - spent -
 * reserved) is spread over the remaining plan: the next interval should
 * take D = R (F(t + dt) - F(t)) / (1 - F(t)), capped at
 * pacing_max_hour_share of the budget per hour. U, what the campaign would
 * take per interval if never throttled, is an exponential average
 * (5-minute time constant) of the value it was served (the sum of its
 * reservations: monotonic, so reservations that expire unbilled do not
 * bias it) divided by its multiplier; the multiplier becomes D / U, at
 * most doubling per update. lt_ads_fill lets a campaign bid with that
 * probability (a hash of request and campaign, so a replay of the same
 * requests decides the same way). A hard ceiling backs the plan: billed +
 * reserved in one local hour never passes hour_cap_share of the budget
 * (the hour slot `hr`, kept like the day slots).
 */
#include "ads/ads_int.h"

#include "core/clock.h"
#include "core/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

int32_t lt__day_of(const lt_ads_t *a, int64_t ts_ms, uint32_t *hour) {
  const lt_tz_t *tz = lt_state_tz(a->st);
  int64_t s = ts_ms >= 0 ? ts_ms / 1000 : -((-ts_ms + 999) / 1000);
  int32_t day = lt_tz_day(tz, s);
  if (day < 0) {
    if (hour) *hour = 0;
    return 0;
  }
  if (hour) {
    int64_t h = (s - lt_tz_day_start(tz, day)) / 3600;
    *hour = h < 0 ? 0 : h > 23 ? 23 : (uint32_t)h;
  }
  return day;
}

static uint64_t name_key(const char *s, size_t n) { return lt_u64map_key(lt_hash64(s, n)); }

static int find_cid(lt_ads_t *a, const char *id, size_t n, uint32_t *cid) {
  uint64_t *v = lt_u64map_get(&a->b.camp_by_name, name_key(id, n));
  if (!v || !*v) return LT_ENOTFOUND;
  const lt__cdef_t *d = lt__def(a->camps[*v - 1]);
  if (strlen(d->id) != n || memcmp(d->id, id, n)) return LT_ENOTFOUND; /* 64-bit collision */
  *cid = (uint32_t)(*v - 1);
  return LT_OK;
}

static uint32_t owner_of(lt_ads_t *a, uint32_t item) {
  uint64_t *v = lt_u64map_get(&a->b.owner, lt_u64map_key((uint64_t)item + 1));
  return v && *v ? (uint32_t)(*v - 1) : LT_NONE;
}

/* Publishes d as c's definition; the old one goes to the retired list. */
static void publish(lt_ads_t *a, lt__camp_t *c, lt__cdef_t *d) {
  pthread_mutex_lock(&a->def_lock);
  lt__cdef_t *old = c->def;
  __atomic_store_n(&c->def, d, __ATOMIC_RELEASE);
  if (old) {
    old->retired_next = a->retired;
    a->retired = old;
  }
  pthread_mutex_unlock(&a->def_lock);
}

/* Resolves names to dense ids; returns how many are still unknown. */
static uint32_t resolve(lt_state_t *st, lt__cdef_t *d) {
  uint32_t unknown = 0;
  for (uint32_t i = 0; i < d->ntags; i++)
    if (lt_state_find(st, LT_NS_TAG, d->tags[i], strlen(d->tags[i]), &d->tag_ids[i]))
      d->tag_ids[i] = LT_NONE, unknown++;
  for (uint32_t i = 0; i < d->ngroups; i++)
    if (lt_state_find(st, LT_NS_GROUP, d->groups[i], strlen(d->groups[i]), &d->group_ids[i]))
      d->group_ids[i] = LT_NONE, unknown++;
  return unknown;
}

static void resolve_creatives(lt_state_t *st, lt__cdef_t *d) {
  for (uint32_t i = 0; i < d->ncre; i++)
    if (lt_state_find(st, LT_NS_ITEM, d->cre[i], strlen(d->cre[i]), &d->cre_item[i]))
      d->cre_item[i] = LT_NONE;
}

/* ---- record codec ------------------------------------------------------- */

static void put_str(lt_buf_t *b, const char *s) { lt_buf_str(b, s, strlen(s)); }

static int encode_put(const lt_ads_spec_t *s, int64_t ts_ms, lt_buf_t *b) {
  lt_buf_u8(b, LT_ADS_REC_CAMPAIGN_PUT);
  lt_buf_u8(b, LT__ADS_REC_VERSION);
  put_str(b, s->id);
  put_str(b, s->advertiser);
  put_str(b, s->name);
  lt_buf_svar(b, ts_ms);
  lt_buf_uvar(b, (uint64_t)s->daily_budget_cents);
  lt_buf_u8(b, s->bid_type);
  lt_buf_uvar(b, (uint64_t)s->bid_cents);
  lt_buf_svar(b, s->start_ms);
  lt_buf_svar(b, s->end_ms);
  lt_buf_uvar(b, s->freq_cap);
  lt_buf_u8(b, s->status);
  lt_buf_uvar(b, s->ntags);
  for (uint32_t i = 0; i < s->ntags; i++)
    put_str(b, s->tags[i]);
  lt_buf_uvar(b, s->ngroups);
  for (uint32_t i = 0; i < s->ngroups; i++)
    put_str(b, s->groups[i]);
  lt_buf_uvar(b, s->ncreatives);
  for (uint32_t i = 0; i < s->ncreatives; i++) {
    put_str(b, s->creatives[i]);
    lt_buf_u8(b, s->creative_aigc[i] ? 1 : 0);
  }
  return b->err ? LT_ENOMEM : LT_OK;
}

/* Copies a length-prefixed string of min..max bytes (no NUL inside). */
static int get_str(lt_rd_t *r, char *out, size_t min, size_t max) {
  size_t n;
  const char *p = lt_rd_str(r, &n, max);
  if (r->err || !p || n < min || n > max || memchr(p, 0, n)) {
    r->err = LT_ECORRUPT;
    out[0] = 0;
    return -1;
  }
  memcpy(out, p, n);
  out[n] = 0;
  return 0;
}

static int decode_put(const void *p, size_t len, lt__cdef_t *d, uint8_t *status, int64_t *ts) {
  lt_rd_t r;
  lt_rd_init(&r, p, len);
  memset(d, 0, sizeof *d);
  if (lt_rd_u8(&r) != LT_ADS_REC_CAMPAIGN_PUT || lt_rd_u8(&r) != LT__ADS_REC_VERSION)
    return LT_EVERSION;
  get_str(&r, d->id, 1, LT_ADS_MAX_ID);
  get_str(&r, d->advertiser, 1, LT_ADS_MAX_ID);
  get_str(&r, d->name, 0, LT_ADS_MAX_NAME);
  *ts = lt_rd_svar(&r);
  uint64_t budget = lt_rd_uvar(&r);
  d->bid_type = lt_rd_u8(&r);
  uint64_t bid = lt_rd_uvar(&r);
  d->start_ms = lt_rd_svar(&r);
  d->end_ms = lt_rd_svar(&r);
  uint64_t cap = lt_rd_uvar(&r);
  *status = lt_rd_u8(&r);
  uint64_t nt = lt_rd_uvar(&r);
  if (nt > LT_ADS_MAX_TARGETS) return LT_ECORRUPT;
  d->ntags = (uint32_t)nt;
  for (uint32_t i = 0; i < d->ntags; i++)
    get_str(&r, d->tags[i], 1, LT_ADS_MAX_ID);
  uint64_t ng = lt_rd_uvar(&r);
  if (ng > LT_ADS_MAX_TARGETS) return LT_ECORRUPT;
  d->ngroups = (uint32_t)ng;
  for (uint32_t i = 0; i < d->ngroups; i++)
    get_str(&r, d->groups[i], 1, LT_ADS_MAX_ID);
  uint64_t nc = lt_rd_uvar(&r);
  if (nc < 1 || nc > LT_ADS_MAX_CREATIVES) return LT_ECORRUPT;
  d->ncre = (uint32_t)nc;
  for (uint32_t i = 0; i < d->ncre; i++) {
    get_str(&r, d->cre[i], 1, LT_ADS_MAX_ID);
    d->cre_aigc[i] = lt_rd_u8(&r) & 1;
  }
  if (r.err || r.p != r.end) return LT_ECORRUPT;
  if (budget < 1 || budget > (uint64_t)LT_ADS_MAX_BUDGET_CENTS || bid < 1 ||
      bid > (uint64_t)LT_ADS_MAX_BID_CENTS || d->bid_type > LT_BID_OCPM ||
      cap > LT_ADS_MAX_FREQ_CAP || *status > LT_CAMPAIGN_PAUSED || d->start_ms < 0 ||
      d->end_ms < 0 || d->start_ms > LT_TS_MAX_MS || d->end_ms > LT_TS_MAX_MS ||
      (d->end_ms && d->end_ms <= d->start_ms))
    return LT_ECORRUPT;
  d->budget_cents = (int64_t)budget;
  d->bid_cents = (int64_t)bid;
  d->freq_cap = (uint32_t)cap;
  d->adv_key = lt_hash64(d->advertiser, strlen(d->advertiser));
  return LT_OK;
}

static int encode_status(const char *id, uint8_t status, int64_t ts, lt_buf_t *b) {
  lt_buf_u8(b, LT_ADS_REC_CAMPAIGN_STATUS);
  lt_buf_u8(b, LT__ADS_REC_VERSION);
  put_str(b, id);
  lt_buf_u8(b, status);
  lt_buf_svar(b, ts);
  return b->err ? LT_ENOMEM : LT_OK;
}

static int decode_status(const void *p, size_t len, char id[LT_ADS_MAX_ID + 1], uint8_t *status,
                         int64_t *ts) {
  lt_rd_t r;
  lt_rd_init(&r, p, len);
  if (lt_rd_u8(&r) != LT_ADS_REC_CAMPAIGN_STATUS || lt_rd_u8(&r) != LT__ADS_REC_VERSION)
    return LT_EVERSION;
  get_str(&r, id, 1, LT_ADS_MAX_ID);
  *status = lt_rd_u8(&r);
  *ts = lt_rd_svar(&r);
  if (r.err || r.p != r.end || *status > LT_CAMPAIGN_PAUSED) return LT_ECORRUPT;
  return LT_OK;
}

/* ---- applying records (writer, under a->book) ---------------------------- */

static void claim(lt_ads_t *a, uint32_t cid, lt__cdef_t *d) {
  for (uint32_t i = 0; i < d->ncre; i++) {
    if (d->cre_item[i] == LT_NONE) continue;
    uint64_t *v;
    int created;
    if (lt_u64map_upsert(&a->b.owner, lt_u64map_key((uint64_t)d->cre_item[i] + 1), &v, &created)) {
      a->degraded = 1;
      d->cre_item[i] = LT_NONE;
      continue;
    }
    if (*v && *v != (uint64_t)cid + 1)
      d->cre_item[i] = LT_NONE; /* first owner wins */
    else
      *v = (uint64_t)cid + 1;
  }
}

static void unclaim(lt_ads_t *a, uint32_t cid, const lt__cdef_t *d) {
  for (uint32_t i = 0; i < d->ncre; i++) {
    if (d->cre_item[i] == LT_NONE) continue;
    uint64_t *v = lt_u64map_get(&a->b.owner, lt_u64map_key((uint64_t)d->cre_item[i] + 1));
    if (v && *v == (uint64_t)cid + 1) *v = 0;
  }
}

static void apply_put(lt_ads_t *a, const void *p, size_t len) {
  lt__cdef_t *d = malloc(sizeof *d);
  uint8_t status;
  int64_t ts;
  if (!d || decode_put(p, len, d, &status, &ts)) {
    free(d);
    LT__ATOMIC_INC(&a->m.records_skipped);
    if (!d) a->degraded = 1;
    return;
  }
  resolve(a->st, d);
  resolve_creatives(a->st, d);
  uint32_t cid;
  if (find_cid(a, d->id, strlen(d->id), &cid) == LT_OK) {
    lt__camp_t *c = a->camps[cid];
    const lt__cdef_t *old = c->def;
    d->created_ms = old->created_ms;
    d->updated_ms = ts;
    unclaim(a, cid, old);
    claim(a, cid, d);
    publish(a, c, d);
    __atomic_store_n(&c->status, status, __ATOMIC_RELEASE);
    return;
  }
  uint32_t n = a->ncamps;
  lt__camp_t *c = n < LT__ADS_MAX_CAMPAIGNS ? calloc(1, sizeof *c) : NULL;
  uint64_t *v = NULL;
  int created;
  if (!c || lt_u64map_upsert(&a->b.camp_by_name, name_key(d->id, strlen(d->id)), &v, &created)) {
    free(c);
    free(d);
    LT__ATOMIC_INC(&a->m.records_skipped);
    a->degraded = 1;
    return;
  }
  pthread_mutex_init(&c->mu, NULL);
  c->rt[0].day = c->rt[1].day = c->hr.day = -1;
  c->pace_ppm = 1000000;
  c->pace_day = -1;
  d->created_ms = d->updated_ms = ts;
  claim(a, n, d);
  c->def = d;
  c->status = status;
  a->camps[n] = c;
  *v = (uint64_t)n + 1;
  __atomic_store_n(&a->ncamps, n + 1, __ATOMIC_RELEASE);
}

static void apply_status(lt_ads_t *a, const void *p, size_t len) {
  char id[LT_ADS_MAX_ID + 1];
  uint8_t status;
  int64_t ts;
  uint32_t cid;
  if (decode_status(p, len, id, &status, &ts) || find_cid(a, id, strlen(id), &cid)) {
    LT__ATOMIC_INC(&a->m.records_skipped);
    return;
  }
  lt__camp_t *c = a->camps[cid];
  lt__cdef_t *d = malloc(sizeof *d);
  if (d) {
    *d = *c->def;
    d->updated_ms = ts;
    d->retired_next = NULL;
    publish(a, c, d);
  }
  __atomic_store_n(&c->status, status, __ATOMIC_RELEASE);
}

static void apply_ext(lt_ads_t *a, const void *p, size_t len) {
  uint8_t kind = *(const uint8_t *)p;
  if (kind == LT_ADS_REC_CAMPAIGN_PUT)
    apply_put(a, p, len);
  else if (kind == LT_ADS_REC_CAMPAIGN_STATUS)
    apply_status(a, p, len);
  else if (kind <= LT_ADS_REC_RESERVED_3)
    LT__ATOMIC_INC(&a->m.records_skipped);
  /* other kinds belong to other layers */
}

static uint32_t item_creator(lt_ads_t *a, uint32_t item) {
  return item < a->b.nitems ? a->b.item_creator[item] : LT_NONE;
}
static uint8_t item_flags(lt_ads_t *a, uint32_t item) {
  return item < a->b.nitems ? a->b.item_flags[item] : 0;
}

static void apply_item(lt_ads_t *a, const lt_item_rec_t *r) {
  uint32_t iid, cr = LT_NONE;
  if (lt_state_find(a->st, LT_NS_ITEM, r->id.p, r->id.n, &iid)) return;
  if (r->creator.n && lt_state_find(a->st, LT_NS_CREATOR, r->creator.p, r->creator.n, &cr))
    cr = LT_NONE;
  lt__books_item(a, iid, cr, r->kind == LT_KIND_LIVE, r->aigc);
}

static void rev_row(lt_ads_t *a, int by, int32_t day, uint32_t id, int64_t gift, int64_t gmv) {
  if (id == LT_NONE) return;
  lt__rev_row_t *r = lt__rrow(a, by, day, id, 1);
  if (!r) return;
  r->gift_cents = lt__sat_add(r->gift_cents, gift);
  r->gmv_cents = lt__sat_add(r->gmv_cents, gmv);
  r->gifts += gift > 0 || (gift == 0 && gmv == 0);
  r->purchases += gmv > 0;
}

static void apply_ad_event(lt_ads_t *a, const lt_event_t *e, uint32_t iid, int32_t day,
                           uint32_t hour) {
  uint32_t cid = owner_of(a, iid);
  if (cid == LT_NONE) return; /* not a creative: nothing to bill */
  lt__camp_t *c = a->camps[cid];
  const lt__cdef_t *d = c->def;
  /* creating an entry may move the array: create both, then look up */
  lt_ads_counts_t *cd = NULL, *ch = NULL;
  if (lt__ledger(a, cid, day, LT__ADS_HOUR_DAY, 1) && (ch = lt__ledger(a, cid, day, hour, 1)))
    cd = lt__ledger(a, cid, day, LT__ADS_HOUR_DAY, 0);
  lt_ads_revenue_day_t *rd = lt__rday(a, day, 1);
  if (!cd || !ch || !rd) return;
  int billable = lt__billable(d->bid_type, e->type);
  int64_t charge = 0;
  switch (e->type) {
  case LT_EV_AD_IMPRESSION:
    cd->impressions++, ch->impressions++, rd->ad_impressions++;
    break;
  case LT_EV_AD_CLICK:
    cd->clicks++, ch->clicks++, rd->ad_clicks++;
    break;
  default:
    cd->conversions++, ch->conversions++, rd->ad_conversions++;
    break;
  }
  if (billable) {
    int64_t v = e->value < 0 ? 0 : e->value, maxp = lt__max_price(d);
    if (v > maxp) v = maxp;
    int64_t left = d->budget_cents * LT_UCENTS_PER_CENT - cd->spend_ucents;
    charge = v < left ? v : (left > 0 ? left : 0);
    if (charge > 0) {
      cd->billed++, ch->billed++;
      cd->spend_ucents += charge;
      ch->spend_ucents += charge;
      rd->ads_ucents = lt__sat_add(rd->ads_ucents, charge);
      int aigc = (item_flags(a, iid) & LT__IF_AIGC) != 0;
      for (uint32_t i = 0; i < d->ncre && !aigc; i++)
        aigc = d->cre_item[i] == iid && d->cre_aigc[i];
      if (aigc) rd->ads_aigc_ucents = lt__sat_add(rd->ads_aigc_ucents, charge);
      LT__ATOMIC_INC(&a->m.billed_events);
    } else {
      cd->unbilled++, ch->unbilled++;
      LT__ATOMIC_INC(&a->m.unbilled_events);
    }
  }

  /* ---- serving side: not part of the books ---- */
  uint32_t uid = LT_NONE;
  lt_state_event_ids(a->st, e, &uid, NULL);
  lt__profile_t prof;
  lt__profile(a->st, uid, &prof);
  uint32_t f[LT__MODEL_FEATS];
  lt__model_feats(iid, cid, d->adv_key, lt__affinity(a->st, &prof, iid), f);
  if (e->type == LT_EV_AD_IMPRESSION) {
    lt__model_learn(a->model, LT__HEAD_CTR, f, 0);
  } else if (e->type == LT_EV_AD_CLICK) {
    lt__model_learn(a->model, LT__HEAD_CTR, f, 1);
    lt__model_learn(a->model, LT__HEAD_CVR, f, 0);
  } else {
    lt__model_learn(a->model, LT__HEAD_CVR, f, 1);
  }
  lt__served_t s;
  int found = 0, released = 0;
  if (e->request_id.n) {
    uint64_t key = lt__served_key(e->request_id.p, e->request_id.n, iid);
    found = lt__served_find(a, key, billable, &s, &released);
  }
  if (e->type == LT_EV_AD_IMPRESSION && uid != LT_NONE && !found)
    lt__freq_add(a, uid, cid, day, 1); /* not counted when served: count it now */
  if (billable || released) {
    pthread_mutex_lock(&c->mu);
    lt__rt_t *slot;
    if (billable && (slot = lt__rt_slot(c, day))) slot->spent = cd->spend_ucents;
    if (billable && (slot = lt__hr_slot(c, day * 24 + (int32_t)hour)))
      slot->spent = ch->spend_ucents;
    if (released && (slot = &c->rt[s.day & 1])->day == s.day) {
      slot->reserved -= s.reserve;
      if (slot->reserved < 0) slot->reserved = 0;
    }
    if (released && c->hr.day == s.hkey) {
      c->hr.reserved -= s.reserve;
      if (c->hr.reserved < 0) c->hr.reserved = 0;
    }
    pthread_mutex_unlock(&c->mu);
  }
  if (day > a->max_event_day) {
    int32_t prev = a->max_event_day;
    a->max_event_day = day;
    if (__atomic_load_n(&a->scanning, __ATOMIC_RELAXED) && prev >= 0) lt__freq_prune(a, day - 1);
  }
}

static void apply_event(lt_ads_t *a, const lt_event_t *e) {
  if (e->type != LT_EV_GIFT && e->type != LT_EV_PURCHASE && e->type != LT_EV_AD_IMPRESSION &&
      e->type != LT_EV_AD_CLICK && e->type != LT_EV_AD_CONVERSION)
    return;
  uint32_t iid, hour;
  if (lt_state_event_ids(a->st, e, NULL, &iid)) return;
  int32_t day = lt__day_of(a, e->ts_ms, &hour);
  if (e->type == LT_EV_GIFT || e->type == LT_EV_PURCHASE) {
    lt_ads_revenue_day_t *rd = lt__rday(a, day, 1);
    if (!rd) return;
    int64_t v = e->value > 0 ? e->value : 0;
    uint32_t cr = item_creator(a, iid);
    if (e->type == LT_EV_GIFT) {
      int live = (item_flags(a, iid) & LT__IF_LIVE) != 0;
      if (live)
        rd->live_gift_cents = lt__sat_add(rd->live_gift_cents, v);
      else
        rd->other_gift_cents = lt__sat_add(rd->other_gift_cents, v);
      rd->gifts++;
      rev_row(a, live ? LT_ADS_BY_ROOM : LT_ADS_BY_ITEM, day, iid, v, 0);
      rev_row(a, LT_ADS_BY_CREATOR, day, cr, v, 0);
    } else {
      rd->gmv_cents = lt__sat_add(rd->gmv_cents, v);
      if (e->request_id.n) rd->gmv_attributed_cents = lt__sat_add(rd->gmv_attributed_cents, v);
      rd->purchases++;
      lt__rev_row_t *r = lt__rrow(a, LT_ADS_BY_ITEM, day, iid, 1);
      if (r) r->gmv_cents = lt__sat_add(r->gmv_cents, v), r->purchases++;
      if (cr != LT_NONE && (r = lt__rrow(a, LT_ADS_BY_CREATOR, day, cr, 1)))
        r->gmv_cents = lt__sat_add(r->gmv_cents, v), r->purchases++;
    }
    return;
  }
  apply_ad_event(a, e, iid, day, hour);
}

/* ---- life cycle --------------------------------------------------------- */

int lt_ads_new(const lt_ads_opts_t *opts, lt_ads_t **out) {
  *out = NULL;
  lt_ads_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_ads_opts_default(&o);
  char err[128];
  if (lt_ads_opts_check(&o, err, sizeof err)) return LT_EINVAL;
  lt_ads_t *a = calloc(1, sizeof *a);
  if (!a) return LT_ENOMEM;
  a->o = o;
  a->camps = calloc(LT__ADS_MAX_CAMPAIGNS, sizeof *a->camps);
  a->model = malloc(sizeof *a->model);
  a->gen_ms = (o.reserve_ttl_s > 1 ? o.reserve_ttl_s / 2 : 1) * 1000u;
  a->ngen = (uint32_t)((uint64_t)o.attribution_s * 1000 / a->gen_ms) + 2;
  int ok = a->camps && a->model;
  for (uint32_t i = 0; i < LT__ADS_STRIPES && ok; i++) {
    a->sstripe[i].gen = calloc(a->ngen, sizeof(lt__gen_t));
    ok = a->sstripe[i].gen != NULL;
  }
  if (!ok) {
    for (uint32_t i = 0; i < LT__ADS_STRIPES; i++)
      free(a->sstripe[i].gen);
    free(a->camps);
    free(a->model);
    free(a);
    return LT_ENOMEM;
  }
  for (uint32_t i = 0; i < LT__ADS_STRIPES; i++) {
    pthread_mutex_init(&a->sstripe[i].mu, NULL);
    pthread_mutex_init(&a->fstripe[i].mu, NULL);
    lt_u64map_init(&a->fstripe[i].m);
  }
  pthread_mutex_init(&a->admin, NULL);
  pthread_mutex_init(&a->def_lock, NULL);
  pthread_rwlock_init(&a->book, NULL);
  lt__books_init(&a->b);
  lt__model_init(a->model, o.prior_ctr, o.prior_cvr, o.model_lr);
  char buf[sizeof o.ad_free_groups], *save = NULL;
  strcpy(buf, o.ad_free_groups);
  for (char *t = strtok_r(buf, ",", &save); t && a->nadfree < LT__ADS_MAX_ADFREE;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    size_t l = strlen(t);
    while (l && t[l - 1] == ' ')
      t[--l] = 0;
    if (l && l <= LT_ADS_MAX_ID) memcpy(a->adfree[a->nadfree++], t, l + 1);
  }
  a->today = -1;
  a->opp_day = -1;
  a->max_event_day = -1;
  *out = a;
  return LT_OK;
}

void lt_ads_free(lt_ads_t *a) {
  if (!a) return;
  for (uint32_t i = 0; i < a->ncamps; i++) {
    lt__camp_t *c = a->camps[i];
    pthread_mutex_destroy(&c->mu);
    free(c->def);
    free(c);
  }
  while (a->retired) {
    lt__cdef_t *n = a->retired->retired_next;
    free(a->retired);
    a->retired = n;
  }
  for (uint32_t i = 0; i < LT__ADS_STRIPES; i++) {
    for (uint32_t g = 0; g < a->ngen; g++) {
      lt_u64map_clear(&a->sstripe[i].gen[g].idx);
      free(a->sstripe[i].gen[g].ent);
    }
    free(a->sstripe[i].gen);
    pthread_mutex_destroy(&a->sstripe[i].mu);
    lt_u64map_clear(&a->fstripe[i].m);
    pthread_mutex_destroy(&a->fstripe[i].mu);
  }
  lt__books_free(&a->b);
  pthread_mutex_destroy(&a->admin);
  pthread_mutex_destroy(&a->def_lock);
  pthread_rwlock_destroy(&a->book);
  free(a->camps);
  free(a->model);
  free(a);
}

/* Records reach the books while the attach scan feeds them, then live. */
static int taking(const lt_ads_t *a) {
  return __atomic_load_n(&a->attached, __ATOMIC_ACQUIRE) ||
         __atomic_load_n(&a->scanning, __ATOMIC_RELAXED);
}

void lt_ads_ext(void *ctx, const void *rec, size_t len, uint64_t lsn) {
  lt_ads_t *a = ctx;
  if (!a || !len || !taking(a) || lsn < a->next_lsn) return;
  pthread_rwlock_wrlock(&a->book);
  apply_ext(a, rec, len);
  pthread_rwlock_unlock(&a->book);
}

void lt_ads_observe(void *ctx, const lt_record_t *recs, size_t n) {
  lt_ads_t *a = ctx;
  if (!a || !taking(a)) return;
  pthread_rwlock_wrlock(&a->book);
  for (size_t i = 0; i < n; i++) {
    if (recs[i].kind == LT_REC_ITEM_PUT)
      apply_item(a, &recs[i].u.item);
    else if (recs[i].kind == LT_REC_EVENT)
      apply_event(a, &recs[i].u.ev);
  }
  pthread_rwlock_unlock(&a->book);
}

int lt_ads_attach_begin(lt_ads_t *a, lt_store_t *store) {
  if (!a || !store) return LT_EINVAL;
  if (__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE) || a->store) return LT_EBUSY;
  a->store = store;
  a->st = lt_store_state(store);
  __atomic_store_n(&a->scanning, 1, __ATOMIC_RELAXED);
  return LT_OK;
}

int lt_ads_attach_end(lt_ads_t *a, int scan_rc, uint64_t end) {
  if (!a || !__atomic_load_n(&a->scanning, __ATOMIC_RELAXED)) return LT_EINVAL;
  pthread_rwlock_wrlock(&a->book);
  a->next_lsn = end;
  if (a->max_event_day >= 0) lt__freq_prune(a, a->max_event_day - 1);
  pthread_rwlock_unlock(&a->book);
  __atomic_store_n(&a->scanning, 0, __ATOMIC_RELAXED);
  if (scan_rc) {
    a->store = NULL;
    return scan_rc;
  }
  __atomic_store_n(&a->attached, 1, __ATOMIC_RELEASE);
  return LT_OK;
}

int lt_ads_attach(lt_ads_t *a, lt_store_t *store) {
  int rc = lt_ads_attach_begin(a, store);
  if (rc) return rc;
  uint64_t end = 0;
  rc = lt_store_scan(store, lt_ads_observe, lt_ads_ext, a, &end);
  return lt_ads_attach_end(a, rc, end);
}

/* ---- campaigns: the API ------------------------------------------------- */

int lt_ads_bid_type_parse(const char *s, int *type) {
  static const char *names[] = {"cpm", "cpc", "ocpm"};
  for (int i = 0; i < 3; i++)
    if (s && !strcmp(s, names[i])) {
      *type = i;
      return LT_OK;
    }
  return LT_EINVAL;
}

const char *lt_ads_bid_type_name(int type) {
  return type == LT_BID_CPM    ? "cpm"
         : type == LT_BID_CPC  ? "cpc"
         : type == LT_BID_OCPM ? "ocpm"
                               : "?";
}

static int id_char_ok(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-' || ch == '.' || ch == ':';
}

static int text_ok(const char *s, size_t min, size_t max) {
  size_t n = strlen(s);
  if (n < min || n > max) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

/* Checks a full spec for writing; self = the campaign being updated or
 * LT_NONE. Takes a->book for reading. */
static int check_spec(lt_ads_t *a, const lt_ads_spec_t *s, uint32_t self, const char **why) {
#define BAD(code, text)                                                                            \
  do {                                                                                             \
    *why = text;                                                                                   \
    return code;                                                                                   \
  } while (0)
  size_t idn = strlen(s->id);
  if (!idn || idn > LT_ADS_MAX_ID) BAD(LT_EINVAL, "id must be 1 to 128 characters");
  for (size_t i = 0; i < idn; i++)
    if (!id_char_ok(s->id[i])) BAD(LT_EINVAL, "id may hold only letters, digits and _ - . :");
  if (!text_ok(s->advertiser, 1, LT_ADS_MAX_ID))
    BAD(LT_EINVAL, "advertiser is required (1 to 128 characters, no control characters)");
  if (!text_ok(s->name, 0, LT_ADS_MAX_NAME))
    BAD(LT_EINVAL, "name: at most 255 characters, no control characters");
  if (s->daily_budget_cents < 1 || s->daily_budget_cents > LT_ADS_MAX_BUDGET_CENTS)
    BAD(LT_ERANGE, "daily_budget_cents must be in [1, 10^10]");
  if (s->bid_type > LT_BID_OCPM) BAD(LT_EINVAL, "bid.type must be cpm, cpc or ocpm");
  if (s->bid_cents < 1 || s->bid_cents > LT_ADS_MAX_BID_CENTS)
    BAD(LT_ERANGE, "bid.amount_cents must be in [1, 10^7]");
  if (s->ntags > LT_ADS_MAX_TARGETS || s->ngroups > LT_ADS_MAX_TARGETS)
    BAD(LT_EINVAL, "at most 16 targeting tags and 16 groups");
  for (uint32_t i = 0; i < s->ntags; i++)
    if (!text_ok(s->tags[i], 1, LT_ADS_MAX_ID))
      BAD(LT_EINVAL, "a targeting tag is empty or too long");
  for (uint32_t i = 0; i < s->ngroups; i++)
    if (!text_ok(s->groups[i], 1, LT_ADS_MAX_ID))
      BAD(LT_EINVAL, "a targeting group is empty or too long");
  if (s->ncreatives < 1 || s->ncreatives > LT_ADS_MAX_CREATIVES)
    BAD(LT_EINVAL, "creatives: 1 to 64 items are required");
  if (s->start_ms < 0 || s->end_ms < 0 || s->start_ms > LT_TS_MAX_MS || s->end_ms > LT_TS_MAX_MS)
    BAD(LT_ERANGE, "start / end out of range");
  if (s->end_ms && s->end_ms <= s->start_ms) BAD(LT_EINVAL, "end must be after start");
  if (s->freq_cap > LT_ADS_MAX_FREQ_CAP) BAD(LT_ERANGE, "frequency_cap must be in [1, 1000]");
  if (s->status > LT_CAMPAIGN_PAUSED) BAD(LT_EINVAL, "status must be active or paused");
  int rc = LT_OK;
  pthread_rwlock_rdlock(&a->book);
  uint32_t other;
  if (self == LT_NONE && find_cid(a, s->id, idn, &other) == LT_OK) {
    *why = "a campaign with this id exists";
    rc = LT_EEXISTS;
  }
  for (uint32_t i = 0; i < s->ncreatives && !rc; i++) {
    uint32_t iid;
    const lt_item_meta_t *m;
    if (!text_ok(s->creatives[i], 1, LT_ADS_MAX_ID) ||
        lt_state_find(a->st, LT_NS_ITEM, s->creatives[i], strlen(s->creatives[i]), &iid) ||
        !(m = lt_state_item(a->st, iid)) || m->deleted) {
      *why = "a creative is not an item of the catalog (or was deleted)";
      rc = LT_EINVAL;
      break;
    }
    for (uint32_t k = 0; k < i; k++)
      if (!strcmp(s->creatives[k], s->creatives[i])) {
        *why = "a creative is listed twice";
        rc = LT_EINVAL;
      }
    uint32_t own = owner_of(a, iid);
    if (!rc && own != LT_NONE && own != self) {
      *why = "a creative belongs to another campaign";
      rc = LT_EEXISTS;
    }
  }
  pthread_rwlock_unlock(&a->book);
  return rc;
#undef BAD
}

static void def_to_spec(const lt__cdef_t *d, uint8_t status, lt_ads_spec_t *s) {
  memset(s, 0, sizeof *s);
  strcpy(s->id, d->id);
  strcpy(s->advertiser, d->advertiser);
  strcpy(s->name, d->name);
  s->daily_budget_cents = d->budget_cents;
  s->bid_type = d->bid_type;
  s->bid_cents = d->bid_cents;
  s->ntags = d->ntags;
  s->ngroups = d->ngroups;
  s->ncreatives = d->ncre;
  memcpy(s->tags, d->tags, sizeof s->tags);
  memcpy(s->groups, d->groups, sizeof s->groups);
  memcpy(s->creatives, d->cre, sizeof s->creatives);
  memcpy(s->creative_aigc, d->cre_aigc, sizeof s->creative_aigc);
  s->start_ms = d->start_ms;
  s->end_ms = d->end_ms;
  s->freq_cap = d->freq_cap;
  s->status = status;
}

/* Overlays the fields `src->has` names onto dst. */
static void merge_spec(lt_ads_spec_t *dst, const lt_ads_spec_t *src) {
  uint32_t h = src->has;
  if (h & LT_ADS_F_ADVERTISER) strcpy(dst->advertiser, src->advertiser);
  if (h & LT_ADS_F_NAME) strcpy(dst->name, src->name);
  if (h & LT_ADS_F_BUDGET) dst->daily_budget_cents = src->daily_budget_cents;
  if (h & LT_ADS_F_BID) dst->bid_type = src->bid_type, dst->bid_cents = src->bid_cents;
  if (h & LT_ADS_F_TAGS) {
    dst->ntags = src->ntags;
    memcpy(dst->tags, src->tags, sizeof dst->tags);
  }
  if (h & LT_ADS_F_GROUPS) {
    dst->ngroups = src->ngroups;
    memcpy(dst->groups, src->groups, sizeof dst->groups);
  }
  if (h & LT_ADS_F_CREATIVES) {
    dst->ncreatives = src->ncreatives;
    memcpy(dst->creatives, src->creatives, sizeof dst->creatives);
    memcpy(dst->creative_aigc, src->creative_aigc, sizeof dst->creative_aigc);
  }
  if (h & LT_ADS_F_START) dst->start_ms = src->start_ms;
  if (h & LT_ADS_F_END) dst->end_ms = src->end_ms;
  if (h & LT_ADS_F_FREQ) dst->freq_cap = src->freq_cap;
  if (h & LT_ADS_F_STATUS) dst->status = src->status;
}

/* A creative is AIGC when the body says so or the catalog item is. */
static void mark_aigc(lt_ads_t *a, lt_ads_spec_t *s) {
  for (uint32_t i = 0; i < s->ncreatives; i++) {
    uint32_t iid;
    const lt_item_meta_t *m;
    if (!lt_state_find(a->st, LT_NS_ITEM, s->creatives[i], strlen(s->creatives[i]), &iid) &&
        (m = lt_state_item(a->st, iid)) && m->aigc)
      s->creative_aigc[i] = 1;
  }
}

static int write_spec(lt_ads_t *a, const lt_ads_spec_t *s, int64_t now_ms) {
  lt_buf_t b;
  lt_buf_init(&b);
  int rc = encode_put(s, now_ms, &b);
  if (!rc) rc = lt_store_write_ext(a->store, b.p, b.len);
  lt_buf_free(&b);
  return rc;
}

int lt_ads_campaign_create(lt_ads_t *a, const lt_ads_spec_t *spec, int64_t now_ms, uint32_t *cid,
                           const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  if (!a || !spec) return LT_EINVAL;
  if (!__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return LT_EBUSY;
  if (!(spec->has & LT_ADS_F_ADVERTISER)) return *why = "advertiser is required", LT_EINVAL;
  if (!(spec->has & LT_ADS_F_BUDGET)) return *why = "daily_budget_cents is required", LT_EINVAL;
  if (!(spec->has & LT_ADS_F_BID)) return *why = "bid is required", LT_EINVAL;
  if (!(spec->has & LT_ADS_F_CREATIVES)) return *why = "creatives are required", LT_EINVAL;
  lt_ads_spec_t *s = malloc(sizeof *s);
  if (!s) return LT_ENOMEM;
  *s = *spec;
  pthread_mutex_lock(&a->admin);
  if (!(spec->has & LT_ADS_F_ID) || !s->id[0]) {
    /* c-<12 hex>: from the time, a counter and the advertiser */
    static uint64_t seq;
    uint64_t x =
        lt_mix64((uint64_t)now_ms ^ lt_mix64(__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED)) ^
                 lt_hash64(s->advertiser, strlen(s->advertiser)));
    snprintf(s->id, sizeof s->id, "c-%012" PRIx64, (uint64_t)(x & 0xffffffffffffULL));
  }
  if (!(spec->has & LT_ADS_F_FREQ)) s->freq_cap = 0;
  mark_aigc(a, s);
  int rc = check_spec(a, s, LT_NONE, why);
  if (!rc && __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE) >= LT__ADS_MAX_CAMPAIGNS) {
    *why = "too many campaigns";
    rc = LT_ETOOBIG;
  }
  if (!rc) rc = write_spec(a, s, now_ms);
  if (!rc) {
    pthread_rwlock_rdlock(&a->book);
    uint32_t c = LT_NONE;
    rc = find_cid(a, s->id, strlen(s->id), &c);
    pthread_rwlock_unlock(&a->book);
    if (!rc && cid) *cid = c;
    if (rc) rc = LT_EIO; /* written but not applied: cannot happen while attached */
  }
  pthread_mutex_unlock(&a->admin);
  free(s);
  return rc;
}

int lt_ads_campaign_update(lt_ads_t *a, uint32_t cid, const lt_ads_spec_t *spec, int64_t now_ms,
                           const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  if (!a || !spec) return LT_EINVAL;
  if (!__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return LT_EBUSY;
  lt__camp_t *c = lt__camp(a, cid);
  if (!c) return LT_ENOTFOUND;
  lt_ads_spec_t *s = malloc(sizeof *s);
  if (!s) return LT_ENOMEM;
  pthread_mutex_lock(&a->admin);
  def_to_spec(lt__def(c), __atomic_load_n(&c->status, __ATOMIC_ACQUIRE), s);
  int rc = LT_OK;
  if ((spec->has & LT_ADS_F_ID) && strcmp(spec->id, s->id)) {
    *why = "the id of a campaign cannot change";
    rc = LT_EINVAL;
  }
  if (!rc) {
    merge_spec(s, spec);
    if (spec->has & LT_ADS_F_CREATIVES) mark_aigc(a, s);
    rc = check_spec(a, s, cid, why);
  }
  if (!rc) rc = write_spec(a, s, now_ms);
  pthread_mutex_unlock(&a->admin);
  free(s);
  return rc;
}

int lt_ads_campaign_set_status(lt_ads_t *a, uint32_t cid, int status, int64_t now_ms) {
  if (!a || (status != LT_CAMPAIGN_ACTIVE && status != LT_CAMPAIGN_PAUSED)) return LT_EINVAL;
  if (!__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return LT_EBUSY;
  lt__camp_t *c = lt__camp(a, cid);
  if (!c) return LT_ENOTFOUND;
  pthread_mutex_lock(&a->admin);
  int rc = LT_OK;
  if (__atomic_load_n(&c->status, __ATOMIC_ACQUIRE) != status) {
    lt_buf_t b;
    lt_buf_init(&b);
    rc = encode_status(lt__def(c)->id, (uint8_t)status, now_ms, &b);
    if (!rc) rc = lt_store_write_ext(a->store, b.p, b.len);
    lt_buf_free(&b);
  }
  pthread_mutex_unlock(&a->admin);
  return rc;
}

int lt_ads_campaign_find(lt_ads_t *a, const char *id, size_t n, uint32_t *cid) {
  if (!a || !id) return LT_ENOTFOUND;
  pthread_rwlock_rdlock(&a->book);
  int rc = find_cid(a, id, n, cid);
  pthread_rwlock_unlock(&a->book);
  return rc;
}

const char *lt_ads_campaign_name(lt_ads_t *a, uint32_t cid) {
  lt__camp_t *c = a ? lt__camp(a, cid) : NULL;
  return c ? lt__def(c)->id : NULL;
}

uint32_t lt_ads_campaign_count(lt_ads_t *a) {
  return a ? __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE) : 0;
}

/* ---- campaign JSON -------------------------------------------------------- */

static void jstr(lt_buf_t *b, const char *s) { lt_buf_json_str(b, s, strlen(s)); }

static void jtime(lt_buf_t *b, int64_t ms) {
  if (ms)
    lt_buf_printf(b, "%.3f", (double)ms / 1000.0);
  else
    lt_buf_put(b, "null", 4);
}

int lt_ads_campaign_serving(lt_ads_t *a, uint32_t cid, lt_ads_serving_t *out) {
  lt__camp_t *c = a ? lt__camp(a, cid) : NULL;
  if (!c) return LT_ENOTFOUND;
  int32_t today = __atomic_load_n(&a->today, __ATOMIC_RELAXED);
  pthread_mutex_lock(&c->mu);
  const lt__rt_t *s = &c->rt[today & 1];
  int cur = today >= 0 && s->day == today;
  out->spent_ucents = cur ? s->spent : 0;
  out->reserved_ucents = cur ? s->reserved : 0;
  pthread_mutex_unlock(&c->mu);
  out->pacing = __atomic_load_n(&c->pace_ppm, __ATOMIC_RELAXED) / 1e6;
  out->served = __atomic_load_n(&c->served, __ATOMIC_RELAXED);
  out->frequency_capped = __atomic_load_n(&c->capped, __ATOMIC_RELAXED);
  out->throttled = __atomic_load_n(&c->throttled, __ATOMIC_RELAXED);
  out->budget_blocked = __atomic_load_n(&c->blocked, __ATOMIC_RELAXED);
  return LT_OK;
}

static void campaign_json(lt_ads_t *a, uint32_t cid, int64_t now_ms, lt_buf_t *b) {
  lt__camp_t *c = a->camps[cid];
  const lt__cdef_t *d = lt__def(c);
  uint8_t status = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
  lt_buf_put(b, "{\"id\": ", 7);
  jstr(b, d->id);
  lt_buf_put(b, ", \"advertiser\": ", 16);
  jstr(b, d->advertiser);
  lt_buf_put(b, ", \"name\": ", 10);
  jstr(b, d->name);
  lt_buf_printf(b,
                ", \"status\": \"%s\", \"daily_budget_cents\": %" PRId64
                ", \"bid\": {\"type\": \"%s\", \"amount_cents\": %" PRId64
                "}, \"targeting\": {\"tags\": [",
                status == LT_CAMPAIGN_PAUSED ? "paused" : "active", d->budget_cents,
                lt_ads_bid_type_name(d->bid_type), d->bid_cents);
  for (uint32_t i = 0; i < d->ntags; i++) {
    if (i) lt_buf_put(b, ", ", 2);
    jstr(b, d->tags[i]);
  }
  lt_buf_put(b, "], \"groups\": [", 14);
  for (uint32_t i = 0; i < d->ngroups; i++) {
    if (i) lt_buf_put(b, ", ", 2);
    jstr(b, d->groups[i]);
  }
  lt_buf_put(b, "]}, \"creatives\": [", 18);
  for (uint32_t i = 0; i < d->ncre; i++) {
    lt_buf_put(b, i ? ", {\"item\": " : "{\"item\": ", i ? 11 : 9);
    jstr(b, d->cre[i]);
    lt_buf_printf(b, ", \"aigc\": %s}", d->cre_aigc[i] ? "true" : "false");
  }
  lt_buf_put(b, "], \"start\": ", 12);
  jtime(b, d->start_ms);
  lt_buf_put(b, ", \"end\": ", 9);
  jtime(b, d->end_ms);
  if (d->freq_cap)
    lt_buf_printf(b, ", \"frequency_cap\": %u", d->freq_cap);
  else
    lt_buf_printf(b, ", \"frequency_cap\": null");
  lt_buf_put(b, ", \"created_at\": ", 16);
  jtime(b, d->created_ms);
  lt_buf_put(b, ", \"updated_at\": ", 16);
  jtime(b, d->updated_ms);
  /* today */
  int32_t day = lt__day_of(a, now_ms, NULL);
  lt_ads_counts_t cnt;
  memset(&cnt, 0, sizeof cnt);
  const lt_ads_counts_t *x = lt__ledger(a, cid, day, LT__ADS_HOUR_DAY, 0);
  if (x) cnt = *x;
  int64_t reserved = 0;
  pthread_mutex_lock(&c->mu);
  if (c->rt[day & 1].day == day) reserved = c->rt[day & 1].reserved;
  pthread_mutex_unlock(&c->mu);
  char ds[11];
  lt_day_format(day, ds);
  int64_t left = d->budget_cents * LT_UCENTS_PER_CENT - cnt.spend_ucents;
  lt_buf_printf(b,
                ", \"today\": {\"date\": \"%s\", \"spend_cents\": %" PRId64
                ", \"spend_ucents\": %" PRId64 ", \"reserved_ucents\": %" PRId64
                ", \"budget_left_cents\": %" PRId64 ", \"pacing\": %.4f, \"impressions\": %" PRIu64
                ", \"clicks\": %" PRIu64 ", \"conversions\": %" PRIu64 "}",
                ds, (cnt.spend_ucents + LT_UCENTS_PER_CENT / 2) / LT_UCENTS_PER_CENT,
                cnt.spend_ucents, reserved, left > 0 ? left / LT_UCENTS_PER_CENT : 0,
                __atomic_load_n(&c->pace_ppm, __ATOMIC_RELAXED) / 1e6, cnt.impressions, cnt.clicks,
                cnt.conversions);
  /* why it is (not) spending: auctions won and requests it sat out */
  lt_buf_printf(b,
                ", \"serving\": {\"served\": %" PRIu64 ", \"frequency_capped\": %" PRIu64
                ", \"throttled\": %" PRIu64 ", \"budget_blocked\": %" PRIu64 "}}",
                __atomic_load_n(&c->served, __ATOMIC_RELAXED),
                __atomic_load_n(&c->capped, __ATOMIC_RELAXED),
                __atomic_load_n(&c->throttled, __ATOMIC_RELAXED),
                __atomic_load_n(&c->blocked, __ATOMIC_RELAXED));
}

int lt_ads_campaign_json(lt_ads_t *a, uint32_t cid, int64_t now_ms, lt_buf_t *out) {
  if (!a || !lt__camp(a, cid)) return LT_ENOTFOUND;
  pthread_rwlock_rdlock(&a->book);
  campaign_json(a, cid, now_ms, out);
  pthread_rwlock_unlock(&a->book);
  lt_buf_u8(out, '\n');
  return out->err ? LT_ENOMEM : LT_OK;
}

int lt_ads_campaigns_json(lt_ads_t *a, const char *advertiser, int64_t now_ms, lt_buf_t *out) {
  lt_buf_put(out, "{\"campaigns\": [", 15);
  int first = 1;
  pthread_rwlock_rdlock(&a->book);
  uint32_t n = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++) {
    if (advertiser && *advertiser && strcmp(lt__def(a->camps[i])->advertiser, advertiser)) continue;
    if (!first) lt_buf_put(out, ", ", 2);
    campaign_json(a, i, now_ms, out);
    first = 0;
  }
  pthread_rwlock_unlock(&a->book);
  lt_buf_put(out, "]}\n", 3);
  return out->err ? LT_ENOMEM : LT_OK;
}

/* ---- tick: day roll-over, expiry, pacing ------------------------------------ */

/* Relative traffic of a short-video app by local hour: the plan's shape
 * until a day of real auction opportunities has been seen. */
static const double prior_hour[24] = {4.5, 3.0, 2.0, 1.5, 1.2, 1.5, 2.5, 3.5, 4.0, 4.0, 4.0, 4.5,
                                      5.5, 5.0, 4.0, 4.0, 4.0, 4.5, 5.5, 6.5, 7.5, 8.0, 7.0, 5.5};

/* Cumulative plan F(frac) for frac in [0, 1] of the local day: the shape
 * compressed into the first pacing_finish of the day. */
static double plan_cum(const lt_ads_t *a, double frac) {
  frac /= a->o.pacing_finish;
  double shape[LT__ADS_BUCKETS], sum = 0;
  for (uint32_t i = 0; i < LT__ADS_BUCKETS; i++) {
    shape[i] = a->has_curve ? a->curve[i] : prior_hour[i * 24 / LT__ADS_BUCKETS];
    sum += shape[i];
  }
  if (frac <= 0) return 0;
  if (frac >= 1) return 1;
  double pos = frac * LT__ADS_BUCKETS, cum = 0;
  uint32_t b = (uint32_t)pos;
  for (uint32_t i = 0; i <= b && i < LT__ADS_BUCKETS; i++) {
    double w = a->o.pacing_mix * shape[i] / sum + (1 - a->o.pacing_mix) / LT__ADS_BUCKETS;
    cum += i < b ? w : w * (pos - b);
  }
  return cum > 1 ? 1 : cum;
}

static void roll_day(lt_ads_t *a, int32_t day) {
  /* learn the traffic shape of the day that ended */
  if (a->opp_day >= 0 && a->opp_day < day) {
    uint64_t tot = 0, c[LT__ADS_BUCKETS];
    for (uint32_t i = 0; i < LT__ADS_BUCKETS; i++)
      tot += c[i] = __atomic_exchange_n(&a->opp[i], 0, __ATOMIC_RELAXED);
    if (tot >= 1000) {
      for (uint32_t i = 0; i < LT__ADS_BUCKETS; i++) {
        double s = (double)c[i] / (double)tot + 1e-4;
        a->curve[i] = a->has_curve ? 0.5 * a->curve[i] + 0.5 * s : s;
      }
      a->has_curve = 1;
    }
  } else {
    for (uint32_t i = 0; i < LT__ADS_BUCKETS; i++)
      __atomic_store_n(&a->opp[i], 0, __ATOMIC_RELAXED);
  }
  a->opp_day = day;
  lt__freq_prune(a, day - 1);
  const lt_tz_t *tz = lt_state_tz(a->st);
  int64_t start = lt_tz_day_start(tz, day) * 1000, end = lt_tz_day_start(tz, day + 1) * 1000;
  __atomic_store_n(&a->day_start_ms, start, __ATOMIC_RELAXED);
  __atomic_store_n(&a->day_len_ms, end - start, __ATOMIC_RELAXED);
  __atomic_store_n(&a->today, day, __ATOMIC_RELEASE);
}

/* Re-resolves targeting names the state did not know yet. */
static void resolve_pending(lt_ads_t *a) {
  uint32_t nc = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) {
    lt__camp_t *c = a->camps[i];
    pthread_mutex_lock(&a->def_lock);
    const lt__cdef_t *d = c->def;
    int pending = 0;
    for (uint32_t k = 0; k < d->ntags; k++)
      pending |= d->tag_ids[k] == LT_NONE;
    for (uint32_t k = 0; k < d->ngroups; k++)
      pending |= d->group_ids[k] == LT_NONE;
    lt__cdef_t *nd = pending ? malloc(sizeof *nd) : NULL;
    if (nd) {
      *nd = *d;
      nd->retired_next = NULL;
      uint32_t before = 0;
      for (uint32_t k = 0; k < d->ntags; k++)
        before += d->tag_ids[k] == LT_NONE;
      for (uint32_t k = 0; k < d->ngroups; k++)
        before += d->group_ids[k] == LT_NONE;
      if (resolve(a->st, nd) < before) {
        lt__cdef_t *old = c->def;
        __atomic_store_n(&c->def, nd, __ATOMIC_RELEASE);
        old->retired_next = a->retired;
        a->retired = old;
        nd = NULL;
      }
    }
    pthread_mutex_unlock(&a->def_lock);
    free(nd);
  }
}

static void pace(lt_ads_t *a, int64_t now_ms, int64_t dt_ms) {
  int32_t today = a->today;
  int64_t start = a->day_start_ms, len = a->day_len_ms;
  double iv = a->o.pacing_interval_s * 1000.0;
  double f0 = plan_cum(a, (double)(now_ms - start) / (double)len);
  double f1 = plan_cum(a, (double)(now_ms + (int64_t)iv - start) / (double)len);
  double alpha = 1 - exp(-iv / 300000.0);
  uint32_t nc = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) {
    lt__camp_t *c = a->camps[i];
    const lt__cdef_t *d = lt__def(c);
    pthread_mutex_lock(&c->mu);
    const lt__rt_t *s = &c->rt[today & 1];
    int64_t S = s->day == today ? s->spent + s->reserved : 0;
    pthread_mutex_unlock(&c->mu);
    uint64_t served = __atomic_load_n(&c->served_ucents, __ATOMIC_RELAXED);
    if (c->pace_day != today) c->pace_day = today;
    double p = __atomic_load_n(&c->pace_ppm, __ATOMIC_RELAXED) / 1e6;
    double x = (double)(served - c->pace_prev);
    c->pace_prev = served;
    int active = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE) == LT_CAMPAIGN_ACTIVE &&
                 (!d->start_ms || d->start_ms <= now_ms) && (!d->end_ms || now_ms < d->end_ms);
    if (!active) continue;
    if (p >= 0.02 || x > 0) {
      double sample = x / (p > 0.02 ? p : 0.02) * iv / (double)(dt_ms > 0 ? dt_ms : (int64_t)iv);
      c->pace_u = c->pace_has_u ? c->pace_u + alpha * (sample - c->pace_u) : sample;
      c->pace_has_u = 1;
    } else if (c->pace_has_u) {
      c->pace_u *= 1 - alpha; /* no evidence at this multiplier: assume less demand */
    }
    double B = (double)d->budget_cents * LT_UCENTS_PER_CENT, R = B - (double)S, np;
    /* the compressed plan may have ended while budget is left: spread the
     * rest over what is left of the day */
    if (f0 >= 1 - 1e-9) {
      double left = 1 - (double)(now_ms - start) / (double)len;
      f0 = 0;
      f1 = left > iv / (double)len ? iv / (double)len / left : 1;
    }
    if (R <= 0) {
      np = 0;
    } else {
      double D = f0 < 1 - 1e-9 ? R * (f1 - f0) / (1 - f0) : R;
      double cap = B * a->o.pacing_max_hour_share * iv / 3600000.0;
      if (D > cap) D = cap;
      np = c->pace_has_u && c->pace_u > 0 ? D / c->pace_u : 1;
      double up = 2 * p > 0.01 ? 2 * p : 0.01;
      if (np > up) np = up;
      if (np < 1e-5) np = 1e-5;
      if (np > 1) np = 1;
    }
    __atomic_store_n(&c->pace_ppm, (uint32_t)(np * 1e6 + 0.5), __ATOMIC_RELAXED);
  }
}

void lt_ads_tick(lt_ads_t *a, int64_t now_ms) {
  if (!a || !__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return;
  int32_t day = lt__day_of(a, now_ms, NULL);
  if (day != a->today) roll_day(a, day);
  resolve_pending(a);
  lt__served_rotate(a, now_ms);
  int64_t iv = (int64_t)a->o.pacing_interval_s * 1000;
  if (!a->last_pace_ms || now_ms - a->last_pace_ms >= iv || now_ms < a->last_pace_ms) {
    int64_t dt = a->last_pace_ms && now_ms > a->last_pace_ms ? now_ms - a->last_pace_ms : iv;
    pace(a, now_ms, dt);
    a->last_pace_ms = now_ms;
  }
}

/* ---- diagnostics ------------------------------------------------------------ */

void lt_ads_metrics(lt_ads_t *a, lt_ads_metrics_t *out) {
  memset(out, 0, sizeof *out);
  if (!a) return;
  uint64_t *d = (uint64_t *)out, *s = (uint64_t *)&a->m;
  for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
    d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
  uint64_t n = 0;
  for (uint32_t i = 0; i < LT__ADS_STRIPES; i++) {
    pthread_mutex_lock(&a->sstripe[i].mu);
    for (uint32_t g = 0; g < a->ngen; g++)
      n += a->sstripe[i].gen[g].n;
    pthread_mutex_unlock(&a->sstripe[i].mu);
  }
  out->served_entries = n;
}

int lt_ads_check(lt_ads_t *a) {
  if (!a) return 1;
  int ok = lt__books_check(a);
  uint32_t nc = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
  pthread_rwlock_rdlock(&a->book);
  if (a->b.camp_by_name.len != nc) ok = 0;
  for (uint32_t i = 0; i < nc && ok; i++) {
    lt__camp_t *c = a->camps[i];
    const lt__cdef_t *d = lt__def(c);
    uint32_t back;
    if (find_cid(a, d->id, strlen(d->id), &back) || back != i) ok = 0;
    /* every resolved creative is owned by this campaign */
    for (uint32_t k = 0; k < d->ncre; k++)
      if (d->cre_item[k] != LT_NONE && owner_of(a, d->cre_item[k]) != i) ok = 0;
    pthread_mutex_lock(&c->mu);
    for (int s = 0; s < 2; s++)
      if (c->rt[s].reserved < 0 || c->rt[s].spent < 0) ok = 0;
    pthread_mutex_unlock(&c->mu);
  }
  pthread_rwlock_unlock(&a->book);
  return ok;
}
