/*
 * record.h — what the event log carries: events and catalog changes, and
 * their binary encoding.
 *
 * Every change to laotie's state is one record in the log; state is derived
 * by applying records in log order. External ids travel as strings so a
 * replay interns them exactly as the first run did.
 *
 * Encoding (all integers varints, strings uvar length + bytes, see buf.h):
 *   u8 kind, then per kind:
 *   EVENT:   u8 type, str id, str user, str item, str request_id, svar ts_ms,
 *            uvar watch_ms, svar value, svar position (-1 = none),
 *            uvar duration_ms (item duration hint, 0 = unknown),
 *            f32 weight, f32 propensity
 *   ITEM_PUT: str id, str creator, u8 kind, u8 aigc, uvar duration_ms,
 *            svar published_at_ms, uvar ntags, ntags x str, str product_id,
 *            svar price_cents, svar live_start_ms, svar live_end_ms,
 *            svar ts_ms (when it was put; the publish time when none given)
 *   ITEM_DEL: str id, svar ts_ms
 *   USER_PUT: str id, uvar ngroups, ngroups x str, svar ts_ms
 *   CREATOR_PUT: str id, str name, svar created_at_ms
 *   FOLLOW / UNFOLLOW: str user, str creator, svar ts_ms
 * Kinds >= LT_REC_EXT_BASE belong to higher layers (ads campaigns, ...):
 * state skips them, their owners decode them.
 */
#ifndef LT_STATE_RECORD_H
#define LT_STATE_RECORD_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define LT_MAX_TAGS 16
#define LT_MAX_GROUPS 16
#define LT_MAX_STR 255 /* longest id / tag / name in a record */
/* Latest event time accepted (2149-06-01 UTC): days are counted in 16 bits. */
#define LT_TS_MAX_MS 5660000000000LL

typedef struct lt_str {
  const char *p;
  size_t n;
} lt_str_t;

#define LT_STR(lit) ((lt_str_t){(lit), sizeof(lit) - 1})
static inline lt_str_t lt_str_of(const char *s);

enum {
  LT_REC_EVENT = 1,
  LT_REC_ITEM_PUT = 2,
  LT_REC_ITEM_DEL = 3,
  LT_REC_USER_PUT = 4,
  LT_REC_CREATOR_PUT = 5,
  LT_REC_FOLLOW = 6,
  LT_REC_UNFOLLOW = 7,
  LT_REC_EXT_BASE = 64 /* 64..255: records of higher layers */
};

#define LT_EVENT_TYPES(X)                                                           \
  X(IMPRESSION, "impression") X(PLAY, "play") X(LIKE, "like") X(COMMENT, "comment") \
  X(SHARE, "share") X(FOLLOW, "follow") X(UNFOLLOW, "unfollow")                     \
  X(NOT_INTERESTED, "not_interested") X(PURCHASE, "purchase") X(GIFT, "gift")       \
  X(AD_IMPRESSION, "ad_impression") X(AD_CLICK, "ad_click")                         \
  X(AD_CONVERSION, "ad_conversion")

typedef enum {
#define LT__EV_ENUM(name, text) LT_EV_##name,
  LT_EVENT_TYPES(LT__EV_ENUM)
#undef LT__EV_ENUM
  LT_EV__COUNT
} lt_event_type_t;

/* "play" -> LT_EV_PLAY. Returns 0 or LT_EINVAL. */
int lt_event_type_parse(const char *s, size_t n, int *type);
/* LT_EV_PLAY -> "play" ("?" when out of range). */
const char *lt_event_type_name(int type);

typedef enum { LT_KIND_VIDEO = 0, LT_KIND_LIVE = 1, LT_KIND_DRAMA = 2 } lt_item_kind_t;
int lt_item_kind_parse(const char *s, size_t n, int *kind);
const char *lt_item_kind_name(int kind);

typedef struct lt_event {
  lt_str_t id;         /* optional: idempotency key */
  lt_str_t user, item; /* required */
  lt_str_t request_id; /* optional: the feed request that showed the item */
  int64_t ts_ms;
  uint8_t type;         /* lt_event_type_t */
  uint32_t watch_ms;
  int64_t value;        /* cents for purchase / gift; free otherwise */
  int32_t position;     /* slot in the feed, -1 = unknown */
  uint32_t duration_ms; /* item duration hint from importers, 0 = unknown */
  float weight;         /* explicit strength (e.g. a rating), 0 = none */
  float propensity;     /* probability the policy showed it, 0 = unknown */
  /* Not encoded: the dense ids lt_state_apply gave user and item when it
   * applied this event (ids_set = 1), so the store's observer, which gets
   * the applied records, need not intern the strings again
   * (lt_state_event_ids). ids_set = 0 (a record parsed or decoded, not
   * applied by this state): look the strings up. */
  uint8_t ids_set;
  uint32_t user_id, item_id;
} lt_event_t;

typedef struct lt_item_rec {
  lt_str_t id, creator;
  uint8_t kind, aigc;
  uint32_t duration_ms;
  int64_t published_at_ms; /* 0 = unknown */
  uint32_t ntags;
  lt_str_t tags[LT_MAX_TAGS];
  lt_str_t product_id; /* empty = none */
  int64_t price_cents;
  int64_t live_start_ms, live_end_ms; /* 0 = none */
  int64_t ts_ms;                      /* when it was put; 0 = unknown */
} lt_item_rec_t;

typedef struct lt_user_rec {
  lt_str_t id;
  uint32_t ngroups;
  lt_str_t groups[LT_MAX_GROUPS];
  int64_t ts_ms;
} lt_user_rec_t;

typedef struct lt_creator_rec {
  lt_str_t id, name;
  int64_t created_at_ms;
} lt_creator_rec_t;

typedef struct lt_follow_rec {
  lt_str_t user, creator;
  int64_t ts_ms;
} lt_follow_rec_t;

typedef struct lt_item_del_rec {
  lt_str_t id;
  int64_t ts_ms;
} lt_item_del_rec_t;

typedef struct lt_record {
  uint8_t kind;
  union {
    lt_event_t ev;
    lt_item_rec_t item;
    lt_item_del_rec_t del;
    lt_user_rec_t user;
    lt_creator_rec_t creator;
    lt_follow_rec_t follow;
  } u;
} lt_record_t;

/* Validates a record (required fields present, lengths within limits, enums
 * in range). Returns 0 or LT_EINVAL with a static reason in *why. */
int lt_record_check(const lt_record_t *r, const char **why);

/* An id as every record must give it (user, item, creator, tag, group,
 * product): 1..LT_MAX_STR bytes, no control characters. A snapshot's
 * names are held to it too (state/snapshot.c). */
int lt_record_id_ok(lt_str_t s);

/* Appends the encoding of r to out. Returns 0, LT_EINVAL (fails check) or
 * LT_ENOMEM. */
int lt_record_encode(const lt_record_t *r, lt_buf_t *out);

/* Decodes p[0..n) into *r; strings point into p (valid while p is).
 * Returns 0, LT_ECORRUPT (malformed) or LT_EVERSION (kind unknown to this
 * layer: r->kind is set, for kinds >= LT_REC_EXT_BASE). */
int lt_record_decode(const void *p, size_t n, lt_record_t *r);

#include <string.h>
static inline lt_str_t lt_str_of(const char *s) {
  lt_str_t v = {s, s ? strlen(s) : 0};
  return v;
}
static inline int lt_str_eq(lt_str_t a, const char *b) {
  size_t n = strlen(b);
  return a.n == n && memcmp(a.p, b, n) == 0;
}

#endif
