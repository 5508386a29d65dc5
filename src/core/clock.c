/*
 * clock.c — time and zones (see clock.h).
 *
 * TZif files (RFC 8536) are read for their version-1 block: a 44-byte
 * header ("TZif", version, 15 reserved bytes, six big-endian counts:
 * isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt), then timecnt
 * 4-byte transition times, timecnt 1-byte type indices, typecnt 6-byte
 * ttinfo (int32 utoff, u8 isdst, u8 desigidx). When a version-2+ block
 * follows, its 8-byte transition times are used instead. Instants after
 * the last transition keep its offset (the POSIX footer is not read; this
 * only matters for zones with DST after the table ends).
 */
#include "core/clock.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t lt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t lt_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse_fixed(const char *s, int32_t *off) {
  if (!strcmp(s, "UTC") || !strcmp(s, "Z") || !strcmp(s, "GMT")) {
    *off = 0;
    return 1;
  }
  if (!strncmp(s, "UTC", 3) || !strncmp(s, "GMT", 3)) s += 3;
  if (*s != '+' && *s != '-') return 0;
  int sign = *s == '-' ? -1 : 1, h = 0, m = 0;
  s++;
  if (*s < '0' || *s > '9') return 0;
  while (*s >= '0' && *s <= '9') h = h * 10 + (*s++ - '0');
  if (*s == ':') {
    s++;
    if (!(s[0] >= '0' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9')) return 0;
    m = (s[0] - '0') * 10 + (s[1] - '0');
    s += 2;
  } else if (h >= 100) { /* +0800 */
    m = h % 100;
    h /= 100;
  }
  if (*s || h > 14 || m > 59) return 0;
  *off = sign * (h * 3600 + m * 60);
  return 1;
}

/* Reads one TZif data block; ts_size 4 or 8. Returns bytes consumed or -1. */
static long read_block(lt_tz_t *tz, const unsigned char *p, size_t n, int ts_size) {
  if (n < 44 || memcmp(p, "TZif", 4)) return -1;
  uint32_t isutc = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28), timecnt = be32(p + 32),
           typecnt = be32(p + 36), charcnt = be32(p + 40);
  if (timecnt > LT_TZ_MAX_TRANS || typecnt == 0 || typecnt > 256) return -1;
  size_t need = 44 + (size_t)timecnt * ts_size + timecnt + typecnt * 6 + charcnt +
                (size_t)leap * (ts_size + 4) + isstd + isutc;
  if (need > n) return -1;
  const unsigned char *times = p + 44, *idx = times + (size_t)timecnt * ts_size,
                      *types = idx + timecnt;
  free(tz->trans_at);
  free(tz->trans_off);
  tz->trans_at = malloc((timecnt ? timecnt : 1) * sizeof *tz->trans_at);
  tz->trans_off = malloc((timecnt ? timecnt : 1) * sizeof *tz->trans_off);
  if (!tz->trans_at || !tz->trans_off) return -1;
  for (uint32_t i = 0; i < timecnt; i++) {
    int64_t t = ts_size == 4 ? (int64_t)(int32_t)be32(times + 4 * i)
                             : (int64_t)((uint64_t)be32(times + 8 * i) << 32 | be32(times + 8 * i + 4));
    if (idx[i] >= typecnt) return -1;
    tz->trans_at[i] = t;
    tz->trans_off[i] = (int32_t)be32(types + 6 * idx[i]);
  }
  tz->ntrans = timecnt;
  /* RFC 8536: the offset before the first transition is type 0's. */
  tz->first_off = (int32_t)be32(types);
  tz->fixed_offset = tz->first_off;
  return (long)need;
}

int lt_tz_load(lt_tz_t *tz, const char *spec) {
  memset(tz, 0, sizeof *tz);
  if (!spec || !*spec) spec = "Asia/Shanghai";
  snprintf(tz->name, sizeof tz->name, "%s", spec);
  if (parse_fixed(spec, &tz->fixed_offset)) return LT_OK;
  /* A tz database name: letters, digits, '/', '_', '-', '+'; no "..". */
  for (const char *c = spec; *c; c++)
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
          *c == '/' || *c == '_' || *c == '-' || *c == '+'))
      return LT_EINVAL;
  if (strstr(spec, "..") || spec[0] == '/') return LT_EINVAL;
  char path[160];
  snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", spec);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (!strcmp(spec, "Asia/Shanghai")) {
      tz->fixed_offset = 8 * 3600;
      return LT_OK;
    }
    return LT_ENOTFOUND;
  }
  unsigned char *data = malloc(1 << 20);
  size_t n = data ? fread(data, 1, 1 << 20, f) : 0;
  fclose(f);
  int rc = LT_EINVAL;
  long used = data ? read_block(tz, data, n, 4) : -1;
  if (used > 0) {
    rc = LT_OK;
    if (data[4] >= '2' && (size_t)used < n) read_block(tz, data + used, n - (size_t)used, 8);
  }
  free(data);
  if (rc) lt_tz_free(tz);
  return rc;
}

void lt_tz_free(lt_tz_t *tz) {
  if (!tz) return;
  free(tz->trans_at);
  free(tz->trans_off);
  tz->trans_at = NULL;
  tz->trans_off = NULL;
  tz->ntrans = 0;
}

int32_t lt_tz_offset(const lt_tz_t *tz, int64_t t) {
  if (!tz->ntrans) return tz->fixed_offset;
  if (t < tz->trans_at[0]) return tz->first_off;
  uint32_t lo = 0, hi = tz->ntrans; /* last transition <= t */
  while (hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    if (tz->trans_at[mid] <= t) lo = mid;
    else hi = mid;
  }
  return tz->trans_off[lo];
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int32_t lt_tz_day(const lt_tz_t *tz, int64_t t) {
  return (int32_t)floor_div(t + lt_tz_offset(tz, t), 86400);
}

int64_t lt_tz_day_start(const lt_tz_t *tz, int32_t day) {
  int64_t guess = (int64_t)day * 86400;
  int64_t t = guess - lt_tz_offset(tz, guess);
  /* one refinement handles an offset change near midnight */
  return guess - lt_tz_offset(tz, t);
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int32_t lt_days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int)doe - 719468;
}

void lt_civil_from_days(int32_t z, int *y, int *m, int *d) {
  z += 719468;
  int era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int yy = (int)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yy + (*m <= 2);
}

int lt_day_parse(const char *s, int32_t *day) {
  int y, m, d;
  char tail;
  if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return LT_EINVAL;
  if (s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1) return LT_EINVAL;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > mdays[m - 1] + (m == 2 && leap)) return LT_EINVAL;
  *day = lt_days_from_civil(y, m, d);
  return LT_OK;
}

void lt_day_format(int32_t day, char out[11]) {
  int y, m, d;
  lt_civil_from_days(day, &y, &m, &d);
  unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m % 100u, dd = (unsigned)d % 100u;
  out[0] = (char)('0' + yy / 1000);
  out[1] = (char)('0' + yy / 100 % 10);
  out[2] = (char)('0' + yy / 10 % 10);
  out[3] = (char)('0' + yy % 10);
  out[4] = '-';
  out[5] = (char)('0' + mm / 10);
  out[6] = (char)('0' + mm % 10);
  out[7] = '-';
  out[8] = (char)('0' + dd / 10);
  out[9] = (char)('0' + dd % 10);
  out[10] = 0;
}
