#!/usr/bin/env bash
# Same deck + seed => the same bits on every Kokkos back end (DESIGN.md §4, §11): the phyflow
# of this build (e.g. Kokkos 4 OpenMP with OMP_NUM_THREADS=2, set by ctest) against a reference
# phyflow built on another back end (the default Kokkos 3.4 Serial build), on small Ising 2D
# and 3D decks (Metropolis, heat bath, in a field, split over ranks) and N-body decks (the
# ensemble kernels: rk45, rk4, verlet; the large system's tiled forces and ring pass).
#   test_backends_bitwise.sh REFERENCE_PHYFLOW
source "$(dirname "$0")/lib.sh"
REFERENCE="${1:?usage: test_backends_bitwise.sh REFERENCE_PHYFLOW}"

ref() { # ref NRANKS args... : like pf, with the reference program
  local n="$1"; shift
  "$MPIEXEC" -n "$n" --oversubscribe "$REFERENCE" "$@" >"$WORK/out.txt" 2>&1
  RC=$?
}

pf 1 info
this_backend="$(grep -ao 'default execution space [A-Za-z]*' "$WORK/out.txt")"
ref 1 info
ref_backend="$(grep -ao 'default execution space [A-Za-z]*' "$WORK/out.txt")"
echo "this build: ${this_backend:-?}; reference: ${ref_backend:-?}; OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"

# same NAME NRANKS DECK [--set ...]: runs DECK with both programs, compares every dataset.
same() {
  local name="$1" n="$2" deck="$3"; shift 3
  pf "$n" run "$deck" --set output.path="$WORK/$name.this.h5" "$@"
  check "$name: this build runs on $n rank(s)" expect_rc 0
  ref "$n" run "$deck" --set output.path="$WORK/$name.ref.h5" "$@"
  check "$name: reference runs on $n rank(s)" expect_rc 0
  pf 1 compare "$WORK/$name.this.h5" "$WORK/$name.ref.h5"
  check "$name: datasets bitwise identical to the reference" expect_rc 0
  rm -f "$WORK/$name".*
}

ising() { # ising FILE DIMS L ALGORITHM H
  cat >"$1" <<YAML
workflow: ising
seed: 17
lattice: {dims: $2, L: $3}
model: {J: 1.0, h: $5}
temperatures: [2.0, 2.269, 4.5]
algorithm: $4
sweeps: {thermalize: 30, between_samples: 2, samples: 40}
output: {path: unused.h5}
YAML
}

ising "$WORK/i2m.yaml" 2 64 metropolis 0.0
same ising2d_metropolis 1 "$WORK/i2m.yaml"
same ising2d_metropolis 2 "$WORK/i2m.yaml"
ising "$WORK/i2h.yaml" 2 32 heatbath 0.1
same ising2d_heatbath_field 1 "$WORK/i2h.yaml"
ising "$WORK/i2f.yaml" 2 32 metropolis 0.2
same ising2d_metropolis_field 2 "$WORK/i2f.yaml"
ising "$WORK/i3m.yaml" 3 16 metropolis 0.0
same ising3d_metropolis 1 "$WORK/i3m.yaml"
same ising3d_metropolis 2 "$WORK/i3m.yaml"
ising "$WORK/i3h.yaml" 3 12 heatbath 0.0
same ising3d_heatbath 1 "$WORK/i3h.yaml"

nbody() { # nbody FILE LAW N DIMS METHOD NS
  cat >"$1" <<YAML
workflow: nbody
seed: 3
system: {law: $2, n: $3, dims: $4}
ensemble: {ns: $6}
time: {dt: 0.01, nt: 40}
integrator: {method: $5, engine: kokkos}
output: {path: unused.h5}
YAML
}

nbody "$WORK/nb45.yaml" spring 4 2 rk45 37
same nbody_spring_rk45 1 "$WORK/nb45.yaml"
same nbody_spring_rk45 2 "$WORK/nb45.yaml"
nbody "$WORK/nb4.yaml" r2 5 3 rk4 19
same nbody_r2_rk4 1 "$WORK/nb4.yaml"
nbody "$WORK/nbv.yaml" charge 4 2 verlet 23
same nbody_charge_verlet 1 "$WORK/nbv.yaml"

cat >"$WORK/large.yaml" <<YAML
workflow: nbody
seed: 11
system: {law: gravity, n: 600, dims: 3, G: 1.0e-4, softening: 0.05}
ensemble: {ns: 1}
parallel: {distribute: bodies, tile: 64}
time: {dt: 0.01, nt: 6, substeps: 2}
integrator: {method: verlet}
output: {path: unused.h5}
YAML
same nbody_large_system 1 "$WORK/large.yaml"
same nbody_large_system 2 "$WORK/large.yaml"

finish
