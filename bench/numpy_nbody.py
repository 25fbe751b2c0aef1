#!/usr/bin/env python3
"""Vectorised NumPy reference of the seed's N-body simulation (Cranmer et al. 2020,
simulate.py) for the ensemble benchmark of docs/PERFORMANCE.md: ns systems of n bodies,
spring law U = (r' - 1)^2 with r' = r + 0.01, forces as -dU/dr along x_i - x_j, vectorised
over the whole ensemble, and the same fixed-step classical RK4 that bench_nbody_ensemble times
(4 force evaluations per step), or --method rk45: the seed's own integrator, adaptive
Dormand-Prince 5(4) at rtol = atol = 1.4e-8, batched as the seed batches it (jax.vmap of
odeint): every simulation keeps its own step size, the whole ensemble steps until every
simulation has reached the next frame, finished ones are masked. Step control as phyflow's
(PETSc's TSAdaptBasic), on the same 4 frame intervals of 0.625 that bench_nbody_ensemble
times. Two layouts:

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


# Dormand & Prince (1980) RK5(4)7M: stage matrix, 5th-order weights b, error weights e = b - b^.
DP_A = [[], [1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]]
DP_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
DP_E = [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]


def rk45_ensemble(accelerations, x, v, m, eye, frames, spacing, tol, sim_axis):
    """Integrates all systems through `frames` frame intervals; returns (x, v, steps, attempts)
    with steps = accepted steps summed over systems and attempts = trial steps of the batch.
    sim_axis: 0 for the seed layout (ns, n, d), -1 for (n, d, ns)."""
    ns = x.shape[sim_axis]
    def per_sim(a):  # broadcast a (ns,) array against a state array
        return a.reshape((ns, 1, 1)) if sim_axis == 0 else a.reshape((1, 1, ns))
    def rms(a, scale):  # weighted RMS norm per system
        q = (a / scale) ** 2
        axes = (1, 2) if sim_axis == 0 else (0, 1)
        return np.sqrt(q.mean(axis=axes))
    def deriv(x, v):
        return v, accelerations(x, m, eye)
    kx, kv = deriv(x, v)
    # Hairer's starting step, as phyflow's kernel.
    sx, sv = tol + tol * np.abs(x), tol + tol * np.abs(v)
    d0 = np.sqrt(0.5 * (rms(x, sx) ** 2 + rms(v, sv) ** 2))
    d1 = np.sqrt(0.5 * (rms(kx, sx) ** 2 + rms(kv, sv) ** 2))
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
    h0 = np.minimum(h0, spacing)
    px, pv = deriv(x + per_sim(h0) * kx, v + per_sim(h0) * kv)
    d2 = np.sqrt(0.5 * (rms((px - kx) / per_sim(h0), sx) ** 2 + rms((pv - kv) / per_sim(h0), sv) ** 2))
    dmax = np.maximum(d1, d2)
    h1 = np.where(dmax <= 1e-15, np.maximum(h0 * 1e-3, 1e-6), (0.01 / np.maximum(dmax, 1e-300)) ** 0.2)
    h = np.minimum(100 * h0, h1)
    t = np.zeros(ns)
    last_rejected = np.zeros(ns, dtype=bool)
    steps = 0
    attempts = 0
    for f in range(1, frames + 1):
        t_frame = f * spacing
        active = t < t_frame
        while active.any():
            attempts += 1
            clamped = t + 1.01 * h >= t_frame
            h_try = np.where(clamped, t_frame - t, h)
            hb = per_sim(h_try)
            ks = [(kx, kv)]
            for row in DP_A[1:]:
                ix = x + hb * sum(a * k[0] for a, k in zip(row, ks))
                iv = v + hb * sum(a * k[1] for a, k in zip(row, ks))
                ks.append(deriv(ix, iv))
            nx = x + hb * sum(b * k[0] for b, k in zip(DP_B, ks) if b != 0.0)
            nv = v + hb * sum(b * k[1] for b, k in zip(DP_B, ks) if b != 0.0)
            ks.append(deriv(nx, nv))
            ex = hb * sum(e * k[0] for e, k in zip(DP_E, ks) if e != 0.0)
            ev = hb * sum(e * k[1] for e, k in zip(DP_E, ks) if e != 0.0)
            scx = tol + tol * np.maximum(np.abs(nx), np.abs(nx - ex))
            scv = tol + tol * np.maximum(np.abs(nv), np.abs(nv - ev))
            enorm = np.sqrt(0.5 * (rms(ex, scx) ** 2 + rms(ev, scv) ** 2))
            accept = (enorm <= 1.0) & active
            reject = (~(enorm <= 1.0)) & active
            safety = np.where(reject & last_rejected, 0.45, 0.9)
            with np.errstate(divide="ignore"):
                factor = np.where(enorm > 0, safety * enorm ** -0.2, 10.0)
            h_next = h_try * np.clip(factor, 0.1, 10.0)
            t = np.where(accept, np.where(clamped, t_frame, t + h_try), t)
            h = np.where(accept, np.minimum(np.where(clamped & (h > h_next), h, h_next), spacing),
                         np.where(reject, h_next, h))
            last_rejected = np.where(active, reject, last_rejected)
            a = per_sim(accept)
            x, v = np.where(a, nx, x), np.where(a, nv, v)
            kx, kv = np.where(a, ks[-1][0], kx), np.where(a, ks[-1][1], kv)
            steps += int(accept.sum())
            active = t < t_frame
    return x, v, steps, attempts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--ns", type=int, default=10000)
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--layout", choices=["seed", "soa"], default="seed")
    ap.add_argument("--method", choices=["rk4", "rk45"], default="rk4")
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
    if args.method == "rk45":
        # bench_nbody_ensemble's rk45 case: frames 0.625 apart, 4 intervals, the seed's tol.
        t0 = time.perf_counter()
        x, v, steps, attempts = rk45_ensemble(accelerations, x, v, m, eye, 4, 0.625, 1.4e-8,
                                               0 if args.layout == "seed" else -1)
        seconds = time.perf_counter() - t0
        print(json.dumps({"impl": "numpy-" + args.layout + "-rk45", "numpy": np.__version__,
                          "n": args.n, "ns": args.ns, "dims": args.dims, "seconds": seconds,
                          "steps_per_sim": steps / args.ns, "batch_attempts": attempts,
                          "s_per_sim_step": seconds / steps,
                          "omp_threads": os.environ.get("OMP_NUM_THREADS", "unset")}))
        return
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
