/*
 * feed.h — the read path: ranked feeds, similar items, the models they are
 * served from, and the distribution policies (docs/policies.md).
 *
 * A feed request for a user runs: candidate sources (following / live
 * now, item-to-item co-watch from recent history, ANN from the user's
 * folded-in vector, trending with time decay, exploration candidates from
 * the traffic pools and new items) -> dedup against what the user played
 * and, within seen_window_ms, was shown -> multi-task scoring (finish,
 * long view with duration debiasing, like, follow, share) -> fusion with
 * weights from the options -> policies: the re-ranking ones (traffic-pool
 * bonus, creator exposure fairness, AIGC target, negative feedback), then
 * the page rules (creator diversity, AIGC page cap) and the exploration
 * slots -> response with a source, a human reason naming the policies that
 * touched it, a propensity and an exploration code per item.
 *
 * The policies' state (seen sets, traffic pools, creator exposure, AIGC
 * share, not_interested entries) is a function of the durable records in
 * log order: lt_feed_observe keeps it live, lt_feed_replay rebuilds it at
 * start (see policy.c).
 *
 * Models are immutable snapshots (lt_models_t, built by lt_feed_train
 * from the state) published with lt_feed_publish: readers take a
 * reference for the duration of one request, so a swap never waits for
 * readers and readers never wait for a swap; the old snapshot is freed
 * when its last reader leaves.
 *
 * Threads: lt_feed_get / lt_feed_similar / lt_feed_observe may run on many
 * threads at once, concurrently with the store's single writer applying
 * events to the state. lt_feed_observe must be called in log order by the
 * writer path (after lt_store_write succeeded) so the online ranker learns
 * from what was durable.
 */
#ifndef LT_FEED_FEED_H
#define LT_FEED_FEED_H

#include "ads/ads.h"
#include "state/record.h"
#include "state/state.h"
#include "stats/stats.h"

#include <stdint.h>
#include <stdio.h>

#define LT_FEED_MAX 100 /* most items one request may ask for */

typedef enum {
  LT_SRC_FOLLOWING = 0, /* new from a followed creator (live rooms first) */
  LT_SRC_ITEMCF,        /* co-watched with something in the user's history */
  LT_SRC_ANN,           /* close to the user's taste vector (iALS + ANN) */
  LT_SRC_TRENDING,      /* time-decayed popularity */
  LT_SRC_FRESH,         /* new items being given a first audience */
  LT_SRC_EXPLORE,       /* exploration slot */
  LT_SRC_AD,            /* an ad (monetization) */
  LT_SRC__COUNT
} lt_feed_source_t;

/* "following", "itemcf", "ials", "trending", "fresh", "explore", "ad". */
const char *lt_feed_source_name(int source);

typedef struct lt_feed_opts {
  /* fusion weights of the multi-task heads; default 1, 1, 2, 4, 3 */
  float w_finish, w_long, w_like, w_follow, w_share;
  uint32_t max_per_creator; /* creator diversity per page; default 2 */
  uint32_t candidates;      /* candidates ranked per request; default 500 */
  uint32_t ials_k;          /* factors; default 64 */
  uint32_t ials_iters;      /* default 10 */
  uint32_t threads;         /* training threads; default 2 */
  uint64_t seed;
  /* --- added with the implementation (defaults in lt_feed_opts_default) --- */
  /* blend of the retrieval scores, each standardised over the request's
   * candidates: iALS dot product, co-watch evidence, log popularity */
  float w_ials, w_cowatch, w_pop; /* default 1, 0.7, 0.2 */
  float b_following;    /* bonus of followed creators' items (standard deviations); default 1 */
  uint32_t fresh_every; /* one slot in every fresh_every (the middle one) goes to
                           the best fresh item, fewest impressions first, to give
                           new items a first audience; default 8 */
  float w_rank;         /* weight of the fused ranker heads once warm; default 1 */
  uint32_t rank_warmup; /* impressions learned before w_rank applies fully; default 5000 */
  float recency_tau;    /* co-watch evidence of the r-th newest history item
                           weighs exp(-r / tau); default 20 */
  float ials_alpha, ials_lambda; /* iALS confidence slope and L2; default 1, 10 */
  uint32_t keep_models;          /* model versions kept on disk; default 3 */
  uint32_t ann_ef_construction;  /* HNSW build candidate list; default 200 */

  /* --- distribution policies (docs/policies.md; zero fields get the
   * defaults, a policy is switched off with its bit in policies_off) --- */
  uint32_t policies_off; /* LT_POL_* bits of the policies switched off; default 0 */
  /* seen-dedup: an item impressed to a user is not shown to them again for
   * seen_window_ms (live rooms excepted); the newest seen_cap impressions
   * of each user are remembered. Default 7 days, 4000. */
  int64_t seen_window_ms;
  uint32_t seen_cap;
  /* traffic pools: an item put into the catalog enters pool 0 with a quota
   * of pool_quota impressions; pool k's quota is pool_quota x
   * pool_growth^k. When the quota is used (and pool_judge_ms more of log
   * time has passed for late engagement) the item's engagement per
   * impression is compared with the last pool_peers items judged in the
   * same pool: in the top pool_top_share it moves up (past the last of
   * pool_levels pools it "graduates"), else it leaves the pools and
   * competes organically. With fewer than pool_min_peers peers every item
   * moves up. Items older than pool_max_age_ms leave the pools. Defaults:
   * 3 levels, 300, 10, 0.3, 200 peers, 20, 10 minutes, 7 days. */
  uint32_t pool_levels, pool_quota, pool_growth;
  float pool_top_share;
  /* an item promoted to pool k >= 1 and serving it gains pool_boost x k
   * in the ranking (promotion means a bigger audience: exploration slots
   * alone cannot serve the bigger quotas); default 0.5 */
  float pool_boost;
  uint32_t pool_peers, pool_min_peers;
  int64_t pool_judge_ms, pool_max_age_ms;
  /* exposure fairness: the Gini coefficient of impressions across the
   * creators seen in the last fair_window_ms is recomputed as impressions
   * arrive; while it is above fair_target, each creator whose window
   * exposure e is above the fair_quantile exposure q loses
   * fair_weight x s x log2(e / q) from its score (s = min(1, (gini -
   * target) / 0.1)). Defaults: 0.6, 24 h, 1.0, 0.9. */
  float fair_target;
  int64_t fair_window_ms;
  float fair_weight, fair_quantile;
  /* AIGC: at most floor(aigc_page_cap x n) items flagged aigc on a page of
   * n; while the AIGC share of impressions over fair_window_ms is above
   * aigc_target, AIGC items lose aigc_weight x min(1, share / target - 1).
   * Defaults: 0.3, 0.2, 1.0. */
  float aigc_page_cap, aigc_target, aigc_weight;
  /* exploration: the exploration slots (the middle slot of every
   * fresh_every) draw among the explore_k best-matching exploration
   * candidates (items in a traffic pool with quota left; with pools off,
   * or for items never put in a pool, new items with fewer than
   * explore_max_impressions impressions): uniformly (LT_EXPLORE_EGREEDY)
   * or by Thompson sampling of their engagement (LT_EXPLORE_THOMPSON).
   * Defaults: egreedy, 4 (at most 15), 300. */
  uint32_t explore_mode, explore_k, explore_max_impressions;
  /* negative feedback: not_interested removes the item and, for
   * neg_ttl_ms, takes neg_creator off the score of the creator's items and
   * neg_tag per shared tag (at most 2) for that user. Defaults: 7 days,
   * 2.0, 0.5. */
  int64_t neg_ttl_ms;
  float neg_creator, neg_tag;
  /* incremental co-watch (model/cowatch.h): between trainings each
   * positive event pairs its item with the user's cowatch_window most
   * recent positive items, cowatch_capacity partners are counted per item,
   * and the similarity served is the cosine of the snapshot's counts and
   * those since its training summed (cowatch_shrink damps the counted
   * part of pairs seen by few users). Off with LT_POL_LIVE_COWATCH.
   * Defaults: 20 (at most 255), 128 (at most 1024), 5. */
  uint32_t cowatch_window, cowatch_capacity;
  float cowatch_shrink;
  /* 0 (default): request ids are random per process; otherwise they are
   * a fixed sequence from this seed (reproducible runs: the simulator) */
  uint64_t request_seed;
} lt_feed_opts_t;

/* Bits of lt_feed_opts_t.policies_off. */
enum {
  LT_POL_SEEN = 1,         /* seen-dedup of impressions */
  LT_POL_POOLS = 2,        /* serving traffic pools (stages are still tracked) */
  LT_POL_FAIRNESS = 4,     /* creator exposure discount */
  LT_POL_AIGC = 8,         /* AIGC page cap and target */
  LT_POL_EXPLORE = 16,     /* exploration slots */
  LT_POL_NEGATIVE = 32,    /* creator / tag discount after not_interested */
  LT_POL_LIVE_COWATCH = 64, /* not a policy: co-watch counted between trainings */
  LT_POL_USER_ANN = 128     /* not a policy: per-user ANN lists kept at training */
};

enum { LT_EXPLORE_EGREEDY = 1, LT_EXPLORE_THOMPSON = 2 };

/* Most traffic pool levels. */
#define LT_FEED_MAX_POOLS 8

void lt_feed_opts_default(lt_feed_opts_t *o);

/* Sets one option by its config-file name (docs/policies.md lists them:
 * e.g. "pool_quota" = "300", "traffic_pools" = "off", "seen_window_h" =
 * "168", "explore_mode" = "thompson"). Windows are given in hours (_h) or
 * minutes (_min). Returns 0, or LT_EINVAL with a reason in err (unknown
 * key, malformed or out-of-range value). */
int lt_feed_opts_set(lt_feed_opts_t *o, const char *key, const char *value, char *err,
                     size_t errlen);
/* Calls fn(ctx, key, value, help) for every key lt_feed_opts_set knows,
 * with o's current value as text (for `config print` and the docs). */
void lt_feed_opts_each(const lt_feed_opts_t *o,
                       void (*fn)(void *ctx, const char *key, const char *value, const char *help),
                       void *ctx);

typedef struct lt_feed lt_feed_t;
typedef struct lt_models lt_models_t;

/* Creates the serving engine over a state (which outlives it). models_dir
 * (may be NULL) is where trained models are saved and the newest is
 * loaded from at start. */
int lt_feed_new(lt_state_t *st, const lt_feed_opts_t *opts, const char *models_dir,
                lt_feed_t **out);
void lt_feed_free(lt_feed_t *f);

/* Trains a new model snapshot from the state (iALS, co-watch similarity,
 * ANN index, ...), saves it under models_dir and publishes it. now_ms is
 * the time the snapshot's lists (popular, fresh) are taken at: the
 * serving clock, i.e. the wall clock for a server (0 = the wall clock)
 * and the simulated time for the simulator, whose items are published in
 * simulated time. log (may be NULL) gets one line per stage with its
 * time. Safe to run on a background thread while requests are served;
 * concurrent calls run one after the
 * other. The new version is the published one + 1. When saving fails the
 * snapshot is still published and the save error is returned. Returns 0
 * or an LT_E* code. */
int lt_feed_train(lt_feed_t *f, int64_t now_ms, FILE *log);

/* Publishes m (built by lt_models_build or loaded; see model/models.h),
 * taking over the caller's reference; the previous snapshot is released
 * (freed when its last reader leaves). Readers are never blocked; the call
 * waits only for readers that are inside the few instructions of taking a
 * reference. m may not be NULL. */
void lt_feed_publish(lt_feed_t *f, lt_models_t *m);

/* A reference to the published snapshot (never NULL: before any training
 * it is a version-0 snapshot with the popularity and fresh lists only).
 * Release it with lt_models_release (model/models.h). */
lt_models_t *lt_feed_acquire(lt_feed_t *f);

/* Saves the online ranker's weights to models_dir/ranker.bin (lt_feed_free
 * and lt_feed_train do this too). Returns 0, LT_EINVAL (no models_dir) or
 * an I/O error. */
int lt_feed_save_ranker(lt_feed_t *f);

/* Gives the feed an ads engine (NULL = none, the default): from then on
 * every lt_feed_get page runs lt_ads_fill over its organic items and the
 * ads take their slots (docs/ads.md, "The feed hook"). The engine must
 * outlive the feed's requests; set it before serving. */
void lt_feed_set_ads(lt_feed_t *f, lt_ads_t *ads);
/* The ads engine given with lt_feed_set_ads, or NULL. */
lt_ads_t *lt_feed_ads(const lt_feed_t *f);

/* Version of the published snapshot (0 = none yet: feeds fall back to
 * non-learned sources). */
uint64_t lt_feed_model_version(const lt_feed_t *f);
/* Unix ms when the published snapshot was trained (0 = none). */
int64_t lt_feed_model_trained_at(const lt_feed_t *f);

/* lt_feed_entry_t.flags: the policies that touched an entry (also named at
 * the end of its reason). */
enum {
  LT_FEED_F_AIGC = 1,      /* the item is AI-generated (always labelled) */
  LT_FEED_F_EXPLORE = 2,   /* drawn in an exploration slot */
  LT_FEED_F_POOL = 4,      /* in a traffic pool (pool is its stage) */
  LT_FEED_F_FAIR = 8,      /* its creator's exposure was discounted */
  LT_FEED_F_NEGATIVE = 16, /* discounted after the user's not_interested */
  LT_FEED_F_LIVE = 32      /* a live room, live now */
};

typedef struct lt_feed_entry {
  uint32_t item;
  float score;    /* ads: the winner's eCPM in cents per mille */
  uint8_t source; /* lt_feed_source_t */
  uint8_t ad;     /* an ad (source LT_SRC_AD); then campaign is set */
  uint32_t campaign; /* ads: the dense campaign id (lt_ads_campaign_name); LT_NONE
                        for organic entries */
  float propensity; /* probability this policy put it in this slot */
  char reason[128];
  uint16_t flags;  /* LT_FEED_F_* */
  int8_t pool;     /* traffic pool stage when LT_FEED_F_POOL, else -1 */
  uint8_t explore; /* exploration code: 16 x K + rank + 1 when drawn as the
                      rank-th (0 = best matching) of K exploration
                      candidates; 0 = not an exploration slot */
} lt_feed_entry_t;

typedef struct lt_feed_result {
  char request_id[40];
  uint64_t model_version;
  uint32_t n;
  lt_feed_entry_t items[LT_FEED_MAX];
} lt_feed_result_t;

/* The ranked feed of n items (1..LT_FEED_MAX) for a user given by external
 * id; a user never seen gets a cold-start feed, not an error. now_ms is
 * the request time (<= 0: the wall clock); every window of the request
 * (live, fresh, seen, pools, ads) is read at it. Items in the user's
 * history (watched, liked, not interested, ...) and deleted items never
 * appear. With an ads engine (lt_feed_set_ads) the auction's ads take
 * their slots in the page and the organic items after each shift down;
 * the page keeps its length (the last organic items drop out). Returns 0
 * or LT_EINVAL. */
int lt_feed_get(lt_feed_t *f, const char *user, size_t user_len, uint32_t n, int64_t now_ms,
                lt_feed_result_t *out);

/* Items most similar to an item (co-watch — the snapshot's neighbours
 * combined with the co-watches counted since its training — then
 * embedding neighbours).
 * out receives up to n entries; *count how many. LT_ENOTFOUND when the
 * item is unknown. */
int lt_feed_similar(lt_feed_t *f, uint32_t item, uint32_t n, lt_feed_entry_t *out, uint32_t *count);

/* Lets the online parts (ranker heads, incremental co-watch) learn from
 * records that were just made durable and applied. Writer path only. */
void lt_feed_observe(lt_feed_t *f, const lt_record_t *recs, size_t n);

/* Returns once every record observed so far is counted everywhere:
 * lt_feed_observe hands a large batch's co-watch to a helper thread and
 * returns without waiting for it (the next call does), so the live
 * co-watch counts may be one batch behind the rest. Writer path. */
void lt_feed_settle(lt_feed_t *f);

/* lt_store_prepare_fn (ctx is the lt_feed_t): computes beforehand, on
 * the calling thread, what lt_feed_observe of the same recs pointer will
 * read from the state alone (the ranker features of each impression and
 * play), so that less of it is left for the serial stage. Any number of
 * calls may run at once, and alongside lt_feed_observe. Each call must be
 * followed by lt_feed_observe(f, recs, n) (the store does this). */
void lt_feed_prepare(void *ctx, const lt_record_t *recs, size_t n);

/* lt_store_observer_fn for lt_store_scan at start (ctx is the lt_feed_t):
 * rebuilds the policy state (seen sets, traffic pools, creator exposure,
 * AIGC share, negative feedback) from the whole log, record by record as
 * lt_feed_observe would have built it; the ranker and models are not
 * touched (they are saved with the models). Call it after lt_feed_new and
 * before records are observed. */
void lt_feed_replay(void *ctx, const lt_record_t *recs, size_t n);

/* Fills the exploration fields of impression events from what the feed
 * served: for each impression whose request_id and item match a served
 * entry, a propensity of 0 becomes the one the policy used and a value of 0
 * the entry's exploration code (lt_feed_entry_t.explore), so the log can
 * be evaluated off-policy (eval/ope.h) even when clients do not echo them.
 * Call before lt_store_write; recs are modified in place. */
void lt_feed_annotate(lt_feed_t *f, lt_record_t *recs, size_t n);

/* Traffic-pool status of an item (lt_feed_item_pool). */
typedef enum {
  LT_POOL_NONE = 0,  /* never entered (not put as new, or a live room) */
  LT_POOL_IN,        /* serving its current pool's quota */
  LT_POOL_JUDGING,   /* quota used, waiting for late engagement */
  LT_POOL_ORGANIC,   /* left the pools after a judgement: competes organically */
  LT_POOL_GRADUATED, /* passed the last pool */
  LT_POOL_EXPIRED    /* aged out (pool_max_age_ms) or deleted while in a pool */
} lt_pool_status_t;

typedef struct lt_feed_pool_info {
  int status;              /* lt_pool_status_t */
  const char *status_name; /* "none", "pool", "judging", "organic", "graduated", "expired" */
  int stage;               /* current pool, -1 when not in one */
  int reached;             /* highest pool entered, -1 when never */
  uint32_t impressions;    /* in the current (or last) pool */
  uint32_t quota;          /* of the current (or last) pool */
  double engagement;       /* duration-debiased engagement per impression there */
  double score;            /* at the last judgement (0 before) */
  double threshold;        /* the bar of the last judgement (-1: none, bootstrap) */
  int64_t entered_ms;      /* when it entered the current (or last) pool */
} lt_feed_pool_info_t;

/* The item's traffic-pool stage as of the newest observed record. Returns
 * 0, LT_EINVAL or LT_ENOTFOUND (unknown item). */
int lt_feed_item_pool(lt_feed_t *f, uint32_t item, lt_feed_pool_info_t *out);

/* lt_stats_pool_fn for lt_stats_set_pool_fn (ctx = the lt_feed_t): an
 * item's traffic-pool stage as the feed serves it (lt_feed_item_pool), so
 * the reports show the pools the feed really runs. Returns 0, or
 * LT_ENOTFOUND for an item the state does not know. */
int lt_feed_stats_pool(void *feed, uint32_t item, lt_stats_pool_view_t *out);

/* Policy figures as of the newest observed record. */
typedef struct lt_feed_policy_stats {
  double gini;              /* creator impressions over the fairness window */
  double fair_strength;     /* s in the fairness discount (0: off) */
  uint32_t fair_creators;   /* creators in the window */
  uint32_t fair_discounted; /* creators discounted now */
  double aigc_share;        /* AIGC share of impressions over the window */
  double aigc_penalty;      /* discount of AIGC items now */
  uint64_t window_impressions;
  uint32_t in_pool[LT_FEED_MAX_POOLS]; /* items serving each pool now */
  uint64_t entered, promoted[LT_FEED_MAX_POOLS], left, graduated, expired;
  uint64_t explore_served, seen_filtered, aigc_capped, neg_discounted, fair_applied;
} lt_feed_policy_stats_t;
void lt_feed_policy_stats(lt_feed_t *f, lt_feed_policy_stats_t *out);

/* Prometheus lines for /metrics (model version, trains, timings). */
void lt_feed_metrics(const lt_feed_t *f, FILE *out);

#endif
