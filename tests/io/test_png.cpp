// The PNG writer (src/io/png.cpp) against the PNG specification: the CRC-32 check value, the
// chunk layout and every chunk's CRC, the zlib stream decoded by hand (stored blocks, Adler-32)
// back to the pixels drawn; and, when /usr/bin/python3 is there, Python's zlib inflating the
// IDAT stream to the same bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "io_test_support.hpp"
#include "phyflow/io/png.hpp"

namespace {

using phyflow::io::Canvas;
using phyflow::io::Rgb;
using phyflow::io::testing::TempDir;

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 |
         std::uint32_t(b[at + 2]) << 8 | std::uint32_t(b[at + 3]);
}

TEST(Png, Crc32CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(phyflow::io::crc32(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()),
            0xcbf43926u);
}

TEST(Png, ChunksCrcsAndPixelsRoundTrip) {
  // Wide enough that the image data spans two stored blocks (> 65535 bytes).
  Canvas c(300, 250, {Rgb{255, 255, 255}, Rgb{0, 0, 0}, Rgb{200, 30, 30}});
  c.line(0, 0, 299, 249, 1);
  c.fill(10, 20, 40, 60, 2);
  c.dot(150, 5, 2, 2);
  c.set(-1, 3, 1);  // clipped, ignored
  const auto png = phyflow::io::encode_png(c);
  const std::vector<std::uint8_t> sig = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ASSERT_TRUE(std::equal(sig.begin(), sig.end(), png.begin()));
  std::size_t at = 8;
  std::vector<std::string> types;
  std::vector<std::uint8_t> idat;
  while (at < png.size()) {
    const std::uint32_t len = be32(png, at);
    const std::string type(png.begin() + long(at) + 4, png.begin() + long(at) + 8);
    types.push_back(type);
    EXPECT_EQ(phyflow::io::crc32(png.data() + at + 4, len + 4), be32(png, at + 8 + len)) << type;
    if (type == "IHDR") {
      EXPECT_EQ(be32(png, at + 8), 300u);
      EXPECT_EQ(be32(png, at + 12), 250u);
      EXPECT_EQ(png[at + 16], 8);  // bit depth
      EXPECT_EQ(png[at + 17], 3);  // palette
    }
    if (type == "PLTE") EXPECT_EQ(len, 9u);
    if (type == "IDAT") idat.assign(png.begin() + long(at) + 8, png.begin() + long(at) + 8 + len);
    at += 12 + len;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "PLTE", "IDAT", "IEND"}));
  // Inflate the stored blocks.
  ASSERT_GE(idat.size(), 6u);
  EXPECT_EQ((idat[0] * 256 + idat[1]) % 31, 0);  // zlib header check
  std::vector<std::uint8_t> raw;
  std::size_t p = 2;
  int blocks = 0;
  for (bool last = false; !last; ++blocks) {
    last = idat[p] & 1;
    EXPECT_EQ(idat[p] >> 1, 0);  // stored
    const unsigned len = idat[p + 1] | idat[p + 2] << 8, nlen = idat[p + 3] | idat[p + 4] << 8;
    EXPECT_EQ(len ^ 0xffffu, nlen);
    raw.insert(raw.end(), idat.begin() + long(p) + 5, idat.begin() + long(p) + 5 + len);
    p += 5 + len;
  }
  EXPECT_EQ(blocks, 2);
  std::uint32_t a = 1, b = 0;
  for (auto v : raw) a = (a + v) % 65521u, b = (b + a) % 65521u;
  EXPECT_EQ(be32(idat, p), (b << 16) | a);
  ASSERT_EQ(raw.size(), 250u * 301u);
  for (int y = 0; y < 250; ++y) {
    EXPECT_EQ(raw[std::size_t(y) * 301], 0) << "filter byte of row " << y;
    for (int x = 0; x < 300; ++x)
      ASSERT_EQ(raw[std::size_t(y) * 301 + 1 + std::size_t(x)], c.pixels()[std::size_t(y) * 300 + std::size_t(x)]);
  }
  EXPECT_EQ(c.pixels()[30 * 300 + 20], 2);   // inside the rectangle
  EXPECT_EQ(c.pixels()[0], 1);               // the line's first pixel
  EXPECT_EQ(c.pixels()[249 * 300 + 299], 1); // and its last
}

TEST(Png, WriteIsAtomicAndPythonInflatesIt) {
  TempDir dir;
  const std::string path = dir.file("chart.png");
  Canvas c(40, 30, {Rgb{255, 255, 255}, Rgb{10, 20, 30}});
  c.fill(5, 5, 20, 25, 1);
  phyflow::io::write_png(path, c);
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(bytes, phyflow::io::encode_png(c));
  std::ifstream partial(path + ".partial");
  EXPECT_FALSE(partial.good());
  if (std::system("/usr/bin/python3 -c 'import zlib' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no /usr/bin/python3";
  const std::string cmd =
      "/usr/bin/python3 -c \"import zlib,struct,sys; b=open('" + path + "','rb').read(); i=8; d=b''\n"
      "while i < len(b):\n"
      "  n,=struct.unpack('>I',b[i:i+4]); t=b[i+4:i+8]\n"
      "  if t==b'IDAT': d+=b[i+8:i+8+n]\n"
      "  i+=12+n\n"
      "r=zlib.decompress(d); assert len(r)==30*41, len(r)\n"
      "assert r[10*41+1+10]==1 and r[1]==0\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace
