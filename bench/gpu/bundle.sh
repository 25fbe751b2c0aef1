#!/usr/bin/env bash
# Packs the CUDA build's programs and the Debian runtime libraries they need (MPI, HDF5,
# yaml-cpp, ...; not glibc/libstdc++, not LibTorch/CUDA, which the GPU machine has) into
# .gpu/bundle.tar.xz, for bench/gpu/check.sh on a GPU machine without phyflow's dependencies.
# Usage (repository root, after PHYFLOW_TORCH_VERSION=<the GPU machine's torch>
# PHYFLOW_CUDA_BUILD_DIR=build-cuda PHYFLOW_CUDA_TARGETS="phyflow_exe phyflow_ml
# test_portable_math test_ising_kernels test_phi4_kernels test_large_system test_flows_device
# bench_ising_sweep bench_nbody_ensemble bench_phi4 bench_flow_scaling bench_cores allreduce_loop" scripts/build-cuda
# -Dphyflow_ENABLE_BENCHMARKS=ON): bash bench/gpu/bundle.sh [BUILD_DIR] (the programs that
# exist are packed). Programs and phyflow's own libraries go under opt/phyflow/{bin,lib};
# Debian's libraries and Open MPI's tree keep their absolute paths (extracted there with -k:
# nothing of the GPU machine's own is overwritten), so Open MPI finds its components and
# helpers where it was built to look.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
B="$(cd "${1:-$root/build-cuda}" && pwd)"
K="$root/build-kokkos4-cuda/install"
stage=/tmp/gpu-stage
rm -rf "$stage"; mkdir -p "$stage/opt/phyflow/bin" "$stage/opt/phyflow/lib"
exes=("$B/src/app/phyflow")
for t in tests/core/test_portable_math tests/lattice/test_ising_kernels tests/lattice/test_phi4_kernels tests/nbody/test_large_system \
         bench/bench_ising_sweep bench/bench_nbody_ensemble bench/bench_phi4 bench/bench_flow_scaling bench/bench_cores bench/allreduce_loop \
         tests/flows/test_flows_device; do
  [ -x "$B/$t" ] && exes+=("$B/$t")
done
for e in "${exes[@]}"; do cp "$e" "$stage/opt/phyflow/bin/"; done
cp -a "$B"/src/libphyflow*.so* "$stage/opt/phyflow/lib/" 2>/dev/null || true
find "$B/src" -name 'libphyflow*.so*' -exec cp -a {} "$stage/opt/phyflow/lib/" \;
cp -a "$K"/lib/libkokkos*.so* "$stage/opt/phyflow/lib/"
# Debug sections only: the symbol tables stay, so a crash's stack names phyflow's own functions
# (anonymous-namespace ones too), not just library offsets.
strip --strip-debug "$stage"/opt/phyflow/bin/* "$stage"/opt/phyflow/lib/*.so.* 2>/dev/null || true

# Open MPI (+ PMIx) trees, helpers and help files at their own paths.
sysfiles=(/usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi
          /etc/openmpi /usr/bin/orted /usr/bin/orterun /usr/bin/mpiexec.openmpi /usr/bin/mpirun.openmpi
          /usr/lib/x86_64-linux-gnu/libpmix.so.2 /usr/lib/x86_64-linux-gnu/libpmix.so.2.6.2)
# ldd closure of everything, minus what the GPU machine brings.
skip='linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libstdc\+\+|libgcc_s|libtorch|libc10|libcuda|libcudart|libnccl|libcublas|libcudnn|libnv|libcufft|libcurand|libcusparse|libcusolver|libcupti|libshm|libkokkos|libphyflow|libgomp'
objs=("${exes[@]}" "$stage"/opt/phyflow/lib/*.so.*)
while IFS= read -r f; do objs+=("$f"); done < <(find /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 -name '*.so*' -type f; echo /usr/bin/orted; echo /usr/bin/orterun)
libs=$(for o in "${objs[@]}"; do LD_LIBRARY_PATH="$stage/opt/phyflow/lib" ldd "$o" 2>/dev/null; done \
  | awk '/=> \//{print $3}' | grep -Ev "$skip" | sort -u)
# Paths as the real directories name them (/lib is a link to usr/lib on merged-/usr systems:
# a ./lib directory in the archive could replace that link where it is unpacked).
for l in $libs; do sysfiles+=("$(readlink -f "$(dirname "$l")")/$(basename "$l")" "$(readlink -f "$l")"); done
# Also the libgomp the CPU path uses (the GPU machine may lack one).
sysfiles+=(/usr/lib/x86_64-linux-gnu/libgomp.so.1 "$(readlink -f /usr/lib/x86_64-linux-gnu/libgomp.so.1)")
tar -C / -cf "$stage/sys.tar" $(printf '%s\n' "${sysfiles[@]}" | sed 's|^/||' | sort -u)
mkdir -p "$stage/root"; tar -C "$stage/root" -xf "$stage/sys.tar"; rm "$stage/sys.tar"
mv "$stage/opt" "$stage/root/opt"
du -sh "$stage/root"
mkdir -p "$root/.gpu"
tar -C "$stage/root" -cJf "$root/.gpu/bundle.tar.xz" .
ls -la "$root/.gpu/bundle.tar.xz"
