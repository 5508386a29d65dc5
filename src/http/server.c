/*
 * server.c — libmicrohttpd glue: the request lifecycle, routing, auth,
 * limits, rate limiting and per-route metrics (see server.h).
 *
 * A request moves through MHD's access handler in three steps:
 *  1. first call (*con_cls == NULL): allocate an lt__req_t; when
 *     Content-Length is over max_body, refuse_body(): 413 (or the route's
 *     404/405) written at once, connection closed, the body never read.
 *     Otherwise return MHD_YES (answering on the first call would make
 *     MHD drop keep-alive).
 *  2. calls with upload data: append to r->body; a body that passes
 *     max_body (chunked: its size was not declared) is refused there and
 *     then by refuse_body() too.
 *  3. the last call (no more data): route, auth, rate limit, handler,
 *     answer. Reads (GET/HEAD) run their handler on the HTTP thread.
 *     Writes (any other method) run theirs on the write pool, off the
 *     HTTP threads: the connection is suspended (MHD_suspend_connection)
 *     and queued; a writer thread runs maybe_recover() and the handler
 *     and resumes the connection; MHD then calls the access handler once
 *     more, which answers (phase DONE). A write waits for its fsync
 *     (lt_store_write; one fsync can take hundreds of milliseconds on a
 *     busy disk), and an HTTP thread that waited with it would stall
 *     every other connection it serves, feeds included. The pool also
 *     lets write_threads batches share the store's pipeline at once
 *     (parse, stage 1, fsync and apply overlap).
 *     maybe_recover() brings a failed store back (lt_store_recover) once
 *     the back-off has passed: writes resume without a restart when the
 *     storage fault clears, and answer 503 until then.
 * The request context is freed in the completion callback.
 *
 * Stopping: stop accepting (quiesce), stop the pool after it has run
 * every queued write (later writes run on their HTTP thread; none is
 * suspended from then on), then shut each connection down (shutdown(2);
 * libmicrohttpd still owns and closes the socket) as soon as no request
 * of ours is under way on it — a resumed write is until its answer is
 * sent — wait until MHD has
 * closed them all (at most STOP_CONNS_MS), and only then stop MHD. So no
 * connection is left suspended (MHD's rule), no acknowledged write loses
 * its answer, and no connection is still being read when MHD_stop_daemon
 * runs: libmicrohttpd 0.9.75 crashes (a NULL response) when it builds an
 * error answer of its own — a malformed request — during
 * MHD_stop_daemon (test_http: 12 of 20 stops under such clients crashed
 * before). A request of ours still under way after STOP_CONNS_MS (a slow
 * upload) is not waited for.
 *
 * Invariants:
 *  1. every answered request is counted once in its route's stats;
 *  2. a handler runs only after auth succeeded for its route's level;
 *  3. nothing a client sends reaches the file system by name.
 */
#include "http/http_int.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const double lat_bounds[LT__LAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

/* ---- rate limiting: a token bucket per principal ------------------- */

#define NBUCKETS 1024
typedef struct lt__bucket {
  uint64_t key;
  double tokens;
  uint64_t last_ns;
} lt__bucket_t;

static int rate_ok(lt_server_t *s, uint64_t key) {
  if (!s->opts.rate_limit_per_s) return 1;
  double rate = s->opts.rate_limit_per_s, burst = rate < 10 ? 10 : rate;
  uint64_t now = lt_mono_ns();
  pthread_mutex_lock(&s->rate_lock);
  lt__bucket_t *b = &s->buckets[key % NBUCKETS];
  if (b->key != key) { /* a new principal takes the slot with a full bucket */
    b->key = key;
    b->tokens = burst;
    b->last_ns = now;
  }
  b->tokens += (double)(now - b->last_ns) / 1e9 * rate;
  if (b->tokens > burst) b->tokens = burst;
  b->last_ns = now;
  int ok = b->tokens >= 1.0;
  if (ok) b->tokens -= 1.0;
  pthread_mutex_unlock(&s->rate_lock);
  return ok;
}

/* ---- helpers for handlers ------------------------------------------ */


void lt__error(lt__req_t *r, unsigned status, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_buf_reset(&r->out);
  lt_buf_printf(&r->out, "{\"error\": {\"code\": \"%s\", \"message\": ", code);
  lt__json_cstr(&r->out, msg);
  lt_buf_put(&r->out, "}}\n", 3);
  r->status = status;
  r->content_type = "application/json";
  r->answered = 1;
}

void lt__ok(lt__req_t *r, unsigned status) {
  r->status = status;
  if (!r->content_type) r->content_type = "application/json";
  r->answered = 1;
}

const char *lt__arg(lt__req_t *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int lt__arg_u32(lt__req_t *r, const char *name, uint32_t def, uint32_t lo, uint32_t hi,
                uint32_t *out) {
  const char *v = lt__arg(r, name);
  if (!v) {
    *out = def;
    return 0;
  }
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || *v == '-' || x < lo || x > hi) {
    lt__error(r, 400, "bad_parameter", "%s must be a whole number in [%u, %u]", name, lo, hi);
    return -1;
  }
  *out = (uint32_t)x;
  return 0;
}

int lt__param_ok(lt__req_t *r, uint32_t i) {
  if (r->params[i].n == 0 || r->params[i].n > r->srv->opts.max_id) {
    lt__error(r, 400, "bad_id", "ids must be 1 to %u bytes", r->srv->opts.max_id);
    return 0;
  }
  for (size_t k = 0; k < r->params[i].n; k++)
    if ((unsigned char)r->params[i].p[k] < 0x20) {
      lt__error(r, 400, "bad_id", "ids must not contain control characters");
      return 0;
    }
  return 1;
}

/* ---- routing -------------------------------------------------------- */

/* Matches url against a pattern; fills path parameters (pointing into
 * url). Returns 1 on a match. */
static int match(const char *pattern, const char *url, lt__req_t *r) {
  const char *p = pattern, *u = url;
  uint32_t np = 0;
  while (*p && *u) {
    if (*p == '{') {
      const char *end = strchr(u, '/');
      size_t n = end ? (size_t)(end - u) : strlen(u);
      if (n == 0 || np >= LT__MAX_PARAMS) return 0;
      r->params[np].p = u;
      r->params[np].n = n;
      np++;
      u += n;
      p = strchr(p, '}');
      if (!p) return 0;
      p++;
    } else if (*p++ != *u++) {
      return 0;
    }
  }
  if (*p || *u) return 0;
  r->nparams = np;
  return 1;
}

static void route(lt__req_t *r) {
  int path_found = 0;
  r->route_index = (int)lt__nroutes; /* unmatched */
  for (size_t i = 0; i < lt__nroutes; i++) {
    if (!match(lt__routes[i].pattern, r->url, r)) continue;
    path_found = 1;
    if (!strcmp(lt__routes[i].method, r->method)) {
      r->route = &lt__routes[i];
      r->route_index = (int)i;
      return;
    }
  }
  r->nparams = 0;
  if (path_found) lt__error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
  else lt__error(r, 404, "not_found", "no such route");
}

/* ---- auth ----------------------------------------------------------- */

int lt__ct_equal(const char *a, size_t na, const char *b, size_t nb) {
  /* time depends only on the lengths, not on where the keys differ */
  unsigned diff = (unsigned)(na ^ nb);
  size_t n = na > nb ? na : nb;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < na ? (unsigned char)a[i] : 0, y = i < nb ? (unsigned char)b[i] : 0;
    diff |= (unsigned)(x ^ y);
  }
  return diff == 0;
}

/* Returns 1 when allowed; otherwise answers 401/403 and returns 0.
 * *principal gets the rate-limit key. */
static int authorise(lt__req_t *r, uint64_t *principal) {
  lt_server_t *s = r->srv;
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  const char *tok = NULL;
  size_t nt = 0;
  if (h && !strncmp(h, "Bearer ", 7)) {
    tok = h + 7;
    nt = strlen(tok);
  }
  int is_admin = tok && lt__ct_equal(tok, nt, s->api_key, strlen(s->api_key));
  int is_reader = tok && s->read_key && lt__ct_equal(tok, nt, s->read_key, strlen(s->read_key));
  if (is_admin) *principal = 1;
  else if (is_reader) *principal = 2;
  else { /* anonymous: by client address */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *principal = 3;
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
      const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
      *principal = 3 + lt_mix64(in->sin_addr.s_addr);
    }
  }
  lt__auth_t need = r->route->auth;
  if (need == AUTH_NONE) return 1;
  if (need == AUTH_READ && (!s->read_key || is_admin || is_reader)) return 1;
  if (need == AUTH_WRITE && is_admin) return 1;
  if (!tok) {
    lt__error(r, 401, "unauthorized", "this route needs Authorization: Bearer KEY");
  } else if (need == AUTH_WRITE && is_reader) {
    lt__error(r, 403, "forbidden", "the read key cannot write");
  } else {
    lt__error(r, 401, "unauthorized", "unknown key");
  }
  return 0;
}

/* ---- MHD callbacks -------------------------------------------------- */

static void record(lt_server_t *s, lt__req_t *r) {
  double secs = (double)(lt_mono_ns() - r->t0) / 1e9;
  lt__route_stats_t *st = &s->stats[r->route_index];
  size_t b = 0;
  while (b < LT__LAT_BUCKETS && secs > lat_bounds[b]) b++;
  unsigned cls = r->status / 100;
  pthread_mutex_lock(&s->stats_lock);
  st->requests++;
  st->status[cls >= 2 && cls <= 5 ? cls : 0]++;
  st->lat[b]++;
  st->lat_sum += secs;
  pthread_mutex_unlock(&s->stats_lock);
}

static enum MHD_Result respond(lt__req_t *r) {
  if (r->out.err) lt__error(r, 503, "out_of_memory", "out of memory");
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(r->out.len, r->out.p, MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  if (r->status == 401)
    MHD_add_response_header(resp, "WWW-Authenticate", r->challenge ? r->challenge : "Bearer");
  if (r->status == 429) MHD_add_response_header(resp, "Retry-After", "1");
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  record(r->srv, r);
  return ret;
}

static void too_big(lt__req_t *r) {
  lt__error(r, 413, "body_too_large", "request bodies are limited to %zu bytes",
            r->srv->opts.max_body);
}

/* A body over max_body: declared so (Content-Length, seen on the first
 * call) or passing it while read (chunked). The 413 goes straight to the
 * socket and MHD_NO makes MHD close the connection at once: the rest of
 * the body is never read. Not MHD_queue_response: MHD takes no response in
 * mid-upload, and one queued on the first call makes libmicrohttpd 0.9.75
 * skip the body only for POST and PUT (for other methods it goes on
 * reading what it was told to refuse); one path serves both cases. The
 * server speaks plain HTTP (TLS, when used, terminates in front of it). */
static enum MHD_Result refuse_body(lt__req_t *r) {
  route(r);
  if (!r->answered) too_big(r);
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %u %s\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nCache-Control: no-store\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   r->status, MHD_get_reason_phrase_for(r->status), r->out.len);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci && n > 0 && !r->out.err) {
    /* best effort: nothing else was written on this connection since the
     * request began (at most a 100 Continue), so a few hundred bytes fit
     * the socket's send buffer; when they do not, the client sees only the
     * closed connection */
    struct iovec iov[2] = {{head, (size_t)n}, {r->out.p, r->out.len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t k;
    do k = sendmsg(ci->connect_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (k < 0 && errno == EINTR);
  }
  record(r->srv, r);
  return MHD_NO;
}

/* Writes after a storage fault: one request at a time tries
 * lt_store_recover, no sooner than recover_backoff_ms after the failure
 * or the last try (each try re-verifies the log, as an open does). */
static void maybe_recover(lt_server_t *s, const char *method) {
  uint64_t since = lt_store_failed_since(s->store);
  if (!since || !strcmp(method, "GET") || !strcmp(method, "HEAD")) return;
  uint64_t now = lt_mono_ns(), gap = (uint64_t)s->opts.recover_backoff_ms * 1000000u;
  uint64_t last = __atomic_load_n(&s->recover_last_ns, __ATOMIC_ACQUIRE);
  if (last < since) last = since;
  if (now - last < gap && gap) return;
  uint64_t seen = __atomic_load_n(&s->recover_last_ns, __ATOMIC_ACQUIRE);
  if (!__atomic_compare_exchange_n(&s->recover_last_ns, &seen, now, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return; /* another request is trying */
  lt_log_recovery_t rep;
  int rc = lt_store_recover(s->store, &rep);
  if (!rc && !rep.message[0]) return; /* another request recovered it meanwhile */
  __atomic_add_fetch(rc ? &s->recover_failures : &s->recoveries, 1, __ATOMIC_RELAXED);
  fprintf(stderr, "laotie: the event log failed; recovery %s: %s%s%s\n",
          rc ? "failed, writes still refused" : "done, writes resume", rc ? lt_strerror(rc) : "",
          rc ? ": " : "", rep.message);
}

/* Runs the route's handler (after maybe_recover for a write); a handler
 * that gives no answer is a 500. */
static void run_handler(lt__req_t *r) {
  maybe_recover(r->srv, r->method);
  r->route->fn(r);
  if (!r->answered) lt__error(r, 500, "internal", "the handler gave no answer");
}

/* ---- the write pool ------------------------------------------------- */

static int is_write(const char *method) { return strcmp(method, "GET") && strcmp(method, "HEAD"); }

/* Suspends r's connection and queues r for a writer. Returns 0 (run it
 * here) when there is no pool or it is stopping. */
static int queue_write(lt_server_t *s, lt__req_t *r) {
  pthread_mutex_lock(&s->q_lock);
  if (s->q_stop || !s->nwriters) {
    pthread_mutex_unlock(&s->q_lock);
    return 0;
  }
  r->phase = LT__QUEUED;
  MHD_suspend_connection(r->conn); /* before a writer can resume it */
  r->next = NULL;
  if (s->q_tail) s->q_tail->next = r;
  else s->q_head = r;
  s->q_tail = r;
  __atomic_add_fetch(&s->q_len, 1, __ATOMIC_RELAXED);
  pthread_cond_signal(&s->q_cv);
  pthread_mutex_unlock(&s->q_lock);
  return 1;
}

static void *writer_main(void *arg) {
  lt_server_t *s = arg;
  pthread_mutex_lock(&s->q_lock);
  for (;;) {
    while (!s->q_head && !s->q_stop)
      pthread_cond_wait(&s->q_cv, &s->q_lock);
    lt__req_t *r = s->q_head;
    if (!r) break; /* stopping and nothing left */
    s->q_head = r->next;
    if (!s->q_head) s->q_tail = NULL;
    __atomic_sub_fetch(&s->q_len, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->q_lock);
    run_handler(r);
    __atomic_store_n(&r->phase, LT__DONE, __ATOMIC_RELEASE);
    MHD_resume_connection(r->conn); /* MHD calls on_request again: it answers */
    pthread_mutex_lock(&s->q_lock);
  }
  pthread_mutex_unlock(&s->q_lock);
  return NULL;
}

/* Lets the writers run what is queued, then joins them. */
static void pool_stop(lt_server_t *s) {
  pthread_mutex_lock(&s->q_lock);
  s->q_stop = 1;
  pthread_cond_broadcast(&s->q_cv);
  pthread_mutex_unlock(&s->q_lock);
  for (uint32_t i = 0; i < s->nwriters; i++)
    pthread_join(s->writers[i], NULL);
  s->nwriters = 0;
}

/* ---- open connections (design note, "Stopping") ---------------------- */

#define STOP_CONNS_MS 2000

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  lt_server_t *s = cls;
  lt__conn_t *c = *socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || !(c = calloc(1, sizeof *c))) return; /* untracked: not shut down at stop */
    c->fd = ci->connect_fd;
    pthread_mutex_lock(&s->conn_lock);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->conn_lock);
    *socket_context = c;
  } else if (c) {
    pthread_mutex_lock(&s->conn_lock);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&s->conn_lock);
    free(c);
    *socket_context = NULL;
  }
}

/* Shuts every connection down once no request of ours is under way on it
 * and waits until MHD has closed them all, at most STOP_CONNS_MS. */
static void close_connections(lt_server_t *s) {
  for (int ms = 0; ms < STOP_CONNS_MS; ms++) {
    int open = 0;
    pthread_mutex_lock(&s->conn_lock);
    for (lt__conn_t *c = s->conns; c; c = c->next) {
      open++;
      if (!c->shut && !__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE)) {
        shutdown(c->fd, SHUT_RDWR); /* MHD sees the end and closes it */
        c->shut = 1;
      }
    }
    pthread_mutex_unlock(&s->conn_lock);
    if (!open) return;
    usleep(1000);
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  lt_server_t *s = cls;
  lt__req_t *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->url = url;
    r->t0 = lt_mono_ns();
    lt_buf_init(&r->body);
    lt_buf_init(&r->out);
    *con_cls = r;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && (r->c = ci->socket_context)) __atomic_store_n(&r->c->busy, 1, __ATOMIC_RELEASE);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    /* declared over the limit: answer now, before reading a byte of it */
    if (cl && strtoull(cl, NULL, 10) > s->opts.max_body) return refuse_body(r);
    return MHD_YES;
  }
  if (__atomic_load_n(&r->phase, __ATOMIC_ACQUIRE) == LT__DONE) /* resumed by its writer */
    return respond(r);
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->body.len + n > s->opts.max_body) return refuse_body(r);
    lt_buf_put(&r->body, upload_data, n);
    return MHD_YES;
  }
  route(r);
  uint64_t principal = 0;
  if (r->answered) {
    /* 404 / 405 */
  } else if (r->body.err) {
    lt__error(r, 503, "out_of_memory", "out of memory");
  } else if (authorise(r, &principal)) {
    if (!rate_ok(s, principal)) lt__error(r, 429, "rate_limited", "too many requests; slow down");
    else if (is_write(r->method) && queue_write(s, r)) return MHD_YES; /* answered on resume */
    else run_handler(r);
  }
  return respond(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  lt__req_t *r = *con_cls;
  if (!r) return;
  /* never a queued write: MHD completes no suspended connection (it
   * watches none, and lt_server_stop empties the pool before
   * MHD_stop_daemon) */
  if (r->c) __atomic_store_n(&r->c->busy, 0, __ATOMIC_RELEASE);
  lt_buf_free(&r->body);
  lt_buf_free(&r->out);
  free(r);
  *con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------ */

void lt_server_opts_default(lt_server_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->threads = 2;
  o->write_threads = 4;
  o->max_body = 8u << 20;
  o->max_batch = 10000;
  o->max_id = 128;
  o->max_conns = 1024;
  o->conn_timeout_s = 30;
  o->recover_backoff_ms = 1000;
}

int lt_server_start(lt_store_t *store, lt_feed_t *feed, const lt_server_opts_t *opts,
                    lt_server_t **out) {
  lt_server_opts_t o;
  if (opts) o = *opts;
  else lt_server_opts_default(&o);
  if (!o.api_key || !*o.api_key) return LT_EINVAL;
  if (!o.host) o.host = "127.0.0.1";
  if (!o.threads) o.threads = 2;
  if (!o.max_body) o.max_body = 8u << 20;
  if (!o.max_batch) o.max_batch = 10000;
  if (!o.max_id) o.max_id = 128;
  if (!o.max_conns) o.max_conns = 1024;
  if (!o.conn_timeout_s) o.conn_timeout_s = 30;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (inet_pton(AF_INET, o.host, &addr.sin_addr) != 1) return LT_EINVAL;

  lt_server_t *s = calloc(1, sizeof *s);
  if (!s) return LT_ENOMEM;
  s->store = store;
  s->feed = feed;
  s->opts = o;
  s->api_key = strdup(o.api_key);
  s->read_key = o.read_key && *o.read_key ? strdup(o.read_key) : NULL;
  s->host = strdup(o.host);
  s->stats = calloc(lt__nroutes + 1, sizeof *s->stats);
  s->buckets = calloc(NBUCKETS, sizeof *s->buckets);
  s->started_ms = lt_now_ms();
  pthread_mutex_init(&s->stats_lock, NULL);
  pthread_mutex_init(&s->rate_lock, NULL);
  pthread_mutex_init(&s->q_lock, NULL);
  pthread_cond_init(&s->q_cv, NULL);
  pthread_mutex_init(&s->conn_lock, NULL);
  s->writers = o.write_threads ? calloc(o.write_threads, sizeof *s->writers) : NULL;
  s->opts.api_key = s->api_key;
  s->opts.read_key = s->read_key;
  s->opts.host = s->host;
  if (!s->api_key || !s->host || !s->stats || !s->buckets ||
      (o.read_key && *o.read_key && !s->read_key) || (o.write_threads && !s->writers)) {
    lt_server_stop(s);
    return LT_ENOMEM;
  }
  for (; s->nwriters < o.write_threads; s->nwriters++)
    if (pthread_create(&s->writers[s->nwriters], NULL, writer_main, s)) {
      lt_server_stop(s);
      return LT_ENOMEM;
    }
  s->d = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, s,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)o.threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)o.max_conns,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o.conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
  if (!s->d) {
    lt_server_stop(s);
    return LT_EIO;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o.port;
  *out = s;
  return LT_OK;
}

uint16_t lt_server_port(const lt_server_t *s) { return s->port; }

void lt_server_stop(lt_server_t *s) {
  if (!s) return;
  MHD_socket fd = s->d ? MHD_quiesce_daemon(s->d) : MHD_INVALID_SOCKET; /* stop accepting */
  pool_stop(s); /* runs every queued write; later ones run on their HTTP thread */
  if (s->d) {
    close_connections(s); /* in-flight requests, resumed writes included, finish first */
    MHD_stop_daemon(s->d); /* joins MHD's threads */
  }
  if (fd != MHD_INVALID_SOCKET) close(fd);
  pthread_mutex_destroy(&s->stats_lock);
  pthread_mutex_destroy(&s->rate_lock);
  pthread_mutex_destroy(&s->q_lock);
  pthread_cond_destroy(&s->q_cv);
  pthread_mutex_destroy(&s->conn_lock);
  free(s->writers);
  free(s->stats);
  free(s->buckets);
  free(s->api_key);
  free(s->read_key);
  free(s->host);
  free(s);
}

size_t lt_server_routes(lt_route_info_t *out, size_t max) {
  for (size_t i = 0; i < lt__nroutes && i < max; i++) {
    out[i].method = lt__routes[i].method;
    out[i].pattern = lt__routes[i].pattern;
  }
  return lt__nroutes;
}
