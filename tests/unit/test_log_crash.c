/*
 * test_log_crash.c — kill -9 a process in the middle of appending, reopen,
 * and check that nothing acknowledged was lost.
 *
 * Each round forks a child that opens the log (batch fsync, or interval fsync
 * every other round; small segments so rotation happens under fire) and appends "seq N" records
 * from 4 threads; after each acknowledged append it writes N to a pipe. The parent kills it with
 * SIGKILL a random few milliseconds into the run, then reopens the log without repair: it must open
 * (a torn tail is cut), hold every acknowledged N exactly once with intact contents, and take new
 * appends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "helpers.h"
#include "log/log.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 40
#define MAX_SEQ (1u << 22)
#define CHILD_THREADS 4

/* Payload of record `seq`: "seq <N>|" then filler derived from seq; mostly
 * small, sometimes tens of KiB so that writes span many pages. */
static uint32_t payload(uint32_t seq, unsigned char *buf, uint32_t cap) {
  uint32_t h = seq * 2654435761u;
  uint32_t len = (h >> 8) % 16 == 0 ? 4096 + (h >> 12) % 60000 : 16 + (h >> 12) % 200;
  if (len > cap) len = cap;
  int n = snprintf((char *)buf, cap, "seq %u|", seq);
  for (uint32_t k = (uint32_t)n; k < len; k++)
    buf[k] = (unsigned char)(seq * 31u + k);
  return len;
}

static const lt_log_opts_t crash_opts = {.fsync_mode = LT_FSYNC_BATCH, .segment_bytes = 256 << 10};
/* A process crash loses nothing written either: interval mode acknowledges
 * after write(), and with no fsync in the way its writes tear more often. */
static const lt_log_opts_t crash_opts_interval = {
    .fsync_mode = LT_FSYNC_INTERVAL, .interval_ms = 5, .segment_bytes = 256 << 10};

typedef struct {
  lt_log_t *log;
  int ackfd;
  uint32_t *next;
  uint32_t limit;
} child_t;

static void *child_thread(void *arg) {
  child_t *c = arg;
  static __thread unsigned char buf[65536];
  for (;;) {
    uint32_t seq = __atomic_fetch_add(c->next, 1, __ATOMIC_RELAXED);
    if (seq >= c->limit) return NULL;
    uint32_t len = payload(seq, buf, sizeof buf);
    const void *rec = buf;
    if (lt_log_append(c->log, &rec, &len, 1, NULL) != 0) _exit(3);
    uint64_t v = seq;
    if (write(c->ackfd, &v, sizeof v) != (ssize_t)sizeof v) _exit(4);
  }
}

static void child_main(const char *dir, int ackfd, uint32_t start, const lt_log_opts_t *o) {
  lt_log_t *log;
  if (lt_log_open(dir, o, &log, NULL) != 0) _exit(2);
  uint32_t next = start;
  child_t c = {.log = log, .ackfd = ackfd, .next = &next, .limit = MAX_SEQ};
  pthread_t th[CHILD_THREADS];
  for (int i = 0; i < CHILD_THREADS; i++)
    if (pthread_create(&th[i], NULL, child_thread, &c) != 0) _exit(5);
  for (int i = 0; i < CHILD_THREADS; i++)
    pthread_join(th[i], NULL);
  lt_log_close(log);
  _exit(0);
}

static void test_sigkill_mid_append_loses_nothing_acknowledged(void **state) {
  char *dir = lt_test_tmpdir("logcrash");
  unsigned char *acked = calloc(MAX_SEQ, 1); /* 1 = acknowledged by some child */
  unsigned char *seen = calloc(MAX_SEQ, 1);
  unsigned char *want = malloc(65536);
  assert_non_null(acked);
  assert_non_null(seen);
  assert_non_null(want);
  uint32_t next_seq = 0;
  uint64_t total_acked = 0;
  uint32_t acked_end = 0; /* 1 + the highest acknowledged seq */
  int torn_rounds = 0;
  srand((unsigned)getpid());

  for (int round = 0; round < ROUNDS; round++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      child_main(dir, fds[1], next_seq, round % 2 ? &crash_opts_interval : &crash_opts);
    }
    close(fds[1]);

    /* Let it get going, then kill it at a random moment. */
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    usleep((useconds_t)(rand() % 20000));
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    uint64_t v;
    ssize_t r;
    while ((r = read(fds[0], &v, sizeof v)) == (ssize_t)sizeof v) {
      assert_true(v < MAX_SEQ);
      acked[v] = 1;
      total_acked++;
      if (v + 1 > acked_end) acked_end = (uint32_t)v + 1;
    }
    assert_int_equal(r, 0);
    close(fds[0]);

    /* Reopen without repair: must be clean or a cut tail, never corrupt. */
    lt_log_t *log;
    lt_log_recovery_t rec;
    int rc = lt_log_open(dir, &crash_opts, &log, &rec);
    if (rc) print_message("round %d: %s: %s\n", round, lt_strerror(rc), rec.message);
    assert_int_equal(rc, 0);
    if (rec.cut_bytes) torn_rounds++;

    /* Every record intact, each seq at most once, every ack present. */
    memset(seen, 0, MAX_SEQ);
    lt_log_reader_t *rd;
    const void *p;
    uint32_t len;
    uint32_t maxseq = 0;
    uint64_t nrec = 0;
    assert_int_equal(lt_log_reader_open(dir, 0, &rd), 0);
    while ((rc = lt_log_reader_next(rd, &p, &len, NULL)) == 1) {
      unsigned seq;
      char head[32];
      memcpy(head, p, len < 31 ? len : 31);
      head[len < 31 ? len : 31] = 0;
      if (strncmp(head, "parent ", 7) == 0) continue;
      assert_int_equal(sscanf(head, "seq %u|", &seq), 1);
      assert_true(seq < MAX_SEQ);
      assert_int_equal(seen[seq], 0);
      seen[seq] = 1;
      assert_int_equal(len, payload(seq, want, 65536));
      assert_memory_equal(p, want, len);
      if (seq + 1 > maxseq) maxseq = seq + 1;
      nrec++;
    }
    assert_int_equal(rc, 0);
    lt_log_reader_close(rd);
    for (uint32_t s = 0; s < acked_end; s++)
      if (acked[s] && !seen[s]) fail_msg("round %d: acknowledged seq %u lost", round, s);

    /* Appends continue after recovery. */
    char marker[32];
    uint32_t ml = (uint32_t)snprintf(marker, sizeof marker, "parent %d", round);
    const void *mrec = marker;
    assert_int_equal(lt_log_append(log, &mrec, &ml, 1, NULL), 0);
    assert_int_equal(lt_log_close(log), 0);
    next_seq = maxseq > next_seq ? maxseq : next_seq;
    next_seq += 1; /* skip one so seqs of different rounds never collide */
  }
  print_message("    %d rounds, %" PRIu64 " acknowledged appends, %d rounds cut a torn tail\n",
                ROUNDS, total_acked, torn_rounds);
  assert_true(total_acked > 0);
  free(acked);
  free(seen);
  free(want);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkill_mid_append_loses_nothing_acknowledged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
