/*
 * feed.c — the feed engine's life: creating it over a state, its options
 * (defaults, and by name for the config file), training and publishing
 * model snapshots, learning online from durable records, attribution of
 * served items, and its metrics (the request path is in feed_get.c, the
 * policies' state in policy.c).
 *
 * What it is for: keeping the read path supplied with models while the
 * write path keeps changing the state, without either waiting on the other.
 *
 * Snapshot publication. f->cur points at the published lt_models_t. A
 * reader takes a reference with lt__feed_models:
 *     acquiring++ ; m = cur ; m->refs++ ; acquiring--
 * and the publisher swaps with
 *     old = exchange(cur, new) ; wait until acquiring == 0 ; release(old)
 * (all sequentially consistent). A reader that loaded `old` incremented
 * `acquiring` before the exchange and decrements it only after its own
 * m->refs++, so when the publisher sees acquiring == 0 every such
 * increment of old->refs happened before the publisher's release: old
 * cannot be freed under a reader that is about to reference it. The
 * publisher's wait covers a few instructions of each reader, never a
 * request; readers never wait at all.
 *
 * Online learning. lt_feed_observe runs on the writer path in log order:
 * every record goes to the policies (policy.c); events go to the ranker
 * (ranker.h) with the source the feed served the item from, found in
 * `served` — a direct-mapped table of 2^18 words written by requests,
 * slot and 32 tag bits from hash(request id, item), the word holding the
 * source, the propensity (bfloat16) and the exploration code, which
 * lt_feed_annotate copies into impression events that lack them; item puts go to
 * the `new_items` ring and engagement to the `hot` ring, which the request
 * path merges with the snapshot's lists so items that appeared since the
 * last training can be fresh or trending before the next one; positive
 * events (the training matrix's rule, cowatch_observe) and not_interested
 * go to the live co-watch counts (model/cowatch.h), whose generations
 * lt_feed_train moves: one opens when a training begins and becomes the
 * served one when its snapshot is published.
 *
 * Two cores per batch. lt_feed_observe is the serial stage of the store's
 * write pipeline, so its time per batch bounds ingestion. The co-watch
 * counts and everything else it feeds (policies, ranker, rings) share no
 * data but the state, which both only read, so a batch of at least
 * LT__CW_PARALLEL records is split: lt_feed_observe copies the events
 * the co-watch counts with their verdicts (struct lt__cw_ev: the helper
 * reads no state, so a caller may close the store before lt_feed_free)
 * into the one of two buffers the helper is not reading, waits until the
 * helper thread (cw_th) has counted the batch before, hands it this one
 * and does the rest itself; it returns without waiting for the helper.
 * Every consumer thus sees the same records in the same order as with one
 * thread, the co-watch counts are at most one batch behind the rest
 * (lt_feed_settle waits for them), and the helper's time leaves the
 * serial stage as long as it keeps up: a batch takes the rest, plus what
 * the helper runs over.
 * (Until session 7 lt_feed_observe waited for the helper, and the helper's
 * wake-up and its count were on the path of every batch.) Smaller batches
 * (one event at a time in the simulator) are counted on the calling
 * thread, after the helper's last one: a hand-over costs a wake-up.
 *
 * Before the turn. Most of what the ranker spends on an impression or a
 * play is reading the user's recent history and the item for the
 * example's features. lt_feed_prepare, the store's prepare function, does
 * that on the writer's own thread once the batch is applied and before
 * its observer turn, for many batches at once; lt_feed_observe takes the
 * block by the records' address (`prep`) and only learns. The features
 * may then see a few later batches applied, as the observer's may anyway
 * (store.h).
 *
 * Invariants:
 *  1. cur is never NULL between lt_feed_new and lt_feed_free, and
 *     f->version / f->trained_at_ms equal cur's once publish returns;
 *  2. published versions only grow (lt_feed_train: published + 1, under
 *     train_lock);
 *  3. a ring slot holds LT_NONE or an item id that existed when pushed.
 *
 * Files under models_dir: the snapshots (models.h) and ranker.bin (the
 * online ranker, saved by lt_feed_save_ranker; each model directory also
 * gets a copy when it is trained). At start the ranker with more learned
 * examples of the two wins.
 */
#include "feed/feed_int.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/opts.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const double lt__lat_bounds[LT__LAT_BUCKETS - 1] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25};
const double lt__train_bounds[LT__TRAIN_BUCKETS - 1] = {0.1, 1, 5, 15, 60, 300, 900, 3600};

static const char *source_names[LT_SRC__COUNT] = {"following", "itemcf",  "ials", "trending",
                                                  "fresh",     "explore", "ad"};

#define DAY_MS (24 * 3600 * 1000LL)

const char *lt_feed_source_name(int source) {
  return source >= 0 && source < LT_SRC__COUNT ? source_names[source] : "?";
}

void lt_feed_opts_default(lt_feed_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->w_finish = 1.0f;
  o->w_long = 1.0f;
  o->w_like = 2.0f;
  o->w_follow = 4.0f;
  o->w_share = 3.0f;
  o->max_per_creator = 2;
  o->candidates = 500;
  o->ials_k = 64;
  o->ials_iters = 10;
  o->threads = 2;
  o->seed = 1;
  o->w_ials = 1.0f;
  o->w_cowatch = 0.7f;
  o->w_pop = 0.2f;
  o->b_following = 1.0f;
  o->fresh_every = 8;
  o->w_rank = 1.0f;
  o->rank_warmup = 5000;
  o->recency_tau = 20.0f;
  o->ials_alpha = 1.0f;
  o->ials_lambda = 10.0f;
  o->keep_models = 3;
  o->ann_ef_construction = 200;
  o->seen_window_ms = 7 * DAY_MS;
  o->seen_cap = 4000;
  o->pool_levels = 3;
  o->pool_quota = 300;
  o->pool_growth = 10;
  o->pool_top_share = 0.3f;
  o->pool_boost = 0.5f;
  o->pool_peers = 200;
  o->pool_min_peers = 20;
  o->pool_judge_ms = 10 * 60 * 1000;
  o->pool_max_age_ms = 7 * DAY_MS;
  o->fair_target = 0.6f;
  o->fair_window_ms = DAY_MS;
  o->fair_weight = 2.0f;
  o->fair_quantile = 0.5f;
  o->aigc_page_cap = 0.3f;
  o->aigc_target = 0.2f;
  o->aigc_weight = 1.0f;
  o->explore_mode = LT_EXPLORE_EGREEDY;
  o->explore_k = 4;
  o->explore_max_impressions = 300;
  o->neg_ttl_ms = 7 * DAY_MS;
  o->neg_creator = 2.0f;
  o->neg_tag = 0.5f;
  o->cowatch_window = 20;
  o->cowatch_capacity = 128;
  o->cowatch_shrink = 5.0f;
}

/* Options with zero fields replaced by the defaults (a caller that
 * memsets the struct and sets a few fields gets sensible behaviour). */
static void opts_fill(lt_feed_opts_t *o, const lt_feed_opts_t *in) {
  lt_feed_opts_t d;
  lt_feed_opts_default(&d);
  if (!in) {
    *o = d;
    return;
  }
  *o = *in;
  if (!o->max_per_creator) o->max_per_creator = d.max_per_creator;
  if (!o->candidates) o->candidates = d.candidates;
  if (o->candidates < 50) o->candidates = 50;
  if (o->candidates > 5000) o->candidates = 5000;
  if (!o->ials_k) o->ials_k = d.ials_k;
  if (o->ials_k > LT_IALS_MAX_K) o->ials_k = LT_IALS_MAX_K;
  if (!o->ials_iters) o->ials_iters = d.ials_iters;
  if (!o->threads) o->threads = d.threads;
  if (!(o->recency_tau > 0)) o->recency_tau = d.recency_tau;
  if (!(o->ials_alpha > 0)) o->ials_alpha = d.ials_alpha;
  if (!(o->ials_lambda > 0)) o->ials_lambda = d.ials_lambda;
  if (!o->rank_warmup) o->rank_warmup = d.rank_warmup;
  if (!o->fresh_every) o->fresh_every = d.fresh_every;
  /* all blend weights zero means "not set" (an all-zero blend ranks nothing) */
  if (o->w_ials == 0 && o->w_cowatch == 0 && o->w_pop == 0) {
    o->w_ials = d.w_ials;
    o->w_cowatch = d.w_cowatch;
    o->w_pop = d.w_pop;
    o->b_following = d.b_following;
    o->w_rank = d.w_rank;
  }
  /* the policies: zero = default; out-of-range values are clamped */
#define FILL(x) \
  if (!(o->x > 0)) o->x = d.x
  FILL(ann_ef_construction);
  FILL(seen_window_ms);
  FILL(seen_cap);
  FILL(pool_levels);
  FILL(pool_quota);
  FILL(pool_growth);
  FILL(pool_top_share);
  FILL(pool_boost);
  FILL(pool_peers);
  FILL(pool_min_peers);
  FILL(pool_judge_ms);
  FILL(pool_max_age_ms);
  FILL(fair_target);
  FILL(fair_window_ms);
  FILL(fair_weight);
  FILL(fair_quantile);
  FILL(aigc_page_cap);
  FILL(aigc_target);
  FILL(aigc_weight);
  FILL(explore_k);
  FILL(explore_max_impressions);
  FILL(neg_ttl_ms);
  FILL(neg_creator);
  FILL(neg_tag);
  FILL(cowatch_window);
  FILL(cowatch_capacity);
  FILL(cowatch_shrink);
#undef FILL
  if (o->cowatch_window > LT_COWATCH_MAX_WINDOW) o->cowatch_window = LT_COWATCH_MAX_WINDOW;
  if (o->cowatch_capacity > LT_COWATCH_MAX_CAPACITY) o->cowatch_capacity = LT_COWATCH_MAX_CAPACITY;
  if (o->explore_mode != LT_EXPLORE_EGREEDY && o->explore_mode != LT_EXPLORE_THOMPSON)
    o->explore_mode = d.explore_mode;
  if (o->pool_levels > LT_FEED_MAX_POOLS) o->pool_levels = LT_FEED_MAX_POOLS;
  if (o->pool_peers > 100000) o->pool_peers = 100000;
  if (o->pool_min_peers > o->pool_peers) o->pool_min_peers = o->pool_peers;
  if (o->pool_top_share > 1) o->pool_top_share = 1;
  if (o->fair_target > 1) o->fair_target = 1;
  if (o->fair_quantile >= 1) o->fair_quantile = 0.99f;
  if (o->aigc_page_cap > 1) o->aigc_page_cap = 1;
  if (o->aigc_target > 1) o->aigc_target = 1;
  if (o->explore_k > 15) o->explore_k = 15; /* the exploration code has 4 bits for K */
  if (o->seen_cap > 1000000) o->seen_cap = 1000000;
  if (o->w_finish == 0 && o->w_long == 0 && o->w_like == 0 && o->w_follow == 0 && o->w_share == 0) {
    o->w_finish = d.w_finish;
    o->w_long = d.w_long;
    o->w_like = d.w_like;
    o->w_follow = d.w_follow;
    o->w_share = d.w_share;
  }
}

/* ---- options by name ------------------------------------------------------- */

/* LT_EXPLORE_EGREEDY, LT_EXPLORE_THOMPSON */
static const char *const explore_modes[] = {"egreedy", "thompson", NULL};

#define T lt_feed_opts_t
static const lt_opt_t okeys[] = {
    LT_OPT(T, w_finish, LT_OPT_F32, 0, 100, "fusion weight of the finish head"),
    LT_OPT(T, w_long, LT_OPT_F32, 0, 100, "fusion weight of the long-view head"),
    LT_OPT(T, w_like, LT_OPT_F32, 0, 100, "fusion weight of the like head"),
    LT_OPT(T, w_follow, LT_OPT_F32, 0, 100, "fusion weight of the follow head"),
    LT_OPT(T, w_share, LT_OPT_F32, 0, 100, "fusion weight of the share head"),
    LT_OPT(T, max_per_creator, LT_OPT_U32, 1, 100, "items of one creator per page"),
    LT_OPT(T, candidates, LT_OPT_U32, 50, 5000, "candidates ranked per request"),
    LT_OPT(T, ials_k, LT_OPT_U32, 1, 512, "iALS factors"),
    LT_OPT(T, ials_iters, LT_OPT_U32, 1, 100, "iALS iterations"),
    LT_OPT(T, ials_alpha, LT_OPT_F32, 0.001, 1000, "iALS confidence slope"),
    LT_OPT(T, ials_lambda, LT_OPT_F32, 0.001, 10000, "iALS L2 regularisation"),
    LT_OPT_AS(T, "train_threads", threads, LT_OPT_U32, 1, 256, "training threads"),
    LT_OPT(T, w_ials, LT_OPT_F32, 0, 100, "blend weight of the iALS score"),
    LT_OPT(T, w_cowatch, LT_OPT_F32, 0, 100, "blend weight of co-watch evidence"),
    LT_OPT(T, w_pop, LT_OPT_F32, 0, 100, "blend weight of log popularity"),
    LT_OPT(T, b_following, LT_OPT_F32, 0, 100, "bonus of followed creators' items"),
    LT_OPT(T, w_rank, LT_OPT_F32, 0, 100, "weight of the online ranker once warm"),
    LT_OPT(T, rank_warmup, LT_OPT_U32, 1, 1e9, "impressions before w_rank applies fully"),
    LT_OPT(T, recency_tau, LT_OPT_F32, 0.01, 10000, "co-watch recency scale"),
    LT_OPT(T, keep_models, LT_OPT_U32, 1, 1000, "model versions kept on disk"),
    LT_OPT(T, ann_ef_construction, LT_OPT_U32, 8, 4096, "HNSW candidate list while building"),
    LT_OPT_BIT(T, "seen_dedup", policies_off, LT_POL_SEEN,
               "on | off: an impressed item is not shown again"),
    LT_OPT_AS(T, "seen_window_h", seen_window_ms, LT_OPT_MS_H, 0.001, 24 * 3650,
              "hours an impressed item stays hidden from its user"),
    LT_OPT(T, seen_cap, LT_OPT_U32, 1, 1000000, "impressions remembered per user"),
    LT_OPT_BIT(T, "traffic_pools", policies_off, LT_POL_POOLS,
               "on | off: serve new items through pools"),
    LT_OPT(T, pool_levels, LT_OPT_U32, 1, LT_FEED_MAX_POOLS, "number of traffic pools"),
    LT_OPT(T, pool_quota, LT_OPT_U32, 1, 1e9, "impressions of pool 0"),
    LT_OPT(T, pool_growth, LT_OPT_U32, 1, 1000, "quota factor from one pool to the next"),
    LT_OPT(T, pool_top_share, LT_OPT_F32, 0.0001, 1,
           "share of recent peers an item must be among to move up"),
    LT_OPT(T, pool_boost, LT_OPT_F32, 0.001, 100,
           "ranking bonus per pool level of a promoted item"),
    LT_OPT(T, pool_peers, LT_OPT_U32, 1, 100000, "recent judgements compared with"),
    LT_OPT(T, pool_min_peers, LT_OPT_U32, 1, 100000, "peers needed before the bar applies"),
    LT_OPT_AS(T, "pool_judge_min", pool_judge_ms, LT_OPT_MS_MIN, 0.001, 24 * 60,
              "minutes of late engagement awaited before judging"),
    LT_OPT_AS(T, "pool_max_age_h", pool_max_age_ms, LT_OPT_MS_H, 0.001, 24 * 3650,
              "hours after publishing an item leaves the pools"),
    LT_OPT_BIT(T, "exposure_fairness", policies_off, LT_POL_FAIRNESS,
               "on | off: discount the most exposed creators"),
    LT_OPT(T, fair_target, LT_OPT_F32, 0.001, 1, "creator Gini above which to discount"),
    LT_OPT_AS(T, "fair_window_h", fair_window_ms, LT_OPT_MS_H, 0.001, 24 * 365,
              "hours of impressions the Gini is taken over"),
    LT_OPT(T, fair_weight, LT_OPT_F32, 0.001, 100, "discount per doubling of exposure"),
    LT_OPT(T, fair_quantile, LT_OPT_F32, 0.001, 0.999,
           "exposure quantile above which creators are discounted"),
    LT_OPT_BIT(T, "aigc_policy", policies_off, LT_POL_AIGC,
               "on | off: the AIGC page cap and target"),
    LT_OPT(T, aigc_page_cap, LT_OPT_F32, 0.0001, 1, "most AIGC share of a page"),
    LT_OPT(T, aigc_target, LT_OPT_F32, 0.0001, 1, "platform AIGC share of impressions"),
    LT_OPT(T, aigc_weight, LT_OPT_F32, 0.001, 100, "discount of AIGC above the target"),
    LT_OPT_BIT(T, "exploration", policies_off, LT_POL_EXPLORE, "on | off: exploration slots"),
    LT_OPT_AS(T, "explore_every", fresh_every, LT_OPT_U32, 1, 1000,
              "one exploration slot in every this many"),
    LT_OPT_NAMES(T, "explore_mode", explore_mode, LT_EXPLORE_EGREEDY, explore_modes,
                 "egreedy | thompson"),
    LT_OPT(T, explore_k, LT_OPT_U32, 1, 15, "candidates an exploration slot draws among"),
    LT_OPT(T, explore_max_impressions, LT_OPT_U32, 1, 1e9,
           "impressions below which an item outside the pools is explored"),
    LT_OPT_BIT(T, "negative_feedback", policies_off, LT_POL_NEGATIVE,
               "on | off: discount after not_interested"),
    LT_OPT_AS(T, "neg_ttl_h", neg_ttl_ms, LT_OPT_MS_H, 0.001, 24 * 3650,
              "hours a not_interested discounts its creator and tags"),
    LT_OPT(T, neg_creator, LT_OPT_F32, 0.001, 100, "discount of the creator's items"),
    LT_OPT(T, neg_tag, LT_OPT_F32, 0.001, 100, "discount per shared tag (at most 2)"),
    LT_OPT_BIT(T, "live_cowatch", policies_off, LT_POL_LIVE_COWATCH,
               "on | off: count co-watches between trainings"),
    LT_OPT_BIT(T, "user_ann_lists", policies_off, LT_POL_USER_ANN,
               "on | off: each user's ANN retrieval kept at training"),
    LT_OPT(T, cowatch_window, LT_OPT_U32, 1, LT_COWATCH_MAX_WINDOW,
           "recent positive items a new positive pairs with"),
    LT_OPT_AS(T, "cowatch_neighbors", cowatch_capacity, LT_OPT_U32, 1, LT_COWATCH_MAX_CAPACITY,
              "partners counted per item between trainings"),
    LT_OPT(T, cowatch_shrink, LT_OPT_F32, 0.001, 10000,
           "damping of pairs seen by few users since the training"),
};
#undef T

int lt_feed_opts_set(lt_feed_opts_t *o, const char *key, const char *value, char *err,
                     size_t errlen) {
  int rc = lt_opts_set(okeys, LT_OPTS_N(okeys), o, NULL, key, value, err, errlen);
  return rc == LT_ENOTFOUND ? LT_EINVAL : rc;
}

void lt_feed_opts_each(const lt_feed_opts_t *o,
                       void (*fn)(void *ctx, const char *key, const char *value,
                                  const char *help),
                       void *ctx) {
  char v[64];
  for (size_t i = 0; i < LT_OPTS_N(okeys); i++) {
    lt_opts_format(&okeys[i], o, v, sizeof v);
    fn(ctx, okeys[i].key, v, okeys[i].help);
  }
}

static void models_opts(const lt_feed_opts_t *o, lt_models_opts_t *mo) {
  lt_models_opts_default(mo);
  mo->ials.k = o->ials_k;
  mo->ials.iters = o->ials_iters;
  mo->ials.alpha = o->ials_alpha;
  mo->ials.lambda = o->ials_lambda;
  mo->ials.threads = o->threads;
  mo->ials.seed = o->seed;
  mo->ann.threads = o->threads;
  mo->ann.ef_construction = o->ann_ef_construction;
  /* the ANN source's quota (a tenth of the budget, feed_get.c) and a
   * quarter more for the items a request filters out */
  mo->user_ann_n = (o->policies_off & LT_POL_USER_ANN) ? 0 : o->candidates / 10 + o->candidates / 40;
  mo->ann.seed = o->seed;
  mo->itemcf.threads = o->threads;
}

/* ---- snapshots ----------------------------------------------------------- */

lt_models_t *lt__feed_models(lt_feed_t *f) {
  __atomic_add_fetch(&f->acquiring, 1, __ATOMIC_SEQ_CST);
  lt_models_t *m = __atomic_load_n(&f->cur, __ATOMIC_SEQ_CST);
  lt_models_acquire(m);
  __atomic_sub_fetch(&f->acquiring, 1, __ATOMIC_SEQ_CST);
  return m;
}

lt_models_t *lt_feed_acquire(lt_feed_t *f) { return lt__feed_models(f); }

void lt_feed_publish(lt_feed_t *f, lt_models_t *m) {
  if (!f || !m) return;
  lt_models_t *old = __atomic_exchange_n(&f->cur, m, __ATOMIC_SEQ_CST);
  __atomic_store_n(&f->version, m->version, __ATOMIC_RELEASE);
  __atomic_store_n(&f->trained_at_ms, m->trained_at_ms, __ATOMIC_RELEASE);
  while (__atomic_load_n(&f->acquiring, __ATOMIC_SEQ_CST))
    sched_yield();
  lt_models_release(old);
}

uint64_t lt_feed_model_version(const lt_feed_t *f) {
  return f ? __atomic_load_n(&f->version, __ATOMIC_ACQUIRE) : 0;
}

int64_t lt_feed_model_trained_at(const lt_feed_t *f) {
  return f ? __atomic_load_n(&f->trained_at_ms, __ATOMIC_ACQUIRE) : 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

/* Loads the better of dir/ranker.bin and the newest model's copy. */
static lt_ranker_t *load_ranker(const char *dir, uint64_t version) {
  char p[4300];
  lt_ranker_t *a = NULL, *b = NULL;
  snprintf(p, sizeof p, "%s/ranker.bin", dir);
  if (lt_ranker_load(p, NULL, &a)) a = NULL;
  if (version && lt_models_path(dir, version, p, sizeof p - 16) == LT_OK) {
    strcat(p, "/ranker.bin");
    if (lt_ranker_load(p, NULL, &b)) b = NULL;
  }
  if (!a || !b) return a ? a : b;
  lt_ranker_stats_t sa, sb;
  lt_ranker_stats(a, &sa);
  lt_ranker_stats(b, &sb);
  if (sa.examples >= sb.examples) {
    lt_ranker_free(b);
    return a;
  }
  lt_ranker_free(a);
  return b;
}

/* The live co-watch counts start on top of what the state already holds
 * (model/cowatch.h, p): each item's count of users with a positive is
 * estimated from its counters as the largest of plays, likes, comments,
 * shares, follows and purchases (each user counted once per kind; plays
 * include skips and replays, so this leans high, which makes the counts
 * since weigh a little less, never more). */
static int cowatch_priors(lt_feed_t *f) {
  uint32_t n = lt_state_count(f->st, LT_NS_ITEM);
  for (uint32_t i = 0; i < n; i++) {
    const lt_item_counters_t *c = lt_state_item_counters(f->st, i);
    if (!c) continue;
    uint64_t p = c->plays;
    uint64_t k[] = {c->likes, c->comments, c->shares, c->follows, c->purchases};
    for (size_t j = 0; j < sizeof k / sizeof *k; j++)
      if (k[j] > p) p = k[j];
    int rc = p ? lt_cowatch_prior(f->cowatch, i, p > UINT32_MAX ? UINT32_MAX : (uint32_t)p) : 0;
    if (rc) return rc;
  }
  return LT_OK;
}

int lt_feed_new(lt_state_t *st, const lt_feed_opts_t *opts, const char *models_dir,
                lt_feed_t **out) {
  if (!st || !out) return LT_EINVAL;
  *out = NULL;
  if (models_dir && (!*models_dir || strlen(models_dir) > 3800)) return LT_EINVAL;
  lt_feed_t *f = calloc(1, sizeof *f);
  if (!f) return LT_ENOMEM;
  int rc = LT_ENOMEM;
  f->st = st;
  opts_fill(&f->o, opts);
  models_opts(&f->o, &f->mo);
  pthread_mutex_init(&f->train_lock, NULL);
  pthread_mutex_init(&f->prep_mu, NULL);
  for (uint32_t i = 0; i < LT__HOT_N; i++)
    f->hot[i] = LT_NONE;
  for (uint32_t i = 0; i < LT__NEW_N; i++)
    f->new_items[i] = LT_NONE;
  f->req_seed = f->o.request_seed
                    ? lt_mix64(f->o.request_seed)
                    : lt_mix64(f->o.seed ^ (uint64_t)lt_now_ms() ^ lt_mono_ns() ^ (uintptr_t)f);
  if ((rc = lt__pol_init(f))) goto fail;
  if (!(f->o.policies_off & LT_POL_LIVE_COWATCH)) {
    lt_cowatch_opts_t co = {f->o.cowatch_window, f->o.cowatch_capacity, f->o.cowatch_shrink};
    if ((rc = lt_cowatch_new(&co, &f->cowatch)) || (rc = cowatch_priors(f))) goto fail;
  }
  rc = LT_ENOMEM;
  if (models_dir && !(f->dir = strdup(models_dir))) goto fail;

  int64_t now = lt_now_ms();
  lt_models_t *m = NULL;
  if (f->dir) {
    uint32_t rejected = 0;
    rc = lt_models_load_newest(f->dir, st, &f->mo, now, NULL, &m, &rejected);
    f->models_rejected = rejected;
    if (rc == LT_ENOMEM) goto fail;
    if (rc) m = NULL;
  }
  if (!m && (rc = lt_models_new_lists(st, &f->mo, now, &m))) goto fail;
  f->cur = m;
  f->version = m->version;
  f->trained_at_ms = m->trained_at_ms;
  if (f->dir) f->ranker = load_ranker(f->dir, m->version);
  if (!f->ranker && (rc = lt_ranker_new(NULL, &f->ranker))) goto fail;
  *out = f;
  return LT_OK;
fail:
  lt_feed_free(f);
  return rc;
}

int lt_feed_save_ranker(lt_feed_t *f) {
  if (!f || !f->dir) return LT_EINVAL;
  if (mkdir(f->dir, 0700) && errno != EEXIST) return lt_err_from_errno(errno);
  char p[4300];
  snprintf(p, sizeof p, "%s/ranker.bin", f->dir);
  return lt_ranker_save(f->ranker, p);
}

/* a block of lt_feed_prepare (see "Before the turn") */
struct lt__prep {
  struct lt__prep *next;
  const lt_record_t *recs;
  size_t n;
  lt_ranker_x_t x[]; /* x[i] for recs[i]; n == 0: none */
};

void lt_feed_free(lt_feed_t *f) {
  if (!f) return;
  if (f->cw_started) {
    lt_feed_settle(f);
    pthread_mutex_lock(&f->cw_mu);
    f->cw_stop = 1;
    pthread_cond_broadcast(&f->cw_cv);
    pthread_mutex_unlock(&f->cw_mu);
    pthread_join(f->cw_th, NULL);
    pthread_mutex_destroy(&f->cw_mu);
    pthread_cond_destroy(&f->cw_cv);
  }
  free(f->cw_buf[0]);
  free(f->cw_buf[1]);
  if (f->dir && f->ranker) lt_feed_save_ranker(f);
  lt_ranker_free(f->ranker);
  lt_models_release(f->cur);
  lt_cowatch_free(f->cowatch);
  lt__pol_free(f);
  pthread_mutex_destroy(&f->train_lock);
  while (f->prep) { /* prepared and never observed (a caller that broke the contract) */
    struct lt__prep *p = f->prep;
    f->prep = p->next;
    free(p);
  }
  pthread_mutex_destroy(&f->prep_mu);
  free(f->dir);
  free(f);
}

/* ---- training --------------------------------------------------------------- */

int lt_feed_train(lt_feed_t *f, int64_t now_ms, FILE *log) {
  if (!f) return LT_EINVAL;
  if (now_ms <= 0) now_ms = lt_now_ms();
  pthread_mutex_lock(&f->train_lock);
  uint64_t t0 = lt_mono_ns();
  uint64_t version = lt_feed_model_version(f) + 1;
  lt_models_t *m = NULL;
  /* co-watches from now on go to the generation served with the new
   * snapshot too (model/cowatch.h); ENOMEM there only loses them */
  (void)lt_cowatch_begin(f->cowatch);
  int rc = lt_models_build(f->st, &f->mo, version, now_ms, log, &m);
  if (rc) {
    lt_cowatch_end(f->cowatch, 0);
    lt__count(&f->train_failures, 1);
    if (log) fprintf(log, "train v%" PRIu64 ": failed: %s\n", version, lt_strerror(rc));
    pthread_mutex_unlock(&f->train_lock);
    return rc;
  }
  int save_rc = LT_OK;
  if (f->dir) {
    uint64_t ts = lt_mono_ns();
    save_rc = lt_models_save(m, f->dir, f->o.keep_models);
    char p[4300];
    if (!save_rc && lt_models_path(f->dir, version, p, sizeof p - 16) == LT_OK) {
      strcat(p, "/ranker.bin");
      save_rc = lt_ranker_save(f->ranker, p);
    }
    if (save_rc) lt__count(&f->save_failures, 1);
    if (log)
      fprintf(log, "train v%" PRIu64 ": save    %8.3f s  %s\n", version,
              (double)(lt_mono_ns() - ts) / 1e9, save_rc ? lt_strerror(save_rc) : f->dir);
  }
  lt_feed_publish(f, m);
  lt_cowatch_end(f->cowatch, 1);
  double secs = (double)(lt_mono_ns() - t0) / 1e9;
  __atomic_store(&f->train_seconds_last, &secs, __ATOMIC_RELAXED);
  double sum = f->train_seconds_sum + secs; /* (only trainings write it, under train_lock) */
  __atomic_store(&f->train_seconds_sum, &sum, __ATOMIC_RELAXED);
  uint32_t tb = 0;
  while (tb < LT__TRAIN_BUCKETS - 1 && secs > lt__train_bounds[tb])
    tb++;
  lt__count(&f->train_bucket[tb], 1);
  for (int s = 0; s < LT_MODELS_STAGES; s++)
    __atomic_store(&f->stage_seconds[s], &m->seconds[s], __ATOMIC_RELAXED);
  lt__count(&f->train_runs, 1);
  if (log) fprintf(log, "train v%" PRIu64 ": total   %8.3f s  published\n", version, secs);
  pthread_mutex_unlock(&f->train_lock);
  return save_rc;
}

/* ---- attribution and online learning ---------------------------------------- */

/* A served word: 32 tag bits of the (request, item) hash | propensity as
 * bfloat16 (16 bits) | exploration code (8) | source (8). The slot comes
 * from other bits of the same hash. */
static uint64_t served_hash(const char *rid, size_t n, uint32_t item) {
  return lt_mix64(lt_hash64(rid, n) ^ lt_mix64((uint64_t)item + 1));
}

static uint32_t served_slot(uint64_t h) { return (uint32_t)h & ((1u << LT__SERVED_BITS) - 1); }

static uint64_t served_tag(uint64_t h) {
  uint64_t t = h >> 32;
  return t ? t : 1; /* a word of 0 is an empty slot */
}

static uint16_t bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

void lt__feed_served_put(lt_feed_t *f, const char *rid, size_t n, uint32_t item, int source,
                         float propensity, uint8_t explore) {
  uint64_t h = served_hash(rid, n, item);
  uint64_t w = served_tag(h) << 32 | (uint64_t)bf16(propensity) << 16 | (uint64_t)explore << 8 |
               (uint8_t)source;
  __atomic_store_n(&f->served[served_slot(h)], w, __ATOMIC_RELAXED);
}

int lt__feed_served_get(const lt_feed_t *f, const char *rid, size_t n, uint32_t item,
                        lt__served_t *out) {
  if (!n) return 0;
  uint64_t h = served_hash(rid, n, item);
  uint64_t w = __atomic_load_n(&f->served[served_slot(h)], __ATOMIC_RELAXED);
  if (w >> 32 != served_tag(h)) return 0;
  out->source = (int)(w & 0xff);
  out->explore = (uint8_t)(w >> 8);
  out->propensity = from_bf16((uint16_t)(w >> 16));
  return 1;
}

int lt__feed_served_source(const lt_feed_t *f, const char *rid, size_t n, uint32_t item) {
  lt__served_t s;
  return lt__feed_served_get(f, rid, n, item, &s) ? s.source : LT_RANKER_NO_SOURCE;
}

void lt_feed_annotate(lt_feed_t *f, lt_record_t *recs, size_t n) {
  if (!f || !recs) return;
  for (size_t i = 0; i < n; i++) {
    lt_event_t *e = &recs[i].u.ev;
    if (recs[i].kind != LT_REC_EVENT || e->type != LT_EV_IMPRESSION || !e->request_id.n) continue;
    if (e->propensity > 0 && e->value) continue;
    uint32_t item;
    lt__served_t s;
    if (lt_state_find(f->st, LT_NS_ITEM, e->item.p, e->item.n, &item) ||
        !lt__feed_served_get(f, e->request_id.p, e->request_id.n, item, &s))
      continue;
    if (!(e->propensity > 0)) e->propensity = s.propensity;
    if (!e->value) e->value = s.explore;
  }
}

static void ring_push(uint32_t *ring, uint32_t n, uint64_t *head, uint32_t item) {
  uint64_t h = __atomic_load_n(head, __ATOMIC_RELAXED); /* single writer */
  if (h && __atomic_load_n(&ring[(h - 1) % n], __ATOMIC_RELAXED) == item) return;
  __atomic_store_n(&ring[h % n], item, __ATOMIC_RELAXED);
  __atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
}

/* Incremental co-watch (model/cowatch.h): an event that makes (user,
 * item) a positive cell of the training matrix — lt_models_user_row's rule
 * applied to the history entry lt_state_apply made of it (the explicit
 * weight, else the watch ratio) — pairs the item with the user's recent
 * positives; not_interested takes it out of them. The verdict on an event:
 * 1 a positive, 0 a not_interested, -1 neither. */
static int cowatch_verdict(const lt_feed_t *f, const lt_event_t *e, uint32_t item) {
  switch (e->type) {
  case LT_EV_NOT_INTERESTED:
    return 0;
  case LT_EV_PLAY:
  case LT_EV_LIKE:
  case LT_EV_COMMENT:
  case LT_EV_SHARE:
  case LT_EV_FOLLOW:
  case LT_EV_PURCHASE:
  case LT_EV_GIFT:
    break;
  default:
    return -1;
  }
  const lt_item_meta_t *m = lt_state_item(f->st, item);
  double ratio =
      e->type == LT_EV_PLAY && m && m->duration_ms ? (double)e->watch_ms / m->duration_ms : -1;
  double wq = (e->weight > 0 ? e->weight : ratio >= 0 ? ratio : 0) * 100.0 + 0.5;
  lt_hist_t h = {item, 0, e->watch_ms, e->type, 0, (uint16_t)(wq > UINT16_MAX ? UINT16_MAX : wq)};
  lt_models_pair_t p;
  return lt_models_user_row(f->st, &h, 1, &p) == 1 ? 1 : -1;
}

/* Counts the co-watch of ev[0..n), in order. What an event's positive
 * reads is loaded in three steps meanwhile (lt_cowatch_prefetch): the
 * user's window four events ahead, the items' records two ahead, their
 * tables' lines one ahead. */
static void cowatch_batch(lt_feed_t *f, const struct lt__cw_ev *ev, size_t n) {
  static const size_t ahead[3] = {4, 2, 1};
  for (size_t i = 0; i < n; i++) {
    for (int step = 0; step < 3; step++)
      if (i + ahead[step] < n) {
        const struct lt__cw_ev *e = &ev[i + ahead[step]];
        lt_cowatch_prefetch(f->cowatch, e->user, e->item, step);
      }
    if (ev[i].positive)
      (void)lt_cowatch_positive(f->cowatch, ev[i].user, ev[i].item); /* ENOMEM: uncounted */
    else
      lt_cowatch_negative(f->cowatch, ev[i].user, ev[i].item);
  }
  lt_cowatch_done(f->cowatch);
}

/* The applied events of recs[0..n) that the co-watch counts, with their
 * verdicts (taken here, from the state: the helper reads nothing else, so
 * the state may go before lt_feed_free), in cw_buf[cw_next] (which the
 * helper is not counting); *n_out of them. NULL when that buffer cannot
 * grow (ENOMEM): the batch goes uncounted. */
static const struct lt__cw_ev *cowatch_copy(lt_feed_t *f, const lt_record_t *recs, size_t n,
                                            size_t *n_out) {
  int k = f->cw_next;
  if (f->cw_cap[k] < n) {
    struct lt__cw_ev *p = realloc(f->cw_buf[k], n * sizeof *p);
    if (!p) return NULL;
    f->cw_buf[k] = p;
    f->cw_cap[k] = n;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const lt_event_t *e = &recs[i].u.ev;
    uint32_t user, item;
    if (recs[i].kind != LT_REC_EVENT || lt_state_event_ids(f->st, e, &user, &item)) continue;
    int v = cowatch_verdict(f, e, item);
    if (v >= 0) f->cw_buf[k][m++] = (struct lt__cw_ev){user, item, (uint8_t)v};
  }
  *n_out = m;
  return f->cw_buf[k];
}

static void *cowatch_main(void *arg) {
  lt_feed_t *f = arg;
  pthread_mutex_lock(&f->cw_mu);
  for (;;) {
    while (!f->cw_job && !f->cw_stop)
      pthread_cond_wait(&f->cw_cv, &f->cw_mu);
    if (!f->cw_job) break; /* stopped, nothing handed over */
    const struct lt__cw_ev *ev = f->cw_job;
    size_t n = f->cw_n;
    pthread_mutex_unlock(&f->cw_mu);
    cowatch_batch(f, ev, n);
    pthread_mutex_lock(&f->cw_mu);
    f->cw_job = NULL;
    f->cw_busy = 0;
    pthread_cond_broadcast(&f->cw_cv);
  }
  pthread_mutex_unlock(&f->cw_mu);
  return NULL;
}

/* Hands ev (cw_buf[cw_next]) to the co-watch helper (started on first
 * use), which must be idle. Returns 0 when it took them (cw_next flips);
 * otherwise the caller counts them itself. */
static int cowatch_hand_over(lt_feed_t *f, const struct lt__cw_ev *ev, size_t n) {
  if (!f->cw_started) {
    pthread_mutex_init(&f->cw_mu, NULL);
    pthread_cond_init(&f->cw_cv, NULL);
    if (pthread_create(&f->cw_th, NULL, cowatch_main, f)) {
      pthread_mutex_destroy(&f->cw_mu);
      pthread_cond_destroy(&f->cw_cv);
      return -1; /* no thread: count here (and try again next batch) */
    }
    f->cw_started = 1;
  }
  pthread_mutex_lock(&f->cw_mu);
  f->cw_job = ev;
  f->cw_n = n;
  f->cw_busy = 1;
  pthread_cond_broadcast(&f->cw_cv);
  pthread_mutex_unlock(&f->cw_mu);
  f->cw_next ^= 1;
  return 0;
}

void lt_feed_settle(lt_feed_t *f) {
  if (!f || !f->cw_started) return;
  pthread_mutex_lock(&f->cw_mu);
  while (f->cw_busy)
    pthread_cond_wait(&f->cw_cv, &f->cw_mu);
  pthread_mutex_unlock(&f->cw_mu);
}

/* The ranker features of an event's example are computed beforehand for
 * the events that may open one (lt_ranker_observe). */
static int opens_example(const lt_record_t *r) {
  return r->kind == LT_REC_EVENT && r->u.ev.ids_set &&
         (r->u.ev.type == LT_EV_IMPRESSION || r->u.ev.type == LT_EV_PLAY);
}

void lt_feed_prepare(void *ctx, const lt_record_t *recs, size_t n) {
  lt_feed_t *f = ctx;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += opens_example(&recs[i]);
  if (!f || !k) return;
  struct lt__prep *p = malloc(sizeof *p + n * sizeof p->x[0]);
  if (!p) return; /* lt_feed_observe computes them itself */
  p->recs = recs;
  p->n = n;
  for (size_t i = 0; i < n; i++) {
    const lt_event_t *e = &recs[i].u.ev;
    p->x[i].n = 0;
    if (!opens_example(&recs[i])) continue;
    int source = lt__feed_served_source(f, e->request_id.p, e->request_id.n, e->item_id);
    lt_ranker_example(f->ranker, f->st, e, e->user_id, e->item_id, source, &p->x[i]);
  }
  pthread_mutex_lock(&f->prep_mu);
  p->next = f->prep;
  f->prep = p;
  pthread_mutex_unlock(&f->prep_mu);
}

/* Takes the block lt_feed_prepare made for recs[0..n), or NULL. */
static struct lt__prep *prepared(lt_feed_t *f, const lt_record_t *recs, size_t n) {
  pthread_mutex_lock(&f->prep_mu);
  struct lt__prep **pp = &f->prep;
  while (*pp && ((*pp)->recs != recs || (*pp)->n != n))
    pp = &(*pp)->next;
  struct lt__prep *p = *pp;
  if (p) *pp = p->next;
  pthread_mutex_unlock(&f->prep_mu);
  return p;
}

void lt_feed_observe(lt_feed_t *f, const lt_record_t *recs, size_t n) {
  if (!f || !recs) return;
  struct lt__prep *prep = prepared(f, recs, n);
  if (f->cowatch) { /* on the helper, or here for a small batch (design note) */
    size_t m = 0;
    const struct lt__cw_ev *ev = cowatch_copy(f, recs, n, &m);
    lt_feed_settle(f); /* the batch before is counted: log order */
    if (ev && (m < LT__CW_PARALLEL || cowatch_hand_over(f, ev, m))) cowatch_batch(f, ev, m);
  }
  static const size_t ahead[2] = {4, 2};
  for (size_t i = 0; i < n; i++) {
    const lt_record_t *r = &recs[i];
    uint32_t item, user;
    for (int step = 0; step < 2; step++) /* what the policies and ranker read, ahead */
      if (i + ahead[step] < n) {
        const lt_record_t *a = &recs[i + ahead[step]];
        lt__pol_prefetch(f, a, step);
        if (a->kind == LT_REC_EVENT && a->u.ev.ids_set)
          lt_ranker_prefetch(f->ranker, a->u.ev.user_id, a->u.ev.item_id, step);
      }
    lt__pol_observe(f, r);
    if (r->kind == LT_REC_ITEM_PUT) {
      if (lt_state_find(f->st, LT_NS_ITEM, r->u.item.id.p, r->u.item.id.n, &item) == LT_OK)
        ring_push(f->new_items, LT__NEW_N, &f->new_head, item);
      continue;
    }
    if (r->kind != LT_REC_EVENT) continue;
    const lt_event_t *e = &r->u.ev;
    if (lt_state_event_ids(f->st, e, &user, &item))
      continue; /* not applied (rejected): nothing to learn */
    if (e->ts_ms > f->clock_ms) __atomic_store_n(&f->clock_ms, e->ts_ms, __ATOMIC_RELAXED);
    if (prep && prep->x[i].n) {
      lt_ranker_observe(f->ranker, f->st, e, user, item, LT_RANKER_NO_SOURCE, &prep->x[i]);
      lt__count(&f->prepared, 1);
    } else {
      int source = lt__feed_served_source(f, e->request_id.p, e->request_id.n, item);
      lt_ranker_observe(f->ranker, f->st, e, user, item, source, NULL);
    }
    lt__count(&f->observed, 1);
    switch (e->type) {
    case LT_EV_PLAY:
    case LT_EV_LIKE:
    case LT_EV_COMMENT:
    case LT_EV_SHARE:
    case LT_EV_FOLLOW:
    case LT_EV_PURCHASE:
    case LT_EV_GIFT:
      ring_push(f->hot, LT__HOT_N, &f->hot_head, item);
      break;
    default:
      break;
    }
  }
  free(prep);
}

/* ---- metrics ------------------------------------------------------------------ */

/* A Prometheus histogram: nb counters (the last one +Inf) with the upper
 * bounds bounds[0..nb-1), their running total as _count, sum as _sum. */
static void histogram(FILE *out, const char *name, const char *help, const double *bounds,
                      const uint64_t *counts, int nb, double sum) {
  fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int b = 0; b < nb; b++) {
    cum += lt__load(&counts[b]);
    if (b < nb - 1)
      fprintf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[b], cum);
    else
      fprintf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
  }
  fprintf(out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, sum, name, cum);
}

void lt_feed_metrics(const lt_feed_t *f, FILE *out) {
  if (!f || !out) return;
  lt_feed_t *mf = (lt_feed_t *)f; /* counters are atomics; nothing changes */
  lt_models_t *m = lt__feed_models(mf);
  fprintf(out, "# HELP laotie_model_version Version of the published model snapshot.\n");
  fprintf(out, "# TYPE laotie_model_version gauge\nlaotie_model_version %" PRIu64 "\n", m->version);
  fprintf(out, "# HELP laotie_model_trained_timestamp_seconds When the published model was "
               "trained.\n# TYPE laotie_model_trained_timestamp_seconds gauge\n");
  fprintf(out, "laotie_model_trained_timestamp_seconds %.3f\n", m->trained_at_ms / 1000.0);
  fprintf(out, "# TYPE laotie_model_items gauge\nlaotie_model_items %u\n", m->nitems);
  fprintf(out, "# TYPE laotie_model_users gauge\nlaotie_model_users %u\n", m->nusers);
  fprintf(out, "# TYPE laotie_model_interactions gauge\nlaotie_model_interactions %" PRIu64 "\n",
          m->nnz);
  lt_models_release(m);
  fprintf(out, "# HELP laotie_train_runs_total Model trainings completed.\n");
  fprintf(out, "# TYPE laotie_train_runs_total counter\nlaotie_train_runs_total %" PRIu64 "\n",
          lt__load(&f->train_runs));
  fprintf(out,
          "# TYPE laotie_train_failures_total counter\nlaotie_train_failures_total %" PRIu64 "\n",
          lt__load(&f->train_failures));
  fprintf(out,
          "# TYPE laotie_model_save_failures_total counter\n"
          "laotie_model_save_failures_total %" PRIu64 "\n",
          lt__load(&f->save_failures));
  fprintf(out,
          "# TYPE laotie_models_rejected_total counter\nlaotie_models_rejected_total %" PRIu64 "\n",
          lt__load(&f->models_rejected));
  double secs;
  __atomic_load(&f->train_seconds_last, &secs, __ATOMIC_RELAXED);
  fprintf(out, "# HELP laotie_train_seconds_last Duration of the last training.\n");
  fprintf(out, "# TYPE laotie_train_seconds_last gauge\nlaotie_train_seconds_last %.6f\n", secs);
  __atomic_load(&f->train_seconds_sum, &secs, __ATOMIC_RELAXED);
  histogram(out, "laotie_train_seconds", "Durations of the trainings since start.",
            lt__train_bounds, f->train_bucket, LT__TRAIN_BUCKETS, secs);
  fprintf(out, "# TYPE laotie_train_stage_seconds_last gauge\n");
  for (int s = 0; s < LT_MODELS_STAGES; s++) {
    __atomic_load(&f->stage_seconds[s], &secs, __ATOMIC_RELAXED);
    fprintf(out, "laotie_train_stage_seconds_last{stage=\"%s\"} %.6f\n", lt_models_stage_name(s),
            secs);
  }
  fprintf(out, "# HELP laotie_feed_requests_total Feed requests served.\n");
  fprintf(out,
          "# TYPE laotie_feed_requests_total counter\nlaotie_feed_requests_total %" PRIu64 "\n",
          lt__load(&f->requests));
  fprintf(out,
          "# TYPE laotie_feed_cold_start_requests_total counter\n"
          "laotie_feed_cold_start_requests_total %" PRIu64 "\n",
          lt__load(&f->cold_requests));
  fprintf(out,
          "# TYPE laotie_feed_empty_responses_total counter\n"
          "laotie_feed_empty_responses_total %" PRIu64 "\n",
          lt__load(&f->empty_requests));
  fprintf(out,
          "# TYPE laotie_similar_requests_total counter\n"
          "laotie_similar_requests_total %" PRIu64 "\n",
          lt__load(&f->similar_requests));
  fprintf(out, "# HELP laotie_feed_ann_retrievals_total Feed requests' ANN retrievals: from the "
               "user's list kept at training, or by a search.\n");
  fprintf(out, "# TYPE laotie_feed_ann_retrievals_total counter\n");
  fprintf(out, "laotie_feed_ann_retrievals_total{how=\"list\"} %" PRIu64 "\n",
          lt__load(&f->ann_listed));
  fprintf(out, "laotie_feed_ann_retrievals_total{how=\"search\"} %" PRIu64 "\n",
          lt__load(&f->ann_searched));
  fprintf(out, "# HELP laotie_feed_items_total Items served in feeds, by candidate source.\n");
  fprintf(out, "# TYPE laotie_feed_items_total counter\n");
  for (int s = 0; s < LT_SRC__COUNT; s++)
    fprintf(out, "laotie_feed_items_total{source=\"%s\"} %" PRIu64 "\n", lt_feed_source_name(s),
            lt__load(&f->items_by_source[s]));
  histogram(out, "laotie_feed_request_seconds", "In-process time of a feed request.",
            lt__lat_bounds, f->lat_bucket, LT__LAT_BUCKETS, lt__load(&f->lat_sum_ns) / 1e9);
  lt_ranker_stats_t rs;
  lt_ranker_stats(f->ranker, &rs);
  fprintf(out, "# HELP laotie_ranker_examples_total Examples the online ranker learned from.\n");
  fprintf(out,
          "# TYPE laotie_ranker_examples_total counter\nlaotie_ranker_examples_total %" PRIu64 "\n",
          rs.examples);
  fprintf(out,
          "# TYPE laotie_ranker_impressions_total counter\n"
          "laotie_ranker_impressions_total %" PRIu64 "\n",
          rs.impressions);
  fprintf(out, "# TYPE laotie_ranker_pending gauge\nlaotie_ranker_pending %" PRIu64 "\n",
          rs.pending);
  fprintf(out,
          "# TYPE laotie_ranker_evicted_total counter\nlaotie_ranker_evicted_total %" PRIu64 "\n",
          rs.evicted);
  fprintf(out,
          "# TYPE laotie_feed_observed_events_total counter\n"
          "laotie_feed_observed_events_total %" PRIu64 "\n",
          lt__load(&f->observed));
  fprintf(out,
          "# HELP laotie_feed_prepared_events_total Observed impressions and plays whose ranker "
          "features were computed before their turn (lt_feed_prepare).\n"
          "# TYPE laotie_feed_prepared_events_total counter\n"
          "laotie_feed_prepared_events_total %" PRIu64 "\n",
          lt__load(&f->prepared));
  lt_cowatch_stats_t cs;
  lt_cowatch_stats(f->cowatch, &cs);
  fprintf(out,
          "# HELP laotie_cowatch_generation Live co-watch counts in use (one per training; "
          "0 = off).\n# TYPE laotie_cowatch_generation gauge\nlaotie_cowatch_generation %u\n",
          cs.generation);
  fprintf(out,
          "# HELP laotie_cowatch_positives_total Positive events counted as co-watches.\n"
          "# TYPE laotie_cowatch_positives_total counter\nlaotie_cowatch_positives_total %" PRIu64
          "\n",
          cs.positives);
  fprintf(out,
          "# TYPE laotie_cowatch_repeats_total counter\nlaotie_cowatch_repeats_total %" PRIu64 "\n",
          cs.repeats);
  fprintf(out,
          "# TYPE laotie_cowatch_busy_reads_total counter\nlaotie_cowatch_busy_reads_total %" PRIu64
          "\n",
          cs.busy);
  fprintf(out, "# TYPE laotie_cowatch_bytes gauge\nlaotie_cowatch_bytes %" PRIu64 "\n", cs.bytes);
  lt__pol_metrics(f, out);
}
