/*
 * test_eval.c — eval/offline: the metrics on hand-computed lists, the
 * chronological split rule, a small end-to-end run, and (when the data is
 * present) the full protocol on MovieLens-100K against the quality bar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/error.h"
#include "eval/offline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void metrics_match_hand_computed_values(void **st) {
  const uint32_t ranked[] = {5, 3, 9, 1};
  const uint32_t rel[] = {3, 1, 7};
  double r, n;
  /* K = 3: one hit (3) at rank 2; ideal = 3 hits */
  assert_int_equal(lt_eval_metrics(ranked, 4, rel, 3, 3, &r, &n), 0);
  assert_float_equal(r, 1.0 / 3, 1e-12);
  assert_float_equal(n, (1 / log2(3)) / (1 + 1 / log2(3) + 1 / log2(4)), 1e-12);
  assert_float_equal(n, 0.2960819109658652, 1e-12);
  /* K = 20: hits at ranks 2 and 4; recall over min(20, 3) = 3 */
  assert_int_equal(lt_eval_metrics(ranked, 4, rel, 3, 20, &r, &n), 0);
  assert_float_equal(r, 2.0 / 3, 1e-12);
  assert_float_equal(n, 0.49818925746641285, 1e-12);
  /* more relevant items than K: recall divides by K */
  const uint32_t many[] = {5, 3, 9, 1, 2, 4};
  assert_int_equal(lt_eval_metrics(ranked, 4, many, 6, 2, &r, &n), 0);
  assert_float_equal(r, 1.0, 1e-12);
  assert_float_equal(n, 1.0, 1e-12);
  /* nothing relevant */
  assert_int_equal(lt_eval_metrics(ranked, 4, rel, 0, 20, &r, &n), 0);
  assert_true(r == 0 && n == 0);
  assert_int_equal(lt_eval_metrics(ranked, 4, rel, 3, 20, NULL, &n), LT_EINVAL);
}

static void split_is_chronological_per_user_and_skips_small_users(void **st) {
  /* user 0: 4 interactions (train-only); user 1: 5 (1 test);
   * user 2: 6 (ceil 1.2 = 2 test) with a tie at the end broken by item id;
   * rows deliberately out of order */
  const uint32_t user[] = {1, 0, 2, 1, 2, 0, 2, 1, 2, 0, 2, 1, 2, 0, 1};
  const uint32_t item[] = {4, 0, 9, 3, 8, 1, 7, 2, 6, 2, 5, 1, 4, 3, 0};
  const int64_t ts[] = {50, 1, 60, 40, 60, 2, 30, 30, 20, 3, 10, 20, 5, 4, 10};
  lt_eval_input_t in = {user, item, ts, NULL, 15, 3, 10};
  uint8_t t[15];
  memset(t, 7, sizeof t);
  assert_int_equal(lt_eval_split(&in, NULL, 0.2, 5, t), 0);
  /* expected test rows: user 1's latest (row 0, ts 50); user 2's two
   * latest (ts 60: items 8 and 9, rows 4 and 2) */
  const uint8_t want[15] = {1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_memory_equal(t, want, sizeof want);
  /* with a tie at the 20% boundary the smaller item id stays in train */
  int64_t ts2[15];
  memcpy(ts2, ts, sizeof ts2);
  ts2[6] = 60; /* user 2: items 7, 8, 9 all at ts 60 -> 8 and 9 test, 7 train */
  in.ts = ts2;
  assert_int_equal(lt_eval_split(&in, NULL, 0.2, 5, t), 0);
  assert_int_equal(t[6], 0);
  assert_int_equal(t[4], 1);
  assert_int_equal(t[2], 1);
  /* eligible rows only: the validation carve-out of train */
  in.ts = ts;
  uint8_t elig[15];
  for (int r = 0; r < 15; r++)
    elig[r] = !want[r];
  uint8_t v[15];
  memset(v, 9, sizeof v);
  assert_int_equal(lt_eval_split(&in, elig, 0.2, 5, v), 0);
  for (int r = 0; r < 15; r++)
    if (!elig[r]) assert_int_equal(v[r], 9); /* untouched */
  /* user 1 has 4 train rows left: train-only; user 2 has 4: train-only */
  for (int r = 0; r < 15; r++)
    if (elig[r]) assert_int_equal(v[r], 0);
  /* bad input */
  const uint32_t bad_item[] = {10};
  lt_eval_input_t bad = {user, bad_item, ts, NULL, 1, 3, 10};
  assert_int_equal(lt_eval_split(&bad, NULL, 0.2, 5, t), LT_EINVAL);
  assert_int_equal(lt_eval_split(&in, NULL, 1.5, 5, t), LT_EINVAL);
}

/* Clustered, time-ordered synthetic sessions: each user drifts through its
 * cluster's items in a fixed order with some noise. */
static void small_run_reports_every_method(void **st) {
  enum { NU = 300, NI = 90, NC = 3 };
  size_t cap = NU * 30;
  uint32_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
  int64_t *ts = malloc(cap * sizeof *ts);
  size_t n = 0;
  uint64_t s = 5;
  for (uint32_t x = 0; x < NU; x++) {
    uint32_t c = x % NC, len = 10 + (uint32_t)(rng(&s) % 15), start = (uint32_t)(rng(&s) % 10);
    for (uint32_t k = 0; k < len; k++) {
      uint32_t pos = (start + k + (uint32_t)(rng(&s) % 3)) % (NI / NC);
      u[n] = x;
      it[n] = c * (NI / NC) + pos;
      ts[n] = 1000 + k;
      n++;
    }
  }
  lt_eval_input_t in = {u, it, ts, NULL, n, NU, NI};
  lt_eval_opts_t o;
  lt_eval_opts_default(&o);
  o.quick = 1;
  o.ials_k = 8;
  lt_eval_report_t rep;
  assert_int_equal(lt_eval_run(&in, &o, &rep), 0);
  assert_int_equal(rep.nmethods, 5);
  const char *names[] = {"popularity", "item-KNN", "iALS", "EASE", "laotie"};
  for (int m = 0; m < 5; m++) {
    assert_string_equal(rep.m[m].name, names[m]);
    assert_true(rep.m[m].recall >= 0 && rep.m[m].recall <= 1);
    assert_true(rep.m[m].ndcg >= 0 && rep.m[m].ndcg <= 1);
  }
  /* structure beats popularity here */
  assert_true(rep.m[4].ndcg > rep.m[0].ndcg);
  assert_int_equal(rep.test_users, NU);
  assert_int_equal(rep.ntrain + rep.nval + rep.ntest, n);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  lt_eval_print_json(f, &rep);
  lt_eval_print_table(f, &rep);
  fclose(f);
  assert_non_null(strstr(buf, "{\"k\":20,"));
  assert_non_null(strstr(buf, "\"name\":\"laotie\""));
  free(buf);

  /* without EASE the pipeline anchors on item-KNN */
  o.ease_max_items = 0;
  assert_int_equal(lt_eval_run(&in, &o, &rep), 0);
  assert_int_equal(rep.nmethods, 4);
  assert_string_equal(rep.m[3].name, "laotie");
  /* invalid input */
  it[0] = NI;
  assert_int_equal(lt_eval_run(&in, &o, &rep), LT_EINVAL);
  free(u);
  free(it);
  free(ts);
}

/* The product's importers live elsewhere; this reads u.data directly. */
static int load_ml100k(uint32_t **u, uint32_t **it, int64_t **ts, size_t *n, uint32_t *nu,
                       uint32_t *ni) {
  char path[1024];
  snprintf(path, sizeof path, "%s/data/ml-100k/u.data", lt_test_shared());
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t cap = 1 << 17;
  *u = malloc(cap * sizeof **u);
  *it = malloc(cap * sizeof **it);
  *ts = malloc(cap * sizeof **ts);
  *n = 0;
  *nu = *ni = 0;
  unsigned a, b, r;
  long long t;
  while (*n < cap && fscanf(f, "%u %u %u %lld", &a, &b, &r, &t) == 4) {
    (*u)[*n] = a - 1, (*it)[*n] = b - 1, (*ts)[*n] = t;
    if (a > *nu) *nu = a;
    if (b > *ni) *ni = b;
    (*n)++;
  }
  fclose(f);
  return 0;
}

static void movielens_100k_pipeline_reaches_the_quality_bar(void **st) {
  uint32_t *u = NULL, *it = NULL, nu = 0, ni = 0;
  int64_t *ts = NULL;
  size_t n = 0;
  if (load_ml100k(&u, &it, &ts, &n, &nu, &ni)) {
    print_message("ml-100k not found under %s/data; skipped\n", lt_test_shared());
    skip();
  }
  assert_int_equal(n, 100000);
  lt_eval_input_t in = {u, it, ts, NULL, n, nu, ni};
  lt_eval_report_t rep;
  assert_int_equal(lt_eval_run(&in, NULL, &rep), 0);
  lt_eval_print_table(stderr, &rep);
  assert_int_equal(rep.ntest, 20381);
  /* the split reproduces the reference popularity figures */
  assert_float_equal(rep.m[0].recall, 0.1247, 0.0005);
  assert_float_equal(rep.m[0].ndcg, 0.1181, 0.0005);
  const lt_eval_method_t *best = &rep.m[rep.nmethods - 1];
  assert_string_equal(best->name, "laotie");
  assert_true(best->recall >= 0.24);
  assert_true(best->ndcg >= 0.21);
  free(u);
  free(it);
  free(ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(metrics_match_hand_computed_values),
      cmocka_unit_test(split_is_chronological_per_user_and_skips_small_users),
      cmocka_unit_test(small_run_reports_every_method),
      cmocka_unit_test(movielens_100k_pipeline_reaches_the_quality_bar),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
