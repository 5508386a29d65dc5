/*
 * test_ads.c — the ads engine on small fixtures: second-price amounts (CPM,
 * CPC, reserve, organic floor), a daily budget held under a burst of
 * concurrent auctions, frequency caps, duplicate event ids billed once,
 * the books after a restart (with and without a snapshot) equal to the
 * live books, ad load (never adjacent, never for ad-free users),
 * targeting, reservations expiring, stamping, pacing, the revenue and
 * campaign reports, and bad input (malformed campaign JSON, negative or
 * huge numbers, unknown creatives, corrupt campaign records).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after its prerequisites */

#include "helpers.h"

#include "ads/ads.h"
#include "core/clock.h"
#include "core/error.h"
#include "state/record.h"
#include "state/state.h"
#include "state/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2025-11-28 00:00 in Asia/Shanghai (UTC+8) = 2025-11-27 16:00 UTC */
#define T0 1764259200000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

typedef struct env {
  char *dir;
  lt_store_t *s;
  lt_ads_t *a;
  lt_ads_opts_t o;
} env_t;

static void env_open(env_t *e, int ignore_snapshots) {
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_INTERVAL; /* written at once, fsync'ed in the background */
  so.state.timezone = "Asia/Shanghai";
  so.ignore_snapshots = ignore_snapshots;
  assert_int_equal(lt_ads_new(&e->o, &e->a), 0);
  so.ext = lt_ads_ext;
  so.ext_ctx = e->a;
  assert_int_equal(lt_store_open(e->dir, &so, &e->s, NULL), 0);
  assert_int_equal(lt_ads_attach(e->a, e->s), 0);
  lt_store_set_observer(e->s, lt_ads_observe, NULL, e->a);
}

static void env_close(env_t *e, int snapshot) {
  assert_int_equal(lt_store_close(e->s, snapshot), 0);
  lt_ads_free(e->a);
  e->s = NULL;
  e->a = NULL;
}

static void env_init(env_t *e, const char *tag) {
  memset(e, 0, sizeof *e);
  e->dir = lt_test_tmpdir(tag);
  lt_ads_opts_default(&e->o);
}

static void env_done(env_t *e) {
  if (e->s) env_close(e, 0);
  lt_test_rmdir(e->dir);
  free(e->dir);
}

static lt_record_t item_rec(const char *id, const char *creator, const char *tag, int kind,
                            int aigc) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.kind = (uint8_t)kind;
  r.u.item.aigc = (uint8_t)aigc;
  r.u.item.duration_ms = 15000;
  if (tag) {
    r.u.item.ntags = 1;
    r.u.item.tags[0] = lt_str_of(tag);
  }
  return r;
}

static void put_item(env_t *e, const char *id, const char *tag, int kind, int aigc) {
  char creator[64];
  snprintf(creator, sizeof creator, "cr-%s", id);
  lt_record_t r = item_rec(id, creator, tag, kind, aigc);
  assert_int_equal(lt_store_write(e->s, &r, 1, 1, NULL, NULL, NULL), 0);
}

static void put_user(env_t *e, const char *id, const char *group) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_USER_PUT;
  r.u.user.id = lt_str_of(id);
  if (group) {
    r.u.user.ngroups = 1;
    r.u.user.groups[0] = lt_str_of(group);
  }
  r.u.user.ts_ms = T0;
  assert_int_equal(lt_store_write(e->s, &r, 1, 1, NULL, NULL, NULL), 0);
}

static lt_record_t ev(int type, const char *user, const char *item, int64_t ts, const char *id,
                      const char *rid, int64_t value) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.type = (uint8_t)type;
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.ts_ms = ts;
  r.u.ev.position = -1;
  r.u.ev.value = value;
  if (id) r.u.ev.id = lt_str_of(id);
  if (rid) r.u.ev.request_id = lt_str_of(rid);
  return r;
}

/* Writes one client event the way the server does: stamp, then store. */
static lt_write_result_t send(env_t *e, int type, const char *user, const char *item, int64_t ts,
                              const char *id, const char *rid, int64_t value) {
  lt_record_t r = ev(type, user, item, ts, id, rid, value);
  lt_ads_stamp(e->a, &r, 1);
  lt_write_result_t res;
  assert_int_equal(lt_store_write(e->s, &r, 1, 0, NULL, NULL, &res), 0);
  return res;
}

static uint32_t uid(env_t *e, const char *name) {
  uint32_t u = LT_NONE;
  lt_state_find(lt_store_state(e->s), LT_NS_USER, name, strlen(name), &u);
  return u;
}

static uint32_t iid(env_t *e, const char *name) {
  uint32_t i = LT_NONE;
  assert_int_equal(lt_state_find(lt_store_state(e->s), LT_NS_ITEM, name, strlen(name), &i), 0);
  return i;
}

/* The catalog: organic items o0..o19 (tags food / cars), creatives a0..a9
 * (a9 is AIGC), users u0..u9 and "free" in the ad-free group. */
static void catalog(env_t *e) {
  char id[32];
  for (int i = 0; i < 20; i++) {
    snprintf(id, sizeof id, "o%d", i);
    put_item(e, id, i % 2 ? "cars" : "food", LT_KIND_VIDEO, 0);
  }
  for (int i = 0; i < 10; i++) {
    snprintf(id, sizeof id, "a%d", i);
    put_item(e, id, i % 2 ? "cars" : "food", LT_KIND_VIDEO, i == 9);
  }
  put_item(e, "room1", "music", LT_KIND_LIVE, 0);
  for (int i = 0; i < 10; i++) {
    snprintf(id, sizeof id, "u%d", i);
    put_user(e, id, i == 9 ? "vip" : NULL);
  }
  put_user(e, "free", "ad_free");
}

static uint32_t mk_campaign(env_t *e, const char *json) {
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  const char *why = NULL;
  int rc = lt_ads_spec_parse(json, strlen(json), sp, &why);
  if (rc) fprintf(stderr, "spec: %s\n", why);
  assert_int_equal(rc, 0);
  uint32_t cid = LT_NONE;
  rc = lt_ads_campaign_create(e->a, sp, T0, &cid, &why);
  if (rc) fprintf(stderr, "create: %s (%s)\n", lt_strerror(rc), why ? why : "");
  assert_int_equal(rc, 0);
  free(sp);
  return cid;
}

/* A page of n organic items o0.. with scores s. */
typedef struct page {
  uint32_t items[32];
  float scores[32];
  lt_ads_page_t pg;
} page_t;

static void mk_page(env_t *e, page_t *p, uint32_t user, const char *rid, uint32_t n, float score) {
  char id[32];
  for (uint32_t i = 0; i < n; i++) {
    snprintf(id, sizeof id, "o%u", i);
    p->items[i] = iid(e, id);
    p->scores[i] = score;
  }
  p->pg.user = user;
  p->pg.items = p->items;
  p->pg.scores = p->scores;
  p->pg.n = n;
  p->pg.request_id = rid;
}

/* ---- tests ------------------------------------------------------------- */

static void second_price_amounts(void **state) {
  env_t e;
  env_init(&e, "ads-gsp");
  e.o.organic_cpm = 0; /* no organic floor here */
  e.o.reserve_cpm = 10;
  env_open(&e, 0);
  catalog(&e);
  uint32_t A = mk_campaign(
      &e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100000,"
          " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"]}");
  uint32_t B = mk_campaign(
      &e, "{\"id\": \"B\", \"advertiser\": \"bolt\", \"daily_budget_cents\": 100000,"
          " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 300}, \"creatives\": [\"a1\"]}");
  uint32_t C = mk_campaign(
      &e, "{\"id\": \"C\", \"advertiser\": \"cove\", \"daily_budget_cents\": 100000,"
          " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 200}, \"creatives\": [\"a2\"]}");
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n = 0;
  mk_page(&e, &p, uid(&e, "u0"), "r1", 12, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 2); /* positions 3 and 9 of 12 */
  assert_int_equal(out[0].position, 3);
  assert_int_equal(out[0].campaign, A);
  assert_int_equal(out[0].item, iid(&e, "a0"));
  /* A pays B's eCPM: 300 cents per mille = 300,000 ucents an impression */
  assert_int_equal(out[0].clear_ucents, 300LL * 1000000);
  assert_int_equal(out[0].price_ucents, 300000);
  assert_string_equal(out[0].reason, "sponsored by @acme");
  assert_int_equal(out[1].position, 9);
  assert_int_equal(out[1].campaign, B);
  assert_int_equal(out[1].price_ucents, 200000); /* B pays C's 200 */

  /* the last bidder alone pays the reserve */
  lt_ads_campaign_set_status(e.a, A, LT_CAMPAIGN_PAUSED, T0);
  lt_ads_campaign_set_status(e.a, B, LT_CAMPAIGN_PAUSED, T0);
  mk_page(&e, &p, uid(&e, "u1"), "r2", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, C);
  assert_int_equal(out[0].price_ucents, 10000); /* 10 cents per mille */

  /* CPC: eCPM = bid x pCTR x 1000; a new creative is predicted at the prior */
  uint32_t D = mk_campaign(
      &e, "{\"id\": \"D\", \"advertiser\": \"dyn\", \"daily_budget_cents\": 100000,"
          " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 100}, \"creatives\": [\"a3\"]}");
  mk_page(&e, &p, uid(&e, "u2"), "r3", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, D);
  assert_true(out[0].pctr > 0.0099 && out[0].pctr < 0.0101);
  /* D's eCPM ~ 100 cents x 0.01 x 1000 = 1000 cents per mille, above C's 200:
   * it pays 200 per mille = 200,000 ucents per impression = 20,000,000 ucents
   * (20 cents) per click at a 1 % CTR */
  assert_true(llabs(out[0].ecpm_ucents - 1000LL * 1000000) < 200000);
  assert_true(llabs(out[0].price_ucents - 20000000) < 20000);

  /* the organic floor: a high-scoring organic item keeps its slot */
  lt_ads_free(NULL);
  env_close(&e, 0);
  e.o.organic_cpm = 100;
  e.o.organic_beta = 1;
  env_open(&e, 0);
  mk_page(&e, &p, uid(&e, "u3"), "r4", 6, 5.0f); /* 100 x e^5 = 14841 cents per mille */
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 0);
  mk_page(&e, &p, uid(&e, "u3"), "r5", 6, 0.0f); /* floor 100 cents per mille */
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, D);
  /* D now clears at max(C's 200, organic 100) */
  assert_true(llabs(out[0].clear_ucents - 200LL * 1000000) < 1000);
  assert_true(lt_ads_check(e.a));
  env_done(&e);
}

/* ---- the budget under a burst of concurrent auctions -------------------- */

typedef struct burst {
  env_t *e;
  int thread;
  int sold_a;
  int64_t sold_a_ucents;
  char (*rids)[24]; /* the request ids that sold A, for the events */
  uint32_t *users;
} burst_t;

#define BURST_THREADS 8
#define BURST_FILLS 400

static void *burst_main(void *arg) {
  burst_t *b = arg;
  env_t *e = b->e;
  uint32_t items[6];
  for (int i = 0; i < 6; i++) {
    char id[16];
    snprintf(id, sizeof id, "o%d", i);
    items[i] = iid(e, id);
  }
  for (int i = 0; i < BURST_FILLS; i++) {
    char rid[24];
    snprintf(rid, sizeof rid, "t%d-%d", b->thread, i);
    lt_ads_page_t pg = {LT_NONE, items, NULL, 6, rid};
    lt_ads_slot_t out[2];
    uint32_t n;
    assert_int_equal(lt_ads_fill(e->a, &pg, T0 + HOUR_MS, out, 2, &n), 0);
    for (uint32_t k = 0; k < n; k++)
      if (out[k].campaign == 0) {
        strcpy(b->rids[b->sold_a], rid);
        b->sold_a++;
        b->sold_a_ucents += out[k].price_ucents;
      }
  }
  return NULL;
}

static void budget_held_under_concurrent_burst(void **state) {
  env_t e;
  env_init(&e, "ads-burst");
  e.o.organic_cpm = 0;
  e.o.hour_cap_share = 0; /* the daily budget alone is under test */
  env_open(&e, 0);
  catalog(&e);
  /* A: 100 cents a day, pays B's 900 per mille = 900,000 ucents per
   * impression: 111 impressions and a bit */
  mk_campaign(&e,
              "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100,"
              " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 1000}, \"creatives\": [\"a0\"]}");
  mk_campaign(&e, "{\"id\": \"B\", \"advertiser\": \"bolt\", \"daily_budget_cents\": 1000000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 900}, \"creatives\": [\"a1\"]}");
  pthread_t th[BURST_THREADS];
  burst_t b[BURST_THREADS];
  for (int t = 0; t < BURST_THREADS; t++) {
    b[t] = (burst_t){&e, t, 0, 0, calloc(BURST_FILLS, 24), NULL};
    pthread_create(&th[t], NULL, burst_main, &b[t]);
  }
  int sold = 0;
  int64_t sold_ucents = 0;
  for (int t = 0; t < BURST_THREADS; t++) {
    pthread_join(th[t], NULL);
    sold += b[t].sold_a;
    sold_ucents += b[t].sold_a_ucents;
  }
  int64_t budget = 100 * 1000000LL, price = 900000;
  /* served: never more than the budget plus one price */
  assert_true(sold_ucents <= budget + price);
  assert_int_equal(sold, 112); /* 111 x 0.9 = 99.9 cents < 100: the 112th is the one over */
  lt_ads_serving_t sv;
  assert_int_equal(lt_ads_campaign_serving(e.a, 0, &sv), 0);
  assert_int_equal(sv.served, 112);
  assert_true(sv.budget_blocked > 0);
  /* every impression comes back, concurrently, twice (a client retry) */
  for (int t = 0; t < BURST_THREADS; t++)
    for (int i = 0; i < b[t].sold_a; i++) {
      char id[48];
      snprintf(id, sizeof id, "imp-%s", b[t].rids[i]);
      send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, id, b[t].rids[i], 0);
      send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, id, b[t].rids[i], 0);
    }
  lt_ads_counts_t h[24];
  assert_int_equal(lt_ads_campaign_hours(e.a, 0, lt_days_from_civil(2025, 11, 28),
                                         lt_days_from_civil(2025, 11, 28), h),
                   0);
  /* billed: exactly the budget (the last impression billed only what was left) */
  assert_int_equal(h[1].impressions, 112);
  assert_int_equal(h[1].spend_ucents, budget);
  assert_int_equal(h[1].billed, 112);
  /* reservations all released by billing */
  assert_int_equal(lt_ads_campaign_serving(e.a, 0, &sv), 0);
  assert_int_equal(sv.reserved_ucents, 0);
  for (int t = 0; t < BURST_THREADS; t++)
    free(b[t].rids);
  assert_true(lt_ads_check(e.a));
  env_done(&e);
}

/* Auctions, billing writes, ticks and campaign updates all at once. */
typedef struct mixed {
  env_t *e;
  int thread;
  int stop;
} mixed_t;

static void *mixed_fill(void *arg) {
  mixed_t *m = arg;
  env_t *e = m->e;
  uint32_t items[12];
  for (int i = 0; i < 12; i++) {
    char id[16];
    snprintf(id, sizeof id, "o%d", i);
    items[i] = iid(e, id);
  }
  for (int i = 0; i < 300; i++) {
    char rid[32], id[48], user[16];
    snprintf(rid, sizeof rid, "m%d-%d", m->thread, i);
    snprintf(user, sizeof user, "u%d", i % 9);
    lt_ads_page_t pg = {uid(e, user), items, NULL, 12, rid};
    lt_ads_slot_t out[2];
    uint32_t n;
    int64_t now = T0 + HOUR_MS + i * 1000;
    assert_int_equal(lt_ads_fill(e->a, &pg, now, out, 2, &n), 0);
    for (uint32_t k = 0; k < n; k++) {
      const char *item = lt_state_name(lt_store_state(e->s), LT_NS_ITEM, out[k].item);
      snprintf(id, sizeof id, "mi-%s-%u", rid, k);
      send(e, LT_EV_AD_IMPRESSION, user, item, now, id, rid, 0);
      if (i % 4 == 0) {
        snprintf(id, sizeof id, "mc-%s-%u", rid, k);
        send(e, LT_EV_AD_CLICK, user, item, now, id, rid, 0);
      }
    }
  }
  return NULL;
}

static void *mixed_admin(void *arg) {
  mixed_t *m = arg;
  env_t *e = m->e;
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  const char *why;
  for (int i = 0; !__atomic_load_n(&m->stop, __ATOMIC_RELAXED); i++) {
    char j[128];
    snprintf(j, sizeof j, "{\"daily_budget_cents\": %d}", 40 + i % 20);
    assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
    assert_int_equal(lt_ads_campaign_update(e->a, 0, sp, T0, &why), 0);
    lt_ads_campaign_set_status(e->a, 1, i % 2 ? LT_CAMPAIGN_PAUSED : LT_CAMPAIGN_ACTIVE, T0);
    lt_ads_tick(e->a, T0 + HOUR_MS + i * 5000);
    lt_buf_t b;
    lt_buf_init(&b);
    lt_ads_campaigns_json(e->a, NULL, T0 + HOUR_MS, &b);
    lt_ads_campaign_report(e->a, 0, lt_days_from_civil(2025, 11, 28),
                           lt_days_from_civil(2025, 11, 28), LT_ADS_FMT_JSON, &b);
    lt_buf_free(&b);
  }
  free(sp);
  return NULL;
}

static void fill_bill_tick_concurrently(void **state) {
  env_t e;
  env_init(&e, "ads-mixed");
  e.o.organic_cpm = 0;
  e.o.hour_cap_share = 0; /* the daily budget alone is under test */
  e.o.freq_cap = 1000;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 50,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 900}, \"creatives\": [\"a0\"]}");
  mk_campaign(&e, "{\"id\": \"B\", \"advertiser\": \"bolt\", \"daily_budget_cents\": 30,"
                  " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 80}, \"creatives\": [\"a1\"]}");
  mk_campaign(&e, "{\"id\": \"C\", \"advertiser\": \"cove\", \"daily_budget_cents\": 40,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 300}, \"creatives\": [\"a2\"]}");
  pthread_t th[5];
  mixed_t m[5];
  for (int t = 0; t < 5; t++) {
    m[t] = (mixed_t){&e, t, 0};
    pthread_create(&th[t], NULL, t < 4 ? mixed_fill : mixed_admin, &m[t]);
  }
  for (int t = 0; t < 4; t++)
    pthread_join(th[t], NULL);
  __atomic_store_n(&m[4].stop, 1, __ATOMIC_RELAXED);
  pthread_join(th[4], NULL);
  int32_t d = lt_days_from_civil(2025, 11, 28);
  /* no campaign is billed over its largest budget of the day */
  int64_t cap[3] = {59, 30, 40};
  uint64_t imps = 0, billed = 0;
  for (uint32_t c = 0; c < 3; c++) {
    lt_ads_counts_t h[24], sum;
    memset(&sum, 0, sizeof sum);
    assert_int_equal(lt_ads_campaign_hours(e.a, c, d, d, h), 0);
    int64_t spend = 0;
    for (int k = 0; k < 24; k++) {
      spend += h[k].spend_ucents;
      imps += h[k].impressions;
      billed += h[k].billed;
    }
    assert_true(spend <= cap[c] * 1000000);
  }
  /* how many depends on the interleaving of ticks (pacing) and auctions */
  assert_true(imps > 50);
  assert_true(billed > 10);
  assert_true(lt_ads_check(e.a));
  lt_buf_t live, again;
  lt_buf_init(&live);
  lt_buf_init(&again);
  lt_ads_books_dump(e.a, &live);
  env_close(&e, 0);
  env_open(&e, 0);
  lt_ads_books_dump(e.a, &again);
  assert_int_equal(again.len, live.len);
  assert_memory_equal(again.p, live.p, live.len);
  lt_buf_free(&live);
  lt_buf_free(&again);
  env_done(&e);
}

static void frequency_cap_held(void **state) {
  env_t e;
  env_init(&e, "ads-freq");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(
      &e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100000,"
          " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\", \"a2\"],"
          " \"frequency_cap\": 2}");
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n, shown = 0;
  for (int i = 0; i < 6; i++) {
    char rid[16];
    snprintf(rid, sizeof rid, "f%d", i);
    mk_page(&e, &p, uid(&e, "u0"), rid, 12, 0);
    assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS + i, out, 4, &n), 0);
    assert_true(n <= 1); /* one campaign: at most once per page */
    shown += n;
  }
  assert_int_equal(shown, 2);
  lt_ads_serving_t sv;
  assert_int_equal(lt_ads_campaign_serving(e.a, 0, &sv), 0);
  assert_int_equal(sv.served, 2);
  assert_int_equal(sv.frequency_capped, 4); /* the saturated audience shows */
  /* another user is not capped */
  mk_page(&e, &p, uid(&e, "u1"), "f9", 12, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  /* the next day the cap starts again */
  mk_page(&e, &p, uid(&e, "u0"), "f10", 12, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + DAY_MS + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  /* impressions logged without a served ad count against the cap too */
  send(&e, LT_EV_AD_IMPRESSION, "u2", "a0", T0 + HOUR_MS, "x1", NULL, 0);
  send(&e, LT_EV_AD_IMPRESSION, "u2", "a0", T0 + HOUR_MS, "x2", NULL, 0);
  mk_page(&e, &p, uid(&e, "u2"), "f11", 12, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 0);
  env_done(&e);
}

static void duplicate_event_ids_billed_once(void **state) {
  env_t e;
  env_init(&e, "ads-dup");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"]}");
  mk_campaign(&e, "{\"id\": \"K\", \"advertiser\": \"kilo\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 30}, \"creatives\": [\"a1\"]}");
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u0"), "q1", 12, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(out[0].campaign, 0);
  assert_int_equal(out[1].campaign, 1);
  int64_t pa = out[0].price_ucents, pk = out[1].price_ucents;
  /* A pays K's eCPM, 30 cents x 1 % x 1000 = 300 per mille; K alone in its
   * slot pays the reserve, 10 per mille, = 1 cent a click at 1 % */
  assert_int_equal(pa, 300000);
  assert_true(llabs(pk - 1000000) < 1000);
  /* the same impression id three times: accepted once */
  assert_int_equal(send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, "i1", "q1", 0).accepted,
                   1);
  assert_int_equal(
      send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, "i1", "q1", 0).duplicates, 1);
  lt_record_t two[2] = {ev(LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, "i1", "q1", 0),
                        ev(LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, "i2", "q1", 0)};
  lt_ads_stamp(e.a, two, 2);
  lt_write_result_t res;
  assert_int_equal(lt_store_write(e.s, two, 2, 0, NULL, NULL, &res), 0);
  assert_int_equal(res.accepted, 1); /* i2 is new: a second event of its own */
  /* CPC: the click is billed, once; its impression is not */
  send(&e, LT_EV_AD_IMPRESSION, "u0", "a1", T0 + HOUR_MS, "k-i", "q1", 0);
  send(&e, LT_EV_AD_CLICK, "u0", "a1", T0 + HOUR_MS, "k-c", "q1", 0);
  send(&e, LT_EV_AD_CLICK, "u0", "a1", T0 + HOUR_MS, "k-c", "q1", 0);
  /* events without an id are billed every time */
  send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, NULL, "q1", 0);
  send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, NULL, "q1", 0);
  lt_ads_counts_t h[24];
  int32_t d = lt_days_from_civil(2025, 11, 28);
  assert_int_equal(lt_ads_campaign_hours(e.a, 0, d, d, h), 0);
  assert_int_equal(h[1].impressions, 4);
  assert_int_equal(h[1].spend_ucents, 4 * pa);
  assert_int_equal(lt_ads_campaign_hours(e.a, 1, d, d, h), 0);
  assert_int_equal(h[1].clicks, 1);
  assert_int_equal(h[1].billed, 1);
  assert_int_equal(h[1].spend_ucents, pk);
  /* an ad event the server never served is counted, not billed, whatever
   * value the client sends (lt_ads_stamp overwrites it) */
  send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0 + HOUR_MS, "forged", "q-unknown", 99999999);
  assert_int_equal(lt_ads_campaign_hours(e.a, 0, d, d, h), 0);
  assert_int_equal(h[1].impressions, 5);
  assert_int_equal(h[1].unbilled, 1);
  assert_int_equal(h[1].spend_ucents, 4 * pa);
  assert_true(lt_ads_check(e.a));
  env_done(&e);
}

/* A day of everything: campaigns created, updated, paused; ads served and
 * their events; gifts; purchases; a live room; a snapshot half way. */
static void busy_day(env_t *e, int snapshot_at) {
  catalog(e);
  mk_campaign(
      e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 5000,"
         " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 800}, \"creatives\": [\"a0\", \"a9\"],"
         " \"targeting\": {\"tags\": [\"food\"]}}");
  mk_campaign(e, "{\"id\": \"B\", \"advertiser\": \"bolt\", \"daily_budget_cents\": 3000,"
                 " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 40}, \"creatives\": [\"a1\"]}");
  mk_campaign(e, "{\"id\": \"C\", \"advertiser\": \"cove\", \"daily_budget_cents\": 2000,"
                 " \"bid\": {\"type\": \"ocpm\", \"amount_cents\": 900}, \"creatives\": [\"a2\"]}");
  for (int u = 0; u < 9; u++) {
    char user[16], id[32];
    snprintf(user, sizeof user, "u%d", u);
    /* history so tag targeting matches some */
    snprintf(id, sizeof id, "h%d", u);
    lt_record_t r = ev(LT_EV_PLAY, user, u % 2 ? "o1" : "o0", T0 + 1000, id, NULL, 0);
    r.u.ev.watch_ms = 9000;
    lt_store_write(e->s, &r, 1, 0, NULL, NULL, NULL);
  }
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  for (int i = 0; i < 120; i++) {
    if (i == snapshot_at) assert_int_equal(lt_store_snapshot(e->s), 0);
    if (i == 40) {
      const char *why;
      const char *j = "{\"daily_budget_cents\": 6000, \"name\": \"bigger\"}";
      assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
      assert_int_equal(lt_ads_campaign_update(e->a, 0, sp, T0 + 5 * HOUR_MS, &why), 0);
    }
    if (i == 70) lt_ads_campaign_set_status(e->a, 1, LT_CAMPAIGN_PAUSED, T0 + 8 * HOUR_MS);
    if (i == 90) lt_ads_campaign_set_status(e->a, 1, LT_CAMPAIGN_ACTIVE, T0 + 10 * HOUR_MS);
    int64_t now = T0 + (int64_t)i * 12 * 60000;
    char user[16], rid[32], id[48];
    snprintf(user, sizeof user, "u%d", i % 9);
    snprintf(rid, sizeof rid, "req%d", i);
    page_t p;
    mk_page(e, &p, uid(e, user), rid, 12, 0);
    lt_ads_slot_t out[4];
    uint32_t n;
    lt_ads_tick(e->a, now);
    assert_int_equal(lt_ads_fill(e->a, &p.pg, now, out, 4, &n), 0);
    for (uint32_t k = 0; k < n; k++) {
      const char *item = lt_state_name(lt_store_state(e->s), LT_NS_ITEM, out[k].item);
      snprintf(id, sizeof id, "imp-%d-%u", i, k);
      send(e, LT_EV_AD_IMPRESSION, user, item, now + 500, id, rid, 0);
      if ((i + k) % 3 == 0) {
        snprintf(id, sizeof id, "clk-%d-%u", i, k);
        send(e, LT_EV_AD_CLICK, user, item, now + 900, id, rid, 0);
        if ((i + k) % 2 == 0) {
          snprintf(id, sizeof id, "cv-%d-%u", i, k);
          send(e, LT_EV_AD_CONVERSION, user, item, now + 5000, id, rid, 0);
        }
      }
    }
    if (i % 7 == 0) {
      snprintf(id, sizeof id, "g%d", i);
      send(e, LT_EV_GIFT, user, i % 14 ? "room1" : "o3", now, id, NULL, 100 + i);
    }
    if (i % 11 == 0) {
      snprintf(id, sizeof id, "p%d", i);
      send(e, LT_EV_PURCHASE, user, "o5", now, id, i % 22 ? rid : NULL, 1999);
    }
    if (i == 60) { /* the live room changes hands: later gifts go to the new creator */
      lt_record_t r = item_rec("room1", "cr-new", "music", LT_KIND_LIVE, 0);
      assert_int_equal(lt_store_write(e->s, &r, 1, 1, NULL, NULL, NULL), 0);
    }
  }
  free(sp);
}

static void books_after_restart_equal_replay(void **state) {
  env_t e;
  env_init(&e, "ads-restart");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  busy_day(&e, 60);
  assert_true(lt_ads_check(e.a));
  lt_buf_t live, again, full;
  lt_buf_init(&live);
  lt_buf_init(&again);
  lt_buf_init(&full);
  assert_int_equal(lt_ads_books_dump(e.a, &live), 0);
  assert_true(live.len > 1000);
  assert_non_null(strstr((const char *)live.p, "budget=6000"));
  env_close(&e, 1); /* with a snapshot: the state starts from it, ads scan the log */
  env_open(&e, 0);
  assert_int_equal(lt_ads_books_dump(e.a, &again), 0);
  assert_int_equal(again.len, live.len);
  assert_memory_equal(again.p, live.p, live.len);
  assert_true(lt_ads_check(e.a));
  env_close(&e, 0);
  env_open(&e, 1); /* a fresh replay of the whole log */
  assert_int_equal(lt_ads_books_dump(e.a, &full), 0);
  assert_int_equal(full.len, live.len);
  assert_memory_equal(full.p, live.p, live.len);
  /* and the campaigns are there, with their state */
  uint32_t cid;
  assert_int_equal(lt_ads_campaign_find(e.a, "B", 1, &cid), 0);
  assert_int_equal(cid, 1);
  lt_buf_t j;
  lt_buf_init(&j);
  assert_int_equal(lt_ads_campaign_json(e.a, 0, T0, &j), 0);
  assert_non_null(strstr((const char *)j.p, "\"name\": \"bigger\""));
  assert_non_null(strstr((const char *)j.p, "\"aigc\": true")); /* a9 is AIGC in the catalog */
  lt_buf_free(&j);
  lt_buf_free(&live);
  lt_buf_free(&again);
  lt_buf_free(&full);
  env_done(&e);
}

static void ad_load_never_adjacent_nor_ad_free(void **state) {
  env_t e;
  env_init(&e, "ads-load");
  e.o.organic_cpm = 0;
  e.o.first_slot = 2;
  e.o.every = 2;
  e.o.max_per_page = 16;
  env_open(&e, 0);
  catalog(&e);
  char json[512];
  for (int c = 0; c < 9; c++) {
    snprintf(json, sizeof json,
             "{\"id\": \"c%d\", \"advertiser\": \"adv%d\", \"daily_budget_cents\": 100000,"
             " \"bid\": {\"type\": \"cpm\", \"amount_cents\": %d}, \"creatives\": [\"a%d\"]}",
             c, c, 100 + c, c);
    mk_campaign(&e, json);
  }
  page_t p;
  lt_ads_slot_t out[16];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u0"), "L1", 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 9); /* slots 1, 3, 5, ... 17: 9 campaigns, each once */
  for (uint32_t k = 0; k < n; k++) {
    assert_true(out[k].position >= 1); /* never first: no adjacency across pages */
    assert_true(out[k].position < 20);
    if (k) assert_true(out[k].position >= out[k - 1].position + 2);
    for (uint32_t j = 0; j < k; j++)
      assert_int_not_equal(out[j].campaign, out[k].campaign);
  }
  /* highest bids first */
  assert_int_equal(out[0].campaign, 8);
  /* an ad-free user sees none, an unknown user some */
  mk_page(&e, &p, uid(&e, "free"), "L2", 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 0);
  /* ... also once the tick has resolved the group */
  lt_ads_tick(e.a, T0 + HOUR_MS);
  mk_page(&e, &p, uid(&e, "free"), "L3", 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 0);
  mk_page(&e, &p, LT_NONE, "L4", 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_true(n > 0);
  /* no request id, no ads (they could not be billed) */
  mk_page(&e, &p, uid(&e, "u1"), NULL, 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 0);
  /* a creative already on the page is not shown again as an ad */
  mk_page(&e, &p, uid(&e, "u2"), "L5", 20, 0);
  p.items[0] = iid(&e, "a8");
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  for (uint32_t k = 0; k < n; k++)
    assert_int_not_equal(out[k].item, iid(&e, "a8"));
  /* options that would allow adjacent ads are refused */
  lt_ads_opts_t o;
  lt_ads_opts_default(&o);
  char err[128];
  assert_int_equal(lt_ads_opts_set(&o, "every", "1", err, sizeof err), LT_EINVAL);
  assert_int_equal(lt_ads_opts_set(&o, "first_slot", "1", err, sizeof err), LT_EINVAL);
  o.every = 1;
  lt_ads_t *bad;
  assert_int_equal(lt_ads_new(&o, &bad), LT_EINVAL);
  env_done(&e);
}

static void ad_load_default_positions(void **state) {
  env_t e;
  env_init(&e, "ads-default");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  for (int c = 0; c < 5; c++) {
    char json[512];
    snprintf(json, sizeof json,
             "{\"id\": \"c%d\", \"advertiser\": \"adv%d\", \"daily_budget_cents\": 100000,"
             " \"bid\": {\"type\": \"cpm\", \"amount_cents\": %d}, \"creatives\": [\"a%d\"]}",
             c, c, 100 + c, c);
    mk_campaign(&e, json);
  }
  page_t p;
  lt_ads_slot_t out[16];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u0"), "D1", 20, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 3); /* 4th, 10th, 16th; max_per_page 3 */
  assert_int_equal(out[0].position, 3);
  assert_int_equal(out[1].position, 9);
  assert_int_equal(out[2].position, 15);
  mk_page(&e, &p, uid(&e, "u0"), "D2", 3, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 16, &n), 0);
  assert_int_equal(n, 0); /* a page of 3 has no 4th position */
  env_done(&e);
}

static void targeting_tags_and_groups(void **state) {
  env_t e;
  env_init(&e, "ads-target");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"F\", \"advertiser\": \"food\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"],"
                  " \"targeting\": {\"tags\": [\"food\"]}}");
  mk_campaign(&e, "{\"id\": \"V\", \"advertiser\": \"vip\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 400}, \"creatives\": [\"a1\"],"
                  " \"targeting\": {\"groups\": [\"vip\"]}}");
  /* u0 watched food, u1 cars; u9 is vip */
  lt_record_t r = ev(LT_EV_PLAY, "u0", "o0", T0, "p0", NULL, 0);
  lt_store_write(e.s, &r, 1, 0, NULL, NULL, NULL);
  r = ev(LT_EV_PLAY, "u1", "o1", T0, "p1", NULL, 0);
  lt_store_write(e.s, &r, 1, 0, NULL, NULL, NULL);
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u0"), "T1", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, 0);
  mk_page(&e, &p, uid(&e, "u1"), "T2", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 0);
  mk_page(&e, &p, uid(&e, "u9"), "T3", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, 1);
  /* a campaign outside its dates does not bid */
  const char *why;
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  char j[128];
  snprintf(j, sizeof j, "{\"start\": %lld}", (long long)(T0 + 2 * HOUR_MS) / 1000);
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_update(e.a, 0, sp, T0, &why), 0);
  mk_page(&e, &p, uid(&e, "u0"), "T4", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + 3 * HOUR_MS, out, 4, &n), 0);
  assert_int_equal(n, 1);
  free(sp);
  env_done(&e);
}

static void reservations_expire_and_stamp_prices(void **state) {
  env_t e;
  env_init(&e, "ads-expire");
  e.o.organic_cpm = 0;
  e.o.reserve_ttl_s = 60;
  e.o.attribution_s = 600;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"]}");
  int64_t now = T0 + HOUR_MS;
  lt_ads_tick(e.a, now);
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u0"), "E1", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, now, out, 4, &n), 0);
  assert_int_equal(n, 1);
  lt_ads_serving_t sv;
  lt_ads_campaign_serving(e.a, 0, &sv);
  assert_int_equal(sv.reserved_ucents, 10000);
  lt_ads_tick(e.a, now + 29000);
  lt_ads_campaign_serving(e.a, 0, &sv);
  assert_int_equal(sv.reserved_ucents, 10000); /* younger than the ttl */
  lt_ads_tick(e.a, now + 61000);
  lt_ads_campaign_serving(e.a, 0, &sv);
  assert_int_equal(sv.reserved_ucents, 0); /* expired */
  /* the price is still known for a late impression, and billed */
  lt_record_t r = ev(LT_EV_AD_IMPRESSION, "u0", "a0", now + 70000, "late", "E1", 5);
  lt_ads_stamp(e.a, &r, 1);
  assert_int_equal(r.u.ev.value, 10000);
  /* a click on a CPM ad is not billable: stamped 0 */
  lt_record_t c = ev(LT_EV_AD_CLICK, "u0", "a0", now + 70000, "late-c", "E1", 5);
  lt_ads_stamp(e.a, &c, 1);
  assert_int_equal(c.u.ev.value, 0);
  assert_int_equal(lt_store_write(e.s, &r, 1, 0, NULL, NULL, NULL), 0);
  lt_ads_campaign_serving(e.a, 0, &sv);
  assert_int_equal(sv.spent_ucents, 10000);
  assert_int_equal(sv.reserved_ucents, 0); /* not given back twice */
  /* past the attribution window the price is forgotten */
  for (int64_t t = now + 70000; t <= now + 800000; t += 30000)
    lt_ads_tick(e.a, t);
  r = ev(LT_EV_AD_IMPRESSION, "u0", "a0", now, "later", "E1", 5);
  lt_ads_stamp(e.a, &r, 1);
  assert_int_equal(r.u.ev.value, 0);
  lt_ads_metrics_t m;
  lt_ads_metrics(e.a, &m);
  assert_int_equal(m.served_entries, 0);
  assert_true(lt_ads_check(e.a));
  env_done(&e);
}

/* One campaign, steady traffic over a simulated day: pacing spreads the
 * budget (no hour over 15 %) and spends it (within 5 %). */
static void pacing_spreads_a_day(void **state) {
  env_t e;
  env_init(&e, "ads-pace");
  e.o.organic_cpm = 0;
  e.o.pacing_mix = 0; /* uniform plan */
  env_open(&e, 0);
  catalog(&e);
  /* 200 cents a day at 10 cents per mille (the reserve) = 20,000 impressions;
   * traffic offers 4 a minute per user x 10 users ... 57,600 a day */
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 200,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"],"
                  " \"frequency_cap\": 1000}");
  int64_t hour_spend[24] = {0};
  uint32_t items[6];
  for (int i = 0; i < 6; i++)
    items[i] = iid(&e, i ? "o1" : "o0");
  lt_record_t batch[64];
  char ids[64][24], rids[64][24];
  int nb = 0;
  for (int64_t t = T0; t < T0 + DAY_MS; t += 1500) {
    if ((t - T0) % 5000 < 1500) lt_ads_tick(e.a, t);
    char rid[24];
    snprintf(rid, sizeof rid, "P%lld", (long long)(t - T0));
    lt_ads_page_t pg = {LT_NONE, items, NULL, 6, rid}; /* unknown users: no cap */
    lt_ads_slot_t out[2];
    uint32_t n;
    assert_int_equal(lt_ads_fill(e.a, &pg, t, out, 2, &n), 0);
    if (n) {
      hour_spend[(t - T0) / HOUR_MS] += out[0].price_ucents;
      strcpy(rids[nb], rid);
      snprintf(ids[nb], sizeof ids[nb], "I%lld", (long long)(t - T0));
      batch[nb] = ev(LT_EV_AD_IMPRESSION, "u0", "a0", t, ids[nb], rids[nb], 0);
      nb++;
    }
    if (nb == 64 || (nb && (t - T0) % 60000 < 1500)) {
      lt_ads_stamp(e.a, batch, (size_t)nb);
      assert_int_equal(lt_store_write(e.s, batch, (size_t)nb, 0, NULL, NULL, NULL), 0);
      nb = 0;
    }
  }
  if (nb) {
    lt_ads_stamp(e.a, batch, (size_t)nb);
    lt_store_write(e.s, batch, (size_t)nb, 0, NULL, NULL, NULL);
  }
  int64_t total = 0, max = 0;
  for (int h = 0; h < 24; h++) {
    total += hour_spend[h];
    if (hour_spend[h] > max) max = hour_spend[h];
  }
  int64_t budget = 200 * 1000000LL;
  assert_true(total >= budget * 95 / 100);
  assert_true(total <= budget + 10000);
  assert_true(max <= budget * 15 / 100);
  env_done(&e);
}

static void revenue_and_campaign_reports(void **state) {
  env_t e;
  env_init(&e, "ads-revenue");
  e.o.organic_cpm = 0;
  e.o.commission_bps = 500; /* 5 % */
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100000,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a9\"]}");
  int64_t t = T0 + 13 * HOUR_MS + 5 * 60000; /* 13:05 local */
  page_t p;
  lt_ads_slot_t out[4];
  uint32_t n;
  for (int i = 0; i < 3; i++) {
    char rid[16], id[16];
    snprintf(rid, sizeof rid, "R%d", i);
    snprintf(id, sizeof id, "I%d", i);
    mk_page(&e, &p, uid(&e, "u0"), rid, 6, 0);
    assert_int_equal(lt_ads_fill(e.a, &p.pg, t, out, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].price_ucents, 10000); /* the reserve */
    assert_true(out[0].aigc);
    assert_string_equal(out[0].reason, "sponsored by @acme (AI-generated)");
    send(&e, LT_EV_AD_IMPRESSION, "u0", "a9", t, id, rid, 0);
  }
  send(&e, LT_EV_AD_CLICK, "u0", "a9", t, "C0", "R0", 0);
  send(&e, LT_EV_GIFT, "u1", "room1", t, "g1", NULL, 500);
  send(&e, LT_EV_GIFT, "u1", "room1", t + DAY_MS, "g2", NULL, 250);
  send(&e, LT_EV_GIFT, "u1", "o3", t, "g3", NULL, 70); /* a tip on a video: other */
  send(&e, LT_EV_PURCHASE, "u2", "o5", t, "b1", "feed-1", 1999);
  send(&e, LT_EV_PURCHASE, "u2", "o5", t, "b2", NULL, 1001);
  int32_t d = lt_days_from_civil(2025, 11, 28);
  lt_ads_revenue_t r;
  assert_int_equal(lt_ads_revenue(e.a, d, d + 1, &r), 0);
  assert_int_equal(r.ndays, 2);
  assert_int_equal(r.days[0].ads_ucents, 30000);
  assert_int_equal(r.days[0].ads_aigc_ucents, 30000);
  assert_int_equal(r.days[0].live_gift_cents, 500);
  assert_int_equal(r.days[0].other_gift_cents, 70);
  assert_int_equal(r.days[0].gmv_cents, 3000);
  assert_int_equal(r.days[0].gmv_attributed_cents, 1999);
  assert_int_equal(r.days[1].live_gift_cents, 250);
  lt_ads_revenue_lines_t l;
  lt_ads_revenue_lines(&r.days[0], r.commission_bps, &l);
  assert_int_equal(l.online_marketing, 0); /* 0.03 cents rounds to 0 */
  assert_int_equal(l.live_streaming, 500);
  assert_int_equal(l.other, 70 + 150);
  assert_int_equal(l.total, 720);
  lt_buf_t b;
  lt_buf_init(&b);
  assert_int_equal(lt_ads_revenue_write(&r, "Asia/Shanghai", LT_ADS_FMT_JSON, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(
      strstr((const char *)b.p, "\"date\": \"2025-11-28\", \"online_marketing_cents\": 0"));
  assert_non_null(strstr((const char *)b.p, "\"total\": {\"online_marketing_cents\": 0, "
                                            "\"online_marketing_aigc_cents\": 0, "
                                            "\"live_streaming_cents\": 750, \"other_cents\": 220, "
                                            "\"total_revenue_cents\": 970, \"gmv_cents\": 3000"));
  lt_buf_reset(&b);
  assert_int_equal(lt_ads_revenue_write(&r, "Asia/Shanghai", LT_ADS_FMT_CSV, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(strstr((const char *)b.p, "2025-11-29,0,0,250,0,250,0,0,0,0,0,1,0\r\n"));
  assert_non_null(strstr((const char *)b.p, "total,0,0,750,220,970,3000,1999,3,1,0,3,2\r\n"));
  lt_buf_reset(&b);
  assert_int_equal(lt_ads_revenue_write(&r, "Asia/Shanghai", LT_ADS_FMT_TABLE, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(
      strstr((const char *)b.p, "2025-11-28           0.00         0.00           5.00"));
  assert_non_null(
      strstr((const char *)b.p, " 2.20           7.20          30.00          19.99\n"));
  assert_non_null(strstr((const char *)b.p, "          9.70          30.00          19.99\n"));
  lt_ads_revenue_free(&r);
  /* per room and creator */
  lt_ads_rev_row_t rows[4];
  assert_int_equal(lt_ads_revenue_top(e.a, LT_ADS_BY_ROOM, d, d + 1, rows, 4), 1);
  assert_int_equal(rows[0].id, iid(&e, "room1"));
  assert_int_equal(rows[0].gift_cents, 750);
  assert_int_equal(lt_ads_revenue_top(e.a, LT_ADS_BY_ITEM, d, d, rows, 4), 2);
  assert_int_equal(rows[0].id, iid(&e, "o5"));
  assert_int_equal(rows[0].gmv_cents, 3000);
  assert_int_equal(lt_ads_revenue_top(e.a, LT_ADS_BY_CREATOR, d, d, rows, 4), 3);
  /* the campaign report: hour 13 of the day */
  lt_buf_reset(&b);
  assert_int_equal(lt_ads_campaign_report(e.a, 0, d, d, LT_ADS_FMT_JSON, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(strstr((const char *)b.p,
                         "\"hours\": [{\"hour\": 13, \"impressions\": 3, "
                         "\"clicks\": 1, \"conversions\": 0, \"spend_cents\": 0, "
                         "\"spend_ucents\": 30000, \"ecpm_cents\": 10.0000, "
                         "\"ctr\": 0.333333"));
  lt_buf_reset(&b);
  assert_int_equal(lt_ads_campaign_report(e.a, 0, d, d, LT_ADS_FMT_CSV, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(strstr((const char *)b.p, "2025-11-28,13,3,1,0,0,30000,10.0000,0.333333\r\n"));
  assert_int_equal(lt_ads_campaign_report(e.a, 7, d, d, LT_ADS_FMT_CSV, &b), LT_ENOTFOUND);
  assert_int_equal(lt_ads_campaign_report(e.a, 0, d, d + 400, LT_ADS_FMT_CSV, &b), LT_ERANGE);
  lt_buf_free(&b);
  env_done(&e);
}

static void bad_campaign_input(void **state) {
  env_t e;
  env_init(&e, "ads-bad");
  env_open(&e, 0);
  catalog(&e);
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  const char *why;
  static const struct {
    const char *json;
    int rc;
  } cases[] = {
      {"", LT_EPARSE},
      {"{", LT_EPARSE},
      {"{\"advertiser\": \"a\",}", LT_EPARSE},
      {"[1, 2]", LT_EINVAL},
      {"\"x\"", LT_EINVAL},
      {"{\"daily_budget_cents\": -5}", LT_ERANGE},
      {"{\"daily_budget_cents\": 0}", LT_ERANGE},
      {"{\"daily_budget_cents\": 1e300}", LT_ERANGE},
      {"{\"daily_budget_cents\": 10000000001}", LT_ERANGE},
      {"{\"daily_budget_cents\": 12.5}", LT_EINVAL},
      {"{\"daily_budget_cents\": \"100\"}", LT_EINVAL},
      {"{\"bid\": {\"type\": \"cpx\", \"amount_cents\": 5}}", LT_EINVAL},
      {"{\"bid\": {\"type\": \"cpm\"}}", LT_EINVAL},
      {"{\"bid\": {\"type\": \"cpm\", \"amount_cents\": -1}}", LT_ERANGE},
      {"{\"bid\": {\"type\": \"cpm\", \"amount_cents\": 1e9}}", LT_ERANGE},
      {"{\"bid\": {\"type\": \"cpm\", \"amount_cents\": 5, \"cap\": 1}}", LT_EINVAL},
      {"{\"bid\": 5}", LT_EINVAL},
      {"{\"advertiser\": \"\"}", LT_EINVAL},
      {"{\"advertiser\": 7}", LT_EINVAL},
      {"{\"advertiser\": \"a\\u0001b\"}", LT_EINVAL},
      {"{\"id\": \"has space\"}", LT_EINVAL},
      {"{\"id\": \"a/b\"}", LT_EINVAL},
      {"{\"budget\": 100}", LT_EINVAL},
      {"{\"creatives\": []}", LT_EINVAL},
      {"{\"creatives\": [7]}", LT_EINVAL},
      {"{\"creatives\": [{\"item\": \"a0\", \"aigc\": 1}]}", LT_EINVAL},
      {"{\"creatives\": [{\"item\": \"a0\", \"weight\": 1}]}", LT_EINVAL},
      {"{\"targeting\": {\"tags\": \"food\"}}", LT_EINVAL},
      {"{\"targeting\": {\"ages\": [1]}}", LT_EINVAL},
      {"{\"targeting\": {\"tags\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
       "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}}",
       LT_EINVAL},
      {"{\"start\": -1}", LT_ERANGE},
      {"{\"start\": 1e30}", LT_ERANGE},
      {"{\"start\": 2000, \"end\": 1000}", LT_EINVAL},
      {"{\"frequency_cap\": 0}", LT_ERANGE},
      {"{\"frequency_cap\": 5000}", LT_ERANGE},
      {"{\"status\": \"running\"}", LT_EINVAL},
      {"{\"advertiser\": \"a\", \"advertiser\": \"b\"}", LT_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = lt_ads_spec_parse(cases[i].json, strlen(cases[i].json), sp, &why);
    if (rc != cases[i].rc) fprintf(stderr, "case %zu: %s -> %d (%s)\n", i, cases[i].json, rc, why);
    assert_int_equal(rc, cases[i].rc);
    assert_non_null(why);
  }
  /* 65 creatives */
  char big[4096];
  size_t o = (size_t)snprintf(big, sizeof big, "{\"creatives\": [");
  for (int i = 0; i < 65; i++)
    o += (size_t)snprintf(big + o, sizeof big - o, "%s\"a%d\"", i ? "," : "", i);
  snprintf(big + o, sizeof big - o, "]}");
  assert_int_equal(lt_ads_spec_parse(big, strlen(big), sp, &why), LT_EINVAL);

  /* create: required fields, unknown creatives, conflicts */
  const char *j =
      "{\"advertiser\": \"acme\", \"daily_budget_cents\": 100, \"creatives\": [\"a0\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, NULL, &why), LT_EINVAL);
  assert_string_equal(why, "bid is required");
  j = "{\"advertiser\": \"acme\", \"daily_budget_cents\": 100, \"bid\": {\"type\": \"cpm\", "
      "\"amount_cents\": 5}, \"creatives\": [\"nope\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, NULL, &why), LT_EINVAL);
  j = "{\"advertiser\": \"acme\", \"daily_budget_cents\": 100, \"bid\": {\"type\": \"cpm\", "
      "\"amount_cents\": 5}, \"creatives\": [\"a0\", \"a0\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, NULL, &why), LT_EINVAL);
  j = "{\"id\": \"X\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100, \"bid\": {\"type\": "
      "\"cpm\", \"amount_cents\": 5}, \"creatives\": [\"a0\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  uint32_t cid;
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, &cid, &why), 0);
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, NULL, &why), LT_EEXISTS); /* same id */
  strcpy(sp->id, "Y");
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, NULL, &why), LT_EEXISTS); /* a0 is X's */
  assert_string_equal(why, "a creative belongs to another campaign");
  sp->has &= ~(uint32_t)LT_ADS_F_ID; /* a generated id */
  strcpy(sp->creatives[0], "a1");
  uint32_t gen;
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, &gen, &why), 0);
  assert_int_equal(strncmp(lt_ads_campaign_name(e.a, gen), "c-", 2), 0);
  /* update: id fixed, not found, creatives moved */
  j = "{\"id\": \"Z\"}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_update(e.a, cid, sp, T0, &why), LT_EINVAL);
  assert_int_equal(lt_ads_campaign_update(e.a, 99, sp, T0, &why), LT_ENOTFOUND);
  j = "{\"creatives\": [\"a2\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_update(e.a, cid, sp, T0, &why), 0);
  j = "{\"creatives\": [\"a0\"]}"; /* a0 is free again */
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  assert_int_equal(lt_ads_campaign_update(e.a, gen, sp, T0, &why), 0);
  assert_int_equal(lt_ads_campaign_set_status(e.a, cid, 7, T0), LT_EINVAL);
  assert_int_equal(lt_ads_campaign_set_status(e.a, 99, LT_CAMPAIGN_PAUSED, T0), LT_ENOTFOUND);
  /* a GET body can be PUT back */
  lt_buf_t b;
  lt_buf_init(&b);
  assert_int_equal(lt_ads_campaign_json(e.a, cid, T0, &b), 0);
  assert_int_equal(lt_ads_spec_parse((const char *)b.p, b.len, sp, &why), 0);
  assert_int_equal(lt_ads_campaign_update(e.a, cid, sp, T0, &why), 0);
  lt_buf_free(&b);

  /* corrupt and foreign campaign records are skipped, never applied in part */
  unsigned char junk[][8] = {{64, 1, 200, 1}, {65, 1, 0}, {64, 9}, {66, 1}, {64}, {100, 1, 2}};
  size_t jl[] = {4, 3, 2, 2, 1, 3};
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(lt_store_write_ext(e.s, junk[i], jl[i]), 0);
  lt_ads_metrics_t m;
  lt_ads_metrics(e.a, &m);
  assert_int_equal(m.records_skipped, 5); /* kind 100 is not ours */
  assert_int_equal(lt_ads_campaign_count(e.a), 2);
  assert_true(lt_ads_check(e.a));
  env_close(&e, 0);
  env_open(&e, 0); /* and again at attach */
  lt_ads_metrics(e.a, &m);
  assert_int_equal(m.records_skipped, 5);
  assert_int_equal(lt_ads_campaign_count(e.a), 2);
  free(sp);
  env_done(&e);
}

static void day_rollover_fresh_budget(void **state) {
  env_t e;
  env_init(&e, "ads-day");
  e.o.organic_cpm = 0;
  e.o.hour_cap_share = 0; /* the daily budget alone is under test */
  env_open(&e, 0);
  catalog(&e);
  /* 1 cent a day at 10,000 ucents an impression: 100 impressions */
  mk_campaign(&e, "{\"id\": \"A\", \"advertiser\": \"acme\", \"daily_budget_cents\": 1,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"],"
                  " \"frequency_cap\": 1000}");
  page_t p;
  lt_ads_slot_t out[2];
  uint32_t n, sold = 0;
  int64_t t = T0 + 23 * HOUR_MS;
  lt_ads_tick(e.a, t);
  for (int i = 0; i < 300; i++) {
    char rid[16], id[16];
    snprintf(rid, sizeof rid, "d%d", i);
    snprintf(id, sizeof id, "e%d", i);
    mk_page(&e, &p, uid(&e, "u0"), rid, 6, 0);
    assert_int_equal(lt_ads_fill(e.a, &p.pg, t, out, 2, &n), 0);
    if (n) send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", t, id, rid, 0);
    sold += n;
  }
  assert_int_equal(sold, 100);
  /* the next local day: a fresh budget */
  t = T0 + DAY_MS + HOUR_MS;
  lt_ads_tick(e.a, t);
  mk_page(&e, &p, uid(&e, "u0"), "next", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, t, out, 2, &n), 0);
  assert_int_equal(n, 1);
  env_done(&e);
}

/* Many (campaign, day, hour) entries: the ledger's arrays grow while a
 * charge holds pointers into them (a regression: the day entry moved). */
static void ledger_grows_over_many_days(void **state) {
  env_t e;
  env_init(&e, "ads-grow");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  for (int c = 0; c < 3; c++) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"id\": \"g%d\", \"advertiser\": \"a\", \"daily_budget_cents\": 100000, \"bid\": "
             "{\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a%d\"]}",
             c, c);
    mk_campaign(&e, json);
  }
  lt_record_t batch[72];
  char ids[72][48];
  for (int d = 0; d < 40; d++) {
    for (int h = 0; h < 24; h++)
      for (int c = 0; c < 3; c++) {
        int k = h * 3 + c;
        snprintf(ids[k], sizeof ids[k], "x%d-%d-%d", d % 100, h % 100, c % 10);
        batch[k] = ev(LT_EV_AD_IMPRESSION, "u0",
                      c == 0   ? "a0"
                      : c == 1 ? "a1"
                               : "a2",
                      T0 + d * DAY_MS + h * HOUR_MS, ids[k], NULL, 0);
      }
    assert_int_equal(lt_store_write(e.s, batch, 72, 0, NULL, NULL, NULL), 0);
  }
  assert_true(lt_ads_check(e.a));
  lt_ads_counts_t h[24];
  int32_t d0 = lt_days_from_civil(2025, 11, 28);
  assert_int_equal(lt_ads_campaign_hours(e.a, 2, d0 + 39, d0 + 39, h), 0);
  for (int k = 0; k < 24; k++)
    assert_int_equal(h[k].impressions, 1);
  env_done(&e);
}

/* The hourly ceiling: a campaign with plenty of budget still takes no more
 * than hour_cap_share of it in one local hour. */
static void hourly_ceiling_held(void **state) {
  env_t e;
  env_init(&e, "ads-hourcap");
  e.o.organic_cpm = 0;
  e.o.hour_cap_share = 0.12;
  env_open(&e, 0);
  catalog(&e);
  /* 100 cents a day; 10,000 ucents an impression (the reserve): 10,000
   * impressions a day, at most 1,200 in an hour */
  mk_campaign(&e, "{\"id\": \"H\", \"advertiser\": \"acme\", \"daily_budget_cents\": 100,"
                  " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 500}, \"creatives\": [\"a0\"]}");
  uint32_t items[6];
  for (int i = 0; i < 6; i++)
    items[i] = iid(&e, "o1");
  uint32_t sold[2] = {0, 0};
  for (int hr = 0; hr < 2; hr++)
    for (int i = 0; i < 2000; i++) {
      char rid[32];
      snprintf(rid, sizeof rid, "h%d-%d", hr, i);
      lt_ads_page_t pg = {LT_NONE, items, NULL, 6, rid};
      lt_ads_slot_t out[1];
      uint32_t n;
      assert_int_equal(lt_ads_fill(e.a, &pg, T0 + (5 + hr) * HOUR_MS + i, out, 1, &n), 0);
      sold[hr] += n;
    }
  assert_int_equal(sold[0], 1200);
  assert_int_equal(sold[1], 1200); /* a new hour, a new ceiling */
  env_done(&e);
}

static void model_learns_click_rates(void **state) {
  env_t e;
  env_init(&e, "ads-model");
  e.o.organic_cpm = 0;
  env_open(&e, 0);
  catalog(&e);
  mk_campaign(&e, "{\"id\": \"G\", \"advertiser\": \"good\", \"daily_budget_cents\": 1000000,"
                  " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 50}, \"creatives\": [\"a0\"]}");
  mk_campaign(&e, "{\"id\": \"P\", \"advertiser\": \"poor\", \"daily_budget_cents\": 1000000,"
                  " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 50}, \"creatives\": [\"a1\"]}");
  /* logged history: a0 is clicked 8 % of the time, a1 0.5 % */
  for (int i = 0; i < 4000; i++) {
    char id[24];
    snprintf(id, sizeof id, "gi%d", i);
    send(&e, LT_EV_AD_IMPRESSION, "u0", "a0", T0, id, NULL, 0);
    if (i % 25 < 2) {
      snprintf(id, sizeof id, "gc%d", i);
      send(&e, LT_EV_AD_CLICK, "u0", "a0", T0, id, NULL, 0);
    }
    snprintf(id, sizeof id, "pi%d", i);
    send(&e, LT_EV_AD_IMPRESSION, "u1", "a1", T0, id, NULL, 0);
    if (i % 200 == 0) {
      snprintf(id, sizeof id, "pc%d", i);
      send(&e, LT_EV_AD_CLICK, "u1", "a1", T0, id, NULL, 0);
    }
  }
  page_t p;
  lt_ads_slot_t out[2];
  uint32_t n;
  mk_page(&e, &p, uid(&e, "u5"), "M1", 6, 0);
  assert_int_equal(lt_ads_fill(e.a, &p.pg, T0 + HOUR_MS, out, 2, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].campaign, 0); /* the better creative wins at the same bid */
  assert_true(out[0].pctr > 0.04 && out[0].pctr < 0.15);
  env_done(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(second_price_amounts),
      cmocka_unit_test(budget_held_under_concurrent_burst),
      cmocka_unit_test(fill_bill_tick_concurrently),
      cmocka_unit_test(frequency_cap_held),
      cmocka_unit_test(duplicate_event_ids_billed_once),
      cmocka_unit_test(books_after_restart_equal_replay),
      cmocka_unit_test(ad_load_never_adjacent_nor_ad_free),
      cmocka_unit_test(ad_load_default_positions),
      cmocka_unit_test(targeting_tags_and_groups),
      cmocka_unit_test(reservations_expire_and_stamp_prices),
      cmocka_unit_test(pacing_spreads_a_day),
      cmocka_unit_test(revenue_and_campaign_reports),
      cmocka_unit_test(bad_campaign_input),
      cmocka_unit_test(day_rollover_fresh_budget),
      cmocka_unit_test(model_learns_click_rates),
      cmocka_unit_test(ledger_grows_over_many_days),
      cmocka_unit_test(hourly_ceiling_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
