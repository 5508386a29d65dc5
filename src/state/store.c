/*
 * store.c — data directory = log + state + snapshots (see store.h).
 *
 * States of a store: OPEN (accepting writes) -> FAILED (the log refused a
 * write or fsync: every later write gets LT_EREADONLY) -> OPEN again when
 * lt_store_recover() has reopened the log in place (lt_log_reopen: verified
 * again, cut back to what the state applied) -> CLOSED. Closing and
 * reopening the store also leaves FAILED (replay rebuilds the state).
 *
 * Writes are a pipeline, in log order throughout:
 *   1. under wlock: check (against the state and the ids of batches queued
 *      but not applied yet: pending), encode, queue on the log, take a
 *      ticket (next_ticket++);
 *   2. no lock: wait until the batch is durable per the fsync policy
 *      (concurrent writers share one fsync: group commit);
 *   3. under wlock, when turn == ticket: apply to the state, turn++;
 *   3b. no lock: the observer's prepare function, if any (what the
 *      observer would compute from the state alone: many batches at once);
 *   4. under olock, when obs_turn == ticket (wlock let go): the observer
 *      (the derived views: feed, stats, ads), obs_turn++. A batch refused
 *      at stage 2 or 3 passes its observer turn without observing.
 * Invariants:
 *  1. the state (and so every reader and observer) holds exactly the
 *     records below lt_state_applied(), a prefix of the log, each of them
 *     durable per the policy before it is applied: a batch whose wait
 *     failed is never applied nor observed, and neither is any batch after
 *     it (stage 3 sees failed set by the earlier turn), so nothing a write
 *     was refused for is ever visible to reads;
 *  2. turn <= next_ticket; turn == next_ticket means no batch is between
 *     stages 1 and 3 (lt_store_locked and lt_store_recover wait for that);
 *  3. pending maps the id of each event of a batch between stages 1 and 3
 *     to its ticket; an entry whose ticket is below turn is stale (applied:
 *     the state knows it; or refused: it may be written again);
 *  4. obs_turn <= turn: the batches with tickets in [obs_turn, turn) are
 *     applied (or refused) and not yet through stage 4.
 * Observers see batches in log order, one at a time, while later batches
 * are checked and applied: the observer stage is the longest, and no
 * lock of stages 1 and 3 is held while a batch waits for it (before,
 * the next batch waited for olock holding wlock, and every batch behind
 * it waited too). The state an observer reads may therefore be a few
 * batches ahead of the batch it is given (at most one per writer thread).
 * A higher-layer record (ext) is applied at its observer turn, so it
 * comes after every earlier batch's observer and before every later one;
 * lt_store_locked waits until stages 1 to 4 are empty.
 *
 * Recovery (lt_store_recover): under both locks, with no batch in flight,
 * the log is reopened and cut back to lt_state_applied() — the records of
 * refused batches that reached the file are dropped, so memory and log
 * agree and a restart rebuilds the same state; a retry of a refused batch
 * is written as new.
 *
 * Snapshot files are named snapshot-<16 hex digits of the log offset they
 * cover>.snap. Open tries them newest first; one that fails its checksum,
 * names an offset beyond the log's end or was written with other options
 * is skipped (counted in snapshots_rejected) and the next older is tried;
 * with none, the whole log is replayed.
 */
#include "state/store.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct lt_store {
  char *dir;
  lt_log_t *log;
  lt_state_t *st;
  lt_store_opts_t opts;
  pthread_mutex_t wlock; /* stage 1: check, encode, append, apply */
  pthread_mutex_t olock; /* stage 4: the observer */
  pthread_mutex_t snap_lock; /* one snapshot at a time; recovery waits for it */
  lt_store_snapshot_stats_t snap; /* atomics */
  lt_buf_t enc;     /* encoded batch (under wlock) */
  const void **recp; /* record pointers into enc */
  uint32_t *lens;
  size_t rcap;
  uint32_t *idx;         /* indices (into the caller's batch) of the accepted records */
  lt_u64map_t pending;   /* event id hash -> ticket (invariant 3; under wlock) */
  pthread_cond_t turn_cv; /* with wlock: turn moved */
  uint64_t next_ticket, turn; /* invariant 2 (under wlock) */
  pthread_cond_t obs_cv;  /* with olock: obs_turn moved */
  uint64_t obs_turn;      /* invariant 4 (under olock) */
  uint64_t first_refused;     /* ticket of the first batch refused since recovery, 0 = none */
  lt_store_observer_fn observer;
  lt_store_prepare_fn prepare;
  void *observer_ctx;
  uint64_t dirty;        /* records since the last snapshot */
  int failed;            /* under wlock */
  int broken;            /* applying failed half-way (ENOMEM): only a reopen mends it */
  uint64_t failed_ns;    /* lt_mono_ns() when it failed, 0 = accepting (atomic) */
};

void lt_store_opts_default(lt_store_opts_t *o) {
  memset(o, 0, sizeof *o);
  lt_state_opts_default(&o->state);
}

static int mkdir_p(const char *path) {
  if (mkdir(path, 0700) == 0 || errno == EEXIST) return LT_OK;
  return lt_err_from_errno(errno);
}

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", a, b);
  return p;
}

/* Snapshot offsets found in DIR/snapshots, newest first. */
static size_t list_snapshots(const char *sdir, uint64_t *offs, size_t max) {
  DIR *d = opendir(sdir);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    uint64_t off;
    char tail[8];
    if (strlen(e->d_name) == 9 + 16 + 5 &&
        sscanf(e->d_name, "snapshot-%16" SCNx64 "%5s", &off, tail) == 2 && !strcmp(tail, ".snap"))
      offs[n++] = off;
  }
  closedir(d);
  for (size_t i = 1; i < n; i++) /* insertion sort, descending */
    for (size_t j = i; j > 0 && offs[j] > offs[j - 1]; j--) {
      uint64_t t = offs[j];
      offs[j] = offs[j - 1];
      offs[j - 1] = t;
    }
  return n;
}

static int load_snapshot(lt_store_t *s, const char *sdir, uint64_t off, uint64_t log_end) {
  char name[64];
  snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".snap", off);
  char *path = path_join(sdir, name);
  if (!path) return LT_ENOMEM;
  int fd = open(path, O_RDONLY), rc = LT_ECORRUPT;
  free(path);
  if (fd < 0) return LT_EIO;
  struct stat sb;
  if (fstat(fd, &sb) == 0 && sb.st_size > 0 && off <= log_end) {
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      lt_state_t *st;
      rc = lt_state_load(p, (size_t)sb.st_size, &s->opts.state, &st);
      if (!rc && lt_state_applied(st) != off) {
        lt_state_free(st);
        rc = LT_ECORRUPT;
      }
      if (!rc) {
        lt_state_free(s->st);
        s->st = st;
      }
      munmap(p, (size_t)sb.st_size);
    }
  }
  close(fd);
  return rc;
}

static int apply_encoded(lt_store_t *s, const void *p, uint32_t len, uint64_t lsn) {
  lt_record_t r;
  int rc = lt_record_decode(p, len, &r);
  if (rc == LT_EVERSION) {
    if (s->opts.ext) s->opts.ext(s->opts.ext_ctx, p, len, lsn);
    return LT_OK;
  }
  if (rc) return rc;
  rc = lt_state_apply(s->st, &r, lsn);
  return rc == LT_EDUPLICATE ? LT_OK : rc;
}

static int replay(lt_store_t *s, uint64_t from, uint64_t *count) {
  lt_log_reader_t *rd;
  char *ldir = path_join(s->dir, "log");
  if (!ldir) return LT_ENOMEM;
  int rc = lt_log_reader_open(ldir, from, &rd);
  free(ldir);
  if (rc) return rc;
  const void *rec;
  uint32_t len;
  uint64_t off;
  while ((rc = lt_log_reader_next(rd, &rec, &len, &off)) == 1) {
    if ((rc = apply_encoded(s, rec, len, off))) break;
    ++*count;
  }
  lt_log_reader_close(rd);
  return rc < 0 ? rc : LT_OK;
}

int lt_store_open(const char *dir, const lt_store_opts_t *opts, lt_store_t **out,
                  lt_store_report_t *rep) {
  lt_store_report_t local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  uint64_t t0 = lt_mono_ns();
  int rc = LT_ENOMEM;
  char *ldir = NULL, *sdir = NULL;
  lt_store_t *s = calloc(1, sizeof *s);
  if (!s) return LT_ENOMEM;
  if (opts) s->opts = *opts;
  else lt_store_opts_default(&s->opts);
  pthread_mutex_init(&s->wlock, NULL);
  pthread_mutex_init(&s->olock, NULL);
  pthread_mutex_init(&s->snap_lock, NULL);
  lt_buf_init(&s->enc);
  lt_u64map_init(&s->pending);
  pthread_cond_init(&s->turn_cv, NULL);
  pthread_cond_init(&s->obs_cv, NULL);
  s->next_ticket = s->turn = s->obs_turn = 1;
  if (!(s->dir = strdup(dir)) || !(ldir = path_join(dir, "log")) ||
      !(sdir = path_join(dir, "snapshots")))
    goto fail;
  if ((rc = mkdir_p(dir)) || (rc = mkdir_p(sdir))) goto fail;
  if ((rc = lt_log_open(ldir, &s->opts.log, &s->log, &rep->log))) {
    snprintf(rep->message, sizeof rep->message, "log: %s: %s", lt_strerror(rc), rep->log.message);
    goto fail;
  }
  if ((rc = lt_state_new(&s->opts.state, &s->st))) goto fail;
  uint64_t log_end = lt_log_end(s->log), from = 0;
  if (!s->opts.ignore_snapshots) {
    uint64_t offs[16];
    size_t n = list_snapshots(sdir, offs, 16);
    for (size_t i = 0; i < n; i++) {
      if (load_snapshot(s, sdir, offs[i], log_end) == LT_OK) {
        rep->snapshot_loaded = 1;
        rep->snapshot_offset = from = offs[i];
        break;
      }
      rep->snapshots_rejected++;
    }
  }
  if ((rc = replay(s, from, &rep->replayed))) {
    snprintf(rep->message, sizeof rep->message, "replay from offset %" PRIu64 ": %s", from,
             lt_strerror(rc));
    goto fail;
  }
  lt_state_set_applied(s->st, log_end);
  s->dirty = rep->replayed;
  rep->seconds = (double)(lt_mono_ns() - t0) / 1e9;
  if (!rep->message[0])
    snprintf(rep->message, sizeof rep->message,
             "%s; snapshot %s (offset %" PRIu64 ", %u rejected); replayed %" PRIu64
             " records in %.2f s",
             rep->log.message[0] ? rep->log.message : "log clean",
             rep->snapshot_loaded ? "loaded" : "none", rep->snapshot_offset,
             rep->snapshots_rejected, rep->replayed, rep->seconds);
  free(ldir);
  free(sdir);
  *out = s;
  return LT_OK;
fail:
  free(ldir);
  free(sdir);
  lt_store_close(s, 0);
  return rc;
}

int lt_store_close(lt_store_t *s, int write_snapshot) {
  if (!s) return LT_OK;
  int rc = LT_OK;
  if (s->log && !s->failed) rc = lt_log_sync(s->log);
  if (!rc && write_snapshot && s->dirty && !s->failed) rc = lt_store_snapshot(s);
  int rc2 = lt_log_close(s->log);
  if (!rc) rc = rc2;
  lt_state_free(s->st);
  lt_buf_free(&s->enc);
  lt_u64map_clear(&s->pending);
  free(s->recp);
  free(s->lens);
  free(s->idx);
  free(s->dir);
  pthread_mutex_destroy(&s->wlock);
  pthread_mutex_destroy(&s->olock);
  pthread_mutex_destroy(&s->snap_lock);
  pthread_cond_destroy(&s->turn_cv);
  pthread_cond_destroy(&s->obs_cv);
  free(s);
  return rc;
}

static int reserve_ptrs(lt_store_t *s, size_t n) {
  if (n <= s->rcap) return LT_OK;
  const void **rp = realloc(s->recp, n * sizeof *rp);
  if (!rp) return LT_ENOMEM;
  s->recp = rp;
  uint32_t *ln = realloc(s->lens, n * sizeof *ln);
  if (!ln) return LT_ENOMEM;
  s->lens = ln;
  uint32_t *ix = realloc(s->idx, n * sizeof *ix);
  if (!ix) return LT_ENOMEM;
  s->idx = ix;
  s->rcap = n;
  return LT_OK;
}

/* wlock held. */
static void set_failed(lt_store_t *s) {
  s->failed = 1;
  uint64_t now = lt_mono_ns();
  uint64_t zero = 0;
  __atomic_compare_exchange_n(&s->failed_ns, &zero, now ? now : 1, 0, __ATOMIC_RELEASE,
                              __ATOMIC_RELAXED);
}

/* wlock held, before a batch is checked: forgets the pending ids once no
 * batch is in flight, and drops stale entries (invariant 3) when many
 * accumulated under a load that never drains. */
#define PENDING_COMPACT 65536
static int pending_trim(lt_store_t *s) {
  lt_u64map_t *m = &s->pending;
  if (s->turn == s->next_ticket) {
    if (m->len) memset(m->keys, 0, m->cap * sizeof *m->keys);
    m->len = 0;
    return LT_OK;
  }
  if (m->len < PENDING_COMPACT) return LT_OK;
  lt_u64map_t live;
  lt_u64map_init(&live);
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i] || m->vals[i] < s->turn) continue;
    uint64_t *slot;
    int rc = lt_u64map_upsert(&live, m->keys[i], &slot, NULL);
    if (rc) {
      lt_u64map_clear(&live);
      return rc;
    }
    *slot = m->vals[i];
  }
  lt_u64map_clear(m);
  *m = live;
  return LT_OK;
}

/* wlock held: the ids a batch that will not be applied marked with its
 * ticket become writable again. Its records are recs[idx[j]] (idx NULL:
 * recs[j]), j < m. */
static void pending_forget(lt_store_t *s, const lt_record_t *recs, const uint32_t *idx, size_t m,
                           uint64_t ticket) {
  for (size_t j = 0; j < m; j++) {
    const lt_record_t *r = &recs[idx ? idx[j] : j];
    if (r->kind != LT_REC_EVENT || !r->u.ev.id.n) continue;
    uint64_t *v = lt_u64map_get(&s->pending, lt_u64map_key(lt_hash64(r->u.ev.id.p, r->u.ev.id.n)));
    if (v && *v == ticket) *v = 0;
  }
}

/* Queues the records in s->enc (n of them, lengths in s->lens) on the log
 * and takes the batch's ticket; *first and *end get the offsets of its
 * first record and after its last. Caller holds wlock. */
static int enqueue(lt_store_t *s, size_t n, uint64_t *first, uint64_t *end, uint64_t *ticket) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    s->recp[i] = s->enc.p + off;
    off += s->lens[i];
  }
  int rc = lt_log_enqueue(s->log, s->recp, s->lens, n, first, end);
  if (rc) {
    if (rc != LT_ETOOBIG && rc != LT_EINVAL && rc != LT_ENOMEM) set_failed(s);
    return rc;
  }
  *ticket = s->next_ticket++;
  return LT_OK;
}

/* Stages 2 and 3: waits (no lock held) until the batch is durable, then,
 * at its turn, applies it (apply(ctx) under wlock) unless it or an
 * earlier batch failed. Returns with wlock held and the turn passed. */
static int wait_and_apply(lt_store_t *s, uint64_t end, uint64_t ticket,
                          int (*apply)(lt_store_t *s, void *ctx), void *ctx) {
  int rc = lt_log_wait(s->log, end);
  pthread_mutex_lock(&s->wlock);
  while (s->turn != ticket)
    pthread_cond_wait(&s->turn_cv, &s->wlock);
  if (!rc && s->failed) rc = LT_EREADONLY; /* an earlier batch was refused: no hole */
  if (!rc && (rc = apply(s, ctx))) s->broken = 1;
  if (rc) {
    set_failed(s);
    if (!s->first_refused) s->first_refused = ticket;
  }
  else lt_state_set_applied(s->st, end);
  s->turn++;
  pthread_cond_broadcast(&s->turn_cv);
  return rc;
}

/* olock held: waits until it is ticket's turn at stage 4. */
static void wait_obs_turn(lt_store_t *s, uint64_t ticket) {
  while (s->obs_turn != ticket)
    pthread_cond_wait(&s->obs_cv, &s->olock);
}

/* Stage 4 of ticket (no lock held): at its turn, hands recs[0..n) to the
 * observer (recs NULL: a refused batch, or an ext record already applied
 * at this turn) and passes the turn. Every ticket comes here once. */
static void observe_in_turn(lt_store_t *s, uint64_t ticket, const lt_record_t *recs, size_t n) {
  pthread_mutex_lock(&s->olock);
  wait_obs_turn(s, ticket);
  if (recs && s->observer) s->observer(s->observer_ctx, recs, n);
  s->obs_turn++;
  pthread_cond_broadcast(&s->obs_cv);
  pthread_mutex_unlock(&s->olock);
}

typedef struct batch {
  lt_record_t *recs;       /* accepted records, in log order (applying sets their ids) */
  const uint32_t *lens;    /* their encoded lengths */
  size_t m;
  uint64_t first;
} batch_t;

/* How many records ahead a batch loop takes each step of
 * lt_state_prefetch: the checking loop step 0 only, the applying loop
 * all of them (each step reads what the one before loaded). */
static const size_t ahead[LT_STATE_PREFETCH_STEPS] = {12, 10, 8, 5, 2};

/* The ids step 3 found, by record index modulo IDS (> ahead[3]). */
#define IDS 8

/* Called at record i of a loop over recs[0..n): takes steps 0 to
 * steps - 1 of the records that far ahead (at i == 0, also of the records
 * before them); ids (IDS entries, NULL when steps <= 3) keeps what step 3
 * found for steps 4 and the applying. */
static void prefetch_ahead(const lt_store_t *s, const lt_record_t *recs, size_t n, size_t i,
                           int steps, lt_state_ids_t *ids) {
  for (int step = 0; step < steps; step++)
    for (size_t k = i ? i + ahead[step] : 0; k <= i + ahead[step] && k < n; k++)
      lt_state_prefetch(s->st, &recs[k], step, ids ? &ids[k % IDS] : NULL);
}

static int apply_batch(lt_store_t *s, void *ctx) {
  batch_t *b = ctx;
  uint64_t lsn = b->first;
  lt_state_ids_t ids[IDS];
  for (size_t i = 0; i < b->m; i++) {
    prefetch_ahead(s, b->recs, b->m, i, LT_STATE_PREFETCH_STEPS, ids);
    int rc = lt_state_apply_known(s->st, &b->recs[i], lsn, &ids[i % IDS]);
    if (rc && rc != LT_EDUPLICATE) return rc; /* ENOMEM */
    lsn += 8 + b->lens[i]; /* log frame: u32 length + u32 checksum + payload */
  }
  s->dirty += b->m;
  return LT_OK;
}

int lt_store_write(lt_store_t *s, lt_record_t *recs, size_t n, int atomic, int *status,
                   const char **why, lt_write_result_t *res) {
  lt_write_result_t r = {0, 0, 0};
  int rc = LT_OK;
  size_t m = 0;
  uint64_t first = 0, end = 0, ticket = 0, t, dep = 0;
  void *own = NULL; /* the accepted records' lengths (and records, when some were left out) */
  pthread_mutex_lock(&s->wlock);
  t = s->next_ticket; /* the ticket this batch takes if it is queued */
  if (s->failed) {
    rc = LT_EREADONLY;
    goto out;
  }
  if ((rc = reserve_ptrs(s, n)) || (rc = pending_trim(s))) goto out;
  lt_buf_reset(&s->enc);
  for (size_t i = 0; i < n; i++) {
    prefetch_ahead(s, recs, n, i, 1, NULL);
    const char *reason = NULL;
    int st = lt_record_check(&recs[i], &reason);
    if (!st && recs[i].kind == LT_REC_EVENT && recs[i].u.ev.id.n) {
      lt_str_t id = recs[i].u.ev.id;
      uint64_t key = lt_u64map_key(lt_hash64(id.p, id.n)), *slot;
      int created = 0;
      if (lt_state_event_seen(s->st, id)) st = LT_EDUPLICATE;
      else if ((rc = lt_u64map_upsert(&s->pending, key, &slot, &created))) goto out;
      else if (!created && *slot >= s->turn) { /* in this batch or in a batch in flight */
        st = LT_EDUPLICATE;
        if (*slot != t && *slot > dep) dep = *slot;
      } else *slot = t;
    }
    if (status) status[i] = st;
    if (why) why[i] = st == LT_EINVAL ? reason : NULL;
    if (st == LT_EINVAL) {
      r.rejected++;
      continue;
    }
    if (st == LT_EDUPLICATE) {
      r.duplicates++;
      continue;
    }
    size_t before = s->enc.len;
    s->idx[m] = (uint32_t)i;
    if ((rc = lt_record_encode(&recs[i], &s->enc))) {
      m++; /* its id is marked: pending_forget below */
      goto out;
    }
    s->lens[m++] = (uint32_t)(s->enc.len - before);
  }
  if (atomic && r.rejected) {
    rc = LT_EINVAL;
    r.duplicates = 0;
    goto out;
  }
  if (!m) {
    /* only duplicates: those of a batch in flight are acknowledged once
     * that batch is (a later batch of ours would wait for it anyway) */
    while (dep && s->turn <= dep)
      pthread_cond_wait(&s->turn_cv, &s->wlock);
    if (dep && s->first_refused && s->first_refused <= dep) rc = LT_EREADONLY;
    goto out;
  }
  /* what stage 3 needs once wlock is let go (s->lens, s->idx belong to
   * the next batch then) */
  size_t need = m * sizeof(uint32_t) + (m < n ? m * sizeof(lt_record_t) : 0);
  if (!(own = malloc(need))) {
    rc = LT_ENOMEM;
    goto out;
  }
  lt_record_t *acc = recs;
  if (m < n) {
    lt_record_t *kept = own;
    for (size_t j = 0; j < m; j++)
      kept[j] = recs[s->idx[j]];
    acc = kept;
  }
  uint32_t *lens = (uint32_t *)((char *)own + (m < n ? m * sizeof(lt_record_t) : 0));
  memcpy(lens, s->lens, m * sizeof *lens);
  if ((rc = enqueue(s, m, &first, &end, &ticket))) goto out;
  pthread_mutex_unlock(&s->wlock);

  batch_t b = {acc, lens, m, first};
  if ((rc = wait_and_apply(s, end, ticket, apply_batch, &b))) {
    /* refused: never applied (invariant 1); its ids may be written again */
    pending_forget(s, acc, NULL, m, ticket);
    pthread_mutex_unlock(&s->wlock);
    observe_in_turn(s, ticket, NULL, 0);
    free(own);
    if (res) *res = r;
    return rc;
  }
  r.accepted = (uint32_t)m;
  lt_store_prepare_fn prepare = s->prepare; /* cannot change before this batch is observed */
  void *pctx = s->observer_ctx;
  pthread_mutex_unlock(&s->wlock);
  if (prepare) prepare(pctx, acc, m);
  observe_in_turn(s, ticket, acc, m);
  free(own);
  if (res) *res = r;
  return LT_OK;
out:
  if (rc && m) pending_forget(s, recs, s->idx, m, t);
  pthread_mutex_unlock(&s->wlock);
  free(own);
  if (res) *res = r;
  return rc;
}

typedef struct ext_rec {
  const void *p;
  uint32_t len;
  uint64_t lsn, ticket;
} ext_rec_t;

static int apply_ext(lt_store_t *s, void *ctx) {
  ext_rec_t *e = ctx;
  /* at its observer turn: after every earlier batch's observer, before
   * every later one's (the caller passes the turn) */
  pthread_mutex_lock(&s->olock);
  wait_obs_turn(s, e->ticket);
  int rc = apply_encoded(s, e->p, e->len, e->lsn);
  pthread_mutex_unlock(&s->olock);
  if (!rc) s->dirty++;
  return rc;
}

int lt_store_write_ext(lt_store_t *s, const void *rec, size_t len) {
  if (!len || ((const unsigned char *)rec)[0] < LT_REC_EXT_BASE || len > (16u << 20))
    return LT_EINVAL;
  uint64_t first = 0, end = 0, ticket = 0;
  pthread_mutex_lock(&s->wlock);
  int rc = s->failed ? LT_EREADONLY : reserve_ptrs(s, 1);
  if (!rc) {
    lt_buf_reset(&s->enc);
    lt_buf_put(&s->enc, rec, len);
    s->lens[0] = (uint32_t)len;
    rc = s->enc.err ? s->enc.err : enqueue(s, 1, &first, &end, &ticket);
  }
  pthread_mutex_unlock(&s->wlock);
  if (rc) return rc;
  ext_rec_t e = {rec, (uint32_t)len, first, ticket};
  rc = wait_and_apply(s, end, ticket, apply_ext, &e);
  pthread_mutex_unlock(&s->wlock);
  observe_in_turn(s, ticket, NULL, 0);
  return rc;
}

int lt_store_sync(lt_store_t *s) {
  pthread_mutex_lock(&s->wlock);
  int rc = s->failed ? LT_EREADONLY : lt_log_sync(s->log);
  if (rc && rc != LT_EREADONLY) set_failed(s);
  pthread_mutex_unlock(&s->wlock);
  return rc;
}

/* Writes img[0..n) to fd in SNAP_CHUNK pieces, starting each piece's
 * writeback as soon as it is written and waiting for the one before: at
 * most two chunks are dirty at a time, and the disk sees a steady stream
 * instead of the whole file at the fsync. */
#define SNAP_CHUNK (1u << 20)
static int write_paced(int fd, const char *img, size_t n) {
  for (size_t off = 0; off < n;) {
    size_t len = n - off < SNAP_CHUNK ? n - off : SNAP_CHUNK;
    int rc = lt_write_all(fd, img + off, len);
    if (rc) return rc;
    /* advisory: a file system without it still gets the fsync below */
    (void)sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    if (off >= SNAP_CHUNK)
      (void)sync_file_range(fd, (off_t)(off - SNAP_CHUNK), SNAP_CHUNK,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
    off += len;
  }
  return fsync(fd) ? lt_err_from_errno(errno) : LT_OK;
}

/* The state's image in memory, in pages of its own (mmap/mremap): freeing
 * it gives the memory back to the system. Heap memory would stay with the
 * process (glibc raises its mmap threshold to a freed mapping's size, so
 * the next image comes from the heap), and the RSS would grow by one image
 * at each snapshot. Written through a stdio stream (fopencookie), which is
 * what lt_state_save writes to. */
typedef struct image {
  char *p;
  size_t len, cap;
} image_t;

static ssize_t image_write(void *cookie, const char *buf, size_t n) {
  image_t *im = cookie;
  if (n > im->cap - im->len) {
    size_t cap = im->cap;
    while (n > cap - im->len) cap *= 2;
    void *p = mremap(im->p, im->cap, cap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
      errno = ENOMEM;
      return -1;
    }
    im->p = p;
    im->cap = cap;
  }
  memcpy(im->p + im->len, buf, n);
  im->len += n;
  return (ssize_t)n;
}

/* The state's image into *im (capacity: hint rounded up, at least 1 MiB).
 * Returns 0 or LT_ENOMEM / lt_state_save's error; on an error *im is empty. */
static int image_make(const lt_state_t *st, size_t hint, image_t *im) {
  im->len = 0;
  im->cap = (hint + (hint >> 3) + (1u << 20)) & ~(size_t)((1u << 20) - 1);
  im->p = mmap(NULL, im->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (im->p == MAP_FAILED) {
    im->p = NULL;
    return LT_ENOMEM;
  }
  FILE *f = fopencookie(im, "w", (cookie_io_functions_t){.write = image_write});
  int rc = f ? lt_state_save(st, f) : LT_ENOMEM;
  if (f && fclose(f) && !rc) rc = LT_ENOMEM;
  if (rc) {
    munmap(im->p, im->cap);
    im->p = NULL;
  }
  return rc;
}

/* Puts the image of the state at log offset off in place: temp file,
 * fsync, rename, fsync dir; keeps the two newest. snap_lock held. */
static int write_snapshot_file(lt_store_t *s, uint64_t off, const char *img, size_t n) {
  char *sdir = path_join(s->dir, "snapshots"), *tmp = NULL, *final = NULL;
  int rc = LT_ENOMEM, fd = -1;
  char name[64];
  snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".snap", off);
  if (!sdir || !(tmp = path_join(sdir, "snapshot.tmp")) || !(final = path_join(sdir, name)))
    goto out;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = lt_err_from_errno(errno);
    goto out;
  }
  if ((rc = write_paced(fd, img, n))) goto out;
  if (close(fd)) {
    fd = -1;
    rc = LT_EIO;
    goto out;
  }
  fd = -1;
  if (rename(tmp, final)) {
    rc = lt_err_from_errno(errno);
    goto out;
  }
  if ((rc = lt_fsync_dir(sdir))) goto out;
  uint64_t offs[64];
  size_t k = list_snapshots(sdir, offs, 64);
  for (size_t i = 2; i < k; i++) {
    snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".snap", offs[i]);
    char *old = path_join(sdir, name);
    if (old) unlink(old);
    free(old);
  }
out:
  if (fd >= 0) close(fd);
  if (rc && tmp) unlink(tmp);
  free(sdir);
  free(tmp);
  free(final);
  return rc;
}

/* Only the image is made under wlock (writes wait for it, reads do not);
 * the log sync and the file's writing and fsync run with writes going on.
 * snap_lock keeps snapshots apart (they share snapshot.tmp) and keeps
 * lt_store_recover, which reopens the log, from running beside the log
 * sync here (lock order: snap_lock, wlock, olock). */
int lt_store_snapshot(lt_store_t *s) {
  pthread_mutex_lock(&s->snap_lock);
  uint64_t t0 = lt_mono_ns(), off = 0, covered = 0;
  image_t im = {0};
  pthread_mutex_lock(&s->wlock);
  uint64_t held = lt_mono_ns();
  int rc = LT_EREADONLY;
  if (!s->failed) {
    rc = image_make(s->st, s->snap.last_bytes, &im);
    off = lt_state_applied(s->st);
    covered = s->dirty;
  }
  pthread_mutex_unlock(&s->wlock);
  uint64_t t1 = lt_mono_ns();
  /* everything the snapshot covers must be durable before it is in place */
  if (!rc) rc = lt_log_sync(s->log);
  if (!rc) rc = write_snapshot_file(s, off, im.p, im.len);
  if (im.p) munmap(im.p, im.cap);
  if (!rc) {
    pthread_mutex_lock(&s->wlock);
    s->dirty -= covered;
    pthread_mutex_unlock(&s->wlock);
  }
  lt_store_snapshot_stats_t *st = &s->snap;
  __atomic_add_fetch(rc ? &st->failures : &st->written, 1, __ATOMIC_RELAXED);
  if (!rc) {
    __atomic_store_n(&st->last_lock_ns, t1 - held, __ATOMIC_RELAXED);
    __atomic_store_n(&st->last_ns, lt_mono_ns() - t0, __ATOMIC_RELAXED);
    __atomic_store_n(&st->last_bytes, (uint64_t)im.len, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&s->snap_lock);
  return rc;
}

void lt_store_snapshot_stats(const lt_store_t *s, lt_store_snapshot_stats_t *out) {
  out->written = __atomic_load_n(&s->snap.written, __ATOMIC_RELAXED);
  out->failures = __atomic_load_n(&s->snap.failures, __ATOMIC_RELAXED);
  out->last_lock_ns = __atomic_load_n(&s->snap.last_lock_ns, __ATOMIC_RELAXED);
  out->last_ns = __atomic_load_n(&s->snap.last_ns, __ATOMIC_RELAXED);
  out->last_bytes = __atomic_load_n(&s->snap.last_bytes, __ATOMIC_RELAXED);
}

lt_state_t *lt_store_state(lt_store_t *s) { return s->st; }
lt_log_t *lt_store_log(lt_store_t *s) { return s->log; }
const char *lt_store_dir(const lt_store_t *s) { return s->dir; }
uint64_t lt_store_dirty(const lt_store_t *s) { return s->dirty; }

/* wlock held: waits until no batch is between stages 1 and 3 (invariant 2). */
static void drain(lt_store_t *s) {
  while (s->turn != s->next_ticket)
    pthread_cond_wait(&s->turn_cv, &s->wlock);
}

/* Takes wlock and olock with no batch anywhere in the pipeline: drained,
 * and every applied batch observed (invariant 4). */
static void lock_quiet(lt_store_t *s) {
  pthread_mutex_lock(&s->wlock);
  drain(s);
  pthread_mutex_lock(&s->olock);
  wait_obs_turn(s, s->turn);
}

static void unlock_quiet(lt_store_t *s) {
  pthread_mutex_unlock(&s->olock);
  pthread_mutex_unlock(&s->wlock);
}

int lt_store_recover(lt_store_t *s, lt_log_recovery_t *rep) {
  lt_log_recovery_t local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  pthread_mutex_lock(&s->snap_lock); /* no snapshot syncing the log (lt_store_snapshot) */
  lock_quiet(s);
  int rc = LT_OK;
  if (!s->failed) goto out;
  if (s->broken) {
    rc = LT_ENOMEM;
    snprintf(rep->message, sizeof rep->message,
             "a batch was applied only in part: the store must be reopened");
  } else if (!(rc = lt_log_reopen(s->log, lt_state_applied(s->st), rep))) {
    s->failed = 0;
    s->first_refused = 0;
    __atomic_store_n(&s->failed_ns, 0, __ATOMIC_RELEASE);
    if (s->pending.len) memset(s->pending.keys, 0, s->pending.cap * sizeof *s->pending.keys);
    s->pending.len = 0;
  }
out:
  unlock_quiet(s);
  pthread_mutex_unlock(&s->snap_lock);
  return rc;
}

uint64_t lt_store_failed_since(const lt_store_t *s) {
  return __atomic_load_n(&s->failed_ns, __ATOMIC_ACQUIRE);
}

void lt_store_locked(lt_store_t *s, void (*fn)(void *ctx, lt_state_t *st), void *ctx) {
  lock_quiet(s); /* no batch applied but not yet observed */
  fn(ctx, s->st);
  unlock_quiet(s);
}

void lt_store_set_observer(lt_store_t *s, lt_store_observer_fn fn, lt_store_prepare_fn prepare,
                           void *ctx) {
  lock_quiet(s); /* every batch is observed by the observer it was applied under */
  s->observer = fn;
  s->prepare = prepare;
  s->observer_ctx = ctx;
  unlock_quiet(s);
}

/* ---- lt_store_scan ---------------------------------------------------- */

/* Reading and decoding the log costs about what the consumers of a
 * start-up pass cost, so the scan runs them on two threads: a reader
 * thread reads, checks and decodes into one of two buffers while the
 * calling thread hands the other to fn. Buffers are filled and consumed
 * strictly in turn (0, 1, 0, ...), so the log order holds; a higher-layer
 * record travels alone in a buffer, between the batches around it. A
 * reader's record is valid only until its next call, so payloads are
 * copied into the buffer's arena and decoded from the copy. */
#define SCAN_BATCH 2048       /* records per call of fn */
#define SCAN_ARENA (1u << 20) /* bytes of payload copies per batch */

typedef struct scan_buf {
  lt_record_t *recs;
  size_t n;
  unsigned char *arena;
  size_t acap, used;
  int is_ext; /* holds one higher-layer record: arena[0..used), at lsn */
  uint64_t lsn;
  int full; /* filled by the reader, not consumed yet (under mu) */
} scan_buf_t;

typedef struct scan_job {
  lt_store_t *s;
  lt_store_observer_fn fn;
  lt_store_ext_fn ext;
  void *ctx;
  lt_log_reader_t *rd;
  scan_buf_t buf[2];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done; /* the reader has published its last buffer (under mu) */
  uint64_t limit; /* lt_state_applied(): records from here on were refused */
  uint64_t end;
  int rc;
} scan_job_t;

/* Waits until buf is free (consumed), under mu. */
static void scan_wait_free(scan_job_t *j, scan_buf_t *b) {
  pthread_mutex_lock(&j->mu);
  while (b->full)
    pthread_cond_wait(&j->cv, &j->mu);
  pthread_mutex_unlock(&j->mu);
  b->n = b->used = 0;
  b->is_ext = 0;
}

static void scan_publish(scan_job_t *j, scan_buf_t *b) {
  pthread_mutex_lock(&j->mu);
  b->full = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
}

/* Makes room for len bytes in an empty buffer's arena. */
static int scan_room(scan_buf_t *b, size_t len) {
  if (b->acap >= len) return LT_OK;
  unsigned char *a = realloc(b->arena, len);
  if (!a) return LT_ENOMEM;
  b->arena = a;
  b->acap = len;
  return LT_OK;
}

static void *scan_reader(void *arg) {
  scan_job_t *j = arg;
  int k = 0, rc;
  scan_buf_t *b = &j->buf[0];
  scan_wait_free(j, b);
  const void *p;
  uint32_t len;
  uint64_t off;
  while ((rc = lt_log_reader_next(j->rd, &p, &len, &off)) == 1) {
    if (off >= j->limit) break; /* a refused batch's records (store.c invariant 1) */
    j->end = off + 8 + len; /* frame: u32 length + u32 checksum + payload (log.c) */
    int is_ext = ((const unsigned char *)p)[0] >= LT_REC_EXT_BASE;
    if (b->n && (is_ext || b->n == SCAN_BATCH || b->acap - b->used < len)) {
      scan_publish(j, b); /* the batch so far, then a fresh buffer */
      b = &j->buf[k ^= 1];
      scan_wait_free(j, b);
    }
    if ((rc = scan_room(b, b->used + len))) break;
    memcpy(b->arena + b->used, p, len);
    if (is_ext) {
      b->is_ext = 1;
      b->used = len;
      b->lsn = off;
      scan_publish(j, b);
      b = &j->buf[k ^= 1];
      scan_wait_free(j, b);
      continue;
    }
    if ((rc = lt_record_decode(b->arena + b->used, len, &b->recs[b->n]))) break;
    b->used += len;
    b->n++;
  }
  if (rc >= 0 && b->n) scan_publish(j, b);
  pthread_mutex_lock(&j->mu);
  j->rc = rc < 0 ? rc : LT_OK;
  j->done = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

/* The consumer side; runs as lt_store_locked (no write in progress). */
static void scan_locked(void *ctx, lt_state_t *st) {
  (void)st;
  scan_job_t *j = ctx;
  lt_store_t *s = j->s;
  char *ldir = path_join(s->dir, "log");
  int rc = LT_ENOMEM, ok = ldir != NULL;
  for (int k = 0; k < 2; k++) {
    j->buf[k].recs = malloc(SCAN_BATCH * sizeof *j->buf[k].recs);
    j->buf[k].arena = malloc(SCAN_ARENA);
    j->buf[k].acap = SCAN_ARENA;
    ok = ok && j->buf[k].recs && j->buf[k].arena;
  }
  if (!ok) goto out;
  /* records queued on the log are invisible to a reader: write them out
   * (nothing new comes under the lock; a failure shows below as a short
   * read, as on a store that refuses writes) */
  lt_log_sync(s->log);
  j->limit = lt_state_applied(s->st);
  if ((rc = lt_log_reader_open(ldir, 0, &j->rd))) goto out;
  pthread_t th;
  if (pthread_create(&th, NULL, scan_reader, j)) {
    rc = LT_ENOMEM;
    goto out;
  }
  for (int k = 0;; k ^= 1) {
    scan_buf_t *b = &j->buf[k];
    pthread_mutex_lock(&j->mu);
    while (!b->full && !j->done)
      pthread_cond_wait(&j->cv, &j->mu);
    int full = b->full;
    pthread_mutex_unlock(&j->mu);
    if (!full) break; /* done, and every buffer published was consumed */
    if (!b->is_ext)
      j->fn(j->ctx, b->recs, b->n);
    else if (j->ext)
      j->ext(j->ctx, b->arena, b->used, b->lsn);
    pthread_mutex_lock(&j->mu);
    b->full = 0;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
  }
  pthread_join(th, NULL);
  rc = j->rc;
  /* everything the state has applied must have been read */
  if (!rc && j->end < j->limit) rc = LT_EIO;
out:
  j->rc = rc;
  lt_log_reader_close(j->rd);
  free(ldir);
  for (int k = 0; k < 2; k++) {
    free(j->buf[k].arena);
    free(j->buf[k].recs);
  }
}

int lt_store_scan(lt_store_t *s, lt_store_observer_fn fn, lt_store_ext_fn ext, void *ctx,
                  uint64_t *end) {
  if (!s || !fn) return LT_EINVAL;
  scan_job_t j;
  memset(&j, 0, sizeof j);
  j.s = s;
  j.fn = fn;
  j.ext = ext;
  j.ctx = ctx;
  pthread_mutex_init(&j.mu, NULL);
  pthread_cond_init(&j.cv, NULL);
  lt_store_locked(s, scan_locked, &j);
  pthread_mutex_destroy(&j.mu);
  pthread_cond_destroy(&j.cv);
  if (end) *end = j.end;
  return j.rc;
}
