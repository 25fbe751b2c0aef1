// `phyflow predict MODEL.h5 INPUT.h5 --out PRED.h5`: a trained model's predictions for every
// sample of a data file, written in the input's own structure (Ising: /tN/energy (N,)).
// Free of LibTorch headers so the CLI can call it.
#pragma once

#include <mpi.h>

#include <string>

namespace phyflow::ml {

struct PredictOptions {
  std::string model, input, output;
  bool overwrite = false;
  long chunk = 512;  ///< samples per forward pass
};

/// Collective over comm; returns a one-paragraph report for the user (rank 0).
std::string predict_file(MPI_Comm comm, const PredictOptions& options);

}  // namespace phyflow::ml
