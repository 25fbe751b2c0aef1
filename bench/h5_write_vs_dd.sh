#!/usr/bin/env bash
# Parallel HDF5 write throughput (phyflow::io, collective, 2 ranks) vs dd on the same disk.
#   bench/h5_write_vs_dd.sh [DIR] [MiB]      (default: /tmp, 1024)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-/tmp}"; mib="${2:-1024}"
exe="${PHYFLOW_BUILD_DIR:-$root/build}/bench/h5_write_throughput"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# HDF5 closes without fsync, so the like-for-like dd is the one without conv=fdatasync (both
# into the page cache); the fdatasync line shows what the disk itself sustains.
echo "== dd, $mib MiB (page cache, like HDF5's close)"
sync
dd if=/dev/zero of="$dir/dd_bench.bin" bs=1M count="$mib" 2>&1 | tail -1
rm -f "$dir/dd_bench.bin"
echo "== dd, $mib MiB, fdatasync at the end"
sync
dd if=/dev/zero of="$dir/dd_bench.bin" bs=1M count="$mib" conv=fdatasync 2>&1 | tail -1
rm -f "$dir/dd_bench.bin"
for n in 1 2; do
  echo "== phyflow::io, $n rank(s), $mib MiB"
  sync
  mpiexec -n "$n" --oversubscribe "$exe" "$dir/h5_bench.h5" "$mib"
  rm -f "$dir/h5_bench.h5"
done
