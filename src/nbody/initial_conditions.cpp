// Seed-style initial conditions from Philox (see the header for the counter layout).
#include "phyflow/nbody/initial_conditions.hpp"

#include <cmath>

#include "phyflow/core/portable_math.hpp"
#include "phyflow/core/rng.hpp"

namespace phyflow::nbody {

namespace {
constexpr std::uint32_t init_purpose = rng::purpose("nbody-init");
}  // namespace

void normal_pair(std::uint64_t seed, std::uint64_t index, std::uint64_t step, double* z4) {
  rng::normals4(rng::Stream(seed, init_purpose), index, step, z4);
}

void initial_bodies(ForceLaw law, std::uint64_t seed, int d, std::uint64_t sim,
                    std::uint64_t first_body, std::uint64_t count, double* out) {
  const int w = state_width(d);  // <= 8 normals per body: two normal_pair calls
  for (std::uint64_t b = 0; b < count; ++b) {
    const std::uint64_t body = first_body + b;
    double z[8];
    normal_pair(seed, sim, 2 * body, z);
    normal_pair(seed, sim, 2 * body + 1, z + 4);
    double* row = out + b * static_cast<std::uint64_t>(w);
    for (int k = 0; k < w; ++k) row[k] = z[k];
    row[w - 1] = pmath::exp(z[w - 1]);  // m = exp(N(0,1)) > 0, the same bits on any libm
    if (law == ForceLaw::charge) {
      const double q = z[w - 2];
      row[w - 2] = q > 0.0 ? 1.0 : (q < 0.0 ? -1.0 : 0.0);  // q = sign(N(0,1))
    }
  }
}

}  // namespace phyflow::nbody
