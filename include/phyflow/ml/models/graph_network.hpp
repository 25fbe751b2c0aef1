// The graph network of the symbolic-distillation seed (004; Cranmer et al., arXiv:2006.11287;
// REFERENCES.md "Symbolic distillation"). One simulation frame is a fully connected directed
// graph of its n bodies, node features x_i = [position(d), velocity(d), q, m]. For every
// ordered pair (receiver i, sender j != i) the edge MLP maps [x_i, x_j] to a message; the node
// MLP maps [x_i, sum_j message_ij] to the predicted acceleration of body i.
//   edge MLP 2 n_f -> hidden x3 (ReLU) -> msg_dim;  node MLP n_f + msg_dim -> hidden x3 -> d.
// Regularisers (model.regularizer):
//   standard    msg_dim 100;
//   bottleneck  msg_dim = d;
//   l1          msg_dim 100, loss += l1_weight * sum|message| / edges;
//   kl          the edge MLP gives (mu, log sigma^2) interleaved per component (2 x 100);
//               training samples message = mu + sigma * eps; loss += kl_weight *
//               sum 0.5 (mu^2 + sigma^2 - log sigma^2 - 1) / edges; evaluation uses mu.
// Loss: sum |a_pred - a_true| over components, divided by the number of nodes, as the seed.
// Training adds a random translation (normal, std `augment`) to every frame's positions.
// The random numbers of both come from Philox keyed by (seed, global sample index, training
// step) (Batch::seed, Batch::step), so a step computes the same on any rank count.
// Batched dense: edges are the n (n - 1) ordered pairs in receiver-major order.
#pragma once

#include "phyflow/ml/model.hpp"

#include <torch/nn/modules/container/sequential.h>

namespace phyflow::ml {

struct GraphNetworkOptions {
  std::string regularizer = "standard";  ///< standard | bottleneck | l1 | kl
  int msg_dim = 0;                       ///< 0: by regularizer (100, or d for bottleneck)
  int hidden = 300;                      ///< width of both MLPs' hidden layers
  double l1_weight = 1e-2;
  double kl_weight = 1.0;
  double augment = 3.0;                  ///< std of the random translation (0: none)
};

class GraphNetwork : public Model {
 public:
  GraphNetwork(const GraphNetworkOptions& options, const DataShape& shape);
  std::string kind() const override { return "gnn"; }
  nlohmann::json options() const override;
  DataShape data_shape() const override { return shape_; }
  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor predict(const Batch& batch) override;
  std::string prediction_name() const override { return "accel"; }
  std::string prediction_meaning() const override {
    return "the graph network's acceleration of every body, (frames, n, d)";
  }
  std::string prediction_units() const override { return "as /accel"; }

  int bodies() const { return n_; }
  int dims() const { return d_; }
  int message_dim() const { return msg_dim_; }
  /// Receiver and sender body of every edge, receiver-major: (n (n - 1),) each.
  const torch::Tensor& receivers() const { return receivers_; }
  const torch::Tensor& senders() const { return senders_; }
  /// The messages of every edge (B, n (n - 1), msg_dim): the mean (mu) for the kl variant,
  /// never sampled. x: (B, n, n_f).
  torch::Tensor messages(const torch::Tensor& x);
  /// Accelerations (B, n, d) from node features and per-edge messages (B, edges, msg_dim).
  torch::Tensor node_update(const torch::Tensor& x, const torch::Tensor& messages);

 private:
  torch::Tensor edge_raw(const torch::Tensor& x);
  torch::Tensor translated(const Batch& batch) const;

  GraphNetworkOptions o_;
  DataShape shape_;
  int n_ = 0, d_ = 0, nf_ = 0, msg_dim_ = 0;
  torch::Tensor receivers_, senders_;
  torch::nn::Sequential edge_{nullptr}, node_{nullptr};
};

}  // namespace phyflow::ml
