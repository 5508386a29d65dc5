/*
 * kuairec_gen.c — writes a synthetic KuaiRec-2.0-shaped interaction CSV for
 * the import benchmark (`laotie import --format kuairec`).
 *
 * Columns, as in KuaiRec's big_matrix.csv:
 *   user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio
 * e.g. 14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,0.722103
 *
 * Shape: users uniform over [0, users); items drawn from a Zipf-like power
 * law (exponent --alpha, default 1.0) over [0, items), so a few videos take
 * most plays; each video has a fixed log-normal duration (median 10 s);
 * watch_ratio is log-normal with median 0.8 and sigma 0.7 (about a third
 * of plays above 1, a long tail of re-watches); play_duration =
 * watch_ratio * video_duration. Timestamps increase through two months from
 * 2020-07-05 (time/date columns in UTC+8, as KuaiRec). Same seed, same file.
 *
 * Build: cc -O2 -o kuairec_gen bench/kuairec_gen.c -lm
 * Usage: kuairec_gen [-n rows] [-u users] [-i items] [-a alpha] [-s seed] [-o out.csv]
 *        defaults: 5000000 rows, 7176 users, 10728 items, alpha 1.0, seed 1, stdout
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

static double rng_normal(void) { /* Box-Muller, one value per call */
  double u1 = rng_unit(), u2 = rng_unit();
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void usage(void) {
  fprintf(stderr, "usage: kuairec_gen [-n rows] [-u users] [-i items] [-a alpha] [-s seed] "
                  "[-o out.csv]\n");
  exit(2);
}

int main(int argc, char **argv) {
  uint64_t rows = 5000000, seed = 1;
  long users = 7176, items = 10728;
  double alpha = 1.0;
  const char *outpath = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "n:u:i:a:s:o:h")) != -1) {
    switch (opt) {
    case 'n':
      rows = strtoull(optarg, NULL, 10);
      break;
    case 'u':
      users = strtol(optarg, NULL, 10);
      break;
    case 'i':
      items = strtol(optarg, NULL, 10);
      break;
    case 'a':
      alpha = strtod(optarg, NULL);
      break;
    case 's':
      seed = strtoull(optarg, NULL, 10);
      break;
    case 'o':
      outpath = optarg;
      break;
    default:
      usage();
    }
  }
  if (users < 1 || items < 1 || !(alpha >= 0)) usage();
  rng_state = seed;

  /* popularity CDF over a random permutation of item ids (so id order says
   * nothing about popularity), and per-item durations */
  double *cdf = malloc((size_t)items * sizeof *cdf);
  uint32_t *perm = malloc((size_t)items * sizeof *perm);
  uint32_t *dur = malloc((size_t)items * sizeof *dur);
  if (!cdf || !perm || !dur) return 1;
  double acc = 0;
  for (long k = 0; k < items; k++) {
    acc += pow((double)(k + 1), -alpha);
    cdf[k] = acc;
    perm[k] = (uint32_t)k;
  }
  for (long k = items - 1; k > 0; k--) {
    long j = (long)(rng_next() % (uint64_t)(k + 1));
    uint32_t t = perm[k];
    perm[k] = perm[j];
    perm[j] = t;
  }
  for (long k = 0; k < items; k++) {
    double d = exp(log(10000.0) + 0.6 * rng_normal());
    if (d < 2000) d = 2000;
    if (d > 300000) d = 300000;
    dur[k] = (uint32_t)d;
  }

  FILE *out = outpath ? fopen(outpath, "w") : stdout;
  if (!out) {
    perror(outpath);
    return 1;
  }
  static char obuf[1 << 20];
  setvbuf(out, obuf, _IOFBF, sizeof obuf);
  fputs("user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n", out);

  const int64_t t0_ms = 1593878400000LL; /* 2020-07-05 00:00:00 +08:00 */
  const double span_ms = 62.0 * 86400e3;
  for (uint64_t r = 0; r < rows; r++) {
    long u = (long)(rng_next() % (uint64_t)users);
    double x = rng_unit() * acc;
    long lo = 0, hi = items - 1;
    while (lo < hi) {
      long mid = (lo + hi) / 2;
      if (cdf[mid] < x)
        lo = mid + 1;
      else
        hi = mid;
    }
    uint32_t item = perm[lo];
    double ratio = exp(log(0.8) + 0.7 * rng_normal());
    uint32_t vd = dur[item];
    uint64_t play = (uint64_t)(ratio * vd);
    int64_t ts = t0_ms + (int64_t)(span_ms * ((double)r + rng_unit()) / (double)rows);
    time_t local = (time_t)(ts / 1000 + 8 * 3600);
    struct tm tm;
    gmtime_r(&local, &tm);
    fprintf(out, "%ld,%u,%llu,%u,%04d-%02d-%02d %02d:%02d:%02d.%03d,%04d%02d%02d,%lld.%03d,%.6f\n",
            u, item, (unsigned long long)play, vd, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts % 1000), tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, (long long)(ts / 1000), (int)(ts % 1000), ratio);
  }
  if (fflush(out) || (outpath && fclose(out))) {
    perror("write");
    return 1;
  }
  free(cdf);
  free(perm);
  free(dur);
  return 0;
}
