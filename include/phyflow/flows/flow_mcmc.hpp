// Flow-based MCMC (AKS arXiv:1904.12072 §III): independence Metropolis-Hastings with the flow
// as the proposal. Every rank draws a block of the proposals (fixed chunks of global proposal
// indices, so each proposal is computed in the same batch whatever the rank count), from the
// prior's Philox streams keyed by global proposal index; rank 0 gathers them in global order
// and runs the one chain, accepting proposal i with probability min(1, w_i / w_current),
// w = p/q = exp(log p - log q), against a uniform keyed by i. The chain is exact whatever the
// flow's quality and identical on any rank count. On a GPU (the flow moved there) each chunk's
// proposals, log q and log p are computed on the device and brought back in float64; the chain
// runs on the host.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "phyflow/flows/flow.hpp"

namespace phyflow::flows {

struct ProposalOptions {
  std::int64_t proposals = 1000;
  std::uint64_t seed = 1;
  std::int64_t chunk = 256;  ///< proposals per forward pass (activations stay in cache)
  double progress_interval = 5.0;
};

/// On rank 0 (empty elsewhere): the proposals in global order, phi (N * V, float64 as the flow
/// produced them), log q (the flow's normalised log density) and log p = -S(phi) (the
/// unnormalised target, evaluated in float64 on the stored phi).
struct Proposals {
  std::int64_t n = 0, volume = 0;
  std::vector<double> phi, log_q, log_p;
};

/// Purpose of the proposal draws ("flow_proposal") and of the accept uniforms ("flow_accept").
std::uint32_t proposal_purpose();
std::uint32_t accept_purpose();

/// Collective.
Proposals draw_proposals(MPI_Comm comm, Flow& flow, const Target& target,
                         const ProposalOptions& options);

/// log q and log p = -S of given configurations x (float64 (M, L, ..., L), the same on every
/// rank; e.g. exact samples of the target), computed in fixed chunks of global index spread over
/// the ranks (so the numbers do not depend on the rank count) and gathered on rank 0 in order:
/// a Proposals with log_q and log_p (phi left empty). Collective.
Proposals score_samples(MPI_Comm comm, Flow& flow, const Target& target, const torch::Tensor& x,
                        std::int64_t chunk, double progress_interval);

/// The chain: accepted[i] = 1 where proposal i was accepted (proposal 0 starts the chain and
/// counts as accepted); state[i] = index of the proposal the chain holds after step i.
struct Chain {
  std::vector<std::int8_t> accepted;
  std::vector<std::int64_t> state;
  double acceptance = 0.0;  ///< accepted fraction of proposals 1..N-1
};
Chain independence_metropolis(const std::vector<double>& log_q, const std::vector<double>& log_p,
                              std::uint64_t seed);

struct Estimate {
  double value = 0.0, error = 0.0, tau_int = 0.5;
  /// Along the chain (chain_estimate): the Gamma method's error (tau_int is its), the binned
  /// error over `bins` bins spanning the longest stall; `error` is the larger. bins = 0: not a
  /// chain estimate.
  double error_gamma = std::numeric_limits<double>::quiet_NaN();
  double error_binned = std::numeric_limits<double>::quiet_NaN();
  std::int64_t bins = 0;
  bool bins_span_stalls = true;  ///< false: the chain is shorter than 4x its longest stall
};

/// Mean and error of an observable along the chain (in chain order), robust to the chain's
/// stalls: lattice::stall_aware_error with the chain's longest run of rejections.
Estimate chain_estimate(const std::vector<double>& x, std::size_t longest_rejection_run);

/// What the chain and the proposals tell (REFERENCES.md "Flow-based MCMC").
struct FlowDiagnostics {
  double acceptance = 0.0;
  double ess = 0.0;           ///< per proposal: exp(2 LSE(log w) - LSE(2 log w)) / N
  Estimate log_z;             ///< log of the mean of w (log Z of the target up to the prior's
                              ///< normalisation), delta-method error from the scatter of w
  Estimate elbo;              ///< mean of log w = log Z - KL(q||p) <= log Z (independent draws)
  Estimate chi2;              ///< V (<m^2> - <m>^2), m = mean field; jackknife error over bins
                              ///< of >= 4 tau_int(m^2) and >= twice the longest run of
                              ///< rejections (at most 64 bins), tau_int of m^2
  Estimate phi2;              ///< <phi_x^2>, chain_estimate
  Estimate abs_m;             ///< <|m|>
  Estimate action;            ///< <S>
  double max_rejections = 0;  ///< longest run of rejections
  double pareto_k = std::numeric_limits<double>::quiet_NaN();  ///< tail shape of the weights
                                                                ///< (pareto_k_hat); NaN if undefined
  double undefined_weights = 0;  ///< proposals with NaN log q or log p: never accepted, left
                                 ///< out of ESS (which stays per proposal), log Z and pareto_k
};

/// Pareto k-hat of importance weights w = exp(log_w) (Vehtari, Simpson, Gelman, Yao, Gabry,
/// "Pareto smoothed importance sampling", arXiv:1507.02646): a generalized Pareto
/// distribution fitted (Zhang & Stephens 2009, with PSIS's weakly informative prior towards
/// 0.5) to the largest M = ceil(min(S/5, 3 sqrt(S))) weights above the next one. Its shape k
/// is the weights' tail index: var(w) is infinite for k >= 1/2, and for k > 0.7 estimates
/// that average w (log Z, reweighted observables) are unreliable however small their quoted
/// errors; the independence sampler then has proposals of large weight it has not yet met.
/// NaN when undefined (fewer than 25 weights, a non-finite weight, all tail weights equal).
double pareto_k_hat(const std::vector<double>& log_w);
FlowDiagnostics diagnose(const Proposals& proposals, const Chain& chain);

/// The forward direction: the flow scored on samples x_i ~ p of the target (score_samples).
/// The proposals' log Z (FlowDiagnostics::log_z) averages p/q over draws of q, so it misses
/// whatever part of p the flow almost never proposes -- a deficit that neither the ESS nor
/// Pareto k of the proposals can see. Averaging q/p over draws of p is blind the other way
/// (to mass of q where p has little), so the two estimates agree only when the flow covers the
/// target: E_p[q/p~] = 1/Z for any normalised q.
struct ForwardCheck {
  std::int64_t samples = 0;  ///< samples with a defined weight
  double undefined = 0;      ///< samples with NaN log q or log p (left out)
  Estimate log_z;            ///< -log mean_p(q/p~); delta-method error with the Gamma
                             ///< method's tau_int of q/p~ along the samples (Monte Carlo
                             ///< samples are correlated)
  Estimate eubo;             ///< mean_p(log p~ - log q) = log Z + KL(p||q) >= log Z
  double pareto_k = std::numeric_limits<double>::quiet_NaN();  ///< tail of q/p~ over the samples
};
ForwardCheck forward_check(const std::vector<double>& log_q, const std::vector<double>& log_p);

/// Where a flow under-covers: the samples of the target split into `bins` equal-count bins of
/// `key` (e.g. |m| of each sample), and in each the mean of q/p = exp(log q - log p~ + log Z),
/// which is 1 over all samples (E_p[q/p] = 1) and falls towards 0 in a bin the flow rarely
/// proposes. Samples with an undefined weight are left out.
struct CoverageBin {
  double key_min = 0, key_max = 0;  ///< range of the key in the bin
  double weight = 0;                ///< fraction of the samples in it
  double coverage = 0;              ///< mean of q/p in the bin
  double starved = 0;               ///< fraction of its samples with q/p < 1/100
};
std::vector<CoverageBin> coverage_by(const std::vector<double>& log_q,
                                     const std::vector<double>& log_p,
                                     const std::vector<double>& key, double log_z, int bins);

}  // namespace phyflow::flows
