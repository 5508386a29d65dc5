/*
 * itemcf.h — item-to-item similarity from co-watching ("people who watched
 * this also watched"), batch-built or updated event by event.
 *
 * For items i and j, let n_i be the number of users who watched i and
 * c_ij the number of users who watched both. The similarity is the cosine
 * of the binary user vectors:
 *     sim(i, j) = c_ij / (sqrt(n_i * n_j) + shrink)
 * (shrink = 0 by default; a positive shrink damps pairs seen by few users).
 * Weights and repeats do not count: a user either watched an item or not.
 *
 * Counting on top of a base model (the serving case, model/cowatch.h): a
 * model may start counting where another left off. p_i, item i's prior
 * count (lt_itemcf_set_prior), is n_i as the base knew it; N_i = p_i +
 * n_i; and the base's similarities come with the read
 * (lt_itemcf_neighbors_over). A base similarity s_ij stands for s_ij
 * sqrt(p_i p_j) co-watches, so the served similarity is the cosine of the
 * summed counts:
 *     (s_ij sqrt(p_i p_j) + c_ij) / sqrt(N_i N_j)     (shrink on c_ij only)
 * — the base's value when nothing was counted since, the plain cosine of
 * the counts for items the base never saw (p = 0). Without priors (all
 * p = 0, the default) everything above reduces to the plain cosine.
 *
 * Bounded memory: each item keeps at most `capacity` co-occurrence
 * counters, rounded up to whole buckets (lt_itemcf_capacity: 5 counters
 * to a bucket, a power of two of buckets; 128 -> 160). A partner has one
 * bucket, chosen by hash. The batch build keeps, per item, the partners
 * with the highest similarity (exact counts), at most `capacity`, best
 * first as long as their buckets have room (a partner whose bucket is
 * full of better ones is left out). When an incremental update meets a
 * full bucket in a table of full size, the bucket's smallest counter gives
 * way and the newcomer takes that count + 1 (the Space-Saving heavy-hitter
 * rule, Metwally et al. 2005, in each bucket): a partner with more than a
 * fifth of the pairs that fall in its bucket is never lost (with
 * uniformly hashed partners, about a 1/capacity share of the item's
 * pairs), and kept counts overestimate by at most the evicted count
 * (similarities use the count less that, a number of co-watches that is
 * certain).
 * Memory is O(nitems * capacity) whatever the number of events.
 *
 * Threads: one writer (lt_itemcf_observe) and any number of readers
 * (lt_itemcf_neighbors, lt_itemcf_neighbors_over, lt_itemcf_count,
 * lt_itemcf_nitems, lt_itemcf_memory) at once, with no lock: each item is
 * changed under its own sequence lock, and a reader retries an item the
 * writer was changing (itemcf.c's design note), so it never waits for the
 * writer and never sees a half-changed list. lt_itemcf_build and
 * lt_itemcf_free need exclusive access.
 *
 * Typical use:
 *   lt_itemcf_t *cf; lt_itemcf_build(ui, NULL, &cf);      // from history
 *   lt_itemcf_observe(cf, recent, nrecent, item);         // each new watch
 *   lt_itemcf_nb_t nb[20]; size_t got;
 *   lt_itemcf_neighbors(cf, item, nb, 20, &got);
 *   lt_itemcf_neighbors_over(cf, item, base, nbase, nb, 20, &got); // serving
 *   lt_itemcf_free(cf);
 * (model/cowatch.c runs one writer and many readers over counts that
 * start at each training; the trained lists are its base.)
 */
#ifndef LT_MODEL_ITEMCF_H
#define LT_MODEL_ITEMCF_H

#include "model/csr.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lt_itemcf_opts {
  uint32_t capacity;       /* counters kept per item; default 200, at most 1 << 20 */
  uint32_t max_user_items; /* batch build: users with more distinct items are
                              skipped entirely (robots, binge accounts; their
                              pairs cost O(n^2)); 0 = no limit; default 5000 */
  float shrink;            /* see above; default 0 */
  uint32_t threads;        /* batch build; 0 = online CPUs */
} lt_itemcf_opts_t;

/* One neighbour: an item and its similarity to the query item. */
typedef struct lt_itemcf_nb {
  uint32_t item;
  float sim;
} lt_itemcf_nb_t;

typedef struct lt_itemcf lt_itemcf_t;

/* Fills *o with the defaults listed above. */
void lt_itemcf_opts_default(lt_itemcf_opts_t *o);

/* Creates an empty model for nitems items (more are added as they are
 * observed). opts may be NULL for the defaults. *out is owned by the
 * caller until lt_itemcf_free(). Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_itemcf_new(uint32_t nitems, const lt_itemcf_opts_t *opts, lt_itemcf_t **out);

/* Builds a model from a users x items matrix (only which cells are
 * non-zero matters). The counts equal those of observing, for every user,
 * each of its items with all of the user's other items before it.
 * Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_itemcf_build(const lt_csr_t *ui, const lt_itemcf_opts_t *opts, lt_itemcf_t **out);

/* Records that a user watched new_item after the items recent[0..n) (the
 * caller's bounded window of that user's distinct earlier items; pass each
 * (user, item) pair once, e.g. on the first watch only). Adds 1 to
 * n_new_item and to c(new_item, j) for each j in recent (j == new_item is
 * skipped). Item ids beyond the current size grow the model.
 * Returns 0, LT_EINVAL (NULL recent with n > 0, an id of UINT32_MAX) or
 * LT_ENOMEM (the model is then unchanged for the pairs not yet counted). */
int lt_itemcf_observe(lt_itemcf_t *cf, const uint32_t *recent, size_t n, uint32_t new_item);

/* Writer: a hint that lt_itemcf_observe(cf, recent, n, item) comes soon.
 * Step 0 starts loading the items' records; step 1, once those have
 * arrived (a call or so later), the lines of their tables that the
 * observe's first reads need. Each is a random read otherwise, taken one
 * after another. Changes nothing; any ids are safe. */
void lt_itemcf_prefetch(const lt_itemcf_t *cf, const uint32_t *recent, size_t n, uint32_t item,
                        int step);

/* Writes up to max neighbours of item into out, most similar first (ties:
 * smaller item id first), and their number into *nout. An unknown item or
 * one with no co-watches gives *nout = 0. Cost O(capacity log max).
 * Returns 0, LT_EINVAL, or LT_EBUSY (*nout = 0) when every attempt met the
 * writer changing this item (a writer descheduled inside a change). */
int lt_itemcf_neighbors(const lt_itemcf_t *cf, uint32_t item, lt_itemcf_nb_t *out, size_t max,
                        size_t *nout);

/* The serving read: item's neighbours by the base-model rule above, with
 * base[0..nbase) the base's list of item (best first, no item twice; may
 * be empty). A listed partner that was not counted since keeps s_ij
 * sqrt(p_i / N_i) (its own p_j / N_j is taken as 1: reading it for every
 * listed partner would cost a random read each). The best max go to out,
 * most similar first (ties: smaller id first), their number to *nout; out
 * may not overlap base. cf may be NULL (base alone, unchanged). Counted
 * partners that cannot beat the max-th kept are skipped before their
 * counts are read, so a long base list makes the read cheaper. Returns 0,
 * LT_EINVAL, or LT_EBUSY with out = base alone (unchanged) when every
 * attempt met the writer changing this item. */
int lt_itemcf_neighbors_over(const lt_itemcf_t *cf, uint32_t item, const lt_itemcf_nb_t *base,
                             size_t nbase, lt_itemcf_nb_t *out, size_t max, size_t *nout);

/* Sets item's prior count p_item (above), growing the model. Call it
 * before readers see the model, or from the writer. Returns 0, LT_EINVAL
 * or LT_ENOMEM. */
int lt_itemcf_set_prior(lt_itemcf_t *cf, uint32_t item, uint32_t count);

/* N_item = p_item + n_item (saturating); 0 for unknown items. */
uint32_t lt_itemcf_support(const lt_itemcf_t *cf, uint32_t item);

/* Number of users who watched item (n_item, counted by this model); 0 for
 * unknown items. */
uint32_t lt_itemcf_count(const lt_itemcf_t *cf, uint32_t item);

/* Current number of items (ids 0 .. nitems-1). */
uint32_t lt_itemcf_nitems(const lt_itemcf_t *cf);
/* The counters an item keeps at most: the capacity option rounded up to
 * whole buckets (above). */
uint32_t lt_itemcf_capacity(const lt_itemcf_t *cf);

/* Bytes of heap memory held by the model. */
size_t lt_itemcf_memory(const lt_itemcf_t *cf);

/* Frees the model; NULL is accepted. */
void lt_itemcf_free(lt_itemcf_t *cf);

#endif
