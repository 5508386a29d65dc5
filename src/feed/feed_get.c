/*
 * feed_get.c — the request path: one ranked feed (lt_feed_get) and similar
 * items (lt_feed_similar).
 *
 * What it is for: turning (user, n, now) into n items with a source and a
 * reason each, in well under 2 ms, while the writer keeps applying events
 * and a trainer may publish a new snapshot at any moment.
 *
 * A request, in order:
 *   1. take a reference to the published snapshot (feed.c);
 *   2. copy the user's history and follows out of the state, and mark every
 *      history item as seen (watched, liked, not interested, ...); then
 *      the items the user was shown within seen_window_ms (policy.c keeps
 *      them; live rooms are not kept: they return while live) and the
 *      items of the user's live not_interested entries; build the user's
 *      tag profile (ranker features, exploration match);
 *   3. candidate sources, each adding at most its quota of new items, in
 *      this order (the first source to add an item is its source):
 *        following  the newest items of followed creators: live rooms inside
 *                   their live window first, then items of the last 30 days
 *                   by age;
 *        itemcf     co-watch neighbours (cowatch_list: the snapshot's flat
 *                   table combined with the co-watches counted since its
 *                   training, model/cowatch.h; at most 20 each) of the 15
 *                   newest positively watched distinct history items;
 *                   evidence sim x exp(-r / tau) (r = 0 for the newest)
 *                   summed per candidate, the largest single contribution
 *                   naming the "because you watched" item;
 *        ann        the HNSW neighbours (a tenth of the budget) of the user
 *                   vector: the trained
 *                   vector when the user's event count is unchanged since
 *                   training, else folded in from the newest 256 history
 *                   entries (lt_ials_fold_in), so a new user's first plays
 *                   count at once; for a trained vector the search was done
 *                   at training (the snapshot's user_ann lists, models.h)
 *                   and the request only filters its results, searching
 *                   itself when too few pass;
 *        explore    exploration candidates: items serving a traffic pool
 *                   (a window of the pools' active list; with pools off,
 *                   those with few impressions) and new items with few
 *                   impressions (the snapshot's fresh list and the ring of
 *                   items put since) that no pool has judged, best tag
 *                   match with the user first, then most of their quota to
 *                   serve, then newest; listed in xorder (source "fresh"
 *                   unless an earlier source found them);
 *        trending   the snapshot's popularity list and recently engaged
 *                   items (ring), by popularity; fills what is left of the
 *                   candidate budget. Popularity is read at t_pop = min(now,
 *                   newest event in the state): all items decay alike after the
 *                   last event, so the order is that of now, and a replayed
 *                   data set far in the past does not underflow to 0;
 *      a user with neither history nor follows gets fresh + trending
 *      (cold start). The sizes are a measured trade: 15 x 20 co-watch
 *      neighbours and a tenth of the budget from the ANN (were 30 x 40 and
 *      two fifths) gave the same quality — ML-100K pipeline Recall@20
 *      0.2621 -> 0.2671, the simulator 3.20 min/user either way (7 days,
 *      1,000 users, 4 seeds, 500 candidates) — for a quarter less CPU per feed
 *      request on a 10M-event store (commit message has the figures);
 *   4. score: three retrieval signals — iALS dot product (every candidate
 *      when there is a user vector), co-watch evidence, log popularity —
 *      each standardised over the candidates, blended with w_ials,
 *      w_cowatch, w_pop, plus b_following x (1 + recency) for followed
 *      creators' items (live rooms get the most); then, once the online
 *      ranker has learned from rank_warmup impressions (linearly before),
 *      the fused head probabilities sum_h w_h p_h / sum_h w_h
 *      (standardised too) weighted by w_rank. The position feature is left
 *      "unknown" for every candidate (its weight is the same for all, so
 *      the position bias learned from impressions does not leak into the
 *      order). An untrained ranker leaves the learned retrieval order
 *      intact. Then the re-ranking policies (policy_adjust): + pool_boost
 *      x k for an item serving pool k >= 1, - the creator's fairness
 *      discount, - the AIGC discount, - the not_interested discount;
 *   5. order by score and pick greedily under the page rules: at most
 *      max_per_creator per page and never two in a row from one creator
 *      (items without a creator are each their own), at most
 *      floor(aigc_page_cap x n) AIGC items; the page may come out shorter
 *      than n rather than break a rule. The middle slot of every
 *      fresh_every (4, 12, 20, ... with the default 8) is an exploration
 *      slot: it draws among the first explore_k exploration candidates
 *      that satisfy the rules (not followed creators' items: they have
 *      their own bonus) — uniformly (egreedy) or by Thompson sampling —
 *      and records the draw's probability as the entry's propensity and
 *      16 K + rank + 1 as its exploration code; every other slot is the
 *      greedy choice (propensity 1). The draws use a stream seeded by
 *      (seed, user, now): a request is reproducible;
 *   6. fill the response (request id, reasons with the policies' notes,
 *      the policy flags of each entry: exploration, pool stage, AIGC,
 *      live);
 *   7. with an ads engine (lt_feed_set_ads), the ad auctions of the page
 *      (lt_ads_fill over the final organic entries and their scores): each
 *      ad takes its slot, the organic entries after it shift down one, the
 *      page keeps its length (ads_merge); then record the served source,
 *      propensity and code of every entry for attribution, count metrics,
 *      drop the snapshot reference.
 *
 * Memory: each thread keeps one scratch (history, candidate table, an
 * epoch-stamped open-addressing set of seen items / candidate indices),
 * grown on demand and freed at thread exit; a request allocates nothing
 * else but what fold-in and the ANN search allocate inside the model code.
 *
 * Invariants of a response:
 *  1. no item of the user's copied history, none shown to the user within
 *     the seen window (live rooms excepted), no deleted item, no
 *     duplicate, no live room outside its live window, no item published
 *     after now;
 *  2. the page rules of step 5;
 *  3. each entry's source is the one that retrieved it and its reason says
 *     so; an entry has the exploration code and a propensity < 1 only in an
 *     exploration slot;
 *  4. ads (source ad, ad = 1) sit only at the ads engine's slot positions
 *     (never two adjacent: ads.h), carry their campaign, and the organic
 *     entries keep their relative order.
 */
#include "feed/feed_int.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_MAX 256    /* history entries folded in */
#define CF_SEEDS 15     /* history items whose neighbours are read */
#define CF_NB 20        /* neighbours read per seed (at most cf_topk exist) */
#define FOLLOW_MAX 256  /* followed creators read */
#define FOLLOW_ITEMS 12 /* newest items read per followed creator */
#define FOLLOW_AGE_MS (30LL * 24 * 3600 * 1000)
#define SEEN_BIT 0x80000000u
#define NO_CAND 0x7fffffffu
#define COLLECTED 0x7ffffffeu /* looked at by the exploration source, not a candidate */
#define POOL_SCAN 512         /* pool items looked at per request (a random window) */
#define PROFILE_SLOTS 64      /* open-addressing set of the profile's tags (power of 2, > 32) */

typedef struct cand {
  uint32_t item, creator;
  uint32_t because; /* itemcf: the history item named in the reason */
  uint8_t source, live, taken;
  uint8_t aigc, explore; /* explore: 1 = an exploration candidate (in s->xorder),
                            2 = looked at by the exploration source */
  uint16_t flags;        /* LT_FEED_F_FAIR / LT_FEED_F_NEGATIVE from re-ranking */
  float best;            /* itemcf: the largest single contribution */
  float src;             /* the source's own score (follow / fresh ordering) */
  float ials, cf, pop;   /* retrieval signals (pop: trending's popularity until
                            score() takes its log) */
  float score;
} cand_t;

typedef struct scratch {
  lt_hist_t *hist;
  size_t hcap;
  lt_models_pair_t *pairs;
  uint32_t *fold_items;
  float *fold_w;
  cand_t *cand;
  uint32_t ccap;
  /* open-addressing set: slot in use iff stamp == epoch (one struct per
   * slot: a probe touches one cache line, not three) */
  struct slot {
    uint32_t stamp, key, val;
  } *set;
  uint32_t scap, epoch, used;
  uint32_t *order; /* candidates by score, best first: the sorted prefix */
  uint64_t *heap;  /* the rest, a max-heap of rank keys (order_at) */
  uint32_t *xorder; /* exploration candidates, best match first */
  uint32_t *ids;
  float *scores;
  uint32_t idcap;
  uint32_t *seen; /* the user's recent impressions (policy.c) */
  uint32_t seencap;
  float x[LT_IALS_MAX_K];
} scratch_t;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;
static __thread scratch_t *t_scratch;

static void scratch_free(void *p) {
  scratch_t *s = p;
  if (!s) return;
  free(s->hist);
  free(s->pairs);
  free(s->fold_items);
  free(s->fold_w);
  free(s->cand);
  free(s->set);
  free(s->order);
  free(s->heap);
  free(s->xorder);
  free(s->ids);
  free(s->scores);
  free(s->seen);
  free(s);
}

static void key_init(void) { g_key_ok = pthread_key_create(&g_key, scratch_free) == 0; }

static scratch_t *scratch_get(void) {
  scratch_t *s = t_scratch;
  if (s) return s;
  pthread_once(&g_once, key_init);
  if (!(s = calloc(1, sizeof *s))) return NULL;
  if (g_key_ok) pthread_setspecific(g_key, s);
  t_scratch = s;
  return s;
}

/* Makes room for nh history entries, nc candidates, nseen seen entries and
 * a set of at least 2 * nset slots; starts a new set epoch. */
static int scratch_prepare(scratch_t *s, size_t nh, uint32_t nc, uint32_t nseen, size_t nset) {
  if (nseen > s->seencap) {
    uint32_t *p = malloc((size_t)nseen * sizeof *p);
    if (!p) return LT_ENOMEM;
    free(s->seen);
    s->seen = p;
    s->seencap = nseen;
  }
  if (nh > s->hcap) {
    size_t c = nh + nh / 2 + 64;
    lt_hist_t *h = malloc(c * sizeof *h);
    lt_models_pair_t *p = malloc(c * sizeof *p);
    if (!h || !p) {
      free(h);
      free(p);
      return LT_ENOMEM;
    }
    free(s->hist);
    free(s->pairs);
    s->hist = h;
    s->pairs = p;
    s->hcap = c;
  }
  if (!s->fold_items) {
    s->fold_items = malloc(FOLD_MAX * sizeof *s->fold_items);
    s->fold_w = malloc(FOLD_MAX * sizeof *s->fold_w);
    if (!s->fold_items || !s->fold_w) return LT_ENOMEM;
  }
  if (nc > s->ccap) {
    cand_t *c = malloc((size_t)nc * sizeof *c);
    uint32_t *o = malloc((size_t)nc * sizeof *o);
    uint64_t *hp = malloc((size_t)nc * sizeof *hp);
    uint32_t *xo = malloc((size_t)nc * sizeof *xo);
    if (!c || !o || !hp || !xo) {
      free(c);
      free(o);
      free(hp);
      free(xo);
      return LT_ENOMEM;
    }
    free(s->cand);
    free(s->order);
    free(s->heap);
    free(s->xorder);
    s->cand = c;
    s->order = o;
    s->heap = hp;
    s->xorder = xo;
    s->ccap = nc;
  }
  if (nc > s->idcap) {
    uint32_t *i = malloc((size_t)nc * sizeof *i);
    float *f = malloc((size_t)nc * sizeof *f);
    if (!i || !f) {
      free(i);
      free(f);
      return LT_ENOMEM;
    }
    free(s->ids);
    free(s->scores);
    s->ids = i;
    s->scores = f;
    s->idcap = nc;
  }
  size_t want = 2 * nset + 64;
  if (want > s->scap) {
    uint32_t c = 1024;
    while (c < want)
      c <<= 1;
    struct slot *set = calloc(c, sizeof *set);
    if (!set) return LT_ENOMEM;
    free(s->set);
    s->set = set;
    s->scap = c;
    s->epoch = 0;
  }
  if (++s->epoch == 0) { /* wrapped: old stamps could look current */
    memset(s->set, 0, (size_t)s->scap * sizeof *s->set);
    s->epoch = 1;
  }
  s->used = 0;
  return LT_OK;
}

/* The set slot of item: its value pointer, inserting (value NO_CAND) when
 * insert is set; NULL when absent and not inserting, or when the set is
 * 3/4 full (sized so that it does not happen; callers treat it as "skip"). */
static uint32_t *set_slot(scratch_t *s, uint32_t item, int insert) {
  uint32_t mask = s->scap - 1;
  for (uint32_t i = (uint32_t)lt_mix64(item) & mask;; i = (i + 1) & mask) {
    struct slot *e = &s->set[i];
    if (e->stamp != s->epoch) {
      if (!insert || s->used >= s->scap / 4 * 3) return NULL;
      s->used++;
      *e = (struct slot){s->epoch, item, NO_CAND};
      return &e->val;
    }
    if (e->key == item) return &e->val;
  }
}

/* ---- a request's working state ---------------------------------------------- */

typedef struct req {
  lt_feed_t *f;
  lt_state_t *st;
  const lt_models_t *m;
  scratch_t *s;
  int64_t now;
  int64_t t_pop; /* popularity is read at min(now, newest event): see lt_feed_get */
  uint32_t ncand, budget;
  const float *x;           /* user vector or NULL */
  uint32_t trained;         /* the user when x is the trained vector, else LT_NONE */
  uint32_t nx;              /* exploration candidates in s->xorder */
  uint64_t rng;             /* the request's random stream (rng_next) */
  lt_ranker_user_t ru;      /* the user's tag profile (ranker features, exploration match) */
  uint32_t ptag[PROFILE_SLOTS], pcnt[PROFILE_SLOTS]; /* ru as a hash set: tag + 1 -> count */
  lt__neg_t neg[LT__NEG_N]; /* the user's live not_interested entries */
  uint32_t nneg;
  uint32_t nsorted, nheap; /* s->order[0..nsorted) sorted, s->heap[0..nheap) not yet */
} req_t;

/* The request's pseudo-random stream: seeded by (seed, user, now), so a
 * request is reproducible and two requests at different times differ. */
static uint64_t rng_next(req_t *q) {
  q->rng += 0x9e3779b97f4a7c15ULL;
  return lt_mix64(q->rng);
}

static double rng_unit(req_t *q) { return (double)(rng_next(q) >> 11) * 0x1.0p-53; }

/* a - b, saturated (catalog times are not range-checked by the record
 * layer: a hostile published_at must not overflow) */
static int64_t sat_sub(int64_t a, int64_t b) {
  int64_t d;
  if (__builtin_sub_overflow(a, b, &d)) return a > b ? INT64_MAX : INT64_MIN;
  return d;
}

static int eligible(const lt_item_meta_t *m, int64_t now) {
  if (!m || m->deleted) return 0;
  if (m->kind == LT_KIND_LIVE)
    return m->live_start_ms && m->live_start_ms <= now && (!m->live_end_ms || now < m->live_end_ms);
  return m->published_at_ms <= now;
}

/* The candidate of item, adding it from source when it is new, eligible
 * and within the budget; NULL when it is seen, ineligible or no room. */
static cand_t *cand_add(req_t *q, uint32_t item, int source) {
  uint32_t *v = set_slot(q->s, item, 1);
  if (!v || (*v & SEEN_BIT)) return NULL;
  if (*v != NO_CAND && *v != COLLECTED) return &q->s->cand[*v];
  if (q->ncand >= q->budget) return NULL;
  const lt_item_meta_t *m = lt_state_item(q->st, item);
  if (!eligible(m, q->now)) {
    *v = SEEN_BIT; /* remember the verdict for this request */
    return NULL;
  }
  cand_t *c = &q->s->cand[q->ncand];
  memset(c, 0, sizeof *c);
  c->item = item;
  c->creator = m->creator;
  c->source = (uint8_t)source;
  c->live = m->kind == LT_KIND_LIVE;
  c->aigc = m->aigc != 0;
  c->because = LT_NONE;
  *v = q->ncand++;
  return c;
}

static int ann_filter(uint32_t item, void *ctx) {
  req_t *q = ctx;
  uint32_t *v = set_slot(q->s, item, 0);
  if (v && (*v & SEEN_BIT)) return 0;
  return eligible(lt_state_item(q->st, item), q->now);
}

/* ---- sources ----------------------------------------------------------------- */

static void src_following(req_t *q, const uint32_t *creators, size_t nc, uint32_t quota) {
  uint32_t items[FOLLOW_ITEMS], limit = q->ncand + quota;
  if (limit > q->budget) limit = q->budget;
  for (size_t i = 0; i < nc && q->ncand < limit; i++) {
    size_t total = lt_state_creator_items(q->st, creators[i], items, FOLLOW_ITEMS);
    size_t got = total < FOLLOW_ITEMS ? total : FOLLOW_ITEMS;
    for (size_t j = got; j-- > 0 && q->ncand < limit;) {
      const lt_item_meta_t *m = lt_state_item(q->st, items[j]);
      if (!m) continue;
      int live = m->kind == LT_KIND_LIVE;
      int64_t age = sat_sub(q->now, m->published_at_ms);
      if (!live && (!m->published_at_ms || age > FOLLOW_AGE_MS)) continue;
      cand_t *c = cand_add(q, items[j], LT_SRC_FOLLOWING);
      if (!c || c->source != LT_SRC_FOLLOWING) continue;
      /* live rooms first, then newest */
      c->src = live ? 2.0f : (float)exp(-(double)age / (3.0 * 24 * 3600 * 1000));
    }
  }
}

/* The one way the feed reads co-watch neighbours: the snapshot's list of
 * item combined with the counts since its training (model/cowatch.h; cv
 * may be NULL: the snapshot alone). Writes at most max, best first. */
static uint32_t cowatch_list(const lt_models_t *m, const lt_cowatch_view_t *cv, uint32_t item,
                             lt_itemcf_nb_t *out, uint32_t max) {
  const lt_itemcf_nb_t *base = NULL;
  uint32_t nbase = lt_models_cowatch(m, item, &base);
  size_t got = 0;
  if (lt_cowatch_neighbors(cv, item, base, nbase, out, max, &got)) return 0;
  return (uint32_t)got;
}

static void src_itemcf(req_t *q, const lt_hist_t *h, size_t nh, uint32_t quota) {
  if ((!q->m->cf_items && !q->f->cowatch) || !nh) return;
  uint32_t seeds[CF_SEEDS], ns = 0, limit = q->ncand + quota;
  if (limit > q->budget) limit = q->budget;
  for (size_t i = nh; i-- > 0 && ns < CF_SEEDS;) {
    const lt_hist_t *e = &h[i];
    if (e->type == LT_EV_NOT_INTERESTED || e->type == LT_EV_UNFOLLOW) continue;
    if (e->type == LT_EV_PLAY && e->weight_q && e->weight_q < 10) continue; /* a skip */
    uint32_t k = 0;
    while (k < ns && seeds[k] != e->item)
      k++;
    if (k < ns) continue;
    seeds[ns++] = e->item;
  }
  lt_cowatch_view_t *cv = lt_cowatch_acquire(q->f->cowatch);
  lt_itemcf_nb_t nb[CF_NB];
  for (uint32_t r = 0; r < ns; r++) {
    float rw = expf(-(float)r / q->f->o.recency_tau);
    uint32_t got = cowatch_list(q->m, cv, seeds[r], nb, CF_NB);
    for (uint32_t j = 0; j < got; j++) /* (the rows cand_add reads: misses, overlapped) */
      __builtin_prefetch(lt_state_item(q->st, nb[j].item));
    for (uint32_t j = 0; j < got; j++) {
      cand_t *c;
      if (q->ncand < limit) {
        c = cand_add(q, nb[j].item, LT_SRC_ITEMCF);
      } else { /* quota used: still add evidence to existing candidates */
        uint32_t *v = set_slot(q->s, nb[j].item, 0);
        c = v && !(*v & SEEN_BIT) && *v != NO_CAND && *v != COLLECTED ? &q->s->cand[*v] : NULL;
      }
      if (!c) continue;
      float e = rw * nb[j].sim;
      c->cf += e;
      if (e > c->best) {
        c->best = e;
        c->because = seeds[r];
      }
    }
  }
  lt_cowatch_release(cv);
}

/* The user vector into q->s->x (q->x set) when the snapshot has iALS. */
static void user_vector(req_t *q, uint32_t user, const lt_hist_t *h, size_t nh) {
  const lt_models_t *m = q->m;
  if (!m->ials || user == LT_NONE) return;
  uint32_t k = m->ials->k;
  lt_user_info_t info;
  if (user < m->nusers && m->user_events && lt_state_user_info(q->st, user, &info) == LT_OK &&
      info.events == m->user_events[user]) {
    memcpy(q->s->x, m->ials->U + (size_t)user * k, k * sizeof(float));
    q->x = q->s->x;
    q->trained = user;
    return;
  }
  if (!nh) return;
  size_t from = nh > FOLD_MAX ? nh - FOLD_MAX : 0;
  size_t np = lt_models_user_row(q->st, h + from, nh - from, q->s->pairs);
  if (!np) return;
  for (size_t i = 0; i < np; i++) {
    q->s->fold_items[i] = q->s->pairs[i].item;
    q->s->fold_w[i] = q->s->pairs[i].w;
  }
  if (lt_ials_fold_in(m->ials, q->s->fold_items, q->s->fold_w, np, q->s->x) == LT_OK)
    q->x = q->s->x;
}

static void src_ann(req_t *q, uint32_t quota) {
  if (!q->x || !q->m->ann || !quota) return;
  if (quota > q->budget - q->ncand) quota = q->budget - q->ncand;
  if (!quota) return;
  uint32_t got = 0;
  const lt_models_t *m = q->m;
  if (q->trained != LT_NONE && m->user_ann_n) {
    /* the search for this vector was done at training (models.h): its
     * results through this request's filter, unless too few pass */
    const uint32_t *l = m->user_ann + (size_t)q->trained * m->user_ann_n;
    uint32_t len = 0;
    while (len < m->user_ann_n && l[len] != LT_NONE)
      len++;
    for (uint32_t i = 0; i < len; i++)
      __builtin_prefetch(lt_state_item(q->st, l[i]));
    for (uint32_t i = 0; i < len && got < quota; i++)
      if (ann_filter(l[i], q)) q->s->ids[got++] = l[i];
    if (got < quota && len == m->user_ann_n) got = 0; /* the list ran out: search */
    if (got) lt__count(&q->f->ann_listed, 1);
  }
  if (!got) {
    uint32_t ef = quota < 64 ? 64 : quota;
    lt__count(&q->f->ann_searched, 1);
    if (lt_ann_search(m->ann, q->x, quota, ef, ann_filter, q, q->s->ids, q->s->scores, &got))
      return;
  }
  for (uint32_t i = 0; i < got; i++)
    cand_add(q, q->s->ids[i], LT_SRC_ANN);
}

/* A (score, item) pair as one integer ordered like "higher score, then lower
 * item id" (a total order: a request is reproducible): the float's bits
 * made monotone in the high half (-0 taken as +0), the item id inverted in
 * the low half. Heaps of them compare integers. */
static uint64_t rank_key(float score, uint32_t item) {
  if (score == 0) score = 0.0f;
  uint32_t b;
  memcpy(&b, &score, sizeof b);
  b = (b & 0x80000000u) ? ~b : b | 0x80000000u;
  return (uint64_t)b << 32 | (uint32_t)~item;
}

static float key_score(uint64_t k) {
  uint32_t b = (uint32_t)(k >> 32);
  b = (b & 0x80000000u) ? b & 0x7fffffffu : ~b;
  float s;
  memcpy(&s, &b, sizeof s);
  return s;
}

static uint32_t key_item(uint64_t k) { return ~(uint32_t)k; }

static int key_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x > y ? -1 : x < y;
}

/* Restores the heap property below h[i] of h[0..n): a max-heap, or with
 * min set a min-heap. */
static void key_down(uint64_t *h, uint32_t n, uint32_t i, int min) {
  uint64_t flip = min ? UINT64_MAX : 0; /* a min-heap is a max-heap of ~key */
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, b = i;
    if (l < n && (h[l] ^ flip) > (h[b] ^ flip)) b = l;
    if (r < n && (h[r] ^ flip) > (h[b] ^ flip)) b = r;
    if (b == i) return;
    uint64_t t = h[i];
    h[i] = h[b];
    h[b] = t;
    i = b;
  }
}

static void key_heapify(uint64_t *h, uint32_t n, int min) {
  for (uint32_t i = n / 2; i-- > 0;)
    key_down(h, n, i, min);
}

/* Keeps the best `cap` of a stream in heap[0..*len) (a min-heap of rank
 * keys: the root is the worst kept). */
static void topk_push(uint64_t *heap, uint32_t *len, uint32_t cap, uint64_t x) {
  uint32_t n = *len;
  if (n == cap) {
    if (!cap || x <= heap[0]) return; /* not better than the worst kept */
    heap[0] = x;
    key_down(heap, n, 0, 1);
    return;
  }
  uint32_t j = (*len)++;
  heap[j] = x;
  while (j && heap[j] < heap[(j - 1) / 2]) {
    uint64_t t = heap[j];
    heap[j] = heap[(j - 1) / 2];
    heap[(j - 1) / 2] = t;
    j = (j - 1) / 2;
  }
}

/* The user's tag profile as a hash set (q->ptag / q->pcnt), so that
 * tag_match costs 4 probes, not 4 x 32 compares: the exploration source
 * matches a few thousand items per request. */
static void profile_index(req_t *q) {
  memset(q->ptag, 0, sizeof q->ptag);
  for (uint32_t j = 0; j < q->ru.ntags; j++) {
    if (q->ru.tag[j] == LT_NONE) continue; /* (tag + 1 is the key; 0 = empty) */
    uint32_t h = (uint32_t)lt_mix64(q->ru.tag[j]) & (PROFILE_SLOTS - 1);
    while (q->ptag[h] && q->ptag[h] != q->ru.tag[j] + 1)
      h = (h + 1) & (PROFILE_SLOTS - 1);
    q->ptag[h] = q->ru.tag[j] + 1;
    q->pcnt[h] = q->ru.cnt[j]; /* (the profile's tags are distinct) */
  }
}

/* How well an item's tags (the first 4) match the user's tag profile: the
 * share of the profile's tag occurrences it shares, in [0, 4]. */
static float tag_match(const req_t *q, const lt_item_meta_t *m) {
  if (!q->ru.total) return 0;
  uint32_t a = 0, nt = m->ntags < 4 ? m->ntags : 4;
  for (uint32_t t = 0; t < nt; t++) {
    if (m->tags[t] == LT_NONE) continue;
    uint32_t h = (uint32_t)lt_mix64(m->tags[t]) & (PROFILE_SLOTS - 1);
    while (q->ptag[h] && q->ptag[h] != m->tags[t] + 1)
      h = (h + 1) & (PROFILE_SLOTS - 1);
    if (q->ptag[h]) a += q->pcnt[h];
  }
  return (float)a / (float)q->ru.total;
}

/* Marks item as looked at by the exploration source; 0 when it was already
 * (or is seen, or the set is full). */
static int collect(req_t *q, uint32_t item) {
  uint32_t *v = set_slot(q->s, item, 1);
  if (!v || *v == COLLECTED || (*v & SEEN_BIT)) return 0;
  if (*v == NO_CAND) {
    *v = COLLECTED;
    return 1;
  }
  cand_t *c = &q->s->cand[*v]; /* a candidate of an earlier source */
  if (c->explore) return 0;
  c->explore = 2; /* collected; 1 once listed in xorder */
  return 1;
}

/* Exploration candidates: items in a traffic pool with quota left (a
 * window of at most POOL_SCAN of the pools' active list from a random
 * start; with pools off, the items there with fewer than
 * explore_max_impressions impressions), then new items (snapshot fresh
 * list and the ring of items put since) with fewer than
 * explore_max_impressions impressions that no pool has judged (with pools
 * off: any). Ordered by tag match with the user,
 * then by need (share of the quota still to serve), then newest; the best
 * `quota` become candidates (source fresh unless another source found
 * them first) and are listed in s->xorder in that order. */
static void src_explore(req_t *q, uint32_t quota) {
  if (!quota) return;
  lt_feed_t *f = q->f;
  const lt_models_t *m = q->m;
  const lt_models_opts_t *mo = &f->mo;
  int pools = !(f->o.policies_off & LT_POL_POOLS);
  uint64_t r[256]; /* the best `quota` so far (topk_push) */
  uint32_t n = 0, cap = quota < 256 ? quota : 256;
  {
    /* the items the pools track (also with pools off: then as new items
     * with few impressions, whatever their stage) */
    uint32_t na = __atomic_load_n(&f->pol.nactive, __ATOMIC_ACQUIRE);
    uint32_t scan = na < POOL_SCAN ? na : POOL_SCAN;
    uint32_t start = na > POOL_SCAN ? (uint32_t)(rng_next(q) % na) : 0;
    for (uint32_t i = 0; i < scan; i++) {
      uint32_t item = __atomic_load_n(&f->pol.active[(start + i) % na], __ATOMIC_RELAXED);
      const lt__pol_item_t *pi = lt__pol_item(f, item);
      if (!pi) continue;
      int st = __atomic_load_n(&pi->status, __ATOMIC_RELAXED);
      const lt_item_meta_t *im = lt_state_item(q->st, item);
      if (!eligible(im, q->now) || sat_sub(q->now, im->published_at_ms) > f->o.pool_max_age_ms)
        continue;
      if (pools ? st != LT_POOL_IN
                : (st != LT_POOL_IN && st != LT_POOL_JUDGING) ||
                      lt_state_item_counters(q->st, item)->impressions >=
                          f->o.explore_max_impressions)
        continue;
      if (!collect(q, item)) continue;
      float need =
          pools ? 1.0f - (float)__atomic_load_n(&pi->impr, __ATOMIC_RELAXED) /
                             (float)lt__pol_quota(f, __atomic_load_n(&pi->stage, __ATOMIC_RELAXED))
                : 1.0f - (float)lt_state_item_counters(q->st, item)->impressions /
                             (float)f->o.explore_max_impressions;
      topk_push(r, &n, cap,
                rank_key(tag_match(q, im) + 0.01f * need -
                             (float)sat_sub(q->now, im->published_at_ms) / 1e11f,
                         item));
    }
  }
  uint64_t head = __atomic_load_n(&f->new_head, __ATOMIC_ACQUIRE);
  uint32_t nring = head < LT__NEW_N ? (uint32_t)head : LT__NEW_N;
  for (uint32_t i = 0; i < nring + m->nfresh; i++) {
    uint32_t item =
        i < nring ? __atomic_load_n(&f->new_items[(head - 1 - i) % LT__NEW_N], __ATOMIC_RELAXED)
                  : m->fresh[i - nring];
    if (item == LT_NONE) continue;
    const lt_item_meta_t *im = lt_state_item(q->st, item);
    const lt_item_counters_t *c = lt_state_item_counters(q->st, item);
    if (!im || !c || !im->published_at_ms ||
        sat_sub(q->now, im->published_at_ms) > mo->fresh_window_ms ||
        c->impressions >= f->o.explore_max_impressions || im->kind == LT_KIND_LIVE)
      continue;
    const lt__pol_item_t *pi = lt__pol_item(f, item);
    int st = pi ? __atomic_load_n(&pi->status, __ATOMIC_RELAXED) : LT_POOL_NONE;
    if (pools && st != LT_POOL_NONE && st != LT_POOL_IN) continue; /* judged by a pool */
    if (!eligible(im, q->now) || !collect(q, item)) continue;
    float need = 1.0f - (float)c->impressions / (float)f->o.explore_max_impressions;
    topk_push(r, &n, cap,
              rank_key(tag_match(q, im) + 0.01f * need -
                           (float)sat_sub(q->now, im->published_at_ms) / 1e11f,
                       item));
  }
  qsort(r, n, sizeof *r, key_desc);
  uint32_t added = 0;
  for (uint32_t i = 0; i < n && added < quota; i++) {
    cand_t *c = cand_add(q, key_item(r[i]), LT_SRC_FRESH);
    if (!c || c->explore == 1) continue;
    c->explore = 1;
    q->s->xorder[q->nx++] = (uint32_t)(c - q->s->cand);
    added++;
  }
}

/* Trending: the best candidates by popularity now, from the snapshot's
 * popularity list and the ring of recently engaged items. Popularity decays
 * at one rate for every item, so the order of items by decayed popularity
 * does not change with time: the list, sorted at training, is still in
 * order for every item without an event since, and an item with events
 * since is in the ring (unless the ring wrapped: then it keeps its place of
 * training time, a small error in a fallback source). So the list is read
 * from its head only until the room is full, and a ring item needs its
 * exact popularity only when its undecayed value (an upper bound) beats the
 * weakest kept. */
static void src_trending(req_t *q) {
  const lt_models_t *m = q->m;
  uint32_t room = q->budget - q->ncand;
  if (!room) return;
  uint64_t head = __atomic_load_n(&q->f->hot_head, __ATOMIC_ACQUIRE);
  uint32_t nring = head < LT__HOT_N ? (uint32_t)head : LT__HOT_N;
  /* a bounded min-heap (root = worst) of the best `room` by popularity now:
   * the list's head fills it (taken in list order, made a heap once), then
   * the ring's items compete; the ring may repeat an item, which then takes
   * two places in the heap and one candidate */
  uint64_t heap[1024];
  uint32_t cap = room < 1024 ? room : 1024, len = 0;
  for (uint32_t i = 0; i < m->npop && len < cap; i++) {
    uint32_t item = m->pop[i];
    if (set_slot(q->s, item, 0)) continue; /* seen or already in */
    if (!eligible(lt_state_item(q->st, item), q->now)) continue;
    float p = (float)lt_state_item_pop(q->st, item, q->t_pop);
    if (p > 0) heap[len++] = rank_key(p, item);
  }
  key_heapify(heap, len, 1);
  for (uint32_t i = 0; i < nring; i++) {
    uint32_t item = __atomic_load_n(&q->f->hot[(head - 1 - i) % LT__HOT_N], __ATOMIC_RELAXED);
    const lt_item_counters_t *ic = item == LT_NONE ? NULL : lt_state_item_counters(q->st, item);
    if (!ic || (len == cap && !((float)ic->pop > key_score(heap[0])))) continue;
    if (set_slot(q->s, item, 0)) continue;
    if (!eligible(lt_state_item(q->st, item), q->now)) continue;
    float p = (float)lt_state_item_pop(q->st, item, q->t_pop);
    if (p > 0) topk_push(heap, &len, cap, rank_key(p, item));
  }
  /* (no need to sort: the heap holds at most the room left, so every
   * entry becomes a candidate, and a candidate's index carries no rank) */
  for (uint32_t i = 0; i < len; i++) {
    cand_t *c = cand_add(q, key_item(heap[i]), LT_SRC_TRENDING);
    if (c) c->pop = key_score(heap[i]); /* (score reads it instead of again) */
  }
}

/* ---- scoring ----------------------------------------------------------------- */

/* Running moments of values taken as differences from one of them, shift
 * (so constant values give exactly 0, and no cancellation). */
typedef struct moments {
  double sum, sq;
  float shift;
} moments_t;

static void moments_add(moments_t *m, float v) {
  double d = v - m->shift;
  m->sum += d;
  m->sq += d * d;
}

/* The mean and 1 / standard deviation of the n values added (inv 0 when
 * they are constant). */
static void moments_get(const moments_t *mo, uint32_t n, float *mean, float *inv) {
  double m = mo->sum / n, var = mo->sq / n - m * m;
  double sd = var > 0 ? sqrt(var) : 0;
  *mean = (float)(mo->shift + m);
  *inv = sd > 1e-9 ? (float)(1.0 / sd) : 0.0f;
}

/* Standardises v[0..n) in place (mean 0, standard deviation 1; all 0 when
 * the values are constant). */
static void standardise(float *v, uint32_t n) {
  if (!n) return;
  moments_t mo = {0, 0, v[0]};
  for (uint32_t i = 0; i < n; i++)
    moments_add(&mo, v[i]);
  float mean, inv;
  moments_get(&mo, n, &mean, &inv);
  for (uint32_t i = 0; i < n; i++)
    v[i] = (v[i] - mean) * inv;
}

static void score(req_t *q) {
  const lt_feed_opts_t *o = &q->f->o;
  cand_t *c = q->s->cand;
  uint32_t n = q->ncand;
  if (!n) return;
  const lt_ials_t *ials = q->m->ials;
  float ials_mean = 0;
  uint32_t nials = 0;
  const uint32_t k = q->x ? ials->k : 0;
  for (uint32_t i = 0; i < n; i++) {
    /* the rows candidate i + 8 reads: a candidate's counters and factors
     * are cache misses, and prefetching overlaps them */
    if (i + 8 < n) {
      uint32_t ahead = c[i + 8].item;
      __builtin_prefetch(lt_state_item_counters(q->st, ahead));
      if (k && ahead < ials->nitems)
        for (uint32_t b = 0; b < k; b += 16)
          __builtin_prefetch(ials->V + (size_t)ahead * k + b);
    }
    float pop = c[i].pop > 0 ? c[i].pop : (float)lt_state_item_pop(q->st, c[i].item, q->t_pop);
    c[i].pop = logf(1.0f + pop); /* (glibc's logf is several times faster than log1pf) */
    if (q->x && c[i].item < ials->nitems) {
      lt_ials_score(ials, q->x, &c[i].item, 1, &c[i].ials);
      ials_mean += c[i].ials;
      nials++;
    }
  }
  if (q->x && nials < n) { /* items newer than the model: neutral */
    ials_mean = nials ? ials_mean / nials : 0;
    for (uint32_t i = 0; i < n; i++)
      if (c[i].item >= ials->nitems) c[i].ials = ials_mean;
  }
  /* the three signals standardised over the candidates (one pass for
   * their moments, one for the blend) */
  moments_t mo[3] = {{0, 0, c[0].ials}, {0, 0, c[0].cf}, {0, 0, c[0].pop}};
  for (uint32_t i = 0; i < n; i++) {
    moments_add(&mo[0], c[i].ials);
    moments_add(&mo[1], c[i].cf);
    moments_add(&mo[2], c[i].pop);
  }
  float mean[3], inv[3];
  for (int j = 0; j < 3; j++)
    moments_get(&mo[j], n, &mean[j], &inv[j]);
  const float wi = o->w_ials * inv[0], wc = o->w_cowatch * inv[1], wp = o->w_pop * inv[2];
  for (uint32_t i = 0; i < n; i++) {
    float s = wi * (c[i].ials - mean[0]) + wc * (c[i].cf - mean[1]) + wp * (c[i].pop - mean[2]);
    if (c[i].source == LT_SRC_FOLLOWING) s += o->b_following * (1.0f + c[i].src);
    c[i].score = s;
  }
  /* the online ranker, once it has seen enough impressions */
  lt_ranker_stats_t rs;
  lt_ranker_stats(q->f->ranker, &rs);
  float g =
      o->w_rank *
      (rs.impressions >= o->rank_warmup ? 1.0f : (float)rs.impressions / (float)o->rank_warmup);
  float wsum = o->w_finish + o->w_long + o->w_like + o->w_follow + o->w_share;
  if (!(g > 0) || !(wsum > 0)) return;
  const lt_ranker_user_t *ru = &q->ru;
  const float w[LT_RANKER_HEADS] = {o->w_finish, o->w_long, o->w_like, o->w_follow, o->w_share};
  float *rank = q->s->scores; /* idcap >= budget >= n */
  lt_ranker_x_t x[2];
  const lt_ranker_t *rk = q->f->ranker;
  /* features of candidate i + 1 (which prefetch its weights) before the
   * prediction of candidate i */
  lt_ranker_features(rk, q->st, ru, c[0].item, c[0].source, -1, q->now, &x[0]);
  for (uint32_t i = 0; i < n; i++) {
    if (i + 4 < n) { /* the item rows the features of i + 4 will read */
      __builtin_prefetch(lt_state_item(q->st, c[i + 4].item));
      __builtin_prefetch(lt_state_item_counters(q->st, c[i + 4].item));
    }
    if (i + 1 < n)
      lt_ranker_features(rk, q->st, ru, c[i + 1].item, c[i + 1].source, -1, q->now,
                         &x[(i + 1) & 1]);
    float p[LT_RANKER_HEADS];
    lt_ranker_predict(rk, &x[i & 1], p);
    float s = 0;
    for (int hh = 0; hh < LT_RANKER_HEADS; hh++)
      s += w[hh] * p[hh];
    rank[i] = s / wsum;
  }
  standardise(rank, n);
  for (uint32_t i = 0; i < n; i++)
    c[i].score += g * rank[i];
}

/* The pool an item serves at q->now (-1: none): status IN or JUDGING and
 * not yet aged out (the writer's sweep may not have run since). */
static int pool_stage(const req_t *q, uint32_t item) {
  /* the age first: the item's row is in cache (the candidate was checked
   * against it), the pool's row would be a miss, and most are too old */
  const lt_item_meta_t *m = lt_state_item(q->st, item);
  if (!m || sat_sub(q->now, m->published_at_ms) > q->f->o.pool_max_age_ms) return -1;
  const lt__pol_item_t *pi = lt__pol_item(q->f, item);
  if (!pi) return -1;
  int st = __atomic_load_n(&pi->status, __ATOMIC_RELAXED);
  if (st != LT_POOL_IN && st != LT_POOL_JUDGING) return -1;
  return __atomic_load_n(&pi->stage, __ATOMIC_RELAXED);
}

/* The discount of candidate x after the user's not_interested entries:
 * neg_creator when one was about its creator, neg_tag per shared tag (at
 * most 2). */
static float neg_penalty(const req_t *q, const cand_t *x) {
  const lt_feed_opts_t *o = &q->f->o;
  int creator = 0;
  uint32_t tags = 0;
  const lt_item_meta_t *m = lt_state_item(q->st, x->item);
  uint32_t nt = m && m->ntags < 4 ? m->ntags : 4;
  if (!m) nt = 0;
  for (uint32_t k = 0; k < q->nneg; k++) {
    const lt__neg_t *e = &q->neg[k];
    if (x->creator != LT_NONE && e->creator == x->creator) creator = 1;
    for (uint32_t a = 0; a < e->ntags; a++)
      for (uint32_t t = 0; t < nt; t++)
        tags += e->tags[a] == m->tags[t];
  }
  if (tags > 2) tags = 2;
  return (creator ? o->neg_creator : 0) + (float)tags * o->neg_tag;
}

/* Re-ranking by the policies (after the learned score): the bonus of items
 * promoted to a higher traffic pool, the creator exposure discount, the
 * AIGC discount and the negative-feedback discount. */
static void policy_adjust(req_t *q) {
  const lt_feed_opts_t *o = &q->f->o;
  float apen = 0;
  if (!(o->policies_off & LT_POL_AIGC))
    __atomic_load(&q->f->pol.aigc_penalty, &apen, __ATOMIC_RELAXED);
  int fair = !(o->policies_off & LT_POL_FAIRNESS), neg = !(o->policies_off & LT_POL_NEGATIVE);
  int pools = !(o->policies_off & LT_POL_POOLS);
  cand_t *c = q->s->cand;
  for (uint32_t i = 0; i < q->ncand; i++) {
    float pen = 0;
    if (pools) { /* a promoted item's bigger audience */
      int stage = pool_stage(q, c[i].item);
      if (stage > 0) pen -= o->pool_boost * (float)stage;
    }
    if (fair) {
      float fp = lt__pol_creator_penalty(q->f, c[i].creator);
      if (fp > 0) {
        pen += fp;
        c[i].flags |= LT_FEED_F_FAIR;
      }
    }
    if (c[i].aigc) pen += apen;
    if (neg && q->nneg) {
      float np = neg_penalty(q, &c[i]);
      if (np > 0) {
        pen += np;
        c[i].flags |= LT_FEED_F_NEGATIVE;
      }
    }
    c[i].score -= pen;
  }
}

/* May x come next: not the creator of the previous item, and its creator
 * below the per-page cap (items without a creator always may). */
static int creator_ok(const cand_t *x, uint32_t last, const uint32_t *pc_creator,
                      const uint32_t *pc_count, uint32_t npc, uint32_t cap) {
  if (x->creator == LT_NONE) return 1;
  if (x->creator == last) return 0;
  for (uint32_t k = 0; k < npc; k++)
    if (pc_creator[k] == x->creator) return pc_count[k] < cap;
  return 1;
}

/* The candidates in score order (rank_key's), produced lazily: a page
 * usually takes its n items from the first few, so a max-heap (built in
 * O(ncand)) is popped only as far as the picking reads (order_at) instead
 * of sorting them all. */
static void order_begin(req_t *q) {
  uint64_t *h = q->s->heap;
  const cand_t *c = q->s->cand;
  for (uint32_t i = 0; i < q->ncand; i++)
    h[i] = rank_key(c[i].score, c[i].item);
  q->nheap = q->ncand;
  q->nsorted = 0;
  key_heapify(h, q->nheap, 0);
}

/* The index of the j-th best candidate (j < ncand). */
static uint32_t order_at(req_t *q, uint32_t j) {
  uint64_t *h = q->s->heap;
  while (q->nsorted <= j) {
    /* (a candidate's set value is its index) */
    q->s->order[q->nsorted++] = *set_slot(q->s, key_item(h[0]), 0);
    h[0] = h[--q->nheap];
    key_down(h, q->nheap, 0, 0);
  }
  return q->s->order[j];
}

/* ---- reasons ------------------------------------------------------------------ */

/* snprintf into out[cap] of fmt with one string argument s, shortening s
 * (never inside a UTF-8 sequence) so the whole text fits. */
static void reason1(char *out, size_t cap, const char *fmt, const char *s) {
  size_t fixed = strlen(fmt) - 2, n = strlen(s);
  size_t room = cap - 1 > fixed ? cap - 1 - fixed : 0;
  if (n > room) {
    n = room;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--; /* s[n] continues a char */
  }
  snprintf(out, cap, fmt, (int)n, s);
}

static void make_reason(req_t *q, const cand_t *c, char *out, size_t cap) {
  const char *name;
  switch (c->source) {
  case LT_SRC_FOLLOWING:
    name = c->creator != LT_NONE ? lt_state_name(q->st, LT_NS_CREATOR, c->creator) : NULL;
    reason1(out, cap, c->live ? "live now: @%.*s you follow" : "new from @%.*s you follow",
            name ? name : "?");
    break;
  case LT_SRC_ITEMCF:
    name = c->because != LT_NONE ? lt_state_name(q->st, LT_NS_ITEM, c->because) : NULL;
    reason1(out, cap, "because you watched %.*s", name ? name : "?");
    break;
  case LT_SRC_ANN:
    snprintf(out, cap, "similar to your taste");
    break;
  case LT_SRC_TRENDING: {
    const lt_item_meta_t *m = lt_state_item(q->st, c->item);
    name = m && m->ntags ? lt_state_name(q->st, LT_NS_TAG, m->tags[0]) : NULL;
    if (name)
      reason1(out, cap, "trending in #%.*s", name);
    else
      snprintf(out, cap, "trending");
    break;
  }
  case LT_SRC_FRESH:
    snprintf(out, cap, "new: give it a first audience");
    break;
  default:
    snprintf(out, cap, "%s", lt_feed_source_name(c->source));
  }
}

/* The reason of a served entry: the source's reason, then the policies
 * that touched it (shortening the first part so the whole fits). */
static void entry_reason(req_t *q, const cand_t *x, const lt_feed_entry_t *e, char *out,
                         size_t cap) {
  char suf[96];
  size_t k = 0;
  suf[0] = 0;
  if (e->flags & LT_FEED_F_EXPLORE)
    k += (size_t)snprintf(suf + k, sizeof suf - k, "; explore %u of %u", (e->explore & 15u),
                          (unsigned)(e->explore >> 4));
  if ((e->flags & LT_FEED_F_POOL) && k < sizeof suf)
    k += (size_t)snprintf(suf + k, sizeof suf - k, "; pool %d", e->pool);
  if ((e->flags & LT_FEED_F_AIGC) && k < sizeof suf)
    k += (size_t)snprintf(suf + k, sizeof suf - k, "; AIGC");
  if ((e->flags & LT_FEED_F_FAIR) && k < sizeof suf)
    k += (size_t)snprintf(suf + k, sizeof suf - k, "; creator exposure capped");
  if ((e->flags & LT_FEED_F_NEGATIVE) && k < sizeof suf)
    k += (size_t)snprintf(suf + k, sizeof suf - k, "; less like what you skipped");
  if (k >= sizeof suf) k = sizeof suf - 1;
  make_reason(q, x, out, cap - k);
  strcat(out, suf);
}

/* Thompson sampling among the n exploration candidates E: each one's rate
 * of engagement per impression ((completions + likes) / impressions, a
 * Beta(1 + s, 1 + t - s) posterior, taken as normal with its mean and
 * variance) is sampled and the best sample wins. *p gets the probability
 * that it wins, P(X_i = max_j X_j) = integral of phi_i(x) prod_{j != i}
 * Phi_j(x) dx, by the midpoint rule on 256 steps over +-6 sd. Returns the
 * index in E. */
static uint32_t thompson(req_t *q, const uint32_t *E, uint32_t n, float *p) {
  double mu[16], sd[16], best = -1e300;
  uint32_t win = 0;
  for (uint32_t i = 0; i < n; i++) {
    const lt_item_counters_t *c = lt_state_item_counters(q->st, q->s->cand[E[i]].item);
    double t = c ? (double)c->impressions : 0, sx = c ? (double)(c->completions + c->likes) : 0;
    if (sx > t) sx = t;
    double a = 1 + sx, b = 1 + t - sx;
    mu[i] = a / (a + b);
    sd[i] = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
    /* Box-Muller */
    double u1 = rng_unit(q), u2 = rng_unit(q);
    double z = sqrt(-2 * log(u1 > 1e-300 ? u1 : 1e-300)) * cos(2 * M_PI * u2);
    double x = mu[i] + sd[i] * z;
    if (x > best) {
      best = x;
      win = i;
    }
  }
  double lo = 1e300, hi = -1e300;
  for (uint32_t i = 0; i < n; i++) {
    if (mu[i] - 6 * sd[i] < lo) lo = mu[i] - 6 * sd[i];
    if (mu[i] + 6 * sd[i] > hi) hi = mu[i] + 6 * sd[i];
  }
  const int steps = 256;
  double h = (hi - lo) / steps, sum = 0;
  for (int k = 0; k < steps; k++) {
    double x = lo + (k + 0.5) * h, zi = (x - mu[win]) / sd[win];
    double v = exp(-0.5 * zi * zi) / (sd[win] * sqrt(2 * M_PI));
    for (uint32_t j = 0; j < n && v > 0; j++)
      if (j != win) v *= 0.5 * erfc(-(x - mu[j]) / (sd[j] * M_SQRT2));
    sum += v * h;
  }
  if (sum < 1e-4) sum = 1e-4;
  if (sum > 1) sum = 1;
  *p = (float)sum;
  return win;
}

static void count_latency(lt_feed_t *f, uint64_t ns) {
  double s = (double)ns / 1e9;
  int b = 0;
  while (b < LT__LAT_BUCKETS - 1 && s > lt__lat_bounds[b])
    b++;
  lt__count(&f->lat_bucket[b], 1);
  lt__count(&f->lat_sum_ns, ns);
}

/* The page being picked: the creator rules and the AIGC cap. */
typedef struct page {
  uint32_t last_creator, npc, naigc, aigc_max, capped;
  uint32_t pc_creator[LT_FEED_MAX], pc_count[LT_FEED_MAX];
} page_t;

static int page_ok(page_t *pg, const cand_t *x, uint32_t max_per_creator) {
  if (!creator_ok(x, pg->last_creator, pg->pc_creator, pg->pc_count, pg->npc, max_per_creator))
    return 0;
  if (x->aigc && pg->naigc >= pg->aigc_max) {
    pg->capped = 1;
    return 0;
  }
  return 1;
}

/* ---- ads ---------------------------------------------------------------------- */

void lt_feed_set_ads(lt_feed_t *f, lt_ads_t *ads) {
  if (f) __atomic_store_n(&f->ads, ads, __ATOMIC_RELEASE);
}

lt_ads_t *lt_feed_ads(const lt_feed_t *f) {
  return f ? __atomic_load_n(&f->ads, __ATOMIC_ACQUIRE) : NULL;
}

/* Step 7: the ad auctions of the page (ads/ads.h lt_ads_fill) over the
 * final organic entries out->items[0..n), then the merge: each ad takes its
 * position, the organic entries from there on shift down one, and the page
 * keeps its length (the last organic entries drop out). The ads engine
 * prices every slot against the organic entry it pushes down (its score).
 * Returns how many ads were placed. */
static uint32_t ads_merge(req_t *q, uint32_t user, lt_feed_result_t *out) {
  lt_ads_t *ads = lt_feed_ads(q->f);
  uint32_t n = out->n, nads = 0;
  if (!ads || !n) return 0;
  uint32_t items[LT_FEED_MAX];
  float scores[LT_FEED_MAX];
  for (uint32_t i = 0; i < n; i++) {
    items[i] = out->items[i].item;
    scores[i] = out->items[i].score;
  }
  lt_ads_page_t pg = {user, items, scores, n, out->request_id};
  lt_ads_slot_t slot[LT_ADS_MAX_SLOTS];
  if (lt_ads_fill(ads, &pg, q->now, slot, LT_ADS_MAX_SLOTS, &nads) || !nads) return 0;
  lt_feed_entry_t merged[LT_FEED_MAX];
  uint32_t j = 0, k = 0;
  for (uint32_t pos = 0; pos < n; pos++) {
    if (k < nads && slot[k].position == pos) { /* positions ascend, all < n */
      const lt_ads_slot_t *a = &slot[k++];
      lt_feed_entry_t *e = &merged[pos];
      const lt_item_meta_t *m = lt_state_item(q->st, a->item);
      memset(e, 0, sizeof *e);
      e->item = a->item;
      e->score = (float)((double)a->ecpm_ucents / (double)LT_UCENTS_PER_CENT);
      e->source = LT_SRC_AD;
      e->ad = 1;
      e->campaign = a->campaign;
      e->propensity = 1.0f;
      e->pool = -1;
      if (a->aigc) e->flags |= LT_FEED_F_AIGC;
      if (m && m->kind == LT_KIND_LIVE && eligible(m, q->now)) e->flags |= LT_FEED_F_LIVE;
      /* "sponsored by @advertiser" (the ads engine labels AIGC creatives) */
      snprintf(e->reason, sizeof e->reason, "%s", a->reason);
    } else {
      merged[pos] = out->items[j++];
    }
  }
  memcpy(out->items, merged, n * sizeof *merged);
  return k;
}

int lt_feed_get(lt_feed_t *f, const char *user, size_t user_len, uint32_t n, int64_t now_ms,
                lt_feed_result_t *out) {
  if (!f || !out || !user || !user_len || user_len > LT_MAX_STR || n == 0 || n > LT_FEED_MAX)
    return LT_EINVAL;
  uint64_t t0 = lt_mono_ns();
  out->n = 0;
  scratch_t *s = scratch_get();
  if (!s) return LT_ENOMEM;
  const lt_feed_opts_t *o = &f->o;
  req_t q = {0};
  q.f = f;
  q.st = f->st;
  q.s = s;
  q.trained = LT_NONE;
  q.now = now_ms > 0 ? now_ms : lt_now_ms();
  q.budget = o->candidates > 2 * n ? o->candidates : 2 * n; /* room to fill the page */
  q.rng = lt_mix64(o->seed ^ lt_hash64(user, user_len) ^ lt_mix64((uint64_t)q.now));

  uint32_t uid = LT_NONE;
  lt_user_info_t info = {0};
  if (lt_state_find(f->st, LT_NS_USER, user, user_len, &uid) ||
      lt_state_user_info(f->st, uid, &info))
    uid = LT_NONE;
  lt_models_t *m = lt__feed_models(f);
  q.m = m;
  /* every item's popularity decays alike after the newest event: reading it
   * there keeps the order and keeps a data set from the past (an import)
   * from underflowing to 0 */
  int64_t newest = __atomic_load_n(&f->clock_ms, __ATOMIC_RELAXED);
  lt_state_totals_t tot;
  lt_state_totals(f->st, &tot);
  if (tot.max_ts_ms > newest) newest = tot.max_ts_ms;
  q.t_pop = newest > 0 && newest < q.now ? newest : q.now;
  /* every item the request may look up: history, seen, candidates,
   * following, co-watch neighbours, ANN results, the lists, the rings and
   * the pools */
  size_t hn = (size_t)info.history_len + 16;
  uint32_t seen_room = (o->policies_off & LT_POL_SEEN) ? 0 : o->seen_cap;
  size_t nset = hn + seen_room + LT__NEG_N + 2 * (size_t)q.budget + FOLLOW_MAX * FOLLOW_ITEMS +
                CF_SEEDS * CF_NB + m->npop + m->nfresh + LT__HOT_N + LT__NEW_N + POOL_SCAN;
  int rc = scratch_prepare(s, hn, q.budget, seen_room, nset);
  if (rc) {
    lt_models_release(m);
    return rc;
  }
  size_t nh = uid != LT_NONE ? lt_state_user_history(f->st, uid, s->hist, s->hcap) : 0;
  for (size_t i = 0; i < nh; i++) {
    uint32_t *v = set_slot(s, s->hist[i].item, 1);
    if (v) *v = SEEN_BIT;
  }
  /* seen-dedup: what the user was shown within the window */
  if (seen_room && uid != LT_NONE) {
    size_t ns = lt__pol_seen(f, uid, sat_sub(q.now, o->seen_window_ms), s->seen, seen_room);
    uint64_t filtered = 0;
    for (size_t i = 0; i < ns; i++) {
      uint32_t *v = set_slot(s, s->seen[i], 1);
      if (v && *v != SEEN_BIT) {
        *v = SEEN_BIT;
        filtered++;
      }
    }
    if (filtered) lt__count(&f->pol.seen_filtered, filtered);
  }
  if (uid != LT_NONE && !(o->policies_off & LT_POL_NEGATIVE)) {
    q.nneg = (uint32_t)lt__pol_neg(f, uid, sat_sub(q.now, o->neg_ttl_ms), q.neg);
    for (uint32_t i = 0; i < q.nneg; i++) { /* the item itself never returns */
      uint32_t *v = set_slot(s, q.neg[i].item, 1);
      if (v) *v = SEEN_BIT;
    }
  }
  lt_ranker_user_init(&q.ru, f->st, uid, s->hist, nh, LT_NONE);
  profile_index(&q);
  uint32_t follows[FOLLOW_MAX];
  /* (only when there are follows: the state's copy passes a NULL array to
   * memcpy when there are none) */
  size_t nf =
      uid != LT_NONE && info.nfollows ? lt_state_user_follows(f->st, uid, follows, FOLLOW_MAX) : 0;
  if (nf > FOLLOW_MAX) nf = FOLLOW_MAX;
  uint32_t B = q.budget, xq = 3 * o->explore_k;
  int cold = nh == 0 && nf == 0;
  if (cold) {
    src_explore(&q, B / 10 > xq ? B / 10 : xq);
  } else {
    src_following(&q, follows, nf, B / 8);
    src_itemcf(&q, s->hist, nh, B * 2 / 5);
    user_vector(&q, uid, s->hist, nh);
    src_ann(&q, B / 10);
    src_explore(&q, B / 20 > xq ? B / 20 : xq);
  }
  src_trending(&q);
  score(&q);
  policy_adjust(&q);

  /* order, then pick under the creator rules and the AIGC cap */
  cand_t *c = s->cand;
  order_begin(&q);
  uint32_t picked = 0;
  page_t pg;
  pg.last_creator = LT_NONE;
  pg.npc = pg.naigc = pg.capped = 0;
  pg.aigc_max = (o->policies_off & LT_POL_AIGC) ? n : (uint32_t)floor(o->aigc_page_cap * n + 1e-6);
  uint32_t lo = 0;    /* order[0..lo) are all taken */
  uint32_t xnext = 0; /* xorder[0..xnext) are all taken */
  uint32_t fe = o->fresh_every;
  int explore_on = !(o->policies_off & LT_POL_EXPLORE);
  uint64_t rid = lt_mix64(f->req_seed + __atomic_add_fetch(&f->req_counter, 1, __ATOMIC_RELAXED));
  snprintf(out->request_id, sizeof out->request_id, "%016llx", (unsigned long long)rid);
  out->model_version = m->version;
  while (picked < n) {
    uint32_t ci = UINT32_MAX, code = 0;
    float prop = 1.0f;
    if (explore_on && picked % fe == fe / 2) { /* an exploration slot */
      uint32_t E[16], ne = 0;
      for (uint32_t j = xnext; j < q.nx && ne < o->explore_k; j++) {
        const cand_t *x = &c[s->xorder[j]];
        if (!x->taken && x->source != LT_SRC_FOLLOWING && page_ok(&pg, x, o->max_per_creator))
          E[ne++] = s->xorder[j];
      }
      if (ne) {
        uint32_t r;
        if (o->explore_mode == LT_EXPLORE_THOMPSON && ne > 1) {
          r = thompson(&q, E, ne, &prop);
        } else {
          r = (uint32_t)(rng_next(&q) % ne);
          prop = 1.0f / (float)ne;
        }
        ci = E[r];
        code = 16 * ne + r + 1;
      }
    }
    for (uint32_t j = lo; j < q.ncand && ci == UINT32_MAX; j++) {
      uint32_t cj = order_at(&q, j);
      if (!c[cj].taken && page_ok(&pg, &c[cj], o->max_per_creator)) ci = cj;
    }
    if (ci == UINT32_MAX) break;
    c[ci].taken = 1;
    while (lo < q.ncand && c[order_at(&q, lo)].taken)
      lo++;
    while (xnext < q.nx && c[s->xorder[xnext]].taken)
      xnext++;
    const cand_t *x = &c[ci];
    if (x->creator != LT_NONE) {
      uint32_t k = 0;
      while (k < pg.npc && pg.pc_creator[k] != x->creator)
        k++;
      if (k == pg.npc) {
        pg.pc_creator[pg.npc] = x->creator;
        pg.pc_count[pg.npc++] = 0;
      }
      pg.pc_count[k]++;
    }
    pg.last_creator = x->creator;
    pg.naigc += x->aigc;
    lt_feed_entry_t *e = &out->items[picked++];
    e->item = x->item;
    e->score = x->score;
    e->source = x->source;
    e->ad = 0;
    e->campaign = LT_NONE;
    e->propensity = prop;
    e->explore = (uint8_t)code;
    e->flags = x->flags;
    e->pool = -1;
    if (code) e->flags |= LT_FEED_F_EXPLORE;
    if (x->aigc) e->flags |= LT_FEED_F_AIGC;
    if (x->live) e->flags |= LT_FEED_F_LIVE;
    int stage = pool_stage(&q, x->item);
    if (stage >= 0) {
      e->flags |= LT_FEED_F_POOL;
      e->pool = (int8_t)stage;
    }
    entry_reason(&q, x, e, e->reason, sizeof e->reason);
  }
  out->n = picked;
  ads_merge(&q, uid, out);
  /* what was served (after the ads took their slots): attribution, counts */
  for (uint32_t i = 0; i < out->n; i++) {
    const lt_feed_entry_t *e = &out->items[i];
    lt__feed_served_put(f, out->request_id, strlen(out->request_id), e->item, e->source,
                        e->propensity, e->explore);
    lt__count(&f->items_by_source[e->source], 1);
    if (e->explore) lt__count(&f->pol.explore_served, 1);
    if (e->flags & LT_FEED_F_FAIR) lt__count(&f->pol.fair_applied, 1);
    if (e->flags & LT_FEED_F_NEGATIVE) lt__count(&f->pol.neg_discounted, 1);
  }
  if (pg.capped) lt__count(&f->pol.aigc_capped, 1);
  lt_models_release(m);
  lt__count(&f->requests, 1);
  lt__count(&f->items_total, out->n);
  if (cold) lt__count(&f->cold_requests, 1);
  if (!out->n) lt__count(&f->empty_requests, 1);
  count_latency(f, lt_mono_ns() - t0);
  return LT_OK;
}

/* ---- lt_feed_similar ----------------------------------------------------------- */

#define SIMILAR_MAX 1000
#define SIMILAR_CF 256 /* co-watch neighbours read (the rest comes from the ANN) */

int lt_feed_similar(lt_feed_t *f, uint32_t item, uint32_t n, lt_feed_entry_t *out,
                    uint32_t *count) {
  if (!f || !count || (n && !out)) return LT_EINVAL;
  *count = 0;
  if (item >= lt_state_count(f->st, LT_NS_ITEM)) return LT_ENOTFOUND;
  if (n > SIMILAR_MAX) n = SIMILAR_MAX;
  if (!n) return LT_OK;
  scratch_t *s = scratch_get();
  if (!s) return LT_ENOMEM;
  int rc = scratch_prepare(s, 16, 2 * n + 64, 0, 4 * (size_t)n + 64);
  if (rc) return rc;
  req_t q = {0};
  q.f = f;
  q.st = f->st;
  q.s = s;
  q.now = lt_now_ms();
  q.budget = 2 * n + 64;
  *set_slot(s, item, 1) = SEEN_BIT;
  lt_models_t *m = lt__feed_models(f);
  q.m = m;
  const char *name = lt_state_name(f->st, LT_NS_ITEM, item);
  uint32_t k = 0;
  lt_itemcf_nb_t nb[SIMILAR_CF];
  lt_cowatch_view_t *cv = lt_cowatch_acquire(f->cowatch);
  uint32_t got = cowatch_list(m, cv, item, nb, SIMILAR_CF);
  lt_cowatch_release(cv);
  for (uint32_t j = 0; j < got && k < n; j++) {
    uint32_t before = q.ncand;
    if (!cand_add(&q, nb[j].item, LT_SRC_ITEMCF) || q.ncand == before) continue;
    lt_feed_entry_t *e = &out[k++];
    e->item = nb[j].item;
    e->score = nb[j].sim;
    e->source = LT_SRC_ITEMCF;
    e->ad = 0;
    e->campaign = LT_NONE;
    e->propensity = 1.0f;
    e->flags = 0;
    e->pool = -1;
    e->explore = 0;
    reason1(e->reason, sizeof e->reason, "often watched with %.*s", name ? name : "?");
  }
  if (k < n && m->ann && item < m->nitems) {
    const float *v = m->ials->V + (size_t)item * m->ials->k;
    uint32_t want = n - k + 1, got = 0;
    if (want > s->idcap) want = s->idcap;
    if (lt_ann_search(m->ann, v, want, want < 64 ? 64 : want, ann_filter, &q, s->ids, s->scores,
                      &got) == LT_OK) {
      for (uint32_t j = 0; j < got && k < n; j++) {
        uint32_t before = q.ncand;
        if (!cand_add(&q, s->ids[j], LT_SRC_ANN) || q.ncand == before) continue;
        lt_feed_entry_t *e = &out[k++];
        e->item = s->ids[j];
        e->score = s->scores[j];
        e->source = LT_SRC_ANN;
        e->ad = 0;
        e->propensity = 1.0f;
        e->flags = 0;
        e->pool = -1;
        e->explore = 0;
        reason1(e->reason, sizeof e->reason, "similar to %.*s", name ? name : "?");
      }
    }
  }
  lt_models_release(m);
  lt__count(&f->similar_requests, 1);
  *count = k;
  return LT_OK;
}
