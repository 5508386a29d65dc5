/*
 * fuzz_csv.c — libFuzzer target for the CSV reader (src/io/csv.c).
 *
 * Input: byte 0 picks the dialect (separator, lines mode) and limits,
 * byte 1 a small read size; the rest is the CSV text. Each input is parsed
 * twice — with whole-buffer reads and with reads of 1..8 bytes — and the
 * two parses must agree row for row (fields, line numbers, which rows are
 * malformed and why): the resumable scanner may not depend on where reads
 * end. Also checked: fields are NUL-terminated and within the limits, line
 * numbers never go back, and lt_csv_utf8_ok agrees with a slow reference
 * decoder on the input.
 */
#include "core/error.h"
#include "io/csv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
  char *p;
  size_t n, cap;
} out_t;

static void put(out_t *o, const void *p, size_t n) {
  if (o->n + n > o->cap) {
    o->cap = (o->n + n) * 2 + 64;
    o->p = realloc(o->p, o->cap);
    if (!o->p) abort();
  }
  memcpy(o->p + o->n, p, n);
  o->n += n;
}

static void render(const uint8_t *data, size_t size, const lt_csv_opts_t *opts, out_t *o) {
  lt_csv_t *c;
  if (lt_csv_open_mem(&c, data, size, opts)) abort();
  lt_csv_row_t row;
  int rc;
  uint64_t last_line = 0;
  size_t max_field = opts->max_field ? opts->max_field : LT_CSV_MAX_FIELD;
  size_t max_fields = opts->max_fields ? opts->max_fields : LT_CSV_MAX_FIELDS;
  while ((rc = lt_csv_next(c, &row)) != 0) {
    if (row.line < last_line) abort();
    last_line = row.line;
    put(o, &row.line, sizeof row.line);
    if (rc == LT_EPARSE) {
      const char *m = lt_csv_errmsg(c);
      put(o, "!", 1);
      put(o, m, strlen(m) + 1);
      continue;
    }
    if (rc != 1) abort(); /* memory source: no I/O errors */
    if (row.n == 0 || row.n > max_fields) abort();
    put(o, &row.n, sizeof row.n);
    for (uint32_t i = 0; i < row.n; i++) {
      if (row.f[i].n > max_field || row.f[i].p[row.f[i].n] != 0) abort();
      if (memchr(row.f[i].p, 0, row.f[i].n)) abort(); /* NUL rows are rejected */
      put(o, &row.f[i].n, sizeof row.f[i].n);
      put(o, row.f[i].p, row.f[i].n);
    }
  }
  if (lt_csv_next(c, &row) != 0) abort();
  lt_csv_free(c);
}

/* Slow reference: decode code points one by one. */
static int utf8_ref(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t b = p[i], cp, len;
    if (b < 0x80) {
      i++;
      continue;
    }
    if ((b & 0xE0) == 0xC0)
      cp = b & 0x1F, len = 2;
    else if ((b & 0xF0) == 0xE0)
      cp = b & 0x0F, len = 3;
    else if ((b & 0xF8) == 0xF0)
      cp = b & 0x07, len = 4;
    else
      return 0;
    if (i + len > n) return 0;
    for (uint32_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static const char seps[4] = {',', '\t', ';', '|'};
  uint8_t cfg = data[0], rd = data[1];
  data += 2;
  size -= 2;
  lt_csv_opts_t o = {0};
  o.sep = seps[cfg & 3];
  if (cfg & 4) o.flags = LT_CSV_LINES;
  if (cfg & 8) o.max_field = 1 + (cfg >> 4);
  if (cfg & 16) o.max_fields = 1 + (cfg >> 5);
  if (cfg & 128) o.max_row = 8 + (rd >> 3);

  out_t a = {0}, b = {0};
  render(data, size, &o, &a);
  o.read_max = 1 + (rd & 7);
  render(data, size, &o, &b);
  if (a.n != b.n || (a.n && memcmp(a.p, b.p, a.n))) {
    fprintf(stderr, "parse depends on read size %zu\n", o.read_max);
    abort();
  }
  free(a.p);
  free(b.p);

  if (lt_csv_utf8_ok((const char *)data, size) != utf8_ref(data, size)) abort();
  return 0;
}
