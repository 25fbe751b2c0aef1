// Run-time identification of the BLAS library and its threads (blas.hpp).
#include "phyflow/core/blas.hpp"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace phyflow::blas {
namespace {

std::string loaded_blas_path() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        const char* name = info->dlpi_name;
        if (name && (std::strstr(name, "libblas.so") || std::strstr(name, "libopenblas") ||
                     std::strstr(name, "libmkl_rt") || std::strstr(name, "libblis"))) {
          char real[PATH_MAX];
          *static_cast<std::string*>(data) = realpath(name, real) ? real : name;
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

template <class F>
F symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

// Only an OpenBLAS built for many CPUs (DYNAMIC_ARCH) reads OPENBLAS_CORETYPE.
bool kernels_selectable() {
  auto config = symbol<char* (*)()>("openblas_get_config");
  return config && std::strstr(config(), "DYNAMIC_ARCH") != nullptr;
}

}  // namespace

bool is_reference() {
  const std::string path = loaded_blas_path();
  return !path.empty() && path.find("/blas/") != std::string::npos &&
         symbol<char* (*)()>("openblas_get_config") == nullptr;
}

bool set_threads(int n) {
  auto set = symbol<void (*)(int)>("openblas_set_num_threads");
  if (!set || n <= 0) return false;
  set(n);
  return true;
}

int threads() {
  auto get = symbol<int (*)()>("openblas_get_num_threads");
  return get ? get() : 0;
}

std::string description() {
  const std::string path = loaded_blas_path();
  if (auto config = symbol<char* (*)()>("openblas_get_config")) {
    std::string s = std::string("OpenBLAS (") + config() + ")";
    const std::string k = kernels(), better = better_coretype(k, cpu_level());
    if (!better.empty() && kernels_selectable())
      s += " -- its " + k + " kernels are below this CPU's: set OPENBLAS_CORETYPE=" + better;
    if (!path.empty()) s += " from " + path;
    return s + ", " + std::to_string(threads()) + " thread(s)";
  }
  if (path.empty()) return "none loaded";
  if (is_reference())
    return "reference BLAS from " + path +
           " -- slow: install an optimised one (Debian: apt-get install libopenblas0-pthread)";
  return path;
}

VectorLevel cpu_level() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports also checks that the OS saves the registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return VectorLevel::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorLevel::avx2;
  if (__builtin_cpu_supports("avx")) return VectorLevel::avx;
  return VectorLevel::sse;
#else
  return VectorLevel::unknown;
#endif
}

namespace {
// OpenBLAS's x86-64 core names (driver/others/dynamic.c, lower case), by the widest vectors
// their level-3 kernels use.
struct CoreLevel {
  const char* name;
  VectorLevel level;
};
constexpr CoreLevel kCoreLevels[] = {{"skylakex", VectorLevel::avx512},
                                     {"cooperlake", VectorLevel::avx512},
                                     {"sapphirerapids", VectorLevel::avx512},
                                     {"haswell", VectorLevel::avx2},
                                     {"zen", VectorLevel::avx2},
                                     {"excavator", VectorLevel::avx2},
                                     {"sandybridge", VectorLevel::avx},
                                     {"bulldozer", VectorLevel::avx},
                                     {"piledriver", VectorLevel::avx},
                                     {"steamroller", VectorLevel::avx},
                                     {"katmai", VectorLevel::sse},
                                     {"coppermine", VectorLevel::sse},
                                     {"northwood", VectorLevel::sse},
                                     {"prescott", VectorLevel::sse},
                                     {"banias", VectorLevel::sse},
                                     {"atom", VectorLevel::sse},
                                     {"core2", VectorLevel::sse},
                                     {"penryn", VectorLevel::sse},
                                     {"dunnington", VectorLevel::sse},
                                     {"nehalem", VectorLevel::sse},
                                     {"athlon", VectorLevel::sse},
                                     {"opteron", VectorLevel::sse},
                                     {"opteron_sse3", VectorLevel::sse},
                                     {"barcelona", VectorLevel::sse},
                                     {"nano", VectorLevel::sse},
                                     {"bobcat", VectorLevel::sse}};

// Per vector level, the core whose kernels use it (the one OPENBLAS_CORETYPE names) and the
// level's name for messages.
struct LevelCore {
  VectorLevel level;
  const char* coretype;
  const char* vectors;
};
constexpr LevelCore kLevelCores[] = {{VectorLevel::avx512, "SkylakeX", "AVX-512"},
                                     {VectorLevel::avx2, "Haswell", "AVX2"},
                                     {VectorLevel::avx, "Sandybridge", "AVX"}};

const LevelCore* level_core(VectorLevel level) {
  for (const auto& l : kLevelCores)
    if (l.level == level) return &l;
  return nullptr;
}
}  // namespace

VectorLevel kernel_level(const std::string& core) {
  std::string c(core);
  std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (const auto& k : kCoreLevels)
    if (c == k.name) return k.level;
  return VectorLevel::unknown;
}

std::string better_coretype(const std::string& core, VectorLevel cpu) {
  const VectorLevel k = kernel_level(core);
  if (k == VectorLevel::unknown || cpu == VectorLevel::unknown || k >= cpu) return "";
  const LevelCore* l = level_core(cpu);
  return l ? l->coretype : "";
}

std::string kernels() {
  auto corename = symbol<char* (*)()>("openblas_get_corename");
  return corename ? std::string(corename()) : std::string();
}

namespace {
constexpr const char* kRetunedFrom = "PHYFLOW_BLAS_RETUNED_FROM";
}

void retune_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = kernels();
  if (core.empty() || !kernels_selectable()) return;
  const VectorLevel cpu = cpu_level();
  const std::string better = better_coretype(core, cpu);  // non-empty: cpu is in kLevelCores
  if (better.empty()) return;
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
  setenv(kRetunedFrom, core.c_str(), 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  // Not restarted (no /proc, say): carry on with the kernels OpenBLAS chose, and say so.
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kRetunedFrom);
  std::fprintf(stderr,
               "phyflow: warning: OpenBLAS runs its %s kernels on this CPU, which has %s; "
               "matrix products will be slow: set OPENBLAS_CORETYPE=%s before starting phyflow\n",
               core.c_str(), level_core(cpu)->vectors, better.c_str());
}

std::string retune_note() {
  const char* variable = std::getenv(kRetunedFrom);
  if (variable == nullptr) return "";
  const std::string from_copy(variable);
  unsetenv(kRetunedFrom);  // processes this one starts were not restarted
  const char* from = from_copy.c_str();
  const std::string now = kernels();
  const char* want = std::getenv("OPENBLAS_CORETYPE");
  if (want != nullptr && kernel_level(now) < kernel_level(want))
    return std::string("OpenBLAS chose its ") + from + " kernels for this CPU and still runs " +
           now + " with OPENBLAS_CORETYPE=" + want +
           " (a build without DYNAMIC_ARCH?): matrix products will be slow";
  return std::string("BLAS: OpenBLAS chose its generic ") + from +
         " kernels for this CPU (a model newer than the library); restarted with "
         "OPENBLAS_CORETYPE=" +
         now + " (set OPENBLAS_CORETYPE yourself to choose)";
}

}  // namespace phyflow::blas
