/*
 * fuzz_ads.c — libFuzzer target for the ads module's parsers: campaign
 * JSON bodies (lt_ads_spec_parse, then lt_ads_campaign_create / _update)
 * and campaign extension records (log payloads of kinds 64..67, applied by
 * lt_ads_ext as a live write and by the attach scan on replay).
 *
 * One store per process (fsync off, under $TMPDIR) with a small catalog and
 * an attached engine. Byte 0 bit 0 picks the mode:
 *  0: the rest is a campaign body. The parser answers only LT_OK /
 *     LT_EPARSE / LT_EINVAL / LT_ERANGE, always with a reason on failure;
 *     an accepted spec has every field within its limits. It is then used
 *     to create a campaign (bit 1 set: to update campaign 0 instead), which
 *     succeeds or fails with a reason; a created campaign's JSON parses
 *     back to the same advertiser, budget and bid.
 *  1: the rest is records, each a u8 length + bytes, written with
 *     lt_store_write_ext after forcing the kind into 64..67.
 * After every input lt_ads_check holds, and every 64 inputs a fresh engine
 * attached to the same log (a full replay) has books byte for byte equal
 * to the live engine's.
 */
#include "ads/ads.h"
#include "core/error.h"
#include "state/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lt_store_t *store;
static lt_ads_t *ads;
static uint64_t inputs;

static void observe(void *ctx, const lt_record_t *recs, size_t n) { lt_ads_observe(ctx, recs, n); }

static void init(void) {
  char tmpl[512];
  const char *t = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/lt-fuzz-ads-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpl)) abort();
  lt_ads_opts_t ao;
  lt_ads_opts_default(&ao);
  if (lt_ads_new(&ao, &ads)) abort();
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  so.ext = lt_ads_ext;
  so.ext_ctx = ads;
  if (lt_store_open(tmpl, &so, &store, NULL) || lt_ads_attach(ads, store)) abort();
  lt_store_set_observer(store, observe, NULL, ads);
  static const char *items[] = {"a0", "a1", "a2", "v1", "v2", "x"};
  for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
    lt_record_t r;
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_ITEM_PUT;
    r.u.item.id = lt_str_of(items[i]);
    r.u.item.creator = LT_STR("c");
    r.u.item.aigc = (uint8_t)(i & 1);
    r.u.item.ntags = 1;
    r.u.item.tags[0] = LT_STR("food");
    if (lt_store_write(store, &r, 1, 1, NULL, NULL, NULL)) abort();
  }
}

static int terminated(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

static void check_spec(const lt_ads_spec_t *s) {
  if (!terminated(s->id, sizeof s->id) || !terminated(s->advertiser, sizeof s->advertiser) ||
      !terminated(s->name, sizeof s->name))
    abort();
  if (s->ntags > LT_ADS_MAX_TARGETS || s->ngroups > LT_ADS_MAX_TARGETS ||
      s->ncreatives > LT_ADS_MAX_CREATIVES)
    abort();
  for (uint32_t i = 0; i < s->ntags; i++)
    if (!terminated(s->tags[i], sizeof s->tags[i]) || !s->tags[i][0]) abort();
  for (uint32_t i = 0; i < s->ncreatives; i++)
    if (!terminated(s->creatives[i], sizeof s->creatives[i]) || !s->creatives[i][0]) abort();
  if ((s->has & LT_ADS_F_BUDGET) &&
      (s->daily_budget_cents < 1 || s->daily_budget_cents > LT_ADS_MAX_BUDGET_CENTS))
    abort();
  if ((s->has & LT_ADS_F_BID) &&
      (s->bid_type > LT_BID_OCPM || s->bid_cents < 1 || s->bid_cents > LT_ADS_MAX_BID_CENTS))
    abort();
  if (s->freq_cap > LT_ADS_MAX_FREQ_CAP || s->status > LT_CAMPAIGN_PAUSED) abort();
  if (s->start_ms < 0 || s->end_ms < 0 || s->start_ms > LT_TS_MAX_MS || s->end_ms > LT_TS_MAX_MS)
    abort();
}

static void body(const uint8_t *p, size_t n, int update) {
  static lt_ads_spec_t s, back;
  const char *why = NULL;
  int rc = lt_ads_spec_parse((const char *)p, n, &s, &why);
  if (rc != LT_OK && rc != LT_EPARSE && rc != LT_EINVAL && rc != LT_ERANGE) abort();
  if (rc) {
    if (!why) abort();
    return;
  }
  check_spec(&s);
  uint32_t cid;
  why = NULL;
  if (update && lt_ads_campaign_count(ads)) {
    rc = lt_ads_campaign_update(ads, 0, &s, 1764259200000LL, &why);
    cid = 0;
  } else {
    rc = lt_ads_campaign_create(ads, &s, 1764259200000LL, &cid, &why);
  }
  if (rc == LT_ENOTFOUND && update) return;
  if (rc && rc != LT_EINVAL && rc != LT_ERANGE && rc != LT_EEXISTS && rc != LT_ETOOBIG) abort();
  if (rc) {
    if (!why) abort();
    return;
  }
  lt_buf_t b;
  lt_buf_init(&b);
  if (lt_ads_campaign_json(ads, cid, 1764259200000LL, &b)) abort();
  if (lt_ads_spec_parse((const char *)b.p, b.len, &back, &why)) abort();
  if (!update && ((s.has & LT_ADS_F_ADVERTISER) && strcmp(back.advertiser, s.advertiser))) abort();
  if (!update && (back.daily_budget_cents != s.daily_budget_cents ||
                  back.bid_cents != s.bid_cents || back.bid_type != s.bid_type))
    abort();
  lt_buf_free(&b);
}

static void records(const uint8_t *p, size_t n) {
  unsigned char rec[256];
  while (n) {
    size_t len = p[0];
    p++, n--;
    if (len > n) len = n;
    if (!len) continue;
    memcpy(rec, p, len);
    rec[0] = (unsigned char)(LT_REC_EXT_BASE + (rec[0] & 3));
    if (lt_store_write_ext(store, rec, len)) abort();
    p += len, n -= len;
  }
}

static void replay_equals_live(void) {
  lt_ads_t *fresh;
  lt_ads_opts_t ao;
  lt_ads_opts_default(&ao);
  if (lt_ads_new(&ao, &fresh) || lt_ads_attach(fresh, store)) abort();
  lt_buf_t x, y;
  lt_buf_init(&x);
  lt_buf_init(&y);
  lt_ads_books_dump(ads, &x);
  lt_ads_books_dump(fresh, &y);
  if (x.len != y.len || (x.len && memcmp(x.p, y.p, x.len))) {
    fprintf(stderr, "fuzz_ads: replay differs from live\n%.*s\n---\n%.*s\n", (int)x.len,
            (const char *)x.p, (int)y.len, (const char *)y.p);
    abort();
  }
  lt_buf_free(&x);
  lt_buf_free(&y);
  lt_ads_free(fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!store) init();
  if (!size) return 0;
  if (data[0] & 1)
    records(data + 1, size - 1);
  else
    body(data + 1, size - 1, (data[0] & 2) != 0);
  if (!lt_ads_check(ads)) abort();
  if (++inputs % 64 == 0) replay_equals_live();
  return 0;
}
