// Run-time identification of the BLAS library and its threads (blas.hpp).
#include "phyflow/core/blas.hpp"

#include <dlfcn.h>
#include <link.h>

#include <climits>
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
    if (!path.empty()) s += " from " + path;
    return s + ", " + std::to_string(threads()) + " thread(s)";
  }
  if (path.empty()) return "none loaded";
  if (is_reference())
    return "reference BLAS from " + path +
           " -- slow: install an optimised one (Debian: apt-get install libopenblas0-pthread)";
  return path;
}

}  // namespace phyflow::blas
