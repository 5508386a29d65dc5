/*
 * log.c — the durable append-only event log (API in log.h).
 *
 * Every write to laotie (events, catalog changes) is appended here before it
 * is applied to state, and state is rebuilt by replaying the log. So the log
 * must (a) never acknowledge what a crash can lose, (b) never hand a reader a
 * damaged record, (c) come back after any crash with every acknowledged
 * record, and (d) be fast: one write + fsync shared by concurrent appenders,
 * no syscall per record for bulk imports.
 *
 * ON DISK
 *   DIR/                    mode 0700
 *     LOCK                  empty; flock()ed by the one writing handle
 *     <base>.log            segments, mode 0600, base = 20 decimal digits
 *     <base>.log.tmp        a segment being created (removed at open)
 *     quarantine/           bytes cut by recovery, kept for people, never read
 *
 *   A segment is a 32-byte header followed by frames, back to back:
 *     header  off len
 *              0   8  magic "LAOTIELG"
 *              8   4  format version, u32 = 1
 *             12   4  reserved, 0
 *             16   8  base offset, u64 (equals the number in the file name)
 *             24   4  reserved, 0
 *             28   4  header checksum = low 32 bits of XXH3-64(bytes 0..27)
 *     frame    0   4  len, u32, 1..LT_LOG_MAX_RECORD
 *              4   4  crc, u32 = low 32 bits of
 *                       XXH3-64(payload, seed = len) ^ mix64(offset ^ OFF_SEED)
 *              8 len  payload
 *   Integers are little-endian. The logical offset of a frame is
 *     segment base + (file position of the frame - 32),
 *   so offsets count frame bytes only: the frame stream is contiguous across
 *   segments, a log's first record is at offset 0, and a new segment's base is
 *   the previous base + the previous file size - 32. The crc binds length,
 *   payload and offset together: a frame shifted, copied or left over at
 *   another position fails its check, and an all-zero frame never passes
 *   (len 0 is invalid).
 *
 * INVARIANTS
 *  1. Segments are contiguous: base[i+1] == base[i] + size[i] - 32; every
 *     segment but the last holds whole valid frames only.
 *  2. A segment appears under its final name only with a complete, synced
 *     header (written as .tmp, fdatasync, rename, fsync(DIR)), and a segment
 *     stops being the last only after its data was fdatasynced (rotate()).
 *     Hence after a crash only the last segment can end torn.
 *  3. pend_start + pend_len == asg_end: pend holds the frames of
 *     [pend_start, asg_end) not yet taken by a leader; rot[] lists the offsets
 *     in that range where a new segment must start.
 *  4. durable_end <= written_end <= pend_start <= asg_end. written_end moves
 *     only after a complete write, durable_end only after an fdatasync that
 *     covers it; appends are acknowledged against these, per fsync policy.
 *  5. At most one thread at a time — the leader, flushing == 1 — owns fd,
 *     seg_base, seg_fsize and the files; it does its I/O without the mutex.
 *  6. failed is sticky: after a failed write or fsync nothing more is written
 *     and every append fails until the log is closed and reopened, or
 *     lt_log_reopen() verified it again and cut it back.
 *  7. Readers and recovery only ever accept frames whose crc checks, and
 *     never allocate more than LT_LOG_MAX_RECORD + 8 for one.
 *
 * STATES AND WHO MOVES THEM
 *   opening   lt_log_open -> recover(): verify every header and frame; cut a
 *             torn tail, refuse middle damage (or repair: cut + quarantine)
 *             -> ready, writer fd on the last segment.
 *   a record  lt_log_append: copied into pend (buffered) -> flush_locked(),
 *             run by a leader: written (write_out(), rotate() on the way) ->
 *             durable (fdatasync; or by bg_main() every interval_ms).
 *   failed    flush_locked() on any write/fsync error (write_out() first cuts
 *             the file back to the last whole frame); sticky.
 *   failed -> ready: lt_log_reopen(keep): recover() again, cut back to keep
 *             (cut_back()), recover() once more; failed cleared.
 *   closed    lt_log_close: commit_locked(durable), free.
 *
 * GROUP COMMIT (commit_locked)
 *   Under the mutex an appender copies its frames into pend and notes the
 *   offset its group ends at. If no flush is running it becomes the leader:
 *   it swaps pend for the spare buffer, unlocks, writes (and fdatasyncs),
 *   relocks, advances written_end/durable_end and broadcasts. Otherwise it
 *   waits on the condvar until its end offset is written/durable — usually
 *   by a later leader that carries many groups in one write + fsync.
 *   LT_FSYNC_OFF appenders never wait: whoever pushes pend past 1 MiB writes
 *   it out (without fsync).
 *
 * RECOVERY (recover())
 *   Scans segments in order. At the first bad thing (bad header, gap between
 *   segments, a frame that fails its check or does not fit):
 *   - in the last segment, after a good header: scan forward, byte by byte,
 *     for any later valid frame (at its own offset). None -> a torn tail: cut
 *     it (ftruncate + fsync), keeping its bytes in quarantine/ unless all zero.
 *     One found -> middle damage. A scan that would hash too much (hostile
 *     file) also counts as middle damage: it refuses rather than guesses.
 *   - anywhere else: middle damage.
 *   Middle damage fails with LT_ECORRUPT and a message saying where, unless
 *   repair: then the bad segment is cut at the damage, the cut bytes and all
 *   later segments move to quarantine/ (copied/renamed and synced before the
 *   cut, so a crash during repair loses nothing and a rerun finishes it).
 *   Known limit: after a power loss (not a process crash), pages of the last
 *   unsynced write may land out of order, leaving a hole before valid frames;
 *   that unacknowledged tail then reads as middle damage and needs repair.
 */
#include "log/log.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HDR_SIZE 32u
#define FRAME_HDR 8u
#define MAGIC "LAOTIELG"
#define FORMAT_VERSION 1u
#define OFF_SEED 0x6c616f7469656c67ull /* "laotielg" */
#define SEG_NAME_LEN 24                /* 20 digits + ".log" */
#define NAME_MAX_LEN 64
#define OFF_CHUNK (1u << 20)       /* LT_FSYNC_OFF: write out pend in chunks this big */
#define OFF_MAX_PEND (8u << 20)    /* ...and make appenders wait beyond this */
#define GROUP_MAX (1ull << 30)     /* bytes of frames in one lt_log_append */
#define WIN_MIN (1u << 20)         /* read window of readers and recovery */
#define SCAN_BUDGET (256ull << 20) /* hashing allowed in the forward scan, + 4x the tail */
#define INTERVAL_MAX_MS 3600000u

enum { FR_OK = 0, FR_PARTIAL = 1, FR_BAD = 2 };
enum { WANT_WRITTEN = 1, WANT_DURABLE = 2 };

struct lt_log {
  lt_log_opts_t o;
  int dirfd, lockfd;
  /* Leader-owned (invariant 5): the segment being written. */
  int fd;
  uint64_t seg_base, seg_fsize;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* a flush finished or the log failed */
  /* Under mu. */
  unsigned char *pend, *spare;
  size_t pend_len, pend_cap, spare_cap;
  uint64_t pend_start;
  uint64_t *rot, *spare_rot;
  size_t nrot, rot_cap, spare_rot_cap;
  uint64_t asg_end;      /* also read atomically by lt_log_end */
  uint64_t asg_seg_base; /* base of the segment pend's last frame goes to */
  uint64_t written_end, durable_end;
  int flushing;
  int failed, fail_rc;
  /* Interval thread. */
  pthread_t bg;
  pthread_cond_t bg_cv;
  int bg_started, bg_stop;
  /* Atomic counters and test hooks. */
  uint64_t disk_bytes, fsyncs;
  uint64_t fsync_ns, fsync_hist[LT_LOG_FSYNC_BUCKETS + 1]; /* data fsyncs' latency */
  uint32_t nsegs;
  int fault_write, fault_fsync;
  int sticky_write, sticky_fsync; /* LT_LOG_FAULT_STICKY: fail until cleared */
};

/* ---- small helpers ---- */

static uint32_t frame_crc(uint64_t off, const void *p, uint32_t len) {
  return (uint32_t)(lt_hash64_seed(p, len, len) ^ lt_mix64(off ^ OFF_SEED));
}

static void seg_name(char out[NAME_MAX_LEN], uint64_t base) {
  snprintf(out, NAME_MAX_LEN, "%020" PRIu64 ".log", base);
}

/* 1 and *base if name is a segment file name, else 0. */
static int seg_parse(const char *name, uint64_t *base) {
  if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".log") != 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    unsigned d = (unsigned)(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *base = v;
  return 1;
}

static int errno_rc(void) { return lt_err_from_errno(errno); }

/* snprintf for human messages, where cutting a long message short is fine. */
__attribute__((format(printf, 3, 4))) static void msgf(char *dst, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, n, fmt, ap);
  va_end(ap);
}

static int pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, (char *)p + done, n - done, (off_t)(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_rc();
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  *got = done;
  return 0;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pwrite(fd, (const char *)p + done, n - done, (off_t)(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_rc();
    }
    if (r == 0) return LT_EIO;
    done += (size_t)r;
  }
  return 0;
}

/* fdatasync (data = 1; the test hook may fail it) or fsync, counted. */
static int sync_fd(lt_log_t *log, int fd, int data) {
  __atomic_add_fetch(&log->fsyncs, 1, __ATOMIC_RELAXED);
  if (data) {
    int e = __atomic_exchange_n(&log->fault_fsync, 0, __ATOMIC_ACQ_REL);
    if (!e) e = __atomic_load_n(&log->sticky_fsync, __ATOMIC_ACQUIRE);
    if (e) return lt_err_from_errno(e);
  }
  int r;
  uint64_t t0 = lt_mono_ns();
  do
    r = data ? fdatasync(fd) : fsync(fd);
  while (r < 0 && errno == EINTR);
  if (data) {
    uint64_t ns = lt_mono_ns() - t0;
    size_t b = 0;
    while (b < LT_LOG_FSYNC_BUCKETS && ns > lt_log_fsync_bounds_us[b] * 1000ull) b++;
    __atomic_add_fetch(&log->fsync_hist[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&log->fsync_ns, ns, __ATOMIC_RELAXED);
  }
  return r < 0 ? errno_rc() : 0;
}

static int sync_dir(lt_log_t *log, int dfd) {
  int rc = sync_fd(log, dfd, 0);
  return rc == LT_EINVAL ? 0 : rc; /* some filesystems cannot fsync directories */
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int file_size(int fd, uint64_t *size) {
  struct stat st;
  if (fstat(fd, &st) < 0) return errno_rc();
  *size = (uint64_t)st.st_size;
  return 0;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Lists segment bases in dfd, ascending (*bases malloc'd, may be NULL when
 * *n == 0). remove_tmp: also delete leftover "<segment>.tmp" files. */
static int list_segments(int dfd, int remove_tmp, uint64_t **bases, size_t *n) {
  *bases = NULL;
  *n = 0;
  int d = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return errno_rc();
  DIR *dp = fdopendir(d);
  if (!dp) {
    int rc = errno_rc();
    close(d);
    return rc;
  }
  uint64_t *v = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  for (;;) {
    errno = 0;
    if (!(de = readdir(dp))) {
      if (errno) rc = errno_rc();
      break;
    }
    uint64_t b;
    size_t nl = strlen(de->d_name);
    if (remove_tmp && nl == SEG_NAME_LEN + 4 && strcmp(de->d_name + SEG_NAME_LEN, ".tmp") == 0) {
      char segpart[NAME_MAX_LEN];
      memcpy(segpart, de->d_name, SEG_NAME_LEN);
      segpart[SEG_NAME_LEN] = 0;
      if (seg_parse(segpart, &b)) unlinkat(dfd, de->d_name, 0);
      continue;
    }
    if (!seg_parse(de->d_name, &b)) continue;
    if (len == cap) {
      size_t nc = cap ? cap * 2 : 16;
      uint64_t *nv = realloc(v, nc * sizeof *nv);
      if (!nv) {
        rc = LT_ENOMEM;
        break;
      }
      v = nv;
      cap = nc;
    }
    v[len++] = b;
  }
  closedir(dp);
  if (rc) {
    free(v);
    return rc;
  }
  if (len) qsort(v, len, sizeof *v, u64_cmp);
  *bases = v;
  *n = len;
  return 0;
}

/* ---- headers and frames ---- */

static void hdr_encode(unsigned char h[HDR_SIZE], uint64_t base) {
  memset(h, 0, HDR_SIZE);
  memcpy(h, MAGIC, 8);
  lt_store_u32le(h + 8, FORMAT_VERSION);
  lt_store_u64le(h + 16, base);
  lt_store_u32le(h + 28, (uint32_t)lt_hash64(h, 28));
}

/* Checks a header read from a file of fsize bytes (h holds min(fsize, 32)).
 * Version is checked before the checksum: a future format may lay out the
 * rest of its header differently. */
static int hdr_check(const unsigned char *h, uint64_t fsize, uint64_t want_base, char *why,
                     size_t whysz) {
  if (fsize < HDR_SIZE) {
    snprintf(why, whysz, "short header (%" PRIu64 " bytes)", fsize);
    return LT_ECORRUPT;
  }
  if (memcmp(h, MAGIC, 8) != 0) {
    snprintf(why, whysz, "bad magic");
    return LT_ECORRUPT;
  }
  uint32_t ver = lt_load_u32le(h + 8);
  if (ver != FORMAT_VERSION) {
    snprintf(why, whysz, "format version %" PRIu32 " (this build reads %u)", ver, FORMAT_VERSION);
    return LT_EVERSION;
  }
  if (lt_load_u32le(h + 28) != (uint32_t)lt_hash64(h, 28)) {
    snprintf(why, whysz, "header checksum mismatch");
    return LT_ECORRUPT;
  }
  if (lt_load_u32le(h + 12) || lt_load_u32le(h + 24)) {
    snprintf(why, whysz, "reserved header bytes set");
    return LT_ECORRUPT;
  }
  if (lt_load_u64le(h + 16) != want_base) {
    snprintf(why, whysz, "header base %" PRIu64 " does not match the file name",
             lt_load_u64le(h + 16));
    return LT_ECORRUPT;
  }
  return 0;
}

/* A read window over one segment file: pread()s at least WIN_MIN bytes at a
 * time, and at most LT_LOG_MAX_RECORD + 8 are ever needed at once. */
typedef struct win {
  int fd;
  uint64_t fsize; /* file size as last known */
  unsigned char *buf;
  size_t cap;
  uint64_t start; /* file position of buf[0] */
  size_t len;     /* valid bytes in buf */
  uint64_t hashed;
} win_t;

static void win_reset(win_t *w, int fd, uint64_t fsize) {
  w->fd = fd;
  w->fsize = fsize;
  w->start = 0;
  w->len = 0;
}

/* Points *out at file bytes [pos, pos + n), n <= LT_LOG_MAX_RECORD + 8 and
 * pos + n <= fsize. Returns 0, 1 if the file turned out shorter, or < 0. */
static int win_get(win_t *w, uint64_t pos, size_t n, const unsigned char **out) {
  if (pos >= w->start && pos + n <= w->start + w->len) {
    *out = w->buf + (pos - w->start);
    return 0;
  }
  size_t want = n > WIN_MIN ? n : WIN_MIN;
  if (want > w->fsize - pos) want = (size_t)(w->fsize - pos);
  if (want > w->cap) {
    size_t nc = want > WIN_MIN ? want : WIN_MIN;
    unsigned char *nb = realloc(w->buf, nc);
    if (!nb) return LT_ENOMEM;
    w->buf = nb;
    w->cap = nc;
  }
  size_t got = 0;
  w->len = 0;
  int rc = pread_all(w->fd, w->buf, want, pos, &got);
  if (rc) return rc;
  w->start = pos;
  w->len = got;
  if (got < n) return 1;
  *out = w->buf;
  return 0;
}

/* Examines the frame at file position fpos of a segment with base `base`.
 * FR_OK (and *len, *payload, valid until the next win_get), FR_PARTIAL (the
 * file ends inside the frame), FR_BAD (impossible length or crc), or < 0. */
static int frame_at(win_t *w, uint64_t base, uint64_t fpos, uint32_t *lenp,
                    const unsigned char **payload) {
  if (fpos > w->fsize || w->fsize - fpos < FRAME_HDR) return FR_PARTIAL;
  const unsigned char *h;
  int rc = win_get(w, fpos, FRAME_HDR, &h);
  if (rc) return rc < 0 ? rc : FR_PARTIAL;
  uint32_t len = lt_load_u32le(h), crc = lt_load_u32le(h + 4);
  if (len == 0 || len > LT_LOG_MAX_RECORD) return FR_BAD;
  if (w->fsize - fpos - FRAME_HDR < len) return FR_PARTIAL;
  rc = win_get(w, fpos, FRAME_HDR + (size_t)len, &h);
  if (rc) return rc < 0 ? rc : FR_PARTIAL;
  /* A re-read may see newer bytes than the first (a live file cut back and
   * rewritten): then look again rather than call it corrupt. */
  if (lt_load_u32le(h) != len || lt_load_u32le(h + 4) != crc) return FR_PARTIAL;
  w->hashed += len;
  if (frame_crc(base + fpos - HDR_SIZE, h + FRAME_HDR, len) != crc) return FR_BAD;
  *lenp = len;
  *payload = h + FRAME_HDR;
  return FR_OK;
}

/* First position >= from holding a non-zero byte (w->fsize if none). */
static int next_nonzero(win_t *w, uint64_t from, uint64_t *at) {
  uint64_t pos = from;
  while (pos < w->fsize) {
    uint64_t left = w->fsize - pos;
    size_t n = left < WIN_MIN ? (size_t)left : WIN_MIN;
    const unsigned char *p;
    int rc = win_get(w, pos, n, &p);
    if (rc < 0) return rc;
    if (rc) break;
    for (size_t i = 0; i < n; i++)
      if (p[i]) {
        *at = pos + i;
        return 0;
      }
    pos += n;
  }
  *at = w->fsize;
  return 0;
}

/* Is there a valid frame at any position after `from` in this segment?
 * 1 (and *found_fpos), 0, 2 if the hashing budget ran out, or < 0. */
static int later_valid_frame(win_t *w, uint64_t base, uint64_t from, uint64_t *found_fpos) {
  uint64_t budget = SCAN_BUDGET + 4 * (w->fsize - from);
  w->hashed = 0;
  uint64_t pos = from + 1;
  while (pos + FRAME_HDR + 1 <= w->fsize) {
    const unsigned char *h;
    int rc = win_get(w, pos, 4, &h);
    if (rc) return rc < 0 ? rc : 0;
    if (lt_load_u32le(h) == 0) {
      /* A frame needs a non-zero length, so no frame starts before the
       * first non-zero byte z minus 3: skip zero runs at memchr speed. */
      uint64_t z;
      rc = next_nonzero(w, pos + 4, &z);
      if (rc) return rc;
      pos = z - 3;
      continue;
    }
    uint32_t len;
    const unsigned char *p;
    rc = frame_at(w, base, pos, &len, &p);
    if (rc < 0) return rc;
    if (rc == FR_OK) {
      *found_fpos = pos;
      return 1;
    }
    if (w->hashed > budget) return 2;
    pos++;
  }
  return 0;
}

/* ---- segment files ---- */

/* Creates segment `base` atomically (invariant 2); *out gets an O_WRONLY fd. */
static int segment_create(lt_log_t *log, uint64_t base, int *out) {
  char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN + 8];
  unsigned char h[HDR_SIZE];
  struct stat st;
  int rc, fd = -1;
  *out = -1;
  seg_name(name, base);
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  if (fstatat(log->dirfd, name, &st, 0) == 0) return LT_EEXISTS;
  fd = openat(log->dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno_rc();
  hdr_encode(h, base);
  if ((rc = pwrite_all(fd, h, HDR_SIZE, 0))) goto fail;
  if ((rc = sync_fd(log, fd, 0))) goto fail;
  if (renameat(log->dirfd, tmp, log->dirfd, name) < 0) {
    rc = errno_rc();
    goto fail;
  }
  if ((rc = sync_dir(log, log->dirfd))) {
    close(fd);
    return rc; /* the file is whole; only its name may not be durable */
  }
  *out = fd;
  return 0;
fail:
  close(fd);
  unlinkat(log->dirfd, tmp, 0);
  return rc;
}

/* Finds a free name "want", "want.1", ... in directory qfd. */
static int unique_name(int qfd, const char *want, char *out, size_t outsz) {
  struct stat st;
  for (unsigned i = 0; i < 10000; i++) {
    if (i == 0)
      snprintf(out, outsz, "%s", want);
    else
      snprintf(out, outsz, "%s.%u", want, i);
    if (fstatat(qfd, out, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) return 0;
      return errno_rc();
    }
  }
  return LT_EEXISTS;
}

static int quarantine_dir(lt_log_t *log, int *qfd) {
  if (*qfd >= 0) return 0;
  if (mkdirat(log->dirfd, "quarantine", 0700) < 0 && errno != EEXIST) return errno_rc();
  *qfd = openat(log->dirfd, "quarantine", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*qfd < 0) return errno_rc();
  return sync_dir(log, log->dirfd);
}

/* Copies bytes [from, w->fsize) of segment `name` into quarantine/, synced,
 * unless they are all zero. *saved = 1 when a copy was made (name in qname). */
static int save_tail(lt_log_t *log, win_t *w, const char *name, uint64_t from, int *qfd, int *saved,
                     char *qname, size_t qnamesz) {
  uint64_t z;
  int rc, fd = -1;
  *saved = 0;
  if ((rc = next_nonzero(w, from, &z))) return rc;
  if (z >= w->fsize) return 0;
  if ((rc = quarantine_dir(log, qfd))) return rc;
  char want[NAME_MAX_LEN + 32];
  snprintf(want, sizeof want, "%s.cut-at-%" PRIu64, name, from);
  if ((rc = unique_name(*qfd, want, qname, qnamesz))) return rc;
  fd = openat(*qfd, qname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno_rc();
  for (uint64_t pos = from; pos < w->fsize;) {
    uint64_t left = w->fsize - pos;
    size_t n = left < WIN_MIN ? (size_t)left : WIN_MIN;
    const unsigned char *p;
    rc = win_get(w, pos, n, &p);
    if (rc) {
      rc = rc < 0 ? rc : LT_EIO;
      goto out;
    }
    if ((rc = pwrite_all(fd, p, n, pos - from))) goto out;
    pos += n;
  }
  if ((rc = sync_fd(log, fd, 0))) goto out;
  if ((rc = sync_dir(log, *qfd))) goto out;
  *saved = 1;
out:
  close(fd);
  return rc;
}

static int move_to_quarantine(lt_log_t *log, const char *name, int *qfd, char *qname,
                              size_t qnamesz) {
  int rc;
  if ((rc = quarantine_dir(log, qfd))) return rc;
  if ((rc = unique_name(*qfd, name, qname, qnamesz))) return rc;
  if (renameat(log->dirfd, name, *qfd, qname) < 0) return errno_rc();
  return 0;
}

static int truncate_synced(lt_log_t *log, const char *name, uint64_t size) {
  int fd = openat(log->dirfd, name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_rc();
  int rc = 0;
  while (ftruncate(fd, (off_t)size) < 0) {
    if (errno == EINTR) continue;
    rc = errno_rc();
    break;
  }
  if (!rc) rc = sync_fd(log, fd, 0);
  close(fd);
  return rc;
}

/* ---- recovery ---- */

typedef struct damage {
  int found;
  size_t seg;    /* index into bases */
  uint64_t fpos; /* file position of the first bad byte; 0 = whole segment bad */
  char why[160];
} damage_t;

/* Scans, checks and, unless read-only, mends the log; sets the writer state.
 * On failure rec->message says why. */
static int recover(lt_log_t *log, lt_log_recovery_t *rec) {
  uint64_t *bases = NULL, *sizes = NULL;
  size_t n = 0;
  win_t w = {.fd = -1};
  damage_t dmg = {0};
  int rc, fd = -1, qfd = -1, ro = log->o.read_only;
  uint64_t expected = 0, records = 0, end = 0;
  char name[NAME_MAX_LEN], qname[NAME_MAX_LEN + 48];

  if ((rc = list_segments(log->dirfd, !ro, &bases, &n))) goto out;
  if (n == 0) {
    msgf(rec->message, sizeof rec->message, "clean (new log)");
    if (!ro) {
      if ((rc = segment_create(log, 0, &log->fd))) goto out;
      log->seg_fsize = HDR_SIZE;
      log->disk_bytes = HDR_SIZE;
      log->nsegs = 1;
    }
    goto done_clean;
  }
  sizes = calloc(n, sizeof *sizes);
  if (!sizes) {
    rc = LT_ENOMEM;
    goto out;
  }

  /* 1. Scan until the first damage. */
  for (size_t i = 0; i < n && !dmg.found; i++) {
    unsigned char h[HDR_SIZE];
    size_t got = 0;
    seg_name(name, bases[i]);
    fd = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (rc = file_size(fd, &sizes[i])) || (rc = pread_all(fd, h, HDR_SIZE, 0, &got))) {
      if (fd < 0) rc = errno_rc();
      msgf(rec->message, sizeof rec->message, "cannot read segment %s: %s", name, lt_strerror(rc));
      goto out;
    }
    char why[128];
    rc = hdr_check(h, got, bases[i], why, sizeof why);
    if (rc == LT_EVERSION) {
      msgf(rec->message, sizeof rec->message, "segment %s: %s", name, why);
      goto out;
    }
    if (rc) {
      dmg = (damage_t){.found = 1, .seg = i, .fpos = 0};
      msgf(dmg.why, sizeof dmg.why, "segment %s: %s", name, why);
      rc = 0;
    } else if (i > 0 && bases[i] != expected) {
      dmg = (damage_t){.found = 1, .seg = i, .fpos = 0};
      msgf(dmg.why, sizeof dmg.why,
           "segment %s does not start where the previous one ends (offset %" PRIu64 ")", name,
           expected);
    } else {
      uint64_t pos = HDR_SIZE;
      win_reset(&w, fd, sizes[i]);
      while (pos < sizes[i]) {
        uint32_t len;
        const unsigned char *p;
        int fr = frame_at(&w, bases[i], pos, &len, &p);
        if (fr < 0) {
          rc = fr;
          msgf(rec->message, sizeof rec->message, "cannot read segment %s: %s", name,
               lt_strerror(rc));
          goto out;
        }
        if (fr != FR_OK) {
          dmg = (damage_t){.found = 1, .seg = i, .fpos = pos};
          msgf(dmg.why, sizeof dmg.why, "%s record at offset %" PRIu64 " (%s+%" PRIu64 ")",
               fr == FR_PARTIAL ? "incomplete" : "bad", bases[i] + pos - HDR_SIZE, name, pos);
          break;
        }
        records++;
        pos += FRAME_HDR + len;
      }
      if (!dmg.found) expected = bases[i] + sizes[i] - HDR_SIZE;
    }
    if (!dmg.found || dmg.fpos == 0) close_fd(&fd); /* else w still reads it */
  }

  /* 2. Classify: torn tail, or damage in the middle. */
  if (!dmg.found) {
    end = expected;
    msgf(rec->message, sizeof rec->message, "clean");
  } else {
    size_t i = dmg.seg;
    seg_name(name, bases[i]);
    int middle = 1;
    char after[96] = "";
    if (i == n - 1 && dmg.fpos >= HDR_SIZE) {
      uint64_t at = 0;
      int r = later_valid_frame(&w, bases[i], dmg.fpos, &at);
      if (r < 0) {
        rc = r;
        msgf(rec->message, sizeof rec->message, "cannot read segment %s: %s", name,
             lt_strerror(rc));
        goto out;
      }
      middle = r != 0;
      if (r == 1)
        snprintf(after, sizeof after, "a valid record follows at offset %" PRIu64,
                 bases[i] + at - HDR_SIZE);
      else if (r == 2)
        snprintf(after, sizeof after, "too much garbage to rule out valid records after it");
    } else if (i < n - 1) {
      snprintf(after, sizeof after, "%zu later segment(s) follow", n - 1 - i);
    } else {
      snprintf(after, sizeof after, "in the last segment");
    }
    uint64_t cut_off = dmg.fpos ? bases[i] + dmg.fpos - HDR_SIZE : (i ? expected : bases[0]);

    if (!middle) {
      /* Torn tail: cut it (keeping non-zero bytes in quarantine/). */
      uint64_t cut = sizes[i] - dmg.fpos;
      rec->cut_bytes = cut;
      if (ro) {
        msgf(rec->message, sizeof rec->message,
             "torn tail: %s; would cut %" PRIu64 " bytes (read-only: not cut)", dmg.why, cut);
      } else {
        int saved = 0;
        if ((rc = save_tail(log, &w, name, dmg.fpos, &qfd, &saved, qname, sizeof qname)) ||
            (rc = truncate_synced(log, name, dmg.fpos))) {
          msgf(rec->message, sizeof rec->message, "cutting torn tail of %s: %s", name,
               lt_strerror(rc));
          goto out;
        }
        rec->quarantined += (uint32_t)saved;
        msgf(rec->message, sizeof rec->message, "torn tail cut: %s; %" PRIu64 " bytes cut%s%s",
             dmg.why, cut, saved ? ", saved as quarantine/" : " (all zero)", saved ? qname : "");
      }
      sizes[i] = dmg.fpos;
      end = cut_off;
    } else if (!log->o.repair) {
      rc = LT_ECORRUPT;
      msgf(rec->message, sizeof rec->message,
           "corrupt log: %s; %s; open with repair to cut there and quarantine the rest", dmg.why,
           after);
      goto out;
    } else {
      /* Repair: save the bad segment's tail (or the whole segment) and every
       * later segment into quarantine/, synced, then cut. */
      uint64_t cut = 0;
      size_t keep = i; /* segments kept: [0, keep) plus segment i when cut inside it */
      if (dmg.fpos >= HDR_SIZE) {
        int saved = 0;
        if ((rc = save_tail(log, &w, name, dmg.fpos, &qfd, &saved, qname, sizeof qname)))
          goto repair_fail;
        rec->quarantined += (uint32_t)saved;
        cut += sizes[i] - dmg.fpos;
        keep = i + 1;
      }
      for (size_t j = n; j-- > keep;) {
        char nm[NAME_MAX_LEN];
        struct stat st;
        seg_name(nm, bases[j]);
        if (fstatat(log->dirfd, nm, &st, 0) == 0) cut += (uint64_t)st.st_size;
        if ((rc = move_to_quarantine(log, nm, &qfd, qname, sizeof qname))) goto repair_fail;
        rec->quarantined++;
      }
      if (qfd >= 0 && ((rc = sync_dir(log, qfd)) || (rc = sync_dir(log, log->dirfd))))
        goto repair_fail;
      if (keep == i + 1 && (rc = truncate_synced(log, name, dmg.fpos))) goto repair_fail;
      if (keep == i + 1) sizes[i] = dmg.fpos;
      n = keep;
      rec->cut_bytes = cut;
      end = cut_off;
      msgf(rec->message, sizeof rec->message,
           "repaired: %s; %s; cut at offset %" PRIu64 ", %" PRIu64 " bytes moved to quarantine/",
           dmg.why, after, cut_off, cut);
    }
    close_fd(&fd);
  }
  goto have_end;

repair_fail:
  msgf(rec->message, sizeof rec->message, "repair failed (%s): %s", lt_strerror(rc), dmg.why);
  goto out;

have_end:
  for (size_t i = 0; i < n; i++)
    log->disk_bytes += sizes[i];
  log->nsegs = (uint32_t)n;
  if (!ro) {
    if (n == 0) {
      /* Repair moved every segment away: start afresh where the log was cut. */
      if ((rc = segment_create(log, end, &log->fd))) goto out;
      log->seg_base = end;
      log->seg_fsize = HDR_SIZE;
      log->disk_bytes = HDR_SIZE;
      log->nsegs = 1;
    } else {
      seg_name(name, bases[n - 1]);
      log->fd = openat(log->dirfd, name, O_WRONLY | O_CLOEXEC);
      if (log->fd < 0) {
        rc = errno_rc();
        goto out;
      }
      log->seg_base = bases[n - 1];
      log->seg_fsize = sizes[n - 1];
    }
  } else if (n) {
    log->seg_base = bases[n - 1];
    log->seg_fsize = sizes[n - 1];
  }
  goto done;

done_clean:
  end = 0;
  log->seg_base = 0;
done:
  rec->end_offset = end;
  rec->records = records;
  rec->segments = log->nsegs;
  log->asg_end = log->pend_start = log->written_end = log->durable_end = end;
  log->asg_seg_base = log->seg_base;
  rc = 0;
out:
  close_fd(&fd);
  close_fd(&qfd);
  free(w.buf);
  free(bases);
  free(sizes);
  return rc;
}

/* ---- the writer ---- */

/* Data write with the test hook: a hooked write stops halfway and fails. */
static int log_pwrite(lt_log_t *log, const unsigned char *p, size_t n, uint64_t off) {
  int e = __atomic_exchange_n(&log->fault_write, 0, __ATOMIC_ACQ_REL);
  if (!e) e = __atomic_load_n(&log->sticky_write, __ATOMIC_ACQUIRE);
  if (!e) return pwrite_all(log->fd, p, n, off);
  int rc = pwrite_all(log->fd, p, n / 2, off);
  return rc ? rc : lt_err_from_errno(e);
}

/* Leader only: sync the full segment, start a new one at new_base. */
static int rotate(lt_log_t *log, uint64_t new_base) {
  int nfd, rc;
  if ((rc = sync_fd(log, log->fd, 1))) return rc;
  if ((rc = segment_create(log, new_base, &nfd))) return rc;
  close(log->fd);
  log->fd = nfd;
  log->seg_base = new_base;
  log->seg_fsize = HDR_SIZE;
  __atomic_add_fetch(&log->disk_bytes, HDR_SIZE, __ATOMIC_RELAXED);
  __atomic_add_fetch(&log->nsegs, 1, __ATOMIC_RELAXED);
  return 0;
}

/* Leader only, without the mutex: writes frames [off, off + n), starting new
 * segments at the offsets in rot[]. On a failed write, cuts the file back to
 * the frame boundary it started at, so no partial frame stays behind. */
static int write_out(lt_log_t *log, const unsigned char *p, size_t n, uint64_t off,
                     const uint64_t *rot, size_t nrot) {
  size_t ri = 0;
  while (n > 0) {
    if (ri < nrot && rot[ri] == off) {
      int rc = rotate(log, off);
      if (rc) return rc;
      ri++;
      continue;
    }
    size_t chunk = ri < nrot ? (size_t)(rot[ri] - off) : n;
    int rc = log_pwrite(log, p, chunk, log->seg_fsize);
    if (rc) {
      while (ftruncate(log->fd, (off_t)log->seg_fsize) < 0 && errno == EINTR) {
      }
      return rc;
    }
    log->seg_fsize += chunk;
    __atomic_add_fetch(&log->disk_bytes, chunk, __ATOMIC_RELAXED);
    off += chunk;
    p += chunk;
    n -= chunk;
  }
  return 0;
}

/* Invariants 3 and 4, for assert() (mutex held). */
__attribute__((unused)) static int log_check_locked(const lt_log_t *log) {
  return log->pend_start + log->pend_len == log->asg_end && log->nrot <= log->rot_cap &&
         log->pend_len <= log->pend_cap && log->durable_end <= log->written_end &&
         log->written_end <= log->pend_start && (!log->flushing || !log->spare);
}

static void fail_locked(lt_log_t *log, int rc) {
  if (!log->failed) {
    log->failed = 1;
    /* a failed write or fsync is an i/o failure whatever errno said (EFBIG
     * or EINVAL from the kernel must not read as a caller's mistake) */
    log->fail_rc = rc == LT_ENOSPACE ? LT_ENOSPACE : LT_EIO;
  }
}

/* Mutex held, no flush running, not failed: become the leader, write out pend
 * (and fdatasync if do_sync), then wake everyone. */
static int flush_locked(lt_log_t *log, int do_sync) {
  unsigned char *buf = log->pend;
  size_t n = log->pend_len, bufcap = log->pend_cap;
  uint64_t start = log->pend_start;
  uint64_t *rot = log->rot;
  size_t nrot = log->nrot, rotcap = log->rot_cap;
  int need_sync = do_sync && (n > 0 || log->durable_end < log->written_end);

  log->pend = log->spare;
  log->pend_cap = log->spare_cap;
  log->pend_len = 0;
  log->pend_start = start + n;
  log->rot = log->spare_rot;
  log->rot_cap = log->spare_rot_cap;
  log->nrot = 0;
  log->spare = NULL;
  log->spare_cap = 0;
  log->spare_rot = NULL;
  log->spare_rot_cap = 0;
  log->flushing = 1;
  pthread_mutex_unlock(&log->mu);

  int rc = write_out(log, buf, n, start, rot, nrot);
  if (!rc && need_sync) rc = sync_fd(log, log->fd, 1);

  pthread_mutex_lock(&log->mu);
  log->flushing = 0;
  if (rc) {
    fail_locked(log, rc);
    rc = log->fail_rc;
  } else {
    log->written_end = start + n;
    if (do_sync) log->durable_end = start + n;
  }
  /* Keep the buffers for reuse, unless one grew huge for a big group. */
  if (bufcap > 4 * OFF_MAX_PEND) {
    free(buf);
    buf = NULL;
    bufcap = 0;
  }
  log->spare = buf;
  log->spare_cap = bufcap;
  log->spare_rot = rot;
  log->spare_rot_cap = rotcap;
  assert(log_check_locked(log));
  pthread_cond_broadcast(&log->cv);
  return rc;
}

/* Mutex held. Returns once every byte below `end` is written (WANT_WRITTEN)
 * or durable (WANT_DURABLE) — leading flushes or following one — or the log
 * failed (the failure's error: the group was in flight). */
static int commit_locked(lt_log_t *log, uint64_t end, int want) {
  for (;;) {
    if ((want == WANT_DURABLE ? log->durable_end : log->written_end) >= end) return 0;
    if (log->failed) return log->fail_rc;
    if (!log->flushing) {
      flush_locked(log, want == WANT_DURABLE);
      continue;
    }
    pthread_cond_wait(&log->cv, &log->mu);
  }
}

/* Grows an array of elt-sized elements to hold need; returns the new pointer
 * (NULL on failure, old array kept). */
static void *grow(void *p, size_t *cap, size_t need, size_t elt, size_t min) {
  if (need <= *cap) return p;
  size_t nc = *cap ? *cap : min;
  while (nc < need)
    nc *= 2;
  void *np = realloc(p, nc * elt);
  if (np) *cap = nc;
  return np;
}

/* Queues the group and, with wait, commits it per the fsync policy. *end
 * (may be NULL) gets the offset after the group. */
static int append(lt_log_t *log, const void *const *recs, const uint32_t *lens, size_t n,
                  uint64_t *first_offset, uint64_t *end, int wait) {
  uint32_t hs_stack[64], *hs = hs_stack;
  uint64_t total = 0;
  int rc = 0;
  if (!log || (n && (!recs || !lens))) return LT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (!lens[i] || !recs[i]) return LT_EINVAL;
    if (lens[i] > LT_LOG_MAX_RECORD) return LT_ETOOBIG;
    total += FRAME_HDR + lens[i];
    if (total > GROUP_MAX) return LT_ETOOBIG;
  }
  /* Payload hashes outside the mutex; the offset is folded in below. */
  if (n > sizeof hs_stack / sizeof *hs_stack && !(hs = malloc(n * sizeof *hs))) return LT_ENOMEM;
  for (size_t i = 0; i < n; i++)
    hs[i] = (uint32_t)lt_hash64_seed(recs[i], lens[i], lens[i]);

  pthread_mutex_lock(&log->mu);
  if (log->failed || log->o.read_only) {
    rc = LT_EREADONLY;
    goto out;
  }
  unsigned char *np = grow(log->pend, &log->pend_cap, log->pend_len + total, 1, OFF_CHUNK);
  if (np) log->pend = np;
  uint64_t *nr = np ? grow(log->rot, &log->rot_cap, log->nrot + n, sizeof *log->rot, 16) : NULL;
  if (nr) log->rot = nr;
  if (!np || !nr) {
    rc = LT_ENOMEM;
    goto out;
  }
  uint64_t off = log->asg_end, first = off;
  unsigned char *d = log->pend + log->pend_len;
  for (size_t i = 0; i < n; i++) {
    uint64_t fl = FRAME_HDR + (uint64_t)lens[i];
    if (off > log->asg_seg_base &&
        HDR_SIZE + (off - log->asg_seg_base) + fl > log->o.segment_bytes) {
      log->rot[log->nrot++] = off;
      log->asg_seg_base = off;
    }
    lt_store_u32le(d, lens[i]);
    lt_store_u32le(d + 4, hs[i] ^ (uint32_t)lt_mix64(off ^ OFF_SEED));
    memcpy(d + FRAME_HDR, recs[i], lens[i]);
    d += fl;
    off += fl;
  }
  log->pend_len += (size_t)total;
  __atomic_store_n(&log->asg_end, off, __ATOMIC_RELEASE);
  assert(log_check_locked(log));

  switch (log->o.fsync_mode) {
  case LT_FSYNC_BATCH:
    if (wait) rc = commit_locked(log, off, WANT_DURABLE);
    break;
  case LT_FSYNC_INTERVAL:
    if (wait) rc = commit_locked(log, off, WANT_WRITTEN);
    break;
  case LT_FSYNC_OFF:
    if (log->pend_len >= OFF_CHUNK) {
      while (log->flushing && !log->failed && log->pend_len >= OFF_MAX_PEND)
        pthread_cond_wait(&log->cv, &log->mu);
      if (log->failed)
        rc = log->fail_rc;
      else if (!log->flushing)
        rc = flush_locked(log, 0);
    }
    break;
  }
  if (!rc && first_offset) *first_offset = first;
  if (!rc && end) *end = off;
out:
  pthread_mutex_unlock(&log->mu);
  if (hs != hs_stack) free(hs);
  return rc;
}

int lt_log_append(lt_log_t *log, const void *const *recs, const uint32_t *lens, size_t n,
                  uint64_t *first_offset) {
  return append(log, recs, lens, n, first_offset, NULL, 1);
}

int lt_log_enqueue(lt_log_t *log, const void *const *recs, const uint32_t *lens, size_t n,
                   uint64_t *first_offset, uint64_t *end) {
  return append(log, recs, lens, n, first_offset, end, 0);
}

int lt_log_wait(lt_log_t *log, uint64_t end) {
  if (!log) return LT_EINVAL;
  if (log->o.read_only) return LT_EREADONLY;
  int rc = 0;
  pthread_mutex_lock(&log->mu);
  if (log->o.fsync_mode == LT_FSYNC_BATCH) rc = commit_locked(log, end, WANT_DURABLE);
  else if (log->o.fsync_mode == LT_FSYNC_INTERVAL) rc = commit_locked(log, end, WANT_WRITTEN);
  else if (log->failed) rc = log->fail_rc;
  pthread_mutex_unlock(&log->mu);
  return rc;
}

int lt_log_sync(lt_log_t *log) {
  if (!log) return LT_EINVAL;
  if (log->o.read_only) return 0;
  pthread_mutex_lock(&log->mu);
  int rc = log->failed ? LT_EREADONLY : commit_locked(log, log->asg_end, WANT_DURABLE);
  pthread_mutex_unlock(&log->mu);
  return rc;
}

uint64_t lt_log_end(const lt_log_t *log) {
  return log ? __atomic_load_n(&log->asg_end, __ATOMIC_ACQUIRE) : 0;
}

uint64_t lt_log_bytes(const lt_log_t *log) {
  return log ? __atomic_load_n(&log->disk_bytes, __ATOMIC_RELAXED) : 0;
}

const uint32_t lt_log_fsync_bounds_us[LT_LOG_FSYNC_BUCKETS] = {100,  250,   500,   1000,
                                                               2500, 10000, 50000, 250000};

void lt_log_fsync_latency(const lt_log_t *log, uint64_t counts[LT_LOG_FSYNC_BUCKETS + 1],
                          uint64_t *sum_ns) {
  for (size_t b = 0; b <= LT_LOG_FSYNC_BUCKETS; b++)
    counts[b] = log ? __atomic_load_n(&log->fsync_hist[b], __ATOMIC_RELAXED) : 0;
  *sum_ns = log ? __atomic_load_n(&log->fsync_ns, __ATOMIC_RELAXED) : 0;
}

uint64_t lt_log_fsync_count(const lt_log_t *log) {
  return log ? __atomic_load_n(&log->fsyncs, __ATOMIC_RELAXED) : 0;
}

void lt_log_inject_fault(lt_log_t *log, int where, int err) {
  if (!log) return;
  int fsync = (where & ~LT_LOG_FAULT_STICKY) == LT_LOG_FAULT_FSYNC;
  if (where & LT_LOG_FAULT_STICKY)
    __atomic_store_n(fsync ? &log->sticky_fsync : &log->sticky_write, err, __ATOMIC_RELEASE);
  else
    __atomic_store_n(fsync ? &log->fault_fsync : &log->fault_write, err, __ATOMIC_RELEASE);
}

/* LT_FSYNC_INTERVAL: make written bytes durable every interval_ms. */
static void *bg_main(void *arg) {
  lt_log_t *log = arg;
  pthread_mutex_lock(&log->mu);
  while (!log->bg_stop) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)log->o.interval_ms * 1000000u;
    dl.tv_sec += (time_t)(ns / 1000000000u);
    dl.tv_nsec = (long)(ns % 1000000000u);
    while (!log->bg_stop && pthread_cond_timedwait(&log->bg_cv, &log->mu, &dl) != ETIMEDOUT) {
    }
    if (log->bg_stop) break;
    if (!log->failed && !log->flushing && log->durable_end < log->written_end) flush_locked(log, 1);
  }
  pthread_mutex_unlock(&log->mu);
  return NULL;
}

int lt_log_parse_fsync(const char *s, lt_log_opts_t *o) {
  if (!s || !o) return LT_EINVAL;
  if (strcmp(s, "batch") == 0) {
    o->fsync_mode = LT_FSYNC_BATCH;
    return 0;
  }
  if (strcmp(s, "off") == 0) {
    o->fsync_mode = LT_FSYNC_OFF;
    return 0;
  }
  if (strncmp(s, "interval:", 9) == 0) {
    const char *p = s + 9;
    uint64_t v = 0;
    if (!*p) return LT_EINVAL;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return LT_EINVAL;
      v = v * 10 + (uint64_t)(*p - '0');
      if (v > INTERVAL_MAX_MS) return LT_EINVAL;
    }
    if (v == 0) return LT_EINVAL;
    o->fsync_mode = LT_FSYNC_INTERVAL;
    o->interval_ms = (uint32_t)v;
    return 0;
  }
  return LT_EINVAL;
}

static void log_free(lt_log_t *log) {
  close_fd(&log->fd);
  close_fd(&log->lockfd); /* releases the flock */
  close_fd(&log->dirfd);
  free(log->pend);
  free(log->spare);
  free(log->rot);
  free(log->spare_rot);
  pthread_cond_destroy(&log->bg_cv);
  pthread_cond_destroy(&log->cv);
  pthread_mutex_destroy(&log->mu);
  free(log);
}

int lt_log_open(const char *dir, const lt_log_opts_t *opts, lt_log_t **out,
                lt_log_recovery_t *rec) {
  lt_log_recovery_t local;
  lt_log_t *log = NULL;
  int rc;
  if (!rec) rec = &local;
  memset(rec, 0, sizeof *rec);
  if (out) *out = NULL;
  if (!dir || !*dir || !out) return LT_EINVAL;

  lt_log_opts_t o = opts ? *opts : (lt_log_opts_t){0};
  if ((unsigned)o.fsync_mode > LT_FSYNC_OFF || o.interval_ms > INTERVAL_MAX_MS ||
      (o.segment_bytes && o.segment_bytes < LT_LOG_MIN_SEGMENT) || (o.repair && o.read_only))
    return LT_EINVAL;
  if (!o.segment_bytes) o.segment_bytes = LT_LOG_DEFAULT_SEGMENT;
  if (!o.interval_ms) o.interval_ms = LT_LOG_DEFAULT_INTERVAL_MS;

  if (!(log = calloc(1, sizeof *log))) return LT_ENOMEM;
  log->o = o;
  log->dirfd = log->lockfd = log->fd = -1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&log->mu, NULL);
  pthread_cond_init(&log->cv, NULL);
  pthread_cond_init(&log->bg_cv, &ca);
  pthread_condattr_destroy(&ca);

  if (!o.read_only) {
    if (mkdir(dir, 0700) == 0) {
      /* Make the new directory's name durable: fsync its parent. */
      char parent[4096];
      snprintf(parent, sizeof parent, "%s", dir);
      char *slash = strrchr(parent, '/');
      if (slash == parent)
        slash[1] = 0;
      else if (slash)
        *slash = 0;
      else
        snprintf(parent, sizeof parent, ".");
      int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pfd >= 0) {
        (void)sync_dir(log, pfd);
        close(pfd);
      }
    } else if (errno != EEXIST) {
      rc = errno_rc();
      msgf(rec->message, sizeof rec->message, "cannot create %s: %s", dir, strerror(errno));
      goto fail;
    }
  }
  log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (log->dirfd < 0) {
    rc = errno_rc();
    msgf(rec->message, sizeof rec->message, "cannot open %s: %s", dir, strerror(errno));
    goto fail;
  }
  if (!o.read_only) {
    log->lockfd = openat(log->dirfd, "LOCK", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (log->lockfd < 0) {
      rc = errno_rc();
      goto fail;
    }
    while (flock(log->lockfd, LOCK_EX | LOCK_NB) < 0) {
      if (errno == EINTR) continue;
      rc = errno == EWOULDBLOCK ? LT_EBUSY : errno_rc();
      msgf(rec->message, sizeof rec->message, "%s is open for writing elsewhere", dir);
      goto fail;
    }
  }
  if ((rc = recover(log, rec))) goto fail;
  if (!o.read_only && o.fsync_mode == LT_FSYNC_INTERVAL) {
    if (pthread_create(&log->bg, NULL, bg_main, log) != 0) {
      rc = LT_ENOMEM;
      goto fail;
    }
    log->bg_started = 1;
  }
  *out = log;
  return 0;
fail:
  log_free(log);
  return rc;
}

int lt_log_close(lt_log_t *log) {
  if (!log) return 0;
  int rc = 0;
  if (log->bg_started) {
    pthread_mutex_lock(&log->mu);
    log->bg_stop = 1;
    pthread_cond_signal(&log->bg_cv);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->bg, NULL);
  }
  if (!log->o.read_only) {
    pthread_mutex_lock(&log->mu);
    rc = log->failed ? LT_EREADONLY : commit_locked(log, log->asg_end, WANT_DURABLE);
    pthread_mutex_unlock(&log->mu);
  }
  log_free(log);
  return rc;
}

/* lt_log_reopen, mutex held, the fd closed: the log holds [0, asg_end)
 * and keep < asg_end. Removes the segments after keep and truncates the
 * one holding it. The bytes cut are records the caller refused (it never
 * acknowledged them), so they are not kept in quarantine/: on a full disk
 * a copy would fail and leave the log unable to take writes. */
static int cut_back(lt_log_t *log, uint64_t keep, uint64_t *cut) {
  uint64_t *bases = NULL;
  size_t n = 0;
  char name[NAME_MAX_LEN];
  int rc = list_segments(log->dirfd, 1, &bases, &n), removed = 0;
  *cut = log->asg_end - keep;
  size_t i = n;
  while (!rc && i > 1 && bases[i - 1] > keep) { /* newest first: a crash leaves a prefix */
    seg_name(name, bases[--i]);
    if (unlinkat(log->dirfd, name, 0) < 0) rc = errno_rc();
    removed = 1;
  }
  if (!rc && removed) rc = sync_dir(log, log->dirfd);
  if (!rc && (!n || bases[i - 1] > keep)) rc = LT_ECORRUPT; /* keep before the first segment */
  if (!rc) {
    seg_name(name, bases[i - 1]);
    rc = truncate_synced(log, name, HDR_SIZE + keep - bases[i - 1]);
  }
  free(bases);
  return rc;
}

int lt_log_reopen(lt_log_t *log, uint64_t keep, lt_log_recovery_t *rec) {
  lt_log_recovery_t local;
  if (!rec) rec = &local;
  memset(rec, 0, sizeof *rec);
  if (!log || log->o.read_only) return LT_EINVAL;
  pthread_mutex_lock(&log->mu);
  int rc = LT_EINVAL;
  if (!log->failed) goto out;
  while (log->flushing) /* a leader that failed is still finishing */
    pthread_cond_wait(&log->cv, &log->mu);
  /* Held mutex throughout: the interval thread and appenders stay out;
   * failed stays set until the log is whole again. */
  for (int pass = 0; pass < 2; pass++) {
    close_fd(&log->fd);
    log->pend_len = 0;
    log->nrot = 0;
    log->disk_bytes = 0;
    log->nsegs = 0;
    char first[sizeof rec->message];
    memcpy(first, rec->message, sizeof first);
    if ((rc = recover(log, rec))) goto out;
    if (log->asg_end < keep) {
      msgf(rec->message, sizeof rec->message,
           "reopened log ends at offset %" PRIu64 ", before the %" PRIu64
           " acknowledged: acknowledged records are lost",
           log->asg_end, keep);
      rc = LT_ECORRUPT;
      goto out;
    }
    if (pass == 1) { /* the cut log verified again */
      msgf(rec->message, sizeof rec->message, "%s; cut back to offset %" PRIu64, first, keep);
      break;
    }
    if (log->asg_end == keep) break;
    uint64_t cut = 0;
    close_fd(&log->fd);
    if ((rc = cut_back(log, keep, &cut))) {
      msgf(rec->message, sizeof rec->message, "cutting back to offset %" PRIu64 ": %s", keep,
           lt_strerror(rc));
      goto out;
    }
    char what[sizeof rec->message];
    msgf(what, sizeof what, "%s; %" PRIu64 " bytes of refused records cut", rec->message, cut);
    memcpy(rec->message, what, sizeof what);
    rec->cut_bytes += cut;
  }
  log->failed = 0;
  log->fail_rc = 0;
out:
  if (rc && rc != LT_EINVAL) {
    close_fd(&log->fd); /* nothing is written through a handle that failed */
    fail_locked(log, rc);
  }
  pthread_mutex_unlock(&log->mu);
  return rc;
}

/* ---- readers ---- */

struct lt_log_reader {
  int dirfd, fd;
  uint64_t base, pos; /* current segment and file position in it */
  win_t w;
  int err;
  uint64_t err_off;
};

static int reader_fail(lt_log_reader_t *r, int rc, uint64_t off) {
  r->err = rc;
  r->err_off = off;
  return rc;
}

/* Opens segment `base` as the current one, checking its header. */
static int reader_open_seg(lt_log_reader_t *r, uint64_t base) {
  char name[NAME_MAX_LEN], why[128];
  unsigned char h[HDR_SIZE];
  uint64_t size = 0;
  size_t got = 0;
  int rc;
  seg_name(name, base);
  close_fd(&r->fd);
  r->fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) return errno == ENOENT ? LT_ECORRUPT : errno_rc(); /* vanished */
  if ((rc = file_size(r->fd, &size)) || (rc = pread_all(r->fd, h, HDR_SIZE, 0, &got))) return rc;
  if ((rc = hdr_check(h, got, base, why, sizeof why))) return rc;
  r->base = base;
  r->pos = HDR_SIZE;
  win_reset(&r->w, r->fd, size);
  return 0;
}

/* Smallest segment base > after, or 0 with *found = 0. */
static int reader_next_base(lt_log_reader_t *r, uint64_t after, int any, uint64_t *next,
                            int *found) {
  uint64_t *bases;
  size_t n;
  int rc = list_segments(r->dirfd, 0, &bases, &n);
  if (rc) return rc;
  *found = 0;
  for (size_t i = 0; i < n; i++)
    if (any || bases[i] > after) {
      *next = bases[i];
      *found = 1;
      break;
    }
  free(bases);
  return 0;
}

/* At the end of what we knew of the current segment: has it grown, or does a
 * next segment exist? 1 = more to read, 0 = end of the log, < 0 error. */
static int reader_refresh(lt_log_reader_t *r) {
  uint64_t size = 0, next = 0;
  int found, rc;
  /* Bytes before pos are whole frames and never change; bytes from pos on may
   * be a torn tail that a recovering writer cuts and overwrites: forget them. */
  if (r->pos >= r->w.start && r->pos < r->w.start + r->w.len)
    r->w.len = (size_t)(r->pos - r->w.start);
  if (r->fd < 0) { /* no segment yet */
    if ((rc = reader_next_base(r, 0, 1, &next, &found)) || !found) return rc;
    return (rc = reader_open_seg(r, next)) ? rc : 1;
  }
  if ((rc = file_size(r->fd, &size))) return rc;
  if (size != r->w.fsize) {
    if (size < r->w.fsize) r->w.len = 0; /* cut back by the writer: drop the window */
    r->w.fsize = size;
    return 1;
  }
  if ((rc = reader_next_base(r, r->base, 0, &next, &found)) || !found) return rc;
  /* A segment after this one exists, so this one is complete (invariant 2):
   * look at its final size once more. */
  if ((rc = file_size(r->fd, &size))) return rc;
  if (size != r->w.fsize) {
    r->w.fsize = size;
    return 1;
  }
  if (r->pos < size) return LT_ECORRUPT;                     /* partial frame mid-log */
  if (next != r->base + size - HDR_SIZE) return LT_ECORRUPT; /* gap */
  return (rc = reader_open_seg(r, next)) ? rc : 1;
}

int lt_log_reader_open(const char *dir, uint64_t from_offset, lt_log_reader_t **out) {
  uint64_t *bases = NULL;
  size_t n = 0;
  int rc;
  if (!dir || !out) return LT_EINVAL;
  *out = NULL;
  lt_log_reader_t *r = calloc(1, sizeof *r);
  if (!r) return LT_ENOMEM;
  r->fd = -1;
  r->w.fd = -1;
  r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (r->dirfd < 0) {
    rc = errno_rc();
    goto fail;
  }
  if ((rc = list_segments(r->dirfd, 0, &bases, &n))) goto fail;
  if (n == 0) {
    rc = from_offset ? LT_ERANGE : 0;
    if (rc) goto fail;
    goto ok;
  }
  size_t idx = 0;
  if (from_offset) {
    if (from_offset < bases[0]) {
      rc = LT_ERANGE;
      goto fail;
    }
    while (idx + 1 < n && bases[idx + 1] <= from_offset)
      idx++;
  }
  if ((rc = reader_open_seg(r, bases[idx]))) goto fail;
  if (from_offset > r->base) {
    uint64_t fpos = HDR_SIZE + (from_offset - r->base);
    if (fpos > r->w.fsize) {
      rc = LT_ERANGE;
      goto fail;
    }
    r->pos = fpos;
  }
ok:
  free(bases);
  *out = r;
  return 0;
fail:
  free(bases);
  lt_log_reader_close(r);
  return rc;
}

int lt_log_reader_next(lt_log_reader_t *r, const void **rec, uint32_t *len, uint64_t *offset) {
  if (!r) return LT_EINVAL;
  if (r->err) {
    if (offset) *offset = r->err_off;
    return r->err;
  }
  for (;;) {
    uint64_t here = r->base + r->pos - HDR_SIZE;
    int fr = FR_PARTIAL;
    uint32_t l = 0;
    const unsigned char *p = NULL;
    if (r->fd >= 0 && r->pos < r->w.fsize) fr = frame_at(&r->w, r->base, r->pos, &l, &p);
    if (fr == FR_OK) {
      r->pos += FRAME_HDR + l;
      if (rec) *rec = p;
      if (len) *len = l;
      if (offset) *offset = here;
      return 1;
    }
    int rc = fr < 0 ? fr : fr == FR_BAD ? LT_ECORRUPT : reader_refresh(r);
    if (rc == 1) continue;
    if (rc < 0) {
      if (offset) *offset = here;
      return reader_fail(r, rc, here);
    }
    return 0;
  }
}

void lt_log_reader_close(lt_log_reader_t *r) {
  if (!r) return;
  close_fd(&r->fd);
  close_fd(&r->dirfd);
  free(r->w.buf);
  free(r);
}
