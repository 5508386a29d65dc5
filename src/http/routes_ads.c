/*
 * routes_ads.c — campaigns and revenue over HTTP (routes in routes_ads.h).
 *
 * Campaign bodies are parsed and checked by the ads module
 * (lt_ads_spec_parse, lt_ads_campaign_create / _update), which writes each
 * change durably as a campaign record of the log before the answer. The
 * reports are written by the ads module too (lt_ads_revenue_write,
 * lt_ads_campaign_report), the same bytes as `laotie report revenue`.
 * Date ranges follow the stats routes: from / to as YYYY-MM-DD in the
 * platform time zone, defaulting to the last days with data.
 */
#include "http/routes_ads.h"

#include "core/clock.h"
#include "core/error.h"
#include "stats/stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define R(r) (&(r)->out)

static lt_state_t *state_of(lt__req_t *r) { return lt_store_state(r->srv->store); }

static lt_ads_t *need_ads(lt__req_t *r) {
  lt_ads_t *a = lt__srv_ads(r->srv);
  if (!a) lt__error(r, 503, "unavailable", "ads are not enabled in this server");
  return a;
}

static void ads_error(lt__req_t *r, int rc, const char *why) {
  const char *w = why ? why : lt_strerror(rc);
  switch (rc) {
  case LT_EPARSE:
    lt__error(r, 400, "bad_json", "%s", w);
    break;
  case LT_EINVAL:
  case LT_ERANGE:
    lt__error(r, 400, "invalid", "%s", w);
    break;
  case LT_EEXISTS:
  case LT_ETOOBIG:
    lt__error(r, 409, "conflict", "%s", w);
    break;
  case LT_ENOTFOUND:
    lt__error(r, 404, "not_found", "no such campaign");
    break;
  case LT_EREADONLY:
  case LT_EIO:
  case LT_ENOSPACE:
  case LT_EBUSY:
    lt__error(r, 503, "unavailable", "campaigns cannot be written now (%s); reads go on",
              lt_strerror(rc));
    break;
  default:
    lt__error(r, 500, "internal", "%s", lt_strerror(rc));
  }
}

/* The campaign named by the path, or answers 404 / 400 and returns 0. */
static int campaign_of(lt__req_t *r, lt_ads_t *a, uint32_t *cid) {
  if (!lt__param_ok(r, 0)) return 0;
  if (lt_ads_campaign_find(a, r->params[0].p, r->params[0].n, cid) == LT_OK) return 1;
  lt__error(r, 404, "not_found", "no such campaign");
  return 0;
}

static int range_args(lt__req_t *r, uint32_t default_days, int32_t *from, int32_t *to) {
  const char *why = NULL;
  int rc = lt_stats_range(state_of(r), lt__arg(r, "from"), lt__arg(r, "to"), default_days, from, to,
                          &why);
  if (rc) lt__error(r, 400, "bad_parameter", "%s", why ? why : lt_strerror(rc));
  return rc ? -1 : 0;
}

static int fmt_arg(lt__req_t *r, int *fmt) {
  const char *f = lt__arg(r, "format");
  if (!f || !*f || !strcmp(f, "json"))
    *fmt = LT_ADS_FMT_JSON;
  else if (!strcmp(f, "csv"))
    *fmt = LT_ADS_FMT_CSV;
  else {
    lt__error(r, 400, "bad_parameter", "format must be json or csv");
    return -1;
  }
  return 0;
}

static void answer_campaign(lt__req_t *r, lt_ads_t *a, uint32_t cid, unsigned status) {
  int rc = lt_ads_campaign_json(a, cid, lt_now_ms(), R(r));
  if (rc)
    ads_error(r, rc, NULL);
  else
    lt__ok(r, status);
}

static lt_ads_spec_t *body_spec(lt__req_t *r) {
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  if (!sp) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return NULL;
  }
  const char *why = NULL;
  int rc = lt_ads_spec_parse((const char *)r->body.p, r->body.len, sp, &why);
  if (rc) {
    ads_error(r, rc, why);
    free(sp);
    return NULL;
  }
  return sp;
}

void lt__h_campaigns_post(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  lt_ads_spec_t *sp = a ? body_spec(r) : NULL;
  if (!sp) return;
  const char *why = NULL;
  uint32_t cid;
  int rc = lt_ads_campaign_create(a, sp, lt_now_ms(), &cid, &why);
  free(sp);
  if (rc)
    ads_error(r, rc, why);
  else
    answer_campaign(r, a, cid, 201);
}

void lt__h_campaigns_list(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  if (!a) return;
  const char *adv = lt__arg(r, "advertiser");
  if (lt_ads_campaigns_json(a, adv, lt_now_ms(), R(r))) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  lt__ok(r, 200);
}

void lt__h_campaign_get(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  uint32_t cid;
  if (!a || !campaign_of(r, a, &cid)) return;
  answer_campaign(r, a, cid, 200);
}

void lt__h_campaign_put(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  uint32_t cid;
  if (!a || !campaign_of(r, a, &cid)) return;
  lt_ads_spec_t *sp = body_spec(r);
  if (!sp) return;
  if ((sp->has & LT_ADS_F_ID) &&
      (strlen(sp->id) != r->params[0].n || memcmp(sp->id, r->params[0].p, r->params[0].n))) {
    lt__error(r, 409, "id_conflict", "the body's id differs from the URL's");
    free(sp);
    return;
  }
  const char *why = NULL;
  int rc = lt_ads_campaign_update(a, cid, sp, lt_now_ms(), &why);
  free(sp);
  if (rc)
    ads_error(r, rc, why);
  else
    answer_campaign(r, a, cid, 200);
}

static void set_status(lt__req_t *r, int status) {
  lt_ads_t *a = need_ads(r);
  uint32_t cid;
  if (!a || !campaign_of(r, a, &cid)) return;
  int rc = lt_ads_campaign_set_status(a, cid, status, lt_now_ms());
  if (rc)
    ads_error(r, rc, NULL);
  else
    answer_campaign(r, a, cid, 200);
}

void lt__h_campaign_pause(lt__req_t *r) { set_status(r, LT_CAMPAIGN_PAUSED); }
void lt__h_campaign_resume(lt__req_t *r) { set_status(r, LT_CAMPAIGN_ACTIVE); }

void lt__h_campaign_report(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  uint32_t cid;
  int32_t from, to;
  int fmt;
  if (!a || !campaign_of(r, a, &cid) || range_args(r, 7, &from, &to) || fmt_arg(r, &fmt)) return;
  int rc = lt_ads_campaign_report(a, cid, from, to, fmt, R(r));
  if (rc) {
    ads_error(r, rc, NULL);
    return;
  }
  if (fmt == LT_ADS_FMT_CSV) r->content_type = "text/csv; charset=utf-8";
  lt__ok(r, 200);
}

static void revenue_by(lt__req_t *r, lt_ads_t *a, const char *by, int32_t from, int32_t to) {
  int b = !strcmp(by, "creator") ? LT_ADS_BY_CREATOR
          : !strcmp(by, "room")  ? LT_ADS_BY_ROOM
          : !strcmp(by, "item")  ? LT_ADS_BY_ITEM
                                 : -1;
  uint32_t n;
  if (b < 0) {
    lt__error(r, 400, "bad_parameter", "by must be creator, room or item");
    return;
  }
  if (lt__arg_u32(r, "n", 20, 1, 1000, &n)) return;
  lt_ads_rev_row_t *rows = malloc(n * sizeof *rows);
  if (!rows) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  size_t got = lt_ads_revenue_top(a, b, from, to, rows, n);
  char f[11], t[11];
  lt_day_format(from, f);
  lt_day_format(to, t);
  lt_buf_printf(R(r), "{\"from\": \"%s\", \"to\": \"%s\", \"by\": \"%s\", \"rows\": [", f, t, by);
  for (size_t i = 0; i < got; i++) {
    const char *name =
        lt_state_name(state_of(r), b == LT_ADS_BY_CREATOR ? LT_NS_CREATOR : LT_NS_ITEM, rows[i].id);
    lt_buf_put(R(r), i ? ", {\"id\": " : "{\"id\": ", i ? 9 : 7);
    lt__json_cstr(R(r), name ? name : "");
    lt_buf_printf(R(r),
                  ", \"gift_cents\": %" PRId64 ", \"gmv_cents\": %" PRId64 ", \"gifts\": %" PRIu64
                  ", \"purchases\": %" PRIu64 "}",
                  rows[i].gift_cents, rows[i].gmv_cents, rows[i].gifts, rows[i].purchases);
  }
  lt_buf_put(R(r), "]}\n", 3);
  free(rows);
  lt__ok(r, 200);
}

void lt__h_stats_revenue(lt__req_t *r) {
  lt_ads_t *a = need_ads(r);
  int32_t from, to;
  int fmt;
  if (!a || range_args(r, 30, &from, &to)) return;
  const char *by = lt__arg(r, "by");
  if (by && *by) {
    revenue_by(r, a, by, from, to);
    return;
  }
  if (fmt_arg(r, &fmt)) return;
  lt_ads_revenue_t rev;
  int rc = lt_ads_revenue(a, from, to, &rev);
  if (!rc) rc = lt_ads_revenue_write(&rev, lt_state_tz(state_of(r))->name, fmt, R(r));
  lt_ads_revenue_free(&rev);
  if (rc) {
    lt__error(r, rc == LT_ERANGE ? 400 : 503, rc == LT_ERANGE ? "bad_parameter" : "out_of_memory",
              "%s", lt_strerror(rc));
    return;
  }
  if (fmt == LT_ADS_FMT_CSV) r->content_type = "text/csv; charset=utf-8";
  lt__ok(r, 200);
}
