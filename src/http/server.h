/*
 * server.h — laotie's HTTP/JSON API (libmicrohttpd, epoll + a thread pool).
 *
 * Routes live under /v1 and are documented in docs/openapi.yaml; errors
 * are JSON {"error": {"code": "...", "message": "..."}} with a proper
 * status. Write and admin routes need `Authorization: Bearer API_KEY`;
 * read routes need the read key only when one is configured. Keys are
 * compared in constant time and never logged.
 *
 * The server writes through the store (durable before the answer, per the
 * fsync policy), tells the feed what was written (online learning), and
 * reads feeds and similar items from the feed engine, which never waits on
 * writers.
 */
#ifndef LT_HTTP_SERVER_H
#define LT_HTTP_SERVER_H

#include "ads/ads.h"
#include "feed/feed.h"
#include "state/store.h"
#include "stats/stats.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lt_server lt_server_t;

typedef struct lt_server_opts {
  const char *host;          /* default "127.0.0.1" */
  uint16_t port;             /* 0 = a random free port (see lt_server_port) */
  uint32_t threads;          /* HTTP threads (reads and I/O); default 2 */
  /* threads that run write handlers (every method but GET/HEAD) off the
   * HTTP threads, so a write waiting for its fsync holds up no read;
   * default 4; 0 = writes run on the HTTP threads */
  uint32_t write_threads;
  const char *api_key;       /* required for write/admin routes (non-empty) */
  const char *read_key;      /* NULL/"" = read routes are open */
  size_t max_body;           /* default 8 MiB */
  uint32_t max_batch;        /* events per request; default 10000 */
  uint32_t max_id;           /* longest id in a path or body; default 128 */
  uint32_t max_conns;        /* default 1024 */
  uint32_t conn_timeout_s;   /* idle/slow connection timeout; default 30 */
  uint32_t rate_limit_per_s; /* requests per second per key; 0 = none */
  /* after the store failed (a write or fsync error: writes answer 503), the
   * first write request at least this long after the failure or the last
   * attempt runs lt_store_recover; default 1000, 0 = on every write */
  uint32_t recover_backoff_ms;
  /* called by POST /v1/admin/train (may be NULL: 503) */
  int (*train)(void *ctx);
  void *train_ctx;
  /* log-derived analytics for /v1/stats/{ecosystem,creators,top} and the
   * dashboard (may be NULL: those routes answer 503); outlives the server */
  lt_stats_t *stats;
  /* ads engine for /v1/campaigns*, /v1/stats/revenue and pricing ad events
   * (lt_ads_stamp); may be NULL: those routes answer 503; outlives the server */
  lt_ads_t *ads;
} lt_server_opts_t;

void lt_server_opts_default(lt_server_opts_t *o);

/* Starts serving. The store and feed outlive the server. Returns 0,
 * LT_EINVAL (bad options, e.g. no api key), LT_EIO (cannot bind). */
int lt_server_start(lt_store_t *store, lt_feed_t *feed, const lt_server_opts_t *opts,
                    lt_server_t **out);
/* The port actually bound. */
uint16_t lt_server_port(const lt_server_t *s);
/* Stops accepting, lets in-flight requests finish, frees. Accepts NULL. */
void lt_server_stop(lt_server_t *s);

/* The route table, for docs and the test that keeps docs/openapi.yaml
 * complete: method and path pattern ({name} = a path parameter). */
typedef struct lt_route_info {
  const char *method, *pattern;
} lt_route_info_t;
/* Copies up to max routes into out; returns how many there are. */
size_t lt_server_routes(lt_route_info_t *out, size_t max);

#endif
