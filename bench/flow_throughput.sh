#!/usr/bin/env bash
# Training steps/s and proposals/s of the tutorial flow (inputs/flow_tutorial.yaml) in phyflow
# on 1 and 2 ranks, next to the same model in PyTorch-Python (bench/torch_flow.py). Not a
# test. Usage: bench/flow_throughput.sh [STEPS] [PROPOSALS] [BATCH] [REPEATS]   (from the
# repository root, after scripts/build; BATCH is the global training batch, default the
# tutorial's 64; REPEATS, default 1, runs the 1-rank / 2-rank pair that many times in turn and
# ends with the median of the per-pair scalings, since on a small shared VM one pair can be off
# by 10 % either way). One torch thread per process; proposals in chunks of 256 for both.
set -euo pipefail
steps="${1:-200}"; proposals="${2:-20000}"; batch="${3:-64}"; repeats="${4:-1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
source "$root/bench/blas_env.sh"  # the same OpenBLAS kernels for phyflow and PyTorch
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Wall-clock rates come from the run's own summary; on a shared machine compare the CPU
# seconds of the whole process (user + system, /usr/bin/time, all ranks summed), which the
# other load does not inflate.
echo "| implementation | ranks | train steps/s (batch $batch) | proposals/s | CPU s, whole run |"
echo "|---|---|---|---|---|"
for r in $(seq 1 "$repeats"); do
  for n in 1 2; do
    /usr/bin/time -o "$work/time$n.txt" -f "%U %S" mpiexec -n "$n" --oversubscribe "$exe" run "$root/inputs/flow_tutorial.yaml" \
      --set train.steps="$steps" --set train.batch="$batch" --set sample.proposals="$proposals" \
      --set output.path="$work/f$n.h5" --set progress.interval=1000 --overwrite >"$work/log$n.txt" 2>&1
    /usr/bin/python3 - "$work/f$n.json" "$n" "$work/time$n.txt" "$work/rates.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cpu = sum(map(float, open(sys.argv[3]).read().split()[-2:]))
rate = s['train']['steps_per_s']
open(sys.argv[4], 'a').write(f"{sys.argv[2]} {rate}\n")
print(f"| phyflow (LibTorch) | {sys.argv[2]} | {rate:.2f} | {s['proposals_per_s']:.0f} | {cpu:.1f} |")
PY
  done
done
/usr/bin/time -o "$work/timepy.txt" -f "%U %S" /usr/bin/python3 "$root/bench/torch_flow.py" \
  --steps "$steps" --batch "$batch" --proposals "$proposals" --chunk 256 >"$work/py.json"
/usr/bin/python3 - "$work/py.json" "$work/timepy.txt" "$work/rates.txt" <<'PY'
import json, statistics, sys
s = json.load(open(sys.argv[1]))
cpu = sum(map(float, open(sys.argv[2]).read().split()[-2:]))
print(f"| PyTorch-Python {s['torch']} | 1 | {s['steps_per_s']:.2f} | {s['proposals_per_s']:.0f} | {cpu:.1f} |")
rates = [line.split() for line in open(sys.argv[3])]
one = [float(r) for n, r in rates if n == "1"]
two = [float(r) for n, r in rates if n == "2"]
scal = [b / (2 * a) for a, b in zip(one, two)]
print(f"\n2-rank scaling (steps/s on 2 ranks / twice 1 rank), per pair: "
      + ", ".join(f"{100 * x:.0f} %" for x in scal)
      + f"; median {100 * statistics.median(scal):.0f} %; median 1-rank rate "
      + f"{statistics.median(one):.1f} steps/s = {statistics.median(one) / s['steps_per_s']:.2f}x PyTorch-Python")
PY
