// Graceful stop on SIGTERM / SIGUSR1 / SIGINT (Slurm's --signal and scancel): the handler
// only raises a flag; long loops poll it at safe points, agree across ranks, write a
// checkpoint and exit with ExitCode::interrupted.
#pragma once

#include <mpi.h>

namespace phyflow::signals {

/// Installs the handlers (idempotent).
void install();
/// Restores the default actions of SIGTERM and SIGINT; SIGUSR1 (a checkpoint request) is
/// ignored from then on, so a late one cannot kill a finished run.
void uninstall();
/// True once a stop signal reached this rank.
bool stop_requested();
/// Collective: true on every rank if a stop signal reached any rank.
bool stop_requested_anywhere(MPI_Comm comm);
/// Number of the signal received (0 if none), for messages.
int received_signal();
/// Raises the flag as a signal would (tests, and `checkpoint.stop_after_sweeps`).
void request_stop(int signal_number);

}  // namespace phyflow::signals
