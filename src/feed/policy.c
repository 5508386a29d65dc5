/*
 * policy.c — the state of the distribution policies: what each user was
 * shown (seen-dedup) and said not_interested to, each new item's traffic
 * pool, and the creators' and AIGC share of recent exposure (fairness).
 * The request path (feed_get.c) reads it; docs/policies.md describes the
 * policies for operators.
 *
 * What it is for: the policies must act on what happened on the platform,
 * survive a restart and come out the same after one. So their state is a
 * pure function of the durable records in log order: lt__pol_observe is
 * fed every record, live by lt_feed_observe (the store's writer, after the
 * record is durable and applied) and at start by lt_feed_replay (fed the
 * whole log by lt_store_scan, as src/stats is). Nothing here is saved; the catalog fields a
 * policy needs (creator, kind, aigc, duration, publish time) are copied
 * from each ITEM_PUT as it comes, so a replay that runs against the final
 * state attributes every record as the live run did (invariant 5). The
 * clock is the newest event time observed, never the wall clock.
 *
 * Traffic pools. An ITEM_PUT of an item never seen before (no earlier
 * event), not a live room, published at most pool_max_age_ms before the
 * put, enters pool 0 (status IN, listed in `active`). Every impression of
 * an item in pool k counts against the quota q_k = pool_quota x
 * pool_growth^k, whichever source served it; plays, likes, follows and
 * shares add engagement points (w_finish x the duration-debiased completion
 * credit, w_like, w_follow, w_share; a not_interested takes w_finish off).
 * The completion credit of a finished play of an item in duration bucket b
 * is c / c_b (c the platform's completion rate, c_b bucket b's, both
 * smoothed and learned from every play seen; at most 4), so finishing a
 * long video counts more than finishing a 7-second one. When impressions
 * reach q_k the item turns JUDGING (no more pool slots) and is queued for
 * judgement pool_judge_ms later (engagement of the last impressions comes
 * after them); the queue is a FIFO because due times follow the clock.
 * Judgement: score = points / impressions; the bar is the k-th largest of
 * the last pool_peers scores judged in pool k, k = max(1, ceil(top_share x
 * peers)) — "in the top X% of the items that passed this pool recently";
 * score >= bar moves the item to pool k + 1 (or, after the last pool, to
 * GRADUATED), else it leaves as ORGANIC. With fewer than pool_min_peers
 * peers there is no bar and it moves up. Either way its score joins the
 * peers. Items older than pool_max_age_ms, and deleted ones, leave as
 * EXPIRED (checked on their impressions and in the periodic sweep).
 *
 * Exposure windows. Impressions are counted per creator and in total (and
 * AIGC) in LT__FAIR_BUCKETS buckets of fair_window_ms / 24 (a rolling
 * window at bucket resolution). Every LT__FAIR_EVERY impressions, and when
 * a new bucket starts, fair_update recomputes the Gini coefficient of the
 * window impressions over the creators that have any, the AIGC share, the
 * fairness strength and each listed creator's discount (feed.h,
 * fair_target), and sweeps aged-out pool items.
 *
 * Per-user state (seen ring of (item, second) pairs, at most seen_cap; the
 * newest LT__NEG_N not_interested entries) is guarded by striped mutexes
 * held only to push or copy. Item and creator entries live in chunkvecs
 * (never move); requests read the few fields they need with relaxed atomic
 * loads, and the discount floats with atomic loads.
 *
 * Invariants:
 *  1. an item is in active[0..nactive) iff its status is IN or JUDGING,
 *     and then active[slot1 - 1] == item;
 *  2. in_pool[k] = the number of listed items with stage k;
 *  3. a JUDGING item is in the judge queue exactly once (the queue may
 *     also hold items that left meanwhile: judging skips them);
 *  4. a creator is in fair_list iff listed, and every creator with a count
 *     in the window is listed;
 *  5. the state after observing records r1..rn is the same whether they
 *     came live or from lt_feed_replay.
 */
#include "feed/feed_int.h"

#include "core/error.h"
#include "stats/stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *status_names[] = {"none", "pool", "judging", "organic", "graduated", "expired"};

/* Fields requests read are written with relaxed atomic stores (one writer). */
#define ST(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define CNT(counter) __atomic_add_fetch(&(counter), 1, __ATOMIC_RELAXED)

static float ld_f(const float *p) {
  float v;
  __atomic_load(p, &v, __ATOMIC_RELAXED);
  return v;
}
static void st_f(float *p, float v) { __atomic_store(p, &v, __ATOMIC_RELAXED); }

static void add_eng(lt__pol_item_t *pi, float d) { st_f(&pi->eng, pi->eng + d); }

/* ---- lifecycle ----------------------------------------------------------- */

int lt__pol_init(lt_feed_t *f) {
  lt__pol_t *p = &f->pol;
  memset(p, 0, sizeof *p);
  if (lt_cv_init(&p->items, sizeof(lt__pol_item_t)) ||
      lt_cv_init(&p->users, sizeof(lt__pol_user_t)) ||
      lt_cv_init(&p->creators, sizeof(lt__pol_creator_t)))
    return LT_ENOMEM;
  for (int i = 0; i < LT__POL_STRIPES; i++)
    pthread_mutex_init(&p->user_locks[i], NULL);
  p->active = malloc(LT__POOL_ACTIVE * sizeof *p->active);
  p->judge = malloc(LT__POOL_ACTIVE * sizeof *p->judge);
  p->sorted = malloc(f->o.pool_peers * sizeof *p->sorted);
  if (!p->active || !p->judge || !p->sorted) return LT_ENOMEM;
  for (uint32_t k = 0; k < f->o.pool_levels; k++)
    if (!(p->peers[k] = calloc(f->o.pool_peers, sizeof(float)))) return LT_ENOMEM;
  p->bucket_ms = f->o.fair_window_ms / LT__FAIR_BUCKETS;
  if (p->bucket_ms < 1) p->bucket_ms = 1;
  return LT_OK;
}

void lt__pol_free(lt_feed_t *f) {
  lt__pol_t *p = &f->pol;
  uint32_t nu = lt_cv_len(&p->users);
  for (uint32_t u = 0; u < nu; u++)
    free(((lt__pol_user_t *)lt_cv_at(&p->users, u))->seen);
  lt_cv_free(&p->items);
  lt_cv_free(&p->users);
  lt_cv_free(&p->creators);
  for (int i = 0; i < LT__POL_STRIPES; i++)
    pthread_mutex_destroy(&p->user_locks[i]);
  free(p->active);
  free(p->judge);
  free(p->sorted);
  for (int k = 0; k < LT_FEED_MAX_POOLS; k++)
    free(p->peers[k]);
  free(p->fair_list);
  free(p->fair_tmp);
}

/* ---- accessors ------------------------------------------------------------ */

uint32_t lt__pol_quota(const lt_feed_t *f, int stage) {
  uint64_t q = f->o.pool_quota;
  for (int k = 0; k < stage && q < UINT32_MAX; k++)
    q *= f->o.pool_growth;
  return q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
}

const lt__pol_item_t *lt__pol_item(const lt_feed_t *f, uint32_t item) {
  if (item >= lt_cv_len(&f->pol.items)) return NULL;
  return lt_cv_at(&f->pol.items, item);
}

float lt__pol_creator_penalty(const lt_feed_t *f, uint32_t creator) {
  if (creator == LT_NONE || creator >= lt_cv_len(&f->pol.creators)) return 0;
  return ld_f(&((lt__pol_creator_t *)lt_cv_at(&f->pol.creators, creator))->penalty);
}

static pthread_mutex_t *user_lock(lt__pol_t *p, uint32_t user) {
  return &p->user_locks[user % LT__POL_STRIPES];
}

size_t lt__pol_seen(lt_feed_t *f, uint32_t user, int64_t since_ms, uint32_t *out, size_t max) {
  lt__pol_t *p = &f->pol;
  if (user >= lt_cv_len(&p->users)) return 0;
  lt__pol_user_t *u = lt_cv_at(&p->users, user);
  size_t n = 0;
  pthread_mutex_lock(user_lock(p, user));
  for (uint32_t i = 0; i < u->slen && n < max; i++) {
    uint32_t j = (u->shead + i) % u->scap;
    /* seconds are rounded up: an impression in second s counts until the
     * window has passed its last millisecond */
    if ((int64_t)u->seen[2 * j + 1] * 1000 + 999 >= since_ms) out[n++] = u->seen[2 * j];
  }
  pthread_mutex_unlock(user_lock(p, user));
  return n;
}

size_t lt__pol_neg(lt_feed_t *f, uint32_t user, int64_t since_ms, lt__neg_t *out) {
  lt__pol_t *p = &f->pol;
  if (user >= lt_cv_len(&p->users)) return 0;
  lt__pol_user_t *u = lt_cv_at(&p->users, user);
  size_t n = 0;
  pthread_mutex_lock(user_lock(p, user));
  uint32_t have = u->nneg < LT__NEG_N ? u->nneg : LT__NEG_N;
  for (uint32_t i = 0; i < have; i++)
    if ((int64_t)u->neg[i].ts_s * 1000 + 999 >= since_ms) out[n++] = u->neg[i];
  pthread_mutex_unlock(user_lock(p, user));
  return n;
}

/* ---- growth ---------------------------------------------------------------- */

static lt__pol_item_t *item_at(lt__pol_t *p, uint32_t item) {
  if (item >= lt_cv_len(&p->items) && lt_cv_resize(&p->items, item + 1)) return NULL;
  return lt_cv_at(&p->items, item);
}

static lt__pol_creator_t *creator_at(lt__pol_t *p, uint32_t c) {
  if (c == LT_NONE) return NULL;
  if (c >= lt_cv_len(&p->creators) && lt_cv_resize(&p->creators, c + 1)) return NULL;
  return lt_cv_at(&p->creators, c);
}

static lt__pol_user_t *user_at(lt__pol_t *p, uint32_t u) {
  if (u >= lt_cv_len(&p->users) && lt_cv_resize(&p->users, u + 1)) return NULL;
  return lt_cv_at(&p->users, u);
}

static uint32_t ts_s(int64_t ms) {
  int64_t s = ms / 1000;
  return s < 0 ? 0 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Fills an item's catalog fields from the state when the policies have not
 * seen a put of it (an item known from events only). */
static void item_know(lt_feed_t *f, lt__pol_item_t *pi, uint32_t item) {
  if (pi->known) return;
  const lt_item_meta_t *m = lt_state_item(f->st, item);
  pi->creator = m ? m->creator : LT_NONE;
  pi->kind = m ? m->kind : LT_KIND_VIDEO;
  pi->aigc = m ? m->aigc : 0;
  pi->duration_ms = m ? m->duration_ms : 0;
  pi->published_ms = m ? m->published_at_ms : 0;
  pi->known = 1;
}

/* ---- traffic pools ----------------------------------------------------------- */

static void active_add(lt__pol_t *p, lt__pol_item_t *pi, uint32_t item) {
  uint32_t n = p->nactive;
  __atomic_store_n(&p->active[n], item, __ATOMIC_RELAXED);
  pi->slot1 = n + 1;
  __atomic_store_n(&p->nactive, n + 1, __ATOMIC_RELEASE);
}

static void active_remove(lt__pol_t *p, lt__pol_item_t *pi) {
  if (!pi->slot1) return;
  uint32_t i = pi->slot1 - 1, n = p->nactive, last = p->active[n - 1];
  __atomic_store_n(&p->active[i], last, __ATOMIC_RELAXED);
  ((lt__pol_item_t *)lt_cv_at(&p->items, last))->slot1 = i + 1;
  __atomic_store_n(&p->nactive, n - 1, __ATOMIC_RELEASE);
  pi->slot1 = 0;
}

static void set_status(lt__pol_item_t *pi, int status) {
  __atomic_store_n(&pi->status, (uint8_t)status, __ATOMIC_RELAXED);
}

/* Takes a listed item out of the pools with a final status. */
static void pool_leave(lt__pol_t *p, lt__pol_item_t *pi, int status) {
  __atomic_sub_fetch(&p->in_pool[pi->stage], 1, __ATOMIC_RELAXED);
  active_remove(p, pi);
  set_status(pi, status);
}

static void pool_enter(lt_feed_t *f, lt__pol_item_t *pi, uint32_t item, int64_t ts) {
  lt__pol_t *p = &f->pol;
  if (p->nactive >= LT__POOL_ACTIVE) {
    CNT(p->pool_full);
    return;
  }
  ST(pi->stage, 0);
  ST(pi->reached, 0);
  ST(pi->impr, 0);
  st_f(&pi->eng, 0);
  ST(pi->entered_ms, ts);
  st_f(&pi->score, 0);
  st_f(&pi->threshold, -1);
  active_add(p, pi, item);
  __atomic_add_fetch(&p->in_pool[0], 1, __ATOMIC_RELAXED);
  set_status(pi, LT_POOL_IN);
  CNT(p->entered);
}

/* The bar of pool k: the k-th largest of its peers (see the note), or -1
 * when there are too few peers. */
static float pool_bar(lt_feed_t *f, int stage) {
  lt__pol_t *p = &f->pol;
  uint32_t n = p->npeers[stage];
  if (n < f->o.pool_min_peers || !n) return -1;
  float *s = p->sorted;
  memcpy(s, p->peers[stage], n * sizeof *s);
  /* (top_share is a float: 0.3f x 10 is 3.0000001, which must give 3) */
  uint32_t k = (uint32_t)ceil((double)f->o.pool_top_share * n - 1e-5);
  if (k < 1) k = 1;
  if (k > n) k = n;
  /* partial selection sort: the k largest to the front */
  for (uint32_t i = 0; i < k; i++) {
    uint32_t best = i;
    for (uint32_t j = i + 1; j < n; j++)
      if (s[j] > s[best]) best = j;
    float t = s[i];
    s[i] = s[best];
    s[best] = t;
  }
  return s[k - 1];
}

static void judge(lt_feed_t *f, uint32_t item) {
  lt__pol_t *p = &f->pol;
  lt__pol_item_t *pi = lt_cv_at(&p->items, item);
  if (pi->status != LT_POOL_JUDGING) return; /* expired or deleted meanwhile */
  int k = pi->stage;
  float score = pi->impr ? pi->eng / (float)pi->impr : 0;
  float bar = pool_bar(f, k);
  int up = bar < 0 || score >= bar;
  /* the peers ring: this item passed pool k */
  p->peers[k][p->peer_head[k]] = score;
  p->peer_head[k] = (p->peer_head[k] + 1) % f->o.pool_peers;
  if (p->npeers[k] < f->o.pool_peers) p->npeers[k]++;
  st_f(&pi->score, score);
  st_f(&pi->threshold, bar);
  if (!up) {
    pool_leave(p, pi, LT_POOL_ORGANIC);
    CNT(p->left);
  } else if ((uint32_t)k + 1 >= f->o.pool_levels) {
    pool_leave(p, pi, LT_POOL_GRADUATED);
    CNT(p->graduated);
  } else {
    __atomic_sub_fetch(&p->in_pool[k], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->in_pool[k + 1], 1, __ATOMIC_RELAXED);
    __atomic_store_n(&pi->impr, 0, __ATOMIC_RELAXED);
    st_f(&pi->eng, 0);
    ST(pi->entered_ms, p->clock_ms);
    __atomic_store_n(&pi->stage, (int8_t)(k + 1), __ATOMIC_RELAXED);
    ST(pi->reached, (int8_t)(k + 1));
    set_status(pi, LT_POOL_IN);
    CNT(p->promoted[k + 1]);
  }
}

/* Judges every queued item whose time has come. */
static void judge_due(lt_feed_t *f) {
  lt__pol_t *p = &f->pol;
  while (p->jlen && p->judge[p->jhead].due_ms <= p->clock_ms) {
    uint32_t item = p->judge[p->jhead].item;
    p->jhead = (p->jhead + 1) % LT__POOL_ACTIVE;
    p->jlen--;
    judge(f, item);
  }
}

static int too_old(const lt_feed_t *f, const lt__pol_item_t *pi, int64_t now) {
  return pi->published_ms && now - pi->published_ms > f->o.pool_max_age_ms;
}

/* Pool items that aged out leave (run with the fairness update). */
static void pool_sweep(lt_feed_t *f) {
  lt__pol_t *p = &f->pol;
  for (uint32_t i = 0; i < p->nactive;) {
    lt__pol_item_t *pi = lt_cv_at(&p->items, p->active[i]);
    if (too_old(f, pi, p->clock_ms)) {
      pool_leave(p, pi, LT_POOL_EXPIRED);
      CNT(p->expired);
    } else {
      i++;
    }
  }
}

/* ---- fairness and AIGC windows -------------------------------------------------- */

/* Impressions of creator c in the window ending at bucket b_now. */
static uint64_t creator_window(const lt__pol_creator_t *c, int64_t b_now) {
  if (!c->last_b1) return 0;
  int64_t lb = c->last_b1 - 1, from = b_now - LT__FAIR_BUCKETS + 1;
  if (lb < from) return 0;
  uint64_t s = 0;
  for (int64_t b = lb - LT__FAIR_BUCKETS + 1 > from ? lb - LT__FAIR_BUCKETS + 1 : from; b <= lb;
       b++)
    s += c->cnt[b % LT__FAIR_BUCKETS];
  return s;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void fair_update(lt_feed_t *f) {
  lt__pol_t *p = &f->pol;
  const lt_feed_opts_t *o = &f->o;
  p->since_update = 0;
  pool_sweep(f);
  int64_t b_now = p->last_b1 - 1;
  /* window totals */
  uint64_t all = 0, aigc = 0;
  for (int i = 0; i < LT__FAIR_BUCKETS; i++) {
    all += p->win_all[i];
    aigc += p->win_aigc[i];
  }
  ST(p->window_impressions, all);
  float share = all ? (float)((double)aigc / (double)all) : 0;
  st_f(&p->aigc_share, share);
  float apen = 0;
  if (!(o->policies_off & LT_POL_AIGC) && share > o->aigc_target && o->aigc_target > 0) {
    double x = share / o->aigc_target - 1;
    apen = o->aigc_weight * (float)(x < 1 ? x : 1);
  }
  st_f(&p->aigc_penalty, apen);
  /* creators still in the window; the others are unlisted and undiscounted */
  uint32_t m = 0;
  for (uint32_t i = 0; i < p->nfair; i++) {
    lt__pol_creator_t *c = lt_cv_at(&p->creators, p->fair_list[i]);
    uint64_t e = creator_window(c, b_now);
    if (!e) {
      c->listed = 0;
      st_f(&c->penalty, 0);
      continue;
    }
    p->fair_list[m] = p->fair_list[i];
    p->fair_tmp[m++] = e;
  }
  p->nfair = m;
  ST(p->fair_creators, m);
  /* Gini over a sorted copy (lt_stats_gini sorts in place), kept in the
   * upper half of fair_tmp */
  uint64_t none = 0, *sorted = p->fair_tmp ? p->fair_tmp + p->fair_cap : &none;
  if (m) {
    memcpy(sorted, p->fair_tmp, m * sizeof *sorted);
    qsort(sorted, m, sizeof *sorted, u64_cmp);
  }
  double g = lt_stats_gini(sorted, m);
  st_f(&p->gini, (float)g);
  float s = 0;
  if (!(o->policies_off & LT_POL_FAIRNESS) && g > o->fair_target && m >= 2) {
    s = (float)((g - o->fair_target) / 0.1);
    if (s > 1) s = 1;
  }
  st_f(&p->strength, s);
  uint32_t disc = 0;
  double q = m ? (double)sorted[(size_t)floor(o->fair_quantile * (m - 1))] : 0;
  for (uint32_t i = 0; i < m; i++) {
    lt__pol_creator_t *c = lt_cv_at(&p->creators, p->fair_list[i]);
    float pen = 0;
    if (s > 0 && q > 0 && (double)p->fair_tmp[i] > q) {
      pen = o->fair_weight * s * (float)log2((double)p->fair_tmp[i] / q);
      disc++;
    }
    st_f(&c->penalty, pen);
  }
  ST(p->fair_discounted, disc);
}

/* Counts one impression of creator c (aigc or not) at ts in the windows. */
static void window_add(lt_feed_t *f, uint32_t creator, int aigc, int64_t ts) {
  lt__pol_t *p = &f->pol;
  int64_t b = ts / p->bucket_ms;
  if (b < 0) b = 0;
  int changed = 0;
  if (!p->last_b1 || b > p->last_b1 - 1) {
    int64_t from = p->last_b1 ? p->last_b1 : b; /* first bucket to clear */
    if (b - from >= LT__FAIR_BUCKETS) from = b - LT__FAIR_BUCKETS + 1;
    for (int64_t k = from; k <= b; k++) {
      p->win_all[k % LT__FAIR_BUCKETS] = 0;
      p->win_aigc[k % LT__FAIR_BUCKETS] = 0;
    }
    changed = p->last_b1 != 0;
    p->last_b1 = b + 1;
  } else if (b <= p->last_b1 - 1 - LT__FAIR_BUCKETS) {
    return; /* older than the window */
  }
  p->win_all[b % LT__FAIR_BUCKETS]++;
  p->win_aigc[b % LT__FAIR_BUCKETS] += aigc != 0;
  lt__pol_creator_t *c = creator_at(p, creator);
  if (c) {
    if (!c->last_b1 || b > c->last_b1 - 1) {
      int64_t from = c->last_b1 ? c->last_b1 : b;
      if (b - from >= LT__FAIR_BUCKETS) from = b - LT__FAIR_BUCKETS + 1;
      for (int64_t k = from; k <= b; k++)
        c->cnt[k % LT__FAIR_BUCKETS] = 0;
      c->last_b1 = b + 1;
    }
    if (b > c->last_b1 - 1 - LT__FAIR_BUCKETS) c->cnt[b % LT__FAIR_BUCKETS]++;
    if (!c->listed) {
      if (p->nfair == p->fair_cap) {
        uint32_t cap = p->fair_cap ? p->fair_cap * 2 : 1024;
        uint32_t *l = realloc(p->fair_list, cap * sizeof *l);
        if (l) p->fair_list = l;
        uint64_t *t = realloc(p->fair_tmp, 2 * (size_t)cap * sizeof *t);
        if (t) p->fair_tmp = t;
        if (l && t) p->fair_cap = cap;
      }
      if (p->nfair < p->fair_cap) {
        p->fair_list[p->nfair++] = creator;
        c->listed = 1;
      }
    }
  }
  if (changed || ++p->since_update >= LT__FAIR_EVERY) fair_update(f);
}

/* ---- users ------------------------------------------------------------------- */

static void seen_push(lt_feed_t *f, uint32_t user, uint32_t item, int64_t ts) {
  lt__pol_t *p = &f->pol;
  lt__pol_user_t *u = user_at(p, user);
  if (!u) return;
  pthread_mutex_lock(user_lock(p, user));
  if (u->slen == u->scap && u->scap < f->o.seen_cap) {
    uint32_t cap = u->scap ? u->scap * 2 : 16;
    if (cap > f->o.seen_cap) cap = f->o.seen_cap;
    uint32_t *s = malloc(2 * (size_t)cap * sizeof *s);
    if (s) {
      for (uint32_t i = 0; i < u->slen; i++) {
        uint32_t j = (u->shead + i) % u->scap;
        s[2 * i] = u->seen[2 * j];
        s[2 * i + 1] = u->seen[2 * j + 1];
      }
      free(u->seen);
      u->seen = s;
      u->scap = cap;
      u->shead = 0;
    }
  }
  if (u->scap) {
    uint32_t j;
    if (u->slen == u->scap) { /* full: the oldest goes */
      j = u->shead;
      u->shead = (u->shead + 1) % u->scap;
    } else {
      j = (u->shead + u->slen++) % u->scap;
    }
    u->seen[2 * j] = item;
    u->seen[2 * j + 1] = ts_s(ts);
  }
  pthread_mutex_unlock(user_lock(p, user));
}

static void neg_push(lt_feed_t *f, uint32_t user, uint32_t item, const lt__pol_item_t *pi,
                     int64_t ts) {
  lt__pol_t *p = &f->pol;
  lt__pol_user_t *u = user_at(p, user);
  if (!u) return;
  lt__neg_t e = {item, pi->creator, ts_s(ts), 0, {0, 0}};
  const lt_item_meta_t *m = lt_state_item(f->st, item);
  if (m)
    for (uint32_t t = 0; t < m->ntags && e.ntags < 2; t++)
      e.tags[e.ntags++] = m->tags[t];
  pthread_mutex_lock(user_lock(p, user));
  u->neg[u->nneg % LT__NEG_N] = e;
  u->nneg++;
  pthread_mutex_unlock(user_lock(p, user));
}

/* ---- observing ------------------------------------------------------------------ */

static void item_put(lt_feed_t *f, const lt_item_rec_t *r) {
  lt__pol_t *p = &f->pol;
  uint32_t item, creator = LT_NONE;
  if (lt_state_find(f->st, LT_NS_ITEM, r->id.p, r->id.n, &item)) return;
  lt__pol_item_t *pi = item_at(p, item);
  if (!pi) return;
  lt_state_find(f->st, LT_NS_CREATOR, r->creator.p, r->creator.n, &creator);
  creator_at(p, creator);
  int first = !pi->known;
  pi->creator = creator;
  pi->kind = r->kind;
  pi->aigc = r->aigc;
  if (r->duration_ms) pi->duration_ms = r->duration_ms;
  if (r->published_at_ms)
    pi->published_ms = r->published_at_ms;
  else if (first)
    pi->published_ms = r->ts_ms;
  pi->known = 1;
  int64_t put = r->ts_ms ? r->ts_ms : pi->published_ms;
  if (first && !pi->had_events && pi->status == LT_POOL_NONE && r->kind != LT_KIND_LIVE &&
      pi->published_ms && put - pi->published_ms <= f->o.pool_max_age_ms)
    pool_enter(f, pi, item, put > pi->published_ms ? put : pi->published_ms);
}

static void item_del(lt_feed_t *f, const lt_item_del_rec_t *r) {
  lt__pol_t *p = &f->pol;
  uint32_t item;
  if (lt_state_find(f->st, LT_NS_ITEM, r->id.p, r->id.n, &item) || item >= lt_cv_len(&p->items))
    return;
  lt__pol_item_t *pi = lt_cv_at(&p->items, item);
  if (pi->status == LT_POOL_IN || pi->status == LT_POOL_JUDGING) {
    pool_leave(p, pi, LT_POOL_EXPIRED);
    CNT(p->expired);
  }
}

/* Duration-debiased completion credit of a finished play (see the note). */
static float completion_credit(lt__pol_t *p, uint32_t duration_ms) {
  uint32_t b = lt_ranker_duration_bucket(duration_ms);
  double c = (p->all_done + 1.0) / (p->all_plays + 2.0);
  double cb = (p->dur_done[b] + 10.0 * c) / (p->dur_plays[b] + 10.0);
  double x = c / cb;
  return (float)(x < 4 ? x : 4);
}

static void event(lt_feed_t *f, const lt_event_t *e) {
  lt__pol_t *p = &f->pol;
  uint32_t user, item;
  if (lt_state_event_ids(f->st, e, &user, &item)) return;
  lt__pol_item_t *pi = item_at(p, item);
  if (!pi) return;
  if (!pi->known) {
    item_know(f, pi, item);
    creator_at(p, pi->creator);
  }
  pi->had_events = 1;
  if (e->duration_ms && !pi->duration_ms) pi->duration_ms = e->duration_ms;
  if (e->ts_ms > p->clock_ms) {
    p->clock_ms = e->ts_ms;
    judge_due(f);
    int64_t b = e->ts_ms / p->bucket_ms;
    if (b != p->sweep_b) { /* a new window bucket: age the pools out */
      p->sweep_b = b;
      pool_sweep(f);
    }
  }
  const lt_feed_opts_t *o = &f->o;
  int in = pi->status == LT_POOL_IN || pi->status == LT_POOL_JUDGING;
  switch (e->type) {
  case LT_EV_IMPRESSION:
    if (pi->kind != LT_KIND_LIVE && !(o->policies_off & LT_POL_SEEN))
      seen_push(f, user, item, e->ts_ms);
    window_add(f, pi->creator, pi->aigc, e->ts_ms);
    if (pi->status != LT_POOL_IN) break;
    if (too_old(f, pi, e->ts_ms)) {
      pool_leave(p, pi, LT_POOL_EXPIRED);
      CNT(p->expired);
      break;
    }
    __atomic_store_n(&pi->impr, pi->impr + 1, __ATOMIC_RELAXED);
    if (pi->impr >= lt__pol_quota(f, pi->stage)) {
      if (p->jlen == LT__POOL_ACTIVE) { /* (only if items expired while queued) */
        p->jlen--;
        judge(f, p->judge[p->jhead].item);
        p->jhead = (p->jhead + 1) % LT__POOL_ACTIVE;
      }
      set_status(pi, LT_POOL_JUDGING);
      uint32_t at = (p->jhead + p->jlen) % LT__POOL_ACTIVE;
      p->judge[at].item = item;
      p->judge[at].due_ms = e->ts_ms + o->pool_judge_ms;
      p->jlen++;
      judge_due(f);
    }
    break;
  case LT_EV_PLAY:
    if (pi->duration_ms && pi->kind != LT_KIND_LIVE) {
      int done =
          (double)e->watch_ms >= (double)lt_ranker_opts(f->ranker)->finish_ratio * pi->duration_ms;
      if (in && done) add_eng(pi, o->w_finish * completion_credit(p, pi->duration_ms));
      uint32_t b = lt_ranker_duration_bucket(pi->duration_ms);
      p->dur_plays[b]++;
      p->dur_done[b] += done;
      p->all_plays++;
      p->all_done += done;
    }
    break;
  case LT_EV_LIKE:
    if (in) add_eng(pi, o->w_like);
    break;
  case LT_EV_FOLLOW:
    if (in) add_eng(pi, o->w_follow);
    break;
  case LT_EV_SHARE:
    if (in) add_eng(pi, o->w_share);
    break;
  case LT_EV_NOT_INTERESTED:
    if (in) add_eng(pi, -o->w_finish);
    neg_push(f, user, item, pi, e->ts_ms);
    break;
  default:
    break;
  }
}

void lt__pol_prefetch(lt_feed_t *f, const lt_record_t *r, int step) {
  const lt__pol_t *p = &f->pol;
  const lt_event_t *e = &r->u.ev;
  if (r->kind != LT_REC_EVENT || !e->ids_set) return;
  if (step == 0 && e->item_id < lt_cv_len(&p->items))
    __builtin_prefetch(lt_cv_at(&p->items, e->item_id));
  if (e->type != LT_EV_IMPRESSION || e->user_id >= lt_cv_len(&p->users)) return;
  const lt__pol_user_t *u = lt_cv_at(&p->users, e->user_id);
  if (step == 0) __builtin_prefetch(u);
  else if (u->scap) __builtin_prefetch(&u->seen[2 * ((u->shead + u->slen) % u->scap)]);
}

void lt__pol_observe(lt_feed_t *f, const lt_record_t *r) {
  switch (r->kind) {
  case LT_REC_ITEM_PUT:
    item_put(f, &r->u.item);
    break;
  case LT_REC_ITEM_DEL:
    item_del(f, &r->u.del);
    break;
  case LT_REC_EVENT:
    event(f, &r->u.ev);
    break;
  default:
    break;
  }
}

/* ---- public: replay, pool info, figures --------------------------------------------- */

void lt_feed_replay(void *ctx, const lt_record_t *recs, size_t n) {
  for (size_t i = 0; i < n; i++)
    lt__pol_observe(ctx, &recs[i]);
}

int lt_feed_item_pool(lt_feed_t *f, uint32_t item, lt_feed_pool_info_t *out) {
  if (!f || !out) return LT_EINVAL;
  if (item >= lt_state_count(f->st, LT_NS_ITEM)) return LT_ENOTFOUND;
  memset(out, 0, sizeof *out);
  out->stage = -1;
  out->reached = -1;
  out->threshold = -1;
  const lt__pol_item_t *pi = lt__pol_item(f, item);
  int status = pi ? __atomic_load_n(&pi->status, __ATOMIC_RELAXED) : LT_POOL_NONE;
  out->status = status;
  out->status_name = status_names[status];
  if (status == LT_POOL_NONE) return LT_OK;
  int stage = __atomic_load_n(&pi->stage, __ATOMIC_RELAXED);
  out->reached = __atomic_load_n(&pi->reached, __ATOMIC_RELAXED);
  if (status == LT_POOL_IN || status == LT_POOL_JUDGING) out->stage = stage;
  out->impressions = __atomic_load_n(&pi->impr, __ATOMIC_RELAXED);
  out->quota = lt__pol_quota(f, stage);
  float eng = ld_f(&pi->eng);
  out->engagement = out->impressions ? eng / out->impressions : 0;
  out->score = ld_f(&pi->score);
  out->threshold = ld_f(&pi->threshold);
  out->entered_ms = __atomic_load_n(&pi->entered_ms, __ATOMIC_RELAXED);
  return LT_OK;
}

int lt_feed_stats_pool(void *feed, uint32_t item, lt_stats_pool_view_t *out) {
  lt_feed_pool_info_t pi;
  int rc = lt_feed_item_pool(feed, item, &pi);
  if (rc) return rc;
  static const int to_stats[] = {
      [LT_POOL_NONE] = LT_STATS_POOL_NEVER,          [LT_POOL_IN] = LT_STATS_POOL_IN,
      [LT_POOL_JUDGING] = LT_STATS_POOL_JUDGING,     [LT_POOL_ORGANIC] = LT_STATS_POOL_ORGANIC,
      [LT_POOL_GRADUATED] = LT_STATS_POOL_GRADUATED, [LT_POOL_EXPIRED] = LT_STATS_POOL_EXPIRED};
  out->status = to_stats[pi.status];
  out->reached = pi.reached;
  return LT_OK;
}

void lt_feed_policy_stats(lt_feed_t *f, lt_feed_policy_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!f) return;
  lt__pol_t *p = &f->pol;
  out->gini = ld_f(&p->gini);
  out->fair_strength = ld_f(&p->strength);
  out->fair_creators = __atomic_load_n(&p->fair_creators, __ATOMIC_RELAXED);
  out->fair_discounted = __atomic_load_n(&p->fair_discounted, __ATOMIC_RELAXED);
  out->aigc_share = ld_f(&p->aigc_share);
  out->aigc_penalty = ld_f(&p->aigc_penalty);
  out->window_impressions = __atomic_load_n(&p->window_impressions, __ATOMIC_RELAXED);
  for (int k = 0; k < LT_FEED_MAX_POOLS; k++) {
    out->in_pool[k] = __atomic_load_n(&p->in_pool[k], __ATOMIC_RELAXED);
    out->promoted[k] = __atomic_load_n(&p->promoted[k], __ATOMIC_RELAXED);
  }
  out->entered = __atomic_load_n(&p->entered, __ATOMIC_RELAXED);
  out->left = __atomic_load_n(&p->left, __ATOMIC_RELAXED);
  out->graduated = __atomic_load_n(&p->graduated, __ATOMIC_RELAXED);
  out->expired = __atomic_load_n(&p->expired, __ATOMIC_RELAXED);
  out->explore_served = lt__load(&p->explore_served);
  out->seen_filtered = lt__load(&p->seen_filtered);
  out->aigc_capped = lt__load(&p->aigc_capped);
  out->neg_discounted = lt__load(&p->neg_discounted);
  out->fair_applied = lt__load(&p->fair_applied);
}

void lt__pol_metrics(const lt_feed_t *cf, FILE *out) {
  lt_feed_policy_stats_t s;
  lt_feed_policy_stats((lt_feed_t *)cf, &s);
  fprintf(out, "# HELP laotie_policy_creator_gini Gini coefficient of impressions across "
               "creators over the fairness window.\n");
  fprintf(out, "# TYPE laotie_policy_creator_gini gauge\nlaotie_policy_creator_gini %.4f\n",
          s.gini);
  fprintf(out,
          "# TYPE laotie_policy_fairness_strength gauge\nlaotie_policy_fairness_strength %.4f\n",
          s.fair_strength);
  fprintf(out,
          "# TYPE laotie_policy_fairness_discounted_creators gauge\n"
          "laotie_policy_fairness_discounted_creators %u\n",
          s.fair_discounted);
  fprintf(out, "# HELP laotie_policy_aigc_share AIGC share of impressions over the window.\n");
  fprintf(out, "# TYPE laotie_policy_aigc_share gauge\nlaotie_policy_aigc_share %.4f\n",
          s.aigc_share);
  fprintf(out, "# TYPE laotie_policy_aigc_penalty gauge\nlaotie_policy_aigc_penalty %.4f\n",
          s.aigc_penalty);
  fprintf(out, "# HELP laotie_pool_items Items serving each traffic pool now.\n");
  fprintf(out, "# TYPE laotie_pool_items gauge\n");
  for (uint32_t k = 0; k < cf->o.pool_levels; k++)
    fprintf(out, "laotie_pool_items{pool=\"%u\"} %u\n", k, s.in_pool[k]);
  fprintf(out, "# TYPE laotie_pool_entered_total counter\nlaotie_pool_entered_total %" PRIu64 "\n",
          s.entered);
  fprintf(out, "# TYPE laotie_pool_promoted_total counter\n");
  for (uint32_t k = 1; k < cf->o.pool_levels; k++)
    fprintf(out, "laotie_pool_promoted_total{to=\"%u\"} %" PRIu64 "\n", k, s.promoted[k]);
  fprintf(out,
          "# TYPE laotie_pool_left_total counter\nlaotie_pool_left_total{why=\"organic\"} %" PRIu64
          "\nlaotie_pool_left_total{why=\"graduated\"} %" PRIu64
          "\nlaotie_pool_left_total{why=\"expired\"} %" PRIu64 "\n",
          s.left, s.graduated, s.expired);
  fprintf(out, "# HELP laotie_policy_actions_total What the policies did to served items.\n");
  fprintf(out, "# TYPE laotie_policy_actions_total counter\n");
  fprintf(out, "laotie_policy_actions_total{action=\"explore_slot\"} %" PRIu64 "\n",
          s.explore_served);
  fprintf(out, "laotie_policy_actions_total{action=\"seen_filtered\"} %" PRIu64 "\n",
          s.seen_filtered);
  fprintf(out, "laotie_policy_actions_total{action=\"aigc_capped\"} %" PRIu64 "\n", s.aigc_capped);
  fprintf(out, "laotie_policy_actions_total{action=\"negative_discount\"} %" PRIu64 "\n",
          s.neg_discounted);
  fprintf(out, "laotie_policy_actions_total{action=\"fairness_discount\"} %" PRIu64 "\n",
          s.fair_applied);
}
