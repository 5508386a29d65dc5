/*
 * store.c — data directory = log + state + snapshots (see store.h).
 *
 * States of a store: OPEN (accepting writes) -> FAILED (the log refused a
 * write or fsync: every later write gets LT_EREADONLY until the store is
 * closed and reopened, which replays the log and so rebuilds a state that
 * matches exactly what is durable) -> CLOSED.
 *
 * Writes are a pipeline of two stages, each under a lock of its own:
 *   1. under wlock: check, encode, append to the log, apply to the state;
 *   2. under olock: the observer (the derived views: feed, stats, ads).
 * A writer takes olock before it releases wlock, so observers see batches
 * in log order, one at a time, while the next batch goes through stage 1
 * (two cores ingest at once). Accepted records alternate between two
 * buffers: batch k's are read by its observer while batch k+1 fills the
 * other, and batch k+2 can only start filling k's buffer once k+1 holds
 * olock, i.e. once k's observer is done. Higher-layer records (ext) and
 * lt_store_locked take both locks, so they see no batch half observed.
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
  pthread_mutex_t olock; /* stage 2: the observer (taken before wlock is let go) */
  lt_buf_t enc;     /* encoded batch (under wlock) */
  const void **recp; /* record pointers into enc */
  uint32_t *lens;
  size_t rcap;
  lt_u64map_t batch_ids; /* ids seen in the current batch */
  lt_record_t *acc[2];   /* accepted records of a batch, in log order: batches alternate */
  size_t acap[2];
  unsigned accx; /* the buffer the next batch fills (under wlock) */
  lt_store_observer_fn observer;
  void *observer_ctx;
  uint64_t dirty;        /* records since the last snapshot */
  int failed;
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

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return lt_err_from_errno(errno);
  int rc = fsync(fd) ? lt_err_from_errno(errno) : LT_OK;
  close(fd);
  return rc;
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
  lt_buf_init(&s->enc);
  lt_u64map_init(&s->batch_ids);
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
  lt_u64map_clear(&s->batch_ids);
  free(s->recp);
  free(s->lens);
  free(s->acc[0]);
  free(s->acc[1]);
  free(s->dir);
  pthread_mutex_destroy(&s->wlock);
  pthread_mutex_destroy(&s->olock);
  free(s);
  return rc;
}

static int reserve_ptrs(lt_store_t *s, size_t n) {
  unsigned x = s->accx;
  if (n > s->acap[x]) {
    lt_record_t *a = realloc(s->acc[x], n * sizeof *a);
    if (!a) return LT_ENOMEM;
    s->acc[x] = a;
    s->acap[x] = n;
  }
  if (n <= s->rcap) return LT_OK;
  const void **rp = realloc(s->recp, n * sizeof *rp);
  if (!rp) return LT_ENOMEM;
  s->recp = rp;
  uint32_t *ln = realloc(s->lens, n * sizeof *ln);
  if (!ln) return LT_ENOMEM;
  s->lens = ln;
  s->rcap = n;
  return LT_OK;
}

/* Queues the records in s->enc (n of them, lengths in s->lens) on the log
 * and applies them; *end gets the log offset to wait for (lt_log_wait,
 * after releasing wlock, so concurrent writers share one fsync). recs (may
 * be NULL: decode the encoded bytes) are the same records already
 * decoded, which saves a decode on the hot path; applying stores the
 * events' dense ids in them for the observer. Caller holds wlock. */
static int append_and_apply(lt_store_t *s, size_t n, lt_record_t *recs, uint64_t *end) {
  *end = 0;
  if (!n) return LT_OK;
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    s->recp[i] = s->enc.p + off;
    off += s->lens[i];
  }
  uint64_t first;
  int rc = lt_log_enqueue(s->log, s->recp, s->lens, n, &first, end);
  if (rc) {
    if (rc != LT_ETOOBIG && rc != LT_EINVAL) s->failed = 1;
    return rc;
  }
  uint64_t lsn = first;
  for (size_t i = 0; i < n; i++) {
    if (recs) {
      rc = lt_state_apply(s->st, &recs[i], lsn);
      if (rc == LT_EDUPLICATE) rc = LT_OK;
    } else {
      rc = apply_encoded(s, s->recp[i], s->lens[i], lsn);
    }
    if (rc) return rc; /* ENOMEM */
    lsn += 8 + s->lens[i]; /* log frame: u32 length + u32 checksum + payload */
  }
  lt_state_set_applied(s->st, lt_log_end(s->log));
  s->dirty += n;
  return LT_OK;
}

/* Waits (outside wlock) until the log is durable up to end. A failure
 * means applied-but-not-durable records: the store refuses writes until
 * reopened, which rebuilds the state from the log. */
static int wait_durable(lt_store_t *s, uint64_t end) {
  int rc = end ? lt_log_wait(s->log, end) : LT_OK;
  if (rc) {
    pthread_mutex_lock(&s->wlock);
    s->failed = 1;
    pthread_mutex_unlock(&s->wlock);
  }
  return rc;
}

int lt_store_write(lt_store_t *s, const lt_record_t *recs, size_t n, int atomic, int *status,
                   const char **why, lt_write_result_t *res) {
  lt_write_result_t r = {0, 0, 0};
  int rc = LT_OK;
  pthread_mutex_lock(&s->wlock);
  if (s->failed) {
    rc = LT_EREADONLY;
    goto out;
  }
  if ((rc = reserve_ptrs(s, n))) goto out;
  lt_buf_reset(&s->enc);
  s->batch_ids.len = 0;
  if (s->batch_ids.cap) memset(s->batch_ids.keys, 0, s->batch_ids.cap * sizeof(uint64_t));
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *reason = NULL;
    int st = lt_record_check(&recs[i], &reason);
    if (!st && recs[i].kind == LT_REC_EVENT && recs[i].u.ev.id.n) {
      lt_str_t id = recs[i].u.ev.id;
      uint64_t key = lt_u64map_key(lt_hash64(id.p, id.n)), *slot;
      int created = 0;
      if (lt_state_event_seen(s->st, id)) st = LT_EDUPLICATE;
      else if ((rc = lt_u64map_upsert(&s->batch_ids, key, &slot, &created))) goto out;
      else if (!created) st = LT_EDUPLICATE;
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
    if ((rc = lt_record_encode(&recs[i], &s->enc))) goto out;
    s->acc[s->accx][m] = recs[i];
    s->lens[m++] = (uint32_t)(s->enc.len - before);
  }
  if (atomic && r.rejected) {
    rc = LT_EINVAL;
    r.duplicates = 0;
    goto out;
  }
  uint64_t end = 0;
  lt_record_t *acc = s->acc[s->accx];
  if ((rc = append_and_apply(s, m, acc, &end))) goto out;
  r.accepted = (uint32_t)m;
  s->accx ^= 1;
  pthread_mutex_lock(&s->olock); /* stage 2, in log order (design note) */
  pthread_mutex_unlock(&s->wlock);
  if (s->observer && m) s->observer(s->observer_ctx, acc, m);
  pthread_mutex_unlock(&s->olock);
  /* durability outside the lock: writers that queued meanwhile share the fsync */
  if ((rc = wait_durable(s, end))) r.accepted = 0;
  if (res) *res = r;
  return rc;
out:
  pthread_mutex_unlock(&s->wlock);
  if (res) *res = r;
  return rc;
}

int lt_store_write_ext(lt_store_t *s, const void *rec, size_t len) {
  if (!len || ((const unsigned char *)rec)[0] < LT_REC_EXT_BASE || len > (16u << 20))
    return LT_EINVAL;
  uint64_t end = 0;
  pthread_mutex_lock(&s->wlock);
  pthread_mutex_lock(&s->olock); /* the ext callback after every earlier batch's observer */
  int rc = s->failed ? LT_EREADONLY : reserve_ptrs(s, 1);
  if (!rc) {
    lt_buf_reset(&s->enc);
    lt_buf_put(&s->enc, rec, len);
    s->lens[0] = (uint32_t)len;
    rc = s->enc.err ? s->enc.err : append_and_apply(s, 1, NULL, &end);
  }
  pthread_mutex_unlock(&s->olock);
  pthread_mutex_unlock(&s->wlock);
  if (!rc) rc = wait_durable(s, end);
  return rc;
}

int lt_store_sync(lt_store_t *s) {
  pthread_mutex_lock(&s->wlock);
  int rc = s->failed ? LT_EREADONLY : lt_log_sync(s->log);
  if (rc && rc != LT_EREADONLY) s->failed = 1;
  pthread_mutex_unlock(&s->wlock);
  return rc;
}

static int snapshot_locked(lt_store_t *s) {
  char *sdir = path_join(s->dir, "snapshots"), *tmp = NULL, *final = NULL;
  FILE *f = NULL;
  int rc = LT_ENOMEM, fd = -1;
  char name[64];
  if (!sdir || !(tmp = path_join(sdir, "snapshot.tmp"))) goto out;
  /* everything the snapshot covers must be durable first */
  if ((rc = lt_log_sync(s->log))) goto out;
  uint64_t off = lt_state_applied(s->st);
  snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".snap", off);
  if (!(final = path_join(sdir, name))) goto out;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || !(f = fdopen(fd, "wb"))) {
    rc = lt_err_from_errno(errno);
    goto out;
  }
  fd = -1;
  if ((rc = lt_state_save(s->st, f))) goto out;
  if (fsync(fileno(f))) {
    rc = lt_err_from_errno(errno);
    goto out;
  }
  if (fclose(f)) {
    f = NULL;
    rc = LT_EIO;
    goto out;
  }
  f = NULL;
  if (rename(tmp, final)) {
    rc = lt_err_from_errno(errno);
    goto out;
  }
  if ((rc = fsync_dir(sdir))) goto out;
  s->dirty = 0;
  /* keep the two newest */
  uint64_t offs[64];
  size_t n = list_snapshots(sdir, offs, 64);
  for (size_t i = 2; i < n; i++) {
    snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".snap", offs[i]);
    char *old = path_join(sdir, name);
    if (old) unlink(old);
    free(old);
  }
out:
  if (f) fclose(f);
  if (fd >= 0) close(fd);
  if (rc && tmp) unlink(tmp);
  free(sdir);
  free(tmp);
  free(final);
  return rc;
}

int lt_store_snapshot(lt_store_t *s) {
  pthread_mutex_lock(&s->wlock);
  int rc = s->failed ? LT_EREADONLY : snapshot_locked(s);
  pthread_mutex_unlock(&s->wlock);
  return rc;
}

void lt_store_set_observer(lt_store_t *s, lt_store_observer_fn fn, void *ctx) {
  pthread_mutex_lock(&s->wlock);
  pthread_mutex_lock(&s->olock);
  s->observer = fn;
  s->observer_ctx = ctx;
  pthread_mutex_unlock(&s->olock);
  pthread_mutex_unlock(&s->wlock);
}

lt_state_t *lt_store_state(lt_store_t *s) { return s->st; }
lt_log_t *lt_store_log(lt_store_t *s) { return s->log; }
const char *lt_store_dir(const lt_store_t *s) { return s->dir; }
uint64_t lt_store_dirty(const lt_store_t *s) { return s->dirty; }

void lt_store_locked(lt_store_t *s, void (*fn)(void *ctx, lt_state_t *st), void *ctx) {
  pthread_mutex_lock(&s->wlock);
  pthread_mutex_lock(&s->olock); /* no batch applied but not yet observed */
  fn(ctx, s->st);
  pthread_mutex_unlock(&s->olock);
  pthread_mutex_unlock(&s->wlock);
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
  if (!rc && j->end < lt_log_end(s->log)) rc = LT_EIO;
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
