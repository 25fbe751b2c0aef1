#!/usr/bin/env bash
# workflow: flow end to end: the output layout of issue 9 (/model, /chain/phi, /chain/accepted,
# /proposals/log_q, /proposals/log_p, flow.json), the chain consistent with its proposals and
# the action, the same chain on 1, 2 and 4 ranks for a given flow (model.init), the same
# trained flow on 1 and 2 ranks (float64, up to reduction-order rounding), checkpoint +
# --restart bitwise equal to an uninterrupted run, and bad input with exit code 2 (among it
# device: cuda without CUDA or a GPU). Where LibTorch has CUDA and a GPU is visible, the same
# runs with device: cuda (affine, spline, NeuralRG, forward KL, sampling from model.init,
# restart) agree with the host's to rounding, and a restart on the GPU is bitwise.
source "$(dirname "$0")/../workflows/lib.sh"
PY=/usr/bin/python3  # Debian's, with h5py

deck() { # deck NAME extra-yaml-lines...
  local name="$1"; shift
  {
    echo "workflow: flow"
    echo "seed: 3"
    echo "action: {kind: phi4, dims: 2, L: 4, m2: -1.0, lambda: 1.0}"
    echo "model: {coupling: affine, layers: 2, hidden: [4], kernel: 3, dtype: float64}"
    echo "train: {steps: 20, batch: 16, lr: 3.0e-3, time_limit_s: 0}"
    echo "sample: {proposals: 600, chunk: 128}"
    echo "output: {path: $WORK/$name.h5}"
    printf '%s\n' "$@"
  } >"$WORK/$name.yaml"
}

# --- layout and consistency ---------------------------------------------------------------
deck a
pf 1 run "$WORK/a.yaml"
check "run: exit 0, output and summary" bash -c "[ $RC -eq 0 ] && [ -e $WORK/a.h5 ] && [ -e $WORK/a.json ] && [ ! -e $WORK/a.h5.partial ]"
cat >"$WORK/layout.py" <<'PY'
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); s = json.load(open(sys.argv[2]))
phi, acc = f["/chain/phi"], f["/chain/accepted"]
lq, lp = f["/proposals/log_q"][()], f["/proposals/log_p"][()]
assert phi.shape == (600, 4, 4) and phi.dtype == np.float64, phi
assert acc.shape == (600,) and acc.dtype == np.int8, acc
assert lq.shape == (600,) and lq.dtype == np.float64 and lp.shape == (600,) and lp.dtype == np.float64
kind = f["/model"].attrs["model_kind"]
assert (kind.decode() if isinstance(kind, bytes) else kind) == "flow", kind
assert "layers.0.net.0.weight" in f["/model"]
assert f["/model/layers.0.net.0.weight"].shape == (4, 1, 3, 3)
phi, acc = phi[()], acc[()]
assert acc[0] == 1 and 0 < acc.mean() < 1
# The chain: a rejected step repeats the previous state; an accepted one holds proposal i,
# whose log p is -S_AKS of the stored field.
def S(x):
    m2, lam = -1.0, 1.0
    return ((4 + m2) * x**2 + lam * x**4 - 2 * x * (np.roll(x, -1, 0) + np.roll(x, -1, 1))).sum()
for i in range(600):
    if acc[i]:
        assert abs(-S(phi[i]) - lp[i]) < 1e-10 * (1 + abs(lp[i])), (i, S(phi[i]), lp[i])
    else:
        assert (phi[i] == phi[i - 1]).all()
lw = lp - lq
ess = np.exp(2 * np.logaddexp.reduce(lw) - np.logaddexp.reduce(2 * lw)) / len(lw)
assert abs(ess - s["ess"]) < 1e-9, (ess, s["ess"])
# Pareto k-hat of the weights (PSIS's generalized Pareto fit, Zhang-Stephens), recomputed.
S_, M_ = len(lw), int(np.ceil(min(0.2 * len(lw), 3 * np.sqrt(len(lw)))))
ls = np.sort(lw); x = np.exp(ls[S_ - M_:] - ls[-1]) - np.exp(ls[S_ - M_ - 1] - ls[-1])
grid = 30 + int(np.sqrt(M_)); xstar = x[int(np.floor(M_ / 4 + 0.5)) - 1]
theta = 1 / x[-1] + (1 - np.sqrt(grid / (np.arange(grid) + 0.5))) / (3 * xstar)
kk = np.array([np.mean(np.log1p(-t * x)) for t in theta])
ll = M_ * (np.log(-theta / kk) - kk - 1); wt = np.exp(ll - ll.max())
khat = (np.mean(np.log1p(-(wt * theta).sum() / wt.sum() * x)) * M_ + 5) / (M_ + 10)
assert abs(khat - s["pareto_k"]) < 1e-9, (khat, s["pareto_k"]); print("pareto_k", khat)
assert abs(acc[1:].mean() - s["acceptance"]) < 1e-12
for k in ("value", "error", "tau_int"): assert k in s["chi2"]
assert "value" in s["log_z"] and "error" in s["log_z"] and "chi2" in s["tau_int"]
assert s["train"]["steps"] == 20 and len(f["/train/loss"]) == 20
assert s["device"] == "cpu", s["device"]
print("layout ok")
PY
check "layout, chain consistent with proposals and action, summary" $PY "$WORK/layout.py" "$WORK/a.h5" "$WORK/a.json"

# --- the same chain on 1, 2, 4 ranks for a given flow ----------------------------------------
cat >"$WORK/same.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
for k in ("/chain/phi", "/chain/accepted", "/proposals/log_q", "/proposals/log_p"):
    x, y = a[k][()], b[k][()]
    assert x.shape == y.shape, k
    if tol == 0: assert (x == y).all(), k
for k in a["/model"]:
    x, y = a["/model"][k][()], b["/model"][k][()]
    d = np.abs(x - y).max()
    assert d <= tol, (k, d)
PY
for n in 1 2 4; do
  deck s$n "model: {init: $WORK/a.h5}" "train: {steps: 0}"
  pf $n run "$WORK/s$n.yaml"
  check "sampling from model.init on $n rank(s)" expect_rc 0
done
check "chain identical on 1 and 2 ranks" $PY "$WORK/same.py" "$WORK/s1.h5" "$WORK/s2.h5"
check "chain identical on 1 and 4 ranks" $PY "$WORK/same.py" "$WORK/s1.h5" "$WORK/s4.h5"

# --- the same trained flow on 1 and 2 ranks (float64) ----------------------------------------
deck t2
pf 2 run "$WORK/t2.yaml"
check "training on 2 ranks" expect_rc 0
check "same flow on 1 and 2 ranks (1e-10)" $PY "$WORK/same.py" "$WORK/a.h5" "$WORK/t2.h5" 1e-10

# --- checkpoint and --restart ----------------------------------------------------------------
deck r "checkpoint: {stop_after: 8}"
pf 1 run "$WORK/r.yaml"
check "stop_after: exit 3 with a checkpoint" bash -c "[ $RC -eq 3 ] && [ -e $WORK/r.ckpt.h5 ]"
pf 1 run "$WORK/r.yaml" --restart --set checkpoint.stop_after=0
check "--restart completes" bash -c "[ $RC -eq 0 ] && [ -e $WORK/r.h5 ] && [ ! -e $WORK/r.ckpt.h5 ]"
check "restarted run equals the uninterrupted one bit for bit" $PY "$WORK/same.py" "$WORK/a.h5" "$WORK/r.h5"
# The resume hint names the run's --set overrides, quoted where a shell needs it, and works as
# printed: run twice (it keeps stop_after = 8: steps 8 -> 16, then 16 -> 20 and the sampling).
pf 1 run "$WORK/a.yaml" --set checkpoint.stop_after=8 --set 'model.hidden=[4]' --set output.path="$WORK/rq.h5"
check "resume hint: every override, quoted where needed" bash -c "[ $RC -eq 3 ] && grep -qF -- \
  \"resume with: phyflow run $WORK/a.yaml --set checkpoint.stop_after=8 --set 'model.hidden=[4]' --set output.path=$WORK/rq.h5 --restart\" $WORK/out.txt"
# resume_legs WHAT REFERENCE OUTPUT [LAUNCHER WORDS...]: runs the printed hint in $resume (its
# arguments after "phyflow") twice, with the launcher words and our executable in place of the
# bare names: the next leg stops again (exit 3), the last completes bit for bit as REFERENCE.
resume_legs() {
  local what="$1" reference="$2" output="$3" launch="" word leg
  shift 3
  for word in "$@"; do launch+="$(printf '%q ' "$word")"; done
  for leg in next last; do
    eval "$launch\"\$PHYFLOW_EXE\" $resume" >"$WORK/out.txt" 2>&1
    RC=$?
    if [ "$leg" = next ]; then
      check "$what as printed: the next leg stops again (exit 3)" expect_rc 3
    else
      check "$what as printed: the last leg completes, bit for bit the uninterrupted run" \
        bash -c "[ $RC -eq 0 ] && $PY $WORK/same.py $reference $output"
    fi
  done
}
resume="$(sed -n 's/.*resume with: phyflow //p' "$WORK/out.txt" | head -1)"
resume_legs "resume hint" "$WORK/a.h5" "$WORK/rq.h5"
# A training checkpoint resumes only on the rank count that wrote it, so a 2-rank run's hint
# starts with the launcher for 2 ranks; as printed (our mpiexec and executable in place of the
# bare names) it finishes the run bit for bit as the uninterrupted 2-rank run t2. (Inside a
# Slurm allocation the hint names srun: not here.)
unset SLURM_JOB_ID
pf 2 run "$WORK/t2.yaml" --set checkpoint.stop_after=8 --set output.path="$WORK/rq2.h5"
check "resume hint on 2 ranks: names the launcher and the rank count" bash -c "[ $RC -eq 3 ] && grep -qF -- \
  \"resume with: mpiexec -n 2 phyflow run $WORK/t2.yaml --set checkpoint.stop_after=8 --set output.path=$WORK/rq2.h5 --restart\" $WORK/out.txt"
resume="$(sed -n 's/.*resume with: mpiexec -n 2 phyflow //p' "$WORK/out.txt" | head -1)"
pf 1 run "$WORK/t2.yaml" --set checkpoint.stop_after=8 --set output.path="$WORK/rq2.h5" --restart
check "a 2-rank training checkpoint resumed on 1 rank: exit 2, says so" bash -c \
  "[ $RC -eq 2 ] && grep -q 'written by a run on 2 ranks; resume it on the same number of ranks' $WORK/out.txt"
resume_legs "resume hint on 2 ranks" "$WORK/t2.h5" "$WORK/rq2.h5" "$MPIEXEC" -n 2 --oversubscribe
check "a resumed run's summary: where it resumed, and the rate of its own steps" $PY -c "
import json; t = json.load(open('$WORK/rq2.json'))['train']
assert t['steps'] == 20 and t['resumed_at_step'] == 16, t
assert abs(t['steps_per_s'] * t['seconds'] - 4) < 1e-6, t"

# --- train.time_limit_s stops training and samples with the flow so far -----------------------
deck tl "train: {steps: 100000000, time_limit_s: 2}"
pf 1 run "$WORK/tl.yaml"
check "time limit: exit 0, training stopped early" bash -c "[ $RC -eq 0 ] && $PY -c \"import json; t = json.load(open('$WORK/tl.json'))['train']; assert t['stopped_by_time_limit'] and 0 < t['steps'] < 100000000\""
check "time limit: the final progress line counts the steps done, not the steps planned" bash -c "n=\$($PY -c \"import json; print(json.load(open('$WORK/tl.json'))['train']['steps'])\") && grep -q \"flow train: \$n steps in\" $WORK/out.txt"

# --- model.identity_init: an untrained flow is the identity, so with the target's own free-field
# prior every proposal is exact (acceptance 1, ESS 1); the default initialisation is not ----------
for init in true false; do
  deck id_$init "action: {kind: free_field, m2: 0.5, lambda: 0.0}" \
    "model: {prior: free_field, prior_m2: 0.5, identity_init: $init}" "train: {steps: 0}"
  pf 1 run "$WORK/id_$init.yaml"
  check "identity_init $init: exit 0" expect_rc 0
done
check "identity_init: acceptance 1 and ESS 1 on the free field with its own prior; not so by default" $PY -c "
import json
a, b = json.load(open('$WORK/id_true.json')), json.load(open('$WORK/id_false.json'))
assert a['acceptance'] == 1.0 and abs(a['ess'] - 1) < 1e-9, (a['acceptance'], a['ess'])
assert b['acceptance'] < 0.9 and b['ess'] < 0.9, (b['acceptance'], b['ess'])
"
# the same with spline couplings (inputs/flow_spline.yaml's combination), on 2 ranks
deck id_spline "action: {kind: free_field, m2: 0.5, lambda: 0.0}" \
  "model: {coupling: spline, layers: 2, hidden: [4], kernel: 3, dtype: float64, prior: free_field, prior_m2: 0.5, identity_init: true}" \
  "train: {steps: 0}"
pf 2 run "$WORK/id_spline.yaml"
check "identity_init, spline couplings, 2 ranks: acceptance 1 and ESS 1 on the free field with its own prior" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json; a = json.load(open('$WORK/id_spline.json'))
assert a['model']['options']['coupling'] == 'spline', a['model']
assert a['acceptance'] == 1.0 and abs(a['ess'] - 1) < 1e-9, (a['acceptance'], a['ess'])\""

# a chain stuck most of the time (the identity flow on a normal prior far too narrow for
# m2 = 0.05, 40 proposals, 2 ranks): warned exactly when no two bins span its longest stall
# (bins of N // bins < 2 (longest + 1)); with the target's own prior it mixes and is not warned
for prior in normal free_field; do
  deck stall_$prior "action: {kind: free_field, m2: 0.05, lambda: 0.0}" \
    "model: {coupling: affine, layers: 2, hidden: [4], kernel: 3, dtype: float64, prior: $prior, prior_m2: 0.05, identity_init: true}" \
    "train: {steps: 0}" "sample: {proposals: 40, chunk: 40}"
  pf 2 run "$WORK/stall_$prior.yaml"
  check "a chain with a stall (prior $prior): exit 0, warned iff no two bins span the longest stall" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, h5py
s = json.load(open('$WORK/stall_$prior.json')); acc = h5py.File('$WORK/stall_$prior.h5', 'r')['/chain/accepted'][()]
run = longest = 0
for a in acc[1:]:
    run = 0 if a else run + 1; longest = max(longest, run)
assert longest == s['longest_rejection_run'], (longest, s)
bins = s['action_mean']['bins']; assert bins >= 2, s  # the warning reads the action's bins
warned = 'no two bins of the chain span it' in open('$WORK/out.txt').read()
assert warned == (40 // bins < 2 * (longest + 1)), (warned, bins, longest)
assert warned == ('$prior' == 'normal'), (warned, longest)\""
done

# --- NeuralRG: the Ising model through its Hubbard-Stratonovich field, MERA-like flow ---------
cat >"$WORK/rg.yaml" <<EOF
workflow: flow
seed: 2
action: {kind: ising_hs, dims: 2, L: 4, T: 2.269185314213022}
model: {hierarchy: mera, layers: 2, hidden: [8], symmetrize: true, dtype: float64}
train: {steps: 30, batch: 32, lr: 1.0e-3}
sample: {proposals: 1500, chunk: 500}
output: {path: $WORK/rg.h5}
EOF
pf 2 run "$WORK/rg.yaml"
check "ising_hs with a mera flow on 2 ranks: exit 0" expect_rc 0
check "ising_hs: exact bound and energy in the summary, chain energies from the stored fields" $PY -c "
import json, h5py, numpy as np
s = json.load(open('$WORK/rg.json')); f = h5py.File('$WORK/rg.h5', 'r')
assert s['action'] == {'kind': 'ising_hs', 'dims': 2, 'L': 4, 'T': 2.269185314213022}, s['action']
assert abs(s['exact']['loss_bound'] + 37.3767) < 5e-5 and abs(s['exact']['log_z'] - 37.3767) < 5e-5, s['exact']
assert abs(s['exact']['ising_energy_per_site'] + 1.5656238) < 1e-6, s['exact']
assert s['model']['options']['hierarchy'] == 'mera' and s['model']['options']['symmetrize'], s['model']
phi, e = f['/chain/phi'][()], f['/chain/ising_energy'][()]
t = np.tanh(phi)
ref = -(t * np.roll(t, -1, 1) + t * np.roll(t, -1, 2)).sum(axis=(1, 2)) / 16
assert np.abs(ref - e).max() < 1e-12
assert abs(e.mean() - s['ising_energy_per_site']['value']) < 1e-12
# the energy's error along the chain: the larger of the Gamma method's and the binned one, the
# bins spanning twice the longest run of rejections (recomputed here from the stored chain)
acc = f['/chain/accepted'][()]; run = longest = 0
for a in acc[1:]:
    run = 0 if a else run + 1; longest = max(longest, run)
assert longest == s['longest_rejection_run'], (longest, s['longest_rejection_run'])
E = s['ising_energy_per_site']; N = len(e)
size = max(2 * (longest + 1), int(np.ceil(4 * E['tau_int'])))
assert E['bins'] == max(2, min(32, N // size)), (E['bins'], N, size)
b = e[N - N // E['bins'] * E['bins']:].reshape(E['bins'], -1).mean(axis=1)
assert abs(b.std(ddof=1) / np.sqrt(E['bins']) - E['error_binned']) < 1e-9 * E['error_binned'], E
assert E['error'] == max(E['error_gamma'], E['error_binned']), E
# log p = -S_HS of the stored field: 1/2 x K^-1 x - sum log cosh x, K from the lattice.
T, L = 2.269185314213022, 4
A = np.zeros((16, 16))
for i in range(16):
    x, y = divmod(i, L)
    for j in (((x + 1) % L) * L + y, x * L + (y + 1) % L): A[i, j] += 1; A[j, i] += 1
K = A / T + (0.1 + 4 / T) * np.eye(16)
acc = f['/chain/accepted'][()]; lp = f['/proposals/log_p'][()]
for i in np.flatnonzero(acc)[:50]:
    v = phi[i].reshape(-1)
    S = 0.5 * v @ np.linalg.solve(K, v) - np.log(np.cosh(v)).sum()
    assert abs(-S - lp[i]) < 1e-9 * (1 + abs(S)), (i, S, lp[i])
"
# spline blocks (model.coupling: spline with the hierarchy), 2 ranks: the deck's keys reach the
# blocks (the summary and the model file say spline, bins 4), and it trains and samples
sed -e 's/symmetrize: true,/symmetrize: true, coupling: spline, bins: 4, bound: 6.0,/' \
  -e "s|rg.h5|rgs.h5|" "$WORK/rg.yaml" >"$WORK/rgs.yaml"
pf 2 run "$WORK/rgs.yaml"
check "mera flow with spline blocks on 2 ranks: exit 0, the spline in the summary and the model file" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, h5py
o = json.load(open('$WORK/rgs.json'))['model']['options']
assert o['hierarchy'] == 'mera' and o['coupling'] == 'spline' and o['bins'] == 4 and o['bound'] == 6.0, o
f = h5py.File('$WORK/rgs.h5', 'r')
w = [k for k in f['/model'].keys() if k.endswith('weight')]
assert any(f['/model/' + k].shape[0] == (3 * 4 - 1) * 2 for k in w), [f['/model/' + k].shape for k in w]\""
sed -e 's/symmetrize: true,/symmetrize: true, z2: true,/' -e "s|rg.h5|rgz.h5|" "$WORK/rg.yaml" >"$WORK/b13.yaml"
pf 1 run "$WORK/b13.yaml"
check "mera flow with model.z2: exit 2 naming model.z2" bash -c "[ $RC -eq 2 ] && grep -q 'model.z2' $WORK/out.txt && [ ! -e $WORK/rgz.h5.partial ]"
sed -e 's/L: 4, T:/L: 6, T:/' -e "s|rg.h5|rg6.h5|" "$WORK/rg.yaml" >"$WORK/b10.yaml"
pf 1 run "$WORK/b10.yaml"
check "mera flow on L = 6: exit 2 naming the power of two" bash -c "[ $RC -eq 2 ] && grep -q 'power of two' $WORK/out.txt && [ ! -e $WORK/rg6.h5.partial ]"
sed -e 's/, T: 2.269185314213022//' -e "s|rg.h5|rgt.h5|" "$WORK/rg.yaml" >"$WORK/b11.yaml"
pf 1 run "$WORK/b11.yaml"
check "ising_hs without T: exit 2 naming action.T" bash -c "[ $RC -eq 2 ] && grep -q 'action.T' $WORK/out.txt"
deck b12 "action: {kind: ising_hs, L: 4, T: 2.0, m2: -1.0}"
pf 1 run "$WORK/b12.yaml"
check "ising_hs with phi^4 couplings: exit 2 naming action.m2" bash -c "[ $RC -eq 2 ] && grep -q 'action.m2' $WORK/out.txt"

# --- forward KL from Monte Carlo samples (the phi4 workflow's output) ------------------------
cat >"$WORK/p4.yaml" <<EOF
workflow: phi4
seed: 5
action: {kind: phi4, dims: 2, L: 4, m2: -1.0, lambda: 1.0}
algorithm: hmc
thermalize: 50
samples: 400
output: {path: $WORK/p4.h5, store_fields: true}
EOF
pf 1 run "$WORK/p4.yaml"
check "phi4 samples for forward KL" expect_rc 0
deck fk "train: {steps: 20, batch: 16, lr: 3.0e-3, objective: forward_kl, data: $WORK/p4.h5}"
pf 2 run "$WORK/fk.yaml"
check "forward KL on 2 ranks: exit 0, objective and loss history" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, h5py
s = json.load(open('$WORK/fk.json')); f = h5py.File('$WORK/fk.h5', 'r')
assert s['train']['objective'] == 'forward_kl' and s['train']['steps'] == 20, s['train']
l = f['/train/loss'][()]; assert len(l) == 20 and l[-5:].mean() < l[:5].mean(), l
\""
deck fk1 "train: {steps: 20, batch: 16, lr: 3.0e-3, objective: forward_kl, data: $WORK/p4.h5}"
pf 1 run "$WORK/fk1.yaml"
check "forward KL: same flow on 1 and 2 ranks (1e-10)" $PY "$WORK/same.py" "$WORK/fk.h5" "$WORK/fk1.h5" 1e-10
deck b13 "train: {steps: 20, batch: 16, objective: forward_kl}"
pf 1 run "$WORK/b13.yaml"
check "forward KL without train.data: exit 2 naming train.data" bash -c "[ $RC -eq 2 ] && grep -q 'train.data' $WORK/out.txt"
deck b14 "train: {steps: 20, batch: 16, objective: forward_kl, data: $WORK/nothing.h5}"
pf 2 run "$WORK/b14.yaml"
check "forward KL with a missing file: exit 2 naming it" bash -c "[ $RC -eq 2 ] && grep -q 'nothing.h5' $WORK/out.txt && [ ! -e $WORK/b14.h5.partial ]"
deck b15 "action: {kind: phi4, dims: 2, L: 8, m2: -1.0, lambda: 1.0}" "train: {steps: 20, batch: 16, objective: forward_kl, data: $WORK/p4.h5}"
pf 1 run "$WORK/b15.yaml"
check "forward KL on samples of another lattice: exit 2 naming train.data and L" bash -c "[ $RC -eq 2 ] && grep -q 'train.data' $WORK/out.txt && grep -q 'L = 8' $WORK/out.txt"
deck b16 "train: {steps: 20, batch: 16, objective: forward_kl, data: $WORK/a.h5}"
pf 1 run "$WORK/b16.yaml"
check "forward KL on a file without samples: exit 2 naming the dataset" bash -c "[ $RC -eq 2 ] && grep -q '/t0/phi' $WORK/out.txt"

# mixed: reverse KL + w x forward KL in every step
deck mx "train: {steps: 20, batch: 16, lr: 3.0e-3, objective: mixed, forward_weight: 0.5, data: $WORK/p4.h5}"
pf 2 run "$WORK/mx.yaml"
check "mixed objective on 2 ranks: exit 0, objective and a falling loss" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, h5py
s = json.load(open('$WORK/mx.json')); f = h5py.File('$WORK/mx.h5', 'r')
assert s['train']['objective'] == 'mixed' and s['train']['steps'] == 20, s['train']
l = f['/train/loss'][()]; assert len(l) == 20 and l[-5:].mean() < l[:5].mean(), l
m = f['/train/loss'].attrs['meaning']; m = m.decode() if isinstance(m, bytes) else m
assert m.startswith('mixed loss per step'), m
\""
deck b22 "train: {steps: 20, batch: 16, objective: mixed}"
pf 1 run "$WORK/b22.yaml"
check "mixed without train.data: exit 2 naming train.data" bash -c "[ $RC -eq 2 ] && grep -q 'train.objective mixed needs train.data' $WORK/out.txt"
deck b23 "train: {steps: 20, batch: 16, forward_weight: 2.0}"
pf 1 run "$WORK/b23.yaml"
check "train.forward_weight without mixed: exit 2 naming it" bash -c "[ $RC -eq 2 ] && grep -q 'train.forward_weight' $WORK/out.txt"

# forward KL for ising_hs from Ising Monte Carlo spins (x ~ N(K s, K) per configuration)
cat >"$WORK/is.yaml" <<EOF
workflow: ising
seed: 4
lattice: {dims: 2, L: 4}
temperatures: [2.269185314213022]
sweeps: {thermalize: 200, between_samples: 2, samples: 300}
output: {path: $WORK/is.h5}
EOF
pf 1 run "$WORK/is.yaml"
check "Ising spins for forward KL" expect_rc 0
sed -e "s|train: {steps: 30, batch: 32, lr: 1.0e-3}|train: {steps: 30, batch: 32, lr: 1.0e-3, objective: forward_kl, data: $WORK/is.h5}|" \
  -e "s|rg.h5|rgf.h5|" "$WORK/rg.yaml" >"$WORK/rgf.yaml"
pf 2 run "$WORK/rgf.yaml"
check "ising_hs forward KL from Ising spins on 2 ranks: exit 0" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json; t = json.load(open('$WORK/rgf.json'))['train']; assert t['objective'] == 'forward_kl' and t['steps'] == 30, t\""
sed -e "s|data: $WORK/is.h5|data: $WORK/p4.h5|" "$WORK/rgf.yaml" >"$WORK/b17.yaml"
pf 1 run "$WORK/b17.yaml"
check "ising_hs forward KL on a phi4 file: exit 2 naming /t0/spins" bash -c "[ $RC -eq 2 ] && grep -q '/t0/spins' $WORK/out.txt"

# A finite loss that blows up stops training: the mixed objective at w = 10 and a large rate
# takes this flow's loss from ~10^3 to ~10^10 within a few steps (as a 16 x 128 flow at L = 8
# did over 26 minutes). One message naming train.divergence and the fix; no output file.
cat >"$WORK/rgd.yaml" <<EOF
workflow: flow
seed: 2
action: {kind: ising_hs, dims: 2, L: 4, T: 2.269185314213022}
model: {hierarchy: mera, layers: 8, hidden: [64], symmetrize: true, identity_init: true, dtype: float64}
train: {steps: 50, batch: 32, lr: 3.0e-2, objective: mixed, forward_weight: 10, data: $WORK/is.h5}
sample: {proposals: 600, chunk: 300}
output: {path: $WORK/rgd.h5}
EOF
pf 2 run "$WORK/rgd.yaml"
check "a blown-up loss: exit 1 naming steps 1-50, train.divergence and the fix; no output" bash -c "[ $RC -eq 1 ] && [ \$(grep -c 'flow training diverged' $WORK/out.txt) -eq 1 ] && grep -q 'median loss of steps 1-50' $WORK/out.txt && grep -q 'train.divergence = 100' $WORK/out.txt && grep -q 'lower train.lr or train.forward_weight' $WORK/out.txt && [ ! -e $WORK/rgd.h5 ] && [ ! -e $WORK/rgd.json ]"
pf 2 run "$WORK/rgd.yaml" --overwrite --set train.divergence=0
check "train.divergence: 0 trains on regardless (exit 0; its loss history shows the blow-up)" bash -c "[ $RC -eq 0 ] && $PY -c \"
import h5py, numpy as np; l = h5py.File('$WORK/rgd.h5', 'r')['/train/loss'][()]
assert len(l) == 50 and np.median(l) > l[0] + 100 * abs(l[0]), (l[0], np.median(l))\""

# --- the forward check: the final flow scored on samples of the target (check.data) ---------
# Exact samples of the free field (d = 2, L = 4, m2 = 1): x = L^-T z with H = L L^T the
# Hessian of S_aks = x (-laplacian + m2) x, written as the phi4 workflow writes its fields.
$PY - "$WORK/ff.h5" <<'PY'
import sys, h5py, numpy as np
L, m2, V = 4, 1.0, 16
A = np.zeros((V, V))
for i in range(V):
    x, y = divmod(i, L)
    for j in (((x + 1) % L) * L + y, x * L + (y + 1) % L): A[i, j] += 1; A[j, i] += 1
H = 2 * ((4 + m2) * np.eye(V) - A)
C = np.linalg.cholesky(H)
z = np.random.default_rng(8).standard_normal((V, 4000))
x = np.linalg.solve(C.T, z).T.reshape(4000, L, L)
with h5py.File(sys.argv[1], "w") as f:
    f["/t0/phi"] = x
PY
deck ffc "action: {kind: free_field, dims: 2, L: 4, m2: 1.0}" "model: {prior: free_field, prior_m2: 1.5}" \
  "sample: {proposals: 3000, chunk: 500}" "check: {data: $WORK/ff.h5}"
pf 2 run "$WORK/ffc.yaml"
check "forward check on 2 ranks: exit 0, logged" bash -c "[ $RC -eq 0 ] && grep -q 'forward check on 4000 samples' $WORK/out.txt"
cat >"$WORK/fcheck.py" <<'PY'
import sys, json, math, h5py, numpy as np
s = json.load(open(sys.argv[1])); f = h5py.File(sys.argv[2], "r"); n = int(sys.argv[3])
fc = s["forward_check"]
lq, lp = f["/check/log_q"][()], f["/check/log_p"][()]
assert lq.shape == (n,) and lp.shape == (n,) and fc["samples"] == n, (lq.shape, fc)
# The estimates from the stored scores: log Z = -log mean(q/p~), EUBO = mean(log p~ - log q).
r = lq - lp
lz = -(r.max() + math.log(np.exp(r - r.max()).mean()))
assert abs(lz - fc["log_z"]["value"]) < 1e-9 * (1 + abs(lz)), (lz, fc["log_z"])
assert abs(-r.mean() - fc["eubo"]["value"]) < 1e-9 * (1 + abs(lz)), (-r.mean(), fc["eubo"])
assert abs(f["/check"].attrs["log_z"] - fc["log_z"]["value"]) < 1e-12
# Coverage by deciles of |m|: ten bins of a tenth each; their weighted mean q/p is the mean
# of exp(log q - log p~ + log Z) over all samples.
cov = fc["coverage_by_abs_m"]
assert len(cov) == 10 and all(abs(b["weight"] - 0.1) < 1e-12 for b in cov), cov
ref = s["exact"]["log_z"] if "exact" in s and "log_z" in s["exact"] else fc["log_z"]["value"]
m = sum(b["weight"] * b["coverage"] for b in cov)
assert abs(m - np.exp(r + ref).mean()) < 1e-9 * m, (m, np.exp(r + ref).mean())
assert all(cov[i]["abs_m_max"] <= cov[i + 1]["abs_m_min"] for i in range(9)), cov
# The proposals' ELBO; the gap between the two log Z.
w = f["/proposals/log_p"][()] - f["/proposals/log_q"][()]
assert abs(w.mean() - s["elbo"]["value"]) < 1e-9 * (1 + abs(w.mean())), (w.mean(), s["elbo"])
assert abs(s["log_z"]["value"] - fc["log_z"]["value"] - fc["log_z_gap"]["value"]) < 1e-9
ex = s["exact"]["log_z"]
assert fc["kl_forward"]["log_z_from"] == "exact" and abs(fc["kl_forward"]["value"] - (fc["eubo"]["value"] - ex)) < 1e-9
assert abs(s["kl_reverse"]["value"] - (ex - s["elbo"]["value"])) < 1e-9
# Physics: both estimates of log Z agree with the exact one within errors; EUBO >= log Z >= ELBO.
for name, e in (("check", fc["log_z"]), ("proposals", s["log_z"])):
    assert abs(e["value"] - ex) < 4 * e["error"], (name, e, ex)
assert fc["eubo"]["value"] > ex - 4 * fc["eubo"]["error"] and s["elbo"]["value"] < ex + 4 * s["elbo"]["error"]
print("log Z exact %.4f, check %.4f +- %.4f (k %s), proposals %.4f +- %.4f, EUBO %.4f, ELBO %.4f" % (
    ex, fc["log_z"]["value"], fc["log_z"]["error"], fc["pareto_k"], s["log_z"]["value"],
    s["log_z"]["error"], fc["eubo"]["value"], s["elbo"]["value"]))
PY
check "forward check of the free field: the exact log Z (independently computed), the estimates from /check" bash -c "$PY -c \"
import json, math
L, m2 = 4, 1.0
k = [4 * math.sin(math.pi * q / L) ** 2 for q in range(L)]
ex = 8 * math.log(math.pi) - 0.5 * sum(math.log(a + b + m2) for a in k for b in k)
e = json.load(open('$WORK/ffc.json'))['exact']['log_z']; assert abs(e - ex) < 1e-10, (e, ex)\" && $PY $WORK/fcheck.py $WORK/ffc.json $WORK/ffc.h5 4000"
check "forward check: log p of each sample is -S of the file's field" $PY -c "
import h5py, numpy as np
x = h5py.File('$WORK/ff.h5', 'r')['/t0/phi'][()]; lp = h5py.File('$WORK/ffc.h5', 'r')['/check/log_p'][()]
S = ((4 + 1.0) * x**2 - 2 * x * (np.roll(x, -1, 1) + np.roll(x, -1, 2))).sum(axis=(1, 2))
assert np.abs(-S - lp).max() < 1e-10 * (1 + np.abs(S).max())"
# The same flow scored on 1 and 4 ranks: the same scores, bit for bit; check.samples takes the first.
deck ffc1 "action: {kind: free_field, dims: 2, L: 4, m2: 1.0}" "model: {init: $WORK/ffc.h5}" \
  "train: {steps: 0}" "sample: {proposals: 600, chunk: 500}" "check: {data: $WORK/ff.h5}"
pf 1 run "$WORK/ffc1.yaml"
sed -e "s|ffc1.h5|ffc4.h5|" -e "s|check: {data: $WORK/ff.h5}|check: {data: $WORK/ff.h5, samples: 1000}|" "$WORK/ffc1.yaml" >"$WORK/ffc4.yaml"
pf 4 run "$WORK/ffc4.yaml"
check "forward check: the same scores on 1, 2 and 4 ranks; check.samples scores the first" bash -c "[ $RC -eq 0 ] && $PY -c \"
import h5py, numpy as np
a, b, c = (h5py.File('$WORK/' + n + '.h5', 'r') for n in ('ffc', 'ffc1', 'ffc4'))
for k in ('/check/log_q', '/check/log_p'):
    assert np.array_equal(a[k][()], b[k][()]), k
    assert np.array_equal(a[k][()][:1000], c[k][()]), k
\" && $PY $WORK/fcheck.py $WORK/ffc4.json $WORK/ffc4.h5 1000"
# Each log Z is blind one way. The identity flow on a free-field prior much wider than the target
# (prior_m2 0.05 against m2 = 1: the zero mode's variance 20x) over-covers: its proposals' weights
# p/q are bounded and their log Z right, while the check's q/p have a Pareto tail (shape ~0.95 on
# the zero mode), so the check's log Z comes out high and the gap negative. The warning must not
# call that under-coverage alone: it gives both readings and names the check's Pareto k. (A
# Gaussian prior only somewhat narrower, prior_m2 1.5-5, under-covers too softly to be seen by
# either side: gap within 0.12 sigma, measured.)
# identity_on_free_field NAME M2 PRIOR_M2: no training, the identity flow on the free-field
# prior of PRIOR_M2 for the free field of M2, 4 000 proposals, scored on the m2 = 1 samples
# ff.h5; 2 ranks.
identity_on_free_field() {
  deck "$1" "action: {kind: free_field, dims: 2, L: 4, m2: $2}" \
    "model: {prior: free_field, prior_m2: $3, identity_init: true}" "train: {steps: 0}" \
    "sample: {proposals: 4000, chunk: 500}" "check: {data: $WORK/ff.h5}"
  pf 2 run "$WORK/$1.yaml"
}
identity_on_free_field cover 1.0 0.05
check "a flow that over-covers: the check's log Z high at its k > 0.5, the proposals' right; warned with both readings" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json
s = json.load(open('$WORK/cover.json')); fc = s['forward_check']; ex = s['exact']['log_z']
assert fc['pareto_k'] > 0.5 and fc['log_z_gap']['value'] < -3 * fc['log_z_gap']['error'], fc
assert abs(s['log_z']['value'] - ex) < 4 * s['log_z']['error'] and s['pareto_k'] < 0.5, s['log_z']
assert fc['log_z']['value'] - ex > 3 * fc['log_z']['error'], (fc['log_z'], ex)
\" && grep -q \"but the check's own weights q/p are heavy-tailed\" $WORK/out.txt && grep -q 'or it puts weight where the target has little' $WORK/out.txt"
# The other sign: check samples of another target. The identity flow on the free field of
# prior_m2 0.8 for the target m2 = 0.5, scored on the m2 = 1 samples: per momentum mode (the
# Hessian's eigenvalues l_q, l_t, l_c) the check's mean q/p~ is (l_q / 2 pi)^(1/2)
# (l_c / (l_c + l_q - l_t))^(1/2), so its log Z is below the exact one by
# sum 1/2 log[l_q l_c / (l_t (l_c + l_q - l_t))] = 0.166 (positive when l_q and l_c are both
# above l_t), while the proposals' log Z stays right. The run must warn that the samples may
# not be of the deck's target.
identity_on_free_field gapup 0.5 0.8
check "check samples of another target: the gap positive, as computed per mode; the proposals' log Z right; warned" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, math
s = json.load(open('$WORK/gapup.json')); fc = s['forward_check']; ex = s['exact']['log_z']
k = [4 * math.sin(math.pi * q / 4) ** 2 for q in range(4)]
g = 0.0
for a in k:
    for b in k:
        lt, lq, lc = a + b + 0.5, a + b + 0.8, a + b + 1.0
        g += 0.5 * math.log(lq * lc / (lt * (lc + lq - lt)))
gap = fc['log_z_gap']
assert abs(g - 0.166) < 1e-3 and gap['value'] > 3 * gap['error'], (g, gap)
assert abs(gap['value'] - g) < 4 * gap['error'], (gap, g)
assert abs(fc['log_z']['value'] - (ex - g)) < 4 * fc['log_z']['error'], (fc['log_z'], ex - g)
assert abs(s['log_z']['value'] - ex) < 4 * s['log_z']['error'], (s['log_z'], ex)
\" && grep -q 'sigma above the one from check.data: the samples are not (or not only) of the deck' $WORK/out.txt"
# A flow that misses a mode: phi^4 deep in the broken phase (L = 4, m2 = -4, lambda = 2: the
# ordered states at m = +-1, 32 apart in action from m = 0). Reverse KL trains the flow onto one
# of them; HMC stays in one too, and since the target is even in phi the check takes its samples
# with half of them flipped (still exact samples). The proposals' log Z then comes out log 2
# low while the check's stays right and its weights q/p~ are bounded (k < 0.5): the plain
# under-coverage warning, about half the weight never proposed.
cat >"$WORK/p4bw.yaml" <<EOF
workflow: phi4
seed: 6
action: {kind: phi4, dims: 2, L: 4, m2: -4.0, lambda: 2.0}
algorithm: hmc
hmc: {integrator: omelyan, steps: 5, trajectory_length: 1.0}
thermalize: 200
samples: 4000
between_samples: 2
output: {path: $WORK/p4bw.h5, store_fields: true}
EOF
pf 1 run "$WORK/p4bw.yaml"
check "phi4 in the broken phase, half the samples flipped: both modes" bash -c "[ $RC -eq 0 ] && $PY -c \"
import h5py, numpy as np
f = h5py.File('$WORK/p4bw.h5', 'r+'); x = f['/t0/phi'][()]
x[np.random.default_rng(3).random(len(x)) < 0.5] *= -1; f['/t0/phi'][...] = x
m = x.reshape(len(x), -1).mean(1); assert 0.45 < (m > 0).mean() < 0.55 and np.abs(m).min() > 0.3, m\""
deck onemode "action: {kind: phi4, dims: 2, L: 4, m2: -4.0, lambda: 2.0}" \
  "model: {coupling: affine, layers: 4, hidden: [8, 8], kernel: 3, dtype: float64}" \
  "train: {steps: 300, batch: 64, lr: 3.0e-3}" "sample: {proposals: 3000, chunk: 500}" \
  "check: {data: $WORK/p4bw.h5}"
pf 2 run "$WORK/onemode.yaml"
check "a flow on one of two modes: its chain in one mode, the gap -log 2 at the check's k < 0.5; warned of under-coverage" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json, math, h5py, numpy as np
s = json.load(open('$WORK/onemode.json')); fc = s['forward_check']; gap = fc['log_z_gap']
m = h5py.File('$WORK/onemode.h5', 'r')['/chain/phi'][()].reshape(3000, -1).mean(1)
assert (m > 0).all() or (m < 0).all(), (m > 0).mean()
assert fc['pareto_k'] < 0.5 and abs(gap['value'] + math.log(2)) < 4 * gap['error'], (fc['pareto_k'], gap)
assert [w for w in s['warnings'] if 'under-covers the target (about' in w], s['warnings']
\" && grep -q 'the flow under-covers the target (about' $WORK/out.txt && ! grep -q 'or it puts weight where the target has little' $WORK/out.txt"
# ising_hs: the check's spins become fields (x ~ N(K s, K)); the exact log Z is Kaufman's.
sed -e "s|rg.h5|rgc.h5|" "$WORK/rg.yaml" >"$WORK/rgc.yaml" && echo "check: {data: $WORK/is.h5, samples: 200}" >>"$WORK/rgc.yaml"
pf 2 run "$WORK/rgc.yaml"
check "forward check for ising_hs from Ising spins: exit 0, KL(p||q) from the exact log Z" bash -c "[ $RC -eq 0 ] && $PY -c \"
import json
s = json.load(open('$WORK/rgc.json')); fc = s['forward_check']
assert fc['samples'] == 200 and fc['kl_forward']['log_z_from'] == 'exact', fc
assert abs(fc['kl_forward']['value'] - (fc['eubo']['value'] - s['exact']['log_z'])) < 1e-9, fc
assert fc['kl_forward']['value'] > -4 * fc['kl_forward']['error'], fc
\""
# A spline flow whose bound the data exceed: warned about for train.data and check.data, with
# the fraction of such samples in the summary; check.data is the training file (through a
# link): warned too.
deck sb "model: {coupling: spline, layers: 2, hidden: [4], bound: 1.0, dtype: float64}" \
  "train: {steps: 5, batch: 16, lr: 1.0e-3, objective: forward_kl, data: $WORK/p4.h5}" "check: {data: $WORK/p4link.h5}"
ln -sf "$WORK/p4.h5" "$WORK/p4link.h5"
pf 1 run "$WORK/sb.yaml"
check "spline bound below the data's fields: exit 0, warned for train.data and check.data, the fraction in the summary; check.data = train.data warned" bash -c "[ $RC -eq 0 ] && grep -q 'samples in train.data have a site beyond the spline' $WORK/out.txt && grep -q 'samples in check.data have a site beyond the spline' $WORK/out.txt && grep -q 'check.data is train.data' $WORK/out.txt && $PY -c \"
import json, h5py, numpy as np
x = h5py.File('$WORK/p4.h5', 'r')['/t0/phi'][()]
f = (np.abs(x).reshape(len(x), -1).max(axis=1) > 1.0).mean(); assert 0 < f < 1, f
b = json.load(open('$WORK/sb.json'))['forward_check']['beyond_spline_bound']; assert abs(b - f) < 1e-12, (b, f)\""
# the same samples in another file: not the training file, not warned
cp "$WORK/p4.h5" "$WORK/p4copy.h5" && sed -e "s|p4link.h5|p4copy.h5|" -e "s|sb.h5|sbc.h5|" "$WORK/sb.yaml" >"$WORK/sbc.yaml"
pf 1 run "$WORK/sbc.yaml"
check "check.data another file than train.data: exit 0, not warned" bash -c "[ $RC -eq 0 ] && grep -q 'samples in check.data have a site beyond the spline' $WORK/out.txt && ! grep -q 'check.data is train.data' $WORK/out.txt"

# check.* may change on --restart (the check does not touch training)
deck rc "checkpoint: {stop_after: 8}"
pf 1 run "$WORK/rc.yaml"
echo "check: {data: $WORK/p4.h5}" >>"$WORK/rc.yaml"
pf 1 run "$WORK/rc.yaml" --restart --set checkpoint.stop_after=0
check "check.data added on --restart: exit 0, the uninterrupted run's flow and chain, the check done" bash -c "[ $RC -eq 0 ] && ! grep -q 'check.data is train.data' $WORK/out.txt && $PY $WORK/same.py $WORK/a.h5 $WORK/rc.h5 && $PY -c \"
import json; assert json.load(open('$WORK/rc.json'))['forward_check']['samples'] == 400\""
deck b19 "check: {data: $WORK/nothing.h5}"
pf 2 run "$WORK/b19.yaml"
check "check.data missing: exit 2 naming check.data and the file, no output" bash -c "[ $RC -eq 2 ] && grep -q 'check.data' $WORK/out.txt && grep -q 'nothing.h5' $WORK/out.txt && [ ! -e $WORK/b19.h5.partial ] && [ ! -e $WORK/b19.h5 ]"
deck b20 "check: {samples: 10}"
pf 1 run "$WORK/b20.yaml"
check "check.samples without check.data: exit 2 naming both" bash -c "[ $RC -eq 2 ] && grep -q 'check.samples' $WORK/out.txt && grep -q 'give check.data' $WORK/out.txt"
deck b21 "action: {kind: phi4, dims: 2, L: 8, m2: -1.0, lambda: 1.0}" "check: {data: $WORK/p4.h5}"
pf 1 run "$WORK/b21.yaml"
check "check.data of another lattice: exit 2 naming check.data and L" bash -c "[ $RC -eq 2 ] && grep -q 'check.data' $WORK/out.txt && grep -q 'L = 8' $WORK/out.txt"

# --- the shipped flow and phi4 decks are valid (schema, keys, the NeuralRG deck's identity_init) --
for d in flow_quick flow_tutorial flow_spline neuralrg_ising phi4_quick phi4_tutorial; do
  pf 1 validate "$PHYFLOW_SOURCE_DIR/inputs/$d.yaml"
  check "validate inputs/$d.yaml" expect_rc 0
done

# --- bad input -------------------------------------------------------------------------------
deck b1 "action: {kind: phi6}"
pf 1 run "$WORK/b1.yaml"
check "unknown action kind: exit 2 naming action.kind" bash -c "[ $RC -eq 2 ] && grep -q 'action.kind' $WORK/out.txt"
deck b2 "model: {coupling: realnvp}"
pf 1 run "$WORK/b2.yaml"
check "unknown coupling: exit 2 naming model.coupling" bash -c "[ $RC -eq 2 ] && grep -q 'model.coupling' $WORK/out.txt"
deck b3 "action: {lambda: 0.0}"
pf 1 run "$WORK/b3.yaml"
check "phi4 with lambda = 0: exit 2 naming action.lambda" bash -c "[ $RC -eq 2 ] && grep -q 'action.lambda' $WORK/out.txt && [ ! -e $WORK/b3.h5.partial ]"
deck b4 "action: {L: 6, m2: -1.0, lambda: 1.0}" "model: {init: $WORK/a.h5}" "train: {steps: 0}"
pf 2 run "$WORK/b4.yaml"
check "L not matching model.init: exit 2 naming model.init and L" bash -c "[ $RC -eq 2 ] && grep -q 'model.init' $WORK/out.txt && grep -q 'L = 4' $WORK/out.txt"
deck b5 "action: {dims: 1, L: 4, m2: -1.0, lambda: 1.0}" "model: {init: $WORK/a.h5}" "train: {steps: 0}"
pf 1 run "$WORK/b5.yaml"
check "model file of another lattice (d): exit 2" bash -c "[ $RC -eq 2 ] && grep -q '2-dimensional' $WORK/out.txt"
$PY -c "import h5py; f = h5py.File('$WORK/mlp.h5', 'w'); g = f.create_group('model'); g.attrs['model_kind'] = 'mlp'"
deck b6 "model: {init: $WORK/mlp.h5}" "train: {steps: 0}"
pf 1 run "$WORK/b6.yaml"
check "model.init holding another model kind: exit 2" bash -c "[ $RC -eq 2 ] && grep -q \"'mlp' model, not a flow\" $WORK/out.txt"
deck b7 "action: {kind: free_field, m2: -1.0, lambda: 0.0}"
pf 1 run "$WORK/b7.yaml"
check "free field with m2 <= 0: exit 2 naming action.m2" bash -c "[ $RC -eq 2 ] && grep -q 'action.m2' $WORK/out.txt"
deck b8 "action: {dims: 4, L: 2, m2: -1.0, lambda: 1.0}" "model: {net: conv}"
pf 1 run "$WORK/b8.yaml"
check "conv conditioner in d = 4: exit 2 naming model.net" bash -c "[ $RC -eq 2 ] && grep -q 'model.net' $WORK/out.txt"
# The action section is the phi4 workflow's: the same theory given in the hopping convention
# (kappa, lambda_h) runs as the same AKS couplings (m2 = (1 - 2 lambda_h)/kappa - 2d,
# lambda = lambda_h/kappa^2, field scale sqrt(kappa)): the tutorial point m2 = -4, lambda = 8.
deck hop "action: {kind: phi4, dims: 2, L: 4, convention: hopping, kappa: 0.25, lambda: 0.5}" \
  "train: {steps: 2, batch: 16, lr: 3.0e-3, time_limit_s: 0}" "sample: {proposals: 64, chunk: 64}"
pf 1 run "$WORK/hop.yaml"
check "hopping convention: exit 0, AKS couplings and the field scale in the summary" $PY -c "
import json, math
a = json.load(open('$WORK/hop.json'))['action']
assert a['convention'] == 'hopping', a
assert abs(a['m2'] - ((1 - 2 * 0.5) / 0.25 - 4)) < 1e-12 and abs(a['lambda'] - 0.5 / 0.25**2) < 1e-12, a
assert abs(a['field_scale'] - math.sqrt(0.25)) < 1e-12, a"
deck b9 "action: {kind: phi4, dims: 2, L: 4, convention: normflow, m2: -1.0, lambda: 1.0}"
pf 1 run "$WORK/b9.yaml"
check "normflow convention with an AKS m2: exit 2 naming action.m2" bash -c "[ $RC -eq 2 ] && grep -q 'action.m2' $WORK/out.txt"
deck b18
pf 1 run "$WORK/b18.yaml" --set device=bogus
check "unknown device: exit 2 naming the choices" bash -c "[ $RC -eq 2 ] && grep -q 'device: bogus is not a device; use cpu, cuda' $WORK/out.txt && [ ! -e $WORK/b18.h5 ] && [ ! -e $WORK/b18.h5.partial ]"
# No GPU visible (hidden where there is one): a clear message whether or not LibTorch has CUDA
# (a Kokkos CUDA build stops earlier, at Kokkos' start, with its own message and the same code).
CUDA_VISIBLE_DEVICES= pf 2 run "$WORK/b18.yaml" --set device=cuda
check "device cuda without a GPU: exit 2 naming the key, with the fix" bash -c "[ $RC -eq 2 ] && { { grep -Eq 'device: cuda: (this LibTorch is built without CUDA|no GPU is visible)' $WORK/out.txt && grep -q 'or set device: cpu' $WORK/out.txt; } || grep -q 'the Kokkos Cuda back end did not start' $WORK/out.txt; } && [ \$(grep -c 'phyflow: error' $WORK/out.txt) -eq 1 ] && [ ! -e $WORK/b18.h5 ] && [ ! -e $WORK/b18.h5.partial ]"
pf 2 run "$WORK/b18.yaml" --set parallel.reducer=nccl
check "reducer nccl for a flow on the CPU: exit 2 before any output, one message" bash -c "[ $RC -eq 2 ] && grep -Eq 'parallel.reducer: nccl(: this build has no NCCL| reduces GPU tensors)' $WORK/out.txt && [ \$(grep -c 'phyflow: error' $WORK/out.txt) -eq 1 ] && [ ! -e $WORK/b18.h5 ] && [ ! -e $WORK/b18.h5.partial ]"

# --- device: cuda, where LibTorch has CUDA and a GPU is visible (one rank: ranks sharing a GPU
# cannot all-reduce over NCCL) -------------------------------------------------------------------
cat >"$WORK/close.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
tol = float(sys.argv[3])
for k in ["/proposals/log_q", "/proposals/log_p"] + ["/model/" + n for n in a["/model"]]:
    x, y = a[k][()], b[k][()]
    assert x.shape == y.shape, k
    d = np.abs(x - y).max() / (1 + np.abs(x).max())
    assert d <= tol, (k, d)
# The chains: the same accept/reject decisions unless a ratio sat within rounding of a uniform.
acc_a, acc_b = a["/chain/accepted"][()], b["/chain/accepted"][()]
assert (acc_a != acc_b).mean() <= 0.01, (acc_a != acc_b).mean()
PY
deck g "device: cuda"
pf 1 run "$WORK/g.yaml"
if [ $RC -eq 2 ] && grep -Eq 'device: cuda: (this LibTorch is built without CUDA|no GPU is visible)' "$WORK/out.txt"; then
  echo "skipped: device cuda (this LibTorch has no CUDA or no GPU is visible)"
else
  check "device cuda: exit 0, logged once, named in the summary" bash -c "[ $RC -eq 0 ] && [ \$(grep -c 'flow: device cuda:0 on rank 0' $WORK/out.txt) -eq 1 ] && $PY -c \"import json; assert json.load(open('$WORK/g.json'))['device'] == 'cuda:0'\""
  check "device cuda: host tensors in the model file, the host's flow and proposals to rounding" $PY "$WORK/close.py" "$WORK/a.h5" "$WORK/g.h5" 1e-8
  deck gr "device: cuda" "checkpoint: {stop_after: 8}"
  pf 1 run "$WORK/gr.yaml"
  check "device cuda, stop_after: exit 3 with a checkpoint" bash -c "[ $RC -eq 3 ] && [ -e $WORK/gr.ckpt.h5 ]"
  pf 1 run "$WORK/gr.yaml" --restart --set checkpoint.stop_after=0
  check "device cuda, --restart: bit for bit the uninterrupted GPU run" bash -c "[ $RC -eq 0 ] && $PY $WORK/same.py $WORK/g.h5 $WORK/gr.h5"
  deck gs "device: cuda" "model: {init: $WORK/a.h5}" "train: {steps: 0}"
  pf 1 run "$WORK/gs.yaml"
  check "device cuda, sampling from model.init: the host's proposals to rounding" bash -c "[ $RC -eq 0 ] && $PY $WORK/close.py $WORK/s1.h5 $WORK/gs.h5 1e-9"
  deck sp "model: {coupling: spline, layers: 2, hidden: [4], kernel: 3, dtype: float64}"
  pf 1 run "$WORK/sp.yaml"
  deck gsp "model: {coupling: spline, layers: 2, hidden: [4], kernel: 3, dtype: float64}" "device: cuda"
  pf 1 run "$WORK/gsp.yaml"
  check "device cuda, spline couplings: the host's flow to rounding" bash -c "[ $RC -eq 0 ] && $PY $WORK/close.py $WORK/sp.h5 $WORK/gsp.h5 1e-8"
  deck gfk "train: {steps: 20, batch: 16, lr: 3.0e-3, objective: forward_kl, data: $WORK/p4.h5}" "device: cuda"
  pf 1 run "$WORK/gfk.yaml"
  check "device cuda, forward KL: the host's flow to rounding" bash -c "[ $RC -eq 0 ] && $PY $WORK/close.py $WORK/fk1.h5 $WORK/gfk.h5 1e-8"
  sed -e "s|rg.h5|rgg.h5|" "$WORK/rg.yaml" >"$WORK/rgg.yaml" && echo "device: cuda" >>"$WORK/rgg.yaml"
  pf 1 run "$WORK/rgg.yaml"
  check "device cuda, NeuralRG on ising_hs: the host's (2-rank) flow to rounding" bash -c "[ $RC -eq 0 ] && $PY $WORK/close.py $WORK/rg.h5 $WORK/rgg.h5 1e-7"
fi
finish
