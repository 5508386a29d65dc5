/*
 * cmd_data.c — `laotie import` and `laotie stats`: getting data into a
 * store and seeing what it holds.
 *
 * Import opens the store with fsync off by default (one fsync at the end:
 * a bulk load, not acknowledged traffic) and writes each parsed record
 * through lt_store_write, the same path the server uses, so an imported
 * store is indistinguishable from one fed over HTTP. SIGINT/SIGTERM stop
 * the import between records; the store is synced and closed, so an
 * interrupted import leaves a consistent store holding a prefix of the
 * file (a kill -9 leaves one too: the log's recovery cuts a torn tail).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "io/import.h"

#include <inttypes.h>
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

typedef struct import_ctx {
  lt_store_t *store;
  uint64_t accepted, duplicates, rejected;
  int err;
} import_ctx_t;

static int sink(void *ctx, const lt_record_t *rec) {
  import_ctx_t *ic = ctx;
  if (stop_requested) return -1;
  lt_write_result_t res;
  int rc = lt_store_write(ic->store, rec, 1, 0, NULL, NULL, &res);
  if (rc) {
    ic->err = rc;
    return -1;
  }
  ic->accepted += res.accepted;
  ic->duplicates += res.duplicates;
  ic->rejected += res.rejected;
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

  import_ctx_t ic = {.store = s};
  lt_import_opts_t io = {.strict = strict, .max_reported = 5, .progress = stderr};
  lt_import_report_t rep;
  int rc = lt_import_file(format, file, &io, sink, &ic, &rep);
  int src = lt_store_sync(s);
  int exit_code = 0;
  if (rc == LT_EINVAL && !rep.rows) {
    fprintf(stderr, "laotie import: unknown format '%s' (kuairec, movielens, csv, ndjson, users)\n",
            format);
    exit_code = 2;
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
