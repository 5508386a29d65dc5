/*
 * cowatch_bench.c — the CPU cost of counting co-watch as events arrive
 * (model/cowatch.h), alone: no store, no HTTP, no ranker.
 *
 * One thread plays the writer as the feed's observer does (feed.c,
 * cowatch_batch): B batches of 1000 events, users and items uniform over U
 * and I (bench/lib/wrk.lua's worst case for the counters: almost every
 * pair is new), two events in three positive; before each event the
 * three prefetch steps for the events 4, 2 and 1 ahead, after each batch
 * lt_cowatch_done. The generator is seeded, so two builds see the same
 * events. Printed: thread CPU time per 1000 events, the mean over the
 * batches after the first tenth and over the last tenth (the cost grows
 * as the users' windows and the items' tables fill).
 *
 *   cowatch_bench [--batches 3000] [--users 100000] [--items 100000]
 *                 [--window 20] [--neighbors 128]
 *
 * Build (from the project root, after cmake --build build):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/cowatch_bench.c build/liblaotie.a \
 *     $(pkg-config --libs libcjson libmicrohttpd libxxhash openblas) -lm -lpthread \
 *     -o cowatch_bench
 */
#include "core/error.h"
#include "model/cowatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double thread_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

enum { BATCH = 1000 };

int main(int argc, char **argv) {
  long batches = 3000, users = 100000, items = 100000;
  lt_cowatch_opts_t o;
  lt_cowatch_opts_default(&o);
  for (int i = 1; i < argc; i++) {
    long *dst = NULL;
    uint32_t *dst32 = NULL;
    if (!strcmp(argv[i], "--batches")) dst = &batches;
    else if (!strcmp(argv[i], "--users")) dst = &users;
    else if (!strcmp(argv[i], "--items")) dst = &items;
    else if (!strcmp(argv[i], "--window")) dst32 = &o.window;
    else if (!strcmp(argv[i], "--neighbors")) dst32 = &o.capacity;
    if ((!dst && !dst32) || i + 1 >= argc) {
      fprintf(stderr, "usage: cowatch_bench [--batches B] [--users U] [--items I] [--window K] "
                      "[--neighbors N]\n");
      return 2;
    }
    long v = atol(argv[++i]);
    if (v < 1 || v > 100000000) {
      fprintf(stderr, "cowatch_bench: %s must be 1..100000000\n", argv[i - 1]);
      return 2;
    }
    if (dst) *dst = v;
    else *dst32 = (uint32_t)v;
  }
  lt_cowatch_t *cw = NULL;
  int rc = lt_cowatch_new(&o, &cw);
  if (rc) {
    fprintf(stderr, "cowatch_bench: %s\n", lt_strerror(rc));
    return 1;
  }
  static uint32_t user[BATCH], item[BATCH];
  static uint8_t positive[BATCH];
  static const size_t ahead[3] = {4, 2, 1};
  long first = batches / 10, last = batches - batches / 10;
  double all = 0, tail = 0;
  for (long b = 0; b < batches; b++) {
    for (int i = 0; i < BATCH; i++) {
      user[i] = rnd((uint32_t)users);
      item[i] = rnd((uint32_t)items);
      positive[i] = rnd(6) < 4;
    }
    double t0 = thread_s();
    for (size_t i = 0; i < BATCH; i++) {
      for (int step = 0; step < 3; step++)
        if (i + ahead[step] < BATCH)
          lt_cowatch_prefetch(cw, user[i + ahead[step]], item[i + ahead[step]], step);
      if (positive[i] && (rc = lt_cowatch_positive(cw, user[i], item[i]))) {
        fprintf(stderr, "cowatch_bench: %s\n", lt_strerror(rc));
        return 1;
      }
    }
    lt_cowatch_done(cw);
    double dt = thread_s() - t0;
    if (b >= first) all += dt;
    if (b >= last) tail += dt;
  }
  lt_cowatch_stats_t st;
  lt_cowatch_stats(cw, &st);
  printf("cowatch_bench: %ld batches x %d events, users %ld, items %ld, window %u, neighbors %u\n",
         batches, BATCH, users, items, o.window, o.capacity);
  printf("CPU us per 1000 events: %.0f (batches %ld..%ld), %.0f (last tenth); %.1f MB\n",
         all / (batches - first) * 1e6, first, batches - 1,
         batches / 10 ? tail / (batches / 10) * 1e6 : 0, st.bytes / 1e6);
  lt_cowatch_free(cw);
  return 0;
}
