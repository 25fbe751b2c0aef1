// Reading regression data (see data.hpp). CSV parsing is strict on purpose: a silently
// skipped row or a column read as zeros would produce a wrong law with no warning.
#include "phyflow/sr/data.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "phyflow/core/error.hpp"
#include "phyflow/io/input_file.hpp"
#include "phyflow/sr/expression.hpp"

namespace phyflow::sr {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\"'");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\"'");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(line);
  while (std::getline(in, cur, sep)) out.push_back(trim(cur));
  if (!line.empty() && line.back() == sep) out.push_back("");
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string known(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::size_t column_index(const Table& t, const std::string& name, const std::string& path,
                         const std::string& role) {
  const auto it = std::find(t.names.begin(), t.names.end(), name);
  if (it != t.names.end()) return std::size_t(it - t.names.begin());
  throw input_error("sr data '" + path + "': unknown " + role + " column '" + name +
                    "' (columns: " + known(t.names) + ")");
}

}  // namespace

Table read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw input_error("sr data '" + path + "': cannot open the file (missing or unreadable)");
  Table t;
  std::string line;
  std::size_t lineno = 0;
  // Header: the first non-blank line that is not a comment.
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    t.names = split(line, ',');
    break;
  }
  if (t.names.empty())
    throw input_error("sr data '" + path +
                      "': the file is empty (expected a header row of "
                      "column names and data rows)");
  for (std::size_t i = 0; i < t.names.size(); ++i) {
    if (t.names[i].empty())
      throw input_error("sr data '" + path + "': column " + std::to_string(i + 1) +
                        " of the header row has no name");
    for (std::size_t j = 0; j < i; ++j)
      if (t.names[j] == t.names[i])
        throw input_error("sr data '" + path + "': column name '" + t.names[i] + "' appears twice");
  }
  t.columns.assign(t.names.size(), {});
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const std::vector<std::string> fields = split(line, ',');
    if (fields.size() != t.names.size())
      throw input_error("sr data '" + path + "', line " + std::to_string(lineno) + ": " +
                        std::to_string(fields.size()) + " fields, but the header has " +
                        std::to_string(t.names.size()));
    for (std::size_t c = 0; c < fields.size(); ++c) {
      const char* s = fields[c].c_str();
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(s, &end);
      if (fields[c].empty() || end == s || *end != '\0')
        throw input_error("sr data '" + path + "', line " + std::to_string(lineno) + ", column '" +
                          t.names[c] + "': '" + fields[c] + "' is not a number");
      t.columns[c].push_back(v);
    }
  }
  if (t.columns.front().empty())
    throw input_error("sr data '" + path + "': no data rows after the header row");
  return t;
}

Table read_hdf5_table(const std::string& path, const std::string& dataset) {
  io::InputFile f = io::InputFile::open(path, MPI_COMM_SELF);
  Table t;
  auto read_column = [&](const std::string& ds) {
    const io::DatasetInfo info = f.info(ds);
    if (info.dtype == "float64") return f.read<double>(ds);
    if (info.dtype == "float32") {
      const auto v = f.read<float>(ds);
      return std::vector<double>(v.begin(), v.end());
    }
    if (info.dtype == "int64") {
      const auto v = f.read<std::int64_t>(ds);
      return std::vector<double>(v.begin(), v.end());
    }
    if (info.dtype == "int32") {
      const auto v = f.read<std::int32_t>(ds);
      return std::vector<double>(v.begin(), v.end());
    }
    throw input_error("sr data '" + path + "': dataset '" + ds + "' holds " + info.dtype +
                      "; columns must be float64, float32, int64 or int32");
  };
  std::vector<std::string> two_d, one_d;
  for (const std::string& obj : f.list_objects()) {
    if (!f.is_dataset(obj)) continue;
    if (obj.find('/', 1) != std::string::npos) continue;  // root-level datasets only
    const io::DatasetInfo info = f.info(obj);
    if (info.shape.size() == 2 && f.has_attribute(obj, "columns")) two_d.push_back(obj);
    if (info.shape.size() == 1) one_d.push_back(obj);
  }
  std::string table = dataset;
  if (!table.empty() && table[0] != '/') table = "/" + table;
  if (table.empty() && !two_d.empty()) {
    if (two_d.size() > 1)
      throw input_error("sr data '" + path +
                        "': several 2-D datasets with a 'columns' attribute (" + known(two_d) +
                        "); name one with data.dataset");
    table = two_d.front();
  }
  if (!table.empty()) {
    if (!f.is_dataset(table))
      throw input_error("sr data '" + path + "': no dataset '" + table + "'");
    const io::DatasetInfo info = f.info(table);
    if (info.shape.size() != 2)
      throw input_error("sr data '" + path + "': dataset '" + table + "' has shape " +
                        info.shape_text() + "; a table must be 2-D (rows, columns)");
    if (!f.has_attribute(table, "columns"))
      throw input_error("sr data '" + path + "': dataset '" + table +
                        "' needs a 'columns' attribute naming its columns");
    std::string names = f.attribute_string(table, "columns");
    std::replace(names.begin(), names.end(), '\n', ',');
    t.names = split(names, ',');
    const std::size_t rows = info.shape[0], cols = info.shape[1];
    if (t.names.size() != cols)
      throw input_error("sr data '" + path + "': dataset '" + table + "' has " +
                        std::to_string(cols) + " columns but its 'columns' attribute names " +
                        std::to_string(t.names.size()));
    const std::vector<double> all = read_column(table);
    t.columns.assign(cols, std::vector<double>(rows));
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) t.columns[c][r] = all[r * cols + c];
  } else {
    if (one_d.empty())
      throw input_error("sr data '" + path +
                        "': no 1-D datasets (one per column) and no 2-D "
                        "dataset with a 'columns' attribute at the root of the file");
    for (const std::string& ds : one_d) {
      t.names.push_back(ds.substr(1));
      t.columns.push_back(read_column(ds));
      if (t.columns.back().size() != t.columns.front().size())
        throw input_error("sr data '" + path + "': dataset '" + ds + "' has " +
                          std::to_string(t.columns.back().size()) + " rows, '" + one_d.front() +
                          "' has " + std::to_string(t.columns.front().size()));
    }
  }
  if (t.columns.empty() || t.columns.front().empty())
    throw input_error("sr data '" + path + "': the table has no rows");
  return t;
}

Dataset load_dataset(const DataSpec& spec) {
  const bool hdf5 =
      ends_with(spec.path, ".h5") || ends_with(spec.path, ".hdf5") || ends_with(spec.path, ".he5");
  const Table t = hdf5 ? read_hdf5_table(spec.path, spec.dataset) : read_csv(spec.path);
  const std::size_t target = column_index(t, spec.target, spec.path, "target");
  std::vector<std::size_t> features;
  std::size_t weights = t.names.size();
  if (!spec.weights.empty()) weights = column_index(t, spec.weights, spec.path, "weights");
  if (!spec.features.empty()) {
    for (const std::string& f : spec.features)
      features.push_back(column_index(t, f, spec.path, "feature"));
  } else {
    for (std::size_t c = 0; c < t.names.size(); ++c)
      if (c != target && c != weights) features.push_back(c);
  }
  if (features.empty())
    throw input_error("sr data '" + spec.path + "': no feature columns besides the target '" +
                      spec.target + "'");
  if (features.size() > 65535)
    throw input_error("sr data '" + spec.path + "': more than 65535 feature columns");
  auto check_finite = [&](std::size_t c) {
    const auto& col = t.columns[c];
    for (std::size_t r = 0; r < col.size(); ++r)
      if (!std::isfinite(col[r]))
        throw input_error("sr data '" + spec.path + "': column '" + t.names[c] + "' holds " +
                          (std::isnan(col[r]) ? "NaN" : "inf") + " in data row " +
                          std::to_string(r + 1) + "; remove or repair such rows");
  };
  Dataset d;
  d.target = spec.target;
  for (std::size_t c : features) {
    if (c == target)
      throw input_error("sr data '" + spec.path + "': the target '" + spec.target +
                        "' cannot also be a feature");
    check_finite(c);
    d.names.push_back(t.names[c]);
    d.x.push_back(t.columns[c]);
  }
  check_finite(target);
  d.y = t.columns[target];
  if (weights < t.names.size()) {
    check_finite(weights);
    d.w = t.columns[weights];
    double sum = 0.0;
    for (double w : d.w) {
      if (w < 0.0)
        throw input_error("sr data '" + spec.path + "': weights column '" + spec.weights +
                          "' holds a negative weight");
      sum += w;
    }
    if (!(sum > 0.0))
      throw input_error("sr data '" + spec.path + "': weights column '" + spec.weights +
                        "' sums to 0");
  }
  bool constant = true;
  for (double v : d.y) constant = constant && v == d.y.front();
  if (constant)
    throw input_error("sr data '" + spec.path + "': the target column '" + spec.target +
                      "' is constant (every row " + format_number(d.y.front()) +
                      "); there is nothing to regress");
  return d;
}

std::vector<std::int64_t> select_rows(const std::vector<double>& target, std::int64_t samples,
                                      double trim_largest) {
  if (!(trim_largest >= 0.0 && trim_largest < 1.0))
    throw std::invalid_argument("select_rows: trim_largest must be in [0, 1)");
  std::vector<std::int64_t> pool(target.size());
  std::iota(pool.begin(), pool.end(), std::int64_t{0});
  if (trim_largest > 0.0 && !pool.empty()) {
    const auto keep = std::size_t(std::ceil((1.0 - trim_largest) * double(pool.size())));
    std::stable_sort(pool.begin(), pool.end(), [&](std::int64_t a, std::int64_t b) {
      return std::fabs(target[std::size_t(a)]) < std::fabs(target[std::size_t(b)]);
    });
    pool.resize(std::max<std::size_t>(keep, 1));
    std::sort(pool.begin(), pool.end());  // back in row order for the stride
  }
  const auto available = std::int64_t(pool.size());
  const std::int64_t rows = std::min(std::max<std::int64_t>(samples, 0), available);
  std::vector<std::int64_t> out(static_cast<std::size_t>(rows));
  for (std::int64_t k = 0; k < rows; ++k) out[std::size_t(k)] = pool[std::size_t(k * available / rows)];
  return out;
}

}  // namespace phyflow::sr
