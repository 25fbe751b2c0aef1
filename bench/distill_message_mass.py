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

With --equations it also judges the distilled model's refitted edge equations (STEM.json,
`distilled_equations`): each is evaluated on the same edges and fitted the same way against
the widest span above ([F, F/m1], with q1 F and q1 F/m1 for charge runs). An R² of 1 means the
equations are the force law up to a linear map and a receiver-dependent factor a + b/m1
(+ q1 terms): the law came back. (Spurious factors in m1 other than a + b/m1 lower it a little.)

Since 2026-12-05 (late) the distill workflow reports the same numbers itself (STEM.json:
message_r2_by_basis, edge_equations_r2); this script recomputes them independently with numpy,
and for analyses made before then.

    /usr/bin/python3 bench/distill_message_mass.py --equations runs/distill/*_ns5000_nt10.analysis.h5

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


def edge_equation_values(path, edges, names):
    """The refitted edge equations of the run (STEM.json) on the analysis edges, or None."""
    import json
    import sympy
    summary = path.replace(".analysis.h5", ".json")
    try:
        eqs = json.load(open(summary))["distilled_equations"]["edge"]
    except (OSError, KeyError, ValueError):
        return None
    syms = sympy.symbols(names)
    cols = [edges[:, i] for i in range(len(names))]
    out = []
    for e in eqs:
        f = sympy.lambdify(syms, sympy.sympify(e), "numpy")
        with np.errstate(all="ignore"):
            v = np.broadcast_to(np.asarray(f(*cols), dtype=float), (len(edges),)).copy()
        v[~np.isfinite(v)] = 0.0
        out.append(v)
    return np.stack(out, axis=1)


def main():
    args = sys.argv[1:]
    equations = "--equations" in args
    args = [a for a in args if a != "--equations"]
    head = "| run | R² vs F | R² vs F/m1 | R² vs [F, F/m1] | R² vs q1 F | R² vs [F, F/m1, q1 F, q1 F/m1] |"
    print(head + (" refitted edge equations: R² vs the widest span |" if equations else ""))
    print("|---" * (head.count("|") - 1 + equations) + "|")
    for path in args:
        with h5py.File(path, "r") as f:
            force = f["/edges/force"][:]
            msg = f["/edges/messages"][:]
            names = f["/edges/features"].attrs["columns"]
            names = (names.decode() if isinstance(names, bytes) else str(names)).split(",")
            edges = f["/edges/features"][:]
            m1 = edges[:, names.index("m1")][:, None]
            q1 = edges[:, names.index("q1")][:, None]
        one = np.ones((len(force), 1))

        def r2(a, y=msg):
            return np.mean([trimmed_r2(y[:, i], a) for i in range(y.shape[1])])

        stem = path.rsplit("/", 1)[-1].replace(".analysis.h5", "")
        charge = ""
        widest = np.c_[force, force / m1, one]
        if np.all(np.abs(q1) == 1):  # a charge run: q = sign(N)
            widest = np.c_[force, force / m1, q1 * force, q1 * force / m1, one]
            charge = f"{r2(np.c_[q1 * force, one]):.4f} | {r2(widest):.4f}"
        line = (f"| {stem} | {r2(np.c_[force, one]):.4f} | {r2(np.c_[force / m1, one]):.4f} | "
                f"{r2(np.c_[force, force / m1, one]):.4f} | {charge or ' | '} |")
        if equations:
            values = edge_equation_values(path, edges, names)
            line += " |" if values is None else f" {r2(widest, values):.4f} |"
        print(line)


if __name__ == "__main__":
    main()
