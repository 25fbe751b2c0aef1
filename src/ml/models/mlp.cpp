// The baseline multilayer perceptron (mlp.hpp).
#include "phyflow/ml/models/mlp.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

torch::nn::Sequential make_mlp(std::int64_t in, int layers, int width, const std::string& activation,
                               std::int64_t out) {
  torch::nn::Sequential net;
  for (int l = 0; l < layers; ++l) {
    net->push_back(torch::nn::Linear(in, width));
    if (activation == "tanh") net->push_back(torch::nn::Tanh());
    else if (activation == "relu") net->push_back(torch::nn::ReLU());
    else if (activation == "silu") net->push_back(torch::nn::SiLU());
    else if (activation == "softplus") net->push_back(torch::nn::Softplus());
    else throw input_error("model.activation '" + activation + "' is not one of tanh, relu, silu, softplus");
    in = width;
  }
  net->push_back(torch::nn::Linear(in, out));
  return net;
}

std::vector<std::int64_t> upper_triangle_index(std::int64_t n) {
  std::vector<std::int64_t> idx;
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = a; b < n; ++b) idx.push_back(a * n + b);
  return idx;
}

Mlp::Mlp(const MlpOptions& options, const DataShape& shape) : Model("Mlp"), o_(options), shape_(shape) {
  if (shape.layout != DataLayout::regression)
    throw input_error("model 'mlp' reads " + layout_description(DataLayout::regression) +
                      ", not " + shape.text());
  net_ = make_mlp(shape.x[0], o_.layers, o_.width, o_.activation, shape.y[0]);
  register_module("net", net_);
}

nlohmann::json Mlp::options() const {
  return {{"layers", o_.layers}, {"width", o_.width}, {"activation", o_.activation}};
}

torch::Tensor Mlp::predict(const Batch& batch) { return net_->forward(batch.x); }

torch::Tensor Mlp::loss(const Batch& batch) {
  return torch::mse_loss(predict(batch), batch.y.to(batch.x.scalar_type()));
}

}  // namespace phyflow::ml
