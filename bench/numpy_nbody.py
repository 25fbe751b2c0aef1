#!/usr/bin/env python3
"""Vectorised NumPy reference of the seed's N-body simulation (Cranmer et al. 2020,
simulate.py) for the ensemble benchmark of docs/PERFORMANCE.md: ns systems of n bodies,
spring law U = (r' - 1)^2 with r' = r + 0.01, forces as -dU/dr along x_i - x_j, vectorised
over the whole ensemble, and the same fixed-step classical RK4 that bench_nbody_ensemble times
(4 force evaluations per step). Two layouts:

  --layout seed  the seed's arrays (ns, n, d) with all ordered pairs broadcast to
                 (ns, n, n, d), as the seed writes its pairwise potential: the "NumPy port of
                 the seed" (the issue's reference);
  --layout soa   the fastest NumPy we could write: ensemble axis innermost (n, d, ns), a
                 Python loop over the n(n-1)/2 unique pairs, each operation on 10^4 contiguous
                 doubles (NumPy's SIMD loops at full width).

    /usr/bin/python3 bench/numpy_nbody.py --n 4 --layout seed
    /usr/bin/python3 bench/numpy_nbody.py --n 4 --layout soa
print one JSON line each with pair interactions per second on one core; pairs are counted as
phyflow counts them, n(n-1)/2 per system per force evaluation.
"""
import argparse
import json
import os
import time

import numpy as np

MIN_DIST = 0.01  # the seed's r' = r + 0.01


def accelerations_seed(x, m, eye):
    """a_i = sum_j F_ij / m_i for the spring law; x (ns, n, d), m (ns, n)."""
    dx = x[:, :, None, :] - x[:, None, :, :]           # x_i - x_j, (ns, n, n, d)
    r = np.sqrt(np.einsum("sijk,sijk->sij", dx, dx))   # (ns, n, n)
    dudr = 2.0 * (r + MIN_DIST - 1.0)
    scale = -dudr / (r + eye)                          # diagonal: dx = 0, no division by 0
    force = np.einsum("sij,sijk->sik", scale, dx)
    return force / m[:, :, None]


def accelerations_soa(x, m, eye):
    """The same on x (n, d, ns), m (n, ns): one vector operation per unique pair."""
    n = x.shape[0]
    force = np.zeros_like(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[i] - x[j]                               # (d, ns)
            r = np.sqrt((dx * dx).sum(axis=0))
            f = (-2.0 * (r + (MIN_DIST - 1.0)) / r) * dx
            force[i] += f
            force[j] -= f
    return force / m[:, None, :]


def rk4_step(accelerations, x, v, m, h, eye):
    a1 = accelerations(x, m, eye)
    x2, v2 = x + 0.5 * h * v, v + 0.5 * h * a1
    a2 = accelerations(x2, m, eye)
    x3, v3 = x + 0.5 * h * v2, v + 0.5 * h * a2
    a3 = accelerations(x3, m, eye)
    x4, v4 = x + h * v3, v + h * a3
    a4 = accelerations(x4, m, eye)
    x = x + h / 6.0 * (v + 2.0 * v2 + 2.0 * v3 + v4)
    v = v + h / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
    return x, v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--ns", type=int, default=10000)
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--layout", choices=["seed", "soa"], default="seed")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    # Seed-style state: everything N(0,1), m = exp(N(0,1)).
    x = rng.standard_normal((args.ns, args.n, args.dims))
    v = rng.standard_normal((args.ns, args.n, args.dims))
    m = np.exp(rng.standard_normal((args.ns, args.n)))
    eye = np.eye(args.n)[None, :, :]
    accelerations = accelerations_seed
    if args.layout == "soa":
        x = np.ascontiguousarray(np.transpose(x, (1, 2, 0)))
        v = np.ascontiguousarray(np.transpose(v, (1, 2, 0)))
        m = np.ascontiguousarray(m.T)
        accelerations = accelerations_soa
    x, v = rk4_step(accelerations, x, v, m, args.dt, eye)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
        x, v = rk4_step(accelerations, x, v, m, args.dt, eye)
    seconds = time.perf_counter() - t0
    pairs = args.ns * args.n * (args.n - 1) / 2 * 4 * args.steps
    print(json.dumps({"impl": "numpy-" + args.layout, "numpy": np.__version__, "n": args.n,
                      "ns": args.ns,
                      "dims": args.dims, "steps": args.steps, "seconds": seconds,
                      "pairs_per_s": pairs / seconds,
                      "s_per_sim_step": seconds / (args.ns * args.steps),
                      "omp_threads": os.environ.get("OMP_NUM_THREADS", "unset")}))


if __name__ == "__main__":
    main()
