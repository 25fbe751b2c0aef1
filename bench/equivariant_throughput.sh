#!/usr/bin/env bash
# Training samples/s of the equivariant models (issue #12) in phyflow, 1 and 2 ranks, next to the
# same step in PyTorch-Python (bench/torch_equivariant.py): scalar_mlp on O(5) (3 x 128 SiLU,
# batch 512 per rank, blocks of 100 steps) and the pendulum HNN (2 x 128 softplus, RK4 4 x 2
# steps, batch 50 per rank, blocks of 5 steps); the fastest of 3 blocks per run (both programs).
# The runs alternate (phyflow 1 rank, PyTorch 1 process, phyflow 2 ranks, PyTorch 2 processes
# averaging gradients over torch.distributed) ROUNDS times, so a change in the machine's load
# hits both sides; the table lists every run and the medians.
# Needs Debian's python3-torch (apt-get install python3-torch). Not a test. Usage, from the
# repository root after scripts/build:
#   bench/equivariant_throughput.sh [ROUNDS] [MODELS]      (default 5 "scalar_mlp hnn")
set -euo pipefail
rounds="${1:-5}"; models="${2:-scalar_mlp hnn}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
source "$root/bench/blas_env.sh"  # the same OpenBLAS kernels for phyflow and PyTorch
bench="${PHYFLOW_BENCH:-$root/build/bench/bench_equivariant}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$exe" run "$root/inputs/equivariant/data.yaml" --set kind=o5 --set n=3000 \
  --set output.path="$work/o5.h5" >/dev/null 2>&1
"$exe" run "$root/inputs/equivariant/pendulum_data.yaml" --set output.path="$work/pendulum.h5" >/dev/null 2>&1
rate() { sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
for model in $models; do
  if [ "$model" = hnn ]; then args=("$work/pendulum_train.h5" 50 5 2 128 softplus)
  else args=("$work/o5.h5" 512 100); fi
  : >"$work/$model.txt"
  for r in $(seq "$rounds"); do
    one=$("$bench" "$model" "${args[@]}" | rate)
    py=$(/usr/bin/python3 "$root/bench/torch_equivariant.py" "$model" "${args[@]}" | rate)
    two=$(mpiexec -n 2 --bind-to none "$bench" "$model" "${args[@]}" | rate)
    py2=$(mpiexec -n 2 --bind-to none /usr/bin/python3 "$root/bench/torch_equivariant.py" "$model" "${args[@]}" | rate)
    echo "$one $py $two $py2" >>"$work/$model.txt"
  done
  /usr/bin/python3 - "$model" "$work/$model.txt" <<'PY'
import statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
print(f"\n{sys.argv[1]}: samples/s (all ranks), runs in order")
print("| run | phyflow 1 rank | PyTorch-Python 1 | ratio | phyflow 2 ranks | PyTorch-Python 2 | ratio | phyflow 2-rank scaling |")
print("|---|---|---|---|---|---|---|---|")
def line(i, a, p, b, q, bold=""):
    print(f"| {i} | {a:.0f} | {p:.0f} | {bold}{a / p:.2f}{bold} | {b:.0f} | {q:.0f} | {bold}{b / q:.2f}{bold} | {b / (2 * a):.0%} |")
for i, r in enumerate(rows, 1):
    line(i, *r)
line("median", *(st.median(c) for c in zip(*rows)), bold="**")
PY
done
