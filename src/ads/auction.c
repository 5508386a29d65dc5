/*
 * auction.c — the read path of ads: lt_ads_fill (ad load, eligibility, the
 * per-slot generalized second-price auction, budget reservation, frequency
 * caps), lt_ads_stamp, and the two concurrent tables behind them.
 *
 * Served table: what each auction sold, keyed by (request_id, creative),
 * so an ad event can be priced (lt_ads_stamp) and its budget reservation
 * released when billed. 16 stripes, each a ring of generations of
 * reserve_ttl_s / 2 seconds; lt_ads_tick rotates them: the generation
 * closed one rotation ago has its unbilled reservations released (so a
 * reservation lives between reserve_ttl_s / 2 and reserve_ttl_s), and the
 * oldest is emptied and reused (an entry is kept at least attribution_s).
 * Entry (40 bytes): key u64, campaign u32, day i32, price i64 (ucents per
 * billable event), reserve i64 (ucents held), bid type u8, released u8.
 *
 * Frequency counters: 16 stripes of (user u32 | campaign u16 | day u16) ->
 * count. lt_ads_fill checks and increments in one step under the stripe
 * lock (invariant: a user never gets more than the cap of a campaign's ads
 * served in a day); unserved impressions found in the log add to them;
 * days before yesterday are pruned at the day roll-over.
 *
 * Budget (invariant 3 of ads.c): a winner's price is added to its day's
 * `reserved` under the campaign's mutex only while spent + reserved <
 * budget, so concurrent auctions exceed a daily budget by at most one price
 * before the ledger's cap bills nothing more; the same holds for the
 * current hour's slot against the hourly ceiling. For CPC the reservation
 * is the expected cost (click price x pCTR): a click is billed in full when
 * it comes, and the ledger's cap keeps the day's bill within the budget.
 *
 * Ad load: slots at 0-based positions first_slot - 1 + k * every (< the
 * page length, at most max_per_page); every >= 2 and first_slot >= 2, so
 * no two ads touch, on a page or across two pages.
 *
 * Prices: eCPM in ucents per mille. CPM: bid; CPC: bid x pCTR x 1000;
 * oCPM: target CPA x pCTR x pCVR x 1000. The clearing eCPM is the largest
 * of the runner-up's eCPM, the reserve and the organic value of the
 * displaced item (ties between equal eCPMs go to the older campaign).
 * Price per billable event: clearing / 1000 for an impression (CPM, oCPM);
 * clearing / (1000 x pCTR) for a click (CPC), never above the bid; both
 * rounded up to a whole ucent.
 */
#include "ads/ads_int.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- user profile ------------------------------------------------------- */

void lt__profile(lt_state_t *st, uint32_t user, lt__profile_t *p) {
  p->n = 0;
  p->total = -1; /* no profile */
  if (user == LT_NONE) return;
  lt_hist_t h[64];
  size_t n = lt_state_user_history(st, user, h, 64);
  if (!n) return;
  p->total = 0;
  for (size_t i = 0; i < n; i++) {
    float w;
    switch (h[i].type) {
    case LT_EV_PLAY:
      w = h[i].flags & LT_HIST_FINISHED ? 2.0f : 1.0f;
      break;
    case LT_EV_LIKE:
    case LT_EV_SHARE:
      w = 2.0f;
      break;
    case LT_EV_COMMENT:
    case LT_EV_FOLLOW:
    case LT_EV_PURCHASE:
    case LT_EV_GIFT:
      w = 1.0f;
      break;
    default:
      continue;
    }
    const lt_item_meta_t *m = lt_state_item(st, h[i].item);
    if (!m) continue;
    p->total += w;
    for (uint32_t t = 0; t < m->ntags && t < LT_MAX_TAGS; t++) {
      uint32_t k = 0;
      while (k < p->n && p->tag[k] != m->tags[t])
        k++;
      if (k == p->n) {
        if (p->n == LT__PROFILE_TAGS) continue;
        p->tag[p->n] = m->tags[t];
        p->w[p->n++] = 0;
      }
      p->w[k] += w;
    }
  }
}

static int profile_has(const lt__profile_t *p, uint32_t tag) {
  for (uint32_t k = 0; k < p->n; k++)
    if (p->tag[k] == tag) return 1;
  return 0;
}

int lt__affinity(lt_state_t *st, const lt__profile_t *p, uint32_t item) {
  if (p->total <= 0) return 4;
  const lt_item_meta_t *m = lt_state_item(st, item);
  if (!m) return 0;
  float s = 0;
  for (uint32_t t = 0; t < m->ntags && t < LT_MAX_TAGS; t++)
    for (uint32_t k = 0; k < p->n; k++)
      if (p->tag[k] == m->tags[t]) s += p->w[k];
  s /= p->total;
  return s <= 0 ? 0 : s < 0.1f ? 1 : s < 0.3f ? 2 : 3;
}

/* ---- served table ------------------------------------------------------- */

uint64_t lt__served_key(const char *rid, size_t n, uint32_t item) {
  return lt_u64map_key(lt_hash64_seed(rid, n, 0x5eed0000ULL + item));
}

static lt__sstripe_t *sstripe(lt_ads_t *a, uint64_t key) {
  return &a->sstripe[lt_mix64(key) & (LT__ADS_STRIPES - 1)];
}

/* Returns 0, or LT_ENOMEM (the ad is then not served). */
static int served_put(lt_ads_t *a, const lt__served_t *e) {
  lt__sstripe_t *s = sstripe(a, e->key);
  int rc = LT_OK;
  pthread_mutex_lock(&s->mu);
  lt__gen_t *g = &s->gen[s->cur];
  uint64_t *v;
  int created;
  if (g->n == g->cap) {
    size_t nc = g->cap ? g->cap * 2 : 256;
    lt__served_t *p = realloc(g->ent, nc * sizeof *p);
    if (!p) {
      rc = LT_ENOMEM;
      goto out;
    }
    g->ent = p;
    g->cap = nc;
  }
  if ((rc = lt_u64map_upsert(&g->idx, e->key, &v, &created))) goto out;
  if (created) {
    g->ent[g->n] = *e;
    *v = ++g->n;
  } else {
    g->ent[*v - 1] = *e; /* the same request and creative again: the newest sale */
  }
out:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int lt__served_find(lt_ads_t *a, uint64_t key, int release, lt__served_t *out, int *released_now) {
  lt__sstripe_t *s = sstripe(a, key);
  int found = 0;
  if (released_now) *released_now = 0;
  pthread_mutex_lock(&s->mu);
  for (uint32_t k = 0; k < a->ngen && !found; k++) {
    lt__gen_t *g = &s->gen[(s->cur + a->ngen - k) % a->ngen];
    uint64_t *v = lt_u64map_get(&g->idx, key);
    if (!v) continue;
    lt__served_t *e = &g->ent[*v - 1];
    *out = *e;
    if (release && !e->released) {
      e->released = 1;
      if (released_now) *released_now = 1;
    }
    found = 1;
  }
  pthread_mutex_unlock(&s->mu);
  return found;
}

/* Gives back the unbilled reservations of generation g (stripe locked). */
static void release_gen(lt_ads_t *a, lt__gen_t *g) {
  for (size_t i = 0; i < g->n; i++) {
    lt__served_t *e = &g->ent[i];
    if (e->released || !e->reserve) continue;
    e->released = 1;
    lt__camp_t *c = lt__camp(a, e->cid);
    if (!c) continue;
    pthread_mutex_lock(&c->mu);
    lt__rt_t *s = &c->rt[e->day & 1];
    if (s->day == e->day) {
      s->reserved -= e->reserve;
      if (s->reserved < 0) s->reserved = 0;
    }
    if (c->hr.day == e->hkey) {
      c->hr.reserved -= e->reserve;
      if (c->hr.reserved < 0) c->hr.reserved = 0;
    }
    pthread_mutex_unlock(&c->mu);
  }
}

static void clear_gen(lt__gen_t *g) {
  g->n = 0;
  if (g->idx.cap) memset(g->idx.keys, 0, g->idx.cap * sizeof *g->idx.keys);
  g->idx.len = 0;
  /* a generation that grew for a burst gives its memory back */
  if (g->cap > 65536) {
    lt_u64map_clear(&g->idx);
    free(g->ent);
    g->ent = NULL;
    g->cap = 0;
  }
}

void lt__served_rotate(lt_ads_t *a, int64_t now_ms) {
  if (!a->gen_started_ms || now_ms < a->gen_started_ms) {
    a->gen_started_ms = now_ms;
    return;
  }
  uint32_t steps = 0;
  while (now_ms - a->gen_started_ms >= (int64_t)a->gen_ms && steps < a->ngen) {
    a->gen_started_ms += a->gen_ms;
    steps++;
  }
  if (now_ms - a->gen_started_ms >= (int64_t)a->gen_ms) a->gen_started_ms = now_ms; /* a jump */
  for (uint32_t k = 0; k < steps; k++)
    for (uint32_t i = 0; i < LT__ADS_STRIPES; i++) {
      lt__sstripe_t *s = &a->sstripe[i];
      pthread_mutex_lock(&s->mu);
      release_gen(a, &s->gen[(s->cur + a->ngen - 1) % a->ngen]);
      s->cur = (s->cur + 1) % a->ngen;
      release_gen(a, &s->gen[s->cur]); /* only after a jump may it hold any */
      clear_gen(&s->gen[s->cur]);
      pthread_mutex_unlock(&s->mu);
    }
}

/* ---- frequency counters --------------------------------------------------- */

static uint64_t freq_key(uint32_t user, uint32_t cid, int32_t day) {
  return lt_u64map_key((uint64_t)user << 32 | (uint64_t)(cid & 0xffff) << 16 | (uint16_t)day);
}

static lt__fstripe_t *fstripe(lt_ads_t *a, uint64_t key) {
  return &a->fstripe[lt_mix64(key) & (LT__ADS_STRIPES - 1)];
}

uint32_t lt__freq_get(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day) {
  uint64_t k = freq_key(user, cid, day);
  lt__fstripe_t *s = fstripe(a, k);
  pthread_mutex_lock(&s->mu);
  uint64_t *v = lt_u64map_get(&s->m, k);
  uint32_t n = v ? (uint32_t)*v : 0;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void lt__freq_add(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day, int delta) {
  uint64_t k = freq_key(user, cid, day), *v;
  lt__fstripe_t *s = fstripe(a, k);
  int created;
  pthread_mutex_lock(&s->mu);
  if (!lt_u64map_upsert(&s->m, k, &v, &created)) {
    if (delta < 0 && *v < (uint64_t)-delta)
      *v = 0;
    else
      *v += (uint64_t)(int64_t)delta;
  }
  pthread_mutex_unlock(&s->mu);
}

int lt__freq_take(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day, uint32_t cap) {
  uint64_t k = freq_key(user, cid, day), *v;
  lt__fstripe_t *s = fstripe(a, k);
  int created, ok = 0;
  pthread_mutex_lock(&s->mu);
  if (!lt_u64map_upsert(&s->m, k, &v, &created) && *v < cap) {
    (*v)++;
    ok = 1;
  }
  pthread_mutex_unlock(&s->mu);
  return ok;
}

void lt__freq_prune(lt_ads_t *a, int32_t keep_from) {
  for (uint32_t i = 0; i < LT__ADS_STRIPES; i++) {
    lt__fstripe_t *s = &a->fstripe[i];
    pthread_mutex_lock(&s->mu);
    lt_u64map_t m;
    lt_u64map_init(&m);
    int ok = 1;
    for (size_t j = 0; j < s->m.cap && ok; j++) {
      uint64_t k = s->m.keys[j], *v;
      int created;
      /* the remapped zero key (user 0, campaign 0, day 0) is an old day too */
      if (!k || k == lt_u64map_key(0) || (int32_t)(uint16_t)k < keep_from) continue;
      if (lt_u64map_upsert(&m, k, &v, &created))
        ok = 0;
      else
        *v = s->m.vals[j];
    }
    if (ok) {
      lt_u64map_clear(&s->m);
      s->m = m;
    } else {
      lt_u64map_clear(&m); /* out of memory: keep the old counters */
    }
    pthread_mutex_unlock(&s->mu);
  }
}

/* ---- the auction ---------------------------------------------------------- */

typedef struct cand {
  uint32_t cid, item;
  int64_t ecpm;
  double pctr, pcvr;
  const lt__cdef_t *d;
  uint8_t aigc, alive;
} cand_t;

static int in_list(const uint32_t *v, uint32_t n, uint32_t x) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == x) return 1;
  return 0;
}

static int64_t to_ucents(double x) {
  if (!(x > 0)) return 0;
  if (x > 9e17) return (int64_t)9e17;
  return (int64_t)llround(x);
}

static int64_t ceil_div(int64_t x, int64_t y) { return x <= 0 ? 0 : (x + y - 1) / y; }

/* The candidate of campaign cid for this page, or 0 when it does not bid. */
static int candidate(lt_ads_t *a, uint32_t cid, const lt_ads_page_t *pg, const lt__profile_t *prof,
                     uint64_t rh, int32_t today, int32_t hkey, int64_t now_ms, cand_t *out) {
  lt__camp_t *c = a->camps[cid];
  if (__atomic_load_n(&c->status, __ATOMIC_ACQUIRE) != LT_CAMPAIGN_ACTIVE) return 0;
  const lt__cdef_t *d = lt__def(c);
  if ((d->start_ms && now_ms < d->start_ms) || (d->end_ms && now_ms >= d->end_ms)) return 0;
  uint32_t user = pg->user;
  if (d->ngroups) {
    int ok = 0;
    for (uint32_t k = 0; k < d->ngroups && !ok && user != LT_NONE; k++)
      ok = d->group_ids[k] != LT_NONE && lt_state_user_in_group(a->st, user, d->group_ids[k]);
    if (!ok) return 0;
  }
  if (d->ntags) {
    int ok = 0;
    for (uint32_t k = 0; k < d->ntags && !ok; k++)
      ok = d->tag_ids[k] != LT_NONE && profile_has(prof, d->tag_ids[k]);
    if (!ok) return 0;
  }
  uint32_t ppm = __atomic_load_n(&c->pace_ppm, __ATOMIC_RELAXED);
  if (ppm < 1000000 &&
      lt_mix64(rh ^ ((uint64_t)cid + 1) * 0x9e3779b97f4a7c15ULL) % 1000000 >= ppm) {
    LT__ATOMIC_INC(&a->m.throttled);
    LT__ATOMIC_INC(&c->throttled);
    return 0;
  }
  uint32_t cap = d->freq_cap ? d->freq_cap : a->o.freq_cap;
  if (user != LT_NONE && lt__freq_get(a, user, cid, today) >= cap) {
    LT__ATOMIC_INC(&a->m.freq_rejects);
    LT__ATOMIC_INC(&c->capped);
    return 0;
  }
  int64_t budget = d->budget_cents * LT_UCENTS_PER_CENT, hcap = lt__hour_cap(a, d);
  pthread_mutex_lock(&c->mu);
  const lt__rt_t *s = &c->rt[today & 1];
  int spent_out = (s->day == today && s->spent + s->reserved >= budget) ||
                  (hcap && c->hr.day == hkey && c->hr.spent + c->hr.reserved >= hcap);
  pthread_mutex_unlock(&c->mu);
  if (spent_out) {
    LT__ATOMIC_INC(&a->m.budget_rejects);
    LT__ATOMIC_INC(&c->blocked);
    return 0;
  }
  int found = 0;
  for (uint32_t k = 0; k < d->ncre; k++) {
    uint32_t item = d->cre_item[k];
    if (item == LT_NONE || in_list(pg->items, pg->n, item)) continue;
    const lt_item_meta_t *m = lt_state_item(a->st, item);
    if (!m || m->deleted) continue;
    uint32_t f[LT__MODEL_FEATS];
    lt__model_feats(item, cid, d->adv_key, lt__affinity(a->st, prof, item), f);
    double pctr = lt__model_predict(a->model, LT__HEAD_CTR, f), pcvr = 1;
    double bid = (double)d->bid_cents * LT_UCENTS_PER_CENT, e;
    if (d->bid_type == LT_BID_CPM)
      e = bid;
    else if (d->bid_type == LT_BID_CPC)
      e = bid * pctr * 1000;
    else {
      pcvr = lt__model_predict(a->model, LT__HEAD_CVR, f);
      e = bid * pctr * pcvr * 1000;
    }
    int64_t ecpm = to_ucents(e);
    if (!found || ecpm > out->ecpm) {
      out->cid = cid;
      out->item = item;
      out->ecpm = ecpm;
      out->pctr = pctr;
      out->pcvr = pcvr;
      out->d = d;
      out->aigc = d->cre_aigc[k] || m->aigc;
      out->alive = 1;
      found = 1;
    }
  }
  return found;
}

static int64_t organic_ucpm(const lt_ads_t *a, const lt_ads_page_t *pg, uint32_t i) {
  double s = pg->scores && i < pg->n ? pg->scores[i] : 0;
  if (!(s == s)) s = 0; /* NaN */
  if (s > 20) s = 20;
  if (s < -20) s = -20;
  return to_ucents(a->o.organic_cpm * LT_UCENTS_PER_CENT * exp(a->o.organic_beta * s));
}

int lt_ads_fill(lt_ads_t *a, const lt_ads_page_t *pg, int64_t now_ms, lt_ads_slot_t *out,
                uint32_t max, uint32_t *nout) {
  if (!nout) return LT_EINVAL;
  *nout = 0;
  if (!a || !pg || (!out && max) || (pg->n && !pg->items)) return LT_EINVAL;
  if (!__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return LT_OK;
  LT__ATOMIC_INC(&a->m.fills);
  /* without a request id no event could be priced: show nothing we cannot bill */
  if (!pg->request_id || !*pg->request_id || !pg->n || !max) return LT_OK;
  uint32_t user = pg->user;
  for (uint32_t g = 0; g < a->nadfree && user != LT_NONE; g++) {
    uint32_t gid; /* looked up each time: a group made a second ago counts */
    if (!lt_state_find(a->st, LT_NS_GROUP, a->adfree[g], strlen(a->adfree[g]), &gid) &&
        lt_state_user_in_group(a->st, user, gid))
      return LT_OK;
  }
  uint32_t pos[LT_ADS_MAX_SLOTS], np = 0;
  for (uint64_t p = a->o.first_slot - 1; p < pg->n && np < a->o.max_per_page && np < max;
       p += a->o.every)
    pos[np++] = (uint32_t)p;
  if (!np) return LT_OK;
  __atomic_fetch_add(&a->m.slots_offered, np, __ATOMIC_RELAXED);

  /* the day, and one opportunity for the pacing plan's traffic curve */
  int64_t start = __atomic_load_n(&a->day_start_ms, __ATOMIC_RELAXED);
  int64_t len = __atomic_load_n(&a->day_len_ms, __ATOMIC_RELAXED);
  int32_t today;
  uint32_t hour;
  if (len > 0 && now_ms >= start && now_ms < start + len) {
    today = __atomic_load_n(&a->today, __ATOMIC_ACQUIRE);
    uint32_t b = (uint32_t)((now_ms - start) * LT__ADS_BUCKETS / len);
    __atomic_fetch_add(&a->opp[b < LT__ADS_BUCKETS ? b : LT__ADS_BUCKETS - 1], 1, __ATOMIC_RELAXED);
    hour = (uint32_t)((now_ms - start) / 3600000);
    if (hour > 23) hour = 23;
  } else {
    today = lt__day_of(a, now_ms, &hour);
  }
  int32_t hkey = today * 24 + (int32_t)hour;

  lt__profile_t prof;
  lt__profile(a->st, user, &prof);
  uint64_t rh = lt_hash64(pg->request_id, strlen(pg->request_id));
  uint32_t ncamps = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE), nc = 0;
  cand_t stack[64], *cands = ncamps <= 64 ? stack : malloc(ncamps * sizeof *cands);
  if (!cands) return LT_ENOMEM;
  for (uint32_t cid = 0; cid < ncamps; cid++)
    if (candidate(a, cid, pg, &prof, rh, today, hkey, now_ms, &cands[nc])) nc++;

  uint32_t k = 0, placed[LT_ADS_MAX_SLOTS];
  int64_t reserve_ucpm = to_ucents(a->o.reserve_cpm * LT_UCENTS_PER_CENT);
  for (uint32_t s = 0; s < np; s++) {
    /* the organic item an ad here pushes down */
    int64_t floor = organic_ucpm(a, pg, pos[s] - k);
    if (floor < reserve_ucpm) floor = reserve_ucpm;
    for (;;) {
      int best = -1, second = -1;
      for (uint32_t i = 0; i < nc; i++) {
        if (!cands[i].alive || in_list(placed, k, cands[i].item)) continue;
        if (best < 0 || cands[i].ecpm > cands[best].ecpm) {
          second = best;
          best = (int)i;
        } else if (second < 0 || cands[i].ecpm > cands[second].ecpm) {
          second = (int)i;
        }
      }
      if (best < 0) {
        LT__ATOMIC_INC(&a->m.no_bid);
        break;
      }
      cand_t *w = &cands[best];
      if (w->ecpm < floor) {
        LT__ATOMIC_INC(&a->m.below_floor);
        break;
      }
      int64_t clear = second >= 0 && cands[second].ecpm > floor ? cands[second].ecpm : floor;
      if (clear > w->ecpm) clear = w->ecpm;
      const lt__cdef_t *d = w->d;
      int64_t price, reserve;
      if (d->bid_type == LT_BID_CPC) {
        price = to_ucents(ceil((double)clear / (1000.0 * w->pctr)));
        if (price > lt__max_price(d)) price = lt__max_price(d);
        if (price < 1) price = 1;
        reserve = to_ucents(ceil((double)price * w->pctr));
        if (reserve < 1) reserve = 1;
      } else {
        price = ceil_div(clear, 1000);
        if (price < 1) price = 1;
        reserve = price;
      }
      uint32_t cap = d->freq_cap ? d->freq_cap : a->o.freq_cap;
      if (user != LT_NONE && !lt__freq_take(a, user, w->cid, today, cap)) {
        LT__ATOMIC_INC(&a->m.freq_rejects);
        LT__ATOMIC_INC(&a->camps[w->cid]->capped);
        w->alive = 0;
        continue;
      }
      lt__camp_t *c = a->camps[w->cid];
      int64_t budget = d->budget_cents * LT_UCENTS_PER_CENT, hcap = lt__hour_cap(a, d);
      pthread_mutex_lock(&c->mu);
      lt__rt_t *slot = lt__rt_slot(c, today), *hs = lt__hr_slot(c, hkey);
      int ok = slot && slot->spent + slot->reserved < budget &&
               (!hcap || !hs || hs->spent + hs->reserved < hcap);
      if (ok) {
        slot->reserved += reserve;
        if (hs) hs->reserved += reserve;
      }
      pthread_mutex_unlock(&c->mu);
      lt__served_t e = {lt__served_key(pg->request_id, strlen(pg->request_id), w->item),
                        w->cid,
                        today,
                        hkey,
                        price,
                        reserve,
                        d->bid_type,
                        0};
      if (ok && served_put(a, &e)) { /* out of memory: give the reservation back */
        pthread_mutex_lock(&c->mu);
        if (c->rt[today & 1].day == today) c->rt[today & 1].reserved -= reserve;
        if (c->hr.day == hkey) c->hr.reserved -= reserve;
        pthread_mutex_unlock(&c->mu);
        ok = 0;
      }
      if (!ok) {
        if (user != LT_NONE) lt__freq_add(a, user, w->cid, today, -1);
        LT__ATOMIC_INC(&a->m.budget_rejects);
        LT__ATOMIC_INC(&a->camps[w->cid]->blocked);
        w->alive = 0;
        continue;
      }
      lt_ads_slot_t *o = &out[k];
      memset(o, 0, sizeof *o);
      o->position = pos[s];
      o->item = w->item;
      o->campaign = w->cid;
      o->bid_type = d->bid_type;
      o->aigc = w->aigc;
      o->price_ucents = price;
      o->ecpm_ucents = w->ecpm;
      o->clear_ucents = clear;
      o->pctr = (float)w->pctr;
      o->pcvr = (float)w->pcvr;
      snprintf(o->reason, sizeof o->reason, "sponsored by @%.96s%s", d->advertiser,
               w->aigc ? " (AI-generated)" : "");
      placed[k++] = w->item;
      w->alive = 0;
      LT__ATOMIC_INC(&a->m.ads_served);
      LT__ATOMIC_INC(&c->served);
      __atomic_fetch_add(&c->served_ucents, (uint64_t)reserve, __ATOMIC_RELAXED);
      break;
    }
  }
  if (cands != stack) free(cands);
  *nout = k;
  return LT_OK;
}

void lt_ads_stamp(lt_ads_t *a, lt_record_t *recs, size_t n) {
  if (!a || !__atomic_load_n(&a->attached, __ATOMIC_ACQUIRE)) return;
  for (size_t i = 0; i < n; i++) {
    if (recs[i].kind != LT_REC_EVENT) continue;
    lt_event_t *e = &recs[i].u.ev;
    if (e->type != LT_EV_AD_IMPRESSION && e->type != LT_EV_AD_CLICK) continue;
    uint32_t iid;
    lt__served_t s;
    e->value = 0;
    if (!e->request_id.n || lt_state_find(a->st, LT_NS_ITEM, e->item.p, e->item.n, &iid)) continue;
    if (lt__served_find(a, lt__served_key(e->request_id.p, e->request_id.n, iid), 0, &s, NULL) &&
        lt__billable(s.bid_type, e->type))
      e->value = s.price;
  }
}
