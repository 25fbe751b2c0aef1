// phi^4 workflow: deck -> one Markov chain (checkerboard Metropolis or HMC) of the lattice
// phi^4 theory -> one parallel HDF5 file with the configurations and per-sample observables
// in /t0, the analysed results (chi2, G_c, pole mass, tau_int) as attributes and in a JSON
// summary, with checkpoints and a bitwise-identical --restart.
//
// Sample runs:
//   phyflow run inputs/phi4_quick.yaml
//   mpiexec -n 2 phyflow run inputs/phi4_tutorial.yaml --set samples=20000
//
// Steps:
//   1. settings from the deck (action in AKS form, docs/phi4.md), output and resume point;
//   2. update u = 0, 1, ... (sweep or trajectory u of the chain; its random numbers are keyed
//      by (seed, purpose, global site, u), so the chain is independent of the rank count and a
//      restart needs only u): thermalise, then every `between_samples` updates append the
//      configuration and its observables; checkpoint every N updates and on SIGTERM/SIGUSR1;
//   3. analysis: Gamma-method errors and tau_int, jackknife chi2, G_c(t) and effective mass;
//   4. commit (rename .partial -> final), delete the checkpoint, write the JSON summary.
#include "phyflow/core/portable_math.hpp"
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/appendable_dataset.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/lattice/phi4_field.hpp"
#include "phyflow/lattice/phi4_observables.hpp"
#include "phyflow/lattice/phi4_updates.hpp"
#include "phyflow/workflows/phi4_deck.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "split_files.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

namespace phyflow::workflows {

namespace {

using detail::checkpoint_path_for;
using detail::file_exists;
using detail::SplitStart;

/// Everything per sample: what the output's /t0 holds besides the fields, and what the final
/// analysis needs (kept in the checkpoint, so a restart analyses the whole series).
struct Phi4Series {
  std::vector<double> m, abs_m, action, phi2, correlator, acceptance, exp_minus_dh, delta_h;
  std::size_t size() const { return m.size(); }
};

/// Where a run stands: with the configuration, enough to continue bit for bit.
struct Phi4Position {
  std::uint64_t update = 0;   ///< updates done
  std::uint64_t samples = 0;  ///< samples stored
  // Sums over the updates since the last sample (acceptance, HMC energy violation).
  double accepted = 0.0, tried = 0.0, sum_exp_minus_dh = 0.0, sum_dh = 0.0;
  std::uint64_t interval_updates = 0;
  std::uint64_t diverged = 0;  ///< HMC trajectories whose energy left the exact range (all so far)
};

const std::vector<std::string> restart_may_change = {"checkpoint", "progress"};

std::string short_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

nlohmann::json stats_json(const lattice::SeriesStatistics& s) {
  return {{"mean", s.mean}, {"error", s.error}, {"tau_int", s.tau_int},
          {"tau_int_error", s.tau_int_error}};
}

class Phi4Run {
 public:
  Phi4Run(const config::Deck& deck, Runtime& rt, const RunOptions& options)
      : deck_(deck), rt_(rt), options_(options), s_(phi4_settings(deck, rt.size())) {
    iocfg_.collective_transfer = s_.collective_io;
    iocfg_.alignment = s_.alignment;
    iocfg_.alignment_threshold = s_.alignment > 0 ? s_.alignment / 2 : 0;
    shape_.assign(std::size_t(s_.action.dims), std::uint64_t(s_.action.L));
    volume_ = double(s_.action.volume());
  }

  void run() {
    signals::install();
    run_chain();
    signals::uninstall();
  }

 private:
  // ------------------------------------------------------------------------ the chain
  void run_chain() {
    const std::string& path = s_.output;
    const std::string ckpt = checkpoint_path_for(path);
    const std::string label = "phi4";
    const lattice::Phi4Couplings c = s_.action.couplings;
    lattice::Phi4Field field(lattice::CartDecomposition(
        rt_.comm(), std::vector<int>(std::size_t(s_.action.dims), s_.action.L), s_.proc_grid));
    const bool hmc = s_.algorithm == "hmc";
    const lattice::Phi4Metropolis metropolis(c, s_.metropolis_step, s_.metropolis_hits);
    const lattice::Phi4Hmc hmc_update(c, lattice::phi4_integrator(s_.integrator), s_.hmc_steps,
                                      s_.trajectory_length);

    // 1. Output and resume point.
    Phi4Position pos;
    Phi4Series series;
    bool resuming = false;
    std::unique_ptr<io::OutputFile> out;
    SplitStart start = SplitStart::create;
    collective_try(rt_.comm(), [&] {
      start = detail::split_start(path, options_, detail::any_split_has_files({path}));
      if (start != SplitStart::resume) return;
      resuming = true;
      read_checkpoint(ckpt, pos, series);
      out = std::make_unique<io::OutputFile>(io::OutputFile::reopen_partial(rt_.comm(), path, iocfg_));
    });
    if (start == SplitStart::skip) {
      log::info(label + ": '" + path + "' is already complete; skipping");
      return;
    }
    const auto& dec = field.decomposition();
    std::vector<std::uint64_t> block_offset, block_count;
    for (int k = 0; k < dec.dims(); ++k) {
      block_offset.push_back(std::uint64_t(dec.local_offset()[k]));
      block_count.push_back(std::uint64_t(dec.local_extent()[k]));
    }
    const io::SampleBlock field_block{block_offset, block_count, true};
    const std::uint64_t block_n = std::uint64_t(field.geometry().local_sites);
    const std::uint64_t L = std::uint64_t(s_.action.L);
    const io::SampleBlock scalar = io::SampleBlock::whole_if(rt_.rank() == 0, {});
    const io::SampleBlock row = io::SampleBlock::whole_if(rt_.rank() == 0, {L});
    const std::string group = "/t0";

    std::unique_ptr<io::AppendableDataset<double>> phi_ds, corr_ds;
    std::vector<std::unique_ptr<io::AppendableDataset<double>>> scalars;
    struct ScalarKey {
      const char* name;
      std::vector<double> Phi4Series::*member;
      const char* meaning;
      const char* units;
    };
    std::vector<ScalarKey> keys = {
        {"magnetization", &Phi4Series::m, "m = M / V = sum_x phi_x / V", "phi (AKS)"},
        {"abs_magnetization", &Phi4Series::abs_m, "|m| = |sum_x phi_x| / V", "phi (AKS)"},
        {"action", &Phi4Series::action, "S(phi), AKS convention (total, not per site)", "1"},
        {"phi2", &Phi4Series::phi2, "sum_x phi_x^2 / V", "phi^2 (AKS)"},
        {"acceptance", &Phi4Series::acceptance,
         "accepted fraction of the proposals since the previous sample", "1"}};
    if (hmc) {
      keys.push_back({"exp_minus_delta_h", &Phi4Series::exp_minus_dh,
                      "mean of exp(-dH) over the trajectories since the previous sample", "1"});
      keys.push_back({"delta_h", &Phi4Series::delta_h,
                      "mean dH = H(end) - H(start) over the trajectories since the previous sample",
                      "1"});
    }
    if (!resuming) {
      out = std::make_unique<io::OutputFile>(collective_try(rt_.comm(), [&] {
        return io::OutputFile::create(rt_.comm(), path, options_.overwrite, iocfg_);
      }));
      out->write_provenance({"phi4", deck_.source_text(), deck_.resolved_yaml(), s_.seed});
      out->set_attribute("/", "algorithm", s_.algorithm);
      out->set_attribute("/", "action",
                         std::string("S = sum_x [ (2d + m2) phi_x^2 - 2 sum_mu phi_x phi_{x+mu} + "
                                     "lambda phi_x^4 ] (Albergo-Kanwar-Shanahan), periodic"));
      out->create_group(group);
      set_group_attributes(*out, group);
      if (s_.store_fields)
        phi_ds = std::make_unique<io::AppendableDataset<double>>(
            *out, group + "/phi", shape_, field_block,
            "field phi[x_0][x_1]... in the AKS convention (axis k = lattice dimension k)",
            "phi (AKS)", s_.samples);
      corr_ds = std::make_unique<io::AppendableDataset<double>>(
          *out, group + "/two_point", std::vector<std::uint64_t>{L}, row,
          "C(t) = 1/(V d) sum_mu sum_tau Phi_mu(tau) Phi_mu(tau+t), Phi_mu(tau) the slice sum "
          "over x_mu = tau; G_c(t) = <C(t)> - (V/L) <m>^2",
          "phi^2 (AKS)", s_.samples);
      for (const auto& k : keys)
        scalars.push_back(std::make_unique<io::AppendableDataset<double>>(
            *out, group + "/" + k.name, std::vector<std::uint64_t>{}, scalar, k.meaning, k.units,
            s_.samples));
      if (s_.start == "cold")
        field.fill(0.0);
      else
        field.fill_random(s_.seed);
    } else {
      log::info(label + ": resuming '" + path + "' at update " + std::to_string(pos.update) +
                " (" + std::to_string(pos.samples) + " samples stored)");
      if (s_.store_fields) {
        phi_ds = std::make_unique<io::AppendableDataset<double>>(
            io::AppendableDataset<double>::open(*out, group + "/phi", field_block));
        phi_ds->truncate(pos.samples);
      }
      corr_ds = std::make_unique<io::AppendableDataset<double>>(
          io::AppendableDataset<double>::open(*out, group + "/two_point", row));
      corr_ds->truncate(pos.samples);
      for (const auto& k : keys) {
        scalars.push_back(std::make_unique<io::AppendableDataset<double>>(
            io::AppendableDataset<double>::open(*out, group + "/" + k.name, scalar)));
        scalars.back()->truncate(pos.samples);
      }
      restore_configuration(field, ckpt, block_offset, block_count);
    }

    // 2. The chain.
    const std::uint64_t therm = s_.thermalize, between = s_.between_samples;
    const std::uint64_t total = therm + s_.samples * between;
    const double proposals_per_update = hmc ? 1.0 : volume_ * s_.metropolis_hits;
    Progress progress(label, total, hmc ? "trajectories" : "sweeps", s_.progress_interval);
    progress.update(pos.update);
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t first_update = pos.update;
    const std::uint64_t sites_per_update = std::uint64_t(volume_) * (hmc ? std::uint64_t(s_.hmc_steps) : 1);
    const std::uint64_t check_every = std::max<std::uint64_t>(1, (1u << 18) / std::max<std::uint64_t>(1, sites_per_update));
    const std::uint64_t buffer_samples =
        std::clamp<std::uint64_t>((4u << 20) / std::max<std::uint64_t>(1, 8 * block_n), 1, s_.samples);
    std::vector<double> phi_buffer;
    Phi4Series pending;  // samples not yet written
    auto flush = [&] {
      const std::uint64_t k = pending.size();
      if (phi_ds) phi_ds->append(phi_buffer.data(), k);
      corr_ds->append(pending.correlator.data(), k);
      for (std::size_t i = 0; i < keys.size(); ++i)
        scalars[i]->append((pending.*(keys[i].member)).data(), k);
      phi_buffer.clear();
      pending = Phi4Series{};
    };
    auto push = [&](Phi4Series& ser, const lattice::Phi4Sample& x, double acc, double emdh, double dh) {
      ser.m.push_back(x.magnetization);
      ser.abs_m.push_back(std::fabs(x.magnetization));
      ser.action.push_back(x.action);
      ser.phi2.push_back(x.phi2);
      ser.correlator.insert(ser.correlator.end(), x.correlator.begin(), x.correlator.end());
      ser.acceptance.push_back(acc);
      ser.exp_minus_dh.push_back(emdh);
      ser.delta_h.push_back(dh);
    };

    while (pos.update < total) {
      const std::uint64_t u = pos.update;
      double accepted = 0.0, dh = 0.0;
      if (hmc) {
        const lattice::HmcResult r = hmc_update.trajectory(field, s_.seed, u);
        accepted = r.accepted ? 1.0 : 0.0;
        dh = r.delta_h;
        if (r.diverged) ++pos.diverged;
      } else {
        accepted = double(metropolis.sweep(field, s_.seed, u));
      }
      ++pos.update;
      ++steps_this_run_;
      if (pos.update > therm) {
        pos.accepted += accepted;
        pos.tried += proposals_per_update;
        pos.sum_exp_minus_dh += pmath::exp(-dh);
        pos.sum_dh += dh;
        ++pos.interval_updates;
        if ((pos.update - therm) % between == 0) {
          const lattice::Phi4Sample x = lattice::phi4_measure(field, c);
          const double n = double(pos.interval_updates);
          const double acc = pos.accepted / pos.tried;
          const double emdh = hmc ? pos.sum_exp_minus_dh / n : 0.0;
          const double mdh = hmc ? pos.sum_dh / n : 0.0;
          push(series, x, acc, emdh, mdh);
          push(pending, x, acc, emdh, mdh);
          if (phi_ds) {
            const std::size_t at = phi_buffer.size();
            phi_buffer.resize(at + block_n);
            field.copy_interior_to_host(phi_buffer.data() + at);
          }
          ++pos.samples;
          pos.accepted = pos.tried = pos.sum_exp_minus_dh = pos.sum_dh = 0.0;
          pos.interval_updates = 0;
          if (pending.size() >= buffer_samples) flush();
        }
      }
      progress.update(pos.update);

      if (pos.update % check_every == 0 && signals::stop_requested_anywhere(rt_.comm()))
        stop_pending_ = true;
      const bool periodic = s_.checkpoint_every > 0 && pos.update % s_.checkpoint_every == 0;
      const bool budget = s_.stop_after > 0 && steps_this_run_ >= s_.stop_after;
      if ((periodic || budget || stop_pending_) && pos.update < total) {
        flush();
        out->flush();
        write_checkpoint(ckpt, pos, field, series, block_offset, block_count);
        if (budget || stop_pending_) {
          if (rt_.rank() == 0) {
            nlohmann::json extra = {{"checkpoint", ckpt},
                                    {"interrupted_at", {{"update", pos.update}, {"samples", pos.samples}}}};
            write_summary("interrupted", nlohmann::json::object(), 0.0, extra);
          }
          throw detail::interrupted_error(
              stop_pending_, s_.stop_after, ckpt,
              std::to_string(pos.samples) + "/" + std::to_string(s_.samples) + " samples", deck_);
        }
      }
    }
    flush();
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // 3. Analysis.
    const lattice::Phi4Analysis a =
        lattice::phi4_analyse(series.m, series.action, series.phi2, series.correlator,
                              s_.action.L, volume_);
    const lattice::SeriesStatistics acc = lattice::gamma_method(series.acceptance);
    nlohmann::json results = {
        {"samples", series.size()},
        {"chi2", {{"mean", a.chi2}, {"error", a.chi2_error}, {"tau_int", a.chi2_estimator.tau_int},
                  {"tau_int_error", a.chi2_estimator.tau_int_error}}},
        {"abs_magnetization", stats_json(a.abs_m)},
        {"magnetization", stats_json(a.m)},
        {"action_per_site", stats_json(a.action_per_site)},
        {"phi2", stats_json(a.phi2)},
        {"acceptance", {{"mean", acc.mean}, {"error", acc.error}}},
        {"g_c", {{"t", nlohmann::json::array()}, {"mean", a.g_c}, {"error", a.g_c_error}}},
        {"effective_mass", {{"t_from", 1}, {"mean", nan_to_null(a.m_eff)}, {"error", nan_to_null(a.m_eff_error)}}},
        {"pole_mass", {{"t", a.pole_mass_t}, {"mean", null_if_nan(a.pole_mass)}, {"error", null_if_nan(a.pole_mass_error)}}},
        {"jackknife", {{"bins", a.bins}, {"bin_size", a.bin_size}}},
        {"updates_this_run", pos.update - first_update},
        {"seconds", seconds},
        {"site_updates_per_s", seconds > 0 ? double(pos.update - first_update) * double(sites_per_update) / seconds : 0.0}};
    for (std::uint64_t t = 0; t < L; ++t) results["g_c"]["t"].push_back(t);
    if (hmc) {
      const auto e = lattice::gamma_method(series.exp_minus_dh);
      results["exp_minus_delta_h"] = {{"mean", e.mean}, {"error", e.error}};
      results["diverged_trajectories"] = pos.diverged;
      if (pos.diverged > 0)
        log::warn(label + ": " + std::to_string(pos.diverged) + " of " + std::to_string(pos.update) +
                  " trajectories diverged (a site's energy reached 2^52 or overflowed) and were "
                  "rejected; the step is too large: lower hmc.trajectory_length or raise hmc.steps");
    }
    if (c.lambda == 0.0 && c.m2 > 0.0)
      results["free_field_exact"] = {{"phi2", lattice::free_field_phi2(s_.action.dims, s_.action.L, c.m2)},
                                     {"chi2", lattice::free_field_chi2(c.m2)}};
    out->set_attribute(group, "samples", std::uint64_t(series.size()));
    out->set_attribute(group, "chi2_mean", a.chi2);
    out->set_attribute(group, "chi2_error", a.chi2_error);
    out->set_attribute(group, "tau_int_chi2_estimator", a.chi2_estimator.tau_int);
    out->set_attribute(group, "abs_magnetization_mean", a.abs_m.mean);
    out->set_attribute(group, "abs_magnetization_error", a.abs_m.error);
    out->set_attribute(group, "tau_int_abs_magnetization", a.abs_m.tau_int);
    out->set_attribute(group, "action_per_site_mean", a.action_per_site.mean);
    out->set_attribute(group, "action_per_site_error", a.action_per_site.error);
    out->set_attribute(group, "acceptance_mean", acc.mean);
    out->set_attribute(group, "g_c_mean", a.g_c);
    out->set_attribute(group, "g_c_error", a.g_c_error);
    log::info(label + ": chi2 = " + short_number(a.chi2) + " +- " + short_number(a.chi2_error) +
              ", <|m|> = " + short_number(a.abs_m.mean) + " +- " + short_number(a.abs_m.error) +
              ", acceptance " + short_number(acc.mean) + ", tau_int(|m|) = " +
              short_number(a.abs_m.tau_int) + " samples");

    // 4. Commit, drop the checkpoint, summary.
    out->commit();
    if (rt_.rank() == 0 && file_exists(ckpt)) std::remove(ckpt.c_str());
    if (rt_.rank() == 0) write_summary("complete", results, seconds);
    log::info(label + ": wrote " + path + " (summary " + summary_path_for(path) + ")");
  }

  static nlohmann::json null_if_nan(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); }
  static nlohmann::json nan_to_null(const std::vector<double>& v) {
    nlohmann::json j = nlohmann::json::array();
    for (double x : v) j.push_back(null_if_nan(x));
    return j;
  }

  void set_group_attributes(io::OutputFile& out, const std::string& group) {
    const auto& a = s_.action;
    out.set_attribute(group, "dims", std::int64_t(a.dims));
    out.set_attribute(group, "L", std::int64_t(a.L));
    out.set_attribute(group, "m2", a.couplings.m2);
    out.set_attribute(group, "lambda", a.couplings.lambda);
    out.set_attribute(group, "convention", a.convention);
    out.set_attribute(group, "field_scale", a.field_scale);
    out.set_attribute(group, "algorithm", s_.algorithm);
    if (s_.algorithm == "hmc") {
      out.set_attribute(group, "integrator", s_.integrator);
      out.set_attribute(group, "hmc_steps", std::int64_t(s_.hmc_steps));
      out.set_attribute(group, "trajectory_length", s_.trajectory_length);
    } else {
      out.set_attribute(group, "metropolis_step", s_.metropolis_step);
      out.set_attribute(group, "metropolis_hits", std::int64_t(s_.metropolis_hits));
    }
    out.set_attribute(group, "thermalization", s_.thermalize);
    out.set_attribute(group, "between_samples", s_.between_samples);
  }

  // -------------------------------------------------------------------- checkpoints
  void write_checkpoint(const std::string& path, const Phi4Position& pos, const lattice::Phi4Field& field,
                        const Phi4Series& series, const std::vector<std::uint64_t>& offset,
                        const std::vector<std::uint64_t>& count) {
    io::OutputFile f = io::OutputFile::create(rt_.comm(), path, /*overwrite=*/true, iocfg_);
    f.write_provenance({"phi4", deck_.source_text(), deck_.resolved_yaml(), s_.seed});
    f.set_attribute("/", "checkpoint_update", pos.update);
    f.set_attribute("/", "checkpoint_samples", pos.samples);
    f.set_attribute("/", "checkpoint_interval_updates", pos.interval_updates);
    f.set_attribute("/", "checkpoint_accepted", pos.accepted);
    f.set_attribute("/", "checkpoint_tried", pos.tried);
    f.set_attribute("/", "checkpoint_sum_exp_minus_dh", pos.sum_exp_minus_dh);
    f.set_attribute("/", "checkpoint_sum_dh", pos.sum_dh);
    f.set_attribute("/", "checkpoint_diverged", pos.diverged);
    std::vector<double> block(std::size_t(field.geometry().local_sites));
    field.copy_interior_to_host(block.data());
    io::AppendableDataset<double> phi(f, "/phi", shape_, io::SampleBlock{offset, count, true},
                                      "configuration at the checkpoint", "phi (AKS)", 1);
    phi.append(block.data(), 1);
    auto put = [&](const char* name, const std::vector<double>& v) {
      f.write_array(std::string("/series/") + name, v.data(), {std::uint64_t(v.size())},
                    "per-sample series so far", "");
    };
    f.create_group("/series");
    put("m", series.m);
    put("abs_m", series.abs_m);
    put("action", series.action);
    put("phi2", series.phi2);
    put("correlator", series.correlator);
    put("acceptance", series.acceptance);
    put("exp_minus_dh", series.exp_minus_dh);
    put("delta_h", series.delta_h);
    f.commit();
  }

  void read_checkpoint(const std::string& ckpt, Phi4Position& pos, Phi4Series& series) {
    io::InputFile f = io::InputFile::open(ckpt, MPI_COMM_SELF);
    config::Deck saved = config::Deck::load_string(f.attribute_string("/", "deck_resolved"), {},
                                                   phi4_schema(), ckpt);
    if (!detail::restart_compatible(saved, deck_, restart_may_change))
      throw input_error("checkpoint '" + ckpt + "' was written by a different deck (only "
                        "checkpoint.* and progress.* may change on --restart); rerun with the "
                        "original deck, or start over with --overwrite");
    pos.update = std::uint64_t(f.attribute_int("/", "checkpoint_update"));
    pos.samples = std::uint64_t(f.attribute_int("/", "checkpoint_samples"));
    pos.interval_updates = std::uint64_t(f.attribute_int("/", "checkpoint_interval_updates"));
    pos.accepted = f.attribute_double("/", "checkpoint_accepted");
    pos.tried = f.attribute_double("/", "checkpoint_tried");
    pos.sum_exp_minus_dh = f.attribute_double("/", "checkpoint_sum_exp_minus_dh");
    pos.sum_dh = f.attribute_double("/", "checkpoint_sum_dh");
    if (f.has_attribute("/", "checkpoint_diverged"))  // absent in checkpoints before 2026-12-05
      pos.diverged = std::uint64_t(f.attribute_int("/", "checkpoint_diverged"));
    series.m = f.read<double>("/series/m");
    series.abs_m = f.read<double>("/series/abs_m");
    series.action = f.read<double>("/series/action");
    series.phi2 = f.read<double>("/series/phi2");
    series.correlator = f.read<double>("/series/correlator");
    series.acceptance = f.read<double>("/series/acceptance");
    series.exp_minus_dh = f.read<double>("/series/exp_minus_dh");
    series.delta_h = f.read<double>("/series/delta_h");
    if (series.m.size() != pos.samples)
      throw input_error("checkpoint '" + ckpt + "' is inconsistent (" + std::to_string(series.m.size()) +
                        " samples in its series, " + std::to_string(pos.samples) + " recorded); start over with --overwrite");
    f.expect("/phi", "float64", std::size_t(s_.action.dims) + 1);
  }

  void restore_configuration(lattice::Phi4Field& field, const std::string& ckpt,
                             const std::vector<std::uint64_t>& block_offset,
                             const std::vector<std::uint64_t>& block_count) {
    std::vector<std::uint64_t> offset{0}, count{1};
    offset.insert(offset.end(), block_offset.begin(), block_offset.end());
    count.insert(count.end(), block_count.begin(), block_count.end());
    const auto block = collective_try(rt_.comm(), [&] {
      io::InputFile f = io::InputFile::open(ckpt, MPI_COMM_SELF);
      return f.read_hyperslab<double>("/phi", offset, count);
    });
    field.set_interior_from_host(block.data());
  }

  void write_summary(const std::string& status, const nlohmann::json& results, double seconds,
                     const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json j = summary_header("phi4", status, s_.output, "", s_.seed, rt_.size(), deck_.values());
    const auto& a = s_.action;
    j["action"] = {{"dims", a.dims}, {"L", a.L}, {"sites", volume_}, {"m2", a.couplings.m2},
                   {"lambda", a.couplings.lambda}, {"convention", a.convention},
                   {"field_scale", a.field_scale},
                   {"normflow", {{"kappa", a.normflow.kappa}, {"m_sq", a.normflow.m_sq}, {"lambda", a.normflow.lambda}}}};
    if (a.hopping.kappa > 0)
      j["action"]["hopping"] = {{"kappa", a.hopping.kappa}, {"lambda", a.hopping.lambda}};
    j["algorithm"] = s_.algorithm;
    if (s_.algorithm == "hmc")
      j["hmc"] = {{"integrator", s_.integrator}, {"steps", s_.hmc_steps},
                  {"trajectory_length", s_.trajectory_length}};
    else
      j["metropolis"] = {{"step", s_.metropolis_step}, {"hits", s_.metropolis_hits}};
    j["wall_seconds"] = seconds;
    for (auto it = results.begin(); it != results.end(); ++it) j[it.key()] = it.value();
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
    write_json_atomic(summary_path_for(s_.output), j);
  }

  const config::Deck& deck_;
  Runtime& rt_;
  RunOptions options_;
  Phi4Settings s_;
  io::ParallelIOConfig iocfg_;
  std::vector<std::uint64_t> shape_;
  double volume_ = 1.0;
  std::uint64_t steps_this_run_ = 0;
  bool stop_pending_ = false;
};

}  // namespace

Workflow phi4_workflow() {
  Workflow w;
  w.name = "phi4";
  w.description =
      "lattice phi^4 Monte Carlo on a periodic L^d lattice (d = 1..4): checkerboard Metropolis or "
      "HMC (leapfrog/Omelyan) domain-decomposed over MPI ranks; fields, magnetisation, action, "
      "two-point function, chi2 and pole mass into parallel HDF5.";
  w.schema = phi4_schema;
  w.check = [](const config::Deck& deck, int ranks) { (void)phi4_settings(deck, ranks); };
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    Phi4Run(deck, rt, options).run();
  };
  return w;
}

}  // namespace phyflow::workflows
