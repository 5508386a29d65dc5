/*
 * config.c — the config file and its defaults (see config.h). Keys are a
 * flat table: each names a field, its type and bounds, so unknown keys
 * and out-of-range values are errors with the file's line number.
 */
#include "cli/config.h"

#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_U32, T_F64 } type_t;
typedef struct {
  const char *key;
  type_t type;
  size_t off, size;
  double lo, hi;
  const char *help;
} key_t_;

#define S(k, f, h) {k, T_STR, offsetof(lt_config_t, f), sizeof(((lt_config_t *)0)->f), 0, 0, h}
#define U(k, f, lo, hi, h) {k, T_U32, offsetof(lt_config_t, f), 4, lo, hi, h}
#define F(k, f, lo, hi, h) {k, T_F64, offsetof(lt_config_t, f), 8, lo, hi, h}
static const key_t_ keys[] = {
    S("data", data_dir, "data directory"),
    S("listen", listen, "HTTP address host:port"),
    S("api_key", api_key, "key for write/admin routes (Bearer)"),
    S("read_key", read_key, "key for read routes; empty = open"),
    S("timezone", timezone, "time zone of report days"),
    S("fsync", fsync, "log durability: batch | interval:MS | off"),
    U("history_cap", history_cap, 16, 1000000, "recent history kept per user"),
    U("idempotency_window_days", idempotency_window_days, 0, 36500,
      "days an event id is remembered (event clock), 0 = for ever"),
    F("trend_half_life_h", trend_half_life_h, 0.01, 10000, "popularity half life (hours)"),
    U("threads", threads, 1, 256, "HTTP worker threads"),
    U("snapshot_every_s", snapshot_every_s, 0, 86400 * 7, "snapshot period while serving, 0 = off"),
    U("train_every_s", train_every_s, 0, 86400 * 7, "retraining period while serving, 0 = off"),
    U("max_body_bytes", max_body_bytes, 1024, 1u << 30, "largest request body"),
    U("max_batch_events", max_batch_events, 1, 1000000, "most events in one request"),
    U("rate_limit_per_s", rate_limit_per_s, 0, 10000000, "requests per second per key, 0 = none"),
};

void lt_config_default(lt_config_t *c) {
  memset(c, 0, sizeof *c);
  strcpy(c->data_dir, "data");
  strcpy(c->listen, "127.0.0.1:8080");
  strcpy(c->timezone, "Asia/Shanghai");
  strcpy(c->fsync, "batch");
  c->history_cap = 2000;
  c->idempotency_window_days = 7;
  c->trend_half_life_h = 6;
  c->threads = 2;
  c->snapshot_every_s = 600;
  c->train_every_s = 3600;
  c->max_body_bytes = 8u << 20;
  c->max_batch_events = 10000;
  lt_store_opts_default(&c->store);
  lt_ads_opts_default(&c->ads);
  lt_feed_opts_default(&c->feed);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
  return s;
}

int lt_config_set(lt_config_t *c, const char *key, const char *value, char *err, size_t errlen) {
  if (!strncmp(key, "ads.", 4)) return lt_ads_opts_set(&c->ads, key + 4, value, err, errlen);
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    const key_t_ *k = &keys[i];
    if (strcmp(k->key, key)) continue;
    char *field = (char *)c + k->off;
    if (k->type == T_STR) {
      if (strlen(value) >= k->size) {
        snprintf(err, errlen, "%s: value too long (max %zu bytes)", key, k->size - 1);
        return LT_EINVAL;
      }
      strcpy(field, value);
      return LT_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (!*value || *end || errno || v < k->lo || v > k->hi ||
        (k->type == T_U32 && v != (double)(uint32_t)v)) {
      snprintf(err, errlen, "%s: expected a %s in [%g, %g], got '%s'", key,
               k->type == T_U32 ? "whole number" : "number", k->lo, k->hi, value);
      return LT_EINVAL;
    }
    if (k->type == T_U32) *(uint32_t *)field = (uint32_t)v;
    else *(double *)field = v;
    return LT_OK;
  }
  /* the feed's own keys (policies, fusion weights: docs/policies.md) */
  char ferr[256] = "";
  if (lt_feed_opts_set(&c->feed, key, value, ferr, sizeof ferr) == LT_OK) return LT_OK;
  if (ferr[0] && !strstr(ferr, "unknown")) snprintf(err, errlen, "%s", ferr);
  else snprintf(err, errlen, "unknown key '%s'", key);
  return LT_EINVAL;
}

int lt_config_load(lt_config_t *c, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return LT_EIO;
  }
  char line[1024], why[256];
  int rc = LT_OK, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
      rc = LT_EINVAL;
      break;
    }
    *eq = 0;
    char *k = trim(s), *v = trim(eq + 1);
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
      v[vl - 1] = 0;
      v++;
    }
    if (lt_config_set(c, k, v, why, sizeof why)) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
      rc = LT_EINVAL;
      break;
    }
  }
  fclose(f);
  return rc;
}

int lt_config_store_opts(lt_config_t *c, char *err, size_t errlen) {
  lt_store_opts_t *o = &c->store;
  if (lt_log_parse_fsync(c->fsync, &o->log)) {
    snprintf(err, errlen, "fsync: expected batch, interval:MS or off, got '%s'", c->fsync);
    return LT_EINVAL;
  }
  o->state.timezone = c->timezone;
  o->state.history_cap = c->history_cap;
  o->state.idem_window_ms =
      c->idempotency_window_days ? c->idempotency_window_days * 86400000LL : -1;
  o->state.trend_half_life_s = c->trend_half_life_h * 3600;
  lt_tz_t tz;
  if (lt_tz_load(&tz, c->timezone)) {
    snprintf(err, errlen, "timezone: unknown zone '%s'", c->timezone);
    return LT_EINVAL;
  }
  lt_tz_free(&tz);
  if (lt_ads_opts_check(&c->ads, err, errlen)) return LT_EINVAL;
  return LT_OK;
}

void lt_config_print(const lt_config_t *c, FILE *f) {
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    const key_t_ *k = &keys[i];
    const char *field = (const char *)c + k->off;
    if (!strcmp(k->key, "api_key") || !strcmp(k->key, "read_key"))
      fprintf(f, "%-18s = %s\n", k->key, *field ? "(set)" : "");
    else if (k->type == T_STR) fprintf(f, "%-18s = %s\n", k->key, field);
    else if (k->type == T_U32) fprintf(f, "%-18s = %u\n", k->key, *(const uint32_t *)field);
    else fprintf(f, "%-18s = %g\n", k->key, *(const double *)field);
    fprintf(f, "%-18s   # %s\n", "", k->help);
  }
  lt_ads_opts_print(&c->ads, f);
}
