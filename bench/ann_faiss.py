#!/usr/bin/python3
"""ann_faiss.py - FAISS HNSW on the files written by bench/ann_bench.c.

Reads DIR/base.fvecs, DIR/query.fvecs, DIR/gt.ivecs and DIR/meta.txt, builds
faiss.IndexHNSWFlat with the same M and efConstruction (same number of build
threads), measures recall@10 and single-thread queries/s at several efSearch
values, then prints FAISS next to laotie's DIR/laotie.csv and compares the
two at matched recall (queries/s interpolated on log(qps) vs recall).
Writes DIR/faiss.csv (ef,recall,qps) and caches the built index in
DIR/faiss.index (delete it after regenerating the data).

FAISS searches the whole query batch in one call (its best case: no Python
per-query overhead); laotie calls lt_ann_search once per query.

Usage: /usr/bin/python3 bench/ann_faiss.py DIR [efs [nq]]
       nq: use only the first nq queries (run ann_bench --reuse 1 --nq nq
       for laotie's side so that both answer the same queries)
       (Debian's python3-faiss lives in /usr/bin/python3's dist-packages)
"""
import math
import sys
import time

import faiss
import numpy as np

K = 10


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.zeros((0, 0), dtype=dtype)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def recall(ids, gt):
    hit = 0
    for a, g in zip(ids, gt):
        hit += len(set(a.tolist()) & set(g.tolist()))
    return hit / (gt.shape[0] * K)


def interp_qps(rows, target):
    """queries/s at recall `target` by log-linear interpolation over rows of
    (ef, recall, qps); None when target is outside the measured range."""
    rows = sorted(rows, key=lambda r: r[1])
    for (e0, r0, q0), (e1, r1, q1) in zip(rows, rows[1:]):
        if r0 <= target <= r1:
            if r1 == r0:
                return max(q0, q1)
            t = (target - r0) / (r1 - r0)
            return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    return None


def main():
    d = sys.argv[1]
    efs = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else
                            "10,16,24,32,48,64,96,128,192,256,384,512").split(",")]
    meta = dict(l.strip().split("=", 1) for l in open(f"{d}/meta.txt") if "=" in l)
    xb = read_vecs(f"{d}/base.fvecs", np.float32)
    xq = read_vecs(f"{d}/query.fvecs", np.float32)
    gt = read_vecs(f"{d}/gt.ivecs", np.int32)
    if len(sys.argv) > 3:
        nq = int(sys.argv[3])
        xq, gt = xq[:nq].copy(), gt[:nq].copy()
    M, efc, threads = int(meta["M"]), int(meta["efc"]), int(meta["threads"])
    metric = faiss.METRIC_L2 if meta["metric"] == "l2" else faiss.METRIC_INNER_PRODUCT
    if meta["metric"] == "cos":
        faiss.normalize_L2(xb)
        faiss.normalize_L2(xq)
    print(f"faiss {faiss.__version__} ({faiss.get_compile_options().strip()}), "
          f"data {meta['data']} n={xb.shape[0]} d={xb.shape[1]} nq={xq.shape[0]} "
          f"metric={meta['metric']} M={M} efc={efc}")

    cache = f"{d}/faiss.index"
    try:
        # an index built by an earlier run on the same files (delete the
        # file after regenerating the data)
        index = faiss.read_index(cache)
        tb = float(open(f"{d}/faiss_build.txt").read())
        print(f"faiss index loaded from {cache} (built in {tb:.1f} s)")
    except (RuntimeError, OSError):
        index = faiss.IndexHNSWFlat(xb.shape[1], M, metric)
        index.hnsw.efConstruction = efc
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index.add(xb)
        tb = time.perf_counter() - t0
        print(f"faiss build: {tb:.1f} s ({threads} threads)")
        faiss.write_index(index, cache)
        open(f"{d}/faiss_build.txt", "w").write(f"{tb:.2f}\n")

    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = 64
    index.search(xq[:1000], K)  # warm-up
    frows = []
    for ef in efs:
        index.hnsw.efSearch = ef
        best = 1e30
        for _ in range(2):
            t0 = time.perf_counter()
            _, ids = index.search(xq, K)
            best = min(best, time.perf_counter() - t0)
        frows.append((ef, recall(ids, gt), xq.shape[0] / best))
    with open(f"{d}/faiss.csv", "w") as f:
        f.write("ef,recall,qps\n")
        for ef, r, q in frows:
            f.write(f"{ef},{r:.5f},{q:.1f}\n")

    lrows = []
    try:
        for line in open(f"{d}/laotie.csv").read().split("\n")[1:]:
            if line:
                e, r, q = line.split(",")
                lrows.append((int(e), float(r), float(q)))
        lbuild = float(open(f"{d}/laotie_build.txt").read())
    except OSError:
        lbuild = float("nan")

    print(f"\n{'ef':>5} | {'laotie recall':>13} {'qps':>8} | {'faiss recall':>12} {'qps':>8}")
    for i, (ef, r, q) in enumerate(frows):
        l = next((x for x in lrows if x[0] == ef), None)
        ls = f"{l[1]:13.4f} {l[2]:8.0f}" if l else f"{'-':>13} {'-':>8}"
        print(f"{ef:5d} | {ls} | {r:12.4f} {q:8.0f}")
    print(f"\nbuild seconds: laotie {lbuild:.1f}, faiss {tb:.1f} ({threads} threads each)")
    print("single-thread queries/s at matched recall@10:")
    for target in (0.90, 0.95, 0.98, 0.99):
        lq, fq = interp_qps(lrows, target), interp_qps(frows, target)
        fmt = lambda v: f"{v:8.0f}" if v else f"{'n/a':>8}"
        ratio = f"  laotie/faiss = {lq / fq:.2f}x" if lq and fq else ""
        print(f"  recall {target:.2f}: laotie {fmt(lq)}  faiss {fmt(fq)}{ratio}")


if __name__ == "__main__":
    main()
