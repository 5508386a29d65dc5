/*
 * intern.h — external string ids <-> dense uint32 ids.
 *
 * Users, items and creators arrive as strings at the edge and are interned
 * to dense ids 0, 1, 2, ... in order of first sight, so the core works on
 * arrays. Ids are never reused or removed.
 *
 * Concurrency: one writer (lt_intern_put; the owner serialises writers),
 * any number of concurrent readers (lt_intern_find, lt_intern_str) without
 * locks: the hash table is replaced, never resized in place, and replaced
 * tables are kept until lt_intern_free.
 */
#ifndef LT_CORE_INTERN_H
#define LT_CORE_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define LT_ID_MAX 255 /* longest external id in bytes */

typedef struct lt_intern lt_intern_t;

int lt_intern_new(lt_intern_t **out);
void lt_intern_free(lt_intern_t *t);

/* Writer. Looks up s[0..n) and creates an id if absent.
 * *id receives the dense id; *created (may be NULL) is 1 when new.
 * Returns 0, LT_EINVAL (empty or longer than LT_ID_MAX), LT_ENOMEM. */
int lt_intern_put(lt_intern_t *t, const char *s, size_t n, uint32_t *id, int *created);

/* Reader. Returns 0 and sets *id, or LT_ENOTFOUND. */
int lt_intern_find(const lt_intern_t *t, const char *s, size_t n, uint32_t *id);

/* Reader. Starts loading what a find or put of s[0..n) reads, so that
 * it does not wait for memory a little later (a batch prefetches a few
 * records ahead), in three steps, each a few records after the one
 * before: 0 the table slot, 1 the references of the ids whose hash tag
 * matches in its probe run (reads the slots: cached after step 0), 2
 * their strings (reads the references). No effect on the contents. */
void lt_intern_prefetch(const lt_intern_t *t, const char *s, size_t n, int step);

/* Reader. The external string of id (not NUL-terminated: *n is its length;
 * it is followed by a NUL all the same). Valid until lt_intern_free.
 * NULL if id is out of range. */
const char *lt_intern_str(const lt_intern_t *t, uint32_t id, size_t *n);

/* Number of ids (readers see a consistent prefix). */
uint32_t lt_intern_count(const lt_intern_t *t);

/* Approximate bytes held. */
size_t lt_intern_bytes(const lt_intern_t *t);

#endif
