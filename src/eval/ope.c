/*
 * ope.c — SNIPS / IPS estimates of exploration policies from the event log
 * (see ope.h for the estimators and the candidate policies).
 *
 * One pass over the log, in log order:
 *   - ITEM_PUT records give item durations (a map from the item id's hash
 *     to its duration; events' duration hints fill it too);
 *   - an impression with a request id becomes one row (propensity,
 *     exploration code, duration, rewards 0) and its key
 *     hash(user, item, request id) goes into a map to the row;
 *   - a play, like of the same key adds to that row's rewards (the first
 *     play counts as the play and its completion; watch time adds up).
 * Then each policy's weights are computed per row and the estimator runs
 * over the rows with a propensity.
 *
 * Memory: 24 bytes per impression row plus the key map (16 bytes per
 * slot, load <= 1/2).
 */
#include "eval/ope.h"

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "log/log.h"
#include "state/record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *reward_names[LT_OPE_REWARDS] = {"play", "watch_s", "completion", "like"};

const char *lt_ope_reward_name(int r) {
  return r >= 0 && r < LT_OPE_REWARDS ? reward_names[r] : "?";
}

int lt_ope_policy_parse(const char *s, lt_ope_policy_t *out) {
  if (!s || !out || strlen(s) >= sizeof out->name) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", s);
  if (!strcmp(s, "logging"))
    out->kind = LT_OPE_LOGGING;
  else if (!strcmp(s, "greedy"))
    out->kind = LT_OPE_GREEDY;
  else if (!strcmp(s, "uniform"))
    out->kind = LT_OPE_UNIFORM;
  else if (!strncmp(s, "softmax:", 8)) {
    char *end;
    out->kind = LT_OPE_SOFTMAX;
    out->temp = strtod(s + 8, &end);
    if (end == s + 8 || *end || !(out->temp > 0) || !isfinite(out->temp)) return LT_EINVAL;
  } else {
    return LT_EINVAL;
  }
  return LT_OK;
}

double lt_ope_prob(const lt_ope_policy_t *p, double p0, unsigned code) {
  if (!code) return 1.0;
  unsigned k = code >> 4, r = (code & 15u) - 1;
  if (!k || (code & 15u) == 0 || r >= k) return 0;
  switch (p->kind) {
  case LT_OPE_LOGGING:
    return p0;
  case LT_OPE_GREEDY:
    return r == 0 ? 1.0 : 0.0;
  case LT_OPE_UNIFORM:
    return 1.0 / k;
  case LT_OPE_SOFTMAX: {
    double z = 0;
    for (unsigned j = 0; j < k; j++)
      z += exp(-(double)j / p->temp);
    return exp(-(double)r / p->temp) / z;
  }
  }
  return 0;
}

int lt_ope_snips(const double *w, const double *r, size_t n, lt_ope_estimate_t *out) {
  if (!out || (n && (!w || !r))) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  out->n = n;
  double sw = 0, sw2 = 0, swr = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(w[i] >= 0)) return LT_EINVAL;
    sw += w[i];
    sw2 += w[i] * w[i];
    swr += w[i] * r[i];
  }
  out->sum_w = sw;
  if (!n || !(sw > 0)) return LT_OK;
  out->ips = swr / (double)n;
  out->snips = swr / sw;
  double v = 0;
  for (size_t i = 0; i < n; i++)
    v += w[i] * w[i] * (r[i] - out->snips) * (r[i] - out->snips);
  out->se = sqrt(v) / sw;
  out->ess = sw * sw / sw2;
  return LT_OK;
}

/* ---- the log pass ----------------------------------------------------------- */

typedef struct row {
  float p0, watch_s;
  uint32_t duration_ms;
  uint8_t code, play, done, like;
} row_t;

typedef struct rows {
  row_t *r;
  size_t n, cap;
} rows_t;

static uint64_t key3(lt_str_t u, lt_str_t i, lt_str_t rid) {
  uint64_t h = lt_hash64(u.p, u.n);
  h = lt_mix64(h ^ lt_hash64(i.p, i.n));
  h = lt_mix64(h ^ lt_hash64(rid.p, rid.n));
  return lt_u64map_key(h);
}

int lt_ope_run(const char *log_dir, const lt_ope_policy_t *pols, size_t npols,
               lt_ope_report_t *out) {
  if (!log_dir || !out || (npols && !pols) || npols > LT_OPE_MAX_POLICIES) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  uint64_t t0 = lt_mono_ns();
  lt_log_reader_t *rd = NULL;
  lt_u64map_t keys, durs;
  lt_u64map_init(&keys);
  lt_u64map_init(&durs);
  rows_t rows = {NULL, 0, 0};
  double *w = NULL, *rw = NULL;
  int rc = lt_log_reader_open(log_dir, 0, &rd);
  if (rc) goto done;
  const void *p;
  uint32_t len;
  lt_record_t rec;
  while ((rc = lt_log_reader_next(rd, &p, &len, NULL)) == 1) {
    if (lt_record_decode(p, len, &rec) != LT_OK) continue;
    uint64_t *v;
    if (rec.kind == LT_REC_ITEM_PUT) {
      const lt_item_rec_t *it = &rec.u.item;
      if (!it->duration_ms) continue;
      if ((rc = lt_u64map_upsert(&durs, lt_u64map_key(lt_hash64(it->id.p, it->id.n)), &v, NULL)))
        goto done;
      *v = it->duration_ms;
      continue;
    }
    if (rec.kind != LT_REC_EVENT) continue;
    const lt_event_t *e = &rec.u.ev;
    if (e->duration_ms) {
      uint64_t dk = lt_u64map_key(lt_hash64(e->item.p, e->item.n));
      if (!lt_u64map_get(&durs, dk)) {
        if ((rc = lt_u64map_upsert(&durs, dk, &v, NULL))) goto done;
        *v = e->duration_ms;
      }
    }
    if (e->type == LT_EV_IMPRESSION) {
      out->impressions++;
      if (!e->request_id.n || !(e->propensity > 0)) {
        out->no_propensity++;
        continue;
      }
      if (rows.n == rows.cap) {
        size_t cap = rows.cap ? rows.cap * 2 : 1 << 14;
        row_t *nr = realloc(rows.r, cap * sizeof *nr);
        if (!nr) {
          rc = LT_ENOMEM;
          goto done;
        }
        rows.r = nr;
        rows.cap = cap;
      }
      row_t *r = &rows.r[rows.n];
      memset(r, 0, sizeof *r);
      r->p0 = e->propensity > 1 ? 1.0f : e->propensity;
      r->code = e->value > 0 && e->value < 256 ? (uint8_t)e->value : 0;
      uint64_t *d = lt_u64map_get(&durs, lt_u64map_key(lt_hash64(e->item.p, e->item.n)));
      r->duration_ms = d ? (uint32_t)*d : 0;
      if ((rc = lt_u64map_upsert(&keys, key3(e->user, e->item, e->request_id), &v, NULL)))
        goto done;
      *v = rows.n + 1;
      rows.n++;
      continue;
    }
    if ((e->type != LT_EV_PLAY && e->type != LT_EV_LIKE) || !e->request_id.n) continue;
    v = lt_u64map_get(&keys, key3(e->user, e->item, e->request_id));
    if (!v) continue;
    row_t *r = &rows.r[*v - 1];
    if (e->type == LT_EV_LIKE) {
      r->like = 1;
      continue;
    }
    if (!r->play) out->joined_plays++;
    r->play = 1;
    r->watch_s += (float)e->watch_ms / 1000.0f;
    if (r->duration_ms && (double)e->watch_ms >= 0.9 * r->duration_ms) r->done = 1;
  }
  if (rc < 0) goto done;
  rc = LT_OK;
  out->used = rows.n;
  size_t n = rows.n;
  w = malloc((n ? n : 1) * sizeof *w);
  rw = malloc((n ? n : 1) * sizeof *rw);
  if (!w || !rw) {
    rc = LT_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const row_t *r = &rows.r[i];
    out->explore += r->code != 0;
    out->logged[0] += r->play;
    out->logged[1] += r->watch_s;
    out->logged[2] += r->done;
    out->logged[3] += r->like;
  }
  for (int k = 0; k < LT_OPE_REWARDS && n; k++)
    out->logged[k] /= (double)n;
  out->npolicies = npols;
  for (size_t j = 0; j < npols; j++) {
    out->pol[j] = pols[j];
    for (size_t i = 0; i < n; i++) {
      const row_t *r = &rows.r[i];
      w[i] = r->code ? lt_ope_prob(&pols[j], r->p0, r->code) / r->p0 : 1.0;
    }
    for (int k = 0; k < LT_OPE_REWARDS; k++) {
      for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows.r[i];
        rw[i] = k == 0 ? r->play : k == 1 ? r->watch_s : k == 2 ? r->done : r->like;
      }
      if ((rc = lt_ope_snips(w, rw, n, &out->est[j][k]))) goto done;
    }
  }
done:
  lt_log_reader_close(rd);
  lt_u64map_clear(&keys);
  lt_u64map_clear(&durs);
  free(rows.r);
  free(w);
  free(rw);
  out->seconds = (double)(lt_mono_ns() - t0) / 1e9;
  return rc;
}

void lt_ope_print_table(FILE *f, const lt_ope_report_t *r) {
  fprintf(f,
          "impressions %llu: %llu with a propensity (%llu in exploration slots), %llu without; "
          "%llu plays joined\n",
          (unsigned long long)r->impressions, (unsigned long long)r->used,
          (unsigned long long)r->explore, (unsigned long long)r->no_propensity,
          (unsigned long long)r->joined_plays);
  fprintf(f, "%-14s", "policy");
  for (int k = 0; k < LT_OPE_REWARDS; k++)
    fprintf(f, " %20s", lt_ope_reward_name(k));
  fprintf(f, " %10s\n", "ESS");
  fprintf(f, "%-14s", "logged mean");
  for (int k = 0; k < LT_OPE_REWARDS; k++)
    fprintf(f, " %20.4f", r->logged[k]);
  fprintf(f, " %10llu\n", (unsigned long long)r->used);
  for (size_t j = 0; j < r->npolicies; j++) {
    fprintf(f, "%-14s", r->pol[j].name);
    for (int k = 0; k < LT_OPE_REWARDS; k++) {
      char cell[48];
      snprintf(cell, sizeof cell, "%.4f +- %.4f", r->est[j][k].snips, 1.96 * r->est[j][k].se);
      fprintf(f, " %20s", cell);
    }
    fprintf(f, " %10.0f\n", r->est[j][0].ess);
  }
  fprintf(f, "(SNIPS estimates per impression, +- 1.96 standard errors; %.2f s)\n", r->seconds);
}

void lt_ope_print_json(FILE *f, const lt_ope_report_t *r) {
  fprintf(f,
          "{\"impressions\":%llu,\"used\":%llu,\"no_propensity\":%llu,\"explore\":%llu,"
          "\"joined_plays\":%llu,\"logged\":{",
          (unsigned long long)r->impressions, (unsigned long long)r->used,
          (unsigned long long)r->no_propensity, (unsigned long long)r->explore,
          (unsigned long long)r->joined_plays);
  for (int k = 0; k < LT_OPE_REWARDS; k++)
    fprintf(f, "%s\"%s\":%.6g", k ? "," : "", lt_ope_reward_name(k), r->logged[k]);
  fprintf(f, "},\"policies\":[");
  for (size_t j = 0; j < r->npolicies; j++) {
    fprintf(f, "%s{\"name\":\"%s\",\"estimates\":{", j ? "," : "", r->pol[j].name);
    for (int k = 0; k < LT_OPE_REWARDS; k++) {
      const lt_ope_estimate_t *e = &r->est[j][k];
      fprintf(f, "%s\"%s\":{\"snips\":%.6g,\"ips\":%.6g,\"se\":%.6g,\"ess\":%.6g,\"n\":%zu}",
              k ? "," : "", lt_ope_reward_name(k), e->snips, e->ips, e->se, e->ess, e->n);
    }
    fprintf(f, "}}");
  }
  fprintf(f, "],\"seconds\":%.3f}\n", r->seconds);
}
