// The baseline multilayer perceptron (mlp.hpp).
#include "phyflow/ml/models/mlp.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

Mlp::Mlp(const MlpOptions& options, const DataShape& shape) : Model("Mlp"), o_(options), shape_(shape) {
  if (shape.layout != DataLayout::regression)
    throw input_error("model 'mlp' reads " + layout_description(DataLayout::regression) +
                      ", not " + shape.text());
  net_ = torch::nn::Sequential();
  std::int64_t in = shape.x[0];
  for (int l = 0; l < o_.layers; ++l) {
    net_->push_back(torch::nn::Linear(in, o_.width));
    if (o_.activation == "tanh") net_->push_back(torch::nn::Tanh());
    else if (o_.activation == "relu") net_->push_back(torch::nn::ReLU());
    else if (o_.activation == "silu") net_->push_back(torch::nn::SiLU());
    else if (o_.activation == "softplus") net_->push_back(torch::nn::Softplus());
    else throw input_error("model.activation '" + o_.activation + "' is not one of tanh, relu, silu, softplus");
    in = o_.width;
  }
  net_->push_back(torch::nn::Linear(in, shape.y[0]));
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
