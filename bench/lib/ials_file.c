/*
 * ials_file.c — laotie's iALS (src/model/ials.c) timed on an interaction
 * matrix read from a file, so that the NumPy/SciPy reference
 * (bench/lib/ials_peer.py, which calls bench/ials_ref.py) trains on exactly
 * the same matrix in the same run.
 *
 * File format (written by `bench/lib/bench.py pairs`), little-endian:
 *   8 bytes  "LTPAIRS1"
 *   u32 nusers, u32 nitems, u64 nnz
 *   u32 users[nnz], u32 items[nnz]     (distinct pairs; every weight 1)
 *
 * Hyper-parameters are lt_ials_opts_default()'s (alpha 1, lambda 1, 3 CG
 * steps, init N(0, 0.01^2)), the same as ials_ref.py's defaults.
 * Prints one JSON line: {"k", "iters", "threads", "nusers", "nitems", "nnz",
 * "iter_s": [...], "total_s", "cpu_s", "coretype"}.
 *
 * OpenBLAS 0.3.21 does not recognise this CPU family and falls back to a
 * slow kernel; like bench/ials_bench.c, the program re-executes itself
 * once with OPENBLAS_CORETYPE=Haswell unless the variable is set or the
 * CPU lacks AVX2 (the harness sets it for the NumPy side too, so both use
 * the same kernel).
 *
 *   ials_file FILE [K [ITERS [THREADS]]]     defaults 64 15 0 (= all CPUs)
 */
#include "model/csr.h"
#include "model/ials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  double t[1024];
  uint32_t n;
} times_t;

static void on_iter(void *ctx, uint32_t iter, double sec) {
  times_t *t = ctx;
  if (t->n < 1024) t->t[t->n++] = sec;
}

static double now_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx2")) {
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv);
  }
  if (argc < 2) {
    fprintf(stderr, "usage: ials_file FILE [K [ITERS [THREADS]]]\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  char magic[8];
  uint32_t nu, ni;
  uint64_t nnz;
  if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "LTPAIRS1", 8) ||
      fread(&nu, 4, 1, f) != 1 || fread(&ni, 4, 1, f) != 1 || fread(&nnz, 8, 1, f) != 1) {
    fprintf(stderr, "ials_file: %s: not a pairs file\n", argv[1]);
    return 1;
  }
  uint32_t *u = malloc(nnz * 4), *it = malloc(nnz * 4);
  if (!u || !it || fread(u, 4, nnz, f) != nnz || fread(it, 4, nnz, f) != nnz) {
    fprintf(stderr, "ials_file: %s: short file\n", argv[1]);
    return 1;
  }
  fclose(f);
  lt_csr_t *ui = NULL;
  if (lt_csr_build(nu, ni, u, it, NULL, nnz, LT_CSR_DUP_MAX, &ui)) {
    fprintf(stderr, "ials_file: bad matrix\n");
    return 1;
  }
  free(u);
  free(it);

  lt_ials_opts_t o;
  lt_ials_opts_default(&o);
  if (argc > 2) o.k = (uint32_t)atol(argv[2]);
  if (argc > 3) o.iters = (uint32_t)atol(argv[3]);
  if (argc > 4) o.threads = (uint32_t)atol(argv[4]);
  times_t tm = {.n = 0};
  o.on_iter = on_iter;
  o.ctx = &tm;
  lt_ials_t *m = NULL;
  double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), t0 = now_s(CLOCK_MONOTONIC);
  if (lt_ials_train(ui, &o, &m)) {
    fprintf(stderr, "ials_file: training failed\n");
    return 1;
  }
  double total = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  printf("{\"k\": %u, \"iters\": %u, \"threads\": %ld, \"nusers\": %u, \"nitems\": %u, "
         "\"nnz\": %llu, \"iter_s\": [",
         o.k, o.iters, o.threads ? (long)o.threads : sysconf(_SC_NPROCESSORS_ONLN), nu, ni,
         (unsigned long long)ui->nnz);
  for (uint32_t i = 0; i < tm.n; i++) printf("%s%.4f", i ? ", " : "", tm.t[i]);
  printf("], \"total_s\": %.4f, \"cpu_s\": %.3f, \"coretype\": \"%s\"}\n", total, cpu,
         getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
  lt_ials_free(m);
  lt_csr_free(ui);
  return 0;
}
