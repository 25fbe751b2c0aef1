#!/usr/bin/env bash
# workflow: dataset end to end: every kind written on 1 and 2 ranks (the pendulum also 4) gives identical files;
# h5py reads the regression layout and NumPy recomputes each target from /x with EMLP's own
# formulas (datasets.py), the column attributes and the JSON summary; splits; bad decks exit 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with h5py (scripts/bootstrap)

for kind in o5 inertia lorentz pendulum; do
  cat >"$WORK/$kind.yaml" <<YAML
workflow: dataset
kind: $kind
n: 203
seed: 4
batch: 64
output: {path: $WORK/$kind.h5}
YAML
  pf 1 run "$WORK/$kind.yaml"
  check "$kind: 1 rank exit 0" expect_rc 0
  ranks="2"; [ "$kind" = pendulum ] && ranks="2 4"  # 4 ranks once: each start costs seconds
  for n in $ranks; do
    pf "$n" run "$WORK/$kind.yaml" --set output.path="$WORK/${kind}_$n.h5"
    check "$kind: $n ranks exit 0" expect_rc 0
    pf 1 compare "$WORK/$kind.h5" "$WORK/${kind}_$n.h5"
    check "$kind: identical on 1 and $n ranks" expect_rc 0
  done
  check "$kind: no partial left, summary written" bash -c "[ ! -e $WORK/$kind.h5.partial ] && [ -e $WORK/$kind.json ]"
done

check "targets recomputed with EMLP's formulas from /x" "$PY" - "$WORK" <<'PY'
import sys, json, h5py, numpy as np
w = sys.argv[1]
def attr(v): return v.decode() if isinstance(v, bytes) else v
f = h5py.File(f"{w}/o5.h5", "r"); X, Y = f["x"][()], f["y"][()]
assert X.shape == (203, 10) and Y.shape == (203, 1) and X.dtype == np.float64
assert attr(f.attrs["dataset_kind"]) == "o5" and attr(f["x"].attrs["columns"]).startswith("x1[0], x1[1]")
r1, r2 = X[:, :5], X[:, 5:]
n1, n2 = np.sqrt((r1**2).sum(-1)), np.sqrt((r2**2).sum(-1))
ref = np.sin(n1) - .5 * n2**3 + (r1 * r2).sum(-1) / (n1 * n2)
assert np.allclose(Y[:, 0], ref, rtol=1e-13, atol=1e-13), abs(Y[:, 0] - ref).max()
assert abs(X.mean()) < 0.1 and abs(X.var() - 1) < 0.1

f = h5py.File(f"{w}/inertia.h5", "r"); X, Y = f["x"][()], f["y"][()]
assert X.shape == (203, 20) and Y.shape == (203, 9)
assert attr(f["x"].attrs["columns"]).startswith("m1, x1, y1, z1, m2")
P = X.reshape(-1, 5, 4); mi, ri = P[:, :, 0], P[:, :, 1:]
assert (mi > 0).all()
r2 = (ri**2).sum(-1)[..., None, None]
ref = (mi[:, :, None, None] * (r2 * np.eye(3) - ri[..., None] * ri[..., None, :])).sum(1).reshape(-1, 9)
assert np.allclose(Y, ref, rtol=1e-13, atol=1e-12), abs(Y - ref).max()

f = h5py.File(f"{w}/lorentz.h5", "r"); X, Y = f["x"][()], f["y"][()]
assert X.shape == (203, 16) and Y.shape == (203, 1)
assert attr(f["x"].attrs["columns"]).startswith("p1[t], p1[x]")
P = X.reshape(-1, 4, 4); p1, p2, p3, p4 = P.transpose(1, 0, 2)
eta = np.diag([1., -1., -1., -1.])
dot = lambda a, b: ((a @ eta) * b).sum(-1)
Le = p1[:, :, None] * p3[:, None, :] - (dot(p1, p3) - dot(p1, p1))[:, None, None] * eta
Lm = (p2 @ eta)[:, :, None] * (p4 @ eta)[:, None, :] - (dot(p2, p4) - dot(p2, p2))[:, None, None] * eta
ref = 4 * (Le * Lm).sum(-1).sum(-1)
assert np.allclose(Y[:, 0], ref, rtol=1e-12, atol=1e-15), abs(Y[:, 0] - ref).max()
assert abs(X.std() - 0.25) < 0.02

f = h5py.File(f"{w}/pendulum.h5", "r"); X, Y = f["x"][()], f["y"][()]
assert X.shape == (203, 12) and Y.shape == (203, 48) and f.attrs["pendulum_steps"] == 4
def H(z):
    x1, x2, p1, p2 = z[..., 0:3], z[..., 3:6], z[..., 6:9], z[..., 9:12]
    ke = .5 * (p1**2).sum(-1) + .5 * (p2**2).sum(-1)
    pe = .5 * (np.sqrt((x1**2).sum(-1)) - 1)**2 + (np.sqrt(((x1 - x2)**2).sum(-1)) - 1)**2
    return ke + pe + x1[..., 2] + x2[..., 2]
Z = np.concatenate([X[:, None, :], Y.reshape(-1, 4, 12)], 1)
E = H(Z)
assert np.abs(E - E[:, :1]).max() < 1e-7, np.abs(E - E[:, :1]).max()
# the states move: consecutive states differ
assert np.abs(Z[:, 1] - Z[:, 0]).max() > 0.05
j = json.load(open(f"{w}/pendulum.json"))
assert j["status"] == "complete" and j["kind"] == "pendulum" and j["pendulum"]["steps"] == 4
PY

# --- rollouts and splits -----------------------------------------------------------------------
cat >"$WORK/split.yaml" <<YAML
workflow: dataset
kind: pendulum
n: 3
seed: 4
pendulum: {rollout: true}
output: {path: $WORK/roll.h5}
splits:
  - {name: train, n: 5}
  - {name: test, seed: 9}
YAML
pf 2 run "$WORK/split.yaml"
check "splits: exit 0" expect_rc 0
check "splits: rollouts of 149 states, sizes and seeds per split" "$PY" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
a, b, c = h5py.File(f"{w}/roll_train.h5", "r"), h5py.File(f"{w}/roll_test.h5", "r"), h5py.File(f"{w}/pendulum.h5", "r")
assert a["y"].shape == (5, 149 * 12) and b["y"].shape == (3, 149 * 12)
assert a.attrs["seed"] == 4 and b.attrs["seed"] == 9
# same seed and index: the chunk of pendulum.h5 starts on state 5c of the rollout
Xr = np.concatenate([a["x"][()][:, None], a["y"][()].reshape(5, 149, 12)], 1)
for i in range(5):
    x = c["x"][i]
    hits = [s for s in range(0, 150, 5) if np.array_equal(Xr[i, s], x)]
    assert len(hits) == 1, (i, hits)
PY

# --- bad decks: one message naming the key, exit code 2 --------------------------------------------
pf 1 run "$WORK/o5.yaml" --set kind=o4
check "bad kind: exit 2" expect_rc 2
check "bad kind: names the key and the choices" output_has "kind"
pf 1 run "$WORK/pendulum.yaml" --set pendulum.duration=0.5 --set output.path=$WORK/p.h5
check "pendulum shorter than a chunk: exit 2" expect_rc 2
check "pendulum shorter than a chunk: says which keys" output_has "pendulum.duration"
pf 1 run "$WORK/o5.yaml"
check "existing output: exit 2 without --overwrite" expect_rc 2
pf 1 run "$WORK/o5.yaml" --set sead=3
check "misspelt key: exit 2, nearest key named" bash -c "[ $RC -eq 2 ] && grep -q seed $WORK/out.txt"
finish
