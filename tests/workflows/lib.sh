# Shared helpers of the CLI tests (sourced). Needs PHYFLOW_EXE and MPIEXEC (set by ctest).
set -uo pipefail
: "${PHYFLOW_EXE:?PHYFLOW_EXE must point at the phyflow program}"
MPIEXEC="${MPIEXEC:-mpiexec}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK="$(mktemp -d /tmp/phyflow-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
FAILS=0
PASSES=0

pf() { # pf NRANKS args... : runs phyflow under mpiexec, output in $WORK/out.txt, sets RC
  local n="$1"; shift
  "$MPIEXEC" -n "$n" --oversubscribe "$PHYFLOW_EXE" "$@" >"$WORK/out.txt" 2>&1
  RC=$?
}

check() { # check "what" condition...
  local what="$1"; shift
  if "$@"; then PASSES=$((PASSES + 1)); echo "ok: $what"
  else FAILS=$((FAILS + 1)); echo "FAILED: $what"; echo "--- output:"; cat "$WORK/out.txt"; echo "---"; fi
}

expect_rc() { [ "$RC" -eq "$1" ]; }
output_has() { grep -qF -- "$1" "$WORK/out.txt"; }
no_file() { [ ! -e "$1" ]; }
has_file() { [ -e "$1" ]; }

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
