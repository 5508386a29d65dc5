/*
 * test_faults.c — a failing write or fsync under the real server: the
 * store and HTTP server run in-process on a random loopback port, and
 * lt_log_inject_fault (log/log.h) makes the log's next data write (a short
 * write, then an error) or fdatasync fail.
 *
 * What each test pins, as the issue puts it: "writes answer 503, reads keep
 * being served, nothing un-durable is acknowledged, and writes resume when
 * the fault clears (after a failed fsync, the log is reopened and verified
 * before accepting writes)". Today the store leaves its failed state only
 * by being closed and reopened (store.c: OPEN -> FAILED -> CLOSED), so
 * "the fault clears" is a restart here: server stop, store close, store
 * open (which verifies every segment header and frame checksum), server
 * start.
 *
 *  1. failed fsync: 503 for every write (events, catalog, follows, admin
 *     snapshot), sticky; 200 for /healthz, /v1/stats, items, users, feed;
 *     the close writes no snapshot; after reopen every acknowledged event
 *     is there exactly once, the log opened clean, and writes resume.
 *     (The store applies a batch to memory before its fsync returns —
 *     group commit outside the writer lock — so until the reopen a refused
 *     batch may be visible to reads; the reopen rebuilds the state from
 *     what the log really holds.) The refused batch
 *     reached the file before its fsync failed, so it may reappear after
 *     the reopen (allowed: it was never acknowledged and its id makes a
 *     retry idempotent) — the test pins "at most once, and a retry is
 *     answered as a duplicate or accepted, never twice".
 *  2. failed write (ENOSPC, after half the bytes): the log cuts its file
 *     back, so after reopen the refused events are absent (even if reads
 *     saw them in memory before the reopen).
 *  3. a failed write whose errno maps to another laotie code (EFBIG ->
 *     LT_ETOOBIG, EINVAL -> LT_EINVAL) is still an I/O failure: 503, not
 *     500 or 400 (regression: routes.c mapped them to 500 / "batch
 *     rejected" 400 — see docs/reliability.md).
 *  4. group commit under fire: 4 client threads post single events while
 *     the fsync fails once: a thread that saw 503 never sees 200 again;
 *     every 200 is durable (present after reopen); no 5xx but 503.
 *  5. interval fsync (acknowledged after write): a failing background
 *     fdatasync turns later writes into 503; what was acknowledged is
 *     present after reopen.
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

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "fault-key-0123456789"
#define AUTH "Authorization: Bearer " KEY "\r\n"

typedef struct env {
  char *dir;
  lt_store_t *store;
  lt_feed_t *feed;
  lt_server_t *srv;
  unsigned port;
  lt_store_report_t rep; /* of the last open */
  const char *fsync;     /* NULL = batch */
} env_t;

static void observe(void *ctx, const lt_record_t *recs, size_t n) { lt_feed_observe(ctx, recs, n); }

static void start(env_t *e) {
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  if (e->fsync) assert_int_equal(lt_log_parse_fsync(e->fsync, &so.log), 0);
  assert_int_equal(lt_store_open(e->dir, &so, &e->store, &e->rep), 0);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  fo.ials_iters = 2;
  fo.ials_k = 4;
  char mdir[700];
  snprintf(mdir, sizeof mdir, "%s/models", e->dir);
  assert_int_equal(lt_feed_new(lt_store_state(e->store), &fo, mdir, &e->feed), 0);
  lt_store_set_observer(e->store, observe, e->feed);
  lt_server_opts_t o;
  lt_server_opts_default(&o);
  o.host = "127.0.0.1";
  o.port = 0;
  o.api_key = KEY;
  o.threads = 4;
  o.conn_timeout_s = 5;
  assert_int_equal(lt_server_start(e->store, e->feed, &o, &e->srv), 0);
  e->port = lt_server_port(e->srv);
}

/* Server stop + store close; returns lt_store_close's code. */
static int stop(env_t *e) {
  lt_server_stop(e->srv);
  int rc = lt_store_close(e->store, 1);
  lt_feed_free(e->feed);
  e->srv = NULL;
  e->store = NULL;
  e->feed = NULL;
  return rc;
}

static int setup(void **state) {
  env_t *e = calloc(1, sizeof *e);
  e->dir = lt_test_tmpdir("faults");
  start(e);
  *state = e;
  return 0;
}

static int setup_interval(void **state) {
  env_t *e = calloc(1, sizeof *e);
  e->dir = lt_test_tmpdir("faults");
  e->fsync = "interval:20";
  start(e);
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

static int req(env_t *e, const char *method, const char *path, const char *body, char **out) {
  return lt_test_http(e->port, method, path, AUTH, body, body ? strlen(body) : 0, out);
}

static void expect(env_t *e, const char *method, const char *path, const char *body, int status,
                   const char *needle) {
  char *out = NULL;
  int got = req(e, method, path, body, &out);
  if (got != status || (needle && (!out || !strstr(out, needle))))
    fprintf(stderr, "%s %s -> %d (want %d, '%s'): %s\n", method, path, got, status,
            needle ? needle : "", out ? out : "");
  assert_int_equal(got, status);
  if (needle) assert_non_null(strstr(out, needle));
  free(out);
}

/* POSTs one event with this id; returns the status, *accepted and *dup
 * from the answer (when 200). */
static int post_event(env_t *e, const char *id, const char *user, int *accepted, int *dup) {
  char body[256], *out = NULL;
  snprintf(body, sizeof body,
           "{\"id\": \"%s\", \"user\": \"%s\", \"item\": \"v1\", \"type\": \"play\", "
           "\"watch_ms\": 5000}",
           id, user);
  int st = req(e, "POST", "/v1/events", body, &out);
  *accepted = *dup = -1;
  if (st == 200 && out) {
    const char *a = strstr(out, "\"accepted\": "), *d = strstr(out, "\"duplicates\": ");
    if (a) *accepted = atoi(a + 12);
    if (d) *dup = atoi(d + 14);
  }
  free(out);
  return st;
}

static long stats_events(env_t *e) {
  char *out = NULL;
  assert_int_equal(req(e, "GET", "/v1/stats", NULL, &out), 200);
  const char *p = strstr(out, "\"events\": ");
  assert_non_null(p);
  long n = atol(p + 10);
  free(out);
  return n;
}

/* Writes n acknowledged events "ack-0".."ack-(n-1)" and an item. */
static void baseline(env_t *e, int n) {
  char id[32];
  int a, d;
  expect(e, "PUT", "/v1/items/v1", "{\"creator\": \"c1\", \"duration_ms\": 10000}", 200, "c1");
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "ack-%d", i);
    assert_int_equal(post_event(e, id, i % 2 ? "u1" : "u2", &a, &d), 200);
    assert_int_equal(a, 1);
  }
}

/* Every read route still answers 200. */
static void reads_go_on(env_t *e) {
  expect(e, "GET", "/healthz", NULL, 200, "ok");
  expect(e, "GET", "/v1/stats", NULL, 200, "\"events\"");
  expect(e, "GET", "/v1/items/v1", NULL, 200, "\"creator\": \"c1\"");
  expect(e, "GET", "/v1/users/u1", NULL, 200, "\"events\"");
  expect(e, "GET", "/v1/feed?user=u1&n=5", NULL, 200, "\"items\"");
  expect(e, "GET", "/metrics", NULL, 200, NULL);
}

/* Every write route answers 503 "unavailable". */
static void writes_refused(env_t *e) {
  int a, d;
  assert_int_equal(post_event(e, "refused-2", "u1", &a, &d), 503);
  expect(e, "PUT", "/v1/items/v2", "{\"creator\": \"c2\"}", 503, "unavailable");
  expect(e, "DELETE", "/v1/items/v1", NULL, 503, "unavailable");
  expect(e, "PUT", "/v1/users/u9", "{\"groups\": [\"staff\"]}", 503, "unavailable");
  expect(e, "POST", "/v1/users/u1/follows/c1", NULL, 503, "unavailable");
  expect(e, "POST", "/v1/items", "[{\"id\": \"v3\", \"creator\": \"c3\"}]", 503, "unavailable");
  expect(e, "POST", "/v1/admin/snapshot", NULL, 503, "unavailable");
}

static size_t count_snapshots(const char *dir) {
  char p[700];
  snprintf(p, sizeof p, "%s/snapshots", dir);
  DIR *d = opendir(p);
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (strstr(de->d_name, ".snap")) n++;
  if (d) closedir(d);
  return n;
}

/* Every acknowledged "ack-i" comes back as a duplicate. */
static void acked_present(env_t *e, int n) {
  char id[32];
  int a, d;
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "ack-%d", i);
    assert_int_equal(post_event(e, id, i % 2 ? "u1" : "u2", &a, &d), 200);
    if (d != 1) fprintf(stderr, "acknowledged %s lost after reopen\n", id);
    assert_int_equal(d, 1);
  }
}

static void failed_fsync_refuses_writes_serves_reads_and_resumes_after_reopen(void **state) {
  env_t *e = *state;
  baseline(e, 10);
  assert_int_equal(lt_store_snapshot(e->store), 0);
  long before = stats_events(e);
  assert_int_equal(before, 10);

  lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_FSYNC, EIO);
  int a, d;
  assert_int_equal(post_event(e, "refused-1", "u1", &a, &d), 503);
  writes_refused(e); /* sticky: the fault fired once, the log stays failed */
  reads_go_on(e);
  /* the store applies a batch before waiting for its fsync (group commit
   * outside the writer lock), so the refused event may be visible in
   * memory until the reopen rebuilds the state from the log */
  long during = stats_events(e);
  assert_true(during == before || during == before + 1);

  size_t snaps = count_snapshots(e->dir);
  assert_int_not_equal(stop(e), LT_OK);             /* the close reports the failure */
  assert_int_equal(count_snapshots(e->dir), snaps); /* and writes no snapshot */

  start(e); /* the fault cleared: reopen verifies the log */
  assert_int_equal(e->rep.log.cut_bytes, 0);
  long after = stats_events(e);
  /* refused-1 was written before its fsync failed: it may be back, once */
  assert_true(after == before || after == before + 1);
  fprintf(stderr, "after the failed fsync and a reopen, the refused event is %s\n",
          after == before ? "absent" : "present (it reached the file before the fsync failed)");
  acked_present(e, 10);
  assert_int_equal(post_event(e, "refused-1", "u1", &a, &d), 200);
  assert_int_equal(a + d, 1);
  assert_int_equal(d, after == before + 1);
  assert_int_equal(post_event(e, "refused-2", "u1", &a, &d), 200); /* never written */
  assert_int_equal(a, 1);
  assert_int_equal(stats_events(e), before + 2);
  expect(e, "PUT", "/v1/items/v2", "{\"creator\": \"c2\"}", 200, "c2");
}

static void failed_write_leaves_nothing_behind(void **state) {
  env_t *e = *state;
  baseline(e, 10);
  lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_WRITE, ENOSPC);
  /* a batch of many events, so half its bytes hold whole frames */
  const char *batch = "[{\"id\": \"w1\", \"user\": \"u1\", \"item\": \"v1\"},"
                      " {\"id\": \"w2\", \"user\": \"u1\", \"item\": \"v1\"},"
                      " {\"id\": \"w3\", \"user\": \"u2\", \"item\": \"v1\"},"
                      " {\"id\": \"w4\", \"user\": \"u2\", \"item\": \"v1\"}]";
  expect(e, "POST", "/v1/events", batch, 503, "unavailable");
  writes_refused(e);
  reads_go_on(e);
  long during = stats_events(e); /* see above: applied before durable */
  assert_true(during >= 10 && during <= 14);
  stop(e);
  start(e);
  assert_int_equal(e->rep.log.cut_bytes, 0); /* the log had cut its own tail */
  assert_int_equal(stats_events(e), 10);     /* none of w1..w4 came back */
  acked_present(e, 10);
  expect(e, "POST", "/v1/events", batch, 200, "\"accepted\": 4");
}

static void io_errors_of_any_errno_answer_503(void **state) {
  env_t *e = *state;
  baseline(e, 2);
  static const int errs[] = {EFBIG, EINVAL, EIO};
  for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
    lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_WRITE, errs[i]);
    char *out = NULL;
    int st =
        req(e, "POST", "/v1/events", "{\"id\": \"x\", \"user\": \"u1\", \"item\": \"v1\"}", &out);
    if (st != 503)
      fprintf(stderr, "a failed write with errno %d answered %d: %s\n", errs[i], st,
              out ? out : "");
    free(out);
    assert_int_equal(st, 503);
    writes_refused(e);
    reads_go_on(e);
    stop(e);
    start(e);
    acked_present(e, 2);
  }
}

typedef struct poster {
  env_t *e;
  int tid, n;
  int *status; /* per request */
} poster_t;

static void *poster_main(void *arg) {
  poster_t *p = arg;
  char id[32];
  for (int i = 0; i < p->n; i++) {
    int a, d;
    snprintf(id, sizeof id, "g%d-%d", p->tid, i);
    p->status[i] = post_event(p->e, id, "u3", &a, &d);
    if (p->status[i] == 200 && a != 1) p->status[i] = -2;
  }
  return NULL;
}

static void group_commit_never_acknowledges_a_failed_fsync(void **state) {
  env_t *e = *state;
  baseline(e, 1);
  enum { T = 4, N = 150 };
  poster_t p[T];
  pthread_t th[T];
  for (int t = 0; t < T; t++) {
    p[t] = (poster_t){e, t, N, calloc(N, sizeof(int))};
    pthread_create(&th[t], NULL, poster_main, &p[t]);
  }
  usleep(30000);
  lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_FSYNC, EIO);
  for (int t = 0; t < T; t++)
    pthread_join(th[t], NULL);
  int ok = 0, refused = 0;
  for (int t = 0; t < T; t++) {
    int seen503 = 0;
    for (int i = 0; i < N; i++) {
      int st = p[t].status[i];
      if (st != 200 && st != 503) fprintf(stderr, "thread %d request %d: status %d\n", t, i, st);
      assert_true(st == 200 || st == 503);
      if (st == 503)
        seen503 = 1, refused++;
      else
        ok++, assert_false(seen503); /* failed is sticky */
    }
  }
  assert_true(refused > 0);
  stop(e);
  start(e);
  char id[32];
  for (int t = 0; t < T; t++)
    for (int i = 0; i < N; i++) {
      int a, d;
      snprintf(id, sizeof id, "g%d-%d", t, i);
      assert_int_equal(post_event(e, id, "u3", &a, &d), 200);
      if (p[t].status[i] == 200) {
        if (d != 1) fprintf(stderr, "acknowledged %s lost\n", id);
        assert_int_equal(d, 1);
      }
    }
  for (int t = 0; t < T; t++)
    free(p[t].status);
  fprintf(stderr, "group commit under a failed fsync: %d acknowledged, %d refused\n", ok, refused);
}

static void interval_mode_failed_background_fsync_refuses_later_writes(void **state) {
  env_t *e = *state;
  baseline(e, 5);
  lt_log_inject_fault(lt_store_log(e->store), LT_LOG_FAULT_FSYNC, EIO);
  /* the background fdatasync runs every 20 ms; writes keep the log dirty */
  int st = 200, a, d, i = 0;
  char id[32];
  for (; i < 200 && st == 200; i++) {
    snprintf(id, sizeof id, "iv-%d", i);
    st = post_event(e, id, "u1", &a, &d);
    if (st == 200) usleep(5000);
  }
  assert_int_equal(st, 503);
  reads_go_on(e);
  stop(e);
  start(e);
  acked_present(e, 5);
  for (int k = 0; k + 1 < i; k++) { /* every acknowledged iv-k survived */
    snprintf(id, sizeof id, "iv-%d", k);
    assert_int_equal(post_event(e, id, "u1", &a, &d), 200);
    assert_int_equal(d, 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          failed_fsync_refuses_writes_serves_reads_and_resumes_after_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(failed_write_leaves_nothing_behind, setup, teardown),
      cmocka_unit_test_setup_teardown(io_errors_of_any_errno_answer_503, setup, teardown),
      cmocka_unit_test_setup_teardown(group_commit_never_acknowledges_a_failed_fsync, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(interval_mode_failed_background_fsync_refuses_later_writes,
                                      setup_interval, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
