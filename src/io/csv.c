/*
 * csv.c — the streaming CSV/TSV reader (interface and accepted dialect in
 * csv.h).
 *
 * Buffer. One heap block buf[0..cap] holds bytes read from the source:
 *
 *     buf                row_start        pos/p            len   cap
 *      | consumed rows    | row in progress | not yet seen   |0|  free |
 *
 * buf[len] is always a NUL sentinel, so the inner loops scan with one
 * table lookup per byte and no bounds check: they stop on a class byte
 * (separator, CR, LF, NUL, and in quoted fields '"'), and a stop at
 * p == buf + len means "need more input". Reads go straight into the free
 * tail; when it is short (under min_read), the row in progress is moved to
 * the front (compaction) and, if the row alone fills the block, the block
 * doubles up to max_row. The block starts at 1 MiB (memory sources: the
 * input's size, at least 256 bytes). A row longer than max_row switches to discard mode: its bytes
 * are dropped as they are scanned and the row is reported as malformed.
 *
 * Scanner. A row is scanned by a resumable state machine (st) so a row may
 * straddle any number of reads without being rescanned:
 *   ST_START  at the first byte of a field;
 *   ST_UNQ    inside an unquoted field;
 *   ST_Q      inside a quoted field;
 *   ST_QQ     just after a '"' inside a quoted field: "" is an escaped
 *             quote, anything else closes the field.
 * Fields are recorded as offsets relative to row_start (so compaction only
 * changes row_start) plus an "has escapes" flag. When the row ends, quoted
 * fields with escapes are unescaped in place (the result is never longer),
 * every field gets a NUL written after it (over its separator, closing
 * quote or line end, all already consumed), and the views are returned.
 *
 * Invariants:
 *   1. 0 <= row_start <= pos <= len < cap + 1 and buf[len] == 0.
 *   2. No byte before row_start is referenced after lt_csv_next returns
 *      the next time (returned views die with the next call).
 *   3. A malformed row is always consumed whole: the next call starts at
 *      the byte after its terminator, so one bad row never eats another.
 *   4. line is the 1-based number of the physical line holding pos.
 */
#include "io/csv.h"

#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SRC_FD, SRC_FILE, SRC_MEM };
enum { ST_START, ST_UNQ, ST_Q, ST_QQ };

#define MIN_READ (64u << 10)
#define INIT_CAP (1u << 20)

typedef struct fld {
  uint32_t off, len; /* relative to row_start; raw (escaped) length */
  uint32_t esc;
} fld_t;

struct lt_csv {
  lt_csv_opts_t o;
  int src, fd;
  FILE *fp;
  const unsigned char *mem;
  size_t mem_n, mem_off;

  unsigned char stop_unq[256]; /* bytes ending an unquoted run */
  unsigned char stop_q[256];   /* bytes ending a quoted run */

  unsigned char *buf;
  size_t cap, len, pos;
  size_t min_read; /* refill when less room than this is left */
  int eof, dead, bom_done, skip_lf;
  uint64_t line, bytes;

  /* the row in progress */
  size_t row_start;
  uint64_t row_line;
  int row_bad, discard;
  uint32_t nf;
  fld_t *fl;
  lt_str_t *out;
  char err[160];
};

/* Marks the row bad. The first reason wins, except that "row too long"
 * replaces any other (force): where the scan notices the length depends on
 * the buffer, and the reason must not. */
static void row_fail(lt_csv_t *c, int force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void row_fail(lt_csv_t *c, int force, const char *fmt, ...) {
  if (c->row_bad && !force) return;
  c->row_bad = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
}

static int open_common(lt_csv_t **out, const lt_csv_opts_t *opts, size_t cap, lt_csv_t **cp) {
  *out = NULL;
  lt_csv_t *c = calloc(1, sizeof *c);
  if (!c) return LT_ENOMEM;
  if (opts) c->o = *opts;
  if (!c->o.sep) c->o.sep = ',';
  if (!c->o.max_field) c->o.max_field = LT_CSV_MAX_FIELD;
  if (!c->o.max_fields) c->o.max_fields = LT_CSV_MAX_FIELDS;
  if (!c->o.max_row) c->o.max_row = LT_CSV_MAX_ROW;
  if (c->o.flags & LT_CSV_LINES) c->o.max_fields = 1;
  /* offsets are uint32 */
  if (c->o.max_row > (1u << 30)) c->o.max_row = 1u << 30;
  if (c->o.max_fields > (1u << 20)) c->o.max_fields = 1u << 20;
  unsigned char sep = (unsigned char)c->o.sep;
  if (!(c->o.flags & LT_CSV_LINES) && (sep == '"' || sep == '\n' || sep == '\r')) {
    free(c);
    return LT_EINVAL;
  }

  c->stop_unq[0] = c->stop_unq['\n'] = c->stop_unq['\r'] = 1;
  if (!(c->o.flags & LT_CSV_LINES)) c->stop_unq[sep] = 1;
  c->stop_q[0] = c->stop_q['\n'] = c->stop_q['"'] = 1;

  c->cap = cap;
  c->min_read = cap / 4 < MIN_READ ? cap / 4 : MIN_READ;
  c->buf = malloc(c->cap + 1);
  c->fl = malloc(c->o.max_fields * sizeof *c->fl);
  c->out = malloc(c->o.max_fields * sizeof *c->out);
  if (!c->buf || !c->fl || !c->out) {
    lt_csv_free(c);
    return LT_ENOMEM;
  }
  c->buf[0] = 0;
  c->line = 1;
  c->fd = -1;
  *cp = c;
  *out = c;
  return LT_OK;
}

int lt_csv_open_fd(lt_csv_t **out, int fd, const lt_csv_opts_t *opts) {
  lt_csv_t *c;
  if (fd < 0) return LT_EINVAL;
  int rc = open_common(out, opts, INIT_CAP, &c);
  if (rc) return rc;
  c->src = SRC_FD;
  c->fd = fd;
  return LT_OK;
}

int lt_csv_open_file(lt_csv_t **out, FILE *f, const lt_csv_opts_t *opts) {
  lt_csv_t *c;
  if (!f) return LT_EINVAL;
  int rc = open_common(out, opts, INIT_CAP, &c);
  if (rc) return rc;
  c->src = SRC_FILE;
  c->fp = f;
  return LT_OK;
}

int lt_csv_open_mem(lt_csv_t **out, const void *p, size_t n, const lt_csv_opts_t *opts) {
  lt_csv_t *c;
  if (!p && n) return LT_EINVAL;
  /* no bigger than the input needs: small inputs (tests, fuzzing) stay cheap */
  int rc = open_common(out, opts, n < 256 ? 256 : n < INIT_CAP ? n + 1 : INIT_CAP, &c);
  if (rc) return rc;
  c->src = SRC_MEM;
  c->mem = p;
  c->mem_n = n;
  return LT_OK;
}

void lt_csv_free(lt_csv_t *c) {
  if (!c) return;
  free(c->buf);
  free(c->fl);
  free(c->out);
  free(c);
}

const char *lt_csv_errmsg(const lt_csv_t *c) { return c->err; }
uint64_t lt_csv_bytes_read(const lt_csv_t *c) { return c->bytes; }

/* Reads what fits into buf[len..cap). Returns 0 (eof set at end of input)
 * or LT_EIO. */
static int src_read(lt_csv_t *c) {
  size_t room = c->cap - c->len;
  if (c->o.read_max && room > c->o.read_max) room = c->o.read_max;
  unsigned char *dst = c->buf + c->len;
  size_t got = 0;
  switch (c->src) {
  case SRC_FD:
    for (;;) {
      ssize_t r = read(c->fd, dst, room);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        snprintf(c->err, sizeof c->err, "read failed: %s", strerror(errno));
        return LT_EIO;
      }
      got = (size_t)r;
      break;
    }
    break;
  case SRC_FILE:
    got = fread(dst, 1, room, c->fp);
    if (got == 0 && ferror(c->fp)) {
      snprintf(c->err, sizeof c->err, "read failed: %s", strerror(errno));
      return LT_EIO;
    }
    break;
  default:
    got = c->mem_n - c->mem_off;
    if (got > room) got = room;
    if (got) memcpy(dst, c->mem + c->mem_off, got);
    c->mem_off += got;
    break;
  }
  if (got == 0) c->eof = 1;
  c->len += got;
  c->bytes += got;
  c->buf[c->len] = 0;
  return LT_OK;
}

/* Makes room and reads more. *at is the scan position (an offset into buf)
 * and is rebased when the row moves. Returns 0 or a fatal code. */
static int refill(lt_csv_t *c, size_t *at) {
  if (c->discard) {
    /* a row over max_row: nothing before *at is needed any more */
    c->len = c->row_start = 0;
    *at = 0;
  } else if (c->row_start > 0 && c->cap - c->len < c->min_read) {
    size_t keep = c->len - c->row_start;
    memmove(c->buf, c->buf + c->row_start, keep);
    *at -= c->row_start;
    c->len = keep;
    c->row_start = 0;
  }
  if (c->cap - c->len < c->min_read) {
    size_t rowlen = c->len - c->row_start;
    if (rowlen > c->o.max_row) {
      row_fail(c, 1, "row longer than %zu bytes", c->o.max_row);
      c->discard = 1;
      c->len = c->row_start = 0;
      *at = 0;
    } else {
      size_t ncap = c->cap * 2;
      if (ncap > c->o.max_row + 2 * MIN_READ) ncap = c->o.max_row + 2 * MIN_READ;
      if (ncap < c->len + c->min_read) ncap = c->len + c->min_read;
      unsigned char *nb = realloc(c->buf, ncap + 1);
      if (!nb) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return LT_ENOMEM;
      }
      c->buf = nb;
      c->cap = ncap;
    }
  }
  return src_read(c);
}

static void end_field(lt_csv_t *c, size_t from, size_t to, int esc) {
  if (c->discard) return;
  if (c->nf >= c->o.max_fields) {
    row_fail(c, 0, "more than %zu fields", c->o.max_fields);
    return;
  }
  fld_t *f = &c->fl[c->nf++];
  f->off = (uint32_t)(from - c->row_start);
  f->len = (uint32_t)(to - from);
  f->esc = (uint32_t)esc;
}

/* Row complete: unescape, terminate, check lengths, fill row. */
/* rowlen: raw bytes of the row, without its line end. */
static int finish_row(lt_csv_t *c, lt_csv_row_t *row, size_t rowlen) {
  row->line = c->row_line;
  row->f = c->out;
  row->n = 0;
  if (rowlen > c->o.max_row) row_fail(c, 1, "row longer than %zu bytes", c->o.max_row);
  if (!c->row_bad) {
    unsigned char *base = c->buf + c->row_start;
    for (uint32_t i = 0; i < c->nf; i++) {
      unsigned char *q = base + c->fl[i].off;
      size_t n = c->fl[i].len;
      if (c->fl[i].esc) {
        size_t w = 0;
        for (size_t r = 0; r < n; r++) {
          q[w++] = q[r];
          if (q[r] == '"') r++; /* "" -> " (the scanner guarantees the pair) */
        }
        n = w;
      }
      q[n] = 0;
      if (n > c->o.max_field) {
        row_fail(c, 0, "field %u longer than %zu bytes", i + 1, c->o.max_field);
        break;
      }
      c->out[i].p = (const char *)q;
      c->out[i].n = n;
    }
  }
  if (c->row_bad) return LT_EPARSE;
  row->n = c->nf;
  return 1;
}

int lt_csv_next(lt_csv_t *c, lt_csv_row_t *row) {
  int rc;
  row->f = c->out;
  row->n = 0;
  row->line = c->line;
  if (c->dead) return c->dead;

  if (!c->bom_done) {
    while (c->len < 3 && !c->eof)
      if ((rc = src_read(c))) goto fatal;
    if (c->len >= 3 && c->buf[0] == 0xEF && c->buf[1] == 0xBB && c->buf[2] == 0xBF) c->pos = 3;
    c->bom_done = 1;
  }

  const unsigned char sep = (c->o.flags & LT_CSV_LINES) ? 0 : (unsigned char)c->o.sep;
  const int quoting = !(c->o.flags & LT_CSV_LINES);
  const unsigned char *su = c->stop_unq, *sq = c->stop_q;

next_row:
  c->row_start = c->pos;
  c->row_line = c->line;
  c->row_bad = c->discard = 0;
  c->nf = 0;
  c->err[0] = 0;

  int st = ST_START, esc = 0;
  size_t fstart = 0, rowlen; /* offset of the current field's first content byte */
  unsigned char *p = c->buf + c->pos, *end = c->buf + c->len;

#define MORE()                                                                                     \
  do {                                                                                             \
    if (c->eof) goto at_eof;                                                                       \
    size_t at_ = (size_t)(p - c->buf), rs_ = c->row_start;                                         \
    if ((rc = refill(c, &at_))) goto fatal;                                                        \
    fstart -= rs_ - c->row_start; /* rebase with the row (meaningless once discarding) */          \
    p = c->buf + at_;                                                                              \
    end = c->buf + c->len;                                                                         \
  } while (0)

  if (c->skip_lf) { /* the previous row ended with CR: eat its LF */
    while (p >= end && !c->eof)
      MORE();
    if (p < end && *p == '\n') p++;
    c->skip_lf = 0;
    c->row_start = (size_t)(p - c->buf);
  }

  for (;;) {
    switch (st) {
    case ST_START:
      if (p >= end) {
        MORE();
        continue;
      }
      if (*p == '"' && quoting) {
        p++;
        fstart = (size_t)(p - c->buf);
        esc = 0;
        st = ST_Q;
        continue;
      }
      fstart = (size_t)(p - c->buf);
      st = ST_UNQ;
      /* fall through */
    case ST_UNQ:
      while (!su[*p])
        p++;
      if (p >= end) {
        MORE();
        continue;
      }
      if (*p == sep && sep) {
        end_field(c, fstart, (size_t)(p - c->buf), 0);
        p++;
        st = ST_START;
        continue;
      }
      if (*p == '\n' || *p == '\r') {
        if (!c->discard && c->nf == 0 && (size_t)(p - c->buf) == c->row_start) {
          /* an empty line is not a row */
          if (*p == '\r') c->skip_lf = 1;
          p++;
          c->line++;
          c->pos = (size_t)(p - c->buf);
          goto next_row;
        }
        end_field(c, fstart, (size_t)(p - c->buf), 0);
        goto at_eol;
      }
      row_fail(c, 0, "NUL byte in field %u", c->nf + 1);
      p++;
      continue;
    case ST_Q:
      while (!sq[*p])
        p++;
      if (p >= end) {
        MORE();
        continue;
      }
      if (*p == '"') {
        p++;
        st = ST_QQ;
      } else if (*p == '\n') {
        c->line++;
        p++;
      } else {
        row_fail(c, 0, "NUL byte in field %u", c->nf + 1);
        p++;
      }
      continue;
    case ST_QQ:
      if (p >= end) {
        MORE();
        continue;
      }
      if (*p == '"') {
        esc = 1;
        p++;
        st = ST_Q;
        continue;
      }
      if (*p == sep && sep) {
        end_field(c, fstart, (size_t)(p - c->buf) - 1, esc);
        p++;
        st = ST_START;
        continue;
      }
      if (*p == '\n' || *p == '\r') {
        end_field(c, fstart, (size_t)(p - c->buf) - 1, esc);
        goto at_eol;
      }
      row_fail(c, 0, "text after the closing quote of field %u", c->nf + 1);
      st = ST_UNQ;
      continue;
    }
  }

at_eol:
  rowlen = (size_t)(p - c->buf) - c->row_start;
  if (*p == '\r') {
    p++;
    if (p < end) {
      if (*p == '\n') p++;
    } else {
      c->skip_lf = 1;
    }
  } else {
    p++;
  }
  c->line++;
  c->pos = (size_t)(p - c->buf);
  return finish_row(c, row, rowlen);

at_eof:
  switch (st) {
  case ST_START:
    if (c->nf == 0 && !c->discard && (size_t)(p - c->buf) == c->row_start && !c->row_bad) {
      c->pos = (size_t)(p - c->buf);
      return 0;
    }
    end_field(c, (size_t)(p - c->buf), (size_t)(p - c->buf), 0);
    break;
  case ST_UNQ:
    end_field(c, fstart, (size_t)(p - c->buf), 0);
    break;
  case ST_Q:
    row_fail(c, 0, "quoted field %u not closed before the end of the input", c->nf + 1);
    break;
  case ST_QQ:
    end_field(c, fstart, (size_t)(p - c->buf) - 1, esc);
    break;
  }
  c->pos = (size_t)(p - c->buf);
  return finish_row(c, row, c->pos - c->row_start);
#undef MORE

fatal:
  c->dead = rc;
  return rc;
}

int lt_csv_col(const lt_csv_row_t *hdr, const char *name) {
  size_t nl = strlen(name);
  for (uint32_t i = 0; i < hdr->n; i++) {
    const char *p = hdr->f[i].p;
    size_t n = hdr->f[i].n;
    while (n && (*p == ' ' || *p == '\t'))
      p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n != nl) continue;
    size_t j = 0;
    for (; j < n; j++) {
      unsigned char a = (unsigned char)p[j], b = (unsigned char)name[j];
      if (a >= 'A' && a <= 'Z') a += 32;
      if (b >= 'A' && b <= 'Z') b += 32;
      if (a != b) break;
    }
    if (j == n) return (int)i;
  }
  return -1;
}

int lt_csv_utf8_ok(const char *s, size_t n) {
  if (!n) return 1; /* s may be NULL */
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    if (e - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (!(w & 0x8080808080808080ull)) {
        p += 8;
        continue;
      }
    }
    unsigned b = *p;
    if (b < 0x80) {
      p++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (b < 0xC2) return 0;
    if (b < 0xE0) {
      need = 1;
    } else if (b < 0xF0) {
      need = 2;
      if (b == 0xE0) lo = 0xA0; /* overlong */
      if (b == 0xED) hi = 0x9F; /* surrogates */
    } else if (b < 0xF5) {
      need = 3;
      if (b == 0xF0) lo = 0x90; /* overlong */
      if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
      return 0;
    }
    if ((size_t)(e - p) <= need) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k <= need; k++)
      if (p[k] < 0x80 || p[k] > 0xBF) return 0;
    p += need + 1;
  }
  return 1;
}
