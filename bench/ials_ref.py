#!/usr/bin/python3
"""ials_ref.py — NumPy/SciPy reference for laotie's iALS (src/model/ials.c).

Same algorithm as the C code: implicit ALS (Hu, Koren, Volinsky 2008) with
confidence c = 1 + alpha * w, preference 1 on observed cells, L2 weight
lambda, and each half-iteration solving
    (Y^T Y + Y^T (C_u - I) Y + lambda I) x_u = Y^T C_u p_u
with a few conjugate-gradient steps warm-started from the previous x_u
(Takacs et al. 2011). The CG is vectorised across all rows at once: every
row keeps its own step sizes, so it is the same per-row CG as in C.

Usage:
  bench/ials_ref.py [--data u.data] [--k 64] [--iters 15] [--alpha 1]
                    [--lam 1] [--cg 3] [--synthetic USERS ITEMS NNZ]
Prints seconds per iteration and, for u.data, Recall/NDCG@20 on the
chronological split of bench/eval_ref.py.
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp


def gramian(Y):
    return Y.T @ Y


def half_step(R, X, Y, alpha, lam, cg_steps, chunk=1 << 20):
    """Updates rows of X given fixed Y. R: csr (rows x cols) of weights w."""
    YtY = gramian(Y)
    k = Y.shape[1]
    rows = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
    cols = R.indices
    cm1 = alpha * R.data  # c - 1
    conf = 1.0 + cm1

    def matvec(P):
        # A P = P (YtY + lam I) + sum_i (c_i - 1) (y_i . p) y_i per row
        out = P @ YtY + lam * P
        d = np.empty(len(cols), dtype=np.float32)
        for s in range(0, len(cols), chunk):
            e = min(s + chunk, len(cols))
            d[s:e] = np.einsum("ij,ij->i", P[rows[s:e]], Y[cols[s:e]])
        M = sp.csr_matrix((cm1 * d, cols, R.indptr), shape=R.shape)
        return out + M @ Y

    B = sp.csr_matrix((conf, cols, R.indptr), shape=R.shape) @ Y  # Y^T C p
    r = B - matvec(X)
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    for _ in range(cg_steps):
        Ap = matvec(p)
        pAp = np.einsum("ij,ij->i", p, Ap)
        a = np.where(pAp > 0, rs / np.maximum(pAp, 1e-30), 0.0).astype(np.float32)
        X += a[:, None] * p
        r -= a[:, None] * Ap
        rs_new = np.einsum("ij,ij->i", r, r)
        b = np.where(rs > 0, rs_new / np.maximum(rs, 1e-30), 0.0).astype(np.float32)
        p = r + b[:, None] * p
        rs = rs_new
    return X


def train(R, k=64, iters=15, alpha=1.0, lam=1.0, cg_steps=3, seed=1, timing=None, cpu=None):
    rng = np.random.default_rng(seed)
    nu, ni = R.shape
    X = (rng.standard_normal((nu, k)) * 0.01).astype(np.float32)
    Y = (rng.standard_normal((ni, k)) * 0.01).astype(np.float32)
    Rt = R.T.tocsr()
    for it in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        X = half_step(R, X, Y, alpha, lam, cg_steps)
        Y = half_step(Rt, Y, X, alpha, lam, cg_steps)
        if timing is not None:
            timing.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return X, Y


def synthetic(nu, ni, nnz, seed=7):
    rng = np.random.default_rng(seed)
    # power-law item popularity (Zipf-like, exponent ~1), uniform users
    w = 1.0 / np.arange(1, ni + 1) ** 0.9
    w /= w.sum()
    items = rng.choice(ni, size=nnz, p=w).astype(np.int32)
    users = rng.integers(0, nu, size=nnz).astype(np.int32)
    R = sp.csr_matrix((np.ones(nnz, dtype=np.float32), (users, items)), shape=(nu, ni))
    R.sum_duplicates()
    R.data[:] = 1.0
    return R


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/ml-100k/u.data")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--cg", type=int, default=3)
    ap.add_argument("--synthetic", type=int, nargs=3, metavar=("USERS", "ITEMS", "NNZ"))
    a = ap.parse_args()
    if a.synthetic:
        R = synthetic(*a.synthetic)
        timing, cpu = [], []
        train(R, a.k, a.iters, a.alpha, a.lam, a.cg, timing=timing, cpu=cpu)
        print(f"synthetic {a.synthetic}: nnz={R.nnz} k={a.k} "
              f"sec/iter={np.median(timing):.3f} wall ({np.median(cpu):.3f} CPU) "
              f"total={sum(timing):.2f}s")
        return
    import eval_ref  # same folder
    d = eval_ref.load(a.data)
    tr, te = eval_ref.split(d, np.arange(len(d["u"])))
    nu, ni = d["nu"], d["ni"]
    R = sp.csr_matrix((np.ones(len(tr), dtype=np.float32), (d["u"][tr], d["i"][tr])),
                      shape=(nu, ni))
    timing, cpu = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    X, Y = train(R, a.k, a.iters, a.alpha, a.lam, a.cg, timing=timing, cpu=cpu)
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    rec, ndcg = eval_ref.evaluate(X @ Y.T, R, d, te)
    print(f"ml-100k iALS k={a.k} iters={a.iters} alpha={a.alpha} lambda={a.lam} cg={a.cg}: "
          f"train {total:.2f}s wall, {total_cpu:.2f}s CPU ({np.median(timing)*1000:.1f} ms/iter) "
          f"Recall@20 {rec:.4f} NDCG@20 {ndcg:.4f}")


if __name__ == "__main__":
    main()
