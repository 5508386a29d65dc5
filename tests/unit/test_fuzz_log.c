/*
 * test_fuzz_log.c — replays fuzz/corpus/log/ and fuzz/regressions/log/
 * through the fuzz_log target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_log.c"

#define LT_FUZZ_TARGET "log"
#include "fuzz_replay.h"
