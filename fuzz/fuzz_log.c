/*
 * fuzz_log.c — libFuzzer target for the event log's on-disk format:
 * segment headers, frames, recovery (torn tails, middle damage, repair into
 * quarantine/) and readers (src/log/log.c).
 *
 * Input: byte 0 is a flag byte.
 *   bit 0 set: RAW — the rest is the content of one segment file,
 *              00000000000000000000.log.
 *   bit 0 clear: BUILT — the rest is a program that builds a log directory,
 *              so that the fuzzer reaches past the checksums: each op byte
 *              (low 4 bits) appends to the current segment file
 *                0-3  a valid frame (payload: next byte + 1 bytes of input)
 *                4    a frame with a wrong crc
 *                5    raw bytes (count: next byte)
 *                6    a new segment starting where the frames end
 *                7    a new segment at a wrong base (gap or overlap)
 *                8    a new segment whose header base differs from its name
 *                9    a flipped byte in the current header
 *                10   a run of zero bytes
 *                11   cut the current file short (a torn write)
 *                12   a frame header with an impossible length
 *                13   a leftover "<next segment>.tmp" file
 *                14   a frame whose crc is valid for another offset
 *                15   a copy of the previous frame (valid crc, wrong place)
 *   bit 1: open with repair; bit 2: the first segment's base is 4096.
 * Checks, beyond "no crash, no sanitizer report":
 *   R. a reader from offset 0 returns records at contiguous offsets
 *      (next = offset + 8 + len) until 0 or an error; call this list L;
 *   O. lt_log_open read-only changes no file; when it succeeds it counts
 *      |L| records and its end is where L ends;
 *   W. lt_log_open for writing (repair per bit 1): when it succeeds, a
 *      reader sees exactly L (offsets and bytes); without repair a failure
 *      is LT_ECORRUPT or LT_EVERSION, and LT_ECORRUPT is then fixed by
 *      repair, which also keeps exactly L;
 *   A. after a successful open, one appended record is read back after L,
 *      and a reopen without repair finds the log clean (nothing cut).
 */
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR 32u
#define OFF_SEED 0x6c616f7469656c67ull
#define MAX_SEGS 8
#define MAX_FILE (64u << 10)
#define MAX_RECS 65536

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "fuzz_log: check failed: %s (line %d)\n", #c, __LINE__);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static char dir[512];

typedef struct seg {
  uint64_t base; /* as named */
  unsigned char *p;
  size_t n, cap;
} seg_t;

static void put(seg_t *s, const void *p, size_t n) {
  if (s->n + n > MAX_FILE) n = MAX_FILE - s->n;
  if (!n) return;
  if (s->n + n > s->cap) {
    s->cap = (s->n + n) * 2 + 64;
    s->p = realloc(s->p, s->cap);
    CHECK(s->p);
  }
  memcpy(s->p + s->n, p, n);
  s->n += n;
}

static void header(seg_t *s, uint64_t base) {
  unsigned char h[HDR];
  memset(h, 0, HDR);
  memcpy(h, "LAOTIELG", 8);
  lt_store_u32le(h + 8, 1);
  lt_store_u64le(h + 16, base);
  lt_store_u32le(h + 28, (uint32_t)lt_hash64(h, 28));
  put(s, h, HDR);
}

static uint32_t crc_at(uint64_t off, const void *p, uint32_t len) {
  return (uint32_t)(lt_hash64_seed(p, len, len) ^ lt_mix64(off ^ OFF_SEED));
}

static void frame(seg_t *s, const unsigned char *p, uint32_t len, uint32_t crc_delta,
                  uint64_t off_delta) {
  unsigned char h[8];
  uint64_t off = s->base + s->n - HDR + off_delta;
  lt_store_u32le(h, len);
  lt_store_u32le(h + 4, crc_at(off, p, len) ^ crc_delta);
  put(s, h, 8);
  put(s, p, len);
}

typedef struct rd {
  const uint8_t *p, *e;
} rd_t;

static unsigned next(rd_t *r) { return r->p < r->e ? *r->p++ : 0; }

/* Builds the segment files described by the program in data. */
static size_t build(const uint8_t *data, size_t size, int base4k, seg_t *segs, char *tmpname) {
  rd_t r = {data, data + size};
  size_t ns = 1;
  segs[0].base = base4k ? 4096 : 0;
  header(&segs[0], segs[0].base);
  unsigned char last[260];
  size_t lastn = 0;
  tmpname[0] = 0;
  for (int ops = 0; ops < 512 && r.p < r.e; ops++) {
    seg_t *s = &segs[ns - 1];
    unsigned op = next(&r) & 15;
    unsigned char buf[260];
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 14: {
      uint32_t len = next(&r) + 1;
      for (uint32_t i = 0; i < len; i++)
        buf[i] = r.p < r.e ? *r.p++ : (unsigned char)(i * 7);
      size_t at = s->n;
      frame(s, buf, len, op == 4 ? 1u << (next(&r) & 31) : 0, op == 14 ? 8 : 0);
      if (s->n - at <= sizeof last) {
        lastn = s->n - at;
        memcpy(last, s->p + at, lastn);
      }
      break;
    }
    case 5: {
      unsigned n = next(&r), k = 0;
      while (k < n && r.p < r.e)
        buf[k++] = *r.p++;
      put(s, buf, k);
      break;
    }
    case 6:
    case 7:
    case 8: {
      if (ns == MAX_SEGS) break;
      uint64_t end = s->base + (s->n >= HDR ? s->n - HDR : 0);
      uint64_t base = end;
      if (op == 7) {
        int d = (int)next(&r) - 128;
        base = d < 0 && (uint64_t)(-d) * 8 > end ? 0 : end + (uint64_t)((int64_t)d * 8);
      }
      if (base <= s->base) base = s->base + 1; /* names must stay in order */
      seg_t *t = &segs[ns++];
      t->base = base;
      header(t, op == 8 ? base + 1 : base);
      break;
    }
    case 9:
      if (s->n) s->p[next(&r) % (s->n < HDR ? s->n : HDR)] ^= (unsigned char)(1u << (next(&r) & 7));
      break;
    case 10: {
      unsigned n = (next(&r) + 1) * 8;
      memset(buf, 0, sizeof buf);
      while (n) {
        unsigned k = n > sizeof buf ? sizeof buf : n;
        put(s, buf, k);
        n -= k;
      }
      break;
    }
    case 11: {
      size_t cut = next(&r) % 64 + 1;
      s->n = s->n > cut ? s->n - cut : 0;
      break;
    }
    case 12: {
      unsigned char h[8];
      lt_store_u32le(h, next(&r) & 1 ? 0xffffffffu : LT_LOG_MAX_RECORD + 1);
      lt_store_u32le(h + 4, 0);
      put(s, h, 8);
      break;
    }
    case 13:
      snprintf(tmpname, 64, "%020llu.log.tmp",
               (unsigned long long)(s->base + (s->n >= HDR ? s->n - HDR : 0)));
      break;
    case 15:
      if (lastn) put(s, last, lastn);
      break;
    }
  }
  return ns;
}

static void write_file(const char *name, const void *p, size_t n) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
  close(fd);
}

static void clear_dir(const char *d) {
  DIR *dp = opendir(d);
  if (!dp) return;
  struct dirent *de;
  char path[2048];
  while ((de = readdir(dp))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", d, de->d_name);
    if (!strcmp(de->d_name, "quarantine")) {
      clear_dir(path);
      rmdir(path);
    } else {
      unlink(path);
    }
  }
  closedir(dp);
}

/* A digest of every file name, size and content in dir (not recursive). */
static uint64_t dir_digest(void) {
  DIR *dp = opendir(dir);
  CHECK(dp);
  uint64_t h = 0;
  struct dirent *de;
  char path[2048];
  static unsigned char buf[MAX_FILE * 2];
  while ((de = readdir(dp))) {
    if (de->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd >= 0) close(fd);
    /* order-independent: readdir order may change */
    h += lt_hash64(de->d_name, strlen(de->d_name)) ^ (n >= 0 ? lt_hash64(buf, (size_t)n) : 1);
  }
  closedir(dp);
  return h;
}

typedef struct rec {
  uint64_t off, hash;
  uint32_t len;
} rec_t;

static rec_t L[MAX_RECS], M[MAX_RECS];

/* Reads the log from offset 0 into out; returns the count (rc: last code). */
static size_t read_log(rec_t *out, int *rc_out) {
  lt_log_reader_t *r;
  size_t n = 0;
  int rc = lt_log_reader_open(dir, 0, &r);
  if (rc) {
    *rc_out = rc;
    return 0;
  }
  const void *p;
  uint32_t len;
  uint64_t off;
  while (n < MAX_RECS && (rc = lt_log_reader_next(r, &p, &len, &off)) == 1) {
    CHECK(len >= 1 && len <= LT_LOG_MAX_RECORD);
    if (n) CHECK(off == out[n - 1].off + 8 + out[n - 1].len);
    out[n++] = (rec_t){off, lt_hash64(p, len), len};
  }
  lt_log_reader_close(r);
  *rc_out = rc;
  return n;
}

static void same_records(size_t nl, size_t nm) {
  if (nl != nm)
    fprintf(stderr, "fuzz_log: reader saw %zu records before open, %zu after\n", nl, nm);
  CHECK(nl == nm);
  for (size_t i = 0; i < nl; i++)
    CHECK(L[i].off == M[i].off && L[i].len == M[i].len && L[i].hash == M[i].hash);
}

static void cleanup(void) {
  clear_dir(dir);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *t = getenv("TMPDIR");
  if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/lt-fuzzlog-%d", t, (int)getpid());
  mkdir(dir, 0700);
  atexit(cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned flags = data[0];
  clear_dir(dir);
  seg_t segs[MAX_SEGS];
  memset(segs, 0, sizeof segs);
  size_t ns = 1;
  char tmpname[64] = "";
  if (flags & 1) {
    segs[0].base = 0;
    put(&segs[0], data + 1, size - 1);
  } else {
    ns = build(data + 1, size - 1, flags & 4, segs, tmpname);
  }
  for (size_t i = 0; i < ns; i++) {
    char name[32];
    snprintf(name, sizeof name, "%020llu.log", (unsigned long long)segs[i].base);
    write_file(name, segs[i].p, segs[i].n);
    free(segs[i].p);
  }
  if (tmpname[0]) write_file(tmpname, "x", 1);

  /* R */
  int lrc;
  size_t nl = read_log(L, &lrc);
  CHECK(lrc == 0 || lrc == LT_ECORRUPT || lrc == LT_EVERSION);

  /* O */
  uint64_t d0 = dir_digest();
  lt_log_opts_t o = {.read_only = 1};
  lt_log_recovery_t rec;
  lt_log_t *log = NULL;
  int rc = lt_log_open(dir, &o, &log, &rec);
  CHECK(rc == 0 || rc == LT_ECORRUPT || rc == LT_EVERSION);
  if (!rc) {
    CHECK(rec.records == nl);
    if (nl) CHECK(rec.end_offset == L[nl - 1].off + 8 + L[nl - 1].len);
    lt_log_close(log);
  }
  CHECK(dir_digest() == d0);

  /* W */
  o = (lt_log_opts_t){.repair = (flags & 2) != 0, .fsync_mode = LT_FSYNC_BATCH};
  rc = lt_log_open(dir, &o, &log, &rec);
  if (rc == LT_ECORRUPT && !o.repair) {
    o.repair = 1;
    rc = lt_log_open(dir, &o, &log, &rec);
    if (rc) fprintf(stderr, "fuzz_log: repair failed: %s: %s\n", lt_strerror(rc), rec.message);
    CHECK(rc == 0);
  }
  if (rc) {
    if (rc != LT_EVERSION && rc != LT_ECORRUPT)
      fprintf(stderr, "fuzz_log: open: %s: %s\n", lt_strerror(rc), rec.message);
    CHECK(rc == LT_EVERSION || (rc == LT_ECORRUPT && !o.repair));
    return 0;
  }
  CHECK(rec.records == nl);
  int mrc;
  size_t nm = read_log(M, &mrc);
  CHECK(mrc == 0);
  same_records(nl, nm);

  /* A */
  static const char tail[] = "appended after recovery";
  const void *recs[1] = {tail};
  uint32_t lens[1] = {sizeof tail - 1};
  uint64_t first;
  CHECK(lt_log_append(log, recs, lens, 1, &first) == 0);
  CHECK(first == rec.end_offset);
  CHECK(lt_log_close(log) == 0);
  o = (lt_log_opts_t){0};
  rc = lt_log_open(dir, &o, &log, &rec);
  if (rc) fprintf(stderr, "fuzz_log: reopen after append: %s: %s\n", lt_strerror(rc), rec.message);
  CHECK(rc == 0);
  CHECK(rec.cut_bytes == 0 && rec.records == nl + 1);
  lt_log_close(log);
  nm = read_log(M, &mrc);
  CHECK(mrc == 0 && nm == nl + 1);
  same_records(nl, nm - 1);
  CHECK(M[nl].off == first && M[nl].len == lens[0] && M[nl].hash == lt_hash64(tail, lens[0]));
  return 0;
}
