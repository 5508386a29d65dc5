/*
 * test_fuzz_csv.c — replays fuzz/corpus/csv/ and fuzz/regressions/csv/
 * through the fuzz_csv target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_csv.c"

#define LT_FUZZ_TARGET "csv"
#include "fuzz_replay.h"
