// Parameters and their gradients in two flat buffers (PyTorch DDP's gradient_as_bucket_view,
// for the values too). Each parameter's data and its .grad become consecutive views of one
// buffer each, so that zeroing the gradients, all-reducing them and the optimiser's update are
// one tensor operation each instead of one (or three) per parameter tensor. The small models
// of the flows and the equivariant issues have ~100 parameter tensors of a few hundred numbers:
// there the per-tensor operations were a fixed cost of each step (~0.2 ms on one rank,
// ~0.5 ms on two: the reducer's copies in and out of its bucket) that does not shrink when
// the batch is split over ranks.
//
// Backward keeps the layout: with a gradient already defined, LibTorch accumulates into it in
// place (0 + g = g, so the numbers are those of a fresh gradient). Whatever replaces a
// parameter's tensor or gradient later (a move to another device, a gradient set to None)
// only loses the fast path: flat_alias then finds no single buffer and every user falls back
// to its per-tensor loop.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace phyflow::ml {

/// Makes every parameter's data and gradient (zeros) views of two flat buffers, in order.
/// Does nothing (returns false) unless the parameters share one dtype and device and are
/// dense. Call it once the parameters are on their device, before the optimiser and the
/// gradient reducer are made.
bool flatten_parameters(const std::vector<at::Tensor>& params);

/// The one-dimensional tensor of which `parts` are, in order, the consecutive contiguous
/// pieces (one storage, one dtype), or an undefined tensor if they are not laid out so.
at::Tensor flat_alias(const std::vector<at::Tensor>& parts);

/// The parameters' gradients in order (undefined where a parameter has none).
std::vector<at::Tensor> gradients_of(const std::vector<at::Tensor>& params);

/// Zeroes the parameters' gradients: one operation when they are flat, else one per tensor
/// (gradients not yet defined are left undefined).
void zero_gradients(const std::vector<at::Tensor>& params);

}  // namespace phyflow::ml
