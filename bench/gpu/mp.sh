#!/usr/bin/env bash
# mp N cmd...: under mpiexec, or directly for one rank when mpiexec does not work (MPI_OK=0)
n="$1"; shift
if [ "${MPI_OK:-1}" = 1 ]; then exec $MPI -n "$n" "$@"; elif [ "$n" = 1 ]; then exec "$@"; else echo "no mpiexec"; exit 99; fi
