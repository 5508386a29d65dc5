/*
 * test_import.c — the dataset importers (src/io/import.h).
 *
 * Each test writes a small file into a fresh temp dir, imports it, and
 * compares the records the sink saw, rendered one per line, with the exact
 * expected text; the report (rows, records, bad rows with line numbers and
 * reasons) is checked alongside.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "io/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct got {
  char text[16384];
  size_t len;
  uint64_t n;
  int stop_after; /* sink fails after this many records (0 = never) */
} got_t;

static int render_sink(void *ctx, const lt_record_t *r) {
  got_t *g = ctx;
  if (g->stop_after && g->n == (uint64_t)g->stop_after) return LT_ENOSPACE;
  g->n++;
  size_t cap = sizeof g->text - g->len;
  char *o = g->text + g->len;
  int w;
  if (cap < 2048) return 0; /* big imports are only counted */
  if (r->kind == LT_REC_EVENT) {
    const lt_event_t *e = &r->u.ev;
    w = snprintf(o, cap, "%s u=%.*s i=%.*s ts=%lld watch=%u dur=%u wt=%g",
                 lt_event_type_name(e->type), (int)e->user.n, e->user.p, (int)e->item.n, e->item.p,
                 (long long)e->ts_ms, e->watch_ms, e->duration_ms, (double)e->weight);
    if (e->id.n) w += snprintf(o + w, cap - (size_t)w, " id=%.*s", (int)e->id.n, e->id.p);
    if (e->request_id.n)
      w += snprintf(o + w, cap - (size_t)w, " req=%.*s", (int)e->request_id.n, e->request_id.p);
    if (e->value) w += snprintf(o + w, cap - (size_t)w, " val=%lld", (long long)e->value);
    if (e->position != -1) w += snprintf(o + w, cap - (size_t)w, " pos=%d", e->position);
    if (e->propensity != 0) w += snprintf(o + w, cap - (size_t)w, " p=%g", (double)e->propensity);
  } else {
    assert_int_equal(r->kind, LT_REC_USER_PUT);
    w = snprintf(o, cap, "user %.*s groups=", (int)r->u.user.id.n, r->u.user.id.p);
    for (uint32_t i = 0; i < r->u.user.ngroups; i++)
      w += snprintf(o + w, cap - (size_t)w, "%s%.*s", i ? "|" : "", (int)r->u.user.groups[i].n,
                    r->u.user.groups[i].p);
  }
  w += snprintf(o + w, cap - (size_t)w, "\n");
  g->len += (size_t)w;
  return 0;
}

typedef struct fixture {
  char *dir;
  char path[512];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = lt_test_tmpdir("import");
  snprintf(f->path, sizeof f->path, "%s/data", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  lt_test_rmdir(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Writes n bytes of text to the fixture's file and imports it. */
static int import_bytes(fixture_t *f, const char *format, const char *text, size_t n,
                        const lt_import_opts_t *o, got_t *g, lt_import_report_t *rep) {
  assert_int_equal(lt_test_write_file(f->path, text, n), 0);
  memset(g, 0, sizeof *g);
  return lt_import_file(format, f->path, o, render_sink, g, rep);
}

static int import_text(fixture_t *f, const char *format, const char *text,
                       const lt_import_opts_t *o, got_t *g, lt_import_report_t *rep) {
  return import_bytes(f, format, text, strlen(text), o, g, rep);
}

static void assert_bad(const lt_import_report_t *rep, uint32_t i, uint64_t line,
                       const char *reason) {
  assert_true(i < rep->nbad_reported);
  assert_int_equal(rep->bad[i].line, line);
  if (!strstr(rep->bad[i].reason, reason))
    fail_msg("bad row %u: reason \"%s\" lacks \"%s\"", i, rep->bad[i].reason, reason);
}

#define KUAIREC_HEADER                                                                             \
  "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"

/* ---- kuairec ---- */

static void test_kuairec_rows_become_play_events(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in =
      KUAIREC_HEADER "14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,0.722103\n"
                     "14,183,11635,6100,2020-07-05 05:28:00.057,20200705,1593898080.057,1.907377\n"
                     "19,9,0,7000,2020-07-05 05:28:00.000,20200705,1593898080,0\n";
  assert_int_equal(import_text(*state, "kuairec", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=14 i=148 ts=1593898068378 watch=4381 dur=6067 wt=0.722103\n"
                              "play u=14 i=183 ts=1593898080057 watch=11635 dur=6100 wt=1.90738\n"
                              "play u=19 i=9 ts=1593898080000 watch=0 dur=7000 wt=0\n");
  assert_int_equal(rep.rows, 3);
  assert_int_equal(rep.records, 3);
  assert_int_equal(rep.bad_rows, 0);
  assert_string_equal(rep.error, "");
  assert_true(rep.seconds >= 0);
}

static void test_kuairec_columns_are_found_by_name(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "watch_ratio,timestamp,video_duration,play_duration,video_id,user_id,extra\r\n"
                   "0.5,1593898068.3785,100,50,v1,u1,zzz\r\n";
  assert_int_equal(import_text(*state, "kuairec", in, NULL, &g, &rep), 0);
  /* the 4th fraction digit rounds */
  assert_string_equal(g.text, "play u=u1 i=v1 ts=1593898068379 watch=50 dur=100 wt=0.5\n");
}

static void test_kuairec_watch_ratio_is_clamped(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = KUAIREC_HEADER "1,2,3,4,t,d,1593898068,-0.5\n"
                                  "1,2,3,4,t,d,1593898068,5e9\n";
  assert_int_equal(import_text(*state, "kuairec", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=1 i=2 ts=1593898068000 watch=3 dur=4 wt=0\n"
                              "play u=1 i=2 ts=1593898068000 watch=3 dur=4 wt=1e+06\n");
}

static void test_kuairec_missing_column_is_a_whole_file_error(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "user_id,video_id,play_duration,video_duration,time,date,watch_ratio\n"
                   "1,2,3,4,t,d,0.5\n";
  assert_int_equal(import_text(*state, "kuairec", in, NULL, &g, &rep), LT_EPARSE);
  assert_non_null(strstr(rep.error, "missing column \"timestamp\""));
  assert_int_equal(g.n, 0);
}

static void test_kuairec_empty_file_is_an_error_header_only_is_not(void **state) {
  got_t g;
  lt_import_report_t rep;
  assert_int_equal(import_text(*state, "kuairec", "", NULL, &g, &rep), LT_EPARSE);
  assert_non_null(strstr(rep.error, "empty file"));
  assert_int_equal(import_text(*state, "kuairec", KUAIREC_HEADER, NULL, &g, &rep), 0);
  assert_int_equal(rep.rows, 0);
  assert_int_equal(rep.records, 0);
  /* header without its newline */
  assert_int_equal(
      import_bytes(*state, "kuairec", KUAIREC_HEADER, strlen(KUAIREC_HEADER) - 1, NULL, &g, &rep),
      0);
  assert_int_equal(rep.rows, 0);
}

static void test_kuairec_bad_rows_are_skipped_and_described(void **state) {
  got_t g;
  lt_import_report_t rep;
  lt_import_opts_t o = {.max_reported = 8};
  const char *in = KUAIREC_HEADER "1,2,-5,4,t,d,1593898068,0.5\n"    /* line 2: negative duration */
                                  "1,2,12abc,4,t,d,1593898068,0.5\n" /* 3: garbage suffix */
                                  "1,2,4294967296,4,t,d,1593898068,0.5\n" /* 4: overflows uint32 */
                                  "1,2,3,4,t,d,,0.5\n"                    /* 5: timestamp missing */
                                  "1,2,3,4,t,d,1593898068,nan\n"          /* 6: NaN */
                                  "\xff\xfe,2,3,4,t,d,1593898068,0.5\n" /* 7: invalid UTF-8 user */
                                  "ok,fine,3,4,t,d,1593898068.5,0.25\n" /* 8: good */
                                  "1,2,3\n"                             /* 9: short row */
                                  "1,2,3,4,t,d,1593898068,inf\n"        /* 10: inf */
                                  "1,2,3,4,t,d,99999999999999999999,1\n"; /* 11: ts overflow */
  assert_int_equal(import_text(*state, "kuairec", in, &o, &g, &rep), 0);
  assert_string_equal(g.text, "play u=ok i=fine ts=1593898068500 watch=3 dur=4 wt=0.25\n");
  assert_int_equal(rep.rows, 10);
  assert_int_equal(rep.records, 1);
  assert_int_equal(rep.bad_rows, 9);
  assert_int_equal(rep.nbad_reported, 8);
  assert_bad(&rep, 0, 2, "play_duration must not be negative");
  assert_bad(&rep, 1, 3, "play_duration has trailing garbage");
  assert_bad(&rep, 2, 4, "play_duration is too large");
  assert_bad(&rep, 3, 5, "timestamp is empty");
  assert_bad(&rep, 4, 6, "watch_ratio is not a number");
  assert_bad(&rep, 5, 7, "user_id is not valid UTF-8");
  assert_bad(&rep, 6, 9, "row has 3 fields, expected at least 8");
  assert_bad(&rep, 7, 10, "watch_ratio is not a number");
}

static void test_report_describes_five_bad_rows_by_default(void **state) {
  got_t g;
  lt_import_report_t rep;
  char in[4096] = KUAIREC_HEADER;
  for (int i = 0; i < 7; i++)
    strcat(in, "1,2,x,4,t,d,1,1\n");
  assert_int_equal(import_text(*state, "kuairec", in, NULL, &g, &rep), 0);
  assert_int_equal(rep.bad_rows, 7);
  assert_int_equal(rep.nbad_reported, 5);
  assert_bad(&rep, 4, 6, "play_duration");
  lt_import_opts_t none = {.max_reported = -1};
  assert_int_equal(import_text(*state, "kuairec", in, &none, &g, &rep), 0);
  assert_int_equal(rep.bad_rows, 7);
  assert_int_equal(rep.nbad_reported, 0);
}

static void test_strict_mode_stops_at_the_first_bad_row(void **state) {
  got_t g;
  lt_import_report_t rep;
  lt_import_opts_t o = {.strict = 1};
  const char *in = KUAIREC_HEADER "1,2,3,4,t,d,1593898068,0.5\n"
                                  "1,2,3,4,t,d,1593898068,bad\n"
                                  "1,3,3,4,t,d,1593898068,0.5\n";
  assert_int_equal(import_text(*state, "kuairec", in, &o, &g, &rep), LT_EPARSE);
  assert_int_equal(g.n, 1);
  assert_int_equal(rep.records, 1);
  assert_int_equal(rep.bad_rows, 1);
  assert_bad(&rep, 0, 3, "watch_ratio");
}

static void test_malformed_csv_rows_are_bad_rows_with_lines(void **state) {
  got_t g;
  lt_import_report_t rep;
  static const char in[] = KUAIREC_HEADER
      "\"1\"x,2,3,4,t,d,1593898068,0.5\n"   /* 2: text after quote */
      "1,2,3,4,t\0,d,1593898068,0.5\n"      /* 3: NUL byte */
      "\"u\nx\",2,3,4,t,d,1593898068,0.5\n" /* 4-5: quoted newline in user: control char */
      "\"u,1\",\"v\"\"2\",3,4,\"t\",d,1593898068,0.5\n" /* 6: fine */
      "7,8,9,10,t,d,1593898068,\"0.5";                  /* 7: unterminated quote */
  assert_int_equal(import_bytes(*state, "kuairec", in, sizeof in - 1, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=u,1 i=v\"2 ts=1593898068000 watch=3 dur=4 wt=0.5\n");
  assert_int_equal(rep.bad_rows, 4);
  assert_bad(&rep, 0, 2, "after the closing quote");
  assert_bad(&rep, 1, 3, "NUL byte");
  assert_bad(&rep, 2, 4, "control characters");
  assert_bad(&rep, 3, 7, "not closed");
}

static void test_huge_field_is_a_bad_row(void **state) {
  got_t g;
  lt_import_report_t rep;
  size_t big = 70000;
  char *in = malloc(big + 512);
  size_t n = (size_t)sprintf(in, KUAIREC_HEADER);
  memset(in + n, 'u', big);
  n += big;
  n += (size_t)sprintf(in + n,
                       ",2,3,4,t,d,1593898068,0.5\n"
                       "%0300d,2,3,4,t,d,1593898068,0.5\n" /* 300-byte id: too long */
                       "u,2,3,4,t,d,1593898068,0.5\n",
                       7);
  assert_int_equal(import_bytes(*state, "kuairec", in, n, NULL, &g, &rep), 0);
  assert_int_equal(rep.records, 1);
  assert_int_equal(rep.bad_rows, 2);
  assert_bad(&rep, 0, 2, "longer than 65536 bytes");
  assert_bad(&rep, 1, 3, "1-255 bytes");
  free(in);
}

static void test_sink_error_stops_the_import_with_its_code(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = KUAIREC_HEADER "1,2,3,4,t,d,1,1\n1,2,3,4,t,d,1,1\n1,2,3,4,t,d,1,1\n";
  assert_int_equal(lt_test_write_file(((fixture_t *)*state)->path, in, strlen(in)), 0);
  memset(&g, 0, sizeof g);
  g.stop_after = 2;
  assert_int_equal(
      lt_import_file("kuairec", ((fixture_t *)*state)->path, NULL, render_sink, &g, &rep),
      LT_ENOSPACE);
  assert_int_equal(rep.records, 2);
}

/* ---- movielens ---- */

static void test_movielens_u_data_is_tab_separated_without_header(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "196\t242\t3\t881250949\n186\t302\t3.5\t891717742\n22\t377\t-1\t878887116\n";
  assert_int_equal(import_text(*state, "movielens", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=196 i=242 ts=881250949000 watch=0 dur=0 wt=3\n"
                              "play u=186 i=302 ts=891717742000 watch=0 dur=0 wt=3.5\n");
  assert_int_equal(rep.rows, 3);
  assert_bad(&rep, 0, 3, "rating must be in [0, 1e6]");
}

static void test_movielens_ratings_csv_has_a_header(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
                   "1,3,4.5,\n";
  assert_int_equal(import_text(*state, "movielens", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=1 i=1 ts=964982703000 watch=0 dur=0 wt=4\n"
                              "play u=1 i=3 ts=964981247000 watch=0 dur=0 wt=4.5\n");
  assert_int_equal(rep.rows, 3);
  assert_bad(&rep, 0, 4, "timestamp is empty");
}

static void test_movielens_ratings_dat_uses_double_colons(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "1::1193::5::978300760\n1::661::3::978302109\n1:661::3::978302109\n";
  assert_int_equal(import_text(*state, "movielens", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=1 i=1193 ts=978300760000 watch=0 dur=0 wt=5\n"
                              "play u=1 i=661 ts=978302109000 watch=0 dur=0 wt=3\n");
  assert_int_equal(rep.bad_rows, 1);
}

static void test_movielens_100k_imports_exactly(void **state) {
  char path[1024];
  snprintf(path, sizeof path, "%s/data/ml-100k/u.data", lt_test_shared());
  got_t *g = calloc(1, sizeof *g);
  lt_import_report_t rep;
  int rc = lt_import_file("movielens", path, NULL, render_sink, g, &rep);
  if (rc == LT_ENOTFOUND) { /* no shared data on this machine */
    free(g);
    skip();
  }
  assert_int_equal(rc, 0);
  assert_int_equal(rep.records, 100000);
  assert_int_equal(rep.rows, 100000);
  assert_int_equal(rep.bad_rows, 0);
  free(g);
}

/* ---- csv ---- */

static void test_csv_format_reads_every_event_column(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in =
      "user,item,ts,type,watch_ms,duration_ms,weight,id,value,request_id,position,propensity,note\n"
      "u1,v1,1764261000.5,like,100,200,1.5,e1,-3,r1,2,0.25,ignored\n"
      "u2,v2,1764261000123,purchase,,,,,1999,,,,\n"
      "u3,v3,,,,,,,,,,,\n";
  assert_int_equal(import_text(*state, "csv", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text,
                      "like u=u1 i=v1 ts=1764261000500 watch=100 dur=200 wt=1.5 id=e1 req=r1 "
                      "val=-3 pos=2 p=0.25\n"
                      "purchase u=u2 i=v2 ts=1764261000123 watch=0 dur=0 wt=0 val=1999\n"
                      "play u=u3 i=v3 ts=0 watch=0 dur=0 wt=0\n");
}

static void test_csv_format_needs_user_and_item_only(void **state) {
  got_t g;
  lt_import_report_t rep;
  assert_int_equal(import_text(*state, "csv", "item,user\nv,u\n", NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=u i=v ts=0 watch=0 dur=0 wt=0\n");
  assert_int_equal(import_text(*state, "csv", "user,ts\nu,1\n", NULL, &g, &rep), LT_EPARSE);
  assert_non_null(strstr(rep.error, "missing column \"item\""));
  assert_int_equal(g.n, 0);
}

static void test_csv_format_rejects_bad_values(void **state) {
  got_t g;
  lt_import_report_t rep;
  lt_import_opts_t o = {.max_reported = 8};
  const char *in = "user,item,ts,type,watch_ms,weight,position,value,propensity\n"
                   "u,v,1,bogus,,,,,\n"               /* 2 */
                   "u,v,-1,,,,,,\n"                   /* 3 */
                   "u,v,,,1.5,,,,\n"                  /* 4 */
                   "u,v,,,,-2,,,\n"                   /* 5 */
                   "u,v,,,,,-1,,\n"                   /* 6 */
                   "u,v,,,,,,99999999999999999999,\n" /* 7 */
                   "u,v,,,,,,,2\n"                    /* 8 */
                   ",v,,,,,,,\n";                     /* 9 */
  assert_int_equal(import_text(*state, "csv", in, &o, &g, &rep), 0);
  assert_int_equal(rep.records, 0);
  assert_int_equal(rep.bad_rows, 8);
  assert_bad(&rep, 0, 2, "type is not an event type");
  assert_bad(&rep, 1, 3, "ts must not be negative");
  assert_bad(&rep, 2, 4, "watch_ms must be an integer");
  assert_bad(&rep, 3, 5, "weight must be in [0, 1e6]");
  assert_bad(&rep, 4, 6, "position must not be negative");
  assert_bad(&rep, 5, 7, "value is out of range");
  assert_bad(&rep, 6, 8, "propensity must be in [0, 1]");
  assert_bad(&rep, 7, 9, "user is empty");
}

static void test_csv_format_ts_seconds_ms_and_fractions(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "user,item,ts\nu,v,1764261000\nu,v,1764261000.25\nu,v,1764261000250\n"
                   "u,v, 1764261000 \nu,v,1.764261e9\nu,v,0x10\n";
  assert_int_equal(import_text(*state, "csv", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "play u=u i=v ts=1764261000000 watch=0 dur=0 wt=0\n"
                              "play u=u i=v ts=1764261000250 watch=0 dur=0 wt=0\n"
                              "play u=u i=v ts=1764261000250 watch=0 dur=0 wt=0\n"
                              "play u=u i=v ts=1764261000000 watch=0 dur=0 wt=0\n"
                              "play u=u i=v ts=1764261000000 watch=0 dur=0 wt=0\n");
  assert_bad(&rep, 0, 7, "ts has trailing garbage");
}

/* ---- ndjson ---- */

static void test_ndjson_lines_become_events(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "{\"user\":\"u1\",\"item\":\"v1\",\"ts\":1764261000,\"type\":\"share\"}\n"
                   "\n"
                   "   \r\n"
                   "{\"user\":\"u2\"}\n"
                   "{\"user\":\"u\\u00e9\",\"item\":\"v\\\"3\",\"id\":\"e3\",\"watch_ms\":5}\r\n"
                   "not json\n"
                   "[1]\n"
                   "{\"user\":\"u4\",\"item\":\"v4\"}";
  assert_int_equal(import_text(*state, "ndjson", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "share u=u1 i=v1 ts=1764261000000 watch=0 dur=0 wt=0\n"
                              "play u=u\xC3\xA9 i=v\"3 ts=0 watch=5 dur=0 wt=0 id=e3\n"
                              "play u=u4 i=v4 ts=0 watch=0 dur=0 wt=0\n");
  assert_int_equal(rep.rows, 6);
  assert_int_equal(rep.bad_rows, 3);
  assert_bad(&rep, 0, 4, "item is required");
  assert_bad(&rep, 1, 6, "malformed JSON");
  assert_bad(&rep, 2, 7, "must be a JSON object");
}

static void test_ndjson_empty_file_imports_nothing(void **state) {
  got_t g;
  lt_import_report_t rep;
  assert_int_equal(import_text(*state, "ndjson", "", NULL, &g, &rep), 0);
  assert_int_equal(rep.rows, 0);
}

/* ---- users ---- */

static void test_users_groups_are_split_on_semicolons(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in = "user,groups\nalice,staff;ops\nbob,\n\"c,d\", staff ; ;x\ncarol\n";
  assert_int_equal(import_text(*state, "users", in, NULL, &g, &rep), 0);
  assert_string_equal(g.text, "user alice groups=staff|ops\n"
                              "user bob groups=\n"
                              "user c,d groups=staff|x\n"
                              "user carol groups=\n");
}

static void test_users_more_than_16_groups_is_a_bad_row(void **state) {
  got_t g;
  lt_import_report_t rep;
  const char *in =
      "user,groups\nu,a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q\nv,a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p\n";
  assert_int_equal(import_text(*state, "users", in, NULL, &g, &rep), 0);
  assert_int_equal(rep.records, 1);
  assert_bad(&rep, 0, 2, "more than 16");
}

/* ---- the entry point ---- */

static void test_unknown_format_and_missing_file(void **state) {
  got_t g = {0};
  lt_import_report_t rep;
  assert_int_equal(lt_import_file("parquet", "/nonexistent", NULL, render_sink, &g, &rep),
                   LT_EINVAL);
  assert_non_null(strstr(rep.error, "unknown format"));
  assert_int_equal(lt_import_file("csv", "/nonexistent/x.csv", NULL, render_sink, &g, &rep),
                   LT_ENOTFOUND);
  assert_non_null(strstr(rep.error, "/nonexistent/x.csv"));
  assert_int_equal(lt_import_file("csv", ((fixture_t *)*state)->dir, NULL, render_sink, &g, &rep),
                   LT_EIO);
  assert_non_null(strstr(rep.error, "is a directory"));
}

static void test_import_mem_matches_import_file(void **state) {
  got_t a, b;
  lt_import_report_t ra, rb;
  const char *in = "1::1193::5::978300760\n1::661::x::978302109\n";
  assert_int_equal(import_text(*state, "movielens", in, NULL, &a, &ra), 0);
  memset(&b, 0, sizeof b);
  assert_int_equal(lt_import_mem("movielens", in, strlen(in), NULL, render_sink, &b, &rb), 0);
  assert_string_equal(a.text, b.text);
  assert_int_equal(ra.bad_rows, rb.bad_rows);
  assert_string_equal(ra.bad[0].reason, rb.bad[0].reason);
}

static void test_progress_to_a_non_terminal_prints_nothing(void **state) {
  got_t g;
  lt_import_report_t rep;
  FILE *f = tmpfile();
  lt_import_opts_t o = {.progress = f};
  assert_int_equal(import_text(*state, "csv", "user,item\nu,v\n", &o, &g, &rep), 0);
  assert_int_equal(ftell(f), 0);
  fclose(f);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_kuairec_rows_become_play_events),
      T(test_kuairec_columns_are_found_by_name),
      T(test_kuairec_watch_ratio_is_clamped),
      T(test_kuairec_missing_column_is_a_whole_file_error),
      T(test_kuairec_empty_file_is_an_error_header_only_is_not),
      T(test_kuairec_bad_rows_are_skipped_and_described),
      T(test_report_describes_five_bad_rows_by_default),
      T(test_strict_mode_stops_at_the_first_bad_row),
      T(test_malformed_csv_rows_are_bad_rows_with_lines),
      T(test_huge_field_is_a_bad_row),
      T(test_sink_error_stops_the_import_with_its_code),
      T(test_movielens_u_data_is_tab_separated_without_header),
      T(test_movielens_ratings_csv_has_a_header),
      T(test_movielens_ratings_dat_uses_double_colons),
      T(test_movielens_100k_imports_exactly),
      T(test_csv_format_reads_every_event_column),
      T(test_csv_format_needs_user_and_item_only),
      T(test_csv_format_rejects_bad_values),
      T(test_csv_format_ts_seconds_ms_and_fractions),
      T(test_ndjson_lines_become_events),
      T(test_ndjson_empty_file_imports_nothing),
      T(test_users_groups_are_split_on_semicolons),
      T(test_users_more_than_16_groups_is_a_bad_row),
      T(test_unknown_format_and_missing_file),
      T(test_import_mem_matches_import_file),
      T(test_progress_to_a_non_terminal_prints_nothing),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
