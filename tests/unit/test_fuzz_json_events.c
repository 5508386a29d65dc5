/*
 * test_fuzz_json_events.c — replays fuzz/corpus/json_events/ and fuzz/regressions/json_events/
 * through the fuzz_json_events target (see tests/fuzz_replay.h and fuzz/README.md).
 */
#include "../../fuzz/fuzz_json_events.c"

#define LT_FUZZ_TARGET "json_events"
#include "fuzz_replay.h"
