// The workflow registry: libphyflow's own workflows, and the learning ones of libphyflow_ml,
// which is opened (dlopen) only when one of them, or `predict`, is asked for.
#include "phyflow/core/build_info.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/workflows/workflow.hpp"

#include <dlfcn.h>

#include <mutex>

namespace phyflow::workflows {
namespace {

const std::vector<Workflow>& own() {
  static const std::vector<Workflow> all = {ising_workflow(), nbody_workflow(), sr_workflow(),
                                            phi4_workflow()};
  return all;
}

/// The directory libphyflow was loaded from (the plug-in is installed next to it).
std::string own_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&own), &info) == 0 || info.dli_fname == nullptr)
    return "";
  const std::string path = info.dli_fname;
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

}  // namespace

const MlPlugin& ml_plugin() {
  if (!PHYFLOW_HAVE_TORCH)
    throw input_error("this phyflow was built without LibTorch (phyflow_ENABLE_TORCH=OFF), so "
                      "the learning workflows (train, distill, flow, dataset) and `predict` are "
                      "absent; rebuild with LibTorch (Spack: phyflow+torch)");
  static const MlPlugin* plugin = nullptr;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    const std::string soname = "libphyflow_ml.so." + std::to_string(PHYFLOW_VERSION_MAJOR);
    const std::string path = own_directory() + soname;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      error = "cannot load the learning half of phyflow, '" + path + "': " +
              (why ? why : "unknown error") +
              " (it is installed next to libphyflow; check that LibTorch's libraries are found)";
      return;
    }
    using Entry = const MlPlugin* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "phyflow_ml_plugin"));
    if (entry == nullptr) {
      error = "'" + path + "' has no phyflow_ml_plugin entry: it does not belong to this phyflow";
      return;
    }
    plugin = entry();
  });
  if (plugin == nullptr) throw runtime_error(error);
  return *plugin;
}

const std::vector<Workflow>& registry() {
  static const std::vector<Workflow> all = [] {
    std::vector<Workflow> v = own();
    if (PHYFLOW_HAVE_TORCH)
      for (const auto& w : ml_plugin().workflows) v.push_back(w);
    return v;
  }();
  return all;
}

const Workflow& find(const std::string& name) {
  for (const auto& w : own())
    if (w.name == name) return w;
  const auto& all = PHYFLOW_HAVE_TORCH ? registry() : own();
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
