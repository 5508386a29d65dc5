/*
 * test_simulate.c — the closed-loop simulator on a tiny platform: the
 * same seed gives the same report (every policy, every day, every figure
 * but wall times), another seed another one; the report has every column
 * in the table and in JSON; the figures hold together (rates in [0, 1],
 * cumulative counts never shrink); and remote mode drives a real server
 * over HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "eval/simulate.h"
#include "feed/feed.h"
#include "http/server.h"
#include "state/store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tiny(lt_sim_opts_t *o, uint64_t seed) {
  lt_sim_opts_default(o);
  o->days = 3;
  o->users = 150;
  o->items = 400;
  o->new_creators = 3;
  o->seed = seed;
  o->feed.ials_k = 8;
  o->feed.ials_iters = 2;
  o->log = NULL;
}

/* Every figure of two days but the wall time. */
static int same_day(const lt_sim_day_t *a, const lt_sim_day_t *b) {
  lt_sim_day_t x = *a, y = *b;
  x.seconds = y.seconds = 0;
  return !memcmp(&x, &y, sizeof x);
}

static void same_seed_same_result(void **state) {
  (void)state;
  lt_sim_opts_t o;
  tiny(&o, 7);
  lt_sim_report_t a, b, c;
  assert_int_equal(lt_sim_run(&o, &a), 0);
  o.threads = 1; /* scheduling must not matter either */
  assert_int_equal(lt_sim_run(&o, &b), 0);
  assert_int_equal(a.nruns, 4);
  assert_int_equal(b.nruns, 4);
  for (uint32_t k = 0; k < a.nruns; k++) {
    assert_int_equal(a.runs[k].error, 0);
    assert_int_equal(a.runs[k].policy, b.runs[k].policy);
    assert_int_equal(a.runs[k].ndays, 3);
    assert_int_equal(a.runs[k].events, b.runs[k].events);
    for (uint32_t d = 0; d < 3; d++)
      assert_true(same_day(&a.runs[k].days[d], &b.runs[k].days[d]));
    assert_true(same_day(&a.runs[k].total, &b.runs[k].total));
  }
  tiny(&o, 8);
  assert_int_equal(lt_sim_run(&o, &c), 0);
  int differs = 0;
  for (uint32_t k = 0; k < c.nruns; k++)
    differs |= !same_day(&a.runs[k].days[0], &c.runs[k].days[0]);
  assert_true(differs);
  lt_sim_report_free(&a);
  lt_sim_report_free(&b);
  lt_sim_report_free(&c);
}

static void the_report_has_every_column(void **state) {
  (void)state;
  lt_sim_opts_t o;
  tiny(&o, 3);
  o.policies = (1u << LT_SIM_POPULARITY) | (1u << LT_SIM_LAOTIE);
  lt_sim_report_t r;
  assert_int_equal(lt_sim_run(&o, &r), 0);
  assert_int_equal(r.nruns, 2);
  for (uint32_t k = 0; k < r.nruns; k++) {
    const lt_sim_run_t *run = &r.runs[k];
    uint32_t prev_new = 0, prev_left = 0;
    for (uint32_t d = 0; d < run->ndays; d++) {
      const lt_sim_day_t *x = &run->days[d];
      assert_int_equal(x->day, d);
      assert_true(x->active_users > 0 && x->impressions > 0);
      assert_true(x->completion_rate >= 0 && x->completion_rate <= 1);
      assert_true(x->creator_gini >= 0 && x->creator_gini < 1);
      assert_true(x->young_share >= 0 && x->young_share <= 1);
      assert_true(x->aigc_share >= 0 && x->aigc_share <= 1);
      assert_true(x->pool2_share >= 0 && x->pool2_share <= 1);
      assert_true(x->new_items >= prev_new && x->churned >= prev_left);
      assert_true(x->watch_min_per_active > 0);
      prev_new = x->new_items;
      prev_left = x->churned;
    }
  }
  /* the table */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  lt_sim_print_table(f, &r);
  fclose(f);
  const char *cols[] = {"active", "watchmin", "compl",         "gini",      "young",     "pool2",
                        "aigc",   "left",     "== popularity", "== laotie", "== summary"};
  for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
    assert_non_null(strstr(buf, cols[i]));
  free(buf);
  /* the JSON */
  buf = NULL;
  f = open_memstream(&buf, &len);
  lt_sim_print_json(f, &r);
  fclose(f);
  cJSON *j = cJSON_Parse(buf);
  assert_non_null(j);
  const cJSON *runs = cJSON_GetObjectItemCaseSensitive(j, "runs");
  assert_int_equal(cJSON_GetArraySize(runs), 2);
  const char *keys[] = {"watch_min_per_active", "completion_rate",    "creator_gini", "young_share",
                        "pool2_share",          "new_creators_pool2", "aigc_share",   "churned",
                        "active_users",         "median_watch_ratio"};
  const cJSON *run;
  cJSON_ArrayForEach(run, runs) {
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(run, "policy")));
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(run, "days");
    assert_int_equal(cJSON_GetArraySize(days), 3);
    const cJSON *day;
    cJSON_ArrayForEach(day, days) {
      for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(day, keys[i])));
    }
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
      assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(run, "summary"), keys[i])));
  }
  const cJSON *pols = cJSON_GetObjectItemCaseSensitive(j, "policies");
  assert_int_equal(cJSON_GetArraySize(pols), 2);
  const cJSON *p0 = cJSON_GetArrayItem(pols, 0);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(p0, "name")->valuestring, "popularity");
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p0, "watch_minutes_per_user")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p0, "creator_gini")));
  cJSON_Delete(j);
  free(buf);
  lt_sim_report_free(&r);
  /* options */
  uint32_t mask;
  assert_int_equal(lt_sim_policy_parse("laotie-nopools", &mask), 0);
  assert_int_equal(mask, 1u << LT_SIM_LAOTIE_NOPOOLS);
  assert_int_equal(lt_sim_policy_parse("server", &mask), LT_EINVAL);
  o.page = 0;
  assert_int_equal(lt_sim_run(&o, &r), LT_EINVAL);
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) { lt_feed_observe(ctx, recs, n); }

static void remote_mode_drives_a_server_over_http(void **state) {
  (void)state;
  char *dir = lt_test_tmpdir("sim-remote");
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  lt_store_t *store;
  assert_int_equal(lt_store_open(dir, &so, &store, NULL), 0);
  lt_feed_opts_t fo;
  lt_feed_opts_default(&fo);
  fo.ials_k = 8;
  fo.ials_iters = 2;
  lt_feed_t *feed;
  assert_int_equal(lt_feed_new(lt_store_state(store), &fo, NULL, &feed), 0);
  lt_store_set_observer(store, observe, lt_feed_prepare, feed);
  lt_server_opts_t o;
  lt_server_opts_default(&o);
  o.port = 0;
  o.api_key = "sim-key-0123456789";
  o.max_batch = 1000;
  lt_server_t *srv;
  assert_int_equal(lt_server_start(store, feed, &o, &srv), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", lt_server_port(srv));

  lt_sim_opts_t so2;
  tiny(&so2, 5);
  so2.days = 2;
  so2.users = 60;
  so2.items = 200;
  so2.url = url;
  so2.api_key = "sim-key-0123456789";
  lt_sim_report_t r;
  assert_int_equal(lt_sim_run(&so2, &r), 0);
  assert_int_equal(r.nruns, 1);
  assert_int_equal(r.runs[0].policy, LT_SIM_REMOTE);
  assert_int_equal(r.runs[0].error, 0);
  assert_int_equal(r.runs[0].ndays, 2);
  assert_true(r.runs[0].total.impressions > 0);
  /* what the simulator sent is in the server's state */
  lt_state_totals_t t;
  lt_state_totals(lt_store_state(store), &t);
  assert_true(t.events >= r.runs[0].total.impressions * 2);
  assert_true(t.items >= 200);
  lt_sim_report_free(&r);
  /* a wrong key: the run stops with an error, not a crash */
  so2.api_key = "wrong";
  assert_int_equal(lt_sim_run(&so2, &r), 0);
  assert_int_not_equal(r.runs[0].error, 0);
  lt_sim_report_free(&r);
  lt_server_stop(srv);
  lt_store_close(store, 0);
  lt_feed_free(feed);
  lt_test_rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_seed_same_result),
      cmocka_unit_test(the_report_has_every_column),
      cmocka_unit_test(remote_mode_drives_a_server_over_http),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
