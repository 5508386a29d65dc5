/*
 * ads_int.h — shared between the files of the ads module only.
 *
 * Files: ads.c (life cycle, campaign records, the writer path, tick and
 * pacing), auction.c (lt_ads_fill, lt_ads_stamp, the served table and
 * frequency counters), model.c (the online pCTR / pCVR model), books.c
 * (ledger and revenue tallies, reports, dump), spec.c (campaign JSON in and
 * out, options).
 *
 * Locks, always taken in this order (never the reverse):
 *   store writer lock -> a->book (rwlock) -> a camp's mu / a served or freq
 *   stripe's mu.
 * a->admin serialises campaign writes from the API; it is taken before the
 * store's lock (through lt_store_write_ext) and never while a->book is held.
 * lt_ads_fill takes no lock but camp mu and stripe mu, one at a time.
 */
#ifndef LT_ADS_INT_H
#define LT_ADS_INT_H

#include "ads/ads.h"
#include "core/hash.h"

#include <pthread.h>

#define LT__ADS_MAX_CAMPAIGNS 65535u /* dense ids fit 16 bits in frequency keys */
#define LT__ADS_STRIPES 16u
#define LT__ADS_BUCKETS 96u /* pacing plan: 15-minute buckets of a day */
#define LT__ADS_MAX_ADFREE 8u
#define LT__ADS_HOUR_DAY 31u /* hour index of a day's total in the ledger */
#define LT__ADS_REC_VERSION 1

/* ---- campaigns -------------------------------------------------------- */

/* One immutable version of a campaign (a CAMPAIGN_PUT record, with its names
 * resolved to dense ids). Published by an atomic pointer store; replaced
 * versions are kept on a retired list until lt_ads_free, so a reader's
 * pointer stays valid (versions are as many as campaign writes: few). */
typedef struct lt__cdef {
  char id[LT_ADS_MAX_ID + 1], advertiser[LT_ADS_MAX_ID + 1], name[LT_ADS_MAX_NAME + 1];
  int64_t budget_cents, bid_cents;
  uint8_t bid_type;
  int64_t start_ms, end_ms; /* 0 = open */
  uint32_t freq_cap;        /* 0 = the configured default */
  int64_t created_ms, updated_ms;
  uint32_t ntags, ngroups, ncre;
  char tags[LT_ADS_MAX_TARGETS][LT_ADS_MAX_ID + 1];
  char groups[LT_ADS_MAX_TARGETS][LT_ADS_MAX_ID + 1];
  char cre[LT_ADS_MAX_CREATIVES][LT_ADS_MAX_ID + 1];
  uint8_t cre_aigc[LT_ADS_MAX_CREATIVES];
  /* resolved (LT_NONE until the name is known to the state) */
  uint32_t tag_ids[LT_ADS_MAX_TARGETS], group_ids[LT_ADS_MAX_TARGETS];
  uint32_t cre_item[LT_ADS_MAX_CREATIVES];
  uint64_t adv_key; /* hash of the advertiser (model feature) */
  struct lt__cdef *retired_next;
} lt__cdef_t;

/* Budget state of one local day (under the camp's mu). */
typedef struct lt__rt {
  int32_t day;      /* -1 = unused */
  int64_t spent;    /* ucents billed that day: mirrors the ledger */
  int64_t reserved; /* ucents reserved by auctions and not yet billed or expired */
} lt__rt_t;

typedef struct lt__camp {
  lt__cdef_t *def; /* atomic pointer (acquire / release) */
  uint8_t status;  /* atomic: lt_campaign_status_t */
  pthread_mutex_t mu;
  lt__rt_t rt[2];    /* indexed by day & 1 */
  lt__rt_t hr;       /* the current local hour; .day holds day * 24 + hour */
  uint32_t pace_ppm; /* atomic: pacing multiplier x 1e6 */
  /* value served: the sum of every reservation ever made, ucents (atomic;
   * monotonic, so pacing measures the rate at which the campaign takes
   * traffic, unbiased by reservations that later expire unbilled) */
  uint64_t served_ucents;
  /* pacing controller (lt_ads_tick only) */
  int32_t pace_day;
  uint64_t pace_prev; /* served_ucents at the previous update */
  double pace_u;      /* ucents per interval the campaign would take unthrottled */
  int pace_has_u;
  /* atomic counters since start (lt_ads_campaign_serving) */
  uint64_t served, capped, throttled, blocked;
} lt__camp_t;

/* ---- the online model (model.c) --------------------------------------- */

#define LT__MODEL_BITS 18
#define LT__MODEL_FEATS 6
enum { LT__HEAD_CTR = 0, LT__HEAD_CVR = 1 };

typedef struct lt__model {
  uint32_t w[2][1u << LT__MODEL_BITS]; /* float bits; atomic relaxed */
  float g2[2][1u << LT__MODEL_BITS];   /* AdaGrad sums; writer only */
  float lr;
  uint64_t updates[2];
} lt__model_t;

void lt__model_init(lt__model_t *m, double prior_ctr, double prior_cvr, double lr);
/* The feature slots of (creative item, campaign, advertiser, affinity
 * bucket 0..4). */
void lt__model_feats(uint32_t item, uint32_t cid, uint64_t adv, int aff,
                     uint32_t f[LT__MODEL_FEATS]);
/* Calibrated probability of the head (click per impression, conversion per
 * click). Any thread. */
double lt__model_predict(const lt__model_t *m, int head, const uint32_t f[LT__MODEL_FEATS]);
/* One example (y = 0 or 1). Writer only. */
void lt__model_learn(lt__model_t *m, int head, const uint32_t f[LT__MODEL_FEATS], int y);

/* A user's taste as tag weights from recent history (auction.c). */
#define LT__PROFILE_TAGS 32
typedef struct lt__profile {
  uint32_t n;
  uint32_t tag[LT__PROFILE_TAGS];
  float w[LT__PROFILE_TAGS];
  float total;
} lt__profile_t;
void lt__profile(lt_state_t *st, uint32_t user, lt__profile_t *p);
/* Affinity bucket of an item for a profile: 0 none, 1 < 10 %, 2 < 30 %,
 * 3 more, 4 no profile. */
int lt__affinity(lt_state_t *st, const lt__profile_t *p, uint32_t item);

/* ---- served ads (auction.c) ------------------------------------------- */

typedef struct lt__served {
  uint64_t key; /* lt__served_key(request_id, item) */
  uint32_t cid;
  int32_t day;     /* the day its budget was reserved on */
  int32_t hkey;    /* and the hour: day * 24 + hour */
  int64_t price;   /* ucents per billable event */
  int64_t reserve; /* ucents reserved */
  uint8_t bid_type;
  uint8_t released; /* reservation released (billed or expired) */
} lt__served_t;

typedef struct lt__gen {
  lt_u64map_t idx; /* key -> index + 1 into ent */
  lt__served_t *ent;
  size_t n, cap;
} lt__gen_t;

typedef struct lt__sstripe {
  pthread_mutex_t mu;
  lt__gen_t *gen; /* ring of ngen generations; gen[cur] takes new entries */
  uint32_t cur;
} lt__sstripe_t;

typedef struct lt__fstripe {
  pthread_mutex_t mu;
  lt_u64map_t m; /* lt__freq_key -> count */
} lt__fstripe_t;

uint64_t lt__served_key(const char *rid, size_t n, uint32_t item);
/* Finds a served entry and copies it into *out. With release, marks its
 * reservation released; *released_now (may be NULL) is set to 1 when this
 * call did (it was not released before). Returns 1 when found. */
int lt__served_find(lt_ads_t *a, uint64_t key, int release, lt__served_t *out, int *released_now);
/* Rotates the generations when due (tick): releases the reservations of
 * entries older than reserve_ttl_s / 2 .. reserve_ttl_s and forgets entries
 * past the attribution window. */
void lt__served_rotate(lt_ads_t *a, int64_t now_ms);
/* Frequency counters of (user, campaign, day). */
uint32_t lt__freq_get(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day);
void lt__freq_add(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day, int delta);
/* Increments the counter when it is below cap; returns 1 when it did. */
int lt__freq_take(lt_ads_t *a, uint32_t user, uint32_t cid, int32_t day, uint32_t cap);
/* Drops counters of days before keep_from. */
void lt__freq_prune(lt_ads_t *a, int32_t keep_from);

/* ---- the books (books.c) ---------------------------------------------- */

typedef struct lt__rev_row {
  int64_t gift_cents, gmv_cents;
  uint64_t gifts, purchases;
} lt__rev_row_t;

typedef struct lt__books {
  lt_u64map_t camp_by_name; /* hash(id) -> cid + 1 */
  lt_u64map_t owner;        /* item + 1 -> cid + 1: the campaign a creative belongs to */
  lt_u64map_t ledger;       /* lt__ledger_key(cid, day, hour) -> index + 1 into counts */
  lt_ads_counts_t *counts;
  size_t ncounts, ccap;
  lt_u64map_t days; /* day + 1 -> index + 1 into rdays */
  lt_ads_revenue_day_t *rdays;
  size_t nrdays, rdcap;
  lt_u64map_t rows; /* lt__row_key(by, day, id) -> index + 1 into rows */
  lt__rev_row_t *rrows;
  size_t nrows, rcap;
  /* item metadata as of the record being applied (dense item ids) */
  uint32_t *item_creator;
  uint8_t *item_flags; /* LT__IF_* */
  size_t nitems;
} lt__books_t;

enum { LT__IF_LIVE = 1, LT__IF_AIGC = 2, LT__IF_KNOWN = 4 };

static inline uint64_t lt__ledger_key(uint32_t cid, int32_t day, uint32_t hour) {
  return lt_u64map_key(((uint64_t)cid + 1) << 24 | ((uint64_t)(uint16_t)day) << 5 | hour);
}
static inline uint64_t lt__row_key(int by, int32_t day, uint32_t id) {
  return lt_u64map_key((uint64_t)(by + 1) << 56 | ((uint64_t)(uint16_t)day) << 32 | id);
}

void lt__books_init(lt__books_t *b);
void lt__books_free(lt__books_t *b);
/* Counters of (cid, day, hour) (LT__ADS_HOUR_DAY = the day), created when
 * create; NULL when absent (or out of memory: a->degraded is set). */
lt_ads_counts_t *lt__ledger(lt_ads_t *a, uint32_t cid, int32_t day, uint32_t hour, int create);
lt_ads_revenue_day_t *lt__rday(lt_ads_t *a, int32_t day, int create);
lt__rev_row_t *lt__rrow(lt_ads_t *a, int by, int32_t day, uint32_t id, int create);
/* Records the item metadata of an ITEM_PUT (writer, under book). */
void lt__books_item(lt_ads_t *a, uint32_t item, uint32_t creator, int live, int aigc);

/* ---- the engine ------------------------------------------------------- */

struct lt_ads {
  lt_ads_opts_t o;
  lt_store_t *store;
  lt_state_t *st;
  int attached;      /* atomic */
  uint64_t next_lsn; /* ext records below this were covered by the scan */
  int scanning;      /* the attach scan is running (no served table yet) */

  pthread_mutex_t admin;    /* campaign writes from the API */
  pthread_rwlock_t book;    /* the books, campaign names, creative owners */
  pthread_mutex_t def_lock; /* def swaps and the retired list */
  lt__camp_t **camps;       /* LT__ADS_MAX_CAMPAIGNS slots */
  uint32_t ncamps;          /* atomic (release after the slot is ready) */
  lt__cdef_t *retired;
  lt__books_t b;
  int degraded; /* an allocation failed in the writer path */

  lt__model_t *model;
  lt__sstripe_t sstripe[LT__ADS_STRIPES];
  uint32_t ngen, gen_ms;  /* generations and their length */
  int64_t gen_started_ms; /* tick: when gen[cur] started */
  lt__fstripe_t fstripe[LT__ADS_STRIPES];

  /* time: the local day the last tick saw and its bounds (atomic) */
  int32_t today;
  int64_t day_start_ms, day_len_ms;
  int64_t last_pace_ms;
  int32_t max_event_day; /* latest local day of an ad event seen (writer) */

  /* ad-free group names, split from the option at lt_ads_new */
  uint32_t nadfree;
  char adfree[LT__ADS_MAX_ADFREE][LT_ADS_MAX_ID + 1];

  /* the plan curve: opportunities per bucket today (atomic) and the learned
   * traffic shape (tick only) */
  uint64_t opp[LT__ADS_BUCKETS];
  int32_t opp_day;
  double curve[LT__ADS_BUCKETS];
  int has_curve;

  lt_ads_metrics_t m; /* atomic counters */
};

#define LT__ATOMIC_INC(p) __atomic_fetch_add((p), 1, __ATOMIC_RELAXED)

static inline int64_t lt__hour_cap(const lt_ads_t *a, const lt__cdef_t *d) {
  return a->o.hour_cap_share > 0
             ? (int64_t)((double)d->budget_cents * LT_UCENTS_PER_CENT * a->o.hour_cap_share)
             : 0;
}

/* Local day / hour of a time (unix ms), days clamped at 0 as the state does. */
int32_t lt__day_of(const lt_ads_t *a, int64_t ts_ms, uint32_t *hour);

static inline lt__camp_t *lt__camp(const lt_ads_t *a, uint32_t cid) {
  return cid < __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE) ? a->camps[cid] : NULL;
}
static inline const lt__cdef_t *lt__def(const lt__camp_t *c) {
  return __atomic_load_n(&c->def, __ATOMIC_ACQUIRE);
}
/* The most a billable event of this campaign may be billed, ucents. */
static inline int64_t lt__max_price(const lt__cdef_t *d) {
  return d->bid_type == LT_BID_CPM ? d->bid_cents * 1000 : d->bid_cents * LT_UCENTS_PER_CENT;
}
static inline int lt__billable(int bid_type, int ev_type) {
  return bid_type == LT_BID_CPC ? ev_type == LT_EV_AD_CLICK : ev_type == LT_EV_AD_IMPRESSION;
}
/* The runtime budget slot of day (camp mu held): reset when it holds an
 * older day; NULL when it holds a newer one. */
static inline lt__rt_t *lt__rt_slot(lt__camp_t *c, int32_t day) {
  lt__rt_t *s = &c->rt[day & 1];
  if (s->day == day) return s;
  if (s->day > day) return NULL;
  s->day = day;
  s->spent = s->reserved = 0;
  return s;
}

/* The hour slot for key = day * 24 + hour, as lt__rt_slot. */
static inline lt__rt_t *lt__hr_slot(lt__camp_t *c, int32_t key) {
  lt__rt_t *s = &c->hr;
  if (s->day == key) return s;
  if (s->day > key) return NULL;
  s->day = key;
  s->spent = s->reserved = 0;
  return s;
}
/* The hourly ceiling of a campaign in ucents (0 = none). */
static inline int64_t lt__hour_cap(const lt_ads_t *a, const lt__cdef_t *d);

/* Checks the books' invariants (books.c). */
int lt__books_check(lt_ads_t *a);

static inline int64_t lt__sat_add(int64_t x, int64_t y) {
  int64_t r;
  return __builtin_add_overflow(x, y, &r) ? (y > 0 ? INT64_MAX : INT64_MIN) : r;
}


#endif
