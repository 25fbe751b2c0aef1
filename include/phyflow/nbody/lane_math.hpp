// Elementwise math for the force-law functors, so that one functor serves both a single
// double (PETSc's right-hand side, the host helpers, the large system, GPU threads) and a
// pack of simulations side by side in SIMD lanes (the host ensemble kernel, see
// src/nbody/lanes.hpp). A pack type is a compiler vector (GCC/Clang vector_size) of doubles:
// + - * / and comparisons act lane by lane, and the functions below apply the scalar function
// to each lane, so every lane computes bit for bit what the scalar code computes for the same
// simulation (IEEE +, -, *, / and sqrt are correctly rounded either way; the build turns
// floating-point contraction off so no lane fuses a multiply-add that the scalar path does
// not). log and pow are phyflow's portable ones (core/portable_math.hpp), not libm's, so a GPU
// computes the same bits as the host.
#pragma once

#include <Kokkos_Core.hpp>
#include <cmath>
#include <type_traits>

#include "phyflow/core/portable_math.hpp"

namespace phyflow::nbody::lanes {

/// Number of doubles in T: 1 for double, L for a pack of L lanes.
template <class T>
inline constexpr int width = static_cast<int>(sizeof(T) / sizeof(double));

/// Lane l of a pack (or the double itself).
template <class T>
KOKKOS_INLINE_FUNCTION double& lane(T& v, int l) {
  if constexpr (std::is_same_v<T, double>) {
    (void)l;
    return v;
  } else {
    return reinterpret_cast<double*>(&v)[l];  // vector types alias their element type
  }
}
template <class T>
KOKKOS_INLINE_FUNCTION double lane(const T& v, int l) {
  if constexpr (std::is_same_v<T, double>) {
    (void)l;
    return v;
  } else {
    return reinterpret_cast<const double*>(&v)[l];
  }
}

/// x in every lane (sign of zero kept, unlike T{} + x).
template <class T>
KOKKOS_INLINE_FUNCTION T broadcast(double x) {
  if constexpr (std::is_same_v<T, double>) {
    return x;
  } else {
    T r;
    for (int l = 0; l < width<T>; ++l) lane(r, l) = x;
    return r;
  }
}

/// `mask ? a : b` lane by lane (a plain conditional for double).
template <class M, class T>
KOKKOS_INLINE_FUNCTION T select(const M& mask, const T& a, const T& b) {
  return mask ? a : b;
}

template <class T>
KOKKOS_INLINE_FUNCTION T sqrt(const T& x) {
  if constexpr (std::is_same_v<T, double>) {
    return std::sqrt(x);
  } else {
    T r;  // vectorised to one SIMD square root by the compiler (needs -fno-math-errno)
    for (int l = 0; l < width<T>; ++l) lane(r, l) = std::sqrt(lane(x, l));
    return r;
  }
}

template <class T>
KOKKOS_INLINE_FUNCTION T log(const T& x) {
  if constexpr (std::is_same_v<T, double>) {
    return pmath::log(x);
  } else {
    T r;
    for (int l = 0; l < width<T>; ++l) lane(r, l) = pmath::log(lane(x, l));
    return r;
  }
}

template <class T>
KOKKOS_INLINE_FUNCTION T pow(const T& x, double p) {
  if constexpr (std::is_same_v<T, double>) {
    return pmath::pow(x, p);
  } else {
    T r;
    for (int l = 0; l < width<T>; ++l) lane(r, l) = pmath::pow(lane(x, l), p);
    return r;
  }
}

}  // namespace phyflow::nbody::lanes
