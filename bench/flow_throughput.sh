#!/usr/bin/env bash
# Training steps/s and proposals/s of the tutorial flow (inputs/flow_tutorial.yaml) in phyflow
# on 1 and 2 ranks, next to the same model in PyTorch-Python (bench/torch_flow.py). Not a
# test. Usage: bench/flow_throughput.sh [STEPS] [PROPOSALS] [BATCH]   (from the repository root,
# after scripts/build; BATCH is the global training batch, default the tutorial's 64). One torch
# thread per process; proposals in chunks of 256 for both.
set -euo pipefail
steps="${1:-200}"; proposals="${2:-20000}"; batch="${3:-64}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Wall-clock rates come from the run's own summary; on a shared machine compare the CPU
# seconds of the whole process (user + system, /usr/bin/time, all ranks summed), which the
# other load does not inflate.
echo "| implementation | ranks | train steps/s (batch $batch) | proposals/s | CPU s, whole run |"
echo "|---|---|---|---|---|"
for n in 1 2; do
  /usr/bin/time -o "$work/time$n.txt" -f "%U %S" mpiexec -n "$n" --oversubscribe "$exe" run "$root/inputs/flow_tutorial.yaml" \
    --set train.steps="$steps" --set train.batch="$batch" --set sample.proposals="$proposals" \
    --set output.path="$work/f$n.h5" --set progress.interval=1000 >"$work/log$n.txt" 2>&1
  /usr/bin/python3 - "$work/f$n.json" "$n" "$work/time$n.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cpu = sum(map(float, open(sys.argv[3]).read().split()[-2:]))
print(f"| phyflow (LibTorch) | {sys.argv[2]} | {s['train']['steps_per_s']:.2f} | {s['proposals_per_s']:.0f} | {cpu:.1f} |")
PY
done
/usr/bin/time -o "$work/timepy.txt" -f "%U %S" /usr/bin/python3 "$root/bench/torch_flow.py" \
  --steps "$steps" --batch "$batch" --proposals "$proposals" --chunk 256 >"$work/py.json"
/usr/bin/python3 - "$work/py.json" "$work/timepy.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cpu = sum(map(float, open(sys.argv[2]).read().split()[-2:]))
print(f"| PyTorch-Python {s['torch']} | 1 | {s['steps_per_s']:.2f} | {s['proposals_per_s']:.0f} | {cpu:.1f} |")
PY
