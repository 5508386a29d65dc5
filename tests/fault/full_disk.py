#!/usr/bin/env python3
"""full_disk.py — `laotie serve` on a disk that fills up.

Design note
-----------
The data directory lives on a small tmpfs the test mounts (size 8 MiB), so
the disk really runs out: write(2) returns ENOSPC part way through a batch.
That needs root (mount); without it the test prints why and exits 77, which
ctest reports as skipped (SKIP_RETURN_CODE 77).

Steps and what each checks:
 1. start the server (127.0.0.1, random port) on DISK/data; write a
    baseline of acknowledged events and items;
 2. fill the disk with a filler file, leaving ~96 KiB; ask for a snapshot
    (200 if it fit, else 503 — never a 5xx other than 503, and a snapshot
    that failed half way must not be left behind as a .snap);
 3. POST batches of 100 events until one answers 503 (bounded: 400 tries):
    every batch before it answered 200 with all 100 accepted;
 4. reads go on: /healthz, /v1/stats, /v1/items/ID, /v1/users/ID,
    /v1/feed all 200; /v1/stats "events" is exactly the acknowledged count
    and /metrics says laotie_store_writable 0 (the store applies a batch
    only once it is durable, so the refused one is never visible); while
    the disk stays full, the refused batch posted again still answers 503
    (the server's recovery, every recover_backoff_ms = 1 s, reopens and
    cuts the log back, and the write runs out of space again);
 5. free the space (delete the filler) and, in the same server process,
    post the refused batch again until it is accepted (the next write after
    the back-off recovers the log in place: bounded at 15 s): all 100
    accepted as new (their bytes had been cut), "events" = acknowledged +
    100, every acknowledged event re-POSTed is a duplicate, a snapshot is
    written, /metrics says writable and counts the recoveries;
 6. stop the server (SIGTERM; within 60 s) and restart it: the log is
    reopened and verified (the server's "opened" line says "clean"), and
    /v1/stats (users, items, creators, events, days, log bytes) is what the
    running process had before the stop; writes go on.
Every server and the mount are removed at exit, pass or fail.

Usage: full_disk.py --bin build/laotie      Exit: 0 pass, 1 fail, 77 skipped.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))
import ltload  # noqa: E402

KEY = "full-disk-key-8c2d1e"
SKIP = 77


class Failure(Exception):
    pass


def check(cond, what, *detail):
    if not cond:
        raise Failure(what + (": " + " ".join(str(d) for d in detail) if detail else ""))


def batch(prefix, n, start):
    return [{"id": "%s-%d" % (prefix, start + k), "user": "u%d" % ((start + k) % 37),
             "item": "v%d" % ((start + k) % 11), "type": "play", "watch_ms": 1000 + k,
             "request_id": "r" * 40} for k in range(n)]


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """Writes a filler file until only `leave` bytes are free."""
    with open(path, "wb") as f:
        chunk = b"\xa5" * 65536
        for _ in range(100000):
            room = free_bytes(os.path.dirname(path)) - leave
            if room <= 0:
                break
            try:
                f.write(chunk[:min(len(chunk), room)])
                f.flush()
            except OSError:
                break
        os.fsync(f.fileno())


def metric(cl, name):
    """The value of the /metrics line that starts with name."""
    st, text = cl.call("GET", "/metrics", auth=False)
    check(st == 200, "GET /metrics", st)
    for ln in text.splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[-1])
    raise Failure("no %s in /metrics" % name)


def state_of(cl):
    """/v1/stats without the model version: what a restart must give back."""
    st, stats = cl.call("GET", "/v1/stats", auth=False)
    check(st == 200, "GET /v1/stats", st, stats)
    stats.pop("model_version", None)
    return stats


def reads_go_on(cl):
    for path in ("/healthz", "/v1/stats", "/v1/items/v1", "/v1/users/u1", "/v1/feed?user=u1&n=5"):
        st, ans = cl.call("GET", path, auth=False)
        check(st == 200, "GET %s on a failed log" % path, st, ans)


def run(binary, work, disk):
    data = os.path.join(disk, "data")
    srv = ltload.Server(binary, data, KEY, ["--no-train"], log_path=os.path.join(work, "serve.log"))
    srv.start()
    cl = ltload.Client(srv.port, KEY)
    acked = []
    # 1. baseline
    for i in range(5):
        st, ans = cl.call("PUT", "/v1/items/v%d" % i, json.dumps({"creator": "c%d" % i}))
        check(st == 200, "PUT item", st, ans)
    evs = batch("base", 100, 0)
    st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
    check(st == 200 and ans["accepted"] == 100, "baseline batch", st, ans)
    acked += evs
    # 2. fill the disk
    filler = os.path.join(disk, "filler")
    fill(filler, 96 * 1024)
    print("full_disk: disk filled, %d bytes free" % free_bytes(disk), flush=True)
    st, ans = cl.call("POST", "/v1/admin/snapshot")
    check(st in (200, 503), "snapshot on a nearly full disk", st, ans)
    snaps = [n for n in os.listdir(os.path.join(data, "snapshots"))]
    check("snapshot.tmp" not in snaps, "a failed snapshot left its temp file", snaps)
    # 3. write until 503
    refused = None
    for i in range(400):
        evs = batch("fill", 100, 100 * i)
        st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
        if st == 503:
            refused = ans
            break
        check(st == 200 and ans["accepted"] == 100, "batch %d before the disk filled" % i, st, ans)
        acked += evs
    check(refused is not None, "the disk never filled")
    print("full_disk: %d events acknowledged, then 503: %s"
          % (len(acked), refused["error"]["message"]), flush=True)
    # 4. reads go on, the refused batch invisible, writes refused while full
    reads_go_on(cl)
    st, stats = cl.call("GET", "/v1/stats", auth=False)
    check(stats["events"] == len(acked), "events after the refusal (the refused batch is visible)",
          stats["events"], len(acked))
    check(metric(cl, "laotie_store_writable") == 0, "writable while the log had failed")
    time.sleep(1.2)  # past the back-off: the next write recovers the log, then runs out again
    st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
    check(st == 503, "the refused batch again on a full disk", st, ans)
    st, stats = cl.call("GET", "/v1/stats", auth=False)
    check(stats["events"] == len(acked), "events after a second refusal", stats["events"],
          len(acked))
    reads_go_on(cl)
    # 5. free the space: writes resume in the same process
    os.unlink(filler)
    t_free = time.monotonic()
    for _ in range(150):
        st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
        if st != 503:
            break
        time.sleep(0.1)
    check(st == 200 and ans["accepted"] == 100,
          "the refused batch after the space came back (same process)", st, ans)
    resumed = time.monotonic() - t_free
    acked += evs
    st, stats = cl.call("GET", "/v1/stats", auth=False)
    check(stats["events"] == len(acked), "events after writes resumed", stats["events"],
          len(acked))
    for i in range(0, len(acked), 1000):
        chunk = acked[i:i + 1000]
        st, ans = cl.call("POST", "/v1/events", json.dumps(chunk))
        check(st == 200 and ans["duplicates"] == len(chunk), "re-POST of acknowledged events",
              st, ans)
    st, ans = cl.call("PUT", "/v1/items/late", '{"creator": "c9"}')
    check(st == 200, "an item written after the space came back", st, ans)
    st, ans = cl.call("POST", "/v1/admin/snapshot")
    check(st == 200, "a snapshot after the space came back", st, ans)
    check(metric(cl, "laotie_store_writable") == 1, "not writable after the recovery")
    recoveries = metric(cl, 'laotie_store_recoveries_total{result="ok"}')
    check(recoveries >= 1, "no recovery counted", recoveries)
    before = state_of(cl)
    # 6. restart: the same state, the log clean
    cl.close()
    rc = srv.stop()
    check(rc is not None, "the server did not stop on SIGTERM within 60 s")
    ready = srv.start()
    with open(srv.log_path) as f:
        opened = [ln for ln in f if ln.startswith("laotie: opened")]
    check(opened and ": clean;" in opened[-1], "the log was not clean at reopen",
          opened[-1] if opened else "(no 'opened' line)")
    cl = ltload.Client(srv.port, KEY)
    after = state_of(cl)
    check(after == before, "the state after the restart", after, before)
    st, ans = cl.call("POST", "/v1/events", json.dumps(acked[:100]))
    check(st == 200 and ans["duplicates"] == 100, "acknowledged events after the restart", st, ans)
    evs = batch("after", 100, 0)
    st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
    check(st == 200 and ans["accepted"] == 100, "writes after the restart", st, ans)
    cl.close()
    check(srv.stop() == 0, "clean shutdown at the end")
    print("full_disk: ok — %d acknowledged events kept, the refused batch never visible, writes "
          "resumed in the same process %.2f s after the space came back (%d recoveries), "
          "restart in %.3f s gave the same state" % (len(acked), resumed, recoveries, ready))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--size", default="8m", help="tmpfs size (default 8m)")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        print("full_disk: %s is not an executable" % a.bin, file=sys.stderr)
        return 2
    if os.geteuid() != 0 or not shutil.which("mount"):
        print("full_disk: SKIPPED — mounting a small tmpfs needs root", file=sys.stderr)
        return SKIP
    work = tempfile.mkdtemp(prefix="lt-fulldisk-")
    disk = os.path.join(work, "disk")
    os.makedirs(disk)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % a.size, "tmpfs", disk],
                       capture_output=True)
    if p.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        print("full_disk: SKIPPED — mount -t tmpfs is not permitted here: %s"
              % p.stderr.decode().strip(), file=sys.stderr)
        return SKIP
    t0 = time.monotonic()
    try:
        run(a.bin, work, disk)
        ok = True
    except (Failure, ltload.ServerError) as e:
        print("full_disk: FAIL: %s (server log kept: %s)" % (e, os.path.join(work, "serve.log")),
              file=sys.stderr)
        ok = False
    finally:
        ltload._kill_all()
        for _ in range(50):
            if subprocess.run(["umount", disk], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", disk], capture_output=True)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        print("full_disk: %.1f s" % (time.monotonic() - t0))
        return 0
    else:  # keep the server log, drop the rest
        shutil.rmtree(disk, ignore_errors=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
