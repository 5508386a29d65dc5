/*
 * test_fuzz_route.c — replays fuzz/corpus/route/ and fuzz/regressions/route/
 * through the fuzz_route target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_route.c"

#define LT_FUZZ_TARGET "route"
#include "fuzz_replay.h"
