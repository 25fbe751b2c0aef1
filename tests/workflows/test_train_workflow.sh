#!/usr/bin/env bash
# workflow: train and phyflow predict end to end, on Ising data made by workflow: ising:
# the output file's layout (h5py reads the model as a state_dict), checkpoint + --restart
# bitwise equal to an uninterrupted run on 1 and 2 ranks, predict identical on 1 and 2 ranks,
# and bad input (missing file, wrong layout, lattice size, conflicting options, another
# model kind, unknown optimiser) with one message and exit code 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with h5py (scripts/bootstrap)

cat >"$WORK/data.yaml" <<YAML
workflow: ising
seed: 5
lattice: {dims: 2, L: 4}
betas: [0.25, 0.4]
algorithm: single_flip
sweeps: {thermalize: 2000, between_samples: 3, samples: 200}
output: {path: $WORK/d.h5}
splits:
  - {name: train, seed: 5}
  - {name: test, seed: 6, samples: 100}
YAML
pf 1 run "$WORK/data.yaml"
check "data: ising splits written" bash -c "[ $RC -eq 0 ] && [ -e $WORK/d_train.h5 ] && [ -e $WORK/d_test.h5 ]"

deck() { # deck NAME extra-yaml-lines...
  local name="$1"; shift
  {
    echo "workflow: train"
    echo "seed: 7"
    echo "data: {train: $WORK/d_train.h5, val: $WORK/d_test.h5, test: $WORK/d_test.h5}"
    echo "model: {kind: energy_gru, hidden: 6, bidirectional: true, attention: true, two_d: true, dtype: float64}"
    echo "optim: {name: adam, lr: 0.01, batch: 40, epochs: 3, schedule: one_cycle, clip: 5.0, test_each_epoch: true}"
    echo "parallel: {bucket_mb: 0.001}"
    echo "output: {path: $WORK/$name.h5}"
    printf '%s\n' "$@"
  } >"$WORK/$name.yaml"
}

# --- a full run: layout, metrics, JSON lines and summary --------------------------------------
deck full
pf 1 run "$WORK/full.yaml"
check "train: exit 0" expect_rc 0
check "train: progress and epoch lines" output_has "epoch 3/3: train loss"
check "train: no partial or checkpoint left" bash -c "[ ! -e $WORK/full.h5.partial ] && [ ! -e $WORK/full.ckpt.h5 ]"
check "train: summary complete with test metrics" "$PY" - "$WORK/full.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["status"] == "complete" and j["workflow"] == "train", j["status"]
assert j["epochs_run"] == 3 and len(j["history"]) == 3
assert set(j["test"]) >= {"loss", "mae", "rmse", "rmse_centered"}
PY
check "train: 3 JSON lines of epoch metrics" bash -c "[ \$(wc -l < $WORK/full.metrics.jsonl) -eq 3 ]"
check "train: h5py reads the model as a state_dict and the predictions" "$PY" - "$WORK/full.h5" "$WORK/d_test.h5" <<'PY'
import sys, h5py, numpy as np
f, d = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
m = f["model"]
kind = m.attrs["model_kind"]
assert (kind.decode() if isinstance(kind, bytes) else kind) == "energy_gru", kind
names = set(m.keys())
for k in ["rows.gru.weight_ih_l0", "rows.gru.weight_hh_l0_reverse", "rows.attention.in_proj_weight",
          "rows.attention.out_proj.weight", "rows.linear.weight", "cols.gru.bias_hh_l0"]:
    assert k in names, (k, sorted(names))
assert m["rows.gru.weight_hh_l0"].shape == (18, 6) and m["rows.gru.weight_hh_l0"].dtype == np.float64
assert list(f["metrics/epoch"][()]) == [1.0, 2.0, 3.0]
assert f["metrics/test_rmse_centered"].shape == (3,) and f["metrics/val_loss"].shape == (3,)
lr = f["metrics/lr"][()]
# one_cycle over 30 steps peaks at step 8 (0.3 x 30 - 1), then anneals towards lr/25e4.
assert 0.009 < lr[0] < 0.01 and lr[0] > lr[1] > lr[2] and lr[2] < 1e-5, lr
for g in ("t0", "t1"):
    p, t = f["predictions"][g]["energy"][()], f["predictions"][g]["energy_true"][()]
    assert p.shape == (100,) and np.array_equal(t, d[g]["energy"][()])
    assert np.all(np.isfinite(p))
PY

# --- the model learns: on decorrelated data (checkerboard Metropolis, two temperatures), the
# test set's centered RMSE falls well below the spread of the energies (what a constant
# predictor gives) -------------------------------------------------------------------------------
cat >"$WORK/learn_data.yaml" <<YAML
workflow: ising
seed: 5
lattice: {dims: 2, L: 4}
betas: [0.3, 0.5]
algorithm: metropolis
sweeps: {thermalize: 200, between_samples: 2, samples: 500}
output: {path: $WORK/ld.h5}
splits:
  - {name: train, seed: 5}
  - {name: test, seed: 6, samples: 100}
YAML
pf 1 run "$WORK/learn_data.yaml"
cat >"$WORK/learn.yaml" <<YAML
workflow: train
seed: 7
data: {train: $WORK/ld_train.h5, val: $WORK/ld_test.h5, test: $WORK/ld_test.h5}
model: {kind: energy_gru, hidden: 16, bidirectional: true, dtype: float64}
optim: {name: adam, lr: 0.005, batch: 25, epochs: 40}
output: {path: $WORK/learn.h5}
YAML
pf 2 run "$WORK/learn.yaml"
check "learn: exit 0 on 2 ranks" expect_rc 0
check "learn: test rmse_centered below 0.6 x the energy spread" "$PY" - "$WORK/learn.json" "$WORK/ld_test.h5" <<'PY'
import json, sys, h5py, numpy as np
j = json.load(open(sys.argv[1]))
with h5py.File(sys.argv[2]) as d:
    e = np.concatenate([d["t0/energy"][()], d["t1/energy"][()]])
rmse, std = j["test"]["rmse_centered"], e.std()
print("rmse_centered", rmse, "energy std", std)
assert rmse < 0.6 * std, (rmse, std)
PY

# --- checkpoint + restart: bitwise the uninterrupted run, on 1 and 2 ranks --------------------
for n in 1 2; do
  deck "ref$n"
  pf $n run "$WORK/ref$n.yaml"
  deck "cut$n" "checkpoint: {every: 4, stop_after: 7}"
  pf $n run "$WORK/cut$n.yaml"
  check "np$n: stop_after exits 3 with a checkpoint" bash -c "[ $RC -eq 3 ] && [ -e $WORK/cut$n.ckpt.h5 ] && [ ! -e $WORK/cut$n.h5 ]"
  check "np$n: interrupted summary" bash -c "grep -q '\"interrupted\"' $WORK/cut$n.json"
  pf $n run "$WORK/cut$n.yaml" --restart --set checkpoint.stop_after=0
  check "np$n: restart completes" expect_rc 0
  pf 1 compare "$WORK/ref$n.h5" "$WORK/cut$n.h5"
  check "np$n: restarted run bitwise equal to the uninterrupted one" expect_rc 0
done

# --- --restart with other optim.epochs: allowed with a constant schedule, on 1 and 2 ranks: a
# 3-epoch run cut mid-epoch and resumed with 2 epochs is bitwise the uninterrupted 2-epoch run,
# and one cut after the last step of epoch 1 (before its evaluation) and resumed with 1 epoch is
# bitwise the 1-epoch run. Refused with a schedule over the total steps and below the
# checkpoint's epoch (400 samples, batch 40 per rank: 10 steps per epoch on 1 rank, 5 on 2) ---
for n in 1 2; do
  spe=$((10 / n))
  for e in 1 2; do
    deck "e${e}_$n" "optim: {name: adam, lr: 0.01, batch: 40, epochs: $e, clip: 5.0}"
    pf $n run "$WORK/e${e}_$n.yaml"
    check "np$n epochs: $e-epoch reference run" expect_rc 0
  done
  for cut in "2 $((spe / 2 + 2))" "1 $spe"; do
    read -r e stop <<<"$cut"
    deck "c${e}_$n" "optim: {name: adam, lr: 0.01, batch: 40, epochs: 3, clip: 5.0}" "checkpoint: {every: 4, stop_after: $stop}"
    pf $n run "$WORK/c${e}_$n.yaml"
    check "np$n epochs: 3-epoch run stopped at step $stop" expect_rc 3
    pf $n run "$WORK/c${e}_$n.yaml" --restart --set checkpoint.stop_after=0 --set optim.epochs=$e
    check "np$n epochs: resumed from step $stop with optim.epochs $e" bash -c "[ $RC -eq 0 ] && grep -q 'optim.epochs changed on --restart from 3 to $e' $WORK/out.txt"
    check "np$n epochs: summary says $e epochs run" bash -c "grep -q '\"epochs_run\": *$e' $WORK/c${e}_$n.json"
    pf 1 compare "$WORK/e${e}_$n.h5" "$WORK/c${e}_$n.h5"
    check "np$n epochs: bitwise the uninterrupted $e-epoch run" expect_rc 0
  done
done
deck e4 "optim: {name: adam, lr: 0.01, batch: 40, epochs: 3, clip: 5.0}" "checkpoint: {every: 5, stop_after: 15}"
pf 1 run "$WORK/e4.yaml"
pf 1 run "$WORK/e4.yaml" --restart --set checkpoint.stop_after=0 --set optim.epochs=1
check "epochs: below the checkpoint's epoch, exit 2" expect_rc 2
check "epochs: ... naming the least value" output_has "set optim.epochs to at least 2"
deck oc "checkpoint: {every: 4, stop_after: 7}"
pf 1 run "$WORK/oc.yaml"
pf 1 run "$WORK/oc.yaml" --restart --set optim.epochs=4
check "epochs: one_cycle refuses other epochs, exit 2" expect_rc 2
check "epochs: ... naming the schedule" output_has "one_cycle schedule spreads the learning rate"

# --- jobs/train.sbatch outside Slurm: stop (exit 3, checkpoint), rerun resumes, same bits ------
job() { # job EXTRA_ARGS: the job script on 2 ranks, output in $WORK/out.txt
  PHYFLOW="$PHYFLOW_EXE" NRANKS=2 MPIEXEC="$MPIEXEC" MPIEXEC_PREFLAGS=--oversubscribe \
    DECK="$WORK/ref2.yaml" OUTPUT="$WORK/job.h5" PHYFLOW_EXTRA_ARGS="$1" \
    bash "$PHYFLOW_SOURCE_DIR/jobs/train.sbatch" >"$WORK/out.txt" 2>&1
  RC=$?
}
job "--set checkpoint.stop_after=5"
check "job script: stopped run exits 3 with a checkpoint" bash -c "[ $RC -eq 3 ] && [ -e $WORK/job.ckpt.h5 ]"
job ""
check "job script: rerun resumes from the checkpoint" bash -c "[ $RC -eq 0 ] && grep -q 'resuming' $WORK/out.txt"
pf 1 compare "$WORK/ref2.h5" "$WORK/job.h5"
check "job script: resumed model bitwise equal to the uninterrupted 2-rank run" expect_rc 0
job ""
check "job script: a finished run is not redone" bash -c "[ $RC -eq 0 ] && grep -q 'nothing to do' $WORK/out.txt"

# --- predict: same numbers on 1 and 2 ranks, equal to the run's own test predictions ----------
pf 1 predict "$WORK/full.h5" "$WORK/d_test.h5" --out "$WORK/p1.h5"
check "predict np1: exit 0" expect_rc 0
pf 2 predict "$WORK/full.h5" "$WORK/d_test.h5" --out "$WORK/p2.h5"
check "predict np2: exit 0" expect_rc 0
pf 1 compare "$WORK/p1.h5" "$WORK/p2.h5"
check "predict: 1 and 2 ranks identical" expect_rc 0
check "predict: /tN/energy in input order, equal to the training run's test predictions" \
  "$PY" - "$WORK/p1.h5" "$WORK/full.h5" <<'PY'
import sys, h5py, numpy as np
p, f = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for g in ("t0", "t1"):
    assert p[g]["energy"].shape == (100,)
    assert np.array_equal(p[g]["energy"][()], f["predictions"][g]["energy"][()])
PY

# --- the shipped decks are valid -----------------------------------------------------------------
for d in "$PHYFLOW_SOURCE_DIR"/inputs/watch_and_learn/*.yaml; do
  pf 1 validate "$d"
  check "validate $(basename "$d")" expect_rc 0
done

# --- bad input: one message, exit 2 ---------------------------------------------------------------
deck bad
pf 1 run "$WORK/bad.yaml" --set data.train="$WORK/nothere.h5"
check "missing file: exit 2 naming it" bash -c "[ $RC -eq 2 ] && grep -q 'nothere.h5' $WORK/out.txt"
cat >"$WORK/nb.yaml" <<YAML
workflow: nbody
seed: 1
system: {law: spring, n: 3, dims: 2}
ensemble: {ns: 4}
time: {dt: 0.01, nt: 5}
integrator: {method: rk4}
output: {path: $WORK/nb.h5}
YAML
pf 1 run "$WORK/nb.yaml"
pf 1 run "$WORK/bad.yaml" --set data.train="$WORK/nb.h5"
check "N-body file for an Ising model: exit 2" bash -c "[ $RC -eq 2 ] && grep -q 'is an N-body file' $WORK/out.txt && grep -q 'energy_gru' $WORK/out.txt"
"$PY" - "$WORK/d_test.h5" "$WORK/float_spins.h5" "$WORK/big.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[2], "w") as f:
    g = f.create_group("t0"); g.attrs["beta"] = 0.25
    g["spins"] = np.ones((10, 4, 4)); g["energy"] = np.zeros(10)
with h5py.File(sys.argv[3], "w") as f:
    g = f.create_group("t0"); g.attrs["beta"] = 0.25
    g["spins"] = np.ones((10, 6, 6), dtype=np.int8); g["energy"] = np.zeros(10)
PY
pf 1 run "$WORK/bad.yaml" --set data.train="$WORK/float_spins.h5"
check "float spins: exit 2 naming the dtype" bash -c "[ $RC -eq 2 ] && grep -q 'expected int8' $WORK/out.txt"
pf 1 predict "$WORK/full.h5" "$WORK/big.h5" --out "$WORK/pbig.h5"
check "predict on another lattice size: exit 2" bash -c "[ $RC -eq 2 ] && grep -q 'was built for ising x \[4, 4\]' $WORK/out.txt && [ ! -e $WORK/pbig.h5 ]"
pf 1 run "$WORK/bad.yaml" --set model.kind=probability_gru
check "conflicting model options: exit 2" bash -c "[ $RC -eq 2 ] && grep -q 'model.attention is not an option of model kind' $WORK/out.txt"
pf 1 predict "$WORK/d_test.h5" "$WORK/d_test.h5" --out "$WORK/pp.h5"
check "a data file as model: exit 2" bash -c "[ $RC -eq 2 ] && grep -q 'is not a phyflow model file' $WORK/out.txt"
pf 1 run "$WORK/bad.yaml" --set model.kind=probability_gru --set model.init="$WORK/full.h5" \
  --set model.bidirectional=false --set model.attention=false --set model.two_d=false
check "model.init of another kind: exit 2" bash -c "[ $RC -eq 2 ] && grep -q \"holds a 'energy_gru' model\" $WORK/out.txt"
pf 1 run "$WORK/bad.yaml" --set optim.name=adamm
check "unknown optimiser: exit 2 with suggestion" bash -c "[ $RC -eq 2 ] && grep -q \"did you mean 'adam'\" $WORK/out.txt"
pf 1 run "$WORK/bad.yaml" --set device=gpu
check "unknown device: exit 2 naming the choices" bash -c "[ $RC -eq 2 ] && grep -q 'device: gpu is not a device; use cpu, cuda' $WORK/out.txt"
# No GPU visible (hidden where there is one): a clear message whether or not LibTorch has CUDA
# (a Kokkos CUDA build stops earlier, at Kokkos' start, with its own message and the same code).
CUDA_VISIBLE_DEVICES= pf 2 run "$WORK/bad.yaml" --set device=cuda
check "device cuda without a GPU: exit 2 with the fix" bash -c "[ $RC -eq 2 ] && { { grep -Eq 'device: cuda: (this LibTorch is built without CUDA|no GPU is visible)' $WORK/out.txt && grep -q 'or set device: cpu' $WORK/out.txt; } || grep -q 'the Kokkos Cuda back end did not start' $WORK/out.txt; } && [ \$(grep -c 'phyflow: error' $WORK/out.txt) -eq 1 ]"
pf 2 run "$WORK/bad.yaml" --set parallel.reducer=nccl
check "reducer nccl for a CPU model: exit 2 with the fix, before any output" bash -c "[ $RC -eq 2 ] && grep -Eq 'parallel.reducer: nccl(: this build has no NCCL| reduces GPU tensors)' $WORK/out.txt && [ \$(grep -c 'phyflow: error' $WORK/out.txt) -eq 1 ]"
pf 1 run "$WORK/bad.yaml" --set parallel.reducer=gloo
check "unknown reducer: exit 2 naming the choices" bash -c "[ $RC -eq 2 ] && grep -q 'parallel.reducer' $WORK/out.txt && grep -q 'nccl' $WORK/out.txt"
check "bad runs left no output" bash -c "[ ! -e $WORK/bad.h5 ] && [ ! -e $WORK/bad.h5.partial ]"
finish
