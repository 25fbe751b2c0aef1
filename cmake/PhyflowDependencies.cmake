# Finds every dependency of libphyflow and reports it through feature_summary().
# Each find is strict: a missing dependency stops configure with a message naming the
# Debian package (scripts/bootstrap installs them all) or the Spack spec that provides it.

include(FeatureSummary)

# ---- MPI and OpenMP ---------------------------------------------------------------------
find_package(MPI REQUIRED COMPONENTS C CXX)
set_package_properties(MPI PROPERTIES TYPE REQUIRED
  PURPOSE "Domain decomposition and data parallelism (Debian: libopenmpi-dev openmpi-bin)")
find_package(OpenMP REQUIRED COMPONENTS CXX)
set_package_properties(OpenMP PROPERTIES TYPE REQUIRED
  PURPOSE "Threads inside a rank (symbolic regression, host loops)")

# ---- parallel HDF5 ----------------------------------------------------------------------
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
set_package_properties(HDF5 PROPERTIES TYPE REQUIRED
  PURPOSE "Collective output files (Debian: libhdf5-openmpi-dev)")
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "The HDF5 found (${HDF5_C_INCLUDE_DIRS}) is serial; phyflow writes its files collectively "
    "and needs an MPI-enabled HDF5. On Debian: apt-get install libhdf5-openmpi-dev. "
    "Elsewhere point HDF5_ROOT at a parallel build (spack: hdf5+mpi).")
endif()
if(NOT TARGET HDF5::HDF5)
  add_library(HDF5::HDF5 INTERFACE IMPORTED)
  set_target_properties(HDF5::HDF5 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${HDF5_C_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${HDF5_C_LIBRARIES}"
    INTERFACE_COMPILE_DEFINITIONS "${HDF5_C_DEFINITIONS}")
endif()

# ---- Kokkos -----------------------------------------------------------------------------
find_package(Kokkos 3.4 REQUIRED)
set_package_properties(Kokkos PROPERTIES TYPE REQUIRED
  PURPOSE "On-rank kernels (Debian: libtrilinos-kokkos-dev, Spack: kokkos@4)")
include(PhyflowKokkosFix)
# scripts/build-kokkos installs Kokkos 4 inside the checkout (build-kokkos4-*/install), which
# CMAKE_INSTALL_RPATH_USE_LINK_PATH counts as part of the project and leaves out of the
# installed RUNPATH; name its library directory so an installed phyflow still finds it.
if(Kokkos_DIR AND Kokkos_DIR MATCHES "^${PROJECT_SOURCE_DIR}/")
  get_filename_component(_pf_kokkos_libdir "${Kokkos_DIR}/../.." ABSOLUTE)
  list(APPEND CMAKE_INSTALL_RPATH "${_pf_kokkos_libdir}")
endif()
if(Kokkos_VERSION)
  set(PHYFLOW_KOKKOS_VERSION "${Kokkos_VERSION}")
else()
  set(PHYFLOW_KOKKOS_VERSION "${Kokkos_VERSION_MAJOR}.${Kokkos_VERSION_MINOR}")
endif()

# ---- PETSc (pkg-config) ------------------------------------------------------------------
set(PHYFLOW_HAVE_PETSC OFF)
if(phyflow_ENABLE_PETSC)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PETSc REQUIRED IMPORTED_TARGET GLOBAL PETSc)
  set(PHYFLOW_HAVE_PETSC ON)
  add_feature_info(PETSc PHYFLOW_HAVE_PETSC
    "PETSc ${PETSc_VERSION}: TS integrators (Debian: libpetsc-real-dev)")
endif()

# ---- LibTorch ----------------------------------------------------------------------------
set(PHYFLOW_HAVE_TORCH OFF)
if(phyflow_ENABLE_TORCH)
  find_package(Torch REQUIRED)
  set_package_properties(Torch PROPERTIES TYPE REQUIRED
    PURPOSE "Training and flows (Debian: libtorch-dev, Spack: py-torch)")
  set(PHYFLOW_HAVE_TORCH ON)
  # LibTorch 2.x releases since about 2.10 refuse C++17 (ATen.h: "C++20 or later compatible
  # compiler is required"); Debian's 1.13 is C++17. Ask for what the headers found require.
  set(PHYFLOW_TORCH_NEEDS_CXX20 OFF)
  foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
    if(EXISTS "${_dir}/ATen/ATen.h")
      file(STRINGS "${_dir}/ATen/ATen.h" _cxx20 REGEX "C\\+\\+20 or later")
      if(_cxx20)
        set(PHYFLOW_TORCH_NEEDS_CXX20 ON)
      endif()
    endif()
  endforeach()
  add_feature_info(TorchCxx20 PHYFLOW_TORCH_NEEDS_CXX20 "LibTorch ${Torch_VERSION} needs C++20")
endif()

# ---- NCCL (device gradients; only with a CUDA LibTorch) ----------------------------------
# TorchConfig.cmake fills TORCH_CUDA_LIBRARIES only for a CUDA build of LibTorch.
set(PHYFLOW_HAVE_NCCL OFF)
if(phyflow_ENABLE_NCCL AND PHYFLOW_HAVE_TORCH AND TORCH_CUDA_LIBRARIES)
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_ROOT
    PATH_SUFFIXES include DOC "Directory holding nccl.h")
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_ROOT
    PATH_SUFFIXES lib lib64 DOC "The NCCL library")
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(PHYFLOW_HAVE_NCCL ON)
  endif()
endif()
add_feature_info(NCCL PHYFLOW_HAVE_NCCL "NCCL gradient reducer for CUDA tensors (${NCCL_LIBRARY})")

# ---- small libraries ---------------------------------------------------------------------
find_package(yaml-cpp REQUIRED)
set_package_properties(yaml-cpp PROPERTIES TYPE REQUIRED PURPOSE "Decks (Debian: libyaml-cpp-dev)")
find_package(nlohmann_json 3.2 REQUIRED)
set_package_properties(nlohmann_json PROPERTIES TYPE REQUIRED
  PURPOSE "Run summaries (Debian: nlohmann-json3-dev)")
find_package(CLI11 REQUIRED)
set_package_properties(CLI11 PROPERTIES TYPE REQUIRED PURPOSE "Command line (Debian: libcli11-dev)")

find_path(Random123_INCLUDE_DIR Random123/philox.h
  DOC "Directory holding Random123/philox.h (Debian: librandom123-dev)")
if(NOT Random123_INCLUDE_DIR)
  message(FATAL_ERROR "Random123 (Random123/philox.h) not found: apt-get install "
    "librandom123-dev, or set Random123_INCLUDE_DIR (spack: random123).")
endif()
add_feature_info(Random123 Random123_INCLUDE_DIR "Counter-based Philox RNG (${Random123_INCLUDE_DIR})")

if(phyflow_ENABLE_TESTS)
  find_package(GTest REQUIRED)
  set_package_properties(GTest PROPERTIES TYPE REQUIRED PURPOSE "Unit tests (Debian: libgtest-dev)")
endif()
if(phyflow_ENABLE_BENCHMARKS)
  find_package(benchmark REQUIRED)
  set_package_properties(benchmark PROPERTIES TYPE REQUIRED
    PURPOSE "bench/ (Debian: libbenchmark-dev)")
endif()
