// The Ising energy language models of seed 000 (energy_lm.hpp).
#include "phyflow/ml/models/energy_lm.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

std::vector<std::int64_t> snake_order(int L, bool columns) {
  std::vector<std::int64_t> order;
  order.reserve(std::size_t(L) * std::size_t(L));
  for (int a = 0; a < L; ++a)
    for (int k = 0; k < L; ++k) {
      const int b = (a % 2 == 0) ? k : L - 1 - k;
      order.push_back(columns ? std::int64_t(b) * L + a : std::int64_t(a) * L + b);
    }
  return order;
}

SnakeReaderImpl::SnakeReaderImpl(int hidden, bool bidirectional, bool attention) {
  gru_ = register_module(
      "gru", torch::nn::GRU(torch::nn::GRUOptions(1, hidden).batch_first(true).bidirectional(bidirectional)));
  const int width = bidirectional ? 2 * hidden : hidden;
  if (attention)
    attention_ = register_module(
        "attention", torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(width, 1)));
  linear_ = register_module("linear", torch::nn::Linear(width, 1));
}

torch::Tensor SnakeReaderImpl::forward(const torch::Tensor& sequence) {
  const auto n = sequence.size(1);
  auto h = std::get<0>(gru_->forward(sequence.narrow(1, 0, n - 1).unsqueeze(-1)));
  if (attention_) {
    // MultiheadAttention takes (sequence, batch, features).
    auto t = h.transpose(0, 1);
    h = std::get<0>(attention_->forward(t, t, t, {}, /*need_weights=*/false)).transpose(0, 1);
  }
  return linear_->forward(h).squeeze(-1);
}

EnergyLM::EnergyLM(const EnergyLMOptions& options, const DataShape& shape)
    : Model(options.probability ? "ProbabilityGRU" : "EnergyGRU"), o_(options), shape_(shape) {
  if (shape.layout != DataLayout::ising || shape.x.size() != 2 || shape.x[0] != shape.x[1])
    throw input_error("model '" + kind() + "' reads square 2D Ising lattices, not " + shape.text());
  o_.L = int(shape.x[0]);
  const auto idx = torch::TensorOptions().dtype(torch::kInt64);
  row_order_ = torch::tensor(snake_order(o_.L, false), idx);
  col_order_ = torch::tensor(snake_order(o_.L, true), idx);
  rows_ = register_module("rows", SnakeReader(o_.hidden, o_.bidirectional, o_.attention));
  if (o_.two_d) cols_ = register_module("cols", SnakeReader(o_.hidden, o_.bidirectional, o_.attention));
}

std::string EnergyLM::kind() const { return o_.probability ? "probability_gru" : "energy_gru"; }

nlohmann::json EnergyLM::options() const {
  nlohmann::json j = {{"hidden", o_.hidden}, {"mask", o_.mask_input ? "input" : "target"}};
  if (!o_.probability) {
    j["bidirectional"] = o_.bidirectional;
    j["attention"] = o_.attention;
    j["two_d"] = o_.two_d;
  }
  return j;
}

std::string EnergyLM::prediction_meaning() const {
  return o_.probability ? "-(1/beta) sum log p of the configuration: the energy up to a constant"
                        : "(1/beta) sum log p of the configuration, trained to equal the energy";
}

torch::Tensor EnergyLM::sequence(const torch::Tensor& x, torch::Tensor& order) const {
  if (order.device() != x.device()) order = order.to(x.device());  // once per device
  return x.reshape({x.size(0), -1}).index_select(1, order);
}

torch::Tensor EnergyLM::sum_log_p(const torch::Tensor& logits, const torch::Tensor& seq) const {
  const auto n = seq.size(1);
  // The spin whose probability is taken: the predicted one (s_{i+1}), or the seed's s_i.
  const auto spin = o_.mask_input ? seq.narrow(1, 0, n - 1) : seq.narrow(1, 1, n - 1);
  // log p(+1) = log sigmoid(z), log p(-1) = log sigmoid(-z): log sigmoid(spin * z).
  return torch::log_sigmoid(spin * logits).sum(1);
}

torch::Tensor EnergyLM::next_spin_bce(const torch::Tensor& logits, const torch::Tensor& seq) const {
  const auto up = seq.narrow(1, 1, seq.size(1) - 1).gt(0).to(logits.scalar_type());
  return torch::binary_cross_entropy_with_logits(logits, up);
}

std::vector<torch::Tensor> EnergyLM::log_probabilities(const Batch& batch) {
  std::vector<torch::Tensor> out;
  const auto rs = sequence(batch.x, row_order_);
  out.push_back(sum_log_p(rows_->forward(rs), rs));
  if (cols_) {
    const auto cs = sequence(batch.x, col_order_);
    out.push_back(sum_log_p(cols_->forward(cs), cs));
  }
  return out;
}

torch::Tensor EnergyLM::energy(const std::vector<torch::Tensor>& lp, const Batch& batch) const {
  auto sum = lp[0];
  for (std::size_t k = 1; k < lp.size(); ++k) sum = sum + lp[k];
  const double sign = o_.probability ? -1.0 : 1.0;
  return sign * sum / (double(lp.size()) * batch.beta.to(sum.scalar_type()));
}

torch::Tensor EnergyLM::predict(const Batch& batch) { return energy(log_probabilities(batch), batch); }

std::pair<torch::Tensor, torch::Tensor> EnergyLM::predict_and_loss(const Batch& batch) {
  // The same operations in the same order as predict() and loss(), each reader run once.
  std::vector<torch::Tensor> lp;
  torch::Tensor bce;
  const std::vector<std::pair<SnakeReader*, torch::Tensor*>> readers = {
      {&rows_, &row_order_}, {&cols_, &col_order_}};
  for (const auto& [reader, order] : readers) {
    if (!*reader) continue;
    const auto seq = sequence(batch.x, *order);
    const auto logits = (*reader)->forward(seq);
    lp.push_back(sum_log_p(logits, seq));
    if (o_.probability) {
      const auto l = next_spin_bce(logits, seq);
      bce = lp.size() == 1 ? l : bce + l;
    }
  }
  auto pred = energy(lp, batch);
  if (o_.probability) return {pred, bce / double(lp.size())};
  auto l1 = torch::l1_loss(pred, batch.y.to(batch.x.scalar_type()));
  return {std::move(pred), std::move(l1)};
}

torch::Tensor EnergyLM::loss(const Batch& batch) {
  if (!o_.probability) return torch::l1_loss(predict(batch), batch.y.to(batch.x.scalar_type()));
  // Next-spin cross-entropy, averaged over positions and configurations (the seed's
  // BCEWithLogitsLoss); the 2D variant averages the two readings.
  torch::Tensor total;
  const std::vector<std::pair<SnakeReader*, torch::Tensor*>> readers = {
      {&rows_, &row_order_}, {&cols_, &col_order_}};
  int used = 0;
  for (const auto& [reader, order] : readers) {
    if (!*reader) continue;
    const auto seq = sequence(batch.x, *order);
    const auto l = next_spin_bce((*reader)->forward(seq), seq);
    total = used == 0 ? l : total + l;
    ++used;
  }
  return total / double(used);
}

}  // namespace phyflow::ml
