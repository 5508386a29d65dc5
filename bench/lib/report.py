#!/usr/bin/python3
"""report.py - turns the raw outputs of bench/run into bench/results.json and
bench/RESULTS.md. Standard library only.

  report.py meta ROOT OUT.json          the run's date, commit, machine, peer versions
  report.py collect RAW RESULTS.json    parses RAW/<area>/..., merges into RESULTS.json
                                        (areas not measured in this run are kept)
  report.py render RESULTS.json OUT.md  the human-readable tables
  report.py readme RESULTS.json README  the targets table between README's results markers

Raw layout (written by bench/run; REP = 1..reps):
  RAW/meta.json, RAW/run.json           meta (above); mode, reps, areas, seconds, load
  RAW/ingest/disk.REP.json              bench/lib/disk_fsync output
  RAW/ingest/log_append.txt             bench/log_append output
  RAW/ingest/import.REP.txt|.wall       `laotie import` stdout | wall seconds
  RAW/ingest/import.json                rows, bytes, users, items of the CSV
  RAW/ingest/events_cC.REP.wrk|.before|.after   wrk (POST) output | /metrics around it
  RAW/ingest/redis_cC.REP.csv           redis-benchmark --csv output
  RAW/serving/feed.REP.wrk, nginx.REP.wrk       wrk outputs (bench/lib/wrk.lua summary)
  RAW/serving/feed_bench.txt            bench/feed_bench output
  RAW/serving/store.json                sizes of the serving store
  RAW/training/ml_kK.REP.{c,py}.json    bench/lib/ials_file | ials_peer.py on ML-100K
  RAW/training/synth_kK.{c,py}.json     the same on the generated 10M matrix
  RAW/training/train_ml.REP.txt|.wall   `laotie train` on the ML-100K store
  RAW/training/train_serve.txt|.wall    `laotie train` on the serving store
  RAW/ann/{trained,random}/laotie.txt|faiss.txt
  RAW/quality/laotie.json, numpy.txt    `laotie eval --json`, bench/eval_ref.py
  RAW/simulator/status.txt, *.json      whether `laotie simulate` exists; its output
  RAW/memory/STORE.json                 {"events","users","items","rss_kb","hwm_kb"}
"""
import datetime
import glob
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

AREAS = ["ingest", "serving", "training", "ann", "quality", "simulator", "memory"]
TITLES = {
    "ingest": "Ingest",
    "serving": "Serving",
    "training": "Training",
    "ann": "ANN",
    "quality": "Quality",
    "simulator": "Simulator",
    "memory": "Memory",
}


# ---------------------------------------------------------------- helpers

def sh(cmd):
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()
    except Exception:  # noqa: BLE001 - meta is best effort
        return ""


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def read_json(path):
    s = read(path)
    if s is None:
        return None
    try:
        return json.loads(s)
    except ValueError:
        pass
    for line in reversed(s.strip().splitlines()):
        line = line.strip()
        if line.startswith("WRKJSON "):
            line = line[8:]
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def reps(pattern):
    """Paths matching RAW/x.REP.ext in repetition order."""
    def key(p):
        m = re.search(r"\.(\d+)\.[^./]+$", p)
        return int(m.group(1)) if m else 0
    return sorted(glob.glob(pattern), key=key)


def num(v):
    return f"{v:,}" if isinstance(v, (int, float)) else str(v if v is not None else "?")


def stats(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return None
    return {"values": [round(x, 6) for x in v], "min": min(v), "median": statistics.median(v),
            "max": max(v), "n": len(v)}


def side(values, name=None):
    s = stats(values)
    if s is None:
        return None
    if name:
        s["name"] = name
    return s


def row(rid, name, unit, laotie, peer=None, target=None, better="higher", note=None,
        extra=None, status=None):
    """One line of a results table. laotie / peer: stats dicts (side()) or None.
    target: (op, value, text) checked on laotie's median (op '>=' or '<='),
    or ('ratio>=', value, text) checked on laotie median / peer median."""
    r = {"id": rid, "name": name, "unit": unit, "better": better, "laotie": laotie,
         "peer": peer, "ratio": None, "target": None, "status": status, "note": note,
         "extra": extra or {}}
    if laotie and peer and peer.get("median"):
        r["ratio"] = laotie["median"] / peer["median"]
    if target:
        op, val, text = target
        r["target"] = {"op": op, "value": val, "text": text}
        if status is None:
            if not laotie:
                r["status"] = "not measured"
            elif op == ">=":
                r["status"] = "met" if laotie["median"] >= val else "not met"
            elif op == "<=":
                r["status"] = "met" if laotie["median"] <= val else "not met"
            elif op == "<":
                r["status"] = "met" if laotie["median"] < val else "not met"
            elif op == "ratio>=":
                r["status"] = ("met" if r["ratio"] is not None and r["ratio"] >= val
                               else "not met" if r["ratio"] is not None else "not measured")
    elif status is None:
        r["status"] = "" if laotie else "not measured"
    return r


def missing(rid, name, why, target=None):
    r = row(rid, name, "", None, target=None, status="not available yet", note=why)
    if target:
        r["target"] = {"op": target[0], "value": target[1], "text": target[2]}
    return r


# ---------------------------------------------------------------- meta

def cmd_meta(root, out):
    py = sys.executable

    def pyver(mod, attr="__version__"):
        return sh(f"{py} -c 'import {mod}; print({mod}.{attr})'").splitlines()[-1:] or [""]

    lscpu = sh("lscpu")
    cpu = re.search(r"Model name:\s*(.+)", lscpu)
    mem = re.search(r"MemTotal:\s*(\d+)", read("/proc/meminfo", ""))
    dirty = sh(f"git -C {root} status --porcelain --untracked-files=no")
    untracked = sh(f"git -C {root} status --porcelain")
    flags = read("/proc/cpuinfo", "")
    simd = [f for f in ("avx2", "fma", "avx512f") if re.search(rf"\b{f}\b", flags)]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh(f"git -C {root} rev-parse --short HEAD") or "unknown",
        "commit_subject": sh(f"git -C {root} log -1 --format=%s"),
        "worktree": ("clean" if not untracked else
                     "uncommitted changes" if dirty else "untracked files"),
        "machine": {
            "cpu": cpu.group(1).strip() if cpu else platform.processor(),
            "cores": os.cpu_count(),
            "simd": simd,
            "memory_gib": round(int(mem.group(1)) / 1048576, 1) if mem else None,
            "kernel": platform.release(),
            "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
            "disk": sh(f"findmnt -n -o SOURCE,FSTYPE --target {os.environ.get('BENCH_TMP', '/tmp')}"),
        },
        "versions": {
            "laotie": sh(f"{os.environ.get('LAOTIE', 'laotie')} --version"),
            "cc": sh("cc --version").splitlines()[0] if sh("cc --version") else "",
            "redis-server": sh("redis-server --version"),
            "redis-benchmark": sh("redis-benchmark --version"),
            "nginx": sh("nginx -v"),
            "wrk": (sh("wrk -v").splitlines() or [""])[0],
            "python3": sh(f"{py} --version"),
            "numpy": pyver("numpy")[0],
            "scipy": pyver("scipy")[0],
            "faiss": pyver("faiss")[0] + " (" + (pyver("faiss", "get_compile_options()")[0]) + ")",
            "openblas": sh("dpkg-query -W -f='${Version}' libopenblas0-pthread"),
            "blas used by numpy": sh("readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3"),
        },
    }
    with open(out, "w") as f:
        json.dump(meta, f, indent=1)


# ---------------------------------------------------------------- areas

def parse_wrk(path):
    j = read_json(path)
    if not j:
        return None
    j["rps"] = j["requests"] / j["duration_s"] if j["duration_s"] else 0
    j["nerrors"] = sum(j["errors"].values())
    return j


def parse_metrics(path):
    out = {}
    for line in (read(path, "") or "").splitlines():
        m = re.match(r'^(laotie_[a-z_]+)(\{result="(\w+)"\})?\s+([0-9.e+]+)$', line)
        if m:
            out[m.group(1) + ("." + m.group(3) if m.group(3) else "")] = float(m.group(4))
    return out


def area_ingest(raw):
    rows = []
    d = os.path.join(raw, "ingest")
    disk = [read_json(p) for p in reps(f"{d}/disk.*.json")]
    disk = [x for x in disk if x]
    disk_side = side([x["fsyncs_per_s"] * 1000 for x in disk],
                     "disk limit: 60 KB write + fdatasync per batch")
    if disk:
        rows.append(row("ingest.disk", "disk: sequential 60 KB write + fdatasync", "fsyncs/s",
                        side([x["fsyncs_per_s"] for x in disk]), note=(
                            f"{statistics.median([x['mb_per_s'] for x in disk]):.1f} MB/s; "
                            f"fdatasync p50 {statistics.median([x['p50_us'] for x in disk]):.0f} us, "
                            f"p99 {statistics.median([x['p99_us'] for x in disk]):.0f} us; "
                            "x 1000 events = the events/s limit of one fsync per 1000-event batch")))

    info = read_json(f"{d}/import.json") or {}
    info.update({k: v for k, v in (read_json(f"{d}/import.stats.json") or {}).items()
                 if k in ("users", "items")})
    walls, own = [], []
    for p in reps(f"{d}/import.*.txt"):
        txt = read(p, "")
        w = read(p[:-4] + ".wall")
        m = re.search(r"imported (\d+) rows in ([\d.]+) s \((\d+) rows/s\)", txt)
        if m and w:
            walls.append(int(m.group(1)) / float(w))
            own.append(float(m.group(3)))
    if walls:
        nrows = info.get("rows", 0)
        rows.append(row("ingest.import", f"`laotie import kuairec`, {nrows / 1e6:g}M-row CSV, "
                        "end to end (process wall time)", "rows/s", side(walls),
                        target=(">=", 1e6, ">= 1,000,000 rows/s"),
                        note=(f"CSV {info.get('bytes', 0) / 1e6:.0f} MB, {num(info.get('users'))} users, "
                              f"{num(info.get('items'))} items; CSV in the page cache (just "
                              f"generated); the importer's own figure "
                              f"(parse+apply, no open/close): median {statistics.median(own):,.0f} rows/s; "
                              f"{statistics.median(walls) * info.get('bytes', 0) / max(nrows, 1) / 1e6:.0f} MB/s of CSV")))

    la = read(f"{d}/log_append.txt", "")
    m1 = re.search(r"off .*?appends ([\d.]+) M rec/s", la)
    m2 = re.search(r"batch .*?: ([\d.]+) M rec/s, (\d+) groups/s", la)
    if m2:
        rows.append(row("ingest.log_batch", "event log in-process: 1000 x 60 B records per append, "
                        "fsync each (bench/log_append.c)", "events/s", side([float(m2.group(1)) * 1e6]),
                        peer=disk_side, note=(f"{m2.group(2)} fsynced groups/s" +
                                              (f"; fsync off: {float(m1.group(1)):.2f} M rec/s" if m1 else ""))))

    for c in sorted({int(re.search(r"events_c(\d+)\.", p).group(1))
                     for p in glob.glob(f"{d}/events_c*.wrk")}, reverse=True):
        ev, fs, lat, errs = [], [], [], 0
        for p in reps(f"{d}/events_c{c}.*.wrk"):
            w = parse_wrk(p)
            b, a = parse_metrics(p[:-4] + ".before"), parse_metrics(p[:-4] + ".after")
            if not w:
                continue
            batch = int((read(f"{d}/events.batch", "1000") or "1000").strip())
            ok = w["requests"] - w["errors"]["status"]
            ev.append(ok * batch / w["duration_s"])
            errs += w["nerrors"]
            lat.append(w["lat_us"]["p99"] / 1000)
            if a and b:
                nb = (a.get("laotie_events_ingested_total.accepted", 0) -
                      b.get("laotie_events_ingested_total.accepted", 0)) / batch
                nf = a.get("laotie_log_fsyncs_total", 0) - b.get("laotie_log_fsyncs_total", 0)
                if nf:
                    fs.append(nb / nf)
        red = []
        for p in reps(f"{d}/redis_c{c}.*.csv"):
            for line in (read(p, "") or "").splitlines():
                cells = [x.strip('"') for x in line.split(",")]
                if cells and cells[0].startswith("XADD") and len(cells) > 1:
                    red.append(float(cells[1]))
        if ev:
            note = (f"{c} connection{'s' if c > 1 else ''} x 1000-event NDJSON batches, fsync=batch "
                    f"(answer after fsync); batch latency p99 {statistics.median(lat):.0f} ms; "
                    + (f"{statistics.median(fs):.2f} batches per fsync (above 1 = group commit)" if fs else ""))
            if errs:
                note += f"; {errs} errors"
            cl = f"{c} client{'s' if c > 1 else ''}"
            rows.append(row(f"ingest.events_c{c}", f"HTTP `POST /v1/events`, {cl}",
                            "events/s", side(ev),
                            peer=side(red, f"Redis XADD, appendfsync always, pipeline 1000, {cl}"),
                            target=(">=", 3e5, ">= 300,000 events/s") if c > 1 else None,
                            note=note, extra={"disk_limit_events_per_s": disk_side}))
            if disk_side:
                rows.append(row(f"ingest.events_c{c}_vs_disk", f"HTTP `POST /v1/events`, {cl}, "
                                "against the disk limit", "events/s", side(ev), peer=disk_side,
                                note="the disk limit assumes one fdatasync per 1000-event batch; "
                                     "group commit can beat it"))
    return rows


def area_serving(raw):
    rows = []
    d = os.path.join(raw, "serving")
    store = read_json(f"{d}/store.json") or {}
    feed = [parse_wrk(p) for p in reps(f"{d}/feed.*.wrk")]
    feed = [x for x in feed if x]
    ngx = [parse_wrk(p) for p in reps(f"{d}/nginx.*.wrk")]
    ngx = [x for x in ngx if x]
    conc = (read(f"{d}/wrk.args", "") or "").strip()
    size = (f"{num(store.get('items'))} items / {num(store.get('users'))} users / "
            f"{num(store.get('events'))} events" if store else "")
    if feed:
        errs = sum(x["nerrors"] for x in feed)
        ngx_side = lambda f, n: side([f(x) for x in ngx], n) if ngx else None  # noqa: E731
        rows.append(row("serving.feed_rps", f"`GET /v1/feed?n=10` under wrk ({size})", "req/s",
                        side([x["rps"] for x in feed]),
                        peer=ngx_side(lambda x: x["rps"], "nginx, 1 KB static file"),
                        target=(">=", 2e4, ">= 20,000 req/s"),
                        note=f"wrk {conc}; users uniform at random" + (f"; {errs} errors" if errs else "")))
        for q, t in (("p50", None), ("p99", ("<=", 10.0, "<= 10 ms")), ("p999", None)):
            rows.append(row(f"serving.feed_{q}", f"`GET /v1/feed` latency {q.replace('p999', 'p99.9')}",
                            "ms", side([x["lat_us"][q] / 1000 for x in feed]),
                            peer=ngx_side(lambda x, q=q: x["lat_us"][q] / 1000, "nginx"),
                            target=t, better="lower"))
    imp = read(f"{d}/import.txt", "")
    w = read(f"{d}/import.wall")
    m = re.search(r"imported (\d+) rows", imp)
    if m and w:
        rows.append(row("serving.import", f"building the serving store: `laotie import kuairec` of its "
                        f"{int(m.group(1)) / 1e6:g}M-row CSV, end to end", "rows/s",
                        side([int(m.group(1)) / float(w)]), note=size))
    fb = read(f"{d}/feed_bench.txt", "")
    if fb:
        head = re.search(r"feed_bench: (\d+) items, (\d+) users, k (\d+), (\d+) candidates", fb)
        for case in ("trained", "fold-in", "cold", "ranked"):
            m = re.search(rf"^{case}\s+threads 1: wall p50\s+(\d+) p90\s+(\d+) p99\s+(\d+) max\s+(\d+) us \| "
                          rf"cpu p50\s+(\d+) p99\s+(\d+) us \|\s+(\d+) req/s", fb, re.M)
            if not m:
                continue
            p50, p99, cp99 = (float(m.group(i)) / 1000 for i in (1, 3, 6))
            rows.append(row(f"serving.inproc_{case}", f"in-process `lt_feed_get` p99, {case} users, 1 thread",
                            "ms", side([p99]), better="lower",
                            target=("<=", 2.0, "<= 2 ms") if case in ("fold-in", "ranked") else None,
                            note=(f"p50 {p50:.2f} ms, thread-CPU p99 {cp99:.2f} ms, {m.group(7)} req/s" +
                                  (f"; {int(head.group(1)):,} items, {int(head.group(2)):,} users, "
                                   f"k {head.group(3)}, {head.group(4)} candidates" if head else ""))))
    return rows


def ials_rows(d, tag, label, target):
    rows = []
    for k in sorted({int(re.search(rf"{tag}_k(\d+)", p).group(1))
                     for p in glob.glob(f"{d}/{tag}_k*.json")}):
        c = [read_json(p) for p in reps(f"{d}/{tag}_k{k}.*.c.json")] or [read_json(f"{d}/{tag}_k{k}.c.json")]
        py = [read_json(p) for p in reps(f"{d}/{tag}_k{k}.*.py.json")] or [read_json(f"{d}/{tag}_k{k}.py.json")]
        c, py = [x for x in c if x], [x for x in py if x]
        if not c:
            continue
        shape = f"{c[0]['nusers']:,} users x {c[0]['nitems']:,} items, {c[0]['nnz']:,} interactions"
        if tag == "ml":
            # full training (all iterations), one value per repetition
            rows.append(row(f"training.{tag}_k{k}_total", f"iALS k={k}, {label}: full training, "
                            f"{c[0]['iters']} iterations", "s", side([x["total_s"] for x in c]),
                            peer=side([x["total_s"] for x in py], "NumPy/SciPy reference (bench/ials_ref.py)")
                            if py else None, better="lower",
                            target=target if k == 64 else None,
                            note=f"{shape}; alpha 1, lambda 1, 3 CG steps; {c[0]['threads']} threads"))
        else:
            # seconds per iteration: every iteration is one repetition
            rows.append(row(f"training.{tag}_k{k}_iter", f"iALS k={k}, {label}: seconds per iteration",
                            "s/iter", side([t for x in c for t in x["iter_s"]]),
                            peer=side([t for x in py for t in x["iter_s"]],
                                      "NumPy/SciPy reference (bench/ials_ref.py)") if py else None,
                            better="lower", target=target if k == 64 else None,
                            note=f"{shape}; min/median/max over the iterations of one training "
                                 f"(laotie {c[0]['iters']}, NumPy {py[0]['iters'] if py else '-'})"))
    return rows


def area_training(raw):
    d = os.path.join(raw, "training")
    rows = ials_rows(d, "ml", "ML-100K", ("<", 2.0, "< 2 s"))
    rows += ials_rows(d, "synth", "generated matrix", ("<=", 20.0, "<= 20 s/iter"))

    def train_runs(pattern):
        out, stages = [], {}
        for p in reps(pattern):
            w = read(p[:-4] + ".wall")
            if w:
                out.append(float(w))
            for m in re.finditer(r"train v\d+: (\w+)\s+([\d.]+) s", read(p, "")):
                stages.setdefault(m.group(1), []).append(float(m.group(2)))
        return out, {k: statistics.median(v) for k, v in stages.items()}

    w, st = train_runs(f"{d}/train_ml.*.txt")
    if w:
        rows.append(row("training.laotie_train_ml", "`laotie train` on the ML-100K store, end to end",
                        "s", side(w), better="lower",
                        note="iALS (k 64, 10 iterations, lambda 10) + ANN + co-watch + save; stages: " +
                             ", ".join(f"{k} {v:.2f}" for k, v in st.items() if k != "total")))
    w, st = train_runs(f"{d}/train_serve.*.txt")
    if not w:
        w, st = train_runs(f"{d}/train_serve.txt")
    if w:
        s = read_json(os.path.join(raw, "serving", "store.json")) or {}
        rows.append(row("training.laotie_train_serve",
                        f"`laotie train` on the serving store ({s.get('events', 0) / 1e6:g}M events), end to end",
                        "s", side(w), better="lower",
                        note="stages: " + ", ".join(f"{k} {v:.1f}" for k, v in st.items() if k != "total")))
    return rows


def parse_faiss(txt):
    """bench/ann_faiss.py output -> (laotie rows, faiss rows, matched {recall: (lq, fq)}, builds)."""
    lrows, frows, matched = [], [], {}
    for m in re.finditer(r"^\s*(\d+) \|\s+([\d.]+|-)\s+(\d+|-) \|\s+([\d.]+)\s+(\d+)\s*$", txt, re.M):
        ef = int(m.group(1))
        if m.group(2) != "-":
            lrows.append((ef, float(m.group(2)), float(m.group(3))))
        frows.append((ef, float(m.group(4)), float(m.group(5))))
    for m in re.finditer(r"recall ([\d.]+): laotie\s+([\d.]+|n/a)\s+faiss\s+([\d.]+|n/a)", txt):
        f = lambda s: None if s == "n/a" else float(s)  # noqa: E731
        matched[m.group(1)] = (f(m.group(2)), f(m.group(3)))
    b = re.search(r"build seconds: laotie ([\d.na]+), faiss ([\d.]+)", txt)
    return lrows, frows, matched, (b.group(1), b.group(2)) if b else None


def area_ann(raw):
    rows = []
    for sub, label in (("trained", "trained item vectors (serving model, inner product)"),
                       ("random", "random uniform vectors (L2)")):
        d = os.path.join(raw, "ann", sub)
        txt = read(f"{d}/faiss.txt")
        if not txt:
            continue
        lrows, frows, matched, builds = parse_faiss(txt)
        hdr = re.search(r"n=(\d+) d=(\d+) nq=(\d+) metric=(\w+) M=(\d+) efc=(\d+)", txt)
        shape = (f"{int(hdr.group(1)):,} x {hdr.group(2)}-d, {hdr.group(3)} queries, "
                 f"M {hdr.group(5)}, efConstruction {hdr.group(6)}") if hdr else ""
        def first_at(rows_, r):
            ok = [x for x in sorted(rows_) if x[1] >= r]
            return f"ef {ok[0][0]} ({ok[0][2]:,.0f} q/s)" if ok else "not reached"
        at64 = [r for r in lrows if r[0] == 64]
        f64 = [r for r in frows if r[0] == 64]
        lbest = max(lrows, key=lambda r: r[1]) if lrows else None
        fbest = max(frows, key=lambda r: r[1]) if frows else None
        rows.append(row(f"ann.{sub}_recall", f"highest recall@10 in the efSearch sweep, {label}", "recall",
                        side([lbest[1]]) if lbest else None,
                        peer=side([fbest[1]], "FAISS HNSWFlat") if fbest else None,
                        target=(">=", 0.95, ">= 0.95") if sub == "trained" else None,
                        note=(f"{shape}; laotie {lbest[1]:.4f} at ef {lbest[0]}, FAISS "
                              f"{fbest[1]:.4f} at ef {fbest[0]}; recall at ef 64 (serving default): "
                              f"laotie {at64[0][1]:.4f}, FAISS {f64[0][1]:.4f}; recall 0.95 first at: "
                              f"laotie {first_at(lrows, 0.95)}, FAISS {first_at(frows, 0.95)}"
                              if lbest and fbest and at64 and f64 else shape)))
        for rec in ("0.90", "0.95", "0.98", "0.99"):
            lq, fq = matched.get(rec, (None, None))
            if lq is None and fq is None:
                continue
            rows.append(row(f"ann.{sub}_qps_{rec}", f"single-thread queries/s at recall@10 {rec}, {label}",
                            "queries/s", side([lq]) if lq else None,
                            peer=side([fq], "FAISS HNSWFlat (Debian, 1 thread)") if fq else None,
                            target=("ratio>=", 1.0, ">= FAISS") if rec == "0.95" else None,
                            note=("interpolated on log(qps) between measured efSearch values; "
                                  "n/a = recall not reached in the ef sweep") if rec == "0.95" else None,
                            status=None if (lq and fq) else
                            "not met: laotie does not reach this recall" if (fq and rec == "0.95") else
                            "recall not reached by " + ("laotie" if fq else "FAISS" if lq else "either")))
        if builds:
            rows.append(row(f"ann.{sub}_build", f"index build, {label} (2 threads)", "s",
                            side([float(builds[0])]) if builds[0] != "nan" else None,
                            peer=side([float(builds[1])], "FAISS HNSWFlat"), better="lower",
                            note=shape))
    return rows


def area_quality(raw):
    rows = []
    d = os.path.join(raw, "quality")
    lj = read_json(f"{d}/laotie.json")
    np_txt = read(f"{d}/numpy.txt", "")
    ref = {}
    for m in re.finditer(r"^(.+?)\s+Recall@20 ([\d.]+)\s+NDCG@20 ([\d.]+)", np_txt, re.M):
        ref[m.group(1).strip()] = (float(m.group(2)), float(m.group(3)))
    if not lj:
        return rows
    meth = {m["name"]: m for m in lj.get("methods", [])}
    peer_for = {"popularity": "popularity", "item-KNN": "item-KNN cosine top-100",
                "EASE": "EASE lambda=100"}
    lt = meth.get("laotie")
    best_ref = max(ref.items(), key=lambda kv: kv[1][0]) if ref else None
    for metric, idx, key, tgt in (("Recall@20", 0, "recall", 0.24), ("NDCG@20", 1, "ndcg", 0.21)):
        if lt:
            peer = None
            if "EASE lambda=100" in ref:
                peer = side([ref["EASE lambda=100"][idx]], "NumPy EASE (lambda 100)")
            rows.append(row(f"quality.laotie_{key}", f"`laotie eval` ML-100K, laotie pipeline, {metric}",
                            metric, side([lt[key]]), peer=peer, target=(">=", tgt, f">= {tgt}"),
                            note=lt.get("params")))
    for name, refname in peer_for.items():
        m = meth.get(name)
        if not m:
            continue
        r = ref.get(refname)
        rows.append(row(f"quality.{name}_recall", f"{name}: laotie's C vs the NumPy reference, Recall@20",
                        "Recall@20", side([m["recall"]]),
                        peer=side([r[0]], f"NumPy {refname}") if r else None,
                        note=f"NDCG@20 laotie {m['ndcg']:.4f}" + (f", NumPy {r[1]:.4f}" if r else "") +
                             f"; laotie params: {m.get('params', '')}"))
    if best_ref:
        rows.append(row("quality.numpy_best", f"best NumPy reference: {best_ref[0]}", "Recall@20",
                        side([best_ref[1][0]]), note=f"NDCG@20 {best_ref[1][1]:.4f} "
                                                      "(a reference only: computed by bench/eval_ref.py)"))
    split = (f"split: train {lj.get('train')}, validation {lj.get('val')}, test {lj.get('test')} "
             f"interactions; {lj.get('test_users')} test users; eval {lj.get('seconds')} s")
    if rows:
        rows[0]["note"] = (rows[0]["note"] or "") + "; " + split
    return rows


def ads_rows(d):
    j = read_json(f"{d}/ads.out")
    if not j or "campaigns" not in j:
        return [missing("simulator.ads", "ads: campaigns' spend vs budget, largest hourly share",
                        "bench/ads_sim.c did not run or gave no output",
                        target=("", None, "within 5% of budget, no hour > 15%"))]
    n = len(j["campaigns"])
    shape = (f"{n} campaigns, {j['requests']:,} feed requests over a simulated day, {j['users']:,} users "
             f"(bench/ads_sim.c, {float(read(f'{d}/ads.wall', '0')):.0f} s)")
    rows = [row("simulator.ads_within", "ads: campaigns with enough demand that spent within 5% of budget",
                "campaigns", side([j["within_5pct"]]),
                target=(">=", j["enough_demand"], f"all {j['enough_demand']} with enough demand"),
                note=(f"{shape}; {j['enough_demand']} of {n} had enough demand (spent >= 95% of budget, or "
                      "would spend >= 1.2x it with the budget lifted); the rest are demand-limited")),
            row("simulator.ads_deviation", "ads: worst deviation of spend from budget among them", "%",
                side([100 * j["worst_deviation"]]), better="lower", target=("<=", 5.0, "<= 5%")),
            row("simulator.ads_hour", "ads: largest share of a daily budget spent in one hour", "%",
                side([100 * j["worst_hour_share"]]), better="lower", target=("<=", 15.0, "<= 15%")),
            row("simulator.ads_fill", "ads: `lt_ads_fill` latency p99", "us", side([j["fill_us_p99"]]),
                better="lower", note=f"p50 {j['fill_us_p50']:.1f} us")]
    return rows


def area_simulator(raw):
    d = os.path.join(raw, "simulator")
    status = (read(f"{d}/status.txt", "") or "").strip()
    rows = ads_rows(d)
    if status != "available":
        why = "`laotie simulate` does not exist yet (`laotie simulate --help` fails)"
        rows.append(missing("simulator.watch", "watch minutes per user, per policy", why))
        rows.append(missing("simulator.gini", "creator exposure Gini, per policy", why))
        rows.append(missing("simulator.speed", "simulate 30 days of 5,000 users", why,
                            target=("<", 300, "< 5 minutes")))
        return rows
    # `laotie simulate --json` is expected to print {"policies": [{"name",
    # "watch_minutes_per_user", "creator_gini", ...}], "seconds": ...}; any
    # other shape is kept raw in results.json for the lead to adapt.
    for p in sorted(glob.glob(f"{d}/*.json")):
        j = read_json(p)
        if not j:
            continue
        name = os.path.basename(p)[:-5]
        for pol in j.get("policies", []):
            rows.append(row(f"simulator.{name}.{pol.get('name')}.watch",
                            f"{pol.get('name')}: watch minutes per user ({name})", "min/user",
                            side([pol.get("watch_minutes_per_user")]),
                            note=f"creator Gini {pol.get('creator_gini')}"))
        w = read(p[:-5] + ".wall")
        if w:
            rows.append(row(f"simulator.{name}.speed", f"simulate ({name})", "s", side([float(w)]),
                            better="lower", target=("<", 300, "< 5 minutes") if "30d" in name else None))
        if not j.get("policies"):
            rows.append(row(f"simulator.{name}.raw", f"simulate ({name}): unparsed output", "", None,
                            status="see results.json", extra={"raw": j}))
    return rows


def area_memory(raw):
    rows = []
    d = os.path.join(raw, "memory")
    stores = {os.path.basename(p)[:-5]: read_json(p) for p in glob.glob(f"{d}/*.json")}
    stores = {k: v for k, v in stores.items() if v}
    base = stores.get("empty")
    labels = {"target": "store shaped as the target (10 events per user, 10 users per item)",
              "serve": "serving store, no model",
              "serve_model": "serving store with its trained model", "import": "import store"}
    for key in ("target", "serve", "import", "serve_model"):
        s = stores.get(key)
        if not s or not s.get("events"):
            continue
        per_ev = s["rss_kb"] * 1024 / s["events"]
        rows.append(row(f"memory.{key}_per_event",
                        f"`laotie serve` RSS per event: {labels[key]} ({s['events']:,} events, "
                        f"{s['users']:,} users, {s['items']:,} items)", "bytes/event", side([per_ev]),
                        better="lower",
                        target=("<=", 64, "<= 64 bytes/event") if key == "target" else None,
                        note=(f"RSS {s['rss_kb'] / 1024:.0f} MiB (peak {s['hwm_kb'] / 1024:.0f} MiB)"
                              + (f"; an empty store's server: {base['rss_kb'] / 1024:.0f} MiB" if base else "")
                              + f"; RSS per user {s['rss_kb'] * 1024 / max(s['users'], 1):.0f} B, "
                                f"per item {s['rss_kb'] * 1024 / max(s['items'], 1):.0f} B")))
    # marginal bytes per event / user / item: least squares over the stores
    fit = [s for k, s in stores.items() if k in ("target", "serve", "import") and s.get("events")]
    if base and len(fit) >= 3:
        A = [[s["events"], s["users"], s["items"]] for s in fit]
        b = [(s["rss_kb"] - base["rss_kb"]) * 1024 for s in fit]
        sol = solve3(A, b)
        if sol:
            for i, (what, unit) in enumerate((("event", "bytes/event"), ("user", "bytes/user"),
                                              ("item", "bytes/item"))):
                rows.append(row(f"memory.marginal_{what}", f"marginal RSS per {what} (fit over the stores)",
                                unit, side([sol[i]]), better="lower",
                                note="RSS - empty-server RSS = a*events + b*users + c*items, solved over "
                                     "the three stores above (state and analytics, no model)"
                                if i == 0 else None))
    sm = stores.get("serve_model")
    s0 = stores.get("serve")
    if sm and s0:
        rows.append(row("memory.model", "trained model in memory (serving store)", "MiB",
                        side([(sm["rss_kb"] - s0["rss_kb"]) / 1024]), better="lower",
                        note="RSS with the model minus RSS without (iALS factors, ANN index, co-watch)"))
    return rows


def solve3(A, b):
    """Solves the 3x3 system A x = b (Cramer); None when singular."""
    def det(m):
        return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
    A = A[:3]
    b = b[:3]
    D = det(A)
    if abs(D) < 1e-9 * max(1.0, max(abs(x) for r in A for x in r)) ** 3:
        return None
    out = []
    for c in range(3):
        m = [r[:] for r in A]
        for i in range(3):
            m[i][c] = b[i]
        out.append(det(m) / D)
    return out


# Rows every run must fill (id: whether a peer figure is expected too). A
# missing one means the harness or a tool broke: `collect` exits with 3.
EXPECTED = {
    "ingest": {"ingest.disk": 0, "ingest.import": 0, "ingest.events_c4": 1, "ingest.events_c1": 1},
    "serving": {"serving.feed_rps": 1, "serving.feed_p50": 1, "serving.feed_p99": 1,
                "serving.feed_p999": 1, "serving.inproc_trained": 0, "serving.inproc_fold-in": 0,
                "serving.inproc_cold": 0, "serving.inproc_ranked": 0},
    "training": {"training.ml_k64_total": 1, "training.ml_k128_total": 1,
                 "training.synth_k64_iter": 1, "training.synth_k128_iter": 1,
                 "training.laotie_train_ml": 0, "training.laotie_train_serve": 0},
    "ann": {"ann.trained_recall": 1, "ann.trained_build": 1, "ann.random_recall": 1,
            "ann.random_build": 1},
    "quality": {"quality.laotie_recall": 1, "quality.laotie_ndcg": 1, "quality.popularity_recall": 1,
                "quality.item-KNN_recall": 1, "quality.EASE_recall": 1},
    "simulator": {"simulator.ads_within": 0, "simulator.ads_hour": 0},
    "memory": {"memory.target_per_event": 0, "memory.serve_per_event": 0,
               "memory.import_per_event": 0, "memory.serve_model_per_event": 0,
               "memory.marginal_event": 0, "memory.model": 0},
}


PARSERS = {"ingest": area_ingest, "serving": area_serving, "training": area_training,
           "ann": area_ann, "quality": area_quality, "simulator": area_simulator,
           "memory": area_memory}


def cmd_collect(raw, out):
    meta = read_json(f"{raw}/meta.json") or {}
    run = read_json(f"{raw}/run.json") or {}
    try:
        with open(out) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    res.setdefault("areas", {})
    res["last_run"] = {**meta, **run}
    for area in run.get("areas", AREAS):
        if area not in PARSERS:
            continue
        try:
            rows = PARSERS[area](raw)
        except Exception as e:  # noqa: BLE001 - a parse bug must not lose the other areas
            rows = [row(f"{area}.error", "harness could not read this area's output", "", None,
                        status="harness error", note=repr(e))]
        res["areas"][area] = {"run": {k: meta.get(k) for k in ("date", "commit", "worktree")}
                              | {"mode": run.get("mode"), "reps": run.get("reps"),
                                 "load_before": run.get("load_before"),
                                 "load_after": run.get("load_after"),
                                 "seconds": (run.get("area_seconds") or {}).get(area)},
                              "rows": rows}
    empty = []
    for area in run.get("areas", AREAS):
        rows = {r["id"]: r for r in res["areas"].get(area, {}).get("rows", [])}
        for rid, want_peer in EXPECTED.get(area, {}).items():
            r = rows.get(rid)
            if not r or not r.get("laotie"):
                empty.append(rid)
            elif want_peer and not r.get("peer"):
                empty.append(rid + " (no peer figure)")
    res["last_run"]["empty_rows"] = empty
    res["schema"] = ("areas.AREA.rows[]: id, name, unit, better (higher|lower), laotie and peer "
                     "({values, min, median, max, n, name}), ratio = laotie median / peer median, "
                     "target {op, value, text} checked on laotie's median (ratio>= on the ratio), "
                     "status, note")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    if empty:
        print("report.py: rows left empty: " + ", ".join(empty), file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------- render

def fmt(v, unit=""):
    if v is None:
        return "–"
    a = abs(v)
    if unit in ("recall", "Recall@20", "NDCG@20"):
        return f"{v:.4f}"
    if unit == "campaigns":
        return f"{v:.0f}"
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def esc(t):
    return str(t).replace("|", "\\|")


def cell(s, unit):
    if not s:
        return "–"
    if s.get("n", 1) <= 1:
        return fmt(s["median"], unit)
    return f"{fmt(s['median'], unit)} ({fmt(s['min'], unit)}–{fmt(s['max'], unit)})"


def targets_table(res):
    """Every row that has a target: the issue's figure beside laotie's."""
    lr = res.get("last_run", {})
    L = ["| area | measure | target | laotie (median) | peer | status | measured |",
         "|---|---|---|---|---|---|---|"]
    for area in AREAS:
        a = res.get("areas", {}).get(area)
        if not a:
            continue
        r = a.get("run", {})
        when = f"{(r.get('date') or '?')[:10]} {r.get('mode')}" + (
            ", contended" if lr.get("contended") and r.get("date") == lr.get("date") else "")
        for x in a.get("rows", []):
            if not x.get("target"):
                continue
            st = x.get("status") or ""
            st = {"met": "✅ met", "not met": "❌ not met"}.get(st, st)
            p = x.get("peer")
            peer = (f"{p.get('name', '')}: {fmt(p['median'], x['unit'])}"
                    + (f" (ratio {x['ratio']:.2f}x)" if x.get("ratio") is not None else "")) if p else ""
            val = fmt(x["laotie"]["median"], x["unit"]) + f" {x['unit']}" if x.get("laotie") else "–"
            L.append(f"| {TITLES[area]} | {esc(x['name'])} | {esc(x['target']['text'])} | {val} | {esc(peer)} | {st} | {when} |")
    return L


def cmd_readme(resp, readme):
    """Replaces the block between the results markers of README with the targets table."""
    with open(resp) as f:
        res = json.load(f)
    txt = read(readme, "")
    b, e = "<!-- results:begin -->", "<!-- results:end -->"
    if b not in txt or e not in txt:
        return
    lr = res.get("last_run", {})
    head = [b, "", f"_Last `bench/run`: {lr.get('date', '?')}, commit `{lr.get('commit', '?')}`, "
                  f"mode **{lr.get('mode', '?')}**, load average {lr.get('load_before', '?')} before / "
                  f"{lr.get('load_after', '?')} after"
                  + (" (**contended: other work was running; not representative**)" if lr.get("contended") else "")
                  + ". Full tables: [RESULTS.md](RESULTS.md)._", ""]
    body = head + targets_table(res) + ["", e]
    txt = txt[:txt.index(b)] + "\n".join(body) + txt[txt.index(e) + len(e):]
    with open(readme, "w") as f:
        f.write(txt)


def cmd_render(resp, out):
    with open(resp) as f:
        res = json.load(f)
    lr = res.get("last_run", {})
    m = lr.get("machine", {})
    L = ["# laotie benchmark results", "",
         "Written by `bench/run` (see bench/README.md for what each figure means and how to "
         "reproduce it). Cells are *median (min–max)* over the repetitions; ratio = laotie's median "
         "/ the peer's median. Status compares laotie's median with the target from the issues.", "",
         f"- last run: {lr.get('date', '?')}, commit `{lr.get('commit', '?')}` ({lr.get('worktree', '?')}), "
         f"mode **{lr.get('mode', '?')}**, {lr.get('reps', '?')} repetition(s), "
         f"{lr.get('seconds', 0) / 60:.1f} min",
         f"- laotie binary: {lr.get('binary', '?')}",
         f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores ({', '.join(m.get('simd', []))}), "
         f"{m.get('memory_gib', '?')} GiB, {m.get('os', '')}, Linux {m.get('kernel', '')}, disk {m.get('disk', '')}",
         f"- load average before / after: {lr.get('load_before', '?')} / {lr.get('load_after', '?')}"
         + (" — **the machine was busy: figures are contended, not representative**"
            if lr.get("contended") else ""),
         ""]
    if lr.get("empty_rows"):
        L += [f"> **Rows left empty in the last run** (a tool failed; see the run's log): "
              f"{', '.join(lr['empty_rows'])}", ""]
    if lr.get("mode") == "quick":
        L += ["> **Quick mode**: tiny sizes and one repetition — a smoke test of the harness, "
              "not the figures the targets are about.", ""]
    L += ["## Targets", ""] + targets_table(res) + [""]
    L += ["## Versions", "", "| peer / tool | version |", "|---|---|"]
    for k, v in lr.get("versions", {}).items():
        L.append(f"| {k} | {v} |")
    L.append("")
    for area in AREAS:
        a = res.get("areas", {}).get(area)
        if not a:
            continue
        r = a.get("run", {})
        L += [f"## {TITLES[area]}", ""]
        if r.get("commit") != lr.get("commit") or r.get("date") != lr.get("date") or r.get("mode") != lr.get("mode"):
            L += [f"_measured {r.get('date')}, commit `{r.get('commit')}`, mode {r.get('mode')}_", ""]
        elif r.get("seconds") is not None:
            L += [f"_{r['seconds'] / 60:.1f} min_", ""]
        L += ["| measure | unit | laotie | peer | peer value | ratio | target | status |",
              "|---|---|---|---|---|---|---|---|"]
        notes = []
        for x in a.get("rows", []):
            p = x.get("peer") or {}
            ratio = f"{x['ratio']:.2f}x" if x.get("ratio") is not None else "–"
            tgt = (x.get("target") or {}).get("text", "")
            st = x.get("status") or ""
            st = {"met": "✅ met", "not met": "❌ not met"}.get(st, st)
            L.append(f"| {esc(x['name'])} | {x['unit']} | {cell(x.get('laotie'), x['unit'])} | "
                     f"{esc(p.get('name', ''))} | {cell(p if p else None, x['unit'])} | {ratio} | {esc(tgt)} | {st} |")
            if x.get("note"):
                notes.append(f"- {x['name']}: {x['note']}")
        L.append("")
        if notes:
            L += ["Notes:", ""] + notes + [""]
    with open(out, "w") as f:
        f.write("\n".join(L))


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "meta":
        cmd_meta(a[1], a[2])
    elif len(a) == 3 and a[0] == "collect":
        sys.exit(cmd_collect(a[1], a[2]))
    elif len(a) == 3 and a[0] == "render":
        cmd_render(a[1], a[2])
    elif len(a) == 3 and a[0] == "readme":
        cmd_readme(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
