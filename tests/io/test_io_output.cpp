// OutputFile and AppendableDataset on 1, 2 and 4 ranks: collective appends of a 2-D decomposed
// int8 dataset read back exactly, chunking, the .partial/commit protocol, overwrite rules,
// unwritable paths, provenance, restart (reopen + truncate + append) and checkpoint replacement.
#include "io_test_support.hpp"

#include "phyflow/core/build_info.hpp"
#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/io/compare.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"

#include <hdf5.h>
#include <regex>

namespace {

using namespace phyflow::io;
using namespace phyflow::io::testing;
using phyflow::ExitCode;

/// Writes `batches` of samples of the test dataset into `path` (not committed).
void write_spins(OutputFile& file, const std::string& dataset,
                 const std::vector<std::uint64_t>& batches, std::uint64_t samples_hint = 0) {
  const SampleBlock block = grid_block();
  AppendableDataset<std::int8_t> spins(file, dataset, sample_shape, block, "test spins",
                                       "spin (+1/-1)", samples_hint);
  std::uint64_t done = 0;
  for (std::uint64_t n : batches) {
    const auto local = local_samples(block, done, n);
    spins.append(local.data(), n);
    done += n;
    EXPECT_EQ(spins.size(), done);
  }
}

TEST(OutputFile, CollectiveAppendOfDecomposedDatasetReadsBackExactly) {
  TempDir dir;
  const std::string path = dir.file("spins.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    write_spins(file, "/t0/spins", {1, 4, 2});  // several batches, different sizes
    file.commit();
  }
  // Every rank reads the whole file back on its own.
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.read<std::int8_t>("/t0/spins"), global_samples(7));
  const DatasetInfo info = in.info("/t0/spins");
  EXPECT_EQ(info.dtype, "int8");
  EXPECT_EQ(info.shape, (std::vector<std::uint64_t>{7, 8, 12}));
  EXPECT_TRUE(info.extendible);
  EXPECT_EQ(in.attribute_string("/t0/spins", "meaning"), "test spins");
  EXPECT_EQ(in.attribute_string("/t0/spins", "units"), "spin (+1/-1)");
  // A sub-block as a reader on one rank of a later job would ask for it.
  const auto box = in.read_hyperslab<std::int8_t>("/t0/spins", {2, 3, 4}, {2, 2, 3});
  std::vector<std::int8_t> expected;
  for (std::uint64_t s = 2; s < 4; ++s)
    for (std::uint64_t i = 3; i < 5; ++i)
      for (std::uint64_t j = 4; j < 7; ++j) expected.push_back(element(s, i, j));
  EXPECT_EQ(box, expected);
}

TEST(OutputFile, ChunksHoldWholeSamplesAlongTheSampleAxis) {
  TempDir dir;
  const std::string path = dir.file("chunks.h5");
  ParallelIOConfig config;
  config.chunk_bytes = 10 * 96;  // ten 8x12 int8 samples per chunk
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false, config);
    write_spins(file, "/a", {3});
    write_spins(file, "/b", {3}, 4);  // the hint caps the chunk at 4 samples
    write_spins(file, "/c", {1});     // default config below
    file.commit();
  }
  {
    // The raw HDF5 view, independent of our reader.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t d = H5Dopen2(f, "/a", H5P_DEFAULT);
    const hid_t dcpl = H5Dget_create_plist(d);
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
    hsize_t chunk[3] = {0, 0, 0};
    EXPECT_EQ(H5Pget_chunk(dcpl, 3, chunk), 3);
    EXPECT_EQ(chunk[0], 10u);
    EXPECT_EQ(chunk[1], 8u);
    EXPECT_EQ(chunk[2], 12u);
    H5D_fill_time_t fill_time{};
    H5Pget_fill_time(dcpl, &fill_time);
    EXPECT_EQ(fill_time, H5D_FILL_TIME_NEVER);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
  }
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.info("/b").chunk, (std::vector<std::uint64_t>{4, 8, 12}));
  EXPECT_EQ(samples_per_chunk(96, std::size_t{1} << 20), (1u << 20) / 96);
  EXPECT_EQ(samples_per_chunk(std::uint64_t{3} << 20, std::size_t{1} << 20), 1u);  // >= 1
  EXPECT_EQ(samples_per_chunk(8, std::size_t{1} << 20, 100), 100u);
}

TEST(OutputFile, ScalarSeriesWrittenByOneRankAndOtherElementTypes) {
  TempDir dir;
  const std::string path = dir.file("series.h5");
  const int rank = world_rank();
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    AppendableDataset<double> energy(file, "/t0/energy", {}, SampleBlock::whole_if(rank == 0, {}),
                                     "total energy", "J");
    AppendableDataset<std::int64_t> steps(file, "/t0/step", {},
                                          SampleBlock::whole_if(rank == 0, {}), "sweep", "1");
    AppendableDataset<float> pair(file, "/t0/pair", {2}, SampleBlock::whole_if(rank == 0, {2}),
                                  "a pair", "1");
    AppendableDataset<std::int32_t> counts(file, "/t0/counts", {2},
                                           SampleBlock::whole_if(rank == 0, {2}), "counts", "1");
    const std::vector<double> e{-1.5, 2.25, 1e300};
    const std::vector<std::int64_t> s{1, 1ll << 40, -7};
    const std::vector<float> p{0.5f, -0.25f, 3.0f, 4.0f};
    const std::vector<std::int32_t> c{1, -2, 3, -4};
    energy.append(rank == 0 ? e.data() : nullptr, 3);
    steps.append(rank == 0 ? s.data() : nullptr, 3);
    pair.append(rank == 0 ? p.data() : nullptr, 2);
    counts.append(rank == 0 ? c.data() : nullptr, 2);
    const std::vector<double> small{1.0, 2.0, 3.0, 4.0};
    file.write_array("/t0/table", small.data(), {2, 2}, "a small table", "m");
    const std::vector<std::int64_t> nothing;
    file.write_array("/t0/empty", nothing.data(), {0}, "no entries yet", "1");
    const double pi = 3.14159;
    file.write_array("/t0/scalar", &pi, {}, "a scalar", "1");
    file.commit();
  }
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.read<double>("/t0/energy"), (std::vector<double>{-1.5, 2.25, 1e300}));
  EXPECT_EQ(in.read<std::int64_t>("/t0/step"), (std::vector<std::int64_t>{1, 1ll << 40, -7}));
  EXPECT_EQ(in.read<float>("/t0/pair"), (std::vector<float>{0.5f, -0.25f, 3.0f, 4.0f}));
  EXPECT_EQ(in.read<std::int32_t>("/t0/counts"), (std::vector<std::int32_t>{1, -2, 3, -4}));
  EXPECT_EQ(in.read<double>("/t0/table"), (std::vector<double>{1.0, 2.0, 3.0, 4.0}));
  EXPECT_EQ(in.info("/t0/table").shape, (std::vector<std::uint64_t>{2, 2}));
  EXPECT_FALSE(in.info("/t0/table").extendible);
  EXPECT_EQ(in.attribute_string("/t0/table", "units"), "m");
  EXPECT_TRUE(in.read<std::int64_t>("/t0/empty").empty());
  EXPECT_EQ(in.info("/t0/empty").shape, std::vector<std::uint64_t>{0});
  EXPECT_EQ(in.read<double>("/t0/scalar"), std::vector<double>{3.14159});
  EXPECT_TRUE(in.info("/t0/scalar").shape.empty());
}

TEST(OutputFile, WritesPartialAndRenamesOnlyOnCommit) {
  TempDir dir;
  const std::string path = dir.file("out.h5");
  OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.partial_path(), path + ".partial");
  write_spins(file, "/spins", {2});
  file.flush();
  EXPECT_TRUE(file_exists(path + ".partial"));
  EXPECT_FALSE(file_exists(path));
  MPI_Barrier(MPI_COMM_WORLD);  // nobody commits before everyone looked
  file.commit();
  // commit returns on every rank only once the rename is done.
  EXPECT_TRUE(file_exists(path));
  EXPECT_FALSE(file_exists(path + ".partial"));
  EXPECT_FALSE(file.is_open());
  // Using the file after commit is a clear error, not a crash.
  const std::string message =
      error_message([&] { file.create_group("/late"); }, ExitCode::runtime_failure);
  EXPECT_NE(message.find("committed"), std::string::npos) << message;
}

TEST(OutputFile, DestructorWithoutCommitLeavesOnlyThePartialFile) {
  TempDir dir;
  const std::string path = dir.file("interrupted.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    write_spins(file, "/spins", {3});
  }
  EXPECT_FALSE(file_exists(path));
  ASSERT_TRUE(file_exists(path + ".partial"));
  // Closed cleanly, so it is a readable HDF5 file -- but only when asked for explicitly.
  const InputFile in = InputFile::open(path + ".partial", MPI_COMM_SELF, PartialFiles::allow);
  EXPECT_EQ(in.read<std::int8_t>("/spins"), global_samples(3));
}

TEST(OutputFile, RefusesToOverwriteUnlessAskedAndReplacesOnlyAtCommit) {
  TempDir dir;
  const std::string path = dir.file("result.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    file.set_attribute("/", "generation", 1);
    file.commit();
  }
  const std::string message =
      error_message([&] { OutputFile::create(MPI_COMM_WORLD, path, false); });
  EXPECT_EQ(message, "output '" + path +
                         "' exists; pass --overwrite to replace it or choose another output.path");
  EXPECT_FALSE(file_exists(path + ".partial"));

  OutputFile again = OutputFile::create(MPI_COMM_WORLD, path, true);
  again.set_attribute("/", "generation", 2);
  again.flush();
  // Until commit the old, complete result is still the one under the final name.
  EXPECT_EQ(InputFile::open(path).attribute_int("/", "generation"), 1);
  MPI_Barrier(MPI_COMM_WORLD);
  again.commit();
  EXPECT_EQ(InputFile::open(path).attribute_int("/", "generation"), 2);
}

TEST(OutputFile, RefusesStalePartialFileWithRestartAdvice) {
  TempDir dir;
  const std::string path = dir.file("stale.h5");
  { OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false); }
  ASSERT_TRUE(file_exists(path + ".partial"));
  const std::string message =
      error_message([&] { OutputFile::create(MPI_COMM_WORLD, path, false); });
  EXPECT_NE(message.find(path + ".partial"), std::string::npos) << message;
  EXPECT_NE(message.find("interrupted"), std::string::npos) << message;
  EXPECT_NE(message.find("--restart"), std::string::npos) << message;
  EXPECT_NE(message.find("--overwrite"), std::string::npos) << message;
  OutputFile fresh = OutputFile::create(MPI_COMM_WORLD, path, true);  // --overwrite starts over
  fresh.commit();
  EXPECT_TRUE(file_exists(path));
}

TEST(OutputFile, UnwritableLocationsAreInputErrorsNamingThePath) {
  TempDir dir;
  const std::string missing = dir.file("no/such/dir/out.h5");
  std::string message = error_message([&] { OutputFile::create(MPI_COMM_WORLD, missing, false); });
  EXPECT_NE(message.find("'" + missing + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_NE(message.find("output.path"), std::string::npos) << message;

  // /proc refuses new files even for root, for whom permission bits mean nothing.
  message = error_message([&] { OutputFile::create(MPI_COMM_WORLD, "/proc/out.h5", false); });
  EXPECT_NE(message.find("'/proc/out.h5'"), std::string::npos) << message;
  EXPECT_NE(message.find("not writable"), std::string::npos) << message;
  EXPECT_FALSE(file_exists("/proc/out.h5.partial"));

  message = error_message([&] { OutputFile::create(MPI_COMM_WORLD, dir.path(), false); });
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
}

TEST(OutputFile, ProvenanceAttributesAreOnTheRoot) {
  TempDir dir;
  const std::string path = dir.file("prov.h5");
  const std::uint64_t seed = (std::uint64_t{1} << 63) + 5;  // needs all 64 unsigned bits
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    file.write_provenance({"ising", "workflow: ising\nseed: 42\n",
                           "workflow: ising\nseed: 42\n"
                           "lattice: {dims: 2, L: 16}\n",
                           seed});
    file.commit();
  }
  const InputFile in = InputFile::open(path);
  for (const std::string& name : provenance_attribute_names())
    EXPECT_TRUE(in.has_attribute("/", name)) << name;
  EXPECT_EQ(in.attribute_string("/", "phyflow_version"), PHYFLOW_VERSION);
  EXPECT_EQ(in.attribute_string("/", "git_sha"), PHYFLOW_GIT_SHA);
  EXPECT_EQ(in.attribute_string("/", "workflow"), "ising");
  EXPECT_EQ(in.attribute_string("/", "deck"), "workflow: ising\nseed: 42\n");
  EXPECT_NE(in.attribute_string("/", "deck_resolved").find("L: 16"), std::string::npos);
  EXPECT_EQ(in.attribute_uint("/", "seed"), seed);
  EXPECT_EQ(in.attribute_int("/", "mpi_ranks"), world_size());
  EXPECT_FALSE(in.attribute_string("/", "kokkos_backend").empty());
  EXPECT_TRUE(std::regex_match(in.attribute_string("/", "created_utc"),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  EXPECT_EQ(in.attribute_string("/", "hdf5_version"),
            std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release));
}

TEST(OutputFile, DeckTextLongerThan64KiBIsStored) {
  // Compact attribute storage ends at 64 KiB; the file format must allow dense storage.
  TempDir dir;
  const std::string path = dir.file("long.h5");
  std::string deck;
  for (int i = 0; deck.size() < 150000; ++i) deck += "# line " + std::to_string(i) + "\n";
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    file.write_provenance({"ising", deck, deck, 1});
    file.commit();
  }
  EXPECT_EQ(InputFile::open(path).attribute_string("/", "deck"), deck);
}

TEST(OutputFile, EveryTransferAndMetadataModeWritesTheSameData) {
  TempDir dir;
  const std::string reference = dir.file("reference.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, reference, false);
    write_spins(file, "/spins", {2, 3});
    file.commit();
  }
  for (int mode = 0; mode < 3; ++mode) {
    ParallelIOConfig config;
    config.collective_transfer = mode != 1;
    config.collective_metadata = mode != 2;
    config.alignment_threshold = 1;
    config.alignment = 4096;
    const std::string path = dir.file("mode" + std::to_string(mode) + ".h5");
    {
      OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false, config);
      write_spins(file, "/spins", {2, 3});
      file.commit();
    }
    EXPECT_EQ(compare_datasets(reference, path), std::vector<std::string>{}) << "mode " << mode;
#if H5_VERSION_GE(1, 10, 5)
    // The alignment knob reached the file: the chunk starts on a 4 KiB boundary.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/spins", H5P_DEFAULT);
    const hsize_t origin[3] = {0, 0, 0};
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t size = 0;
    EXPECT_GE(H5Dget_chunk_info_by_coord(d, origin, &mask, &address, &size), 0);
    EXPECT_EQ(address % 4096, 0u) << address;
    H5Dclose(d);
    H5Fclose(f);
#endif
  }
}

TEST(OutputFile, AttributesOfEveryKindRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("attrs.h5");
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    file.create_group("/t0/sub");  // intermediate groups too
    EXPECT_TRUE(file.exists("/t0"));
    EXPECT_TRUE(file.exists("t0/sub"));
    EXPECT_FALSE(file.exists("/t1/sub"));
    file.create_group("/t0");  // existing: fine
    file.set_attribute("/t0", "temperature", 2.269);
    file.set_attribute("/t0", "temperature", 2.5);  // replaced, not duplicated
    file.set_attribute("/t0", "L", 16);
    file.set_attribute("/t0", "sweeps", std::uint64_t{1000});
    file.set_attribute("/t0", "algorithm", "metropolis");
    file.set_attribute("/t0", "empty", std::string());
    file.set_attribute("/t0/sub", "betas", std::vector<double>{0.5, 0.25});
    file.set_attribute("/t0/sub", "dims", std::vector<int>{16, 16});
    const std::string message =
        error_message([&] { file.set_attribute("/nope", "x", 1); }, ExitCode::runtime_failure);
    EXPECT_NE(message.find("'/nope'"), std::string::npos) << message;
    file.commit();
  }
  const InputFile in = InputFile::open(path);
  EXPECT_DOUBLE_EQ(in.attribute_double("/t0", "temperature"), 2.5);
  EXPECT_EQ(in.attribute_int("/t0", "L"), 16);
  EXPECT_DOUBLE_EQ(in.attribute_double("/t0", "L"), 16.0);
  EXPECT_EQ(in.attribute_uint("/t0", "sweeps"), 1000u);
  EXPECT_EQ(in.attribute_string("/t0", "algorithm"), "metropolis");
  EXPECT_EQ(in.attribute_string("/t0", "empty"), "");
  EXPECT_EQ(in.attribute_doubles("/t0/sub", "betas"), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(in.attribute_ints("/t0/sub", "dims"), (std::vector<std::int64_t>{16, 16}));
  EXPECT_EQ(in.attribute_names("/t0"),
            (std::vector<std::string>{"L", "algorithm", "empty", "sweeps", "temperature"}));
}

TEST(OutputFile, RestartReopensTruncatesAndContinuesIdentically) {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  const std::string reference = dir.file("reference.h5");
  const int rank = world_rank();
  const SampleBlock block = grid_block();
  const SampleBlock scalar = SampleBlock::whole_if(rank == 0, {});
  std::vector<double> energies;
  for (int s = 0; s < 7; ++s) energies.push_back(-2.0 * s + 0.125);
  // The interrupted run: 5 samples written, but its checkpoint was taken at 3.
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    AppendableDataset<std::int8_t> spins(file, "/t0/spins", sample_shape, block, "spins", "1");
    AppendableDataset<double> energy(file, "/t0/energy", {}, scalar, "energy", "J");
    const auto local = local_samples(block, 0, 5);
    spins.append(local.data(), 5);
    energy.append(energies.data(), 5);
    file.flush();
  }
  // The restart.
  {
    OutputFile file = OutputFile::reopen_partial(MPI_COMM_WORLD, path);
    auto spins = AppendableDataset<std::int8_t>::open(file, "/t0/spins", block.offset, block.count);
    auto energy = AppendableDataset<double>::open(file, "/t0/energy", scalar);
    EXPECT_EQ(spins.size(), 5u);
    EXPECT_EQ(spins.sample_shape(), sample_shape);
    spins.truncate(3);
    energy.truncate(3);
    EXPECT_EQ(spins.size(), 3u);
    const auto local = local_samples(block, 3, 4);
    spins.append(local.data(), 4);
    energy.append(energies.data() + 3, 4);
    file.commit();
  }
  // The uninterrupted run.
  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, reference, false);
    AppendableDataset<std::int8_t> spins(file, "/t0/spins", sample_shape, block, "spins", "1");
    AppendableDataset<double> energy(file, "/t0/energy", {}, scalar, "energy", "J");
    const auto local = local_samples(block, 0, 7);
    spins.append(local.data(), 7);
    energy.append(energies.data(), 7);
    file.commit();
  }
  const InputFile in = InputFile::open(path);
  EXPECT_EQ(in.read<std::int8_t>("/t0/spins"), global_samples(7));
  EXPECT_EQ(in.read<double>("/t0/energy"), energies);
  EXPECT_TRUE(compare_datasets(path, reference).empty());
}

TEST(OutputFile, RestartWithoutPartialOrWithWrongDatasetIsAnInputError) {
  TempDir dir;
  const std::string path = dir.file("never.h5");
  std::string message = error_message([&] { OutputFile::reopen_partial(MPI_COMM_WORLD, path); });
  EXPECT_NE(message.find(path + ".partial"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;

  {
    OutputFile file = OutputFile::create(MPI_COMM_WORLD, path, false);
    write_spins(file, "/s", {1});
  }
  OutputFile file = OutputFile::reopen_partial(MPI_COMM_WORLD, path);
  message = error_message([&] {
    AppendableDataset<double>::open(file, "/s", SampleBlock::whole_if(true, {8, 12}));
  });
  EXPECT_NE(message.find("int8"), std::string::npos) << message;
  message =
      error_message([&] { AppendableDataset<std::int8_t>::open(file, "/missing", grid_block()); });
  EXPECT_NE(message.find("'/missing'"), std::string::npos) << message;
}

TEST(OutputFile, CheckpointCommitReplacesThePreviousOneAtomically) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt.h5");
  for (int step = 1; step <= 3; ++step) {
    OutputFile ckpt = OutputFile::create(MPI_COMM_WORLD, path, /*overwrite=*/true);
    ckpt.set_attribute("/", "step", step);
    write_spins(ckpt, "/spins", {static_cast<std::uint64_t>(step)});
    ckpt.commit();
    const InputFile in = InputFile::open(path);
    EXPECT_EQ(in.attribute_int("/", "step"), step);
    EXPECT_EQ(in.info("/spins").shape[0], static_cast<std::uint64_t>(step));
    EXPECT_FALSE(file_exists(path + ".partial"));
    MPI_Barrier(MPI_COMM_WORLD);  // all have read it before the next one replaces it
  }
}

TEST(AppendableDataset, MisuseIsCaughtOnEveryRank) {
  TempDir dir;
  OutputFile file = OutputFile::create(MPI_COMM_WORLD, dir.file("misuse.h5"), false);
  // Every rank claiming the whole sample: overlapping blocks when there are several ranks,
  // and a scalar series written by more than one rank.
  if (world_size() > 1) {
    std::string message = error_message(
        [&] {
          AppendableDataset<std::int8_t>(file, "/overlap", sample_shape,
                                         SampleBlock::whole(sample_shape), "x", "1");
        },
        ExitCode::runtime_failure);
    EXPECT_NE(message.find("exactly one rank"), std::string::npos) << message;
    message = error_message(
        [&] { AppendableDataset<double>(file, "/scalar", {}, SampleBlock::whole({}), "x", "1"); },
        ExitCode::runtime_failure);
    EXPECT_NE(message.find("whole_if"), std::string::npos) << message;
  }
  // A block outside the sample.
  std::string message = error_message(
      [&] {
        AppendableDataset<std::int8_t>(file, "/outside", sample_shape, {{0, 0}, {9, 12}}, "x", "1");
      },
      ExitCode::runtime_failure);
  EXPECT_NE(message.find("outside"), std::string::npos) << message;
  // Ranks disagreeing on how many samples to append.
  AppendableDataset<std::int8_t> spins(file, "/spins", sample_shape, grid_block(), "x", "1");
  if (world_size() > 1) {
    const std::uint64_t n = world_rank() == 0 ? 2 : 1;
    const auto local = local_samples(grid_block(), 0, 2);
    message = error_message([&] { spins.append(local.data(), n); }, ExitCode::runtime_failure);
    EXPECT_NE(message.find("disagree"), std::string::npos) << message;
  }
  EXPECT_EQ(spins.size(), 0u);
  message = error_message([&] { spins.truncate(1); }, ExitCode::runtime_failure);
  EXPECT_NE(message.find("holds only 0"), std::string::npos) << message;
}

}  // namespace
