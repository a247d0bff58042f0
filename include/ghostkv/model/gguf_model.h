#pragma once
// Llama-family models and their tokenizers from a GGUF file (llama.cpp's format).
// Config from metadata (general.architecture = llama | mistral | qwen2):
//   {arch}.embedding_length → d_model, block_count → n_layer, feed_forward_length → d_ff,
//   attention.head_count / head_count_kv → n_head_q / n_head_kv, attention.key_length (else
//   d_model / n_head_q) → d_head (rope.dimension_count, when present, must equal it: partial
//   rotary is not supported), attention.layer_norm_rms_epsilon → norm_eps, rope.freq_base → θ
//   (default 10000), rope.scaling.{type,factor} (none | linear), context_length → max_pos,
//   attention.sliding_window; n_vocab = len(tokenizer.ggml.tokens); bos/eos from tokenizer.ggml.*.
// Tensors (ggml ne = [in, out] → our [out, in]): token_embd, blk.N.{attn_norm, attn_q, attn_k,
// attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down} (+ attn_{q,k,v}.bias), output_norm,
// output (absent → tied to token_embd). All dequantised to float32 exactly as ggml does.
// Q/K rows: llama.cpp's HF→GGUF converter reorders the rows of q_proj/k_proj of llama and mistral
// models for ggml's adjacent-pair RoPE (see unpermute_llamacpp_qk); we undo it, so our weights are
// HF's, rope_style = half_split, and post-RoPE q/k equal transformers'. qwen2 is stored unpermuted.
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/io/gguf.h"
#include "ghostkv/model/config.h"
#include "ghostkv/model/tokenizer.h"
#include "ghostkv/model/weights.h"

namespace ghostkv {

ModelConfig gguf_model_config(const GgufFile& f);
LlamaWeights load_gguf_llama(const std::string& path);

// llama.cpp's converter, per head of d_head rows (h = head, s ∈ {0,1}, i < d_head/2):
//   gguf_row[h·d_head + 2i + s] = hf_row[h·d_head + s·d_head/2 + i]
// i.e. reshape(n_head, 2, d_head/2, d_in).swapaxes(1, 2). These apply it and its inverse to a
// [n_head·d_head, d_in] row-major matrix (or a bias, d_in = 1).
std::vector<float> permute_llamacpp_qk(const std::vector<float>& hf, int64_t n_head, int64_t d_head, int64_t d_in);
std::vector<float> unpermute_llamacpp_qk(const std::vector<float>& gguf, int64_t n_head, int64_t d_head,
                                         int64_t d_in);

// The tokenizer GGUF metadata describes:
//   tokenizer.ggml.model = "gpt2"  → byte-level BPE: tokens, merges ("a b"), token_type, and the
//     pre-tokenizer tokenizer.ggml.pre names (default/gpt-2 → gpt2, llama-bpe/llama3 → llama3,
//     qwen2, smollm; others: Error naming it)
//   tokenizer.ggml.model = "llama" → sentencepiece BPE: tokens, scores, token_type,
//     add_space_prefix (default true)
// Specials: tokenizer.ggml.{bos,eos,unknown}_token_id.
Tokenizer tokenizer_from_gguf(const GgufFile& f);
Tokenizer load_gguf_tokenizer(const std::string& path);

}  // namespace ghostkv
