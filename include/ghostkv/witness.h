#pragma once
// Token witnesses ("ghost records") for one (layer, KV head), built in float64 from the stored
// float32 basis (DESIGN §4.1, §4.1b). Every stored norm / error is rounded UP, and inflated by
// kBuildSlack·||k_t − μ|| to cover the float64 build arithmetic (docs/math.md §3).
//
// Low-rank sketch + residual (witness "lowrank"), x_t = k_t − μ, P = first r basis rows:
//   z_t = Pᵀx_t, sketch ẑ_t stored f32/f16/bf16/int8 (int8: per-token f16 scale, ẑ = s·code),
//   e_t ≥ ||z_t − ẑ_t||, r_t = x_t − P z_t,
//   B = 1: ρ_t ≥ ||r_t||;  B > 1: ρ_tb ≥ ||(P⊥ᵀ r_t)_b|| for B contiguous blocks of the complement,
//   Ω ≥ max_t ||Pᵀ r_t|| (non-orthonormality of the stored P), ρ_max ≥ max_t ||r_t||.
// Rotated quantized key (witness "quant"), V = all d basis rows:
//   c_t = Vᵀx_t, component j quantized with b_j bits (mid-rise, ĉ = h_gj·m, m odd in
//   [−(2^b−1), 2^b−1]) with a half-step h_gj per token group g of G tokens (G = 0: one group),
//   err_gj ≥ max_{t∈g} |c_tj − ĉ_tj| from the dequantised values, resid_max ≥ max ||x_t − V c_t||.
// Both store ν_t ≥ ||v_t|| (f16) for the certificate. Tokens are grouped from index 0; tokens at
// or after `seal_at` start new groups (appended tokens never join a group fitted before them).
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/basis.h"

namespace ghostkv {

// Relative slack for float64 build/precompute error: covers γ_d·||·|W|·||₂ ≤ d^1.5·2^-53 for d_head up to
// 2^15 (docs/math.md §3); negligible next to the float32 and float16 rounding of the records.
inline constexpr double kBuildSlack = 0x1p-30;

enum class Storage { f32, f16, bf16, int8 };
Storage parse_storage(const std::string& s);
const char* storage_name(Storage s);
int64_t storage_bytes(Storage s);  // bytes per sketch element

struct LowRankRecords {
  int64_t n = 0, d = 0, r = 0, blocks = 1;
  Storage storage = Storage::bf16;
  std::vector<float> sketch;           // [n, r] the stored sketch ẑ, widened exactly to float32
  std::vector<uint16_t> sketch_raw;    // [n, r] f16/bf16 bits (f16, bf16 storage)
  std::vector<int8_t> codes;           // [n, r] (int8 storage); ẑ = f16(scale_t) * code
  std::vector<uint16_t> scale;         // [n] f16 (int8 storage)
  std::vector<uint16_t> e;             // [n] f16, rounded up
  std::vector<uint16_t> rho;           // [n, blocks] f16, rounded up
  std::vector<uint16_t> nu;            // [n] f16, rounded up: ||v_t||
  double zhat_max = 0, e_max = 0, rho_max = 0, omega = 0;  // per-head constants (rounded up)
  // prefix maxima of the same constants over tokens 0..t ([n] each): a query that sees keys
  // 0..pos uses entry pos, so no constant depends on keys after the query (causality)
  std::vector<double> zhat_pmax, e_pmax, rho_pmax, omega_pmax;
  struct Consts {
    double zhat_max, e_max, rho_max, omega;
  };
  Consts consts(int64_t n_seen) const {  // n_seen ≤ 0 or no prefix arrays: the all-token maxima
    if (n_seen > 0 && int64_t(zhat_pmax.size()) >= n_seen) {
      const size_t i = size_t(n_seen - 1);
      return {zhat_pmax[i], e_pmax[i], rho_pmax[i], omega_pmax[i]};
    }
    return {zhat_max, e_max, rho_max, omega};
  }
  int64_t record_bytes() const;        // bytes per token read by the scan
  int64_t meta_bytes() const;          // bytes read once per step and head: basis rows, μ, constants
};

struct BitSpec {
  std::vector<int> bits;  // [d] bits per rotated component (0..8), leading components first
  std::string text;
  int64_t total_bits() const;
};
// "8", "int4", "8x16,4x48,2x64", "8x16,4" (last entry without a count fills the rest).
BitSpec parse_bits(const std::string& spec, int64_t d);

struct QuantRecords {
  int64_t n = 0, d = 0, group = 0, n_groups = 0, code_bytes = 0;
  std::vector<int> bits;               // [d]
  std::vector<int64_t> group_start;    // [n_groups + 1] first token of each group
  std::vector<int64_t> group_of;       // [n] group index of each token
  std::vector<uint8_t> codes;          // [n, code_bytes] packed LSB-first, component order
  std::vector<uint16_t> half_step;     // [n_groups, d] f16: ĉ = h·m
  std::vector<uint16_t> err;           // [n_groups, d] f16, rounded up
  std::vector<uint16_t> nu;            // [n] f16, rounded up
  double resid_max = 0;
  std::vector<double> resid_pmax;      // [n] prefix maxima of the per-token residual (causality)
  int64_t record_bytes() const;        // per token: packed codes + ν
  int64_t group_meta_bytes() const { return d * 4; }  // per group read: h and err, f16 each
  int64_t meta_bytes(bool identity_rotation) const;   // per step: rotation, μ, constants
  // decoded odd integer of token t, component j (in [−(2^b−1), 2^b−1]; 0 when b = 0)
  int decode(int64_t t, int64_t j) const;
  void decode_row(int64_t t, float* out) const;  // out[j] = m_tj as float (exact)
};

struct ProtoRecords {  // the prototype's heuristic (DESIGN §4.6); not a bound
  int64_t n = 0, d = 0, r = 0;
  std::vector<float> proj;    // [r, d] rows of Rᵀ, iid N(0, 1/r)
  std::vector<float> sketch;  // [n, r] k_t R
  int64_t record_bytes() const { return r * 4; }
  int64_t meta_bytes() const { return r * d * 4; }
};

// keys/values: n rows of d floats at k + t*stride.
LowRankRecords build_lowrank(const Basis& basis, int64_t rank, int64_t blocks, Storage storage, const float* k,
                             const float* v, int64_t n, int64_t stride);
QuantRecords build_quant(const Basis& basis, const BitSpec& bits, int64_t group, int64_t seal_at, const float* k,
                         const float* v, int64_t n, int64_t stride);
// ---- Incremental quant records (decode-time appends; src/core/witness_append.cc) ----
// Tokens are appended one at a time with the CURRENT basis. Groups of G tokens: a group's half-steps
// are fixed when it opens, h_j = f16↑(min(max(range_sigmas·σ_j, |c_j|) / 2^b_j, 65504)) with σ_j² the
// basis' fitted variance of component j and c the opening key; a later key with |c_j| > 2^b_j·h_j for
// some j (b_j > 0) closes the open group and opens a new one sized to include it (never clipped);
// a group seals when it holds G tokens. err_gj is the measured max |c_tj − ĉ_tj| (+ kBuildSlack·||x_t||)
// over the group so far, rounded up (f16↑ is monotone, so the running max of rounded values is the
// rounded max); resid_max is the running max of ||x_t − V c_t|| as in build_quant. The records stay
// valid QuantRecords after every append (group_start[n_groups] = n), so prepare_quant_query and
// ref::/cpu::quant_bounds apply unchanged and are sound for every token appended so far.
struct QuantAppendState {
  double range_sigmas = 4.0;  // opening half-step covers ±range_sigmas·σ_j
  bool open = false;          // the last group accepts more tokens
};
// Empty records for d components with the given bit spec and group size G (G ≥ 1).
QuantRecords quant_records_empty(const BitSpec& bits, int64_t group);
struct QuantAppendInfo {
  bool new_group = false;       // this key opened a group
  bool out_of_range = false;    // ... because it fell outside the open group's range
  double err_norm = 0;          // ||c − ĉ|| of this key (float64)
  double c_norm = 0;            // ||c|| of this key
};
// Appends one token (k, v: d floats each). basis.variance must have d entries.
QuantAppendInfo quant_append(QuantRecords& rec, QuantAppendState& st, const Basis& basis, const float* k,
                             const float* v);

ProtoRecords build_proto(int64_t rank, uint64_t seed, const float* k, int64_t n, int64_t stride, int64_t d);

}  // namespace ghostkv
