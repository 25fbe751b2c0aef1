#!/usr/bin/env bash
# workflow: phi4 end to end: the output layout; the same deck + seed gives bitwise-identical
# files on 1, 2 and 4 ranks (Metropolis and HMC, d = 1, 2, 4); checkpoint.stop_after + --restart
# (resumed on another rank count) is bitwise identical to an uninterrupted run; conventions
# convert; bad input is one clear message and exit 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

deck() { # deck FILE DIMS L ALGORITHM
  cat >"$1" <<YAML
workflow: phi4
seed: 5
action: {kind: phi4, dims: $2, L: $3, m2: -1.0, lambda: 1.5}
algorithm: $4
hmc: {integrator: omelyan, steps: 4, trajectory_length: 0.8}
metropolis: {step: 1.2, hits: 2}
thermalize: 10
samples: 30
between_samples: 2
output: {path: unused.h5}
YAML
}

# (test_phi4_kernels proves every kernel rank-independent in d = 1..4; here the whole run.)
for spec in "1 16 metropolis" "2 8 hmc" "4 4 metropolis"; do
  set -- $spec
  deck "$WORK/d.yaml" "$1" "$2" "$3"
  for n in 1 2 4; do
    pf "$n" run "$WORK/d.yaml" --set output.path="$WORK/r$n.h5"
    check "$spec on $n rank(s) runs" expect_rc 0
  done
  pf 1 compare "$WORK/r1.h5" "$WORK/r2.h5"
  check "$spec: 1 vs 2 ranks identical" expect_rc 0
  pf 1 compare "$WORK/r1.h5" "$WORK/r4.h5"
  check "$spec: 1 vs 4 ranks identical" expect_rc 0
  cmp -s <($PY -c "import json; j=json.load(open('$WORK/r1.json')); print(j['chi2'], j['abs_magnetization'])") \
         <($PY -c "import json; j=json.load(open('$WORK/r4.json')); print(j['chi2'], j['abs_magnetization'])")
  RC=$?; check "$spec: summaries agree on 1 and 4 ranks" expect_rc 0
  rm -f "$WORK"/r*.h5 "$WORK"/r*.json
done

# Layout, read back with h5py.
deck "$WORK/d.yaml" 2 8 hmc
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/lay.h5"
check "layout run" expect_rc 0
check "layout: /t0/phi float64 (30, 8, 8), observables (30,), two_point (30, 8), summary keys" $PY - "$WORK/lay.h5" "$WORK/lay.json" <<'PYEOF'
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); g = f["t0"]
assert g["phi"].dtype == np.float64 and g["phi"].shape == (30, 8, 8), g["phi"]
for k in ["magnetization", "abs_magnetization", "action", "phi2", "acceptance", "exp_minus_delta_h", "delta_h"]:
    assert g[k].shape == (30,), k
assert g["two_point"].shape == (30, 8)
phi = g["phi"][...]
# Observables recomputed from the stored fields (AKS action, periodic).
m = phi.mean(axis=(1, 2)); assert np.allclose(m, g["magnetization"][...], atol=1e-12)
S = sum(((4 + -1.0) * x * x - 2 * x * (np.roll(x, -1, 0) + np.roll(x, -1, 1)) + 1.5 * x**4).sum() for x in [phi[0]])
assert abs(S - g["action"][0]) < 1e-9 * abs(S) + 1e-9, (S, g["action"][0])
V = 64.0
C = np.array([sum((phi[0].sum(axis=1 - a) * np.roll(phi[0].sum(axis=1 - a), -t)).sum() for a in (0, 1)) / (V * 2) for t in range(8)])
assert np.allclose(C, g["two_point"][0], atol=1e-12), (C, g["two_point"][0])
j = json.load(open(sys.argv[2]))
assert j["status"] == "complete" and j["workflow"] == "phi4"
assert j["warnings"] == [], j["warnings"]  # a healthy run: the summary's list of warnings is empty
for k in ["chi2", "abs_magnetization", "acceptance", "exp_minus_delta_h", "g_c", "pole_mass"]:
    assert k in j, k
assert abs(j["chi2"]["mean"] - sum(j["g_c"]["mean"])) < 1e-9
assert "tau_int" in j["chi2"] and "tau_int" in j["abs_magnetization"]
PYEOF
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/s6.h5" --set seed=6
pf 1 compare "$WORK/lay.h5" "$WORK/s6.h5"
check "different seeds differ" expect_rc 1
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/nofield.h5" --set output.store_fields=false
check "store_fields false: no /t0/phi" $PY -c "import h5py,sys; f=h5py.File('$WORK/nofield.h5','r'); sys.exit('phi' in f['t0'] or 'magnetization' not in f['t0'])"

# Restart: stop after 23 updates on 2 ranks, again after 17 more on 4, finish on 1: identical.
for algo in metropolis hmc; do
  deck "$WORK/d.yaml" 2 8 "$algo"
  pf 2 run "$WORK/d.yaml" --set output.path="$WORK/full.h5"
  check "$algo: uninterrupted run" expect_rc 0
  pf 2 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set checkpoint.stop_after=23
  check "$algo: stop_after exits 3" expect_rc 3
  check "$algo: interrupted run leaves partial + checkpoint, no final file" bash -c "[ -f '$WORK/cut.h5.partial' ] && [ -f '$WORK/cut.ckpt.h5' ] && [ ! -e '$WORK/cut.h5' ]"
  check "$algo: message says how to resume, with the run's --set overrides" output_has \
    "resume with: phyflow run $WORK/d.yaml --set output.path=$WORK/cut.h5 --set checkpoint.stop_after=23 --restart"
  check "$algo: summary says interrupted" $PY -c "import json,sys; j=json.load(open('$WORK/cut.json')); sys.exit(j['status']!='interrupted')"
  pf 4 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set checkpoint.stop_after=17 --restart
  check "$algo: second leg stops again" expect_rc 3
  pf 1 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --restart
  check "$algo: restart completes" expect_rc 0
  check "$algo: checkpoint removed" no_file "$WORK/cut.ckpt.h5"
  pf 1 compare "$WORK/full.h5" "$WORK/cut.h5"
  check "$algo: restarted output identical to uninterrupted" expect_rc 0
  cmp -s <($PY -c "import json; j=json.load(open('$WORK/full.json')); print(j['chi2'], j['acceptance'])") \
         <($PY -c "import json; j=json.load(open('$WORK/cut.json')); print(j['chi2'], j['acceptance'])")
  RC=$?; check "$algo: restarted summary identical" expect_rc 0
  rm -f "$WORK"/full.* "$WORK"/cut.*
done

# A step far too large for the quartic force: every trajectory overflows. They are counted and
# rejected (the field stays where it was), the run warns with the fix, observables stay finite.
deck "$WORK/d.yaml" 2 8 hmc
pf 2 run "$WORK/d.yaml" --set hmc.integrator=leapfrog --set hmc.steps=2 --set hmc.trajectory_length=8 \
  --set output.path="$WORK/wild.h5"
check "diverging HMC: exit 0" expect_rc 0
check "  ... warns with the fix" output_has "lower hmc.trajectory_length or raise hmc.steps"
check "  ... 70 of 70 trajectories diverged and rejected, the start field kept, observables finite" $PY - "$WORK/wild.h5" "$WORK/wild.json" <<'PYEOF'
import sys, json, h5py, numpy as np
j = json.load(open(sys.argv[2]))
assert j["diverged_trajectories"] == 70, j["diverged_trajectories"]
assert any("lower hmc.trajectory_length or raise hmc.steps" in w for w in j["warnings"]), j["warnings"]
assert j["acceptance"]["mean"] == 0.0, j["acceptance"]
assert np.isfinite(j["chi2"]["mean"]), j["chi2"]
phi = h5py.File(sys.argv[1], "r")["t0/phi"][...]
assert np.all(np.abs(phi) <= 1.0) and np.all(phi == phi[0]), "the field moved"
PYEOF

# Conventions: the AKS point in normflow form (kappa 2: phi unscaled) gives the same chain.
deck "$WORK/d.yaml" 2 8 hmc
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/aks.h5"
cat >"$WORK/nf.yaml" <<YAML
workflow: phi4
seed: 5
action: {kind: phi4, dims: 2, L: 8, convention: normflow, kappa: 2.0, m_sq: -2.0, lambda: 1.5}
algorithm: hmc
hmc: {integrator: omelyan, steps: 4, trajectory_length: 0.8}
thermalize: 10
samples: 30
between_samples: 2
output: {path: $WORK/nf.h5}
YAML
pf 1 run "$WORK/nf.yaml"
check "normflow deck runs" expect_rc 0
check "normflow kappa=2, m_sq=2 m2 gives the AKS chain" $PY -c "
import h5py, numpy as np, sys
a = h5py.File('$WORK/aks.h5','r')['t0/phi'][...]; b = h5py.File('$WORK/nf.h5','r')['t0/phi'][...]
sys.exit(not np.array_equal(a, b))"
pf 1 validate "$WORK/nf.yaml" --set action.convention=hopping --set action.lambda=0.02 --set action.kappa=0.2 --set action.m_sq=null
check "hopping deck validates" expect_rc 0

# Bad input: one clear message and exit 2.
bad() { # bad WHAT EXPECTED_TEXT RANKS args...
  local what="$1" text="$2" n="$3"; shift 3
  pf "$n" run "$WORK/d.yaml" --set output.path="$WORK/bad.h5" "$@"
  check "$what: exit 2" expect_rc 2
  check "$what: message says '$text'" output_has "$text"
  check "$what: no output" bash -c "[ ! -e '$WORK/bad.h5' ] && [ ! -e '$WORK/bad.h5.partial' ]"
}
deck "$WORK/d.yaml" 2 8 hmc
bad "hopping with lambda 0" "action.lambda = 0.000000 must be positive in the hopping convention" 1 \
  --set action.convention=hopping --set action.kappa=0.2 --set action.lambda=0 --set action.m2=null
bad "dims 5" "action.dims = 5 is out of range" 1 --set action.dims=5
bad "dims 0" "action.dims = 0 is out of range" 1 --set action.dims=0
bad "odd L" "action.L = 7 must be even" 1 --set action.L=7
bad "L not dividing over 3 ranks" "action.L = 8 does not divide over the 3x1 process grid" 3
bad "unknown algorithm" "did you mean 'metropolis'" 1 --set algorithm=metropolice
bad "unknown integrator" "did you mean 'omelyan'" 1 --set hmc.integrator=omelian
bad "m2 with hopping" "action.m2 is not a coupling of action.convention = hopping" 1 \
  --set action.convention=hopping --set action.kappa=0.2
bad "normflow without m_sq" "action.m_sq is required with action.convention = normflow" 1 \
  --set action.convention=normflow --set action.kappa=2.0 --set action.m2=null
bad "free field with m2 <= 0" "lambda = 0 needs m2 > 0" 1 --set action.lambda=0
bad "negative lambda" "action.lambda" 1 --set action.lambda=-1
bad "unknown action kind" "action.kind" 1 --set action.kind=ising_hs

finish
