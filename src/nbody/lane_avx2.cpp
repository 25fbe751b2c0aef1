// The pack kernels with 4 lanes compiled for AVX2 (see lane_isa.hpp).
#include "lane_isa.hpp"

#if PHYFLOW_NBODY_LANE_DISPATCH
PHYFLOW_NBODY_PACKS_FOR_TARGET(avx2, 4, "avx2")
#endif
