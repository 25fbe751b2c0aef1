// Collective error agreement: runs a step on every rank and, if it fails on any rank, makes
// every rank throw the same phyflow::Error (the lowest failing rank's message). Used around
// set-up steps (deck checks, output creation) so a bad input stops all ranks cleanly with one
// message and exit code 2 instead of a hang or an MPI_Abort.
#pragma once

#include "phyflow/core/error.hpp"

#include <mpi.h>

#include <exception>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>

namespace phyflow {

namespace detail {
/// Collective: given this rank's outcome, throws the agreed error on every rank if any failed.
void agree_on_failure(MPI_Comm comm, bool failed, ExitCode code, const std::string& message);
}  // namespace detail

template <class F>
auto collective_try(MPI_Comm comm, F&& step) -> decltype(step()) {
  bool failed = false;
  ExitCode code = ExitCode::ok;
  std::string message;
  if constexpr (std::is_void_v<decltype(step())>) {
    try {
      step();
    } catch (const Error& e) {
      failed = true, code = e.code(), message = e.what();
    } catch (const std::exception& e) {
      failed = true, code = ExitCode::runtime_failure, message = e.what();
    }
    detail::agree_on_failure(comm, failed, code, message);
  } else {
    std::optional<decltype(step())> result;
    try {
      result.emplace(step());
    } catch (const Error& e) {
      failed = true, code = e.code(), message = e.what();
    } catch (const std::exception& e) {
      failed = true, code = ExitCode::runtime_failure, message = e.what();
    }
    detail::agree_on_failure(comm, failed, code, message);
    return std::move(*result);
  }
}

}  // namespace phyflow
