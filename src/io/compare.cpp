// Dataset-level comparison of two HDF5 files (see compare.hpp).
#include "phyflow/io/compare.hpp"

#include "attributes.hpp"
#include "dataset_blocks.hpp"
#include "input_file_state.hpp"
#include "phyflow/io/input_file.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

namespace phyflow::io {

namespace {

struct Report {
  std::vector<std::string> lines;
  std::size_t limit;
  std::size_t left_out = 0;
  void add(const std::string& line) {
    if (lines.size() < limit)
      lines.push_back(line);
    else
      ++left_out;
  }
};

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out = "0x";
  char byte[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", bytes[i]);
    out += byte;
  }
  return out;
}

std::vector<std::uint64_t> unflatten(std::uint64_t index, const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> at(shape.size(), 0);
  for (std::size_t i = shape.size(); i-- > 0;) {
    at[i] = shape[i] == 0 ? 0 : index % shape[i];
    index = shape[i] == 0 ? 0 : index / shape[i];
  }
  return at;
}

void compare_attributes(const detail::InputFileState& a, const detail::InputFileState& b,
                        const std::string& object, const std::set<std::string>& ignored,
                        Report& report) {
  detail::Handle oa = a.open_object(object), ob = b.open_object(object);
  const std::vector<std::string> na = a.guarded([&] { return detail::attribute_names(oa.get()); });
  const std::vector<std::string> nb = b.guarded([&] { return detail::attribute_names(ob.get()); });
  const std::set<std::string> sa(na.begin(), na.end()), sb(nb.begin(), nb.end());
  const std::string label = "attribute '" + object + "@";
  for (const std::string& name : na) {
    if (ignored.count(name)) continue;
    if (!sb.count(name)) {
      report.add(label + name + "': only in " + a.path);
      continue;
    }
    detail::AttributeValue va, vb;
    try {
      va = detail::read_attribute(oa.get(), name);
      vb = detail::read_attribute(ob.get(), name);
    } catch (const Error& e) {
      report.add(label + name + "': cannot compare (" + e.what() + ")");
      continue;
    }
    if (va.dtype != vb.dtype || va.is_scalar != vb.is_scalar) {
      report.add(label + name + "': type " + va.dtype + (va.is_scalar ? "" : " list") + " vs " +
                 vb.dtype + (vb.is_scalar ? "" : " list"));
    } else if (va.is_string ? va.text != vb.text : va.raw != vb.raw) {
      std::string ta = detail::attribute_text(va), tb = detail::attribute_text(vb);
      if (ta.size() > 60 || tb.size() > 60) {
        ta = "(" + std::to_string(va.text.size()) + " characters)";
        tb = "(" + std::to_string(vb.text.size()) + " characters)";
      }
      report.add(label + name + "': " + ta + " vs " + tb);
    }
  }
  for (const std::string& name : nb)
    if (!ignored.count(name) && !sa.count(name)) report.add(label + name + "': only in " + b.path);
}

void compare_dataset(const detail::InputFileState& a, const detail::InputFileState& b,
                     const std::string& path, Report& report) {
  detail::Handle da = a.open_dataset(path), db = b.open_dataset(path);
  // A type or shape HDF5 cannot read is an unreadable input file, like a failed open.
  detail::Handle ta = detail::datatype(H5Dget_type(da.get()));
  detail::Handle tb = detail::datatype(H5Dget_type(db.get()));
  if (!ta)
    throw input_error(detail::unreadable_file_message(
        a.path, "cannot read the type of '" + path + "'" + detail::hdf5_reason()));
  if (!tb)
    throw input_error(detail::unreadable_file_message(
        b.path, "cannot read the type of '" + path + "'" + detail::hdf5_reason()));
  if (H5Tequal(ta.get(), tb.get()) <= 0) {
    report.add("dataset '" + path + "': dtype " + detail::dtype_name(ta.get()) + " vs " +
               detail::dtype_name(tb.get()) + " (or byte order/size)");
    return;
  }
  const std::vector<std::uint64_t> sa = a.guarded([&] { return detail::dataset_shape(da.get()); });
  const std::vector<std::uint64_t> sb = b.guarded([&] { return detail::dataset_shape(db.get()); });
  if (sa != sb) {
    report.add("dataset '" + path + "': shape " + detail::shape_text(sa) + " vs " +
               detail::shape_text(sb));
    return;
  }
  if (H5Tdetect_class(ta.get(), H5T_VLEN) > 0 || H5Tis_variable_str(ta.get()) > 0) {
    report.add("dataset '" + path + "': variable-length data, contents not compared");
    return;
  }
  // Both read with the stored type as memory type: no conversion, the stored bytes exactly.
  const std::size_t element = H5Tget_size(ta.get());
  const std::size_t block_bytes = std::size_t{16} << 20;
  detail::BlockReader ra(da.get(), ta.get(), block_bytes, a.path, path);
  detail::BlockReader rb(db.get(), ta.get(), block_bytes, b.path, path);
  std::uint64_t differing = 0, first = 0;
  std::vector<unsigned char> first_a(element), first_b(element);
  while (ra.next() && rb.next()) {
    const unsigned char* pa = ra.data();
    const unsigned char* pb = rb.data();
    const std::uint64_t n = ra.elements();
    if (std::memcmp(pa, pb, n * element) == 0) continue;  // the common case, at memory speed
    for (std::uint64_t i = 0; i < n; ++i) {
      if (std::memcmp(pa + i * element, pb + i * element, element) == 0) continue;
      if (differing++ == 0) {
        first = ra.first_element() + i;
        std::memcpy(first_a.data(), pa + i * element, element);
        std::memcpy(first_b.data(), pb + i * element, element);
      }
    }
  }
  if (differing > 0) {
    std::uint64_t total = 1;
    for (auto d : sa) total *= d;
    report.add("dataset '" + path + "': " + std::to_string(differing) + " of " +
               std::to_string(total) + " elements differ; first at " +
               detail::shape_text(unflatten(first, sa)) + ": " + hex(first_a.data(), element) +
               " vs " + hex(first_b.data(), element));
  }
}

}  // namespace

std::vector<std::string> compare_datasets(const std::string& a, const std::string& b,
                                          const CompareOptions& options) {
  const InputFile fa = InputFile::open(a), fb = InputFile::open(b);
  const detail::InputFileState& sa = detail::state_of(fa);
  const detail::InputFileState& sb = detail::state_of(fb);
  Report report{{}, std::max<std::size_t>(options.max_differences, 1)};

  const std::vector<std::string> oa = fa.list_objects(), ob = fb.list_objects();
  const std::set<std::string> in_a(oa.begin(), oa.end()), in_b(ob.begin(), ob.end());
  for (const std::string& p : oa)
    if (!in_b.count(p)) report.add("'" + p + "': only in " + a);
  for (const std::string& p : ob)
    if (!in_a.count(p)) report.add("'" + p + "': only in " + b);

  const std::set<std::string> ignored(options.ignored_root_attributes.begin(),
                                      options.ignored_root_attributes.end());
  if (options.attributes) compare_attributes(sa, sb, "/", ignored, report);
  for (const std::string& p : oa) {
    if (!in_b.count(p)) continue;
    const bool da = fa.is_dataset(p), db = fb.is_dataset(p);
    if (da != db) {
      report.add("'" + p + "': " + (da ? "dataset" : "group") + " in " + a + " but " +
                 (db ? "dataset" : "group") + " in " + b);
      continue;
    }
    if (da) compare_dataset(sa, sb, p, report);
    if (options.attributes) compare_attributes(sa, sb, p, {}, report);
  }
  if (report.left_out > 0)
    report.lines.push_back("... and " + std::to_string(report.left_out) + " more differences");
  return report.lines;
}

}  // namespace phyflow::io
