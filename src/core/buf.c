/*
 * buf.c — growable buffer and bounds-checked reader (see buf.h).
 */
#include "core/buf.h"

#include "core/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lt_buf_init(lt_buf_t *b) { memset(b, 0, sizeof *b); }

void lt_buf_free(lt_buf_t *b) {
  if (!b) return;
  free(b->p);
  memset(b, 0, sizeof *b);
}

int lt_buf_reserve(lt_buf_t *b, size_t extra) {
  if (b->err) return b->err;
  if (b->len + extra <= b->cap) return LT_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra) cap *= 2;
  unsigned char *p = realloc(b->p, cap);
  if (!p) return b->err = LT_ENOMEM;
  b->p = p;
  b->cap = cap;
  return LT_OK;
}

void lt_buf_put(lt_buf_t *b, const void *p, size_t n) {
  if (n == 0 || lt_buf_reserve(b, n)) return;
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

void lt_buf_u8(lt_buf_t *b, uint8_t v) {
  if (lt_buf_reserve(b, 1)) return;
  b->p[b->len++] = v;
}

void lt_buf_u32le(lt_buf_t *b, uint32_t v) {
  if (lt_buf_reserve(b, 4)) return;
  lt_store_u32le(b->p + b->len, v);
  b->len += 4;
}

void lt_buf_u64le(lt_buf_t *b, uint64_t v) {
  if (lt_buf_reserve(b, 8)) return;
  lt_store_u64le(b->p + b->len, v);
  b->len += 8;
}

void lt_buf_uvar(lt_buf_t *b, uint64_t v) {
  if (lt_buf_reserve(b, 10)) return;
  unsigned char *p = b->p + b->len;
  while (v >= 0x80) {
    *p++ = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  *p++ = (unsigned char)v;
  b->len = (size_t)(p - b->p);
}

void lt_buf_svar(lt_buf_t *b, int64_t v) {
  lt_buf_uvar(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void lt_buf_f32(lt_buf_t *b, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  lt_buf_u32le(b, u);
}

void lt_buf_udec(lt_buf_t *b, uint64_t v) {
  char d[20];
  int n = 0;
  do {
    d[sizeof d - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  lt_buf_put(b, d + sizeof d - n, (size_t)n);
}

void lt_buf_dec(lt_buf_t *b, int64_t v) {
  if (v < 0) lt_buf_u8(b, '-');
  lt_buf_udec(b, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void lt_buf_fixed(lt_buf_t *b, double v, int decimals) {
  static const double scale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  if (decimals < 0) decimals = 0;
  if (decimals > 9) decimals = 9;
  double r = round(fabs(v) * scale[decimals]);
  if (!(r < 9e18)) { /* (also NaN) */
    lt_buf_printf(b, "%.*f", decimals, v);
    return;
  }
  uint64_t p = (uint64_t)scale[decimals], x = (uint64_t)r;
  if (signbit(v)) lt_buf_u8(b, '-'); /* (printf writes -0.0000 too) */
  lt_buf_udec(b, x / p);
  if (!decimals) return;
  char d[9];
  uint64_t f = x % p;
  for (int i = decimals - 1; i >= 0; i--, f /= 10)
    d[i] = (char)('0' + f % 10);
  lt_buf_u8(b, '.');
  lt_buf_put(b, d, (size_t)decimals);
}

void lt_buf_str(lt_buf_t *b, const char *s, size_t n) {
  lt_buf_uvar(b, n);
  lt_buf_put(b, s, n);
}

void lt_buf_json_str(lt_buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  lt_buf_u8(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      lt_buf_u8(b, '\\');
      lt_buf_u8(b, c);
    } else if (c < 0x20 || c == 0x7f) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      lt_buf_put(b, e, 6);
    } else {
      lt_buf_u8(b, c);
    }
  }
  lt_buf_u8(b, '"');
}

int lt_buf_printf(lt_buf_t *b, const char *fmt, ...) {
  va_list ap;
  for (int pass = 0; pass < 2; pass++) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(room ? (char *)b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) return LT_EINVAL;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return LT_OK;
    }
    if (lt_buf_reserve(b, (size_t)n + 1)) return LT_ENOMEM;
  }
  return LT_ENOMEM;
}

uint8_t lt_rd_u8(lt_rd_t *r) {
  if (r->p >= r->end) {
    r->err = LT_ECORRUPT;
    return 0;
  }
  return *r->p++;
}

uint32_t lt_rd_u32le(lt_rd_t *r) {
  if (r->end - r->p < 4) {
    r->err = LT_ECORRUPT;
    r->p = r->end;
    return 0;
  }
  uint32_t v = lt_load_u32le(r->p);
  r->p += 4;
  return v;
}

uint64_t lt_rd_u64le(lt_rd_t *r) {
  if (r->end - r->p < 8) {
    r->err = LT_ECORRUPT;
    r->p = r->end;
    return 0;
  }
  uint64_t v = lt_load_u64le(r->p);
  r->p += 8;
  return v;
}

uint64_t lt_rd_uvar(lt_rd_t *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) break;
    unsigned char c = *r->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  r->err = LT_ECORRUPT;
  r->p = r->end;
  return 0;
}

int64_t lt_rd_svar(lt_rd_t *r) {
  uint64_t u = lt_rd_uvar(r);
  return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

float lt_rd_f32(lt_rd_t *r) {
  uint32_t u = lt_rd_u32le(r);
  float v;
  memcpy(&v, &u, 4);
  return v;
}

const void *lt_rd_bytes(lt_rd_t *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->err = LT_ECORRUPT;
    r->p = r->end;
    return NULL;
  }
  const void *p = r->p;
  r->p += n;
  return p;
}

const char *lt_rd_str(lt_rd_t *r, size_t *n, size_t max) {
  uint64_t len = lt_rd_uvar(r);
  if (r->err || len > max) {
    r->err = LT_ECORRUPT;
    *n = 0;
    return NULL;
  }
  *n = (size_t)len;
  return lt_rd_bytes(r, (size_t)len);
}
