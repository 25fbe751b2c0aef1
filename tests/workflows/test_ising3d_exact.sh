#!/usr/bin/env bash
# 3D simple-cubic Ising energy per site near T_c = 1/K_c = 4.511523 (K_c = 0.221654626(5),
# Ferrenberg, Xu & Landau, Phys. Rev. E 97, 043301 (2018), arXiv:1806.03558), H = -J sum s_i s_j,
# J = 1, periodic 4^3, from `phyflow run` (Metropolis and heat-bath), within 3 sigma (Gamma-method
# error of the run's JSON summary) of the EXACT finite-lattice value.
# One rank: on a shared 2-core machine a 4^3 lattice split over oversubscribed ranks spends ~10x
# longer in halo exchange, and test_reproducible.sh already proves runs on 1, 2 and 4 ranks are
# bitwise identical, so the statistics bought here with one rank hold for every rank count.
#
# Why an exact 4^3 value and not a literature number: at K_c the energy's finite-size correction
# e(L) - e(inf) ~ L^((alpha-1)/nu) = L^-1.41 is large, so only a value for the simulated L is a
# sharp test, and no finite-L table could be read from a source here. On 4^3 the partition
# function is exact by a 2^16-state plane transfer matrix (ising3d_exact_energy.cpp, checked
# against brute-force enumeration of 2^8 and 2^27 states by --self-check, run below). There is
# therefore no finite-size allowance: the reference is for exactly this lattice.
# Usage (ctest passes it): test_ising3d_exact.sh PATH/TO/ising3d_exact_energy
source "$(dirname "$0")/lib.sh"
EXACT="${1:?usage: $0 PATH/TO/ising3d_exact_energy}"
L=4
TEMPERATURES="4.0 4.511523 5.0"   # below, at and above T_c

"$EXACT" --self-check >"$WORK/out.txt" 2>&1
RC=$?
check "exact transfer matrix agrees with brute-force enumeration (L = 2, 3)" expect_rc 0
cat "$WORK/out.txt"

"$EXACT" "$L" $TEMPERATURES >"$WORK/exact.txt" 2>"$WORK/out.txt"
RC=$?
check "exact L=$L energies computed" expect_rc 0
echo "exact e(T) on $L^3:"; cat "$WORK/exact.txt"

for algorithm in metropolis heatbath; do
  cat >"$WORK/deck.yaml" <<YAML
workflow: ising
seed: 3
lattice: {dims: 3, L: $L}
model: {J: 1.0, h: 0.0}
temperatures: [$(echo $TEMPERATURES | sed 's/ /, /g')]
algorithm: $algorithm
sweeps: {thermalize: 2000, between_samples: 2, samples: 150000}
output: {path: $WORK/$algorithm.h5}
YAML
  pf 1 run "$WORK/deck.yaml"
  check "$algorithm run" expect_rc 0
  check "$algorithm run wrote its JSON summary" has_file "$WORK/$algorithm.json"
  [ -f "$WORK/$algorithm.json" ] || continue
  # Compare every temperature; exit status 0 only if all agree within 3 sigma.
  /usr/bin/python3 - "$WORK/$algorithm.json" "$WORK/exact.txt" "$algorithm" >"$WORK/out.txt" 2>&1 <<'PY'
import json, math, sys
summary_path, exact_path, algorithm = sys.argv[1:4]
exact = [tuple(map(float, line.split())) for line in open(exact_path) if line.strip()]
temps = json.load(open(summary_path))["temperatures"]
if len(temps) != len(exact):
    sys.exit(f"{summary_path}: {len(temps)} temperatures in the summary, expected {len(exact)}")
ok = True
for i, ((T, e_exact), entry) in enumerate(zip(exact, temps)):
    T_run = entry.get("temperature", T)
    if abs(T_run - T) > 1e-9:
        sys.exit(f"{summary_path}: temperatures[{i}] is T = {T_run}, expected {T}")
    e = entry["energy_per_site"]
    mean, error, tau = float(e["mean"]), float(e["error"]), e.get("tau_int")
    # A zero, non-finite or huge error bar would make the comparison meaningless.
    sane = math.isfinite(mean) and math.isfinite(error) and 0.0 < error < 0.02
    deviation = abs(mean - e_exact)
    passed = sane and deviation < 3.0 * error
    ok = ok and passed
    print(f"{algorithm:10s} T = {T:.6f}: e = {mean:.6f} +- {error:.6f} (tau_int = {tau}), "
          f"exact {e_exact:.6f}, |diff| = {deviation:.6f} = {deviation / error if error > 0 else float('inf'):.2f} sigma "
          f"{'ok' if passed else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
  RC=$?
  cat "$WORK/out.txt"
  check "$algorithm energies within 3 sigma of the exact 4^3 values" expect_rc 0
done

finish
