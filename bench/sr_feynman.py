#!/usr/bin/env python3
"""Exact recovery and time to solution of `phyflow run` (workflow: sr) on 10 noiseless
Feynman-style formulas (AI Feynman / SRBench ground truth), one search per formula with the
same operators, time budget and cores for all.

    python3 bench/sr_feynman.py --phyflow build/src/app/phyflow --ranks 2 --budget 60

A formula counts as recovered when the chosen best equation (after simplification) matches
the law on 1000 fresh points to 1e-9 relative to the law's RMS; "front" counts a match
anywhere on the Pareto front. Results table to stdout (Markdown)."""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

# name, variables with sampling ranges, law (Python over math), as in the Feynman database.
FORMULAS = [
    ("I.6.2a", {"theta": (1, 3)}, "exp(-theta**2/2)/sqrt(2*pi)"),
    ("I.12.1", {"mu": (1, 5), "Nn": (1, 5)}, "mu*Nn"),
    ("I.14.4", {"k": (1, 5), "x": (1, 5)}, "0.5*k*x**2"),
    ("I.10.7", {"m0": (1, 5), "v": (1, 2), "c": (3, 10)}, "m0/sqrt(1 - v**2/c**2)"),
    ("I.12.4", {"q1": (1, 5), "eps": (1, 5), "r": (1, 5)}, "q1/(4*pi*eps*r**2)"),
    ("I.18.4", {"m1": (1, 5), "m2": (1, 5), "r1": (1, 5), "r2": (1, 5)}, "(m1*r1 + m2*r2)/(m1 + m2)"),
    ("I.13.4", {"m": (1, 5), "v": (1, 5), "u": (1, 5), "w": (1, 5)}, "0.5*m*(v**2 + u**2 + w**2)"),
    ("I.39.1", {"pr": (1, 5), "V": (1, 5)}, "1.5*pr*V"),
    ("I.24.6", {"m": (1, 3), "omega": (1, 3), "omega_0": (1, 3), "x": (1, 3)},
     "0.25*m*(omega**2 + omega_0**2)*x**2"),
    ("I.12.11", {"q": (1, 5), "Ef": (1, 5), "B": (1, 5), "v": (1, 5), "theta": (1, 5)},
     "q*(Ef + B*v*sin(theta))"),
]
OPERATORS = ["add", "sub", "mul", "div", "square", "sqrt", "exp", "sin", "cos"]
ENV = {k: getattr(math, k) for k in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt")}
ENV.update({"pi": math.pi, "Abs": abs})


def sample(variables, law, rows, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        v = {n: rng.uniform(lo, hi) for n, (lo, hi) in variables.items()}
        out.append((v, eval(law, dict(ENV), dict(v))))
    return out


def matches(equation, variables, law, tol=1e-9):
    pts = sample(variables, law, 1000, 12345)
    rms = math.sqrt(sum(y * y for _, y in pts) / len(pts))
    try:
        worst = max(abs(eval(equation, dict(ENV), dict(v)) - y) for v, y in pts)
    except (ArithmeticError, ValueError):
        return False
    return worst <= tol * rms


def run_phyflow(exe, ranks, name, variables, law, budget, seed=1, rows=500):
    """One search; returns (result json, wall seconds of the whole program) or raises."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    data = sample(variables, law, rows, seed)
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, name + ".csv")
        with open(csv, "w") as f:
            f.write(",".join(list(variables) + ["target"]) + "\n")
            for v, y in data:
                f.write(",".join(repr(v[n]) for n in variables) + f",{y!r}\n")
        mean_sq = sum(y * y for _, y in data) / len(data)
        out = os.path.join(tmp, name + ".json")
        deck = os.path.join(tmp, name + ".yaml")
        with open(deck, "w") as f:
            f.write(f"workflow: sr\nseed: {seed}\n"
                    f"data: {{path: {csv}, target: target}}\n"
                    f"operators: [{', '.join(OPERATORS)}]\n"
                    f"search: {{generations: 1000000, max_complexity: 30, "
                    f"time_limit_s: {budget}, loss_threshold: {1e-26 * mean_sq!r}}}\n"
                    f"progress: {{interval: 0}}\n"
                    f"output: {{path: {out}}}\n")
        cmd = ["mpiexec", "-n", str(ranks), "--oversubscribe", exe, "run", deck]
        t0 = time.time()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            raise RuntimeError(f"phyflow failed ({p.returncode}): {p.stdout}{p.stderr}")
        return json.load(open(out)), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phyflow", default="build/src/app/phyflow")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per formula")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=500)
    args = ap.parse_args()
    print("| formula | law | recovered (best) | on front | time to stop [s] | generations | best equation |")
    print("|---|---|---|---|---|---|---|")
    n_best = n_front = 0
    for name, variables, law in FORMULAS:
        try:
            j, _ = run_phyflow(args.phyflow, args.ranks, name, variables, law, args.budget, args.seed, args.rows)
        except RuntimeError as e:
            print(f"| {name} | `{law}` | run failed | | | | |")
            sys.stderr.write(str(e))
            continue
        best = j["best"]["equation"]
        ok_best = matches(best, variables, law)
        ok_front = ok_best or any(matches(e["equation"], variables, law) for e in j["pareto"])
        n_best += ok_best
        n_front += ok_front
        print(f"| {name} | `{law}` | {'yes' if ok_best else 'no'} | {'yes' if ok_front else 'no'} | "
              f"{j['search']['wall_seconds']:.2f} | {j['search']['generations']} | `{best}` |",
              flush=True)
    print(f"\nrecovered: {n_best}/{len(FORMULAS)} (best), {n_front}/{len(FORMULAS)} (anywhere on "
          f"the front); budget {args.budget} s per formula, {args.ranks} rank(s), 1 thread each")


if __name__ == "__main__":
    main()
