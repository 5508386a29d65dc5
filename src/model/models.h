/*
 * models.h — the model snapshot the feed serves from: everything learned in
 * one training run, immutable once built, shared by reference count.
 *
 * A snapshot holds the iALS factors (user and item vectors), an HNSW index
 * over the item vectors (inner product), the co-watch neighbour table (each
 * item's cf_topk most similar items by lt_itemcf, flattened at build time
 * so a request reads a sorted array instead of scanning counters), the
 * users' event counts at training time (so a request can use the trained
 * user vector when nothing happened since, and fold in otherwise), each
 * user's nearest items in that index (user_ann_n of them, the user's
 * training row left out: the ANN retrieval of a request whose user has not
 * acted since training, done once per training instead of once per
 * request), and two
 * candidate lists taken from the state when the snapshot was built or
 * loaded: items by time-decayed popularity and recently published items
 * with few impressions.
 *
 * Training data (lt_models_build): every user's history in the state
 * becomes one row of a user x item matrix of confidence weights
 * (lt_models_user_row): a play counts its watch ratio or its explicit
 * weight (e.g. a rating), capped at 5 — a play of a tenth of the video or
 * less counts nothing; likes / comments / gifts / follows add 1, shares 2,
 * purchases 3; the sum is capped at 10; an item the user said
 * not_interested to is left out of the row altogether.
 *
 * On disk (lt_models_save / lt_models_load), one directory per version,
 *   DIR/models-<version as 16 hex digits>/
 *     ials.bin     lt_ials_save's format
 *     ann.bin      lt_ann_save's format
 *     cowatch.bin  the co-watch neighbour table (format in models.c)
 *     users.bin    the per-user event counts (format in models.c)
 *     retrieve.bin the per-user ANN lists (format in models.c; optional)
 *     MANIFEST     written last: version, trained_at, dimensions, which
 *                  components exist, XXH3 checksum (format in models.c)
 *   (other files — ranker.bin — belong to the caller.)
 * A directory is built as models-<v>.tmp and renamed when complete, so a
 * crash leaves either a whole snapshot or a .tmp that load ignores.
 *
 * Threads: a built or loaded snapshot is immutable; any number of threads
 * may read it. lt_models_acquire / lt_models_release count references with
 * atomics; the last release frees it.
 */
#ifndef LT_MODEL_MODELS_H
#define LT_MODEL_MODELS_H

#include "model/ann.h"
#include "model/ials.h"
#include "model/itemcf.h"
#include "state/state.h"

#include <stdint.h>
#include <stdio.h>

enum {
  LT_MODELS_COLLECT,
  LT_MODELS_IALS,
  LT_MODELS_ANN,
  LT_MODELS_ITEMCF,
  LT_MODELS_RETRIEVE,
  LT_MODELS_LISTS,
  LT_MODELS_STAGES
};

typedef struct lt_models_opts {
  lt_ials_opts_t ials;            /* k, iters, alpha, lambda, threads, seed */
  lt_ann_opts_t ann;              /* the index over item vectors (metric forced to IP) */
  lt_itemcf_opts_t itemcf;        /* co-watch counting */
  uint32_t cf_topk;               /* neighbours kept per item in the table; default 50 */
  uint32_t pop_n;                 /* items kept in the popularity list; default 1000 */
  uint32_t fresh_n;               /* items kept in the fresh list; default 500 */
  int64_t fresh_window_ms;        /* "recently published"; default 3 days */
  uint32_t fresh_max_impressions; /* "few impressions"; default 200 */
  uint32_t user_ann_n;            /* ANN neighbours kept per user (0: none); default 0 */
} lt_models_opts_t;

typedef struct lt_models {
  uint64_t version;        /* monotone; 0 = lists only (no training yet) */
  int64_t trained_at_ms;   /* 0 for version 0 */
  lt_ials_t *ials;         /* NULL when there was nothing to learn from */
  lt_ann_t *ann;           /* over ials->V; NULL iff ials is */
  uint32_t cf_items;       /* items covered by the co-watch table (0: none) */
  uint32_t *cf_off;        /* cf_items + 1 offsets: item i's neighbours are
                              cf_nb[cf_off[i] .. cf_off[i + 1]) */
  lt_itemcf_nb_t *cf_nb;   /* most similar first */
  uint32_t nusers, nitems; /* the id ranges covered by ials (0 without) */
  uint32_t *user_events;   /* nusers: lt_user_info_t.events when trained */
  uint32_t user_ann_n;     /* per-user ANN lists: 0 when there are none */
  uint32_t *user_ann;      /* nusers x user_ann_n: user u's list at u x user_ann_n,
                              best first, padded with LT_NONE */
  uint64_t nnz;            /* interactions trained on */
  uint32_t *pop;           /* npop items, most popular first */
  uint32_t npop;
  uint32_t *fresh; /* nfresh items, newest first */
  uint32_t nfresh;
  int64_t lists_at_ms;              /* the time popularity was read at: the build's now,
                                       or the newest event when the data ends before it */
  double seconds[LT_MODELS_STAGES]; /* build (or load) time per stage */
  int refs;                         /* atomic; see acquire / release */
} lt_models_t;

/* One distinct item of a user's history with its confidence weight. */
typedef struct lt_models_pair {
  uint32_t item;
  float w;
} lt_models_pair_t;

/* Fills *o with the defaults (iALS k 64, 10 iterations, alpha 1, lambda
 * 10; the ANN and itemcf defaults; the list sizes above). */
void lt_models_opts_default(lt_models_opts_t *o);

/* Name of a stage ("collect", "ials", "ann", "itemcf", "retrieve", "lists"). */
const char *lt_models_stage_name(int stage);

/* The co-watch neighbours of item, most similar first: sets *nb and
 * returns how many (0 for an item outside the table). */
static inline uint32_t lt_models_cowatch(const lt_models_t *m, uint32_t item,
                                         const lt_itemcf_nb_t **nb) {
  if (item >= m->cf_items) return 0;
  *nb = m->cf_nb + m->cf_off[item];
  return m->cf_off[item + 1] - m->cf_off[item];
}

/* Turns history entries h[0..n) into distinct items with weights > 0
 * (rules in the header note), sorted by item id, into out (room for n).
 * Items the user said not_interested to are left out. Returns how many. */
size_t lt_models_user_row(const lt_state_t *st, const lt_hist_t *h, size_t n,
                          lt_models_pair_t *out);

/* Builds a snapshot from the state: collects every user's history, trains
 * iALS, builds the ANN index and the co-watch table, takes the lists as of
 * now_ms. version is stored as given. log (may be NULL) receives one line
 * per stage with its time. The writer may keep applying records meanwhile:
 * ids beyond the counts taken at the start are left for the next build.
 * *out has one reference (lt_models_release frees it). Returns 0, LT_EINVAL
 * or LT_ENOMEM (or a learner's error). */
int lt_models_build(lt_state_t *st, const lt_models_opts_t *opts, uint64_t version, int64_t now_ms,
                    FILE *log, lt_models_t **out);

/* A snapshot with lists only (version 0): what is served before any
 * training. */
int lt_models_new_lists(lt_state_t *st, const lt_models_opts_t *opts, int64_t now_ms,
                        lt_models_t **out);

/* Takes a reference (returns m; NULL is accepted). */
lt_models_t *lt_models_acquire(lt_models_t *m);
/* Drops a reference; the last one frees the snapshot. NULL is accepted. */
void lt_models_release(lt_models_t *m);

/* Writes m under dir as models-<version>/ (creating dir if needed) and
 * removes all but the `keep` newest model directories (0 = keep all). A
 * directory of the same version already there (one that failed to load:
 * otherwise it would be the version in use) is replaced.
 * Returns 0, LT_EINVAL (version 0), LT_EIO, LT_ENOSPACE or LT_ENOMEM. */
int lt_models_save(const lt_models_t *m, const char *dir, uint32_t keep);

/* Path of version's directory under dir into out (room for n bytes).
 * Returns 0 or LT_EINVAL (too long). */
int lt_models_path(const char *dir, uint64_t version, char *out, size_t n);

/* Loads the snapshot in directory path (a models-<v>/ directory): every
 * component must load and agree on its dimensions, else LT_ECORRUPT and
 * nothing is returned. The lists are taken from st. *out has one
 * reference. */
int lt_models_load(const char *path, lt_state_t *st, const lt_models_opts_t *opts, int64_t now_ms,
                   lt_models_t **out);

/* Loads the newest valid snapshot under dir: tries the versions from the
 * highest down and skips any that fail (counted in *rejected, may be NULL;
 * log, may be NULL, gets a line for each). Returns 0 with *out set,
 * LT_ENOTFOUND when no version loads, or LT_ENOMEM. */
int lt_models_load_newest(const char *dir, lt_state_t *st, const lt_models_opts_t *opts,
                          int64_t now_ms, FILE *log, lt_models_t **out, uint32_t *rejected);

#endif
