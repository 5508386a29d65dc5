/*
 * ads_sim.c — a simulated day of ad delivery through the real ads engine
 * and a real store: 20 campaigns, synthetic users with interests, traffic
 * shaped over 24 local hours. Each feed request asks lt_ads_fill for its
 * ad slots; every served ad comes back as client events (ad_impression,
 * then ad_click and ad_conversion with the creative's true rates for that
 * user), priced by lt_ads_stamp and billed by the books through the store;
 * lt_ads_tick runs every 5 simulated seconds. Time is simulated: a day
 * takes a few seconds to a minute.
 *
 * The day is run with the real budgets and pacing. Then, for each campaign
 * that spent less than 95 % of its budget, the same day (same traffic, same
 * random choices) is run again with only that campaign's budget lifted
 * (x 1000: its pacing never throttles), against the same competition: what
 * it spends there is its demand. A campaign "has enough demand" when it
 * spent at least 95 % of its budget, or when its demand is at least 1.2 x
 * its budget and it was not reach-limited: a campaign whose targeted
 * audience is saturated — over the last 6 hours of the day it sat out more
 * than twice as many requests at its frequency cap as it won — has bought
 * all the reach its settings allow (what more it "would spend" unpaced is
 * the same reach bought in pricier hours). Reported per campaign: budget, demand (for the
 * under-spenders), spend (the ledger's billed spend), spend / budget, and
 * the largest share of its daily budget billed in one local hour. The
 * check of issue 6: campaigns with enough demand spend within 5 % of their
 * budget, and none spends more than 15 % of its daily budget in any hour.
 *
 * Build (from the repository root, after `make build`):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc -o build/ads_sim bench/ads_sim.c \
 *      build/liblaotie.a $(pkg-config --libs libcjson libmicrohttpd libxxhash openblas) -lm
 * -lpthread Run:  build/ads_sim [--requests N (1000000)] [--users N (50000)] [--seed S (42)]
 * [--json]
 *                     [--opt KEY=VALUE] (an ads option, as ads.KEY in the config)
 */
#include "ads/ads.h"
#include "core/clock.h"
#include "core/error.h"
#include "state/record.h"
#include "state/state.h"
#include "state/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NCAMP 20
#define NTAGS 40
#define CRE_PER 3
#define PAGE 12
#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

/* ---- a small deterministic PRNG (xorshift64*) ---- */
static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static uint32_t below(uint32_t n) { return (uint32_t)(unif() * n); }

typedef struct camp {
  const char *type;
  int64_t bid, budget;
  int ntags;
  int tags[2];
  int group_vip;
  int cap;
  double ctr[CRE_PER], cvr[CRE_PER];
  int cre_tag[CRE_PER];
  int aigc[CRE_PER];
} camp_t;

typedef struct sim {
  lt_ads_opts_t opts;
  uint32_t users, items, requests;
  uint64_t seed;
  camp_t c[NCAMP];
  int *user_tags; /* 3 per user, -1 = none */
  int *item_tag;
} sim_t;

/* Traffic over the local day: a night trough, a lunch bump and an evening
 * peak — close to, but not the same as, the engine's built-in prior. */
static double traffic(double hour) {
  double base = 0.18 + 0.82 * pow(0.5 - 0.5 * cos(2 * M_PI * (hour - 4.5) / 24), 1.6);
  double lunch = 0.25 * exp(-pow((hour - 12.5) / 1.0, 2));
  double evening = 0.35 * exp(-pow((hour - 21.0) / 1.6, 2));
  return base + lunch + evening;
}

static void write_or_die(lt_store_t *s, lt_record_t *r, size_t n) {
  int rc = lt_store_write(s, r, n, 0, NULL, NULL, NULL);
  if (rc) {
    fprintf(stderr, "ads_sim: write: %s\n", lt_strerror(rc));
    exit(1);
  }
}

static void make_world(sim_t *w) {
  rng_state = w->seed * 0x9e3779b97f4a7c15ULL + 1;
  w->user_tags = malloc(sizeof(int) * 3 * w->users);
  w->item_tag = malloc(sizeof(int) * w->items);
  for (uint32_t i = 0; i < w->items; i++)
    w->item_tag[i] = (int)below(NTAGS);
  for (uint32_t u = 0; u < w->users; u++)
    for (int k = 0; k < 3; k++) {
      /* interests skewed towards low tag numbers (popular topics) */
      int t = (int)(NTAGS * pow(unif(), 1.7));
      w->user_tags[u * 3 + k] = k < 2 || unif() < 0.5 ? t : -1;
    }
  static const char *types[3] = {"cpm", "cpc", "ocpm"};
  for (int c = 0; c < NCAMP; c++) {
    camp_t *p = &w->c[c];
    p->type = types[c % 3];
    /* bids around the same eCPM band so they compete */
    if (c % 3 == 0)
      p->bid = 200 + (int64_t)below(400); /* CPM, cents per mille */
    else if (c % 3 == 1)
      p->bid = 15 + (int64_t)below(30); /* CPC, cents */
    else
      p->bid = 300 + (int64_t)below(900); /* oCPM, cents per conversion */
    /* budgets: $10 .. $150 a day; two so large they cannot be spent */
    p->budget = 1000 + (int64_t)below(14000);
    if (c == 7 || c == 15) p->budget = 2000000;
    p->ntags = c % 4 == 0 ? 0 : (c % 4 == 3 ? 2 : 1);
    for (int k = 0; k < p->ntags; k++)
      p->tags[k] = (int)below(NTAGS / 2);
    p->group_vip = c == 11 || c == 19; /* narrow: only vip users */
    p->cap = c % 5 == 0 ? 10 : 0;
    for (int k = 0; k < CRE_PER; k++) {
      p->ctr[k] = 0.004 + 0.03 * unif();
      p->cvr[k] = 0.02 + 0.12 * unif();
      p->cre_tag[k] = p->ntags ? p->tags[k % p->ntags] : (int)below(NTAGS);
      p->aigc[k] = below(4) == 0;
    }
  }
}

static int user_likes(const sim_t *w, uint32_t u, int tag) {
  for (int k = 0; k < 3; k++)
    if (w->user_tags[u * 3 + k] == tag) return 1;
  return 0;
}

typedef struct result {
  int64_t spend[NCAMP], hour[NCAMP][24];
  uint64_t himps[NCAMP][24], hclicks[NCAMP][24];
  double pace[NCAMP][24];     /* pacing multiplier at the end of each hour */
  uint64_t won[NCAMP][24];    /* auctions won, cumulative at the end of each hour */
  uint64_t capped[NCAMP][24]; /* requests sat out at the frequency cap, cumulative */
  uint64_t imps[NCAMP], clicks[NCAMP], convs[NCAMP];
  uint64_t fills, ads;
  double fill_us_p50, fill_us_p99, seconds;
} result_t;

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* lift: -1 = the real budgets; c = campaign c's budget x 1000. */
static int run(const sim_t *w, int lift, result_t *res) {
  memset(res, 0, sizeof *res);
  char dir[] = "/tmp/ads_sim.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  lt_ads_opts_t ao = w->opts;
  lt_ads_t *a = NULL;
  lt_store_t *s = NULL;
  if (lt_ads_new(&ao, &a)) return 1;
  lt_store_opts_t so;
  lt_store_opts_default(&so);
  so.log.fsync_mode = LT_FSYNC_OFF;
  so.state.timezone = "Asia/Shanghai";
  so.ext = lt_ads_ext;
  so.ext_ctx = a;
  int rc = lt_store_open(dir, &so, &s, NULL);
  if (!rc) rc = lt_ads_attach(a, s);
  if (rc) {
    fprintf(stderr, "ads_sim: open: %s\n", lt_strerror(rc));
    return 1;
  }
  lt_store_set_observer(s, lt_ads_observe, NULL, a);
  lt_state_t *st = lt_store_state(s);
  /* the day: 2025-11-28 in Asia/Shanghai */
  const int64_t T0 = 1764259200000LL;
  char name[64], tag[16], name2[64];

  /* catalog */
  lt_record_t r;
  for (uint32_t i = 0; i < w->items; i++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_ITEM_PUT;
    snprintf(name, sizeof name, "o%u", i);
    snprintf(name2, sizeof name2, "cr%u", i % 500);
    snprintf(tag, sizeof tag, "t%d", w->item_tag[i]);
    r.u.item = (lt_item_rec_t){.id = lt_str_of(name), .creator = lt_str_of(name2), .ntags = 1};
    r.u.item.tags[0] = lt_str_of(tag);
    r.u.item.duration_ms = 15000;
    write_or_die(s, &r, 1);
  }
  for (int c = 0; c < NCAMP; c++)
    for (int k = 0; k < CRE_PER; k++) {
      memset(&r, 0, sizeof r);
      r.kind = LT_REC_ITEM_PUT;
      snprintf(name, sizeof name, "ad%d_%d", c, k);
      snprintf(name2, sizeof name2, "brand%d", c);
      snprintf(tag, sizeof tag, "t%d", w->c[c].cre_tag[k]);
      r.u.item = (lt_item_rec_t){.id = lt_str_of(name),
                                 .creator = lt_str_of(name2),
                                 .ntags = 1,
                                 .aigc = (uint8_t)w->c[c].aigc[k]};
      r.u.item.tags[0] = lt_str_of(tag);
      write_or_die(s, &r, 1);
    }
  /* users: 3 % ad-free, 8 % vip; a history of plays on their interests */
  uint64_t saved = rng_state;
  rng_state = w->seed * 7919 + 17;
  for (uint32_t u = 0; u < w->users; u++) {
    memset(&r, 0, sizeof r);
    r.kind = LT_REC_USER_PUT;
    snprintf(name, sizeof name, "u%u", u);
    r.u.user.id = lt_str_of(name);
    double x = unif();
    if (x < 0.03)
      r.u.user.groups[r.u.user.ngroups++] = LT_STR("ad_free");
    else if (x < 0.11)
      r.u.user.groups[r.u.user.ngroups++] = LT_STR("vip");
    r.u.user.ts_ms = T0 - DAY_MS;
    write_or_die(s, &r, 1);
    lt_record_t h[8];
    char hid[8][32], hitem[8][32];
    int nh = 0;
    for (int k = 0; k < 8; k++) {
      int t = w->user_tags[u * 3 + (k % 3)];
      if (t < 0) t = w->user_tags[u * 3];
      uint32_t it = below(w->items);
      for (int tries = 0; tries < 60 && w->item_tag[it] != t; tries++)
        it = below(w->items);
      memset(&h[nh], 0, sizeof h[nh]);
      h[nh].kind = LT_REC_EVENT;
      snprintf(hid[nh], sizeof hid[nh], "h%u_%d", u, k);
      snprintf(hitem[nh], sizeof hitem[nh], "o%u", it);
      h[nh].u.ev.id = lt_str_of(hid[nh]);
      h[nh].u.ev.user = lt_str_of(name);
      h[nh].u.ev.item = lt_str_of(hitem[nh]);
      h[nh].u.ev.type = LT_EV_PLAY;
      h[nh].u.ev.watch_ms = 12000;
      h[nh].u.ev.ts_ms = T0 - DAY_MS + k * 1000;
      h[nh].u.ev.position = -1;
      nh++;
    }
    write_or_die(s, h, (size_t)nh);
  }
  rng_state = saved;

  /* campaigns */
  for (int c = 0; c < NCAMP; c++) {
    const camp_t *p = &w->c[c];
    char json[1024];
    int o = snprintf(
        json, sizeof json,
        "{\"id\": \"c%02d\", \"advertiser\": \"brand%d\", \"daily_budget_cents\": %" PRId64
        ", \"bid\": {\"type\": \"%s\", \"amount_cents\": %" PRId64 "}, \"targeting\": {\"tags\": [",
        c, c, lift == c ? p->budget * 1000 : p->budget, p->type, p->bid);
    for (int k = 0; k < p->ntags; k++)
      o += snprintf(json + o, sizeof json - o, "%s\"t%d\"", k ? ", " : "", p->tags[k]);
    o += snprintf(json + o, sizeof json - o, "], \"groups\": [%s]}, \"creatives\": [",
                  p->group_vip ? "\"vip\"" : "");
    for (int k = 0; k < CRE_PER; k++)
      o += snprintf(json + o, sizeof json - o, "%s{\"item\": \"ad%d_%d\", \"aigc\": %s}",
                    k ? ", " : "", c, k, p->aigc[k] ? "true" : "false");
    if (p->cap)
      o += snprintf(json + o, sizeof json - o, "], \"frequency_cap\": %d}", p->cap);
    else
      o += snprintf(json + o, sizeof json - o, "]}");
    lt_ads_spec_t *sp = malloc(sizeof *sp);
    const char *why = NULL;
    rc = lt_ads_spec_parse(json, (size_t)o, sp, &why);
    if (!rc) rc = lt_ads_campaign_create(a, sp, T0 - HOUR_MS, NULL, &why);
    free(sp);
    if (rc) {
      fprintf(stderr, "ads_sim: campaign %d: %s (%s)\n%s\n", c, lt_strerror(rc), why ? why : "",
              json);
      return 1;
    }
  }
  uint32_t *uid_of = malloc(w->users * sizeof *uid_of), *iid_of = malloc(w->items * sizeof *iid_of);
  for (uint32_t u = 0; u < w->users; u++) {
    snprintf(name, sizeof name, "u%u", u);
    lt_state_find(st, LT_NS_USER, name, strlen(name), &uid_of[u]);
  }
  for (uint32_t i = 0; i < w->items; i++) {
    snprintf(name, sizeof name, "o%u", i);
    lt_state_find(st, LT_NS_ITEM, name, strlen(name), &iid_of[i]);
  }
  uint32_t cre_item[NCAMP][CRE_PER];
  for (int c = 0; c < NCAMP; c++)
    for (int k = 0; k < CRE_PER; k++) {
      snprintf(name, sizeof name, "ad%d_%d", c, k);
      lt_state_find(st, LT_NS_ITEM, name, strlen(name), &cre_item[c][k]);
    }

  /* the day */
  double wsum = 0;
  for (int m = 0; m < 1440; m++)
    wsum += traffic((m + 0.5) / 60.0);
  size_t cap = 1 << 16, nev = 0;
  lt_record_t *ev = malloc(cap * sizeof *ev);
  char(*ids)[48] = malloc(cap * 48);
  uint64_t seq = 0, rseq = 0;
  size_t nlat = 0, latcap = 1 << 20;
  double *lat = malloc(latcap * sizeof *lat);
  uint64_t t_start = lt_mono_ns();
  rng_state = w->seed * 31 + 7; /* the same traffic in both passes */
  double carry = 0;
  for (int m = 0; m < 1440; m++) {
    int64_t tm = T0 + m * MINUTE_MS;
    double want = w->requests * traffic((m + 0.5) / 60.0) / wsum + carry;
    uint32_t nreq = (uint32_t)want;
    carry = want - nreq;
    for (uint32_t q = 0; q < nreq; q++) {
      int64_t now = tm + (int64_t)q * MINUTE_MS / (nreq ? nreq : 1);
      if (q == 0 || (now / 5000) != ((now - MINUTE_MS / (nreq ? nreq : 1)) / 5000))
        lt_ads_tick(a, now);
      uint32_t u = below(w->users);
      uint32_t items[PAGE];
      float scores[PAGE];
      for (int i = 0; i < PAGE; i++) {
        items[i] = iid_of[below(w->items)];
        scores[i] = (float)(2.0 * (unif() - 0.5));
      }
      char rid[24];
      snprintf(rid, sizeof rid, "r%" PRIx64, ++rseq);
      lt_ads_page_t pg = {uid_of[u], items, scores, PAGE, rid};
      lt_ads_slot_t out[4];
      uint32_t n = 0;
      uint64_t f0 = lt_mono_ns();
      lt_ads_fill(a, &pg, now, out, 4, &n);
      if (nlat < latcap) lat[nlat++] = (double)(lt_mono_ns() - f0) / 1000.0;
      res->fills++;
      for (uint32_t k = 0; k < n; k++) {
        res->ads++;
        int c = (int)out[k].campaign, cr = 0;
        for (int j = 0; j < CRE_PER; j++)
          if (cre_item[c][j] == out[k].item) cr = j;
        double aff = user_likes(w, u, w->c[c].cre_tag[cr]) ? 2.5 : 0.6;
        int shown = unif() < 0.97; /* 3 % of impressions never reported */
        int click = shown && unif() < w->c[c].ctr[cr] * aff;
        int conv = click && unif() < w->c[c].cvr[cr];
        const char *user = lt_state_name(st, LT_NS_USER, uid_of[u]),
                   *item = lt_state_name(st, LT_NS_ITEM, out[k].item);
        int types[3] = {LT_EV_AD_IMPRESSION, LT_EV_AD_CLICK, LT_EV_AD_CONVERSION};
        int want_ev[3] = {shown, click, conv};
        for (int e = 0; e < 3; e++) {
          if (!want_ev[e]) continue;
          if (nev == cap) break;
          snprintf(ids[nev], 24, "e%" PRIu64, ++seq);
          char *ridc = ids[nev] + 24;
          snprintf(ridc, 24, "%s", rid);
          memset(&ev[nev], 0, sizeof ev[nev]);
          ev[nev].kind = LT_REC_EVENT;
          ev[nev].u.ev = (lt_event_t){.id = lt_str_of(ids[nev]),
                                      .user = lt_str_of(user),
                                      .item = lt_str_of(item),
                                      .request_id = lt_str_of(ridc),
                                      .ts_ms = now + e * 5000,
                                      .type = (uint8_t)types[e],
                                      .position = (int32_t)out[k].position};
          nev++;
        }
      }
    }
    if (m % 60 == 59)
      for (int c = 0; c < NCAMP; c++) {
        lt_ads_serving_t sv;
        lt_ads_campaign_serving(a, (uint32_t)c, &sv);
        res->pace[c][m / 60] = sv.pacing;
        res->won[c][m / 60] = sv.served;
        res->capped[c][m / 60] = sv.frequency_capped;
      }
    /* the minute's client events come back: priced by the server, written */
    lt_ads_stamp(a, ev, nev);
    if (nev) write_or_die(s, ev, nev);
    nev = 0;
  }
  lt_ads_tick(a, T0 + DAY_MS - 1);
  res->seconds = (double)(lt_mono_ns() - t_start) / 1e9;
  qsort(lat, nlat, sizeof *lat, cmp_d);
  res->fill_us_p50 = nlat ? lat[nlat / 2] : 0;
  res->fill_us_p99 = nlat ? lat[nlat * 99 / 100] : 0;
  int32_t day = lt_days_from_civil(2025, 11, 28);
  for (int c = 0; c < NCAMP; c++) {
    lt_ads_counts_t h[24];
    lt_ads_campaign_hours(a, (uint32_t)c, day, day, h);
    for (int k = 0; k < 24; k++) {
      res->hour[c][k] = h[k].spend_ucents;
      res->himps[c][k] = h[k].impressions;
      res->hclicks[c][k] = h[k].clicks;
      res->spend[c] += h[k].spend_ucents;
      res->imps[c] += h[k].impressions;
      res->clicks[c] += h[k].clicks;
      res->convs[c] += h[k].conversions;
    }
  }
  if (!lt_ads_check(a)) fprintf(stderr, "ads_sim: lt_ads_check failed\n");
  free(ev);
  free(ids);
  free(lat);
  free(uid_of);
  free(iid_of);
  lt_store_close(s, 0);
  lt_ads_free(a);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) fprintf(stderr, "ads_sim: could not remove %s\n", dir);
  return 0;
}

int main(int argc, char **argv) {
  sim_t w;
  memset(&w, 0, sizeof w);
  w.users = 50000;
  w.items = 5000;
  w.requests = 1000000;
  w.seed = 42;
  lt_ads_opts_default(&w.opts);
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--requests") && i + 1 < argc)
      w.requests = (uint32_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--users") && i + 1 < argc)
      w.users = (uint32_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      w.seed = (uint64_t)atoll(argv[++i]);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--opt") && i + 1 < argc) { /* --opt pacing_mix=0.5 */
      char kv[256], err[256];
      snprintf(kv, sizeof kv, "%s", argv[++i]);
      char *eq = strchr(kv, '=');
      if (!eq) return fprintf(stderr, "ads_sim: --opt KEY=VALUE\n"), 2;
      *eq = 0;
      if (lt_ads_opts_set(&w.opts, kv, eq + 1, err, sizeof err))
        return fprintf(stderr, "ads_sim: %s\n", err), 2;
    } else {
      fprintf(
          stderr,
          "usage: ads_sim [--requests N] [--users N] [--seed S] [--json] [--opt KEY=VALUE]...\n");
      return 2;
    }
  }
  make_world(&w);
  static result_t res, cf;
  int64_t demand[NCAMP];
  double cf_seconds = 0;
  if (run(&w, -1, &res)) return 1;
  for (int c = 0; c < NCAMP; c++) {
    demand[c] = -1;
    if ((double)res.spend[c] >= 0.95 * (double)w.c[c].budget * 1e6) continue;
    if (run(&w, c, &cf)) return 1;
    demand[c] = cf.spend[c];
    cf_seconds += cf.seconds;
  }
  int rich = 0, rich_ok = 0, hour_ok = 1;
  double worst_hour = 0, worst_dev = 0;
  if (!json)
    printf("ads_sim: %u requests over a simulated day, %u users, %d campaigns, seed %" PRIu64 "\n"
           "%-4s %-4s %6s %9s %10s %10s %8s %8s %8s %6s  %s\n",
           w.requests, w.users, NCAMP, w.seed, "id", "type", "bid", "budget$", "demand$", "spend$",
           "spend%", "maxhr%", "imps", "CTR%", "verdict");
  for (int c = 0; c < NCAMP; c++) {
    double budget = (double)w.c[c].budget * 1e6, spend = (double)res.spend[c];
    double maxh = 0;
    for (int h = 0; h < 24; h++)
      if (res.hour[c][h] / budget > maxh) maxh = res.hour[c][h] / budget;
    uint64_t won6 = res.won[c][23] - res.won[c][17],
             capped6 = res.capped[c][23] - res.capped[c][17];
    int reach_limited = capped6 > 2 * won6 && capped6 > 0;
    int enough = demand[c] < 0 || ((double)demand[c] >= 1.2 * budget && !reach_limited);
    double dev = fabs(spend / budget - 1);
    if (enough) {
      rich++;
      rich_ok += dev <= 0.05;
      if (dev > worst_dev) worst_dev = dev;
    }
    if (maxh > 0.15) hour_ok = 0;
    if (maxh > worst_hour) worst_hour = maxh;
    char dem[32];
    if (demand[c] < 0)
      snprintf(dem, sizeof dem, ">= budget");
    else
      snprintf(dem, sizeof dem, "%.2f", demand[c] / 1e8);
    if (json)
      printf("%s{\"campaign\": \"c%02d\", \"type\": \"%s\", \"bid_cents\": %" PRId64
             ", \"budget_cents\": %" PRId64 ", \"demand_cents\": %.2f, \"spend_cents\": %.2f, "
             "\"spend_share\": %.4f, \"max_hour_share\": %.4f, \"reach_limited\": %s, "
             "\"enough_demand\": %s}",
             c ? ",\n " : "{\"campaigns\": [", c, w.c[c].type, w.c[c].bid, w.c[c].budget,
             demand[c] < 0 ? -1.0 : demand[c] / 1e6, spend / 1e6, spend / budget, maxh,
             reach_limited ? "true" : "false", enough ? "true" : "false");
    else
      printf("c%02d  %-4s %6" PRId64 " %9.2f %10s %10.2f %7.1f%% %7.1f%% %8" PRIu64 " %6.2f  %s\n",
             c, w.c[c].type, w.c[c].bid, budget / 1e8, dem, spend / 1e8, 100 * spend / budget,
             100 * maxh, res.imps[c], res.imps[c] ? 100.0 * res.clicks[c] / res.imps[c] : 0,
             enough ? (dev <= 0.05 ? "enough demand: within 5%" : "enough demand: MISSED")
             : (double)demand[c] >= 1.2 * budget ? "reach-limited (audience at its frequency cap)"
             : reach_limited                     ? "demand-limited (audience at its frequency cap)"
                                                 : "demand-limited");
  }
  const char *dbg = getenv("ADS_SIM_HOURS"); /* e.g. ADS_SIM_HOURS=0,12: hourly spend of c00, c12 */
  for (const char *p = dbg; p && *p;) {
    int c = atoi(p);
    if (c >= 0 && c < NCAMP) {
      fprintf(stderr, "c%02d hourly spend $ (impressions, clicks):", c);
      for (int h = 0; h < 24; h++)
        fprintf(stderr, " %d:%.2f(%" PRIu64 "i,%" PRIu64 "c,p%.3f)", h, res.hour[c][h] / 1e8,
                res.himps[c][h], res.hclicks[c][h], res.pace[c][h]);
      fprintf(stderr, "\n");
    }
    p = strchr(p, ',');
    if (p) p++;
  }
  int pass = rich_ok == rich && hour_ok;
  if (json)
    printf("],\n \"requests\": %u, \"users\": %u, \"seed\": %" PRIu64 ", \"fills\": %" PRIu64
           ", \"ads\": %" PRIu64 ", \"enough_demand\": %d, \"within_5pct\": %d, "
           "\"worst_deviation\": %.4f, \"worst_hour_share\": %.4f, \"fill_us_p50\": %.2f, "
           "\"fill_us_p99\": %.2f, \"sim_seconds\": %.2f, \"pass\": %s}\n",
           w.requests, w.users, w.seed, res.fills, res.ads, rich, rich_ok, worst_dev, worst_hour,
           res.fill_us_p50, res.fill_us_p99, res.seconds, pass ? "true" : "false");
  else
    printf("\n%d of %d campaigns with enough demand spent within 5%% of budget (worst %.2f%% off); "
           "largest hourly share %.1f%% (limit 15%%)\n"
           "%" PRIu64 " auctions, %" PRIu64 " ads; lt_ads_fill p50 %.1f us, p99 %.1f us; "
           "simulated day in %.1f s (+ %.1f s of counterfactual days)\n%s\n",
           rich_ok, rich, 100 * worst_dev, 100 * worst_hour, res.fills, res.ads, res.fill_us_p50,
           res.fill_us_p99, res.seconds, cf_seconds, pass ? "PASS" : "FAIL");
  free(w.user_tags);
  free(w.item_tag);
  return pass ? 0 : 1;
}
