#include "phyflow/core/build_info.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/workflows/workflow.hpp"

namespace phyflow::workflows {

const std::vector<Workflow>& registry() {
  static const std::vector<Workflow> all = {
    ising_workflow(), nbody_workflow(), sr_workflow(), phi4_workflow(),
#if PHYFLOW_HAVE_TORCH
    train_workflow(), distill_workflow(), flow_workflow(), dataset_workflow(),
#endif
  };
  return all;
}

const Workflow& find(const std::string& name) {
  const auto& all = registry();
  const Workflow* best = nullptr;
  std::string names;
  for (const auto& w : all) {
    if (w.name == name) return w;
    names += (names.empty() ? "" : ", ") + w.name;
    if (!best || config::edit_distance(name, w.name) < config::edit_distance(name, best->name))
      best = &w;
  }
  throw input_error("unknown workflow '" + name + "' -- did you mean '" + best->name +
                    "'? (known: " + names + ")");
}

config::Deck load_deck(const std::string& path, const std::vector<std::string>& overrides,
                       int ranks, const Workflow** workflow_out) {
  const Workflow& w = find(config::Deck::workflow_of_file(path));
  config::Deck deck = config::Deck::load_file(path, overrides, w.schema());
  if (w.check) w.check(deck, ranks);
  if (workflow_out) *workflow_out = &w;
  return deck;
}

}  // namespace phyflow::workflows
