/*
 * log_append.c — append throughput of the event log.
 *
 * Build and run from the project root (the command is below, in // comments,
 * because it contains glob patterns); DIR, if given, is a fresh directory on
 * the disk to measure, else a temporary one under $TMPDIR or /tmp.
 *
 * Cases:
 *   off      one thread, fsync=off, 60-byte records, one record per call
 *            (bulk import); then the lt_log_sync that makes them durable.
 *   batch    one thread, fsync=batch, groups of 1000 60-byte records per call.
 *   batch1   one thread, fsync=batch, one record per call (fsync latency).
 *   batch1x8 eight threads, fsync=batch, one record per call (group commit).
 */
// gcc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc src/core/*.c src/log/*.c bench/log_append.c
//     -lxxhash -lpthread -lm -o /tmp/log_append && /tmp/log_append [DIR]
#include "core/clock.h"
#include "core/error.h"
#include "log/log.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC 60

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  return remove(p);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void check(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "%s: %s\n", what, lt_strerror(rc));
    exit(1);
  }
}

static lt_log_t *open_fresh(const char *dir, lt_fsync_mode_t mode) {
  lt_log_t *log;
  lt_log_opts_t o = {.fsync_mode = mode};
  rm_rf(dir);
  check(lt_log_open(dir, &o, &log, NULL), "open");
  return log;
}

static void bench_off(const char *dir) {
  lt_log_t *log = open_fresh(dir, LT_FSYNC_OFF);
  const uint32_t n = 10 * 1000 * 1000;
  unsigned char rec[REC];
  memset(rec, 'x', sizeof rec);
  const void *recs[1] = {rec};
  uint32_t len = REC;
  uint64_t t0 = lt_mono_ns();
  for (uint32_t i = 0; i < n; i++) {
    memcpy(rec, &i, sizeof i);
    check(lt_log_append(log, recs, &len, 1, NULL), "append");
  }
  uint64_t t1 = lt_mono_ns();
  check(lt_log_sync(log), "sync");
  uint64_t t2 = lt_mono_ns();
  double s1 = (double)(t1 - t0) / 1e9, s2 = (double)(t2 - t0) / 1e9;
  double mb = (double)lt_log_end(log) / 1e6;
  printf("off       %u x %dB: appends %.2f M rec/s (%.0f MB/s, %.0f ns/rec); "
         "with final sync %.2f M rec/s (%.0f MB/s)\n",
         n, REC, n / s1 / 1e6, mb / s1, (double)(t1 - t0) / n, n / s2 / 1e6, mb / s2);
  check(lt_log_close(log), "close");
}

static void bench_batch(const char *dir) {
  lt_log_t *log = open_fresh(dir, LT_FSYNC_BATCH);
  enum { G = 1000, ROUNDS = 2000 };
  static unsigned char bufs[G][REC];
  static const void *recs[G];
  static uint32_t lens[G];
  for (int i = 0; i < G; i++) {
    memset(bufs[i], 'y', REC);
    recs[i] = bufs[i];
    lens[i] = REC;
  }
  uint64_t f0 = lt_log_fsync_count(log), t0 = lt_mono_ns();
  for (int r = 0; r < ROUNDS; r++)
    check(lt_log_append(log, recs, lens, G, NULL), "append");
  double s = (double)(lt_mono_ns() - t0) / 1e9;
  printf("batch     %d groups of %d x %dB: %.2f M rec/s, %.0f groups/s, %.0f MB/s, %" PRIu64
         " fsyncs\n",
         ROUNDS, G, REC, (double)ROUNDS * G / s / 1e6, ROUNDS / s,
         (double)lt_log_end(log) / 1e6 / s, lt_log_fsync_count(log) - f0);
  check(lt_log_close(log), "close");
}

static void bench_batch1(const char *dir) {
  lt_log_t *log = open_fresh(dir, LT_FSYNC_BATCH);
  enum { N = 5000 };
  unsigned char rec[REC];
  memset(rec, 'z', sizeof rec);
  const void *recs[1] = {rec};
  uint32_t len = REC;
  uint64_t t0 = lt_mono_ns();
  for (int i = 0; i < N; i++)
    check(lt_log_append(log, recs, &len, 1, NULL), "append");
  double s = (double)(lt_mono_ns() - t0) / 1e9;
  printf("batch1    %d x %dB, 1 thread: %.0f appends/s (%.0f us each)\n", N, REC, N / s,
         s / N * 1e6);
  check(lt_log_close(log), "close");
}

typedef struct {
  lt_log_t *log;
  int n;
} th_arg_t;

static void *th_main(void *a) {
  th_arg_t *t = a;
  unsigned char rec[REC];
  memset(rec, 'w', sizeof rec);
  const void *recs[1] = {rec};
  uint32_t len = REC;
  for (int i = 0; i < t->n; i++)
    check(lt_log_append(t->log, recs, &len, 1, NULL), "append");
  return NULL;
}

static void bench_batch1x8(const char *dir) {
  lt_log_t *log = open_fresh(dir, LT_FSYNC_BATCH);
  enum { T = 8, N = 5000 };
  pthread_t th[T];
  th_arg_t a = {log, N};
  uint64_t f0 = lt_log_fsync_count(log), t0 = lt_mono_ns();
  for (int i = 0; i < T; i++)
    pthread_create(&th[i], NULL, th_main, &a);
  for (int i = 0; i < T; i++)
    pthread_join(th[i], NULL);
  double s = (double)(lt_mono_ns() - t0) / 1e9;
  uint64_t f = lt_log_fsync_count(log) - f0;
  printf("batch1x8  %d x %d x %dB: %.0f appends/s, %" PRIu64 " fsyncs (%.1f appends/fsync)\n", T, N,
         REC, T * N / s, f, (double)T * N / (double)f);
  check(lt_log_close(log), "close");
}

int main(int argc, char **argv) {
  char tmpl[512];
  const char *dir;
  if (argc > 1) {
    dir = argv[1];
  } else {
    const char *base = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/lt-bench-log-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) return perror("mkdtemp"), 1;
    dir = tmpl;
  }
  bench_off(dir);
  bench_batch(dir);
  bench_batch1(dir);
  bench_batch1x8(dir);
  rm_rf(dir);
  return 0;
}
