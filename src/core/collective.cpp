#include "phyflow/core/collective.hpp"

#include <vector>

namespace phyflow::detail {

void agree_on_failure(MPI_Comm comm, bool failed, ExitCode code, const std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = failed ? rank : size, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return;
  int header[2] = {static_cast<int>(code), static_cast<int>(message.size())};
  MPI_Bcast(header, 2, MPI_INT, first, comm);
  std::vector<char> text(message.begin(), message.end());
  text.resize(static_cast<std::size_t>(header[1]));
  if (header[1] > 0) MPI_Bcast(text.data(), header[1], MPI_CHAR, first, comm);
  throw Error(static_cast<ExitCode>(header[0]), std::string(text.begin(), text.end()))
      .agreed_from(first);
}

}  // namespace phyflow::detail
