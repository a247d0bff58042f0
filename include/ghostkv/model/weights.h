#pragma once
// Float32 weights of a Llama-family model, loaded from a Hugging Face checkpoint (safetensors,
// any of F32/F16/BF16/F64, widened exactly except F64) or a llama2.c v0 .bin (float32).
// Matrices are [out, in] row-major, as HF and llama2.c store them: y = W x is y[o] = Σ_i W[o, i] x[i].
//   embed [n_vocab, d_model]; lm_head [n_vocab, d_model] (empty when tied to embed)
//   per layer: attn_norm [d_model]; wq [n_head_q·d_head, d_model]; wk, wv [n_head_kv·d_head, d_model];
//   wo [d_model, n_head_q·d_head]; bq [n_head_q·d_head], bk, bv [n_head_kv·d_head] (empty unless
//   cfg.qkv_bias); ffn_norm [d_model]; w_gate, w_up [d_ff, d_model]; w_down [d_model, d_ff]
// Row h·d_head + i of wq/wk is dimension i of head h, in the checkpoint's own RoPE pairing
// (cfg.rope_style): nothing is permuted on load.
// GPT-2 (cfg.arch "gpt2") fills, in the same [out, in] layout: pos_embed [max_pos, d_model];
// attn_norm/attn_norm_b, ffn_norm/ffn_norm_b, final_norm/final_norm_b (LayerNorm weight, bias);
// wq, wk, wv, bq, bk, bv split from the fused Conv1D c_attn (stored [in, out] = [d_model, 3·d_model],
// columns q | k | v, transposed on load); wo, bo; w_up, b_up (c_fc); w_down, b_down (c_proj);
// w_gate stays empty. The other fields are empty for the Llama family.
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/model/config.h"

namespace ghostkv {

struct LayerWeights {
  std::vector<float> attn_norm, wq, wk, wv, wo, bq, bk, bv, ffn_norm, w_gate, w_up, w_down;
  std::vector<float> attn_norm_b, ffn_norm_b, bo, b_up, b_down;  // GPT-2 only
};

struct LlamaWeights {
  ModelConfig cfg;
  std::vector<float> embed;       // [n_vocab, d_model]
  std::vector<float> final_norm;  // [d_model]
  std::vector<float> lm_head;     // [n_vocab, d_model]; empty when cfg.tie_embeddings
  std::vector<float> pos_embed;     // [max_pos, d_model]; GPT-2 only (cfg.learned_pos)
  std::vector<float> final_norm_b;  // [d_model]; GPT-2 only (LayerNorm bias)
  std::vector<LayerWeights> layers;
  const std::vector<float>& classifier() const { return lm_head.empty() ? embed : lm_head; }
  int64_t n_params() const;  // number of stored floats (tied embeddings counted once)
};

// HF names: model.embed_tokens.weight, model.layers.N.{input_layernorm, post_attention_layernorm}.weight,
// model.layers.N.self_attn.{q,k,v,o}_proj.weight (+ q/k/v .bias), model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.norm.weight, lm_head.weight unless tied. o_proj / MLP biases are not supported (Error).
// A config.json with model_type gpt2 is handed to load_hf_gpt2.
LlamaWeights load_hf_llama(const std::string& dir);
// HF GPT-2 (GPT2LMHeadModel: transformer.{wte, wpe, h.N.*, ln_f}; GPT2Model: the same names without
// "transformer."): h.N.ln_1, h.N.attn.c_attn, h.N.attn.c_proj, h.N.ln_2, h.N.mlp.c_fc, h.N.mlp.c_proj
// (Conv1D weights [in, out]), ln_f; lm_head.weight only when tie_word_embeddings is false. The
// causal-mask buffers older checkpoints carry (h.N.attn.bias, h.N.attn.masked_bias) are ignored.
LlamaWeights load_hf_gpt2(const std::string& dir);
// Converts a Conv1D weight [in, out] (y = x·W) to the [out, in] layout of the engine, taking the
// output columns [col0, col0 + n_out): returns [n_out, in].
std::vector<float> conv1d_to_linear(const std::vector<float>& w_in_out, int64_t in, int64_t out, int64_t col0,
                                    int64_t n_out);
// llama2.c legacy (v0) .bin: 7 int32 header then float32 arrays; rope_style adjacent, θ 10000,
// eps 1e-5, bos 1, eos 2; a negative vocab_size means a separate classifier follows.
LlamaWeights load_llama2c(const std::string& bin_path);
// A folder with config.json → load_hf_llama (GPT-2 included); a *.gguf file → load_gguf_llama
// (model/gguf_model.h); a *.bin file → load_llama2c; else Error.
LlamaWeights load_model(const std::string& path);

}  // namespace ghostkv
