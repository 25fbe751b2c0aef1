#!/bin/bash
# jobs/pipeline.sh -- simulate, then train on what was simulated: submits a dataset job and a
# training job that starts only when every task of the dataset job succeeded
# (sbatch --dependency=afterok). Both are the ordinary job scripts, with their settings.
#
#   SIM_DECK=inputs/ising2d.yaml TEMPERATURES="2.269" SEEDS="1" \
#   TRAIN_DECK=inputs/watch_and_learn/gru.yaml bash jobs/pipeline.sh
#   bash jobs/pipeline.sh --dry-run        the two sbatch commands, nothing submitted
#
# Settings, from the environment (and those of the two job scripts, e.g. TEMPERATURES, SEEDS,
# OUTDIR for the Ising dataset, OUTPUT for the model):
#   SIM_JOB      the dataset job script       (default: jobs/ising_dataset.sbatch)
#   SIM_DECK     its deck (the script's DECK)  (default: the script's own default)
#   SIM_ARGS     more sbatch arguments for it, e.g. "--ntasks=2 --cpus-per-task=4"
#   TRAIN_JOB    the training job script      (default: jobs/train.sbatch; or
#                                              jobs/train_multinode.sbatch)
#   TRAIN_DECK   its deck (required: its data paths name the dataset files)
#   TRAIN_ARGS   more sbatch arguments for it
# The dataset job's array is its own --array-range when it has one. Prints the two job ids:
#   simulation JOBID
#   training JOBID (afterok:JOBID)
# Exit codes: 0 submitted, 2 bad settings, 1 sbatch failed.
# shellcheck source-path=SCRIPTDIR

set -uo pipefail
JOB_LABEL=pipeline
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh" # say, fail

dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  *) fail 2 "unknown argument '$1' (known: --dry-run)" ;;
esac

sim_job=${SIM_JOB:-$here/ising_dataset.sbatch}
train_job=${TRAIN_JOB:-$here/train.sbatch}
[[ -f $sim_job ]] || fail 2 "SIM_JOB=$sim_job is not a job script"
[[ -f $train_job ]] || fail 2 "TRAIN_JOB=$train_job is not a job script"
[[ -n ${TRAIN_DECK:-} ]] || fail 2 "set TRAIN_DECK to the training deck (its data paths name \
the files the dataset job writes)"
read -r -a sim_args <<<"${SIM_ARGS:-}"
read -r -a train_args <<<"${TRAIN_ARGS:-}"

# The dataset job's array covers its grid (a script without --array-range gets none).
sim_env=()
[[ -n ${SIM_DECK:-} ]] && sim_env=(DECK="$SIM_DECK")
array=$(env ${sim_env[@]+"${sim_env[@]}"} bash "$sim_job" --array-range 2>/dev/null) || array=""
[[ -n $array ]] && sim_args=(--array="$array" ${sim_args[@]+"${sim_args[@]}"})

sim_command=(sbatch --parsable ${sim_args[@]+"${sim_args[@]}"} "$sim_job")
train_command=(sbatch --parsable --dependency=afterok:JOBID ${train_args[@]+"${train_args[@]}"}
  "$train_job")
if ((dry_run)); then
  say "simulation: ${sim_env[*]:-} ${sim_command[*]}"
  say "training:   DECK=$TRAIN_DECK ${train_command[*]}"
  exit 0
fi
command -v sbatch >/dev/null || fail 2 "sbatch not found: run this on a Slurm login node"

sim=$(env ${sim_env[@]+"${sim_env[@]}"} "${sim_command[@]}") || fail 1 "sbatch of $sim_job failed"
sim=${sim%%;*}
train_command[2]=--dependency=afterok:$sim
train=$(DECK=$TRAIN_DECK "${train_command[@]}") || {
  scancel "$sim" 2>/dev/null
  fail 1 "sbatch of $train_job failed; cancelled the simulation $sim"
}
train=${train%%;*}
echo "simulation $sim"
echo "training $train (afterok:$sim)"
