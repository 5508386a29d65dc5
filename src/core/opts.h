/*
 * opts.h — named options of a C struct, set from text and printed back.
 *
 * Every options struct with keys a config file or a command line can set
 * (the server's config, the feed's policies, the ads engine) describes its
 * fields in one table of lt_opt_t: the key, the field's type and offset,
 * its bounds and a line of help. These functions are the one parser of
 * such values: a number must be all digits of one number, finite, within
 * [lo, hi], and whole for integer types; an unknown key and a bad value
 * are told apart (LT_ENOTFOUND vs LT_EINVAL) and the message says why.
 *
 *   static const lt_opt_t keys[] = {
 *     LT_OPT(my_opts_t, threads, LT_OPT_U32, 1, 256, "worker threads"),
 *     ...};
 *   lt_opts_set(keys, LT_OPTS_N(keys), &o, NULL, "threads", "4", err, sizeof err);
 */
#ifndef LT_CORE_OPTS_H
#define LT_CORE_OPTS_H

#include <stddef.h>
#include <stdint.h>

typedef enum lt_opt_type {
  LT_OPT_STR,    /* char[size], NUL-terminated; longer values are refused */
  LT_OPT_U32,    /* uint32_t, a whole number */
  LT_OPT_U64,    /* uint64_t, a whole number (exact below 2^53) */
  LT_OPT_F32,    /* float */
  LT_OPT_F64,    /* double */
  LT_OPT_MS_H,   /* int64_t milliseconds, written in hours (bounds in hours) */
  LT_OPT_MS_MIN, /* int64_t milliseconds, written in minutes (bounds in minutes) */
  LT_OPT_OFF,    /* "on" | "off": clears | sets `bit` in the uint32_t field */
  LT_OPT_NAME    /* uint32_t lo + the index of the value in names[] (NULL-terminated) */
} lt_opt_type_t;

typedef struct lt_opt {
  const char *key;
  lt_opt_type_t type;
  size_t off, size;         /* the field's offset and size in the struct */
  double lo, hi;            /* numeric types: the accepted range */
  uint32_t bit;             /* LT_OPT_OFF */
  const char *const *names; /* LT_OPT_NAME */
  const char *help;
} lt_opt_t;

/* Table entries for field f of struct type T: under its own name, under
 * another key, an on/off bit of a flags field, a name from a list. */
#define LT_OPT(T, f, type, lo, hi, help) LT_OPT_AS(T, #f, f, type, lo, hi, help)
#define LT_OPT_AS(T, key, f, type, lo, hi, help)                                                   \
  { key, type, offsetof(T, f), sizeof(((T *)0)->f), lo, hi, 0, NULL, help }
#define LT_OPT_BIT(T, key, f, bit, help)                                                           \
  { key, LT_OPT_OFF, offsetof(T, f), sizeof(((T *)0)->f), 0, 0, bit, NULL, help }
#define LT_OPT_NAMES(T, key, f, first, names, help)                                                \
  { key, LT_OPT_NAME, offsetof(T, f), sizeof(((T *)0)->f), first, 0, 0, names, help }
#define LT_OPTS_N(table) (sizeof(table) / sizeof *(table))

/* Sets the option `key` of the struct at obj from value. prefix (may be
 * NULL) is put before key in messages ("ads."). Returns 0; LT_ENOTFOUND
 * when no entry has that key (err: "unknown key 'KEY'"); LT_EINVAL when
 * the value is refused (err says why; the field is unchanged) or an
 * argument is NULL. err may be NULL. */
int lt_opts_set(const lt_opt_t *t, size_t n, void *obj, const char *prefix, const char *key,
                const char *value, char *err, size_t errlen);

/* The current value of entry k of obj as text into buf (as lt_opts_set
 * reads it back). */
void lt_opts_format(const lt_opt_t *k, const void *obj, char *buf, size_t cap);

/* 0 when every numeric field of obj is within its bounds, else LT_EINVAL
 * with the first one out of range named in err. */
int lt_opts_check(const lt_opt_t *t, size_t n, const void *obj, const char *prefix, char *err,
                  size_t errlen);

#endif
