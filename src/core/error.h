/*
 * error.h — laotie's one error convention.
 *
 * Every function that can fail returns int: 0 (LT_OK) on success, or a
 * negative LT_E* code from the table below. Results travel through
 * out-parameters. lt_strerror() turns a code into text, as libuv's
 * UV_ERRNO_MAP does.
 */
#ifndef LT_CORE_ERROR_H
#define LT_CORE_ERROR_H

#define LT_ERRNO_MAP(X)                                                  \
  X(INVAL, "invalid argument")                                           \
  X(NOMEM, "out of memory")                                              \
  X(IO, "i/o error")                                                     \
  X(CORRUPT, "data is corrupt")                                          \
  X(NOTFOUND, "not found")                                               \
  X(EXISTS, "already exists")                                            \
  X(TOOBIG, "too large")                                                 \
  X(NOSPACE, "no space left on device")                                  \
  X(BUSY, "busy")                                                        \
  X(READONLY, "refusing writes after an i/o failure until reopened")     \
  X(PARSE, "parse error")                                                \
  X(RANGE, "value out of range")                                         \
  X(VERSION, "unsupported format version")                               \
  X(DUPLICATE, "duplicate")                                              \
  X(CLOSED, "closed")                                                    \
  X(AUTH, "not authorised")

enum {
  LT_OK = 0,
  LT__ERR_BASE = -1000,
#define LT__ERR_ENUM(name, text) LT_E##name,
  LT_ERRNO_MAP(LT__ERR_ENUM)
#undef LT__ERR_ENUM
  LT__ERR_END
};

/* Text for an error code (static storage; never NULL). */
const char *lt_strerror(int code);

/* Maps an errno value to the closest LT_E* code (ENOSPC -> LT_ENOSPACE, ...). */
int lt_err_from_errno(int e);

#endif
