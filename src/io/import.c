/*
 * import.c — dataset importers (formats and contract in import.h).
 *
 * Shape. lt_import_file opens the source, picks the format's row handler
 * and runs one loop over lt_csv_next: a row becomes at most one record,
 * which passes lt_record_check before the sink sees it. The loop owns the
 * bookkeeping every format shares: counting rows, describing the first bad
 * ones, strict mode, progress, timing. A format contributes two functions:
 *   setup(fmt, first row) — map columns from the header (or decide there is
 *       none) and say whether the first row was a header;
 *   row(fmt, row, rec) — fill rec or return a reason (static or written
 *       into fmt->why).
 * Records point into the reader's buffer; the sink must copy what it keeps.
 *
 * Numbers are parsed here, not with strtol/strtod alone, so that every
 * field's rules are explicit: blanks around a number are allowed; signs,
 * empty fields, trailing garbage, NaN/inf/hex, overflow are reasons.
 * Timestamps are parsed exactly in integer arithmetic ("1593898068.378" is
 * 1593898068378 ms, no binary rounding); other decimals are converted
 * exactly when their digits fit 2^53 and fall back to strtod otherwise.
 *
 * Progress (when opts->progress is a terminal) is a single line rewritten
 * at most 4 times a second; the clock is read once every 16384 rows.
 */
#include "io/import.h"

#include "core/clock.h"
#include "core/error.h"
#include "io/csv.h"
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TIME_MS LT_TS_MAX_MS /* record.h: the latest time state accepts */
#define NDJSON_MAX_LINE (1u << 20)

/* ---- numbers ---- */

static lt_str_t trim(lt_str_t s) {
  while (s.n && (*s.p == ' ' || *s.p == '\t'))
    s.p++, s.n--;
  while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
    s.n--;
  return s;
}

/* A plain decimal: [+-] digits [. digits] [e [+-] digits], with at least
 * one digit before or after the point. Fills the parts; returns a reason
 * or NULL. */
typedef struct dec {
  int neg, has_exp;
  const char *ip, *fp; /* integer and fraction digits */
  size_t nip, nfp;
  const char *end;
} dec_t;

static const char *dec_scan(lt_str_t s, dec_t *d) {
  const char *p = s.p, *e = s.p + s.n;
  memset(d, 0, sizeof *d);
  if (p == e) return "is empty";
  if (*p == '+' || *p == '-') d->neg = *p++ == '-';
  d->ip = p;
  while (p < e && *p >= '0' && *p <= '9')
    p++;
  d->nip = (size_t)(p - d->ip);
  if (p < e && *p == '.') {
    d->fp = ++p;
    while (p < e && *p >= '0' && *p <= '9')
      p++;
    d->nfp = (size_t)(p - d->fp);
  }
  if (!d->nip && !d->nfp) return "is not a number";
  if (p < e && (*p == 'e' || *p == 'E')) {
    const char *q = p + 1;
    if (q < e && (*q == '+' || *q == '-')) q++;
    const char *digits = q;
    while (q < e && *q >= '0' && *q <= '9')
      q++;
    if (q > digits) {
      d->has_exp = 1;
      p = q;
    }
  }
  if (p != e) return "has trailing garbage";
  d->end = e;
  return NULL;
}

/* The magnitude of an integer written as a plain decimal ("12",
 * "12.000"; not "12.5", "1e3"), at most max; *neg gets its sign. */
static const char *parse_magnitude(lt_str_t s, uint64_t max, const char *too_big, uint64_t *out,
                                   int *neg) {
  dec_t d;
  const char *why = dec_scan(trim(s), &d);
  if (why) return why;
  if (d.has_exp) return "must be a plain integer";
  for (size_t i = 0; i < d.nfp; i++)
    if (d.fp[i] != '0') return "must be an integer";
  uint64_t v = 0;
  for (size_t i = 0; i < d.nip; i++) {
    unsigned dig = (unsigned)(d.ip[i] - '0');
    if (v > (max - dig) / 10) return too_big;
    v = v * 10 + dig;
  }
  *out = v;
  *neg = d.neg;
  return NULL;
}

/* A non-negative integer <= max ("12", "12.000"; not "12.5", "-1"). */
static const char *parse_uint(lt_str_t s, uint64_t max, uint64_t *out) {
  uint64_t v;
  int neg;
  const char *why = parse_magnitude(s, max, "is too large", &v, &neg);
  if (why) return why;
  if (neg && v) return "must not be negative";
  *out = v;
  return NULL;
}

/* A signed integer with |v| <= max. */
static const char *parse_int(lt_str_t s, uint64_t max, int64_t *out) {
  uint64_t v;
  int neg;
  const char *why = parse_magnitude(s, max, "is out of range", &v, &neg);
  if (why) return why;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return NULL;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A finite decimal number. */
static const char *parse_num(lt_str_t s, double *out) {
  dec_t d;
  s = trim(s);
  const char *why = dec_scan(s, &d);
  if (why) return why;
  uint64_t m = 0;
  int sig = 0, slow = d.has_exp || d.nfp > 22;
  for (size_t i = 0; i < d.nip && !slow; i++) {
    if (sig >= 19) slow = 1;
    m = m * 10 + (unsigned)(d.ip[i] - '0');
    if (m) sig++;
  }
  for (size_t i = 0; i < d.nfp && !slow; i++) {
    if (sig >= 19) slow = 1;
    m = m * 10 + (unsigned)(d.fp[i] - '0');
    if (m) sig++;
  }
  double v;
  if (!slow && m <= (1ull << 53)) {
    v = (double)m / pow10_exact[d.nfp]; /* one correctly rounded division */
  } else {
    char tmp[128];
    if (s.n >= sizeof tmp) return "is too long";
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = 0;
    v = strtod(tmp, NULL); /* the grammar is already checked: no hex, nan, inf */
    if (!isfinite(v)) return "is out of range";
    *out = v;
    return NULL;
  }
  *out = d.neg ? -v : v;
  return NULL;
}

/* A time: unix seconds with an optional fraction, or milliseconds when the
 * value is above 1e11. Exact: no binary floating point on the usual path. */
static const char *parse_time(lt_str_t s, int64_t *ms) {
  dec_t d;
  s = trim(s);
  const char *why = dec_scan(s, &d);
  if (why) return why;
  if (d.neg) return "must not be negative";
  if (d.has_exp) {
    double v;
    if ((why = parse_num(s, &v))) return why;
    if (v > 1e11) {
      if (v > (double)MAX_TIME_MS) return "is out of range";
      *ms = llround(v);
    } else {
      *ms = llround(v * 1000.0);
    }
    return NULL;
  }
  uint64_t ip = 0;
  for (size_t i = 0; i < d.nip; i++) {
    if (ip > (uint64_t)MAX_TIME_MS) return "is out of range";
    ip = ip * 10 + (unsigned)(d.ip[i] - '0');
  }
  if (ip > (uint64_t)MAX_TIME_MS) return "is out of range";
  int frac_nonzero = 0;
  for (size_t i = 0; i < d.nfp; i++)
    frac_nonzero |= d.fp[i] != '0';
  uint64_t v;
  if (ip > 100000000000ull || (ip == 100000000000ull && frac_nonzero)) { /* ms */
    v = ip + (d.nfp && d.fp[0] >= '5');
  } else { /* seconds: keep 3 fraction digits, round on the 4th */
    uint64_t f = 0;
    for (size_t i = 0; i < 3; i++)
      f = f * 10 + (i < d.nfp ? (unsigned)(d.fp[i] - '0') : 0);
    v = ip * 1000 + f + (d.nfp > 3 && d.fp[3] >= '5');
  }
  if (v > (uint64_t)MAX_TIME_MS) return "is out of range";
  *ms = (int64_t)v;
  return NULL;
}

/* ---- formats ---- */

typedef struct fmt fmt_t;
struct fmt {
  const char *name;
  unsigned csv_flags;
  char sep;
  size_t max_field;
  /* Looks at the first row: maps columns, sets *is_header. Returns 0 or
   * LT_EPARSE with fmt->why set (whole-file error). */
  int (*setup)(fmt_t *f, const lt_csv_row_t *first, int *is_header);
  /* Fills *r from a data row; returns NULL or the reason the row is bad. */
  const char *(*row)(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r);
  /* header-named columns; -1 = absent */
  int col[12];
  uint32_t need;       /* fields a data row must have: max required column + 1 */
  int header_required; /* a malformed first row is a whole-file error */
  int lines;           /* one record per line: lines of blanks are skipped */
  char *scratch;       /* ndjson: unescaped strings of the current line */
  size_t scratch_cap;
  char why[192];
};

/* Writes "<col> <problem>" into f->why and returns it. */
static const char *field_why(fmt_t *f, const char *col, const char *problem) {
  snprintf(f->why, sizeof f->why, "%s %s", col, problem);
  return f->why;
}

static const lt_str_t *cell(const lt_csv_row_t *row, int col) {
  static const lt_str_t none = {"", 0};
  return col >= 0 && (uint32_t)col < row->n ? &row->f[col] : &none;
}

static void event_defaults(lt_record_t *r) {
  memset(r, 0, sizeof *r);
  r->kind = LT_REC_EVENT;
  r->u.ev.type = LT_EV_PLAY;
  r->u.ev.position = -1;
}

/* Required id column: non-empty, UTF-8. */
static const char *take_id(fmt_t *f, const char *col, lt_str_t v, lt_str_t *out) {
  if (!v.n) return field_why(f, col, "is empty");
  if (!lt_csv_utf8_ok(v.p, v.n)) return field_why(f, col, "is not valid UTF-8");
  *out = v;
  return NULL;
}

static const char *wrap(fmt_t *f, const char *col, const char *why) {
  return why ? field_why(f, col, why) : NULL;
}

static int need_columns(fmt_t *f, const lt_csv_row_t *hdr, const char *const *names, int n,
                        int nrequired, const char *hint) {
  f->need = 0;
  for (int i = 0; i < n; i++) {
    f->col[i] = lt_csv_col(hdr, names[i]);
    if (i < nrequired) {
      if (f->col[i] < 0) {
        snprintf(f->why, sizeof f->why, "missing column \"%s\" in the header (%s)", names[i], hint);
        return LT_EPARSE;
      }
      if ((uint32_t)f->col[i] + 1 > f->need) f->need = (uint32_t)f->col[i] + 1;
    }
  }
  return LT_OK;
}

static const char *short_row(fmt_t *f, const lt_csv_row_t *row) {
  if (row->n >= f->need) return NULL;
  snprintf(f->why, sizeof f->why, "row has %u fields, expected at least %u", row->n, f->need);
  return f->why;
}

/* kuairec */

enum { K_USER, K_ITEM, K_PLAY, K_DUR, K_TS, K_RATIO };
static const char *const kuairec_cols[] = {"user_id",        "video_id",  "play_duration",
                                           "video_duration", "timestamp", "watch_ratio"};

static int kuairec_setup(fmt_t *f, const lt_csv_row_t *first, int *is_header) {
  *is_header = 1;
  return need_columns(f, first, kuairec_cols, 6, 6,
                      "KuaiRec expects user_id,video_id,play_duration,video_duration,time,date,"
                      "timestamp,watch_ratio");
}

static const char *kuairec_row(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r) {
  const char *why;
  uint64_t u;
  double ratio;
  lt_event_t *e = &r->u.ev;
  event_defaults(r);
  if ((why = short_row(f, row))) return why;
  if ((why = take_id(f, "user_id", row->f[f->col[K_USER]], &e->user))) return why;
  if ((why = take_id(f, "video_id", row->f[f->col[K_ITEM]], &e->item))) return why;
  if ((why = wrap(f, "play_duration", parse_uint(row->f[f->col[K_PLAY]], UINT32_MAX, &u))))
    return why;
  e->watch_ms = (uint32_t)u;
  if ((why = wrap(f, "video_duration", parse_uint(row->f[f->col[K_DUR]], UINT32_MAX, &u))))
    return why;
  e->duration_ms = (uint32_t)u;
  if ((why = wrap(f, "timestamp", parse_time(row->f[f->col[K_TS]], &e->ts_ms)))) return why;
  if ((why = wrap(f, "watch_ratio", parse_num(row->f[f->col[K_RATIO]], &ratio)))) return why;
  e->weight = ratio < 0 ? 0.0f : ratio > 1e6 ? 1e6f : (float)ratio;
  return NULL;
}

/* movielens: u.data (TAB), ratings.csv (',' + header), ratings.dat ("::") */

static int ml_setup(fmt_t *f, const lt_csv_row_t *first, int *is_header) {
  static const char *const names[] = {"userId", "movieId", "rating", "timestamp"};
  if (f->sep == ':') { /* "1::1193::5::978300760" splits as 1,,1193,,5,,978300760 */
    *is_header = 0;
    for (int i = 0; i < 4; i++)
      f->col[i] = 2 * i;
    f->need = 7;
    return LT_OK;
  }
  *is_header = lt_csv_col(first, "userId") >= 0;
  if (*is_header)
    return need_columns(f, first, names, 4, 4,
                        "MovieLens ratings.csv expects userId,movieId,rating,timestamp");
  for (int i = 0; i < 4; i++)
    f->col[i] = i;
  f->need = 4;
  return LT_OK;
}

static const char *ml_row(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r) {
  const char *why;
  double rating;
  uint64_t ts;
  lt_event_t *e = &r->u.ev;
  event_defaults(r);
  if ((why = short_row(f, row))) return why;
  if (f->sep == ':' && (row->n != 7 || row->f[1].n || row->f[3].n || row->f[5].n))
    return "expected user::item::rating::timestamp";
  if ((why = take_id(f, "user", row->f[f->col[0]], &e->user))) return why;
  if ((why = take_id(f, "item", row->f[f->col[1]], &e->item))) return why;
  if ((why = wrap(f, "rating", parse_num(row->f[f->col[2]], &rating)))) return why;
  if (rating < 0 || rating > 1e6) return field_why(f, "rating", "must be in [0, 1e6]");
  e->weight = (float)rating;
  if ((why =
           wrap(f, "timestamp", parse_uint(row->f[f->col[3]], (uint64_t)MAX_TIME_MS / 1000, &ts))))
    return why;
  e->ts_ms = (int64_t)ts * 1000;
  return NULL;
}

/* csv: header-named event columns */

enum {
  C_USER,
  C_ITEM,
  C_TS,
  C_TYPE,
  C_WATCH,
  C_DUR,
  C_WEIGHT,
  C_ID,
  C_VALUE,
  C_REQ,
  C_POS,
  C_PROP
};
static const char *const csv_cols[] = {"user",     "item",        "ts",       "type",
                                       "watch_ms", "duration_ms", "weight",   "id",
                                       "value",    "request_id",  "position", "propensity"};

static int csv_setup(fmt_t *f, const lt_csv_row_t *first, int *is_header) {
  *is_header = 1;
  return need_columns(f, first, csv_cols, 12, 2,
                      "the csv format needs user,item and optionally ts,type,watch_ms,duration_ms,"
                      "weight,id,value,request_id,position,propensity");
}

/* An optional cell: absent or empty means "keep the default". */
static int present(const lt_csv_row_t *row, int col) { return trim(*cell(row, col)).n > 0; }

static const char *csv_row(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r) {
  const char *why;
  uint64_t u;
  int64_t i;
  double d;
  lt_event_t *e = &r->u.ev;
  const int *c = f->col;
  event_defaults(r);
  if ((why = short_row(f, row))) return why;
  if ((why = take_id(f, "user", row->f[c[C_USER]], &e->user))) return why;
  if ((why = take_id(f, "item", row->f[c[C_ITEM]], &e->item))) return why;
  if (present(row, c[C_TS]) && (why = wrap(f, "ts", parse_time(*cell(row, c[C_TS]), &e->ts_ms))))
    return why;
  if (present(row, c[C_TYPE])) {
    lt_str_t t = trim(*cell(row, c[C_TYPE]));
    int type;
    if (lt_event_type_parse(t.p, t.n, &type)) return field_why(f, "type", "is not an event type");
    e->type = (uint8_t)type;
  }
  if (present(row, c[C_WATCH])) {
    if ((why = wrap(f, "watch_ms", parse_uint(*cell(row, c[C_WATCH]), UINT32_MAX, &u)))) return why;
    e->watch_ms = (uint32_t)u;
  }
  if (present(row, c[C_DUR])) {
    if ((why = wrap(f, "duration_ms", parse_uint(*cell(row, c[C_DUR]), UINT32_MAX, &u))))
      return why;
    e->duration_ms = (uint32_t)u;
  }
  if (present(row, c[C_WEIGHT])) {
    if ((why = wrap(f, "weight", parse_num(*cell(row, c[C_WEIGHT]), &d)))) return why;
    if (!(d >= 0 && d <= 1e6)) return field_why(f, "weight", "must be in [0, 1e6]");
    e->weight = (float)d;
  }
  if (present(row, c[C_PROP])) {
    if ((why = wrap(f, "propensity", parse_num(*cell(row, c[C_PROP]), &d)))) return why;
    if (!(d >= 0 && d <= 1)) return field_why(f, "propensity", "must be in [0, 1]");
    e->propensity = (float)d;
  }
  if (present(row, c[C_VALUE])) {
    if ((why = wrap(f, "value", parse_int(*cell(row, c[C_VALUE]), INT64_MAX, &i)))) return why;
    e->value = i;
  }
  if (present(row, c[C_POS])) {
    if ((why = wrap(f, "position", parse_uint(*cell(row, c[C_POS]), INT32_MAX, &u)))) return why;
    e->position = (int32_t)u;
  }
  lt_str_t s = *cell(row, c[C_ID]);
  if (s.n && (why = take_id(f, "id", s, &e->id))) return why;
  s = *cell(row, c[C_REQ]);
  if (s.n && (why = take_id(f, "request_id", s, &e->request_id))) return why;
  return NULL;
}

/* users: user,groups ("staff;ops") */

static int users_setup(fmt_t *f, const lt_csv_row_t *first, int *is_header) {
  static const char *const names[] = {"user", "groups"};
  *is_header = 1;
  return need_columns(f, first, names, 2, 1, "the users format needs user,groups");
}

static const char *users_row(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r) {
  const char *why;
  memset(r, 0, sizeof *r);
  r->kind = LT_REC_USER_PUT;
  lt_user_rec_t *u = &r->u.user;
  if ((why = short_row(f, row))) return why;
  if ((why = take_id(f, "user", row->f[f->col[0]], &u->id))) return why;
  lt_str_t g = *cell(row, f->col[1]);
  const char *p = g.p, *e = g.p + g.n;
  while (p < e) {
    const char *semi = memchr(p, ';', (size_t)(e - p));
    if (!semi) semi = e;
    lt_str_t one = trim((lt_str_t){p, (size_t)(semi - p)});
    if (one.n) {
      if (u->ngroups == LT_MAX_GROUPS) return "groups: more than 16";
      if (!lt_csv_utf8_ok(one.p, one.n)) return "groups: not valid UTF-8";
      u->groups[u->ngroups++] = one;
    }
    p = semi + 1;
  }
  return NULL;
}

/* ndjson: one event object per line */

static int ndjson_setup(fmt_t *f, const lt_csv_row_t *first, int *is_header) {
  *is_header = 0;
  return LT_OK;
}

static const char *ndjson_row(fmt_t *f, const lt_csv_row_t *row, lt_record_t *r) {
  const char *err = "invalid event";
  memset(r, 0, sizeof *r);
  r->kind = LT_REC_EVENT;
  if (row->f[0].n > f->scratch_cap) {
    char *p = realloc(f->scratch, row->f[0].n);
    if (!p) return "out of memory";
    f->scratch = p;
    f->scratch_cap = row->f[0].n;
  }
  if (lt_json_event_parse(row->f[0].p, row->f[0].n, 0, f->scratch, &r->u.ev, &err)) return err;
  return NULL;
}

static int pick_format(const char *name, fmt_t *f) {
  memset(f, 0, sizeof *f);
  for (int i = 0; i < 12; i++)
    f->col[i] = -1;
  f->sep = ',';
  f->name = name;
  if (!strcmp(name, "kuairec")) {
    f->setup = kuairec_setup, f->row = kuairec_row, f->header_required = 1;
  } else if (!strcmp(name, "movielens")) {
    f->setup = ml_setup, f->row = ml_row;
  } else if (!strcmp(name, "csv")) {
    f->setup = csv_setup, f->row = csv_row, f->header_required = 1;
  } else if (!strcmp(name, "users")) {
    f->setup = users_setup, f->row = users_row, f->header_required = 1;
  } else if (!strcmp(name, "ndjson")) {
    f->setup = ndjson_setup, f->row = ndjson_row;
    f->csv_flags = LT_CSV_LINES;
    f->lines = 1;
    f->max_field = NDJSON_MAX_LINE;
  } else {
    return LT_EINVAL;
  }
  return LT_OK;
}

/* MovieLens: the first line tells u.data (TAB) from ratings.dat ("::") from
 * ratings.csv (','). */
static void ml_sniff(fmt_t *f, const char *p, size_t n) {
  const char *nl = memchr(p, '\n', n);
  size_t m = nl ? (size_t)(nl - p) : n;
  if (memchr(p, '\t', m))
    f->sep = '\t';
  else if (memmem(p, m, "::", 2))
    f->sep = ':';
  else
    f->sep = ',';
}

/* ---- the loop ---- */

typedef struct run {
  const lt_import_opts_t *o;
  lt_import_report_t *rep;
  int max_reported;
  FILE *progress;
  uint64_t total_bytes, t0, last_print;
} run_t;

static int bad_row(run_t *m, uint64_t line, const char *reason) {
  lt_import_report_t *rep = m->rep;
  rep->bad_rows++;
  if (rep->nbad_reported < (uint32_t)m->max_reported) {
    rep->bad[rep->nbad_reported].line = line;
    snprintf(rep->bad[rep->nbad_reported].reason, sizeof rep->bad[0].reason, "%s", reason);
    rep->nbad_reported++;
  }
  return m->o->strict ? LT_EPARSE : LT_OK;
}

static void fmt_duration(char *buf, size_t n, double s) {
  if (!(s >= 0) || s > 1e7)
    snprintf(buf, n, "?");
  else if (s < 3600)
    snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
  else
    snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

static void show_progress(run_t *m, lt_csv_t *c, int final) {
  uint64_t now = lt_mono_ns();
  if (!final && now - m->last_print < 250000000ull) return;
  m->last_print = now;
  double el = (double)(now - m->t0) / 1e9;
  double rate = el > 0 ? (double)m->rep->rows / el : 0;
  uint64_t done = lt_csv_bytes_read(c);
  char eta[32] = "", pct[16] = "";
  if (m->total_bytes) {
    double frac = (double)done / (double)m->total_bytes;
    if (frac > 1) frac = 1;
    snprintf(pct, sizeof pct, "  %5.1f%%", frac * 100);
    if (!final && frac > 0) {
      char d[24];
      fmt_duration(d, sizeof d, el / frac - el);
      snprintf(eta, sizeof eta, "  ETA %s", d);
    }
  }
  fprintf(m->progress, "\r\033[Kimport: %llu rows  %.2fM rows/s%s%s  %llu bad%s",
          (unsigned long long)m->rep->rows, rate / 1e6, pct, eta,
          (unsigned long long)m->rep->bad_rows, final ? "\n" : "");
  fflush(m->progress);
}

static int run(fmt_t *f, lt_csv_t *c, const lt_import_opts_t *o, lt_import_sink_fn sink, void *ctx,
               lt_import_report_t *rep, uint64_t total_bytes) {
  run_t m = {.o = o, .rep = rep, .total_bytes = total_bytes};
  m.max_reported = o->max_reported == 0 ? 5 : o->max_reported < 0 ? 0 : o->max_reported;
  if (m.max_reported > LT_IMPORT_MAX_REPORTED) m.max_reported = LT_IMPORT_MAX_REPORTED;
  if (o->progress && isatty(fileno(o->progress))) m.progress = o->progress;
  m.t0 = m.last_print = lt_mono_ns();

  lt_csv_row_t row;
  lt_record_t r;
  int rc, first = 1;
  /* sized for the input (a file may still grow: ndjson_row checks) */
  f->scratch_cap =
      total_bytes && total_bytes < NDJSON_MAX_LINE ? (size_t)total_bytes : NDJSON_MAX_LINE;
  if (f->lines && !(f->scratch = malloc(f->scratch_cap))) {
    rc = LT_ENOMEM;
    snprintf(rep->error, sizeof rep->error, "out of memory");
    goto done;
  }
  for (;;) {
    rc = lt_csv_next(c, &row);
    if (rc == 0) break;
    if (rc < 0 && rc != LT_EPARSE) {
      snprintf(rep->error, sizeof rep->error, "line %llu: %s", (unsigned long long)row.line,
               lt_csv_errmsg(c));
      goto done;
    }
    if (first) {
      first = 0;
      int is_header = 0;
      if (rc == LT_EPARSE && f->header_required) {
        snprintf(rep->error, sizeof rep->error, "line %llu: header: %s",
                 (unsigned long long)row.line, lt_csv_errmsg(c));
        goto done;
      }
      lt_csv_row_t none = {row.f, 0, row.line};
      int src = f->setup(f, rc == LT_EPARSE ? &none : &row, &is_header);
      if (src) {
        rc = src;
        snprintf(rep->error, sizeof rep->error, "%s", f->why);
        goto done;
      }
      if (is_header && rc != LT_EPARSE) continue;
    }
    if (f->lines && rc == 1 && !trim(row.f[0]).n) continue;
    rep->rows++;
    const char *why;
    if (rc == LT_EPARSE)
      why = lt_csv_errmsg(c);
    else if (!(why = f->row(f, &row, &r)) && lt_record_check(&r, &why) && !why)
      why = "invalid record";
    if (why) {
      if ((rc = bad_row(&m, row.line, why))) goto done;
    } else {
      if ((rc = sink(ctx, &r)) < 0) goto done;
      rep->records++;
    }
    if (m.progress && !(rep->rows & 16383)) show_progress(&m, c, 0);
  }
  if (first && f->header_required) {
    snprintf(rep->error, sizeof rep->error, "empty file: expected a header row");
    rc = LT_EPARSE;
    goto done;
  }
  rc = LT_OK;
done:
  free(f->scratch);
  f->scratch = NULL;
  if (m.progress) show_progress(&m, c, 1);
  rep->seconds = (double)(lt_mono_ns() - m.t0) / 1e9;
  return rc;
}

static int prepare(const char *format, const lt_import_opts_t *opts, lt_import_sink_fn sink,
                   lt_import_report_t *out, fmt_t *f, lt_csv_opts_t *co) {
  if (!out) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  if (!format || !sink) {
    snprintf(out->error, sizeof out->error, "missing format or sink");
    return LT_EINVAL;
  }
  if (pick_format(format, f)) {
    snprintf(out->error, sizeof out->error,
             "unknown format \"%.40s\" (kuairec, movielens, csv, ndjson, users)", format);
    return LT_EINVAL;
  }
  memset(co, 0, sizeof *co);
  co->flags = f->csv_flags;
  co->max_field = f->max_field;
  if (f->max_field > LT_CSV_MAX_ROW) co->max_row = f->max_field + 16;
  return LT_OK;
}

int lt_import_file(const char *format, const char *path, const lt_import_opts_t *opts,
                   lt_import_sink_fn sink, void *ctx, lt_import_report_t *out) {
  static const lt_import_opts_t defaults = {0};
  fmt_t f;
  lt_csv_opts_t co;
  lt_csv_t *c = NULL;
  int fd = -1, rc;
  if ((rc = prepare(format, opts, sink, out, &f, &co))) return rc;
  if (!path) {
    snprintf(out->error, sizeof out->error, "missing path");
    return LT_EINVAL;
  }
  if (!opts) opts = &defaults;

  int use_stdin = !strcmp(path, "-");
  fd = use_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = lt_err_from_errno(errno);
    snprintf(out->error, sizeof out->error, "%.120s: %s", path, strerror(errno));
    goto cleanup;
  }
  struct stat st;
  uint64_t size = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) size = (uint64_t)st.st_size;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    rc = LT_EIO;
    snprintf(out->error, sizeof out->error, "%.120s: is a directory", path);
    goto cleanup;
  }
#ifdef POSIX_FADV_SEQUENTIAL
  if (size) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  if (f.setup == ml_setup) {
    char head[4096];
    ssize_t n = size ? pread(fd, head, sizeof head, 0) : -1;
    if (n > 0)
      ml_sniff(&f, head, (size_t)n);
    else
      f.sep = '\t'; /* not seekable: assume u.data */
  }
  co.sep = f.sep;
  if ((rc = lt_csv_open_fd(&c, fd, &co))) goto cleanup;
  rc = run(&f, c, opts, sink, ctx, out, size);

cleanup:
  lt_csv_free(c);
  if (fd >= 0 && !use_stdin) close(fd);
  return rc;
}

int lt_import_mem(const char *format, const void *p, size_t n, const lt_import_opts_t *opts,
                  lt_import_sink_fn sink, void *ctx, lt_import_report_t *out) {
  static const lt_import_opts_t defaults = {0};
  fmt_t f;
  lt_csv_opts_t co;
  lt_csv_t *c = NULL;
  int rc;
  if ((rc = prepare(format, opts, sink, out, &f, &co))) return rc;
  lt_import_opts_t o = opts ? *opts : defaults;
  o.progress = NULL;
  if (f.setup == ml_setup) ml_sniff(&f, p, n);
  co.sep = f.sep;
  if ((rc = lt_csv_open_mem(&c, p, n, &co))) return rc;
  rc = run(&f, c, &o, sink, ctx, out, n);
  lt_csv_free(c);
  return rc;
}
