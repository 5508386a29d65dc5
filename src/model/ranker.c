/*
 * ranker.c — the online multi-task ranker (see ranker.h).
 *
 * What it is for: turning "this item was shown to this user" into five
 * calibrated probabilities (finish, long view, like, follow, share) that the
 * feed fuses into one score, learning from the event stream as it arrives.
 *
 * In memory:
 *   w, z, nacc  three float arrays of nslots x LANES (LANES = 8 >= 5 heads):
 *               slot s of head h is at [s * LANES + h], so one feature's
 *               five weights share a 32-byte half cache line and scoring a
 *               candidate touches one line per feature. z and nacc are
 *               FTRL's per-coordinate state; w is derived from them
 *               (invariant 2) and kept eagerly so readers only read w.
 *   dur[b][k]   per duration bucket b, a histogram of watch times over
 *               log-spaced bins (8 per octave from 100 ms); the long-view
 *               threshold of b is its long_quantile, read off the
 *               histogram with log interpolation inside a bin.
 *   ring, ix    the pending examples: a FIFO ring (oldest at head) of
 *               `pending` entries and an open-addressing index (linear
 *               probing, backward-shift deletion, 2^k >= 2 * pending
 *               slots) from (user, item) to the ring position: a slot is
 *               0 (empty) or (h << 32 | position + 1), h the low 32 bits
 *               of the key's hash, whose low bits are its home, so a probe
 *               reads a ring entry only when h matches and a deletion
 *               none.
 *
 * FTRL-Proximal per coordinate (McMahan et al. 2013, algorithm 1), binary
 * features, gradient g = p - y of the log loss:
 *   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma * w;
 *   n += g^2;  w = |z| <= l1 ? 0 : -(z - sign(z) l1) / ((beta + sqrt n) / alpha + l2).
 *
 * Invariants:
 *  1. every float in w, z, nacc is finite and nacc >= 0;
 *  2. w[i] == ftrl_w(z[i], sqrt(nacc[i])) after each completed update (a reader
 *     racing an update may see the old value);
 *  3. ix holds exactly the keys of the `count` ring entries starting at
 *     head, each in the probe run from its home slot (no tombstones);
 *  4. ring entries are in order of opening; an entry is closed (learned
 *     from) exactly once, when the clock passes ts + window or it is the
 *     oldest and room is needed.
 *
 * State changes: lt_ranker_observe opens / updates / expires pending
 * entries; close_head() learns from the oldest; lt_ranker_learn is the
 * FTRL step. lt_ranker_load builds a ranker from a file.
 *
 * File format (little-endian, this build's float layout = IEEE 754):
 *   0  8  magic "LTRANKR1"
 *   8  4  u32 format version (1)
 *  12  4  u32 bits
 *  16 24  f32 alpha, beta, l1, l2, finish_ratio, long_quantile
 *  40  4  u32 long_min_count
 *  44  4  u32 heads (5)
 *  48  8  u64 seed
 *  56 64  u64 examples, impressions, updates, positives[5]
 * 120  .  u32 dur[12][DUR_BINS]
 *   .  .  f32 z[nslots * 8], then f32 nacc[nslots * 8]
 *   .  8  u64 XXH3-64 of every byte before it
 */
#include "model/ranker.h"

#include "core/error.h"
#include "core/fileio.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define LANES 8
#define DUR_BINS 130 /* bin 0: < 100 ms; 1 + 8 per octave up to 100 ms * 2^16 */
#define PROFILE_HIST 64
#define IX_EMPTY UINT32_MAX /* "no slot" (ix_find) */
#define MAGIC "LTRANKR1"
#define FILE_VERSION 1
#define HDR 120

/* what an example's outcome flags mean */
enum { P_IMP = 1, P_PLAY = 2, P_LIKE = 4, P_FOLLOW = 8, P_SHARE = 16, P_NI = 32 };

/* feature fields (the high byte of a hashed key) */
enum {
  F_BIAS = 1,
  F_USER,
  F_ITEM,
  F_CREATOR,
  F_TAG,
  F_UTAG,
  F_AFF,
  F_CRATE,
  F_LRATE,
  F_SOURCE,
  F_POS,
  F_DUR,
  F_FRESH,
  F_KIND
};

typedef struct pend {
  uint64_t key; /* pair_key(user, item) */
  int64_t ts_ms;
  uint32_t item, duration_ms, watch_ms;
  uint8_t flags;
  lt_ranker_x_t x;
} pend_t;

struct lt_ranker {
  lt_ranker_opts_t o;
  uint32_t nslots, mask;
  float *w, *z, *nacc;
  uint32_t dur[LT_RANKER_DUR_BUCKETS][DUR_BINS];
  uint64_t dur_total[LT_RANKER_DUR_BUCKETS];
  /* pending examples (writer only) */
  pend_t *ring;
  uint32_t head, count;
  uint64_t *ix;
  uint32_t ixmask;
  int64_t clock; /* newest event time seen */
  /* counters: written by the writer, read by anyone (relaxed atomics) */
  uint64_t examples, impressions, updates, evicted;
  uint64_t positives[LT_RANKER_HEADS];
};

/* upper bounds (ms) of the duration buckets 0..10; bucket 11 is longer */
static const uint32_t dur_bound[LT_RANKER_DUR_BUCKETS - 1] = {
    5000, 10000, 15000, 20000, 30000, 45000, 60000, 120000, 240000, 600000, 1800000};
/* a typical duration of each bucket (geometric middle): the prior */
static const uint32_t dur_typical[LT_RANKER_DUR_BUCKETS] = {
    3000, 7100, 12200, 17300, 24500, 36700, 52000, 85000, 170000, 380000, 1040000, 2700000};

void lt_ranker_opts_default(lt_ranker_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->bits = 18;
  o->alpha = 0.1f;
  o->beta = 1.0f;
  o->l1 = 0.5f;
  o->l2 = 1.0f;
  o->pending = 65536;
  o->window_ms = 30 * 60 * 1000;
  o->finish_ratio = 0.9f;
  o->long_quantile = 0.5f;
  o->long_min_count = 50;
  o->seed = 0;
}

static int opts_ok(const lt_ranker_opts_t *o) {
  return o->bits >= 10 && o->bits <= 26 && isfinite(o->alpha) && o->alpha > 0 &&
         isfinite(o->beta) && o->beta >= 0 && isfinite(o->l1) && o->l1 >= 0 && isfinite(o->l2) &&
         o->l2 >= 0 && o->pending > 0 && o->pending <= (1u << 26) && o->window_ms >= 0 &&
         isfinite(o->finish_ratio) && o->finish_ratio > 0 && o->long_quantile > 0 &&
         o->long_quantile < 1;
}

static uint32_t pow2_at_least(uint32_t n) {
  uint32_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

int lt_ranker_new(const lt_ranker_opts_t *opts, lt_ranker_t **out) {
  if (!out) return LT_EINVAL;
  *out = NULL;
  lt_ranker_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_ranker_opts_default(&o);
  if (!opts_ok(&o)) return LT_EINVAL;
  lt_ranker_t *r = calloc(1, sizeof *r);
  if (!r) return LT_ENOMEM;
  r->o = o;
  r->nslots = 1u << o.bits;
  r->mask = r->nslots - 1;
  size_t nf = (size_t)r->nslots * LANES;
  r->w = calloc(nf, sizeof(float));
  r->z = calloc(nf, sizeof(float));
  r->nacc = calloc(nf, sizeof(float));
  r->ring = malloc((size_t)o.pending * sizeof *r->ring);
  uint32_t ixn = pow2_at_least(o.pending * 2);
  r->ix = calloc(ixn, sizeof *r->ix);
  if (!r->w || !r->z || !r->nacc || !r->ring || !r->ix) {
    lt_ranker_free(r);
    return LT_ENOMEM;
  }
  r->ixmask = ixn - 1;
  r->clock = INT64_MIN;
  *out = r;
  return LT_OK;
}

void lt_ranker_free(lt_ranker_t *r) {
  if (!r) return;
  free(r->w);
  free(r->z);
  free(r->nacc);
  free(r->ring);
  free(r->ix);
  free(r);
}

const lt_ranker_opts_t *lt_ranker_opts(const lt_ranker_t *r) { return &r->o; }

/* ---- relaxed atomic helpers ---------------------------------------------- */

static inline float ld(const float *p) {
  float v;
  __atomic_load(p, &v, __ATOMIC_RELAXED);
  return v;
}
static inline void st(float *p, float v) { __atomic_store(p, &v, __ATOMIC_RELAXED); }
static inline uint64_t ld64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void inc64(uint64_t *p, uint64_t d) {
  /* single writer: a relaxed load + store is enough, readers see either */
  __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

/* ---- features ------------------------------------------------------------ */

static inline void add(const lt_ranker_t *r, lt_ranker_x_t *x, uint32_t field, uint64_t v) {
  if (x->n >= LT_RANKER_MAX_FEAT) return;
  /* v < 2^56 except for user x tag (already mixed): (field, v) pairs are
   * distinct inputs, and lt_mix64 is a bijection */
  uint64_t h = lt_mix64((v ^ r->o.seed) + ((uint64_t)field << 56));
  uint32_t slot = (uint32_t)(h & r->mask);
  x->slot[x->n++] = slot;
  /* the weights are read soon by lt_ranker_predict: start the cache miss now */
  __builtin_prefetch(r->w + (size_t)slot * LANES);
}

uint32_t lt_ranker_duration_bucket(uint32_t duration_ms) {
  if (!duration_ms) return LT_RANKER_DUR_BUCKETS;
  uint32_t b = 0;
  while (b < LT_RANKER_DUR_BUCKETS - 1 && duration_ms >= dur_bound[b])
    b++;
  return b;
}

void lt_ranker_user_init(lt_ranker_user_t *u, const lt_state_t *st, uint32_t user,
                         const lt_hist_t *h, size_t n, uint32_t exclude) {
  memset(u, 0, sizeof *u);
  u->user = user;
  size_t from = n > PROFILE_HIST ? n - PROFILE_HIST : 0;
  for (size_t i = n; i-- > from;) {
    if (h[i].item == exclude || h[i].type == LT_EV_NOT_INTERESTED) continue;
    const lt_item_meta_t *m = lt_state_item(st, h[i].item);
    if (!m) continue;
    uint32_t nt = m->ntags < 4 ? m->ntags : 4;
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t tag = m->tags[t], j = 0;
      while (j < u->ntags && u->tag[j] != tag)
        j++;
      if (j == u->ntags) {
        if (u->ntags == LT_RANKER_PROFILE) continue;
        u->tag[u->ntags] = tag;
        u->cnt[u->ntags++] = 0;
      }
      u->cnt[j]++;
      u->total++;
    }
  }
}

static uint32_t pos_bucket(int32_t p) {
  if (p < 0) return 15;
  if (p < 6) return (uint32_t)p;
  if (p < 8) return 6;
  if (p < 12) return 7;
  if (p < 20) return 8;
  if (p < 50) return 9;
  return 10;
}

/* a - b, saturated (catalog times are not range-checked by the record
 * layer, so a hostile published_at must not overflow) */
static int64_t sat_sub(int64_t a, int64_t b) {
  int64_t d;
  if (__builtin_sub_overflow(a, b, &d)) return a > b ? INT64_MAX : INT64_MIN;
  return d;
}

static uint32_t fresh_bucket(int64_t age_ms) {
  static const int64_t b[] = {1 * 3600 * 1000LL,       6 * 3600 * 1000LL,
                              24 * 3600 * 1000LL,      3 * 24 * 3600 * 1000LL,
                              7 * 24 * 3600 * 1000LL,  30 * 24 * 3600 * 1000LL,
                              365 * 24 * 3600 * 1000LL};
  if (age_ms < 0) return 0; /* published "in the future": clock skew */
  uint32_t i = 0;
  while (i < sizeof b / sizeof *b && age_ms >= b[i])
    i++;
  return 1 + i;
}

void lt_ranker_features(const lt_ranker_t *r, const lt_state_t *st, const lt_ranker_user_t *u,
                        uint32_t item, int source, int32_t position, int64_t now_ms,
                        lt_ranker_x_t *x) {
  x->n = 0;
  add(r, x, F_BIAS, 0);
  int known = u && u->user != LT_NONE;
  if (known) add(r, x, F_USER, u->user);
  add(r, x, F_ITEM, item);
  const lt_item_meta_t *m = lt_state_item(st, item);
  const lt_item_counters_t *c = lt_state_item_counters(st, item);
  if (m) {
    if (m->creator != LT_NONE) add(r, x, F_CREATOR, m->creator);
    uint32_t nt = m->ntags < 4 ? m->ntags : 4, best = 0;
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t tag = m->tags[t];
      add(r, x, F_TAG, tag);
      if (known) add(r, x, F_UTAG, lt_mix64(u->user) ^ tag);
      if (u)
        for (uint32_t j = 0; j < u->ntags; j++)
          if (u->tag[j] == tag && u->cnt[j] > best) best = u->cnt[j];
    }
    uint32_t aff; /* share of the user's recent tags that match the item's best tag */
    if (!nt)
      aff = 0;
    else if (!u || !u->total)
      aff = 7;
    else {
      double f = (double)best / u->total;
      aff = f == 0 ? 1 : f <= 0.05 ? 2 : f <= 0.1 ? 3 : f <= 0.2 ? 4 : f <= 0.4 ? 5 : 6;
    }
    add(r, x, F_AFF, aff);
    add(r, x, F_KIND, m->kind);
    add(r, x, F_DUR, lt_ranker_duration_bucket(m->duration_ms));
    add(r, x, F_FRESH, m->published_at_ms ? fresh_bucket(sat_sub(now_ms, m->published_at_ms)) : 9);
  }
  if (c) {
    uint64_t plays = c->plays, comp = c->completions, likes = c->likes;
    uint32_t cb = 11, lb = 9;
    if (plays >= 5) {
      double cr = (double)comp / (double)plays;
      cb = cr >= 1 ? 10 : (uint32_t)(cr * 10);
    }
    if (plays >= 10) {
      double lr = (double)likes / (double)plays;
      lb = lr == 0      ? 0
           : lr < 0.005 ? 1
           : lr < 0.01  ? 2
           : lr < 0.02  ? 3
           : lr < 0.05  ? 4
           : lr < 0.1   ? 5
           : lr < 0.2   ? 6
                        : 7;
    }
    add(r, x, F_CRATE, cb);
    add(r, x, F_LRATE, lb);
  }
  add(r, x, F_SOURCE, (uint32_t)(source < 0 ? LT_RANKER_NO_SOURCE : source));
  add(r, x, F_POS, pos_bucket(position));
}

/* ---- prediction and learning --------------------------------------------- */

static inline float sigmoid(float s) {
  if (s > 35) s = 35;
  if (s < -35) s = -35;
  return 1.0f / (1.0f + expf(-s));
}

void lt_ranker_predict(const lt_ranker_t *r, const lt_ranker_x_t *x, float p[LT_RANKER_HEADS]) {
  float s[LT_RANKER_HEADS] = {0};
  for (uint32_t i = 0; i < x->n; i++) {
    const float *wv = r->w + (size_t)x->slot[i] * LANES;
    for (int h = 0; h < LT_RANKER_HEADS; h++)
      s[h] += ld(wv + h);
  }
  for (int h = 0; h < LT_RANKER_HEADS; h++)
    p[h] = sigmoid(s[h]);
}

/* w from z and sqrt(n) (the caller has it: learning computes it anyway) */
static inline float ftrl_w(const lt_ranker_opts_t *o, float z, float sqrt_n) {
  if (fabsf(z) <= o->l1) return 0;
  float sgn = z < 0 ? -1.0f : 1.0f;
  return -(z - sgn * o->l1) / ((o->beta + sqrt_n) / o->alpha + o->l2);
}

void lt_ranker_learn(lt_ranker_t *r, const lt_ranker_x_t *x, unsigned mask, unsigned labels) {
  if (!mask) return;
  float p[LT_RANKER_HEADS];
  lt_ranker_predict(r, x, p);
  for (int h = 0; h < LT_RANKER_HEADS; h++) {
    if (!(mask >> h & 1)) continue;
    float y = (float)(labels >> h & 1), g = p[h] - y, g2 = g * g;
    for (uint32_t i = 0; i < x->n; i++) {
      size_t k = (size_t)x->slot[i] * LANES + (size_t)h;
      float n = r->nacc[k], w = r->w[k], sqrt_new = sqrtf(n + g2);
      float sigma = (sqrt_new - sqrtf(n)) / r->o.alpha;
      float z = r->z[k] + g - sigma * w;
      n += g2;
      if (!isfinite(z) || !isfinite(n)) continue; /* keeps invariant 1 */
      st(&r->z[k], z);
      st(&r->nacc[k], n);
      st(&r->w[k], ftrl_w(&r->o, z, sqrt_new));
    }
    inc64(&r->updates, 1);
    if (y > 0) inc64(&r->positives[h], 1);
  }
}

/* ---- duration debiasing -------------------------------------------------- */

static uint32_t watch_bin(uint32_t w) {
  if (w < 100) return 0;
  double b = 1 + floor(8.0 * log2((double)w / 100.0));
  return b >= DUR_BINS - 1 ? DUR_BINS - 1 : (uint32_t)b;
}

static double bin_lower(uint32_t b) { return b == 0 ? 0 : 100.0 * exp2((b - 1) / 8.0); }

void lt_ranker_duration_add(lt_ranker_t *r, uint32_t duration_ms, uint32_t watch_ms) {
  uint32_t b = lt_ranker_duration_bucket(duration_ms);
  if (b >= LT_RANKER_DUR_BUCKETS) return;
  uint32_t *hist = r->dur[b];
  if (r->dur_total[b] >= (1u << 24)) { /* halve: recent plays weigh more */
    uint64_t t = 0;
    for (uint32_t k = 0; k < DUR_BINS; k++) {
      __atomic_store_n(&hist[k], hist[k] / 2, __ATOMIC_RELAXED);
      t += hist[k];
    }
    __atomic_store_n(&r->dur_total[b], t, __ATOMIC_RELAXED);
  }
  uint32_t k = watch_bin(watch_ms);
  __atomic_store_n(&hist[k], hist[k] + 1, __ATOMIC_RELAXED);
  inc64(&r->dur_total[b], 1);
}

uint32_t lt_ranker_long_threshold(const lt_ranker_t *r, uint32_t duration_ms) {
  uint32_t b = lt_ranker_duration_bucket(duration_ms);
  if (b >= LT_RANKER_DUR_BUCKETS) return 0;
  double q = r->o.long_quantile;
  uint64_t total = 0;
  uint32_t hist[DUR_BINS];
  for (uint32_t k = 0; k < DUR_BINS; k++) {
    hist[k] = __atomic_load_n(&r->dur[b][k], __ATOMIC_RELAXED);
    total += hist[k];
  }
  if (total < r->o.long_min_count || total == 0) return (uint32_t)(q * dur_typical[b]);
  double target = q * (double)total, cum = 0;
  for (uint32_t k = 0; k < DUR_BINS; k++) {
    if (!hist[k]) continue;
    if (cum + hist[k] >= target) {
      double f = (target - cum) / hist[k];
      double v = k == 0 ? 100.0 * f : bin_lower(k) * exp2(f / 8.0);
      return (uint32_t)v;
    }
    cum += hist[k];
  }
  return (uint32_t)bin_lower(DUR_BINS - 1);
}

int lt_ranker_is_long(const lt_ranker_t *r, uint32_t duration_ms, uint32_t watch_ms) {
  uint32_t t = lt_ranker_long_threshold(r, duration_ms);
  return t > 0 && watch_ms > t;
}

/* ---- pending examples ---------------------------------------------------- */

/* The pending examples' key of (user, item); never 0 (ids are below LT_NONE). */
static inline uint64_t pair_key(uint32_t user, uint32_t item) {
  return (((uint64_t)user << 32) | item) + 1;
}

static inline uint32_t key_hash(uint64_t key) { return (uint32_t)lt_mix64(key); }
static inline uint32_t slot_hash(uint64_t slot) { return (uint32_t)(slot >> 32); }
static inline uint32_t slot_pos(uint64_t slot) { return (uint32_t)slot - 1; }

/* Index slot holding key, or IX_EMPTY. */
static uint32_t ix_find(const lt_ranker_t *r, uint64_t key) {
  uint32_t h = key_hash(key);
  for (uint32_t i = h & r->ixmask;; i = (i + 1) & r->ixmask) {
    uint64_t e = r->ix[i];
    if (!e) return IX_EMPTY;
    if (slot_hash(e) == h && r->ring[slot_pos(e)].key == key) return i;
  }
}

static void ix_insert(lt_ranker_t *r, uint64_t key, uint32_t pos) {
  uint32_t h = key_hash(key), i = h & r->ixmask;
  while (r->ix[i])
    i = (i + 1) & r->ixmask;
  r->ix[i] = (uint64_t)h << 32 | (pos + 1);
}

/* Removes index slot i by shifting later members of its run back
 * (invariant 3: no tombstones). */
static void ix_delete(lt_ranker_t *r, uint32_t i) {
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & r->ixmask;
    if (!r->ix[j]) break;
    uint32_t k = slot_hash(r->ix[j]) & r->ixmask;
    /* may the entry at j move to i? only when its home is not in (i, j] */
    int stay = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stay) continue;
    r->ix[i] = r->ix[j];
    i = j;
  }
  r->ix[i] = 0;
}

/* Learns from a closed example; st (may be NULL) supplies a duration the
 * example did not know when it was opened. */
static void learn_pending(lt_ranker_t *r, const lt_state_t *st, const pend_t *e) {
  unsigned mask = 1u << LT_HEAD_LIKE | 1u << LT_HEAD_FOLLOW | 1u << LT_HEAD_SHARE, y = 0;
  uint32_t dur = e->duration_ms;
  if (!dur && st) {
    const lt_item_meta_t *m = lt_state_item(st, e->item);
    if (m) dur = m->duration_ms;
  }
  int ni = e->flags & P_NI;
  if (dur) {
    mask |= 1u << LT_HEAD_FINISH | 1u << LT_HEAD_LONG;
    if (!ni && e->watch_ms >= r->o.finish_ratio * (double)dur) y |= 1u << LT_HEAD_FINISH;
    if (!ni && lt_ranker_is_long(r, dur, e->watch_ms)) y |= 1u << LT_HEAD_LONG;
  }
  if (!ni) {
    if (e->flags & P_LIKE) y |= 1u << LT_HEAD_LIKE;
    if (e->flags & P_FOLLOW) y |= 1u << LT_HEAD_FOLLOW;
    if (e->flags & P_SHARE) y |= 1u << LT_HEAD_SHARE;
  }
  lt_ranker_learn(r, &e->x, mask, y);
  inc64(&r->examples, 1);
  if (e->flags & P_IMP) inc64(&r->impressions, 1);
}

static void set_count(lt_ranker_t *r, uint32_t n) {
  __atomic_store_n(&r->count, n, __ATOMIC_RELAXED); /* lt_ranker_stats reads it */
}

/* Closes the oldest pending example and learns from it (invariant 4). */
static void close_head(lt_ranker_t *r, const lt_state_t *st) {
  const pend_t *e = &r->ring[r->head];
  uint32_t i = ix_find(r, e->key);
  if (i != IX_EMPTY) ix_delete(r, i);
  learn_pending(r, st, e);
  r->head = (r->head + 1) % r->o.pending;
  set_count(r, r->count - 1);
}

/* Closes the examples opened at or before now_ms - window (all of them
 * with now_ms == INT64_MAX). */
static void expire(lt_ranker_t *r, const lt_state_t *st, int64_t now_ms) {
  while (r->count) {
    const pend_t *e = &r->ring[r->head];
    if (now_ms != INT64_MAX && sat_sub(now_ms, e->ts_ms) < r->o.window_ms) break;
    close_head(r, st);
  }
}

void lt_ranker_example(const lt_ranker_t *r, lt_state_t *st, const lt_event_t *ev, uint32_t user,
                       uint32_t item, int source, lt_ranker_x_t *x) {
  lt_hist_t h[PROFILE_HIST];
  size_t nh = lt_state_user_history(st, user, h, PROFILE_HIST);
  lt_ranker_user_t u;
  lt_ranker_user_init(&u, st, user, h, nh, item);
  lt_ranker_features(r, st, &u, item, source, ev->position, ev->ts_ms, x);
}

static pend_t *open_pending(lt_ranker_t *r, lt_state_t *st, const lt_event_t *ev, uint32_t user,
                            uint32_t item, int source, const lt_ranker_x_t *x, uint64_t key) {
  if (r->count == r->o.pending) {
    close_head(r, st);
    inc64(&r->evicted, 1);
  }
  uint32_t pos = (r->head + r->count) % r->o.pending;
  pend_t *e = &r->ring[pos];
  memset(e, 0, sizeof *e);
  e->key = key;
  e->ts_ms = ev->ts_ms;
  e->item = item;
  const lt_item_meta_t *m = lt_state_item(st, item);
  e->duration_ms = m && m->duration_ms ? m->duration_ms : ev->duration_ms;
  if (x) e->x = *x;
  else lt_ranker_example(r, st, ev, user, item, source, &e->x);
  ix_insert(r, key, pos);
  set_count(r, r->count + 1);
  return e;
}

/* The index run from key's home: step 0 its first line, step 1 the ring
 * entries of its first slots (up to the first empty one). */
static void prefetch_run(const lt_ranker_t *r, uint64_t key, int step) {
  uint32_t h = key_hash(key), i = h & r->ixmask;
  if (step == 0) {
    __builtin_prefetch(&r->ix[i]);
    return;
  }
  for (int k = 0; k < 4; k++, i = (i + 1) & r->ixmask) {
    uint64_t e = r->ix[i];
    if (!e) return;
    if (slot_hash(e) == h) __builtin_prefetch(&r->ring[slot_pos(e)]);
  }
}

void lt_ranker_prefetch(const lt_ranker_t *r, uint32_t user, uint32_t item, int step) {
  prefetch_run(r, pair_key(user, item), step);
  /* the example a later open will close, if the ring is full by then
   * (and that entry is open: the others hold garbage) */
  uint32_t off = step == 0 ? 4 : 2;
  if (r->count + 8 < r->o.pending || r->count <= off) return;
  const pend_t *e = &r->ring[(r->head + off) % r->o.pending];
  prefetch_run(r, e->key, step);
  if (step == 1)
    for (uint32_t i = 0; i < e->x.n; i++) {
      size_t k = (size_t)e->x.slot[i] * LANES;
      __builtin_prefetch(r->w + k);
      __builtin_prefetch(r->z + k);
      __builtin_prefetch(r->nacc + k);
    }
}

int lt_ranker_observe(lt_ranker_t *r, lt_state_t *st, const lt_event_t *ev, uint32_t user,
                      uint32_t item, int source, const lt_ranker_x_t *x) {
  if (!r || !st || !ev || user == LT_NONE || item == LT_NONE) return LT_EINVAL;
  if (ev->ts_ms > r->clock) {
    r->clock = ev->ts_ms;
    expire(r, st, r->clock);
  }
  uint64_t key = pair_key(user, item);
  uint32_t i = ix_find(r, key);
  pend_t *e = i == IX_EMPTY ? NULL : &r->ring[slot_pos(r->ix[i])];
  switch (ev->type) {
  case LT_EV_IMPRESSION:
    if (!e) open_pending(r, st, ev, user, item, source, x, key)->flags |= P_IMP;
    break;
  case LT_EV_PLAY: {
    const lt_item_meta_t *m = lt_state_item(st, item);
    uint32_t dur = m && m->duration_ms ? m->duration_ms : ev->duration_ms;
    if (dur) lt_ranker_duration_add(r, dur, ev->watch_ms);
    if (!e) e = open_pending(r, st, ev, user, item, source, x, key);
    e->flags |= P_PLAY;
    if (ev->watch_ms > e->watch_ms) e->watch_ms = ev->watch_ms;
    if (!e->duration_ms) e->duration_ms = dur;
    break;
  }
  case LT_EV_LIKE:
    if (e) e->flags |= P_LIKE;
    break;
  case LT_EV_FOLLOW:
    if (e) e->flags |= P_FOLLOW;
    break;
  case LT_EV_SHARE:
    if (e) e->flags |= P_SHARE;
    break;
  case LT_EV_NOT_INTERESTED:
    if (e) e->flags |= P_NI;
    break;
  default:
    break;
  }
  return LT_OK;
}

void lt_ranker_flush(lt_ranker_t *r, int64_t now_ms) {
  if (r) expire(r, NULL, now_ms);
}

void lt_ranker_stats(const lt_ranker_t *r, lt_ranker_stats_t *out) {
  memset(out, 0, sizeof *out);
  out->examples = ld64(&r->examples);
  out->impressions = ld64(&r->impressions);
  out->updates = ld64(&r->updates);
  out->evicted = ld64(&r->evicted);
  out->pending = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
  for (int h = 0; h < LT_RANKER_HEADS; h++)
    out->positives[h] = ld64(&r->positives[h]);
}

/* ---- persistence --------------------------------------------------------- */

typedef struct wr {
  int fd, rc;
  XXH3_state_t *h;
  unsigned char buf[1 << 16];
  size_t len;
} wr_t;

static void wr_flush(wr_t *w) {
  const unsigned char *p = w->buf;
  size_t n = w->len;
  w->len = 0;
  while (n && !w->rc) {
    ssize_t k = write(w->fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      w->rc = lt_err_from_errno(errno);
      break;
    }
    p += k;
    n -= (size_t)k;
  }
}

static void wr_put(wr_t *w, const void *p, size_t n, int hashed) {
  if (hashed) XXH3_64bits_update(w->h, p, n);
  const unsigned char *c = p;
  while (n) {
    size_t room = sizeof w->buf - w->len, k = n < room ? n : room;
    memcpy(w->buf + w->len, c, k);
    w->len += k;
    c += k;
    n -= k;
    if (w->len == sizeof w->buf) wr_flush(w);
  }
}

static void wr_u32(wr_t *w, uint32_t v) {
  unsigned char b[4];
  lt_store_u32le(b, v);
  wr_put(w, b, 4, 1);
}
static void wr_u64(wr_t *w, uint64_t v) {
  unsigned char b[8];
  lt_store_u64le(b, v);
  wr_put(w, b, 8, 1);
}
static void wr_f32(wr_t *w, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  wr_u32(w, u);
}

int lt_ranker_save(const lt_ranker_t *r, const char *path) {
  if (!r || !path || strlen(path) > 4000) return LT_EINVAL;
  char tmp[4096 + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  wr_t *w = calloc(1, sizeof *w);
  if (!w) return LT_ENOMEM;
  int rc = LT_OK;
  w->fd = -1;
  if (!(w->h = XXH3_createState())) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  XXH3_64bits_reset(w->h);
  w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  wr_put(w, MAGIC, 8, 1);
  wr_u32(w, FILE_VERSION);
  wr_u32(w, r->o.bits);
  wr_f32(w, r->o.alpha);
  wr_f32(w, r->o.beta);
  wr_f32(w, r->o.l1);
  wr_f32(w, r->o.l2);
  wr_f32(w, r->o.finish_ratio);
  wr_f32(w, r->o.long_quantile);
  wr_u32(w, r->o.long_min_count);
  wr_u32(w, LT_RANKER_HEADS);
  wr_u64(w, r->o.seed);
  wr_u64(w, ld64(&r->examples));
  wr_u64(w, ld64(&r->impressions));
  wr_u64(w, ld64(&r->updates));
  for (int h = 0; h < LT_RANKER_HEADS; h++)
    wr_u64(w, ld64(&r->positives[h]));
  for (int b = 0; b < LT_RANKER_DUR_BUCKETS; b++)
    for (int k = 0; k < DUR_BINS; k++)
      wr_u32(w, __atomic_load_n(&r->dur[b][k], __ATOMIC_RELAXED));
  size_t nf = (size_t)r->nslots * LANES;
  for (size_t i = 0; i < nf; i++)
    wr_f32(w, ld(&r->z[i]));
  for (size_t i = 0; i < nf; i++)
    wr_f32(w, ld(&r->nacc[i]));
  unsigned char sum[8];
  lt_store_u64le(sum, XXH3_64bits_digest(w->h));
  wr_put(w, sum, 8, 0);
  wr_flush(w);
  if ((rc = w->rc)) goto cleanup;
  if (fsync(w->fd)) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  int fd = w->fd;
  w->fd = -1;
  if (close(fd)) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  if (rename(tmp, path)) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  rc = lt_fsync_parent(path);
cleanup:
  if (w->fd >= 0) close(w->fd);
  if (rc) unlink(tmp);
  if (w->h) XXH3_freeState(w->h);
  free(w);
  return rc;
}

static float rd_f(const unsigned char *p) {
  uint32_t u = lt_load_u32le(p);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

int lt_ranker_load(const char *path, const lt_ranker_opts_t *opts, lt_ranker_t **out) {
  if (!path || !out) return LT_EINVAL;
  *out = NULL;
  int rc = LT_OK, fd = -1;
  unsigned char *p = NULL;
  lt_ranker_t *r = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LT_ENOTFOUND : lt_err_from_errno(errno);
  struct stat sb;
  if (fstat(fd, &sb)) {
    rc = LT_EIO;
    goto cleanup;
  }
  size_t n = (size_t)sb.st_size;
  if (n < HDR + 8 || n > ((size_t)1 << 34)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if (!(p = malloc(n))) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  for (size_t got = 0; got < n;) {
    ssize_t k = read(fd, p + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      rc = k < 0 ? LT_EIO : LT_ECORRUPT;
      goto cleanup;
    }
    got += (size_t)k;
  }
  if (memcmp(p, MAGIC, 8)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if (lt_load_u32le(p + 8) != FILE_VERSION) {
    rc = LT_EVERSION;
    goto cleanup;
  }
  if (XXH3_64bits(p, n - 8) != lt_load_u64le(p + n - 8)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  lt_ranker_opts_t o;
  lt_ranker_opts_default(&o);
  if (opts) o = *opts;
  o.bits = lt_load_u32le(p + 12);
  o.alpha = rd_f(p + 16);
  o.beta = rd_f(p + 20);
  o.l1 = rd_f(p + 24);
  o.l2 = rd_f(p + 28);
  o.finish_ratio = rd_f(p + 32);
  o.long_quantile = rd_f(p + 36);
  o.long_min_count = lt_load_u32le(p + 40);
  o.seed = lt_load_u64le(p + 48);
  if (lt_load_u32le(p + 44) != LT_RANKER_HEADS || !opts_ok(&o)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  size_t nf = ((size_t)1 << o.bits) * LANES;
  size_t want = HDR + (size_t)LT_RANKER_DUR_BUCKETS * DUR_BINS * 4 + nf * 8 + 8;
  if (n != want) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if ((rc = lt_ranker_new(&o, &r))) goto cleanup;
  r->examples = lt_load_u64le(p + 56);
  r->impressions = lt_load_u64le(p + 64);
  r->updates = lt_load_u64le(p + 72);
  for (int h = 0; h < LT_RANKER_HEADS; h++)
    r->positives[h] = lt_load_u64le(p + 80 + 8 * h);
  const unsigned char *q = p + HDR;
  for (int b = 0; b < LT_RANKER_DUR_BUCKETS; b++) {
    for (int k = 0; k < DUR_BINS; k++, q += 4) {
      r->dur[b][k] = lt_load_u32le(q);
      r->dur_total[b] += r->dur[b][k];
    }
  }
  for (size_t i = 0; i < nf; i++, q += 4)
    r->z[i] = rd_f(q);
  for (size_t i = 0; i < nf; i++, q += 4) {
    float z = r->z[i], nv = rd_f(q);
    if (!isfinite(z) || !isfinite(nv) || nv < 0) {
      rc = LT_ECORRUPT;
      goto cleanup;
    }
    r->nacc[i] = nv;
    r->w[i] = ftrl_w(&r->o, z, sqrtf(nv));
  }
  *out = r;
  r = NULL;
cleanup:
  if (fd >= 0) close(fd);
  free(p);
  lt_ranker_free(r);
  return rc;
}
