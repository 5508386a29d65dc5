/*
 * cowatch.h — co-watch similarity that follows the event stream between
 * trainings: the trained snapshot's neighbour lists (model/models.h) are
 * the base, and the co-watches seen since that training are counted on
 * top of them as events arrive, so "people who watched X also watched Y"
 * and "because you watched X" react within one write, not one training.
 *
 * What is counted (a generation = the counts since one training began):
 *   - each user has a window of their `window` (K) most recent distinct
 *     positive items (positive as the training matrix says; the caller
 *     decides, see feed.c);
 *   - a positive (u, x) with x not in u's window adds 1 to n_x and to
 *     c(x, j) for each j in the window (model/itemcf.h: at most `capacity`
 *     (N, rounded up to buckets) counters per item, Space-Saving eviction
 *     in each bucket), then x enters the window (the oldest leaves);
 *   - x already in the window moves to its front and counts nothing: a
 *     replay, or a like after a play, is one user watching one item;
 *   - not_interested takes the item out of the user's window.
 * Served similarity: the cosine of the summed counts (itemcf.h, "counting
 * on top of a base model"):
 *     (s_ij sqrt(p_i p_j) + c_ij) / sqrt(N_i N_j),   N = p + n
 * with s_ij the snapshot's similarity (0 when j is not among i's listed
 * neighbours), c_ij and n the generation's counts, and p each item's
 * count before the generation: what the previous generation had counted
 * in all when this one opened, and for the first generation what
 * lt_cowatch_prior said (the feed estimates it from the state's
 * counters). So a pair counted since the training weighs as much as the
 * same pair in the training data would: nothing changes for an item
 * nobody watched since, a popular item's list moves only when many of its
 * watchers agree, and an item the snapshot does not know is served from
 * its counts alone (shrink, on the counted part, damps pairs seen by few
 * users).
 *
 * Generations. lt_cowatch_begin (at the start of a training) opens the
 * next generation; from then on every positive goes to the current one
 * and to the next. lt_cowatch_end(1) (once the trained snapshot is
 * published) makes the next one current — it holds everything since the
 * training began, which the new snapshot may lack — and retires the old
 * one; lt_cowatch_end(0) (training failed) drops the next one. Memory is
 * therefore bounded by what happened since the last training began: at
 * most N counters per item touched since then, 32 bytes per item for the
 * counts, (K + 1) x 4 bytes per user for the windows. After a restart the
 * counts start empty (the windows too): the loaded snapshot serves alone
 * until events arrive.
 *
 * Threads: one writer (lt_cowatch_positive / _negative: the store's
 * writer, in log order), one learner at a time (lt_cowatch_begin / _end,
 * the feed's train_lock), and any number of readers (lt_cowatch_acquire,
 * lt_cowatch_neighbors, lt_cowatch_release, lt_cowatch_stats), without
 * locks. Readers hold a reference to a generation for one request; a
 * retired generation is freed when its last reference goes (the learner
 * waits only for readers inside the few instructions of taking a
 * reference, as lt_feed_publish does). Inside a generation, per-item
 * sequence locks (model/itemcf.c) keep a reader from ever seeing a list
 * the writer is changing, without making it wait.
 */
#ifndef LT_MODEL_COWATCH_H
#define LT_MODEL_COWATCH_H

#include "model/itemcf.h"

#include <stddef.h>
#include <stdint.h>

#define LT_COWATCH_MAX_WINDOW 255
#define LT_COWATCH_MAX_CAPACITY 1024

typedef struct lt_cowatch_opts {
  uint32_t window;   /* K; default 20, 1 .. LT_COWATCH_MAX_WINDOW */
  uint32_t capacity; /* N; default 128, 1 .. LT_COWATCH_MAX_CAPACITY */
  float shrink;      /* >= 0; default 5 */
} lt_cowatch_opts_t;

typedef struct lt_cowatch lt_cowatch_t;
/* A reader's reference to the current generation. */
typedef struct lt_cowatch_view lt_cowatch_view_t;

/* Fills *o with the defaults above. */
void lt_cowatch_opts_default(lt_cowatch_opts_t *o);

/* Creates an empty model (generation 1). opts may be NULL for the
 * defaults. Returns 0, LT_EINVAL (an option out of range) or LT_ENOMEM. */
int lt_cowatch_new(const lt_cowatch_opts_t *opts, lt_cowatch_t **out);
/* Frees the model and its windows; no reference may be held. NULL is
 * accepted. */
void lt_cowatch_free(lt_cowatch_t *cw);

/* Writer, before the first positive: item's count before counting starts
 * (p in the rule above). Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_cowatch_prior(lt_cowatch_t *cw, uint32_t item, uint32_t count);

/* Writer: user's positive event on item (see the rules above). Returns 0,
 * LT_EINVAL (an id of UINT32_MAX) or LT_ENOMEM (what was counted stays). */
int lt_cowatch_positive(lt_cowatch_t *cw, uint32_t user, uint32_t item);

/* Writer: a hint that an event of user on item comes soon, in three steps
 * called in order a few events apart (feed.c: four, two and one event
 * ahead): step 0 starts loading the user's window, step 1 the records of
 * the item and of the window's items, step 2 the lines of their tables
 * that a positive would read first. Each is a random read otherwise, and
 * each step needs the one before it in cache. Changes nothing. */
void lt_cowatch_prefetch(lt_cowatch_t *cw, uint32_t user, uint32_t item, int step);

/* Writer: the end of a run of events (a batch). The writer keeps its
 * references to the generations from one event to the next (cowatch.c);
 * this lets go of them, so that one the learner retired is freed now,
 * not at the writer's next event. */
void lt_cowatch_done(lt_cowatch_t *cw);

/* Writer: user said not_interested to item: it leaves the user's window. */
void lt_cowatch_negative(lt_cowatch_t *cw, uint32_t user, uint32_t item);

/* Learner: a training begins (an unfinished next generation is dropped
 * first). Returns 0, LT_EINVAL or LT_ENOMEM (no next generation: the
 * generation that lt_cowatch_end(cw, 1) then starts is empty). */
int lt_cowatch_begin(lt_cowatch_t *cw);
/* Learner: the training ended; published = 1 when its snapshot was
 * published (the next generation becomes current; without one, an empty
 * one does), 0 when it failed (the next generation is dropped). */
void lt_cowatch_end(lt_cowatch_t *cw, int published);

/* Reader: a reference to the current generation (NULL when cw is NULL).
 * Release it with lt_cowatch_release; hold it no longer than a request. */
lt_cowatch_view_t *lt_cowatch_acquire(lt_cowatch_t *cw);
/* Drops a reference; NULL is accepted. */
void lt_cowatch_release(lt_cowatch_view_t *v);

/* Reader: the served neighbours of item: base[0..nbase) (the snapshot's
 * list of item, best first, no repeats; may be empty) combined with the
 * counts of v's generation by the rule above (lt_itemcf_neighbors_over);
 * writes the best max into out (most similar first, ties: smaller id
 * first; out may not overlap base) and their number into *nout. v NULL:
 * base alone. When the writer held item through every attempt to read it,
 * base alone too (counted in lt_cowatch_stats.busy). Returns 0 or
 * LT_EINVAL. */
int lt_cowatch_neighbors(const lt_cowatch_view_t *v, uint32_t item, const lt_itemcf_nb_t *base,
                         size_t nbase, lt_itemcf_nb_t *out, size_t max, size_t *nout);

typedef struct lt_cowatch_stats {
  uint32_t generation; /* id of the current generation (1 at creation) */
  uint32_t items;      /* item ids the current generation covers */
  uint64_t positives;  /* positives counted (new to the user's window) */
  uint64_t repeats;    /* positives of an item already in the window */
  uint64_t busy;       /* reads that fell back to the base list */
  uint64_t bytes;      /* heap memory: generations and windows */
} lt_cowatch_stats_t;

/* Reader: figures for /metrics (any thread). */
void lt_cowatch_stats(lt_cowatch_t *cw, lt_cowatch_stats_t *out);

#endif
