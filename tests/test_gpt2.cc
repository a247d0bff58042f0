// GPT-2 in the engine: config parsing (and refusal of what is not implemented), the Conv1D
// ([in, out]) → [out, in] conversion and the split of the fused c_attn into q | k | v, the bare
// GPT2Model tensor names, the forward against a float64 reference written here from the weights,
// the learned-position context limit, decode vs prefill, hooks/capture/calibration, and the
// byte-level BPE tokenizer.json against ids from HF tokenizers. The transformers golden itself is
// checked in test_model_golden.cc (ModelGolden.TinyGpt2).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "ghostkv/error.h"
#include "test_expect_error.h"
#include "ghostkv/io/npy.h"
#include "ghostkv/io/safetensors.h"
#include "ghostkv/model/calibrate.h"
#include "ghostkv/model/capture.h"
#include "ghostkv/model/config.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kModel = std::string(GHOSTKV_SOURCE_DIR) + "/tests/data/models/tiny-gpt2";
const std::string kGolden = std::string(GHOSTKV_SOURCE_DIR) + "/tests/data/goldens/tiny-gpt2";

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto p = fs::temp_directory_path() /
           ("ghostkv_gpt2_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

using ghostkv::test::expect_error;

json read_json_file(const std::string& p) {
  std::ifstream f(p);
  return json::parse(f);
}
void write_text(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

// The tiny checkpoint's config.json with fields replaced (a null value removes the field).
std::string config_with(const std::string& dir, const json& over) {
  json j = read_json_file(kModel + "/config.json");
  for (const auto& [k, v] : over.items()) {
    if (v.is_null()) j.erase(k);
    else j[k] = v;
  }
  const std::string p = dir + "/config.json";
  write_text(p, j.dump(2));
  return p;
}

struct NamedF32 {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// A minimal safetensors writer (F32 only): u64 header length, JSON header, data.
void write_safetensors(const std::string& path, const std::vector<NamedF32>& ts) {
  json h = json::object();
  int64_t off = 0;
  for (const auto& t : ts) {
    const int64_t nb = int64_t(t.values.size() * sizeof(float));
    h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + nb}}};
    off += nb;
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = hs.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(hs.data(), int64_t(hs.size()));
  for (const auto& t : ts) f.write(reinterpret_cast<const char*>(t.values.data()), int64_t(t.values.size() * 4));
}

// Every tensor of the tiny checkpoint, widened to float32, renamed by `rename` ("" drops it).
std::vector<NamedF32> tiny_tensors(const std::function<std::string(const std::string&)>& rename) {
  SafetensorsFile f(kModel + "/model.safetensors");
  std::vector<NamedF32> out;
  for (const std::string& name : f.names()) {
    const std::string nn = rename(name);
    if (nn.empty()) continue;
    const TensorRef& t = f.get(name);
    out.push_back({nn, t.shape, to_f32(t, t.shape)});
  }
  return out;
}

std::vector<int32_t> ids_of(const std::string& f) {
  Tensor t = read_npy(f);
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// ---- float64 reference forward of a GPT-2 LlamaWeights (the definition the engine must meet) ----

std::vector<double> ref_layernorm(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<float>& w,
                                  const std::vector<float>& b, double eps) {
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; ++j) mean += x[i * d + j];
    mean /= double(d);
    for (int64_t j = 0; j < d; ++j) var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
    var /= double(d);
    for (int64_t j = 0; j < d; ++j) y[i * d + j] = (x[i * d + j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
  }
  return y;
}

// y[n, out] = x[n, in] · W[out, in]ᵀ + b
std::vector<double> ref_linear(const std::vector<double>& x, int64_t n, int64_t in, const std::vector<float>& w,
                               int64_t out, const std::vector<float>& b) {
  std::vector<double> y(size_t(n * out));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : double(b[o]);
      for (int64_t k = 0; k < in; ++k) s += x[i * in + k] * double(w[o * in + k]);
      y[i * out + o] = s;
    }
  return y;
}

// logits [n, n_vocab] of ids at positions 0..n-1
std::vector<double> ref_gpt2_logits(const LlamaWeights& w, const std::vector<int32_t>& ids) {
  const ModelConfig& c = w.cfg;
  const int64_t n = int64_t(ids.size()), D = c.d_model, H = c.n_head_q, d = c.d_head, F = c.d_ff;
  std::vector<double> x(size_t(n * D));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < D; ++j) x[i * D + j] = double(w.embed[ids[i] * D + j]) + double(w.pos_embed[i * D + j]);
  for (const LayerWeights& L : w.layers) {
    auto h = ref_layernorm(x, n, D, L.attn_norm, L.attn_norm_b, c.norm_eps);
    auto q = ref_linear(h, n, D, L.wq, D, L.bq), k = ref_linear(h, n, D, L.wk, D, L.bk), v = ref_linear(h, n, D, L.wv, D, L.bv);
    std::vector<double> att(size_t(n * D), 0.0), p(static_cast<size_t>(n));
    for (int64_t hh = 0; hh < H; ++hh)
      for (int64_t i = 0; i < n; ++i) {
        double m = -INFINITY, z = 0;
        for (int64_t t = 0; t <= i; ++t) {
          double s = 0;
          for (int64_t j = 0; j < d; ++j) s += q[i * D + hh * d + j] * k[t * D + hh * d + j];
          p[t] = s * c.attn_scale();
          m = std::max(m, p[t]);
        }
        for (int64_t t = 0; t <= i; ++t) z += (p[t] = std::exp(p[t] - m));
        for (int64_t t = 0; t <= i; ++t)
          for (int64_t j = 0; j < d; ++j) att[i * D + hh * d + j] += p[t] / z * v[t * D + hh * d + j];
      }
    auto o = ref_linear(att, n, D, L.wo, D, L.bo);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = ref_layernorm(x, n, D, L.ffn_norm, L.ffn_norm_b, c.norm_eps);
    auto u = ref_linear(h, n, D, L.w_up, F, L.b_up);
    for (double& a : u)
      a = c.ffn_act == FfnAct::gelu_tanh ? 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)))
                                         : 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
    o = ref_linear(u, n, F, L.w_down, D, L.b_down);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  }
  const auto h = ref_layernorm(x, n, D, w.final_norm, w.final_norm_b, c.norm_eps);
  return ref_linear(h, n, D, w.classifier(), c.n_vocab, {});
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// max |engine − reference| / max |reference| over all logits of a full-context prefill
double engine_vs_ref(const LlamaWeights& w, const std::vector<int32_t>& ids) {
  Engine eng(w);
  std::vector<float> lg(ids.size() * size_t(w.cfg.n_vocab));
  eng.forward(ids.data(), int64_t(ids.size()), lg.data(), int64_t(ids.size()));
  const std::vector<double> ref = ref_gpt2_logits(w, ids);
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(double(lg[i]) - ref[i]));
  return worst / max_abs(ref);
}

}  // namespace

TEST(Gpt2Config, ParsesTinyCheckpointConfig) {
  const ModelConfig c = parse_hf_config(kModel + "/config.json");
  EXPECT_EQ(c.arch, "gpt2");
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_head_q, 4);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.d_ff, 160);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.max_pos, 128);
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.learned_pos && c.layer_norm && !c.uses_rope());
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias && c.tie_embeddings);
  EXPECT_EQ(c.ffn_act, FfnAct::gelu_tanh);
  EXPECT_EQ(c.attn_scale(), 0.25);
  EXPECT_EQ(c.bos_id, 0);
  EXPECT_EQ(c.eos_id, 0);
}

TEST(Gpt2Config, VariantsAndDefaults) {
  const std::string d = test_dir();
  ModelConfig c = parse_hf_config(config_with(d, {{"n_inner", nullptr}, {"layer_norm_epsilon", nullptr},
                                                  {"tie_word_embeddings", nullptr}, {"activation_function", nullptr}}));
  EXPECT_EQ(c.d_ff, 4 * 64);  // HF: n_inner None → 4·n_embd
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.ffn_act, FfnAct::gelu_tanh);  // GPT2Config's default gelu_new
  EXPECT_EQ(parse_hf_config(config_with(d, {{"activation_function", "gelu"}})).ffn_act, FfnAct::gelu_erf);
  EXPECT_EQ(parse_hf_config(config_with(d, {{"activation_function", "gelu_pytorch_tanh"}})).ffn_act, FfnAct::gelu_tanh);
  EXPECT_EQ(parse_hf_config(config_with(d, {{"scale_attn_weights", false}})).attn_scale(), 1.0);
  EXPECT_NO_THROW(parse_hf_config(config_with(d, {{"reorder_and_upcast_attn", true}})));
  c = parse_hf_config(config_with(d, {{"n_head", 2}}));
  EXPECT_EQ(c.d_head, 32);
  EXPECT_EQ(c.n_head_kv, 2);
  // GPT-2 without RoPE may have an odd head size
  EXPECT_EQ(parse_hf_config(config_with(d, {{"n_embd", 60}, {"n_head", 4}})).d_head, 15);
}

TEST(Gpt2Config, UnsupportedOptionsAreErrors) {
  const std::string d = test_dir();
  auto expect = [&](const json& over, std::vector<std::string> parts) {
    const std::string p = config_with(d, over);
    parts.push_back(p);
    expect_error([&] { parse_hf_config(p); }, parts);
  };
  expect({{"activation_function", "relu"}}, {"activation_function 'relu' not supported", "gelu_new"});
  expect({{"scale_attn_by_inverse_layer_idx", true}}, {"scale_attn_by_inverse_layer_idx", "not supported"});
  expect({{"add_cross_attention", true}}, {"add_cross_attention", "not supported"});
  expect({{"n_embd", 66}}, {"n_embd 66", "n_head 4"});
  expect({{"n_positions", nullptr}}, {"missing required field \"n_positions\""});
  expect({{"n_layer", 0}}, {"n_layer", "= 0"});
  expect({{"scale_attn_weights", "yes"}}, {"scale_attn_weights", "expected true or false"});
}

TEST(Gpt2Load, Conv1dToLinearTransposesAndTakesColumns) {
  // W [in 3, out 5], W[i, o] = 10·i + o; the [out, in] matrix of columns 1..3 is r[o, i] = 10·i + (1 + o)
  std::vector<float> w(15);
  for (int i = 0; i < 3; ++i)
    for (int o = 0; o < 5; ++o) w[size_t(i * 5 + o)] = float(10 * i + o);
  const std::vector<float> r = conv1d_to_linear(w, 3, 5, 1, 3);
  ASSERT_EQ(r.size(), 9u);
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r[size_t(o * 3 + i)], float(10 * i + 1 + o)) << "o " << o << " i " << i;
  expect_error([&] { conv1d_to_linear(w, 3, 5, 3, 3); }, {"columns [3, 6)", "[0, 5)"});
  expect_error([&] { conv1d_to_linear(w, 4, 5, 0, 1); }, {"15 values", "4 x 5"});
}

// The loader's q/k/v/o/fc/proj against the raw Conv1D tensors of the file: a swap of q and k, a
// missing transpose or a wrong column offset fails here.
TEST(Gpt2Load, FusedQkvSplitAndTransposeMatchCheckpoint) {
  const LlamaWeights w = load_model(kModel);
  SafetensorsFile f(kModel + "/model.safetensors");
  const int64_t D = 64, F = 160;
  ASSERT_EQ(int64_t(w.layers.size()), 3);
  for (int64_t l = 0; l < 3; ++l) {
    SCOPED_TRACE(l);
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    const auto qkv = to_f32(f.get(p + "attn.c_attn.weight"), {D, 3 * D});  // [in, out]
    const auto qkv_b = to_f32(f.get(p + "attn.c_attn.bias"), {3 * D});
    const LayerWeights& L = w.layers[size_t(l)];
    int64_t bad = 0;
    for (int64_t o = 0; o < D; ++o) {
      for (int64_t i = 0; i < D; ++i) {
        bad += L.wq[o * D + i] != qkv[i * 3 * D + o];
        bad += L.wk[o * D + i] != qkv[i * 3 * D + D + o];
        bad += L.wv[o * D + i] != qkv[i * 3 * D + 2 * D + o];
      }
      bad += L.bq[o] != qkv_b[o];
      bad += L.bk[o] != qkv_b[D + o];
      bad += L.bv[o] != qkv_b[2 * D + o];
    }
    const auto proj = to_f32(f.get(p + "attn.c_proj.weight"), {D, D});
    const auto fc = to_f32(f.get(p + "mlp.c_fc.weight"), {D, F});
    const auto down = to_f32(f.get(p + "mlp.c_proj.weight"), {F, D});
    for (int64_t o = 0; o < D; ++o)
      for (int64_t i = 0; i < D; ++i) bad += L.wo[o * D + i] != proj[i * D + o];
    for (int64_t o = 0; o < F; ++o)
      for (int64_t i = 0; i < D; ++i) bad += L.w_up[o * D + i] != fc[i * F + o];
    for (int64_t o = 0; o < D; ++o)
      for (int64_t i = 0; i < F; ++i) bad += L.w_down[o * F + i] != down[i * D + o];
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(L.attn_norm_b, to_f32(f.get(p + "ln_1.bias"), {D}));
    EXPECT_EQ(L.ffn_norm, to_f32(f.get(p + "ln_2.weight"), {D}));
    EXPECT_EQ(L.b_down, to_f32(f.get(p + "mlp.c_proj.bias"), {D}));
    EXPECT_TRUE(L.w_gate.empty());
  }
  EXPECT_EQ(w.pos_embed, to_f32(f.get("transformer.wpe.weight"), {128, D}));
  EXPECT_EQ(w.final_norm_b, to_f32(f.get("transformer.ln_f.bias"), {D}));
  EXPECT_TRUE(w.lm_head.empty());  // tied to wte
  // wte 512·64 + wpe 128·64 + 3 layers · (4·64 LN + 4·64·64 + 4·64 attn + 2·64·160 + 160 + 64 FFN) + 2·64 ln_f
  EXPECT_EQ(w.n_params(), 512 * 64 + 128 * 64 + 3 * (4 * 64 + 4 * 64 * 64 + 4 * 64 + 2 * 64 * 160 + 160 + 64) + 2 * 64);
}

// Layer 0's q, k, v as the engine hands them to hooks, against x·W + b computed here in float64
// straight from the file's fused [in, out] c_attn (no use of the loader's layout).
TEST(Gpt2Load, CapturedLayer0QkvEqualsConv1dOfTheFile) {
  const LlamaWeights w = load_model(kModel);
  SafetensorsFile f(kModel + "/model.safetensors");
  const int64_t D = 64, n = 20;
  const auto wte = to_f32(f.get("transformer.wte.weight"), {512, D});
  const auto wpe = to_f32(f.get("transformer.wpe.weight"), {128, D});
  const auto qkv = to_f32(f.get("transformer.h.0.attn.c_attn.weight"), {D, 3 * D});
  const auto qkv_b = to_f32(f.get("transformer.h.0.attn.c_attn.bias"), {3 * D});
  const auto g = to_f32(f.get("transformer.h.0.ln_1.weight"), {D}), b = to_f32(f.get("transformer.h.0.ln_1.bias"), {D});
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = int32_t((i * 37 + 5) % 512);
  std::vector<double> x(size_t(n * D));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < D; ++j) x[i * D + j] = double(wte[ids[i] * D + j]) + wpe[i * D + j];
  const std::vector<double> h = ref_layernorm(x, n, D, g, b, 1e-5);
  std::vector<double> y(size_t(n * 3 * D));  // [n, 3D] = h · W + b
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < 3 * D; ++o) {
      double s = qkv_b[o];
      for (int64_t k = 0; k < D; ++k) s += h[i * D + k] * double(qkv[k * 3 * D + o]);
      y[i * 3 * D + o] = s;
    }
  Engine eng(w);
  const auto caps = capture_layers(eng, ids, {0}, parse_query_positions("all", n));
  ASSERT_EQ(caps.size(), 1u);
  const AttnInputs& in = caps[0];
  ASSERT_EQ(in.q.shape(), (std::vector<int64_t>{n, 4, 16}));
  ASSERT_EQ(in.k.shape(), (std::vector<int64_t>{n, 4, 16}));
  EXPECT_EQ(in.scale, 0.25);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < D; ++o) {  // head o / 16, dimension o % 16
      for (int part = 0; part < 3; ++part) {
        const Tensor& t = part == 0 ? in.q : part == 1 ? in.k : in.v;
        const double want = y[i * 3 * D + part * D + o];
        worst = std::max(worst, std::fabs(double(t.data<float>()[i * D + o]) - want));
        scale = std::max(scale, std::fabs(want));
      }
    }
  // float32 LayerNorm + a 64-term dot product: error ≲ 64·2⁻²⁴·Σ|terms| ≪ 1e-5·max|y|
  EXPECT_LE(worst / scale, 1e-5) << "max|Δ| " << worst << ", max|y| " << scale;
}

TEST(Gpt2Load, BareGpt2ModelNamesLoadTheSame) {
  const std::string d = test_dir();
  config_with(d, {});
  write_safetensors(d + "/model.safetensors", tiny_tensors([](const std::string& s) {
                      return s.rfind("transformer.", 0) == 0 ? s.substr(12) : s;
                    }));
  const LlamaWeights a = load_model(kModel), b = load_model(d);
  EXPECT_EQ(a.embed, b.embed);
  EXPECT_EQ(a.pos_embed, b.pos_embed);
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].wk, b.layers[l].wk);
    EXPECT_EQ(a.layers[l].b_up, b.layers[l].b_up);
  }
  EXPECT_EQ(a.final_norm, b.final_norm);
}

TEST(Gpt2Load, MissingOrMisshapenTensorsAreErrors) {
  const std::string d = test_dir();
  config_with(d, {});
  write_safetensors(d + "/model.safetensors",
                    tiny_tensors([](const std::string& s) { return s == "transformer.h.1.ln_1.bias" ? "" : s; }));
  expect_error([&] { load_model(d); }, {"'transformer.h.1.ln_1.bias'", "not found"});
  auto ts = tiny_tensors([](const std::string& s) { return s; });
  for (auto& t : ts)
    if (t.name == "transformer.h.2.attn.c_attn.weight") t.shape = {192, 64};  // stored [out, in]: wrong
  write_safetensors(d + "/model.safetensors", ts);
  expect_error([&] { load_model(d); }, {"'transformer.h.2.attn.c_attn.weight'", "[192, 64]", "[64, 192]"});
  write_safetensors(d + "/model.safetensors", tiny_tensors([](const std::string& s) { return "foo." + s; }));
  expect_error([&] { load_model(d); }, {d, "wte.weight"});
  // untied: lm_head.weight is then required
  config_with(d, {{"tie_word_embeddings", false}});
  write_safetensors(d + "/model.safetensors", tiny_tensors([](const std::string& s) { return s; }));
  expect_error([&] { load_model(d); }, {"'lm_head.weight'", "not found"});
}

TEST(Gpt2Engine, MatchesFloat64Reference) {
  LlamaWeights w = load_model(kModel);
  const std::vector<int32_t> ids = ids_of(kGolden + "/ids.npy");  // 128 ids: the whole context
  ASSERT_EQ(int64_t(ids.size()), w.cfg.max_pos);
  // float32 compute: each output is a ≤ 160-term sum after float32 LayerNorm; relative error of the
  // logits ~1e-6 in practice. 1e-5 of max|logit| leaves margin and still catches any missing term
  // (a dropped bias or LayerNorm weight moves logits by > 1e-2 of max|logit| on this model).
  double e = engine_vs_ref(w, ids);
  std::printf("[gpt2] engine vs float64 reference (gelu tanh): max|Δ|/max|logit| = %.3g\n", e);
  EXPECT_LE(e, 1e-5);
  w.cfg.ffn_act = FfnAct::gelu_erf;
  e = engine_vs_ref(w, ids);
  std::printf("[gpt2] engine vs float64 reference (gelu erf): %.3g\n", e);
  EXPECT_LE(e, 1e-5);
  w.cfg.scale_attn = false;
  e = engine_vs_ref(w, ids);
  std::printf("[gpt2] engine vs float64 reference (unscaled scores): %.3g\n", e);
  EXPECT_LE(e, 1e-5);
}

TEST(Gpt2Engine, ContextBeyondLearnedPositionsIsError) {
  const LlamaWeights w = load_model(kModel);
  EngineOptions eo;
  eo.max_ctx = 129;
  expect_error([&] { Engine e(w, eo); }, {"max_ctx 129", "128 learned positions"});
  Engine eng(w);
  EXPECT_EQ(eng.max_ctx(), 128);
  std::vector<int32_t> ids(129, 5);
  std::vector<float> lg(512);
  expect_error([&] { eng.forward(ids.data(), 129, lg.data(), 1); }, {"context 129", "max_ctx 128"});
  eng.forward(ids.data(), 128, lg.data(), 1);
  expect_error([&] { eng.forward(ids.data(), 1, lg.data(), 1); }, {"context 129", "max_ctx 128"});
  eng.reset();
  EXPECT_NO_THROW(eng.forward(ids.data(), 1, lg.data(), 1));
  // generate stops at the last position instead of running past it
  eng.reset();
  SampleOptions so;
  so.max_new = 1000;
  so.stop_at_eos = false;
  const std::vector<int32_t> prompt(100, 7);
  EXPECT_EQ(generate(eng, prompt, so).size(), 29u);
}

TEST(Gpt2Engine, DecodeStepsMatchPrefill) {
  const LlamaWeights w = load_model(kModel);
  const std::vector<int32_t> ids = ids_of(kGolden + "/ids.npy");
  const int64_t n = int64_t(ids.size()), V = 512, n0 = 61;
  Engine a(w), b(w);
  std::vector<float> full(size_t(n * V)), step(size_t(n * V));
  a.forward(ids.data(), n, full.data(), n);
  b.forward(ids.data(), n0, step.data(), n0);
  for (int64_t i = n0; i < n; ++i) b.forward(ids.data() + i, 1, step.data() + i * V, 1);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    worst = std::max(worst, double(std::fabs(full[i] - step[i])));
    scale = std::max(scale, double(std::fabs(full[i])));
  }
  EXPECT_LE(worst / scale, 1e-5);  // sgemm vs sgemv: rounding only
}

class ReplaceWithDense : public AttentionHook {
 public:
  explicit ReplaceWithDense(const ModelConfig& c) : c_(c) {}
  bool attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k, const float* v, int64_t n_kv,
              float* out) override {
    ++calls[size_t(layer)];
    dense_attention(q, pos, n, k, v, n_kv, c_.n_head_q, c_.n_head_kv, c_.d_head, c_.attn_scale(), 0, out);
    return true;
  }
  std::vector<int64_t> calls = std::vector<int64_t>(3, 0);

 private:
  const ModelConfig& c_;
};

TEST(Gpt2Engine, HooksCaptureAndCalibrationRun) {
  const LlamaWeights w = load_model(kModel);
  const std::vector<int32_t> ids = ids_of(kGolden + "/ids.npy");
  const int64_t n = 64, V = 512;
  Engine eng(w);
  std::vector<float> plain(size_t(n * V)), hooked(size_t(n * V));
  eng.forward(ids.data(), n, plain.data(), n);
  eng.reset();
  ReplaceWithDense hook(w.cfg);
  eng.forward(ids.data(), n, hooked.data(), n, &hook);
  EXPECT_EQ(plain, hooked);
  EXPECT_EQ(hook.calls, (std::vector<int64_t>{1, 1, 1}));
  // capture: k of the last layer equals the engine's cache
  const auto caps = capture_layers(eng, std::vector<int32_t>(ids.begin(), ids.begin() + n), {0, 2},
                                   parse_query_positions("last:4", n));
  ASSERT_EQ(caps.size(), 2u);
  EXPECT_EQ(caps[1].k.shape(), (std::vector<int64_t>{n, 4, 16}));
  EXPECT_EQ(std::memcmp(caps[1].k.data<float>(), eng.k_cache(2), size_t(n * 64) * sizeof(float)), 0);
  const BasisSet bs = calibrate_bases(eng, {std::vector<int32_t>(ids.begin(), ids.begin() + n)}, {0, 1, 2},
                                      BasisKind::pca, 1);
  EXPECT_EQ(bs.n_layer, 3);
  EXPECT_EQ(bs.n_head_kv, 4);
  EXPECT_EQ(bs.d_head, 16);
  EXPECT_EQ(bs.bases.size(), 12u);
}

TEST(Gpt2Tokenizer, ByteLevelBpeMatchesHfTokenizers) {
  const LlamaWeights w = load_model(kModel);
  const Tokenizer tok = load_tokenizer_for(kModel, "", w.cfg.n_vocab);
  std::ifstream f(kGolden + "/tok_text.txt", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::vector<int32_t> want = ids_of(kGolden + "/tok_ids.npy");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(tok.encode(text), want);
  EXPECT_EQ(tok.decode(want), text);
  EXPECT_EQ(tok.eos_id(), 0);
  EXPECT_EQ(tok.encode("<|endoftext|>"), std::vector<int32_t>{0});
}
