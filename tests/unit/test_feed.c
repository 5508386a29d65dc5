/*
 * test_feed.c — the read path over a small generated state: no seen or
 * deleted items, creator diversity, cold start, reacting to a new user's
 * first plays, following and live windows, publishing while readers read,
 * model save/load (same version, same feed), corrupt models rejected,
 * similar items, online learning through lt_feed_observe, and metrics.
 *
 * The state: 4 taste clusters (tags food, pets, travel, sport), 200
 * videos from 10 creators, 120 users who each watch ~25 videos of their
 * cluster in the days before NOW.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"
#include "model/models.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NITEMS 200
#define NUSERS 120
#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

static int64_t NOW;
static const char *TAGS[4] = {"food", "pets", "travel", "sport"};

static void apply(lt_state_t *st, lt_record_t *r) { assert_int_equal(lt_state_apply(st, r, 0), 0); }

static void put_video(lt_state_t *st, const char *id, const char *creator, const char *tag,
                      int64_t published, int kind, int64_t live_start, int64_t live_end) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.kind = (uint8_t)kind;
  r.u.item.duration_ms = 30000;
  r.u.item.published_at_ms = published;
  r.u.item.ntags = 1;
  r.u.item.tags[0] = lt_str_of(tag);
  r.u.item.live_start_ms = live_start;
  r.u.item.live_end_ms = live_end;
  apply(st, &r);
}

static lt_record_t event(const char *user, const char *item, int type, int64_t ts, uint32_t watch) {
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

static void play(lt_state_t *st, const char *user, const char *item, int64_t ts) {
  lt_record_t r = event(user, item, LT_EV_PLAY, ts, 27000);
  apply(st, &r);
}

static void follow(lt_state_t *st, const char *user, const char *creator) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_FOLLOW;
  r.u.follow.user = lt_str_of(user);
  r.u.follow.creator = lt_str_of(creator);
  r.u.follow.ts_ms = NOW - HOUR;
  apply(st, &r);
}

static void del_item(lt_state_t *st, const char *id) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_DEL;
  r.u.del.id = lt_str_of(id);
  r.u.del.ts_ms = NOW - HOUR;
  apply(st, &r);
}

/* item "v<i>": cluster i % 4, creator "c<i % 10>" */
static lt_state_t *make_state(void) {
  lt_state_t *st;
  assert_int_equal(lt_state_new(NULL, &st), 0);
  char id[32], cr[32], u[32];
  for (int i = 0; i < NITEMS; i++) {
    snprintf(id, sizeof id, "v%d", i);
    snprintf(cr, sizeof cr, "c%d", i % 10);
    put_video(st, id, cr, TAGS[i % 4], NOW - 10 * DAY + i * HOUR, LT_KIND_VIDEO, 0, 0);
  }
  uint64_t x = 12345;
  for (int k = 0; k < NUSERS; k++) {
    snprintf(u, sizeof u, "u%d", k);
    int g = k % 4;
    for (int j = 0; j < 25; j++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      int i = (int)((x >> 33) % (NITEMS / 4)) * 4 + g;        /* an item of cluster g */
      if ((x >> 20) % 10 == 0) i = (int)((x >> 33) % NITEMS); /* some noise */
      snprintf(id, sizeof id, "v%d", i);
      play(st, u, id, NOW - 3 * DAY + k * 60000 + j * 1000);
    }
  }
  return st;
}

static uint32_t id_of(lt_state_t *st, lt_ns_t ns, const char *s) {
  uint32_t id = LT_NONE;
  assert_int_equal(lt_state_find(st, ns, s, strlen(s), &id), 0);
  return id;
}

static lt_feed_t *make_feed(lt_state_t *st, const char *dir) {
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_iters = 6;
  o.ials_k = 16;
  lt_feed_t *f;
  assert_int_equal(lt_feed_new(st, &o, dir, &f), 0);
  return f;
}

static void get(lt_feed_t *f, const char *user, uint32_t n, int64_t now, lt_feed_result_t *r) {
  assert_int_equal(lt_feed_get(f, user, strlen(user), n, now, r), 0);
}

/* Checks the invariants every response must keep. */
static void check_feed(lt_state_t *st, const char *user, const lt_feed_result_t *r,
                       uint32_t max_per_creator) {
  lt_hist_t h[2000];
  size_t nh = 0;
  uint32_t uid;
  if (lt_state_find(st, LT_NS_USER, user, strlen(user), &uid) == LT_OK)
    nh = lt_state_user_history(st, uid, h, 2000);
  assert_int_equal(strlen(r->request_id), 16);
  for (uint32_t i = 0; i < r->n; i++) {
    uint32_t it = r->items[i].item;
    const lt_item_meta_t *m = lt_state_item(st, it);
    assert_non_null(m);
    assert_false(m->deleted);
    for (size_t j = 0; j < nh; j++)
      assert_true(h[j].item != it);
    for (uint32_t j = 0; j < i; j++)
      assert_true(r->items[j].item != it);
    assert_true(r->items[i].source < LT_SRC__COUNT);
    assert_true(strlen(r->items[i].reason) > 0);
    /* greedy slots are deterministic; exploration slots draw among K */
    if (r->items[i].explore) {
      assert_true(r->items[i].flags & LT_FEED_F_EXPLORE);
      assert_true(r->items[i].propensity > 0 && r->items[i].propensity <= 1.0f);
      assert_non_null(strstr(r->items[i].reason, "; explore "));
    } else {
      assert_true(r->items[i].propensity == 1.0f);
    }
    if (m->creator == LT_NONE) continue;
    if (i) assert_true(lt_state_item(st, r->items[i - 1].item)->creator != m->creator);
    uint32_t same = 0;
    for (uint32_t j = 0; j < r->n; j++)
      same += lt_state_item(st, r->items[j].item)->creator == m->creator;
    assert_true(same <= max_per_creator);
  }
}

static int has_source(const lt_feed_result_t *r, int src) {
  for (uint32_t i = 0; i < r->n; i++)
    if (r->items[i].source == src) return 1;
  return 0;
}

static int find_item(lt_state_t *st, const lt_feed_result_t *r, const char *id) {
  uint32_t it;
  if (lt_state_find(st, LT_NS_ITEM, id, strlen(id), &it)) return -1;
  for (uint32_t i = 0; i < r->n; i++)
    if (r->items[i].item == it) return (int)i;
  return -1;
}

/* ---- tests ------------------------------------------------------------------ */

static void feed_never_shows_seen_or_deleted_items(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  assert_int_equal(lt_feed_model_version(f), 1);
  lt_feed_result_t r;
  /* the most popular unseen item of u0's cluster, then delete it */
  get(f, "u0", 20, NOW, &r);
  assert_true(r.n >= 10);
  check_feed(st, "u0", &r, 2);
  const char *top = lt_state_name(st, LT_NS_ITEM, r.items[0].item);
  char topid[64];
  snprintf(topid, sizeof topid, "%s", top);
  del_item(st, topid);
  char u[16];
  for (int k = 0; k < NUSERS; k += 7) {
    snprintf(u, sizeof u, "u%d", k);
    get(f, u, 40, NOW, &r);
    assert_true(r.n > 0);
    assert_int_equal(r.model_version, 1);
    check_feed(st, u, &r, 2);
    assert_int_equal(find_item(st, &r, topid), -1);
  }
  /* a fresh play disappears from the very next feed */
  get(f, "u1", 5, NOW, &r);
  char first[64];
  snprintf(first, sizeof first, "%s", lt_state_name(st, LT_NS_ITEM, r.items[0].item));
  play(st, "u1", first, NOW - 1000);
  get(f, "u1", 40, NOW, &r);
  assert_int_equal(find_item(st, &r, first), -1);
  check_feed(st, "u1", &r, 2);
  lt_feed_free(f);
  lt_state_free(st);
}

static void creators_alternate_and_are_capped(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  /* one creator with many popular items */
  char id[32];
  for (int i = 0; i < 30; i++) {
    snprintf(id, sizeof id, "star%d", i);
    put_video(st, id, "superstar", "food", NOW - DAY, LT_KIND_VIDEO, 0, 0);
    for (int k = 50; k < 70; k++) {
      char u[16];
      snprintf(u, sizeof u, "u%d", k);
      play(st, u, id, NOW - 2 * HOUR + i);
    }
  }
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_k = 16;
  o.ials_iters = 4;
  for (uint32_t cap = 1; cap <= 3; cap++) {
    o.max_per_creator = cap;
    lt_feed_t *f;
    assert_int_equal(lt_feed_new(st, &o, NULL, &f), 0);
    assert_int_equal(lt_feed_train(f, 0, NULL), 0);
    lt_feed_result_t r;
    const char *users[] = {"u0", "u2", "u7", "newcomer"};
    for (int k = 0; k < 4; k++) {
      get(f, users[k], 30, NOW, &r);
      assert_true(r.n >= 10);
      check_feed(st, users[k], &r, cap);
    }
    lt_feed_free(f);
  }
  lt_state_free(st);
}

static void a_new_user_gets_a_cold_start_feed(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  put_video(st, "brand-new", "c3", "food", NOW - HOUR, LT_KIND_VIDEO, 0, 0);
  /* the extremes of the catalog's time range must not overflow anything */
  put_video(st, "far-past", "cx", "food", 1, LT_KIND_VIDEO, 0, 0);
  put_video(st, "far-future", "cy", "food", LT_TS_MAX_MS, LT_KIND_VIDEO, 0, 0);
  play(st, "u1", "far-past", NOW - HOUR);
  play(st, "u2", "far-future", NOW - HOUR);
  lt_feed_t *f = make_feed(st, NULL);
  lt_feed_result_t r;
  /* before any training: version 0, trending + fresh */
  get(f, "nobody", 20, NOW, &r);
  assert_int_equal(r.model_version, 0);
  assert_true(r.n >= 10);
  check_feed(st, "nobody", &r, 2);
  assert_true(has_source(&r, LT_SRC_TRENDING));
  assert_true(has_source(&r, LT_SRC_FRESH));
  int at = find_item(st, &r, "brand-new");
  if (at >= 0) assert_true(!strncmp(r.items[at].reason, "new: give it a first audience", 29));
  /* the first exploration slot draws uniformly among the 4 best candidates,
   * and the newest with the fewest impressions is the first of them: over a
   * few requests (each its own draw) it comes up there */
  int at4 = 0;
  for (int k = 0; k < 64 && !at4; k++) {
    get(f, "nobody", 20, NOW + k, &r);
    at = find_item(st, &r, "brand-new");
    if (at == 4) {
      at4 = 1;
      assert_int_equal(r.items[4].explore, 16 * 4 + 1); /* rank 0 of 4 */
      assert_true(r.items[4].propensity == 0.25f);
      assert_string_equal(r.items[4].reason, "new: give it a first audience; explore 1 of 4");
    }
  }
  assert_true(at4);
  get(f, "nobody", 20, NOW, &r);
  assert_int_equal(find_item(st, &r, "far-future"), -1);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  get(f, "somebody-else", 20, NOW, &r);
  assert_int_equal(r.model_version, 1);
  assert_true(r.n >= 10);
  for (uint32_t i = 0; i < r.n; i++)
    assert_true(r.items[i].source == LT_SRC_TRENDING || r.items[i].source == LT_SRC_FRESH);
  for (uint32_t i = 0; i < r.n; i++)
    if (r.items[i].source == LT_SRC_TRENDING)
      assert_true(!strncmp(r.items[i].reason, "trending", 8));
  /* bad arguments */
  assert_int_equal(lt_feed_get(f, "x", 1, 0, NOW, &r), LT_EINVAL);
  assert_int_equal(lt_feed_get(f, "x", 1, LT_FEED_MAX + 1, NOW, &r), LT_EINVAL);
  assert_int_equal(lt_feed_get(f, "", 0, 10, NOW, &r), LT_EINVAL);
  lt_feed_free(f);
  lt_state_free(st);
}

static void first_plays_bring_cowatch_and_taste_candidates(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  /* a user unknown to the model plays three pets videos (cluster 1) */
  const char *played[] = {"v1", "v5", "v9"};
  for (int i = 0; i < 3; i++)
    play(st, "newbie", played[i], NOW - 60000 + i);
  lt_feed_result_t r;
  get(f, "newbie", 10, NOW, &r);
  check_feed(st, "newbie", &r, 2);
  assert_true(has_source(&r, LT_SRC_ITEMCF));
  int because = 0, pets = 0;
  for (uint32_t i = 0; i < r.n; i++) {
    if (r.items[i].source == LT_SRC_ITEMCF) {
      assert_true(!strncmp(r.items[i].reason, "because you watched v", 21));
      const char *x = r.items[i].reason + 20;
      because += !strcmp(x, "v1") || !strcmp(x, "v5") || !strcmp(x, "v9");
    }
    const lt_item_meta_t *m = lt_state_item(st, r.items[i].item);
    pets += m->ntags && !strcmp(lt_state_name(st, LT_NS_TAG, m->tags[0]), "pets");
  }
  assert_true(because > 0);
  /* the page follows the taste of three plays: mostly pets (pets videos come
   * from 5 creators, so the creator cap allows 10 on a page) */
  assert_int_equal(r.n, 10);
  assert_true(pets >= 7);
  /* the folded-in vector reaches the ANN source too */
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_k = 16;
  o.ials_iters = 6;
  o.w_cowatch = 0;   /* rank by the taste vector only */
  o.candidates = 50; /* co-watch fills its quota (20), ANN adds its own */
  o.w_pop = 0.01f;
  lt_feed_t *g;
  assert_int_equal(lt_feed_new(st, &o, NULL, &g), 0);
  assert_int_equal(lt_feed_train(g, 0, NULL), 0);
  play(st, "newbie2", "v2", NOW - 5000);
  play(st, "newbie2", "v6", NOW - 4000);
  get(g, "newbie2", 10, NOW, &r);
  check_feed(st, "newbie2", &r, 2);
  int travel = 0;
  for (uint32_t i = 0; i < r.n; i++) {
    const lt_item_meta_t *m = lt_state_item(st, r.items[i].item);
    travel += !strcmp(lt_state_name(st, LT_NS_TAG, m->tags[0]), "travel");
  }
  assert_true(has_source(&r, LT_SRC_ANN));
  assert_true(travel >= 7);
  lt_feed_free(g);
  lt_feed_free(f);
  lt_state_free(st);
}

static void a_followed_creators_new_item_is_served_as_following(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  follow(st, "u3", "cnew");
  put_video(st, "fresh-post", "cnew", "sport", NOW - 10 * 60000, LT_KIND_VIDEO, 0, 0);
  lt_feed_result_t r;
  get(f, "u3", 20, NOW, &r);
  check_feed(st, "u3", &r, 2);
  int at = find_item(st, &r, "fresh-post");
  assert_true(at >= 0);
  assert_int_equal(r.items[at].source, LT_SRC_FOLLOWING);
  assert_string_equal(r.items[at].reason, "new from @cnew you follow");
  /* someone who does not follow cnew sees it (if at all) as fresh */
  get(f, "u7", 20, NOW, &r);
  at = find_item(st, &r, "fresh-post");
  if (at >= 0) assert_int_equal(r.items[at].source, LT_SRC_FRESH);
  lt_feed_free(f);
  lt_state_free(st);
}

static void a_live_room_is_served_only_inside_its_window(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  follow(st, "u5", "streamer");
  put_video(st, "old-post", "streamer", "food", NOW - 2 * DAY, LT_KIND_VIDEO, 0, 0);
  put_video(st, "live1", "streamer", "food", NOW - DAY, LT_KIND_LIVE, NOW - 10 * 60000,
            NOW + 20 * 60000);
  lt_feed_result_t r;
  get(f, "u5", 20, NOW, &r);
  check_feed(st, "u5", &r, 2);
  int at = find_item(st, &r, "live1");
  assert_true(at >= 0);
  assert_int_equal(r.items[at].source, LT_SRC_FOLLOWING);
  assert_string_equal(r.items[at].reason, "live now: @streamer you follow");
  /* live rooms come first among the creator's items */
  int old = find_item(st, &r, "old-post");
  assert_true(old < 0 || at < old);
  get(f, "u5", 20, NOW + 3600 * 1000, &r); /* after the end */
  assert_int_equal(find_item(st, &r, "live1"), -1);
  get(f, "u5", 20, NOW - 20 * 60000, &r); /* before the start */
  assert_int_equal(find_item(st, &r, "live1"), -1);
  get(f, "someone", 100, NOW + 3600 * 1000, &r); /* no source shows it outside */
  assert_int_equal(find_item(st, &r, "live1"), -1);
  lt_feed_free(f);
  lt_state_free(st);
}

typedef struct reader {
  lt_feed_t *f;
  int stop, errors;
  uint64_t requests, max_version;
} reader_t;

static void *reader_main(void *p) {
  reader_t *rd = p;
  lt_feed_result_t r;
  char u[16];
  lt_feed_entry_t sim[10];
  uint32_t ns;
  for (uint64_t k = 0; !__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE); k++) {
    snprintf(u, sizeof u, "u%d", (int)(k % (NUSERS + 10)));
    if (lt_feed_get(rd->f, u, strlen(u), 20, NOW, &r)) rd->errors++;
    if (r.model_version > rd->max_version) rd->max_version = r.model_version;
    if (lt_feed_similar(rd->f, (uint32_t)(k % NITEMS), 10, sim, &ns)) rd->errors++;
    __atomic_add_fetch(&rd->requests, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void publishing_while_readers_read_is_safe(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  reader_t rd[2] = {{f, 0, 0, 0, 0}, {f, 0, 0, 0, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
  for (int v = 1; v <= 3; v++) {
    assert_int_equal(lt_feed_train(f, 0, NULL), 0);
    assert_int_equal(lt_feed_model_version(f), (uint64_t)v);
  }
  lt_models_t *m = lt_feed_acquire(f);
  assert_int_equal(m->version, 3);
  lt_models_release(m);
  for (int i = 0; i < 2; i++) {
    while (__atomic_load_n(&rd[i].requests, __ATOMIC_RELAXED) < 5)
      sched_yield();
    __atomic_store_n(&rd[i].stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[i], NULL);
    assert_int_equal(rd[i].errors, 0);
    assert_true(rd[i].max_version <= 3);
  }
  lt_feed_free(f);
  lt_state_free(st);
}

typedef struct writer {
  lt_state_t *st;
  lt_feed_t *f;
  int stop;
  uint64_t applied;
} writer_t;

/* The store's writer path: apply, then observe (impressions of served
 * feeds, plays, new items). */
static void *writer_main(void *p) {
  writer_t *w = p;
  lt_feed_result_t r;
  char u[16], item[32];
  for (uint64_t k = 0; !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) || k < 50; k++) {
    snprintf(u, sizeof u, "w%d", (int)(k % 37));
    if (lt_feed_get(w->f, u, strlen(u), 5, NOW, &r) || r.n == 0) continue;
    lt_record_t recs[3];
    snprintf(item, sizeof item, "%s", lt_state_name(w->st, LT_NS_ITEM, r.items[0].item));
    recs[0] = event(u, item, LT_EV_IMPRESSION, NOW + (int64_t)k * 1000, 0);
    recs[0].u.ev.request_id = lt_str_of(r.request_id);
    recs[1] = event(u, item, LT_EV_PLAY, NOW + (int64_t)k * 1000 + 10, 25000);
    recs[1].u.ev.request_id = lt_str_of(r.request_id);
    char nid[32];
    snprintf(nid, sizeof nid, "new%llu", (unsigned long long)k);
    memset(&recs[2], 0, sizeof recs[2]);
    recs[2].kind = LT_REC_ITEM_PUT;
    recs[2].u.item.id = lt_str_of(nid);
    recs[2].u.item.creator = LT_STR("cw");
    recs[2].u.item.published_at_ms = NOW - 1000;
    for (int i = 0; i < 3; i++)
      apply(w->st, &recs[i]);
    lt_feed_observe(w->f, recs, 3);
    __atomic_add_fetch(&w->applied, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void writer_trainer_and_readers_run_together(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  reader_t rd = {f, 0, 0, 0, 0};
  writer_t w = {st, f, 0, 0};
  pthread_t tr, tw;
  assert_int_equal(pthread_create(&tr, NULL, reader_main, &rd), 0);
  assert_int_equal(pthread_create(&tw, NULL, writer_main, &w), 0);
  for (int v = 1; v <= 2; v++)
    assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
  pthread_join(tw, NULL);
  pthread_join(tr, NULL);
  assert_int_equal(rd.errors, 0);
  assert_true(w.applied >= 50);
  /* the items put meanwhile reach feeds through the fresh ring */
  lt_feed_result_t r;
  get(f, "late-user", 20, NOW, &r);
  check_feed(st, "late-user", &r, 2);
  int fresh_new = 0;
  for (uint32_t i = 0; i < r.n; i++)
    fresh_new += !strncmp(lt_state_name(st, LT_NS_ITEM, r.items[i].item), "new", 3);
  assert_true(fresh_new >= 1);
  lt_feed_free(f);
  lt_state_free(st);
}

static void same_feed(const lt_feed_result_t *a, const lt_feed_result_t *b) {
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->model_version, b->model_version);
  for (uint32_t i = 0; i < a->n; i++) {
    assert_int_equal(a->items[i].item, b->items[i].item);
    assert_int_equal(a->items[i].source, b->items[i].source);
    assert_string_equal(a->items[i].reason, b->items[i].reason);
    assert_true(a->items[i].score == b->items[i].score);
  }
  assert_true(strcmp(a->request_id, b->request_id) != 0);
}

static void models_survive_a_restart(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  play(st, "u4", "v3", NOW - 1000); /* u4 changed since training: folds in */
  char *dir = lt_test_tmpdir("feed-models");
  lt_feed_t *f = make_feed(st, dir);
  assert_int_equal(lt_feed_model_version(f), 0);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  play(st, "u4", "v7", NOW - 500);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  assert_int_equal(lt_feed_model_version(f), 2);
  int64_t trained = lt_feed_model_trained_at(f);
  assert_true(trained > 0);
  const char *users[] = {"u0", "u4", "u9", "stranger"};
  lt_feed_result_t before[4], after;
  for (int i = 0; i < 4; i++)
    get(f, users[i], 25, NOW, &before[i]);
  lt_feed_free(f);

  f = make_feed(st, dir);
  assert_int_equal(lt_feed_model_version(f), 2);
  assert_int_equal(lt_feed_model_trained_at(f), trained);
  for (int i = 0; i < 4; i++) {
    get(f, users[i], 25, NOW, &after);
    same_feed(&before[i], &after);
  }
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  assert_int_equal(lt_feed_model_version(f), 3);
  lt_feed_free(f);
  lt_test_rmdir(dir);
  free(dir);
  lt_state_free(st);
}

static void flip_byte(const char *path, long at) {
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  if (at < 0) at = n / 2;
  fseek(fp, at, SEEK_SET);
  int c = fgetc(fp);
  fseek(fp, at, SEEK_SET);
  fputc(c ^ 0x21, fp);
  fclose(fp);
}

static int metrics_has(lt_feed_t *f, const char *line) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  lt_feed_metrics(f, m);
  fclose(m);
  int found = strstr(buf, line) != NULL;
  free(buf);
  return found;
}

static void a_corrupt_model_is_rejected(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  char *dir = lt_test_tmpdir("feed-corrupt");
  lt_feed_t *f = make_feed(st, dir);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  lt_feed_free(f);
  char p[600];
  /* v2's factors damaged: v1 is served */
  snprintf(p, sizeof p, "%s/models-%016x/ials.bin", dir, 2);
  flip_byte(p, -1);
  f = make_feed(st, dir);
  assert_int_equal(lt_feed_model_version(f), 1);
  assert_true(metrics_has(f, "laotie_models_rejected_total 1\n"));
  lt_feed_result_t r;
  get(f, "u0", 10, NOW, &r);
  assert_int_equal(r.model_version, 1);
  lt_feed_free(f);
  /* v1's manifest and v2's index damaged too: nothing loads, cold start */
  snprintf(p, sizeof p, "%s/models-%016x/MANIFEST", dir, 1);
  flip_byte(p, 20);
  lt_models_t *m = NULL;
  snprintf(p, sizeof p, "%s/models-%016x", dir, 1);
  assert_int_equal(lt_models_load(p, st, NULL, NOW, &m), LT_ECORRUPT);
  assert_null(m);
  f = make_feed(st, dir);
  assert_int_equal(lt_feed_model_version(f), 0);
  assert_true(metrics_has(f, "laotie_models_rejected_total 2\n"));
  get(f, "u0", 10, NOW, &r);
  assert_true(r.n > 0);
  /* training again replaces the damaged version 1 */
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  assert_int_equal(lt_feed_model_version(f), 1);
  lt_feed_free(f);
  f = make_feed(st, dir);
  assert_int_equal(lt_feed_model_version(f), 1);
  lt_feed_free(f);
  lt_test_rmdir(dir);
  free(dir);
  lt_state_free(st);
}

/* The user's training row (what the list left out): distinct positive items. */
typedef struct row_ctx {
  lt_state_t *st;
  uint32_t user;
} row_ctx_t;

static int not_trained_on(uint32_t item, void *ctx) {
  row_ctx_t *c = ctx;
  lt_hist_t h[256];
  lt_models_pair_t pairs[256];
  size_t n = lt_state_user_history(c->st, c->user, h, 256);
  size_t k = lt_models_user_row(c->st, h, n, pairs);
  for (size_t j = 0; j < k; j++)
    if (pairs[j].item == item) return 0;
  return 1;
}

static void trained_users_read_the_ann_list_kept_at_training(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  char *dir = lt_test_tmpdir("feed-userann");
  lt_feed_t *f = make_feed(st, dir);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  lt_models_t *m = lt_feed_acquire(f);
  assert_int_equal(m->user_ann_n, 500 / 10 + 500 / 40);
  assert_non_null(m->user_ann);
  /* each list is the search the request would do: the same index, the same
   * vector, the training row left out */
  uint32_t ids[64], got = 0;
  for (uint32_t u = 0; u < m->nusers; u += 7) {
    row_ctx_t c = {st, u};
    assert_int_equal(lt_ann_search(m->ann, m->ials->U + (size_t)u * m->ials->k, m->user_ann_n,
                                   m->user_ann_n < 64 ? 64 : m->user_ann_n, not_trained_on, &c,
                                   ids, NULL, &got),
                     0);
    const uint32_t *l = m->user_ann + (size_t)u * m->user_ann_n;
    for (uint32_t j = 0; j < m->user_ann_n; j++) {
      assert_int_equal(l[j], j < got ? ids[j] : LT_NONE);
      if (l[j] != LT_NONE) assert_true(not_trained_on(l[j], &c));
    }
  }
  lt_models_release(m);

  /* a trained user's request reads its list; after a new play it searches */
  lt_feed_result_t r, off;
  get(f, "u0", 10, NOW, &r);
  assert_true(metrics_has(f, "laotie_feed_ann_retrievals_total{how=\"list\"} 1\n"));
  assert_true(metrics_has(f, "laotie_feed_ann_retrievals_total{how=\"search\"} 0\n"));
  play(st, "u5", "v3", NOW - 1000);
  get(f, "u5", 10, NOW, &off);
  assert_true(metrics_has(f, "laotie_feed_ann_retrievals_total{how=\"search\"} 1\n"));
  lt_feed_free(f);

  /* the same model with the lists switched off: not loaded, the same feeds */
  lt_feed_opts_t o;
  lt_feed_opts_default(&o);
  o.ials_iters = 6;
  o.ials_k = 16;
  char err[128];
  assert_int_equal(lt_feed_opts_set(&o, "user_ann_lists", "off", err, sizeof err), 0);
  lt_feed_t *g;
  assert_int_equal(lt_feed_new(st, &o, dir, &g), 0);
  m = lt_feed_acquire(g);
  assert_int_equal(m->user_ann_n, 0);
  assert_null(m->user_ann);
  lt_models_release(m);
  f = make_feed(st, dir);
  for (int u = 0; u < NUSERS; u += 11) {
    char name[16];
    snprintf(name, sizeof name, "u%d", u);
    get(f, name, 20, NOW, &r);
    get(g, name, 20, NOW, &off);
    same_feed(&r, &off);
  }
  assert_true(metrics_has(g, "laotie_feed_ann_retrievals_total{how=\"list\"} 0\n"));
  lt_feed_free(g);
  lt_feed_free(f);

  /* a damaged list file rejects the version like any other part */
  char p[600];
  snprintf(p, sizeof p, "%s/models-%016x/retrieve.bin", dir, 1);
  flip_byte(p, -1);
  snprintf(p, sizeof p, "%s/models-%016x", dir, 1);
  m = NULL;
  lt_models_opts_t mo;
  lt_models_opts_default(&mo);
  assert_int_equal(lt_models_load(p, st, &mo, NOW, &m), LT_OK); /* lists off: not read */
  lt_models_release(m);
  m = NULL;
  mo.user_ann_n = 62;
  assert_int_equal(lt_models_load(p, st, &mo, NOW, &m), LT_ECORRUPT);
  assert_null(m);
  lt_test_rmdir(dir);
  free(dir);
  lt_state_free(st);
}

static void similar_items_skip_the_item_and_deleted_ones(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  lt_feed_entry_t out[30];
  uint32_t n = 0, v0 = id_of(st, LT_NS_ITEM, "v0");
  assert_int_equal(lt_feed_similar(f, v0, 30, out, &n), 0);
  assert_true(n >= 10);
  assert_int_equal(out[0].source, LT_SRC_ITEMCF);
  assert_true(!strncmp(out[0].reason, "often watched with v0", 21));
  int same_cluster = 0;
  for (uint32_t i = 0; i < n; i++) {
    assert_true(out[i].item != v0);
    for (uint32_t j = 0; j < i; j++)
      assert_true(out[j].item != out[i].item);
    same_cluster += out[i].item % 4 == 0; /* items were put in order: id i = "v<i>" */
  }
  assert_true(same_cluster * 2 > (int)n);
  const char *gone = lt_state_name(st, LT_NS_ITEM, out[0].item);
  char g[32];
  snprintf(g, sizeof g, "%s", gone);
  del_item(st, g);
  assert_int_equal(lt_feed_similar(f, v0, 30, out, &n), 0);
  for (uint32_t i = 0; i < n; i++)
    assert_true(out[i].item != id_of(st, LT_NS_ITEM, g));
  assert_int_equal(lt_feed_similar(f, 1000000, 10, out, &n), LT_ENOTFOUND);
  lt_feed_free(f);
  lt_state_free(st);
}

static void observed_impressions_train_the_ranker_and_metrics_count(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  lt_feed_t *f = make_feed(st, NULL);
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  lt_feed_result_t r;
  get(f, "u2", 10, NOW, &r);
  lt_record_t recs[20];
  char rid[40];
  snprintf(rid, sizeof rid, "%s", r.request_id);
  for (uint32_t i = 0; i < r.n && i < 10; i++) {
    const char *item = lt_state_name(st, LT_NS_ITEM, r.items[i].item);
    recs[2 * i] = event("u2", item, LT_EV_IMPRESSION, NOW + i, 0);
    recs[2 * i].u.ev.request_id = lt_str_of(rid);
    recs[2 * i].u.ev.position = (int32_t)i;
    recs[2 * i + 1] =
        event("u2", item, i % 2 ? LT_EV_PLAY : LT_EV_NOT_INTERESTED, NOW + 100 + i, 28000);
    apply(st, &recs[2 * i]);
    apply(st, &recs[2 * i + 1]);
  }
  lt_feed_observe(f, recs, 2 * r.n);
  /* a late event closes them (the join window is 30 minutes) */
  lt_record_t late = event("u9", "v0", LT_EV_IMPRESSION, NOW + DAY, 0);
  apply(st, &late);
  lt_feed_observe(f, &late, 1);
  char line[64];
  snprintf(line, sizeof line, "laotie_ranker_impressions_total %u\n", r.n);
  assert_true(metrics_has(f, line));
  assert_true(metrics_has(f, "laotie_model_version 1\n"));
  assert_true(metrics_has(f, "laotie_train_runs_total 1\n"));
  assert_true(metrics_has(f, "laotie_feed_requests_total 1\n"));
  assert_true(metrics_has(f, "laotie_feed_items_total{source=\"itemcf\"}"));
  assert_true(metrics_has(f, "laotie_feed_request_seconds_count 1\n"));
  assert_true(metrics_has(f, "laotie_train_seconds_last "));
  assert_true(metrics_has(f, "laotie_train_seconds_bucket{le=\"+Inf\"} 1\n"));
  assert_true(metrics_has(f, "laotie_train_seconds_count 1\n"));
  /* what the user just saw and rejected is not shown again */
  get(f, "u2", 30, NOW + DAY, &r);
  check_feed(st, "u2", &r, 2);
  lt_feed_free(f);
  lt_state_free(st);
}

static char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  char *b = NULL;
  size_t cap = 0;
  *n = 0;
  for (;;) {
    if (*n == cap && !(b = realloc(b, cap = cap * 2 + 4096))) break;
    size_t got = fread(b + *n, 1, cap - *n, fp);
    if (!got) break;
    *n += got;
  }
  fclose(fp);
  return b;
}

/* lt_feed_prepare computes an impression's or a play's ranker features
 * before the observer's turn; observing the batch then must teach the
 * ranker exactly what observing it alone does (same state here: one
 * writer), and say how many it took ready-made. */
static void prepared_features_teach_the_ranker_what_observing_alone_does(void **state) {
  (void)state;
  lt_state_t *st = make_state();
  char *dir = lt_test_tmpdir("feed-prepared");
  char d1[600], d2[600];
  snprintf(d1, sizeof d1, "%s/a", dir);
  snprintf(d2, sizeof d2, "%s/b", dir);
  lt_feed_t *f1 = make_feed(st, d1), *f2 = make_feed(st, d2);
  enum { N = 300 };
  lt_record_t recs[N + 1];
  char user[N][16], item[N][16];
  uint32_t opens = 0;
  static const int types[5] = {LT_EV_IMPRESSION, LT_EV_PLAY, LT_EV_LIKE, LT_EV_IMPRESSION,
                               LT_EV_PLAY};
  for (int i = 0; i < N; i++) {
    snprintf(user[i], sizeof user[i], "u%d", (i * 7) % 50);
    snprintf(item[i], sizeof item[i], "v%d", (i * 13) % NITEMS);
    int t = types[i % 5];
    recs[i] = event(user[i], item[i], t, NOW + i * 1000, t == LT_EV_PLAY ? 1000u * (i % 30) : 0);
    recs[i].u.ev.position = i % 12;
    apply(st, &recs[i]);
    opens += t != LT_EV_LIKE;
  }
  lt_feed_prepare(f1, recs, N);
  lt_feed_observe(f1, recs, N);
  lt_feed_observe(f2, recs, N);
  recs[N] = event("u9", "v0", LT_EV_IMPRESSION, NOW + 2 * DAY, 0); /* closes them all */
  apply(st, &recs[N]);
  lt_feed_observe(f1, &recs[N], 1);
  lt_feed_observe(f2, &recs[N], 1);
  char line[64];
  snprintf(line, sizeof line, "laotie_feed_prepared_events_total %u\n", opens);
  assert_true(metrics_has(f1, line));
  assert_true(metrics_has(f2, "laotie_feed_prepared_events_total 0\n"));
  assert_false(metrics_has(f1, "laotie_ranker_examples_total 0\n"));
  assert_int_equal(lt_feed_save_ranker(f1), 0);
  assert_int_equal(lt_feed_save_ranker(f2), 0);
  char p1[700], p2[700];
  snprintf(p1, sizeof p1, "%s/ranker.bin", d1);
  snprintf(p2, sizeof p2, "%s/ranker.bin", d2);
  size_t n1 = 0, n2 = 0;
  char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
  assert_non_null(b1);
  assert_non_null(b2);
  assert_int_equal(n1, n2);
  assert_memory_equal(b1, b2, n1);
  free(b1);
  free(b2);
  lt_feed_free(f1);
  lt_feed_free(f2);
  lt_state_free(st);
  lt_test_rmdir(dir);
  free(dir);
}

/* The simulator's platform lives in simulated time (2024-03-01 here, like
 * src/eval/simulate.c's T0): the snapshot's fresh list must be taken at the
 * clock the caller serves at, not at the wall clock, or nothing published
 * in simulated time is ever "new". */
static void the_fresh_list_is_taken_at_the_serving_clock(void **state) {
  (void)state;
  const int64_t SIM = 1709251200000LL + 12 * HOUR;
  lt_state_t *st;
  assert_int_equal(lt_state_new(NULL, &st), 0);
  char id[32], cr[32], u[32];
  for (int i = 0; i < 40; i++) { /* the back catalogue, three weeks old */
    snprintf(id, sizeof id, "old%d", i);
    snprintf(cr, sizeof cr, "c%d", i % 8);
    put_video(st, id, cr, TAGS[i % 4], SIM - 21 * DAY + i * HOUR, LT_KIND_VIDEO, 0, 0);
  }
  for (int i = 0; i < 5; i++) { /* published in the last hours of simulated time */
    snprintf(id, sizeof id, "new%d", i);
    snprintf(cr, sizeof cr, "n%d", i);
    put_video(st, id, cr, TAGS[i % 4], SIM - (i + 1) * HOUR, LT_KIND_VIDEO, 0, 0);
  }
  for (int k = 0; k < 30; k++)
    for (int j = 0; j < 8; j++) {
      snprintf(u, sizeof u, "u%d", k);
      snprintf(id, sizeof id, "old%d", (k * 7 + j * 3) % 40);
      play(st, u, id, SIM - 2 * DAY + k * 60000 + j * 1000);
    }
  lt_feed_t *f = make_feed(st, NULL);
  lt_feed_result_t r;
  /* taken at the wall clock (2024 is years ago): nothing is fresh */
  assert_int_equal(lt_feed_train(f, 0, NULL), 0);
  lt_models_t *m = lt_feed_acquire(f);
  assert_int_equal(m->nfresh, 0);
  lt_models_release(m);
  get(f, "newcomer", 10, SIM, &r);
  assert_false(has_source(&r, LT_SRC_FRESH));
  /* taken at the simulated time: the five new items, newest first */
  assert_int_equal(lt_feed_train(f, SIM, NULL), 0);
  m = lt_feed_acquire(f);
  assert_int_equal(m->nfresh, 5);
  for (uint32_t i = 0; i < m->nfresh; i++) {
    snprintf(id, sizeof id, "new%u", i);
    assert_int_equal(m->fresh[i], id_of(st, LT_NS_ITEM, id));
  }
  lt_models_release(m);
  /* and a newcomer's page at simulated now gives them its exploration slot */
  get(f, "newcomer", 10, SIM, &r);
  check_feed(st, "newcomer", &r, 2);
  assert_int_equal(r.items[4].source, LT_SRC_FRESH);
  assert_true(r.items[4].explore > 0);
  assert_true(!strncmp(lt_state_name(st, LT_NS_ITEM, r.items[4].item), "new", 3));
  lt_feed_free(f);
  lt_state_free(st);
}

int main(void) {
  NOW = lt_now_ms() / 1000 * 1000;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(feed_never_shows_seen_or_deleted_items),
      cmocka_unit_test(creators_alternate_and_are_capped),
      cmocka_unit_test(a_new_user_gets_a_cold_start_feed),
      cmocka_unit_test(first_plays_bring_cowatch_and_taste_candidates),
      cmocka_unit_test(a_followed_creators_new_item_is_served_as_following),
      cmocka_unit_test(a_live_room_is_served_only_inside_its_window),
      cmocka_unit_test(publishing_while_readers_read_is_safe),
      cmocka_unit_test(writer_trainer_and_readers_run_together),
      cmocka_unit_test(models_survive_a_restart),
      cmocka_unit_test(a_corrupt_model_is_rejected),
      cmocka_unit_test(trained_users_read_the_ann_list_kept_at_training),
      cmocka_unit_test(similar_items_skip_the_item_and_deleted_ones),
      cmocka_unit_test(observed_impressions_train_the_ranker_and_metrics_count),
      cmocka_unit_test(the_fresh_list_is_taken_at_the_serving_clock),
      cmocka_unit_test(prepared_features_teach_the_ranker_what_observing_alone_does),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
