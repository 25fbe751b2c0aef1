// The PNG writer (see png.hpp): signature, IHDR, PLTE, IDAT (a zlib stream of stored deflate
// blocks of at most 65535 bytes, each scan line prefixed by filter type 0), IEND.
#include "phyflow/io/png.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "phyflow/core/error.hpp"

namespace phyflow::io {

Canvas::Canvas(int width, int height, std::vector<Rgb> palette)
    : w_(width), h_(height), palette_(std::move(palette)),
      px_(std::size_t(std::max(width, 0)) * std::size_t(std::max(height, 0)), 0) {
  if (width <= 0 || height <= 0 || palette_.empty() || palette_.size() > 256)
    throw runtime_error("png: a canvas needs a positive size and 1 to 256 palette colours");
}

void Canvas::set(int x, int y, std::uint8_t colour) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_ || colour >= palette_.size()) return;
  px_[std::size_t(y) * std::size_t(w_) + std::size_t(x)] = colour;
}

void Canvas::fill(int x0, int y0, int x1, int y1, std::uint8_t colour) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  for (int y = std::max(y0, 0); y <= std::min(y1, h_ - 1); ++y)
    for (int x = std::max(x0, 0); x <= std::min(x1, w_ - 1); ++x) set(x, y, colour);
}

void Canvas::line(int x0, int y0, int x1, int y1, std::uint8_t colour) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (int guard = 0; guard <= 4 * (w_ + h_) + dx - dy; ++guard) {
    set(x0, y0, colour);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

void Canvas::dot(int x, int y, int r, std::uint8_t colour) { fill(x - r, y - r, x + r, y + r, colour); }

std::uint32_t crc32(const std::uint8_t* data, std::size_t n, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

namespace {

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(std::uint8_t(v >> s));
}

void chunk(std::vector<std::uint8_t>& out, const char* type, const std::vector<std::uint8_t>& data) {
  put32(out, std::uint32_t(data.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put32(out, crc32(out.data() + start, out.size() - start));
}

}  // namespace

std::vector<std::uint8_t> encode_png(const Canvas& c) {
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put32(ihdr, std::uint32_t(c.width()));
  put32(ihdr, std::uint32_t(c.height()));
  ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0});  // depth 8, palette, deflate, filter 0, no interlace
  chunk(png, "IHDR", ihdr);
  std::vector<std::uint8_t> plte;
  for (const Rgb& p : c.palette()) plte.insert(plte.end(), {p.r, p.g, p.b});
  chunk(png, "PLTE", plte);

  std::vector<std::uint8_t> raw;  // filter byte 0 + one scan line, per row
  raw.reserve(std::size_t(c.height()) * (std::size_t(c.width()) + 1));
  for (int y = 0; y < c.height(); ++y) {
    raw.push_back(0);
    const auto row = c.pixels().begin() + std::ptrdiff_t(y) * c.width();
    raw.insert(raw.end(), row, row + c.width());
  }
  std::vector<std::uint8_t> z = {0x78, 0x01};  // zlib header: deflate, 32 KiB window, no dict
  std::size_t pos = 0;
  do {
    const std::size_t len = std::min<std::size_t>(65535, raw.size() - pos);
    const bool last = pos + len == raw.size();
    z.push_back(last ? 1 : 0);  // BFINAL, BTYPE = 00 (stored)
    z.insert(z.end(), {std::uint8_t(len), std::uint8_t(len >> 8), std::uint8_t(~len),
                       std::uint8_t(~len >> 8)});
    z.insert(z.end(), raw.begin() + std::ptrdiff_t(pos), raw.begin() + std::ptrdiff_t(pos + len));
    pos += len;
  } while (pos < raw.size());
  std::uint32_t a = 1, b = 0;  // Adler-32
  for (std::uint8_t v : raw) {
    a = (a + v) % 65521u;
    b = (b + a) % 65521u;
  }
  put32(z, (b << 16) | a);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

void write_png(const std::string& path, const Canvas& canvas) {
  const auto bytes = encode_png(canvas);
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw runtime_error("cannot create '" + partial + "' (is the directory writable?)");
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) {
    std::remove(partial.c_str());
    throw runtime_error("cannot write '" + partial + "' (disk full?)");
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0)
    throw runtime_error("cannot rename '" + partial + "' to '" + path + "'");
}

}  // namespace phyflow::io
