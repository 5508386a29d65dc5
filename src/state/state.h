/*
 * state.h — laotie's in-memory state, derived from the event log.
 *
 * The state holds the catalog (items, users, creators, follows), per-user
 * bounded recent history, per-item counters with time-decayed popularity,
 * per-user per-day watch time and per-day platform totals. It is built by
 * applying log records in order (lt_state_apply) and can always be rebuilt
 * from a snapshot plus the log after it (see store.h).
 *
 * Concurrency: exactly one writer at a time (the store serialises
 * lt_state_apply and snapshot writing); any number of concurrent readers.
 * Readers never take the writer's lock:
 *  - id lookups are lock-free (core/intern.h);
 *  - item metadata and counters live in arrays whose elements never move.
 *    The fields the event path changes are C11 atomics: every counter,
 *    and the metadata's deleted, duration_ms and published_at_ms. The
 *    writer stores them with relaxed atomic stores, a reader's plain read
 *    is an atomic load (on x86-64 both are plain moves: no cost); a reader
 *    may see a counter one event old, never a torn or invented value.
 *    pop and pop_ts_ms change together: read them through
 *    lt_state_item_pop, which pairs them (see there for the bound);
 *  - the other metadata fields (creator, kind, tags, product, price, live
 *    window) change only on an item put, as several plain stores: a read
 *    racing a put of the same item may mix old and new values of them;
 *  - per-user and per-creator lists that can be reallocated (history,
 *    follows, groups, a creator's items) are guarded by striped mutexes
 *    held only while copying; lt_state_user_* functions copy out;
 *  - totals, day totals and creator counters are copied out by
 *    lt_state_totals / lt_state_day_totals / lt_state_creator_info with
 *    relaxed atomic loads, field by field (a copy may mix fields of two
 *    consecutive events).
 */
#ifndef LT_STATE_STATE_H
#define LT_STATE_STATE_H

#include "core/clock.h"
#include "state/record.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LT_NONE UINT32_MAX /* "no id" (e.g. an item with no known creator) */

typedef struct lt_state lt_state_t;

typedef struct lt_state_opts {
  const char *timezone;     /* report days; default "Asia/Shanghai" */
  uint32_t history_cap;     /* per-user recent history length; default 2000 */
  double trend_half_life_s; /* popularity half life; default 6 hours */
  double finish_ratio;      /* watch ratio counted as a completion; default 0.9 */
  /* how long an event id is remembered for idempotency, on the event
   * clock (see lt_state_event_seen); 0 = default 7 days, < 0 = for ever */
  int64_t idem_window_ms;
} lt_state_opts_t;

void lt_state_opts_default(lt_state_opts_t *o);

/* Creates an empty state. opts NULL = defaults. */
int lt_state_new(const lt_state_opts_t *opts, lt_state_t **out);
void lt_state_free(lt_state_t *st);

/* ---- writer ---------------------------------------------------------- */

/* Applies one record. lsn is the record's log offset (kept as the
 * position a snapshot covers). Returns 0, LT_EDUPLICATE (an event whose id
 * was already applied: nothing changed), LT_EINVAL (fails lt_record_check;
 * nothing changed) or LT_ENOMEM. Records of higher layers (kind >=
 * LT_REC_EXT_BASE) are not passed here. Writes only rec->u.ev's ids_set,
 * user_id and item_id: set for an event it applied, cleared otherwise. */
int lt_state_apply(lt_state_t *st, lt_record_t *rec, uint64_t lsn);

/* An event's dense ids as lt_state_prefetch found them (LT_NONE: not
 * found: a new user or item, or not an event). */
typedef struct lt_state_ids {
  uint32_t user, item;
} lt_state_ids_t;

/* lt_state_apply, given the ids lt_state_prefetch (step 3) found for rec
 * in this state (ids never change once given), so that applying it need
 * not look its strings up again. known NULL: lt_state_apply. */
int lt_state_apply_known(lt_state_t *st, lt_record_t *rec, uint64_t lsn,
                         const lt_state_ids_t *known);

/* Marks that everything up to log offset end has been applied (records of
 * higher layers advance it too). */
void lt_state_set_applied(lt_state_t *st, uint64_t end);
uint64_t lt_state_applied(const lt_state_t *st);

/* 1 when an event with this id was applied within the idempotency
 * window: while the event clock stood at most opts.idem_window_ms behind
 * where it stands now. The event clock is the lower median of the event
 * times of each block of 64 events, never moving back; it is a function of
 * the log, so replays answer alike. Ids older than the window are
 * forgotten (a duplicate of one is applied again). */
int lt_state_event_seen(const lt_state_t *st, lt_str_t id);

/* Starts loading what checking and applying rec will read, so that a
 * batch, prefetching a few records ahead, overlaps those memory waits
 * instead of taking them one after another. For an event, in steps, each
 * a few records after the one before (each reads what the step before
 * loaded): 0 its id's idempotency slot and its user's and item's id-table
 * slots; 1 and 2 the rest of those id lookups (lt_intern_prefetch); 3 the
 * lookups themselves (the ids found go to *ids, which may be NULL) and the
 * user's and the item's records; 4 the user's latest day and the history
 * slot the event will fill (from ids->user when given). No effect on the
 * state. Steps 0 to 2 are safe beside the writer; 3 and 4 read what only
 * the writer changes, so only the writer may take them. */
#define LT_STATE_PREFETCH_STEPS 5
void lt_state_prefetch(const lt_state_t *st, const lt_record_t *rec, int step,
                       lt_state_ids_t *ids);

typedef struct lt_idem_info {
  uint64_t ids;      /* ids held, including expired ones not yet swept */
  uint64_t slots;    /* table size; bytes held = 16 x slots */
  int64_t clock_ms;  /* the event clock */
  int64_t window_ms; /* < 0: for ever */
} lt_idem_info_t;
void lt_state_idem_info(const lt_state_t *st, lt_idem_info_t *out);

/* ---- ids ------------------------------------------------------------- */

typedef enum { LT_NS_USER, LT_NS_ITEM, LT_NS_CREATOR, LT_NS_TAG, LT_NS_GROUP, LT_NS_PRODUCT, LT_NS__COUNT } lt_ns_t;

/* External string -> dense id; LT_ENOTFOUND when never seen. Lock-free. */
int lt_state_find(const lt_state_t *st, lt_ns_t ns, const char *s, size_t n, uint32_t *id);
/* An event's dense user and item ids: the ones lt_state_apply stored in it
 * (e->ids_set), else looked up. user / item may be NULL (not wanted: not
 * looked up). Returns 0, or LT_ENOTFOUND when a wanted string was never
 * seen (the event was not applied). */
int lt_state_event_ids(const lt_state_t *st, const lt_event_t *e, uint32_t *user, uint32_t *item);
/* Dense id -> external string (NUL-terminated, valid for the state's
 * life), or NULL. */
const char *lt_state_name(const lt_state_t *st, lt_ns_t ns, uint32_t id);
uint32_t lt_state_count(const lt_state_t *st, lt_ns_t ns);

/* ---- items ----------------------------------------------------------- */

typedef struct lt_item_meta {
  uint32_t creator; /* LT_NONE when unknown */
  uint8_t kind;     /* lt_item_kind_t */
  uint8_t aigc;
  _Atomic uint8_t deleted;
  uint8_t in_catalog;           /* put through the API */
  _Atomic uint32_t duration_ms; /* 0 = unknown */
  uint32_t ntags;
  uint32_t tags[LT_MAX_TAGS]; /* LT_NS_TAG ids */
  uint32_t product;           /* LT_NS_PRODUCT id or LT_NONE */
  int64_t price_cents;
  _Atomic int64_t published_at_ms; /* from the catalog, else first event time */
  int64_t live_start_ms, live_end_ms;
} lt_item_meta_t;

/* Every field atomic (see "Concurrency" above); copy one out with
 * lt_state_item_counters_copy, not by struct assignment. */
typedef struct lt_item_counters {
  /* (first, and 16-byte aligned: the pair a feed request reads for each
   * candidate shares one cache line with the row's start) */
  _Alignas(16) _Atomic double pop; /* time-decayed popularity at pop_ts_ms */
  _Atomic int64_t pop_ts_ms;
  _Atomic uint64_t impressions, plays, watch_ms, completions;
  _Atomic uint64_t likes, comments, shares, follows, not_interested;
  _Atomic uint64_t purchases, gmv_cents, gift_cents;
  _Atomic uint64_t ad_impressions, ad_clicks, ad_conversions;
  _Atomic double ratio_sum; /* sum of watch ratios over plays with a known duration */
  _Atomic int64_t last_event_ms;
} lt_item_counters_t;

/* Pointers into the state's arrays: valid for the state's life; fields may
 * change under a concurrent writer. NULL when id is out of range. */
const lt_item_meta_t *lt_state_item(const lt_state_t *st, uint32_t item);
const lt_item_counters_t *lt_state_item_counters(const lt_state_t *st, uint32_t item);
/* Copies an item's counters field by field (relaxed atomic loads) into
 * *out; LT_ENOTFOUND when item is out of range. */
int lt_state_item_counters_copy(const lt_state_t *st, uint32_t item, lt_item_counters_t *out);
/* Popularity decayed to time now_ms. Under a concurrent writer the pair
 * (pop, pop_ts_ms) is read time first (acquire) and popularity second,
 * the writer storing popularity first and time last (release): a reader
 * that sees the new time sees the new popularity. So a racing read never
 * reports more than the item's current popularity; it may report less —
 * the new popularity decayed from the previous event's time, i.e. at worst
 * short by the decay between the item's last two events — for that one
 * read. */
double lt_state_item_pop(const lt_state_t *st, uint32_t item, int64_t now_ms);

/* Copies up to max ids of a creator's items (newest last) into out; returns
 * how many the creator has in all (may exceed max: the newest are kept). */
size_t lt_state_creator_items(lt_state_t *st, uint32_t creator, uint32_t *out, size_t max);

typedef struct lt_creator_info {
  uint64_t followers, items, impressions, watch_ms;
  int64_t first_seen_ms;
} lt_creator_info_t;
int lt_state_creator_info(const lt_state_t *st, uint32_t creator, lt_creator_info_t *out);

/* ---- users ----------------------------------------------------------- */

/* One entry of a user's recent history (16 bytes). */
typedef struct lt_hist {
  uint32_t item;
  uint32_t ts;       /* unix seconds */
  uint32_t watch_ms;
  uint8_t type;      /* lt_event_type_t */
  uint8_t flags;     /* LT_HIST_* */
  uint16_t weight_q; /* weight x 100, saturating (ratings, watch ratio) */
} lt_hist_t;

enum { LT_HIST_FINISHED = 1 };

/* Copies the user's newest history entries, oldest first, into out (at
 * most max); returns how many were copied. */
size_t lt_state_user_history(lt_state_t *st, uint32_t user, lt_hist_t *out, size_t max);
/* Copies the creators the user follows; returns how many in all. */
size_t lt_state_user_follows(lt_state_t *st, uint32_t user, uint32_t *out, size_t max);
/* Copies the user's groups (LT_NS_GROUP ids); returns how many. */
size_t lt_state_user_groups(lt_state_t *st, uint32_t user, uint32_t *out, size_t max);
/* 1 when the user is in the group. */
int lt_state_user_in_group(lt_state_t *st, uint32_t user, uint32_t group);

typedef struct lt_user_info {
  uint64_t events, plays, watch_ms;
  int64_t first_ms, last_ms; /* first/last event time; 0 when none */
  uint32_t history_len, nfollows, ngroups;
} lt_user_info_t;
int lt_state_user_info(lt_state_t *st, uint32_t user, lt_user_info_t *out);

/* ---- time and totals ------------------------------------------------- */

const lt_tz_t *lt_state_tz(const lt_state_t *st);

typedef struct lt_day_totals {
  uint64_t active_users, new_users;
  uint64_t events, impressions, plays, completions, likes, shares, follows;
  uint64_t watch_ms, purchases, gmv_cents, gift_cents;
} lt_day_totals_t;

/* Totals of local day `day` (zeros when nothing happened). */
void lt_state_day_totals(const lt_state_t *st, int32_t day, lt_day_totals_t *out);
/* Watch ms and plays of a user on a local day (0s when none). */
void lt_state_user_day(const lt_state_t *st, uint32_t user, int32_t day, uint64_t *watch_ms,
                       uint32_t *plays);
/* Calls fn for each (user, day, watch_ms, plays) with day in [from, to],
 * user by user (takes each user's stripe lock while reading it). */
void lt_state_each_user_day(const lt_state_t *st, int32_t from, int32_t to,
                            void (*fn)(void *ctx, uint32_t user, int32_t day, uint64_t watch_ms,
                                       uint32_t plays),
                            void *ctx);

typedef struct lt_state_totals {
  uint64_t events, duplicates_rejected, records;
  int64_t min_ts_ms, max_ts_ms; /* 0 when no events */
  int32_t min_day, max_day;     /* local days covered */
  uint64_t users, items, creators;
} lt_state_totals_t;
void lt_state_totals(const lt_state_t *st, lt_state_totals_t *out);

/* Approximate resident bytes held by the state. */
size_t lt_state_bytes(const lt_state_t *st);

/* ---- snapshots ------------------------------------------------------- */

/* Writes the whole state to f (the writer must not run concurrently).
 * Returns 0 or LT_EIO. The format is in snapshot.c's design note. */
int lt_state_save(const lt_state_t *st, FILE *f);
/* Loads a state written by lt_state_save from p[0..n) into a new state.
 * Every field is range-checked: a malformed or hostile file gives
 * LT_ECORRUPT / LT_EVERSION, never a crash. */
int lt_state_load(const void *p, size_t n, const lt_state_opts_t *opts, lt_state_t **out);

#endif
