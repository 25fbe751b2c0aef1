// Rank -> host / CPUs / GPUs report (see placement.hpp).
#include "phyflow/core/placement.hpp"

#include "phyflow/core/error.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

namespace phyflow {

std::string compact_cpu_list(const std::vector<int>& cpus_in) {
  std::vector<int> cpus = cpus_in;
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += (j == i + 1 ? "," : "-") + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

RankPlacement this_placement() {
  RankPlacement p;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) p.host = host;
  if (p.host.empty()) p.host = "?";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    p.cpus = compact_cpu_list(cpus);
  } else {
    p.cpus = "?";
  }
  for (const char* var : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"})
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      p.gpus = v;
      break;
    }
  return p;
}

std::vector<std::string> placement_report(MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  RankPlacement mine = this_placement();
  mine.rank = rank;
  // Fixed-size records: host, cpus, gpus, each cut to its field (a report, not an identity).
  constexpr int field = 128;
  char record[3 * field] = {};
  std::strncpy(record, mine.host.c_str(), field - 1);
  std::strncpy(record + field, mine.cpus.c_str(), field - 1);
  std::strncpy(record + 2 * field, mine.gpus.c_str(), field - 1);
  std::vector<char> all(rank == 0 ? static_cast<std::size_t>(size) * sizeof record : 0);
  check_mpi(MPI_Gather(record, sizeof record, MPI_CHAR, all.data(), sizeof record, MPI_CHAR, 0,
                       comm),
            "MPI_Gather (rank placement)");
  std::vector<std::string> lines;
  if (rank != 0) return lines;
  // Hosts in the order of their first rank; ranks in order within a host.
  std::vector<std::string> hosts;
  std::map<std::string, std::string> text;
  for (int r = 0; r < size; ++r) {
    const char* rec = all.data() + static_cast<std::size_t>(r) * sizeof record;
    const std::string host(rec), cpus(rec + field), gpus(rec + 2 * field);
    std::string& line = text[host];
    if (line.empty())
      hosts.push_back(host);
    else
      line += "; ";
    line += "rank " + std::to_string(r) + " cpus " + cpus;
    if (!gpus.empty()) line += " gpu " + gpus;
  }
  for (const std::string& h : hosts) lines.push_back(h + ": " + text[h]);
  return lines;
}

}  // namespace phyflow
