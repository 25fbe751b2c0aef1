// Dataset: validated access to the training layouts of phyflow's HDF5 files (dataset.hpp).
#include "phyflow/ml/dataset.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/io/input_file.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <regex>
#include <sstream>

namespace phyflow::ml {

std::string layout_name(DataLayout layout) {
  switch (layout) {
    case DataLayout::ising: return "ising";
    case DataLayout::nbody: return "nbody";
    case DataLayout::regression: return "regression";
  }
  return "?";
}

std::string layout_description(DataLayout layout) {
  switch (layout) {
    case DataLayout::ising:
      return "an Ising file (groups /t0, /t1, ... holding int8 'spins' (N, L, L) and float64 "
             "'energy' (N), written by workflow: ising)";
    case DataLayout::nbody:
      return "an N-body file (float64 /data (ns, nt, n, 2d+2) and /accel (ns, nt, n, d), written "
             "by workflow: nbody)";
    case DataLayout::regression:
      return "a regression file (float64 /x (N, k) and /y (N, m))";
  }
  return "?";
}

namespace {
std::string dims_text(const std::vector<std::int64_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}
std::int64_t product(const std::vector<std::int64_t>& d) {
  return std::accumulate(d.begin(), d.end(), std::int64_t{1}, std::multiplies<>());
}
}  // namespace

std::string DataShape::text() const {
  return layout_name(layout) + (kind.empty() ? "" : " (" + kind + ")") + " x " + dims_text(x) +
         " -> y " + dims_text(y);
}

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex m;
  return m;
}

struct Dataset::State {
  std::string path, what;
  DataShape shape;
  std::int64_t n = 0;
  std::vector<SampleGroup> groups;
  // nbody: samples are frames; a sample index i is (simulation i / nt, frame i % nt).
  std::int64_t frames_per_sim = 1;
  bool cached = false;
  std::vector<std::int8_t> x8;  // Ising spins (cached)
  std::vector<double> x64, y64;
  mutable std::unique_ptr<io::InputFile> file;  // open while streaming

  std::int64_t x_elems() const { return product(shape.x); }
  std::int64_t y_elems() const { return product(shape.y); }
  std::string where() const { return what + " '" + path + "'"; }

  const SampleGroup& group_of(std::int64_t i) const {
    auto it = std::upper_bound(groups.begin(), groups.end(), i,
                               [](std::int64_t v, const SampleGroup& g) { return v < g.begin; });
    return *(it - 1);
  }

  // Reads samples [begin, begin + count) of one group (stream mode) into x/y at their offsets.
  void read_run(std::int64_t begin, std::int64_t count, std::int8_t* x8out, double* x64out,
                double* yout) const {
    std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
    const auto ux = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
    if (shape.layout == DataLayout::ising) {
      const SampleGroup& g = group_of(begin);
      const std::int64_t local = begin - g.begin;
      std::vector<std::uint64_t> off(shape.x.size() + 1, 0), cnt(shape.x.size() + 1);
      off[0] = ux(local);
      cnt[0] = ux(count);
      for (std::size_t k = 0; k < shape.x.size(); ++k) cnt[k + 1] = ux(shape.x[k]);
      auto s = file->read_hyperslab<std::int8_t>(g.name + "/spins", off, cnt);
      std::copy(s.begin(), s.end(), x8out);
      auto e = file->read_hyperslab<double>(g.name + "/energy", {ux(local)}, {ux(count)});
      std::copy(e.begin(), e.end(), yout);
    } else if (shape.layout == DataLayout::nbody) {
      // A run may cross simulations: read it simulation by simulation.
      std::int64_t done = 0;
      while (done < count) {
        const std::int64_t i = begin + done, sim = i / frames_per_sim, frame = i % frames_per_sim;
        const std::int64_t take = std::min(count - done, frames_per_sim - frame);
        const std::uint64_t n = ux(shape.x[0]);
        auto d = file->read_hyperslab<double>("/data", {ux(sim), ux(frame), 0, 0},
                                              {1, ux(take), n, ux(shape.x[1])});
        auto a = file->read_hyperslab<double>("/accel", {ux(sim), ux(frame), 0, 0},
                                              {1, ux(take), n, ux(shape.y[1])});
        std::copy(d.begin(), d.end(), x64out + done * x_elems());
        std::copy(a.begin(), a.end(), yout + done * y_elems());
        done += take;
      }
    } else {
      auto x = file->read_hyperslab<double>("/x", {ux(begin), 0}, {ux(count), ux(shape.x[0])});
      auto y = file->read_hyperslab<double>("/y", {ux(begin), 0}, {ux(count), ux(shape.y[0])});
      std::copy(x.begin(), x.end(), x64out);
      std::copy(y.begin(), y.end(), yout);
    }
  }
};

Dataset::Dataset(std::unique_ptr<State> state) : state_(std::move(state)) {}
Dataset::Dataset(Dataset&&) noexcept = default;
Dataset& Dataset::operator=(Dataset&&) noexcept = default;
Dataset::~Dataset() {
  if (state_ && state_->file) {
    std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
    state_->file.reset();
  }
}

const std::string& Dataset::path() const { return state_->path; }
DataLayout Dataset::layout() const { return state_->shape.layout; }
const DataShape& Dataset::shape() const { return state_->shape; }
std::int64_t Dataset::size() const { return state_->n; }
const std::vector<SampleGroup>& Dataset::groups() const { return state_->groups; }
bool Dataset::cached() const { return state_->cached; }
std::int64_t Dataset::frames_per_simulation() const { return state_->frames_per_sim; }

namespace {

std::vector<std::int64_t> to_i64(const std::vector<std::uint64_t>& v, std::size_t from) {
  std::vector<std::int64_t> out;
  for (std::size_t i = from; i < v.size(); ++i) out.push_back(static_cast<std::int64_t>(v[i]));
  return out;
}

// Ising groups /t0, /t1, ... in numeric order.
std::vector<std::string> ising_groups(const io::InputFile& f) {
  std::vector<std::pair<long, std::string>> found;
  static const std::regex re("^/t([0-9]+)$");
  for (const auto& obj : f.list_objects()) {
    std::smatch m;
    if (std::regex_match(obj, m, re) && f.is_group(obj)) found.emplace_back(std::stol(m[1]), obj);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& p : found) out.push_back(p.second);
  return out;
}

}  // namespace

Dataset Dataset::open(const std::string& path, const std::string& what, CacheMode cache,
                      std::uint64_t cache_bytes) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  auto st = std::make_unique<State>();
  st->path = path;
  st->what = what;
  auto file = std::make_unique<io::InputFile>(io::InputFile::open(path, MPI_COMM_SELF));
  const io::InputFile& f = *file;
  const std::string where = st->where();

  const auto groups = ising_groups(f);
  if (!groups.empty()) {
    st->shape.layout = DataLayout::ising;
    for (const auto& g : groups) {
      if (!f.is_dataset(g + "/spins"))
        throw input_error(where + ": group " + g + " has no 'spins' (it was written with "
                          "output.store_spins: false); rerun the Ising deck with "
                          "output.store_spins: true to train on it");
      const auto si = f.info(g + "/spins");
      if (si.dtype != "int8" || si.shape.size() < 3)
        throw input_error(where + ": " + g + "/spins is " + si.dtype + " " + si.shape_text() +
                          ", expected int8 (N, L, L) spin configurations");
      f.expect(g + "/energy", "float64", std::vector<std::int64_t>{static_cast<std::int64_t>(si.shape[0])});
      if (!f.has_attribute(g, "beta"))
        throw input_error(where + ": group " + g + " has no 'beta' attribute");
      const auto x = to_i64(si.shape, 1);
      if (st->groups.empty()) st->shape.x = x;
      else if (x != st->shape.x)
        throw input_error(where + ": " + g + "/spins holds lattices " + dims_text(x) + " but " +
                          st->groups[0].name + " holds " + dims_text(st->shape.x));
      SampleGroup sg{g, st->n, static_cast<std::int64_t>(si.shape[0]), f.attribute_double(g, "beta")};
      st->n += sg.count;
      st->groups.push_back(sg);
    }
    st->shape.y = {};
  } else if (f.is_dataset("/data") && f.is_dataset("/accel")) {
    st->shape.layout = DataLayout::nbody;
    const auto di = f.info("/data"), ai = f.info("/accel");
    if (di.dtype != "float64" || di.shape.size() != 4)
      throw input_error(where + ": /data is " + di.dtype + " " + di.shape_text() +
                        ", expected float64 (ns, nt, n, 2d+2)");
    const auto ns = std::int64_t(di.shape[0]), nt = std::int64_t(di.shape[1]),
               n = std::int64_t(di.shape[2]), w = std::int64_t(di.shape[3]);
    if (w < 4 || (w - 2) % 2 != 0)
      throw input_error(where + ": /data has " + std::to_string(w) +
                        " columns per body, expected 2d+2 (x, v, q, m) with d >= 1");
    f.expect("/accel", "float64", {ns, nt, n, (w - 2) / 2});
    st->shape.x = {n, w};
    st->shape.y = {n, (w - 2) / 2};
    st->frames_per_sim = nt;
    st->n = ns * nt;
    st->groups.push_back(SampleGroup{"", 0, st->n, 0.0});
  } else if (f.is_dataset("/x") && f.is_dataset("/y")) {
    st->shape.layout = DataLayout::regression;
    const auto xi = f.info("/x"), yi = f.info("/y");
    if (xi.dtype != "float64" || xi.shape.size() != 2)
      throw input_error(where + ": /x is " + xi.dtype + " " + xi.shape_text() +
                        ", expected float64 (N, k)");
    if (yi.dtype != "float64" || yi.shape.size() != 2 || yi.shape[0] != xi.shape[0])
      throw input_error(where + ": /y is " + yi.dtype + " " + yi.shape_text() +
                        ", expected float64 (" + std::to_string(xi.shape[0]) + ", m)");
    st->shape.x = {std::int64_t(xi.shape[1])};
    st->shape.y = {std::int64_t(yi.shape[1])};
    if (f.has_attribute("/", "dataset_kind")) st->shape.kind = f.attribute_string("/", "dataset_kind");
    st->n = std::int64_t(xi.shape[0]);
    st->groups.push_back(SampleGroup{"", 0, st->n, 0.0});
  } else {
    throw input_error(where + " holds none of the layouts phyflow trains on: " +
                      layout_description(DataLayout::ising) + "; " +
                      layout_description(DataLayout::nbody) + "; or " +
                      layout_description(DataLayout::regression));
  }
  if (st->n == 0) throw input_error(where + " holds no samples");

  const std::uint64_t bytes =
      std::uint64_t(st->n) * std::uint64_t(st->shape.layout == DataLayout::ising
                                                ? st->x_elems()
                                                : 8 * (st->x_elems() + st->y_elems()));
  const bool in_memory =
      cache == CacheMode::memory || (cache == CacheMode::automatic && bytes <= cache_bytes);
  st->file = std::move(file);
  if (in_memory) {
    const std::int64_t xe = st->x_elems(), ye = std::max<std::int64_t>(1, st->y_elems());
    if (st->shape.layout == DataLayout::ising) st->x8.resize(std::size_t(st->n * xe));
    else st->x64.resize(std::size_t(st->n * xe));
    st->y64.resize(std::size_t(st->n * ye));
    for (const auto& g : st->groups)
      st->read_run(g.begin, g.count,
                   st->x8.empty() ? nullptr : st->x8.data() + g.begin * xe,
                   st->x64.empty() ? nullptr : st->x64.data() + g.begin * xe,
                   st->y64.data() + g.begin * ye);
    st->cached = true;
    st->file.reset();
  }
  return Dataset(std::move(st));
}

void Dataset::require(DataLayout expected, const std::string& model_kind) const {
  if (layout() != expected)
    throw input_error(state_->where() + " is " + layout_description(layout()) + ", but model '" +
                      model_kind + "' trains on " + layout_description(expected));
}

void Dataset::require_shape(const DataShape& expected, const std::string& model_kind) const {
  require(expected.layout, model_kind);
  if (shape().x != expected.x || shape().y != expected.y ||
      (!expected.kind.empty() && shape().kind != expected.kind))
    throw input_error(state_->where() + " holds samples " + shape().text() + ", but the model '" +
                      model_kind + "' was built for " + expected.text());
}

Batch Dataset::gather(const std::vector<std::int64_t>& index, torch::ScalarType dtype) const {
  const State& s = *state_;
  const std::int64_t b = static_cast<std::int64_t>(index.size());
  const std::int64_t xe = s.x_elems(), ye = std::max<std::int64_t>(1, s.y_elems());
  const bool spins = s.shape.layout == DataLayout::ising;
  std::vector<std::int8_t> x8(spins ? std::size_t(b * xe) : 0);
  std::vector<double> x64(spins ? 0 : std::size_t(b * xe)), y(std::size_t(b * ye)), beta;
  for (std::int64_t i : index)
    if (i < 0 || i >= s.n)
      throw runtime_error(s.where() + ": sample " + std::to_string(i) + " out of range");
  if (s.cached) {
    for (std::int64_t k = 0; k < b; ++k) {
      const std::int64_t i = index[std::size_t(k)];
      if (spins) std::copy_n(s.x8.data() + i * xe, xe, x8.data() + k * xe);
      else std::copy_n(s.x64.data() + i * xe, xe, x64.data() + k * xe);
      std::copy_n(s.y64.data() + i * ye, ye, y.data() + k * ye);
    }
  } else {
    // Read runs of consecutive indices (within one group) with one hyperslab each.
    std::int64_t k = 0;
    while (k < b) {
      std::int64_t run = 1;
      const SampleGroup& g = s.group_of(index[std::size_t(k)]);
      while (k + run < b && index[std::size_t(k + run)] == index[std::size_t(k)] + run &&
             index[std::size_t(k + run)] < g.begin + g.count)
        ++run;
      s.read_run(index[std::size_t(k)], run, spins ? x8.data() + k * xe : nullptr,
                 spins ? nullptr : x64.data() + k * xe, y.data() + k * ye);
      k += run;
    }
  }
  std::vector<std::int64_t> xshape{b}, yshape{b};
  xshape.insert(xshape.end(), s.shape.x.begin(), s.shape.x.end());
  yshape.insert(yshape.end(), s.shape.y.begin(), s.shape.y.end());
  Batch out;
  out.index = index;
  const auto copy_to = [dtype](void* data, const std::vector<std::int64_t>& shape,
                               torch::ScalarType from) {
    return torch::from_blob(data, shape, torch::TensorOptions().dtype(from))
        .to(dtype, /*non_blocking=*/false, /*copy=*/true);
  };
  out.x = spins ? copy_to(x8.data(), xshape, torch::kInt8) : copy_to(x64.data(), xshape, torch::kFloat64);
  out.y = copy_to(y.data(), yshape, torch::kFloat64);
  if (spins) {
    beta.resize(std::size_t(b));
    for (std::int64_t k = 0; k < b; ++k) beta[std::size_t(k)] = s.group_of(index[std::size_t(k)]).beta;
    out.beta = copy_to(beta.data(), {b}, torch::kFloat64);
  }
  return out;
}

Batch Dataset::range(std::int64_t begin, std::int64_t count, torch::ScalarType dtype) const {
  std::vector<std::int64_t> index(static_cast<std::size_t>(std::max<std::int64_t>(0, count)));
  std::iota(index.begin(), index.end(), begin);
  return gather(index, dtype);
}

}  // namespace phyflow::ml
