/*
 * test_itemcf.c — model/itemcf (co-watch cosine neighbours, batch and
 * incremental, bounded memory, counts summed over a base model's list,
 * readers running while the writer counts) and model/ease (the closed-form
 * item-item model used by the pipeline on small catalogs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "model/csr.h"
#include "model/ease.h"
#include "model/itemcf.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* users' histories as (user, item) pairs, each user's items in watch order */
typedef struct hist {
  uint32_t *u, *i;
  size_t n;
} hist_t;

static lt_csr_t *to_csr(const hist_t *h, uint32_t nusers, uint32_t nitems) {
  lt_csr_t *a = NULL;
  assert_int_equal(lt_csr_build(nusers, nitems, h->u, h->i, NULL, h->n, LT_CSR_DUP_MAX, &a), 0);
  return a;
}

static void known_cowatches_give_known_neighbour_order(void **st) {
  /* n0 = 4, n1 = 3, n2 = 2, n3 = 1; c01 = 3, c02 = 2, c03 = 1, c12 = 1 */
  uint32_t u[] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3};
  uint32_t i[] = {0, 1, 2, 0, 1, 0, 1, 3, 0, 2};
  hist_t h = {u, i, 10};
  lt_csr_t *ui = to_csr(&h, 4, 4);
  lt_itemcf_t *cf = NULL;
  assert_int_equal(lt_itemcf_build(ui, NULL, &cf), 0);
  lt_itemcf_nb_t nb[8];
  size_t got = 0;
  assert_int_equal(lt_itemcf_neighbors(cf, 0, nb, 8, &got), 0);
  assert_int_equal(got, 3);
  assert_int_equal(nb[0].item, 1);
  assert_float_equal(nb[0].sim, 3 / sqrt(12.0), 1e-6);
  assert_int_equal(nb[1].item, 2);
  assert_float_equal(nb[1].sim, 2 / sqrt(8.0), 1e-6);
  assert_int_equal(nb[2].item, 3);
  assert_float_equal(nb[2].sim, 0.5, 1e-6);
  /* item 1: 0 (3/sqrt 12 = .866), 3 (1/sqrt 3 = .577), 2 (1/sqrt 6 = .408) */
  assert_int_equal(lt_itemcf_neighbors(cf, 1, nb, 8, &got), 0);
  assert_int_equal(got, 3);
  assert_int_equal(nb[0].item, 0);
  assert_int_equal(nb[1].item, 3);
  assert_int_equal(nb[2].item, 2);
  /* max truncates to the best */
  assert_int_equal(lt_itemcf_neighbors(cf, 1, nb, 1, &got), 0);
  assert_int_equal(got, 1);
  assert_int_equal(nb[0].item, 0);
  assert_int_equal(lt_itemcf_count(cf, 0), 4);
  assert_int_equal(lt_itemcf_count(cf, 99), 0);
  assert_int_equal(lt_itemcf_neighbors(cf, 99, nb, 8, &got), 0);
  assert_int_equal(got, 0);
  lt_itemcf_free(cf);
  lt_csr_free(ui);
}

static void equal_similarities_rank_the_smaller_id_first(void **st) {
  /* items 5, 3 and 7 each co-watched once with 0, all with n = 1 */
  lt_itemcf_t *cf = NULL;
  assert_int_equal(lt_itemcf_new(8, NULL, &cf), 0);
  uint32_t first = 0;
  uint32_t order[] = {5, 3, 7};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(lt_itemcf_observe(cf, NULL, 0, first), 0);
    assert_int_equal(lt_itemcf_observe(cf, &first, 1, order[k]), 0);
  }
  lt_itemcf_nb_t nb[4];
  size_t got;
  assert_int_equal(lt_itemcf_neighbors(cf, 0, nb, 4, &got), 0);
  assert_int_equal(got, 3);
  assert_int_equal(nb[0].item, 3);
  assert_int_equal(nb[1].item, 5);
  assert_int_equal(nb[2].item, 7);
  lt_itemcf_free(cf);
}

static void incremental_observe_equals_batch_build(void **st) {
  enum { NU = 300, NI = 60 };
  uint64_t s = 11;
  hist_t h;
  h.u = malloc(NU * 20 * sizeof *h.u);
  h.i = malloc(NU * 20 * sizeof *h.i);
  h.n = 0;
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  /* no evictions, so counts must agree exactly: a capacity of 5 x NI gives
   * tables of 64 buckets (itemcf.h), and items 0..59 hash to at most 5 in
   * any of them (were one full, the counts below would differ) */
  o.capacity = 5 * NI;
  lt_itemcf_t *inc = NULL, *bat = NULL;
  assert_int_equal(lt_itemcf_new(0, &o, &inc), 0); /* grows as items appear */
  for (uint32_t u = 0; u < NU; u++) {
    uint32_t len = 3 + (uint32_t)(rng(&s) % 15), mine[20], nm = 0;
    uint8_t seen[NI] = {0};
    while (nm < len) {
      /* a popular head and a tail */
      uint32_t it = (uint32_t)(rng(&s) % 4 ? rng(&s) % 12 : rng(&s) % NI);
      if (seen[it]) continue;
      seen[it] = 1;
      assert_int_equal(lt_itemcf_observe(inc, mine, nm, it), 0);
      mine[nm++] = it;
      h.u[h.n] = u, h.i[h.n] = it, h.n++;
    }
  }
  lt_csr_t *ui = to_csr(&h, NU, NI);
  assert_int_equal(lt_itemcf_build(ui, &o, &bat), 0);
  assert_int_equal(lt_itemcf_nitems(bat), NI);
  assert_true(lt_itemcf_nitems(inc) <= NI);
  lt_itemcf_nb_t a[NI], b[NI];
  for (uint32_t it = 0; it < NI; it++) {
    size_t na = 0, nb = 0;
    assert_int_equal(lt_itemcf_count(inc, it), lt_itemcf_count(bat, it));
    assert_int_equal(lt_itemcf_neighbors(inc, it, a, NI, &na), 0);
    assert_int_equal(lt_itemcf_neighbors(bat, it, b, NI, &nb), 0);
    assert_int_equal(na, nb);
    for (size_t k = 0; k < na; k++) {
      assert_int_equal(a[k].item, b[k].item);
      assert_true(a[k].sim == b[k].sim);
    }
  }
  lt_itemcf_free(inc);
  lt_itemcf_free(bat);
  lt_csr_free(ui);
  free(h.u);
  free(h.i);
}

static void memory_stays_bounded_and_heavy_partners_survive(void **st) {
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  o.capacity = 8;
  lt_itemcf_t *cf = NULL;
  assert_int_equal(lt_itemcf_new(2, &o, &cf), 0);
  uint64_t s = 3;
  size_t mem_after_warmup = 0;
  /* every 3rd user watches 0 then 1; the others watch 0 then a fresh item */
  uint32_t zero = 0;
  for (uint32_t u = 0; u < 30000; u++) {
    uint32_t other = u % 3 == 0 ? 1 : 2 + (uint32_t)(rng(&s) % 5000);
    assert_int_equal(lt_itemcf_observe(cf, NULL, 0, 0), 0);
    assert_int_equal(lt_itemcf_observe(cf, &zero, 1, other), 0);
    if (u == 10000) mem_after_warmup = lt_itemcf_memory(cf);
  }
  /* item 0's table stays at 8 counters; only the per-item arrays and the
   * new items' small tables grew */
  lt_itemcf_nb_t nb[16];
  size_t got;
  assert_int_equal(lt_itemcf_neighbors(cf, 0, nb, 16, &got), 0);
  assert_int_equal(lt_itemcf_capacity(cf), 10); /* 8, rounded up to two buckets */
  assert_true(got <= 10);
  assert_int_equal(nb[0].item, 1);
  assert_true(lt_itemcf_memory(cf) < mem_after_warmup + 5000 * 200);
  assert_int_equal(lt_itemcf_observe(cf, NULL, 0, UINT32_MAX), LT_EINVAL);
  assert_int_equal(lt_itemcf_observe(cf, NULL, 3, 1), LT_EINVAL);
  lt_itemcf_free(cf);
  lt_itemcf_free(NULL);
}

static void heavy_users_are_skipped_by_the_batch_build(void **st) {
  uint32_t u[] = {0, 0, 1, 1, 1};
  uint32_t i[] = {0, 1, 0, 1, 2};
  hist_t h = {u, i, 5};
  lt_csr_t *ui = to_csr(&h, 2, 3);
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  o.max_user_items = 2;
  lt_itemcf_t *cf = NULL;
  assert_int_equal(lt_itemcf_build(ui, &o, &cf), 0);
  assert_int_equal(lt_itemcf_count(cf, 2), 0);
  assert_int_equal(lt_itemcf_count(cf, 0), 1);
  lt_itemcf_nb_t nb[4];
  size_t got;
  assert_int_equal(lt_itemcf_neighbors(cf, 0, nb, 4, &got), 0);
  assert_int_equal(got, 1);
  assert_float_equal(nb[0].sim, 1.0, 1e-6);
  lt_itemcf_free(cf);
  o.capacity = 0;
  assert_int_equal(lt_itemcf_build(ui, &o, &cf), LT_EINVAL);
  lt_csr_free(ui);
}

static void a_read_over_a_base_list_sums_the_counts(void **st) {
  /* item 0: the base knew 6 watchers, 2 more since (N0 = 8); partner 4:
   * p 2, counted with 0 twice since (N4 = 4); partner 8: new, counted once
   * (N8 = 1); base list of 0: 7 .9, 9 .6, 4 .2, 3 .1 (shrink 0) */
  lt_itemcf_t *cf = NULL;
  assert_int_equal(lt_itemcf_new(10, NULL, &cf), 0);
  uint32_t zero = 0;
  assert_int_equal(lt_itemcf_set_prior(cf, 0, 6), 0);
  assert_int_equal(lt_itemcf_set_prior(cf, 4, 2), 0);
  for (int k = 0; k < 2; k++)
    assert_int_equal(lt_itemcf_observe(cf, NULL, 0, 0), 0);
  uint32_t partners[] = {4, 4, 8};
  for (int k = 0; k < 3; k++)
    assert_int_equal(lt_itemcf_observe(cf, &zero, 1, partners[k]), 0);
  assert_int_equal(lt_itemcf_support(cf, 0), 8);
  assert_int_equal(lt_itemcf_support(cf, 4), 4);
  assert_int_equal(lt_itemcf_count(cf, 4), 2);
  lt_itemcf_nb_t base[] = {{7, 0.9f}, {9, 0.6f}, {4, 0.2f}, {3, 0.1f}}, out[8];
  size_t got = 0;
  assert_int_equal(lt_itemcf_neighbors_over(cf, 0, base, 4, out, 8, &got), 0);
  double scale = sqrt(6.0 / 8); /* listed, not counted since: s x sqrt(p0 / N0) */
  double s4 = 2 / sqrt(8.0 * 4) + 0.2 * sqrt(6.0 * 2) / sqrt(8.0 * 4);
  uint32_t want[] = {7, 9, 4, 8, 3};
  double wsim[] = {0.9 * scale, 0.6 * scale, s4, 1 / sqrt(8.0), 0.1 * scale};
  assert_int_equal(got, 5);
  for (int k = 0; k < 5; k++) {
    assert_int_equal(out[k].item, want[k]);
    assert_float_equal(out[k].sim, wsim[k], 1e-6);
  }
  /* max keeps the best */
  assert_int_equal(lt_itemcf_neighbors_over(cf, 0, base, 4, out, 3, &got), 0);
  assert_int_equal(got, 3);
  assert_int_equal(out[2].item, 4);
  /* no base: the counts alone, as lt_itemcf_neighbors gives them */
  lt_itemcf_nb_t nb[8];
  size_t n2 = 0;
  assert_int_equal(lt_itemcf_neighbors_over(cf, 0, NULL, 0, out, 8, &got), 0);
  assert_int_equal(lt_itemcf_neighbors(cf, 0, nb, 8, &n2), 0);
  assert_int_equal(got, 2);
  assert_int_equal(n2, 2);
  for (size_t k = 0; k < got; k++)
    assert_true(out[k].item == nb[k].item && out[k].sim == nb[k].sim);
  /* nothing counted for the item (9 has no prior either), no model, or an
   * unknown item: the base list as it is */
  uint32_t known[] = {9, 99};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(lt_itemcf_neighbors_over(cf, known[k], base, 4, out, 8, &got), 0);
    assert_int_equal(got, 4);
    assert_true(out[0].sim == 0.9f && out[3].sim == 0.1f);
  }
  assert_int_equal(lt_itemcf_neighbors_over(NULL, 0, base, 4, out, 3, &got), 0);
  assert_int_equal(got, 3);
  assert_int_equal(out[2].item, 4);
  assert_int_equal(lt_itemcf_neighbors_over(cf, 0, NULL, 2, out, 8, &got), LT_EINVAL);
  assert_int_equal(lt_itemcf_set_prior(cf, UINT32_MAX, 1), LT_EINVAL);
  lt_itemcf_free(cf);
}

/* One writer churns item 0's table (capacity 8: two buckets of 5) with
 * evictions and growth, while partner 1 takes a third of item 0's pairs,
 * half of those in its bucket, more than the fifth Space-Saving never
 * evicts. The other partners are fresh items, each watched by 4 users and
 * paired with item 0 once, so each one's certain count is 1 and its
 * similarity 1 / sqrt(4 n_0). Every consistent read of item 0 lists 1, at
 * most 10 partners, no partner twice, and no fresh partner above that
 * similarity. A read that mixed two states of a counter (its partner, count
 * and error are three stores) could show a newcomer with the count and
 * error of the counter it replaced, and so a certain count above 1. */
enum { CH_CAP = 8, CH_MAX = 10, CH_OPS = 200000, CH_READERS = 2 };

typedef struct churn {
  lt_itemcf_t *cf;
  int done;                       /* atomic */
  uint64_t reads, busy, bad, max; /* atomic (readers) */
} churn_t;

static void *churn_writer(void *arg) {
  churn_t *c = arg;
  uint32_t zero = 0, one = 1, fresh = 2;
  for (uint32_t k = 0; k < CH_OPS; k++) {
    uint32_t x = 1;
    if (k % 3) {
      x = fresh++;
      for (int u = 0; u < 3; u++)
        lt_itemcf_observe(c->cf, NULL, 0, x);
    }
    if (lt_itemcf_observe(c->cf, &zero, 1, x)) __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
    if (k % 7 == 0) lt_itemcf_observe(c->cf, &one, 1, fresh++);
    if (k % 5 == 0) lt_itemcf_observe(c->cf, NULL, 0, 0);
  }
  __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *churn_reader(void *arg) {
  churn_t *c = arg;
  lt_itemcf_nb_t nb[4 * CH_CAP];
  uint64_t s = (uint64_t)(uintptr_t)&nb;
  while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
    uint32_t item = rng(&s) % 4 ? 0 : (uint32_t)(rng(&s) % 3002);
    double n0 = lt_itemcf_count(c->cf, 0); /* n_0 only grows: a bound */
    size_t got = 0;
    int rc = rng(&s) % 2 ? lt_itemcf_neighbors(c->cf, item, nb, 4 * CH_CAP, &got)
                         : lt_itemcf_neighbors_over(c->cf, item, NULL, 0, nb, 4 * CH_CAP, &got);
    __atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
    if (rc == LT_EBUSY) {
      __atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
      continue;
    }
    int ok = rc == 0 && got <= CH_MAX, has1 = 0;
    for (size_t a = 0; a < got; a++) {
      has1 |= nb[a].item == 1;
      ok &= nb[a].item != item && nb[a].sim >= 0 && nb[a].sim <= 1;
      for (size_t b = a + 1; b < got; b++)
        ok &= nb[a].item != nb[b].item;
    }
    if (item == 0 && got) ok &= has1; /* 1 is item 0's first partner */
    for (size_t a = 0; item == 0 && a < got; a++)
      if (nb[a].item != 1) ok &= nb[a].sim <= 1.0001 / sqrt(4 * n0);
    if (!ok) __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&c->max, __ATOMIC_RELAXED);
    if (got > m) __atomic_store_n(&c->max, got, __ATOMIC_RELAXED); /* readers race: a hint */
  }
  return NULL;
}

static void readers_never_see_a_torn_list_while_the_writer_counts(void **st) {
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  o.capacity = CH_CAP;
  churn_t c;
  memset(&c, 0, sizeof c);
  assert_int_equal(lt_itemcf_new(2, &o, &c.cf), 0);
  uint32_t zero = 0;
  assert_int_equal(lt_itemcf_observe(c.cf, &zero, 1, 1), 0);
  pthread_t w, r[CH_READERS];
  for (int k = 0; k < CH_READERS; k++)
    assert_int_equal(pthread_create(&r[k], NULL, churn_reader, &c), 0);
  assert_int_equal(pthread_create(&w, NULL, churn_writer, &c), 0);
  pthread_join(w, NULL);
  for (int k = 0; k < CH_READERS; k++)
    pthread_join(r[k], NULL);
  assert_int_equal(c.bad, 0);
  assert_true(c.reads > c.busy); /* most reads succeed */
  assert_int_equal(lt_itemcf_capacity(c.cf), CH_MAX);
  assert_true(c.max <= CH_MAX);
  /* every item's list is within the capacity once the writer is done */
  lt_itemcf_nb_t nb[4 * CH_CAP];
  size_t got;
  for (uint32_t i = 0; i < lt_itemcf_nitems(c.cf); i++) {
    assert_int_equal(lt_itemcf_neighbors(c.cf, i, nb, 4 * CH_CAP, &got), 0);
    assert_true(got <= CH_MAX);
  }
  lt_itemcf_free(c.cf);
}

static void ease_matches_the_closed_form(void **st) {
  /* users {0,1} {0,2} {1,2,3} {0,1,3}, lambda 1; B from NumPy:
   * P = inv(X^T X + I), B = -P / diag(P), zero diagonal */
  static const float want[4][4] = {{0, 0.35714287f, 0.16666667f, -0.03125f},
                                   {0.47619048f, 0, 0.041666668f, 0.46875f},
                                   {0.1904762f, 0.035714287f, 0, 0.1875f},
                                   {-0.04761905f, 0.53571427f, 0.25f, 0}};
  uint32_t u[] = {0, 0, 1, 1, 2, 2, 2, 3, 3, 3};
  uint32_t i[] = {0, 1, 0, 2, 1, 2, 3, 0, 1, 3};
  hist_t h = {u, i, 10};
  lt_csr_t *ui = to_csr(&h, 4, 4);
  lt_ease_t *m = NULL;
  assert_int_equal(lt_ease_train(ui, 1.0f, 0, &m), 0);
  for (int j = 0; j < 4; j++)
    for (int k = 0; k < 4; k++)
      assert_float_equal(m->B[j * 4 + k], want[j][k], 1e-5);
  /* scores are weighted sums of rows */
  uint32_t hist[] = {0, 3};
  float w[] = {1, 0.5f}, s[4];
  assert_int_equal(lt_ease_score(m, hist, w, 2, s), 0);
  for (int k = 0; k < 4; k++)
    assert_float_equal(s[k], want[0][k] + 0.5f * want[3][k], 1e-5);
  lt_ease_free(m);
  assert_int_equal(lt_ease_train(ui, 1.0f, 3, &m), LT_ETOOBIG);
  assert_int_equal(lt_ease_train(ui, 0.0f, 0, &m), LT_EINVAL);
  lt_ease_free(NULL);
  lt_csr_free(ui);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(known_cowatches_give_known_neighbour_order),
      cmocka_unit_test(equal_similarities_rank_the_smaller_id_first),
      cmocka_unit_test(incremental_observe_equals_batch_build),
      cmocka_unit_test(memory_stays_bounded_and_heavy_partners_survive),
      cmocka_unit_test(heavy_users_are_skipped_by_the_batch_build),
      cmocka_unit_test(a_read_over_a_base_list_sums_the_counts),
      cmocka_unit_test(readers_never_see_a_torn_list_while_the_writer_counts),
      cmocka_unit_test(ease_matches_the_closed_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
