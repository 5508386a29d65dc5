/*
 * test_http.c — the HTTP API over loopback: a real server on a random
 * port, started and stopped by the test. Events, catalog, feed, similar
 * items, every error status, auth, hostile clients, a failing log (503),
 * restart, and docs/openapi.yaml covering every registered route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "feed/feed.h"
#include "helpers.h"
#include "http/server.h"
#include "state/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEY "test-key-0123456789"
#define AUTH "Authorization: Bearer " KEY "\r\n"
#define READKEY_AUTH "Authorization: Bearer reader-key-42\r\n"

typedef struct env {
  char *dir;
  lt_store_t *store;
  lt_feed_t *feed;
  lt_server_t *srv;
  unsigned port;
} env_t;

static void observe(void *ctx, const lt_record_t *recs, size_t n) { lt_feed_observe(ctx, recs, n); }

static void start(env_t *e, const char *read_key, uint32_t rate) {
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  assert_int_equal(lt_store_open(e->dir, &so, &e->store, NULL), 0);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  fo.ials_iters = 3;
  fo.ials_k = 8;
  char mdir[700];
  snprintf(mdir, sizeof mdir, "%s/models", e->dir);
  assert_int_equal(lt_feed_new(lt_store_state(e->store), &fo, mdir, &e->feed), 0);
  lt_store_set_observer(e->store, observe, lt_feed_prepare, e->feed);
  lt_server_opts_t o;
  lt_server_opts_default(&o);
  o.port = 0;
  o.api_key = KEY;
  o.read_key = read_key;
  o.rate_limit_per_s = rate;
  o.max_body = 1 << 20;
  o.max_batch = 100;
  o.conn_timeout_s = 2;
  assert_int_equal(lt_server_start(e->store, e->feed, &o, &e->srv), 0);
  e->port = lt_server_port(e->srv);
  assert_true(e->port > 0);
}

static void stop(env_t *e) {
  lt_server_stop(e->srv);
  lt_store_close(e->store, 1);
  lt_feed_free(e->feed);
  e->srv = NULL;
  e->store = NULL;
  e->feed = NULL;
}

static int setup(void **state) {
  env_t *e = calloc(1, sizeof *e);
  e->dir = lt_test_tmpdir("http");
  start(e, NULL, 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env_t *e = *state;
  if (e->srv) stop(e);
  lt_test_rmdir(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

static int req(env_t *e, const char *method, const char *path, const char *headers,
               const char *body, char **out) {
  return lt_test_http(e->port, method, path, headers, body, body ? strlen(body) : 0, out);
}

static void expect(env_t *e, const char *method, const char *path, const char *headers,
                   const char *body, int status, const char *needle) {
  char *out = NULL;
  int got = req(e, method, path, headers, body, &out);
  if (got != status || (needle && !strstr(out, needle)))
    fprintf(stderr, "%s %s -> %d (want %d, '%s'): %s\n", method, path, got, status,
            needle ? needle : "", out ? out : "");
  assert_int_equal(got, status);
  if (needle) assert_non_null(strstr(out, needle));
  free(out);
}

static void load_catalog(env_t *e) {
  char path[64], body[256];
  for (int i = 0; i < 30; i++) {
    snprintf(path, sizeof path, "/v1/items/v%d", i);
    snprintf(body, sizeof body,
             "{\"creator\": \"c%d\", \"duration_ms\": %d, \"tags\": [\"%s\"], \"aigc\": %s}",
             i % 6, 10000 + 1000 * i, i % 2 ? "food" : "travel", i % 5 == 0 ? "true" : "false");
    expect(e, "PUT", path, AUTH, body, 200, "\"creator\": \"c");
  }
  /* plays: u0..u19 watch items in two taste clusters; two requests of 80
   * (the test server takes at most 100 events per request) */
  char *nd = malloc(1 << 16);
  for (int half = 0; half < 2; half++) {
    size_t len = 0;
    for (int u = half * 10; u < half * 10 + 10; u++)
      for (int k = 0; k < 8; k++) {
        int item = (u % 2) * 15 + (u + k) % 15;
        len += (size_t)snprintf(nd + len, (1 << 16) - len,
                                "{\"user\": \"u%d\", \"item\": \"v%d\", \"type\": \"play\", "
                                "\"watch_ms\": 9000, \"ts\": %d}\n",
                                u, item, 1764261000 + u * 100 + k);
      }
    char *out = NULL;
    int st = lt_test_http(e->port, "POST", "/v1/events",
                          AUTH "Content-Type: application/x-ndjson\r\n", nd, len, &out);
    assert_int_equal(st, 200);
    assert_non_null(strstr(out, "\"accepted\": 80"));
    free(out);
  }
  free(nd);
}

static void events_are_accepted_deduplicated_and_rejected_by_index(void **state) {
  env_t *e = *state;
  expect(e, "POST", "/v1/events", AUTH, "{\"id\": \"e1\", \"user\": \"u1\", \"item\": \"v1\"}", 200,
         "\"accepted\": 1, \"duplicates\": 0");
  expect(e, "POST", "/v1/events", AUTH,
         "[{\"id\": \"e1\", \"user\": \"u1\", \"item\": \"v1\"},"
         " {\"id\": \"e2\", \"user\": \"u1\", \"item\": \"v2\", \"type\": \"like\"},"
         " {\"user\": \"u1\", \"item\": \"v2\", \"type\": \"teleport\"},"
         " {\"user\": \"u1\", \"item\": \"v3\", \"watch_ms\": -5}]",
         200, "\"accepted\": 1, \"duplicates\": 1, \"rejected\": [{\"index\": 2");
  /* atomic: one bad event, nothing written */
  expect(e, "POST", "/v1/events?atomic=1", AUTH,
         "[{\"id\": \"e3\", \"user\": \"u1\", \"item\": \"v1\"}, {\"user\": \"\", \"item\": \"v1\"}]",
         400, "batch_rejected");
  expect(e, "POST", "/v1/events", AUTH, "{\"id\": \"e3\", \"user\": \"u1\", \"item\": \"v1\"}", 200,
         "\"accepted\": 1");
  /* NDJSON with a malformed line */
  const char *nd = "{\"user\": \"u2\", \"item\": \"v1\"}\n{oops\n\n{\"user\": \"u2\", \"item\": \"v2\"}\n";
  char *out = NULL;
  assert_int_equal(lt_test_http(e->port, "POST", "/v1/events",
                                AUTH "Content-Type: application/x-ndjson\r\n", nd, strlen(nd), &out),
                   200);
  assert_non_null(strstr(out, "\"accepted\": 2"));
  assert_non_null(strstr(out, "\"index\": 1"));
  free(out);
  /* too long ids */
  char big[400];
  snprintf(big, sizeof big, "{\"user\": \"%0200d\", \"item\": \"v1\"}", 7);
  expect(e, "POST", "/v1/events", AUTH, big, 200, "128 bytes");
}

static void catalog_feed_and_similar_work(void **state) {
  env_t *e = *state;
  load_catalog(e);
  expect(e, "GET", "/v1/items/v3", NULL, NULL, 200, "\"tags\": [\"food\"]");
  expect(e, "GET", "/v1/items/v3/similar?n=5", NULL, NULL, 200, "\"items\": [");
  /* a known user: a feed without the items they already watched */
  char *out = NULL;
  assert_int_equal(req(e, "GET", "/v1/feed?user=u1&n=10", NULL, NULL, &out), 200);
  assert_non_null(strstr(out, "\"request_id\""));
  assert_non_null(strstr(out, "\"reason\""));
  free(out);
  /* a user never seen: a cold-start feed */
  assert_int_equal(req(e, "GET", "/v1/feed?user=nobody-yet&n=5", NULL, NULL, &out), 200);
  assert_non_null(strstr(out, "\"id\": \"v"));
  free(out);
  /* deleted items never appear again */
  expect(e, "DELETE", "/v1/items/v0", AUTH, NULL, 200, "deleted");
  expect(e, "GET", "/v1/items/v0", NULL, NULL, 404, "not_found");
  for (int u = 0; u < 20; u++) {
    char path[64];
    snprintf(path, sizeof path, "/v1/feed?user=u%d&n=30", u);
    assert_int_equal(req(e, "GET", path, NULL, NULL, &out), 200);
    assert_null(strstr(out, "\"id\": \"v0\""));
    free(out);
  }
  /* users, groups, follows, creators */
  expect(e, "PUT", "/v1/users/u1", AUTH, "{\"groups\": [\"staff\"]}", 200, "ok");
  expect(e, "POST", "/v1/users/u1/follows/c2", AUTH, NULL, 200, "\"following\": true");
  expect(e, "GET", "/v1/users/u1", NULL, NULL, 200, "\"groups\": [\"staff\"], \"follows\": [\"c2\"]");
  expect(e, "DELETE", "/v1/users/u1/follows/c2", AUTH, NULL, 200, "\"following\": false");
  expect(e, "PUT", "/v1/creators/c9", AUTH, "{\"name\": \"Nine\"}", 200, "ok");
  expect(e, "GET", "/v1/creators/c2", NULL, NULL, 200, "\"followers\": 0");
  expect(e, "POST", "/v1/items", AUTH,
         "[{\"id\": \"b1\", \"creator\": \"c1\"}, {\"id\": \"b2\"}, {\"id\": \"b3\", \"creator\": \"c1\"}]",
         200, "\"accepted\": 2, \"rejected\": [{\"index\": 1");
  expect(e, "POST", "/v1/users", AUTH, "[{\"id\": \"s1\", \"groups\": [\"staff\"]}]", 200,
         "\"accepted\": 1");
  expect(e, "GET", "/healthz", NULL, NULL, 200, "\"status\": \"ok\"");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "laotie_http_requests_total");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "laotie_log_fsync_seconds_bucket{le=\"+Inf\"}");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "laotie_http_request_seconds_bucket");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_snapshots_total{result=\"ok\"} 0\n");
  expect(e, "POST", "/v1/admin/snapshot", NULL, NULL, 401, "unauthorized");
  expect(e, "POST", "/v1/admin/snapshot", AUTH, NULL, 200, "\"snapshot\": true");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_snapshots_total{result=\"ok\"} 1\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_snapshot_last_hold_seconds 0.");
  expect(e, "GET", "/v1/stats", NULL, NULL, 200, "\"events\"");
}

static void every_error_status_is_json(void **state) {
  env_t *e = *state;
  expect(e, "POST", "/v1/events", AUTH, "{not json", 400, "\"code\": \"bad_json\"");
  expect(e, "POST", "/v1/events", NULL, "{}", 401, "unauthorized");
  expect(e, "POST", "/v1/events", "Authorization: Bearer wrong\r\n", "{}", 401, "unauthorized");
  expect(e, "GET", "/v1/nothing", NULL, NULL, 404, "not_found");
  expect(e, "GET", "/v1/items/never", NULL, NULL, 404, "not_found");
  expect(e, "PATCH", "/v1/items/v1", AUTH, NULL, 405, "method_not_allowed");
  expect(e, "PUT", "/v1/items/v1", AUTH, "{\"id\": \"other\", \"creator\": \"c1\"}", 409, "id_conflict");
  expect(e, "GET", "/v1/feed?user=u1&n=1000", NULL, NULL, 400, "bad_parameter");
  expect(e, "GET", "/v1/feed?user=u1&n=-1", NULL, NULL, 400, "bad_parameter");
  expect(e, "GET", "/v1/feed", NULL, NULL, 400, "user is required");
  /* 413: a body over the limit, and a batch over the limit */
  size_t big = (1 << 20) + 10;
  char *b = malloc(big);
  memset(b, ' ', big);
  char *out = NULL;
  assert_int_equal(lt_test_http(e->port, "POST", "/v1/events", AUTH, b, big, &out), 413);
  free(out);
  free(b);
  char *batch = malloc(1 << 16);
  size_t len = 0;
  len += (size_t)sprintf(batch, "[");
  for (int i = 0; i < 101; i++)
    len += (size_t)sprintf(batch + len, "%s{\"user\": \"u\", \"item\": \"i\"}", i ? "," : "");
  len += (size_t)sprintf(batch + len, "]");
  expect(e, "POST", "/v1/events", AUTH, batch, 413, "batch_too_large");
  free(batch);
  expect(e, "POST", "/v1/admin/train", AUTH, NULL, 503, "unavailable");
}

static void read_key_and_rate_limits_are_enforced(void **state) {
  env_t *e = *state;
  stop(e);
  start(e, "reader-key-42", 5);
  expect(e, "GET", "/v1/feed?user=u1", NULL, NULL, 401, "unauthorized");
  expect(e, "GET", "/v1/feed?user=u1", READKEY_AUTH, NULL, 200, "items");
  expect(e, "POST", "/v1/events", READKEY_AUTH, "{\"user\": \"u\", \"item\": \"i\"}", 403,
         "forbidden");
  expect(e, "GET", "/healthz", NULL, NULL, 200, "ok");
  int limited = 0;
  for (int i = 0; i < 40 && !limited; i++) {
    char *out = NULL;
    if (req(e, "GET", "/v1/feed?user=u1", READKEY_AUTH, NULL, &out) == 429) limited = 1;
    free(out);
  }
  assert_true(limited);
  stop(e);
  start(e, NULL, 0);
}

typedef struct {
  unsigned port;
  int ok, stop;
} prober_t;

static void *probe(void *arg) {
  prober_t *p = arg;
  while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
    char *out = NULL;
    if (lt_test_http(p->port, "GET", "/healthz", NULL, NULL, 0, &out) == 200)
      __atomic_add_fetch(&p->ok, 1, __ATOMIC_RELAXED);
    free(out);
    usleep(2000);
  }
  return NULL;
}

static void hostile_clients_do_not_stop_others(void **state) {
  env_t *e = *state;
  prober_t p = {e->port, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, probe, &p);
  srand(7);
  char junk[2048];
  for (int round = 0; round < 30; round++) {
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(rand() & 0xff);
    lt_test_raw(e->port, junk, (size_t)(rand() % (int)sizeof junk) + 1, 200);
  }
  const char *truncated[] = {
      "GET /v1/feed?user=u1 HTTP/1.1\r\nHost: x\r\n",            /* no end of headers */
      "POST /v1/events HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"user\"", /* short body */
      "GET /\x01\x02 HTTP/1.1\r\n\r\n",
      "POST /v1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (size_t i = 0; i < sizeof truncated / sizeof *truncated; i++)
    lt_test_raw(e->port, truncated[i], strlen(truncated[i]), 300);
  /* a slow body: the server keeps answering others meanwhile */
  int ok_before = __atomic_load_n(&p.ok, __ATOMIC_RELAXED);
  const char *slow = "POST /v1/events HTTP/1.1\r\nContent-Length: 50\r\n\r\n{";
  lt_test_raw(e->port, slow, strlen(slow), 1500);
  usleep(100000);
  __atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
  pthread_join(th, NULL);
  assert_true(p.ok > ok_before);
  expect(e, "GET", "/healthz", NULL, NULL, 200, "ok");
}

static void failed_log_answers_503_for_writes_and_reads_go_on(void **state) {
  env_t *e = *state;
  lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_FSYNC, 5 /* EIO */);
  expect(e, "POST", "/v1/events", AUTH, "{\"user\": \"u1\", \"item\": \"v1\"}", 503, "unavailable");
  expect(e, "POST", "/v1/events", AUTH, "{\"user\": \"u1\", \"item\": \"v1\"}", 503, "unavailable");
  expect(e, "GET", "/v1/feed?user=u1", NULL, NULL, 200, "items");
  /* reopening (a restart) makes the store writable again */
  lt_server_stop(e->srv);
  lt_store_close(e->store, 0);
  lt_feed_free(e->feed);
  e->srv = NULL;
  start(e, NULL, 0);
  expect(e, "POST", "/v1/events", AUTH, "{\"user\": \"u1\", \"item\": \"v1\"}", 200, "\"accepted\": 1");
}

static void acknowledged_writes_are_served_after_restart(void **state) {
  env_t *e = *state;
  expect(e, "PUT", "/v1/items/keep1", AUTH, "{\"creator\": \"ck\", \"tags\": [\"music\"]}", 200, "ck");
  expect(e, "POST", "/v1/events", AUTH, "{\"id\": \"keep-e\", \"user\": \"ku\", \"item\": \"keep1\"}",
         200, "\"accepted\": 1");
  stop(e);
  start(e, NULL, 0);
  expect(e, "GET", "/v1/items/keep1", NULL, NULL, 200, "\"plays\": 1");
  expect(e, "GET", "/v1/users/ku", NULL, NULL, 200, "keep1");
  expect(e, "POST", "/v1/events", AUTH, "{\"id\": \"keep-e\", \"user\": \"ku\", \"item\": \"keep1\"}",
         200, "\"duplicates\": 1");
}

/* Clients that keep sending requests libmicrohttpd refuses by itself (a
 * header line without a colon: its own 400) on 64 connections while the server stops. An error
 * answer MHD builds while MHD_stop_daemon runs crashes libmicrohttpd
 * 0.9.75 (MHD_queue_response queues nothing during the shutdown and the
 * header builder reads the NULL response): lt_server_stop must have shut
 * every idle connection down before it stops MHD. Before that, 12 of 20
 * stops crashed this way (a SEGV of the test process). */
typedef struct sender {
  int fds[64];
  int stop; /* atomic */
} sender_t;

static void *sender_main(void *arg) {
  sender_t *sd = arg;
  static const char bad[] = "GET /healthz HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n";
  while (!__atomic_load_n(&sd->stop, __ATOMIC_RELAXED)) {
    for (int i = 0; i < 64; i++)
      if (sd->fds[i] >= 0) (void)send(sd->fds[i], bad, sizeof bad - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    usleep(100);
  }
  return NULL;
}

static void stopping_while_clients_send_malformed_requests(void **state) {
  env_t *e = *state;
  for (int round = 0; round < 20; round++) {
    if (round) start(e, NULL, 0);
    sender_t sd = {.stop = 0};
    for (int i = 0; i < 64; i++)
      sd.fds[i] = lt_test_connect(e->port);
    /* MHD answers such a request itself */
    static const char bad[] = "GET /healthz HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n";
    assert_int_equal(lt_test_raw(e->port, bad, sizeof bad - 1, 2000), 400);
    pthread_t th;
    pthread_create(&th, NULL, sender_main, &sd);
    usleep(2000);
    stop(e); /* crashed here */
    __atomic_store_n(&sd.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    for (int i = 0; i < 64; i++)
      if (sd.fds[i] >= 0) close(sd.fds[i]);
  }
}

static void openapi_documents_every_route(void **state) {
  char path[1024];
  snprintf(path, sizeof path, "%s/docs/openapi.yaml", LT_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char doc[1 << 20];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  doc[n] = 0;
  fclose(f);
  lt_route_info_t routes[128];
  size_t nr = lt_server_routes(routes, 128);
  assert_true(nr > 10);
  for (size_t i = 0; i < nr; i++) {
    char key[300], method[16];
    snprintf(key, sizeof key, "\n  %s:\n", routes[i].pattern);
    char *at = strstr(doc, key);
    if (!at) fprintf(stderr, "docs/openapi.yaml lacks the path %s\n", routes[i].pattern);
    assert_non_null(at);
    /* the method must appear as "    get:" before the next path entry */
    size_t k = 0;
    for (; routes[i].method[k] && k < sizeof method - 1; k++)
      method[k] = (char)(routes[i].method[k] | 0x20);
    method[k] = 0;
    char mkey[40];
    snprintf(mkey, sizeof mkey, "\n    %s:", method);
    char *next = strstr(at + strlen(key), "\n  /");
    char *m = strstr(at, mkey);
    if (!m || (next && m > next))
      fprintf(stderr, "docs/openapi.yaml lacks %s %s\n", routes[i].method, routes[i].pattern);
    assert_true(m && (!next || m < next));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(openapi_documents_every_route),
      cmocka_unit_test_setup_teardown(events_are_accepted_deduplicated_and_rejected_by_index, setup, teardown),
      cmocka_unit_test_setup_teardown(catalog_feed_and_similar_work, setup, teardown),
      cmocka_unit_test_setup_teardown(every_error_status_is_json, setup, teardown),
      cmocka_unit_test_setup_teardown(read_key_and_rate_limits_are_enforced, setup, teardown),
      cmocka_unit_test_setup_teardown(hostile_clients_do_not_stop_others, setup, teardown),
      cmocka_unit_test_setup_teardown(failed_log_answers_503_for_writes_and_reads_go_on, setup, teardown),
      cmocka_unit_test_setup_teardown(acknowledged_writes_are_served_after_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(stopping_while_clients_send_malformed_requests, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
