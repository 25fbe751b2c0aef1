#!/usr/bin/env bash
# Unreadable input files are bad input: every verb that reads an HDF5 file (inspect, compare,
# run with a data file, predict with a model or an input file) exits 2 with one message,
# "cannot read 'FILE': ...: the file is corrupt, truncated or not an HDF5 file; ...", for each
# kind of damage: truncated, a corrupt superblock, a corrupt object header (the root group's),
# and a file that is not HDF5 at all. (Issue 13: a corrupt object header gave exit 1.)
# Argument: "torch" when phyflow is built with LibTorch (the train and predict cases).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's, with h5py (scripts/bootstrap)
with_torch=${1:-}

# damage GOOD KIND OUT: a copy of GOOD with one kind of damage.
damage() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import shutil, struct, sys
good, kind, out = sys.argv[1:]
data = bytearray(open(good, "rb").read())
if kind == "truncated":
    data = data[: len(data) // 3]
elif kind == "superblock":
    # Bytes 12..27: the superblock's base and extension addresses (checksummed in versions 2
    # and 3, read as garbage addresses in 0 and 1).
    data[12:28] = b"\xaa" * 16
elif kind == "header":
    # The root group's object header (HDF5 file format spec, II.A and IV.A): its address is at
    # byte 36 of a version 2/3 superblock (phyflow's files; header version 2, "OHDR"), in the
    # root symbol table entry at byte 64 of a version 0 one (h5py's; header version 1).
    # Overwrite the header's version and what follows.
    version = data[8]
    if version in (2, 3):
        root = struct.unpack_from("<Q", data, 36)[0]
        assert data[root : root + 4] == b"OHDR", data[root : root + 4]
        root += 4
    else:
        assert version in (0, 1), f"superblock version {version}"
        root = struct.unpack_from("<Q", data, 56 + 4 * version + 8)[0]
        assert data[root] == 1, f"object header version {data[root]}"
    data[root : root + 16] = b"\xaa" * 16
elif kind == "not_hdf5":
    data = bytearray(b"phyflow test: plain text, not HDF5\n" * 40)
open(out, "wb").write(bytes(data))
PY
}
kinds="truncated superblock header not_hdf5"

# says_unreadable FILE: exit 2 and the one message naming FILE.
says_unreadable() {
  [ "$RC" -eq 2 ] && grep -qF "cannot read '$1'" "$WORK/out.txt" &&
    grep -qF "corrupt, truncated or not an HDF5 file" "$WORK/out.txt"
}

# --- a good N-body file and its damaged copies: inspect and compare ----------------------------
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
check "a good N-body file to damage" expect_rc 0
for kind in $kinds; do
  bad="$WORK/nb_$kind.h5"
  damage "$WORK/nb.h5" "$kind" "$bad"
  pf 1 inspect "$bad"
  check "inspect, $kind file: exit 2, cannot read it (corrupt, truncated or not HDF5)" \
    says_unreadable "$bad"
  pf 1 compare "$WORK/nb.h5" "$bad"
  check "compare good with $kind: exit 2, names the damaged file" says_unreadable "$bad"
  pf 2 compare "$bad" "$WORK/nb.h5"
  check "compare $kind with good on 2 ranks: exit 2, names the damaged file" says_unreadable "$bad"
done

# --- run with a damaged data file: symbolic regression on an HDF5 table ---------------------
"$PY" - "$WORK/table.h5" <<'PY'
import sys, h5py, numpy as np
x = np.linspace(1.0, 2.0, 50)
with h5py.File(sys.argv[1], "w") as f:
    f["x"] = x
    f["y"] = 3.0 * x * x
PY
cat >"$WORK/sr.yaml" <<YAML
workflow: sr
seed: 1
data: {path: $WORK/table.h5, target: y}
operators: [add, mul]
search: {generations: 5}
output: {path: $WORK/sr.json}
YAML
pf 1 run "$WORK/sr.yaml"
check "sr on the good table runs" expect_rc 0
for kind in $kinds; do
  bad="$WORK/table_$kind.h5"
  damage "$WORK/table.h5" "$kind" "$bad"
  pf 2 run "$WORK/sr.yaml" --set data.path="$bad" --set output.path="$WORK/sr_$kind.json"
  check "run sr with a $kind data file: exit 2, cannot read it" says_unreadable "$bad"
done

# --- train data and predict's model and input file (LibTorch builds) --------------------------
if [ "$with_torch" = torch ]; then
  cat >"$WORK/data.yaml" <<YAML
workflow: ising
seed: 5
lattice: {dims: 2, L: 4}
betas: [0.3]
algorithm: metropolis
sweeps: {thermalize: 20, between_samples: 1, samples: 40}
output: {path: $WORK/d.h5}
YAML
  pf 1 run "$WORK/data.yaml"
  check "a good Ising data file" expect_rc 0
  cat >"$WORK/train.yaml" <<YAML
workflow: train
seed: 7
data: {train: $WORK/d.h5, val: $WORK/d.h5}
model: {kind: energy_gru, hidden: 4, dtype: float64}
optim: {name: adam, lr: 0.01, batch: 20, epochs: 1}
output: {path: $WORK/model.h5}
YAML
  pf 1 run "$WORK/train.yaml"
  check "a good model file" expect_rc 0
  for kind in $kinds; do
    bad="$WORK/d_$kind.h5"
    damage "$WORK/d.h5" "$kind" "$bad"
    pf 2 run "$WORK/train.yaml" --set data.train="$bad" --set output.path="$WORK/m_$kind.h5"
    check "run train with $kind training data: exit 2, cannot read it" says_unreadable "$bad"
    pf 1 predict "$WORK/model.h5" "$bad" --out "$WORK/p_$kind.h5"
    check "predict on a $kind input file: exit 2, cannot read it" says_unreadable "$bad"
    bad="$WORK/model_$kind.h5"
    damage "$WORK/model.h5" "$kind" "$bad"
    pf 1 predict "$bad" "$WORK/d.h5" --out "$WORK/q_$kind.h5"
    check "predict with a $kind model file: exit 2, cannot read it" says_unreadable "$bad"
  done
else
  echo "skip: phyflow built without LibTorch: train and predict not checked"
fi

finish
