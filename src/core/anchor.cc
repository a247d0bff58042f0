// Anchors (DESIGN §4.2-§4.4): grouping (pages, k-means), summaries (box, ball) and their bounds.
//
// Soundness. Let x_t = k_t − μ (exact, k and μ float32), W the stored rotation rows (rot space) and
//   y_t = x_t (orig) or W x_t (rot), r_t = x_t − Wᵀ y_t (rot; 0 in orig), q_y = q (orig) or W q (rot).
// Then q·x_t = q_y·y_t + q·r_t exactly (for any W: q·Wᵀ W x = (W q)·(W x)), and |q·r_t| ≤ ||q||·resid_max.
// Build (float64): the computed ỹ_tj differs from y_tj by ≤ γ_d·||W_j||·||x_t|| ≤ kBuildSlack·||W_j||·||x_t||
// (d ≤ 2^15; orig: ≤ 2^-53·|x_tj|). Box: lo_j ≤ min_t (ỹ_tj − kBuildSlack·w_j·||x_t||), rounded down to
// float32, hi_j symmetric (w_j = ||W_j||, 1 in orig): so lo_j ≤ y_tj ≤ hi_j for every member.
// Ball: centre c ∈ float32^d as stored; R ≥ max_t ||ỹ_t − c||·(1 + kBuildSlack) + kBuildSlack·w_max·||x_t||
// (||ỹ − y||₂ ≤ γ_d·||W||_F·||x|| ≤ d^1.5·2^-53·w_max·||x|| ≤ kBuildSlack·w_max·||x||), rounded up to float32.
// Query (float64 precompute): q̃_y differs from q_y by ||δ||₂ ≤ kBuildSlack·w_max·||q|| =: dq (rot; 0 in orig).
//   box:  q_y·y ≤ Σ_j max(q_yj lo_j, q_yj hi_j) ≤ Σ_j max(q̃_yj lo_j, q̃_yj hi_j) + dq·mag_a,
//         mag_a ≥ ||max(|lo|,|hi|)||₂, since |max(a,b) − max(a',b')| ≤ max(|a−a'|, |b−b'|);
//   ball: q_y·y ≤ q_y·c + ||q_y||·R ≤ q̃_y·c + dq·||c|| + (||q̃_y|| + dq)·R, mag_a ≥ ||c||₂.
// ref:: evaluates the sums in float64: error ≤ γ_{d+1}(2^-53)·||q̃_y||·mag_a + d·2^-1074 (underflow);
//   covered by kBuildSlack·||q̃_y||·mag_a + d·2^-1074 (and the last additions by the kBuildSlack surplus).
// cpu:: rounds q̃_y to float32 (relative u = 2^-24, absolute ≤ η = 2^-150 when subnormal) and scans in
//   float32: each term (product, max exact) errs by ≤ (2u + u²)|q̃_yj|·m_j + η·m_j + η, and the sum of d
//   terms adds γ_{d−1}·Σ|terms|: in all ≤ γ_{d+3}·(1 + 2^-23)·||q̃_y||·mag_a + 2η·(√d·mag_a + d).
// Overflow gives ±inf or NaN: a NaN bound is returned as +inf (and +inf is sound).
#include "ghostkv/anchor.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "ghostkv/bound.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "ghostkv/witness.h"
#include "cpu/fast_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ghostkv {

AnchorKind parse_anchor_kind(const std::string& s) {
  if (s == "none") return AnchorKind::none;
  if (s == "page") return AnchorKind::page;
  if (s == "kmeans") return AnchorKind::kmeans;
  throw Error(str_cat("anchors: unknown kind '", s, "' (expected none, page or kmeans)"));
}
AnchorBound parse_anchor_bound(const std::string& s) {
  if (s == "box") return AnchorBound::box;
  if (s == "ball") return AnchorBound::ball;
  throw Error(str_cat("anchor bound: unknown '", s, "' (expected box or ball)"));
}
AnchorSpace parse_anchor_space(const std::string& s) {
  if (s == "orig") return AnchorSpace::orig;
  if (s == "rot") return AnchorSpace::rot;
  throw Error(str_cat("anchor space: unknown '", s, "' (expected orig or rot)"));
}
const char* anchor_kind_name(AnchorKind k) {
  return k == AnchorKind::none ? "none" : k == AnchorKind::page ? "page" : "kmeans";
}
const char* anchor_bound_name(AnchorBound b) { return b == AnchorBound::box ? "box" : "ball"; }
const char* anchor_space_name(AnchorSpace s) { return s == AnchorSpace::orig ? "orig" : "rot"; }

int64_t AnchorSet::anchor_bytes() const {
  // box: lo, hi float32; ball: centre float32 + radius float32; + ν_A f16
  return (params.bound == AnchorBound::box ? 2 * d * 4 : d * 4 + 4) + 2;
}

namespace {

double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}
double up(double x) { return x * (1 + kBuildSlack); }

double sqdist(const double* a, const double* b, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

// k-means++ then Lloyd; returns the cluster of every point (clusters may be empty).
std::vector<int64_t> kmeans(const std::vector<double>& y, int64_t n, int64_t d, int64_t k, int64_t iters, uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::vector<double> cen;
  cen.reserve(static_cast<size_t>(k * d));
  std::vector<double> dmin(static_cast<size_t>(n), INFINITY);
  int64_t first = int64_t(uni(rng) * double(n));
  first = std::min(first, n - 1);
  cen.insert(cen.end(), y.begin() + first * d, y.begin() + (first + 1) * d);
  int64_t kk = 1;
  while (kk < k) {
    const double* c = cen.data() + (kk - 1) * d;
    double tot = 0;
    for (int64_t t = 0; t < n; ++t) {
      dmin[static_cast<size_t>(t)] = std::min(dmin[static_cast<size_t>(t)], sqdist(y.data() + t * d, c, d));
      tot += dmin[static_cast<size_t>(t)];
    }
    if (!(tot > 0) || !std::isfinite(tot)) break;  // every point coincides with a centre (ties)
    double r = uni(rng) * tot, acc = 0;
    int64_t pick = n - 1;
    for (int64_t t = 0; t < n; ++t) {
      acc += dmin[static_cast<size_t>(t)];
      if (acc >= r && dmin[static_cast<size_t>(t)] > 0) {
        pick = t;
        break;
      }
    }
    if (!(dmin[static_cast<size_t>(pick)] > 0)) break;
    cen.insert(cen.end(), y.begin() + pick * d, y.begin() + (pick + 1) * d);
    ++kk;
  }
  k = kk;
  std::vector<int64_t> asg(static_cast<size_t>(n), 0);
  std::vector<double> best(static_cast<size_t>(n));
  auto assign = [&]() {
    for (int64_t t = 0; t < n; ++t) {
      double bd = INFINITY;
      int64_t bc = 0;
      for (int64_t c = 0; c < k; ++c) {
        const double dd = sqdist(y.data() + t * d, cen.data() + c * d, d);
        if (dd < bd) bd = dd, bc = c;
      }
      asg[static_cast<size_t>(t)] = bc;
      best[static_cast<size_t>(t)] = bd;
    }
  };
  assign();
  for (int64_t it = 0; it < iters; ++it) {
    std::vector<double> sum(static_cast<size_t>(k * d), 0.0);
    std::vector<int64_t> cnt(static_cast<size_t>(k), 0);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t c = asg[static_cast<size_t>(t)];
      cnt[static_cast<size_t>(c)]++;
      for (int64_t j = 0; j < d; ++j) sum[static_cast<size_t>(c * d + j)] += y[static_cast<size_t>(t * d + j)];
    }
    std::vector<uint8_t> taken(static_cast<size_t>(n), 0);
    for (int64_t c = 0; c < k; ++c) {
      if (cnt[static_cast<size_t>(c)] > 0) {
        for (int64_t j = 0; j < d; ++j) cen[static_cast<size_t>(c * d + j)] = sum[static_cast<size_t>(c * d + j)] / double(cnt[static_cast<size_t>(c)]);
      } else {
        // empty: re-seed with the point farthest from its centre (deterministic)
        int64_t far = -1;
        for (int64_t t = 0; t < n; ++t)
          if (!taken[static_cast<size_t>(t)] && (far < 0 || best[static_cast<size_t>(t)] > best[static_cast<size_t>(far)])) far = t;
        if (far >= 0 && best[static_cast<size_t>(far)] > 0) {
          taken[static_cast<size_t>(far)] = 1;
          std::copy(y.begin() + far * d, y.begin() + (far + 1) * d, cen.begin() + c * d);
        }
      }
    }
    assign();
  }
  return asg;
}

}  // namespace

AnchorSet build_anchors(const AnchorParams& p, const Basis& basis, const float* k, const float* v, int64_t n,
                        int64_t stride) {
  const int64_t d = basis.d_head;
  GKV_CHECK(p.kind != AnchorKind::none, "anchors: build_anchors called with kind none");
  GKV_CHECK(int64_t(basis.mu.size()) == d && d > 0, "anchors: basis has no centre (d_head = ", d, ")");
  GKV_CHECK(p.space == AnchorSpace::orig || int64_t(basis.vecs.size()) == d * d,
            "anchors: rot space needs a full rotation (", d, "x", d, "), basis has ", basis.vecs.size(), " values");
  GKV_CHECK(p.kind != AnchorKind::page || p.page >= 1, "anchors: page size must be >= 1, got ", p.page);
  GKV_CHECK(p.kind != AnchorKind::kmeans || (p.clusters >= 1 && p.iterations >= 0),
            "anchors: k-means needs clusters >= 1 and iterations >= 0, got ", p.clusters, ", ", p.iterations);
  AnchorSet s;
  s.params = p;
  s.n_tokens = std::max<int64_t>(n, 0);
  s.d = d;
  n = s.n_tokens;
  const bool rot = p.space == AnchorSpace::rot;
  // coordinates in float64
  std::vector<double> y(static_cast<size_t>(n * d)), xn(static_cast<size_t>(n)), wn(static_cast<size_t>(d), 1.0), x(static_cast<size_t>(d)), res(static_cast<size_t>(d));
  double wmax = 1;
  if (rot) {
    for (int64_t j = 0; j < d; ++j) {
      double w = 0;
      for (int64_t i = 0; i < d; ++i) w += double(basis.row(j)[i]) * basis.row(j)[i];
      wn[static_cast<size_t>(j)] = std::max(1.0, std::sqrt(w)) * (1 + kBuildSlack);
      wmax = std::max(wmax, wn[static_cast<size_t>(j)]);
    }
  }
  s.row_norm_max = wmax;
  double resid_max = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* kt = k + t * stride;
    for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(i)] = double(kt[i]) - double(basis.mu[static_cast<size_t>(i)]);
    xn[static_cast<size_t>(t)] = norm2(x.data(), d);
    double* yt = y.data() + t * d;
    if (!rot) {
      std::copy(x.begin(), x.end(), yt);
    } else {
      res = x;
      for (int64_t j = 0; j < d; ++j) {
        const float* w = basis.row(j);
        double acc = 0;
        for (int64_t i = 0; i < d; ++i) acc += double(w[i]) * x[static_cast<size_t>(i)];
        yt[j] = acc;
        for (int64_t i = 0; i < d; ++i) res[static_cast<size_t>(i)] -= acc * double(w[i]);
      }
      resid_max = std::max(resid_max, norm2(res.data(), d) + 2 * kBuildSlack * wmax * wmax * xn[static_cast<size_t>(t)]);
    }
  }
  s.resid_max = rot ? up(resid_max) : 0.0;
  // grouping
  std::vector<int64_t> asg(static_cast<size_t>(n), 0);
  if (p.kind == AnchorKind::page) {
    for (int64_t t = 0; t < n; ++t) asg[static_cast<size_t>(t)] = t / p.page;
  } else if (n > 0) {
    asg = kmeans(y, n, d, std::min(p.clusters, n), p.iterations, p.seed);
  }
  // renumber non-empty groups by smallest member
  std::vector<int64_t> first_member;
  {
    int64_t mx = 0;
    for (int64_t t = 0; t < n; ++t) mx = std::max(mx, asg[static_cast<size_t>(t)] + 1);
    std::vector<int64_t> remap(static_cast<size_t>(mx), -1);
    for (int64_t t = 0; t < n; ++t) {
      int64_t& r = remap[static_cast<size_t>(asg[static_cast<size_t>(t)])];
      if (r < 0) r = int64_t(first_member.size()), first_member.push_back(t);
      asg[static_cast<size_t>(t)] = r;
    }
  }
  const int64_t na = int64_t(first_member.size());
  s.n_anchors = na;
  s.anchor_of = asg;
  s.member_start.assign(static_cast<size_t>(na + 1), 0);
  for (int64_t t = 0; t < n; ++t) s.member_start[static_cast<size_t>(asg[static_cast<size_t>(t)] + 1)]++;
  for (int64_t a = 0; a < na; ++a) s.member_start[static_cast<size_t>(a + 1)] += s.member_start[static_cast<size_t>(a)];
  s.members.resize(static_cast<size_t>(n));
  {
    std::vector<int64_t> pos(s.member_start.begin(), s.member_start.end() - 1);
    for (int64_t t = 0; t < n; ++t) s.members[static_cast<size_t>(pos[static_cast<size_t>(asg[static_cast<size_t>(t)])]++)] = t;  // ascending
  }
  s.nu_max.assign(static_cast<size_t>(na), 0.0);
  s.mag.assign(static_cast<size_t>(na), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    const float* vt = v + t * stride;
    double vv = 0;
    for (int64_t i = 0; i < d; ++i) vv += double(vt[i]) * vt[i];
    const double nu = f16_to_f32(f16_round_up(std::sqrt(vv) * (1 + kBuildSlack)));
    s.nu_max[static_cast<size_t>(asg[static_cast<size_t>(t)])] = std::max(s.nu_max[static_cast<size_t>(asg[static_cast<size_t>(t)])], nu);
  }
  if (p.bound == AnchorBound::box) {
    s.lo.assign(static_cast<size_t>(na * d), 0.0f);
    s.hi.assign(static_cast<size_t>(na * d), 0.0f);
    std::vector<double> lo(static_cast<size_t>(d)), hi(static_cast<size_t>(d));
    for (int64_t a = 0; a < na; ++a) {
      std::fill(lo.begin(), lo.end(), INFINITY);
      std::fill(hi.begin(), hi.end(), -INFINITY);
      for (int64_t m = s.member_start[static_cast<size_t>(a)]; m < s.member_start[static_cast<size_t>(a + 1)]; ++m) {
        const int64_t t = s.members[static_cast<size_t>(m)];
        const double* yt = y.data() + t * d;
        for (int64_t j = 0; j < d; ++j) {
          const double e = kBuildSlack * wn[static_cast<size_t>(j)] * xn[static_cast<size_t>(t)];
          lo[static_cast<size_t>(j)] = std::min(lo[static_cast<size_t>(j)], yt[j] - e);
          hi[static_cast<size_t>(j)] = std::max(hi[static_cast<size_t>(j)], yt[j] + e);
        }
      }
      double m2 = 0;
      for (int64_t j = 0; j < d; ++j) {
        const float l = f32_round_down(lo[static_cast<size_t>(j)]), h = f32_round_up(hi[static_cast<size_t>(j)]);
        s.lo[static_cast<size_t>(a * d + j)] = l;
        s.hi[static_cast<size_t>(a * d + j)] = h;
        const double mm = std::max(std::fabs(double(l)), std::fabs(double(h)));
        m2 += mm * mm;
      }
      s.mag[static_cast<size_t>(a)] = up(std::sqrt(m2));
    }
  } else {
    s.centre.assign(static_cast<size_t>(na * d), 0.0f);
    s.radius.assign(static_cast<size_t>(na), 0.0);
    std::vector<double> c(static_cast<size_t>(d));
    for (int64_t a = 0; a < na; ++a) {
      std::fill(c.begin(), c.end(), 0.0);
      const int64_t m0 = s.member_start[static_cast<size_t>(a)], m1 = s.member_start[static_cast<size_t>(a + 1)];
      for (int64_t m = m0; m < m1; ++m) {
        const double* yt = y.data() + s.members[static_cast<size_t>(m)] * d;
        for (int64_t j = 0; j < d; ++j) c[static_cast<size_t>(j)] += yt[j];
      }
      double c2 = 0;
      for (int64_t j = 0; j < d; ++j) {
        const float cf = float(c[static_cast<size_t>(j)] / double(m1 - m0));
        s.centre[static_cast<size_t>(a * d + j)] = cf;
        c[static_cast<size_t>(j)] = double(cf);  // the radius is measured against the STORED centre
        c2 += c[static_cast<size_t>(j)] * c[static_cast<size_t>(j)];
      }
      s.mag[static_cast<size_t>(a)] = up(std::sqrt(c2));
      double R = 0;
      for (int64_t m = m0; m < m1; ++m) {
        const int64_t t = s.members[static_cast<size_t>(m)];
        R = std::max(R, up(std::sqrt(sqdist(y.data() + t * d, c.data(), d))) + kBuildSlack * wmax * xn[static_cast<size_t>(t)]);
      }
      s.radius[static_cast<size_t>(a)] = double(f32_round_up(up(R)));
    }
  }
  return s;
}

namespace {

// Per-query quantities shared by ref and cpu: q̃_y, ||q̃_y|| (up), dq, the residual term.
struct AnchorQuery {
  std::vector<double> qy;
  double nqy = 0, dq = 0, resid_term = 0;
};
AnchorQuery prepare(const AnchorSet& a, const Basis& basis, const double* q) {
  const int64_t d = a.d;
  AnchorQuery pq;
  pq.qy.resize(static_cast<size_t>(d));
  const double nq = up(norm2(q, d));
  if (a.params.space == AnchorSpace::orig) {
    std::copy(q, q + d, pq.qy.begin());
  } else {
    for (int64_t j = 0; j < d; ++j) {
      const float* w = basis.row(j);
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(w[i]) * q[i];
      pq.qy[static_cast<size_t>(j)] = s;
    }
    pq.dq = kBuildSlack * a.row_norm_max * nq;
    pq.resid_term = up(nq * a.resid_max);
  }
  pq.nqy = up(norm2(pq.qy.data(), d));
  return pq;
}

}  // namespace

namespace ref {
void anchor_bounds(const AnchorSet& a, const Basis& basis, const double* q, int64_t a0, int64_t a1, double* ub) {
  const int64_t d = a.d;
  if (a1 <= a0) return;
  const AnchorQuery pq = prepare(a, basis, q);
  const double tiny = double(d + 4) * 0x1p-1074;
  for (int64_t x = a0; x < a1; ++x) {
    double s = 0, extra = 0;
    if (a.params.bound == AnchorBound::box) {
      const float* lo = a.lo.data() + x * d;
      const float* hi = a.hi.data() + x * d;
      for (int64_t j = 0; j < d; ++j) s += std::max(pq.qy[static_cast<size_t>(j)] * double(lo[j]), pq.qy[static_cast<size_t>(j)] * double(hi[j]));
    } else {
      const float* c = a.centre.data() + x * d;
      for (int64_t j = 0; j < d; ++j) s += pq.qy[static_cast<size_t>(j)] * double(c[j]);
      extra = up((pq.nqy + pq.dq) * a.radius[static_cast<size_t>(x)]);
    }
    const double slack = up(kBuildSlack * pq.nqy * a.mag[static_cast<size_t>(x)] + pq.dq * a.mag[static_cast<size_t>(x)]) + pq.resid_term + tiny;
    const double u = s + extra + slack;
    ub[x - a0] = std::isnan(u) ? INFINITY : u;
  }
}
}  // namespace ref

namespace cpu {
namespace {

// Per query head: the float32 query, and slack_a = c1·mag_a + c0 (the file comment): float32 scan + float64
// precompute + residual.
struct AnchorHead {
  AnchorQuery pq;
  std::vector<float> q32;
  double c1 = 0, c0 = 0;
};
AnchorHead anchor_head(const AnchorSet& a, const Basis& basis, const double* q) {
  const int64_t d = a.d;
  AnchorHead h;
  h.pq = prepare(a, basis, q);
  h.q32.resize(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) h.q32[static_cast<size_t>(j)] = float(h.pq.qy[static_cast<size_t>(j)]);
  h.c1 = gamma_n(d + 3) * (1 + 0x1p-23) * h.pq.nqy + kBuildSlack * h.pq.nqy + h.pq.dq + 2 * kF32Eta * std::sqrt(double(d));
  h.c0 = 2 * kF32Eta * double(d) + h.pq.resid_term + double(d + 4) * 0x1p-1074;
  return h;
}
inline double finish(const AnchorSet& a, const AnchorHead& h, int64_t x, float acc) {
  const double extra = a.params.bound == AnchorBound::box ? 0.0 : up((h.pq.nqy + h.pq.dq) * a.radius[static_cast<size_t>(x)]);
  const double u = double(acc) + extra + up(h.c1 * a.mag[static_cast<size_t>(x)] + h.c0);
  return std::isnan(u) ? INFINITY : u;
}

void scan_scalar(const AnchorSet& a, const AnchorHead& h, int64_t a0, int64_t a1, double* ub) {
  const int64_t d = a.d;
  const bool box = a.params.bound == AnchorBound::box;
  const float* q32 = h.q32.data();
  for (int64_t x = a0; x < a1; ++x) {
    float acc = 0.0f;
    if (box) {
      const float* lo = a.lo.data() + x * d;
      const float* hi = a.hi.data() + x * d;
      for (int64_t j = 0; j < d; ++j) acc += std::max(q32[j] * lo[j], q32[j] * hi[j]);
    } else {
      const float* c = a.centre.data() + x * d;
      for (int64_t j = 0; j < d; ++j) acc += q32[j] * c[j];
    }
    ub[x - a0] = finish(a, h, x, acc);
  }
}

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
inline __m256 hsum8x8(const __m256* v) {
  const __m256 s01 = _mm256_hadd_ps(v[0], v[1]), s23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 s45 = _mm256_hadd_ps(v[4], v[5]), s67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 p = _mm256_hadd_ps(s01, s23), r = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(p, r, 0x20), _mm256_permute2f128_ps(p, r, 0x31));
}
// Eight anchors at a time, every head reading them while they are in L1. Box: max(q·lo, q·hi) is q·hi
// where q ≥ 0 and q·lo where q < 0 (hi ≥ lo; rounding is monotone, so the rounded products compare the
// same way), taken by a blend on the sign of q chosen once per head, then one FMA per component: the
// product is exact inside the FMA and each lane sums d/8 terms before a 3-level tree, so every term
// passes through at most d/8 + 3 ≤ d + 2 roundings (d ≥ 8): the γ_{d+3} slack of the scalar loop covers it
// (file comment; docs/cpu_fast_path.md §2). Ball: the same FMA chain on q·c.
void scan_avx2(const AnchorSet& a, const std::vector<AnchorHead>& hs, int64_t a0, int64_t a1, double* const* ub) {
  const int64_t d = a.d, nb = d / 8;
  const bool box = a.params.bound == AnchorBound::box;
  const int H = int(hs.size());
  std::vector<float> sel(static_cast<size_t>(H * d));  // all-ones lanes where q < 0 (take lo)
  for (int h = 0; h < H; ++h)
    for (int64_t k = 0; k < nb; ++k)
      _mm256_storeu_ps(sel.data() + h * d + 8 * k,
                       _mm256_cmp_ps(_mm256_loadu_ps(hs[size_t(h)].q32.data() + 8 * k), _mm256_setzero_ps(), _CMP_LT_OQ));
  alignas(32) float sums[8];
  for (int64_t x = a0; x < a1; x += 8) {
    const int64_t cnt = std::min<int64_t>(8, a1 - x);
    for (int h = 0; h < H; ++h) {
      const float* q = hs[size_t(h)].q32.data();
      const float* sh = sel.data() + h * d;
      __m256 acc[8];
      for (int tk = 0; tk < 8; ++tk) {
        const int64_t xa = x + std::min<int64_t>(tk, cnt - 1);
        __m256 s0 = _mm256_setzero_ps();
        if (box) {
          const float* lo = a.lo.data() + xa * d;
          const float* hi = a.hi.data() + xa * d;
          for (int64_t k = 0; k < nb; ++k)
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * k),
                                 _mm256_blendv_ps(_mm256_loadu_ps(hi + 8 * k), _mm256_loadu_ps(lo + 8 * k), _mm256_loadu_ps(sh + 8 * k)),
                                 s0);
        } else {
          const float* c = a.centre.data() + xa * d;
          for (int64_t k = 0; k < nb; ++k) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * k), _mm256_loadu_ps(c + 8 * k), s0);
        }
        acc[tk] = s0;
      }
      _mm256_store_ps(sums, hsum8x8(acc));
      for (int64_t tk = 0; tk < cnt; ++tk) ub[h][x + tk - a0] = finish(a, hs[size_t(h)], x + tk, sums[tk]);
    }
  }
}
#pragma GCC pop_options
bool has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has && avx2_active();
}
#else
bool has_avx2() { return false; }
#endif

}  // namespace

void anchor_bounds_multi(const AnchorSet& a, const Basis& basis, const double* const* q, int n_heads, int64_t a0,
                         int64_t a1, double* const* ub) {
  if (a1 <= a0 || n_heads <= 0) return;
  std::vector<AnchorHead> hs;
  hs.reserve(static_cast<size_t>(n_heads));
  for (int h = 0; h < n_heads; ++h) hs.push_back(anchor_head(a, basis, q[h]));
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx2() && a.d % 8 == 0 && a.d > 0) return scan_avx2(a, hs, a0, a1, ub);
#endif
  for (int h = 0; h < n_heads; ++h) scan_scalar(a, hs[size_t(h)], a0, a1, ub[h]);
}

void anchor_bounds(const AnchorSet& a, const Basis& basis, const double* q, int64_t a0, int64_t a1, double* ub) {
  anchor_bounds_multi(a, basis, &q, 1, a0, a1, &ub);
}
}  // namespace cpu

}  // namespace ghostkv
