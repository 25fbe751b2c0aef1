// Progress lines for long loops: rank 0 prints what is done, the rate and the ETA, at most
// once per interval, plus a final line. Cheap enough to call every iteration.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace phyflow {

class Progress {
 public:
  /// `unit` names what is counted ("sweeps", "steps"); `interval_s` spaces the lines.
  Progress(std::string label, std::uint64_t total, std::string unit, double interval_s = 5.0);
  /// Reports that `done` of `total` units are complete (prints if the interval has passed).
  void update(std::uint64_t done);
  /// Prints the final line with the mean rate.
  void finish();
  /// The final line of a loop stopped early (a time limit), after `done` of `total` units.
  void finish(std::uint64_t done);
  double elapsed_s() const;

 private:
  void print(std::uint64_t done, bool final_line);
  std::string label_, unit_;
  std::uint64_t total_, start_done_ = 0;
  double interval_s_;
  bool started_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

/// "1.5 s", "3 min 2 s", "2 h 05 min".
std::string format_duration(double seconds);

}  // namespace phyflow
