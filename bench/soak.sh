#!/usr/bin/env bash
# bench/soak.sh — the soak test of issue 9 (documented, not in CI):
# N minutes of mixed load on `laotie serve` at a fraction of the measured
# capacity (or a fixed rate), sampling the server's resident memory and the
# p99 latency every minute; writes a Markdown report and exits 1 when a
# criterion fails (any 5xx; a minute's p99 above 2x minute 1's; RSS growth
# over 10% after the warm-up). The work is done by bench/soak.py (Python 3
# standard library only); the server listens on 127.0.0.1 and is always
# stopped.
#
# Usage: bench/soak.sh [MINUTES] [extra soak.py options]
#   bench/soak.sh 30                      # the issue's run: 30 min at 50%
#   bench/soak.sh 5 --rate 400            # a fixed rate
#   BIN=build/laotie REPORT=bench/out/soak.md bench/soak.sh 30
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-30}
[ $# -gt 0 ] && shift
BIN=${BIN:-build/laotie}
[ -x "$BIN" ] || { echo "soak: $BIN not built (make build)" >&2; exit 2; }
REPORT=${REPORT:-bench/out/soak-$(date +%Y%m%d-%H%M).md}
exec python3 bench/soak.py --bin "$BIN" --minutes "$MIN" --report "$REPORT" "$@"
