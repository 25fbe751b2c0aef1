#!/usr/bin/env bash
# The sr workflow through the phyflow program: a CSV and two HDF5 layouts give a result file
# whose best equation (plain infix) evaluates to the law; bad input (empty file, NaN/inf,
# unknown column or operator, constant target, ragged rows) stops with one clear message
# naming the file or key, exit code 2, and no result file.
source "$(dirname "$PHYFLOW_SOURCE_DIR/tests/workflows/lib.sh")/lib.sh"
cd "$WORK"

python3 - <<'PY'
import random
random.seed(1)
with open("data.csv", "w") as f:
    f.write("m1, m2, r, y, w\n")
    for i in range(150):
        m1, m2, r = random.uniform(0.5, 3), random.uniform(0.5, 3), random.uniform(0.5, 3)
        f.write(f"{m1!r}, {m2!r}, {r!r}, {m1*m2/r!r}, {random.uniform(0.5, 2)!r}\n")
PY
cat >"$WORK/deck.yaml" <<YAML
workflow: sr
seed: 1
data: {path: $WORK/data.csv, target: y, weights: w}
operators: [add, sub, mul, div]
search: {generations: 60, max_complexity: 15, time_limit_s: 60, loss_threshold: 1e-26}
output: {path: $WORK/sr.json}
YAML

# The best equation must evaluate (as Python over math functions, the names sympy also reads)
# to the law on fresh points.
law_ok() { # law_ok FILE PYTHON-LAW
  python3 - "$1" "$2" <<'PY'
import json, math, random, sys
j = json.load(open(sys.argv[1]))
assert {"pareto", "best"} <= set(j), j.keys()
for e in j["pareto"] + [j["best"]]:
    assert {"complexity", "loss", "equation", "latex", "cpp"} <= set(e), e
env = {k: getattr(math, k) for k in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt")}
env["Abs"] = abs
random.seed(7)
for _ in range(100):
    v = {n: random.uniform(0.6, 2.9) for n in j["data"]["features"]}
    got = eval(j["best"]["equation"], dict(env), dict(v))
    want = eval(sys.argv[2], dict(env), dict(v))
    assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (j["best"]["equation"], got, want)
PY
}

"$PHYFLOW_EXE" validate "$WORK/deck.yaml" >"$WORK/out.txt" 2>&1; RC=$?
check "validate: exit 0" expect_rc 0
pf 2 run "$WORK/deck.yaml"
check "CSV with weights on 2 ranks: exit 0" expect_rc 0
check "CSV: result written, no .partial left" bash -c "[ -s '$WORK/sr.json' ] && [ ! -e '$WORK/sr.json.partial' ]"
check "CSV: best equation is m1*m2/r on fresh points" law_ok "$WORK/sr.json" "m1*m2/r"
check "CSV: weighted" bash -c "grep -q '\"weighted\": true' '$WORK/sr.json'"
# sympy itself (Debian's python3-sympy, installed by scripts/bootstrap) reads every equation of
# the front, and the best one evaluates to the law.
check "CSV: sympy.sympify reads every equation; the best is m1*m2/r" /usr/bin/python3 - "$WORK/sr.json" <<'PY'
import json, random, sys
import sympy
j = json.load(open(sys.argv[1]))
names = j["data"]["features"]
syms = sympy.symbols(names)
exprs = [sympy.sympify(e["equation"], locals=dict(zip(names, syms))) for e in j["pareto"]]
best = sympy.lambdify(syms, sympy.sympify(j["best"]["equation"], locals=dict(zip(names, syms))))
random.seed(3)
for _ in range(50):
    v = {n: random.uniform(0.6, 2.9) for n in names}
    got, want = best(*[v[n] for n in names]), v["m1"] * v["m2"] / v["r"]
    assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (j["best"]["equation"], got, want)
PY

# SIGTERM (Slurm's --signal, scancel) stops the search at the next generation: the front so
# far is written with status "interrupted" and the exit code is 3. out.txt is removed first: an
# earlier run's progress lines in it would let the wait below end at once, and a signal that
# reaches the background shell before it has started phyflow runs this script's EXIT trap there
# (seen once in CI: the whole work directory gone).
rm -f "$WORK/out.txt"
"$PHYFLOW_EXE" run "$WORK/deck.yaml" --set search.loss_threshold=0 --set search.generations=100000000 \
  --set search.time_limit_s=0 --set progress.interval=0.1 --set output.path="$WORK/signal.json" \
  >"$WORK/out.txt" 2>&1 &
PID=$!
for _ in $(seq 1 300); do grep -q "sr: generation" "$WORK/out.txt" && break; sleep 0.1; done
kill -TERM "$PID"
wait "$PID"
RC=$?
check "SIGTERM: exit 3" expect_rc 3
check "SIGTERM: says it stopped" output_has "stopped by a stop signal"
check "SIGTERM: front written, status interrupted" python3 -c "
import json; j = json.load(open('$WORK/signal.json'))
assert j['status'] == 'interrupted' and j['search']['stopped_by'] == 'signal' and j['pareto'], j['search']"

# Per-operator complexity: with mul costing 3, m1*m2/r (5 nodes) has complexity 7.
"$PHYFLOW_EXE" run "$WORK/deck.yaml" --set complexity.mul=3 --set output.path="$WORK/weighted.json" >"$WORK/out.txt" 2>&1; RC=$?
check "complexity.mul=3: exit 0" expect_rc 0
check "complexity.mul=3: best m1*m2/r has complexity 7" python3 -c "
import json; b = json.load(open('$WORK/weighted.json'))['best']
assert b['complexity'] == 7 and b['equation'].count('*') == 1 and b['equation'].count('/') == 1, b"

"$PHYFLOW_EXE" run "$WORK/deck.yaml" >"$WORK/out.txt" 2>&1; RC=$?
check "existing output without --overwrite: exit 2" expect_rc 2
check "existing output: says --overwrite" output_has "pass --overwrite"

# The HDF5 inputs are written with h5py (Debian's python3-h5py when the default python3
# lacks it).
H5PY=""
for py in python3 /usr/bin/python3; do
  if "$py" -c "import h5py, numpy" 2>/dev/null; then H5PY="$py"; break; fi
done
if [ -n "$H5PY" ]; then
  "$H5PY" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(2)
x, y = rng.uniform(-3, 3, 200), rng.uniform(-3, 3, 200)
f = x * np.cos(y - 3.2)
with h5py.File("cols.h5", "w") as h:
    h["x"], h["y"], h["f"] = x, y, f
with h5py.File("table.h5", "w") as h:
    d = h.create_dataset("table", data=np.stack([x, y, f], axis=1))
    d.attrs["columns"] = ["x", "y", "f"]
PY
  for layout in cols table; do
    "$PHYFLOW_EXE" run "$WORK/deck.yaml" --set data.path="$WORK/$layout.h5" --set data.target=f \
      --set data.weights=~ --set "operators=[add, sub, mul, cos]" --set search.generations=150 \
      --set output.path="$WORK/$layout.json" >"$WORK/out.txt" 2>&1
    RC=$?
    check "HDF5 ($layout): exit 0" expect_rc 0
    check "HDF5 ($layout): best is x*cos(y - 3.2) on fresh points" law_ok "$WORK/$layout.json" "x*cos(y - 3.2)"
  done
else
  echo "skipped: HDF5 input checks need h5py"
fi

# Most cases run one process without mpiexec (a singleton MPI run: each mpiexec start costs
# a second or two); RANKS=2 runs a case on two ranks to check the message is printed once.
bad() { # [RANKS=2] bad "what" "expected message" deck-overrides...
  local what="$1" msg="$2"; shift 2
  rm -f "$WORK/bad.json"
  if [ "${RANKS:-1}" -gt 1 ]; then
    pf "$RANKS" run "$WORK/deck.yaml" --set output.path="$WORK/bad.json" "$@"
  else
    "$PHYFLOW_EXE" run "$WORK/deck.yaml" --set output.path="$WORK/bad.json" "$@" >"$WORK/out.txt" 2>&1
    RC=$?
  fi
  check "$what: exit 2" expect_rc 2
  check "$what: message" output_has "$msg"
  check "$what: printed once" bash -c "[ \$(grep -cF -- \"$msg\" '$WORK/out.txt') -eq 1 ]"
  check "$what: no result file" no_file "$WORK/bad.json"
}

: >"$WORK/empty.csv"
bad "empty file" "empty.csv': the file is empty" --set data.path="$WORK/empty.csv"
printf 'x,y\n' >"$WORK/header.csv"
bad "header only" "no data rows" --set data.path="$WORK/header.csv"
printf 'x,y\n1,2\n2,nan\n3,4\n' >"$WORK/nan.csv"
RANKS=2 bad "NaN in the target" "column 'y' holds NaN in data row 2" --set data.path="$WORK/nan.csv" --set data.weights=~
printf 'x,y\n1,2\ninf,3\n3,4\n' >"$WORK/inf.csv"
bad "inf in an input" "column 'x' holds inf in data row 2" --set data.path="$WORK/inf.csv" --set data.weights=~
printf 'x,y\n1,2\n2\n' >"$WORK/ragged.csv"
bad "ragged row" "ragged.csv', line 3: 1 fields, but the header has 2" --set data.path="$WORK/ragged.csv"
printf 'x,y\n1,2\n2,abc\n' >"$WORK/text.csv"
bad "non-numeric field" "line 3, column 'y': 'abc' is not a number" --set data.path="$WORK/text.csv"
printf 'x,y\n1,5\n2,5\n3,5\n' >"$WORK/const.csv"
bad "constant target" "the target column 'y' is constant" --set data.path="$WORK/const.csv" --set data.weights=~
bad "unknown target column" "unknown target column 'z' (columns: m1, m2, r, y, w)" --set data.target=z
bad "unknown weights column" "unknown weights column 'weight'" --set data.weights=weight
RANKS=2 bad "unknown operator" "unknown entry 'sine' (did you mean 'sin'?" --set "operators=[add, sine]"
bad "missing data file" "missing.csv': cannot open the file" --set data.path="$WORK/missing.csv"
printf 'not hdf5\n' >"$WORK/fake.h5"
bad "corrupt HDF5" "fake.h5" --set data.path="$WORK/fake.h5"
bad "unwritable output" "cannot create output" --set output.path=/nonexistent-dir/sr.json

"$PHYFLOW_EXE" run --help-deck sr >"$WORK/out.txt" 2>&1
check "--help-deck sr lists the operators" output_has "add|sub|mul|div|pow|exp|log|sin|cos|tan|tanh|sqrt|abs|square|cube|inv|neg"

finish
