/*
 * http_int.h — shared between the files of the http module only: the
 * request being served, the JSON writer and the route handlers.
 */
#ifndef LT_HTTP_INT_H
#define LT_HTTP_INT_H

#include "core/buf.h"
#include "http/server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

#define LT__MAX_PARAMS 3

typedef enum { AUTH_NONE, AUTH_READ, AUTH_WRITE } lt__auth_t;

typedef struct lt__req lt__req_t;
typedef void (*lt__handler_fn)(lt__req_t *r);

typedef struct lt__route {
  const char *method, *pattern;
  lt__auth_t auth;
  lt__handler_fn fn;
} lt__route_t;

/* Per-route metrics: request count by status class and a latency
 * histogram (upper bounds in lt__lat_bounds, seconds). */
#define LT__LAT_BUCKETS 12
typedef struct lt__route_stats {
  uint64_t requests, status[6]; /* status[0] = other, [2] = 2xx ... [5] = 5xx */
  uint64_t lat[LT__LAT_BUCKETS + 1];
  double lat_sum;
} lt__route_stats_t;

struct lt_server {
  struct MHD_Daemon *d;
  lt_store_t *store;
  lt_feed_t *feed;
  lt_server_opts_t opts;
  char *api_key, *read_key, *host;
  uint16_t port;
  lt__route_stats_t *stats; /* one per route + 1 for unmatched */
  pthread_mutex_t stats_lock;
  pthread_mutex_t rate_lock;
  struct lt__bucket *buckets;
  uint64_t events_accepted, events_duplicate, events_rejected;
  uint64_t recover_last_ns;            /* last lt_store_recover attempt (atomic) */
  uint64_t recoveries, recover_failures; /* atomic */
  int64_t started_ms;
  /* the write pool (server.c's design note) */
  pthread_t *writers;
  uint32_t nwriters;      /* threads started */
  pthread_mutex_t q_lock; /* the queue and q_stop */
  pthread_cond_t q_cv;
  struct lt__req *q_head, *q_tail;
  uint32_t q_len; /* writes queued, not yet taken by a writer (atomic for reads) */
  int q_stop;     /* set when stopping: writes run on their HTTP thread */
  /* open connections (server.c, "Stopping") */
  pthread_mutex_t conn_lock;
  struct lt__conn *conns;
};

/* An open connection: its socket, and whether a request of ours is under
 * way on it (from its first call to its completion; atomic). */
typedef struct lt__conn {
  struct lt__conn *prev, *next; /* under conn_lock */
  int fd;
  int busy;
  int shut; /* lt_server_stop shut it down (under conn_lock) */
} lt__conn_t;

/* Where a request is (server.c): on its HTTP thread, queued on the write
 * pool (connection suspended), or done there (resumed, to be answered). */
enum { LT__ON_HTTP_THREAD, LT__QUEUED, LT__DONE };

struct lt__req {
  lt_server_t *srv;
  struct MHD_Connection *conn;
  const char *method, *url;
  const lt__route_t *route;
  int route_index;
  lt_str_t params[LT__MAX_PARAMS]; /* path parameters, in pattern order */
  uint32_t nparams;
  lt_buf_t body;
  uint64_t t0;
  /* the answer */
  unsigned status;
  lt_buf_t out;
  const char *content_type;
  const char *challenge; /* WWW-Authenticate of a 401; NULL = "Bearer" */
  int answered;
  int phase;           /* LT__ON_HTTP_THREAD ... (atomic: the writer sets LT__DONE) */
  lt__conn_t *c;       /* its connection (NULL when untracked: out of memory) */
  lt__req_t *next;     /* in the write queue */
};

/* Answers with a JSON error body {"error": {"code", "message"}}. */
void lt__error(lt__req_t *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets a 2xx JSON answer whose body is already in r->out. */
void lt__ok(lt__req_t *r, unsigned status);
/* 1 when a[0..na) equals b[0..nb), in time that depends only on the
 * lengths (for keys). */
int lt__ct_equal(const char *a, size_t na, const char *b, size_t nb);
/* Query argument or NULL. */
const char *lt__arg(lt__req_t *r, const char *name);
/* Parses a bounded unsigned query argument (default when absent).
 * Answers 400 and returns -1 when malformed or out of [lo, hi]. */
int lt__arg_u32(lt__req_t *r, const char *name, uint32_t def, uint32_t lo, uint32_t hi,
                uint32_t *out);
/* A path parameter checked against max_id; answers 400 and returns 0 when
 * too long. */
int lt__param_ok(lt__req_t *r, uint32_t i);

/* JSON writer helpers (append to b). */
static inline void lt__json_cstr(lt_buf_t *b, const char *s) { lt_buf_json_str(b, s, strlen(s)); }

extern const lt__route_t lt__routes[];
extern const size_t lt__nroutes;

/* Writes the Prometheus text of the server into r->out. */
void lt__metrics(lt__req_t *r);

#endif
