// Query-side preparation of the token bounds (float64, once per query head and step).
#include <algorithm>
#include <cmath>

#include "cpu/fast_internal.h"
#include "ghostkv/bound.h"
#include "ghostkv/cpu/fast.h"
#include "ghostkv/half.h"

#if defined(__x86_64__) || defined(__i386__)
#define GKV_X86 1
#include <immintrin.h>
#else
#define GKV_X86 0
#endif

namespace ghostkv {

namespace {
// The per-group sums of prepare_quant_query (float64; any summation order, and FMA, is covered by the
// float64 slack, kBuildSlack ≫ γ_d·2^-53) and the float32 scan weights w = q_r32·h (rounded as the scalar loop).
struct GroupSums {
  double err_term = 0, A = 0, cn2 = 0, en2 = 0, uf = 0;
};

GroupSums group_sums_scalar(const uint16_t* hrow, const uint16_t* erow, const double* aq, const double* bm,
                            const float* qr32, int64_t d, float* w) {
  GroupSums r;
  for (int64_t j = 0; j < d; ++j) {
    const double h = f16_to_f32(hrow[j]);
    const double e = f16_to_f32(erow[j]);
    const double cmax = h * bm[j];  // ≥ |ĉ_tj|
    r.err_term += aq[j] * e;
    r.A += aq[j] * cmax;
    r.cn2 += cmax * cmax;
    r.en2 += e * e;
    r.uf += (h + 1.0) * bm[j];
    w[j] = qr32[j] * float(h);
  }
  return r;
}

#if GKV_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
inline double hsum4(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
GroupSums group_sums_avx2(const uint16_t* hrow, const uint16_t* erow, const double* aq, const double* bm,
                          const float* qr32, int64_t d, float* w) {
  __m256d et = _mm256_setzero_pd(), A = et, cn = et, en = et, uf = et;
  const __m256d one = _mm256_set1_pd(1.0);
  for (int64_t j = 0; j < d; j += 8) {
    const __m256 h8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hrow + j)));
    const __m256 e8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(erow + j)));
    _mm256_storeu_ps(w + j, _mm256_mul_ps(_mm256_loadu_ps(qr32 + j), h8));
    for (int half = 0; half < 2; ++half) {
      const __m256d h = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(h8, 1) : _mm256_castps256_ps128(h8));
      const __m256d e = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(e8, 1) : _mm256_castps256_ps128(e8));
      const __m256d a = _mm256_loadu_pd(aq + j + 4 * half), b = _mm256_loadu_pd(bm + j + 4 * half);
      const __m256d cmax = _mm256_mul_pd(h, b);
      et = _mm256_fmadd_pd(a, e, et);
      A = _mm256_fmadd_pd(a, cmax, A);
      cn = _mm256_fmadd_pd(cmax, cmax, cn);
      en = _mm256_fmadd_pd(e, e, en);
      uf = _mm256_fmadd_pd(_mm256_add_pd(h, one), b, uf);
    }
  }
  return {hsum4(et), hsum4(A), hsum4(cn), hsum4(en), hsum4(uf)};
}
// The same sums for H heads (aq: H rows of d) in one pass over the group's tables: the shared terms (cn2, en2,
// uf) once, err_term and A per head, every sum in the same lanes and order as group_sums_avx2.
void group_sums_multi_avx2(const uint16_t* hrow, const uint16_t* erow, const double* aq, const double* bm,
                           const float* qr32, int64_t d, int H, float* const* w, GroupSums* out) {
  __m256d et[8], A[8];
  __m256d cn = _mm256_setzero_pd(), en = cn, uf = cn;
  for (int h = 0; h < H; ++h) et[h] = A[h] = _mm256_setzero_pd();
  const __m256d one = _mm256_set1_pd(1.0);
  for (int64_t j = 0; j < d; j += 8) {
    const __m256 h8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hrow + j)));
    const __m256 e8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(erow + j)));
    if (w)
      for (int h = 0; h < H; ++h) _mm256_storeu_ps(w[h] + j, _mm256_mul_ps(_mm256_loadu_ps(qr32 + h * d + j), h8));
    for (int half = 0; half < 2; ++half) {
      const __m256d hv = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(h8, 1) : _mm256_castps256_ps128(h8));
      const __m256d e = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(e8, 1) : _mm256_castps256_ps128(e8));
      const __m256d b = _mm256_loadu_pd(bm + j + 4 * half);
      const __m256d cmax = _mm256_mul_pd(hv, b);
      for (int h = 0; h < H; ++h) {
        const __m256d a = _mm256_loadu_pd(aq + h * d + j + 4 * half);
        et[h] = _mm256_fmadd_pd(a, e, et[h]);
        A[h] = _mm256_fmadd_pd(a, cmax, A[h]);
      }
      cn = _mm256_fmadd_pd(cmax, cmax, cn);
      en = _mm256_fmadd_pd(e, e, en);
      uf = _mm256_fmadd_pd(_mm256_add_pd(hv, one), b, uf);
    }
  }
  const double c = hsum4(cn), n2 = hsum4(en), u = hsum4(uf);
  for (int h = 0; h < H; ++h) out[h] = {hsum4(et[h]), hsum4(A[h]), c, n2, u};
}
// Σ_i p_i·q_i, p float32 widened exactly, in float64 (4 lanes)
double dot_pq_avx2(const float* p, const double* q, int64_t d) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0;
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 p8 = _mm256_loadu_ps(p + i);
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(p8)), _mm256_loadu_pd(q + i)));
    a1 = _mm256_add_pd(a1, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(p8, 1)), _mm256_loadu_pd(q + i + 4)));
  }
  double s = hsum4(_mm256_add_pd(a0, a1));
  for (; i < d; ++i) s += double(p[i]) * q[i];
  return s;
}
#pragma GCC pop_options
#endif

// basis row · q in float64 (the order of the sum is free: its error is inside kBuildSlack)
double row_dot(const float* p, const double* q, int64_t d) {
#if GKV_X86
  if (cpu::avx2_active()) return dot_pq_avx2(p, q, d);
#endif
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += double(p[i]) * q[i];
  return s;
}
}  // namespace

static double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}
static double up(double x) { return x * (1 + kBuildSlack); }

// add_g and add32_g of one group from its sums (docs/math.md §4.2)
static void finish_group(const GroupSums& gs, double nq, double resid_term, int64_t d, double* add, double* add32) {
  // err_term = Σ_j |q_rj|·err_gj; A = Σ_j |q_rj|·cmax_gj with cmax = h·(2^b − 1) ≥ |ĉ_tj|
  // float64 slack: error of q_r (≤ kBuildSlack·||q|| per unit of ||ĉ||, ||err||) and of the sums
  const double slack64 = kBuildSlack * (nq * (std::sqrt(gs.cn2) + std::sqrt(gs.en2)) + gs.A + gs.err_term);
  *add = up(gs.err_term) + resid_term + slack64;
  // float32 scan: q_r→float32 (u), w = q_r32·h (u), dot of d terms (γ_d): ≤ γ_{d+3}·Σ|q_rj|·cmax_j
  // underflow: q_r→float32 and w = q_r32·h each add ≤ 2^-150 absolute, times |m| ≤ 2^b − 1; the d
  // products of the scan ≤ 2^-150 each: uf = d + 3 + Σ_j (h_gj + 1)·(2^b_j − 1)
  const double uf = double(d + 3) + gs.uf;
  *add32 = *add + up(gamma_n(d + 3) * (1 + 0x1p-23) * gs.A + kF32Eta * uf);
}

LowRankQuery prepare_lowrank_query(const Basis& basis, const LowRankRecords& rec_in, const double* q, int64_t n_seen) {
  // the per-head constants of the prefix the query sees (or of all tokens)
  LowRankRecords::Consts k = rec_in.consts(n_seen);
  struct {
    int64_t d, r, blocks;
    double zhat_max, e_max, rho_max, omega;
  } rec{rec_in.d, rec_in.r, rec_in.blocks, k.zhat_max, k.e_max, k.rho_max, k.omega};
  const int64_t d = rec.d, r = rec.r, B = rec.blocks;
  LowRankQuery pq;
  pq.qs.resize(r);
  pq.qs32.resize(r);
  const double nq = norm2(q, d);
  for (int64_t j = 0; j < r; ++j) {
    const double s = row_dot(basis.row(j), q, d);
    pq.qs[j] = s;
    pq.qs32[j] = float(s);
  }
  pq.nqs = up(norm2(pq.qs.data(), r));
  double const_term = pq.nqs * rec.omega;
  if (B == 1) {
    // q_⊥ = (I − P Pᵀ) q computed directly (never as a difference of squares)
    std::vector<double> qp(q, q + d);
    for (int64_t j = 0; j < r; ++j) {
      const float* p = basis.row(j);
      for (int64_t i = 0; i < d; ++i) qp[i] -= pq.qs[j] * double(p[i]);
    }
    pq.qb = {up(norm2(qp.data(), d)) + kBuildSlack * nq};
  } else {
    const int64_t n_perp = d - r, bsize = (n_perp + B - 1) / B;
    std::vector<double> u(n_perp), w(q, q + d);
    for (int64_t j = 0; j < r; ++j) {
      const float* p = basis.row(j);
      for (int64_t i = 0; i < d; ++i) w[i] -= pq.qs[j] * double(p[i]);
    }
    for (int64_t j = 0; j < n_perp; ++j) {
      const float* p = basis.row(r + j);
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(p[i]) * q[i];
      u[j] = s;
      for (int64_t i = 0; i < d; ++i) w[i] -= s * double(p[i]);
    }
    pq.qb.resize(B);
    for (int64_t b = 0; b < B; ++b) {
      int64_t j0 = b * bsize, j1 = std::min(n_perp, j0 + bsize);
      pq.qb[b] = (j1 > j0 ? up(norm2(u.data() + j0, j1 - j0)) : 0.0) + kBuildSlack * nq;
    }
    // ||(I − W Wᵀ) q|| for the stored (not exactly orthogonal) full basis W, times max ||r_t||
    const_term += (up(norm2(w.data(), d)) + kBuildSlack * nq) * rec.rho_max;
  }
  // Σ|terms| bound: T = ||qs||·(max||ẑ|| + e_max) + Σ_b qb_b·ρ_max
  double qb_sum = 0;
  for (double c : pq.qb) qb_sum += c;
  const double T = pq.nqs * (rec.zhat_max + rec.e_max) + qb_sum * rec.rho_max + const_term;
  // float64 slack: error of qs (≤ kBuildSlack·||q||·(max||ẑ|| + e_max)) and of the double evaluation
  pq.const_term = const_term + kBuildSlack * (T + nq * (rec.zhat_max + rec.e_max));
  // float32 scan: dot of r terms γ_r·||qs32||·||ẑ|| plus the rounding of qs to float32 (u·||qs||·||ẑ||),
  // then r+B+1 more float32 operations on terms bounded by T: γ_{r+B+3}·T covers all of it.
  // Underflow (gradual): every float32 product may add ≤ 2^-150 absolute error (sums of subnormals are
  // exact), and rounding q_s to float32 adds ≤ 2^-150 per component, i.e. ≤ 2^-150·sqrt(r)·max||ẑ||.
  const double underflow = double(r + B + 3) * kF32Eta + kF32Eta * std::sqrt(double(r)) * rec.zhat_max;
  pq.slack32 = up(gamma_n(r + B + 3) * (1 + 0x1p-23) * (T + pq.nqs * rec.zhat_max) + 0x1p-24 * pq.nqs * rec.zhat_max +
                  underflow);
  return pq;
}

QuantQuery prepare_quant_query(const Basis& basis, const QuantRecords& rec, const double* q, int64_t n_seen) {
  const int64_t d = rec.d, G = rec.n_groups;
  QuantQuery pq;
  pq.qr.resize(d);
  std::vector<float> qr32(d);
  const double nq = norm2(q, d);
  for (int64_t j = 0; j < d; ++j) {
    const double s = row_dot(basis.row(j), q, d);
    pq.qr[j] = s;
    qr32[j] = float(s);
  }
  const double resid_max = n_seen > 0 && int64_t(rec.resid_pmax.size()) >= n_seen ? rec.resid_pmax[size_t(n_seen - 1)]
                                                                                  : rec.resid_max;
  const double resid_term = up(nq) * resid_max;
  pq.add.resize(G);
  pq.add32.resize(G);
  pq.w32.resize(size_t(G * d));
  std::vector<double> aq(static_cast<size_t>(d)), bm(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) {
    aq[size_t(j)] = std::fabs(pq.qr[size_t(j)]);
    bm[size_t(j)] = double((1 << rec.bits[size_t(j)]) - 1);
  }
#if GKV_X86
  const bool avx = cpu::avx2_active() && d % 8 == 0;
#endif
  for (int64_t g = 0; g < G; ++g) {
    const uint16_t* hrow = rec.half_step.data() + g * d;
    const uint16_t* erow = rec.err.data() + g * d;
    float* w = pq.w32.data() + g * d;
    GroupSums gs;
#if GKV_X86
    if (avx) gs = group_sums_avx2(hrow, erow, aq.data(), bm.data(), qr32.data(), d, w);
    else
#endif
      gs = group_sums_scalar(hrow, erow, aq.data(), bm.data(), qr32.data(), d, w);
    finish_group(gs, nq, resid_term, d, &pq.add[g], &pq.add32[g]);
  }
  return pq;
}

namespace cpu {
void prepare_quant_queries(const Basis& basis, const QuantRecords& rec, const double* const* q, int n_heads,
                           int64_t n_seen, bool with_w32, QuantQuery* out) {
  const int64_t d = rec.d, G = rec.n_groups;
#if GKV_X86
  const bool avx = cpu::avx2_active() && d % 8 == 0 && n_heads <= 8;
#else
  const bool avx = false;
#endif
  if (!avx) {
    for (int h = 0; h < n_heads; ++h) {
      out[h] = prepare_quant_query(basis, rec, q[h], n_seen);
      if (!with_w32) out[h].w32 = {};
    }
    return;
  }
#if GKV_X86
  const int H = n_heads;
  std::vector<float> qr32(static_cast<size_t>(H * d));
  std::vector<double> aq(static_cast<size_t>(H * d)), bm(static_cast<size_t>(d)), nq(static_cast<size_t>(H)),
      resid_term(static_cast<size_t>(H));
  const double resid_max = n_seen > 0 && int64_t(rec.resid_pmax.size()) >= n_seen ? rec.resid_pmax[size_t(n_seen - 1)]
                                                                                  : rec.resid_max;
  for (int h = 0; h < H; ++h) {
    QuantQuery& pq = out[h];
    pq = QuantQuery{};
    pq.qr.resize(d);
    nq[size_t(h)] = norm2(q[h], d);
    for (int64_t j = 0; j < d; ++j) {
      const double s = row_dot(basis.row(j), q[h], d);
      pq.qr[j] = s;
      qr32[size_t(h * d + j)] = float(s);
      aq[size_t(h * d + j)] = std::fabs(s);
    }
    resid_term[size_t(h)] = up(nq[size_t(h)]) * resid_max;
    pq.add.resize(G);
    pq.add32.resize(G);
    if (with_w32) pq.w32.resize(size_t(G * d));
  }
  for (int64_t j = 0; j < d; ++j) bm[size_t(j)] = double((1 << rec.bits[size_t(j)]) - 1);
  GroupSums gs[8];
  float* w[8];
  for (int64_t g = 0; g < G; ++g) {
    for (int h = 0; h < H; ++h) w[h] = with_w32 ? out[h].w32.data() + g * d : nullptr;
    group_sums_multi_avx2(rec.half_step.data() + g * d, rec.err.data() + g * d, aq.data(), bm.data(), qr32.data(), d, H,
                          with_w32 ? w : nullptr, gs);
    for (int h = 0; h < H; ++h)
      finish_group(gs[h], nq[size_t(h)], resid_term[size_t(h)], d, &out[h].add[g], &out[h].add32[g]);
  }
#endif
}
}  // namespace cpu

void proto_scores(const ProtoRecords& rec, const double* q, double eps, double sigma, int64_t t0, int64_t t1,
                  double* out) {
  const int64_t r = rec.r, d = rec.d;
  std::vector<double> qp(r);
  for (int64_t j = 0; j < r; ++j) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(rec.proj[size_t(j * d + i)]) * q[i];
    qp[j] = s;
  }
  const double inv = 1.0 / std::sqrt(double(r));
  for (int64_t t = t0; t < t1; ++t) {
    const float* z = rec.sketch.data() + t * r;
    double s = 0;
    for (int64_t j = 0; j < r; ++j) s += double(z[j]) * qp[j];
    out[t - t0] = s * inv + eps + sigma;
  }
}

}  // namespace ghostkv
