#!/usr/bin/python3
"""eval_ref.py — NumPy reference for laotie's offline evaluation (src/eval/offline.c).

The protocol (same as lt_eval_run):
  * each user's interactions are sorted by (timestamp, item id) — ties in
    time are broken by the smaller item id first — and the last
    ceil(20%) go to test; users with fewer than 5 interactions stay
    train-only. Duplicate (user, item) pairs count once (the train matrix is
    binary).
  * every item the user did not interact with in train is ranked;
  * Recall@20 = hits / min(20, |test|); NDCG@20 = DCG / ideal DCG with the
    ideal over min(20, |test|) relevant items; both averaged over users with
    a non-empty test set.
Methods: popularity; item-KNN (cosine; each history item contributes its
top-100 neighbours, as laotie's item-KNN does); item-KNN over all neighbours;
EASE (Steck 2019, lambda=100); and, to cross-check the C pipeline's main
component, EASE with recency-weighted histories (weight exp(-r/tau), r = 0
for the latest train item) at the lambda and tau laotie's validation picks.

Usage: bench/eval_ref.py [path/to/u.data [EASE_LAMBDA TAU]]
"""
import math
import sys
import time

import numpy as np

K = 20


def load(path):
    d = np.loadtxt(path, dtype=np.int64)
    u, i = d[:, 0], d[:, 1]
    # dense ids in order of first appearance would work too; ML ids are 1..n
    uu, u = np.unique(u, return_inverse=True)
    ii, i = np.unique(i, return_inverse=True)
    return {"u": u, "i": i, "r": d[:, 2], "t": d[:, 3], "nu": len(uu), "ni": len(ii)}


def split(d, base, frac=0.2, min_n=5):
    """Chronological per-user split of the rows `base`; returns (train, test)."""
    u, i, t = d["u"], d["i"], d["t"]
    order = base[np.lexsort((i[base], t[base], u[base]))]
    us = u[order]
    bounds = np.flatnonzero(np.diff(us)) + 1
    tr, te = [], []
    for s, e in zip(np.r_[0, bounds], np.r_[bounds, len(us)]):
        n = e - s
        idx = order[s:e]
        if n < min_n:
            tr.append(idx)
            continue
        nt = math.ceil(n * frac - 1e-9)
        tr.append(idx[: n - nt])
        te.append(idx[n - nt:])
    return np.concatenate(tr), np.concatenate(te)


def dense(d, rows):
    X = np.zeros((d["nu"], d["ni"]), dtype=np.float32)
    X[d["u"][rows], d["i"][rows]] = 1
    return X


def evaluate(S, train, d, te):
    """S: dense scores (users x items); train: matrix whose nonzeros are excluded."""
    S = np.array(S, dtype=np.float64)
    if hasattr(train, "toarray"):
        train = train.toarray()
    S[train > 0] = -np.inf
    T = dense(d, te)
    T[train > 0] = 0  # re-watches of train items are not relevant
    top = np.argsort(-S, axis=1, kind="stable")[:, :K]
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    rec, nd = [], []
    for u in range(S.shape[0]):
        nrel = int(T[u].sum())
        if nrel == 0:
            continue
        hits = T[u, top[u]] > 0
        m = min(K, nrel)
        rec.append(hits.sum() / m)
        nd.append((hits * disc).sum() / disc[:m].sum())
    return float(np.mean(rec)), float(np.mean(nd))


def recency_history(d, tr, tau):
    """History weights exp(-r/tau), r = 0 for the user's latest train item."""
    u, i, t = d["u"], d["i"], d["t"]
    H = np.zeros((d["nu"], d["ni"]), dtype=np.float32)
    order = tr[np.lexsort((i[tr], t[tr], u[tr]))]
    us = u[order]
    bounds = np.flatnonzero(np.diff(us)) + 1
    for s, e in zip(np.r_[0, bounds], np.r_[bounds, len(us)]):
        idx = order[s:e]
        r = np.arange(e - s - 1, -1, -1)
        H[u[idx], i[idx]] = np.maximum(H[u[idx], i[idx]], np.exp(-r / tau))
    return H


def ease(X, lam):
    G = (X.T @ X).astype(np.float64)
    G[np.diag_indices_from(G)] += lam
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    return B


def cosine(X, topn=None):
    C = (X.T @ X).astype(np.float64)
    n = np.sqrt(np.diag(C))
    W = C / np.maximum(np.outer(n, n), 1e-12)
    np.fill_diagonal(W, 0)
    if topn:
        drop = np.argsort(-W, axis=1, kind="stable")[:, topn:]
        np.put_along_axis(W, drop, 0, axis=1)  # row j keeps its top-n neighbours
    return W  # score = H @ W: history item j adds its own neighbours' similarities


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/ml-100k/u.data"
    d = load(path)
    tr, te = split(d, np.arange(len(d["u"])))
    X = dense(d, tr)
    print(f"{len(d['u'])} interactions, {d['nu']} users, {d['ni']} items; "
          f"train {len(tr)}, test {len(te)}")
    rows = []
    t0 = time.perf_counter()
    rows.append(("popularity", evaluate(np.tile(X.sum(0), (d["nu"], 1)), X, d, te)))
    W = cosine(X, 100)
    rows.append(("item-KNN cosine top-100", evaluate(X @ W, X, d, te)))
    rows.append(("item-KNN cosine all", evaluate(X @ cosine(X), X, d, te)))
    B = ease(X, 100.0)
    rows.append(("EASE lambda=100", evaluate(X @ B, X, d, te)))
    lam, tau = (float(a) for a in sys.argv[2:4]) if len(sys.argv) > 3 else (900.0, 10.0)
    H = recency_history(d, tr, tau)
    rows.append((f"EASE lambda={lam:g}, recency tau={tau:g}", evaluate(H @ ease(X, lam), X, d, te)))
    for name, (r, n) in rows:
        print(f"{name:34s} Recall@20 {r:.4f}  NDCG@20 {n:.4f}")
    print(f"({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
