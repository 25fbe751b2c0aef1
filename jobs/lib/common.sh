# jobs/lib/common.sh -- shared by the jobs/*.sbatch scripts (sourced, never run): messages,
# paths anchored at the submit directory, the launcher (srun with binding under Slurm, mpiexec
# outside), and running phyflow with stop signals forwarded and exit 3 turned into a requeue.
# The sourcing script sets JOB_LABEL (its log prefix) first; the functions below exit the
# script with phyflow's exit codes (1 runtime failure, 2 bad input, 3 stopped with a checkpoint).
# shellcheck shell=bash
# shellcheck disable=SC2034 # task, launcher, status, stop_signal are read by the sourcing script

say() { echo "[$JOB_LABEL] $*"; }
fail() { # fail EXIT_CODE MESSAGE: 2 for bad input, as phyflow itself uses
  echo "[$JOB_LABEL] error: $2" >&2
  exit "$1"
}

# Slurm runs a copy of the batch script from its spool directory, so paths are anchored at the
# directory the job was submitted from, never at the script's own location.
base_dir=${SLURM_SUBMIT_DIR:-$PWD}
absolute() { if [[ $1 == /* ]]; then echo "$1"; else echo "$base_dir/$1"; fi; }

# array_task_id GRID_SIZE WHAT UNIT: sets `task`, this task's index into a grid of GRID_SIZE
# UNIT (Slurm's SLURM_ARRAY_TASK_ID, or ARRAY_TASK_ID outside Slurm), checked; WHAT describes
# the grid in messages ("5 temperatures x 4 seeds", "pairs").
array_task_id() {
  task=${SLURM_ARRAY_TASK_ID:-${ARRAY_TASK_ID:-0}}
  [[ $task =~ ^[0-9]+$ ]] || fail 2 "array task id '$task' is not a non-negative integer"
  ((task < $1)) || fail 2 "array task $task is outside the grid of $2 = $1 $3; submit \
with --array=0-$(($1 - 1))"
  if [[ -n ${SLURM_ARRAY_TASK_COUNT:-} ]] && ((SLURM_ARRAY_TASK_COUNT < $1)); then
    say "note: the array has $SLURM_ARRAY_TASK_COUNT tasks but the grid has $1 $3;" \
      "that is right for a rerun of chosen tasks, else submit with --array=0-$(($1 - 1))"
  fi
}

# phyflow_executable: $PHYFLOW (a path, anchored like the others) or phyflow from PATH.
phyflow_executable() {
  local exe=${PHYFLOW:-phyflow}
  [[ $exe == */* ]] && exe=$(absolute "$exe")
  echo "$exe"
}

# choose_srun_mpi SITE_MPI_DEFAULT: sets `srun_mpi`, the --mpi flag srun needs to start MPI
# ranks. Open MPI as Debian (and most sites) build it starts under srun only through PMIx,
# while Slurm's own default MpiDefault=none gives ranks no PMI at all and every one dies in
# MPI_Init ("OMPI was not built with SLURM's PMI support"). So: the user's SLURM_MPI_TYPE
# (srun reads it itself) wins, then the site's MpiDefault when it names a plugin, and
# --mpi=pmix when neither sets one. SITE_MPI_DEFAULT is `scontrol show config`'s MpiDefault
# ("" when scontrol could not tell).
srun_mpi=()
choose_srun_mpi() {
  srun_mpi=()
  if [[ -n ${SLURM_MPI_TYPE:-} ]]; then
    say "MPI plugin: $SLURM_MPI_TYPE (from SLURM_MPI_TYPE)"
  elif [[ -n $1 && $1 != none ]]; then
    say "MPI plugin: $1 (the site's MpiDefault)"
  else
    srun_mpi=(--mpi=pmix)
    say "MPI plugin: pmix (the site's MpiDefault is ${1:-unknown}, which cannot start Open MPI" \
      "ranks; set SLURM_MPI_TYPE to choose another)"
  fi
}

# threads_per_rank: OpenMP/BLAS threads for each rank. Under Slurm the CPUs per task, but
# never more than this node's CPUs shared among the ranks on it, so ranks x threads <= cores
# even when --cpus-per-task was left at a value for a larger node. Outside Slurm
# OMP_NUM_THREADS (default 1).
threads_per_rank() {
  local threads=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}} ranks cpus
  ranks=${SLURM_NTASKS_PER_NODE:-${SLURM_TASKS_PER_NODE:-}}
  ranks=${ranks%%[(,]*} # "4(x2)" or "4,3": this node's share as Slurm writes it
  cpus=${SLURM_CPUS_ON_NODE:-}
  if [[ $ranks =~ ^[1-9][0-9]*$ && $cpus =~ ^[1-9][0-9]*$ ]] && ((threads * ranks > cpus)); then
    threads=$((cpus / ranks))
    ((threads >= 1)) || threads=1
  fi
  echo "$threads"
}

# setup_launcher: exports the OpenMP thread settings and fills the array `launcher`.
setup_launcher() {
  OMP_NUM_THREADS=$(threads_per_rank)
  export OMP_NUM_THREADS
  if [[ -n ${SLURM_JOB_ID:-} ]]; then
    # Since Slurm 22.05 srun no longer inherits --cpus-per-task from the batch allocation;
    # without this each rank would be bound to a single core.
    [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
    local slurm_config task_plugin
    slurm_config=$(scontrol show config 2>/dev/null)
    launcher=(srun --cpu-bind=cores)
    choose_srun_mpi "$(sed -n 's/^MpiDefault *= *//p' <<<"$slurm_config")"
    launcher+=(${srun_mpi[@]+"${srun_mpi[@]}"})
    # GPUs: one (or more) per rank as the allocation asked (--gpus-per-task), each rank bound
    # to the GPU(s) nearest its cores (GPU_BIND, default closest).
    if [[ -n ${SLURM_GPUS_PER_TASK:-} ]]; then
      launcher+=(--gpus-per-task="$SLURM_GPUS_PER_TASK" --gpu-bind="${GPU_BIND:-closest}")
    fi
    # Threads are pinned (spread over the rank's cores) only where srun really binds each
    # rank to its own cores: OpenMP pins a process's first thread to the first CPU it may
    # use, so ranks left unbound (TaskPlugin task/none) would all share one CPU.
    task_plugin=$(sed -n 's/^TaskPlugin *= *//p' <<<"$slurm_config")
    if [[ $task_plugin == *affinity* || $task_plugin == *cgroup* ]]; then
      export OMP_PROC_BIND=${OMP_PROC_BIND:-spread}
      export OMP_PLACES=${OMP_PLACES:-threads}
    else
      say "note: Slurm's TaskPlugin (${task_plugin:-unknown}) does not bind ranks to cores," \
        "so OpenMP threads are left unpinned"
    fi
  else
    # Local testing: no allocation; mpiexec binds ranks as it sees fit, threads stay unpinned.
    local -a mpiexec_flags
    read -r -a mpiexec_flags <<<"${MPIEXEC_PREFLAGS:-}"
    launcher=("${MPIEXEC:-mpiexec}" -n "${NRANKS:-2}" ${mpiexec_flags[@]+"${mpiexec_flags[@]}"})
  fi
}

# check_runnable DECK EXE WHAT: the deck and the executable exist (exit 2 otherwise).
check_runnable() {
  [[ -f $1 ]] || fail 2 "deck $1 not found (set DECK to $3)"
  command -v "$2" >/dev/null ||
    fail 2 "phyflow executable '$2' not found (set PHYFLOW, or put phyflow on PATH)"
}

# run_forwarding_stops COMMAND...: runs the command and sets `status` (its exit status) and
# `stop_signal` (USR1 or TERM when one arrived, else empty).
#
# bash runs a trap only between commands, so phyflow runs in the background and the script
# sits in `wait`, which a trapped signal interrupts at once. The trap passes SIGUSR1 on to the
# launcher: srun and Open MPI's mpiexec forward SIGUSR1 to every rank, whereas mpiexec turns
# SIGTERM into killing the job. phyflow treats SIGUSR1 and SIGTERM alike (checkpoint, exit 3).
stop_signal=""
launcher_pid=""
# shellcheck disable=SC2317 # invoked by the traps below
request_stop() {
  stop_signal=$1
  say "received SIG$1: asking phyflow to checkpoint at the end of its current step and stop"
  [[ -n $launcher_pid ]] && kill -USR1 "$launcher_pid" 2>/dev/null
}
run_forwarding_stops() {
  trap 'request_stop USR1' USR1
  trap 'request_stop TERM' TERM

  "$@" &
  launcher_pid=$!
  # A signal that came while the launcher was being started reached no one yet.
  [[ -n $stop_signal ]] && kill -USR1 "$launcher_pid" 2>/dev/null

  while :; do
    wait "$launcher_pid"
    status=$?
    # Above 128 with phyflow still alive means a trapped signal interrupted `wait`, not that
    # phyflow ended: keep waiting while it finishes its step and writes the checkpoint.
    if ((status > 128)) && kill -0 "$launcher_pid" 2>/dev/null; then
      continue
    fi
    break
  done
}

# requeue_or_stop WHAT: after phyflow exited 3 having written WHAT (its checkpoint): requeue
# the task when Slurm's time-limit warning stopped it, else exit 3.
requeue_or_stop() {
  say "phyflow wrote $1 and stopped"
  if [[ -n ${SLURM_JOB_ID:-} && $stop_signal == USR1 ]]; then
    # SIGUSR1 is the time-limit warning (or `scancel --batch --signal=USR1`): go back
    # to the queue; the requeued task finds the checkpoint and resumes. SIGTERM means
    # scancel or preemption, and a cancelled job must stay cancelled.
    # Said before the call: a successful requeue makes slurmctld terminate this script,
    # often while scontrol is still running (it then returns non-zero although the job is
    # back in the queue), so its status alone cannot tell success from failure.
    say "requeuing job $SLURM_JOB_ID; it resumes from the checkpoint when it starts again"
    scontrol requeue "$SLURM_JOB_ID" && exit 0
    if [[ $stop_signal == TERM ]] ||
      scontrol show job "$SLURM_JOB_ID" 2>/dev/null | grep -q "JobState=\(REQUEUE\|PENDING\)"; then
      exit 0 # Slurm is requeuing it (its SIGTERM reached us): the job starts again
    fi
    say "scontrol requeue failed; resubmit this task to resume from the checkpoint"
  else
    say "run this task again to resume from the checkpoint"
  fi
  exit 3
}
