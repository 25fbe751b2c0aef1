// InputFile: every way a file handed to phyflow can be wrong -- missing, a directory, garbage,
// truncated, an unfinished .partial, a dataset of the wrong dtype, rank or shape, a missing
// attribute -- gives an input error naming the file, the object, what was expected and found.
#include "io_test_support.hpp"

#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"

#include <filesystem>
#include <fstream>

namespace {

using namespace phyflow::io;
using namespace phyflow::io::testing;

/// A committed file with /t0/spins (int8 [3, 8, 12]), /t0/energy (float64 [3]) and groups
/// /t2, /t10 for the ordering test.
std::string make_file(const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name);
  OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
  const SampleBlock block = grid_block();
  AppendableDataset<std::int8_t> spins(file, "/t0/spins", sample_shape, block, "spins", "1");
  const auto local = local_samples(block, 0, 3);
  spins.append(local.data(), 3);
  const std::vector<double> e{1.0, 2.0, 3.0};
  file.write_array("/t0/energy", e.data(), {3}, "energy", "J");
  file.create_group("/t10");
  file.create_group("/t2");
  file.set_attribute("/t0", "temperature", 2.0);
  file.set_attribute("/t0", "algorithm", "metropolis");
  file.commit();
  return path;
}

TEST(InputFile, MissingFileSaysNoSuchFile) {
  TempDir dir;
  const std::string path = dir.file("absent.h5");
  EXPECT_EQ(error_message([&] { InputFile::open(path); }),
            "cannot open '" + path + "': no such file");
  // ... and mentions an unfinished partial of that name when there is one.
  { OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false); }
  const std::string message = error_message([&] { InputFile::open(path); });
  EXPECT_NE(message.find(path + ".partial' exists"), std::string::npos) << message;
}

TEST(InputFile, DirectoryIsNotAFile) {
  TempDir dir;
  const std::string message = error_message([&] { InputFile::open(dir.path()); });
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
}

TEST(InputFile, GarbageAndTruncatedFilesAreNotValidHdf5) {
  TempDir dir;
  const std::string garbage = dir.file("garbage.h5");
  const std::string good = make_file(dir, "good.h5");
  const std::string truncated = dir.file("truncated.h5");
  if (world_rank() == 0) {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 131) % 256));
    std::filesystem::copy_file(good, truncated);
    std::filesystem::resize_file(truncated, std::filesystem::file_size(good) / 2);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  for (const std::string& path : {garbage, truncated}) {
    const std::string message = error_message([&] { InputFile::open(path); });
    EXPECT_EQ(message.rfind("cannot read '" + path + "': HDF5 cannot open it", 0), 0u) << message;
    EXPECT_NE(message.find("the file is corrupt, truncated or not an HDF5 file"), std::string::npos)
        << message;
  }
  // Collective open over all ranks reaches the same verdict everywhere.
  const std::string message = error_message([&] { InputFile::open(garbage, MPI_COMM_WORLD); });
  EXPECT_NE(message.find("corrupt, truncated or not an HDF5 file"), std::string::npos) << message;
  EXPECT_NO_THROW(InputFile::open(good, MPI_COMM_WORLD));
}

TEST(InputFile, RefusesPartialFilesUnlessAllowed) {
  TempDir dir;
  const std::string path = dir.file("unfinished.h5");
  { OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false); }
  const std::string message = error_message([&] { InputFile::open(path + ".partial"); });
  EXPECT_NE(message.find("incomplete output"), std::string::npos) << message;
  EXPECT_NE(message.find("--restart"), std::string::npos) << message;
  EXPECT_NO_THROW(InputFile::open(path + ".partial", MPI_COMM_SELF, PartialFiles::allow));
}

TEST(InputFile, ExpectChecksDtypeRankAndShape) {
  TempDir dir;
  const std::string path = make_file(dir, "shapes.h5");
  const InputFile in = InputFile::open(path);
  EXPECT_NO_THROW(in.expect("/t0/spins", "int8", 3));
  EXPECT_NO_THROW(in.expect("/t0/spins", "int8", std::vector<std::int64_t>{-1, 8, 12}));
  EXPECT_NO_THROW(in.expect("t0/energy", "float64", std::vector<std::int64_t>{3}));

  std::string message = error_message([&] { in.expect("/t0/spins", "float64", 3); });
  EXPECT_NE(message.find("'" + path + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("'/t0/spins' is int8 [3, 8, 12], expected float64 [*, *, *]"),
            std::string::npos)
      << message;

  message = error_message([&] { in.expect("/t0/spins", "int8", 2); });
  EXPECT_NE(message.find("expected int8 [*, *] (rank 2)"), std::string::npos) << message;

  message = error_message([&] {
    in.expect("/t0/spins", "int8", std::vector<std::int64_t>{-1, 8, 13});
  });
  EXPECT_NE(message.find("expected int8 [*, 8, 13]"), std::string::npos) << message;

  message = error_message([&] { in.expect("/t9/spins", "int8", 3); });
  EXPECT_NE(message.find("has no dataset '/t9/spins'"), std::string::npos) << message;
  EXPECT_NE(message.find("phyflow inspect"), std::string::npos) << message;

  message = error_message([&] { in.expect("/t0", "int8", 3); });
  EXPECT_NE(message.find("'/t0' is a group"), std::string::npos) << message;
}

TEST(InputFile, ReadChecksTheElementType) {
  TempDir dir;
  const std::string path = make_file(dir, "types.h5");
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.read<double>("/t0/energy"), (std::vector<double>{1.0, 2.0, 3.0}));
  std::string message = error_message([&] { in.read<double>("/t0/spins"); });
  EXPECT_NE(message.find("is int8, cannot read it as float64"), std::string::npos) << message;
  message = error_message([&] { in.read<std::int8_t>("/nothing"); });
  EXPECT_NE(message.find("has no dataset '/nothing'"), std::string::npos) << message;
  EXPECT_NE(message.find("/t0/spins"), std::string::npos) << message;  // lists what is there
  message = error_message([&] {
    in.read_hyperslab<std::int8_t>("/t0/spins", {2, 0, 0}, {2, 8, 12});
  });
  EXPECT_NE(message.find("reaches outside"), std::string::npos) << message;
}

TEST(InputFile, AttributesAreCheckedByKind) {
  TempDir dir;
  const std::string path = make_file(dir, "attrs.h5");
  const InputFile in = InputFile::open(path);
  EXPECT_TRUE(in.has_attribute("/t0", "temperature"));
  EXPECT_FALSE(in.has_attribute("/t0", "beta"));
  std::string message = error_message([&] { in.attribute_double("/t0", "beta"); });
  EXPECT_NE(message.find("has no attribute 'beta'"), std::string::npos) << message;
  message = error_message([&] { in.attribute_double("/t0", "algorithm"); });
  EXPECT_NE(message.find("is string, expected one number"), std::string::npos) << message;
  message = error_message([&] { in.attribute_int("/t0", "temperature"); });
  EXPECT_NE(message.find("is float64, expected one integer"), std::string::npos) << message;
  message = error_message([&] { in.attribute_string("/t3", "x"); });
  EXPECT_NE(message.find("no group or dataset '/t3'"), std::string::npos) << message;
}

TEST(InputFile, ListsObjectsInNaturalOrder) {
  TempDir dir;
  const std::string path = make_file(dir, "tree.h5");
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.list_objects(),
            (std::vector<std::string>{"/t0", "/t0/energy", "/t0/spins", "/t2", "/t10"}));
  EXPECT_TRUE(in.is_group("/t10"));
  EXPECT_TRUE(in.is_dataset("/t0/spins"));
  EXPECT_FALSE(in.exists("/t0/spins/deeper"));
}

}  // namespace
