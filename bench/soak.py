#!/usr/bin/env python3
"""soak.py — mixed load on `laotie serve` for a long time at a fixed rate;
resident memory and p99 latency per minute, and every 5xx counted.

Design note
-----------
Issue 9 asks: 30 minutes of mixed load at about half of the measured
capacity; resident memory grows less than 10% after warm-up, p99 stays
within 2x of its first-minute value, zero 5xx. This script:

 1. starts the server (127.0.0.1, random port; tests/crash/ltload.py) on a
    fresh data dir, or on --data DIR (e.g. an imported dataset), and seeds
    a catalog of --items items and --seed-events events when the store is
    empty;
 2. measures capacity: the same mix, closed loop, as fast as the workers
    go, for --probe-s seconds (unless --rate is given);
 3. runs the mix open loop at rate = --fraction x capacity for --minutes:
    P worker processes, each with T threads on keep-alive connections,
    each thread sending on a fixed schedule (request i at t0 + i/rate_t).
    Latency is measured from the scheduled time, not the send time, so a
    stall shows as latency instead of silently lowering the load
    (no coordinated omission);
 4. every minute: requests, 5xx, other errors, p50/p99/max latency and the
    server's VmRSS; the report (Markdown) goes to --report. Beside them,
    what explains a slow minute: the client's own stalls (each worker
    process has a thread that sleeps 5 ms at a time and records how late
    it wakes: the GIL and the scheduler delay requests the same way), and
    from the server's /metrics (read every 5 s) the log fsyncs over 50 ms
    and the snapshots written, with how long writes waited for each.
The store is seeded so that every user's history ring is full (users x
2000 events): then what the run adds replaces rather than grows, and the
RSS criterion measures leaks, not data. Events carry no id unless
--event-ids: the idempotency index keeps every id ever seen (16-32 bytes
each), so with ids the RSS grows with the events by design.
The mix: 65% GET /v1/feed, 20% POST /v1/events (10 events),
8% GET /v1/items/ID, 4% PUT /v1/items/ID, 2% GET /v1/users/ID, 1% /v1/stats.
Connections (--connections): `split` (the default) sends reads and writes
on separate connections, as a platform's feed clients and its event
collectors do: 3 of each worker's 4 threads read (76% of the rate), 1 in
4 writes (24%), each kind keeping its own share of the mix. `mixed` sends
both on every connection, as session 3's runs did: a keep-alive
connection is sequential, so a write waiting for a slow fsync (the disk
here sometimes takes 0.3-0.5 s) delays every read scheduled after it on
that connection, whatever the server does. The capacity probe is closed
loop on mixed connections in both cases, so "half of capacity" is the
same load either way. The report gives p99 for all requests, for reads
and for writes.
Pass/fail (exit 0/1): zero 5xx; every minute's p99 (all requests) <= 2 x
minute 1's; RSS at the end <= 1.10 x RSS at the end of the warm-up
(--warmup-s).

Python clients share the 2 cores with the server: the capacity measured is
that of this client and server together, which is what "half of measured
capacity" means here; the report says how busy the client was.

Usage: soak.py --bin build/laotie [--minutes 30] [--fraction 0.5]
               [--rate R] [--data DIR] [--config FILE] [--report FILE]
"""

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "crash"))
import ltload  # noqa: E402

KEY = "soak-key-3d5e7f9a1b"


READ_SHARE = 0.76  # feed 65 + items 8 + users 2 + stats 1 (per cent of the mix)


def pick(rng, nitems, nusers, kind=None):
    """One request of the mix; kind "read" or "write" draws from that part
    of the mix only, in its own proportions."""
    r = rng.random()
    if kind == "read":  # map onto the read part: [0, .65) feed, [.85, .93) items, [.97, 1) users/stats
        r = r * READ_SHARE
        r = r if r < 0.65 else (r + 0.20 if r < 0.73 else r + 0.24)
    elif kind == "write":  # [.65, .85) events, [.93, .97) PUT item
        r = r * (1 - READ_SHARE)
        r = 0.65 + r if r < 0.20 else 0.93 + (r - 0.20)
    if r < 0.65:
        return "GET", "/v1/feed?user=u%d&n=10" % rng.randrange(nusers), None
    if r < 0.85:
        return "EV", None, None
    if r < 0.93:
        return "GET", "/v1/items/v%d" % rng.randrange(nitems), None
    if r < 0.97:
        i = rng.randrange(nitems)
        return "PUT", "/v1/items/v%d" % i, json.dumps(
            {"creator": "c%d" % (i % 50), "duration_ms": 5000 + i % 60000,
             "tags": ["t%d" % (i % 20)]})
    if r < 0.99:
        return "GET", "/v1/users/u%d" % rng.randrange(nusers), None
    return "GET", "/v1/stats", None


def worker(wid, port, threads, rate, seconds, nitems, nusers, out_q, open_loop, event_ids, split):
    """One process: `threads` threads; sends per-second results to out_q as
    (second, [latencies], n5xx, nerr, [read latencies], [write latencies],
    worst client stall in seconds).
    split: thread t writes when t % 4 == 3, else reads (threads a multiple of 4)."""
    start = time.monotonic() + 0.2
    lock = threading.Lock()
    buckets = {}

    def run(tid):
        rng = random.Random(wid * 1000 + tid)
        cl = ltload.Client(port, KEY, timeout=30)
        kind = None
        per_thread = rate / threads if open_loop else 0
        if split:
            kind = "write" if tid % 4 == 3 else "read"
            share = (1 - READ_SHARE) / (threads // 4) if kind == "write" else \
                READ_SHARE / (threads - threads // 4)
            per_thread = rate * share if open_loop else 0
        i, seq = 0, 0
        while True:
            sched = start + (i / per_thread if open_loop else 0)
            now = time.monotonic()
            if open_loop and sched > now:
                time.sleep(sched - now)
            t0 = sched if open_loop else time.monotonic()
            if t0 - start >= seconds:
                break
            method, path, body = pick(rng, nitems, nusers, kind)
            ctype = "application/json"
            if method == "EV":
                evs = [{"user": "u%d" % rng.randrange(nusers), "item": "v%d" % rng.randrange(nitems),
                        "type": "play", "watch_ms": rng.randrange(1, 60000)} for k in range(10)]
                if event_ids:
                    for k, e in enumerate(evs):
                        e["id"] = "w%d-t%d-%d" % (wid, tid, seq + k)
                seq += 10
                method, path, body, ctype = "POST", "/v1/events", json.dumps(evs), ctype
            try:
                st, _ = cl.call(method, path, body, ctype, auth=method != "GET")
            except Exception:
                st = -1
            lat = time.monotonic() - t0
            sec = int(t0 - start)
            with lock:
                b = buckets.setdefault(sec, [[], 0, 0, [], [], 0.0])
                b[0].append(lat)
                b[3 if method in ("GET", "HEAD") else 4].append(lat)
                if st >= 500:
                    b[1] += 1
                elif st not in (200, 404):
                    b[2] += 1
            i += 1
        cl.close()

    def stall_sampler():  # how late a 5 ms sleep wakes, worst per second
        while time.monotonic() < start + seconds:
            t0 = time.monotonic()
            time.sleep(0.005)
            late = time.monotonic() - t0 - 0.005
            sec = int(t0 - start)
            if sec >= 0:
                with lock:
                    b = buckets.setdefault(sec, [[], 0, 0, [], [], 0.0])
                    b[5] = max(b[5], late)

    ths = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    ths.append(threading.Thread(target=stall_sampler))
    for t in ths:
        t.start()
    sent = -1
    while any(t.is_alive() for t in ths):
        time.sleep(0.5)
        done = int(time.monotonic() - start) - 2  # seconds safely complete
        with lock:
            for s in sorted(k for k in buckets if sent < k <= done):
                out_q.put((s,) + tuple(buckets.pop(s)))
                sent = s
    for t in ths:
        t.join()
    with lock:
        for s in sorted(buckets):
            out_q.put((s,) + tuple(buckets[s]))
    out_q.put(None)


def run_load(port, procs, threads, rate, seconds, nitems, nusers, open_loop, event_ids, split):
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(w, port, threads, rate / procs, seconds, nitems, nusers, q,
                                          open_loop, event_ids, split)) for w in range(procs)]
    for p in ps:
        p.start()
    per_sec = {}
    finished = 0
    deadline = time.monotonic() + seconds + 120
    while finished < procs and time.monotonic() < deadline:
        try:
            m = q.get(timeout=1)
        except Exception:
            continue
        if m is None:
            finished += 1
            continue
        s, lats, n5, ne, rl, wl, stall = m
        b = per_sec.setdefault(s, [[], 0, 0, [], [], 0.0])
        b[0].extend(lats)
        b[1] += n5
        b[2] += ne
        b[3].extend(rl)
        b[4].extend(wl)
        b[5] = max(b[5], stall)
    for p in ps:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return per_sec


def scrape(port):
    """(log fsyncs, of them over 50 ms, snapshots written, last snapshot's
    hold ms, its total ms) from the server's /metrics."""
    st, text = ltload.request(port, "GET", "/metrics", timeout=10)
    v = {}
    for line in (text if st == 200 and isinstance(text, str) else "").splitlines():
        if line and not line.startswith("#"):
            k, _, x = line.rpartition(" ")
            v[k] = float(x)
    n = v.get("laotie_log_fsync_seconds_count", 0)
    return (n, n - v.get('laotie_log_fsync_seconds_bucket{le="0.05"}', n),
            v.get('laotie_snapshots_total{result="ok"}', 0),
            v.get("laotie_snapshot_last_hold_seconds", 0) * 1e3,
            v.get("laotie_snapshot_last_seconds", 0) * 1e3)


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--rate", type=float, default=0, help="requests/s (skips the capacity probe)")
    ap.add_argument("--probe-s", type=float, default=20)
    ap.add_argument("--warmup-s", type=float, default=60)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--seed-events", type=int, default=0,
                    help="events written before the run (default: users x 2000, which fills "
                         "every user's history ring so that memory can plateau)")
    ap.add_argument("--event-ids", action="store_true",
                    help="give every event an id: the idempotency index then grows by design "
                         "(about 16-32 bytes per id), which the RSS criterion counts")
    ap.add_argument("--connections", choices=("split", "mixed"), default="split",
                    help="split: reads and writes on separate connections (feed clients and "
                         "event collectors); mixed: both on every connection")
    ap.add_argument("--data", help="serve this data dir (default: a fresh temp dir)")
    ap.add_argument("--config", help="serve with this config file (e.g. a shorter snapshot_every_s)")
    ap.add_argument("--report", default=None)
    a = ap.parse_args()
    split = a.connections == "split"
    if split and a.threads % 4:
        ap.error("--connections split needs --threads a multiple of 4")
    if not a.seed_events:
        a.seed_events = a.users * 2000
    work = tempfile.mkdtemp(prefix="lt-soak-")
    data = a.data or os.path.join(work, "data")
    srv = ltload.Server(a.bin, data, KEY, ["--no-train"] + (["--config", a.config] if a.config else []),
                        log_path=os.path.join(work, "serve.log"))
    srv.start()
    ok = False
    try:
        cl = ltload.Client(srv.port, KEY, timeout=60)
        st, stats = cl.call("GET", "/v1/stats", auth=False)
        if stats["events"] == 0:
            items = [{"id": "v%d" % i, "creator": "c%d" % (i % 50), "duration_ms": 5000 + i % 60000,
                      "tags": ["t%d" % (i % 20)]} for i in range(a.items)]
            for i in range(0, len(items), 1000):
                cl.call("POST", "/v1/items", json.dumps(items[i:i + 1000]))
            rng = random.Random(7)
            now = int(time.time())
            for i in range(0, a.seed_events, 5000):
                evs = [{"user": "u%d" % ((i + k) % a.users),
                        "item": "v%d" % rng.randrange(a.items), "type": "play",
                        "watch_ms": rng.randrange(1, 60000), "ts": now - rng.randrange(86400 * 7)}
                       for k in range(min(5000, a.seed_events - i))]
                cl.call("POST", "/v1/events", json.dumps(evs))
            st, _ = cl.call("POST", "/v1/admin/train")
            for _ in range(600):  # wait for the first model (bounded)
                st, h = cl.call("GET", "/healthz", auth=False)
                if h.get("model_version", 0) > 0:
                    break
                time.sleep(0.5)
        cl.close()
        rate = a.rate
        if not rate:
            per = run_load(srv.port, a.procs, a.threads, 0, a.probe_s, a.items, a.users, False,
                           a.event_ids, False)
            secs = [s for s in per if 1 <= s < a.probe_s - 1]
            cap = sum(len(per[s][0]) for s in secs) / max(1, len(secs))
            rate = cap * a.fraction
            print("soak: capacity %.0f req/s (closed loop, %d x %d mixed connections); running at "
                  "%.0f req/s on %s connections" % (cap, a.procs, a.threads, rate, a.connections),
                  flush=True)
        else:
            cap = None
        seconds = a.minutes * 60
        cpu0 = os.times()
        # the server's RSS, once a second
        stop = threading.Event()
        rss_series = []

        metric_series = []  # (t, scrape()) every 5 s

        def sampler():
            t0 = time.monotonic()
            k = 0
            while not stop.is_set():
                rss_series.append((time.monotonic() - t0, srv.rss_kib()))
                if k % 5 == 0:
                    try:
                        metric_series.append((time.monotonic() - t0, scrape(srv.port)))
                    except Exception:
                        pass
                k += 1
                stop.wait(1.0)
        th = threading.Thread(target=sampler)
        th.start()
        per = run_load(srv.port, a.procs, a.threads, rate, seconds, a.items, a.users, True,
                       a.event_ids, split)
        stop.set()
        th.join()
        cpu1 = os.times()
        minutes = []
        def metrics_at(t):  # the last scrape at or before t (the first one before any)
            got = metric_series[0][1] if metric_series else (0, 0, 0, 0, 0)
            for ts, mv in metric_series:
                if ts <= t:
                    got = mv
            return got
        for m in range(int((seconds + 59) // 60)):
            lats, n5, ne, rl, wl, stall = [], 0, 0, [], [], 0.0
            for s in range(m * 60, min((m + 1) * 60, int(seconds))):
                if s in per:
                    lats.extend(per[s][0])
                    n5 += per[s][1]
                    ne += per[s][2]
                    rl.extend(per[s][3])
                    wl.extend(per[s][4])
                    stall = max(stall, per[s][5])
            m0, m1 = metrics_at(m * 60), metrics_at((m + 1) * 60)
            in_min = [r for t, r in rss_series if m * 60 <= t < (m + 1) * 60 and r]
            minutes.append({"minute": m + 1, "requests": len(lats), "rate": len(lats) / 60.0,
                            "p50_ms": pct(lats, 0.5) * 1e3, "p99_ms": pct(lats, 0.99) * 1e3,
                            "p99_read_ms": pct(rl, 0.99) * 1e3, "p99_write_ms": pct(wl, 0.99) * 1e3,
                            "max_ms": max(lats) * 1e3 if lats else 0, "5xx": n5, "errors": ne,
                            "rss_mib": (in_min[-1] / 1024.0) if in_min else 0,
                            "client_stall_ms": stall * 1e3, "slow_fsyncs": m1[1] - m0[1],
                            "snapshot": ("%.1f / %.1f" % (m1[3], m1[4])) if m1[2] > m0[2] else ""})
        warm = [r for t, r in rss_series if t <= a.warmup_s and r]
        rss_warm = warm[-1] / 1024.0 if warm else 0
        rss_end = [r for _, r in rss_series if r][-1] / 1024.0
        total5 = sum(m["5xx"] for m in minutes)
        p99_1 = minutes[0]["p99_ms"]
        worst = max(m["p99_ms"] for m in minutes)
        growth = (rss_end / rss_warm - 1) if rss_warm else 0
        checks = [("zero 5xx", total5 == 0, "%d" % total5),
                  ("p99 within 2x of minute 1", worst <= 2 * p99_1,
                   "minute 1 %.1f ms, worst %.1f ms" % (p99_1, worst)),
                  ("RSS growth after warm-up < 10%", growth < 0.10,
                   "%.1f MiB -> %.1f MiB (%+.1f%%)" % (rss_warm, rss_end, growth * 100))]
        ok = all(c[1] for c in checks)
        client_cpu = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)
        lines = ["# laotie soak, %s" % time.strftime("%Y-%m-%d %H:%M"), "",
                 "%.0f minutes at %.0f req/s%s; %d worker processes x %d connections (%s); "
                 "client CPU %.0f s over %.0f s." % (
                     a.minutes, rate, (" (%.0f%% of a measured capacity of %.0f req/s)"
                                       % (a.fraction * 100, cap)) if cap else "",
                     a.procs, a.threads, a.connections, client_cpu, seconds), "",
                 "Beside each minute: the client's worst stall (a 5 ms sleep waking late), the "
                 "server's log fsyncs over 50 ms, and a snapshot written in it (ms writes waited "
                 "/ ms in all; the minute is approximate: /metrics is read every 5 s).", "",
                 "| minute | req/s | p50 ms | p99 ms | p99 reads ms | p99 writes ms | max ms | 5xx "
                 "| other errors | RSS MiB | client stall ms | fsyncs > 50 ms | snapshot ms |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in minutes:
            lines.append("| %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f | %d | %d | %.1f | %.1f | %d "
                         "| %s |" % (
                             m["minute"], m["rate"], m["p50_ms"], m["p99_ms"], m["p99_read_ms"],
                             m["p99_write_ms"], m["max_ms"], m["5xx"], m["errors"], m["rss_mib"],
                             m["client_stall_ms"], m["slow_fsyncs"], m["snapshot"]))
        lines += ["", "| check | result | figures |", "|---|---|---|"]
        lines += ["| %s | %s | %s |" % (n, "pass" if r else "FAIL", f) for n, r, f in checks]
        text = "\n".join(lines) + "\n"
        print(text)
        if a.report:
            os.makedirs(os.path.dirname(os.path.abspath(a.report)), exist_ok=True)
            with open(a.report, "w") as f:
                f.write(text)
        srv.stop()
    finally:
        srv.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
