/*
 * test_cowatch.c — model/cowatch (co-watches counted between trainings)
 * and the feed over it: the window rules, the served similarity (the
 * cosine of the snapshot's counts and those since summed), generations moved by
 * trainings, per-item lists bounded by the capacity, readers and a
 * learner running while the writer counts, and a co-watch pattern posted
 * as events showing in similar items and in the feed without retraining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"
#include "model/cowatch.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static lt_cowatch_t *make(uint32_t window, uint32_t capacity, float shrink) {
  lt_cowatch_opts_t o = {window, capacity, shrink};
  lt_cowatch_t *cw = NULL;
  assert_int_equal(lt_cowatch_new(&o, &cw), 0);
  return cw;
}

static void pos(lt_cowatch_t *cw, uint32_t user, uint32_t item) {
  assert_int_equal(lt_cowatch_positive(cw, user, item), 0);
}

/* item's served neighbours (no base list) into out; returns how many */
static size_t nbs(lt_cowatch_t *cw, uint32_t item, lt_itemcf_nb_t *out, size_t max) {
  lt_cowatch_view_t *v = lt_cowatch_acquire(cw);
  size_t got = 0;
  assert_int_equal(lt_cowatch_neighbors(v, item, NULL, 0, out, max, &got), 0);
  lt_cowatch_release(v);
  return got;
}

static float sim_of(const lt_itemcf_nb_t *nb, size_t n, uint32_t item) {
  for (size_t k = 0; k < n; k++)
    if (nb[k].item == item) return nb[k].sim;
  return -1;
}

static void a_positive_pairs_with_the_window_only(void **st) {
  lt_cowatch_t *cw = make(2, 8, 0);
  lt_itemcf_nb_t nb[16];
  pos(cw, 0, 10);
  pos(cw, 0, 11);
  pos(cw, 0, 12); /* window [11, 10]: pairs with both */
  pos(cw, 0, 13); /* window [12, 11]: 10 has left */
  size_t n = nbs(cw, 13, nb, 16);
  assert_int_equal(n, 2);
  assert_int_equal(nb[0].item, 11); /* sims equal (1 / sqrt(1 x 1)): smaller id first */
  assert_int_equal(nb[1].item, 12);
  assert_float_equal(nb[0].sim, 1.0, 1e-6);
  n = nbs(cw, 12, nb, 16);
  assert_int_equal(n, 3);
  assert_true(sim_of(nb, n, 10) > 0 && sim_of(nb, n, 13) > 0);
  n = nbs(cw, 10, nb, 16);
  assert_true(sim_of(nb, n, 13) < 0);

  /* a repeat counts nothing but moves to the front: window [12, 13] */
  pos(cw, 0, 12);
  pos(cw, 0, 14);
  n = nbs(cw, 14, nb, 16);
  assert_int_equal(n, 2);
  assert_true(sim_of(nb, n, 12) > 0 && sim_of(nb, n, 13) > 0);
  n = nbs(cw, 12, nb, 16); /* n_12 is still 1: every sim of 12 is 1 */
  for (size_t k = 0; k < n; k++)
    assert_float_equal(nb[k].sim, 1.0, 1e-6);

  /* a second user watching 10 then 14: n_10 = n_14 = 2, c = 1 */
  pos(cw, 1, 10);
  pos(cw, 1, 14);
  n = nbs(cw, 14, nb, 16);
  assert_float_equal(sim_of(nb, n, 10), 1 / sqrt(2.0 * 2.0), 1e-6);
  assert_float_equal(sim_of(nb, n, 12), 1 / sqrt(2.0 * 1.0), 1e-6);

  /* not_interested takes an item out of the window */
  pos(cw, 2, 20);
  pos(cw, 2, 21);
  lt_cowatch_negative(cw, 2, 21);
  pos(cw, 2, 22);
  n = nbs(cw, 22, nb, 16);
  assert_int_equal(n, 1);
  assert_int_equal(nb[0].item, 20);

  lt_cowatch_stats_t s;
  lt_cowatch_stats(cw, &s);
  assert_int_equal(s.generation, 1);
  assert_int_equal(s.positives, 10);
  assert_int_equal(s.repeats, 1);
  assert_true(s.bytes > 0);
  assert_int_equal(lt_cowatch_positive(cw, UINT32_MAX, 1), LT_EINVAL);
  lt_cowatch_opts_t bad = {0, 8, 0};
  lt_cowatch_t *x = NULL;
  assert_int_equal(lt_cowatch_new(&bad, &x), LT_EINVAL);
  bad = (lt_cowatch_opts_t){4, LT_COWATCH_MAX_CAPACITY + 1, 0};
  assert_int_equal(lt_cowatch_new(&bad, &x), LT_EINVAL);
  lt_cowatch_free(cw);
  lt_cowatch_free(NULL);
}

static void served_similarity_is_the_cosine_of_the_summed_counts(void **st) {
  lt_cowatch_t *cw = make(4, 8, 0);
  /* before counting: the snapshot knew 3 watchers of 13, 2 of 11, 5 of 30 */
  assert_int_equal(lt_cowatch_prior(cw, 13, 3), 0);
  assert_int_equal(lt_cowatch_prior(cw, 11, 2), 0);
  assert_int_equal(lt_cowatch_prior(cw, 30, 5), 0);
  pos(cw, 0, 11);
  pos(cw, 0, 12);
  pos(cw, 0, 13); /* N13 = 4, N11 = 3, N12 = 1 */
  lt_itemcf_nb_t base[] = {{30, 0.7f}, {11, 0.4f}}, out[8];
  lt_cowatch_view_t *v = lt_cowatch_acquire(cw);
  size_t n = 0;
  assert_int_equal(lt_cowatch_neighbors(v, 13, base, 2, out, 8, &n), 0);
  double d11 = sqrt(4.0 * 3);
  assert_int_equal(n, 3);
  assert_int_equal(out[0].item, 30); /* listed, not counted since: .7 sqrt(3 / 4) */
  assert_float_equal(out[0].sim, 0.7 * sqrt(3.0 / 4), 1e-6);
  assert_int_equal(out[1].item, 11); /* (.4 sqrt(3 x 2) + 1) / sqrt(4 x 3) */
  assert_float_equal(out[1].sim, (0.4 * sqrt(6.0) + 1) / d11, 1e-6);
  assert_int_equal(out[2].item, 12); /* new: 1 / sqrt(4 x 1) */
  assert_float_equal(out[2].sim, 0.5, 1e-6);
  /* max bounds the answer; nothing counted for the item: the base list */
  assert_int_equal(lt_cowatch_neighbors(v, 13, base, 2, out, 1, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(lt_cowatch_neighbors(v, 30, base, 2, out, 8, &n), 0);
  assert_int_equal(n, 2);
  assert_true(out[0].sim == 0.7f && out[1].sim == 0.4f);
  assert_int_equal(lt_cowatch_neighbors(v, 999, base, 2, out, 8, &n), 0);
  assert_int_equal(n, 2);
  lt_cowatch_release(v);
  /* no view (live co-watch off): the base list */
  assert_int_equal(lt_cowatch_neighbors(NULL, 13, base, 2, out, 8, &n), 0);
  assert_int_equal(n, 2);
  assert_true(out[0].sim == 0.7f && out[1].sim == 0.4f);
  lt_cowatch_free(cw);
}

static void generations_follow_trainings(void **st) {
  lt_cowatch_t *cw = make(4, 8, 0);
  lt_itemcf_nb_t nb[16];
  pos(cw, 0, 1);
  pos(cw, 0, 2);
  assert_int_equal(lt_cowatch_begin(cw), 0); /* a training starts: generation 2 */
  pos(cw, 1, 1);
  pos(cw, 1, 3);
  pos(cw, 0, 4); /* user 0's window [2, 1] is brought into generation 2 */
  /* still served from generation 1: 2 is a partner of 1 */
  size_t n = nbs(cw, 2, nb, 16);
  assert_true(sim_of(nb, n, 1) > 0);
  lt_cowatch_end(cw, 1); /* published: generation 2 is served */
  lt_cowatch_stats_t s;
  lt_cowatch_stats(cw, &s);
  assert_int_equal(s.generation, 2);
  n = nbs(cw, 2, nb, 16); /* the pair (1, 2) predates the training */
  assert_int_equal(n, 1);
  assert_int_equal(nb[0].item, 4);
  assert_float_equal(nb[0].sim, 1.0, 1e-6); /* n_2 counted when the window came in */
  n = nbs(cw, 4, nb, 16);
  assert_int_equal(n, 2);
  assert_float_equal(sim_of(nb, n, 1), 1 / sqrt(2.0), 1e-6); /* n_1 = 2 (users 0, 1) */

  /* a failed training drops its generation; its id is not reused */
  assert_int_equal(lt_cowatch_begin(cw), 0); /* 3 */
  pos(cw, 2, 7);
  pos(cw, 2, 8);
  lt_cowatch_end(cw, 0);
  lt_cowatch_stats(cw, &s);
  assert_int_equal(s.generation, 2);
  n = nbs(cw, 8, nb, 16); /* counted in the served generation as well */
  assert_int_equal(n, 1);
  assert_int_equal(lt_cowatch_begin(cw), 0); /* 4 */
  pos(cw, 2, 9);
  lt_cowatch_end(cw, 1);
  lt_cowatch_stats(cw, &s);
  assert_int_equal(s.generation, 4);
  n = nbs(cw, 9, nb, 16);
  assert_int_equal(n, 2);
  assert_float_equal(sim_of(nb, n, 7), 1.0, 1e-6);
  assert_float_equal(sim_of(nb, n, 8), 1.0, 1e-6);
  /* publishing without a begin starts an empty generation */
  lt_cowatch_end(cw, 1);
  assert_int_equal(nbs(cw, 9, nb, 16), 0);
  lt_cowatch_free(cw);
}

static void per_item_lists_never_exceed_the_capacity(void **st) {
  enum { CAP = 4, KEPT = 5, ITEMS = 300 }; /* 4 counters round up to a bucket of 5 (itemcf.h) */
  lt_cowatch_t *cw = make(10, CAP, 0);
  uint64_t s = 5;
  for (uint32_t e = 0; e < 40000; e++)
    pos(cw, (uint32_t)(rng(&s) % 2000), (uint32_t)(rng(&s) % ITEMS));
  lt_itemcf_nb_t base[40], out[64];
  for (uint32_t k = 0; k < 40; k++)
    base[k] = (lt_itemcf_nb_t){1000 + k, 0.01f * (40 - k)};
  lt_cowatch_view_t *v = lt_cowatch_acquire(cw);
  for (uint32_t i = 0; i < ITEMS; i++) {
    size_t n = 0;
    assert_int_equal(lt_cowatch_neighbors(v, i, NULL, 0, out, 64, &n), 0);
    assert_true(n >= 1 && n <= KEPT);
    assert_int_equal(lt_cowatch_neighbors(v, i, base, 40, out, 64, &n), 0);
    assert_true(n <= 40 + KEPT);
  }
  lt_cowatch_release(v);
  /* memory is what happened since the last training began: a training
   * keeps the item counts (as priors) and drops the pairs */
  lt_cowatch_stats_t a, b;
  lt_cowatch_stats(cw, &a);
  assert_int_equal(lt_cowatch_begin(cw), 0);
  lt_cowatch_end(cw, 1);
  lt_cowatch_stats(cw, &b);
  assert_true(b.bytes < a.bytes);
  assert_int_equal(b.items, ITEMS);
  v = lt_cowatch_acquire(cw);
  for (uint32_t i = 0; i < ITEMS; i++) {
    size_t n = 0;
    assert_int_equal(lt_cowatch_neighbors(v, i, NULL, 0, out, 64, &n), 0);
    assert_int_equal(n, 0);
  }
  lt_cowatch_release(v);
  lt_cowatch_free(cw);
}

/* ---- concurrency: readers and a learner while the writer counts ---------- */

enum { CC_OPS = 60000, CC_ITEMS = 500, CC_CAP = 16, CC_BASE = 20 };

typedef struct cc {
  lt_cowatch_t *cw;
  int done;                       /* atomic */
  uint64_t reads, bad, trainings; /* atomic */
} cc_t;

static void *cc_writer(void *arg) {
  cc_t *c = arg;
  uint64_t s = 9;
  for (uint32_t e = 0; e < CC_OPS; e++) {
    uint32_t u = (uint32_t)(rng(&s) % 300), i = (uint32_t)(rng(&s) % CC_ITEMS);
    if (rng(&s) % 50 == 0)
      lt_cowatch_negative(c->cw, u, i);
    else if (lt_cowatch_positive(c->cw, u, i))
      __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *cc_learner(void *arg) {
  cc_t *c = arg;
  for (uint32_t k = 0; !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE); k++) {
    if (lt_cowatch_begin(c->cw)) __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
    sched_yield();
    lt_cowatch_end(c->cw, k % 3 != 0); /* every third training fails */
    __atomic_add_fetch(&c->trainings, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void *cc_reader(void *arg) {
  cc_t *c = arg;
  lt_itemcf_nb_t base[CC_BASE], out[CC_BASE + CC_CAP];
  uint64_t s = (uint64_t)(uintptr_t)&base;
  while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
    lt_cowatch_view_t *v = lt_cowatch_acquire(c->cw);
    for (int q = 0; q < 8; q++) {
      uint32_t item = (uint32_t)(rng(&s) % CC_ITEMS);
      for (uint32_t k = 0; k < CC_BASE; k++) /* a snapshot list: partners item+1.. */
        base[k] = (lt_itemcf_nb_t){(item + 1 + k) % CC_ITEMS, 0.5f - 0.02f * k};
      size_t n = 0;
      int ok = lt_cowatch_neighbors(v, item, base, CC_BASE, out, CC_BASE + CC_CAP, &n) == 0 &&
               n >= CC_BASE && n <= CC_BASE + CC_CAP;
      for (size_t a = 0; ok && a < n; a++) {
        ok &= out[a].item != item && out[a].sim >= 0 && out[a].sim <= 1;
        if (a) ok &= out[a - 1].sim >= out[a].sim;
        for (size_t b = a + 1; b < n; b++)
          ok &= out[a].item != out[b].item;
      }
      if (!ok) __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
      __atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
    }
    lt_cowatch_stats_t st;
    lt_cowatch_stats(c->cw, &st);
    lt_cowatch_release(v);
  }
  return NULL;
}

static void readers_and_a_learner_run_while_the_writer_counts(void **st) {
  cc_t c;
  memset(&c, 0, sizeof c);
  c.cw = make(8, CC_CAP, 2);
  pthread_t w, l, r[2];
  for (int k = 0; k < 2; k++)
    assert_int_equal(pthread_create(&r[k], NULL, cc_reader, &c), 0);
  assert_int_equal(pthread_create(&l, NULL, cc_learner, &c), 0);
  assert_int_equal(pthread_create(&w, NULL, cc_writer, &c), 0);
  pthread_join(w, NULL);
  pthread_join(l, NULL);
  for (int k = 0; k < 2; k++)
    pthread_join(r[k], NULL);
  assert_int_equal(c.bad, 0);
  assert_true(c.reads > 0);
  assert_true(c.trainings > 0);
  lt_cowatch_stats_t s;
  lt_cowatch_stats(c.cw, &s);
  assert_true(s.positives > 0);
  lt_cowatch_free(c.cw);
}

/* ---- the feed: a co-watch pattern without retraining --------------------- */

static int64_t NOW;

static void apply(lt_state_t *st, lt_record_t *r) { assert_int_equal(lt_state_apply(st, r, 0), 0); }

static void put_video(lt_state_t *st, const char *id, const char *creator, const char *tag,
                      int64_t published) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.kind = LT_KIND_VIDEO;
  r.u.item.duration_ms = 30000;
  r.u.item.published_at_ms = published;
  r.u.item.ntags = 1;
  r.u.item.tags[0] = lt_str_of(tag);
  apply(st, &r);
}

static lt_record_t play_rec(const char *user, const char *item, int64_t ts, uint32_t watch) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_EVENT;
  r.u.ev.user = lt_str_of(user);
  r.u.ev.item = lt_str_of(item);
  r.u.ev.type = LT_EV_PLAY;
  r.u.ev.ts_ms = ts;
  r.u.ev.watch_ms = watch;
  r.u.ev.position = -1;
  return r;
}

/* As the store does: apply, then let every feed observe. */
static void post(lt_state_t *st, lt_feed_t **fs, int nf, lt_record_t *r) {
  apply(st, r);
  for (int k = 0; k < nf; k++)
    lt_feed_observe(fs[k], r, 1);
}

/* 60 videos in 3 tag clusters, 40 users watching 12 of their cluster */
static lt_state_t *make_state(void) {
  lt_state_t *st;
  assert_int_equal(lt_state_new(NULL, &st), 0);
  char id[32], cr[32], u[32];
  static const char *tags[3] = {"food", "pets", "travel"};
  for (int i = 0; i < 60; i++) {
    snprintf(id, sizeof id, "v%d", i);
    snprintf(cr, sizeof cr, "c%d", i % 12);
    put_video(st, id, cr, tags[i % 3], NOW - 10 * 86400000LL + i * 60000);
  }
  uint64_t s = 3;
  for (int k = 0; k < 40; k++) {
    snprintf(u, sizeof u, "u%d", k);
    for (int j = 0; j < 12; j++) {
      snprintf(id, sizeof id, "v%d", (int)(rng(&s) % 20) * 3 + k % 3);
      lt_record_t r = play_rec(u, id, NOW - 3 * 86400000LL + k * 60000 + j * 1000, 27000);
      apply(st, &r);
    }
  }
  return st;
}

static int similar_has(lt_feed_t *f, uint32_t item, uint32_t want, lt_feed_entry_t *e) {
  lt_feed_entry_t out[30];
  uint32_t n = 0;
  assert_int_equal(lt_feed_similar(f, item, 30, out, &n), 0);
  for (uint32_t k = 0; k < n; k++)
    if (out[k].item == want) {
      if (e) *e = out[k];
      return 1;
    }
  return 0;
}

/* The metrics lines of f that start with prefix, in one string. */
static void metrics_of(lt_feed_t *f, const char *prefix, char *out, size_t max) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  assert_non_null(m);
  lt_feed_metrics(f, m);
  fclose(m);
  size_t used = 0;
  out[0] = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    if (!strncmp(line, prefix, strlen(prefix)) && used + strlen(line) + 2 < max)
      used += (size_t)snprintf(out + used, max - used, "%s\n", line);
  free(buf);
}

/* Two feeds over st, both trained (small iALS); the second with the
 * policies in second_off switched off (0: alike). */
static void two_trained_feeds(lt_state_t *st, uint32_t second_off, lt_feed_t *f[2]) {
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_k = 8;
  o.ials_iters = 4;
  assert_int_equal(lt_feed_new(st, &o, NULL, &f[0]), 0);
  o.policies_off |= second_off;
  assert_int_equal(lt_feed_new(st, &o, NULL, &f[1]), 0);
  for (int k = 0; k < 2; k++)
    assert_int_equal(lt_feed_train(f[k], 0, NULL), 0);
}

/* lt_feed_observe counts a large batch's co-watch on a helper thread
 * while it does the rest and returns before it is done (feed.c, "Two
 * cores per batch"): large and small batches in turn, once settled, must
 * give what one event at a time gives — same counts, same lists, same
 * ranker examples. */
static void a_batch_is_learned_as_its_events_one_by_one(void **st_) {
  NOW = lt_now_ms() - 3600 * 1000LL;
  lt_state_t *st = make_state();
  lt_feed_t *f[2];
  two_trained_feeds(st, 0, f);
  enum { N = 192 }; /* >= LT__CW_PARALLEL (64): split */
  lt_record_t recs[N];
  char names[N][2][16];
  uint64_t s = 11;
  for (int i = 0; i < N; i++) {
    snprintf(names[i][0], 16, "u%d", (int)(rng(&s) % 50));
    snprintf(names[i][1], 16, "v%d", (int)(rng(&s) % 70)); /* some never put */
    recs[i] = play_rec(names[i][0], names[i][1], NOW + i * 1000, 27000);
    if (i % 9 == 4) recs[i].u.ev.type = LT_EV_NOT_INTERESTED;
    if (i % 7 == 3) recs[i].u.ev.watch_ms = 1000; /* not positive */
    apply(st, &recs[i]);
  }
  /* in batches: large ones go to the helper, which counts one while the
   * next is observed (two buffers); small ones are counted here, after it */
  static const size_t cut[] = {0, 100, 103, 183, N};
  for (int b = 0; b < 4; b++)
    lt_feed_observe(f[0], &recs[cut[b]], cut[b + 1] - cut[b]);
  lt_feed_settle(f[0]);
  for (int i = 0; i < N; i++)
    lt_feed_observe(f[1], &recs[i], 1); /* one by one: no helper */
  char ma[4096], mb[4096];
  metrics_of(f[0], "laotie_cowatch_positives_total", ma, sizeof ma);
  metrics_of(f[1], "laotie_cowatch_positives_total", mb, sizeof mb);
  unsigned long positives = 0;
  assert_int_equal(sscanf(ma, "laotie_cowatch_positives_total %lu", &positives), 1);
  assert_true(positives > 50);
  assert_string_equal(ma, mb);
  metrics_of(f[0], "laotie_ranker_", ma, sizeof ma);
  metrics_of(f[1], "laotie_ranker_", mb, sizeof mb);
  assert_true(strstr(ma, "laotie_ranker_examples_total") != NULL);
  assert_string_equal(ma, mb);
  for (uint32_t item = 0; item < lt_state_count(st, LT_NS_ITEM); item++) {
    lt_feed_entry_t x[30], y[30];
    uint32_t nx = 0, ny = 0;
    assert_int_equal(lt_feed_similar(f[0], item, 30, x, &nx), 0);
    assert_int_equal(lt_feed_similar(f[1], item, 30, y, &ny), 0);
    assert_int_equal(nx, ny);
    for (uint32_t k = 0; k < nx; k++) {
      assert_int_equal(x[k].item, y[k].item);
      assert_true(x[k].score == y[k].score);
    }
  }
  lt_feed_free(f[0]);
  lt_feed_free(f[1]);
  lt_state_free(st);
}

/* The helper may still be counting when lt_feed_observe returns, and
 * callers close the store (freeing the state) before lt_feed_free: the
 * helper must read nothing of the state. Under ASan a read of the freed
 * state while it counts fails here (a batch large enough that it is
 * still counting when the state goes). */
static void the_state_may_go_while_the_helper_counts(void **st_) {
  NOW = lt_now_ms() - 3600 * 1000LL;
  lt_state_t *st = make_state();
  lt_feed_t *f[2];
  two_trained_feeds(st, 0, f);
  lt_feed_free(f[1]);
  enum { N = 20000 };
  lt_record_t *recs = calloc(N, sizeof *recs);
  static char names[N][2][16];
  assert_non_null(recs);
  uint64_t s = 5;
  for (int i = 0; i < N; i++) {
    snprintf(names[i][0], 16, "u%d", (int)(rng(&s) % 50));
    snprintf(names[i][1], 16, "v%d", (int)(rng(&s) % 60));
    recs[i] = play_rec(names[i][0], names[i][1], NOW + i, 27000);
    apply(st, &recs[i]);
  }
  lt_feed_observe(f[0], recs, N);
  lt_state_free(st);
  lt_feed_settle(f[0]);
  char m[256];
  metrics_of(f[0], "laotie_cowatch_positives_total", m, sizeof m);
  unsigned long positives = 0;
  assert_int_equal(sscanf(m, "laotie_cowatch_positives_total %lu", &positives), 1);
  assert_true(positives > 0);
  lt_feed_free(f[0]);
  free(recs);
}

static void a_new_cowatch_pattern_shows_without_retraining(void **st_) {
  NOW = lt_now_ms() - 3600 * 1000LL;
  lt_state_t *st = make_state();
  lt_feed_t *f[2];
  two_trained_feeds(st, LT_POL_LIVE_COWATCH, f); /* f[1], the control: the snapshot alone */

  /* after the training: two new videos that fans watch one after the
   * other, and a third they skip (a tenth of it or less: not positive) */
  put_video(st, "new1", "c_new", "food", NOW);
  put_video(st, "new2", "c_new2", "pets", NOW);
  put_video(st, "new3", "c_new3", "travel", NOW);
  uint32_t n1, n2, n3;
  assert_int_equal(lt_state_find(st, LT_NS_ITEM, "new1", 4, &n1), 0);
  assert_int_equal(lt_state_find(st, LT_NS_ITEM, "new2", 4, &n2), 0);
  assert_int_equal(lt_state_find(st, LT_NS_ITEM, "new3", 4, &n3), 0);
  assert_false(similar_has(f[0], n1, n2, NULL));
  char u[32];
  for (int k = 0; k < 6; k++) {
    snprintf(u, sizeof u, "u%d", k);
    lt_record_t r = play_rec(u, "new1", NOW + k * 1000, 28000);
    post(st, f, 2, &r);
    r = play_rec(u, "new2", NOW + k * 1000 + 100, 25000);
    post(st, f, 2, &r);
    r = play_rec(u, "new3", NOW + k * 1000 + 200, 2000);
    post(st, f, 2, &r);
  }
  assert_int_equal(lt_feed_model_version(f[0]), 1); /* no retraining */
  lt_feed_entry_t e;
  assert_true(similar_has(f[0], n1, n2, &e));
  assert_int_equal(e.source, LT_SRC_ITEMCF);
  assert_non_null(strstr(e.reason, "often watched with new1"));
  assert_true(similar_has(f[0], n2, n1, NULL));
  assert_false(similar_has(f[0], n1, n3, NULL)); /* skips are not co-watches */
  assert_false(similar_has(f[1], n1, n2, NULL)); /* the snapshot alone does not know */

  /* the item-to-item source: a user who just watched new1 is offered new2 */
  lt_record_t r = play_rec("newcomer", "new1", NOW + 10000, 29000);
  post(st, f, 2, &r);
  lt_feed_result_t res;
  assert_int_equal(lt_feed_get(f[0], "newcomer", 8, 10, NOW + 20000, &res), 0);
  int found = 0;
  for (uint32_t k = 0; k < res.n; k++)
    if (res.items[k].item == n2) {
      found = 1;
      assert_int_equal(res.items[k].source, LT_SRC_ITEMCF);
      assert_non_null(strstr(res.items[k].reason, "because you watched new1"));
    }
  assert_true(found);

  /* the next training takes the pattern into the snapshot */
  assert_int_equal(lt_feed_train(f[0], 0, NULL), 0);
  assert_true(similar_has(f[0], n1, n2, NULL));
  assert_int_equal(lt_feed_train(f[1], 0, NULL), 0);
  assert_true(similar_has(f[1], n1, n2, NULL));

  char buf[16384];
  FILE *m = fmemopen(buf, sizeof buf, "w");
  lt_feed_metrics(f[0], m);
  fclose(m);
  assert_non_null(strstr(buf, "laotie_cowatch_generation 3\n"));
  assert_non_null(strstr(buf, "laotie_cowatch_positives_total 13\n"));
  for (int k = 0; k < 2; k++)
    lt_feed_free(f[k]);
  lt_state_free(st);
}

static void cowatch_keys_are_set_by_name(void **st) {
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  char err[128];
  assert_int_equal(lt_feed_opts_set(&o, "cowatch_window", "30", err, sizeof err), 0);
  assert_int_equal(o.cowatch_window, 30);
  assert_int_equal(lt_feed_opts_set(&o, "cowatch_neighbors", "128", err, sizeof err), 0);
  assert_int_equal(o.cowatch_capacity, 128);
  assert_int_equal(lt_feed_opts_set(&o, "cowatch_shrink", "2.5", err, sizeof err), 0);
  assert_float_equal(o.cowatch_shrink, 2.5, 1e-6);
  assert_int_equal(lt_feed_opts_set(&o, "live_cowatch", "off", err, sizeof err), 0);
  assert_true(o.policies_off & LT_POL_LIVE_COWATCH);
  assert_int_equal(lt_feed_opts_set(&o, "cowatch_window", "256", err, sizeof err), LT_EINVAL);
  assert_non_null(strstr(err, "cowatch_window"));
  assert_int_equal(lt_feed_opts_set(&o, "cowatch_neighbors", "0", err, sizeof err), LT_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_positive_pairs_with_the_window_only),
      cmocka_unit_test(served_similarity_is_the_cosine_of_the_summed_counts),
      cmocka_unit_test(generations_follow_trainings),
      cmocka_unit_test(per_item_lists_never_exceed_the_capacity),
      cmocka_unit_test(readers_and_a_learner_run_while_the_writer_counts),
      cmocka_unit_test(a_new_cowatch_pattern_shows_without_retraining),
      cmocka_unit_test(a_batch_is_learned_as_its_events_one_by_one),
      cmocka_unit_test(the_state_may_go_while_the_helper_counts),
      cmocka_unit_test(cowatch_keys_are_set_by_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
