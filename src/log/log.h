/*
 * log.h — the durable append-only event log.
 *
 * Records are opaque, non-empty byte strings (encoded events and catalog
 * changes, made by the state layer). Each record gets a logical offset: a
 * 64-bit position in the stream of all records ever appended, stable across
 * restarts and segment rotations and strictly increasing. State is derived
 * from the log: a reader replays it from any record boundary.
 *
 * The log is a directory of segment files named by their base offset
 * ("00000000000000000000.log", ...). The file format, the invariants and
 * the recovery rules are described at the top of log.c.
 *
 * Durability: lt_log_append returns 0 only when its records are as durable as
 * the fsync policy promises (see lt_fsync_mode_t). After any failed write or
 * fsync the handle refuses all further writes (LT_EREADONLY) until it is
 * closed and reopened, or lt_log_reopen brings it back; nothing that may not
 * be on disk is acknowledged.
 *
 * Threads: one lt_log_t may be used by many threads at once (append, sync,
 * end, bytes); concurrent appenders share one write() + fdatasync() (group
 * commit). lt_log_close must not race with other calls on the same handle.
 * Only one process may have a log open for writing (LT_EBUSY otherwise).
 */
#ifndef LT_LOG_LOG_H
#define LT_LOG_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Largest record payload accepted by lt_log_append (and by readers). */
#define LT_LOG_MAX_RECORD (16u << 20)
/* Default segment size (lt_log_opts_t.segment_bytes == 0). */
#define LT_LOG_DEFAULT_SEGMENT (64ull << 20)
/* Smallest segment size accepted (tests use small segments). */
#define LT_LOG_MIN_SEGMENT 256ull
/* Default fsync interval for LT_FSYNC_INTERVAL when interval_ms == 0. */
#define LT_LOG_DEFAULT_INTERVAL_MS 100u

typedef struct lt_log lt_log_t;

typedef enum {
  /* An append returns only after its records are written and fdatasync'ed.
   * Concurrent appenders share the fsync. The default. */
  LT_FSYNC_BATCH = 0,
  /* An append returns after write(); a background thread fdatasyncs every
   * interval_ms. A machine crash may lose the last interval; a process crash
   * loses nothing acknowledged. */
  LT_FSYNC_INTERVAL = 1,
  /* An append returns after copying into a memory buffer, written out in
   * 1 MiB chunks; fsync only in lt_log_sync and lt_log_close. For bulk
   * imports: a crash may lose anything since the last lt_log_sync. */
  LT_FSYNC_OFF = 2
} lt_fsync_mode_t;

/* Options. A zeroed struct means the defaults. */
typedef struct lt_log_opts {
  lt_fsync_mode_t fsync_mode; /* default LT_FSYNC_BATCH */
  uint32_t interval_ms;       /* LT_FSYNC_INTERVAL period; 0 = 100 ms */
  uint64_t segment_bytes;     /* rotate when a segment would exceed this (file
                                 bytes, header included); 0 = 64 MiB. A record
                                 larger than that gets a segment of its own. */
  int repair;                 /* 1: on corruption in the middle of the log, cut
                                 at the first bad record and move everything
                                 after it into DIR/quarantine/ (nothing is
                                 deleted). 0: refuse to open (LT_ECORRUPT). */
  int read_only;              /* 1: inspect only. Nothing on disk is changed
                                 (a torn tail is reported, not cut), no lock is
                                 taken, appends return LT_EREADONLY. */
} lt_log_opts_t;

/* What lt_log_open found and did. */
typedef struct lt_log_recovery {
  uint64_t end_offset;  /* logical end after recovery */
  uint64_t records;     /* valid records kept in the whole log */
  uint64_t cut_bytes;   /* bytes cut from a torn/corrupt tail (or, with repair,
                           from the first bad record on, later segments included) */
  uint32_t segments;    /* segment files after recovery */
  uint32_t quarantined; /* files written or moved into DIR/quarantine/ */
  char message[256];    /* "clean", or what was cut / what is corrupt and where */
} lt_log_recovery_t;

/* Parses an fsync policy: "batch", "interval:MS" (1 <= MS <= 3600000) or
 * "off", into o->fsync_mode (and o->interval_ms). Other fields untouched.
 * Returns 0 or LT_EINVAL. */
int lt_log_parse_fsync(const char *s, lt_log_opts_t *o);

/* Opens (creating if missing, mode 0700) the log in directory dir, recovers it
 * and makes it ready for appends.
 *  opts: NULL = defaults.
 *  out:  receives the handle (free with lt_log_close); NULL on failure.
 *  rec:  may be NULL; receives the recovery report — also on LT_ECORRUPT /
 *        LT_EVERSION, where rec->message says where the damage is.
 * Recovery verifies every segment header and record checksum. A torn or
 * corrupt tail of the last segment (nothing valid after the first bad byte)
 * is cut; its bytes, unless all zero, are first saved in DIR/quarantine/.
 * Damage followed by valid data fails with LT_ECORRUPT unless opts->repair.
 * Returns 0, LT_ECORRUPT, LT_EVERSION (a segment of another format version),
 * LT_EBUSY (opened for writing by another handle or process), LT_ENOTFOUND
 * (read_only and dir missing), LT_EINVAL, LT_ENOMEM, LT_EIO, LT_ENOSPACE. */
int lt_log_open(const char *dir, const lt_log_opts_t *opts, lt_log_t **out, lt_log_recovery_t *rec);

/* Writes out anything buffered, fdatasyncs, stops the background thread and
 * frees the handle. Accepts NULL. Returns 0, or the error of the final
 * flush, or LT_EREADONLY if the handle had failed earlier (then records
 * acknowledged under LT_FSYNC_OFF since the last successful write may be
 * lost). The handle is freed in every case. */
int lt_log_close(lt_log_t *log);

/* Appends n records as one group, at consecutive offsets: record i is
 * recs[i][0..lens[i]), 1 <= lens[i] <= LT_LOG_MAX_RECORD. The bytes are
 * copied; the caller keeps ownership. When it returns 0 the records are
 * durable per the fsync policy, and *first_offset (may be NULL) holds the
 * logical offset of recs[0] (record i+1 follows at offset(i) + 8 + lens[i]).
 * A group is not atomic across a crash: an unacknowledged group may survive
 * as a prefix. Thread-safe.
 * Returns 0, LT_EINVAL (bad arguments, empty record), LT_ETOOBIG (record
 * over LT_LOG_MAX_RECORD or group over 1 GiB), LT_ENOMEM, or the error of a
 * failed write/fsync (LT_EIO, LT_ENOSPACE) for the calls whose records were
 * in flight; LT_EREADONLY for every call after that (and on read_only). */
int lt_log_append(lt_log_t *log, const void *const *recs, const uint32_t *lens, size_t n,
                  uint64_t *first_offset);

/* The two halves of lt_log_append, for a caller that must order records
 * under its own lock but should not hold that lock through an fsync (the
 * store): lt_log_enqueue assigns offsets and queues the group (ordered
 * after every earlier append) without waiting; *end (may be NULL) gets the
 * offset after the group. lt_log_wait(log, end) then returns once
 * everything below end is durable per the fsync policy, sharing the fsync
 * with every other waiter (group commit). Same errors as lt_log_append; a
 * queued group whose wait fails is not acknowledged and may or may not
 * survive. */
int lt_log_enqueue(lt_log_t *log, const void *const *recs, const uint32_t *lens, size_t n,
                   uint64_t *first_offset, uint64_t *end);
int lt_log_wait(lt_log_t *log, uint64_t end);

/* Brings a handle that failed (a write or fsync error: every append gets
 * LT_EREADONLY) back into service without closing it, so pointers to it
 * stay valid: drops whatever was queued but not written, closes the
 * segment, runs the open-time recovery again (every segment header and
 * frame checksum verified, a torn tail cut), and then cuts the log back
 * to keep: segments starting after keep are moved into DIR/quarantine/,
 * the one holding keep is truncated there, synced. keep must be a record
 * boundary at or below what the reopened log holds — the end of what the
 * caller acknowledged (the store: what it applied); the records after it
 * were refused, so cutting them keeps "a refused write is never visible".
 * The caller guarantees that no other call is in flight on the handle
 * (lt_log_end, lt_log_bytes and the counters excepted). rec (may be NULL)
 * gets the recovery report; its message also says what was cut.
 * Returns 0 (appends accepted again), LT_EINVAL (not failed, read-only),
 * LT_ECORRUPT (the log holds less than keep: acknowledged records are gone,
 * e.g. under LT_FSYNC_OFF; or damage in the middle), or the recovery's
 * error (LT_EIO, LT_ENOSPACE, ...); on an error the handle stays failed. */
int lt_log_reopen(lt_log_t *log, uint64_t keep, lt_log_recovery_t *rec);

/* Writes out everything buffered and fdatasyncs it, whatever the policy.
 * Returns 0, the failing write/fsync's error, or LT_EREADONLY. */
int lt_log_sync(lt_log_t *log);

/* Logical offset just after the last appended record (durable or still
 * buffered). */
uint64_t lt_log_end(const lt_log_t *log);

/* Total bytes of the segment files on disk (headers included). */
uint64_t lt_log_bytes(const lt_log_t *log);

/* Reader: replays records in offset order. */
typedef struct lt_log_reader lt_log_reader_t;

/* Opens a reader of the log in dir, starting at from_offset, which must be a
 * record boundary (an offset returned by lt_log_append or a reader, or
 * lt_log_end); 0 = the first record kept. Works standalone on a directory or
 * beside an open lt_log_t (it sees what has been written to the files:
 * records buffered under LT_FSYNC_OFF appear once written out). Changes
 * nothing on disk. Free with lt_log_reader_close.
 * Returns 0, LT_ENOTFOUND (no directory), LT_ERANGE (from_offset outside the
 * log), LT_ECORRUPT, LT_EVERSION, LT_ENOMEM, LT_EIO. */
int lt_log_reader_open(const char *dir, uint64_t from_offset, lt_log_reader_t **out);

/* Next record. Returns 1 and sets *rec (points into the reader's buffer,
 * valid until the next call or close), *len and *offset (its logical offset;
 * any of the three may be NULL); 0 at the end of what is on disk now (a
 * later call may return more, as the log grows); or < 0: LT_ECORRUPT (with
 * *offset set to where the damage starts; the error is sticky), LT_EVERSION,
 * LT_EIO, LT_ENOMEM. A record failing its checksum is never returned. A
 * partial record at the very end of the log (being written, or a torn tail
 * not yet recovered) counts as the end. */
int lt_log_reader_next(lt_log_reader_t *r, const void **rec, uint32_t *len, uint64_t *offset);

/* Frees the reader. Accepts NULL. */
void lt_log_reader_close(lt_log_reader_t *r);

/* ---- test and diagnostics hooks ---- */

/* fdatasync/fsync calls made by this handle so far (data, new segments,
 * directories): lets tests check that group commit batches. */
uint64_t lt_log_fsync_count(const lt_log_t *log);

/* Latency of the data fdatasyncs so far: counts[b] of them took at most
 * lt_log_fsync_bounds_us[b] microseconds (and more than the bucket before);
 * counts[LT_LOG_FSYNC_BUCKETS] took longer than the last bound; *sum_ns is
 * their total time. For /metrics. */
#define LT_LOG_FSYNC_BUCKETS 8
extern const uint32_t lt_log_fsync_bounds_us[LT_LOG_FSYNC_BUCKETS];
void lt_log_fsync_latency(const lt_log_t *log, uint64_t counts[LT_LOG_FSYNC_BUCKETS + 1],
                          uint64_t *sum_ns);

typedef enum {
  LT_LOG_FAULT_WRITE = 1,
  LT_LOG_FAULT_FSYNC = 2,
  LT_LOG_FAULT_STICKY = 4 /* or'ed in: every such call fails until cleared */
} lt_log_fault_t;
/* Makes the next data write (after writing half of its bytes: a short write)
 * or the next data fdatasync of this handle fail with errno err. With
 * LT_LOG_FAULT_STICKY or'ed into where, every one fails (a fault that
 * persists, e.g. a dead disk) until the same call with err = 0 clears it;
 * lt_log_reopen itself does no data write or data fdatasync, so it
 * succeeds meanwhile and the next write fails again. */
void lt_log_inject_fault(lt_log_t *log, int where, int err);

#endif
