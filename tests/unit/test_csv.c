/*
 * test_csv.c — the streaming CSV/TSV reader (src/io/csv.h).
 *
 * Most tests parse a string through lt_csv_open_mem and compare the rows
 * with an expected rendering: "line:[f1][f2]" per row, "line:!" for a row
 * reported malformed. Each input is parsed twice, with normal reads and
 * with reads of 1..7 bytes, so a row straddling a read boundary at any
 * byte is covered by every test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "io/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Renders every row of the input; malformed rows as "line:!". Returns a
 * malloc'd string. If msgs is given, the malformed rows' reasons are
 * appended there ("|"-separated). */
static char *render_opts(const char *in, size_t n, const lt_csv_opts_t *opts, char *msgs,
                         size_t msgs_cap) {
  lt_csv_t *c;
  assert_int_equal(lt_csv_open_mem(&c, in, n, opts), 0);
  size_t cap = 4096 + 4 * n, len = 0;
  char *out = malloc(cap);
  out[0] = 0;
  if (msgs) msgs[0] = 0;
  lt_csv_row_t row;
  int rc;
  while ((rc = lt_csv_next(c, &row)) != 0) {
    if (rc == LT_EPARSE) {
      len += (size_t)snprintf(out + len, cap - len, "%llu:!", (unsigned long long)row.line);
      if (msgs) {
        strncat(msgs, lt_csv_errmsg(c), msgs_cap - strlen(msgs) - 2);
        strcat(msgs, "|");
      }
    } else {
      assert_int_equal(rc, 1);
      len += (size_t)snprintf(out + len, cap - len, "%llu:", (unsigned long long)row.line);
      for (uint32_t i = 0; i < row.n; i++) {
        assert_int_equal(row.f[i].p[row.f[i].n], 0); /* NUL-terminated */
        len += (size_t)snprintf(out + len, cap - len, "[%.*s]", (int)row.f[i].n, row.f[i].p);
      }
    }
    len += (size_t)snprintf(out + len, cap - len, "\n");
  }
  assert_int_equal(lt_csv_next(c, &row), 0); /* end stays end */
  lt_csv_free(c);
  return out;
}

/* Parses with default reads and with tiny reads; both must give expect. */
static void check_opts(const char *in, size_t n, const lt_csv_opts_t *opts, const char *expect) {
  lt_csv_opts_t o = opts ? *opts : (lt_csv_opts_t){0};
  char *got = render_opts(in, n, &o, NULL, 0);
  assert_string_equal(got, expect);
  free(got);
  for (size_t r = 1; r <= 7; r++) {
    o.read_max = r;
    got = render_opts(in, n, &o, NULL, 0);
    assert_string_equal(got, expect);
    free(got);
  }
}

static void check(const char *in, const char *expect) { check_opts(in, strlen(in), NULL, expect); }

static void test_simple_rows_and_line_numbers(void **state) {
  check("a,b,c\n1,2,3\n", "1:[a][b][c]\n2:[1][2][3]\n");
}

static void test_last_row_without_newline(void **state) {
  check("a,b\n1,2", "1:[a][b]\n2:[1][2]\n");
  check("x", "1:[x]\n");
}

static void test_empty_input_has_no_rows(void **state) {
  check("", "");
  check("\n\n\r\n", "");
}

static void test_empty_fields_are_kept(void **state) {
  check("a,,b\n,\n,x,\n", "1:[a][][b]\n2:[][]\n3:[][x][]\n");
  check("a,", "1:[a][]\n");
}

static void test_blank_lines_are_skipped(void **state) {
  check("a\n\nb\r\n\r\nc\n", "1:[a]\n3:[b]\n5:[c]\n");
}

static void test_crlf_and_lone_cr_end_rows(void **state) {
  check("a,b\r\nc,d\r\n", "1:[a][b]\n2:[c][d]\n");
  check("a,b\rc,d\r", "1:[a][b]\n2:[c][d]\n");
  check("a\r\n\"q\"\r\nz", "1:[a]\n2:[q]\n3:[z]\n");
}

static void test_quoted_fields_hold_separators_and_escaped_quotes(void **state) {
  check("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", "1:[a,b][say \"hi\"][]\n");
  check("\"\"\"\"\n", "1:[\"]\n");
  check("\"x\"", "1:[x]\n");
}

static void test_quoted_newlines_advance_line_numbers(void **state) {
  check("\"multi\nline\r\nfield\",2\nnext,row\n", "1:[multi\nline\r\nfield][2]\n4:[next][row]\n");
}

static void test_quote_inside_unquoted_field_is_literal(void **state) {
  check("5\" screen,ab\"c\n", "1:[5\" screen][ab\"c]\n");
}

static void test_text_after_closing_quote_is_a_bad_row(void **state) {
  char msgs[256];
  const char *in = "\"ab\"c,d\nok,1\n";
  char *got = render_opts(in, strlen(in), NULL, msgs, sizeof msgs);
  assert_string_equal(got, "1:!\n2:[ok][1]\n");
  assert_non_null(strstr(msgs, "after the closing quote"));
  free(got);
  check("\"ab\"c,d\nok,1\n", "1:!\n2:[ok][1]\n");
}

static void test_unterminated_quote_is_a_bad_row_to_the_end(void **state) {
  char msgs[256];
  const char *in = "a\n\"open,\nb\nc\n";
  char *got = render_opts(in, strlen(in), NULL, msgs, sizeof msgs);
  assert_string_equal(got, "1:[a]\n2:!\n");
  assert_non_null(strstr(msgs, "not closed"));
  free(got);
}

static void test_nul_byte_makes_the_row_bad_not_the_next(void **state) {
  static const char in[] = "a,b\nx\0y,z\n\"q\0\"\nc,d\n";
  check_opts(in, sizeof in - 1, NULL, "1:[a][b]\n2:!\n3:!\n4:[c][d]\n");
}

static void test_tab_separator(void **state) {
  lt_csv_opts_t o = {.sep = '\t'};
  const char *in = "196\t242\t3\t881250949\n\"a\tb\"\t,x\n";
  check_opts(in, strlen(in), &o, "1:[196][242][3][881250949]\n2:[a\tb][,x]\n");
}

static void test_utf8_bom_is_skipped_only_at_start(void **state) {
  check("\xEF\xBB\xBFid,x\n\xEF\xBB\xBF\n", "1:[id][x]\n2:[\xEF\xBB\xBF]\n");
}

static void test_field_longer_than_max_field_is_a_bad_row(void **state) {
  lt_csv_opts_t o = {.max_field = 4};
  char msgs[256];
  const char *in = "abcd,1\nabcde,2\n\"ab\"\"c\",3\n\"abcde\",4\nok,5\n";
  char *got = render_opts(in, strlen(in), &o, msgs, sizeof msgs);
  /* "ab""c" unescapes to 4 bytes: fine */
  assert_string_equal(got, "1:[abcd][1]\n2:!\n3:[ab\"c][3]\n4:!\n5:[ok][5]\n");
  assert_non_null(strstr(msgs, "field 1 longer than 4 bytes"));
  free(got);
}

static void test_more_than_max_fields_is_a_bad_row(void **state) {
  lt_csv_opts_t o = {.max_fields = 3};
  char msgs[256];
  const char *in = "a,b,c\na,b,c,d\nx\n";
  char *got = render_opts(in, strlen(in), &o, msgs, sizeof msgs);
  assert_string_equal(got, "1:[a][b][c]\n2:!\n3:[x]\n");
  assert_non_null(strstr(msgs, "more than 3 fields"));
  free(got);
}

/* A row over max_row is dropped while it streams past (discard mode) and
 * the rows after it are intact, even when it spans several buffers. */
static void test_row_longer_than_max_row_is_skipped_whole(void **state) {
  size_t big = 3u << 20;
  char *in = malloc(big + 64);
  size_t n = 0;
  n += (size_t)sprintf(in, "first,1\n\"");
  for (size_t i = 0; i < big; i++)
    in[n++] = (i % 1000 == 999) ? '\n' : 'x';
  n += (size_t)sprintf(in + n, "\",2\nlast,3\n");
  lt_csv_opts_t o = {.max_row = 1u << 20};
  char msgs[256];
  char *got = render_opts(in, n, &o, msgs, sizeof msgs);
  char expect[128];
  snprintf(expect, sizeof expect, "1:[first][1]\n2:!\n%zu:[last][3]\n", 2 + big / 1000 + 1);
  assert_string_equal(got, expect);
  assert_non_null(strstr(msgs, "row longer than"));
  free(got);
  free(in);
}

/* Rows bigger than the initial 1 MiB buffer grow it. */
static void test_rows_larger_than_the_buffer_are_read_whole(void **state) {
  size_t nf = 40, fl = 60000; /* 2.4 MB row of 40 fields of 60 kB */
  char *in = malloc(nf * (fl + 1) + 32);
  size_t n = 0;
  for (size_t f = 0; f < nf; f++) {
    memset(in + n, 'a' + (int)(f % 26), fl);
    n += fl;
    in[n++] = f + 1 < nf ? ',' : '\n';
  }
  n += (size_t)sprintf(in + n, "tail\n");
  lt_csv_t *c;
  assert_int_equal(lt_csv_open_mem(&c, in, n, NULL), 0);
  lt_csv_row_t row;
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(row.n, nf);
  for (size_t f = 0; f < nf; f++) {
    assert_int_equal(row.f[f].n, fl);
    assert_int_equal(row.f[f].p[fl - 1], 'a' + (int)(f % 26));
  }
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(row.line, 2);
  assert_string_equal(row.f[0].p, "tail");
  assert_int_equal(lt_csv_next(c, &row), 0);
  lt_csv_free(c);
  free(in);
}

static void test_huge_field_within_limit_is_returned(void **state) {
  size_t fl = LT_CSV_MAX_FIELD;
  char *in = malloc(fl + 8);
  memset(in, 'z', fl);
  memcpy(in + fl, ",1\n", 3);
  lt_csv_t *c;
  assert_int_equal(lt_csv_open_mem(&c, in, fl + 3, NULL), 0);
  lt_csv_row_t row;
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(row.f[0].n, fl);
  assert_int_equal(row.n, 2);
  lt_csv_free(c);
  in[fl] = 'z'; /* one byte more: too long */
  in[fl + 1] = '\n';
  assert_int_equal(lt_csv_open_mem(&c, in, fl + 2, NULL), 0);
  assert_int_equal(lt_csv_next(c, &row), LT_EPARSE);
  assert_int_equal(lt_csv_next(c, &row), 0);
  lt_csv_free(c);
  free(in);
}

static void test_lines_mode_ignores_quotes_and_separators(void **state) {
  lt_csv_opts_t o = {.flags = LT_CSV_LINES};
  const char *in = "{\"a\": \"x,y\"}\n\"unbalanced\r\n\n{}";
  check_opts(in, strlen(in), &o, "1:[{\"a\": \"x,y\"}]\n2:[\"unbalanced]\n4:[{}]\n");
}

static void test_separator_that_cannot_work_is_rejected(void **state) {
  lt_csv_t *c = (lt_csv_t *)1;
  lt_csv_opts_t o = {.sep = '"'};
  assert_int_equal(lt_csv_open_mem(&c, "", 0, &o), LT_EINVAL);
  assert_null(c);
  o.sep = '\n';
  assert_int_equal(lt_csv_open_mem(&c, "", 0, &o), LT_EINVAL);
}

static void test_reads_from_fd_and_file(void **state) {
  char *dir = lt_test_tmpdir("csv");
  char path[512];
  snprintf(path, sizeof path, "%s/in.csv", dir);
  const char *text = "h1,h2\n\"a\nb\",c\n";
  assert_int_equal(lt_test_write_file(path, text, strlen(text)), 0);

  FILE *f = fopen(path, "rb");
  lt_csv_t *c;
  lt_csv_row_t row;
  assert_int_equal(lt_csv_open_file(&c, f, NULL), 0);
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_string_equal(row.f[0].p, "a\nb");
  assert_int_equal(lt_csv_next(c, &row), 0);
  assert_int_equal(lt_csv_bytes_read(c), strlen(text));
  lt_csv_free(c);
  fclose(f);

  f = fopen(path, "rb");
  assert_int_equal(lt_csv_open_fd(&c, fileno(f), NULL), 0);
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(lt_csv_col(&row, "H2"), 1);
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_string_equal(row.f[1].p, "c");
  assert_int_equal(lt_csv_next(c, &row), 0);
  lt_csv_free(c);
  fclose(f);

  assert_int_equal(lt_csv_open_fd(&c, -1, NULL), LT_EINVAL);
  lt_test_rmdir(dir);
  free(dir);
}

static void test_read_error_is_fatal_and_sticky(void **state) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  lt_csv_t *c;
  lt_csv_row_t row;
  /* the write end of a pipe cannot be read: EBADF */
  assert_int_equal(lt_csv_open_fd(&c, fds[1], NULL), 0);
  assert_int_equal(lt_csv_next(c, &row), LT_EIO);
  assert_non_null(strstr(lt_csv_errmsg(c), "read failed"));
  assert_int_equal(lt_csv_next(c, &row), LT_EIO);
  lt_csv_free(c);
  close(fds[0]);
  close(fds[1]);
}

static void test_header_column_lookup_ignores_case_and_blanks(void **state) {
  lt_csv_t *c;
  lt_csv_row_t row;
  const char *in = "User_ID, video_id ,x\n";
  assert_int_equal(lt_csv_open_mem(&c, in, strlen(in), NULL), 0);
  assert_int_equal(lt_csv_next(c, &row), 1);
  assert_int_equal(lt_csv_col(&row, "user_id"), 0);
  assert_int_equal(lt_csv_col(&row, "VIDEO_ID"), 1);
  assert_int_equal(lt_csv_col(&row, "x"), 2);
  assert_int_equal(lt_csv_col(&row, "missing"), -1);
  assert_int_equal(lt_csv_col(&row, "user"), -1);
  lt_csv_free(c);
}

static void test_utf8_validation(void **state) {
#define OK(s) assert_int_equal(lt_csv_utf8_ok(s, sizeof(s) - 1), 1)
#define BAD(s) assert_int_equal(lt_csv_utf8_ok(s, sizeof(s) - 1), 0)
  OK("");
  OK("plain ascii, longer than eight bytes");
  OK("\xC3\xA9t\xC3\xA9");        /* été */
  OK("\xE4\xB8\xAD\xE6\x96\x87"); /* 中文 */
  OK("\xF0\x9F\x98\x80 emoji");   /* U+1F600 */
  OK("\xF4\x8F\xBF\xBF");         /* U+10FFFF */
  BAD("\xC0\xAF");                /* overlong '/' */
  BAD("\xE0\x80\xAF");            /* overlong */
  BAD("\xED\xA0\x80");            /* surrogate U+D800 */
  BAD("\xF4\x90\x80\x80");        /* above U+10FFFF */
  BAD("\xF5\x80\x80\x80");
  BAD("abc\xE4\xB8");  /* truncated */
  BAD("\x80");         /* lone continuation */
  BAD("12345678\xFF"); /* after the 8-byte fast path */
  BAD("\xC3\x28");     /* bad continuation */
#undef OK
#undef BAD
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple_rows_and_line_numbers),
      cmocka_unit_test(test_last_row_without_newline),
      cmocka_unit_test(test_empty_input_has_no_rows),
      cmocka_unit_test(test_empty_fields_are_kept),
      cmocka_unit_test(test_blank_lines_are_skipped),
      cmocka_unit_test(test_crlf_and_lone_cr_end_rows),
      cmocka_unit_test(test_quoted_fields_hold_separators_and_escaped_quotes),
      cmocka_unit_test(test_quoted_newlines_advance_line_numbers),
      cmocka_unit_test(test_quote_inside_unquoted_field_is_literal),
      cmocka_unit_test(test_text_after_closing_quote_is_a_bad_row),
      cmocka_unit_test(test_unterminated_quote_is_a_bad_row_to_the_end),
      cmocka_unit_test(test_nul_byte_makes_the_row_bad_not_the_next),
      cmocka_unit_test(test_tab_separator),
      cmocka_unit_test(test_utf8_bom_is_skipped_only_at_start),
      cmocka_unit_test(test_field_longer_than_max_field_is_a_bad_row),
      cmocka_unit_test(test_more_than_max_fields_is_a_bad_row),
      cmocka_unit_test(test_row_longer_than_max_row_is_skipped_whole),
      cmocka_unit_test(test_rows_larger_than_the_buffer_are_read_whole),
      cmocka_unit_test(test_huge_field_within_limit_is_returned),
      cmocka_unit_test(test_lines_mode_ignores_quotes_and_separators),
      cmocka_unit_test(test_separator_that_cannot_work_is_rejected),
      cmocka_unit_test(test_reads_from_fd_and_file),
      cmocka_unit_test(test_read_error_is_fatal_and_sticky),
      cmocka_unit_test(test_header_column_lookup_ignores_case_and_blanks),
      cmocka_unit_test(test_utf8_validation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
