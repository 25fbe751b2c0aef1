#!/usr/bin/env bash
# Reproduces the ablation table of seed 000 (CLEANit/watch-and-learn, after Sprague et al.)
# with phyflow: makes the data (inputs/watch_and_learn.yaml), trains every row's deck in
# inputs/watch_and_learn/, and writes docs/results/energy_lm_table.md (test-set RMSE after
# subtracting the means, the seed's metric, next to the seed's numbers, with training times)
# plus the predicted-vs-true plot of the best and the worst row (PNG, needs matplotlib).
#
#   bench/energy_lm_reproduce.sh [--hidden H] [--epochs E] [--ranks N] [--rows "gru bi ..."]
#                                [--device cpu|cuda]
# (PHYFLOW_EXE, PHYFLOW_RUNS and PHYFLOW_PYTHON override the program, the run directory and the
# Python with h5py that computes the table; a device other than cpu is added to the tag.)
#
# Defaults are the seed's (hidden 512, 20 epochs); on a 2-core machine one hidden-512 row takes
# 40 min to 3 h, so `--hidden 128` gives the whole table in about an hour and a half.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
work="${PHYFLOW_RUNS:-$root/runs/energy_lm}"
hidden=512 epochs=20 ranks=1 device=cpu
rows="probability_gru gru 2d bi 2d_bi attention attention_bi attention_2d_bi"
while [ $# -gt 0 ]; do
  case "$1" in
    --hidden) hidden="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work" "$root/docs/results"
cd "$work"
if [ ! -e watch_and_learn_test.h5 ]; then
  "$exe" run "$root/inputs/watch_and_learn.yaml" >data.log 2>&1
fi
tag="h${hidden}_e${epochs}_n${ranks}"
[ "$device" = cpu ] || tag="${tag}_${device}"
for row in $rows; do
  out="energy_lm_${row}_${tag}.h5"
  [ -e "$out" ] && continue
  echo "== $row (hidden $hidden, $epochs epochs, $ranks rank(s))"
  mpiexec -n "$ranks" --oversubscribe --bind-to none "$exe" run "$root/inputs/watch_and_learn/$row.yaml" \
    --set model.hidden="$hidden" --set optim.epochs="$epochs" --set output.path="$out" \
    --set device="$device" --set progress.interval=60 --overwrite 2>&1 | tee "${row}_${tag}.log" | grep -E "^epoch|test set"
done
"${PHYFLOW_PYTHON:-/usr/bin/python3}" "$root/bench/energy_lm_table.py" "$work" "$tag" "$root/docs/results"
