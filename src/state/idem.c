/*
 * idem.c — the idempotency index: the event ids applied recently, so that
 * a retried event is applied once (state_int.h, lt__idem_t).
 *
 * The promise (docs/reliability.md, "Idempotency window"): an event whose
 * id was applied before is a duplicate when the earlier one was applied
 * while the event clock stood at most window_ms behind where it stands
 * now. Older ids are forgotten: a duplicate of a forgotten id is accepted
 * again. window_ms < 0 = never forget (every id kept for ever).
 *
 * The event clock comes from the log alone, so the live run, a replay and
 * a snapshot plus replay give the same answer to every event:
 *     clock = max(clock, lower median of the times of each block of
 *                 LT__IDEM_BLOCK consecutive events).
 * A median, not the newest time: one event dated 2100 (a phone with a
 * wrong clock) does not make the index forget everything, and events
 * dated 1990 do not hold it back; the clock moves when most of the traffic
 * does, and never backwards. An id's stamp is "now" when it was applied —
 * the clock, or the lower median of the current block so far when that is
 * later (so the first events of a store, before any block is complete, are
 * not stamped 1970) — not its own event time: a retry is judged by when
 * the original arrived, whatever time the client wrote in it. The
 * window's horizon is clock - window_ms.
 *
 * Layout: open addressing with linear probing over slots[], each a key
 * (XXH3-64 of the id through lt_u64map_key, never 0 = empty) with its
 * stamp, so that looking an id up and stamping it touch one line.
 * Invariants:
 *  1. cap is 0 or a power of two >= LT__IDEM_MIN; 2 * len <= cap; and
 *     cap == LT__IDEM_MIN or 8 * len >= cap (tables shrink as well as
 *     grow, so memory follows the ids held);
 *  2. every slot from a key's home (mix(key) & (cap - 1)) to the key's
 *     slot is occupied: deletion shifts the entries after the hole back
 *     (no tombstones), so a probe stops at the first empty slot;
 *  3. each key is in the table at most once; buf[0..nbuf) is sorted;
 *  4. cursor < cap (0 when cap is 0).
 *
 * Per event, lt_state_apply calls lt__idem_seen (a duplicate stops there:
 * it changes nothing, the clock included), then lt__idem_tick (clock
 * sample, expiry), then lt__idem_put for an event with an id.
 *
 * Expiry is incremental: each event (lt__idem_tick) examines up to
 * LT__IDEM_SWEEP slots at the cursor and deletes the entries whose stamp
 * is older than clock - window_ms. Lookups ignore such entries until the
 * sweep reaches them, so answers never depend on how far it got. A full
 * pass takes cap / LT__IDEM_SWEEP events; an id that expired is gone
 * within two passes, so in steady state the table holds the ids of the
 * window plus those of two passes, and with 16 slots per event it settles
 * at a few slots per id of the window (measured: docs/reliability.md).
 *
 * Nothing here takes a lock: the index is read and written by the
 * state's single writer only (lt_state_apply, lt_state_event_seen under
 * the store's writer lock, snapshot writing).
 */
#include "state/state_int.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

void lt__idem_init(lt__idem_t *x, int64_t window_ms) {
  memset(x, 0, sizeof *x);
  x->window_ms = window_ms;
}

void lt__idem_free(lt__idem_t *x) {
  if (!x) return;
  free(x->slots);
  x->slots = NULL;
  x->cap = x->len = x->cursor = 0;
}

static size_t home(const lt__idem_t *x, uint64_t key) { return lt_mix64(key) & (x->cap - 1); }

/* Slot of key, or cap when absent. */
static size_t find(const lt__idem_t *x, uint64_t key) {
  if (!x->cap) return 0;
  size_t mask = x->cap - 1, i = home(x, key);
  for (;;) {
    if (x->slots[i].key == key) return i;
    if (!x->slots[i].key) return x->cap;
    i = (i + 1) & mask;
  }
}

/* Puts a key known to be absent into the first free slot of its run. */
static void place(lt__idem_t *x, uint64_t key, int64_t stamp) {
  size_t mask = x->cap - 1, i = home(x, key);
  while (x->slots[i].key) i = (i + 1) & mask;
  x->slots[i] = (lt__idem_slot_t){key, stamp};
  x->len++;
}

/* Rebuilds the table with newcap slots (grow or shrink). */
static int resize(lt__idem_t *x, size_t newcap) {
  lt__idem_slot_t *slots = calloc(newcap, sizeof *slots);
  if (!slots) return LT_ENOMEM;
  lt__idem_t old = *x;
  x->slots = slots;
  x->cap = newcap;
  x->len = 0;
  x->cursor = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].key) place(x, old.slots[i].key, old.slots[i].stamp);
  free(old.slots);
  return LT_OK;
}

static int expired(const lt__idem_t *x, int64_t stamp) {
  return x->window_ms >= 0 && stamp < x->clock_ms - x->window_ms;
}

void lt__idem_prefetch(const lt__idem_t *x, uint64_t key) {
  if (x->cap) __builtin_prefetch(&x->slots[home(x, key)]);
}

int lt__idem_seen(const lt__idem_t *x, uint64_t key) {
  size_t i = find(x, key);
  return i < x->cap && !expired(x, x->slots[i].stamp);
}

int lt__idem_put(lt__idem_t *x, uint64_t key) {
  size_t i = find(x, key);
  if (i < x->cap) { /* an expired id applied again: it starts a new window */
    x->slots[i].stamp = lt__idem_now(x);
    return LT_OK;
  }
  if ((x->len + 1) * 2 > x->cap) {
    int rc = resize(x, x->cap ? x->cap * 2 : LT__IDEM_MIN);
    if (rc) return rc;
  }
  place(x, key, lt__idem_now(x));
  return LT_OK;
}

/* Empties slot i and shifts the rest of its run back (invariant 2). */
static void delete_at(lt__idem_t *x, size_t i) {
  size_t mask = x->cap - 1, j = i;
  x->slots[i].key = 0;
  x->len--;
  for (;;) {
    j = (j + 1) & mask;
    if (!x->slots[j].key) return;
    /* the entry at j may fill the hole when the hole is no farther from
     * j than its home is (cyclically) */
    if (((j - home(x, x->slots[j].key)) & mask) >= ((j - i) & mask)) {
      x->slots[i] = x->slots[j];
      x->slots[j].key = 0;
      i = j;
    }
  }
}

int64_t lt__idem_now(const lt__idem_t *x) {
  int64_t m = x->nbuf ? x->buf[(x->nbuf - 1) / 2] : x->clock_ms;
  return m > x->clock_ms ? m : x->clock_ms;
}

void lt__idem_tick(lt__idem_t *x, int64_t ts_ms) {
  uint32_t i = x->nbuf++; /* insertion: buf stays sorted */
  while (i > 0 && x->buf[i - 1] > ts_ms) {
    x->buf[i] = x->buf[i - 1];
    i--;
  }
  x->buf[i] = ts_ms;
  if (x->nbuf == LT__IDEM_BLOCK) {
    int64_t median = x->buf[LT__IDEM_BLOCK / 2 - 1];
    if (median > x->clock_ms) x->clock_ms = median;
    x->nbuf = 0;
  }
  if (x->window_ms < 0 || !x->cap) return;
  for (int k = 0; k < LT__IDEM_SWEEP && x->len; k++) {
    size_t c = x->cursor;
    if (x->slots[c].key && expired(x, x->slots[c].stamp)) {
      delete_at(x, c); /* slot c may now hold a shifted entry: look again */
      continue;
    }
    x->cursor = (c + 1) & (x->cap - 1);
  }
  if (x->cap > LT__IDEM_MIN && x->len * 8 < x->cap) {
    size_t want = LT__IDEM_MIN;
    while (want < x->len * 4) want *= 2;
    (void)resize(x, want); /* out of memory: keep the bigger table */
  }
}

size_t lt__idem_start(const lt__idem_t *x) {
  for (size_t i = 0; i < x->cap; i++)
    if (!x->slots[i].key) return i;
  return 0; /* unreachable: 2 * len <= cap */
}

int lt__idem_load_begin(lt__idem_t *x, size_t cap, size_t cursor) {
  lt__idem_free(x);
  if (!cap) return LT_OK;
  x->slots = calloc(cap, sizeof *x->slots);
  if (!x->slots) {
    lt__idem_free(x);
    return LT_ENOMEM;
  }
  x->cap = cap;
  x->cursor = cursor;
  return LT_OK;
}

int lt__idem_load_put(lt__idem_t *x, uint64_t key, int64_t stamp) {
  if (!key || (x->len + 1) * 2 > x->cap || find(x, key) < x->cap) return LT_ECORRUPT;
  place(x, key, stamp);
  return LT_OK;
}
