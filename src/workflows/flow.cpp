// workflow: flow -- a normalizing flow for a lattice field theory, trained by reverse KL and
// used as the proposal of an independence Metropolis-Hastings chain (DESIGN.md §8, issue 9).
//
//   phyflow run inputs/flow_quick.yaml                 (seconds)
//   mpiexec -n 2 phyflow run inputs/flow_tutorial.yaml (the tutorial point, arXiv:2101.08176)
//
// Steps:
//   1. read the deck (the action section in one place: flow_action), set the thread budget,
//      resolve the device (cpu, cuda, cuda:N);
//   2. decide create / resume / skip (--restart); build the flow (seeded, broadcast from
//      rank 0) or load it from model.init (checked against the deck's lattice); move it to
//      the device;
//   3. train (reverse KL, data-parallel; checkpoints, signals, train.time_limit_s);
//   4. draw sample.proposals proposals on all ranks (log q and log p on the device, brought
//      back in float64), gather them in global order on rank 0, run the chain and its
//      diagnostics (acceptance, ESS, chi2, tau_int, log Z) on the host; with check.data, score
//      the target's own samples (the forward check: log Z from the target's side, EUBO);
//   5. write OUTPUT.partial (/model, /train, /chain, /proposals), rename it, write the summary.
#include "phyflow/flows/flow.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/flows/flow_mcmc.hpp"
#include "phyflow/flows/reverse_kl.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/lattice/autocorrelation.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/device.hpp"
#include "phyflow/ml/threads.hpp"
#include "phyflow/workflows/phi4_deck.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "split_files.hpp"

namespace phyflow::workflows {
namespace {

config::Schema flow_schema() {
  config::Schema s("flow");
  s.choice("workflow", "flow", {"flow"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the weight initialisation, the training batches (Philox by step and sample) "
            "and the proposals and accept/reject uniforms (Philox by proposal index)");
  // The action section of every phi^4 workflow (phi4_deck.hpp): the AKS, normflow and hopping
  // conventions; free_field is the flow's Gaussian target (AKS m2 > 0, lambda = 0).
  add_phi4_action_keys(s, {"free_field", "ising_hs"});
  s.real("action.T", std::nullopt, 1e-12, std::nullopt,
         "ising_hs: temperature T of the Ising model (J = 1), e.g. 2.269185314213022 = T_c");

  s.choice("model.coupling", "affine", {"affine", "spline"},
           "coupling layers: affine (RealNVP) or rational-quadratic spline");
  s.integer("model.layers", 16, 1, 10000,
            "coupling layers (alternating checkerboard parity); with model.hierarchy mera: the "
            "couplings (model.coupling) inside each block bijector");
  s.choice("model.hierarchy", "none", {"none", "mera"},
           "none: a stack of lattice-wide couplings; mera: the NeuralRG hierarchy of block "
           "bijectors (disentanglers and decimators on 2^d-site blocks; L a power of two)");
  s.integer("model.disentanglers", 1, 0, 64, "mera: disentangler layers per level");
  s.boolean("model.symmetrize", false,
            "Z2 mixture q(x) = [q_f(x) + q_f(-x)]/2 (a random sign per sample): the flow proposes "
            "both ordered modes of a symmetric target even if it learnt one");
  s.int_list("model.hidden", std::vector<long long>{8, 8}, 1, 1e6,
             "hidden channels (conv) or units (dense) of each conditioner");
  s.integer("model.kernel", 3, 1, 99, "conv conditioner: kernel size (odd; circular padding)");
  s.choice("model.net", "conv", {"conv", "dense"},
           "conditioner: conv (d = 1, 2, 3) or dense (any d)");
  s.integer("model.bins", 8, 2, 1000, "spline: bins K");
  s.real("model.bound", 5.0, 0.0, std::nullopt, "spline: interval [-B, B] (identity outside)");
  s.boolean("model.z2", false, "affine: Z2-equivariant layers (phi(-z) = -phi(z))");
  s.boolean("model.identity_init", false,
            "start every coupling at the identity (each conditioner's last layer at zero; "
            "spline: equal bins, unit slopes): deep flows start from the prior instead of "
            "compounding random scalings; false: LibTorch's default initialisation; with "
            "model.init the file's weights are used");
  s.choice("model.prior", "normal", {"normal", "free_field"},
           "base distribution: N(0,1) per site, or the free field of mass model.prior_m2");
  s.real("model.prior_m2", 1.0, 0.0, std::nullopt, "free_field prior: its m^2 (> 0)");
  s.choice("model.dtype", "float32", {"float32", "float64"}, "precision of the flow");
  s.string("model.init", std::nullopt,
           "start from the flow in this file (a flow.h5 or its checkpoint; its architecture "
           "replaces model.*); with train.steps: 0 it only samples");

  s.integer("train.steps", 2500, 0, 1e12, "optimisation steps (0: no training)");
  s.integer("train.batch", 64, 1, 1e9, "global batch per step, split over the ranks");
  s.real("train.lr", 1e-3, 0.0, 1e3, "Adam learning rate");
  s.choice("train.schedule", "constant", {"constant", "cosine"}, "learning-rate schedule");
  s.real("train.clip", 0.0, 0.0, std::nullopt, "clip the gradient norm to this (0: off)");
  s.real("train.divergence", 100.0, 0.0, std::nullopt,
         "stop training when the median loss of a block of 50 steps exceeds the first loss (or "
         "the best block before) by more than this many times max(1, |that loss|): a blown-up "
         "flow; 0: never stop (a non-finite loss always stops)");
  s.real("train.time_limit_s", 0.0, 0.0, std::nullopt,
         "stop training after this many seconds and sample with the flow so far (0: no limit)");
  s.integer("train.anneal_steps", 0, 0, 1e12,
            "ramp the action's coefficient linearly from train.anneal_start to 1 over these steps");
  s.real("train.anneal_start", 1.0, 0.0, 1.0, "annealing: initial coefficient of the action");
  s.choice("train.objective", "reverse_kl", {"reverse_kl", "forward_kl", "mixed"},
           "reverse_kl: from the action alone (samples of the flow); forward_kl: maximum "
           "likelihood on Monte Carlo samples of the target (train.data); mixed: both in every "
           "step, reverse KL + train.forward_weight x forward KL (the forward term makes the "
           "flow cover what reverse KL alone drops)");
  s.real("train.forward_weight", std::nullopt, 0.0, 1e6,
         "mixed: weight w of the forward-KL term (mean -log q of the data batch); default 1");
  s.string("train.data", std::nullopt,
           "forward_kl, mixed: HDF5 file of samples of the target: the output of workflow: phi4 "
           "(output.store_fields) for phi4, of workflow: ising (output.store_spins) for ising_hs "
           "(each configuration s becomes a field x ~ N(K s, K)), same lattice");
  s.string("train.data_dataset", std::nullopt,
           "forward_kl: the dataset of train.data holding the samples (default /t0/phi, float64 "
           "(N, L, ..., L) in the AKS field; for ising_hs /t0/spins, int8)");

  s.string("check.data", std::nullopt,
           "HDF5 file of samples of the target (the formats of train.data; independent of the "
           "training data) on which the final flow is scored: log Z from the target's side, "
           "-log mean(q/p), its Pareto k, the EUBO mean(log p - log q) >= log Z and KL(p||q), "
           "in the summary's forward_check next to the proposals' log Z (whose deficit shows a "
           "flow that under-covers the target); log q and log p of each sample in /check");
  s.string("check.data_dataset", std::nullopt,
           "the dataset of check.data holding the samples (the defaults of train.data_dataset)");
  s.integer("check.samples", 0, 0, 1e12, "score the first this many samples (0: all)");
  s.integer("sample.proposals", 10000, 1, 1e12, "proposals of the Metropolis-Hastings chain");
  s.integer("sample.chunk", 256, 1, 1e9, "proposals per forward pass");

  s.real("parallel.bucket_mb", 25.0, 0.001, 1e6, "gradient all-reduce bucket size (MiB)");
  s.boolean("parallel.overlap", true, "start all-reduces from gradient hooks");
  s.choice("parallel.reducer", "auto", {"auto", "mpi", "nccl"},
           "gradient all-reduce: auto (NCCL for a flow on a GPU where built with it, else MPI), "
           "mpi (device gradients staged through host buckets; for ranks sharing a GPU) or nccl");
  s.integer("threads.torch", 0, 0, 4096,
            "LibTorch intra-op threads per rank (0: OMP_NUM_THREADS if set, else one)");
  s.integer("threads.blas", 0, 0, 4096, "OpenBLAS threads per rank (0: the runtime's choice)");
  s.string("device", std::string("cpu"),
           "where the flow trains and samples: cpu, cuda (each rank takes the GPU of its "
           "node-local rank, modulo the GPUs it sees) or cuda:N; needs a CUDA LibTorch "
           "(docs/install.md). The random numbers are drawn on the host as on the CPU");
  s.string("output.path", std::string("flow.h5"),
           "output HDF5 file: the flow (/model), training history, the chain and the proposals "
           "(written as PATH.partial, renamed when complete); the summary is PATH's .json");
  add_run_keys(s, "steps");
  return s;
}

/// The deck's target, read by the phi4 workflow's own reader (phi4_action_from_deck) so that
/// both take the same keys and conventions; the flow works in the AKS field.
struct FlowAction {
  std::string kind;
  flows::LatticeShape shape;
  std::shared_ptr<const flows::Target> target;
  lattice::Phi4Couplings couplings;  ///< AKS (phi4, free_field)
  double T = 0.0;                    ///< ising_hs
  std::string convention = "aks";    ///< as given in the deck
  double field_scale = 1.0;          ///< phi_aks = field_scale * phi in the deck's convention
};

FlowAction flow_action(const config::Deck& deck) {
  const std::string where = "deck '" + deck.origin() + "'";
  FlowAction a;
  a.kind = deck.string("action.kind");
  a.shape.dims = int(deck.integer("action.dims"));
  a.shape.L = int(deck.integer("action.L"));
  if (a.kind != "ising_hs" && deck.has("action.T"))
    throw input_error(where + ": action.T belongs to action.kind ising_hs; remove it for " +
                      a.kind);
  if (a.kind == "ising_hs") {
    for (const char* key : {"action.m2", "action.lambda", "action.kappa", "action.m_sq"})
      if (deck.has(key))
        throw input_error(where + ": " + key +
                          " is a phi^4 coupling; action.kind ising_hs takes "
                          "action.T (and dims, L) only");
    if (deck.string("action.convention") != "aks")
      throw input_error(where +
                        ": action.convention is a phi^4 setting; remove it for "
                        "action.kind ising_hs");
    if (!deck.has("action.T"))
      throw input_error(where +
                        ": action.kind ising_hs needs action.T (> 0), e.g. "
                        "T: 2.269185314213022 (the critical temperature)");
    a.T = deck.real("action.T");
    a.target = std::make_shared<flows::IsingHsTarget>(a.shape, a.T);
    return a;
  }
  if (a.kind == "phi4") {
    if (deck.string("action.convention") == "aks" && deck.has("action.lambda") &&
        !(deck.real("action.lambda") > 0.0))
      throw input_error(where + ": action.lambda = " + std::to_string(deck.real("action.lambda")) +
                        " must be > 0 for action.kind phi4 (the action is unbounded below "
                        "otherwise); use action.kind: free_field for lambda = 0");
    const Phi4ActionSpec spec = phi4_action_from_deck(deck);
    a.couplings = spec.couplings;
    a.convention = spec.convention;
    a.field_scale = spec.field_scale;
    a.target = std::make_shared<flows::Phi4Target>(a.shape, a.couplings);
    return a;
  }
  if (deck.string("action.convention") != "aks" || deck.has("action.kappa") ||
      deck.has("action.m_sq"))
    throw input_error(where +
                      ": action.kind free_field takes action.m2 (> 0) in the AKS "
                      "convention; remove action.convention, kappa and m_sq");
  if (!deck.has("action.m2"))
    throw input_error(where + ": action.kind free_field needs action.m2 (> 0), e.g. m2: 1.0");
  a.couplings.m2 = deck.real("action.m2");
  a.couplings.lambda = deck.has("action.lambda") ? deck.real("action.lambda") : 0.0;
  {
    if (a.couplings.lambda != 0.0)
      throw input_error(where +
                        ": action.kind free_field has lambda = 0; remove action.lambda "
                        "or set it to 0 (or use action.kind: phi4)");
    if (!(a.couplings.m2 > 0.0))
      throw input_error(where +
                        ": action.kind free_field needs action.m2 > 0 (the free field "
                        "is not normalisable otherwise), got " +
                        std::to_string(a.couplings.m2));
  }
  a.target = std::make_shared<flows::Phi4Target>(a.shape, a.couplings);
  return a;
}

flows::FlowConfig flow_config(const config::Deck& deck, const FlowAction& a) {
  flows::FlowConfig c;
  c.shape = a.shape;
  c.coupling = deck.string("model.coupling");
  c.layers = deck.integer("model.layers");
  c.net.net = deck.string("model.net");
  c.net.hidden.clear();
  for (auto h : deck.int_list("model.hidden")) c.net.hidden.push_back(h);
  c.net.kernel = deck.integer("model.kernel");
  c.net.final_tanh = c.coupling == "affine";
  c.bins = deck.integer("model.bins");
  c.bound = deck.real("model.bound");
  c.z2 = deck.boolean("model.z2");
  c.prior = deck.string("model.prior");
  c.prior_m2 = deck.real("model.prior_m2");
  c.dtype = deck.string("model.dtype");
  c.hierarchy = deck.string("model.hierarchy");
  c.disentanglers = deck.integer("model.disentanglers");
  c.symmetrize = deck.boolean("model.symmetrize");
  c.net.identity_init = deck.boolean("model.identity_init");
  return c;
}

void flow_check(const config::Deck& deck, int ranks) {
  ml::check_reducer_backend(deck.string("parallel.reducer"), deck.string("device"));
  const std::string where = "deck '" + deck.origin() + "'";
  const auto a = flow_action(deck);
  const auto c = flow_config(deck, a);
  if (!deck.has("model.init")) {
    if (c.net.net == "conv" && a.shape.dims > 3)
      throw input_error(where +
                        ": model.net conv exists for d = 1, 2, 3; use model.net: dense "
                        "for action.dims = " +
                        std::to_string(a.shape.dims));
    if (c.net.net == "conv" && c.net.kernel % 2 == 0)
      throw input_error(where + ": model.kernel must be odd, got " + std::to_string(c.net.kernel));
    if (c.z2 && c.coupling != "affine")
      throw input_error(where + ": model.z2 exists for model.coupling affine only");
    if (c.prior == "free_field" && !(c.prior_m2 > 0))
      throw input_error(where + ": model.prior free_field needs model.prior_m2 > 0");
    if (c.coupling == "spline" && !(c.bound > 0))
      throw input_error(where + ": model.bound must be > 0");
    if (c.hierarchy == "mera") {
      if (c.z2)
        throw input_error(where +
                          ": model.hierarchy mera has no Z2-equivariant blocks; set model.z2: "
                          "false (model.symmetrize makes the flow Z2-symmetric)");
      if (a.shape.L < 2 || (a.shape.L & (a.shape.L - 1)) != 0)
        throw input_error(where +
                          ": model.hierarchy mera needs action.L a power of two (2, 4, "
                          "8, 16, ...), got " +
                          std::to_string(a.shape.L));
    }
  }
  const std::string objective = deck.string("train.objective");
  const bool forward = objective != "reverse_kl";
  if (forward && !deck.has("train.data"))
    throw input_error(where + ": train.objective " + objective +
                      " needs train.data, an HDF5 file of "
                      "samples of the target (e.g. the output of workflow: phi4)");
  if (!forward && deck.has("train.data"))
    throw input_error(where +
                      ": train.data is read by train.objective forward_kl or mixed only; set "
                      "train.objective: forward_kl (or mixed) or remove train.data");
  if (objective != "mixed" && deck.has("train.forward_weight"))
    throw input_error(where +
                      ": train.forward_weight weighs the forward term of "
                      "train.objective mixed; set train.objective: mixed or remove it");
  for (const std::string key : {"check.data_dataset", "check.samples"})
    if ((key == "check.samples" ? deck.integer(key) > 0 : deck.has(key)) && !deck.has("check.data"))
      throw input_error(where + ": " + key +
                        " belongs to the forward check; give check.data (an HDF5 file of "
                        "samples of the target) or remove " +
                        key);
  if (deck.integer("train.steps") > 0 && deck.integer("train.batch") < ranks)
    throw input_error(where + ": train.batch (" + std::to_string(deck.integer("train.batch")) +
                      ", the global batch) is smaller than the " + std::to_string(ranks) +
                      " ranks; raise train.batch");
}

/// The dataset of `key` (train.data, check.data) holding the samples: KEY_dataset, else the
/// Ising or phi4 workflow's.
std::string samples_dataset(const config::Deck& deck, const FlowAction& a, const std::string& key) {
  return deck.has(key + "_dataset") ? deck.string(key + "_dataset")
                                    : std::string(a.kind == "ising_hs" ? "/t0/spins" : "/t0/phi");
}

/// The samples of the target in `key` (train.data for forward_kl, check.data; every rank reads
/// them all; limit > 0: the first `limit`). Input errors name the key, the file, the dataset
/// and the fix. For ising_hs the spins become fields with Gaussian noise of their own purpose.
torch::Tensor read_flow_samples(const config::Deck& deck, const FlowAction& a,
                                const std::string& key, std::int64_t limit = 0) {
  const bool spins = a.kind == "ising_hs";
  const std::string path = deck.string(key);
  const std::string ds = samples_dataset(deck, a, key);
  std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
  const auto f = [&] {
    try {
      return io::InputFile::open(path, MPI_COMM_SELF);
    } catch (const Error& e) {
      throw input_error(key + ": " + std::string(e.what()));
    }
  }();
  if (!f.is_dataset(ds))
    throw input_error(key + " '" + path + "' has no dataset '" + ds +
                      (spins ? "': give the output of workflow: ising run with output.store_spins: "
                               "true, "
                             : "': give the output of workflow: phi4 run with output.store_fields: "
                               "true, ") +
                      "or name the dataset with " + key + "_dataset");
  std::vector<std::int64_t> shape{-1};
  for (int mu = 0; mu < a.shape.dims; ++mu) shape.push_back(a.shape.L);
  try {
    f.expect(ds, spins ? "int8" : "float64", shape);
  } catch (const Error& e) {
    throw input_error(key + ": " + std::string(e.what()) + "; the deck's action is on a " +
                      std::to_string(a.shape.dims) + "-dimensional lattice of L = " +
                      std::to_string(a.shape.L) + ": give samples of that lattice");
  }
  // Samples of other couplings are allowed (e.g. to pre-train), but said.
  const std::string consequence = key == "train.data"
                                      ? "the flow learns their distribution"
                                      : "the forward check scores the flow against them, and its "
                                        "log Z is not the deck's";
  const auto slash = ds.find_last_of('/');
  const std::string group = slash == 0 ? "/" : ds.substr(0, slash);
  if (a.kind == "phi4" && f.has_attribute(group, "m2") && f.has_attribute(group, "lambda")) {
    const double m2 = f.attribute_double(group, "m2"), lambda = f.attribute_double(group, "lambda");
    if (std::abs(m2 - a.couplings.m2) > 1e-12 * (1 + std::abs(m2)) ||
        std::abs(lambda - a.couplings.lambda) > 1e-12 * (1 + std::abs(lambda)))
      log::warn("flow: " + key + " '" + path + "' holds samples of m2 = " + std::to_string(m2) +
                ", lambda = " + std::to_string(lambda) +
                ", not of the deck's action (m2 = " + std::to_string(a.couplings.m2) +
                ", lambda = " + std::to_string(a.couplings.lambda) + "): " + consequence);
  }
  const auto V = std::int64_t(a.shape.volume());
  if (spins) {
    if (f.has_attribute(group, "temperature") &&
        std::abs(f.attribute_double(group, "temperature") - a.T) > 1e-12 * a.T)
      log::warn("flow: " + key + " '" + path +
                "' holds spins at T = " + std::to_string(f.attribute_double(group, "temperature")) +
                ", not the deck's T = " + std::to_string(a.T) + ": " + consequence);
    auto s = f.read<std::int8_t>(ds);
    auto t = torch::from_blob(s.data(), a.shape.batch(std::int64_t(s.size()) / V), torch::kInt8);
    if (limit > 0 && limit < t.size(0)) t = t.narrow(0, 0, limit);
    const auto* hs = dynamic_cast<const flows::IsingHsTarget*>(a.target.get());
    // Training keeps the purpose of earlier versions ("flow_hs_data": the same fields).
    return hs->field_from_spins(
        t.clone(), std::uint64_t(deck.integer("seed")),
        rng::purpose(key == "train.data" ? "flow_hs_data" : "flow_hs_check"));
  }
  auto v = f.read<double>(ds);
  auto x = torch::from_blob(v.data(), a.shape.batch(std::int64_t(v.size()) / V), torch::kFloat64);
  if (limit > 0 && limit < x.size(0)) x = x.narrow(0, 0, limit);
  return x.clone();
}

// check.*: the forward check scores the final flow and does not touch training.
/// Warns when check.data is the file and dataset this run trains on: the check then scores the
/// flow on samples it was fitted to (for ising_hs the same spins, fresh noise): q is higher on
/// them than on new samples, so its KL(p||q) and log Z come out low.
void warn_if_check_is_training_data(const config::Deck& deck, const FlowAction& a,
                                    bool trains_on_data) {
  if (!trains_on_data || !deck.has("check.data")) return;
  std::error_code ec;
  const bool same_file =
      std::filesystem::equivalent(deck.string("train.data"), deck.string("check.data"), ec);
  if (ec || !same_file ||
      samples_dataset(deck, a, "train.data") != samples_dataset(deck, a, "check.data"))
    return;
  log::warn("flow: check.data is train.data ('" + deck.string("check.data") +
            "'): the forward check scores the flow on the samples it was trained on, which "
            "biases its KL(p||q) and its log Z low; give check.data samples "
            "training did not see (e.g. the same Monte Carlo deck with another seed)");
}

/// Spline flows: the fraction of the samples in `key` with a site beyond model.bound (warned
/// about: every spline coupling maps [-B, B] onto itself and is the identity outside, so the
/// flow reaches such fields only from the prior's far tails and under-covers them).
double beyond_spline_bound(const flows::Flow& flow, const torch::Tensor& x,
                           const std::string& key) {
  if (flow.config().coupling != "spline" || !x.defined() || x.size(0) == 0) return 0.0;
  const double B = flow.config().bound;
  const auto largest = x.reshape({x.size(0), -1}).abs().amax(1);
  const double fraction = (largest > B).to(torch::kFloat64).mean().item<double>();
  if (fraction > 0)
    log::warn("flow: " + log::number(100.0 * fraction, 3) + " % of the samples in " + key +
              " have a site beyond the spline's bound (model.bound = " + log::number(B, 4) +
              "; largest |x| " + log::number(largest.max().item<double>(), 4) +
              "): the spline couplings map [-B, B] onto itself, so the flow reaches those "
              "fields only from the prior's far tails and under-covers them; raise model.bound "
              "above the field's range");
  return fraction;
}

const std::vector<std::string> restart_may_change = {"checkpoint", "progress", "threads", "check"};

class FlowRun {
 public:
  FlowRun(const config::Deck& deck, Runtime& rt, const RunOptions& options)
      : deck_(deck), rt_(rt), options_(options) {}

  void run() {
    const std::string out_path = deck_.string("output.path");
    const std::string ckpt = detail::checkpoint_path_for(out_path);
    const RunKeys keys = run_keys(deck_);
    const auto seed = std::uint64_t(deck_.integer("seed"));
    const FlowAction action = flow_action(deck_);

    // 1. Threads and device (as workflow: train).
    ml::set_intra_op_threads(int(deck_.integer("threads.torch")));
    if (deck_.integer("threads.blas") > 0) blas::set_threads(int(deck_.integer("threads.blas")));
    const torch::Device device = collective_try(
        rt_.comm(), [&] { return ml::resolve_device(deck_.string("device"), rt_.comm()); });
    if (!device.is_cpu()) log::info("flow: device " + device.str() + " on rank 0");

    // 2. Restart decision, flow, output file.
    const detail::SplitStart start = collective_try(rt_.comm(), [&] {
      auto s = detail::split_start(out_path, options_, detail::any_split_has_files({out_path}));
      if (s == detail::SplitStart::resume) {
        std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
        const auto f = io::InputFile::open(ckpt, MPI_COMM_SELF);
        const auto saved = config::Deck::load_string(f.attribute_string("/", "deck_resolved"), {},
                                                     flow_schema(), ckpt);
        if (!detail::restart_compatible(saved, deck_, restart_may_change))
          throw input_error(
              "checkpoint '" + ckpt +
              "' was written by a different deck (only "
              "checkpoint.*, progress.*, threads.* and check.* may change on --restart); "
              "rerun with the same deck, or without --restart and with "
              "--overwrite to start over");
        if (f.attribute_int("/", "mpi_ranks") != rt_.size())
          throw input_error("checkpoint '" + ckpt + "' was written by a run on " +
                            std::to_string(f.attribute_int("/", "mpi_ranks")) +
                            " ranks; resume it on the same number of ranks");
      }
      return s;
    });
    if (start == detail::SplitStart::skip) {
      log::info("flow: " + out_path + " is complete; nothing to do");
      return;
    }
    torch::manual_seed(seed);
    std::shared_ptr<flows::Flow> flow = collective_try(rt_.comm(), [&] {
      if (!deck_.has("model.init"))
        return std::make_shared<flows::Flow>(flow_config(deck_, action));
      const std::string init = deck_.string("model.init");
      auto f = flows::read_flow(init);
      const auto& s = f->config().shape;
      if (s.dims != action.shape.dims || s.L != action.shape.L)
        throw input_error("model.init '" + init + "' is a flow for a " + std::to_string(s.dims) +
                          "-dimensional lattice of L = " + std::to_string(s.L) +
                          "; the deck's "
                          "action has dims " +
                          std::to_string(action.shape.dims) +
                          ", L = " + std::to_string(action.shape.L) +
                          ": use a flow trained for this "
                          "lattice, or set action.dims/action.L to the flow's");
      return f;
    });
    // On the device before the trainer's optimiser and reducer see the parameters (the
    // reducer picks NCCL for CUDA parameters where built with it).
    if (!device.is_cpu()) flow->to(device);
    const bool resuming = start == detail::SplitStart::resume;
    // forward_kl: the samples, read before any output exists.
    torch::Tensor data;
    if (deck_.string("train.objective") != "reverse_kl" && deck_.integer("train.steps") > 0)
      data = collective_try(rt_.comm(),
                            [&] { return read_flow_samples(deck_, action, "train.data"); });
    beyond_spline_bound(*flow, data, "train.data");
    warn_if_check_is_training_data(deck_, action, data.defined());
    torch::Tensor check_samples;  // check.data: the target's samples the final flow is scored on
    if (deck_.has("check.data"))
      check_samples = collective_try(rt_.comm(), [&] {
        return read_flow_samples(deck_, action, "check.data", deck_.integer("check.samples"));
      });
    io::ParallelIOConfig io_config;
    io_config.collective_transfer = keys.collective_io;
    io::OutputFile out = collective_try(rt_.comm(), [&] {
      return io::OutputFile::create(rt_.comm(), out_path, options_.overwrite || resuming,
                                    io_config);
    });
    std::int64_t parameters = 0;
    for (const auto& p : flow->parameters()) parameters += p.numel();
    log::info("flow: " + action.target->describe() + "; flow " + flow->config().to_json().dump() +
              ", " + std::to_string(parameters) + " parameters; " + std::to_string(rt_.size()) +
              " rank(s) x " + std::to_string(at::get_num_threads()) + " torch thread(s)");

    // 3. Train.
    flows::ReverseKlOptions to;
    to.seed = seed;
    to.steps = deck_.integer("train.steps");
    to.batch = deck_.integer("train.batch");
    to.optimizer.lr = deck_.real("train.lr");
    to.schedule = deck_.string("train.schedule");
    to.clip = deck_.real("train.clip");
    to.divergence = deck_.real("train.divergence");
    to.time_limit_s = deck_.real("train.time_limit_s");
    to.anneal_steps = deck_.integer("train.anneal_steps");
    to.anneal_start = deck_.real("train.anneal_start");
    to.objective = deck_.string("train.objective");
    to.data = data;
    to.forward_weight =
        deck_.has("train.forward_weight") ? deck_.real("train.forward_weight") : 1.0;
    to.checkpoint_every = std::int64_t(keys.checkpoint_every);
    to.stop_after = std::int64_t(keys.stop_after);
    to.checkpoint_path = ckpt;
    to.progress_interval = keys.progress_interval;
    to.reducer.bucket_bytes = std::int64_t(deck_.real("parallel.bucket_mb") * 1048576.0);
    to.reducer.overlap = deck_.boolean("parallel.overlap");
    to.reducer.backend = deck_.string("parallel.reducer");
    const auto t0 = std::chrono::steady_clock::now();
    flows::ReverseKlState train_state;
    flows::TrainEnd train_end = flows::TrainEnd::finished;
    std::int64_t first_step = 0;  // where this run's training began (> 0 on --restart)
    if (to.steps > 0) {
      flows::ReverseKlTrainer trainer(rt_.comm(), flow, action.target, to);
      trainer.annotate_checkpoint = [&](io::OutputFile& f) {
        f.set_attribute("/", "deck_resolved", deck_.resolved_yaml());
        f.set_attribute("/", "mpi_ranks", rt_.size());
      };
      if (resuming) {
        collective_try(rt_.comm(), [&] { trainer.restore(ckpt); });
        first_step = trainer.state().step;
        log::info("flow: resuming from " + ckpt + " at step " + std::to_string(first_step));
      }
      signals::install();
      train_end = trainer.run();
      signals::uninstall();
      train_state = trainer.state();
      if (train_end == flows::TrainEnd::interrupted) {
        out.close();
        if (rt_.rank() == 0) {
          auto j =
              summary_header("flow", "interrupted", out_path, "", seed, rt_.size(), deck_.values());
          j["checkpoint"] = ckpt;
          j["train_steps_done"] = train_state.step;
          write_json_atomic(summary_path_for(out_path), j);
        }
        throw detail::interrupted_error(trainer.signalled(), keys.stop_after, ckpt,
                                        "step " + std::to_string(train_state.step), deck_,
                                        rt_.size());
      }
    }
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // 4. Sample.
    flows::ProposalOptions po;
    po.proposals = deck_.integer("sample.proposals");
    po.seed = seed;
    po.chunk = deck_.integer("sample.chunk");
    po.progress_interval = keys.progress_interval;
    const auto t1 = std::chrono::steady_clock::now();
    const flows::Proposals proposals = flows::draw_proposals(rt_.comm(), *flow, *action.target, po);
    const double sample_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    flows::Chain chain;
    flows::FlowDiagnostics diag;
    if (rt_.rank() == 0) {
      chain = flows::independence_metropolis(proposals.log_q, proposals.log_p, seed);
      diag = flows::diagnose(proposals, chain);
    }
    check_mpi(MPI_Bcast(&diag, sizeof(diag), MPI_BYTE, 0, rt_.comm()), "MPI_Bcast (diagnostics)");
    log::info("flow: " + std::to_string(po.proposals) + " proposals: acceptance " +
              std::to_string(diag.acceptance) + ", ESS " + std::to_string(diag.ess) + ", chi2 " +
              std::to_string(diag.chi2.value) + " +- " + std::to_string(diag.chi2.error) +
              " (tau_int " + std::to_string(diag.chi2.tau_int) + "), log Z " +
              std::to_string(diag.log_z.value) + " +- " + std::to_string(diag.log_z.error) +
              ", Pareto k " + std::to_string(diag.pareto_k));
    if (diag.undefined_weights > 0)
      log::warn("flow: " + std::to_string(std::int64_t(diag.undefined_weights)) + " of " +
                std::to_string(po.proposals) + " proposals have an undefined weight (NaN log q or "
                "log p: the flow or the action fails numerically there); they are never accepted "
                "and are left out of ESS, log Z and Pareto k");
    if (diag.pareto_k > 0.7)
      log::warn("flow: the importance weights are heavy-tailed (Pareto k = " +
                std::to_string(diag.pareto_k) + " > 0.7): the chain has likely not met the "
                "proposals of largest weight, so log Z and the observables may be biased beyond "
                "their quoted errors; train the flow further (or draw many more proposals)");
    if (!diag.action.bins_span_stalls)
      log::warn("flow: the chain's longest run of rejections (" +
                std::to_string(std::int64_t(diag.max_rejections)) + " of " +
                std::to_string(po.proposals) +
                " proposals) is more than a quarter of it, so no two bins of the chain span it "
                "and the chain's errors are unreliable; draw more proposals (sample.proposals) "
                "or train the flow further");
    // ising_hs: the Ising energy along the chain, E[H | x] / V per configuration.
    const auto* hs = dynamic_cast<const flows::IsingHsTarget*>(action.target.get());
    std::vector<double> chain_energy;
    flows::Estimate energy;
    if (hs && rt_.rank() == 0) {
      const auto V = proposals.volume;
      std::vector<double> per_proposal(std::size_t(proposals.n));
      const std::int64_t C = 4096;
      for (std::int64_t a = 0; a < proposals.n; a += C) {
        const std::int64_t m = std::min(C, proposals.n - a);
        const auto x = torch::from_blob(const_cast<double*>(proposals.phi.data()) + a * V,
                                        action.shape.batch(m), torch::kFloat64);
        const auto e = hs->ising_energy_per_site(x).contiguous();
        std::copy_n(e.data_ptr<double>(), m, per_proposal.data() + a);
      }
      chain_energy.resize(per_proposal.size());
      for (std::size_t i = 0; i < chain_energy.size(); ++i)
        chain_energy[i] = per_proposal[std::size_t(chain.state[i])];
      energy = flows::chain_estimate(chain_energy, std::size_t(diag.max_rejections));
    }
    if (hs) {
      check_mpi(MPI_Bcast(&energy, sizeof(energy), MPI_BYTE, 0, rt_.comm()),
                "MPI_Bcast (Ising energy)");
      std::string exact;
      if (action.shape.dims == 2)
        exact = " (exact " + std::to_string(hs->exact_energy_per_site()) + "), exact log Z " +
                std::to_string(-hs->exact_loss_bound());
      log::info("flow: Ising energy per site " + std::to_string(energy.value) + " +- " +
                std::to_string(energy.error) + exact);
    }

    // The forward check: the flow scored on the target's own samples (check.data).
    const double exact_log_z =
        hs && action.shape.dims == 2 ? -hs->exact_loss_bound()
        : action.kind == "free_field"
            ? lattice::free_field_log_z(action.shape.dims, action.shape.L, action.couplings.m2)
            : std::numeric_limits<double>::quiet_NaN();
    flows::Proposals scored;
    flows::ForwardCheck fc;
    std::vector<flows::CoverageBin> coverage;  // rank 0
    double beyond_bound = 0.0;                 // rank 0, spline flows
    if (check_samples.defined()) {
      scored = flows::score_samples(rt_.comm(), *flow, *action.target, check_samples, po.chunk,
                                    po.progress_interval);
      if (rt_.rank() == 0) {
        fc = flows::forward_check(scored.log_q, scored.log_p);
        beyond_bound = beyond_spline_bound(*flow, check_samples, "check.data");
        // Where the flow under-covers: q/p by deciles of |m| of the samples (for ising_hs
        // |mean tanh x| = |E[m | x]| of the spins, else the field's |mean|).
        const auto xm = hs ? torch::tanh(check_samples) : check_samples;
        const auto m = xm.reshape({xm.size(0), -1}).mean(1).abs().contiguous();
        const std::vector<double> abs_m(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
        coverage =
            flows::coverage_by(scored.log_q, scored.log_p, abs_m,
                               std::isfinite(exact_log_z) ? exact_log_z : fc.log_z.value, 10);
        std::string line = "flow: forward check, mean q/p in deciles of |m| (from small |m|):";
        for (const auto& c : coverage) line += " " + log::number(c.coverage, 3);
        log::info(line);
      }
      check_mpi(MPI_Bcast(&fc, sizeof(fc), MPI_BYTE, 0, rt_.comm()), "MPI_Bcast (forward check)");
      const double gap = diag.log_z.value - fc.log_z.value,
                   gap_error = std::hypot(diag.log_z.error, fc.log_z.error);
      log::info("flow: forward check on " + std::to_string(fc.samples) +
                " samples of the target (check.data): log Z " + std::to_string(fc.log_z.value) +
                " +- " + std::to_string(fc.log_z.error) + " (tau_int " +
                std::to_string(fc.log_z.tau_int) + ", Pareto k " + std::to_string(fc.pareto_k) +
                "), EUBO " + std::to_string(fc.eubo.value) + " +- " +
                std::to_string(fc.eubo.error) + "; the proposals' log Z minus it: " +
                std::to_string(gap) + " +- " + std::to_string(gap_error));
      // Each estimate is blind one way: the proposals' to weight of p that q almost never
      // proposes (their log Z comes out low), the check's to weight of q where p has little
      // (its q/p~ is then heavy-tailed, its Pareto k says so, and its log Z comes out high).
      // Both make the gap negative; a heavy-tailed check cannot tell them apart.
      const std::string missing = log::number(100.0 * (1.0 - std::exp(gap)), 2);
      if (gap < -3.0 * gap_error && fc.pareto_k > 0.5)
        log::warn("flow: the proposals' log Z is " + log::number(-gap / gap_error, 2) +
                  " sigma below the one from the target's samples, but the check's own weights "
                  "q/p are heavy-tailed (its Pareto k " +
                  log::number(fc.pareto_k, 2) +
                  " > 0.5): either the flow under-covers the target (about " + missing +
                  " % of its weight almost never proposed; the deciles of |m| above say "
                  "where), or it puts weight where the target has little (as forward-KL "
                  "training does) and the check's log Z is too high and its error too small; "
                  "the log Z of chains with other sampling seeds (seed) tells which");
      else if (gap < -3.0 * gap_error)
        log::warn("flow: the proposals' log Z is " + log::number(-gap / gap_error, 2) +
                  " sigma below the one from the target's samples: the flow under-covers the "
                  "target (about " +
                  missing +
                  " % of its weight is almost never proposed; the deciles of |m| above say "
                  "where), so the chain's log Z and observables may be biased beyond their "
                  "errors even where Pareto k is small; train with data of the target "
                  "(train.objective: mixed or forward_kl)");
      else if (gap > 3.0 * gap_error)
        log::warn("flow: the proposals' log Z is " + log::number(gap / gap_error, 2) +
                  " sigma above the one from check.data: the samples are not (or not only) of "
                  "the deck's target (other couplings, not equilibrated), or the proposals' "
                  "weights are heavy-tailed (Pareto k " +
                  log::number(diag.pareto_k, 2) +
                  ") and this chain met one of their rare large weights");
    }

    // 5. Output.
    const auto N = std::uint64_t(po.proposals);
    std::vector<std::uint64_t> field_shape{N};
    for (int mu = 0; mu < action.shape.dims; ++mu)
      field_shape.push_back(std::uint64_t(action.shape.L));
    {
      std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
      out.write_provenance({"flow", deck_.source_text(), deck_.resolved_yaml(), seed});
      flows::write_flow(out, "/model", *flow);
      out.set_attribute("/model", "action_kind", action.kind);
      if (hs) {
        out.set_attribute("/model", "action_T", action.T);
      } else {
        out.set_attribute("/model", "action_m2", action.couplings.m2);
        out.set_attribute("/model", "action_lambda", action.couplings.lambda);
      }
      out.set_attribute("/model", "train_steps", train_state.step);
      out.write_array("/train/loss", train_state.loss.data(), {train_state.loss.size()},
                      to.objective == "forward_kl"
                          ? "forward-KL loss per step: mean of -log q of the data batch"
                      : to.objective == "mixed"
                          ? "mixed loss per step: mean of log q + S over the flow's batch plus "
                            "train.forward_weight x mean of -log q of the data batch"
                          : "reverse-KL loss per step: mean of log q + S over the global batch",
                      "1");
      out.write_array("/train/ess", train_state.ess.data(), {train_state.ess.size()},
                      "ESS per sample of each step's batch", "1");
      std::vector<double> chain_phi;
      if (rt_.rank() == 0) {
        const auto V = std::size_t(proposals.volume);
        chain_phi.resize(std::size_t(N) * V);
        for (std::size_t i = 0; i < N; ++i)
          std::copy_n(proposals.phi.data() + std::size_t(chain.state[i]) * V, V,
                      chain_phi.data() + i * V);
      }
      out.write_array("/chain/phi", chain_phi.data(), field_shape,
                      "Markov chain after accept/reject, one entry per proposal (AKS field)", "1");
      if (hs)
        out.write_array("/chain/ising_energy", chain_energy.data(), {N},
                        "Ising energy per site of each chain entry, E[H | x] / V = "
                        "-(1/V) sum_<ij> tanh x_i tanh x_j",
                        "1");
      out.write_array("/chain/accepted", chain.accepted.data(), {N},
                      "1 where the proposal was accepted (proposal 0 starts the chain)", "1");
      out.write_array("/proposals/log_q", proposals.log_q.data(), {N},
                      "log density of each proposal under the flow (normalised)", "1");
      out.write_array("/proposals/log_p", proposals.log_p.data(), {N},
                      "-S of each proposal (unnormalised log target)", "1");
      if (check_samples.defined()) {
        const auto M = std::uint64_t(check_samples.size(0));
        out.write_array("/check/log_q", scored.log_q.data(), {M},
                        "log q of each sample of check.data under the flow (normalised)", "1");
        out.write_array("/check/log_p", scored.log_p.data(), {M},
                        "-S of each sample of check.data (unnormalised log target)", "1");
        out.set_attribute("/check", "data", deck_.string("check.data"));
        out.set_attribute("/check", "log_z", fc.log_z.value);
        out.set_attribute("/check", "log_z_error", fc.log_z.error);
      }
      out.set_attribute("/chain", "acceptance", diag.acceptance);
      out.set_attribute("/chain", "ess", diag.ess);
      out.set_attribute("/chain", "pareto_k", diag.pareto_k);
      out.set_attribute("/chain", "chi2", diag.chi2.value);
      out.set_attribute("/chain", "chi2_error", diag.chi2.error);
      out.commit();
    }
    if (rt_.rank() == 0) {
      std::remove(ckpt.c_str());
      auto est = [](const flows::Estimate& e) {
        auto j = nlohmann::json{{"value", e.value}, {"error", e.error}, {"tau_int", e.tau_int}};
        if (e.bins > 0) {  // along the chain: both errors, "error" the larger
          const auto finite = [](double v) {
            return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
          };
          j["error_gamma"] = finite(e.error_gamma);
          j["error_binned"] = finite(e.error_binned);
          j["bins"] = e.bins;
        }
        return j;
      };
      auto j = summary_header("flow", "complete", out_path, "", seed, rt_.size(), deck_.values());
      if (hs)
        j["action"] = {{"kind", action.kind},
                       {"dims", action.shape.dims},
                       {"L", action.shape.L},
                       {"T", action.T}};
      else
        j["action"] = {{"kind", action.kind},
                       {"dims", action.shape.dims},
                       {"L", action.shape.L},
                       {"m2", action.couplings.m2},
                       {"lambda", action.couplings.lambda},
                       {"convention", action.convention},
                       {"field_scale", action.field_scale}};
      j["model"] = {{"options", flow->config().to_json()},
                    {"parameters", parameters},
                    {"init", deck_.has("model.init") ? deck_.string("model.init") : std::string()}};
      j["train"] = {
          {"objective", to.objective},
          {"steps", train_state.step},
          {"stopped_by_time_limit", train_end == flows::TrainEnd::time_limit},
          {"final_loss", train_state.loss.empty() ? 0.0 : train_state.loss.back()},
          {"final_batch_ess", train_state.ess.empty() ? 0.0 : train_state.ess.back()},
          // seconds and rate of this run's steps (a restarted run's first_step > 0)
          {"resumed_at_step", first_step},
          {"seconds", train_seconds},
          {"steps_per_s",
           train_seconds > 0 ? double(train_state.step - first_step) / train_seconds : 0.0}};
      j["device"] = device.str();
      j["proposals"] = po.proposals;
      j["acceptance"] = diag.acceptance;
      j["ess"] = diag.ess;
      j["undefined_weights"] = std::int64_t(diag.undefined_weights);
      j["pareto_k"] = std::isfinite(diag.pareto_k) ? nlohmann::json(diag.pareto_k) : nlohmann::json();
      j["chi2"] = est(diag.chi2);
      j["phi2"] = est(diag.phi2);
      j["abs_m"] = est(diag.abs_m);
      j["action_mean"] = est(diag.action);
      j["tau_int"] = {{"chi2", diag.chi2.tau_int},
                      {"phi2", diag.phi2.tau_int},
                      {"abs_m", diag.abs_m.tau_int},
                      {"action", diag.action.tau_int}};
      j["log_z"] = {{"value", diag.log_z.value}, {"error", diag.log_z.error}};
      // ELBO = log Z - KL(q||p) from the proposals; with an exact log Z, KL(q||p) itself.
      j["elbo"] = {{"value", diag.elbo.value}, {"error", diag.elbo.error}};
      if (std::isfinite(exact_log_z))
        j["kl_reverse"] = {{"value", exact_log_z - diag.elbo.value}, {"error", diag.elbo.error}};
      if (check_samples.defined()) {
        const bool exact_z = std::isfinite(exact_log_z);
        const double ref = exact_z ? exact_log_z : fc.log_z.value;
        const double ref_error = exact_z ? 0.0 : fc.log_z.error;
        const auto finite = [](double v) {
          return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
        };
        j["forward_check"] = {{"data", deck_.string("check.data")},
                              {"samples", fc.samples},
                              {"undefined_weights", std::int64_t(fc.undefined)},
                              {"log_z", est(fc.log_z)},
                              {"pareto_k", finite(fc.pareto_k)},
                              {"eubo", est(fc.eubo)},
                              // KL(p||q) = EUBO - log Z, with the exact log Z where there is one
                              // (else the check's own, whose error is added)
                              {"kl_forward",
                               {{"value", fc.eubo.value - ref},
                                {"error", std::hypot(fc.eubo.error, ref_error)},
                                {"log_z_from", exact_z ? "exact" : "forward_check"}}},
                              {"log_z_gap",
                               {{"value", diag.log_z.value - fc.log_z.value},
                                {"error", std::hypot(diag.log_z.error, fc.log_z.error)}}}};
        if (flow->config().coupling == "spline")
          j["forward_check"]["beyond_spline_bound"] = beyond_bound;
        auto& bins = j["forward_check"]["coverage_by_abs_m"] = nlohmann::json::array();
        for (const auto& c : coverage)
          bins.push_back({{"abs_m_min", c.key_min},
                          {"abs_m_max", c.key_max},
                          {"weight", c.weight},
                          {"coverage", c.coverage},
                          {"starved", c.starved}});
      }
      j["longest_rejection_run"] = diag.max_rejections;
      j["sample_seconds"] = sample_seconds;
      j["proposals_per_s"] = sample_seconds > 0 ? double(po.proposals) / sample_seconds : 0.0;
      if (action.kind == "free_field") {
        j["exact"] = {{"phi2", lattice::free_field_phi2(action.shape.dims, action.shape.L,
                                                        action.couplings.m2)},
                      {"chi2", lattice::free_field_chi2(action.couplings.m2)},
                      {"log_z", exact_log_z}};
      }
      if (hs) {
        j["ising_energy_per_site"] = est(energy);
        j["log_z_offset"] = hs->log_z_offset();
        if (action.shape.dims == 2)
          j["exact"] = {{"ising_energy_per_site", hs->exact_energy_per_site()},
                        {"log_z", -hs->exact_loss_bound()},
                        {"loss_bound", hs->exact_loss_bound()}};
      }
      write_json_atomic(summary_path_for(out_path), j);
    }
    log::info("flow: wrote " + out_path + " (summary " + summary_path_for(out_path) + ")");
  }

 private:
  const config::Deck& deck_;
  Runtime& rt_;
  RunOptions options_;
};

}  // namespace

Workflow flow_workflow() {
  Workflow w;
  w.name = "flow";
  w.description =
      "normalizing flow for a lattice field (phi4, free field, the Ising model through its "
      "Hubbard-Stratonovich field; lattice-wide couplings or the NeuralRG hierarchy): "
      "reverse-KL training over MPI "
      "ranks, then flow-based independence Metropolis-Hastings; writes the flow, the chain and "
      "the proposals to one HDF5 file";
  w.schema = flow_schema;
  w.check = flow_check;
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    FlowRun(deck, rt, options).run();
  };
  return w;
}

}  // namespace phyflow::workflows
