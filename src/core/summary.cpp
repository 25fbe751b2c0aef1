#include "phyflow/core/summary.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "phyflow/core/blas.hpp"
#include "phyflow/core/build_info.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/core/runtime.hpp"

namespace phyflow {

std::string summary_path_for(const std::string& output_path) {
  const auto slash = output_path.find_last_of('/');
  const auto dot = output_path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return output_path.substr(0, dot) + ".json";
  return output_path + ".json";
}

void write_json_atomic(const std::string& path, const nlohmann::json& summary) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw runtime_error("cannot write summary '" + tmp + "': " + std::strerror(errno));
    out << summary.dump(2) << "\n";
    if (!out) throw runtime_error("writing summary '" + tmp + "' failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw runtime_error("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json summary_header(const std::string& workflow, const std::string& status,
                              const std::string& output, const std::string& split,
                              std::uint64_t seed, int ranks, const nlohmann::json& deck) {
  nlohmann::json j;
  j["status"] = status;
  j["workflow"] = workflow;
  j["output"] = output;
  j["split"] = split;
  j["seed"] = seed;
  j["phyflow_version"] = PHYFLOW_VERSION;
  j["git_sha"] = PHYFLOW_GIT_SHA;
  j["mpi_ranks"] = ranks;
  j["kokkos_backend"] = Runtime::kokkos_backend();
  // Matrix products' speed depends on these (OpenBLAS picks its kernels per CPU model).
  j["blas"] = {{"library", blas::description()}, {"kernels", blas::kernels()}};
  j["finished_utc"] = utc_now_iso8601();
  // What the run warned about (its log's "warning:" lines), so that scripts over many runs
  // need not parse logs: [] for a run without warnings.
  j["warnings"] = log::warnings();
  j["deck"] = deck;
  return j;
}

}  // namespace phyflow
