#include "phyflow/core/signals.hpp"

#include <csignal>

namespace phyflow::signals {
namespace {
volatile std::sig_atomic_t g_signal = 0;
bool g_installed = false;

extern "C" void on_signal(int sig) { g_signal = sig; }
}  // namespace

void install() {
  if (g_installed) return;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  g_installed = true;
}

void uninstall() {
  if (!g_installed) return;
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  // SIGUSR1 only ever asks for a checkpoint (Slurm's time-limit warning): one that arrives
  // after the work is done must not kill a run whose output is complete, so it stays ignored
  // rather than going back to its default action (terminate).
  std::signal(SIGUSR1, SIG_IGN);
  g_installed = false;
}

bool stop_requested() { return g_signal != 0; }
int received_signal() { return g_signal; }
void request_stop(int signal_number) { g_signal = signal_number; }

bool stop_requested_anywhere(MPI_Comm comm) {
  int local = g_signal != 0 ? 1 : 0, any = 0;
  MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, comm);
  return any != 0;
}

}  // namespace phyflow::signals
