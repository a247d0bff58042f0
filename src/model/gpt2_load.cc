// Loading a Hugging Face GPT-2 checkpoint into LlamaWeights (layout in weights.h).
#include <filesystem>

#include "ghostkv/error.h"
#include "ghostkv/io/safetensors.h"
#include "ghostkv/model/weights.h"

namespace ghostkv {

namespace fs = std::filesystem;

std::vector<float> conv1d_to_linear(const std::vector<float>& w, int64_t in, int64_t out, int64_t col0,
                                    int64_t n_out) {
  GKV_CHECK(int64_t(w.size()) == in * out, "conv1d_to_linear: ", w.size(), " values, expected in x out = ", in, " x ",
            out);
  GKV_CHECK(col0 >= 0 && n_out >= 0 && col0 + n_out <= out, "conv1d_to_linear: columns [", col0, ", ", col0 + n_out,
            ") outside [0, ", out, ")");
  std::vector<float> r(size_t(n_out * in));
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < n_out; ++o) r[size_t(o * in + i)] = w[size_t(i * out + col0 + o)];
  return r;
}

LlamaWeights load_hf_gpt2(const std::string& dir) {
  std::error_code ec;
  GKV_CHECK(fs::is_directory(dir, ec), dir, ": not a folder (expected a Hugging Face checkpoint folder)");
  LlamaWeights w;
  w.cfg = parse_hf_config((fs::path(dir) / "config.json").string());
  GKV_CHECK(w.cfg.arch == "gpt2", dir, ": config.json has model_type '", w.cfg.arch, "', expected gpt2");
  w.cfg.source = dir;
  const ModelConfig& c = w.cfg;
  const WeightStore store = WeightStore::open_hf(dir);
  // GPT2LMHeadModel prefixes every name with "transformer."; a bare GPT2Model does not.
  const std::string pre = store.has("transformer.wte.weight") ? "transformer." : "";
  GKV_CHECK(store.has(pre + "wte.weight"), dir, ": no tensor 'transformer.wte.weight' or 'wte.weight' (is this a GPT-2 ",
            "checkpoint?)");
  const int64_t D = c.d_model, F = c.d_ff;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) { return to_f32(store.get(pre + name), shape); };
  {
    const TensorRef& e = store.get(pre + "wte.weight");
    GKV_CHECK(e.shape == std::vector<int64_t>({c.n_vocab, D}), e.file, ": tensor '", e.name, "': shape ",
              shape_str(e.shape), ", expected [vocab_size, n_embd] = ", shape_str({c.n_vocab, D}),
              " from config.json (vocabulary / embedding mismatch)");
    w.embed = to_f32(e, {c.n_vocab, D});
  }
  w.pos_embed = load("wpe.weight", {c.max_pos, D});
  w.layers.resize(size_t(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[size_t(i)];
    l.attn_norm = load(p + "ln_1.weight", {D});
    l.attn_norm_b = load(p + "ln_1.bias", {D});
    // c_attn: y[3D] = x[D]·W[D, 3D] + b; output columns are q | k | v, each head-major (h·d_head + j).
    const std::vector<float> qkv = load(p + "attn.c_attn.weight", {D, 3 * D});
    const std::vector<float> qkv_b = load(p + "attn.c_attn.bias", {3 * D});
    l.wq = conv1d_to_linear(qkv, D, 3 * D, 0, D);
    l.wk = conv1d_to_linear(qkv, D, 3 * D, D, D);
    l.wv = conv1d_to_linear(qkv, D, 3 * D, 2 * D, D);
    l.bq.assign(qkv_b.begin(), qkv_b.begin() + D);
    l.bk.assign(qkv_b.begin() + D, qkv_b.begin() + 2 * D);
    l.bv.assign(qkv_b.begin() + 2 * D, qkv_b.end());
    l.wo = conv1d_to_linear(load(p + "attn.c_proj.weight", {D, D}), D, D, 0, D);
    l.bo = load(p + "attn.c_proj.bias", {D});
    l.ffn_norm = load(p + "ln_2.weight", {D});
    l.ffn_norm_b = load(p + "ln_2.bias", {D});
    l.w_up = conv1d_to_linear(load(p + "mlp.c_fc.weight", {D, F}), D, F, 0, F);
    l.b_up = load(p + "mlp.c_fc.bias", {F});
    l.w_down = conv1d_to_linear(load(p + "mlp.c_proj.weight", {F, D}), F, D, 0, D);
    l.b_down = load(p + "mlp.c_proj.bias", {D});
  }
  w.final_norm = load("ln_f.weight", {D});
  w.final_norm_b = load("ln_f.bias", {D});
  // lm_head is a plain nn.Linear ([out, in]) and never carries the "transformer." prefix.
  if (!c.tie_embeddings) w.lm_head = to_f32(store.get("lm_head.weight"), {c.n_vocab, D});
  return w;
}

}  // namespace ghostkv
