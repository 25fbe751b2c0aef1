#!/usr/bin/env bash
# scalar_mlp through workflow: train and phyflow predict on workflow: dataset files: the model
# learns O(5) data far better than the mean predictor; predict writes /y in the input's shape
# and order, identical on 1 and 2 ranks, and invariant (to float32 rounding) when the test
# inputs are rotated by an O(5) element; bad input (data of another kind, a plain /x,/y file,
# options that do not fit the data) gives one message and exit code 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with h5py (scripts/bootstrap)

data() { # data KIND N SEED PATH
  printf 'workflow: dataset\nkind: %s\nn: %s\nseed: %s\noutput: {path: %s}\n' "$1" "$2" "$3" "$4" >"$WORK/d.yaml"
  pf 1 run "$WORK/d.yaml"
}
data o5 1000 1 "$WORK/o5_train.h5"
data o5 300 2 "$WORK/o5_test.h5"
data lorentz 50 1 "$WORK/lor.h5"
data inertia 200 1 "$WORK/in_train.h5"
check "data written" bash -c "[ -e $WORK/o5_train.h5 ] && [ -e $WORK/o5_test.h5 ] && [ -e $WORK/lor.h5 ] && [ -e $WORK/in_train.h5 ]"

cat >"$WORK/train.yaml" <<YAML
workflow: train
seed: 3
data: {train: $WORK/o5_train.h5, val: $WORK/o5_test.h5, test: $WORK/o5_test.h5}
model: {kind: scalar_mlp, layers: 2, width: 32, activation: silu}
optim: {name: adam, lr: 0.01, batch: 50, epochs: 12, schedule: cosine}
output: {path: $WORK/model.h5}
YAML
pf 1 run "$WORK/train.yaml"
check "train scalar_mlp on o5: exit 0" expect_rc 0
check "the model learns: test MSE < 5% of the target variance" "$PY" - "$WORK" <<'PY'
import sys, json, h5py, numpy as np
w = sys.argv[1]
j = json.load(open(f"{w}/model.json"))
y = h5py.File(f"{w}/o5_test.h5", "r")["y"][()]
assert j["model"]["kind"] == "scalar_mlp" and j["model"]["options"]["metric"] == "euclidean"
assert j["test"]["loss"] < 0.05 * y.var(), (j["test"]["loss"], y.var())
m = h5py.File(f"{w}/model.h5", "r")["model"]
assert m.attrs["data_kind"] in (b"o5", "o5") and m["net.0.weight"].shape == (32, 3)
PY

# predict: /y of the same shape and order; 1 and 2 ranks identical; rotated inputs
pf 1 predict "$WORK/model.h5" "$WORK/o5_test.h5" --out "$WORK/p1.h5"
check "predict: exit 0" expect_rc 0
pf 2 predict "$WORK/model.h5" "$WORK/o5_test.h5" --out "$WORK/p2.h5"
pf 1 compare "$WORK/p1.h5" "$WORK/p2.h5"
check "predict: identical on 1 and 2 ranks" expect_rc 0
"$PY" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
src = h5py.File(f"{w}/o5_test.h5", "r")
q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))
with h5py.File(f"{w}/o5_rot.h5", "w") as f:
    x = src["x"][()].reshape(-1, 2, 5) @ q.T
    f["x"] = x.reshape(-1, 10); f["y"] = src["y"][()]
    f.attrs["dataset_kind"] = "o5"
PY
pf 1 predict "$WORK/model.h5" "$WORK/o5_rot.h5" --out "$WORK/prot.h5"
check "predict rotated inputs: exit 0" expect_rc 0
check "predictions: (N, 1) like /y, in order, invariant under O(5)" "$PY" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
p, r, y = (h5py.File(f"{w}/{n}.h5", "r")["y"][()] for n in ("p1", "prot", "o5_test"))
assert p.shape == y.shape == (300, 1)
assert np.abs(p - r).max() < 1e-4 * (1 + np.abs(p).max()), np.abs(p - r).max()
assert np.corrcoef(p[:, 0], y[:, 0])[0, 1] > 0.97
PY

# --- hnn on pendulum chunks: trains, predict writes the 4 later states of every chunk ----------------
data pendulum 40 1 "$WORK/pend.h5"
pf 1 run "$WORK/train.yaml" --set data.train="$WORK/pend.h5" --set data.val="$WORK/pend.h5" \
  --set data.test="$WORK/pend.h5" --set model.kind=hnn --set model.activation=softplus \
  --set optim.epochs=2 --set optim.batch=20 --set output.path="$WORK/hnn.h5"
check "train hnn on pendulum chunks: exit 0" expect_rc 0
pf 2 predict "$WORK/hnn.h5" "$WORK/pend.h5" --out "$WORK/hp.h5"
check "predict hnn: exit 0" expect_rc 0
check "predict hnn: /y (40, 48) close to the truth after 2 epochs" "$PY" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
p, y = h5py.File(f"{w}/hp.h5", "r")["y"][()], h5py.File(f"{w}/pend.h5", "r")["y"][()]
assert p.shape == y.shape == (40, 48)
assert np.abs(p - y).mean() < 0.5 * np.abs(y).mean(), (np.abs(p - y).mean(), np.abs(y).mean())
PY
# A Neural ODE with an unbounded activation and a long step overflows at its initial weights
# (dt 2.0 in one substep: every seed tried blew up): named as that, not as divergence.
pf 2 run "$WORK/train.yaml" --set data.train="$WORK/pend.h5" --set data.val=null --set data.test=null \
  --set model.kind=neural_ode --set model.activation=softplus --set model.dt=2.0 --set model.substeps=1 \
  --set optim.batch=20 --set output.path="$WORK/ode.h5"
check "neural_ode overflowing at its initial weights: exit 1, said once, nothing that looks complete" bash -c "[ $RC -eq 1 ] && [ \$(grep -c 'at the first step, before any update' $WORK/out.txt) -eq 1 ] && [ ! -e $WORK/ode.h5 ] && [ ! -e $WORK/ode.json ]"
pf 1 run "$WORK/train.yaml" --set model.kind=neural_ode --set output.path="$WORK/bad.h5"
check "neural_ode on o5 data: exit 2" expect_rc 2
check "neural_ode on o5 data: says pendulum" output_has "pendulum"

# --- bad input ---------------------------------------------------------------------------------
pf 1 predict "$WORK/model.h5" "$WORK/lor.h5" --out "$WORK/bad.h5"
check "predict on lorentz data: exit 2" expect_rc 2
check "predict on lorentz data: names both kinds" bash -c "grep -q lorentz $WORK/out.txt && grep -q o5 $WORK/out.txt"
"$PY" -c "
import h5py, numpy as np
with h5py.File('$WORK/plain.h5', 'w') as f:
    f['x'] = np.zeros((20, 10)); f['y'] = np.zeros((20, 1))
"
pf 1 run "$WORK/train.yaml" --set data.train="$WORK/plain.h5" --set data.val="$WORK/plain.h5" \
  --set data.test="$WORK/plain.h5" --set output.path="$WORK/bad.h5"
check "plain /x,/y file: exit 2" expect_rc 2
check "plain /x,/y file: says to use workflow: dataset" output_has "workflow: dataset"
pf 1 run "$WORK/train.yaml" --set model.permutation_invariant=true --set output.path="$WORK/bad.h5"
check "permutation_invariant on o5: exit 2" expect_rc 2
check "permutation_invariant on o5: names the option" output_has "permutation_invariant"
pf 1 run "$WORK/train.yaml" --set model.kind=mlp --set model.metric=minkowski --set output.path="$WORK/bad.h5"
check "metric on the mlp baseline: exit 2" expect_rc 2
pf 1 run "$WORK/train.yaml" --set data.val="$WORK/in_train.h5" --set output.path="$WORK/bad.h5"
check "validation file of another kind: exit 2" expect_rc 2
finish
