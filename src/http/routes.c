/*
 * routes.c — the handlers behind each route of the API (table at the end;
 * docs/openapi.yaml documents every one of them).
 *
 * Write handlers decode JSON into records (io/json.h), hand them to
 * lt_store_write (durable per the fsync policy before it returns) and
 * answer with what was accepted. Read handlers read the state and the
 * feed engine; they never take the store's writer lock.
 */
#include "http/http_int.h"
#include "http/routes_ads.h"
#include "http/routes_stats.h"

#include "core/clock.h"
#include "core/error.h"
#include "io/json.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define R(r) (&(r)->out)

static lt_state_t *state_of(lt__req_t *r) { return lt_store_state(r->srv->store); }

lt_ads_t *lt__srv_ads(const lt_server_t *s) { return s->opts.ads; }

/* Maps a store error to an answer. */
static void store_error(lt__req_t *r, int rc) {
  if (rc == LT_EREADONLY || rc == LT_EIO || rc == LT_ENOSPACE)
    lt__error(r, 503, "unavailable", "the event log cannot take writes now (%s); reads go on",
              lt_strerror(rc));
  else if (rc == LT_EINVAL) lt__error(r, 400, "invalid", "invalid record");
  else lt__error(r, 500, "internal", "%s", lt_strerror(rc));
}

/* Parses the request body as one JSON value; answers 400 on failure. */
static cJSON *body_json(lt__req_t *r) {
  if (!r->body.len) {
    lt__error(r, 400, "bad_json", "a JSON body is required");
    return NULL;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)r->body.p, r->body.len);
  if (!j) lt__error(r, 400, "bad_json", "the body is not valid JSON");
  return j;
}

static int id_too_long(lt__req_t *r, lt_str_t s) { return s.n > r->srv->opts.max_id; }

/* ---- health, metrics, stats ---------------------------------------- */

static void h_healthz(lt__req_t *r) {
  lt_state_totals_t t;
  lt_state_totals(state_of(r), &t);
  lt_buf_printf(R(r),
                "{\"status\": \"ok\", \"model_version\": %" PRIu64 ", \"events\": %" PRIu64
                ", \"users\": %" PRIu64 ", \"items\": %" PRIu64 "}\n",
                lt_feed_model_version(r->srv->feed), t.events, t.users, t.items);
  lt__ok(r, 200);
}

static void h_metrics(lt__req_t *r) {
  lt__metrics(r);
  r->content_type = "text/plain; version=0.0.4";
  lt__ok(r, 200);
}

static void h_stats(lt__req_t *r) {
  lt_state_totals_t t;
  lt_state_totals(state_of(r), &t);
  char from[11] = "", to[11] = "";
  if (t.events) {
    lt_day_format(t.min_day, from);
    lt_day_format(t.max_day, to);
  }
  lt_buf_printf(R(r),
                "{\"users\": %" PRIu64 ", \"items\": %" PRIu64 ", \"creators\": %" PRIu64
                ", \"events\": %" PRIu64 ", \"first_day\": \"%s\", \"last_day\": \"%s\", "
                "\"log_bytes\": %" PRIu64 ", \"model_version\": %" PRIu64 "}\n",
                t.users, t.items, t.creators, t.events, from, to,
                lt_log_bytes(lt_store_log(r->srv->store)), lt_feed_model_version(r->srv->feed));
  lt__ok(r, 200);
}

/* ---- events --------------------------------------------------------- */

static void h_events_post(lt__req_t *r) {
  lt_server_t *s = r->srv;
  const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
  int ndjson = ct && (strstr(ct, "ndjson") || strstr(ct, "jsonlines"));
  const char *a = lt__arg(r, "atomic");
  int atomic = a && (!strcmp(a, "1") || !strcmp(a, "true"));
  lt_json_batch_t b;
  int rc = lt_json_events_parse((const char *)r->body.p, r->body.len, ndjson, lt_now_ms(),
                                s->opts.max_batch, &b);
  if (rc == LT_ETOOBIG) {
    lt__error(r, 413, "batch_too_large", "%s (at most %u events per request)", b.error,
              s->opts.max_batch);
    goto out;
  }
  if (rc) {
    lt__error(r, 400, "bad_json", "%s", b.error[0] ? b.error : lt_strerror(rc));
    goto out;
  }
  lt_record_t *recs = b.n ? calloc(b.n, sizeof *recs) : NULL;
  int *status = b.n ? calloc(b.n, sizeof *status) : NULL;
  const char **why = b.n ? calloc(b.n, sizeof *why) : NULL;
  /* rejected: (index, reason) from parsing and from the store, in index order */
  size_t nrej = b.nrej, cap = b.nrej + b.n;
  lt_json_reject_t *rej = cap ? calloc(cap, sizeof *rej) : NULL;
  if ((b.n && (!recs || !status || !why)) || (cap && !rej)) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    goto free_all;
  }
  if (nrej) memcpy(rej, b.rej, nrej * sizeof *rej);
  size_t m = 0;
  uint32_t *index = b.n ? calloc(b.n, sizeof *index) : NULL;
  if (b.n && !index) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    goto free_all;
  }
  for (size_t i = 0; i < b.n; i++) {
    const lt_event_t *e = &b.ev[i];
    if (id_too_long(r, e->user) || id_too_long(r, e->item) || id_too_long(r, e->id)) {
      rej[nrej++] = (lt_json_reject_t){b.ev_index[i], "ids are limited to 128 bytes"};
      continue;
    }
    recs[m].kind = LT_REC_EVENT;
    recs[m].u.ev = *e;
    index[m++] = b.ev_index[i];
  }
  lt_write_result_t res = {0, 0, 0};
  if (atomic && nrej) {
    rc = LT_EINVAL;
  } else {
    /* ad events are billed the auction's price, never what a client sends */
    if (s->opts.ads) lt_ads_stamp(s->opts.ads, recs, m);
    /* impressions get the propensity and exploration code the feed served */
    lt_feed_annotate(s->feed, recs, m);
    rc = lt_store_write(s->store, recs, m, atomic, status, why, &res);
    for (size_t i = 0; i < m; i++)
      if (status[i] == LT_EINVAL) rej[nrej++] = (lt_json_reject_t){index[i], why[i] ? why[i] : "invalid"};
  }
  if (rc && rc != LT_EINVAL) {
    store_error(r, rc);
    free(index);
    goto free_all;
  }
  /* sort rejections by index (insertion sort: usually few) */
  for (size_t i = 1; i < nrej; i++)
    for (size_t j = i; j > 0 && rej[j].index < rej[j - 1].index; j--) {
      lt_json_reject_t t = rej[j];
      rej[j] = rej[j - 1];
      rej[j - 1] = t;
    }
  __atomic_fetch_add(&s->events_accepted, res.accepted, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->events_duplicate, res.duplicates, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->events_rejected, nrej, __ATOMIC_RELAXED);
  lt_buf_t *o = R(r);
  if (rc == LT_EINVAL) { /* atomic batch refused */
    lt_buf_printf(o, "{\"error\": {\"code\": \"batch_rejected\", \"message\": \"atomic batch: "
                     "nothing was written because %zu events are invalid\"}, ",
                  nrej);
  } else {
    lt_buf_u8(o, '{');
  }
  lt_buf_printf(o, "\"accepted\": %u, \"duplicates\": %u, \"rejected\": [", res.accepted,
                res.duplicates);
  for (size_t i = 0; i < nrej; i++) {
    lt_buf_printf(o, "%s{\"index\": %u, \"error\": ", i ? ", " : "", rej[i].index);
    lt__json_cstr(o, rej[i].error);
    lt_buf_u8(o, '}');
  }
  lt_buf_put(o, "]}\n", 3);
  lt__ok(r, rc == LT_EINVAL ? 400 : 200);
  free(index);
free_all:
  free(recs);
  free(status);
  free(why);
  free(rej);
out:
  lt_json_batch_free(&b);
}

/* ---- items ---------------------------------------------------------- */

static int find(lt__req_t *r, lt_ns_t ns, lt_str_t id, uint32_t *out, const char *what) {
  if (lt_state_find(state_of(r), ns, id.p, id.n, out) == LT_OK) return 1;
  lt__error(r, 404, "not_found", "no such %s", what);
  return 0;
}

static void write_one(lt__req_t *r, lt_record_t *rec, unsigned ok_status) {
  int status = 0;
  const char *why = NULL;
  int rc = lt_store_write(r->srv->store, rec, 1, 1, &status, &why, NULL);
  if (rc == LT_EINVAL) {
    lt__error(r, 400, "invalid", "%s", why ? why : "invalid");
    return;
  }
  if (rc) {
    store_error(r, rc);
    return;
  }
  lt__ok(r, ok_status);
}

static void put_item_json(lt__req_t *r, uint32_t iid) {
  lt_state_t *st = state_of(r);
  const lt_item_meta_t *m = lt_state_item(st, iid);
  const lt_item_counters_t *c = lt_state_item_counters(st, iid);
  lt_buf_t *o = R(r);
  lt_buf_put(o, "{\"id\": ", 7);
  lt__json_cstr(o, lt_state_name(st, LT_NS_ITEM, iid));
  lt_buf_put(o, ", \"creator\": ", 13);
  if (m->creator != LT_NONE) lt__json_cstr(o, lt_state_name(st, LT_NS_CREATOR, m->creator));
  else lt_buf_put(o, "null", 4);
  lt_buf_printf(o,
                ", \"kind\": \"%s\", \"duration_ms\": %u, \"aigc\": %s, \"deleted\": %s, "
                "\"published_at\": %.3f, \"tags\": [",
                lt_item_kind_name(m->kind), m->duration_ms, m->aigc ? "true" : "false",
                m->deleted ? "true" : "false", (double)m->published_at_ms / 1000.0);
  for (uint32_t t = 0; t < m->ntags && t < LT_MAX_TAGS; t++) {
    if (t) lt_buf_put(o, ", ", 2);
    lt__json_cstr(o, lt_state_name(st, LT_NS_TAG, m->tags[t]));
  }
  lt_buf_put(o, "]", 1);
  if (m->product != LT_NONE) {
    lt_buf_put(o, ", \"product\": {\"id\": ", 20);
    lt__json_cstr(o, lt_state_name(st, LT_NS_PRODUCT, m->product));
    lt_buf_printf(o, ", \"price_cents\": %" PRId64 "}", m->price_cents);
  }
  if (m->live_start_ms || m->live_end_ms)
    lt_buf_printf(o, ", \"live\": {\"start\": %.3f, \"end\": %.3f}", m->live_start_ms / 1000.0,
                  m->live_end_ms / 1000.0);
  lt_buf_printf(o,
                ", \"counters\": {\"impressions\": %" PRIu64 ", \"plays\": %" PRIu64
                ", \"watch_ms\": %" PRIu64 ", \"completions\": %" PRIu64 ", \"likes\": %" PRIu64
                ", \"comments\": %" PRIu64 ", \"shares\": %" PRIu64 ", \"follows\": %" PRIu64
                ", \"not_interested\": %" PRIu64 ", \"purchases\": %" PRIu64
                ", \"gmv_cents\": %" PRIu64 ", \"gift_cents\": %" PRIu64 "}, \"popularity\": %.4f",
                c->impressions, c->plays, c->watch_ms, c->completions, c->likes, c->comments,
                c->shares, c->follows, c->not_interested, c->purchases, c->gmv_cents,
                c->gift_cents, lt_state_item_pop(st, iid, lt_now_ms()));
  /* the traffic pool (feed.h lt_feed_item_pool) */
  lt_feed_pool_info_t pi;
  if (lt_feed_item_pool(r->srv->feed, iid, &pi) == LT_OK)
    lt_buf_printf(o,
                  ", \"pool\": {\"status\": \"%s\", \"stage\": %d, \"reached\": %d, "
                  "\"impressions\": %u, \"quota\": %u, \"engagement\": %.4f, \"score\": %.4f, "
                  "\"threshold\": %.4f}",
                  pi.status_name, pi.stage, pi.reached, pi.impressions, pi.quota, pi.engagement,
                  pi.score, pi.threshold);
  lt_buf_put(o, "}\n", 2);
}

static void h_item_get(lt__req_t *r) {
  uint32_t iid;
  if (!lt__param_ok(r, 0) || !find(r, LT_NS_ITEM, r->params[0], &iid, "item")) return;
  if (lt_state_item(state_of(r), iid)->deleted) {
    lt__error(r, 404, "not_found", "the item was deleted");
    return;
  }
  put_item_json(r, iid);
  lt__ok(r, 200);
}

static void h_item_put(lt__req_t *r) {
  if (!lt__param_ok(r, 0)) return;
  cJSON *j = body_json(r);
  if (!j) return;
  const cJSON *bid = cJSON_GetObjectItemCaseSensitive(j, "id");
  lt_record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = LT_REC_ITEM_PUT;
  const char *err = NULL;
  if (cJSON_IsString(bid) && (strlen(bid->valuestring) != r->params[0].n ||
                              memcmp(bid->valuestring, r->params[0].p, r->params[0].n))) {
    lt__error(r, 409, "id_conflict", "the body's id differs from the URL's");
  } else if (lt_json_item_decode(j, r->params[0], &rec.u.item, &err)) {
    lt__error(r, 400, "invalid", "%s", err ? err : "invalid item");
  } else if (id_too_long(r, rec.u.item.creator)) {
    lt__error(r, 400, "bad_id", "ids are limited to %u bytes", r->srv->opts.max_id);
  } else {
    rec.u.item.ts_ms = lt_now_ms();
    write_one(r, &rec, 200);
    if (r->status == 200) {
      uint32_t iid;
      if (lt_state_find(state_of(r), LT_NS_ITEM, r->params[0].p, r->params[0].n, &iid) == LT_OK)
        put_item_json(r, iid);
    }
  }
  cJSON_Delete(j);
}

static void h_item_delete(lt__req_t *r) {
  uint32_t iid;
  if (!lt__param_ok(r, 0) || !find(r, LT_NS_ITEM, r->params[0], &iid, "item")) return;
  lt_record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = LT_REC_ITEM_DEL;
  rec.u.del.id = r->params[0];
  rec.u.del.ts_ms = lt_now_ms();
  write_one(r, &rec, 200);
  if (r->status == 200) lt_buf_printf(R(r), "{\"deleted\": true}\n");
}

/* Batch upsert of items or users: a JSON array of bodies, each with "id". */
static void batch_upsert(lt__req_t *r, int items) {
  cJSON *j = body_json(r);
  if (!j) return;
  if (!cJSON_IsArray(j)) {
    lt__error(r, 400, "bad_json", "expected a JSON array of objects");
    cJSON_Delete(j);
    return;
  }
  int n = cJSON_GetArraySize(j);
  if ((uint32_t)n > r->srv->opts.max_batch) {
    lt__error(r, 413, "batch_too_large", "at most %u per request", r->srv->opts.max_batch);
    cJSON_Delete(j);
    return;
  }
  lt_record_t *recs = calloc(n ? (size_t)n : 1, sizeof *recs);
  const char **why = calloc(n ? (size_t)n : 1, sizeof *why);
  int *status = calloc(n ? (size_t)n : 1, sizeof *status);
  uint32_t *index = calloc(n ? (size_t)n : 1, sizeof *index);
  lt_json_reject_t *rej = calloc(n ? (size_t)n : 1, sizeof *rej);
  size_t m = 0, nrej = 0;
  if (!recs || !why || !status || !index || !rej) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    goto out;
  }
  int i = 0;
  const cJSON *el;
  cJSON_ArrayForEach(el, j) {
    const char *err = NULL;
    int rc;
    lt_str_t none = {NULL, 0};
    if (items) {
      recs[m].kind = LT_REC_ITEM_PUT;
      rc = lt_json_item_decode(el, none, &recs[m].u.item, &err);
      recs[m].u.item.ts_ms = lt_now_ms();
      if (!rc && (id_too_long(r, recs[m].u.item.id) || id_too_long(r, recs[m].u.item.creator)))
        rc = LT_EINVAL, err = "ids are limited to 128 bytes";
    } else {
      recs[m].kind = LT_REC_USER_PUT;
      rc = lt_json_user_decode(el, none, &recs[m].u.user, &err);
      if (!rc && id_too_long(r, recs[m].u.user.id))
        rc = LT_EINVAL, err = "ids are limited to 128 bytes";
      recs[m].u.user.ts_ms = lt_now_ms();
    }
    if (rc) rej[nrej++] = (lt_json_reject_t){(uint32_t)i, err ? err : "invalid"};
    else index[m++] = (uint32_t)i;
    i++;
  }
  lt_write_result_t res = {0, 0, 0};
  int rc = lt_store_write(r->srv->store, recs, m, 0, status, why, &res);
  if (rc) {
    store_error(r, rc);
    goto out;
  }
  for (size_t k = 0; k < m; k++)
    if (status[k] == LT_EINVAL) rej[nrej++] = (lt_json_reject_t){index[k], why[k] ? why[k] : "invalid"};
  lt_buf_printf(R(r), "{\"accepted\": %u, \"rejected\": [", res.accepted);
  for (size_t k = 0; k < nrej; k++) {
    lt_buf_printf(R(r), "%s{\"index\": %u, \"error\": ", k ? ", " : "", rej[k].index);
    lt__json_cstr(R(r), rej[k].error);
    lt_buf_u8(R(r), '}');
  }
  lt_buf_put(R(r), "]}\n", 3);
  lt__ok(r, 200);
out:
  free(recs);
  free(why);
  free(status);
  free(index);
  free(rej);
  cJSON_Delete(j);
}

static void h_items_post(lt__req_t *r) { batch_upsert(r, 1); }
static void h_users_post(lt__req_t *r) { batch_upsert(r, 0); }

static void h_similar(lt__req_t *r) {
  uint32_t iid, n;
  if (!lt__param_ok(r, 0) || !find(r, LT_NS_ITEM, r->params[0], &iid, "item")) return;
  if (lt__arg_u32(r, "n", 10, 1, LT_FEED_MAX, &n)) return;
  lt_feed_entry_t out[LT_FEED_MAX];
  uint32_t count = 0;
  int rc = lt_feed_similar(r->srv->feed, iid, n, out, &count);
  if (rc) {
    lt__error(r, rc == LT_ENOTFOUND ? 404 : 500, "not_found", "%s", lt_strerror(rc));
    return;
  }
  lt_state_t *st = state_of(r);
  lt_buf_printf(R(r), "{\"item\": ");
  lt_buf_json_str(R(r), r->params[0].p, r->params[0].n);
  lt_buf_printf(R(r), ", \"model_version\": %" PRIu64 ", \"items\": [",
                lt_feed_model_version(r->srv->feed));
  for (uint32_t i = 0; i < count; i++) {
    lt_buf_printf(R(r), "%s{\"id\": ", i ? ", " : "");
    lt__json_cstr(R(r), lt_state_name(st, LT_NS_ITEM, out[i].item));
    lt_buf_printf(R(r), ", \"score\": %.4f, \"source\": \"%s\", \"reason\": ", out[i].score,
                  lt_feed_source_name(out[i].source));
    lt__json_cstr(R(r), out[i].reason);
    lt_buf_u8(R(r), '}');
  }
  lt_buf_put(R(r), "]}\n", 3);
  lt__ok(r, 200);
}

/* ---- feed ----------------------------------------------------------- */

/* What the policies did to a feed entry (docs/policies.md, "In the feed"):
 * its labels, its exploration draw and logged propensity, its pool stage,
 * and the names of every policy that touched it. */
#define PUT_LIT(o, lit) lt_buf_put((o), (lit), sizeof(lit) - 1)

static void feed_policies_json(lt_buf_t *o, const lt_feed_entry_t *e) {
  if (e->flags & LT_FEED_F_AIGC)
    PUT_LIT(o, ", \"aigc\": true");
  else
    PUT_LIT(o, ", \"aigc\": false");
  if (e->flags & LT_FEED_F_LIVE)
    PUT_LIT(o, ", \"live\": true, \"propensity\": ");
  else
    PUT_LIT(o, ", \"live\": false, \"propensity\": ");
  lt_buf_fixed(o, e->propensity, 4);
  PUT_LIT(o, ", \"explore\": ");
  if (e->explore) {
    PUT_LIT(o, "{\"rank\": ");
    lt_buf_udec(o, e->explore & 15u);
    PUT_LIT(o, ", \"of\": ");
    lt_buf_udec(o, (unsigned)e->explore >> 4);
    PUT_LIT(o, ", \"code\": ");
    lt_buf_udec(o, e->explore);
    lt_buf_u8(o, '}');
  } else {
    PUT_LIT(o, "null");
  }
  if (e->flags & LT_FEED_F_POOL) {
    PUT_LIT(o, ", \"pool\": ");
    lt_buf_dec(o, e->pool);
  } else {
    PUT_LIT(o, ", \"pool\": null");
  }
  static const struct {
    uint16_t flag;
    const char *name;
  } pol[] = {{LT_FEED_F_EXPLORE, "\"explore\""}, {LT_FEED_F_POOL, "\"pool\""},
             {LT_FEED_F_AIGC, "\"aigc\""},       {LT_FEED_F_LIVE, "\"live\""},
             {LT_FEED_F_FAIR, "\"fairness\""},   {LT_FEED_F_NEGATIVE, "\"negative\""}};
  PUT_LIT(o, ", \"policies\": [");
  int k = 0;
  for (size_t j = 0; j < sizeof pol / sizeof *pol; j++)
    if (e->flags & pol[j].flag) {
      if (k++) PUT_LIT(o, ", ");
      lt_buf_put(o, pol[j].name, strlen(pol[j].name));
    }
  lt_buf_u8(o, ']');
}

static void h_feed(lt__req_t *r) {
  const char *user = lt__arg(r, "user");
  uint32_t n;
  if (!user || !*user) {
    lt__error(r, 400, "bad_parameter", "user is required");
    return;
  }
  size_t ul = strlen(user);
  if (ul > r->srv->opts.max_id) {
    lt__error(r, 400, "bad_id", "ids are limited to %u bytes", r->srv->opts.max_id);
    return;
  }
  if (lt__arg_u32(r, "n", 10, 1, LT_FEED_MAX, &n)) return;
  lt_feed_result_t *res = malloc(sizeof *res);
  if (!res) {
    lt__error(r, 503, "out_of_memory", "out of memory");
    return;
  }
  int rc = lt_feed_get(r->srv->feed, user, ul, n, lt_now_ms(), res);
  if (rc) {
    lt__error(r, 400, "bad_parameter", "%s", lt_strerror(rc));
    free(res);
    return;
  }
  lt_state_t *st = state_of(r);
  lt_buf_t *o = R(r);
  lt_buf_reserve(o, 256 + (size_t)res->n * 256);
  PUT_LIT(o, "{\"request_id\": ");
  lt__json_cstr(o, res->request_id);
  PUT_LIT(o, ", \"user\": ");
  lt_buf_json_str(o, user, ul);
  PUT_LIT(o, ", \"model_version\": ");
  lt_buf_udec(o, res->model_version);
  PUT_LIT(o, ", \"items\": [");
  for (uint32_t i = 0; i < res->n; i++) {
    const lt_feed_entry_t *e = &res->items[i];
    const lt_item_meta_t *m = lt_state_item(st, e->item);
    if (i) PUT_LIT(o, ", ");
    PUT_LIT(o, "{\"id\": ");
    lt__json_cstr(o, lt_state_name(st, LT_NS_ITEM, e->item));
    PUT_LIT(o, ", \"kind\": \"");
    const char *kind = lt_item_kind_name(m ? m->kind : 0), *src = lt_feed_source_name(e->source);
    lt_buf_put(o, kind, strlen(kind));
    PUT_LIT(o, "\", \"score\": ");
    lt_buf_fixed(o, e->score, 4);
    PUT_LIT(o, ", \"source\": \"");
    lt_buf_put(o, src, strlen(src));
    if (e->ad)
      PUT_LIT(o, "\", \"ad\": true");
    else
      PUT_LIT(o, "\", \"ad\": false");
    if (e->ad) {
      const char *camp = lt_ads_campaign_name(lt_feed_ads(r->srv->feed), e->campaign);
      PUT_LIT(o, ", \"campaign\": ");
      lt__json_cstr(o, camp ? camp : "");
    }
    feed_policies_json(o, e);
    PUT_LIT(o, ", \"position\": ");
    lt_buf_udec(o, i);
    PUT_LIT(o, ", \"reason\": ");
    lt__json_cstr(o, e->reason);
    lt_buf_u8(o, '}');
  }
  lt_buf_put(o, "]}\n", 3);
  free(res);
  lt__ok(r, 200);
}

/* ---- users, creators, follows --------------------------------------- */

static void h_user_put(lt__req_t *r) {
  if (!lt__param_ok(r, 0)) return;
  cJSON *j = body_json(r);
  if (!j) return;
  lt_record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = LT_REC_USER_PUT;
  const char *err = NULL;
  if (lt_json_user_decode(j, r->params[0], &rec.u.user, &err)) {
    lt__error(r, 400, "invalid", "%s", err ? err : "invalid user");
  } else {
    rec.u.user.ts_ms = lt_now_ms();
    write_one(r, &rec, 200);
    if (r->status == 200) lt_buf_printf(R(r), "{\"ok\": true}\n");
  }
  cJSON_Delete(j);
}

static void h_user_get(lt__req_t *r) {
  uint32_t uid;
  if (!lt__param_ok(r, 0) || !find(r, LT_NS_USER, r->params[0], &uid, "user")) return;
  lt_state_t *st = state_of(r);
  lt_user_info_t ui;
  lt_state_user_info(st, uid, &ui);
  lt_buf_t *o = R(r);
  lt_buf_put(o, "{\"id\": ", 7);
  lt_buf_json_str(o, r->params[0].p, r->params[0].n);
  uint32_t ids[64];
  size_t n = lt_state_user_groups(st, uid, ids, 64);
  lt_buf_put(o, ", \"groups\": [", 13);
  for (size_t i = 0; i < n && i < 64; i++) {
    if (i) lt_buf_put(o, ", ", 2);
    lt__json_cstr(o, lt_state_name(st, LT_NS_GROUP, ids[i]));
  }
  n = lt_state_user_follows(st, uid, ids, 64);
  lt_buf_put(o, "], \"follows\": [", 15);
  for (size_t i = 0; i < n && i < 64; i++) {
    if (i) lt_buf_put(o, ", ", 2);
    lt__json_cstr(o, lt_state_name(st, LT_NS_CREATOR, ids[i]));
  }
  lt_buf_printf(o,
                "], \"follows_total\": %zu, \"events\": %" PRIu64 ", \"plays\": %" PRIu64
                ", \"watch_ms\": %" PRIu64 ", \"first_seen\": %.3f, \"last_seen\": %.3f, "
                "\"history_len\": %u, \"recent\": [",
                n, ui.events, ui.plays, ui.watch_ms, ui.first_ms / 1000.0, ui.last_ms / 1000.0,
                ui.history_len);
  lt_hist_t h[20];
  size_t nh = lt_state_user_history(st, uid, h, 20);
  for (size_t i = nh; i-- > 0;) { /* newest first */
    lt_buf_printf(o, "%s{\"item\": ", i + 1 == nh ? "" : ", ");
    lt__json_cstr(o, lt_state_name(st, LT_NS_ITEM, h[i].item));
    lt_buf_printf(o, ", \"type\": \"%s\", \"ts\": %u, \"watch_ms\": %u}",
                  lt_event_type_name(h[i].type), h[i].ts, h[i].watch_ms);
  }
  lt_buf_put(o, "]}\n", 3);
  lt__ok(r, 200);
}

static void h_creator_put(lt__req_t *r) {
  if (!lt__param_ok(r, 0)) return;
  cJSON *j = body_json(r);
  if (!j) return;
  lt_record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = LT_REC_CREATOR_PUT;
  const char *err = NULL;
  if (lt_json_creator_decode(j, r->params[0], &rec.u.creator, &err)) {
    lt__error(r, 400, "invalid", "%s", err ? err : "invalid creator");
  } else {
    write_one(r, &rec, 200);
    if (r->status == 200) lt_buf_printf(R(r), "{\"ok\": true}\n");
  }
  cJSON_Delete(j);
}

static void h_creator_get(lt__req_t *r) {
  uint32_t cid;
  if (!lt__param_ok(r, 0) || !find(r, LT_NS_CREATOR, r->params[0], &cid, "creator")) return;
  lt_creator_info_t ci;
  lt_state_creator_info(state_of(r), cid, &ci);
  lt_buf_put(R(r), "{\"id\": ", 7);
  lt_buf_json_str(R(r), r->params[0].p, r->params[0].n);
  lt_buf_printf(R(r),
                ", \"followers\": %" PRIu64 ", \"items\": %" PRIu64 ", \"impressions\": %" PRIu64
                ", \"watch_ms\": %" PRIu64 ", \"first_seen\": %.3f}\n",
                ci.followers, ci.items, ci.impressions, ci.watch_ms, ci.first_seen_ms / 1000.0);
  lt__ok(r, 200);
}

static void follow(lt__req_t *r, int on) {
  if (!lt__param_ok(r, 0) || !lt__param_ok(r, 1)) return;
  lt_record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = on ? LT_REC_FOLLOW : LT_REC_UNFOLLOW;
  rec.u.follow.user = r->params[0];
  rec.u.follow.creator = r->params[1];
  rec.u.follow.ts_ms = lt_now_ms();
  write_one(r, &rec, 200);
  if (r->status == 200) lt_buf_printf(R(r), "{\"following\": %s}\n", on ? "true" : "false");
}

static void h_follow_post(lt__req_t *r) { follow(r, 1); }
static void h_follow_delete(lt__req_t *r) { follow(r, 0); }

/* ---- admin ---------------------------------------------------------- */

static void h_admin_train(lt__req_t *r) {
  if (!r->srv->opts.train) {
    lt__error(r, 503, "unavailable", "training is not available in this server");
    return;
  }
  int rc = r->srv->opts.train(r->srv->opts.train_ctx);
  if (rc == LT_EBUSY) {
    lt__error(r, 409, "busy", "a training run is already in progress");
    return;
  }
  if (rc) {
    lt__error(r, 500, "train_failed", "%s", lt_strerror(rc));
    return;
  }
  lt_buf_printf(R(r), "{\"started\": true}\n");
  lt__ok(r, 202);
}

static void h_admin_snapshot(lt__req_t *r) {
  int rc = lt_store_snapshot(r->srv->store);
  if (rc) {
    store_error(r, rc);
    return;
  }
  lt_buf_printf(R(r), "{\"snapshot\": true}\n");
  lt__ok(r, 200);
}

const lt__route_t lt__routes[] = {
    {"GET", "/healthz", AUTH_NONE, h_healthz},
    {"GET", "/metrics", AUTH_READ, h_metrics},
    {"GET", "/", AUTH_NONE, lt__h_dashboard}, /* checks the read key itself */
    {"GET", "/v1/stats", AUTH_READ, h_stats},
    {"GET", "/v1/stats/platform", AUTH_READ, lt__h_stats_platform},
    {"GET", "/v1/stats/ecosystem", AUTH_READ, lt__h_stats_ecosystem},
    {"GET", "/v1/stats/creators/{id}", AUTH_READ, lt__h_stats_creator},
    {"GET", "/v1/stats/items/{id}", AUTH_READ, lt__h_stats_item},
    {"GET", "/v1/stats/top", AUTH_READ, lt__h_stats_top},
    {"GET", "/v1/stats/revenue", AUTH_READ, lt__h_stats_revenue},
    {"GET", "/v1/reports/watch-time", AUTH_READ, lt__h_report_watch_time},
    {"POST", "/v1/events", AUTH_WRITE, h_events_post},
    {"GET", "/v1/feed", AUTH_READ, h_feed},
    {"POST", "/v1/items", AUTH_WRITE, h_items_post},
    {"GET", "/v1/items/{id}", AUTH_READ, h_item_get},
    {"PUT", "/v1/items/{id}", AUTH_WRITE, h_item_put},
    {"DELETE", "/v1/items/{id}", AUTH_WRITE, h_item_delete},
    {"GET", "/v1/items/{id}/similar", AUTH_READ, h_similar},
    {"POST", "/v1/users", AUTH_WRITE, h_users_post},
    {"GET", "/v1/users/{id}", AUTH_READ, h_user_get},
    {"PUT", "/v1/users/{id}", AUTH_WRITE, h_user_put},
    {"POST", "/v1/users/{id}/follows/{creator}", AUTH_WRITE, h_follow_post},
    {"DELETE", "/v1/users/{id}/follows/{creator}", AUTH_WRITE, h_follow_delete},
    {"GET", "/v1/creators/{id}", AUTH_READ, h_creator_get},
    {"PUT", "/v1/creators/{id}", AUTH_WRITE, h_creator_put},
    {"POST", "/v1/campaigns", AUTH_WRITE, lt__h_campaigns_post},
    {"GET", "/v1/campaigns", AUTH_READ, lt__h_campaigns_list},
    {"GET", "/v1/campaigns/{id}", AUTH_READ, lt__h_campaign_get},
    {"PUT", "/v1/campaigns/{id}", AUTH_WRITE, lt__h_campaign_put},
    {"POST", "/v1/campaigns/{id}/pause", AUTH_WRITE, lt__h_campaign_pause},
    {"POST", "/v1/campaigns/{id}/resume", AUTH_WRITE, lt__h_campaign_resume},
    {"GET", "/v1/campaigns/{id}/report", AUTH_READ, lt__h_campaign_report},
    {"POST", "/v1/admin/train", AUTH_WRITE, h_admin_train},
    {"POST", "/v1/admin/snapshot", AUTH_WRITE, h_admin_snapshot},
};
const size_t lt__nroutes = sizeof lt__routes / sizeof *lt__routes;
