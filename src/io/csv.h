/*
 * csv.h — a streaming CSV/TSV reader (RFC 4180) for the importers.
 *
 * The reader pulls large blocks from a file descriptor, a FILE* or a memory
 * buffer and hands back one row at a time as views into its own buffer, so
 * a simple row costs one scan of its bytes and no copy. What it accepts:
 *   - a configurable one-byte separator (',' by default, '\t' for TSV);
 *   - rows ending in LF, CRLF or a lone CR; the last row may lack one;
 *   - RFC 4180 quoting: a field that starts with '"' runs to the matching
 *     quote, may hold separators, CR and LF, and writes a quote as "";
 *     a quote inside an unquoted field is an ordinary byte;
 *   - a UTF-8 byte-order mark at the very start (skipped);
 *   - empty lines (skipped: they are not rows).
 * What it rejects, one row at a time (lt_csv_next returns LT_EPARSE, the
 * reason is lt_csv_errmsg(), and the next call continues with the next
 * row): a field longer than max_field, more than max_fields fields, a row
 * longer than max_row bytes, a NUL byte, text after a closing quote, and a
 * quoted field still open at the end of the input.
 *
 * The reader does not interpret field contents; lt_csv_utf8_ok() is offered
 * for callers that must reject invalid UTF-8 (ids).
 */
#ifndef LT_IO_CSV_H
#define LT_IO_CSV_H

#include "state/record.h" /* lt_str_t */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lt_csv lt_csv_t;

/* Reader options. Zero-initialise, then set what differs from the defaults. */
typedef struct lt_csv_opts {
  char sep;          /* field separator; 0 = ',' */
  unsigned flags;    /* LT_CSV_* below */
  size_t max_field;  /* longest field in bytes; 0 = LT_CSV_MAX_FIELD */
  size_t max_fields; /* most fields in a row; 0 = LT_CSV_MAX_FIELDS */
  size_t max_row;    /* longest row in bytes (raw, with quotes); 0 = LT_CSV_MAX_ROW */
  size_t read_max;   /* most bytes per read from the source; 0 = as many as fit (tests
                        and fuzzing set it small to put read boundaries everywhere) */
} lt_csv_opts_t;

#define LT_CSV_MAX_FIELD (64u << 10)
#define LT_CSV_MAX_FIELDS 1024u
#define LT_CSV_MAX_ROW (4u << 20)

/* Each line is one field: no separator, no quoting (for NDJSON). */
#define LT_CSV_LINES 1u

/* One row. Fields are views into the reader's buffer, each followed by a NUL
 * byte (so f[i].p is also a C string when the field holds no NUL, which the
 * reader guarantees). Valid until the next lt_csv_next or lt_csv_free. */
typedef struct lt_csv_row {
  lt_str_t *f;   /* f[0..n) */
  uint32_t n;    /* number of fields, >= 1 for a row */
  uint64_t line; /* 1-based line on which the row starts */
} lt_csv_row_t;

/* Opens a reader over fd (not closed by lt_csv_free), f (not closed), or
 * the bytes p[0..n) (not copied in one piece; must stay valid while the
 * reader lives). opts may be NULL for defaults. *out receives the reader.
 * Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_csv_open_fd(lt_csv_t **out, int fd, const lt_csv_opts_t *opts);
int lt_csv_open_file(lt_csv_t **out, FILE *f, const lt_csv_opts_t *opts);
int lt_csv_open_mem(lt_csv_t **out, const void *p, size_t n, const lt_csv_opts_t *opts);
/* Frees the reader (NULL is fine). */
void lt_csv_free(lt_csv_t *c);

/* Reads the next row into *row. Returns
 *   1          a row (row->f, row->n, row->line set);
 *   0          end of input;
 *   LT_EPARSE  the row starting at row->line is malformed: it has been
 *              skipped, lt_csv_errmsg() says why, and the next call goes on
 *              with the following row;
 *   LT_EIO     a read failed (lt_csv_errmsg says why), LT_ENOMEM: the reader is dead,
 *              further calls return the same code. */
int lt_csv_next(lt_csv_t *c, lt_csv_row_t *row);

/* Why the last LT_EPARSE / LT_EIO happened (the reader's storage; valid
 * until the next call). Never NULL. */
const char *lt_csv_errmsg(const lt_csv_t *c);

/* Bytes consumed from the source so far (for progress). */
uint64_t lt_csv_bytes_read(const lt_csv_t *c);

/* Index of the column named name in a header row (ASCII case-insensitive,
 * surrounding blanks ignored), or -1. */
int lt_csv_col(const lt_csv_row_t *hdr, const char *name);

/* 1 if p[0..n) is well-formed UTF-8 (no overlongs, surrogates, or code
 * points above U+10FFFF), else 0. */
int lt_csv_utf8_ok(const char *p, size_t n);

#endif
