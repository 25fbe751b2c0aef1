#include "phyflow/core/progress.hpp"

#include "phyflow/core/log.hpp"

#include <cmath>
#include <cstdio>

namespace phyflow {

std::string format_duration(double s) {
  char buf[64];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%d min %02d s", int(s / 60), int(std::fmod(s, 60)));
  else
    std::snprintf(buf, sizeof buf, "%d h %02d min", int(s / 3600), int(std::fmod(s, 3600) / 60));
  return buf;
}

Progress::Progress(std::string label, std::uint64_t total, std::string unit, double interval_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), interval_s_(interval_s) {}

double Progress::elapsed_s() const {
  if (!started_) return 0.0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(std::uint64_t done) {
  const auto now = std::chrono::steady_clock::now();
  if (!started_) {
    started_ = true;
    start_ = last_print_ = now;
    start_done_ = done;
    return;
  }
  if (std::chrono::duration<double>(now - last_print_).count() >= interval_s_) {
    last_print_ = now;
    print(done, false);
  }
}

void Progress::finish() { finish(total_); }

void Progress::finish(std::uint64_t done) {
  if (finished_) return;
  finished_ = true;
  if (!started_) return;
  print(done, true);
}

void Progress::print(std::uint64_t done, bool final_line) {
  const double t = elapsed_s();
  const double rate = t > 0 ? double(done - start_done_) / t : 0.0;
  char buf[256];
  if (final_line) {
    std::snprintf(buf, sizeof buf, "%s: %llu %s in %s (%.4g %s/s)", label_.c_str(),
                  (unsigned long long)done, unit_.c_str(), format_duration(t).c_str(), rate,
                  unit_.c_str());
  } else {
    const double eta = rate > 0 ? double(total_ - done) / rate : -1.0;
    std::snprintf(buf, sizeof buf, "%s: %llu/%llu %s (%.1f%%)  %.4g %s/s  ETA %s", label_.c_str(),
                  (unsigned long long)done, (unsigned long long)total_, unit_.c_str(),
                  total_ ? 100.0 * double(done) / double(total_) : 100.0, rate, unit_.c_str(),
                  format_duration(eta).c_str());
  }
  log::info(buf);
}

}  // namespace phyflow
