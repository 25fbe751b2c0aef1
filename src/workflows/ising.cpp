// Ising workflow: deck -> Monte Carlo chains at each temperature -> one parallel HDF5 file per
// split, with per-temperature statistics, a JSON summary, checkpoints and restart.
//
// Sample runs:
//   mpiexec -n 2 phyflow run inputs/ising_quick.yaml
//   mpiexec -n 4 phyflow run inputs/ising2d.yaml --set lattice.L=256 --set output.path=run7.h5
//   phyflow run inputs/watch_and_learn.yaml          (train/val/test files of the seed project)
//
// Steps, for each split (output file):
//   1. open the output (new, or the .partial of an interrupted run when --restart) and the
//      checkpoint to resume from, if any;
//   2. for each temperature: thermalise, optionally measure tau_int in a pilot run and widen
//      the sampling interval, then sample: every `between` sweeps append the configuration,
//      its energy and magnetisation; checkpoint every N sweeps and on SIGTERM/SIGUSR1;
//   3. per temperature: means with Gamma-method errors and tau_int as group attributes;
//   4. commit (rename .partial -> final), delete the checkpoint, write the JSON summary.
//
// Random numbers: the Philox counter of a draw is (global site, step) with
// step = (temperature index << 40) + sweep, keyed by the split's seed, so output does not
// depend on the rank count and a restart needs only the sweep counter.
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/lattice/autocorrelation.hpp"
#include "phyflow/lattice/cart_decomposition.hpp"
#include "phyflow/lattice/ising_observables.hpp"
#include "phyflow/lattice/ising_updates.hpp"
#include "phyflow/lattice/single_flip_chain.hpp"
#include "phyflow/lattice/spin_field.hpp"
#include "phyflow/workflows/ising_deck.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "split_files.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

namespace phyflow::workflows {

namespace {

constexpr int kTempShift = 40;  // step = (temperature index << 40) + sweep

using detail::checkpoint_path_for;
using detail::file_exists;
using detail::SplitStart;

// ------------------------------------------------------------------------------ samplers

/// One Markov chain over the whole lattice, whatever the algorithm: advances by steps
/// (sweeps, or single flips), reports exact global sums, and gives this rank's block of the
/// configuration for output.
class IsingChain {
 public:
  virtual ~IsingChain() = default;
  /// Runs steps [first, first + n) of the chain.
  virtual void advance(std::uint64_t first, std::uint64_t n) = 0;
  virtual lattice::IsingSums sums() = 0;
  virtual void local_block(std::int8_t* out) = 0;
  virtual void set_local_block(const std::int8_t* in) = 0;
  /// This rank's hyperslab of a configuration [L, L(, L)].
  std::vector<std::uint64_t> block_offset, block_count;
  io::SampleBlock block() const {
    return io::SampleBlock{block_offset, block_count, block_size() > 0};
  }
  std::uint64_t block_size() const {
    std::uint64_t n = 1;
    for (auto c : block_count) n *= c;
    return n;
  }
};

class CheckerboardChain final : public IsingChain {
 public:
  CheckerboardChain(const IsingSettings& s, MPI_Comm comm, const lattice::IsingCouplings& c,
                    std::uint64_t seed, bool heatbath)
      : field_(lattice::CartDecomposition(comm, std::vector<int>(std::size_t(s.dims), s.L),
                                          s.proc_grid)),
        seed_(seed),
        heatbath_(heatbath),
        metropolis_(c),
        heat_bath_(c) {
    const auto& d = field_.decomposition();
    for (int k = 0; k < d.dims(); ++k) {
      block_offset.push_back(std::uint64_t(d.local_offset()[k]));
      block_count.push_back(std::uint64_t(d.local_extent()[k]));
    }
  }
  lattice::SpinField& field() { return field_; }
  void advance(std::uint64_t first, std::uint64_t n) override {
    for (std::uint64_t i = 0; i < n; ++i) {
      if (heatbath_)
        heat_bath_.sweep(field_, seed_, first + i);
      else
        metropolis_.sweep(field_, seed_, first + i);
    }
  }
  lattice::IsingSums sums() override { return lattice::ising_sums(field_); }
  void local_block(std::int8_t* out) override { field_.copy_interior_to_host(out); }
  void set_local_block(const std::int8_t* in) override { field_.set_interior_from_host(in); }

 private:
  lattice::SpinField field_;
  std::uint64_t seed_;
  bool heatbath_;
  lattice::CheckerboardMetropolis metropolis_;
  lattice::CheckerboardHeatBath heat_bath_;
};

/// The seed project's sequential single-spin-flip chain. It is serial by nature, so every
/// rank runs the identical chain on the whole (small) lattice and rank 0 writes it.
class SingleFlipIsingChain final : public IsingChain {
 public:
  SingleFlipIsingChain(const IsingSettings& s, int rank, const lattice::IsingCouplings& c,
                       std::uint64_t seed)
      : chain_(std::vector<int>(std::size_t(s.dims), s.L), c, seed) {
    for (int k = 0; k < s.dims; ++k) {
      block_offset.push_back(0);
      block_count.push_back(rank == 0 ? std::uint64_t(s.L) : 0);
    }
  }
  lattice::SingleFlipChain& chain() { return chain_; }
  void advance(std::uint64_t first, std::uint64_t n) override {
    chain_.run(first, n);
  }
  lattice::IsingSums sums() override { return chain_.sums(); }
  void local_block(std::int8_t* out) override {
    if (block_size() > 0) std::copy(chain_.spins().begin(), chain_.spins().end(), out);
  }
  void set_local_block(const std::int8_t* in) override {
    // The serial chain needs the whole configuration on every rank (restore reads it all).
    chain_.set_spins(std::vector<std::int8_t>(in, in + chain_.spins().size()));
  }

 private:
  lattice::SingleFlipChain chain_;
};

// --------------------------------------------------------------------------- checkpoints

/// Where a run stands: enough, with the configuration, to continue bit for bit.
struct RunPosition {
  std::uint64_t split = 0, temperature = 0;
  std::uint64_t sweep = 0;    ///< steps of the chain done at this temperature
  std::uint64_t samples = 0;  ///< samples stored at this temperature
  std::uint64_t between = 0;  ///< sampling interval in force (after decorrelate)
  double tau_pilot = 0.0;
};

struct TemperatureSeries {
  std::vector<double> energy, magnetization;
};

void write_checkpoint(const std::string& path, MPI_Comm comm, const config::Deck& deck,
                      const RunPosition& pos, IsingChain& chain, const TemperatureSeries& series,
                      const io::ParallelIOConfig& iocfg, const std::vector<std::uint64_t>& shape,
                      const nlohmann::json& completed) {
  io::OutputFile f = io::OutputFile::create(comm, path, /*overwrite=*/true, iocfg);
  f.write_provenance({"ising", deck.source_text(), deck.resolved_yaml(), 0});
  f.set_attribute("/", "checkpoint_split", pos.split);
  f.set_attribute("/", "checkpoint_temperature", pos.temperature);
  f.set_attribute("/", "checkpoint_sweep", pos.sweep);
  f.set_attribute("/", "checkpoint_samples", pos.samples);
  f.set_attribute("/", "checkpoint_between", pos.between);
  f.set_attribute("/", "checkpoint_tau_pilot", pos.tau_pilot);
  // Summaries of the temperatures already finished, so the final JSON lists them all.
  f.set_attribute("/", "checkpoint_completed_temperatures", completed.dump());
  std::vector<std::int8_t> block(chain.block_size());
  chain.local_block(block.data());
  io::AppendableDataset<std::int8_t> spins(f, "/spins", shape, chain.block(),
                                           "configuration at the checkpoint", "spin (+1/-1)", 1);
  spins.append(block.data(), 1);
  const std::uint64_t n = series.energy.size();
  f.write_array("/energy", series.energy.data(), {n}, "energies sampled so far", "J");
  f.write_array("/magnetization", series.magnetization.data(), {n},
                "magnetisations sampled so far", "spin");
  f.commit();
}

/// Deck keys that may change between an interrupted run and its restart.
const std::vector<std::string> restart_may_change = {"checkpoint", "progress"};

// ----------------------------------------------------------------------------- the run

struct TemperatureResult {
  double temperature, beta;
  std::uint64_t samples, between;
  lattice::SeriesStatistics energy, abs_m, m;
  double tau_pilot;
  double seconds;
  std::uint64_t steps;
};

class IsingRun {
 public:
  IsingRun(const config::Deck& deck, Runtime& rt, const RunOptions& options)
      : deck_(deck), rt_(rt), options_(options), s_(ising_settings(deck, rt.size())) {
    iocfg_.collective_transfer = s_.collective_io;
    iocfg_.alignment = s_.alignment;
    iocfg_.alignment_threshold = s_.alignment > 0 ? s_.alignment / 2 : 0;
    shape_.assign(std::size_t(s_.dims), std::uint64_t(s_.L));
    sites_ = 1;
    for (int k = 0; k < s_.dims; ++k) sites_ *= std::uint64_t(s_.L);
  }

  void run() {
    // Whether any split left something a --restart continues, decided before any split runs:
    // a stopped run finished the splits before the checkpointed one and never began the
    // later ones, which a --restart then starts afresh.
    std::vector<std::string> outputs;
    for (const IsingSplit& split : s_.splits) outputs.push_back(split.path);
    restart_has_state_ = detail::any_split_has_files(outputs);
    signals::install();
    for (std::size_t i = 0; i < s_.splits.size(); ++i) run_split(i);
    signals::uninstall();
  }

 private:
  std::unique_ptr<IsingChain> make_chain(const lattice::IsingCouplings& c, std::uint64_t seed) {
    if (s_.algorithm == "single_flip")
      return std::make_unique<SingleFlipIsingChain>(s_, rt_.rank(), c, seed);
    return std::make_unique<CheckerboardChain>(s_, rt_.comm(), c, seed, s_.algorithm == "heatbath");
  }

  void start_configuration(IsingChain& chain, std::uint64_t seed, std::uint64_t t) {
    const std::uint64_t init_seed = seed ^ (t * 0x9E3779B97F4A7C15ull);
    if (auto* cb = dynamic_cast<CheckerboardChain*>(&chain)) {
      if (s_.start == "cold")
        cb->field().fill_cold(+1);
      else
        cb->field().fill_random(init_seed);
    } else {
      auto& sf = dynamic_cast<SingleFlipIsingChain&>(chain).chain();
      if (s_.start == "cold")
        sf.fill_cold(+1);
      else
        sf.fill_random(init_seed);
    }
  }

  void run_split(std::size_t split_index) {
    const IsingSplit& split = s_.splits[split_index];
    const std::string ckpt = checkpoint_path_for(split.path);
    const std::string label = split.name.empty() ? "ising" : "ising[" + split.name + "]";

    // 1. Output and resume point.
    RunPosition pos;
    pos.split = split_index;
    bool resuming = false;
    TemperatureSeries resume_series;
    std::unique_ptr<io::OutputFile> out;
    SplitStart start = SplitStart::create;
    collective_try(rt_.comm(), [&] {
      start = detail::split_start(split.path, options_, restart_has_state_);
      if (start != SplitStart::resume) return;
      resuming = true;
      read_checkpoint(ckpt, pos, resume_series);
      if (pos.split != split_index)
        throw input_error("checkpoint '" + ckpt + "' belongs to split " + std::to_string(pos.split));
      out = std::make_unique<io::OutputFile>(io::OutputFile::reopen_partial(rt_.comm(), split.path, iocfg_));
    });
    if (start == SplitStart::skip) {
      log::info(label + ": '" + split.path + "' is already complete; skipping");
      return;
    }
    if (!resuming) {
      out = std::make_unique<io::OutputFile>(collective_try(rt_.comm(), [&] {
        return io::OutputFile::create(rt_.comm(), split.path, options_.overwrite, iocfg_);
      }));
      out->write_provenance({"ising", deck_.source_text(), deck_.resolved_yaml(), split.seed});
      out->set_attribute("/", "split", split.name);
      out->set_attribute("/", "temperatures", split.temperatures);
      out->set_attribute("/", "algorithm", s_.algorithm);
      out->set_attribute("/", "hamiltonian", std::string("H = -J sum_<ij> s_i s_j - h sum_i s_i, periodic, k_B = 1"));
    } else {
      log::info(label + ": resuming '" + split.path + "' at temperature " +
                std::to_string(pos.temperature) + ", step " + std::to_string(pos.sweep) +
                " (" + std::to_string(pos.samples) + " samples stored)");
    }

    if (!resuming) completed_ = nlohmann::json::array();  // else: read from the checkpoint
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t t = resuming ? pos.temperature : 0; t < split.temperatures.size(); ++t) {
      const bool resume_here = resuming && t == pos.temperature;
      if (!resume_here) pos = RunPosition{split_index, t, 0, 0, s_.between_samples, 0.0};
      completed_.push_back(result_json(
          run_temperature(*out, split, pos, resume_here, resume_series, ckpt, label)));
    }

    // 4. Commit, drop the checkpoint, write the summary.
    out->commit();
    if (rt_.rank() == 0 && file_exists(ckpt)) std::remove(ckpt.c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rt_.rank() == 0) write_summary(split, "complete", seconds);
    log::info(label + ": wrote " + split.path + " (summary " + summary_path_for(split.path) + ")");
  }

  void read_checkpoint(const std::string& ckpt, RunPosition& pos, TemperatureSeries& series) {
    io::InputFile f = io::InputFile::open(ckpt, MPI_COMM_SELF);
    config::Deck saved = config::Deck::load_string(f.attribute_string("/", "deck_resolved"), {},
                                                   ising_schema(), ckpt);
    if (!detail::restart_compatible(saved, deck_, restart_may_change))
      throw input_error("checkpoint '" + ckpt + "' was written by a different deck (only "
                        "checkpoint.* and progress.* may change on --restart); rerun with the "
                        "original deck, or start over with --overwrite");
    pos.split = std::uint64_t(f.attribute_int("/", "checkpoint_split"));
    pos.temperature = std::uint64_t(f.attribute_int("/", "checkpoint_temperature"));
    pos.sweep = std::uint64_t(f.attribute_int("/", "checkpoint_sweep"));
    pos.samples = std::uint64_t(f.attribute_int("/", "checkpoint_samples"));
    pos.between = std::uint64_t(f.attribute_int("/", "checkpoint_between"));
    pos.tau_pilot = f.attribute_double("/", "checkpoint_tau_pilot");
    completed_ = nlohmann::json::parse(f.attribute_string("/", "checkpoint_completed_temperatures"));
    series.energy = f.read<double>("/energy");
    series.magnetization = f.read<double>("/magnetization");
    f.expect("/spins", "int8", std::size_t(s_.dims) + 1);  // read per rank on resume
  }

  TemperatureResult run_temperature(io::OutputFile& out, const IsingSplit& split, RunPosition& pos,
                                    bool resume,
                                    const TemperatureSeries& resume_series, const std::string& ckpt,
                                    const std::string& label) {
    const std::uint64_t t = pos.temperature;
    const double T = split.temperatures[t];
    const double beta = std::isinf(T) ? 0.0 : 1.0 / T;
    const lattice::IsingCouplings couplings{s_.J, s_.h, beta};
    auto chain = make_chain(couplings, split.seed);
    const std::uint64_t step_base = std::uint64_t(t) << kTempShift;
    const std::string group = "/t" + std::to_string(t);
    const std::uint64_t n_samples = split.samples;
    const std::uint64_t block_n = chain->block_size();

    // 2a. The group, its attributes and datasets (new, or reopened and cut back to the
    // checkpoint's sample count).
    TemperatureSeries series;
    std::unique_ptr<io::AppendableDataset<std::int8_t>> spins_ds;
    std::unique_ptr<io::AppendableDataset<double>> energy_ds, mag_ds;
    const io::SampleBlock scalar_block = io::SampleBlock::whole_if(rt_.rank() == 0, {});
    if (!resume) {
      out.create_group(group);
      out.set_attribute(group, "temperature", T);
      out.set_attribute(group, "beta", beta);
      out.set_attribute(group, "J", s_.J);
      out.set_attribute(group, "h", s_.h);
      out.set_attribute(group, "algorithm", s_.algorithm);
      out.set_attribute(group, "thermalization", s_.thermalize);
      out.set_attribute(group, "L", std::int64_t(s_.L));
      out.set_attribute(group, "dims", std::int64_t(s_.dims));
      if (s_.store_spins)
        spins_ds = std::make_unique<io::AppendableDataset<std::int8_t>>(
            out, group + "/spins", shape_, chain->block(),
            "spin configuration s[x_0][x_1]... (axis k = lattice dimension k)", "spin (+1/-1)",
            n_samples);
      energy_ds = std::make_unique<io::AppendableDataset<double>>(
          out, group + "/energy", std::vector<std::uint64_t>{}, scalar_block,
          "total energy H of the stored configuration", "J (k_B = 1)", n_samples);
      mag_ds = std::make_unique<io::AppendableDataset<double>>(
          out, group + "/magnetization", std::vector<std::uint64_t>{}, scalar_block,
          "total magnetisation M = sum_i s_i", "spin", n_samples);
      start_configuration(*chain, split.seed, t);
    } else {
      if (s_.store_spins) {
        spins_ds = std::make_unique<io::AppendableDataset<std::int8_t>>(
            io::AppendableDataset<std::int8_t>::open(out, group + "/spins", chain->block()));
        spins_ds->truncate(pos.samples);
      }
      energy_ds = std::make_unique<io::AppendableDataset<double>>(
          io::AppendableDataset<double>::open(out, group + "/energy", scalar_block));
      mag_ds = std::make_unique<io::AppendableDataset<double>>(
          io::AppendableDataset<double>::open(out, group + "/magnetization", scalar_block));
      energy_ds->truncate(pos.samples);
      mag_ds->truncate(pos.samples);
      series = resume_series;
      restore_configuration(*chain, ckpt);
    }

    // 2b. Sampling schedule: thermalise, pilot (optional), then one sample every `between`.
    const std::uint64_t therm = s_.thermalize;
    const std::uint64_t pilot = s_.decorrelate ? s_.pilot : 0;
    std::uint64_t between = pos.between;
    auto total_steps = [&] { return therm + pilot + n_samples * between; };

    Progress progress(label + " T=" + short_number(T), total_steps(),
                      s_.algorithm == "single_flip" ? "flips" : "sweeps", s_.progress_interval);
    progress.update(pos.sweep);
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t first_step = pos.sweep;

    // Buffered appends: whole chunks per collective write instead of one write per sample.
    const std::uint64_t block_bytes = std::max<std::uint64_t>(1, block_n);
    const std::uint64_t buffer_samples = std::clamp<std::uint64_t>((4u << 20) / block_bytes, 1, n_samples);
    std::vector<std::int8_t> spin_buffer;
    std::vector<double> e_buffer, m_buffer;
    auto flush = [&] {
      const std::uint64_t k = e_buffer.size();
      if (spins_ds) spins_ds->append(spin_buffer.data(), k);
      energy_ds->append(e_buffer.data(), k);
      mag_ds->append(m_buffer.data(), k);
      spin_buffer.clear();
      e_buffer.clear();
      m_buffer.clear();
    };

    // Stop checks cost an all-reduce: do them about every 2^20 site updates.
    const std::uint64_t sites_per_step = s_.algorithm == "single_flip" ? 1 : sites_;
    const std::uint64_t check_every = std::max<std::uint64_t>(1, (1u << 20) / sites_per_step);
    std::vector<double> pilot_energy;

    while (pos.sweep < total_steps()) {
      // Advance to the next point where something happens.
      std::uint64_t next = total_steps();
      const std::uint64_t measure_start = therm + pilot;
      if (pos.sweep < therm) next = therm;
      else if (pos.sweep < measure_start) next = pos.sweep + 1;
      else next = measure_start + (pos.samples + 1) * between;
      next = std::min(next, (pos.sweep / check_every + 1) * check_every);
      if (s_.checkpoint_every > 0)
        next = std::min(next, (pos.sweep / s_.checkpoint_every + 1) * s_.checkpoint_every);
      if (s_.stop_after > 0 && steps_this_run_ < s_.stop_after)
        next = std::min(next, pos.sweep + (s_.stop_after - steps_this_run_));
      chain->advance(step_base + pos.sweep, next - pos.sweep);
      steps_this_run_ += next - pos.sweep;
      pos.sweep = next;

      if (pos.sweep > therm && pos.sweep <= measure_start) {  // pilot run
        const auto sums = chain->sums();
        pilot_energy.push_back(-s_.J * double(sums.bond_sum) - s_.h * double(sums.magnetization));
        if (pos.sweep == measure_start) {
          const auto st = lattice::gamma_method(pilot_energy);
          pos.tau_pilot = st.tau_int;
          between = std::max<std::uint64_t>(s_.between_samples,
                                             lattice::decorrelation_interval(st.tau_int, s_.decorrelate_factor));
          pos.between = between;
          log::info(label + " T=" + short_number(T) + ": pilot tau_int(E) = " + short_number(st.tau_int) +
                    " -> " + std::to_string(between) + " step(s) between samples");
        }
      }
      if (pos.sweep > measure_start && (pos.sweep - measure_start) % between == 0 &&
          (pos.sweep - measure_start) / between == pos.samples + 1) {
        const auto sums = chain->sums();
        const double E = -s_.J * double(sums.bond_sum) - s_.h * double(sums.magnetization);
        const double M = double(sums.magnetization);
        series.energy.push_back(E);
        series.magnetization.push_back(M);
        e_buffer.push_back(E);
        m_buffer.push_back(M);
        if (spins_ds) {
          const std::size_t at = spin_buffer.size();
          spin_buffer.resize(at + block_n);
          chain->local_block(spin_buffer.data() + at);
        }
        ++pos.samples;
        if (e_buffer.size() >= buffer_samples) flush();
      }
      progress.update(pos.sweep);

      // Checkpoints wait until the pilot run is over (its series is not checkpointed).
      const bool in_pilot = pos.sweep > therm && pos.sweep < measure_start;
      if (pos.sweep % check_every == 0 && signals::stop_requested_anywhere(rt_.comm()))
        stop_pending_ = true;
      const bool signalled = stop_pending_;
      const bool periodic = s_.checkpoint_every > 0 && pos.sweep % s_.checkpoint_every == 0;
      const bool budget = s_.stop_after > 0 && steps_this_run_ >= s_.stop_after;
      if ((periodic || budget || signalled) && !in_pilot && pos.sweep < total_steps()) {
        flush();
        out.flush();
        write_checkpoint(ckpt, rt_.comm(), deck_, pos, *chain, series, iocfg_, shape_, completed_);
        if (budget || signalled) {
          if (rt_.rank() == 0) {
            nlohmann::json extra = {{"checkpoint", ckpt},
                                    {"interrupted_at", {{"temperature_index", t}, {"temperature", T},
                                                        {"step", pos.sweep}, {"samples", pos.samples}}}};
            write_summary(split, "interrupted", 0.0, extra);
          }
          throw detail::interrupted_error(signalled, s_.stop_after, ckpt,
                                          std::to_string(pos.samples) + "/" +
                                              std::to_string(n_samples) +
                                              " samples at T=" + short_number(T),
                                          deck_);
        }
      }
    }
    flush();
    progress.finish();

    // 3. Statistics per site, with Gamma-method errors.
    TemperatureResult r;
    r.temperature = T;
    r.beta = beta;
    r.samples = n_samples;
    r.between = between;
    r.tau_pilot = pos.tau_pilot;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.steps = pos.sweep - first_step;
    std::vector<double> e(series.energy.size()), m(series.magnetization.size()), am(m.size());
    for (std::size_t i = 0; i < e.size(); ++i) {
      e[i] = series.energy[i] / double(sites_);
      m[i] = series.magnetization[i] / double(sites_);
      am[i] = std::fabs(m[i]);
    }
    r.energy = lattice::gamma_method(e);
    r.m = lattice::gamma_method(m);
    r.abs_m = lattice::gamma_method(am);
    out.set_attribute(group, "sweeps_between_samples", between);
    out.set_attribute(group, "samples", n_samples);
    out.set_attribute(group, "energy_per_site_mean", r.energy.mean);
    out.set_attribute(group, "energy_per_site_error", r.energy.error);
    out.set_attribute(group, "tau_int_energy", r.energy.tau_int);
    out.set_attribute(group, "abs_magnetization_per_site_mean", r.abs_m.mean);
    out.set_attribute(group, "abs_magnetization_per_site_error", r.abs_m.error);
    out.set_attribute(group, "tau_int_abs_magnetization", r.abs_m.tau_int);
    if (s_.decorrelate) out.set_attribute(group, "tau_int_energy_pilot", pos.tau_pilot);
    log::info(label + " T=" + short_number(T) + ": e = " + short_number(r.energy.mean) + " +- " +
              short_number(r.energy.error) + ", |m| = " + short_number(r.abs_m.mean) + " +- " +
              short_number(r.abs_m.error) + ", tau_int(E) = " + short_number(r.energy.tau_int) +
              " samples");
    return r;
  }

  /// Restores the checkpointed configuration: each rank reads only the hyperslab it owns
  /// (the serial single-flip chain needs, and reads, the whole lattice on every rank).
  void restore_configuration(IsingChain& chain, const std::string& ckpt) {
    const bool whole = dynamic_cast<SingleFlipIsingChain*>(&chain) != nullptr;
    std::vector<std::uint64_t> offset{0}, count{1};
    for (int k = 0; k < s_.dims; ++k) {
      offset.push_back(whole ? 0 : chain.block_offset[std::size_t(k)]);
      count.push_back(whole ? std::uint64_t(s_.L) : chain.block_count[std::size_t(k)]);
    }
    const auto block = collective_try(rt_.comm(), [&] {
      io::InputFile f = io::InputFile::open(ckpt, MPI_COMM_SELF);
      return f.read_hyperslab<std::int8_t>("/spins", offset, count);
    });
    chain.set_local_block(block.data());
  }

  nlohmann::json result_json(const TemperatureResult& r) const {
    const double updates = double(r.steps) * double(s_.algorithm == "single_flip" ? 1 : sites_);
    return {{"temperature", r.temperature},
            {"beta", r.beta},
            {"samples", r.samples},
            {"steps_between_samples", r.between},
            {"energy_per_site", {{"mean", r.energy.mean}, {"error", r.energy.error}, {"tau_int", r.energy.tau_int}, {"tau_int_error", r.energy.tau_int_error}}},
            {"abs_magnetization_per_site", {{"mean", r.abs_m.mean}, {"error", r.abs_m.error}, {"tau_int", r.abs_m.tau_int}}},
            {"magnetization_per_site", {{"mean", r.m.mean}, {"error", r.m.error}}},
            {"tau_int_energy_pilot", r.tau_pilot},
            {"seconds", r.seconds},
            {"spin_updates_per_ns", r.seconds > 0 ? updates / r.seconds * 1e-9 : 0.0}};
  }

  /// The JSON summary next to the output: status "complete", or "interrupted" (with where it
  /// stopped and the checkpoint to resume from). Temperatures lists every finished one.
  void write_summary(const IsingSplit& split, const std::string& status, double seconds,
                     const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json j = summary_header("ising", status, split.path, split.name, split.seed,
                                      rt_.size(), deck_.values());
    j["lattice"] = {{"dims", s_.dims}, {"L", s_.L}, {"sites", sites_}};
    j["algorithm"] = s_.algorithm;
    j["wall_seconds"] = seconds;
    j["temperatures"] = completed_;
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
    write_json_atomic(summary_path_for(split.path), j);
  }

  static std::string short_number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
  }

  const config::Deck& deck_;
  Runtime& rt_;
  RunOptions options_;
  IsingSettings s_;
  io::ParallelIOConfig iocfg_;
  std::vector<std::uint64_t> shape_;
  std::uint64_t sites_ = 1;
  std::uint64_t steps_this_run_ = 0;
  bool stop_pending_ = false;
  bool restart_has_state_ = false;  ///< some split has an output, .partial or checkpoint
  nlohmann::json completed_ = nlohmann::json::array();  ///< summaries of finished temperatures
};

}  // namespace

Workflow ising_workflow() {
  Workflow w;
  w.name = "ising";
  w.description =
      "Ising model Monte Carlo on a periodic L^d lattice (d = 2, 3): checkerboard Metropolis or "
      "heat bath domain-decomposed over MPI ranks, or the sequential single-spin-flip chain; "
      "configurations, energies and magnetisations per temperature into parallel HDF5.";
  w.schema = ising_schema;
  w.check = [](const config::Deck& deck, int ranks) { (void)ising_settings(deck, ranks); };
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    IsingRun(deck, rt, options).run();
  };
  return w;
}

}  // namespace phyflow::workflows
