/*
 * fuzz_route.c — libFuzzer target for everything laotie does with an HTTP
 * request: libmicrohttpd's parsing of the request line, headers, query
 * string and body framing, then laotie's own routing (path patterns and
 * {id} parameters), auth (Bearer key, constant-time compare), limits,
 * query arguments (lt__arg_u32 ...) and every handler (src/http/).
 *
 * Rather than carve the route matcher out of server.c, the target runs the
 * real thing: LLVMFuzzerInitialize opens a store in a temp directory
 * ($TMPDIR, fsync off), a feed engine and the analytics, seeds a small
 * catalog, and starts lt_server on 127.0.0.1 with a random port. Each
 * input is sent as raw bytes over a new loopback connection, the write
 * side is shut, and the answer read (2 s at most). Coverage is collected
 * from the server's worker threads as well.
 *
 * Input: byte 0 is a flag byte, the rest the request.
 *   bit 0: insert "Authorization: Bearer KEY" after the first line;
 *   bit 1: RAW — send the bytes as they are (one or several pipelined
 *          requests; libmicrohttpd's framing is fuzzed too). Otherwise the
 *          target frames the request itself: it cuts the input at the
 *          first blank line into head and body, drops the head's
 *          Content-Length / Transfer-Encoding / Connection lines and adds
 *          "Content-Length: <body bytes>" and "Connection: close", so the
 *          server answers at once and the fuzzer spends its time in
 *          laotie's routing and handlers, not in waiting for bodies that
 *          never come.
 * Checks, beyond "no crash, no sanitizer report" (in any server thread):
 *   1. an answer, if any, starts "HTTP/1.x NNN" with 100 <= NNN <= 599;
 *   2. never 500 (a handler without an answer, an unmapped error);
 *   3. no write without the key: when the input carries no valid key, a
 *      POST/PUT/DELETE is never answered 2xx;
 *   4. the server stays up: every 256 inputs /healthz must answer 200.
 *
 * Signals. The server's threads start with the asynchronous signals
 * blocked (libFuzzer's SIGALRM, its -timeout clock, and the rest), so
 * those land in the fuzzer's own thread. The synchronous ones (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT) stay unblocked: a fault
 * in a thread that blocks its signal reaches no handler — the kernel
 * resets it to SIG_DFL and the process dies with no ASan report and no
 * crash- file (exit by signal 11: "non-zero, no finding" in fuzz/run.sh).
 * Until this was split, every signal was blocked.
 *
 * Teardown (atexit, after libFuzzer's "Done"). First the target waits
 * until the server holds no connection (server_conns(); at most DRAIN_MS,
 * longer than conn_timeout_s, after which libmicrohttpd closes an idle
 * one): libmicrohttpd 0.9.75 crashes when it answers a request with an
 * error of its own (400 for a malformed request, in transmit_error_
 * response) while MHD_stop_daemon() runs — MHD_queue_response() then
 * returns MHD_YES without queuing (the daemon is shutting down) and the
 * header builder reads the NULL response (SIGSEGV at address 0x98). The
 * fuzzer's last inputs are often malformed or pipelined, their connection
 * reset by the client a moment before exit, so a worker could still be
 * parsing one when the stop began (1 of 14 runs of 10 s; with every
 * signal blocked in the server's threads that was an exit by signal 11
 * with no report; 0 of 127 runs since this wait, 14 of which found a
 * connection still open at exit and waited 10-20 ms for it). Then the server is stopped
 * (lt_server_stop joins its threads, whatever their order inside), then
 * the stats, feed and store are freed. Each stage is named on stderr as it
 * starts, a failed store close says so, and a teardown still running after
 * TEARDOWN_S seconds ends the process with exit status 3 and the name of
 * the stage it was stuck in.
 */
#include "core/error.h"
#include "feed/feed.h"
#include "http/server.h"
#include "state/store.h"
#include "stats/stats.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define KEY "fuzz-key-0123456789"
#define TEARDOWN_S 30
#define DRAIN_MS 5000

static char dir[512];
static lt_store_t *store;
static lt_feed_t *feed;
static lt_stats_t *stats;
static lt_server_t *srv;
static unsigned port;
static uint64_t execs;

static void prepare(void *ctx, const lt_record_t *recs, size_t n) {
  (void)ctx;
  lt_feed_prepare(feed, recs, n);
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) {
  (void)ctx;
  lt_feed_observe(feed, recs, n);
  lt_stats_observe(stats, recs, n);
}

static void die(const char *what, int rc) {
  fprintf(stderr, "fuzz_route: %s: %s\n", what, lt_strerror(rc));
  abort();
}

static int connect_local(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    int e = errno;
    if (e == EINTR) { /* libFuzzer's SIGALRM: the connect goes on, wait for it */
      struct pollfd pf = {fd, POLLOUT, 0};
      socklen_t l = sizeof e;
      int k;
      do k = poll(&pf, 1, 5000);
      while (k < 0 && errno == EINTR);
      if (k == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) && !e) return fd;
      if (!k) e = ETIMEDOUT;
    }
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* 1 when out[0..len) holds one whole answer (a non-1xx status line,
 * headers and Content-Length bytes of body; no body for HEAD). The server
 * keeps a half-closed connection open until its timeout, so waiting for
 * the close would cost seconds per input. */
static int answer_complete(const char *out, size_t len, int head) {
  const char *p = out, *end = out + len;
  for (;;) {
    const char *h = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!h) return 0;
    int status = 0;
    if (sscanf(p, "HTTP/1.%*c %d", &status) == 1 && status >= 100 && status < 200) {
      p = h + 4; /* 100 Continue: the real answer follows */
      continue;
    }
    if (head) return 1;
    size_t cl = 0;
    for (const char *l = p; l < h; l++)
      if ((l == p || l[-1] == '\n') && !strncasecmp(l, "Content-Length:", 15))
        cl = strtoul(l + 15, NULL, 10);
    return (size_t)(end - (h + 4)) >= cl;
  }
}

/* Sends the bytes, shuts the write side, reads the answer (at most cap-1
 * bytes, waiting at most wait_ms for each read). Returns the bytes read,
 * or -1 when no connection. */
static ssize_t exchange(const void *p, size_t n, char *out, size_t cap, int wait_ms) {
  int fd = connect_local();
  if (fd < 0) return -1;
  size_t n0 = n;
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) break; /* the server may close early (413, bad request) */
    c += w;
    n -= (size_t)w;
  }
  shutdown(fd, SHUT_WR);
  size_t len = 0;
  while (len + 1 < cap) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, wait_ms) <= 0) break;
    ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
    if (r <= 0) break;
    len += (size_t)r;
    if (answer_complete(out, len, n0 >= 5 && !memcmp(p, "HEAD ", 5))) break;
  }
  out[len] = 0;
  /* close with a reset, not a FIN: at ~700 connections a second the FINs
   * left every ephemeral port (28K, 60 s each) in TIME_WAIT, and connect()
   * then stalled past libFuzzer's 1 s SIGALRM ("cannot connect: Interrupted
   * system call", a false finding) */
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
  return (ssize_t)len;
}

/* the stage the teardown is in, for teardown_stuck() */
static const char *volatile stage = "not started";

static void teardown_stuck(int sig) {
  (void)sig;
  char msg[160];
  int k = snprintf(msg, sizeof msg, "fuzz_route: teardown still running after %d s, in: %s\n",
                   TEARDOWN_S, stage);
  if (k > 0 && write(2, msg, (size_t)k) < 0) k = 0;
  _exit(3);
}

static void set_stage(const char *what) {
  stage = what;
  fprintf(stderr, "fuzz_route: teardown: %s\n", what);
}

/* The connections the server still holds: this process's sockets bound
 * to the server's port that do not listen. The client closes its own
 * after each exchange, so these are libmicrohttpd's, each open until its
 * worker is done with it. -1 when /proc/self/fd cannot be read. */
static int server_conns(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name), listening = 0;
    struct sockaddr_in a;
    socklen_t al = sizeof a, ll = sizeof listening;
    if (fd == dirfd(d) || getsockname(fd, (struct sockaddr *)&a, &al) || a.sin_family != AF_INET ||
        a.sin_port != htons((uint16_t)port))
      continue;
    if (!getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) && !listening) n++;
  }
  closedir(d);
  return n;
}

static void cleanup(void) {
  /* libFuzzer's SIGALRM handler is of no use after its loop: replace it
   * by a watchdog for the teardown (one shot, no interval) */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = teardown_stuck;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {TEARDOWN_S, 0}};
  setitimer(ITIMER_REAL, &it, NULL);
  set_stage("waiting for the server's connections to close");
  int open = server_conns(), waited = 0;
  for (; open > 0 && waited < DRAIN_MS; waited += 10) {
    usleep(10000);
    open = server_conns();
  }
  if (open < 0)
    fprintf(stderr, "fuzz_route: cannot read /proc/self/fd: the server is stopped without waiting\n");
  else if (open)
    fprintf(stderr, "fuzz_route: %d server connections still open after %d ms; stopping anyway\n",
            open, waited);
  else fprintf(stderr, "fuzz_route: teardown: no server connection left after %d ms\n", waited);
  set_stage("lt_server_stop");
  lt_server_stop(srv);
  set_stage("lt_stats_free, lt_feed_free");
  lt_stats_free(stats);
  lt_feed_free(feed);
  set_stage("lt_store_close");
  int rc = lt_store_close(store, 0);
  if (rc) fprintf(stderr, "fuzz_route: lt_store_close: %s\n", lt_strerror(rc));
  set_stage("removing the store directory");
  char cmd[600];
  if (strstr(dir, "/lt-fuzzroute-")) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "fuzz_route: could not remove %s\n", dir);
  }
  set_stage("done");
  memset(&it, 0, sizeof it);
  setitimer(ITIMER_REAL, &it, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *t = getenv("TMPDIR");
  if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/lt-fuzzroute-%d", t, (int)getpid());
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  so.state.history_cap = 16;
  int rc = lt_store_open(dir, &so, &store, NULL);
  if (rc) die("store", rc);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  fo.ials_iters = 1;
  fo.ials_k = 4;
  char mdir[600];
  snprintf(mdir, sizeof mdir, "%s/models", dir);
  mkdir(mdir, 0700);
  if ((rc = lt_feed_new(lt_store_state(store), &fo, mdir, &feed))) die("feed", rc);
  /* a small catalog and some history, so handlers find things */
  lt_record_t r[64];
  memset(r, 0, sizeof r);
  char ids[64][3][16];
  for (int i = 0; i < 64; i++) {
    snprintf(ids[i][0], 16, "u%d", i % 8);
    snprintf(ids[i][1], 16, "v%d", i % 16);
    snprintf(ids[i][2], 16, "c%d", i % 4);
    if (i < 16) {
      r[i].kind = LT_REC_ITEM_PUT;
      r[i].u.item.id = lt_str_of(ids[i][1]);
      r[i].u.item.creator = lt_str_of(ids[i][2]);
      r[i].u.item.duration_ms = 10000;
      r[i].u.item.ntags = 1;
      r[i].u.item.tags[0] = LT_STR("food");
    } else {
      r[i].kind = LT_REC_EVENT;
      r[i].u.ev.user = lt_str_of(ids[i][0]);
      r[i].u.ev.item = lt_str_of(ids[i][1]);
      r[i].u.ev.type = LT_EV_PLAY;
      r[i].u.ev.watch_ms = 8000;
      r[i].u.ev.ts_ms = 1764261000000LL + i * 60000LL;
      r[i].u.ev.position = -1;
    }
  }
  if ((rc = lt_store_write(store, r, 64, 0, NULL, NULL, NULL))) die("seed catalog", rc);
  if ((rc = lt_stats_open(store, &stats))) die("stats", rc);
  lt_store_set_observer(store, observe, prepare, NULL);
  lt_server_opts_t o;
  lt_server_opts_default(&o);
  o.host = "127.0.0.1";
  o.port = 0;
  o.api_key = KEY;
  o.threads = 2;
  o.max_body = 64 << 10;
  o.max_batch = 100;
  o.conn_timeout_s = 2;
  o.stats = stats;
  /* the server's threads (and any they start) take no asynchronous
   * signal, but do take their own faults (see the note at the top) */
  sigset_t async, old;
  sigfillset(&async);
  static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
  for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) sigdelset(&async, faults[i]);
  pthread_sigmask(SIG_BLOCK, &async, &old);
  rc = lt_server_start(store, feed, &o, &srv);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) die("server", rc);
  port = lt_server_port(srv);
  atexit(cleanup);
  return 0;
}

static int is_write_method(const char *req) {
  return !strncmp(req, "POST ", 5) || !strncmp(req, "PUT ", 4) || !strncmp(req, "DELETE ", 7) ||
         !strncmp(req, "PATCH ", 6);
}

static int drop_header(const char *line, size_t n) {
  static const char *const drop[] = {"content-length:", "transfer-encoding:", "connection:"};
  for (size_t i = 0; i < sizeof drop / sizeof *drop; i++) {
    size_t k = strlen(drop[i]);
    if (n >= k && !strncasecmp(line, drop[i], k)) return 1;
  }
  return 0;
}

/* Appends src[0..n) to req at *len (bounded by cap). */
static void add(char *req, size_t *len, size_t cap, const void *src, size_t n) {
  if (*len + n > cap) n = cap - *len;
  memcpy(req + *len, src, n);
  *len += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char req[1 << 17], out[1 << 16];
  const size_t cap = sizeof req - 1;
  static const char auth[] = "Authorization: Bearer " KEY "\r\n";
  if (size < 1 || size > (1 << 16)) return 0;
  size_t n = 0;
  const char *in = (const char *)data + 1;
  size_t inn = size - 1;
  int with_key = data[0] & 1, raw = data[0] & 2;
  if (raw) {
    const char *nl = with_key ? memchr(in, '\n', inn) : NULL;
    size_t first = nl ? (size_t)(nl - in) + 1 : 0;
    add(req, &n, cap, in, first);
    if (with_key) add(req, &n, cap, auth, sizeof auth - 1);
    add(req, &n, cap, in + first, inn - first);
  } else {
    const char *blank = memmem(in, inn, "\r\n\r\n", 4);
    size_t headn = blank ? (size_t)(blank - in) : inn;
    const char *body = blank ? blank + 4 : in + inn;
    size_t bodyn = (size_t)(in + inn - body);
    /* head lines, CRLF or LF ended; the first is the request line */
    size_t i = 0, lineno = 0;
    while (i < headn) {
      const char *eol = memchr(in + i, '\n', headn - i);
      size_t ln = eol ? (size_t)(eol - (in + i)) : headn - i;
      size_t cut = ln && in[i + ln - 1] == '\r' ? ln - 1 : ln;
      if (lineno == 0 || !drop_header(in + i, cut)) {
        add(req, &n, cap, in + i, cut);
        add(req, &n, cap, "\r\n", 2);
      }
      if (lineno == 0 && with_key) add(req, &n, cap, auth, sizeof auth - 1);
      lineno++;
      i += ln + 1;
    }
    if (lineno == 0) add(req, &n, cap, "GET / HTTP/1.1\r\n", 16);
    char cl[64];
    int k = snprintf(cl, sizeof cl, "Content-Length: %zu\r\nConnection: close\r\n\r\n", bodyn);
    add(req, &n, cap, cl, (size_t)k);
    add(req, &n, cap, body, bodyn);
  }
  req[n] = 0;
  /* a raw request may promise a body it never sends: the server then
   * waits for it (unless the promise is over max_body: 413 at once), so
   * do not wait long; a framed one is answered at once */
  ssize_t got = exchange(req, n, out, sizeof out, raw ? 250 : 2000);
  if (got < 0) {
    fprintf(stderr, "fuzz_route: cannot connect to the server: %s\n", strerror(errno));
    abort();
  }
  if (got > 0) {
    int status = 0;
    if (strncmp(out, "HTTP/1.", 7) || sscanf(out + 7, "%*c %d", &status) != 1 || status < 100 ||
        status > 599) {
      fprintf(stderr, "fuzz_route: not an HTTP answer: %.80s\n", out);
      abort();
    }
    if (status == 500) {
      fprintf(stderr, "fuzz_route: 500 for:\n%.*s\nanswer: %.400s\n", (int)(n > 600 ? 600 : n), req,
              out);
      abort();
    }
    /* a valid key anywhere in the bytes counts as "with key" */
    int has_key = with_key || memmem(req, n, "Bearer " KEY, sizeof("Bearer " KEY) - 1);
    if (!has_key && status >= 200 && status < 300 && is_write_method(req)) {
      fprintf(stderr, "fuzz_route: a write without the key answered %d:\n%.*s\n", status,
              (int)(n > 600 ? 600 : n), req);
      abort();
    }
  }
  if (++execs % 256 == 0) {
    static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    got = exchange(hz, sizeof hz - 1, out, sizeof out, 2000);
    if (got <= 0 || !strstr(out, " 200 ")) {
      fprintf(stderr, "fuzz_route: /healthz no longer answers 200: %.200s\n", got > 0 ? out : "");
      abort();
    }
  }
  return 0;
}
