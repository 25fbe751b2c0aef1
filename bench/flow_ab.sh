#!/usr/bin/env bash
# Two phyflow builds on one flow deck, in interleaved pairs (A, B, A, B, ...), so that a shared
# VM's slow minutes fall on both: training steps/s and proposals/s of each run, the median
# per-pair speed-up, and whether the two builds wrote the same numbers (`phyflow compare` of
# their output files: every dataset bit for bit, model, chain and proposals). Not a test.
# Usage, from the repository root:
#   bench/flow_ab.sh EXE_A EXE_B DECK [PAIRS] [--set key=value ...]
# EXE_A/EXE_B: phyflow programs (e.g. a copy of an earlier build's build/src/app/phyflow with
# its libphyflow*.so.0 beside it: the program finds its libraries through LD_LIBRARY_PATH,
# which this script sets to the program's directory). One rank, one torch thread; KEEP=1
# keeps the runs' directory.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 EXE_A EXE_B DECK [PAIRS] [--set key=value ...]" >&2; exit 2; }
exe_a="$(realpath "$1")"; exe_b="$(realpath "$2")"; deck="$(realpath "$3")"; shift 3
pairs=3
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then pairs="$1"; shift; fi
work="$(mktemp -d)"; trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
run() {  # LABEL EXE PAIR
  LD_LIBRARY_PATH="$(dirname "$2")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$2" run "$deck" "${sets[@]}" \
    --set output.path="$work/$1$3.h5" --set progress.interval=1000 --overwrite >"$work/$1$3.log" 2>&1 ||
    { echo "run $1 $3 failed:" >&2; tail -5 "$work/$1$3.log" >&2; exit 1; }
}
sets=("$@")
echo "| pair | A steps/s | B steps/s | B/A | A proposals/s | B proposals/s | B/A | same output |"
echo "|---|---|---|---|---|---|---|---|"
for p in $(seq 1 "$pairs"); do
  run a "$exe_a" "$p"
  run b "$exe_b" "$p"
  # `phyflow compare`: every dataset bit for bit (attributes such as times, paths and the git
  # revision may differ); its last line says "identical datasets" or "files differ"
  same=no
  if LD_LIBRARY_PATH="$(dirname "$exe_b")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$exe_b" compare "$work/a$p.h5" "$work/b$p.h5" >"$work/compare$p.txt" 2>&1; then same=yes; fi
  /usr/bin/python3 - "$work/a$p.json" "$work/b$p.json" "$p" "$same" "$work/ratios.txt" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ta, tb = a['train']['steps_per_s'], b['train']['steps_per_s']
qa, qb = a['proposals_per_s'], b['proposals_per_s']
open(sys.argv[5], 'a').write(f"{tb / ta} {qb / qa}\n")
print(f"| {sys.argv[3]} | {ta:.2f} | {tb:.2f} | {tb / ta:.2f} | {qa:.0f} | {qb:.0f} | {qb / qa:.2f} | {sys.argv[4]} |")
PY
done
/usr/bin/python3 - "$work/ratios.txt" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
print(f"\nmedian B/A: training {statistics.median(r[0] for r in rows):.2f}x, "
      f"proposals {statistics.median(r[1] for r in rows):.2f}x over {len(rows)} pairs")
PY
