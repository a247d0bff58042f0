#pragma once
// Anchors (DESIGN §4.2-§4.4): summaries of groups of tokens of one (layer, KV head) that bound the
// score of every member from a few bytes, so a whole group can be eliminated at once.
//   grouping: contiguous pages of N tokens (Quest-style) or k-means clusters (k, seed, iterations)
//   summary:  box (per-channel lo/hi, rounded outward)  UB_A = Σ_j max(q_j·lo_j, q_j·hi_j)
//             ball (centre c, radius R ≥ max ||x_t − c||) UB_A = q·c + ||q||·R
//   space:    orig = x_t = k_t − μ in the original coordinates; rot = c_t = Vᵀ(k_t − μ) in the basis
//             rows (then UB_A also carries ||q||·resid for the stored basis not being orthogonal)
// plus ν_A ≥ max ||v_t|| of the members, for the certificate. Bounds are CENTRED (add q·μ for score
// units) and sound through the float32 path (docs/math.md §anchors).
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/basis.h"

namespace ghostkv {

enum class AnchorKind { none, page, kmeans };
enum class AnchorBound { box, ball };
enum class AnchorSpace { orig, rot };
AnchorKind parse_anchor_kind(const std::string& s);
AnchorBound parse_anchor_bound(const std::string& s);
AnchorSpace parse_anchor_space(const std::string& s);
const char* anchor_kind_name(AnchorKind k);
const char* anchor_bound_name(AnchorBound b);
const char* anchor_space_name(AnchorSpace s);

struct AnchorParams {
  AnchorKind kind = AnchorKind::none;
  AnchorBound bound = AnchorBound::box;
  AnchorSpace space = AnchorSpace::orig;
  int64_t page = 16;        // page: tokens per page
  int64_t clusters = 64;    // kmeans: k
  int64_t iterations = 10;  // kmeans: Lloyd iterations
  uint64_t seed = 0;
};

struct AnchorSet {
  AnchorParams params;
  int64_t n_tokens = 0, d = 0, n_anchors = 0;
  std::vector<int64_t> anchor_of;     // [n_tokens] anchor index of each token
  std::vector<int64_t> member_start;  // [n_anchors + 1] CSR offsets into members
  std::vector<int64_t> members;       // token indices grouped by anchor (ascending within an anchor)
  std::vector<float> lo, hi;          // box: [n_anchors, d] (rounded outward)
  std::vector<float> centre;          // ball: [n_anchors, d]
  std::vector<double> radius;         // ball: [n_anchors] (rounded up)
  std::vector<double> nu_max;         // [n_anchors] max ||v_t|| of the members (rounded up, f16)
  std::vector<double> mag;            // [n_anchors] box: ||max(|lo|,|hi|)||₂, ball: ||centre||₂ (rounded up);
                                      //   the float32 scan's slack is γ_n·||q_y||·mag_a (docs in anchor.cc)
  double row_norm_max = 1;            // rot space: max ||row_j|| of the stored rotation (≥ 1 used); 1 in orig
  double resid_max = 0;               // rot space: max ||x_t − V c_t|| (rounded up); 0 in orig space
  int64_t anchor_bytes() const;       // bytes read per anchor at a step (box 2·d·4 or ball d·4 + 4, + ν 2)
};

// Builds anchors over tokens [0, n) (keys/values rows at k + t*stride) with the stored basis (μ and,
// for rot space, its rows). k-means: k-means++ seeding (p.seed) then p.iterations Lloyd steps in the
// chosen space (float64); an emptied cluster is re-seeded with the point farthest from its centre;
// clusters still empty at the end are dropped. Anchors are numbered by their smallest member.
AnchorSet build_anchors(const AnchorParams& p, const Basis& basis, const float* k, const float* v, int64_t n,
                        int64_t stride);

// Centred upper bounds UB'_A ≥ q·(k_t − μ) for every member t of every anchor a in [a0, a1).
// q is σ·q_raw in float64 [d]. ref: float64; cpu: float32 scan with its slack added.
// Soundness (derivation in src/core/anchor.cc): with y_t the member's coordinates in the anchor's
// space (orig: x_t; rot: W x_t for the stored rows W) and q_y = q or W q,
//   q·x_t = q_y·y_t + q·r_t, |q·r_t| ≤ ||q||·resid_max (rot; r_t = x_t − Wᵀ W x_t, 0 in orig),
// and box/ball bound q_y·y_t; the float64 error of y_t, q_y, and the scan are added as slack.
// A NaN bound is returned as +inf.
namespace ref {
void anchor_bounds(const AnchorSet& a, const Basis& basis, const double* q, int64_t a0, int64_t a1, double* ub);
}
namespace cpu {
void anchor_bounds(const AnchorSet& a, const Basis& basis, const double* q, int64_t a0, int64_t a1, double* ub);
// The same bounds for n_heads query heads (q[h], ub[h]) in one pass over the anchors (AVX2 + FMA with a
// scalar fallback; each anchor's summary is read once for all heads).
void anchor_bounds_multi(const AnchorSet& a, const Basis& basis, const double* const* q, int n_heads, int64_t a0,
                         int64_t a1, double* const* ub);
}

}  // namespace ghostkv
