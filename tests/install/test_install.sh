#!/usr/bin/env bash
# Installs phyflow into a temporary prefix, then configures, builds and runs a downstream
# project that finds it with find_package(phyflow).
set -euo pipefail
build_dir="$1"; source_dir="$2"
prefix="$(mktemp -d /tmp/phyflow-install.XXXXXX)"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/phyflow"
test -f "$prefix/lib/cmake/phyflow/phyflowConfig.cmake" || test -f "$prefix"/lib*/cmake/phyflow/phyflowConfig.cmake
cmake -S "$source_dir" -B "$prefix/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$prefix/configure.log" 2>&1 || { cat "$prefix/configure.log"; exit 1; }
cmake --build "$prefix/build" >"$prefix/build.log" 2>&1 || { cat "$prefix/build.log"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"${MPIEXEC:-mpiexec}" -n 2 --oversubscribe "$prefix/build/downstream"
"$prefix/bin/phyflow" info >"$prefix/info.txt"
grep -q "phyflow" "$prefix/info.txt"
# With LibTorch the installed program opens the installed libphyflow_ml (next to libphyflow)
# for the learning workflows, and a downstream project can link phyflow::ml.
if grep -q "LibTorch .*libphyflow_ml" "$prefix/info.txt"; then
  ls "$prefix"/lib*/libphyflow_ml.so* >/dev/null
  "$prefix/bin/phyflow" run --help-deck train >"$prefix/train_keys.txt"
  grep -q "model.kind" "$prefix/train_keys.txt"
  grep -q "phyflow::ml" "$prefix"/lib*/cmake/phyflow/phyflowTargets.cmake
  # The program itself does not link LibTorch: a simulation never loads it.
  ldd "$prefix/bin/phyflow" >"$prefix/ldd.txt"
  if grep -q libtorch "$prefix/ldd.txt"; then
    echo "the installed phyflow links LibTorch"
    exit 1
  fi
fi
echo "1 passed, 0 failed"
