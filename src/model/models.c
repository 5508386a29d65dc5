/*
 * models.c — building, sharing, saving and loading model snapshots (see
 * models.h).
 *
 * What it is for: the learn path. lt_models_build reads the state the
 * writer keeps applying to, and produces an immutable lt_models_t that the
 * feed publishes; readers hold a reference for one request.
 *
 * Stages of a build, each timed into m->seconds[]:
 *   collect  one pass over the users: copy the history (the state's stripe
 *            lock is held only while copying), lt_models_user_row, append
 *            to triples; then lt_csr_build (users x items);
 *   ials     lt_ials_train on the matrix;
 *   ann      lt_ann_build over the item factors V (inner product);
 *   itemcf   lt_itemcf_build over the same matrix (which cells exist),
 *            then each item's cf_topk best neighbours copied into one flat
 *            table (the counters themselves are dropped);
 *   lists    one pass over the items: top pop_n by popularity decayed to
 *            now, and the fresh list.
 *
 * File formats (little-endian):
 *   MANIFEST (64 bytes)
 *     0  8  magic "LTMODEL1"
 *     8  4  u32 format version (1)
 *    12  4  u32 flags: 1 = ials.bin and ann.bin present, 2 = users.bin
 *    16  8  u64 model version (> 0)
 *    24  8  i64 trained_at_ms
 *    32  4  u32 nusers     36  4  u32 nitems     40  4  u32 k
 *    44  4  u32 0          48  8  u64 nnz
 *    56  8  u64 XXH3-64 of bytes 0..56
 *   users.bin
 *     0  8  magic "LTUSERS1"   8  4  u32 format version (1)   12  4  u32 n
 *    16 4n  u32 events[n]      then u64 XXH3-64 of everything before
 *   cowatch.bin
 *     0  8  magic "LTCOWAT1"   8  4  u32 format version (1)   12  4  u32 n
 *    16  8  u64 m (neighbours in all)
 *    24  .  u32 off[n + 1] (off[0] = 0, non-decreasing, off[n] = m)
 *     .  .  m x {u32 item (< n), f32 sim (finite)}
 *     .  8  u64 XXH3-64 of everything before
 *
 * Invariants:
 *  1. ials and ann are both present or both NULL; when present,
 *     lt_ann_size(ann) == ials->nitems == nitems, lt_ann_dim(ann) ==
 *     ials->k and ials->nusers == nusers;
 *  2. user_events has nusers entries (NULL when nusers == 0);
 *  2b. cf_off has cf_items + 1 non-decreasing entries from 0, and every
 *     neighbour id is < cf_items;
 *  2c. user_ann is NULL iff user_ann_n == 0; when present it has nusers x
 *     user_ann_n entries, each an item id < nitems or LT_NONE, and ann is
 *     present;
 *  3. a published snapshot never changes; refs > 0 while anyone holds it;
 *  4. a directory models-<v> exists only once it is complete (built as
 *     models-<v>.tmp, renamed after MANIFEST and an fsync).
 */
#include "model/models.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/hash.h"
#include "model/csr.h"
#include "model/linalg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAGIC "LTMODEL1"
#define USERS_MAGIC "LTUSERS1"
#define FMT_VERSION 1
#define MANIFEST_SIZE 64
#define F_IALS 1u
#define F_USERS 2u
#define F_COWATCH 4u
#define COWATCH_MAGIC "LTCOWAT1"
#define F_RETRIEVE 8u
#define RETRIEVE_MAGIC "LTRETRV1"
#define RETRIEVE_MAX 4096 /* user_ann_n a file may claim */
#define MAX_WEIGHT 10.0f

static const char *stage_names[LT_MODELS_STAGES] = {"collect", "ials",     "ann",
                                                     "itemcf",  "retrieve", "lists"};

const char *lt_models_stage_name(int stage) {
  return stage >= 0 && stage < LT_MODELS_STAGES ? stage_names[stage] : "?";
}

void lt_models_opts_default(lt_models_opts_t *o) {
  memset(o, 0, sizeof *o);
  lt_ials_opts_default(&o->ials);
  o->ials.k = 64;
  o->ials.iters = 10;
  o->ials.alpha = 1.0f;
  o->ials.lambda = 10.0f;
  lt_ann_opts_default(&o->ann);
  o->ann.metric = LT_ANN_IP;
  lt_itemcf_opts_default(&o->itemcf);
  o->cf_topk = 50;
  o->pop_n = 1000;
  o->fresh_n = 500;
  o->fresh_window_ms = 3 * 24 * 3600 * 1000LL;
  o->fresh_max_impressions = 200;
}

/* ---- training rows -------------------------------------------------------- */

/* The confidence one history entry adds; *exclude set for not_interested. */
static float entry_weight(const lt_state_t *st, const lt_hist_t *h, int *exclude) {
  float w;
  switch (h->type) {
  case LT_EV_PLAY:
    if (h->weight_q) {
      w = h->weight_q / 100.0f; /* the watch ratio, or an explicit weight */
    } else if (h->watch_ms) {
      /* the duration was unknown when it was played; it may be known now */
      const lt_item_meta_t *m = lt_state_item(st, h->item);
      w = m && m->duration_ms ? (float)h->watch_ms / (float)m->duration_ms : 1.0f;
    } else {
      return 1.0f; /* a play with no watch time and no weight */
    }
    /* a skip (a tenth of the video or less) teaches nothing positive */
    return w < 0.1f ? 0.0f : w > 5 ? 5.0f : w;
  case LT_EV_LIKE:
  case LT_EV_COMMENT:
  case LT_EV_GIFT:
  case LT_EV_FOLLOW:
    return 1.0f;
  case LT_EV_SHARE:
    return 2.0f;
  case LT_EV_PURCHASE:
    return 3.0f;
  case LT_EV_NOT_INTERESTED:
    *exclude = 1;
    return 0;
  default:
    return 0;
  }
}

static int pair_cmp(const void *a, const void *b) {
  const lt_models_pair_t *x = a, *y = b;
  return x->item < y->item ? -1 : x->item > y->item;
}

size_t lt_models_user_row(const lt_state_t *st, const lt_hist_t *h, size_t n,
                          lt_models_pair_t *out) {
  /* w < 0 marks an excluded item while merging */
  for (size_t i = 0; i < n; i++) {
    int ex = 0;
    float w = entry_weight(st, &h[i], &ex);
    out[i].item = h[i].item;
    out[i].w = ex ? -1.0f : w;
  }
  qsort(out, n, sizeof *out, pair_cmp);
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    uint32_t item = out[i].item;
    float w = 0;
    int ex = 0;
    for (; i < n && out[i].item == item; i++) {
      if (out[i].w < 0)
        ex = 1;
      else
        w += out[i].w;
    }
    if (ex || !(w > 0)) continue;
    out[k].item = item;
    out[k].w = w > MAX_WEIGHT ? MAX_WEIGHT : w;
    k++;
  }
  return k;
}

/* ---- snapshot lifetime ------------------------------------------------------ */

static void models_free(lt_models_t *m) {
  if (!m) return;
  lt_ials_free(m->ials);
  lt_ann_free(m->ann);
  free(m->cf_off);
  free(m->cf_nb);
  free(m->user_events);
  free(m->user_ann);
  free(m->pop);
  free(m->fresh);
  free(m);
}

lt_models_t *lt_models_acquire(lt_models_t *m) {
  if (m) __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
  return m;
}

void lt_models_release(lt_models_t *m) {
  if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) models_free(m);
}

static double secs_since(uint64_t t0) { return (double)(lt_mono_ns() - t0) / 1e9; }

/* ---- stages ----------------------------------------------------------------- */

typedef struct triples {
  uint32_t *rows, *cols;
  float *vals;
  size_t n, cap;
} triples_t;

static int triples_push(triples_t *t, uint32_t r, uint32_t c, float v) {
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 1 << 16;
    uint32_t *rr = realloc(t->rows, nc * sizeof *rr);
    if (rr) t->rows = rr;
    uint32_t *cc = realloc(t->cols, nc * sizeof *cc);
    if (cc) t->cols = cc;
    float *vv = realloc(t->vals, nc * sizeof *vv);
    if (vv) t->vals = vv;
    if (!rr || !cc || !vv) return LT_ENOMEM;
    t->cap = nc;
  }
  t->rows[t->n] = r;
  t->cols[t->n] = c;
  t->vals[t->n++] = v;
  return LT_OK;
}

/* Collects the users x items matrix of every history; *events (may be NULL)
 * receives each user's event count as it was before the copy. */
static int collect(lt_state_t *st, lt_csr_t **ui, uint32_t **events, uint32_t *nusers_out,
                   uint32_t *nitems_out) {
  uint32_t nusers = lt_state_count(st, LT_NS_USER), nitems = lt_state_count(st, LT_NS_ITEM);
  int rc = LT_ENOMEM;
  triples_t t = {0};
  lt_hist_t *h = NULL;
  lt_models_pair_t *pairs = NULL;
  size_t hcap = 0;
  uint32_t *ev = NULL;
  if (events && nusers && !(ev = calloc(nusers, sizeof *ev))) goto cleanup;
  for (uint32_t u = 0; u < nusers; u++) {
    lt_user_info_t info;
    if (lt_state_user_info(st, u, &info)) continue;
    if (ev) ev[u] = info.events > UINT32_MAX ? UINT32_MAX : (uint32_t)info.events;
    size_t want = info.history_len + 16; /* room for a few applied meanwhile */
    if (want > hcap) {
      free(h);
      free(pairs);
      h = malloc(want * sizeof *h);
      pairs = malloc(want * sizeof *pairs);
      if (!h || !pairs) goto cleanup;
      hcap = want;
    }
    size_t n = lt_state_user_history(st, u, h, hcap);
    size_t k = lt_models_user_row(st, h, n, pairs);
    for (size_t j = 0; j < k; j++)
      if (pairs[j].item < nitems && (rc = triples_push(&t, u, pairs[j].item, pairs[j].w)))
        goto cleanup;
  }
  rc = lt_csr_build(nusers, nitems, t.rows, t.cols, t.vals, t.n, LT_CSR_DUP_SUM, ui);
  if (rc) goto cleanup;
  *nusers_out = nusers;
  *nitems_out = nitems;
  if (events) *events = ev;
  ev = NULL;
cleanup:
  free(t.rows);
  free(t.cols);
  free(t.vals);
  free(h);
  free(pairs);
  free(ev);
  return rc;
}

typedef struct scored {
  double s;
  uint32_t item;
} scored_t;

/* A bounded min-heap keeping the n largest scores. */
typedef struct topn {
  scored_t *h;
  uint32_t len, cap;
} topn_t;

static int worse(scored_t a, scored_t b) { return a.s < b.s || (a.s == b.s && a.item > b.item); }

static void topn_push(topn_t *t, double s, uint32_t item) {
  scored_t x = {s, item};
  if (!t->cap) return;
  if (t->len == t->cap) {
    if (!worse(t->h[0], x)) return;
    t->h[0] = x; /* replace the root, sift down */
    uint32_t i = 0;
    for (;;) {
      uint32_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < t->len && worse(t->h[l], t->h[m])) m = l;
      if (r < t->len && worse(t->h[r], t->h[m])) m = r;
      if (m == i) break;
      scored_t tmp = t->h[i];
      t->h[i] = t->h[m];
      t->h[m] = tmp;
      i = m;
    }
    return;
  }
  uint32_t i = t->len++;
  t->h[i] = x;
  while (i && worse(t->h[i], t->h[(i - 1) / 2])) {
    scored_t tmp = t->h[i];
    t->h[i] = t->h[(i - 1) / 2];
    t->h[(i - 1) / 2] = tmp;
    i = (i - 1) / 2;
  }
}

static int scored_desc(const void *a, const void *b) {
  const scored_t *x = a, *y = b;
  return worse(*y, *x) ? -1 : worse(*x, *y) ? 1 : 0;
}

/* Sorts the kept items best first into a new array *out of *n ids. */
static int topn_take(topn_t *t, uint32_t **out, uint32_t *n) {
  qsort(t->h, t->len, sizeof *t->h, scored_desc);
  *out = malloc((t->len ? t->len : 1) * sizeof **out);
  if (!*out) return LT_ENOMEM;
  for (uint32_t i = 0; i < t->len; i++)
    (*out)[i] = t->h[i].item;
  *n = t->len;
  return LT_OK;
}

/* Takes the lists as of now_ms. Popularity is read as of the newest event
 * when the data stops before now (a replayed data set): it decays alike for
 * all items after the last event, so the order is the same, and it does not
 * underflow to 0. */
static int take_lists(lt_models_t *m, lt_state_t *st, const lt_models_opts_t *o, int64_t now_ms) {
  uint32_t nitems = lt_state_count(st, LT_NS_ITEM);
  lt_state_totals_t tot;
  lt_state_totals(st, &tot); /* the trainer's copy may be one event old: harmless */
  int64_t t_pop = tot.max_ts_ms > 0 && tot.max_ts_ms < now_ms ? tot.max_ts_ms : now_ms;
  topn_t pop = {malloc((o->pop_n ? o->pop_n : 1) * sizeof(scored_t)), 0, o->pop_n};
  topn_t fresh = {malloc((o->fresh_n ? o->fresh_n : 1) * sizeof(scored_t)), 0, o->fresh_n};
  int rc = LT_ENOMEM;
  if (!pop.h || !fresh.h) goto cleanup;
  for (uint32_t i = 0; i < nitems; i++) {
    const lt_item_meta_t *im = lt_state_item(st, i);
    const lt_item_counters_t *c = lt_state_item_counters(st, i);
    if (!im || !c || im->deleted) continue;
    double p = lt_state_item_pop(st, i, t_pop);
    if (p > 0) topn_push(&pop, p, i);
    int64_t pub = im->published_at_ms;
    /* (now_ms - window cannot overflow; now_ms - pub could, for a hostile pub) */
    if (pub && pub <= now_ms && pub >= now_ms - o->fresh_window_ms &&
        c->impressions < o->fresh_max_impressions)
      topn_push(&fresh, (double)pub, i);
  }
  if ((rc = topn_take(&pop, &m->pop, &m->npop)) || (rc = topn_take(&fresh, &m->fresh, &m->nfresh)))
    goto cleanup;
  m->lists_at_ms = t_pop;
cleanup:
  free(pop.h);
  free(fresh.h);
  return rc;
}

/* Counts co-watches over ui and keeps each item's cf_topk best neighbours
 * in m's flat table; *counters gets the bytes the counting took. */
static int cowatch_build(lt_models_t *m, const lt_csr_t *ui, const lt_models_opts_t *o,
                         size_t *counters) {
  lt_itemcf_t *cf = NULL;
  lt_itemcf_nb_t *nb = NULL;
  uint32_t k = o->cf_topk ? o->cf_topk : 1, n = ui->ncols;
  int rc = lt_itemcf_build(ui, &o->itemcf, &cf);
  if (rc) return rc;
  *counters = lt_itemcf_memory(cf);
  rc = LT_ENOMEM;
  if (!(m->cf_off = malloc(((size_t)n + 1) * sizeof *m->cf_off)) ||
      !(nb = malloc((size_t)k * sizeof *nb)))
    goto cleanup;
  /* first pass counts, second copies: the table is allocated once */
  uint64_t total = 0;
  m->cf_off[0] = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t got = 0;
    lt_itemcf_neighbors(cf, i, nb, k, &got);
    total += got;
    if (total > UINT32_MAX) goto cleanup;
    m->cf_off[i + 1] = (uint32_t)total;
  }
  if (!(m->cf_nb = malloc((total ? total : 1) * sizeof *m->cf_nb))) goto cleanup;
  for (uint32_t i = 0; i < n; i++) {
    size_t got = 0;
    lt_itemcf_neighbors(cf, i, m->cf_nb + m->cf_off[i], m->cf_off[i + 1] - m->cf_off[i], &got);
  }
  m->cf_items = n;
  rc = LT_OK;
cleanup:
  free(nb);
  lt_itemcf_free(cf);
  return rc;
}

/* ---- per-user retrieval ----------------------------------------------------------- */

/* Each user's user_ann_n nearest items to the trained user vector (the
 * items of the user's training row left out: a request leaves out the whole
 * history anyway), searched once per training so a request whose user has
 * not acted since reads them instead of searching (feed_get.c). Users are
 * handed out in blocks to o->ials.threads workers. */
typedef struct retrieve_job {
  lt_models_t *m;
  const lt_csr_t *ui;
  atomic_uint next;
  atomic_int err;
} retrieve_job_t;

typedef struct row_filter {
  const uint32_t *col; /* ascending */
  uint32_t len;
} row_filter_t;

static int not_in_row(uint32_t item, void *ctx) {
  const row_filter_t *r = ctx;
  uint32_t lo = 0, hi = r->len;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (r->col[mid] < item)
      lo = mid + 1;
    else
      hi = mid;
  }
  return !(lo < r->len && r->col[lo] == item);
}

#define RETRIEVE_BLOCK 256u

static void *retrieve_worker(void *arg) {
  retrieve_job_t *j = arg;
  lt_models_t *m = j->m;
  const uint32_t n = m->user_ann_n, k = m->ials->k, ef = n < 64 ? 64 : n;
  for (;;) {
    uint32_t u0 = atomic_fetch_add(&j->next, RETRIEVE_BLOCK);
    if (u0 >= m->nusers) break;
    uint32_t u1 = m->nusers - u0 < RETRIEVE_BLOCK ? m->nusers : u0 + RETRIEVE_BLOCK;
    for (uint32_t u = u0; u < u1; u++) {
      uint32_t *out = m->user_ann + (size_t)u * n, got = 0;
      row_filter_t rf = {j->ui->col + j->ui->rowptr[u], lt_csr_row_len(j->ui, u)};
      if (rf.len) {
        int rc = lt_ann_search(m->ann, m->ials->U + (size_t)u * k, n, ef, not_in_row, &rf, out,
                               NULL, &got);
        if (rc) {
          atomic_store(&j->err, rc);
          got = 0;
        }
      }
      for (; got < n; got++)
        out[got] = LT_NONE;
    }
  }
  lt_ann_thread_release();
  return NULL;
}

static int retrieve_build(lt_models_t *m, const lt_csr_t *ui, const lt_models_opts_t *o) {
  if (!o->user_ann_n || !m->nusers) return LT_OK;
  m->user_ann_n = o->user_ann_n;
  if (!(m->user_ann = malloc((size_t)m->nusers * m->user_ann_n * sizeof *m->user_ann))) {
    m->user_ann_n = 0;
    return LT_ENOMEM;
  }
  retrieve_job_t j = {.m = m, .ui = ui};
  atomic_init(&j.next, 0);
  atomic_init(&j.err, 0);
  uint32_t threads = o->ials.threads ? o->ials.threads : lt__ncpu(), started = 0;
  if (threads > 64) threads = 64;
  pthread_t tid[64];
  for (uint32_t t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, retrieve_worker, &j)) break;
    started++;
  }
  if (!started) retrieve_worker(&j);
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  return atomic_load(&j.err);
}

static void logf_stage(FILE *log, const lt_models_t *m, int stage, const char *what) {
  if (log)
    fprintf(log, "train v%" PRIu64 ": %-7s %8.3f s  %s\n", m->version, lt_models_stage_name(stage),
            m->seconds[stage], what);
}

int lt_models_new_lists(lt_state_t *st, const lt_models_opts_t *opts, int64_t now_ms,
                        lt_models_t **out) {
  if (!st || !out) return LT_EINVAL;
  lt_models_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_models_opts_default(&o);
  lt_models_t *m = calloc(1, sizeof *m);
  if (!m) return LT_ENOMEM;
  m->refs = 1;
  uint64_t t0 = lt_mono_ns();
  int rc = take_lists(m, st, &o, now_ms);
  m->seconds[LT_MODELS_LISTS] = secs_since(t0);
  if (rc) {
    models_free(m);
    return rc;
  }
  *out = m;
  return LT_OK;
}

int lt_models_build(lt_state_t *st, const lt_models_opts_t *opts, uint64_t version, int64_t now_ms,
                    FILE *log, lt_models_t **out) {
  if (!st || !out) return LT_EINVAL;
  *out = NULL;
  lt_models_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_models_opts_default(&o);
  o.ann.metric = LT_ANN_IP;
  lt_models_t *m = calloc(1, sizeof *m);
  if (!m) return LT_ENOMEM;
  m->refs = 1;
  m->version = version;
  lt_csr_t *ui = NULL;
  char what[160];
  int rc;

  uint64_t t0 = lt_mono_ns();
  if ((rc = collect(st, &ui, &m->user_events, &m->nusers, &m->nitems))) goto fail;
  m->nnz = ui->nnz;
  m->seconds[LT_MODELS_COLLECT] = secs_since(t0);
  snprintf(what, sizeof what, "%u users x %u items, %" PRIu64 " interactions", m->nusers, m->nitems,
           m->nnz);
  logf_stage(log, m, LT_MODELS_COLLECT, what);

  if (ui->nnz) {
    t0 = lt_mono_ns();
    if ((rc = lt_ials_train(ui, &o.ials, &m->ials))) goto fail;
    m->seconds[LT_MODELS_IALS] = secs_since(t0);
    snprintf(what, sizeof what, "k %u, %u iterations, alpha %g, lambda %g", m->ials->k,
             o.ials.iters, (double)o.ials.alpha, (double)o.ials.lambda);
    logf_stage(log, m, LT_MODELS_IALS, what);

    t0 = lt_mono_ns();
    if ((rc = lt_ann_build(m->ials->V, m->ials->nitems, m->ials->k, &o.ann, &m->ann))) goto fail;
    m->seconds[LT_MODELS_ANN] = secs_since(t0);
    snprintf(what, sizeof what, "%u vectors, %zu bytes", lt_ann_size(m->ann),
             lt_ann_memory(m->ann));
    logf_stage(log, m, LT_MODELS_ANN, what);

    t0 = lt_mono_ns();
    size_t counters = 0;
    if ((rc = cowatch_build(m, ui, &o, &counters))) goto fail;
    m->seconds[LT_MODELS_ITEMCF] = secs_since(t0);
    snprintf(what, sizeof what, "%u neighbours kept (%zu bytes), counters %zu bytes",
             m->cf_off[m->cf_items], (size_t)m->cf_off[m->cf_items] * sizeof *m->cf_nb, counters);
    logf_stage(log, m, LT_MODELS_ITEMCF, what);

    t0 = lt_mono_ns();
    if ((rc = retrieve_build(m, ui, &o))) goto fail;
    m->seconds[LT_MODELS_RETRIEVE] = secs_since(t0);
    snprintf(what, sizeof what, "%u nearest items for each of %u users", m->user_ann_n,
             m->user_ann_n ? m->nusers : 0);
    logf_stage(log, m, LT_MODELS_RETRIEVE, what);
  } else {
    /* nothing to factorise: the feed serves the lists and the follow graph */
    m->nusers = m->nitems = 0;
    free(m->user_events);
    m->user_events = NULL;
  }
  lt_csr_free(ui);
  ui = NULL;

  t0 = lt_mono_ns();
  if ((rc = take_lists(m, st, &o, now_ms))) goto fail;
  m->seconds[LT_MODELS_LISTS] = secs_since(t0);
  snprintf(what, sizeof what, "%u popular, %u fresh", m->npop, m->nfresh);
  logf_stage(log, m, LT_MODELS_LISTS, what);
  m->trained_at_ms = lt_now_ms();
  *out = m;
  return LT_OK;
fail:
  lt_csr_free(ui);
  models_free(m);
  return rc;
}

/* ---- files -------------------------------------------------------------------- */

/* Writes p[0..n) to path: temp file, fsync, rename (the caller fsyncs the
 * directory). */
static int write_file(const char *path, const void *p, size_t n) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return LT_EINVAL;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return lt_err_from_errno(errno);
  int rc = LT_OK;
  const unsigned char *c = p;
  while (n) {
    ssize_t k = write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      rc = lt_err_from_errno(errno);
      break;
    }
    c += k;
    n -= (size_t)k;
  }
  if (!rc && fsync(fd)) rc = lt_err_from_errno(errno);
  if (close(fd) && !rc) rc = lt_err_from_errno(errno);
  if (!rc && rename(tmp, path)) rc = lt_err_from_errno(errno);
  if (rc) unlink(tmp);
  return rc;
}

/* Reads a whole file of at most max bytes into *out (malloc'd). */
static int read_file(const char *path, size_t max, unsigned char **out, size_t *n) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LT_ENOTFOUND : lt_err_from_errno(errno);
  struct stat sb;
  int rc = LT_OK;
  unsigned char *p = NULL;
  if (fstat(fd, &sb)) {
    rc = LT_EIO;
    goto cleanup;
  }
  if ((uint64_t)sb.st_size > max) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  size_t len = (size_t)sb.st_size;
  if (!(p = malloc(len ? len : 1))) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  for (size_t got = 0; got < len;) {
    ssize_t k = read(fd, p + got, len - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      rc = k < 0 ? LT_EIO : LT_ECORRUPT;
      goto cleanup;
    }
    got += (size_t)k;
  }
  *out = p;
  *n = len;
  p = NULL;
cleanup:
  free(p);
  close(fd);
  return rc;
}

int lt_models_path(const char *dir, uint64_t version, char *out, size_t n) {
  int k = snprintf(out, n, "%s/models-%016" PRIx64, dir, version);
  return k < 0 || (size_t)k >= n ? LT_EINVAL : LT_OK;
}

/* Removes a model directory and the files in it (one level). */
static void remove_dir(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p) unlink(p);
    }
    closedir(d);
  }
  rmdir(path);
}

/* Parses "models-<16 hex>" (exactly); returns 1 and *v on success. */
static int parse_name(const char *name, uint64_t *v) {
  if (strncmp(name, "models-", 7) || strlen(name) != 7 + 16) return 0;
  uint64_t x = 0;
  for (int i = 7; i < 23; i++) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    x = x << 4 | (uint64_t)d;
  }
  *v = x;
  return x > 0;
}

static int u64_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x > y ? -1 : x < y;
}

/* The versions under dir, highest first (*out malloc'd). */
static int list_versions(const char *dir, uint64_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? LT_OK : lt_err_from_errno(errno);
  size_t cap = 0;
  struct dirent *e;
  int rc = LT_OK;
  while ((e = readdir(d))) {
    uint64_t v;
    if (!parse_name(e->d_name, &v)) continue;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      uint64_t *p = realloc(*out, nc * sizeof *p);
      if (!p) {
        rc = LT_ENOMEM;
        break;
      }
      *out = p;
      cap = nc;
    }
    (*out)[(*n)++] = v;
  }
  closedir(d);
  if (rc) {
    free(*out);
    *out = NULL;
    *n = 0;
    return rc;
  }
  if (*n) qsort(*out, *n, sizeof **out, u64_desc);
  return LT_OK;
}

/* The images users.bin, cowatch.bin and retrieve.bin: an 8-byte magic,
 * FMT_VERSION, their fields, then the XXH3 of all before it. Starts one in
 * b. */
static void image_begin(lt_buf_t *b, const char *magic) {
  lt_buf_init(b);
  lt_buf_put(b, magic, 8);
  lt_buf_u32le(b, FMT_VERSION);
}

/* Ends the image in b with its checksum, writes it to dir/name and frees b. */
static int image_write(lt_buf_t *b, const char *dir, const char *name) {
  char p[4200];
  if (!b->err) lt_buf_u64le(b, lt_hash64(b->p, b->len));
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int rc = b->err ? b->err : write_file(p, b->p, b->len);
  lt_buf_free(b);
  return rc;
}

/* Checks an image's magic, checksum and version (at least min_len bytes). */
static int image_check(const unsigned char *p, size_t n, const char *magic, size_t min_len) {
  if (n < min_len || memcmp(p, magic, 8) || lt_hash64(p, n - 8) != lt_load_u64le(p + n - 8))
    return LT_ECORRUPT;
  return lt_load_u32le(p + 8) == FMT_VERSION ? LT_OK : LT_EVERSION;
}

int lt_models_save(const lt_models_t *m, const char *dir, uint32_t keep) {
  if (!m || !dir || !m->version || strlen(dir) > 3800) return LT_EINVAL;
  char final[4096], tmp[4100], p[4200];
  int rc;
  if (mkdir(dir, 0700) && errno != EEXIST) return lt_err_from_errno(errno);
  if ((rc = lt_models_path(dir, m->version, final, sizeof final))) return rc;
  snprintf(tmp, sizeof tmp, "%s.tmp", final);
  remove_dir(tmp); /* a crash's leftover */
  if (mkdir(tmp, 0700)) return lt_err_from_errno(errno);
  uint32_t flags = 0;
  if (m->ials) {
    flags |= F_IALS;
    snprintf(p, sizeof p, "%s/ials.bin", tmp);
    if ((rc = lt_ials_save(m->ials, p))) goto fail;
    snprintf(p, sizeof p, "%s/ann.bin", tmp);
    if ((rc = lt_ann_save(m->ann, p))) goto fail;
  }
  if (m->user_events) {
    flags |= F_USERS;
    lt_buf_t b;
    image_begin(&b, USERS_MAGIC);
    lt_buf_u32le(&b, m->nusers);
    for (uint32_t u = 0; u < m->nusers; u++)
      lt_buf_u32le(&b, m->user_events[u]);
    if ((rc = image_write(&b, tmp, "users.bin"))) goto fail;
  }
  if (m->cf_items) {
    flags |= F_COWATCH;
    lt_buf_t b;
    uint32_t total = m->cf_off[m->cf_items];
    image_begin(&b, COWATCH_MAGIC);
    lt_buf_u32le(&b, m->cf_items);
    lt_buf_u64le(&b, total);
    for (uint32_t i = 0; i <= m->cf_items; i++)
      lt_buf_u32le(&b, m->cf_off[i]);
    for (uint32_t j = 0; j < total; j++) {
      lt_buf_u32le(&b, m->cf_nb[j].item);
      lt_buf_f32(&b, m->cf_nb[j].sim);
    }
    if ((rc = image_write(&b, tmp, "cowatch.bin"))) goto fail;
  }
  if (m->user_ann_n) {
    flags |= F_RETRIEVE;
    lt_buf_t b;
    size_t total = (size_t)m->nusers * m->user_ann_n;
    image_begin(&b, RETRIEVE_MAGIC);
    lt_buf_u32le(&b, m->nusers);
    lt_buf_u32le(&b, m->user_ann_n);
    lt_buf_u32le(&b, 0);
    for (size_t j = 0; j < total; j++)
      lt_buf_u32le(&b, m->user_ann[j]);
    if ((rc = image_write(&b, tmp, "retrieve.bin"))) goto fail;
  }
  unsigned char man[MANIFEST_SIZE] = {0};
  memcpy(man, MANIFEST_MAGIC, 8);
  lt_store_u32le(man + 8, FMT_VERSION);
  lt_store_u32le(man + 12, flags);
  lt_store_u64le(man + 16, m->version);
  lt_store_u64le(man + 24, (uint64_t)m->trained_at_ms);
  lt_store_u32le(man + 32, m->nusers);
  lt_store_u32le(man + 36, m->nitems);
  lt_store_u32le(man + 40, m->ials ? m->ials->k : 0);
  lt_store_u64le(man + 48, m->nnz);
  lt_store_u64le(man + 56, lt_hash64(man, 56));
  snprintf(p, sizeof p, "%s/MANIFEST", tmp);
  if ((rc = write_file(p, man, sizeof man)) || (rc = lt_fsync_dir(tmp))) goto fail;
  remove_dir(final); /* only a rejected (corrupt) directory can be in the way */
  if (rename(tmp, final)) {
    rc = lt_err_from_errno(errno);
    goto fail;
  }
  if ((rc = lt_fsync_dir(dir))) return rc;
  if (keep) {
    uint64_t *vs;
    size_t n;
    if (list_versions(dir, &vs, &n) == LT_OK) {
      for (size_t i = keep; i < n; i++)
        if (lt_models_path(dir, vs[i], p, sizeof p) == LT_OK) remove_dir(p);
      free(vs);
    }
  }
  return LT_OK;
fail:
  remove_dir(tmp);
  return rc;
}

/* Checks and copies a cowatch.bin image into m (invariant 2b). */
static int cowatch_parse(lt_models_t *m, const unsigned char *p, size_t n) {
  int rc = image_check(p, n, COWATCH_MAGIC, 32);
  if (rc) return rc;
  uint32_t items = lt_load_u32le(p + 12);
  uint64_t total = lt_load_u64le(p + 16);
  if (total > UINT32_MAX || n != 24 + ((uint64_t)items + 1) * 4 + total * 8 + 8) return LT_ECORRUPT;
  if (!(m->cf_off = malloc(((size_t)items + 1) * sizeof *m->cf_off)) ||
      !(m->cf_nb = malloc((total ? total : 1) * sizeof *m->cf_nb)))
    return LT_ENOMEM;
  const unsigned char *q = p + 24;
  for (uint32_t i = 0; i <= items; i++, q += 4) {
    m->cf_off[i] = lt_load_u32le(q);
    if ((i == 0 && m->cf_off[0]) || (i && m->cf_off[i] < m->cf_off[i - 1])) return LT_ECORRUPT;
  }
  if (m->cf_off[items] != total) return LT_ECORRUPT;
  for (uint64_t j = 0; j < total; j++, q += 8) {
    uint32_t u = lt_load_u32le(q + 4);
    float sim;
    memcpy(&sim, &u, 4);
    m->cf_nb[j].item = lt_load_u32le(q);
    m->cf_nb[j].sim = sim;
    if (m->cf_nb[j].item >= items || !isfinite(sim)) return LT_ECORRUPT;
  }
  m->cf_items = items;
  return LT_OK;
}

/* Checks and copies a retrieve.bin image into m (invariant 2c). */
static int retrieve_parse(lt_models_t *m, const unsigned char *p, size_t n) {
  int rc = image_check(p, n, RETRIEVE_MAGIC, 32);
  if (rc) return rc;
  uint32_t users = lt_load_u32le(p + 12), per = lt_load_u32le(p + 16);
  if (users != m->nusers || !per || per > RETRIEVE_MAX || !m->ann ||
      n != 24 + (uint64_t)users * per * 4 + 8)
    return LT_ECORRUPT;
  size_t total = (size_t)users * per;
  if (!(m->user_ann = malloc((total ? total : 1) * sizeof *m->user_ann))) return LT_ENOMEM;
  m->user_ann_n = per;
  for (size_t j = 0; j < total; j++) {
    uint32_t item = lt_load_u32le(p + 24 + 4 * j);
    if (item >= m->nitems && item != LT_NONE) return LT_ECORRUPT;
    m->user_ann[j] = item;
  }
  return LT_OK;
}

int lt_models_load(const char *path, lt_state_t *st, const lt_models_opts_t *opts, int64_t now_ms,
                   lt_models_t **out) {
  if (!path || !st || !out || strlen(path) > 4000) return LT_EINVAL;
  *out = NULL;
  lt_models_opts_t o;
  if (opts)
    o = *opts;
  else
    lt_models_opts_default(&o);
  char p[4200];
  unsigned char *buf = NULL;
  size_t n = 0;
  int rc;
  lt_models_t *m = calloc(1, sizeof *m);
  if (!m) return LT_ENOMEM;
  m->refs = 1;
  uint64_t t0 = lt_mono_ns();

  snprintf(p, sizeof p, "%s/MANIFEST", path);
  if ((rc = read_file(p, MANIFEST_SIZE, &buf, &n))) goto fail;
  rc = LT_ECORRUPT;
  if (n != MANIFEST_SIZE || memcmp(buf, MANIFEST_MAGIC, 8) ||
      lt_hash64(buf, 56) != lt_load_u64le(buf + 56))
    goto fail;
  if (lt_load_u32le(buf + 8) != FMT_VERSION) {
    rc = LT_EVERSION;
    goto fail;
  }
  uint32_t flags = lt_load_u32le(buf + 12), k = lt_load_u32le(buf + 40);
  m->version = lt_load_u64le(buf + 16);
  m->trained_at_ms = (int64_t)lt_load_u64le(buf + 24);
  m->nusers = lt_load_u32le(buf + 32);
  m->nitems = lt_load_u32le(buf + 36);
  m->nnz = lt_load_u64le(buf + 48);
  free(buf);
  buf = NULL;
  if (!m->version || (flags & ~(F_IALS | F_USERS | F_COWATCH | F_RETRIEVE))) goto fail;

  if (flags & F_IALS) {
    snprintf(p, sizeof p, "%s/ials.bin", path);
    if ((rc = lt_ials_load(p, &m->ials))) goto fail;
    snprintf(p, sizeof p, "%s/ann.bin", path);
    if ((rc = lt_ann_load(p, &m->ann))) goto fail;
    rc = LT_ECORRUPT; /* invariant 1 */
    if (m->ials->k != k || m->ials->nusers != m->nusers || m->ials->nitems != m->nitems ||
        lt_ann_size(m->ann) != m->nitems || lt_ann_dim(m->ann) != k ||
        lt_ann_metric(m->ann) != LT_ANN_IP)
      goto fail;
  } else if (m->nusers || m->nitems || k) {
    goto fail;
  }
  if (flags & F_USERS) {
    snprintf(p, sizeof p, "%s/users.bin", path);
    if ((rc = read_file(p, 24 + (size_t)m->nusers * 4, &buf, &n))) goto fail;
    rc = LT_ECORRUPT;
    if (n != 24 + (size_t)m->nusers * 4 || memcmp(buf, USERS_MAGIC, 8) ||
        lt_load_u32le(buf + 8) != FMT_VERSION || lt_load_u32le(buf + 12) != m->nusers ||
        lt_hash64(buf, n - 8) != lt_load_u64le(buf + n - 8))
      goto fail;
    if (m->nusers && !(m->user_events = malloc((size_t)m->nusers * 4))) {
      rc = LT_ENOMEM;
      goto fail;
    }
    for (uint32_t u = 0; u < m->nusers; u++)
      m->user_events[u] = lt_load_u32le(buf + 16 + 4 * u);
    free(buf);
    buf = NULL;
  } else if (m->nusers) {
    rc = LT_ECORRUPT; /* invariant 2 */
    goto fail;
  }
  m->seconds[LT_MODELS_IALS] = secs_since(t0);

  if (flags & F_COWATCH) {
    t0 = lt_mono_ns();
    snprintf(p, sizeof p, "%s/cowatch.bin", path);
    if ((rc = read_file(p, (size_t)1 << 36, &buf, &n))) goto fail;
    if ((rc = cowatch_parse(m, buf, n))) goto fail;
    free(buf);
    buf = NULL;
    m->seconds[LT_MODELS_ITEMCF] = secs_since(t0);
  }
  if ((flags & F_RETRIEVE) && o.user_ann_n) { /* (off: not worth the memory) */
    t0 = lt_mono_ns();
    snprintf(p, sizeof p, "%s/retrieve.bin", path);
    if ((rc = read_file(p, 32 + (size_t)m->nusers * RETRIEVE_MAX * 4, &buf, &n))) goto fail;
    if ((rc = retrieve_parse(m, buf, n))) goto fail;
    free(buf);
    buf = NULL;
    m->seconds[LT_MODELS_RETRIEVE] = secs_since(t0);
  }
  t0 = lt_mono_ns();
  if ((rc = take_lists(m, st, &o, now_ms))) goto fail;
  m->seconds[LT_MODELS_LISTS] = secs_since(t0);
  *out = m;
  return LT_OK;
fail:
  free(buf);
  models_free(m);
  return rc;
}

int lt_models_load_newest(const char *dir, lt_state_t *st, const lt_models_opts_t *opts,
                          int64_t now_ms, FILE *log, lt_models_t **out, uint32_t *rejected) {
  if (!dir || !st || !out) return LT_EINVAL;
  *out = NULL;
  if (rejected) *rejected = 0;
  uint64_t *vs;
  size_t n;
  int rc = list_versions(dir, &vs, &n);
  if (rc) return rc == LT_ENOMEM ? rc : LT_ENOTFOUND;
  char p[4200];
  rc = LT_ENOTFOUND;
  for (size_t i = 0; i < n; i++) {
    if (lt_models_path(dir, vs[i], p, sizeof p)) continue;
    int r = lt_models_load(p, st, opts, now_ms, out);
    if (r == LT_OK && (*out)->version != vs[i]) { /* a directory renamed by hand */
      lt_models_release(*out);
      *out = NULL;
      r = LT_ECORRUPT;
    }
    if (r == LT_OK) {
      rc = LT_OK;
      break;
    }
    if (r == LT_ENOMEM) {
      rc = r;
      break;
    }
    if (rejected) (*rejected)++;
    if (log) fprintf(log, "models: rejected %s: %s\n", p, lt_strerror(r));
  }
  free(vs);
  return rc;
}
