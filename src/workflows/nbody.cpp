// N-body workflow: deck -> ensembles of independent systems (or one large system spread over
// the ranks by particles) -> one parallel HDF5 file per split in the seed's layout, with
// per-simulation energy/momentum diagnostics, a JSON summary, checkpoints and restart.
//
// Sample runs:
//   mpiexec -n 2 phyflow run inputs/nbody_quick.yaml
//   phyflow run inputs/nbody_spring2d.yaml         (train/val/test like the seed, seeds 1/2/3)
//   mpiexec -n 4 phyflow run inputs/nbody_large.yaml   (n = 16 384 bodies, ring pass)
//
// Layout (docs/datasets.md): /data (ns, nt, n, 2d+2) = [x(d), v(d), q, m] per body and
// /accel (ns, nt, n, d), float64, frames at t_k = k dt nt/(nt-1); /times (nt);
// /diagnostics/{energy (ns, nt), energy_drift, momentum_drift, steps, rejected, status} (ns).
//
// Ensembles: simulations are processed in batches of consecutive global indices; each rank
// integrates a contiguous block of every batch. A simulation's initial state comes from
// Philox by (seed, simulation, body) and its integration involves no other simulation, so the
// file is bitwise identical for any rank count and batch size. A checkpoint records how many
// simulations (a prefix) are complete; a restart continues the .partial file from there.
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/box_dataset.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/nbody/initial_conditions.hpp"
#include "phyflow/nbody/integrators.hpp"
#include "phyflow/nbody/large_system.hpp"
#include "phyflow/workflows/nbody_deck.hpp"
#include "phyflow/workflows/nbody_run.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "split_files.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <type_traits>

namespace phyflow::workflows {

namespace {

using detail::checkpoint_path_for;
using detail::file_exists;
using detail::SplitStart;

/// Deck keys that may change between an interrupted run and its restart: checkpointing,
/// progress output and the batch size (results do not depend on it).
const std::vector<std::string> restart_may_change = {"checkpoint", "progress", "ensemble.batch"};

/// Per-simulation diagnostics, in global simulation order.
struct Diagnostics {
  std::vector<double> energy_drift, momentum_drift;
  std::vector<std::int64_t> steps, rejected;
  std::vector<std::int8_t> status;
  void resize(std::size_t n) {
    energy_drift.resize(n);
    momentum_drift.resize(n);
    steps.resize(n);
    rejected.resize(n);
    status.resize(n);
  }
};

/// [first, first + count) of `total` items for `rank` of `ranks`: contiguous, balanced.
std::pair<std::uint64_t, std::uint64_t> block_of(std::uint64_t total, int rank, int ranks) {
  const std::uint64_t lo = total * std::uint64_t(rank) / std::uint64_t(ranks);
  const std::uint64_t hi = total * std::uint64_t(rank + 1) / std::uint64_t(ranks);
  return {lo, hi - lo};
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + long(mid), v.end());
  return v[mid];
}

nlohmann::json stats_json(const std::vector<double>& v) {
  nlohmann::json j;
  double mx = 0.0, sum = 0.0;
  std::size_t finite = 0;
  std::vector<double> f;
  for (double x : v)
    if (std::isfinite(x)) {
      mx = std::max(mx, x);
      sum += x;
      f.push_back(x);
      ++finite;
    }
  j["max"] = mx;
  j["mean"] = finite ? sum / double(finite) : 0.0;
  j["median"] = median_of(f);
  return j;
}

}  // namespace

// -------------------------------------------------------------------- per-frame diagnostics

FrameDiagnostics frame_diagnostics(const nbody::ForceLawSpec& law, int d, int n, int nt,
                                   const double* frames, double* energy) {
  const int w = nbody::state_width(d);
  FrameDiagnostics out;
  double e0 = 0.0, scale = 0.0, p0[nbody::max_dim] = {}, pscale = 0.0;
  for (int k = 0; k < nt; ++k) {
    const double* f = frames + std::size_t(k) * std::size_t(n) * std::size_t(w);
    const double u = nbody::potential_energy(law, d, n, f);
    double kin = 0.0, p[nbody::max_dim] = {}, pabs = 0.0;
    for (int b = 0; b < n; ++b) {
      const double* row = f + std::size_t(b) * std::size_t(w);
      const double m = row[w - 1];
      double v2 = 0.0;
      for (int c = 0; c < d; ++c) {
        v2 += row[d + c] * row[d + c];
        p[c] += m * row[d + c];
      }
      kin += 0.5 * m * v2;
      pabs += m * std::sqrt(v2);
    }
    const double e = kin + u;
    if (energy) energy[k] = e;
    if (k == 0) {
      e0 = e;
      // Energy scale K + |U|: a relative drift that stays meaningful when E(0) is near zero.
      scale = kin + std::fabs(u);
      for (int c = 0; c < d; ++c) p0[c] = p[c];
      pscale = pabs;
      continue;
    }
    double dp2 = 0.0;
    for (int c = 0; c < d; ++c) dp2 += (p[c] - p0[c]) * (p[c] - p0[c]);
    const double de = std::fabs(e - e0) / (scale > 0.0 ? scale : 1.0);
    const double dp = std::sqrt(dp2) / (pscale > 0.0 ? pscale : 1.0);
    // NaN (a failed simulation) propagates: max() would drop it.
    out.energy_drift = std::isnan(de) || std::isnan(out.energy_drift) ? NAN : std::max(out.energy_drift, de);
    out.momentum_drift = std::isnan(dp) || std::isnan(out.momentum_drift) ? NAN : std::max(out.momentum_drift, dp);
  }
  return out;
}

namespace {

// ----------------------------------------------------------------------------- the run

class NbodyRun {
 public:
  NbodyRun(const config::Deck& deck, Runtime& rt, const RunOptions& options)
      : deck_(deck), rt_(rt), options_(options), s_(nbody_settings(deck, rt.size())) {
    iocfg_.collective_transfer = s_.collective_io;
    iocfg_.alignment = s_.alignment;
    iocfg_.alignment_threshold = s_.alignment > 0 ? s_.alignment / 2 : 0;
    w_ = nbody::state_width(s_.dims);
  }

  void run() {
    // Whether any split left something a --restart continues (see run_split), decided before
    // any split runs and changes the files.
    std::vector<std::string> outputs;
    for (const NbodySplit& split : s_.splits) outputs.push_back(split.path);
    restart_has_state_ = detail::any_split_has_files(outputs);
    signals::install();
    for (std::size_t i = 0; i < s_.splits.size(); ++i) run_split(i);
    signals::uninstall();
  }

 private:
  std::string label(const NbodySplit& split) const {
    return split.name.empty() ? "nbody" : "nbody[" + split.name + "]";
  }

  std::uint64_t batch_size(const NbodySplit& split) const {
    if (s_.batch > 0) return std::min<std::uint64_t>(s_.batch, split.ns);
    const std::uint64_t per_sim =
        std::uint64_t(s_.grid.nt) * std::uint64_t(s_.n) * std::uint64_t(w_ + s_.dims) * 8 +
        std::uint64_t(s_.grid.nt) * 8;
    // Host backends: a batch a thread's caches can hold (~4 MiB of frames per thread); the
    // kernel, the copy-out, the diagnostics and the write each stream the batch once, and a
    // 10^4-simulation batch ran 5x slower end to end than batches of 100-300 (measured, see
    // docs/PERFORMANCE.md). Device backends: large batches (256 MiB) to fill the device.
    const bool host = std::is_same_v<Kokkos::DefaultExecutionSpace::memory_space, Kokkos::HostSpace>;
    const std::uint64_t budget =
        host ? (std::uint64_t(4) << 20) *
                   std::uint64_t(std::max(1, int(Kokkos::DefaultExecutionSpace().concurrency())))
             : (std::uint64_t(256) << 20);
    const std::uint64_t per_rank = std::max<std::uint64_t>(1, budget / per_sim);
    return std::min<std::uint64_t>(split.ns, per_rank * std::uint64_t(rt_.size()));
  }

  // ---- output file -------------------------------------------------------------------------

  struct OutputSets {
    std::unique_ptr<io::OutputFile> file;
    std::unique_ptr<io::BoxDataset<double>> data, accel, energy, energy_drift, momentum_drift;
    std::unique_ptr<io::BoxDataset<std::int64_t>> steps, rejected;
    std::unique_ptr<io::BoxDataset<std::int8_t>> status;
  };

  std::vector<std::uint64_t> data_shape(std::uint64_t ns) const {
    return {ns, std::uint64_t(s_.grid.nt), std::uint64_t(s_.n), std::uint64_t(w_)};
  }
  std::vector<std::uint64_t> accel_shape(std::uint64_t ns) const {
    return {ns, std::uint64_t(s_.grid.nt), std::uint64_t(s_.n), std::uint64_t(s_.dims)};
  }

  /// Chunks of whole simulations (about 4 MiB), or of frames x tiles of bodies for one large
  /// system, so that a rank's writes touch few chunks.
  std::vector<std::uint64_t> chunk_for(const std::vector<std::uint64_t>& shape) const {
    std::vector<std::uint64_t> c = shape;
    if (s_.distribution == Distribution::bodies) {
      c[0] = 1;
      c[2] = std::min<std::uint64_t>(shape[2], std::uint64_t(s_.tile));
      const std::uint64_t frame_bytes = c[2] * shape[3] * 8;
      c[1] = std::clamp<std::uint64_t>((std::uint64_t(4) << 20) / frame_bytes, 1, shape[1]);
      return c;
    }
    std::uint64_t bytes = 8;
    for (std::size_t i = 1; i < shape.size(); ++i) bytes *= shape[i];
    c[0] = std::clamp<std::uint64_t>((std::uint64_t(4) << 20) / bytes, 1, shape[0]);
    while (c[0] == 1 && c[1] > 1 && bytes > (std::uint64_t(64) << 20)) {  // huge frames
      c[1] = (c[1] + 1) / 2;
      bytes /= 2;
    }
    return c;
  }

  void create_datasets(OutputSets& o, const NbodySplit& split) {
    io::OutputFile& f = *o.file;
    const auto ds = data_shape(split.ns), as = accel_shape(split.ns);
    o.data = std::make_unique<io::BoxDataset<double>>(
        f, "/data", ds, chunk_for(ds),
        "state per simulation, frame and body: [x(dims), v(dims), q, m] (the seed's layout)",
        "simulation units (G = k = 1)");
    o.accel = std::make_unique<io::BoxDataset<double>>(
        f, "/accel", as, chunk_for(as), "acceleration a = F/m of each body at each frame",
        "simulation units");
    const std::uint64_t ns = split.ns, nt = std::uint64_t(s_.grid.nt);
    const std::uint64_t chunk_ns = std::min<std::uint64_t>(ns, 65536);
    o.energy = std::make_unique<io::BoxDataset<double>>(
        f, "/diagnostics/energy", std::vector<std::uint64_t>{ns, nt},
        std::vector<std::uint64_t>{std::max<std::uint64_t>(1, std::min<std::uint64_t>(ns, (1u << 19) / nt)), nt},
        "total energy K + U of each simulation at each frame (damped: the spring part only)",
        "simulation units");
    auto series = [&](const char* path, const char* meaning, const char* units) {
      return std::make_unique<io::BoxDataset<double>>(f, path, std::vector<std::uint64_t>{ns},
                                                      std::vector<std::uint64_t>{chunk_ns},
                                                      meaning, units);
    };
    o.energy_drift = series("/diagnostics/energy_drift",
                            "max over frames of |E(t) - E(0)| / (K(0) + |U(0)|)", "1");
    o.momentum_drift = series("/diagnostics/momentum_drift",
                              "max over frames of |P(t) - P(0)| / sum_b m_b |v_b(0)|", "1");
    o.steps = std::make_unique<io::BoxDataset<std::int64_t>>(
        f, "/diagnostics/steps", std::vector<std::uint64_t>{ns}, std::vector<std::uint64_t>{chunk_ns},
        "accepted integration steps", "1");
    o.rejected = std::make_unique<io::BoxDataset<std::int64_t>>(
        f, "/diagnostics/rejected", std::vector<std::uint64_t>{ns},
        std::vector<std::uint64_t>{chunk_ns}, "rejected rk45 steps", "1");
    o.status = std::make_unique<io::BoxDataset<std::int8_t>>(
        f, "/diagnostics/status", std::vector<std::uint64_t>{ns}, std::vector<std::uint64_t>{chunk_ns},
        "0 ok, 1 too many steps in a frame interval, 2 non-finite state (frames NaN from there)",
        "1");
  }

  void open_datasets(OutputSets& o, const NbodySplit& split) {
    io::OutputFile& f = *o.file;
    const std::uint64_t ns = split.ns, nt = std::uint64_t(s_.grid.nt);
    o.data = std::make_unique<io::BoxDataset<double>>(io::BoxDataset<double>::open(f, "/data", data_shape(ns)));
    o.accel = std::make_unique<io::BoxDataset<double>>(io::BoxDataset<double>::open(f, "/accel", accel_shape(ns)));
    o.energy = std::make_unique<io::BoxDataset<double>>(
        io::BoxDataset<double>::open(f, "/diagnostics/energy", {ns, nt}));
    o.energy_drift = std::make_unique<io::BoxDataset<double>>(
        io::BoxDataset<double>::open(f, "/diagnostics/energy_drift", {ns}));
    o.momentum_drift = std::make_unique<io::BoxDataset<double>>(
        io::BoxDataset<double>::open(f, "/diagnostics/momentum_drift", {ns}));
    o.steps = std::make_unique<io::BoxDataset<std::int64_t>>(
        io::BoxDataset<std::int64_t>::open(f, "/diagnostics/steps", {ns}));
    o.rejected = std::make_unique<io::BoxDataset<std::int64_t>>(
        io::BoxDataset<std::int64_t>::open(f, "/diagnostics/rejected", {ns}));
    o.status = std::make_unique<io::BoxDataset<std::int8_t>>(
        io::BoxDataset<std::int8_t>::open(f, "/diagnostics/status", {ns}));
  }

  void write_attributes(io::OutputFile& f, const NbodySplit& split) {
    f.write_provenance({"nbody", deck_.source_text(), deck_.resolved_yaml(), split.seed});
    f.set_attribute("/", "split", split.name);
    f.set_attribute("/", "law", std::string(nbody::law_name(s_.law.law)));
    if (s_.law.law == nbody::ForceLaw::gravity) {
      f.set_attribute("/", "G", s_.law.gravity_G);
      f.set_attribute("/", "softening", s_.law.gravity_eps);
    }
    if (s_.law.law == nbody::ForceLaw::power) {
      f.set_attribute("/", "power_A", s_.law.power_A);
      f.set_attribute("/", "power_exponent", s_.law.power_exponent);
      f.set_attribute("/", "power_coupling", deck_.string("system.power.coupling"));
    }
    f.set_attribute("/", "distance_shift", nbody::distance_shift);
    f.set_attribute("/", "ns", split.ns);
    f.set_attribute("/", "n", std::int64_t(s_.n));
    f.set_attribute("/", "dims", std::int64_t(s_.dims));
    f.set_attribute("/", "dt", s_.grid.dt);
    f.set_attribute("/", "nt", std::int64_t(s_.grid.nt));
    f.set_attribute("/", "frame_spacing", s_.grid.frame_spacing());
    f.set_attribute("/", "t_end", s_.grid.time(s_.grid.nt - 1));
    f.set_attribute("/", "integrator", std::string(nbody::method_name(s_.integrator.method)));
    f.set_attribute("/", "engine", std::string(nbody::engine_name(s_.integrator.engine)));
    f.set_attribute("/", "substeps", std::int64_t(s_.grid.substeps));
    f.set_attribute("/", "rtol", s_.integrator.rtol);
    f.set_attribute("/", "atol", s_.integrator.atol);
    f.set_attribute("/", "distribute",
                    std::string(s_.distribution == Distribution::bodies ? "bodies" : "simulations"));
    f.set_attribute("/", "units", std::string("dimensionless simulation units (G = k = 1)"));
    f.set_attribute("/", "initial_conditions",
                    std::string("x, v, q, m ~ N(0,1) per body, then m = exp(m)") +
                        (s_.law.law == nbody::ForceLaw::charge ? ", q = sign(q)" : "") +
                        "; Philox (seed, simulation, body)");
    std::vector<double> times(std::size_t(s_.grid.nt));
    for (int k = 0; k < s_.grid.nt; ++k) times[std::size_t(k)] = s_.grid.time(k);
    f.write_array("/times", times.data(), {std::uint64_t(s_.grid.nt)},
                  "time of each frame, t_k = k dt nt/(nt-1)", "simulation units");
  }

  // ---- one split ---------------------------------------------------------------------------

  void run_split(std::size_t split_index) {
    const NbodySplit& split = s_.splits[split_index];
    const std::string ckpt = checkpoint_path_for(split.path);
    const std::string name = label(split);

    std::uint64_t done = 0;  // simulations (ensemble) or frames of simulation `sim` (bodies)
    std::uint64_t done_sim = 0;
    bool resuming = false;
    OutputSets out;
    diag_ = Diagnostics{};
    diag_.resize(rt_.rank() == 0 ? split.ns : 0);
    bodies_reference_.clear();
    restart_rows_.clear();
    SplitStart start = SplitStart::create;
    collective_try(rt_.comm(), [&] {
      start = detail::split_start(split.path, options_, restart_has_state_);
      if (start != SplitStart::resume) return;
      resuming = true;
      read_checkpoint(ckpt, split_index, done, done_sim);
      if (rt_.rank() == 0) read_diagnostics(split, done_sim);
      if (s_.distribution == Distribution::bodies && done > 0)
        read_restart_rows(split, done_sim, done - 1);
      out.file = std::make_unique<io::OutputFile>(
          io::OutputFile::reopen_partial(rt_.comm(), split.path, iocfg_));
    });
    if (start == SplitStart::skip) {
      log::info(name + ": '" + split.path + "' is already complete; skipping");
      return;
    }
    if (!resuming) {
      out.file = std::make_unique<io::OutputFile>(collective_try(rt_.comm(), [&] {
        return io::OutputFile::create(rt_.comm(), split.path, options_.overwrite, iocfg_);
      }));
      write_attributes(*out.file, split);
      create_datasets(out, split);
    } else {
      collective_try(rt_.comm(), [&] { open_datasets(out, split); });
      log::info(name + ": resuming '" + split.path + "' after " + std::to_string(done_sim) +
                " complete simulations" +
                (s_.distribution == Distribution::bodies
                     ? " and " + std::to_string(done) + " frames of the next"
                     : std::string()));
    }

    const auto t0 = std::chrono::steady_clock::now();
    if (s_.distribution == Distribution::bodies)
      run_bodies(out, split, ckpt, done_sim, done);
    else
      run_ensemble(out, split, ckpt, done_sim);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    out.data.reset();
    out.accel.reset();
    out.file->commit();
    if (rt_.rank() == 0 && file_exists(ckpt)) std::remove(ckpt.c_str());
    if (rt_.rank() == 0) write_summary(split, "complete", seconds);
    log::info(name + ": wrote " + split.path + " (summary " + summary_path_for(split.path) + ")");
  }

  // ---- ensembles ---------------------------------------------------------------------------

  void run_ensemble(OutputSets& out, const NbodySplit& split, const std::string& ckpt,
                    std::uint64_t done) {
    const std::uint64_t B = batch_size(split);
    const int d = s_.dims, n = s_.n, nt = s_.grid.nt, w = w_;
    const std::size_t frame_len = std::size_t(n) * std::size_t(w);
    const std::size_t sim_len = std::size_t(nt) * frame_len;
    const std::size_t acc_len = std::size_t(nt) * std::size_t(n) * std::size_t(d);
    Progress progress(label(split) + " " + nbody::law_name(s_.law.law) + " n=" + std::to_string(n),
                      split.ns, "simulations", s_.progress_interval);
    progress.update(done);
    // Buffers for this rank's share of a batch, allocated once and not zero-filled: every
    // element is written by the integrator before it is read (frames of failed simulations
    // included, as NaN).
    const std::uint64_t P = std::uint64_t(rt_.size()), most = (B + P - 1) / P;  // >= any block
    const std::unique_ptr<double[]> frames(new double[std::size_t(most) * sim_len]);
    const std::unique_ptr<double[]> accel(new double[std::size_t(most) * acc_len]);
    std::vector<nbody::SimStats> stats(static_cast<std::size_t>(most));
    std::vector<double> energy(std::size_t(most) * std::size_t(nt));
    std::vector<double> edrift(most), pdrift(most);
    std::vector<std::int64_t> steps(most), rejected(most);
    std::vector<std::int8_t> status(most);
    std::uint64_t batches_this_run = 0;
    for (std::uint64_t first = done; first < split.ns;) {
      const std::uint64_t count = std::min<std::uint64_t>(B, split.ns - first);
      const auto [off, m] = block_of(count, rt_.rank(), rt_.size());
      const std::uint64_t my_first = first + off;

      // Initial conditions, integration.
      collective_try(rt_.comm(), [&] {
        integrate_block(split.seed, my_first, m, frames.get(), accel.get(), stats.data());
      });

      // Diagnostics of this rank's simulations.
      for (std::uint64_t i = 0; i < m; ++i) {
        const FrameDiagnostics fd = frame_diagnostics(s_.law, d, n, nt, frames.get() + i * sim_len,
                                                      energy.data() + i * std::size_t(nt));
        edrift[i] = fd.energy_drift;
        pdrift[i] = fd.momentum_drift;
        steps[i] = stats[i].steps;
        rejected[i] = stats[i].rejected;
        status[i] = std::int8_t(stats[i].status);
      }

      // Write the block: every rank its own simulations.
      collective_try(rt_.comm(), [&] {
        const std::uint64_t N = std::uint64_t(n), NT = std::uint64_t(nt);
        out.data->write({my_first, 0, 0, 0}, {m, NT, N, std::uint64_t(w)}, frames.get());
        out.accel->write({my_first, 0, 0, 0}, {m, NT, N, std::uint64_t(d)}, accel.get());
        out.energy->write({my_first, 0}, {m, NT}, energy.data());
        out.energy_drift->write({my_first}, {m}, edrift.data());
        out.momentum_drift->write({my_first}, {m}, pdrift.data());
        out.steps->write({my_first}, {m}, steps.data());
        out.rejected->write({my_first}, {m}, rejected.data());
        out.status->write({my_first}, {m}, status.data());
      });
      gather_diagnostics(first, count, m, edrift, pdrift, steps, rejected, status);

      first += count;
      ++batches_this_run;
      progress.update(first);
      if (first >= split.ns) break;
      const bool periodic = s_.checkpoint_every > 0 && batches_this_run % s_.checkpoint_every == 0;
      const bool budget = s_.stop_after > 0 && batches_this_run >= s_.stop_after;
      const bool signalled = signals::stop_requested_anywhere(rt_.comm());
      if (periodic || budget || signalled) {
        out.file->flush();
        write_checkpoint(ckpt, split, first, 0);
        if (budget || signalled) stop_here(split, ckpt, budget, first, 0);
      }
    }
    progress.finish();
  }

  /// Integrates simulations [first, first + m) of the split into frames/accel/stats (host).
  void integrate_block(std::uint64_t seed, std::uint64_t first, std::uint64_t m, double* frames,
                       double* accel, nbody::SimStats* stats) {
    if (m == 0) return;
    const int d = s_.dims, n = s_.n, nt = s_.grid.nt, w = w_;
    const std::size_t frame_len = std::size_t(n) * std::size_t(w);
    if (s_.integrator.engine == nbody::Engine::petsc) {
      std::vector<double> init(frame_len);
      for (std::uint64_t i = 0; i < m; ++i) {
        nbody::initial_bodies(s_.law.law, seed, d, first + i, 0, std::uint64_t(n), init.data());
        nbody::integrate_petsc(s_.law, d, n, s_.grid, s_.integrator, init.data(),
                               frames + i * std::size_t(nt) * frame_len,
                               accel + i * std::size_t(nt) * std::size_t(n) * std::size_t(d),
                               stats[i]);
      }
      return;
    }
    nbody::BatchState init(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nbody_initial"), m,
                           std::size_t(n), std::size_t(w));
    auto init_h = Kokkos::create_mirror_view(init);
    for (std::uint64_t i = 0; i < m; ++i)
      nbody::initial_bodies(s_.law.law, seed, d, first + i, 0, std::uint64_t(n), &init_h(i, 0, 0));
    Kokkos::deep_copy(init, init_h);
    const std::size_t NT = std::size_t(nt), N = std::size_t(n), W = std::size_t(w);
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::DefaultExecutionSpace,
                                             Kokkos::HostSpace>::accessible) {
      // Host back ends: the kernel writes straight into the caller's buffers (unmanaged views
      // of the same LayoutRight shape), no device copies.
      const nbody::BatchFrames f(frames, m, NT, N, W), a(accel, m, NT, N, std::size_t(d));
      const nbody::BatchStats st(stats, m);
      nbody::integrate_batch(s_.law, d, s_.grid, s_.integrator, init, f, a, st);
    } else {
      const auto no_init = [](const std::string& label) {
        return Kokkos::view_alloc(Kokkos::WithoutInitializing, label);
      };
      nbody::BatchFrames f(no_init("nbody_frames"), m, NT, N, W);
      nbody::BatchFrames a(no_init("nbody_accel"), m, NT, N, std::size_t(d));
      nbody::BatchStats st(no_init("nbody_stats"), m);
      nbody::integrate_batch(s_.law, d, s_.grid, s_.integrator, init, f, a, st);
      // Copy out through unmanaged host views over the caller's buffers (same LayoutRight).
      Kokkos::View<double****, Kokkos::LayoutRight, Kokkos::HostSpace,
                   Kokkos::MemoryTraits<Kokkos::Unmanaged>>
          fh(frames, m, NT, N, W), ah(accel, m, NT, N, std::size_t(d));
      Kokkos::deep_copy(fh, f);
      Kokkos::deep_copy(ah, a);
      auto st_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), st);
      for (std::uint64_t i = 0; i < m; ++i) stats[i] = st_h(i);
    }
  }

  /// Rank 0 collects the diagnostics of batch [first, first + count) in simulation order.
  void gather_diagnostics(std::uint64_t first, std::uint64_t count, std::uint64_t m,
                          const std::vector<double>& edrift, const std::vector<double>& pdrift,
                          const std::vector<std::int64_t>& steps,
                          const std::vector<std::int64_t>& rejected,
                          const std::vector<std::int8_t>& status) {
    const int P = rt_.size();
    std::vector<int> counts(static_cast<std::size_t>(P)), displs(static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r) {
      const auto [o, c] = block_of(count, r, P);
      counts[std::size_t(r)] = int(c);
      displs[std::size_t(r)] = int(o);
    }
    const bool root = rt_.rank() == 0;
    auto gather = [&](const void* send, void* recv, MPI_Datatype t) {
      check_mpi(MPI_Gatherv(send, int(m), t, recv, counts.data(), displs.data(), t, 0, rt_.comm()),
                "MPI_Gatherv");
    };
    gather(edrift.data(), root ? diag_.energy_drift.data() + first : nullptr, MPI_DOUBLE);
    gather(pdrift.data(), root ? diag_.momentum_drift.data() + first : nullptr, MPI_DOUBLE);
    gather(steps.data(), root ? diag_.steps.data() + first : nullptr, MPI_INT64_T);
    gather(rejected.data(), root ? diag_.rejected.data() + first : nullptr, MPI_INT64_T);
    gather(status.data(), root ? diag_.status.data() + first : nullptr, MPI_INT8_T);
  }

  // ---- one system spread over the ranks by bodies ------------------------------------------

  void run_bodies(OutputSets& out, const NbodySplit& split, const std::string& ckpt,
                  std::uint64_t done_sim, std::uint64_t done_frames) {
    const int d = s_.dims, n = s_.n, nt = s_.grid.nt, w = w_;
    const bool root = rt_.rank() == 0;
    const std::uint64_t total_frames = split.ns * std::uint64_t(nt);
    Progress progress(label(split) + " " + nbody::law_name(s_.law.law) + " n=" + std::to_string(n),
                      total_frames, "frames", s_.progress_interval);
    std::uint64_t frames_this_run = 0;
    for (std::uint64_t sim = done_sim; sim < split.ns; ++sim) {
      const bool resume = sim == done_sim && done_frames > 0;
      auto sys = collective_try(rt_.comm(), [&] {
        return std::make_unique<nbody::DistributedSystem>(rt_.comm(), s_.law, d, n, s_.tile);
      });
      const std::uint64_t first_body = std::uint64_t(sys->first_body());
      const std::uint64_t nb = std::uint64_t(sys->local_bodies());
      int first_frame = 0;
      if (resume) {
        sys->set_local_state(restart_rows_.data());
        first_frame = int(done_frames) - 1;  // frame done_frames-1 is rewritten, identically
      } else {
        sys->set_initial_conditions(split.seed, sim);
        bodies_reference_.clear();
      }

      auto on_frame = [&](int k, const nbody::DistributedSystem::HostStateView& st,
                          const nbody::DistributedSystem::HostAccelView& ac) {
        collective_try(rt_.comm(), [&] {
          out.data->write({sim, std::uint64_t(k), first_body, 0}, {1, 1, nb, std::uint64_t(w)},
                          st.data());
          out.accel->write({sim, std::uint64_t(k), first_body, 0}, {1, 1, nb, std::uint64_t(d)},
                           ac.data());
        });
        const nbody::SystemDiagnostics dg = sys->diagnostics();
        update_bodies_drift(*sys, dg, k);
        const double e = dg.total;
        collective_try(rt_.comm(), [&] {
          out.energy->write({sim, std::uint64_t(k)}, root ? std::vector<std::uint64_t>{1, 1}
                                                         : std::vector<std::uint64_t>{},
                            &e);
        });
        progress.update(sim * std::uint64_t(nt) + std::uint64_t(k) + 1);
        if (k == first_frame || k == nt - 1) return;  // nothing new to checkpoint
        ++frames_this_run;
        const bool periodic = s_.checkpoint_every > 0 && frames_this_run % s_.checkpoint_every == 0;
        const bool budget = s_.stop_after > 0 && frames_this_run >= s_.stop_after;
        const bool signalled = signals::stop_requested_anywhere(rt_.comm());
        if (periodic || budget || signalled) {
          out.file->flush();
          write_checkpoint(ckpt, split, sim, std::uint64_t(k) + 1);
          if (budget || signalled) stop_here(split, ckpt, budget, sim, std::uint64_t(k) + 1);
        }
      };
      const nbody::SimStats st = sys->integrate(s_.grid, s_.integrator.method, on_frame, first_frame);

      // Per-simulation diagnostics (rank 0 writes the one element).
      const double edrift = bodies_reference_[6], pdrift = bodies_reference_[7];
      const std::int64_t steps = st.status == 0 ? std::int64_t(nt - 1) * s_.grid.substeps : st.steps;
      const std::int64_t rejected = 0;
      const std::int8_t status = std::int8_t(st.status);
      const std::vector<std::uint64_t> one =
          root ? std::vector<std::uint64_t>{1} : std::vector<std::uint64_t>{};
      collective_try(rt_.comm(), [&] {
        out.energy_drift->write({sim}, one, &edrift);
        out.momentum_drift->write({sim}, one, &pdrift);
        out.steps->write({sim}, one, &steps);
        out.rejected->write({sim}, one, &rejected);
        out.status->write({sim}, one, &status);
      });
      if (root) {
        diag_.energy_drift[sim] = edrift;
        diag_.momentum_drift[sim] = pdrift;
        diag_.steps[sim] = steps;
        diag_.rejected[sim] = rejected;
        diag_.status[sim] = status;
      }
    }
    progress.finish();
  }

  /// Folds frame k's energy and momentum into the running drifts of the simulation in
  /// progress (bodies_reference_, kept in the checkpoint so a restart continues them).
  void update_bodies_drift(nbody::DistributedSystem& sys, const nbody::SystemDiagnostics& dg,
                           int k) {
    if (k == 0 || bodies_reference_.empty()) {
      // The momentum scale sum_b m_b |v_b| from the gathered state (once per simulation),
      // summed in body order on rank 0 and shared, so every rank holds the same bits.
      const std::vector<double> all = sys.gather_state(0);
      const int d = s_.dims, w = w_;
      double pscale = 0.0;
      for (std::size_t b = 0; b < all.size() / std::size_t(w); ++b) {
        double v2 = 0.0;
        for (int c = 0; c < d; ++c) v2 += all[b * std::size_t(w) + std::size_t(d + c)] * all[b * std::size_t(w) + std::size_t(d + c)];
        pscale += all[b * std::size_t(w) + std::size_t(w - 1)] * std::sqrt(v2);
      }
      check_mpi(MPI_Bcast(&pscale, 1, MPI_DOUBLE, 0, rt_.comm()), "MPI_Bcast");
      bodies_reference_ = {dg.total, dg.kinetic + std::fabs(dg.potential), dg.momentum[0],
                           dg.momentum[1], dg.momentum[2], pscale, 0.0, 0.0};
      return;
    }
    auto& r = bodies_reference_;
    const double de = std::fabs(dg.total - r[0]) / (r[1] > 0.0 ? r[1] : 1.0);
    double dp2 = 0.0;
    for (int c = 0; c < 3; ++c) dp2 += (dg.momentum[std::size_t(c)] - r[std::size_t(2 + c)]) *
                                       (dg.momentum[std::size_t(c)] - r[std::size_t(2 + c)]);
    const double dp = std::sqrt(dp2) / (r[5] > 0.0 ? r[5] : 1.0);
    r[6] = std::isnan(de) || std::isnan(r[6]) ? NAN : std::max(r[6], de);
    r[7] = std::isnan(dp) || std::isnan(r[7]) ? NAN : std::max(r[7], dp);
  }

  /// Each rank reads its bodies' rows of frame `frame` of simulation `sim` from the .partial.
  void read_restart_rows(const NbodySplit& split, std::uint64_t sim, std::uint64_t frame) {
    const nbody::OwnedBodies own =
        nbody::DistributedSystem::owned_bodies(rt_.rank(), rt_.size(), s_.n, s_.tile);
    io::InputFile f = io::InputFile::open(split.path + ".partial", MPI_COMM_SELF,
                                          io::PartialFiles::allow);
    restart_rows_ = f.read_hyperslab<double>(
        "/data", {sim, frame, std::uint64_t(own.first_body), 0},
        {1, 1, std::uint64_t(own.bodies), std::uint64_t(w_)});
  }

  // ---- checkpoints -------------------------------------------------------------------------

  void write_checkpoint(const std::string& path, const NbodySplit& split, std::uint64_t sims_done,
                        std::uint64_t frames_done) {
    collective_try(rt_.comm(), [&] {
      io::OutputFile f = io::OutputFile::create(rt_.comm(), path, /*overwrite=*/true, iocfg_);
      f.write_provenance({"nbody", deck_.source_text(), deck_.resolved_yaml(), split.seed});
      f.set_attribute("/", "checkpoint_split", split.name);
      f.set_attribute("/", "checkpoint_simulations_done", sims_done);
      f.set_attribute("/", "checkpoint_frames_done", frames_done);
      if (!bodies_reference_.empty())
        f.set_attribute("/", "checkpoint_bodies_reference", bodies_reference_);
      f.commit();
    });
  }

  void read_checkpoint(const std::string& ckpt, std::size_t split_index, std::uint64_t& frames_done,
                       std::uint64_t& sims_done) {
    io::InputFile f = io::InputFile::open(ckpt, MPI_COMM_SELF);
    config::Deck saved = config::Deck::load_string(f.attribute_string("/", "deck_resolved"), {},
                                                   nbody_schema(), ckpt);
    if (!detail::restart_compatible(saved, deck_, restart_may_change))
      throw input_error("checkpoint '" + ckpt + "' was written by a different deck (only "
                        "checkpoint.*, progress.* and ensemble.batch may change on --restart); "
                        "rerun with the original deck, or start over with --overwrite");
    if (f.attribute_string("/", "checkpoint_split") != s_.splits[split_index].name)
      throw input_error("checkpoint '" + ckpt + "' belongs to split '" +
                        f.attribute_string("/", "checkpoint_split") + "'");
    sims_done = f.attribute_uint("/", "checkpoint_simulations_done");
    frames_done = f.attribute_uint("/", "checkpoint_frames_done");
    if (f.has_attribute("/", "checkpoint_bodies_reference"))
      bodies_reference_ = f.attribute_doubles("/", "checkpoint_bodies_reference");
  }

  /// Rank 0 reloads the diagnostics of the simulations finished before the interruption from
  /// the .partial output (flushed before the checkpoint was written).
  void read_diagnostics(const NbodySplit& split, std::uint64_t sims_done) {
    if (sims_done == 0) return;
    io::InputFile f = io::InputFile::open(split.path + ".partial", MPI_COMM_SELF,
                                          io::PartialFiles::allow);
    auto load = [&](const char* path, auto& dst) {
      using T = typename std::decay_t<decltype(dst)>::value_type;
      const auto v = f.read_hyperslab<T>(path, {0}, {sims_done});
      std::copy(v.begin(), v.end(), dst.begin());
    };
    load("/diagnostics/energy_drift", diag_.energy_drift);
    load("/diagnostics/momentum_drift", diag_.momentum_drift);
    load("/diagnostics/steps", diag_.steps);
    load("/diagnostics/rejected", diag_.rejected);
    load("/diagnostics/status", diag_.status);
  }

  [[noreturn]] void stop_here(const NbodySplit& split, const std::string& ckpt, bool budget,
                              std::uint64_t sims_done, std::uint64_t frames_done) {
    if (rt_.rank() == 0) {
      nlohmann::json extra = {{"checkpoint", ckpt},
                              {"interrupted_at",
                               {{"simulations_done", sims_done}, {"frames_done", frames_done}}}};
      write_summary(split, "interrupted", 0.0, extra);
    }
    throw detail::interrupted_error(
        !budget, s_.stop_after, ckpt,
        std::to_string(sims_done) + " of " + std::to_string(split.ns) + " simulations complete",
        deck_);
  }

  // ---- summary -----------------------------------------------------------------------------

  void write_summary(const NbodySplit& split, const std::string& status, double seconds,
                     const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json j = summary_header("nbody", status, split.path, split.name, split.seed,
                                      rt_.size(), deck_.values());
    j["system"] = {{"law", nbody::law_name(s_.law.law)}, {"n", s_.n}, {"dims", s_.dims},
                   {"ns", split.ns},
                   {"distribute", s_.distribution == Distribution::bodies ? "bodies" : "simulations"}};
    j["time"] = {{"dt", s_.grid.dt}, {"nt", s_.grid.nt}, {"substeps", s_.grid.substeps},
                 {"frame_spacing", s_.grid.frame_spacing()}, {"t_end", s_.grid.time(s_.grid.nt - 1)}};
    j["integrator"] = {{"method", nbody::method_name(s_.integrator.method)},
                       {"engine", nbody::engine_name(s_.integrator.engine)},
                       {"rtol", s_.integrator.rtol}, {"atol", s_.integrator.atol}};
    j["wall_seconds"] = seconds;
    if (status == "complete") {
      std::int64_t total_steps = 0, failed = 0;
      for (std::size_t i = 0; i < diag_.steps.size(); ++i) {
        total_steps += diag_.steps[i];
        failed += diag_.status[i] != 0;
      }
      const double pairs = 0.5 * double(s_.n) * double(s_.n - 1);
      j["performance"] = {{"steps", total_steps},
                          {"steps_per_second", seconds > 0 ? double(total_steps) / seconds : 0.0},
                          {"pair_interactions_per_step", pairs}};
      j["diagnostics"] = {
          {"failed_simulations", failed},
          {"energy_drift", stats_json(diag_.energy_drift)},
          {"momentum_drift", stats_json(diag_.momentum_drift)},
          {"definition",
           "energy_drift = max_t |E(t) - E(0)| / (K(0) + |U(0)|); momentum_drift = max_t "
           "|P(t) - P(0)| / sum_b m_b |v_b(0)|; per simulation in the same order as /data"},
          {"per_simulation",
           {{"energy_drift", diag_.energy_drift},
            {"momentum_drift", diag_.momentum_drift},
            {"steps", diag_.steps},
            {"rejected", diag_.rejected},
            {"status", std::vector<int>(diag_.status.begin(), diag_.status.end())}}}};
      if (s_.law.law == nbody::ForceLaw::damped)
        j["diagnostics"]["note"] = "damped: energy is dissipated by design; drift is not an error";
    }
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
    // JSON cannot hold NaN: a failed simulation's drift is written as null.
    write_json_atomic(summary_path_for(split.path), j);
  }

  const config::Deck& deck_;
  Runtime& rt_;
  RunOptions options_;
  NbodySettings s_;
  io::ParallelIOConfig iocfg_;
  int w_ = 6;
  Diagnostics diag_;                 ///< rank 0: all simulations of the split
  /// distribute=bodies, the simulation in progress: E(0), K(0) + |U(0)|, P(0) (3), the
  /// momentum scale, and the largest energy and momentum drifts so far (8 numbers).
  std::vector<double> bodies_reference_;
  bool restart_has_state_ = false;    ///< some split has an output, .partial or checkpoint
  std::vector<double> restart_rows_;  ///< bodies: this rank's rows of the frame to resume from
};

}  // namespace

Workflow nbody_workflow() {
  Workflow w;
  w.name = "nbody";
  w.description =
      "N-body simulations in the symbolic-distillation seed's layout: ensembles of ns systems "
      "of n bodies (spring, r1, r2, charge, damped, discontinuous, gravity, a deck-defined "
      "power law) integrated with "
      "Kokkos kernels (verlet, rk4, adaptive Dormand-Prince per simulation) or PETSc TS, or one "
      "large system spread over the ranks by particles; /data (ns, nt, n, 2d+2) and /accel "
      "(ns, nt, n, d) into parallel HDF5.";
  w.schema = nbody_schema;
  w.check = [](const config::Deck& deck, int ranks) { (void)nbody_settings(deck, ranks); };
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    NbodyRun(deck, rt, options).run();
  };
  return w;
}

}  // namespace phyflow::workflows
