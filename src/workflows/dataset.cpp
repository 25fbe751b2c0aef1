// workflow: dataset -- the data sets of scalar-based equivariant learning (EMLP's O5Synthetic,
// Inertia, ParticleInteraction and DoubleSpringPendulum; ml/equivariant_data.hpp) in the
// regression layout the trainer reads: /x float64 (N, k), /y float64 (N, m).
//
//   phyflow run inputs/equivariant/o5_data.yaml
//   mpiexec -n 2 phyflow run inputs/equivariant/pendulum_data.yaml
//
// Steps:
//   1. read the deck: kind, n, seed (or splits: train/val/test with their own n and seed);
//   2. per output file: create OUTPUT.partial with /x and /y and their column attributes;
//   3. every global batch of samples is split into contiguous blocks, one per rank; a rank
//      draws its samples from Philox keyed by (seed, sample index) -- the pendulum integrates
//      each trajectory -- and the ranks write their blocks collectively;
//   4. commit (rename), write the JSON summary.
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/box_dataset.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/equivariant_data.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/workflows/workflow.hpp"

#include <algorithm>

namespace phyflow::workflows {
namespace {

namespace eq = ml::equivariant;

config::Schema dataset_schema() {
  config::Schema s("dataset");
  s.choice("workflow", "dataset", {"dataset"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "Philox key of the inputs: sample i depends only on (seed, i), not on the ranks");
  s.choice("kind", "o5", eq::kind_names(),
           "o5: O(5)-invariant regression, /x (N,10) -> /y (N,1); inertia: inertia tensor of 5 "
           "masses, /x (N,20) = 5 x [m,x,y,z] -> /y (N,9); lorentz: e-mu interaction, /x (N,16) "
           "= 4 four-momenta (t first) -> /y (N,1); pendulum: double spring pendulum, /x (N,12) "
           "state -> /y (N, steps x 12) later states");
  s.integer("n", 1000, 1, 1e12, "samples (pendulum: trajectories, one chunk or rollout each)");
  s.real("pendulum.dt", 0.2, 1e-6, 1e3, "pendulum: spacing of the stored states (EMLP: 0.2)");
  s.integer("pendulum.chunk", 5, 2, 1e6, "pendulum: states per training chunk (EMLP: 5)");
  s.real("pendulum.duration", 30.0, 1e-6, 1e6,
         "pendulum: length of each trajectory (EMLP: 30); a chunk is drawn from it");
  s.integer("pendulum.substeps", 20, 1, 1e6, "pendulum: RK4 steps per pendulum.dt");
  s.boolean("pendulum.rollout", false,
            "pendulum: store whole trajectories (x = z(0), y = z(dt) ... z(duration - dt)) for "
            "rollout tests, instead of one chunk per trajectory");
  s.integer("batch", 65536, 1, 1e12, "samples generated and written together over all ranks");
  s.string("output.path", std::string("dataset.h5"),
           "output HDF5 file (written as PATH.partial, renamed when complete)");
  add_run_keys(s, "batches");
  add_split_keys(s, "n");
  s.integer("splits[].n", std::nullopt, 1, 1e12, "samples of this split (default: n)");
  return s;
}

struct DatasetSettings {
  eq::Kind kind = eq::Kind::o5;
  eq::PendulumSampling pendulum;
  std::uint64_t batch = 65536;
  RunKeys keys;
  struct Split {
    SplitEntry entry;
    std::uint64_t n = 0;
  };
  std::vector<Split> splits;
};

DatasetSettings dataset_settings(const config::Deck& deck) {
  const std::string where = "deck '" + deck.origin() + "'";
  DatasetSettings s;
  s.kind = eq::kind_from_name(deck.string("kind"), where);
  s.pendulum.dt = deck.real("pendulum.dt");
  s.pendulum.chunk = int(deck.integer("pendulum.chunk"));
  s.pendulum.duration = deck.real("pendulum.duration");
  s.pendulum.substeps = int(deck.integer("pendulum.substeps"));
  s.pendulum.rollout = deck.boolean("pendulum.rollout");
  s.batch = std::uint64_t(deck.integer("batch"));
  s.keys = run_keys(deck);
  if (s.kind == eq::Kind::pendulum) {
    const long points = std::lround(s.pendulum.duration / s.pendulum.dt);
    if (points < 2 || (!s.pendulum.rollout && points < s.pendulum.chunk))
      throw input_error(where + ": pendulum.duration / pendulum.dt = " + std::to_string(points) +
                        " states, fewer than one chunk of pendulum.chunk = " +
                        std::to_string(s.pendulum.chunk) + "; lengthen pendulum.duration");
  }
  if (deck.string("output.path").empty()) throw input_error(where + ": output.path is empty");
  for (const SplitEntry& e : split_entries(deck))
    s.splits.push_back({e, e.row.contains("n") ? e.row.at("n").get<std::uint64_t>()
                                               : std::uint64_t(deck.integer("n"))});
  return s;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void write_split(const config::Deck& deck, Runtime& rt, const RunOptions& options,
                 const DatasetSettings& s, const DatasetSettings::Split& split) {
  const std::string& path = split.entry.path;
  const std::uint64_t n = split.n, seed = split.entry.seed;
  const bool pendulum = s.kind == eq::Kind::pendulum;
  const int steps = pendulum ? s.pendulum.steps() : 0;
  const std::uint64_t kx = std::uint64_t(eq::x_columns(s.kind));
  const std::uint64_t ky = std::uint64_t(eq::y_columns(s.kind, steps));

  // 2. The file and its datasets.
  io::ParallelIOConfig io_config;
  io_config.collective_transfer = s.keys.collective_io;
  io_config.alignment = s.keys.alignment;
  io_config.alignment_threshold = s.keys.alignment > 0 ? s.keys.alignment / 2 : 0;
  io::OutputFile out = collective_try(rt.comm(), [&] {
    return io::OutputFile::create(rt.comm(), path, options.overwrite, io_config);
  });
  out.write_provenance({"dataset", deck.source_text(), deck.resolved_yaml(), seed});
  out.set_attribute("/", "dataset_kind", eq::kind_name(s.kind));
  out.set_attribute("/", "samples", n);
  const std::uint64_t chunk = std::max<std::uint64_t>(1, std::min<std::uint64_t>(n, (1u << 20) / (8 * (kx + ky))));
  io::BoxDataset<double> x(out, "/x", {n, kx}, {chunk, kx}, eq::x_meaning(s.kind), "1");
  io::BoxDataset<double> y(out, "/y", {n, ky}, {chunk, ky}, eq::y_meaning(s.kind), "1");
  out.set_attribute("/x", "columns", joined(eq::x_column_names(s.kind)));
  out.set_attribute("/y", "columns", joined(eq::y_column_names(s.kind, steps)));
  out.set_attribute("/x", "kind", eq::kind_name(s.kind));
  out.set_attribute("/y", "kind", eq::kind_name(s.kind));
  if (pendulum) {
    out.set_attribute("/", "pendulum_dt", s.pendulum.dt);
    out.set_attribute("/", "pendulum_steps", std::int64_t(steps));
    out.set_attribute("/", "pendulum_rollout", std::int64_t(s.pendulum.rollout));
    out.set_attribute("/", "pendulum_substeps", std::int64_t(s.pendulum.substeps));
    out.set_attribute("/", "pendulum_duration", s.pendulum.duration);
  }

  // 3. Batches of samples, each split into one contiguous block per rank.
  const std::uint64_t ranks = std::uint64_t(rt.size()), rank = std::uint64_t(rt.rank());
  Progress progress("dataset " + eq::kind_name(s.kind) +
                        (split.entry.name.empty() ? "" : " " + split.entry.name),
                    n, "samples", s.keys.progress_interval);
  std::vector<double> bx, by;
  for (std::uint64_t begin = 0; begin < n; begin += s.batch) {
    const std::uint64_t count = std::min(s.batch, n - begin);
    const std::uint64_t lo = begin + count * rank / ranks, hi = begin + count * (rank + 1) / ranks;
    bx.assign((hi - lo) * kx, 0.0);
    by.assign((hi - lo) * ky, 0.0);
    for (std::uint64_t i = lo; i < hi; ++i) {
      double* xi = bx.data() + (i - lo) * kx;
      double* yi = by.data() + (i - lo) * ky;
      if (pendulum) eq::pendulum_sample(s.pendulum, seed, i, xi, yi);
      else {
        eq::draw_inputs(s.kind, seed, i, xi);
        eq::targets(s.kind, xi, yi);
      }
      if (rank == 0 && (i - lo) % 256 == 0) progress.update(begin + (i - lo) * ranks);
    }
    x.write({lo, 0}, {hi - lo, kx}, bx.data());
    y.write({lo, 0}, {hi - lo, ky}, by.data());
    progress.update(begin + count);
  }
  progress.finish();

  // 4. Commit and summary.
  out.commit();
  if (rt.rank() == 0) {
    auto j = summary_header("dataset", "complete", path, split.entry.name, seed, rt.size(),
                            deck.values());
    j["kind"] = eq::kind_name(s.kind);
    j["samples"] = n;
    j["x"] = {{"shape", {n, kx}}, {"meaning", eq::x_meaning(s.kind)}, {"columns", eq::x_column_names(s.kind)}};
    j["y"] = {{"shape", {n, ky}}, {"meaning", eq::y_meaning(s.kind)}};
    if (pendulum)
      j["pendulum"] = {{"dt", s.pendulum.dt}, {"steps", steps}, {"rollout", s.pendulum.rollout},
                       {"substeps", s.pendulum.substeps}, {"duration", s.pendulum.duration}};
    j["seconds"] = progress.elapsed_s();
    write_json_atomic(summary_path_for(path), j);
  }
  log::info("dataset: wrote " + path + " (" + std::to_string(n) + " " + eq::kind_name(s.kind) +
            " samples, /x (" + std::to_string(n) + ", " + std::to_string(kx) + ") -> /y (" +
            std::to_string(n) + ", " + std::to_string(ky) + "))");
}

}  // namespace

Workflow dataset_workflow() {
  Workflow w;
  w.name = "dataset";
  w.description =
      "equivariant-learning data sets (EMLP's O(5), inertia, Lorentz, double spring pendulum) "
      "in the regression layout /x, /y that workflow: train reads; Philox-seeded per sample";
  w.schema = dataset_schema;
  w.check = [](const config::Deck& deck, int) { (void)dataset_settings(deck); };
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    const DatasetSettings s = dataset_settings(deck);
    for (const auto& split : s.splits) write_split(deck, rt, options, s, split);
  };
  return w;
}

}  // namespace phyflow::workflows
