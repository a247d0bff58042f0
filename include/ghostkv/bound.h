#pragma once
// Token upper bounds on scores, for one query head against one KV head's records.
// q is σ·q_raw in float64 [d_head]. All bounds are in CENTRED score units, UB'_t ≥ q·(k_t − μ)
// (DESIGN §4.1, §4.1b), for every token, in exact arithmetic on the stored inputs — including the
// floating-point error of the path that computes them (docs/math.md §4):
//   ref::  float64 arithmetic, slack kBuildSlack-relative
//   cpu::  the token scan in float32 (dot products γ_n-bounded), per-query terms in float64
// The prototype heuristic (DESIGN §4.6) is returned in uncentred units and is NOT a bound.
#include <cstdint>
#include <vector>

#include "ghostkv/basis.h"
#include "ghostkv/witness.h"

namespace ghostkv {

// γ_n = n·u / (1 − n·u) for unit roundoff u (float32: 2^-24).
inline double gamma_n(int64_t n, double u = 0x1p-24) { return double(n) * u / (1.0 - double(n) * u); }
// Absolute error of one float32 multiplication in the subnormal range: fl(a·b) = a·b·(1+δ) + η,
// |η| ≤ 2^-150 (half the smallest subnormal); additions of subnormals are exact.
inline constexpr double kF32Eta = 0x1p-150;

struct LowRankQuery {
  std::vector<double> qs;     // [r] Pᵀq
  std::vector<float> qs32;    // [r] qs rounded to float32
  std::vector<double> qb;     // [blocks] coefficient of each residual norm (rounded up)
  double nqs = 0;             // ||qs|| (rounded up)
  double const_term = 0;      // ||qs||·Ω + ||(I−WWᵀ)q||·ρ_max (blocks>1) + float64 slack
  double slack32 = 0;         // added by the float32 scan
};
// n_seen > 0: the query sees keys 0..n_seen-1 and uses the per-head constants of that prefix.
LowRankQuery prepare_lowrank_query(const Basis& basis, const LowRankRecords& rec, const double* q, int64_t n_seen = -1);

struct QuantQuery {
  std::vector<double> qr;     // [d] Vᵀq
  std::vector<double> add;    // [n_groups] Σ_j |q_rj|·err_gj + const + float64 slack   (ref)
  std::vector<double> add32;  // [n_groups] add + float32 scan slack                     (cpu)
  std::vector<float> w32;     // [n_groups, d] float32(float32(q_rj)·h_gj)
};
QuantQuery prepare_quant_query(const Basis& basis, const QuantRecords& rec, const double* q, int64_t n_seen = -1);

// ub[t - t0] for tokens t in [t0, t1)
namespace ref {
void lowrank_bounds(const LowRankRecords& rec, const LowRankQuery& pq, int64_t t0, int64_t t1, double* ub);
void quant_bounds(const QuantRecords& rec, const QuantQuery& pq, int64_t t0, int64_t t1, double* ub);
}  // namespace ref
namespace cpu {
void lowrank_bounds(const LowRankRecords& rec, const LowRankQuery& pq, int64_t t0, int64_t t1, double* ub);
void quant_bounds(const QuantRecords& rec, const QuantQuery& pq, int64_t t0, int64_t t1, double* ub);
}  // namespace cpu

// Prototype heuristic: (k_t R)·(q R)/sqrt(r) + eps + sigma, uncentred. Not a bound.
void proto_scores(const ProtoRecords& rec, const double* q, double eps, double sigma, int64_t t0, int64_t t1,
                  double* out);

}  // namespace ghostkv
