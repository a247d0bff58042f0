// Query-side preparation of the token bounds (float64, once per query head and step).
#include <algorithm>
#include <cmath>

#include "ghostkv/bound.h"
#include "ghostkv/half.h"

namespace ghostkv {

static double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}
static double up(double x) { return x * (1 + kBuildSlack); }

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
    const float* p = basis.row(j);
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(p[i]) * q[i];
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
    const float* p = basis.row(j);
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(p[i]) * q[i];
    pq.qr[j] = s;
    qr32[j] = float(s);
  }
  const double resid_max = n_seen > 0 && int64_t(rec.resid_pmax.size()) >= n_seen ? rec.resid_pmax[size_t(n_seen - 1)]
                                                                                  : rec.resid_max;
  const double resid_term = up(nq) * resid_max;
  pq.add.resize(G);
  pq.add32.resize(G);
  pq.w32.resize(size_t(G * d));
  for (int64_t g = 0; g < G; ++g) {
    double err_term = 0, A = 0, cn2 = 0, en2 = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double h = f16_to_f32(rec.half_step[size_t(g * d + j)]);
      const double e = f16_to_f32(rec.err[size_t(g * d + j)]);
      const double aq = std::fabs(pq.qr[j]);
      const double cmax = h * double((1 << rec.bits[j]) - 1);  // ≥ |ĉ_tj|
      err_term += aq * e;
      A += aq * cmax;
      cn2 += cmax * cmax;
      en2 += e * e;
      pq.w32[size_t(g * d + j)] = qr32[j] * float(h);
    }
    // float64 slack: error of q_r (≤ kBuildSlack·||q|| per unit of ||ĉ||, ||err||) and of the sums
    const double slack64 = kBuildSlack * (nq * (std::sqrt(cn2) + std::sqrt(en2)) + A + err_term);
    pq.add[g] = up(err_term) + resid_term + slack64;
    // float32 scan: q_r→float32 (u), w = q_r32·h (u), dot of d terms (γ_d): ≤ γ_{d+3}·Σ|q_rj|·cmax_j
    // underflow: q_r→float32 and w = q_r32·h each add ≤ 2^-150 absolute, times |m| ≤ 2^b − 1; the d
    // products of the scan ≤ 2^-150 each
    double uf = double(d + 3);
    for (int64_t j = 0; j < d; ++j)
      uf += (double(f16_to_f32(rec.half_step[size_t(g * d + j)])) + 1.0) * double((1 << rec.bits[j]) - 1);
    pq.add32[g] = pq.add[g] + up(gamma_n(d + 3) * (1 + 0x1p-23) * A + kF32Eta * uf);
  }
  return pq;
}

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
