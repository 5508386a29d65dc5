/*
 * fuzz_snapshot.c — libFuzzer target for the snapshot loader,
 * lt_state_load (src/state/snapshot.c).
 *
 * A snapshot file is input: a disk can rot, an operator can copy the wrong
 * file in, an attacker with write access to the data directory can craft
 * one. The loader promises "a malformed or hostile file is rejected
 * (LT_ECORRUPT / LT_EVERSION), never trusted".
 *
 * Input: byte 0 is a flag byte.
 *   bit 0 set: RAW — the rest is the whole file, as is (almost always
 *              stopped by the trailing XXH3, which is the point to test).
 *   bit 0 clear: BODY — the rest is the body; the target frames it as the
 *              writer does ("LTSNAP1\n", u32le version 2, body, XXH3-64 of
 *              all before), so the fuzzer explores the decoder behind the
 *              checksum — what a hostile file can reach.
 *   bit 1: after loading, apply a few records (events, catalog, follows) to
 *          the loaded state: a loaded state must be as usable as a built one.
 * Checks, beyond "no crash, no sanitizer report":
 *   1. lt_state_load returns LT_OK, LT_ECORRUPT, LT_EVERSION or LT_ENOMEM;
 *   2. a loaded state reads back through every public reader with every
 *      returned id in range (state_check.h);
 *   3. saving it and loading that back gives a state that reads exactly
 *      alike through every reader (state_check.h digests them all) and
 *      saves to the same length (the event-id set is written in hash
 *      order, so bytes may differ);
 *   4. with bit 1, records apply (LT_OK / LT_EDUPLICATE) and the state
 *      still reads back and round-trips.
 */
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "state/record.h"
#include "state/state.h"
#include "state_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static lt_state_opts_t opts(void) {
  lt_state_opts_t o;
  lt_state_opts_default(&o);
  o.history_cap = 8; /* must match the seeds (fuzz/gen_seeds.c) */
  return o;
}

/* save -> load: the loaded state reads exactly as the saved one, and its
 * snapshot has the same length (the event-id set is written in hash-table
 * order, so the bytes may differ; a lost or added id changes the length). */
static void round_trip(lt_state_t *st) {
  lt_state_opts_t o = opts();
  size_t n1, n2;
  char *s1 = save(st, &n1);
  lt_state_t *b;
  int rc = lt_state_load(s1, n1, &o, &b);
  if (rc) fprintf(stderr, "fuzz_snapshot: a saved state does not load: %s\n", lt_strerror(rc));
  CHECK(rc == LT_OK);
  CHECK(read_all(b) == read_all(st));
  char *s2 = save(b, &n2);
  CHECK(n1 == n2);
  free(s1);
  free(s2);
  lt_state_free(b);
}

static void apply_some(lt_state_t *st) {
  uint32_t nu = lt_state_count(st, LT_NS_USER), ni = lt_state_count(st, LT_NS_ITEM),
           nc = lt_state_count(st, LT_NS_CREATOR);
  lt_record_t r;
  const char *user = nu ? lt_state_name(st, LT_NS_USER, nu - 1) : "new-user";
  const char *item = ni ? lt_state_name(st, LT_NS_ITEM, 0) : "new-item";
  const char *creator = nc ? lt_state_name(st, LT_NS_CREATOR, 0) : "new-creator";
  CHECK(user && item && creator);
  for (int k = 0; k < 12; k++) { /* more than history_cap: the ring wraps */
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_EVENT;
    r.u.ev.user = lt_str_of(user);
    r.u.ev.item = lt_str_of(k & 1 ? item : "another-item");
    r.u.ev.type = (uint8_t)(k % LT_EV__COUNT);
    r.u.ev.ts_ms = 1764261000000LL + k * 86400000LL;
    r.u.ev.watch_ms = 1000u * (unsigned)k;
    r.u.ev.position = -1;
    int rc = lt_state_apply(st, &r, 0);
    CHECK(rc == LT_OK || rc == LT_EDUPLICATE || rc == LT_ENOMEM);
  }
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_PUT;
  r.u.item.id = lt_str_of(item);
  r.u.item.creator = lt_str_of(creator);
  r.u.item.ntags = 1;
  r.u.item.tags[0] = LT_STR("fuzz");
  CHECK(lt_state_apply(st, &r, 0) == LT_OK);
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_FOLLOW;
  r.u.follow.user = lt_str_of(user);
  r.u.follow.creator = lt_str_of(creator);
  CHECK(lt_state_apply(st, &r, 0) == LT_OK);
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_USER_PUT;
  r.u.user.id = lt_str_of(user);
  r.u.user.ngroups = 1;
  r.u.user.groups[0] = LT_STR("staff");
  CHECK(lt_state_apply(st, &r, 0) == LT_OK);
  memset(&r, 0, sizeof r);
  r.kind = LT_REC_ITEM_DEL;
  r.u.del.id = lt_str_of(item);
  CHECK(lt_state_apply(st, &r, 0) == LT_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0];
  const unsigned char *file = data + 1;
  size_t n = size - 1;
  unsigned char *framed = NULL;
  if (!(flags & 1)) {
    n = 12 + (size - 1) + 8;
    framed = malloc(n);
    CHECK(framed);
    memcpy(framed, "LTSNAP1\n", 8);
    lt_store_u32le(framed + 8, 2); /* the format version of src/state/snapshot.c */
    if (size > 1) memcpy(framed + 12, data + 1, size - 1);
    lt_store_u64le(framed + n - 8, XXH3_64bits(framed, n - 8));
    file = framed;
  }
  lt_state_opts_t o = opts();
  lt_state_t *st = NULL;
  int rc = lt_state_load(file, n, &o, &st);
  CHECK(rc == LT_OK || rc == LT_ECORRUPT || rc == LT_EVERSION || rc == LT_ENOMEM);
  if (rc == LT_OK) {
    read_all(st);
    round_trip(st);
    if (flags & 2) {
      apply_some(st);
      read_all(st);
      round_trip(st);
    }
    lt_state_free(st);
  }
  free(framed);
  return 0;
}
