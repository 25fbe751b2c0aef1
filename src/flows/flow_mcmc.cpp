// Flow-based independence Metropolis-Hastings (flow_mcmc.hpp).
#include "phyflow/flows/flow_mcmc.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "phyflow/core/error.hpp"
#include "phyflow/core/progress.hpp"
#include "phyflow/core/rng.hpp"
#include "phyflow/flows/reverse_kl.hpp"
#include "phyflow/lattice/autocorrelation.hpp"

namespace phyflow::flows {

std::uint32_t proposal_purpose() { return rng::purpose("flow_proposal"); }
std::uint32_t accept_purpose() { return rng::purpose("flow_accept"); }

namespace {

/// Global indices 0..N-1 in chunks of C, whole chunks spread over the ranks as evenly as they
/// go; every item is computed in the same chunk whatever the rank count.
struct ChunkBlock {
  std::int64_t chunks = 0, c0 = 0, c1 = 0, first = 0, last = 0;
  ChunkBlock(std::int64_t N, std::int64_t C, int rank, int ranks)
      : chunks((N + C - 1) / C),
        c0(chunks * rank / ranks),
        c1(chunks * (rank + 1) / ranks),
        first(std::min(N, c0 * C)),
        last(std::min(N, c1 * C)) {}
  std::int64_t size() const { return last - first; }
};

/// Gathers every rank's block of `per_item` numbers per item (ChunkBlock) into `out` on rank 0,
/// in global order.
void gather_blocks(MPI_Comm comm, std::int64_t N, std::int64_t C, std::int64_t per_item,
                   const std::vector<double>& mine, std::vector<double>& out, const char* what) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::vector<int> counts(static_cast<std::size_t>(ranks)), displs(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    const ChunkBlock b(N, C, r, ranks);
    displs[std::size_t(r)] = int(b.first * per_item);
    counts[std::size_t(r)] = int(b.size() * per_item);
  }
  if (rank == 0) out.resize(std::size_t(N * per_item));
  check_mpi(MPI_Gatherv(mine.data(), int(mine.size()), MPI_DOUBLE, out.data(), counts.data(),
                        displs.data(), MPI_DOUBLE, 0, comm),
            (std::string("MPI_Gatherv (") + what + ")").c_str());
}

void check_same_lattice(const char* who, const Flow& flow, const Target& target) {
  const LatticeShape shape = flow.config().shape;
  if (target.shape().dims != shape.dims || target.shape().L != shape.L)
    throw runtime_error(std::string(who) + ": the target (" + target.describe() +
                        ") and the flow (d = " + std::to_string(shape.dims) +
                        ", L = " + std::to_string(shape.L) + ") are on different lattices");
}

torch::Tensor on_host(const torch::Tensor& t) { return t.to(torch::kCPU).contiguous(); }

/// Every rank's block of log q and log p, gathered on rank 0 in global order.
Proposals gather_scores(MPI_Comm comm, std::int64_t N, std::int64_t C, std::int64_t V,
                        const std::vector<double>& log_q, const std::vector<double>& log_p) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  Proposals out;
  out.volume = V;
  if (rank == 0) out.n = N;
  gather_blocks(comm, N, C, 1, log_q, out.log_q, "log q");
  gather_blocks(comm, N, C, 1, log_p, out.log_p, "log p");
  return out;
}

}  // namespace

Proposals draw_proposals(MPI_Comm comm, Flow& flow, const Target& target,
                         const ProposalOptions& o) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  check_same_lattice("draw_proposals", flow, target);
  const std::int64_t V = flow.config().shape.volume(), N = o.proposals,
                     C = std::max<std::int64_t>(1, o.chunk);
  if (N * V > INT_MAX)
    throw input_error("sample.proposals x volume = " + std::to_string(N * V) +
                      " exceeds what one gather holds (2^31 - 1 numbers); lower sample.proposals");
  const ChunkBlock block(N, C, rank, ranks);
  const std::int64_t first = block.first, n = block.size();
  std::vector<double> phi(static_cast<std::size_t>(n * V)), log_q(static_cast<std::size_t>(n)),
      log_p(static_cast<std::size_t>(n));
  Progress progress("flow proposals", std::uint64_t(N), "proposals", o.progress_interval);
  torch::NoGradGuard no_grad;
  flow.eval();
  for (std::int64_t c = block.c0; c < block.c1; ++c) {
    const std::int64_t a = c * C, m = std::min(N, a + C) - a;
    // On the flow's device: the chunk's proposals, log q, and log p in float64; then to the
    // host (no copies on the CPU).
    auto [x, lq] = flow.sample(a, m, o.seed, proposal_purpose(), 0);
    const auto x64 = x.to(torch::kFloat64).contiguous();
    const auto lp = -target.action(x64);
    const auto lq64 = lq.to(torch::kFloat64).contiguous();
    std::copy_n(on_host(x64).data_ptr<double>(), m * V, phi.data() + (a - first) * V);
    std::copy_n(on_host(lq64).data_ptr<double>(), m, log_q.data() + (a - first));
    std::copy_n(on_host(lp).data_ptr<double>(), m, log_p.data() + (a - first));
    progress.update(std::uint64_t((a + m - first) * ranks));
  }
  progress.finish();
  Proposals out = gather_scores(comm, N, C, V, log_q, log_p);
  gather_blocks(comm, N, C, V, phi, out.phi, "proposals");
  return out;
}

Proposals score_samples(MPI_Comm comm, Flow& flow, const Target& target, const torch::Tensor& x,
                        std::int64_t chunk, double progress_interval) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  check_same_lattice("score_samples", flow, target);
  const LatticeShape shape = flow.config().shape;
  const std::int64_t V = shape.volume(), C = std::max<std::int64_t>(1, chunk);
  if (x.dim() != shape.dims + 1 || x.numel() != x.size(0) * V)
    throw runtime_error("score_samples: samples of shape " + c10::str(x.sizes()) +
                        " are not configurations of the flow's lattice");
  const std::int64_t N = x.size(0);
  const ChunkBlock block(N, C, rank, ranks);
  std::vector<double> log_q(static_cast<std::size_t>(block.size())),
      log_p(static_cast<std::size_t>(block.size()));
  Progress progress("flow check samples", std::uint64_t(N), "samples", progress_interval);
  torch::NoGradGuard no_grad;
  flow.eval();
  const auto xs = x.to(torch::kFloat64);
  for (std::int64_t c = block.c0; c < block.c1; ++c) {
    const std::int64_t a = c * C, m = std::min(N, a + C) - a;
    const auto xc = xs.narrow(0, a, m).contiguous();
    // log q on the flow's device in its dtype; log p in float64 on the host's samples.
    const auto lq = flow.log_q(xc).to(torch::kFloat64);
    const auto lp = -target.action(xc);
    std::copy_n(on_host(lq).data_ptr<double>(), m, log_q.data() + (a - block.first));
    std::copy_n(on_host(lp).data_ptr<double>(), m, log_p.data() + (a - block.first));
    progress.update(std::uint64_t((a + m - block.first) * ranks));
  }
  progress.finish();
  return gather_scores(comm, N, C, V, log_q, log_p);
}

Chain independence_metropolis(const std::vector<double>& log_q, const std::vector<double>& log_p,
                              std::uint64_t seed) {
  const std::size_t N = log_q.size();
  Chain chain;
  chain.accepted.assign(N, 0);
  chain.state.assign(N, 0);
  if (N == 0) return chain;
  const rng::Stream stream(seed, accept_purpose());
  std::size_t current = 0;
  chain.accepted[0] = 1;
  std::size_t accepted = 0;
  // A proposal whose weight is undefined (NaN log q or log p: the flow or the action failed
  // numerically there) is never accepted; a chain that starts on one leaves it at the first
  // proposal with a defined weight.
  const auto log_w = [&](std::size_t i) { return log_p[i] - log_q[i]; };
  for (std::size_t i = 1; i < N; ++i) {
    const double wi = log_w(i), wc = log_w(current);
    bool accept = false;
    if (std::isnan(wi)) {
      accept = false;
    } else if (std::isnan(wc)) {
      accept = true;
    } else {
      const double log_ratio = wi - wc;
      accept = log_ratio >= 0.0;
      if (!accept) {
        const auto w = stream(i, 0);
        accept = std::log(rng::uniform53_open0(w.w[0], w.w[1])) < log_ratio;
      }
    }
    if (accept) {
      current = i;
      chain.accepted[i] = 1;
      ++accepted;
    }
    chain.state[i] = std::int64_t(current);
  }
  chain.acceptance = N > 1 ? double(accepted) / double(N - 1) : 0.0;
  return chain;
}

double pareto_k_hat(const std::vector<double>& log_w) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::size_t S = log_w.size();
  if (S < 25) return nan;
  const auto M = std::size_t(std::ceil(std::min(0.2 * double(S), 3.0 * std::sqrt(double(S)))));
  std::vector<double> lw(log_w);
  for (double v : lw)
    if (!std::isfinite(v)) return nan;
  std::sort(lw.begin(), lw.end());
  // Exceedances of the M largest weights over the next one, scaled by the largest weight.
  const double top = lw.back(), cut = std::exp(lw[S - M - 1] - top);
  std::vector<double> x(M);
  for (std::size_t i = 0; i < M; ++i) x[i] = std::exp(lw[S - M + i] - top) - cut;  // ascending
  if (!(x.back() > 0.0)) return nan;
  // Zhang & Stephens: a grid of theta = -k/sigma, weighted by the profile likelihood.
  const double n = double(M), prior = 3.0;
  const int grid = 30 + int(std::sqrt(n));
  const double xstar = x[std::size_t(std::floor(n / 4.0 + 0.5)) - 1];  // first quartile
  const auto mean_log1p = [&](double theta) {
    long double s = 0;
    for (double v : x) s += std::log1p(-theta * v);
    return double(s / n);
  };
  std::vector<double> theta(grid), loglik(grid);
  for (int j = 0; j < grid; ++j) {
    theta[j] = 1.0 / x.back() + (1.0 - std::sqrt(grid / (j + 0.5))) / (prior * xstar);
    const double k = mean_log1p(theta[j]);
    loglik[j] = n * (std::log(-theta[j] / k) - k - 1.0);
  }
  double lmax = -std::numeric_limits<double>::infinity();
  for (double l : loglik)
    if (std::isfinite(l)) lmax = std::max(lmax, l);
  if (!std::isfinite(lmax)) return nan;
  double wsum = 0.0, theta_hat = 0.0;
  for (int j = 0; j < grid; ++j) {
    if (!std::isfinite(loglik[j])) continue;
    const double w = std::exp(loglik[j] - lmax);
    wsum += w;
    theta_hat += w * theta[j];
  }
  theta_hat /= wsum;
  const double k = mean_log1p(theta_hat);
  return (k * n + 0.5 * 10.0) / (n + 10.0);  // PSIS's prior: 10 pseudo-observations at 0.5
}

Estimate chain_estimate(const std::vector<double>& x, std::size_t longest_rejection_run) {
  const auto s = lattice::stall_aware_error(x, longest_rejection_run);
  Estimate e;
  e.value = s.gamma.mean;
  e.error = s.error;
  e.tau_int = s.gamma.tau_int;
  e.error_gamma = s.gamma.error;
  e.error_binned = s.binned.error;
  e.bins = std::int64_t(s.binned.bins);
  e.bins_span_stalls = s.bins_span_stalls;
  return e;
}

FlowDiagnostics diagnose(const Proposals& p, const Chain& chain) {
  FlowDiagnostics d;
  const std::size_t N = std::size_t(p.n);
  const auto V = std::size_t(p.volume);
  if (N == 0) return d;
  d.acceptance = chain.acceptance;
  // Weights over the proposals whose weight is defined (the chain never accepts the others).
  std::vector<double> all_w(N), log_w;
  log_w.reserve(N);
  for (std::size_t i = 0; i < N; ++i) {
    all_w[i] = p.log_p[i] - p.log_q[i];
    if (std::isnan(all_w[i]))
      ++d.undefined_weights;
    else
      log_w.push_back(all_w[i]);
  }
  if (log_w.empty()) return d;
  d.ess = ess_per_sample(all_w);  // per proposal: an undefined weight counts as zero
  // log Z = log mean w; delta method: var(log mean w) = var(w) / (N mean(w)^2).
  const double lse = log_sum_exp(log_w), lse2 = log_sum_exp(log_w, 2.0);
  const double Nw = double(log_w.size());
  d.log_z.value = lse - std::log(Nw);
  const double rel_var = std::exp(lse2 - 2.0 * lse) * Nw - 1.0;  // var(w)/mean(w)^2
  d.log_z.error = std::sqrt(std::max(0.0, rel_var) / Nw);
  d.log_z.tau_int = 0.5;
  d.pareto_k = pareto_k_hat(log_w);
  // ELBO: the proposals are independent draws of q.
  {
    long double sum = 0, sum2 = 0;
    for (double v : log_w) sum += v;
    const long double mean = sum / Nw;
    for (double v : log_w) sum2 += (v - mean) * (v - mean);
    d.elbo.value = double(mean);
    d.elbo.error = Nw > 1 ? double(std::sqrt(sum2 / (Nw - 1) / Nw)) : 0.0;
  }

  // Per-configuration observables along the chain.
  std::vector<double> m(N), m2(N), am(N), phi2(N), S(N);
  std::vector<double> per_proposal_m(N), per_proposal_phi2(N);
  for (std::size_t i = 0; i < N; ++i) {
    const double* x = p.phi.data() + i * V;
    double s = 0, s2 = 0;
    for (std::size_t k = 0; k < V; ++k) {
      s += x[k];
      s2 += x[k] * x[k];
    }
    per_proposal_m[i] = s / double(V);
    per_proposal_phi2[i] = s2 / double(V);
  }
  std::size_t run = 0, longest = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const auto j = std::size_t(chain.state[i]);
    m[i] = per_proposal_m[j];
    m2[i] = m[i] * m[i];
    am[i] = std::abs(m[i]);
    phi2[i] = per_proposal_phi2[j];
    S[i] = -p.log_p[j];
    run = chain.accepted[i] ? 0 : run + 1;
    longest = std::max(longest, run);
  }
  d.max_rejections = double(longest);
  d.phi2 = chain_estimate(phi2, longest);
  d.abs_m = chain_estimate(am, longest);
  d.action = chain_estimate(S, longest);
  // chi2 = V (<m^2> - <m>^2) with a jackknife over bins (64, or fewer for short chains).
  const double dV = double(V);
  const auto m2s = lattice::gamma_method(m2);
  d.chi2.tau_int = m2s.tau_int;
  double sum_m = 0, sum_m2 = 0;
  for (std::size_t i = 0; i < N; ++i) {
    sum_m += m[i];
    sum_m2 += m2[i];
  }
  d.chi2.value = dV * (sum_m2 / double(N) - std::pow(sum_m / double(N), 2));
  // Bins of at least 4 tau_int of m^2 and twice the longest stall (at most 64 bins), so the bin
  // means are nearly independent (see lattice::stall_aware_error for why the stalls matter).
  const auto min_size =
      std::max(std::size_t(std::ceil(4.0 * (std::isfinite(m2s.tau_int) ? m2s.tau_int : 0.5))),
               2 * (longest + 1));
  const std::size_t bins = std::max<std::size_t>(
      2, std::min<std::size_t>({64, N, N / std::max<std::size_t>(1, min_size)}));
  const std::size_t size = N / bins;
  if (N >= 2) {
    std::vector<double> bm(bins, 0.0), bm2(bins, 0.0), jk(bins);
    for (std::size_t b = 0; b < bins; ++b)
      for (std::size_t i = b * size; i < (b + 1) * size; ++i) {
        bm[b] += m[i];
        bm2[b] += m2[i];
      }
    const double used = double(bins * size);
    double tm = 0, tm2 = 0, mean = 0;
    for (std::size_t b = 0; b < bins; ++b) {
      tm += bm[b];
      tm2 += bm2[b];
    }
    for (std::size_t b = 0; b < bins; ++b) {
      const double n = used - double(size);
      jk[b] = dV * ((tm2 - bm2[b]) / n - std::pow((tm - bm[b]) / n, 2));
      mean += jk[b] / double(bins);
    }
    double var = 0;
    for (double v : jk) var += (v - mean) * (v - mean);
    d.chi2.error = std::sqrt(var * double(bins - 1) / double(bins));
  }
  return d;
}

ForwardCheck forward_check(const std::vector<double>& log_q, const std::vector<double>& log_p) {
  if (log_q.size() != log_p.size())
    throw runtime_error("forward_check: " + std::to_string(log_q.size()) + " log q but " +
                        std::to_string(log_p.size()) + " log p");
  ForwardCheck c;
  std::vector<double> r;  // log q - log p~ of each sample with a defined weight, in order
  r.reserve(log_q.size());
  for (std::size_t i = 0; i < log_q.size(); ++i) {
    const double v = log_q[i] - log_p[i];
    if (std::isnan(v))
      ++c.undefined;
    else
      r.push_back(v);
  }
  c.samples = std::int64_t(r.size());
  if (r.empty()) return c;
  // -log mean(q/p~), the ratios scaled by their largest so that they stay finite: with
  // u = exp(r - max r), log Z = -(max r + log mean u), error = error(mean u) / mean u.
  const double top = *std::max_element(r.begin(), r.end());
  std::vector<double> u(r.size()), minus_r(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    u[i] = std::exp(r[i] - top);
    minus_r[i] = -r[i];
  }
  const auto su = lattice::gamma_method(u);
  c.log_z = {-(top + std::log(su.mean)), r.size() > 1 ? su.error / su.mean : 0.0, su.tau_int};
  const auto se = lattice::gamma_method(minus_r);
  c.eubo = {se.mean, r.size() > 1 ? se.error : 0.0, se.tau_int};
  c.pareto_k = pareto_k_hat(r);
  return c;
}

std::vector<CoverageBin> coverage_by(const std::vector<double>& log_q,
                                     const std::vector<double>& log_p,
                                     const std::vector<double>& key, double log_z, int bins) {
  if (log_q.size() != log_p.size() || key.size() != log_q.size())
    throw runtime_error("coverage_by: " + std::to_string(log_q.size()) + " log q, " +
                        std::to_string(log_p.size()) + " log p and " + std::to_string(key.size()) +
                        " keys");
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < key.size(); ++i)
    if (!std::isnan(log_q[i] - log_p[i]) && !std::isnan(key[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
  const std::size_t n = order.size();
  std::vector<CoverageBin> out;
  if (n == 0 || bins < 1) return out;
  const auto B = std::min<std::size_t>(std::size_t(bins), n);
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t first = n * b / B, last = n * (b + 1) / B;
    CoverageBin c;
    c.key_min = key[order[first]];
    c.key_max = key[order[last - 1]];
    c.weight = double(last - first) / double(n);
    long double sum = 0;
    std::size_t starved = 0;
    for (std::size_t k = first; k < last; ++k) {
      const double r = log_q[order[k]] - log_p[order[k]] + log_z;
      sum += std::exp(r);
      if (r < std::log(0.01)) ++starved;
    }
    c.coverage = double(sum / double(last - first));
    c.starved = double(starved) / double(last - first);
    out.push_back(c);
  }
  return out;
}

}  // namespace phyflow::flows
