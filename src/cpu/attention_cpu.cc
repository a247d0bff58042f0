// float32 exact attention (online softmax) and certified score lower bounds.
#include <cmath>

#include <vector>

#include "cpu/fast_internal.h"
#include "ghostkv/attention.h"
#include "ghostkv/bound.h"

#if defined(__x86_64__) || defined(__i386__)
#define GKV_X86 1
#include <immintrin.h>
#else
#define GKV_X86 0
#endif

namespace ghostkv::cpu {

#if GKV_X86
namespace {
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// The same three sums as the scalar loop in another order (γ_d bounds every order): s = Σ fl(q_j k_j),
// a = Σ |fl(q_j k_j)|, ak = Σ |k_j|; products are rounded as in the scalar loop (no FMA).
void dot3_avx2(const float* q, const float* k, int64_t d, float& s, float& a, float& ak) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 vs = _mm256_setzero_ps(), va = _mm256_setzero_ps(), vk = _mm256_setzero_ps();
  for (int64_t j = 0; j < d; j += 8) {
    const __m256 kk = _mm256_loadu_ps(k + j);
    const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(q + j), kk);
    vs = _mm256_add_ps(vs, p);
    va = _mm256_add_ps(va, _mm256_andnot_ps(sign, p));
    vk = _mm256_add_ps(vk, _mm256_andnot_ps(sign, kk));
  }
  s = hsum(vs);
  a = hsum(va);
  ak = hsum(vk);
}
// o ← o·c_old + v·c_new elementwise (two products and a sum, rounded as in the scalar loop); returns Σ v²
// in float64.
double mean_update_avx2(float* o, const float* v, int64_t d, float c_old, float c_new) {
  const __m256 co = _mm256_set1_ps(c_old), cn = _mm256_set1_ps(c_new);
  __m256d n0 = _mm256_setzero_pd(), n1 = _mm256_setzero_pd();
  for (int64_t j = 0; j < d; j += 8) {
    const __m256 vv = _mm256_loadu_ps(v + j);
    _mm256_storeu_ps(o + j, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(o + j), co), _mm256_mul_ps(vv, cn)));
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(vv)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(vv, 1));
    n0 = _mm256_add_pd(n0, _mm256_mul_pd(lo, lo));
    n1 = _mm256_add_pd(n1, _mm256_mul_pd(hi, hi));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(n0, n1));
  return (t[0] + t[1]) + (t[2] + t[3]);
}
#pragma GCC pop_options
}  // namespace
#endif

void score_lower_bounds(const float* q32, const float* k, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
                        double* s_lo, float* s32) {
  // s32 = fl(Σ q32_j k_j); |s32 − q·k| ≤ γ_d·Σ|q32_j k_j| + u·Σ|q_j k_j| (q32 = fl(σ·q_raw))
  //   ≤ γ_{d+2}·A32 with A32 = fl(Σ|q32_j k_j|)·(1 + γ_d)  (docs/math.md §6)
  // Underflow: each product may add ≤ 2^-150 absolute (d of them), and q32 = fl(q) may differ from q by
  // 2^-150 per component in the subnormal range: ≤ 2^-150·Σ|k_j| (accumulated as ak, ≤ (1+γ_d)·fl(Σ|k_j|)).
  const double c = gamma_n(d + 2) * (1 + gamma_n(d)) * (1 + 0x1p-40);
  const bool avx = avx2_active() && d % 8 == 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* kt = k + idx[i] * stride;
    float s = 0.0f, a = 0.0f, ak = 0.0f;
#if GKV_X86
    if (avx) {
      dot3_avx2(q32, kt, d, s, a, ak);
    } else
#endif
    {
      for (int64_t j = 0; j < d; ++j) {
        const float p = q32[j] * kt[j];
        s += p;
        a += std::fabs(p);
        ak += std::fabs(kt[j]);
      }
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
  const bool avx = avx2_active() && d % 8 == 0;
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
    l = l_new;
    delta_max = std::max(delta_max, double(s) - res.s_lo[i]);
    double vn = 0;
#if GKV_X86
    if (avx) {
      vn = mean_update_avx2(o.data(), vt, d, c_old, c_new);
    } else
#endif
    {
      for (int64_t j = 0; j < d; ++j) o[j] = o[j] * c_old + vt[j] * c_new;
      for (int64_t j = 0; j < d; ++j) vn += double(vt[j]) * vt[j];
    }
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
