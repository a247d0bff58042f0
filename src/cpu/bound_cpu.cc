// float32 token-bound scans. The slack that makes them sound is precomputed per query
// (prepare_*_query, docs/math.md §4); this file must never be compiled with fast-math.
#include <cmath>
#include <vector>

#include "ghostkv/bound.h"
#include "ghostkv/half.h"

namespace ghostkv::cpu {

void lowrank_bounds(const LowRankRecords& rec, const LowRankQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const int64_t r = rec.r, B = rec.blocks;
  const float* qs = pq.qs32.data();
  const float nqs = f32_round_up(pq.nqs);
  std::vector<float> qb(B);
  for (int64_t b = 0; b < B; ++b) qb[b] = f32_round_up(pq.qb[b]);
  const double add = pq.const_term + pq.slack32;
  for (int64_t t = t0; t < t1; ++t) {
    const float* z = rec.sketch.data() + t * r;
    float acc = 0.0f;
    for (int64_t j = 0; j < r; ++j) acc += qs[j] * z[j];
    acc += nqs * f16_to_f32(rec.e[t]);
    const uint16_t* rho = rec.rho.data() + t * B;
    for (int64_t b = 0; b < B; ++b) acc += qb[b] * f16_to_f32(rho[b]);
    const double s = double(acc) + add;
    ub[t - t0] = std::isnan(s) ? INFINITY : s;
  }
}

void quant_bounds(const QuantRecords& rec, const QuantQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const int64_t d = rec.d;
  std::vector<float> m(d);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t g = rec.group_of[t];
    const float* w = pq.w32.data() + g * d;
    rec.decode_row(t, m.data());
    float acc = 0.0f;
    for (int64_t j = 0; j < d; ++j) acc += w[j] * m[j];
    const double s = double(acc) + pq.add32[g];
    ub[t - t0] = std::isnan(s) ? INFINITY : s;
  }
}

}  // namespace ghostkv::cpu
