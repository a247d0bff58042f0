#pragma once
// The hyper-parameters of a pre-norm decoder: the Llama family (Llama, Mistral, Qwen2 share its
// compute: RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU FFN) and GPT-2 (learned absolute
// positions added to the embedding, LayerNorm with bias → MHA with biased projections, no RoPE →
// LayerNorm → dense FFN with GELU, biases everywhere).
// RoPE conventions differ where they bite: HF Llama rotates the pair (j, j + d_head/2)
// ("half_split"); llama2.c rotates (2j, 2j+1) ("adjacent"). Both use angle pos · inv_freq[j],
// inv_freq[j] = theta^(-2j/d_head), j < d_head/2, then rope_scaling rescales inv_freq exactly as
// HF transformers does (linear: / factor; llama3: smooth per-wavelength interpolation).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ghostkv {

enum class RopeStyle {
  half_split,  // HF: rotate (j, j + d_head/2)
  adjacent,    // llama2.c: rotate (2j, 2j+1)
};

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3
  double factor = 1, low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_pos = 8192;
};

enum class FfnAct {
  silu_glu,   // Llama: down(SiLU(gate x) · up x)
  gelu_tanh,  // GPT-2 gelu_new / gelu_pytorch_tanh: down(GELU(up x + b)), GELU by its tanh approximation
  gelu_erf,   // GPT-2 with activation_function "gelu": the exact erf GELU
};

struct ModelConfig {
  std::string arch = "llama";  // llama | mistral | qwen2 (Llama-family compute) | gpt2
  std::string source;          // the path it came from
  int64_t d_model = 0, n_layer = 0, n_head_q = 0, n_head_kv = 0, d_head = 0, d_ff = 0, n_vocab = 0, max_pos = 0;
  double norm_eps = 1e-5, rope_theta = 10000;
  RopeStyle rope_style = RopeStyle::half_split;
  RopeScaling rope_scaling;
  bool qkv_bias = false, o_bias = false, mlp_bias = false, tie_embeddings = false;
  int64_t sliding_window = 0;  // 0 = none (full causal attention)
  int64_t bos_id = -1, eos_id = -1;  // -1 = none; for a list of EOS ids, the first
  // GPT-2 compute (all false / silu_glu for the Llama family): learned position embedding
  // [max_pos, d_model] and no RoPE; LayerNorm (with bias) instead of RMSNorm; the FFN activation.
  bool learned_pos = false, layer_norm = false;
  FfnAct ffn_act = FfnAct::silu_glu;
  bool scale_attn = true;  // false: scores are q·k unscaled (GPT-2 scale_attn_weights = false)

  bool uses_rope() const { return !learned_pos; }
  double attn_scale() const { return scale_attn ? 1.0 / std::sqrt(double(d_head)) : 1.0; }
  int64_t group() const { return n_head_kv > 0 ? n_head_q / n_head_kv : 0; }
  // [d_head/2] inverse frequencies in float64 (HF computes them in float32; the difference is
  // below 1 ulp of float32).
  std::vector<double> rope_inv_freq() const;
  // Throws ghostkv::Error (naming `source`) unless every count is positive, within sane limits
  // (so nothing absurd is allocated), n_head_q % n_head_kv == 0 and d_head is even (with RoPE).
  void validate() const;
};

// Reads a Hugging Face config.json (model_type llama, mistral, qwen2 or gpt2). RoPE θ and scaling
// are read from the top level ("rope_theta", "rope_scaling": transformers 4.x) or from
// "rope_parameters" (transformers 5.x). GPT-2: n_embd, n_layer, n_head, n_inner (null = 4·n_embd),
// n_positions, layer_norm_epsilon, activation_function, scale_attn_weights; options that change
// the compute and are not implemented (scale_attn_by_inverse_layer_idx, add_cross_attention) are
// refused. Errors name the file and the field.
ModelConfig parse_hf_config(const std::string& config_json_path);

}  // namespace ghostkv
