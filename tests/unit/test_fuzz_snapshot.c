/*
 * test_fuzz_snapshot.c — replays fuzz/corpus/snapshot/ and fuzz/regressions/snapshot/
 * through the fuzz_snapshot target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_snapshot.c"

#define LT_FUZZ_TARGET "snapshot"
#include "fuzz_replay.h"
