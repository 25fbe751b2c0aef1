#!/usr/bin/env python3
"""Vectorised NumPy checkerboard Metropolis for the 2D/3D Ising model: the reference that
phyflow's kernels are compared with in docs/PERFORMANCE.md (same algorithm: one sweep =
colour 0 then colour 1, acceptance min(1, exp(-beta dE)) from a table, periodic lattice).

    /usr/bin/python3 bench/numpy_ising.py --dims 2 --L 1024 --sweeps 20
prints one JSON line with spin updates per ns.
"""
import argparse
import json
import time

import numpy as np


def checkerboard_sweep(s, masks, beta, rng):
    d = s.ndim
    for mask in masks:
        nb = sum(np.roll(s, shift, axis) for axis in range(d) for shift in (1, -1))
        dE = 2 * s * nb                              # J = 1, h = 0
        p = np.exp(-beta * np.clip(dE, 0, None))     # min(1, exp(-beta dE))
        flip = mask & (rng.random(s.shape) < p)
        s[flip] *= -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--L", type=int, default=1024)
    ap.add_argument("--sweeps", type=int, default=20)
    ap.add_argument("--T", type=float, default=2.269)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    shape = (args.L,) * args.dims
    s = np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)
    parity = sum(np.indices(shape)) % 2
    masks = [parity == 0, parity == 1]
    checkerboard_sweep(s, masks, 1.0 / args.T, rng)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.sweeps):
        checkerboard_sweep(s, masks, 1.0 / args.T, rng)
    dt = time.perf_counter() - t0
    updates = args.sweeps * s.size
    print(json.dumps({"impl": "numpy", "dims": args.dims, "L": args.L, "sweeps": args.sweeps,
                      "seconds": dt, "updates_per_ns": updates / dt * 1e-9}))


if __name__ == "__main__":
    main()
