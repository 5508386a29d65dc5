/*
 * simulate.c — the closed-loop simulator (see simulate.h for what it
 * compares and how it is driven).
 *
 * The platform, built once from the seed and shared read-only by every
 * run (world_build):
 *   - 24 topics with Zipf-like popularity (weight 1 / (t + 1)^0.7), each a
 *     random unit vector in a 16-dimensional interest space;
 *   - creators: size ~ Pareto(alpha 1.1) clipped at 400 (how much they
 *     publish), a main topic, quality ~ N(0, 0.4); 15% publish AIGC (twice
 *     as often, quality 0.25 lower); 6% of those of size >= 3 go live
 *     (half of the days, for 1-2 hours, around 18:00). `creators` exist at
 *     the start (created up to 180 days before), `new_creators` join each
 *     day and publish their first item within 2 hours;
 *   - items: the starting catalogue published over the 60 days before the
 *     start, then `new_items` a day, by creator with probability
 *     proportional to size; topic = the creator's (85%) or any; vector =
 *     the topic's + N(0, 0.2) per dimension, normalised; quality = the
 *     creator's + N(0, 0.5); duration log-normal, median 14 s, sigma 0.75,
 *     in [3 s, 300 s] (KuaiRec's short videos); one tag, the topic;
 *   - users: 1-3 topics (interest = their normalised mix + noise), a daily
 *     activity in [0.15, 0.95], a patience (items a session lasts at
 *     best), a like bias, 30% averse to AIGC, a favourite hour, and
 *     Poisson(2) initial follows among creators of their topics.
 * A user u shown item i has affinity a = 2.5 <u, v_i> + quality_i - 0.8
 * (if averse and i is AIGC) + 0.4 (if u follows the creator). A video is
 * watched for ratio r = exp(-0.9 + 0.55 a - 0.15 ln(duration / 14 s) +
 * 0.6 N(0, 1)) of its duration, capped at 6 (replays): about 1.2 at the
 * median for a well-matched item, 0.4 for an unmatched one, so that the
 * daily median under laotie's feed comes out near 0.75 with a long tail
 * above 1 (KuaiRec's logged watch ratio: median ~0.8, long tail).
 * A live room holds 20 s x exp(0.6 a + 0.7 N). Then like with probability
 * sigmoid(-5.5 + a + [r >= 1] + like bias), follow sigmoid(-7 + a +
 * [r >= 1]), not_interested sigmoid(-4.5 - 1.2 a).
 *
 * Sessions: a user is active on a day with probability activity x
 * clamp(0.25 + satisfaction, 0.2, 1), then has 1 + Poisson(0.7) sessions
 * around their hour. A session asks for pages of `page` items and watches
 * them in order, each impression followed by a play (swiping away early
 * is a short play), until boredom (+2 for r < 0.3, +1 below 0.8, +0.5
 * otherwise, +2 on not_interested) exceeds the session's patience (the
 * user's x Gamma(2, 1/2)) or 100 items. Satisfaction is an average of
 * min(r, 1.5) moving by 0.2 per session (0.6 at the start); at the end of
 * a day each user who was active leaves for good with probability
 * max(0, 0.5 (0.6 - satisfaction)) — "users who stopped returning".
 * Each page's events are one lt_store_write (impressions carry the
 * request id, position, propensity and exploration code the feed gave).
 *
 * A day: publish its creators and items (puts carry their future publish
 * time: feeds never show an item before it), run its sessions in time
 * order, retrain (laotie), then read back which new items reached pool 2
 * (lt_feed_item_pool, or GET /v1/items/{id} in remote mode) and close the
 * day's figures. Times start at 2024-03-01 00:00 UTC (remote: days + 1
 * days before now, since the server serves at its own clock).
 */
#include "eval/simulate.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "eval/sim_int.h"
#include "state/store.h"
#include "stats/stats.h"

#include <cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIM 16
#define TOPICS 24
#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define T0_MS 1709251200000LL /* 2024-03-01 00:00 UTC */
#define YOUNG_MS (7 * DAY_MS)
#define SESSION_MAX 100
#define MAX_FOLLOW0 6

static const char *policy_names[LT_SIM__POLICIES] = {"random", "popularity", "laotie",
                                                     "laotie-nopools", "server"};

const char *lt_sim_policy_name(int p) {
  return p >= 0 && p < LT_SIM__POLICIES ? policy_names[p] : "?";
}

int lt_sim_policy_parse(const char *s, uint32_t *mask) {
  if (!s || !mask) return LT_EINVAL;
  if (!strcmp(s, "all")) {
    *mask = (1u << LT_SIM_RANDOM) | (1u << LT_SIM_POPULARITY) | (1u << LT_SIM_LAOTIE) |
            (1u << LT_SIM_LAOTIE_NOPOOLS);
    return LT_OK;
  }
  for (int p = 0; p < LT_SIM_REMOTE; p++)
    if (!strcmp(s, policy_names[p])) {
      *mask = 1u << p;
      return LT_OK;
    }
  return LT_EINVAL;
}

void lt_sim_opts_default(lt_sim_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->days = 30;
  o->users = 5000;
  o->items = 10000;
  o->new_creators = 20;
  o->page = 10;
  o->seed = 1;
  lt_sim_policy_parse("all", &o->policies);
  o->threads = 2;
  lt_feed_opts_default(&o->feed);
  /* a platform of thousands of users, not millions: quotas to scale */
  o->feed.pool_quota = 20;
  o->feed.pool_growth = 5;
  o->feed.explore_max_impressions = 20;
  o->feed.candidates = 200;
  o->feed.ials_k = 32;
  o->feed.ials_iters = 4;
  o->feed.ann_ef_construction = 64;
  o->feed.threads = 1; /* reproducible training; runs go in parallel instead */
}

/* ---- random numbers ---------------------------------------------------------- */

typedef struct rng {
  uint64_t s;
} rng_t;

static uint64_t rnext(rng_t *r) {
  r->s += 0x9e3779b97f4a7c15ULL;
  return lt_mix64(r->s);
}
static double runit(rng_t *r) { return (double)(rnext(r) >> 11) * 0x1.0p-53; }
static double ropen(rng_t *r) { return ((double)(rnext(r) >> 11) + 0.5) * 0x1.0p-53; }
static uint32_t rbelow(rng_t *r, uint32_t n) { return n ? (uint32_t)(rnext(r) % n) : 0; }
static double rnorm(rng_t *r) { return sqrt(-2 * log(ropen(r))) * cos(2 * M_PI * runit(r)); }
static uint32_t rpoisson(rng_t *r, double lambda) {
  double l = exp(-lambda), p = 1;
  uint32_t k = 0;
  do {
    k++;
    p *= runit(r);
  } while (p > l && k < 64);
  return k - 1;
}
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* Index i with probability w[i] / total, from the cumulative weights
 * cum[0..n) (cum[n - 1] = total). */
static uint32_t rpick(rng_t *r, const double *cum, uint32_t n) {
  double x = runit(r) * cum[n - 1];
  uint32_t lo = 0, hi = n - 1;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (cum[mid] > x)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* ---- the platform ------------------------------------------------------------------ */

typedef struct s_creator {
  double size;
  int64_t created_ms;
  uint16_t topic;
  uint8_t aigc, live, fresh; /* fresh: joined during the run */
  float quality;
} s_creator_t;

typedef struct s_item {
  uint32_t creator;
  uint16_t topic;
  uint8_t aigc, kind, fresh; /* fresh: published during the run */
  uint32_t duration_ms;
  int64_t published_ms, live_end_ms;
  float quality;
  float v[DIM];
} s_item_t;

typedef struct s_user {
  float u[DIM];
  float activity, like_bias, aigc_aversion, patience;
  uint8_t hour, ntopics, nfollow0;
  uint16_t topics[3];
  uint32_t follow0[MAX_FOLLOW0];
} s_user_t;

typedef struct world {
  uint32_t nusers, nitems, ncreators, days;
  s_user_t *users;
  s_item_t *items;
  s_creator_t *creators;
  uint32_t *items_from;    /* days + 1: day d's items are [items_from[d], items_from[d + 1]) */
  uint32_t *creators_from; /* days + 1, likewise (the starting ones are below [0]) */
  int64_t t0;
  float centroid[TOPICS][DIM];
  double topic_cum[TOPICS];
} world_t;

static void world_free(world_t *w) {
  free(w->users);
  free(w->items);
  free(w->creators);
  free(w->items_from);
  free(w->creators_from);
}

static void normalise(float *v) {
  double s = 0;
  for (int k = 0; k < DIM; k++)
    s += (double)v[k] * v[k];
  s = sqrt(s);
  for (int k = 0; k < DIM; k++)
    v[k] = s > 0 ? (float)(v[k] / s) : 0;
}

static int item_push(world_t *w, uint32_t *cap, rng_t *r, uint32_t creator, int64_t published,
                     int fresh) {
  if (w->nitems == *cap) {
    uint32_t nc = *cap * 2;
    s_item_t *p = realloc(w->items, (size_t)nc * sizeof *p);
    if (!p) return LT_ENOMEM;
    w->items = p;
    *cap = nc;
  }
  const s_creator_t *c = &w->creators[creator];
  s_item_t *it = &w->items[w->nitems++];
  memset(it, 0, sizeof *it);
  it->creator = creator;
  it->topic = runit(r) < 0.85 ? c->topic : (uint16_t)rpick(r, w->topic_cum, TOPICS);
  it->aigc = c->aigc;
  it->kind = LT_KIND_VIDEO;
  it->fresh = (uint8_t)fresh;
  double d = 14000.0 * exp(0.75 * rnorm(r));
  it->duration_ms = (uint32_t)(d < 3000 ? 3000 : d > 300000 ? 300000 : d);
  it->published_ms = published < c->created_ms ? c->created_ms + 60000 : published;
  it->quality = c->quality + (float)(0.5 * rnorm(r));
  for (int k = 0; k < DIM; k++)
    it->v[k] = w->centroid[it->topic][k] + (float)(0.2 * rnorm(r));
  normalise(it->v);
  return LT_OK;
}

static int world_build(const lt_sim_opts_t *o, int64_t t0, world_t *w) {
  memset(w, 0, sizeof *w);
  rng_t r = {lt_mix64(o->seed * 0x2545f4914f6cdd1dULL + 7)};
  w->t0 = t0;
  w->days = o->days;
  w->nusers = o->users;
  double acc = 0;
  for (int t = 0; t < TOPICS; t++) {
    acc += 1.0 / pow(t + 1, 0.7);
    w->topic_cum[t] = acc;
    for (int k = 0; k < DIM; k++)
      w->centroid[t][k] = (float)rnorm(&r);
    normalise(w->centroid[t]);
  }
  uint32_t c0 = o->creators, nc = o->creators + o->days * o->new_creators;
  w->ncreators = nc;
  w->creators = calloc(nc, sizeof *w->creators);
  w->creators_from = calloc(o->days + 1, sizeof *w->creators_from);
  w->items_from = calloc(o->days + 1, sizeof *w->items_from);
  uint32_t icap = o->items + o->days * (o->new_items + o->new_creators) + 1024;
  w->items = malloc((size_t)icap * sizeof *w->items);
  w->users = calloc(o->users, sizeof *w->users);
  double *cum = malloc((size_t)(nc ? nc : 1) * sizeof *cum);
  if (!w->creators || !w->creators_from || !w->items_from || !w->items || !w->users || !cum) {
    free(cum);
    world_free(w);
    return LT_ENOMEM;
  }
  for (uint32_t c = 0; c < nc; c++) {
    s_creator_t *cr = &w->creators[c];
    int64_t day = c < c0 ? -1 : (int64_t)((c - c0) / o->new_creators);
    double size = pow(1 - runit(&r), -1 / 1.1);
    cr->size = size > 400 ? 400 : size;
    cr->topic = (uint16_t)rpick(&r, w->topic_cum, TOPICS);
    cr->aigc = runit(&r) < 0.15;
    cr->quality = (float)(0.4 * rnorm(&r) - (cr->aigc ? 0.25 : 0));
    cr->live = cr->size >= 3 && runit(&r) < 0.06;
    cr->fresh = day >= 0;
    cr->created_ms = day < 0 ? t0 - DAY_MS - (int64_t)(runit(&r) * 180 * DAY_MS)
                             : t0 + day * DAY_MS + (int64_t)(runit(&r) * 0.8 * DAY_MS);
  }
  for (uint32_t d = 0; d <= o->days; d++)
    w->creators_from[d] = c0 + d * o->new_creators;
  /* the starting catalogue */
  int rc = LT_OK;
  for (uint32_t c = 0; c < c0; c++)
    cum[c] = (c ? cum[c - 1] : 0) + w->creators[c].size * (w->creators[c].aigc ? 2 : 1);
  for (uint32_t i = 0; i < o->items && !rc && c0; i++) {
    uint32_t c = rpick(&r, cum, c0);
    int64_t pub = t0 - 1000 - (int64_t)(runit(&r) * 60 * DAY_MS);
    if (pub < w->creators[c].created_ms)
      pub = w->creators[c].created_ms +
            (int64_t)(runit(&r) * (double)(t0 - w->creators[c].created_ms));
    rc = item_push(w, &icap, &r, c, pub, 0);
  }
  /* day by day: new creators' first items, then the rest by size, then
   * live rooms */
  for (uint32_t d = 0; d < o->days && !rc; d++) {
    w->items_from[d] = w->nitems;
    int64_t day0 = t0 + (int64_t)d * DAY_MS;
    for (uint32_t c = w->creators_from[d]; c < w->creators_from[d + 1] && !rc; c++)
      rc = item_push(w, &icap, &r, c,
                     w->creators[c].created_ms + (int64_t)(runit(&r) * 2 * HOUR_MS), 1);
    uint32_t n = w->creators_from[d + 1];
    for (uint32_t c = 0; c < n; c++)
      cum[c] = (c ? cum[c - 1] : 0) + w->creators[c].size * (w->creators[c].aigc ? 2 : 1);
    for (uint32_t k = 0; k < o->new_items && !rc; k++) {
      uint32_t c = rpick(&r, cum, n);
      rc = item_push(w, &icap, &r, c, day0 + (int64_t)(runit(&r) * DAY_MS), 1);
    }
    for (uint32_t c = 0; c < w->creators_from[d] && !rc; c++) {
      const s_creator_t *cr = &w->creators[c];
      if (!cr->live || runit(&r) >= 0.5) continue;
      double h = 18 + 2 * rnorm(&r);
      h = h < 8 ? 8 : h > 22 ? 22 : h;
      int64_t start = day0 + (int64_t)(h * HOUR_MS);
      rc = item_push(w, &icap, &r, c, start, 1);
      if (rc) break;
      s_item_t *it = &w->items[w->nitems - 1];
      it->kind = LT_KIND_LIVE;
      it->duration_ms = 0;
      it->published_ms = start;
      it->live_end_ms = start + HOUR_MS + (int64_t)(runit(&r) * HOUR_MS);
      it->topic = cr->topic;
      for (int k = 0; k < DIM; k++)
        it->v[k] = w->centroid[it->topic][k] + (float)(0.2 * rnorm(&r));
      normalise(it->v);
    }
  }
  w->items_from[o->days] = w->nitems;
  if (!o->days) w->items_from[0] = w->nitems;
  for (uint32_t c = 0; c < c0; c++)
    cum[c] = (c ? cum[c - 1] : 0) + w->creators[c].size;
  for (uint32_t u = 0; u < o->users && !rc; u++) {
    s_user_t *us = &w->users[u];
    us->ntopics = (uint8_t)(1 + (runit(&r) < 0.5) + (runit(&r) < 0.2));
    float v[DIM] = {0};
    for (uint32_t k = 0; k < us->ntopics; k++) {
      us->topics[k] = (uint16_t)rpick(&r, w->topic_cum, TOPICS);
      double wk = k == 0 ? 1.0 : 0.6;
      for (int j = 0; j < DIM; j++)
        v[j] += (float)(wk * w->centroid[us->topics[k]][j]);
    }
    for (int j = 0; j < DIM; j++)
      v[j] += (float)(0.15 * rnorm(&r));
    normalise(v);
    memcpy(us->u, v, sizeof v);
    us->activity = (float)(0.15 + 0.8 * pow(runit(&r), 0.8));
    us->like_bias = (float)(0.5 * rnorm(&r));
    us->aigc_aversion = runit(&r) < 0.3 ? 0.8f : 0;
    us->patience = (float)(6 + 10 * runit(&r));
    us->hour = (uint8_t)(8 + rbelow(&r, 15));
    uint32_t nf = rpoisson(&r, 2);
    for (uint32_t k = 0; k < nf && us->nfollow0 < MAX_FOLLOW0 && c0; k++)
      for (int tries = 0; tries < 40; tries++) {
        uint32_t c = rpick(&r, cum, c0);
        int match = 0;
        for (uint32_t t = 0; t < us->ntopics; t++)
          match |= w->creators[c].topic == us->topics[t];
        if (!match) continue;
        int dup = 0;
        for (uint32_t j = 0; j < us->nfollow0; j++)
          dup |= us->follow0[j] == c;
        if (!dup) us->follow0[us->nfollow0++] = c;
        break;
      }
  }
  free(cum);
  if (rc) world_free(w);
  return rc;
}

/* ---- one run ---------------------------------------------------------------------- */

#define BATCH 512
#define SBUF (BATCH * 64)
#define HSET 8192 /* history set slots (history_cap 2000 -> load <= 1/4) */

typedef struct page {
  uint32_t n;
  char rid[40];
  uint32_t item[LT_FEED_MAX]; /* world items */
  float prop[LT_FEED_MAX];
  uint8_t code[LT_FEED_MAX];
} page_t;

typedef struct run {
  const world_t *w;
  const lt_sim_opts_t *o;
  int policy;
  lt_sim_run_t *out;
  rng_t rng;
  /* the engine */
  char dir[512];
  lt_store_t *store;
  lt_state_t *st;
  lt_feed_t *feed;
  lt__http_t *http;
  uint32_t *dense;       /* world item -> dense id (LT_NONE before its put) */
  uint32_t *widx, nwidx; /* dense id -> world item */
  /* users */
  float *sat;
  uint8_t *churned, *active_today;
  uint64_t *follows; /* bit (user, creator) */
  uint32_t fwords;
  /* the write batch */
  lt_record_t recs[BATCH];
  size_t nrec;
  char sbuf[SBUF];
  size_t slen;
  lt_buf_t json;
  /* day figures */
  uint32_t day;
  lt_sim_day_t cur;
  uint32_t *cimpr;
  uint64_t aigc_impr, aigc_watch, young_impr;
  float *ratios;
  size_t nratios, ratio_cap;
  uint8_t *reached2; /* world item reached pool 2 */
  uint8_t *cr_pool2; /* creator has an item that did */
  uint32_t new_creators_pool2;
  uint32_t new_items_pool2;
  /* baselines */
  uint32_t *poplist, npop;
  int64_t pop_at;
  uint32_t hkey[HSET], hstamp[HSET], hepoch;
  lt_hist_t *hist;
  uint64_t feed_ns;
} run_t;

static lt_str_t sfmt(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lt_str_t sfmt(run_t *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(r->sbuf + r->slen, SBUF - r->slen, fmt, ap);
  va_end(ap);
  lt_str_t s = {r->sbuf + r->slen, (size_t)(n > 0 ? n : 0)};
  r->slen += s.n + 1;
  return s;
}

/* ---- writing: in process or over HTTP ---- */

static void json_str(lt_buf_t *b, lt_str_t s) {
  /* ids here are ours: [a-z0-9] only, no escaping needed */
  lt_buf_u8(b, '"');
  lt_buf_put(b, s.p, s.n);
  lt_buf_u8(b, '"');
}

static int remote_post(run_t *r, const char *method, const char *path, const lt_buf_t *body) {
  int status = 0;
  const char *resp;
  int rc = lt__http_req(r->http, method, path, body ? body->p : NULL, body ? body->len : 0, &status,
                        &resp, NULL);
  if (rc) return rc;
  if (status / 100 != 2) {
    if (r->o->log)
      fprintf(r->o->log, "simulate: %s %s: HTTP %d: %.200s\n", method, path, status, resp);
    return LT_EIO;
  }
  return LT_OK;
}

static int flush_remote(run_t *r) {
  lt_buf_t *b = &r->json;
  int rc = LT_OK;
  /* events in one batch, items in one, creators and follows one by one */
  for (int pass = 0; pass < 2 && !rc; pass++) {
    b->len = 0;
    size_t k = 0;
    lt_buf_u8(b, '[');
    for (size_t i = 0; i < r->nrec; i++) {
      const lt_record_t *x = &r->recs[i];
      if (pass == 0 && x->kind == LT_REC_EVENT) {
        const lt_event_t *e = &x->u.ev;
        lt_buf_put(b, k ? ",{\"user\":" : "{\"user\":", k ? 9 : 8);
        k++;
        json_str(b, e->user);
        lt_buf_printf(b, ",\"item\":");
        json_str(b, e->item);
        lt_buf_printf(b, ",\"type\":\"%s\",\"ts\":%" PRId64 ",\"watch_ms\":%u",
                      lt_event_type_name(e->type), e->ts_ms, e->watch_ms);
        if (e->request_id.n) {
          lt_buf_printf(b, ",\"request_id\":");
          json_str(b, e->request_id);
        }
        if (e->position >= 0) lt_buf_printf(b, ",\"position\":%d", e->position);
        if (e->propensity > 0) lt_buf_printf(b, ",\"propensity\":%.6f", e->propensity);
        if (e->value) lt_buf_printf(b, ",\"value\":%" PRId64, e->value);
        lt_buf_u8(b, '}');
      } else if (pass == 1 && x->kind == LT_REC_ITEM_PUT) {
        const lt_item_rec_t *it = &x->u.item;
        lt_buf_put(b, k ? ",{\"id\":" : "{\"id\":", k ? 7 : 6);
        k++;
        json_str(b, it->id);
        lt_buf_printf(b, ",\"creator\":");
        json_str(b, it->creator);
        lt_buf_printf(b,
                      ",\"kind\":\"%s\",\"duration_ms\":%u,\"aigc\":%s,\"published_at\":%" PRId64
                      ",\"tags\":[",
                      lt_item_kind_name(it->kind), it->duration_ms, it->aigc ? "true" : "false",
                      it->published_at_ms);
        for (uint32_t t = 0; t < it->ntags; t++) {
          if (t) lt_buf_u8(b, ',');
          json_str(b, it->tags[t]);
        }
        lt_buf_u8(b, ']');
        if (it->live_start_ms)
          lt_buf_printf(b, ",\"live\":{\"start\":%" PRId64 ",\"end\":%" PRId64 "}",
                        it->live_start_ms, it->live_end_ms);
        lt_buf_u8(b, '}');
      }
    }
    lt_buf_u8(b, ']');
    if (b->err) return LT_ENOMEM;
    if (k) rc = remote_post(r, "POST", pass == 0 ? "/v1/events" : "/v1/items", b);
  }
  char path[256];
  for (size_t i = 0; i < r->nrec && !rc; i++) {
    const lt_record_t *x = &r->recs[i];
    if (x->kind == LT_REC_CREATOR_PUT) {
      b->len = 0;
      lt_buf_printf(b, "{\"name\":");
      json_str(b, x->u.creator.name);
      lt_buf_printf(b, ",\"created_at\":%" PRId64 "}", x->u.creator.created_at_ms);
      snprintf(path, sizeof path, "/v1/creators/%.*s", (int)x->u.creator.id.n, x->u.creator.id.p);
      rc = remote_post(r, "PUT", path, b);
    } else if (x->kind == LT_REC_FOLLOW) {
      snprintf(path, sizeof path, "/v1/users/%.*s/follows/%.*s", (int)x->u.follow.user.n,
               x->u.follow.user.p, (int)x->u.follow.creator.n, x->u.follow.creator.p);
      rc = remote_post(r, "POST", path, NULL);
    }
  }
  return rc;
}

static int flush(run_t *r) {
  int rc = LT_OK;
  if (r->nrec) {
    if (r->http) {
      rc = flush_remote(r);
    } else {
      lt_write_result_t res;
      rc = lt_store_write(r->store, r->recs, r->nrec, 0, NULL, NULL, &res);
    }
    r->out->events += r->nrec;
  }
  r->nrec = 0;
  r->slen = 0;
  return rc;
}

/* Room for k more records (and their strings). */
static int room(run_t *r, size_t k) {
  if (r->nrec + k <= BATCH && r->slen + k * 64 <= SBUF) return LT_OK;
  return flush(r);
}

static lt_record_t *rec_new(run_t *r, int kind) {
  lt_record_t *x = &r->recs[r->nrec++];
  memset(x, 0, sizeof *x);
  x->kind = (uint8_t)kind;
  return x;
}

static lt_record_t *ev_new(run_t *r, uint32_t user, uint32_t item, int type, int64_t ts,
                           lt_str_t rid, int32_t pos) {
  lt_record_t *x = rec_new(r, LT_REC_EVENT);
  lt_event_t *e = &x->u.ev;
  e->user = sfmt(r, "u%u", user);
  e->item = sfmt(r, "i%u", item);
  e->type = (uint8_t)type;
  e->ts_ms = ts;
  e->request_id = rid;
  e->position = pos;
  return x;
}

/* Publishes creators [c0, c1) and items [i0, i1). */
static int publish(run_t *r, uint32_t c0, uint32_t c1, uint32_t i0, uint32_t i1) {
  const world_t *w = r->w;
  int rc = LT_OK;
  for (uint32_t c = c0; c < c1 && !rc; c++) {
    if ((rc = room(r, 1))) break;
    lt_record_t *x = rec_new(r, LT_REC_CREATOR_PUT);
    x->u.creator.id = sfmt(r, "c%u", c);
    x->u.creator.name = x->u.creator.id;
    x->u.creator.created_at_ms = w->creators[c].created_ms;
  }
  for (uint32_t i = i0; i < i1 && !rc; i++) {
    if ((rc = room(r, 1))) break;
    const s_item_t *it = &w->items[i];
    lt_record_t *x = rec_new(r, LT_REC_ITEM_PUT);
    lt_item_rec_t *p = &x->u.item;
    p->id = sfmt(r, "i%u", i);
    p->creator = sfmt(r, "c%u", it->creator);
    p->kind = it->kind;
    p->aigc = it->aigc;
    p->duration_ms = it->duration_ms;
    p->published_at_ms = it->published_ms;
    p->ts_ms = it->published_ms; /* as if put when published */
    p->ntags = 1;
    p->tags[0] = sfmt(r, "t%u", it->topic);
    if (it->kind == LT_KIND_LIVE) {
      p->live_start_ms = it->published_ms;
      p->live_end_ms = it->live_end_ms;
    }
  }
  if (!rc) rc = flush(r);
  if (rc || r->http) return rc;
  /* dense ids of what was put */
  for (uint32_t i = i0; i < i1; i++) {
    char id[16];
    int n = snprintf(id, sizeof id, "i%u", i);
    uint32_t d = LT_NONE;
    lt_state_find(r->st, LT_NS_ITEM, id, (size_t)n, &d);
    r->dense[i] = d;
    if (d == LT_NONE) continue;
    if (d >= r->nwidx) {
      uint32_t nn = d + 1 > r->nwidx * 2 ? d + 1 : r->nwidx * 2;
      uint32_t *p = realloc(r->widx, nn * sizeof *p);
      if (!p) return LT_ENOMEM;
      for (uint32_t k = r->nwidx; k < nn; k++)
        p[k] = LT_NONE;
      r->widx = p;
      r->nwidx = nn;
    }
    r->widx[d] = i;
  }
  return LT_OK;
}

static int is_following(const run_t *r, uint32_t u, uint32_t c) {
  return (r->follows[(size_t)u * r->fwords + c / 64] >> (c % 64)) & 1;
}
static void set_following(run_t *r, uint32_t u, uint32_t c) {
  r->follows[(size_t)u * r->fwords + c / 64] |= 1ull << (c % 64);
}

/* ---- the policies' pages ---- */

static int eligible_at(const s_item_t *it, int64_t t) {
  if (it->published_ms > t) return 0;
  return it->kind != LT_KIND_LIVE || t < it->live_end_ms;
}

/* Loads the user's history into the epoch-stamped set. */
static void history_set(run_t *r, uint32_t u) {
  if (++r->hepoch == 0) {
    memset(r->hstamp, 0, sizeof r->hstamp);
    r->hepoch = 1;
  }
  char id[16];
  int n = snprintf(id, sizeof id, "u%u", u);
  uint32_t d;
  if (lt_state_find(r->st, LT_NS_USER, id, (size_t)n, &d)) return;
  size_t nh = lt_state_user_history(r->st, d, r->hist, 2000);
  for (size_t i = 0; i < nh; i++) {
    uint32_t it = r->hist[i].item;
    for (uint32_t s = (uint32_t)lt_mix64(it) & (HSET - 1);; s = (s + 1) & (HSET - 1)) {
      if (r->hstamp[s] != r->hepoch) {
        r->hstamp[s] = r->hepoch;
        r->hkey[s] = it;
        break;
      }
      if (r->hkey[s] == it) break;
    }
  }
}

static int in_history(const run_t *r, uint32_t dense) {
  for (uint32_t s = (uint32_t)lt_mix64(dense) & (HSET - 1);; s = (s + 1) & (HSET - 1)) {
    if (r->hstamp[s] != r->hepoch) return 0;
    if (r->hkey[s] == dense) return 1;
  }
}

static int on_page(const page_t *p, uint32_t i) {
  for (uint32_t k = 0; k < p->n; k++)
    if (p->item[k] == i) return 1;
  return 0;
}

static void page_random(run_t *r, uint32_t u, int64_t t, uint32_t n, page_t *p) {
  history_set(r, u);
  uint32_t limit = r->w->items_from[r->day + 1]; /* published by the end of today */
  for (uint32_t tries = 0; p->n < n && tries < 50 * n; tries++) {
    uint32_t i = rbelow(&r->rng, limit);
    const s_item_t *it = &r->w->items[i];
    if (!eligible_at(it, t) || r->dense[i] == LT_NONE || in_history(r, r->dense[i]) ||
        on_page(p, i))
      continue;
    p->item[p->n++] = i;
  }
}

typedef struct popent {
  double s;
  uint32_t item;
} popent_t;

static int pop_desc(const void *a, const void *b) {
  const popent_t *x = a, *y = b;
  if (x->s != y->s) return x->s > y->s ? -1 : 1;
  return x->item < y->item ? -1 : x->item > y->item;
}

static void page_popular(run_t *r, uint32_t u, int64_t t, uint32_t n, page_t *p) {
  const world_t *w = r->w;
  if (!r->poplist || t - r->pop_at > HOUR_MS || t < r->pop_at) {
    /* the 3000 most popular as of now (rebuilt every simulated hour) */
    uint32_t limit = w->items_from[r->day + 1];
    popent_t *e = malloc((size_t)(limit ? limit : 1) * sizeof *e);
    uint32_t *l = realloc(r->poplist, 3000 * sizeof *l);
    if (!e || !l) {
      free(e);
      if (l) r->poplist = l;
      return page_random(r, u, t, n, p);
    }
    r->poplist = l;
    uint32_t m = 0;
    for (uint32_t i = 0; i < limit; i++) {
      if (r->dense[i] == LT_NONE || !eligible_at(&w->items[i], t)) continue;
      double s = lt_state_item_pop(r->st, r->dense[i], t);
      if (s > 0) e[m++] = (popent_t){s, i};
    }
    qsort(e, m, sizeof *e, pop_desc);
    r->npop = m < 3000 ? m : 3000;
    for (uint32_t k = 0; k < r->npop; k++)
      r->poplist[k] = e[k].item;
    free(e);
    r->pop_at = t;
  }
  history_set(r, u);
  for (uint32_t k = 0; k < r->npop && p->n < n; k++) {
    uint32_t i = r->poplist[k];
    if (!eligible_at(&w->items[i], t) || in_history(r, r->dense[i]) || on_page(p, i)) continue;
    p->item[p->n++] = i;
  }
  if (p->n < n) { /* nothing popular left: anything */
    page_t q = *p;
    page_random(r, u, t, n, &q);
    *p = q;
  }
}

static int page_laotie(run_t *r, uint32_t u, int64_t t, uint32_t n, page_t *p) {
  lt_feed_result_t res;
  char id[16];
  int len = snprintf(id, sizeof id, "u%u", u);
  int rc = lt_feed_get(r->feed, id, (size_t)len, n, t, &res);
  if (rc) return rc;
  snprintf(p->rid, sizeof p->rid, "%s", res.request_id);
  for (uint32_t k = 0; k < res.n; k++) {
    uint32_t d = res.items[k].item;
    if (d >= r->nwidx || r->widx[d] == LT_NONE) continue; /* not one of ours */
    p->item[p->n] = r->widx[d];
    p->prop[p->n] = res.items[k].propensity;
    p->code[p->n++] = res.items[k].explore;
  }
  return LT_OK;
}

static int page_remote(run_t *r, uint32_t u, uint32_t n, page_t *p) {
  char path[128];
  snprintf(path, sizeof path, "/v1/feed?user=u%u&n=%u", u, n);
  int status = 0;
  const char *resp;
  size_t len;
  int rc = lt__http_req(r->http, "GET", path, NULL, 0, &status, &resp, &len);
  if (rc) return rc;
  if (status != 200) return LT_EIO;
  cJSON *j = cJSON_ParseWithLength(resp, len);
  if (!j) return LT_EIO;
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "request_id");
  if (cJSON_IsString(rid)) snprintf(p->rid, sizeof p->rid, "%s", rid->valuestring);
  const cJSON *el;
  cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(j, "items")) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "id");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(el, "propensity");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(el, "explore");
    if (!cJSON_IsString(id) || id->valuestring[0] != 'i' || p->n >= LT_FEED_MAX) continue;
    char *end;
    unsigned long i = strtoul(id->valuestring + 1, &end, 10);
    if (*end || i >= r->w->nitems) continue;
    p->item[p->n] = (uint32_t)i;
    p->prop[p->n] = cJSON_IsNumber(pr) ? (float)pr->valuedouble : 0;
    p->code[p->n++] = cJSON_IsNumber(ex) ? (uint8_t)ex->valuedouble : 0;
  }
  cJSON_Delete(j);
  return LT_OK;
}

static int fetch(run_t *r, uint32_t u, int64_t t, page_t *p) {
  memset(p, 0, sizeof *p);
  uint64_t t0 = lt_mono_ns();
  int rc = LT_OK;
  switch (r->policy) {
  case LT_SIM_RANDOM:
    page_random(r, u, t, r->o->page, p);
    break;
  case LT_SIM_POPULARITY:
    page_popular(r, u, t, r->o->page, p);
    break;
  case LT_SIM_REMOTE:
    rc = page_remote(r, u, r->o->page, p);
    break;
  default:
    rc = page_laotie(r, u, t, r->o->page, p);
    break;
  }
  r->feed_ns += lt_mono_ns() - t0;
  r->cur.requests++;
  return rc;
}

/* ---- a session ---- */

static float dotv(const float *a, const float *b) {
  float s = 0;
  for (int k = 0; k < DIM; k++)
    s += a[k] * b[k];
  return s;
}

static int session(run_t *r, uint32_t u, int64_t t) {
  const world_t *w = r->w;
  const s_user_t *us = &w->users[u];
  double patience = us->patience * (-log(ropen(&r->rng)) - log(ropen(&r->rng))) / 2;
  double boredom = 0, qsum = 0;
  uint32_t shown = 0;
  page_t pg;
  int rc = LT_OK;
  r->cur.sessions++;
  while (boredom < patience && shown < SESSION_MAX) {
    if ((rc = fetch(r, u, t, &pg))) return rc;
    if (!pg.n) break;
    if ((rc = room(r, 5 * pg.n + 1))) return rc;
    lt_str_t rid = pg.rid[0] ? sfmt(r, "%s", pg.rid) : (lt_str_t){NULL, 0};
    for (uint32_t k = 0; k < pg.n && boredom < patience && shown < SESSION_MAX; k++) {
      uint32_t i = pg.item[k];
      const s_item_t *it = &w->items[i];
      const s_creator_t *cr = &w->creators[it->creator];
      int fol = is_following(r, u, it->creator);
      double a = 2.5 * dotv(us->u, it->v) + it->quality - (it->aigc ? us->aigc_aversion : 0) +
                 (fol ? 0.4 : 0);
      int live = it->kind == LT_KIND_LIVE;
      double ratio = -1, watch;
      if (live) {
        watch = 20000.0 * exp(0.6 * a + 0.7 * rnorm(&r->rng));
        if (watch > 2 * HOUR_MS) watch = 2 * HOUR_MS;
      } else {
        double mu = -0.9 + 0.55 * a - 0.15 * log(it->duration_ms / 14000.0);
        ratio = exp(mu + 0.6 * rnorm(&r->rng));
        if (ratio > 6) ratio = 6;
        watch = ratio * it->duration_ms;
      }
      if (watch < 200) watch = 200;
      uint32_t wms = (uint32_t)watch;
      lt_record_t *x = ev_new(r, u, i, LT_EV_IMPRESSION, t, rid, (int32_t)k);
      x->u.ev.propensity = pg.prop[k];
      x->u.ev.value = pg.code[k];
      x = ev_new(r, u, i, LT_EV_PLAY, t + wms, rid, (int32_t)k);
      x->u.ev.watch_ms = wms;
      int good = live ? a > 1 : ratio >= 1;
      if (runit(&r->rng) < sigmoid(-5.5 + a + good + us->like_bias)) {
        ev_new(r, u, i, LT_EV_LIKE, t + wms / 2, rid, (int32_t)k);
        r->cur.likes++;
      }
      if (!fol && runit(&r->rng) < sigmoid(-7 + a + good + (live ? 1 : 0))) {
        ev_new(r, u, i, LT_EV_FOLLOW, t + wms, rid, (int32_t)k);
        set_following(r, u, it->creator);
        r->cur.follows++;
      }
      if (runit(&r->rng) < sigmoid(-4.5 - 1.2 * a)) {
        ev_new(r, u, i, LT_EV_NOT_INTERESTED, t + wms + 100, rid, (int32_t)k);
        r->cur.not_interested++;
        boredom += 2;
      }
      double q;
      if (live) {
        boredom += a > 1 ? 0.5 : 2;
        q = a < 0 ? 0 : a / 2 > 1.5 ? 1.5 : a / 2;
      } else {
        boredom += ratio < 0.3 ? 2 : ratio < 0.8 ? 1 : 0.5;
        q = ratio < 1.5 ? ratio : 1.5;
        r->cur.completions += ratio >= 0.9;
        if (r->nratios == r->ratio_cap) {
          size_t cap = r->ratio_cap ? r->ratio_cap * 2 : 1 << 16;
          float *nr = realloc(r->ratios, cap * sizeof *nr);
          if (nr) {
            r->ratios = nr;
            r->ratio_cap = cap;
          }
        }
        if (r->nratios < r->ratio_cap) r->ratios[r->nratios++] = (float)ratio;
      }
      qsum += q;
      shown++;
      r->cur.impressions++;
      r->cur.plays++;
      r->cur.watch_ms += wms;
      r->cimpr[it->creator]++;
      if (it->aigc) {
        r->aigc_impr++;
        r->aigc_watch += wms;
      }
      if (t - cr->created_ms < YOUNG_MS) r->young_impr++;
      t += wms + 800;
    }
    if ((rc = flush(r))) return rc;
  }
  if (shown) r->sat[u] = (float)(0.8 * r->sat[u] + 0.2 * (qsum / shown));
  return LT_OK;
}

/* ---- days ---- */

typedef struct sess {
  int64_t t;
  uint32_t user;
} sess_t;

static int sess_cmp(const void *a, const void *b) {
  const sess_t *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  return x->user < y->user ? -1 : x->user > y->user;
}

static int float_cmp(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* Reads which new items reached pool 2 so far. */
static int read_pools(run_t *r) {
  const world_t *w = r->w;
  uint32_t to = w->items_from[r->day + 1];
  uint32_t from = w->items_from[0];
  for (uint32_t i = from; i < to; i++) {
    const s_item_t *it = &w->items[i];
    if (r->reached2[i] || it->kind == LT_KIND_LIVE) continue;
    int reached = -1;
    if (r->http) {
      char path[64];
      snprintf(path, sizeof path, "/v1/items/i%u", i);
      int status = 0;
      const char *resp;
      size_t len;
      if (lt__http_req(r->http, "GET", path, NULL, 0, &status, &resp, &len)) return LT_EIO;
      cJSON *j = status == 200 ? cJSON_ParseWithLength(resp, len) : NULL;
      const cJSON *pool = j ? cJSON_GetObjectItemCaseSensitive(j, "pool") : NULL;
      const cJSON *re = pool ? cJSON_GetObjectItemCaseSensitive(pool, "reached") : NULL;
      if (cJSON_IsNumber(re)) reached = (int)re->valuedouble;
      cJSON_Delete(j);
    } else if (r->dense[i] != LT_NONE) {
      lt_feed_pool_info_t pi;
      if (!lt_feed_item_pool(r->feed, r->dense[i], &pi)) reached = pi.reached;
    }
    if (reached >= 2) {
      r->reached2[i] = 1;
      r->new_items_pool2++;
      if (w->creators[it->creator].fresh && !r->cr_pool2[it->creator]) {
        r->cr_pool2[it->creator] = 1;
        r->new_creators_pool2++;
      }
    }
  }
  return LT_OK;
}

static int run_day(run_t *r, uint32_t d) {
  const world_t *w = r->w;
  uint64_t t_start = lt_mono_ns();
  r->day = d;
  memset(&r->cur, 0, sizeof r->cur);
  r->cur.day = d;
  memset(r->cimpr, 0, w->ncreators * sizeof *r->cimpr);
  r->aigc_impr = r->aigc_watch = r->young_impr = 0;
  r->nratios = 0;
  int rc = publish(r, w->creators_from[d], w->creators_from[d + 1], w->items_from[d],
                   w->items_from[d + 1]);
  if (rc) return rc;
  /* who comes today, and when */
  int64_t day0 = w->t0 + (int64_t)d * DAY_MS;
  sess_t *ss = malloc((size_t)w->nusers * 4 * sizeof *ss);
  if (!ss) return LT_ENOMEM;
  size_t ns = 0;
  memset(r->active_today, 0, w->nusers);
  for (uint32_t u = 0; u < w->nusers; u++) {
    if (r->churned[u]) continue;
    double s = 0.25 + r->sat[u];
    s = s < 0.2 ? 0.2 : s > 1 ? 1 : s;
    if (runit(&r->rng) >= w->users[u].activity * s) continue;
    uint32_t k = 1 + rpoisson(&r->rng, 0.7);
    if (k > 4) k = 4;
    r->active_today[u] = 1;
    r->cur.active_users++;
    for (uint32_t j = 0; j < k; j++) {
      double h = w->users[u].hour + 3 * rnorm(&r->rng);
      h = h < 0 ? 0 : h > 23.5 ? 23.5 : h;
      ss[ns++] = (sess_t){day0 + (int64_t)(h * HOUR_MS), u};
    }
  }
  qsort(ss, ns, sizeof *ss, sess_cmp);
  for (size_t k = 0; k < ns && !rc; k++)
    rc = session(r, ss[k].user, ss[k].t);
  free(ss);
  if (rc) return rc;
  /* who leaves */
  for (uint32_t u = 0; u < w->nusers; u++) {
    if (!r->active_today[u]) continue;
    double p = 0.5 * (0.6 - r->sat[u]);
    if (p > 0 && runit(&r->rng) < p) r->churned[u] = 1;
  }
  /* learn from the day */
  uint64_t t_train = lt_mono_ns();
  if (r->policy == LT_SIM_LAOTIE || r->policy == LT_SIM_LAOTIE_NOPOOLS)
    rc = lt_feed_train(r->feed, day0 + DAY_MS, r->o->verbose ? r->o->log : NULL);
  else if (r->policy == LT_SIM_REMOTE)
    remote_post(r, "POST", "/v1/admin/train", NULL); /* asynchronous; "busy" is fine too */
  r->out->train_seconds += (double)(lt_mono_ns() - t_train) / 1e9;
  if (rc) return rc;
  if ((rc = read_pools(r))) return rc;
  /* the day's figures */
  lt_sim_day_t *x = &r->cur;
  uint32_t churned = 0;
  for (uint32_t u = 0; u < w->nusers; u++)
    churned += r->churned[u];
  x->churned = churned;
  x->watch_min_per_active = x->active_users ? x->watch_ms / 60000.0 / x->active_users : 0;
  x->video_plays = r->nratios;
  x->completion_rate = r->nratios ? (double)x->completions / (double)r->nratios : 0;
  uint64_t *ci = malloc((size_t)(w->ncreators ? w->ncreators : 1) * sizeof *ci);
  if (!ci) return LT_ENOMEM;
  size_t m = 0;
  for (uint32_t c = 0; c < w->ncreators; c++)
    if (r->cimpr[c]) ci[m++] = r->cimpr[c];
  x->creator_gini = lt_stats_gini(ci, m);
  free(ci);
  x->young_share = x->impressions ? (double)r->young_impr / (double)x->impressions : 0;
  x->aigc_share = x->impressions ? (double)r->aigc_impr / (double)x->impressions : 0;
  x->aigc_watch_share = x->watch_ms ? (double)r->aigc_watch / (double)x->watch_ms : 0;
  if (r->nratios) {
    qsort(r->ratios, r->nratios, sizeof *r->ratios, float_cmp);
    x->median_watch_ratio = r->ratios[r->nratios / 2];
  }
  x->new_items = w->items_from[d + 1] - w->items_from[0];
  for (uint32_t i = w->items_from[0]; i < w->items_from[d + 1]; i++)
    x->new_items -= w->items[i].kind == LT_KIND_LIVE;
  x->new_items_pool2 = r->new_items_pool2;
  x->pool2_share = x->new_items ? (double)x->new_items_pool2 / x->new_items : 0;
  x->new_creators = w->creators_from[d + 1] - w->creators_from[0];
  x->new_creators_pool2 = r->new_creators_pool2;
  x->seconds = (double)(lt_mono_ns() - t_start) / 1e9;
  r->out->days[d] = *x;
  r->out->ndays = d + 1;
  if (r->o->log) {
    char pools[160] = "";
    if (r->feed) {
      lt_feed_policy_stats_t ps;
      lt_feed_policy_stats(r->feed, &ps);
      snprintf(pools, sizeof pools,
               "; pools %u/%u/%u, up %" PRIu64 "/%" PRIu64 ", out %" PRIu64 "+%" PRIu64 "+%" PRIu64
               ", window gini %.3f s %.2f",
               ps.in_pool[0], ps.in_pool[1], ps.in_pool[2], ps.promoted[1], ps.promoted[2], ps.left,
               ps.graduated, ps.expired, ps.gini, ps.fair_strength);
    }
    fprintf(r->o->log,
            "simulate: %-14s day %2u: %5u active, %6.2f watch min/active, gini %.3f, "
            "pool2 %.3f, aigc %.3f, %u left  (%.1f s)%s\n",
            lt_sim_policy_name(r->policy), d, x->active_users, x->watch_min_per_active,
            x->creator_gini, x->pool2_share, x->aigc_share, x->churned, x->seconds, pools);
  }
  return LT_OK;
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) { lt_feed_observe(ctx, recs, n); }

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int run_open(run_t *r) {
  const lt_sim_opts_t *o = r->o;
  const world_t *w = r->w;
  r->rng.s = lt_mix64(o->seed ^ 0x5deece66dULL);
  r->dense = malloc((size_t)w->nitems * sizeof *r->dense);
  r->sat = malloc((size_t)w->nusers * sizeof *r->sat);
  r->churned = calloc(w->nusers, 1);
  r->active_today = calloc(w->nusers, 1);
  r->fwords = (w->ncreators + 63) / 64;
  r->follows = calloc((size_t)w->nusers * r->fwords, sizeof *r->follows);
  r->cimpr = calloc(w->ncreators, sizeof *r->cimpr);
  r->reached2 = calloc(w->nitems, 1);
  r->cr_pool2 = calloc(w->ncreators, 1);
  r->hist = malloc(2000 * sizeof *r->hist);
  r->out->days = calloc(o->days ? o->days : 1, sizeof *r->out->days);
  lt_buf_init(&r->json);
  if (!r->dense || !r->sat || !r->churned || !r->active_today || !r->follows || !r->cimpr ||
      !r->reached2 || !r->cr_pool2 || !r->hist || !r->out->days)
    return LT_ENOMEM;
  for (uint32_t i = 0; i < w->nitems; i++)
    r->dense[i] = LT_NONE;
  for (uint32_t u = 0; u < w->nusers; u++)
    r->sat[u] = 0.6f;
  int rc;
  if (r->policy == LT_SIM_REMOTE) {
    if ((rc = lt__http_open(o->url, o->api_key, &r->http))) return rc;
  } else {
    if (o->keep_dir) {
      if (mkdir(o->keep_dir, 0700) && errno != EEXIST) return LT_EIO;
      snprintf(r->dir, sizeof r->dir, "%s/%s", o->keep_dir, lt_sim_policy_name(r->policy));
    } else {
      const char *tmp = getenv("TMPDIR");
      snprintf(r->dir, sizeof r->dir, "%s/laotie-sim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
      if (!mkdtemp(r->dir)) {
        r->dir[0] = 0;
        return LT_EIO;
      }
    }
    lt_store_opts_t so;
    lt_store_opts_default(&so);
    so.log.fsync_mode = LT_FSYNC_OFF;
    if ((rc = lt_store_open(r->dir, &so, &r->store, NULL))) return rc;
    r->st = lt_store_state(r->store);
    lt_feed_opts_t fo = o->feed;
    if (r->policy == LT_SIM_LAOTIE_NOPOOLS) fo.policies_off |= LT_POL_POOLS | LT_POL_FAIRNESS;
    if (!fo.request_seed) fo.request_seed = o->seed;
    if (!fo.seed) fo.seed = o->seed;
    if ((rc = lt_feed_new(r->st, &fo, NULL, &r->feed))) return rc;
    lt_store_set_observer(r->store, observe, lt_feed_prepare, r->feed);
  }
  /* the starting platform */
  if ((rc = publish(r, 0, w->creators_from[0], 0, w->items_from[0]))) return rc;
  for (uint32_t u = 0; u < w->nusers && !rc; u++)
    for (uint32_t k = 0; k < w->users[u].nfollow0 && !rc; k++) {
      if ((rc = room(r, 1))) break;
      lt_record_t *x = rec_new(r, LT_REC_FOLLOW);
      x->u.follow.user = sfmt(r, "u%u", u);
      x->u.follow.creator = sfmt(r, "c%u", w->users[u].follow0[k]);
      x->u.follow.ts_ms = w->t0 - 1000;
      set_following(r, u, w->users[u].follow0[k]);
    }
  if (!rc) rc = flush(r);
  return rc;
}

static void run_close(run_t *r) {
  if (r->store) lt_store_close(r->store, 0);
  lt_feed_free(r->feed);
  lt__http_close(r->http);
  if (r->dir[0] && !r->o->keep_dir) nftw(r->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(r->dense);
  free(r->widx);
  free(r->sat);
  free(r->churned);
  free(r->active_today);
  free(r->follows);
  free(r->cimpr);
  free(r->reached2);
  free(r->cr_pool2);
  free(r->hist);
  free(r->ratios);
  free(r->poplist);
  lt_buf_free(&r->json);
}

/* Runs one policy over every day; fills r->out. */
static void run_policy(const world_t *w, const lt_sim_opts_t *o, int policy, lt_sim_run_t *out) {
  uint64_t t0 = lt_mono_ns();
  run_t *r = calloc(1, sizeof *r);
  memset(out, 0, sizeof *out);
  out->policy = policy;
  if (!r) {
    out->error = LT_ENOMEM;
    return;
  }
  r->w = w;
  r->o = o;
  r->policy = policy;
  r->out = out;
  int rc = run_open(r);
  for (uint32_t d = 0; d < o->days && !rc; d++)
    rc = run_day(r, d);
  out->error = rc;
  out->feed_seconds = (double)r->feed_ns / 1e9;
  /* the totals */
  lt_sim_day_t *t = &out->total;
  double gini = 0, young = 0, aigc = 0;
  uint64_t active = 0;
  for (uint32_t d = 0; d < out->ndays; d++) {
    const lt_sim_day_t *x = &out->days[d];
    t->sessions += x->sessions;
    t->requests += x->requests;
    t->impressions += x->impressions;
    t->plays += x->plays;
    t->completions += x->completions;
    t->likes += x->likes;
    t->follows += x->follows;
    t->not_interested += x->not_interested;
    t->watch_ms += x->watch_ms;
    active += x->active_users;
    gini += x->creator_gini;
    young += x->young_share * (double)x->impressions;
    aigc += x->aigc_share * (double)x->impressions;
    t->video_plays += x->video_plays;
  }
  if (out->ndays) {
    const lt_sim_day_t *last = &out->days[out->ndays - 1];
    t->day = last->day;
    t->churned = last->churned;
    t->new_items = last->new_items;
    t->new_items_pool2 = last->new_items_pool2;
    t->pool2_share = last->pool2_share;
    t->new_creators = last->new_creators;
    t->new_creators_pool2 = last->new_creators_pool2;
    t->active_users = (uint32_t)(active / out->ndays); /* average per day */
    t->watch_min_per_active = active ? t->watch_ms / 60000.0 / (double)active : 0;
    t->creator_gini = gini / out->ndays; /* mean of the daily figures */
    t->young_share = t->impressions ? young / (double)t->impressions : 0;
    t->aigc_share = t->impressions ? aigc / (double)t->impressions : 0;
    double aw = 0, med = 0;
    for (uint32_t d = 0; d < out->ndays; d++) {
      aw += out->days[d].aigc_watch_share * (double)out->days[d].watch_ms;
      med += out->days[d].median_watch_ratio;
    }
    t->aigc_watch_share = t->watch_ms ? aw / (double)t->watch_ms : 0;
    t->median_watch_ratio = med / out->ndays;
    t->completion_rate = t->video_plays ? (double)t->completions / (double)t->video_plays : 0;
    out->watch_min_per_user_day = t->watch_ms / 60000.0 / (double)w->nusers / out->ndays;
  }
  run_close(r);
  free(r);
  out->seconds = (double)(lt_mono_ns() - t0) / 1e9;
  t->seconds = out->seconds;
}

/* ---- lt_sim_run --------------------------------------------------------------------- */

typedef struct pool_ctx {
  const world_t *w;
  const lt_sim_opts_t *o;
  lt_sim_report_t *rep;
  int policy[LT_SIM__POLICIES];
  uint32_t n, next; /* next: atomic */
} pool_ctx_t;

static void *worker(void *p) {
  pool_ctx_t *c = p;
  for (;;) {
    uint32_t k = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
    if (k >= c->n) return NULL;
    run_policy(c->w, c->o, c->policy[k], &c->rep->runs[k]);
  }
}

int lt_sim_run(const lt_sim_opts_t *in, lt_sim_report_t *out) {
  if (!in || !out) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  lt_sim_opts_t o = *in;
  lt_sim_opts_t d;
  lt_sim_opts_default(&d);
  if (!o.items || !o.users || !o.page || o.page > LT_FEED_MAX) return LT_EINVAL;
  if (!o.creators) o.creators = o.items / 8 ? o.items / 8 : 1;
  if (!o.new_items && in->new_items == 0) o.new_items = o.items / 80;
  if (!o.threads) o.threads = d.threads;
  if (o.users > 10000000 || o.items > 10000000 || o.days > 3650) return LT_EINVAL;
  if (o.url) o.policies = 1u << LT_SIM_REMOTE;
  if (!o.policies) return LT_EINVAL;
  uint64_t t0 = lt_mono_ns();
  world_t w;
  int64_t start = T0_MS;
  if (o.url) start = (lt_now_ms() / DAY_MS - (int64_t)o.days - 1) * DAY_MS;
  int rc = world_build(&o, start, &w);
  if (rc) return rc;
  out->opts = o;
  pool_ctx_t c = {&w, &out->opts, out, {0}, 0, 0};
  for (int p = 0; p < LT_SIM__POLICIES; p++)
    if (o.policies & (1u << p)) c.policy[c.n++] = p;
  out->nruns = c.n;
  uint32_t nt = o.threads < c.n ? o.threads : c.n;
  pthread_t th[LT_SIM__POLICIES];
  uint32_t started = 0;
  for (uint32_t k = 1; k < nt; k++)
    if (!pthread_create(&th[started], NULL, worker, &c)) started++;
  worker(&c);
  for (uint32_t k = 0; k < started; k++)
    pthread_join(th[k], NULL);
  world_free(&w);
  out->seconds = (double)(lt_mono_ns() - t0) / 1e9;
  return LT_OK;
}

void lt_sim_report_free(lt_sim_report_t *r) {
  if (!r) return;
  for (uint32_t k = 0; k < r->nruns; k++) {
    free(r->runs[k].days);
    r->runs[k].days = NULL;
  }
  r->nruns = 0;
}

/* ---- output ----------------------------------------------------------------------------- */

static void day_row(FILE *f, const char *label, const lt_sim_day_t *x) {
  fprintf(f, "%-6s %7u %8.2f %7.3f %7.3f %7.3f %7.3f %7.3f %8.3f %7u %7u %7.3f\n", label,
          x->active_users, x->watch_min_per_active, x->completion_rate, x->median_watch_ratio,
          x->creator_gini, x->young_share, x->pool2_share, x->aigc_share, x->new_creators_pool2,
          x->churned, x->aigc_watch_share);
}

static const char *HEADER =
    "day     active watchmin  compl  wratio    gini   young  pool2    aigc  "
    "newcr2    left aigc_wt\n";

void lt_sim_print_table(FILE *f, const lt_sim_report_t *r) {
  const lt_sim_opts_t *o = &r->opts;
  fprintf(f,
          "laotie simulate: %u days, %u users, %u items (+%u a day), %u creators (+%u a day), "
          "page %u, seed %" PRIu64 "\n",
          o->days, o->users, o->items, o->new_items, o->creators, o->new_creators, o->page,
          o->seed);
  fprintf(f, "columns: active users; watch minutes per active user; completion rate; median "
             "watch ratio;\n  creator Gini of impressions; share of impressions to creators "
             "younger than 7 days;\n  share of new items that reached pool 2; AIGC share of "
             "impressions; new creators with\n  an item in pool 2; users who stopped "
             "returning; AIGC share of watch time\n");
  for (uint32_t k = 0; k < r->nruns; k++) {
    const lt_sim_run_t *run = &r->runs[k];
    fprintf(f, "\n== %s (%.1f s: feed %.1f s, training %.1f s; %" PRIu64 " records)%s%s\n",
            lt_sim_policy_name(run->policy), run->seconds, run->feed_seconds, run->train_seconds,
            run->events, run->error ? " STOPPED: " : "", run->error ? lt_strerror(run->error) : "");
    fputs(HEADER, f);
    char label[16];
    for (uint32_t d = 0; d < run->ndays; d++) {
      snprintf(label, sizeof label, "%u", run->days[d].day);
      day_row(f, label, &run->days[d]);
    }
    day_row(f, "all", &run->total);
  }
  fprintf(f, "\n== summary (all days)\n%-16s %9s %9s %7s %7s %7s %7s %7s %7s %7s\n", "policy",
          "min/user", "min/activ", "compl", "gini", "young", "pool2", "newcr2", "aigc", "left");
  for (uint32_t k = 0; k < r->nruns; k++) {
    const lt_sim_run_t *run = &r->runs[k];
    const lt_sim_day_t *t = &run->total;
    fprintf(f, "%-16s %9.2f %9.2f %7.3f %7.3f %7.3f %7.3f %7u %7.3f %7u\n",
            lt_sim_policy_name(run->policy), run->watch_min_per_user_day, t->watch_min_per_active,
            t->completion_rate, t->creator_gini, t->young_share, t->pool2_share,
            t->new_creators_pool2, t->aigc_share, t->churned);
  }
  fprintf(f, "(min/user: watch minutes per user per day, every user counted; %.1f s in all)\n",
          r->seconds);
}

static void day_json(FILE *f, const lt_sim_day_t *x) {
  fprintf(f,
          "{\"day\":%u,\"active_users\":%u,\"sessions\":%u,\"requests\":%u,\"impressions\":%" PRIu64
          ",\"plays\":%" PRIu64 ",\"completions\":%" PRIu64 ",\"likes\":%" PRIu64
          ",\"follows\":%" PRIu64 ",\"not_interested\":%" PRIu64 ",\"watch_ms\":%" PRIu64
          ",\"watch_min_per_active\":%.4f,\"completion_rate\":%.4f,\"median_watch_ratio\":%.4f,"
          "\"creator_gini\":%.4f,\"young_share\":%.4f,\"new_items\":%u,\"new_items_pool2\":%u,"
          "\"pool2_share\":%.4f,\"new_creators\":%u,\"new_creators_pool2\":%u,"
          "\"aigc_share\":%.4f,\"aigc_watch_share\":%.4f,\"churned\":%u,\"seconds\":%.3f}",
          x->day, x->active_users, x->sessions, x->requests, x->impressions, x->plays,
          x->completions, x->likes, x->follows, x->not_interested, x->watch_ms,
          x->watch_min_per_active, x->completion_rate, x->median_watch_ratio, x->creator_gini,
          x->young_share, x->new_items, x->new_items_pool2, x->pool2_share, x->new_creators,
          x->new_creators_pool2, x->aigc_share, x->aigc_watch_share, x->churned, x->seconds);
}

void lt_sim_print_json(FILE *f, const lt_sim_report_t *r) {
  const lt_sim_opts_t *o = &r->opts;
  fprintf(f,
          "{\"days\":%u,\"users\":%u,\"items\":%u,\"new_items\":%u,\"creators\":%u,"
          "\"new_creators\":%u,\"page\":%u,\"seed\":%" PRIu64 ",\"seconds\":%.3f,\"runs\":[",
          o->days, o->users, o->items, o->new_items, o->creators, o->new_creators, o->page, o->seed,
          r->seconds);
  for (uint32_t k = 0; k < r->nruns; k++) {
    const lt_sim_run_t *run = &r->runs[k];
    fprintf(f,
            "%s{\"policy\":\"%s\",\"error\":%s%s%s,\"seconds\":%.3f,\"feed_seconds\":%.3f,"
            "\"train_seconds\":%.3f,\"records\":%" PRIu64 ",\"watch_min_per_user_day\":%.4f,"
            "\"summary\":",
            k ? "," : "", lt_sim_policy_name(run->policy), run->error ? "\"" : "",
            run->error ? lt_strerror(run->error) : "null", run->error ? "\"" : "", run->seconds,
            run->feed_seconds, run->train_seconds, run->events, run->watch_min_per_user_day);
    day_json(f, &run->total);
    fprintf(f, ",\"days\":[");
    for (uint32_t d = 0; d < run->ndays; d++) {
      if (d) fputc(',', f);
      day_json(f, &run->days[d]);
    }
    fprintf(f, "]}");
  }
  /* the side-by-side summary (what bench/run reads) */
  fprintf(f, "],\"policies\":[");
  for (uint32_t k = 0; k < r->nruns; k++) {
    const lt_sim_run_t *run = &r->runs[k];
    fprintf(f,
            "%s{\"name\":\"%s\",\"watch_minutes_per_user\":%.4f,\"watch_minutes_per_active\":%.4f,"
            "\"creator_gini\":%.4f,\"young_share\":%.4f,\"pool2_share\":%.4f,"
            "\"new_creators_pool2\":%u,\"aigc_share\":%.4f,\"churned\":%u,\"seconds\":%.3f}",
            k ? "," : "", lt_sim_policy_name(run->policy), run->watch_min_per_user_day,
            run->total.watch_min_per_active, run->total.creator_gini, run->total.young_share,
            run->total.pool2_share, run->total.new_creators_pool2, run->total.aigc_share,
            run->total.churned, run->seconds);
  }
  fprintf(f, "]}\n");
}
