// Soundness of the anchor bounds (DESIGN §4.2-§4.3): for every anchor kind × bound × space, ref and cpu,
// UB'_A ≥ q·(k_t − μ) for every member t, decided by a compensated truth with ZERO tolerance in the
// unsafe direction, on seeded inputs (Gaussian, heavy-tailed, outlier channels, exact ties, low rank,
// huge norms with finite scores, integer grids, zeros) with awkward sizes and tiny / subnormal queries.
#include <gtest/gtest.h>

#include <cstdio>

#include "ghostkv/anchor.h"
#include "ghostkv/basis.h"
#include "test_sound_util.h"

using namespace ghostkv;
using sound::cat;
using sound::Fails;
using sound::Gen;
using sound::Rng;

namespace {

int64_t check_case(int64_t cs, Fails& f) {
  const uint64_t seed = 9100 + uint64_t(cs);
  Rng rng(seed);
  const Gen gen = sound::kAllGens[cs % 8];
  static const int64_t ds[] = {1, 2, 7, 16, 17, 33, 64};
  static const int64_t ns[] = {1, 3, 17, 64, 129};
  const int64_t d = ds[rng.integer(0, 6)], n = ns[rng.integer(0, 4)], stride = d + int64_t(rng.integer(0, 2));
  std::vector<float> k(static_cast<size_t>(n * stride)), v(static_cast<size_t>(n * stride));
  sound::gen_rows(gen, rng, k.data(), n, d, stride);
  sound::gen_rows(Gen::gauss, rng, v.data(), n, d, stride);
  const BasisKind bk = rng.integer(0, 1) ? BasisKind::pca : BasisKind::orth;
  const Basis basis = fit_basis(bk, k.data(), n, stride, d, d, seed);
  // queries: fitted to the keys, plus tiny and subnormal ones
  const int64_t nq = 6;
  std::vector<float> qraw(static_cast<size_t>(nq * d));
  sound::gen_queries(gen, rng, k.data(), n, stride, qraw.data(), nq, d, d);
  std::vector<std::vector<double>> qs;
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<double> q(static_cast<size_t>(d));
    const double s = i == nq - 1 ? 1e-42 : i == nq - 2 ? 1e-30 : 1.0 / std::sqrt(double(d));
    // tiny queries are float32 values (subnormal for 1e-42) so that the float32 path sees them exactly
    for (int64_t j = 0; j < d; ++j)
      q[size_t(j)] = i >= nq - 2 ? double(float(s * qraw[size_t(i * d + j)])) : s * qraw[size_t(i * d + j)];
    qs.push_back(q);
  }
  int64_t pairs = 0;
  for (AnchorKind kind : {AnchorKind::page, AnchorKind::kmeans})
    for (AnchorBound bound : {AnchorBound::box, AnchorBound::ball})
      for (AnchorSpace space : {AnchorSpace::orig, AnchorSpace::rot}) {
        AnchorParams p;
        p.kind = kind;
        p.bound = bound;
        p.space = space;
        p.page = rng.integer(1, 20);
        p.clusters = rng.integer(1, 9);
        p.iterations = rng.integer(0, 5);
        p.seed = seed;
        const AnchorSet as = build_anchors(p, basis, k.data(), v.data(), n, stride);
        const std::string ctx = cat("seed=", seed, " gen=", sound::gen_name(gen), " d=", d, " n=", n, " kind=",
                                    anchor_kind_name(kind), " bound=", anchor_bound_name(bound), " space=",
                                    anchor_space_name(space), " anchors=", as.n_anchors);
        if (as.member_start.back() != n) f.add("members do not cover the tokens: " + ctx);
        for (int64_t t = 0; t < n; ++t) {
          double vv = 0;
          for (int64_t j = 0; j < d; ++j) vv += double(v[size_t(t * stride + j)]) * v[size_t(t * stride + j)];
          if (!(as.nu_max[size_t(as.anchor_of[size_t(t)])] >= std::sqrt(vv))) f.add("nu_A below ||v_t||: " + ctx);
        }
        std::vector<double> ur(static_cast<size_t>(as.n_anchors)), uc(static_cast<size_t>(as.n_anchors));
        for (const auto& q : qs) {
          ref::anchor_bounds(as, basis, q.data(), 0, as.n_anchors, ur.data());
          cpu::anchor_bounds(as, basis, q.data(), 0, as.n_anchors, uc.data());
          for (int64_t a = 0; a < as.n_anchors; ++a)
            for (int64_t m = as.member_start[size_t(a)]; m < as.member_start[size_t(a + 1)]; ++m) {
              const int64_t t = as.members[size_t(m)];
              if (as.anchor_of[size_t(t)] != a) f.add("anchor_of disagrees with members: " + ctx);
              const float* kt = k.data() + t * stride;
              for (int path = 0; path < 2; ++path) {
                const double u = path ? uc[size_t(a)] : ur[size_t(a)];
                if (sound::bound_minus_truth(u, q.data(), kt, basis.mu.data(), d).sign() < 0)
                  f.add(cat(path ? "cpu" : "ref", " anchor bound below q·(k−μ): ", ctx, " anchor ", a, " t=", t, " ub=", u,
                            " truth=", sound::centred_score(q.data(), kt, basis.mu.data(), d).value()));
                ++pairs;
              }
            }
        }
      }
  return pairs;
}

}  // namespace

TEST(AnchorBounds, SoundRefAndCpuEveryMode) {
  Fails f;
  const int64_t pairs = sound::parallel_cases(480, f, check_case);
  sound::g_pairs += pairs;
  std::printf("[anchor bounds] %lld (query, token) pairs checked (ref + cpu)\n", (long long)pairs);
  EXPECT_EQ(f.n, 0) << f.first;
  EXPECT_GT(pairs, 10000);
}

TEST(AnchorBounds, BoxContainsMembersAndPagesAreContiguous) {
  Rng rng(5);
  const int64_t n = 50, d = 5;
  std::vector<float> k(n * d), v(n * d);
  sound::gen_rows(Gen::gauss, rng, k.data(), n, d, d);
  sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
  const Basis basis = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
  AnchorParams p;
  p.kind = AnchorKind::page;
  p.page = 16;
  const AnchorSet as = build_anchors(p, basis, k.data(), v.data(), n, d);
  ASSERT_EQ(as.n_anchors, 4);
  for (int64_t t = 0; t < n; ++t) {
    EXPECT_EQ(as.anchor_of[t], t / 16);
    for (int64_t j = 0; j < d; ++j) {
      const double x = double(k[t * d + j]) - double(basis.mu[j]);
      EXPECT_LE(double(as.lo[as.anchor_of[t] * d + j]), x);
      EXPECT_GE(double(as.hi[as.anchor_of[t] * d + j]), x);
    }
  }
  EXPECT_EQ(as.anchor_bytes(), 2 * d * 4 + 2);
  p.kind = AnchorKind::kmeans;
  p.bound = AnchorBound::ball;
  p.clusters = 64;  // more clusters than tokens: capped, none empty
  const AnchorSet km = build_anchors(p, basis, k.data(), v.data(), n, d);
  EXPECT_LE(km.n_anchors, n);
  for (int64_t a = 0; a < km.n_anchors; ++a) EXPECT_GT(km.member_start[a + 1], km.member_start[a]);
  EXPECT_EQ(km.anchor_bytes(), d * 4 + 4 + 2);
}
