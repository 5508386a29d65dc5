#!/usr/bin/python3
"""ials_peer.py - the iALS matrices of the training benchmark, and the NumPy/SciPy
side of the comparison.

  ials_peer.py pairs-udata u.data OUT        every (user, item) of MovieLens u.data
  ials_peer.py pairs-synth USERS ITEMS NNZ OUT
                                             bench/ials_ref.py's synthetic matrix
                                             (uniform users, power-law items, seed 7)
  ials_peer.py train FILE [--k 64] [--iters 15]
                                             bench/ials_ref.py's train() on FILE

OUT / FILE is the LTPAIRS1 format that bench/lib/ials_file.c reads (see its
header): distinct pairs, every weight 1, so both sides train on the same
matrix. `train` prints one JSON line with the seconds of each iteration, in
the same shape as ials_file. Hyper-parameters: ials_ref's defaults (alpha 1,
lambda 1, 3 CG steps), which are also lt_ials_opts_default()'s.

Run it with Debian's /usr/bin/python3 (python3-numpy, python3-scipy).
"""
import json
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ials_ref  # noqa: E402  (bench/ials_ref.py)

MAGIC = b"LTPAIRS1"


def write_pairs(path, R):
    R = R.tocoo()
    with open(path, "wb") as f:
        f.write(MAGIC)
        np.array([R.shape[0], R.shape[1]], dtype="<u4").tofile(f)
        np.array([R.nnz], dtype="<u8").tofile(f)
        R.row.astype("<u4").tofile(f)
        R.col.astype("<u4").tofile(f)
    print(json.dumps({"nusers": int(R.shape[0]), "nitems": int(R.shape[1]), "nnz": int(R.nnz)}))


def read_pairs(path):
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise SystemExit(f"{path}: not a pairs file")
        nu, ni = (int(x) for x in np.fromfile(f, dtype="<u4", count=2))
        nnz = int(np.fromfile(f, dtype="<u8", count=1)[0])
        u = np.fromfile(f, dtype="<u4", count=nnz)
        i = np.fromfile(f, dtype="<u4", count=nnz)
    R = sp.csr_matrix((np.ones(nnz, dtype=np.float32), (u, i)), shape=(nu, ni))
    R.sum_duplicates()
    R.data[:] = 1.0
    return R


def main():
    a = sys.argv[1:]
    if a[:1] == ["pairs-udata"] and len(a) == 3:
        d = np.loadtxt(a[1], dtype=np.int64)
        _, u = np.unique(d[:, 0], return_inverse=True)
        _, i = np.unique(d[:, 1], return_inverse=True)
        R = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)))
        R.sum_duplicates()
        R.data[:] = 1.0
        write_pairs(a[2], R)
    elif a[:1] == ["pairs-synth"] and len(a) == 5:
        write_pairs(a[4], ials_ref.synthetic(int(a[1]), int(a[2]), int(a[3])))
    elif a[:1] == ["train"] and len(a) >= 2:
        k, iters = 64, 15
        rest = a[2:]
        while rest:
            if rest[0] == "--k":
                k = int(rest[1])
            elif rest[0] == "--iters":
                iters = int(rest[1])
            else:
                raise SystemExit(f"unknown option {rest[0]}")
            rest = rest[2:]
        R = read_pairs(a[1])
        timing = []
        t0 = time.perf_counter()
        c0 = time.process_time()
        ials_ref.train(R, k=k, iters=iters, timing=timing)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"k": k, "iters": iters, "nusers": R.shape[0], "nitems": R.shape[1],
                          "nnz": int(R.nnz), "iter_s": [round(t, 4) for t in timing],
                          "total_s": round(total, 4), "cpu_s": round(cpu, 3),
                          "coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
                          "numpy": np.__version__}))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
