#include "phyflow/core/log.hpp"

#include <cstdio>
#include <mutex>

namespace phyflow::log {
namespace {
int g_rank = 0;
int g_size = 1;
bool g_all = false;
Level g_min = Level::info;
std::mutex g_warnings_mutex;
std::vector<std::string> g_warnings;

void emit(Level level, const char* tag, const std::string& message) {
  if (level < g_min) return;
  if (g_rank != 0 && !g_all) return;
  if (g_all && g_size > 1)
    std::fprintf(stderr, "[rank %d] %s%s\n", g_rank, tag, message.c_str());
  else
    std::fprintf(stderr, "%s%s\n", tag, message.c_str());
  std::fflush(stderr);
}
}  // namespace

void configure(int rank, int size, bool all_ranks, Level min_level) {
  g_rank = rank;
  g_size = size;
  g_all = all_ranks;
  g_min = min_level;
}
bool all_ranks() { return g_all; }
int rank() { return g_rank; }

void debug(const std::string& message) { emit(Level::debug, "debug: ", message); }
void info(const std::string& message) { emit(Level::info, "", message); }
void warn(const std::string& message) {
  {
    const std::lock_guard<std::mutex> lock(g_warnings_mutex);
    g_warnings.push_back(message);
  }
  emit(Level::warn, "warning: ", message);
}
std::vector<std::string> warnings() {
  const std::lock_guard<std::mutex> lock(g_warnings_mutex);
  return g_warnings;
}
void error_any_rank(const std::string& message) {
  if (g_size > 1)
    std::fprintf(stderr, "phyflow: error (rank %d): %s\n", g_rank, message.c_str());
  else
    std::fprintf(stderr, "phyflow: error: %s\n", message.c_str());
  std::fflush(stderr);
}

std::string number(double v, int digits) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*g", digits, v);
  return text;
}

}  // namespace phyflow::log
