/*
 * test_ads_http.c — the ads routes and the feed page over loopback: a real
 * server with an ads engine on a random port, the feed wired to it as
 * `laotie serve` does (lt_feed_set_ads). Campaigns created, read, updated,
 * paused and resumed; every error status of a bad body; ad events priced
 * by the server (a client's value is ignored); the campaign report and the
 * revenue report in JSON and CSV; campaigns and books surviving a restart;
 * 503 when the server runs without ads. The feed: with no campaign the
 * page is the organic page; campaigns' ads take the configured slots (4th,
 * then every 6th; never two adjacent, none for the ad-free group) with
 * organic items shifted down; an ad_impression posted with the page's
 * request_id is billed the auction's second price, once per event id; the
 * /metrics ad lines; and every feed entry shows what the policies did to
 * it (exploration and propensity, pool, AIGC, live).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ads/ads.h"
#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"
#include "helpers.h"
#include "http/server.h"
#include "state/store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "test-key-0123456789"
#define AUTH "Authorization: Bearer " KEY "\r\n"

typedef struct env {
  char *dir;
  lt_store_t *store;
  lt_feed_t *feed;
  lt_ads_t *ads;
  lt_server_t *srv;
  unsigned port;
} env_t;

typedef struct obs {
  lt_feed_t *feed;
  lt_ads_t *ads;
} obs_t;
static obs_t the_obs;

static void prepare(void *ctx, const lt_record_t *recs, size_t n) {
  obs_t *o = ctx;
  lt_feed_prepare(o->feed, recs, n);
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) {
  obs_t *o = ctx;
  lt_feed_observe(o->feed, recs, n);
  lt_ads_observe(o->ads, recs, n);
}

static void start(env_t *e, int with_ads) {
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  lt_ads_opts_t ao;
  lt_ads_opts_default(&ao);
  ao.organic_cpm = 0;
  ao.commission_bps = 1000;
  e->ads = NULL;
  if (with_ads) {
    assert_int_equal(lt_ads_new(&ao, &e->ads), 0);
    so.ext = lt_ads_ext;
    so.ext_ctx = e->ads;
  }
  assert_int_equal(lt_store_open(e->dir, &so, &e->store, NULL), 0);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  assert_int_equal(lt_feed_new(lt_store_state(e->store), &fo, NULL, &e->feed), 0);
  if (e->ads) {
    assert_int_equal(lt_ads_attach(e->ads, e->store), 0);
    lt_ads_tick(e->ads, lt_now_ms()); /* the day, as `laotie serve` starts it */
  }
  lt_feed_set_ads(e->feed, e->ads);
  the_obs = (obs_t){e->feed, e->ads};
  lt_store_set_observer(e->store, observe, prepare, &the_obs);
  lt_server_opts_t o;
  lt_server_opts_default(&o);
  o.port = 0;
  o.api_key = KEY;
  o.conn_timeout_s = 2;
  o.ads = e->ads;
  assert_int_equal(lt_server_start(e->store, e->feed, &o, &e->srv), 0);
  e->port = lt_server_port(e->srv);
}

static void stop(env_t *e) {
  lt_server_stop(e->srv);
  lt_store_close(e->store, 1);
  lt_feed_free(e->feed);
  lt_ads_free(e->ads);
  e->srv = NULL;
  e->store = NULL;
  e->feed = NULL;
  e->ads = NULL;
}

static int setup(void **state) {
  env_t *e = calloc(1, sizeof *e);
  e->dir = lt_test_tmpdir("ads-http");
  start(e, 1);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env_t *e = *state;
  if (e->srv) stop(e);
  lt_test_rmdir(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

static void expect(env_t *e, const char *method, const char *path, const char *headers,
                   const char *body, int status, const char *needle) {
  char *out = NULL;
  int got = lt_test_http(e->port, method, path, headers, body, body ? strlen(body) : 0, &out);
  if (got != status || (needle && (!out || !strstr(out, needle))))
    fprintf(stderr, "%s %s -> %d (want %d, '%s'): %s\n", method, path, got, status,
            needle ? needle : "", out ? out : "");
  assert_int_equal(got, status);
  if (needle) assert_non_null(strstr(out, needle));
  free(out);
}

static void catalog(env_t *e) {
  expect(e, "PUT", "/v1/items/ad1", AUTH, "{\"creator\": \"brand\", \"tags\": [\"food\"]}", 200, NULL);
  expect(e, "PUT", "/v1/items/ad2", AUTH, "{\"creator\": \"brand\", \"aigc\": true}", 200, NULL);
  expect(e, "PUT", "/v1/items/room", AUTH, "{\"creator\": \"star\", \"kind\": \"live\"}", 200, NULL);
  expect(e, "PUT", "/v1/items/shop", AUTH,
         "{\"creator\": \"seller\", \"product\": {\"id\": \"p1\", \"price_cents\": 2500}}", 200, NULL);
}

#define CAMP                                                                                     \
  "{\"id\": \"spring\", \"advertiser\": \"acme\", \"name\": \"Spring sale\", "                   \
  "\"daily_budget_cents\": 50000, \"bid\": {\"type\": \"cpm\", \"amount_cents\": 800}, "          \
  "\"targeting\": {\"tags\": [\"food\"]}, \"creatives\": [\"ad1\", {\"item\": \"ad2\"}], "        \
  "\"frequency_cap\": 3}"

static void campaigns_crud(void **state) {
  env_t *e = *state;
  catalog(e);
  expect(e, "POST", "/v1/campaigns", AUTH, CAMP, 201, "\"id\": \"spring\"");
  expect(e, "POST", "/v1/campaigns", AUTH, CAMP, 409, "exists");
  expect(e, "POST", "/v1/campaigns", NULL, CAMP, 401, NULL);
  expect(e, "GET", "/v1/campaigns/spring", NULL, NULL, 200, "{\"item\": \"ad2\", \"aigc\": true}");
  expect(e, "GET", "/v1/campaigns/nope", NULL, NULL, 404, "not_found");
  expect(e, "GET", "/v1/campaigns", NULL, NULL, 200, "\"campaigns\": [{\"id\": \"spring\"");
  expect(e, "GET", "/v1/campaigns?advertiser=other", NULL, NULL, 200, "{\"campaigns\": []}");
  expect(e, "PUT", "/v1/campaigns/spring", AUTH, "{\"daily_budget_cents\": 70000}", 200,
         "\"daily_budget_cents\": 70000");
  expect(e, "PUT", "/v1/campaigns/spring", AUTH, "{\"id\": \"autumn\"}", 409, "id_conflict");
  expect(e, "PUT", "/v1/campaigns/nope", AUTH, "{\"daily_budget_cents\": 1}", 404, NULL);
  expect(e, "POST", "/v1/campaigns/spring/pause", AUTH, NULL, 200, "\"status\": \"paused\"");
  expect(e, "POST", "/v1/campaigns/spring/resume", AUTH, NULL, 200, "\"status\": \"active\"");
  expect(e, "POST", "/v1/campaigns/nope/pause", AUTH, NULL, 404, NULL);
  expect(e, "DELETE", "/v1/campaigns/spring", AUTH, NULL, 405, NULL);
  /* bad bodies */
  expect(e, "POST", "/v1/campaigns", AUTH, "{not json", 400, "bad_json");
  expect(e, "POST", "/v1/campaigns", AUTH, NULL, 400, "bad_json");
  expect(e, "POST", "/v1/campaigns", AUTH,
         "{\"advertiser\": \"x\", \"daily_budget_cents\": -100, \"bid\": {\"type\": \"cpm\", "
         "\"amount_cents\": 5}, \"creatives\": [\"ad1\"]}",
         400, "daily_budget_cents");
  expect(e, "POST", "/v1/campaigns", AUTH,
         "{\"advertiser\": \"x\", \"daily_budget_cents\": 1e300, \"bid\": {\"type\": \"cpm\", "
         "\"amount_cents\": 5}, \"creatives\": [\"ad1\"]}",
         400, "invalid");
  expect(e, "POST", "/v1/campaigns", AUTH,
         "{\"advertiser\": \"x\", \"daily_budget_cents\": 100, \"bid\": {\"type\": \"cpm\", "
         "\"amount_cents\": 5}, \"creatives\": [\"ghost\"]}",
         400, "not an item of the catalog");
  expect(e, "POST", "/v1/campaigns", AUTH,
         "{\"advertiser\": \"x\", \"daily_budget_cents\": 100, \"bid\": {\"type\": \"cpm\", "
         "\"amount_cents\": 5}, \"creatives\": [\"ad1\"]}",
         409, "another campaign");
  expect(e, "POST", "/v1/campaigns", AUTH, "{\"advertiser\": \"x\", \"colour\": \"red\"}", 400,
         "unknown field");
  /* a GET body can be PUT back */
  char *out = NULL;
  assert_int_equal(lt_test_http(e->port, "GET", "/v1/campaigns/spring", NULL, NULL, 0, &out), 200);
  expect(e, "PUT", "/v1/campaigns/spring", AUTH, out, 200, "\"name\": \"Spring sale\"");
  free(out);
}

static void events_priced_and_reported(void **state) {
  env_t *e = *state;
  catalog(e);
  expect(e, "POST", "/v1/campaigns", AUTH,
         "{\"id\": \"c1\", \"advertiser\": \"acme\", \"daily_budget_cents\": 1000, \"bid\": "
         "{\"type\": \"cpm\", \"amount_cents\": 800}, \"creatives\": [\"ad2\"]}",
         201, NULL);
  /* an auction (as the feed will run it), then its events over HTTP */
  lt_state_t *st = lt_store_state(e->store);
  uint32_t items[6], ad2;
  for (int i = 0; i < 6; i++) items[i] = i; /* any organic ids; none is ad2's */
  assert_int_equal(lt_state_find(st, LT_NS_ITEM, "ad2", 3, &ad2), 0);
  for (int i = 0; i < 6; i++)
    if (items[i] == ad2) items[i] = 100;
  lt_ads_page_t pg = {LT_NONE, items, NULL, 6, "req-1"};
  lt_ads_slot_t slot;
  uint32_t n;
  int64_t now = lt_now_ms();
  assert_int_equal(lt_ads_fill(e->ads, &pg, now, &slot, 1, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(slot.price_ucents, 10000); /* alone: the reserve, 10 cents per mille */
  char body[512];
  snprintf(body, sizeof body,
           "[{\"id\": \"i1\", \"user\": \"u1\", \"item\": \"ad2\", \"type\": \"ad_impression\", "
           "\"request_id\": \"req-1\", \"value\": 999999999},"
           " {\"id\": \"i1\", \"user\": \"u1\", \"item\": \"ad2\", \"type\": \"ad_impression\", "
           "\"request_id\": \"req-1\"},"
           " {\"id\": \"k1\", \"user\": \"u1\", \"item\": \"ad2\", \"type\": \"ad_click\", "
           "\"request_id\": \"req-1\"},"
           " {\"id\": \"g1\", \"user\": \"u2\", \"item\": \"room\", \"type\": \"gift\", \"value\": 300},"
           " {\"id\": \"b1\", \"user\": \"u3\", \"item\": \"shop\", \"type\": \"purchase\", "
           "\"value\": 2500, \"request_id\": \"req-9\"}]");
  expect(e, "POST", "/v1/events", AUTH, body, 200, "\"accepted\": 4, \"duplicates\": 1");
  expect(e, "GET", "/v1/campaigns/c1", NULL, NULL, 200, "\"spend_ucents\": 10000");
  expect(e, "GET", "/v1/campaigns/c1/report", NULL, NULL, 200,
         "\"total\": {\"impressions\": 1, \"clicks\": 1, \"conversions\": 0, \"spend_cents\": 0, "
         "\"spend_ucents\": 10000");
  expect(e, "GET", "/v1/campaigns/c1/report?format=csv", NULL, NULL, 200,
         "date,hour,impressions,clicks,conversions,spend_cents");
  expect(e, "GET", "/v1/campaigns/c1/report?from=2025-13-01", NULL, NULL, 400, NULL);
  expect(e, "GET", "/v1/stats/revenue", NULL, NULL, 200,
         "\"live_streaming_cents\": 300, \"other_cents\": 250, \"total_revenue_cents\": 550, "
         "\"gmv_cents\": 2500, \"gmv_attributed_cents\": 2500");
  expect(e, "GET", "/v1/stats/revenue?format=csv", NULL, NULL, 200, "total,0,0,300,250,550,2500");
  expect(e, "GET", "/v1/stats/revenue?format=xml", NULL, NULL, 400, NULL);
  expect(e, "GET", "/v1/stats/revenue?by=creator", NULL, NULL, 200, "{\"id\": \"seller\"");
  expect(e, "GET", "/v1/stats/revenue?by=room", NULL, NULL, 200,
         "\"rows\": [{\"id\": \"room\", \"gift_cents\": 300");
  expect(e, "GET", "/v1/stats/revenue?by=planet", NULL, NULL, 400, NULL);
  /* everything survives a restart */
  stop(e);
  start(e, 1);
  expect(e, "GET", "/v1/campaigns/c1", NULL, NULL, 200, "\"spend_ucents\": 10000");
  expect(e, "GET", "/v1/stats/revenue?format=csv", NULL, NULL, 200, "total,0,0,300,250,550,2500");
}

static void without_ads_503(void **state) {
  env_t *e = *state;
  stop(e);
  start(e, 0);
  expect(e, "GET", "/v1/campaigns", NULL, NULL, 503, "not enabled");
  expect(e, "POST", "/v1/campaigns", AUTH, CAMP, 503, NULL);
  expect(e, "GET", "/v1/stats/revenue", NULL, NULL, 503, NULL);
}

/* ---- the feed page --------------------------------------------------------- */

/* 15 creators x 3 videos, published two days ago (they enter traffic pool 0),
 * each played by two background users (so trending has them); c0's are
 * AIGC. Three creatives of the brand, a month old and never played: no
 * organic source finds them. */
static void feed_catalog(env_t *e) {
  int64_t now_s = lt_now_ms() / 1000;
  size_t cap = 16384, len = 0;
  char *b = malloc(cap);
  len += (size_t)snprintf(b + len, cap - len, "[");
  for (int c = 0; c < 15; c++)
    for (int j = 0; j < 3; j++)
      len += (size_t)snprintf(b + len, cap - len,
                              "%s{\"id\": \"v%d_%d\", \"creator\": \"c%d\", \"tags\": [\"t%d\"], "
                              "\"duration_ms\": 20000, \"published_at\": %lld%s}",
                              c || j ? ", " : "", c, j, c, c % 3, (long long)(now_s - 2 * 86400),
                              c ? "" : ", \"aigc\": true");
  for (int k = 0; k < 3; k++)
    len += (size_t)snprintf(
        b + len, cap - len,
        ", {\"id\": \"ad%c\", \"creator\": \"brand\", \"published_at\": %lld%s}", 'A' + k,
        (long long)(now_s - 30 * 86400), k == 1 ? ", \"aigc\": true" : "");
  snprintf(b + len, cap - len, "]");
  expect(e, "POST", "/v1/items", AUTH, b, 200, NULL);
  len = (size_t)snprintf(b, cap, "[");
  for (int c = 0; c < 15; c++)
    for (int j = 0; j < 3; j++)
      for (int u = 0; u < 2; u++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"user\": \"bg%d\", \"item\": \"v%d_%d\", \"type\": \"play\", "
                                "\"watch_ms\": 15000}",
                                c || j || u ? ", " : "", u, c, j);
  snprintf(b + len, cap - len, "]");
  expect(e, "POST", "/v1/events", AUTH, b, 200, "\"accepted\": 90");
  free(b);
}

static cJSON *get_json(env_t *e, const char *path) {
  char *out = NULL;
  assert_int_equal(lt_test_http(e->port, "GET", path, NULL, NULL, 0, &out), 200);
  cJSON *j = cJSON_Parse(out);
  free(out);
  assert_non_null(j);
  return j;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static int jbool(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsBool(v));
  return cJSON_IsTrue(v);
}

static int has_policy(const cJSON *it, const char *name) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "policies"), *x;
  assert_true(cJSON_IsArray(p));
  cJSON_ArrayForEach(x, p) if (cJSON_IsString(x) && !strcmp(x->valuestring, name)) return 1;
  return 0;
}

/* The same request twice at one time: once without the ads engine. */
static void pages(env_t *e, const char *user, uint32_t n, int64_t now, lt_feed_result_t *organic,
                  lt_feed_result_t *with_ads) {
  lt_feed_set_ads(e->feed, NULL);
  assert_int_equal(lt_feed_get(e->feed, user, strlen(user), n, now, organic), 0);
  lt_feed_set_ads(e->feed, e->ads);
  assert_int_equal(lt_feed_get(e->feed, user, strlen(user), n, now, with_ads), 0);
}

static void without_campaigns_the_page_is_the_organic_page(void **state) {
  env_t *e = *state;
  feed_catalog(e);
  lt_feed_result_t a, b;
  int64_t now = lt_now_ms();
  pages(e, "viewer", 20, now, &a, &b);
  assert_int_equal(a.n, 20);
  assert_int_equal(b.n, a.n);
  for (uint32_t i = 0; i < a.n; i++) {
    assert_int_equal(b.items[i].item, a.items[i].item);
    assert_int_equal(b.items[i].source, a.items[i].source);
    assert_true(b.items[i].score == a.items[i].score);
    assert_true(b.items[i].propensity == a.items[i].propensity);
    assert_int_equal(b.items[i].explore, a.items[i].explore);
    assert_int_equal(b.items[i].flags, a.items[i].flags);
    assert_string_equal(b.items[i].reason, a.items[i].reason);
    assert_false(b.items[i].ad);
  }
  /* the engine was asked and had nothing to offer */
  cJSON *j = get_json(e, "/v1/feed?user=viewer&n=20");
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
      assert_false(jbool(it, "ad"));
  cJSON_Delete(j);
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_ads_served_total 0\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_ads_pages_total 2\n");
}

#define CAMPAIGN(id, adv, bid, creative)                                                           \
  "{\"id\": \"" id "\", \"advertiser\": \"" adv "\", \"daily_budget_cents\": 100000, "             \
  "\"bid\": {\"type\": \"cpm\", \"amount_cents\": " bid "}, \"creatives\": [\"" creative "\"]}"

static void ads_take_their_slots_and_are_billed_the_auction_price(void **state) {
  env_t *e = *state;
  feed_catalog(e);
  expect(e, "POST", "/v1/campaigns", AUTH, CAMPAIGN("c1", "acme", "8000", "adA"), 201, NULL);
  expect(e, "POST", "/v1/campaigns", AUTH, CAMPAIGN("c2", "beta", "6000", "adB"), 201, NULL);
  expect(e, "POST", "/v1/campaigns", AUTH, CAMPAIGN("c3", "gamma", "4000", "adC"), 201, NULL);
  lt_state_t *st = lt_store_state(e->store);

  /* the merge: ads at 0-based 3, 9, 15 (ads.first_slot 4, every 6, at most
   * 3), by bid; the organic entries in their order around them, the last
   * three dropped, the page still 20 long */
  lt_feed_result_t org, page;
  pages(e, "viewer", 20, lt_now_ms(), &org, &page);
  assert_int_equal(org.n, 20);
  assert_int_equal(page.n, 20);
  static const char *const want[3][2] = {{"adA", "c1"}, {"adB", "c2"}, {"adC", "c3"}};
  uint32_t j = 0, k = 0;
  for (uint32_t i = 0; i < page.n; i++) {
    const lt_feed_entry_t *x = &page.items[i];
    if (i == 3 || i == 9 || i == 15) {
      assert_true(x->ad);
      assert_int_equal(x->source, LT_SRC_AD);
      assert_string_equal(lt_state_name(st, LT_NS_ITEM, x->item), want[k][0]);
      assert_string_equal(lt_ads_campaign_name(e->ads, x->campaign), want[k][1]);
      k++;
    } else {
      assert_false(x->ad);
      assert_int_equal(x->campaign, LT_NONE);
      assert_int_equal(x->item, org.items[j].item);
      assert_string_equal(x->reason, org.items[j].reason);
      j++;
    }
  }
  assert_int_equal(j, 17);

  /* over HTTP */
  cJSON *fj = get_json(e, "/v1/feed?user=viewer&n=20");
  char rid[64];
  snprintf(rid, sizeof rid, "%s", jstr(fj, "request_id"));
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(fj, "items");
  assert_int_equal(cJSON_GetArraySize(items), 20);
  int prev_ad = 0, nads = 0;
  for (int i = 0; i < 20; i++) {
    const cJSON *it = cJSON_GetArrayItem(items, i);
    int ad = jbool(it, "ad");
    assert_false(ad && prev_ad); /* never two adjacent */
    prev_ad = ad;
    assert_int_equal(ad, i == 3 || i == 9 || i == 15);
    if (!ad) {
      assert_null(cJSON_GetObjectItemCaseSensitive(it, "campaign"));
      continue;
    }
    nads++;
    assert_string_equal(jstr(it, "source"), "ad");
    assert_true(cJSON_GetObjectItemCaseSensitive(it, "propensity")->valuedouble == 1.0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(it, "explore")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(it, "pool")));
  }
  assert_int_equal(nads, 3);
  const cJSON *a1 = cJSON_GetArrayItem(items, 3), *a2 = cJSON_GetArrayItem(items, 9);
  assert_string_equal(jstr(a1, "id"), "adA");
  assert_string_equal(jstr(a1, "campaign"), "c1");
  assert_string_equal(jstr(a1, "reason"), "sponsored by @acme");
  assert_false(jbool(a1, "aigc"));
  assert_string_equal(jstr(a2, "campaign"), "c2");
  assert_string_equal(jstr(a2, "reason"), "sponsored by @beta (AI-generated)");
  assert_true(jbool(a2, "aigc"));
  assert_true(has_policy(a2, "aigc"));

  /* the client reports the ads it showed: c1 pays c2's eCPM (60 cents per
   * impression at 6000 cents CPM), c2 pays c3's (40); a repeated event id
   * is charged once */
  char body[1024];
  snprintf(body, sizeof body,
           "[{\"id\": \"imp-1\", \"user\": \"viewer\", \"item\": \"adA\", \"type\": "
           "\"ad_impression\", \"request_id\": \"%s\", \"position\": 3},"
           " {\"id\": \"imp-1\", \"user\": \"viewer\", \"item\": \"adA\", \"type\": "
           "\"ad_impression\", \"request_id\": \"%s\", \"position\": 3},"
           " {\"id\": \"imp-2\", \"user\": \"viewer\", \"item\": \"adB\", \"type\": "
           "\"ad_impression\", \"request_id\": \"%s\", \"position\": 9}]",
           rid, rid, rid);
  cJSON_Delete(fj);
  expect(e, "POST", "/v1/events", AUTH, body, 200, "\"accepted\": 2, \"duplicates\": 1");
  expect(e, "POST", "/v1/events", AUTH, body, 200, "\"accepted\": 0, \"duplicates\": 3");
  expect(e, "GET", "/v1/campaigns/c1", NULL, NULL, 200, "\"spend_ucents\": 6000000");
  expect(e, "GET", "/v1/campaigns/c2", NULL, NULL, 200, "\"spend_ucents\": 4000000");
  expect(e, "GET", "/v1/campaigns/c3", NULL, NULL, 200, "\"spend_ucents\": 0");
  expect(e, "GET", "/v1/campaigns/c1/report", NULL, NULL, 200,
         "\"total\": {\"impressions\": 1, \"clicks\": 0, \"conversions\": 0, \"spend_cents\": 6");
  expect(e, "GET", "/v1/stats/revenue", NULL, NULL, 200,
         "\"online_marketing_cents\": 10, \"online_marketing_aigc_cents\": 4");

  /* a user in the ad-free group gets the organic page */
  expect(e, "PUT", "/v1/users/vip", AUTH, "{\"groups\": [\"ad_free\"]}", 200, NULL);
  fj = get_json(e, "/v1/feed?user=vip&n=20");
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(fj, "items"))
      assert_false(jbool(it, "ad"));
  cJSON_Delete(fj);

  /* serving counters: two pages of 3 ads (the direct one and the HTTP one) */
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_ads_served_total 6\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_ads_auctions_total 6\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200,
         "\nlaotie_ads_billable_events_total{result=\"billed\"} 2\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "\nlaotie_ads_spend_today_ucents 10000000\n");
  expect(e, "GET", "/metrics", NULL, NULL, 200, "laotie_feed_items_total{source=\"ad\"} 6\n");
}

static void feed_entries_show_what_the_policies_did(void **state) {
  env_t *e = *state;
  feed_catalog(e);
  char body[256];
  int64_t now_s = lt_now_ms() / 1000;
  snprintf(
      body, sizeof body,
      "{\"creator\": \"star\", \"kind\": \"live\", \"live\": {\"start\": %lld, \"end\": %lld}}",
      (long long)(now_s - 600), (long long)(now_s + 3600));
  expect(e, "PUT", "/v1/items/room", AUTH, body, 200, NULL);
  expect(e, "POST", "/v1/users/fan/follows/star", AUTH, NULL, 200, NULL);
  int seen_explore = 0, seen_aigc = 0, seen_live = 0;
  const char *users[] = {"viewer", "fan"};
  for (int u = 0; u < 2; u++) {
    char path[64];
    snprintf(path, sizeof path, "/v1/feed?user=%s&n=20", users[u]);
    cJSON *fj = get_json(e, path);
    const cJSON *it;
    int pos = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(fj, "items")) {
      /* every entry has every policy field, of its type */
      const cJSON *ex = cJSON_GetObjectItemCaseSensitive(it, "explore");
      const cJSON *pool = cJSON_GetObjectItemCaseSensitive(it, "pool");
      double prop = cJSON_GetObjectItemCaseSensitive(it, "propensity")->valuedouble;
      assert_true(cJSON_IsNull(pool) || cJSON_IsNumber(pool));
      assert_true(cJSON_IsNull(ex) || cJSON_IsObject(ex));
      assert_int_equal(cJSON_GetObjectItemCaseSensitive(it, "position")->valueint, pos);
      assert_int_equal(jbool(it, "aigc"), !strncmp(jstr(it, "id"), "v0_", 3));
      assert_int_equal(jbool(it, "aigc"), has_policy(it, "aigc"));
      assert_int_equal(jbool(it, "live"), !strcmp(jstr(it, "id"), "room"));
      assert_int_equal(jbool(it, "live"), has_policy(it, "live"));
      assert_int_equal(cJSON_IsNumber(pool), has_policy(it, "pool"));
      assert_int_equal(cJSON_IsObject(ex), has_policy(it, "explore"));
      if (cJSON_IsObject(ex)) { /* egreedy: drawn uniformly among `of` */
        int rank = cJSON_GetObjectItemCaseSensitive(ex, "rank")->valueint;
        int of = cJSON_GetObjectItemCaseSensitive(ex, "of")->valueint;
        assert_true(rank >= 1 && rank <= of);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(ex, "code")->valueint, 16 * of + rank);
        assert_true(prop > 1.0 / of - 1e-4 && prop < 1.0 / of + 1e-4);
        assert_int_equal(pos % 8, 4); /* the exploration slots */
        /* these are items serving pool 0: the stage shows */
        assert_int_equal(pool->valueint, 0);
        assert_non_null(strstr(jstr(it, "reason"), "; pool 0"));
        seen_explore++;
      } else {
        assert_true(prop == 1.0);
      }
      seen_aigc += jbool(it, "aigc");
      if (jbool(it, "live")) {
        seen_live++;
        assert_string_equal(jstr(it, "source"), "following");
        assert_string_equal(jstr(it, "reason"), "live now: @star you follow");
      }
      pos++;
    }
    cJSON_Delete(fj);
  }
  assert_true(seen_explore >= 2);
  assert_true(seen_aigc >= 1);
  assert_int_equal(seen_live, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(campaigns_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(events_priced_and_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(without_ads_503, setup, teardown),
      cmocka_unit_test_setup_teardown(without_campaigns_the_page_is_the_organic_page, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(ads_take_their_slots_and_are_billed_the_auction_price, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(feed_entries_show_what_the_policies_did, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
