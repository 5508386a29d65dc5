/*
 * state_int.h — the state's internals, shared by state.c and snapshot.c
 * only (STYLE.md's lt__ tier). Nothing outside src/state includes this.
 */
#ifndef LT_STATE_INT_H
#define LT_STATE_INT_H

#include "core/chunkvec.h"
#include "core/hash.h"
#include "core/intern.h"
#include "state/state.h"

#include <pthread.h>

#define LT__STRIPES 256
#define LT__MAX_DAYS 65536 /* local days 1970-01-01 .. 2149-06-06 */

/* A user's activity on one local day (8 bytes). */
typedef struct lt__uday {
  uint16_t day;   /* local day number (days since 1970-01-01; fits to 2149) */
  uint16_t plays; /* saturating */
  uint32_t watch_ms; /* saturating */
} lt__uday_t;

typedef struct lt__user {
  lt_hist_t *hist; /* ring of hcap entries; hhead = index of the oldest */
  uint32_t hlen, hcap, hhead;
  uint32_t *follows;
  uint32_t nfollows, fcap;
  uint32_t *groups;
  uint32_t ngroups;
  lt__uday_t *days; /* ascending by day */
  uint32_t ndays, dcap;
  uint64_t events, plays, watch_ms;
  int64_t first_ms, last_ms;
} lt__user_t;

typedef struct lt__creator {
  uint32_t *items;
  uint32_t nitems, icap;
  uint64_t followers, impressions, watch_ms;
  int64_t first_seen_ms;
} lt__creator_t;

/* The idempotency index (idem.c, whose design note has the promise, the
 * event clock and the invariants). Written by the single writer only. */
#define LT__IDEM_BLOCK 64 /* events per sample of the event clock */
#define LT__IDEM_SWEEP 16 /* slots examined for expiry per event */
#define LT__IDEM_MIN 16   /* smallest table */
typedef struct lt__idem_slot {
  uint64_t key;  /* 0 = empty slot */
  int64_t stamp; /* event clock when the id was applied */
} lt__idem_slot_t;

typedef struct lt__idem {
  lt__idem_slot_t *slots; /* a key beside its stamp: one line per probe */
  size_t cap, len, cursor;
  int64_t window_ms; /* < 0: never forget */
  int64_t clock_ms;  /* the event clock */
  uint32_t nbuf;     /* event times of the current block, sorted */
  int64_t buf[LT__IDEM_BLOCK];
} lt__idem_t;

void lt__idem_init(lt__idem_t *x, int64_t window_ms);
void lt__idem_free(lt__idem_t *x);
/* 1 when key was applied within the window. */
int lt__idem_seen(const lt__idem_t *x, uint64_t key);
/* Starts loading key's home slot (lt_state_prefetch). */
void lt__idem_prefetch(const lt__idem_t *x, uint64_t key);
/* Records key as applied now (stamp = lt__idem_now). LT_OK or LT_ENOMEM. */
int lt__idem_put(lt__idem_t *x, uint64_t key);
/* One event of time ts_ms is being applied: clock sample, expiry sweep. */
void lt__idem_tick(lt__idem_t *x, int64_t ts_ms);
/* The stamp an id applied now gets. */
int64_t lt__idem_now(const lt__idem_t *x);
/* Snapshots: the table is written in slot order from the slot after
 * lt__idem_start() (an empty one) round to it; inserting the keys in that
 * order into a table of the same cap rebuilds the very same layout. */
size_t lt__idem_start(const lt__idem_t *x);
int lt__idem_load_begin(lt__idem_t *x, size_t cap, size_t cursor);
/* LT_ECORRUPT for key 0, a key already there or a table over half full. */
int lt__idem_load_put(lt__idem_t *x, uint64_t key, int64_t stamp);

struct lt_state {
  lt_state_opts_t opts;
  lt_tz_t tz;
  lt_intern_t *ns[LT_NS__COUNT];
  lt_chunkvec_t items;    /* lt_item_meta_t */
  lt_chunkvec_t counters; /* lt_item_counters_t */
  lt_chunkvec_t users;    /* lt__user_t */
  lt_chunkvec_t creators; /* lt__creator_t */
  lt__idem_t idem;        /* event ids applied within the window */
  lt_day_totals_t *days;  /* days[d] for every local day d < LT__MAX_DAYS */
  lt_state_totals_t totals;
  uint64_t applied; /* log offset applied up to */
  double decay_per_ms; /* ln 2 / half life */
  pthread_mutex_t user_locks[LT__STRIPES];
  pthread_mutex_t creator_locks[LT__STRIPES];
};

/* Makes sure dense id `id` of namespace ns has its per-id storage. */
int lt__state_grow(lt_state_t *st, lt_ns_t ns, uint32_t id);
lt_day_totals_t *lt__state_day(lt_state_t *st, int32_t day);

static inline lt__user_t *lt__user(const lt_state_t *st, uint32_t u) {
  return (lt__user_t *)lt_cv_at(&st->users, u);
}
static inline lt__creator_t *lt__creator(const lt_state_t *st, uint32_t c) {
  return (lt__creator_t *)lt_cv_at(&st->creators, c);
}

#endif
