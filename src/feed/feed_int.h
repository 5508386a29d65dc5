/*
 * feed_int.h — the feed engine's internals, shared by feed.c (lifecycle,
 * training, observing, metrics) and feed_get.c (the request path) only
 * (STYLE.md's lt__ tier). Nothing outside src/feed includes this.
 */
#ifndef LT_FEED_INT_H
#define LT_FEED_INT_H

#include "feed/feed.h"
#include "model/models.h"
#include "model/ranker.h"

#include <pthread.h>

#define LT__HOT_N 1024     /* recently engaged items (trending between trains) */
#define LT__NEW_N 256      /* recently put items (fresh between trains) */
#define LT__SERVED_BITS 16 /* request -> source attribution slots */
#define LT__LAT_BUCKETS 8

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

  lt_ranker_t *ranker; /* written by lt_feed_observe only; read lock-free */

  /* written by requests (any thread), read by lt_feed_observe: slot =
   * hash(request id, item), word = tag bits | source (atomic words) */
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
  uint64_t items_by_source[LT_SRC__COUNT];
  uint64_t lat_count, lat_sum_ns, lat_bucket[LT__LAT_BUCKETS];
  uint64_t train_runs, train_failures, save_failures, models_rejected, observed;
  double train_seconds_last, stage_seconds[LT_MODELS_STAGES]; /* written under train_lock */
};

/* Latency bucket bounds in seconds (the last is +Inf). */
extern const double lt__lat_bounds[LT__LAT_BUCKETS - 1];

/* A reference to the published snapshot (never NULL). */
lt_models_t *lt__feed_models(lt_feed_t *f);

/* Attribution of served items: remembers that request id rid showed item
 * from source; lt__feed_served_source finds it again (LT_RANKER_NO_SOURCE when
 * unknown or overwritten). */
void lt__feed_served_put(lt_feed_t *f, const char *rid, size_t n, uint32_t item, int source);
int lt__feed_served_source(const lt_feed_t *f, const char *rid, size_t n, uint32_t item);

static inline void lt__count(uint64_t *c, uint64_t d) {
  __atomic_add_fetch(c, d, __ATOMIC_RELAXED);
}
static inline uint64_t lt__load(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }

#endif
