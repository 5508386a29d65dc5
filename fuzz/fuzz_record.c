/*
 * fuzz_record.c — libFuzzer target for the log record codec
 * (src/state/record.c) and for what replay does with a decoded record
 * (lt_state_apply), ending in a snapshot round trip (src/state/snapshot.c).
 *
 * A log file is input like any other: a frame's checksum proves only that
 * the bytes are the ones written, not that whoever wrote them was honest.
 * Replay (store.c apply_encoded) decodes each record and applies it to the
 * state with no other check, so decoding must reject everything apply
 * cannot take.
 *
 * Input: a sequence of records, each a uvar length then that many bytes
 * (a length running past the end takes what is left). For each record:
 *   1. lt_record_decode either fails (LT_ECORRUPT, or LT_EVERSION for kinds
 *      >= LT_REC_EXT_BASE) or gives a record that passes lt_record_check;
 *   2. a decoded record re-encodes (lt_record_encode), the encoding decodes
 *      to the same record field for field, and encoding that again gives
 *      the same bytes (the encoder is canonical);
 *   3. it is applied to one state, as replay would: LT_OK, LT_EDUPLICATE
 *      (events with a seen id) or LT_ENOMEM only.
 * After the last record the state is read through its public readers (every
 * user, item and creator), saved and loaded back: the loaded state must
 * read exactly alike (state_check.h's digest) and save to the same length.
 */
#include "core/buf.h"
#include "core/error.h"
#include "state/record.h"
#include "state/state.h"
#include "state_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int str_eq(lt_str_t a, lt_str_t b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

static int same(const lt_record_t *a, const lt_record_t *b) {
  if (a->kind != b->kind) return 0;
  switch (a->kind) {
  case LT_REC_EVENT: {
    const lt_event_t *x = &a->u.ev, *y = &b->u.ev;
    return str_eq(x->id, y->id) && str_eq(x->user, y->user) && str_eq(x->item, y->item) &&
           str_eq(x->request_id, y->request_id) && x->ts_ms == y->ts_ms && x->type == y->type &&
           x->watch_ms == y->watch_ms && x->value == y->value && x->position == y->position &&
           x->duration_ms == y->duration_ms && !memcmp(&x->weight, &y->weight, 4) &&
           !memcmp(&x->propensity, &y->propensity, 4);
  }
  case LT_REC_ITEM_PUT: {
    const lt_item_rec_t *x = &a->u.item, *y = &b->u.item;
    if (!str_eq(x->id, y->id) || !str_eq(x->creator, y->creator) || x->kind != y->kind ||
        x->aigc != y->aigc || x->duration_ms != y->duration_ms ||
        x->published_at_ms != y->published_at_ms || x->ntags != y->ntags ||
        !str_eq(x->product_id, y->product_id) || x->price_cents != y->price_cents ||
        x->live_start_ms != y->live_start_ms || x->live_end_ms != y->live_end_ms)
      return 0;
    for (uint32_t i = 0; i < x->ntags; i++)
      if (!str_eq(x->tags[i], y->tags[i])) return 0;
    return 1;
  }
  case LT_REC_ITEM_DEL:
    return str_eq(a->u.del.id, b->u.del.id) && a->u.del.ts_ms == b->u.del.ts_ms;
  case LT_REC_USER_PUT:
    if (!str_eq(a->u.user.id, b->u.user.id) || a->u.user.ngroups != b->u.user.ngroups ||
        a->u.user.ts_ms != b->u.user.ts_ms)
      return 0;
    for (uint32_t i = 0; i < a->u.user.ngroups; i++)
      if (!str_eq(a->u.user.groups[i], b->u.user.groups[i])) return 0;
    return 1;
  case LT_REC_CREATOR_PUT:
    return str_eq(a->u.creator.id, b->u.creator.id) &&
           str_eq(a->u.creator.name, b->u.creator.name) &&
           a->u.creator.created_at_ms == b->u.creator.created_at_ms;
  case LT_REC_FOLLOW:
  case LT_REC_UNFOLLOW:
    return str_eq(a->u.follow.user, b->u.follow.user) &&
           str_eq(a->u.follow.creator, b->u.follow.creator) &&
           a->u.follow.ts_ms == b->u.follow.ts_ms;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_state_opts_t so;
  lt_state_opts_default(&so);
  so.history_cap = 8; /* small, so that the history ring wraps */
  /* made on the first record that decodes: a state costs ~3 ms under ASan
   * (its arrays come in 64K-element chunks), most inputs decode nothing */
  lt_state_t *st = NULL;
  lt_buf_t enc, enc2;
  lt_buf_init(&enc);
  lt_buf_init(&enc2);
  lt_rd_t rd;
  lt_rd_init(&rd, data, size);
  uint64_t lsn = 0;
  for (int k = 0; k < 256 && rd.p < rd.end; k++) {
    uint64_t len = lt_rd_uvar(&rd);
    if (rd.err) break;
    size_t left = (size_t)(rd.end - rd.p);
    size_t n = len > left ? left : (size_t)len;
    const uint8_t *p = rd.p;
    rd.p += n;
    lt_record_t r;
    int rc = lt_record_decode(p, n, &r);
    CHECK(rc == LT_OK || rc == LT_ECORRUPT || rc == LT_EVERSION);
    if (rc == LT_EVERSION) CHECK(r.kind >= LT_REC_EXT_BASE);
    if (rc) continue;
    CHECK(lt_record_check(&r, NULL) == LT_OK);
    lt_buf_reset(&enc);
    CHECK(lt_record_encode(&r, &enc) == LT_OK);
    lt_record_t r2;
    CHECK(lt_record_decode(enc.p, enc.len, &r2) == LT_OK);
    CHECK(same(&r, &r2));
    lt_buf_reset(&enc2);
    CHECK(lt_record_encode(&r2, &enc2) == LT_OK);
    CHECK(enc.len == enc2.len && !memcmp(enc.p, enc2.p, enc.len));
    if (!st && lt_state_new(&so, &st)) abort();
    rc = lt_state_apply(st, &r, lsn);
    CHECK(rc == LT_OK || rc == LT_EDUPLICATE || rc == LT_ENOMEM);
    lsn += 8 + n;
    lt_state_set_applied(st, lsn);
  }
  lt_buf_free(&enc);
  lt_buf_free(&enc2);
  if (!st) return 0;
  uint64_t d1 = read_all(st);
  size_t n1, n2;
  char *s1 = save(st, &n1);
  lt_state_t *back;
  int rc = lt_state_load(s1, n1, &so, &back);
  if (rc) fprintf(stderr, "fuzz_record: a saved state does not load: %s\n", lt_strerror(rc));
  CHECK(rc == LT_OK);
  CHECK(read_all(back) == d1);
  char *s2 = save(back, &n2);
  CHECK(n1 == n2); /* event ids are written in hash order: bytes may differ */
  lt_state_totals_t t1, t2;
  lt_state_totals(st, &t1);
  lt_state_totals(back, &t2);
  CHECK(!memcmp(&t1, &t2, sizeof t1));
  free(s1);
  free(s2);
  lt_state_free(back);
  lt_state_free(st);
  return 0;
}
