#!/usr/bin/env bash
# fuzz/run.sh — build every libFuzzer target with clang (ASan + UBSan) and
# run each for a set time. CI runs `fuzz/run.sh --time 30`; a full campaign
# is `fuzz/run.sh --time 600 --merge` (10 minutes each, corpus kept).
#
# Design note
#   The library sources are compiled once, instrumented for coverage
#   (-fsanitize=fuzzer-no-link,address,undefined), into fuzz/out/lib.a; each
#   fuzz/fuzz_<t>.c links against it. Each target runs in a scratch corpus
#   (fuzz/out/corpus/<t>) seeded from fuzz/corpus/<t>, so what libFuzzer
#   learns lands in the repository only with --merge (a minimised merge,
#   -merge=1, into fuzz/corpus/<t>). Findings (crash-/leak-/timeout-/oom-
#   files) are moved to fuzz/out/findings/<t>/; the script then exits 1.
#   A target that exits non-zero with no finding file (killed by a signal,
#   a hung teardown ended by its watchdog, ...) fails the run too, as
#   "FAILED: exit status N (signal S: NAME)", and its log's last lines and
#   GNU time's "Command terminated by signal N" are printed.
#   Targets make their temp files under a private $TMPDIR that is removed
#   at exit. Figures per target (seconds, CPU seconds, executions, exec/s,
#   coverage, corpus size) are appended to fuzz/out/results.tsv and printed.
#
# Usage: fuzz/run.sh [--time SECONDS] [--merge] [--seeds] [--build-only]
#                    [--src DIR] [TARGET ...]
#   TARGET  a fuzz/fuzz_<TARGET>.c: csv json_events import record snapshot
#           log route ads ... (default: every fuzz/fuzz_*.c)
#   --time  seconds per target (default 30)
#   --merge minimise the scratch corpus into fuzz/corpus/<t> afterwards
#   --seeds regenerate the seeds of record/snapshot/log/route (gen_seeds.c)
#   --src   library sources to fuzz (default: src/ of this checkout)
# Needs clang and libclang-rt-14-dev (scripts/bootstrap.sh fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TIME=30
MERGE=0
SEEDS=0
BUILD_ONLY=0
SRC=$ROOT/src
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) TIME=$2; shift 2 ;;
    --merge) MERGE=1; shift ;;
    --seeds) SEEDS=1; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --src) SRC=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
declare -A MAXLEN=([csv]=4096 [json_events]=8192 [import]=4096 [record]=4096
                   [snapshot]=16384 [log]=8192 [route]=4096 [ads]=4096)
# every fuzz/fuzz_<t>.c is a target
ALL=()
for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; ALL+=("${t%.c}"); done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz/run.sh: no target fuzz/fuzz_$t.c" >&2; exit 2; }
  [ -n "${MAXLEN[$t]:-}" ] || MAXLEN[$t]=4096
done
if ! command -v clang >/dev/null; then scripts/bootstrap.sh fuzz; fi

OUT=$ROOT/fuzz/out
mkdir -p "$OUT/obj" "$OUT/findings" "$OUT/corpus"
# targets write files (log segments, a store): tmpfs when there is one
TMPBASE=${TMPDIR:-/tmp}
[ -w /dev/shm ] && TMPBASE=/dev/shm
RUNTMP=$(mktemp -d "$TMPBASE/lt-fuzzrun-XXXXXX")
trap 'rm -rf "$RUNTMP"' EXIT

PKGS="libcjson libmicrohttpd libxxhash openblas"
CFLAGS="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined -D_GNU_SOURCE -I$SRC $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"

# ---- build: library once, then each target --------------------------------
echo "fuzz: compiling the library from $SRC" >&2
# objects from other sources, or older than a header, are stale
if [ "$(cat "$OUT/src.txt" 2>/dev/null)" != "$SRC" ] ||
   { [ -f "$OUT/lib.a" ] && [ -n "$(find "$SRC" -name '*.h' -newer "$OUT/lib.a" | head -1)" ]; }; then
  rm -f "$OUT"/obj/*.o "$OUT/lib.a"
fi
echo "$SRC" >"$OUT/src.txt"
objs=()
for f in "$SRC"/{core,log,state,io,model,stats,feed,eval,ads,http}/*.c; do
  [ -f "$f" ] && objs+=("$OUT/obj/$(echo "${f#"$SRC"/}" | tr / _).o")
done
for f in "$SRC"/{core,log,state,io,model,stats,feed,eval,ads,http}/*.c; do
  [ -f "$f" ] || continue
  o="$OUT/obj/$(echo "${f#"$SRC"/}" | tr / _).o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then echo "$f $o"; fi
done | xargs -r -P "$(nproc)" -n 2 sh -c \
  'clang '"$CFLAGS"' -fsanitize=fuzzer-no-link,address,undefined -c "$0" -o "$1"'
rm -f "$OUT/lib.a"
ar rcs "$OUT/lib.a" "${objs[@]}"
for t in "${TARGETS[@]}"; do
  clang $CFLAGS -fsanitize=fuzzer,address,undefined "fuzz/fuzz_$t.c" "$OUT/lib.a" $LIBS \
    -o "$OUT/fuzz_$t"
done
if [ $SEEDS = 1 ]; then
  cc -O1 -D_GNU_SOURCE -I"$SRC" "$SRC"/core/*.c "$SRC"/state/*.c "$SRC"/log/*.c fuzz/gen_seeds.c \
    -lxxhash -lm -lpthread -o "$OUT/gen_seeds"
  "$OUT/gen_seeds" fuzz/corpus
fi
[ $BUILD_ONLY = 1 ] && { echo "fuzz: built ${TARGETS[*]} in $OUT" >&2; exit 0; }

# ---- run --------------------------------------------------------------------
failed=0
printf '%-12s %7s %8s %11s %9s %6s %7s  %s\n' target seconds cpu_s executions exec/s cov corpus result
for t in "${TARGETS[@]}"; do
  work="$OUT/corpus/$t"
  mkdir -p "$work" "$OUT/findings/$t"
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/fuzz/dict/$t.dict")
  log="$OUT/fuzz_$t.log"
  start=$(date +%s)
  # CPU time of the run (user + sys) from GNU time
  set +e
  ( cd "$OUT/findings/$t" && TMPDIR=$RUNTMP ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      /usr/bin/time -f "%U %S" -o "$RUNTMP/time_$t" \
      "$OUT/fuzz_$t" -max_total_time="$TIME" -max_len="${MAXLEN[$t]}" -timeout=20 \
      -rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" "$work" "$ROOT/fuzz/corpus/$t" ) \
      >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  # a log or time file without the expected lines (a target killed by a
  # signal writes no stat:: lines) must not end the script under set -e
  cpu=$(tail -1 "$RUNTMP/time_$t" 2>/dev/null | awk '{printf "%.0f", $1 + $2}' || true)
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  ncorp=$(ls "$work" | wc -l)
  finding=$(ls "$OUT/findings/$t" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -1 || true)
  result=ok
  if [ -n "$finding" ]; then
    result="FINDING: fuzz/out/findings/$t/$finding (log $log)"
    failed=1
  elif [ $rc -ne 0 ]; then
    # no finding file, yet a non-zero exit: say what ended the target.
    # GNU time exits 128+N for a child killed by signal N and writes
    # "Command terminated by signal N" / "Command exited with non-zero
    # status N" before its "%U %S" line.
    how="exit status $rc"
    [ $rc -gt 128 ] && how="$how (signal $((rc - 128)): $(kill -l $((rc - 128)) 2>/dev/null || echo ?))"
    result="FAILED: $how, no finding file (log $log)"
    failed=1
    {
      echo "fuzz: $t: $how and no crash-/leak-/timeout-/oom- file in fuzz/out/findings/$t/"
      grep -E '^Command (terminated|exited)' "$RUNTMP/time_$t" 2>/dev/null | sed 's/^/fuzz:   time: /' || true
      echo "fuzz: the last 25 lines of $log:"
      tail -n 25 "$log" | sed 's/^/    /'
    } >&2
  fi
  printf '%-12s %7s %8s %11s %9s %6s %7s  %s\n' "$t" "$secs" "$cpu" "${execs:-?}" \
    "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "$ncorp" "$result"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "$cpu" \
    "${execs:-?}" "${cov:-?}" "$ncorp" "$result" "$(git rev-parse --short HEAD 2>/dev/null)" \
    >>"$OUT/results.tsv"
  if [ $MERGE = 1 ] && [ "$result" = ok ]; then
    mkdir -p "$RUNTMP/merged_$t"
    TMPDIR=$RUNTMP "$OUT/fuzz_$t" -merge=1 -max_len="${MAXLEN[$t]}" "$RUNTMP/merged_$t" \
      "$ROOT/fuzz/corpus/$t" "$work" >"$OUT/merge_$t.log" 2>&1 || true
    # keep the hand-made seeds, replace the rest by the minimised set
    if [ -n "$(ls "$RUNTMP/merged_$t")" ]; then
      find "fuzz/corpus/$t" -maxdepth 1 -type f ! -name 'seed-*' ! -name 'regress-*' \
        -regextype egrep -regex '.*/[0-9a-f]{40}$' -delete
      cp -n "$RUNTMP/merged_$t"/* "fuzz/corpus/$t/"
      echo "fuzz: $t corpus merged: $(ls "fuzz/corpus/$t" | wc -l) files" >&2
    fi
  fi
done
exit $failed
