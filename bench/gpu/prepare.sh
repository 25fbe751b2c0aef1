#!/usr/bin/env bash
# The inputs of bench/gpu/check.sh, made with the CPU build (build/): small training sets and
# the CPU build's outputs of the simulation decks, which the GPU's must equal bit for bit.
# Writes .gpu/data and .gpu/ref (PHYFLOW_GPU_STAGE). Usage (repository root): bash bench/gpu/prepare.sh
set -euo pipefail
R="$(pwd)"; G="${PHYFLOW_GPU_STAGE:-$R/.gpu}"; P="${PHYFLOW_EXE:-$R/build/src/app/phyflow}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$G/data" "$G/ref"
"$P" run inputs/watch_and_learn.yaml --overwrite --set sweeps.thermalize=20000 --set output.path="$G/data/wl.h5" \
  --set 'splits=[{name: train, seed: 11, samples: 16384}, {name: test, seed: 14, samples: 4096}]'
"$P" run inputs/equivariant/data.yaml --overwrite --set output.path="$G/data/o5.h5"
"$P" run inputs/equivariant/pendulum_data.yaml --overwrite --set output.path="$G/data/pend.h5" \
  --set 'splits=[{name: train, seed: 1, n: 200}]'
while read -r name deck overrides; do
  case "$name" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086 # the overrides are words
  "$P" run "inputs/$deck.yaml" --overwrite --set output.path="$G/ref/$name.h5" $overrides </dev/null
done <bench/gpu/sim_cases.txt
