/*
 * config.h — laotie's configuration: one file of `key = value` lines
 * (# comments, blank lines ignored), documented with its defaults in
 * docs/config.md, plus command-line overrides.
 */
#ifndef LT_CLI_CONFIG_H
#define LT_CLI_CONFIG_H

#include "ads/ads.h"
#include "feed/feed.h"
#include "state/store.h"

#include <stdio.h>

typedef struct lt_config {
  char data_dir[512];
  char listen[128];     /* host:port, default 127.0.0.1:8080 */
  char api_key[256];    /* write/admin key; empty = generated at first serve */
  char read_key[256];   /* empty = reads need no key */
  char timezone[64];
  char fsync[32];       /* batch | interval:MS | off */
  uint32_t history_cap;
  uint32_t idempotency_window_days; /* 0 = for ever */
  double trend_half_life_h;
  uint32_t threads;            /* HTTP worker threads */
  uint32_t write_threads;      /* threads that run write requests; 0 = the HTTP threads */
  uint32_t snapshot_every_s;   /* periodic snapshot while serving */
  uint32_t train_every_s;      /* periodic retraining while serving */
  uint32_t max_body_bytes;
  uint32_t max_batch_events;
  uint32_t rate_limit_per_s;   /* per key, 0 = none */
  uint32_t recover_backoff_ms; /* lt_server_opts_t.recover_backoff_ms */
  lt_store_opts_t store;       /* filled by lt_config_store_opts */
  lt_feed_opts_t feed;         /* ranking and distribution policies (docs/policies.md) */
  lt_ads_opts_t ads;           /* the "ads.KEY" keys (ads/ads.h, docs/ads.md) */
} lt_config_t;

void lt_config_default(lt_config_t *c);
/* Reads FILE into c. On error returns LT_EINVAL/LT_EIO and writes
 * "FILE:LINE: reason" into err. */
int lt_config_load(lt_config_t *c, const char *path, char *err, size_t errlen);
/* Sets one key (the file's and --set's syntax). */
int lt_config_set(lt_config_t *c, const char *key, const char *value, char *err, size_t errlen);
/* Fills c->store from the other fields. Returns 0 or LT_EINVAL. */
int lt_config_store_opts(lt_config_t *c, char *err, size_t errlen);
/* Prints every key with its current value. */
void lt_config_print(const lt_config_t *c, FILE *f);

#endif
