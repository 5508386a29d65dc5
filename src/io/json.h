/*
 * json.h — JSON codecs for events and catalog bodies, shared by the HTTP
 * server and the NDJSON importer. The *_decode functions read cJSON trees
 * the caller has parsed; the text parsers (lt_json_events_parse,
 * lt_json_event_parse) use a strict RFC 8259 scanner of their own — several
 * times faster than building cJSON trees; strings without escapes are not copied —
 * with exactly the same field rules. Numbers are doubles either way, so
 * integers are exact up to 2^53.
 *
 * Event schema (every field but user and item optional; unknown fields are
 * ignored; null is the same as absent; a known field given twice is an
 * error):
 *   {"id": "e1", "ts": 1764261000, "user": "u1", "item": "v9",
 *    "type": "play", "watch_ms": 8300, "value": 0, "request_id": "r7",
 *    "position": 3, "weight": 1.0, "propensity": 0.2, "duration_ms": 15000}
 *   ts: unix seconds (fractions allowed) or milliseconds when > 1e11;
 *       absent = now_ms; at most LT_TS_MAX_MS (2149, record.h).
 *   type: an event type name (record.h), default "play".
 *   watch_ms, duration_ms: integers in [0, 2^32); position: integer in
 *   [0, 2^31); value: integer in [-2^53, 2^53]; weight: number in [0, 1e6];
 *   propensity: number in [0, 1].
 * Times in catalog bodies (published_at, live.start, live.end) read as ts.
 *
 * Strings are checked to be UTF-8 where they become ids. cJSON ends a
 * string at an escaped NUL ("a\u0000b" reads as "a"); the text parsers keep
 * the NUL, which lt_record_check then refuses as a control character.
 *
 * Strings in decoded records point into the cJSON tree (or, for the text
 * parsers, into the text or the batch / scratch buffer): valid while those
 * live. Error texts are static.
 */
#ifndef LT_IO_JSON_H
#define LT_IO_JSON_H

#include "state/record.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes one event object into *out (ts defaults to now_ms).
 * Returns 0, or LT_EINVAL with a static reason in *err (err may be NULL). */
int lt_json_event_decode(const cJSON *obj, int64_t now_ms, lt_event_t *out, const char **err);

/* Decodes an item body {"creator": "c3", "kind": "video", "duration_ms":
 * 15000, "tags": ["food"], "published_at": 1764261000, "aigc": false,
 * "product": {"id": "p1", "price_cents": 1999}, "live": {"start": t,
 * "end": t}}. id is the item id from the URL; when empty, the body's "id"
 * is used (and when both are given they must agree). Returns 0 or LT_EINVAL
 * with *err. */
int lt_json_item_decode(const cJSON *obj, lt_str_t id, lt_item_rec_t *out, const char **err);

/* Decodes a user body {"groups": ["staff", "ops"]} (id as for items; ts_ms
 * is left 0 for the caller). Returns 0 or LT_EINVAL with *err. */
int lt_json_user_decode(const cJSON *obj, lt_str_t id, lt_user_rec_t *out, const char **err);

/* Decodes a creator body {"name": "..."} (id as for items; optional
 * "created_at" read as ts, else 0). Returns 0 or LT_EINVAL with *err. */
int lt_json_creator_decode(const cJSON *obj, lt_str_t id, lt_creator_rec_t *out, const char **err);

/* Parses one event object from the text p[0..len) (e.g. an NDJSON line)
 * with the batch parser's scanner, no cJSON tree. Strings point into text,
 * or into scratch (caller's, at least len bytes) when they hold escapes.
 * Returns 0; LT_EINVAL when the JSON is fine but the event is not (*err);
 * LT_EPARSE when the text is not one JSON object (*err). */
int lt_json_event_parse(const char *text, size_t len, int64_t now_ms, char *scratch,
                        lt_event_t *out, const char **err);

/* One element of a batch that was not accepted. */
typedef struct lt_json_reject {
  uint32_t index;    /* 0-based: array element, or non-blank NDJSON line */
  const char *error; /* static text */
} lt_json_reject_t;

/* A parsed batch of events. Strings point into the body (zero copy) or,
 * when they held escapes, into storage the batch owns: valid while both the
 * body and the batch live. */
typedef struct lt_json_batch {
  lt_event_t *ev;        /* accepted events, in body order */
  uint32_t *ev_index;    /* ev_index[i]: index of ev[i] in the body */
  size_t n;              /* number of accepted events */
  lt_json_reject_t *rej; /* rejected elements, in body order */
  size_t nrej;
  size_t total;    /* elements in the body (n + nrej) */
  char error[128]; /* whole-body error when parse failed, else "" */
  void *priv_;     /* owned parse trees */
} lt_json_batch_t;

#define LT_JSON_MAX_EVENTS 10000

/* Parses a request body of events: one object, a JSON array of objects
 * (ndjson == 0), or one object per line (ndjson != 0; blank lines skipped,
 * a malformed line is a rejection of that index, not of the body). ts
 * defaults to now_ms. At most max_events elements (0 = LT_JSON_MAX_EVENTS).
 * *out is always initialised and must be freed with lt_json_batch_free.
 * Returns 0 (per-element results in out), LT_EPARSE (malformed body: not
 * JSON, not an object or array, empty), LT_ETOOBIG (more than max_events)
 * or LT_ENOMEM; out->error says which. */
int lt_json_events_parse(const char *body, size_t len, int ndjson, int64_t now_ms,
                         size_t max_events, lt_json_batch_t *out);

/* Frees what the batch owns (NULL and a zeroed batch are fine). */
void lt_json_batch_free(lt_json_batch_t *b);

#endif
