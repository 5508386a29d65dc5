/*
 * format.c — the text of every report, in JSON, CSV and a plain table
 * (see stats.h). The HTTP API and the CLI both print through these, so
 * `laotie report ... --format json` and the API give the same bytes for
 * the same data.
 *
 * Conventions: JSON is one object followed by a newline; dates are
 * "YYYY-MM-DD" in the state's zone; money in integer cents; minutes with
 * 2 decimals (truncated, see lt_stats_minutes), rates with 4. CSV follows
 * RFC 4180 (cells with a comma, quote or line break are quoted, quotes
 * doubled); a cell that a spreadsheet would evaluate (starting with =, +,
 * @, a tab or CR, or - not followed by a digit) gets a leading ' so an
 * id cannot smuggle a formula into an operator's spreadsheet.
 */
#include "stats/stats.h"

#include "core/clock.h"
#include "core/error.h"

#include <inttypes.h>
#include <string.h>

int lt_stats_fmt_parse(const char *s, int *fmt) {
  if (!s || !*s || !strcmp(s, "table") || !strcmp(s, "text"))
    *fmt = LT_FMT_TABLE;
  else if (!strcmp(s, "csv"))
    *fmt = LT_FMT_CSV;
  else if (!strcmp(s, "json"))
    *fmt = LT_FMT_JSON;
  else
    return LT_EINVAL;
  return LT_OK;
}


static void jstr(lt_buf_t *b, const char *s) {
  if (s)
    lt_buf_json_str(b, s, strlen(s));
  else
    lt_buf_put(b, "null", 4);
}

static void csv_cell(lt_buf_t *b, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  int formula = n && (s[0] == '=' || s[0] == '+' || s[0] == '@' || s[0] == '\t' || s[0] == '\r' ||
                      (s[0] == '-' && !(n > 1 && s[1] >= '0' && s[1] <= '9')));
  int quote = strpbrk(s, ",\"\r\n") != NULL;
  if (quote) lt_buf_u8(b, '"');
  if (formula) lt_buf_u8(b, '\'');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') lt_buf_u8(b, '"');
    lt_buf_u8(b, (unsigned char)s[i]);
  }
  if (quote) lt_buf_u8(b, '"');
}

static const char *date(int32_t day, char out[11]) {
  lt_day_format(day, out);
  return out;
}

/* Printable width of a table cell (ids are bytes; long ones are cut). */
#define TABLE_ID_MAX 40

static int done(lt_buf_t *b) { return b->err ? LT_ENOMEM : LT_OK; }

/* ---- watch time ----------------------------------------------------- */

int lt_stats_wt_write(const lt_stats_wt_t *r, int fmt, lt_buf_t *b) {
  char d[11];
  date(r->day, d);
  if (fmt == LT_FMT_JSON) {
    lt_buf_printf(b, "{\"date\": \"%s\", \"timezone\": ", d);
    jstr(b, r->timezone);
    lt_buf_put(b, ", \"group\": ", 11);
    jstr(b, r->group[0] ? r->group : NULL);
    lt_buf_printf(b,
                  ", \"min_minutes\": %.2f, \"min_ms\": %" PRIu64 ", \"members\": %zu, \"met\": "
                  "%zu, \"not_met\": %zu, \"users\": [",
                  r->min_minutes, r->min_ms, r->n, r->met, r->n - r->met);
    for (size_t i = 0; i < r->n; i++) {
      const lt_stats_wt_row_t *w = &r->rows[i];
      lt_buf_put(b, i ? ", {\"user\": " : "{\"user\": ", i ? 11 : 9);
      jstr(b, w->name);
      lt_buf_printf(
          b, ", \"minutes\": %.2f, \"watch_ms\": %" PRIu64 ", \"plays\": %u, \"met\": %s}",
          lt_stats_minutes(w->watch_ms), w->watch_ms, w->plays, w->met ? "true" : "false");
    }
    lt_buf_put(b, "]}\n", 3);
  } else if (fmt == LT_FMT_CSV) {
    lt_buf_printf(b, "date,group,user,minutes,watch_ms,plays,met\r\n");
    for (size_t i = 0; i < r->n; i++) {
      const lt_stats_wt_row_t *w = &r->rows[i];
      lt_buf_printf(b, "%s,", d);
      csv_cell(b, r->group);
      lt_buf_u8(b, ',');
      csv_cell(b, w->name);
      lt_buf_printf(b, ",%.2f,%" PRIu64 ",%u,%s\r\n", lt_stats_minutes(w->watch_ms), w->watch_ms,
                    w->plays, w->met ? "yes" : "no");
    }
  } else {
    int wid = 4;
    for (size_t i = 0; i < r->n; i++) {
      size_t l = r->rows[i].name ? strlen(r->rows[i].name) : 0;
      if (l > (size_t)wid) wid = l > TABLE_ID_MAX ? TABLE_ID_MAX : (int)l;
    }
    lt_buf_printf(b, "watch time on %s (%s), %s%s, minimum %.2f minutes: %zu of %zu met\n", d,
                  r->timezone ? r->timezone : "?", r->group[0] ? "group " : "",
                  r->group[0] ? r->group : "users active that day", r->min_minutes, r->met, r->n);
    lt_buf_printf(b, "%-*s %10s %7s  %s\n", wid, "user", "minutes", "plays", "met");
    for (size_t i = 0; i < r->n; i++) {
      const lt_stats_wt_row_t *w = &r->rows[i];
      lt_buf_printf(b, "%-*.*s %10.2f %7u  %s\n", wid, TABLE_ID_MAX, w->name ? w->name : "?",
                    lt_stats_minutes(w->watch_ms), w->plays, w->met ? "yes" : "no");
    }
  }
  return done(b);
}

/* ---- platform ------------------------------------------------------- */

static void day_json(lt_buf_t *b, const lt_stats_day_t *d, int with_date) {
  char ds[11];
  lt_buf_u8(b, '{');
  if (with_date) lt_buf_printf(b, "\"date\": \"%s\", ", date(d->day, ds));
  lt_buf_printf(
      b,
      "\"dau\": %" PRIu64 ", \"mau\": %" PRIu64 ", \"new_users\": %" PRIu64
      ", \"watch_minutes_per_dau\": %.2f, \"watch_hours\": %.2f, \"watch_ms\": %" PRIu64
      ", \"impressions\": %" PRIu64 ", \"plays\": %" PRIu64 ", \"completions\": %" PRIu64
      ", \"completion_rate\": %.4f, \"likes\": %" PRIu64
      ", \"likes_per_1k_impressions\": %.2f, \"shares\": %" PRIu64 ", \"follows\": %" PRIu64
      ", \"gift_cents\": %" PRIu64 ", \"gmv_cents\": %" PRIu64 ", \"ad_spend_cents\": %" PRIu64 "}",
      d->dau, d->mau, d->new_users, d->watch_min_per_dau, d->watch_hours, d->watch_ms,
      d->impressions, d->plays, d->completions, d->completion_rate, d->likes, d->likes_per_1k,
      d->shares, d->follows, d->gift_cents, d->gmv_cents, d->ad_spend_cents);
}

int lt_stats_platform_write(const lt_stats_platform_t *p, const char *tz, int fmt, lt_buf_t *b) {
  char f[11], t[11], ds[11];
  date(p->from, f);
  date(p->to, t);
  if (fmt == LT_FMT_JSON) {
    lt_buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"timezone\": ", f, t);
    jstr(b, tz);
    lt_buf_printf(b, ", \"active_users\": %" PRIu64 ", \"days\": [", p->active_users);
    for (uint32_t i = 0; i < p->ndays; i++) {
      if (i) lt_buf_put(b, ", ", 2);
      day_json(b, &p->days[i], 1);
    }
    lt_buf_put(b, "], \"summary\": ", 14);
    day_json(b, &p->sum, 0);
    lt_buf_put(b, "}\n", 2);
  } else if (fmt == LT_FMT_CSV) {
    lt_buf_printf(b, "date,dau,mau,new_users,watch_minutes_per_dau,watch_hours,impressions,plays,"
                     "completions,completion_rate,likes,likes_per_1k_impressions,gift_cents,"
                     "gmv_cents,ad_spend_cents\r\n");
    for (uint32_t i = 0; i < p->ndays; i++) {
      const lt_stats_day_t *d = &p->days[i];
      lt_buf_printf(b,
                    "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.2f,%.2f,%" PRIu64 ",%" PRIu64
                    ",%" PRIu64 ",%.4f,%" PRIu64 ",%.2f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
                    date(d->day, ds), d->dau, d->mau, d->new_users, d->watch_min_per_dau,
                    d->watch_hours, d->impressions, d->plays, d->completions, d->completion_rate,
                    d->likes, d->likes_per_1k, d->gift_cents, d->gmv_cents, d->ad_spend_cents);
    }
  } else {
    lt_buf_printf(b, "platform %s .. %s (%s): %" PRIu64 " distinct active users\n", f, t,
                  tz ? tz : "?", p->active_users);
    lt_buf_printf(b, "%-10s %8s %8s %6s %9s %9s %11s %9s %7s %8s %11s %11s\n", "date", "DAU", "MAU",
                  "new", "min/DAU", "watch_h", "impressions", "plays", "compl%", "likes/1k",
                  "gifts", "GMV");
    for (uint32_t i = 0; i <= p->ndays; i++) {
      const lt_stats_day_t *d = i < p->ndays ? &p->days[i] : &p->sum;
      lt_buf_printf(b,
                    "%-10s %8" PRIu64 " %8" PRIu64 " %6" PRIu64 " %9.2f %9.2f %11" PRIu64
                    " %9" PRIu64 " %7.2f %8.2f %11.2f %11.2f\n",
                    i < p->ndays ? date(d->day, ds) : "total", d->dau, d->mau, d->new_users,
                    d->watch_min_per_dau, d->watch_hours, d->impressions, d->plays,
                    100.0 * d->completion_rate, d->likes_per_1k, d->gift_cents / 100.0,
                    d->gmv_cents / 100.0);
    }
    lt_buf_printf(b, "(total row: DAU = daily average, MAU = last day's; ad spend: no ads module "
                     "yet)\n");
  }
  return done(b);
}

/* ---- ecosystem ------------------------------------------------------ */

static void eco_json(lt_buf_t *b, const lt_stats_eco_day_t *e, int with_date) {
  char ds[11];
  lt_buf_u8(b, '{');
  if (with_date) lt_buf_printf(b, "\"date\": \"%s\", ", date(e->day, ds));
  lt_buf_printf(b,
                "\"impressions\": %" PRIu64 ", \"watch_ms\": %" PRIu64 ", \"creators\": %" PRIu64
                ", \"creator_gini\": %.4f, \"young_creator_impressions\": %" PRIu64
                ", \"young_creator_share\": %.4f, \"aigc_impressions\": %" PRIu64
                ", \"aigc_impression_share\": %.4f, \"aigc_watch_ms\": %" PRIu64
                ", \"aigc_watch_share\": %.4f}",
                e->impressions, e->watch_ms, e->creators, e->gini, e->young_impressions,
                e->young_share, e->aigc_impressions, e->aigc_impression_share, e->aigc_watch_ms,
                e->aigc_watch_share);
}

int lt_stats_eco_write(const lt_stats_eco_t *e, const char *tz, int fmt, lt_buf_t *b) {
  char f[11], t[11], ds[11];
  date(e->from, f);
  date(e->to, t);
  if (fmt == LT_FMT_JSON) {
    lt_buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"timezone\": ", f, t);
    jstr(b, tz);
    lt_buf_printf(b, ", \"young_creator_days\": %d, \"days\": [", LT_STATS_YOUNG_DAYS);
    for (uint32_t i = 0; i < e->ndays; i++) {
      if (i) lt_buf_put(b, ", ", 2);
      eco_json(b, &e->days[i], 1);
    }
    lt_buf_put(b, "], \"summary\": ", 14);
    eco_json(b, &e->sum, 0);
    lt_buf_put(b, "}\n", 2);
  } else if (fmt == LT_FMT_CSV) {
    lt_buf_printf(b, "date,impressions,watch_ms,creators,creator_gini,young_creator_impressions,"
                     "young_creator_share,aigc_impressions,aigc_impression_share,aigc_watch_ms,"
                     "aigc_watch_share\r\n");
    for (uint32_t i = 0; i < e->ndays; i++) {
      const lt_stats_eco_day_t *d = &e->days[i];
      lt_buf_printf(b,
                    "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.4f,%" PRIu64 ",%.4f,%" PRIu64
                    ",%.4f,%" PRIu64 ",%.4f\r\n",
                    date(d->day, ds), d->impressions, d->watch_ms, d->creators, d->gini,
                    d->young_impressions, d->young_share, d->aigc_impressions,
                    d->aigc_impression_share, d->aigc_watch_ms, d->aigc_watch_share);
    }
  } else {
    lt_buf_printf(b, "ecosystem %s .. %s (%s)\n", f, t, tz ? tz : "?");
    lt_buf_printf(b, "%-10s %11s %8s %6s %7s %7s %7s\n", "date", "impressions", "creators", "gini",
                  "young%", "aigc%i", "aigc%w");
    for (uint32_t i = 0; i <= e->ndays; i++) {
      const lt_stats_eco_day_t *d = i < e->ndays ? &e->days[i] : &e->sum;
      lt_buf_printf(b, "%-10s %11" PRIu64 " %8" PRIu64 " %6.3f %7.2f %7.2f %7.2f\n",
                    i < e->ndays ? date(d->day, ds) : "range", d->impressions, d->creators, d->gini,
                    100.0 * d->young_share, 100.0 * d->aigc_impression_share,
                    100.0 * d->aigc_watch_share);
    }
    lt_buf_printf(b,
                  "(young: creators younger than %d days; aigc%%i / aigc%%w: AIGC share of "
                  "impressions / of watch time)\n",
                  LT_STATS_YOUNG_DAYS);
  }
  return done(b);
}

/* ---- creators, items, top ------------------------------------------- */

static void pools_json(lt_buf_t *b, const uint32_t *pool) {
  lt_buf_put(b, "{", 1);
  for (int s = 0; s < LT_STATS_POOLS; s++)
    lt_buf_printf(b, "%s\"%s\": %u", s ? ", " : "", lt_stats_pool_name(s), pool[s]);
  lt_buf_put(b, "}", 1);
}

static void creator_json(lt_buf_t *b, const lt_stats_creator_t *c) {
  lt_buf_put(b, "{\"id\": ", 7);
  jstr(b, c->name);
  lt_buf_printf(b,
                ", \"followers\": %" PRIu64 ", \"items\": %" PRIu64 ", \"impressions\": %" PRIu64
                ", \"plays\": %" PRIu64 ", \"watch_ms\": %" PRIu64 ", \"watch_hours\": %.2f"
                ", \"exposure_share\": %.4f, \"traffic_pool\": ",
                c->followers, c->items, c->impressions, c->plays, c->watch_ms,
                (double)c->watch_ms / 3600000.0, c->exposure_share);
  pools_json(b, c->pool);
  if (c->has_outcomes) { /* the feed's pools: where each item stands now */
    lt_buf_printf(b, ", \"traffic_pool_status\": {");
    for (int k = 0; k < LT_STATS_POOL_STATUSES; k++)
      lt_buf_printf(b, "%s\"%s\": %u", k ? ", " : "", lt_stats_pool_status_name(k), c->outcome[k]);
    lt_buf_u8(b, '}');
  }
  lt_buf_u8(b, '}');
}

int lt_stats_creator_write(const lt_stats_creator_t *c, int32_t from, int32_t to, lt_buf_t *b) {
  char f[11], t[11];
  lt_buf_printf(
      b, "{\"from\": \"%s\", \"to\": \"%s\", \"platform_impressions\": %" PRIu64 ", \"creator\": ",
      date(from, f), date(to, t), c->all_impressions);
  creator_json(b, c);
  lt_buf_put(b, "}\n", 2);
  return done(b);
}

static void item_json(lt_buf_t *b, const lt_stats_item_t *it) {
  lt_buf_put(b, "{\"id\": ", 7);
  jstr(b, it->name);
  lt_buf_put(b, ", \"creator\": ", 13);
  jstr(b, it->creator);
  lt_buf_printf(b,
                ", \"kind\": \"%s\", \"aigc\": %s, \"deleted\": %s, \"impressions\": %" PRIu64
                ", \"plays\": %" PRIu64 ", \"watch_ms\": %" PRIu64 ", \"completions\": %" PRIu64
                ", \"completion_rate\": %.4f, \"likes\": %" PRIu64
                ", \"likes_per_1k_impressions\": %.2f, \"shares\": %" PRIu64
                ", \"comments\": %" PRIu64 ", \"follows\": %" PRIu64 ", \"traffic_pool\": \"%s\"",
                lt_item_kind_name(it->kind), it->aigc ? "true" : "false",
                it->deleted ? "true" : "false", it->c.impressions, it->c.plays, it->c.watch_ms,
                it->c.completions, it->completion_rate, it->c.likes, it->like_rate, it->c.shares,
                it->c.comments, it->c.follows, lt_stats_pool_name(it->stage));
  if (it->pool_status >= 0)
    lt_buf_printf(b, ", \"traffic_pool_status\": \"%s\"",
                  lt_stats_pool_status_name(it->pool_status));
  lt_buf_u8(b, '}');
}

int lt_stats_item_write(const lt_stats_item_t *it, lt_buf_t *b) {
  item_json(b, it);
  lt_buf_u8(b, '\n');
  return done(b);
}

int lt_stats_top_write(const lt_stats_creator_t *cr, size_t ncr, const lt_stats_item_t *it,
                       size_t nit, int32_t from, int32_t to, int by, lt_buf_t *b) {
  char f[11], t[11];
  lt_buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"by\": \"%s\", \"creators\": [",
                date(from, f), date(to, t), lt_stats_by_name(by));
  for (size_t i = 0; i < ncr; i++) {
    if (i) lt_buf_put(b, ", ", 2);
    creator_json(b, &cr[i]);
  }
  lt_buf_put(b, "], \"items_lifetime\": [", 22);
  for (size_t i = 0; i < nit; i++) {
    if (i) lt_buf_put(b, ", ", 2);
    item_json(b, &it[i]);
  }
  lt_buf_put(b, "]}\n", 3);
  return done(b);
}
