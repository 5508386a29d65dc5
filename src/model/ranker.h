/*
 * ranker.h — the online multi-task ranker: five logistic heads trained by
 * FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the
 * Trenches", KDD 2013) on hashed sparse binary features.
 *
 * Heads (what each predicts, given that the item was shown to the user):
 *   LT_HEAD_FINISH  the video is watched to the end (watch >= finish_ratio
 *                   of its duration);
 *   LT_HEAD_LONG    a "long view": the watch time is above the long_quantile
 *                   (default the median) of the watch times of videos of
 *                   similar duration. Durations are bucketed and each bucket
 *                   keeps a histogram of watch times, so a 10 s watch is long
 *                   for a 12 s clip and short for a 5 minute video (duration
 *                   debiasing as in Kuaishou's D2Q, Zhan et al., KDD 2022);
 *   LT_HEAD_LIKE, LT_HEAD_FOLLOW, LT_HEAD_SHARE  the user liked / followed
 *                   the creator / shared after seeing it.
 *
 * Features (one weight slot each, hashed into 2^bits slots; every head has
 * its own weight in a slot): bias, user, item, creator, up to 4 tags,
 * user x tag, user-tag affinity bucket, item completion-rate bucket, item
 * like-rate bucket, source, position bucket, duration bucket, freshness
 * bucket, item kind.
 *
 * Learning online (lt_ranker_observe, fed the durable event records in log
 * order): an impression — or a play with no impression before it — opens
 * a pending example for (user, item) with its features as of that moment;
 * plays, likes, follows, shares and not_interested for the same pair within
 * window_ms update its labels; when the window has passed (judged by the
 * newest event time seen), or the bounded pending table needs the room,
 * the example is closed and every head with a defined label takes one FTRL
 * step. Finish and long need a known duration; without one those heads
 * skip the example.
 *
 * Threads: one writer (lt_ranker_observe, lt_ranker_learn, lt_ranker_flush,
 * lt_ranker_duration_add — the caller serialises them) and any number of
 * concurrent readers (lt_ranker_features, lt_ranker_predict, lt_ranker_save,
 * lt_ranker_stats, lt_ranker_long_threshold) with no lock: weights are
 * floats written and read with relaxed atomic stores and loads, so a reader
 * sees each weight either before or after an update (a prediction may mix
 * weights of two consecutive updates, which is harmless for ranking).
 *
 * Typical use:
 *   lt_ranker_t *r; lt_ranker_new(NULL, &r);
 *   lt_ranker_observe(r, st, &rec.u.ev, user, item, LT_RANKER_NO_SOURCE, NULL);  // writer
 *   lt_ranker_user_t u; lt_ranker_user_init(&u, st, user, hist, nhist, LT_NONE);
 *   lt_ranker_x_t x; lt_ranker_features(r, st, &u, item, source, pos, now, &x);
 *   float p[LT_RANKER_HEADS]; lt_ranker_predict(r, &x, p);                 // readers
 *   lt_ranker_save(r, "models/ranker.bin"); lt_ranker_free(r);
 */
#ifndef LT_MODEL_RANKER_H
#define LT_MODEL_RANKER_H

#include "state/record.h"
#include "state/state.h"

#include <stddef.h>
#include <stdint.h>

enum {
  LT_HEAD_FINISH = 0,
  LT_HEAD_LONG,
  LT_HEAD_LIKE,
  LT_HEAD_FOLLOW,
  LT_HEAD_SHARE,
  LT_RANKER_HEADS
};

/* Most features one example has. */
#define LT_RANKER_MAX_FEAT 24
/* Tags of the user profile kept for the user x tag features. */
#define LT_RANKER_PROFILE 32
/* Number of duration buckets (see lt_ranker_duration_bucket). */
#define LT_RANKER_DUR_BUCKETS 12
/* Source value meaning "not known" (e.g. a play with no feed request). */
#define LT_RANKER_NO_SOURCE 255

typedef struct lt_ranker_opts {
  uint32_t bits;           /* log2 of the weight slots; default 18 (8 MiB of weights) */
  float alpha, beta;       /* FTRL learning-rate schedule; default 0.1, 1 */
  float l1, l2;            /* FTRL regularisation; default 0.5, 1 */
  uint32_t pending;        /* pending examples kept for joining; default 65536 */
  int64_t window_ms;       /* join window after the impression; default 30 min */
  float finish_ratio;      /* watch / duration counted as finished; default 0.9 */
  float long_quantile;     /* quantile of the duration bucket; default 0.5 */
  uint32_t long_min_count; /* plays in a bucket before its own quantile is used
                              (before: long_quantile x the bucket's typical
                              duration); default 50 */
  uint64_t seed;           /* feature hashing seed; default 0 */
} lt_ranker_opts_t;

typedef struct lt_ranker lt_ranker_t;

/* The features of one (user, item) example: slot numbers. */
typedef struct lt_ranker_x {
  uint32_t n;
  uint32_t slot[LT_RANKER_MAX_FEAT];
} lt_ranker_x_t;

/* What the features need to know about the user, computed once per request
 * (lt_ranker_user_init) and shared by every candidate. */
typedef struct lt_ranker_user {
  uint32_t user;  /* LT_NONE: unknown user (no user features) */
  uint32_t ntags; /* distinct tags in the profile */
  uint32_t total; /* tag occurrences counted */
  uint32_t tag[LT_RANKER_PROFILE];
  uint32_t cnt[LT_RANKER_PROFILE];
} lt_ranker_user_t;

typedef struct lt_ranker_stats {
  uint64_t examples;    /* examples learned (all heads together count once) */
  uint64_t impressions; /* of which opened by an impression */
  uint64_t updates;     /* head updates */
  uint64_t pending;     /* examples waiting for their window to close */
  uint64_t evicted;     /* closed early because the pending table was full */
  uint64_t positives[LT_RANKER_HEADS];
} lt_ranker_stats_t;

/* Fills *o with the defaults listed above. */
void lt_ranker_opts_default(lt_ranker_opts_t *o);

/* Creates a ranker with all weights 0 (every head predicts 0.5). opts may be
 * NULL. *out is owned by the caller until lt_ranker_free(). Returns 0,
 * LT_EINVAL (bits outside [10, 26], a negative or non-finite rate, pending
 * 0, quantile outside (0, 1)) or LT_ENOMEM. */
int lt_ranker_new(const lt_ranker_opts_t *opts, lt_ranker_t **out);

/* Frees a ranker (pending examples are dropped); NULL is accepted. */
void lt_ranker_free(lt_ranker_t *r);

/* The options in force (as given, or as loaded). */
const lt_ranker_opts_t *lt_ranker_opts(const lt_ranker_t *r);

/* ---- readers ----------------------------------------------------------- */

/* Builds the user context from the user's history h[0..n) (oldest first;
 * the newest 64 entries are used). Entries of item `exclude` (LT_NONE: none)
 * and not_interested entries are skipped. user may be LT_NONE. */
void lt_ranker_user_init(lt_ranker_user_t *u, const lt_state_t *st, uint32_t user,
                         const lt_hist_t *h, size_t n, uint32_t exclude);

/* Computes the features of showing item to the user u at now_ms from
 * source (an lt_feed_source_t or LT_RANKER_NO_SOURCE) in slot position
 * (-1: unknown), reading the item's metadata and counters from st. It
 * prefetches the weights: scoring many candidates is fastest computing the
 * features of the next candidate before predicting the current one. */
void lt_ranker_features(const lt_ranker_t *r, const lt_state_t *st, const lt_ranker_user_t *u,
                        uint32_t item, int source, int32_t position, int64_t now_ms,
                        lt_ranker_x_t *x);

/* The features lt_ranker_observe opens the example of event ev with
 * (user, item: its dense ids; source as there): the user's recent history
 * and the item as st has them now. A reader, so the costly part of
 * observing an impression or a play can be done on another thread before
 * the event's turn (st is not const: the history copy takes its stripe
 * lock). */
void lt_ranker_example(const lt_ranker_t *r, lt_state_t *st, const lt_event_t *ev, uint32_t user,
                       uint32_t item, int source, lt_ranker_x_t *x);

/* p[h] = the probability of head h's outcome for features x. Lock-free. */
void lt_ranker_predict(const lt_ranker_t *r, const lt_ranker_x_t *x, float p[LT_RANKER_HEADS]);

/* Counters (approximate under a concurrent writer). */
void lt_ranker_stats(const lt_ranker_t *r, lt_ranker_stats_t *out);

/* Duration bucket of a video of duration_ms (0 = unknown -> the last one). */
uint32_t lt_ranker_duration_bucket(uint32_t duration_ms);

/* The watch time (ms) above which a view of a video of duration_ms counts
 * as long, or 0 when the duration is unknown. */
uint32_t lt_ranker_long_threshold(const lt_ranker_t *r, uint32_t duration_ms);

/* 1 when watching watch_ms of a video of duration_ms is a long view. */
int lt_ranker_is_long(const lt_ranker_t *r, uint32_t duration_ms, uint32_t watch_ms);

/* ---- writer ------------------------------------------------------------ */

/* Learns from one event record after it was applied to st: user and item
 * are its dense ids, source where the feed put the item (or
 * LT_RANKER_NO_SOURCE). x is the event's lt_ranker_example computed
 * beforehand, or NULL: computed here when the event opens an example.
 * st is only read (its history copy takes the state's stripe lock, hence
 * not const). Events other than impression, play, like, follow, share and
 * not_interested only advance the clock. Returns 0 or LT_EINVAL. */
int lt_ranker_observe(lt_ranker_t *r, lt_state_t *st, const lt_event_t *ev, uint32_t user,
                      uint32_t item, int source, const lt_ranker_x_t *x);

/* Starts loading what lt_ranker_observe of an event of (user, item) will
 * read, in two steps a few events apart: 0 the pending index's slots for
 * the pair and for the example the next open will close, 1 the entries
 * they point to and (for that example) its weights and FTRL state (reads
 * what step 0 loaded). A hint for the writer: no effect. */
void lt_ranker_prefetch(const lt_ranker_t *r, uint32_t user, uint32_t item, int step);

/* Closes every pending example opened before now_ms - window_ms (all of
 * them with now_ms = INT64_MAX) and learns from them. */
void lt_ranker_flush(lt_ranker_t *r, int64_t now_ms);

/* One FTRL step on every head whose bit is set in mask, with label bit h of
 * labels (1 = the outcome happened). For offline training and tests. */
void lt_ranker_learn(lt_ranker_t *r, const lt_ranker_x_t *x, unsigned mask, unsigned labels);

/* Adds one play of watch_ms to the duration bucket of duration_ms (the
 * observe path does this for every play with a known duration). */
void lt_ranker_duration_add(lt_ranker_t *r, uint32_t duration_ms, uint32_t watch_ms);

/* ---- persistence ------------------------------------------------------- */

/* Writes the weights, learning state and duration histograms (not the
 * pending examples) to path atomically (temp file, fsync, rename, fsync of
 * the directory). May run concurrently with the writer: each weight is read
 * atomically, the file as a whole is a blend of consecutive states.
 * Format in ranker.c. Returns 0, LT_EINVAL, LT_EIO or LT_ENOSPACE. */
int lt_ranker_save(const lt_ranker_t *r, const char *path);

/* Reads a ranker written by lt_ranker_save into a new ranker (*out, owned
 * by the caller). The size, magic, version, options and the XXH3 checksum
 * are verified and every value must be finite: a truncated or corrupt file
 * gives LT_ECORRUPT (LT_EVERSION for an unknown version) and nothing.
 * pending and window_ms are taken from opts when not NULL. Returns 0,
 * LT_EINVAL, LT_ENOTFOUND, LT_EIO, LT_ECORRUPT, LT_EVERSION or LT_ENOMEM. */
int lt_ranker_load(const char *path, const lt_ranker_opts_t *opts, lt_ranker_t **out);

#endif
