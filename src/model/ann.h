/*
 * ann.h — approximate nearest-neighbour index over float vectors: a
 * hierarchical navigable small-world graph (HNSW, Malkov & Yashunin 2018).
 *
 * The serving use: "given a user vector, find the items with the largest
 * dot product" (maximum inner product search). An index is built once from
 * n vectors of dimension d and is immutable afterwards; the serving layer
 * swaps whole snapshots. Any number of threads may call lt_ann_search() and
 * lt_ann_exact() on the same index at once: each call uses scratch memory
 * private to the calling thread and takes no locks.
 *
 * Items are the dense ids 0..n-1, the row numbers of the build input.
 *
 * Metrics and scores (every result list is ordered best first):
 *   LT_ANN_IP   score = dot(q, x), larger is better.
 *   LT_ANN_COS  score = cosine(q, x), larger is better; vectors are stored
 *               normalised to unit length (zero vectors stay zero).
 *   LT_ANN_L2   score = squared Euclidean distance, smaller is better.
 *
 * Typical use:
 *   lt_ann_opts_t o; lt_ann_opts_default(&o); o.metric = LT_ANN_IP;
 *   lt_ann_t *ix; if (lt_ann_build(items, n, d, &o, &ix)) ...;
 *   uint32_t ids[10], got; float sc[10];
 *   lt_ann_search(ix, user, 10, 0, NULL, NULL, ids, sc, &got);
 *   lt_ann_free(ix);
 */
#ifndef LT_MODEL_ANN_H
#define LT_MODEL_ANN_H

#include <stddef.h>
#include <stdint.h>

/* Largest dimension accepted by lt_ann_build / lt_ann_load. */
#define LT_ANN_MAX_DIM 1024
/* Largest M accepted (level 0 then holds up to 2 * M links per item). */
#define LT_ANN_MAX_M 128

typedef enum lt_ann_metric {
  LT_ANN_IP = 0, /* the default: maximum inner product */
  LT_ANN_L2 = 1,
  LT_ANN_COS = 2,
} lt_ann_metric_t;

typedef struct lt_ann_opts {
  int metric;               /* an lt_ann_metric_t */
  uint32_t M;               /* links per item on levels >= 1; 2*M on level 0. 0 -> 16 */
  uint32_t ef_construction; /* candidate list size while building. 0 -> 200 */
  uint32_t ef_search;       /* default ef for lt_ann_search(ef = 0). 0 -> 64 */
  uint64_t seed;            /* level draw; with threads == 1 the build is deterministic */
  uint32_t threads;         /* build threads; 0 -> number of online CPUs (at most 64) */
} lt_ann_opts_t;

/* An immutable index (opaque). */
typedef struct lt_ann lt_ann_t;

/* Filter callback: returns non-zero to keep item, 0 to exclude it from the
 * results (deleted, already seen, ...). Excluded items are still walked
 * through as stepping stones, so a filter that rejects most items makes the
 * search visit more of the graph. Called from the searching thread; must
 * not call back into the same index's build. */
typedef int (*lt_ann_filter_fn)(uint32_t item, void *ctx);

/* Fills *o with the defaults (IP, M 16, ef_construction 200, ef_search 64,
 * seed 0, threads 0). */
void lt_ann_opts_default(lt_ann_opts_t *o);

/* Builds an index over n vectors of dimension d stored row-major in vecs
 * (n * d floats; copied, the caller keeps ownership). opts may be NULL for
 * the defaults. n may be 0 (an empty index: every search returns nothing).
 * On success *out owns the index until lt_ann_free().
 * Returns 0, LT_EINVAL (NULL pointers, d == 0 or > LT_ANN_MAX_DIM, M < 2 or
 * > LT_ANN_MAX_M, unknown metric, a NaN or infinite component), LT_ETOOBIG
 * (n too large for 32-bit ids) or LT_ENOMEM. */
int lt_ann_build(const float *vecs, uint32_t n, uint32_t d, const lt_ann_opts_t *opts,
                 lt_ann_t **out);

/* Frees an index; NULL is accepted. No search may be running on it. */
void lt_ann_free(lt_ann_t *ix);

/* Approximate top-k search for query q (d floats).
 *   k          how many results are wanted; fewer come back when fewer
 *              items exist or pass the filter (k > n is fine).
 *   ef         candidate list size: larger is slower and more accurate;
 *              0 -> the index's ef_search; raised to k when smaller.
 *   filter,ctx optional (filter may be NULL): see lt_ann_filter_fn.
 *   out_ids    (out) room for k ids; out_scores (out, may be NULL) room for
 *              k scores; *out_n (out) the number written. Best first.
 * Thread-safe on a shared index. The first call on a thread allocates that
 * thread's scratch (one byte per item plus two small heaps), kept until the
 * thread exits or calls lt_ann_thread_release().
 * Returns 0, LT_EINVAL (NULL pointers, a NaN or infinite query component)
 * or LT_ENOMEM. */
int lt_ann_search(const lt_ann_t *ix, const float *q, uint32_t k, uint32_t ef,
                  lt_ann_filter_fn filter, void *ctx, uint32_t *out_ids, float *out_scores,
                  uint32_t *out_n);

/* Exact top-k by brute force over every item (same arguments, scores and
 * order as lt_ann_search; ties broken by smaller id). For measuring recall
 * and for small catalogues. Thread-safe. Returns 0, LT_EINVAL or LT_ENOMEM. */
int lt_ann_exact(const lt_ann_t *ix, const float *q, uint32_t k, lt_ann_filter_fn filter, void *ctx,
                 uint32_t *out_ids, float *out_scores, uint32_t *out_n);

/* Writes the index to path atomically (temp file, fsync, rename, fsync of
 * the directory). The file is checksummed with XXH3 and is little-endian.
 * Returns 0, LT_EINVAL, LT_ENOSPACE or LT_EIO. */
int lt_ann_save(const lt_ann_t *ix, const char *path);

/* Reads an index written by lt_ann_save. Every field, the size, the
 * checksum and the whole graph (ids in range, levels consistent, counts
 * within bounds, finite vectors) are verified before *out is set, so a
 * truncated, corrupt or hostile file is rejected without harm.
 * Returns 0, LT_EINVAL, LT_ENOTFOUND (no such file), LT_EIO,
 * LT_ECORRUPT (bad magic, size, checksum or graph), LT_EVERSION or
 * LT_ENOMEM. On success *out is owned by the caller (lt_ann_free). */
int lt_ann_load(const char *path, lt_ann_t **out);

/* Checks the index's invariants (see the design note in ann.c).
 * Returns 0 or LT_ECORRUPT. Costs O(n * M). */
int lt_ann_check(const lt_ann_t *ix);

/* Accessors. */
uint32_t lt_ann_size(const lt_ann_t *ix); /* n */
uint32_t lt_ann_dim(const lt_ann_t *ix);  /* d */
int lt_ann_metric(const lt_ann_t *ix);
/* Bytes of memory held by the index (vectors + graph). */
size_t lt_ann_memory(const lt_ann_t *ix);

/* Frees the calling thread's search scratch now, instead of at thread
 * exit (e.g. before a long idle period). Safe to call at any time outside
 * a search on this thread. */
void lt_ann_thread_release(void);

#endif
