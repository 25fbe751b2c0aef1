// The flows on a GPU (`device: cuda` of workflow: flow): every kind of flow gives on the device
// what it gives on the host from the same random numbers -- samples, log q, the gradients of
// the reverse- and forward-KL losses -- for affine and spline couplings, conv and dense
// conditioners, Z2 layers, the NeuralRG hierarchy, the Z2 mixture and both priors; the actions
// agree; training (reverse and forward KL) and sampling run on the device and follow the host
// run to rounding; a checkpoint written from the device holds host tensors and a restart on the
// device continues bit for bit; the optimisers' state survives a checkpoint on the device.
// Without a GPU the device is the host itself, so the same code runs (and must agree exactly)
// on every machine; on a GPU it compares the two.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "../io/io_test_support.hpp"
#include "flow_test_configs.hpp"
#include "phyflow/flows/action.hpp"
#include "phyflow/flows/flow.hpp"
#include "phyflow/flows/flow_mcmc.hpp"
#include "phyflow/flows/prior.hpp"
#include "phyflow/flows/reverse_kl.hpp"
#include "phyflow/ml/optimizer.hpp"

namespace phyflow::flows {
namespace {

torch::Device device_under_test() {
  static const torch::Device device = [] {
    const bool gpu = torch::cuda::is_available();
    std::printf("  device under test: %s\n",
                gpu ? "cuda:0" : "cpu (no GPU: the host is compared with itself)");
    return gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }();
  return device;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().to(torch::kCPU) - b.detach().to(torch::kCPU)).abs().max().item<double>();
}

double max_abs(const torch::Tensor& a) { return a.detach().abs().max().item<double>(); }

using testing::tiny_flow;

std::vector<FlowConfig> every_kind() {
  std::vector<FlowConfig> out{tiny_flow(2, 4, "affine", "conv"),  // the fused conv coupling
                              tiny_flow(1, 6, "affine", "conv"),  tiny_flow(3, 2, "affine", "conv"),
                              tiny_flow(2, 4, "affine", "dense"), tiny_flow(2, 4, "spline", "conv"),
                              tiny_flow(2, 4, "spline", "dense")};
  auto z2 = tiny_flow(2, 4, "affine", "conv");
  z2.z2 = true;
  out.push_back(z2);
  auto mera = tiny_flow(2, 4, "affine", "dense");
  mera.hierarchy = "mera";
  mera.layers = 2;
  mera.net.hidden = {8};
  out.push_back(mera);
  auto mixture = mera;
  mixture.symmetrize = true;
  out.push_back(mixture);
  auto mera_spline = mera;
  mera_spline.coupling = "spline";
  mera_spline.bins = 4;
  out.push_back(mera_spline);
  auto free_prior = tiny_flow(2, 4, "affine", "conv");
  free_prior.prior = "free_field";
  free_prior.prior_m2 = 0.7;
  out.push_back(free_prior);
  auto single = tiny_flow(2, 4, "spline", "conv");
  single.dtype = "float32";
  out.push_back(single);
  return out;
}

std::shared_ptr<Flow> make(const FlowConfig& c, std::uint64_t seed,
                           const torch::Device& device = torch::kCPU) {
  at::set_num_threads(1);
  torch::manual_seed(seed);
  auto flow = std::make_shared<Flow>(c);
  if (!device.is_cpu()) flow->to(device);
  return flow;
}

TEST(FlowDevice, EveryFlowGivesOnTheDeviceWhatItGivesOnTheHost) {
  const auto device = device_under_test();
  for (const auto& c : every_kind()) {
    SCOPED_TRACE(c.to_json().dump());
    // Absolute tolerances: float64 rounding, or float32 on sums over the 16 sites.
    const double tol = c.dtype == "float64" ? 1e-9 : 2e-3;
    auto host = make(c, 3);
    auto dev = make(c, 3, device);
    EXPECT_EQ(dev->device(), device);
    for (const auto& p : dev->parameters()) EXPECT_EQ(p.device(), device);
    // Samples from the same (host-drawn) noise, and log q of given configurations.
    const auto [phi_h, lq_h] = host->sample(3, 8, 11, 5, 2);
    const auto [phi_d, lq_d] = dev->sample(3, 8, 11, 5, 2);
    EXPECT_EQ(phi_d.device(), device);
    EXPECT_EQ(lq_d.device(), device);
    EXPECT_LT(max_diff(phi_h, phi_d), tol);
    EXPECT_LT(max_diff(lq_h, lq_d), tol);
    EXPECT_GT(max_diff(phi_h, host->sample(3, 8, 11, 5, 3).first), 1e-3) << "no noise";
    const auto given = phi_h.detach();
    const auto lq_given = dev->log_q(given);  // a host tensor: moved to the flow's device
    EXPECT_EQ(lq_given.device(), device);
    EXPECT_LT(max_diff(host->log_q(given), lq_given), tol);
    // Gradients of the reverse-KL loss (through the forward pass) and of the forward-KL loss
    // (through the reverse pass).
    const Phi4Target target(c.shape, {-1.0, 1.0});
    const auto data = normal_noise(c.shape, 0, 8, 8, 9, 0);
    for (const bool reverse_kl : {true, false}) {
      SCOPED_TRACE(reverse_kl ? "reverse KL" : "forward KL");
      auto loss = [&](Flow& f) {
        if (!reverse_kl) return -f.log_q(data).mean();
        const auto [x, lq] = f.sample(0, 8, 11, 5, 0);
        return (lq + target.action(x)).mean();
      };
      host->zero_grad();
      dev->zero_grad();
      const auto lh = loss(*host), ld = loss(*dev);
      EXPECT_LT(max_diff(lh, ld), tol * (1 + std::abs(lh.item<double>())));
      lh.backward();
      ld.backward();
      const auto ph = host->parameters(), pd = dev->parameters();
      ASSERT_EQ(ph.size(), pd.size());
      for (std::size_t k = 0; k < ph.size(); ++k) {
        ASSERT_TRUE(ph[k].grad().defined() && pd[k].grad().defined()) << k;
        EXPECT_EQ(pd[k].grad().device(), device);
        EXPECT_LT(max_diff(ph[k].grad(), pd[k].grad()), tol * (1 + max_abs(ph[k].grad()))) << k;
      }
    }
  }
}

TEST(FlowDevice, ActionsAndPriorsAgreeOnTheDevice) {
  const auto device = device_under_test();
  for (const int d : {1, 2, 3}) {
    const LatticeShape s{d, 4};
    const auto x = 1.3 * torch::randn(s.batch(5), torch::kFloat64);
    const Phi4Target phi4(s, {-1.0, 1.0});
    const auto a = phi4.action(x.to(device));
    EXPECT_EQ(a.device(), device);
    EXPECT_LT(max_diff(phi4.action(x), a), 1e-10);
    const IsingHsTarget hs(s, 2.269185314213022);
    for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
      const double tol = dtype == torch::kFloat64 ? 1e-10 : 1e-3;
      const auto xd = x.to(device, dtype);
      const auto b = hs.action(xd);
      EXPECT_EQ(b.device(), device);
      EXPECT_EQ(b.scalar_type(), dtype);
      EXPECT_LT(max_diff(hs.action(x.to(dtype)), b), tol) << d;
      EXPECT_LT(max_diff(hs.action(x.to(dtype)), hs.action(xd)), tol) << "cached K^-1";
    }
    EXPECT_LT(max_diff(hs.ising_energy_per_site(x), hs.ising_energy_per_site(x.to(device))), 1e-12);
    const auto prior = make_prior("free_field", s, 0.7);
    const auto zh = prior->sample(2, 6, 3, 4, 1, torch::kFloat64, torch::kCPU);
    const auto zd = prior->sample(2, 6, 3, 4, 1, torch::kFloat64, device);
    EXPECT_EQ(zd.device(), device);
    EXPECT_LT(max_diff(zh, zd), 1e-12);
    EXPECT_LT(max_diff(prior->log_prob(zh), prior->log_prob(zd)), 1e-10);
  }
}

struct TrainingCase {
  FlowConfig flow;
  std::string objective;
  std::shared_ptr<const Target> target;
};

TEST(FlowDevice, TrainingSamplingAndRestartOnTheDevice) {
  const auto device = device_under_test();
  auto spline = tiny_flow(2, 4, "spline", "conv");
  spline.bins = 4;
  auto mera = tiny_flow(2, 4, "affine", "dense");
  mera.hierarchy = "mera";
  mera.layers = 2;
  mera.net.hidden = {8};
  mera.symmetrize = true;
  const auto phi4 = [](const FlowConfig& c) {
    return std::make_shared<Phi4Target>(c.shape, lattice::Phi4Couplings{-1.0, 1.0});
  };
  const std::vector<TrainingCase> cases{
      {tiny_flow(2, 4, "affine", "conv"), "reverse_kl", phi4(tiny_flow(2, 4, "affine", "conv"))},
      {spline, "forward_kl", phi4(spline)},
      {mera, "reverse_kl", std::make_shared<IsingHsTarget>(mera.shape, 2.269185314213022)}};
  for (const auto& tc : cases) {
    const auto& c = tc.flow;
    SCOPED_TRACE(tc.objective + " " + c.to_json().dump());
    io::testing::TempDir dir;
    ReverseKlOptions o;
    o.seed = 5;
    o.steps = 12;
    o.batch = 16;
    o.optimizer.lr = 3e-3;
    o.progress_interval = 1e6;
    o.reducer.bucket_bytes = 512;
    o.objective = tc.objective;
    if (tc.objective == "forward_kl") o.data = normal_noise(c.shape, 0, 200, 8, 9, 0);

    auto host = make(c, 2);
    ReverseKlTrainer th(MPI_COMM_SELF, host, tc.target, o);
    EXPECT_EQ(th.run(), TrainEnd::finished);
    auto dev = make(c, 2, device);
    ReverseKlTrainer td(MPI_COMM_SELF, dev, tc.target, o);
    EXPECT_EQ(td.run(), TrainEnd::finished);
    ASSERT_EQ(th.state().loss.size(), td.state().loss.size());
    for (std::size_t s = 0; s < th.state().loss.size(); ++s)
      EXPECT_NEAR(th.state().loss[s], td.state().loss[s], 1e-8 * (1 + std::abs(th.state().loss[s])))
          << s;
    {
      const auto ph = host->parameters(), pd = dev->parameters();
      for (std::size_t k = 0; k < ph.size(); ++k) {
        EXPECT_EQ(pd[k].device(), device);
        EXPECT_LT(max_diff(ph[k], pd[k]), 1e-8) << k;
      }
    }

    // Proposals: computed on the device, brought back in float64.
    ProposalOptions po;
    po.proposals = 300;
    po.seed = 4;
    po.chunk = 128;
    po.progress_interval = 1e6;
    const auto qh = draw_proposals(MPI_COMM_SELF, *host, *tc.target, po);
    const auto qd = draw_proposals(MPI_COMM_SELF, *dev, *tc.target, po);
    ASSERT_EQ(qh.phi.size(), qd.phi.size());
    ASSERT_EQ(qh.log_q.size(), qd.log_q.size());
    double worst_phi = 0, worst_q = 0, worst_p = 0;
    for (std::size_t i = 0; i < qh.phi.size(); ++i)
      worst_phi = std::max(worst_phi, std::abs(qh.phi[i] - qd.phi[i]));
    for (std::size_t i = 0; i < qh.log_q.size(); ++i) {
      worst_q = std::max(worst_q, std::abs(qh.log_q[i] - qd.log_q[i]));
      worst_p = std::max(worst_p, std::abs(qh.log_p[i] - qd.log_p[i]));
    }
    // stderr, unbuffered: a crash later in the case must not swallow these lines (an H200 run
    // of this test ended in a segmentation fault after the checkpoint; see the markers below).
    std::fprintf(stderr, "  %s: proposals host vs device: phi %.3g, log q %.3g, log p %.3g\n",
                 tc.objective.c_str(), worst_phi, worst_q, worst_p);
    EXPECT_LT(worst_phi, 1e-8);
    EXPECT_LT(worst_q, 1e-7);
    EXPECT_LT(worst_p, 1e-7);

    // Checkpoint on the device after 5 steps: host tensors in the file; a flow of other weights
    // restored from it on the device finishes bit for bit as the uninterrupted device run.
    auto oc = o;
    oc.checkpoint_path = dir.file("ckpt.h5");
    oc.stop_after = 5;
    auto first = make(c, 2, device);
    ReverseKlTrainer b(MPI_COMM_SELF, first, tc.target, oc);
    EXPECT_EQ(b.run(), TrainEnd::interrupted);
    std::fprintf(stderr, "  %s: stopped after 5 steps; reading the checkpoint\n", tc.objective.c_str());
    {
      const auto saved = read_flow(oc.checkpoint_path);  // on the host, no GPU needed
      const auto ps = saved->parameters(), pf = first->parameters();
      for (std::size_t k = 0; k < ps.size(); ++k)
        EXPECT_TRUE(torch::equal(ps[k], pf[k].detach().to(torch::kCPU))) << k;
    }
    oc.stop_after = 0;
    auto second = make(c, 77, device);
    ReverseKlTrainer r(MPI_COMM_SELF, second, tc.target, oc);
    std::fprintf(stderr, "  %s: restoring on the device\n", tc.objective.c_str());
    r.restore(oc.checkpoint_path);
    std::fprintf(stderr, "  %s: restored; finishing the run\n", tc.objective.c_str());
    EXPECT_EQ(r.state().step, 5);
    for (const auto& p : second->parameters()) EXPECT_EQ(p.device(), device);
    EXPECT_EQ(r.run(), TrainEnd::finished);
    const auto x = dev->parameters(), y = second->parameters();
    for (std::size_t k = 0; k < x.size(); ++k)
      EXPECT_TRUE(torch::equal(x[k].detach().to(torch::kCPU), y[k].detach().to(torch::kCPU))) << k;
    EXPECT_EQ(td.state().loss, r.state().loss);
  }
}

TEST(FlowDevice, OptimiserStateIsWrittenOnTheHostAndRestoredOntoTheDevice) {
  // Each optimiser of ml::make_optimizer on the device: two steps, its state through the
  // checkpoint bytes into a fresh optimiser of other parameters (same values) on the device,
  // then one more step each: the same parameters bit for bit. The archive holds host tensors.
  const auto device = device_under_test();
  for (const std::string name : {"adam", "adamw", "sgd"}) {
    SCOPED_TRACE(name);
    ml::OptimizerOptions oo;
    oo.name = name;
    oo.lr = 1e-2;
    oo.momentum = 0.9;
    oo.weight_decay = name == "adam" ? 0.0 : 1e-2;
    torch::manual_seed(4);
    const auto w0 = torch::randn({5, 3}, torch::kFloat64), b0 = torch::randn({3}, torch::kFloat64);
    auto params = [&] {
      return std::vector<torch::Tensor>{w0.to(device).requires_grad_(true),
                                        b0.to(device).requires_grad_(true)};
    };
    const auto x = torch::randn({7, 5}, torch::kFloat64).to(device);
    auto step = [&](torch::optim::Optimizer& opt, std::vector<torch::Tensor>& p) {
      opt.zero_grad();
      (x.matmul(p[0]) + p[1]).pow(2).sum().backward();
      opt.step();
    };
    auto pa = params();
    auto a = ml::make_optimizer(pa, oo);
    step(*a, pa);
    step(*a, pa);
    const auto bytes = ml::optimizer_state(*a);
    std::vector<torch::Tensor> pb;
    {
      torch::NoGradGuard no_grad;
      pb = params();
      for (std::size_t k = 0; k < pb.size(); ++k) pb[k].copy_(pa[k]);
    }
    auto b = ml::make_optimizer(pb, oo);
    ml::restore_optimizer_state(*b, bytes);
    step(*a, pa);
    step(*b, pb);
    for (std::size_t k = 0; k < pa.size(); ++k) {
      EXPECT_EQ(pb[k].device(), device);
      EXPECT_TRUE(torch::equal(pa[k].detach().to(torch::kCPU), pb[k].detach().to(torch::kCPU)))
          << k;
    }
    // Host tensors in the archive: read back without mapping them anywhere.
    if (name == "adam") {
      std::istringstream in(std::string(bytes.begin(), bytes.end()));
      torch::serialize::InputArchive archive;
      archive.load_from(in);
      torch::Tensor avg;
      archive.read("flat_adam/exp_avg", avg);
      EXPECT_TRUE(avg.is_cpu());
    }
  }
}

}  // namespace
}  // namespace phyflow::flows
