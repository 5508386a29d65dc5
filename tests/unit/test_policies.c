/*
 * test_policies.c — the distribution policies, each pinned: never two
 * consecutive items of one creator, seen items do not return within the
 * window (live rooms excepted), the AIGC share of a page stays at most its
 * cap, traffic-pool promotion exactly at the threshold's edge, the
 * negative-feedback discount and its expiry, the exposure-fairness
 * discount above the target, exploration slots and their propensities
 * (egreedy and Thompson), the served-propensity annotation, the policy
 * state rebuilt by a log replay, SNIPS on a hand-computed example and on a
 * logged store, and the options set by their config-file names.
 *
 * Records go to the state and then to lt_feed_observe, as the store's
 * writer path does; no model is trained (the version-0 feed: following,
 * exploration, trending).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/clock.h"
#include "core/error.h"
#include "eval/ope.h"
#include "feed/feed.h"
#include "state/store.h"
#include "stats/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN (60 * 1000LL)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static int64_t NOW;

typedef struct env {
  lt_state_t *st;
  lt_feed_t *f;
} env_t;

static void env_open(env_t *e, const lt_feed_opts_t *o) {
  assert_int_equal(lt_state_new(NULL, &e->st), 0);
  assert_int_equal(lt_feed_new(e->st, o, NULL, &e->f), 0);
}

static void env_close(env_t *e) {
  lt_feed_free(e->f);
  lt_state_free(e->st);
}

/* The writer path: apply, then observe. */
static void commit(env_t *e, lt_record_t *r) {
  assert_int_equal(lt_state_apply(e->st, r, 0), 0);
  lt_feed_observe(e->f, r, 1);
}

static void put(env_t *e, const char *id, const char *creator, const char *tag, int aigc, int kind,
                int64_t published, int64_t live_start, int64_t live_end) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.kind = (uint8_t)kind;
  r.u.item.aigc = (uint8_t)aigc;
  r.u.item.duration_ms = kind == LT_KIND_LIVE ? 0 : 20000;
  r.u.item.published_at_ms = published;
  r.u.item.ts_ms = published;
  r.u.item.ntags = 1;
  r.u.item.tags[0] = lt_str_of(tag);
  r.u.item.live_start_ms = live_start;
  r.u.item.live_end_ms = live_end;
  commit(e, &r);
}

static void ev(env_t *e, const char *user, const char *item, int type, int64_t ts, uint32_t watch,
               const char *rid) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.type = (uint8_t)type;
  r.u.ev.ts_ms = ts;
  r.u.ev.watch_ms = watch;
  r.u.ev.position = -1;
  if (rid) r.u.ev.request_id = lt_str_of(rid);
  commit(e, &r);
}

static uint32_t id_of(env_t *e, lt_ns_t ns, const char *s) {
  uint32_t id = LT_NONE;
  assert_int_equal(lt_state_find(e->st, ns, s, strlen(s), &id), 0);
  return id;
}

static const char *name_of(env_t *e, uint32_t item) {
  return lt_state_name(e->st, LT_NS_ITEM, item);
}

static void get(env_t *e, const char *user, uint32_t n, int64_t now, lt_feed_result_t *r) {
  assert_int_equal(lt_feed_get(e->f, user, strlen(user), n, now, r), 0);
}

static int find(env_t *e, const lt_feed_result_t *r, const char *id) {
  uint32_t it;
  if (lt_state_find(e->st, LT_NS_ITEM, id, strlen(id), &it)) return -1;
  for (uint32_t i = 0; i < r->n; i++)
    if (r->items[i].item == it) return (int)i;
  return -1;
}

static uint32_t creator_of(env_t *e, uint32_t item) { return lt_state_item(e->st, item)->creator; }

/* A small catalogue: `per` videos of each of `nc` creators (creator c<k>,
 * items <prefix><k>_<j>, tag t<k % 3>), published a day ago (old enough for
 * no pool: the puts are dated then too), each played by a few background
 * users so that trending has them. */
static void catalogue(env_t *e, const char *prefix, int nc, int per, int aigc_every) {
  char id[64], cr[32], tag[16], u[32];
  for (int k = 0; k < nc; k++)
    for (int j = 0; j < per; j++) {
      snprintf(id, sizeof id, "%s%d_%d", prefix, k, j);
      snprintf(cr, sizeof cr, "c%d", k);
      snprintf(tag, sizeof tag, "t%d", k % 3);
      put(e, id, cr, tag, aigc_every && k % aigc_every == 0, LT_KIND_VIDEO, NOW - 8 * DAY, 0, 0);
      for (int b = 0; b < 3; b++) {
        snprintf(u, sizeof u, "bg%d", b);
        ev(e, u, id, LT_EV_PLAY, NOW - HOUR + k * 100 + j, 15000, NULL);
      }
    }
}

/* ---- creator diversity ---------------------------------------------------------- */

static void never_two_consecutive_items_of_one_creator(void **state) {
  (void)state;
  for (uint32_t cap = 1; cap <= 3; cap++) {
    lt_feed_opts_t o;
    lt_feed_opts_default(&o);
    o.max_per_creator = cap;
    env_t e;
    env_open(&e, &o);
    catalogue(&e, "v", 4, 20, 0);
    lt_feed_result_t r;
    const char *users[] = {"fresh-face", "bg0", "bg2"};
    for (int k = 0; k < 3; k++)
      for (uint32_t n = 1; n <= 20; n += 3) {
        get(&e, users[k], n, NOW + n, &r);
        uint32_t per[8] = {0};
        for (uint32_t i = 0; i < r.n; i++) {
          uint32_t c = creator_of(&e, r.items[i].item);
          if (i) assert_int_not_equal(c, creator_of(&e, r.items[i - 1].item));
          assert_true(c < 8);
          assert_true(++per[c] <= cap);
        }
      }
    env_close(&e);
  }
  /* one creator only: a page of one rather than two in a row */
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "solo", 1, 10, 0);
  lt_feed_result_t r;
  get(&e, "someone", 10, NOW, &r);
  assert_int_equal(r.n, 1);
  env_close(&e);
}

/* ---- seen-dedup -------------------------------------------------------------------- */

static void impress_page(env_t *e, const char *user, const lt_feed_result_t *r, int64_t ts) {
  for (uint32_t i = 0; i < r->n; i++)
    ev(e, user, name_of(e, r->items[i].item), LT_EV_IMPRESSION, ts + i, 0, r->request_id);
}

static void seen_items_do_not_return_within_the_window(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.seen_window_ms = HOUR;
  o.max_per_creator = 10;
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 3, 5, 0); /* 15 videos */
  put(&e, "live1", "c9", "t0", 0, LT_KIND_LIVE, NOW - DAY, NOW - 10 * MIN, NOW + 3 * HOUR);
  ev(&e, "bg0", "live1", LT_EV_PLAY, NOW - MIN, 60000, NULL);
  lt_feed_result_t r, r2;
  get(&e, "viewer", 12, NOW, &r);
  assert_int_equal(r.n, 12);
  int live_at = find(&e, &r, "live1");
  assert_true(live_at >= 0);
  impress_page(&e, "viewer", &r, NOW);
  /* within the window: none of them again, except the live room */
  get(&e, "viewer", 12, NOW + 10 * MIN, &r2);
  for (uint32_t i = 0; i < r2.n; i++) {
    if (r2.items[i].item == id_of(&e, LT_NS_ITEM, "live1")) continue;
    for (uint32_t j = 0; j < r.n; j++)
      assert_int_not_equal(r2.items[i].item, r.items[j].item);
  }
  assert_true(find(&e, &r2, "live1") >= 0);
  uint32_t rest = r2.n; /* (the 3 not shown are of one creator: the rules allow 2 + live) */
  assert_true(rest >= 2);
  /* just inside the window's end: still hidden; past it: back */
  get(&e, "viewer", 12, NOW + HOUR - 2000, &r2);
  assert_int_equal(r2.n, rest);
  get(&e, "viewer", 12, NOW + HOUR + 2000, &r2);
  assert_int_equal(r2.n, 12);
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  assert_true(ps.seen_filtered >= 11);
  env_close(&e);
  /* with seen-dedup off they come back at once */
  o.policies_off = LT_POL_SEEN;
  env_open(&e, &o);
  catalogue(&e, "v", 3, 5, 0);
  get(&e, "viewer", 12, NOW, &r);
  impress_page(&e, "viewer", &r, NOW);
  get(&e, "viewer", 12, NOW + 10 * MIN, &r2);
  assert_int_equal(r2.n, r.n);
  env_close(&e);
}

/* ---- AIGC ----------------------------------------------------------------------------- */

static void aigc_share_of_a_page_is_at_most_its_cap(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  env_t e;
  env_open(&e, &o);
  /* creators c0, c2, c4 publish AIGC and are the most played */
  catalogue(&e, "v", 6, 6, 2);
  char u[16], id[32];
  for (int k = 0; k < 6; k += 2)
    for (int j = 0; j < 6; j++) {
      snprintf(id, sizeof id, "v%d_%d", k, j);
      for (int b = 0; b < 20; b++) {
        snprintf(u, sizeof u, "fan%d", b);
        ev(&e, u, id, LT_EV_PLAY, NOW - 30 * MIN + b, 20000, NULL);
      }
    }
  lt_feed_result_t r;
  uint32_t sizes[] = {1, 3, 4, 10, 20};
  for (int k = 0; k < 5; k++) {
    uint32_t n = sizes[k], aigc = 0;
    get(&e, "newcomer", n, NOW, &r);
    for (uint32_t i = 0; i < r.n; i++) {
      int is = lt_state_item(e.st, r.items[i].item)->aigc;
      aigc += is;
      assert_int_equal(!!(r.items[i].flags & LT_FEED_F_AIGC), is);
      assert_int_equal(strstr(r.items[i].reason, "; AIGC") != NULL, is); /* labelled */
    }
    assert_true(aigc <= (uint32_t)floor(0.3 * n + 1e-9));
    if (n == 10) assert_int_equal(aigc, 3); /* the cap binds: they are the most popular */
  }
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  assert_true(ps.aigc_capped > 0);
  env_close(&e);
  /* switched off, popularity alone decides */
  o.policies_off = LT_POL_AIGC;
  env_open(&e, &o);
  catalogue(&e, "v", 6, 6, 2);
  for (int k = 0; k < 6; k += 2)
    for (int j = 0; j < 6; j++) {
      snprintf(id, sizeof id, "v%d_%d", k, j);
      for (int b = 0; b < 20; b++) {
        snprintf(u, sizeof u, "fan%d", b);
        ev(&e, u, id, LT_EV_PLAY, NOW - 30 * MIN + b, 20000, NULL);
      }
    }
  get(&e, "newcomer", 10, NOW, &r);
  uint32_t aigc = 0;
  for (uint32_t i = 0; i < r.n; i++)
    aigc += lt_state_item(e.st, r.items[i].item)->aigc;
  assert_true(aigc > 3);
  env_close(&e);
}

static void aigc_above_the_platform_target_is_discounted(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.aigc_target = 0.2f;
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 4, 5, 2); /* c0 and c2 publish AIGC */
  /* impressions: half AIGC, then a new window bucket closes the update */
  char id[32];
  for (int i = 0; i < 40; i++) {
    snprintf(id, sizeof id, "v%d_%d", i % 4, i % 5);
    ev(&e, "watcher", id, LT_EV_IMPRESSION, NOW - 2 * HOUR + i, 0, NULL);
  }
  ev(&e, "watcher", "v1_0", LT_EV_IMPRESSION, NOW, 0, NULL);
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  /* the update came with the first impression of the next bucket */
  assert_true(fabs(ps.aigc_share - 20.0 / 41.0) < 1e-6);
  assert_true(fabs(ps.aigc_penalty - 1.0) < 1e-6); /* min(1, 0.49 / 0.2 - 1) */
  assert_int_equal(ps.window_impressions, 41);
  env_close(&e);
}

/* ---- traffic pools -------------------------------------------------------------------- */

/* n impressions of item (by distinct users), then `likes` likes and `ni`
 * not_interested, all at ts. */
static void pool_traffic(env_t *e, const char *item, int n, int likes, int ni, int64_t ts) {
  char u[32];
  for (int i = 0; i < n; i++) {
    snprintf(u, sizeof u, "%s-viewer%d", item, i);
    if (i < likes) ev(e, u, item, LT_EV_LIKE, ts, 0, NULL);
    if (i < ni) ev(e, u, item, LT_EV_NOT_INTERESTED, ts, 0, NULL);
  }
  for (int i = 0; i < n; i++) {
    snprintf(u, sizeof u, "%s-viewer%d", item, i);
    ev(e, u, item, LT_EV_IMPRESSION, ts + 1, 0, NULL);
  }
}

static void pool_promotion_at_the_threshold_edge(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.pool_quota = 10;
  o.pool_growth = 10;
  o.pool_levels = 3;
  o.pool_peers = 10;
  o.pool_min_peers = 10;
  o.pool_top_share = 0.3f;
  o.pool_judge_ms = 1;
  env_t e;
  env_open(&e, &o);
  char id[32];
  int64_t t = NOW - 2 * HOUR;
  /* ten peers with 0..9 likes in 10 impressions: scores 0, 0.2, ..., 1.8
   * (a like is w_like = 2 points); the first ten are judged without a bar */
  for (int k = 0; k < 10; k++) {
    snprintf(id, sizeof id, "peer%d", k);
    put(&e, id, "cp", "t0", 0, LT_KIND_VIDEO, t, 0, 0);
    lt_feed_pool_info_t pi;
    assert_int_equal(lt_feed_item_pool(e.f, id_of(&e, LT_NS_ITEM, id), &pi), 0);
    assert_int_equal(pi.status, LT_POOL_IN);
    assert_string_equal(pi.status_name, "pool");
    assert_int_equal(pi.stage, 0);
    assert_int_equal(pi.quota, 10);
    pool_traffic(&e, id, 10, k, 0, t);
    t += 1000;
    ev(&e, "clock", "peer0", LT_EV_PLAY, t, 1000, NULL); /* time passes: judged */
    assert_int_equal(lt_feed_item_pool(e.f, id_of(&e, LT_NS_ITEM, id), &pi), 0);
    assert_int_equal(pi.reached, 1);
    assert_true(pi.threshold < 0); /* bootstrap: no bar yet */
  }
  /* the bar is now the 3rd best of the ten: 1.4 (7 likes). Exactly at it
   * moves up; one not_interested below it does not. */
  put(&e, "edge", "ce", "t0", 0, LT_KIND_VIDEO, t, 0, 0);
  pool_traffic(&e, "edge", 10, 7, 0, t);
  t += 1000;
  ev(&e, "clock", "peer0", LT_EV_PLAY, t, 1000, NULL);
  lt_feed_pool_info_t pi;
  assert_int_equal(lt_feed_item_pool(e.f, id_of(&e, LT_NS_ITEM, "edge"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_IN);
  assert_int_equal(pi.stage, 1);
  assert_int_equal(pi.reached, 1);
  assert_int_equal(pi.quota, 100);
  assert_int_equal(pi.impressions, 0);
  assert_true(pi.score == pi.threshold);
  assert_true(fabs(pi.threshold - 1.4) < 1e-6);

  /* the peers are now 0.2 .. 1.8 and 1.4 (the ring dropped peer0's 0):
   * the 3rd best is still 1.4 */
  put(&e, "below", "cb", "t0", 0, LT_KIND_VIDEO, t, 0, 0);
  pool_traffic(&e, "below", 10, 7, 1, t); /* 14 - 1 = 13 points: 1.3 */
  t += 1000;
  ev(&e, "clock", "peer0", LT_EV_PLAY, t, 1000, NULL);
  assert_int_equal(lt_feed_item_pool(e.f, id_of(&e, LT_NS_ITEM, "below"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_ORGANIC);
  assert_string_equal(pi.status_name, "organic");
  assert_int_equal(pi.stage, -1);
  assert_int_equal(pi.reached, 0);
  assert_true(fabs(pi.score - 1.3) < 1e-6);
  assert_true(fabs(pi.threshold - 1.4) < 1e-6);

  /* judgement waits for late engagement: before pool_judge_ms has passed
   * the item is judging and gets no exploration */
  lt_feed_opts_t o2 = o;
  o2.pool_judge_ms = 10 * MIN;
  env_t e2;
  env_open(&e2, &o2);
  put(&e2, "slow", "cs", "t0", 0, LT_KIND_VIDEO, NOW - HOUR, 0, 0);
  pool_traffic(&e2, "slow", 10, 0, 0, NOW - HOUR);
  assert_int_equal(lt_feed_item_pool(e2.f, id_of(&e2, LT_NS_ITEM, "slow"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_JUDGING);
  ev(&e2, "u", "slow", LT_EV_LIKE, NOW - HOUR + 5 * MIN, 0, NULL); /* counted */
  ev(&e2, "u", "slow", LT_EV_PLAY, NOW - HOUR + 11 * MIN, 1000, NULL);
  assert_int_equal(lt_feed_item_pool(e2.f, id_of(&e2, LT_NS_ITEM, "slow"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_IN); /* bootstrap: up */
  assert_true(fabs(pi.score - 0.2) < 1e-6);
  /* an item too old for the pools leaves as expired */
  put(&e2, "old", "co", "t0", 0, LT_KIND_VIDEO, NOW - HOUR, 0, 0);
  ev(&e2, "u", "old", LT_EV_IMPRESSION, NOW - HOUR + 8 * DAY, 0, NULL);
  assert_int_equal(lt_feed_item_pool(e2.f, id_of(&e2, LT_NS_ITEM, "old"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_EXPIRED);
  /* live rooms and items put long after publishing never enter */
  put(&e2, "l", "cl", "t0", 0, LT_KIND_LIVE, NOW, NOW, NOW + HOUR);
  assert_int_equal(lt_feed_item_pool(e2.f, id_of(&e2, LT_NS_ITEM, "l"), &pi), 0);
  assert_int_equal(pi.status, LT_POOL_NONE);
  assert_int_equal(lt_feed_item_pool(e2.f, 999999, &pi), LT_ENOTFOUND);
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  assert_int_equal(ps.promoted[1], 11);
  assert_int_equal(ps.left, 1);
  assert_int_equal(ps.in_pool[1], 11);
  env_close(&e2);
  env_close(&e);
}

/* The reports take an item's stage from the feed's pools when serve gives
 * the stats lt_feed_stats_pool, and from lifetime impressions otherwise:
 * the two differ exactly where the feed's pools are not the threshold rule. */
static void stats_report_the_pools_the_feed_really_runs(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.pool_quota = 10;
  o.pool_growth = 10;
  o.pool_levels = 2;
  o.pool_judge_ms = 1; /* fewer than pool_min_peers judged: every item moves up */
  env_t e;
  env_open(&e, &o);
  int64_t t = NOW - 3 * HOUR;
  put(&e, "up", "cx", "t0", 0, LT_KIND_VIDEO, t, 0, 0);    /* promoted to pool 1 */
  put(&e, "grad", "cx", "t0", 0, LT_KIND_VIDEO, t, 0, 0);  /* passes both pools */
  put(&e, "fresh", "cx", "t0", 0, LT_KIND_VIDEO, t, 0, 0); /* still in pool 0 */
  /* back catalogue: played before it was put, so never in a pool */
  ev(&e, "early", "hit", LT_EV_PLAY, t - DAY, 1000, NULL);
  put(&e, "hit", "cx", "t0", 0, LT_KIND_VIDEO, t - 30 * DAY, 0, 0);
  pool_traffic(&e, "up", 10, 5, 0, t);
  pool_traffic(&e, "grad", 10, 5, 0, t);
  ev(&e, "clock", "hit", LT_EV_PLAY, t + 1000, 1000, NULL);
  pool_traffic(&e, "grad", 100, 50, 0, t + 2000);
  pool_traffic(&e, "hit", 300, 0, 0, t + 2000);
  ev(&e, "clock", "hit", LT_EV_PLAY, t + 3000, 1000, NULL); /* judged */
  lt_stats_t *s;
  assert_int_equal(lt_stats_new(e.st, &s), 0);
  static const struct {
    const char *item, *threshold, *feed;
    int status;
  } want[] = {{"up", "initial", "pool1", LT_STATS_POOL_IN},
              {"grad", "initial", "top", LT_STATS_POOL_GRADUATED},
              {"fresh", "initial", "initial", LT_STATS_POOL_IN},
              {"hit", "pool1", "none", LT_STATS_POOL_NEVER}};
  lt_stats_item_t it;
  for (int pass = 0; pass < 2; pass++) {
    if (pass) lt_stats_set_pool_fn(s, lt_feed_stats_pool, e.f);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
      assert_int_equal(lt_stats_item(e.st, s, id_of(&e, LT_NS_ITEM, want[i].item), &it), 0);
      assert_string_equal(lt_stats_pool_name(it.stage), pass ? want[i].feed : want[i].threshold);
      assert_int_equal(it.pool_status, pass ? want[i].status : -1);
    }
  }
  /* the item report says both */
  lt_buf_t b = {0};
  assert_int_equal(lt_stats_item(e.st, s, id_of(&e, LT_NS_ITEM, "grad"), &it), 0);
  assert_int_equal(lt_stats_item_write(&it, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(strstr((const char *)b.p, "\"traffic_pool\": \"top\", \"traffic_pool_status\": "
                                            "\"graduated\""));
  lt_buf_free(&b);
  /* a creator's items per stage and per status */
  int32_t from, to;
  const char *why;
  assert_int_equal(lt_stats_range(e.st, NULL, NULL, 1, &from, &to, &why), 0);
  lt_stats_creator_t c;
  assert_int_equal(lt_stats_creator(s, id_of(&e, LT_NS_CREATOR, "cx"), from, to, &c), 0);
  assert_true(c.has_outcomes);
  assert_int_equal(c.pool[0], 1);
  assert_int_equal(c.pool[1], 1);
  assert_int_equal(c.pool[LT_STATS_STAGE_TOP], 1);
  assert_int_equal(c.pool[LT_STATS_STAGE_NONE], 1);
  assert_int_equal(c.outcome[LT_STATS_POOL_IN], 2);
  assert_int_equal(c.outcome[LT_STATS_POOL_GRADUATED], 1);
  assert_int_equal(c.outcome[LT_STATS_POOL_NEVER], 1);
  /* back to the threshold rule (e.g. `laotie report` with no feed) */
  lt_stats_set_pool_fn(s, NULL, NULL);
  assert_int_equal(lt_stats_creator(s, id_of(&e, LT_NS_CREATOR, "cx"), from, to, &c), 0);
  assert_false(c.has_outcomes);
  assert_int_equal(c.pool[0], 3);
  assert_int_equal(c.pool[1], 1);
  lt_stats_free(s);
  env_close(&e);
}

static void pool_items_fill_exploration_slots_with_their_stage(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 6, 5, 0);
  put(&e, "newbie", "cn", "t1", 0, LT_KIND_VIDEO, NOW - HOUR, 0, 0);
  lt_feed_result_t r;
  int found = 0;
  for (int k = 0; k < 64 && !found; k++) {
    get(&e, "someone", 10, NOW + k, &r);
    int at = find(&e, &r, "newbie");
    if (at < 0) continue;
    assert_true(r.items[at].flags & LT_FEED_F_POOL);
    assert_int_equal(r.items[at].pool, 0);
    assert_non_null(strstr(r.items[at].reason, "; pool 0"));
    found = at == 4;
  }
  assert_true(found);
  env_close(&e);
}

/* ---- negative feedback ------------------------------------------------------------------- */

static void negative_feedback_discounts_creator_and_tags_until_it_expires(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.neg_ttl_ms = HOUR;
  o.policies_off = LT_POL_EXPLORE; /* a deterministic order */
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 6, 4, 0);
  lt_feed_result_t before, during, after;
  get(&e, "picky", 20, NOW, &before);
  /* the top item's creator and tag: marked not interested */
  uint32_t top = before.items[0].item, c = creator_of(&e, top);
  uint32_t tag = lt_state_item(e.st, top)->tags[0];
  char topid[32];
  snprintf(topid, sizeof topid, "%s", name_of(&e, top));
  ev(&e, "picky", topid, LT_EV_NOT_INTERESTED, NOW + 1000, 0, NULL);
  get(&e, "picky", 20, NOW + 2000, &during);
  assert_int_equal(find(&e, &during, topid), -1); /* the item is gone */
  /* the change of an untouched item's score (the candidate set changed:
   * scores are standardised over it) is the reference */
  double ref = 0;
  int nref = 0;
  for (uint32_t i = 0; i < during.n; i++)
    for (uint32_t j = 0; j < before.n; j++)
      if (before.items[j].item == during.items[i].item &&
          !(during.items[i].flags & LT_FEED_F_NEGATIVE)) {
        ref += before.items[j].score - during.items[i].score;
        nref++;
      }
  assert_true(nref > 0);
  ref /= nref;
  int flagged = 0;
  float worst_clean = 1e30f, best_flagged = -1e30f;
  for (uint32_t i = 0; i < during.n; i++) {
    const lt_item_meta_t *m = lt_state_item(e.st, during.items[i].item);
    int hit = m->creator == c || m->tags[0] == tag;
    assert_int_equal(!!(during.items[i].flags & LT_FEED_F_NEGATIVE), hit);
    if (!hit) {
      if (during.items[i].score < worst_clean) worst_clean = during.items[i].score;
      continue;
    }
    flagged++;
    if (during.items[i].score > best_flagged) best_flagged = during.items[i].score;
    assert_non_null(strstr(during.items[i].reason, "; less like what you skipped"));
    /* discounted: neg_creator for the creator + neg_tag for the tag */
    for (uint32_t j = 0; j < before.n; j++)
      if (before.items[j].item == during.items[i].item) {
        double d = before.items[j].score - during.items[i].score - ref;
        double want = (m->creator == c ? 2.0 : 0) + 0.5;
        assert_true(fabs(d - want) < 0.05);
      }
  }
  assert_true(best_flagged < worst_clean);
  assert_true(flagged > 0);
  /* an hour later the discount is over; the item stays away */
  get(&e, "picky", 20, NOW + 1000 + HOUR + 2000, &after);
  assert_int_equal(find(&e, &after, topid), -1);
  for (uint32_t i = 0; i < after.n; i++)
    assert_false(after.items[i].flags & LT_FEED_F_NEGATIVE);
  env_close(&e);
}

/* ---- exposure fairness -------------------------------------------------------------------- */

static void fairness_discounts_the_most_exposed_creators_above_target(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.fair_target = 0.3f;
  o.fair_quantile = 0.5f;
  o.policies_off = LT_POL_EXPLORE;
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 5, 4, 0);
  /* c0 gets 161 impressions, c1..c4 10 each; the last opens the next
   * window bucket, which updates the figures */
  char id[32], u[32];
  int64_t t = NOW - 3 * HOUR;
  for (int i = 0; i < 200; i++) {
    int k = i < 160 ? 0 : 1 + (i - 160) / 10;
    snprintf(id, sizeof id, "v%d_%d", k, i % 4);
    snprintf(u, sizeof u, "w%d", i);
    ev(&e, u, id, LT_EV_IMPRESSION, t + i, 0, NULL);
  }
  ev(&e, "w0", "v0_0", LT_EV_IMPRESSION, t + HOUR + 1, 0, NULL);
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  uint64_t x[5] = {161, 10, 10, 10, 10}; /* (the 201st opened the next bucket) */
  double g = lt_stats_gini(x, 5);
  assert_true(fabs(ps.gini - g) < 1e-5);
  assert_true(ps.gini > 0.3);
  assert_true(fabs(ps.fair_strength - 1.0) < 1e-6);
  assert_int_equal(ps.fair_creators, 5);
  assert_int_equal(ps.fair_discounted, 1);
  lt_feed_result_t r;
  get(&e, "anyone", 10, NOW, &r);
  int seen_c0 = 0;
  for (uint32_t i = 0; i < r.n; i++) {
    int is0 = creator_of(&e, r.items[i].item) == id_of(&e, LT_NS_CREATOR, "c0");
    assert_int_equal(!!(r.items[i].flags & LT_FEED_F_FAIR), is0);
    if (is0) {
      seen_c0 = 1;
      assert_non_null(strstr(r.items[i].reason, "; creator exposure capped"));
    }
  }
  (void)seen_c0;
  /* a day later the window holds only balanced exposure: no discount */
  t = NOW + DAY + HOUR;
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "v%d_0", i % 5);
    snprintf(u, sizeof u, "z%d", i);
    ev(&e, u, id, LT_EV_IMPRESSION, t + i, 0, NULL);
  }
  ev(&e, "z0", "v1_0", LT_EV_IMPRESSION, t + HOUR + 1, 0, NULL);
  lt_feed_policy_stats(e.f, &ps);
  assert_true(ps.gini < 0.3);
  assert_true(ps.fair_strength == 0);
  assert_int_equal(ps.fair_discounted, 0);
  get(&e, "anyone", 10, t + HOUR + 2, &r);
  for (uint32_t i = 0; i < r.n; i++)
    assert_false(r.items[i].flags & LT_FEED_F_FAIR);
  env_close(&e);
}

/* ---- exploration -------------------------------------------------------------------------- */

static void egreedy_slots_have_their_share_and_propensity(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 8, 4, 0);
  char id[32], cr[32];
  for (int i = 0; i < 12; i++) { /* new items, in pool 0 */
    snprintf(id, sizeof id, "new%d", i);
    snprintf(cr, sizeof cr, "nc%d", i);
    put(&e, id, cr, "t0", 0, LT_KIND_VIDEO, NOW - HOUR - i * MIN, 0, 0);
  }
  lt_feed_result_t r;
  uint32_t slots = 0, served = 0;
  for (int k = 0; k < 50; k++) {
    get(&e, "explorer", 24, NOW + k, &r);
    for (uint32_t i = 0; i < r.n; i++) {
      served++;
      int is_slot = i % 8 == 4;
      if (!r.items[i].explore) {
        assert_true(r.items[i].propensity == 1.0f);
        assert_false(is_slot); /* there is always a candidate here */
        continue;
      }
      assert_true(is_slot);
      slots++;
      uint32_t kk = r.items[i].explore >> 4, rank = (r.items[i].explore & 15u) - 1;
      assert_int_equal(kk, 4);
      assert_true(rank < kk);
      assert_true(r.items[i].propensity == 0.25f);
    }
  }
  assert_int_equal(slots * 8, served); /* 1 in 8 */
  lt_feed_policy_stats_t ps;
  lt_feed_policy_stats(e.f, &ps);
  assert_int_equal(ps.explore_served, slots);
  env_close(&e);
  /* exploration off: every propensity 1 */
  o.policies_off = LT_POL_EXPLORE;
  env_open(&e, &o);
  catalogue(&e, "v", 8, 4, 0);
  get(&e, "explorer", 24, NOW, &r);
  for (uint32_t i = 0; i < r.n; i++)
    assert_true(r.items[i].propensity == 1.0f && !r.items[i].explore);
  env_close(&e);
}

static void thompson_propensities_match_the_draw_frequencies(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.explore_mode = LT_EXPLORE_THOMPSON;
  o.explore_k = 3;
  o.pool_quota = 1000; /* they stay in pool 0 */
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 6, 4, 0);
  /* three items in pool 0 with different records: 10/20, 5/20 and 1/20
   * engaged, days ago (their popularity has decayed: the greedy slots do
   * not take them) */
  const char *ids[] = {"a", "b", "c"};
  int good[] = {10, 5, 1};
  char u[32];
  for (int k = 0; k < 3; k++) {
    char cr[16];
    snprintf(cr, sizeof cr, "n%d", k);
    put(&e, ids[k], cr, "t0", 0, LT_KIND_VIDEO, NOW - 4 * DAY, 0, 0);
    for (int i = 0; i < 20; i++) {
      snprintf(u, sizeof u, "%s-w%d", ids[k], i);
      ev(&e, u, ids[k], LT_EV_IMPRESSION, NOW - 3 * DAY, 0, NULL);
      if (i < good[k]) ev(&e, u, ids[k], LT_EV_LIKE, NOW - 3 * DAY, 0, NULL);
    }
  }
  enum { N = 3000 };
  double count[3] = {0}, prop[3] = {0};
  lt_feed_result_t r;
  for (int k = 0; k < N; k++) {
    get(&e, "tester", 5, NOW + k, &r);
    assert_true(r.n == 5);
    assert_int_equal(r.items[4].explore >> 4, 3);
    for (int j = 0; j < 3; j++)
      if (r.items[4].item == id_of(&e, LT_NS_ITEM, ids[j])) {
        count[j]++;
        prop[j] += r.items[4].propensity;
      }
  }
  assert_true(count[0] + count[1] + count[2] == N);
  double psum = 0;
  for (int j = 0; j < 3; j++) {
    double freq = count[j] / N, mean = count[j] ? prop[j] / count[j] : 0;
    if (count[j]) assert_true(fabs(freq - mean) < 0.03);
    psum += mean;
  }
  assert_true(count[0] > count[1] && count[1] > count[2]);
  assert_true(fabs(psum - 1.0) < 0.03); /* the three win probabilities add up */
  env_close(&e);
}

static void annotate_fills_the_served_propensity(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  env_t e;
  env_open(&e, &o);
  catalogue(&e, "v", 8, 3, 0);
  put(&e, "new0", "nc0", "t0", 0, LT_KIND_VIDEO, NOW - HOUR, 0, 0);
  put(&e, "new1", "nc1", "t0", 0, LT_KIND_VIDEO, NOW - HOUR, 0, 0);
  lt_feed_result_t r;
  get(&e, "client", 10, NOW, &r);
  lt_record_t recs[10];
  for (uint32_t i = 0; i < r.n; i++) {
    memset(&recs[i], 0, sizeof recs[i]);
    recs[i].kind = LT_REC_EVENT;
    recs[i].u.ev.type = LT_EV_IMPRESSION;
    recs[i].u.ev.user = LT_STR("client");
    recs[i].u.ev.item = lt_str_of(name_of(&e, r.items[i].item));
    recs[i].u.ev.request_id = lt_str_of(r.request_id);
  }
  lt_feed_annotate(e.f, recs, r.n);
  int explored = 0;
  for (uint32_t i = 0; i < r.n; i++) {
    assert_true(fabsf(recs[i].u.ev.propensity - r.items[i].propensity) < 0.005f);
    assert_int_equal(recs[i].u.ev.value, r.items[i].explore);
    explored += r.items[i].explore != 0;
  }
  assert_int_equal(explored, 1);
  env_close(&e);
}

/* ---- replay --------------------------------------------------------------------------------- */

typedef struct wctx {
  lt_store_t *s;
  lt_feed_t *f;
} wctx_t;

static void observe_cb(void *ctx, const lt_record_t *recs, size_t n) {
  lt_feed_observe(ctx, recs, n);
}

static void wr(lt_store_t *s, lt_record_t *r) {
  assert_int_equal(lt_store_write(s, r, 1, 1, NULL, NULL, NULL), 0);
}

static void replay_rebuilds_the_policy_state(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("policies-replay");
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  lt_store_t *s;
  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.pool_quota = 5;
  o.pool_judge_ms = 1;
  lt_feed_t *f;
  assert_int_equal(lt_feed_new(lt_store_state(s), &o, NULL, &f), 0);
  lt_store_set_observer(s, observe_cb, lt_feed_prepare, f);
  lt_record_t r;
  char id[32], u[32];
  for (int i = 0; i < 6; i++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_ITEM_PUT;
    snprintf(id, sizeof id, "it%d", i);
    r.u.item.id = lt_str_of(id);
    snprintf(u, sizeof u, "cr%d", i % 3);
    r.u.item.creator = lt_str_of(u);
    r.u.item.duration_ms = 10000;
    r.u.item.published_at_ms = NOW - HOUR;
    r.u.item.ts_ms = NOW - HOUR;
    r.u.item.ntags = 1;
    r.u.item.tags[0] = LT_STR("t");
    wr(s, &r);
  }
  for (int i = 0; i < 30; i++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_EVENT;
    snprintf(id, sizeof id, "it%d", i % 3);
    snprintf(u, sizeof u, "v%d", i);
    r.u.ev.user = lt_str_of(u);
    r.u.ev.item = lt_str_of(id);
    r.u.ev.type = i % 7 == 0 ? LT_EV_NOT_INTERESTED : LT_EV_IMPRESSION;
    r.u.ev.ts_ms = NOW - 30 * MIN + i * 1000;
    r.u.ev.position = -1;
    wr(s, &r);
  }
  lt_feed_pool_info_t before[6];
  lt_feed_policy_stats_t psb;
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "it%d", i);
    uint32_t it;
    assert_int_equal(lt_state_find(lt_store_state(s), LT_NS_ITEM, id, strlen(id), &it), 0);
    assert_int_equal(lt_feed_item_pool(f, it, &before[i]), 0);
  }
  lt_feed_policy_stats(f, &psb);
  assert_true(psb.promoted[1] > 0);
  lt_feed_free(f);
  assert_int_equal(lt_store_close(s, 1), 0);

  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  assert_int_equal(lt_feed_new(lt_store_state(s), &o, NULL, &f), 0);
  uint64_t end = 0;
  assert_int_equal(lt_store_scan(s, lt_feed_replay, NULL, f, &end), 0);
  assert_int_equal(end, lt_log_end(lt_store_log(s)));
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "it%d", i);
    uint32_t it;
    assert_int_equal(lt_state_find(lt_store_state(s), LT_NS_ITEM, id, strlen(id), &it), 0);
    lt_feed_pool_info_t a;
    assert_int_equal(lt_feed_item_pool(f, it, &a), 0);
    assert_int_equal(a.status, before[i].status);
    assert_int_equal(a.stage, before[i].stage);
    assert_int_equal(a.reached, before[i].reached);
    assert_int_equal(a.impressions, before[i].impressions);
    assert_true(a.score == before[i].score && a.threshold == before[i].threshold);
  }
  lt_feed_policy_stats_t psa;
  lt_feed_policy_stats(f, &psa);
  assert_int_equal(psa.promoted[1], psb.promoted[1]);
  assert_int_equal(psa.entered, psb.entered);
  /* the seen sets too: v1 was shown it1 and does not get it again */
  lt_feed_result_t res;
  assert_int_equal(lt_feed_get(f, "v1", 2, 20, NOW, &res), 0);
  uint32_t it1;
  assert_int_equal(lt_state_find(lt_store_state(s), LT_NS_ITEM, "it1", 3, &it1), 0);
  for (uint32_t i = 0; i < res.n; i++)
    assert_int_not_equal(res.items[i].item, it1);
  /* and v0 said not interested to it0 */
  assert_int_equal(lt_feed_get(f, "v0", 2, 20, NOW, &res), 0);
  for (uint32_t i = 0; i < res.n; i++)
    if (lt_state_item(lt_store_state(s), res.items[i].item)->creator ==
        lt_state_item(lt_store_state(s), 0)->creator)
      assert_true(res.items[i].flags & LT_FEED_F_NEGATIVE);
  lt_feed_free(f);
  assert_int_equal(lt_store_close(s, 0), 0);
  lt_test_rmdir(dir);
  free(dir);
}

/* ---- SNIPS ------------------------------------------------------------------------------------
 */

static void snips_on_a_hand_computed_example(void **state) {
  (void)state;
  double w[] = {1, 2, 0.5, 0}, r[] = {1, 0, 1, 1};
  lt_ope_estimate_t e;
  assert_int_equal(lt_ope_snips(w, r, 4, &e), 0);
  /* sum w = 3.5, sum w r = 1.5 */
  assert_true(fabs(e.snips - 1.5 / 3.5) < 1e-12);
  assert_true(fabs(e.ips - 1.5 / 4) < 1e-12);
  assert_true(fabs(e.ess - 12.25 / 5.25) < 1e-12);
  double s = 1.5 / 3.5;
  double v = 1 * (1 - s) * (1 - s) + 4 * s * s + 0.25 * (1 - s) * (1 - s);
  assert_true(fabs(e.se - sqrt(v) / 3.5) < 1e-12);
  assert_true(fabs(e.se - 0.305441) < 1e-6);
  assert_int_equal(lt_ope_snips(w, r, 0, &e), 0);
  assert_true(e.snips == 0 && e.n == 0);
  double neg[] = {-1};
  assert_int_equal(lt_ope_snips(neg, r, 1, &e), LT_EINVAL);
  /* candidate probabilities of a draw of rank 0 of K = 4 (code 65) */
  lt_ope_policy_t p;
  assert_int_equal(lt_ope_policy_parse("greedy", &p), 0);
  assert_true(lt_ope_prob(&p, 0.25, 65) == 1 && lt_ope_prob(&p, 0.25, 66) == 0);
  assert_int_equal(lt_ope_policy_parse("uniform", &p), 0);
  assert_true(lt_ope_prob(&p, 0.9, 66) == 0.25);
  assert_int_equal(lt_ope_policy_parse("softmax:1", &p), 0);
  double z = 1 + exp(-1) + exp(-2) + exp(-3);
  assert_true(fabs(lt_ope_prob(&p, 0.25, 65) - 1 / z) < 1e-12);
  assert_true(fabs(lt_ope_prob(&p, 0.25, 67) - exp(-2) / z) < 1e-12);
  assert_int_equal(lt_ope_policy_parse("logging", &p), 0);
  assert_true(lt_ope_prob(&p, 0.3, 66) == 0.3 && lt_ope_prob(&p, 0.3, 0) == 1);
  assert_int_equal(lt_ope_policy_parse("softmax:0", &p), LT_EINVAL);
  assert_int_equal(lt_ope_policy_parse("nope", &p), LT_EINVAL);
}

static void snips_from_a_logged_store(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("policies-ope");
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  lt_store_t *s;
  assert_int_equal(lt_store_open(dir, &so, &s, NULL), 0);
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = LT_STR("a");
  r.u.item.creator = LT_STR("c");
  r.u.item.duration_ms = 10000;
  wr(s, &r);
  r.u.item.id = LT_STR("b");
  wr(s, &r);
  /* request r1: a greedy slot (p 1) played to the end; request r2: an
   * exploration draw of rank 0 of 2 (code 33, p 0.5), played 5 s; request
   * r3: rank 1 of 2 (code 34, p 0.5), not played; one impression without
   * a propensity */
  struct {
    const char *rid, *item;
    float p;
    int code;
    uint32_t watch;
  } imp[] = {{"r1", "a", 1, 0, 10000},
             {"r2", "b", 0.5f, 33, 5000},
             {"r3", "a", 0.5f, 34, 0},
             {"r4", "b", 0, 0, 0}};
  for (int i = 0; i < 4; i++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_EVENT;
    r.u.ev.user = LT_STR("u");
    r.u.ev.item = lt_str_of(imp[i].item);
    r.u.ev.type = LT_EV_IMPRESSION;
    r.u.ev.ts_ms = NOW + i * 1000;
    r.u.ev.request_id = lt_str_of(imp[i].rid);
    r.u.ev.propensity = imp[i].p;
    r.u.ev.value = imp[i].code;
    r.u.ev.position = 0;
    wr(s, &r);
    if (!imp[i].watch) continue;
    r.u.ev.type = LT_EV_PLAY;
    r.u.ev.watch_ms = imp[i].watch;
    r.u.ev.propensity = 0;
    r.u.ev.value = 0;
    r.u.ev.ts_ms += 500;
    wr(s, &r);
  }
  assert_int_equal(lt_store_close(s, 0), 0);
  lt_ope_policy_t pols[3];
  lt_ope_policy_parse("logging", &pols[0]);
  lt_ope_policy_parse("greedy", &pols[1]);
  lt_ope_policy_parse("uniform", &pols[2]);
  char logdir[600];
  snprintf(logdir, sizeof logdir, "%s/log", dir);
  lt_ope_report_t rep;
  assert_int_equal(lt_ope_run(logdir, pols, 3, &rep), 0);
  assert_int_equal(rep.impressions, 4);
  assert_int_equal(rep.used, 3);
  assert_int_equal(rep.no_propensity, 1);
  assert_int_equal(rep.explore, 2);
  assert_int_equal(rep.joined_plays, 2);
  /* plays 1, 1, 0: logged mean 2/3; watch 10, 5, 0 s; completions 1, 0, 0 */
  assert_true(fabs(rep.logged[0] - 2.0 / 3) < 1e-9);
  assert_true(fabs(rep.logged[1] - 5.0) < 1e-6);
  assert_true(fabs(rep.est[0][0].snips - 2.0 / 3) < 1e-9); /* logging = the mean */
  /* greedy: weights 1, 1/0.5 = 2, 0 -> plays (1 + 2) / 3 = 1; watch (10 + 10) / 3 */
  assert_true(fabs(rep.est[1][0].snips - 1.0) < 1e-9);
  assert_true(fabs(rep.est[1][1].snips - 20.0 / 3) < 1e-6);
  /* uniform: weights 1, 1, 1 -> the mean */
  assert_true(fabs(rep.est[2][0].snips - 2.0 / 3) < 1e-9);
  assert_true(fabs(rep.est[1][2].snips - 1.0 / 3) < 1e-9); /* completion */
  lt_test_rmdir(dir);
  free(dir);
}

/* ---- options by name ------------------------------------------------------------------- */

typedef struct seen_keys {
  int n, pool_quota, traffic_pools;
} seen_keys_t;

static void each_key(void *ctx, const char *key, const char *value, const char *help) {
  seen_keys_t *k = ctx;
  k->n++;
  assert_true(strlen(help) > 0);
  if (!strcmp(key, "pool_quota")) k->pool_quota = atoi(value);
  if (!strcmp(key, "traffic_pools")) k->traffic_pools = !strcmp(value, "on");
}

static void options_are_set_by_their_config_names(void **state) {
  (void)state;
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  char err[128];
  assert_int_equal(lt_feed_opts_set(&o, "pool_quota", "50", err, sizeof err), 0);
  assert_int_equal(o.pool_quota, 50);
  assert_int_equal(lt_feed_opts_set(&o, "seen_window_h", "1.5", err, sizeof err), 0);
  assert_int_equal(o.seen_window_ms, 90 * MIN);
  assert_int_equal(lt_feed_opts_set(&o, "pool_judge_min", "2", err, sizeof err), 0);
  assert_int_equal(o.pool_judge_ms, 2 * MIN);
  assert_int_equal(lt_feed_opts_set(&o, "traffic_pools", "off", err, sizeof err), 0);
  assert_int_equal(lt_feed_opts_set(&o, "exposure_fairness", "off", err, sizeof err), 0);
  assert_int_equal(o.policies_off, LT_POL_POOLS | LT_POL_FAIRNESS);
  assert_int_equal(lt_feed_opts_set(&o, "traffic_pools", "on", err, sizeof err), 0);
  assert_int_equal(o.policies_off, LT_POL_FAIRNESS);
  assert_int_equal(lt_feed_opts_set(&o, "explore_mode", "thompson", err, sizeof err), 0);
  assert_int_equal(o.explore_mode, LT_EXPLORE_THOMPSON);
  assert_int_equal(lt_feed_opts_set(&o, "fair_target", "0.45", err, sizeof err), 0);
  assert_true(fabsf(o.fair_target - 0.45f) < 1e-6f);
  /* refusals say why */
  assert_int_equal(lt_feed_opts_set(&o, "pool_quota", "1.5", err, sizeof err), LT_EINVAL);
  assert_non_null(strstr(err, "whole number"));
  assert_int_equal(lt_feed_opts_set(&o, "explore_k", "16", err, sizeof err), LT_EINVAL);
  assert_int_equal(lt_feed_opts_set(&o, "traffic_pools", "maybe", err, sizeof err), LT_EINVAL);
  assert_non_null(strstr(err, "unexpected value"));
  assert_int_equal(lt_feed_opts_set(&o, "no_such_key", "1", err, sizeof err), LT_EINVAL);
  assert_non_null(strstr(err, "unknown key"));
  seen_keys_t k = {0, 0, -1};
  lt_feed_opts_each(&o, each_key, &k);
  assert_true(k.n >= 40);
  assert_int_equal(k.pool_quota, 50);
  assert_int_equal(k.traffic_pools, 1);
}

int main(void) {
  NOW = lt_now_ms() / 1000 * 1000;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(never_two_consecutive_items_of_one_creator),
      cmocka_unit_test(seen_items_do_not_return_within_the_window),
      cmocka_unit_test(aigc_share_of_a_page_is_at_most_its_cap),
      cmocka_unit_test(aigc_above_the_platform_target_is_discounted),
      cmocka_unit_test(pool_promotion_at_the_threshold_edge),
      cmocka_unit_test(pool_items_fill_exploration_slots_with_their_stage),
      cmocka_unit_test(stats_report_the_pools_the_feed_really_runs),
      cmocka_unit_test(negative_feedback_discounts_creator_and_tags_until_it_expires),
      cmocka_unit_test(fairness_discounts_the_most_exposed_creators_above_target),
      cmocka_unit_test(egreedy_slots_have_their_share_and_propensity),
      cmocka_unit_test(thompson_propensities_match_the_draw_frequencies),
      cmocka_unit_test(annotate_fills_the_served_propensity),
      cmocka_unit_test(replay_rebuilds_the_policy_state),
      cmocka_unit_test(snips_on_a_hand_computed_example),
      cmocka_unit_test(snips_from_a_logged_store),
      cmocka_unit_test(options_are_set_by_their_config_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
