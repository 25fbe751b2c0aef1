// NpyWriter: the .npy format 1.0 as numpy/lib/format.py defines it (magic "\x93NUMPY", version
// bytes 1 0, uint16 little-endian header length, a Python dict literal padded with spaces and a
// final newline so that the data start at a multiple of 64 bytes).
#include "phyflow/io/npy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "phyflow/core/error.hpp"

namespace phyflow::io {

namespace {

// NumPy >= 1.24 leaves room after the dict for the first axis to grow to 21 digits
// (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS); older readers accept the extra spaces too.
constexpr std::size_t growth_axis_max_digits = 21;
constexpr std::size_t array_align = 64;
constexpr std::size_t magic_and_version_and_length = 6 + 2 + 2;

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

std::string system_reason() { return std::string(": ") + std::strerror(errno); }

}  // namespace

std::string python_shape_tuple(const std::vector<std::uint64_t>& shape) {
  if (shape.empty()) return "()";
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";  // a 1-tuple needs its comma in Python
  return text + ")";
}

std::string npy_header_f8(const std::vector<std::uint64_t>& shape) {
  // Keys in sorted order, each "'key': repr(value), ", as numpy's _write_array_header does.
  std::string dict =
      "{'descr': '<f8', 'fortran_order': False, 'shape': " + python_shape_tuple(shape) + ", }";
  if (!shape.empty()) dict.append(growth_axis_max_digits - std::to_string(shape[0]).size(), ' ');
  const std::size_t with_newline = dict.size() + 1;
  const std::size_t pad = array_align - (magic_and_version_and_length + with_newline) % array_align;
  const std::size_t header_len = with_newline + pad;
  if (header_len > 0xffff)
    throw runtime_error("npy header of shape " + python_shape_tuple(shape) +
                        " exceeds the 64 KiB limit of format 1.0");
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(header_len & 0xff);
  header += static_cast<char>((header_len >> 8) & 0xff);
  header += dict;
  header.append(pad, ' ');
  header += '\n';
  return header;
}

NpyWriter::NpyWriter(const std::string& path, const std::vector<std::uint64_t>& shape)
    : path_(path) {
  elements_ = 1;
  for (auto d : shape) elements_ *= d;
  const std::string header = npy_header_f8(shape);
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw runtime_error("cannot create '" + path + "'" + system_reason());
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    const std::string reason = system_reason();
    std::fclose(file_);
    file_ = nullptr;
    throw runtime_error("cannot write the header of '" + path + "'" + reason);
  }
}

NpyWriter::~NpyWriter() {
  if (file_) std::fclose(file_);
}

void NpyWriter::write(const double* values, std::size_t count) {
  if (!file_) throw runtime_error("'" + path_ + "' is already closed");
  if (count > elements_ - written_)
    throw runtime_error("'" + path_ + "': writing " + std::to_string(written_ + count) +
                        " values into an array of " + std::to_string(elements_));
  if (host_is_little_endian()) {
    if (std::fwrite(values, sizeof(double), count, file_) != count)
      throw runtime_error("cannot write '" + path_ + "'" + system_reason() +
                          " (is the disk full?)");
  } else {
    // '<f8' on a big-endian host: swap the bytes of each value through a bounded buffer.
    std::vector<unsigned char> buffer;
    constexpr std::size_t piece = 1 << 16;
    for (std::size_t begin = 0; begin < count; begin += piece) {
      const std::size_t m = std::min(piece, count - begin);
      buffer.resize(m * 8);
      for (std::size_t i = 0; i < m; ++i) {
        unsigned char bytes[8];
        std::memcpy(bytes, values + begin + i, 8);
        std::reverse(bytes, bytes + 8);
        std::memcpy(buffer.data() + 8 * i, bytes, 8);
      }
      if (std::fwrite(buffer.data(), 1, buffer.size(), file_) != buffer.size())
        throw runtime_error("cannot write '" + path_ + "'" + system_reason() +
                            " (is the disk full?)");
    }
  }
  written_ += count;
}

void NpyWriter::close() {
  if (!file_) return;
  if (written_ != elements_)
    throw runtime_error("'" + path_ + "' holds " + std::to_string(written_) + " of its " +
                        std::to_string(elements_) + " values; not closing it as complete");
  const bool flushed = std::fflush(file_) == 0;
  const std::string reason = flushed ? "" : system_reason();
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed)
    throw runtime_error("cannot finish writing '" + path_ + "'" +
                        (reason.empty() ? system_reason() : reason));
}

void write_npy(const std::string& path, const std::vector<double>& data,
               const std::vector<std::uint64_t>& shape) {
  NpyWriter writer(path, shape);
  writer.write(data.data(), data.size());
  writer.close();
}

}  // namespace phyflow::io
