// Exact internal energy per site of the simple-cubic Ising model on a small periodic L^3 lattice
// (H = -J sum_<ij> s_i s_j, J = 1, K = J/T), by a plane-to-plane transfer matrix: the reference
// for tests/workflows/test_ising3d_published.sh. Usage: ising3d_exact_energy L T [T ...]
// prints "T e(T)" per line; ising3d_exact_energy --self-check compares with brute force.
//
// Z = Tr T^L with T_ab = exp(K (b(a) + b(b)) / 2 + K a.b), where a, b are the 2^(L^2) spin
// configurations of one plane, b(.) its in-plane bond sum and a.b the sum of the L^2 vertical
// bonds. exp(K a.b) is the Kronecker product of L^2 copies of [[e^K, e^-K], [e^-K, e^K]], so T
// is applied to a vector in O(L^2 2^(L^2)) without storing it. The trace is summed over one
// plane configuration per orbit of the plane's symmetry group (translations, the 8 square
// symmetries, global spin flip), which all commute with T, weighted by the orbit size.
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// In-plane bond sum of every plane configuration, each site bonded to its +x and +y
// neighbours on the L x L torus (on L = 2 that bonds each pair twice, as the lattice sum over
// sites and forward directions does).
std::vector<int> plane_bond_sums(int L) {
  const int n = L * L;
  std::vector<int> sums(std::size_t{1} << n);
  for (std::uint32_t a = 0; a < sums.size(); ++a) {
    int sum = 0;
    for (int y = 0; y < L; ++y)
      for (int x = 0; x < L; ++x) {
        const int s = ((a >> (y * L + x)) & 1U) ? -1 : 1;
        const int sx = ((a >> (y * L + (x + 1) % L)) & 1U) ? -1 : 1;
        const int sy = ((a >> (((y + 1) % L) * L + x)) & 1U) ? -1 : 1;
        sum += s * sx + s * sy;
      }
    sums[a] = sum;
  }
  return sums;
}

// Site permutations of the L x L torus: 8 square symmetries times L^2 translations.
std::vector<std::vector<int>> plane_symmetries(int L) {
  std::vector<std::vector<int>> perms;
  for (int sym = 0; sym < 8; ++sym)
    for (int ty = 0; ty < L; ++ty)
      for (int tx = 0; tx < L; ++tx) {
        std::vector<int> p(L * L);
        for (int y = 0; y < L; ++y)
          for (int x = 0; x < L; ++x) {
            int u = x, v = y;
            if (sym & 1) u = L - 1 - u;           // reflect x
            if (sym & 2) v = L - 1 - v;           // reflect y
            if (sym & 4) { const int w = u; u = v; v = w; }  // swap axes
            p[y * L + x] = ((v + ty) % L) * L + (u + tx) % L;
          }
        perms.push_back(p);
      }
  return perms;
}

std::uint32_t permute(std::uint32_t a, const std::vector<int>& p) {
  std::uint32_t b = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if ((a >> i) & 1U) b |= 1U << p[i];
  return b;
}

struct Orbit {
  std::uint32_t representative;
  double size;
};

std::vector<Orbit> plane_orbits(int L) {
  const int n = L * L;
  const std::uint32_t count = std::uint32_t{1} << n;
  const std::uint32_t all = count - 1;
  const auto perms = plane_symmetries(L);
  std::vector<char> seen(count, 0);
  std::vector<Orbit> orbits;
  std::vector<std::uint32_t> members;
  for (std::uint32_t a = 0; a < count; ++a) {
    if (seen[a]) continue;
    members.clear();
    for (const auto& p : perms)
      for (std::uint32_t b : {permute(a, p), permute(a, p) ^ all})
        if (!seen[b]) {
          seen[b] = 1;
          members.push_back(b);
        }
    orbits.push_back({a, static_cast<double>(members.size())});
  }
  return orbits;
}

class TransferMatrix {
 public:
  TransferMatrix(int L, double K)
      : n_(L * L), K_(K), bond_sums_(plane_bond_sums(L)), half_diag_(bond_sums_.size()),
        up_(std::exp(K)), down_(std::exp(-K)) {
    for (std::size_t a = 0; a < bond_sums_.size(); ++a)
      half_diag_[a] = std::exp(0.5 * K * bond_sums_[a]);
  }
  // Column a of T and of dT/dK, directly: T_ba = exp(K (b(a) + b(b)) / 2 + K (n - 2 d(a, b)))
  // with d the number of differing spins, and dT_ba/dK = T_ba ((b(a) + b(b)) / 2 + n - 2 d).
  void column(std::uint32_t a, std::vector<double>& t, std::vector<double>& dt) const {
    for (std::uint32_t b = 0; b < t.size(); ++b) {
      const int differing = static_cast<int>(std::bitset<32>(a ^ b).count());
      const double exponent = 0.5 * (bond_sums_[a] + bond_sums_[b]) + n_ - 2 * differing;
      t[b] = std::exp(K_ * exponent);
      dt[b] = t[b] * exponent;
    }
  }
  // v <- T v: diagonal half, the L^2 two-by-two factors one site at a time, diagonal half.
  void apply(std::vector<double>& v) const {
    const std::size_t size = v.size();
    for (std::size_t a = 0; a < size; ++a) v[a] *= half_diag_[a];
    for (int bit = 0; bit < n_; ++bit) {
      const std::size_t stride = std::size_t{1} << bit;
      for (std::size_t base = 0; base < size; base += 2 * stride)
        for (std::size_t a = base; a < base + stride; ++a) {
          const double v0 = v[a], v1 = v[a + stride];
          v[a] = up_ * v0 + down_ * v1;
          v[a + stride] = down_ * v0 + up_ * v1;
        }
    }
    for (std::size_t a = 0; a < size; ++a) v[a] *= half_diag_[a];
  }

 private:
  int n_;
  double K_;
  std::vector<int> bond_sums_;
  std::vector<double> half_diag_;
  double up_, down_;
};

// e = -(1/L^3) d ln Z/dK with Z = Tr T^L and dZ/dK = L Tr(T^(L-1) T'). Per start state a:
// <e_a|T^L|e_a> = <T^(L-2) c, c> and <e_a|T^(L-1) T'|e_a> = <T^(L-2) c, c'>, c = T e_a,
// c' = T' e_a (T is symmetric). Exact: no numerical differentiation.
double energy_per_site(int L, double T, const std::vector<Orbit>& orbits) {
  const TransferMatrix transfer(L, 1.0 / T);
  const std::size_t size = std::size_t{1} << (L * L);
  long double Z = 0.0L, dZ = 0.0L;
  std::vector<double> c(size), dc(size), w(size);
  for (const Orbit& o : orbits) {
    transfer.column(o.representative, c, dc);
    w = c;
    for (int i = 0; i < L - 2; ++i) transfer.apply(w);
    long double z = 0.0L, dz = 0.0L;
    for (std::size_t a = 0; a < size; ++a) {
      z += static_cast<long double>(w[a]) * c[a];
      dz += static_cast<long double>(w[a]) * dc[a];
    }
    Z += o.size * z;
    dZ += o.size * dz;
  }
  return -static_cast<double>(L * dZ / Z) / (static_cast<double>(L) * L * L);
}

// Histogram of the bond sum over all 2^(L^3) configurations (L = 2, 3), visited in Gray-code
// order so each step flips one spin and updates the bond sum locally. Index: bonds + 3 L^3.
std::vector<double> brute_force_bond_histogram(int L) {
  const int N = L * L * L;
  std::vector<int> s(N, 1);
  std::vector<int> neighbours(6 * N);
  for (int i = 0; i < N; ++i)
    for (int axis = 0; axis < 3; ++axis)
      for (int step : {-1, +1}) {
        int c[3] = {i % L, (i / L) % L, i / (L * L)};
        c[axis] = (c[axis] + step + L) % L;
        neighbours[6 * i + 2 * axis + (step + 1) / 2] = c[0] + L * (c[1] + L * c[2]);
      }
  int bonds = 3 * N;  // all spins up; bond sum over sites and forward directions
  std::vector<double> histogram(6 * N + 1, 0.0);
  histogram[bonds + 3 * N] += 1.0;
  const std::uint64_t states = std::uint64_t{1} << N;
  for (std::uint64_t k = 1; k < states; ++k) {
    int i = 0;
    while (((k >> i) & 1U) == 0) ++i;  // Gray code flips the lowest set bit of k
    int field = 0;
    for (int j = 0; j < 6; ++j) field += s[neighbours[6 * i + j]];
    bonds -= 2 * s[i] * field;
    s[i] = -s[i];
    histogram[bonds + 3 * N] += 1.0;
  }
  return histogram;
}

double histogram_energy_per_site(const std::vector<double>& histogram, int N, double T) {
  const long double K = 1.0L / T;
  long double Z = 0.0L, sum_bonds = 0.0L;
  for (int b = -3 * N; b <= 3 * N; ++b) {
    const long double w = histogram[b + 3 * N] * std::exp(K * (b - 3 * N));
    Z += w;
    sum_bonds += w * b;
  }
  return -static_cast<double>(sum_bonds / Z) / N;
}

int self_check() {
  int failures = 0;
  for (int L : {2, 3}) {
    const auto orbits = plane_orbits(L);
    const auto histogram = brute_force_bond_histogram(L);
    for (double T : {2.0, 4.511523, 8.0}) {
      const double tm = energy_per_site(L, T, orbits);
      const double bf = histogram_energy_per_site(histogram, L * L * L, T);
      const bool ok = std::fabs(tm - bf) < 1e-10;
      std::printf("L=%d T=%.6f transfer matrix %.10f brute force %.10f %s\n", L, T, tm, bf,
                  ok ? "ok" : "MISMATCH");
      failures += ok ? 0 : 1;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--self-check") return self_check();
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s L T [T ...]   (2 <= L <= 4)\n       %s --self-check\n",
                 argv[0], argv[0]);
    return 2;
  }
  const int L = std::atoi(argv[1]);
  if (L < 2 || L > 4) {
    std::fprintf(stderr, "L = %d: only 2 <= L <= 4 is exact in reasonable time\n", L);
    return 2;
  }
  const auto orbits = plane_orbits(L);
  for (int i = 2; i < argc; ++i) {
    const double T = std::atof(argv[i]);
    if (!(T > 0.0)) {
      std::fprintf(stderr, "temperature '%s' must be a positive number\n", argv[i]);
      return 2;
    }
    std::printf("%.9f %.12f\n", T, energy_per_site(L, T, orbits));
  }
  return 0;
}
