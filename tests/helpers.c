/*
 * helpers.c — test utilities (see helpers.h).
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *lt_test_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s/lt-%s-XXXXXX", base, tag ? tag : "t");
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

void lt_test_rmdir(const char *path) {
  if (!path || !strstr(path, "/lt-")) return;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

int lt_test_write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

const char *lt_test_bin(void) {
  const char *b = getenv("LT_BIN");
  return b && *b ? b : "./laotie";
}

const char *lt_test_shared(void) {
  const char *s = getenv("LT_SHARED");
  return s && *s ? s : "../shared";
}
