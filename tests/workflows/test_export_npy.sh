#!/usr/bin/env bash
# `phyflow export FILE.h5 --npy`: the seed project's .npy pair (names as its run_sims.py wrote
# them), equal bit for bit to the HDF5 datasets (read with h5dump), the pruning option against a
# NumPy implementation of the seed loader's rule on the same data, and clear errors (exit 2).
# Usage: test_export_npy.sh NBODY_LAYOUT_FILE (the helper that writes the test files).
source "$(dirname "$0")/lib.sh"
FIXTURE="${1:?usage: test_export_npy.sh path/to/nbody_layout_file}"
PY=/usr/bin/python3
HAVE_NUMPY=0
"$PY" -c 'import numpy' 2>/dev/null && HAVE_NUMPY=1
HAVE_H5DUMP=0
command -v h5dump >/dev/null && HAVE_H5DUMP=1
[ "$HAVE_NUMPY" = 1 ] || echo "skip: $PY has no numpy, array contents are not checked"
[ "$HAVE_H5DUMP" = 1 ] || echo "skip: no h5dump, npy vs HDF5 bit-for-bit is not checked"

# Every test file in one call (each start of an MPI program costs a second or two).
STEM="sim=spring_key=7_ns=6_n=3_dim=2_nt=9_dt=1e-02"
mkdir -p "$WORK/run" "$WORK/bad"
H5="$WORK/run/spring.h5"
"$FIXTURE" "$H5" complete "$WORK/bad/bad_nt.h5" mismatched_nt "$WORK/bad/no_accel.h5" no_accel \
  "$WORK/bad/cut.h5" partial >"$WORK/out.txt" 2>&1 ||
  { echo "FAILED: writing the test files"; cat "$WORK/out.txt"; exit 1; }

# 1. The plain export, next to the input by default, from 2 ranks (rank 0 does the work).
pf 2 export "$H5" --npy
check "export: exit 0" expect_rc 0
check "export: the seed's data file name" has_file "$WORK/run/$STEM.npy"
check "export: the seed's accel file name" has_file "$WORK/run/accel_$STEM.npy"
check "export: no .partial left" bash -c "! ls '$WORK/run/' | grep -q partial"
check "export: reports the shapes once" bash -c "[ \$(grep -c '(6, 9, 3, 6)' '$WORK/out.txt') -eq 1 ]"

if [ "$HAVE_NUMPY" = 1 ] && [ "$HAVE_H5DUMP" = 1 ]; then
  h5dump -d /data -b LE -o "$WORK/data.bin" "$H5" >/dev/null
  h5dump -d /accel -b LE -o "$WORK/accel.bin" "$H5" >/dev/null
  check "export: arrays equal the HDF5 datasets bit for bit" "$PY" - "$WORK" "$STEM" <<'PYEOF'
import sys, numpy as np
work, stem = sys.argv[1], sys.argv[2]
x = np.load(f"{work}/run/{stem}.npy"); a = np.load(f"{work}/run/accel_{stem}.npy")
assert x.dtype.str == "<f8" and a.dtype.str == "<f8", (x.dtype, a.dtype)
assert x.shape == (6, 9, 3, 6) and a.shape == (6, 9, 3, 2), (x.shape, a.shape)
assert x.tobytes() == open(f"{work}/data.bin", "rb").read(), "data differ"
assert a.tobytes() == open(f"{work}/accel.bin", "rb").read(), "accel differ"
PYEOF
fi

# 2. Pruning: the kept frames must be exactly those the seed's rule keeps, in its order.
mkdir -p "$WORK/pruned"
for P in 99 97.5; do
  pf 1 export "$H5" --npy --prune-percentile "$P" --out "$WORK/pruned"
  check "prune $P: exit 0" expect_rc 0
  check "prune $P: prints how many frames were pruned" output_has "of 54 frames ("
  check "prune $P: named _pruned=$P" has_file "$WORK/pruned/${STEM}_pruned=$P.npy"
  if [ "$HAVE_NUMPY" = 1 ]; then
    cp "$WORK/out.txt" "$WORK/prune_out.txt"
    check "prune $P: same graphs as the seed loader's rule (NumPy)" "$PY" - "$WORK" "$STEM" "$P" <<'PYEOF'
import re, sys, numpy as np
work, stem, p_text = sys.argv[1:4]
p = float(p_text)
x = np.load(f"{work}/run/{stem}.npy"); a = np.load(f"{work}/run/accel_{stem}.npy")
dim = a.shape[-1]
# The seed's loader: frames time-major (concatenate over the time axis), then its rule.
xg = np.concatenate([x[:, i] for i in range(x.shape[1])])
ag = np.concatenate([a[:, i] for i in range(a.shape[1])])
v = xg[..., dim:2 * dim]
up_v, lo_v = np.percentile(v, p), np.percentile(v, 100 - p)
up_a, lo_a = np.percentile(ag, p), np.percentile(ag, 100 - p)
keep = ((v > lo_v) & (v < up_v)).all(axis=(1, 2)) & ((ag > lo_a) & (ag < up_a)).all(axis=(1, 2))
assert 0 < keep.sum() < len(keep), f"the fixture must prune some but not all frames: {keep.sum()}"
px = np.load(f"{work}/pruned/{stem}_pruned={p_text}.npy")
pa = np.load(f"{work}/pruned/accel_{stem}_pruned={p_text}.npy")
assert px.shape == (keep.sum(), 1, 3, 6) and pa.shape == (keep.sum(), 1, 3, 2), (px.shape, pa.shape)
lx = np.concatenate([px[:, i] for i in range(px.shape[1])])
la = np.concatenate([pa[:, i] for i in range(pa.shape[1])])
assert lx.tobytes() == xg[keep].tobytes(), "kept data differ"
assert la.tobytes() == ag[keep].tobytes(), "kept accelerations differ"
out = open(f"{work}/prune_out.txt").read()
m = re.search(r"pruned (\d+) of 54 frames \(([0-9.]+)%\)", out)
assert m and int(m.group(1)) == len(keep) - keep.sum(), out
assert abs(float(m.group(2)) - 100.0 * (len(keep) - keep.sum()) / len(keep)) < 0.01, out
PYEOF
  fi
done

# 3. Existing outputs are protected.
pf 1 export "$H5" --npy
check "existing output: exit 2" expect_rc 2
check "existing output: names the file and --overwrite" \
  bash -c "grep -qF '$STEM.npy' '$WORK/out.txt' && grep -qF -- '--overwrite' '$WORK/out.txt'"
pf 1 export "$H5" --npy --overwrite
check "--overwrite: exit 0" expect_rc 0

# 4. Bad input: one clear message, exit 2, nothing written. (More cases, without the cost of
# starting the program each time, in tests/io/test_nbody_export.cpp.)
pf 2 export "$WORK/bad/bad_nt.h5" --npy
check "mismatched shapes: exit 2" expect_rc 2
check "mismatched shapes: says so with both shapes" \
  bash -c "grep -qF 'mismatched shapes on export' '$WORK/out.txt' && grep -qF '[6, 9, 3, 6]' '$WORK/out.txt' && grep -qF '[6, 8, 3, 2]' '$WORK/out.txt'"
check "mismatched shapes: printed once" bash -c "[ \$(grep -c 'mismatched shapes' '$WORK/out.txt') -eq 1 ]"

pf 1 export "$WORK/bad/no_accel.h5" --npy
check "missing /accel: exit 2 naming file and dataset" \
  bash -c "[ $RC -eq 2 ] && grep -qF 'no_accel.h5' '$WORK/out.txt' && grep -qF \"'/accel'\" '$WORK/out.txt'"

pf 1 export "$WORK/bad/cut.h5.partial" --npy
check "a .partial file: exit 2 naming it" bash -c "[ $RC -eq 2 ] && grep -qF 'cut.h5.partial' '$WORK/out.txt'"
check "bad input: nothing written" bash -c "! ls '$WORK/bad' | grep -q npy"

pf 1 export "$H5" --npy --prune-percentile 100 --overwrite
check "percentile 100: exit 2 with the range" bash -c "[ $RC -eq 2 ] && grep -qF '50 < P < 100' '$WORK/out.txt'"

pf 1 export "$H5"
check "no format: exit 2, says --npy" bash -c "[ $RC -eq 2 ] && grep -qF -- '--npy' '$WORK/out.txt'"

finish
