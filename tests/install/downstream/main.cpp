// Uses libphyflow from an install prefix: runtime, a deck schema and the counter-based RNG.
#include <phyflow/core/config.hpp>
#include <phyflow/core/rng.hpp>
#include <phyflow/core/runtime.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  phyflow::Runtime rt(argc, argv);
  phyflow::config::Schema schema("demo");
  schema.integer("n", 3, 1, 10, "a number");
  const auto deck = phyflow::config::Deck::load_string("n: 7\n", {}, schema);
  const phyflow::rng::Stream stream(1, phyflow::rng::purpose("demo"));
  const auto w = stream(0, 0);
  int sum = 0, n = int(deck.integer("n"));
  MPI_Allreduce(&n, &sum, 1, MPI_INT, MPI_SUM, rt.comm());
  if (rt.rank() == 0) std::printf("downstream ok: ranks=%d sum=%d word=%u\n", rt.size(), sum, w.w[0]);
  return sum == 7 * rt.size() ? 0 : 1;
}
