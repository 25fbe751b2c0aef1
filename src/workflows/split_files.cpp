// Split files and the --restart decision (see split_files.hpp).
#include "split_files.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "phyflow/core/error.hpp"
#include "phyflow/core/signals.hpp"
#include "phyflow/core/summary.hpp"

namespace phyflow::workflows::detail {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string checkpoint_path_for(const std::string& output) {
  const std::string base = summary_path_for(output);  // "x.json"
  return base.substr(0, base.size() - 5) + ".ckpt.h5";
}

bool any_split_has_files(const std::vector<std::string>& outputs) {
  for (const auto& out : outputs)
    if (file_exists(out) || file_exists(out + ".partial") ||
        file_exists(checkpoint_path_for(out)))
      return true;
  return false;
}

SplitStart split_start(const std::string& output, const RunOptions& options,
                       bool any_split_has_files) {
  if (!options.restart) return SplitStart::create;
  const std::string ckpt = checkpoint_path_for(output);
  const bool partial = file_exists(output + ".partial");
  if (file_exists(output) && !partial) return SplitStart::skip;
  if (file_exists(ckpt)) return SplitStart::resume;
  if (!any_split_has_files && !options.overwrite)
    throw input_error("--restart: there is no checkpoint '" + ckpt + "' to resume output '" +
                      output + "' from; run without --restart (add --overwrite to start over)");
  if (partial && !options.overwrite)
    throw input_error("--restart: '" + output + ".partial' has no checkpoint '" + ckpt +
                      "' to resume from (stopped before its first checkpoint); add --overwrite "
                      "to start this split over");
  return SplitStart::create;
}

bool restart_compatible(const config::Deck& saved, const config::Deck& now,
                        const std::vector<std::string>& may_change) {
  auto strip = [&](nlohmann::json v) {
    for (const auto& key : may_change) {
      const auto dot = key.find('.');
      if (dot == std::string::npos)
        v.erase(key);
      else if (v.contains(key.substr(0, dot)))
        v[key.substr(0, dot)].erase(key.substr(dot + 1));
    }
    return v;
  };
  return strip(saved.values()) == strip(now.values());
}

namespace {
std::string shell_word(const std::string& w) {
  const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("_-.,/:=+@%", c) != nullptr;
  });
  if (plain) return w;
  std::string q = "'";
  for (const char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

std::string resume_command(const config::Deck& deck, int same_ranks) {
  std::string cmd;
  if (same_ranks > 1) {
    const char* job = std::getenv("SLURM_JOB_ID");
    cmd = std::string(job != nullptr && *job != '\0' ? "srun" : "mpiexec") + " -n " +
          std::to_string(same_ranks) + " ";
  }
  cmd += "phyflow run " + shell_word(deck.origin());
  for (const auto& o : deck.overrides()) cmd += " --set " + shell_word(o);
  return cmd + " --restart";
}

Error interrupted_error(bool signalled, std::uint64_t stop_after, const std::string& ckpt,
                        const std::string& done, const config::Deck& deck, int same_ranks) {
  const std::string why = signalled ? "signal " + std::to_string(signals::received_signal())
                                    : "checkpoint.stop_after = " + std::to_string(stop_after);
  return Error(ExitCode::interrupted, "stopped by " + why + " after writing checkpoint '" + ckpt +
                                          "' (" + done +
                                          "); resume with: " + resume_command(deck, same_ranks))
      .agreed_from(0);
}

}  // namespace phyflow::workflows::detail
