/*
 * state_check.h — shared by the fuzz targets that end with a state
 * (fuzz_record.c, fuzz_snapshot.c): CHECK, a walk over every reader of
 * the state that checks each id it returns is in range and digests what
 * it read, and saving a state to memory.
 */
#ifndef LT_FUZZ_STATE_CHECK_H
#define LT_FUZZ_STATE_CHECK_H

#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "state/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #c, __LINE__);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Appends the bytes of a value to the digest buffer. The comma makes x an
 * rvalue, whose type has no qualifier: an _Atomic field (state.h) is read
 * by one atomic load into a plain temporary. */
#define DG_T(x) __typeof__((void)0, (x))
#define DG(b, x) lt_buf_put((b), &(DG_T(x)){(x)}, sizeof(DG_T(x)))

/* Reads every part of the state through the public readers, checks that
 * every id they return is in range, and returns a digest of all of it in
 * a fixed order (two states with equal digests answer every reader
 * alike; the event-id set, which no reader lists, is compared by the
 * callers through the snapshot's length). */
static inline uint64_t read_all(lt_state_t *st) {
  static lt_hist_t h[4096];
  static uint32_t ids[4096];
  lt_buf_t b;
  lt_buf_init(&b);
  uint32_t nu = lt_state_count(st, LT_NS_USER), ni = lt_state_count(st, LT_NS_ITEM),
           nc = lt_state_count(st, LT_NS_CREATOR);
  for (int ns = 0; ns < LT_NS__COUNT; ns++) {
    uint32_t n = lt_state_count(st, (lt_ns_t)ns);
    DG(&b, n);
    for (uint32_t i = 0; i < n; i++) {
      const char *name = lt_state_name(st, (lt_ns_t)ns, i);
      CHECK(name != NULL);
      lt_buf_put(&b, name, strlen(name) + 1);
    }
  }
  for (uint32_t u = 0; u < nu; u++) {
    lt_user_info_t ui;
    CHECK(lt_state_user_info(st, u, &ui) == LT_OK);
    DG(&b, ui.events), DG(&b, ui.plays), DG(&b, ui.watch_ms), DG(&b, ui.first_ms);
    DG(&b, ui.last_ms), DG(&b, ui.history_len), DG(&b, ui.nfollows), DG(&b, ui.ngroups);
    size_t n = lt_state_user_history(st, u, h, 4096);
    CHECK(n == ui.history_len || n == 4096);
    for (size_t k = 0; k < n; k++) {
      CHECK(h[k].item < ni && h[k].type < LT_EV__COUNT);
      DG(&b, h[k].item), DG(&b, h[k].ts), DG(&b, h[k].watch_ms), DG(&b, h[k].type);
      DG(&b, h[k].flags), DG(&b, h[k].weight_q);
    }
    n = lt_state_user_follows(st, u, ids, 4096);
    for (size_t k = 0; k < n && k < 4096; k++) {
      CHECK(ids[k] < nc);
      DG(&b, ids[k]);
    }
    n = lt_state_user_groups(st, u, ids, 4096);
    for (size_t k = 0; k < n && k < 4096; k++) {
      CHECK(lt_state_name(st, LT_NS_GROUP, ids[k]) != NULL);
      DG(&b, ids[k]);
    }
  }
  for (uint32_t i = 0; i < ni; i++) {
    const lt_item_meta_t *m = lt_state_item(st, i);
    const lt_item_counters_t *c = lt_state_item_counters(st, i);
    CHECK(m && c);
    CHECK(m->creator == LT_NONE || m->creator < nc);
    CHECK(m->ntags <= LT_MAX_TAGS && m->kind <= LT_KIND_DRAMA);
    for (uint32_t t = 0; t < m->ntags; t++)
      CHECK(lt_state_name(st, LT_NS_TAG, m->tags[t]));
    CHECK(m->product == LT_NONE || lt_state_name(st, LT_NS_PRODUCT, m->product));
    DG(&b, m->creator), DG(&b, m->kind), DG(&b, m->aigc), DG(&b, m->deleted);
    DG(&b, m->in_catalog), DG(&b, m->duration_ms), DG(&b, m->ntags);
    for (uint32_t t = 0; t < m->ntags; t++)
      DG(&b, m->tags[t]);
    DG(&b, m->product), DG(&b, m->price_cents), DG(&b, m->published_at_ms);
    DG(&b, m->live_start_ms), DG(&b, m->live_end_ms);
    DG(&b, c->impressions), DG(&b, c->plays), DG(&b, c->watch_ms), DG(&b, c->completions);
    DG(&b, c->likes), DG(&b, c->comments), DG(&b, c->shares), DG(&b, c->follows);
    DG(&b, c->not_interested), DG(&b, c->purchases), DG(&b, c->gmv_cents);
    DG(&b, c->gift_cents), DG(&b, c->ad_impressions), DG(&b, c->ad_clicks);
    DG(&b, c->ad_conversions), DG(&b, c->ratio_sum), DG(&b, c->pop), DG(&b, c->pop_ts_ms);
    DG(&b, c->last_event_ms);
    DG(&b, lt_state_item_pop(st, i, 1764261000000LL));
  }
  for (uint32_t c = 0; c < nc; c++) {
    lt_creator_info_t ci;
    CHECK(lt_state_creator_info(st, c, &ci) == LT_OK);
    DG(&b, ci.followers), DG(&b, ci.items), DG(&b, ci.impressions), DG(&b, ci.watch_ms);
    DG(&b, ci.first_seen_ms);
    size_t n = lt_state_creator_items(st, c, ids, 4096);
    for (size_t k = 0; k < n && k < 4096; k++) {
      CHECK(ids[k] < ni);
      DG(&b, ids[k]);
    }
  }
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  DG(&b, t.events), DG(&b, t.duplicates_rejected), DG(&b, t.records), DG(&b, t.min_ts_ms);
  DG(&b, t.max_ts_ms), DG(&b, t.users), DG(&b, t.items), DG(&b, t.creators);
  if (t.events) {
    DG(&b, t.min_day), DG(&b, t.max_day);
    lt_day_totals_t d;
    for (int32_t day = t.min_day; day <= t.max_day && day < t.min_day + 400; day++) {
      lt_state_day_totals(st, day, &d);
      lt_buf_put(&b, &d, sizeof d); /* 13 uint64_t: no padding */
    }
  }
  CHECK(!b.err);
  uint64_t digest = lt_hash64(b.p, b.len);
  lt_buf_free(&b);
  return digest;
}

static inline char *save(const lt_state_t *st, size_t *n) {
  char *p = NULL;
  FILE *f = open_memstream(&p, n);
  CHECK(f);
  CHECK(lt_state_save(st, f) == LT_OK);
  fclose(f);
  return p;
}

#endif
