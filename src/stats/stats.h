/*
 * stats.h — analytics derived from the event log: platform figures per
 * day, the watch-time report, creator exposure, the ecosystem (creator
 * Gini, young-creator share, AIGC share) and top creators and items.
 *
 * Two sources, both pure functions of the log, so every figure after a
 * restart equals the figure before it:
 *  - the state (state/state.h): per-user per-day watch time and plays,
 *    users' groups, per-day platform totals, item counters. The platform
 *    and watch-time reports and the item figures read only the state
 *    (lt_stats_platform, lt_stats_watch_time, lt_stats_item,
 *    lt_stats_top_items need no lt_stats_t).
 *  - an lt_stats_t: what the state does not keep — impressions, plays and
 *    watch time per (day, creator), per-day AIGC and young-creator
 *    impressions. It is fed every record of the log in log order by one
 *    function, lt_stats_observe: at open by a scan of the whole log
 *    (lt_store_scan), then as the store's observer as writes become
 *    durable. It keeps its
 *    own copy of the item metadata it attributes by (creator, aigc,
 *    published_at, as of each record's place in the log), so attribution
 *    does not depend on when the state was loaded.
 *
 * Days are local days of the state's time zone (lt_state_tz), numbered as
 * in core/clock.h. Ranges [from, to] are inclusive and at most
 * LT_STATS_MAX_DAYS long.
 *
 * Threads: lt_stats_apply / lt_stats_observe run on the store's single
 * writer (under its lock); the query functions may run on any number of
 * threads at once with it (an internal rwlock). The functions that read
 * the state's per-day totals should run under lt_store_locked when writes
 * may be going on (the state's day array may be reallocated by a write).
 */
#ifndef LT_STATS_STATS_H
#define LT_STATS_STATS_H

#include "core/buf.h"
#include "state/record.h"
#include "state/state.h"
#include "state/store.h"

#include <stddef.h>
#include <stdint.h>

#define LT_STATS_MAX_DAYS 366  /* longest range one query may cover */
#define LT_STATS_MAU_DAYS 30   /* MAU window: the day and the 29 before it */
#define LT_STATS_YOUNG_DAYS 30 /* a creator younger than this is "young" */
#define LT_STATS_TOP_MAX 100   /* most entries of a top list */

typedef struct lt_stats lt_stats_t;

/* ---- building -------------------------------------------------------- */

/* Creates empty stats over a state (which outlives them): feed them with
 * lt_stats_observe (or lt_stats_apply). Returns 0 or LT_ENOMEM. */
int lt_stats_new(lt_state_t *st, lt_stats_t **out);
/* Frees. Accepts NULL. */
void lt_stats_free(lt_stats_t *s);

/* Applies one record (the writer; records in log order, each once).
 * Records whose ids the state does not know (never applied to it) and
 * records of higher layers are skipped. Returns 0 or LT_ENOMEM (then the
 * stats are marked degraded: lt_stats_degraded). */
int lt_stats_apply(lt_stats_t *s, const lt_record_t *rec);

/* lt_store_observer_fn for lt_store_set_observer: ctx is the lt_stats_t.
 * Applies recs[0..n) under one write lock. */
void lt_stats_observe(void *ctx, const lt_record_t *recs, size_t n);

/* lt_stats_new over the store's state, fed the store's whole log
 * (lt_store_scan with lt_stats_observe). Call it after lt_store_open and
 * before writes start, then register lt_stats_observe (chained with any
 * other observer). A caller that builds several things from the log at
 * start (laotie serve) makes the stats with lt_stats_new instead and
 * chains lt_stats_observe into its one lt_store_scan. Returns 0,
 * LT_ENOMEM, or lt_store_scan's error. */
int lt_stats_open(lt_store_t *store, lt_stats_t **out);

/* Records applied so far; 1 when an allocation failed while applying (the
 * figures may then be short until a restart). */
uint64_t lt_stats_records(const lt_stats_t *s);
int lt_stats_degraded(const lt_stats_t *s);
/* Approximate bytes held. */
size_t lt_stats_bytes(const lt_stats_t *s);
/* Checks the invariants (stats.c's design note); 1 when they hold. For
 * assert() in tests. */
int lt_stats_check(lt_stats_t *s);

/* The state the stats were made over. */
lt_state_t *lt_stats_state(const lt_stats_t *s);

/* ---- ranges ---------------------------------------------------------- */

/* Resolves a range from optional "YYYY-MM-DD" strings (NULL or "" =
 * default): to defaults to the last day with events (today when none),
 * from to to - (default_days - 1). Returns 0, LT_EPARSE (a malformed
 * date; *why says which), LT_ERANGE (from > to, or longer than
 * LT_STATS_MAX_DAYS). */
int lt_stats_range(const lt_state_t *st, const char *from, const char *to, uint32_t default_days,
                   int32_t *from_day, int32_t *to_day, const char **why);

/* ---- platform (state only) ------------------------------------------ */

typedef struct lt_stats_day {
  int32_t day;
  uint64_t dau;       /* users with at least one event that day */
  uint64_t mau;       /* users with an event in the 30 days ending that day */
  uint64_t new_users; /* users whose first event ever was that day */
  uint64_t impressions, plays, completions, likes, shares, follows;
  uint64_t watch_ms;
  uint64_t gift_cents, gmv_cents;
  uint64_t ad_spend_cents; /* 0: no ads module yet */
  double watch_min_per_dau, watch_hours, completion_rate, likes_per_1k;
} lt_stats_day_t;

typedef struct lt_stats_platform {
  int32_t from, to;
  uint32_t ndays;
  lt_stats_day_t *days;  /* ndays entries, from .. to */
  uint64_t active_users; /* distinct users with an event in [from, to] */
  lt_stats_day_t sum;    /* sums over the range (dau/mau: averages; rates recomputed) */
} lt_stats_platform_t;

/* Fills *out for [from, to] (at most LT_STATS_MAX_DAYS). out->days is
 * malloc'd: free with lt_stats_platform_free. Returns 0, LT_ERANGE,
 * LT_ENOMEM. */
int lt_stats_platform(lt_state_t *st, int32_t from, int32_t to, lt_stats_platform_t *out);
void lt_stats_platform_free(lt_stats_platform_t *p);

/* ---- the watch-time report (state only) ----------------------------- */

typedef struct lt_stats_wt_row {
  uint32_t user;
  const char *name; /* external id (the state's; valid for its life) */
  uint64_t watch_ms;
  uint32_t plays;
  int met; /* watch_ms >= min_ms */
} lt_stats_wt_row_t;

typedef struct lt_stats_wt {
  int32_t day;
  char group[LT_MAX_STR + 1]; /* "" = every user active that day */
  uint64_t min_ms;            /* threshold */
  double min_minutes;
  const char *timezone;
  size_t n;                /* rows */
  lt_stats_wt_row_t *rows; /* minutes descending, then user id ascending */
  size_t met;              /* rows with met */
} lt_stats_wt_t;

/* Converts a threshold in minutes (up to 2 decimals meaningful) to ms,
 * rounded to the nearest ms: 60 -> 3600000, 59.99 -> 3599400. */
uint64_t lt_stats_minutes_to_ms(double minutes);

/* The watch time of every member of `group` (NULL/"" = every user with an
 * event that day) on local day `day`: minutes watched, plays, and whether
 * min_minutes was reached (>=, compared in whole ms). Members with no
 * activity are listed at 0. Returns 0, LT_ENOTFOUND (no user was ever put
 * in that group), LT_EINVAL (min_minutes not in [0, 1440] or group too
 * long), LT_ENOMEM. Free with lt_stats_wt_free. */
int lt_stats_watch_time(lt_state_t *st, int32_t day, const char *group, double min_minutes,
                        lt_stats_wt_t *out);
void lt_stats_wt_free(lt_stats_wt_t *r);

/* Minutes shown for a row: watch_ms truncated to 1/100 minute, so a
 * shown 59.99 never meets a 60 threshold and a shown 60.00 always does. */
static inline double lt_stats_minutes(uint64_t watch_ms) {
  return (double)(watch_ms / 600) / 100.0;
}

/* ---- items (state only) --------------------------------------------- */

/* Traffic-pool stages of the reports: the biggest pool an item has
 * reached — initial (pool 0), pool1, pool2, pool3 (pool 3 or higher), top
 * (graduated from the last pool) — or none (never in a pool). Two rules
 * give it:
 *  - the feed's pools (lt_stats_set_pool_fn; `laotie serve` sets it): the
 *    pool the feed really put the item in and promoted it through;
 *  - otherwise (e.g. `laotie report` offline, no feed running) a
 *    threshold rule on lifetime impressions: initial (< 300), pool1
 *    (>= 300), pool2 (>= 3000), pool3 (>= 30000), top (>= 300000). */
#define LT_STATS_POOLS 6
enum { LT_STATS_STAGE_TOP = 4, LT_STATS_STAGE_NONE = 5 };
extern const uint64_t lt_stats_pool_min[LT_STATS_POOLS - 1];
/* The threshold rule. */
int lt_stats_pool_stage(uint64_t impressions);
const char *lt_stats_pool_name(int stage);

/* Where an item stands in the feed's pools (lt_feed_item_pool's status). */
enum {
  LT_STATS_POOL_IN = 0,    /* serving a pool's quota */
  LT_STATS_POOL_JUDGING,   /* quota used, waiting for judgement */
  LT_STATS_POOL_ORGANIC,   /* left after a judgement: competes organically */
  LT_STATS_POOL_GRADUATED, /* passed the last pool */
  LT_STATS_POOL_EXPIRED,   /* aged out or deleted while in a pool */
  LT_STATS_POOL_NEVER,     /* never entered */
  LT_STATS_POOL_STATUSES
};
/* "pool", "judging", "organic", "graduated", "expired", "none". */
const char *lt_stats_pool_status_name(int status);

typedef struct lt_stats_pool_view {
  int status;  /* LT_STATS_POOL_* */
  int reached; /* highest pool entered (0-based), -1 when never */
} lt_stats_pool_view_t;

/* Gives an item's real pool standing: fills *out and returns 0, or
 * returns non-zero (then the threshold rule is used for that item). Called
 * from query threads, concurrently with the store's writer. */
typedef int (*lt_stats_pool_fn)(void *ctx, uint32_t item, lt_stats_pool_view_t *out);

/* Makes the reports and the dashboard take traffic-pool stages from fn
 * (NULL = back to the threshold rule). Set it before queries start. */
void lt_stats_set_pool_fn(lt_stats_t *s, lt_stats_pool_fn fn, void *ctx);
/* The stage of item under s's rule (s NULL or without a pool fn: the
 * threshold rule on the state's counters). *status (may be NULL) gets the
 * LT_STATS_POOL_* status, -1 under the threshold rule. */
int lt_stats_stage_of(const lt_stats_t *s, lt_state_t *st, uint32_t item, int *status);

typedef struct lt_stats_item {
  uint32_t item;
  const char *name, *creator; /* creator NULL when unknown */
  uint8_t aigc, deleted, kind;
  lt_item_counters_t c;
  double completion_rate; /* completions / plays */
  double like_rate;       /* likes per 1k impressions */
  int stage;              /* traffic-pool stage (lt_stats_pool_name) */
  int pool_status;        /* LT_STATS_POOL_*, -1 under the threshold rule */
} lt_stats_item_t;

/* Figures of one item. s (may be NULL) gives the pool rule: its
 * lt_stats_set_pool_fn when set, else the threshold rule. Returns 0 or
 * LT_ENOTFOUND. */
int lt_stats_item(lt_state_t *st, const lt_stats_t *s, uint32_t item, lt_stats_item_t *out);

typedef enum { LT_STATS_BY_IMPRESSIONS = 0, LT_STATS_BY_PLAYS, LT_STATS_BY_WATCH } lt_stats_by_t;
/* "impressions" | "plays" | "watch" -> *by. Returns 0 or LT_EINVAL. */
int lt_stats_by_parse(const char *s, int *by);
const char *lt_stats_by_name(int by);

/* The n (<= LT_STATS_TOP_MAX) items with the most lifetime impressions,
 * plays or watch time (deleted items left out), best first, ties by id;
 * s as in lt_stats_item. Returns how many were written. */
size_t lt_stats_top_items(lt_state_t *st, const lt_stats_t *s, int by, lt_stats_item_t *out,
                          size_t n);

/* ---- creators and the ecosystem (lt_stats_t) ------------------------ */

typedef struct lt_stats_creator {
  uint32_t creator;
  const char *name;
  uint64_t followers, items;             /* now (state) */
  uint64_t impressions, plays, watch_ms; /* in the range */
  uint64_t all_impressions;              /* every creator's, in the range */
  double exposure_share;                 /* impressions / all_impressions */
  uint32_t pool[LT_STATS_POOLS];         /* the creator's items per stage, now */
  /* the creator's items per pool status now (LT_STATS_POOL_*), when the
   * feed's pools are known (has_outcomes) */
  uint32_t outcome[LT_STATS_POOL_STATUSES];
  int has_outcomes;
} lt_stats_creator_t;

/* One creator's figures for [from, to]. Returns 0, LT_ENOTFOUND,
 * LT_ERANGE. */
int lt_stats_creator(lt_stats_t *s, uint32_t creator, int32_t from, int32_t to,
                     lt_stats_creator_t *out);

/* The n (<= LT_STATS_TOP_MAX) creators with the most impressions, plays
 * or watch time in [from, to], best first, ties by id (pool[] and
 * followers filled too). Returns how many were written (0 on a bad range). */
size_t lt_stats_top_creators(lt_stats_t *s, int32_t from, int32_t to, int by,
                             lt_stats_creator_t *out, size_t n);

typedef struct lt_stats_eco_day {
  int32_t day;
  uint64_t impressions, watch_ms; /* every item's */
  uint64_t creators;              /* creators with >= 1 impression */
  double gini;                    /* of impressions across those creators */
  uint64_t young_impressions;     /* to creators younger than 30 days */
  uint64_t aigc_impressions, aigc_watch_ms;
  double young_share, aigc_impression_share, aigc_watch_share;
} lt_stats_eco_day_t;

typedef struct lt_stats_eco {
  int32_t from, to;
  uint32_t ndays;
  lt_stats_eco_day_t *days; /* ndays entries */
  lt_stats_eco_day_t sum;   /* the whole range (gini over creators' range totals) */
} lt_stats_eco_t;

/* The ecosystem per day for [from, to]. Free with lt_stats_eco_free.
 * Returns 0, LT_ERANGE, LT_ENOMEM. */
int lt_stats_ecosystem(lt_stats_t *s, int32_t from, int32_t to, lt_stats_eco_t *out);
void lt_stats_eco_free(lt_stats_eco_t *e);

/* Gini coefficient of x[0..n) (sorted in place, ascending): 0 when all
 * are equal (or n < 2 or the sum is 0), up to (n-1)/n when one holds all.
 * G = 2 * sum_i(i * x_i) / (n * sum x) - (n + 1) / n, i = 1..n. */
double lt_stats_gini(uint64_t *x, size_t n);

/* ---- output (the same text for the HTTP API and the CLI) ------------ */

typedef enum { LT_FMT_TABLE = 0, LT_FMT_CSV, LT_FMT_JSON } lt_stats_fmt_t;
/* "table" | "csv" | "json" -> *fmt. Returns 0 or LT_EINVAL. */
int lt_stats_fmt_parse(const char *s, int *fmt);

/* Each appends the report to out in the given format; returns 0 or
 * LT_ENOMEM. JSON is one object and a newline; CSV has a header row;
 * cells that a spreadsheet would run as a formula get a leading '. */
int lt_stats_wt_write(const lt_stats_wt_t *r, int fmt, lt_buf_t *out);
int lt_stats_platform_write(const lt_stats_platform_t *p, const char *tz, int fmt, lt_buf_t *out);
int lt_stats_eco_write(const lt_stats_eco_t *e, const char *tz, int fmt, lt_buf_t *out);
/* JSON object of one creator (fmt ignored: always JSON). */
int lt_stats_creator_write(const lt_stats_creator_t *c, int32_t from, int32_t to, lt_buf_t *out);
/* JSON {"from", "to", "by", "creators": [...], "items": [...]}. */
int lt_stats_top_write(const lt_stats_creator_t *cr, size_t ncr, const lt_stats_item_t *it,
                       size_t nit, int32_t from, int32_t to, int by, lt_buf_t *out);
/* JSON object of one item. */
int lt_stats_item_write(const lt_stats_item_t *it, lt_buf_t *out);

#endif
