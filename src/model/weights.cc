#include "ghostkv/model/weights.h"

#include <filesystem>

#include "ghostkv/error.h"
#include "ghostkv/io/safetensors.h"
#include "ghostkv/model/gguf_model.h"

namespace ghostkv {

namespace fs = std::filesystem;

int64_t LlamaWeights::n_params() const {
  int64_t n = int64_t(embed.size() + final_norm.size() + lm_head.size() + pos_embed.size() + final_norm_b.size());
  for (const LayerWeights& l : layers)
    for (const auto* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.ffn_norm, &l.w_gate,
                          &l.w_up, &l.w_down, &l.attn_norm_b, &l.ffn_norm_b, &l.bo, &l.b_up, &l.b_down})
      n += int64_t(v->size());
  return n;
}

LlamaWeights load_hf_llama(const std::string& dir) {
  std::error_code ec;
  GKV_CHECK(fs::is_directory(dir, ec), dir, ": not a folder (expected a Hugging Face checkpoint folder)");
  LlamaWeights w;
  w.cfg = parse_hf_config((fs::path(dir) / "config.json").string());
  if (w.cfg.arch == "gpt2") return load_hf_gpt2(dir);
  const ModelConfig& c = w.cfg;
  w.cfg.source = dir;
  GKV_CHECK(!c.o_bias && !c.mlp_bias, dir, ": config.json asks for ", (c.o_bias ? "an o_proj bias" : "MLP biases"),
            " (attention_bias/mlp_bias), which LlamaWeights does not carry; not supported");
  const WeightStore store = WeightStore::open_hf(dir);
  const int64_t d = c.d_model, q_dim = c.n_head_q * c.d_head, kv_dim = c.n_head_kv * c.d_head;

  {
    const TensorRef& e = store.get("model.embed_tokens.weight");
    GKV_CHECK(e.shape == std::vector<int64_t>({c.n_vocab, d}), e.file, ": tensor 'model.embed_tokens.weight': shape ",
              shape_str(e.shape), ", expected [vocab_size, hidden_size] = ", shape_str({c.n_vocab, d}),
              " from config.json (vocabulary / embedding mismatch)");
    w.embed = to_f32(e, {c.n_vocab, d});
  }
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return to_f32(store.get(name), shape); };
  w.layers.resize(size_t(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[size_t(i)];
    l.attn_norm = load(p + "input_layernorm.weight", {d});
    l.wq = load(p + "self_attn.q_proj.weight", {q_dim, d});
    l.wk = load(p + "self_attn.k_proj.weight", {kv_dim, d});
    l.wv = load(p + "self_attn.v_proj.weight", {kv_dim, d});
    l.wo = load(p + "self_attn.o_proj.weight", {d, q_dim});
    if (c.qkv_bias) {
      l.bq = load(p + "self_attn.q_proj.bias", {q_dim});
      l.bk = load(p + "self_attn.k_proj.bias", {kv_dim});
      l.bv = load(p + "self_attn.v_proj.bias", {kv_dim});
    }
    l.ffn_norm = load(p + "post_attention_layernorm.weight", {d});
    l.w_gate = load(p + "mlp.gate_proj.weight", {c.d_ff, d});
    l.w_up = load(p + "mlp.up_proj.weight", {c.d_ff, d});
    l.w_down = load(p + "mlp.down_proj.weight", {d, c.d_ff});
  }
  w.final_norm = load("model.norm.weight", {d});
  // Tied checkpoints may still carry a copy of lm_head.weight; transformers ignores it, so do we.
  if (!c.tie_embeddings) w.lm_head = load("lm_head.weight", {c.n_vocab, d});
  return w;
}

LlamaWeights load_model(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    GKV_CHECK(fs::exists(fs::path(path) / "config.json", ec), path,
              ": folder has no config.json (expected a Hugging Face checkpoint folder)");
    return load_hf_llama(path);
  }
  GKV_CHECK(fs::exists(path, ec), path, ": no such file or folder");
  if (fs::path(path).extension() == ".bin") return load_llama2c(path);
  if (fs::path(path).extension() == ".gguf") return load_gguf_llama(path);
  throw Error(str_cat(path, ": unrecognised model path (expected a folder with config.json and *.safetensors, a "
                            "llama2.c .bin file or a .gguf file)"));
}

}  // namespace ghostkv
