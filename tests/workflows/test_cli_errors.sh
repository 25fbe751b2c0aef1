#!/usr/bin/env bash
# Bad input reaches the user as one clear message naming the key or file and the fix, exit
# code 2, and no file that looks complete.
source "$(dirname "$0")/lib.sh"
D="$WORK/deck.yaml"
cat >"$D" <<YAML
workflow: ising
seed: 1
lattice: {dims: 2, L: 16}
temperatures: [2.5]
sweeps: {thermalize: 10, between_samples: 1, samples: 20}
output: {path: $WORK/out.h5}
YAML

pf 2 run "$WORK/missing.yaml"
check "missing deck: exit 2" expect_rc 2
check "missing deck: names the file" output_has "missing.yaml"

printf 'workflow: ising\nlatice: {L: 8}\ntemperatures: [2.0]\n' >"$WORK/typo.yaml"
pf 2 run "$WORK/typo.yaml"
check "unknown key: exit 2" expect_rc 2
check "unknown key: suggests the nearest key" output_has "did you mean 'lattice'"

pf 2 run "$D" --set lattice.L=big
check "wrong type: exit 2" expect_rc 2
check "wrong type: names key and type" output_has "lattice.L must be an integer"

pf 2 run "$D" --set sweeps.samples=0
check "out of range: exit 2" expect_rc 2
check "out of range: names key and range" output_has "sweeps.samples = 0 is out of range"

pf 2 run "$D" --set algorithm=metropolice
check "bad choice: exit 2 with suggestion" bash -c "[ $RC -eq 2 ] && grep -qF \"did you mean 'metropolis'\" '$WORK/out.txt'"

pf 2 run "$D" --set lattice.sizee=4
check "unknown --set key: exit 2 with suggestion" bash -c "[ $RC -eq 2 ] && grep -qF 'did you mean' '$WORK/out.txt'"

pf 3 run "$D"
check "L not divisible over 3 ranks: exit 2" expect_rc 2
check "L not divisible: names lattice.L and the grid" output_has "lattice.L = 16 does not divide over the 3x1 process grid"
check "L not divisible: printed once" bash -c "[ \$(grep -c 'does not divide' '$WORK/out.txt') -eq 1 ]"

pf 2 run "$D" --set lattice.L=6 --set "lattice.proc_grid=[1, 2]"
check "odd block along the last dimension: exit 2, says it must be even" bash -c "[ $RC -eq 2 ] && grep -qF 'needs an even number there' '$WORK/out.txt'"

pf 2 run "$D" --set "lattice.proc_grid=[2, 2]"
check "proc_grid not matching the rank count: exit 2" bash -c "[ $RC -eq 2 ] && grep -qF 'holds 4 ranks but the run has 2' '$WORK/out.txt'"

pf 2 run "$D" --set lattice.L=15
check "odd L: exit 2" expect_rc 2

pf 2 run "$D" --set output.path=/nonexistent-dir/sub/x.h5
check "unwritable output path: exit 2" expect_rc 2
check "unwritable output path: names it" output_has "/nonexistent-dir/sub"
check "unwritable output path: nothing written" no_file /nonexistent-dir/sub/x.h5.partial

printf 'workflow: isin\n' >"$WORK/wf.yaml"
pf 1 validate "$WORK/wf.yaml"
check "unknown workflow: exit 2 with suggestion" bash -c "[ $RC -eq 2 ] && grep -qF \"did you mean 'ising'\" '$WORK/out.txt'"

printf 'workflow: ising\nlattice: [1, 2\n' >"$WORK/broken.yaml"
pf 1 validate "$WORK/broken.yaml"
check "invalid YAML: exit 2 with line number" bash -c "[ $RC -eq 2 ] && grep -qF 'line' '$WORK/out.txt'"

# A good run, then the existing output is protected.
pf 2 run "$D"
check "good run: exit 0" expect_rc 0
# No ^ anchors on lines of rank 0 here: another rank's stderr (Kokkos 4's oversubscription
# warning, written piece by piece) can land in front of them on the same line of the capture.
check "good run on 2 ranks: prints where each rank runs (host: rank, CPUs)" \
  bash -c "grep -q 'placement .*: rank 0 cpus [0-9].*; rank 1 cpus [0-9]' '$WORK/out.txt'"
check "good run: final file and summary" bash -c "[ -f '$WORK/out.h5' ] && [ -f '$WORK/out.json' ] && [ ! -e '$WORK/out.h5.partial' ]"
pf 2 run "$D"
check "existing output: exit 2" expect_rc 2
check "existing output: says --overwrite" output_has "--overwrite"
pf 2 run "$D" --overwrite
check "--overwrite: exit 0" expect_rc 0

# phyflow info shows the rank -> host/CPU map; each rank's CPUs are its affinity mask.
pf 2 info
check "info on 2 ranks: a ranks line and both ranks' host and CPUs" \
  bash -c "[ $RC -eq 0 ] && grep -q '  ranks    2 ' '$WORK/out.txt' && \
    grep -q \"    $(hostname): rank 0 cpus [0-9][-,0-9]*; rank 1 cpus [0-9]\" '$WORK/out.txt'"
cpus=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //')
"$PHYFLOW_EXE" info >"$WORK/out.txt" 2>&1 # no launcher: the affinity is this shell's
check "info without a launcher: rank 0's CPUs are this shell's affinity ($cpus)" \
  bash -c "[ -z '$cpus' ] || grep -q 'rank 0 cpus $cpus\$' '$WORK/out.txt'"

# Files that are not (complete) phyflow outputs.
pf 1 inspect "$WORK/nothing.h5"
check "inspect missing file: exit 2" expect_rc 2
head -c 3000 "$WORK/out.h5" >"$WORK/cut.h5"
pf 1 inspect "$WORK/cut.h5"
check "inspect truncated file: exit 2" expect_rc 2
check "inspect truncated file: names it" output_has "cut.h5"

pf 1 validate "$D"
check "validate good deck: exit 0" expect_rc 0

pf 2 run
check "run without a deck: exit 2, said once" bash -c "[ $RC -eq 2 ] && [ \$(grep -c 'needs a deck' '$WORK/out.txt') -eq 1 ]"

pf 1 --help
check "--help is phyflow's (not Kokkos')" bash -c "[ $RC -eq 0 ] && grep -qF 'Subcommands' '$WORK/out.txt'"

pf 1 run --help-deck ising
check "--help-deck lists keys with ranges" bash -c "[ $RC -eq 0 ] && grep -qF 'sweeps.between_samples' '$WORK/out.txt'"

finish
