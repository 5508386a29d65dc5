/*
 * error.c — text for laotie's error codes (see error.h for the convention).
 */
#include "core/error.h"

#include <errno.h>

const char *lt_strerror(int code) {
  switch (code) {
  case LT_OK:
    return "ok";
#define LT__ERR_TEXT(name, text) \
  case LT_E##name:               \
    return text;
    LT_ERRNO_MAP(LT__ERR_TEXT)
#undef LT__ERR_TEXT
  default:
    return "unknown error";
  }
}

int lt_err_from_errno(int e) {
  switch (e) {
  case ENOMEM:
    return LT_ENOMEM;
  case ENOSPC:
  case EDQUOT:
    return LT_ENOSPACE;
  case ENOENT:
    return LT_ENOTFOUND;
  case EEXIST:
    return LT_EEXISTS;
  case EINVAL:
    return LT_EINVAL;
  case EFBIG:
    return LT_ETOOBIG;
  default:
    return LT_EIO;
  }
}
