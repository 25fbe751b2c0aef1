#!/bin/bash
# Checks the cluster files: every jobs/*.sbatch parses and carries the stop/requeue contract,
# the Spack recipe compiles and has its required shape, the job array maps task ids onto the
# (temperature, seed) grid; and, when PHYFLOW_EXE names a built phyflow, runs
# jobs/ising_dataset.sbatch outside Slurm for real: fallback to mpiexec, skip of finished work,
# SIGUSR1 -> checkpoint -> exit 3, and the resume with --restart.
# Environment (ctest sets them): PHYFLOW_SOURCE_DIR, PHYFLOW_EXE, MPIEXEC.

set -uo pipefail

src=${PHYFLOW_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
job="$src/jobs/ising_dataset.sbatch"
recipe="$src/spack/packages/phyflow/package.py"
work=$(mktemp -d "${TMPDIR:-/tmp}/phyflow_cluster.XXXXXX")
job_pid=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  # A job script this test started and that still runs (after a failed check) is stopped.
  if [[ -n $job_pid ]] && kill -0 "$job_pid" 2>/dev/null; then
    kill -TERM "$job_pid" 2>/dev/null
    wait "$job_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
skip() { echo "SKIP: $*"; }
indent() { sed 's/^/    | /'; } # phyflow's own output, set off from the check lines
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  echo "$failures check(s) failed"
  ((failures == 0))
  exit
}

# The job script as a user outside Slurm runs it: with no SLURM_* variables at all (ctest
# itself may run inside an allocation).
no_slurm=()
for var in $(compgen -e | grep '^SLURM_'); do no_slurm+=(-u "$var"); done
outside_slurm() { env ${no_slurm[@]+"${no_slurm[@]}"} "$@"; }
run_job() { # run_job [VAR=value ...] [-- ARGS]: the job script's output, on stdout
  local -a assignments=()
  while (($#)) && [[ $1 != -- ]]; do
    assignments+=("$1")
    shift
  done
  (($#)) && shift
  outside_slurm ${assignments[@]+"${assignments[@]}"} bash "$job" "$@" 2>&1
}

# ---- 1. job scripts: syntax and the stop/requeue contract -----------------------------------
shopt -s nullglob
sbatch_files=("$src"/jobs/*.sbatch)
((${#sbatch_files[@]} > 0)) || fail "no jobs/*.sbatch found under $src"
job_lib="$src/jobs/lib/common.sh"
check "jobs/lib/common.sh: bash -n" bash -n "$job_lib"
for script in "${sbatch_files[@]}"; do
  name=${script#"$src"/}
  check "$name: bash -n" bash -n "$script"
  check "$name: #SBATCH --signal=B:USR1@<seconds>" grep -Eq '^#SBATCH --signal=B:USR1@[0-9]+' "$script"
  check "$name: #SBATCH --requeue" grep -Eq '^#SBATCH --requeue' "$script"
  # The stop/requeue contract may live in the shared library the script sources.
  contract="$work/contract.sh"
  cat "$script" >"$contract"
  # shellcheck disable=SC2016 # the literal text $jobs_lib is what is looked for
  if grep -q 'source "\$jobs_lib"' "$script"; then
    cat "$job_lib" >>"$contract"
    name="$name (+ jobs/lib/common.sh)"
  fi
  check "$name: traps USR1" grep -Eq '^ *trap .* USR1$' "$contract"
  check "$name: traps TERM" grep -Eq '^ *trap .* TERM$' "$contract"
  # shellcheck disable=SC2016 # the literal text $SLURM_JOB_ID is what is looked for
  check "$name: requeues with scontrol" grep -q 'scontrol requeue "\$SLURM_JOB_ID"' "$contract"
  check "$name: resumes with --restart" grep -q -- '--restart' "$contract"
  check "$name: binds ranks with srun --cpu-bind" grep -q 'srun --cpu-bind=' "$contract"
  if command -v shellcheck >/dev/null; then
    check "$name: shellcheck -x" shellcheck -x "$script"
  else
    skip "$name: shellcheck not installed"
  fi
done

# ---- 2. the Spack repository ----------------------------------------------------------------
check "package.py compiles" python3 -c \
  "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)" \
  "$recipe" "$work/package.pyc"
check "package.py: class Phyflow(CMakePackage, CudaPackage) with cmake_args and test_quick_deck" \
  python3 - "$recipe" <<'EOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Phyflow"]
assert cls, "no class Phyflow"
bases = [b.id for b in cls[0].bases if isinstance(b, ast.Name)]
assert bases == ["CMakePackage", "CudaPackage"], bases
methods = {n.name for n in cls[0].body if isinstance(n, ast.FunctionDef)}
assert {"cmake_args", "test_quick_deck"} <= methods, methods
EOF
if python3 -c 'import yaml' 2>/dev/null; then
  check "spack YAML files parse; namespace phyflow; environments build this checkout" \
    python3 - "$src/spack" <<'EOF'
import glob, os, sys, yaml
root = sys.argv[1]
assert yaml.safe_load(open(os.path.join(root, "repo.yaml")))["repo"]["namespace"] == "phyflow"
envs = glob.glob(os.path.join(root, "environments", "*", "spack.yaml"))
assert envs, "no environments"
for env in envs:
    spack = yaml.safe_load(open(env))["spack"]
    here = os.path.dirname(env)
    assert any(s.startswith("phyflow") for s in spack["specs"]), env
    # Relative paths in spack.yaml are relative to its directory: the repository is spack/
    # and the develop path is the checkout holding it.
    assert os.path.samefile(os.path.join(here, spack["repos"][0]), root), env
    develop = os.path.join(here, spack["develop"]["phyflow"]["path"])
    assert os.path.samefile(os.path.join(develop, "spack"), root), (env, develop)
EOF
else
  skip "python3-yaml not installed: spack YAML files not parsed"
fi

# ---- 3. the job array: task id -> (temperature, seed) ----------------------------------------
grid=(TEMPERATURES="2.0 2.5 3.0" SEEDS="11 12")
range=$(run_job "${grid[@]}" -- --array-range)
check "--array-range covers 3 temperatures x 2 seeds (got '$range')" test "$range" = "0-5"

pairs=""
for task in 0 1 2 3 4 5; do
  pairs+=$(run_job "${grid[@]}" ARRAY_TASK_ID=$task OUTDIR="$work/grid" -- --dry-run |
    grep -o 'T=[^ ]* seed=[^ ]*')$'\n'
done
expected=$(printf 'T=%s seed=%s\n' 2.0 11 2.5 11 3.0 11 2.0 12 2.5 12 3.0 12 | sort)
check "tasks 0..5 run each (temperature, seed) pair once" \
  test "$(sed '/^$/d' <<<"$pairs" | sort)" = "$expected"

out=$(run_job "${grid[@]}" ARRAY_TASK_ID=6 -- --dry-run)
status=$?
check "task 6 of a 6-pair grid is refused with exit 2 (got $status)" test "$status" = 2
check "  ... and the message says which --array to use" grep -q -- '--array=0-5' <<<"$out"

out=$(run_job "${grid[@]}" ARRAY_TASK_ID=4 NRANKS=3 MPIEXEC=/opt/mpi/bin/mpiexec \
  OUTDIR="$work/grid" -- --dry-run)
check "outside Slurm: \$MPIEXEC -n \$NRANKS phyflow run DECK --set temperatures=[T] --set seed=S ..." \
  grep -q "command: /opt/mpi/bin/mpiexec -n 3 .* run .* --set temperatures=\[2.5\] --set seed=12 --set output.path=$work/grid/ising_T2.5_seed12.h5" <<<"$out"

out=$(env SLURM_JOB_ID=1 SLURM_ARRAY_TASK_ID=0 SLURM_CPUS_PER_TASK=6 SLURM_SUBMIT_DIR="$work" \
  "${grid[@]}" bash "$job" --dry-run 2>&1)
check "under Slurm the launcher is srun --cpu-bind=cores" grep -q "command: srun --cpu-bind=cores " <<<"$out"
check "  ... with OMP_NUM_THREADS from SLURM_CPUS_PER_TASK" grep -q "threads per rank: 6" <<<"$out"
check "  ... and relative paths anchored at SLURM_SUBMIT_DIR" \
  grep -q "output.path=$work/data/ising/ising_T2.0_seed11.h5" <<<"$out"

# ---- 4. the real thing, when phyflow is built --------------------------------------------------
if [[ -z ${PHYFLOW_EXE:-} || ! -x ${PHYFLOW_EXE:-} ]]; then
  skip "PHYFLOW_EXE does not name an executable phyflow: the job script was not run"
  finish
fi

# A small 2D Ising deck, and a longer one to be stopped part-way: that one keeps no spins
# and checkpoints only when signalled, so a checkpoint file proves the signal path.
write_deck() { # write_deck FILE L SAMPLES CHECKPOINT_EVERY STORE_SPINS
  cat >"$1" <<EOF
workflow: ising
seed: 1
lattice: {dims: 2, L: $2}
model: {J: 1.0, h: 0.0}
temperatures: [2.269]
algorithm: metropolis
sweeps: {thermalize: 20, between_samples: 2, samples: $3}
output: {path: unused.h5, store_spins: $5}
checkpoint: {every: $4}
EOF
}
write_deck "$work/small.yaml" 16 50 10 true
write_deck "$work/long.yaml" 128 4000 0 false
# shellcheck disable=SC2317 # reachable: finish above exits only when phyflow is missing
validates() { "$PHYFLOW_EXE" validate "$1" >/dev/null; }
check "the small test deck is valid (phyflow validate)" validates "$work/small.yaml"
check "the long test deck is valid (phyflow validate)" validates "$work/long.yaml"

# The summary phyflow wrote says the task's overrides arrived: its seed and temperature.
# shellcheck disable=SC2317 # reachable: finish above exits only when phyflow is missing
summary_is() { # summary_is FILE SEED TEMPERATURE RANKS
  python3 - "$@" <<'EOF'
import json, sys
path, seed, temperature, ranks = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
j = json.load(open(path))
assert j["status"] == "complete", j["status"]
assert j["seed"] == seed, j["seed"]
assert j["mpi_ranks"] == ranks, j["mpi_ranks"]
temps = [t["temperature"] for t in j["temperatures"]]
assert temps == [temperature], temps
EOF
}

local_env=(PHYFLOW="$PHYFLOW_EXE" MPIEXEC="${MPIEXEC:-mpiexec}" NRANKS=2
  TEMPERATURES="2.0 3.0" SEEDS="7" OUTDIR="$work/out")

stem="$work/out/ising_T3.0_seed7"
out=$(run_job "${local_env[@]}" DECK="$work/small.yaml" ARRAY_TASK_ID=1)
status=$?
indent <<<"$out"
check "outside Slurm the job runs phyflow and exits 0 (got $status)" test "$status" = 0
check "  ... launched by mpiexec, not srun" grep -q "command: ${MPIEXEC:-mpiexec} -n 2 " <<<"$out"
check "  ... $stem.h5 and its JSON summary were written" test -f "$stem.h5" -a -f "$stem.json"
check "  ... no .partial file is left" test ! -e "$stem.h5.partial"
check "  ... the summary records seed 7, T = 3.0, 2 ranks" summary_is "$stem.json" 7 3.0 2

before=$(stat -c %Y "$stem.h5" 2>/dev/null)
out=$(run_job "${local_env[@]}" DECK="$work/small.yaml" ARRAY_TASK_ID=1)
status=$?
check "a finished pair is skipped: exit 0, file untouched" \
  test "$status" = 0 -a "$(stat -c %Y "$stem.h5" 2>/dev/null)" = "$before"
check "  ... and the log says so" grep -q "already exists" <<<"$out"

# Stop a long run with SIGUSR1, what Slurm sends 120 s before the time limit: phyflow must
# checkpoint and exit 3, and the script pass that on. A second run then resumes it.
stem="$work/out/ising_T2.0_seed7"
# env directly, not through a shell function: a backgrounded function runs in a forked
# subshell, and $! would be that subshell's PID instead of the job script's.
env ${no_slurm[@]+"${no_slurm[@]}"} "${local_env[@]}" DECK="$work/long.yaml" ARRAY_TASK_ID=0 \
  bash "$job" >"$work/stopped.log" 2>&1 &
job_pid=$!
for _ in $(seq 600); do # up to 60 s for phyflow to start writing
  [[ -e $stem.h5.partial ]] && break
  kill -0 "$job_pid" 2>/dev/null || break
  sleep 0.1
done
kill -USR1 "$job_pid" 2>/dev/null
wait "$job_pid"
status=$?
job_pid=""
indent <"$work/stopped.log"
check "SIGUSR1 to the job script: phyflow checkpoints and the script exits 3 (got $status)" \
  test "$status" = 3
check "  ... the checkpoint exists and the output is not marked complete" \
  test -f "$stem.ckpt.h5" -a ! -e "$stem.h5"

out=$(run_job "${local_env[@]}" DECK="$work/long.yaml" ARRAY_TASK_ID=0)
status=$?
indent <<<"$out"
check "the next run resumes with --restart" grep -q "command: .* --restart" <<<"$out"
check "  ... and completes (got $status)" test "$status" = 0 -a -f "$stem.h5"
check "  ... with a complete summary for seed 7, T = 2.0" summary_is "$stem.json" 7 2.0 2

finish
