#!/bin/bash
# The job scripts under a real Slurm: a one-node cluster on this machine (Debian's slurm-wlm
# and munge, installed by scripts/bootstrap; this test installs nothing), configured in a
# temporary directory with its own munge socket and free ports, so it touches nothing of the
# machine's own set-up. It submits the real jobs/*.sbatch scripts with small decks and checks:
#   1. a job array (jobs/ising_dataset.sbatch, 2 tasks of 2 ranks) writes one file per task;
#   2. a job sent SIGUSR1 early (scancel --batch --signal=USR1) checkpoints, requeues itself,
#      resumes when started again and ends bitwise identical to an uninterrupted run;
#   3. a dependency chain simulation -> training (jobs/train.sbatch, --dependency=afterok);
#   4. the same scripts under Slurm's default MpiDefault=none, where srun can start Debian's
#      Open MPI ranks only because the scripts choose --mpi=pmix themselves.
# Cases 1-3 run with MpiDefault=pmix, case 4 after restarting the daemons with none.
# Needs root (slurmd runs jobs as their user, and the one-node set-up uses SlurmUser=root).
# Locally, without root or the packages, it is skipped (exit 77); under CI (CI=true) that is a
# failure. Every daemon it started is stopped at the end (EXIT trap, by the pid files).
# Environment (ctest sets them): PHYFLOW_SOURCE_DIR, PHYFLOW_EXE. Argument: "torch" when
# phyflow is built with LibTorch (without, case 3 runs the simulation alone).

set -uo pipefail

with_torch=${1:-}
src=${PHYFLOW_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
failures=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
indent() { sed 's/^/    | /'; }
# cannot_run REASON: the test cannot set up its cluster: a failure under CI, a skip elsewhere.
cannot_run() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $1 (CI=true: this test must run; scripts/bootstrap installs slurm-wlm and munge)"
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
}

[[ $(id -u) == 0 ]] || cannot_run "not root: a one-node Slurm with SlurmUser=root needs root"
for tool in munged munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  command -v "$tool" >/dev/null || cannot_run "'$tool' not found: run scripts/bootstrap" \
    "(Debian packages slurm-wlm and munge)"
done
[[ -x ${PHYFLOW_EXE:-} ]] || cannot_run "PHYFLOW_EXE does not name the built phyflow"

work=$(mktemp -d "${TMPDIR:-/tmp}/phyflow_slurm.XXXXXX")
chmod 755 "$work" # munged wants the way to its socket open to every user
conf="$work/slurm.conf"
export SLURM_CONF=$conf
# Jobs inherit this environment (sbatch --export=ALL): Open MPI as root, the built phyflow.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PHYFLOW=$PHYFLOW_EXE
unset SLURM_MPI_TYPE SLURM_JOB_ID SLURM_ARRAY_TASK_ID

stop_daemons() { # stop_daemons [PIDFILE...]: by the pid files (default: slurmd, slurmctld,
  # munged, in that order); waits (bounded) until each is gone
  local f pid
  local -a files=("$@")
  ((${#files[@]} > 0)) || files=("$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid")
  for f in "${files[@]}"; do
    [[ -s $f ]] || continue
    pid=$(<"$f")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$f"
  done
}
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  # Jobs still known to our controller are cancelled before it goes (their steps are ours).
  if [[ -s $work/slurmctld.pid ]]; then
    local -a left
    mapfile -t left < <(squeue -h -o %A 2>/dev/null)
    ((${#left[@]} > 0)) && scancel --full "${left[@]}" >/dev/null 2>&1 && sleep 1
  fi
  stop_daemons
  if ((failures > 0)) || [[ -n ${KEEP_SLURM_TEST_DIR:-} ]]; then
    echo "logs left in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT # so that the EXIT trap stops the daemons when ctest gives up

# ---- munge: a key and a socket of our own ----------------------------------------------------
mkdir -p "$work/munge" && chmod 700 "$work/munge"
head -c 1024 /dev/urandom >"$work/munge/munge.key" && chmod 400 "$work/munge/munge.key"
munge_socket="$work/munge/munge.socket"
munged --force --socket="$munge_socket" --key-file="$work/munge/munge.key" \
  --log-file="$work/munge/munged.log" --pid-file="$work/munge/munged.pid" \
  --seed-file="$work/munge/munged.seed" 2>"$work/munge/start.err" ||
  cannot_run "munged did not start: $(cat "$work/munge/start.err")"
if ! munge -S "$munge_socket" -n | unmunge -S "$munge_socket" | grep -q 'Success'; then
  indent <"$work/munge/munged.log"
  cannot_run "munge -n | unmunge does not say Success"
fi

# ---- slurm.conf: one node (this machine), ports free now, everything under $work ------------
host=$(hostname -s)
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])')
cpus=$(nproc)
((cpus < 4)) && cpus=4 # two 2-rank jobs at once; the decks are tiny (config_overrides below)
write_conf() { # write_conf MPI_DEFAULT
  mkdir -p "$work/state" "$work/spool" "$work/log"
  cat >"$conf" <<EOF
ClusterName=phyflowtest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
MpiDefault=$1
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}
start_slurm() { # start_slurm MPI_DEFAULT: controller and node daemon, up to 60 s for the node
  write_conf "$1"
  slurmctld -c -f "$conf" || cannot_run "slurmctld did not start (see $work/log/slurmctld.log)"
  slurmd -f "$conf" || cannot_run "slurmd did not start (see $work/log/slurmd.log)"
  for _ in $(seq 120); do
    [[ $(timeout 10 sinfo -h -o %t 2>/dev/null) == idle ]] && return 0
    sleep 0.5
  done
  tail -n 20 "$work/log/slurmctld.log" "$work/log/slurmd.log" 2>/dev/null | indent
  cannot_run "the node did not become idle within 60 s (sinfo: $(sinfo -h 2>&1))"
}

# job_state JOB: Slurm's state of a job ("" once the controller forgot it).
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1; }
# wait_jobs SECONDS JOB...: until none of the jobs is pending or running; false on time-out.
wait_jobs() {
  local limit=$1 job state busy
  shift
  for _ in $(seq $((limit * 2))); do
    busy=0
    for job in "$@"; do
      # squeue's default state filter leaves out REQUEUED (a requeued job between its end and
      # PENDING), so ask for every state and name the busy ones.
      # A failed query (the controller busy) counts as busy, not as done.
      state=$(squeue -h -t all -j "$job" -o %T 2>/dev/null) || state=PENDING
      state=$(sort -u <<<"$state" | tr '\n' ' ')
      [[ $state =~ PENDING|RUNNING|REQUEUE|COMPLETING|CONFIGURING|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT ]] && busy=1
    done
    ((busy)) || return 0
    sleep 0.5
  done
  echo "    jobs $* still queued after $limit s: $(squeue -h 2>&1 | tr '\n' ';')"
  return 1
}
# exit_code JOB: "0:0" for a job that ended well (sacct is not configured: scontrol knows).
exit_code() { scontrol show job "$1" 2>/dev/null | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p' | head -n 1; }

write_ising_deck() { # write_ising_deck FILE L SAMPLES STORE_SPINS
  cat >"$1" <<EOF
workflow: ising
seed: 1
lattice: {dims: 2, L: $2}
model: {J: 1.0, h: 0.0}
temperatures: [2.269]
algorithm: metropolis
sweeps: {thermalize: 20, between_samples: 2, samples: $3}
output: {path: unused.h5, store_spins: $4}
checkpoint: {every: 0}
EOF
}
write_ising_deck "$work/small.yaml" 8 40 true
# Long enough (1-2 s on 2 idle cores) that the stop signal lands while it runs; no spins.
write_ising_deck "$work/long.yaml" 64 100000 false

cd "$work" || exit 1 # the submit directory: relative paths of the scripts are taken from here
# submit SBATCH-ARGS...: sbatch --parsable, the job id on stdout (the array's master id).
submit() { sbatch --parsable "$@" 2>"$work/sbatch.err" | cut -d';' -f1; }
ising_job="$src/jobs/ising_dataset.sbatch"
resources=(--nodes=1 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 --time=10)

start_slurm pmix
pass "one-node Slurm (MpiDefault=pmix) is up: $(sinfo -h -o '%P %t %N' | tr '\n' ' ')"

# ---- 1. a job array: two (temperature, seed) tasks, one file each ------------------------------
array=$(DECK="$work/small.yaml" OUTDIR="$work/array" TEMPERATURES="2.0 3.0" SEEDS=4 \
  submit --array=0-1 "${resources[@]}" --output="$work/array-%A_%a.out" "$ising_job")
check "array: sbatch accepted the job array (id '$array')" test -n "$array"
# ---- 3 (submitted now, so it runs beside the others). simulation -> training, afterok --------
cat >"$work/train.yaml" <<EOF
workflow: train
seed: 7
data: {train: chain/ising_T2.269_seed5.h5, val: chain/ising_T2.269_seed5.h5}
model: {kind: energy_gru, hidden: 4, dtype: float64}
optim: {name: adam, lr: 0.01, batch: 10, epochs: 2}
output: {path: unused.h5}
EOF
# Through jobs/pipeline.sh, which submits both (the dataset job as an array over its grid).
ids=""
[[ $with_torch == torch ]] && ids=$(SIM_DECK="$work/small.yaml" OUTDIR="$work/chain" TEMPERATURES="2.269" SEEDS=5 \
  SIM_ARGS="${resources[*]} --output=$work/sim-%A_%a.out" TRAIN_DECK="$work/train.yaml" \
  OUTPUT="$work/chain/model.h5" TRAIN_ARGS="${resources[*]} --output=$work/train-%j.out" \
  bash "$src/jobs/pipeline.sh" 2>&1)
echo "$ids" | indent
simulation=$(sed -n 's/^simulation \([0-9]*\)$/\1/p' <<<"$ids")
training=$(sed -n 's/^training \([0-9]*\) .*/\1/p' <<<"$ids")
if [[ $with_torch == torch ]]; then
  check "chain: simulation ($simulation) and training ($training) submitted, afterok" \
    test -n "$simulation" -a -n "$training"
  check "chain: Slurm holds the training's dependency afterok:$simulation" \
    grep -q "Dependency=afterok:$simulation" <<<"$(scontrol show job "$training")"
else
  echo "SKIP: phyflow built without LibTorch: the chain's training is not run"
  simulation=$(DECK="$work/small.yaml" OUTDIR="$work/chain" TEMPERATURES="2.269" SEEDS=5 \
    submit --array=0 "${resources[@]}" --output="$work/sim-%A_%a.out" "$ising_job")
fi

wait_jobs 600 "$array" || fail "array: did not finish in time"
cat "$work"/array-*.out 2>/dev/null | indent
for t in 2.0 3.0; do
  check "array: task T=$t wrote its file and summary" \
    test -f "$work/array/ising_T${t}_seed4.h5" -a -f "$work/array/ising_T${t}_seed4.json"
done
check "array: srun started the ranks with the site's plugin (pmix)" \
  grep -q "MPI plugin: pmix (the site's MpiDefault)" "$work/array-${array}_0.out"
check "array: two tasks ran, both ended with exit code 0:0" \
  test "$(scontrol show job "$array" | grep -c 'ExitCode=0:0')" = 2
check "array: the summaries record 2 ranks" python3 -c "
import json, sys
for t in ('2.0', '3.0'):
    j = json.load(open('$work/array/ising_T%s_seed4.json' % t))
    assert j['status'] == 'complete' and j['mpi_ranks'] == 2, (t, j['status'], j['mpi_ranks'])"

# ---- 2. SIGUSR1 early: checkpoint, requeue, resume, bitwise the uninterrupted result ----------
stem="$work/stop/ising_T2.5_seed9"
stopped=$(DECK="$work/long.yaml" OUTDIR="$work/stop" TEMPERATURES="2.5" SEEDS=9 \
  submit --array=0 "${resources[@]}" --output="$work/stop-%A_%a.out" "$ising_job")
check "stop: submitted ($stopped)" test -n "$stopped"
for _ in $(seq 240); do # up to 120 s for phyflow to start writing
  [[ -e $stem.h5.partial ]] && break
  sleep 0.5
done
check "stop: the job is writing $stem.h5.partial" test -e "$stem.h5.partial"
scancel --batch --signal=USR1 "$stopped"
requeued=0
for _ in $(seq 240); do # up to 120 s: checkpoint written, job back in the queue
  state=$(job_state "${stopped}_0")
  if [[ -e $stem.ckpt.h5 && $state == PENDING ]]; then
    requeued=1
    break
  fi
  sleep 0.5
done
check "stop: after USR1 phyflow wrote the checkpoint and the job went back to the queue" \
  test "$requeued" = 1 -a ! -e "$stem.h5"
# A requeued job waits about 2 minutes (BeginTime) before it may start: release it sooner, but
# not in the second its first run ended: slurmd rejects a credential issued in the same second
# as the revocation of the old one ("Job credential revoked") and the job is killed.
scontrol update jobid="${stopped}_0" StartTime=now+3 >/dev/null 2>&1
wait_jobs 600 "$stopped" || fail "stop: the requeued job did not finish in time"
indent <"$work/stop-${stopped}_0.out"
check "stop: the log shows the requeue and the resume with --restart" \
  bash -c 'grep -q "requeuing job " "$1" && ! grep -q "requeue failed" "$1"' _ "$work/stop-${stopped}_0.out"
check "  ... resumed with --restart" grep -q "command: srun .* --restart" "$work/stop-${stopped}_0.out"
check "  ... Slurm counted the restart" \
  grep -q 'Restarts=1' <<<"$(scontrol show job "${stopped}_0")"
check "  ... and the output is complete, no checkpoint left" \
  test -f "$stem.h5" -a ! -e "$stem.ckpt.h5" -a ! -e "$stem.h5.partial"
# The uninterrupted reference, on 1 rank outside Slurm: results do not depend on the rank count.
"$PHYFLOW_EXE" run "$work/long.yaml" --set "temperatures=[2.5]" --set seed=9 \
  --set output.path="$work/reference.h5" >"$work/reference.log" 2>&1 ||
  fail "stop: the uninterrupted reference run failed ($(tail -n 3 "$work/reference.log"))"
"$PHYFLOW_EXE" compare "$stem.h5" "$work/reference.h5" >"$work/compare.log" 2>&1
status=$?
((status == 0)) || indent <"$work/compare.log"
check "stop: the stopped, requeued and resumed output is bitwise the uninterrupted one" \
  test "$status" = 0

# ---- 3 (continued). the chain ended with a trained model -------------------------------------
wait_jobs 600 "$simulation" ${training:+"$training"} || fail "chain: did not finish in time"
cat "$work"/sim-*.out "$work"/train-*.out 2>/dev/null | indent
check "chain: the simulation wrote the training data" test -f "$work/chain/ising_T2.269_seed5.h5"
if [[ $with_torch == torch ]]; then
  check "chain: the training wrote the model (exit code $(exit_code "$training"))" \
    test -f "$work/chain/model.h5" -a "$(exit_code "$training")" = 0:0
  job_time() { # job_time JOB StartTime|EndTime: seconds since the epoch
    date -d "$(scontrol show job "$1" | grep -o "$2=[^ ]*" | cut -d= -f2)" +%s 2>/dev/null
  }
  sim_end=$(job_time "${simulation}_0" EndTime) train_start=$(job_time "$training" StartTime)
  check "  ... having started after the simulation ended ($train_start >= $sim_end)" \
    test -n "$sim_end" -a -n "$train_start" -a "${train_start:-0}" -ge "${sim_end:-1}"
  check "  ... a complete train summary" python3 -c "
import json; j = json.load(open('$work/chain/model.json'))
assert j['status'] == 'complete' and j['workflow'] == 'train', j['status']"
fi

# ---- 4. MpiDefault=none (Slurm's default): the scripts choose --mpi=pmix themselves -----------
stop_daemons "$work/slurmd.pid" "$work/slurmctld.pid" # munged stays
rm -rf "$work/state"
start_slurm none
pass "restarted with MpiDefault=none: $(scontrol show config | grep -i '^MpiDefault' | tr -s ' ')"
# The chain's simulation again (seed 5), so its output can be compared with the one above.
none=$(DECK="$work/small.yaml" OUTDIR="$work/none" TEMPERATURES="2.269" SEEDS=5 \
  submit --array=0 "${resources[@]}" --output="$work/none-%A_%a.out" "$ising_job")
check "MpiDefault=none: submitted ($none)" test -n "$none"
wait_jobs 600 "$none" || fail "MpiDefault=none: the job did not finish in time"
indent <"$work/none-${none}_0.out"
check "MpiDefault=none: the script chose srun --mpi=pmix" \
  grep -q "command: srun --cpu-bind=cores --mpi=pmix " "$work/none-${none}_0.out"
check "  ... and the 2-rank run completed (exit code $(exit_code "${none}_0"))" \
  test -f "$work/none/ising_T2.269_seed5.h5" -a "$(exit_code "${none}_0")" = 0:0
check "  ... bitwise the same task's file under MpiDefault=pmix (phyflow compare)" \
  "$PHYFLOW_EXE" compare "$work/none/ising_T2.269_seed5.h5" "$work/chain/ising_T2.269_seed5.h5"

echo "$failures check(s) failed"
((failures == 0))
