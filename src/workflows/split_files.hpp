// Private to the workflows: the files of a run's splits (output, .partial, checkpoint) and the
// one --restart decision every workflow makes from them, so Ising, N-body and the later
// training/flow runs resume the same way.
#pragma once

#include "phyflow/core/config.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/workflows/workflow.hpp"

#include <string>
#include <vector>

namespace phyflow::workflows::detail {

bool file_exists(const std::string& path);

/// "runs/x.h5" -> "runs/x.ckpt.h5".
std::string checkpoint_path_for(const std::string& output);

/// Whether any of the outputs has a final file, a .partial or a checkpoint: decided before a
/// run touches any of them, it tells a --restart that continues from one that has nothing.
bool any_split_has_files(const std::vector<std::string>& outputs);

enum class SplitStart { create, resume, skip };

/// What a run does with the split writing `output`:
///   without --restart: create (OutputFile::create refuses to replace without --overwrite);
///   --restart: skip a complete one (no .partial), resume one with a checkpoint, create one
///   never begun (when another split left files: the stopped run had not reached it), and
///   create a .partial without checkpoint again only with --overwrite.
/// Throws input_error naming the file and the fix otherwise. Checks the file system on every
/// rank: call it inside collective_try.
SplitStart split_start(const std::string& output, const RunOptions& options,
                       bool any_split_has_files);

/// Whether a checkpoint's deck and the restarting deck agree on everything but the sections
/// and keys in `may_change` ("checkpoint", "ensemble.batch", ...).
bool restart_compatible(const config::Deck& saved, const config::Deck& now,
                        const std::vector<std::string>& may_change);

/// The command that resumes a run of `deck`: its file and every --set override it was given,
/// each quoted for a POSIX shell where it needs it, then --restart. `same_ranks` > 1: the
/// checkpoint resumes only on that many ranks (a trainer's: its batch is split over them), and
/// the command starts with the launcher for them (`srun -n N` inside a Slurm allocation,
/// `mpiexec -n N` elsewhere); 0 or 1: `phyflow run ...` as it stands (checkpoints of the
/// simulation workflows resume on any number of ranks).
std::string resume_command(const config::Deck& deck, int same_ranks = 0);

/// The exit-3 error of a run that stopped after writing checkpoint `ckpt` (every rank throws
/// it alike): why it stopped (the signal, or checkpoint.stop_after = `stop_after` when not
/// `signalled`), how far it got (`done`), and the command that resumes it (`same_ranks` as
/// for resume_command).
Error interrupted_error(bool signalled, std::uint64_t stop_after, const std::string& ckpt,
                        const std::string& done, const config::Deck& deck, int same_ranks = 0);

}  // namespace phyflow::workflows::detail
