/*
 * feed_int.h — the feed engine's internals, shared by feed.c (lifecycle,
 * training, observing, metrics) and feed_get.c (the request path) only
 * (STYLE.md's lt__ tier). Nothing outside src/feed includes this.
 */
#ifndef LT_FEED_INT_H
#define LT_FEED_INT_H

#include "core/chunkvec.h"
#include "feed/feed.h"
#include "model/cowatch.h"
#include "model/models.h"
#include "model/ranker.h"

#include <pthread.h>

#define LT__CW_PARALLEL 64 /* records per batch from which lt_feed_observe splits (feed.c) */

/* An applied event as the co-watch counts it (feed.c): the writer's
 * records are gone once lt_feed_observe returns, the helper may not be. */
struct lt__cw_ev {
  uint32_t user, item;
  uint8_t positive; /* 1: a positive of the user; 0: not_interested */
};
#define LT__HOT_N 1024     /* recently engaged items (trending between trains) */
#define LT__NEW_N 256      /* recently put items (fresh between trains) */
#define LT__SERVED_BITS 18 /* request -> source / propensity attribution slots */
#define LT__LAT_BUCKETS 8
#define LT__TRAIN_BUCKETS 9 /* training durations: 8 bounds and +Inf */

/* ---- policy state (policy.c; design note there) ----------------------- */

#define LT__FAIR_BUCKETS 24        /* the fairness window in 24 buckets */
#define LT__NEG_N 16               /* not_interested entries kept per user */
#define LT__POL_STRIPES 64         /* user locks */
#define LT__POOL_ACTIVE (1u << 17) /* most items serving a pool at once */
#define LT__FAIR_EVERY 5000        /* impressions between fairness updates */

/* One item as the policies see it: its catalog fields as of its last put
 * in log order (so a replay sees what the live run saw) and its traffic
 * pool. Requests read status, stage, impr with relaxed atomic loads. */
typedef struct lt__pol_item {
  uint32_t creator;     /* LT_NONE when unknown */
  uint32_t duration_ms; /* 0 = unknown */
  int64_t published_ms;
  uint8_t kind, aigc, known, had_events;
  uint8_t status; /* lt_pool_status_t */
  int8_t stage;   /* current pool (status IN / JUDGING) */
  int8_t reached; /* highest pool entered (status != NONE) */
  uint8_t pad;
  uint32_t impr;          /* impressions in the current pool */
  float eng;              /* engagement points in the current pool */
  float score, threshold; /* of the last judgement */
  int64_t entered_ms;
  uint32_t slot1; /* index in pol.active + 1, 0 = not listed */
} lt__pol_item_t;

/* A not_interested entry of a user. */
typedef struct lt__neg {
  uint32_t item, creator, ts_s;
  uint32_t ntags, tags[2];
} lt__neg_t;

typedef struct lt__pol_user {
  uint32_t *seen; /* ring of (item, ts seconds) pairs */
  uint32_t scap, slen, shead;
  uint32_t nneg; /* entries pushed (the ring keeps LT__NEG_N) */
  lt__neg_t neg[LT__NEG_N];
} lt__pol_user_t;

typedef struct lt__pol_creator {
  uint32_t cnt[LT__FAIR_BUCKETS]; /* impressions per window bucket */
  int64_t last_b1;                /* newest bucket counted + 1, 0 = none */
  float penalty;                  /* fairness discount in force (atomic) */
  uint32_t listed;                /* in pol.fair_list */
} lt__pol_creator_t;

typedef struct lt__judge {
  uint32_t item;
  int64_t due_ms;
} lt__judge_t;

typedef struct lt__pol {
  lt_chunkvec_t items, users, creators; /* by dense id; grown by the writer */
  pthread_mutex_t user_locks[LT__POL_STRIPES];
  int64_t clock_ms; /* newest event time observed */
  int64_t sweep_b;  /* window bucket of the last pool sweep */
  /* traffic pools */
  uint32_t *active; /* items with status IN / JUDGING; nactive atomic */
  uint32_t nactive;
  lt__judge_t *judge; /* FIFO of items waiting for judgement (due times grow) */
  uint32_t jhead, jlen;
  float *peers[LT_FEED_MAX_POOLS]; /* ring of the scores of the last judged */
  uint32_t npeers[LT_FEED_MAX_POOLS], peer_head[LT_FEED_MAX_POOLS];
  float *sorted; /* scratch for thresholds */
  uint64_t dur_plays[LT_RANKER_DUR_BUCKETS], dur_done[LT_RANKER_DUR_BUCKETS];
  uint64_t all_plays, all_done;
  /* fairness and AIGC windows */
  int64_t bucket_ms, last_b1;
  uint64_t win_all[LT__FAIR_BUCKETS], win_aigc[LT__FAIR_BUCKETS];
  uint32_t since_update;
  uint32_t *fair_list, nfair, fair_cap;
  uint64_t *fair_tmp;
  float gini, strength, aigc_share, aigc_penalty; /* atomics */
  uint32_t fair_creators, fair_discounted;
  uint32_t in_pool[LT_FEED_MAX_POOLS]; /* items serving each pool (atomic) */
  uint64_t window_impressions;
  /* counters (writer: plain; requests: atomic) */
  uint64_t entered, promoted[LT_FEED_MAX_POOLS], left, graduated, expired, pool_full;
  uint64_t explore_served, seen_filtered, aigc_capped, neg_discounted, fair_applied;
} lt__pol_t;

int lt__pol_init(lt_feed_t *f);
void lt__pol_free(lt_feed_t *f);
/* Applies one durable record (log order) to the policy state. */
void lt__pol_observe(lt_feed_t *f, const lt_record_t *r);
/* Starts loading what lt__pol_observe of r will read, in two steps a few
 * records apart: 0 the item's and (impressions) the user's policy
 * records, 1 the user's seen slot (reads the user's record). Writer
 * path, a hint only. */
void lt__pol_prefetch(lt_feed_t *f, const lt_record_t *r, int step);
/* Quota of pool stage. */
uint32_t lt__pol_quota(const lt_feed_t *f, int stage);
/* The policy view of an item, or NULL when the policies never saw it. */
const lt__pol_item_t *lt__pol_item(const lt_feed_t *f, uint32_t item);
/* Copies the items the user was shown at or after since_ms into out (at
 * most max); returns how many. */
size_t lt__pol_seen(lt_feed_t *f, uint32_t user, int64_t since_ms, uint32_t *out, size_t max);
/* Copies the user's not_interested entries at or after since_ms; returns
 * how many (at most LT__NEG_N). */
size_t lt__pol_neg(lt_feed_t *f, uint32_t user, int64_t since_ms, lt__neg_t *out);
/* The fairness discount of a creator now (0 when none). */
float lt__pol_creator_penalty(const lt_feed_t *f, uint32_t creator);
/* Prometheus lines of the policies. */
void lt__pol_metrics(const lt_feed_t *f, FILE *out);

struct lt_feed {
  lt_state_t *st;
  lt_feed_opts_t o;
  lt_models_opts_t mo;
  char *dir; /* models_dir or NULL */

  /* the published snapshot (see lt__feed_models / lt_feed_publish) */
  lt_models_t *cur;   /* atomic pointer */
  uint32_t acquiring; /* atomic: readers between loading cur and ref'ing it */
  uint64_t version;   /* atomic copies of cur's, for the const getters */
  int64_t trained_at_ms;
  pthread_mutex_t train_lock;

  lt_ranker_t *ranker;   /* written by lt_feed_observe only; read lock-free */
  lt_ads_t *ads;         /* lt_feed_set_ads (atomic pointer); NULL = no ads */
  lt_cowatch_t *cowatch; /* live co-watch (NULL when off): counted by lt_feed_observe,
                            generations moved by lt_feed_train, read by requests */
  /* the co-watch helper of lt_feed_observe (feed.c, "Two cores per
   * batch"): started by the first large batch, stopped by lt_feed_free.
   * job is the batch it counts (NULL = none, under cw_mu), one of the two
   * buffers; cw_busy = 1 from the hand over until it is done; the
   * observer fills cw_buf[cw_next], the one the helper is not reading */
  pthread_t cw_th;
  pthread_mutex_t cw_mu;
  pthread_cond_t cw_cv;
  const struct lt__cw_ev *cw_job;
  size_t cw_n;
  int cw_started, cw_busy, cw_stop, cw_next;
  struct lt__cw_ev *cw_buf[2];
  size_t cw_cap[2];
  /* lt_feed_prepare's blocks waiting for their lt_feed_observe (under
   * prep_mu): one per batch in flight, found by its records' address */
  pthread_mutex_t prep_mu;
  struct lt__prep *prep;

  /* written by requests (any thread), read by lt_feed_observe and
   * lt_feed_annotate: slot = hash(request id, item), word = 32 tag bits |
   * propensity (bfloat16) | exploration code | source (atomic words) */
  uint64_t served[1u << LT__SERVED_BITS];
  /* written by lt_feed_observe, read by requests: rings of item ids,
   * LT_NONE when empty; heads count every push (atomic) */
  uint32_t hot[LT__HOT_N];
  uint32_t new_items[LT__NEW_N];
  uint64_t hot_head, new_head;

  uint64_t req_seed, req_counter; /* request ids: mix(seed + counter) */
  int64_t clock_ms;               /* newest event time observed (atomic) */

  /* metrics (atomic counters) */
  uint64_t requests, cold_requests, empty_requests, similar_requests, items_total;
  uint64_t ann_listed, ann_searched; /* ANN retrievals from the user's list / by a search */
  uint64_t items_by_source[LT_SRC__COUNT];
  uint64_t lat_sum_ns, lat_bucket[LT__LAT_BUCKETS]; /* _count: the buckets' sum */
  uint64_t train_runs, train_failures, save_failures, models_rejected, observed;
  uint64_t prepared; /* observed events whose ranker features lt_feed_prepare computed */
  double train_seconds_last, stage_seconds[LT_MODELS_STAGES]; /* written under train_lock */
  uint64_t train_bucket[LT__TRAIN_BUCKETS]; /* trainings by duration (lt__train_bounds) */
  double train_seconds_sum;                 /* written under train_lock */

  lt__pol_t pol; /* the distribution policies' state (policy.c) */
};

/* Latency bucket bounds in seconds (the last is +Inf). */
extern const double lt__lat_bounds[LT__LAT_BUCKETS - 1];
/* Training duration bucket bounds in seconds (the last is +Inf). */
extern const double lt__train_bounds[LT__TRAIN_BUCKETS - 1];

/* A reference to the published snapshot (never NULL). */
lt_models_t *lt__feed_models(lt_feed_t *f);

/* Attribution of served items: remembers that request id rid showed item
 * from source with the given propensity and exploration code;
 * lt__feed_served_get finds them again (returns 0 when unknown or
 * overwritten). */
void lt__feed_served_put(lt_feed_t *f, const char *rid, size_t n, uint32_t item, int source,
                         float propensity, uint8_t explore);
typedef struct lt__served {
  int source;
  float propensity;
  uint8_t explore;
} lt__served_t;
int lt__feed_served_get(const lt_feed_t *f, const char *rid, size_t n, uint32_t item,
                        lt__served_t *out);
/* The source of a served item, LT_RANKER_NO_SOURCE when unknown. */
int lt__feed_served_source(const lt_feed_t *f, const char *rid, size_t n, uint32_t item);

static inline void lt__count(uint64_t *c, uint64_t d) {
  __atomic_add_fetch(c, d, __ATOMIC_RELAXED);
}
static inline uint64_t lt__load(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }

#endif
