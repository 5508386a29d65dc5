/*
 * disk_fsync.c — the disk's sequential write + fdatasync rate: the ceiling
 * for any log that makes each batch durable before answering.
 *
 * Appends CHUNK-byte blocks to a new file in DIR, calling fdatasync after
 * every block (the file grows, as a log segment does, so each fdatasync
 * also commits the new size), for SECONDS seconds. Prints one JSON line:
 *   {"chunk_bytes":..,"seconds":..,"fsyncs":..,"fsyncs_per_s":..,"mb_per_s":..,
 *    "p50_us":..,"p99_us":..}
 * and removes the file. The bench harness reads fsyncs_per_s as "how many
 * 1000-event batches per second the disk allows" (60 B per event).
 *
 *   disk_fsync DIR [SECONDS [CHUNK]]    defaults 5 s, 61440 bytes
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: disk_fsync DIR [SECONDS [CHUNK]]\n");
    return 2;
  }
  double secs = argc > 2 ? atof(argv[2]) : 5.0;
  size_t chunk = argc > 3 ? (size_t)atol(argv[3]) : 61440;
  char path[4096];
  snprintf(path, sizeof path, "%s/disk_fsync.%ld", argv[1], (long)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (fd < 0) {
    fprintf(stderr, "disk_fsync: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *buf = malloc(chunk);
  size_t cap = 1 << 20, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  if (!buf || !lat) return 1;
  for (size_t i = 0; i < chunk; i++) buf[i] = (char)('a' + i % 26);
  double t0 = now_s(), t = t0;
  while (t - t0 < secs && n < cap) {
    double a = now_s();
    size_t off = 0;
    while (off < chunk) {
      ssize_t w = write(fd, buf + off, chunk - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fprintf(stderr, "disk_fsync: write: %s\n", strerror(errno));
        return 1;
      }
      off += (size_t)w;
    }
    if (fdatasync(fd)) {
      fprintf(stderr, "disk_fsync: fdatasync: %s\n", strerror(errno));
      return 1;
    }
    t = now_s();
    lat[n++] = t - a;
  }
  double el = t - t0;
  close(fd);
  unlink(path);
  qsort(lat, n, sizeof *lat, cmp_d);
  printf("{\"chunk_bytes\": %zu, \"seconds\": %.3f, \"fsyncs\": %zu, \"fsyncs_per_s\": %.1f, "
         "\"mb_per_s\": %.2f, \"p50_us\": %.0f, \"p99_us\": %.0f}\n",
         chunk, el, n, n / el, (double)n * chunk / el / 1e6, lat[n / 2] * 1e6,
         lat[n * 99 / 100] * 1e6);
  free(buf);
  free(lat);
  return 0;
}
