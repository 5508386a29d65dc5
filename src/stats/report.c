/*
 * report.c — the reports that read only the state: platform figures per
 * day, the watch-time report, item figures and top items (see stats.h).
 *
 * Platform (lt_stats_platform), for days [from, to]:
 *  - counts of impressions, plays, completions, likes, watch time, gifts
 *    and GMV come from the state's per-day totals;
 *  - DAU and MAU come from one pass over every user's per-day activity in
 *    [from - 29, to] (lt_state_each_user_day, days ascending per user): a
 *    user active on day a counts in DAU(a) and in MAU(d) for every d in
 *    [a, a + 29]; per user the windows are merged (cov_end = the last day
 *    already covered) and added to a difference array, so each user counts
 *    at most once per day: O(user-days) for the whole range;
 *  - new users: users whose earliest event (lt_user_info.first_ms) falls on
 *    the day. This does not depend on the order events arrived in.
 *
 * Watch time (lt_stats_watch_time): for a group, every user whose current
 * groups include it (one pass over the users), with that day's watch time
 * and plays from the state (0 when none); without a group, the users with
 * any event that day. The threshold is compared in whole milliseconds:
 * met <=> watch_ms >= round(min_minutes * 60000).
 *
 * Items (lt_stats_item, lt_stats_top_items): counters from the state;
 * the traffic-pool stage from the feed's pools when the stats were given
 * them (lt_stats_set_pool_fn: the stage the feed really put the item in),
 * else from the threshold rule on lifetime impressions (stats.h).
 *
 * Everything here is a function of the state, which is a function of the
 * log: the same after a restart (pool stages from the feed are too: the
 * feed rebuilds its pools from the log at start).
 */
#include "stats/stats.h"

#include "core/clock.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

int lt_stats_range(const lt_state_t *st, const char *from, const char *to, uint32_t default_days,
                   int32_t *from_day, int32_t *to_day, const char **why) {
  int32_t f, t;
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  if (to && *to) {
    if (lt_day_parse(to, &t)) {
      *why = "to must be a date YYYY-MM-DD";
      return LT_EPARSE;
    }
  } else {
    lt_state_totals_t tot;
    lt_state_totals(st, &tot);
    t = tot.events ? tot.max_day : lt_tz_day(lt_state_tz(st), lt_now_ms() / 1000);
  }
  if (from && *from) {
    if (lt_day_parse(from, &f)) {
      *why = "from must be a date YYYY-MM-DD";
      return LT_EPARSE;
    }
  } else {
    f = t - (int32_t)(default_days ? default_days - 1 : 0);
  }
  if (f > t) {
    *why = "from is after to";
    return LT_ERANGE;
  }
  if ((int64_t)t - f >= LT_STATS_MAX_DAYS) {
    *why = "a range covers at most 366 days";
    return LT_ERANGE;
  }
  *from_day = f;
  *to_day = t;
  return LT_OK;
}

/* ---- platform ------------------------------------------------------- */

typedef struct scan {
  int32_t from, to;
  uint64_t *dau; /* [to - from + 1] */
  int64_t *diff; /* [to - from + 2]: MAU difference array */
  uint64_t active;
  uint32_t user;
  int have_user, counted;
  int32_t cov_end;
} scan_t;

static void scan_day(void *ctx, uint32_t user, int32_t day, uint64_t watch_ms, uint32_t plays) {
  scan_t *c = ctx;
  if (!c->have_user || user != c->user) {
    c->have_user = 1;
    c->user = user;
    c->counted = 0;
    c->cov_end = INT32_MIN;
  }
  if (day >= c->from && day <= c->to) {
    c->dau[day - c->from]++;
    if (!c->counted) {
      c->active++;
      c->counted = 1;
    }
  }
  int32_t s = day > c->from ? day : c->from;
  int32_t e = day + (LT_STATS_MAU_DAYS - 1) < c->to ? day + (LT_STATS_MAU_DAYS - 1) : c->to;
  if (c->cov_end != INT32_MIN && s <= c->cov_end) s = c->cov_end + 1;
  if (s <= e) {
    c->diff[s - c->from]++;
    c->diff[e - c->from + 1]--;
    c->cov_end = e;
  }
}

static void day_rates(lt_stats_day_t *d) {
  d->watch_hours = (double)d->watch_ms / 3600000.0;
  d->watch_min_per_dau = d->dau ? (double)d->watch_ms / 60000.0 / (double)d->dau : 0.0;
  d->completion_rate = ratio(d->completions, d->plays);
  d->likes_per_1k = d->impressions ? 1000.0 * (double)d->likes / (double)d->impressions : 0.0;
}

int lt_stats_platform(lt_state_t *st, int32_t from, int32_t to, lt_stats_platform_t *out) {
  memset(out, 0, sizeof *out);
  if (from > to || (int64_t)to - from >= LT_STATS_MAX_DAYS) return LT_ERANGE;
  uint32_t nd = (uint32_t)(to - from + 1);
  scan_t c = {.from = from, .to = to};
  out->days = calloc(nd, sizeof *out->days);
  c.dau = calloc(nd, sizeof *c.dau);
  c.diff = calloc((size_t)nd + 1, sizeof *c.diff);
  if (!out->days || !c.dau || !c.diff) {
    free(c.dau);
    free(c.diff);
    lt_stats_platform_free(out);
    return LT_ENOMEM;
  }
  out->from = from;
  out->to = to;
  out->ndays = nd;
  lt_state_each_user_day(st, from - (LT_STATS_MAU_DAYS - 1), to, scan_day, &c);
  out->active_users = c.active;
  /* new users: by each user's first event */
  const lt_tz_t *tz = lt_state_tz(st);
  uint32_t nu = lt_state_count(st, LT_NS_USER);
  for (uint32_t u = 0; u < nu; u++) {
    lt_user_info_t ui;
    if (lt_state_user_info(st, u, &ui) || !ui.events) continue;
    int32_t d = lt_tz_day(tz, ui.first_ms / 1000);
    if (d >= from && d <= to) out->days[d - from].new_users++;
  }
  int64_t mau = 0;
  lt_stats_day_t *sum = &out->sum;
  sum->day = from;
  for (uint32_t i = 0; i < nd; i++) {
    lt_stats_day_t *d = &out->days[i];
    lt_day_totals_t t;
    d->day = from + (int32_t)i;
    lt_state_day_totals(st, d->day, &t);
    mau += c.diff[i];
    d->dau = c.dau[i];
    d->mau = (uint64_t)mau;
    d->impressions = t.impressions;
    d->plays = t.plays;
    d->completions = t.completions;
    d->likes = t.likes;
    d->shares = t.shares;
    d->follows = t.follows;
    d->watch_ms = t.watch_ms;
    d->gift_cents = t.gift_cents;
    d->gmv_cents = t.gmv_cents;
    d->ad_spend_cents = 0;
    day_rates(d);
    sum->dau += d->dau;
    sum->new_users += d->new_users;
    sum->impressions += d->impressions;
    sum->plays += d->plays;
    sum->completions += d->completions;
    sum->likes += d->likes;
    sum->shares += d->shares;
    sum->follows += d->follows;
    sum->watch_ms += d->watch_ms;
    sum->gift_cents += d->gift_cents;
    sum->gmv_cents += d->gmv_cents;
  }
  /* the range: minutes per DAU over user-days; DAU the daily average;
   * MAU the last day's */
  day_rates(sum);
  sum->dau = (sum->dau + nd / 2) / nd;
  sum->mau = out->days[nd - 1].mau;
  free(c.dau);
  free(c.diff);
  return LT_OK;
}

void lt_stats_platform_free(lt_stats_platform_t *p) {
  if (!p) return;
  free(p->days);
  p->days = NULL;
  p->ndays = 0;
}

/* ---- watch time ----------------------------------------------------- */

uint64_t lt_stats_minutes_to_ms(double minutes) {
  if (!(minutes > 0)) return 0;
  return (uint64_t)llround(minutes * 60000.0);
}

typedef struct rows {
  lt_stats_wt_row_t *p;
  size_t n, cap;
  int err;
} rows_t;

static void rows_push(rows_t *r, uint32_t user, uint64_t watch_ms, uint32_t plays) {
  if (r->err) return;
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 64;
    lt_stats_wt_row_t *p = realloc(r->p, nc * sizeof *p);
    if (!p) {
      r->err = LT_ENOMEM;
      return;
    }
    r->p = p;
    r->cap = nc;
  }
  r->p[r->n++] = (lt_stats_wt_row_t){user, NULL, watch_ms, plays, 0};
}

static void collect_active(void *ctx, uint32_t user, int32_t day, uint64_t watch_ms,
                           uint32_t plays) {
  rows_push(ctx, user, watch_ms, plays);
}

static int cmp_row(const void *a, const void *b) {
  const lt_stats_wt_row_t *x = a, *y = b;
  if (x->watch_ms != y->watch_ms) return x->watch_ms > y->watch_ms ? -1 : 1;
  int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
  return c ? c : (x->user < y->user ? -1 : x->user > y->user);
}

int lt_stats_watch_time(lt_state_t *st, int32_t day, const char *group, double min_minutes,
                        lt_stats_wt_t *out) {
  memset(out, 0, sizeof *out);
  if (!(min_minutes >= 0 && min_minutes <= 1440)) return LT_EINVAL;
  size_t gl = group ? strlen(group) : 0;
  if (gl > LT_MAX_STR) return LT_EINVAL;
  out->day = day;
  out->min_minutes = min_minutes;
  out->min_ms = lt_stats_minutes_to_ms(min_minutes);
  out->timezone = lt_state_tz(st)->name;
  if (gl) memcpy(out->group, group, gl);
  rows_t r = {0};
  if (gl) {
    uint32_t gid;
    if (lt_state_find(st, LT_NS_GROUP, group, gl, &gid)) return LT_ENOTFOUND;
    uint32_t nu = lt_state_count(st, LT_NS_USER);
    for (uint32_t u = 0; u < nu && !r.err; u++) {
      /* asking for the count first (out = NULL) skips users without groups
       * cheaply, and never has the state copy from an empty list */
      if (!lt_state_user_groups(st, u, NULL, 0) || !lt_state_user_in_group(st, u, gid)) continue;
      uint64_t w;
      uint32_t p;
      lt_state_user_day(st, u, day, &w, &p);
      rows_push(&r, u, w, p);
    }
  } else {
    lt_state_each_user_day(st, day, day, collect_active, &r);
  }
  if (r.err) {
    free(r.p);
    return r.err;
  }
  for (size_t i = 0; i < r.n; i++) {
    r.p[i].name = lt_state_name(st, LT_NS_USER, r.p[i].user);
    r.p[i].met = r.p[i].watch_ms >= out->min_ms;
    out->met += (size_t)r.p[i].met;
  }
  if (r.n > 1) qsort(r.p, r.n, sizeof *r.p, cmp_row);
  out->rows = r.p;
  out->n = r.n;
  return LT_OK;
}

void lt_stats_wt_free(lt_stats_wt_t *r) {
  if (!r) return;
  free(r->rows);
  r->rows = NULL;
  r->n = 0;
}

/* ---- items ---------------------------------------------------------- */

const uint64_t lt_stats_pool_min[LT_STATS_POOLS - 1] = {0, 300, 3000, 30000, 300000};

int lt_stats_pool_stage(uint64_t impressions) {
  int s = 0;
  while (s + 1 <= LT_STATS_STAGE_TOP && impressions >= lt_stats_pool_min[s + 1])
    s++;
  return s;
}

const char *lt_stats_pool_name(int stage) {
  static const char *const names[LT_STATS_POOLS] = {"initial", "pool1", "pool2",
                                                    "pool3",   "top",   "none"};
  return stage >= 0 && stage < LT_STATS_POOLS ? names[stage] : "?";
}

const char *lt_stats_pool_status_name(int status) {
  static const char *const names[LT_STATS_POOL_STATUSES] = {"pool",      "judging", "organic",
                                                            "graduated", "expired", "none"};
  return status >= 0 && status < LT_STATS_POOL_STATUSES ? names[status] : "?";
}

int lt_stats_item(lt_state_t *st, const lt_stats_t *s, uint32_t item, lt_stats_item_t *out) {
  memset(out, 0, sizeof *out);
  const lt_item_meta_t *m = lt_state_item(st, item);
  const lt_item_counters_t *c = lt_state_item_counters(st, item);
  if (!m || !c) return LT_ENOTFOUND;
  out->item = item;
  out->name = lt_state_name(st, LT_NS_ITEM, item);
  out->creator = m->creator != LT_NONE ? lt_state_name(st, LT_NS_CREATOR, m->creator) : NULL;
  out->aigc = m->aigc;
  out->deleted = m->deleted;
  out->kind = m->kind;
  lt_state_item_counters_copy(st, item, &out->c); /* may be one event old */
  out->completion_rate = ratio(out->c.completions, out->c.plays);
  out->like_rate =
      out->c.impressions ? 1000.0 * (double)out->c.likes / (double)out->c.impressions : 0;
  out->stage = lt_stats_stage_of(s, st, item, &out->pool_status);
  return LT_OK;
}

int lt_stats_by_parse(const char *s, int *by) {
  if (!s || !*s || !strcmp(s, "impressions"))
    *by = LT_STATS_BY_IMPRESSIONS;
  else if (!strcmp(s, "plays"))
    *by = LT_STATS_BY_PLAYS;
  else if (!strcmp(s, "watch") || !strcmp(s, "watch_time"))
    *by = LT_STATS_BY_WATCH;
  else
    return LT_EINVAL;
  return LT_OK;
}

const char *lt_stats_by_name(int by) {
  return by == LT_STATS_BY_PLAYS ? "plays" : by == LT_STATS_BY_WATCH ? "watch" : "impressions";
}

static uint64_t item_key(const lt_item_counters_t *c, int by) {
  return by == LT_STATS_BY_PLAYS   ? c->plays
         : by == LT_STATS_BY_WATCH ? c->watch_ms
                                   : c->impressions;
}

typedef struct top_ent {
  uint64_t key;
  uint32_t item;
} top_ent_t;

/* better = larger key, then smaller id */
static int better(const top_ent_t *a, const top_ent_t *b) {
  return a->key != b->key ? a->key > b->key : a->item < b->item;
}

size_t lt_stats_top_items(lt_state_t *st, const lt_stats_t *s, int by, lt_stats_item_t *out,
                          size_t n) {
  if (n > LT_STATS_TOP_MAX) n = LT_STATS_TOP_MAX;
  top_ent_t top[LT_STATS_TOP_MAX];
  size_t k = 0;
  uint32_t ni = lt_state_count(st, LT_NS_ITEM);
  /* insertion into a sorted array of at most n: n <= 100, items scanned once */
  for (uint32_t i = 0; i < ni && n; i++) {
    const lt_item_meta_t *m = lt_state_item(st, i);
    const lt_item_counters_t *c = lt_state_item_counters(st, i);
    if (!m || !c || m->deleted) continue;
    top_ent_t e = {item_key(c, by), i};
    if (!e.key) continue;
    if (k == n && !better(&e, &top[k - 1])) continue;
    size_t j = k < n ? k++ : n - 1;
    while (j > 0 && better(&e, &top[j - 1])) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = e;
  }
  for (size_t i = 0; i < k; i++)
    lt_stats_item(st, s, top[i].item, &out[i]);
  return k;
}
