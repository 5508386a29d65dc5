/*
 * fuzz_import.c — libFuzzer target for the importers (src/io/import.c).
 *
 * Input: byte 0 picks the format (kuairec, movielens, csv, ndjson, users),
 * the rest is the file. Each input is imported twice, leniently and
 * strictly. Checks: every record the sink sees passes lt_record_check and
 * has UTF-8 ids; the report adds up (records + bad_rows == rows, at most 8
 * described, described lines ascending); a strict import delivers exactly
 * the records before the first bad row, then stops with LT_EPARSE, or
 * matches the lenient import when nothing is bad.
 */
#include "core/error.h"
#include "io/csv.h"
#include "io/import.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen {
  uint64_t n;
} seen_t;

static int utf8(lt_str_t s) { return lt_csv_utf8_ok(s.p, s.n); }

static int sink(void *ctx, const lt_record_t *r) {
  seen_t *s = ctx;
  if (lt_record_check(r, NULL)) abort();
  if (r->kind == LT_REC_EVENT) {
    const lt_event_t *e = &r->u.ev;
    if (!utf8(e->user) || !utf8(e->item) || !utf8(e->id) || !utf8(e->request_id)) abort();
  } else if (r->kind == LT_REC_USER_PUT) {
    if (!utf8(r->u.user.id)) abort();
    for (uint32_t i = 0; i < r->u.user.ngroups; i++)
      if (!utf8(r->u.user.groups[i]) || !r->u.user.groups[i].n) abort();
  } else {
    abort();
  }
  s->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const formats[] = {"kuairec", "movielens", "csv", "ndjson", "users"};
  if (size < 1) return 0;
  const char *fmt = formats[data[0] % 5];
  data++;
  size--;

  lt_import_report_t a, b;
  seen_t sa = {0}, sb = {0};
  lt_import_opts_t lenient = {.max_reported = 8}, strict = {.strict = 1, .max_reported = 8};
  int ra = lt_import_mem(fmt, data, size, &lenient, sink, &sa, &a);
  int rb = lt_import_mem(fmt, data, size, &strict, sink, &sb, &b);

  if (ra != 0 && ra != LT_EPARSE) abort();
  if (ra == LT_EPARSE && !a.error[0]) abort(); /* lenient fails only on whole-file errors */
  if (sa.n != a.records) abort();
  if (ra == 0 && a.records + a.bad_rows != a.rows) abort();
  if (a.nbad_reported > 8 || a.nbad_reported > a.bad_rows) abort();
  for (uint32_t i = 1; i < a.nbad_reported; i++)
    if (a.bad[i].line <= a.bad[i - 1].line) abort();
  for (uint32_t i = 0; i < a.nbad_reported; i++)
    if (!a.bad[i].reason[0]) abort();

  if (ra == 0 && a.bad_rows == 0) {
    if (rb != 0 || b.records != a.records || b.rows != a.rows) abort();
  } else if (ra == 0) {
    /* strict stops at the first bad row: the records before it, no more */
    if (rb != LT_EPARSE || b.bad_rows != 1 || b.nbad_reported != 1) abort();
    if (b.bad[0].line != a.bad[0].line || strcmp(b.bad[0].reason, a.bad[0].reason)) abort();
    if (b.records > a.records || sb.n != b.records) abort();
  } else if (rb != LT_EPARSE) {
    abort();
  }
  return 0;
}
