// Parallel HDF5 write throughput: all ranks append a [n, 1024, 1024] int8 dataset (one
// 1 MiB sample per append, each rank writing its row block) through phyflow::io, collectively,
// until `MiB` MiB are written, then commit. Compared with `dd` on the same disk by
// bench/h5_write_vs_dd.sh.
//   mpiexec -n 2 build/bench/h5_write_throughput /tmp/x.h5 1024
#include "phyflow/core/runtime.hpp"
#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/io/output_file.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  phyflow::Runtime rt(argc, argv);
  const std::string path = argc > 1 ? argv[1] : "h5_write_throughput.h5";
  const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
  const std::uint64_t batch = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 16;  // samples per append
  const std::uint64_t L = 1024;
  const std::uint64_t rows = L / std::uint64_t(rt.size());
  std::vector<std::int8_t> block(batch * rows * L);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = std::int8_t((i * 2654435761u) >> 29) | 1;

  MPI_Barrier(rt.comm());
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto file = phyflow::io::OutputFile::create(rt.comm(), path, /*overwrite=*/true);
    phyflow::io::AppendableDataset<std::int8_t> ds(
        file, "/spins", {L, L}, {std::uint64_t(rt.rank()) * rows, 0}, {rows, L},
        "benchmark data", "none", mib);
    for (std::uint64_t done = 0; done < mib; done += batch) ds.append(block.data(), std::min(batch, mib - done));
    file.commit();
  }
  MPI_Barrier(rt.comm());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rt.rank() == 0)
    std::printf("{\"ranks\": %d, \"MiB\": %llu, \"seconds\": %.3f, \"MiB_per_s\": %.1f}\n", rt.size(),
                (unsigned long long)mib, s, double(mib) / s);
  return 0;
}
