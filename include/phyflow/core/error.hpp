// The one error type of phyflow. Whatever goes wrong reaches the user as a single message that
// names the key or file at fault and the fix; the kind selects the exit code (DESIGN.md §3).
#pragma once

#include <stdexcept>
#include <string>

namespace phyflow {

/// Exit codes of the phyflow program.
enum class ExitCode : int {
  ok = 0,
  runtime_failure = 1,  ///< something failed while running (I/O, MPI, numerics)
  bad_input = 2,        ///< the deck, a flag or an input file is wrong: nothing was run
  interrupted = 3,      ///< stopped by a signal after writing a checkpoint; resume with --restart
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

  /// Set by collective_try(): every rank holds this same error, so the program can print it
  /// once and finalise normally instead of aborting.
  bool agreed() const noexcept { return origin_rank_ >= 0; }
  /// The rank that raised it first (-1 unless agreed()).
  int origin_rank() const noexcept { return origin_rank_; }
  Error agreed_from(int rank) const {
    Error e = *this;
    e.origin_rank_ = rank;
    return e;
  }

 private:
  ExitCode code_;
  int origin_rank_ = -1;
};

/// Bad deck, flag or input file: exit code 2.
inline Error input_error(const std::string& message) { return Error(ExitCode::bad_input, message); }
/// Failure while running: exit code 1.
inline Error runtime_error(const std::string& message) {
  return Error(ExitCode::runtime_failure, message);
}

/// Throws a runtime error naming the MPI call if rc is not MPI_SUCCESS (defined in runtime.cpp
/// so this header stays free of <mpi.h>).
void check_mpi(int rc, const char* call);

}  // namespace phyflow
