/*
 * buf.h — a growable byte buffer and the varint codec used by log records
 * and snapshots.
 *
 * Varints are LEB128 (7 bits per byte, low first); signed values are
 * zig-zag encoded first. A reader (lt_rd_t) never reads past its end: on
 * truncated or malformed input it sets err and returns 0s, so decoders check
 * rd.err once at the end.
 */
#ifndef LT_CORE_BUF_H
#define LT_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt_buf {
  unsigned char *p;
  size_t len, cap;
  int err; /* sticky LT_ENOMEM */
} lt_buf_t;

void lt_buf_init(lt_buf_t *b);
void lt_buf_free(lt_buf_t *b);
static inline void lt_buf_reset(lt_buf_t *b) { b->len = 0; }
int lt_buf_reserve(lt_buf_t *b, size_t extra);
void lt_buf_put(lt_buf_t *b, const void *p, size_t n);
void lt_buf_u8(lt_buf_t *b, uint8_t v);
void lt_buf_u32le(lt_buf_t *b, uint32_t v);
void lt_buf_u64le(lt_buf_t *b, uint64_t v);
void lt_buf_uvar(lt_buf_t *b, uint64_t v);
void lt_buf_svar(lt_buf_t *b, int64_t v);
void lt_buf_f32(lt_buf_t *b, float v);
/* length-prefixed bytes (uvar length) */
void lt_buf_str(lt_buf_t *b, const char *s, size_t n);
/* Appends s[0..n) as a JSON string literal, quotes included: '"' and '\\'
 * escaped, control characters and DEL as \u00XX; other bytes as they are. */
void lt_buf_json_str(lt_buf_t *b, const char *s, size_t n);
/* Appends v in decimal, as "%" PRId64 / "%" PRIu64 would. */
void lt_buf_dec(lt_buf_t *b, int64_t v);
void lt_buf_udec(lt_buf_t *b, uint64_t v);
/* Appends v with exactly `decimals` (0..9) digits after the point, as
 * "%.*f" would (round half away from zero on the scaled value rather than
 * on the exact binary value, so a last digit may differ from printf's on a
 * tie); values of 9e18 and more once scaled, and non-finite ones, go
 * through printf. */
void lt_buf_fixed(lt_buf_t *b, double v, int decimals);
/* printf-append; returns 0 or LT_ENOMEM */
int lt_buf_printf(lt_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct lt_rd {
  const unsigned char *p, *end;
  int err; /* sticky LT_ECORRUPT */
} lt_rd_t;

static inline void lt_rd_init(lt_rd_t *r, const void *p, size_t n) {
  r->p = (const unsigned char *)p;
  r->end = r->p + n;
  r->err = 0;
}
uint8_t lt_rd_u8(lt_rd_t *r);
uint32_t lt_rd_u32le(lt_rd_t *r);
uint64_t lt_rd_u64le(lt_rd_t *r);
uint64_t lt_rd_uvar(lt_rd_t *r);
int64_t lt_rd_svar(lt_rd_t *r);
float lt_rd_f32(lt_rd_t *r);
/* A view of length-prefixed bytes inside the input (at most max bytes). */
const char *lt_rd_str(lt_rd_t *r, size_t *n, size_t max);
const void *lt_rd_bytes(lt_rd_t *r, size_t n);

static inline uint32_t lt_load_u32le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void lt_store_u32le(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}
static inline uint64_t lt_load_u64le(const unsigned char *p) {
  return (uint64_t)lt_load_u32le(p) | (uint64_t)lt_load_u32le(p + 4) << 32;
}
static inline void lt_store_u64le(unsigned char *p, uint64_t v) {
  lt_store_u32le(p, (uint32_t)v);
  lt_store_u32le(p + 4, (uint32_t)(v >> 32));
}

#endif
