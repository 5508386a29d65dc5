/*
 * fileio.h — writing a buffer to a file descriptor whole.
 */
#ifndef LT_CORE_FILEIO_H
#define LT_CORE_FILEIO_H

#include <stddef.h>

/* Writes p[0..n) to fd, going on after short writes and EINTR. Returns 0,
 * the failing write's error (lt_err_from_errno), or LT_EIO when write
 * returns 0. */
int lt_write_all(int fd, const void *p, size_t n);

#endif
