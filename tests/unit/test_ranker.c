/*
 * test_ranker.c — the online multi-task ranker: heads learn a planted
 * signal through the impression/outcome join, duration debiasing of the
 * long-view label, the join window and the bounded pending table, and
 * save/load (round trip, corrupt and truncated files rejected).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "model/ranker.h"
#include "state/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764261000000LL

static lt_record_t ev(const char *user, const char *item, int type, int64_t ts, uint32_t watch) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.type = (uint8_t)type;
  r.u.ev.ts_ms = ts;
  r.u.ev.watch_ms = watch;
  r.u.ev.position = -1;
  return r;
}

static void put_item(lt_state_t *st, const char *id, const char *creator, const char *tag,
                     uint32_t dur) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.duration_ms = dur;
  r.u.item.published_at_ms = T0 - 3600 * 1000;
  r.u.item.ntags = 1;
  r.u.item.tags[0] = lt_str_of(tag);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
}

static uint32_t id_of(lt_state_t *st, lt_ns_t ns, const char *s) {
  uint32_t id = LT_NONE;
  assert_int_equal(lt_state_find(st, ns, s, strlen(s), &id), 0);
  return id;
}

/* Applies r to the state and lets the ranker observe it. */
static void feed(lt_state_t *st, lt_ranker_t *rk, lt_record_t r) {
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  uint32_t u = id_of(st, LT_NS_USER, r.u.ev.user.p), i = id_of(st, LT_NS_ITEM, r.u.ev.item.p);
  assert_int_equal(lt_ranker_observe(rk, st, &r.u.ev, u, i, LT_RANKER_NO_SOURCE, NULL), 0);
}

static float p_head(lt_ranker_t *rk, lt_state_t *st, const char *item, int head) {
  lt_ranker_user_t u;
  lt_ranker_user_init(&u, st, LT_NONE, NULL, 0, LT_NONE);
  lt_ranker_x_t x;
  lt_ranker_features(rk, st, &u, id_of(st, LT_NS_ITEM, item), LT_RANKER_NO_SOURCE, 3, T0, &x);
  float p[LT_RANKER_HEADS];
  lt_ranker_predict(rk, &x, p);
  return p[head];
}

static lt_state_t *new_state(void) {
  lt_state_t *st;
  assert_int_equal(lt_state_new(NULL, &st), 0);
  return st;
}

/* Items tagged "good" are always watched to the end, "bad" ones skipped;
 * users and items vary, so only the tag (and rates) carry the signal. */
static void train_planted(lt_state_t *st, lt_ranker_t *rk) {
  char u[32], it[32];
  for (int i = 0; i < 40; i++) {
    snprintf(it, sizeof it, "%s%d", i % 2 ? "bad" : "good", i);
    put_item(st, it, i % 2 ? "cb" : "cg", i % 2 ? "bad" : "good", 20000);
  }
  put_item(st, "good-new", "cg", "good", 20000);
  put_item(st, "bad-new", "cb", "bad", 20000);
  int64_t t = T0;
  for (int k = 0; k < 1500; k++) {
    int i = (k * 7) % 40;
    snprintf(u, sizeof u, "u%d", k % 97);
    snprintf(it, sizeof it, "%s%d", i % 2 ? "bad" : "good", i);
    feed(st, rk, ev(u, it, LT_EV_IMPRESSION, t, 0));
    feed(st, rk, ev(u, it, LT_EV_PLAY, t + 1000, i % 2 ? 1500 : 20000));
    if (i % 2 == 0 && k % 3 == 0) feed(st, rk, ev(u, it, LT_EV_LIKE, t + 2000, 0));
    t += 5000;
  }
  lt_ranker_flush(rk, INT64_MAX);
}

static void heads_learn_a_planted_signal(void **state) {
  (void)state;
  lt_state_t *st = new_state();
  lt_ranker_t *rk;
  assert_int_equal(lt_ranker_new(NULL, &rk), 0);
  train_planted(st, rk);
  lt_ranker_stats_t s;
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.pending, 0);
  assert_true(s.examples > 1000);
  assert_int_equal(s.impressions, s.examples);
  assert_true(s.positives[LT_HEAD_FINISH] > 500);
  /* seen items */
  float g = p_head(rk, st, "good0", LT_HEAD_FINISH), b = p_head(rk, st, "bad1", LT_HEAD_FINISH);
  assert_true(g > 0.8f);
  assert_true(b < 0.2f);
  /* unseen items generalise through their tag and creator */
  g = p_head(rk, st, "good-new", LT_HEAD_FINISH);
  b = p_head(rk, st, "bad-new", LT_HEAD_FINISH);
  assert_true(g > b + 0.3f);
  /* likes only ever happened on good items */
  assert_true(p_head(rk, st, "good0", LT_HEAD_LIKE) > p_head(rk, st, "bad1", LT_HEAD_LIKE));
  lt_ranker_free(rk);
  lt_state_free(st);
}

static void direct_learning_separates_labels(void **state) {
  (void)state;
  lt_ranker_t *rk;
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.bits = 12;
  assert_int_equal(lt_ranker_new(&o, &rk), 0);
  lt_ranker_x_t a = {2, {1, 2}}, b = {2, {1, 3}};
  for (int i = 0; i < 500; i++) {
    lt_ranker_learn(rk, &a, 1u << LT_HEAD_SHARE, 1u << LT_HEAD_SHARE);
    lt_ranker_learn(rk, &b, 1u << LT_HEAD_SHARE, 0);
  }
  float pa[LT_RANKER_HEADS], pb[LT_RANKER_HEADS];
  lt_ranker_predict(rk, &a, pa);
  lt_ranker_predict(rk, &b, pb);
  assert_true(pa[LT_HEAD_SHARE] > 0.85f);
  assert_true(pb[LT_HEAD_SHARE] < 0.15f);
  /* heads outside the mask did not move */
  assert_true(pa[LT_HEAD_FINISH] == 0.5f);
  lt_ranker_free(rk);
}

static void a_10s_watch_is_long_for_a_12s_video_not_for_300s(void **state) {
  (void)state;
  lt_ranker_t *rk;
  assert_int_equal(lt_ranker_new(NULL, &rk), 0);
  /* before any data: the prior (half of the bucket's typical duration) */
  assert_true(lt_ranker_is_long(rk, 12000, 10000));
  assert_false(lt_ranker_is_long(rk, 300000, 10000));
  assert_int_equal(lt_ranker_long_threshold(rk, 0), 0);
  assert_false(lt_ranker_is_long(rk, 0, 10000));
  /* with data: short clips are watched 4-8 s, five-minute videos 20-200 s */
  for (int i = 0; i < 1000; i++) {
    lt_ranker_duration_add(rk, 12000, 4000 + (uint32_t)(i % 41) * 100);
    lt_ranker_duration_add(rk, 300000, 20000 + (uint32_t)(i % 181) * 1000);
  }
  uint32_t t12 = lt_ranker_long_threshold(rk, 12000), t300 = lt_ranker_long_threshold(rk, 300000);
  assert_true(t12 > 5000 && t12 < 7000);      /* median ~6 s */
  assert_true(t300 > 90000 && t300 < 130000); /* median ~110 s */
  assert_true(lt_ranker_is_long(rk, 12000, 10000));
  assert_false(lt_ranker_is_long(rk, 300000, 10000));
  /* the same bucket covers 10-15 s videos: a 14 s video shares it */
  assert_int_equal(lt_ranker_duration_bucket(14000), lt_ranker_duration_bucket(12000));
  assert_true(lt_ranker_duration_bucket(300000) != lt_ranker_duration_bucket(12000));
  lt_ranker_free(rk);

  /* where everyone watches 12 s clips to 11 s, 10 s is no longer long */
  assert_int_equal(lt_ranker_new(NULL, &rk), 0);
  for (int i = 0; i < 200; i++)
    lt_ranker_duration_add(rk, 12000, 11000 + (uint32_t)(i % 10) * 100);
  assert_false(lt_ranker_is_long(rk, 12000, 10000));
  lt_ranker_free(rk);
}

static void outcomes_join_within_the_window_only(void **state) {
  (void)state;
  lt_state_t *st = new_state();
  put_item(st, "v1", "c1", "food", 10000);
  put_item(st, "v2", "c1", "food", 10000);
  lt_ranker_t *rk;
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.window_ms = 60000;
  assert_int_equal(lt_ranker_new(&o, &rk), 0);
  feed(st, rk, ev("u1", "v1", LT_EV_IMPRESSION, T0, 0));
  feed(st, rk, ev("u1", "v1", LT_EV_LIKE, T0 + 10000, 0)); /* joins */
  feed(st, rk, ev("u1", "v2", LT_EV_IMPRESSION, T0 + 20000, 0));
  feed(st, rk, ev("u2", "v2", LT_EV_IMPRESSION, T0 + 70000, 0)); /* closes u1/v1 */
  lt_ranker_stats_t s;
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.examples, 1);
  assert_int_equal(s.positives[LT_HEAD_LIKE], 1);
  assert_int_equal(s.pending, 2);
  feed(st, rk, ev("u1", "v2", LT_EV_LIKE, T0 + 200000, 0)); /* too late: closes u1/v2 first */
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.examples, 3);
  assert_int_equal(s.positives[LT_HEAD_LIKE], 1);
  /* a play with no impression opens its own example */
  feed(st, rk, ev("u3", "v1", LT_EV_PLAY, T0 + 300000, 9500));
  lt_ranker_flush(rk, INT64_MAX);
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.examples, 4);
  assert_int_equal(s.impressions, 3);
  assert_int_equal(s.positives[LT_HEAD_FINISH], 1);
  assert_int_equal(s.pending, 0);
  lt_ranker_free(rk);
  lt_state_free(st);
}

static void a_full_pending_table_closes_the_oldest(void **state) {
  (void)state;
  lt_state_t *st = new_state();
  put_item(st, "v1", "c1", "food", 10000);
  lt_ranker_t *rk;
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.pending = 4;
  assert_int_equal(lt_ranker_new(&o, &rk), 0);
  char u[16];
  for (int i = 0; i < 10; i++) {
    snprintf(u, sizeof u, "u%d", i);
    feed(st, rk, ev(u, "v1", LT_EV_IMPRESSION, T0 + i, 0));
  }
  lt_ranker_stats_t s;
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.evicted, 6);
  assert_int_equal(s.examples, 6);
  assert_int_equal(s.pending, 4);
  /* the index still finds the survivors: a play joins u9's impression */
  feed(st, rk, ev("u9", "v1", LT_EV_PLAY, T0 + 20, 10000));
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.pending, 4);
  lt_ranker_flush(rk, INT64_MAX);
  lt_ranker_stats(rk, &s);
  assert_int_equal(s.examples, 10);
  assert_int_equal(s.positives[LT_HEAD_FINISH], 1);
  lt_ranker_free(rk);
  lt_state_free(st);
}

/* lt_ranker_prefetch is a hint: a ranker prefetched for before every
 * event (for the pair, for pairs never seen, on an empty and on a full,
 * wrapping pending ring) learns exactly what its twin learns. */
static void prefetching_changes_nothing(void **state) {
  (void)state;
  lt_state_t *st = new_state();
  put_item(st, "v1", "c1", "food", 10000);
  put_item(st, "v2", "c2", "pets", 20000);
  lt_ranker_t *rk[2];
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.pending = 4;
  for (int k = 0; k < 2; k++)
    assert_int_equal(lt_ranker_new(&o, &rk[k]), 0);
  for (int step = 0; step < 2; step++)
    lt_ranker_prefetch(rk[0], 0, 0, step);
  char u[16];
  for (int i = 0; i < 40; i++) {
    snprintf(u, sizeof u, "u%d", i % 7);
    const char *item = i % 3 ? "v1" : "v2";
    lt_record_t r = ev(u, item, i % 2 ? LT_EV_PLAY : LT_EV_IMPRESSION, T0 + i, 1000u * (i % 20));
    assert_int_equal(lt_state_apply(st, &r, 0), 0);
    uint32_t uid = id_of(st, LT_NS_USER, u), iid = id_of(st, LT_NS_ITEM, item);
    for (int step = 0; step < 2; step++) {
      lt_ranker_prefetch(rk[0], uid, iid, step);
      lt_ranker_prefetch(rk[0], UINT32_MAX - 1, UINT32_MAX - 1, step);
    }
    for (int k = 0; k < 2; k++)
      assert_int_equal(lt_ranker_observe(rk[k], st, &r.u.ev, uid, iid, LT_RANKER_NO_SOURCE, NULL),
                       0);
  }
  lt_ranker_stats_t s[2];
  for (int k = 0; k < 2; k++) {
    lt_ranker_flush(rk[k], INT64_MAX);
    lt_ranker_stats(rk[k], &s[k]);
  }
  assert_int_equal(s[0].examples, s[1].examples);
  assert_true(s[0].examples > 0);
  assert_int_equal(s[0].evicted, s[1].evicted);
  assert_int_equal(s[0].updates, s[1].updates);
  for (int h = 0; h < LT_RANKER_HEADS; h++) {
    assert_int_equal(s[0].positives[h], s[1].positives[h]);
    assert_true(p_head(rk[0], st, "v1", h) == p_head(rk[1], st, "v1", h));
    assert_true(p_head(rk[0], st, "v2", h) == p_head(rk[1], st, "v2", h));
  }
  for (int k = 0; k < 2; k++)
    lt_ranker_free(rk[k]);
  lt_state_free(st);
}

static void save_load_round_trip_and_corruption(void **state) {
  (void)state;
  lt_state_t *st = new_state();
  lt_ranker_t *rk, *back = NULL;
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.bits = 14;
  assert_int_equal(lt_ranker_new(&o, &rk), 0);
  train_planted(st, rk);
  char *dir = lt_test_tmpdir("ranker");
  char path[512];
  snprintf(path, sizeof path, "%s/ranker.bin", dir);
  assert_int_equal(lt_ranker_save(rk, path), 0);
  assert_int_equal(lt_ranker_load(path, NULL, &back), 0);
  const char *items[] = {"good0", "bad1", "good-new", "bad-new"};
  for (int i = 0; i < 4; i++)
    for (int h = 0; h < LT_RANKER_HEADS; h++)
      assert_true(p_head(rk, st, items[i], h) == p_head(back, st, items[i], h));
  lt_ranker_stats_t a, b;
  lt_ranker_stats(rk, &a);
  lt_ranker_stats(back, &b);
  assert_int_equal(a.examples, b.examples);
  assert_int_equal(a.updates, b.updates);
  assert_int_equal(lt_ranker_long_threshold(rk, 20000), lt_ranker_long_threshold(back, 20000));
  assert_int_equal(lt_ranker_opts(back)->bits, 14);
  lt_ranker_free(back);
  back = NULL;

  /* one flipped byte, a truncation, a missing file */
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  buf[n / 2] ^= 0x40;
  assert_int_equal(lt_test_write_file(path, buf, (size_t)n), 0);
  assert_int_equal(lt_ranker_load(path, NULL, &back), LT_ECORRUPT);
  assert_null(back);
  buf[n / 2] ^= 0x40;
  assert_int_equal(lt_test_write_file(path, buf, (size_t)n - 100), 0);
  assert_int_equal(lt_ranker_load(path, NULL, &back), LT_ECORRUPT);
  assert_int_equal(lt_test_write_file(path, buf, 50), 0);
  assert_int_equal(lt_ranker_load(path, NULL, &back), LT_ECORRUPT);
  snprintf(path, sizeof path, "%s/none.bin", dir);
  assert_int_equal(lt_ranker_load(path, NULL, &back), LT_ENOTFOUND);
  free(buf);
  lt_test_rmdir(dir);
  free(dir);
  lt_ranker_free(rk);
  lt_state_free(st);
}

static void bad_options_are_refused(void **state) {
  (void)state;
  lt_ranker_t *rk = NULL;
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  o.bits = 40;
  assert_int_equal(lt_ranker_new(&o, &rk), LT_EINVAL);
  lt_ranker_opts_default(&o);
  o.long_quantile = 1.0f;
  assert_int_equal(lt_ranker_new(&o, &rk), LT_EINVAL);
  assert_null(rk);
  lt_ranker_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(heads_learn_a_planted_signal),
      cmocka_unit_test(direct_learning_separates_labels),
      cmocka_unit_test(a_10s_watch_is_long_for_a_12s_video_not_for_300s),
      cmocka_unit_test(outcomes_join_within_the_window_only),
      cmocka_unit_test(a_full_pending_table_closes_the_oldest),
      cmocka_unit_test(prefetching_changes_nothing),
      cmocka_unit_test(save_load_round_trip_and_corruption),
      cmocka_unit_test(bad_options_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
