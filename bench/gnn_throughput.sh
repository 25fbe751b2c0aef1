#!/usr/bin/env bash
# Training throughput of the seed-004 graph network (hidden 300, bottleneck messages, batch 64
# frames per rank, float32, Adam): phyflow's Trainer step (bench_train BM_GnnStep) next to the
# same step in PyTorch-Python (Debian's python3-torch: the same LibTorch version and BLAS), one
# thread each; then phyflow on 2 ranks (1 thread each) for the scaling efficiency. Writes
# bench/results_gnn.md. Run it on an otherwise idle machine.
#
#   bench/gnn_throughput.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PHYFLOW_BUILD_DIR:-$root/build}"
exe="${PHYFLOW_EXE:-$build/src/app/phyflow}"
source "$root/bench/blas_env.sh"  # the same OpenBLAS kernels for phyflow and PyTorch
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
out="$root/bench/results_gnn.md"
cpp() { # ranks n d -> graphs/s (all ranks)
  PHYFLOW_TORCH_THREADS=1 mpiexec -n "$1" --oversubscribe --bind-to none \
    "$build/bench/bench_train" --benchmark_filter="GnnStep/n:$2/d:$3/" \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_color=false 2>/dev/null |
    awk '/_max /{for(i=1;i<=NF;i++) if($i ~ /^graphs_per_s=/){sub("graphs_per_s=","",$i); sub("/s","",$i); print $i}}' | head -1
}
py() { # n d -> graphs/s
  /usr/bin/python3 "$root/bench/torch_gnn.py" --n "$1" --d "$2" --threads 1 |
    grep -o 'graphs_per_s=[0-9.e+]*' | cut -d= -f2
}
to_num() { awk -v v="$1" 'BEGIN{m=1; if (v ~ /k$/) m=1e3; if (v ~ /M$/) m=1e6; sub(/[kM]$/,"",v); printf "%.1f", v*m}'; }
{
  echo "# Training throughput: graph network of seed 004 (hidden 300, bottleneck, batch 64 frames per rank, float32, Adam)"
  echo
  echo "Made by \`bench/gnn_throughput.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), 1 LibTorch and 1 BLAS thread per process."
  echo "Graphs (frames) per second, the best of 3 timed blocks (phyflow: the \`_max\` of 3 repetitions)."
  echo
  echo "| bodies, dims | phyflow 1 rank | PyTorch-Python | ratio | phyflow 2 ranks | scaling 1 -> 2 |"
  echo "|---|---|---|---|---|---|"
  for cfg in "4 2" "8 3"; do
    set -- $cfg
    c1=$(to_num "$(cpp 1 "$1" "$2")"); p=$(py "$1" "$2"); c2=$(to_num "$(cpp 2 "$1" "$2")")
    echo "| $1, $2 | $c1 | $p | $(awk -v a="$c1" -v b="$p" 'BEGIN{printf "%.2f", a/b}') | $c2 |" \
      "$(awk -v a="$c2" -v b="$c1" 'BEGIN{printf "%.0f %%", 100*a/(2*b)}') |"
  done
} | tee "$out"
