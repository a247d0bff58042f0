#include "ghostkv/model/gguf_model.h"

#include <utility>

#include "ghostkv/error.h"

namespace ghostkv {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool permuted_by_converter(const std::string& arch) { return arch == "llama" || arch == "mistral"; }

}  // namespace

std::vector<float> permute_llamacpp_qk(const std::vector<float>& hf, int64_t n_head, int64_t d_head, int64_t d_in) {
  GKV_CHECK(d_head % 2 == 0 && int64_t(hf.size()) == n_head * d_head * d_in, "permute_llamacpp_qk: ", hf.size(),
            " values, expected n_head ", n_head, " x d_head ", d_head, " (even) x d_in ", d_in);
  std::vector<float> out(hf.size());
  const int64_t half = d_head / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t s = 0; s < 2; ++s)
      for (int64_t i = 0; i < half; ++i) {
        const float* src = hf.data() + (h * d_head + s * half + i) * d_in;
        std::copy(src, src + d_in, out.data() + (h * d_head + 2 * i + s) * d_in);
      }
  return out;
}

std::vector<float> unpermute_llamacpp_qk(const std::vector<float>& gguf, int64_t n_head, int64_t d_head,
                                         int64_t d_in) {
  GKV_CHECK(d_head % 2 == 0 && int64_t(gguf.size()) == n_head * d_head * d_in, "unpermute_llamacpp_qk: ",
            gguf.size(), " values, expected n_head ", n_head, " x d_head ", d_head, " (even) x d_in ", d_in);
  std::vector<float> out(gguf.size());
  const int64_t half = d_head / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t s = 0; s < 2; ++s)
      for (int64_t i = 0; i < half; ++i) {
        const float* src = gguf.data() + (h * d_head + 2 * i + s) * d_in;
        std::copy(src, src + d_in, out.data() + (h * d_head + s * half + i) * d_in);
      }
  return out;
}

ModelConfig gguf_model_config(const GgufFile& f) {
  ModelConfig c;
  c.source = f.path();
  const std::string arch = f.get_string("general.architecture");
  GKV_CHECK(arch == "llama" || arch == "mistral" || arch == "qwen2", f.path(), ": general.architecture = '", arch,
            "' is not supported (supported: llama, mistral, qwen2)");
  c.arch = arch;
  const std::string p = arch + ".";
  c.d_model = f.get_int(p + "embedding_length");
  c.n_layer = f.get_int(p + "block_count");
  c.d_ff = f.get_int(p + "feed_forward_length");
  c.n_head_q = f.get_int(p + "attention.head_count");
  c.n_head_kv = f.get_int_or(p + "attention.head_count_kv", c.n_head_q);
  c.max_pos = f.get_int(p + "context_length");
  GKV_CHECK(c.n_head_q >= 1, f.path(), ": ", p, "attention.head_count = ", c.n_head_q, ", expected >= 1");
  c.d_head = f.get_int_or(p + "attention.key_length", c.d_model / c.n_head_q);
  if (f.has(p + "attention.value_length"))
    GKV_CHECK(f.get_int(p + "attention.value_length") == c.d_head, f.path(), ": ", p, "attention.value_length = ",
              f.get_int(p + "attention.value_length"), " differs from the key length ", c.d_head, " (not supported)");
  if (f.has(p + "rope.dimension_count"))
    GKV_CHECK(f.get_int(p + "rope.dimension_count") == c.d_head, f.path(), ": ", p, "rope.dimension_count = ",
              f.get_int(p + "rope.dimension_count"), " but d_head = ", c.d_head,
              " (partial rotary embeddings are not supported)");
  c.norm_eps = f.get_float(p + "attention.layer_norm_rms_epsilon");
  c.rope_theta = f.get_float_or(p + "rope.freq_base", 10000.0);
  c.rope_style = RopeStyle::half_split;  // after unpermute_llamacpp_qk (llama, mistral) or as stored (qwen2)
  c.sliding_window = f.get_int_or(p + "attention.sliding_window", 0);
  // RoPE scaling: the converter writes rope.scaling.type/factor for linear scaling; llama3-style
  // scaling is stored as a rope_freqs tensor of per-frequency divisors, which ModelConfig cannot carry.
  GKV_CHECK(!f.has_tensor("rope_freqs.weight"), f.path(),
            ": tensor rope_freqs.weight (per-frequency RoPE factors, e.g. llama3 scaling) is not supported");
  const std::string st = f.has(p + "rope.scaling.type") ? f.get_string(p + "rope.scaling.type") : "none";
  if (st == "linear") {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = f.get_float(p + "rope.scaling.factor");
  } else if (f.has(p + "rope.scale_linear")) {  // older converters
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = f.get_float(p + "rope.scale_linear");
  } else {
    GKV_CHECK(st == "none", f.path(), ": ", p, "rope.scaling.type = '", st,
              "' is not supported (supported: none, linear)");
  }
  const GgufValue& tokens = f.get("tokenizer.ggml.tokens");
  GKV_CHECK(tokens.type == GgufValueType::array, f.path(), ": tokenizer.ggml.tokens is not an array");
  c.n_vocab = int64_t(tokens.items.size());
  if (f.has(p + "vocab_size"))
    GKV_CHECK(f.get_int(p + "vocab_size") == c.n_vocab, f.path(), ": ", p, "vocab_size = ",
              f.get_int(p + "vocab_size"), " but tokenizer.ggml.tokens has ", c.n_vocab, " entries");
  c.bos_id = f.get_int_or("tokenizer.ggml.bos_token_id", -1);
  c.eos_id = f.get_int_or("tokenizer.ggml.eos_token_id", -1);
  c.qkv_bias = f.has_tensor("blk.0.attn_q.bias");
  c.tie_embeddings = !f.has_tensor("output.weight");
  c.validate();
  return c;
}

LlamaWeights load_gguf_llama(const std::string& path) {
  const GgufFile f(path);
  LlamaWeights w;
  w.cfg = gguf_model_config(f);
  const ModelConfig& c = w.cfg;
  GKV_CHECK(!f.has_tensor("blk.0.attn_output.bias") && !f.has_tensor("blk.0.ffn_down.bias"), path,
            ": attention-output or FFN biases are present, which LlamaWeights does not carry; not supported");
  const int64_t d = c.d_model, q_dim = c.n_head_q * c.d_head, kv_dim = c.n_head_kv * c.d_head;
  {
    const GgufTensorInfo& e = f.tensor("token_embd.weight");
    GKV_CHECK(e.shape() == std::vector<int64_t>({c.n_vocab, d}), path, ": tensor 'token_embd.weight': shape ",
              shape_text(e.shape()), " (ggml ne ", shape_text(e.ne), "), expected [n_vocab, embedding_length] = ",
              shape_text({c.n_vocab, d}), " (vocabulary / embedding mismatch)");
    w.embed = f.to_f32("token_embd.weight", {c.n_vocab, d});
  }
  const bool unpermute = permuted_by_converter(c.arch);
  w.layers.resize(size_t(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[size_t(i)];
    l.attn_norm = f.to_f32(b + "attn_norm.weight", {d});
    l.wq = f.to_f32(b + "attn_q.weight", {q_dim, d});
    l.wk = f.to_f32(b + "attn_k.weight", {kv_dim, d});
    l.wv = f.to_f32(b + "attn_v.weight", {kv_dim, d});
    l.wo = f.to_f32(b + "attn_output.weight", {d, q_dim});
    if (c.qkv_bias) {
      l.bq = f.to_f32(b + "attn_q.bias", {q_dim});
      l.bk = f.to_f32(b + "attn_k.bias", {kv_dim});
      l.bv = f.to_f32(b + "attn_v.bias", {kv_dim});
    }
    if (unpermute) {
      l.wq = unpermute_llamacpp_qk(l.wq, c.n_head_q, c.d_head, d);
      l.wk = unpermute_llamacpp_qk(l.wk, c.n_head_kv, c.d_head, d);
      if (c.qkv_bias) {
        l.bq = unpermute_llamacpp_qk(l.bq, c.n_head_q, c.d_head, 1);
        l.bk = unpermute_llamacpp_qk(l.bk, c.n_head_kv, c.d_head, 1);
      }
    }
    l.ffn_norm = f.to_f32(b + "ffn_norm.weight", {d});
    l.w_gate = f.to_f32(b + "ffn_gate.weight", {c.d_ff, d});
    l.w_up = f.to_f32(b + "ffn_up.weight", {c.d_ff, d});
    l.w_down = f.to_f32(b + "ffn_down.weight", {d, c.d_ff});
  }
  w.final_norm = f.to_f32("output_norm.weight", {d});
  if (!c.tie_embeddings) w.lm_head = f.to_f32("output.weight", {c.n_vocab, d});
  return w;
}

Tokenizer tokenizer_from_gguf(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  const int64_t n = int64_t(tokens.size());
  std::vector<int32_t> types;
  if (f.has("tokenizer.ggml.token_type")) {
    types = f.get_i32_array("tokenizer.ggml.token_type");
    GKV_CHECK(int64_t(types.size()) == n, f.path(), ": tokenizer.ggml.token_type has ", types.size(),
              " entries but tokenizer.ggml.tokens has ", n);
  }
  TokenizerSpecials sp;
  auto id_of = [&](const std::string& key) -> int32_t {
    if (!f.has(key)) return -1;
    const int64_t id = f.get_int(key);
    GKV_CHECK(id >= 0 && id < n, f.path(), ": ", key, " = ", id, " is outside the vocabulary [0, ", n, ")");
    return int32_t(id);
  };
  sp.bos_id = id_of("tokenizer.ggml.bos_token_id");
  sp.eos_id = id_of("tokenizer.ggml.eos_token_id");
  sp.unk_id = id_of("tokenizer.ggml.unknown_token_id");
  sp.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", true);
  if (model == "gpt2") {
    const std::string pre = f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
    std::string pt;
    if (pre == "default" || pre == "gpt-2" || pre == "gpt2") pt = "gpt2";
    else if (pre == "llama-bpe" || pre == "llama3") pt = "llama3";
    else if (pre == "qwen2") pt = "qwen2";
    else if (pre == "smollm") pt = "smollm";
    else
      throw Error(str_cat(f.path(), ": tokenizer.ggml.pre = '", pre,
                          "' is not supported (supported: default, gpt-2, llama-bpe, qwen2, smollm)"));
    const std::vector<std::string> merge_text = f.get_string_array("tokenizer.ggml.merges");
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(merge_text.size());
    for (size_t k = 0; k < merge_text.size(); ++k) {
      const std::string& m = merge_text[k];
      // As llama.cpp: the separator is the first space after the first byte.
      const size_t sp_pos = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      GKV_CHECK(sp_pos != std::string::npos, f.path(), ": tokenizer.ggml.merges[", k, "] = '", m,
                "' is not of the form 'left right'");
      merges.emplace_back(m.substr(0, sp_pos), m.substr(sp_pos + 1));
    }
    return Tokenizer::byte_level_bpe(std::move(tokens), std::move(merges), pt, std::move(types), sp);
  }
  if (model == "llama") {
    std::vector<float> scores = f.get_f32_array("tokenizer.ggml.scores");
    GKV_CHECK(int64_t(scores.size()) == n, f.path(), ": tokenizer.ggml.scores has ", scores.size(),
              " entries but tokenizer.ggml.tokens has ", n);
    if (types.empty()) types.assign(size_t(n), Tokenizer::kNormal);
    return Tokenizer::sentencepiece_bpe(std::move(tokens), std::move(scores), std::move(types), sp);
  }
  throw Error(str_cat(f.path(), ": tokenizer.ggml.model = '", model,
                      "' is not supported (supported: gpt2 = byte-level BPE, llama = sentencepiece BPE)"));
}

Tokenizer load_gguf_tokenizer(const std::string& path) { return tokenizer_from_gguf(GgufFile(path)); }

}  // namespace ghostkv
