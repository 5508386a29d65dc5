/*
 * ann.c — HNSW approximate nearest-neighbour index (see ann.h).
 *
 * What it is for: top-k items by inner product (or L2 / cosine) with a user
 * vector, in well under a millisecond, over an immutable item catalogue.
 * The graph is the one of Malkov & Yashunin, "Efficient and robust
 * approximate nearest neighbor search using Hierarchical Navigable Small
 * World graphs" (2018): every item lives on level 0 and, with probability
 * falling geometrically (factor 1/M), on levels 1, 2, ...; a search descends
 * greedily through the sparse upper levels and then runs a best-first beam
 * search of width ef on level 0.
 *
 * Distances. Inside, everything is a distance where smaller is nearer:
 *   L2:      sum (a_i - b_i)^2
 *   IP/COS:  -dot(a, b)          (COS vectors are stored unit length)
 * Scores handed out are converted back (ann.h). The kernels take lengths
 * that are multiples of 16, because every stored vector (and the query,
 * copied to a stack buffer) is zero-padded to dpad = round_up(d, 16):
 * padding changes neither a dot product nor an L2 distance. Each kernel has
 * an AVX-512, an AVX2+FMA and a portable variant; ann_kernels() picks one
 * at run time with __builtin_cpu_supports (the library is built without
 * -march).
 *
 * Inner product is not a metric (an item need not be its own nearest
 * neighbour), but the graph is built on it directly, as ip-NSW (Morozov &
 * Babenko 2018) and FAISS do. The alternative, the MIPS-to-L2 reduction
 * (append sqrt(R^2 - ||x||^2) to every item, 0 to the query), was measured
 * on item-factor-like data (bench/ann_bench.c --data items, 100k x 64) and
 * lost badly: recall@10 0.60 against 0.97 at ef = 32. COS stores unit
 * vectors and is IP on them.
 *
 * Neighbour selection differs from the paper in one place, as in FAISS:
 * a new item picks up to M0 = 2M links on level 0 (M above), instead of M
 * everywhere; on 100k uniform 64-d vectors this raised recall@10 at
 * ef = 256 from 0.87 to 0.91 at the same queries/s.
 *
 * Memory layout of struct lt_ann (all ids are uint32_t, 0..n-1):
 *   vecs    n * dpad floats, row i at vecs + i*dpad, 64-byte aligned.
 *   level   n bytes, level[i] = top level of item i (0..ANN_MAX_LEVEL).
 *   links0  n * (M0 + 1) uint32: row i = [count, id_1 .. id_M0], M0 = 2M.
 *           One contiguous array: a level-0 hop touches one row.
 *   upper   n_upper * (M + 1) uint32: the lists of levels >= 1. Item i
 *           with level[i] = L > 0 owns the L consecutive rows starting at
 *           row upper_off[i]; row upper_off[i] + (l - 1) is level l.
 *   upper_off n uint32 (ANN_NONE for level-0-only items); n_upper =
 *           sum(level[i]).
 *
 * Invariants (lt_ann_check verifies them; lt_ann_load runs it on every
 * file before handing out an index):
 *   1. n == 0 iff entry == ANN_NONE; then max_level == 0 and n_upper == 0.
 *   2. level[entry] == max_level and level[i] <= max_level for every i.
 *   3. a level-l list holds at most M0 (l == 0) or M (l > 0) ids; every id
 *      is < n, differs from the owner, and has level >= l — so expanding
 *      it at level l reads a list that exists.
 *   4. vectors are finite and their padding is zero; dpad == round_up(d,16).
 *   5. the index never changes after lt_ann_build returns: searches read it
 *      without locks.
 *
 * State changes: lt_ann_build (or lt_ann_load) -> immutable index ->
 * lt_ann_free. During build only, insertions run on `threads` workers:
 * each list is guarded by a one-byte spin lock (readers copy a list under
 * its lock; a writer holds one lock at a time, so no lock order exists to
 * violate), and entry/max_level by a mutex that an insertion raising
 * max_level holds for its whole duration (as hnswlib does). Item levels are
 * drawn from the seed per item id, so they do not depend on thread timing.
 * Items are inserted highest level first, in a seeded random order within
 * a level (insertion_order), never in id order; with one thread the whole
 * build is deterministic.
 *
 * Search (search_layer): best-first from the entry point that the greedy
 * descent leaves on level 1. Expanding an item first marks and prefetches
 * all of its unseen neighbours, then measures them, so their cache misses
 * overlap. Items the filter rejects are still walked through (they may be
 * the only path to accepted ones) but never enter the result heap.
 *
 * Search scratch: each thread owns one `struct scratch` (thread-local,
 * freed by a pthread key destructor at thread exit): an epoch-marked
 * visited array (one byte per item: item i was seen in this search iff
 * vis[i] == epoch; on wrap the array is cleared) and two growable heaps.
 *
 * File format (little-endian), written by lt_ann_save:
 *   off  size
 *     0     8  magic "LTANNIX\0"
 *     8     4  version (1)
 *    12     4  metric
 *    16     4  n
 *    20     4  d
 *    24     4  dpad
 *    28     4  M
 *    32     4  M0
 *    36     4  ef_construction
 *    40     4  ef_search
 *    44     4  max_level
 *    48     4  entry (0xffffffff when n == 0)
 *    52     4  flags (reserved, 0)
 *    56     8  n_upper
 *    64        level[n], then zero bytes up to a multiple of 8
 *              vecs[n * dpad] float32
 *              links0[n * (M0 + 1)] uint32
 *              upper[n_upper * (M + 1)] uint32
 *   end-8   8  checksum: h = XXH3(header); h = XXH3_seeded(section, h) for
 *              each section in order (the level section with its padding).
 */
#include "model/ann.h"

#include "core/error.h"
#include "core/fileio.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ANN_X86 1
#else
#define ANN_X86 0
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ann.c writes its file format in host order and assumes little-endian"
#endif

#define ANN_NONE UINT32_MAX
#define ANN_MAX_LEVEL 31
#define ANN_MAX_THREADS 64
#define ANN_MAGIC "LTANNIX"
#define ANN_VERSION 1u
#define ANN_HDR 64
#define ANN_MAX_LINKS (2 * LT_ANN_MAX_M)

typedef float (*ann_kern_fn)(const float *a, const float *b, size_t n);

struct lt_ann {
  uint32_t n, d, dpad;
  int metric;
  uint32_t M, M0, efc, ef_search;
  uint32_t max_level, entry;
  uint32_t flags;
  uint64_t n_upper;
  float *vecs;
  uint8_t *level;
  uint32_t *links0;
  uint32_t *upper;
  uint32_t *upper_off;
  ann_kern_fn kern;
};

typedef struct {
  float d;
  uint32_t id;
} cand_t;

/* ---------------------------------------------------------------------- */
/* Distance kernels. n is a multiple of 16.                                */

static float l2_ref(const float *a, const float *b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n; i += 4) {
    float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  return (s0 + s1) + (s2 + s3);
}

static float nip_ref(const float *a, const float *b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  return -((s0 + s1) + (s2 + s3));
}

#if ANN_X86
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float l2_avx2(const float *a, const float *b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  return hsum256(_mm256_add_ps(s0, s1));
}

__attribute__((target("avx2,fma"))) static float nip_avx2(const float *a, const float *b,
                                                          size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  return -hsum256(_mm256_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) static float l2_avx512(const float *a, const float *b,
                                                          size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  if (i < n) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) static float nip_avx512(const float *a, const float *b,
                                                           size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  if (i < n) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  return -_mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif

/* Picks the fastest kernel this CPU runs. LT_ANN_KERNEL=scalar|avx2 in
 * the environment forces a slower one (for tests and benchmarks). */
static ann_kern_fn ann_kernels(int metric) {
  int l2 = metric == LT_ANN_L2;
#if ANN_X86
  const char *force = getenv("LT_ANN_KERNEL");
  int want = 2; /* 2 = best, 1 = avx2, 0 = scalar */
  if (force && strcmp(force, "scalar") == 0) want = 0;
  if (force && strcmp(force, "avx2") == 0) want = 1;
  __builtin_cpu_init();
  if (want >= 2 && __builtin_cpu_supports("avx512f")) return l2 ? l2_avx512 : nip_avx512;
  if (want >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return l2 ? l2_avx2 : nip_avx2;
#endif
  return l2 ? l2_ref : nip_ref;
}

static inline const float *vec_of(const lt_ann_t *ix, uint32_t id) {
  return ix->vecs + (size_t)id * ix->dpad;
}

/* Distance from a (padded) point q to item id. */
static inline float qdist(const lt_ann_t *ix, const float *q, uint32_t id) {
  return ix->kern(q, vec_of(ix, id), ix->dpad);
}

static inline uint32_t *links_at(const lt_ann_t *ix, uint32_t id, uint32_t level) {
  if (level == 0) return ix->links0 + (size_t)id * (ix->M0 + 1);
  return ix->upper + ((size_t)ix->upper_off[id] + level - 1) * (ix->M + 1);
}

static inline void prefetch_vec(const lt_ann_t *ix, uint32_t id) {
  const char *p = (const char *)vec_of(ix, id);
  size_t bytes = (size_t)ix->dpad * sizeof(float);
  if (bytes > 256) bytes = 256;
  for (size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch(p + off);
}

/* ---------------------------------------------------------------------- */
/* Heaps of (distance, id). cand: min-heap on d. res: max-heap on (d, id), */
/* so the worst result is on top and equal distances order by id.         */

static inline int res_less(cand_t a, cand_t b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

static inline void minheap_push(cand_t *h, size_t *n, cand_t x) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p].d <= x.d) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

static inline cand_t minheap_pop(cand_t *h, size_t *n) {
  cand_t top = h[0], x = h[--*n];
  size_t m = *n, i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= m) break;
    if (c + 1 < m && h[c + 1].d < h[c].d) c++;
    if (x.d <= h[c].d) break;
    h[i] = h[c];
    i = c;
  }
  if (m) h[i] = x;
  return top;
}

static inline void maxheap_push(cand_t *h, size_t *n, cand_t x) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!res_less(h[p], x)) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

/* Replaces the top (the worst) with x and restores the heap. */
static inline void maxheap_replace(cand_t *h, size_t n, cand_t x) {
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && res_less(h[c], h[c + 1])) c++;
    if (!res_less(x, h[c])) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Empties max-heap h of n items into out[0..n) in ascending order. */
static void maxheap_drain(cand_t *h, size_t n, cand_t *out) {
  while (n > 0) {
    cand_t top = h[0], last = h[n - 1];
    n--;
    if (n) maxheap_replace(h, n, last);
    out[n] = top; /* after the replace: out may be h itself */
  }
}

static int cand_cmp(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  if (res_less(*x, *y)) return -1;
  return res_less(*y, *x) ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Per-thread scratch.                                                     */

struct scratch {
  uint8_t *vis;
  size_t vcap;
  uint8_t epoch;
  cand_t *cand, *res, *sel;
  size_t ccap, rcap, scap;
};

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;
static __thread struct scratch *t_scratch;

static void scratch_destroy(void *p) {
  struct scratch *s = p;
  if (!s) return;
  free(s->vis);
  free(s->cand);
  free(s->res);
  free(s->sel);
  free(s);
}

static void key_init(void) { g_key_ok = pthread_key_create(&g_key, scratch_destroy) == 0; }

/* The calling thread's scratch with a visited array for n items, or NULL. */
static struct scratch *scratch_get(uint32_t n) {
  struct scratch *s = t_scratch;
  if (!s) {
    pthread_once(&g_once, key_init);
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (g_key_ok) pthread_setspecific(g_key, s);
    t_scratch = s;
  }
  if (s->vcap < n) {
    free(s->vis);
    s->vis = calloc(n, 1);
    s->vcap = s->vis ? n : 0;
    s->epoch = 0;
    if (!s->vis) return NULL;
  }
  return s;
}

void lt_ann_thread_release(void) {
  struct scratch *s = t_scratch;
  if (!s) return;
  t_scratch = NULL;
  if (g_key_ok) pthread_setspecific(g_key, NULL);
  scratch_destroy(s);
}

/* A fresh visited mark: vis[i] == mark means seen in this search. */
static uint8_t scratch_epoch(struct scratch *s) {
  if (++s->epoch == 0) {
    memset(s->vis, 0, s->vcap);
    s->epoch = 1;
  }
  return s->epoch;
}

static int grow(cand_t **p, size_t *cap, size_t need) {
  if (*cap >= need) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  cand_t *q = realloc(*p, c * sizeof *q);
  if (!q) return LT_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Build-time locking.                                                     */

struct build {
  lt_ann_t *ix;
  const uint32_t *order; /* items in insertion order; order[0] is the first entry */
  atomic_uchar *locks;   /* one per item; NULL when single-threaded */
  pthread_mutex_t glock;
  atomic_uint next;
  atomic_int err;
};

static inline void cpu_relax(void) {
#if ANN_X86
  _mm_pause();
#endif
}

static void item_lock(struct build *b, uint32_t id) {
  if (!b || !b->locks) return;
  atomic_uchar *l = &b->locks[id];
  for (unsigned spins = 0;;) {
    if (!atomic_exchange_explicit(l, 1, memory_order_acquire)) return;
    while (atomic_load_explicit(l, memory_order_relaxed)) {
      if (++spins < 1024)
        cpu_relax();
      else
        sched_yield(); /* the holder may have been preempted */
    }
  }
}

static void item_unlock(struct build *b, uint32_t id) {
  if (!b || !b->locks) return;
  atomic_store_explicit(&b->locks[id], 0, memory_order_release);
}

/* The neighbours of id at level: a pointer into the index when nothing
 * writes concurrently (b == NULL or single-threaded), else a copy taken
 * under the item's lock into buf. */
static inline const uint32_t *neighbours(const lt_ann_t *ix, struct build *b, uint32_t id,
                                         uint32_t level, uint32_t *buf, uint32_t *cnt) {
  const uint32_t *ll = links_at(ix, id, level);
  if (!b || !b->locks) {
    *cnt = ll[0];
    return ll + 1;
  }
  item_lock(b, id);
  uint32_t c = ll[0];
  memcpy(buf, ll + 1, (size_t)c * sizeof *buf);
  item_unlock(b, id);
  *cnt = c;
  return buf;
}

/* ---------------------------------------------------------------------- */
/* Graph walks.                                                            */

/* Greedy descent on one upper level: moves (*ep, *epd) to a local minimum. */
static void greedy(const lt_ann_t *ix, struct build *b, const float *q, uint32_t level,
                   uint32_t *ep, float *epd) {
  uint32_t buf[ANN_MAX_LINKS];
  for (int changed = 1; changed;) {
    changed = 0;
    uint32_t cnt;
    const uint32_t *nb = neighbours(ix, b, *ep, level, buf, &cnt);
    for (uint32_t j = 0; j < cnt; j++) {
      float d = qdist(ix, q, nb[j]);
      if (d < *epd) {
        *epd = d;
        *ep = nb[j];
        changed = 1;
      }
    }
  }
}

/* Best-first beam search of width ef on one level from (ep, epd), the
 * paper's SEARCH-LAYER. Items passing the filter (all when NULL) collect
 * in the max-heap s->res, *nres of them. self (or ANN_NONE) is never
 * reported: the item being inserted. */
static int search_layer(const lt_ann_t *ix, struct build *b, struct scratch *s, const float *q,
                        uint32_t self, uint32_t ep, float epd, uint32_t level, uint32_t ef,
                        lt_ann_filter_fn filter, void *ctx, size_t *nres) {
  uint32_t buf[ANN_MAX_LINKS], todo[ANN_MAX_LINKS];
  const uint32_t maxl = level ? ix->M : ix->M0;
  uint8_t mark = scratch_epoch(s);
  uint8_t *vis = s->vis;
  size_t nc = 0, nr = 0;
  if (grow(&s->res, &s->rcap, (size_t)ef + 1) || grow(&s->cand, &s->ccap, 256)) return LT_ENOMEM;
  cand_t *res = s->res;
  if (self != ANN_NONE) vis[self] = mark;
  vis[ep] = mark;
  minheap_push(s->cand, &nc, (cand_t){epd, ep});
  if (!filter || filter(ep, ctx)) maxheap_push(res, &nr, (cand_t){epd, ep});

  while (nc > 0) {
    cand_t c = minheap_pop(s->cand, &nc);
    if (nr >= ef && c.d > res[0].d) break;
    /* The next candidate is likely expanded next: start loading its list. */
    if (nc > 0 && !b) __builtin_prefetch(links_at(ix, s->cand[0].id, level));
    uint32_t cnt, nt = 0;
    const uint32_t *nb = neighbours(ix, b, c.id, level, buf, &cnt);
    if (cnt > maxl) cnt = maxl; /* cannot happen on a checked index */
    /* First mark and prefetch every unseen neighbour, then measure them:
     * the memory loads overlap instead of queueing one by one. */
    for (uint32_t j = 0; j < cnt; j++) {
      uint32_t id = nb[j];
      if (vis[id] == mark) continue;
      vis[id] = mark;
      todo[nt++] = id;
      prefetch_vec(ix, id);
    }
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t id = todo[t];
      float d = qdist(ix, q, id);
      if (nr >= ef && !(d < res[0].d)) continue;
      if (nc == s->ccap && grow(&s->cand, &s->ccap, nc + 1)) return LT_ENOMEM;
      minheap_push(s->cand, &nc, (cand_t){d, id});
      if (filter && !filter(id, ctx)) continue;
      if (nr < ef)
        maxheap_push(res, &nr, (cand_t){d, id});
      else
        maxheap_replace(res, nr, (cand_t){d, id});
    }
  }
  *nres = nr;
  return 0;
}

/* The paper's algorithm 4 (SELECT-NEIGHBORS-HEURISTIC, without extending
 * the candidates or keeping pruned ones): walks c[0..nc) in ascending
 * distance to the base and keeps a candidate only if it is nearer to the
 * base than to every candidate already kept (ties keep it, as in hnswlib
 * and FAISS) — except that a candidate identical to a kept one is always
 * dropped. Without that exception a set of identical vectors fills its
 * lists with one another, loses every link out of the set and traps any
 * search that enters it; pruning on ties instead ("<=") cuts the copies'
 * other links, since every item is equally far from two copies. Keeps at
 * most m, compacted to the front of c; returns how many. */
static uint32_t select_heuristic(const lt_ann_t *ix, cand_t *c, size_t nc, uint32_t m) {
  uint32_t ns = 0;
  for (size_t j = 0; j < nc && ns < m; j++) {
    const float *v = vec_of(ix, c[j].id);
    int keep = 1;
    for (uint32_t t = 0; t < ns; t++) {
      float dt = qdist(ix, v, c[t].id);
      if (dt < c[j].d ||
          (dt == c[j].d && !memcmp(v, vec_of(ix, c[t].id), ix->dpad * sizeof(float)))) {
        keep = 0;
        break;
      }
    }
    if (keep) c[ns++] = c[j];
  }
  return ns;
}

/* Adds the candidates add[0..na) (distinct; d = distance to owner) that
 * owner's level-l list does not hold yet, after the links it has; when
 * that is over capacity, the list is shrunk with the heuristic (the links
 * it had are measured only then). Both sides of a new item's links go
 * through here: its own list (the insertion's selection) and each
 * selected neighbour's link back to it. The new item's own list is not
 * always empty: with several threads, once it is linked on a level above,
 * another insertion can descend through it and link itself to it on this
 * level before its own list there is written. Those links are the only way
 * to the items that made them, so they are kept; overwriting them left
 * ~0.06% of the items unreachable in 2-thread builds of 1,000 vectors
 * (never found by any search). With one thread that list is always empty,
 * and a link back never finds its item already there. */
static void add_links(struct build *b, uint32_t owner, uint32_t level, const cand_t *add,
                      uint32_t na) {
  lt_ann_t *ix = b->ix;
  const uint32_t maxl = level ? ix->M : ix->M0;
  cand_t tmp[2 * ANN_MAX_LINKS];
  item_lock(b, owner);
  uint32_t *ll = links_at(ix, owner, level);
  uint32_t have = ll[0], n = have;
  for (uint32_t k = 0; k < have; k++)
    tmp[k].id = ll[1 + k];
  for (uint32_t j = 0; j < na; j++) {
    uint32_t k = 0;
    while (k < have && tmp[k].id != add[j].id) k++;
    if (k == have) tmp[n++] = add[j];
  }
  if (n > maxl) {
    const float *v = vec_of(ix, owner);
    for (uint32_t k = 0; k < have; k++)
      tmp[k].d = qdist(ix, v, tmp[k].id);
    qsort(tmp, n, sizeof *tmp, cand_cmp);
    n = select_heuristic(ix, tmp, n, maxl);
  }
  for (uint32_t k = 0; k < n; k++)
    ll[1 + k] = tmp[k].id;
  ll[0] = n;
  item_unlock(b, owner);
}

/* Inserts item i (the paper's INSERT) into the graph built so far. */
static int insert(struct build *b, struct scratch *s, uint32_t i) {
  lt_ann_t *ix = b->ix;
  const float *q = vec_of(ix, i);
  const uint32_t lvl = ix->level[i];
  int held = 1, rc = 0;

  pthread_mutex_lock(&b->glock);
  uint32_t ep = ix->entry, top = ix->max_level;
  if (lvl <= top) {
    pthread_mutex_unlock(&b->glock);
    held = 0;
  }
  float epd = qdist(ix, q, ep);
  for (uint32_t l = top; l > lvl; l--)
    greedy(ix, b, q, l, &ep, &epd);

  for (uint32_t l = lvl < top ? lvl : top;; l--) {
    size_t nr;
    rc = search_layer(ix, b, s, q, i, ep, epd, l, ix->efc, NULL, NULL, &nr);
    if (rc) break;
    if (grow(&s->sel, &s->scap, nr)) {
      rc = LT_ENOMEM;
      break;
    }
    maxheap_drain(s->res, nr, s->sel);
    if (nr == 0) break; /* cannot happen: the entry point is always a result */
    ep = s->sel[0].id;
    epd = s->sel[0].d;
    uint32_t ns = select_heuristic(ix, s->sel, nr, l ? ix->M : ix->M0);

    add_links(b, i, l, s->sel, ns);
    for (uint32_t j = 0; j < ns; j++)
      add_links(b, s->sel[j].id, l, &(cand_t){s->sel[j].d, i}, 1);
    if (l == 0) break;
  }

  if (held) {
    if (rc == 0 && lvl > ix->max_level) {
      ix->max_level = lvl;
      ix->entry = i;
    }
    pthread_mutex_unlock(&b->glock);
  }
  return rc;
}

static void *build_worker(void *arg) {
  struct build *b = arg;
  const uint32_t n = b->ix->n;
  struct scratch *s = scratch_get(n);
  if (!s) {
    atomic_store(&b->err, LT_ENOMEM);
    return NULL;
  }
  while (atomic_load_explicit(&b->err, memory_order_relaxed) == 0) {
    uint32_t k = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
    if (k >= n) break;
    int rc = insert(b, s, b->order[k]);
    if (rc) atomic_store(&b->err, rc);
  }
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Construction and teardown.                                              */

void lt_ann_opts_default(lt_ann_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->metric = LT_ANN_IP;
  o->M = 16;
  o->ef_construction = 200;
  o->ef_search = 64;
}

void lt_ann_free(lt_ann_t *ix) {
  if (!ix) return;
  free(ix->vecs);
  free(ix->level);
  free(ix->links0);
  free(ix->upper);
  free(ix->upper_off);
  free(ix);
}

static uint32_t round16(uint32_t d) { return (d + 15u) & ~15u; }

/* Allocates the arrays of an index whose n, d, dpad, M, M0 are set. */
static int alloc_core(lt_ann_t *ix) {
  size_t n = ix->n, vbytes = n * ix->dpad * sizeof(float);
  vbytes = (vbytes + 63) & ~(size_t)63;
  ix->vecs = aligned_alloc(64, vbytes ? vbytes : 64);
  ix->level = calloc(n ? n : 1, 1);
  ix->links0 = calloc(n ? n * (ix->M0 + 1) : 1, sizeof(uint32_t));
  ix->upper_off = malloc((n ? n : 1) * sizeof(uint32_t));
  if (!ix->vecs || !ix->level || !ix->links0 || !ix->upper_off) return LT_ENOMEM;
  if (vbytes) memset(ix->vecs, 0, vbytes);
  return 0;
}

/* From level[]: upper_off[], n_upper. Returns LT_ETOOBIG past 32 bits. */
static int place_upper(lt_ann_t *ix) {
  uint64_t off = 0;
  for (uint32_t i = 0; i < ix->n; i++) {
    if (ix->level[i] == 0) {
      ix->upper_off[i] = ANN_NONE;
      continue;
    }
    ix->upper_off[i] = (uint32_t)off;
    off += ix->level[i];
    if (off >= ANN_NONE) return LT_ETOOBIG;
  }
  ix->n_upper = off;
  return 0;
}

static void normalise(float *v, uint32_t d) {
  double s = 0;
  for (uint32_t j = 0; j < d; j++)
    s += (double)v[j] * v[j];
  if (s <= 0) return;
  float inv = (float)(1.0 / sqrt(s));
  for (uint32_t j = 0; j < d; j++)
    v[j] *= inv;
}

static int all_finite(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static uint32_t draw_level(uint64_t seed, uint32_t i, double ml) {
  uint64_t r = lt_mix64(seed ^ lt_mix64((uint64_t)i + 0x9e3779b97f4a7c15ULL));
  double u = (double)((r >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
  double l = -log(u) * ml;
  return l >= ANN_MAX_LEVEL ? ANN_MAX_LEVEL : (uint32_t)l;
}

/* The insertion order: highest level first, and a seeded shuffle within
 * each level, as FAISS does. Inserting in id order let the input's own
 * order bias the graph: on trained iALS item vectors, whose ids follow
 * popularity, a quarter of the items ended with no in-links at all
 * (unreachable: recall@10 stopped at 0.93 however large ef was). */
static uint32_t *insertion_order(const lt_ann_t *ix, uint64_t seed) {
  uint32_t start[ANN_MAX_LEVEL + 1] = {0}, off = 0;
  uint32_t *ord = malloc((size_t)ix->n * sizeof *ord);
  if (!ord) return NULL;
  for (uint32_t i = 0; i < ix->n; i++)
    start[ix->level[i]]++;
  for (int l = ANN_MAX_LEVEL; l >= 0; l--) {
    uint32_t c = start[l];
    start[l] = off;
    off += c;
  }
  for (uint32_t i = 0; i < ix->n; i++)
    ord[start[ix->level[i]]++] = i;
  /* start[l] is now the end of level l's block; shuffle each block */
  uint64_t r = seed ^ 0x5851f42d4c957f2dULL;
  for (int l = ANN_MAX_LEVEL, begin = 0; l >= 0; l--) {
    for (uint32_t j = (uint32_t)begin; j + 1 < start[l]; j++) {
      uint32_t span = start[l] - j;
      uint32_t k = j + (uint32_t)(lt_mix64(++r) % span);
      uint32_t t = ord[j];
      ord[j] = ord[k];
      ord[k] = t;
    }
    begin = (int)start[l];
  }
  return ord;
}

static int run_build(lt_ann_t *ix, uint32_t threads, const uint32_t *order) {
  struct build b;
  pthread_t tid[ANN_MAX_THREADS];
  int rc = 0;
  uint32_t started = 0;
  memset(&b, 0, sizeof b);
  b.ix = ix;
  b.order = order;
  atomic_init(&b.next, 1);
  atomic_init(&b.err, 0);
  if (pthread_mutex_init(&b.glock, NULL)) return LT_ENOMEM;
  if (threads > 1) {
    b.locks = calloc(ix->n, sizeof *b.locks);
    if (!b.locks) threads = 1;
  }
  /* Workers are always fresh threads, so their scratch dies with them
   * and the caller's thread keeps none. */
  for (uint32_t t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, build_worker, &b)) break;
    started++;
  }
  if (started == 0) {
    b.locks = (free(b.locks), NULL);
    build_worker(&b);
  }
  for (uint32_t t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  rc = atomic_load(&b.err);
  free(b.locks);
  pthread_mutex_destroy(&b.glock);
  return rc;
}

int lt_ann_build(const float *vecs, uint32_t n, uint32_t d, const lt_ann_opts_t *opts,
                 lt_ann_t **out) {
  lt_ann_opts_t o;
  lt_ann_t *ix = NULL;
  int rc = 0;
  if (!out) return LT_EINVAL;
  *out = NULL;
  if (opts)
    o = *opts;
  else
    lt_ann_opts_default(&o);
  if (!o.M) o.M = 16;
  if (!o.ef_construction) o.ef_construction = 200;
  if (!o.ef_search) o.ef_search = 64;
  if ((n && !vecs) || d == 0 || d > LT_ANN_MAX_DIM || o.M < 2 || o.M > LT_ANN_MAX_M)
    return LT_EINVAL;
  if (o.metric != LT_ANN_IP && o.metric != LT_ANN_L2 && o.metric != LT_ANN_COS) return LT_EINVAL;
  /* ids must stay below ANN_NONE, and the workers' shared counter may run
   * past n by one per thread without wrapping */
  if (n >= ANN_NONE - ANN_MAX_THREADS) return LT_ETOOBIG;
  if (n && !all_finite(vecs, (size_t)n * d)) return LT_EINVAL;

  ix = calloc(1, sizeof *ix);
  if (!ix) return LT_ENOMEM;
  ix->n = n;
  ix->d = d;
  ix->dpad = round16(d);
  ix->metric = o.metric;
  ix->M = o.M;
  ix->M0 = 2 * o.M;
  ix->efc = o.ef_construction;
  ix->ef_search = o.ef_search;
  ix->entry = ANN_NONE;
  ix->kern = ann_kernels(o.metric);
  if ((rc = alloc_core(ix))) goto cleanup;

  for (uint32_t i = 0; i < n; i++) {
    float *v = ix->vecs + (size_t)i * ix->dpad;
    memcpy(v, vecs + (size_t)i * d, d * sizeof(float));
    if (o.metric == LT_ANN_COS) normalise(v, d);
  }
  const double ml = 1.0 / log((double)o.M);
  for (uint32_t i = 0; i < n; i++)
    ix->level[i] = (uint8_t)draw_level(o.seed, i, ml);
  if ((rc = place_upper(ix))) goto cleanup;
  ix->upper = calloc(ix->n_upper ? ix->n_upper * (ix->M + 1) : 1, sizeof(uint32_t));
  if (!ix->upper) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  if (n == 0) goto cleanup;

  uint32_t *order = insertion_order(ix, o.seed);
  if (!order) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  ix->entry = order[0];
  ix->max_level = ix->level[order[0]];
  if (n > 1) {
    uint32_t threads = o.threads;
    if (threads == 0) {
      long c = sysconf(_SC_NPROCESSORS_ONLN);
      threads = c > 0 ? (uint32_t)c : 1;
    }
    if (threads > ANN_MAX_THREADS) threads = ANN_MAX_THREADS;
    if (threads > n - 1) threads = n - 1;
    rc = run_build(ix, threads, order);
  }
  free(order);

cleanup:
  if (rc) {
    lt_ann_free(ix);
    return rc;
  }
  *out = ix;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Queries.                                                                */

static inline float to_score(const lt_ann_t *ix, float d) {
  return ix->metric == LT_ANN_L2 ? d : -d;
}

/* Copies q into the padded buffer qb (normalised for COS). */
static int prepare_query(const lt_ann_t *ix, const float *q, float *qb) {
  if (!all_finite(q, ix->d)) return LT_EINVAL;
  memcpy(qb, q, ix->d * sizeof(float));
  memset(qb + ix->d, 0, (ix->dpad - ix->d) * sizeof(float));
  if (ix->metric == LT_ANN_COS) normalise(qb, ix->d);
  return 0;
}

int lt_ann_search(const lt_ann_t *ix, const float *q, uint32_t k, uint32_t ef,
                  lt_ann_filter_fn filter, void *ctx, uint32_t *out_ids, float *out_scores,
                  uint32_t *out_n) {
  _Alignas(64) float qb[LT_ANN_MAX_DIM];
  if (out_n) *out_n = 0;
  if (!ix || !q || !out_n || (k && !out_ids)) return LT_EINVAL;
  int rc = prepare_query(ix, q, qb);
  if (rc || k == 0 || ix->n == 0) return rc;
  struct scratch *s = scratch_get(ix->n);
  if (!s) return LT_ENOMEM;
  if (ef == 0) ef = ix->ef_search;
  if (ef < k) ef = k;
  if (ef > ix->n) ef = ix->n;

  uint32_t ep = ix->entry;
  float epd = qdist(ix, qb, ep);
  for (uint32_t l = ix->max_level; l > 0; l--)
    greedy(ix, NULL, qb, l, &ep, &epd);
  size_t nr;
  rc = search_layer(ix, NULL, s, qb, ANN_NONE, ep, epd, 0, ef, filter, ctx, &nr);
  if (rc) return rc;
  if (grow(&s->sel, &s->scap, nr)) return LT_ENOMEM;
  maxheap_drain(s->res, nr, s->sel);
  uint32_t m = nr < k ? (uint32_t)nr : k;
  for (uint32_t j = 0; j < m; j++) {
    out_ids[j] = s->sel[j].id;
    if (out_scores) out_scores[j] = to_score(ix, s->sel[j].d);
  }
  *out_n = m;
  return 0;
}

int lt_ann_exact(const lt_ann_t *ix, const float *q, uint32_t k, lt_ann_filter_fn filter, void *ctx,
                 uint32_t *out_ids, float *out_scores, uint32_t *out_n) {
  _Alignas(64) float qb[LT_ANN_MAX_DIM];
  if (out_n) *out_n = 0;
  if (!ix || !q || !out_n || (k && !out_ids)) return LT_EINVAL;
  int rc = prepare_query(ix, q, qb);
  if (rc || k == 0 || ix->n == 0) return rc;
  if (k > ix->n) k = ix->n;
  cand_t *h = malloc((size_t)k * sizeof *h);
  if (!h) return LT_ENOMEM;
  size_t nr = 0;
  for (uint32_t i = 0; i < ix->n; i++) {
    cand_t c = {ix->kern(qb, vec_of(ix, i), ix->dpad), i};
    if (nr == k && !res_less(c, h[0])) continue;
    if (filter && !filter(i, ctx)) continue;
    if (nr < k)
      maxheap_push(h, &nr, c);
    else
      maxheap_replace(h, nr, c);
  }
  maxheap_drain(h, nr, h);
  for (size_t j = 0; j < nr; j++) {
    out_ids[j] = h[j].id;
    if (out_scores) out_scores[j] = to_score(ix, h[j].d);
  }
  *out_n = (uint32_t)nr;
  free(h);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Invariants.                                                             */

int lt_ann_check(const lt_ann_t *ix) {
  if (!ix) return LT_EINVAL;
  const uint32_t n = ix->n;
  if (ix->dpad != round16(ix->d) || ix->M0 != 2 * ix->M) return LT_ECORRUPT;
  if (n == 0)
    return ix->entry == ANN_NONE && ix->max_level == 0 && ix->n_upper == 0 ? 0 : LT_ECORRUPT;
  if (ix->entry >= n || ix->level[ix->entry] != ix->max_level) return LT_ECORRUPT;
  uint64_t nu = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t li = ix->level[i];
    if (li > ix->max_level) return LT_ECORRUPT;
    if ((li == 0) != (ix->upper_off[i] == ANN_NONE)) return LT_ECORRUPT;
    if (li && ix->upper_off[i] != nu) return LT_ECORRUPT;
    nu += li;
  }
  if (nu != ix->n_upper) return LT_ECORRUPT;
  for (uint32_t i = 0; i < n; i++) {
    for (uint32_t l = 0; l <= ix->level[i]; l++) {
      const uint32_t *ll = links_at(ix, i, l);
      if (ll[0] > (l ? ix->M : ix->M0)) return LT_ECORRUPT;
      for (uint32_t j = 1; j <= ll[0]; j++)
        if (ll[j] >= n || ll[j] == i || ix->level[ll[j]] < l) return LT_ECORRUPT;
    }
    const float *v = vec_of(ix, i);
    if (!all_finite(v, ix->d)) return LT_ECORRUPT;
    for (uint32_t j = ix->d; j < ix->dpad; j++)
      if (v[j] != 0.0f) return LT_ECORRUPT;
  }
  return 0;
}

uint32_t lt_ann_size(const lt_ann_t *ix) { return ix ? ix->n : 0; }
uint32_t lt_ann_dim(const lt_ann_t *ix) { return ix ? ix->d : 0; }
int lt_ann_metric(const lt_ann_t *ix) { return ix ? ix->metric : -1; }

size_t lt_ann_memory(const lt_ann_t *ix) {
  if (!ix) return 0;
  size_t n = ix->n;
  return sizeof *ix + n * ix->dpad * sizeof(float) + n + n * (ix->M0 + 1) * sizeof(uint32_t) +
         ix->n_upper * (ix->M + 1) * sizeof(uint32_t) + n * sizeof(uint32_t);
}

/* ---------------------------------------------------------------------- */
/* Save and load.                                                          */

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Reads exactly n bytes; a short file is LT_ECORRUPT. */
static int read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return lt_err_from_errno(errno);
    }
    if (r == 0) return LT_ECORRUPT;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Section i of the file (after the header): pointer and byte length. */
static int section(const lt_ann_t *ix, int i, const void **p, size_t *len) {
  size_t n = ix->n;
  switch (i) {
  case 0:
    *p = ix->level;
    *len = n;
    return 1;
  case 1:
    *p = ix->vecs;
    *len = n * ix->dpad * sizeof(float);
    return 1;
  case 2:
    *p = ix->links0;
    *len = n * (ix->M0 + 1) * sizeof(uint32_t);
    return 1;
  case 3:
    *p = ix->upper;
    *len = ix->n_upper * (ix->M + 1) * sizeof(uint32_t);
    return 1;
  default:
    return 0;
  }
}

static void header_encode(const lt_ann_t *ix, unsigned char *h) {
  memset(h, 0, ANN_HDR);
  memcpy(h, ANN_MAGIC, 8);
  put32(h + 8, ANN_VERSION);
  put32(h + 12, (uint32_t)ix->metric);
  put32(h + 16, ix->n);
  put32(h + 20, ix->d);
  put32(h + 24, ix->dpad);
  put32(h + 28, ix->M);
  put32(h + 32, ix->M0);
  put32(h + 36, ix->efc);
  put32(h + 40, ix->ef_search);
  put32(h + 44, ix->max_level);
  put32(h + 48, ix->entry);
  put32(h + 52, ix->flags);
  put64(h + 56, ix->n_upper);
}

/* The chained checksum; the level section is hashed with its zero pad. */
static uint64_t file_hash(const lt_ann_t *ix, const unsigned char *hdr) {
  static const unsigned char zeros[8];
  uint64_t h = lt_hash64(hdr, ANN_HDR);
  const void *p;
  size_t len;
  for (int i = 0; section(ix, i, &p, &len); i++) {
    h = lt_hash64_seed(p, len, h);
    if (i == 0) h = lt_hash64_seed(zeros, pad8(len) - len, h);
  }
  return h;
}

int lt_ann_save(const lt_ann_t *ix, const char *path) {
  static const unsigned char zeros[8];
  unsigned char hdr[ANN_HDR], tail[8];
  char *tmp = NULL;
  int fd = -1, rc = 0;
  if (!ix || !path) return LT_EINVAL;
  size_t plen = strlen(path);
  tmp = malloc(plen + 8);
  if (!tmp) return LT_ENOMEM;
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);

  header_encode(ix, hdr);
  put64(tail, file_hash(ix, hdr));
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  if ((rc = lt_write_all(fd, hdr, sizeof hdr))) goto cleanup;
  const void *p;
  size_t len;
  for (int i = 0; section(ix, i, &p, &len); i++) {
    if ((rc = lt_write_all(fd, p, len))) goto cleanup;
    if (i == 0 && (rc = lt_write_all(fd, zeros, pad8(len) - len))) goto cleanup;
  }
  if ((rc = lt_write_all(fd, tail, sizeof tail))) goto cleanup;
  if (fsync(fd) < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  if (close(fd) < 0) {
    fd = -1;
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  fd = -1;
  if (rename(tmp, path) < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  rc = lt_fsync_parent(path);

cleanup:
  if (fd >= 0) close(fd);
  if (rc) unlink(tmp);
  free(tmp);
  return rc;
}

int lt_ann_load(const char *path, lt_ann_t **out) {
  unsigned char hdr[ANN_HDR], tail[8];
  lt_ann_t *ix = NULL;
  int fd = -1, rc = 0;
  struct stat st;
  if (!path || !out) return LT_EINVAL;
  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LT_ENOTFOUND : lt_err_from_errno(errno);
  if (fstat(fd, &st) < 0) {
    rc = lt_err_from_errno(errno);
    goto cleanup;
  }
  if ((uint64_t)st.st_size < ANN_HDR + 8) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if ((rc = read_all(fd, hdr, sizeof hdr))) goto cleanup;
  if (memcmp(hdr, ANN_MAGIC, 8) != 0) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if (get32(hdr + 8) != ANN_VERSION) {
    rc = LT_EVERSION;
    goto cleanup;
  }
  ix = calloc(1, sizeof *ix);
  if (!ix) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  ix->metric = (int)get32(hdr + 12);
  ix->n = get32(hdr + 16);
  ix->d = get32(hdr + 20);
  ix->dpad = get32(hdr + 24);
  ix->M = get32(hdr + 28);
  ix->M0 = get32(hdr + 32);
  ix->efc = get32(hdr + 36);
  ix->ef_search = get32(hdr + 40);
  ix->max_level = get32(hdr + 44);
  ix->entry = get32(hdr + 48);
  ix->flags = get32(hdr + 52);
  ix->n_upper = get64(hdr + 56);
  /* Every field in range before any size is computed from it. */
  if ((uint32_t)ix->metric > LT_ANN_COS || ix->d == 0 || ix->d > LT_ANN_MAX_DIM ||
      ix->dpad != round16(ix->d) || ix->M < 2 || ix->M > LT_ANN_MAX_M || ix->M0 != 2 * ix->M ||
      ix->efc == 0 || ix->ef_search == 0 || ix->max_level > ANN_MAX_LEVEL || ix->n == ANN_NONE ||
      ix->flags != 0 || ix->n_upper > (uint64_t)ix->n * ANN_MAX_LEVEL) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  uint64_t n = ix->n;
  uint64_t want = ANN_HDR + pad8(n) + n * ix->dpad * 4 + n * (ix->M0 + 1) * 4 +
                  ix->n_upper * (ix->M + 1) * 4 + 8;
  if ((uint64_t)st.st_size != want) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  ix->kern = ann_kernels(ix->metric);
  if ((rc = alloc_core(ix))) goto cleanup;
  ix->upper = malloc(ix->n_upper ? ix->n_upper * (ix->M + 1) * sizeof(uint32_t) : 1);
  if (!ix->upper) {
    rc = LT_ENOMEM;
    goto cleanup;
  }
  const void *p;
  size_t len;
  for (int i = 0; section(ix, i, &p, &len); i++) {
    if ((rc = read_all(fd, (void *)p, len))) goto cleanup;
    if (i == 0) {
      unsigned char pad[8];
      if ((rc = read_all(fd, pad, pad8(len) - len))) goto cleanup;
    }
  }
  if ((rc = read_all(fd, tail, sizeof tail))) goto cleanup;
  if (get64(tail) != file_hash(ix, hdr)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  /* The checksum only proves the bytes are the ones written: a hostile
   * file can carry a valid checksum, so the graph is checked in full. */
  uint64_t nu = 0;
  for (uint32_t i = 0; i < ix->n; i++)
    nu += ix->level[i];
  if (nu != ix->n_upper || place_upper(ix)) {
    rc = LT_ECORRUPT;
    goto cleanup;
  }
  if ((rc = lt_ann_check(ix))) goto cleanup;

cleanup:
  if (fd >= 0) close(fd);
  if (rc) {
    lt_ann_free(ix);
    return rc;
  }
  *out = ix;
  return 0;
}
