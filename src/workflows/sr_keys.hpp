// The symbolic-regression search keys of a deck (operators, search settings, per-operator
// complexity), shared by `workflow: sr` (operators / search.* / complexity.*) and
// `workflow: distill` (sr.operators / sr.* / sr.complexity.*): one schema, one reader.
#pragma once

#include "phyflow/core/config.hpp"
#include "phyflow/sr/search.hpp"

#include <string>

namespace phyflow::workflows {

/// Declares the keys: `operators_key` (list), `prefix` + generations, max_complexity,
/// time_limit_s, ... , and `complexity_prefix` + operator name.
void add_sr_search_keys(config::Schema& s, const std::string& operators_key,
                        const std::string& prefix, const std::string& complexity_prefix);

/// The search options from a deck with those keys (seed from `seed`, progress from
/// progress.interval when the deck has it). Input error for an unknown operator.
sr::SearchOptions sr_search_options(const config::Deck& deck, const std::string& operators_key,
                                    const std::string& prefix, const std::string& complexity_prefix);

}  // namespace phyflow::workflows
