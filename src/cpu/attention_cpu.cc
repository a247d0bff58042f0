// float32 exact attention (online softmax) and certified score lower bounds.
#include <cmath>

#include "ghostkv/attention.h"
#include "ghostkv/bound.h"

namespace ghostkv::cpu {

void score_lower_bounds(const float* q32, const float* k, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
                        double* s_lo, float* s32) {
  // s32 = fl(Σ q32_j k_j); |s32 − q·k| ≤ γ_d·Σ|q32_j k_j| + u·Σ|q_j k_j| (q32 = fl(σ·q_raw))
  //   ≤ γ_{d+2}·A32 with A32 = fl(Σ|q32_j k_j|)·(1 + γ_d)  (docs/math.md §6)
  // Underflow: each product may add ≤ 2^-150 absolute (d of them), and q32 = fl(q) may differ from q by
  // 2^-150 per component in the subnormal range: ≤ 2^-150·Σ|k_j| (accumulated as ak, ≤ (1+γ_d)·fl(Σ|k_j|)).
  const double c = gamma_n(d + 2) * (1 + gamma_n(d)) * (1 + 0x1p-40);
  for (int64_t i = 0; i < n; ++i) {
    const float* kt = k + idx[i] * stride;
    float s = 0.0f, a = 0.0f, ak = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
      const float p = q32[j] * kt[j];
      s += p;
      a += std::fabs(p);
      ak += std::fabs(kt[j]);
    }
    s32[i] = s;
    s_lo[i] = double(s) - c * double(a) - kF32Eta * (double(d + 2) * (1 + c) + double(ak) * (1 + gamma_n(d + 1)));
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
  // Online softmax kept as a running weighted MEAN (o = Σ w v / l after every token), so that the
  // accumulator never exceeds max ||v|| (a plain Σ w·v overflows float32 for values near 1e37).
  float m = -INFINITY, l = 0.0f;
  double delta_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float s = s32[i];
    const float* vt = v + idx[i] * stride;
    if (s > m) {
      l *= std::exp(m - s);  // 0 on the first token
      m = s;
    }
    const float w = std::exp(s - m);
    const float l_new = l + w;
    const float c_old = l / l_new, c_new = w / l_new;
    for (int64_t j = 0; j < d; ++j) o[j] = o[j] * c_old + vt[j] * c_new;
    l = l_new;
    delta_max = std::max(delta_max, double(s) - res.s_lo[i]);
    double vn = 0;
    for (int64_t j = 0; j < d; ++j) vn += double(vt[j]) * vt[j];
    res.nu_max = std::max(res.nu_max, std::sqrt(vn));
  }
  for (int64_t j = 0; j < d; ++j) res.out[j] = double(o[j]);
  // A-priori error bound: every weight carries a relative error within [e^{-ε}, e^{ε}] with
  // ε = 2·Δ_max + (n + 2)·8u (score errors on both sides of the max; exp, subtraction, rescale,
  // the ratios c_old, c_new: ≤ 8u per token); the running-mean update o·c_old + v·c_new adds
  // ≤ 3u·ν_max per token: γ_{3n+d+2}·ν_max in all.
  const double u = 0x1p-24;
  const double eps = 2 * delta_max + double(n + 2) * 8 * u;
  const double rel_w = std::expm1(2 * eps);
  // plus underflow in the accumulation: ≤ (n + 2)·2^-149 per component. γ_k needs k·u < 1: beyond
  // ~5·10^6 attended tokens the a-priori bound is given up (+inf), never negative.
  const int64_t n_ops = 3 * n + d + 2;
  res.num_err_bound = double(n_ops) * u < 0.5 ? (rel_w + gamma_n(n_ops)) * res.nu_max * (1 + 0x1p-40) +
                                                double(n + 2) * 2 * kF32Eta * std::sqrt(double(d))
                                          : INFINITY;
}

}  // namespace ghostkv::cpu
