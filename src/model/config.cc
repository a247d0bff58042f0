#include "ghostkv/model/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include <nlohmann/json.hpp>

#include "ghostkv/error.h"

namespace ghostkv {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kMaxConfigBytes = 16 << 20;

// Sanity limits, far above any published model, so a corrupt config cannot make the loaders
// allocate absurd buffers (e.g. Llama 3.1 405B: d_model 16384, d_ff 53248, n_vocab 128256).
constexpr int64_t kMaxDModel = 1 << 17;
constexpr int64_t kMaxLayers = 1 << 12;
constexpr int64_t kMaxHeads = 1 << 12;
constexpr int64_t kMaxDHead = 1 << 12;
constexpr int64_t kMaxDFF = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 23;
constexpr int64_t kMaxPos = int64_t(1) << 30;

class Fields {
 public:
  Fields(const json& j, std::string file, std::string prefix = "") : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

  bool has(const std::string& k) const { return j_.contains(k) && !j_[k].is_null(); }
  std::string where(const std::string& k) const { return str_cat(file_, ": field \"", prefix_, k, "\""); }

  int64_t req_int(const std::string& k) const {
    GKV_CHECK(has(k), file_, ": missing required field \"", prefix_, k, "\"");
    return as_int(k);
  }
  int64_t opt_int(const std::string& k, int64_t dflt) const { return has(k) ? as_int(k) : dflt; }
  double req_num(const std::string& k) const {
    GKV_CHECK(has(k), file_, ": missing required field \"", prefix_, k, "\"");
    return as_num(k);
  }
  double opt_num(const std::string& k, double dflt) const { return has(k) ? as_num(k) : dflt; }
  bool opt_bool(const std::string& k, bool dflt) const {
    if (!has(k)) return dflt;
    GKV_CHECK(j_[k].is_boolean(), where(k), " is ", j_[k].dump(), ", expected true or false");
    return j_[k].get<bool>();
  }
  std::string opt_str(const std::string& k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    GKV_CHECK(j_[k].is_string(), where(k), " is ", j_[k].dump(), ", expected a string");
    return j_[k].get<std::string>();
  }
  // A token id: an integer, null (→ -1) or a list of integers (→ the first; transformers allows
  // several EOS ids).
  int64_t token_id(const std::string& k) const {
    if (!has(k)) return -1;
    const json& v = j_[k];
    if (v.is_array()) {
      if (v.empty()) return -1;
      GKV_CHECK(v[0].is_number_integer(), where(k), " is ", v.dump(), ", expected integer token ids");
      return v[0].get<int64_t>();
    }
    GKV_CHECK(v.is_number_integer(), where(k), " is ", v.dump(), ", expected an integer token id");
    return v.get<int64_t>();
  }

 private:
  int64_t as_int(const std::string& k) const {
    const json& v = j_[k];
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
        throw Error(str_cat(where(k), " is ", v.dump(), ", too large"));
      return v.get<int64_t>();
    }
    // Some writers emit 512.0; accept integral floats within range.
    if (v.is_number_float()) {
      double d = v.get<double>();
      GKV_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15, where(k), " is ", v.dump(),
                ", expected an integer");
      return int64_t(d);
    }
    throw Error(str_cat(where(k), " is ", v.dump(), ", expected an integer"));
  }
  double as_num(const std::string& k) const {
    const json& v = j_[k];
    GKV_CHECK(v.is_number(), where(k), " is ", v.dump(), ", expected a number");
    return v.get<double>();
  }

  const json& j_;
  std::string file_, prefix_;
};

json read_json(const std::string& path) {
  std::error_code ec;
  GKV_CHECK(fs::is_regular_file(path, ec), path, ": no such file (expected a Hugging Face config.json)");
  const auto size = fs::file_size(path, ec);
  GKV_CHECK(!ec && int64_t(size) <= kMaxConfigBytes, path, ": config is ", size, " bytes, expected at most ",
            kMaxConfigBytes);
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open file");
  std::string s(size, '\0');
  f.read(s.data(), int64_t(size));
  GKV_CHECK(f.gcount() == int64_t(size), path, ": short read");
  try {
    return json::parse(s);
  } catch (const json::exception& e) {
    throw Error(str_cat(path, ": malformed JSON: ", e.what()));
  }
}

// Sliding window from transformers' per-layer "layer_types" (["full_attention" | "sliding_attention"]):
// the engine applies one window to every layer, so mixed layouts are refused.
int64_t window_from_layer_types(const json& lt, int64_t window, const std::string& file) {
  GKV_CHECK(lt.is_array(), file, ": field \"layer_types\" is ", lt.dump(), ", expected an array");
  int64_t n_sliding = 0, n_full = 0;
  for (const json& t : lt) {
    GKV_CHECK(t.is_string(), file, ": field \"layer_types\" holds ", t.dump(), ", expected strings");
    const std::string s = t.get<std::string>();
    if (s == "sliding_attention") ++n_sliding;
    else if (s == "full_attention") ++n_full;
    else throw Error(str_cat(file, ": layer type '", s, "' not supported (expected full_attention or sliding_attention)"));
  }
  GKV_CHECK(n_sliding == 0 || n_full == 0, file, ": ", n_sliding, " sliding-window and ", n_full,
            " full-attention layers; per-layer attention windows are not supported");
  return n_sliding > 0 ? window : 0;
}

// GPT-2 (transformers GPT2Config): MHA, no RoPE, learned positions, LayerNorm with bias, biases on
// every projection, dense FFN with GELU, lm_head tied to wte unless tie_word_embeddings is false.
ModelConfig parse_gpt2(const Fields& f, const std::string& path) {
  ModelConfig c;
  c.source = path;
  c.arch = "gpt2";
  c.d_model = f.req_int("n_embd");
  c.n_layer = f.req_int("n_layer");
  c.n_head_q = c.n_head_kv = f.req_int("n_head");
  GKV_CHECK(c.n_head_q > 0 && c.d_model > 0 && c.d_model % c.n_head_q == 0, path, ": n_embd ", c.d_model,
            " is not a positive multiple of n_head ", c.n_head_q);
  c.d_head = c.d_model / c.n_head_q;
  c.d_ff = f.opt_int("n_inner", 4 * c.d_model);  // HF: None means 4·n_embd
  c.n_vocab = f.req_int("vocab_size");
  c.max_pos = f.req_int("n_positions");
  c.norm_eps = f.opt_num("layer_norm_epsilon", 1e-5);
  c.tie_embeddings = f.opt_bool("tie_word_embeddings", true);
  c.bos_id = f.token_id("bos_token_id");
  c.eos_id = f.token_id("eos_token_id");
  c.learned_pos = c.layer_norm = true;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  const std::string act = f.opt_str("activation_function", "gelu_new");
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.ffn_act = FfnAct::gelu_tanh;
  else if (act == "gelu") c.ffn_act = FfnAct::gelu_erf;
  else
    throw Error(str_cat(path, ": activation_function '", act,
                        "' not supported for gpt2 (supported: gelu_new, gelu_pytorch_tanh, gelu)"));
  c.scale_attn = f.opt_bool("scale_attn_weights", true);
  // A per-layer softmax scale 1/(layer+1) would make σ differ between layers; the capture and
  // elimination code take one σ per model.
  GKV_CHECK(!f.opt_bool("scale_attn_by_inverse_layer_idx", false), path,
            ": scale_attn_by_inverse_layer_idx = true (per-layer softmax scale) is not supported");
  GKV_CHECK(!f.opt_bool("add_cross_attention", false), path,
            ": add_cross_attention = true (an encoder-decoder GPT-2) is not supported");
  // reorder_and_upcast_attn only moves σ into the q·k product and upcasts to float32: the same
  // math, and the engine computes in float32 anyway, so it is accepted.
  (void)f.opt_bool("reorder_and_upcast_attn", false);
  c.validate();
  return c;
}

}  // namespace

std::vector<double> ModelConfig::rope_inv_freq() const {
  GKV_CHECK(d_head > 0 && d_head % 2 == 0, source, ": d_head ", d_head, ", expected a positive even number for RoPE");
  const int64_t half = d_head / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  // HF _compute_default_rope_parameters: 1 / base^(arange(0, dim, 2) / dim)
  for (int64_t j = 0; j < half; ++j) inv[size_t(j)] = 1.0 / std::pow(rope_theta, double(2 * j) / double(d_head));
  const RopeScaling& s = rope_scaling;
  if (s.type == "none") return inv;
  if (s.type == "linear") {
    for (double& f : inv) f /= s.factor;
    return inv;
  }
  if (s.type == "llama3") {
    // HF _compute_llama3_parameters: wavelengths shorter than old_context/high_freq_factor keep
    // their frequency, longer than old_context/low_freq_factor are divided by factor, and the
    // band between is interpolated with smooth = (old_context/wavelen - low) / (high - low).
    const double old_ctx = double(s.original_max_pos);
    const double low_wavelen = old_ctx / s.low_freq_factor;
    const double high_wavelen = old_ctx / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2 * std::numbers::pi / f;
      const double scaled = wavelen > low_wavelen ? f / s.factor : f;
      const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      f = medium ? (1 - smooth) * scaled / s.factor + smooth * scaled : scaled;
    }
    return inv;
  }
  throw Error(str_cat(source, ": rope scaling '", s.type, "' not supported (supported: none, linear, llama3)"));
}

void ModelConfig::validate() const {
  auto in_range = [&](const char* name, int64_t v, int64_t hi) {
    GKV_CHECK(v >= 1 && v <= hi, source, ": ", name, " = ", v, ", expected 1..", hi);
  };
  in_range("d_model (hidden_size)", d_model, kMaxDModel);
  in_range("n_layer (num_hidden_layers)", n_layer, kMaxLayers);
  in_range("n_head_q (num_attention_heads)", n_head_q, kMaxHeads);
  in_range("n_head_kv (num_key_value_heads)", n_head_kv, kMaxHeads);
  in_range("d_head (head_dim)", d_head, kMaxDHead);
  in_range("d_ff (intermediate_size)", d_ff, kMaxDFF);
  in_range("n_vocab (vocab_size)", n_vocab, kMaxVocab);
  in_range("max_pos (max_position_embeddings)", max_pos, kMaxPos);
  GKV_CHECK(n_head_q % n_head_kv == 0, source, ": n_head_q ", n_head_q, " is not a multiple of n_head_kv ", n_head_kv,
            " (grouped-query attention needs whole groups)");
  if (uses_rope())
    GKV_CHECK(d_head % 2 == 0, source, ": d_head ", d_head, ", expected an even number (RoPE rotates pairs)");
  GKV_CHECK(n_head_q * d_head <= kMaxDModel * 4, source, ": n_head_q x d_head = ", n_head_q * d_head,
            ", expected at most ", kMaxDModel * 4);
  GKV_CHECK(std::isfinite(norm_eps) && norm_eps > 0 && norm_eps < 1, source, ": norm_eps ", norm_eps,
            ", expected a small positive number");
  if (uses_rope())
    GKV_CHECK(std::isfinite(rope_theta) && rope_theta > 1, source, ": rope_theta ", rope_theta, ", expected > 1");
  GKV_CHECK(sliding_window >= 0, source, ": sliding_window ", sliding_window, ", expected >= 0 (0 = none)");
  GKV_CHECK(bos_id >= -1 && bos_id < n_vocab && eos_id >= -1 && eos_id < n_vocab, source, ": bos/eos ids ", bos_id,
            "/", eos_id, ", expected -1 (none) or < n_vocab ", n_vocab);
  const RopeScaling& s = rope_scaling;
  if (s.type == "none") return;
  GKV_CHECK(s.type == "linear" || s.type == "llama3", source, ": rope scaling '", s.type,
            "' not supported (supported: none, linear, llama3)");
  GKV_CHECK(std::isfinite(s.factor) && s.factor > 0, source, ": rope scaling factor ", s.factor, ", expected > 0");
  if (s.type == "llama3") {
    GKV_CHECK(std::isfinite(s.low_freq_factor) && std::isfinite(s.high_freq_factor) && s.low_freq_factor > 0 &&
                  s.high_freq_factor > s.low_freq_factor,
              source, ": llama3 rope scaling low_freq_factor ", s.low_freq_factor, ", high_freq_factor ",
              s.high_freq_factor, ", expected 0 < low < high");
    GKV_CHECK(s.original_max_pos >= 1 && s.original_max_pos <= kMaxPos, source,
              ": llama3 rope scaling original_max_position_embeddings ", s.original_max_pos, ", expected 1..", kMaxPos);
  }
}

ModelConfig parse_hf_config(const std::string& path) {
  const json j = read_json(path);
  GKV_CHECK(j.is_object(), path, ": config is JSON ", j.type_name(), ", expected an object");
  const Fields f(j, path);
  ModelConfig c;
  c.source = path;
  GKV_CHECK(f.has("model_type"), path,
            ": missing required field \"model_type\" (supported: llama, mistral, qwen2, gpt2)");
  c.arch = f.opt_str("model_type", "");
  if (c.arch == "gpt2") return parse_gpt2(f, path);
  GKV_CHECK(c.arch == "llama" || c.arch == "mistral" || c.arch == "qwen2", path, ": model_type '", c.arch,
            "' not supported (supported: llama, mistral, qwen2, gpt2)");
  const std::string act = f.opt_str("hidden_act", "silu");
  GKV_CHECK(act == "silu", path, ": hidden_act '", act, "' not supported (Llama-family SwiGLU needs silu)");

  c.d_model = f.req_int("hidden_size");
  c.n_layer = f.req_int("num_hidden_layers");
  c.n_head_q = f.req_int("num_attention_heads");
  c.n_head_kv = f.opt_int("num_key_value_heads", c.n_head_q);  // HF: None means multi-head attention
  c.d_ff = f.req_int("intermediate_size");
  c.n_vocab = f.req_int("vocab_size");
  c.max_pos = f.req_int("max_position_embeddings");
  if (f.has("head_dim")) {
    c.d_head = f.req_int("head_dim");
  } else {
    GKV_CHECK(c.n_head_q > 0 && c.d_model > 0 && c.d_model % c.n_head_q == 0, path, ": no \"head_dim\" and hidden_size ",
              c.d_model, " is not a positive multiple of num_attention_heads ", c.n_head_q);
    c.d_head = c.d_model / c.n_head_q;
  }
  c.norm_eps = f.opt_num("rms_norm_eps", 1e-6);  // the HF Llama/Mistral/Qwen2 default
  c.tie_embeddings = f.opt_bool("tie_word_embeddings", false);
  c.bos_id = f.token_id("bos_token_id");
  c.eos_id = f.token_id("eos_token_id");
  c.rope_style = RopeStyle::half_split;

  // RoPE: transformers 5.x writes {"rope_parameters": {"rope_theta", "rope_type", + scaling fields}};
  // 4.x writes top-level "rope_theta" and an optional "rope_scaling" {"rope_type" or "type", ...}.
  const json* rp = nullptr;
  std::string rp_name;
  if (f.has("rope_parameters")) {
    rp = &j["rope_parameters"];
    rp_name = "rope_parameters";
  } else if (f.has("rope_scaling")) {
    rp = &j["rope_scaling"];
    rp_name = "rope_scaling";
  }
  c.rope_theta = f.opt_num("rope_theta", 10000.0);
  GKV_CHECK(f.opt_num("partial_rotary_factor", 1.0) == 1.0, path, ": partial_rotary_factor != 1 not supported");
  if (rp) {
    GKV_CHECK(rp->is_object(), path, ": field \"", rp_name, "\" is ", rp->dump(), ", expected an object");
    const Fields r(*rp, path, rp_name + ".");
    if (r.has("rope_theta")) c.rope_theta = r.req_num("rope_theta");
    GKV_CHECK(r.opt_num("partial_rotary_factor", 1.0) == 1.0, path, ": partial_rotary_factor != 1 not supported");
    std::string type = r.opt_str("rope_type", r.opt_str("type", "default"));
    if (type == "default" || type == "none") {
      c.rope_scaling.type = "none";
    } else if (type == "linear") {
      c.rope_scaling.type = "linear";
      c.rope_scaling.factor = r.req_num("factor");
    } else if (type == "llama3") {
      c.rope_scaling.type = "llama3";
      c.rope_scaling.factor = r.req_num("factor");
      c.rope_scaling.low_freq_factor = r.req_num("low_freq_factor");
      c.rope_scaling.high_freq_factor = r.req_num("high_freq_factor");
      c.rope_scaling.original_max_pos = r.req_int("original_max_position_embeddings");
    } else {
      throw Error(str_cat(path, ": ", rp_name, " type '", type, "' not supported (supported: default, linear, llama3)"));
    }
  }

  if (c.arch == "llama") {
    // HF LlamaAttention uses attention_bias for all four projections.
    c.qkv_bias = c.o_bias = f.opt_bool("attention_bias", false);
    c.mlp_bias = f.opt_bool("mlp_bias", false);
  } else if (c.arch == "mistral") {
    // MistralConfig's default is 4096 when the key is absent; null means full attention.
    if (!j.contains("sliding_window")) c.sliding_window = 4096;
    else c.sliding_window = f.opt_int("sliding_window", 0);
    if (j.contains("layer_types") && !j["layer_types"].is_null())
      c.sliding_window = window_from_layer_types(j["layer_types"], c.sliding_window, path);
  } else {  // qwen2: q/k/v always carry a bias, o_proj never does
    c.qkv_bias = true;
    if (f.opt_bool("use_sliding_window", false)) {
      const int64_t window = f.req_int("sliding_window");
      if (j.contains("layer_types") && !j["layer_types"].is_null()) {
        c.sliding_window = window_from_layer_types(j["layer_types"], window, path);
      } else {
        // HF Qwen2: layer i slides iff i >= max_window_layers (default 28).
        const int64_t mwl = f.opt_int("max_window_layers", 28);
        GKV_CHECK(mwl <= 0 || mwl >= c.n_layer, path, ": use_sliding_window with max_window_layers ", mwl, " < ",
                  c.n_layer, " layers mixes windowed and full layers; not supported");
        c.sliding_window = mwl <= 0 ? window : 0;
      }
    }
  }
  c.validate();
  return c;
}

}  // namespace ghostkv
