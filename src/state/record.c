/*
 * record.c — validation and binary codec of log records (format in
 * record.h). Decoding is total: any byte string either decodes into a
 * record that passes lt_record_check or is rejected, so a hostile log
 * can never smuggle an out-of-range value into state.
 */
#include "state/record.h"

#include "core/error.h"

#include <string.h>

static const char *const type_names[] = {
#define LT__EV_NAME(name, text) text,
    LT_EVENT_TYPES(LT__EV_NAME)
#undef LT__EV_NAME
};

int lt_event_type_parse(const char *s, size_t n, int *type) {
  for (int i = 0; i < LT_EV__COUNT; i++)
    if (strlen(type_names[i]) == n && !memcmp(type_names[i], s, n)) {
      *type = i;
      return LT_OK;
    }
  return LT_EINVAL;
}

const char *lt_event_type_name(int type) {
  return type >= 0 && type < LT_EV__COUNT ? type_names[type] : "?";
}

static const char *const kind_names[] = {"video", "live", "drama"};

int lt_item_kind_parse(const char *s, size_t n, int *kind) {
  for (int i = 0; i < 3; i++)
    if (strlen(kind_names[i]) == n && !memcmp(kind_names[i], s, n)) {
      *kind = i;
      return LT_OK;
    }
  return LT_EINVAL;
}

const char *lt_item_kind_name(int kind) { return kind >= 0 && kind < 3 ? kind_names[kind] : "?"; }

/* An id: 1..LT_MAX_STR bytes, no control characters. */
static int id_ok(lt_str_t s) {
  if (s.n == 0 || s.n > LT_MAX_STR || !s.p) return 0;
  for (size_t i = 0; i < s.n; i++)
    if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) return 0;
  return 1;
}

static int opt_ok(lt_str_t s) { return s.n == 0 || id_ok(s); }

int lt_record_id_ok(lt_str_t s) { return id_ok(s); }

#define FAIL(msg)          \
  do {                     \
    if (why) *why = (msg); \
    return LT_EINVAL;      \
  } while (0)

int lt_record_check(const lt_record_t *r, const char **why) {
  switch (r->kind) {
  case LT_REC_EVENT: {
    const lt_event_t *e = &r->u.ev;
    if (!id_ok(e->user)) FAIL("user must be 1-255 bytes without control characters");
    if (!id_ok(e->item)) FAIL("item must be 1-255 bytes without control characters");
    if (!opt_ok(e->id)) FAIL("id must be 1-255 bytes without control characters");
    if (!opt_ok(e->request_id)) FAIL("request_id must be at most 255 bytes");
    if (e->type >= LT_EV__COUNT) FAIL("unknown event type");
    if (e->ts_ms < 0 || e->ts_ms > LT_TS_MAX_MS) FAIL("ts must be between 1970 and 2149");
    if (e->position < -1) FAIL("position must be >= 0");
    if (!(e->weight >= 0 && e->weight <= 1e6f)) FAIL("weight must be in [0, 1e6]");
    if (!(e->propensity >= 0 && e->propensity <= 1)) FAIL("propensity must be in [0, 1]");
    if (e->value < 0 && (e->type == LT_EV_PURCHASE || e->type == LT_EV_GIFT))
      FAIL("value must be >= 0");
    return LT_OK;
  }
  case LT_REC_ITEM_PUT: {
    const lt_item_rec_t *it = &r->u.item;
    if (!id_ok(it->id)) FAIL("item id must be 1-255 bytes without control characters");
    if (!id_ok(it->creator)) FAIL("creator is required (1-255 bytes)");
    if (it->kind > LT_KIND_DRAMA) FAIL("kind must be video, live or drama");
    if (it->ntags > LT_MAX_TAGS) FAIL("at most 16 tags");
    for (uint32_t i = 0; i < it->ntags; i++)
      if (!id_ok(it->tags[i])) FAIL("tags must be 1-255 bytes without control characters");
    if (!opt_ok(it->product_id)) FAIL("product id must be at most 255 bytes");
    if (it->price_cents < 0) FAIL("price_cents must be >= 0");
    if (it->live_end_ms && it->live_end_ms < it->live_start_ms) FAIL("live end before start");
    if (it->published_at_ms < 0 || it->published_at_ms > LT_TS_MAX_MS || it->live_start_ms < 0 ||
        it->live_start_ms > LT_TS_MAX_MS || it->live_end_ms < 0 || it->live_end_ms > LT_TS_MAX_MS ||
        it->ts_ms < 0 || it->ts_ms > LT_TS_MAX_MS)
      FAIL("times must be between 1970 and 2149");
    return LT_OK;
  }
  case LT_REC_ITEM_DEL:
    if (!id_ok(r->u.del.id)) FAIL("item id must be 1-255 bytes");
    return LT_OK;
  case LT_REC_USER_PUT:
    if (!id_ok(r->u.user.id)) FAIL("user id must be 1-255 bytes without control characters");
    if (r->u.user.ngroups > LT_MAX_GROUPS) FAIL("at most 16 groups");
    for (uint32_t i = 0; i < r->u.user.ngroups; i++)
      if (!id_ok(r->u.user.groups[i])) FAIL("groups must be 1-255 bytes");
    return LT_OK;
  case LT_REC_CREATOR_PUT:
    if (!id_ok(r->u.creator.id)) FAIL("creator id must be 1-255 bytes");
    if (r->u.creator.name.n > LT_MAX_STR) FAIL("name must be at most 255 bytes");
    return LT_OK;
  case LT_REC_FOLLOW:
  case LT_REC_UNFOLLOW:
    if (!id_ok(r->u.follow.user) || !id_ok(r->u.follow.creator))
      FAIL("user and creator must be 1-255 bytes");
    return LT_OK;
  default:
    FAIL("unknown record kind");
  }
}

int lt_record_encode(const lt_record_t *r, lt_buf_t *b) {
  int rc = lt_record_check(r, NULL);
  if (rc) return rc;
  lt_buf_u8(b, r->kind);
  switch (r->kind) {
  case LT_REC_EVENT: {
    const lt_event_t *e = &r->u.ev;
    lt_buf_u8(b, e->type);
    lt_buf_str(b, e->id.p, e->id.n);
    lt_buf_str(b, e->user.p, e->user.n);
    lt_buf_str(b, e->item.p, e->item.n);
    lt_buf_str(b, e->request_id.p, e->request_id.n);
    lt_buf_svar(b, e->ts_ms);
    lt_buf_uvar(b, e->watch_ms);
    lt_buf_svar(b, e->value);
    lt_buf_svar(b, e->position);
    lt_buf_uvar(b, e->duration_ms);
    lt_buf_f32(b, e->weight);
    lt_buf_f32(b, e->propensity);
    break;
  }
  case LT_REC_ITEM_PUT: {
    const lt_item_rec_t *it = &r->u.item;
    lt_buf_str(b, it->id.p, it->id.n);
    lt_buf_str(b, it->creator.p, it->creator.n);
    lt_buf_u8(b, it->kind);
    lt_buf_u8(b, it->aigc);
    lt_buf_uvar(b, it->duration_ms);
    lt_buf_svar(b, it->published_at_ms);
    lt_buf_uvar(b, it->ntags);
    for (uint32_t i = 0; i < it->ntags; i++) lt_buf_str(b, it->tags[i].p, it->tags[i].n);
    lt_buf_str(b, it->product_id.p, it->product_id.n);
    lt_buf_svar(b, it->price_cents);
    lt_buf_svar(b, it->live_start_ms);
    lt_buf_svar(b, it->live_end_ms);
    lt_buf_svar(b, it->ts_ms);
    break;
  }
  case LT_REC_ITEM_DEL:
    lt_buf_str(b, r->u.del.id.p, r->u.del.id.n);
    lt_buf_svar(b, r->u.del.ts_ms);
    break;
  case LT_REC_USER_PUT:
    lt_buf_str(b, r->u.user.id.p, r->u.user.id.n);
    lt_buf_uvar(b, r->u.user.ngroups);
    for (uint32_t i = 0; i < r->u.user.ngroups; i++)
      lt_buf_str(b, r->u.user.groups[i].p, r->u.user.groups[i].n);
    lt_buf_svar(b, r->u.user.ts_ms);
    break;
  case LT_REC_CREATOR_PUT:
    lt_buf_str(b, r->u.creator.id.p, r->u.creator.id.n);
    lt_buf_str(b, r->u.creator.name.p, r->u.creator.name.n);
    lt_buf_svar(b, r->u.creator.created_at_ms);
    break;
  case LT_REC_FOLLOW:
  case LT_REC_UNFOLLOW:
    lt_buf_str(b, r->u.follow.user.p, r->u.follow.user.n);
    lt_buf_str(b, r->u.follow.creator.p, r->u.follow.creator.n);
    lt_buf_svar(b, r->u.follow.ts_ms);
    break;
  }
  return b->err;
}

static lt_str_t rd_str(lt_rd_t *rd) {
  lt_str_t s;
  s.p = lt_rd_str(rd, &s.n, LT_MAX_STR);
  return s;
}

int lt_record_decode(const void *p, size_t n, lt_record_t *r) {
  lt_rd_t rd;
  lt_rd_init(&rd, p, n);
  memset(r, 0, sizeof *r);
  r->kind = lt_rd_u8(&rd);
  if (rd.err) return LT_ECORRUPT;
  switch (r->kind) {
  case LT_REC_EVENT: {
    lt_event_t *e = &r->u.ev;
    e->type = lt_rd_u8(&rd);
    e->id = rd_str(&rd);
    e->user = rd_str(&rd);
    e->item = rd_str(&rd);
    e->request_id = rd_str(&rd);
    e->ts_ms = lt_rd_svar(&rd);
    uint64_t w = lt_rd_uvar(&rd);
    e->watch_ms = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    e->value = lt_rd_svar(&rd);
    int64_t pos = lt_rd_svar(&rd);
    e->position = pos < -1 || pos > INT32_MAX ? -2 : (int32_t)pos;
    uint64_t d = lt_rd_uvar(&rd);
    e->duration_ms = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    e->weight = lt_rd_f32(&rd);
    e->propensity = lt_rd_f32(&rd);
    break;
  }
  case LT_REC_ITEM_PUT: {
    lt_item_rec_t *it = &r->u.item;
    it->id = rd_str(&rd);
    it->creator = rd_str(&rd);
    it->kind = lt_rd_u8(&rd);
    it->aigc = lt_rd_u8(&rd) ? 1 : 0;
    uint64_t d = lt_rd_uvar(&rd);
    it->duration_ms = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    it->published_at_ms = lt_rd_svar(&rd);
    uint64_t nt = lt_rd_uvar(&rd);
    if (nt > LT_MAX_TAGS) return LT_ECORRUPT;
    it->ntags = (uint32_t)nt;
    for (uint32_t i = 0; i < it->ntags; i++) it->tags[i] = rd_str(&rd);
    it->product_id = rd_str(&rd);
    it->price_cents = lt_rd_svar(&rd);
    it->live_start_ms = lt_rd_svar(&rd);
    it->live_end_ms = lt_rd_svar(&rd);
    it->ts_ms = lt_rd_svar(&rd);
    break;
  }
  case LT_REC_ITEM_DEL:
    r->u.del.id = rd_str(&rd);
    r->u.del.ts_ms = lt_rd_svar(&rd);
    break;
  case LT_REC_USER_PUT: {
    r->u.user.id = rd_str(&rd);
    uint64_t ng = lt_rd_uvar(&rd);
    if (ng > LT_MAX_GROUPS) return LT_ECORRUPT;
    r->u.user.ngroups = (uint32_t)ng;
    for (uint32_t i = 0; i < r->u.user.ngroups; i++) r->u.user.groups[i] = rd_str(&rd);
    r->u.user.ts_ms = lt_rd_svar(&rd);
    break;
  }
  case LT_REC_CREATOR_PUT:
    r->u.creator.id = rd_str(&rd);
    r->u.creator.name = rd_str(&rd);
    r->u.creator.created_at_ms = lt_rd_svar(&rd);
    break;
  case LT_REC_FOLLOW:
  case LT_REC_UNFOLLOW:
    r->u.follow.user = rd_str(&rd);
    r->u.follow.creator = rd_str(&rd);
    r->u.follow.ts_ms = lt_rd_svar(&rd);
    break;
  default:
    return r->kind >= LT_REC_EXT_BASE ? LT_EVERSION : LT_ECORRUPT;
  }
  if (rd.err || rd.p != rd.end) return LT_ECORRUPT;
  return lt_record_check(r, NULL) ? LT_ECORRUPT : LT_OK;
}
