// Checkerboard-split Ising spins with one ghost layer, and their halo exchange.
#include "phyflow/lattice/spin_field.hpp"

#include "phyflow/core/collective.hpp"
#include "phyflow/core/error.hpp"
#include "phyflow/core/rng.hpp"

#include <numeric>
#include <string>

namespace phyflow::lattice {

namespace {

using Layout = CheckerboardLayout;

std::string extent_text(const std::vector<int>& extent) {
  std::string text;
  for (std::size_t k = 0; k < extent.size(); ++k)
    text += (k ? "x" : "") + std::to_string(extent[k]);
  return text;
}

}  // namespace

void SpinField::check_geometry(const std::vector<int>& global_extent,
                               const std::vector<int>& proc_grid) {
  const int d = static_cast<int>(global_extent.size());
  if (d < 2 || d > Layout::max_dims)
    throw input_error("lattice.dims = " + std::to_string(d) +
                      ": the Ising kernels support 2 or 3 dimensions");
  for (int k = 0; k < d; ++k)
    if (global_extent[k] % 2 != 0)
      throw input_error("lattice.L = " + std::to_string(global_extent[k]) +
                        " is odd: checkerboard updates need an even L so that the two colours "
                        "stay consistent across the periodic boundary; use L = " +
                        std::to_string(global_extent[k] + 1));
  const int last = global_extent[d - 1] / proc_grid[d - 1];
  if (last % 2 != 0) {
    int step = 2 * proc_grid[d - 1];
    int ranks = 1;
    for (int g : proc_grid) step = std::lcm(step, g), ranks *= g;
    throw input_error(
        "lattice.L = " + std::to_string(global_extent[d - 1]) + " over the " +
        extent_text(proc_grid) + " process grid of " + std::to_string(ranks) +
        " MPI ranks gives " + std::to_string(last) +
        " sites per rank along the last dimension; checkerboard storage "
        "needs an even number there: set lattice.L to a multiple of " + std::to_string(step) +
        " or run on a rank count whose grid does not split the last dimension that finely");
  }
}

namespace {

Layout make_layout(const CartDecomposition& dec) {
  const int d = dec.dims();
  SpinField::check_geometry(dec.global_extent(), dec.proc_grid());
  Layout L;
  L.dims = d;
  for (int k = 0; k < d; ++k) {
    L.local[k] = dec.local_extent()[k];
    L.offset[k] = dec.local_offset()[k];
    L.global[k] = dec.global_extent()[k];
    L.padded[k] = L.local[k] + 2;
    L.remote[k] = dec.proc_grid()[k] > 1;
  }
  L.half = L.local[d - 1] / 2;
  L.padded[d - 1] = L.half + 2;
  L.stride[d - 1] = 1;
  L.compact_stride[d - 1] = 1;
  L.site_stride[d - 1] = 1;
  for (int k = d - 2; k >= 0; --k) {
    L.stride[k] = L.stride[k + 1] * L.padded[k + 1];
    L.compact_stride[k] =
        L.compact_stride[k + 1] * static_cast<std::uint64_t>(k + 1 == d - 1 ? L.global[k + 1] / 2
                                                                            : L.global[k + 1]);
    L.site_stride[k] = L.site_stride[k + 1] * static_cast<std::uint64_t>(L.global[k + 1]);
  }
  L.size = L.stride[0] * L.padded[0];
  L.rows = 1;
  for (int k = 0; k < d - 1; ++k) L.rows *= L.local[k];
  L.groups_aligned = (L.global[d - 1] / 2) % 4 == 0 && L.half % 4 == 0;
  return L;
}

/// Face rows of dimension k < d-1: the face is A rows of n/2 contiguous compact sites, row a
/// starting at storage index (a + 1) * other_stride (+ the layer along k).
struct FaceRows {
  int count;
  std::int64_t other_stride;
};

FaceRows face_rows(const Layout& L, int k) {
  if (L.dims == 2) return {1, 0};
  const int other = k == 0 ? 1 : 0;
  return {L.local[other], L.stride[other]};
}

Kokkos::MDRangePolicy<Kokkos::Rank<2>> face_policy(const Layout& L, int k) {
  return Kokkos::MDRangePolicy<Kokkos::Rank<2>>({0, 0}, {face_rows(L, k).count, L.half});
}

}  // namespace

SpinField::SpinField(CartDecomposition decomposition)
    : decomposition_(std::move(decomposition)), layout_(make_layout(decomposition_)) {
  for (int c = 0; c < 2; ++c)
    colour_[c] = SpinView("spins_colour" + std::to_string(c), layout_.size);
  const int d = layout_.dims;
  for (int k = 0; k < d; ++k) {
    Face f;
    f.dim = k;
    f.neighbour_lo = decomposition_.neighbour_lo(k);
    f.neighbour_hi = decomposition_.neighbour_hi(k);
    // Along the last dimension one value per row travels; rows where the colour has no face
    // site there carry a padding 0 that unpack skips. Alone along k, ghosts are copied directly.
    f.count = !layout_.remote[k] ? 0
              : k < d - 1        ? std::int64_t{face_rows(layout_, k).count} * layout_.half
                                 : layout_.rows;
    const std::string tag = "halo_dim" + std::to_string(k);
    f.send_lo = Kokkos::View<std::int8_t*>(tag + "_send_lo", f.count);
    f.send_hi = Kokkos::View<std::int8_t*>(tag + "_send_hi", f.count);
    f.recv_lo = Kokkos::View<std::int8_t*>(tag + "_recv_lo", f.count);
    f.recv_hi = Kokkos::View<std::int8_t*>(tag + "_recv_hi", f.count);
    f.host_send_lo = Kokkos::create_mirror_view(f.send_lo);
    f.host_send_hi = Kokkos::create_mirror_view(f.send_hi);
    f.host_recv_lo = Kokkos::create_mirror_view(f.recv_lo);
    f.host_recv_hi = Kokkos::create_mirror_view(f.recv_hi);
    faces_.push_back(f);
  }
  fill_cold(+1);
}

void SpinField::fill_cold(int value) {
  if (value != 1 && value != -1)
    throw runtime_error("SpinField::fill_cold: spin value must be +1 or -1, got " +
                        std::to_string(value));
  for (int c = 0; c < 2; ++c) Kokkos::deep_copy(colour_[c], static_cast<std::int8_t>(value));
}

void SpinField::fill_random(std::uint64_t seed) {
  const Layout L = layout_;
  const rng::Stream stream(seed, rng::purpose("init"));
  for (int c = 0; c < 2; ++c) {
    SpinView a = colour_[c];
    Kokkos::parallel_for(
        "SpinField::fill_random", L.row_policy(), KOKKOS_LAMBDA(int i0, int i1) {
          const Layout::Row row = L.row(i0, i1);
          const int q = (c + row.parity) & 1;
          for (int h = 1; h <= L.half; ++h) {
            const std::uint64_t site = row.site_start + static_cast<std::uint64_t>(2 * (h - 1) + q);
            const rng::Words w = stream(site / 4, 0);
            a(row.base + h) = (w.w[site % 4] >> 31) ? std::int8_t(1) : std::int8_t(-1);
          }
        });
  }
  exchange_halo();
}

void SpinField::exchange_halo() {
  exchange_halo(0);
  exchange_halo(1);
}

void SpinField::exchange_halo(int c) {
  begin_halo_exchange(c);
  end_halo_exchange(c);
}

void SpinField::begin_halo_exchange(int c) {
  if (pending_colour_ >= 0)
    throw runtime_error("SpinField: halo exchange begun twice without end_halo_exchange");
  pending_colour_ = c;
  const Layout L = layout_;
  const int d = L.dims;
  const SpinView a = colour_[c];
  requests_.clear();
  for (const Face& f : faces_) {
    if (f.count == 0) continue;  // alone along this dimension: copied in end_halo_exchange
    const auto send_lo = f.send_lo, send_hi = f.send_hi;
    const int k = f.dim;
    if (k < d - 1) {
      const std::int64_t lo_layer = L.stride[k], hi_layer = L.local[k] * L.stride[k];
      const std::int64_t other_stride = face_rows(L, k).other_stride;
      Kokkos::parallel_for(
          "SpinField::pack_face", face_policy(L, k), KOKKOS_LAMBDA(int r, int h) {
            const std::int64_t i = (r + 1) * other_stride + h + 1;
            const std::int64_t m = std::int64_t{r} * L.half + h;
            send_lo(m) = a(i + lo_layer);
            send_hi(m) = a(i + hi_layer);
          });
    } else {
      const int n1 = d == 3 ? L.local[1] : 1;
      Kokkos::parallel_for(
          "SpinField::pack_rows", L.row_policy(), KOKKOS_LAMBDA(int i0, int i1) {
            const Layout::Row row = L.row(i0, i1);
            const int q = (c + row.parity) & 1;
            const std::int64_t m = std::int64_t{i0} * n1 + i1;
            // q = 0: h = 1 is x = 0 (goes down); q = 1: h = n/2 is x = n - 1 (goes up).
            send_lo(m) = q == 0 ? a(row.base + 1) : std::int8_t(0);
            send_hi(m) = q == 1 ? a(row.base + L.half) : std::int8_t(0);
          });
    }
  }
  Kokkos::fence();
  MPI_Comm comm = decomposition_.comm();
  for (const Face& f : faces_) {
    if (f.count == 0) continue;
    // No-ops where the views are host memory (the mirrors alias them).
    Kokkos::deep_copy(f.host_send_lo, f.send_lo);
    Kokkos::deep_copy(f.host_send_hi, f.send_hi);
    // Tags keep the two messages apart when both neighbours are the same rank (grid of 2).
    const int tag_up = 4 * f.dim + 2 * c, tag_down = tag_up + 1;
    const int n = static_cast<int>(f.count);
    requests_.resize(requests_.size() + 4);
    MPI_Request* r = requests_.data() + requests_.size() - 4;
    check_mpi(MPI_Irecv(f.host_recv_lo.data(), n, MPI_INT8_T, f.neighbour_lo, tag_up, comm, &r[0]),
              "MPI_Irecv");
    check_mpi(MPI_Irecv(f.host_recv_hi.data(), n, MPI_INT8_T, f.neighbour_hi, tag_down, comm, &r[1]),
              "MPI_Irecv");
    check_mpi(MPI_Isend(f.host_send_hi.data(), n, MPI_INT8_T, f.neighbour_hi, tag_up, comm, &r[2]),
              "MPI_Isend");
    check_mpi(MPI_Isend(f.host_send_lo.data(), n, MPI_INT8_T, f.neighbour_lo, tag_down, comm, &r[3]),
              "MPI_Isend");
  }
}

void SpinField::progress_halo_exchange() {
  if (requests_.empty()) return;
  int done = 0;
  check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                        MPI_STATUSES_IGNORE),
            "MPI_Testall");
  if (done) requests_.clear();
}

void SpinField::end_halo_exchange(int c) {
  if (pending_colour_ != c)
    throw runtime_error("SpinField: end_halo_exchange without a matching begin");
  if (!requests_.empty())
    check_mpi(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(),
                          MPI_STATUSES_IGNORE),
              "MPI_Waitall");
  requests_.clear();
  for (const Face& f : faces_) {
    if (f.count == 0) continue;
    Kokkos::deep_copy(f.recv_lo, f.host_recv_lo);
    Kokkos::deep_copy(f.recv_hi, f.host_recv_hi);
  }
  const Layout L = layout_;
  const int d = L.dims;
  const SpinView a = colour_[c];
  for (const Face& f : faces_) {
    const int k = f.dim;
    const bool direct = f.count == 0;
    const auto from_lo = f.recv_lo, from_hi = f.recv_hi;
    if (k < d - 1) {
      const std::int64_t hi_ghost = (L.local[k] + 1) * L.stride[k];
      const std::int64_t lo_layer = L.stride[k], hi_layer = L.local[k] * L.stride[k];
      const std::int64_t other_stride = face_rows(L, k).other_stride;
      Kokkos::parallel_for(
          "SpinField::unpack_face", face_policy(L, k), KOKKOS_LAMBDA(int r, int h) {
            const std::int64_t i = (r + 1) * other_stride + h + 1;
            const std::int64_t m = std::int64_t{r} * L.half + h;
            // Alone along k, the periodic neighbour layers are this block's own faces.
            a(i) = direct ? a(i + hi_layer) : from_lo(m);
            a(i + hi_ghost) = direct ? a(i + lo_layer) : from_hi(m);
          });
    } else {
      const int n1 = d == 3 ? L.local[1] : 1;
      Kokkos::parallel_for(
          "SpinField::unpack_rows", L.row_policy(), KOKKOS_LAMBDA(int i0, int i1) {
            const Layout::Row row = L.row(i0, i1);
            const int q = (c + row.parity) & 1;
            const std::int64_t m = std::int64_t{i0} * n1 + i1;
            if (q == 1)  // ghost x = -1 at h = 0; alone: x = n - 1 at h = n/2
              a(row.base) = direct ? a(row.base + L.half) : from_lo(m);
            else  // ghost x = n at h = n/2 + 1; alone: x = 0 at h = 1
              a(row.base + L.half + 1) = direct ? a(row.base + 1) : from_hi(m);
          });
    }
  }
  Kokkos::fence();
  pending_colour_ = -1;
}

void SpinField::copy_interior_to_host(std::int8_t* block) const {
  const Layout L = layout_;
  const std::int64_t n = L.local[L.dims - 1];
  const int n1 = L.dims == 3 ? L.local[1] : 1;
  Kokkos::View<std::int8_t*> natural("spins_natural", L.rows * n);
  const SpinView a0 = colour_[0], a1 = colour_[1];
  Kokkos::parallel_for(
      "SpinField::copy_interior", L.row_policy(), KOKKOS_LAMBDA(int i0, int i1) {
        const Layout::Row row = L.row(i0, i1);
        const std::int64_t start = (std::int64_t{i0} * n1 + i1) * n;
        for (std::int64_t x = 0; x < n; ++x) {
          // offset along the last dimension is even, so local and global x share parity.
          const int c = static_cast<int>((row.parity + x) & 1);
          natural(start + x) = (c == 0 ? a0 : a1)(row.base + x / 2 + 1);
        }
      });
  Kokkos::View<std::int8_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> host(
      block, L.rows * n);
  Kokkos::deep_copy(host, natural);
}

void SpinField::set_interior_from_host(const std::int8_t* block) {
  const Layout L = layout_;
  const std::int64_t n = L.local[L.dims - 1];
  const int n1 = L.dims == 3 ? L.local[1] : 1;
  const std::int64_t count = L.rows * n;
  // Collective check: a bad value on one rank stops every rank (no rank left in the halo exchange).
  collective_try(decomposition_.comm(), [&] {
    for (std::int64_t i = 0; i < count; ++i)
      if (block[i] != 1 && block[i] != -1)
        throw input_error("spin configuration holds the value " + std::to_string(block[i]) +
                          " at local site " + std::to_string(i) + " of the " +
                          extent_text(decomposition_.local_extent()) +
                          " block; Ising spins must be +1 or -1 (corrupt checkpoint or input?)");
  });
  Kokkos::View<std::int8_t*> natural("spins_natural", count);
  Kokkos::View<const std::int8_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>
      host(block, count);
  Kokkos::deep_copy(natural, host);
  const SpinView a0 = colour_[0], a1 = colour_[1];
  Kokkos::parallel_for(
      "SpinField::set_interior", L.row_policy(), KOKKOS_LAMBDA(int i0, int i1) {
        const Layout::Row row = L.row(i0, i1);
        const std::int64_t start = (std::int64_t{i0} * n1 + i1) * n;
        for (std::int64_t x = 0; x < n; ++x) {
          const int c = static_cast<int>((row.parity + x) & 1);
          (c == 0 ? a0 : a1)(row.base + x / 2 + 1) = natural(start + x);
        }
      });
  exchange_halo();
}

std::vector<std::int8_t> SpinField::padded_to_host() const {
  const Layout L = layout_;
  const int d = L.dims;
  std::vector<std::int64_t> ext(d), str(d);
  std::int64_t total = 1;
  for (int k = d - 1; k >= 0; --k) {
    ext[k] = L.local[k] + 2;
    str[k] = total;
    total *= ext[k];
  }
  auto h0 = Kokkos::create_mirror_view(colour_[0]);
  auto h1 = Kokkos::create_mirror_view(colour_[1]);
  Kokkos::deep_copy(h0, colour_[0]);
  Kokkos::deep_copy(h1, colour_[1]);
  std::vector<std::int8_t> out(total, 0);
  std::vector<int> i(d, 0);
  for (std::int64_t flat = 0; flat < total; ++flat) {
    std::int64_t rest = flat;
    for (int k = d - 1; k >= 0; --k) {
      i[k] = static_cast<int>(rest % ext[k]);
      rest /= ext[k];
    }
    // Stored: at most one padded index is a ghost (faces, no edges or corners).
    int ghosts = 0;
    for (int k = 0; k < d; ++k) ghosts += (i[k] == 0 || i[k] == L.local[k] + 1);
    if (ghosts > 1) continue;
    int parity = 0;
    std::int64_t base = 0;
    for (int k = 0; k < d - 1; ++k) {
      parity += L.offset[k] + i[k] - 1 + L.global[k];  // + global keeps it non-negative
      base += i[k] * L.stride[k];
    }
    const int x = i[d - 1] - 1;  // local x_{d-1} in [-1, n]
    const int c = (parity + x + 2) & 1;
    const int q = (c + parity) & 1;
    const std::int64_t h = (x - q) / 2 + 1;  // exact: x - q is even
    out[flat] = (c == 0 ? h0 : h1)(base + h);
  }
  return out;
}

}  // namespace phyflow::lattice
