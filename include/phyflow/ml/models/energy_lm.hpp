// Language models of Ising configurations (seed 000, CLEANit/watch-and-learn after Sprague et
// al., arXiv:2003.02647). The L x L spins are read as a sequence in snake order (rows, every
// other row reversed; the "2D" variant also reads columns and averages the two energies); a
// one-layer GRU (optionally bidirectional, optionally followed by one-head self-attention)
// and a linear layer give, at position i, the logit of p(s_{i+1} = +1 | s_0..s_i).
//   energy_gru:      E = (1/beta) sum_i log p(s_{i+1}), trained by L1 against the true energy.
//   probability_gru: next-spin binary cross-entropy; E = -(1/beta) sum_i log p(s_{i+1}),
//                    equal to the energy up to the constant -(1/beta) log Z.
// log p is taken of the spin being predicted (the target). The seed took the input spin
// s_i instead; `mask: input` reproduces that.
#pragma once

#include "phyflow/ml/model.hpp"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

namespace phyflow::ml {

struct EnergyLMOptions {
  bool probability = false;  ///< probability_gru (else energy_gru)
  int hidden = 512;
  bool bidirectional = false, attention = false, two_d = false;
  bool mask_input = false;  ///< the seed's mask (input spin) instead of the target spin
  int L = 8;
};

/// One reading direction: GRU (+ attention) + linear, over a snake-ordered sequence.
class SnakeReaderImpl : public torch::nn::Module {
 public:
  SnakeReaderImpl(int hidden, bool bidirectional, bool attention);
  /// Logits (B, N-1) from the spin sequence (B, N).
  torch::Tensor forward(const torch::Tensor& sequence);

 private:
  torch::nn::GRU gru_{nullptr};
  torch::nn::MultiheadAttention attention_{nullptr};
  torch::nn::Linear linear_{nullptr};
};
TORCH_MODULE(SnakeReader);

class EnergyLM : public Model {
 public:
  EnergyLM(const EnergyLMOptions& options, const DataShape& shape);
  std::string kind() const override;
  nlohmann::json options() const override;
  DataShape data_shape() const override { return shape_; }
  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor predict(const Batch& batch) override;
  /// Both from one pass of each reader (evaluation ran the GRUs twice: predict, then loss).
  std::pair<torch::Tensor, torch::Tensor> predict_and_loss(const Batch& batch) override;
  std::string prediction_name() const override { return "energy"; }
  std::string prediction_meaning() const override;
  std::string prediction_units() const override { return "J"; }

  /// sum_i log p(s_{i+1}) for each configuration, per reading direction (rows[, cols]).
  std::vector<torch::Tensor> log_probabilities(const Batch& batch);
  /// The prediction from the readers' sum log p.
  torch::Tensor energy(const std::vector<torch::Tensor>& lp, const Batch& batch) const;

 private:
  torch::Tensor sequence(const torch::Tensor& x, torch::Tensor& order) const;
  torch::Tensor sum_log_p(const torch::Tensor& logits, const torch::Tensor& seq) const;
  /// The probability model's loss of one reading: cross entropy of each next spin.
  torch::Tensor next_spin_bce(const torch::Tensor& logits, const torch::Tensor& seq) const;

  EnergyLMOptions o_;
  DataShape shape_;
  // Snake orders as flat site indices: not parameters or buffers (model files hold only the
  // weights); moved once to the input's device by sequence(), hence mutable.
  mutable torch::Tensor row_order_, col_order_;
  SnakeReader rows_{nullptr}, cols_{nullptr};
};

/// Snake order of an L x L lattice (row-major, odd rows reversed) as flat site indices;
/// `columns` reads columns instead (odd columns reversed).
std::vector<std::int64_t> snake_order(int L, bool columns);

}  // namespace phyflow::ml
