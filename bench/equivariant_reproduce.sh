#!/usr/bin/env bash
# Test MSE vs training-set size for the scalar MLP and the plain MLP baseline on EMLP's O(5),
# Inertia and Lorentz data (seed 003, Villar et al. 2021), next to the published EMLP and
# Scalars figures: makes the data (inputs/equivariant/data.yaml), trains inputs/equivariant/KIND.yaml
# for every size, and writes docs/results/equivariant_table.md and equivariant_mse.png.
#
#   bench/equivariant_reproduce.sh [--kinds "o5 lorentz inertia"] [--sizes "100 1000 3000"]
#                                  [--steps S] [--models "scalar_mlp mlp"]
#
# Every run takes about S optimiser steps (epochs = S x batch / n, at least 1), so small and
# large training sets get the same budget; the test set is 1 000 samples (seed 2), as EMLP's,
# and the validation set (early stopping, best weights) another 1 000 (seed 3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
work="${PHYFLOW_RUNS:-$root/runs/equivariant}"
kinds="o5 lorentz inertia" sizes="100 1000 3000" steps=1500 models="scalar_mlp mlp"
while [ $# -gt 0 ]; do
  case "$1" in
    --kinds) kinds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work" "$root/docs/results"
cd "$work"
for kind in $kinds; do
  [ -e "${kind}_test.h5" ] || "$exe" run "$root/inputs/equivariant/data.yaml" --set kind="$kind" \
    --set n=1000 --set seed=2 --set output.path="${kind}_test.h5" >/dev/null 2>&1
  [ -e "${kind}_val.h5" ] || "$exe" run "$root/inputs/equivariant/data.yaml" --set kind="$kind" \
    --set n=1000 --set seed=3 --set output.path="${kind}_val.h5" >/dev/null 2>&1
  for n in $sizes; do
    [ -e "${kind}_$n.h5" ] || "$exe" run "$root/inputs/equivariant/data.yaml" --set kind="$kind" \
      --set n="$n" --set seed=1 --set output.path="${kind}_$n.h5" >/dev/null 2>&1
    for model in $models; do
      out="${kind}_${model}_${n}.h5"
      [ -e "$out" ] && continue
      batch=$(( n < 128 ? n : 128 ))
      epochs=$(( (steps * batch + n - 1) / n ))
      extra=()
      [ "$model" = mlp ] && extra=(--set model.metric=auto --set model.permutation_invariant=false)
      echo "== $kind $model n=$n ($epochs epochs of batch $batch)"
      "$exe" run "$root/inputs/equivariant/$kind.yaml" --set model.kind="$model" "${extra[@]}" \
        --set data.train="${kind}_$n.h5" --set data.val="${kind}_val.h5" --set data.test="${kind}_test.h5" \
        --set optim.batch="$batch" --set optim.epochs="$epochs" --set output.path="$out" \
        --set progress.interval=120 --overwrite >"${kind}_${model}_${n}.log" 2>&1 || true
      grep -E "test set" "${kind}_${model}_${n}.log" || true
    done
  done
done
/usr/bin/python3 "$root/bench/equivariant_table.py" "$work" "$root/docs/results"
