#!/usr/bin/env python3
"""phyflow's symbolic regression side by side with Operon (pyoperon) and gplearn on the 10
formulas of sr_feynman.py: same noiseless data (500 rows), same time budget per formula, one
core each. pyoperon, gplearn, numpy and scikit-learn come from PyPI into a virtual
environment (created on first use at --venv).

    python3 bench/sr_compare.py --phyflow build/src/app/phyflow --budget 30

Recovered: the returned model matches the law on 1000 fresh points to 1e-6 relative to the
law's RMS (Operon evaluates in single precision, so 1e-9 would be unfair to it); phyflow's
strict 1e-9 result is in its own column. Time: wall time of the fit (phyflow: of the search,
which stops once the fit is exact; Operon and gplearn run until their budget or generations
are spent, gplearn stops early at a mean absolute error of 1e-10)."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sr_feynman as fe  # noqa: E402


def ensure_venv(venv):
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "pyoperon", "gplearn", "numpy",
                               "scikit-learn"])
    os.execv(py, [py] + sys.argv)


def arrays(variables, law, rows, seed):
    import numpy as np
    pts = fe.sample(variables, law, rows, seed)
    X = np.array([[v[n] for n in variables] for v, _ in pts])
    y = np.array([t for _, t in pts])
    return X, y


def recovered(pred, y, tol):
    import numpy as np
    rms = float(np.sqrt(np.mean(y * y)))
    return bool(np.all(np.isfinite(pred))) and float(np.max(np.abs(pred - y))) <= tol * rms


def run_operon(X, y, budget, seed):
    from pyoperon.sklearn import SymbolicRegressor
    reg = SymbolicRegressor(allowed_symbols="add,sub,mul,div,square,sqrt,exp,sin,cos,constant,variable",
                            max_length=30, max_time=int(budget), n_threads=1, random_state=seed,
                            generations=1000000, max_evaluations=10**12)
    t0 = time.time()
    reg.fit(X, y)
    return reg, time.time() - t0, reg.get_model_string(reg.model_, 6)


def run_gplearn(X, y, budget, seed):
    from gplearn.genetic import SymbolicRegressor
    est = SymbolicRegressor(population_size=1000, generations=1, warm_start=True,
                            function_set=("add", "sub", "mul", "div", "sqrt", "sin", "cos"),
                            stopping_criteria=1e-10, n_jobs=1, random_state=seed,
                            parsimony_coefficient=0.001, const_range=(-5.0, 5.0))
    t0 = time.time()
    g = 1
    while True:
        est.set_params(generations=g)
        est.fit(X, y)
        if time.time() - t0 >= budget or est.run_details_["best_fitness"][-1] <= 1e-10:
            break
        g += 1
    return est, time.time() - t0, str(est._program)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phyflow", default="build/src/app/phyflow")
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--venv", default="/tmp/sr-bench-venv")
    ap.add_argument("--only", default="", help="comma-separated engines (phyflow,operon,gplearn)")
    ap.add_argument("--formulas", default="", help="comma-separated formula names (default: all)")
    args = ap.parse_args()
    ensure_venv(args.venv)
    engines = args.only.split(",") if args.only else ["phyflow", "operon", "gplearn"]
    print("| formula | engine | recovered (1e-6) | phyflow strict (1e-9) | time [s] | model |")
    print("|---|---|---|---|---|---|")
    totals = {e: [0, 0.0] for e in engines}
    formulas = [f for f in fe.FORMULAS if not args.formulas or f[0] in args.formulas.split(",")]
    for name, variables, law in formulas:
        X, y = arrays(variables, law, 500, args.seed)
        Xf, yf = arrays(variables, law, 1000, 12345)
        for engine in engines:
            strict = ""
            if engine == "phyflow":
                j, _ = fe.run_phyflow(args.phyflow, 1, name, variables, law, args.budget, args.seed)
                model = j["best"]["equation"]
                wall = j["search"]["wall_seconds"]
                import numpy as np
                env = dict(fe.ENV)
                pred = np.array([eval(model, dict(env), {n: row[i] for i, n in enumerate(variables)}) for row in Xf])
                strict = "yes" if fe.matches(model, variables, law) else "no"
            elif engine == "operon":
                reg, wall, model = run_operon(X, y, args.budget, args.seed)
                pred = reg.predict(Xf)
            else:
                est, wall, model = run_gplearn(X, y, args.budget, args.seed)
                pred = est.predict(Xf)
            ok = recovered(pred, yf, 1e-6)
            totals[engine][0] += ok
            totals[engine][1] += wall
            if len(model) > 90:
                model = model[:87] + "..."
            print(f"| {name} | {engine} | {'yes' if ok else 'no'} | {strict} | {wall:.2f} | `{model}` |", flush=True)
    print()
    for e, (n, t) in totals.items():
        print(f"{e}: recovered {n}/{len(formulas)}, total time {t:.1f} s (budget {args.budget} s per formula)")


if __name__ == "__main__":
    main()
