// Priors of the flows (prior.hpp).
#include "phyflow/flows/prior.hpp"

#include <torch/fft.h>
#include <torch/torch.h>

#include <cmath>

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

namespace phyflow::flows {

torch::Tensor normal_noise(const LatticeShape& shape, std::int64_t first, std::int64_t n,
                           std::uint64_t seed, std::uint32_t purpose, std::uint64_t step) {
  const std::int64_t V = shape.volume(), pairs = (V + 1) / 2;
  auto out = torch::empty(shape.batch(n), torch::kFloat64);
  double* z = out.data_ptr<double>();
  const rng::Stream stream(seed, purpose);
  constexpr double two_pi = 6.283185307179586476925286766559;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t base = std::uint64_t(first + i) * std::uint64_t(pairs);
    double* zi = z + i * V;
    for (std::int64_t p = 0; p < pairs; ++p) {
      const auto w = stream(base + std::uint64_t(p), step);
      const double r = std::sqrt(-2.0 * std::log(rng::uniform53_open0(w.w[0], w.w[1])));
      const double a = two_pi * rng::uniform53(w.w[2], w.w[3]);
      zi[2 * p] = r * std::cos(a);
      if (2 * p + 1 < V) zi[2 * p + 1] = r * std::sin(a);
    }
  }
  return out;
}

namespace {

constexpr double log_2pi = 1.8378770664093454835606594728112;

class NormalPrior final : public Prior {
 public:
  explicit NormalPrior(LatticeShape s) : s_(s) {}
  std::string kind() const override { return "normal"; }
  torch::Tensor sample(std::int64_t first, std::int64_t n, std::uint64_t seed,
                       std::uint32_t purpose, std::uint64_t step, torch::ScalarType dtype,
                       const torch::Device& device) const override {
    return normal_noise(s_, first, n, seed, purpose, step).to(device, dtype);
  }
  torch::Tensor log_prob(const torch::Tensor& z) const override {
    return -0.5 * (z * z).reshape({z.size(0), -1}).sum(1) - 0.5 * double(s_.volume()) * log_2pi;
  }

 private:
  LatticeShape s_;
};

class FreeFieldPrior final : public Prior {
 public:
  FreeFieldPrior(LatticeShape s, double m2) : s_(s), m2_(m2) {
    // A_k = khat^2 + m2 on the grid of momenta, shape (L, ..., L).
    auto a = torch::full(s_.sites(), m2, torch::kFloat64);
    const double pi = 3.14159265358979323846;
    for (int mu = 0; mu < s_.dims; ++mu) {
      auto q = torch::arange(s_.L, torch::kFloat64);
      auto k2 = 4.0 * torch::sin(pi * q / s_.L).pow(2);
      std::vector<std::int64_t> view(std::size_t(s_.dims), 1);
      view[std::size_t(mu)] = s_.L;
      a = a + k2.reshape(view);
    }
    sigma_ = (1.0 / (2.0 * a)).sqrt();
    log_norm_ = -0.5 * (pi / a).log().sum().item<double>();
  }
  std::string kind() const override { return "free_field"; }
  torch::Tensor sample(std::int64_t first, std::int64_t n, std::uint64_t seed,
                       std::uint32_t purpose, std::uint64_t step, torch::ScalarType dtype,
                       const torch::Device& device) const override {
    // The host's noise, transformed on the device.
    const auto xi = normal_noise(s_, first, n, seed, purpose, step).to(device);
    std::vector<std::int64_t> axes;
    for (int mu = 1; mu <= s_.dims; ++mu) axes.push_back(mu);
    const auto phi = torch::fft::ifftn(sigma_on(device) * torch::fft::fftn(xi, c10::nullopt, axes),
                                       c10::nullopt, axes);
    return torch::real(phi).contiguous().to(dtype);
  }
  torch::Tensor log_prob(const torch::Tensor& z) const override {
    return -phi4_action(z, s_.dims, {m2_, 0.0}) + log_norm_;
  }

 private:
  /// sigma on `device`: the host's copy, or one moved there on first use (the prior is not a
  /// module, so Module::to does not move it).
  const torch::Tensor& sigma_on(const torch::Device& device) const {
    if (device == sigma_.device()) return sigma_;
    if (!sigma_device_.defined() || sigma_device_.device() != device)
      sigma_device_ = sigma_.to(device);
    return sigma_device_;
  }

  LatticeShape s_;
  double m2_;
  torch::Tensor sigma_;  ///< (L, ..., L) float64, on the host
  mutable torch::Tensor sigma_device_;
  double log_norm_ = 0.0;
};

}  // namespace

std::shared_ptr<Prior> make_prior(const std::string& kind, const LatticeShape& shape, double m2) {
  if (kind == "normal") return std::make_shared<NormalPrior>(shape);
  if (kind == "free_field") {
    if (!(m2 > 0.0))
      throw input_error("the free_field prior needs a positive mass: model.prior_m2 = " +
                        std::to_string(m2) + "; set model.prior_m2 > 0 or use model.prior: normal");
    return std::make_shared<FreeFieldPrior>(shape, m2);
  }
  throw input_error("unknown prior '" + kind + "' (known: normal, free_field)");
}

}  // namespace phyflow::flows
