// The pack kernels with 8 lanes compiled for AVX-512 F (see lane_isa.hpp).
#include "lane_isa.hpp"

#if PHYFLOW_NBODY_LANE_DISPATCH
PHYFLOW_NBODY_PACKS_FOR_TARGET(avx512, 8, "avx512f")
#endif
