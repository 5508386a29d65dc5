/*
 * helpers.c — test utilities (see helpers.h).
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

int lt_test_connect(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return -1;
  }
  return fd;
}

int lt_test_send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads until the peer closes or timeout; returns bytes (malloc'd). */
static char *read_all(int fd, size_t *n, int timeout_ms) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) break;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    ssize_t r = recv(fd, buf + len, cap - len, 0);
    if (r <= 0) break;
    len += (size_t)r;
  }
  buf[len] = 0;
  *n = len;
  return buf;
}

static int parse_status(const char *resp) {
  int status = -1;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return -1;
  return status;
}

int lt_test_http(unsigned port, const char *method, const char *path, const char *extra_headers,
                 const void *req_body, size_t req_len, char **body) {
  if (body) *body = NULL;
  int fd = lt_test_connect(port);
  if (fd < 0) return -1;
  char head[4096];
  int hn = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                    "Content-Length: %zu\r\n\r\n",
                    method, path, extra_headers ? extra_headers : "", req_len);
  /* a server may answer before the whole body is sent (a 413 for a body
   * over its limit) and close: read what it answered, as curl does */
  if (lt_test_send_all(fd, head, (size_t)hn) ||
      (req_len && lt_test_send_all(fd, req_body, req_len)))
    shutdown(fd, SHUT_WR);
  size_t n;
  char *resp = read_all(fd, &n, 10000);
  close(fd);
  int status = parse_status(resp);
  char *b = strstr(resp, "\r\n\r\n");
  if (body) *body = strdup(b ? b + 4 : "");
  free(resp);
  return status;
}

int lt_test_raw(unsigned port, const void *bytes, size_t n, int timeout_ms) {
  int fd = lt_test_connect(port);
  if (fd < 0) return -1;
  lt_test_send_all(fd, bytes, n);
  shutdown(fd, SHUT_WR);
  size_t rn;
  char *resp = read_all(fd, &rn, timeout_ms);
  close(fd);
  int status = parse_status(resp);
  free(resp);
  return status;
}
