/*
 * test_json.c — event and catalog JSON codecs (src/io/json.h): the event
 * schema over cJSON trees, the batch scanner (one object, arrays, NDJSON),
 * hostile bodies, and the item / user / creator bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1764261000999LL

static int str_is(lt_str_t s, const char *want) {
  return s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

/* Decodes text as one event through cJSON. Returns the code; *err set. */
static int decode(const char *text, lt_event_t *ev, const char **err, cJSON **tree) {
  *tree = cJSON_Parse(text);
  assert_non_null(*tree);
  *err = NULL;
  return lt_json_event_decode(*tree, NOW, ev, err);
}

/* The error for one event body, through both the cJSON decoder and the
 * scanner; they must agree. NULL when accepted. */
static const char *event_error(const char *text) {
  lt_event_t ev, ev2;
  const char *err = NULL, *err2 = NULL;
  cJSON *t;
  int rc = decode(text, &ev, &err, &t);
  char *scratch = malloc(strlen(text) + 1);
  int rc2 = lt_json_event_parse(text, strlen(text), NOW, scratch, &ev2, &err2);
  assert_int_equal(rc, rc2);
  if (rc) assert_ptr_equal(err, err2);
  free(scratch);
  cJSON_Delete(t);
  return rc ? err : NULL;
}

static void assert_event_error(const char *text, const char *want) {
  const char *err = event_error(text);
  if (!err) fail_msg("accepted: %s", text);
  if (!strstr(err, want)) fail_msg("%s: error \"%s\" lacks \"%s\"", text, err, want);
}

/* ---- one event ---- */

static void test_event_reads_every_field(void **state) {
  lt_event_t ev;
  const char *err;
  cJSON *t;
  assert_int_equal(
      decode("{\"id\": \"e1\", \"ts\": 1764261000, \"user\": \"u1\", \"item\": \"v9\", "
             "\"type\": \"purchase\", \"watch_ms\": 8300, \"value\": 1999, "
             "\"request_id\": \"r7\", \"position\": 3, \"weight\": 1.5, "
             "\"propensity\": 0.2, \"duration_ms\": 15000}",
             &ev, &err, &t),
      0);
  assert_true(str_is(ev.id, "e1"));
  assert_true(str_is(ev.user, "u1"));
  assert_true(str_is(ev.item, "v9"));
  assert_true(str_is(ev.request_id, "r7"));
  assert_int_equal(ev.ts_ms, 1764261000000LL);
  assert_int_equal(ev.type, LT_EV_PURCHASE);
  assert_int_equal(ev.watch_ms, 8300);
  assert_int_equal(ev.value, 1999);
  assert_int_equal(ev.position, 3);
  assert_true(ev.weight == 1.5f);
  assert_true(ev.propensity == 0.2f);
  assert_int_equal(ev.duration_ms, 15000);
  cJSON_Delete(t);
}

static void test_event_defaults(void **state) {
  lt_event_t ev;
  const char *err;
  cJSON *t;
  assert_int_equal(decode("{\"user\": \"u\", \"item\": \"i\"}", &ev, &err, &t), 0);
  assert_int_equal(ev.ts_ms, NOW);
  assert_int_equal(ev.type, LT_EV_PLAY);
  assert_int_equal(ev.position, -1);
  assert_int_equal(ev.id.n, 0);
  assert_int_equal(ev.request_id.n, 0);
  assert_int_equal(ev.watch_ms, 0);
  assert_true(ev.weight == 0 && ev.propensity == 0);
  cJSON_Delete(t);
}

static int64_t ts_of(const char *ts_json) {
  char text[256];
  snprintf(text, sizeof text, "{\"user\":\"u\",\"item\":\"i\",\"ts\":%s}", ts_json);
  lt_event_t ev;
  const char *err;
  cJSON *t;
  int rc = decode(text, &ev, &err, &t);
  cJSON_Delete(t);
  return rc ? -1 : ev.ts_ms;
}

static void test_event_ts_seconds_milliseconds_fractions_and_default(void **state) {
  assert_int_equal(ts_of("1764261000"), 1764261000000LL);
  assert_int_equal(ts_of("1764261000.25"), 1764261000250LL);
  assert_int_equal(ts_of("1764261000123"), 1764261000123LL); /* > 1e11: ms */
  assert_int_equal(ts_of("100000000001"), 100000000001LL);   /* > 1e11: ms (1973) */
  assert_int_equal(ts_of("100000000000"), -1);               /* 1e11 s: year 5138 */
  assert_int_equal(ts_of("5660000000"), LT_TS_MAX_MS);       /* seconds, the last one */
  assert_int_equal(ts_of("5660000000.001"), -1);
  assert_int_equal(ts_of("5660000000001"), -1);
  assert_int_equal(ts_of("0"), 0);
  assert_int_equal(ts_of("null"), NOW);
  assert_int_equal(ts_of("-1"), -1);
  assert_int_equal(ts_of("\"1764261000\""), -1);
  assert_int_equal(ts_of("1e300"), -1);
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"ts\":-5}", "ts must be");
}

static void test_event_type_errors_name_the_field(void **state) {
  assert_event_error("{\"item\":\"i\"}", "user is required");
  assert_event_error("{\"user\":\"u\"}", "item is required");
  assert_event_error("{\"user\":\"\",\"item\":\"i\"}", "user must be a non-empty UTF-8 string");
  assert_event_error("{\"user\":5,\"item\":\"i\"}", "user must be");
  assert_event_error("{\"user\":\"u\",\"item\":[\"i\"]}", "item must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"id\":7}", "id must be a UTF-8 string");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"watch\"}", "type must be one of");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":-1}",
                     "watch_ms must be a non-negative integer");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":1.5}", "watch_ms must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":4294967296}", "watch_ms must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":\"8300\"}", "watch_ms must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"position\":-1}", "position must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"position\":2147483648}", "position must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"value\":0.5}", "value must be an integer");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"value\":1e17}", "value must be an integer");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"weight\":-0.1}", "weight must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"weight\":1e400}", "weight must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"propensity\":1.01}", "propensity must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"duration_ms\":true}", "duration_ms must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"request_id\":{}}", "request_id must be");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"gift\",\"value\":-1}",
                     "value must be >= 0");
}

static void test_event_integral_numbers_are_integers(void **state) {
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":8300.0}"));
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":1e3}"));
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"watch_ms\":4294967295}"));
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"value\":-9007199254740992}"));
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"position\":0}"));
}

static void test_event_null_is_absent_unknown_ignored_duplicates_rejected(void **state) {
  assert_null(event_error("{\"user\":\"u\",\"item\":\"i\",\"id\":null,\"type\":null,"
                          "\"extra\":{\"deep\":[1,{\"x\":null}]},\"User\":5}"));
  assert_event_error("{\"user\":null,\"item\":\"i\"}", "user is required");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"user\":\"v\"}", "duplicate field");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"ts\":null,\"ts\":1}", "duplicate field");
}

static void test_event_ids_must_be_utf8_and_fit_the_record(void **state) {
  assert_event_error("{\"user\":\"\xff\",\"item\":\"i\"}", "UTF-8");
  assert_event_error("{\"user\":\"u\",\"item\":\"i\",\"id\":\"a\\nb\"}", "control characters");
  char big[400];
  snprintf(big, sizeof big, "{\"user\":\"%0300d\",\"item\":\"i\"}", 1);
  assert_event_error(big, "1-255 bytes");
  assert_null(event_error("{\"user\":\"\\u00e9\\ud83d\\ude00\",\"item\":\"\xe4\xb8\xad\"}"));
}

/* ---- batches ---- */

static void test_batch_single_object(void **state) {
  const char *body = " {\"user\":\"u1\",\"item\":\"v1\",\"ts\":1764261000} \n";
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 0, NOW, 0, &b), 0);
  assert_int_equal(b.n, 1);
  assert_int_equal(b.total, 1);
  assert_int_equal(b.ev_index[0], 0);
  assert_true(str_is(b.ev[0].user, "u1"));
  /* no escapes: a view into the body, not a copy */
  assert_true(b.ev[0].user.p > body && b.ev[0].user.p < body + strlen(body));
  assert_int_equal(b.ev[0].ts_ms, 1764261000000LL);
  lt_json_batch_free(&b);
  lt_json_batch_free(&b); /* a freed batch frees again harmlessly */
  lt_json_batch_free(NULL);
}

static void test_batch_array_reports_rejections_by_index(void **state) {
  const char *body = "[{\"user\":\"u1\",\"item\":\"v1\"}, 5, {\"user\":\"u2\"},"
                     " {\"user\":\"u\\\"3\",\"item\":\"v3\",\"type\":\"like\"}, "
                     "{\"item\":\"x\",\"user\":\"y\",\"watch_ms\":-2}]";
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 0, NOW, 0, &b), 0);
  assert_int_equal(b.total, 5);
  assert_int_equal(b.n, 2);
  assert_int_equal(b.ev_index[0], 0);
  assert_int_equal(b.ev_index[1], 3);
  assert_true(str_is(b.ev[1].user, "u\"3")); /* unescaped into the batch */
  assert_int_equal(b.ev[1].type, LT_EV_LIKE);
  assert_int_equal(b.nrej, 3);
  assert_int_equal(b.rej[0].index, 1);
  assert_string_equal(b.rej[0].error, "event must be a JSON object");
  assert_int_equal(b.rej[1].index, 2);
  assert_string_equal(b.rej[1].error, "item is required");
  assert_int_equal(b.rej[2].index, 4);
  assert_non_null(strstr(b.rej[2].error, "watch_ms"));
  lt_json_batch_free(&b);

  assert_int_equal(lt_json_events_parse("[]", 2, 0, NOW, 0, &b), 0);
  assert_int_equal(b.total, 0);
  lt_json_batch_free(&b);
}

static void test_batch_ndjson_lines_are_independent(void **state) {
  const char *body = "{\"user\":\"u1\",\"item\":\"v1\"}\n"
                     "\n"
                     "  \r\n"
                     "{\"user\":\"u2\",\"item\":\n"
                     "{\"user\":\"u3\",\"item\":\"v3\"} {\"user\":\"u4\",\"item\":\"v4\"}\n"
                     "[{\"user\":\"u5\",\"item\":\"v5\"}]\n"
                     "{\"user\":\"u6\",\"item\":\"v6\",\"ts\":1764261000.5}\r\n"
                     "{\"user\":\"u7\",\"item\":\"v7\"}";
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 1, NOW, 0, &b), 0);
  assert_int_equal(b.total, 6); /* blank lines are not elements */
  assert_int_equal(b.n, 3);
  assert_int_equal(b.ev_index[0], 0);
  assert_int_equal(b.ev_index[1], 4);
  assert_int_equal(b.ev[1].ts_ms, 1764261000500LL);
  assert_int_equal(b.ev_index[2], 5);
  assert_int_equal(b.nrej, 3);
  assert_int_equal(b.rej[0].index, 1);
  assert_string_equal(b.rej[0].error, "malformed JSON");
  assert_int_equal(b.rej[1].index, 2);
  assert_non_null(strstr(b.rej[1].error, "more than one value"));
  assert_int_equal(b.rej[2].index, 3);
  assert_string_equal(b.rej[2].error, "event must be a JSON object");
  lt_json_batch_free(&b);
}

static char *repeat_events(int n, int ndjson) {
  char *body = malloc((size_t)n * 40 + 8);
  size_t len = 0;
  if (!ndjson) body[len++] = '[';
  for (int i = 0; i < n; i++)
    len += (size_t)sprintf(body + len, "%s{\"user\":\"u%d\",\"item\":\"i\"}",
                           !i       ? ""
                           : ndjson ? "\n"
                                    : ",",
                           i);
  if (ndjson)
    body[len++] = '\n';
  else
    body[len++] = ']';
  body[len] = 0;
  return body;
}

static void test_batch_too_many_events_fails_the_body(void **state) {
  for (int ndjson = 0; ndjson < 2; ndjson++) {
    char *body = repeat_events(11, ndjson);
    lt_json_batch_t b;
    assert_int_equal(lt_json_events_parse(body, strlen(body), ndjson, NOW, 10, &b), LT_ETOOBIG);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.total, 0);
    assert_non_null(strstr(b.error, "too many events (at most 10"));
    lt_json_batch_free(&b);
    assert_int_equal(lt_json_events_parse(body, strlen(body), ndjson, NOW, 11, &b), 0);
    assert_int_equal(b.n, 11);
    lt_json_batch_free(&b);
    free(body);
  }
  /* the default limit is 10,000 */
  char *body = repeat_events(LT_JSON_MAX_EVENTS + 1, 0);
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 0, NOW, 0, &b), LT_ETOOBIG);
  lt_json_batch_free(&b);
  free(body);
}

static void assert_body_error(const char *body, int ndjson, int rc, const char *want) {
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), ndjson, NOW, 0, &b), rc);
  if (!strstr(b.error, want)) fail_msg("%s: error \"%s\" lacks \"%s\"", body, b.error, want);
  assert_int_equal(b.n + b.nrej + b.total, 0);
  lt_json_batch_free(&b);
}

static void test_batch_malformed_body_is_a_whole_body_error(void **state) {
  assert_body_error("", 0, LT_EPARSE, "empty body");
  assert_body_error(" \n ", 1, LT_EPARSE, "empty body");
  assert_body_error("[{\"user\":\"u\",\"item\":\"i\"}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{\"user\":}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{\"user\":\"u\" \"item\":\"i\"}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("[{\"user\":\"u\",\"item\":\"i\"},]", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{\"a\":01}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{\"a\":\"\\x\"}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{\"a\":\"\\ud800\"}", 0, LT_EPARSE, "malformed JSON");   /* lone surrogate */
  assert_body_error("{\"a\":\"tab\there\"}", 0, LT_EPARSE, "malformed JSON"); /* raw control */
  assert_body_error("{\"a\":tru}", 0, LT_EPARSE, "malformed JSON");
  assert_body_error("{} {}", 0, LT_EPARSE, "data after the value");
  assert_body_error("5", 0, LT_EPARSE, "JSON object or an array");
  assert_body_error("\"events\"", 0, LT_EPARSE, "JSON object or an array");
}

static void test_batch_survives_hostile_nesting(void **state) {
  size_t n = 200000;
  char *body = malloc(n + 64);
  memset(body, '[', n);
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, n, 0, NOW, 0, &b), LT_EPARSE);
  lt_json_batch_free(&b);
  assert_int_equal(lt_json_events_parse(body, n, 1, NOW, 0, &b), 0); /* one bad line */
  assert_int_equal(b.nrej, 1);
  lt_json_batch_free(&b);

  /* 500 levels inside an unknown field are skipped; 5000 are refused */
  for (int depth = 500; depth <= 5000; depth += 4500) {
    size_t len = (size_t)sprintf(body, "{\"user\":\"u\",\"item\":\"i\",\"x\":");
    memset(body + len, '[', (size_t)depth);
    len += (size_t)depth;
    memset(body + len, ']', (size_t)depth);
    len += (size_t)depth;
    body[len++] = '}';
    assert_int_equal(lt_json_events_parse(body, len, 0, NOW, 0, &b), depth == 500 ? 0 : LT_EPARSE);
    if (depth == 500) assert_int_equal(b.n, 1);
    lt_json_batch_free(&b);
  }
  free(body);
}

static void test_batch_huge_strings_reject_only_their_element(void **state) {
  size_t big = 1u << 20;
  char *body = malloc(2 * big + 256);
  size_t len = (size_t)sprintf(body, "[{\"user\":\"");
  memset(body + len, 'x', big);
  len += big;
  len +=
      (size_t)sprintf(body + len, "\",\"item\":\"i\"},{\"user\":\"u\",\"item\":\"i\",\"blob\":\"");
  memset(body + len, 'y', big);
  len += big;
  len += (size_t)sprintf(body + len, "\"}]");
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, len, 0, NOW, 0, &b), 0);
  assert_int_equal(b.nrej, 1);
  assert_int_equal(b.rej[0].index, 0);
  assert_non_null(strstr(b.rej[0].error, "1-255 bytes"));
  assert_int_equal(b.n, 1); /* an unknown huge field is ignored */
  lt_json_batch_free(&b);
  free(body);
}

static void test_batch_escaped_keys_and_strings(void **state) {
  const char *body = "{\"\\u0075ser\":\"\\u00e9\\ud83d\\ude00\",\"item\":\"a\\/b\\\\c\","
                     "\"\\u0064uration_ms\":7}";
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 0, NOW, 0, &b), 0);
  assert_int_equal(b.n, 1);
  assert_true(str_is(b.ev[0].user, "\xc3\xa9\xf0\x9f\x98\x80"));
  assert_true(str_is(b.ev[0].item, "a/b\\c"));
  assert_int_equal(b.ev[0].duration_ms, 7);
  lt_json_batch_free(&b);
}

static void test_batch_strings_outlive_nothing_but_the_body(void **state) {
  /* escaped strings live in the batch: still valid after the body is gone */
  char *body = strdup("{\"user\":\"\\u0041\",\"item\":\"plain\"}");
  lt_json_batch_t b;
  assert_int_equal(lt_json_events_parse(body, strlen(body), 0, NOW, 0, &b), 0);
  memset(body, 'Z', strlen(body));
  assert_true(str_is(b.ev[0].user, "A"));
  free(body);
  lt_json_batch_free(&b);
}

static void test_single_event_parse(void **state) {
  const char *t1 = "{\"user\":\"u\",\"item\":\"i\",\"type\":\"share\"}";
  char scratch[128];
  lt_event_t ev;
  const char *err = NULL;
  assert_int_equal(lt_json_event_parse(t1, strlen(t1), NOW, scratch, &ev, &err), 0);
  assert_int_equal(ev.type, LT_EV_SHARE);
  assert_int_equal(lt_json_event_parse("{\"user\":\"u\"}", 12, NOW, scratch, &ev, &err), LT_EINVAL);
  assert_string_equal(err, "item is required");
  assert_int_equal(lt_json_event_parse("{\"user\"", 7, NOW, scratch, &ev, &err), LT_EPARSE);
  assert_string_equal(err, "malformed JSON");
  assert_int_equal(lt_json_event_parse("[]", 2, NOW, scratch, &ev, &err), LT_EPARSE);
  assert_string_equal(err, "event must be a JSON object");
  assert_int_equal(lt_json_event_parse("  ", 2, NOW, scratch, &ev, &err), LT_EPARSE);
}

/* ---- catalog bodies ---- */

static void test_item_reads_every_field(void **state) {
  cJSON *t = cJSON_Parse("{\"creator\": \"c3\", \"kind\": \"live\", \"duration_ms\": 15000, "
                         "\"tags\": [\"food\", \"travel\"], \"published_at\": 1764261000, "
                         "\"aigc\": true, \"product\": {\"id\": \"p1\", \"price_cents\": 1999}, "
                         "\"live\": {\"start\": 1764261000, \"end\": 1764264600000}, \"x\": 1}");
  lt_item_rec_t it;
  const char *err = NULL;
  assert_int_equal(lt_json_item_decode(t, LT_STR("v9"), &it, &err), 0);
  assert_true(str_is(it.id, "v9"));
  assert_true(str_is(it.creator, "c3"));
  assert_int_equal(it.kind, LT_KIND_LIVE);
  assert_int_equal(it.duration_ms, 15000);
  assert_int_equal(it.ntags, 2);
  assert_true(str_is(it.tags[1], "travel"));
  assert_int_equal(it.published_at_ms, 1764261000000LL);
  assert_int_equal(it.aigc, 1);
  assert_true(str_is(it.product_id, "p1"));
  assert_int_equal(it.price_cents, 1999);
  assert_int_equal(it.live_start_ms, 1764261000000LL);
  assert_int_equal(it.live_end_ms, 1764264600000LL);
  cJSON_Delete(t);
}

static const char *item_error(const char *text, const char *url_id) {
  cJSON *t = cJSON_Parse(text);
  assert_non_null(t);
  lt_item_rec_t it;
  const char *err = NULL;
  int rc = lt_json_item_decode(t, lt_str_of(url_id), &it, &err);
  cJSON_Delete(t);
  return rc ? err : NULL;
}

static void test_item_errors(void **state) {
  assert_null(item_error("{\"creator\":\"c\"}", "v"));
  assert_null(item_error("{\"id\":\"v\",\"creator\":\"c\"}", ""));
  assert_null(item_error("{\"id\":\"v\",\"creator\":\"c\"}", "v"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\"}", ""), "id is required"));
  assert_non_null(strstr(item_error("{\"id\":\"w\",\"creator\":\"c\"}", "v"), "does not match"));
  assert_non_null(strstr(item_error("{}", "v"), "creator is required"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"kind\":\"podcast\"}", "v"), "kind"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"tags\":\"food\"}", "v"), "tags"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"tags\":[\"a\",\"\"]}", "v"), "tags"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"tags\":[\"1\",\"2\",\"3\",\"4\",\"5\","
                                    "\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\","
                                    "\"15\",\"16\",\"17\"]}",
                                    "v"),
                         "at most 16"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"aigc\":1}", "v"), "aigc"));
  assert_non_null(
      strstr(item_error("{\"creator\":\"c\",\"product\":{\"price_cents\":5}}", "v"), "product.id"));
  assert_non_null(
      strstr(item_error("{\"creator\":\"c\",\"product\":{\"id\":\"p\",\"price_cents\":-5}}", "v"),
             "price_cents"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"live\":{\"start\":20,\"end\":10}}", "v"),
                         "live end before start"));
  assert_non_null(
      strstr(item_error("{\"creator\":\"c\",\"published_at\":\"today\"}", "v"), "published_at"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"duration_ms\":-1}", "v"), "duration_ms"));
  assert_non_null(strstr(item_error("{\"creator\":\"c\",\"creator\":\"d\"}", "v"), "duplicate"));
  assert_non_null(item_error("[]", "v"));
}

static void test_user_body_groups(void **state) {
  cJSON *t = cJSON_Parse("{\"groups\": [\"staff\", \"ops\"]}");
  lt_user_rec_t u;
  const char *err = NULL;
  assert_int_equal(lt_json_user_decode(t, LT_STR("alice"), &u, &err), 0);
  assert_true(str_is(u.id, "alice"));
  assert_int_equal(u.ngroups, 2);
  assert_true(str_is(u.groups[1], "ops"));
  cJSON_Delete(t);

  t = cJSON_Parse("{\"id\":\"bob\"}");
  assert_int_equal(lt_json_user_decode(t, LT_STR(""), &u, &err), 0);
  assert_true(str_is(u.id, "bob"));
  assert_int_equal(u.ngroups, 0);
  cJSON_Delete(t);

  t = cJSON_Parse("{\"groups\": [\"a\", 5]}");
  assert_int_equal(lt_json_user_decode(t, LT_STR("x"), &u, &err), LT_EINVAL);
  assert_non_null(strstr(err, "groups"));
  cJSON_Delete(t);
}

static void test_creator_body_name(void **state) {
  cJSON *t = cJSON_Parse("{\"name\": \"Lao Tie\", \"created_at\": 1764261000}");
  lt_creator_rec_t c;
  const char *err = NULL;
  assert_int_equal(lt_json_creator_decode(t, LT_STR("c3"), &c, &err), 0);
  assert_true(str_is(c.id, "c3"));
  assert_true(str_is(c.name, "Lao Tie"));
  assert_int_equal(c.created_at_ms, 1764261000000LL);
  cJSON_Delete(t);

  t = cJSON_Parse("{\"name\": 7}");
  assert_int_equal(lt_json_creator_decode(t, LT_STR("c3"), &c, &err), LT_EINVAL);
  assert_non_null(strstr(err, "name"));
  cJSON_Delete(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_event_reads_every_field),
      cmocka_unit_test(test_event_defaults),
      cmocka_unit_test(test_event_ts_seconds_milliseconds_fractions_and_default),
      cmocka_unit_test(test_event_type_errors_name_the_field),
      cmocka_unit_test(test_event_integral_numbers_are_integers),
      cmocka_unit_test(test_event_null_is_absent_unknown_ignored_duplicates_rejected),
      cmocka_unit_test(test_event_ids_must_be_utf8_and_fit_the_record),
      cmocka_unit_test(test_batch_single_object),
      cmocka_unit_test(test_batch_array_reports_rejections_by_index),
      cmocka_unit_test(test_batch_ndjson_lines_are_independent),
      cmocka_unit_test(test_batch_too_many_events_fails_the_body),
      cmocka_unit_test(test_batch_malformed_body_is_a_whole_body_error),
      cmocka_unit_test(test_batch_survives_hostile_nesting),
      cmocka_unit_test(test_batch_huge_strings_reject_only_their_element),
      cmocka_unit_test(test_batch_escaped_keys_and_strings),
      cmocka_unit_test(test_batch_strings_outlive_nothing_but_the_body),
      cmocka_unit_test(test_single_event_parse),
      cmocka_unit_test(test_item_reads_every_field),
      cmocka_unit_test(test_item_errors),
      cmocka_unit_test(test_user_body_groups),
      cmocka_unit_test(test_creator_body_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
