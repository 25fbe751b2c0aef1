// A minimal PNG writer for the plots workflows leave next to their output (e.g. the message
// sparsity chart of workflow: distill), with no image library: an 8-bit palette image in
// stored (uncompressed) deflate blocks, CRC-32 and Adler-32 computed here. Written as
// PATH.partial and renamed, like every output. Plus a tiny raster canvas for bar and scatter
// charts (rectangles, lines, dots; no text: the captions live in the Markdown report).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace phyflow::io {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

/// A width x height image of palette indices (0 = the first palette colour, the background).
class Canvas {
 public:
  Canvas(int width, int height, std::vector<Rgb> palette);
  int width() const { return w_; }
  int height() const { return h_; }
  /// Pixel (x, y) with y = 0 at the top; outside the image: ignored.
  void set(int x, int y, std::uint8_t colour);
  /// Filled rectangle [x0, x1] x [y0, y1] (corners in any order), clipped.
  void fill(int x0, int y0, int x1, int y1, std::uint8_t colour);
  /// Straight line (Bresenham), clipped.
  void line(int x0, int y0, int x1, int y1, std::uint8_t colour);
  /// A (2r+1)-square dot centred on (x, y).
  void dot(int x, int y, int r, std::uint8_t colour);
  const std::vector<std::uint8_t>& pixels() const { return px_; }
  const std::vector<Rgb>& palette() const { return palette_; }

 private:
  int w_, h_;
  std::vector<Rgb> palette_;
  std::vector<std::uint8_t> px_;
};

/// Encodes the canvas as PNG bytes (colour type 3, bit depth 8).
std::vector<std::uint8_t> encode_png(const Canvas& canvas);
/// Writes the canvas to `path` (PATH.partial, then rename); a runtime error on failure.
void write_png(const std::string& path, const Canvas& canvas);

/// CRC-32 (ISO 3309, as PNG and zlib) of `n` bytes, continuing from `crc` (0 to start).
std::uint32_t crc32(const std::uint8_t* data, std::size_t n, std::uint32_t crc = 0);

}  // namespace phyflow::io
