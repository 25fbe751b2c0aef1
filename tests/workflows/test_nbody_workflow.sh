#!/usr/bin/env bash
# End-to-end tests of `workflow: nbody`: the seed layout, bitwise-identical output on 1, 2
# and 4 ranks for every engine and method and for both distributions, batch-size
# independence, checkpoint/restart identical to an uninterrupted run, train/val/test splits,
# conservation diagnostics in the JSON summary, and clear errors for bad decks.
source "$(dirname "$0")/lib.sh"

deck() { # deck FILE LAW N DIMS NS NT METHOD ENGINE [extra yaml lines]
  cat >"$1" <<YAML
workflow: nbody
seed: 3
system: {law: $2, n: $3, dims: $4}
ensemble: {ns: $5}
time: {dt: 0.01, nt: $6}
integrator: {method: $7, engine: $8, rtol: 1.0e-9, atol: 1.0e-9}
output: {path: $WORK/unused.h5}
YAML
  local file="$1"
  shift 8
  for line in "$@"; do echo "$line" >>"$file"; done
}
json() { /usr/bin/python3 -c "import json,sys; j=json.load(open('$1')); sys.exit(0 if ($2) else 1)"; }

# The PETSc TS engine exists only in builds with PETSc (not in the Kokkos 4 configuration).
pf 1 info
have_petsc=1
grep -aq "PETSc    not built in" "$WORK/out.txt" && have_petsc=0

# --- layout and reproducibility over rank counts -------------------------------------------
for spec in "spring 4 2 kokkos rk45" "charge 5 3 kokkos rk4" "r1 4 2 kokkos verlet" \
            "damped 4 2 kokkos rk45" "r2 3 3 petsc rk45" "spring 4 2 petsc verlet" \
            "power 3 3 kokkos rk4"; do
  set -- $spec
  if [ "$4" = petsc ] && [ "$have_petsc" = 0 ]; then
    echo "skipped: $spec (built without PETSc)"
    continue
  fi
  deck "$WORK/d.yaml" "$1" "$2" "$3" 9 11 "$5" "$4"
  for n in 1 2 4; do
    pf "$n" run "$WORK/d.yaml" --set output.path="$WORK/r$n.h5"
    check "$spec on $n rank(s) runs" expect_rc 0
  done
  pf 1 compare "$WORK/r1.h5" "$WORK/r2.h5"
  check "$spec: 1 vs 2 ranks identical" expect_rc 0
  pf 1 compare "$WORK/r1.h5" "$WORK/r4.h5"
  check "$spec: 1 vs 4 ranks identical" expect_rc 0
  w=$(( 2 * $3 + 2 ))
  check "$spec: /data is (ns, nt, n, 2d+2)" bash -c "h5ls '$WORK/r1.h5/data' | grep -q '{9, 11, $2, $w}'"
  check "$spec: /accel is (ns, nt, n, d)" bash -c "h5ls '$WORK/r1.h5/accel' | grep -q '{9, 11, $2, $3}'"
  check "$spec: summary complete with per-simulation drifts" \
    json "$WORK/r1.json" "j['status']=='complete' and len(j['diagnostics']['per_simulation']['energy_drift'])==9"
  rm -f "$WORK"/r*.h5 "$WORK"/r*.json
done

# Frame times t_k = k dt nt/(nt-1), as in the seed's linspace(0, dt*nt, nt).
deck "$WORK/d.yaml" spring 4 2 5 11 rk4 kokkos
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/t.h5"
check "frame times follow the seed" bash -c "h5dump -d /times -w 0 '$WORK/t.h5' | tr -s ' ,' '\n' | grep -E '^[0-9.e-]+$' | tail -n 11 | awk 'BEGIN{ok=1} {t=(NR-1)*0.01*11/10; if ((\$1-t)>1e-12 || (t-\$1)>1e-12) ok=0} END{exit !ok}'"

# The batch size does not change the data.
deck "$WORK/d.yaml" spring 4 2 13 11 rk45 kokkos
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/b0.h5"
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/b3.h5" --set ensemble.batch=3
pf 1 compare "$WORK/b0.h5" "$WORK/b3.h5"
check "batch size 3 vs automatic: identical" expect_rc 0
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/s4.h5" --set seed=4
pf 1 compare "$WORK/b0.h5" "$WORK/s4.h5"
check "different seeds differ (the comparison can fail)" expect_rc 1

# engine: auto is the fast Kokkos engine for rk45 too (PETSc TS only when asked for by name):
# same bits as engine: kokkos, and the file and summary say kokkos.
deck "$WORK/d.yaml" spring 4 2 13 11 rk45 auto
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/auto.h5"
check "rk45 engine auto: runs" expect_rc 0
pf 1 compare "$WORK/b0.h5" "$WORK/auto.h5"
check "rk45 engine auto: identical to engine kokkos" expect_rc 0
check "rk45 engine auto: the summary records engine kokkos" \
  json "$WORK/auto.json" "j['deck']['integrator']['engine']=='auto' and j['integrator']['engine']=='kokkos'"

# Conservation: rk45 at tight tolerance keeps the energy of conservative laws.
check "rk45 spring: max relative energy drift < 1e-6" json "$WORK/b0.json" "j['diagnostics']['energy_drift']['max'] < 1e-6"
check "rk45 spring: momentum conserved" json "$WORK/b0.json" "j['diagnostics']['momentum_drift']['max'] < 1e-9"

# --- checkpoint / restart --------------------------------------------------------------------
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set ensemble.batch=3 --set checkpoint.stop_after=2
check "ensemble: stop_after exits 3" expect_rc 3
check "ensemble: no final file, partial + checkpoint left" \
  bash -c "[ ! -e '$WORK/cut.h5' ] && [ -f '$WORK/cut.h5.partial' ] && [ -f '$WORK/cut.ckpt.h5' ]"
check "ensemble: summary says interrupted" json "$WORK/cut.json" "j['status']=='interrupted'"
pf 4 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set ensemble.batch=2 --restart
check "ensemble: restart on 4 ranks with another batch size completes" expect_rc 0
pf 1 compare "$WORK/b0.h5" "$WORK/cut.h5"
check "ensemble: restarted output identical to uninterrupted" expect_rc 0
check "ensemble: resumed summary lists all 13 simulations" \
  json "$WORK/cut.json" "j['status']=='complete' and len(j['diagnostics']['per_simulation']['steps'])==13 and min(j['diagnostics']['per_simulation']['steps'])>0"

# --- one system spread over the ranks by bodies ---------------------------------------------
cat >"$WORK/big.yaml" <<YAML
workflow: nbody
seed: 7
system: {law: gravity, n: 700, dims: 3, softening: 0.05}
ensemble: {ns: 1}
parallel: {distribute: bodies, tile: 64}
time: {dt: 0.001, nt: 6, substeps: 2}
integrator: {method: verlet}
output: {path: $WORK/unused.h5}
YAML
for n in 1 2 4; do
  pf "$n" run "$WORK/big.yaml" --set output.path="$WORK/g$n.h5"
  check "bodies: $n rank(s) runs" expect_rc 0
done
pf 1 compare "$WORK/g1.h5" "$WORK/g2.h5"
check "bodies: 1 vs 2 ranks identical" expect_rc 0
pf 1 compare "$WORK/g1.h5" "$WORK/g4.h5"
check "bodies: 1 vs 4 ranks identical" expect_rc 0
pf 2 run "$WORK/big.yaml" --set output.path="$WORK/gc.h5" --set checkpoint.stop_after=3
check "bodies: stop_after exits 3" expect_rc 3
pf 4 run "$WORK/big.yaml" --set output.path="$WORK/gc.h5" --restart
check "bodies: restart completes" expect_rc 0
pf 1 compare "$WORK/g1.h5" "$WORK/gc.h5"
check "bodies: restarted output identical to uninterrupted" expect_rc 0
check "bodies: energy drift reported" json "$WORK/gc.json" "j['diagnostics']['energy_drift']['max'] < 1e-3"

# --- train/val/test from one deck (seeds 1/2/3 like the seed project) -------------------------
deck "$WORK/s.yaml" spring 4 2 3 5 rk4 kokkos "splits:" "  - {name: train, seed: 1, ns: 4}" \
  "  - {name: val, seed: 2}" "  - {name: test, seed: 3, ns: 2}"
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/spring.h5"
check "splits: run" expect_rc 0
check "splits: three files" bash -c "[ -f '$WORK/spring_train.h5' ] && [ -f '$WORK/spring_val.h5' ] && [ -f '$WORK/spring_test.h5' ]"
check "splits: sizes 4/3/2" bash -c "h5ls '$WORK/spring_train.h5/data' | grep -q '{4,' && h5ls '$WORK/spring_val.h5/data' | grep -q '{3,' && h5ls '$WORK/spring_test.h5/data' | grep -q '{2,'"
check "splits: seeds recorded" json "$WORK/spring_test.json" "j['seed']==3 and j['split']=='test'"
# A run stopped inside one split resumes with --restart: the checkpointed split continues and
# the splits never begun start (what a requeued Slurm task does, jobs/nbody_dataset.sbatch).
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/cut.h5" --set ensemble.batch=2 --set checkpoint.stop_after=1
check "splits: stop_after stops the first split (exit 3, its checkpoint, nothing of val)" \
  bash -c "[ $RC -eq 3 ] && [ -f '$WORK/cut_train.ckpt.h5' ] && [ ! -e '$WORK/cut_val.h5.partial' ]"
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/cut.h5" --restart
check "splits: --restart resumes train and runs val and test" expect_rc 0
for s in train val test; do
  pf 1 compare "$WORK/spring_$s.h5" "$WORK/cut_$s.h5"
  check "splits: resumed $s identical to uninterrupted" expect_rc 0
done
rm -f "$WORK/cut_test.h5" && touch "$WORK/cut_test.h5.partial"
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/cut.h5" --restart
check "splits: a .partial without checkpoint: --restart refuses (exit 2) and names --overwrite" \
  bash -c "[ $RC -eq 2 ] && grep -q 'cut_test.h5.partial' '$WORK/out.txt' && grep -q -- '--overwrite' '$WORK/out.txt'"
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/cut.h5" --restart --overwrite
check "splits: --restart --overwrite skips the complete splits and starts that one over" \
  bash -c "[ $RC -eq 0 ] && grep -q 'cut_train.h5.* already complete' '$WORK/out.txt'"
pf 1 compare "$WORK/spring_test.h5" "$WORK/cut_test.h5"
check "splits: restarted test identical to uninterrupted" expect_rc 0
pf 2 run "$WORK/s.yaml" --set output.path="$WORK/none.h5" --restart
check "splits: --restart with nothing to resume still refuses (exit 2)" \
  bash -c "[ $RC -eq 2 ] && ! ls '$WORK'/none* 2>/dev/null"

# --- bad decks: one clear message naming the key, exit 2 ------------------------------------
deck "$WORK/d.yaml" sprng 4 2 5 11 rk4 kokkos
pf 1 run "$WORK/d.yaml"
check "unknown law: exit 2" expect_rc 2
check "unknown law: names the key and suggests spring" bash -c "grep -q 'system.law' '$WORK/out.txt' && grep -q 'spring' '$WORK/out.txt'"
deck "$WORK/d.yaml" spring 1 2 5 11 rk4 kokkos
pf 2 run "$WORK/d.yaml"
check "n < 2: exit 2 naming system.n" bash -c "[ $RC -eq 2 ] && grep -q 'system.n' '$WORK/out.txt'"
for dt in 0 -0.01; do
  deck "$WORK/d.yaml" spring 4 2 5 11 rk4 kokkos
  pf 1 run "$WORK/d.yaml" --set time.dt=$dt
  check "dt = $dt: exit 2 naming time.dt" bash -c "[ $RC -eq 2 ] && grep -q 'time.dt' '$WORK/out.txt'"
done
check "bad decks leave no output" bash -c "! ls '$WORK'/unused.h5* 2>/dev/null"
pf 4 run "$WORK/big.yaml" --set system.n=100 --set output.path="$WORK/few.h5"
check "more ranks than tiles: exit 2 naming parallel.tile" bash -c "[ $RC -eq 2 ] && grep -q 'parallel.tile' '$WORK/out.txt'"
deck "$WORK/d.yaml" damped 4 2 5 11 verlet petsc
pf 1 validate "$WORK/d.yaml"
check "damped + PETSc symplectic: exit 2 with the alternative" bash -c "[ $RC -eq 2 ] && grep -q 'rk45' '$WORK/out.txt'"

finish
