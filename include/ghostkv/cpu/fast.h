#pragma once
// Vectorised float32 kernels of the CPU path (src/cpu/fast.cc). Every kernel has a scalar twin and
// an AVX2 (+ FMA, F16C) body chosen at run time (`simd_level`); nothing needs -march flags.
//   token-bound scans over witness records, for all query heads of a GQA group in one pass over the
//     records (each record is read once per step, not once per query head);
//   survivor compaction (the GQA rule: a token survives when any head keeps it);
//   exact attention over a token list or over all tokens, online softmax in float32 over f32 / f16 /
//     bf16 K, V, for all query heads of a group in one pass over K and V.
//   the quantized scan by exact integer arithmetic (QuantScanI16: int16 weights, vpmaddwd / AVX-VNNI
//     vpdpwssd), with the weights' rounding added to the bound (docs/math.md §4.2b);
//   query preparation of a GQA group in one pass over the per-group tables (prepare_quant_queries).
// Soundness of the scans: the summation order differs from the scalar loop, but the float32 slack of
// prepare_*_query is γ_n-based over the number of terms, which bounds every order (and an FMA rounds
// once where a multiply-add rounds twice), docs/math.md §4, docs/cpu_fast_path.md.
#include <cstdint>
#include <memory>
#include <vector>

#include "ghostkv/bound.h"
#include "ghostkv/witness.h"

namespace ghostkv::cpu {

// "avx2" (AVX2 + FMA + F16C present and not forced off) or "scalar".
const char* simd_level();
// Force the scalar kernels (tests compare both); returns the previous setting.
bool set_force_scalar(bool on);

// Upper bounds for n_heads query heads against one KV head's records, tokens [t0, t1):
// ub[h][t - t0] = the same sound bound as cpu::lowrank_bounds / cpu::quant_bounds (NaN → +inf).
// The float variant stores each bound rounded UP to float32 (still ≥ the true centred score).
void lowrank_bounds_multi(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads, int64_t t0,
                          int64_t t1, double* const* ub);
void lowrank_bounds_multi_f32(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads, int64_t t0,
                              int64_t t1, float* const* ub);
void quant_bounds_multi(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                        double* const* ub);
void quant_bounds_multi_f32(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            float* const* ub);

// Quantized token bounds by exact integer arithmetic (docs/math.md §4.2b, docs/cpu_fast_path.md §2):
// per group g and head h the float32 scan weights w32_gj = fl32(fl32(qr_j)·h_gj) are rounded to integers
// wi_j = round(w32_gj / s_gh) (s_gh a power of two, |wi| ≤ 32767), the code dot product J = Σ_j wi_j·m_tj
// is exact in int32 (vpmaddwd on the raw codes: Σ wi·m = 2·Σ wi·code − Σ wi·(2^b − 1)), and the rounding of
// the weights, D_gh = Σ_j |w32_gj − s_gh·wi_j|·(2^b_j − 1) (exact in float64, rounded up), is added:
//   UB'_t = s_gh·J + add32_g + D_gh (+ the float64 rounding of this sum, added explicitly).
// The additive term add32_g (prepare_quant_query) covers everything the float32 scan's slack covers, so the
// bound is sound wherever the float32 one is; it is looser than the float32 scan's by at most D_gh ≤
// s_gh/2·Σ_j(2^b_j − 1) ≈ 2^-15·max_j|w32_gj|·Σ_j(2^b_j − 1).
// Each record is decoded once for all heads (two tokens × up to four heads per pass, the codes widened to
// 16-bit lanes once). A group's integer weights are built the first time the group is scanned and kept
// for the next spans of the same step (two groups cached), so one object per (step, KV head) serves every
// span of that step. Needs the records and queries to outlive the object. Specs whose components do not
// form byte-aligned runs of 1, 2, 4 or 8 bits, machines without AVX2 and queries whose weights are not
// finite use the float32 scan (quant_bounds_multi) instead: `integer()` says which will run.
// A token's bound depends on the token alone, not on the span it is scanned in.
class QuantScanI16 {
 public:
  QuantScanI16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads);
  ~QuantScanI16();
  QuantScanI16(const QuantScanI16&) = delete;
  QuantScanI16& operator=(const QuantScanI16&) = delete;
  bool integer() const;
  // ub[h][t - t0] for t in [t0, t1): the float variant rounds each bound UP to float32
  void bounds(int64_t t0, int64_t t1, float* const* ub);
  void bounds(int64_t t0, int64_t t1, double* const* ub);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// The integer scan's multiply-accumulate: "avx-vnni" (vpdpwssd) where the CPU has it, else "avx2"
// (vpmaddwd + vpaddd), "none" without AVX2. set_use_vnni(false) forces vpmaddwd (tests compare the two;
// the bounds are identical); returns the previous setting. Env GHOSTKV_NO_VNNI=1 turns VNNI off.
const char* quant_i16_isa();
bool set_use_vnni(bool on);
// One-shot form of the above.
void quant_bounds_multi_i16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            float* const* ub);
void quant_bounds_multi_i16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            double* const* ub);

// Query preparation of n_heads query heads of one GQA group against one KV head's quant records, in one
// pass over the per-group tables (the half-steps and errors of a group are read and widened once, and
// their query-independent sums once, for all heads): out[h] equals prepare_quant_query(basis, rec, q[h],
// n_seen) bit for bit (the same float64 operations in the same order per head), except that w32 is left
// empty when with_w32 is false (the integer scan, QuantScanI16, does not read it).
void prepare_quant_queries(const Basis& basis, const QuantRecords& rec, const double* const* q, int n_heads,
                           int64_t n_seen, bool with_w32, QuantQuery* out);

// Survivor compaction: writes t0 + c for every c in [0, n) with ub[h][c] ≥ thr[h] for some head h
// (NaN counts as a survivor) into idx, ascending; returns the count.
int64_t compact_survivors(const float* const* ub, const float* thr, int n_heads, int64_t n, int64_t t0, int64_t* idx);

enum class KvType { f32, f16, bf16 };
const char* kv_type_name(KvType t);
int64_t kv_type_bytes(KvType t);

// K, V rows of one KV head: row t at base + t * stride elements (of the given type).
struct KvView {
  const void* k = nullptr;
  const void* v = nullptr;
  KvType type = KvType::bf16;
  int64_t stride = 0;
};

// Software prefetch of the K, V rows in attend_multi: −2 (the default; env GHOSTKV_PREFETCH=next) = the next
// block's rows, spread over the current block's V pass (one cache line of each row per 16-column pass):
// every V row and, of a token list idx, the K rows that do not directly follow the previous row (dense K
// and runs of rows are left to the hardware prefetcher); N > 0 = both rows of the token N positions ahead of
// the one being scored (GHOSTKV_PREFETCH=N), −1 = the whole next block at each block start
// (GHOSTKV_PREFETCH=block), 0 = off (GHOSTKV_NO_PREFETCH=1). N > 0 and −1 apply to token lists only.
// Returns the previous setting. A benchmark switch: the results do not depend on it.
int64_t set_prefetch_distance(int64_t tokens);

// Exact attention for n_heads query heads (q: n_heads rows of d floats, already scaled by σ) over the
// tokens idx[0..n) (idx == nullptr: tokens 0..n-1), online softmax in float32 (scores by FMA dot
// products, weights by a vectorised exp with ≤ 2 ulp relative error, blocks of 32 tokens (64 when d is not a
// multiple of 16) rescaled by e^{m_old − m_new}); out: n_heads rows of d floats. For d % 16 == 0 the vector
// body reads 16 columns of a row at once (bf16: even columns by a shift, odd ones by a mask), scores two
// tokens × up to four heads per pass from registers and permutes q and o to that column order. For ||v|| ≤ 1e30 nothing overflows (weights ≤ 1,
// running sums ≤ n·max|v|).
void attend_multi(const float* q, int n_heads, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* out);

// Adaptive fallback: predicts whether the witness path (record scan + survivors' K, V) pays for itself
// against dense attention, from the record bytes per token, the K, V bytes per token, the survivor
// fraction observed on recent witness steps and, once measured, the observed time ratio of the witness
// path to dense (exponential averages). While the prediction says dense, the witness path is still
// probed now and then to refresh the observation, with exponential back-off (probe_every doubles after
// each probe that confirms dense, up to max_probe_every), so a witness path that never pays costs at
// most (ratio − 1)/max_probe_every of a dense step on average.
struct FallbackPredictor {
  double record_bytes = 0;        // witness bytes per token (records + per-token metadata)
  double kv_bytes = 0;            // K + V bytes per token
  double margin = 1.05;           // the witness path must win by this factor
  double decay = 0.8;             // weight of the previous estimate
  int64_t probe_every = 16, min_probe_every = 16, max_probe_every = 1024;
  double survive_ema = -1;        // < 0: no observation yet (the first step uses the witness path)
  double time_ratio_ema = -1;     // < 0: no timing observed
  int64_t since_probe = 0;
  bool use_witness();                      // decide this step
  void observe(double survive_frac);       // after a witness step: survivors / tokens
  void observe_time_ratio(double ratio);   // after a witness step: its time / a dense step's time
  double predicted_ratio() const;          // witness cost / dense cost at the current estimates
};

}  // namespace ghostkv::cpu
