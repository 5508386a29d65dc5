/*
 * spec.c — the edges of ads: campaign JSON bodies in (lt_ads_spec_parse)
 * and the options (defaults, one key at a time for the config file, the
 * cross-field check).
 *
 * A body is checked field by field here (types, lengths, UTF-8, integer
 * ranges); lt_ads_campaign_create / _update then check the whole campaign
 * against the catalog and the other campaigns. Numbers arrive as doubles
 * (cJSON): an amount must be integral and within its range, which also
 * refuses 1e300, NaN-free by construction, and anything past 2^53.
 */
#include "ads/ads_int.h"

#include "core/error.h"
#include "core/opts.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------ */

void lt_ads_opts_default(lt_ads_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->first_slot = 4;
  o->every = 6;
  o->max_per_page = 3;
  strcpy(o->ad_free_groups, "ad_free");
  o->reserve_cpm = 10;
  o->organic_cpm = 100;
  o->organic_beta = 0.5;
  o->freq_cap = 5;
  o->reserve_ttl_s = 120;
  o->attribution_s = 1800;
  o->pacing_interval_s = 10;
  o->pacing_mix = 0.6;
  o->pacing_max_hour_share = 0.10;
  o->pacing_finish = 0.85;
  o->hour_cap_share = 0.12;
  o->prior_ctr = 0.01;
  o->prior_cvr = 0.05;
  o->model_lr = 0.05;
  o->commission_bps = 0;
}

#define T lt_ads_opts_t
static const lt_opt_t opts[] = {
    LT_OPT(T, first_slot, LT_OPT_U32, 2, 1000, "1-based page position of the first ad slot"),
    LT_OPT(T, every, LT_OPT_U32, 2, 1000,
           "then one ad slot every N positions (>= 2: ads never adjacent)"),
    LT_OPT(T, max_per_page, LT_OPT_U32, 0, LT_ADS_MAX_SLOTS, "most ads on one page (0 = ads off)"),
    LT_OPT(T, ad_free_groups, LT_OPT_STR, 0, 0, "comma-separated user groups that never see ads"),
    LT_OPT(T, reserve_cpm, LT_OPT_F64, 0, 1e7, "reserve price, cents per 1000 impressions"),
    LT_OPT(T, organic_cpm, LT_OPT_F64, 0, 1e7,
           "value of an average organic impression, cents per mille"),
    LT_OPT(T, organic_beta, LT_OPT_F64, 0, 10,
           "organic value = organic_cpm * exp(beta * feed score)"),
    LT_OPT(T, freq_cap, LT_OPT_U32, 1, LT_ADS_MAX_FREQ_CAP,
           "default ads of one campaign per user per day"),
    LT_OPT(T, reserve_ttl_s, LT_OPT_U32, 2, 86400,
           "an unbilled budget reservation is released after this"),
    LT_OPT(T, attribution_s, LT_OPT_U32, 2, 7 * 86400,
           "a served ad's price is kept this long for its events"),
    LT_OPT(T, pacing_interval_s, LT_OPT_U32, 1, 60, "pacing multipliers are updated this often"),
    LT_OPT(T, pacing_mix, LT_OPT_F64, 0, 1,
           "pacing plan: share following the traffic curve (rest uniform)"),
    LT_OPT(T, pacing_max_hour_share, LT_OPT_F64, 0.01, 1,
           "most of a daily budget the plan spends in one hour"),
    LT_OPT(T, pacing_finish, LT_OPT_F64, 0.5, 1,
           "the plan spends the budget by this fraction of the day"),
    LT_OPT(T, hour_cap_share, LT_OPT_F64, 0, 1,
           "hard ceiling on one hour's spend, share of the daily budget (0 = none)"),
    LT_OPT(T, prior_ctr, LT_OPT_F64, 1e-6, 0.5, "click-through rate assumed for a new creative"),
    LT_OPT(T, prior_cvr, LT_OPT_F64, 1e-6, 0.9, "conversions per click assumed for a new creative"),
    LT_OPT(T, model_lr, LT_OPT_F64, 1e-5, 1, "learning rate of the online pCTR / pCVR model"),
    LT_OPT(T, commission_bps, LT_OPT_U32, 0, 10000,
           "e-commerce commission (basis points of GMV), 'other' revenue"),
};
#undef T

int lt_ads_opts_set(lt_ads_opts_t *o, const char *key, const char *value, char *err,
                    size_t errlen) {
  int rc = lt_opts_set(opts, LT_OPTS_N(opts), o, "ads.", key, value, err, errlen);
  return rc == LT_ENOTFOUND ? LT_EINVAL : rc;
}

int lt_ads_opts_check(const lt_ads_opts_t *o, char *err, size_t errlen) {
  if (lt_opts_check(opts, LT_OPTS_N(opts), o, "ads.", err, errlen)) return LT_EINVAL;
  if (o->attribution_s < o->reserve_ttl_s) {
    snprintf(err, errlen, "ads.attribution_s must be at least ads.reserve_ttl_s");
    return LT_EINVAL;
  }
  if (o->hour_cap_share > 0 && o->hour_cap_share < o->pacing_max_hour_share) {
    snprintf(err, errlen, "ads.hour_cap_share must be 0 or at least ads.pacing_max_hour_share");
    return LT_EINVAL;
  }
  if (!memchr(o->ad_free_groups, 0, sizeof o->ad_free_groups)) {
    snprintf(err, errlen, "ads.ad_free_groups is not terminated");
    return LT_EINVAL;
  }
  return LT_OK;
}

void lt_ads_opts_print(const lt_ads_opts_t *o, FILE *f) {
  for (size_t i = 0; i < LT_OPTS_N(opts); i++) {
    char key[64], v[256];
    snprintf(key, sizeof key, "ads.%s", opts[i].key);
    lt_opts_format(&opts[i], o, v, sizeof v);
    fprintf(f, "%-28s = %s\n", key, v);
    fprintf(f, "%-28s   # %s\n", "", opts[i].help);
  }
}

/* ---- campaign bodies ------------------------------------------------------ */

static int utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (!len || i + len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) return 0;
    if (len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) return 0;
    i += len;
  }
  return 1;
}

/* A string field: 0, or LT_EINVAL with *why. */
static int get_text(const cJSON *v, char *out, size_t min, size_t max, const char *what,
                    const char **why) {
  if (!cJSON_IsString(v) || !v->valuestring) {
    *why = what;
    return LT_EINVAL;
  }
  size_t n = strlen(v->valuestring);
  if (n < min || n > max || !utf8_ok((const unsigned char *)v->valuestring, n)) {
    *why = what;
    return LT_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f) {
      *why = what;
      return LT_EINVAL;
    }
  memcpy(out, v->valuestring, n + 1);
  return LT_OK;
}

/* An integer field in [lo, hi]. */
static int get_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out, const char *what,
                   const char **why) {
  *why = what;
  if (!cJSON_IsNumber(v)) return LT_EINVAL;
  double x = v->valuedouble;
  if (!isfinite(x) || x < (double)lo || x > (double)hi) return LT_ERANGE;
  if (x != floor(x)) return LT_EINVAL;
  *out = (int64_t)x;
  *why = NULL;
  return LT_OK;
}

static int get_time(const cJSON *v, int64_t *ms, const char *what, const char **why) {
  if (cJSON_IsNull(v)) {
    *ms = 0;
    return LT_OK;
  }
  *why = what;
  if (!cJSON_IsNumber(v)) return LT_EINVAL;
  double x = v->valuedouble;
  if (!isfinite(x) || x < 0) return LT_ERANGE;
  double m = x > 1e11 ? x : x * 1000.0;
  if (m > (double)LT_TS_MAX_MS) return LT_ERANGE;
  *ms = (int64_t)llround(m);
  *why = NULL;
  return LT_OK;
}

static int get_list(const cJSON *v, char (*out)[LT_ADS_MAX_ID + 1], uint32_t *n, const char *what,
                    const char **why) {
  *n = 0;
  if (cJSON_IsNull(v)) return LT_OK;
  if (!cJSON_IsArray(v)) {
    *why = what;
    return LT_EINVAL;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (*n == LT_ADS_MAX_TARGETS) {
      *why = "at most 16 targeting tags and 16 groups";
      return LT_EINVAL;
    }
    int rc = get_text(e, out[*n], 1, LT_ADS_MAX_ID, what, why);
    if (rc) return rc;
    (*n)++;
  }
  return LT_OK;
}

static int get_creatives(const cJSON *v, lt_ads_spec_t *s, const char **why) {
  if (!cJSON_IsArray(v)) {
    *why = "creatives must be an array of item ids or {\"item\", \"aigc\"} objects";
    return LT_EINVAL;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (s->ncreatives == LT_ADS_MAX_CREATIVES) {
      *why = "at most 64 creatives";
      return LT_EINVAL;
    }
    uint32_t i = s->ncreatives;
    const cJSON *item = e;
    s->creative_aigc[i] = 0;
    if (cJSON_IsObject(e)) {
      item = cJSON_GetObjectItemCaseSensitive(e, "item");
      const cJSON *ai = cJSON_GetObjectItemCaseSensitive(e, "aigc");
      if (ai && !cJSON_IsBool(ai) && !cJSON_IsNull(ai)) {
        *why = "creatives[].aigc must be true or false";
        return LT_EINVAL;
      }
      s->creative_aigc[i] = cJSON_IsTrue(ai);
      const cJSON *f;
      cJSON_ArrayForEach(f, e) if (strcmp(f->string, "item") && strcmp(f->string, "aigc")) {
        *why = "creatives[]: unknown field (item, aigc)";
        return LT_EINVAL;
      }
    }
    int rc = get_text(item, s->creatives[i], 1, LT_ADS_MAX_ID,
                      "creatives[]: an item id of 1 to 128 characters is required", why);
    if (rc) return rc;
    s->ncreatives++;
  }
  if (!s->ncreatives) {
    *why = "creatives: at least one item is required";
    return LT_EINVAL;
  }
  return LT_OK;
}

static int parse_obj(const cJSON *root, lt_ads_spec_t *s, const char **why) {
  const cJSON *v;
  int rc = LT_OK;
  cJSON_ArrayForEach(v, root) {
    const char *k = v->string;
    uint32_t bit = 0;
    if (!strcmp(k, "id")) {
      bit = LT_ADS_F_ID;
      rc = get_text(v, s->id, 1, LT_ADS_MAX_ID, "id: 1 to 128 of letters, digits, _ - . :", why);
      for (const char *p = s->id; !rc && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.' || *p == ':')) {
          *why = "id: 1 to 128 of letters, digits, _ - . :";
          rc = LT_EINVAL;
        }
    } else if (!strcmp(k, "advertiser")) {
      bit = LT_ADS_F_ADVERTISER;
      rc = get_text(v, s->advertiser, 1, LT_ADS_MAX_ID, "advertiser: 1 to 128 characters", why);
    } else if (!strcmp(k, "name")) {
      bit = LT_ADS_F_NAME;
      if (cJSON_IsNull(v))
        s->name[0] = 0;
      else
        rc = get_text(v, s->name, 0, LT_ADS_MAX_NAME, "name: at most 255 characters", why);
    } else if (!strcmp(k, "daily_budget_cents")) {
      bit = LT_ADS_F_BUDGET;
      rc = get_int(v, 1, LT_ADS_MAX_BUDGET_CENTS, &s->daily_budget_cents,
                   "daily_budget_cents: a whole number of cents in [1, 10^10]", why);
    } else if (!strcmp(k, "bid")) {
      bit = LT_ADS_F_BID;
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type"),
                  *am = cJSON_GetObjectItemCaseSensitive(v, "amount_cents");
      int type;
      if (!cJSON_IsObject(v) || !cJSON_IsString(t) ||
          lt_ads_bid_type_parse(t->valuestring, &type)) {
        *why = "bid: {\"type\": \"cpm\" | \"cpc\" | \"ocpm\", \"amount_cents\": N}";
        rc = LT_EINVAL;
      } else {
        s->bid_type = (uint8_t)type;
        rc = get_int(am, 1, LT_ADS_MAX_BID_CENTS, &s->bid_cents,
                     "bid.amount_cents: a whole number of cents in [1, 10^7] (cpm: per 1000 "
                     "impressions; cpc: per click; ocpm: target cost per conversion)",
                     why);
        const cJSON *f;
        cJSON_ArrayForEach(f, v) if (!rc && strcmp(f->string, "type") &&
                                     strcmp(f->string, "amount_cents")) {
          *why = "bid: unknown field (type, amount_cents)";
          rc = LT_EINVAL;
        }
      }
    } else if (!strcmp(k, "targeting")) {
      if (cJSON_IsNull(v)) {
        s->has |= LT_ADS_F_TAGS | LT_ADS_F_GROUPS;
        s->ntags = s->ngroups = 0;
        continue;
      }
      if (!cJSON_IsObject(v)) {
        *why = "targeting: {\"tags\": [...], \"groups\": [...]}";
        return LT_EINVAL;
      }
      const cJSON *f;
      cJSON_ArrayForEach(f, v) {
        if (!strcmp(f->string, "tags")) {
          if (s->has & LT_ADS_F_TAGS) return *why = "targeting.tags is given twice", LT_EINVAL;
          s->has |= LT_ADS_F_TAGS;
          rc = get_list(f, s->tags, &s->ntags, "targeting.tags: an array of tag names", why);
        } else if (!strcmp(f->string, "groups")) {
          if (s->has & LT_ADS_F_GROUPS) return *why = "targeting.groups is given twice", LT_EINVAL;
          s->has |= LT_ADS_F_GROUPS;
          rc =
              get_list(f, s->groups, &s->ngroups, "targeting.groups: an array of group names", why);
        } else {
          *why = "targeting: unknown field (tags, groups)";
          rc = LT_EINVAL;
        }
        if (rc) return rc;
      }
      continue;
    } else if (!strcmp(k, "creatives")) {
      bit = LT_ADS_F_CREATIVES;
      if (s->has & bit) return *why = "creatives is given twice", LT_EINVAL;
      rc = get_creatives(v, s, why);
    } else if (!strcmp(k, "start")) {
      bit = LT_ADS_F_START;
      rc = get_time(v, &s->start_ms, "start: unix seconds (or ms), or null", why);
    } else if (!strcmp(k, "end")) {
      bit = LT_ADS_F_END;
      rc = get_time(v, &s->end_ms, "end: unix seconds (or ms), or null", why);
    } else if (!strcmp(k, "frequency_cap")) {
      bit = LT_ADS_F_FREQ;
      int64_t x = 0;
      if (!cJSON_IsNull(v))
        rc = get_int(v, 1, LT_ADS_MAX_FREQ_CAP, &x,
                     "frequency_cap: ads per user per day in [1, 1000], or null for the default",
                     why);
      s->freq_cap = (uint32_t)x;
    } else if (!strcmp(k, "status")) {
      bit = LT_ADS_F_STATUS;
      if (cJSON_IsString(v) && !strcmp(v->valuestring, "active"))
        s->status = LT_CAMPAIGN_ACTIVE;
      else if (cJSON_IsString(v) && !strcmp(v->valuestring, "paused"))
        s->status = LT_CAMPAIGN_PAUSED;
      else {
        *why = "status: \"active\" or \"paused\"";
        rc = LT_EINVAL;
      }
    } else if (!strcmp(k, "today") || !strcmp(k, "serving") || !strcmp(k, "created_at") ||
               !strcmp(k, "updated_at")) {
      continue; /* read-only figures of a GET body */
    } else {
      *why = "unknown field (see docs/ads.md for a campaign's fields)";
      return LT_EINVAL;
    }
    if (rc) return rc;
    if (s->has & bit) {
      *why = "a field is given twice";
      return LT_EINVAL;
    }
    s->has |= bit;
  }
  return LT_OK;
}

int lt_ads_spec_parse(const char *json, size_t len, lt_ads_spec_t *out, const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  memset(out, 0, sizeof *out);
  if (!json || !len) {
    *why = "a JSON object is required";
    return LT_EPARSE;
  }
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) {
    *why = "the body is not valid JSON";
    return LT_EPARSE;
  }
  int rc;
  if (!cJSON_IsObject(root)) {
    *why = "the body must be a JSON object";
    rc = LT_EINVAL;
  } else {
    rc = parse_obj(root, out, why);
  }
  if (!rc && (out->has & (LT_ADS_F_START | LT_ADS_F_END)) == (LT_ADS_F_START | LT_ADS_F_END) &&
      out->end_ms && out->end_ms <= out->start_ms) {
    *why = "end must be after start";
    rc = LT_EINVAL;
  }
  cJSON_Delete(root);
  return rc;
}
