#!/usr/bin/env bash
# Strong scaling of one symbolic-regression search: the same 8 islands x 64 individuals and
# 200 generations (no early stop) on 1 rank, on 2 ranks (4 islands each), and on 1 rank with
# 2 OpenMP threads; generations per second from the result file.
#   bash bench/sr_scaling.sh build/src/app/phyflow
set -euo pipefail
EXE="${1:-build/src/app/phyflow}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T="$(mktemp -d /tmp/sr-scaling.XXXXXX)"
trap 'rm -rf "$T"' EXIT
python3 - "$T/data.csv" <<'PY'
import math, random, sys
random.seed(4)
with open(sys.argv[1], "w") as f:
    f.write("x,y,z,target\n")
    for _ in range(1000):
        x, y, z = (random.uniform(-2, 2) for _ in range(3))
        f.write(f"{x!r},{y!r},{z!r},{math.exp(-0.3*x*x)*math.sin(1.7*y) + 0.25*x*z*z!r}\n")
PY
cat >"$T/deck.yaml" <<YAML
workflow: sr
seed: 1
data: {path: $T/data.csv, target: target}
operators: [add, sub, mul, div, sin, cos, exp, square]
search: {generations: 200, max_complexity: 30}
progress: {interval: 0}
output: {path: $T/out.json}
YAML
run() { # run LABEL RANKS ISLANDS THREADS
  OMP_NUM_THREADS="$4" mpiexec -n "$2" --oversubscribe --bind-to none "$EXE" run "$T/deck.yaml" \
    --set search.islands="$3" --set search.threads="$4" --overwrite >/dev/null 2>&1
  python3 - "$1" "$T/out.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))["search"]
print(f"| {sys.argv[1]} | {j['wall_seconds']:.2f} | {j['generations'] / j['wall_seconds']:.1f} | "
      f"{j['node_evaluations'] / j['wall_seconds'] / 1e9:.2f} |")
PY
}
echo "| configuration (8 islands in all) | search time [s] | generations/s | node evaluations/s [1e9] |"
echo "|---|---|---|---|"
run "1 rank x 8 islands, 1 thread" 1 8 1
run "2 ranks x 4 islands, 1 thread each" 2 4 1
run "1 rank x 8 islands, 2 OpenMP threads" 1 8 2
