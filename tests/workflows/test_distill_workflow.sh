#!/usr/bin/env bash
# workflow: distill end to end on a tiny spring 2D data set made by workflow: nbody: a
# bottleneck graph network learns the accelerations, its two message components are a linear
# transform of the true spring force (R^2), the regression finds equations over the named
# variables that sympy parses, the distilled model is evaluated next to the network; --from
# reruns later stages from the files of earlier ones (the same equations again: the
# regression is deterministic for a given rank count); bad input exits 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with h5py and sympy (scripts/bootstrap)

cat >"$WORK/data.yaml" <<YAML
workflow: nbody
seed: 1
system: {law: spring, n: 3, dims: 2}
ensemble: {ns: 400}
time: {dt: 0.2, nt: 5}
integrator: {method: rk4, engine: kokkos}
output: {path: $WORK/s.h5}
splits:
  - {name: train, seed: 1, ns: 400}
  - {name: test, seed: 3, ns: 60}
YAML
pf 1 run "$WORK/data.yaml"
check "data: spring splits written" bash -c "[ $RC -eq 0 ] && [ -e $WORK/s_train.h5 ] && [ -e $WORK/s_test.h5 ]"
sed -e 's/law: spring/law: r1/' -e "s|$WORK/s.h5|$WORK/r.h5|" "$WORK/data.yaml" >"$WORK/data_r1.yaml"
pf 1 run "$WORK/data_r1.yaml"

deck() { # deck NAME extra-yaml-lines...
  local name="$1"; shift
  {
    echo "workflow: distill"
    echo "seed: 3"
    echo "data: {train: $WORK/s_train.h5, test: $WORK/s_test.h5}"
    echo "model: {regularizer: bottleneck, hidden: 64, augment: 0.0}"
    echo "train: {epochs: 800, batch: 32, lr: 3.0e-3}"
    echo "analysis: {frames: 300}"
    echo "sr: {operators: [add, sub, mul, div], generations: 150, samples: 400, islands: 2, population: 48}"
    echo "progress: {interval: 1000}"
    echo "output: {path: $WORK/$name.h5}"
    printf '%s\n' "$@"
  } >"$WORK/$name.yaml"
}

deck full
pf 2 run "$WORK/full.yaml"
check "distill: exit 0" expect_rc 0
check "distill: every stage's file" bash -c "for f in full.h5 full.json full.gnn.h5 full.analysis.h5 full.equations.json; do [ -e $WORK/\$f ] || exit 1; done"
check "distill: summary with message R^2, parseable equations, both MAEs" "$PY" - "$WORK/full.json" <<'PY'
import json, sys, sympy
j = json.load(open(sys.argv[1]))
assert j["status"] == "complete" and j["workflow"] == "distill"
print("message_r2", j["message_r2"], "mae", j["test_mae"], "edge", j["edge_equations"], "node", j["node_equations"])
# 2 000 frames, 800 epochs of a 64-wide network (about a minute): R^2 0.94 measured.
assert j["message_r2"] > 0.85, j["message_r2"]
names = {s: sympy.Symbol(s) for s in ["dx", "dy", "r", "m1", "m2", "q1", "q2"]}
assert len(j["edge_equations"]) == 2 and len(j["node_equations"]) == 2
for e in j["edge_equations"]:
    expr = sympy.sympify(e, locals=names)
    assert expr.free_symbols <= set(names.values()), (e, expr.free_symbols)
    # The spring force is linear in (dx, dy): every equation uses the separation.
    assert expr.free_symbols & {names["dx"], names["dy"]}, e
mae = j["test_mae"]
assert mae["gnn"] > 0 and mae["distilled"] > 0
PY
check "distill: the edge equations are the spring force up to a linear transform" "$PY" - "$WORK/full.json" "$WORK/full.analysis.h5" <<'PY'
import json, sys, h5py, numpy as np, sympy
j = json.load(open(sys.argv[1]))
a = h5py.File(sys.argv[2], "r")
cols = a["edges/features"].attrs["columns"]
cols = (cols.decode() if isinstance(cols, bytes) else cols).split(",")
X = a["edges/features"][...]
F = a["edges/force"][...]
env = {c: X[:, i] for i, c in enumerate(cols)}
syms = [sympy.Symbol(c) for c in cols]
for e in j["edge_equations"]:
    f = sympy.lambdify(syms, sympy.sympify(e, locals={c: s for c, s in zip(cols, syms)}), "numpy")
    v = np.broadcast_to(np.asarray(f(*[env[c] for c in cols]), dtype=float), (len(X),))
    A = np.column_stack([F, np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    r2 = 1 - np.sum((v - A @ coef) ** 2) / np.sum((v - v.mean()) ** 2)
    print("equation", e, "R^2 against the true force", r2)
    assert r2 > 0.75, (e, r2)  # 0.85 and 0.84 measured
PY
check "distill: message R^2 against the pair acceleration F/m1 = numpy's trimmed least squares" "$PY" - "$WORK/full.json" "$WORK/full.analysis.h5" <<'PY'
import json, sys, h5py, numpy as np
j = json.load(open(sys.argv[1]))
a = h5py.File(sys.argv[2], "r")
cols = a["edges/features"].attrs["columns"]
cols = (cols.decode() if isinstance(cols, bytes) else cols).split(",")
X, F, M = a["edges/features"][...], a["edges/force"][...], a["edges/messages"][...]
acc = F / X[:, cols.index("m1")][:, None]  # the pair force on the receiver over its mass
trim = float(a.attrs["trim"])
def lts_r2(y, A):  # least trimmed squares by C-steps, the worst `trim` of rows left out
    keep = np.ones(len(y), bool); n_keep = int(np.ceil((1 - trim) * len(y)))
    for _ in range(100):
        B = np.column_stack([A[keep], np.ones(keep.sum())])
        coef, *_ = np.linalg.lstsq(B, y[keep], rcond=None)
        res2 = (y - np.column_stack([A, np.ones(len(y))]) @ coef) ** 2
        nxt = np.zeros(len(y), bool); nxt[np.argsort(res2, kind="stable")[:n_keep]] = True
        if (nxt == keep).all(): break
        keep = nxt
    yk = y[keep]
    return 1 - res2[keep].sum() / ((yk - yk.mean()) ** 2).sum()
ours = [lts_r2(M[:, c], acc) for c in range(M.shape[1])]
print("R^2 vs F/m1 per component: phyflow", j["message_r2_acceleration_per_component"], "numpy", ours)
assert np.allclose(ours, j["message_r2_acceleration_per_component"], atol=1e-6)
assert abs(np.mean(ours) - j["message_r2_acceleration"]) < 1e-6
assert float(a.attrs["message_r2_acceleration"]) == j["message_r2_acceleration"]
# The wider basis [F, F/m1] (a message g(m1) F with g = a + b/m1), not the charge law: no field.
by = j["message_r2_by_basis"]
assert set(by) == {"force", "acceleration", "force_and_acceleration"}, by
assert by["force"] == j["message_r2"] and by["acceleration"] == j["message_r2_acceleration"]
both = np.column_stack([F, acc])
wide = np.mean([lts_r2(M[:, c], both) for c in range(M.shape[1])])
print("R^2 vs [F, F/m1]: phyflow", by["force_and_acceleration"], "numpy", wide)
assert abs(wide - by["force_and_acceleration"]) < 1e-6
# The refitted edge equations judged against the same basis, as numpy evaluates them.
import sympy
syms = [sympy.Symbol(c) for c in cols]
env = [X[:, i] for i in range(len(cols))]
eq_r2 = []
for e in j["distilled_equations"]["edge"]:
    f = sympy.lambdify(syms, sympy.sympify(e, locals={c: s for c, s in zip(cols, syms)}), "numpy")
    eq_r2.append(lts_r2(np.broadcast_to(np.asarray(f(*env), dtype=float), (len(X),)), both))
er = j["edge_equations_r2"]
print("edge equations vs [F, F/m1]: phyflow", er, "numpy", eq_r2)
assert er["basis"] == "force_and_acceleration"
assert er["law_recovered"] == (min(er["per_component"]) >= 0.999)
assert np.allclose(eq_r2, er["per_component"], atol=1e-5)
PY
check "distill: h5py reads the evaluation" "$PY" - "$WORK/full.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for k in ["accel_true", "accel_gnn", "accel_distilled"]:
    assert f["evaluation"][k].shape == (300, 3, 2), f["evaluation"][k].shape
PY

check "distill: held-out test MAE, the refit, the report and its charts" "$PY" - "$WORK/full.json" "$WORK/full.h5" <<'PY'
import json, sys, zlib, struct, os, h5py, numpy as np
j = json.load(open(sys.argv[1]))
assert j["frames"] == 300 and j["held_out_frames"] == 150 and j["fit_frames"] == 150, j
f = h5py.File(sys.argv[2], "r")["evaluation"]
t, g, dd = f["accel_true"][...], f["accel_gnn"][...], f["accel_distilled"][...]
# test_mae is over the odd (held-out) frames only
assert abs(np.mean(np.abs(g[1::2] - t[1::2])) - j["test_mae"]["gnn"]) < 1e-12
assert abs(np.mean(np.abs(dd[1::2] - t[1::2])) - j["test_mae"]["distilled"]) < 1e-12
r = j["refit"]
print("refit", r, "test_mae", j["test_mae"], "fit frames", j["fit_frames_mae"])
assert r["parameters"] > 0 and r["iterations"] > 0
# The refit must help on frames it never saw (0.954 -> 0.370 measured), not only on its own.
assert j["test_mae"]["distilled"] < 0.8 * j["test_mae"]["distilled_before_refit"], j["test_mae"]
assert len(j["distilled_equations"]["edge"]) == 2 and len(j["distilled_equations"]["node"]) == 2
md = open(j["files"]["report"]).read()
assert "Message R²" in md and "sparsity.png" in md and "held-out" in md, md[:400]
for png in (j["files"]["sparsity_chart"], j["files"]["report"].replace(".report.md", ".learning.png")):
    b = open(png, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", png
    w, h = struct.unpack(">II", b[16:24])
    i, data = 8, b""
    while i < len(b):
        n, = struct.unpack(">I", b[i:i + 4]); data += b[i + 8:i + 8 + n] if b[i + 4:i + 8] == b"IDAT" else b""; i += 12 + n
    raw = zlib.decompress(data)
    assert len(raw) == h * (w + 1) and len(set(raw)) > 2, (png, len(raw))
PY

# --- simulate: the data made by the chain itself -----------------------------------------------
cat >"$WORK/sim.yaml" <<YAML
workflow: distill
seed: 3
simulate:
  system: {law: spring, n: 3, dims: 2}
  ensemble: {ns: 40}
  time: {dt: 0.2, nt: 5}
  integrator: {method: rk4, engine: kokkos}
model: {regularizer: bottleneck, hidden: 16, augment: 0.0}
train: {epochs: 3, batch: 32, lr: 3.0e-3}
analysis: {frames: 20}
sr: {operators: [add, sub, mul, div], generations: 5, samples: 100, islands: 2, population: 16}
progress: {interval: 1000}
output: {path: $WORK/sim.h5}
YAML
pf 2 run "$WORK/sim.yaml"
check "simulate: exit 0" expect_rc 0
check "simulate: the three splits and every stage's file" bash -c "for f in sim.data_train.h5 sim.data_val.h5 sim.data_test.h5 sim.gnn.h5 sim.json sim.report.md; do [ -e $WORK/\$f ] || exit 1; done"
check "analyse: 20 of the 50 test frames, increasing, one per stratum, every time step of 5 covered" "$PY" - "$WORK/sim.analysis.h5" <<'PY'
import sys, h5py, numpy as np
f = np.asarray(h5py.File(sys.argv[1], "r")["/frames"][...])
print("analysed frames", f.tolist())
assert len(f) == 20 and np.all(np.diff(f) > 0) and f[0] >= 0 and f[-1] < 50, f
assert all(k * 50 // 20 <= f[k] < (k + 1) * 50 // 20 for k in range(20)), f
# 10 simulations x 5 frames: an even stride k*50/20 would see time steps 0 and 2 only.
assert set((f % 5).tolist()) == {0, 1, 2, 3, 4}, f % 5
PY
cat >"$WORK/direct.yaml" <<YAML
workflow: nbody
system: {law: spring, n: 3, dims: 2}
ensemble: {ns: 40}
time: {dt: 0.2, nt: 5}
integrator: {method: rk4, engine: kokkos}
output: {path: $WORK/direct.h5}
splits: [{name: train, seed: 1}, {name: val, seed: 2, ns: 10}, {name: test, seed: 3, ns: 10}]
YAML
pf 1 run "$WORK/direct.yaml"
for split in train val test; do
  "$PHYFLOW_EXE" compare "$WORK/sim.data_$split.h5" "$WORK/direct_$split.h5" >"$WORK/out.txt" 2>&1
  RC=$?
  check "simulate: split $split is the N-body workflow's own file (seeds 1, 2, 3; ns, ns/4, ns/4)" expect_rc 0
done
pf 1 run "$WORK/sim.yaml" --from train
check "simulate --from train: exit 0 without simulating again" bash -c "[ $RC -eq 0 ] && ! grep -q 'stage simulate' $WORK/out.txt"
pf 1 run "$WORK/sim.yaml" --set data.train=$WORK/s_train.h5 --overwrite
check "data: and simulate: together: exit 2" expect_rc 2
check "  ... saying not both" output_has "not both"
pf 1 run "$WORK/sim.yaml" --set "simulate.splits=[{name: train}, {name: check}]" --overwrite
check "simulate with a split the chain does not read: exit 2" expect_rc 2
check "  ... naming it" output_has "split 'check'"
pf 1 run "$WORK/sim.yaml" --set simulate.system.lwa=r1 --overwrite
check "simulate: a misspelt N-body key: exit 2" expect_rc 2
check "  ... with a suggestion" output_has "did you mean"
pf 1 run "$WORK/full.yaml" --from simulate
check "--from simulate on a deck with data: files: exit 2" expect_rc 2

# --- --from: rerun the regression from the analysis file, on 1 rank and on 2 -------------------
cp "$WORK/full.equations.json" "$WORK/eq_first.json"
pf 2 run "$WORK/full.yaml" --from regress
check "--from regress: exit 0, no retraining" bash -c "[ $RC -eq 0 ] && ! grep -q 'stage train' $WORK/out.txt"
check "--from regress: same equations on the same ranks" cmp "$WORK/full.equations.json" "$WORK/eq_first.json"
pf 1 run "$WORK/full.yaml" --from analyse
check "--from analyse on 1 rank: the same analysis" "$PY" - "$WORK/full.json" "$WORK/eq_first.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["status"] == "complete"
PY
pf 1 run "$WORK/full.yaml" --from evaluate
check "--from evaluate: exit 0" expect_rc 0
cp "$WORK/full.json" "$WORK/evaluate_untrimmed.json"
pf 1 run "$WORK/full.yaml" --from evaluate --set refit.trim_largest=0.2
check "--from evaluate with refit.trim_largest: exit 0" expect_rc 0
check "  ... the refit leaves out the largest |a| and ends elsewhere" "$PY" - "$WORK/full.json" "$WORK/evaluate_untrimmed.json" <<'PY'
import json, math, sys
j, k = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert k["refit"]["left_out"] == 0 and k["refit"]["trim_rejected"] is False, k["refit"]
assert j["refit"]["trim_rejected"] is False, j["refit"]  # it fits the left-out entries no worse
# 3 bodies, 2 components per fit frame; the regression's trim rule (sr::select_rows)
R = j["fit_frames"] * 3 * 2
assert j["refit"]["left_out"] == R - math.ceil((1.0 - 0.2) * R), j["refit"]
assert j["distilled_equations"] != k["distilled_equations"]
PY
cp "$WORK/full.json" "$WORK/evaluate_trimmed_1.json"
pf 2 run "$WORK/full.yaml" --from evaluate --set refit.trim_largest=0.2
check "--from evaluate with refit.trim_largest on 2 ranks: the 1-rank refit and test MAE" "$PY" - "$WORK/full.json" "$WORK/evaluate_trimmed_1.json" <<'PY'
import json, sys
j, k = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for key in ("refit", "distilled_equations", "test_mae"):
    assert j[key] == k[key], (key, j[key], k[key])
PY

pf 2 run "$WORK/full.yaml" --from regress --set sr.trim_largest=0.3
check "--from regress with sr.trim_largest: exit 0" expect_rc 0
check "  ... says what it leaves out" output_has "the 30 % of fit edges with the largest |message 0| left out"
check "  ... of the node regressions too" output_has "the 30 % of fit nodes with the largest |acceleration 1| left out"
check "  ... two parseable edge equations" "$PY" - "$WORK/full.json" <<'PY'
import json, sys, sympy
j = json.load(open(sys.argv[1]))
assert j["status"] == "complete" and len(j["edge_equations"]) == 2
for e in j["edge_equations"]: sympy.sympify(e)
PY

# --- bad input ------------------------------------------------------------------------------
deck nofiles
pf 1 run "$WORK/nofiles.yaml" --from evaluate
check "--from evaluate without the earlier stages: exit 2" expect_rc 2
check "  ... naming the missing file" output_has "nofiles.analysis.h5"
pf 1 run "$WORK/full.yaml" --from regress --set sr.trim_largest=0.7
check "sr.trim_largest above 0.5: exit 2" expect_rc 2
check "  ... naming the key" output_has "sr.trim_largest"
pf 1 run "$WORK/full.yaml" --from evaluate --set refit.trim_largest=0.7
check "refit.trim_largest above 0.5: exit 2" expect_rc 2
check "  ... naming the key" output_has "refit.trim_largest"
pf 1 run "$WORK/full.yaml" --from typo
check "--from an unknown stage: exit 2" expect_rc 2
check "  ... listing the stages" output_has "simulate, train, analyse, regress, evaluate"
deck mix
pf 1 run "$WORK/mix.yaml" --set data.test=$WORK/r_test.h5
check "data of two force laws: exit 2" expect_rc 2
check "  ... naming both laws" output_has "holds law r1"
deck conflict
pf 1 run "$WORK/conflict.yaml" --set model.msg_dim=5
check "bottleneck with msg_dim: exit 2" expect_rc 2
pf 1 run "$WORK/full.yaml"
check "existing output without --overwrite: exit 2" expect_rc 2
pf 1 run "$WORK/data.yaml" --from train
check "--from on a workflow without stages: exit 2" expect_rc 2
finish
