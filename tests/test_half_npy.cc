#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "ghostkv/half.h"
#include "ghostkv/io/npy.h"

using namespace ghostkv;
namespace fs = std::filesystem;

TEST(Half, RoundTripAndRoundingDirection) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> ex(-30, 16);
  for (int i = 0; i < 200000; ++i) {
    double x = std::ldexp(1.0 + std::uniform_real_distribution<double>(0, 1)(rng), int(ex(rng)));
    if (i % 2) x = -x;
    // round-up helpers: never below x, and the next value down is below x
    uint16_t h = f16_round_up(x);
    ASSERT_GE(double(f16_to_f32(h)), x) << x;
    uint16_t b = bf16_round_up(x);
    ASSERT_GE(double(bf16_to_f32(b)), x) << x;
    float f = f32_round_up(x);
    ASSERT_GE(double(f), x);
    ASSERT_LT(double(std::nextafter(f, -INFINITY)), x);
    float fd = f32_round_down(x);
    ASSERT_LE(double(fd), x);
    // nearest: within half an ulp of the format
    float xf = float(x);
    if (std::fabs(xf) < 65504 && std::fabs(xf) > 6.2e-5) {
      float r = f16_to_f32(f32_to_f16(xf));
      ASSERT_LE(std::fabs(double(r) - xf), std::fabs(double(xf)) * 0x1p-11 * (1 + 1e-12)) << xf;
    }
    float rb = bf16_to_f32(f32_to_bf16(xf));
    ASSERT_LE(std::fabs(double(rb) - xf), std::fabs(double(xf)) * 0x1p-8 * (1 + 1e-12)) << xf;
  }
  // exact values survive; specials
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 0.000060975552f}) EXPECT_EQ(f16_to_f32(f32_to_f16(v)), v);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_TRUE(std::isinf(f16_to_f32(f16_round_up(1e6))));
  EXPECT_EQ(f16_to_f32(f16_round_up(0.0)), 0.0f);
  // every f16 bit pattern round-trips through float32
  for (uint32_t u = 0; u < 65536; ++u) {
    float x = f16_to_f32(uint16_t(u));
    if (std::isnan(x)) continue;
    ASSERT_EQ(f32_to_f16(x), uint16_t(u)) << u;
  }
}

static std::string tmpdir() {
  auto p = fs::temp_directory_path() / ("ghostkv_test_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p.string();
}

TEST(Npy, RoundTripAllTypes) {
  const std::string d = tmpdir();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{7}, {3, 5}, {2, 3, 4}, {0, 4}, {1, 1, 1}}) {
      Tensor x(t, shape);
      auto* p = reinterpret_cast<uint8_t*>(x.raw());
      for (size_t i = 0; i < x.nbytes(); ++i) p[i] = uint8_t(i * 37 + 11);
      std::string f = d + "/x.npy";
      write_npy(f, x);
      Tensor y = read_npy(f);
      ASSERT_EQ(y.dtype(), t);
      ASSERT_EQ(y.shape(), shape);
      ASSERT_EQ(0, std::memcmp(x.raw(), y.raw(), x.nbytes()));
    }
  }
  fs::remove_all(d);
}

static void write_raw(const std::string& f, const std::string& s) {
  std::ofstream o(f, std::ios::binary);
  o << s;
}

static std::string npy_bytes(const std::string& dict, size_t payload) {
  std::string h = dict;
  size_t total = 10 + h.size() + 1;
  h += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(h.size() & 0xff);
  out += char(h.size() >> 8);
  return out + h + std::string(payload, '\0');
}

TEST(Npy, BadFilesGiveClearErrors) {
  const std::string d = tmpdir();
  auto expect_error = [&](const std::string& content, const std::string& needle) {
    std::string f = d + "/bad.npy";
    write_raw(f, content);
    try {
      read_npy(f);
      FAIL() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos) << e.what();
    }
  };
  expect_error("hello", "magic");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 10), "truncated");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 100), "trailing");
  expect_error(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", 16), "unsupported npy dtype");
  expect_error(npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", 32), "unsupported npy dtype");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16), "Fortran");
  // a header that claims an absurd size must not allocate it
  expect_error(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", 16),
               "more bytes than the file has");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 16), "bad dimension");
  try {
    read_npy(d + "/does_not_exist.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist.npy"), std::string::npos);
  }
  fs::remove_all(d);
}
