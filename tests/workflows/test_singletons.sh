#!/usr/bin/env bash
# Many phyflow processes started at once without mpiexec (MPI singletons), as a user's script
# may start `phyflow compare` or `inspect` in the background. Open MPI's isolated singletons all
# use job family 0, so without phyflow's own session base per singleton (core/runtime.cpp) one
# that finalised removed the shared <tmpdir>/ompi.<host>.<uid>/jf.0 under another's MPI_Init:
# "A call to mkdir was unable to create the desired directory" (measured: 9 of 300 launches in
# rounds of 30; this test makes 240). Each must reach phyflow's own error (a missing file:
# exit 2, "cannot open"), and the session bases must be gone afterwards.
source "$(dirname "$0")/lib.sh"
# The test harness gives every test one session base (tests/CMakeLists.txt); here phyflow's
# default is under test, in a TMPDIR of this test's own so that leftovers can be counted.
unset OMPI_MCA_orte_tmpdir_base
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
for round in $(seq 1 8); do
  for i in $(seq 1 30); do
    ( "$PHYFLOW_EXE" compare "$WORK/missing_a.h5" "$WORK/missing_b.h5" >"$WORK/s.$round.$i" 2>&1
      echo $? >>"$WORK/s.$round.$i" ) &
  done
  wait
done
cat "$WORK"/s.* >"$WORK/out.txt"
check "240 concurrent singletons: every one ended in phyflow's message, exit 2" \
  bash -c "[ \$(grep -l 'cannot open' $WORK/s.* | wc -l) -eq 240 ] && [ \$(grep -lx 2 $WORK/s.* | wc -l) -eq 240 ]"
check "  ... no MPI_Init failed" bash -c "! grep -q -e orte_init -e 'unable to create' $WORK/out.txt"
ls -la "$WORK/tmp" >"$WORK/out.txt"
check "  ... and no session base is left in TMPDIR" bash -c "[ -z \"\$(ls -A $WORK/tmp)\" ]"
finish
