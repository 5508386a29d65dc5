/*
 * offline.h — offline evaluation of recommenders on logged interactions.
 *
 * Protocol (lt_eval_run):
 *   1. Split. Each user's interactions are ordered by (timestamp, item id)
 *      — equal timestamps are broken by the smaller item id first — and
 *      the last ceil(test_frac * n) go to test; users with fewer than
 *      min_user interactions stay train-only (lt_eval_split).
 *   2. Validation. The same rule applied to each user's train part carves
 *      a validation split out of train. Every hyper-parameter (iALS alpha
 *      and lambda, EASE lambda, the recency scale tau and the blend
 *      weights of the pipeline) is chosen on it; test is never looked at
 *      until the final models, refitted on all of train, are scored.
 *   3. Ranking. For each user with at least one relevant item, every item
 *      the user did not interact with in train is ranked; the relevant
 *      items are the user's distinct test items that are not in its train
 *      (re-watches of train items cannot be recommended, so they do not
 *      count). Ties rank the smaller item id first.
 *   4. Metrics at K (default 20), averaged over those users:
 *        Recall@K = hits / min(K, |relevant|)
 *        NDCG@K   = sum over hits at rank r (1-based) of 1 / log2(r + 1),
 *                   divided by the same sum for min(K, |relevant|) hits.
 *      (Recall over min(K, |relevant|) is the "truncated" recall: a user
 *      with 50 test items can reach 1. The reference figures for ML-100K
 *      in the issue come out with this definition, not hits/|relevant|.)
 *
 * Methods reported:
 *   popularity   items by number of distinct train users;
 *   item-KNN     cosine co-watch neighbours (lt_itemcf, top knn_topn per
 *                item), score = sum of similarities to the history;
 *   iALS         lt_ials, k = ials_k, alpha and lambda from validation;
 *   EASE         (only when nitems <= ease_max_items) lambda from validation;
 *   laotie       the serving pipeline: a weighted sum of per-user
 *                standardised scores of EASE (when available), item-KNN,
 *                iALS (the user vector folded in from the history, as at
 *                request time) and popularity, each reading the history
 *                with recency weights exp(-r / tau) (r = 0 for the latest
 *                item); tau, EASE lambda and the weights are chosen on
 *                validation (a weight may be 0: the blend can fall back to
 *                any single component).
 *
 * Weights: interaction weights (watch ratio, rating...) feed the iALS
 * confidence (c = 1 + alpha w; duplicates keep their largest w); the other
 * methods treat interactions as binary.
 */
#ifndef LT_EVAL_OFFLINE_H
#define LT_EVAL_OFFLINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lt_eval_input {
  const uint32_t *user; /* n dense user ids, < nusers */
  const uint32_t *item; /* n dense item ids, < nitems */
  const int64_t *ts;    /* n timestamps (any unit); NULL: all equal */
  const float *weight;  /* n weights >= 0; NULL: all 1 (implicit positives) */
  size_t n;
  uint32_t nusers, nitems;
} lt_eval_input_t;

typedef struct lt_eval_opts {
  uint32_t k;              /* metric cutoff; default 20 */
  double test_frac;        /* share of each user's interactions in test; default 0.2 */
  uint32_t min_user;       /* fewer interactions: train-only; default 5 */
  uint32_t threads;        /* 0 = online CPUs */
  uint64_t seed;           /* iALS initialisation; default 1 */
  uint32_t ials_k;         /* default 64 */
  uint32_t ials_iters;     /* default 15 */
  uint32_t knn_topn;       /* neighbours per item for item-KNN; default 100 */
  uint32_t ease_max_items; /* EASE only up to this many items; default 10000; 0 = off */
  uint32_t max_val_users;  /* tune on at most this many validation users (an even
                              sample by id) to bound the tuning cost; default
                              20000; 0 = all. Test always scores every user. */
  int quick;               /* smaller hyper-parameter grids (tests); default 0 */
  FILE *log;               /* progress and validation lines; NULL = quiet */
} lt_eval_opts_t;

#define LT_EVAL_MAX_METHODS 8

typedef struct lt_eval_method {
  char name[32];
  char params[192];            /* hyper-parameters (chosen on validation) */
  double recall, ndcg;         /* on test */
  double val_recall, val_ndcg; /* of the chosen setting on validation */
  double fit_sec;              /* final fit on all of train */
} lt_eval_method_t;

typedef struct lt_eval_report {
  uint32_t k, nusers, nitems;
  size_t ntrain, nval, ntest;     /* interactions in (train minus val), val, test */
  uint32_t test_users, val_users; /* users scored on test / validation */
  size_t nmethods;
  lt_eval_method_t m[LT_EVAL_MAX_METHODS];
  double total_sec;
} lt_eval_report_t;

/* Fills *o with the defaults listed above. */
void lt_eval_opts_default(lt_eval_opts_t *o);

/* The chronological split of step 1 over the interactions r with
 * eligible[r] != 0 (eligible NULL = all): sets is_test[r] = 1 for the last
 * ceil(frac * n_u) eligible interactions of each user u with n_u >=
 * min_user eligible interactions, and 0 for every other eligible r;
 * is_test[r] of a non-eligible r is left untouched. frac in [0, 1].
 * Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_eval_split(const lt_eval_input_t *in, const uint8_t *eligible, double frac,
                  uint32_t min_user, uint8_t *is_test);

/* Recall@k and NDCG@k (definitions above) of one ranked list ranked[0..n)
 * (best first; entries beyond k are ignored) against the distinct ids
 * relevant[0..nrel). nrel == 0 gives 0 and 0. Returns 0 or LT_EINVAL. */
int lt_eval_metrics(const uint32_t *ranked, size_t n, const uint32_t *relevant, size_t nrel,
                    uint32_t k, double *recall, double *ndcg);

/* Runs the protocol above on in and fills *out. opts may be NULL for the
 * defaults. Returns 0, LT_EINVAL (bad ids, weights or options; no user
 * has a test item), LT_ENOMEM, or an error from the learners. */
int lt_eval_run(const lt_eval_input_t *in, const lt_eval_opts_t *opts, lt_eval_report_t *out);

/* Prints the report as an aligned text table. */
void lt_eval_print_table(FILE *f, const lt_eval_report_t *r);

/* Prints the report as one JSON object:
 *   {"k":20,"users":943,"items":1682,"train":..,"val":..,"test":..,
 *    "test_users":..,"val_users":..,"seconds":..,
 *    "methods":[{"name":"popularity","recall":..,"ndcg":..,
 *                "val_recall":..,"val_ndcg":..,"fit_seconds":..,
 *                "params":"..."}, ...]} */
void lt_eval_print_json(FILE *f, const lt_eval_report_t *r);

#endif
