/*
 * routes_stats.c — analytics over HTTP: the reports and stats routes and
 * the dashboard at / (see routes_stats.h for the routes).
 *
 * The JSON and CSV bodies are written by stats/format.c, the same code
 * the CLI prints with, so `laotie report` and the API agree byte for byte.
 * Reports that read the state's per-day totals run inside lt_store_locked
 * (the state's day array can be reallocated by a write); the rest read the
 * state's lock-free or stripe-locked accessors and the stats' rwlock.
 *
 * The dashboard is one HTML page rendered here with inline SVG charts and
 * inline CSS: no script, no external asset, no network. Its
 * Content-Security-Policy (a meta tag) forbids loading anything at all, so
 * even an id that slipped past escaping could not fetch or run anything.
 * Every string from the data (user, group, creator, item ids) is
 * HTML-escaped, and query values echoed into links are URL-encoded. No key
 * is ever written into the page. Each chart is
 *   <svg class="chart" id="chart-NAME" data-points="P" data-nonzero="Z">
 * with one <circle class="pt"> per data point, so a test (and a reader)
 * can see that a chart has data.
 */
#include "http/routes_stats.h"

#include "core/clock.h"
#include "core/error.h"
#include "stats/stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define R(r) (&(r)->out)
#define PUT(b, lit) lt_buf_put((b), (lit), strlen(lit))
#define DASH_DAYS 30     /* the dashboard's default range */
#define DASH_TOP 10      /* rows of its top lists */
#define DASH_WT_ROWS 500 /* watch-time rows shown (the CSV link has all) */

static lt_state_t *state_of(lt__req_t *r) { return lt_store_state(r->srv->store); }
static lt_stats_t *stats_of(lt__req_t *r) { return r->srv->opts.stats; }

static int need_stats(lt__req_t *r) {
  if (stats_of(r)) return 1;
  lt__error(r, 503, "unavailable", "analytics are not enabled in this server");
  return 0;
}

static int range_args(lt__req_t *r, int32_t *from, int32_t *to) {
  const char *why = NULL;
  int rc =
      lt_stats_range(state_of(r), lt__arg(r, "from"), lt__arg(r, "to"), DASH_DAYS, from, to, &why);
  if (rc) lt__error(r, 400, "bad_parameter", "%s", why ? why : lt_strerror(rc));
  return rc ? -1 : 0;
}

static int fmt_arg(lt__req_t *r, int *fmt) {
  const char *f = lt__arg(r, "format");
  if (!f || !*f || !strcmp(f, "json"))
    *fmt = LT_FMT_JSON;
  else if (!strcmp(f, "csv"))
    *fmt = LT_FMT_CSV;
  else {
    lt__error(r, 400, "bad_parameter", "format must be json or csv");
    return -1;
  }
  return 0;
}

static void answer(lt__req_t *r, int fmt, int rc) {
  if (rc) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  if (fmt == LT_FMT_CSV) r->content_type = "text/csv; charset=utf-8";
  lt__ok(r, 200);
}

/* Parses min_minutes (default 60): a number in [0, 1440]. */
static int minutes_arg(lt__req_t *r, const char *name, double *out) {
  const char *v = lt__arg(r, name);
  *out = 60;
  if (!v || !*v) return 0;
  char *end;
  double x = strtod(v, &end);
  if (*end || !isfinite(x) || x < 0 || x > 1440) {
    lt__error(r, 400, "bad_parameter", "%s must be a number of minutes in [0, 1440]", name);
    return -1;
  }
  *out = x;
  return 0;
}

static int32_t today(lt_state_t *st) { return lt_tz_day(lt_state_tz(st), lt_now_ms() / 1000); }

/* ---- platform under the writer lock -------------------------------- */

typedef struct plat_job {
  int32_t from, to;
  lt_stats_platform_t p;
  lt_state_totals_t tot;
  int rc;
} plat_job_t;

static void plat_locked(void *ctx, lt_state_t *st) {
  plat_job_t *j = ctx;
  j->rc = lt_stats_platform(st, j->from, j->to, &j->p);
  lt_state_totals(st, &j->tot);
}

/* ---- the JSON / CSV routes ------------------------------------------ */

void lt__h_report_watch_time(lt__req_t *r) {
  lt_state_t *st = state_of(r);
  const char *date = lt__arg(r, "date"), *group = lt__arg(r, "group");
  int32_t day = today(st);
  double min;
  int fmt;
  if (date && *date && lt_day_parse(date, &day)) {
    lt__error(r, 400, "bad_parameter", "date must be YYYY-MM-DD");
    return;
  }
  if (group && strlen(group) > r->srv->opts.max_id) {
    lt__error(r, 400, "bad_parameter", "group names are limited to %u bytes", r->srv->opts.max_id);
    return;
  }
  if (minutes_arg(r, "min_minutes", &min) || fmt_arg(r, &fmt)) return;
  lt_stats_wt_t wt;
  int rc = lt_stats_watch_time(st, day, group, min, &wt);
  if (rc == LT_ENOTFOUND) {
    lt__error(r, 404, "no_such_group", "no user has ever been in group '%s'", group);
    return;
  }
  if (rc) {
    lt__error(r, rc == LT_EINVAL ? 400 : 503, "bad_parameter", "%s", lt_strerror(rc));
    return;
  }
  rc = lt_stats_wt_write(&wt, fmt, R(r));
  lt_stats_wt_free(&wt);
  answer(r, fmt, rc);
}

void lt__h_stats_platform(lt__req_t *r) {
  plat_job_t j;
  int fmt;
  memset(&j, 0, sizeof j);
  if (range_args(r, &j.from, &j.to) || fmt_arg(r, &fmt)) return;
  lt_store_locked(r->srv->store, plat_locked, &j);
  if (j.rc) {
    lt__error(r, 503, "out_of_memory", "%s", lt_strerror(j.rc));
    return;
  }
  int rc = lt_stats_platform_write(&j.p, lt_state_tz(state_of(r))->name, fmt, R(r));
  lt_stats_platform_free(&j.p);
  answer(r, fmt, rc);
}

void lt__h_stats_ecosystem(lt__req_t *r) {
  int32_t from, to;
  int fmt;
  if (!need_stats(r) || range_args(r, &from, &to) || fmt_arg(r, &fmt)) return;
  lt_stats_eco_t e;
  int rc = lt_stats_ecosystem(stats_of(r), from, to, &e);
  if (rc) {
    lt__error(r, 503, "out_of_memory", "%s", lt_strerror(rc));
    return;
  }
  rc = lt_stats_eco_write(&e, lt_state_tz(state_of(r))->name, fmt, R(r));
  lt_stats_eco_free(&e);
  answer(r, fmt, rc);
}

void lt__h_stats_creator(lt__req_t *r) {
  int32_t from, to;
  uint32_t cid;
  if (!need_stats(r) || !lt__param_ok(r, 0) || range_args(r, &from, &to)) return;
  if (lt_state_find(state_of(r), LT_NS_CREATOR, r->params[0].p, r->params[0].n, &cid)) {
    lt__error(r, 404, "not_found", "no such creator");
    return;
  }
  lt_stats_creator_t c;
  int rc = lt_stats_creator(stats_of(r), cid, from, to, &c);
  if (rc) {
    lt__error(r, 404, "not_found", "%s", lt_strerror(rc));
    return;
  }
  answer(r, LT_FMT_JSON, lt_stats_creator_write(&c, from, to, R(r)));
}

void lt__h_stats_item(lt__req_t *r) {
  uint32_t iid;
  if (!lt__param_ok(r, 0)) return;
  lt_stats_item_t it;
  if (lt_state_find(state_of(r), LT_NS_ITEM, r->params[0].p, r->params[0].n, &iid) ||
      lt_stats_item(state_of(r), stats_of(r), iid, &it)) {
    lt__error(r, 404, "not_found", "no such item");
    return;
  }
  answer(r, LT_FMT_JSON, lt_stats_item_write(&it, R(r)));
}

void lt__h_stats_top(lt__req_t *r) {
  int32_t from, to;
  uint32_t n;
  int by;
  if (!need_stats(r) || range_args(r, &from, &to) ||
      lt__arg_u32(r, "n", 10, 1, LT_STATS_TOP_MAX, &n))
    return;
  if (lt_stats_by_parse(lt__arg(r, "by"), &by)) {
    lt__error(r, 400, "bad_parameter", "by must be impressions, plays or watch");
    return;
  }
  lt_stats_creator_t *cr = calloc(n, sizeof *cr);
  lt_stats_item_t *it = calloc(n, sizeof *it);
  if (!cr || !it) {
    free(cr);
    free(it);
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  size_t nc = lt_stats_top_creators(stats_of(r), from, to, by, cr, n);
  size_t ni = lt_stats_top_items(state_of(r), stats_of(r), by, it, n);
  int rc = lt_stats_top_write(cr, nc, it, ni, from, to, by, R(r));
  free(cr);
  free(it);
  answer(r, LT_FMT_JSON, rc);
}

/* ---- HTML helpers ---------------------------------------------------- */

static void esc(lt_buf_t *b, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&':
      PUT(b, "&amp;");
      break;
    case '<':
      PUT(b, "&lt;");
      break;
    case '>':
      PUT(b, "&gt;");
      break;
    case '"':
      PUT(b, "&quot;");
      break;
    case '\'':
      PUT(b, "&#39;");
      break;
    default:
      lt_buf_u8(b, (unsigned char)*s);
    }
  }
}

/* URL-encodes s into a query value (then HTML-escaping is a no-op). */
static void urlenc(lt_buf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      lt_buf_u8(b, c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      lt_buf_put(b, e, 3);
    }
  }
}

/* "YYYY-MM-DD HH:MM" local time of unix ms. */
static void fmt_time(const lt_tz_t *tz, int64_t ms, char out[20]) {
  int64_t t = ms / 1000, local = t + lt_tz_offset(tz, t);
  int64_t day = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  int64_t sec = local - day * 86400;
  char d[11];
  lt_day_format((int32_t)day, d);
  snprintf(out, 20, "%s %02d:%02d", d, (int)(sec / 3600), (int)(sec / 60 % 60));
}

/* "3 min", "5.2 h", "2.0 days" */
static void fmt_age(int64_t ms, char out[32]) {
  double s = ms < 0 ? 0 : ms / 1000.0;
  if (s < 120)
    snprintf(out, 32, "%.0f s", s);
  else if (s < 7200)
    snprintf(out, 32, "%.0f min", s / 60);
  else if (s < 172800)
    snprintf(out, 32, "%.1f h", s / 3600);
  else
    snprintf(out, 32, "%.1f days", s / 86400);
}

static void fmt_num(double v, int pct, char out[32]) {
  if (pct)
    snprintf(out, 32, "%.1f%%", v * 100);
  else if (fabs(v) >= 1e6)
    snprintf(out, 32, "%.2fM", v / 1e6);
  else if (fabs(v) >= 1e4)
    snprintf(out, 32, "%.1fk", v / 1e3);
  else if (fabs(v) >= 100 || v == floor(v))
    snprintf(out, 32, "%.0f", v);
  else if (fabs(v) >= 10)
    snprintf(out, 32, "%.1f", v);
  else
    snprintf(out, 32, "%.2f", v);
}

/* The smallest of 1, 2, 2.5, 5 x 10^k that is >= v (v > 0). */
static double nice_ceil(double v) {
  double p = pow(10, floor(log10(v)));
  static const double steps[] = {1, 2, 2.5, 5, 10};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
    if (steps[i] * p >= v * (1 - 1e-12)) return steps[i] * p;
  return 10 * p;
}

typedef struct series {
  const char *name, *color;
  const double *y;
} series_t;

/* An SVG line chart of ns series over n days from `from`. pct: values are
 * fractions shown as percentages. */
static void chart(lt_buf_t *b, const char *id, const char *title, const char *note, int32_t from,
                  uint32_t n, const series_t *s, int ns, int pct) {
  enum { W = 600, H = 244, PL = 58, PR = 14, PT = 14, PB = 60 };
  const double pw = W - PL - PR, ph = H - PT - PB;
  double ymax = 0;
  uint32_t nonzero = 0;
  for (int k = 0; k < ns; k++)
    for (uint32_t i = 0; i < n; i++) {
      if (s[k].y[i] > ymax) ymax = s[k].y[i];
      nonzero += s[k].y[i] > 0;
    }
  ymax = ymax > 0 ? nice_ceil(ymax) : (pct ? 1 : 1);
  lt_buf_printf(b, "<figure><figcaption>%s", title);
  if (note) {
    PUT(b, " <small>");
    esc(b, note);
    PUT(b, "</small>");
  }
  lt_buf_printf(b,
                "</figcaption>\n<svg class=\"chart\" id=\"chart-%s\" data-points=\"%u\" "
                "data-nonzero=\"%u\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
                "aria-label=\"%s\" xmlns=\"http://www.w3.org/2000/svg\">\n",
                id, n * (uint32_t)ns, nonzero, W, H, W, H, title);
  for (int g = 0; g <= 4; g++) { /* grid and y labels */
    double v = ymax * g / 4, y = PT + ph - ph * g / 4;
    char lab[32];
    fmt_num(v, pct, lab);
    lt_buf_printf(b,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                  "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n",
                  PL, W - PR, y, y, PL - 6, y + 4, lab);
  }
  uint32_t xl[3] = {0, n / 2, n ? n - 1 : 0};
  for (int k = 0; k < 3 && n; k++) {
    if (k && xl[k] == xl[k - 1]) continue;
    char d[11];
    lt_day_format(from + (int32_t)xl[k], d);
    double x = PL + (n > 1 ? pw * xl[k] / (n - 1) : pw / 2);
    const char *anchor = n == 1           ? "middle"
                         : xl[k] == 0     ? "start"
                         : xl[k] == n - 1 ? "end"
                                          : "middle";
    lt_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"xl\" text-anchor=\"%s\">%s</text>\n", x,
                  PT + (int)ph + 16, anchor, d + 5);
  }
  for (int k = 0; k < ns; k++) {
    lt_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                  s[k].color);
    for (uint32_t i = 0; i < n; i++) {
      double x = PL + (n > 1 ? pw * i / (n - 1) : pw / 2), y = PT + ph - ph * s[k].y[i] / ymax;
      lt_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", x, y);
    }
    PUT(b, "\"/>\n");
    for (uint32_t i = 0; i < n; i++) {
      double x = PL + (n > 1 ? pw * i / (n - 1) : pw / 2), y = PT + ph - ph * s[k].y[i] / ymax;
      char d[11], v[32];
      lt_day_format(from + (int32_t)i, d);
      if (pct)
        snprintf(v, sizeof v, "%.2f%%", s[k].y[i] * 100);
      else
        snprintf(v, sizeof v, "%.6g", s[k].y[i]);
      lt_buf_printf(b,
                    "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" "
                    "data-v=\"%.6g\"><title>%s %s: %s</title></circle>",
                    x, y, s[k].color, s[k].y[i], d, s[k].name, v);
    }
    lt_buf_u8(b, '\n');
  }
  int lx = PL, ly = PT + (int)ph + 32;
  for (int k = 0; k < ns; k++) { /* legend: wraps to a second row when full */
    int w = 34 + 13 * (int)strlen(s[k].name) / 2;
    if (lx > PL && lx + w > W - PR) {
      lx = PL;
      ly += 14;
    }
    lt_buf_printf(b,
                  "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\" class=\"lg\">",
                  lx, ly - 5, s[k].color, lx + 16, ly);
    esc(b, s[k].name);
    PUT(b, "</text>\n");
    lx += w;
  }
  PUT(b, "</svg></figure>\n");
}

/* ---- dashboard auth --------------------------------------------------- */

/* Decodes standard base64 into out (at most max bytes); returns the length
 * or -1 when malformed. */
static long b64dec(const char *s, unsigned char *out, size_t max) {
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (; *s && *s != '='; s++) {
    const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(al, *s);
    if (!p || !*s) return -1;
    acc = acc << 6 | (uint32_t)(p - al);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= max) return -1;
      out[n++] = (unsigned char)(acc >> bits);
    }
  }
  return (long)n;
}

/* With a read key configured, the dashboard takes it (or the write key) as
 * a Bearer token or as the password of HTTP Basic auth. */
static int dash_auth(lt__req_t *r) {
  lt_server_t *s = r->srv;
  if (!s->read_key) return 1;
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  unsigned char dec[512];
  const char *tok = NULL;
  size_t nt = 0;
  if (h && !strncmp(h, "Bearer ", 7)) {
    tok = h + 7;
    nt = strlen(tok);
  } else if (h && !strncmp(h, "Basic ", 6)) {
    long n = b64dec(h + 6, dec, sizeof dec);
    const unsigned char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
    if (colon) {
      tok = (const char *)colon + 1;
      nt = (size_t)(dec + n - colon - 1);
    }
  }
  if (tok && (lt__ct_equal(tok, nt, s->read_key, strlen(s->read_key)) ||
              lt__ct_equal(tok, nt, s->api_key, strlen(s->api_key)))) return 1;
  r->challenge = "Basic realm=\"laotie dashboard\", charset=\"UTF-8\"";
  lt_buf_reset(R(r));
  lt_buf_printf(R(r), "<!doctype html><meta charset=\"utf-8\"><title>laotie</title>"
                      "<p>This server has a read key. Log in with any user name and the read key "
                      "as the password.</p>\n");
  r->content_type = "text/html; charset=utf-8";
  lt__ok(r, 401);
  return 0;
}

/* ---- the dashboard ---------------------------------------------------- */

static const char *css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1280px;padding:12px 20px;"
    "color:#1d2330;background:#fff}h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:22px 0 "
    "6px;border-bottom:1px solid #d8dce3;padding-bottom:3px}.meta{color:#555}.kpis{display:flex;"
    "flex-wrap:wrap;gap:8px;margin:10px 0}.kpi{border:1px solid #d8dce3;border-radius:6px;"
    "padding:6px 12px;min-width:120px}.kpi b{display:block;font-size:20px}.grid{display:grid;"
    "grid-template-columns:repeat(auto-fill,minmax(610px,1fr));gap:8px}figure{margin:0;border:1px "
    "solid #e3e6eb;border-radius:6px;padding:6px}figcaption{font-weight:600}figcaption small{"
    "font-weight:400;color:#666}svg .grid{stroke:#e6e8ec}svg text{font-size:11px;fill:#555}"
    "svg .yl{text-anchor:end}table{border-collapse:collapse;margin:6px "
    "0}td,th{border:1px solid #d8dce3;padding:3px 8px;text-align:right}td:first-child,"
    "th:first-child{text-align:left}th{background:#f3f5f8}.no{color:#b3261e;font-weight:600}.yes{"
    "color:#1b6e2f;font-weight:600}.err{background:#fdecea;border:1px solid #f5c2c0;padding:6px "
    "10px}form{display:flex;gap:10px;align-items:end;flex-wrap:wrap}label{display:flex;"
    "flex-direction:column;font-size:12px;color:#555}input{font:inherit;padding:2px 4px}"
    ".cols{display:grid;grid-template-columns:repeat(auto-fill,minmax(610px,1fr));gap:16px}";

typedef struct dash {
  plat_job_t pj;
  lt_stats_eco_t eco;
  int eco_rc;
  lt_stats_wt_t wt;
  int wt_rc;
  int32_t day;
  const char *group;
  double min;
  lt_stats_creator_t tc[DASH_TOP];
  size_t ntc;
  lt_stats_item_t ti[DASH_TOP];
  size_t nti;
} dash_t;

static void kpi(lt_buf_t *b, const char *label, const char *value) {
  lt_buf_printf(b, "<div class=\"kpi\">%s<b>%s</b></div>", label, value);
}

static void wt_section(lt__req_t *r, dash_t *d) {
  lt_buf_t *b = R(r);
  lt_state_t *st = state_of(r);
  char date[11];
  lt_day_format(d->day, date);
  lt_buf_printf(
      b,
      "<h2 id=\"watch-time\">Watch-time report</h2>\n<form method=\"get\" "
      "action=\"/#watch-time\"><label>date<input type=\"date\" name=\"date\" value=\"%s\">"
      "</label><label>group<input name=\"group\" list=\"groups\" value=\"",
      date);
  esc(b, d->group ? d->group : "");
  lt_buf_printf(b,
                "\"></label><label>minimum minutes<input type=\"number\" name=\"min\" min=\"0\" "
                "max=\"1440\" step=\"0.01\" value=\"%.2f\"></label>",
                d->min);
  char f[11], t[11];
  lt_day_format(d->pj.from, f);
  lt_day_format(d->pj.to, t);
  lt_buf_printf(b,
                "<input type=\"hidden\" name=\"from\" value=\"%s\"><input type=\"hidden\" "
                "name=\"to\" value=\"%s\"><button>show</button></form>\n<datalist id=\"groups\">",
                f, t);
  uint32_t ng = lt_state_count(st, LT_NS_GROUP);
  for (uint32_t g = 0; g < ng && g < 200; g++) {
    PUT(b, "<option value=\"");
    esc(b, lt_state_name(st, LT_NS_GROUP, g));
    PUT(b, "\">");
  }
  PUT(b, "</datalist>\n");
  if (d->wt_rc == LT_ENOTFOUND) {
    PUT(b, "<p class=\"err\">No user has ever been in group '");
    esc(b, d->group);
    PUT(b, "'.</p>\n");
    return;
  }
  if (d->wt_rc) {
    lt_buf_printf(b, "<p class=\"err\">%s</p>\n", lt_strerror(d->wt_rc));
    return;
  }
  const lt_stats_wt_t *w = &d->wt;
  lt_buf_printf(b, "<p id=\"wt-summary\"><b>%zu of %zu</b> ", w->met, w->n);
  if (w->group[0]) {
    PUT(b, "members of <b>");
    esc(b, w->group);
    PUT(b, "</b>");
  } else {
    PUT(b, "users active that day");
  }
  lt_buf_printf(b,
                " watched at least %.2f minutes on %s (%s). Download: <a href=\"/v1/reports/"
                "watch-time?date=%s&amp;min_minutes=%.2f",
                w->min_minutes, date, w->timezone, date, w->min_minutes);
  if (w->group[0]) {
    PUT(b, "&amp;group=");
    urlenc(b, w->group);
  }
  PUT(b, "&amp;format=csv\">CSV</a> (every row)</p>\n");
  lt_buf_printf(b, "<table id=\"wt-table\"><tr><th>user</th><th>minutes</th><th>plays</th>"
                   "<th>met</th></tr>\n");
  for (size_t i = 0; i < w->n && i < DASH_WT_ROWS; i++) {
    const lt_stats_wt_row_t *row = &w->rows[i];
    PUT(b, "<tr><td>");
    esc(b, row->name);
    lt_buf_printf(b, "</td><td>%.2f</td><td>%u</td><td class=\"%s\">%s</td></tr>\n",
                  lt_stats_minutes(row->watch_ms), row->plays, row->met ? "yes" : "no",
                  row->met ? "yes" : "no");
  }
  PUT(b, "</table>\n");
  if (w->n > DASH_WT_ROWS)
    lt_buf_printf(b, "<p>%zu more rows in the CSV.</p>\n", w->n - DASH_WT_ROWS);
}

static void top_tables(lt_buf_t *b, dash_t *d) {
  PUT(b,
      "<div class=\"cols\"><div><h2>Top creators <small>(impressions in the range)</small>"
      "</h2><table id=\"top-creators\"><tr><th>creator</th><th>impressions</th><th>share</th>"
      "<th>watch h</th><th>followers</th><th>items by pool (initial/1/2/3/top/none)</th></tr>\n");
  for (size_t i = 0; i < d->ntc; i++) {
    const lt_stats_creator_t *c = &d->tc[i];
    PUT(b, "<tr><td>");
    esc(b, c->name);
    lt_buf_printf(b,
                  "</td><td>%" PRIu64 "</td><td>%.1f%%</td><td>%.2f</td><td>%" PRIu64
                  "</td><td>%u/%u/%u/%u/%u/%u</td></tr>\n",
                  c->impressions, 100 * c->exposure_share, c->watch_ms / 3600000.0, c->followers,
                  c->pool[0], c->pool[1], c->pool[2], c->pool[3], c->pool[4], c->pool[5]);
  }
  lt_buf_printf(b, "</table></div><div><h2>Top items <small>(lifetime impressions)</small></h2>"
                   "<table id=\"top-items\"><tr><th>item</th><th>creator</th><th>impressions</th>"
                   "<th>plays</th><th>completion</th><th>likes/1k</th><th>pool</th><th>AIGC</th>"
                   "</tr>\n");
  for (size_t i = 0; i < d->nti; i++) {
    const lt_stats_item_t *it = &d->ti[i];
    PUT(b, "<tr><td>");
    esc(b, it->name);
    PUT(b, "</td><td>");
    esc(b, it->creator ? it->creator : "-");
    lt_buf_printf(b,
                  "</td><td>%" PRIu64 "</td><td>%" PRIu64
                  "</td><td>%.1f%%</td><td>%.1f</td><td>%s</td><td>%s</td></tr>\n",
                  it->c.impressions, it->c.plays, 100 * it->completion_rate, it->like_rate,
                  lt_stats_pool_name(it->stage), it->aigc ? "yes" : "no");
  }
  PUT(b, "</table></div></div>\n");
}

/* The default group of the report: "staff" when it exists, else the first. */
static const char *default_group(lt_state_t *st) {
  uint32_t g;
  if (!lt_state_find(st, LT_NS_GROUP, "staff", 5, &g)) return "staff";
  return lt_state_count(st, LT_NS_GROUP) ? lt_state_name(st, LT_NS_GROUP, 0) : NULL;
}

void lt__h_dashboard(lt__req_t *r) {
  if (!dash_auth(r)) return;
  lt_state_t *st = state_of(r);
  const lt_tz_t *tz = lt_state_tz(st);
  lt_stats_t *s = stats_of(r);
  dash_t *d = calloc(1, sizeof *d);
  if (!d) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  const char *err = NULL, *why = NULL;
  if (lt_stats_range(st, lt__arg(r, "from"), lt__arg(r, "to"), DASH_DAYS, &d->pj.from, &d->pj.to,
                     &why)) {
    err = why;
    lt_stats_range(st, NULL, NULL, DASH_DAYS, &d->pj.from, &d->pj.to, NULL);
  }
  const char *date = lt__arg(r, "date"), *group = lt__arg(r, "group"), *min = lt__arg(r, "min");
  d->day = d->pj.to;
  if (date && *date && lt_day_parse(date, &d->day)) err = "date must be YYYY-MM-DD";
  d->group = group ? (*group ? group : NULL) : default_group(st);
  if (d->group && strlen(d->group) > r->srv->opts.max_id) {
    err = "the group name is too long";
    d->group = NULL;
  }
  d->min = 60;
  if (min && *min) {
    char *end;
    double x = strtod(min, &end);
    if (*end || !isfinite(x) || x < 0 || x > 1440)
      err = "minimum minutes must be in [0, 1440]";
    else
      d->min = x;
  }

  lt_store_locked(r->srv->store, plat_locked, &d->pj);
  d->wt_rc = lt_stats_watch_time(st, d->day, d->group, d->min, &d->wt);
  d->eco_rc = s ? lt_stats_ecosystem(s, d->pj.from, d->pj.to, &d->eco) : LT_ENOTFOUND;
  if (s)
    d->ntc =
        lt_stats_top_creators(s, d->pj.from, d->pj.to, LT_STATS_BY_IMPRESSIONS, d->tc, DASH_TOP);
  d->nti = lt_stats_top_items(st, s, LT_STATS_BY_IMPRESSIONS, d->ti, DASH_TOP);

  lt_buf_t *b = R(r);
  char f[11], t[11], buf[32], tbuf[20];
  lt_day_format(d->pj.from, f);
  lt_day_format(d->pj.to, t);
  lt_buf_printf(b,
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'\">"
                "<title>laotie dashboard</title><style>%s</style></head><body>\n"
                "<h1>laotie — dashboard</h1>\n<p class=\"meta\">%s .. %s (%s). ",
                css, f, t, tz->name);
  const lt_state_totals_t *tot = &d->pj.tot;
  lt_buf_printf(b,
                "%" PRIu64 " events, %" PRIu64 " users, %" PRIu64 " items, %" PRIu64 " creators. ",
                tot->events, tot->users, tot->items, tot->creators);
  int64_t now = lt_now_ms();
  uint64_t mv = r->srv->feed ? lt_feed_model_version(r->srv->feed) : 0;
  int64_t trained = r->srv->feed ? lt_feed_model_trained_at(r->srv->feed) : 0;
  lt_buf_printf(b, "<span id=\"model\">Model version <b>%" PRIu64 "</b>", mv);
  if (trained) {
    fmt_time(tz, trained, tbuf);
    fmt_age(now - trained, buf);
    lt_buf_printf(b, ", trained %s (%s ago)", tbuf, buf);
  } else {
    PUT(b, " (not trained yet)");
  }
  PUT(b, "</span>. ");
  if (tot->events) {
    fmt_time(tz, tot->max_ts_ms, tbuf);
    fmt_age(now - tot->max_ts_ms, buf);
    lt_buf_printf(b, "<span id=\"freshness\">Newest event %s (%s ago).</span>", tbuf, buf);
  }
  lt_buf_printf(b, " Rendered %s.</p>\n", (fmt_time(tz, now, tbuf), tbuf));
  if (err) {
    PUT(b, "<p class=\"err\">");
    esc(b, err);
    PUT(b, " — showing the defaults instead.</p>\n");
  }
  if (s && lt_stats_degraded(s))
    lt_buf_printf(b, "<p class=\"err\">Analytics ran out of memory while counting: some figures "
                     "may be short until a restart.</p>\n");

  uint32_t n = d->pj.p.ndays;
  if (d->pj.rc || !n) {
    lt_buf_printf(b, "<p class=\"err\">platform figures unavailable: %s</p>",
                  lt_strerror(d->pj.rc));
  } else {
    const lt_stats_day_t *last = &d->pj.p.days[n - 1];
    char dl[11];
    lt_day_format(last->day, dl);
    lt_buf_printf(b, "<div class=\"kpis\" id=\"kpis\">");
    snprintf(buf, sizeof buf, "%" PRIu64, last->dau);
    kpi(b, "DAU", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, last->mau);
    kpi(b, "MAU (30 d)", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, last->new_users);
    kpi(b, "new users", buf);
    snprintf(buf, sizeof buf, "%.1f", last->watch_min_per_dau);
    kpi(b, "watch min / DAU", buf);
    snprintf(buf, sizeof buf, "%.1f", last->watch_hours);
    kpi(b, "watch hours", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, last->impressions);
    kpi(b, "impressions", buf);
    snprintf(buf, sizeof buf, "%.1f%%", 100 * last->completion_rate);
    kpi(b, "completion rate", buf);
    snprintf(buf, sizeof buf, "%.1f", last->likes_per_1k);
    kpi(b, "likes / 1k impr.", buf);
    lt_buf_printf(b, "</div><p class=\"meta\">Figures of %s, the last day of the range.</p>\n", dl);

    double *y = calloc((size_t)n * 10, sizeof *y);
    if (y) {
      double *dau = y, *mau = y + n, *mpd = y + 2 * n, *wh = y + 3 * n, *gift = y + 4 * n,
             *gmv = y + 5 * n, *ads = y + 6 * n, *cr = y + 7 * n;
      for (uint32_t i = 0; i < n; i++) {
        const lt_stats_day_t *dd = &d->pj.p.days[i];
        dau[i] = (double)dd->dau;
        mau[i] = (double)dd->mau;
        mpd[i] = dd->watch_min_per_dau;
        wh[i] = dd->watch_hours;
        gift[i] = dd->gift_cents / 100.0;
        gmv[i] = dd->gmv_cents / 100.0;
        ads[i] = dd->ad_spend_cents / 100.0;
        cr[i] = dd->completion_rate;
      }
      /* ad spend comes from the ads ledger (billed, in micro-cents) */
      lt_ads_revenue_t rev;
      if (r->srv->opts.ads && n &&
          lt_ads_revenue(r->srv->opts.ads, d->pj.from, d->pj.from + (int32_t)n - 1, &rev) == 0) {
        for (uint32_t i = 0; i < n && i < rev.ndays; i++) ads[i] = rev.days[i].ads_ucents / 1e8;
        lt_ads_revenue_free(&rev);
      }
      PUT(b, "<h2>Audience and watch time</h2><div class=\"grid\">\n");
      series_t s1[] = {{"DAU", "#2563eb", dau}, {"MAU (30 days)", "#9aa5b8", mau}};
      chart(b, "dau", "Daily active users", NULL, d->pj.from, n, s1, 2, 0);
      series_t s2[] = {{"watch minutes per DAU", "#d97706", mpd}};
      chart(b, "watch", "Watch minutes per DAU", NULL, d->pj.from, n, s2, 1, 0);
      series_t s3[] = {{"total watch hours", "#0f766e", wh}};
      chart(b, "watch-hours", "Total watch hours", NULL, d->pj.from, n, s3, 1, 0);
      series_t s4[] = {{"completion rate", "#7c3aed", cr}};
      chart(b, "completion", "Completion rate", NULL, d->pj.from, n, s4, 1, 1);
      PUT(b, "</div>\n");
      wt_section(r, d);
      PUT(b, "<h2>Creator ecosystem</h2><div class=\"grid\">\n");
      if (d->eco_rc == LT_OK) {
        double *gini = y + 8 * n, *aimp = y + 9 * n;
        double *awat = calloc((size_t)n * 2, sizeof *awat);
        double *young = awat ? awat + n : NULL;
        if (awat) {
          for (uint32_t i = 0; i < n; i++) {
            gini[i] = d->eco.days[i].gini;
            aimp[i] = d->eco.days[i].aigc_impression_share;
            awat[i] = d->eco.days[i].aigc_watch_share;
            young[i] = d->eco.days[i].young_share;
          }
          series_t s5[] = {{"Gini of impressions across creators", "#b91c1c", gini}};
          chart(b, "gini", "Creator Gini (exposure inequality)",
                "0 = every creator equal, 1 = one creator takes all", d->pj.from, n, s5, 1, 0);
          series_t s6[] = {{"AIGC share of impressions", "#2563eb", aimp},
                           {"AIGC share of watch time", "#d97706", awat},
                           {"new creators (<30 d) share of impressions", "#16a34a", young}};
          chart(b, "aigc", "AIGC and new-creator share", NULL, d->pj.from, n, s6, 3, 1);
          free(awat);
        }
      } else {
        PUT(b, "<p>Analytics are not enabled in this server.</p>");
      }
      PUT(b, "</div>\n<h2>Revenue</h2><div class=\"grid\">\n");
      series_t s7[] = {{"live gifts", "#db2777", gift},
                       {"e-commerce GMV", "#0891b2", gmv},
                       {"ad spend", "#9aa5b8", ads}};
      chart(b, "revenue", "Revenue per day (yuan)", "ad spend as billed by the ads ledger",
            d->pj.from, n, s7, 3, 0);
      PUT(b, "</div>\n");
      free(y);
    }
  }
  top_tables(b, d);
  lt_buf_printf(b,
                "<h2>Data</h2><p class=\"meta\">JSON: <a href=\"/v1/stats/platform?from=%s&amp;"
                "to=%s\">platform</a> · <a href=\"/v1/stats/ecosystem?from=%s&amp;to=%s\">"
                "ecosystem</a> · <a href=\"/v1/stats/top?from=%s&amp;to=%s\">top</a> · <a "
                "href=\"/metrics\">metrics</a>. Days are local days in %s.</p>\n</body></html>\n",
                f, t, f, t, f, t, tz->name);
  lt_stats_platform_free(&d->pj.p);
  lt_stats_eco_free(&d->eco);
  lt_stats_wt_free(&d->wt);
  free(d);
  r->content_type = "text/html; charset=utf-8";
  if (b->err)
    lt__error(r, 503, "out_of_memory", "out of memory");
  else
    lt__ok(r, 200);
}
