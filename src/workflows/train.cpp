// workflow: train -- trains a model on phyflow HDF5 data over MPI ranks (DESIGN.md §8).
//
//   mpiexec -n 2 phyflow run inputs/watch_and_learn/energy_gru.yaml
//
// Steps:
//   1. read the deck; set the per-rank thread budget (torch intra-op, BLAS);
//   2. open and validate the train/val/test files against the model kind;
//   3. decide create / resume / skip (--restart), create OUTPUT.partial;
//   4. build the model (seeded, broadcast from rank 0), or warm-start it from model.init;
//   5. train: data-parallel steps, validation each epoch, early stopping, checkpoints,
//      metrics as JSON lines (OUTPUT.metrics.jsonl) as they come;
//   6. write the model (best weights), the metrics per epoch and the test-set predictions;
//      commit OUTPUT, drop the checkpoint, write the JSON summary.
#include "phyflow/core/blas.hpp"
#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/runtime.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/output_file.hpp"
#include "phyflow/ml/device.hpp"
#include "phyflow/ml/model_file.hpp"
#include "phyflow/ml/model_registry.hpp"
#include "phyflow/ml/threads.hpp"
#include "phyflow/ml/trainer.hpp"
#include "phyflow/workflows/run_keys.hpp"
#include "phyflow/workflows/workflow.hpp"
#include "split_files.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

namespace phyflow::workflows {
namespace {

config::Schema train_schema() {
  config::Schema s("train");
  s.choice("workflow", "train", {"train"}, "what to run");
  s.integer("seed", 1, 0, 4294967295.0,
            "seed of the weight initialisation and of the per-epoch shuffles (Philox by epoch)");
  s.string("data.train", std::nullopt, "training file (phyflow HDF5: Ising, N-body or /x,/y)").required();
  s.string("data.val", std::nullopt, "validation file, evaluated after every epoch (optional)");
  s.string("data.test", std::nullopt,
           "test file: metrics and predictions stored in the output (optional)");
  s.integer("data.val_max", 0, 0, 1e15,
            "validate on at most this many samples, evenly strided over the file (0: all)");
  s.choice("data.cache", "auto", {"auto", "memory", "stream"},
           "memory: read each file once; stream: read the batches from the file (prefetched); "
           "auto: memory when a file fits in data.cache_mb");
  s.real("data.cache_mb", 2048, 0, 1e9, "auto: largest file (MiB) held in memory per rank");
  s.integer("data.prefetch", 2, 1, 64, "training batches read ahead per rank");

  std::string kinds, kinds_help;
  std::vector<std::string> names;
  for (const auto& k : ml::model_kinds()) {
    names.push_back(k.name);
    kinds_help += (kinds_help.empty() ? "" : "; ") + k.name + ": " + k.description;
  }
  s.choice("model.kind", names.front(), names, kinds_help);
  const auto& d = ml::model_option_defaults();
  s.integer("model.hidden", d["hidden"].get<long long>(), 0, 1e6,
            "energy_gru, probability_gru: GRU hidden size (0: the seed's 512); gnn: width of "
            "the edge and node MLPs' hidden layers (0: the seed's 300)");
  s.boolean("model.bidirectional", false, "energy_gru: bidirectional GRU");
  s.boolean("model.attention", false, "energy_gru: one-head self-attention after the GRU");
  s.boolean("model.two_d", false,
            "energy_gru: also read the lattice by columns and average the two energies");
  s.choice("model.mask", "target", {"target", "input"},
           "energy_gru, probability_gru: log p of the predicted spin (target), or of the input "
           "spin as the seed did (input)");
  s.integer("model.layers", d["layers"].get<long long>(), 0, 1000, "mlp, scalar_mlp, hnn, neural_ode: hidden layers");
  s.integer("model.width", d["width"].get<long long>(), 1, 1e7, "mlp, scalar_mlp, hnn, neural_ode: units per hidden layer");
  s.choice("model.activation", "tanh", {"tanh", "relu", "silu", "softplus"}, "mlp, scalar_mlp, hnn, neural_ode: activation");
  s.choice("model.metric", "auto", {"auto", "euclidean", "minkowski"},
           "scalar_mlp: inner product of the vectors (auto: minkowski for lorentz data, else euclidean)");
  s.boolean("model.permutation_invariant", false,
            "scalar_mlp on inertia data: one MLP shared by all pairs of the 5 particles");
  s.real("model.dt", d["dt"].get<double>(), 1e-9, 1e6,
         "hnn, neural_ode: spacing of the states in /y (the data set's pendulum.dt)");
  s.integer("model.substeps", d["substeps"].get<long long>(), 1, 1e6, "hnn, neural_ode: RK4 steps per dt");
  s.choice("model.regularizer", "standard", {"standard", "bottleneck", "l1", "kl"},
           "gnn: messages of size 100 (standard), d (bottleneck), 100 with an L1 penalty (l1), "
           "or variational with a KL penalty (kl)");
  s.integer("model.msg_dim", 0, 0, 1e6, "gnn: message size (0: by model.regularizer)");
  s.real("model.l1_weight", d["l1_weight"].get<double>(), 0.0, std::nullopt,
         "gnn, regularizer l1: weight of sum |message| / edges");
  s.real("model.kl_weight", d["kl_weight"].get<double>(), 0.0, std::nullopt,
         "gnn, regularizer kl: weight of the messages' KL divergence / edges");
  s.real("model.augment", d["augment"].get<double>(), 0.0, std::nullopt,
         "gnn: std of the random translation added to each training frame's positions (0: off)");
  s.choice("model.dtype", "float32", {"float32", "float64"}, "precision of weights and data");
  s.string("model.init", std::nullopt,
           "start from the weights of this model file (the same kind and options)");

  s.choice("optim.name", "adam", {"adam", "adamw", "sgd"}, "optimiser");
  s.real("optim.lr", 1e-3, 0.0, 1e3, "learning rate (the peak for one_cycle)");
  s.integer("optim.batch", 64, 1, 1e9, "samples per rank and step (global batch = batch x ranks)");
  s.integer("optim.epochs", 10, 1, 1e9, "passes over the training set");
  s.integer("optim.patience", 0, 0, 1e9,
            "stop after this many epochs without improvement of optim.monitor (0: never)");
  s.real("optim.min_delta", 0.0, 0.0, std::nullopt, "smallest improvement that counts");
  s.choice("optim.monitor", "loss", {"loss", "mae", "rmse", "rmse_centered"},
           "validation metric for early stopping and the best weights (train loss without "
           "data.val)");
  s.choice("optim.schedule", "constant", {"constant", "step", "cosine", "one_cycle"},
           "learning-rate schedule over the run's steps");
  s.real("optim.lr_min", 0.0, 0.0, 1e3, "cosine: final learning rate");
  s.real("optim.gamma", 0.1, 0.0, 1.0, "step: factor applied every optim.step_size epochs");
  s.integer("optim.step_size", 10, 1, 1e9, "step: epochs between decays");
  s.real("optim.pct_start", 0.3, 0.0, 1.0, "one_cycle: fraction of steps rising to optim.lr");
  s.real("optim.weight_decay", 0.0, 0.0, 1e3, "L2 (adam, sgd) or decoupled (adamw) weight decay");
  s.real("optim.momentum", 0.0, 0.0, 1.0, "sgd: momentum");
  s.real("optim.clip", 0.0, 0.0, std::nullopt, "clip the global gradient norm to this (0: off)");
  s.boolean("optim.drop_last", false, "drop a last global batch smaller than batch x ranks");
  s.integer("optim.eval_batch", 512, 1, 1e9, "samples per forward pass in evaluation");
  s.boolean("optim.test_each_epoch", false,
            "also evaluate data.test after every epoch (test_* metrics per epoch); the test "
            "predictions are written once, for the final weights");

  s.real("parallel.bucket_mb", 25.0, 0.001, 1e6,
         "gradient all-reduce bucket size (MiB; PyTorch DDP's default is 25)");
  s.boolean("parallel.overlap", true,
            "start each bucket's all-reduce from gradient hooks during the backward pass");
  s.choice("parallel.reducer", "auto", {"auto", "mpi", "nccl"},
           "gradient all-reduce: auto (NCCL for a model on a GPU where built with it, else MPI), "
           "mpi (device gradients staged through host buckets; for ranks sharing a GPU, which "
           "NCCL refuses) or nccl");
  s.integer("threads.torch", 0, 0, 4096,
            "LibTorch intra-op threads per rank (0: OMP_NUM_THREADS if set, else one: the BLAS "
            "threads do the matrix products)");
  s.integer("threads.blas", 0, 0, 4096,
            "OpenBLAS threads per rank (0: OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the "
            "node's cores / ranks on the node)");
  s.string("device", std::string("cpu"),
           "where the model trains: cpu, cuda (each rank takes the GPU of its node-local rank, "
           "modulo the GPUs it sees) or cuda:N; needs a CUDA LibTorch (docs/install.md)");
  s.string("output.path", std::string("train.h5"),
           "output HDF5 file: model, metrics per epoch, test predictions (written as "
           "PATH.partial, renamed when complete)");
  add_run_keys(s, "steps");
  return s;
}

void train_check(const config::Deck& deck, int /*ranks*/) {
  const std::string where = "deck '" + deck.origin() + "'";
  ml::check_model_options(deck.string("model.kind"), deck.at("model"), where);
  ml::check_reducer_backend(deck.string("parallel.reducer"), deck.string("device"));
  if (deck.string("optim.schedule") == "one_cycle" && deck.real("optim.pct_start") <= 0)
    throw input_error(where + ": optim.pct_start must be > 0 for schedule one_cycle");
  if (!deck.has("data.val") && deck.string("optim.monitor") != "loss")
    throw input_error(where + ": optim.monitor " + deck.string("optim.monitor") +
                      " is a validation metric; set data.val or use monitor: loss");
}

/// Deck keys that may change on --restart.
const std::vector<std::string> restart_may_change = {"checkpoint", "progress", "threads",
                                                     "data.prefetch", "data.cache", "data.cache_mb"};

class TrainRun {
 public:
  TrainRun(const config::Deck& deck, Runtime& rt, const RunOptions& options)
      : deck_(deck), rt_(rt), options_(options) {}

  void run() {
    const std::string out_path = deck_.string("output.path");
    const std::string ckpt = detail::checkpoint_path_for(out_path);
    const std::string metrics_path = [&] {
      const std::string j = summary_path_for(out_path);
      return j.substr(0, j.size() - 5) + ".metrics.jsonl";
    }();
    const RunKeys keys = run_keys(deck_);

    // 1. Threads.
    // One intra-op thread by default: the recurrent models' time goes into matrix products,
    // which the BLAS runs with its own threads (the per-rank budget), while LibTorch's pool
    // only adds synchronisation to the many small element-wise kernels (measured on the
    // hidden-512 GRU, docs/PERFORMANCE.md: 1 torch + 2 BLAS threads 0.67 steps/s, 2 + 2
    // 0.33). The two pools never run at once: the BLAS is called from the thread running
    // the operator.
    ml::set_intra_op_threads(int(deck_.integer("threads.torch")));
    if (deck_.integer("threads.blas") > 0) blas::set_threads(int(deck_.integer("threads.blas")));
    log::info("train: " + std::to_string(rt_.size()) + " rank(s) x " +
              std::to_string(at::get_num_threads()) + " torch thread(s); BLAS: " +
              blas::description());
    if (blas::is_reference()) log::warn("the reference BLAS is loaded: training will be slow");
    const torch::Device device =
        collective_try(rt_.comm(), [&] { return ml::resolve_device(deck_.string("device"), rt_.comm()); });
    if (!device.is_cpu()) log::info("train: device " + device.str() + " on rank 0");

    // 2. Data.
    const auto cache = deck_.string("data.cache") == "memory"   ? ml::CacheMode::memory
                       : deck_.string("data.cache") == "stream" ? ml::CacheMode::stream
                                                                : ml::CacheMode::automatic;
    const auto cache_bytes = std::uint64_t(deck_.real("data.cache_mb") * 1048576.0);
    const std::string kind = deck_.string("model.kind");
    const auto& mk = ml::model_kind(kind);
    auto open = [&](const std::string& key) {
      auto d = ml::Dataset::open(deck_.string(key), key, cache, cache_bytes);
      d.require(mk.layout, kind);
      return d;
    };
    ml::Dataset train = collective_try(rt_.comm(), [&] { return open("data.train"); });
    std::optional<ml::Dataset> val, test;
    collective_try(rt_.comm(), [&] {
      if (deck_.has("data.val")) {
        val.emplace(open("data.val"));
        val->require_shape(train.shape(), kind);
      }
      if (deck_.has("data.test")) {
        test.emplace(open("data.test"));
        test->require_shape(train.shape(), kind);
      }
    });
    log::info("train: " + std::to_string(train.size()) + " training samples (" +
              train.shape().text() + ")" +
              (val ? ", " + std::to_string(val->size()) + " validation" : std::string()) +
              (test ? ", " + std::to_string(test->size()) + " test" : std::string()));

    // 3. Output and restart.
    const detail::SplitStart start = collective_try(rt_.comm(), [&] {
      auto s = detail::split_start(out_path, options_, detail::any_split_has_files({out_path}));
      if (s == detail::SplitStart::resume) {
        const auto f = io::InputFile::open(ckpt, MPI_COMM_SELF);
        const auto saved = config::Deck::load_string(
            f.attribute_string("/", "deck_resolved"), {}, train_schema(), ckpt);
        // optim.epochs may change (train longer, or stop sooner) when the learning rate at a
        // step does not depend on the run's total steps: constant and step schedules.
        const auto total_free = [](const config::Deck& d) {
          return d.string("optim.schedule") == "constant" || d.string("optim.schedule") == "step";
        };
        auto may_change = restart_may_change;
        may_change.push_back("optim.epochs");
        if (!detail::restart_compatible(saved, deck_, may_change))
          throw input_error("checkpoint '" + ckpt + "' was written by a different deck (only " +
                            "checkpoint.*, progress.*, threads.*, data.cache/prefetch and, with "
                            "a constant or step schedule, optim.epochs may change on "
                            "--restart); rerun with the same deck, or without --restart and "
                            "with --overwrite to start over");
        const auto before = saved.integer("optim.epochs"), now = deck_.integer("optim.epochs");
        if (before != now) {
          if (!total_free(deck_))
            throw input_error("optim.epochs: " + std::to_string(before) + " in checkpoint '" +
                              ckpt + "', " + std::to_string(now) + " now; the " +
                              deck_.string("optim.schedule") +
                              " schedule spreads the learning rate over the run's total "
                              "steps, so the epochs cannot change on --restart; keep " +
                              std::to_string(before));
          const auto epoch = f.attribute_int("/", "epoch");
          const auto into = f.attribute_int("/", "step_in_epoch");
          const auto least = epoch + (into > 0 ? 1 : 0);
          if (now < least)
            throw input_error(
                "optim.epochs: checkpoint '" + ckpt + "' is at epoch " + std::to_string(epoch) +
                (into > 0 ? " and " + std::to_string(into) + " steps into the next" : "") +
                "; set optim.epochs to at least " + std::to_string(least));
          log::info("train: optim.epochs changed on --restart from " + std::to_string(before) +
                    " to " + std::to_string(now));
        }
        if (f.attribute_int("/", "mpi_ranks") != rt_.size())
          throw input_error("checkpoint '" + ckpt + "' was written by a run on " +
                            std::to_string(f.attribute_int("/", "mpi_ranks")) +
                            " ranks; resume it on the same number of ranks (the global batch "
                            "is optim.batch x ranks)");
      }
      return s;
    });
    if (start == detail::SplitStart::skip) {
      log::info("train: " + out_path + " is complete; nothing to do");
      return;
    }
    // 4. Model.
    const auto dtype = deck_.string("model.dtype") == "float64" ? torch::kFloat64 : torch::kFloat32;
    torch::manual_seed(std::uint64_t(deck_.integer("seed")));
    ml::ModelPtr model = collective_try(rt_.comm(), [&] {
      auto m = ml::make_model(kind, deck_.at("model"), train.shape());
      m->to(dtype);
      if (deck_.has("model.init")) {
        const auto f = io::InputFile::open(deck_.string("model.init"), MPI_COMM_SELF);
        const std::string other = ml::model_kind_of(f, "/model");
        if (other != kind)
          throw input_error("model.init '" + deck_.string("model.init") + "' holds a '" + other +
                            "' model; this deck trains '" + kind + "'");
        ml::load_weights(f, "/model", *m);
      }
      return m;
    });
    const bool resuming = start == detail::SplitStart::resume;
    io::OutputFile out = collective_try(rt_.comm(), [&] {
      return io::OutputFile::create(rt_.comm(), out_path, options_.overwrite || resuming);
    });

    std::int64_t parameters = 0;
    for (const auto& p : model->parameters()) parameters += p.numel();

    // 5. Train.
    ml::TrainerOptions to;
    to.seed = std::uint64_t(deck_.integer("seed"));
    to.batch = deck_.integer("optim.batch");
    to.epochs = deck_.integer("optim.epochs");
    to.patience = deck_.integer("optim.patience");
    to.min_delta = deck_.real("optim.min_delta");
    to.monitor = deck_.string("optim.monitor");
    to.clip = deck_.real("optim.clip");
    to.drop_last = deck_.boolean("optim.drop_last");
    to.optimizer.name = deck_.string("optim.name");
    to.optimizer.lr = deck_.real("optim.lr");
    to.optimizer.weight_decay = deck_.real("optim.weight_decay");
    to.optimizer.momentum = deck_.real("optim.momentum");
    to.schedule.kind = deck_.string("optim.schedule");
    to.schedule.lr_min = deck_.real("optim.lr_min");
    to.schedule.gamma = deck_.real("optim.gamma");
    to.schedule.step_size = deck_.integer("optim.step_size");
    to.schedule.pct_start = deck_.real("optim.pct_start");
    to.reducer.bucket_bytes = std::int64_t(deck_.real("parallel.bucket_mb") * 1048576.0);
    to.reducer.overlap = deck_.boolean("parallel.overlap");
    to.reducer.backend = deck_.string("parallel.reducer");
    to.eval_chunk = deck_.integer("optim.eval_batch");
    to.val_max = deck_.integer("data.val_max");
    to.checkpoint_every = std::int64_t(keys.checkpoint_every);
    to.stop_after = std::int64_t(keys.stop_after);
    to.checkpoint_path = ckpt;
    to.progress_interval = keys.progress_interval;
    to.prefetch = int(deck_.integer("data.prefetch"));
    to.dtype = dtype;
    to.device = device;
    to.test_each_epoch = deck_.boolean("optim.test_each_epoch");
    ml::Trainer trainer(rt_.comm(), model, train, val ? &*val : nullptr, to, test ? &*test : nullptr);
    trainer.annotate_checkpoint = [&](io::OutputFile& f) {
      f.set_attribute("/", "deck_resolved", deck_.resolved_yaml());
      f.set_attribute("/", "mpi_ranks", rt_.size());
    };
    if (resuming) {
      collective_try(rt_.comm(), [&] { trainer.restore(ckpt); });
      log::info("train: resuming from " + ckpt + " at epoch " +
                std::to_string(trainer.state().epoch + 1) + ", step " +
                std::to_string(trainer.state().global_step));
    }
    std::ofstream jsonl;
    if (rt_.rank() == 0) {
      jsonl.open(metrics_path, std::ios::trunc);
      for (const auto& m : trainer.state().history) jsonl << m.dump() << "\n";
      jsonl.flush();
    }
    trainer.on_epoch = [&](const nlohmann::json& m) { jsonl << m.dump() << "\n" << std::flush; };
    log::info("train: model " + kind + " " + model->options().dump() + ", " +
              std::to_string(parameters) + " parameters; " +
              std::to_string(trainer.steps_per_epoch()) + " steps per epoch of global batch " +
              std::to_string(to.batch * rt_.size()) + "; gradients in " +
              std::to_string(trainer.reducer().buckets()) + " all-reduce bucket(s)");

    const auto t0 = std::chrono::steady_clock::now();
    signals::install();
    const ml::TrainOutcome outcome = trainer.run();
    signals::uninstall();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (outcome == ml::TrainOutcome::interrupted) {
      out.close();
      if (rt_.rank() == 0) {
        auto j = summary_header("train", "interrupted", out_path, "", to.seed, rt_.size(), deck_.values());
        j["checkpoint"] = ckpt;
        j["global_step"] = trainer.state().global_step;
        j["epochs_done"] = trainer.state().epoch;
        write_json_atomic(summary_path_for(out_path), j);
      }
      throw detail::interrupted_error(trainer.signalled(), keys.stop_after, ckpt,
                                      "step " + std::to_string(trainer.state().global_step), deck_,
                                      rt_.size());
    }

    // 6. Output.
    trainer.use_best_weights();
    std::optional<ml::Evaluation> test_eval;
    if (test) {
      ml::EvaluationOptions eo;
      eo.chunk = to.eval_chunk;
      eo.keep_predictions = true;
      eo.dtype = dtype;
      eo.device = device;
      test_eval = ml::evaluate(rt_.comm(), *model, *test, eo);
      std::string line = "train: test set";
      for (const auto& [k, v] : test_eval->metrics) line += " " + k + " " + std::to_string(v);
      log::info(line);
    }
    {
      std::lock_guard<std::recursive_mutex> lock(ml::hdf5_mutex());
      out.write_provenance({"train", deck_.source_text(), deck_.resolved_yaml(), to.seed});
      ml::write_model(out, "/model", *model);
      const auto& st = trainer.state();
      out.set_attribute("/model", "weights", std::string(st.best_epoch >= 0 ? "best" : "final"));
      out.set_attribute("/model", "best_epoch", st.best_epoch + 1);
      write_metrics(out, st.history);
      if (test_eval) {
        out.create_group("/predictions");
        out.set_attribute("/predictions", "file", test->path());
        for (const auto& [k, v] : test_eval->metrics) out.set_attribute("/predictions", k, v);
        ml::write_predictions(out, "/predictions", *model, *test, *test_eval, true);
      }
      out.set_attribute("/", "model_kind", kind);
      out.set_attribute("/", "epochs_run", st.epoch);
      out.set_attribute("/", "stopped_early", std::int64_t(st.stopped_early));
      out.commit();
    }
    if (rt_.rank() == 0) {
      std::remove(ckpt.c_str());
      const auto& st = trainer.state();
      auto j = summary_header("train", "complete", out_path, "", to.seed, rt_.size(), deck_.values());
      j["model"] = {{"kind", kind}, {"options", model->options()}, {"parameters", parameters}};
      j["epochs_run"] = st.epoch;
      j["global_steps"] = st.global_step;
      j["stopped_early"] = st.stopped_early;
      j["best_epoch"] = st.best_epoch + 1;
      j["best_monitored"] = st.best;
      j["history"] = st.history;
      if (test_eval) j["test"] = test_eval->metrics;
      j["seconds"] = seconds;
      j["threads"] = {{"torch", at::get_num_threads()}, {"blas", blas::threads()}};
      j["device"] = device.str();
      j["allreduce"] = {{"buckets", trainer.reducer().buckets()}, {"bytes", trainer.reducer().bytes()}};
      j["metrics_jsonl"] = metrics_path;
      write_json_atomic(summary_path_for(out_path), j);
    }
    log::info("train: wrote " + out_path + " (summary " + summary_path_for(out_path) + ")");
  }

 private:
  static void write_metrics(io::OutputFile& out, const nlohmann::json& history) {
    out.create_group("/metrics");
    if (history.empty()) return;
    for (const auto& [key, first] : history[0].items()) {
      // Timings differ between runs of the same deck: they stay in the JSON lines and summary,
      // so two runs' files compare equal when their numbers do.
      if (!first.is_number() || key == "samples_per_s" || key.find("seconds") != std::string::npos)
        continue;
      std::vector<double> v;
      for (const auto& m : history) v.push_back(m.contains(key) ? m[key].get<double>() : 0.0);
      out.write_array("/metrics/" + key, v.data(), {v.size()}, "per epoch: " + key, "");
    }
  }

  const config::Deck& deck_;
  Runtime& rt_;
  RunOptions options_;
};

}  // namespace

Workflow train_workflow() {
  Workflow w;
  w.name = "train";
  w.description =
      "train a model (Ising energy language models, MLP) on phyflow HDF5 data, data-parallel "
      "over MPI ranks; writes the model, metrics and test predictions to one HDF5 file";
  w.schema = train_schema;
  w.check = train_check;
  w.run = [](const config::Deck& deck, Runtime& rt, const RunOptions& options) {
    TrainRun(deck, rt, options).run();
  };
  return w;
}

}  // namespace phyflow::workflows
