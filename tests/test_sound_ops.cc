// Soundness acceptance tests of the CPU attention ops against their float64 references
// (include/ghostkv/attention.h, basis.h):
//   dot2 / exact_score        vs a compensated (TwoSum + FMA TwoProduct) evaluation;
//   cpu::score_lower_bounds   s_lo ≤ σ·q_raw·k exactly (zero tolerance), and not absurdly loose;
//   cpu::attend vs ref::attend ||ô_f32 − ô_exact|| ≤ num_err_bound (the a-priori bound of §4.5),
//                             s_lo ≤ exact scores, ν_max exact; ref::attend vs an independent
//                             softmax; indices in any order, n = 0;
//   fit_basis                 stored vectors orthonormal to float32 accuracy (pca, orth, identity;
//                             the completion of gauss), pca variances descending.
// Sizes d ∈ {1,2,3,64,127,128,129}, n ∈ {1,2,5,67,257}; Gaussian, heavy-tailed, outlier, ties,
// huge-norm inputs; the seed is in every failure message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ghostkv/attention.h"
#include "ghostkv/basis.h"
#include "ghostkv/bound.h"
#include "test_sound_util.h"

using namespace ghostkv;
using sound::Acc;
using sound::cat;
using sound::Fails;
using sound::Gen;
using sound::Rng;

namespace {
constexpr int64_t kDims[] = {1, 2, 3, 64, 127, 128, 129};
constexpr int64_t kNs[] = {1, 2, 5, 67, 257};
}  // namespace

TEST(SoundOps, Dot2AndExactScore) {
  Fails f;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>(std::begin(kDims), std::end(kDims)));
    const Gen g = sound::kAllGens[seed % 8];
    std::vector<float> a(d), b(d);
    sound::gen_rows(g, rng, a.data(), 1, d, d);
    sound::gen_rows(Gen::heavy, rng, b.data(), 1, d, d);
    if (seed % 4 == 0 && d > 1) {  // ill-conditioned: the last product cancels the rest
      double s = 0;
      for (int64_t j = 0; j + 1 < d; ++j) s += double(a[j]) * b[j];
      b[d - 1] = 1.0f;
      a[d - 1] = float(-s);
    }
    Acc ex;
    double sabs = 0;
    for (int64_t j = 0; j < d; ++j) {
      ex.add(double(a[j]) * double(b[j]));  // float×float products are exact in double
      sabs += std::fabs(double(a[j]) * b[j]);
    }
    const double got = dot2(a.data(), b.data(), d), want = ex.value();
    // Dot2: |err| ≤ u|s| + γ_n²·Σ|a_j b_j| (u = 2^-53)
    const double tol = 0x1p-52 * std::fabs(want) + 2 * std::pow(gamma_n(d, 0x1p-53), 2) * sabs;
    if (!(std::fabs(got - want) <= tol)) f.add(cat("dot2 seed=", seed, " d=", d, " got=", got, " want=", want));
    const double sc = exact_score(a.data(), b.data(), d, 0.125);
    if (!(std::fabs(sc - 0.125 * want) <= 0.125 * tol + 0x1p-52 * std::fabs(0.125 * want)))
      f.add(cat("exact_score seed=", seed, " d=", d));
  }
  EXPECT_EQ(f.n, 0) << f.first;
}

TEST(SoundOps, ScoreLowerBoundsAreLowerBounds) {
  Fails f;
  int64_t pairs = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>(std::begin(kDims), std::end(kDims)));
    const int64_t n = rng.pick(std::vector<int64_t>(std::begin(kNs), std::end(kNs)));
    const Gen g = sound::kAllGens[seed % 8];
    const double sigma = 1.0 / std::sqrt(double(d));
    std::vector<float> k(size_t(n * d)), qraw(d), q32(d);
    sound::gen_rows(g, rng, k.data(), n, d, d);
    sound::gen_queries(g, rng, k.data(), n, d, qraw.data(), 1, d, d);
    if (seed % 3 == 0 && d > 1) {  // cancellation: q ⟂ k_0 up to float rounding
      double s = 0, kk = 0;
      for (int64_t j = 0; j < d; ++j) s += double(qraw[j]) * k[j], kk += double(k[j]) * k[j];
      if (kk > 0)
        for (int64_t j = 0; j < d; ++j) qraw[j] = float(qraw[j] - s / kk * k[j]);
    }
    for (int64_t j = 0; j < d; ++j) q32[j] = float(sigma * double(qraw[j]));
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng.g);
    std::vector<double> lo(n);
    std::vector<float> s32(n);
    cpu::score_lower_bounds(q32.data(), k.data(), d, d, idx.data(), n, lo.data(), s32.data());
    for (int64_t x = 0; x < n; ++x) {
      const float* kt = k.data() + idx[x] * d;
      // s_lo − σ·q_raw·k as a compensated sum: must be ≤ 0
      Acc diff;
      diff.add(lo[x]);
      double sabs = 0;
      for (int64_t j = 0; j < d; ++j) {
        diff.add_prod(-sigma, double(qraw[j]) * double(kt[j]));
        sabs += std::fabs(sigma * double(qraw[j]) * kt[j]);
      }
      if (diff.sign() > 0)
        f.add(cat("score_lower_bounds above the true score: seed=", seed, " d=", d, " n=", n, " token ", idx[x],
                  " s_lo=", lo[x], " excess=", diff.value()));
      // and it is a float32-accuracy bound, not a vacuous one
      // (relative γ part plus the absolute underflow allowance 2^-150·(d + 2 + Σ|k_j|), doubled)
      double kabs = 0;
      for (int64_t j = 0; j < d; ++j) kabs += std::fabs(double(kt[j]));
      if (!(-diff.value() <= 4 * gamma_n(d + 2) * sabs + 2 * 0x1p-150 * (double(d + 2) + kabs) + 1e-300))
        f.add(cat("score_lower_bounds too loose: seed=", seed, " d=", d, " token ", idx[x]));
    }
    pairs += n;
  }
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

TEST(SoundOps, AttendCpuWithinItsBoundOfRef) {
  Fails f;
  const int64_t pairs = sound::parallel_cases(300, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = uint64_t(ci) + 1;
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>(std::begin(kDims), std::end(kDims)));
    const int64_t n_kv = rng.pick(std::vector<int64_t>(std::begin(kNs), std::end(kNs)));
    const Gen gk = sound::kAllGens[seed % 8];
    const Gen gv = rng.pick(std::vector<Gen>{Gen::gauss, Gen::heavy, Gen::outlier, Gen::ties, Gen::huge});
    const double sigma = 1.0 / std::sqrt(double(d));
    std::vector<float> k(size_t(n_kv * d)), v(size_t(n_kv * d)), qraw(d), q32(d);
    sound::gen_rows(gk, rng, k.data(), n_kv, d, d);
    sound::gen_rows(gv, rng, v.data(), n_kv, d, d);
    sound::gen_queries(gk, rng, k.data(), n_kv, d, qraw.data(), 1, d, d);
    const double qmul = rng.pick(std::vector<double>{1, 1, 10, 100});  // sharper softmax, exp underflow
    for (int64_t j = 0; j < d; ++j) {
      qraw[j] = float(qraw[j] * qmul);
      q32[j] = float(sigma * double(qraw[j]));
    }
    // a random subset in random order (possibly empty)
    std::vector<int64_t> idx(n_kv);
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng.g);
    idx.resize(size_t(rng.integer(seed % 10 == 0 ? 0 : 1, n_kv)));
    const int64_t n = int64_t(idx.size());
    std::vector<double> sc(n);
    for (int64_t x = 0; x < n; ++x) sc[x] = sound::true_score(qraw.data(), k.data() + idx[x] * d, d, sigma);
    AttnOut r64, r32;
    ref::attend(sc.data(), v.data(), d, d, idx.data(), n, r64);
    cpu::attend(q32.data(), k.data(), v.data(), d, d, idx.data(), n, r32);
    const std::string ctx = cat("attend seed=", seed, " d=", d, " n=", n, " keys=", sound::gen_name(gk), " values=",
                                sound::gen_name(gv), " qmul=", qmul);
    // independent softmax (float64, max-shifted)
    double m = -INFINITY, nu = 0;
    for (double s : sc) m = std::max(m, s);
    std::vector<double> o(d, 0.0);
    double z = 0;
    for (int64_t x = 0; x < n; ++x) z += std::exp(sc[x] - m);
    for (int64_t x = 0; x < n; ++x) {
      const double p = std::exp(sc[x] - m) / z;
      double vn = 0;
      for (int64_t j = 0; j < d; ++j) {
        o[j] += p * v[size_t(idx[x] * d + j)];
        vn += double(v[size_t(idx[x] * d + j)]) * v[size_t(idx[x] * d + j)];
      }
      nu = std::max(nu, std::sqrt(vn));
    }
    double e64 = 0, e32 = 0;
    for (int64_t j = 0; j < d; ++j) {
      e64 += (r64.out[j] - o[j]) * (r64.out[j] - o[j]);
      e32 += (r32.out[j] - r64.out[j]) * (r32.out[j] - r64.out[j]);
    }
    e64 = std::sqrt(e64);
    e32 = std::sqrt(e32);
    const double tol64 = 4 * gamma_n(n + d + 8, 0x1p-53) * nu + 1e-300;
    if (!(e64 <= tol64)) fl.add(cat("ref::attend vs independent softmax: ", ctx, " err=", e64, " tol=", tol64));
    if (!(e32 <= r32.num_err_bound + tol64))
      fl.add(cat("cpu::attend outside num_err_bound: ", ctx, " err=", e32, " bound=", r32.num_err_bound));
    if (!(std::fabs(r32.nu_max - nu) <= 1e-12 * nu) || !(std::fabs(r64.nu_max - nu) <= 1e-12 * nu))
      fl.add(cat("nu_max: ", ctx, " cpu=", r32.nu_max, " ref=", r64.nu_max, " want=", nu));
    if (n > 0 && int64_t(r32.s_lo.size()) != n) fl.add(cat("s_lo size: ", ctx));
    for (int64_t x = 0; x < n && int64_t(r32.s_lo.size()) == n; ++x) {
      Acc diff;
      diff.add(r32.s_lo[x]);
      for (int64_t j = 0; j < d; ++j) diff.add_prod(-sigma, double(qraw[j]) * double(k[size_t(idx[x] * d + j)]));
      if (diff.sign() > 0) fl.add(cat("cpu::attend s_lo above the true score: ", ctx, " token ", idx[x]));
      if (r64.s_lo[x] != sc[x]) fl.add(cat("ref::attend s_lo != given score: ", ctx));
    }
    if (n == 0 && (r32.num_err_bound != 0 || sound::norm2(r32.out.data(), d) != 0))
      fl.add(cat("empty attend not zero: ", ctx));
    return n;
  });
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

TEST(SoundOps, BasisOrthonormality) {
  Fails f;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>(std::begin(kDims), std::end(kDims)));
    const int64_t n = rng.pick(std::vector<int64_t>(std::begin(kNs), std::end(kNs)));
    const Gen g = sound::kAllGens[seed % 8];
    std::vector<float> k(size_t(n * d));
    sound::gen_rows(g, rng, k.data(), n, d, d);
    const int64_t rank = std::clamp<int64_t>(d / 3, 1, d);
    for (BasisKind bk : {BasisKind::pca, BasisKind::orth, BasisKind::gauss, BasisKind::identity}) {
      const Basis b = fit_basis(bk, k.data(), n, d, d, rank, seed);
      const std::string ctx = cat("basis seed=", seed, " kind=", basis_kind_name(bk), " d=", d, " n=", n, " keys=",
                                  sound::gen_name(g));
      if (int64_t(b.vecs.size()) != d * d || int64_t(b.mu.size()) != d) {
        f.add(cat("shape: ", ctx));
        continue;
      }
      const int64_t j0 = bk == BasisKind::gauss ? rank : 0;  // gauss: only the completion is orthonormal
      double worst = 0;
      for (int64_t a = j0; a < d; ++a)
        for (int64_t c = a; c < d; ++c) {
          double s = 0;
          for (int64_t i = 0; i < d; ++i) s += double(b.row(a)[i]) * b.row(c)[i];
          worst = std::max(worst, std::fabs(s - (a == c ? 1.0 : 0.0)));
        }
      if (bk == BasisKind::gauss)  // the completion is orthogonal to the Gaussian rows too
        for (int64_t a = 0; a < rank; ++a)
          for (int64_t c = rank; c < d; ++c) {
            double s = 0, na = 0;
            for (int64_t i = 0; i < d; ++i) s += double(b.row(a)[i]) * b.row(c)[i], na += double(b.row(a)[i]) * b.row(a)[i];
            worst = std::max(worst, std::fabs(s) / std::max(std::sqrt(na), 1e-300));
          }
      if (!(worst <= 8 * d * 0x1p-24)) f.add(cat("not orthonormal to float32 accuracy: ", ctx, " worst=", worst));
      if (bk == BasisKind::pca)
        for (int64_t j = 1; j < d; ++j)
          if (b.variance[j] > b.variance[j - 1] * (1 + 1e-6) + 1e-9 * (b.variance[0] + 1e-300))
            f.add(cat("pca variances not descending: ", ctx, " j=", j));
      if (bk == BasisKind::identity)
        for (int64_t a = 0; a < d; ++a)
          for (int64_t i = 0; i < d; ++i)
            if (b.row(a)[i] != (a == i ? 1.0f : 0.0f)) f.add(cat("identity not exact: ", ctx));
    }
  }
  EXPECT_EQ(f.n, 0) << f.first;
}
