// float32 exact attention (online softmax) and certified score lower bounds.
#include <cmath>

#include "ghostkv/attention.h"
#include "ghostkv/bound.h"

namespace ghostkv::cpu {

void score_lower_bounds(const float* q32, const float* k, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
                        double* s_lo, float* s32) {
  // s32 = fl(Σ q32_j k_j); |s32 − q·k| ≤ γ_d·Σ|q32_j k_j| + u·Σ|q_j k_j| (q32 = fl(σ·q_raw))
  //   ≤ γ_{d+2}·A32 with A32 = fl(Σ|q32_j k_j|)·(1 + γ_d)  (docs/math.md §6)
  const double c = gamma_n(d + 2) * (1 + gamma_n(d)) * (1 + 0x1p-40);
  for (int64_t i = 0; i < n; ++i) {
    const float* kt = k + idx[i] * stride;
    float s = 0.0f, a = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
      const float p = q32[j] * kt[j];
      s += p;
      a += std::fabs(p);
    }
    s32[i] = s;
    s_lo[i] = double(s) - c * double(a);
  }
}

void attend(const float* q32, const float* k, const float* v, int64_t stride, int64_t d, const int64_t* idx,
            int64_t n, AttnOut& res) {
  res.out.assign(d, 0.0);
  res.s_lo.resize(n);
  res.nu_max = 0;
  res.num_err_bound = 0;
  if (n == 0) return;
  std::vector<float> s32(n), o(d, 0.0f);
  score_lower_bounds(q32, k, stride, d, idx, n, res.s_lo.data(), s32.data());
  float m = -INFINITY, l = 0.0f;
  double delta_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float s = s32[i];
    const float* vt = v + idx[i] * stride;
    if (s > m) {
      const float alpha = std::exp(m - s);  // 0 on the first token
      l *= alpha;
      for (int64_t j = 0; j < d; ++j) o[j] *= alpha;
      m = s;
    }
    const float w = std::exp(s - m);
    l += w;
    for (int64_t j = 0; j < d; ++j) o[j] += w * vt[j];
    delta_max = std::max(delta_max, double(s) - res.s_lo[i]);
    double vn = 0;
    for (int64_t j = 0; j < d; ++j) vn += double(vt[j]) * vt[j];
    res.nu_max = std::max(res.nu_max, std::sqrt(vn));
  }
  for (int64_t j = 0; j < d; ++j) res.out[j] = double(o[j] / l);
  // A-priori error bound: every weight carries a relative error within [e^{-ε}, e^{ε}] with
  // ε = 2·Δ_max + (n + 2)·8u (score errors on both sides of the max; exp, subtraction, rescale
  // and accumulation roundings at ≤ 8u per token), the output accumulation adds γ_{n+2}·ν_max.
  const double u = 0x1p-24;
  const double eps = 2 * delta_max + double(n + 2) * 8 * u;
  const double rel_w = std::expm1(2 * eps);
  res.num_err_bound = (rel_w + gamma_n(n + d + 2)) * res.nu_max * (1 + 0x1p-40);
}

}  // namespace ghostkv::cpu
