/*
 * cmd_data.c — `laotie import` and `laotie stats`: getting data into a
 * store and seeing what it holds.
 *
 * Import opens the store with fsync off by default (one fsync at the end:
 * a bulk load, not acknowledged traffic) and writes the parsed records in
 * batches through lt_store_write, the same path the server uses, so an imported
 * store is indistinguishable from one fed over HTTP. SIGINT/SIGTERM stop
 * the import between records; the store is synced and closed, so an
 * interrupted import leaves a consistent store holding a prefix of the
 * file (a kill -9 leaves one too: the log's recovery cuts a torn tail).
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/error.h"
#include "io/import.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/*
 * The import pipeline: the reader thread parses rows into records and
 * packs them, strings copied, into batches of BATCH records; a writer
 * thread hands each full batch to lt_store_write (one log append and one
 * lock per batch). Two batches alternate, so parsing and applying overlap
 * on two cores.
 */
#define BATCH 4096

typedef struct batch {
  lt_record_t recs[BATCH];
  lt_buf_t arena; /* the records' strings; lt_str_t.p holds an offset until sealed */
  size_t n;
} batch_t;

typedef struct import_ctx {
  lt_store_t *store;
  int64_t now_ms; /* for rows without a timestamp */
  batch_t *fill;  /* being filled by the reader */
  batch_t *full;  /* handed to the writer, or NULL */
  pthread_t writer;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  uint64_t accepted, duplicates, rejected;
  int err;
} import_ctx_t;

static lt_str_t stash(batch_t *b, lt_str_t s) {
  lt_str_t o = {(const char *)(uintptr_t)b->arena.len, s.n};
  lt_buf_put(&b->arena, s.p, s.n);
  return o;
}

static void unstash(const batch_t *b, lt_str_t *s) {
  s->p = s->n ? (const char *)b->arena.p + (uintptr_t)s->p : NULL;
}

/* Turns stashed offsets into pointers (the arena no longer moves). */
static void seal(batch_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    lt_record_t *r = &b->recs[i];
    if (r->kind == LT_REC_EVENT) {
      unstash(b, &r->u.ev.id);
      unstash(b, &r->u.ev.user);
      unstash(b, &r->u.ev.item);
      unstash(b, &r->u.ev.request_id);
    } else if (r->kind == LT_REC_USER_PUT) {
      unstash(b, &r->u.user.id);
      for (uint32_t g = 0; g < r->u.user.ngroups; g++) unstash(b, &r->u.user.groups[g]);
    }
  }
}

static void *writer_main(void *arg) {
  import_ctx_t *ic = arg;
  pthread_mutex_lock(&ic->lock);
  for (;;) {
    while (!ic->full && !ic->done) pthread_cond_wait(&ic->cond, &ic->lock);
    if (!ic->full) break;
    batch_t *b = ic->full;
    pthread_mutex_unlock(&ic->lock);
    seal(b);
    lt_write_result_t res = {0, 0, 0};
    int rc = ic->err ? 0 : lt_store_write(ic->store, b->recs, b->n, 0, NULL, NULL, &res);
    pthread_mutex_lock(&ic->lock);
    if (rc && !ic->err) __atomic_store_n(&ic->err, rc, __ATOMIC_RELAXED);
    ic->accepted += res.accepted;
    ic->duplicates += res.duplicates;
    ic->rejected += res.rejected;
    b->n = 0;
    lt_buf_reset(&b->arena);
    ic->full = NULL;
    pthread_cond_broadcast(&ic->cond);
  }
  pthread_mutex_unlock(&ic->lock);
  return NULL;
}

/* Hands the filling batch to the writer, taking the other one back. */
static void hand_over(import_ctx_t *ic, batch_t *spare[2]) {
  pthread_mutex_lock(&ic->lock);
  while (ic->full) pthread_cond_wait(&ic->cond, &ic->lock);
  ic->full = ic->fill;
  ic->fill = ic->fill == spare[0] ? spare[1] : spare[0];
  pthread_cond_broadcast(&ic->cond);
  pthread_mutex_unlock(&ic->lock);
}

static batch_t *spares[2];

static int sink(void *ctx, const lt_record_t *rec) {
  import_ctx_t *ic = ctx;
  if (stop_requested) return -1;
  int err = __atomic_load_n(&ic->err, __ATOMIC_RELAXED);
  if (err) return err;
  batch_t *b = ic->fill;
  lt_record_t *r = &b->recs[b->n++];
  *r = *rec;
  if (r->kind == LT_REC_EVENT) {
    if (r->u.ev.ts_ms == 0) r->u.ev.ts_ms = ic->now_ms;
    r->u.ev.id = stash(b, r->u.ev.id);
    r->u.ev.user = stash(b, r->u.ev.user);
    r->u.ev.item = stash(b, r->u.ev.item);
    r->u.ev.request_id = stash(b, r->u.ev.request_id);
  } else if (r->kind == LT_REC_USER_PUT) {
    r->u.user.id = stash(b, r->u.user.id);
    for (uint32_t g = 0; g < r->u.user.ngroups; g++) r->u.user.groups[g] = stash(b, r->u.user.groups[g]);
  } else {
    b->n--; /* importers make only events and users */
    return LT_EINVAL;
  }
  if (b->arena.err) return LT_ENOMEM;
  if (b->n == BATCH) hand_over(ic, spares);
  return 0;
}

static void import_usage(FILE *f) {
  fprintf(f, "usage: laotie import FORMAT FILE --data DIR [--strict] [--fsync MODE]\n"
             "  FORMAT: kuairec    KuaiRec 2.0 CSV (user_id,video_id,play_duration,...)\n"
             "          movielens  u.data (tab-separated) or ratings.csv\n"
             "          csv        header-named columns: user,item[,ts,type,watch_ms,\n"
             "                     duration_ms,weight,id,value]\n"
             "          ndjson     one event per line, the HTTP event schema\n"
             "          users      CSV user,groups (groups separated by ';')\n"
             "  --strict  stop at the first bad row (exit 1) instead of skipping it\n"
             "  --fsync   durability while importing (default off: one fsync at the end)\n");
}

int lt_cmd_import(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  strcpy(cfg.fsync, "off");
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  const char *format = NULL, *file = NULL;
  int strict = 0;
  for (int i = 1; i < argc; i++) {
    int r = lt_cli_common(&cfg, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      import_usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--strict")) strict = 1;
    else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "laotie import: unknown option %s\n", argv[i]);
      import_usage(stderr);
      return 2;
    } else if (!format) format = argv[i];
    else if (!file) file = argv[i];
    else {
      fprintf(stderr, "laotie import: unexpected argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!format || !file) {
    import_usage(stderr);
    return 2;
  }
  if (access(file, R_OK)) {
    fprintf(stderr, "laotie import: cannot read %s\n", file);
    return 1;
  }
  lt_store_t *s = lt_cli_open_store(&cfg, 0);
  if (!s) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  import_ctx_t ic = {.store = s, .now_ms = lt_now_ms()};
  spares[0] = calloc(1, sizeof(batch_t));
  spares[1] = calloc(1, sizeof(batch_t));
  if (!spares[0] || !spares[1]) {
    fprintf(stderr, "laotie import: out of memory\n");
    lt_store_close(s, 0);
    return 1;
  }
  ic.fill = spares[0];
  pthread_mutex_init(&ic.lock, NULL);
  pthread_cond_init(&ic.cond, NULL);
  pthread_create(&ic.writer, NULL, writer_main, &ic);
  lt_import_opts_t io = {.strict = strict, .max_reported = 5, .progress = stderr};
  lt_import_report_t rep;
  int rc = lt_import_file(format, file, &io, sink, &ic, &rep);
  if (ic.fill->n) hand_over(&ic, spares);
  pthread_mutex_lock(&ic.lock);
  ic.done = 1;
  pthread_cond_broadcast(&ic.cond);
  pthread_mutex_unlock(&ic.lock);
  pthread_join(ic.writer, NULL);
  for (int i = 0; i < 2; i++) {
    lt_buf_free(&spares[i]->arena);
    free(spares[i]);
  }
  int src = lt_store_sync(s);
  int exit_code = 0;
  if (rc == LT_EINVAL && !rep.rows) {
    fprintf(stderr, "laotie import: unknown format '%s' (kuairec, movielens, csv, ndjson, users)\n",
            format);
    exit_code = 2;
  } else if (rep.error[0]) {
    fprintf(stderr, "laotie import: %s: %s\n", file, rep.error);
    exit_code = 1;
  } else if (ic.err || src) {
    fprintf(stderr, "laotie import: store write failed: %s\n", lt_strerror(ic.err ? ic.err : src));
    exit_code = 1;
  } else if (stop_requested) {
    fprintf(stderr, "laotie import: interrupted; the store holds the first %" PRIu64 " rows\n",
            rep.rows);
    exit_code = 1;
  } else if (rc) {
    fprintf(stderr, "laotie import: %s\n", lt_strerror(rc));
    exit_code = 1;
  }
  for (uint32_t i = 0; i < rep.nbad_reported; i++)
    fprintf(stderr, "  line %" PRIu64 ": %s\n", rep.bad[i].line, rep.bad[i].reason);
  lt_state_totals_t t;
  lt_state_totals(lt_store_state(s), &t);
  printf("imported %" PRIu64 " rows in %.2f s (%.0f rows/s): %" PRIu64 " events accepted, %" PRIu64
         " duplicates, %" PRIu64 " bad rows skipped\n",
         rep.rows, rep.seconds, rep.seconds > 0 ? rep.rows / rep.seconds : 0.0, ic.accepted,
         ic.duplicates, rep.bad_rows + ic.rejected);
  printf("store %s: %" PRIu64 " events, %" PRIu64 " users, %" PRIu64 " items, %" PRIu64
         " creators\n",
         cfg.data_dir, t.events, t.users, t.items, t.creators);
  int crc = lt_store_close(s, exit_code == 0 || stop_requested);
  if (crc && !exit_code) {
    fprintf(stderr, "laotie import: closing the store: %s\n", lt_strerror(crc));
    exit_code = 1;
  }
  return exit_code;
}

int lt_cmd_stats(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    int r = lt_cli_common(&cfg, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: laotie stats --data DIR [--json]\n"
             "  users, items, creators, events, days covered and log size of a store\n");
      return 0;
    } else {
      fprintf(stderr, "laotie stats: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (access(cfg.data_dir, F_OK)) {
    fprintf(stderr, "laotie stats: no data directory %s\n", cfg.data_dir);
    return 1;
  }
  cfg.store.log.read_only = 1; /* works beside a running server */
  lt_store_t *s = lt_cli_open_store(&cfg, 0);
  if (!s) return 1;
  lt_state_t *st = lt_store_state(s);
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  char from[11] = "-", to[11] = "-";
  int days = 0;
  if (t.events) {
    lt_day_format(t.min_day, from);
    lt_day_format(t.max_day, to);
    days = t.max_day - t.min_day + 1;
  }
  uint64_t log_bytes = lt_log_bytes(lt_store_log(s));
  if (json) {
    printf("{\"users\": %" PRIu64 ", \"items\": %" PRIu64 ", \"creators\": %" PRIu64
           ", \"events\": %" PRIu64 ", \"days\": %d, \"first_day\": \"%s\", \"last_day\": \"%s\", "
           "\"log_bytes\": %" PRIu64 ", \"timezone\": \"%s\"}\n",
           t.users, t.items, t.creators, t.events, days, from, to, log_bytes, cfg.timezone);
  } else {
    printf("users      %" PRIu64 "\nitems      %" PRIu64 "\ncreators   %" PRIu64
           "\nevents     %" PRIu64 "\ndays       %d (%s .. %s, %s)\nlog size   %" PRIu64
           " bytes\n",
           t.users, t.items, t.creators, t.events, days, from, to, cfg.timezone, log_bytes);
  }
  lt_store_close(s, 0);
  return 0;
}
