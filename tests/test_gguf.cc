// GGUF reader: metadata of every value type, tensor infos and alignment, dequantisation of every
// supported ggml type against gguf-py's numpy dequantize (bit-exact), llama.cpp's Q/K row
// permutation against numpy, and hostile files (truncated at every byte, absurd lengths, bad
// types, overlapping or misaligned tensors, random corruption): always ghostkv::Error, never a crash.
// tests/data/gguf/*.gguf are written by scripts/make_gguf_testdata.py with the `gguf` package.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "ghostkv/error.h"
#include "ghostkv/io/gguf.h"
#include "ghostkv/model/gguf_model.h"

using namespace ghostkv;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(GHOSTKV_SOURCE_DIR) + "/tests/data/gguf";

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string temp_file(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("ghostkv_test_gguf_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return p.string();
}

// Minimal GGUF byte writer for hand-made (hostile) files.
struct Bytes {
  std::string b;
  template <class T>
  Bytes& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b += "GGUF";
    return put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t off) {
    str(name).put<uint32_t>(uint32_t(ne.size()));
    for (uint64_t x : ne) put<uint64_t>(x);
    return put<uint32_t>(type).put<uint64_t>(off);
  }
  Bytes& pad(size_t align = 32) {
    while (b.size() % align) b += '\0';
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
};

// Opening must throw ghostkv::Error whose message contains `needle`.
void expect_error(const std::string& name, const std::string& bytes, const std::string& needle) {
  const std::string p = temp_file(name, bytes);
  try {
    GgufFile f(p);
    ADD_FAILURE() << name << ": opened without error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << name << ": message '" << msg << "' lacks '" << needle << "'";
    EXPECT_NE(msg.find(p), std::string::npos) << name << ": message '" << msg << "' does not name the file";
  }
  fs::remove(p);
}

}  // namespace

TEST(Gguf, MetadataEveryValueType) {
  const GgufFile f(kData + "/metadata.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64);
  EXPECT_EQ(f.get_string("general.architecture"), "test");
  EXPECT_EQ(f.get_int("t.u8"), 200);
  EXPECT_EQ(f.get_int("t.i8"), -100);
  EXPECT_EQ(f.get_int("t.u16"), 60000);
  EXPECT_EQ(f.get_int("t.i16"), -30000);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000LL);
  EXPECT_EQ(f.get("t.u64").u, 18000000000000000000ULL);
  EXPECT_THROW(f.get_int("t.u64"), Error);  // above INT64_MAX
  EXPECT_EQ(f.get_int("t.i64"), -9000000000000000000LL);
  EXPECT_EQ(f.get_float("t.f32"), double(0.1f));
  EXPECT_EQ(f.get_float("t.f64"), 0.1);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.str"), "naïve 🦙 \"q\"\n");
  EXPECT_EQ(f.get_string("t.empty_str"), "");
  EXPECT_EQ(f.get_i32_array("t.arr_u8"), (std::vector<int32_t>{0, 255, 7}));
  EXPECT_EQ(f.get_i32_array("t.arr_i32"), (std::vector<int32_t>{-1, 2, 2147483647}));
  EXPECT_THROW(f.get_i32_array("t.arr_u64"), Error);  // 1.8e19 does not fit
  EXPECT_EQ(f.get("t.arr_u64").items.at(1).u, 18000000000000000000ULL);
  EXPECT_EQ(f.get_f32_array("t.arr_f32"), (std::vector<float>{0.5f, -2.25f, 1e-30f}));
  EXPECT_EQ(f.get("t.arr_f64").items.at(0).f, 0.1);
  EXPECT_EQ(f.get("t.arr_f64").items.at(1).f, -0.2);
  EXPECT_EQ(f.get("t.arr_bool").items.at(0).i, 1);
  EXPECT_EQ(f.get("t.arr_bool").items.at(1).i, 0);
  EXPECT_EQ(f.get_string_array("t.arr_str"), (std::vector<std::string>{"a", "", "Ġthe", "▁x"}));
  const GgufValue& nested = f.get("t.nested");
  ASSERT_EQ(nested.elem_type, GgufValueType::array);
  ASSERT_EQ(nested.items.size(), 3u);
  EXPECT_EQ(nested.items[2].items.size(), 3u);
  EXPECT_EQ(nested.items[2].items[2].i, 6);
  EXPECT_EQ(f.get("t.nested_str").items[0].items[1].s, "y");
  // Wrong-type access and missing keys are Errors naming the key.
  EXPECT_THROW(f.get_string("t.u8"), Error);
  EXPECT_THROW(f.get_int("t.str"), Error);
  EXPECT_THROW(f.get_string_array("t.arr_i32"), Error);
  try {
    f.get("no.such.key");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.key"), std::string::npos);
  }
  EXPECT_EQ(f.get_int_or("no.such.key", 7), 7);
}

TEST(Gguf, TensorInfosAndAlignment) {
  const GgufFile f(kData + "/metadata.gguf");
  ASSERT_EQ(f.tensors().size(), 3u);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0) << t.name;
  const GgufTensorInfo& a = f.tensor("a");
  EXPECT_EQ(a.ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(a.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.to_f32("a", {2, 3}), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.tensor("b").type, uint32_t(GgmlType::f16));
  EXPECT_EQ(f.to_f32("b", {3}), (std::vector<float>{1.5f, -2.0f, 0.25f}));
  std::vector<float> c = f.to_f32("c.three_d", {2, 3, 4});
  for (int i = 0; i < 24; ++i) EXPECT_EQ(c[size_t(i)], float(i));
  try {
    f.to_f32("a", {3, 2});
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 2]"), std::string::npos) << m;
  }
  EXPECT_THROW(f.tensor("missing"), Error);
}

// Every supported type against gguf-py (numpy float32 arithmetic of ggml's definition): bit-exact.
TEST(Gguf, DequantMatchesGgufPyExactly) {
  const GgufFile f(kData + "/dequant.gguf");
  for (const char* name : {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}) {
    SCOPED_TRACE(name);
    const GgufTensorInfo& t = f.tensor(name);
    EXPECT_EQ(ggml_type_name(t.type), name);
    EXPECT_TRUE(ggml_type_dequantizable(t.type));
    const std::vector<int64_t> shape = t.shape();
    const std::vector<float> got = f.to_f32(name, shape);
    const std::vector<float> ref = f.to_f32(std::string(name) + ".ref", shape);
    ASSERT_EQ(got.size(), ref.size());
    int64_t n_diff = 0, n_nonzero = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      n_diff += std::memcmp(&got[i], &ref[i], 4) != 0;
      n_nonzero += got[i] != 0;
    }
    EXPECT_EQ(n_diff, 0) << "of " << got.size();
    EXPECT_GT(n_nonzero, int64_t(got.size()) / 2);  // the test data is not degenerate
  }
}

// An independent float64 reading of the block layouts (the numpy reference above shares the
// layout knowledge with us through gguf-py): every dequantised value within one float32 rounding
// of the exact d·q + m (two roundings for the affine types).
TEST(Gguf, DequantWithinRoundingOfFloat64Definition) {
  const GgufFile f(kData + "/dequant.gguf");
  auto h = [](const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    const int e = (v >> 10) & 31, m = v & 1023;
    const double s = (v >> 15) ? -1 : 1;
    return e == 0 ? s * std::ldexp(m, -24) : s * std::ldexp(1024 + m, e - 25);
  };
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}) {
    SCOPED_TRACE(name);
    const GgufTensorInfo& t = f.tensor(name);
    const std::vector<float> got = f.to_f32(name, t.shape());
    int64_t be = 0, bb = 0;
    ASSERT_TRUE(ggml_type_layout(t.type, &be, &bb));
    const std::string n = name;
    for (int64_t b = 0; b < t.numel() / 32; ++b) {
      const uint8_t* p = t.data + b * bb;
      const double d = h(p);
      const double m = (n == "Q4_1" || n == "Q5_1") ? h(p + 2) : 0;
      for (int j = 0; j < 32; ++j) {
        double q = 0;
        if (n == "Q8_0") q = int8_t(p[2 + j]);
        else {
          const uint8_t* qs = p + bb - 16;
          const int nib = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
          int hi = 0;
          if (n == "Q5_0" || n == "Q5_1") {
            uint32_t qh;
            std::memcpy(&qh, p + (n == "Q5_0" ? 2 : 4), 4);
            hi = int((qh >> j) & 1) << 4;
          }
          q = nib | hi;
          if (n == "Q4_0") q -= 8;
          if (n == "Q5_0") q -= 16;
        }
        const double exact = d * q + m;
        const double tol = (std::fabs(d * q) + std::fabs(exact)) * std::ldexp(1.0, -24);
        ASSERT_LE(std::fabs(got[size_t(b * 32 + j)] - exact), tol) << "block " << b << " j " << j;
      }
    }
  }
}

TEST(Gguf, UnsupportedTypesAreErrors) {
  std::vector<uint8_t> raw(256 * 2);
  std::vector<float> out(256);
  for (uint32_t t : {uint32_t(GgmlType::q4_k), uint32_t(GgmlType::q6_k), uint32_t(GgmlType::q8_1), 99u}) {
    EXPECT_FALSE(ggml_type_dequantizable(t));
    EXPECT_THROW(dequantize_ggml(t, raw.data(), 256, out.data(), "t"), Error) << t;
  }
  EXPECT_THROW(dequantize_ggml(uint32_t(GgmlType::q8_0), raw.data(), 31, out.data(), "t"), Error);
}

// llama.cpp's converter permutation (numpy, in the test file) and our inverse.
TEST(Gguf, QkPermutationMatchesConverter) {
  const GgufFile f(kData + "/dequant.gguf");
  const int64_t n_head = f.get_int("perm.n_head");
  const std::vector<int64_t> shape = f.tensor("perm.src").shape();
  const int64_t rows = shape[0], d_in = shape[1], d_head = rows / n_head;
  const std::vector<float> src = f.to_f32("perm.src", shape), dst = f.to_f32("perm.dst", shape);
  EXPECT_EQ(permute_llamacpp_qk(src, n_head, d_head, d_in), dst);
  EXPECT_EQ(unpermute_llamacpp_qk(dst, n_head, d_head, d_in), src);
  // Synthetic round trips over several shapes; a row is identified by its value.
  for (auto [nh, dh, di] : {std::tuple<int64_t, int64_t, int64_t>{1, 4, 1}, {3, 64, 7}, {9, 64, 1}, {2, 128, 3}}) {
    std::vector<float> w(size_t(nh * dh * di));
    for (size_t i = 0; i < w.size(); ++i) w[i] = float(i);
    const std::vector<float> g = permute_llamacpp_qk(w, nh, dh, di);
    EXPECT_NE(g, w);
    EXPECT_EQ(unpermute_llamacpp_qk(g, nh, dh, di), w);
    // gguf row 2i+s of head h = hf row s·dh/2 + i
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t i = 0; i < dh / 2; ++i)
        for (int64_t s = 0; s < 2; ++s)
          EXPECT_EQ(g[size_t((h * dh + 2 * i + s) * di)], w[size_t((h * dh + s * dh / 2 + i) * di)]);
  }
  EXPECT_THROW(unpermute_llamacpp_qk(src, n_head, d_head + 1, d_in), Error);
}

TEST(Gguf, Version2ReadsAndOthersAreRejected) {
  std::string b = read_bytes(kData + "/metadata.gguf");
  ASSERT_GT(b.size(), 100u);
  b[4] = 2;
  {
    const std::string p = temp_file("v2.gguf", b);
    const GgufFile f(p);
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(f.get_int("t.u32"), 4000000000LL);
    EXPECT_EQ(f.to_f32("a", {2, 3}), (std::vector<float>{0, 1, 2, 3, 4, 5}));
    fs::remove(p);
  }
  b[4] = 1;
  expect_error("v1.gguf", b, "version 1");
  b[4] = 4;
  expect_error("v4.gguf", b, "version 4");
  b[0] = 'X';
  expect_error("magic.gguf", b, "not a GGUF file");
}

// Every prefix of a valid file that cuts into its header, metadata, tensor infos or tensor data is
// an Error (never a crash or a silent partial read); only the trailing alignment padding after the
// last tensor may be cut.
TEST(Gguf, TruncatedAtEveryByteIsAnError) {
  const std::string b = read_bytes(kData + "/metadata.gguf");
  const GgufFile full(kData + "/metadata.gguf");
  const GgufTensorInfo& last = full.tensors().back();  // the writer stores tensors in order
  const std::string p = temp_file("trunc.gguf", "");
  int64_t first_ok = -1;
  for (size_t n = 0; n <= b.size(); ++n) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(b.data(), std::streamsize(n));
    bool ok = true;
    try {
      GgufFile f(p);
    } catch (const Error&) {
      ok = false;
    }
    if (ok && first_ok < 0) first_ok = int64_t(n);
    if (first_ok >= 0) {
      EXPECT_TRUE(ok) << "prefix of " << n << " bytes rejected after a shorter one opened";
    }
  }
  // The shortest file that opens ends exactly with the last tensor's data.
  EXPECT_EQ(first_ok, full.data_offset() + last.offset + last.nbytes);
  EXPECT_LT(int64_t(b.size()) - first_ok, full.alignment());
  fs::remove(p);
}

TEST(Gguf, HostileHeadersAreErrors) {
  expect_error("huge_string.gguf", Bytes().header(0, 1).put<uint64_t>(uint64_t(1) << 62).b, "string length");
  expect_error("huge_kv.gguf", Bytes().header(0, uint64_t(1) << 40).b, "metadata_kv_count");
  expect_error("huge_tensors.gguf", Bytes().header(uint64_t(1) << 40, 0).b, "tensor_count");
  expect_error("huge_array.gguf",
               Bytes().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(uint64_t(1) << 40).b,
               "array length");
  expect_error("array_beyond_eof.gguf",
               Bytes().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(0).put<uint64_t>(1000).zeros(10).b,
               "truncated");
  {
    Bytes deep;
    deep.header(0, 1).str("k").put<uint32_t>(9);  // value type ARRAY, then each level: ARRAY of 1 item
    for (int i = 0; i < 12; ++i) deep.put<uint32_t>(9).put<uint64_t>(1);
    expect_error("deep.gguf", deep.b, "nested");
  }
  expect_error("bad_type.gguf", Bytes().header(0, 1).str("k").put<uint32_t>(13).zeros(8).b, "unknown value type");
  expect_error("bad_bool.gguf", Bytes().header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2).b, "BOOL");
  expect_error("dup_key.gguf",
               Bytes().header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2).b,
               "twice");
  expect_error("bad_align.gguf", Bytes().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(3).b,
               "power of two");
  expect_error("align_type.gguf", Bytes().header(0, 1).str("general.alignment").put<uint32_t>(5).put<int32_t>(32).b,
               "UINT32");
  expect_error("n_dims.gguf", Bytes().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(4).b, "n_dims");
  expect_error("ggml_type.gguf", Bytes().header(1, 0).tensor("t", {4}, 77, 0).pad().zeros(16).b, "ggml type");
  expect_error("block.gguf", Bytes().header(1, 0).tensor("t", {33}, 8, 0).pad().zeros(64).b, "block size");
  expect_error("misaligned.gguf", Bytes().header(1, 0).tensor("t", {4}, 0, 4).pad().zeros(32).b, "alignment");
  expect_error("beyond_eof.gguf", Bytes().header(1, 0).tensor("t", {1024}, 0, 0).pad().zeros(100).b,
               "beyond the end");
  expect_error("overflow.gguf",
               Bytes().header(1, 0).tensor("t", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0).pad().zeros(8).b,
               "overflow");
  expect_error("overlap.gguf",
               Bytes().header(2, 0).tensor("t", {16}, 0, 0).tensor("u", {16}, 0, 32).pad().zeros(128).b, "overlap");
  expect_error("dup_tensor.gguf", Bytes().header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad().zeros(64).b,
               "twice");
  // A well-formed hand-made file opens (the builder itself is right).
  const std::string ok = temp_file("ok.gguf", Bytes().header(1, 0).tensor("t", {8}, 0, 0).pad().zeros(32).b);
  EXPECT_NO_THROW(GgufFile{ok});
  fs::remove(ok);
}

// Seeded random corruption of a valid file: each variant either opens or throws ghostkv::Error.
TEST(Gguf, RandomCorruptionNeverCrashes) {
  const std::string b = read_bytes(kData + "/metadata.gguf");
  const uint64_t seed = 12345;
  std::mt19937_64 rng(seed);
  const std::string p = temp_file("fuzz.gguf", "");
  int64_t n_ok = 0, n_err = 0;
  for (int it = 0; it < 1500; ++it) {
    std::string c = b;
    const int n_flip = 1 + int(rng() % 4);
    for (int k = 0; k < n_flip; ++k) {
      const size_t pos = size_t(rng() % std::min<size_t>(c.size(), 700));  // header and metadata region
      c[pos] = char(rng() % 3 == 0 ? 0xFF : rng());
    }
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(c.data(), std::streamsize(c.size()));
    try {
      GgufFile f(p);
      for (const GgufTensorInfo& t : f.tensors())
        if (ggml_type_dequantizable(t.type) && t.numel() < (1 << 20)) (void)f.to_f32(t.name, t.shape());
      ++n_ok;
    } catch (const Error&) {
      ++n_err;
    }
  }
  std::printf("[gguf] random corruption (seed %llu): %lld opened, %lld rejected\n", (unsigned long long)seed,
              (long long)n_ok, (long long)n_err);
  EXPECT_GT(n_err, 0);
  fs::remove(p);
}
