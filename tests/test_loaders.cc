// Loaders: safetensors (mmap, validation), HF config.json parsing (incl. RoPE scaling), HF Llama /
// llama2.c weights. Tiny fixtures are written byte by byte from the tests into a temp folder; the
// real checkpoints are read from ../shared/models (skipped only when ../shared is absent).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numbers>
#include <random>
#include <unistd.h>

#include "ghostkv/error.h"
#include "test_expect_error.h"
#include "ghostkv/half.h"
#include "ghostkv/io/safetensors.h"
#include "ghostkv/model/config.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;
namespace fs = std::filesystem;

namespace {

// ---------------- helpers ----------------

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto p = fs::temp_directory_path() /
           ("ghostkv_loaders_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  ASSERT_TRUE(f.good()) << path;
  f.write(bytes.data(), int64_t(bytes.size()));
}

std::string read_bytes(const std::string& path, int64_t off, int64_t n) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(off);
  std::string s(size_t(n), '\0');
  f.read(s.data(), n);
  return s;
}

using ghostkv::test::expect_error;

template <class T>
std::string le_bytes(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}

std::string encode(const std::string& dtype, const std::vector<float>& v) {
  std::string s;
  for (float x : v) {
    if (dtype == "F32") s += le_bytes(x);
    else if (dtype == "F64") s += le_bytes(double(x));
    else if (dtype == "F16") s += le_bytes(f32_to_f16(x));
    else if (dtype == "BF16") s += le_bytes(f32_to_bf16(x));
    else if (dtype == "I32") s += le_bytes(int32_t(x));
    else ADD_FAILURE() << "encode: dtype " << dtype;
  }
  return s;
}

struct StTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

std::string json_shape(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o += ',';
    o += std::to_string(s[i]);
  }
  return o + "]";
}

// 8-byte LE header length + header + data.
std::string st_raw(const std::string& header, const std::string& data) {
  return le_bytes(uint64_t(header.size())) + header + data;
}

// A well-formed safetensors file: tensors packed in order, header padded with spaces to 8 bytes.
std::string st_file(const std::vector<StTensor>& ts) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}", data;
  for (const auto& t : ts) {
    const std::string b = encode(t.dtype, t.values);
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + json_shape(t.shape) +
              ",\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + b.size()) + "]}";
    data += b;
  }
  header += "}";
  while ((8 + header.size()) % 8) header += ' ';
  return st_raw(header, data);
}

// A one-tensor header with a custom entry body.
std::string one_entry(const std::string& name, const std::string& body) { return "{\"" + name + "\":" + body + "}"; }

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Values exactly representable in bf16 and f16: k + (i mod 8)/8 with k < 32 (8 significant bits).
std::vector<float> pattern(int k, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(k) + float(i % 8) / 8.0f;
  return v;
}

std::string shared_dir() { return std::string(GHOSTKV_SOURCE_DIR) + "/../shared"; }

// ---------------- tiny HF checkpoint ----------------

struct TinyDims {
  int64_t d = 8, n_layer = 2, n_head_q = 2, n_head_kv = 1, d_head = 4, d_ff = 12, n_vocab = 16, max_pos = 32;
};

// config.json as an ordered list of (key, raw JSON); an override with value "" deletes the key.
std::string config_json(const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::map<std::string, std::string>& over = {}) {
  std::string s = "{";
  bool first = true;
  std::map<std::string, std::string> rest = over;
  auto emit = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    s += (first ? "\n  \"" : ",\n  \"") + k + "\": " + v;
    first = false;
  };
  for (const auto& [k, v] : fields) {
    auto it = rest.find(k);
    if (it != rest.end()) {
      emit(k, it->second);
      rest.erase(it);
    } else {
      emit(k, v);
    }
  }
  for (const auto& [k, v] : rest) emit(k, v);
  return s + "\n}\n";
}

std::vector<std::pair<std::string, std::string>> tiny_config_fields(const TinyDims& t, const std::string& model_type,
                                                                   bool tied) {
  return {{"architectures", "[\"LlamaForCausalLM\"]"},
          {"model_type", "\"" + model_type + "\""},
          {"hidden_size", std::to_string(t.d)},
          {"num_hidden_layers", std::to_string(t.n_layer)},
          {"num_attention_heads", std::to_string(t.n_head_q)},
          {"num_key_value_heads", std::to_string(t.n_head_kv)},
          {"head_dim", std::to_string(t.d_head)},
          {"intermediate_size", std::to_string(t.d_ff)},
          {"vocab_size", std::to_string(t.n_vocab)},
          {"max_position_embeddings", std::to_string(t.max_pos)},
          {"rms_norm_eps", "1e-06"},
          {"hidden_act", "\"silu\""},
          {"bos_token_id", "1"},
          {"eos_token_id", "2"},
          {"rope_parameters", "{\"rope_theta\": 500000.0, \"rope_type\": \"default\"}"},
          {"tie_word_embeddings", tied ? "true" : "false"}};
}

std::vector<StTensor> tiny_tensors(const TinyDims& t, bool qkv_bias, bool tied) {
  std::vector<StTensor> out;
  int k = 0;
  const char* dtypes[] = {"BF16", "F16", "F32", "F64"};
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    out.push_back({name, dtypes[k % 4], shape, pattern(k, numel(shape))});
    ++k;
  };
  const int64_t q = t.n_head_q * t.d_head, kv = t.n_head_kv * t.d_head;
  add("model.embed_tokens.weight", {t.n_vocab, t.d});
  for (int64_t i = 0; i < t.n_layer; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {t.d});
    add(p + "self_attn.q_proj.weight", {q, t.d});
    add(p + "self_attn.k_proj.weight", {kv, t.d});
    add(p + "self_attn.v_proj.weight", {kv, t.d});
    add(p + "self_attn.o_proj.weight", {t.d, q});
    if (qkv_bias) {
      add(p + "self_attn.q_proj.bias", {q});
      add(p + "self_attn.k_proj.bias", {kv});
      add(p + "self_attn.v_proj.bias", {kv});
    }
    add(p + "post_attention_layernorm.weight", {t.d});
    add(p + "mlp.gate_proj.weight", {t.d_ff, t.d});
    add(p + "mlp.up_proj.weight", {t.d_ff, t.d});
    add(p + "mlp.down_proj.weight", {t.d, t.d_ff});
  }
  add("model.norm.weight", {t.d});
  if (!tied) add("lm_head.weight", {t.n_vocab, t.d});
  return out;
}

const StTensor& find(const std::vector<StTensor>& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("fixture lacks " + name);
}

void write_tiny_hf(const std::string& dir, const std::vector<StTensor>& ts, const std::string& config) {
  write_bytes(dir + "/config.json", config);
  write_bytes(dir + "/model.safetensors", st_file(ts));
}

// ---------------- tiny llama2.c checkpoint ----------------

struct L2cDims {
  int32_t dim = 8, hidden = 12, n_layer = 2, n_head = 2, n_kv = 1, vocab = 5, seq_len = 4;
};

// Every array is filled with pattern(id, n), ids in file order: 0 embed, 1 rms_att, 2 wq, 3 wk, 4 wv,
// 5 wo, 6 rms_ffn, 7 w1, 8 w2, 9 w3, 10 rms_final, 11/12 rope tables, 13 wcls. Per-layer arrays
// continue the element index across layers, so layer l's slice starts at l·size.
std::string l2c_file(const L2cDims& h) {
  std::string s;
  for (int32_t v : {h.dim, h.hidden, h.n_layer, h.n_head, h.n_kv, h.vocab, h.seq_len}) s += le_bytes(v);
  const int64_t dim = h.dim, L = h.n_layer, head = dim / h.n_head, kv_dim = h.n_kv * head, vocab = std::abs(h.vocab);
  auto arr = [&](int id, int64_t n) { s += encode("F32", pattern(id, n)); };
  arr(0, vocab * dim);
  arr(1, L * dim);
  arr(2, L * dim * dim);
  arr(3, L * kv_dim * dim);
  arr(4, L * kv_dim * dim);
  arr(5, L * dim * dim);
  arr(6, L * dim);
  arr(7, L * h.hidden * dim);
  arr(8, L * dim * h.hidden);
  arr(9, L * h.hidden * dim);
  arr(10, dim);
  arr(11, h.seq_len * head / 2);
  arr(12, h.seq_len * head / 2);
  if (h.vocab < 0) arr(13, vocab * dim);
  return s;
}

std::vector<float> slice(int id, int64_t layer, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(id) + float((layer * n + i) % 8) / 8.0f;
  return v;
}

}  // namespace

// ================= safetensors =================

TEST(Safetensors, ReadsFloatDtypesAndMetadata) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  const std::vector<float> v = {1.0f, -2.5f, 0.125f, 3.0f, -0.0f, 49152.0f};  // exact in f16 and bf16
  write_bytes(p, st_file({{"f32", "F32", {2, 3}, v},
                          {"f16", "F16", {6}, v},
                          {"bf16", "BF16", {3, 2}, v},
                          {"f64", "F64", {1, 6}, v},
                          {"i32", "I32", {2}, {7, -1}},
                          {"empty", "F32", {0, 4}, {}},
                          {"scalar", "F32", {}, {42}}}));
  SafetensorsFile f(p);
  EXPECT_EQ(f.path(), p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"f32", "f16", "bf16", "f64", "i32", "empty", "scalar"}));
  EXPECT_TRUE(f.has("bf16"));
  EXPECT_FALSE(f.has("nope"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(to_f32(f.get("f32"), {2, 3}), v);
  EXPECT_EQ(to_f32(f.get("f16"), {6}), v);
  EXPECT_EQ(to_f32(f.get("bf16"), {3, 2}), v);
  EXPECT_EQ(to_f32(f.get("f64"), {1, 6}), v);
  EXPECT_EQ(f.get("bf16").dtype, DType::bf16);
  EXPECT_EQ(f.get("bf16").nbytes, 12);
  EXPECT_EQ(f.get("bf16").file, p);
  EXPECT_EQ(to_f32(f.get("empty"), {0, 4}).size(), 0u);
  EXPECT_EQ(to_f32(f.get("scalar"), {}), std::vector<float>{42});
  expect_error([&] { to_f32(f.get("i32"), {2}); }, {p, "'i32'", "I32", "expected a floating type"});
  // Move keeps the mapping and the refs valid.
  SafetensorsFile g(std::move(f));
  const TensorRef& r = g.get("f32");
  SafetensorsFile h = std::move(g);
  EXPECT_EQ(to_f32(r, {2, 3}), v);
  EXPECT_EQ(to_f32(h.get("f64"), {1, 6}), v);
}

TEST(Safetensors, ShapeMismatchNamesExpectedAndActual) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  write_bytes(p, st_file({{"w", "BF16", {2, 3}, pattern(1, 6)}}));
  SafetensorsFile f(p);
  expect_error([&] { to_f32(f.get("w"), {3, 2}); }, {p, "'w'", "shape [2, 3]", "expected [3, 2]"});
  expect_error([&] { to_f32(f.get("w"), {6}); }, {"shape [2, 3]", "expected [6]"});
}

TEST(Safetensors, MissingTensorNamesTensorAndFile) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  write_bytes(p, st_file({{"w", "F32", {2}, {1, 2}}}));
  SafetensorsFile f(p);
  expect_error([&] { f.get("model.norm.weight"); }, {p, "'model.norm.weight'", "not found"});
}

TEST(Safetensors, TruncatedFiles) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  const std::string good = st_file({{"w", "F32", {4, 4}, pattern(1, 16)}});
  write_bytes(p, "");
  expect_error([&] { SafetensorsFile f(p); }, {p, "0 bytes", "truncated"});
  write_bytes(p, good.substr(0, 5));
  expect_error([&] { SafetensorsFile f(p); }, {p, "5 bytes"});
  // Cut inside the header: the declared header length now runs past the end of the file.
  write_bytes(p, good.substr(0, 20));
  expect_error([&] { SafetensorsFile f(p); }, {p, "header length", "exceeds the file size"});
  // Cut inside the data: the tensor's data_offsets run past the data section.
  write_bytes(p, good.substr(0, good.size() - 3));
  expect_error([&] { SafetensorsFile f(p); }, {p, "'w'", "out of range"});
  // Not a file at all.
  expect_error([&] { SafetensorsFile f(d + "/missing.safetensors"); }, {"missing.safetensors", "cannot open"});
  expect_error([&] { SafetensorsFile f(d); }, {d, "not a regular file"});
}

TEST(Safetensors, HeaderLengthBeyondFileSize) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  write_bytes(p, le_bytes(uint64_t(1) << 62) + "{}");
  expect_error([&] { SafetensorsFile f(p); }, {p, "header length 4611686018427387904", "exceeds the file size (10 bytes"});
  write_bytes(p, le_bytes(~uint64_t(0)) + "{}");
  expect_error([&] { SafetensorsFile f(p); }, {p, "exceeds the file size"});
}

TEST(Safetensors, MalformedJsonHeader) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  auto expect = [&](const std::string& header, const std::string& data, const std::vector<std::string>& parts) {
    write_bytes(p, st_raw(header, data));
    std::vector<std::string> all = parts;
    all.push_back(p);
    expect_error([&] { SafetensorsFile f(p); }, all);
  };
  expect("{\"w\": {\"dtype\": \"F32\",", "", {"malformed safetensors JSON header"});
  expect("", "", {"malformed"});
  expect("\xff\xfe{}", "", {"malformed"});
  expect("[1, 2]", "", {"expected an object"});
  expect(one_entry("w", "[1]"), "", {"'w'", "expected an object"});
  expect(one_entry("w", "{\"shape\":[1],\"data_offsets\":[0,4]}"), "abcd", {"'w'", "dtype"});
  expect(one_entry("w", "{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}"), "abcd", {"'w'", "dtype"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), "abcd", {"'w'", "shape"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), "abcd", {"'w'", "negative"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), "abcd", {"'w'", "non-integer"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1]}"), "abcd", {"'w'", "data_offsets"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), "abcd", {"'w'", "data_offsets"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}"), "abcd",
         {"'w'", "non-negative integers"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), "abcd",
         {"'w'", "non-negative integers"});
  expect("{\"__metadata__\": [1]}", "", {"__metadata__", "expected an object"});
}

TEST(Safetensors, DataOffsetsOutOfRangeOverlappingOrWrongSize) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  const std::string data(16, '\0');
  auto expect = [&](const std::string& header, const std::vector<std::string>& parts) {
    write_bytes(p, st_raw(header, data));
    expect_error([&] { SafetensorsFile f(p); }, parts);
  };
  const std::string f32_1x2 = "{\"dtype\":\"F32\",\"shape\":[1,2],";
  expect(one_entry("w", f32_1x2 + "\"data_offsets\":[12,20]}"), {p, "'w'", "[12, 20] out of range", "16"});
  expect(one_entry("w", f32_1x2 + "\"data_offsets\":[8,0]}"), {"'w'", "out of range"});
  expect(one_entry("w", f32_1x2 + "\"data_offsets\":[0,12]}"), {"'w'", "span 12 bytes", "expected 8", "[1, 2]"});
  expect(one_entry("w", f32_1x2 + "\"data_offsets\":[0,4]}"), {"'w'", "span 4 bytes", "expected 8"});
  expect("{\"a\":" + f32_1x2 + "\"data_offsets\":[0,8]},\"b\":" + f32_1x2 + "\"data_offsets\":[4,12]}}",
         {p, "'b'", "overlap", "'a'"});
  expect("{\"b\":" + f32_1x2 + "\"data_offsets\":[4,12]},\"a\":" + f32_1x2 + "\"data_offsets\":[4,12]}}",
         {"overlap"});
  // Huge shapes are refused before anything is computed or allocated (no overflow, no crash).
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,1099511627776],\"data_offsets\":[0,16]}"),
         {"'w'", "needs more bytes than the data section holds"});
  expect(one_entry("w", "{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,16]}"),
         {"'w'", "negative"});
  // A zero dimension makes the tensor empty whatever the other dimensions are.
  write_bytes(p, st_raw(one_entry("w", "{\"dtype\":\"BF16\",\"shape\":[1099511627776,0],\"data_offsets\":[16,16]}"), data));
  SafetensorsFile f(p);
  EXPECT_EQ(f.get("w").nbytes, 0);
}

TEST(Safetensors, UnknownDtype) {
  const std::string d = test_dir(), p = d + "/a.safetensors";
  for (const std::string dt : {"F8_E4M3", "Q4_0", "f32", ""}) {
    write_bytes(p, st_raw(one_entry("layers.0.w", "{\"dtype\":\"" + dt + "\",\"shape\":[4],\"data_offsets\":[0,4]}"),
                          std::string(4, '\0')));
    expect_error([&] { SafetensorsFile f(p); }, {p, "'layers.0.w'", "unsupported dtype '" + dt + "'", "BF16"});
  }
}

TEST(Safetensors, WeightStoreShardedSingleAndErrors) {
  const std::string d = test_dir();
  write_bytes(d + "/s1.safetensors", st_file({{"a", "F32", {2}, {1, 2}}, {"b", "BF16", {1}, {3}}}));
  write_bytes(d + "/s2.safetensors", st_file({{"c", "F16", {3}, {4, 5, 6}}}));
  write_bytes(d + "/model.safetensors.index.json",
              "{\"metadata\": {\"total_size\": 20}, \"weight_map\": {\"a\": \"s1.safetensors\", \"b\": "
              "\"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
  {
    WeightStore w = WeightStore::open_hf(d);
    EXPECT_EQ(w.n_files(), 2);
    EXPECT_EQ(w.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(to_f32(w.get("c"), {3}), (std::vector<float>{4, 5, 6}));
    EXPECT_EQ(to_f32(w.get("b"), {1}), std::vector<float>{3});
    EXPECT_EQ(w.get("c").file, d + "/s2.safetensors");
    WeightStore moved = std::move(w);
    EXPECT_EQ(to_f32(moved.get("a"), {2}), (std::vector<float>{1, 2}));
    expect_error([&] { moved.get("zz"); }, {d, "'zz'", "not found"});
  }
  // A single file path, or a folder with model.safetensors.
  EXPECT_TRUE(WeightStore::open_hf(d + "/s2.safetensors").has("c"));
  const std::string d2 = d + "/single";
  fs::create_directories(d2);
  expect_error([&] { WeightStore::open_hf(d2); }, {d2, "no model.safetensors"});
  fs::copy_file(d + "/s1.safetensors", d2 + "/model.safetensors");
  EXPECT_TRUE(WeightStore::open_hf(d2).has("b"));
  expect_error([&] { WeightStore::open_hf(d + "/nope"); }, {"nope", "no such file"});
  // Index errors: missing shard, tensor not in its shard, escaping paths, malformed JSON.
  auto index = [&](const std::string& s) { write_bytes(d + "/model.safetensors.index.json", s); };
  index("{\"weight_map\": {\"a\": \"s1.safetensors\", \"x\": \"s9.safetensors\"}}");
  expect_error([&] { WeightStore::open_hf(d); }, {"s9.safetensors", "'x'", "missing"});
  index("{\"weight_map\": {\"c\": \"s1.safetensors\"}}");
  expect_error([&] { WeightStore::open_hf(d); }, {"'c'", "s1.safetensors", "does not hold"});
  index("{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
  expect_error([&] { WeightStore::open_hf(d); }, {"plain file name"});
  index("{\"weight_map\": {\"a\": 3}}");
  expect_error([&] { WeightStore::open_hf(d); }, {"'a'", "shard file name"});
  index("{\"weight_map\": ");
  expect_error([&] { WeightStore::open_hf(d); }, {"model.safetensors.index.json", "malformed JSON"});
  index("{\"metadata\": {}}");
  expect_error([&] { WeightStore::open_hf(d); }, {"weight_map"});
}

TEST(Safetensors, RandomCorruptionOnlyThrowsError) {
  // Seeded byte flips / truncations of a valid file: opening and widening either succeeds with
  // in-bounds data or throws ghostkv::Error, never anything else (run under ASan to see reads).
  const std::string d = test_dir(), p = d + "/a.safetensors";
  const std::string good = st_file({{"model.embed_tokens.weight", "BF16", {4, 3}, pattern(1, 12)},
                                    {"model.norm.weight", "F32", {3}, pattern(2, 3)},
                                    {"x", "F16", {2, 2}, pattern(3, 4)}});
  const uint64_t seed = 20240611;
  std::mt19937_64 rng(seed);
  int64_t n_ok = 0, n_err = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string s = good;
    const int mode = int(rng() % 3);
    if (mode == 0) {
      s.resize(size_t(rng() % s.size()));
    } else {
      const int n_flips = 1 + int(rng() % 4);
      for (int k = 0; k < n_flips; ++k) {
        // Mostly inside the length field and the JSON header, where the structure lives.
        const size_t at = size_t(rng() % (mode == 1 ? std::min<size_t>(s.size(), 8 + 200) : s.size()));
        s[at] = char(rng() % 4 ? "0123456789[]{},:\"-eE."[rng() % 21] : char(rng()));
      }
    }
    write_bytes(p, s);
    try {
      SafetensorsFile f(p);
      for (const auto& n : f.names()) {
        const TensorRef& t = f.get(n);
        if (t.dtype == DType::f32 || t.dtype == DType::f16 || t.dtype == DType::bf16 || t.dtype == DType::f64) {
          ASSERT_EQ(int64_t(to_f32(t, t.shape).size()), t.numel());
        }
      }
      ++n_ok;
    } catch (const Error&) {
      ++n_err;
    } catch (const std::exception& e) {
      FAIL() << "seed " << seed << " iteration " << it << ": non-ghostkv exception " << e.what();
    }
  }
  EXPECT_GT(n_err, 0);
  EXPECT_GT(n_ok, 0);
}

// ================= config.json =================

TEST(Config, LlamaTransformers5RopeParameters) {
  const std::string d = test_dir(), p = d + "/config.json";
  TinyDims t;
  write_bytes(p, config_json(tiny_config_fields(t, "llama", true)));
  const ModelConfig c = parse_hf_config(p);
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.source, p);
  EXPECT_EQ(c.d_model, 8);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head_q, 2);
  EXPECT_EQ(c.n_head_kv, 1);
  EXPECT_EQ(c.d_head, 4);
  EXPECT_EQ(c.d_ff, 12);
  EXPECT_EQ(c.n_vocab, 16);
  EXPECT_EQ(c.max_pos, 32);
  EXPECT_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_style, RopeStyle::half_split);
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_DOUBLE_EQ(c.attn_scale(), 0.5);
  // head_dim defaults to hidden / heads; num_key_value_heads to num_attention_heads; eos list → first.
  write_bytes(p, config_json(tiny_config_fields(t, "llama", true),
                             {{"head_dim", ""}, {"num_key_value_heads", "null"}, {"eos_token_id", "[2, 7]"},
                              {"bos_token_id", "null"}, {"attention_bias", "true"}}));
  const ModelConfig c2 = parse_hf_config(p);
  EXPECT_EQ(c2.d_head, 4);
  EXPECT_EQ(c2.n_head_kv, 2);
  EXPECT_EQ(c2.eos_id, 2);
  EXPECT_EQ(c2.bos_id, -1);
  EXPECT_TRUE(c2.qkv_bias && c2.o_bias);
}

TEST(Config, LegacyTopLevelRopeThetaAndRopeScaling) {
  const std::string d = test_dir(), p = d + "/config.json";
  TinyDims t;
  auto f = tiny_config_fields(t, "llama", false);
  write_bytes(p, config_json(f, {{"rope_parameters", ""}, {"rope_theta", "250000.0"}}));
  EXPECT_EQ(parse_hf_config(p).rope_theta, 250000.0);
  EXPECT_FALSE(parse_hf_config(p).tie_embeddings);
  write_bytes(p, config_json(f, {{"rope_parameters", ""},
                                 {"rope_theta", "500000.0"},
                                 {"rope_scaling", "{\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                                                  "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}"}}));
  ModelConfig c = parse_hf_config(p);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_pos, 8192);
  // Older spelling "type"; and linear scaling.
  write_bytes(p, config_json(f, {{"rope_parameters", ""}, {"rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}"}}));
  c = parse_hf_config(p);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 2.0);
  // transformers 5.x llama3 under rope_parameters.
  write_bytes(p, config_json(f, {{"rope_parameters",
                                  "{\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 32.0, "
                                  "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                                  "\"original_max_position_embeddings\": 8192}"}}));
  c = parse_hf_config(p);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  // rope_scaling null = none
  write_bytes(p, config_json(f, {{"rope_parameters", ""}, {"rope_scaling", "null"}}));
  EXPECT_EQ(parse_hf_config(p).rope_scaling.type, "none");
}

TEST(Config, Qwen2AndMistralSpecifics) {
  const std::string d = test_dir(), p = d + "/config.json";
  TinyDims t;
  auto f = tiny_config_fields(t, "qwen2", false);
  write_bytes(p, config_json(f, {{"use_sliding_window", "false"}, {"sliding_window", "4096"}, {"max_window_layers", "28"}}));
  ModelConfig c = parse_hf_config(p);
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.sliding_window, 0);
  write_bytes(p, config_json(f, {{"use_sliding_window", "true"}, {"sliding_window", "16"}, {"max_window_layers", "0"}}));
  EXPECT_EQ(parse_hf_config(p).sliding_window, 16);
  // max_window_layers >= n_layer: no layer slides
  write_bytes(p, config_json(f, {{"use_sliding_window", "true"}, {"sliding_window", "16"}, {"max_window_layers", "2"}}));
  EXPECT_EQ(parse_hf_config(p).sliding_window, 0);
  write_bytes(p, config_json(f, {{"use_sliding_window", "true"}, {"sliding_window", "16"}, {"max_window_layers", "1"}}));
  expect_error([&] { parse_hf_config(p); }, {p, "max_window_layers", "not supported"});
  write_bytes(p, config_json(f, {{"use_sliding_window", "true"}, {"sliding_window", "16"},
                                 {"layer_types", "[\"sliding_attention\", \"sliding_attention\"]"}}));
  EXPECT_EQ(parse_hf_config(p).sliding_window, 16);

  f = tiny_config_fields(t, "mistral", false);
  write_bytes(p, config_json(f, {{"sliding_window", "null"}}));
  c = parse_hf_config(p);
  EXPECT_EQ(c.arch, "mistral");
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_FALSE(c.qkv_bias);
  write_bytes(p, config_json(f, {{"sliding_window", "4096"}}));
  EXPECT_EQ(parse_hf_config(p).sliding_window, 4096);
  write_bytes(p, config_json(f));  // absent: MistralConfig's default
  EXPECT_EQ(parse_hf_config(p).sliding_window, 4096);
}

TEST(Config, ErrorsNameFieldAndFile) {
  const std::string d = test_dir(), p = d + "/config.json";
  TinyDims t;
  auto f = tiny_config_fields(t, "llama", true);
  auto expect = [&](const std::map<std::string, std::string>& over, const std::vector<std::string>& parts) {
    write_bytes(p, config_json(f, over));
    std::vector<std::string> all = parts;
    all.push_back(p);
    expect_error([&] { parse_hf_config(p); }, all);
  };
  expect({{"model_type", "\"gptj\""}}, {"model_type 'gptj' not supported", "llama, mistral, qwen2"});
  expect({{"model_type", ""}}, {"model_type"});
  for (const char* k : {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
                        "max_position_embeddings"})
    expect({{k, ""}}, {"missing required field \"" + std::string(k) + "\""});
  expect({{"hidden_size", "-8"}}, {"d_model (hidden_size) = -8", "expected 1.."});
  expect({{"num_hidden_layers", "0"}}, {"num_hidden_layers", "= 0"});
  expect({{"vocab_size", "99999999999"}}, {"vocab_size", "99999999999"});
  expect({{"intermediate_size", "1e300"}}, {"intermediate_size", "expected an integer"});
  expect({{"hidden_size", "\"512\""}}, {"hidden_size", "expected an integer"});
  expect({{"hidden_size", "8.5"}}, {"hidden_size", "expected an integer"});
  expect({{"num_key_value_heads", "3"}, {"num_attention_heads", "4"}}, {"not a multiple of n_head_kv 3"});
  expect({{"head_dim", "5"}}, {"d_head 5", "even"});
  expect({{"head_dim", ""}, {"hidden_size", "9"}}, {"hidden_size 9", "num_attention_heads 2"});
  expect({{"rms_norm_eps", "-1"}}, {"norm_eps"});
  expect({{"rms_norm_eps", "\"tiny\""}}, {"rms_norm_eps", "expected a number"});
  expect({{"hidden_act", "\"gelu\""}}, {"hidden_act 'gelu'"});
  expect({{"tie_word_embeddings", "1"}}, {"tie_word_embeddings", "true or false"});
  expect({{"rope_parameters", "{\"rope_theta\": 10000.0, \"rope_type\": \"yarn\", \"factor\": 4.0}"}},
         {"'yarn' not supported", "default, linear, llama3"});
  expect({{"rope_parameters", "{\"rope_theta\": 10000.0, \"rope_type\": \"llama3\", \"factor\": 8.0}"}},
         {"missing required field \"rope_parameters.low_freq_factor\""});
  expect({{"rope_parameters", "{\"rope_type\": \"linear\"}"}}, {"rope_parameters.factor"});
  expect({{"rope_parameters", "{\"rope_type\": \"linear\", \"factor\": 0}"}}, {"factor 0"});
  expect({{"rope_parameters", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, "
                              "\"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}"}},
         {"low < high"});
  expect({{"rope_parameters", "{\"rope_theta\": -5}"}}, {"rope_theta -5"});
  expect({{"rope_parameters", "[1]"}}, {"rope_parameters", "expected an object"});
  expect({{"bos_token_id", "\"<s>\""}}, {"bos_token_id", "integer token id"});
  expect({{"eos_token_id", "16"}}, {"bos/eos ids", "n_vocab 16"});
  write_bytes(p, "{\"model_type\": \"llama\",");
  expect_error([&] { parse_hf_config(p); }, {p, "malformed JSON"});
  write_bytes(p, "[]");
  expect_error([&] { parse_hf_config(p); }, {p, "expected an object"});
  expect_error([&] { parse_hf_config(d + "/nope.json"); }, {"nope.json", "no such file"});
}

// ---- RoPE inverse frequencies ----

// Independent float64 transcription of Hugging Face transformers' RoPE init functions
// (src/transformers/modeling_rope_utils.py):
//   _compute_default_rope_parameters:
//     inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
//   _compute_linear_scaling_rope_parameters:
//     inv_freq /= factor
//   _compute_llama3_parameters:
//     low_freq_wavelen = old_context_len / low_freq_factor
//     high_freq_wavelen = old_context_len / high_freq_factor
//     wavelen = 2 * math.pi / inv_freq
//     # wavelen < high_freq_wavelen: do nothing
//     # wavelen > low_freq_wavelen: divide by factor
//     inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
//     # otherwise: interpolate between the two, using a smooth factor
//     smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
//     smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
//     is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
//     inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
// (HF evaluates in float32; this and the library evaluate in float64.)
static std::vector<double> hf_inv_freq_reference(double base, int64_t dim, const std::string& type, double factor,
                                                 double low_ff, double high_ff, double old_ctx) {
  std::vector<double> out;
  for (int64_t i = 0; i < dim; i += 2) {
    double inv_freq = 1.0 / std::pow(base, double(i) / double(dim));
    if (type == "linear") {
      inv_freq /= factor;
    } else if (type == "llama3") {
      const double low_freq_wavelen = old_ctx / low_ff;
      const double high_freq_wavelen = old_ctx / high_ff;
      const double wavelen = 2 * std::numbers::pi / inv_freq;
      double llama = wavelen > low_freq_wavelen ? inv_freq / factor : inv_freq;
      const double smooth_factor = (old_ctx / wavelen - low_ff) / (high_ff - low_ff);
      const double smoothed = (1 - smooth_factor) * llama / factor + smooth_factor * llama;
      const bool is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      if (is_medium) llama = smoothed;
      inv_freq = llama;
    }
    out.push_back(inv_freq);
  }
  return out;
}

static ModelConfig rope_cfg(int64_t d_head, double theta, RopeScaling s) {
  ModelConfig c;
  c.source = "test";
  c.d_head = d_head;
  c.rope_theta = theta;
  c.rope_scaling = s;
  return c;
}

TEST(Config, RopeInvFreqDefaultAndLinear) {
  for (int64_t dh : {2, 8, 64, 128}) {
    for (double theta : {10000.0, 500000.0}) {
      const auto none = rope_cfg(dh, theta, {}).rope_inv_freq();
      ASSERT_EQ(int64_t(none.size()), dh / 2);
      const auto want = hf_inv_freq_reference(theta, dh, "none", 1, 1, 4, 8192);
      for (size_t j = 0; j < none.size(); ++j) EXPECT_NEAR(none[j], want[j], 1e-15 * want[j]) << dh << " " << j;
      EXPECT_EQ(none[0], 1.0);
      RopeScaling lin;
      lin.type = "linear";
      lin.factor = 4;
      const auto scaled = rope_cfg(dh, theta, lin).rope_inv_freq();
      const auto want_lin = hf_inv_freq_reference(theta, dh, "linear", 4, 1, 4, 8192);
      for (size_t j = 0; j < scaled.size(); ++j) {
        EXPECT_NEAR(scaled[j], want_lin[j], 1e-15 * want_lin[j]);
        EXPECT_DOUBLE_EQ(scaled[j] * 4, none[j]);
      }
    }
  }
  expect_error([] { rope_cfg(5, 1e4, {}).rope_inv_freq(); }, {"d_head 5"});
  RopeScaling bad;
  bad.type = "yarn";
  expect_error([&] { rope_cfg(8, 1e4, bad).rope_inv_freq(); }, {"'yarn' not supported"});
}

TEST(Config, RopeInvFreqLlama3MatchesHfFormula) {
  struct Case {
    int64_t d_head;
    double theta, factor, low, high;
    int64_t old_ctx;
  };
  // Llama 3.1 8B (θ 5e5, factor 8), Llama 3.2 1B (factor 32, d_head 64), and an odd one.
  for (const Case& k : {Case{128, 500000, 8, 1, 4, 8192}, Case{64, 500000, 32, 1, 4, 8192},
                        Case{96, 10000, 4, 2, 8, 2048}}) {
    RopeScaling s;
    s.type = "llama3";
    s.factor = k.factor;
    s.low_freq_factor = k.low;
    s.high_freq_factor = k.high;
    s.original_max_pos = k.old_ctx;
    const auto got = rope_cfg(k.d_head, k.theta, s).rope_inv_freq();
    const auto want = hf_inv_freq_reference(k.theta, k.d_head, "llama3", k.factor, k.low, k.high, double(k.old_ctx));
    const auto plain = rope_cfg(k.d_head, k.theta, {}).rope_inv_freq();
    ASSERT_EQ(got.size(), want.size());
    int n_kept = 0, n_divided = 0, n_medium = 0;
    for (size_t j = 0; j < got.size(); ++j) {
      EXPECT_NEAR(got[j], want[j], 1e-14 * want[j]) << "d_head " << k.d_head << " j " << j;
      // Known properties: high frequencies kept, low ones divided by factor, the band between in between.
      const double wavelen = 2 * std::numbers::pi / plain[j];
      if (wavelen < double(k.old_ctx) / k.high) {
        EXPECT_EQ(got[j], plain[j]);
        ++n_kept;
      } else if (wavelen > double(k.old_ctx) / k.low) {
        EXPECT_DOUBLE_EQ(got[j], plain[j] / k.factor);
        ++n_divided;
      } else {
        EXPECT_LE(got[j], plain[j] * (1 + 1e-15));
        EXPECT_GE(got[j], plain[j] / k.factor * (1 - 1e-15));
        ++n_medium;
      }
      if (j) {
        EXPECT_LT(got[j], got[j - 1]);  // still strictly decreasing
      }
    }
    EXPECT_GT(n_kept, 0);
    EXPECT_GT(n_divided, 0);
    EXPECT_GT(n_medium, 0);
  }
}

// ================= HF Llama weights =================

TEST(LoaderHf, TinyCheckpointAllDtypes) {
  for (bool tied : {true, false}) {
    const std::string d = test_dir();
    TinyDims t;
    const auto ts = tiny_tensors(t, false, tied);
    write_tiny_hf(d, ts, config_json(tiny_config_fields(t, "llama", tied)));
    const LlamaWeights w = load_hf_llama(d);
    EXPECT_EQ(w.cfg.source, d);
    EXPECT_EQ(w.cfg.tie_embeddings, tied);
    EXPECT_EQ(w.embed, find(ts, "model.embed_tokens.weight").values);
    EXPECT_EQ(w.final_norm, find(ts, "model.norm.weight").values);
    ASSERT_EQ(int64_t(w.layers.size()), t.n_layer);
    for (int64_t i = 0; i < t.n_layer; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const LayerWeights& l = w.layers[size_t(i)];
      EXPECT_EQ(l.attn_norm, find(ts, p + "input_layernorm.weight").values);
      EXPECT_EQ(l.wq, find(ts, p + "self_attn.q_proj.weight").values);
      EXPECT_EQ(l.wk, find(ts, p + "self_attn.k_proj.weight").values);
      EXPECT_EQ(l.wv, find(ts, p + "self_attn.v_proj.weight").values);
      EXPECT_EQ(l.wo, find(ts, p + "self_attn.o_proj.weight").values);
      EXPECT_EQ(l.ffn_norm, find(ts, p + "post_attention_layernorm.weight").values);
      EXPECT_EQ(l.w_gate, find(ts, p + "mlp.gate_proj.weight").values);
      EXPECT_EQ(l.w_up, find(ts, p + "mlp.up_proj.weight").values);
      EXPECT_EQ(l.w_down, find(ts, p + "mlp.down_proj.weight").values);
      EXPECT_TRUE(l.bq.empty() && l.bk.empty() && l.bv.empty());
    }
    int64_t n = 0;
    for (const auto& x : ts) n += numel(x.shape);
    EXPECT_EQ(w.n_params(), n);
    if (tied) {
      EXPECT_TRUE(w.lm_head.empty());
      EXPECT_EQ(&w.classifier(), &w.embed);
    } else {
      EXPECT_EQ(w.lm_head, find(ts, "lm_head.weight").values);
    }
    EXPECT_EQ(load_model(d).n_params(), n);  // dispatch
  }
}

TEST(LoaderHf, Qwen2BiasesAndShardedCheckpoint) {
  const std::string d = test_dir();
  TinyDims t;
  const auto ts = tiny_tensors(t, true, false);
  write_bytes(d + "/config.json", config_json(tiny_config_fields(t, "qwen2", false)));
  // Two shards split in the middle, plus the index.
  const size_t half = ts.size() / 2;
  const std::vector<StTensor> a(ts.begin(), ts.begin() + long(half)), b(ts.begin() + long(half), ts.end());
  write_bytes(d + "/model-00001-of-00002.safetensors", st_file(a));
  write_bytes(d + "/model-00002-of-00002.safetensors", st_file(b));
  std::string idx = "{\"metadata\": {}, \"weight_map\": {";
  for (size_t i = 0; i < ts.size(); ++i)
    idx += (i ? ", \"" : "\"") + ts[i].name + "\": \"model-0000" + (i < half ? "1" : "2") + "-of-00002.safetensors\"";
  write_bytes(d + "/model.safetensors.index.json", idx + "}}");
  const LlamaWeights w = load_hf_llama(d);
  EXPECT_EQ(w.cfg.arch, "qwen2");
  EXPECT_EQ(w.layers[1].bq, find(ts, "model.layers.1.self_attn.q_proj.bias").values);
  EXPECT_EQ(w.layers[1].bk, find(ts, "model.layers.1.self_attn.k_proj.bias").values);
  EXPECT_EQ(w.layers[0].bv, find(ts, "model.layers.0.self_attn.v_proj.bias").values);
  EXPECT_EQ(w.lm_head, find(ts, "lm_head.weight").values);
  int64_t n = 0;
  for (const auto& x : ts) n += numel(x.shape);
  EXPECT_EQ(w.n_params(), n);
}

TEST(LoaderHf, MissingTensorShapeAndVocabMismatch) {
  const std::string d = test_dir();
  TinyDims t;
  const std::string cfg = config_json(tiny_config_fields(t, "llama", false));
  auto ts = tiny_tensors(t, false, false);
  // Missing tensor: named, with the checkpoint folder.
  {
    auto m = ts;
    m.erase(m.begin() + 5);
    write_tiny_hf(d, m, cfg);
    expect_error([&] { load_hf_llama(d); }, {d, "'" + ts[5].name + "'", "not found"});
  }
  // Untied but no lm_head.weight.
  {
    auto m = ts;
    m.pop_back();
    write_tiny_hf(d, m, cfg);
    expect_error([&] { load_hf_llama(d); }, {"'lm_head.weight'", "not found"});
  }
  // Shape mismatch vs config: k_proj with 2 KV heads instead of 1.
  {
    auto m = ts;
    for (auto& x : m)
      if (x.name == "model.layers.1.self_attn.k_proj.weight") {
        x.shape = {8, 8};
        x.values = pattern(3, 64);
      }
    write_tiny_hf(d, m, cfg);
    expect_error([&] { load_hf_llama(d); },
                 {d + "/model.safetensors", "'model.layers.1.self_attn.k_proj.weight'", "shape [8, 8]", "expected [4, 8]"});
  }
  // Vocabulary / embedding mismatch.
  {
    write_tiny_hf(d, ts, config_json(tiny_config_fields(t, "llama", false), {{"vocab_size", "20"}}));
    expect_error([&] { load_hf_llama(d); },
                 {"'model.embed_tokens.weight'", "shape [16, 8]", "expected [vocab_size, hidden_size] = [20, 8]"});
  }
  // Unsupported biases, integer weights.
  {
    write_tiny_hf(d, ts, config_json(tiny_config_fields(t, "llama", false), {{"mlp_bias", "true"}}));
    expect_error([&] { load_hf_llama(d); }, {"MLP biases", "not supported"});
    auto m = ts;
    m[1].dtype = "I32";
    write_tiny_hf(d, m, cfg);
    expect_error([&] { load_hf_llama(d); }, {"'" + m[1].name + "'", "I32", "expected a floating type"});
  }
  // Absurd config numbers are refused before any tensor is read or allocated.
  {
    write_tiny_hf(d, ts, config_json(tiny_config_fields(t, "llama", false), {{"num_hidden_layers", "1000000000"}}));
    expect_error([&] { load_hf_llama(d); }, {"num_hidden_layers", "1000000000"});
  }
  // Folder without config.json / without weights.
  {
    fs::remove(d + "/config.json");
    expect_error([&] { load_hf_llama(d); }, {"config.json", "no such file"});
    expect_error([&] { load_model(d); }, {d, "no config.json"});
    write_bytes(d + "/config.json", cfg);
    fs::remove(d + "/model.safetensors");
    expect_error([&] { load_hf_llama(d); }, {d, "no model.safetensors"});
  }
}

// ================= llama2.c =================

TEST(LoaderLlama2c, TinyCheckpointSharedAndSeparateClassifier) {
  for (int32_t vocab : {5, -5}) {
    const std::string d = test_dir(), p = d + "/tiny.bin";
    L2cDims h;
    h.vocab = vocab;
    write_bytes(p, l2c_file(h));
    const LlamaWeights w = load_llama2c(p);
    const ModelConfig& c = w.cfg;
    EXPECT_EQ(c.d_model, 8);
    EXPECT_EQ(c.d_ff, 12);
    EXPECT_EQ(c.n_layer, 2);
    EXPECT_EQ(c.n_head_q, 2);
    EXPECT_EQ(c.n_head_kv, 1);
    EXPECT_EQ(c.d_head, 4);
    EXPECT_EQ(c.n_vocab, 5);
    EXPECT_EQ(c.max_pos, 4);
    EXPECT_EQ(c.rope_style, RopeStyle::adjacent);
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_EQ(c.tie_embeddings, vocab > 0);
    EXPECT_EQ(c.source, p);
    EXPECT_EQ(w.embed, slice(0, 0, 5 * 8));
    for (int64_t l = 0; l < 2; ++l) {
      const LayerWeights& L = w.layers[size_t(l)];
      EXPECT_EQ(L.attn_norm, slice(1, l, 8));
      EXPECT_EQ(L.wq, slice(2, l, 64));
      EXPECT_EQ(L.wk, slice(3, l, 32));
      EXPECT_EQ(L.wv, slice(4, l, 32));
      EXPECT_EQ(L.wo, slice(5, l, 64));
      EXPECT_EQ(L.ffn_norm, slice(6, l, 8));
      EXPECT_EQ(L.w_gate, slice(7, l, 96));  // w1
      EXPECT_EQ(L.w_down, slice(8, l, 96));  // w2
      EXPECT_EQ(L.w_up, slice(9, l, 96));    // w3
    }
    EXPECT_EQ(w.final_norm, slice(10, 0, 8));
    if (vocab > 0) {
      EXPECT_TRUE(w.lm_head.empty());
    } else {
      EXPECT_EQ(w.lm_head, slice(13, 0, 40));
    }
    EXPECT_EQ(load_model(p).n_params(), w.n_params());
  }
}

TEST(LoaderLlama2c, FileSizeAndHeaderChecks) {
  const std::string d = test_dir(), p = d + "/tiny.bin";
  const std::string good = l2c_file(L2cDims{});
  write_bytes(p, good.substr(0, good.size() - 4));
  expect_error([&] { load_llama2c(p); }, {p, "file is " + std::to_string(good.size() - 4) + " bytes",
                                          "imply " + std::to_string(good.size()), "truncated"});
  write_bytes(p, good + "xxxx");
  expect_error([&] { load_llama2c(p); }, {p, "trailing bytes"});
  // A separate classifier announced (negative vocab) but absent.
  L2cDims neg;
  neg.vocab = -5;
  write_bytes(p, l2c_file(L2cDims{}));
  {
    std::string s = l2c_file(L2cDims{});
    std::memcpy(s.data() + 20, &neg.vocab, 4);
    write_bytes(p, s);
    expect_error([&] { load_llama2c(p); }, {p, "vocab -5", "truncated"});
  }
  write_bytes(p, good.substr(0, 10));
  expect_error([&] { load_llama2c(p); }, {p, "10 bytes", "28-byte header"});
  auto with_header = [&](std::vector<int32_t> hdr) {
    std::string s;
    for (int32_t v : hdr) s += le_bytes(v);
    write_bytes(p, s + std::string(64, '\0'));
  };
  with_header({8, 12, 2, 2, 1, 5, -4});
  expect_error([&] { load_llama2c(p); }, {p, "seq_len -4", "positive"});
  with_header({0, 12, 2, 2, 1, 5, 4});
  expect_error([&] { load_llama2c(p); }, {p, "dim 0"});
  with_header({9, 12, 2, 2, 1, 5, 4});
  expect_error([&] { load_llama2c(p); }, {"dim 9 is not a multiple of n_heads 2"});
  with_header({8, 12, 2, 4, 3, 5, 4});
  expect_error([&] { load_llama2c(p); }, {"not a multiple of n_kv_heads 3"});
  // Huge dims: refused by the size check (or the sanity limits), never allocated.
  with_header({65536, 2147483647, 4096, 512, 512, 2147483647, 2147483647});
  expect_error([&] { load_llama2c(p); }, {p});
  with_header({65536, 1 << 20, 4096, 512, 512, 1 << 22, 1 << 20});
  expect_error([&] { load_llama2c(p); }, {p, "imply"});
  with_header({0x616b3432, 1, 64, 172, 5, 8, 4});
  expect_error([&] { load_llama2c(p); }, {p, "ak42", "version 0"});
  expect_error([&] { load_llama2c(d + "/none.bin"); }, {"none.bin", "no such file"});
  write_bytes(d + "/weights.pt", good);
  expect_error([&] { load_model(d + "/weights.pt"); }, {"weights.pt", "unrecognised model path"});
  expect_error([&] { load_model(d + "/absent"); }, {"absent", "no such file"});
}

TEST(LoaderLlama2c, RandomHeaderCorruptionOnlyThrowsError) {
  const std::string d = test_dir(), p = d + "/tiny.bin";
  const std::string good = l2c_file(L2cDims{});
  const uint64_t seed = 77;
  std::mt19937_64 rng(seed);
  for (int it = 0; it < 500; ++it) {
    std::string s = good;
    const int32_t v = int32_t(rng() % 3 == 0 ? uint32_t(rng()) : uint32_t(rng() % 70) - 3u);
    std::memcpy(s.data() + 4 * (rng() % 7), &v, 4);
    if (rng() % 4 == 0) s.resize(size_t(rng() % s.size()));
    write_bytes(p, s);
    try {
      const LlamaWeights w = load_llama2c(p);
      EXPECT_EQ(int64_t(w.embed.size()), w.cfg.n_vocab * w.cfg.d_model);
    } catch (const Error&) {
    } catch (const std::exception& e) {
      FAIL() << "seed " << seed << " iteration " << it << ": non-ghostkv exception " << e.what();
    }
  }
}

// ================= real checkpoints in ../shared/models =================

#define GKV_REQUIRE_SHARED()                                                                        \
  do {                                                                                              \
    if (!fs::exists(shared_dir()))                                                                  \
      GTEST_SKIP() << "shared folder " << shared_dir() << " does not exist: real-model tests skipped"; \
  } while (0)

TEST(LoaderReal, GhostkvRef23mShardedBf16) {
  GKV_REQUIRE_SHARED();
  const std::string dir = shared_dir() + "/models/ghostkv-ref-23m";
  ASSERT_TRUE(fs::exists(dir + "/config.json")) << dir << "/config.json missing";
  ASSERT_TRUE(fs::exists(dir + "/model.safetensors.index.json")) << dir << " index missing";
  const ModelConfig c = parse_hf_config(dir + "/config.json");
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.d_model, 512);
  EXPECT_EQ(c.n_layer, 8);
  EXPECT_EQ(c.n_head_q, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.d_head, 128);
  EXPECT_EQ(c.d_ff, 1024);
  EXPECT_EQ(c.n_vocab, 8192);
  EXPECT_EQ(c.max_pos, 4096);
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 10000.0);  // from rope_parameters (transformers 5.x)
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_EQ(c.rope_style, RopeStyle::half_split);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_id, 0);
  EXPECT_EQ(c.eos_id, 0);

  const WeightStore store = WeightStore::open_hf(dir);
  EXPECT_EQ(store.n_files(), 4);
  EXPECT_EQ(store.names().size(), 2u + 9u * 8u);
  EXPECT_EQ(store.get("model.layers.0.self_attn.k_proj.weight").dtype, DType::bf16);

  const LlamaWeights w = load_model(dir);
  EXPECT_EQ(w.n_params(), 23077376);  // = index.json "total_parameters"
  EXPECT_EQ(w.embed.size(), size_t(8192 * 512));
  EXPECT_TRUE(w.lm_head.empty());
  ASSERT_EQ(w.layers.size(), 8u);
  for (const auto& l : w.layers) {
    EXPECT_EQ(l.wq.size(), size_t(512 * 512));
    EXPECT_EQ(l.wk.size(), size_t(256 * 512));
    EXPECT_EQ(l.wv.size(), size_t(256 * 512));
    EXPECT_EQ(l.wo.size(), size_t(512 * 512));
    EXPECT_EQ(l.w_gate.size(), size_t(1024 * 512));
    EXPECT_EQ(l.w_down.size(), size_t(512 * 1024));
  }
  // bf16 widening is exact: every weight has zero low 16 bits; all finite; norms not all zero.
  auto check_bf16 = [](const std::vector<float>& v, const char* what) {
    int64_t bad = 0;
    for (float x : v) {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      bad += (u & 0xffff) != 0 || !std::isfinite(x);
    }
    EXPECT_EQ(bad, 0) << what;
  };
  check_bf16(w.embed, "embed");
  check_bf16(w.final_norm, "final_norm");
  check_bf16(w.layers[7].w_down, "layers.7.w_down");
  double norm_sum = 0;
  for (float x : w.final_norm) norm_sum += x;
  EXPECT_GT(norm_sum, 0);
  // Independent read: embed is the first tensor of shard 1, at data offset 0.
  const std::string shard1 = dir + "/model-00001-of-00004.safetensors";
  uint64_t n_header = 0;
  std::memcpy(&n_header, read_bytes(shard1, 0, 8).data(), 8);
  const std::string raw = read_bytes(shard1, 8 + int64_t(n_header), 8);
  for (int i = 0; i < 4; ++i) {
    uint16_t b;
    std::memcpy(&b, raw.data() + 2 * i, 2);
    EXPECT_EQ(w.embed[size_t(i)], bf16_to_f32(b)) << i;
  }
}

TEST(LoaderReal, Stories260KLlama2c) {
  GKV_REQUIRE_SHARED();
  const std::string p = shared_dir() + "/models/stories260K/stories260K.bin";
  ASSERT_TRUE(fs::exists(p)) << p << " missing";
  const LlamaWeights w = load_model(p);
  const ModelConfig& c = w.cfg;
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_ff, 172);
  EXPECT_EQ(c.n_layer, 5);
  EXPECT_EQ(c.n_head_q, 8);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.d_head, 8);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.max_pos, 512);
  EXPECT_EQ(c.rope_style, RopeStyle::adjacent);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_TRUE(w.lm_head.empty());
  // 512·64 + 5·(64 + 4096 + 2·2048 + 4096 + 64 + 3·172·64) + 64
  EXPECT_EQ(w.n_params(), 260032);
  EXPECT_EQ(w.layers[4].wk.size(), size_t(32 * 64));
  EXPECT_EQ(w.layers[4].w_down.size(), size_t(64 * 172));
  // Independent reads: embed starts right after the 28-byte header; rms_final sits before the
  // two RoPE tables (512 × 4 floats each) at the end of the file.
  float e0, f0;
  std::memcpy(&e0, read_bytes(p, 28, 4).data(), 4);
  EXPECT_EQ(w.embed[0], e0);
  const int64_t size = int64_t(fs::file_size(p));
  std::memcpy(&f0, read_bytes(p, size - 4 * (2 * 512 * 4) - 4 * 64, 4).data(), 4);
  EXPECT_EQ(w.final_norm[0], f0);
  for (float x : w.final_norm) EXPECT_TRUE(std::isfinite(x));
}
