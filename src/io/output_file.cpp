// OutputFile: collective creation, the .partial -> final rename protocol, groups and
// attributes (see output_file.hpp and docs/hdf5_layer.md).
#include "phyflow/io/output_file.hpp"

#include "attributes.hpp"
#include "output_file_state.hpp"
#include "phyflow/core/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>

namespace phyflow::io {

namespace detail {

OutputFileState::~OutputFileState() {
  transfer.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
}

hid_t OutputFileState::require_open(const std::string& what) const {
  if (!file.valid())
    throw runtime_error("cannot " + what + ": output '" + path +
                        "' was already committed or closed (write everything before commit())");
  return file.get();
}

std::string OutputFileState::where(const std::string& object) const {
  return "'" + normalize_path(object) + "' in '" + partial + "'";
}

void share_verdict(MPI_Comm comm, int root, bool failed, ExitCode code,
                   const std::string& message) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  int header[3] = {failed ? 1 : 0, static_cast<int>(code), static_cast<int>(message.size())};
  check_mpi(MPI_Bcast(header, 3, MPI_INT, root, comm), "MPI_Bcast");
  if (header[0] == 0) return;
  std::string text = rank == root ? message : std::string(static_cast<std::size_t>(header[2]), ' ');
  check_mpi(MPI_Bcast(text.data(), header[2], MPI_CHAR, root, comm), "MPI_Bcast");
  throw Error(static_cast<ExitCode>(header[1]), text);
}

bool all_succeeded(MPI_Comm comm, bool ok) {
  int local = ok ? 1 : 0, global = 0;
  check_mpi(MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  return global == 1;
}

}  // namespace detail

namespace {

using detail::all_succeeded;
namespace fs = std::filesystem;

std::string errno_text(int err) { return std::strerror(err); }

struct Verdict {
  bool failed = false;
  ExitCode code = ExitCode::ok;
  std::string message;
};

Verdict refuse(const std::string& message) { return {true, ExitCode::bad_input, message}; }

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

/// The directory an output goes into must exist and accept new files. Checked by creating and
/// removing a probe file, because access(2) says yes to root on read-only or virtual file
/// systems (/proc) where creating the output would then fail half-way.
Verdict check_directory(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return refuse("cannot write output '" + path + "': directory '" + dir.string() +
                  "' does not exist; create it or choose another output.path");
  if (!S_ISDIR(st.st_mode))
    return refuse("cannot write output '" + path + "': '" + dir.string() +
                  "' is not a directory; choose another output.path");
  std::string probe = (dir / ".phyflow-write-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    const int err = errno;
    return refuse("cannot write output '" + path + "': directory '" + dir.string() +
                  "' is not writable (" + errno_text(err) +
                  "); choose another output.path or fix the directory's permissions");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

Verdict check_new_output(const std::string& path, const std::string& partial, bool overwrite) {
  if (path.empty()) return refuse("output path is empty; set output.path in the deck");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return refuse("output '" + path + "' is a directory; set output.path to a file name");
  if (!overwrite && path_exists(path))
    return refuse("output '" + path +
                  "' exists; pass --overwrite to replace it or choose another output.path");
  if (!overwrite && path_exists(partial))
    return refuse("'" + partial + "' exists: an earlier run writing '" + path +
                  "' was interrupted (or is still running). Resume it with --restart if it left "
                  "a checkpoint, or pass --overwrite to start again");
  return check_directory(path);
}

detail::Handle make_file_access(MPI_Comm comm, const ParallelIOConfig& config) {
  detail::Handle fapl = detail::property_list(H5P_FILE_ACCESS);
  detail::check(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "H5Pset_fapl_mpio failed");
  if (config.collective_metadata) {
    detail::check(H5Pset_all_coll_metadata_ops(fapl.get(), true),
                  "H5Pset_all_coll_metadata_ops failed");
    detail::check(H5Pset_coll_metadata_write(fapl.get(), true),
                  "H5Pset_coll_metadata_write failed");
  }
  if (config.alignment > 0)
    detail::check(H5Pset_alignment(fapl.get(), config.alignment_threshold, config.alignment),
                  "H5Pset_alignment failed");
#if H5_VERSION_GE(1, 10, 2)
  // The 1.8 object header format stores attributes larger than 64 KiB (long decks) densely;
  // capping at the 1.10 format keeps the files readable by HDF5 1.10 and newer.
  detail::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V110),
                "H5Pset_libver_bounds failed");
#else
  detail::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
                "H5Pset_libver_bounds failed");
#endif
  // Closing the file closes the datasets still open in it, so commit() never fails because a
  // dataset object outlives it.
  detail::check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "H5Pset_fclose_degree failed");
  return fapl;
}

std::shared_ptr<detail::OutputFileState> new_state(MPI_Comm comm, const std::string& path,
                                                   const ParallelIOConfig& config) {
  detail::silence_hdf5_errors();
  auto state = std::make_shared<detail::OutputFileState>();
  check_mpi(MPI_Comm_dup(comm, &state->comm), "MPI_Comm_dup");
  MPI_Comm_rank(state->comm, &state->rank);
  MPI_Comm_size(state->comm, &state->size);
  state->path = path;
  state->partial = path + ".partial";
  state->config = config;
  state->uncaught_at_creation = std::uncaught_exceptions();
  state->transfer = detail::property_list(H5P_DATASET_XFER);
  detail::check(
      H5Pset_dxpl_mpio(state->transfer.get(),
                       config.collective_transfer ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT),
      "H5Pset_dxpl_mpio failed");
  return state;
}

}  // namespace

OutputFile::OutputFile(std::shared_ptr<detail::OutputFileState> state) : state_(std::move(state)) {}
OutputFile::OutputFile(OutputFile&&) noexcept = default;

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    if (state_ && state_->is_open()) {
      try {
        close();
      } catch (...) {
        // A failed close of the file being replaced leaves its .partial; nothing more to do.
      }
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

OutputFile::~OutputFile() {
  if (!state_ || !state_->is_open()) return;
  if (std::uncaught_exceptions() > state_->uncaught_at_creation) {
    // Unwinding: other ranks may not be here, and H5Fclose is collective. Leave the id open;
    // HDF5 closes it when MPI finalises, or the job is aborted.
    state_->file.release();
    return;
  }
  try {
    close();
  } catch (...) {
    // Destructors must not throw; the .partial file stays behind as the sign of trouble.
  }
}

OutputFile OutputFile::create(MPI_Comm comm, const std::string& path, bool overwrite,
                              const ParallelIOConfig& config) {
  auto state = new_state(comm, path, config);
  Verdict verdict;
  if (state->rank == 0) verdict = check_new_output(path, state->partial, overwrite);
  detail::share_verdict(state->comm, 0, verdict.failed, verdict.code, verdict.message);

  detail::Handle fapl = make_file_access(state->comm, config);
  const hid_t id = H5Fcreate(state->partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  const std::string reason = id < 0 ? detail::hdf5_reason() : std::string();
  if (!all_succeeded(state->comm, id >= 0)) {
    if (id >= 0) H5Fclose(id);
    throw runtime_error("cannot create '" + state->partial + "'" + reason +
                        "; check that the file system is writable and not full, and that no "
                        "other program has the file open");
  }
  state->file = detail::Handle(id, H5Fclose);
  return OutputFile(std::move(state));
}

OutputFile OutputFile::reopen_partial(MPI_Comm comm, const std::string& path,
                                      const ParallelIOConfig& config) {
  auto state = new_state(comm, path, config);
  Verdict verdict;
  if (state->rank == 0) {
    struct stat st {};
    if (::stat(state->partial.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      verdict = refuse("cannot restart: '" + state->partial +
                       "' (the output of the interrupted run) does not exist; start a new run "
                       "with --overwrite instead of --restart");
  }
  detail::share_verdict(state->comm, 0, verdict.failed, verdict.code, verdict.message);

  detail::Handle fapl = make_file_access(state->comm, config);
  const hid_t id = H5Fopen(state->partial.c_str(), H5F_ACC_RDWR, fapl.get());
  const std::string reason = id < 0 ? detail::hdf5_reason() : std::string();
  if (!all_succeeded(state->comm, id >= 0)) {
    if (id >= 0) H5Fclose(id);
    throw input_error("cannot restart from '" + state->partial +
                      "': it is not a readable HDF5 file" + reason +
                      " (the interrupted run may have died before flushing it); start again "
                      "with --overwrite");
  }
  state->file = detail::Handle(id, H5Fclose);
  return OutputFile(std::move(state));
}

void OutputFile::close() {
  if (!state_ || !state_->is_open()) return;
  const herr_t status = state_->file.reset();
  const std::string reason = status < 0 ? detail::hdf5_reason() : std::string();
  if (!all_succeeded(state_->comm, status >= 0))
    throw runtime_error("closing '" + state_->partial + "' failed" + reason +
                        "; the file may be incomplete (is the disk full?)");
}

void OutputFile::commit() {
  state_->require_open("commit '" + (state_ ? state_->partial : std::string()) + "'");
  close();
  // Every rank's data is in the file once all have closed it; only then rename.
  check_mpi(MPI_Barrier(state_->comm), "MPI_Barrier");
  Verdict verdict;
  if (state_->rank == 0) {
    // rename(2) replaces an existing PATH atomically: a reader sees the old file or the new
    // one, never a mix -- which is what makes overwrite + commit safe for checkpoints.
    if (std::rename(state_->partial.c_str(), state_->path.c_str()) != 0) {
      const int err = errno;
      verdict = {true, ExitCode::runtime_failure,
                 "cannot rename '" + state_->partial + "' to '" + state_->path +
                     "': " + errno_text(err) + "; the complete output is in '" + state_->partial +
                     "', rename it by hand"};
    } else {
      // Make the rename itself durable before anyone relies on it.
      fs::path dir = fs::path(state_->path).parent_path();
      if (dir.empty()) dir = ".";
      const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
      if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
      }
    }
  }
  detail::share_verdict(state_->comm, 0, verdict.failed, verdict.code, verdict.message);
}

void OutputFile::flush() {
  const hid_t file = state_->require_open("flush '" + state_->partial + "'");
  const herr_t status = H5Fflush(file, H5F_SCOPE_GLOBAL);
  const std::string reason = status < 0 ? detail::hdf5_reason() : std::string();
  if (!all_succeeded(state_->comm, status >= 0))
    throw runtime_error("flushing '" + state_->partial + "' failed" + reason +
                        " (is the disk full?)");
}

bool OutputFile::is_open() const { return state_ && state_->is_open(); }
const std::string& OutputFile::path() const { return state_->path; }
const std::string& OutputFile::partial_path() const { return state_->partial; }
MPI_Comm OutputFile::comm() const { return state_->comm; }
int OutputFile::rank() const { return state_->rank; }
int OutputFile::size() const { return state_->size; }
const ParallelIOConfig& OutputFile::config() const { return state_->config; }

bool OutputFile::exists(const std::string& path) {
  const hid_t file = state_->require_open("look up " + state_->where(path));
  return detail::object_exists(file, path);
}

void OutputFile::create_group(const std::string& path) {
  const std::string p = detail::normalize_path(path);
  const hid_t file = state_->require_open("create group " + state_->where(p));
  if (p == "/") return;
  if (detail::object_exists(file, p)) {
    detail::Handle obj = detail::object(H5Oopen(file, p.c_str(), H5P_DEFAULT));
    if (obj && H5Iget_type(obj.get()) == H5I_GROUP) return;
    throw runtime_error("cannot create group " + state_->where(p) +
                        ": a dataset of that name exists");
  }
  detail::Handle lcpl = detail::property_list(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  detail::Handle gcpl = detail::property_list(H5P_GROUP_CREATE);
  // No creation times in object headers: two runs of one deck give the same bytes.
  H5Pset_obj_track_times(gcpl.get(), false);
  detail::Handle group =
      detail::group(H5Gcreate2(file, p.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT));
  if (!group)
    throw runtime_error("cannot create group " + state_->where(p) + detail::hdf5_reason());
}

void OutputFile::put_number_attribute(const std::string& object, const std::string& name,
                                      NumberKind kind, const void* data, std::size_t n,
                                      bool scalar) {
  const std::string what = "attribute '" + name + "' on " + state_->where(object);
  const hid_t file = state_->require_open("write " + what);
  const std::string p = detail::normalize_path(object);
  if (!detail::object_exists(file, p))
    throw runtime_error("cannot write " + what + ": no such group or dataset (create it first)");
  detail::Handle obj = detail::object(H5Oopen(file, p.c_str(), H5P_DEFAULT));
  const hid_t type = kind == NumberKind::int64    ? H5T_NATIVE_INT64
                     : kind == NumberKind::uint64 ? H5T_NATIVE_UINT64
                                                  : H5T_NATIVE_DOUBLE;
  if (!obj || !detail::write_numeric_attribute(obj.get(), name, type, data, n, scalar))
    throw runtime_error("cannot write " + what + detail::hdf5_reason());
}

void OutputFile::put_string_attribute(const std::string& object, const std::string& name,
                                      const std::string& value) {
  const std::string what = "attribute '" + name + "' on " + state_->where(object);
  const hid_t file = state_->require_open("write " + what);
  const std::string p = detail::normalize_path(object);
  if (!detail::object_exists(file, p))
    throw runtime_error("cannot write " + what + ": no such group or dataset (create it first)");
  detail::Handle obj = detail::object(H5Oopen(file, p.c_str(), H5P_DEFAULT));
  if (!obj || !detail::write_string_attribute(obj.get(), name, value))
    throw runtime_error("cannot write " + what + detail::hdf5_reason());
}

namespace {
hid_t kind_type(int kind) {
  switch (kind) {
    case 0:
      return H5T_NATIVE_INT8;
    case 1:
      return H5T_NATIVE_INT32;
    case 2:
      return H5T_NATIVE_INT64;
    case 3:
      return H5T_NATIVE_FLOAT;
    case 4:
      return H5T_NATIVE_DOUBLE;
    case 5:
      return H5T_NATIVE_UINT8;
    default:
      return H5T_NATIVE_UINT64;
  }
}
}  // namespace

void OutputFile::write_array_bytes(const std::string& path, const void* data, int element_kind,
                                   const std::vector<std::uint64_t>& shape,
                                   const std::string& meaning, const std::string& units) {
  const std::string p = detail::normalize_path(path);
  const hid_t file = state_->require_open("write dataset " + state_->where(p));
  if (detail::object_exists(file, p))
    throw runtime_error("cannot write dataset " + state_->where(p) + ": it exists already");
  const std::size_t slash = p.find_last_of('/');
  if (slash > 0) create_group(p.substr(0, slash));

  const std::vector<hsize_t> dims = detail::to_hsize(shape);
  detail::Handle space = detail::dataspace(
      shape.empty() ? H5Screate(H5S_SCALAR)
                    : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  detail::Handle dcpl = detail::property_list(H5P_DATASET_CREATE);
  H5Pset_obj_track_times(dcpl.get(), false);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  const hid_t mem_type = kind_type(element_kind);
  detail::Handle set = detail::dataset(
      H5Dcreate2(file, p.c_str(), mem_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!set)
    throw runtime_error("cannot create dataset " + state_->where(p) + detail::hdf5_reason());

  std::uint64_t elements = 1;
  for (auto d : shape) elements *= d;
  if (elements > 0) {
    // Identical data everywhere: rank 0 writes it, the others join the collective call empty.
    detail::Handle file_space = detail::dataspace(H5Dget_space(set.get()));
    detail::Handle mem_space = detail::dataspace(H5Scopy(file_space.get()));
    if (state_->rank != 0) {
      H5Sselect_none(file_space.get());
      H5Sselect_none(mem_space.get());
    }
    const herr_t status = H5Dwrite(set.get(), mem_type, mem_space.get(), file_space.get(),
                                   state_->transfer.get(), data);
    const std::string reason = status < 0 ? detail::hdf5_reason() : std::string();
    if (!all_succeeded(state_->comm, status >= 0))
      throw runtime_error("cannot write dataset " + state_->where(p) + reason);
  }
  set.reset();
  put_string_attribute(p, "meaning", meaning);
  put_string_attribute(p, "units", units);
}

}  // namespace phyflow::io
