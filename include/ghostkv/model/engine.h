#pragma once
// CPU transformer engine for the Llama family (Llama, Mistral, Qwen2, SmolLM, TinyLlama, llama2.c):
// RMSNorm, RoPE (HF half-split or llama2.c adjacent pairs, with rope_scaling), SwiGLU, GQA,
// optional q/k/v bias, sliding-window attention, tied or separate lm_head; and GPT-2 (learned
// absolute positions, LayerNorm with bias, MHA without RoPE, biased projections, GELU FFN; the
// context cannot exceed its max_pos learned positions). float32 compute on float32 weights
// (widened exactly from bf16/f16), BLAS sgemm for every projection.
// KV cache per layer: k, v [max_ctx, n_head_kv, d_head], keys POST-RoPE — exactly what attention
// consumes. Per layer and forward, q is post-RoPE and UNSCALED ([n, n_head_q, d_head]); the score
// of query i and key t is σ·q_i·k_t with σ = ModelConfig::attn_scale(). Without RoPE (GPT-2),
// "post-RoPE" q and k are the projected q and k (bias included).
// Hooks: an AttentionHook may replace dense attention of a layer (GhostKV's elimination); a
// CaptureSink sees every layer's q and the cache after the layer's K,V are appended.
#include <cstdint>
#include <memory>
#include <vector>

#include "ghostkv/model/weights.h"

namespace ghostkv {

class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  // q [n, n_head_q, d_head] for positions pos[0..n); k_cache/v_cache [n_kv, n_head_kv, d_head] hold
  // keys 0..n_kv-1 (post-RoPE); write out [n, n_head_q, d_head]. Return false to fall back to dense.
  virtual bool attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache,
                      const float* v_cache, int64_t n_kv, float* out) = 0;
};

class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  virtual void on_layer(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache,
                        const float* v_cache, int64_t n_kv) = 0;
};

struct EngineOptions {
  int64_t max_ctx = 0;  // 0 = the model's max_pos (at least 1)
  int threads = 0;      // 0 = all cores (OpenMP); BLAS uses its own setting
};

class Engine {
 public:
  Engine(const LlamaWeights& w, EngineOptions opt = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelConfig& config() const;
  int64_t n_past() const;
  int64_t max_ctx() const;
  void reset();  // empty the KV cache

  // Runs ids[0..n) at positions n_past()..n_past()+n-1 and appends their K,V. Writes the logits of
  // the last n_logits positions to logits [n_logits, n_vocab] (n_logits ≤ n; 0 = none).
  void forward(const int32_t* ids, int64_t n, float* logits, int64_t n_logits, AttentionHook* hook = nullptr,
               CaptureSink* capture = nullptr);

  const float* k_cache(int64_t layer) const;  // [max_ctx, n_head_kv, d_head]
  const float* v_cache(int64_t layer) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Dense causal attention (float32) as the engine computes it; also the fallback of hooks.
// q [n, Hq, d] (unscaled), pos [n], cache [n_kv, Hkv, d]; window 0 = none (else keys > pos − window).
void dense_attention(const float* q, const int64_t* pos, int64_t n, const float* k_cache, const float* v_cache,
                     int64_t n_kv, int64_t n_head_q, int64_t n_head_kv, int64_t d_head, double scale, int64_t window,
                     float* out);

struct SampleOptions {
  int64_t max_new = 64;
  double temperature = 0;  // 0 = greedy (argmax, lowest id on exact ties)
  uint64_t seed = 0;
  bool stop_at_eos = true;
};
// Prefills `prompt`, then samples up to max_new tokens; returns the new ids.
std::vector<int32_t> generate(Engine& eng, const std::vector<int32_t>& prompt, const SampleOptions& opt,
                              AttentionHook* hook = nullptr);

}  // namespace ghostkv
