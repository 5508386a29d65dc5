/*
 * test_core.c — core: interning, the u64 map, varints, time zones, days.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/hash.h"
#include "core/intern.h"
#include "core/opts.h"
#include "helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void intern_assigns_dense_ids_in_order_of_first_sight(void **s) {
  lt_intern_t *t;
  assert_int_equal(lt_intern_new(&t), 0);
  uint32_t id;
  int created;
  char buf[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(buf, sizeof buf, "user-%d", i);
    assert_int_equal(lt_intern_put(t, buf, strlen(buf), &id, &created), 0);
    assert_int_equal(id, i);
    assert_true(created);
  }
  assert_int_equal(lt_intern_put(t, "user-77", 7, &id, &created), 0);
  assert_int_equal(id, 77);
  assert_false(created);
  size_t n;
  const char *str = lt_intern_str(t, 99999, &n);
  assert_int_equal(n, 10);
  assert_memory_equal(str, "user-99999", 10);
  assert_int_equal(str[n], 0);
  assert_int_equal(lt_intern_find(t, "nobody", 6, &id), LT_ENOTFOUND);
  assert_null(lt_intern_str(t, 100000, &n));
  assert_int_equal(lt_intern_count(t), 100000);
  lt_intern_free(t);
}

static void intern_rejects_empty_and_overlong_ids(void **s) {
  lt_intern_t *t;
  assert_int_equal(lt_intern_new(&t), 0);
  uint32_t id;
  char big[300];
  memset(big, 'x', sizeof big);
  assert_int_equal(lt_intern_put(t, "", 0, &id, NULL), LT_EINVAL);
  assert_int_equal(lt_intern_put(t, big, 256, &id, NULL), LT_EINVAL);
  assert_int_equal(lt_intern_put(t, big, 255, &id, NULL), 0);
  for (int step = 0; step < 3; step++) { /* hints for what no put accepts: no effect */
    lt_intern_prefetch(t, "", 0, step);
    lt_intern_prefetch(t, big, 256, step);
    lt_intern_prefetch(t, big, 255, step);
  }
  assert_int_equal(lt_intern_count(t), 1);
  lt_intern_free(t);
}

typedef struct {
  lt_intern_t *t;
  int stop, errors;
} race_t;

static void *reader(void *arg) {
  race_t *r = arg;
  char buf[32];
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    uint32_t n = lt_intern_count(r->t);
    for (uint32_t i = 0; i < n; i += 97) {
      snprintf(buf, sizeof buf, "k%u", i);
      uint32_t id;
      for (int step = 0; step < 3; step++) /* a hint, safe beside the writer */
        lt_intern_prefetch(r->t, buf, strlen(buf), step);
      if (lt_intern_find(r->t, buf, strlen(buf), &id) || id != i) r->errors++;
    }
  }
  return NULL;
}

static void intern_readers_see_every_published_id_while_a_writer_grows_it(void **s) {
  race_t r = {0};
  assert_int_equal(lt_intern_new(&r.t), 0);
  pthread_t th;
  pthread_create(&th, NULL, reader, &r);
  char buf[32];
  for (uint32_t i = 0; i < 200000; i++) {
    snprintf(buf, sizeof buf, "k%u", i);
    uint32_t id;
    assert_int_equal(lt_intern_put(r.t, buf, strlen(buf), &id, NULL), 0);
  }
  __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
  pthread_join(th, NULL);
  assert_int_equal(r.errors, 0);
  lt_intern_free(r.t);
}

static void u64map_upserts_and_finds(void **s) {
  lt_u64map_t m;
  lt_u64map_init(&m);
  for (uint64_t k = 1; k <= 50000; k++) {
    uint64_t *v;
    int created;
    assert_int_equal(lt_u64map_upsert(&m, k * 7919, &v, &created), 0);
    assert_true(created);
    *v = k;
  }
  assert_int_equal(m.len, 50000);
  assert_true(m.len * 2 <= m.cap);
  for (uint64_t k = 1; k <= 50000; k++) assert_int_equal(*lt_u64map_get(&m, k * 7919), k);
  assert_null(lt_u64map_get(&m, 3));
  lt_u64map_clear(&m);
  assert_null(lt_u64map_get(&m, 7919));
}

static void varints_round_trip_and_truncation_is_detected(void **s) {
  lt_buf_t b;
  lt_buf_init(&b);
  const int64_t vals[] = {0, 1, -1, 63, -64, 300, INT64_MAX, INT64_MIN, 1234567890123LL};
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) lt_buf_svar(&b, vals[i]);
  lt_buf_uvar(&b, UINT64_MAX);
  lt_buf_str(&b, "hello", 5);
  lt_rd_t r;
  lt_rd_init(&r, b.p, b.len);
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) assert_true(lt_rd_svar(&r) == vals[i]);
  assert_true(lt_rd_uvar(&r) == UINT64_MAX);
  size_t n;
  const char *str = lt_rd_str(&r, &n, 10);
  assert_int_equal(n, 5);
  assert_memory_equal(str, "hello", 5);
  assert_int_equal(r.err, 0);
  /* every truncation of the stream is an error, never an overread */
  for (size_t cut = 0; cut < b.len; cut++) {
    lt_rd_init(&r, b.p, cut);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) lt_rd_svar(&r);
    lt_rd_uvar(&r);
    lt_rd_str(&r, &n, 10);
    assert_int_equal(r.err, LT_ECORRUPT);
  }
  /* a string longer than allowed */
  lt_rd_init(&r, b.p + b.len - 6, 6);
  assert_null(lt_rd_str(&r, &n, 4));
  assert_int_equal(r.err, LT_ECORRUPT);
  lt_buf_free(&b);
}

static void days_are_counted_in_the_configured_zone(void **s) {
  lt_tz_t sh, utc;
  assert_int_equal(lt_tz_load(&sh, "Asia/Shanghai"), 0);
  assert_int_equal(lt_tz_load(&utc, "UTC"), 0);
  int32_t d;
  assert_int_equal(lt_day_parse("2025-11-27", &d), 0);
  /* 2025-11-27 15:59:59 UTC = 23:59:59 in Shanghai; one second later is the 28th */
  int64_t t = lt_tz_day_start(&utc, d) + 15 * 3600 + 59 * 60 + 59;
  assert_int_equal(lt_tz_day(&sh, t), d);
  assert_int_equal(lt_tz_day(&sh, t + 1), d + 1);
  assert_int_equal(lt_tz_day(&utc, t + 1), d);
  assert_int_equal(lt_tz_day_start(&sh, d + 1), t + 1);
  char out[11];
  lt_day_format(d, out);
  assert_string_equal(out, "2025-11-27");
  lt_tz_free(&sh);
  lt_tz_free(&utc);
}

static void zone_with_daylight_saving_changes_offset(void **s) {
  lt_tz_t ny;
  if (lt_tz_load(&ny, "America/New_York") == LT_ENOTFOUND) {
    /* without tzdata only fixed zones exist; a fixed offset must still parse */
    assert_int_equal(lt_tz_load(&ny, "-05:00"), 0);
    assert_int_equal(lt_tz_offset(&ny, 0), -5 * 3600);
    return;
  }
  int32_t jan, jul;
  assert_int_equal(lt_day_parse("2024-01-15", &jan), 0);
  assert_int_equal(lt_day_parse("2024-07-15", &jul), 0);
  assert_int_equal(lt_tz_offset(&ny, (int64_t)jan * 86400), -5 * 3600);
  assert_int_equal(lt_tz_offset(&ny, (int64_t)jul * 86400), -4 * 3600);
  lt_tz_free(&ny);
}

static void bad_zones_and_dates_are_rejected(void **s) {
  lt_tz_t tz;
  assert_int_equal(lt_tz_load(&tz, "../../etc/passwd"), LT_EINVAL);
  assert_int_equal(lt_tz_load(&tz, "Mars/Olympus"), LT_ENOTFOUND);
  assert_int_equal(lt_tz_load(&tz, "+08:00"), 0);
  assert_int_equal(lt_tz_offset(&tz, 0), 8 * 3600);
  assert_int_equal(lt_tz_load(&tz, "UTC+25"), LT_ENOTFOUND);
  int32_t d;
  assert_int_equal(lt_day_parse("2025-02-29", &d), LT_EINVAL);
  assert_int_equal(lt_day_parse("2024-02-29", &d), 0);
  assert_int_equal(lt_day_parse("2024-13-01", &d), LT_EINVAL);
  assert_int_equal(lt_day_parse("2024-1-01", &d), LT_EINVAL);
  assert_int_equal(lt_day_parse("2024-01-01x", &d), LT_EINVAL);
  assert_int_equal(lt_day_parse("", &d), LT_EINVAL);
}

static void decimal_writers_match_printf(void **s) {
  (void)s;
  lt_buf_t b;
  lt_buf_init(&b);
  char want[64];
  const int64_t ints[] = {0, 1, -1, 9, 10, 99, 100, 12345, -987654321, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
    lt_buf_reset(&b);
    lt_buf_dec(&b, ints[i]);
    snprintf(want, sizeof want, "%lld", (long long)ints[i]);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
  }
  lt_buf_reset(&b);
  lt_buf_udec(&b, UINT64_MAX);
  assert_memory_equal(b.p, "18446744073709551615", 20);
  /* fixed point: random values (a fixed stream), edge cases, every
   * precision; none is within 1e-9 of a rounding tie */
  const double edge[] = {0.0, -0.0, 0.5, -0.5, 1.0, 0.00004, -0.00004, 0.99996, 123.25, 1e14, -1e14,
                         2e15, -3e20, 0.1, 0.7, 1.0 / 3};
  uint64_t x = 42;
  for (int i = 0; i < 200000; i++) {
    double v;
    if (i < (int)(sizeof edge / sizeof *edge)) {
      v = edge[i];
    } else {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      v = ((double)(x >> 11) / 9007199254740992.0 - 0.5) * (i % 2 ? 2e6 : 20.0);
    }
    int d = i % 10;
    snprintf(want, sizeof want, "%.*f", d, v);
    lt_buf_reset(&b);
    lt_buf_fixed(&b, v, d);
    if (b.len != strlen(want) || memcmp(b.p, want, b.len)) {
      double scaled = fabs(v) * pow(10, d);
      if (fabs(scaled - floor(scaled) - 0.5) < 1e-9) continue; /* a tie: allowed to differ */
      fail_msg("%.17g at %d decimals: %.*s, printf %s", v, d, (int)b.len, b.p, want);
    }
  }
  lt_buf_free(&b);
}

static void error_codes_have_text(void **s) {
  assert_string_equal(lt_strerror(LT_ECORRUPT), "data is corrupt");
  assert_string_equal(lt_strerror(0), "ok");
  assert_string_equal(lt_strerror(12345), "unknown error");
}

/* ---- opts: the one parser of named options ---- */

typedef struct {
  char name[8];
  uint32_t n;
  uint64_t big;
  float w;
  double x;
  int64_t ms;
  uint32_t flags, mode;
} opts_fixture_t;

static const char *const fixture_modes[] = {"low", "high", NULL};
#define T opts_fixture_t
static const lt_opt_t fixture_keys[] = {
    LT_OPT(T, name, LT_OPT_STR, 0, 0, "a name"),
    LT_OPT(T, n, LT_OPT_U32, 1, 100, "a count"),
    LT_OPT(T, big, LT_OPT_U64, 0, 1e12, "a big count"),
    LT_OPT(T, w, LT_OPT_F32, 0, 1, "a weight"),
    LT_OPT(T, x, LT_OPT_F64, -5, 5, "a number"),
    LT_OPT_AS(T, "window_h", ms, LT_OPT_MS_H, 0.001, 48, "hours"),
    LT_OPT_BIT(T, "thing", flags, 4, "on | off"),
    LT_OPT_NAMES(T, "mode", mode, 7, fixture_modes, "low | high"),
};
#undef T

static int set(opts_fixture_t *o, const char *k, const char *v, char *err) {
  return lt_opts_set(fixture_keys, LT_OPTS_N(fixture_keys), o, "p.", k, v, err, 128);
}

static void opts_set_every_type_and_refuse_bad_values(void **state) {
  (void)state;
  opts_fixture_t o = {.n = 5, .flags = 1, .mode = 7};
  char err[128], v[64];
  assert_int_equal(set(&o, "name", "abc", err), 0);
  assert_string_equal(o.name, "abc");
  assert_int_equal(set(&o, "n", "42", err), 0);
  assert_int_equal(o.n, 42);
  assert_int_equal(set(&o, "big", "1000000000000", err), 0);
  assert_true(o.big == 1000000000000ULL);
  assert_int_equal(set(&o, "w", "0.25", err), 0);
  assert_true(o.w == 0.25f);
  assert_int_equal(set(&o, "x", "-4.5", err), 0);
  assert_true(o.x == -4.5);
  assert_int_equal(set(&o, "window_h", "1.5", err), 0);
  assert_true(o.ms == 5400000);
  assert_int_equal(set(&o, "thing", "off", err), 0);
  assert_int_equal(o.flags, 5);
  assert_int_equal(set(&o, "thing", "on", err), 0);
  assert_int_equal(o.flags, 1);
  assert_int_equal(set(&o, "mode", "high", err), 0);
  assert_int_equal(o.mode, 8);
  lt_opts_format(&fixture_keys[7], &o, v, sizeof v);
  assert_string_equal(v, "high");
  lt_opts_format(&fixture_keys[5], &o, v, sizeof v);
  assert_string_equal(v, "1.5");
  /* refusals leave the field alone and say why, with the prefix */
  const char *bad[][2] = {{"n", "0"},         {"n", "101"},
                          {"n", "1.5"},       {"n", ""},
                          {"n", "12abc"},     {"n", "nan"},
                          {"x", "inf"},       {"x", "1e400"},
                          {"w", "-0.1"},      {"name", "toolongname"},
                          {"thing", "maybe"}, {"mode", "middle"},
                          {"window_h", "0"}};
  opts_fixture_t before = o;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = 0;
    assert_int_equal(set(&o, bad[i][0], bad[i][1], err), LT_EINVAL);
    assert_non_null(strstr(err, "p."));
    assert_non_null(strstr(err, bad[i][0]));
    assert_memory_equal(&o, &before, sizeof o);
  }
  assert_int_equal(set(&o, "n", "1.5", err), LT_EINVAL);
  assert_non_null(strstr(err, "whole number in [1, 100]"));
  assert_int_equal(set(&o, "nope", "1", err), LT_ENOTFOUND);
  assert_string_equal(err, "unknown key 'p.nope'");
  /* check: numeric fields within bounds */
  assert_int_equal(lt_opts_check(fixture_keys, LT_OPTS_N(fixture_keys), &o, "p.", err, 128), 0);
  o.n = 1000;
  assert_int_equal(lt_opts_check(fixture_keys, LT_OPTS_N(fixture_keys), &o, "p.", err, 128),
                   LT_EINVAL);
  assert_non_null(strstr(err, "p.n: 1000 is outside [1, 100]"));
}

/* lt_fsync_dir takes directories only; lt_fsync_parent finds the directory
 * holding a path (a missing parent fails, so the one it opened is the
 * parent, not a directory above it). */
static void fsync_dir_takes_a_directory_and_parent_finds_it(void **state) {
  char *dir = lt_test_tmpdir("core");
  char file[4200], missing[4200], deep[4200];
  snprintf(file, sizeof file, "%s/f", dir);
  snprintf(missing, sizeof missing, "%s/none", dir);
  snprintf(deep, sizeof deep, "%s/none/f", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(lt_fsync_dir(dir), 0);
  assert_int_not_equal(lt_fsync_dir(file), 0);    /* not a directory */
  assert_int_not_equal(lt_fsync_dir(missing), 0); /* no such directory */
  assert_int_equal(lt_fsync_parent(file), 0);
  assert_int_equal(lt_fsync_parent(missing), 0);  /* its parent exists */
  assert_int_not_equal(lt_fsync_parent(deep), 0); /* its parent does not */
  assert_int_equal(lt_fsync_parent("no-slash"), 0);       /* "." */
  assert_int_equal(lt_fsync_parent("/no-such-file"), 0);  /* "/" */
  lt_test_rmdir(dir);
  free(dir);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(intern_assigns_dense_ids_in_order_of_first_sight),
      cmocka_unit_test(intern_rejects_empty_and_overlong_ids),
      cmocka_unit_test(intern_readers_see_every_published_id_while_a_writer_grows_it),
      cmocka_unit_test(u64map_upserts_and_finds),
      cmocka_unit_test(varints_round_trip_and_truncation_is_detected),
      cmocka_unit_test(days_are_counted_in_the_configured_zone),
      cmocka_unit_test(zone_with_daylight_saving_changes_offset),
      cmocka_unit_test(bad_zones_and_dates_are_rejected),
      cmocka_unit_test(error_codes_have_text),
      cmocka_unit_test(decimal_writers_match_printf),
      cmocka_unit_test(opts_set_every_type_and_refuse_bad_values),
      cmocka_unit_test(fsync_dir_takes_a_directory_and_parent_finds_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
