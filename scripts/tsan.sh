#!/usr/bin/env bash
# scripts/tsan.sh — build laotie with ThreadSanitizer (CMake option
# LT_TSAN, in build-tsan/) and run the tests that exercise concurrency: the
# log's group commit, the store's writer lock against lock-free readers,
# the HTTP server's worker pool, the feed's snapshot swap and learner, the
# co-watch counters read while the writer counts (itemcf, cowatch).
#
# Design note
#   TSAN reports every data race it sees, with both stacks; any race fails
#   the run. scripts/tsan.supp holds the suppressions, each with its
#   reason — none today: the lock-free readers of the state use C11
#   atomics (src/state/state.h "Concurrency"). An uninstrumented library's
#   own race (OpenBLAS's threads, libmicrohttpd's internals) would go there
#   as "called_from_lib", never a race in laotie's code.
#   Each test's report goes to build-tsan/tsan-<test>.log; the script prints
#   one line per test (races reported, unique racing locations) and exits 1
#   when any test reported a race not in the suppressions or failed.
#
# Usage: scripts/tsan.sh [TEST ...]   (default: the concurrency tests)
set -euo pipefail
cd "$(dirname "$0")/.."
B=build-tsan
DEFAULT=(test_log test_core test_store test_state test_http test_faults test_feed test_stats test_itemcf test_cowatch)
TESTS=("$@")
[ ${#TESTS[@]} -eq 0 ] && TESTS=("${DEFAULT[@]}")
scripts/bootstrap.sh
# gcc's -Wmaybe-uninitialized depends on the optimisation level and gives
# false positives at LT_TSAN's -O1: keep it a warning here
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLT_TSAN=ON \
  -DCMAKE_C_FLAGS="-Wno-error=maybe-uninitialized" >/dev/null
if ! cmake --build $B -j "$(nproc)" --target laotie "${TESTS[@]}" >$B/build.log 2>&1; then
  tail -30 $B/build.log >&2
  exit 1
fi
# OpenBLAS's thread pool is not instrumented: one thread keeps TSAN's view exact
export OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4 \
suppressions=$PWD/scripts/tsan.supp report_signal_unsafe=0"
export LT_BIN=$PWD/$B/laotie LT_SHARED=$PWD/../shared
status=0
printf '%-14s %6s %8s %9s  %s\n' test result races locations log
for t in "${TESTS[@]}"; do
  [ -x "$B/$t" ] || { printf '%-14s %6s\n' "$t" absent; continue; }
  log=$B/tsan-$t.log
  set +e
  (cd $B && timeout 1200 "./$t") >"$log" 2>&1
  rc=$?
  set -e
  races=$(grep -c '^WARNING: ThreadSanitizer' "$log" || true)
  # unique "file:line" pairs of the first frame of each racing access
  locs=$(grep -A2 -E '^  (Previous )?(Write|Read|Atomic)' "$log" | grep -oE '[a-z_/]+\.c:[0-9]+' |
         sort -u | wc -l || true)
  res=ok
  [ "$rc" -ne 0 ] && res="rc=$rc" && status=1
  [ "$races" -ne 0 ] && status=1
  printf '%-14s %6s %8s %9s  %s\n' "$t" "$res" "$races" "$locs" "$log"
done
if [ $status -ne 0 ]; then
  echo "tsan: races or failures above; the SUMMARY lines:" >&2
  grep -h '^SUMMARY: ThreadSanitizer' "$B"/tsan-*.log | sort | uniq -c | sort -rn | head -40 >&2
fi
exit $status
