/*
 * fuzz_json_events.c — libFuzzer target for the event JSON codecs
 * (src/io/json.c).
 *
 * Input: byte 0 picks the mode (bit 0: NDJSON), the rest is the body.
 * Checks:
 *   - lt_json_events_parse never crashes, returns elements only on
 *     success, and the accepted and rejected indices partition 0..total-1
 *     in order; every accepted event passes lt_record_check and has UTF-8
 *     ids;
 *   - differential: where cJSON also parses the body (or line), decoding
 *     each element with lt_json_event_decode over the cJSON tree gives the
 *     same accept/reject decision and the same event, field for field.
 *     (cJSON is laxer — leading zeros, raw control characters, "1." — so
 *     "we reject, cJSON accepts" is allowed; "we accept, cJSON rejects" is
 *     a bug unless cJSON's own limits are the cause: numbers over 63
 *     characters, which it truncates, and its nesting limit.) Bodies with
 *     \u0000 are skipped: cJSON truncates such strings at the NUL.
 *   - lt_json_event_parse on the whole body agrees with the batch parser
 *     when the body is one object.
 */
#include "core/error.h"
#include "io/csv.h"
#include "io/json.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1764261000123LL
#define MAX 64

static int only_ws(const char *p, const char *e) {
  for (; p < e; p++)
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') return 0;
  return 1;
}

static int str_eq(lt_str_t a, lt_str_t b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

static void same_event(const lt_event_t *a, const lt_event_t *b) {
  if (!str_eq(a->id, b->id) || !str_eq(a->user, b->user) || !str_eq(a->item, b->item) ||
      !str_eq(a->request_id, b->request_id) || a->ts_ms != b->ts_ms || a->type != b->type ||
      a->watch_ms != b->watch_ms || a->value != b->value || a->position != b->position ||
      a->duration_ms != b->duration_ms || a->weight != b->weight ||
      a->propensity != b->propensity) {
    fprintf(stderr, "scanner and cJSON decode differ\n");
    abort();
  }
}

/* cJSON limits that make it reject valid JSON: long numbers, deep nesting. */
static int cjson_limited(const char *p, size_t n) {
  size_t run = 0, depth = 0, maxdepth = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    run = ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
              ? run + 1
              : 0;
    if (run > 60) return 1;
    if (c == '[' || c == '{') depth++;
    if ((c == ']' || c == '}') && depth) depth--;
    if (depth > maxdepth) maxdepth = depth;
  }
  return maxdepth > 900;
}

/* Element e (from cJSON) vs what the batch said about index i. */
static void compare_element(const cJSON *e, const lt_json_batch_t *b, size_t *ia, size_t *ir,
                            uint32_t index) {
  lt_event_t ref;
  const char *err = NULL;
  if (*ir < b->nrej && b->rej[*ir].index == index && !strncmp(b->rej[*ir].error, "malformed", 9)) {
    (*ir)++; /* cJSON is laxer (e.g. any byte <= 32 is whitespace to it) */
    return;
  }
  int ok = lt_json_event_decode(e, NOW, &ref, &err) == 0;
  if (ok) {
    if (*ia >= b->n || b->ev_index[*ia] != index) {
      fprintf(stderr, "index %u: cJSON decode accepts, scanner rejects (%s)\n", index,
              *ir < b->nrej ? b->rej[*ir].error : "?");
      abort();
    }
    same_event(&b->ev[*ia], &ref);
    (*ia)++;
  } else {
    if (*ir >= b->nrej || b->rej[*ir].index != index) {
      fprintf(stderr, "index %u: cJSON decode rejects (%s), scanner accepts\n", index, err);
      abort();
    }
    (*ir)++;
  }
}

static void check_batch(const lt_json_batch_t *b, int rc) {
  if (rc) {
    if (b->n || b->nrej || b->total || !b->error[0]) abort();
    return;
  }
  if (b->n + b->nrej != b->total || b->total > MAX) abort();
  size_t ia = 0, ir = 0;
  for (uint32_t i = 0; i < b->total; i++) {
    if (ia < b->n && b->ev_index[ia] == i) {
      lt_record_t r = {.kind = LT_REC_EVENT};
      r.u.ev = b->ev[ia];
      if (lt_record_check(&r, NULL)) abort();
      if (!lt_csv_utf8_ok(r.u.ev.user.p, r.u.ev.user.n) ||
          !lt_csv_utf8_ok(r.u.ev.item.p, r.u.ev.item.n) ||
          !lt_csv_utf8_ok(r.u.ev.id.p, r.u.ev.id.n))
        abort();
      ia++;
    } else if (ir < b->nrej && b->rej[ir].index == i && b->rej[ir].error) {
      ir++;
    } else {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int ndjson = data[0] & 1;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  /* a heap copy of exactly len bytes: ASan sees any read past the end */
  char *copy = malloc(len ? len : 1);
  memcpy(copy, body, len);
  body = copy;

  lt_json_batch_t b;
  int rc = lt_json_events_parse(body, len, ndjson, NOW, MAX, &b);
  check_batch(&b, rc);

  int skip_diff = memmem(body, len, "u0000", 5) != NULL || cjson_limited(body, len);
  if (!ndjson && !skip_diff && (rc == 0 || rc == LT_EPARSE)) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    int cj_ok =
        root && end && only_ws(end, body + len) && (cJSON_IsObject(root) || cJSON_IsArray(root));
    if (rc == 0 && !cj_ok) {
      fprintf(stderr, "scanner accepts a body cJSON rejects\n");
      abort();
    }
    if (rc == 0) {
      size_t ia = 0, ir = 0;
      if (cJSON_IsObject(root)) {
        compare_element(root, &b, &ia, &ir, 0);
      } else {
        uint32_t i = 0;
        for (const cJSON *e = root->child; e; e = e->next)
          compare_element(e, &b, &ia, &ir, i++);
      }
      if (ia != b.n || ir != b.nrej) abort();
    }
    cJSON_Delete(root);
  }
  if (ndjson && rc == 0 && !skip_diff) {
    size_t ia = 0, ir = 0;
    uint32_t index = 0;
    for (const char *p = body, *e = body + len; p < e;) {
      const char *nl = memchr(p, '\n', (size_t)(e - p));
      if (!nl) nl = e;
      if (!only_ws(p, nl)) {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(p, (size_t)(nl - p), &end, 0);
        int cj_ok = root && end && only_ws(end, nl);
        if (cj_ok) {
          compare_element(root, &b, &ia, &ir, index);
        } else { /* cJSON rejects the line: we must too */
          if (ir >= b.nrej || b.rej[ir].index != index) {
            fprintf(stderr, "line %u: scanner accepts what cJSON rejects\n", index);
            abort();
          }
          ir++;
        }
        cJSON_Delete(root);
        index++;
      }
      p = nl + 1;
    }
  }

  /* the single-object parser agrees with the batch on a lone object */
  const char *first = body;
  while (first < body + len &&
         (*first == ' ' || *first == '\t' || *first == '\r' || *first == '\n'))
    first++;
  if (!ndjson && rc == 0 && first < body + len && *first == '{') {
    char *scratch = malloc(len);
    lt_event_t ev;
    const char *err = NULL;
    int r1 = lt_json_event_parse(body, len, NOW, scratch, &ev, &err);
    if (b.n == 1) {
      if (r1 != 0) abort();
      same_event(&ev, &b.ev[0]);
    } else if (r1 != LT_EINVAL || b.nrej != 1 || err != b.rej[0].error) {
      abort();
    }
    free(scratch);
  }
  lt_json_batch_free(&b);
  free(copy);
  return 0;
}
