// export_nbody_npy: N-body HDF5 output -> the seed project's .npy pair (see nbody_export.hpp).
// Everything is streamed in slabs of frames (one frame = one simulation at one time); only the
// percentile bounds of the pruning rule need all velocity (then all acceleration) components
// in memory at once, because an exact order statistic needs every value.
#include "phyflow/io/nbody_export.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <new>
#include <sstream>
#include <tuple>

#include "phyflow/core/error.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/npy.hpp"

namespace phyflow::io {

namespace fs = std::filesystem;

namespace {

struct NbodyLayout {
  std::uint64_t ns = 0, nt = 0, n = 0, dim = 0;
  std::uint64_t features() const { return 2 * dim + 2; }
  std::uint64_t frames() const { return ns * nt; }
};

/// A box of frames: simulations [s0, s0+S) at times [t0, t0+T), read as (S, T, n, ...).
struct FrameBlock {
  std::uint64_t s0, S, t0, T;
};

/// Blocks in C order of the file (simulation-major), at most max_frames frames each.
std::vector<FrameBlock> simulation_major_blocks(const NbodyLayout& L, std::uint64_t max_frames) {
  std::vector<FrameBlock> blocks;
  if (L.nt <= max_frames) {
    const std::uint64_t S = std::max<std::uint64_t>(1, max_frames / L.nt);
    for (std::uint64_t s0 = 0; s0 < L.ns; s0 += S)
      blocks.push_back({s0, std::min(S, L.ns - s0), 0, L.nt});
  } else {
    for (std::uint64_t s = 0; s < L.ns; ++s)
      for (std::uint64_t t0 = 0; t0 < L.nt; t0 += max_frames)
        blocks.push_back({s, 1, t0, std::min(max_frames, L.nt - t0)});
  }
  return blocks;
}

/// Blocks in the seed loader's order (time-major: all simulations at t, then t + 1), so that
/// visiting each block's frames time-major visits all frames time-major.
std::vector<FrameBlock> time_major_blocks(const NbodyLayout& L, std::uint64_t max_frames) {
  std::vector<FrameBlock> blocks;
  if (L.ns <= max_frames) {
    const std::uint64_t T = std::max<std::uint64_t>(1, max_frames / L.ns);
    for (std::uint64_t t0 = 0; t0 < L.nt; t0 += T)
      blocks.push_back({0, L.ns, t0, std::min(T, L.nt - t0)});
  } else {
    for (std::uint64_t t = 0; t < L.nt; ++t)
      for (std::uint64_t s0 = 0; s0 < L.ns; s0 += max_frames)
        blocks.push_back({s0, std::min(max_frames, L.ns - s0), t, 1});
  }
  return blocks;
}

std::uint64_t frames_per_slab(std::uint64_t slab_bytes, std::uint64_t frame_values) {
  return std::max<std::uint64_t>(1, slab_bytes / (8 * std::max<std::uint64_t>(1, frame_values)));
}

/// The shortest decimal text that reads back as x, without an exponent for P-like values
/// ("99", "120", "99.5").
std::string shortest_decimal(double x) {
  char text[40];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(text, sizeof text, "%.0f", x);
    return text;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, x);
    if (std::strtod(text, nullptr) == x) break;
  }
  return text;
}

NbodyLayout check_layout(const InputFile& file) {
  const std::string& path = file.path();
  if (file.has_attribute("/", "workflow")) {
    const std::string workflow = file.attribute_string("/", "workflow");
    if (workflow != "nbody")
      throw input_error("'" + path + "' was written by workflow '" + workflow +
                        "'; phyflow export --npy converts N-body outputs (workflow: nbody)");
  }
  for (const char* name : {"/data", "/accel"})
    if (!file.is_dataset(name))
      throw input_error("'" + path + "' has no dataset '" + name +
                        "'; phyflow export --npy needs /data (ns, nt, n, 2*dim+2) and /accel "
                        "(ns, nt, n, dim) as written by workflow: nbody");
  file.expect("/data", "float64", 4);
  file.expect("/accel", "float64", 4);
  const DatasetInfo data = file.info("/data"), accel = file.info("/accel");
  const auto& d = data.shape;
  const auto& a = accel.shape;
  if (d[0] != a[0] || d[1] != a[1] || d[2] != a[2] || a[3] == 0 || d[3] != 2 * a[3] + 2)
    throw input_error("'" + path + "': mismatched shapes on export: /data is " + data.shape_text() +
                      " and /accel is " + accel.shape_text() +
                      "; expected /data (ns, nt, n, 2*dim+2) and /accel (ns, nt, n, dim) with "
                      "the same ns, nt and n (is one of them from another run?)");
  return {d[0], d[1], d[2], a[3]};
}

/// Output files written as NAME.partial and renamed by commit(); removed if never committed.
class PartialOutputs {
 public:
  void add(const std::string& final_path) { paths_.push_back(final_path); }
  static std::string partial(const std::string& p) { return p + ".partial"; }
  void commit() {
    for (const auto& p : paths_)
      if (std::rename(partial(p).c_str(), p.c_str()) != 0)
        throw runtime_error("cannot rename '" + partial(p) + "' to '" + p + "'");
    paths_.clear();
  }
  ~PartialOutputs() {
    std::error_code ignored;
    for (const auto& p : paths_) fs::remove(partial(p), ignored);
  }

 private:
  std::vector<std::string> paths_;
};

NpyWriter open_writer(const std::string& final_path, const std::vector<std::uint64_t>& shape) {
  try {
    return NpyWriter(PartialOutputs::partial(final_path), shape);
  } catch (const Error& e) {
    throw input_error(std::string(e.what()) + "; choose a writable --out directory");
  }
}

/// Per frame: min and max of the chosen components, and every component (for the percentile).
struct ComponentScan {
  std::vector<double> values, frame_min, frame_max;
};

/// Reads components [first, first + count) of the last axis (of length `last`) of `dataset`
/// for every body of every frame. Whole slabs are read and the components picked here: one
/// sequential read instead of an HDF5 selection of many short strided runs.
ComponentScan scan_components(const InputFile& file, const std::string& dataset,
                              const NbodyLayout& L, std::uint64_t last, std::uint64_t first,
                              std::uint64_t count, const std::string& what,
                              std::uint64_t slab_bytes) {
  ComponentScan scan;
  const std::uint64_t per_frame = L.n * count;
  try {
    scan.values.reserve(L.frames() * per_frame);
    scan.frame_min.resize(L.frames());
    scan.frame_max.resize(L.frames());
  } catch (const std::bad_alloc&) {
    throw runtime_error("pruning '" + file.path() + "' needs " +
                        std::to_string((L.frames() * (per_frame + 2) * 8) >> 20) +
                        " MiB of memory for the " + what +
                        " components; run on a node with more "
                        "memory or export without --prune-percentile");
  }
  Progress progress("export: scanning " + what, L.frames(), "frames");
  progress.update(0);
  std::uint64_t done = 0;
  for (const FrameBlock& b : simulation_major_blocks(L, frames_per_slab(slab_bytes, L.n * last))) {
    const auto slab =
        file.read_hyperslab<double>(dataset, {b.s0, b.t0, 0, 0}, {b.S, b.T, L.n, last});
    for (std::uint64_t s = 0; s < b.S; ++s)
      for (std::uint64_t t = 0; t < b.T; ++t) {
        const double* frame_values = slab.data() + (s * b.T + t) * L.n * last;
        const std::size_t begin = scan.values.size();
        for (std::uint64_t body = 0; body < L.n; ++body)
          scan.values.insert(scan.values.end(), frame_values + body * last + first,
                             frame_values + body * last + first + count);
        const double* v = scan.values.data() + begin;
        double lo = v[0], hi = v[0];
        for (std::uint64_t i = 0; i < per_frame; ++i) {
          if (std::isnan(v[i]))
            throw input_error("'" + file.path() + "': " + dataset + " holds NaN " + what +
                              " components (first in simulation " + std::to_string(b.s0 + s) +
                              " at time index " + std::to_string(b.t0 + t) +
                              "): NumPy's percentile bounds would be NaN and the pruning rule "
                              "would drop every frame; export without --prune-percentile");
          lo = std::min(lo, v[i]);
          hi = std::max(hi, v[i]);
        }
        const std::uint64_t frame = (b.s0 + s) * L.nt + b.t0 + t;
        scan.frame_min[frame] = lo;
        scan.frame_max[frame] = hi;
      }
    done += b.S * b.T;
    progress.update(done);
  }
  return scan;
}

/// Marks frames whose scanned components all lie strictly inside (lower, upper); returns the
/// bounds {lower, upper} = {np.percentile(v, 100 - P), np.percentile(v, P)}.
std::pair<double, double> keep_inside(ComponentScan scan, double P, std::vector<char>& keep) {
  const auto bounds = numpy_percentiles(scan.values, {P, 100.0 - P});
  const double upper = bounds[0], lower = bounds[1];
  for (std::size_t f = 0; f < keep.size(); ++f)
    if (!(scan.frame_min[f] > lower && scan.frame_max[f] < upper)) keep[f] = 0;
  return {lower, upper};
}

void copy_all(const InputFile& file, const std::string& dataset, const NbodyLayout& L,
              std::uint64_t last, NpyWriter& out, std::uint64_t slab_bytes) {
  Progress progress("export: writing " + dataset, L.frames(), "frames");
  progress.update(0);
  std::uint64_t done = 0;
  for (const FrameBlock& b : simulation_major_blocks(L, frames_per_slab(slab_bytes, L.n * last))) {
    const auto slab =
        file.read_hyperslab<double>(dataset, {b.s0, b.t0, 0, 0}, {b.S, b.T, L.n, last});
    out.write(slab.data(), slab.size());
    done += b.S * b.T;
    progress.update(done);
  }
}

/// Writes the kept frames of /data and /accel in the seed loader's (time-major) order.
void copy_kept(const InputFile& file, const NbodyLayout& L, const std::vector<char>& keep,
               NpyWriter& data_out, NpyWriter& accel_out, std::uint64_t slab_bytes) {
  const std::uint64_t data_frame = L.n * L.features(), accel_frame = L.n * L.dim;
  Progress progress("export: writing kept frames", L.frames(), "frames");
  progress.update(0);
  std::uint64_t done = 0;
  std::vector<double> data_buffer, accel_buffer;
  for (const FrameBlock& b : time_major_blocks(L, frames_per_slab(slab_bytes, data_frame))) {
    bool any = false;
    for (std::uint64_t t = 0; t < b.T && !any; ++t)
      for (std::uint64_t s = 0; s < b.S && !any; ++s) any = keep[(b.s0 + s) * L.nt + b.t0 + t];
    if (any) {
      const auto data =
          file.read_hyperslab<double>("/data", {b.s0, b.t0, 0, 0}, {b.S, b.T, L.n, L.features()});
      const auto accel =
          file.read_hyperslab<double>("/accel", {b.s0, b.t0, 0, 0}, {b.S, b.T, L.n, L.dim});
      data_buffer.clear();
      accel_buffer.clear();
      for (std::uint64_t t = 0; t < b.T; ++t)
        for (std::uint64_t s = 0; s < b.S; ++s) {
          if (!keep[(b.s0 + s) * L.nt + b.t0 + t]) continue;
          const std::uint64_t local = s * b.T + t;
          data_buffer.insert(data_buffer.end(), data.begin() + local * data_frame,
                             data.begin() + (local + 1) * data_frame);
          accel_buffer.insert(accel_buffer.end(), accel.begin() + local * accel_frame,
                              accel.begin() + (local + 1) * accel_frame);
        }
      data_out.write(data_buffer.data(), data_buffer.size());
      accel_out.write(accel_buffer.data(), accel_buffer.size());
    }
    done += b.S * b.T;
    progress.update(done);
  }
}

}  // namespace

std::string seed_npy_stem(const std::string& law, std::int64_t seed, std::uint64_t ns,
                          std::uint64_t n, std::uint64_t dim, std::uint64_t nt, double dt) {
  // C's %.0e and Python's "{:.0e}" agree: one correctly rounded digit, exponent sign and at
  // least two exponent digits ("1e-02", "5e-03").
  char dt_text[32];
  std::snprintf(dt_text, sizeof dt_text, "%.0e", dt);
  std::ostringstream stem;
  stem << "sim=" << law << "_key=" << seed << "_ns=" << ns << "_n=" << n << "_dim=" << dim
       << "_nt=" << nt << "_dt=" << dt_text;
  return stem.str();
}

std::vector<double> numpy_percentiles(std::vector<double>& values,
                                      const std::vector<double>& percents) {
  if (values.empty()) throw input_error("the percentile of no values is undefined");
  const std::uint64_t N = values.size();
  struct Wanted {
    std::uint64_t previous, next;
    double gamma;
  };
  std::vector<Wanted> wanted;
  std::vector<std::uint64_t> order_statistics;
  for (double p : percents) {
    // numpy.percentile divides by 100 first, then 'linear' takes the virtual index (n-1)*q.
    const double q = p / 100.0;
    const double virtual_index = static_cast<double>(N - 1) * q;
    Wanted w;
    if (virtual_index >= static_cast<double>(N - 1)) {
      // NumPy clamps to the last element (index -1); gamma keeps its unclamped value.
      w.previous = w.next = N - 1;
      w.gamma = virtual_index + 1.0;
    } else {
      const double below = std::floor(virtual_index);
      w.previous = static_cast<std::uint64_t>(below);
      w.next = w.previous + 1;
      w.gamma = virtual_index - below;
    }
    wanted.push_back(w);
    order_statistics.push_back(w.previous);
    order_statistics.push_back(w.next);
  }
  // Multi-selection: place the largest wanted order statistic first, then each smaller one
  // within the part before the previous, so the work stays O(N) per distinct index.
  std::sort(order_statistics.begin(), order_statistics.end());
  order_statistics.erase(std::unique(order_statistics.begin(), order_statistics.end()),
                         order_statistics.end());
  auto end = values.end();
  for (auto k = order_statistics.rbegin(); k != order_statistics.rend(); ++k) {
    const auto nth = values.begin() + static_cast<std::ptrdiff_t>(*k);
    std::nth_element(values.begin(), nth, end);
    end = nth;
  }
  std::vector<double> result;
  for (const Wanted& w : wanted) {
    const double a = values[w.previous], b = values[w.next];
    const double diff = b - a;
    // NumPy's _lerp: the form that is exact at the nearer end.
    result.push_back(w.gamma >= 0.5 ? b - diff * (1.0 - w.gamma) : a + diff * w.gamma);
  }
  return result;
}

std::string NbodyNpyExportResult::summary() const {
  std::ostringstream text;
  if (pruned) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "pruned %llu of %llu frames (%.2f%%): kept velocity components in (%.17g, "
                  "%.17g) and acceleration components in (%.17g, %.17g)\n",
                  static_cast<unsigned long long>(frames - frames_kept),
                  static_cast<unsigned long long>(frames),
                  frames ? 100.0 * double(frames - frames_kept) / double(frames) : 0.0,
                  velocity_lower, velocity_upper, accel_lower, accel_upper);
    text << line;
    text << "wrote " << data_path << " (" << frames_kept << ", 1, " << n << ", " << 2 * dim + 2
         << ")\nwrote " << accel_path << " (" << frames_kept << ", 1, " << n << ", " << dim
         << ")\n";
  } else {
    text << "wrote " << data_path << " (" << ns << ", " << nt << ", " << n << ", " << 2 * dim + 2
         << ")\nwrote " << accel_path << " (" << ns << ", " << nt << ", " << n << ", " << dim
         << ")\n";
  }
  return text.str();
}

NbodyNpyExportResult export_nbody_npy(const NbodyNpyExportOptions& options) {
  // 1. Options that need no file.
  const double P = options.prune_percentile;
  if (options.prune && !(P > 50.0 && P < 100.0))
    throw input_error("--prune-percentile " + shortest_decimal(P) +
                      " is out of range: it must satisfy 50 < P < 100 (the seed used 99; frames "
                      "outside the [100-P, P] percentiles are dropped)");

  // 2. The input: complete, an N-body layout, named by its attributes.
  const InputFile file = InputFile::open(options.input);
  const NbodyLayout L = check_layout(file);
  for (const char* attribute : {"law", "seed", "dt"})
    if (!file.has_attribute("/", attribute))
      throw input_error("'" + options.input + "' has no root attribute '" + attribute +
                        "', which names the .npy files (sim={law}_key={seed}_..._dt={dt}); was "
                        "it written by workflow: nbody?");
  const std::string law = file.attribute_string("/", "law");
  const std::int64_t seed = file.attribute_int("/", "seed");
  const double dt = file.attribute_double("/", "dt");

  // 3. The outputs: refuse to replace anything unless asked, before reading any data.
  fs::path dir =
      options.out_dir.empty() ? fs::path(options.input).parent_path() : fs::path(options.out_dir);
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw input_error("output directory '" + dir.string() +
                      "' does not exist or is not a directory; create it or pass another --out");
  std::string stem = seed_npy_stem(law, seed, L.ns, L.n, L.dim, L.nt, dt);
  if (options.prune) stem += "_pruned=" + shortest_decimal(P);
  NbodyNpyExportResult result;
  result.data_path = (dir / (stem + ".npy")).string();
  result.accel_path = (dir / ("accel_" + stem + ".npy")).string();
  for (const auto& p : {result.data_path, result.accel_path})
    if (fs::exists(p, ec) && !options.overwrite)
      throw input_error("output '" + p +
                        "' exists; pass --overwrite to replace it or choose another --out "
                        "directory");
  result.ns = L.ns, result.nt = L.nt, result.n = L.n, result.dim = L.dim;
  result.frames = result.frames_kept = L.frames();
  result.pruned = options.prune;

  PartialOutputs outputs;
  outputs.add(result.data_path);
  outputs.add(result.accel_path);
  if (!options.prune) {
    // 4a. The seed's arrays as they are, in the file's own (C) order.
    NpyWriter data_out = open_writer(result.data_path, {L.ns, L.nt, L.n, L.features()});
    NpyWriter accel_out = open_writer(result.accel_path, {L.ns, L.nt, L.n, L.dim});
    copy_all(file, "/data", L, L.features(), data_out, options.slab_bytes);
    copy_all(file, "/accel", L, L.dim, accel_out, options.slab_bytes);
    data_out.close();
    accel_out.close();
  } else {
    // 4b. Bounds from every velocity component, then every acceleration component; a frame
    // stays only if all its components are strictly inside both (the seed loader's rule).
    std::vector<char> keep(L.frames(), 1);
    std::tie(result.velocity_lower, result.velocity_upper) =
        keep_inside(scan_components(file, "/data", L, L.features(), L.dim, L.dim, "velocity",
                                    options.slab_bytes),
                    P, keep);
    std::tie(result.accel_lower, result.accel_upper) = keep_inside(
        scan_components(file, "/accel", L, L.dim, 0, L.dim, "acceleration", options.slab_bytes), P,
        keep);
    result.frames_kept = static_cast<std::uint64_t>(std::count(keep.begin(), keep.end(), 1));
    NpyWriter data_out = open_writer(result.data_path, {result.frames_kept, 1, L.n, L.features()});
    NpyWriter accel_out = open_writer(result.accel_path, {result.frames_kept, 1, L.n, L.dim});
    copy_kept(file, L, keep, data_out, accel_out, options.slab_bytes);
    data_out.close();
    accel_out.close();
  }
  outputs.commit();
  return result;
}

}  // namespace phyflow::io
