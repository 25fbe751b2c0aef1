// InputFile: validated, read-only access to HDF5 files (see input_file.hpp).
#include "phyflow/io/input_file.hpp"

#include "attributes.hpp"
#include "input_file_state.hpp"
#include "output_file_state.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

namespace phyflow::io {

// ---- DatasetInfo ---------------------------------------------------------------------------

std::uint64_t DatasetInfo::elements() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string DatasetInfo::shape_text() const { return detail::shape_text(shape); }

// ---- private helpers -----------------------------------------------------------------------

namespace detail {

bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      // Compare as numbers without overflow: strip leading zeros, then length, then digits.
      std::size_t ia = i, jb = j;
      while (ia + 1 < ie && a[ia] == '0') ++ia;
      while (jb + 1 < je && b[jb] == '0') ++jb;
      const std::string na = a.substr(ia, ie - ia), nb = b.substr(jb, je - jb);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

namespace {

std::vector<std::string> children(hid_t file, const std::string& group) {
  std::vector<std::string> names;
  H5G_info_t info{};
  // A group whose links cannot be read is corrupt metadata, never "empty".
  if (H5Gget_info_by_name(file, group.c_str(), &info, H5P_DEFAULT) < 0)
    throw runtime_error("cannot list the members of group '" + group + "'" + hdf5_reason());
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(file, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, i,
                                           nullptr, 0, H5P_DEFAULT);
    if (len < 0)
      throw runtime_error("cannot read the names in group '" + group + "'" + hdf5_reason());
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(file, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    names.push_back(name);
  }
  return names;
}

/// Groups and datasets below `group`, depth-first. Only hard-linked groups are entered, and
/// the depth is bounded, so a file with link cycles cannot make us loop.
void collect(hid_t file, const std::string& group, int depth, std::vector<std::string>& out) {
  if (depth > 64) return;
  for (const std::string& name : children(file, group)) {
    const std::string path = (group == "/" ? "/" : group + "/") + name;
    Handle obj = object(H5Oopen(file, path.c_str(), H5P_DEFAULT));
    if (!obj) {
      // A dangling soft or external link is not an object here; a hard link always leads to
      // one, so failing to open it means its object header is corrupt.
      const std::string reason = hdf5_reason();
      H5L_info_t link{};
      if (H5Lget_info(file, path.c_str(), &link, H5P_DEFAULT) < 0 || link.type == H5L_TYPE_HARD)
        throw runtime_error("cannot open '" + path + "'" + reason);
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    const H5I_type_t type = H5Iget_type(obj.get());
    if (type == H5I_DATASET) out.push_back(path);
    if (type == H5I_GROUP) {
      out.push_back(path);
      collect(file, path, depth + 1, out);
    }
  }
}

std::string listing(const InputFileState& state) {
  std::vector<std::string> all;
  collect(state.file.get(), "/", 0, all);
  std::sort(all.begin(), all.end(), natural_less);
  if (all.empty()) return "it holds no groups or datasets";
  std::string text = "it holds: ";
  const std::size_t shown = std::min<std::size_t>(all.size(), 12);
  for (std::size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + all[i];
  if (all.size() > shown) text += ", ... (" + std::to_string(all.size() - shown) + " more)";
  return text;
}

}  // namespace

Handle InputFileState::open_object(const std::string& object_path) const {
  return guarded([&] {
    const std::string p = normalize_path(object_path);
    if (!object_exists(file.get(), p))
      throw input_error("'" + path + "' has no group or dataset '" + p + "'; " + listing(*this));
    Handle obj = object(H5Oopen(file.get(), p.c_str(), H5P_DEFAULT));
    if (!obj) throw runtime_error("cannot open '" + p + "'" + hdf5_reason());
    return obj;
  });
}

Handle InputFileState::open_dataset(const std::string& dataset_path) const {
  return guarded([&] {
    const std::string p = normalize_path(dataset_path);
    if (!object_exists(file.get(), p))
      throw input_error("'" + path + "' has no dataset '" + p + "'; " + listing(*this));
    Handle obj = object(H5Oopen(file.get(), p.c_str(), H5P_DEFAULT));
    if (!obj) throw runtime_error("cannot open '" + p + "'" + hdf5_reason());
    if (H5Iget_type(obj.get()) != H5I_DATASET)
      throw input_error(where(p) + " is a group, not a dataset");
    obj.reset();
    Handle set = dataset(H5Dopen2(file.get(), p.c_str(), H5P_DEFAULT));
    if (!set) throw runtime_error("cannot open dataset '" + p + "'" + hdf5_reason());
    return set;
  });
}

}  // namespace detail

// ---- open ------------------------------------------------------------------------------------

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "" when the file can be handed to HDF5, otherwise the user's message.
std::string file_problem(const std::string& path, PartialFiles partial) {
  if (partial == PartialFiles::refuse && ends_with(path, ".partial"))
    return "'" + path +
           "' is an incomplete output: its run was interrupted or is still running. "
           "Read the finished '" +
           path.substr(0, path.size() - 8) + "' instead, or resume the run with --restart";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      std::string message = "cannot open '" + path + "': no such file";
      struct stat partial_st {};
      if (::stat((path + ".partial").c_str(), &partial_st) == 0)
        message += " (but '" + path +
                   ".partial' exists: the run writing it was interrupted "
                   "or is still running)";
      return message;
    }
    return "cannot open '" + path + "': " + std::strerror(err);
  }
  if (S_ISDIR(st.st_mode)) return "cannot open '" + path + "': it is a directory, not a file";
  if (::access(path.c_str(), R_OK) != 0) {
    const int err = errno;
    return "cannot open '" + path + "': " + std::strerror(err) + " (check the file's permissions)";
  }
  return {};
}

}  // namespace

InputFile::InputFile(std::unique_ptr<detail::InputFileState> state) : state_(std::move(state)) {}
InputFile::InputFile(InputFile&&) noexcept = default;
InputFile& InputFile::operator=(InputFile&&) noexcept = default;
InputFile::~InputFile() = default;

InputFile InputFile::open(const std::string& path, MPI_Comm comm, PartialFiles partial) {
  detail::silence_hdf5_errors();
  const bool serial = comm == MPI_COMM_SELF;
  int rank = 0;
  if (!serial) MPI_Comm_rank(comm, &rank);
  const std::string problem = rank == 0 ? file_problem(path, partial) : std::string();
  if (serial) {
    if (!problem.empty()) throw input_error(problem);
  } else {
    detail::share_verdict(comm, 0, !problem.empty(), ExitCode::bad_input, problem);
  }

  detail::Handle fapl = detail::property_list(H5P_FILE_ACCESS);
  if (!serial)
    detail::check(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "H5Pset_fapl_mpio failed");
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  const std::string reason = id < 0 ? detail::hdf5_reason() : std::string();
  const bool ok = serial ? id >= 0 : detail::all_succeeded(comm, id >= 0);
  if (!ok) {
    if (id >= 0) H5Fclose(id);
    // HDF5 locks files it opens; a lock that fails is no sign of corruption.
    if (reason.find("unable to lock") != std::string::npos)
      throw input_error("cannot open '" + path + "'" + reason +
                        ": another program may be writing it (wait for it to finish), or the "
                        "file system does not support locks (set HDF5_USE_FILE_LOCKING=FALSE)");
    throw input_error(detail::unreadable_file_message(path, "HDF5 cannot open it" + reason));
  }
  auto state = std::make_unique<detail::InputFileState>();
  state->path = path;
  state->file = detail::Handle(id, H5Fclose);
  return InputFile(std::move(state));
}

const std::string& InputFile::path() const { return state_->path; }

const detail::InputFileState& detail::state_of(const InputFile& file) { return *file.state_; }

// ---- structure --------------------------------------------------------------------------------

bool InputFile::exists(const std::string& object) const {
  return state_->guarded([&] { return detail::object_exists(state_->file.get(), object); });
}

bool InputFile::is_group(const std::string& object) const {
  if (!exists(object)) return false;
  return H5Iget_type(state_->open_object(object).get()) == H5I_GROUP;
}

bool InputFile::is_dataset(const std::string& object) const {
  if (!exists(object)) return false;
  return H5Iget_type(state_->open_object(object).get()) == H5I_DATASET;
}

std::vector<std::string> InputFile::list_objects() const {
  return state_->guarded([&] {
    std::vector<std::string> all;
    detail::collect(state_->file.get(), "/", 0, all);
    std::sort(all.begin(), all.end(), detail::natural_less);
    return all;
  });
}

DatasetInfo InputFile::info(const std::string& dataset) const {
  detail::Handle set = state_->open_dataset(dataset);
  DatasetInfo info;
  detail::Handle type = detail::datatype(H5Dget_type(set.get()));
  detail::Handle space = detail::dataspace(H5Dget_space(set.get()));
  const int rank = space ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (!type || rank < 0)
    throw input_error(detail::unreadable_file_message(
        state_->path, "cannot read the type and shape of '" + detail::normalize_path(dataset) +
                          "'" + detail::hdf5_reason()));
  info.dtype = detail::dtype_name(type.get());
  if (rank > 0) {
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), max_dims(dims.size());
    H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
    info.shape = detail::to_u64(dims);
    info.extendible = max_dims[0] == H5S_UNLIMITED;
  }
  detail::Handle dcpl(H5Dget_create_plist(set.get()), H5Pclose);
  if (dcpl && H5Pget_layout(dcpl.get()) == H5D_CHUNKED && rank > 0) {
    std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
    H5Pget_chunk(dcpl.get(), rank, chunk.data());
    info.chunk = detail::to_u64(chunk);
  }
  return info;
}

namespace {

std::string pattern_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
  return text + "]";
}

}  // namespace

void InputFile::expect(const std::string& dataset, const std::string& dtype,
                       std::size_t rank) const {
  expect(dataset, dtype, std::vector<std::int64_t>(rank, -1));
}

void InputFile::expect(const std::string& dataset, const std::string& dtype,
                       const std::vector<std::int64_t>& shape) const {
  const std::string p = detail::normalize_path(dataset);
  const std::string wanted = dtype + " " + pattern_text(shape);
  if (!is_dataset(p)) {
    std::string message =
        "'" + state_->path + "' has no dataset '" + p + "' (expected " + wanted + ")";
    if (exists(p))
      message = "'" + state_->path + "': '" + p + "' is a group, expected a " + wanted + " dataset";
    throw input_error(message +
                      "; was the file written by another workflow or an older "
                      "phyflow? `phyflow inspect " +
                      state_->path + "` shows what it holds");
  }
  const DatasetInfo found = info(p);
  bool matches = found.dtype == dtype && found.shape.size() == shape.size();
  for (std::size_t i = 0; matches && i < shape.size(); ++i)
    matches = shape[i] < 0 || static_cast<std::uint64_t>(shape[i]) == found.shape[i];
  if (!matches)
    throw input_error("'" + state_->path + "': dataset '" + p + "' is " + found.dtype + " " +
                      found.shape_text() + ", expected " + wanted + " (rank " +
                      std::to_string(shape.size()) +
                      "); was the file written by "
                      "another workflow or with other lattice settings?");
}

// ---- data --------------------------------------------------------------------------------------

namespace {

template <class T>
void check_dtype(const detail::InputFileState& state, const std::string& p, hid_t set) {
  detail::Handle type = detail::datatype(H5Dget_type(set));
  const std::string found = detail::dtype_name(type.get());
  const std::string wanted = detail::dtype_name_of<T>();
  if (found != wanted)
    throw input_error("dataset " + state.where(p) + " is " + found + ", cannot read it as " +
                      wanted + " (the file does not have the layout this reader expects)");
}

}  // namespace

template <class T>
std::vector<T> InputFile::read(const std::string& dataset) const {
  const std::string p = detail::normalize_path(dataset);
  detail::Handle set = state_->open_dataset(p);
  check_dtype<T>(*state_, p, set.get());
  std::uint64_t n = 1;
  for (auto d : detail::dataset_shape(set.get())) n *= d;
  std::vector<T> data(n);
  if (n > 0 &&
      H5Dread(set.get(), detail::native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    throw input_error(detail::unreadable_file_message(
        state_->path, "cannot read dataset '" + p + "'" + detail::hdf5_reason()));
  return data;
}

template <class T>
std::vector<T> InputFile::read_hyperslab(const std::string& dataset,
                                         const std::vector<std::uint64_t>& offset,
                                         const std::vector<std::uint64_t>& count) const {
  const std::string p = detail::normalize_path(dataset);
  detail::Handle set = state_->open_dataset(p);
  check_dtype<T>(*state_, p, set.get());
  const std::vector<std::uint64_t> shape = detail::dataset_shape(set.get());
  bool inside = offset.size() == shape.size() && count.size() == shape.size();
  for (std::size_t i = 0; inside && i < shape.size(); ++i)
    inside = offset[i] <= shape[i] && count[i] <= shape[i] - offset[i];
  if (!inside)
    throw input_error("cannot read the block at " + detail::shape_text(offset) + " of size " +
                      detail::shape_text(count) + " from dataset " + state_->where(p) +
                      " of shape " + detail::shape_text(shape) + ": it reaches outside");
  std::uint64_t n = 1;
  for (auto c : count) n *= c;
  std::vector<T> data(n);
  if (n == 0) return data;
  detail::Handle file_space = detail::dataspace(H5Dget_space(set.get()));
  const std::vector<hsize_t> start = detail::to_hsize(offset), extent = detail::to_hsize(count);
  if (!shape.empty())
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(),
                        nullptr);
  detail::Handle mem_space = detail::dataspace(
      shape.empty() ? H5Screate(H5S_SCALAR)
                    : H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  if (H5Dread(set.get(), detail::native_type<T>(), mem_space.get(), file_space.get(), H5P_DEFAULT,
              data.data()) < 0)
    throw input_error(detail::unreadable_file_message(
        state_->path, "cannot read dataset '" + p + "'" + detail::hdf5_reason()));
  return data;
}

#define PHYFLOW_IO_INSTANTIATE_READ(T)                                                          \
  template std::vector<T> InputFile::read<T>(const std::string&) const;                         \
  template std::vector<T> InputFile::read_hyperslab<T>(                                         \
      const std::string&, const std::vector<std::uint64_t>&, const std::vector<std::uint64_t>&) \
      const;
PHYFLOW_IO_INSTANTIATE_READ(std::int8_t)
PHYFLOW_IO_INSTANTIATE_READ(std::int32_t)
PHYFLOW_IO_INSTANTIATE_READ(std::int64_t)
PHYFLOW_IO_INSTANTIATE_READ(std::uint8_t)
PHYFLOW_IO_INSTANTIATE_READ(std::uint64_t)
PHYFLOW_IO_INSTANTIATE_READ(float)
PHYFLOW_IO_INSTANTIATE_READ(double)
#undef PHYFLOW_IO_INSTANTIATE_READ

// ---- attributes
// ----------------------------------------------------------------------------------

bool InputFile::has_attribute(const std::string& object, const std::string& name) const {
  detail::Handle obj = state_->open_object(object);
  const htri_t exists = H5Aexists(obj.get(), name.c_str());
  if (exists < 0)
    throw input_error(detail::unreadable_file_message(
        state_->path, "cannot look up attribute '" + name + "' of '" +
                          detail::normalize_path(object) + "'" + detail::hdf5_reason()));
  return exists > 0;
}

std::vector<std::string> InputFile::attribute_names(const std::string& object) const {
  detail::Handle obj = state_->open_object(object);
  return state_->guarded([&] { return detail::attribute_names(obj.get()); });
}

namespace {

detail::AttributeValue fetch(const detail::InputFileState& state, const std::string& object,
                             const std::string& name) {
  detail::Handle obj = state.open_object(object);
  const htri_t exists = H5Aexists(obj.get(), name.c_str());
  if (exists < 0)
    throw input_error(detail::unreadable_file_message(
        state.path, "cannot look up attribute '" + name + "' of '" +
                        detail::normalize_path(object) + "'" + detail::hdf5_reason()));
  if (exists == 0)
    throw input_error(state.where(object) + " has no attribute '" + name +
                      "' (was the file written by another workflow or an older phyflow?)");
  try {
    return detail::read_attribute(obj.get(), name);
  } catch (const Error& e) {
    throw input_error("attribute '" + name + "' of " + state.where(object) + ": " + e.what());
  }
}

[[noreturn]] void wrong_kind(const detail::InputFileState& state, const std::string& object,
                             const std::string& name, const detail::AttributeValue& value,
                             const std::string& wanted) {
  const std::string found = value.is_scalar || value.is_string
                                ? value.dtype
                                : value.dtype + " list of " + std::to_string(value.numbers.size());
  throw input_error("attribute '" + name + "' of " + state.where(object) + " is " + found +
                    ", expected " + wanted);
}

}  // namespace

double InputFile::attribute_double(const std::string& object, const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (v.is_string || v.numbers.size() != 1) wrong_kind(*state_, object, name, v, "one number");
  return v.numbers[0];
}

std::int64_t InputFile::attribute_int(const std::string& object, const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (!v.is_integer || v.numbers.size() != 1) wrong_kind(*state_, object, name, v, "one integer");
  if (v.is_unsigned) {
    if (v.unsigned_integers[0] >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      wrong_kind(*state_, object, name, v, "an integer below 2^63");
    return static_cast<std::int64_t>(v.unsigned_integers[0]);
  }
  return v.integers[0];
}

std::uint64_t InputFile::attribute_uint(const std::string& object, const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (!v.is_integer || v.numbers.size() != 1) wrong_kind(*state_, object, name, v, "one integer");
  if (!v.is_unsigned) {
    if (v.integers[0] < 0) wrong_kind(*state_, object, name, v, "a non-negative integer");
    return static_cast<std::uint64_t>(v.integers[0]);
  }
  return v.unsigned_integers[0];
}

std::string InputFile::attribute_string(const std::string& object, const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (!v.is_string) wrong_kind(*state_, object, name, v, "a string");
  return v.text;
}

std::vector<double> InputFile::attribute_doubles(const std::string& object,
                                                 const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (v.is_string) wrong_kind(*state_, object, name, v, "a list of numbers");
  return v.numbers;
}

std::vector<std::int64_t> InputFile::attribute_ints(const std::string& object,
                                                    const std::string& name) const {
  const auto v = fetch(*state_, object, name);
  if (!v.is_integer) wrong_kind(*state_, object, name, v, "a list of integers");
  if (!v.is_unsigned) return v.integers;
  std::vector<std::int64_t> out;
  for (auto u : v.unsigned_integers) {
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      wrong_kind(*state_, object, name, v, "integers below 2^63");
    out.push_back(static_cast<std::int64_t>(u));
  }
  return out;
}

}  // namespace phyflow::io
