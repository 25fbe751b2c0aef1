#!/usr/bin/env bash
# scripts/gpu-check as far as a machine without a GPU can check it: it detects that there is
# none and exits 0 having done nothing; with a GPU listed (a stand-in nvidia-smi) its dry run
# names every step (builds, GPU tests, the benchmark sizes of issue 13, training on cuda); and
# its table is written correctly from benchmark and training results.
set -uo pipefail
src="$1"
work="$(mktemp -d /tmp/phyflow-gpu-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
check() { # check "what" command...
  local what="$1"; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

# 1. No nvidia-smi on PATH: nothing runs, exit 0.
mkdir -p "$work/bin"
for tool in bash env python3 dirname basename mktemp rm mkdir cat grep head; do
  ln -s "$(command -v "$tool")" "$work/bin/$tool"
done
out=$(PATH="$work/bin" bash "$src/scripts/gpu-check" 2>&1)
rc=$?
check "no GPU: exit 0" test "$rc" -eq 0
check "  ... saying so" grep -q "no NVIDIA GPU found" <<<"$out"
check "  ... and building nothing" bash -c '! grep -q "would run\|Building" <<<"$1"' _ "$out"

# 2. A GPU listed: the dry run shows every step.
cat >"$work/bin/nvidia-smi" <<'SH'
#!/bin/bash
echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"
SH
chmod +x "$work/bin/nvidia-smi"
out=$(PATH="$work/bin:$PATH" PHYFLOW_GPU_CHECK_DRY_RUN=1 PHYFLOW_TORCH_PREFIX=/nonexistent \
  PHYFLOW_BUILD_DIR="$work/cpu" PHYFLOW_CUDA_BUILD_DIR="$work/gpu" bash "$src/scripts/gpu-check" 2>&1)
rc=$?
check "GPU listed, dry run: exit 0" test "$rc" -eq 0
check "  ... builds the CPU reference and every CUDA target" \
  bash -c 'grep -q "would run: .*scripts/build -Dphyflow_ENABLE_BENCHMARKS=ON" <<<"$1" &&
           grep -q "would run: env PHYFLOW_CUDA_TARGETS=all .*scripts/build-cuda" <<<"$1"' _ "$out"
check "  ... runs the kernel tests and the bitwise comparison on the GPU" \
  grep -q "ctest --output-on-failure -L 'lattice|nbody'.*backends_bitwise" <<<"$out"
check "  ... benchmarks Ising at 2D L=16384 and 3D L=512 and the N-body ensembles" \
  bash -c 'grep -q "PHYFLOW_BENCH_ISING_CASES=2:16384 3:512 .*/gpu/bench/bench_ising_sweep" <<<"$1" &&
           grep -q "/cpu/bench/bench_nbody_ensemble" <<<"$1"' _ "$out"
check "  ... trains the energy GRU with device=cuda (GPU build) and device=cpu" \
  bash -c 'grep -q "/gpu/src/app/phyflow run .*gru.yaml .*--set device=cuda" <<<"$1" &&
           grep -q "/cpu/src/app/phyflow run .*gru.yaml .*--set device=cpu" <<<"$1"' _ "$out"

# 3. The table from results (Google Benchmark JSON and training summaries).
mkdir -p "$work/res"
python3 - "$work/res" <<'PY'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
def bench(name, entries):
    return {"benchmarks": [dict(e, name=n, run_name=n, run_type="iteration") for n, e in entries]}
(d / "gpu-bench_ising_sweep.json").write_text(json.dumps(bench("i", [
    ("Sweep/Metropolis/2D/16384", {"items_per_second": 7.5e11})])))
(d / "cpu-bench_ising_sweep.json").write_text(json.dumps(bench("i", [
    ("Sweep/Metropolis/2D/16384", {"items_per_second": 2.0e9})])))
(d / "gpu-bench_nbody_ensemble.json").write_text(json.dumps(bench("n", [
    ("Ensemble/spring/4096", {"pairs/s": 3.25e11})])))
(d / "cpu-bench_nbody_ensemble.json").write_text(json.dumps(bench("n", [
    ("Ensemble/spring/4096", {"pairs/s": 1.5e9})])))
(d / "gpu-train.json").write_text(json.dumps({"history": [{"samples_per_s": 20480.4}]}))
(d / "cpu-train.json").write_text(json.dumps({"history": [{"samples_per_s": 399.2}]}))
PY
PHYFLOW_GPU_CHECK_RESULTS="$work/res" PHYFLOW_GPU_CHECK_OUT="$work/table.md" \
  PHYFLOW_BUILD_DIR="$work/cpu" PHYFLOW_CUDA_BUILD_DIR="$work/gpu" PHYFLOW_GPU_CHECK_GPU="NVIDIA H200" \
  bash "$src/scripts/gpu-check" >/dev/null 2>&1
check "table: written" test -s "$work/table.md"
check "  ... Ising in spin updates/ns (7.5e11/s -> 750.0, CPU 2.0)" \
  grep -q "| Ising Sweep/Metropolis/2D/16384 | 750.0 | 2.0 | spin updates/ns |" "$work/table.md"
check "  ... N-body pairs/s" grep -q "| N-body Ensemble/spring/4096 | 3.25e+11 | 1.5e+09 | pairs/s |" "$work/table.md"
check "  ... training samples/s" grep -q "| training, energy GRU hidden 512, batch 512, 8x8 | 20480 | 399 | samples/s |" "$work/table.md"
check "  ... the GPU named" grep -q "GPU: NVIDIA H200" "$work/table.md"
[ "$fails" -eq 0 ] || { cat "$work/table.md" 2>/dev/null; exit 1; }
