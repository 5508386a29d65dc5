/*
 * store.h — the durable write path: event log + state + snapshots.
 *
 * A store is one data directory:
 *   DIR/log/        the event log's segments (log/log.h)
 *   DIR/snapshots/  state snapshots, snapshot-<offset hex>.snap
 * Opening loads the newest valid snapshot and replays the log after it,
 * so the state after a restart equals the state before (invariant 1).
 *
 * lt_store_write validates a batch, drops events whose id was already
 * applied or is in a batch still in flight, queues the rest on the log
 * under the writer lock, waits outside it until they are durable per the
 * fsync policy (so concurrent writers share one fsync: group commit), and
 * only then applies them to the state and hands them to the observer, in
 * log order (invariant 2). So the state holds only durable records: a
 * batch refused because the log failed is never visible to reads. After
 * such a failure the store refuses all writes until lt_store_recover (or
 * a close and reopen) brings the log back.
 */
#ifndef LT_STATE_STORE_H
#define LT_STATE_STORE_H

#include "log/log.h"
#include "state/record.h"
#include "state/state.h"

typedef struct lt_store lt_store_t;

/* Called for each record of a higher layer (kind >= LT_REC_EXT_BASE), on
 * replay at open and after each lt_store_write_ext, under the writer lock. */
typedef void (*lt_store_ext_fn)(void *ctx, const void *rec, size_t len, uint64_t lsn);

typedef struct lt_store_opts {
  lt_log_opts_t log;
  lt_state_opts_t state;
  int ignore_snapshots;  /* replay the whole log */
  lt_store_ext_fn ext;   /* may be NULL */
  void *ext_ctx;
} lt_store_opts_t;

void lt_store_opts_default(lt_store_opts_t *o);

typedef struct lt_store_report {
  lt_log_recovery_t log;
  int snapshot_loaded;
  uint64_t snapshot_offset; /* log offset the snapshot covered */
  uint64_t replayed;        /* records replayed after it */
  uint32_t snapshots_rejected;
  double seconds;
  char message[512];
} lt_store_report_t;

/* Opens (creating if needed, mode 0700) the data directory. rep may be
 * NULL. Returns 0, LT_ECORRUPT (log corrupt in the middle and not
 * repair), LT_EIO, ... */
int lt_store_open(const char *dir, const lt_store_opts_t *opts, lt_store_t **out,
                  lt_store_report_t *rep);
/* Flushes the log, writes a snapshot when anything changed since the last
 * one (write_snapshot), and frees. Accepts NULL. */
int lt_store_close(lt_store_t *s, int write_snapshot);

typedef struct lt_write_result {
  uint32_t accepted, duplicates, rejected;
} lt_write_result_t;

/* Writes a batch. status (n entries, may be NULL) receives per record 0,
 * LT_EDUPLICATE or LT_EINVAL; why (may be NULL) a static reason for
 * LT_EINVAL. With atomic, any invalid record makes the whole batch fail
 * with LT_EINVAL and nothing is written. Returns 0 when every valid
 * record is durable and applied; LT_EREADONLY / LT_EIO / LT_ENOSPACE when
 * the log refused (nothing of this batch applied). Of recs, only the
 * dense ids of the events (lt_event_t.ids_set, user_id, item_id) are
 * written: set by applying them, for the observer. */
int lt_store_write(lt_store_t *s, lt_record_t *recs, size_t n, int atomic, int *status,
                   const char **why, lt_write_result_t *res);

/* Called after each successful lt_store_write with the records that were
 * appended and applied (duplicates and invalid ones left out): in log
 * order, never two calls at once, before that write returns; not called
 * on replay. Their events carry the dense ids the state gave them
 * (lt_event_t.ids_set: use lt_state_event_ids). Later batches may be
 * applied to the state meanwhile, a few of them (the observer is the
 * last stage of a pipeline: store.c), so an observer must read the state
 * as any lock-free reader does. Set before writes start. */
typedef void (*lt_store_observer_fn)(void *ctx, const lt_record_t *recs, size_t n);
/* The observer's first half (optional): called with the same records and
 * ctx once the batch is applied, before its observer turn, with no lock
 * held — so on many writer threads at once, and while the observer has
 * earlier batches. It may read the state (as a reader) and keep what it
 * computed for the observer, which is then called with the same recs
 * pointer; it must not touch what the observer writes. Work moved here
 * leaves the serial stage. Not called for a batch that is refused. */
typedef void (*lt_store_prepare_fn)(void *ctx, const lt_record_t *recs, size_t n);
void lt_store_set_observer(lt_store_t *s, lt_store_observer_fn fn, lt_store_prepare_fn prepare,
                           void *ctx);

/* Writes one record of a higher layer: kind >= LT_REC_EXT_BASE followed
 * by its own payload. Durable on return; then the ext callback sees it. */
int lt_store_write_ext(lt_store_t *s, const void *rec, size_t len);

/* Writes a snapshot now (temp file, fsync, rename, fsync dir; keeps the two
 * newest). Writes wait only while the state's image is made in memory
 * (the snapshot's size in RAM for the while); the file is written and
 * synced with writes going on. One snapshot at a time (a second call
 * waits for the first). */
int lt_store_snapshot(lt_store_t *s);

typedef struct lt_store_snapshot_stats {
  uint64_t written, failures; /* since open */
  uint64_t last_lock_ns;      /* the last one written: writes held up this long */
  uint64_t last_ns;           /* ... its whole time, log sync and file fsync included */
  uint64_t last_bytes;
} lt_store_snapshot_stats_t;
void lt_store_snapshot_stats(const lt_store_t *s, lt_store_snapshot_stats_t *out);

/* After a failed write or fsync (every write refused with LT_EREADONLY):
 * waits until no write is in flight, reopens the log in place
 * (lt_log_reopen: every segment verified again, a torn tail cut) and cuts
 * it back to what the state has applied — the records of refused batches
 * that reached the file are dropped, so memory and log agree and a restart
 * gives the same state; a retried batch is written as new. Then writes are
 * accepted again. Blocks writers while it runs (a full verification of
 * the log, as an open does); waits for a snapshot in progress first. rep (may be NULL) gets the log's report.
 * Returns 0 (also when nothing had failed), the reopen's error (the store
 * stays failed: try again later), or LT_ENOMEM when a batch was applied
 * only in part (then only a close and reopen mends the store). */
int lt_store_recover(lt_store_t *s, lt_log_recovery_t *rep);

/* lt_mono_ns() when the store started refusing writes, 0 while it accepts
 * them. Lock-free (for a server deciding when to try lt_store_recover). */
uint64_t lt_store_failed_since(const lt_store_t *s);

/* Forces the log to disk (end of a bulk import with fsync off). */
int lt_store_sync(lt_store_t *s);

/* The state (readers may use it concurrently with writes). */
lt_state_t *lt_store_state(lt_store_t *s);
lt_log_t *lt_store_log(lt_store_t *s);
const char *lt_store_dir(const lt_store_t *s);
/* Records written since the last snapshot. */
uint64_t lt_store_dirty(const lt_store_t *s);

/* Runs fn with no write in progress: no batch being applied, none applied
 * but not yet observed (for consistent reads of many fields, e.g. a report
 * that must not interleave with writes, or a scan handing over to the
 * observer). */
void lt_store_locked(lt_store_t *s, void (*fn)(void *ctx, lt_state_t *st), void *ctx);

/* Hands every record of the log, from its start to its end, to the layers
 * that derive something from it (analytics, ads books, feed policies):
 * core records to fn, decoded, in log order, in batches (as the observer
 * gets them); higher-layer records (kind >= LT_REC_EXT_BASE) to ext (may
 * be NULL) with their offset, in their place in that order. One read and
 * one decode of each record, however many consumers fn and ext chain.
 * Runs as lt_store_locked (no write in progress), after writing out what
 * the log holds queued, so no write interleaves and every record the
 * state has applied is seen: an observer registered right after takes
 * over at the next record (fn and ext must not write to the store). *end (may be NULL) gets the offset after the last record.
 * Returns 0, the reader's error (LT_ECORRUPT, LT_EIO, ...), a decode
 * error, or LT_EIO when the files end before what the state applied. */
int lt_store_scan(lt_store_t *s, lt_store_observer_fn fn, lt_store_ext_fn ext, void *ctx,
                  uint64_t *end);

#endif
