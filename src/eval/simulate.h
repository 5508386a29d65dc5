/*
 * simulate.h — the closed-loop simulator behind `laotie simulate`: a
 * synthetic short-video platform whose users watch what a distribution
 * policy serves them, run for N simulated days against the real engine,
 * with a report per day.
 *
 * The platform (simulate.c's design note has the model and its numbers):
 * users and items in a latent interest space of topics; creators whose
 * sizes follow a power law, some new every day, some publishing AIGC, a
 * few going live for an hour or two; video durations and watch ratios
 * shaped like KuaiRec's (median watch ratio about 0.8 under a good
 * policy, a long tail above 1); users who watch, skip, like, follow, say
 * not_interested, get bored within a session, come back less after bad
 * days and eventually stop returning.
 *
 * Policies compared side by side, each on the same platform and the same
 * seed, each against its own store in a temporary directory (fsync off):
 *   random          uniformly among the published items the user has not
 *                   played;
 *   popularity      by time-decayed popularity (the state's), unplayed;
 *   laotie          the feed engine with its defaults (scaled pool quotas,
 *                   see lt_sim_opts_t);
 *   laotie-nopools  the same with traffic pools and exposure fairness off.
 * Every event goes through lt_store_write (the real write path) and the
 * store's observer feeds lt_feed_observe; the engine retrains once per
 * simulated day. The baselines run the feed engine too, observing only,
 * so traffic-pool stages are measured the same way for every policy.
 * Remote mode (url set) runs the one policy of a running server over HTTP.
 *
 * Determinism: the same options and seed give the same report (runs are
 * single-threaded inside; several policies run on parallel threads).
 */
#ifndef LT_EVAL_SIMULATE_H
#define LT_EVAL_SIMULATE_H

#include "feed/feed.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  LT_SIM_RANDOM = 0,
  LT_SIM_POPULARITY,
  LT_SIM_LAOTIE,
  LT_SIM_LAOTIE_NOPOOLS,
  LT_SIM_REMOTE, /* the server at url (its own policy) */
  LT_SIM__POLICIES
} lt_sim_policy_t;

/* "random", "popularity", "laotie", "laotie-nopools", "server". */
const char *lt_sim_policy_name(int p);
/* "all" | a name above (not "server") -> bit mask of 1 << policy. Returns 0
 * or LT_EINVAL. */
int lt_sim_policy_parse(const char *s, uint32_t *mask);

typedef struct lt_sim_opts {
  uint32_t days;         /* default 30 */
  uint32_t users;        /* default 5000 */
  uint32_t items;        /* catalogue at the start; default 10000 */
  uint32_t creators;     /* creators at the start; default items / 8 */
  uint32_t new_items;    /* published per day; default items / 80 */
  uint32_t new_creators; /* joining per day; default 20 */
  uint32_t page;         /* items per feed request; default 10 */
  uint64_t seed;         /* default 1 */
  uint32_t policies;     /* mask of 1 << lt_sim_policy_t; default random,
                            popularity, laotie, laotie-nopools */
  uint32_t threads;      /* policies run at once; default 2 */
  /* the engine's options for the laotie policies (lt_feed_opts_default, then
   * what lt_sim_opts_default changes: pool quota 20 growth 5, explore_max
   * 20, 200 candidates, iALS k 32 x 4 iterations, HNSW ef_construction 64,
   * 1 training thread) */
  lt_feed_opts_t feed;
  const char *keep_dir; /* keep each run's data directory as KEEP/<policy>
                           (for `laotie report`, `laotie eval --snips`);
                           NULL: a temporary directory, removed after */
  const char *url;      /* remote mode: http://host:port */
  const char *api_key;  /* the server's write key */
  FILE *log;            /* progress lines (NULL = quiet) */
  int verbose;          /* also each training's stage times, to log */
} lt_sim_opts_t;

void lt_sim_opts_default(lt_sim_opts_t *o);

/* One simulated day of one policy. */
typedef struct lt_sim_day {
  uint32_t day;
  uint32_t active_users; /* users with at least one session */
  uint32_t churned;      /* users who stopped returning (cumulative) */
  uint32_t sessions, requests;
  uint64_t impressions, plays, completions, likes, follows, not_interested;
  uint64_t video_plays; /* plays of videos (not live rooms) */
  uint64_t watch_ms;
  double watch_min_per_active; /* watch minutes per active user */
  double completion_rate;      /* completions (watch ratio >= 0.9) / video plays */
  double creator_gini;         /* of the day's impressions across creators */
  double young_share;          /* impressions to creators younger than 7 days */
  double aigc_share;           /* AIGC share of impressions */
  double aigc_watch_share;     /* AIGC share of watch time */
  double median_watch_ratio;   /* over the day's video plays */
  uint32_t new_items;          /* published since the start (cumulative) */
  uint32_t new_items_pool2;    /* of them, reached pool 2 or beyond */
  double pool2_share;          /* new_items_pool2 / new_items */
  uint32_t new_creators;       /* joined since the start (cumulative) */
  uint32_t new_creators_pool2; /* of them, with an item that reached pool 2 */
  double seconds;              /* wall time of the day */
} lt_sim_day_t;

typedef struct lt_sim_run {
  int policy;
  uint32_t ndays;
  lt_sim_day_t *days;
  lt_sim_day_t total;            /* sums; rates over the whole run; cumulative
                                    figures as of the last day */
  double watch_min_per_user_day; /* total watch / users / days */
  double seconds, train_seconds, feed_seconds;
  uint64_t events;
  int error; /* 0, or the LT_E* that stopped the run */
} lt_sim_run_t;

typedef struct lt_sim_report {
  lt_sim_opts_t opts;
  uint32_t nruns;
  lt_sim_run_t runs[LT_SIM__POLICIES];
  double seconds;
} lt_sim_report_t;

/* Runs the simulation. Returns 0 (every run's error is in its run),
 * LT_EINVAL (options) or LT_ENOMEM. Free with lt_sim_report_free. */
int lt_sim_run(const lt_sim_opts_t *o, lt_sim_report_t *out);
void lt_sim_report_free(lt_sim_report_t *r);

/* The report as aligned text tables (per day per policy, then a summary
 * side by side) / as one JSON object:
 *   {"days":..,"users":..,"items":..,"seed":..,"seconds":..,
 *    "runs":[{"policy":"laotie","seconds":..,"summary":{...day fields...},
 *             "days":[{"day":0,"active_users":..,"watch_min_per_active":..,
 *                      "completion_rate":..,"creator_gini":..,
 *                      "young_share":..,"pool2_share":..,"aigc_share":..,
 *                      "churned":..,...},...]},...],
 *    "policies":[{"name":"laotie","watch_minutes_per_user":..,
 *                 "watch_minutes_per_active":..,"creator_gini":..,
 *                 "young_share":..,"pool2_share":..,"new_creators_pool2":..,
 *                 "aigc_share":..,"churned":..,"seconds":..},...]}
 * (watch_minutes_per_user: per user per day, every user counted; the
 * other summary figures as in the run's "summary"). */
void lt_sim_print_table(FILE *f, const lt_sim_report_t *r);
void lt_sim_print_json(FILE *f, const lt_sim_report_t *r);

#endif
