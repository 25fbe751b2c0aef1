// Scalar-based equivariant networks (scalar_mlp.hpp).
#include "phyflow/ml/models/scalar_mlp.hpp"

#include "phyflow/core/error.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

namespace {
/// Vectors and their dimension per data kind (inertia: 5 vectors of R^3 plus 5 masses).
struct Structure {
  int vectors, dim, x_columns, y_columns;
  const char* metric;
};
Structure structure_of(const std::string& kind) {
  if (kind == "o5") return {2, 5, 10, 1, "euclidean"};
  if (kind == "lorentz") return {4, 4, 16, 1, "minkowski"};
  if (kind == "inertia") return {5, 3, 20, 9, "euclidean"};
  return {0, 0, 0, 0, ""};
}
}  // namespace

ScalarMlp::ScalarMlp(const ScalarMlpOptions& options, const DataShape& shape)
    : Model("ScalarMlp"), o_(options), shape_(shape) {
  const std::string what = "model 'scalar_mlp'";
  if (shape.layout != DataLayout::regression || shape.x.size() != 1 || shape.y.size() != 1)
    throw input_error(what + " reads " + layout_description(DataLayout::regression) + ", not " +
                      shape.text());
  const Structure st = structure_of(shape.kind);
  if (st.vectors == 0)
    throw input_error(
        what + " needs to know which columns of /x form vectors: train it on a file of "
        "workflow: dataset with kind o5, inertia or lorentz (root attribute dataset_kind); this "
        "data is " + (shape.kind.empty() ? std::string("a plain /x, /y file") : "of kind '" + shape.kind + "'") +
        ". Use model.kind: mlp for other data");
  if (shape.x[0] != st.x_columns || shape.y[0] != st.y_columns)
    throw input_error(what + ": " + shape.kind + " data has /x (N, " + std::to_string(st.x_columns) +
                      ") and /y (N, " + std::to_string(st.y_columns) + "): " +
                      std::to_string(st.vectors) + " vectors of dimension " + std::to_string(st.dim) +
                      (shape.kind == "inertia" ? " with a mass each" : "") + "; this file has " +
                      shape.text() + " -- regenerate it with workflow: dataset");
  if (o_.metric != "auto" && o_.metric != "euclidean" && o_.metric != "minkowski")
    throw input_error("model.metric '" + o_.metric + "' is not one of auto, euclidean, minkowski");
  if (o_.metric == "auto") o_.metric = st.metric;
  minkowski_ = o_.metric == "minkowski";
  if (minkowski_ && st.dim != 4)
    throw input_error("model.metric minkowski needs 4-vectors; " + shape.kind + " data holds vectors of R^" +
                      std::to_string(st.dim) + " (use euclidean or auto)");
  if (o_.permutation_invariant && shape.kind != "inertia")
    throw input_error("model.permutation_invariant applies to inertia data (5 interchangeable "
                      "masses); " + shape.kind + " data has no interchangeable inputs -- set it false");
  vectors_ = st.vectors;
  dim_ = st.dim;
  const std::int64_t pairs = std::int64_t(vectors_) * (vectors_ + 1) / 2;
  if (shape.kind != "inertia") {
    net_ = make_mlp(pairs, o_.layers, o_.width, o_.activation, 1);
  } else if (!o_.permutation_invariant) {
    // in: 5 masses + 15 inner products; out: f_ij (25) and f_0.
    net_ = make_mlp(vectors_ + pairs, o_.layers, o_.width, o_.activation, vectors_ * vectors_ + 1);
  } else {
    // in: m_i, m_j, <r_i,r_i>, <r_j,r_j>, <r_i,r_j>, [i == j]; out: f_ij and g_ij. The pair
    // indicator is permutation invariant (relabelling maps diagonal pairs to diagonal pairs)
    // and lets the shared MLP treat a particle with itself apart from two that coincide.
    net_ = make_mlp(6, o_.layers, o_.width, o_.activation, 2);
  }
  register_module("net", net_);
}

nlohmann::json ScalarMlp::options() const {
  return {{"layers", o_.layers},
          {"width", o_.width},
          {"activation", o_.activation},
          {"metric", o_.metric},
          {"permutation_invariant", o_.permutation_invariant}};
}

torch::Tensor ScalarMlp::gram(const torch::Tensor& v, bool minkowski) const {
  if (!minkowski) return torch::matmul(v, v.transpose(1, 2));
  if (!eta_.defined() || eta_.size(0) != v.size(2) || eta_.scalar_type() != v.scalar_type() ||
      eta_.device() != v.device()) {
    auto eta = torch::full({v.size(2)}, -1.0, torch::kFloat64);
    eta[0] = 1.0;  // time component first
    eta_ = eta.to(v.options());
  }
  return torch::matmul(v * eta_, v.transpose(1, 2));
}

torch::Tensor ScalarMlp::upper(const torch::Tensor& g) const {
  const auto n = g.size(1);
  if (!upper_.defined() || upper_.size(0) != n * (n + 1) / 2 || upper_.device() != g.device())
    upper_ = torch::tensor(upper_triangle_index(n), torch::kInt64).to(g.device());
  return g.reshape({g.size(0), n * n}).index_select(1, upper_);
}

torch::Tensor ScalarMlp::scalars(const torch::Tensor& x) const {
  const auto b = x.size(0);
  if (shape_.kind == "inertia") {
    const auto p = x.view({b, vectors_, 4});
    const auto m = p.select(2, 0);
    const auto r = p.narrow(2, 1, 3);
    return torch::cat({m, upper(gram(r, false))}, 1);
  }
  return upper(gram(x.view({b, vectors_, dim_}), minkowski_));
}

torch::Tensor ScalarMlp::predict(const Batch& batch) {
  const auto dtype = net_->parameters().front().scalar_type();
  const auto x = batch.x.to(dtype);
  const auto b = x.size(0);
  if (shape_.kind != "inertia") return net_->forward(scalars(x));
  const auto p = x.view({b, vectors_, 4});
  const auto m = p.select(2, 0);                    // (B, n)
  const auto r = p.narrow(2, 1, 3);                 // (B, n, 3)
  const auto g = gram(r, false);                    // (B, n, n)
  torch::Tensor f, f0;
  if (!o_.permutation_invariant) {
    const auto out = net_->forward(torch::cat({m, upper(g)}, 1));
    f = out.narrow(1, 0, vectors_ * vectors_).view({b, vectors_, vectors_});
    f0 = out.select(1, vectors_ * vectors_);
  } else {
    const auto n = vectors_;
    const auto diag = g.diagonal(0, 1, 2);          // (B, n)
    const auto feats = torch::stack({m.unsqueeze(2).expand({b, n, n}), m.unsqueeze(1).expand({b, n, n}),
                                     diag.unsqueeze(2).expand({b, n, n}),
                                     diag.unsqueeze(1).expand({b, n, n}), g,
                                     torch::eye(n, x.options()).unsqueeze(0).expand({b, n, n})},
                                    3);              // (B, n, n, 6)
    const auto out = net_->forward(feats);          // (B, n, n, 2)
    f = out.select(3, 0);
    f0 = out.select(3, 1).sum({1, 2});
  }
  // T_ac = sum_ij f_ij r_ia r_jc + f_0 delta_ac, symmetrised (the inertia tensor is symmetric).
  auto t = torch::einsum("bij,bia,bjc->bac", {f, r, r});
  t = t + f0.view({b, 1, 1}) * torch::eye(3, x.options());
  t = 0.5 * (t + t.transpose(1, 2));
  return t.reshape({b, 9});
}

torch::Tensor ScalarMlp::loss(const Batch& batch) {
  const auto p = predict(batch);
  return torch::mse_loss(p, batch.y.to(p.scalar_type()));
}

}  // namespace phyflow::ml
