/*
 * test_ads_http.c — the ads routes over loopback: a real server with an ads
 * engine on a random port. Campaigns created, read, updated, paused and
 * resumed; every error status of a bad body; ad events priced by the
 * server (a client's value is ignored); the campaign report and the
 * revenue report in JSON and CSV; campaigns and books surviving a restart;
 * 503 when the server runs without ads.
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
  if (e->ads) assert_int_equal(lt_ads_attach(e->ads, e->store), 0);
  the_obs = (obs_t){e->feed, e->ads};
  lt_store_set_observer(e->store, observe, &the_obs);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(campaigns_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(events_priced_and_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(without_ads_503, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
