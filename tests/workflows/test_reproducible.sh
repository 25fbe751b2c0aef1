#!/usr/bin/env bash
# Same deck + seed => bitwise-identical datasets on 1, 2 and 4 ranks, for every algorithm and
# in 2D and 3D; an interrupted run resumed with --restart (checkpoint.stop_after, and a real
# SIGUSR1) is bitwise identical to an uninterrupted one.
source "$(dirname "$0")/lib.sh"

deck() { # deck FILE DIMS L ALGORITHM
  cat >"$1" <<YAML
workflow: ising
seed: 5
lattice: {dims: $2, L: $3}
temperatures: [2.0, 4.6]
algorithm: $4
sweeps: {thermalize: 20, between_samples: 3, samples: 25}
output: {path: unused.h5}
YAML
}

for spec in "2 16 metropolis" "2 16 heatbath" "3 8 metropolis" "3 8 heatbath" "2 8 single_flip"; do
  set -- $spec
  deck "$WORK/d.yaml" "$1" "$2" "$3"
  for n in 1 2 4; do
    pf "$n" run "$WORK/d.yaml" --set output.path="$WORK/r$n.h5"
    check "$spec on $n rank(s) runs" expect_rc 0
  done
  pf 1 compare "$WORK/r1.h5" "$WORK/r2.h5"
  check "$spec: 1 vs 2 ranks identical" expect_rc 0
  pf 1 compare "$WORK/r1.h5" "$WORK/r4.h5"
  check "$spec: 1 vs 4 ranks identical" expect_rc 0
  rm -f "$WORK"/r*.h5 "$WORK"/r*.json
done

# A different seed must give different data (the comparison can fail).
deck "$WORK/d.yaml" 2 16 metropolis
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/s5.h5"
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/s6.h5" --set seed=6
pf 1 compare "$WORK/s5.h5" "$WORK/s6.h5"
check "different seeds differ" expect_rc 1

# Restart after checkpoint.stop_after (mid-temperature and across temperatures), 2 ranks,
# resumed on 4 ranks: identical to the uninterrupted run.
for algo in metropolis heatbath single_flip; do
  deck "$WORK/d.yaml" 2 16 "$algo"
  pf 2 run "$WORK/d.yaml" --set output.path="$WORK/full.h5"
  check "$algo: uninterrupted run" expect_rc 0
  pf 2 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set checkpoint.stop_after=57
  check "$algo: stop_after exits 3" expect_rc 3
  check "$algo: interrupted run leaves no final file" no_file "$WORK/cut.h5"
  check "$algo: interrupted run leaves partial + checkpoint" bash -c "[ -f '$WORK/cut.h5.partial' ] && [ -f '$WORK/cut.ckpt.h5' ]"
  check "$algo: message says how to resume" output_has "--restart"
  check "$algo: summary says interrupted" /usr/bin/python3 -c "import json,sys; j=json.load(open('$WORK/cut.json')); sys.exit(j['status']!='interrupted' or 'checkpoint' not in j)"
  pf 4 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --set checkpoint.stop_after=40 --restart
  check "$algo: second leg stops again" expect_rc 3
  pf 2 run "$WORK/d.yaml" --set output.path="$WORK/cut.h5" --restart
  check "$algo: restart completes" expect_rc 0
  check "$algo: checkpoint removed after completion" no_file "$WORK/cut.ckpt.h5"
  check "$algo: resumed summary complete with both temperatures" /usr/bin/python3 -c "import json,sys; j=json.load(open('$WORK/cut.json')); sys.exit(j['status']!='complete' or [t['temperature'] for t in j['temperatures']]!=[2.0,4.6])"
  pf 1 compare "$WORK/full.h5" "$WORK/cut.h5"
  check "$algo: restarted output identical to uninterrupted" expect_rc 0
  rm -f "$WORK"/full.* "$WORK"/cut.*
done

# Splits: a run stopped in its first split resumes that split and then runs the splits it never
# began; the files equal an uninterrupted run's.
deck "$WORK/sp.yaml" 2 16 metropolis
printf 'splits:\n  - {name: a, seed: 1}\n  - {name: b, seed: 2}\n' >>"$WORK/sp.yaml"
pf 2 run "$WORK/sp.yaml" --set output.path="$WORK/full.h5"
pf 2 run "$WORK/sp.yaml" --set output.path="$WORK/cut.h5" --set checkpoint.stop_after=30
check "splits: stop in the first split exits 3" expect_rc 3
pf 2 run "$WORK/sp.yaml" --set output.path="$WORK/cut.h5" --restart
check "splits: restart runs the rest" expect_rc 0
pf 1 compare "$WORK/full_a.h5" "$WORK/cut_a.h5"
check "splits: resumed split identical" expect_rc 0
pf 1 compare "$WORK/full_b.h5" "$WORK/cut_b.h5"
check "splits: split begun after the restart identical" expect_rc 0
rm -f "$WORK"/full* "$WORK"/cut*

# Periodic checkpoints do not change the data.
deck "$WORK/d.yaml" 2 16 metropolis
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/a.h5"
pf 2 run "$WORK/d.yaml" --set output.path="$WORK/b.h5" --set checkpoint.every=7
check "run with periodic checkpoints" expect_rc 0
pf 1 compare "$WORK/a.h5" "$WORK/b.h5"
check "periodic checkpoints leave the data unchanged" expect_rc 0

# --restart with no checkpoint is a clear input error.
pf 1 run "$WORK/d.yaml" --set output.path="$WORK/none.h5" --restart
check "--restart without checkpoint: exit 2" expect_rc 2

# A real signal: SIGUSR1 to a running job -> checkpoint + exit 3; restart -> identical.
cat >"$WORK/long.yaml" <<YAML
workflow: ising
seed: 9
lattice: {dims: 2, L: 256}
temperatures: [2.3]
algorithm: metropolis
sweeps: {thermalize: 100, between_samples: 1, samples: 20000}
output: {path: $WORK/sig.h5, store_spins: false}
progress: {interval: 0.5}
YAML
rm -f "$WORK/out.txt"  # no earlier progress line may end the wait below (tests/sr/test_sr_cli.sh)
"$MPIEXEC" -n 2 --oversubscribe "$PHYFLOW_EXE" run "$WORK/long.yaml" >"$WORK/out.txt" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "sweeps/s" "$WORK/out.txt" && break; sleep 0.1; done
kill -USR1 "$pid"
wait "$pid"; RC=$?
check "SIGUSR1: exit 3 with a checkpoint" bash -c "[ $RC -eq 3 ] && [ -f '$WORK/sig.ckpt.h5' ] && [ ! -e '$WORK/sig.h5' ]"
pf 2 run "$WORK/long.yaml" --restart
check "SIGUSR1: restart completes" expect_rc 0
pf 2 run "$WORK/long.yaml" --set output.path="$WORK/sigfull.h5"
pf 1 compare "$WORK/sig.h5" "$WORK/sigfull.h5"
check "SIGUSR1: resumed output identical to uninterrupted" expect_rc 0

finish
