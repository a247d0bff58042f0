// float64 reference token bounds: the definition of the bound (DESIGN §4.1, §4.1b).
#include <cmath>
#include <vector>

#include "ghostkv/bound.h"
#include "ghostkv/half.h"

namespace ghostkv::ref {

void lowrank_bounds(const LowRankRecords& rec, const LowRankQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const int64_t r = rec.r, B = rec.blocks;
  for (int64_t t = t0; t < t1; ++t) {
    const float* z = rec.sketch.data() + t * r;
    double s = 0;
    for (int64_t j = 0; j < r; ++j) s += pq.qs[j] * double(z[j]);
    s += pq.nqs * double(f16_to_f32(rec.e[t]));
    for (int64_t b = 0; b < B; ++b) s += pq.qb[b] * double(f16_to_f32(rec.rho[t * B + b]));
    s += pq.const_term;
    ub[t - t0] = std::isnan(s) ? INFINITY : s;
  }
}

void quant_bounds(const QuantRecords& rec, const QuantQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const int64_t d = rec.d;
  std::vector<float> m(d);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t g = rec.group_of[t];
    rec.decode_row(t, m.data());  // exact odd integers
    double s = 0;
    for (int64_t j = 0; j < d; ++j)
      if (m[j] != 0.0f) s += pq.qr[j] * (double(f16_to_f32(rec.half_step[g * d + j])) * double(m[j]));
    s += pq.add[g];
    ub[t - t0] = std::isnan(s) ? INFINITY : s;
  }
}

}  // namespace ghostkv::ref
