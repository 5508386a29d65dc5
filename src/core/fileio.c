/*
 * fileio.c — see fileio.h. One write(2) takes at most 1 GiB (Linux caps
 * a write at about 2 GiB anyway), so a larger buffer goes in pieces.
 */
#include "core/fileio.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int lt_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return lt_err_from_errno(errno);
    }
    if (w == 0) return LT_EIO;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int lt_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return lt_err_from_errno(errno);
  int rc = fsync(fd) < 0 && errno != EINVAL ? lt_err_from_errno(errno) : 0;
  close(fd);
  return rc;
}

int lt_fsync_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return lt_fsync_dir(".");
  if (slash == path) return lt_fsync_dir("/");
  char *dir = strndup(path, (size_t)(slash - path));
  if (!dir) return LT_ENOMEM;
  int rc = lt_fsync_dir(dir);
  free(dir);
  return rc;
}
