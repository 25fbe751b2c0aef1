// The phi^4 field of one rank's block, its halo exchange and host copies.
#include "phyflow/lattice/phi4_field.hpp"

#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

#include <string>

namespace phyflow::lattice {

void Phi4Field::check_geometry(const std::vector<int>& global_extent) {
  const int d = static_cast<int>(global_extent.size());
  if (d < 1 || d > Phi4Geometry::kMaxDims)
    throw input_error("action.dims = " + std::to_string(d) +
                      " is out of range: phi^4 runs in d = 1, 2, 3 or 4 dimensions");
  for (int e : global_extent)
    if (e < 2 || e % 2 != 0)
      throw input_error("action.L = " + std::to_string(e) +
                        " must be even and >= 2 (the checkerboard colouring must be periodic); "
                        "use e.g. L = " + std::to_string(e < 2 ? 2 : e + 1));
}

Phi4Field::Phi4Field(CartDecomposition decomposition) : decomposition_(std::move(decomposition)) {
  check_geometry(decomposition_.global_extent());
  Phi4Geometry& g = geometry_;
  g.d = decomposition_.dims();
  std::int64_t stride = 1, gstride = 1;
  g.local_sites = 1;
  for (int k = g.d - 1; k >= 0; --k) {
    g.n[k] = decomposition_.local_extent()[k];
    g.off[k] = decomposition_.local_offset()[k];
    g.G[k] = decomposition_.global_extent()[k];
    g.stride[k] = stride;
    g.gstride[k] = gstride;
    stride *= g.n[k] + 2;
    gstride *= g.G[k];
    g.local_sites *= g.n[k];
  }
  g.padded_sites = stride;
  phi_ = FieldView("phi4_field", static_cast<std::size_t>(g.padded_sites));
  for (int k = 0; k < g.d; ++k) {
    Face f;
    f.dim = k;
    f.count = g.local_sites / g.n[k];
    const auto n = static_cast<std::size_t>(f.count);
    f.send_lo = Kokkos::View<double*>("phi4_send_lo", n);
    f.send_hi = Kokkos::View<double*>("phi4_send_hi", n);
    f.recv_lo = Kokkos::View<double*>("phi4_recv_lo", n);
    f.recv_hi = Kokkos::View<double*>("phi4_recv_hi", n);
    f.host_send_lo = Kokkos::create_mirror_view(f.send_lo);
    f.host_send_hi = Kokkos::create_mirror_view(f.send_hi);
    f.host_recv_lo = Kokkos::create_mirror_view(f.recv_lo);
    f.host_recv_hi = Kokkos::create_mirror_view(f.recv_hi);
    faces_.push_back(f);
  }
}

namespace {

/// Padded index of element `f` of the face of dimension k at coordinate x_k = `x` (padded).
KOKKOS_INLINE_FUNCTION std::int64_t face_index(const Phi4Geometry& g, int k, std::int64_t f,
                                               int x) {
  std::int64_t p = x * g.stride[k];
  for (int j = g.d - 1; j >= 0; --j) {
    if (j == k) continue;
    p += (f % g.n[j] + 1) * g.stride[j];
    f /= g.n[j];
  }
  return p;
}

}  // namespace

void Phi4Field::fill(double value) {
  Kokkos::deep_copy(phi_, value);
}

void Phi4Field::fill_random(std::uint64_t seed) {
  const Phi4Geometry g = geometry_;
  const rng::Stream stream(seed, rng::purpose("phi4-init"));
  auto phi = phi_;
  Kokkos::parallel_for(
      "phi4_fill_random", Kokkos::RangePolicy<>(0, g.local_sites), KOKKOS_LAMBDA(std::int64_t i) {
        std::int64_t p, gl;
        int parity;
        g.site(i, p, gl, parity);
        const rng::Words w = stream(static_cast<std::uint64_t>(gl), 0);
        phi(p) = 2.0 * rng::uniform53(w.w[0], w.w[1]) - 1.0;
      });
  exchange_halo();
}

void Phi4Field::exchange_halo() {
  const Phi4Geometry g = geometry_;
  auto phi = phi_;
  for (Face& f : faces_) {
    const int k = f.dim;
    auto slo = f.send_lo, shi = f.send_hi;
    const int top = g.n[k];
    Kokkos::parallel_for(
        "phi4_halo_pack", Kokkos::RangePolicy<>(0, f.count), KOKKOS_LAMBDA(std::int64_t e) {
          slo(e) = phi(face_index(g, k, e, 1));
          shi(e) = phi(face_index(g, k, e, top));
        });
  }
  Kokkos::fence();
  for (Face& f : faces_) {  // no-ops where the views are host memory (the mirrors alias them)
    Kokkos::deep_copy(f.host_send_lo, f.send_lo);
    Kokkos::deep_copy(f.host_send_hi, f.send_hi);
  }
  std::vector<MPI_Request> req;
  req.reserve(4 * faces_.size());
  const MPI_Comm comm = decomposition_.comm();
  for (Face& f : faces_) {
    const int k = f.dim;
    const int n = static_cast<int>(f.count);
    const int lo = decomposition_.neighbour_lo(k), hi = decomposition_.neighbour_hi(k);
    MPI_Request r[4];
    // Tag 2k: travelling down (my lo face -> the lower neighbour's hi ghost); 2k+1: up.
    check_mpi(MPI_Irecv(f.host_recv_lo.data(), n, MPI_DOUBLE, lo, 2 * k + 1, comm, &r[0]), "MPI_Irecv");
    check_mpi(MPI_Irecv(f.host_recv_hi.data(), n, MPI_DOUBLE, hi, 2 * k, comm, &r[1]), "MPI_Irecv");
    check_mpi(MPI_Isend(f.host_send_lo.data(), n, MPI_DOUBLE, lo, 2 * k, comm, &r[2]), "MPI_Isend");
    check_mpi(MPI_Isend(f.host_send_hi.data(), n, MPI_DOUBLE, hi, 2 * k + 1, comm, &r[3]), "MPI_Isend");
    req.insert(req.end(), r, r + 4);
  }
  check_mpi(MPI_Waitall(static_cast<int>(req.size()), req.data(), MPI_STATUSES_IGNORE),
            "MPI_Waitall");
  for (Face& f : faces_) {
    Kokkos::deep_copy(f.recv_lo, f.host_recv_lo);
    Kokkos::deep_copy(f.recv_hi, f.host_recv_hi);
  }
  for (Face& f : faces_) {
    const int k = f.dim;
    auto rlo = f.recv_lo, rhi = f.recv_hi;
    const int top = g.n[k] + 1;
    Kokkos::parallel_for(
        "phi4_halo_unpack", Kokkos::RangePolicy<>(0, f.count), KOKKOS_LAMBDA(std::int64_t e) {
          phi(face_index(g, k, e, 0)) = rlo(e);
          phi(face_index(g, k, e, top)) = rhi(e);
        });
  }
  Kokkos::fence();
}

void Phi4Field::copy_interior_to_host(double* block) const {
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), phi_);
  const Phi4Geometry& g = geometry_;
  for (std::int64_t i = 0; i < g.local_sites; ++i) block[i] = host(g.padded_index(i));
}

void Phi4Field::set_interior_from_host(const double* block) {
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), phi_);
  const Phi4Geometry& g = geometry_;
  for (std::int64_t i = 0; i < g.local_sites; ++i) host(g.padded_index(i)) = block[i];
  Kokkos::deep_copy(phi_, host);
  exchange_halo();
}

std::vector<double> Phi4Field::gather() const {
  const CartDecomposition& dec = decomposition_;
  const Phi4Geometry& g = geometry_;
  const int d = g.d;
  const std::int64_t block = g.local_sites;
  std::vector<double> mine(static_cast<std::size_t>(block));
  copy_interior_to_host(mine.data());
  std::vector<double> blocks(static_cast<std::size_t>(block * dec.size()));
  check_mpi(MPI_Allgather(mine.data(), static_cast<int>(block), MPI_DOUBLE, blocks.data(),
                          static_cast<int>(block), MPI_DOUBLE, dec.comm()),
            "MPI_Allgather");
  std::vector<int> offsets(static_cast<std::size_t>(d * dec.size()));
  check_mpi(MPI_Allgather(dec.local_offset().data(), d, MPI_INT, offsets.data(), d, MPI_INT,
                          dec.comm()),
            "MPI_Allgather");
  std::vector<double> global(static_cast<std::size_t>(dec.global_sites()));
  for (int r = 0; r < dec.size(); ++r)
    for (std::int64_t i = 0; i < block; ++i) {
      std::int64_t rest = i, gi = 0;
      for (int k = d - 1; k >= 0; --k) {
        gi += (offsets[r * d + k] + rest % g.n[k]) * g.gstride[k];
        rest /= g.n[k];
      }
      global[static_cast<std::size_t>(gi)] = blocks[static_cast<std::size_t>(r * block + i)];
    }
  return global;
}

}  // namespace phyflow::lattice
