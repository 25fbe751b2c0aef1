// libphyflow_ml's entry point (workflow.hpp, MlPlugin): the learning workflows and `predict`,
// handed to libphyflow's registry when it opens this library.
#include "phyflow/ml/predict.hpp"
#include "phyflow/workflows/workflow.hpp"

namespace phyflow::workflows {
namespace {

std::string predict(MPI_Comm comm, const std::string& model, const std::string& input,
                    const std::string& output, bool overwrite) {
  ml::PredictOptions po;
  po.model = model;
  po.input = input;
  po.output = output;
  po.overwrite = overwrite;
  return ml::predict_file(comm, po);
}

}  // namespace
}  // namespace phyflow::workflows

extern "C" __attribute__((visibility("default"))) const phyflow::workflows::MlPlugin*
phyflow_ml_plugin() {
  using namespace phyflow::workflows;
  static const MlPlugin plugin{
      {train_workflow(), distill_workflow(), flow_workflow(), dataset_workflow()}, predict};
  return &plugin;
}
