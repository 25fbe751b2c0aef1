// Evaluation and prediction over a dataset on all ranks. Samples are cut into chunks of a
// fixed size and the chunks dealt to ranks in order (chunked_share), each chunk computed with
// the same shapes whatever the rank count, and per-chunk sums combined in chunk order: the
// predictions and metrics do not depend on the number of ranks.
#pragma once

#include "phyflow/ml/model.hpp"

#include <mpi.h>

#include <map>
#include <string>
#include <vector>

namespace phyflow::io {
class OutputFile;
}

namespace phyflow::ml {

struct Evaluation {
  std::int64_t samples = 0;
  /// loss (the model's loss, mean over samples), mae, rmse and rmse_centered of the
  /// predictions against the targets (rmse_centered: after subtracting each one's mean, the
  /// seed's metric for energies known up to a constant).
  std::map<std::string, double> metrics;
  /// With keep_predictions: this rank's predictions of samples [first, last), row-major
  /// (samples x prediction elements), and the matching targets.
  std::int64_t first = 0, last = 0;
  std::vector<double> predictions, targets;
};

struct EvaluationOptions {
  std::int64_t chunk = 512;    ///< samples per forward pass
  std::int64_t max_samples = 0;  ///< evaluate on this many, evenly strided (0: all)
  bool keep_predictions = false;  ///< only with max_samples = 0
  torch::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;  ///< where the model is; batches go there
};

/// Collective over comm.
Evaluation evaluate(MPI_Comm comm, Model& model, const Dataset& data, const EvaluationOptions& options);

/// Writes this rank's predictions (an Evaluation with keep_predictions) in the data's own
/// structure below `prefix` ("/" for a predict file): Ising /tN/energy (N,), N-body
/// /accel (ns, nt, n, d), regression /y (N, m). With `with_targets` also NAME_true.
/// Collective over the file's ranks.
void write_predictions(io::OutputFile& out, const std::string& prefix, const Model& model,
                       const Dataset& data, const Evaluation& eval, bool with_targets);

}  // namespace phyflow::ml
