/*
 * sim_http.c — the simulator's HTTP/1.1 client for remote mode: one
 * kept-alive connection to a laotie server, requests with a JSON body and
 * a Bearer key, answers read by Content-Length.
 *
 * Deliberately small: the server under test is laotie's own (libmicrohttpd
 * answers buffered bodies with a Content-Length), so chunked transfer
 * encoding is not spoken; an answer without a length is read to close.
 */
#include "eval/sim_int.h"

#include "core/error.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct lt__http {
  int fd;
  char host[256], port[16];
  char auth[400];
  lt_buf_t req, resp;
};

static void disconnect(lt__http_t *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
}

static int connect_to(lt__http_t *h) {
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(h->host, h->port, &hints, &ai) || !ai) return LT_EIO;
  int fd = -1;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (!connect(fd, a->ai_addr, a->ai_addrlen)) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) return LT_EIO;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  h->fd = fd;
  return LT_OK;
}

int lt__http_open(const char *url, const char *key, lt__http_t **out) {
  if (!url || strncmp(url, "http://", 7)) return LT_EINVAL;
  const char *hp = url + 7, *slash = strchr(hp, '/');
  size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
  const char *colon = memchr(hp, ':', n);
  lt__http_t *h = calloc(1, sizeof *h);
  if (!h) return LT_ENOMEM;
  h->fd = -1;
  size_t hn = colon ? (size_t)(colon - hp) : n;
  if (!hn || hn >= sizeof h->host) {
    free(h);
    return LT_EINVAL;
  }
  memcpy(h->host, hp, hn);
  if (colon)
    snprintf(h->port, sizeof h->port, "%.*s", (int)(n - hn - 1), colon + 1);
  else
    strcpy(h->port, "80");
  if (key && *key) snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %s\r\n", key);
  lt_buf_init(&h->req);
  lt_buf_init(&h->resp);
  int rc = connect_to(h);
  if (rc) {
    lt__http_close(h);
    return rc;
  }
  *out = h;
  return LT_OK;
}

void lt__http_close(lt__http_t *h) {
  if (!h) return;
  disconnect(h);
  lt_buf_free(&h->req);
  lt_buf_free(&h->resp);
  free(h);
}

static int send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return LT_EIO;
    c += w;
    n -= (size_t)w;
  }
  return LT_OK;
}

/* Reads one answer into h->resp: headers, then the body. */
static int read_answer(lt__http_t *h, int *status, size_t *body_off, size_t *body_len) {
  lt_buf_t *b = &h->resp;
  b->len = 0;
  size_t hend = 0;
  long clen = -1;
  for (;;) {
    if (lt_buf_reserve(b, 65536)) return LT_ENOMEM;
    ssize_t r = recv(h->fd, b->p + b->len, b->cap - b->len - 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return LT_EIO;
    if (r == 0) {
      if (!hend || clen >= 0) return LT_EIO; /* closed early */
      break;                                 /* no length: the body ends at close */
    }
    b->len += (size_t)r;
    b->p[b->len] = 0;
    if (!hend) {
      char *e = strstr((char *)b->p, "\r\n\r\n");
      if (!e) continue;
      hend = (size_t)(e - (char *)b->p) + 4;
      if (sscanf((char *)b->p, "HTTP/1.%*d %d", status) != 1) return LT_EIO;
      for (char *l = strstr((char *)b->p, "\r\n"); l && l < e; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, "Content-Length:", 15)) clen = atol(l + 17);
    }
    if (clen >= 0 && b->len >= hend + (size_t)clen) break;
  }
  *body_off = hend;
  *body_len = clen >= 0 ? (size_t)clen : b->len - hend;
  return LT_OK;
}

int lt__http_req(lt__http_t *h, const char *method, const char *path, const void *body, size_t len,
                 int *status, const char **resp, size_t *resp_len) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (h->fd < 0 && connect_to(h)) return LT_EIO;
    h->req.len = 0;
    lt_buf_printf(&h->req,
                  "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%sContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  method, path, h->host, h->port, h->auth, len);
    if (len) lt_buf_put(&h->req, body, len);
    size_t off = 0, blen = 0;
    if (send_all(h->fd, h->req.p, h->req.len) || read_answer(h, status, &off, &blen)) {
      disconnect(h); /* a kept-alive connection the server closed: once more */
      continue;
    }
    h->resp.p[off + blen] = 0;
    *resp = (const char *)h->resp.p + off;
    if (resp_len) *resp_len = blen;
    return LT_OK;
  }
  return LT_EIO;
}
