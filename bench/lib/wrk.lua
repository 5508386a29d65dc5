-- wrk.lua — the request mix for bench/run, and a JSON summary line.
--
-- Environment (read once per wrk thread):
--   LT_MODE   feed    GET /v1/feed?user=U&n=10, U uniform over 0..LT_USERS-1
--             static  GET LT_PATH (nginx's 1 KB file)
--             events  POST /v1/events: LT_BATCH NDJSON events per request,
--                     ids unique across threads and requests, users uniform
--                     over LT_USERS, items over LT_ITEMS, with
--                     Authorization: Bearer LT_KEY
--   LT_USERS, LT_ITEMS, LT_BATCH, LT_PATH, LT_KEY, LT_SEED
-- done() prints one line "WRKJSON {...}" with requests, duration, errors
-- and latency percentiles (p50/p90/p99/p99.9 in microseconds), which
-- bench/lib/report.py reads (wrk's own --latency table has no p99.9).

local mode = os.getenv("LT_MODE") or "feed"
local users = tonumber(os.getenv("LT_USERS") or "100000")
local items = tonumber(os.getenv("LT_ITEMS") or "100000")
local batch = tonumber(os.getenv("LT_BATCH") or "1000")
local path = os.getenv("LT_PATH") or "/1k.bin"
local key = os.getenv("LT_KEY") or ""
local seed = tonumber(os.getenv("LT_SEED") or "1")

local nthreads = 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
end

local counter = 0
local types = {"play", "play", "play", "impression", "impression", "like"}

function init(args)
  math.randomseed(seed * 7919 + (tid or 0) * 104729)
end

local function events_body()
  counter = counter + 1
  local parts = {}
  local prefix = "w" .. seed .. "-" .. (tid or 0) .. "-" .. counter .. "-"
  for j = 1, batch do
    local t = types[math.random(#types)]
    parts[j] = string.format(
      '{"id":"%s%d","user":"%d","item":"%d","type":"%s","watch_ms":%d}',
      prefix, j, math.random(0, users - 1), math.random(0, items - 1), t,
      t == "play" and math.random(500, 60000) or 0)
  end
  return table.concat(parts, "\n") .. "\n"
end

local ev_headers = {
  ["Content-Type"] = "application/x-ndjson",
  ["Authorization"] = "Bearer " .. key,
}

function request()
  if mode == "events" then
    return wrk.format("POST", "/v1/events", ev_headers, events_body())
  elseif mode == "static" then
    return wrk.format("GET", path)
  end
  return wrk.format("GET", "/v1/feed?user=" .. math.random(0, users - 1) .. "&n=10")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_s": %.6f, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"lat_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
