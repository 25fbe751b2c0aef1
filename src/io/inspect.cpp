// `phyflow inspect`: provenance, tree, layout and streamed statistics of an HDF5 file.
#include "phyflow/io/inspect.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "attributes.hpp"
#include "dataset_blocks.hpp"
#include "input_file_state.hpp"
#include "phyflow/core/log.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/io/provenance.hpp"

namespace phyflow::io {

namespace {

std::string human_bytes(std::uintmax_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

/// Every line of `text` prefixed with `indent` (multi-line attributes such as the deck).
std::string indented(const std::string& text, const std::string& indent) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) out += indent + line + "\n";
  return out;
}

/// Count, mean, spread and range, merged block by block (Chan, Golub & LeVeque 1979, the
/// pairwise update of the sum of squared deviations) so the result is accurate for 10^10
/// values and needs one pass over the file.
struct Summary {
  std::uint64_t count = 0, nan = 0;
  double mean = 0, m2 = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  bool histogram = false;  ///< int8 data: how often each value occurs (spins: +-1)
  std::array<std::uint64_t, 256> counts{};

  void add(const double* x, std::uint64_t n) {
    std::uint64_t m = 0;
    double sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) continue;
      sum += x[i];
      ++m;
      min = std::min(min, x[i]);
      max = std::max(max, x[i]);
      if (histogram) ++counts[static_cast<std::size_t>(static_cast<int>(x[i]) + 128)];
    }
    nan += n - m;
    if (m == 0) return;
    const double block_mean = sum / static_cast<double>(m);
    double block_m2 = 0;
    for (std::uint64_t i = 0; i < n; ++i)
      if (!std::isnan(x[i])) block_m2 += (x[i] - block_mean) * (x[i] - block_mean);
    const double total = static_cast<double>(count + m);
    const double delta = block_mean - mean;
    mean += delta * static_cast<double>(m) / total;
    m2 += block_m2 + delta * delta * static_cast<double>(count) * static_cast<double>(m) / total;
    count += m;
  }

  std::string text() const {
    if (count == 0) return "count 0" + (nan ? "  nan " + std::to_string(nan) : std::string());
    std::string out = "count " + std::to_string(count) + "  mean " + log::number(mean, 6) +
                      "  std " + log::number(std::sqrt(m2 / static_cast<double>(count)), 6) +
                      "  min " + log::number(min, 6) + "  max " + log::number(max, 6);
    if (nan) out += "  nan " + std::to_string(nan);
    return out;
  }

  std::string values_text() const {
    std::string out;
    int distinct = 0;
    for (std::size_t v = 0; v < counts.size(); ++v) {
      if (counts[v] == 0) continue;
      if (++distinct > 8) return {};  // not a small set of levels: the histogram says nothing
      const int value = static_cast<int>(v) - 128;
      char share[32];
      std::snprintf(share, sizeof share, " (%.2f%%)",
                    100.0 * static_cast<double>(counts[v]) / static_cast<double>(count));
      out += (out.empty() ? "" : "  ") + std::string(value > 0 ? "+" : "") + std::to_string(value) +
             ": " + std::to_string(counts[v]) + share;
    }
    return out;
  }
};

bool is_numeric(const std::string& dtype) {
  return dtype.rfind("int", 0) == 0 || dtype.rfind("uint", 0) == 0 || dtype.rfind("float", 0) == 0;
}

Summary summarize(const detail::InputFileState& state, const std::string& path) {
  detail::Handle set = state.open_dataset(path);
  Summary summary;
  detail::Handle type = detail::datatype(H5Dget_type(set.get()));
  summary.histogram = detail::dtype_name(type.get()) == "int8";
  detail::BlockReader reader(set.get(), H5T_NATIVE_DOUBLE, std::size_t{16} << 20, state.path,
                             detail::normalize_path(path));
  while (reader.next())
    summary.add(reinterpret_cast<const double*>(reader.data()), reader.elements());
  return summary;
}

std::string attribute_line(const detail::AttributeValue& value) {
  if (value.is_string && value.text.find('\n') == std::string::npos) return value.text;
  return detail::attribute_text(value);
}

std::string describe(const InputFile& file, const detail::InputFileState& state,
                     const std::string& path, const InspectOptions& options);

}  // namespace

std::string inspect(const std::string& path, const InspectOptions& options) {
  const InputFile file = InputFile::open(path, MPI_COMM_SELF, PartialFiles::allow);
  const detail::InputFileState& state = detail::state_of(file);
  // Any HDF5 failure below (corrupt metadata) is an unreadable input: exit 2, one message.
  return state.guarded([&] { return describe(file, state, path, options); });
}

namespace {

std::string describe(const InputFile& file, const detail::InputFileState& state,
                     const std::string& path, const InspectOptions& options) {
  const hid_t root = state.file.get();
  std::ostringstream out;

  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  out << "file     " << path << (ec ? std::string() : "  (" + human_bytes(bytes) + ")") << "\n";
  const bool partial = path.size() > 8 && path.compare(path.size() - 8, 8, ".partial") == 0;
  out << "status   "
      << (partial ? "INCOMPLETE: a .partial output (its run was interrupted or is still running)"
                  : "complete")
      << "\n";

  // Provenance first, in a fixed order; the deck texts last because they are long.
  const std::vector<std::string> root_names = detail::attribute_names(root);
  const std::set<std::string> present(root_names.begin(), root_names.end());
  const std::vector<std::string>& provenance = provenance_attribute_names();
  if (present.count("phyflow_version") || present.count("workflow")) {
    out << "\nprovenance\n";
    for (const std::string& name : provenance) {
      if (!present.count(name) || name == "deck" || name == "deck_resolved") continue;
      out << "  " << pad(name, 17) << attribute_line(detail::read_attribute(root, name)) << "\n";
    }
    if (options.deck) {
      for (const char* name : {"deck", "deck_resolved"}) {
        if (!present.count(name)) continue;
        const auto value = detail::read_attribute(root, name);
        out << "  " << name << ":\n"
            << indented(value.is_string ? value.text : detail::attribute_text(value), "    | ");
      }
    }
  }
  std::vector<std::string> other_root;
  for (const std::string& name : root_names)
    if (std::find(provenance.begin(), provenance.end(), name) == provenance.end())
      other_root.push_back(name);
  if (!other_root.empty()) {
    out << "\nroot attributes\n";
    for (const std::string& name : other_root)
      out << "  " << pad(name, 17) << attribute_line(detail::read_attribute(root, name)) << "\n";
  }

  const std::vector<std::string> objects = file.list_objects();
  out << "\ncontents (" << objects.size() << " objects)\n";
  std::size_t width = 0;
  for (const std::string& p : objects) width = std::max(width, p.size());
  for (const std::string& p : objects) {
    detail::Handle obj = state.open_object(p);
    const bool is_dataset = H5Iget_type(obj.get()) == H5I_DATASET;
    std::vector<std::string> attrs = detail::attribute_names(obj.get());
    if (!is_dataset) {
      out << "  " << pad(p, width) << "  group\n";
    } else {
      const DatasetInfo info = file.info(p);
      out << "  " << pad(p, width) << "  " << pad(info.dtype, 7) << " " << info.shape_text();
      if (!info.chunk.empty()) out << "  chunks " << detail::shape_text(info.chunk);
      if (info.extendible) out << "  extendible";
      out << "\n";
    }
    // meaning and units first (names come sorted, so meaning before units): they say what
    // the numbers are.
    std::stable_partition(attrs.begin(), attrs.end(),
                          [](const std::string& a) { return a == "meaning" || a == "units"; });
    for (const std::string& name : attrs) {
      std::string text;
      try {
        text = attribute_line(detail::read_attribute(obj.get(), name));
      } catch (const Error&) {
        text = "(unsupported attribute type)";
      }
      out << "      " << pad(name, 12) << " " << text << "\n";
    }
    if (is_dataset && options.statistics) {
      const DatasetInfo info = file.info(p);
      if (is_numeric(info.dtype) && info.elements() > 0) {
        const Summary summary = summarize(state, p);
        out << "      " << pad("stats", 12) << " " << summary.text() << "\n";
        if (summary.histogram) {
          const std::string values = summary.values_text();
          if (!values.empty()) out << "      " << pad("values", 12) << " " << values << "\n";
        }
      }
    }
  }
  return out.str();
}

}  // namespace

}  // namespace phyflow::io
