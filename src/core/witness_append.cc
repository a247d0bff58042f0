// Incremental rotated-quantized records (witness.h, "Incremental quant records"): one token at a
// time, with group half-steps fixed when the group opens. Soundness rests on err being MEASURED
// from the dequantised values (docs/math.md §3.2), exactly as build_quant does; only the choice of
// h differs (σ-based and fixed at opening instead of the group's amax).
#include <algorithm>
#include <cmath>

#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "ghostkv/kv_store.h"
#include "ghostkv/witness.h"

namespace ghostkv {

QuantRecords quant_records_empty(const BitSpec& spec, int64_t group) {
  GKV_CHECK(group >= 1, "quant append: group size must be >= 1, got ", group);
  QuantRecords rec;
  rec.d = int64_t(spec.bits.size());
  rec.group = group;
  rec.bits = spec.bits;
  rec.code_bytes = (spec.total_bits() + 7) / 8;
  rec.group_start = {0};
  return rec;
}

QuantAppendInfo quant_append(QuantRecords& rec, QuantAppendState& st, const Basis& basis, const float* k,
                             const float* v) {
  return quant_append_at(rec, st, basis, k, v, rec.n);
}

// Rows vs tokens: the group tables (group_start, half_step, err) are indexed by the global token id
// t; the per-token arrays (group_of, codes, nu) get one new row at the end (row = rec.n). With
// t == rec.n this is exactly quant_append.
QuantAppendInfo quant_append_at(QuantRecords& rec, QuantAppendState& st, const Basis& basis, const float* k,
                                const float* v, int64_t t) {
  const int64_t d = rec.d;
  GKV_CHECK(basis.d_head == d && int64_t(basis.variance.size()) == d && int64_t(basis.vecs.size()) == d * d,
            "quant append: basis has d_head ", basis.d_head, " (", basis.variance.size(),
            " variances), records have d = ", d);
  QuantAppendInfo info;
  // rotate in float64 with the stored rotation (as build_quant)
  std::vector<double> x(static_cast<size_t>(d)), c(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) x[size_t(i)] = double(k[i]) - double(basis.mu[size_t(i)]);
  double xx = 0;
  for (int64_t i = 0; i < d; ++i) xx += x[size_t(i)] * x[size_t(i)];
  const double xn = std::sqrt(xx);
  std::vector<double> res(x);
  double cc = 0;
  for (int64_t j = 0; j < d; ++j) {
    const float* p = basis.row(j);
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(p[i]) * x[size_t(i)];
    c[size_t(j)] = s;
    cc += s * s;
    for (int64_t i = 0; i < d; ++i) res[size_t(i)] -= s * double(p[i]);
  }
  info.c_norm = std::sqrt(cc);
  double rn = 0;
  for (double r : res) rn += r * r;
  rec.resid_max = std::max(rec.resid_max, (std::sqrt(rn) + kBuildSlack * xn) * (1 + kBuildSlack));
  // incremental records carry no prefix maxima: prepare_quant_query then uses the all-token resid_max
  // (a stale prefix array would be too small for the appended rows)
  rec.resid_pmax.clear();

  // does the key fit the open group?
  GKV_CHECK(t >= rec.group_start.back(), "quant append: token ", t, " before the end of the group table (",
            rec.group_start.back(), ")");
  const int64_t row = rec.n;
  if (st.open) {
    const int64_t g = rec.n_groups - 1;
    for (int64_t j = 0; j < d && st.open; ++j) {
      const int b = rec.bits[size_t(j)];
      if (b == 0) continue;  // nothing stored: err absorbs |c_j| whatever its size
      const double h = f16_to_f32(rec.half_step[size_t(g * d + j)]);
      if (std::fabs(c[size_t(j)]) > h * double(1 << b)) {
        st.open = false;
        info.out_of_range = true;
      }
    }
  }
  if (!st.open) {  // open a group sized for ±range_sigmas·σ and for this key
    info.new_group = true;
    rec.n_groups += 1;
    rec.group_start.push_back(t);  // provisional end; fixed to t + 1 below
    rec.half_step.resize(size_t(rec.n_groups * d), 0);
    rec.err.resize(size_t(rec.n_groups * d), 0);
    const int64_t g = rec.n_groups - 1;
    for (int64_t j = 0; j < d; ++j) {
      const int b = rec.bits[size_t(j)];
      if (b == 0) continue;
      const double sigma = std::sqrt(std::max(basis.variance[size_t(j)], 0.0));
      const double amax = std::max(st.range_sigmas * sigma, std::fabs(c[size_t(j)]));
      rec.half_step[size_t(g * d + j)] = amax > 0 ? f16_round_up(std::min(amax / double(1 << b), 65504.0)) : 0;
    }
    st.open = true;
  }
  const int64_t g = rec.n_groups - 1;
  rec.group_start.back() = t + 1;
  rec.group_of.push_back(g);
  rec.n = row + 1;
  rec.codes.resize(size_t(rec.n * rec.code_bytes), 0);
  uint8_t* dst = rec.codes.data() + row * rec.code_bytes;
  int64_t bit0 = 0;
  double e2 = 0;
  for (int64_t j = 0; j < d; ++j) {
    const int b = rec.bits[size_t(j)];
    const double cj = c[size_t(j)];
    double chat = 0;
    if (b > 0) {
      const double h = f16_to_f32(rec.half_step[size_t(g * d + j)]);
      const int qmax = (1 << b) - 1;
      const double qd = h > 0 ? std::floor(cj / (2 * h)) + double(1 << (b - 1)) : double(1 << (b - 1));
      const int64_t q = int64_t(std::clamp(qd, 0.0, double(qmax)));
      for (int i = 0; i < b; ++i) {
        const int64_t bit = bit0 + i;
        if ((q >> i) & 1) dst[bit >> 3] = uint8_t(dst[bit >> 3] | (1u << (bit & 7)));
      }
      chat = h * double(2 * q - qmax);  // exact (docs/math.md §3.2)
    }
    bit0 += b;
    e2 += (cj - chat) * (cj - chat);
    const uint16_t e = f16_round_up(std::fabs(cj - chat) + kBuildSlack * xn);
    uint16_t& slot = rec.err[size_t(g * d + j)];
    if (f16_to_f32(e) > f16_to_f32(slot) || std::isnan(f16_to_f32(e))) slot = e;
  }
  info.err_norm = std::sqrt(e2);
  double vn = 0;
  for (int64_t i = 0; i < d; ++i) vn += double(v[i]) * v[i];
  rec.nu.push_back(f16_round_up(std::sqrt(vn) * (1 + kBuildSlack)));
  if (t + 1 - rec.group_start[size_t(g)] >= rec.group) st.open = false;  // sealed: full
  return info;
}

}  // namespace ghostkv
