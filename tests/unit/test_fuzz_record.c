/*
 * test_fuzz_record.c — replays fuzz/corpus/record/ and fuzz/regressions/record/
 * through the fuzz_record target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_record.c"

#define LT_FUZZ_TARGET "record"
#include "fuzz_replay.h"
