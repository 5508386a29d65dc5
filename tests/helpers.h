/*
 * helpers.h — small utilities shared by the unit and integration tests.
 * Include after the cmocka prerequisites (stdarg.h, stddef.h, stdint.h,
 * setjmp.h) and cmocka.h.
 */
#ifndef LT_TESTS_HELPERS_H
#define LT_TESTS_HELPERS_H

#include <stddef.h>

/* Creates a fresh empty directory under $TMPDIR (or /tmp) and returns its
 * path (malloc'd: the caller frees it). */
char *lt_test_tmpdir(const char *tag);
/* rm -rf path (only paths returned by lt_test_tmpdir). */
void lt_test_rmdir(const char *path);
/* Writes a file with the given bytes. Returns 0 or -1. */
int lt_test_write_file(const char *path, const void *p, size_t n);
/* Path of the laotie binary under test ($LT_BIN, set by ctest). */
const char *lt_test_bin(void);
/* Path of the shared data folder ($LT_SHARED, set by ctest), e.g. for ml-100k. */
const char *lt_test_shared(void);

/* A TCP connection to 127.0.0.1:port: the socket, or -1. */
int lt_test_connect(unsigned port);
/* Sends all of p[0..n); 0, or -1 once the peer has closed the connection. */
int lt_test_send_all(int fd, const void *p, size_t n);
/* One HTTP/1.1 request to 127.0.0.1:port over a new connection (closed
 * after). extra_headers: "Name: value\r\n" lines or NULL. Returns the
 * status code (or -1), and the body in *body (malloc'd, NUL-terminated;
 * the caller frees; may be NULL). */
int lt_test_http(unsigned port, const char *method, const char *path, const char *extra_headers,
                 const void *req_body, size_t req_len, char **body);
/* Sends raw bytes and reads the answer until close or timeout_ms. Returns
 * the status code parsed from the answer or -1 when none. */
int lt_test_raw(unsigned port, const void *bytes, size_t n, int timeout_ms);

#endif
