/*
 * opts.c — the one parser of named options (see opts.h).
 *
 * A value is read by its entry's type: strings are copied when they fit;
 * numbers go through strtod and must be the whole text, finite, within
 * [lo, hi] (NaN fails that test), and whole for the integer types; hours
 * and minutes are stored as milliseconds, rounded; on/off and names are
 * exact words. A refused value leaves the field as it was.
 */
#include "core/opts.h"

#include "core/error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int whole(lt_opt_type_t t) { return t == LT_OPT_U32 || t == LT_OPT_U64; }

/* The numeric value of field k of obj (in the unit the bounds use). */
static double number_of(const lt_opt_t *k, const void *obj) {
  const char *f = (const char *)obj + k->off;
  switch (k->type) {
  case LT_OPT_U32:
    return *(const uint32_t *)f;
  case LT_OPT_U64:
    return (double)*(const uint64_t *)f;
  case LT_OPT_F32:
    return *(const float *)f;
  case LT_OPT_F64:
    return *(const double *)f;
  case LT_OPT_MS_H:
    return (double)*(const int64_t *)f / 3600000.0;
  case LT_OPT_MS_MIN:
    return (double)*(const int64_t *)f / 60000.0;
  default:
    return 0;
  }
}

static int set_one(const lt_opt_t *k, void *obj, const char *p, const char *value, char *err,
                   size_t errlen) {
  char *f = (char *)obj + k->off;
  if (k->type == LT_OPT_STR) {
    if (strlen(value) >= k->size) {
      say(err, errlen, "%s%s: value too long (max %zu bytes)", p, k->key, k->size - 1);
      return LT_EINVAL;
    }
    strcpy(f, value);
    return LT_OK;
  }
  if (k->type == LT_OPT_OFF) {
    if (!strcmp(value, "on"))
      *(uint32_t *)f &= ~k->bit;
    else if (!strcmp(value, "off"))
      *(uint32_t *)f |= k->bit;
    else {
      say(err, errlen, "%s%s: unexpected value '%s' (on | off)", p, k->key, value);
      return LT_EINVAL;
    }
    return LT_OK;
  }
  if (k->type == LT_OPT_NAME) {
    for (uint32_t i = 0; k->names[i]; i++)
      if (!strcmp(value, k->names[i])) {
        *(uint32_t *)f = (uint32_t)k->lo + i;
        return LT_OK;
      }
    char names[256] = "";
    for (uint32_t i = 0; k->names[i]; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " | " : "",
               k->names[i]);
    say(err, errlen, "%s%s: unexpected value '%s' (%s)", p, k->key, value, names);
    return LT_EINVAL;
  }
  char *end;
  errno = 0;
  double v = strtod(value, &end);
  if (!*value || *end || errno || !isfinite(v) || !(v >= k->lo && v <= k->hi) ||
      (whole(k->type) && v != floor(v))) {
    say(err, errlen, "%s%s: expected a %s in [%g, %g], got '%s'", p, k->key,
        whole(k->type) ? "whole number" : "number", k->lo, k->hi, value);
    return LT_EINVAL;
  }
  switch (k->type) {
  case LT_OPT_U32:
    *(uint32_t *)f = (uint32_t)v;
    break;
  case LT_OPT_U64:
    *(uint64_t *)f = (uint64_t)v;
    break;
  case LT_OPT_F32:
    *(float *)f = (float)v;
    break;
  case LT_OPT_F64:
    *(double *)f = v;
    break;
  case LT_OPT_MS_H:
    *(int64_t *)f = (int64_t)llround(v * 3600000.0);
    break;
  case LT_OPT_MS_MIN:
    *(int64_t *)f = (int64_t)llround(v * 60000.0);
    break;
  default:
    return LT_EINVAL;
  }
  return LT_OK;
}

int lt_opts_set(const lt_opt_t *t, size_t n, void *obj, const char *prefix, const char *key,
                const char *value, char *err, size_t errlen) {
  if (!t || !obj || !key || !value) return LT_EINVAL;
  const char *p = prefix ? prefix : "";
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].key, key)) return set_one(&t[i], obj, p, value, err, errlen);
  say(err, errlen, "unknown key '%s%s'", p, key);
  return LT_ENOTFOUND;
}

void lt_opts_format(const lt_opt_t *k, const void *obj, char *buf, size_t cap) {
  const char *f = (const char *)obj + k->off;
  switch (k->type) {
  case LT_OPT_STR:
    snprintf(buf, cap, "%s", f);
    break;
  case LT_OPT_U32:
    snprintf(buf, cap, "%u", *(const uint32_t *)f);
    break;
  case LT_OPT_U64:
    snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)f);
    break;
  case LT_OPT_OFF:
    snprintf(buf, cap, "%s", (*(const uint32_t *)f & k->bit) ? "off" : "on");
    break;
  case LT_OPT_NAME: {
    uint32_t v = *(const uint32_t *)f - (uint32_t)k->lo, i = 0;
    while (k->names[i] && i < v)
      i++;
    snprintf(buf, cap, "%s", k->names[i] ? k->names[i] : "?");
    break;
  }
  default:
    snprintf(buf, cap, "%g", number_of(k, obj));
    break;
  }
}

int lt_opts_check(const lt_opt_t *t, size_t n, const void *obj, const char *prefix, char *err,
                  size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    const lt_opt_t *k = &t[i];
    if (k->type == LT_OPT_STR || k->type == LT_OPT_OFF || k->type == LT_OPT_NAME) continue;
    double v = number_of(k, obj);
    if (!(v >= k->lo && v <= k->hi)) {
      say(err, errlen, "%s%s: %g is outside [%g, %g]", prefix ? prefix : "", k->key, v, k->lo,
          k->hi);
      return LT_EINVAL;
    }
  }
  return LT_OK;
}
