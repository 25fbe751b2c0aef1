#!/bin/bash
# Checks the cluster files: every jobs/*.sbatch parses and carries the stop/requeue contract
# (in the script or the jobs/lib/common.sh it sources), the Spack recipe compiles and has its
# required shape, the job arrays map task ids onto their grids ((temperature, seed) for
# jobs/ising_dataset.sbatch, (law, dimension) with the seed's time steps for
# jobs/nbody_dataset.sbatch), the N-body job's fresh/restart/overwrite decision from the files
# an earlier attempt left; and, when PHYFLOW_EXE names a built phyflow, runs both job scripts
# outside Slurm for real: fallback to mpiexec, skip of finished work, SIGUSR1 -> checkpoint ->
# exit 3, and the resume with --restart (for N-body across its three split files, bitwise
# identical to an uninterrupted run); and jobs/train.sbatch with a flow deck (workflow: flow,
# where phyflow has LibTorch), stopped in training and resumed bitwise.
# Environment (ctest sets them): PHYFLOW_SOURCE_DIR, PHYFLOW_EXE, MPIEXEC.

set -uo pipefail

src=${PHYFLOW_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
job="$src/jobs/ising_dataset.sbatch"
nbody_job="$src/jobs/nbody_dataset.sbatch"
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
run_script() { # run_script SCRIPT [VAR=value ...] [-- ARGS]: the job script's output, on stdout
  local script=$1
  shift
  local -a assignments=()
  while (($#)) && [[ $1 != -- ]]; do
    assignments+=("$1")
    shift
  done
  (($#)) && shift
  outside_slurm ${assignments[@]+"${assignments[@]}"} bash "$script" "$@" 2>&1
}
run_job() { run_script "$job" "$@"; }         # the Ising job
run_nbody() { run_script "$nbody_job" "$@"; } # the N-body job
# stop_while_writing LOG PARTIAL SCRIPT [VAR=value ...]: runs the job script outside Slurm in
# the background, sends it SIGUSR1 (what Slurm sends 120 s before the time limit) as soon as
# phyflow has created PARTIAL, and sets status to the script's exit code; the output goes to
# LOG and is shown. The script is started by env itself, not through a function of ours: a
# backgrounded function runs in a forked subshell, and $! would be that subshell's PID.
stop_while_writing() {
  local log=$1 partial=$2 script=$3
  shift 3
  env ${no_slurm[@]+"${no_slurm[@]}"} "$@" bash "$script" >"$log" 2>&1 &
  job_pid=$!
  for _ in $(seq 600); do # up to 60 s for phyflow to start writing
    [[ -e $partial ]] && break
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -USR1 "$job_pid" 2>/dev/null
  wait "$job_pid"
  status=$?
  job_pid=""
  indent <"$log"
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
  # shellcheck disable=SC2016 # the literal text $train_job is what is looked for
  if grep -q 'exec bash "\$train_job"' "$script"; then # a header for jobs/train.sbatch
    cat "$src/jobs/train.sbatch" "$job_lib" >>"$contract"
    name="$name (+ jobs/train.sbatch, jobs/lib/common.sh)"
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

# The MPI plugin srun is given: --mpi=pmix when the site sets none (Slurm's default, which
# cannot start Open MPI ranks), nothing when SLURM_MPI_TYPE or the site's MpiDefault names one.
# A stand-in scontrol prints the configuration lines the scripts read.
mkdir -p "$work/fake_bin"
cat >"$work/fake_bin/scontrol" <<'EOF'
#!/bin/bash
[[ "$*" == "show config" ]] && printf 'MpiDefault              = %s\nTaskPlugin              = task/none\n' \
  "$FAKE_MPI_DEFAULT"
EOF
chmod +x "$work/fake_bin/scontrol"
srun_command() { # srun_command MPI_DEFAULT [VAR=value ...]: the dry-run's command line
  local mpi_default=$1
  shift
  env -u SLURM_MPI_TYPE PATH="$work/fake_bin:$PATH" FAKE_MPI_DEFAULT="$mpi_default" SLURM_JOB_ID=1 \
    SLURM_ARRAY_TASK_ID=0 SLURM_SUBMIT_DIR="$work" "$@" "${grid[@]}" \
    bash "$job" --dry-run 2>&1 | sed -n 's/.*command: //p'
}
check "MpiDefault=none: srun --mpi=pmix" grep -q '^srun --cpu-bind=cores --mpi=pmix ' \
  <<<"$(srun_command none)"
check "MpiDefault unknown (scontrol says nothing): srun --mpi=pmix" \
  grep -q '^srun --cpu-bind=cores --mpi=pmix ' <<<"$(srun_command "")"
check "MpiDefault=pmi2 (the site's choice): no --mpi flag" \
  grep -q '^srun --cpu-bind=cores [^-]' <<<"$(srun_command pmi2)"
check "SLURM_MPI_TYPE=pmi2 with MpiDefault=none: no --mpi flag (srun reads the variable)" \
  grep -q '^srun --cpu-bind=cores [^-]' <<<"$(srun_command none SLURM_MPI_TYPE=pmi2)"

# ---- 4. the N-body job array: task id -> (law, dt, dimension); what a rerun resumes -----------
# shellcheck disable=SC2317 # invoked through check
exited_saying() { # exited_saying STATUS EXPECTED TEXT PATTERN: the exit status, and the message
  [[ $1 == "$2" ]] && grep -q -- "$4" <<<"$3"
}
range=$(run_nbody -- --array-range)
check "nbody: --array-range of the default grid, 6 laws x 2 dimensions (got '$range')" \
  test "$range" = "0-11"
range=$(run_nbody LAWS="spring charge:2e-3 r2" DIMS="2 3" -- --array-range)
check "nbody: --array-range covers LAWS x DIMS = 3 x 2 (got '$range')" test "$range" = "0-5"

# Every (law, seed dt, dimension) of the seed once over tasks 0..11, each task's command
# carrying its own law, dt and dimension and writing into OUTDIR/LAW_DIMd/LAW_DIMd.h5.
triples="" commands_ok=1
for task in $(seq 0 11); do
  out=$(run_nbody ARRAY_TASK_ID="$task" OUTDIR="$work/nb" -- --dry-run)
  triple=$(grep -o 'law=[^ ]* dt=[^ ]* dims=[^ ]*' <<<"$out")
  triples+=$triple$'\n'
  read -r law dt dims <<<"$triple"
  law=${law#law=} dt=${dt#dt=} dims=${dims#dims=}
  sets="--set system.law=$law --set time.dt=$dt --set system.dims=$dims --set system.n=4"
  path="$work/nb/${law}_${dims}d/${law}_${dims}d.h5"
  grep -q "command: .* run .*/inputs/nbody_spring2d.yaml $sets .* --set output.path=$path\$" \
    <<<"$out" || commands_ok=0
done
expected=$(for d in 2 3; do
  printf "law=%s dt=%s dims=$d\n" r1 5e-3 r2 1e-3 spring 1e-2 charge 1e-3 damped 2e-2 \
    discontinuous 1e-2
done | sort)
check "nbody: tasks 0..11 run each (law, seed dt, dimension) of the seed once" \
  test "$(sed '/^$/d' <<<"$triples" | sort)" = "$expected"
check "  ... each command sets system.law, time.dt, system.dims and OUTDIR/LAW_DIMd/LAW_DIMd.h5" \
  test "$commands_ok" = 1
out=$(run_nbody ARRAY_TASK_ID=7 -- --dry-run)
check "nbody: task 7 is law 7 mod 6 = r2 in dimension 7 div 6 = 3D, dt 1e-3" \
  grep -q "law=r2 dt=1e-3 dims=3 n=4" <<<"$out"
out=$(run_nbody ARRAY_TASK_ID=12 -- --dry-run)
status=$?
check "nbody: task 12 of 12 is refused with exit 2 naming --array=0-11 (got $status)" \
  exited_saying "$status" 2 "$out" "--array=0-11"
out=$(run_nbody LAWS="gravity" -- --dry-run)
status=$?
check "nbody: a law without a seed time step is refused (exit 2) and told to write LAW:DT" \
  exited_saying "$status" 2 "$out" "gravity:DT"
out=$(run_nbody LAWS="gravity:2e-3 spring" N=8 ARRAY_TASK_ID=0 -- --dry-run)
check "nbody: LAW:DT sets the step; N sets system.n and the default OUTDIR data/nbody/n8" \
  grep -q -- "--set system.law=gravity --set time.dt=2e-3 .*--set system.n=8 \
.*/data/nbody/n8/gravity_2d/gravity_2d.h5" <<<"$out"
out=$(run_nbody DIMS="2 4" ARRAY_TASK_ID=6 -- --dry-run)
check "nbody: a dimension other than 1, 2, 3 is refused with exit 2" test "$?" = 2

out=$(env SLURM_JOB_ID=1 SLURM_ARRAY_TASK_ID=8 SLURM_CPUS_PER_TASK=3 SLURM_SUBMIT_DIR="$work" \
  bash "$nbody_job" --dry-run 2>&1)
check "nbody under Slurm: the launcher is srun --cpu-bind=cores" \
  grep -q "command: srun --cpu-bind=cores " <<<"$out"
check "  ... with OMP_NUM_THREADS from SLURM_CPUS_PER_TASK" grep -q "threads per rank: 3" <<<"$out"
check "  ... and relative paths anchored at SLURM_SUBMIT_DIR" \
  grep -q "output.path=$work/data/nbody/n4/spring_3d/spring_3d.h5" <<<"$out"

# jobs/train_multinode.sbatch: the training job with a multi-node GPU header. Under a
# 2-node allocation of 4 ranks per node, 1 GPU per rank and 16 CPUs per rank on 32-CPU nodes:
# srun binds each rank to its GPU, and the threads are capped to 32 / 4 = 8 per rank.
multinode_job="$src/jobs/train_multinode.sbatch"
check "train_multinode.sbatch: asks for GPUs per task and several nodes" \
  grep -q '^#SBATCH --gpus-per-task=' "$multinode_job"
out=$(env -u SLURM_MPI_TYPE PATH="$work/fake_bin:$PATH" FAKE_MPI_DEFAULT=none SLURM_JOB_ID=1 \
  SLURM_SUBMIT_DIR="$work" SLURM_NTASKS_PER_NODE=4 SLURM_CPUS_ON_NODE=32 SLURM_CPUS_PER_TASK=16 \
  SLURM_GPUS_PER_TASK=1 DECK=inputs/watch_and_learn.yaml bash "$multinode_job" --dry-run 2>&1)
check "train_multinode under Slurm: srun --mpi=pmix --gpus-per-task=1 --gpu-bind=closest" \
  grep -q "command: srun --cpu-bind=cores --mpi=pmix --gpus-per-task=1 --gpu-bind=closest " \
  <<<"$out"
check "  ... threads per rank capped so ranks x threads <= CPUs (4 x 8 = 32)" \
  grep -q "BLAS threads per rank: 8," <<<"$out"
check "  ... and the ranks train on their GPUs (device=cuda)" grep -q -- "--set device=cuda" <<<"$out"
out=$(env -u SLURM_MPI_TYPE PATH="$work/fake_bin:$PATH" FAKE_MPI_DEFAULT=none SLURM_JOB_ID=1 \
  SLURM_SUBMIT_DIR="$work" SLURM_TASKS_PER_NODE="2(x2)" SLURM_CPUS_ON_NODE=32 \
  SLURM_CPUS_PER_TASK=8 DECK=inputs/watch_and_learn.yaml GPU_BIND=none \
  bash "$multinode_job" --dry-run 2>&1)
check "  ... 2 ranks x 8 threads fit: 8 threads; no GPUs asked: no GPU flags" \
  grep -q "BLAS threads per rank: 8," <<<"$out"
check "  ... and no --gpus-per-task without SLURM_GPUS_PER_TASK" \
  bash -c '! grep -q -- "--gpus-per-task" <<<"$1"' _ "$(grep 'command:' <<<"$out")"
check "  ... nor a device: the deck's own" \
  bash -c '! grep -q -- "device=" <<<"$1"' _ "$(grep 'command:' <<<"$out")"

# jobs/pipeline.sh: the dataset job's array over its grid, then training with afterok.
out=$(outside_slurm SIM_DECK=inputs/ising2d.yaml TEMPERATURES="2.0 2.5 3.0" SEEDS="1 2" \
  TRAIN_DECK=inputs/watch_and_learn.yaml bash "$src/jobs/pipeline.sh" --dry-run 2>&1)
check "pipeline --dry-run: the simulation as a 6-task array" \
  grep -q "simulation: DECK=inputs/ising2d.yaml sbatch --parsable --array=0-5 .*ising_dataset.sbatch" \
  <<<"$out"
check "  ... then training with --dependency=afterok" \
  grep -q "training: .*sbatch --parsable --dependency=afterok:JOBID .*train.sbatch" <<<"$out"
out=$(outside_slurm bash "$src/jobs/pipeline.sh" --dry-run 2>&1)
check "pipeline without TRAIN_DECK: exit 2 naming it" exited_saying "$?" 2 "$out" TRAIN_DECK

# Slurm runs a copy of the script from its spool directory: jobs/lib/common.sh is then found
# under the submit directory, and a clear error names PHYFLOW_JOBS_LIB when it is not.
mkdir -p "$work/spool" && cp "$nbody_job" "$work/spool/"
out=$(outside_slurm SLURM_SUBMIT_DIR="$src" bash "$work/spool/nbody_dataset.sbatch" --dry-run 2>&1)
check "nbody: a copy of the script away from jobs/ finds jobs/lib under the submit directory" \
  grep -q "command: " <<<"$out"
out=$(cd "$work" && outside_slurm bash "$work/spool/nbody_dataset.sbatch" --dry-run 2>&1)
status=$?
check "  ... and where there is none: exit 2 naming PHYFLOW_JOBS_LIB (got $status)" \
  exited_saying "$status" 2 "$out" PHYFLOW_JOBS_LIB

# The restart decision, from the files an earlier attempt left (task 2: spring in 2D).
leftovers() { # leftovers FILE...: a fresh task directory holding just these files
  rm -rf "$work/left" && mkdir -p "$work/left/spring_2d"
  local f
  for f in "$@"; do : >"$work/left/spring_2d/spring_2d_$f"; done
}
decision() { # the restart flags of task 2's command: "", "--restart", "--overwrite", both
  run_nbody ARRAY_TASK_ID=2 OUTDIR="$work/left" "$@" -- --dry-run |
    sed -n 's/.*command: //p' | grep -o -- ' --restart\| --overwrite' | tr -d '\n' | sed 's/^ //'
}
leftovers
check "nbody restart decision: nothing left -> a plain run" test "$(decision)" = ""
leftovers train.h5.partial train.ckpt.h5 train.json
check "  ... a split's checkpoint -> --restart" test "$(decision)" = "--restart"
leftovers train.h5 train.json val.h5.partial val.ckpt.h5 val.json
check "  ... train complete, val checkpointed -> --restart" test "$(decision)" = "--restart"
leftovers train.h5 train.json
check "  ... train complete, nothing else -> --restart (val and test begin)" \
  test "$(decision)" = "--restart"
leftovers train.h5 train.json val.h5.partial
check "  ... train complete, val .partial without checkpoint -> --restart --overwrite" \
  test "$(decision)" = "--restart --overwrite"
leftovers train.h5.partial
check "  ... only a .partial without checkpoint -> --overwrite (start over)" \
  test "$(decision)" = "--overwrite"
leftovers
check "  ... requeued (SLURM_RESTART_COUNT=1) with nothing left -> --overwrite" \
  test "$(decision SLURM_RESTART_COUNT=1)" = "--overwrite"
leftovers train.h5 val.h5 test.h5
out=$(run_nbody ARRAY_TASK_ID=2 OUTDIR="$work/left" -- --dry-run)
status=$?
check "  ... all three split files exist -> nothing to do, exit 0 (got $status)" \
  exited_saying "$status" 0 "$out" "nothing to do"
check "  ... before any command" test "$(grep -c "command:" <<<"$out")" = 0
leftovers train.h5 val.h5
out=$(run_nbody ARRAY_TASK_ID=2 OUTDIR="$work/left" SPLITS="train val" -- --dry-run)
check "  ... SPLITS names the deck's splits (train val complete -> nothing to do)" \
  grep -q "nothing to do" <<<"$out"

# ---- 5. the real thing, when phyflow is built --------------------------------------------------
if [[ -z ${PHYFLOW_EXE:-} || ! -x ${PHYFLOW_EXE:-} ]]; then
  skip "PHYFLOW_EXE does not name an executable phyflow: the job script was not run"
  finish
fi

# A small 2D Ising deck, and a longer one to be stopped part-way: that one keeps no spins
# and checkpoints only when signalled, so a checkpoint file proves the signal path. It runs a
# few seconds (200 000 sweeps of L = 128): a signal that came after phyflow finished would
# find no handler and kill it (4 000 samples took 0.1 s, less than the test's reaction time).
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
write_deck "$work/long.yaml" 128 100000 0 false
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
stop_while_writing "$work/stopped.log" "$stem.h5.partial" "$job" "${local_env[@]}" \
  DECK="$work/long.yaml" ARRAY_TASK_ID=0
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

# ---- 6. the N-body job for real: three split files, stopped in one, resumed ------------------
# A deck like inputs/nbody_spring2d.yaml but small: splits of 3000/300/300 simulations of
# 20 frames at tight tolerance, so the first split runs a few seconds in batches of 10 and a
# signal lands inside it; checkpoints only when signalled (CHECKPOINT_EVERY=0), so the
# checkpoint file proves the signal path.
cat >"$work/nbody.yaml" <<EOF
workflow: nbody
seed: 1
system: {law: r1, n: 4, dims: 3}
ensemble: {ns: 10}
time: {dt: 0.01, nt: 20}
integrator: {method: rk45, engine: kokkos, rtol: 1.0e-13, atol: 1.0e-13}
output: {path: unused.h5}
splits:
  - {name: train, seed: 1, ns: 3000}
  - {name: val, seed: 2, ns: 300}
  - {name: test, seed: 3, ns: 300}
EOF
check "the N-body test deck is valid (phyflow validate)" validates "$work/nbody.yaml"
# Task 3 of LAWS x DIMS = (charge, spring) x (3, 2): spring in 2D at dt 0.05 with n = 6.
nbody_env=(PHYFLOW="$PHYFLOW_EXE" MPIEXEC="${MPIEXEC:-mpiexec}" NRANKS=2 DECK="$work/nbody.yaml"
  LAWS="charge:2e-3 spring:5e-2" DIMS="3 2" N=6 BATCH=10 CHECKPOINT_EVERY=0
  OUTDIR="$work/nbody" ARRAY_TASK_ID=3)
dir="$work/nbody/spring_2d"
stop_while_writing "$work/nbody_stopped.log" "$dir/spring_2d_train.h5.partial" "$nbody_job" \
  "${nbody_env[@]}"
check "nbody: SIGUSR1 to the job script: phyflow checkpoints and the script exits 3 (got $status)" \
  test "$status" = 3
stopped_checkpoints=$(compgen -G "$dir/spring_2d_*.ckpt.h5")
check "  ... a split's checkpoint (${stopped_checkpoints##*/}), the test split not complete" \
  test -n "$stopped_checkpoints" -a ! -e "$dir/spring_2d_test.h5"

out=$(run_nbody "${nbody_env[@]}")
status=$?
indent <<<"$out"
check "nbody: the next run resumes with --restart" grep -q "command: .* --restart" <<<"$out"
check "  ... and completes all three splits (got $status)" test "$status" = 0 -a \
  -f "$dir/spring_2d_train.h5" -a -f "$dir/spring_2d_val.h5" -a -f "$dir/spring_2d_test.h5"
check "  ... leaving no checkpoint or .partial" \
  test -z "$(find "$dir" -name '*.ckpt.h5' -o -name '*.partial')"
# shellcheck disable=SC2317 # reachable: finish above exits only when phyflow is missing
split_summaries_are() { # split_summaries_are STEM: the task's overrides arrived in every split
  python3 - "$@" <<'EOF'
import json, sys
for split, seed in (("train", 1), ("val", 2), ("test", 3)):
    j = json.load(open(f"{sys.argv[1]}_{split}.json"))
    assert j["status"] == "complete", (split, j["status"])
    assert (j["split"], j["seed"]) == (split, seed), (j["split"], j["seed"])
    d = j["deck"]
    got = (d["system"]["law"], d["system"]["dims"], d["system"]["n"], d["time"]["dt"])
    assert got == ("spring", 2, 6, 0.05), got
EOF
}
check "  ... summaries: splits train/val/test with seeds 1/2/3, law spring, 2D, n 6, dt 0.05" \
  split_summaries_are "$dir/spring_2d"

# The stopped-and-resumed files are bitwise those of one uninterrupted run.
mkdir -p "$work/nbody_ref"
"$PHYFLOW_EXE" run "$work/nbody.yaml" --set system.law=spring --set time.dt=5e-2 \
  --set system.dims=2 --set system.n=6 --set output.path="$work/nbody_ref/ref.h5" \
  >"$work/nbody_ref.log" 2>&1 || {
  indent <"$work/nbody_ref.log"
  fail "the uninterrupted reference run failed"
}
# shellcheck disable=SC2317 # invoked through check
identical() { # identical A.h5 B.h5: phyflow compare, its output shown when they differ
  "$PHYFLOW_EXE" compare "$1" "$2" >"$work/compare.log" 2>&1 || ! indent <"$work/compare.log"
}
for split in train val test; do
  check "  ... $split identical to an uninterrupted run (phyflow compare)" \
    identical "$dir/spring_2d_$split.h5" "$work/nbody_ref/ref_$split.h5"
done

before=$(stat -c %Y "$dir/spring_2d_test.h5" 2>/dev/null)
out=$(run_nbody "${nbody_env[@]}")
status=$?
check "nbody: a finished pair is skipped: exit 0, files untouched" \
  test "$status" = 0 -a "$(stat -c %Y "$dir/spring_2d_test.h5" 2>/dev/null)" = "$before"
check "  ... and the log says so" grep -q "nothing to do" <<<"$out"

# ---- 7. a flow deck through jobs/train.sbatch: stopped in training, resumed, bitwise ---------
# The job runs any deck that trains: workflow: flow keeps the same contract as workflow: train
# (SIGUSR1 -> OUTPUT.ckpt.h5 and exit 3; --restart continues bit for bit). The tutorial's
# action at L = 8, 600 steps of batch 64 on 2 ranks: the signal lands while it trains.
train_job="$src/jobs/train.sbatch"
if "$PHYFLOW_EXE" run --help-deck flow >/dev/null 2>&1; then
  cat >"$work/flow.yaml" <<EOF
workflow: flow
seed: 4
action: {kind: phi4, dims: 2, L: 8, m2: -4.0, lambda: 8.0}
model: {coupling: affine, layers: 8, hidden: [8, 8], kernel: 3, dtype: float64}
train: {steps: 600, batch: 64, lr: 1.0e-3}
sample: {proposals: 2000}
output: {path: unused.h5}
EOF
  flow_env=(PHYFLOW="$PHYFLOW_EXE" MPIEXEC="${MPIEXEC:-mpiexec}" NRANKS=2 DECK="$work/flow.yaml")
  stem="$work/flows/flow"
  mkdir -p "$work/flows"
  stop_while_writing "$work/flow_stopped.log" "$stem.h5.partial" "$train_job" "${flow_env[@]}" \
    OUTPUT="$stem.h5"
  check "flow: SIGUSR1 to jobs/train.sbatch: phyflow checkpoints and the script exits 3 (got $status)" \
    test "$status" = 3
  check "  ... the checkpoint exists and the output is not marked complete" \
    test -f "$stem.ckpt.h5" -a ! -e "$stem.h5"
  out=$(run_script "$train_job" "${flow_env[@]}" OUTPUT="$stem.h5")
  status=$?
  indent <<<"$out"
  check "flow: the next run resumes with --restart" grep -q "command: .* --restart" <<<"$out"
  check "  ... and completes (got $status), no checkpoint left" \
    test "$status" = 0 -a -f "$stem.h5" -a -f "$stem.json" -a ! -e "$stem.ckpt.h5"
  out=$(run_script "$train_job" "${flow_env[@]}" OUTPUT="$work/flows/ref.h5")
  check "  ... identical to an uninterrupted run of the job (phyflow compare)" \
    identical "$stem.h5" "$work/flows/ref.h5"
else
  echo "SKIP: phyflow built without LibTorch: no flow workflow for jobs/train.sbatch"
fi

finish
