#!/usr/bin/env python3
"""How much of a graph network's messages is the pair force, the pair acceleration, the
sender's field at the receiver, or a receiver-dependent mixture of them.

The node model sees the receiver's mass m1 and charge q1, so a network may send g(m1, q1)·F
for any g and still predict the accelerations exactly: the force (g = 1, what the paper's R²
assumes), the pair acceleration F/m1, the field F/q1 (charge runs, q = ±1, so F/q1 = q1 F),
or a mixture. For each run this prints the message R² (mean over the selected components;
trimmed least squares, the worst 10 % of edges left out, as ml::robust_linear_fit and the
distill analysis) against linear transforms of F, of F/m1, of [F, F/m1] jointly
(g = a + b/m1), and for charge runs of q1 F and of [F, F/m1, q1 F, q1 F/m1], from the run's
STEM.analysis.h5.

    /usr/bin/python3 bench/distill_message_mass.py runs/distill/distill_spring_2d_bottleneck_e20*.analysis.h5
"""
import sys

import h5py
import numpy as np


def trimmed_r2(y, a, trim=0.1):
    keep = np.ones(len(y), bool)
    for _ in range(100):
        c, *_ = np.linalg.lstsq(a[keep], y[keep], rcond=None)
        res = (y - a @ c) ** 2
        nxt = np.zeros(len(y), bool)
        nxt[np.argsort(res, kind="stable")[:int(np.ceil((1 - trim) * len(y)))]] = True
        if (nxt == keep).all():
            break
        keep = nxt
    sst = ((y[keep] - y[keep].mean()) ** 2).sum()
    return 1 - res[keep].sum() / sst if sst > 0 else 0.0


def main():
    print("| run | R² vs F | R² vs F/m1 | R² vs [F, F/m1] | R² vs q1 F | R² vs [F, F/m1, q1 F, q1 F/m1] |")
    print("|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        with h5py.File(path, "r") as f:
            force = f["/edges/force"][:]
            msg = f["/edges/messages"][:]
            names = f["/edges/features"].attrs["columns"]
            names = (names.decode() if isinstance(names, bytes) else str(names)).split(",")
            m1 = f["/edges/features"][:, names.index("m1")][:, None]
            q1 = f["/edges/features"][:, names.index("q1")][:, None]
        one = np.ones((len(force), 1))

        def r2(a):
            return np.mean([trimmed_r2(msg[:, i], a) for i in range(msg.shape[1])])

        stem = path.rsplit("/", 1)[-1].replace(".analysis.h5", "")
        charge = ""
        if np.all(np.abs(q1) == 1):  # a charge run: q = sign(N)
            charge = (f"{r2(np.c_[q1 * force, one]):.4f} | "
                      f"{r2(np.c_[force, force / m1, q1 * force, q1 * force / m1, one]):.4f}")
        print(f"| {stem} | {r2(np.c_[force, one]):.4f} | {r2(np.c_[force / m1, one]):.4f} | "
              f"{r2(np.c_[force, force / m1, one]):.4f} | {charge or ' | '} |")


if __name__ == "__main__":
    main()
