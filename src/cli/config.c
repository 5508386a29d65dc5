/*
 * config.c — the config file and its defaults (see config.h). Keys are a
 * flat table: each names a field, its type and bounds, so unknown keys
 * and out-of-range values are errors with the file's line number.
 */
#include "cli/config.h"

#include "core/error.h"
#include "core/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define T lt_config_t
static const lt_opt_t keys[] = {
    LT_OPT_AS(T, "data", data_dir, LT_OPT_STR, 0, 0, "data directory"),
    LT_OPT(T, listen, LT_OPT_STR, 0, 0, "HTTP address host:port"),
    LT_OPT(T, api_key, LT_OPT_STR, 0, 0, "key for write/admin routes (Bearer)"),
    LT_OPT(T, read_key, LT_OPT_STR, 0, 0, "key for read routes; empty = open"),
    LT_OPT(T, timezone, LT_OPT_STR, 0, 0, "time zone of report days"),
    LT_OPT(T, fsync, LT_OPT_STR, 0, 0, "log durability: batch | interval:MS | off"),
    LT_OPT(T, history_cap, LT_OPT_U32, 16, 1000000, "recent history kept per user"),
    LT_OPT(T, idempotency_window_days, LT_OPT_U32, 0, 36500,
           "days an event id is remembered (event clock), 0 = for ever"),
    LT_OPT(T, trend_half_life_h, LT_OPT_F64, 0.01, 10000, "popularity half life (hours)"),
    LT_OPT(T, threads, LT_OPT_U32, 1, 256, "HTTP worker threads"),
    LT_OPT(T, write_threads, LT_OPT_U32, 0, 256,
           "threads that run write requests off the HTTP threads, 0 = on them"),
    LT_OPT(T, snapshot_every_s, LT_OPT_U32, 0, 86400 * 7, "snapshot period while serving, 0 = off"),
    LT_OPT(T, train_every_s, LT_OPT_U32, 0, 86400 * 7, "retraining period while serving, 0 = off"),
    LT_OPT(T, max_body_bytes, LT_OPT_U32, 1024, 1u << 30, "largest request body"),
    LT_OPT(T, max_batch_events, LT_OPT_U32, 1, 1000000, "most events in one request"),
    LT_OPT(T, rate_limit_per_s, LT_OPT_U32, 0, 10000000, "requests per second per key, 0 = none"),
    LT_OPT(T, recover_backoff_ms, LT_OPT_U32, 0, 3600000,
           "after a log failure, retry recovery this often (on a write), 0 = every write"),
};
#undef T

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
  c->write_threads = 4;
  c->recover_backoff_ms = 1000;
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
  int rc = lt_opts_set(keys, LT_OPTS_N(keys), c, NULL, key, value, err, errlen);
  if (rc != LT_ENOTFOUND) return rc;
  /* the feed's own keys (policies, fusion weights: docs/policies.md) */
  return lt_feed_opts_set(&c->feed, key, value, err, errlen);
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
  for (size_t i = 0; i < LT_OPTS_N(keys); i++) {
    const lt_opt_t *k = &keys[i];
    char v[256];
    lt_opts_format(k, c, v, sizeof v);
    if (!strcmp(k->key, "api_key") || !strcmp(k->key, "read_key")) /* never printed */
      snprintf(v, sizeof v, "%s", *((const char *)c + k->off) ? "(set)" : "");
    fprintf(f, "%-18s = %s\n", k->key, v);
    fprintf(f, "%-18s   # %s\n", "", k->help);
  }
  lt_ads_opts_print(&c->ads, f);
}
