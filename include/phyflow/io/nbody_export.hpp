// `phyflow export FILE.h5 --npy`: an N-body output (`/data` (ns, nt, n, 2*dim+2) = x, v, q, m
// per body and `/accel` (ns, nt, n, dim), workflow: nbody) as the pair of .npy files the seed
// project (symbolic_distillation, simulations/run_sims.py) saved, optionally pruned of outlier
// frames by the seed loader's percentile rule, so users of the original tools can read our data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::io {

struct NbodyNpyExportOptions {
  std::string input;             ///< the HDF5 file (complete: a `.partial` is refused)
  std::string out_dir;           ///< where the .npy files go; empty: the input's directory
  bool prune = false;            ///< drop outlier frames (the seed loader's prune_outliers = P)
  double prune_percentile = 99;  ///< P, 50 < P < 100
  bool overwrite = false;        ///< replace existing output files
  /// Granularity of reads (and of the write buffer): about this many bytes of /data per slab.
  std::uint64_t slab_bytes = std::uint64_t(64) << 20;
};

struct NbodyNpyExportResult {
  std::string data_path, accel_path;  ///< the files written
  std::uint64_t ns = 0, nt = 0, n = 0, dim = 0;
  std::uint64_t frames = 0;       ///< ns * nt graphs in the input
  std::uint64_t frames_kept = 0;  ///< == frames unless pruned
  bool pruned = false;
  double velocity_lower = 0, velocity_upper = 0;  ///< bounds when pruned (kept: strictly inside)
  double accel_lower = 0, accel_upper = 0;
  /// What the command prints: files, shapes and, when pruned, the bounds and how many frames
  /// (and what percentage) were dropped.
  std::string summary() const;
};

/// Reads `options.input` on the calling process alone (MPI_COMM_SELF) and writes the two .npy
/// files, each first as NAME.partial and renamed when complete.
///
/// Without pruning: `sim={law}_key={seed}_ns={ns}_n={n}_dim={dim}_nt={nt}_dt={dt:.0e}.npy`
/// holding /data and `accel_` + the same name holding /accel, bit for bit, streamed in slabs
/// (any file size).
///
/// With pruning (P): over the whole file, the bounds of all velocity components and of all
/// acceleration components are NumPy's np.percentile(values, P) and np.percentile(values,
/// 100 - P); a frame (one simulation at one time) is kept iff every velocity component of every
/// body lies strictly inside its bounds and every acceleration component strictly inside its
/// bounds. The kept frames are written in the seed loader's order (time-major: every
/// simulation at t = 0, then t = 1, ...) as (kept, 1, n, 2*dim+2) and (kept, 1, n, dim), so the
/// seed's loader (which concatenates along axis 1) sees exactly the pruned graphs; the names
/// get the suffix `_pruned={P}`. Memory: all velocity components, then all acceleration
/// components, are held as float64 (8*ns*nt*n*dim bytes) plus 16 bytes per frame.
///
/// Input errors (exit 2) name the file and the fix: missing or incomplete input, a file not
/// written by workflow nbody, /data or /accel missing, not float64 rank 4, mismatched shapes,
/// missing law/seed/dt attributes, P outside (50, 100), NaN in the values to prune by, a
/// missing output directory, an existing output without `overwrite`.
NbodyNpyExportResult export_nbody_npy(const NbodyNpyExportOptions& options);

/// The seed's file stem "sim=spring_key=1_ns=10_n=4_dim=2_nt=500_dt=1e-02" (no ".npy"); dt is
/// formatted as Python's "{:.0e}".format(dt).
std::string seed_npy_stem(const std::string& law, std::int64_t seed, std::uint64_t ns,
                          std::uint64_t n, std::uint64_t dim, std::uint64_t nt, double dt);

/// np.percentile(values, p) for each p in `percents` with NumPy's default method ('linear',
/// Hyndman & Fan type 7), reproduced to the last bit: virtual index (N-1)*p/100 between the
/// order statistics a[i] and a[i+1], interpolated as NumPy's _lerp does (a + (b-a)*g for
/// g < 0.5, else b - (b-a)*(1-g)). Reorders `values` (std::nth_element); values must not be
/// empty or hold NaN.
std::vector<double> numpy_percentiles(std::vector<double>& values,
                                      const std::vector<double>& percents);

}  // namespace phyflow::io
