/*
 * ope.h — off-policy evaluation of the feed's exploration from the event
 * log: how a candidate exploration policy would have done, estimated from
 * what the running policy logged (IPS and self-normalised IPS, SNIPS).
 *
 * What is logged (feed.h): every served item has a propensity, the
 * probability that the policy put it in its slot; greedy slots are
 * deterministic (propensity 1) and exploration slots draw one of K
 * candidates ranked by match (propensity 1/K for egreedy, the Thompson
 * win probability otherwise). An impression event carries the propensity
 * and, in `value`, the exploration code 16 x K + rank + 1 (0 = a greedy
 * slot); lt_feed_annotate fills both from the served table when the client
 * did not echo them.
 *
 * Candidate policies differ from the logging policy only in how an
 * exploration slot draws among its K candidates; greedy slots are the same
 * for every candidate (weight 1):
 *   logging       the logged draw itself (weight 1: the on-policy mean);
 *   greedy        always the best-matching candidate (rank 0);
 *   uniform       uniformly among the K;
 *   softmax:T     P(rank r) proportional to exp(-r / T).
 * For impression i with logged propensity p_i and candidate probability
 * q_i, w_i = q_i / p_i, and for a reward r_i (joined from the same
 * request's play / like events):
 *   IPS   = sum w_i r_i / n
 *   SNIPS = sum w_i r_i / sum w_i
 *   se    = sqrt(sum w_i^2 (r_i - SNIPS)^2) / sum w_i   (delta method)
 *   ESS   = (sum w_i)^2 / sum w_i^2                    (effective sample size)
 * Impressions without a propensity (not served by laotie, or not
 * annotated) are left out and counted.
 *
 * Rewards per impression: play (a play event for the same request and
 * item), watch seconds (their watch time), completion (a play of at least
 * 90% of the item's duration) and like.
 */
#ifndef LT_EVAL_OPE_H
#define LT_EVAL_OPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { LT_OPE_LOGGING = 0, LT_OPE_GREEDY, LT_OPE_UNIFORM, LT_OPE_SOFTMAX } lt_ope_kind_t;

typedef struct lt_ope_policy {
  int kind;      /* lt_ope_kind_t */
  double temp;   /* softmax temperature (> 0) */
  char name[32]; /* as parsed: "greedy", "softmax:0.5", ... */
} lt_ope_policy_t;

/* "logging" | "greedy" | "uniform" | "softmax:T" -> *out. Returns 0 or
 * LT_EINVAL. */
int lt_ope_policy_parse(const char *s, lt_ope_policy_t *out);

/* The candidate's probability of the logged draw: for an exploration code
 * (16 x K + rank + 1) under policy p, with p0 the logged propensity (used
 * by "logging"); for code 0 (a greedy slot) 1. Returns a probability in
 * [0, 1]. */
double lt_ope_prob(const lt_ope_policy_t *p, double p0, unsigned code);

typedef struct lt_ope_estimate {
  size_t n;     /* impressions used */
  double sum_w; /* sum of weights */
  double ips, snips, se, ess;
} lt_ope_estimate_t;

/* IPS / SNIPS / se / ESS of rewards r[0..n) with weights w[0..n) (w >= 0).
 * n == 0 or sum w == 0 gives zeros. Returns 0 or LT_EINVAL. */
int lt_ope_snips(const double *w, const double *r, size_t n, lt_ope_estimate_t *out);

#define LT_OPE_REWARDS 4 /* play, watch seconds, completion, like */
#define LT_OPE_MAX_POLICIES 8

/* "play", "watch_s", "completion", "like". */
const char *lt_ope_reward_name(int r);

typedef struct lt_ope_report {
  uint64_t impressions;          /* impression events in the log */
  uint64_t used;                 /* with a propensity */
  uint64_t no_propensity;        /* left out */
  uint64_t explore;              /* of the used, drawn in an exploration slot */
  uint64_t joined_plays;         /* play events joined to an impression */
  double logged[LT_OPE_REWARDS]; /* plain means over the used impressions */
  size_t npolicies;
  lt_ope_policy_t pol[LT_OPE_MAX_POLICIES];
  lt_ope_estimate_t est[LT_OPE_MAX_POLICIES][LT_OPE_REWARDS];
  double seconds;
} lt_ope_report_t;

/* Reads the log in log_dir (DIR/log), joins each impression with the
 * plays and likes of the same (user, item, request id), and estimates
 * every policy in pols[0..npols) (at most LT_OPE_MAX_POLICIES). Returns 0,
 * LT_EINVAL, LT_ENOMEM or the log reader's error. */
int lt_ope_run(const char *log_dir, const lt_ope_policy_t *pols, size_t npols,
               lt_ope_report_t *out);

/* Prints the report as a text table / one JSON object:
 *   {"impressions":..,"used":..,"no_propensity":..,"explore":..,
 *    "joined_plays":..,"logged":{"play":..,...},
 *    "policies":[{"name":"greedy","estimates":{"play":{"snips":..,"ips":..,
 *      "se":..,"ess":..},...}},...],"seconds":..} */
void lt_ope_print_table(FILE *f, const lt_ope_report_t *r);
void lt_ope_print_json(FILE *f, const lt_ope_report_t *r);

#endif
