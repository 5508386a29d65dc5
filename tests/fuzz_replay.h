/*
 * fuzz_replay.h — turns a libFuzzer target into a cmocka regression test.
 *
 * A test file tests/unit/test_fuzz_<target>.c includes the target's source
 * (fuzz/fuzz_<target>.c), defines LT_FUZZ_TARGET "<target>" and includes
 * this header, which supplies main(): it calls LLVMFuzzerInitialize when
 * the target has one, then feeds LLVMFuzzerTestOneInput every file of
 * fuzz/corpus/<target>/ and fuzz/regressions/<target>/. A target signals a
 * finding by abort() (its CHECKs) or a sanitizer report, so in the
 * ASan+UBSan build every crash the fuzzer ever found is replayed by ctest,
 * and in the normal build the targets' own invariants still run. No
 * libFuzzer (clang) is needed.
 */
#ifndef LT_TESTS_FUZZ_REPLAY_H
#define LT_TESTS_FUZZ_REPLAY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Feeds every regular file of LT_SOURCE_DIR/fuzz/<sub>/<target>; returns
 * how many. */
static size_t lt_replay_dir(const char *sub) {
  char path[2048];
  snprintf(path, sizeof path, "%s/fuzz/%s/%s", LT_SOURCE_DIR, sub, LT_FUZZ_TARGET);
  DIR *d = opendir(path);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    char file[4096];
    struct stat st;
    snprintf(file, sizeof file, "%s/%s", path, de->d_name);
    if (de->d_name[0] == '.' || stat(file, &st) || !S_ISREG(st.st_mode)) continue;
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    size_t len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    n++;
  }
  closedir(d);
  return n;
}

static void corpus_and_regressions_replay_cleanly(void **state) {
  (void)state;
  size_t nc = lt_replay_dir("corpus"), nr = lt_replay_dir("regressions");
  fprintf(stderr, "fuzz_%s: %zu corpus inputs and %zu regression inputs replayed\n", LT_FUZZ_TARGET,
          nc, nr);
  assert_true(nc > 0);
}

/* NULL when the target has no LLVMFuzzerInitialize (weak reference) */
static int (*const lt_replay_init)(int *, char ***) = LLVMFuzzerInitialize;

int main(void) {
  if (lt_replay_init) {
    int argc = 1;
    char *args[] = {"replay", NULL}, **argv = args;
    lt_replay_init(&argc, &argv);
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(corpus_and_regressions_replay_cleanly)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
