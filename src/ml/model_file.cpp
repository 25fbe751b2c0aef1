// Models as HDF5 groups (model_file.hpp).
#include "phyflow/ml/model_file.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/model_registry.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

std::vector<std::pair<std::string, torch::Tensor>> named_tensors(torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

void write_tensors(io::OutputFile& out, const std::string& group,
                   const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                   const std::string& meaning) {
  out.create_group(group);
  for (const auto& [name, t] : tensors) {
    const auto c = t.detach().to(torch::kCPU).contiguous();
    std::vector<std::uint64_t> shape(c.sizes().begin(), c.sizes().end());
    const std::string path = group + "/" + name;
    if (c.scalar_type() == torch::kFloat64)
      out.write_array(path, c.data_ptr<double>(), shape, meaning + " " + name, "1");
    else if (c.scalar_type() == torch::kFloat32)
      out.write_array(path, c.data_ptr<float>(), shape, meaning + " " + name, "1");
    else
      throw runtime_error("tensor " + name + " has unsupported dtype " +
                          std::string(c10::toString(c.scalar_type())));
  }
}

void write_model(io::OutputFile& out, const std::string& group, Model& model) {
  const auto tensors = named_tensors(model);
  write_tensors(out, group, tensors, "model tensor");
  const torch::ScalarType dtype =
      tensors.empty() ? torch::kFloat32 : tensors.front().second.scalar_type();
  const DataShape s = model.data_shape();
  out.set_attribute(group, "model_kind", model.kind());
  out.set_attribute(group, "model_options", model.options().dump());
  const nlohmann::json options = model.options();
  for (const auto& [key, value] : options.items()) {
    if (value.is_boolean()) out.set_attribute(group, key, std::int64_t(value.get<bool>()));
    else if (value.is_number_integer()) out.set_attribute(group, key, value.get<std::int64_t>());
    else if (value.is_number()) out.set_attribute(group, key, value.get<double>());
    else if (value.is_string()) out.set_attribute(group, key, value.get<std::string>());
  }
  out.set_attribute(group, "data_layout", layout_name(s.layout));
  out.set_attribute(group, "x_shape", s.x);
  if (!s.y.empty()) out.set_attribute(group, "y_shape", s.y);  // none: one number per sample
  if (!s.kind.empty()) out.set_attribute(group, "data_kind", s.kind);
  out.set_attribute(group, "dtype", std::string(dtype == torch::kFloat64 ? "float64" : "float32"));
}

std::string model_kind_of(const io::InputFile& f, const std::string& group) {
  if (!f.is_group(group) || !f.has_attribute(group, "model_kind"))
    throw input_error("'" + f.path() + "' is not a phyflow model file (no " + group +
                      " group with a model_kind attribute); a model file is the output.path of a "
                      "workflow: train run");
  return f.attribute_string(group, "model_kind");
}

void load_weights(const io::InputFile& f, const std::string& group, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : named_tensors(model)) {
    const std::string path = group + "/" + name;
    if (!f.is_dataset(path))
      throw input_error("model file '" + f.path() + "' has no tensor " + path + " (it holds a "
                        "different model; model kind '" + model_kind_of(f, group) + "')");
    const auto info = f.info(path);
    std::vector<std::int64_t> shape(info.shape.begin(), info.shape.end());
    if (shape != t.sizes().vec())
      throw input_error("model file '" + f.path() + "': tensor " + path + " has shape " +
                        info.shape_text() + ", the model built from its options expects " +
                        c10::str(t.sizes()));
    torch::Tensor src;
    if (info.dtype == "float64") {
      auto v = f.read<double>(path);
      src = torch::from_blob(v.data(), shape, torch::kFloat64).clone();
    } else if (info.dtype == "float32") {
      auto v = f.read<float>(path);
      src = torch::from_blob(v.data(), shape, torch::kFloat32).clone();
    } else {
      throw input_error("model file '" + f.path() + "': tensor " + path + " is " + info.dtype +
                        ", expected float32 or float64");
    }
    t.copy_(src.to(t.scalar_type()));
  }
}

ModelPtr read_model(const std::string& path, const std::string& group) {
  const auto f = io::InputFile::open(path, MPI_COMM_SELF);
  const std::string kind = model_kind_of(f, group);
  DataShape shape;
  const std::string layout = f.attribute_string(group, "data_layout");
  if (layout == "ising") shape.layout = DataLayout::ising;
  else if (layout == "nbody") shape.layout = DataLayout::nbody;
  else if (layout == "regression") shape.layout = DataLayout::regression;
  else throw input_error("model file '" + path + "': unknown data_layout '" + layout + "'");
  shape.x = f.attribute_ints(group, "x_shape");
  shape.y = f.has_attribute(group, "y_shape") ? f.attribute_ints(group, "y_shape")
                                              : std::vector<std::int64_t>{};
  if (f.has_attribute(group, "data_kind")) shape.kind = f.attribute_string(group, "data_kind");
  const auto options = nlohmann::json::parse(f.attribute_string(group, "model_options"));
  ModelPtr model = make_model(kind, options, shape);
  if (f.attribute_string(group, "dtype") == "float64") model->to(torch::kFloat64);
  load_weights(f, group, *model);
  return model;
}

}  // namespace phyflow::ml
