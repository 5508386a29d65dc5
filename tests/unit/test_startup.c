/*
 * test_startup.c — the start-up pass of `laotie serve` (lt_store_scan):
 * one read of the log feeding the feed policies, the analytics and the
 * ads books gives exactly what separate replays give and what the live
 * observers built before the restart; the scan hands higher-layer records
 * over in their place in log order across batches, sees records still
 * queued on the log, reports where it ended, and a damaged log stops it
 * with an error that leaves the ads engine unattached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after its prerequisites */

#include "helpers.h"

#include "ads/ads.h"
#include "core/buf.h"
#include "core/error.h"
#include "feed/feed.h"
#include "log/log.h"
#include "state/record.h"
#include "state/store.h"
#include "stats/stats.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2025-11-28 00:00 in Asia/Shanghai */
#define T0 1764259200000LL
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define NITEMS 40
#define NUSERS 25

/* The three consumers of the log above the state, as laotie serve has them. */
typedef struct engines {
  lt_feed_t *f;
  lt_stats_t *s;
  lt_ads_t *a;
} engines_t;

static void live_prepare(void *ctx, const lt_record_t *recs, size_t n) {
  engines_t *e = ctx;
  lt_feed_prepare(e->f, recs, n);
}

static void live_observe(void *ctx, const lt_record_t *recs, size_t n) {
  engines_t *e = ctx;
  lt_feed_observe(e->f, recs, n);
  lt_stats_observe(e->s, recs, n);
  lt_ads_observe(e->a, recs, n);
}

static void replay_all(void *ctx, const lt_record_t *recs, size_t n) {
  engines_t *e = ctx;
  lt_feed_replay(e->f, recs, n);
  lt_stats_observe(e->s, recs, n);
  lt_ads_observe(e->a, recs, n);
}

static void replay_ext(void *ctx, const void *rec, size_t len, uint64_t lsn) {
  lt_ads_ext(((engines_t *)ctx)->a, rec, len, lsn);
}

static void store_opts(lt_store_opts_t *so, lt_ads_t *ext_ctx) {
  lt_store_opts_default(so);
  so->log.fsync_mode = LT_FSYNC_OFF;
  so->state.timezone = "Asia/Shanghai";
  so->ext = lt_ads_ext;
  so->ext_ctx = ext_ctx;
}

static void feed_opts(lt_feed_opts_t *o) {
  lt_feed_opts_default(o);
  o->pool_quota = 6; /* small pools: items get judged and promoted */
  o->pool_judge_ms = 1;
  o->request_seed = 7;
}

static void engines_new(engines_t *e, lt_store_t *store) {
  lt_feed_opts_t fo;
  feed_opts(&fo);
  assert_int_equal(lt_feed_new(lt_store_state(store), &fo, NULL, &e->f), 0);
  assert_int_equal(lt_stats_new(lt_store_state(store), &e->s), 0);
  if (!e->a) assert_int_equal(lt_ads_new(NULL, &e->a), 0);
}

static void engines_free(engines_t *e) {
  lt_feed_free(e->f);
  lt_stats_free(e->s);
  lt_ads_free(e->a);
  memset(e, 0, sizeof *e);
}

static void write1(lt_store_t *s, lt_record_t *r) {
  assert_int_equal(lt_store_write(s, r, 1, 1, NULL, NULL, NULL), 0);
}

static void campaign(lt_ads_t *a, const char *json, int update_of) {
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  const char *why = NULL;
  assert_non_null(sp);
  assert_int_equal(lt_ads_spec_parse(json, strlen(json), sp, &why), 0);
  uint32_t cid;
  int rc = update_of < 0 ? lt_ads_campaign_create(a, sp, T0, &cid, &why)
                         : lt_ads_campaign_update(a, (uint32_t)update_of, sp, T0 + HOUR_MS, &why);
  if (rc) fprintf(stderr, "campaign %s: %s (%s)\n", sp->id, lt_strerror(rc), why ? why : "");
  assert_int_equal(rc, 0);
  free(sp);
}

static uint64_t rnd(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

/* A small platform written through the store with the live observers:
 * creators with and without a creation date, videos, live rooms and AIGC
 * items, ad campaigns (created, updated, paused: higher-layer records
 * between the events), impressions, plays, likes, not_interested, gifts,
 * purchases, ad impressions and clicks, and an item moved to another
 * creator half-way; a snapshot in the middle, so the reopened state is
 * snapshot + log tail. */
static void build_platform(lt_store_t *s, lt_ads_t *a) {
  char id[32], cr[32], u[32];
  lt_record_t r;
  for (int c = 0; c < 4; c++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_CREATOR_PUT;
    snprintf(cr, sizeof cr, "cr%d", c);
    r.u.creator.id = lt_str_of(cr);
    r.u.creator.created_at_ms = c % 2 ? T0 - (int64_t)c * 20 * DAY_MS : 0;
    write1(s, &r);
  }
  for (int i = 0; i < NITEMS; i++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_ITEM_PUT;
    snprintf(id, sizeof id, "it%d", i);
    snprintf(cr, sizeof cr, "cr%d", i % 4);
    r.u.item.id = lt_str_of(id);
    r.u.item.creator = lt_str_of(cr);
    r.u.item.kind = (uint8_t)(i % 9 == 4 ? LT_KIND_LIVE : LT_KIND_VIDEO);
    r.u.item.aigc = (uint8_t)(i % 5 == 0);
    r.u.item.duration_ms = r.u.item.kind == LT_KIND_LIVE ? 0 : 15000 + 1000 * (uint32_t)i;
    r.u.item.published_at_ms = T0 - HOUR_MS;
    r.u.item.ts_ms = T0 - HOUR_MS;
    r.u.item.ntags = 1;
    r.u.item.tags[0] = LT_STR("t");
    write1(s, &r);
  }
  campaign(a,
           "{\"id\": \"c0\", \"advertiser\": \"adv0\", \"daily_budget_cents\": 500,"
           " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 300}, \"creatives\": [\"it1\"]}",
           -1);
  campaign(
      a,
      "{\"id\": \"c1\", \"advertiser\": \"adv1\", \"daily_budget_cents\": 100000,"
      " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 20}, \"creatives\": [\"it2\", \"it5\"]}",
      -1);
  uint64_t x = 42;
  static const int types[] = {LT_EV_IMPRESSION,    LT_EV_IMPRESSION,     LT_EV_PLAY, LT_EV_PLAY,
                              LT_EV_LIKE,          LT_EV_NOT_INTERESTED, LT_EV_GIFT, LT_EV_PURCHASE,
                              LT_EV_AD_IMPRESSION, LT_EV_AD_CLICK};
  lt_record_t batch[50];
  for (int k = 0; k < 60; k++) {
    for (int i = 0; i < 50; i++) {
      lt_record_t *e = &batch[i];
      memset(e, 0, sizeof *e);
      e->kind = LT_REC_EVENT;
      int type = types[rnd(&x) % 10];
      /* ad events on the creatives, the rest anywhere */
      int item = type == LT_EV_AD_IMPRESSION || type == LT_EV_AD_CLICK ? 1 + (int)(rnd(&x) % 2) * 4
                                                                       : (int)(rnd(&x) % NITEMS);
      if (item == 5 && type == LT_EV_AD_IMPRESSION) item = 2;
      static char ids[50][16], us[50][16];
      snprintf(ids[i], sizeof ids[i], "it%d", item);
      snprintf(us[i], sizeof us[i], "u%d", (int)(rnd(&x) % NUSERS));
      e->u.ev.type = (uint8_t)type;
      e->u.ev.item = lt_str_of(ids[i]);
      e->u.ev.user = lt_str_of(us[i]);
      e->u.ev.ts_ms = T0 + (int64_t)k * 20 * MIN_MS + i * 1000;
      e->u.ev.position = -1;
      e->u.ev.watch_ms = type == LT_EV_PLAY ? (uint32_t)(rnd(&x) % 40000) : 0;
      e->u.ev.value = type == LT_EV_GIFT || type == LT_EV_PURCHASE ? (int64_t)(rnd(&x) % 900)
                      : type == LT_EV_AD_IMPRESSION                ? 250000
                      : type == LT_EV_AD_CLICK                     ? 2000000
                                                                   : 0;
    }
    assert_int_equal(lt_store_write(s, batch, 50, 0, NULL, NULL, NULL), 0);
    if (k == 20) {
      campaign(a,
               "{\"id\": \"c1\", \"advertiser\": \"adv1\", \"daily_budget_cents\": 300,"
               " \"bid\": {\"type\": \"cpc\", \"amount_cents\": 30}, \"creatives\": [\"it2\", "
               "\"it5\"]}",
               1);
      memset(&r, 0, sizeof r);
      r.kind = LT_REC_ITEM_PUT;
      r.u.item.id = LT_STR("it3");
      r.u.item.creator = LT_STR("cr0"); /* re-attributed from here on */
      r.u.item.duration_ms = 20000;
      r.u.item.ts_ms = T0 + (int64_t)k * 20 * MIN_MS;
      write1(s, &r);
    }
    if (k == 30) assert_int_equal(lt_store_snapshot(s), 0);
    if (k == 40) assert_int_equal(lt_ads_campaign_set_status(a, 0, 1, T0 + 2 * HOUR_MS), 0);
    (void)u;
  }
}

/* What the three consumers hold, as text: the analytics reports, the ads
 * books, the policy state's figures and every item's traffic pool. */
static void describe(lt_store_t *store, engines_t *e, lt_buf_t *b) {
  lt_state_t *st = lt_store_state(store);
  const char *tz = lt_state_tz(st)->name;
  int32_t d0 = lt_tz_day(lt_state_tz(st), T0 / 1000);
  assert_true(lt_stats_check(e->s));
  lt_buf_printf(b, "stats records %llu\n", (unsigned long long)lt_stats_records(e->s));
  lt_stats_eco_t eco;
  assert_int_equal(lt_stats_ecosystem(e->s, d0 - 2, d0 + 2, &eco), 0);
  assert_int_equal(lt_stats_eco_write(&eco, tz, LT_FMT_JSON, b), 0);
  assert_true(eco.sum.impressions > 0 && eco.sum.young_impressions > 0);
  lt_stats_eco_free(&eco);
  lt_stats_creator_t cr[8];
  size_t n = lt_stats_top_creators(e->s, d0 - 2, d0 + 2, LT_STATS_BY_WATCH, cr, 8);
  assert_int_equal(n, 4);
  assert_int_equal(lt_stats_top_write(cr, n, NULL, 0, d0 - 2, d0 + 2, LT_STATS_BY_WATCH, b), 0);
  assert_int_equal(lt_ads_books_dump(e->a, b), 0);
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e->f, &ps);
  assert_true(ps.entered > 0 && ps.window_impressions > 0);
  lt_buf_printf(b,
                "policy gini %.6f strength %.6f creators %u aigc %.6f window %llu entered %llu "
                "left %llu graduated %llu expired %llu\n",
                ps.gini, ps.fair_strength, (unsigned)ps.fair_creators, ps.aigc_share,
                (unsigned long long)ps.window_impressions, (unsigned long long)ps.entered,
                (unsigned long long)ps.left, (unsigned long long)ps.graduated,
                (unsigned long long)ps.expired);
  for (uint32_t i = 0; i < lt_state_count(st, LT_NS_ITEM); i++) {
    lt_feed_pool_info_t pi;
    assert_int_equal(lt_feed_item_pool(e->f, i, &pi), 0);
    lt_buf_printf(b, "item %u status %d stage %d reached %d impressions %llu score %.6f\n", i,
                  pi.status, pi.stage, pi.reached, (unsigned long long)pi.impressions, pi.score);
  }
  assert_int_equal(b->err, 0);
}

/* What users are served now (the seen sets and not_interested entries at
 * work): only comparable between engines with equally fresh rankers. */
static void feeds(engines_t *e, lt_buf_t *b) {
  for (int u = 0; u < NUSERS; u++) {
    char user[16];
    snprintf(user, sizeof user, "u%d", u);
    lt_feed_result_t *res = malloc(sizeof *res);
    assert_non_null(res);
    assert_int_equal(lt_feed_get(e->f, user, strlen(user), 10, T0 + DAY_MS, res), 0);
    lt_buf_printf(b, "%s:", user);
    for (uint32_t i = 0; i < res->n; i++)
      lt_buf_printf(b, " %u/%x", res->items[i].item, res->items[i].flags);
    lt_buf_u8(b, '\n');
    free(res);
  }
}

static void assert_same(const lt_buf_t *x, const lt_buf_t *y) {
  if (x->len != y->len || memcmp(x->p, y->p, x->len)) {
    fprintf(stderr, "---- expected\n%.*s\n---- got\n%.*s\n", (int)x->len, (const char *)x->p,
            (int)y->len, (const char *)y->p);
    fail();
  }
}

static void shared_pass_equals_separate_replays_and_the_live_run(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("startup");
  lt_buf_t live, sep, shared, sep_feeds, shared_feeds;
  lt_buf_init(&live);
  lt_buf_init(&sep);
  lt_buf_init(&shared);
  lt_buf_init(&sep_feeds);
  lt_buf_init(&shared_feeds);

  /* the live run */
  engines_t e;
  memset(&e, 0, sizeof e);
  lt_store_t *s;
  lt_store_opts_t so;
  assert_int_equal(lt_ads_new(NULL, &e.a), 0);
  store_opts(&so, e.a);
  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  lt_feed_opts_t fo;
  feed_opts(&fo);
  assert_int_equal(lt_feed_new(lt_store_state(s), &fo, NULL, &e.f), 0);
  assert_int_equal(lt_stats_open(s, &e.s), 0);
  assert_int_equal(lt_ads_attach(e.a, s), 0);
  lt_store_set_observer(s, live_observe, live_prepare, &e);
  build_platform(s, e.a);
  describe(s, &e, &live);
  assert_int_equal(lt_store_close(s, 0), 0); /* no snapshot at close: a log tail is left */
  engines_free(&e);

  /* restart: separate replays, one per consumer */
  engines_t a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  assert_int_equal(lt_ads_new(NULL, &b.a), 0);
  store_opts(&so, b.a); /* the store's tail replay reaches b's ads: ignored before attach */
  lt_store_report_t rep;
  assert_int_equal(lt_store_open(dir, &so, &s, &rep), 0);
  assert_int_equal(rep.snapshot_loaded, 1);
  assert_true(rep.replayed > 0);
  assert_int_equal(lt_feed_new(lt_store_state(s), &fo, NULL, &a.f), 0);
  uint64_t end_a = 0, end_b = 0;
  assert_int_equal(lt_store_scan(s, lt_feed_replay, NULL, a.f, &end_a), 0);
  assert_int_equal(lt_stats_open(s, &a.s), 0);
  assert_int_equal(lt_ads_new(NULL, &a.a), 0);
  assert_int_equal(lt_ads_attach(a.a, s), 0);
  describe(s, &a, &sep);

  /* and the one shared pass, as laotie serve does it */
  engines_new(&b, s);
  assert_int_equal(lt_ads_attach_begin(b.a, s), 0);
  int rc = lt_store_scan(s, replay_all, replay_ext, &b, &end_b);
  assert_int_equal(lt_ads_attach_end(b.a, rc, end_b), 0);
  assert_int_equal(end_a, end_b);
  assert_int_equal(end_b, lt_log_end(lt_store_log(s)));
  describe(s, &b, &shared);
  assert_same(&live, &sep);
  assert_same(&live, &shared);
  feeds(&a, &sep_feeds);
  feeds(&b, &shared_feeds);
  assert_same(&sep_feeds, &shared_feeds);

  /* the shared pass left the ads engine attached: it takes live writes */
  lt_store_set_observer(s, live_observe, live_prepare, &b);
  campaign(b.a,
           "{\"id\": \"c9\", \"advertiser\": \"adv9\", \"daily_budget_cents\": 900,"
           " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 100}, \"creatives\": [\"it9\"]}",
           -1);
  assert_int_equal(lt_ads_campaign_count(b.a), 3);

  assert_int_equal(lt_store_close(s, 0), 0);
  engines_free(&a);
  engines_free(&b);
  lt_buf_free(&live);
  lt_buf_free(&sep);
  lt_buf_free(&shared);
  lt_buf_free(&sep_feeds);
  lt_buf_free(&shared_feeds);
  lt_test_rmdir(dir);
  free(dir);
}

/* A recording consumer: one line per record, in the order handed over. */
typedef struct recorder {
  lt_buf_t seq;
  size_t calls, records;
} recorder_t;

static void rec_fn(void *ctx, const lt_record_t *recs, size_t n) {
  recorder_t *r = ctx;
  r->calls++;
  r->records += n;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(recs[i].kind, LT_REC_EVENT);
    lt_buf_printf(&r->seq, "E %.*s\n", (int)recs[i].u.ev.id.n, recs[i].u.ev.id.p);
  }
}

static void rec_ext(void *ctx, const void *p, size_t len, uint64_t lsn) {
  recorder_t *r = ctx;
  lt_buf_printf(&r->seq, "X %.*s @%llu\n", (int)len - 1, (const char *)p + 1,
                (unsigned long long)lsn);
}

static void scan_keeps_log_order_across_batches(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("startup-order");
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF; /* the tail is still queued in memory at the scan */
  lt_store_t *s;
  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  lt_buf_t want;
  lt_buf_init(&want);
  char id[32], ext[32];
  int nrec = 0;
  for (int i = 0; i < 2000; i++) {
    lt_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_EVENT;
    snprintf(id, sizeof id, "e%d", i);
    r.u.ev.id = lt_str_of(id);
    r.u.ev.user = LT_STR("u");
    r.u.ev.item = LT_STR("v");
    r.u.ev.type = LT_EV_PLAY;
    r.u.ev.ts_ms = T0 + i;
    r.u.ev.position = -1;
    write1(s, &r);
    lt_buf_printf(&want, "E %s\n", id);
    nrec++;
    if (i % 97 == 13) { /* a record of a higher layer (kind 200: no one's) */
      ext[0] = (char)200;
      int n = snprintf(ext + 1, sizeof ext - 1, "x%d", i);
      uint64_t at = lt_log_end(lt_store_log(s));
      assert_int_equal(lt_store_write_ext(s, ext, (size_t)n + 1), 0);
      lt_buf_printf(&want, "X x%d @%llu\n", i, (unsigned long long)at);
    }
  }
  recorder_t r = {0};
  lt_buf_init(&r.seq);
  uint64_t end = 0;
  assert_int_equal(lt_store_scan(s, rec_fn, rec_ext, &r, &end), 0);
  assert_same(&want, &r.seq);
  assert_int_equal(r.records, (size_t)nrec);
  assert_true(r.calls > 1 && r.calls < r.records); /* batches, not one call per record */
  assert_int_equal(end, lt_log_end(lt_store_log(s)));
  /* without an ext callback, higher-layer records are passed over */
  recorder_t r2 = {0};
  lt_buf_init(&r2.seq);
  assert_int_equal(lt_store_scan(s, rec_fn, NULL, &r2, NULL), 0);
  assert_int_equal(r2.records, (size_t)nrec);
  lt_buf_free(&r.seq);
  lt_buf_free(&r2.seq);
  lt_buf_free(&want);
  assert_int_equal(lt_store_close(s, 0), 0);
  lt_test_rmdir(dir);
  free(dir);
}

static void damaged_log_stops_the_pass_and_leaves_ads_unattached(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("startup-damaged");
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  lt_store_t *s;
  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  for (int i = 0; i < 200; i++) {
    lt_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_EVENT;
    r.u.ev.user = LT_STR("u");
    r.u.ev.item = LT_STR("v");
    r.u.ev.type = LT_EV_PLAY;
    r.u.ev.ts_ms = T0 + i;
    r.u.ev.position = -1;
    if (i == 100) r.u.ev.id = LT_STR("MARK-100");
    write1(s, &r);
  }
  assert_int_equal(lt_store_sync(s), 0);
  /* a byte of record 100's payload flipped (after the store opened) */
  char path[700];
  snprintf(path, sizeof path, "%s/log/00000000000000000000.log", dir);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  static char file[1 << 16];
  ssize_t got = pread(fd, file, sizeof file, 0);
  assert_true(got > 0);
  char *at = memmem(file, (size_t)got, "MARK-100", 8);
  assert_non_null(at);
  char c = 'X';
  assert_int_equal(pwrite(fd, &c, 1, at - file), 1);
  close(fd);

  engines_t e;
  memset(&e, 0, sizeof e);
  engines_new(&e, s);
  assert_int_equal(lt_ads_attach_begin(e.a, s), 0);
  uint64_t end = 0;
  int rc = lt_store_scan(s, replay_all, replay_ext, &e, &end);
  assert_int_equal(rc, LT_ECORRUPT);
  assert_true(end < lt_log_end(lt_store_log(s)));
  assert_int_equal(lt_ads_attach_end(e.a, rc, end), LT_ECORRUPT);
  /* not attached: campaign writes are refused */
  lt_ads_spec_t *sp = malloc(sizeof *sp);
  const char *why = NULL, *j = "{\"id\": \"c0\", \"advertiser\": \"a\", \"daily_budget_cents\": 5,"
                               " \"bid\": {\"type\": \"cpm\", \"amount_cents\": 3},"
                               " \"creatives\": [\"v\"]}";
  assert_int_equal(lt_ads_spec_parse(j, strlen(j), sp, &why), 0);
  uint32_t cid;
  assert_int_equal(lt_ads_campaign_create(e.a, sp, T0, &cid, &why), LT_EBUSY);
  free(sp);
  engines_free(&e);
  lt_store_close(s, 0);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(shared_pass_equals_separate_replays_and_the_live_run),
      cmocka_unit_test(scan_keeps_log_order_across_batches),
      cmocka_unit_test(damaged_log_stops_the_pass_and_leaves_ads_unattached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
