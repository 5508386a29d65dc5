/*
 * offline.c — the offline evaluation protocol (see offline.h).
 *
 * Data flow of lt_eval_run:
 *   recs      every interaction once, sorted by (user, ts, item, input row);
 *   role[r]   TRAIN, VAL or TEST per input row, from two lt_eval_split
 *             passes (the second over TRAIN rows only);
 *   phase     one fit/target pair: VAL phase fits on TRAIN and targets VAL;
 *             TEST phase fits on TRAIN + VAL and targets TEST. A phase
 *             holds, per user, the distinct fit items oldest -> newest (by
 *             last occurrence) with their largest weight, the relevant
 *             target items, the users to score, and the fit matrix (CSR);
 *   models    popularity, item-KNN neighbour lists, iALS, EASE fitted on a
 *             phase's fit matrix;
 *   scoring   per user, dense scores over all items, history items masked,
 *             top K kept, Recall and NDCG recorded per user and averaged in
 *             user order (so results do not depend on the thread count).
 *
 * Tuning on the VAL phase (objective: Recall@K + NDCG@K):
 *   iALS       coordinate search over alpha, then lambda, then alpha again
 *              on log-spaced grids, starting at alpha 1, lambda 10;
 *   EASE       walk over lambda (x3 steps from 100) while it improves,
 *              once for plain histories (the EASE row) and once for the
 *              best recency tau (the pipeline's anchor);
 *   pipeline   anchor = EASE when the catalog allows it, else item-KNN;
 *              its best tau starts the blend search (tune_blend): blend
 *              weights of all components by coordinate ascent, then tau
 *              again with those weights, on standardised scores cached for
 *              an even, memory-bounded sample of the validation users.
 * Then every model is refitted on the TEST phase with the chosen settings
 * and scored once on test.
 */
#include "eval/offline.h"

#include "core/error.h"
#include "model/csr.h"
#include "model/ease.h"
#include "model/ials.h"
#include "model/itemcf.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ROLE_TRAIN = 0, ROLE_VAL = 1, ROLE_TEST = 2 };

/* components of the pipeline; also the single-method scorers */
enum { C_POP, C_KNN, C_IALS, C_IALS_FOLD, C_EASE, C_N };

/* recency scales tau (in positions): history item r places from the newest
 * weighs exp(-r / tau); 0 = no recency weighting */
static const float TAUS[] = {0, 1000, 300, 100, 40, 20, 10, 5, 2};
#define NTAUS (sizeof TAUS / sizeof TAUS[0])
static const float BLEND_W[] = {0, 0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 0.7f, 1.0f, 1.5f, 2.0f, 3.0f};
#define NBLEND_W (sizeof BLEND_W / sizeof BLEND_W[0])
#define CACHE_MAX_FLOATS ((size_t)1 << 26) /* 256 MiB of cached blend scores */

void lt_eval_opts_default(lt_eval_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->k = 20;
  o->test_frac = 0.2;
  o->min_user = 5;
  o->threads = 0;
  o->seed = 1;
  o->ials_k = 64;
  o->ials_iters = 15;
  o->knn_topn = 100;
  o->ease_max_items = 10000;
  o->max_val_users = 20000;
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 64 ? 64 : (uint32_t)n;
}

/* ---- split ---- */

typedef struct rec {
  uint32_t user, item;
  int64_t ts;
  uint32_t row;
} rec_t;

static int rec_cmp(const void *pa, const void *pb) {
  const rec_t *a = pa, *b = pb;
  if (a->user != b->user) return a->user < b->user ? -1 : 1;
  if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
  if (a->item != b->item) return a->item < b->item ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

/* recs sorted by rec_cmp; splits the eligible ones (see lt_eval_split). */
static void split_sorted(const rec_t *recs, size_t n, const uint8_t *eligible, double frac,
                         uint32_t min_user, uint8_t *is_test) {
  size_t s = 0;
  while (s < n) {
    size_t e = s;
    size_t cnt = 0;
    while (e < n && recs[e].user == recs[s].user) {
      if (!eligible || eligible[recs[e].row]) cnt++;
      e++;
    }
    size_t nt = cnt >= min_user ? (size_t)ceil(frac * (double)cnt - 1e-9) : 0;
    if (nt > cnt) nt = cnt;
    size_t seen = 0;
    for (size_t i = s; i < e; i++) {
      uint32_t r = recs[i].row;
      if (eligible && !eligible[r]) continue;
      is_test[r] = seen++ >= cnt - nt;
    }
    s = e;
  }
}

static int input_check(const lt_eval_input_t *in) {
  if (!in || (in->n && (!in->user || !in->item))) return LT_EINVAL;
  if (in->n > UINT32_MAX) return LT_ETOOBIG;
  for (size_t r = 0; r < in->n; r++) {
    if (in->user[r] >= in->nusers || in->item[r] >= in->nitems) return LT_EINVAL;
    if (in->weight && !(in->weight[r] >= 0 && isfinite(in->weight[r]))) return LT_EINVAL;
  }
  return 0;
}

static rec_t *sorted_recs(const lt_eval_input_t *in) {
  rec_t *recs = malloc((in->n ? in->n : 1) * sizeof *recs);
  if (!recs) return NULL;
  for (size_t r = 0; r < in->n; r++) {
    recs[r].user = in->user[r];
    recs[r].item = in->item[r];
    recs[r].ts = in->ts ? in->ts[r] : 0;
    recs[r].row = (uint32_t)r;
  }
  qsort(recs, in->n, sizeof *recs, rec_cmp);
  return recs;
}

int lt_eval_split(const lt_eval_input_t *in, const uint8_t *eligible, double frac,
                  uint32_t min_user, uint8_t *is_test) {
  int rc = input_check(in);
  if (rc) return rc;
  if (!is_test || !(frac >= 0 && frac <= 1)) return LT_EINVAL;
  rec_t *recs = sorted_recs(in);
  if (!recs) return LT_ENOMEM;
  split_sorted(recs, in->n, eligible, frac, min_user, is_test);
  free(recs);
  return 0;
}

/* ---- metrics ---- */

int lt_eval_metrics(const uint32_t *ranked, size_t n, const uint32_t *relevant, size_t nrel,
                    uint32_t k, double *recall, double *ndcg) {
  if (!recall || !ndcg || (n && !ranked) || (nrel && !relevant)) return LT_EINVAL;
  *recall = *ndcg = 0;
  if (!nrel || !k) return 0;
  size_t m = nrel < k ? nrel : k;
  double dcg = 0, idcg = 0;
  size_t hits = 0;
  for (size_t r = 0; r < n && r < k; r++) {
    for (size_t j = 0; j < nrel; j++) {
      if (relevant[j] == ranked[r]) {
        hits++;
        dcg += 1.0 / log2((double)r + 2.0);
        break;
      }
    }
  }
  for (size_t r = 0; r < m; r++)
    idcg += 1.0 / log2((double)r + 2.0);
  *recall = (double)hits / (double)m;
  *ndcg = dcg / idcg;
  return 0;
}

/* ---- phases ---- */

typedef struct phase {
  uint32_t nusers, nitems;
  uint64_t *hptr;  /* nusers + 1 */
  uint32_t *hitem; /* distinct fit items, oldest -> newest */
  float *hw;       /* their largest weight */
  uint64_t *tptr;  /* nusers + 1 */
  uint32_t *titem; /* relevant target items */
  uint32_t *users; /* users with >= 1 relevant item */
  uint32_t nscored;
  size_t nfit, ntarget;
  lt_csr_t *ui; /* fit matrix with the weights */
} phase_t;

static void phase_free(phase_t *p) {
  free(p->hptr);
  free(p->hitem);
  free(p->hw);
  free(p->tptr);
  free(p->titem);
  free(p->users);
  lt_csr_free(p->ui);
  memset(p, 0, sizeof *p);
}

/* fit_mask / target_mask: bit (1 << role) set for the roles that count;
 * max_scored > 0 keeps an even sample of that many users to score */
static int phase_build(const lt_eval_input_t *in, const rec_t *recs, const uint8_t *role,
                       unsigned fit_mask, unsigned target_mask, uint32_t max_scored, phase_t *p) {
  memset(p, 0, sizeof *p);
  p->nusers = in->nusers;
  p->nitems = in->nitems;
  int rc = LT_ENOMEM;
  uint32_t *stamp = calloc(in->nitems ? in->nitems : 1, sizeof *stamp);
  uint32_t *tstamp = calloc(in->nitems ? in->nitems : 1, sizeof *tstamp);
  float *wmax = calloc(in->nitems ? in->nitems : 1, sizeof *wmax);
  uint32_t *urow = NULL;
  p->hptr = calloc((size_t)in->nusers + 1, sizeof *p->hptr);
  p->tptr = calloc((size_t)in->nusers + 1, sizeof *p->tptr);
  p->hitem = malloc((in->n ? in->n : 1) * sizeof *p->hitem);
  p->hw = malloc((in->n ? in->n : 1) * sizeof *p->hw);
  p->titem = malloc((in->n ? in->n : 1) * sizeof *p->titem);
  p->users = malloc(((size_t)in->nusers + 1) * sizeof *p->users);
  if (!stamp || !tstamp || !wmax || !p->hptr || !p->tptr || !p->hitem || !p->hw || !p->titem ||
      !p->users)
    goto cleanup;

  size_t nh = 0, nt = 0, s = 0;
  uint32_t u = 0;
  while (s < in->n || u < in->nusers) {
    /* users without interactions get empty ranges */
    uint32_t cur = s < in->n ? recs[s].user : in->nusers;
    for (; u < cur; u++)
      p->hptr[u + 1] = nh, p->tptr[u + 1] = nt;
    if (s >= in->n) break;
    size_t e = s;
    while (e < in->n && recs[e].user == cur)
      e++;
    uint32_t st = cur + 1;
    /* fit history, newest first, distinct (stamp), then reversed */
    size_t h0 = nh;
    for (size_t i = e; i-- > s;) {
      uint32_t r = recs[i].row, it = recs[i].item;
      if (!(fit_mask >> role[r] & 1)) continue;
      p->nfit++;
      float w = in->weight ? in->weight[r] : 1.0f;
      if (stamp[it] != st) {
        stamp[it] = st;
        wmax[it] = w;
        p->hitem[nh++] = it;
      } else if (w > wmax[it]) {
        wmax[it] = w;
      }
    }
    for (size_t a = h0, b = nh; a + 1 < b; a++, b--) {
      uint32_t t = p->hitem[a];
      p->hitem[a] = p->hitem[b - 1];
      p->hitem[b - 1] = t;
    }
    for (size_t i = h0; i < nh; i++)
      p->hw[i] = wmax[p->hitem[i]];
    /* relevant targets: distinct, not in the fit history */
    for (size_t i = s; i < e; i++) {
      uint32_t r = recs[i].row, it = recs[i].item;
      if (!(target_mask >> role[r] & 1)) continue;
      p->ntarget++;
      if (stamp[it] == st || tstamp[it] == st) continue;
      tstamp[it] = st;
      p->titem[nt++] = it;
    }
    p->hptr[cur + 1] = nh;
    p->tptr[cur + 1] = nt;
    if (nt > p->tptr[cur]) p->users[p->nscored++] = cur;
    u = cur + 1;
    s = e;
  }
  if (max_scored && p->nscored > max_scored) {
    /* user q of the sample is the floor(q * nscored / max_scored)-th */
    for (uint32_t q = 0; q < max_scored; q++)
      p->users[q] = p->users[(uint64_t)q * p->nscored / max_scored];
    p->nscored = max_scored;
  }
  urow = malloc((nh ? nh : 1) * sizeof *urow);
  if (!urow) goto cleanup;
  for (uint32_t v = 0; v < in->nusers; v++)
    for (uint64_t i = p->hptr[v]; i < p->hptr[v + 1]; i++)
      urow[i] = v;
  rc = lt_csr_build(in->nusers, in->nitems, urow, p->hitem, p->hw, nh, LT_CSR_DUP_MAX, &p->ui);

cleanup:
  free(stamp);
  free(tstamp);
  free(wmax);
  free(urow);
  if (rc) phase_free(p);
  return rc;
}

/* ---- models and scoring ---- */

typedef struct models {
  float *pop;         /* nitems: distinct users per item */
  uint64_t *nbptr;    /* nitems + 1 */
  lt_itemcf_nb_t *nb; /* neighbour lists */
  lt_ials_t *ials;
  lt_ease_t *ease;
} models_t;

static void models_free(models_t *m) {
  free(m->pop);
  free(m->nbptr);
  free(m->nb);
  lt_ials_free(m->ials);
  lt_ease_free(m->ease);
  memset(m, 0, sizeof *m);
}

static int fit_pop(const phase_t *p, models_t *m) {
  m->pop = calloc(p->nitems ? p->nitems : 1, sizeof *m->pop);
  if (!m->pop) return LT_ENOMEM;
  for (uint64_t e = 0; e < p->ui->nnz; e++)
    m->pop[p->ui->col[e]] += 1;
  return 0;
}

static int fit_knn(const phase_t *p, uint32_t topn, uint32_t threads, models_t *m) {
  lt_itemcf_opts_t o;
  lt_itemcf_opts_default(&o);
  /* twice the lists read back: a built table keeps the best partners that
   * fit its buckets (model/itemcf.h), so with room for 2 x topn the best
   * topn are all there */
  o.capacity = 2 * topn;
  o.max_user_items = 0;
  o.threads = threads;
  lt_itemcf_t *cf = NULL;
  int rc = lt_itemcf_build(p->ui, &o, &cf);
  if (rc) return rc;
  rc = LT_ENOMEM;
  m->nbptr = calloc((size_t)p->nitems + 1, sizeof *m->nbptr);
  m->nb = malloc(((size_t)p->nitems * topn + 1) * sizeof *m->nb);
  if (!m->nbptr || !m->nb) goto cleanup;
  for (uint32_t i = 0; i < p->nitems; i++) {
    size_t got = 0;
    lt_itemcf_neighbors(cf, i, m->nb + m->nbptr[i], topn, &got);
    m->nbptr[i + 1] = m->nbptr[i] + got;
  }
  rc = 0;
cleanup:
  lt_itemcf_free(cf);
  return rc;
}

/* What one scoring pass computes. */
typedef struct spec {
  int blend; /* 0: the single component comp; 1: the weighted blend */
  int comp;
  float tau;    /* recency scale; 0 = none */
  float w[C_N]; /* blend weights */
} spec_t;

/* per-thread scratch */
typedef struct scratch {
  float *s, *t; /* nitems each */
  float *h;     /* recency weights (longest history) */
  float *x;     /* a user vector */
  uint32_t *top;
  float *topv;
} scratch_t;

static void recency(const phase_t *p, uint32_t u, float tau, float *h) {
  uint64_t a = p->hptr[u], b = p->hptr[u + 1];
  for (uint64_t i = a; i < b; i++)
    h[i - a] = tau > 0 ? expf(-(float)(b - 1 - i) / tau) : 1.0f;
}

/* Raw scores of one component for user u into out (nitems). */
static int comp_score(const phase_t *p, const models_t *m, int comp, uint32_t u, float tau,
                      scratch_t *sc, float *out) {
  const uint64_t a = p->hptr[u], b = p->hptr[u + 1];
  const uint32_t *hist = p->hitem + a;
  const size_t nh = (size_t)(b - a);
  switch (comp) {
  case C_POP:
    memcpy(out, m->pop, p->nitems * sizeof *out);
    return 0;
  case C_KNN:
    recency(p, u, tau, sc->h);
    memset(out, 0, p->nitems * sizeof *out);
    for (size_t j = 0; j < nh; j++) {
      uint32_t it = hist[j];
      for (uint64_t e = m->nbptr[it]; e < m->nbptr[it + 1]; e++)
        out[m->nb[e].item] += sc->h[j] * m->nb[e].sim;
    }
    return 0;
  case C_IALS:
    return lt_ials_score(m->ials, m->ials->U + (size_t)u * m->ials->k, NULL, 0, out);
  case C_IALS_FOLD: {
    recency(p, u, tau, sc->h);
    for (size_t j = 0; j < nh; j++)
      sc->h[j] *= p->hw[a + j];
    int rc = lt_ials_fold_in(m->ials, hist, sc->h, nh, sc->x);
    return rc ? rc : lt_ials_score(m->ials, sc->x, NULL, 0, out);
  }
  case C_EASE:
    recency(p, u, tau, sc->h);
    return lt_ease_score(m->ease, hist, sc->h, nh, out);
  }
  return LT_EINVAL;
}

/* Standardises s with the mean and deviation of the items not in u's
 * history (history entries are transformed too; they get masked later). */
static void standardise(const phase_t *p, uint32_t u, float *s, uint8_t *mask) {
  const uint64_t a = p->hptr[u], b = p->hptr[u + 1];
  for (uint64_t i = a; i < b; i++)
    mask[p->hitem[i]] = 1;
  double sum = 0, sq = 0;
  size_t n = 0;
  for (uint32_t i = 0; i < p->nitems; i++) {
    if (mask[i]) continue;
    sum += s[i];
    sq += (double)s[i] * s[i];
    n++;
  }
  double mu = n ? sum / n : 0, var = n ? sq / n - mu * mu : 0;
  float inv = var > 1e-24 ? (float)(1.0 / sqrt(var)) : 0.0f;
  for (uint32_t i = 0; i < p->nitems; i++)
    s[i] = ((float)(s[i] - mu)) * inv;
  for (uint64_t i = a; i < b; i++)
    mask[p->hitem[i]] = 0;
}

/* Top-k of s excluding u's history, ties to the smaller id; returns count. */
static uint32_t topk(const phase_t *p, uint32_t u, float *s, uint32_t k, uint32_t *top,
                     float *topv) {
  for (uint64_t i = p->hptr[u]; i < p->hptr[u + 1]; i++)
    s[p->hitem[i]] = -INFINITY;
  uint32_t n = 0;
  for (uint32_t i = 0; i < p->nitems; i++) {
    float v = s[i];
    if (v == -INFINITY || v != v) continue;
    if (n == k && !(v > topv[k - 1])) continue;
    uint32_t pos = n < k ? n++ : k - 1;
    while (pos > 0 && v > topv[pos - 1]) {
      top[pos] = top[pos - 1];
      topv[pos] = topv[pos - 1];
      pos--;
    }
    top[pos] = i;
    topv[pos] = v;
  }
  return n;
}

typedef struct job {
  const phase_t *p;
  const models_t *m;
  spec_t spec;
  uint32_t k;
  /* optional blend cache: for user index q < ncache, the standardised
   * scores of component c at cache[(q * nslots + slot[c]) * nitems]
   * (slot[c] < 0: not cached); users beyond ncache are not scored */
  float *cache;
  uint32_t ncache, nslots;
  int slot[C_N];
  int fill_cache;
  double *rec, *ndcg; /* per scored user */
  _Atomic uint32_t next;
  _Atomic int err;
} job_t;

static int scratch_init(scratch_t *sc, const phase_t *p, uint32_t k, uint32_t dim) {
  size_t maxh = 1;
  for (uint32_t u = 0; u < p->nusers; u++)
    if (p->hptr[u + 1] - p->hptr[u] > maxh) maxh = (size_t)(p->hptr[u + 1] - p->hptr[u]);
  sc->s = malloc(((size_t)p->nitems + 1) * sizeof *sc->s);
  sc->t = malloc(((size_t)p->nitems + 1) * sizeof *sc->t);
  sc->h = malloc(maxh * sizeof *sc->h);
  sc->x = malloc(((size_t)dim + 1) * sizeof *sc->x);
  sc->top = malloc(((size_t)k + 1) * sizeof *sc->top);
  sc->topv = malloc(((size_t)k + 1) * sizeof *sc->topv);
  return sc->s && sc->t && sc->h && sc->x && sc->top && sc->topv ? 0 : LT_ENOMEM;
}

static void scratch_free(scratch_t *sc) {
  free(sc->s);
  free(sc->t);
  free(sc->h);
  free(sc->x);
  free(sc->top);
  free(sc->topv);
}

static int score_user(job_t *j, uint32_t q, scratch_t *sc, uint8_t *mask) {
  const phase_t *p = j->p;
  const spec_t *sp = &j->spec;
  /* the cache holds an even sample of the scored users */
  uint32_t u = j->cache ? p->users[(uint64_t)q * p->nscored / j->ncache] : p->users[q];
  int rc = 0;
  if (j->fill_cache) {
    for (int c = 0; c < C_N; c++) {
      if (j->slot[c] < 0) continue;
      float *dst = j->cache + ((size_t)q * j->nslots + (size_t)j->slot[c]) * p->nitems;
      if ((rc = comp_score(p, j->m, c, u, sp->tau, sc, dst))) return rc;
      standardise(p, u, dst, mask);
    }
    return 0;
  }
  if (!sp->blend) {
    if ((rc = comp_score(p, j->m, sp->comp, u, sp->tau, sc, sc->s))) return rc;
  } else {
    memset(sc->s, 0, p->nitems * sizeof *sc->s);
    for (int c = 0; c < C_N; c++) {
      if (sp->w[c] == 0) continue;
      const float *src;
      if (j->cache) {
        if (j->slot[c] < 0) return LT_EINVAL;
        src = j->cache + ((size_t)q * j->nslots + (size_t)j->slot[c]) * p->nitems;
      } else {
        if ((rc = comp_score(p, j->m, c, u, sp->tau, sc, sc->t))) return rc;
        standardise(p, u, sc->t, mask);
        src = sc->t;
      }
      float w = sp->w[c];
      for (uint32_t i = 0; i < p->nitems; i++)
        sc->s[i] += w * src[i];
    }
  }
  uint32_t n = topk(p, u, sc->s, j->k, sc->top, sc->topv);
  return lt_eval_metrics(sc->top, n, p->titem + p->tptr[u], (size_t)(p->tptr[u + 1] - p->tptr[u]),
                         j->k, &j->rec[q], &j->ndcg[q]);
}

static void *job_worker(void *arg) {
  job_t *j = arg;
  scratch_t sc;
  memset(&sc, 0, sizeof sc);
  uint8_t *mask = calloc(j->p->nitems ? j->p->nitems : 1, 1);
  int rc = scratch_init(&sc, j->p, j->k, j->m->ials ? j->m->ials->k : 1);
  if (!rc && !mask) rc = LT_ENOMEM;
  uint32_t limit = j->cache ? j->ncache : j->p->nscored;
  while (!rc) {
    uint32_t q = atomic_fetch_add(&j->next, 1);
    if (q >= limit || atomic_load(&j->err)) break;
    rc = score_user(j, q, &sc, mask);
  }
  if (rc) atomic_store(&j->err, rc);
  scratch_free(&sc);
  free(mask);
  return NULL;
}

/* The blend cache: which components it holds, for how many users. */
typedef struct cache {
  float *v;
  uint32_t nusers, nslots;
  int slot[C_N];
} cache_t;

/* Scores the phase's users (or the cached sample) with spec; averages.
 * fill: only computes the cache (recall/ndcg may be NULL). */
static int run_job(const phase_t *p, const models_t *m, const spec_t *spec, uint32_t k,
                   uint32_t threads, const cache_t *c, int fill, double *recall, double *ndcg) {
  job_t j;
  memset(&j, 0, sizeof j);
  float *cache = c ? c->v : NULL;
  uint32_t ncache = c ? c->nusers : 0;
  if (c) {
    j.nslots = c->nslots;
    memcpy(j.slot, c->slot, sizeof j.slot);
  }
  j.p = p;
  j.m = m;
  j.spec = *spec;
  j.k = k;
  j.cache = cache;
  j.ncache = ncache;
  j.fill_cache = fill;
  uint32_t nu = cache ? ncache : p->nscored;
  j.rec = calloc((size_t)nu + 1, sizeof *j.rec);
  j.ndcg = calloc((size_t)nu + 1, sizeof *j.ndcg);
  if (!j.rec || !j.ndcg) {
    free(j.rec);
    free(j.ndcg);
    return LT_ENOMEM;
  }
  pthread_t tid[64];
  uint32_t started = 0;
  for (uint32_t t = 1; t < threads; t++) {
    if (pthread_create(&tid[started], NULL, job_worker, &j)) break;
    started++;
  }
  job_worker(&j);
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  int rc = atomic_load(&j.err);
  double sr = 0, sn = 0;
  for (uint32_t q = 0; q < nu; q++)
    sr += j.rec[q], sn += j.ndcg[q];
  if (recall) *recall = nu ? sr / nu : 0;
  if (ndcg) *ndcg = nu ? sn / nu : 0;
  free(j.rec);
  free(j.ndcg);
  return rc;
}

/* ---- the run ---- */

typedef struct run {
  const lt_eval_opts_t *o;
  uint32_t threads;
  FILE *log;
} run_t;

static void logf_(const run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const run_t *r, const char *fmt, ...) {
  if (!r->log) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(r->log, fmt, ap);
  va_end(ap);
  fflush(r->log);
}

static int fit_ials(const run_t *r, const phase_t *p, float alpha, float lambda, lt_ials_t **out) {
  lt_ials_opts_t o;
  lt_ials_opts_default(&o);
  o.k = r->o->ials_k;
  o.iters = r->o->ials_iters;
  o.alpha = alpha;
  o.lambda = lambda;
  o.threads = r->threads;
  o.seed = r->o->seed;
  return lt_ials_train(p->ui, &o, out);
}

static double objective(double rec, double ndcg) { return rec + ndcg; }

typedef struct ials_pt {
  float alpha, lambda;
  double rec, ndcg;
} ials_pt_t;

/* Evaluates iALS(alpha, lambda) on validation, memoised in pts. */
static int ials_eval(const run_t *r, const phase_t *p, models_t *m, float alpha, float lambda,
                     ials_pt_t *pts, size_t *npts, double *obj) {
  for (size_t i = 0; i < *npts; i++) {
    if (pts[i].alpha == alpha && pts[i].lambda == lambda) {
      *obj = objective(pts[i].rec, pts[i].ndcg);
      return 0;
    }
  }
  lt_ials_t *mod = NULL;
  int rc = fit_ials(r, p, alpha, lambda, &mod);
  if (rc) return rc;
  lt_ials_t *keep = m->ials;
  m->ials = mod;
  spec_t sp = {0, C_IALS, 0, {0}};
  ials_pt_t pt = {alpha, lambda, 0, 0};
  rc = run_job(p, m, &sp, r->o->k, r->threads, NULL, 0, &pt.rec, &pt.ndcg);
  m->ials = keep;
  lt_ials_free(mod);
  if (rc) return rc;
  logf_(r, "  val iALS alpha=%g lambda=%g: recall %.4f ndcg %.4f\n", alpha, lambda, pt.rec,
        pt.ndcg);
  pts[(*npts)++] = pt;
  *obj = objective(pt.rec, pt.ndcg);
  return 0;
}

static int tune_ials(const run_t *r, const phase_t *p, models_t *m, float *best_a, float *best_l,
                     double *vrec, double *vndcg) {
  static const float AL_FULL[] = {0.3f, 1, 3, 10, 30, 100};
  static const float LA_FULL[] = {0.3f, 1, 3, 10, 30, 100, 300, 1000};
  static const float AL_QUICK[] = {1, 10};
  static const float LA_QUICK[] = {1, 10, 100};
  const float *al = r->o->quick ? AL_QUICK : AL_FULL, *la = r->o->quick ? LA_QUICK : LA_FULL;
  size_t nal = r->o->quick ? 2 : 6, nla = r->o->quick ? 3 : 8;
  ials_pt_t pts[64];
  size_t npts = 0;
  float a = 1, l = 10;
  double best = -1, obj;
  int rc;
  if ((rc = ials_eval(r, p, m, a, l, pts, &npts, &best))) return rc;
  for (int round = 0; round < 3; round++) {
    int tune_alpha = round != 1;
    const float *grid = tune_alpha ? al : la;
    size_t ng = tune_alpha ? nal : nla;
    for (size_t g = 0; g < ng; g++) {
      float ta = tune_alpha ? grid[g] : a, tl = tune_alpha ? l : grid[g];
      if ((rc = ials_eval(r, p, m, ta, tl, pts, &npts, &obj))) return rc;
      if (obj > best) best = obj, a = ta, l = tl;
    }
  }
  *best_a = a;
  *best_l = l;
  for (size_t i = 0; i < npts; i++)
    if (pts[i].alpha == a && pts[i].lambda == l) *vrec = pts[i].rec, *vndcg = pts[i].ndcg;
  return 0;
}

typedef struct ease_pt {
  float lambda;
  double rec[NTAUS], ndcg[NTAUS];
} ease_pt_t;

static int ease_eval(const run_t *r, const phase_t *p, models_t *m, float lambda, ease_pt_t *pts,
                     size_t *npts, size_t *idx) {
  for (size_t i = 0; i < *npts; i++) {
    if (pts[i].lambda == lambda) {
      *idx = i;
      return 0;
    }
  }
  lt_ease_t *e = NULL;
  int rc = lt_ease_train(p->ui, lambda, r->o->ease_max_items, &e);
  if (rc) return rc;
  lt_ease_t *keep = m->ease;
  m->ease = e;
  ease_pt_t pt;
  memset(&pt, 0, sizeof pt);
  pt.lambda = lambda;
  for (size_t t = 0; t < NTAUS && !rc; t++) {
    spec_t sp = {0, C_EASE, TAUS[t], {0}};
    rc = run_job(p, m, &sp, r->o->k, r->threads, NULL, 0, &pt.rec[t], &pt.ndcg[t]);
    logf_(r, "  val EASE lambda=%g tau=%g: recall %.4f ndcg %.4f\n", lambda, TAUS[t], pt.rec[t],
          pt.ndcg[t]);
  }
  m->ease = keep;
  lt_ease_free(e);
  if (rc) return rc;
  *idx = *npts;
  pts[(*npts)++] = pt;
  return 0;
}

/* best objective of an EASE point: at tau = 0 (plain) or over tau > 0 */
static double ease_obj(const ease_pt_t *pt, int plain, size_t *tau_idx) {
  double best = -1;
  for (size_t t = plain ? 0 : 1; t < (plain ? 1 : NTAUS); t++) {
    double o = objective(pt->rec[t], pt->ndcg[t]);
    if (o > best) best = o, *tau_idx = t;
  }
  return best;
}

/* Walks lambda by factors of 3 from 100 while the objective improves. */
static int tune_ease(const run_t *r, const phase_t *p, models_t *m, int plain, ease_pt_t *pts,
                     size_t *npts, size_t *best_idx, size_t *best_tau) {
  size_t i = 0, t = 0;
  int rc = ease_eval(r, p, m, 100, pts, npts, &i);
  if (rc) return rc;
  double best = ease_obj(&pts[i], plain, &t);
  *best_idx = i;
  *best_tau = t;
  for (int dir = 0; dir < 2; dir++) {
    float lambda = 100;
    for (int step = 0; step < 8; step++) {
      lambda = dir == 0 ? lambda * 3 : lambda / 3;
      if ((rc = ease_eval(r, p, m, lambda, pts, npts, &i))) return rc == LT_ERANGE ? 0 : rc;
      double o = ease_obj(&pts[i], plain, &t);
      if (!(o > best)) break;
      best = o;
      *best_idx = i;
      *best_tau = t;
    }
    if (pts[*best_idx].lambda > 100) break; /* improved upwards: no need to go down */
  }
  return 0;
}

/* Chooses the pipeline's blend on validation. Components: the anchor
 * (EASE or item-KNN), the other item-item model, the iALS fold-in and
 * popularity. Their standardised scores are cached for an even sample of
 * validation users (bounded by CACHE_MAX_FLOATS), then:
 *   1. the weights, by two rounds of coordinate ascent over BLEND_W
 *      (every component, starting from the best single one) at the
 *      anchor's own best tau;
 *   2. tau, re-scoring the cache at each other TAUS value with those
 *      weights; if another tau wins, the weights are searched again there.
 * Writes the chosen spec and its validation figures. */
static int tune_blend(const run_t *R, const phase_t *p, const models_t *m, int anchor, float tau0,
                      spec_t *best, double *br, double *bn) {
  int comps[C_N], ncomp = 0;
  comps[ncomp++] = anchor;
  if (anchor == C_EASE) comps[ncomp++] = C_KNN;
  comps[ncomp++] = C_IALS_FOLD;
  comps[ncomp++] = C_POP;
  cache_t cc;
  memset(&cc, 0, sizeof cc);
  for (int c = 0; c < C_N; c++)
    cc.slot[c] = -1;
  for (int c = 0; c < ncomp; c++)
    cc.slot[comps[c]] = (int)cc.nslots++;
  size_t per_user = (size_t)cc.nslots * p->nitems;
  cc.nusers = p->nscored;
  if ((size_t)cc.nusers * per_user > CACHE_MAX_FLOATS)
    cc.nusers = (uint32_t)(CACHE_MAX_FLOATS / (per_user ? per_user : 1));
  if (cc.nusers < 1) cc.nusers = 1;
  cc.v = malloc((size_t)cc.nusers * per_user * sizeof *cc.v);
  if (!cc.v) return LT_ENOMEM;
  const uint32_t k = R->o->k, th = R->threads;
  int rc;
  spec_t cur = {1, anchor, tau0, {0}};
  double cr = 0, cn = 0;
  for (int pass = 0; pass < 2; pass++) {
    spec_t all = cur;
    for (int c = 0; c < ncomp; c++)
      all.w[comps[c]] = 1;
    if ((rc = run_job(p, m, &all, k, th, &cc, 1, NULL, NULL))) goto out;
    if (pass == 0) {
      /* start from the best single component */
      for (int c = 0; c < ncomp; c++) {
        spec_t t = cur;
        memset(t.w, 0, sizeof t.w);
        t.w[comps[c]] = 1;
        double rr, nn;
        if ((rc = run_job(p, m, &t, k, th, &cc, 0, &rr, &nn))) goto out;
        if (c == 0 || objective(rr, nn) > objective(cr, cn)) cur = t, cr = rr, cn = nn;
      }
    } else if ((rc = run_job(p, m, &cur, k, th, &cc, 0, &cr, &cn))) {
      goto out;
    }
    for (int round = 0; round < 2; round++) {
      for (int c = 0; c < ncomp; c++) {
        for (size_t g = 0; g < NBLEND_W; g++) {
          spec_t t = cur;
          t.w[comps[c]] = BLEND_W[g];
          if (t.w[comps[c]] == cur.w[comps[c]]) continue;
          int any = 0;
          for (int d = 0; d < C_N; d++)
            any |= t.w[d] != 0;
          if (!any) continue;
          double rr, nn;
          if ((rc = run_job(p, m, &t, k, th, &cc, 0, &rr, &nn))) goto out;
          if (objective(rr, nn) > objective(cr, cn) + 1e-9) cur = t, cr = rr, cn = nn;
        }
      }
    }
    logf_(R,
          "  val pipeline tau=%g, w ease %.2f knn %.2f ials %.2f pop %.2f (%u users): recall "
          "%.4f ndcg %.4f\n",
          cur.tau, cur.w[C_EASE], cur.w[C_KNN], cur.w[C_IALS_FOLD], cur.w[C_POP], cc.nusers, cr,
          cn);
    if (pass == 1) break;
    /* does another tau do better with these weights? */
    float tau_best = cur.tau;
    double ob = objective(cr, cn);
    for (size_t t = 0; t < NTAUS; t++) {
      if (TAUS[t] == cur.tau) continue;
      spec_t s = cur, fill = cur;
      s.tau = fill.tau = TAUS[t];
      for (int c = 0; c < ncomp; c++)
        fill.w[comps[c]] = 1;
      double rr, nn;
      if ((rc = run_job(p, m, &fill, k, th, &cc, 1, NULL, NULL))) goto out;
      if ((rc = run_job(p, m, &s, k, th, &cc, 0, &rr, &nn))) goto out;
      logf_(R, "  val pipeline at tau=%g: recall %.4f ndcg %.4f\n", TAUS[t], rr, nn);
      if (objective(rr, nn) > ob + 1e-9) ob = objective(rr, nn), tau_best = TAUS[t];
    }
    if (tau_best == cur.tau) break;
    cur.tau = tau_best;
  }
  *best = cur;
  *br = cr;
  *bn = cn;
  rc = 0;
out:
  free(cc.v);
  return rc;
}

static void set_method(lt_eval_report_t *out, const char *name, const char *params) {
  lt_eval_method_t *mt = &out->m[out->nmethods++];
  memset(mt, 0, sizeof *mt);
  snprintf(mt->name, sizeof mt->name, "%s", name);
  snprintf(mt->params, sizeof mt->params, "%s", params);
}

int lt_eval_run(const lt_eval_input_t *in, const lt_eval_opts_t *opts, lt_eval_report_t *out) {
  if (!out) return LT_EINVAL;
  memset(out, 0, sizeof *out);
  lt_eval_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_eval_opts_default(&o);
  int rc = input_check(in);
  if (rc) return rc;
  if (o.k == 0 || o.k > 10000 || !(o.test_frac > 0 && o.test_frac < 1) || o.ials_k == 0 ||
      o.knn_topn == 0)
    return LT_EINVAL;
  run_t R = {&o, o.threads ? o.threads : ncpu(), o.log};
  if (R.threads > 64) R.threads = 64;
  double t_start = now_sec();

  rec_t *recs = NULL;
  uint8_t *role = NULL, *elig = NULL, *is_test = NULL;
  phase_t PV, PT;
  memset(&PV, 0, sizeof PV);
  memset(&PT, 0, sizeof PT);
  models_t MV, MT;
  memset(&MV, 0, sizeof MV);
  memset(&MT, 0, sizeof MT);
  ease_pt_t *epts = NULL;
  rc = LT_ENOMEM;
  recs = sorted_recs(in);
  role = calloc(in->n ? in->n : 1, 1);
  elig = calloc(in->n ? in->n : 1, 1);
  is_test = calloc(in->n ? in->n : 1, 1);
  epts = calloc(64, sizeof *epts); /* two walks of at most 17 fits each */
  if (!recs || !role || !elig || !is_test || !epts) goto cleanup;

  /* 1-2: test split, then validation out of train */
  split_sorted(recs, in->n, NULL, o.test_frac, o.min_user, is_test);
  for (size_t r = 0; r < in->n; r++)
    role[r] = is_test[r] ? ROLE_TEST : ROLE_TRAIN;
  for (size_t r = 0; r < in->n; r++)
    elig[r] = role[r] == ROLE_TRAIN, is_test[r] = 0;
  split_sorted(recs, in->n, elig, o.test_frac, o.min_user, is_test);
  for (size_t r = 0; r < in->n; r++)
    if (elig[r] && is_test[r]) role[r] = ROLE_VAL;
  if ((rc = phase_build(in, recs, role, 1u << ROLE_TRAIN, 1u << ROLE_VAL, o.max_val_users, &PV)))
    goto cleanup;
  if ((rc =
           phase_build(in, recs, role, 1u << ROLE_TRAIN | 1u << ROLE_VAL, 1u << ROLE_TEST, 0, &PT)))
    goto cleanup;
  free(recs);
  recs = NULL;
  out->k = o.k;
  out->nusers = in->nusers;
  out->nitems = in->nitems;
  out->ntrain = PV.nfit;
  out->nval = PV.ntarget;
  out->ntest = PT.ntarget;
  out->val_users = PV.nscored;
  out->test_users = PT.nscored;
  logf_(&R,
        "split: %zu train, %zu validation, %zu test interactions; %u val users, %u test users\n",
        out->ntrain, out->nval, out->ntest, PV.nscored, PT.nscored);
  if (PT.nscored == 0 || PV.nscored == 0) {
    rc = LT_EINVAL;
    goto cleanup;
  }

  /* ---- validation ---- */
  double vr[C_N] = {0}, vn[C_N] = {0};
  if ((rc = fit_pop(&PV, &MV)) || (rc = fit_knn(&PV, o.knn_topn, R.threads, &MV))) goto cleanup;
  spec_t sp = {0, C_POP, 0, {0}};
  if ((rc = run_job(&PV, &MV, &sp, o.k, R.threads, NULL, 0, &vr[C_POP], &vn[C_POP]))) goto cleanup;
  logf_(&R, "  val popularity: recall %.4f ndcg %.4f\n", vr[C_POP], vn[C_POP]);
  double knn_r[NTAUS], knn_n[NTAUS];
  size_t knn_tau = 0;
  for (size_t t = 0; t < NTAUS; t++) {
    spec_t s2 = {0, C_KNN, TAUS[t], {0}};
    if ((rc = run_job(&PV, &MV, &s2, o.k, R.threads, NULL, 0, &knn_r[t], &knn_n[t]))) goto cleanup;
    logf_(&R, "  val item-KNN tau=%g: recall %.4f ndcg %.4f\n", TAUS[t], knn_r[t], knn_n[t]);
    if (objective(knn_r[t], knn_n[t]) > objective(knn_r[knn_tau], knn_n[knn_tau])) knn_tau = t;
  }
  float ia = 1, il = 10;
  if ((rc = tune_ials(&R, &PV, &MV, &ia, &il, &vr[C_IALS], &vn[C_IALS]))) goto cleanup;

  int use_ease = o.ease_max_items && in->nitems <= o.ease_max_items;
  size_t ne = 0, e_plain = 0, e_plain_tau = 0, e_pipe = 0, e_pipe_tau = 0;
  if (use_ease) {
    rc = tune_ease(&R, &PV, &MV, 1, epts, &ne, &e_plain, &e_plain_tau);
    if (!rc) rc = tune_ease(&R, &PV, &MV, 0, epts, &ne, &e_pipe, &e_pipe_tau);
    if (rc) {
      /* EASE is an optional component: go on without it */
      logf_(&R, "  EASE unavailable (%s); continuing without it\n", lt_strerror(rc));
      use_ease = 0;
      rc = 0;
    }
  }
  /* pipeline: anchor and tau */
  int anchor = use_ease ? C_EASE : C_KNN;
  float tau = use_ease ? TAUS[e_pipe_tau] : TAUS[knn_tau];
  float ease_lambda = use_ease ? epts[e_pipe].lambda : 0;
  if ((rc = fit_ials(&R, &PV, ia, il, &MV.ials))) goto cleanup;
  if (use_ease && (rc = lt_ease_train(PV.ui, ease_lambda, o.ease_max_items, &MV.ease)))
    goto cleanup;
  spec_t best;
  double br, bn;
  if ((rc = tune_blend(&R, &PV, &MV, anchor, tau, &best, &br, &bn))) goto cleanup;
  tau = best.tau;
  models_free(&MV);

  /* ---- test: refit on all of train, score once ---- */
  char params[192];
  double t0 = now_sec();
  if ((rc = fit_pop(&PT, &MT))) goto cleanup;
  double fit_pop_s = now_sec() - t0;
  t0 = now_sec();
  if ((rc = fit_knn(&PT, o.knn_topn, R.threads, &MT))) goto cleanup;
  double fit_knn_s = now_sec() - t0;
  t0 = now_sec();
  if ((rc = fit_ials(&R, &PT, ia, il, &MT.ials))) goto cleanup;
  double fit_ials_s = now_sec() - t0;

  set_method(out, "popularity", "distinct users per item");
  out->m[out->nmethods - 1].val_recall = vr[C_POP];
  out->m[out->nmethods - 1].val_ndcg = vn[C_POP];
  out->m[out->nmethods - 1].fit_sec = fit_pop_s;
  snprintf(params, sizeof params, "cosine, top %u neighbours", o.knn_topn);
  set_method(out, "item-KNN", params);
  out->m[out->nmethods - 1].val_recall = knn_r[0];
  out->m[out->nmethods - 1].val_ndcg = knn_n[0];
  out->m[out->nmethods - 1].fit_sec = fit_knn_s;
  snprintf(params, sizeof params, "k=%u iters=%u alpha=%g lambda=%g cg=3", o.ials_k, o.ials_iters,
           ia, il);
  set_method(out, "iALS", params);
  out->m[out->nmethods - 1].val_recall = vr[C_IALS];
  out->m[out->nmethods - 1].val_ndcg = vn[C_IALS];
  out->m[out->nmethods - 1].fit_sec = fit_ials_s;
  int comp_of[LT_EVAL_MAX_METHODS] = {C_POP, C_KNN, C_IALS};
  if (use_ease) {
    t0 = now_sec();
    if ((rc = lt_ease_train(PT.ui, epts[e_plain].lambda, o.ease_max_items, &MT.ease))) goto cleanup;
    snprintf(params, sizeof params, "lambda=%g", epts[e_plain].lambda);
    set_method(out, "EASE", params);
    lt_eval_method_t *mt = &out->m[out->nmethods - 1];
    mt->val_recall = epts[e_plain].rec[0];
    mt->val_ndcg = epts[e_plain].ndcg[0];
    mt->fit_sec = now_sec() - t0;
    comp_of[out->nmethods - 1] = C_EASE;
  }
  for (size_t i = 0; i < out->nmethods; i++) {
    spec_t s3 = {0, comp_of[i], 0, {0}};
    if ((rc = run_job(&PT, &MT, &s3, o.k, R.threads, NULL, 0, &out->m[i].recall, &out->m[i].ndcg)))
      goto cleanup;
  }
  /* the pipeline */
  double pipe_fit = fit_pop_s + fit_knn_s + fit_ials_s;
  if (use_ease && epts[e_plain].lambda != ease_lambda) {
    lt_ease_free(MT.ease);
    MT.ease = NULL;
    t0 = now_sec();
    if ((rc = lt_ease_train(PT.ui, ease_lambda, o.ease_max_items, &MT.ease))) goto cleanup;
    pipe_fit += now_sec() - t0;
  } else if (use_ease) {
    pipe_fit += out->m[out->nmethods - 1].fit_sec;
  }
  {
    int len = snprintf(params, sizeof params, "tau=%g; weights:", tau);
    if (use_ease && len > 0 && (size_t)len < sizeof params)
      len += snprintf(params + len, sizeof params - (size_t)len, " EASE(lambda=%g) %.2f,",
                      ease_lambda, best.w[C_EASE]);
    if (len > 0 && (size_t)len < sizeof params)
      snprintf(params + len, sizeof params - (size_t)len,
               " item-KNN %.2f, iALS fold-in %.2f, popularity %.2f", best.w[C_KNN],
               best.w[C_IALS_FOLD], best.w[C_POP]);
  }
  set_method(out, "laotie", params);
  lt_eval_method_t *mt = &out->m[out->nmethods - 1];
  mt->val_recall = br;
  mt->val_ndcg = bn;
  mt->fit_sec = pipe_fit;
  if ((rc = run_job(&PT, &MT, &best, o.k, R.threads, NULL, 0, &mt->recall, &mt->ndcg)))
    goto cleanup;
  out->total_sec = now_sec() - t_start;
  rc = 0;

cleanup:
  free(recs);
  free(role);
  free(elig);
  free(is_test);
  free(epts);
  models_free(&MV);
  models_free(&MT);
  phase_free(&PV);
  phase_free(&PT);
  return rc;
}

/* ---- output ---- */

void lt_eval_print_table(FILE *f, const lt_eval_report_t *r) {
  if (!f || !r) return;
  fprintf(f,
          "offline evaluation: %u users, %u items; %zu train / %zu validation / %zu test "
          "interactions; %u test users; K=%u\n",
          r->nusers, r->nitems, r->ntrain, r->nval, r->ntest, r->test_users, r->k);
  fprintf(f, "%-12s %9s %9s %9s %9s %8s  %s\n", "method", "Recall", "NDCG", "val R", "val N",
          "fit s", "parameters (chosen on validation)");
  for (size_t i = 0; i < r->nmethods; i++) {
    const lt_eval_method_t *m = &r->m[i];
    fprintf(f, "%-12s %9.4f %9.4f %9.4f %9.4f %8.2f  %s\n", m->name, m->recall, m->ndcg,
            m->val_recall, m->val_ndcg, m->fit_sec, m->params);
  }
  fprintf(f, "(total %.1f s)\n", r->total_sec);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void lt_eval_print_json(FILE *f, const lt_eval_report_t *r) {
  if (!f || !r) return;
  fprintf(f,
          "{\"k\":%u,\"users\":%u,\"items\":%u,\"train\":%zu,\"val\":%zu,\"test\":%zu,"
          "\"test_users\":%u,\"val_users\":%u,\"seconds\":%.3f,\"methods\":[",
          r->k, r->nusers, r->nitems, r->ntrain, r->nval, r->ntest, r->test_users, r->val_users,
          r->total_sec);
  for (size_t i = 0; i < r->nmethods; i++) {
    const lt_eval_method_t *m = &r->m[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, m->name);
    fprintf(f,
            ",\"recall\":%.6f,\"ndcg\":%.6f,\"val_recall\":%.6f,\"val_ndcg\":%.6f,"
            "\"fit_seconds\":%.3f,\"params\":",
            m->recall, m->ndcg, m->val_recall, m->val_ndcg, m->fit_sec);
    json_str(f, m->params);
    fputc('}', f);
  }
  fputs("]}\n", f);
}
