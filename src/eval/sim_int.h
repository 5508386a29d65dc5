/*
 * sim_int.h — shared between the simulator's files only (simulate.c, the
 * loop; sim_http.c, the client of a running server for remote mode).
 */
#ifndef LT_EVAL_SIM_INT_H
#define LT_EVAL_SIM_INT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lt__http lt__http_t;

/* Connects to url ("http://host:port", no path) with key as the Bearer
 * token (may be NULL). Returns 0, LT_EINVAL (url) or LT_EIO. */
int lt__http_open(const char *url, const char *key, lt__http_t **out);
void lt__http_close(lt__http_t *h);

/* One request over the kept-alive connection (reconnecting once when the
 * server closed it). body may be NULL. The answer's body is in *resp
 * (the client's buffer, valid until the next request; NUL-terminated).
 * Returns 0 with *status set, or LT_EIO. */
int lt__http_req(lt__http_t *h, const char *method, const char *path, const void *body, size_t len,
                 int *status, const char **resp, size_t *resp_len);

#endif
