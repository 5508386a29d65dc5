/*
 * model.c — the online pCTR / pCVR model of the ad auction.
 *
 * Two logistic regressions ("heads") over the same hashed features:
 *   CTR head: examples are ad_impression (y = 0) and ad_click (y = 1);
 *   CVR head: examples are ad_click (y = 0) and ad_conversion (y = 1).
 * Features (one-hot, hashed into 2^18 weights per head): a bias; the
 * creative; its campaign; its advertiser; the user's tag-affinity bucket
 * (none, weak, medium, strong, no profile); campaign x affinity bucket.
 *
 * Prior for new creatives: every weight starts at 0 except the bias, set
 * to the logit of the configured prior, so a new creative is predicted at
 * its campaign's and advertiser's learned rate, or at the prior when those
 * are new too, and moves away from it as its own events arrive.
 *
 * Delayed labels: a click is logged after its impression, so each click is
 * learned as a positive while its impression was already learned as a
 * negative ("fake negative" training). The model's q then estimates
 * clicks / (impressions + clicks); the calibrated rate is q / (1 - q)
 * = clicks / impressions (same for conversions per click).
 *
 * Updates: AdaGrad, per-coordinate step lr / sqrt(1 + sum of squared
 * gradients). The accumulator starts at 1, not 0: otherwise the first
 * negatives of a new creative (gradient ~ q, small) would take full steps
 * of lr, as large as a positive's, and a few clicks without a conversion
 * would crush its pCVR before it could win again to learn (starvation).
 * From 1, a negative moves a weight by about lr q and a positive by about
 * lr, which balance at the true rate. Weights are 32-bit floats stored as uint32 words written
 * and read with relaxed atomics: lt_ads_fill reads them on any thread
 * while the store's writer trains (a reader may see some weights of one
 * update and not others: harmless for a prediction).
 */
#include "ads/ads_int.h"

#include <math.h>
#include <string.h>

#define MASK ((1u << LT__MODEL_BITS) - 1)

static inline float wload(const uint32_t *p) {
  uint32_t u = __atomic_load_n(p, __ATOMIC_RELAXED);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static inline void wstore(uint32_t *p, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  __atomic_store_n(p, u, __ATOMIC_RELAXED);
}

static uint32_t slot(uint64_t kind, uint64_t v) {
  return (uint32_t)(lt_mix64(kind * 0x9e3779b97f4a7c15ULL ^ lt_mix64(v + kind)) & MASK);
}

void lt__model_feats(uint32_t item, uint32_t cid, uint64_t adv, int aff,
                     uint32_t f[LT__MODEL_FEATS]) {
  f[0] = slot(1, 0);
  f[1] = slot(2, item);
  f[2] = slot(3, cid);
  f[3] = slot(4, adv);
  f[4] = slot(5, (uint64_t)aff);
  f[5] = slot(6, (uint64_t)cid << 8 | (uint64_t)aff);
}

void lt__model_init(lt__model_t *m, double prior_ctr, double prior_cvr, double lr) {
  memset(m, 0, sizeof *m);
  m->lr = (float)lr;
  for (int h = 0; h < 2; h++)
    for (size_t i = 0; i < (1u << LT__MODEL_BITS); i++)
      m->g2[h][i] = 1.0f;
  double prior[2] = {prior_ctr, prior_cvr};
  uint32_t f[LT__MODEL_FEATS];
  lt__model_feats(0, 0, 0, 0, f);
  for (int h = 0; h < 2; h++) {
    /* q = p / (1 + p): the fake-negative target of rate p */
    double q = prior[h] / (1 + prior[h]);
    wstore(&m->w[h][f[0]], (float)log(q / (1 - q)));
  }
}

static double raw(const lt__model_t *m, int head, const uint32_t f[LT__MODEL_FEATS]) {
  double z = 0;
  for (int i = 0; i < LT__MODEL_FEATS; i++)
    z += wload(&m->w[head][f[i]]);
  if (z > 30) z = 30;
  if (z < -30) z = -30;
  return 1 / (1 + exp(-z));
}

double lt__model_predict(const lt__model_t *m, int head, const uint32_t f[LT__MODEL_FEATS]) {
  double q = raw(m, head, f);
  double p = q / (1 - q);
  if (p < 1e-6) p = 1e-6;
  if (p > 0.95) p = 0.95;
  return p;
}

void lt__model_learn(lt__model_t *m, int head, const uint32_t f[LT__MODEL_FEATS], int y) {
  double g = raw(m, head, f) - (y ? 1.0 : 0.0);
  for (int i = 0; i < LT__MODEL_FEATS; i++) {
    uint32_t k = f[i];
    /* one feature may hash onto another's slot: apply each slot once */
    int dup = 0;
    for (int j = 0; j < i; j++)
      dup |= f[j] == k;
    if (dup) continue;
    float *g2 = &m->g2[head][k];
    *g2 += (float)(g * g);
    float w = wload(&m->w[head][k]);
    w -= (float)(m->lr * g / sqrt((double)*g2));
    if (w > 20) w = 20;
    if (w < -20) w = -20;
    wstore(&m->w[head][k], w);
  }
  m->updates[head]++;
}
