// Rollout error of a trained hnn / neural_ode model on pendulum rollouts (workflow: dataset,
// kind pendulum, pendulum.rollout: true): every trajectory is integrated from its z(0) with the
// learned dynamics for as many states as the file holds (30 s at dt = 0.2), and compared with
// the truth by EMLP's metric: per trajectory the geometric mean over time of
// |a - b| / (|a| + |b|), averaged over trajectories (mean and standard error). Writes a JSON
// summary and a CSV of the first trajectory (truth and prediction) for plotting.
//
//   pendulum_rollout MODEL.h5 ROLLOUTS.h5 OUT.json [OUT.csv]
#include "phyflow/core/error.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/ml/dataset.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/models/pendulum_dynamics.hpp"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

using namespace phyflow;

int main(int argc, char** argv) {
  Runtime rt(argc, argv);
  if (argc < 4) {
    std::cerr << "usage: pendulum_rollout MODEL.h5 ROLLOUTS.h5 OUT.json [OUT.csv]\n";
    return 2;
  }
  try {
    auto model = std::dynamic_pointer_cast<ml::PendulumModel>(ml::read_model(argv[1]));
    if (!model) throw input_error(std::string(argv[1]) + " holds no hnn or neural_ode model");
    auto data = ml::Dataset::open(argv[2], "rollouts");
    if (data.shape().kind != "pendulum" || data.shape().x[0] != 12)
      throw input_error(std::string(argv[2]) + " is not a pendulum file of workflow: dataset");
    const auto dtype = model->parameters().front().scalar_type();
    const auto all = data.range(0, data.size(), torch::kFloat64);
    const std::int64_t n = data.size(), steps = all.y.size(1) / 12;
    torch::NoGradGuard off;
    const auto t0 = std::chrono::steady_clock::now();
    const auto pred = model->rollout(all.x.to(dtype), steps).to(torch::kFloat64);  // (N, steps, 12)
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto truth = all.y.view({n, steps, 12});
    const auto a = torch::cat({all.x.unsqueeze(1), pred}, 1), b = torch::cat({all.x.unsqueeze(1), truth}, 1);
    const auto ratio = (a - b).norm(2, 2) / (a.norm(2, 2) + b.norm(2, 2));  // (N, steps + 1)
    // geometric mean over time; t = 0 is exact (ratio 0), so it is left out of the mean
    const auto per_traj = ratio.narrow(1, 1, steps).clamp_min(1e-300).log().mean(1).exp();
    const double mean = per_traj.mean().item<double>();
    const double sem = n > 1 ? per_traj.std().item<double>() / std::sqrt(double(n)) : 0.0;
    nlohmann::json j = {{"model", argv[1]},          {"model_kind", model->kind()},
                        {"model_options", model->options()}, {"rollouts", argv[2]},
                        {"trajectories", n},        {"states", steps},
                        {"rollout_error", mean},    {"rollout_error_sem", sem},
                        {"metric", "mean over trajectories of the geometric mean over time of |a-b|/(|a|+|b|)"},
                        {"seconds", seconds}};
    if (rt.rank() == 0) write_json_atomic(argv[3], j);
    if (argc > 4 && rt.rank() == 0) {
      std::ofstream csv(argv[4]);
      csv << "t";
      for (const char* w : {"true", "pred"})
        for (const char* q : {"x1", "x2", "p1", "p2"})
          for (const char* c : {"x", "y", "z"}) csv << "," << w << "_" << q << c;
      csv << "\n";
      const double dt = model->options()["dt"].get<double>();
      for (std::int64_t k = 0; k <= steps; ++k) {
        csv << k * dt;
        for (int i = 0; i < 12; ++i) csv << "," << b[0][k][i].item<double>();
        for (int i = 0; i < 12; ++i) csv << "," << a[0][k][i].item<double>();
        csv << "\n";
      }
    }
    std::printf("%s: rollout error %.4g +- %.2g over %lld trajectories of %lld states (%.1f s)\n",
                model->kind().c_str(), mean, sem, (long long)n, (long long)steps, seconds);
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return int(e.code());
  }
  return 0;
}
