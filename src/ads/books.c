/*
 * books.c — the ads module's books: the spend ledger per campaign per local
 * day and hour, revenue per day, gifts and GMV per creator / room / item and
 * day, and the reports written from them.
 *
 * In memory (all under a->book; written only by the store's writer path,
 * read by reports):
 *   ledger: key (cid + 1) << 24 | (u16)day << 5 | hour  ->  lt_ads_counts_t,
 *           hour 0..23, and hour 31 = the whole day (so a charge checks the
 *           day's spend in one lookup);
 *   days:   day + 1  ->  lt_ads_revenue_day_t;
 *   rows:   (by + 1) << 56 | (u16)day << 32 | id  ->  lt__rev_row_t, by =
 *           LT_ADS_BY_CREATOR / _ROOM / _ITEM.
 * Values are indexes + 1 into append-only arrays (entries are never removed:
 * the books only grow with the log).
 *
 * Invariants (checked by lt_ads_check):
 *  1. for each (campaign, day) the hours sum to the day entry, field by
 *     field;
 *  2. each day's ads_ucents equals the sum of the campaigns' day spend, and
 *     ads_aigc_ucents <= ads_ucents;
 *  3. spend is never negative.
 *
 * Money: spend in ucents (int64; a campaign-day is at most 10^16); revenue
 * sums saturate instead of wrapping. Cents in reports are ucents rounded
 * half up per day; a total row is the sum of the rounded days, so the
 * columns add up.
 */
#include "ads/ads_int.h"

#include "core/clock.h"
#include "core/error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DAYS 366

void lt__books_init(lt__books_t *b) { memset(b, 0, sizeof *b); }

void lt__books_free(lt__books_t *b) {
  lt_u64map_clear(&b->camp_by_name);
  lt_u64map_clear(&b->owner);
  lt_u64map_clear(&b->ledger);
  lt_u64map_clear(&b->days);
  lt_u64map_clear(&b->rows);
  free(b->counts);
  free(b->rdays);
  free(b->rrows);
  free(b->item_creator);
  free(b->item_flags);
  memset(b, 0, sizeof *b);
}

/* Finds key in map; creates an entry (zeroed element of arr) when create. */
static void *slot_of(lt_ads_t *a, lt_u64map_t *map, uint64_t key, int create, void **arr, size_t *n,
                     size_t *cap, size_t elt, int *made) {
  uint64_t *v = lt_u64map_get(map, key);
  if (made) *made = 0;
  if (v) return (char *)*arr + (size_t)(*v - 1) * elt;
  if (!create) return NULL;
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, nc * elt);
    if (!p) goto oom;
    *arr = p;
    *cap = nc;
  }
  int created;
  if (lt_u64map_upsert(map, key, &v, &created)) goto oom;
  *v = *n + 1;
  void *e = (char *)*arr + *n * elt;
  memset(e, 0, elt);
  (*n)++;
  if (made) *made = 1;
  return e;
oom:
  a->degraded = 1;
  return NULL;
}

lt_ads_counts_t *lt__ledger(lt_ads_t *a, uint32_t cid, int32_t day, uint32_t hour, int create) {
  lt__books_t *b = &a->b;
  return slot_of(a, &b->ledger, lt__ledger_key(cid, day, hour), create, (void **)&b->counts,
                 &b->ncounts, &b->ccap, sizeof *b->counts, NULL);
}

lt_ads_revenue_day_t *lt__rday(lt_ads_t *a, int32_t day, int create) {
  lt__books_t *b = &a->b;
  int made;
  lt_ads_revenue_day_t *d =
      slot_of(a, &b->days, lt_u64map_key((uint64_t)(uint32_t)day + 1), create, (void **)&b->rdays,
              &b->nrdays, &b->rdcap, sizeof *b->rdays, &made);
  if (made) d->day = day;
  return d;
}

lt__rev_row_t *lt__rrow(lt_ads_t *a, int by, int32_t day, uint32_t id, int create) {
  lt__books_t *b = &a->b;
  return slot_of(a, &b->rows, lt__row_key(by, day, id), create, (void **)&b->rrows, &b->nrows,
                 &b->rcap, sizeof *b->rrows, NULL);
}

void lt__books_item(lt_ads_t *a, uint32_t item, uint32_t creator, int live, int aigc) {
  lt__books_t *b = &a->b;
  if (item >= b->nitems) {
    size_t n = b->nitems ? b->nitems : 1024;
    while (n <= item)
      n *= 2;
    uint32_t *c = realloc(b->item_creator, n * sizeof *c);
    if (c) b->item_creator = c;
    uint8_t *f = c ? realloc(b->item_flags, n) : NULL;
    if (!c || !f) {
      a->degraded = 1;
      return;
    }
    b->item_flags = f;
    for (size_t i = b->nitems; i < n; i++) {
      b->item_creator[i] = LT_NONE;
      b->item_flags[i] = 0;
    }
    b->nitems = n;
  }
  b->item_creator[item] = creator;
  b->item_flags[item] =
      (uint8_t)(LT__IF_KNOWN | (live ? LT__IF_LIVE : 0) | (aigc ? LT__IF_AIGC : 0));
}

/* ---- JSON helpers ------------------------------------------------------ */


static int64_t to_cents(int64_t ucents) {
  if (ucents >= 0) return (ucents / 500000 + 1) / 2; /* half up */
  return -((-ucents / 500000 + 1) / 2);
}

/* "12.34" from cents (sign kept). */
static const char *money(int64_t cents, char out[32]) {
  uint64_t u = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
  snprintf(out, 32, "%s%" PRIu64 ".%02u", cents < 0 ? "-" : "", u / 100, (unsigned)(u % 100));
  return out;
}

/* ---- revenue ----------------------------------------------------------- */

static void rev_add(lt_ads_revenue_day_t *s, const lt_ads_revenue_day_t *d) {
  s->ads_ucents = lt__sat_add(s->ads_ucents, d->ads_ucents);
  s->ads_aigc_ucents = lt__sat_add(s->ads_aigc_ucents, d->ads_aigc_ucents);
  s->live_gift_cents = lt__sat_add(s->live_gift_cents, d->live_gift_cents);
  s->other_gift_cents = lt__sat_add(s->other_gift_cents, d->other_gift_cents);
  s->gmv_cents = lt__sat_add(s->gmv_cents, d->gmv_cents);
  s->gmv_attributed_cents = lt__sat_add(s->gmv_attributed_cents, d->gmv_attributed_cents);
  s->ad_impressions += d->ad_impressions;
  s->ad_clicks += d->ad_clicks;
  s->ad_conversions += d->ad_conversions;
  s->gifts += d->gifts;
  s->purchases += d->purchases;
}

int lt_ads_revenue(lt_ads_t *a, int32_t from, int32_t to, lt_ads_revenue_t *out) {
  memset(out, 0, sizeof *out);
  if (from > to || to - from >= MAX_DAYS) return LT_ERANGE;
  out->from = from;
  out->to = to;
  out->ndays = (uint32_t)(to - from + 1);
  out->commission_bps = a->o.commission_bps;
  out->days = calloc(out->ndays, sizeof *out->days);
  if (!out->days) return LT_ENOMEM;
  out->sum.day = -1;
  pthread_rwlock_rdlock(&a->book);
  for (uint32_t i = 0; i < out->ndays; i++) {
    int32_t day = from + (int32_t)i;
    const lt_ads_revenue_day_t *d = lt__rday(a, day, 0);
    if (d) out->days[i] = *d;
    out->days[i].day = day;
  }
  pthread_rwlock_unlock(&a->book);
  for (uint32_t i = 0; i < out->ndays; i++)
    rev_add(&out->sum, &out->days[i]);
  return LT_OK;
}

void lt_ads_revenue_free(lt_ads_revenue_t *r) {
  if (!r) return;
  free(r->days);
  r->days = NULL;
  r->ndays = 0;
}

void lt_ads_revenue_lines(const lt_ads_revenue_day_t *d, uint32_t bps, lt_ads_revenue_lines_t *o) {
  o->online_marketing = to_cents(d->ads_ucents);
  o->online_marketing_aigc = to_cents(d->ads_aigc_ucents);
  o->live_streaming = d->live_gift_cents;
  /* commission: GMV x bps / 10000, half up, in 128 bits (GMV may be huge) */
  __int128 c = ((__int128)d->gmv_cents * bps * 2 + 10000) / 20000;
  int64_t comm = c > INT64_MAX ? INT64_MAX : (int64_t)c;
  o->other = lt__sat_add(d->other_gift_cents, comm);
  o->total = lt__sat_add(lt__sat_add(o->online_marketing, o->live_streaming), o->other);
}

static void lines_add(lt_ads_revenue_lines_t *s, const lt_ads_revenue_lines_t *l) {
  s->online_marketing = lt__sat_add(s->online_marketing, l->online_marketing);
  s->online_marketing_aigc = lt__sat_add(s->online_marketing_aigc, l->online_marketing_aigc);
  s->live_streaming = lt__sat_add(s->live_streaming, l->live_streaming);
  s->other = lt__sat_add(s->other, l->other);
  s->total = lt__sat_add(s->total, l->total);
}

static void rev_json(lt_buf_t *b, const lt_ads_revenue_day_t *d, const lt_ads_revenue_lines_t *l,
                     int with_date) {
  char ds[11];
  lt_buf_u8(b, '{');
  if (with_date) {
    lt_day_format(d->day, ds);
    lt_buf_printf(b, "\"date\": \"%s\", ", ds);
  }
  lt_buf_printf(b,
                "\"online_marketing_cents\": %" PRId64 ", \"online_marketing_aigc_cents\": %" PRId64
                ", \"live_streaming_cents\": %" PRId64 ", \"other_cents\": %" PRId64
                ", \"total_revenue_cents\": %" PRId64 ", \"gmv_cents\": %" PRId64
                ", \"gmv_attributed_cents\": %" PRId64 ", \"ad_impressions\": %" PRIu64
                ", \"ad_clicks\": %" PRIu64 ", \"ad_conversions\": %" PRIu64 ", \"gifts\": %" PRIu64
                ", \"purchases\": %" PRIu64 "}",
                l->online_marketing, l->online_marketing_aigc, l->live_streaming, l->other,
                l->total, d->gmv_cents, d->gmv_attributed_cents, d->ad_impressions, d->ad_clicks,
                d->ad_conversions, d->gifts, d->purchases);
}

int lt_ads_revenue_write(const lt_ads_revenue_t *r, const char *tz, int fmt, lt_buf_t *b) {
  char f[11], t[11], ds[11];
  lt_day_format(r->from, f);
  lt_day_format(r->to, t);
  lt_ads_revenue_lines_t sum = {0, 0, 0, 0, 0}, l;
  if (fmt == LT_ADS_FMT_JSON) {
    lt_buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"timezone\": ", f, t);
    lt_buf_json_str(b, tz ? tz : "", tz ? strlen(tz) : 0);
    lt_buf_printf(b, ", \"currency\": \"cents\", \"commission_bps\": %u, \"days\": [",
                  r->commission_bps);
    for (uint32_t i = 0; i < r->ndays; i++) {
      lt_ads_revenue_lines(&r->days[i], r->commission_bps, &l);
      lines_add(&sum, &l);
      if (i) lt_buf_put(b, ", ", 2);
      rev_json(b, &r->days[i], &l, 1);
    }
    lt_buf_put(b, "], \"total\": ", 12);
    rev_json(b, &r->sum, &sum, 0);
    lt_buf_put(b, "}\n", 2);
  } else if (fmt == LT_ADS_FMT_CSV) {
    lt_buf_printf(b, "date,online_marketing_cents,online_marketing_aigc_cents,"
                     "live_streaming_cents,other_cents,total_revenue_cents,gmv_cents,"
                     "gmv_attributed_cents,ad_impressions,ad_clicks,ad_conversions,gifts,"
                     "purchases\r\n");
    for (uint32_t i = 0; i <= r->ndays; i++) {
      const lt_ads_revenue_day_t *d = i < r->ndays ? &r->days[i] : &r->sum;
      if (i < r->ndays) {
        lt_ads_revenue_lines(d, r->commission_bps, &l);
        lines_add(&sum, &l);
      } else {
        l = sum;
      }
      lt_buf_printf(b,
                    "%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
                    i < r->ndays ? (lt_day_format(d->day, ds), ds) : "total", l.online_marketing,
                    l.online_marketing_aigc, l.live_streaming, l.other, l.total, d->gmv_cents,
                    d->gmv_attributed_cents, d->ad_impressions, d->ad_clicks, d->ad_conversions,
                    d->gifts, d->purchases);
    }
  } else {
    char m[7][32];
    lt_buf_printf(b, "revenue %s .. %s (%s), in currency units (cents / 100)\n", f, t,
                  tz ? tz : "?");
    lt_buf_printf(b, "%-10s %14s %12s %14s %12s %14s %14s %14s\n", "date", "online_mkt",
                  "of_which_aigc", "live_stream", "other", "total", "gmv", "gmv_attrib");
    for (uint32_t i = 0; i <= r->ndays; i++) {
      const lt_ads_revenue_day_t *d = i < r->ndays ? &r->days[i] : &r->sum;
      if (i < r->ndays) {
        lt_ads_revenue_lines(d, r->commission_bps, &l);
        lines_add(&sum, &l);
      } else {
        l = sum;
      }
      lt_buf_printf(b, "%-10s %14s %12s %14s %12s %14s %14s %14s\n",
                    i < r->ndays ? (lt_day_format(d->day, ds), ds) : "total",
                    money(l.online_marketing, m[0]), money(l.online_marketing_aigc, m[1]),
                    money(l.live_streaming, m[2]), money(l.other, m[3]), money(l.total, m[4]),
                    money(d->gmv_cents, m[5]), money(d->gmv_attributed_cents, m[6]));
    }
    lt_buf_printf(b,
                  "(online marketing = ad spend billed; live streaming = gifts on live rooms; "
                  "other = other gifts + %u bps e-commerce commission)\n",
                  r->commission_bps);
  }
  return b->err ? LT_ENOMEM : LT_OK;
}

typedef struct top_acc {
  uint32_t id;
  lt__rev_row_t r;
} top_acc_t;

static int top_cmp(const void *x, const void *y) {
  const top_acc_t *p = x, *q = y;
  int64_t vp = lt__sat_add(p->r.gift_cents, p->r.gmv_cents),
          vq = lt__sat_add(q->r.gift_cents, q->r.gmv_cents);
  if (vp != vq) return vp > vq ? -1 : 1;
  return p->id < q->id ? -1 : p->id > q->id;
}

size_t lt_ads_revenue_top(lt_ads_t *a, int by, int32_t from, int32_t to, lt_ads_rev_row_t *out,
                          size_t n) {
  if (from > to || to - from >= MAX_DAYS || by < 0 || by > LT_ADS_BY_ITEM || !n) return 0;
  lt_u64map_t acc;
  lt_u64map_init(&acc);
  top_acc_t *v = NULL;
  size_t nv = 0, cap = 0, got = 0;
  pthread_rwlock_rdlock(&a->book);
  lt__books_t *b = &a->b;
  for (size_t i = 0; i < b->rows.cap; i++) {
    uint64_t k = b->rows.keys[i];
    if (!k) continue;
    if ((int)(k >> 56) != by + 1) continue;
    int32_t day = (int32_t)(uint16_t)(k >> 32);
    if (day < from || day > to) continue;
    uint32_t id = (uint32_t)k;
    const lt__rev_row_t *r = &b->rrows[b->rows.vals[i] - 1];
    uint64_t *slot;
    int created;
    if (lt_u64map_upsert(&acc, lt_u64map_key((uint64_t)id + 1), &slot, &created)) break;
    if (created) {
      if (nv == cap) {
        size_t nc = cap ? cap * 2 : 64;
        top_acc_t *p = realloc(v, nc * sizeof *p);
        if (!p) break;
        v = p;
        cap = nc;
      }
      memset(&v[nv], 0, sizeof v[nv]);
      v[nv].id = id;
      *slot = ++nv;
    }
    top_acc_t *t = &v[*slot - 1];
    t->r.gift_cents = lt__sat_add(t->r.gift_cents, r->gift_cents);
    t->r.gmv_cents = lt__sat_add(t->r.gmv_cents, r->gmv_cents);
    t->r.gifts += r->gifts;
    t->r.purchases += r->purchases;
  }
  pthread_rwlock_unlock(&a->book);
  if (nv) qsort(v, nv, sizeof *v, top_cmp);
  for (; got < n && got < nv; got++) {
    out[got].id = v[got].id;
    out[got].gift_cents = v[got].r.gift_cents;
    out[got].gmv_cents = v[got].r.gmv_cents;
    out[got].gifts = v[got].r.gifts;
    out[got].purchases = v[got].r.purchases;
  }
  free(v);
  lt_u64map_clear(&acc);
  return got;
}

/* ---- campaign report --------------------------------------------------- */

int lt_ads_campaign_hours(lt_ads_t *a, uint32_t cid, int32_t from, int32_t to,
                          lt_ads_counts_t *out) {
  if (!lt__camp(a, cid)) return LT_ENOTFOUND;
  if (from > to || to - from >= MAX_DAYS) return LT_ERANGE;
  uint32_t nd = (uint32_t)(to - from + 1);
  memset(out, 0, (size_t)nd * 24 * sizeof *out);
  pthread_rwlock_rdlock(&a->book);
  for (uint32_t d = 0; d < nd; d++) {
    if (!lt__ledger(a, cid, from + (int32_t)d, LT__ADS_HOUR_DAY, 0)) continue;
    for (uint32_t h = 0; h < 24; h++) {
      const lt_ads_counts_t *c = lt__ledger(a, cid, from + (int32_t)d, h, 0);
      if (c) out[d * 24 + h] = *c;
    }
  }
  pthread_rwlock_unlock(&a->book);
  return LT_OK;
}

static void counts_add(lt_ads_counts_t *s, const lt_ads_counts_t *c) {
  s->impressions += c->impressions;
  s->clicks += c->clicks;
  s->conversions += c->conversions;
  s->billed += c->billed;
  s->unbilled += c->unbilled;
  s->spend_ucents = lt__sat_add(s->spend_ucents, c->spend_ucents);
}

static void counts_json(lt_buf_t *b, const lt_ads_counts_t *c) {
  double ecpm =
      c->impressions ? (double)c->spend_ucents / 1e6 * 1000.0 / (double)c->impressions : 0;
  double ctr = c->impressions ? (double)c->clicks / (double)c->impressions : 0;
  lt_buf_printf(b,
                "\"impressions\": %" PRIu64 ", \"clicks\": %" PRIu64 ", \"conversions\": %" PRIu64
                ", \"spend_cents\": %" PRId64 ", \"spend_ucents\": %" PRId64
                ", \"ecpm_cents\": %.4f, \"ctr\": %.6f, \"billed_events\": %" PRIu64
                ", \"unbilled_events\": %" PRIu64,
                c->impressions, c->clicks, c->conversions, to_cents(c->spend_ucents),
                c->spend_ucents, ecpm, ctr, c->billed, c->unbilled);
}

static void counts_csv(lt_buf_t *b, const char *date, const char *hour, const lt_ads_counts_t *c) {
  double ecpm =
      c->impressions ? (double)c->spend_ucents / 1e6 * 1000.0 / (double)c->impressions : 0;
  double ctr = c->impressions ? (double)c->clicks / (double)c->impressions : 0;
  lt_buf_printf(b,
                "%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%.4f,%.6f\r\n",
                date, hour, c->impressions, c->clicks, c->conversions, to_cents(c->spend_ucents),
                c->spend_ucents, ecpm, ctr);
}

static int counts_zero(const lt_ads_counts_t *c) {
  return !c->impressions && !c->clicks && !c->conversions && !c->spend_ucents && !c->unbilled;
}

int lt_ads_campaign_report(lt_ads_t *a, uint32_t cid, int32_t from, int32_t to, int fmt,
                           lt_buf_t *b) {
  const char *name = lt_ads_campaign_name(a, cid);
  if (!name) return LT_ENOTFOUND;
  if (from > to || to - from >= MAX_DAYS) return LT_ERANGE;
  uint32_t nd = (uint32_t)(to - from + 1);
  lt_ads_counts_t *h = malloc((size_t)nd * 24 * sizeof *h);
  if (!h) return LT_ENOMEM;
  int rc = lt_ads_campaign_hours(a, cid, from, to, h);
  if (rc) {
    free(h);
    return rc;
  }
  char f[11], t[11], ds[11], hs[8];
  lt_day_format(from, f);
  lt_day_format(to, t);
  const char *tz = lt_state_tz(a->st)->name;
  lt_ads_counts_t total;
  memset(&total, 0, sizeof total);
  if (fmt == LT_ADS_FMT_CSV) {
    lt_buf_printf(b, "date,hour,impressions,clicks,conversions,spend_cents,spend_ucents,"
                     "ecpm_cents,ctr\r\n");
  } else {
    lt_buf_put(b, "{\"campaign\": ", 13);
    lt_buf_json_str(b, name, strlen(name));
    lt_buf_printf(b, ", \"from\": \"%s\", \"to\": \"%s\", \"timezone\": ", f, t);
    lt_buf_json_str(b, tz, strlen(tz));
    lt_buf_put(b, ", \"days\": [", 11);
  }
  for (uint32_t d = 0; d < nd; d++) {
    lt_ads_counts_t day;
    memset(&day, 0, sizeof day);
    for (uint32_t k = 0; k < 24; k++)
      counts_add(&day, &h[d * 24 + k]);
    counts_add(&total, &day);
    lt_day_format(from + (int32_t)d, ds);
    if (fmt == LT_ADS_FMT_CSV) {
      for (uint32_t k = 0; k < 24; k++) {
        if (counts_zero(&h[d * 24 + k])) continue;
        snprintf(hs, sizeof hs, "%02u", k);
        counts_csv(b, ds, hs, &h[d * 24 + k]);
      }
      counts_csv(b, ds, "day", &day);
      continue;
    }
    lt_buf_printf(b, "%s{\"date\": \"%s\", ", d ? ", " : "", ds);
    counts_json(b, &day);
    lt_buf_put(b, ", \"hours\": [", 12);
    int first = 1;
    for (uint32_t k = 0; k < 24; k++) {
      if (counts_zero(&h[d * 24 + k])) continue;
      lt_buf_printf(b, "%s{\"hour\": %u, ", first ? "" : ", ", k);
      counts_json(b, &h[d * 24 + k]);
      lt_buf_u8(b, '}');
      first = 0;
    }
    lt_buf_put(b, "]}", 2);
  }
  if (fmt == LT_ADS_FMT_CSV) {
    counts_csv(b, "total", "", &total);
  } else {
    lt_buf_put(b, "], \"total\": {", 13);
    counts_json(b, &total);
    lt_buf_put(b, "}}\n", 3);
  }
  free(h);
  return b->err ? LT_ENOMEM : LT_OK;
}

/* ---- dump and check ---------------------------------------------------- */

static int u64_cmp(const void *x, const void *y) {
  uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
  return p < q ? -1 : p > q;
}

/* The keys of a map, sorted (malloc'd; NULL when empty or on ENOMEM). */
static uint64_t *sorted_keys(const lt_u64map_t *m, size_t *n) {
  *n = 0;
  if (!m->len) return NULL;
  uint64_t *k = malloc(m->len * sizeof *k);
  if (!k) return NULL;
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) k[(*n)++] = m->keys[i];
  qsort(k, *n, sizeof *k, u64_cmp);
  return k;
}

int lt_ads_books_dump(lt_ads_t *a, lt_buf_t *b) {
  pthread_rwlock_rdlock(&a->book);
  uint32_t nc = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
  for (uint32_t c = 0; c < nc; c++) {
    const lt__cdef_t *d = lt__def(a->camps[c]);
    lt_buf_printf(b,
                  "campaign %u %s adv=%s budget=%" PRId64 " bid=%s:%" PRId64 " status=%u cap=%u "
                  "start=%" PRId64 " end=%" PRId64 " created=%" PRId64 " updated=%" PRId64
                  " creatives=",
                  c, d->id, d->advertiser, d->budget_cents, lt_ads_bid_type_name(d->bid_type),
                  d->bid_cents, __atomic_load_n(&a->camps[c]->status, __ATOMIC_RELAXED),
                  d->freq_cap, d->start_ms, d->end_ms, d->created_ms, d->updated_ms);
    for (uint32_t i = 0; i < d->ncre; i++)
      lt_buf_printf(b, "%s%s%s%s", i ? "," : "", d->cre[i], d->cre_aigc[i] ? "*" : "",
                    d->cre_item[i] == LT_NONE ? "!" : "");
    lt_buf_u8(b, '\n');
  }
  size_t n;
  uint64_t *k = sorted_keys(&a->b.ledger, &n);
  for (size_t i = 0; i < n; i++) {
    const lt_ads_counts_t *c = &a->b.counts[*lt_u64map_get(&a->b.ledger, k[i]) - 1];
    lt_buf_printf(b,
                  "ledger %016" PRIx64 " imp=%" PRIu64 " clk=%" PRIu64 " conv=%" PRIu64
                  " billed=%" PRIu64 " unbilled=%" PRIu64 " spend=%" PRId64 "\n",
                  k[i], c->impressions, c->clicks, c->conversions, c->billed, c->unbilled,
                  c->spend_ucents);
  }
  free(k);
  k = sorted_keys(&a->b.days, &n);
  for (size_t i = 0; i < n; i++) {
    const lt_ads_revenue_day_t *d = &a->b.rdays[*lt_u64map_get(&a->b.days, k[i]) - 1];
    lt_buf_printf(b,
                  "day %d ads=%" PRId64 " aigc=%" PRId64 " live=%" PRId64 " othergift=%" PRId64
                  " gmv=%" PRId64 " gmvattr=%" PRId64 " imp=%" PRIu64 " clk=%" PRIu64
                  " conv=%" PRIu64 " gifts=%" PRIu64 " purchases=%" PRIu64 "\n",
                  d->day, d->ads_ucents, d->ads_aigc_ucents, d->live_gift_cents,
                  d->other_gift_cents, d->gmv_cents, d->gmv_attributed_cents, d->ad_impressions,
                  d->ad_clicks, d->ad_conversions, d->gifts, d->purchases);
  }
  free(k);
  k = sorted_keys(&a->b.rows, &n);
  for (size_t i = 0; i < n; i++) {
    const lt__rev_row_t *r = &a->b.rrows[*lt_u64map_get(&a->b.rows, k[i]) - 1];
    lt_buf_printf(b,
                  "row %016" PRIx64 " gift=%" PRId64 " gmv=%" PRId64 " n=%" PRIu64 "/%" PRIu64 "\n",
                  k[i], r->gift_cents, r->gmv_cents, r->gifts, r->purchases);
  }
  free(k);
  k = sorted_keys(&a->b.owner, &n);
  for (size_t i = 0; i < n; i++)
    lt_buf_printf(b, "owner %016" PRIx64 " -> %" PRIu64 "\n", k[i],
                  *lt_u64map_get(&a->b.owner, k[i]) - 1);
  free(k);
  pthread_rwlock_unlock(&a->book);
  return b->err ? LT_ENOMEM : LT_OK;
}

int lt__books_check(lt_ads_t *a) {
  int ok = 1;
  lt__books_t *b = &a->b;
  pthread_rwlock_rdlock(&a->book);
  /* 1 and 3: hours sum to days */
  for (size_t i = 0; i < b->ledger.cap && ok; i++) {
    uint64_t k = b->ledger.keys[i];
    if (!k || (k & 31) != LT__ADS_HOUR_DAY) continue;
    uint32_t cid = (uint32_t)((k >> 24) - 1);
    int32_t day = (int32_t)(uint16_t)(k >> 5);
    const lt_ads_counts_t *d = &b->counts[b->ledger.vals[i] - 1];
    lt_ads_counts_t s;
    memset(&s, 0, sizeof s);
    for (uint32_t h = 0; h < 24; h++) {
      const lt_ads_counts_t *c = lt__ledger(a, cid, day, h, 0);
      if (c) counts_add(&s, c);
    }
    if (memcmp(&s, d, sizeof s) || d->spend_ucents < 0) ok = 0;
  }
  /* 2: days' ad revenue = campaigns' day spend */
  for (size_t i = 0; i < b->days.cap && ok; i++) {
    if (!b->days.keys[i]) continue;
    const lt_ads_revenue_day_t *d = &b->rdays[b->days.vals[i] - 1];
    int64_t s = 0;
    uint32_t nc = __atomic_load_n(&a->ncamps, __ATOMIC_ACQUIRE);
    for (uint32_t c = 0; c < nc; c++) {
      const lt_ads_counts_t *x = lt__ledger(a, c, d->day, LT__ADS_HOUR_DAY, 0);
      if (x) s = lt__sat_add(s, x->spend_ucents);
    }
    if (s != d->ads_ucents || d->ads_aigc_ucents > d->ads_ucents || d->ads_aigc_ucents < 0) ok = 0;
  }
  pthread_rwlock_unlock(&a->book);
  return ok;
}
