/*
 * gen_seeds.c — writes the seed corpora of fuzz_record, fuzz_snapshot,
 * fuzz_log and fuzz_route into fuzz/corpus/<target>/seed-*, made with the
 * real encoders (record codec, lt_state_save, lt_log_append) so that the
 * seeds are valid inputs the fuzzer mutates from. Run by fuzz/run.sh
 * --seeds; the output is committed, so running it again is needed only
 * when a format changes.
 *
 * Build and run from the project root: `fuzz/run.sh --seeds` (it compiles
 * this file with the core, state and log sources and runs it on
 * fuzz/corpus).
 */
#include "core/buf.h"
#include "core/error.h"
#include "log/log.h"
#include "state/record.h"
#include "state/state.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out_root;

static void put_file(const char *target, const char *name, const void *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", out_root, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/seed-%s", out_root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
    fprintf(stderr, "gen_seeds: cannot write %s\n", path);
    exit(1);
  }
}

static size_t make_records(lt_record_t *r) {
  size_t n = 0;
  memset(r, 0, 16 * sizeof *r);
  r[n].kind = LT_REC_CREATOR_PUT;
  r[n].u.creator.id = LT_STR("c1");
  r[n].u.creator.name = LT_STR("Creator One");
  r[n++].u.creator.created_at_ms = 1764000000000LL;
  r[n].kind = LT_REC_ITEM_PUT;
  r[n].u.item.id = LT_STR("v1");
  r[n].u.item.creator = LT_STR("c1");
  r[n].u.item.kind = LT_KIND_DRAMA;
  r[n].u.item.aigc = 1;
  r[n].u.item.duration_ms = 30000;
  r[n].u.item.published_at_ms = 1764000000000LL;
  r[n].u.item.ntags = 2;
  r[n].u.item.tags[0] = LT_STR("food");
  r[n].u.item.tags[1] = LT_STR("travel");
  r[n].u.item.product_id = LT_STR("p1");
  r[n].u.item.price_cents = 1999;
  r[n].u.item.live_start_ms = 1764000000000LL;
  r[n++].u.item.live_end_ms = 1764003600000LL;
  r[n].kind = LT_REC_USER_PUT;
  r[n].u.user.id = LT_STR("u1");
  r[n].u.user.ngroups = 1;
  r[n].u.user.groups[0] = LT_STR("staff");
  r[n++].u.user.ts_ms = 1764000000000LL;
  r[n].kind = LT_REC_FOLLOW;
  r[n].u.follow.user = LT_STR("u1");
  r[n].u.follow.creator = LT_STR("c1");
  r[n++].u.follow.ts_ms = 1764000000000LL;
  static const uint8_t types[] = {LT_EV_PLAY, LT_EV_LIKE, LT_EV_PURCHASE, LT_EV_IMPRESSION};
  static const char *const ids[] = {"e1", "e2", "", "e4"};
  for (int k = 0; k < 4; k++) {
    r[n].kind = LT_REC_EVENT;
    lt_event_t *e = &r[n++].u.ev;
    e->id = lt_str_of(ids[k]);
    e->user = LT_STR("u1");
    e->item = k == 3 ? LT_STR("v2") : LT_STR("v1");
    e->request_id = k == 0 ? LT_STR("req-1") : LT_STR("");
    e->ts_ms = 1764261000000LL + k * 86400000LL;
    e->type = types[k];
    e->watch_ms = 27000;
    e->value = k == 2 ? 1999 : 0;
    e->position = k == 0 ? 3 : -1;
    e->duration_ms = 30000;
    e->weight = k == 1 ? 4.0f : 0;
    e->propensity = 0.25f;
  }
  r[n].kind = LT_REC_UNFOLLOW;
  r[n].u.follow.user = LT_STR("u1");
  r[n].u.follow.creator = LT_STR("c1");
  r[n++].u.follow.ts_ms = 1764300000000LL;
  r[n].kind = LT_REC_ITEM_DEL;
  r[n].u.del.id = LT_STR("v2");
  r[n++].u.del.ts_ms = 1764300000000LL;
  return n;
}

static void rm_tree(const char *d) {
  DIR *dp = opendir(d);
  if (!dp) return;
  struct dirent *de;
  char p[1024];
  while ((de = readdir(dp))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", d, de->d_name);
    struct stat st;
    if (!lstat(p, &st) && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(dp);
  rmdir(d);
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *p = malloc(1 << 20);
  *n = fread(p, 1, 1 << 20, f);
  fclose(f);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
    return 2;
  }
  out_root = argv[1];
  lt_record_t recs[16];
  size_t nr = make_records(recs);

  /* fuzz_record: each record alone, and all in one input */
  lt_buf_t all, one;
  lt_buf_init(&all);
  lt_buf_init(&one);
  for (size_t i = 0; i < nr; i++) {
    lt_buf_reset(&one);
    if (lt_record_encode(&recs[i], &one)) return 1;
    lt_buf_uvar(&all, one.len);
    lt_buf_put(&all, one.p, one.len);
    lt_buf_t single;
    lt_buf_init(&single);
    lt_buf_uvar(&single, one.len);
    lt_buf_put(&single, one.p, one.len);
    char name[32];
    snprintf(name, sizeof name, "kind%u-%zu", recs[i].kind, i);
    put_file("record", name, single.p, single.len);
    lt_buf_free(&single);
  }
  put_file("record", "all", all.p, all.len);

  /* fuzz_snapshot: the state of those records, as BODY (flags 0 and 2) and
   * RAW; and the empty state */
  lt_state_opts_t so;
  lt_state_opts_default(&so);
  so.history_cap = 8;
  for (int full = 0; full < 2; full++) {
    lt_state_t *st;
    if (lt_state_new(&so, &st)) return 1;
    for (size_t i = 0; full && i < nr; i++)
      lt_state_apply(st, &recs[i], 100 * i);
    lt_state_set_applied(st, full ? 4242 : 0);
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (lt_state_save(st, f)) return 1;
    fclose(f);
    unsigned char *b = malloc(n);
    b[0] = 0;
    memcpy(b + 1, p + 12, n - 20);
    put_file("snapshot", full ? "body" : "body-empty", b, n - 19);
    b[0] = 2;
    put_file("snapshot", full ? "body-apply" : "body-empty-apply", b, n - 19);
    unsigned char *raw = malloc(n + 1);
    raw[0] = 1;
    memcpy(raw + 1, p, n);
    put_file("snapshot", full ? "raw" : "raw-empty", raw, n + 1);
    free(raw);
    free(b);
    free(p);
    lt_state_free(st);
  }

  /* fuzz_log: a real log (small segments: three files), its first segment
   * as RAW; and BUILT programs for the shapes recovery must tell apart */
  char tmpl[] = "/tmp/lt-seeds-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  char ldir[64];
  snprintf(ldir, sizeof ldir, "%s/log", tmpl);
  lt_log_opts_t lo = {.segment_bytes = 256};
  lt_log_t *log;
  if (lt_log_open(ldir, &lo, &log, NULL)) return 1;
  for (size_t i = 0; i < nr; i++) {
    lt_buf_reset(&one);
    lt_record_encode(&recs[i], &one);
    const void *rp[1] = {one.p};
    uint32_t rl[1] = {(uint32_t)one.len};
    if (lt_log_append(log, rp, rl, 1, NULL)) return 1;
  }
  lt_log_close(log);
  char seg[128];
  snprintf(seg, sizeof seg, "%s/00000000000000000000.log", ldir);
  size_t sn;
  unsigned char *sp = slurp(seg, &sn);
  if (!sp) return 1;
  memmove(sp + 1, sp, sn);
  sp[0] = 1;
  put_file("log", "raw-segment", sp, sn + 1);
  sp[sn] ^= 0x40; /* last byte: a damaged tail */
  put_file("log", "raw-torn", sp, sn + 1);
  free(sp);
  rm_tree(tmpl);
  static const unsigned char b_clean[] = {0,   0,   9,   'r', 'e', 'c', 'o', 'r', 'd',
                                          ' ', '#', '1', 1,   3,   'a', 'b', 'c', 'd',
                                          6,   2,   5,   'x', 'y', 'z', 'w', 'v', 'u'};
  static const unsigned char b_torn[] = {0, 0, 4, 'a', 'b', 'c', 'd', 'e', 0, 20, 'f', 'g', 11, 9};
  static const unsigned char b_middle[] = {0,   0, 3, 'a', 'b', 'c', 'd', 4,   3, 'b', 'a', 'd',
                                           '!', 0, 0, 3,   'g', 'o', 'o', 'd', 0, 1,   'z', 'z'};
  static const unsigned char b_gap[] = {0,   0, 3, 'a', 'b', 'c', 'd', 7,
                                        200, 0, 3, 'e', 'f', 'g', 'h'};
  static const unsigned char b_segs[] = {2,   0,   3,   'a', 'b', 'c', 'd', 6,  1,
                                         4,   'e', 'f', 'g', 'h', 'i', 8,   0,  1,
                                         'x', 'y', 13,  6,   15,  10,  3,   12, 1};
  static const unsigned char b_zero[] = {4, 0, 5, 'a', 'b', 'c', 'd', 'e', 'f', 10, 30};
  static const unsigned char b_hdr[] = {0, 9, 3, 1, 0, 2, 'a', 'b', 'c', 6, 0, 1, 'd', 'e'};
  put_file("log", "built-clean", b_clean, sizeof b_clean);
  put_file("log", "built-torn", b_torn, sizeof b_torn);
  put_file("log", "built-middle", b_middle, sizeof b_middle);
  put_file("log", "built-gap", b_gap, sizeof b_gap);
  put_file("log", "built-segments-repair", b_segs, sizeof b_segs);
  put_file("log", "built-zero-tail", b_zero, sizeof b_zero);
  put_file("log", "built-bad-header", b_hdr, sizeof b_hdr);

  /* fuzz_route: byte 0 bit 0 = the target adds the write key, bit 1 = raw
   * (no re-framing: libmicrohttpd's chunked / pipelining / length paths) */
  static const char *const reqs[][2] = {
      {"healthz", "\x00GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"feed", "\x00GET /v1/feed?user=u1&n=5 HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"feed-bad-n", "\x00GET /v1/feed?user=u1&n=-1&n=99999999999 HTTP/1.1\r\n\r\n"},
      {"item", "\x00GET /v1/items/v1 HTTP/1.1\r\n\r\n"},
      {"similar", "\x00GET /v1/items/v1/similar?n=3 HTTP/1.1\r\n\r\n"},
      {"user", "\x00GET /v1/users/u%2F1 HTTP/1.1\r\n\r\n"},
      {"creator", "\x00GET /v1/creators/c1 HTTP/1.1\r\n\r\n"},
      {"stats", "\x00GET /v1/stats HTTP/1.1\r\n\r\n"},
      {"metrics", "\x00GET /metrics HTTP/1.1\r\n\r\n"},
      {"stats-top", "\x00GET /v1/stats/top?n=5&days=7 HTTP/1.1\r\n\r\n"},
      {"report",
       "\x00GET /v1/reports/watch-time?group=staff&min_minutes=60&day=2025-11-27 HTTP/1.1\r\n\r\n"},
      {"events", "\x01POST /v1/events HTTP/1.1\r\nContent-Type: "
                 "application/json\r\nContent-Length: 58\r\n\r\n"
                 "[{\"id\":\"e1\",\"user\":\"u1\",\"item\":\"v1\",\"type\":\"play\"}]   "},
      {"events-ndjson",
       "\x01POST /v1/events?atomic=1 HTTP/1.1\r\nContent-Type: application/x-ndjson\r\n"
       "Content-Length: "
       "60\r\n\r\n{\"user\":\"u2\",\"item\":\"v1\"}\n{\"user\":\"u3\",\"item\":\"v2\",\"ts\":1}\n"},
      {"events-noauth", "\x00POST /v1/events HTTP/1.1\r\nContent-Length: "
                        "26\r\n\r\n{\"user\":\"u\",\"item\":\"v1\"}"},
      {"item-put", "\x01PUT /v1/items/v7 HTTP/1.1\r\nContent-Length: "
                   "45\r\n\r\n{\"creator\":\"c1\",\"tags\":[\"a\"],\"kind\":\"live\"}"},
      {"item-delete", "\x01"
                      "DELETE /v1/items/v7 HTTP/1.1\r\n\r\n"},
      {"items-post", "\x01POST /v1/items HTTP/1.1\r\nContent-Length: "
                     "32\r\n\r\n[{\"id\":\"v8\",\"creator\":\"c2\"}]"},
      {"users-post", "\x01POST /v1/users HTTP/1.1\r\nContent-Length: "
                     "31\r\n\r\n[{\"id\":\"u9\",\"groups\":[\"g\"]}]"},
      {"user-put",
       "\x01PUT /v1/users/u1 HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"groups\":[\"staff\"]}"},
      {"follow", "\x01POST /v1/users/u1/follows/c1 HTTP/1.1\r\n\r\n"},
      {"unfollow", "\x01"
                   "DELETE /v1/users/u1/follows/c1 HTTP/1.1\r\n\r\n"},
      {"creator-put",
       "\x01PUT /v1/creators/c3 HTTP/1.1\r\nContent-Length: 15\r\n\r\n{\"name\": \"C3\"}"},
      {"wrong-key",
       "\x00POST /v1/items HTTP/1.1\r\nAuthorization: Bearer fuzz-key-0123456789x\r\n\r\n"},
      {"chunked", "\x03POST /v1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "1a\r\n{\"user\":\"u\",\"item\":\"v1\"}\r\n0\r\n\r\n"},
      {"pipelined", "\x02GET /healthz HTTP/1.1\r\n\r\nGET /v1/stats HTTP/1.1\r\n\r\n"},
      {"big-length", "\x03POST /v1/events HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}"},
      {"http10", "\x00GET /v1/items/v1/similar HTTP/1.0\r\n\r\n"},
      {"dashboard", "\x00GET / HTTP/1.1\r\n\r\n"},
      {"snapshot", "\x01POST /v1/admin/snapshot HTTP/1.1\r\n\r\n"},
      {"train", "\x01POST /v1/admin/train HTTP/1.1\r\n\r\n"},
      {"stats-item", "\x00GET /v1/stats/items/v1?days=30 HTTP/1.1\r\n\r\n"},
      {"stats-creator", "\x00GET /v1/stats/creators/c1 HTTP/1.1\r\n\r\n"},
      {"platform", "\x00GET /v1/stats/platform?from=2025-11-01&to=2025-11-30 HTTP/1.1\r\n\r\n"},
      {"ecosystem", "\x00GET /v1/stats/ecosystem HTTP/1.1\r\n\r\n"},
  };
  for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++)
    put_file("route", reqs[i][0], reqs[i][1], 1 + strlen(reqs[i][1] + 1));
  lt_buf_free(&all);
  lt_buf_free(&one);
  printf("gen_seeds: seeds written under %s/{record,snapshot,log,route}\n", out_root);
  return 0;
}
