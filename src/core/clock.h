/*
 * clock.h — wall time and calendar days in a configured time zone.
 *
 * Reports count days in the platform's time zone (default Asia/Shanghai),
 * not UTC. A day number is days since 1970-01-01 in that zone.
 * A zone is a fixed offset ("UTC", "+08:00", "UTC+8") or a tz database name
 * read from /usr/share/zoneinfo (TZif); "Asia/Shanghai" falls back to +08:00
 * where the database is absent (it has had no DST since 1991).
 */
#ifndef LT_CORE_CLOCK_H
#define LT_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define LT_TZ_MAX_TRANS 2048

typedef struct lt_tz {
  char name[64];
  int32_t fixed_offset; /* seconds east of UTC when ntrans == 0 */
  uint32_t ntrans;
  int64_t *trans_at;    /* transition instants (unix seconds), ascending */
  int32_t *trans_off;   /* offset in force from trans_at[i] */
  int32_t first_off;    /* offset before the first transition */
} lt_tz_t;

/* Wall clock in milliseconds since the epoch; monotonic clock in ns. */
int64_t lt_now_ms(void);
uint64_t lt_mono_ns(void);

/* Parses a zone spec into *tz. Returns 0 or LT_EINVAL / LT_ENOTFOUND. */
int lt_tz_load(lt_tz_t *tz, const char *spec);
void lt_tz_free(lt_tz_t *tz);
/* UTC offset in seconds in force at unix time t. */
int32_t lt_tz_offset(const lt_tz_t *tz, int64_t t);
/* Local day number of unix time t (seconds). */
int32_t lt_tz_day(const lt_tz_t *tz, int64_t t);
/* Unix time (seconds) of the start of local day d. */
int64_t lt_tz_day_start(const lt_tz_t *tz, int32_t day);

/* Civil date <-> day number (proleptic Gregorian). */
int32_t lt_days_from_civil(int y, int m, int d);
void lt_civil_from_days(int32_t z, int *y, int *m, int *d);
/* "YYYY-MM-DD" <-> day number. format writes 11 bytes including NUL. */
int lt_day_parse(const char *s, int32_t *day);
void lt_day_format(int32_t day, char out[11]);

#endif
