#!/usr/bin/env python3
"""Vectorised NumPy phi^4 updates: the reference that phyflow's kernels (bench/bench_phi4.cpp)
are compared with in docs/PERFORMANCE.md. Same algorithms and action (AKS convention,
S = sum (2d + m2) phi^2 - 2 phi phi_{x+mu} + lambda phi^4, periodic): checkerboard Metropolis
(one sweep = colour 0 then colour 1, proposal phi + step (2u - 1)), and HMC with leapfrog or
Omelyan 2MN (5 steps, trajectory length 1) and a global accept/reject.

    /usr/bin/python3 bench/phi4_numpy.py --L 256 --repeat 20
prints one JSON line per algorithm with site updates per second of wall time and of CPU time
(process_time: meaningful on a loaded machine) (sites x MD steps for HMC).
"""
import argparse
import json
import time

import numpy as np

M2, LAM = -4.0, 8.0  # the AKS tutorial point


def neighbour_sum(phi):
    return sum(np.roll(phi, s, a) for a in range(phi.ndim) for s in (1, -1))


def action(phi):
    d = phi.ndim
    fwd = sum(np.roll(phi, -1, a) for a in range(d))
    return np.sum((2 * d + M2) * phi**2 - 2 * phi * fwd + LAM * phi**4)


def grad(phi):
    d = phi.ndim
    return 2 * (2 * d + M2) * phi - 2 * neighbour_sum(phi) + 4 * LAM * phi**3


def metropolis_sweep(phi, masks, step, rng):
    d = phi.ndim
    acc = 0
    for mask in masks:
        nb = neighbour_sum(phi)
        y = phi + step * (2 * rng.random(phi.shape) - 1)
        x2, y2 = phi * phi, y * y
        ds = (2 * d + M2) * (y2 - x2) + LAM * (y2 * y2 - x2 * x2) - 2 * (y - phi) * nb
        ok = mask & (rng.random(phi.shape) < np.exp(-np.clip(ds, 0, None)))
        phi[ok] = y[ok]
        acc += int(ok.sum())
    return acc


def hmc_trajectory(phi, rng, integrator, steps=5, tau=1.0):
    p = rng.standard_normal(phi.shape)
    h0 = 0.5 * np.sum(p * p) + action(phi)
    x = phi.copy()
    eps = tau / steps
    if integrator == "leapfrog":
        p -= 0.5 * eps * grad(x)
        for i in range(steps):
            x += eps * p
            p -= (0.5 if i == steps - 1 else 1.0) * eps * grad(x)
    else:
        lam = 0.1931833275037836
        p -= lam * eps * grad(x)
        for i in range(steps):
            x += 0.5 * eps * p
            p -= (1 - 2 * lam) * eps * grad(x)
            x += 0.5 * eps * p
            p -= (lam if i == steps - 1 else 2 * lam) * eps * grad(x)
    h1 = 0.5 * np.sum(p * p) + action(x)
    if rng.random() < np.exp(min(0.0, h0 - h1)):
        phi[...] = x
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--L", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    shape = (args.L,) * args.dims
    parity = sum(np.indices(shape)) % 2
    masks = [parity == 0, parity == 1]
    sites = args.L**args.dims
    for name in ["metropolis", "hmc-omelyan", "hmc-leapfrog"]:
        phi = rng.uniform(-1, 1, shape)
        for _ in range(50):  # off the hot start, as bench_phi4
            metropolis_sweep(phi, masks, 1.4, rng)
        for _ in range(3):  # warm-up
            metropolis_sweep(phi, masks, 1.4, rng) if name == "metropolis" else hmc_trajectory(phi, rng, name[4:])
        best = best_cpu = float("inf")
        for _ in range(3):  # best of 3 blocks: least disturbed by other processes
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.repeat):
                if name == "metropolis":
                    metropolis_sweep(phi, masks, 1.4, rng)
                else:
                    hmc_trajectory(phi, rng, name[4:])
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        per_update = sites * (1 if name == "metropolis" else 5)
        print(json.dumps({"algorithm": name, "dims": args.dims, "L": args.L,
                          "site_updates_per_s": per_update * args.repeat / best,
                          "site_updates_per_cpu_s": per_update * args.repeat / best_cpu,
                          "numpy": np.__version__}))


if __name__ == "__main__":
    main()
