/*
 * test_log.c — the durable event log: round trips, rotation, recovery of
 * torn tails and corruption, group commit, fsync policies, failure handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "helpers.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Deterministic record i: "rec <i> " then filler; 1..(maxlen) bytes. */
static uint32_t make_rec(uint32_t i, unsigned char *buf, uint32_t maxlen) {
  uint32_t len = 12 + (i * 37u) % (maxlen - 12);
  int h = snprintf((char *)buf, maxlen, "rec %u ", i);
  for (uint32_t k = (uint32_t)h; k < len; k++)
    buf[k] = (unsigned char)('a' + (i + k) % 26);
  return len;
}

static void append_one(lt_log_t *log, const void *p, uint32_t len, uint64_t *off) {
  const void *recs[1] = {p};
  assert_int_equal(lt_log_append(log, recs, &len, 1, off), 0);
}

/* Appends records [from, to) one by one; offs[i] (if offs) gets each offset. */
static void append_range(lt_log_t *log, uint32_t from, uint32_t to, uint32_t maxlen,
                         uint64_t *offs) {
  unsigned char buf[4096];
  for (uint32_t i = from; i < to; i++) {
    uint32_t len = make_rec(i, buf, maxlen);
    append_one(log, buf, len, offs ? &offs[i] : NULL);
  }
}

/* Replays the whole log and checks it holds exactly records [0, n). */
static void expect_records(const char *dir, uint32_t n, uint32_t maxlen) {
  lt_log_reader_t *r;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  unsigned char want[4096];
  const void *rec;
  uint32_t len;
  uint64_t off, expect_off = 0;
  for (uint32_t i = 0; i < n; i++) {
    assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), 1);
    uint32_t wl = make_rec(i, want, maxlen);
    assert_int_equal(len, wl);
    assert_memory_equal(rec, want, wl);
    assert_int_equal(off, expect_off);
    expect_off += 8 + len;
  }
  assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), 0);
  lt_log_reader_close(r);
}

static void seg_path(char *out, size_t n, const char *dir, uint64_t base) {
  snprintf(out, n, "%s/%020" PRIu64 ".log", dir, base);
}

static uint64_t file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

/* Number of entries in dir whose name ends with suffix. */
static int count_files(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  size_t sl = strlen(suffix);
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0) n++;
  }
  closedir(d);
  return n;
}

static uint64_t sum_sizes(const char *dir) {
  DIR *d = opendir(dir);
  uint64_t s = 0;
  struct dirent *de;
  char p[1024];
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l == 24 && strcmp(de->d_name + 20, ".log") == 0) {
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      s += file_size(p);
    }
  }
  closedir(d);
  return s;
}

static void append_bytes(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  close(fd);
}

static void poke(const char *path, uint64_t pos, unsigned char xor) {
  int fd = open(path, O_RDWR);
  unsigned char c;
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, &c, 1, (off_t)pos), 1);
  c ^= xor;
  assert_int_equal(pwrite(fd, &c, 1, (off_t)pos), 1);
  close(fd);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* ---- tests ---- */

static void test_parse_fsync_policies(void **state) {
  lt_log_opts_t o = {0};
  assert_int_equal(lt_log_parse_fsync("off", &o), 0);
  assert_int_equal(o.fsync_mode, LT_FSYNC_OFF);
  assert_int_equal(lt_log_parse_fsync("interval:250", &o), 0);
  assert_int_equal(o.fsync_mode, LT_FSYNC_INTERVAL);
  assert_int_equal(o.interval_ms, 250);
  assert_int_equal(lt_log_parse_fsync("batch", &o), 0);
  assert_int_equal(o.fsync_mode, LT_FSYNC_BATCH);
  assert_int_equal(lt_log_parse_fsync("interval:", &o), LT_EINVAL);
  assert_int_equal(lt_log_parse_fsync("interval:0", &o), LT_EINVAL);
  assert_int_equal(lt_log_parse_fsync("interval:12x", &o), LT_EINVAL);
  assert_int_equal(lt_log_parse_fsync("interval:99999999999999999999", &o), LT_EINVAL);
  assert_int_equal(lt_log_parse_fsync("always", &o), LT_EINVAL);
  assert_int_equal(o.fsync_mode, LT_FSYNC_BATCH);
}

static void test_append_reopen_replay_round_trip(void **state) {
  char *dir = lt_test_tmpdir("log");
  char sub[1024];
  snprintf(sub, sizeof sub, "%s/data", dir); /* created by open, 0700 */
  lt_log_t *log;
  lt_log_recovery_t rec;
  uint64_t offs[600];
  assert_int_equal(lt_log_open(sub, NULL, &log, &rec), 0);
  assert_int_equal(rec.end_offset, 0);
  assert_int_equal(rec.records, 0);
  struct stat st;
  assert_int_equal(stat(sub, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  char seg[1100];
  seg_path(seg, sizeof seg, sub, 0);
  assert_int_equal(stat(seg, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  append_range(log, 0, 500, 300, offs);
  /* One group of 100 at consecutive offsets. */
  unsigned char bufs[100][300];
  const void *recs[100];
  uint32_t lens[100];
  for (uint32_t i = 0; i < 100; i++) {
    lens[i] = make_rec(500 + i, bufs[i], 300);
    recs[i] = bufs[i];
  }
  uint64_t first;
  assert_int_equal(lt_log_append(log, recs, lens, 100, &first), 0);
  assert_int_equal(first, offs[499] + 8 + make_rec(499, bufs[0], 300));
  assert_true(offs[0] == 0);
  for (int i = 1; i < 500; i++)
    assert_true(offs[i] > offs[i - 1]);
  uint64_t end = lt_log_end(log);
  assert_int_equal(lt_log_bytes(log), sum_sizes(sub));
  assert_int_equal(lt_log_close(log), 0);

  assert_int_equal(lt_log_open(sub, NULL, &log, &rec), 0);
  assert_int_equal(rec.records, 600);
  assert_int_equal(rec.end_offset, end);
  assert_int_equal(rec.cut_bytes, 0);
  assert_string_equal(rec.message, "clean");
  assert_int_equal(lt_log_end(log), end);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(sub, 600, 300);
  lt_log_close(NULL);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_replay_from_middle_offset(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  uint64_t offs[300];
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 300, 200, offs);
  uint64_t end = lt_log_end(log);

  lt_log_reader_t *r;
  const void *rec;
  uint32_t len;
  uint64_t off;
  unsigned char want[256];
  assert_int_equal(lt_log_reader_open(dir, offs[123], &r), 0);
  for (uint32_t i = 123; i < 300; i++) {
    assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), 1);
    assert_int_equal(off, offs[i]);
    assert_int_equal(len, make_rec(i, want, 200));
    assert_memory_equal(rec, want, len);
  }
  assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), 0);
  lt_log_reader_close(r);

  /* At the end: nothing yet; past the end: out of range. */
  assert_int_equal(lt_log_reader_open(dir, end, &r), 0);
  assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), 0);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_reader_open(dir, end + 1000, &r), LT_ERANGE);
  assert_null(r);
  /* Not a record boundary: reported, never handed out. */
  assert_int_equal(lt_log_reader_open(dir, offs[10] + 3, &r), 0);
  assert_int_equal(lt_log_reader_next(r, &rec, &len, &off), LT_ECORRUPT);
  assert_int_equal(off, offs[10] + 3);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_rotation_across_segments_replays_in_order(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_recovery_t rec;
  lt_log_opts_t o = {.segment_bytes = 1024};
  uint64_t offs[400];
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), 0);
  append_range(log, 0, 400, 100, offs);
  int nseg = count_files(dir, ".log");
  assert_true(nseg > 20);
  assert_int_equal(lt_log_bytes(log), sum_sizes(dir));
  /* Segments never exceed their size, except one holding a single big record. */
  unsigned char big[3000];
  memset(big, 'B', sizeof big);
  uint64_t big_off;
  append_one(log, big, sizeof big, &big_off);
  append_range(log, 400, 401, 100, NULL);
  char p[1024];
  seg_path(p, sizeof p, dir, big_off);
  assert_int_equal(file_size(p), 32 + 8 + sizeof big);
  assert_int_equal(lt_log_close(log), 0);

  DIR *d = opendir(dir);
  struct dirent *de;
  while ((de = readdir(d)))
    if (strlen(de->d_name) == 24) {
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      uint64_t s = file_size(p);
      assert_true(s <= 1024 || s == 32 + 8 + sizeof big);
    }
  closedir(d);

  assert_int_equal(lt_log_open(dir, &o, &log, &rec), 0);
  assert_int_equal(rec.records, 402);
  assert_int_equal(rec.segments, (uint32_t)count_files(dir, ".log"));
  assert_int_equal(lt_log_close(log), 0);

  /* Replay from an offset deep in a later segment crosses the rest. */
  lt_log_reader_t *r;
  const void *rec2;
  uint32_t len;
  uint64_t off;
  unsigned char want[128];
  assert_int_equal(lt_log_reader_open(dir, offs[250], &r), 0);
  for (uint32_t i = 250; i < 400; i++) {
    assert_int_equal(lt_log_reader_next(r, &rec2, &len, &off), 1);
    assert_int_equal(off, offs[i]);
    assert_int_equal(len, make_rec(i, want, 100));
    assert_memory_equal(rec2, want, len);
  }
  assert_int_equal(lt_log_reader_next(r, &rec2, &len, &off), 1);
  assert_int_equal(off, big_off);
  assert_int_equal(len, sizeof big);
  assert_int_equal(lt_log_reader_next(r, &rec2, &len, &off), 1);
  assert_int_equal(lt_log_reader_next(r, &rec2, &len, &off), 0);
  lt_log_reader_close(r);
  lt_test_rmdir(dir);
  free(dir);
}

/* Writes n records in one segment, closes; returns the segment path. */
static void make_log(const char *dir, uint32_t n, char *seg, size_t segsz, uint64_t *offs) {
  lt_log_t *log;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, n, 200, offs);
  assert_int_equal(lt_log_close(log), 0);
  seg_path(seg, segsz, dir, 0);
}

static void test_torn_tail_mid_record_is_cut_and_reported(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  uint64_t offs[50];
  make_log(dir, 50, seg, sizeof seg, offs);
  uint64_t size = file_size(seg);
  /* Cut the last record in half, as a crash mid-write would. */
  uint64_t torn = 32 + offs[49] + 5;
  assert_int_equal(truncate(seg, (off_t)torn), 0);

  lt_log_t *log;
  lt_log_recovery_t rec;
  /* read_only reports but changes nothing. */
  lt_log_opts_t ro = {.read_only = 1};
  assert_int_equal(lt_log_open(dir, &ro, &log, &rec), 0);
  assert_int_equal(rec.cut_bytes, 5);
  assert_int_equal(rec.records, 49);
  assert_int_equal(lt_log_append(log, (const void *const[]){"x"}, (uint32_t[]){1}, 1, NULL),
                   LT_EREADONLY);
  assert_int_equal(lt_log_close(log), 0);
  assert_int_equal(file_size(seg), torn);

  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.records, 49);
  assert_int_equal(rec.cut_bytes, 5);
  assert_int_equal(rec.end_offset, offs[49]);
  assert_non_null(strstr(rec.message, "torn tail"));
  assert_int_equal(file_size(seg), 32 + offs[49]);
  /* Appends continue right where the cut was. */
  uint64_t off;
  unsigned char buf[256];
  uint32_t len = make_rec(49, buf, 200);
  append_one(log, buf, len, &off);
  assert_int_equal(off, offs[49]);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 50, 200);
  assert_int_equal(file_size(seg), size);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_torn_tail_garbage_is_cut_and_saved(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024], q[1100];
  uint64_t offs[40];
  make_log(dir, 40, seg, sizeof seg, offs);
  uint64_t size = file_size(seg);
  unsigned char junk[777];
  srand(7);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)rand();
  append_bytes(seg, junk, sizeof junk);

  lt_log_t *log;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.cut_bytes, sizeof junk);
  assert_int_equal(rec.records, 40);
  assert_int_equal(rec.quarantined, 1);
  assert_int_equal(file_size(seg), size);
  snprintf(q, sizeof q, "%s/quarantine", dir);
  assert_int_equal(count_files(q, ""), 1); /* the cut bytes, kept */
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 40, 200);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_torn_tail_zero_fill_is_cut(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024], q[1100];
  uint64_t offs[40];
  make_log(dir, 40, seg, sizeof seg, offs);
  uint64_t size = file_size(seg);
  static unsigned char zeros[3 << 20];
  append_bytes(seg, zeros, sizeof zeros); /* as preallocation or a torn page would */

  lt_log_t *log;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.cut_bytes, sizeof zeros);
  assert_int_equal(rec.records, 40);
  assert_int_equal(rec.quarantined, 0);
  assert_int_equal(file_size(seg), size);
  snprintf(q, sizeof q, "%s/quarantine", dir);
  assert_false(exists(q)); /* zeros are not worth keeping */
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 40, 200);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_torn_tail_after_partial_record_of_zeros_is_cut(void **state) {
  /* A frame header promising more bytes than exist, then nothing: torn. */
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  uint64_t offs[10];
  make_log(dir, 10, seg, sizeof seg, offs);
  unsigned char hdr[8] = {0x00, 0x10, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78};
  append_bytes(seg, hdr, sizeof hdr);
  lt_log_t *log;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.cut_bytes, 8);
  assert_int_equal(rec.records, 10);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_middle_corruption_refuses_to_open(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  uint64_t offs[100];
  make_log(dir, 100, seg, sizeof seg, offs);
  uint64_t size = file_size(seg);
  poke(seg, 32 + offs[10] + 8 + 2, 0x40); /* a payload byte of record 10 */

  lt_log_t *log = (lt_log_t *)1;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_ECORRUPT);
  assert_null(log);
  char where[64];
  snprintf(where, sizeof where, "offset %" PRIu64, offs[10]);
  assert_non_null(strstr(rec.message, where));
  assert_non_null(strstr(rec.message, "repair"));
  assert_int_equal(file_size(seg), size); /* nothing touched */
  lt_log_opts_t ro = {.read_only = 1};
  assert_int_equal(lt_log_open(dir, &ro, &log, &rec), LT_ECORRUPT);

  /* A reader hands out the good records, then reports where the damage is. */
  lt_log_reader_t *r;
  const void *p;
  uint32_t len;
  uint64_t off;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(lt_log_reader_next(r, &p, &len, &off), 1);
  assert_int_equal(lt_log_reader_next(r, &p, &len, &off), LT_ECORRUPT);
  assert_int_equal(off, offs[10]);
  assert_int_equal(lt_log_reader_next(r, &p, &len, &off), LT_ECORRUPT); /* sticky */
  lt_log_reader_close(r);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_middle_corruption_opens_with_repair_and_quarantines(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024], q[1100];
  uint64_t offs[100];
  make_log(dir, 100, seg, sizeof seg, offs);
  uint64_t size = file_size(seg);
  poke(seg, 32 + offs[10] + 1, 0x01); /* the length of record 10 */

  lt_log_t *log;
  lt_log_recovery_t rec;
  lt_log_opts_t o = {.repair = 1};
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), 0);
  assert_int_equal(rec.records, 10);
  assert_int_equal(rec.end_offset, offs[10]);
  assert_int_equal(rec.cut_bytes, size - 32 - offs[10]);
  assert_non_null(strstr(rec.message, "repaired"));
  snprintf(q, sizeof q, "%s/quarantine", dir);
  assert_true(exists(q));
  assert_int_equal(count_files(q, ""), 1);
  /* The quarantined copy holds exactly the cut bytes. */
  DIR *d = opendir(q);
  struct dirent *de;
  char qp[1600];
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') snprintf(qp, sizeof qp, "%s/%s", q, de->d_name);
  closedir(d);
  assert_int_equal(file_size(qp), size - 32 - offs[10]);

  append_range(log, 10, 20, 200, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 20, 200);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_corrupt_earlier_segment_refuses_then_repair_moves_later_segments(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_recovery_t rec;
  lt_log_opts_t o = {.segment_bytes = 2048};
  uint64_t offs[300];
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  append_range(log, 0, 300, 200, offs);
  assert_int_equal(lt_log_close(log), 0);
  int nseg = count_files(dir, ".log");
  assert_true(nseg >= 10);

  /* Damage the last record of the first segment: valid-looking neighbours
   * and whole later segments follow, so it is middle damage. */
  uint32_t k = 0;
  while (32 + offs[k + 1] + 8 + make_rec(k + 1, (unsigned char[256]){0}, 200) <= 2048)
    k++;
  char seg[1024], q[1100];
  seg_path(seg, sizeof seg, dir, 0);
  poke(seg, 32 + offs[k] + 9, 0xff);
  o.segment_bytes = 2048;
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), LT_ECORRUPT);
  assert_non_null(strstr(rec.message, "later segment"));

  o.repair = 1;
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), 0);
  assert_int_equal(rec.records, k);
  assert_int_equal(rec.end_offset, offs[k]);
  assert_int_equal(rec.segments, 1);
  assert_int_equal(count_files(dir, ".log"), 1);
  snprintf(q, sizeof q, "%s/quarantine", dir);
  assert_int_equal(count_files(q, ".log"), nseg - 1); /* moved whole, not deleted */
  assert_int_equal(rec.quarantined, (uint32_t)nseg);
  append_range(log, k, 300, 200, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 300, 200);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_segment_gap_is_middle_corruption(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_recovery_t rec;
  lt_log_opts_t o = {.segment_bytes = 1024};
  uint64_t offs[200];
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  append_range(log, 0, 200, 100, offs);
  assert_int_equal(lt_log_close(log), 0);
  /* Remove a segment in the middle. */
  DIR *d = opendir(dir);
  struct dirent *de;
  uint64_t bases[512];
  int n = 0;
  while ((de = readdir(d)))
    if (strlen(de->d_name) == 24) bases[n++] = strtoull(de->d_name, NULL, 10);
  closedir(d);
  uint64_t victim = 0;
  for (int i = 0; i < n; i++)
    if (bases[i] > victim && bases[i] < offs[100]) victim = bases[i];
  assert_true(victim > 0);
  char p[1024];
  seg_path(p, sizeof p, dir, victim);
  assert_int_equal(unlink(p), 0);
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), LT_ECORRUPT);
  assert_non_null(strstr(rec.message, "does not start where"));
  lt_log_reader_t *r;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  int got, cnt = 0;
  uint64_t off;
  while ((got = lt_log_reader_next(r, NULL, NULL, &off)) == 1)
    cnt++;
  assert_int_equal(got, LT_ECORRUPT);
  assert_int_equal(off, victim);
  lt_log_reader_close(r);
  lt_test_rmdir(dir);
  free(dir);
}

static void write_header(const char *path, const char *magic, uint32_t version, uint64_t base,
                         int good_sum) {
  unsigned char h[32] = {0};
  memcpy(h, magic, 8);
  lt_store_u32le(h + 8, version);
  lt_store_u64le(h + 16, base);
  lt_store_u32le(h + 28, (uint32_t)lt_hash64(h, 28) ^ (good_sum ? 0 : 1));
  assert_int_equal(lt_test_write_file(path, h, sizeof h), 0);
}

static void test_bad_magic_or_version_is_rejected(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  lt_log_t *log;
  lt_log_recovery_t rec;
  lt_log_reader_t *r;
  seg_path(seg, sizeof seg, dir, 0);

  write_header(seg, "NOTALOG!", 1, 0, 1);
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_ECORRUPT);
  assert_non_null(strstr(rec.message, "magic"));
  assert_int_equal(lt_log_reader_open(dir, 0, &r), LT_ECORRUPT);

  write_header(seg, "LAOTIELG", 2, 0, 1);
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_EVERSION);
  assert_non_null(strstr(rec.message, "version 2"));
  lt_log_opts_t o = {.repair = 1}; /* never "repairs" a newer format away */
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), LT_EVERSION);
  assert_int_equal(lt_log_reader_open(dir, 0, &r), LT_EVERSION);

  write_header(seg, "LAOTIELG", 1, 0, 0);
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_ECORRUPT);
  write_header(seg, "LAOTIELG", 1, 4096, 1); /* base does not match the name */
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_ECORRUPT);
  assert_int_equal(lt_test_write_file(seg, "LAOT", 4), 0); /* short */
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), LT_ECORRUPT);

  /* Repair moves the unreadable segment aside and starts afresh. */
  assert_int_equal(lt_log_open(dir, &o, &log, &rec), 0);
  assert_int_equal(rec.records, 0);
  append_range(log, 0, 5, 100, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 5, 100);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_absurd_lengths_never_crash_or_allocate(void **state) {
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  lt_log_t *log;
  lt_log_recovery_t rec;
  seg_path(seg, sizeof seg, dir, 0);
  write_header(seg, "LAOTIELG", 1, 0, 1);
  unsigned char f[8 + 16];
  memset(f, 'z', sizeof f);
  lt_store_u32le(f, 0xffffffffu); /* 4 GiB record */
  lt_store_u32le(f + 4, 0);
  append_bytes(seg, f, sizeof f);
  lt_log_reader_t *r;
  uint64_t off;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  assert_int_equal(lt_log_reader_next(r, NULL, NULL, &off), LT_ECORRUPT);
  assert_int_equal(off, 0);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0); /* nothing valid after: torn */
  assert_int_equal(rec.cut_bytes, sizeof f);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_random_damage_never_yields_a_bad_record(void **state) {
  /* Flip, truncate or zero random bytes of a valid log; whatever a reader
   * returns must be an original record at its original offset, and open with
   * repair must always come back to a usable log. */
  char *base = lt_test_tmpdir("log");
  uint64_t offs[60];
  srand(12345);
  for (int round = 0; round < 150; round++) {
    char dir[1024], seg[1100];
    snprintf(dir, sizeof dir, "%s/r%d", base, round);
    lt_log_t *log;
    lt_log_opts_t o = {.segment_bytes = 2048};
    assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
    append_range(log, 0, 60, 150, offs);
    assert_int_equal(lt_log_close(log), 0);
    uint64_t total = offs[59] + 8 + make_rec(59, (unsigned char[256]){0}, 150);
    /* Pick a random segment and damage it. */
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t segs[64];
    int n = 0;
    while ((de = readdir(d)))
      if (strlen(de->d_name) == 24) segs[n++] = strtoull(de->d_name, NULL, 10);
    closedir(d);
    seg_path(seg, sizeof seg, dir, segs[rand() % n]);
    uint64_t sz = file_size(seg);
    int kind = rand() % 4;
    if (kind == 0) {
      assert_int_equal(truncate(seg, (off_t)(rand() % sz)), 0);
    } else if (kind == 1) {
      int flips = 1 + rand() % 4;
      for (int i = 0; i < flips; i++)
        poke(seg, (uint64_t)rand() % sz, (unsigned char)(1 + rand() % 255));
    } else if (kind == 2) {
      int fd = open(seg, O_RDWR);
      unsigned char z[64] = {0};
      uint64_t at = (uint64_t)rand() % sz;
      size_t nz = (size_t)(1 + rand() % 64);
      if (at + nz > sz) nz = (size_t)(sz - at);
      assert_int_equal(pwrite(fd, z, nz, (off_t)at), (ssize_t)nz);
      close(fd);
    } else {
      unsigned char junk[100];
      for (int i = 0; i < 100; i++)
        junk[i] = (unsigned char)rand();
      append_bytes(seg, junk, (size_t)(1 + rand() % 100));
    }

    lt_log_reader_t *r;
    int rc = lt_log_reader_open(dir, 0, &r);
    assert_true(rc == 0 || rc == LT_ECORRUPT || rc == LT_EVERSION);
    if (rc == 0) {
      const void *p;
      uint32_t len;
      uint64_t off;
      unsigned char want[256];
      uint32_t i = 0;
      while ((rc = lt_log_reader_next(r, &p, &len, &off)) == 1) {
        while (i < 60 && offs[i] < off)
          i++;
        assert_true(i < 60);
        assert_int_equal(offs[i], off);
        assert_int_equal(len, make_rec(i, want, 150));
        assert_memory_equal(p, want, len);
      }
      assert_true(rc == 0 || rc == LT_ECORRUPT || rc == LT_EVERSION);
      lt_log_reader_close(r);
    }
    lt_log_recovery_t rec;
    lt_log_opts_t ro = {.read_only = 1};
    rc = lt_log_open(dir, &ro, &log, &rec);
    assert_true(rc == 0 || rc == LT_ECORRUPT || rc == LT_EVERSION);
    lt_log_close(log);
    o.repair = 1;
    rc = lt_log_open(dir, &o, &log, &rec);
    assert_true(rc == 0 || rc == LT_EVERSION);
    if (rc == 0) {
      assert_true(rec.end_offset <= total);
      unsigned char buf[8] = "after";
      uint64_t off;
      append_one(log, buf, 5, &off);
      assert_int_equal(off, rec.end_offset);
      assert_int_equal(lt_log_close(log), 0);
      assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
      assert_string_equal(rec.message, "clean");
      assert_int_equal(lt_log_close(log), 0);
    }
  }
  lt_test_rmdir(base);
  free(base);
}

static void test_record_too_large_or_empty_is_rejected(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  unsigned char *big = calloc(1, LT_LOG_MAX_RECORD + 1);
  assert_non_null(big);
  const void *recs[2] = {"ok", big};
  uint32_t lens[2] = {2, LT_LOG_MAX_RECORD + 1};
  assert_int_equal(lt_log_append(log, recs, lens, 2, NULL), LT_ETOOBIG);
  lens[1] = 0;
  assert_int_equal(lt_log_append(log, recs, lens, 2, NULL), LT_EINVAL);
  assert_int_equal(lt_log_append(NULL, recs, lens, 1, NULL), LT_EINVAL);
  assert_int_equal(lt_log_end(log), 0); /* nothing of a rejected group was taken */
  /* The largest record is fine, and so is the log after the refusals. */
  lens[1] = LT_LOG_MAX_RECORD;
  big[0] = 'x';
  uint64_t first;
  assert_int_equal(lt_log_append(log, recs, lens, 2, &first), 0);
  assert_int_equal(first, 0);
  assert_int_equal(lt_log_close(log), 0);
  lt_log_reader_t *r;
  const void *p;
  uint32_t len;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  assert_int_equal(lt_log_reader_next(r, &p, &len, NULL), 1);
  assert_int_equal(len, 2);
  assert_int_equal(lt_log_reader_next(r, &p, &len, NULL), 1);
  assert_int_equal(len, LT_LOG_MAX_RECORD);
  assert_memory_equal(p, big, len);
  assert_int_equal(lt_log_reader_next(r, &p, &len, NULL), 0);
  lt_log_reader_close(r);
  free(big);
  lt_test_rmdir(dir);
  free(dir);
}

#define NTHREADS 8
#define PER_THREAD 2000

typedef struct {
  lt_log_t *log;
  int t;
  uint64_t offs[PER_THREAD];
  int rc;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  char buf[64];
  for (int i = 0; i < PER_THREAD; i++) {
    int n = snprintf(buf, sizeof buf, "t%d i%d", w->t, i);
    uint32_t len = (uint32_t)n;
    const void *rec = buf;
    int rc = lt_log_append(w->log, &rec, &len, 1, &w->offs[i]);
    if (rc) {
      w->rc = rc;
      break;
    }
  }
  return NULL;
}

static void test_concurrent_appenders_each_record_once_and_group_commit_batches(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {.fsync_mode = LT_FSYNC_BATCH, .segment_bytes = 256 << 10};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  uint64_t f0 = lt_log_fsync_count(log);
  static worker_t w[NTHREADS];
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) {
    w[t] = (worker_t){.log = log, .t = t};
    assert_int_equal(pthread_create(&th[t], NULL, worker, &w[t]), 0);
  }
  for (int t = 0; t < NTHREADS; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(w[t].rc, 0);
  }
  uint64_t fsyncs = lt_log_fsync_count(log) - f0;
  print_message("    %d appends, %" PRIu64 " fsyncs (%.1f appends per fsync)\n",
                NTHREADS * PER_THREAD, fsyncs, (double)(NTHREADS * PER_THREAD) / (double)fsyncs);
  /* Rotation adds 3 syncs per segment; appends alone would be 16000. */
  assert_true(fsyncs < (uint64_t)NTHREADS * PER_THREAD * 3 / 4);
  assert_int_equal(lt_log_close(log), 0);

  /* Every record exactly once, each at the offset its append reported, and
   * each thread's records in its own order. */
  static unsigned char seen[NTHREADS][PER_THREAD];
  memset(seen, 0, sizeof seen);
  int last[NTHREADS];
  for (int t = 0; t < NTHREADS; t++)
    last[t] = -1;
  lt_log_reader_t *r;
  const void *p;
  uint32_t len;
  uint64_t off;
  int rc, count = 0;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  while ((rc = lt_log_reader_next(r, &p, &len, &off)) == 1) {
    char s[64];
    int t, i;
    memcpy(s, p, len);
    s[len] = 0;
    assert_int_equal(sscanf(s, "t%d i%d", &t, &i), 2);
    assert_true(t >= 0 && t < NTHREADS && i >= 0 && i < PER_THREAD);
    assert_int_equal(seen[t][i], 0);
    seen[t][i] = 1;
    assert_int_equal(w[t].offs[i], off);
    assert_true(i > last[t]);
    last[t] = i;
    count++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(count, NTHREADS * PER_THREAD);
  lt_log_reader_close(r);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_fsync_off_buffers_then_sync_makes_durable(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {0};
  assert_int_equal(lt_log_parse_fsync("off", &o), 0);
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  uint64_t f0 = lt_log_fsync_count(log);
  enum { N = 100000 };
  unsigned char buf[64];
  memset(buf, 'e', sizeof buf);
  for (uint32_t i = 0; i < N; i++) {
    lt_store_u32le(buf, i);
    append_one(log, buf, 60, NULL);
  }
  assert_int_equal(lt_log_end(log), (uint64_t)N * 68);
  assert_int_equal(lt_log_fsync_count(log), f0); /* no fsync while importing */
  /* Whole 1 MiB chunks were written out along the way; the rest is buffered. */
  uint64_t on_disk = lt_log_bytes(log) - 32;
  assert_true(on_disk >= (uint64_t)N * 68 - (2u << 20) && on_disk < (uint64_t)N * 68);
  assert_int_equal(lt_log_sync(log), 0);
  assert_true(lt_log_fsync_count(log) > f0);
  assert_int_equal(lt_log_bytes(log), 32 + (uint64_t)N * 68);
  /* Readable beside the open log once synced. */
  lt_log_reader_t *r;
  const void *p;
  uint32_t len;
  int count = 0, rc;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  while ((rc = lt_log_reader_next(r, &p, &len, NULL)) == 1) {
    assert_int_equal(len, 60);
    assert_int_equal(lt_load_u32le(p), (uint32_t)count);
    count++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(count, N);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_sync(log), 0);
  assert_int_equal(lt_log_close(log), 0);
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.records, N);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_fsync_off_close_flushes_the_buffer(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {.fsync_mode = LT_FSYNC_OFF};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  append_range(log, 0, 100, 100, NULL);
  assert_int_equal(lt_log_bytes(log), 32); /* still in memory */
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 100, 100);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_interval_mode_acks_after_write_and_syncs_in_background(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {0};
  assert_int_equal(lt_log_parse_fsync("interval:20", &o), 0);
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  uint64_t f0 = lt_log_fsync_count(log);
  append_range(log, 0, 50, 100, NULL);
  /* Acknowledged = written: a reader sees them at once. */
  lt_log_reader_t *r;
  int n = 0;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  while (lt_log_reader_next(r, NULL, NULL, NULL) == 1)
    n++;
  assert_int_equal(n, 50);
  /* The background thread fsyncs within a few intervals. */
  uint64_t t0 = (uint64_t)time(NULL);
  while (lt_log_fsync_count(log) == f0 && (uint64_t)time(NULL) < t0 + 5)
    usleep(5000);
  assert_true(lt_log_fsync_count(log) > f0);
  usleep(80000);
  uint64_t f1 = lt_log_fsync_count(log);
  usleep(100000); /* idle: nothing more to sync */
  assert_int_equal(lt_log_fsync_count(log), f1);
  append_range(log, 50, 80, 100, NULL);
  while (lt_log_reader_next(r, NULL, NULL, NULL) == 1)
    n++;
  assert_int_equal(n, 80);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 80, 100);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_reader_follows_a_live_log_across_rotation(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {.segment_bytes = 512};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  lt_log_reader_t *r;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  assert_int_equal(lt_log_reader_next(r, NULL, NULL, NULL), 0);
  unsigned char want[128];
  const void *p;
  uint32_t len;
  for (uint32_t i = 0; i < 200; i++) {
    append_range(log, i, i + 1, 100, NULL);
    assert_int_equal(lt_log_reader_next(r, &p, &len, NULL), 1);
    assert_int_equal(len, make_rec(i, want, 100));
    assert_memory_equal(p, want, len);
    assert_int_equal(lt_log_reader_next(r, &p, &len, NULL), 0);
  }
  assert_true(count_files(dir, ".log") > 10);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_reader_waiting_at_torn_tail_reads_on_after_recovery(void **state) {
  /* A reader parked at a torn tail must not mix its stale bytes with what a
   * recovering writer appends there. */
  char *dir = lt_test_tmpdir("log");
  char seg[1024];
  uint64_t offs[10];
  make_log(dir, 10, seg, sizeof seg, offs);
  assert_int_equal(truncate(seg, (off_t)(32 + offs[9] + 20)), 0);
  lt_log_reader_t *r;
  const void *p;
  uint32_t len;
  uint64_t off;
  assert_int_equal(lt_log_reader_open(dir, 0, &r), 0);
  for (int i = 0; i < 9; i++)
    assert_int_equal(lt_log_reader_next(r, &p, &len, &off), 1);
  assert_int_equal(lt_log_reader_next(r, &p, &len, &off), 0); /* partial: the end, for now */

  lt_log_t *log;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_int_equal(rec.cut_bytes, 20);
  uint64_t first;
  unsigned char want[256];
  append_one(log, want, make_rec(100, want, 200), &first); /* another record, same place */
  assert_int_equal(first, offs[9]);
  append_range(log, 101, 120, 200, NULL);
  for (uint32_t i = 100; i < 120; i++) {
    assert_int_equal(lt_log_reader_next(r, &p, &len, &off), 1);
    assert_int_equal(len, make_rec(i, want, 200));
    assert_memory_equal(p, want, len);
  }
  assert_int_equal(lt_log_reader_next(r, &p, &len, &off), 0);
  lt_log_reader_close(r);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_failed_write_cuts_back_and_refuses_until_reopen(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  char seg[1024];
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 10, 200, NULL);
  uint64_t end = lt_log_end(log);
  seg_path(seg, sizeof seg, dir, 0);
  uint64_t size = file_size(seg);

  lt_log_inject_fault(log, LT_LOG_FAULT_WRITE, ENOSPC);
  unsigned char buf[256];
  uint32_t len = make_rec(10, buf, 200);
  const void *rec = buf;
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_ENOSPACE);
  assert_int_equal(file_size(seg), size); /* the half-written frame is gone */
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EREADONLY);
  assert_int_equal(lt_log_sync(log), LT_EREADONLY);
  assert_int_equal(lt_log_close(log), LT_EREADONLY);

  lt_log_recovery_t rec2;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec2), 0);
  assert_string_equal(rec2.message, "clean");
  assert_int_equal(rec2.records, 10);
  assert_int_equal(rec2.end_offset, end);
  append_range(log, 10, 12, 200, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 12, 200);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_failed_fsync_refuses_until_reopen(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 3, 100, NULL);
  lt_log_inject_fault(log, LT_LOG_FAULT_FSYNC, EIO);
  unsigned char buf[128];
  uint32_t len = make_rec(3, buf, 100);
  const void *rec = buf;
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EIO);
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EREADONLY);
  assert_int_equal(lt_log_close(log), LT_EREADONLY);
  lt_log_recovery_t rec2;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec2), 0);
  /* The record whose fsync failed was never acknowledged; it may be there. */
  assert_true(rec2.records == 3 || rec2.records == 4);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_failed_fsync_in_interval_mode_refuses_later_appends(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {.fsync_mode = LT_FSYNC_INTERVAL, .interval_ms = 5};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  lt_log_inject_fault(log, LT_LOG_FAULT_FSYNC, EIO);
  append_range(log, 0, 1, 100, NULL);
  unsigned char buf[128];
  uint32_t len = make_rec(1, buf, 100);
  const void *rec = buf;
  int rc = 0;
  for (int i = 0; i < 400 && rc == 0; i++) {
    usleep(5000);
    rc = lt_log_append(log, &rec, &len, 1, NULL);
  }
  /* an append whose own commit meets the background fsync's failure
   * reports it (LT_EIO); one that comes after is refused */
  assert_true(rc == LT_EREADONLY || rc == LT_EIO);
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EREADONLY);
  assert_int_equal(lt_log_close(log), LT_EREADONLY);
  lt_test_rmdir(dir);
  free(dir);
}

/* lt_log_reopen: the handle comes back without a close; records after
 * keep (written, even in later segments) are cut, the rest verified. */
static void test_reopen_after_failure_cuts_back_to_keep_across_segments(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  lt_log_opts_t o = {.segment_bytes = 512};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), 0);
  append_range(log, 0, 4, 100, NULL);
  uint64_t keep = lt_log_end(log);
  assert_int_equal(lt_log_reopen(log, keep, NULL), LT_EINVAL); /* not failed */
  append_range(log, 4, 30, 100, NULL);                        /* several segments */
  int segs = count_files(dir, ".log");
  assert_true(segs >= 3);
  lt_log_inject_fault(log, LT_LOG_FAULT_WRITE, ENOSPC);
  unsigned char buf[128];
  uint32_t len = make_rec(30, buf, 100);
  const void *rec = buf;
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_ENOSPACE);
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EREADONLY);

  lt_log_recovery_t rr;
  assert_int_equal(lt_log_reopen(log, keep, &rr), 0);
  assert_non_null(strstr(rr.message, "cut back to offset"));
  assert_true(rr.cut_bytes > 0);
  assert_int_equal(rr.end_offset, keep);
  assert_int_equal(rr.records, 4);
  assert_int_equal(lt_log_end(log), keep);
  assert_true(count_files(dir, ".log") < segs);
  append_range(log, 4, 8, 100, NULL); /* accepted again, at the cut */
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 8, 100);
  lt_log_recovery_t r2;
  assert_int_equal(lt_log_open(dir, &o, &log, &r2), 0);
  assert_string_equal(r2.message, "clean");
  assert_int_equal(r2.records, 8);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

/* A log that holds less than the caller acknowledged is not patched up:
 * the handle stays failed. */
static void test_reopen_refuses_when_acknowledged_records_are_missing(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 3, 100, NULL);
  uint64_t end = lt_log_end(log);
  lt_log_inject_fault(log, LT_LOG_FAULT_FSYNC, EIO);
  unsigned char buf[128];
  uint32_t len = make_rec(3, buf, 100);
  const void *rec = buf;
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EIO);
  lt_log_recovery_t rr;
  assert_int_equal(lt_log_reopen(log, end + 4096, &rr), LT_ECORRUPT);
  assert_non_null(strstr(rr.message, "acknowledged records are lost"));
  assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EREADONLY);
  assert_int_equal(lt_log_reopen(log, end, &rr), 0); /* the real end: fine */
  append_range(log, 3, 5, 100, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 5, 100);
  lt_test_rmdir(dir);
  free(dir);
}

/* A sticky fault fails every fsync until cleared; reopening meanwhile
 * works (it writes no data) and the next append fails again. */
static void test_sticky_fault_fails_until_cleared(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 2, 100, NULL);
  uint64_t end = lt_log_end(log);
  lt_log_inject_fault(log, LT_LOG_FAULT_FSYNC | LT_LOG_FAULT_STICKY, EIO);
  unsigned char buf[128];
  uint32_t len = make_rec(2, buf, 100);
  const void *rec = buf;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(lt_log_append(log, &rec, &len, 1, NULL), LT_EIO);
    assert_int_equal(lt_log_reopen(log, end, NULL), 0);
    assert_int_equal(lt_log_end(log), end);
  }
  lt_log_inject_fault(log, LT_LOG_FAULT_FSYNC | LT_LOG_FAULT_STICKY, 0);
  append_range(log, 2, 4, 100, NULL);
  assert_int_equal(lt_log_close(log), 0);
  expect_records(dir, 4, 100);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_second_writer_is_refused_readers_are_not(void **state) {
  char *dir = lt_test_tmpdir("log");
  lt_log_t *log, *log2;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  append_range(log, 0, 5, 100, NULL);
  assert_int_equal(lt_log_open(dir, NULL, &log2, &rec), LT_EBUSY);
  lt_log_opts_t ro = {.read_only = 1};
  assert_int_equal(lt_log_open(dir, &ro, &log2, &rec), 0);
  assert_int_equal(rec.records, 5);
  assert_int_equal(lt_log_end(log2), lt_log_end(log));
  assert_int_equal(lt_log_close(log2), 0);
  assert_int_equal(lt_log_close(log), 0);
  assert_int_equal(lt_log_open(dir, NULL, &log, NULL), 0);
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_bad_options_are_rejected(void **state) {
  char *dir = lt_test_tmpdir("log");
  char missing[1024];
  lt_log_t *log;
  lt_log_opts_t o = {.segment_bytes = 10};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), LT_EINVAL);
  o = (lt_log_opts_t){.repair = 1, .read_only = 1};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), LT_EINVAL);
  o = (lt_log_opts_t){.fsync_mode = 7};
  assert_int_equal(lt_log_open(dir, &o, &log, NULL), LT_EINVAL);
  snprintf(missing, sizeof missing, "%s/nope", dir);
  o = (lt_log_opts_t){.read_only = 1};
  assert_int_equal(lt_log_open(missing, &o, &log, NULL), LT_ENOTFOUND);
  lt_log_reader_t *r;
  assert_int_equal(lt_log_reader_open(missing, 0, &r), LT_ENOTFOUND);
  lt_log_reader_close(NULL);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_leftover_tmp_segment_is_removed(void **state) {
  /* A crash while creating a segment leaves only a .tmp, never a half segment. */
  char *dir = lt_test_tmpdir("log");
  char seg[1024], tmp[1100];
  uint64_t offs[5];
  make_log(dir, 5, seg, sizeof seg, offs);
  uint64_t end = offs[4] + 8 + make_rec(4, (unsigned char[256]){0}, 200);
  seg_path(seg, sizeof seg, dir, end);
  snprintf(tmp, sizeof tmp, "%s.tmp", seg);
  assert_int_equal(lt_test_write_file(tmp, "LAOTI", 5), 0);
  lt_log_t *log;
  lt_log_recovery_t rec;
  assert_int_equal(lt_log_open(dir, NULL, &log, &rec), 0);
  assert_string_equal(rec.message, "clean");
  assert_false(exists(tmp));
  assert_int_equal(lt_log_close(log), 0);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_fsync_policies),
      cmocka_unit_test(test_append_reopen_replay_round_trip),
      cmocka_unit_test(test_replay_from_middle_offset),
      cmocka_unit_test(test_rotation_across_segments_replays_in_order),
      cmocka_unit_test(test_torn_tail_mid_record_is_cut_and_reported),
      cmocka_unit_test(test_torn_tail_garbage_is_cut_and_saved),
      cmocka_unit_test(test_torn_tail_zero_fill_is_cut),
      cmocka_unit_test(test_torn_tail_after_partial_record_of_zeros_is_cut),
      cmocka_unit_test(test_middle_corruption_refuses_to_open),
      cmocka_unit_test(test_middle_corruption_opens_with_repair_and_quarantines),
      cmocka_unit_test(test_corrupt_earlier_segment_refuses_then_repair_moves_later_segments),
      cmocka_unit_test(test_segment_gap_is_middle_corruption),
      cmocka_unit_test(test_bad_magic_or_version_is_rejected),
      cmocka_unit_test(test_absurd_lengths_never_crash_or_allocate),
      cmocka_unit_test(test_random_damage_never_yields_a_bad_record),
      cmocka_unit_test(test_record_too_large_or_empty_is_rejected),
      cmocka_unit_test(test_concurrent_appenders_each_record_once_and_group_commit_batches),
      cmocka_unit_test(test_fsync_off_buffers_then_sync_makes_durable),
      cmocka_unit_test(test_fsync_off_close_flushes_the_buffer),
      cmocka_unit_test(test_interval_mode_acks_after_write_and_syncs_in_background),
      cmocka_unit_test(test_reader_follows_a_live_log_across_rotation),
      cmocka_unit_test(test_reader_waiting_at_torn_tail_reads_on_after_recovery),
      cmocka_unit_test(test_failed_write_cuts_back_and_refuses_until_reopen),
      cmocka_unit_test(test_failed_fsync_refuses_until_reopen),
      cmocka_unit_test(test_failed_fsync_in_interval_mode_refuses_later_appends),
      cmocka_unit_test(test_reopen_after_failure_cuts_back_to_keep_across_segments),
      cmocka_unit_test(test_reopen_refuses_when_acknowledged_records_are_missing),
      cmocka_unit_test(test_sticky_fault_fails_until_cleared),
      cmocka_unit_test(test_second_writer_is_refused_readers_are_not),
      cmocka_unit_test(test_bad_options_are_rejected),
      cmocka_unit_test(test_leftover_tmp_segment_is_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
