/*
 * json.c — event and catalog JSON codecs (schema in json.h).
 *
 * Two parsers, one set of rules. The rules for each event field (types,
 * ranges, messages) live once, in event_set(), over a small value view
 * (jv_t). Two front ends feed it:
 *   - cJSON trees, for lt_json_event_decode() and the catalog bodies (the
 *     HTTP server already holds a tree);
 *   - a strict RFC 8259 scanner for lt_json_events_parse(), the ingestion
 *     hot path. cJSON costs ~20 allocations per event (keys and strings are
 *     strdup'd), calls strtod and localeconv() per number and strncmp per
 *     literal; keeping 1,000 such trees alive for a batch measured 0.4-0.9M
 *     events/s. The scanner allocates nothing per event: strings are views
 *     into the body, copied (once, into one batch arena sized by the body)
 *     only when they hold escapes; integers and short decimals are
 *     converted exactly without strtod.
 * fuzz/fuzz_json_events.c checks the two front ends against each other.
 *
 * Decoding walks an object's members once and dispatches on the key, so a
 * known key given twice is an error rather than one of the two silently
 * winning. A bad value records the first error and the scan goes on to the
 * end of the object, so one bad element rejects only its own index.
 * lt_record_check() is the final gate for everything decoded here.
 *
 * Numbers are doubles, as in cJSON: integers are accepted when integral and
 * in range (8300.0 is 8300).
 *
 * Scanner invariants:
 *   1. It never reads outside [p, end): NDJSON lines are scanned in place.
 *   2. Nesting deeper than MAX_DEPTH (cJSON's limit, 1000) is a syntax
 *      error; skipping uses an explicit stack, not recursion.
 *   3. A syntax error in an array body fails the whole body; in NDJSON it
 *      rejects only its line (lines cannot share a value: JSON strings may
 *      not hold a raw newline).
 */
#include "io/json.h"

#include "core/error.h"
#include "io/csv.h" /* lt_csv_utf8_ok */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIME_MS LT_TS_MAX_MS /* record.h: the latest time state accepts (2149) */
#define MAX_DEPTH 1000

#define FAIL(msg)                                                                                  \
  do {                                                                                             \
    if (err) *err = (msg);                                                                         \
    return LT_EINVAL;                                                                              \
  } while (0)

/* ---- values ---- */

/* A JSON value as the field rules see it, whichever parser produced it. */
enum { JV_NULL, JV_FALSE, JV_TRUE, JV_NUM, JV_STR, JV_OBJ, JV_ARR };
typedef struct jv {
  int t;
  lt_str_t s; /* JV_STR */
  double d;   /* JV_NUM */
} jv_t;

static int jv_uint(const jv_t *v, double max, double *out) {
  if (v->t != JV_NUM || !(v->d >= 0 && v->d <= max) || v->d != floor(v->d)) return 0;
  *out = v->d;
  return 1;
}

static int jv_time(const jv_t *v, int64_t *ms) {
  if (v->t != JV_NUM || !(v->d >= 0)) return 0;
  if (v->d > 1e11) { /* milliseconds */
    if (v->d > (double)MAX_TIME_MS) return 0;
    *ms = llround(v->d);
  } else {
    *ms = llround(v->d * 1000.0);
  }
  return 1;
}

static int jv_utf8(const jv_t *v, lt_str_t *out) {
  if (v->t != JV_STR || !lt_csv_utf8_ok(v->s.p, v->s.n)) return 0;
  *out = v->s;
  return 1;
}

static jv_t jv_of(const cJSON *v) {
  jv_t j = {JV_NULL, {NULL, 0}, 0};
  if (cJSON_IsString(v) && v->valuestring) {
    j.t = JV_STR;
    j.s.p = v->valuestring;
    j.s.n = strlen(v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    j.t = JV_NUM;
    j.d = v->valuedouble;
  } else if (cJSON_IsTrue(v)) {
    j.t = JV_TRUE;
  } else if (cJSON_IsFalse(v)) {
    j.t = JV_FALSE;
  } else if (cJSON_IsObject(v)) {
    j.t = JV_OBJ;
  } else if (cJSON_IsArray(v)) {
    j.t = JV_ARR;
  }
  return j;
}

static int is_absent(const cJSON *v) { return v == NULL || cJSON_IsNull(v); }

static int get_str(const cJSON *v, lt_str_t *out) {
  jv_t j = jv_of(v);
  if (j.t != JV_STR) return 0;
  *out = j.s;
  return 1;
}

static int get_utf8(const cJSON *v, lt_str_t *out) {
  jv_t j = jv_of(v);
  return jv_utf8(&j, out);
}

static int get_uint(const cJSON *v, double max, double *out) {
  jv_t j = jv_of(v);
  return jv_uint(&j, max, out);
}

static int get_time(const cJSON *v, int64_t *ms) {
  jv_t j = jv_of(v);
  return jv_time(&j, ms);
}

/* The final gate shared by all decoders. */
static int gate(const lt_record_t *r, const char **err) {
  const char *why = NULL;
  if (lt_record_check(r, &why)) FAIL(why ? why : "invalid record");
  return LT_OK;
}

/* ---- events ---- */

enum {
  E_ID,
  E_TS,
  E_USER,
  E_ITEM,
  E_TYPE,
  E_WATCH,
  E_VALUE,
  E_REQ,
  E_POS,
  E_WEIGHT,
  E_PROP,
  E_DUR
};

/* Which event field a key names, or -1. */
static int event_key(const char *k, size_t n) {
  switch (n) {
  case 2:
    return !memcmp(k, "id", 2) ? E_ID : !memcmp(k, "ts", 2) ? E_TS : -1;
  case 4:
    return !memcmp(k, "user", 4)   ? E_USER
           : !memcmp(k, "item", 4) ? E_ITEM
           : !memcmp(k, "type", 4) ? E_TYPE
                                   : -1;
  case 5:
    return !memcmp(k, "value", 5) ? E_VALUE : -1;
  case 6:
    return !memcmp(k, "weight", 6) ? E_WEIGHT : -1;
  case 8:
    return !memcmp(k, "watch_ms", 8) ? E_WATCH : !memcmp(k, "position", 8) ? E_POS : -1;
  case 10:
    return !memcmp(k, "request_id", 10) ? E_REQ : !memcmp(k, "propensity", 10) ? E_PROP : -1;
  case 11:
    return !memcmp(k, "duration_ms", 11) ? E_DUR : -1;
  default:
    return -1;
  }
}

typedef struct ev_state {
  unsigned given; /* bit per field named in the object (null included) */
  int have_user, have_item;
  const char *err; /* first problem found */
} ev_state_t;

static void event_init(lt_event_t *out, int64_t now_ms, ev_state_t *st) {
  memset(out, 0, sizeof *out);
  out->type = LT_EV_PLAY;
  out->position = -1;
  out->ts_ms = now_ms;
  st->given = 0;
  st->have_user = st->have_item = 0;
  st->err = NULL;
}

/* Applies field k = v to *out (null = absent); on a bad value records the
 * first error and goes on, so a caller scanning text can finish the object. */
static void event_set(lt_event_t *out, int k, const jv_t *v, ev_state_t *st) {
  double d;
  const char *e = NULL;
  if (st->given & (1u << k)) {
    e = "duplicate field in event";
    goto done;
  }
  st->given |= 1u << k;
  if (v->t == JV_NULL) goto done;
  switch (k) {
  case E_ID:
    if (!jv_utf8(v, &out->id)) e = "id must be a UTF-8 string";
    break;
  case E_TS:
    if (!jv_time(v, &out->ts_ms))
      e = "ts must be unix seconds (or milliseconds) between 1970 and 2149";
    break;
  case E_USER:
    if (!jv_utf8(v, &out->user) || !out->user.n) e = "user must be a non-empty UTF-8 string";
    st->have_user = 1;
    break;
  case E_ITEM:
    if (!jv_utf8(v, &out->item) || !out->item.n) e = "item must be a non-empty UTF-8 string";
    st->have_item = 1;
    break;
  case E_TYPE: {
    int t;
    if (v->t != JV_STR || lt_event_type_parse(v->s.p, v->s.n, &t))
      e = "type must be one of impression, play, like, comment, share, follow, unfollow, "
          "not_interested, purchase, gift, ad_impression, ad_click, ad_conversion";
    else
      out->type = (uint8_t)t;
    break;
  }
  case E_WATCH:
    if (!jv_uint(v, 4294967295.0, &d))
      e = "watch_ms must be a non-negative integer < 2^32";
    else
      out->watch_ms = (uint32_t)d;
    break;
  case E_VALUE:
    if (v->t != JV_NUM || !(fabs(v->d) <= 9007199254740992.0) || v->d != floor(v->d))
      e = "value must be an integer (|value| <= 2^53)";
    else
      out->value = (int64_t)v->d;
    break;
  case E_REQ:
    if (!jv_utf8(v, &out->request_id)) e = "request_id must be a UTF-8 string";
    break;
  case E_POS:
    if (!jv_uint(v, 2147483647.0, &d))
      e = "position must be a non-negative integer < 2^31";
    else
      out->position = (int32_t)d;
    break;
  case E_WEIGHT:
    if (v->t != JV_NUM || !(v->d >= 0 && v->d <= 1e6))
      e = "weight must be a number in [0, 1e6]";
    else
      out->weight = (float)v->d;
    break;
  case E_PROP:
    if (v->t != JV_NUM || !(v->d >= 0 && v->d <= 1))
      e = "propensity must be a number in [0, 1]";
    else
      out->propensity = (float)v->d;
    break;
  case E_DUR:
    if (!jv_uint(v, 4294967295.0, &d))
      e = "duration_ms must be a non-negative integer < 2^32";
    else
      out->duration_ms = (uint32_t)d;
    break;
  }
done:
  if (e && !st->err) st->err = e;
}

static int event_finish(lt_event_t *out, ev_state_t *st, const char **err) {
  if (!st->err && !st->have_user) st->err = "user is required";
  if (!st->err && !st->have_item) st->err = "item is required";
  if (st->err) FAIL(st->err);
  lt_record_t r = {.kind = LT_REC_EVENT};
  r.u.ev = *out;
  return gate(&r, err);
}

int lt_json_event_decode(const cJSON *obj, int64_t now_ms, lt_event_t *out, const char **err) {
  ev_state_t st;
  event_init(out, now_ms, &st);
  if (!cJSON_IsObject(obj)) FAIL("event must be a JSON object");
  for (const cJSON *v = obj->child; v; v = v->next) {
    if (!v->string) continue;
    int k = event_key(v->string, strlen(v->string));
    if (k < 0) continue;
    jv_t j = jv_of(v);
    event_set(out, k, &j, &st);
  }
  return event_finish(out, &st, err);
}

/* ---- catalog bodies ---- */

static int key_index(const char *k, const char *const *keys, int nkeys) {
  if (!k) return -1;
  for (int i = 0; i < nkeys; i++)
    if (k[0] == keys[i][0] && !strcmp(k, keys[i])) return i;
  return -1;
}

/* The record id: from the URL, else from the body's "id"; both must agree. */
static int take_id(const cJSON *body_id, lt_str_t url_id, lt_str_t *out, const char **err) {
  lt_str_t b = {NULL, 0};
  if (!is_absent(body_id) && !get_utf8(body_id, &b)) FAIL("id must be a UTF-8 string");
  if (url_id.n) {
    if (!lt_csv_utf8_ok(url_id.p, url_id.n)) FAIL("id is not valid UTF-8");
    if (b.p && (b.n != url_id.n || memcmp(b.p, url_id.p, b.n)))
      FAIL("id in the body does not match the id in the URL");
    *out = url_id;
  } else {
    if (!b.n) FAIL("id is required");
    *out = b;
  }
  return LT_OK;
}

/* An array of up to max non-empty UTF-8 strings. */
static int get_str_array(const cJSON *v, lt_str_t *out, uint32_t max, uint32_t *n) {
  if (!cJSON_IsArray(v)) return 0;
  uint32_t k = 0;
  for (const cJSON *e = v->child; e; e = e->next) {
    if (k == max) return 0;
    if (!get_utf8(e, &out[k]) || !out[k].n) return 0;
    k++;
  }
  *n = k;
  return 1;
}

enum { I_ID, I_CREATOR, I_KIND, I_DUR, I_TAGS, I_PUB, I_AIGC, I_PRODUCT, I_LIVE };
static const char *const item_keys[] = {"id",           "creator", "kind",    "duration_ms", "tags",
                                        "published_at", "aigc",    "product", "live"};

int lt_json_item_decode(const cJSON *obj, lt_str_t id, lt_item_rec_t *out, const char **err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(obj)) FAIL("item must be a JSON object");
  const cJSON *f[9] = {0};
  for (const cJSON *v = obj->child; v; v = v->next) {
    int k = key_index(v->string, item_keys, 9);
    if (k < 0) continue;
    if (f[k]) FAIL("duplicate field in item");
    f[k] = v;
  }
  if (take_id(f[I_ID], id, &out->id, err)) return LT_EINVAL;
  if (is_absent(f[I_CREATOR]) || !get_utf8(f[I_CREATOR], &out->creator) || !out->creator.n)
    FAIL("creator is required (a non-empty UTF-8 string)");
  if (!is_absent(f[I_KIND])) {
    lt_str_t s;
    int kind;
    if (!get_str(f[I_KIND], &s) || lt_item_kind_parse(s.p, s.n, &kind))
      FAIL("kind must be video, live or drama");
    out->kind = (uint8_t)kind;
  }
  double d;
  if (!is_absent(f[I_DUR])) {
    if (!get_uint(f[I_DUR], 4294967295.0, &d))
      FAIL("duration_ms must be a non-negative integer < 2^32");
    out->duration_ms = (uint32_t)d;
  }
  if (!is_absent(f[I_TAGS]) && !get_str_array(f[I_TAGS], out->tags, LT_MAX_TAGS, &out->ntags))
    FAIL("tags must be an array of at most 16 non-empty UTF-8 strings");
  if (!is_absent(f[I_PUB]) && !get_time(f[I_PUB], &out->published_at_ms))
    FAIL("published_at must be a non-negative time in seconds (or milliseconds)");
  if (!is_absent(f[I_AIGC])) {
    if (!cJSON_IsBool(f[I_AIGC])) FAIL("aigc must be true or false");
    out->aigc = cJSON_IsTrue(f[I_AIGC]) ? 1 : 0;
  }
  if (!is_absent(f[I_PRODUCT])) {
    const cJSON *p = f[I_PRODUCT], *pid = NULL, *price = NULL;
    if (!cJSON_IsObject(p)) FAIL("product must be an object {\"id\", \"price_cents\"}");
    for (const cJSON *v = p->child; v; v = v->next) {
      if (!v->string) continue;
      const cJSON **slot = !strcmp(v->string, "id")            ? &pid
                           : !strcmp(v->string, "price_cents") ? &price
                                                               : NULL;
      if (!slot) continue;
      if (*slot) FAIL("duplicate field in product");
      *slot = v;
    }
    if (is_absent(pid) || !get_utf8(pid, &out->product_id) || !out->product_id.n)
      FAIL("product.id is required (a non-empty UTF-8 string)");
    if (!is_absent(price)) {
      if (!get_uint(price, 9007199254740992.0, &d))
        FAIL("product.price_cents must be a non-negative integer");
      out->price_cents = (int64_t)d;
    }
  }
  if (!is_absent(f[I_LIVE])) {
    const cJSON *l = f[I_LIVE], *st = NULL, *en = NULL;
    if (!cJSON_IsObject(l)) FAIL("live must be an object {\"start\", \"end\"}");
    for (const cJSON *v = l->child; v; v = v->next) {
      if (!v->string) continue;
      const cJSON **slot = !strcmp(v->string, "start") ? &st
                           : !strcmp(v->string, "end") ? &en
                                                       : NULL;
      if (!slot) continue;
      if (*slot) FAIL("duplicate field in live");
      *slot = v;
    }
    if (!is_absent(st) && !get_time(st, &out->live_start_ms))
      FAIL("live.start must be a non-negative time in seconds (or milliseconds)");
    if (!is_absent(en) && !get_time(en, &out->live_end_ms))
      FAIL("live.end must be a non-negative time in seconds (or milliseconds)");
  }
  lt_record_t r = {.kind = LT_REC_ITEM_PUT};
  r.u.item = *out;
  return gate(&r, err);
}

int lt_json_user_decode(const cJSON *obj, lt_str_t id, lt_user_rec_t *out, const char **err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(obj)) FAIL("user must be a JSON object");
  const cJSON *fid = NULL, *groups = NULL;
  for (const cJSON *v = obj->child; v; v = v->next) {
    if (!v->string) continue;
    const cJSON **slot = !strcmp(v->string, "id")       ? &fid
                         : !strcmp(v->string, "groups") ? &groups
                                                        : NULL;
    if (!slot) continue;
    if (*slot) FAIL("duplicate field in user");
    *slot = v;
  }
  if (take_id(fid, id, &out->id, err)) return LT_EINVAL;
  if (!is_absent(groups) && !get_str_array(groups, out->groups, LT_MAX_GROUPS, &out->ngroups))
    FAIL("groups must be an array of at most 16 non-empty UTF-8 strings");
  lt_record_t r = {.kind = LT_REC_USER_PUT};
  r.u.user = *out;
  return gate(&r, err);
}

int lt_json_creator_decode(const cJSON *obj, lt_str_t id, lt_creator_rec_t *out, const char **err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(obj)) FAIL("creator must be a JSON object");
  const cJSON *fid = NULL, *name = NULL, *created = NULL;
  for (const cJSON *v = obj->child; v; v = v->next) {
    if (!v->string) continue;
    const cJSON **slot = !strcmp(v->string, "id")           ? &fid
                         : !strcmp(v->string, "name")       ? &name
                         : !strcmp(v->string, "created_at") ? &created
                                                            : NULL;
    if (!slot) continue;
    if (*slot) FAIL("duplicate field in creator");
    *slot = v;
  }
  if (take_id(fid, id, &out->id, err)) return LT_EINVAL;
  if (!is_absent(name) && !get_utf8(name, &out->name)) FAIL("name must be a UTF-8 string");
  if (!is_absent(created) && !get_time(created, &out->created_at_ms))
    FAIL("created_at must be a non-negative time in seconds (or milliseconds)");
  lt_record_t r = {.kind = LT_REC_CREATOR_PUT};
  r.u.creator = *out;
  return gate(&r, err);
}

/* ---- batches ---- */

typedef struct batch_priv {
  char *arena; /* unescaped strings of accepted events; as long as the body */
  size_t cap;  /* slots in ev / ev_index / rej */
} batch_priv_t;

typedef struct sc {
  const unsigned char *p, *end;
  char *arena; /* unescaped strings go here; room for the whole input */
  size_t arena_used;
} sc_t;

/* bytes that end a run of plain string content */
static const unsigned char str_stop[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1};

static inline void sc_ws(sc_t *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (c | 0x20) - 'a' + 10;
    else
      return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

/* Scans a string at s->p ('"'). *raw receives the content between the
 * quotes, *esc whether it holds escapes. Returns 0 or -1 (syntax). */
static int sc_str(sc_t *s, lt_str_t *raw, int *esc) {
  const unsigned char *p = s->p + 1, *e = s->end;
  *esc = 0;
  for (;;) {
    while (p < e && !str_stop[*p])
      p++;
    if (p >= e || *p < 0x20) return -1;
    if (*p == '"') break;
    *esc = 1;
    if (++p >= e) return -1;
    switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      p++;
      break;
    case 'u': {
      unsigned cp, lo;
      if (hex4(p + 1, e, &cp)) return -1;
      p += 5;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, e, &lo) || lo < 0xDC00 ||
            lo > 0xDFFF)
          return -1;
        p += 6;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return -1;
      }
      break;
    }
    default:
      return -1;
    }
  }
  raw->p = (const char *)s->p + 1;
  raw->n = (size_t)(p - (s->p + 1));
  s->p = p + 1;
  return 0;
}

/* Unescapes a string sc_str accepted into dst (room for raw.n bytes: the
 * result is never longer). Returns the length. */
static size_t unescape(lt_str_t raw, char *dst) {
  const unsigned char *p = (const unsigned char *)raw.p, *e = p + raw.n;
  char *w = dst;
  while (p < e) {
    if (*p != '\\') {
      *w++ = (char)*p++;
      continue;
    }
    p++;
    switch (*p++) {
    case 'b':
      *w++ = '\b';
      break;
    case 'f':
      *w++ = '\f';
      break;
    case 'n':
      *w++ = '\n';
      break;
    case 'r':
      *w++ = '\r';
      break;
    case 't':
      *w++ = '\t';
      break;
    case 'u': {
      unsigned cp = 0, lo = 0xDC00;
      hex4(p, e, &cp);
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        hex4(p + 2, e, &lo);
        p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (cp < 0x80) {
        *w++ = (char)cp;
      } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
      } else {
        *w++ = (char)(0xF0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
      }
      break;
    }
    default:
      *w++ = (char)p[-1];
      break; /* " \ / */
    }
  }
  return (size_t)(w - dst);
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Scans a number (RFC 8259 grammar) into *out, correctly rounded: exactly
 * when the digits fit 2^53 and the scale 10^22 (one IEEE division), else
 * by strtod. Returns 0 or -1 (syntax). */
static int sc_num(sc_t *s, double *out) {
  const unsigned char *p = s->p, *e = s->end, *start = p;
  int neg = 0, sig = 0, nfrac = 0, slow = 0;
  uint64_t m = 0;
  if (*p == '-') neg = 1, p++;
  if (p >= e) return -1;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
      if (sig < 19)
        m = m * 10 + (*p - '0'), sig++;
      else
        slow = 1;
    }
  } else {
    return -1;
  }
  if (p < e && *p == '.') {
    p++;
    if (p >= e || *p < '0' || *p > '9') return -1;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
      if (sig < 19 && nfrac < 23) {
        m = m * 10 + (*p - '0');
        nfrac++;
        if (m) sig++;
      } else {
        slow = 1;
      }
    }
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    slow = 1;
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || *p < '0' || *p > '9') return -1;
    while (p < e && *p >= '0' && *p <= '9')
      p++;
  }
  s->p = p;
  if (!slow && m <= (1ull << 53) && nfrac <= 22) {
    double d = (double)m / pow10_exact[nfrac];
    *out = neg ? -d : d;
    return 0;
  }
  char tmp[64], *buf = tmp;
  size_t n = (size_t)(p - start);
  if (n >= sizeof tmp && !(buf = malloc(n + 1))) return -1;
  memcpy(buf, start, n);
  buf[n] = 0;
  *out = strtod(buf, NULL); /* C locale: laotie never calls setlocale */
  if (buf != tmp) free(buf);
  return 0;
}

static int sc_lit(sc_t *s, const char *lit, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n)) return -1;
  s->p += n;
  return 0;
}

/* Skips any value, validating it. Iterative: an explicit stack of open
 * brackets, at most MAX_DEPTH - depth0 deep. Returns 0 or -1 (syntax). */
static int sc_skip(sc_t *s, int depth0) {
  unsigned char stack[MAX_DEPTH];
  int depth = 0, max = MAX_DEPTH - depth0;
  lt_str_t raw;
  int esc;
  double d;
  for (;;) {
    /* a value */
    sc_ws(s);
    if (s->p >= s->end) return -1;
    switch (*s->p) {
    case '{':
    case '[':
      if (depth >= max) return -1;
      stack[depth++] = *s->p == '{' ? '}' : ']';
      s->p++;
      sc_ws(s);
      if (s->p < s->end && *s->p == stack[depth - 1]) {
        s->p++;
        depth--;
        goto after_value;
      }
      if (stack[depth - 1] == ']') continue;
      goto key;
    case '"':
      if (sc_str(s, &raw, &esc)) return -1;
      goto after_value;
    case 't':
      if (sc_lit(s, "true", 4)) return -1;
      goto after_value;
    case 'f':
      if (sc_lit(s, "false", 5)) return -1;
      goto after_value;
    case 'n':
      if (sc_lit(s, "null", 4)) return -1;
      goto after_value;
    default:
      if (sc_num(s, &d)) return -1;
      goto after_value;
    }
  key:
    sc_ws(s);
    if (s->p >= s->end || *s->p != '"' || sc_str(s, &raw, &esc)) return -1;
    sc_ws(s);
    if (s->p >= s->end || *s->p != ':') return -1;
    s->p++;
    continue;
  after_value:
    for (;;) {
      if (depth == 0) return 0;
      sc_ws(s);
      if (s->p >= s->end) return -1;
      if (*s->p == ',') {
        s->p++;
        if (stack[depth - 1] == '}') goto key;
        break; /* next array element */
      }
      if (*s->p != stack[depth - 1]) return -1;
      s->p++;
      depth--;
    }
  }
}

/* Reads a value for a known field: scalars into *v (strings unescaped into
 * the arena when needed), containers skipped and typed. 0 or -1. */
static int sc_field_value(sc_t *s, jv_t *v) {
  int esc;
  v->t = JV_NULL;
  switch (*s->p) {
  case '"':
    if (sc_str(s, &v->s, &esc)) return -1;
    v->t = JV_STR;
    if (esc) { /* the arena holds as many bytes as the input: it cannot overflow */
      char *dst = s->arena + s->arena_used;
      v->s.n = unescape(v->s, dst);
      v->s.p = dst;
      s->arena_used += v->s.n;
    }
    return 0;
  case 't':
    v->t = JV_TRUE;
    return sc_lit(s, "true", 4);
  case 'f':
    v->t = JV_FALSE;
    return sc_lit(s, "false", 5);
  case 'n':
    return sc_lit(s, "null", 4);
  case '{':
    v->t = JV_OBJ;
    return sc_skip(s, 1);
  case '[':
    v->t = JV_ARR;
    return sc_skip(s, 1);
  default:
    v->t = JV_NUM;
    return sc_num(s, &v->d);
  }
}

/* Scans an event object at s->p ('{'). Returns -1 on a syntax error, else
 * 0 with *err NULL (accepted into *out) or the reason it was rejected. */
static int sc_event(sc_t *s, int64_t now_ms, lt_event_t *out, const char **err) {
  ev_state_t st;
  event_init(out, now_ms, &st);
  size_t arena_mark = s->arena_used;
  s->p++;
  sc_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
  } else {
    for (;;) {
      lt_str_t key;
      int esc, k;
      sc_ws(s);
      if (s->p >= s->end || *s->p != '"' || sc_str(s, &key, &esc)) return -1;
      if (!esc) {
        k = event_key(key.p, key.n);
      } else {
        char kb[128]; /* "duration_ms" spelled in \u escapes is 66 bytes */
        k = key.n <= sizeof kb ? event_key(kb, unescape(key, kb)) : -1;
      }
      sc_ws(s);
      if (s->p >= s->end || *s->p != ':') return -1;
      s->p++;
      sc_ws(s);
      if (s->p >= s->end) return -1;
      if (k < 0) {
        if (sc_skip(s, 1)) return -1;
      } else {
        jv_t v;
        if (sc_field_value(s, &v)) return -1;
        event_set(out, k, &v, &st);
      }
      sc_ws(s);
      if (s->p >= s->end) return -1;
      if (*s->p == ',') {
        s->p++;
        continue;
      }
      if (*s->p != '}') return -1;
      s->p++;
      break;
    }
  }
  *err = NULL;
  if (event_finish(out, &st, err)) s->arena_used = arena_mark; /* nothing points there */
  return 0;
}

static int body_fail(lt_json_batch_t *b, int rc, const char *msg) {
  snprintf(b->error, sizeof b->error, "%s", msg);
  return rc;
}

/* Makes room for at least want elements (want <= max). */
static int batch_grow(lt_json_batch_t *b, size_t want, size_t max) {
  batch_priv_t *pv = b->priv_;
  if (want <= pv->cap) return 0;
  size_t ncap = pv->cap ? pv->cap * 2 : 64;
  if (ncap < want) ncap = want;
  if (ncap > max) ncap = max;
  lt_event_t *ev = realloc(b->ev, ncap * sizeof *ev);
  if (ev) b->ev = ev;
  uint32_t *ix = realloc(b->ev_index, ncap * sizeof *ix);
  if (ix) b->ev_index = ix;
  lt_json_reject_t *rj = realloc(b->rej, ncap * sizeof *rj);
  if (rj) b->rej = rj;
  if (!ev || !ix || !rj) return LT_ENOMEM;
  pv->cap = ncap;
  return 0;
}

static void batch_add(lt_json_batch_t *b, const char *err) {
  if (!err) {
    b->ev_index[b->n++] = (uint32_t)b->total;
  } else {
    b->rej[b->nrej].index = (uint32_t)b->total;
    b->rej[b->nrej++].error = err;
  }
  b->total++;
}

/* One element at s->p (not whitespace), decoded into the next free event
 * slot: *err is NULL when accepted, else why not. -1 on a syntax error. */
static int sc_element(sc_t *s, lt_json_batch_t *b, int64_t now_ms, const char **err) {
  if (*s->p == '{') return sc_event(s, now_ms, &b->ev[b->n], err);
  if (sc_skip(s, 1)) return -1;
  *err = "event must be a JSON object";
  return 0;
}

static int parse_ndjson(sc_t *s, const char *body, size_t len, int64_t now_ms, size_t max,
                        lt_json_batch_t *b) {
  const char *end = body + len;
  size_t count = 0;
  for (const char *p = body; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    while (p < nl && (*p == ' ' || *p == '\t' || *p == '\r'))
      p++;
    if (p < nl && ++count > max) {
      snprintf(b->error, sizeof b->error, "too many events (at most %zu per request)", max);
      return LT_ETOOBIG;
    }
    p = nl + 1;
  }
  if (!count) return body_fail(b, LT_EPARSE, "empty body: expected one JSON event per line");
  if (batch_grow(b, count, count)) return body_fail(b, LT_ENOMEM, "out of memory");
  for (const char *p = body; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    s->p = (const unsigned char *)p;
    s->end = (const unsigned char *)nl;
    sc_ws(s);
    if (s->p < s->end) {
      const char *err;
      if (sc_element(s, b, now_ms, &err)) {
        err = "malformed JSON";
      } else {
        sc_ws(s);
        if (s->p < s->end) err = "malformed JSON: more than one value on the line";
      }
      batch_add(b, err);
    }
    p = nl + 1;
  }
  return LT_OK;
}

int lt_json_event_parse(const char *text, size_t len, int64_t now_ms, char *scratch,
                        lt_event_t *out, const char **err) {
  const char *why = NULL;
  sc_t s = {(const unsigned char *)text, (const unsigned char *)text + len, scratch, 0};
  sc_ws(&s);
  if (s.p >= s.end) {
    why = "empty: expected a JSON event object";
  } else if (*s.p != '{') {
    why = sc_skip(&s, 0) ? "malformed JSON" : "event must be a JSON object";
  } else if (sc_event(&s, now_ms, out, &why)) {
    why = "malformed JSON";
  } else {
    sc_ws(&s);
    if (s.p < s.end)
      why = "malformed JSON: more than one value";
    else if (why)
      FAIL(why);
    else
      return LT_OK;
  }
  if (err) *err = why;
  return LT_EPARSE;
}

static int events_parse(const char *body, size_t len, int ndjson, int64_t now_ms, size_t max_events,
                        lt_json_batch_t *out) {
  if (!body && len) return body_fail(out, LT_EINVAL, "no body");
  if (!body) body = ""; /* an empty request body: no NULL + 0 below */
  if (!max_events) max_events = LT_JSON_MAX_EVENTS;
  if (max_events > UINT32_MAX) max_events = UINT32_MAX;

  batch_priv_t *pv = calloc(1, sizeof *pv);
  if (!pv) return body_fail(out, LT_ENOMEM, "out of memory");
  out->priv_ = pv;
  if (len && !(pv->arena = malloc(len))) return body_fail(out, LT_ENOMEM, "out of memory");
  sc_t s = {(const unsigned char *)body, (const unsigned char *)body + len, pv->arena, 0};
  if (ndjson) return parse_ndjson(&s, body, len, now_ms, max_events, out);

  sc_ws(&s);
  if (s.p >= s.end) return body_fail(out, LT_EPARSE, "empty body: expected JSON");
  if (*s.p == '{') {
    const char *err;
    if (batch_grow(out, 1, 1)) return body_fail(out, LT_ENOMEM, "out of memory");
    if (sc_element(&s, out, now_ms, &err)) goto malformed;
    batch_add(out, err);
  } else if (*s.p == '[') {
    s.p++;
    sc_ws(&s);
    if (s.p < s.end && *s.p == ']') {
      s.p++;
    } else {
      for (;;) {
        sc_ws(&s);
        if (s.p >= s.end) goto malformed;
        if (out->total == max_events) {
          snprintf(out->error, sizeof out->error, "too many events (at most %zu per request)",
                   max_events);
          return LT_ETOOBIG;
        }
        const char *err;
        if (batch_grow(out, out->total + 1, max_events))
          return body_fail(out, LT_ENOMEM, "out of memory");
        if (sc_element(&s, out, now_ms, &err)) goto malformed;
        batch_add(out, err);
        sc_ws(&s);
        if (s.p >= s.end) goto malformed;
        if (*s.p == ',') {
          s.p++;
          continue;
        }
        if (*s.p != ']') goto malformed;
        s.p++;
        break;
      }
    }
  } else {
    if (sc_skip(&s, 0)) goto malformed;
    sc_ws(&s);
    if (s.p < s.end) goto malformed;
    return body_fail(out, LT_EPARSE, "body must be a JSON object or an array of objects");
  }
  sc_ws(&s);
  if (s.p < s.end) {
    snprintf(out->error, sizeof out->error,
             "malformed JSON: data after the value at byte %zu (NDJSON needs ndjson mode)",
             (size_t)(s.p - (const unsigned char *)body));
    return LT_EPARSE;
  }
  return LT_OK;

malformed:
  snprintf(out->error, sizeof out->error, "malformed JSON near byte %zu",
           (size_t)(s.p - (const unsigned char *)body));
  return LT_EPARSE;
}

int lt_json_events_parse(const char *body, size_t len, int ndjson, int64_t now_ms,
                         size_t max_events, lt_json_batch_t *out) {
  memset(out, 0, sizeof *out);
  int rc = events_parse(body, len, ndjson, now_ms, max_events, out);
  if (rc) out->n = out->nrej = out->total = 0; /* a failed body has no elements */
  return rc;
}

void lt_json_batch_free(lt_json_batch_t *b) {
  if (!b) return;
  batch_priv_t *pv = b->priv_;
  if (pv) {
    free(pv->arena);
    free(pv);
  }
  free(b->ev);
  free(b->ev_index);
  free(b->rej);
  memset(b, 0, sizeof *b);
}
