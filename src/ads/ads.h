/*
 * ads.h — the money side of laotie: ad campaigns, the ad auction blended
 * into feed pages, budget pacing, frequency caps, the spend ledger, and the
 * revenue lines of live gifts and e-commerce.
 *
 * One lt_ads_t serves one store. Its state has two halves:
 *
 *  - the books (campaigns, the spend ledger per campaign per day and hour,
 *    gifts per creator / room / day, GMV per item / creator / day): a pure
 *    function of the event log, rebuilt by one scan of the log at attach
 *    and then kept up to date from the store's ext callback (campaign
 *    records) and observer (events), so the books after a restart equal a
 *    fresh replay;
 *  - the serving side (budget reservations, pacing multipliers, frequency
 *    counters, the online pCTR / pCVR model, the table of ads served): in
 *    memory, rebuilt approximately at attach, never billed from.
 *
 * Campaign changes are extension records of the log (kinds
 * LT_ADS_REC_CAMPAIGN_PUT and LT_ADS_REC_CAMPAIGN_STATUS, formats in ads.c),
 * written durably by lt_ads_campaign_create / _update / _set_status.
 *
 * Money: integers only in the books. Budgets and bids are in cents; prices
 * and spend in micro-cents ("ucents": 1 cent = 1,000,000 ucents), because a
 * CPM price per impression is a fraction of a cent. eCPM is ucents per
 * thousand impressions.
 *
 * Charging (exactly once per event id; the store drops an event whose id was
 * applied before; an event without an id is charged every time it is
 * written): an ad_impression of a CPM or oCPM campaign, or an ad_click of a
 * CPC campaign, is billed event.value ucents — the auction's price, which
 * lt_ads_stamp writes into the event before it reaches the log — clamped to
 * [0, the most the bid allows] and to what is left of the campaign's daily
 * budget at that point of the log. A billable event with value 0 (served by
 * no auction this server knows of) is counted but not billed. The creative
 * item names the campaign: an item is a creative of at most one campaign at
 * a time (the API refuses a second).
 *
 * Threads: lt_ads_fill, lt_ads_stamp and the read functions may run on any
 * number of threads at once; lt_ads_ext and lt_ads_observe run on the
 * store's writer (under its lock); lt_ads_tick on one background thread;
 * campaign writes are serialised internally. lt_ads_fill never waits on the
 * writer: it takes only per-campaign and striped locks held for a few
 * instructions.
 */
#ifndef LT_ADS_ADS_H
#define LT_ADS_ADS_H

#include "core/buf.h"
#include "state/record.h"
#include "state/state.h"
#include "state/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Extension record kinds owned by ads (record.h: kinds >= LT_REC_EXT_BASE). */
enum {
  LT_ADS_REC_CAMPAIGN_PUT = LT_REC_EXT_BASE + 0,    /* create / replace a campaign */
  LT_ADS_REC_CAMPAIGN_STATUS = LT_REC_EXT_BASE + 1, /* pause / resume */
  LT_ADS_REC_RESERVED_2 = LT_REC_EXT_BASE + 2,      /* reserved for ads; skipped */
  LT_ADS_REC_RESERVED_3 = LT_REC_EXT_BASE + 3       /* reserved for ads; skipped */
};

#define LT_UCENTS_PER_CENT ((int64_t)1000000)
#define LT_ADS_MAX_CREATIVES 64
#define LT_ADS_MAX_TARGETS 16                 /* tags, and groups, per campaign */
#define LT_ADS_MAX_ID 128                     /* campaign id, advertiser, tag, group, item */
#define LT_ADS_MAX_NAME 255                   /* campaign display name */
#define LT_ADS_MAX_BUDGET_CENTS 10000000000LL /* $100M a day */
#define LT_ADS_MAX_BID_CENTS 10000000LL       /* $100k per mille / click / conversion */
#define LT_ADS_MAX_FREQ_CAP 1000
#define LT_ADS_MAX_SLOTS 16 /* most ads one page may get */

typedef enum { LT_BID_CPM = 0, LT_BID_CPC = 1, LT_BID_OCPM = 2 } lt_bid_type_t;
/* "cpm" | "cpc" | "ocpm" <-> LT_BID_*. parse returns 0 or LT_EINVAL. */
int lt_ads_bid_type_parse(const char *s, int *type);
const char *lt_ads_bid_type_name(int type);

typedef enum { LT_CAMPAIGN_ACTIVE = 0, LT_CAMPAIGN_PAUSED = 1 } lt_campaign_status_t;

/* ---- options ---------------------------------------------------------- */

typedef struct lt_ads_opts {
  /* ad load: 1-based page positions first_slot, first_slot + every, ...;
   * every >= 2 and first_slot >= 2, so two ads are never adjacent (also
   * across the boundary of two pages) */
  uint32_t first_slot;      /* default 4 */
  uint32_t every;           /* default 6 */
  uint32_t max_per_page;    /* default 3 (<= LT_ADS_MAX_SLOTS) */
  char ad_free_groups[256]; /* comma-separated groups that see no ads; default "ad_free" */
  double reserve_cpm;       /* reserve price, cents per mille; default 10 */
  /* value of the organic impression an ad displaces, cents per mille:
   * organic_cpm * exp(organic_beta * score), score = the feed's fused score
   * of the organic item the ad pushes down; default 100 and 0.5 */
  double organic_cpm, organic_beta;
  uint32_t freq_cap;            /* per user per campaign per day unless the campaign sets
                                   its own; default 5 */
  uint32_t reserve_ttl_s;       /* a served, unbilled reservation is released after
                                   this; default 120 */
  uint32_t attribution_s;       /* how long a served ad's price is kept for lt_ads_stamp;
                                   default 1800 (at least reserve_ttl_s) */
  uint32_t pacing_interval_s;   /* pacing multipliers updated this often (<= 60); default 10 */
  double pacing_mix;            /* plan = mix * traffic curve + (1 - mix) * uniform; default 0.6 */
  double pacing_max_hour_share; /* the plan never asks more than this share of a daily
                                   budget in one hour; default 0.10 */
  double pacing_finish;         /* the plan spends the budget by this fraction of the day,
                                   leaving slack for demand that fades late; default 0.85 */
  double hour_cap_share;        /* hard ceiling: billed + reserved in one local hour never
                                   passes this share of the daily budget (0 = none); default 0.12 */
  double prior_ctr, prior_cvr;  /* model priors for new creatives; default 0.01, 0.05 */
  double model_lr;              /* AdaGrad learning rate; default 0.05 */
  uint32_t commission_bps;      /* e-commerce commission counted as "other" revenue,
                                   basis points of GMV; default 0 */
} lt_ads_opts_t;

void lt_ads_opts_default(lt_ads_opts_t *o);
/* Sets one option by name (the config file's "ads.KEY = VALUE" without the
 * "ads." prefix), checking its range. Returns 0, or LT_EINVAL with a reason
 * in err. */
int lt_ads_opts_set(lt_ads_opts_t *o, const char *key, const char *value, char *err, size_t errlen);
/* Checks the whole set (cross-field rules). Returns 0 or LT_EINVAL + err. */
int lt_ads_opts_check(const lt_ads_opts_t *o, char *err, size_t errlen);
/* Prints every option as "ads.KEY = VALUE  # help" lines. */
void lt_ads_opts_print(const lt_ads_opts_t *o, FILE *f);

/* ---- life cycle ------------------------------------------------------- */

typedef struct lt_ads lt_ads_t;

/* Creates an empty ads engine (opts NULL = defaults; checked with
 * lt_ads_opts_check). Then: pass lt_ads_ext / the engine as the store's
 * ext callback and ctx, open the store, lt_ads_attach, and chain
 * lt_ads_observe into the store's observer. Returns 0, LT_EINVAL, LT_ENOMEM. */
int lt_ads_new(const lt_ads_opts_t *opts, lt_ads_t **out);
/* Frees. Accepts NULL. The store must no longer call into it. */
void lt_ads_free(lt_ads_t *a);

/* lt_store_ext_fn: ctx is the lt_ads_t. Applies a campaign record written
 * after lt_ads_attach (earlier ones — the store's replay at open — are
 * ignored: the attach scan covers them). Records of other owners, unknown
 * versions and malformed records are skipped and counted. */
void lt_ads_ext(void *ctx, const void *rec, size_t len, uint64_t lsn);

/* Builds the books from the store's whole log (lt_store_scan: under the
 * store's writer lock), then starts taking live records. Also trains the
 * model on the logged ad events and rebuilds today's frequency counters
 * and budget state. Call once, after lt_store_open and before serving.
 * Works on a read-only store (reports). Returns 0, LT_EBUSY (attached
 * already), or the log reader's error. */
int lt_ads_attach(lt_ads_t *a, lt_store_t *store);

/* lt_ads_attach in steps, for a caller that reads the log once for several
 * consumers (laotie serve): lt_ads_attach_begin (from then on lt_ads_ext
 * and lt_ads_observe take every record they are given), then one
 * lt_store_scan whose fn chains lt_ads_observe and whose ext chains
 * lt_ads_ext, then lt_ads_attach_end with the scan's result and end
 * offset. begin returns 0, LT_EINVAL or LT_EBUSY; end returns scan_rc
 * (then the engine is not attached) or 0. */
int lt_ads_attach_begin(lt_ads_t *a, lt_store_t *store);
int lt_ads_attach_end(lt_ads_t *a, int scan_rc, uint64_t end);

/* lt_store_observer_fn: ctx is the lt_ads_t. Charges billable ad events,
 * counts impressions / clicks / conversions, gifts and purchases, tracks
 * catalog changes, trains the model, and releases the budget reserved by
 * the auction that served each billed ad. No-op before lt_ads_attach (or
 * lt_ads_attach_begin). */
void lt_ads_observe(void *ctx, const lt_record_t *recs, size_t n);

/* Background work: rolls the day over (platform time zone), releases expired
 * reservations, forgets served ads past the attribution window, and updates
 * the pacing multipliers (every pacing_interval_s of now_ms). Call every
 * few seconds (tests and the simulator call it with simulated time). */
void lt_ads_tick(lt_ads_t *a, int64_t now_ms);

/* ---- the feed hook ---------------------------------------------------- */

/* The organic page a feed request is about to answer. */
typedef struct lt_ads_page {
  uint32_t user;          /* dense user id (LT_NS_USER); LT_NONE = unknown user */
  const uint32_t *items;  /* the n organic items, in page order */
  const float *scores;    /* their fused feed scores (may be NULL: all 0) */
  uint32_t n;             /* page length: ads take positions < n */
  const char *request_id; /* the feed request's id (NUL-terminated; NULL = none:
                             then ads can be shown but not billed at their price) */
} lt_ads_page_t;

/* One ad the auction put on the page. */
typedef struct lt_ads_slot {
  uint32_t position;    /* 0-based position in the final page (< page n) */
  uint32_t item;        /* the creative (dense item id) */
  uint32_t campaign;    /* dense campaign id (lt_ads_campaign_name) */
  uint8_t bid_type;     /* lt_bid_type_t */
  uint8_t aigc;         /* AI-generated creative */
  int64_t price_ucents; /* billed per impression (CPM, oCPM) or per click (CPC) */
  int64_t ecpm_ucents;  /* the winner's eCPM */
  int64_t clear_ucents; /* the clearing eCPM: max(runner-up, reserve, organic value) */
  float pctr, pcvr;     /* the model's predictions used */
  char reason[128];     /* "sponsored by @advertiser" */
} lt_ads_slot_t;

/* Runs the ad auctions of one page at time now_ms. Slots are the ad-load
 * positions below page->n (first_slot - 1, then every `every`), at most
 * max_per_page and max. Nothing for users in an ad-free group. Per slot,
 * the eligible campaigns (active, in their dates, under budget, let through
 * by pacing, under the user's frequency cap, targeting matched) bid with
 * their best creative not already on the page: eCPM = bid x pCTR x pCVR x
 * 1000 as the bid type needs; the winner pays the generalized second price
 * max(runner-up eCPM, reserve, organic value of the displaced item) and
 * only wins when its eCPM reaches that floor. A campaign wins at most one
 * slot per page. The winner's budget is reserved atomically before the
 * slot is given (so concurrent requests never overspend by more than one
 * price) and its frequency count incremented.
 * out (max entries) gets the ads by position; *nout how many. Returns 0 or
 * LT_EINVAL (NULL arguments). */
int lt_ads_fill(lt_ads_t *a, const lt_ads_page_t *page, int64_t now_ms, lt_ads_slot_t *out,
                uint32_t max, uint32_t *nout);

/* Writes the authoritative price into ad events before they are written to
 * the store: for each ad_impression / ad_click in recs, value becomes the
 * price (ucents) of the ad served under its (request_id, item) when that
 * event is billable for the campaign's bid type, else 0. Other events are
 * left alone. Call it on every batch of client events before lt_store_write
 * (clients cannot set what they are billed). */
void lt_ads_stamp(lt_ads_t *a, lt_record_t *recs, size_t n);

/* ---- campaigns -------------------------------------------------------- */

/* A campaign as the API gives it. Which fields a body set: LT_ADS_F_* bits
 * in `has` (an update changes only those). */
enum {
  LT_ADS_F_ID = 1 << 0,
  LT_ADS_F_ADVERTISER = 1 << 1,
  LT_ADS_F_NAME = 1 << 2,
  LT_ADS_F_BUDGET = 1 << 3,
  LT_ADS_F_BID = 1 << 4,
  LT_ADS_F_TAGS = 1 << 5,
  LT_ADS_F_GROUPS = 1 << 6,
  LT_ADS_F_CREATIVES = 1 << 7,
  LT_ADS_F_START = 1 << 8,
  LT_ADS_F_END = 1 << 9,
  LT_ADS_F_FREQ = 1 << 10,
  LT_ADS_F_STATUS = 1 << 11
};

typedef struct lt_ads_spec {
  uint32_t has;
  char id[LT_ADS_MAX_ID + 1];
  char advertiser[LT_ADS_MAX_ID + 1];
  char name[LT_ADS_MAX_NAME + 1];
  int64_t daily_budget_cents; /* 1 .. LT_ADS_MAX_BUDGET_CENTS */
  uint8_t bid_type;
  int64_t bid_cents; /* CPM: per mille; CPC: per click; oCPM: target cost per conversion */
  uint32_t ntags, ngroups, ncreatives;
  char tags[LT_ADS_MAX_TARGETS][LT_ADS_MAX_ID + 1];
  char groups[LT_ADS_MAX_TARGETS][LT_ADS_MAX_ID + 1];
  char creatives[LT_ADS_MAX_CREATIVES][LT_ADS_MAX_ID + 1];
  uint8_t creative_aigc[LT_ADS_MAX_CREATIVES];
  int64_t start_ms, end_ms; /* 0 = open */
  uint32_t freq_cap;        /* 0 = the configured default */
  uint8_t status;           /* lt_campaign_status_t */
} lt_ads_spec_t;

/* Parses a campaign JSON body into *out (zeroed first):
 *   {"id": "spring", "advertiser": "acme", "name": "Spring sale",
 *    "daily_budget_cents": 50000,
 *    "bid": {"type": "cpm"|"cpc"|"ocpm", "amount_cents": 800},
 *    "targeting": {"tags": ["food"], "groups": ["vip"]},
 *    "creatives": ["v1", {"item": "v2", "aigc": true}],
 *    "start": 1764259200, "end": null, "frequency_cap": 3,
 *    "status": "active"|"paused"}
 * Times read as event ts (unix seconds, or ms when > 1e11). Every field is
 * optional here (lt_ads_campaign_create says which are required); unknown
 * fields are refused except the read-only ones lt_ads_campaign_json
 * writes, so a GET body can be PUT back. Returns 0, LT_EPARSE (not JSON),
 * LT_EINVAL (a bad field) or LT_ERANGE (a number out of range), with a
 * static reason in *why. */
int lt_ads_spec_parse(const char *json, size_t len, lt_ads_spec_t *out, const char **why);

/* Creates a campaign from spec (advertiser, daily budget, bid and at least
 * one creative required; id generated when absent), durably (an extension
 * record) before it returns. Creatives must be items of the catalog, not
 * deleted, and not creatives of another campaign. *cid (may be NULL) gets
 * its dense id. Returns 0; LT_EINVAL / LT_ERANGE (bad spec; *why);
 * LT_EEXISTS (the id is taken, or a creative belongs to another campaign;
 * *why); LT_EBUSY (not attached); or the store's error. */
int lt_ads_campaign_create(lt_ads_t *a, const lt_ads_spec_t *spec, int64_t now_ms, uint32_t *cid,
                           const char **why);
/* Changes the fields spec->has names on campaign cid (the others are kept);
 * the id cannot change. Same checks and errors as create, plus
 * LT_ENOTFOUND. */
int lt_ads_campaign_update(lt_ads_t *a, uint32_t cid, const lt_ads_spec_t *spec, int64_t now_ms,
                           const char **why);
/* Pauses or resumes (LT_CAMPAIGN_*). Returns 0, LT_ENOTFOUND, LT_EINVAL or
 * the store's error. */
int lt_ads_campaign_set_status(lt_ads_t *a, uint32_t cid, int status, int64_t now_ms);

/* Campaign id -> dense id. Returns 0 or LT_ENOTFOUND. */
int lt_ads_campaign_find(lt_ads_t *a, const char *id, size_t n, uint32_t *cid);
/* Dense id -> external id (valid for the engine's life), NULL when unknown. */
const char *lt_ads_campaign_name(lt_ads_t *a, uint32_t cid);
uint32_t lt_ads_campaign_count(lt_ads_t *a);

/* Appends the campaign as a JSON object (its spec plus today's figures at
 * now_ms: spend, reservations, pacing multiplier, impressions, clicks,
 * conversions). Returns 0, LT_ENOTFOUND, LT_ENOMEM. */
int lt_ads_campaign_json(lt_ads_t *a, uint32_t cid, int64_t now_ms, lt_buf_t *out);
/* Appends {"campaigns": [...]} of every campaign (advertiser NULL/"") or
 * one advertiser's, in creation order. */
int lt_ads_campaigns_json(lt_ads_t *a, const char *advertiser, int64_t now_ms, lt_buf_t *out);

/* ---- reports ---------------------------------------------------------- */

/* Output formats; the same numbers as stats.h's LT_FMT_*. */
enum { LT_ADS_FMT_TABLE = 0, LT_ADS_FMT_CSV = 1, LT_ADS_FMT_JSON = 2 };

/* Counters of one campaign over one hour or day. */
typedef struct lt_ads_counts {
  uint64_t impressions, clicks, conversions;
  uint64_t billed;   /* billable events billed > 0 */
  uint64_t unbilled; /* billable events billed 0 (unknown price or budget spent) */
  int64_t spend_ucents;
} lt_ads_counts_t;

/* Campaign cid's counters per local day and hour for [from, to] (at most
 * 366 days): out[(d - from) * 24 + h]; the caller gives (to - from + 1) *
 * 24 entries. Returns 0, LT_ENOTFOUND, LT_ERANGE. */
int lt_ads_campaign_hours(lt_ads_t *a, uint32_t cid, int32_t from, int32_t to,
                          lt_ads_counts_t *out);
/* Writes GET /v1/campaigns/{id}/report: per day and per hour (hours with
 * activity) impressions, clicks, conversions, spend, eCPM (spend per 1000
 * impressions), CTR; JSON or CSV. Returns 0, LT_ENOTFOUND, LT_ERANGE,
 * LT_ENOMEM. */
int lt_ads_campaign_report(lt_ads_t *a, uint32_t cid, int32_t from, int32_t to, int fmt,
                           lt_buf_t *out);

/* One day of platform revenue, as a platform reports it. */
typedef struct lt_ads_revenue_day {
  int32_t day;
  /* online marketing services = ad spend (billed), of which AIGC creatives */
  int64_t ads_ucents, ads_aigc_ucents;
  int64_t live_gift_cents;      /* live streaming: gifts on live rooms */
  int64_t other_gift_cents;     /* gifts on other items */
  int64_t gmv_cents;            /* e-commerce GMV (purchases) */
  int64_t gmv_attributed_cents; /* of which tied to a feed request (request_id) */
  uint64_t ad_impressions, ad_clicks, ad_conversions, gifts, purchases;
} lt_ads_revenue_day_t;

typedef struct lt_ads_revenue {
  int32_t from, to;
  uint32_t ndays;
  lt_ads_revenue_day_t *days; /* ndays entries, from .. to */
  lt_ads_revenue_day_t sum;
  uint32_t commission_bps;
} lt_ads_revenue_t;

/* Revenue per day for [from, to] (at most 366 days). Free with
 * lt_ads_revenue_free. Returns 0, LT_ERANGE, LT_ENOMEM. */
int lt_ads_revenue(lt_ads_t *a, int32_t from, int32_t to, lt_ads_revenue_t *out);
void lt_ads_revenue_free(lt_ads_revenue_t *r);
/* Cents of a day's lines (ucents rounded half up per day; "other" = gifts on
 * non-live items + commission_bps of GMV; total = the three lines). */
typedef struct lt_ads_revenue_lines {
  int64_t online_marketing, online_marketing_aigc, live_streaming, other, total;
} lt_ads_revenue_lines_t;
void lt_ads_revenue_lines(const lt_ads_revenue_day_t *d, uint32_t commission_bps,
                          lt_ads_revenue_lines_t *out);
/* Writes the revenue report (GET /v1/stats/revenue, `laotie report revenue`):
 * table, CSV or JSON; the same bytes for the API and the CLI. */
int lt_ads_revenue_write(const lt_ads_revenue_t *r, const char *tz, int fmt, lt_buf_t *out);

/* Revenue per creator, live room or item over [from, to]: the n largest
 * (gifts + GMV), best first, ties by id. */
typedef enum { LT_ADS_BY_CREATOR = 0, LT_ADS_BY_ROOM = 1, LT_ADS_BY_ITEM = 2 } lt_ads_by_t;
typedef struct lt_ads_rev_row {
  uint32_t id; /* LT_NS_CREATOR or LT_NS_ITEM id */
  int64_t gift_cents, gmv_cents;
  uint64_t gifts, purchases;
} lt_ads_rev_row_t;
/* Returns how many rows were written (0 on a bad range). */
size_t lt_ads_revenue_top(lt_ads_t *a, int by, int32_t from, int32_t to, lt_ads_rev_row_t *out,
                          size_t n);

/* ---- checks and diagnostics ------------------------------------------ */

/* Appends a canonical text of the books (campaigns, ledger, revenue
 * tallies), sorted, so two engines built from the same log produce the same
 * bytes (tests compare a live engine with a fresh replay). */
int lt_ads_books_dump(lt_ads_t *a, lt_buf_t *out);

/* Checks the invariants (ads.c's design note); 1 when they hold. */
int lt_ads_check(lt_ads_t *a);

typedef struct lt_ads_metrics {
  uint64_t fills, slots_offered, ads_served, no_bid, below_floor;
  uint64_t budget_rejects, freq_rejects, throttled;
  uint64_t billed_events, unbilled_events, records_skipped;
  uint64_t served_entries;
} lt_ads_metrics_t;
void lt_ads_metrics(lt_ads_t *a, lt_ads_metrics_t *out);

/* How a campaign is being served: its pacing multiplier now (0..1), its
 * spend and outstanding reservations today (the local day of the last
 * tick), and counts since the engine started of the auctions it won and of
 * the requests where it could not bid because of its frequency cap (its
 * targeted audience is saturated), pacing, or budget (daily or hourly). */
typedef struct lt_ads_serving {
  double pacing;
  int64_t spent_ucents, reserved_ucents;
  uint64_t served, frequency_capped, throttled, budget_blocked;
} lt_ads_serving_t;
/* Returns 0 or LT_ENOTFOUND. */
int lt_ads_campaign_serving(lt_ads_t *a, uint32_t cid, lt_ads_serving_t *out);

#endif
