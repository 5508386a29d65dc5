#!/usr/bin/env python3
"""crash_test.py — SIGKILL `laotie serve` under mixed load, again and again,
and prove after every restart that nothing acknowledged was lost.

Design note
-----------
One data directory lives through all rounds (so later rounds restart a
bigger store, with snapshots written under fire: snapshot_every_s = 1).
Each round:

 1. start `laotie serve --listen 127.0.0.1:0 --no-train` (127.0.0.1 only);
 2. run a load for a random 0.5-3 s: E event threads POST batches of 1..60
    events (a JSON array, NDJSON or one object) with ids unique to the run;
    a catalog thread PUTs items (each id once) and now and then DELETEs an
    acknowledged one, PUTs users and follows; a reader thread GETs feeds,
    items and /v1/stats; once a round it asks for a training run.
    An event or catalog write counts as ACKNOWLEDGED only when its answer
    arrived with status 200 (and, for events, every event of the batch
    accepted); a write whose answer was lost to the kill is UNKNOWN;
 3. SIGKILL the server at a random moment of that load;
 4. copy DIR/log aside and replay it alone: `laotie stats --data COPY`
    (no snapshots there, so the state comes from the log only);
 5. restart and time Popen -> first 200 from /healthz;
 6. verify:
    a. /v1/stats (snapshot + replay) == the pure log replay of step 4 and
       == `laotie stats --data DIR` beside the running server;
    b. the log, read record by record (ltload.read_log), holds every
       acknowledged event id exactly once and no id twice; its event count
       equals /v1/stats "events";
    c. GET /v1/users/U "events" equals the count of U's events in the log,
       for every user;
    d. re-POSTing every acknowledged event gives duplicates == count,
       accepted == 0 (the idempotency index survived);
    e. every acknowledged item PUT is GET-able with its creator; every
       acknowledged DELETE answers 404 (one whose answer the kill swallowed
       may go either way; the restart settles it); every acknowledged
       follow shows;
    f. the ad ledgers: two campaigns (CPM and CPC, created before round 1)
       are served in the reader's feeds, and the reader posts an
       ad_impression (and now and then an ad_click) for every ad served,
       with its request_id, so the server bills them. A second server on
       the copy of step 4 (log only) must answer GET
       /v1/campaigns/{id}/report and GET /v1/stats/revenue exactly as the
       restarted one does.
 Any 5xx seen by the load (no faults are injected here) fails the run.

Invariants checked: I1 acknowledged => durable (b, d, e); I2 no event
applied twice (b); I3 state after restart == replay of the log (a, c);
I4 serving again within the restart budget (--max-restart-s).

Usage: crash_test.py --bin build/laotie [--rounds 3] [--seed N] [--keep]
Exit 0 = all rounds passed; 1 = a check failed (the data dir is kept and
named); 2 = usage.  CI: --rounds 3 (under a minute). Full run: --rounds 25.
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltload  # noqa: E402

KEY = "crash-test-key-5f1c2a9e7b"
USERS = 120
ITEMS = 200
TYPES = ["play"] * 6 + ["impression", "like", "share", "comment", "purchase", "gift"]


class Failure(Exception):
    pass


class Ledger:
    """What the load was told: acknowledged writes and unknown outcomes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # event id -> event dict
        self.unknown_events = 0
        self.items = {}  # item id -> creator (acknowledged PUT)
        self.deleted = set()  # acknowledged DELETEs
        self.maybe_deleted = set()  # DELETEs whose answer the kill swallowed
        self.follows = {}  # user -> set of creators acknowledged followed
        self.server_errors = []
        self.requests = 0
        self.ad_events = 0  # acknowledged ad events (also in acked)


def make_event(rng, eid, now_s):
    t = rng.choice(TYPES)
    e = {"id": eid, "user": "u%d" % rng.randrange(USERS), "item": "v%d" % rng.randrange(ITEMS),
         "type": t, "ts": now_s - rng.randrange(86400 * 3)}
    if t == "play":
        e["watch_ms"] = rng.randrange(1, 60000)
    if t in ("purchase", "gift"):
        e["value"] = rng.randrange(1, 10000)
    return e


def event_thread(tid, port, ledger, stop, rng, prefix):
    cl = ltload.Client(port, KEY, timeout=15)
    seq = 0
    now_s = int(time.time())
    try:
        while not stop.is_set():
            n = rng.choice([1, 1, 5, 20, 60])
            evs = [make_event(rng, "%s-t%d-%d" % (prefix, tid, seq + k), now_s) for k in range(n)]
            seq += n
            form = rng.randrange(3)
            if form == 0 and n == 1:
                body, ctype = json.dumps(evs[0]), "application/json"
            elif form == 1:
                body, ctype = "\n".join(json.dumps(e) for e in evs) + "\n", "application/x-ndjson"
            else:
                body, ctype = json.dumps(evs), "application/json"
            try:
                st, ans = cl.call("POST", "/v1/events", body, ctype)
            except Exception:
                with ledger.lock:
                    ledger.unknown_events += n
                return  # the server is gone
            with ledger.lock:
                ledger.requests += 1
                if st == 200 and ans["accepted"] == n and not ans["rejected"]:
                    for e in evs:
                        ledger.acked[e["id"]] = e
                elif st >= 500:
                    ledger.server_errors.append(("POST /v1/events", st, ans))
                else:
                    ledger.server_errors.append(("POST /v1/events unexpected", st, ans))
    finally:
        cl.close()


def catalog_thread(port, ledger, stop, rng, prefix):
    cl = ltload.Client(port, KEY, timeout=15)
    seq = 0
    try:
        while not stop.is_set():
            op = rng.randrange(10)
            try:
                if op < 6 or not ledger.items:
                    iid = "%s-i%d" % (prefix, seq)
                    seq += 1
                    creator = "c%d" % rng.randrange(30)
                    body = json.dumps({"creator": creator, "duration_ms": rng.randrange(1000, 90000),
                                       "tags": [rng.choice(["food", "travel", "pets", "music"])],
                                       "kind": rng.choice(["video", "video", "drama", "live"])})
                    st, ans = cl.call("PUT", "/v1/items/" + iid, body)
                    ok = st == 200
                    if ok:
                        with ledger.lock:
                            ledger.items[iid] = creator
                elif op < 7:
                    with ledger.lock:
                        cands = [i for i in ledger.items
                                 if i not in ledger.deleted and i not in ledger.maybe_deleted]
                    if not cands:
                        continue
                    iid = rng.choice(cands)
                    try:
                        st, ans = cl.call("DELETE", "/v1/items/" + iid)
                    except Exception:
                        with ledger.lock:  # outcome unknown: either answer is right
                            ledger.maybe_deleted.add(iid)
                        raise
                    ok = st == 200
                    if ok:
                        with ledger.lock:
                            ledger.deleted.add(iid)
                elif op < 9:
                    u, c = "u%d" % rng.randrange(USERS), "c%d" % rng.randrange(30)
                    st, ans = cl.call("POST", "/v1/users/%s/follows/%s" % (u, c))
                    ok = st == 200
                    if ok:
                        with ledger.lock:
                            ledger.follows.setdefault(u, set()).add(c)
                else:
                    u = "u%d" % rng.randrange(USERS)
                    st, ans = cl.call("PUT", "/v1/users/" + u,
                                      json.dumps({"groups": [rng.choice(["staff", "ops"])]}))
                    ok = st == 200
            except Exception:
                return
            with ledger.lock:
                ledger.requests += 1
                if not ok:
                    ledger.server_errors.append(("catalog", st, ans))
    finally:
        cl.close()


CAMPAIGNS = (("crash-cpm", "adv0", {"type": "cpm", "amount_cents": 900}),
             ("crash-cpc", "adv1", {"type": "cpc", "amount_cents": 40}))


def setup_ads(port):
    """Two campaigns with one creative each, no targeting (every feed may
    carry them). Done once, before round 1."""
    cl = ltload.Client(port, KEY, timeout=15)
    try:
        for cid, item, bid in CAMPAIGNS:
            st, ans = cl.call("PUT", "/v1/items/" + item, json.dumps({"creator": "advertiser"}))
            check(st == 200, "PUT /v1/items/" + item, st, ans)
            spec = {"id": cid, "advertiser": "acme", "daily_budget_cents": 10 ** 9, "bid": bid,
                    "creatives": [item]}
            st, ans = cl.call("POST", "/v1/campaigns", json.dumps(spec))
            check(st == 201, "POST /v1/campaigns " + cid, st, ans)
    finally:
        cl.close()


def post_ad_events(cl, ledger, rng, user, feed, seq):
    """An ad_impression (and one time in three an ad_click) for every ad of
    a served feed, with the feed's request_id; returns the next seq."""
    evs = []
    for it in feed.get("items", []):
        if not it.get("ad"):
            continue
        for t in ("ad_impression", "ad_click") if rng.randrange(3) == 0 else ("ad_impression",):
            evs.append({"id": "%s-ad%d" % (feed["request_id"], seq), "user": user, "item": it["id"],
                        "type": t, "request_id": feed["request_id"]})
            seq += 1
    if not evs:
        return seq
    st, ans = cl.call("POST", "/v1/events", json.dumps(evs))
    with ledger.lock:
        ledger.requests += 1
        if st == 200 and ans["accepted"] == len(evs) and not ans["rejected"]:
            for e in evs:
                ledger.acked[e["id"]] = e
            ledger.ad_events += len(evs)
        elif st >= 500:
            ledger.server_errors.append(("POST /v1/events (ads)", st, ans))
    return seq


def reader_thread(port, ledger, stop, rng, train):
    cl = ltload.Client(port, KEY, timeout=15)
    seq = 0
    try:
        if train:
            try:
                cl.call("POST", "/v1/admin/train")
            except Exception:
                return
        while not stop.is_set():
            r = rng.randrange(4)
            if r == 0:
                path = "/v1/stats"
            elif r == 1:
                path = "/v1/items/v%d" % rng.randrange(ITEMS)
            else:
                user = "u%d" % rng.randrange(USERS + 20)
                path = "/v1/feed?user=%s&n=10" % user
            try:
                st, ans = cl.call("GET", path, auth=False)
                with ledger.lock:
                    ledger.requests += 1
                    if st >= 500 or st not in (200, 404):
                        ledger.server_errors.append(("GET " + path, st, ans))
                if r >= 2 and st == 200:
                    seq = post_ad_events(cl, ledger, rng, user, ans, seq)
            except Exception:
                return
    finally:
        cl.close()


def check(cond, what, *detail):
    if not cond:
        raise Failure(what + (": " + " ".join(str(d) for d in detail) if detail else ""))


STAT_KEYS = ("users", "items", "creators", "events", "first_day", "last_day")


def ads_books(port):
    """What the ad ledgers answer: each campaign's report of the last 7
    local days and the revenue lines (JSON, as served)."""
    out = {}
    for cid, _, _ in CAMPAIGNS:
        st, rep = ltload.request(port, "GET", "/v1/campaigns/%s/report" % cid, key=KEY)
        check(st == 200, "GET /v1/campaigns/%s/report" % cid, st, rep)
        out[cid] = rep
    st, rev = ltload.request(port, "GET", "/v1/stats/revenue", key=KEY)
    check(st == 200, "GET /v1/stats/revenue", st, rev)
    out["revenue"] = rev
    return out


def verify_ads(binary, work, srv, round_no):
    """f: the restarted server's ad ledgers == a server on the log alone."""
    mine = ads_books(srv.port)
    rsrv = ltload.Server(binary, os.path.join(work, "replay"), KEY, ["--no-train"],
                         log_path=os.path.join(work, "replay.log"))
    try:
        rsrv.start()
        theirs = ads_books(rsrv.port)
    finally:
        rsrv.kill()
    for k in mine:
        check(mine[k] == theirs[k], "round %d: %s after restart != a replay of the log"
              % (round_no, k), json.dumps(mine[k])[:300], json.dumps(theirs[k])[:300])
    total = mine["revenue"].get("total", {})
    return total.get("online_marketing_cents", 0)


def verify(binary, data, srv, ledger, replay_stats, round_no):
    port = srv.port
    st, api = ltload.request(port, "GET", "/v1/stats")
    check(st == 200, "GET /v1/stats", st, api)
    side = ltload.stats_cli(binary, data)
    for k in STAT_KEYS:
        check(api[k] == replay_stats[k], "round %d: /v1/stats %s after restart != pure log replay"
              % (round_no, k), api[k], replay_stats[k])
        check(api[k] == side[k], "round %d: /v1/stats %s != laotie stats beside the server"
              % (round_no, k), api[k], side[k])
    frames, events = ltload.read_log(os.path.join(data, "log"))
    counts, per_user = {}, {}
    for eid, user in events:
        if eid:
            counts[eid] = counts.get(eid, 0) + 1
        per_user[user] = per_user.get(user, 0) + 1
    twice = [k for k, v in counts.items() if v > 1]
    check(not twice, "round %d: event ids twice in the log" % round_no, twice[:5])
    check(len(events) == api["events"], "round %d: log events != /v1/stats events" % round_no,
          len(events), api["events"])
    missing = [e for e in ledger.acked if counts.get(e.encode(), 0) != 1]
    check(not missing, "round %d: acknowledged events missing from the log" % round_no,
          len(missing), missing[:5])
    cl = ltload.Client(port, KEY, timeout=60)
    try:
        for u in range(USERS):
            name = "u%d" % u
            st, ans = cl.call("GET", "/v1/users/" + name, auth=False)
            want = per_user.get(name.encode(), 0)
            if st == 404:
                check(want == 0, "round %d: user %s missing" % (round_no, name))
                continue
            check(st == 200 and ans["events"] == want, "round %d: user %s events" % (round_no, name),
                  ans if st != 200 else ans["events"], "log says", want)
        acked = list(ledger.acked.values())
        for i in range(0, len(acked), 1000):
            chunk = acked[i:i + 1000]
            st, ans = cl.call("POST", "/v1/events", json.dumps(chunk))
            check(st == 200 and ans["duplicates"] == len(chunk) and ans["accepted"] == 0,
                  "round %d: re-POST of acknowledged events" % round_no, st, ans)
        st, after = cl.call("GET", "/v1/stats", auth=False)
        check(after["events"] == api["events"], "round %d: re-POST changed the event count"
              % round_no)
        for iid, creator in ledger.items.items():
            st, ans = cl.call("GET", "/v1/items/" + iid, auth=False)
            if iid in ledger.maybe_deleted:
                check(st in (200, 404), "round %d: item %s" % (round_no, iid), st, ans)
                ledger.maybe_deleted.discard(iid)  # settled now, one way or the other
                if st == 404:
                    ledger.deleted.add(iid)
            elif iid in ledger.deleted:
                check(st == 404, "round %d: deleted item %s still there" % (round_no, iid), st)
            else:
                check(st == 200 and ans["creator"] == creator,
                      "round %d: acknowledged item %s" % (round_no, iid), st, ans)
        for u, creators in ledger.follows.items():
            st, ans = cl.call("GET", "/v1/users/" + u, auth=False)
            check(st == 200, "round %d: user %s" % (round_no, u), st)
            if ans["follows_total"] <= 64:
                # follows may have been undone? never by this load: all must show
                missing_f = creators - set(ans["follows"])
                check(not missing_f, "round %d: acknowledged follows of %s missing" % (round_no, u),
                      missing_f)
    finally:
        cl.close()
    return len(events), frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the laotie binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--event-threads", type=int, default=3)
    ap.add_argument("--min-load", type=float, default=0.5)
    ap.add_argument("--max-load", type=float, default=3.0)
    ap.add_argument("--max-restart-s", type=float, default=5.0)
    ap.add_argument("--keep", action="store_true", help="keep the data dir even on success")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--prove-checker", action="store_true",
                    help="record one event as acknowledged that was never sent: the run must "
                         "FAIL (shows the verification can fail)")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        print("crash_test: %s is not an executable" % a.bin, file=sys.stderr)
        return 2
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="lt-crash-")
    data = os.path.join(work, "data")
    with open(os.path.join(work, "laotie.conf"), "w") as f:
        f.write("snapshot_every_s = 1\ntrain_every_s = 0\nthreads = 4\n")
    extra = ["--config", os.path.join(work, "laotie.conf"), "--no-train"]
    print("crash_test: seed %d, %d rounds, work dir %s" % (seed, a.rounds, work), flush=True)
    ledger = Ledger()
    figures = {"seed": seed, "rounds": [], "restart_s": []}
    srv = ltload.Server(a.bin, data, KEY, extra, log_path=os.path.join(work, "serve.log"))
    ok = False
    t_start = time.monotonic()
    try:
        srv.start()
        setup_ads(srv.port)
        for rnd in range(1, a.rounds + 1):
            stop = threading.Event()
            prefix = "s%x-r%d" % (seed, rnd)
            threads = [threading.Thread(target=event_thread,
                                        args=(t, srv.port, ledger, stop,
                                              random.Random(rng.random()), prefix))
                       for t in range(a.event_threads)]
            threads.append(threading.Thread(target=catalog_thread,
                                            args=(srv.port, ledger, stop,
                                                  random.Random(rng.random()), prefix)))
            threads.append(threading.Thread(target=reader_thread,
                                            args=(srv.port, ledger, stop,
                                                  random.Random(rng.random()), rnd % 3 == 0)))
            for t in threads:
                t.start()
            load_s = rng.uniform(a.min_load, a.max_load)
            time.sleep(load_s)
            srv.kill()  # SIGKILL mid-load: the threads see broken connections
            stop.set()
            for t in threads:
                t.join(timeout=30)
                check(not t.is_alive(), "a load thread did not stop")
            check(not ledger.server_errors, "round %d: errors under load" % rnd,
                  ledger.server_errors[:3])
            # pure replay of the log as the crash left it
            replay = os.path.join(work, "replay")
            shutil.rmtree(replay, ignore_errors=True)
            os.makedirs(replay)
            shutil.copytree(os.path.join(data, "log"), os.path.join(replay, "log"))
            replay_stats = ltload.stats_cli(a.bin, replay)
            if a.prove_checker:
                ledger.acked["never-sent"] = make_event(rng, "never-sent", int(time.time()))
            ready = srv.start()
            check(ready <= a.max_restart_s, "round %d: serving again took %.2f s" % (rnd, ready))
            nev, frames = verify(a.bin, data, srv, ledger, replay_stats, rnd)
            ad_cents = verify_ads(a.bin, work, srv, rnd)
            figures["restart_s"].append(ready)
            figures["rounds"].append({"load_s": round(load_s, 2), "acked": len(ledger.acked),
                                      "log_events": nev, "log_records": frames,
                                      "restart_s": round(ready, 3)})
            print("round %2d: load %.2f s, %6d acknowledged events (%d unknown, %d ad events), "
                  "%4d items, log %7d events / %7d records, ad spend %d cents = replay, "
                  "serving again in %.3f s: ok"
                  % (rnd, load_s, len(ledger.acked), ledger.unknown_events, ledger.ad_events,
                     len(ledger.items), nev, frames, ad_cents, ready), flush=True)
        srv.stop()
        ok = True
    except (Failure, ltload.ServerError) as e:
        print("crash_test: FAIL: %s\n  seed %d; data kept in %s (server log %s)"
              % (e, seed, work, srv.log_path), file=sys.stderr)
    finally:
        srv.kill()
    figures["seconds"] = round(time.monotonic() - t_start, 1)
    figures["acked_events"] = len(ledger.acked)
    figures["acked_items"] = len(ledger.items)
    if figures["restart_s"]:
        rs = sorted(figures["restart_s"])
        figures["restart_max_s"] = round(rs[-1], 3)
        figures["restart_median_s"] = round(rs[len(rs) // 2], 3)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    if ok:
        print("crash_test: %d rounds survived, %d acknowledged events and %d items verified "
              "after every restart; restart median %.3f s, max %.3f s; %.0f s in all"
              % (a.rounds, len(ledger.acked), len(ledger.items), figures.get("restart_median_s", 0),
                 figures.get("restart_max_s", 0), figures["seconds"]))
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
