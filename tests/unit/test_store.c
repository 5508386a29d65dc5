/*
 * test_store.c — the durable write path: batches, idempotency, atomic
 * batches, restart equality (snapshot + replay and replay alone), writes
 * going on while a snapshot's file is written, a
 * damaged snapshot or one of format version 1 falling back to the log, extension
 * records, the observer (and later batches applied while it runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "helpers.h"
#include "state/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764261000000LL

static lt_record_t ev(const char *id, const char *user, const char *item, int64_t ts) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.id = id ? lt_str_of(id) : (lt_str_t){NULL, 0};
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.type = LT_EV_PLAY;
  r.u.ev.ts_ms = ts;
  r.u.ev.watch_ms = 1000;
  r.u.ev.position = -1;
  return r;
}

static lt_store_t *open_store(const char *dir, int ignore_snapshots) {
  lt_store_opts_t o;
  lt_store_opts_default(&o);
  o.ignore_snapshots = ignore_snapshots;
  lt_store_t *s = NULL;
  lt_store_report_t rep;
  int rc = lt_store_open(dir, &o, &s, &rep);
  if (rc) fprintf(stderr, "open: %s: %s\n", lt_strerror(rc), rep.message);
  assert_int_equal(rc, 0);
  return s;
}

/* Checks s holds `events` events, closes it, and checks a replay of its log
 * (snapshots ignored) holds the same number. */
static void close_expecting_events(lt_store_t *s, const char *dir, uint64_t events) {
  lt_state_totals_t t;
  lt_state_totals(lt_store_state(s), &t);
  assert_int_equal(t.events, events);
  lt_store_close(s, 0);
  s = open_store(dir, 1);
  lt_state_totals(lt_store_state(s), &t);
  assert_int_equal(t.events, events);
  lt_store_close(s, 0);
}

static char *dump(lt_store_t *s, size_t *n) {
  char *p = NULL;
  FILE *f = open_memstream(&p, n);
  assert_int_equal(lt_state_save(lt_store_state(s), f), 0);
  fclose(f);
  return p;
}

/* The path of a snapshot in DIR/snapshots into path (the last one listed);
 * returns how many there are. */
static int snapshot_path(const char *dir, char *path, size_t cap) {
  char sdir[600];
  snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
  DIR *d = opendir(sdir);
  assert_non_null(d);
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".snap")) {
      snprintf(path, cap, "%s/%s", sdir, e->d_name);
      found++;
    }
  closedir(d);
  return found;
}

/* Reopens the store in dir, which must reject its one snapshot and replay
 * the log to the state dumped in before[0..n). */
static lt_store_t *reopen_rejecting_the_snapshot(const char *dir, const char *before, size_t n) {
  lt_store_opts_t o;
  lt_store_opts_default(&o);
  lt_store_report_t rep;
  lt_store_t *s = NULL;
  assert_int_equal(lt_store_open(dir, &o, &s, &rep), 0);
  assert_int_equal(rep.snapshot_loaded, 0);
  assert_int_equal(rep.snapshots_rejected, 1);
  size_t n2;
  char *after = dump(s, &n2);
  assert_int_equal(n, n2);
  assert_memory_equal(before, after, n);
  free(after);
  return s;
}

static void fill(lt_store_t *s, int from, int to) {
  char id[32], u[32], it[32];
  for (int i = from; i < to; i++) {
    snprintf(id, sizeof id, "e%d", i);
    snprintf(u, sizeof u, "u%d", i % 13);
    snprintf(it, sizeof it, "v%d", i % 29);
    lt_record_t r = ev(i % 3 ? id : NULL, u, it, T0 + i * 60000LL);
    lt_write_result_t res;
    assert_int_equal(lt_store_write(s, &r, 1, 0, NULL, NULL, &res), 0);
    assert_int_equal(res.accepted, 1);
  }
}

/* Applying a batch reuses the ids its prefetch found a few records ahead
 * (lt_state_apply_known): a batch where users and items first appear
 * mid-batch, and come back a record or two later, must leave the state
 * that the same records written one at a time leave, and that replaying
 * the log leaves. */
static void a_batch_applies_as_its_records_one_by_one(void **st) {
  enum { N = 400 };
  static char ids[N][16], users[N][16], items[N][16];
  lt_record_t recs[N];
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], 16, "b%d", i);
    snprintf(users[i], 16, i % 2 ? "n%d" : "u%d", i % 2 ? i / 3 : i % 7); /* new ones every 3 */
    snprintf(items[i], 16, i % 3 ? "x%d" : "w%d", i % 3 ? i / 4 : i % 17);
    recs[i] = ev(i % 5 ? ids[i] : NULL, users[i], items[i], T0 + i * 1000LL);
    recs[i].u.ev.type = (uint8_t)(i % 4 ? LT_EV_PLAY : LT_EV_IMPRESSION);
  }
  char *dir[2] = {lt_test_tmpdir("store"), lt_test_tmpdir("store")};
  lt_store_t *s[2] = {open_store(dir[0], 0), open_store(dir[1], 0)};
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s[0], recs, N, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.accepted, N);
  for (int i = 0; i < N; i++) {
    lt_record_t one = ev(i % 5 ? ids[i] : NULL, users[i], items[i], T0 + i * 1000LL);
    one.u.ev.type = recs[i].u.ev.type;
    assert_int_equal(lt_store_write(s[1], &one, 1, 0, NULL, NULL, &res), 0);
  }
  size_t n0, n1, n2;
  char *batch = dump(s[0], &n0), *single = dump(s[1], &n1);
  assert_int_equal(n0, n1);
  assert_memory_equal(batch, single, n0);
  lt_store_close(s[0], 0);
  s[0] = open_store(dir[0], 1); /* replayed with lt_state_apply */
  char *replayed = dump(s[0], &n2);
  assert_int_equal(n0, n2);
  assert_memory_equal(batch, replayed, n0);
  for (int k = 0; k < 2; k++) {
    lt_store_close(s[k], 0);
    lt_test_rmdir(dir[k]);
    free(dir[k]);
  }
  free(batch);
  free(single);
  free(replayed);
}

static void batch_reports_accepted_duplicates_and_rejected(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  lt_record_t recs[5] = {ev("a", "u1", "v1", T0), ev("b", "u1", "v2", T0), ev("a", "u2", "v3", T0),
                         ev(NULL, "", "v4", T0), ev(NULL, "u3", "v5", T0)};
  int status[5];
  const char *why[5];
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s, recs, 5, 0, status, why, &res), 0);
  assert_int_equal(res.accepted, 3);
  assert_int_equal(res.duplicates, 1);
  assert_int_equal(res.rejected, 1);
  assert_int_equal(status[2], LT_EDUPLICATE);
  assert_int_equal(status[3], LT_EINVAL);
  assert_non_null(why[3]);
  /* the same ids again: all duplicates, nothing new */
  assert_int_equal(lt_store_write(s, recs, 2, 0, status, why, &res), 0);
  assert_int_equal(res.duplicates, 2);
  assert_int_equal(res.accepted, 0);
  lt_state_totals_t t;
  lt_state_totals(lt_store_state(s), &t);
  assert_int_equal(t.events, 3);
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void atomic_batch_writes_nothing_when_one_record_is_invalid(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  lt_record_t recs[2] = {ev("a", "u1", "v1", T0), ev(NULL, "u1", "", T0)};
  lt_write_result_t res;
  uint64_t end = lt_log_end(lt_store_log(s));
  assert_int_equal(lt_store_write(s, recs, 2, 1, NULL, NULL, &res), LT_EINVAL);
  assert_int_equal(res.accepted, 0);
  assert_int_equal(lt_log_end(lt_store_log(s)), end);
  assert_false(lt_state_event_seen(lt_store_state(s), LT_STR("a")));
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void state_after_restart_equals_state_before(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  fill(s, 0, 500);
  assert_int_equal(lt_store_snapshot(s), 0);
  fill(s, 500, 900); /* after the snapshot: replayed on open */
  size_t n1, n2, n3;
  char *before = dump(s, &n1);
  lt_store_close(s, 0); /* no new snapshot: replay must cover the tail */

  s = open_store(dir, 0);
  char *after = dump(s, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(before, after, n1);
  lt_store_close(s, 0);

  s = open_store(dir, 1); /* the whole log, no snapshot */
  char *replayed = dump(s, &n3);
  assert_int_equal(n1, n3);
  assert_memory_equal(before, replayed, n1);
  /* ids applied before the restart are still duplicates */
  lt_record_t r = ev("e1", "u9", "v9", T0);
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s, &r, 1, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.duplicates, 1);
  lt_store_close(s, 1);
  free(before);
  free(after);
  free(replayed);
  lt_test_rmdir(dir);
  free(dir);
}

/* A snapshot holds writes up only while it makes the state's image in
 * memory. Where its temp file goes the test puts a FIFO: the snapshot's
 * open() returns when the test opens the other end, and its writes block
 * once the pipe is full. A write done then completes, and the image read
 * from the pipe is the state as it stood before that write. */
typedef struct {
  lt_store_t *s;
  int rc;
} snap_arg_t;

static void *snapshotter(void *p) {
  snap_arg_t *a = p;
  a->rc = lt_store_snapshot(a->s);
  return NULL;
}

typedef struct {
  lt_store_t *s;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, rc;
} late_write_t;

static void *late_writer(void *p) {
  late_write_t *a = p;
  lt_record_t r = ev("late", "u-late", "v-late", T0);
  lt_write_result_t res;
  int rc = lt_store_write(a->s, &r, 1, 0, NULL, NULL, &res);
  pthread_mutex_lock(&a->mu);
  a->rc = rc ? rc : res.accepted == 1 ? 0 : -1;
  a->done = 1;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

static void writes_go_on_while_a_snapshot_file_is_written(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  char id[32], u[32], it[32];
  for (int i = 0; i < 6000; i++) { /* an image larger than a pipe holds */
    snprintf(id, sizeof id, "event-%d", i);
    snprintf(u, sizeof u, "user-%d", i % 2000);
    snprintf(it, sizeof it, "item-%d", i % 3000);
    lt_record_t r = ev(id, u, it, T0 + i * 1000LL);
    lt_write_result_t res;
    assert_int_equal(lt_store_write(s, &r, 1, 0, NULL, NULL, &res), 0);
  }
  size_t n1;
  char *before = dump(s, &n1);
  char fifo[600];
  snprintf(fifo, sizeof fifo, "%s/snapshots/snapshot.tmp", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  snap_arg_t sa = {s, -1};
  pthread_t snap;
  pthread_create(&snap, NULL, snapshotter, &sa);
  int rfd = open(fifo, O_RDONLY); /* returns once the snapshot opened its file */
  assert_true(rfd >= 0);
  assert_true(n1 > (size_t)fcntl(rfd, F_GETPIPE_SZ)); /* so it blocks writing it */

  late_write_t lw = {.s = s, .rc = -2};
  pthread_mutex_init(&lw.mu, NULL);
  pthread_cond_init(&lw.cv, NULL);
  pthread_t wth;
  pthread_create(&wth, NULL, late_writer, &lw);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&lw.mu);
  while (!lw.done && pthread_cond_timedwait(&lw.cv, &lw.mu, &until) == 0) {
  }
  int done = lw.done;
  pthread_mutex_unlock(&lw.mu);
  if (!done) fail_msg("a write waited 10 s for a snapshot's file to be written");
  pthread_join(wth, NULL);
  assert_int_equal(lw.rc, 0);

  char *img = malloc(n1 + 1);
  size_t got = 0;
  ssize_t k;
  while (got <= n1 && (k = read(rfd, img + got, n1 + 1 - got)) > 0) got += (size_t)k;
  close(rfd);
  pthread_join(snap, NULL);
  assert_int_equal(got, n1);
  assert_memory_equal(img, before, n1);
  assert_int_not_equal(sa.rc, 0); /* a FIFO cannot be fsynced */
  assert_int_equal(access(fifo, F_OK), -1); /* a failed snapshot removes its temp file */

  /* the next one is put in place and covers the late write too */
  assert_int_equal(lt_store_snapshot(s), 0);
  lt_store_snapshot_stats_t ss;
  lt_store_snapshot_stats(s, &ss);
  assert_int_equal(ss.written, 1);
  assert_int_equal(ss.failures, 1);
  assert_true(ss.last_lock_ns > 0 && ss.last_lock_ns <= ss.last_ns);
  assert_true(ss.last_bytes > n1);
  assert_int_equal(lt_store_dirty(s), 0);
  size_t n2, n3;
  char *now = dump(s, &n2);
  lt_store_close(s, 0);
  lt_store_report_t rep;
  lt_store_opts_t o;
  lt_store_opts_default(&o);
  assert_int_equal(lt_store_open(dir, &o, &s, &rep), 0);
  assert_int_equal(rep.snapshot_loaded, 1);
  assert_int_equal(rep.replayed, 0);
  char *reopened = dump(s, &n3);
  assert_int_equal(n2, n3);
  assert_memory_equal(now, reopened, n2);
  lt_store_close(s, 0);
  pthread_mutex_destroy(&lw.mu);
  pthread_cond_destroy(&lw.cv);
  free(img);
  free(before);
  free(now);
  free(reopened);
  lt_test_rmdir(dir);
  free(dir);
}

static void damaged_snapshot_falls_back_to_the_log(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  fill(s, 0, 300);
  size_t n1;
  char *before = dump(s, &n1);
  assert_int_equal(lt_store_close(s, 1), 0);
  /* flip a byte in the middle of the only snapshot */
  char path[900];
  int found = snapshot_path(dir, path, sizeof path);
  assert_true(found);
  FILE *f = fopen(path, "r+b");
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, len / 2, SEEK_SET);
  int c = fgetc(f);
  fseek(f, len / 2, SEEK_SET);
  fputc(c ^ 0x40, f);
  fclose(f);
  s = reopen_rejecting_the_snapshot(dir, before, n1);
  lt_store_close(s, 0);
  free(before);
  lt_test_rmdir(dir);
  free(dir);
}

static void a_version_1_snapshot_is_not_trusted_and_the_log_replayed(void **st) {
  /* format 1 (before the idempotency window) held ids without stamps: a
   * store finding one replays the log instead, so every id gets the stamp
   * a replay gives it and the answers are those of the log */
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  fill(s, 0, 300);
  size_t n1;
  char *before = dump(s, &n1);
  assert_int_equal(lt_store_close(s, 1), 0); /* writes a version-2 snapshot */
  char path[900];
  int found = snapshot_path(dir, path, sizeof path);
  assert_int_equal(found, 1);
  FILE *f = fopen(path, "r+b");
  unsigned char v[4];
  fseek(f, 8, SEEK_SET);
  assert_int_equal(fread(v, 1, 4, f), 4);
  assert_int_equal(v[0], 2); /* u32le version after the 8-byte magic */
  v[0] = 1;
  fseek(f, 8, SEEK_SET);
  fwrite(v, 1, 4, f);
  fclose(f);
  s = reopen_rejecting_the_snapshot(dir, before, n1);
  lt_record_t r = ev("e1", "u9", "v9", T0); /* still a duplicate */
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s, &r, 1, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.duplicates, 1);
  lt_store_close(s, 0);
  free(before);
  lt_test_rmdir(dir);
  free(dir);
}

typedef struct {
  int calls;
  size_t records, prepared;
  unsigned char last_kind;
} seen_t;

static void on_prepare(void *ctx, const lt_record_t *recs, size_t n) {
  (void)recs;
  __atomic_fetch_add(&((seen_t *)ctx)->prepared, n, __ATOMIC_RELAXED);
}

static void on_ext(void *ctx, const void *rec, size_t len, uint64_t lsn) {
  seen_t *s = ctx;
  s->calls++;
  s->last_kind = ((const unsigned char *)rec)[0];
}

static void on_observe(void *ctx, const lt_record_t *recs, size_t n) {
  ((seen_t *)ctx)->records += n;
}

typedef struct {
  lt_store_t *s;
  size_t events, with_ids;
} ids_seen_t;

/* Counts the events that carry the dense ids the state gave them. */
static void on_observe_ids(void *ctx, const lt_record_t *recs, size_t n) {
  ids_seen_t *o = ctx;
  lt_state_t *st = lt_store_state(o->s);
  for (size_t i = 0; i < n; i++) {
    const lt_event_t *e = &recs[i].u.ev;
    if (recs[i].kind != LT_REC_EVENT) continue;
    o->events++;
    uint32_t u, it;
    if (e->ids_set && !lt_state_find(st, LT_NS_USER, e->user.p, e->user.n, &u) &&
        !lt_state_find(st, LT_NS_ITEM, e->item.p, e->item.n, &it) && u == e->user_id &&
        it == e->item_id)
      o->with_ids++;
  }
}

/* The observer gets events with their dense ids (store.h), whether the
 * batch was taken whole or some records were left out. */
static void observer_gets_events_with_their_dense_ids(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  ids_seen_t o = {s, 0, 0};
  lt_store_set_observer(s, on_observe_ids, NULL, &o);
  lt_record_t r[4] = {ev("a", "u1", "v1", T0), ev("b", "u2", "v1", T0), ev("c", "u3", "v3", T0),
                      ev("d", "u1", "v4", T0)};
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s, r, 4, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.accepted, 4);
  assert_int_equal(o.events, 4);
  assert_int_equal(o.with_ids, 4);
  lt_record_t q[3] = {ev("e", "u4", "v1", T0), ev("a", "u1", "v1", T0), ev("f", "u2", "v5", T0)};
  assert_int_equal(lt_store_write(s, q, 3, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.duplicates, 1); /* "a" again: left out, the others copied */
  assert_int_equal(o.events, 6);
  assert_int_equal(o.with_ids, 6);
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void extension_records_reach_their_owner_live_and_on_replay(void **st) {
  char *dir = lt_test_tmpdir("store");
  seen_t seen = {0};
  lt_store_opts_t o;
  lt_store_opts_default(&o);
  o.ext = on_ext;
  o.ext_ctx = &seen;
  lt_store_t *s;
  assert_int_equal(lt_store_open(dir, &o, &s, NULL), 0);
  lt_store_set_observer(s, on_observe, NULL, &seen);
  unsigned char rec[] = {LT_REC_EXT_BASE + 2, 'x', 'y'};
  assert_int_equal(lt_store_write_ext(s, rec, sizeof rec), 0);
  unsigned char bad[] = {LT_REC_EVENT, 1};
  assert_int_equal(lt_store_write_ext(s, bad, sizeof bad), LT_EINVAL);
  fill(s, 0, 10);
  assert_int_equal(seen.calls, 1);
  assert_int_equal(seen.records, 10);
  lt_store_close(s, 0);
  seen.calls = 0;
  assert_int_equal(lt_store_open(dir, &o, &s, NULL), 0);
  assert_int_equal(seen.calls, 1); /* replayed */
  assert_int_equal(seen.last_kind, LT_REC_EXT_BASE + 2);
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

typedef struct {
  lt_store_t *s;
  int t, errors;
} writer_arg_t;

static void *writer(void *p) {
  writer_arg_t *a = p;
  char id[32];
  for (int i = 0; i < 200; i++) {
    snprintf(id, sizeof id, "t%d-%d", a->t, i);
    lt_record_t r = ev(id, "u", "v", T0 + i);
    lt_write_result_t res;
    if (lt_store_write(a->s, &r, 1, 0, NULL, NULL, &res) || res.accepted != 1) a->errors++;
  }
  return NULL;
}

static void concurrent_writers_share_fsyncs_and_lose_nothing(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0); /* fsync = batch */
  uint64_t before = lt_log_fsync_count(lt_store_log(s));
  pthread_t th[4];
  writer_arg_t args[4];
  for (int t = 0; t < 4; t++) {
    args[t] = (writer_arg_t){s, t, 0};
    pthread_create(&th[t], NULL, writer, &args[t]);
  }
  for (int t = 0; t < 4; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(args[t].errors, 0);
  }
  uint64_t fsyncs = lt_log_fsync_count(lt_store_log(s)) - before;
  /* every write was durable when acknowledged; with 4 writers some share */
  assert_true(fsyncs > 0);
  assert_true(fsyncs < 800);
  close_expecting_events(s, dir, 800);
  lt_test_rmdir(dir);
  free(dir);
}

/* Writers racing with the same ids: each id is accepted exactly once,
 * also when its first batch is still waiting for its fsync (the ids of
 * batches in flight are checked, store.c invariant 3). */
typedef struct {
  lt_store_t *s;
  int accepted, duplicates, errors;
} same_arg_t;

static void *same_ids_writer(void *p) {
  same_arg_t *a = p;
  char id[32];
  for (int i = 0; i < 300; i++) {
    snprintf(id, sizeof id, "same-%d", i);
    lt_record_t r = ev(id, "u", "v", T0 + i);
    lt_write_result_t res;
    if (lt_store_write(a->s, &r, 1, 0, NULL, NULL, &res)) a->errors++;
    a->accepted += (int)res.accepted;
    a->duplicates += (int)res.duplicates;
  }
  return NULL;
}

static void racing_writers_of_one_id_are_accepted_once(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  seen_t seen = {0};
  lt_store_set_observer(s, on_observe, NULL, &seen);
  pthread_t th[4];
  same_arg_t args[4];
  for (int t = 0; t < 4; t++) {
    args[t] = (same_arg_t){s, 0, 0, 0};
    pthread_create(&th[t], NULL, same_ids_writer, &args[t]);
  }
  int accepted = 0, dups = 0;
  for (int t = 0; t < 4; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(args[t].errors, 0);
    accepted += args[t].accepted;
    dups += args[t].duplicates;
  }
  assert_int_equal(accepted, 300);
  assert_int_equal(dups, 900);
  assert_int_equal(seen.records, 300);
  close_expecting_events(s, dir, 300); /* the log holds each once */
  lt_test_rmdir(dir);
  free(dir);
}

static uint64_t scan_count(lt_store_t *s) {
  seen_t seen = {0};
  assert_int_equal(lt_store_scan(s, on_observe, NULL, &seen, NULL), 0);
  return seen.records;
}

/* A batch whose fsync failed is neither applied nor prepared nor observed nor scanned;
 * lt_store_recover cuts its bytes from the log and writes resume; a
 * reopen gives the same state. */
static void refused_batch_is_never_visible_and_recover_resumes_writes(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  seen_t seen = {0};
  lt_store_set_observer(s, on_observe, on_prepare, &seen);
  fill(s, 0, 10);
  lt_state_totals_t t;
  assert_int_equal(seen.prepared, 10);
  assert_int_equal(lt_store_failed_since(s), 0);
  assert_int_equal(lt_store_recover(s, NULL), 0); /* nothing to do */
  uint64_t end = lt_log_end(lt_store_log(s));

  lt_log_inject_fault(lt_store_log(s), LT_LOG_FAULT_FSYNC, 5 /* EIO */);
  lt_record_t batch[3] = {ev("r1", "ghost", "v", T0), ev("r2", "ghost", "v", T0),
                          ev(NULL, "ghost", "v", T0)};
  lt_write_result_t res;
  assert_int_equal(lt_store_write(s, batch, 3, 0, NULL, NULL, &res), LT_EIO);
  assert_int_equal(res.accepted, 0);
  assert_true(lt_store_failed_since(s) > 0);
  assert_true(lt_log_end(lt_store_log(s)) > end); /* its bytes were queued, maybe written */
  lt_state_totals(lt_store_state(s), &t);
  assert_int_equal(t.events, 10);
  assert_int_equal(seen.records, 10);
  assert_int_equal(seen.prepared, 10);
  uint32_t uid;
  assert_int_equal(lt_state_find(lt_store_state(s), LT_NS_USER, "ghost", 5, &uid), LT_ENOTFOUND);
  assert_int_equal(lt_state_event_seen(lt_store_state(s), lt_str_of("r1")), 0);
  assert_int_equal(scan_count(s), 10);
  assert_int_equal(lt_store_write(s, batch, 3, 0, NULL, NULL, &res), LT_EREADONLY);

  lt_log_recovery_t rep;
  assert_int_equal(lt_store_recover(s, &rep), 0);
  assert_non_null(strstr(rep.message, "cut back"));
  assert_int_equal(lt_store_failed_since(s), 0);
  assert_int_equal(lt_log_end(lt_store_log(s)), end);
  assert_int_equal(lt_store_write(s, batch, 3, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.accepted, 3); /* new: the refused bytes were cut */
  assert_int_equal(seen.records, 13);
  assert_int_equal(seen.prepared, 13);
  assert_int_equal(scan_count(s), 13);
  size_t n1, n2;
  char *before = dump(s, &n1);
  lt_store_close(s, 0);
  s = open_store(dir, 1); /* replay the whole log */
  char *after = dump(s, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(before, after, n1);
  free(before);
  free(after);
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

/* The write pipeline (store.c): observers see every batch once, in log
 * order, never two at once, while other writers apply the next batches;
 * lt_store_locked never sees a batch applied but not yet observed. */
typedef struct {
  lt_store_t *s;
  int inside, overlaps;
  uint64_t observed; /* events observed so far */
  char (*ids)[16];   /* event ids in the order observed */
  size_t nids;
  int locked_mismatch, stop;
} pipe_t;

static void pipe_observe(void *ctx, const lt_record_t *recs, size_t n) {
  pipe_t *p = ctx;
  if (__atomic_fetch_add(&p->inside, 1, __ATOMIC_ACQ_REL)) p->overlaps++;
  for (size_t i = 0; i < n; i++) {
    snprintf(p->ids[p->nids++], 16, "%.*s", (int)recs[i].u.ev.id.n, recs[i].u.ev.id.p);
    __atomic_add_fetch(&p->observed, 1, __ATOMIC_RELEASE);
  }
  __atomic_sub_fetch(&p->inside, 1, __ATOMIC_ACQ_REL);
}

static void pipe_check_locked(void *ctx, lt_state_t *st) {
  pipe_t *p = ctx;
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  if (t.events != __atomic_load_n(&p->observed, __ATOMIC_ACQUIRE)) p->locked_mismatch++;
}

static void *pipe_checker(void *arg) {
  pipe_t *p = arg;
  while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
    lt_store_locked(p->s, pipe_check_locked, p);
  return NULL;
}

static void *pipe_writer(void *arg) {
  writer_arg_t *a = arg;
  char ids[10][32];
  for (int b = 0; b < 100; b++) {
    lt_record_t recs[10];
    for (int i = 0; i < 10; i++) {
      snprintf(ids[i], sizeof ids[i], "w%d-%d-%d", a->t, b, i);
      recs[i] = ev(ids[i], i % 2 ? "ua" : "ub", "v1", T0 + b * 1000 + i);
    }
    lt_write_result_t res;
    if (lt_store_write(a->s, recs, 10, 0, NULL, NULL, &res) || res.accepted != 10) a->errors++;
  }
  return NULL;
}

static void observers_run_in_log_order_one_batch_at_a_time(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  pipe_t p = {.s = s};
  p.ids = calloc(4000, sizeof *p.ids);
  assert_non_null(p.ids);
  lt_store_set_observer(s, pipe_observe, NULL, &p);
  pthread_t chk, th[4];
  writer_arg_t w[4];
  pthread_create(&chk, NULL, pipe_checker, &p);
  for (int t = 0; t < 4; t++) {
    w[t] = (writer_arg_t){s, t, 0};
    pthread_create(&th[t], NULL, pipe_writer, &w[t]);
  }
  for (int t = 0; t < 4; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(w[t].errors, 0);
  }
  __atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
  pthread_join(chk, NULL);
  assert_int_equal(p.overlaps, 0);
  assert_int_equal(p.locked_mismatch, 0);
  assert_int_equal(p.nids, 4000);
  /* the observed order is the log's order */
  char ldir[4200];
  snprintf(ldir, sizeof ldir, "%s/log", dir);
  assert_int_equal(lt_log_sync(lt_store_log(s)), 0);
  lt_log_reader_t *rd = NULL;
  assert_int_equal(lt_log_reader_open(ldir, 0, &rd), 0);
  const void *rp;
  uint32_t len;
  uint64_t off;
  size_t k = 0;
  while (lt_log_reader_next(rd, &rp, &len, &off) == 1) {
    lt_record_t r;
    assert_int_equal(lt_record_decode(rp, len, &r), 0);
    char id[16];
    snprintf(id, sizeof id, "%.*s", (int)r.u.ev.id.n, r.u.ev.id.p);
    assert_true(k < p.nids);
    assert_string_equal(id, p.ids[k++]);
  }
  assert_int_equal(k, 4000);
  lt_log_reader_close(rd);
  lt_store_close(s, 0);
  free(p.ids);
  lt_test_rmdir(dir);
  free(dir);
}

/* An observer that takes long holds up no later batch's check or apply
 * (store.c, stage 4): while the observer of batch 1 is held, batches 2
 * and 3 from two other writers are both applied to the state; their
 * writes return once their own observers ran, in log order. (Until
 * session 6 the writer of batch 2 waited for the observer holding the
 * store's writer lock, so batch 3 could not even be checked.) Their
 * prepare calls (stage 3b) run meanwhile too, and each observer call gets
 * the records its prepare call got. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int held, release, calls, prepared, mismatched;
  char first[3][16]; /* the first event id of each batch observed */
  const lt_record_t *prep_recs[3];
  char prep_first[3][16];
} slow_obs_t;

static void slow_prepare(void *ctx, const lt_record_t *recs, size_t n) {
  slow_obs_t *o = ctx;
  pthread_mutex_lock(&o->mu);
  if (o->prepared < 3) {
    o->prep_recs[o->prepared] = recs;
    snprintf(o->prep_first[o->prepared], 16, "%.*s", (int)recs[0].u.ev.id.n, recs[0].u.ev.id.p);
  }
  o->prepared++;
  pthread_mutex_unlock(&o->mu);
  (void)n;
}

static void slow_observe(void *ctx, const lt_record_t *recs, size_t n) {
  slow_obs_t *o = ctx;
  pthread_mutex_lock(&o->mu);
  if (o->calls < 3)
    snprintf(o->first[o->calls], 16, "%.*s", (int)recs[0].u.ev.id.n, recs[0].u.ev.id.p);
  int k = 0; /* the prepare call of these records, with the same first id */
  while (k < 3 && k < o->prepared && o->prep_recs[k] != recs)
    k++;
  if (k == 3 || k == o->prepared || strcmp(o->prep_first[k], o->first[o->calls < 3 ? o->calls : 2]))
    o->mismatched++;
  if (o->calls++ == 0) {
    o->held = 1;
    pthread_cond_broadcast(&o->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20; /* bounded: the test fails rather than hangs */
    while (!o->release && pthread_cond_timedwait(&o->cv, &o->mu, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&o->mu);
  (void)n;
}

typedef struct {
  lt_store_t *s;
  const char *id;
  int rc;
} one_write_t;

static void *one_writer(void *p) {
  one_write_t *w = p;
  lt_record_t r = ev(w->id, "u1", "v1", T0);
  lt_write_result_t res;
  w->rc = lt_store_write(w->s, &r, 1, 0, NULL, NULL, &res);
  if (!w->rc && res.accepted != 1) w->rc = -1;
  return NULL;
}

static void later_batches_are_applied_while_an_observer_runs(void **st) {
  char *dir = lt_test_tmpdir("store");
  lt_store_t *s = open_store(dir, 0);
  slow_obs_t o;
  memset(&o, 0, sizeof o);
  pthread_mutex_init(&o.mu, NULL);
  pthread_cond_init(&o.cv, NULL);
  lt_store_set_observer(s, slow_observe, slow_prepare, &o);
  one_write_t w[3] = {{s, "a1", 0}, {s, "b1", 0}, {s, "c1", 0}};
  pthread_t th[3];
  pthread_create(&th[0], NULL, one_writer, &w[0]);
  pthread_mutex_lock(&o.mu);
  while (!o.held)
    pthread_cond_wait(&o.cv, &o.mu);
  pthread_mutex_unlock(&o.mu);
  pthread_create(&th[1], NULL, one_writer, &w[1]);
  pthread_create(&th[2], NULL, one_writer, &w[2]);
  /* both later batches reach the state while the first observer is held */
  lt_state_totals_t t = {0};
  for (int k = 0; k < 1000; k++) {
    lt_state_totals(lt_store_state(s), &t);
    if (t.events == 3) break;
    usleep(10000);
  }
  assert_int_equal(t.events, 3);
  for (int k = 0; k < 1000; k++) { /* and are prepared meanwhile */
    pthread_mutex_lock(&o.mu);
    int done = o.prepared == 3;
    pthread_mutex_unlock(&o.mu);
    if (done) break;
    usleep(10000);
  }
  pthread_mutex_lock(&o.mu);
  assert_int_equal(o.prepared, 3);
  assert_int_equal(o.calls, 1); /* the later observers wait their turn */
  o.release = 1;
  pthread_cond_broadcast(&o.cv);
  pthread_mutex_unlock(&o.mu);
  for (int k = 0; k < 3; k++) {
    pthread_join(th[k], NULL);
    assert_int_equal(w[k].rc, 0);
  }
  assert_int_equal(o.calls, 3);
  assert_int_equal(o.mismatched, 0);
  assert_string_equal(o.first[0], "a1");
  /* b1 and c1 in the log's order, whichever writer came first */
  assert_int_equal(lt_log_sync(lt_store_log(s)), 0);
  char ldir[4200];
  snprintf(ldir, sizeof ldir, "%s/log", dir);
  lt_log_reader_t *rd = NULL;
  assert_int_equal(lt_log_reader_open(ldir, 0, &rd), 0);
  const void *rp;
  uint32_t len;
  uint64_t off;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(lt_log_reader_next(rd, &rp, &len, &off), 1);
    lt_record_t r;
    assert_int_equal(lt_record_decode(rp, len, &r), 0);
    char id[16];
    snprintf(id, sizeof id, "%.*s", (int)r.u.ev.id.n, r.u.ev.id.p);
    assert_string_equal(id, o.first[k]);
  }
  lt_log_reader_close(rd);
  lt_store_close(s, 0);
  pthread_mutex_destroy(&o.mu);
  pthread_cond_destroy(&o.cv);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(batch_reports_accepted_duplicates_and_rejected),
      cmocka_unit_test(a_batch_applies_as_its_records_one_by_one),
      cmocka_unit_test(atomic_batch_writes_nothing_when_one_record_is_invalid),
      cmocka_unit_test(state_after_restart_equals_state_before),
      cmocka_unit_test(writes_go_on_while_a_snapshot_file_is_written),
      cmocka_unit_test(damaged_snapshot_falls_back_to_the_log),
      cmocka_unit_test(a_version_1_snapshot_is_not_trusted_and_the_log_replayed),
      cmocka_unit_test(extension_records_reach_their_owner_live_and_on_replay),
      cmocka_unit_test(concurrent_writers_share_fsyncs_and_lose_nothing),
      cmocka_unit_test(observers_run_in_log_order_one_batch_at_a_time),
      cmocka_unit_test(later_batches_are_applied_while_an_observer_runs),
      cmocka_unit_test(observer_gets_events_with_their_dense_ids),
      cmocka_unit_test(racing_writers_of_one_id_are_accepted_once),
      cmocka_unit_test(refused_batch_is_never_visible_and_recover_resumes_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
