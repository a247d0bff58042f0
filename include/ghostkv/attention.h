#pragma once
// Exact attention of one query head over a given set of tokens of one KV head.
//   q      σ·q in float64 [d_head] (ref) / float32 (cpu)
//   k, v   rows of d_head floats at k + t*stride
//   idx    [n] token indices attended (any order)
// ref::attend: float64, scores by compensated dot products (error ≈ 2^-53 relative: "exact").
// cpu::attend: float32 online softmax kept as a running weighted mean (m, l, o = Σ w v / l):
//   on a new max m' the sum rescales l ← l·e^{m−m'}; each token updates o ← o·(l/l') + v·(w/l'), l' = l + w,
// plus, per token, a certified LOWER bound on its score (for the certificate's Z) and an a-priori
// bound `num_err_bound` on ||ô_f32 − ô_exact|| (docs/math.md §6.5).
#include <cstdint>
#include <vector>

namespace ghostkv {

double dot2(const float* a, const float* b, int64_t n);  // compensated (Ogita–Rump–Oishi Dot2)
double exact_score(const float* q_raw, const float* k, int64_t d, double scale);

struct AttnOut {
  std::vector<double> out;      // [d] ô
  std::vector<double> s_lo;     // [n] certified lower bound of each attended token's score
  double num_err_bound = 0;     // cpu: bound on ||ô_f32 − ô_exact||; ref: 0
  double nu_max = 0;            // max ||v_t|| over the attended tokens (float64)
};

namespace ref {
// scores given (exact, uncentred); returns ô in float64
void attend(const double* scores, const float* v, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
            AttnOut& res);
}  // namespace ref
namespace cpu {
// float32 scores lower bounds for a set of tokens (also used before attention, for m_L and Z_L)
void score_lower_bounds(const float* q32, const float* k, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
                        double* s_lo, float* s32);
void attend(const float* q32, const float* k, const float* v, int64_t stride, int64_t d, const int64_t* idx,
            int64_t n, AttnOut& res);
}  // namespace cpu

}  // namespace ghostkv
