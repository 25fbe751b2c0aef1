# Spack recipe for phyflow: lattice Monte Carlo, N-body ensembles and learning on MPI ranks
# (MPI + Kokkos + parallel HDF5; PETSc and LibTorch optional). This repository uses Spack's
# classic layout (Package API v1.0), which Spack v0.23 and v1.x both read; see spack/README.md.

import os

from spack.package import *

# Spack v1.x moved the build-system base classes out of spack.package into its builtin package
# repository; Spack v0.2x still exports them from spack.package (imported above).
try:
    from spack_repo.builtin.build_systems.cmake import CMakePackage
    from spack_repo.builtin.build_systems.cuda import CudaPackage
except ImportError:
    pass


class Phyflow(CMakePackage, CudaPackage):
    """Lattice Monte Carlo (Ising, phi^4, HMC), N-body ensembles, distributed training,
    normalizing flows and symbolic regression on MPI ranks, one YAML deck per run."""

    # Not yet published: these are the addresses the project will have. Until then build a
    # local checkout with `spack develop` (the environments in spack/environments do this).
    homepage = "https://github.com/phyflow/phyflow"
    git = "https://github.com/phyflow/phyflow.git"

    version("main", branch="main")

    # ---- variants --------------------------------------------------------------------------
    # Every phyflow run goes through MPI, even on one rank (Cartesian decomposition,
    # collective HDF5 files), so the variant exists to say so rather than to be switched off.
    variant("mpi", default=True, description="MPI (required: phyflow is an MPI program)")
    variant("openmp", default=True, description="Kokkos OpenMP backend for host kernels")
    variant("torch", default=True, description="LibTorch: training, flows, distillation")
    variant("petsc", default=True, description="PETSc TS reference integrators (N-body)")
    variant(
        "nccl",
        default=False,
        description="NCCL all-reduce of device gradients (needs +cuda +torch)",
    )
    variant("benchmarks", default=False, description="Build the Google Benchmark programs")
    variant("tests", default=False, description="Build the GoogleTest suite (ctest)")

    conflicts(
        "~mpi",
        msg="phyflow cannot be built without MPI: every run, even a single rank, uses MPI "
        "(domain decomposition and collective parallel HDF5 output)",
    )

    # ---- dependencies ----------------------------------------------------------------------
    depends_on("c", type="build")
    depends_on("cxx", type="build")
    depends_on("cmake@3.24:", type="build")

    depends_on("mpi")
    depends_on("hdf5@1.10: +mpi")
    depends_on("yaml-cpp@0.6:")
    depends_on("nlohmann-json@3.2:")
    depends_on("cli11@2:")
    depends_on("random123")

    # Kokkos: one host backend, plus CUDA when asked. Device lambdas (KOKKOS_LAMBDA) need
    # +cuda_lambda, and nvcc reaches C++ through Kokkos' nvcc_wrapper (+wrapper).
    depends_on("kokkos@4")
    depends_on("kokkos+openmp", when="+openmp")
    depends_on("kokkos~cuda", when="~cuda")
    depends_on("kokkos+cuda+cuda_lambda+wrapper", when="+cuda")
    conflicts("+cuda", when="cuda_arch=none", msg="+cuda needs a GPU architecture: cuda_arch=90")
    # Kokkos compiles for one GPU architecture, so give phyflow exactly one cuda_arch.
    for _arch in CudaPackage.cuda_arch_values:
        depends_on(f"kokkos cuda_arch={_arch}", when=f"+cuda cuda_arch={_arch}")
        depends_on(f"py-torch+cuda cuda_arch={_arch}", when=f"+torch +cuda cuda_arch={_arch}")

    # NCCL reduces gradients that live on the GPU; without CUDA tensors there is nothing to do.
    depends_on("nccl", when="+nccl")
    depends_on("py-torch+nccl", when="+nccl +torch")
    conflicts("+nccl", when="~cuda", msg="+nccl reduces device gradients: it needs +cuda")
    conflicts("+nccl", when="~torch", msg="+nccl reduces LibTorch gradients: it needs +torch")

    depends_on("petsc@3.18: +mpi", when="+petsc")
    depends_on("pkgconfig", type="build", when="+petsc")  # phyflow finds PETSc via PETSc.pc

    # LibTorch is the C++ half of PyTorch; py-torch installs it with its CMake package.
    depends_on("py-torch", when="+torch")
    depends_on("py-torch~cuda", when="+torch ~cuda")
    depends_on("py-torch+cuda", when="+torch +cuda")

    depends_on("benchmark", when="+benchmarks")
    depends_on("googletest", when="+tests")
    depends_on("googletest", type="test")

    # An install without the program or its decks is not one (the stand-alone test needs both).
    sanity_check_is_file = [
        join_path("bin", "phyflow"),
        join_path("share", "phyflow", "inputs", "ising_quick.yaml"),
    ]

    # ---- build -----------------------------------------------------------------------------
    def cmake_args(self):
        spec = self.spec
        build_tests = self.run_tests or spec.satisfies("+tests")
        args = [
            self.define_from_variant("phyflow_ENABLE_TORCH", "torch"),
            self.define_from_variant("phyflow_ENABLE_PETSC", "petsc"),
            self.define_from_variant("phyflow_ENABLE_NCCL", "nccl"),
            self.define_from_variant("phyflow_ENABLE_BENCHMARKS", "benchmarks"),
            self.define("phyflow_ENABLE_TESTS", build_tests),
            # Spack already passes flags for the spec's target; -march=native would tie the
            # binary to the build node instead.
            self.define("phyflow_ENABLE_NATIVE", False),
            self.define("Kokkos_ROOT", spec["kokkos"].prefix),
            self.define("HDF5_ROOT", spec["hdf5"].prefix),
            self.define("MPI_C_COMPILER", spec["mpi"].mpicc),
            self.define("MPI_CXX_COMPILER", spec["mpi"].mpicxx),
        ]
        if spec.satisfies("+cuda"):
            # Kokkos kernels in phyflow's sources must go through the same nvcc_wrapper.
            args.append(self.define("CMAKE_CXX_COMPILER", spec["kokkos"].package.kokkos_cxx))
            args.append(self.define("CUDAToolkit_ROOT", spec["cuda"].prefix))
        if spec.satisfies("+nccl"):
            args.append(self.define("NCCL_INCLUDE_DIR", spec["nccl"].prefix.include))
            args.append(self.define("NCCL_LIBRARY", join_path(spec["nccl"].prefix.lib, "libnccl.so")))
        if spec.satisfies("+torch"):
            args.append(self.define("Torch_DIR", self._torch_cmake_dir))
        return args

    @property
    def _torch_cmake_dir(self):
        """Directory of TorchConfig.cmake inside the py-torch installation:
        <prefix>/<site-packages>/torch/share/cmake/Torch."""
        torch = self.spec["py-torch"]
        site_packages = torch["python"].package.platlib  # relative, e.g. lib/python3.11/...
        return join_path(torch.prefix, site_packages, "torch", "share", "cmake", "Torch")

    # ---- stand-alone test: `spack test run phyflow` ----------------------------------------
    def _mpi_launcher(self):
        """The MPI launcher of the MPI phyflow was built with, else one on PATH."""
        launcher = which(
            join_path(self.spec["mpi"].prefix.bin, "mpiexec"),
            join_path(self.spec["mpi"].prefix.bin, "mpirun"),
            "mpiexec",
            "srun",
        )
        if launcher is None:
            raise SkipTest("no MPI launcher (mpiexec, mpirun or srun) found")
        if self.spec.satisfies("^openmpi") and os.path.basename(launcher.path) != "srun":
            launcher.add_default_arg("--oversubscribe")  # test nodes may have one core
        return launcher

    def test_quick_deck(self):
        """run phyflow info, then the quick Ising deck on two MPI ranks"""
        phyflow = which(self.prefix.bin.phyflow, required=True)

        with test_part(self, "test_quick_deck_info", purpose="phyflow info reports the build"):
            info = phyflow("info", output=str.split, error=str.split)
            assert "Kokkos" in info, f"`phyflow info` does not name the Kokkos backend:\n{info}"

        with test_part(self, "test_quick_deck_run", purpose="run inputs/ising_quick.yaml"):
            # The test runs in Spack's test stage (the current directory), never in the
            # installation prefix, which may be read-only.
            deck = join_path(self.prefix.share, "phyflow", "inputs", "ising_quick.yaml")
            launcher = self._mpi_launcher()
            launcher("-n", "2", phyflow.path, "run", deck, "--set", "output.path=quick.h5")
            for produced in ("quick.h5", "quick.json"):
                assert os.path.isfile(produced), f"phyflow run did not write {produced}"
            assert not os.path.exists("quick.h5.partial"), "a .partial file was left behind"
