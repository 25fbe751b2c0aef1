// compare_datasets finds a single flipped byte, shape/dtype/attribute differences and missing
// objects, and calls two runs with the same data identical; inspect shows the tree, layout,
// provenance and correct summary statistics.
#include "io_test_support.hpp"

#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/io/compare.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/inspect.hpp"
#include "phyflow/io/output_file.hpp"

#include <hdf5.h>
#include <fstream>
#include <iostream>

namespace {

using namespace phyflow::io;
using namespace phyflow::io::testing;

struct Variant {
  double temperature = 2.0;
  bool extra_dataset = false;
  std::uint64_t samples = 4;
};

/// A small Ising-like output written from all ranks.
std::string make_output(const TempDir& dir, const std::string& name, const Variant& v = {}) {
  const std::string path = dir.file(name);
  OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
  file.write_provenance({"ising", "workflow: ising\nseed: 7\n", "workflow: ising\nseed: 7\n", 7});
  file.create_group("/t0");
  file.set_attribute("/t0", "temperature", v.temperature);
  const SampleBlock block = grid_block();
  AppendableDataset<std::int8_t> spins(file, "/t0/spins", sample_shape, block, "spin configuration",
                                       "spin (+1/-1)");
  std::vector<std::int8_t> local = local_samples(block, 0, v.samples);
  for (auto& x : local) x = x >= 0 ? 1 : -1;
  spins.append(local.data(), v.samples);
  std::vector<double> energy;
  for (int i = 1; i <= 10; ++i) energy.push_back(i);
  file.write_array("/t0/energy", energy.data(), {10}, "total energy", "J");
  if (v.extra_dataset) file.write_array("/t0/extra", energy.data(), {10}, "extra", "1");
  file.commit();
  return path;
}

/// Flips one bit of the byte `index` bytes into the stored data of a contiguous dataset.
void flip_stored_byte(const std::string& path, const std::string& dataset, std::uint64_t index) {
  if (world_rank() == 0) {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
    const haddr_t offset = H5Dget_offset(d);  // contiguous layout: the data's file address
    H5Dclose(d);
    H5Fclose(f);
    ASSERT_NE(offset, HADDR_UNDEF);
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset + index));
    char byte = 0;
    file.get(byte);
    file.seekp(static_cast<std::streamoff>(offset + index));
    file.put(static_cast<char>(byte ^ 0x01));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(CompareDatasets, IdenticalDataIsIdenticalDespiteVolatileProvenance) {
  TempDir dir;
  const std::string a = make_output(dir, "a.h5");
  const std::string b = make_output(dir, "b.h5");
  EXPECT_EQ(compare_datasets(a, b), std::vector<std::string>{});
  EXPECT_EQ(compare_datasets(a, a), std::vector<std::string>{});
  // Not ignoring the volatile attributes, the creation time may differ but nothing else does.
  CompareOptions strict;
  strict.ignored_root_attributes.clear();
  for (const std::string& line : compare_datasets(a, b, strict))
    EXPECT_NE(line.find("@created_utc"), std::string::npos) << line;
}

TEST(CompareDatasets, FindsASingleFlippedByte) {
  TempDir dir;
  const std::string a = make_output(dir, "a.h5");
  const std::string b = make_output(dir, "b.h5");
  flip_stored_byte(b, "/t0/energy", 8 * 3 + 7);  // the sign/exponent byte of element 3
  const auto diffs = compare_datasets(a, b);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_NE(diffs[0].find("dataset '/t0/energy': 1 of 10 elements differ; first at [3]"),
            std::string::npos)
      << diffs[0];
}

#if H5_VERSION_GE(1, 10, 5)
TEST(CompareDatasets, FindsAFlippedByteInAChunkedDataset) {
  TempDir dir;
  const std::string a = make_output(dir, "a.h5");
  const std::string b = make_output(dir, "b.h5");
  if (world_rank() == 0) {
    const hid_t f = H5Fopen(b.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/t0/spins", H5P_DEFAULT);
    const hsize_t origin[3] = {0, 0, 0};
    unsigned filter_mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t size = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(d, origin, &filter_mask, &address, &size), 0);
    H5Dclose(d);
    H5Fclose(f);
    // Element [1, 2, 3] of the first chunk (whole samples, C order).
    std::fstream file(b, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = static_cast<std::streamoff>(address + 96 + 2 * 12 + 3);
    file.seekg(at);
    char byte = 0;
    file.get(byte);
    file.seekp(at);
    file.put(static_cast<char>(-byte));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const auto diffs = compare_datasets(a, b);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_NE(diffs[0].find("dataset '/t0/spins': 1 of 384 elements differ; first at [1, 2, 3]"),
            std::string::npos)
      << diffs[0];
}
#endif

TEST(CompareDatasets, ReportsShapeAttributeAndMembershipDifferences) {
  TempDir dir;
  const std::string a = make_output(dir, "a.h5");
  Variant v;
  v.temperature = 2.5;
  v.extra_dataset = true;
  v.samples = 5;
  const std::string b = make_output(dir, "b.h5", v);
  const auto diffs = compare_datasets(a, b);
  auto has = [&](const std::string& text) {
    for (const auto& d : diffs)
      if (d.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("'/t0/extra': only in " + b));
  EXPECT_TRUE(has("dataset '/t0/spins': shape [4, 8, 12] vs [5, 8, 12]"));
  EXPECT_TRUE(has("attribute '/t0@temperature': 2 vs 2.5"));
  EXPECT_EQ(diffs.size(), 3u);
  if (diffs.size() != 3)
    for (const auto& d : diffs) ADD_FAILURE() << "difference: " << d;
}

TEST(Inspect, ShowsLayoutProvenanceAndStatistics) {
  TempDir dir;
  const std::string path = make_output(dir, "inspect.h5");
  const std::string text = inspect(path);
  auto contains = [&](const std::string& s) {
    EXPECT_NE(text.find(s), std::string::npos) << "missing '" << s << "' in:\n" << text;
  };
  contains("status   complete");
  contains("workflow         ising");
  contains("seed             7");
  contains("mpi_ranks        " + std::to_string(world_size()));
  contains("  deck:\n    | workflow: ising\n    | seed: 7\n");
  contains("/t0/spins   int8    [4, 8, 12]  chunks [10922, 8, 12]  extendible");
  contains("meaning      spin configuration");
  contains("units        spin (+1/-1)");
  contains("/t0/energy  float64 [10]");
  // 1..10: mean 5.5, population std sqrt(8.25).
  contains("stats        count 10  mean 5.5  std 2.87228  min 1  max 10");
  contains("values       -1: ");
  contains("temperature  2");
  if (world_rank() == 0 && ::testing::Test::HasFailure()) std::cout << text;
}

TEST(Inspect, FlagsPartialFilesAsIncomplete) {
  TempDir dir;
  const std::string path = dir.file("running.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    file.create_group("/t0");
  }
  const std::string text = inspect(path + ".partial");
  EXPECT_NE(text.find("INCOMPLETE"), std::string::npos) << text;
  EXPECT_NE(text.find("/t0  group"), std::string::npos) << text;
}

}  // namespace
