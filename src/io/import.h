/*
 * import.h — turns one dataset file into log records.
 *
 * An importer reads a file row by row and hands each valid row, as one
 * lt_record_t, to a sink callback; the caller (CLI, store) decides batching
 * and durability. Bad rows are skipped and counted (the first few with
 * their line numbers and reasons), or, in strict mode, stop the import.
 *
 * Formats:
 *   "kuairec"    KuaiRec 2.0 (big_matrix.csv / small_matrix.csv): header
 *                user_id,video_id,play_duration,video_duration,time,date,
 *                timestamp,watch_ratio (columns found by name). One
 *                LT_EV_PLAY per row: ts_ms from timestamp (seconds with a
 *                fraction), watch_ms = play_duration, duration_ms =
 *                video_duration, weight = watch_ratio clamped to [0, 1e6].
 *   "movielens"  u.data (user TAB item TAB rating TAB ts, no header),
 *                ratings.csv (header userId,movieId,rating,timestamp) or
 *                ratings.dat (user::item::rating::ts), told apart by the
 *                first line. LT_EV_PLAY, weight = rating, ts_ms = ts * 1000.
 *   "csv"        header-named columns: user, item (required); ts (unix
 *                seconds, fractions allowed, or ms when > 1e11; empty or
 *                absent = 0, which the caller replaces by "now"), type
 *                (event type name, default play), watch_ms, duration_ms,
 *                weight, id, value, request_id, position, propensity.
 *                Unknown columns are ignored; an empty optional cell is
 *                the default.
 *   "ndjson"     one JSON event per line, the HTTP schema (json.h); blank
 *                lines skipped; a missing ts is 0 as for "csv".
 *   "users"      header user,groups; groups separated by ';' ->
 *                LT_REC_USER_PUT (ts_ms 0).
 * Times must lie between 1970 and LT_TS_MAX_MS (2149, record.h).
 * Numbers must be plain decimals: empty fields, signs where meaningless,
 * overflow, NaN/inf, hex and trailing garbage ("12abc") make a row bad.
 * Ids must be valid UTF-8 and pass lt_record_check(), the final gate for
 * every record.
 */
#ifndef LT_IO_IMPORT_H
#define LT_IO_IMPORT_H

#include "state/record.h"

#include <stdint.h>
#include <stdio.h>

/* Receives each record; rec and the strings it points to are valid only
 * during the call (views into the reader's buffer). Return 0 to continue,
 * a negative LT_E* code to stop the import with that code. */
typedef int (*lt_import_sink_fn)(void *ctx, const lt_record_t *rec);

typedef struct lt_import_opts {
  int strict;       /* stop at the first bad row and return LT_EPARSE */
  int max_reported; /* bad rows to describe in the report: 0 = 5, < 0 = none, at most 8 */
  FILE *progress;   /* if a terminal: one updating progress line; else ignored */
} lt_import_opts_t;

#define LT_IMPORT_MAX_REPORTED 8

typedef struct lt_import_report {
  uint64_t rows;     /* data rows read (header and blank lines excluded) */
  uint64_t records;  /* records the sink accepted */
  uint64_t bad_rows; /* rows skipped as malformed */
  struct {
    uint64_t line; /* 1-based line where the bad row starts */
    char reason[128];
  } bad[LT_IMPORT_MAX_REPORTED];
  uint32_t nbad_reported;
  double seconds;  /* wall time of the import */
  char error[192]; /* whole-file error (unknown format, missing column, ...), or "" */
} lt_import_report_t;

/* Imports the file at path ("-" = standard input) in the named format,
 * calling sink(ctx, rec) for each record. opts may be NULL (defaults).
 * *out (required) is zeroed and filled, also on failure.
 * Returns 0 when the file was read to its end (bad rows may have been
 * skipped: see out->bad_rows); LT_EINVAL for an unknown format or bad
 * arguments; LT_ENOTFOUND / LT_EIO (and other lt_err_from_errno codes) when
 * the file cannot be opened or read; LT_EPARSE for a whole-file error
 * (out->error says which) or, in strict mode, the first bad row (out->bad[0]
 * when reporting is on); the sink's own negative code if it stopped. */
int lt_import_file(const char *format, const char *path, const lt_import_opts_t *opts,
                   lt_import_sink_fn sink, void *ctx, lt_import_report_t *out);

/* As lt_import_file, over the bytes p[0..n) (no progress; used by tests and
 * fuzzing). */
int lt_import_mem(const char *format, const void *p, size_t n, const lt_import_opts_t *opts,
                  lt_import_sink_fn sink, void *ctx, lt_import_report_t *out);

#endif
