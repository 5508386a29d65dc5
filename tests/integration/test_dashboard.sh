#!/usr/bin/env bash
# test_dashboard.sh — the dashboard in a real browser, and the reports
# over a restart, against the real laotie binary.
#
#   tests/integration/test_dashboard.sh [LAOTIE_BIN]     (default: $LT_BIN)
#
# Builds nothing. Starts `laotie serve` on a random loopback port over a
# fresh data directory, loads a simulated platform (users and groups through
# `laotie import users`, creators, items and 14 days of events through the
# HTTP API), then:
#  1. checks the watch-time report's edges (60.00 met, 59.99 not, a staff
#     member with no activity listed at 0) in CSV;
#  2. opens / in headless Chromium (--dump-dom) and checks that every chart
#     has data points and non-zero values, that the report table is there,
#     and that the API key appears nowhere in the page;
#  3. saves a screenshot and prints its path ($LT_SCREENSHOT, default
#     $TMPDIR/laotie-dashboard.png);
#  4. restarts the server and checks the reports and stats are byte-equal
#     to those before (before: built live by the observer; after: by a
#     full scan of the log).
# The server is always stopped (trap). Exit: 0 pass, 1 fail, 2 usage,
# 77 skipped because Chromium is not installed (ctest: SKIP_RETURN_CODE 77).
set -euo pipefail

BIN=${1:-${LT_BIN:-}}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "usage: $0 LAOTIE_BIN (or set LT_BIN)" >&2
  exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed (apt-get install chromium, or scripts/bootstrap.sh browser)"
  exit 77
fi
for tool in curl awk cmp split; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is needed" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lt-dash-XXXXXX")
SHOT=${LT_SCREENSHOT:-${TMPDIR:-/tmp}/laotie-dashboard.png}
DATA=$WORK/data
KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export LAOTIE_API_KEY=$KEY
SERVER_PID=""
SERVER_RC=0
PORT=""

# Stops the server (SIGTERM, then SIGKILL after 10 s); SERVER_RC gets its
# exit status (0 after a graceful stop).
stop_server() {
  SERVER_RC=0
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || SERVER_RC=$?
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$WORK/server.err" ]; then
    echo "--- server stderr:" >&2
    tail -20 "$WORK/server.err" >&2
  fi
  exit 1
}

start_server() {
  : >"$WORK/server.out"
  "$BIN" serve --data "$DATA" --listen 127.0.0.1:0 --no-train >"$WORK/server.out" 2>>"$WORK/server.err" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/^laotie serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.out" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited at start"
    sleep 0.05
  done
  [ -n "$PORT" ] || fail "the server did not print its port"
}

URL() { echo "http://127.0.0.1:$PORT$1"; }
get() { curl -fsS --max-time 30 "$(URL "$1")"; }
put() { # path, body
  curl -fsS --max-time 30 -o /dev/null -X PUT -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary "$2" "$(URL "$1")" || fail "PUT $1"
}
post_file() { # path, file, content type
  curl -fsS --max-time 60 -o "$WORK/post.out" -H "Authorization: Bearer $KEY" \
    -H "Content-Type: $3" --data-binary "@$2" "$(URL "$1")" || fail "POST $1"
}

# ---- the simulated platform -------------------------------------------
# 40 users (staff: u00..u11, ops: u08..u15), 8 creators (c4, c5 created on
# 2025-11-20: young; c6, c7 never put: their items' publish time counts),
# 40 items (every 5th AIGC, popularity skewed), 14 days of impressions,
# plays, likes, gifts and purchases from 2025-11-15 to 2025-11-28
# (Asia/Shanghai). On 2025-11-28 u00 watches exactly 60 minutes, u01 59.99,
# u02 120 and u03 nothing.
DAY0=1763136000 # 2025-11-15 00:00 +08:00
{
  echo "user,groups"
  for i in $(seq 0 39); do
    u=$(printf 'u%02d' "$i")
    g=""
    [ "$i" -lt 12 ] && g="staff"
    [ "$i" -ge 8 ] && [ "$i" -lt 16 ] && g="${g:+$g;}ops"
    echo "$u,$g"
  done
} >"$WORK/users.csv"
"$BIN" import users "$WORK/users.csv" --data "$DATA" >/dev/null 2>"$WORK/import.err" ||
  fail "import users: $(cat "$WORK/import.err")"

awk -v day0="$DAY0" '
BEGIN {
  printf "["
  for (i = 0; i < 40; i++) {
    c = i % 8
    pub = (c == 4 || c == 5) ? 1763568000 : 1761926400 # 2025-11-20 / 2025-11-01
    printf "%s{\"id\": \"v%02d\", \"creator\": \"c%d\", \"duration_ms\": %d, \"aigc\": %s, " \
           "\"published_at\": %d, \"tags\": [\"t%d\"]}", (i ? ", " : ""), i, c,
           15000 + (i % 7) * 7500, (i % 5 == 0 ? "true" : "false"), pub, i % 4
  }
  print "]"
}' >"$WORK/items.json"

awk -v day0="$DAY0" '
function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
function ev(u, it, type, t, w, v) {
  n++
  printf "{\"id\": \"e%d\", \"ts\": %d, \"user\": \"u%02d\", \"item\": \"v%02d\", \"type\": \"%s\", " \
         "\"watch_ms\": %d, \"value\": %d}\n", n, t, u, it, type, w, v
}
BEGIN {
  seed = 20251128
  for (d = 0; d < 14; d++) {
    start = day0 + d * 86400
    for (u = 0; u < 40; u++) {
      if (d == 13 && u <= 3) continue        # the fixed staff day below
      if (rnd() > 0.35 + 0.04 * d) continue   # DAU grows over the fortnight
      k = 8 + int(rnd() * 20)
      for (j = 0; j < k; j++) {
        it = int(40 * rnd() * rnd())          # skewed: a few items get most
        t = start + 28800 + int(rnd() * 50000)
        ev(u, it, "impression", t, 0, 0)
        if (rnd() < 0.6) {
          dur = 15000 + (it % 7) * 7500
          ev(u, it, "play", t + 1, int(dur * (0.2 + rnd())), 0)
          if (rnd() < 0.12) ev(u, it, "like", t + 2, 0, 0)
          if (rnd() < 0.03) ev(u, it, "follow", t + 5, 0, 0)
          if (rnd() < 0.03) ev(u, it, "gift", t + 3, 0, 100 + int(rnd() * 4900))
          if (rnd() < 0.02) ev(u, it, "purchase", t + 4, 0, 1999)
        }
      }
    }
  }
  last = day0 + 13 * 86400
  ev(0, 1, "impression", last + 3600, 0, 0)
  ev(0, 1, "play", last + 3601, 1800000, 0)
  ev(0, 2, "play", last + 7200, 1800000, 0)   # u00: 60.00 minutes
  ev(1, 3, "play", last + 3600, 3599400, 0)   # u01: 59.99 minutes
  ev(2, 4, "play", last + 60, 7200000, 0)     # u02: 120 minutes
}' >"$WORK/events.ndjson"

start_server
for c in 0 1 2 3; do put "/v1/creators/c$c" "{\"name\": \"Creator $c\", \"created_at\": 1748736000}"; done
for c in 4 5; do put "/v1/creators/c$c" "{\"name\": \"New creator $c\", \"created_at\": 1763568000}"; done
post_file /v1/items "$WORK/items.json" application/json
grep -q '"accepted": 40' "$WORK/post.out" || fail "items not accepted: $(cat "$WORK/post.out")"
nev=$(wc -l <"$WORK/events.ndjson")
split -l 5000 "$WORK/events.ndjson" "$WORK/batch." # requests hold at most 10000 events
for b in "$WORK"/batch.*; do
  post_file /v1/events "$b" application/x-ndjson
  grep -q "\"accepted\": $(wc -l <"$b")," "$WORK/post.out" || fail "events: $(head -c 300 "$WORK/post.out")"
done
echo "loaded 40 users, 8 creators, 40 items, $nev events on port $PORT"

# ---- 1. the watch-time report ------------------------------------------
get "/v1/reports/watch-time?date=2025-11-28&group=staff&min_minutes=60&format=csv" >"$WORK/wt.csv" ||
  fail "watch-time report"
[ "$(sed -n 1p "$WORK/wt.csv" | tr -d '\r')" = "date,group,user,minutes,watch_ms,plays,met" ] ||
  fail "CSV header: $(head -1 "$WORK/wt.csv")"
[ "$(($(wc -l <"$WORK/wt.csv") - 1))" -eq 12 ] || fail "staff has 12 members: $(cat "$WORK/wt.csv")"
grep -q '^2025-11-28,staff,u00,60.00,3600000,2,yes' "$WORK/wt.csv" || fail "u00 at 60.00 minutes"
grep -q '^2025-11-28,staff,u01,59.99,3599400,1,no' "$WORK/wt.csv" || fail "u01 at 59.99 minutes"
grep -q '^2025-11-28,staff,u02,120.00,7200000,1,yes' "$WORK/wt.csv" || fail "u02 at 120 minutes"
grep -q '^2025-11-28,staff,u03,0.00,0,0,no' "$WORK/wt.csv" || fail "u03 with no activity at 0"
echo "ok: watch-time report (60.00 met, 59.99 not met, inactive member at 0)"

# ---- 2. the dashboard in Chromium ----------------------------------------
PROFILE=$WORK/chromium-profile
chrome() {
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$PROFILE" "$@" 2>>"$WORK/chromium.err"
}
DASH="$(URL "/?date=2025-11-28&group=staff&min=60")"
chrome --dump-dom "$DASH" >"$WORK/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$WORK/chromium.err")"
grep -q '<h1>laotie — dashboard</h1>' "$WORK/dom.html" || fail "the page did not render: $(head -c 300 "$WORK/dom.html")"
for id in dau watch watch-hours completion gini aigc revenue; do
  tag=$(grep -o "<svg class=\"chart\" id=\"chart-$id\"[^>]*>" "$WORK/dom.html" | head -1)
  [ -n "$tag" ] || fail "chart $id is missing"
  points=$(echo "$tag" | sed -n 's/.*data-points="\([0-9]*\)".*/\1/p')
  nonzero=$(echo "$tag" | sed -n 's/.*data-nonzero="\([0-9]*\)".*/\1/p')
  # the points the browser parsed: the <circle class="pt"> elements in the chart
  circles=$(awk -v id="chart-$id" 'index($0, "id=\"" id "\"") { on = 1 } on { n += gsub(/<circle class="pt"/, "") } on && /<\/svg>/ { exit } END { print n + 0 }' "$WORK/dom.html")
  [ "${points:-0}" -ge 14 ] || fail "chart $id has $points points"
  [ "$circles" -eq "$points" ] || fail "chart $id: $circles circles for $points points"
  [ "${nonzero:-0}" -gt 0 ] || fail "chart $id has no data (all zero)"
  echo "ok: chart $id: $points points, $nonzero non-zero"
done
grep -q 'id="wt-table"' "$WORK/dom.html" || fail "watch-time table missing"
grep -q '<b>2 of 12</b>' "$WORK/dom.html" || fail "watch-time summary: $(grep -o '<p id="wt-summary">.\{0,120\}' "$WORK/dom.html")"
grep -q 'id="top-creators"' "$WORK/dom.html" && grep -q 'id="top-items"' "$WORK/dom.html" ||
  fail "top tables missing"
grep -q 'id="model"' "$WORK/dom.html" || fail "model version missing"
if grep -qF "$KEY" "$WORK/dom.html"; then fail "the API key leaks into the dashboard"; fi
echo "ok: dashboard DOM (7 charts with data, report table, top lists, model; no key)"

# ---- 3. the screenshot ---------------------------------------------------
rm -f "$SHOT"
chrome --screenshot="$SHOT" --window-size=1280,2600 "$DASH" >/dev/null || fail "chromium --screenshot failed"
[ -s "$SHOT" ] && [ "$(wc -c <"$SHOT")" -gt 20000 ] || fail "screenshot missing or empty: $SHOT"
echo "screenshot: $SHOT"

# ---- 4. identical after a restart ---------------------------------------
snap() { # dir
  mkdir -p "$1"
  get "/v1/stats/platform?from=2025-11-10&to=2025-11-29" >"$1/platform.json"
  get "/v1/stats/platform?from=2025-11-10&to=2025-11-29&format=csv" >"$1/platform.csv"
  get "/v1/stats/ecosystem?from=2025-11-10&to=2025-11-29" >"$1/ecosystem.json"
  get "/v1/stats/top?from=2025-11-10&to=2025-11-29&n=20" >"$1/top.json"
  get "/v1/stats/creators/c4?from=2025-11-10&to=2025-11-29" >"$1/c4.json"
  for d in 2025-11-27 2025-11-28; do
    get "/v1/reports/watch-time?date=$d&group=staff&min_minutes=60" >"$1/wt-$d.json"
    get "/v1/reports/watch-time?date=$d&format=csv" >"$1/active-$d.csv"
  done
}
snap "$WORK/before"
stop_server
[ "$SERVER_RC" -eq 0 ] || fail "the server exited with status $SERVER_RC on SIGTERM"
start_server
snap "$WORK/after"
for f in "$WORK"/before/*; do
  cmp -s "$f" "$WORK/after/$(basename "$f")" || fail "$(basename "$f") differs after a restart"
done
grep -q '"aigc_impressions": [1-9]' "$WORK/after/ecosystem.json" || fail "no AIGC impressions counted"
grep -q '"young_creator_impressions": [1-9]' "$WORK/after/ecosystem.json" || fail "no young-creator impressions"
echo "ok: $(ls "$WORK/before" | wc -l) reports identical after a restart"
stop_server
[ "$SERVER_RC" -eq 0 ] || fail "the server exited with status $SERVER_RC on SIGTERM"
echo "PASS: dashboard (screenshot: $SHOT)"
