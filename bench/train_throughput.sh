#!/usr/bin/env bash
# Training throughput of the seed-000 energy GRU (8x8, batch 512 per rank, Adam): phyflow's
# Trainer step (bench_train) next to the same step in PyTorch-Python (Debian's python3-torch:
# the same LibTorch version and BLAS), at the same thread counts; then phyflow on 2 ranks
# (1 BLAS thread each) for the scaling efficiency, and the gradient all-reduce time against
# the bytes reduced. Writes bench/results_train.md.
#
#   bench/train_throughput.sh [HIDDEN]        (default 512)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PHYFLOW_BUILD_DIR:-$root/build}"
exe="${PHYFLOW_EXE:-$build/src/app/phyflow}"
source "$root/bench/blas_env.sh"  # the same OpenBLAS kernels for phyflow and PyTorch
hidden="${1:-512}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$root/bench/results_train.md"
rate() { grep -o 'samples_per_s=[0-9.e+]*' | head -1 | cut -d= -f2; }
cpp() { # ranks torch blas -> samples/s (all ranks)
  OPENBLAS_NUM_THREADS=$3 PHYFLOW_TORCH_THREADS=$2 mpiexec -n "$1" --oversubscribe --bind-to none \
    "$build/bench/bench_train" --benchmark_filter="EnergyGruStep/hidden:$hidden/" \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_color=false 2>/dev/null |
    awk '/_max /{for(i=1;i<=NF;i++) if($i ~ /^samples_per_s=/){sub("samples_per_s=","",$i); sub("/s","",$i); print $i}}' | head -1
}
py() { # torch blas -> samples/s
  OPENBLAS_NUM_THREADS=$2 /usr/bin/python3 "$root/bench/torch_energy_gru.py" --hidden "$hidden" \
    --threads "$1" | rate
}
{
  echo "# Training throughput: energy GRU, hidden $hidden, batch 512 per rank, 8x8 (Adam)"
  echo
  echo "Made by \`bench/train_throughput.sh $hidden\` on $(date -u +%Y-%m-%d), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo "Samples/s, the best of 3 timed blocks (phyflow: the \`_max\` of 3 repetitions)."
  echo
  echo "| ranks | torch threads | BLAS threads | phyflow (C++) | PyTorch-Python | ratio |"
  echo "|---|---|---|---|---|---|"
  for cfg in "1 1 1" "1 1 2" "1 2 2" "1 2 1"; do
    set -- $cfg
    c=$(cpp "$1" "$2" "$3"); p=$(py "$2" "$3")
    echo "| $1 | $2 | $3 | $c | $p | $(awk -v a="$c" -v b="$p" 'BEGIN{printf "%.2f", a/b}') |"
  done
  c2=$(cpp 2 1 1)
  c1=$(cpp 1 1 1)
  echo "| 2 | 1 | 1 | $c2 | | |"
  echo
  echo "Scaling 1 -> 2 ranks (1 core each, global batch 512 x ranks):" \
    "$(awk -v a="$c2" -v b="$c1" 'BEGIN{printf "%.0f %%", 100*a/(2*b)}') efficiency."
  echo
  echo "## Gradient all-reduce (MpiBucketReducer, 8 tensors, 25 MiB buckets), 2 ranks"
  echo
  echo '```'
  mpiexec -n 2 --oversubscribe "$build/bench/bench_train" --benchmark_filter=AllReduce --benchmark_color=false 2>/dev/null |
    grep -E "^(Benchmark|BM_|-)" || true
  echo '```'
} | tee "$out"
