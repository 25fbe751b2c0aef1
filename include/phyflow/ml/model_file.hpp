// A trained model as HDF5 (DESIGN.md §8): group /model holds one dataset per parameter and
// buffer, named exactly as in the module ("rows.gru.weight_ih_l0"), so in Python
//   {k: torch.from_numpy(v[()]) for k, v in h5py.File("run.h5")["model"].items()}
// is a state_dict; its attributes say the model kind, its options (also as JSON), the data
// layout and shapes it was built for, and the dtype. `phyflow predict` rebuilds it from these.
#pragma once

#include "phyflow/ml/model.hpp"

#include <string>

namespace phyflow::io {
class OutputFile;
class InputFile;
}  // namespace phyflow::io

namespace phyflow::ml {

/// Every parameter and buffer of `model`, by name (parameters first, registration order).
/// Any module: the flows store theirs the same way.
std::vector<std::pair<std::string, torch::Tensor>> named_tensors(torch::nn::Module& model);

/// Writes named float32/float64 tensors as datasets `group/<name>` (collective; the tensors
/// are equal on every rank, rank 0 writes them).
void write_tensors(io::OutputFile& out, const std::string& group,
                   const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                   const std::string& meaning);

/// Writes `model` into `group` of `out` (collective; the weights are equal on every rank).
void write_model(io::OutputFile& out, const std::string& group, Model& model);

/// Copies the tensors stored in `group` of `file` into the model's (names and shapes must
/// match: an input error naming the file otherwise).
void load_weights(const io::InputFile& file, const std::string& group, torch::nn::Module& model);

/// Rebuilds the model stored in `group` of the file `path` (kind, options, shapes, dtype)
/// with its weights. Input error when the file is not a phyflow model file.
ModelPtr read_model(const std::string& path, const std::string& group = "/model");

/// The model kind recorded in a model file (input error when it is not one).
std::string model_kind_of(const io::InputFile& file, const std::string& group);

}  // namespace phyflow::ml
