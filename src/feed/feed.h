/*
 * feed.h — the read path: ranked feeds, similar items, and the models
 * they are served from.
 *
 * A feed request for a user runs: candidate sources (following / live
 * now, item-to-item co-watch from recent history, ANN from the user's
 * folded-in vector, trending with time decay, fresh items) -> dedup
 * against what the user has seen -> multi-task scoring (finish, long view
 * with duration debiasing, like, follow, share) -> fusion with weights
 * from the options -> policies (creator diversity, ...) -> response with
 * a source and a human reason per item.
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

#include "state/record.h"
#include "state/state.h"

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
} lt_feed_opts_t;

void lt_feed_opts_default(lt_feed_opts_t *o);

typedef struct lt_feed lt_feed_t;
typedef struct lt_models lt_models_t;

/* Creates the serving engine over a state (which outlives it). models_dir
 * (may be NULL) is where trained models are saved and the newest is
 * loaded from at start. */
int lt_feed_new(lt_state_t *st, const lt_feed_opts_t *opts, const char *models_dir,
                lt_feed_t **out);
void lt_feed_free(lt_feed_t *f);

/* Trains a new model snapshot from the state (iALS, co-watch similarity,
 * ANN index, ...), saves it under models_dir and publishes it. log (may be
 * NULL) gets one line per stage with its time. Safe to run on a background
 * thread while requests are served; concurrent calls run one after the
 * other. The new version is the published one + 1. When saving fails the
 * snapshot is still published and the save error is returned. Returns 0
 * or an LT_E* code. */
int lt_feed_train(lt_feed_t *f, FILE *log);

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

/* Version of the published snapshot (0 = none yet: feeds fall back to
 * non-learned sources). */
uint64_t lt_feed_model_version(const lt_feed_t *f);
/* Unix ms when the published snapshot was trained (0 = none). */
int64_t lt_feed_model_trained_at(const lt_feed_t *f);

typedef struct lt_feed_entry {
  uint32_t item;
  float score;
  uint8_t source; /* lt_feed_source_t */
  uint8_t ad;
  float propensity; /* probability this policy put it in this slot */
  char reason[128];
} lt_feed_entry_t;

typedef struct lt_feed_result {
  char request_id[40];
  uint64_t model_version;
  uint32_t n;
  lt_feed_entry_t items[LT_FEED_MAX];
} lt_feed_result_t;

/* The ranked feed of n items (1..LT_FEED_MAX) for a user given by external
 * id; a user never seen gets a cold-start feed, not an error. now_ms is
 * the request time. Items in the user's history (watched, liked, not
 * interested, ...) and deleted items never appear. Returns 0 or
 * LT_EINVAL. */
int lt_feed_get(lt_feed_t *f, const char *user, size_t user_len, uint32_t n, int64_t now_ms,
                lt_feed_result_t *out);

/* Items most similar to an item (co-watch, then embedding neighbours).
 * out receives up to n entries; *count how many. LT_ENOTFOUND when the
 * item is unknown. */
int lt_feed_similar(lt_feed_t *f, uint32_t item, uint32_t n, lt_feed_entry_t *out,
                    uint32_t *count);

/* Lets the online parts (ranker heads, incremental co-watch) learn from
 * records that were just made durable and applied. Writer path only. */
void lt_feed_observe(lt_feed_t *f, const lt_record_t *recs, size_t n);

/* Prometheus lines for /metrics (model version, trains, timings). */
void lt_feed_metrics(const lt_feed_t *f, FILE *out);

#endif
