/*
 * test_fuzz_import.c — replays fuzz/corpus/import/ and fuzz/regressions/import/
 * through the fuzz_import target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_import.c"

#define LT_FUZZ_TARGET "import"
#include "fuzz_replay.h"
