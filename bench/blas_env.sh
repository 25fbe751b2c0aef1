# Sourced by the bench scripts that time phyflow next to PyTorch-Python, after they set $exe:
# both sides run on the same OpenBLAS kernels. Where OpenBLAS chooses kernels below the CPU's
# (its generic Prescott ones on CPU models newer than the library), phyflow restarts itself
# with OPENBLAS_CORETYPE set (src/core/blas.cpp); here the variable is exported for every
# process of the script, the Python peer included. A value set by the caller stands.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  _kernels=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$exe" info 2>/dev/null |
    awk '$1 == "kernels" { print $2; exit }')
  if [ -n "$_kernels" ]; then export OPENBLAS_CORETYPE="$_kernels"; fi
  unset _kernels
fi
echo "OpenBLAS kernels: ${OPENBLAS_CORETYPE:-as the library chose}" >&2
