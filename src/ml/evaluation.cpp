// Rank-count independent evaluation and prediction files (evaluation.hpp).
#include "phyflow/ml/evaluation.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/io/box_dataset.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/device.hpp"
#include "phyflow/ml/sample_order.hpp"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

namespace phyflow::ml {

namespace {
constexpr int kSums = 6;  // loss*n, n, sum|d|, sum d, sum d^2, elements
}

Evaluation evaluate(MPI_Comm comm, Model& model, const Dataset& data, const EvaluationOptions& o) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const std::int64_t n =
      o.max_samples > 0 ? std::min<std::int64_t>(o.max_samples, data.size()) : data.size();
  const auto sample = [&](std::int64_t j) {
    return n == data.size() ? j : j * data.size() / n;  // evenly strided subset
  };
  const std::int64_t chunks = (n + o.chunk - 1) / o.chunk;
  const auto [first, last] = chunked_share(n, o.chunk, rank, ranks);
  Evaluation ev;
  ev.samples = n;
  ev.first = first;
  ev.last = last;
  std::vector<double> sums;  // kSums per chunk of this rank

  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  for (std::int64_t a = first; a < last; a += o.chunk) {
    const std::int64_t b = std::min(last, a + o.chunk);
    std::vector<std::int64_t> index;
    for (std::int64_t j = a; j < b; ++j) index.push_back(sample(j));
    const Batch batch = to_device(data.gather(index, o.dtype), o.device);
    const auto [raw_pred, raw_loss] = model.predict_and_loss(batch);
    const auto pred = raw_pred.to(torch::kCPU, torch::kFloat64).contiguous();
    const auto target = model.target(batch).to(torch::kCPU, torch::kFloat64).contiguous();
    const double loss = raw_loss.item<double>();
    const auto d = pred - target;
    sums.insert(sums.end(), {loss * double(b - a), double(b - a), d.abs().sum().item<double>(),
                             d.sum().item<double>(), (d * d).sum().item<double>(),
                             double(d.numel())});
    if (o.keep_predictions) {
      ev.predictions.insert(ev.predictions.end(), pred.data_ptr<double>(),
                            pred.data_ptr<double>() + pred.numel());
      ev.targets.insert(ev.targets.end(), target.data_ptr<double>(),
                        target.data_ptr<double>() + target.numel());
    }
  }
  if (was_training) model.train();

  // Every chunk's sums on every rank, then added in chunk order.
  std::vector<int> counts(static_cast<std::size_t>(ranks)), displs(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    const auto [fa, fb] = chunked_share(n, o.chunk, r, ranks);
    counts[std::size_t(r)] = int((fb - fa + o.chunk - 1) / o.chunk * kSums);
    displs[std::size_t(r)] = r == 0 ? 0 : displs[std::size_t(r - 1)] + counts[std::size_t(r - 1)];
  }
  std::vector<double> all(std::size_t(chunks * kSums));
  check_mpi(MPI_Allgatherv(sums.data(), int(sums.size()), MPI_DOUBLE, all.data(), counts.data(),
                           displs.data(), MPI_DOUBLE, comm),
            "MPI_Allgatherv (evaluation)");
  double t[kSums] = {0, 0, 0, 0, 0, 0};
  for (std::int64_t c = 0; c < chunks; ++c)
    for (int k = 0; k < kSums; ++k) t[k] += all[std::size_t(c * kSums + k)];
  const double m = std::max(1.0, t[5]);
  ev.metrics["loss"] = t[0] / std::max(1.0, t[1]);
  ev.metrics["mae"] = t[2] / m;
  ev.metrics["rmse"] = std::sqrt(t[4] / m);
  ev.metrics["rmse_centered"] = std::sqrt(std::max(0.0, t[4] / m - (t[3] / m) * (t[3] / m)));
  return ev;
}

void write_predictions(io::OutputFile& out, const std::string& prefix, const Model& model,
                       const Dataset& data, const Evaluation& ev, bool with_targets) {
  if (ev.samples != data.size())
    throw runtime_error("write_predictions needs an evaluation of every sample");
  const std::string base = prefix == "/" ? "" : prefix;
  const DataShape& shape = data.shape();
  const auto per_sample = std::accumulate(shape.y.begin(), shape.y.end(), std::int64_t{1},
                                          std::multiplies<>());
  // Boxes: (group/dataset path, dataset shape, box offset, box count, first local sample).
  struct Box {
    std::vector<std::uint64_t> offset, count;
    std::int64_t from = 0;
  };
  const auto write = [&](const std::string& path, const std::vector<std::uint64_t>& dshape,
                         const std::vector<Box>& boxes, const std::vector<double>& values,
                         const std::string& meaning) {
    std::vector<std::uint64_t> chunk = dshape;
    chunk[0] = std::min<std::uint64_t>(dshape[0], std::max<std::uint64_t>(1, (1u << 20) / 8 /
                                                                                 std::max<std::int64_t>(1, per_sample)));
    if (dshape.size() == 4) chunk = {1, dshape[1], dshape[2], dshape[3]};
    io::BoxDataset<double> set(out, path, dshape, chunk, meaning, model.prediction_units());
    // Every rank makes as many write calls as the rank with the most boxes.
    long mine = long(boxes.size()), most = 0;
    MPI_Allreduce(&mine, &most, 1, MPI_LONG, MPI_MAX, out.comm());
    for (long k = 0; k < most; ++k) {
      if (k < mine) {
        const Box& b = boxes[std::size_t(k)];
        set.write(b.offset, b.count, values.data() + (b.from - ev.first) * per_sample);
      } else {
        set.write({}, {}, nullptr);
      }
    }
  };
  const auto emit = [&](const std::string& path, const std::vector<std::uint64_t>& dshape,
                        const std::vector<Box>& boxes) {
    write(path, dshape, boxes, ev.predictions, model.prediction_meaning());
    if (with_targets) write(path + "_true", dshape, boxes, ev.targets, "the true value");
  };

  if (shape.layout == DataLayout::ising) {
    for (const auto& g : data.groups()) {
      std::vector<Box> boxes;
      const std::int64_t a = std::max(ev.first, g.begin), b = std::min(ev.last, g.begin + g.count);
      if (b > a) boxes.push_back(Box{{std::uint64_t(a - g.begin)}, {std::uint64_t(b - a)}, a});
      out.create_group(base + g.name);
      emit(base + g.name + "/" + model.prediction_name(), {std::uint64_t(g.count)}, boxes);
      out.set_attribute(base + g.name, "beta", g.beta);
    }
  } else if (shape.layout == DataLayout::nbody) {
    // Samples are frames: sample i is (simulation i / nt, frame i % nt); one box per
    // simulation this rank's range touches.
    const std::int64_t nt = data.frames_per_simulation(), ns = data.size() / nt;
    const auto n = std::uint64_t(shape.y[0]), d = std::uint64_t(shape.y[1]);
    std::vector<Box> boxes;
    for (std::int64_t i = ev.first; i < ev.last;) {
      const std::int64_t sim = i / nt, frame = i % nt, take = std::min(ev.last - i, nt - frame);
      boxes.push_back(Box{{std::uint64_t(sim), std::uint64_t(frame), 0, 0},
                          {1, std::uint64_t(take), n, d}, i});
      i += take;
    }
    emit(base + "/" + model.prediction_name(), {std::uint64_t(ns), std::uint64_t(nt), n, d}, boxes);
  } else {
    std::vector<Box> boxes;
    if (ev.last > ev.first)
      boxes.push_back(Box{{std::uint64_t(ev.first), 0},
                          {std::uint64_t(ev.last - ev.first), std::uint64_t(shape.y[0])}, ev.first});
    emit(base + "/" + model.prediction_name(), {std::uint64_t(data.size()), std::uint64_t(shape.y[0])},
         boxes);
  }
}

}  // namespace phyflow::ml
