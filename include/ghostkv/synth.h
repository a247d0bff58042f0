#pragma once
// Synthetic attention inputs for tests, benchmarks and experiments without a model.
//   q  [n_q, n_head_q, d_head]   float32, post-RoPE, UNSCALED; query i sits at position n_kv - n_q + i
//   k  [n_kv, n_head_kv, d_head] float32, post-RoPE;  v [n_kv, n_head_kv, d_head] float32
//   positions [n_q] int64 = n_kv - n_q + i (causal);  scale = 1/sqrt(d_head)
// "gaussian": q, k, v iid N(0,1) (the failed prototype's data: no structure, flat attention).
// "structured": per KV head, pre-RoPE keys = low-rank content (AR(1) over tokens, decaying spectrum,
//   in ceil(key_rank/2) RoPE planes) + isotropic noise + a few outlier channels with a near-constant
//   offset (lowest-frequency planes, as in real LLM keys) + a constant positional component in the
//   high-frequency planes; attention sinks, planted needles; then HF half-split RoPE (pairs
//   (j, j + d/2), inv_freq_j = theta^(-2j/d)). Queries are built pre-RoPE from the same subspaces
//   and rotated at their own position. Strengths are score margins s = σ·q·k over the background.
// Deterministic given the seed on one machine (std::mt19937_64 streams + Box–Muller in double);
// sub-streams are per head and purpose: K and V do not depend on n_head_q or the query-side
// strengths (while recency_strength stays > 0; at 0 keys carry no positional component).
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/inputs.h"

namespace ghostkv {

struct SynthSpec {
  std::string kind = "structured";  // "gaussian" | "structured"
  int64_t n_kv = 4096, n_head_q = 8, n_head_kv = 2, d_head = 128, n_q = 64;
  uint64_t seed = 0;

  // ---- structured generator: keys (units: the content has rms 1 per channel) ----
  int64_t key_rank = 16;          // rank of the content; it occupies ceil(key_rank/2) RoPE planes
  double key_decay = 0.8;         // content spectrum λ_i ∝ key_decay^i (i < key_rank), Σλ = d_head
  double key_noise = 0.3;         // isotropic per-channel key noise std (the part PCA cannot catch)
  double content_corr_len = 16;   // AR(1) correlation length of the content over tokens (0 = iid)
  int64_t outlier_channels = 4;   // channels with a large near-constant offset (lowest frequencies)
  double outlier_scale = 8;       // that offset, in units of the content rms
  double outlier_jitter = 0.1;    // per-token relative variation of the offset
  double outlier_logit = 4;       // logit the queries' outlier-channel part adds to every score:
                                  // a common shift (softmax-invariant) that drifts slowly with distance

  // ---- structured generator: attention pattern (margins in σ·q·k units over the background) ----
  double background_strength = 1.6;  // std of the content part of the scores (the "typical" spread)
  double content_query_corr = 0.6;   // correlation of a query's content with its own token's content:
                                     // recent keys (AR(1)-correlated content) score higher
  int64_t n_sink = 4;                // tokens 0..n_sink-1 get keys every focused query scores highly
  double sink_strength = 11;         // their score margin
  double recency_strength = 6;       // RoPE-positional bonus at distance 0; decays over the window and
  int64_t recency_window = 32;       // oscillates beyond it (std ≈ 0.13·strength at d 128), as RoPE does
  int64_t n_needles = 8;             // per KV head: earlier tokens (before the last n_q + 64) whose keys
  double needle_strength = 13;       // carry a rare direction that some queries retrieve (margin)
  double needle_query_frac = 0.125;  // each needle is retrieved by a run of this fraction of the queries,
                                     // by a random non-empty subset of its group's focused heads
  double diffuse_head_frac = 0.25;   // fraction of query heads whose query is scaled by diffuse_scale
  double diffuse_scale = 0.1;        // (small query norm: nearly flat attention)

  // ---- values ----
  double value_norm_spread = 0.5;  // per-token value norm factor exp(spread·N(0,1)) (log-normal)
  double sink_value_scale = 0.25;  // sink values are small (sinks act as no-ops in real models)

  double rope_theta = 10000;
};

// What make_synthetic planted, so that tests and experiments can check retrieval.
struct SynthNeedle {
  int64_t kv_head = 0, pos = 0;     // the needle token (a KV position)
  int64_t q_begin = 0, q_end = 0;   // query rows [q_begin, q_end) retrieve it ...
  std::vector<int64_t> q_heads;     // ... in these query heads (all of group kv_head)
};
struct SynthLayout {
  int64_t n_sink = 0;
  std::vector<int64_t> diffuse_heads;  // query heads with flat attention, ascending
  std::vector<SynthNeedle> needles;    // sorted by (kv_head, pos)
  bool is_diffuse(int64_t h) const;
};

// Throws ghostkv::Error naming the field and its value when the spec is invalid.
void validate_synth_spec(const SynthSpec& spec);
// Builds the inputs (validate_inputs() passes on them); fills *layout when given.
AttnInputs make_synthetic(const SynthSpec& spec, SynthLayout* layout = nullptr);
// One-line summary for reports and CSV provenance.
std::string synth_describe(const SynthSpec& spec);

}  // namespace ghostkv
