/*
 * test_stats.c — analytics and reports on small fixtures with hand-computed
 * expectations: DAU/MAU/new users, minutes across a time-zone day boundary,
 * the watch-time report's threshold edges (59.99 vs 60.00 minutes) and
 * members with no activity, the Gini of known distributions, young-creator
 * and AIGC shares, creator exposure, traffic-pool stages, the output
 * formats, and stats/reports after a restart equal to those before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after its prerequisites */

#include "helpers.h"

#include "core/clock.h"
#include "core/error.h"
#include "state/record.h"
#include "state/state.h"
#include "state/store.h"
#include "stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS 60000LL
#define DAY_MS 86400000LL

/* Day D = 2025-11-28 in Asia/Shanghai (UTC+8): it starts at
 * 2025-11-27 16:00:00 UTC = 1764259200 s. */
static int32_t D;
static int64_t S; /* start of D, unix ms */

static int setup_days(void **state) {
  D = lt_days_from_civil(2025, 11, 28);
  S = 1764259200000LL;
  return 0;
}

static lt_record_t ev(const char *user, const char *item, int type, int64_t ts_ms, uint32_t watch) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.type = (uint8_t)type;
  r.u.ev.ts_ms = ts_ms;
  r.u.ev.watch_ms = watch;
  r.u.ev.position = -1;
  return r;
}

static lt_record_t item_put(const char *id, const char *creator, uint32_t dur, int aigc,
                            int64_t published_ms) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.duration_ms = dur;
  r.u.item.aigc = (uint8_t)aigc;
  r.u.item.published_at_ms = published_ms;
  return r;
}

static lt_record_t creator_put(const char *id, int64_t created_ms) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_CREATOR_PUT;
  r.u.creator.id = lt_str_of(id);
  r.u.creator.name = lt_str_of(id);
  r.u.creator.created_at_ms = created_ms;
  return r;
}

/* user_put("u", "staff", "ops", NULL) */
static lt_record_t user_put(const char *id, ...) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_USER_PUT;
  r.u.user.id = lt_str_of(id);
  va_list ap;
  va_start(ap, id);
  const char *g;
  while ((g = va_arg(ap, const char *)) && r.u.user.ngroups < LT_MAX_GROUPS)
    r.u.user.groups[r.u.user.ngroups++] = lt_str_of(g);
  va_end(ap);
  r.u.user.ts_ms = S;
  return r;
}

/* A state and stats fed the same records, as the store + observer do. */
typedef struct fix {
  lt_state_t *st;
  lt_stats_t *s;
} fix_t;

static void fix_new(fix_t *f) {
  assert_int_equal(lt_state_new(NULL, &f->st), 0);
  assert_int_equal(lt_stats_new(f->st, &f->s), 0);
}

static void fix_free(fix_t *f) {
  assert_true(lt_stats_check(f->s));
  lt_stats_free(f->s);
  lt_state_free(f->st);
}

static void apply(fix_t *f, lt_record_t r) {
  assert_int_equal(lt_state_apply(f->st, &r, 0), 0);
  assert_int_equal(lt_stats_apply(f->s, &r), 0);
}

static void play(fix_t *f, const char *user, const char *item, int64_t ts, uint32_t watch) {
  apply(f, ev(user, item, LT_EV_PLAY, ts, watch));
}

static const lt_stats_wt_row_t *row_of(const lt_stats_wt_t *r, const char *user) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->rows[i].name, user)) return &r->rows[i];
  return NULL;
}

/* ---- the watch-time report ------------------------------------------ */

/* staff: alice, bob, carol, dave (no activity), frank; eve is not staff. */
static void watch_fixture(fix_t *f) {
  fix_new(f);
  apply(f, user_put("alice", "staff", NULL));
  apply(f, user_put("bob", "staff", "ops", NULL));
  apply(f, user_put("carol", "staff", NULL));
  apply(f, user_put("dave", "staff", NULL));
  apply(f, user_put("frank", "ops", "staff", NULL));
  apply(f, user_put("eve", "ops", NULL));
  /* alice: 10 min at 23:59:59.999 local on D-1 (= 15:59:59.999 UTC, the
   * same UTC date as the next play), 60.00 min at 00:00 local on D */
  play(f, "alice", "v1", S - 1, 10 * MIN_MS);
  play(f, "alice", "v1", S, 60 * MIN_MS);
  /* bob: 59.99 min in two plays on D */
  play(f, "bob", "v1", S + 3600000, 30 * MIN_MS);
  play(f, "bob", "v2", S + 7200000, 1799400);
  /* carol: 60.00 min at 23:59:59 local on D; 1000 s at 00:00 local on D+1
   * (16:00 UTC, still the 28th in UTC) */
  play(f, "carol", "v2", S + DAY_MS - 1000, 60 * MIN_MS);
  play(f, "carol", "v2", S + DAY_MS, 1000000);
  /* frank: one ms short of 60 minutes (shown 59.99) */
  play(f, "frank", "v1", S + 100, 3599999);
  /* eve: 2 hours, not staff */
  play(f, "eve", "v1", S + 5000, 120 * MIN_MS);
  /* an impression makes no watch time */
  apply(f, ev("dave", "v1", LT_EV_IMPRESSION, S - DAY_MS * 3, 0));
}

static void watch_time_lists_every_member_with_threshold_edges(void **state) {
  fix_t f;
  watch_fixture(&f);
  lt_stats_wt_t r;
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", 60, &r), 0);
  assert_int_equal(r.min_ms, 3600000);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.met, 2);
  /* minutes descending, ties by id */
  const char *order[] = {"alice", "carol", "frank", "bob", "dave"};
  for (int i = 0; i < 5; i++)
    assert_string_equal(r.rows[i].name, order[i]);
  assert_int_equal(r.rows[0].watch_ms, 3600000);
  assert_int_equal(r.rows[0].plays, 1);
  assert_true(r.rows[0].met);
  assert_int_equal(r.rows[1].watch_ms, 3600000); /* carol's D+1 play is not on D */
  assert_true(r.rows[1].met);
  assert_int_equal(r.rows[2].watch_ms, 3599999);
  assert_false(r.rows[2].met);
  assert_true(lt_stats_minutes(r.rows[2].watch_ms) == 59.99);
  assert_int_equal(r.rows[3].watch_ms, 3599400);
  assert_int_equal(r.rows[3].plays, 2);
  assert_false(r.rows[3].met);
  assert_true(lt_stats_minutes(r.rows[3].watch_ms) == 59.99);
  assert_int_equal(r.rows[4].watch_ms, 0); /* dave: no activity on D, listed at 0 */
  assert_int_equal(r.rows[4].plays, 0);
  assert_false(r.rows[4].met);
  assert_null(row_of(&r, "eve"));
  lt_stats_wt_free(&r);

  /* 59.99 as the threshold: bob (exactly 59.99 min) and frank meet it */
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", 59.99, &r), 0);
  assert_int_equal(r.min_ms, 3599400);
  assert_int_equal(r.met, 4);
  assert_true(row_of(&r, "bob")->met);
  assert_true(row_of(&r, "frank")->met);
  assert_false(row_of(&r, "dave")->met);
  lt_stats_wt_free(&r);

  /* D-1: alice's 10 minutes before local midnight; everyone else at 0 */
  assert_int_equal(lt_stats_watch_time(f.st, D - 1, "staff", 60, &r), 0);
  assert_int_equal(r.n, 5);
  assert_int_equal(row_of(&r, "alice")->watch_ms, 10 * MIN_MS);
  assert_int_equal(row_of(&r, "carol")->watch_ms, 0);
  assert_int_equal(r.met, 0);
  lt_stats_wt_free(&r);

  /* D+1: carol's play at local midnight */
  assert_int_equal(lt_stats_watch_time(f.st, D + 1, "staff", 0, &r), 0);
  assert_int_equal(row_of(&r, "carol")->watch_ms, 1000000);
  assert_int_equal(r.met, 5); /* a 0 threshold is met by everyone */
  lt_stats_wt_free(&r);

  /* no group: the users active on D (eve too; dave was active on D-3 only) */
  assert_int_equal(lt_stats_watch_time(f.st, D, NULL, 60, &r), 0);
  assert_int_equal(r.n, 5);
  assert_string_equal(r.rows[0].name, "eve");
  assert_null(row_of(&r, "dave"));
  assert_int_equal(r.met, 3);
  lt_stats_wt_free(&r);

  /* another group; an unknown group; a bad threshold */
  assert_int_equal(lt_stats_watch_time(f.st, D, "ops", 60, &r), 0);
  assert_int_equal(r.n, 3);
  lt_stats_wt_free(&r);
  assert_int_equal(lt_stats_watch_time(f.st, D, "nobody", 60, &r), LT_ENOTFOUND);
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", -1, &r), LT_EINVAL);
  /* minutes to ms rounds: 2.01 * 60000 is 120599.99999999999 in binary */
  assert_int_equal(lt_stats_minutes_to_ms(2.01), 120600);
  assert_int_equal(lt_stats_minutes_to_ms(0), 0);
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", 1441, &r), LT_EINVAL);

  /* leaving the group (a new PUT) takes the user out of the report */
  apply(&f, user_put("bob", "ops", NULL));
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", 60, &r), 0);
  assert_int_equal(r.n, 4);
  assert_null(row_of(&r, "bob"));
  lt_stats_wt_free(&r);
  fix_free(&f);
}

static void watch_time_formats_table_csv_and_json(void **state) {
  fix_t f;
  fix_new(&f);
  apply(&f, user_put("alice", "staff", NULL));
  apply(&f, user_put("=cmd", "staff", NULL));
  apply(&f, user_put("o\"neil,jr", "staff", NULL));
  play(&f, "alice", "v1", S + 1000, 3600000);
  play(&f, "o\"neil,jr", "v1", S + 2000, 90000);
  lt_stats_wt_t r;
  assert_int_equal(lt_stats_watch_time(f.st, D, "staff", 60, &r), 0);
  lt_buf_t b;
  lt_buf_init(&b);
  assert_int_equal(lt_stats_wt_write(&r, LT_FMT_CSV, &b), 0);
  lt_buf_u8(&b, 0);
  assert_string_equal((char *)b.p, "date,group,user,minutes,watch_ms,plays,met\r\n"
                                   "2025-11-28,staff,alice,60.00,3600000,1,yes\r\n"
                                   "2025-11-28,staff,\"o\"\"neil,jr\",1.50,90000,1,no\r\n"
                                   "2025-11-28,staff,'=cmd,0.00,0,0,no\r\n");
  lt_buf_reset(&b);
  assert_int_equal(lt_stats_wt_write(&r, LT_FMT_JSON, &b), 0);
  lt_buf_u8(&b, 0);
  assert_string_equal((char *)b.p,
                      "{\"date\": \"2025-11-28\", \"timezone\": \"Asia/Shanghai\", \"group\": "
                      "\"staff\", \"min_minutes\": 60.00, \"min_ms\": 3600000, \"members\": 3, "
                      "\"met\": 1, \"not_met\": 2, \"users\": [{\"user\": \"alice\", \"minutes\": "
                      "60.00, \"watch_ms\": 3600000, \"plays\": 1, \"met\": true}, {\"user\": "
                      "\"o\\\"neil,jr\", \"minutes\": 1.50, \"watch_ms\": 90000, \"plays\": 1, "
                      "\"met\": false}, {\"user\": \"=cmd\", \"minutes\": 0.00, \"watch_ms\": 0, "
                      "\"plays\": 0, \"met\": false}]}\n");
  lt_buf_reset(&b);
  assert_int_equal(lt_stats_wt_write(&r, LT_FMT_TABLE, &b), 0);
  lt_buf_u8(&b, 0);
  assert_non_null(strstr((char *)b.p, "1 of 3 met"));
  assert_non_null(strstr((char *)b.p, "alice          60.00       1  yes\n"));
  lt_buf_free(&b);
  lt_stats_wt_free(&r);
  fix_free(&f);
}

/* ---- platform ------------------------------------------------------- */

static void platform_counts_dau_mau_and_new_users(void **state) {
  fix_t f;
  fix_new(&f);
  apply(&f, item_put("v1", "c1", 10000, 0, S - 50 * DAY_MS));
  int64_t noon = 4 * 3600000; /* 12:00 local = 04:00 UTC */
  /* u1's event on D arrives before its first one (D-40): new on D-40 */
  play(&f, "u1", "v1", S + noon, 9500); /* a completion (0.95 >= 0.9) */
  play(&f, "u1", "v1", S - 40 * DAY_MS + noon, 1000);
  apply(&f, ev("u2", "v1", LT_EV_IMPRESSION, S - 29 * DAY_MS + noon, 0));
  apply(&f, ev("u3", "v1", LT_EV_IMPRESSION, S - 30 * DAY_MS + noon, 0));
  apply(&f, ev("u4", "v1", LT_EV_IMPRESSION, S - 5 * DAY_MS + noon, 0));
  apply(&f, ev("u4", "v1", LT_EV_IMPRESSION, S - 3 * DAY_MS + noon, 0));
  play(&f, "u5", "v1", S + noon + 1, 3000);
  for (int i = 0; i < 4; i++)
    apply(&f, ev(i < 2 ? "u1" : "u5", "v1", LT_EV_IMPRESSION, S + noon + 2 + i, 0));
  apply(&f, ev("u5", "v1", LT_EV_LIKE, S + noon + 10, 0));
  lt_record_t g = ev("u5", "v1", LT_EV_GIFT, S + noon + 11, 0);
  g.u.ev.value = 500;
  apply(&f, g);

  lt_stats_platform_t p;
  assert_int_equal(lt_stats_platform(f.st, D - 40, D, &p), 0);
  assert_int_equal(p.ndays, 41);
  const lt_stats_day_t *d = &p.days[40], *y = &p.days[39];
  assert_int_equal(d->day, D);
  assert_int_equal(d->dau, 2);         /* u1, u5 */
  assert_int_equal(d->mau, 4);         /* u1, u2 (D-29), u4, u5; not u3 (D-30) */
  assert_int_equal(y->mau, 3);         /* D-1: u2, u3, u4 */
  assert_int_equal(p.days[10].mau, 2); /* D-30: u1 (D-40) and u3 */
  assert_int_equal(p.days[11].mau, 3); /* D-29: u1, u3, u2 */
  assert_int_equal(p.days[11].dau, 1);
  assert_int_equal(p.days[35].dau, 1); /* u4 on D-5 */
  assert_int_equal(d->new_users, 1);   /* u5; u1 is new on D-40 */
  assert_int_equal(p.days[0].new_users, 1);
  assert_int_equal(d->impressions, 4);
  assert_int_equal(d->plays, 2);
  assert_int_equal(d->completions, 1);
  assert_true(d->completion_rate == 0.5);
  assert_true(d->likes_per_1k == 250.0);
  assert_int_equal(d->watch_ms, 12500);
  assert_true(d->watch_min_per_dau > 0.104166 && d->watch_min_per_dau < 0.104167);
  assert_int_equal(d->gift_cents, 500);
  assert_int_equal(d->ad_spend_cents, 0);
  assert_int_equal(p.active_users, 5);
  assert_int_equal(p.sum.new_users, 5);
  assert_int_equal(p.sum.mau, 4);
  lt_stats_platform_free(&p);

  /* a range that starts later counts users active before it in MAU */
  assert_int_equal(lt_stats_platform(f.st, D, D, &p), 0);
  assert_int_equal(p.days[0].mau, 4);
  assert_int_equal(p.active_users, 2);
  lt_stats_platform_free(&p);
  assert_int_equal(lt_stats_platform(f.st, D, D - 1, &p), LT_ERANGE);
  assert_int_equal(lt_stats_platform(f.st, D - 400, D, &p), LT_ERANGE);
  fix_free(&f);
}

static void range_defaults_to_the_last_days_with_data(void **state) {
  fix_t f;
  fix_new(&f);
  play(&f, "u1", "v1", S + 1000, 1);
  int32_t a, b;
  const char *why;
  assert_int_equal(lt_stats_range(f.st, NULL, NULL, 30, &a, &b, &why), 0);
  assert_int_equal(b, D);
  assert_int_equal(a, D - 29);
  assert_int_equal(lt_stats_range(f.st, "2025-11-01", "2025-11-28", 30, &a, &b, &why), 0);
  assert_int_equal(b - a, 27);
  assert_int_equal(lt_stats_range(f.st, "2025-11-31", NULL, 30, &a, &b, &why), LT_EPARSE);
  assert_int_equal(lt_stats_range(f.st, "2025-11-29", "2025-11-28", 30, &a, &b, &why), LT_ERANGE);
  assert_int_equal(lt_stats_range(f.st, "2024-01-01", "2025-11-28", 30, &a, &b, &why), LT_ERANGE);
  fix_free(&f);
}

/* ---- ecosystem ------------------------------------------------------ */

static void gini_of_known_distributions(void **state) {
  uint64_t a[] = {4, 1, 3, 2}; /* 2*(1+4+9+16)/(4*10) - 5/4 */
  assert_true(lt_stats_gini(a, 4) > 0.2499999 && lt_stats_gini(a, 4) < 0.2500001);
  uint64_t b[] = {5, 5, 5};
  assert_true(lt_stats_gini(b, 3) == 0.0);
  uint64_t c[] = {0, 10, 0, 0}; /* one holds all: (n-1)/n */
  assert_true(lt_stats_gini(c, 4) > 0.7499999 && lt_stats_gini(c, 4) < 0.7500001);
  uint64_t d[] = {7};
  assert_true(lt_stats_gini(d, 1) == 0.0);
  assert_true(lt_stats_gini(NULL, 0) == 0.0);
  uint64_t e[] = {0, 0};
  assert_true(lt_stats_gini(e, 2) == 0.0);
}

static void ecosystem_gini_young_and_aigc_shares(void **state) {
  fix_t f;
  fix_new(&f);
  int64_t t = S + 3600000; /* 01:00 local on D */
  apply(&f, creator_put("c_old", t - 100 * DAY_MS));
  apply(&f, creator_put("c_new", t - 10 * DAY_MS));
  apply(&f, creator_put("c_edge", t - 30 * DAY_MS)); /* exactly 30 days: not young */
  apply(&f, item_put("v_old", "c_old", 10000, 0, 0));
  apply(&f, item_put("v_new", "c_new", 10000, 1, 0));
  apply(&f, item_put("v_mid", "c_mid", 10000, 0, t - 40 * DAY_MS)); /* c_mid: start = item's */
  apply(&f, item_put("v_edge", "c_edge", 10000, 0, 0));
  apply(&f, ev("u1", "v_old", LT_EV_IMPRESSION, t, 0));
  for (int i = 0; i < 3; i++)
    apply(&f, ev("u1", "v_new", LT_EV_IMPRESSION, t + i, 0));
  for (int i = 0; i < 2; i++)
    apply(&f, ev("u2", "v_mid", LT_EV_IMPRESSION, t + i, 0));
  play(&f, "u1", "v_new", t + 10, 30000);
  play(&f, "u1", "v_old", t + 11, 10000);

  lt_stats_eco_t e;
  assert_int_equal(lt_stats_ecosystem(f.s, D, D, &e), 0);
  lt_stats_eco_day_t *d = &e.days[0];
  /* creator impressions {1, 3, 2}: 2*(1*1+2*2+3*3)/(3*6) - 4/3 = 2/9 */
  assert_int_equal(d->creators, 3);
  assert_true(d->gini > 0.2222222 && d->gini < 0.2222223);
  assert_int_equal(d->impressions, 6);
  assert_int_equal(d->young_impressions, 3);
  assert_true(d->young_share == 0.5);
  assert_true(d->aigc_impression_share == 0.5);
  assert_true(d->aigc_watch_share == 0.75);
  lt_stats_eco_free(&e);

  /* the edge: 30 days to the ms is not young, one ms less is */
  apply(&f, ev("u3", "v_edge", LT_EV_IMPRESSION, t, 0));
  apply(&f, ev("u3", "v_edge", LT_EV_IMPRESSION, t - 1, 0));
  /* attribution as of the event: v_new stops being AIGC for later events */
  apply(&f, item_put("v_new", "c_new", 10000, 0, 0));
  apply(&f, ev("u1", "v_new", LT_EV_IMPRESSION, t + 20, 0));
  /* an item first seen through an event 10 days ago, put in the catalog
   * later with no publish time: its creator starts at that first event */
  apply(&f, ev("u9", "v_late", LT_EV_IMPRESSION, t - 10 * DAY_MS, 0));
  apply(&f, item_put("v_late", "c_late", 10000, 0, 0));
  apply(&f, ev("u9", "v_late", LT_EV_IMPRESSION, t + 30, 0));
  /* a creator known only through events: young from its first impression */
  apply(&f, item_put("v_anon", "c_anon", 10000, 0, 0));
  apply(&f, ev("u9", "v_anon", LT_EV_IMPRESSION, t - 40 * DAY_MS, 0));
  apply(&f, ev("u9", "v_anon", LT_EV_IMPRESSION, t + 31, 0)); /* 40 days on: old */
  /* an item nobody put in the catalog: no creator, outside the Gini */
  apply(&f, ev("u1", "v_orphan", LT_EV_IMPRESSION, t + 21, 0));
  assert_int_equal(lt_stats_ecosystem(f.s, D - 1, D, &e), 0);
  d = &e.days[1];
  assert_int_equal(e.days[0].impressions, 0);
  assert_int_equal(d->impressions, 12);
  assert_int_equal(d->aigc_impressions, 3);
  assert_int_equal(d->young_impressions, 6); /* c_new 4, c_edge 1, c_late 1 */
  assert_int_equal(d->creators, 6);          /* {1, 4, 2, 2, 1, 1} */
  /* sorted {1,1,1,2,2,4}: 2*(1+2+3+8+10+24)/(6*11) - 7/6 = 96/66 - 7/6 = 0.287878... */
  assert_true(d->gini > 0.2878787 && d->gini < 0.2878789);
  assert_true(e.sum.gini > 0.2878787 && e.sum.gini < 0.2878789);
  assert_int_equal(e.sum.impressions, 12);
  assert_int_equal(e.days[0].impressions, 0); /* v_late's first impression: D-10 */
  lt_stats_eco_free(&e);
  fix_free(&f);
}

static void creators_exposure_share_pools_and_top(void **state) {
  fix_t f;
  fix_new(&f);
  int64_t t = S + 3600000;
  apply(&f, item_put("a1", "ca", 10000, 0, t));
  apply(&f, item_put("a2", "ca", 10000, 0, t));
  apply(&f, item_put("b1", "cb", 10000, 0, t));
  /* 300 impressions on a1 (pool1), 299 on b1 (initial), 1 on a2 */
  for (int i = 0; i < 300; i++)
    apply(&f, ev("u", "a1", LT_EV_IMPRESSION, t + i, 0));
  for (int i = 0; i < 299; i++)
    apply(&f, ev("v", "b1", LT_EV_IMPRESSION, t + i, 0));
  apply(&f, ev("u", "a2", LT_EV_IMPRESSION, t + DAY_MS, 0));
  play(&f, "v", "b1", t + 5, 20000);
  apply(&f, (lt_record_t){.kind = LT_REC_FOLLOW, .u.follow = {lt_str_of("u"), lt_str_of("cb"), t}});

  uint32_t ca, cb;
  assert_int_equal(lt_state_find(f.st, LT_NS_CREATOR, "ca", 2, &ca), 0);
  assert_int_equal(lt_state_find(f.st, LT_NS_CREATOR, "cb", 2, &cb), 0);
  lt_stats_creator_t c;
  assert_int_equal(lt_stats_creator(f.s, ca, D, D, &c), 0);
  assert_int_equal(c.impressions, 300);
  assert_int_equal(c.all_impressions, 599);
  assert_true(c.exposure_share > 300.0 / 599 - 1e-12 && c.exposure_share < 300.0 / 599 + 1e-12);
  assert_int_equal(c.items, 2);
  assert_int_equal(c.pool[0], 1);
  assert_int_equal(c.pool[1], 1);
  assert_int_equal(lt_stats_creator(f.s, ca, D, D + 1, &c), 0);
  assert_int_equal(c.impressions, 301);
  assert_int_equal(lt_stats_creator(f.s, cb, D, D + 1, &c), 0);
  assert_int_equal(c.followers, 1);
  assert_int_equal(c.watch_ms, 20000);
  assert_int_equal(c.pool[0], 1);
  assert_int_equal(lt_stats_creator(f.s, 99, D, D, &c), LT_ENOTFOUND);

  lt_stats_creator_t top[3];
  assert_int_equal(lt_stats_top_creators(f.s, D, D + 1, LT_STATS_BY_IMPRESSIONS, top, 3), 2);
  assert_string_equal(top[0].name, "ca");
  assert_string_equal(top[1].name, "cb");
  assert_int_equal(lt_stats_top_creators(f.s, D, D + 1, LT_STATS_BY_WATCH, top, 3), 1);
  assert_string_equal(top[0].name, "cb");

  lt_stats_item_t it[5];
  assert_int_equal(lt_stats_top_items(f.st, f.s, LT_STATS_BY_IMPRESSIONS, it, 2), 2);
  assert_string_equal(it[0].name, "a1");
  assert_string_equal(lt_stats_pool_name(it[0].stage), "pool1");
  assert_string_equal(it[1].name, "b1");
  assert_string_equal(lt_stats_pool_name(it[1].stage), "initial");
  assert_true(it[1].completion_rate == 1.0); /* 20 s of 10 s */
  assert_int_equal(lt_stats_top_items(f.st, f.s, LT_STATS_BY_IMPRESSIONS, it, 5), 3);
  fix_free(&f);
}

static void pool_stage_boundaries(void **state) {
  assert_int_equal(lt_stats_pool_stage(0), 0);
  assert_int_equal(lt_stats_pool_stage(299), 0);
  assert_int_equal(lt_stats_pool_stage(300), 1);
  assert_int_equal(lt_stats_pool_stage(2999), 1);
  assert_int_equal(lt_stats_pool_stage(3000), 2);
  assert_int_equal(lt_stats_pool_stage(30000), 3);
  assert_int_equal(lt_stats_pool_stage(300000), 4);
  assert_int_equal(lt_stats_pool_stage(UINT64_MAX), 4);
  assert_string_equal(lt_stats_pool_name(4), "top");
}

/* ---- restart -------------------------------------------------------- */

/* Every report, as JSON, into one buffer. */
static void all_reports(lt_store_t *store, lt_stats_t *s, lt_buf_t *b) {
  lt_state_t *st = lt_store_state(store);
  const char *tz = lt_state_tz(st)->name;
  lt_stats_platform_t p;
  assert_int_equal(lt_stats_platform(st, D - 35, D + 1, &p), 0);
  assert_int_equal(lt_stats_platform_write(&p, tz, LT_FMT_JSON, b), 0);
  lt_stats_platform_free(&p);
  for (int32_t day = D - 1; day <= D + 1; day++) {
    lt_stats_wt_t r;
    assert_int_equal(lt_stats_watch_time(st, day, "staff", 60, &r), 0);
    assert_int_equal(lt_stats_wt_write(&r, LT_FMT_CSV, b), 0);
    lt_stats_wt_free(&r);
  }
  lt_stats_eco_t e;
  assert_int_equal(lt_stats_ecosystem(s, D - 35, D + 1, &e), 0);
  assert_int_equal(lt_stats_eco_write(&e, tz, LT_FMT_JSON, b), 0);
  lt_stats_eco_free(&e);
  lt_stats_creator_t cr[10];
  size_t n = lt_stats_top_creators(s, D - 35, D + 1, LT_STATS_BY_IMPRESSIONS, cr, 10);
  lt_stats_item_t it[10];
  size_t ni = lt_stats_top_items(st, NULL, LT_STATS_BY_WATCH, it, 10);
  assert_true(n > 0 && ni > 0);
  assert_int_equal(lt_stats_top_write(cr, n, it, ni, D - 35, D + 1, 0, b), 0);
  for (size_t i = 0; i < n; i++) {
    lt_stats_creator_t c;
    assert_int_equal(lt_stats_creator(s, cr[i].creator, D - 35, D + 1, &c), 0);
    assert_int_equal(lt_stats_creator_write(&c, D - 35, D + 1, b), 0);
  }
}

static void write1(lt_store_t *store, lt_record_t r) {
  lt_write_result_t res;
  assert_int_equal(lt_store_write(store, &r, 1, 1, NULL, NULL, &res), 0);
}

static void reports_after_restart_equal_before(void **state) {
  char *dir = lt_test_tmpdir("stats");
  lt_store_opts_t o;
  lt_store_opts_default(&o);
  o.log.fsync_mode = LT_FSYNC_OFF;
  lt_store_t *store;
  assert_int_equal(lt_store_open(dir, &o, &store, NULL), 0);
  lt_stats_t *live;
  assert_int_equal(lt_stats_open(store, &live), 0);
  lt_store_set_observer(store, lt_stats_observe, NULL, live);

  /* a small platform: catalog changes between events, a duplicate id, a
   * batch, users in groups, creators of different ages */
  write1(store, creator_put("c0", S - 100 * DAY_MS));
  write1(store, creator_put("c1", S - 5 * DAY_MS));
  write1(store, user_put("s0", "staff", NULL));
  write1(store, user_put("s1", "staff", NULL));
  write1(store, user_put("s2", "staff", "ops", NULL));
  lt_record_t batch[64];
  size_t nb = 0;
  for (int i = 0; i < 12; i++) {
    char id[16], cr[8];
    snprintf(id, sizeof id, "v%d", i);
    snprintf(cr, sizeof cr, "c%d", i % 3);
    write1(store, item_put(id, cr, 15000, i % 4 == 0, S - (i + 1) * DAY_MS));
  }
  static const char *users[] = {"s0", "s1", "s2", "x0", "x1"};
  static const char *items[] = {"v0", "v1", "v2", "v3", "v4",  "v5",
                                "v6", "v7", "v8", "v9", "v10", "v11"};
  uint64_t seed = 42;
  for (int k = 0; k < 600; k++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t x = (uint32_t)(seed >> 33);
    int64_t ts = S - 33 * DAY_MS + (int64_t)(x % (35 * 86400)) * 1000;
    lt_record_t r = ev(users[x % 5], items[(x >> 3) % 12],
                       (x >> 7) % 3 ? LT_EV_IMPRESSION : LT_EV_PLAY, ts, (x >> 9) % 900000);
    batch[nb++] = r;
    if (nb == 64 || k == 599) {
      lt_write_result_t res;
      assert_int_equal(lt_store_write(store, batch, nb, 0, NULL, NULL, &res), 0);
      nb = 0;
    }
    if (k == 300) write1(store, item_put("v0", "c2", 15000, 0, 0)); /* re-attributed */
  }
  lt_record_t dup = ev("s0", "v1", LT_EV_PLAY, S + 1000, 3600000);
  dup.u.ev.id = LT_STR("e-1");
  write1(store, dup);
  write1(store, dup);                         /* a duplicate: not in the log, not counted */
  write1(store, user_put("s1", "ops", NULL)); /* s1 leaves staff */
  assert_true(lt_stats_check(live));

  lt_buf_t before, scanned, after, replayed;
  lt_buf_init(&before);
  lt_buf_init(&scanned);
  lt_buf_init(&after);
  lt_buf_init(&replayed);
  all_reports(store, live, &before);
  /* a full scan of the live log gives what the observer built */
  lt_stats_t *scan;
  assert_int_equal(lt_store_sync(store), 0);
  assert_int_equal(lt_stats_open(store, &scan), 0);
  assert_int_equal(lt_stats_records(scan), lt_stats_records(live));
  all_reports(store, scan, &scanned);
  assert_int_equal(before.len, scanned.len);
  assert_memory_equal(before.p, scanned.p, before.len);
  lt_stats_free(scan);
  lt_stats_free(live);
  assert_int_equal(lt_store_close(store, 1), 0);

  /* restart: snapshot + replay for the state, full scan for the stats */
  lt_store_report_t rep;
  assert_int_equal(lt_store_open(dir, &o, &store, &rep), 0);
  assert_int_equal(rep.snapshot_loaded, 1);
  assert_int_equal(lt_stats_open(store, &live), 0);
  all_reports(store, live, &after);
  assert_int_equal(before.len, after.len);
  assert_memory_equal(before.p, after.p, before.len);
  lt_stats_free(live);
  lt_store_close(store, 0);

  /* and without the snapshot: the whole log replayed */
  o.ignore_snapshots = 1;
  assert_int_equal(lt_store_open(dir, &o, &store, NULL), 0);
  assert_int_equal(lt_stats_open(store, &live), 0);
  all_reports(store, live, &replayed);
  assert_int_equal(before.len, replayed.len);
  assert_memory_equal(before.p, replayed.p, before.len);
  lt_stats_free(live);
  lt_store_close(store, 0);

  lt_buf_free(&before);
  lt_buf_free(&scanned);
  lt_buf_free(&after);
  lt_buf_free(&replayed);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(watch_time_lists_every_member_with_threshold_edges),
      cmocka_unit_test(watch_time_formats_table_csv_and_json),
      cmocka_unit_test(platform_counts_dau_mau_and_new_users),
      cmocka_unit_test(range_defaults_to_the_last_days_with_data),
      cmocka_unit_test(gini_of_known_distributions),
      cmocka_unit_test(ecosystem_gini_young_and_aigc_shares),
      cmocka_unit_test(creators_exposure_share_pools_and_top),
      cmocka_unit_test(pool_stage_boundaries),
      cmocka_unit_test(reports_after_restart_equal_before),
  };
  return cmocka_run_group_tests(tests, setup_days, NULL);
}
