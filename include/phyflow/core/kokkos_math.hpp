// Math functions callable in Kokkos kernels on every back end, under one name for the two
// Kokkos generations phyflow builds against: Kokkos 3.x has them in Kokkos::Experimental,
// Kokkos 4 in Kokkos (and no longer in Experimental).
#pragma once

#include <Kokkos_Core.hpp>

namespace phyflow {
#if KOKKOS_VERSION >= 40000
namespace kmath = ::Kokkos;
#else
namespace kmath = ::Kokkos::Experimental;
#endif
}  // namespace phyflow
