// phyflow predict (predict.hpp).
#include "phyflow/ml/predict.hpp"

#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/evaluation.hpp"
#include "phyflow/ml/model_file.hpp"

#include <torch/torch.h>

namespace phyflow::ml {

std::string predict_file(MPI_Comm comm, const PredictOptions& o) {
  ModelPtr model = collective_try(comm, [&] {
    std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
    return read_model(o.model);
  });
  const auto dtype = model->parameters().empty() ? torch::kFloat32
                                                 : model->parameters().front().scalar_type();
  Dataset data = collective_try(comm, [&] {
    auto d = Dataset::open(o.input, "input");
    d.require_shape(model->data_shape(), model->kind());
    return d;
  });
  EvaluationOptions eo;
  eo.chunk = o.chunk;
  eo.keep_predictions = true;
  eo.dtype = dtype;
  const Evaluation ev = evaluate(comm, *model, data, eo);
  io::OutputFile out =
      collective_try(comm, [&] { return io::OutputFile::create(comm, o.output, o.overwrite); });
  out.set_attribute("/", "model_file", o.model);
  out.set_attribute("/", "model_kind", model->kind());
  out.set_attribute("/", "input_file", o.input);
  for (const auto& [k, v] : ev.metrics) out.set_attribute("/", k, v);
  write_predictions(out, "/", *model, data, ev, false);
  out.commit();
  std::string report = "wrote " + o.output + ": " + model->kind() + " predictions ('" +
                       model->prediction_name() + "') for " + std::to_string(data.size()) +
                       " samples of " + o.input + "\n  against the file's targets:";
  for (const auto& [k, v] : ev.metrics) report += " " + k + " " + std::to_string(v);
  return report + "\n";
}

}  // namespace phyflow::ml
