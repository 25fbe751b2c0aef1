// Writes a small N-body-layout HDF5 file with known values (tests/support/nbody_layout_fixture.hpp)
// for tests/workflows/test_export_npy.sh.
// Usage: nbody_layout_file PATH KIND [PATH KIND ...]   (KIND: complete | mismatched_nt |
// no_accel | partial | other_workflow); run it as a single process. Several files per call,
// because every start of an MPI program costs a second or two.
#include <cstdio>
#include <map>
#include <string>

#include "../support/nbody_layout_fixture.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/runtime.hpp"

int main(int argc, char** argv) {
  phyflow::Runtime runtime(argc, argv);
  using Kind = phyflow::testing::NbodyFixtureKind;
  const std::map<std::string, Kind> kinds = {{"complete", Kind::complete},
                                             {"mismatched_nt", Kind::mismatched_nt},
                                             {"no_accel", Kind::no_accel},
                                             {"partial", Kind::partial},
                                             {"other_workflow", Kind::other_workflow}};
  bool usable = argc >= 3 && argc % 2 == 1;
  for (int i = 2; usable && i < argc; i += 2) usable = kinds.count(argv[i]) > 0;
  if (!usable) {
    std::fprintf(stderr,
                 "usage: nbody_layout_file PATH KIND [PATH KIND ...], KIND one of complete, "
                 "mismatched_nt, no_accel, partial, other_workflow\n");
    return 2;
  }
  try {
    for (int i = 1; i < argc; i += 2)
      phyflow::testing::write_nbody_fixture(runtime.comm(), argv[i], kinds.at(argv[i + 1]));
  } catch (const phyflow::Error& e) {
    std::fprintf(stderr, "nbody_layout_file: %s\n", e.what());
    return 1;
  }
  return 0;
}
