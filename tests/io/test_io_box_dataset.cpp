// BoxDataset: every rank writes its own boxes of a fixed-shape dataset in collective calls (the
// N-body layouts); read back on one rank, every element must be the value its writer put there.
#include "io_test_support.hpp"
#include "phyflow/io/box_dataset.hpp"
#include "phyflow/io/input_file.hpp"

namespace phyflow::io::testing {
namespace {

double value_at(std::uint64_t s, std::uint64_t t, std::uint64_t b) {
  return double(s) * 1000.0 + double(t) * 10.0 + double(b) + 0.25;
}

TEST(BoxDataset, RanksWriteBlocksOfTheLeadingAxisInBatches) {
  TempDir dir;
  const std::string path = dir.path() + "/ens.h5";
  const int P = world_size(), r = world_rank();
  const std::uint64_t ns = 11, nt = 3, nb = 2;
  {
    OutputFile f = OutputFile::create(MPI_COMM_WORLD, path, false);
    BoxDataset<double> d(f, "/data", {ns, nt, nb}, {4, nt, nb}, "test", "1");
    // Batches of 5 simulations, each split contiguously over the ranks (some ranks get none).
    for (std::uint64_t first = 0; first < ns; first += 5) {
      const std::uint64_t count = std::min<std::uint64_t>(5, ns - first);
      const std::uint64_t lo = first + count * std::uint64_t(r) / std::uint64_t(P);
      const std::uint64_t hi = first + count * std::uint64_t(r + 1) / std::uint64_t(P);
      std::vector<double> local;
      for (std::uint64_t s = lo; s < hi; ++s)
        for (std::uint64_t t = 0; t < nt; ++t)
          for (std::uint64_t b = 0; b < nb; ++b) local.push_back(value_at(s, t, b));
      d.write({lo, 0, 0}, {hi - lo, nt, nb}, local.data());
    }
    f.commit();
  }
  if (r == 0) {
    InputFile in = InputFile::open(path);
    const auto all = in.read<double>("/data");
    ASSERT_EQ(all.size(), ns * nt * nb);
    for (std::uint64_t s = 0; s < ns; ++s)
      for (std::uint64_t t = 0; t < nt; ++t)
        for (std::uint64_t b = 0; b < nb; ++b)
          EXPECT_EQ(all[(s * nt + t) * nb + b], value_at(s, t, b)) << s << " " << t << " " << b;
    EXPECT_EQ(in.attribute_string("/data", "meaning"), "test");
  }
}

TEST(BoxDataset, ReopenedPartialContinuesAndChecksTheShape) {
  TempDir dir;
  const std::string path = dir.path() + "/cont.h5";
  const int r = world_rank();
  const std::vector<std::uint64_t> none;
  {
    OutputFile f = OutputFile::create(MPI_COMM_WORLD, path, false);
    BoxDataset<std::int64_t> d(f, "/g/steps", {4}, {2}, "steps", "1");
    const std::int64_t v[2] = {7, 8};
    d.write({0}, r == 0 ? std::vector<std::uint64_t>{2} : none, v);
    f.close();  // leaves cont.h5.partial
  }
  {
    OutputFile f = OutputFile::reopen_partial(MPI_COMM_WORLD, path);
    EXPECT_THROW((void)BoxDataset<std::int64_t>::open(f, "/g/steps", {5}), Error);
    EXPECT_THROW((void)BoxDataset<double>::open(f, "/g/steps", {4}), Error);
    auto d = BoxDataset<std::int64_t>::open(f, "/g/steps", {4});
    const std::int64_t v[2] = {9, 10};
    d.write({2}, r == 0 ? std::vector<std::uint64_t>{2} : none, v);
    // A box outside the dataset is refused on every rank together.
    EXPECT_THROW(d.write({3}, {2}, v), Error);
    f.commit();
  }
  if (r == 0) {
    const auto all = InputFile::open(path).read<std::int64_t>("/g/steps");
    EXPECT_EQ(all, (std::vector<std::int64_t>{7, 8, 9, 10}));
  }
}

}  // namespace
}  // namespace phyflow::io::testing
