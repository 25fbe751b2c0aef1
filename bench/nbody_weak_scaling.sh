#!/usr/bin/env bash
# Weak scaling of N-body ensembles through the real program (integration + diagnostics +
# collective HDF5 writes): P ranks integrate P x NS simulations; efficiency = time(1 rank,
# NS) / time(P ranks, P x NS). Usage: bench/nbody_weak_scaling.sh [NS] [N] [METHOD] [RUNS]
# TMPDIR chooses the disk (e.g. TMPDIR=/dev/shm takes the disk out). Needs a built phyflow (PHYFLOW, default build/src/app/phyflow). Prints one line per rank
# count with the best of RUNS runs (wall_seconds from the JSON summary).
set -euo pipefail
ns=${1:-10000}; n=${2:-4}; method=${3:-rk4}; runs=${4:-3}
exe=${PHYFLOW:-build/src/app/phyflow}
work=$(mktemp -d "${TMPDIR:-/tmp}/phyflow-weak.XXXXXX"); trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
cat >"$work/deck.yaml" <<YAML
workflow: nbody
seed: 1
system: {law: spring, n: $n, dims: 2}
ensemble: {ns: $ns}
time: {dt: 0.01, nt: 100}
integrator: {method: $method, engine: kokkos}
output: {path: $work/out.h5}
progress: {interval: 0}
YAML
best() { # best RANKS NS
  local b=""
  for _ in $(seq 1 "$runs"); do
    mpiexec -n "$1" --bind-to core "$exe" run "$work/deck.yaml" --set ensemble.ns="$2" --overwrite >/dev/null
    t=$(/usr/bin/python3 -c "import json; print(json.load(open('$work/out.json'))['wall_seconds'])")
    if [ -z "$b" ] || /usr/bin/python3 -c "import sys; sys.exit(not ($t < $b))"; then b=$t; fi
  done
  echo "$b"
}
t1=$(best 1 "$ns")
t2=$(best 2 $((2 * ns)))
/usr/bin/python3 - "$t1" "$t2" "$ns" "$n" "$method" <<'PY'
import sys
t1, t2, ns, n, method = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"n={n} {method}: 1 rank {ns} sims {t1:.3f} s; 2 ranks {2*ns} sims {t2:.3f} s; "
      f"weak-scaling efficiency {100*t1/t2:.1f} %")
PY
