#!/usr/bin/env bash
# OpenBLAS's kernels fit the CPU. An OpenBLAS built for many CPUs picks its kernels from the
# CPU model when it loads, and a model newer than the library gets the generic SSE3 ones
# (Debian 12's 0.3.21 on Emerald Rapids: Prescott); phyflow then restarts itself with
# OPENBLAS_CORETYPE set to the kernels of the CPU's vector level. A user's OPENBLAS_CORETYPE
# stands. On a CPU whose model the library knows, nothing is restarted and the checks hold
# as well.
source "$(dirname "$0")/lib.sh"
unset OPENBLAS_CORETYPE PHYFLOW_BLAS_RETUNED_FROM

pf 2 info
check "info: exit 0" expect_rc 0
check "info: the BLAS is OpenBLAS" output_has "BLAS     OpenBLAS"
check "info: its kernels are not below the CPU's level" eval '! output_has "below this CPU'"'"'s"'

# A run on 2 ranks whose ranks were restarted (or not) is one job with the right result.
cat >"$WORK/deck.yaml" <<YAML
workflow: ising
seed: 3
lattice: {dims: 2, L: 8}
temperatures: [2.5]
sweeps: {thermalize: 10, between_samples: 1, samples: 10}
output: {path: $WORK/ising.h5}
YAML
pf 2 run "$WORK/deck.yaml"
check "run on 2 ranks: exit 0" expect_rc 0
check "run on 2 ranks: output written" has_file "$WORK/ising.h5"
check "run on 2 ranks: one job of 2 ranks" grep -q '"mpi_ranks": 2' "$WORK/ising.json"
pf 4 run "$WORK/deck.yaml" --overwrite
check "run on 4 ranks: exit 0" expect_rc 0
check "run on 4 ranks: one job of 4 ranks" grep -q '"mpi_ranks": 4' "$WORK/ising.json"

if grep -qw avx2 /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=Prescott
  pf 2 info
  check "a user's OPENBLAS_CORETYPE: exit 0" expect_rc 0
  check "a user's OPENBLAS_CORETYPE stands" output_has "Prescott"
  check "info names the kernels that fit" output_has "below this CPU's: set OPENBLAS_CORETYPE="
  check "nothing restarted" eval '! output_has "restarted itself"'
  unset OPENBLAS_CORETYPE
fi
finish
