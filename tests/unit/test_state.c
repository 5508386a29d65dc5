/*
 * test_state.c — applying records: counters, histories, days, follows,
 * idempotency and its window (inside rejected, outside accepted, skewed
 * client clocks, bounded memory, the same answers after a restart),
 * lock-free readers racing the writer (clean under scripts/tsan.sh), the
 * record codec, and snapshots (save/load equality, hostile snapshot files
 * rejected).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "state/record.h"
#include "state/state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764261000000LL /* 2025-11-28 00:30 Shanghai = 2025-11-27 16:30 UTC */

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

static lt_record_t item_put(const char *id, const char *creator, uint32_t dur) {
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(id);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.duration_ms = dur;
  r.u.item.ntags = 1;
  r.u.item.tags[0] = LT_STR("food");
  return r;
}

static lt_state_t *new_state(void) {
  lt_state_t *st;
  lt_state_opts_t o;
  lt_state_opts_default(&o);
  o.history_cap = 4;
  assert_int_equal(lt_state_new(&o, &st), 0);
  return st;
}

static uint32_t id_of(lt_state_t *st, lt_ns_t ns, const char *s) {
  uint32_t id = LT_NONE;
  assert_int_equal(lt_state_find(st, ns, s, strlen(s), &id), 0);
  return id;
}

static void play_counts_watch_time_and_completion(void **s) {
  lt_state_t *st = new_state();
  lt_record_t r = item_put("v1", "c1", 10000);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  r = ev("u1", "v1", LT_EV_PLAY, T0, 9500);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  r = ev("u1", "v1", LT_EV_PLAY, T0 + 1000, 3000);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  r = ev("u2", "v1", LT_EV_IMPRESSION, T0, 0);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  uint32_t v1 = id_of(st, LT_NS_ITEM, "v1");
  const lt_item_counters_t *c = lt_state_item_counters(st, v1);
  assert_int_equal(c->plays, 2);
  assert_int_equal(c->impressions, 1);
  assert_int_equal(c->watch_ms, 12500);
  assert_int_equal(c->completions, 1);
  lt_creator_info_t ci;
  assert_int_equal(lt_state_creator_info(st, id_of(st, LT_NS_CREATOR, "c1"), &ci), 0);
  assert_int_equal(ci.impressions, 1);
  assert_int_equal(ci.watch_ms, 12500);
  assert_true(lt_state_item_pop(st, v1, T0 + 1000) > 1.0);
  lt_state_free(st);
}

static void history_keeps_the_newest_entries_oldest_first(void **s) {
  lt_state_t *st = new_state(); /* cap 4 */
  char item[16];
  for (int i = 0; i < 10; i++) {
    snprintf(item, sizeof item, "v%d", i);
    lt_record_t r = ev("u1", item, LT_EV_PLAY, T0 + i * 1000, 100);
    assert_int_equal(lt_state_apply(st, &r, 0), 0);
  }
  lt_record_t r = ev("u1", "v0", LT_EV_IMPRESSION, T0 + 20000, 0); /* not history */
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  lt_hist_t h[8];
  uint32_t u1 = id_of(st, LT_NS_USER, "u1");
  size_t n = lt_state_user_history(st, u1, h, 8);
  assert_int_equal(n, 4);
  for (int i = 0; i < 4; i++) {
    char want[16];
    snprintf(want, sizeof want, "v%d", 6 + i);
    assert_string_equal(lt_state_name(st, LT_NS_ITEM, h[i].item), want);
  }
  n = lt_state_user_history(st, u1, h, 2);
  assert_int_equal(n, 2);
  assert_string_equal(lt_state_name(st, LT_NS_ITEM, h[0].item), "v8");
  lt_user_info_t ui;
  assert_int_equal(lt_state_user_info(st, u1, &ui), 0);
  assert_int_equal(ui.events, 11);
  assert_int_equal(ui.plays, 10);
  lt_state_free(st);
}

static void event_with_an_applied_id_is_not_applied_twice(void **s) {
  lt_state_t *st = new_state();
  lt_record_t r = ev("u1", "v1", LT_EV_PLAY, T0, 1000);
  r.u.ev.id = LT_STR("e1");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_int_equal(lt_state_apply(st, &r, 0), LT_EDUPLICATE);
  assert_true(lt_state_event_seen(st, LT_STR("e1")));
  assert_false(lt_state_event_seen(st, LT_STR("e2")));
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  assert_int_equal(t.events, 1);
  assert_int_equal(t.duplicates_rejected, 1);
  lt_state_free(st);
}

/* Applying an event stores its dense ids in it (the store's observer uses
 * them instead of interning the strings again); a duplicate or a record
 * parsed but not applied carries none, and lt_state_event_ids looks those
 * up. */
static void an_applied_event_carries_its_dense_ids(void **s) {
  lt_state_t *st = new_state();
  lt_record_t a = ev("u1", "v1", LT_EV_PLAY, T0, 1000), b = ev("u2", "v2", LT_EV_LIKE, T0, 0);
  assert_int_equal(lt_state_apply(st, &a, 0), 0);
  assert_int_equal(lt_state_apply(st, &b, 0), 0);
  assert_true(b.u.ev.ids_set);
  assert_int_equal(b.u.ev.user_id, id_of(st, LT_NS_USER, "u2"));
  assert_int_equal(b.u.ev.item_id, id_of(st, LT_NS_ITEM, "v2"));
  assert_int_not_equal(b.u.ev.user_id, a.u.ev.user_id);
  uint32_t u = LT_NONE, i = LT_NONE;
  assert_int_equal(lt_state_event_ids(st, &a.u.ev, &u, &i), 0);
  assert_int_equal(u, id_of(st, LT_NS_USER, "u1"));
  assert_int_equal(i, id_of(st, LT_NS_ITEM, "v1"));

  lt_record_t d = ev("u2", "v1", LT_EV_PLAY, T0, 1000);
  d.u.ev.id = LT_STR("e1");
  assert_int_equal(lt_state_apply(st, &d, 0), 0);
  d.u.ev.user_id = 77; /* stale: a duplicate must not pass these on */
  assert_int_equal(lt_state_apply(st, &d, 0), LT_EDUPLICATE);
  assert_false(d.u.ev.ids_set);
  assert_int_equal(lt_state_event_ids(st, &d.u.ev, &u, NULL), 0);
  assert_int_equal(u, id_of(st, LT_NS_USER, "u2"));

  lt_record_t x = ev("u1", "nobody-saw-me", LT_EV_PLAY, T0, 1000); /* never applied */
  assert_int_equal(lt_state_event_ids(st, &x.u.ev, &u, NULL), 0);
  assert_int_equal(u, id_of(st, LT_NS_USER, "u1"));
  assert_int_equal(lt_state_event_ids(st, &x.u.ev, &u, &i), LT_ENOTFOUND);
  lt_state_free(st);
}

/* ---- the idempotency window ----------------------------------------- */

#define HOUR 3600000LL

static lt_state_t *state_with_window(int64_t window_ms) {
  lt_state_t *st;
  lt_state_opts_t o;
  lt_state_opts_default(&o);
  o.history_cap = 4;
  o.idem_window_ms = window_ms;
  assert_int_equal(lt_state_new(&o, &st), 0);
  return st;
}

/* Applies a play at ts with id (NULL = none); returns lt_state_apply's code. */
static int play(lt_state_t *st, const char *id, int64_t ts) {
  lt_record_t r = ev("u1", "v1", LT_EV_PLAY, ts, 1000);
  if (id) r.u.ev.id = lt_str_of(id);
  return lt_state_apply(st, &r, 0);
}

static int64_t clock_of(const lt_state_t *st) {
  lt_idem_info_t in;
  lt_state_idem_info(st, &in);
  return in.clock_ms;
}

static void duplicates_inside_the_window_are_rejected_outside_accepted(void **s) {
  lt_state_t *st = state_with_window(HOUR);
  assert_int_equal(play(st, "x", T0), 0);
  int64_t ts = T0;
  /* traffic without ids, one event per 10 s: the clock follows it */
  while (clock_of(st) < T0 + 50 * 60000) assert_int_equal(play(st, NULL, ts += 10000), 0);
  assert_true(clock_of(st) - T0 <= HOUR);
  assert_int_equal(play(st, "x", ts), LT_EDUPLICATE); /* 50 min old: inside */
  while (clock_of(st) - T0 <= HOUR) assert_int_equal(play(st, NULL, ts += 10000), 0);
  assert_false(lt_state_event_seen(st, LT_STR("x")));
  assert_int_equal(play(st, "x", ts), 0); /* over an hour old: accepted again */
  assert_int_equal(play(st, "x", ts), LT_EDUPLICATE); /* and a new window starts */
  /* the clock trails the traffic by at most two blocks of events */
  assert_true(clock_of(st) <= ts && clock_of(st) >= ts - 2 * 64 * 10000);
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  assert_int_equal(t.duplicates_rejected, 2);
  lt_state_free(st);
}

static void a_retry_is_judged_by_arrival_and_skewed_clocks_do_not_move_the_window(void **s) {
  lt_state_t *st = state_with_window(HOUR);
  int64_t ts = T0;
  for (int i = 0; i < 200; i++) assert_int_equal(play(st, NULL, ts += 1000), 0);
  /* a phone whose clock says 1990, one that says 2100 */
  assert_int_equal(play(st, "old-phone", 631152000000LL), 0);
  assert_int_equal(play(st, "new-phone", 4102444800000LL), 0);
  assert_int_equal(play(st, "y", ts), 0);
  for (int i = 0; i < 200; i++) assert_int_equal(play(st, NULL, ts += 1000), 0);
  /* one event dated 2100 did not drag the clock: y is remembered */
  assert_true(clock_of(st) <= ts);
  assert_int_equal(play(st, "y", ts), LT_EDUPLICATE);
  /* the 1990 event arrived seconds ago: its retry is a duplicate */
  assert_int_equal(play(st, "old-phone", 631152000000LL), LT_EDUPLICATE);
  assert_int_equal(play(st, "new-phone", 4102444800000LL), LT_EDUPLICATE);
  lt_state_free(st);
}

static void the_index_stays_bounded_under_a_stream_of_unique_ids(void **s) {
  /* one new id per second of event time, a 1-hour window: 3,600 ids in
   * the window at any time; 200,000 ids in all */
  lt_state_t *st = state_with_window(HOUR), *forever = state_with_window(-1);
  char id[32];
  lt_idem_info_t half, end, all;
  for (int i = 0; i < 200000; i++) {
    snprintf(id, sizeof id, "id-%d", i);
    assert_int_equal(play(st, id, T0 + i * 1000LL), 0);
    assert_int_equal(play(forever, id, T0 + i * 1000LL), 0);
    if (i == 99999) lt_state_idem_info(st, &half);
  }
  lt_state_idem_info(st, &end);
  lt_state_idem_info(forever, &all);
  fprintf(stderr,
          "idempotency index after 100,000 / 200,000 ids: %llu / %llu ids held, %llu / %llu "
          "slots; for ever: %llu ids, %llu slots\n",
          (unsigned long long)half.ids, (unsigned long long)end.ids,
          (unsigned long long)half.slots, (unsigned long long)end.slots,
          (unsigned long long)all.ids, (unsigned long long)all.slots);
  /* the window's ids plus those of two sweep passes, never the stream */
  assert_true(end.ids >= 3600 && end.ids <= 3 * 3600);
  assert_true(end.slots <= 8 * 3 * 3600);
  assert_int_equal(half.slots, end.slots); /* a plateau, not a slope */
  assert_int_equal(all.ids, 200000);
  /* the oldest ids are forgotten, the newest are not */
  assert_false(lt_state_event_seen(st, LT_STR("id-0")));
  assert_true(lt_state_event_seen(st, LT_STR("id-199000")));
  assert_true(lt_state_event_seen(forever, LT_STR("id-0")));
  /* ids stop, traffic goes on for two hours: the table empties and shrinks */
  for (int i = 0; i < 7200; i++) assert_int_equal(play(st, NULL, T0 + (200000 + i) * 1000LL), 0);
  lt_state_idem_info(st, &end);
  assert_int_equal(end.ids, 0);
  assert_int_equal(end.slots, 16);
  lt_state_free(st);
  lt_state_free(forever);
}

static char *save_to_memory(const lt_state_t *st, size_t *n);

static void a_restarted_state_gives_the_same_answers(void **s) {
  /* A runs through; B is A's snapshot at step 1500, then the same records;
   * C replays them all from nothing. Every answer of the second half is
   * the same in all three, and so are the final snapshots. */
  lt_state_t *a = state_with_window(HOUR), *b = NULL, *c = state_with_window(HOUR);
  char id[32];
  const int back[] = {3, 300, 1500, 2500}; /* retries 6 s .. 83 min late */
  int dups = 0, again = 0;
  for (int i = 0; i < 3000; i++) {
    int64_t ts = T0 + i * 2000LL;
    if (i % 5 == 0 && i >= 2500) snprintf(id, sizeof id, "e%d", i - back[(i / 5) % 4]);
    else snprintf(id, sizeof id, "e%d", i);
    lt_record_t r = ev("u1", "v1", LT_EV_PLAY, ts, 1000);
    if (i % 3 || i % 5 == 0) r.u.ev.id = lt_str_of(id);
    int ra = lt_state_apply(a, &r, 0), rc = lt_state_apply(c, &r, 0);
    assert_int_equal(ra, rc);
    if (i == 1500) {
      size_t n;
      char *snap = save_to_memory(a, &n);
      lt_state_opts_t o;
      lt_state_opts_default(&o);
      o.history_cap = 4;
      o.idem_window_ms = HOUR;
      assert_int_equal(lt_state_load(snap, n, &o, &b), 0);
      o.idem_window_ms = 2 * HOUR; /* other window: not trusted, replay */
      lt_state_t *x = NULL;
      assert_int_equal(lt_state_load(snap, n, &o, &x), LT_EVERSION);
      o.idem_window_ms = -1;
      assert_int_equal(lt_state_load(snap, n, &o, &x), LT_EVERSION);
      free(snap);
    } else if (i > 1500) {
      assert_int_equal(lt_state_apply(b, &r, 0), ra);
    }
    if (i >= 2500 && i % 5 == 0) {
      dups += ra == LT_EDUPLICATE;
      again += ra == 0;
    }
  }
  /* the retries fell on both sides of the window */
  fprintf(stderr, "retries: %d duplicates, %d accepted again\n", dups, again);
  assert_true(dups > 0 && again > 0);
  size_t na, nb, nc;
  char *sa = save_to_memory(a, &na), *sb = save_to_memory(b, &nb), *sc = save_to_memory(c, &nc);
  assert_int_equal(na, nb);
  assert_int_equal(na, nc);
  assert_memory_equal(sa, sb, na);
  assert_memory_equal(sa, sc, na);
  free(sa);
  free(sb);
  free(sc);
  lt_state_free(a);
  lt_state_free(b);
  lt_state_free(c);
}

/* ---- lock-free readers against the writer (run under scripts/tsan.sh) */

typedef struct race {
  lt_state_t *st;
  atomic_int stop;
  _Atomic uint64_t reads, bad; /* both readers count here */
} race_t;

static void *reader(void *p) {
  race_t *x = p;
  uint64_t last_imp = 0, last_events = 0;
  while (!atomic_load(&x->stop)) {
    uint32_t v;
    if (lt_state_find(x->st, LT_NS_ITEM, "v1", 2, &v)) continue;
    const lt_item_meta_t *m = lt_state_item(x->st, v);
    const lt_item_counters_t *c = lt_state_item_counters(x->st, v);
    if (!m || !c) continue; /* interned, storage not yet published */
    lt_item_counters_t copy;
    lt_state_totals_t t;
    lt_day_totals_t d;
    lt_creator_info_t ci;
    uint64_t imp = c->impressions; /* an atomic load */
    double pop = lt_state_item_pop(x->st, v, T0 + 86400000LL);
    if (lt_state_item_counters_copy(x->st, v, &copy)) atomic_fetch_add(&x->bad, 1);
    lt_state_totals(x->st, &t);
    lt_state_day_totals(x->st, t.max_day, &d);
    uint32_t cr;
    if (!lt_state_find(x->st, LT_NS_CREATOR, "c1", 2, &cr)) lt_state_creator_info(x->st, cr, &ci);
    /* counters only grow; popularity is a finite non-negative number (no
     * cmocka assert here: this is not the test's thread) */
    uint8_t deleted = m->deleted; /* one read: the writer flips it meanwhile */
    if (imp < last_imp || copy.impressions < imp || t.events < last_events || !(pop >= 0) ||
        pop > 1e9 || (deleted != 0 && deleted != 1) || m->published_at_ms < 0)
      atomic_fetch_add(&x->bad, 1);
    last_imp = imp;
    last_events = t.events;
    atomic_fetch_add(&x->reads, 1);
  }
  return NULL;
}

static void readers_see_whole_values_while_the_writer_runs(void **s) {
  race_t x = {.st = new_state()};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, &x), 0);
  for (int i = 0; i < 20000; i++) {
    lt_record_t r = ev(i % 2 ? "u1" : "u2", "v1", i % 3 ? LT_EV_IMPRESSION : LT_EV_LIKE,
                       T0 + i * 1000LL, 0);
    assert_int_equal(lt_state_apply(x.st, &r, 0), 0);
    if (i % 1000 == 0) { /* catalog changes too: put, delete */
      lt_record_t p = item_put("v1", "c1", 10000 + i);
      assert_int_equal(lt_state_apply(x.st, &p, 0), 0);
      memset(&p, 0, sizeof p);
      p.kind = LT_REC_ITEM_DEL;
      p.u.del.id = LT_STR("v1");
      assert_int_equal(lt_state_apply(x.st, &p, 0), 0);
    }
  }
  atomic_store(&x.stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  fprintf(stderr, "%llu lock-free reads during 20,000 events\n",
          (unsigned long long)atomic_load(&x.reads));
  assert_int_equal(atomic_load(&x.bad), 0);
  lt_state_free(x.st);
}

static void days_split_at_local_midnight(void **s) {
  lt_state_t *st = new_state(); /* Asia/Shanghai */
  int32_t d27, d28;
  lt_day_parse("2025-11-27", &d27);
  lt_day_parse("2025-11-28", &d28);
  /* 2025-11-27 15:59:59 UTC is 23:59:59 in Shanghai */
  int64_t before = (int64_t)d27 * 86400000LL + (15 * 3600 + 59 * 60 + 59) * 1000LL;
  lt_record_t r = ev("u1", "v1", LT_EV_PLAY, before, 60000);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  r = ev("u1", "v1", LT_EV_PLAY, before + 1000, 30000);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  r = ev("u2", "v1", LT_EV_PLAY, before + 2000, 1000);
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  uint64_t w;
  uint32_t p;
  uint32_t u1 = id_of(st, LT_NS_USER, "u1");
  lt_state_user_day(st, u1, d27, &w, &p);
  assert_int_equal(w, 60000);
  assert_int_equal(p, 1);
  lt_state_user_day(st, u1, d28, &w, &p);
  assert_int_equal(w, 30000);
  lt_day_totals_t t;
  lt_state_day_totals(st, d27, &t);
  assert_int_equal(t.active_users, 1);
  assert_int_equal(t.new_users, 1);
  lt_state_day_totals(st, d28, &t);
  assert_int_equal(t.active_users, 2);
  assert_int_equal(t.new_users, 1);
  assert_int_equal(t.watch_ms, 31000);
  lt_state_free(st);
}

static void follows_and_groups_are_kept(void **s) {
  lt_state_t *st = new_state();
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_FOLLOW;
  r.u.follow.user = LT_STR("u1");
  r.u.follow.creator = LT_STR("c1");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_int_equal(lt_state_apply(st, &r, 0), 0); /* idempotent */
  uint32_t u1 = id_of(st, LT_NS_USER, "u1"), c1 = id_of(st, LT_NS_CREATOR, "c1"), f[4];
  assert_int_equal(lt_state_user_follows(st, u1, f, 4), 1);
  assert_int_equal(f[0], c1);
  lt_creator_info_t ci;
  lt_state_creator_info(st, c1, &ci);
  assert_int_equal(ci.followers, 1);
  r.kind = LT_REC_UNFOLLOW;
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_int_equal(lt_state_user_follows(st, u1, f, 4), 0);
  lt_state_creator_info(st, c1, &ci);
  assert_int_equal(ci.followers, 0);

  memset(&r, 0, sizeof r);
  r.kind = LT_REC_USER_PUT;
  r.u.user.id = LT_STR("u1");
  r.u.user.ngroups = 2;
  r.u.user.groups[0] = LT_STR("staff");
  r.u.user.groups[1] = LT_STR("ops");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_true(lt_state_user_in_group(st, u1, id_of(st, LT_NS_GROUP, "staff")));
  r.u.user.ngroups = 1;
  r.u.user.groups[0] = LT_STR("ops");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_false(lt_state_user_in_group(st, u1, id_of(st, LT_NS_GROUP, "staff")));
  lt_state_free(st);
}

static void item_catalog_and_delete(void **s) {
  lt_state_t *st = new_state();
  lt_record_t r = item_put("v1", "c1", 15000);
  r.u.item.aigc = 1;
  r.u.item.kind = LT_KIND_LIVE;
  r.u.item.live_start_ms = T0;
  r.u.item.live_end_ms = T0 + 3600000;
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  uint32_t v1 = id_of(st, LT_NS_ITEM, "v1"), items[4];
  const lt_item_meta_t *m = lt_state_item(st, v1);
  assert_int_equal(m->aigc, 1);
  assert_int_equal(m->kind, LT_KIND_LIVE);
  assert_int_equal(m->ntags, 1);
  assert_string_equal(lt_state_name(st, LT_NS_TAG, m->tags[0]), "food");
  assert_int_equal(lt_state_creator_items(st, m->creator, items, 4), 1);
  /* moving the item to another creator moves it between lists */
  r.u.item.creator = LT_STR("c2");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_int_equal(lt_state_creator_items(st, id_of(st, LT_NS_CREATOR, "c1"), items, 4), 0);
  assert_int_equal(lt_state_creator_items(st, id_of(st, LT_NS_CREATOR, "c2"), items, 4), 1);
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_DEL;
  r.u.del.id = LT_STR("v1");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  assert_int_equal(lt_state_item(st, v1)->deleted, 1);
  lt_state_free(st);
}

static void invalid_records_change_nothing(void **s) {
  lt_state_t *st = new_state();
  lt_record_t r = ev("", "v1", LT_EV_PLAY, T0, 0);
  assert_int_equal(lt_state_apply(st, &r, 0), LT_EINVAL);
  r = ev("u\x01", "v1", LT_EV_PLAY, T0, 0);
  assert_int_equal(lt_state_apply(st, &r, 0), LT_EINVAL);
  r = ev("u1", "v1", 99, T0, 0);
  assert_int_equal(lt_state_apply(st, &r, 0), LT_EINVAL);
  r = ev("u1", "v1", LT_EV_PLAY, -5, 0);
  assert_int_equal(lt_state_apply(st, &r, 0), LT_EINVAL);
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  assert_int_equal(t.users, 0);
  assert_int_equal(t.events, 0);
  lt_state_free(st);
}

static void records_round_trip_and_hostile_bytes_are_rejected(void **s) {
  lt_record_t recs[3] = {ev("u1", "v9", LT_EV_PURCHASE, T0, 0), item_put("v9", "c3", 1000)};
  recs[0].u.ev.id = LT_STR("e1");
  recs[0].u.ev.value = 1999;
  recs[0].u.ev.request_id = LT_STR("req-1");
  recs[0].u.ev.position = 3;
  recs[0].u.ev.propensity = 0.25f;
  recs[1].u.item.product_id = LT_STR("p1");
  recs[1].u.item.price_cents = 1999;
  memset(&recs[2], 0, sizeof recs[2]);
  recs[2].kind = LT_REC_USER_PUT;
  recs[2].u.user.id = LT_STR("u1");
  recs[2].u.user.ngroups = 1;
  recs[2].u.user.groups[0] = LT_STR("staff");
  for (int i = 0; i < 3; i++) {
    lt_buf_t b;
    lt_buf_init(&b);
    assert_int_equal(lt_record_encode(&recs[i], &b), 0);
    lt_record_t d;
    assert_int_equal(lt_record_decode(b.p, b.len, &d), 0);
    assert_int_equal(d.kind, recs[i].kind);
    lt_buf_t b2;
    lt_buf_init(&b2);
    assert_int_equal(lt_record_encode(&d, &b2), 0);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.p, b2.p, b.len);
    /* every truncation and every single-byte flip decodes or is rejected cleanly */
    for (size_t cut = 0; cut < b.len; cut++) assert_int_not_equal(lt_record_decode(b.p, cut, &d), 0);
    for (size_t k = 0; k < b.len; k++) {
      unsigned char save = b.p[k];
      b.p[k] ^= 0xff;
      int rc = lt_record_decode(b.p, b.len, &d);
      assert_true(rc == 0 || rc == LT_ECORRUPT || rc == LT_EVERSION);
      if (rc == 0) assert_int_equal(lt_record_check(&d, NULL), 0);
      b.p[k] = save;
    }
    lt_buf_free(&b);
    lt_buf_free(&b2);
  }
  unsigned char ext[] = {LT_REC_EXT_BASE + 1, 1, 2, 3};
  lt_record_t d;
  assert_int_equal(lt_record_decode(ext, sizeof ext, &d), LT_EVERSION);
}

static lt_state_t *busy_state(void) {
  lt_state_t *st = new_state();
  char u[16], it[16];
  for (int i = 0; i < 300; i++) {
    snprintf(u, sizeof u, "u%d", i % 37);
    snprintf(it, sizeof it, "v%d", i % 53);
    if (i % 53 == i) {
      lt_record_t r = item_put(it, i % 2 ? "c1" : "c2", 10000 + i);
      assert_int_equal(lt_state_apply(st, &r, 0), 0);
    }
    lt_record_t r = ev(u, it, i % 5 == 0 ? LT_EV_LIKE : LT_EV_PLAY, T0 + i * 3600000LL, 5000 + i);
    if (i % 7 == 0) {
      char id[16];
      snprintf(id, sizeof id, "e%d", i);
      r.u.ev.id = lt_str_of(id);
      assert_int_equal(lt_state_apply(st, &r, 0), 0);
    } else {
      assert_int_equal(lt_state_apply(st, &r, 0), 0);
    }
  }
  lt_record_t r;
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_USER_PUT;
  r.u.user.id = LT_STR("u3");
  r.u.user.ngroups = 1;
  r.u.user.groups[0] = LT_STR("staff");
  assert_int_equal(lt_state_apply(st, &r, 0), 0);
  lt_state_set_applied(st, 4242);
  return st;
}

static char *save_to_memory(const lt_state_t *st, size_t *n) {
  char *p = NULL;
  FILE *f = open_memstream(&p, n);
  assert_non_null(f);
  assert_int_equal(lt_state_save(st, f), 0);
  fclose(f);
  return p;
}

static void snapshot_round_trip_is_byte_identical(void **s) {
  lt_state_t *st = busy_state();
  size_t n1, n2;
  char *a = save_to_memory(st, &n1);
  lt_state_t *st2;
  lt_state_opts_t o;
  lt_state_opts_default(&o);
  o.history_cap = 4;
  assert_int_equal(lt_state_load(a, n1, &o, &st2), 0);
  char *b = save_to_memory(st2, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(a, b, n1);
  assert_int_equal(lt_state_applied(st2), 4242);
  /* the loaded state keeps working: ids, dedup, histories; e7 (hour 7 of
   * 300) is older than the 7-day window, e294 is not */
  assert_false(lt_state_event_seen(st2, LT_STR("e7")));
  assert_true(lt_state_event_seen(st2, LT_STR("e294")));
  lt_record_t r = ev("u1", "v1", LT_EV_PLAY, T0, 1);
  r.u.ev.id = LT_STR("e294");
  assert_int_equal(lt_state_apply(st2, &r, 0), LT_EDUPLICATE);
  uint32_t u3 = id_of(st2, LT_NS_USER, "u3");
  assert_true(lt_state_user_in_group(st2, u3, id_of(st2, LT_NS_GROUP, "staff")));
  free(a);
  free(b);
  lt_state_free(st);
  lt_state_free(st2);
}

static void hostile_snapshots_are_rejected(void **s) {
  lt_state_t *st = busy_state();
  size_t n;
  char *a = save_to_memory(st, &n);
  lt_state_opts_t o;
  lt_state_opts_default(&o);
  o.history_cap = 4;
  lt_state_t *st2 = NULL;
  for (size_t cut = 0; cut < n; cut += 7) assert_int_not_equal(lt_state_load(a, cut, &o, &st2), 0);
  for (size_t k = 0; k < n; k += 3) { /* flips fail the checksum */
    a[k] ^= 0x5a;
    assert_int_not_equal(lt_state_load(a, n, &o, &st2), 0);
    a[k] ^= 0x5a;
  }
  o.history_cap = 8; /* other options: not trusted, replay instead */
  assert_int_equal(lt_state_load(a, n, &o, &st2), LT_EVERSION);
  free(a);
  lt_state_free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(play_counts_watch_time_and_completion),
      cmocka_unit_test(history_keeps_the_newest_entries_oldest_first),
      cmocka_unit_test(event_with_an_applied_id_is_not_applied_twice),
      cmocka_unit_test(an_applied_event_carries_its_dense_ids),
      cmocka_unit_test(duplicates_inside_the_window_are_rejected_outside_accepted),
      cmocka_unit_test(a_retry_is_judged_by_arrival_and_skewed_clocks_do_not_move_the_window),
      cmocka_unit_test(the_index_stays_bounded_under_a_stream_of_unique_ids),
      cmocka_unit_test(a_restarted_state_gives_the_same_answers),
      cmocka_unit_test(readers_see_whole_values_while_the_writer_runs),
      cmocka_unit_test(days_split_at_local_midnight),
      cmocka_unit_test(follows_and_groups_are_kept),
      cmocka_unit_test(item_catalog_and_delete),
      cmocka_unit_test(invalid_records_change_nothing),
      cmocka_unit_test(records_round_trip_and_hostile_bytes_are_rejected),
      cmocka_unit_test(snapshot_round_trip_is_byte_identical),
      cmocka_unit_test(hostile_snapshots_are_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
