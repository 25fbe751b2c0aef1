// Checkerboard Monte Carlo sweeps of the Ising model H = -J sum_<ij> s_i s_j - h sum_i s_i at
// inverse temperature beta. A sweep updates colour 0, exchanges its halo, then colour 1; the
// random word of a site is Philox(seed, purpose) at counter (compact index / 4, 2*sweep + colour),
// lane compact index % 4 (compact index: checkerboard_layout.hpp), so a sweep gives the same
// configuration on any number of ranks. Accept/reject compares the word with integer
// thresholds (phyflow::rng::threshold32) tabulated per (spin, neighbour sum): exact decisions.
#pragma once

#include "phyflow/lattice/spin_field.hpp"

#include <cstdint>

namespace phyflow::lattice {

struct IsingCouplings {
  double J = 1.0;
  double h = 0.0;
  double beta = 0.0;
};

/// Integer acceptance thresholds of one update rule for d = 2 and 3. Entry
/// index(s, nsum) = (s > 0) * (2d + 1) + (nsum + 2d) / 2; the site takes the "accepted" outcome
/// when word < below[index] or always[index] is set (probability 1 is 2^32, which does not fit
/// a 32-bit threshold).
struct IsingThresholds {
  static constexpr int max_entries = 14;  ///< 2 * (2d + 1) for d = 3
  std::uint32_t below[max_entries] = {};
  std::uint32_t always[max_entries] = {};  ///< 0 or 0xffffffff
};

/// Thresholds of the Metropolis flip (the accepted outcome is s -> -s) for dimension d <= 3.
IsingThresholds metropolis_thresholds(const IsingCouplings& couplings, int d);
/// Thresholds of the heat-bath outcome s = +1 for dimension d <= 3 (same for both old spins).
IsingThresholds heat_bath_thresholds(const IsingCouplings& couplings, int d);

enum class IsingUpdateRule {
  metropolis,  ///< flip with probability min(1, exp(-beta dE)), dE = 2 s (J nsum + h); purpose
               ///< "metropolis"
  heat_bath,   ///< s = +1 with probability 1 / (1 + exp(-2 beta (J nsum + h))), else -1;
               ///< purpose "heatbath"
};

/// A checkerboard sweep with one of the rules above.
template <IsingUpdateRule Rule>
class CheckerboardUpdate {
 public:
  explicit CheckerboardUpdate(const IsingCouplings& couplings);
  const IsingCouplings& couplings() const { return couplings_; }
  /// One sweep (colour 0, its halo, colour 1, its halo); the halo is valid afterwards.
  void sweep(SpinField& field, std::uint64_t seed, std::uint64_t sweep_index) const;
  /// Thresholds for dimension d, indexed as documented at IsingThresholds.
  const IsingThresholds& thresholds(int d) const { return thresholds_[d == 3]; }

 private:
  IsingCouplings couplings_;
  IsingThresholds thresholds_[2];
};

using CheckerboardMetropolis = CheckerboardUpdate<IsingUpdateRule::metropolis>;
using CheckerboardHeatBath = CheckerboardUpdate<IsingUpdateRule::heat_bath>;

}  // namespace phyflow::lattice
