// Logging: rank 0 speaks by default; --log-all-ranks makes every rank speak, prefixed with
// its rank (for debugging). Messages go to stderr so stdout stays clean for machine output.
#pragma once

#include <string>
#include <vector>

namespace phyflow::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

/// Called once by Runtime: which rank we are and whether every rank logs.
void configure(int rank, int size, bool all_ranks, Level min_level = Level::info);
bool all_ranks();
int rank();

void debug(const std::string& message);
void info(const std::string& message);
void warn(const std::string& message);
/// Every warning issued so far in this process, in order, whether or not this rank printed it
/// (so rank 0 has the ones every rank issues): each run's JSON summary lists them.
std::vector<std::string> warnings();
/// Printed by whichever rank calls it, prefixed with the rank: used for the fatal message.
void error_any_rank(const std::string& message);

/// v with `digits` significant digits (printf's %g), for messages.
std::string number(double v, int digits = 5);

}  // namespace phyflow::log
