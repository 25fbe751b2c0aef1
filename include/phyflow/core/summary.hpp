// Machine-readable run summaries: one JSON file next to each output file, written atomically
// (temporary file + rename) by rank 0, so a reader never sees half a summary.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace phyflow {

/// "runs/ising.h5" -> "runs/ising.json".
std::string summary_path_for(const std::string& output_path);

/// Writes `summary` to `path` atomically (call on one rank). Throws runtime_error on failure.
void write_json_atomic(const std::string& path, const nlohmann::json& summary);

/// Current UTC time, ISO 8601 ("2026-11-23T09:41:07Z").
std::string utc_now_iso8601();

/// What every workflow's summary starts with: status ("complete" / "interrupted"), workflow,
/// output path, split name, seed, the resolved deck, and provenance (phyflow version, git sha,
/// MPI ranks, Kokkos backend, finish time) and the run's warnings so far (log::warnings()).
/// Workflows add their own results to it.
nlohmann::json summary_header(const std::string& workflow, const std::string& status,
                              const std::string& output, const std::string& split,
                              std::uint64_t seed, int ranks, const nlohmann::json& deck);

}  // namespace phyflow
