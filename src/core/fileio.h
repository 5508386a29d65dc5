/*
 * fileio.h — writing a buffer to a file descriptor whole, and making a
 * directory's entries durable.
 */
#ifndef LT_CORE_FILEIO_H
#define LT_CORE_FILEIO_H

#include <stddef.h>

/* Writes p[0..n) to fd, going on after short writes and EINTR. Returns 0,
 * the failing write's error (lt_err_from_errno), or LT_EIO when write
 * returns 0. */
int lt_write_all(int fd, const void *p, size_t n);

/* fsyncs the directory dir, so that a file created or renamed in it stays
 * after a crash. EINVAL (a file system that cannot fsync a directory)
 * counts as done. Returns 0 or an error (lt_err_from_errno). */
int lt_fsync_dir(const char *dir);

/* lt_fsync_dir of the directory holding path ("." when path has no
 * slash); LT_ENOMEM when the name cannot be copied. */
int lt_fsync_parent(const char *path);

#endif
