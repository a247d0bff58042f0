// The vectorised CPU kernels (include/ghostkv/cpu/fast.h) against the float64 reference and the
// scalar kernels, on seeded random and adversarial inputs (tests/test_sound_util.h generators):
//   multi-head token scans: every bound ≥ the compensated true centred score (zero tolerance), within
//     the float32 slack of ref::, equal in distribution to the scalar body, float variant = the double
//     bound rounded up; awkward spans [t0, t1) (not multiples of 8, last rows of the array);
//   survivor compaction: equals the definition (NaN survives);
//   attend_multi over f32 / f16 / bf16 K, V: within a stated tolerance of float64 attention;
//   cpu::attend (vectorised updates): within its a-priori bound of float64 attention;
//   the adaptive fallback predictor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ghostkv/anchor.h"
#include "ghostkv/attention.h"
#include "ghostkv/basis.h"
#include "ghostkv/bound.h"
#include "ghostkv/cpu/fast.h"
#include "ghostkv/half.h"
#include "ghostkv/witness.h"
#include "test_sound_util.h"

using namespace ghostkv;
using sound::cat;
using sound::Gen;
using sound::Rng;

namespace {

struct ScalarGuard {  // restores the dispatch setting
  bool prev;
  explicit ScalarGuard(bool on) : prev(cpu::set_force_scalar(on)) {}
  ~ScalarGuard() { cpu::set_force_scalar(prev); }
};

std::vector<std::vector<double>> make_queries(Gen kind, Rng& rng, const std::vector<float>& keys, int64_t n, int64_t d,
                                              int nq) {
  std::vector<float> qraw(static_cast<size_t>(nq * d));
  sound::gen_queries(kind, rng, keys.data(), n, d, qraw.data(), nq, d, d);
  const double sigma = 1.0 / std::sqrt(double(d));
  std::vector<std::vector<double>> qs(static_cast<size_t>(nq), std::vector<double>(static_cast<size_t>(d)));
  for (int h = 0; h < nq; ++h)
    for (int64_t j = 0; j < d; ++j) qs[size_t(h)][size_t(j)] = sigma * double(qraw[size_t(h * d + j)]);
  return qs;
}

// bound ≥ truth with zero tolerance; returns the number of violations
int64_t violations(const double* ub, const double* q, const float* keys, const float* mu, int64_t d, int64_t t0,
                   int64_t t1) {
  int64_t v = 0;
  for (int64_t t = t0; t < t1; ++t) {
    const double u = ub[t - t0];
    if (std::isnan(u)) { ++v; continue; }
    if (u == INFINITY) continue;
    if (sound::bound_minus_truth(u, q, keys + t * d, mu, d).sign() < 0) ++v;
  }
  sound::g_pairs += t1 - t0;
  return v;
}

}  // namespace

TEST(CpuFast, ReportsLevel) {
  const std::string lvl = cpu::simd_level();
  EXPECT_TRUE(lvl == "avx2" || lvl == "scalar") << lvl;
  {
    ScalarGuard g(true);
    EXPECT_STREQ(cpu::simd_level(), "scalar");
  }
  EXPECT_EQ(std::string(cpu::simd_level()), lvl);
}

TEST(CpuFast, QuantMultiSoundAndCloseToRef) {
  const char* specs[] = {"8", "4", "8x16,4x48,2x64", "3x5,5x7,7x9,2", "1", "6x3,8x5,4"};
  const int64_t groups[] = {0, 64, 1, 7};
  const Gen gens[] = {Gen::gauss, Gen::outlier, Gen::huge, Gen::ties, Gen::grid, Gen::zeros, Gen::heavy};
  int64_t checked = 0, bad = 0;
  for (int64_t d : {128, 64, 24}) {
    for (const char* spec : specs) {
      for (int64_t G : groups) {
        for (Gen gen : gens) {
          Rng rng(uint64_t(d * 1000 + G * 7 + int(gen) * 13 + std::string(spec).size()));
          const int64_t n = rng.integer(1, 150);
          std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
          sound::gen_rows(gen, rng, k.data(), n, d, d);
          sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
          const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
          BitSpec bits;
          try {
            bits = parse_bits(spec, d);
          } catch (const Error&) {
            continue;  // the spec does not fit this d
          }
          const int64_t seal = rng.integer(1, n);
          const QuantRecords rec = build_quant(b, bits, G, seal, k.data(), v.data(), n, d);
          const int H = 4;
          auto qs = make_queries(gen, rng, k, n, d, H);
          std::vector<QuantQuery> pq(H);
          std::vector<const QuantQuery*> pp(H);
          for (int h = 0; h < H; ++h) pq[size_t(h)] = prepare_quant_query(b, rec, qs[size_t(h)].data()), pp[size_t(h)] = &pq[size_t(h)];
          for (int rep = 0; rep < 3; ++rep) {
            const int64_t t0 = rep == 0 ? 0 : rng.integer(0, n - 1);
            const int64_t t1 = rep == 0 ? n : rng.integer(t0 + 1, n);
            std::vector<std::vector<double>> ub(H, std::vector<double>(static_cast<size_t>(t1 - t0))), us(ub), ur(ub);
            std::vector<std::vector<float>> uf(H, std::vector<float>(static_cast<size_t>(t1 - t0)));
            std::vector<double*> p(H), ps(H);
            std::vector<float*> pf(H);
            for (int h = 0; h < H; ++h) p[size_t(h)] = ub[size_t(h)].data(), ps[size_t(h)] = us[size_t(h)].data(), pf[size_t(h)] = uf[size_t(h)].data();
            cpu::quant_bounds_multi(rec, pp.data(), H, t0, t1, p.data());
            cpu::quant_bounds_multi_f32(rec, pp.data(), H, t0, t1, pf.data());
            {
              ScalarGuard sg(true);
              cpu::quant_bounds_multi(rec, pp.data(), H, t0, t1, ps.data());
            }
            for (int h = 0; h < H; ++h) {
              ref::quant_bounds(rec, pq[size_t(h)], t0, t1, ur[size_t(h)].data());
              const std::string ctx = cat("d=", d, " spec=", spec, " G=", G, " gen=", sound::gen_name(gen), " h=", h,
                                          " [", t0, ",", t1, ")");
              bad += violations(ub[size_t(h)].data(), qs[size_t(h)].data(), k.data(), b.mu.data(), d, t0, t1);
              for (int64_t t = t0; t < t1; ++t) {
                const size_t x = size_t(t - t0);
                const int64_t g = rec.group_of[size_t(t)];
                const double slack = pq[size_t(h)].add32[size_t(g)] - pq[size_t(h)].add[size_t(g)];
                const double a = ub[size_t(h)][x], s = us[size_t(h)][x], r = ur[size_t(h)][x];
                ++checked;
                // vector and scalar bodies differ only by summation order: both within the float32 slack
                if (!(std::fabs(a - s) <= 2 * slack + 1e-300) && !(a == s))
                  ADD_FAILURE() << ctx << " t=" << t << " avx=" << a << " scalar=" << s << " slack=" << slack;
                if (!(a >= r - 1e-9 * (std::fabs(r) + slack) && a <= r + 2 * slack + 1e-9 * std::fabs(r) + 1e-300) && !(a == r))
                  ADD_FAILURE() << ctx << " t=" << t << " cpu=" << a << " ref=" << r << " slack=" << slack;
                const float f = uf[size_t(h)][x];
                if (!(double(f) >= a) || (std::isfinite(a) && f != f32_round_up(a)))
                  ADD_FAILURE() << ctx << " t=" << t << " float bound " << f << " vs " << a;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 10000);
}

TEST(CpuFast, LowrankMultiSoundAndCloseToRef) {
  const Storage storages[] = {Storage::f32, Storage::f16, Storage::bf16, Storage::int8};
  const Gen gens[] = {Gen::gauss, Gen::outlier, Gen::huge, Gen::lowrank, Gen::zeros, Gen::heavy};
  int64_t checked = 0, bad = 0;
  for (int64_t d : {128, 64}) {
    for (int64_t r : {16, 8, 12, 32}) {
      for (int64_t B : {1, 4}) {
        for (Storage st : storages) {
          for (Gen gen : gens) {
            Rng rng(uint64_t(d * 31 + r * 7 + B * 3 + int(st) * 101 + int(gen) * 1009));
            const int64_t n = rng.integer(1, 200);
            std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
            sound::gen_rows(gen, rng, k.data(), n, d, d);
            sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
            const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
            const LowRankRecords rec = build_lowrank(b, r, B, st, k.data(), v.data(), n, d);
            const int H = 4;
            auto qs = make_queries(gen, rng, k, n, d, H);
            std::vector<LowRankQuery> pq(H);
            std::vector<const LowRankQuery*> pp(H);
            for (int h = 0; h < H; ++h) pq[size_t(h)] = prepare_lowrank_query(b, rec, qs[size_t(h)].data()), pp[size_t(h)] = &pq[size_t(h)];
            const int64_t t0 = rng.integer(0, n - 1), t1 = n;
            std::vector<std::vector<double>> ub(H, std::vector<double>(static_cast<size_t>(t1 - t0))), us(ub), ur(ub);
            std::vector<std::vector<float>> uf(H, std::vector<float>(static_cast<size_t>(t1 - t0)));
            std::vector<double*> p(H), ps(H);
            std::vector<float*> pf(H);
            for (int h = 0; h < H; ++h) p[size_t(h)] = ub[size_t(h)].data(), ps[size_t(h)] = us[size_t(h)].data(), pf[size_t(h)] = uf[size_t(h)].data();
            cpu::lowrank_bounds_multi(rec, pp.data(), H, t0, t1, p.data());
            cpu::lowrank_bounds_multi_f32(rec, pp.data(), H, t0, t1, pf.data());
            {
              ScalarGuard sg(true);
              cpu::lowrank_bounds_multi(rec, pp.data(), H, t0, t1, ps.data());
            }
            for (int h = 0; h < H; ++h) {
              ref::lowrank_bounds(rec, pq[size_t(h)], t0, t1, ur[size_t(h)].data());
              const std::string ctx = cat("d=", d, " r=", r, " B=", B, " st=", storage_name(st), " gen=",
                                          sound::gen_name(gen), " h=", h);
              bad += violations(ub[size_t(h)].data(), qs[size_t(h)].data(), k.data(), b.mu.data(), d, t0, t1);
              const double slack = pq[size_t(h)].slack32;
              for (int64_t t = t0; t < t1; ++t) {
                const size_t x = size_t(t - t0);
                const double a = ub[size_t(h)][x], s = us[size_t(h)][x], rr = ur[size_t(h)][x];
                ++checked;
                if (!(std::fabs(a - s) <= 2 * slack + 1e-300) && !(a == s))
                  ADD_FAILURE() << ctx << " t=" << t << " avx=" << a << " scalar=" << s << " slack=" << slack;
                // cpu ≥ ref − float64 noise (the float32 upward roundings of ||q_s||, qb only raise it)
                if (!(a >= rr - 1e-9 * (std::fabs(rr) + slack)) && !(a == rr))
                  ADD_FAILURE() << ctx << " t=" << t << " cpu=" << a << " below ref=" << rr;
                // float bound: ≥ the double one (zero tolerance) and, the vector bodies' float32 epilogue being
                // next_up(fl32(s + RU_f(add))) (cpu_fast_path.md §2), ≤ a + 2^-22·(|a| + |add|) + 2^-145:
                // RU_f(add) ≤ add + 2^-23|add| + 2^-149, fl32 and next_up add ≤ 1.51·2^-23·|y| + 2^-148, and
                // a = fl64(s + add) is within 2^-53|a| of s + add (the scalar body's RU_f(a) satisfies it too)
                const float f = uf[size_t(h)][x];
                const double add = pq[size_t(h)].const_term + pq[size_t(h)].slack32;
                if (!(double(f) >= a) ||
                    (std::isfinite(a) && !(double(f) <= a + 0x1p-22 * (std::fabs(a) + std::fabs(add)) + 0x1p-145)))
                  ADD_FAILURE() << ctx << " t=" << t << " float bound " << f << " vs " << a;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 10000);
}

// The r % 16 == 0 bodies (bf16: 8 tokens in the lanes; f16, f32: two-token passes) with 1-8 heads (heads in
// groups of four) and random spans: each (token, head) bound is a function of that token and head alone, so the
// 8-head scan equals the one-head scans of any span bit for bit; bounds are sound (zero tolerance), the float
// ones ≥ the double ones; a NaN sketch component gives +inf for every head.
TEST(CpuFast, LowrankHeadsAndSpansIndependent) {
  const Storage storages[] = {Storage::bf16, Storage::f16, Storage::f32};
  const Gen gens[] = {Gen::gauss, Gen::huge, Gen::ties, Gen::zeros, Gen::heavy, Gen::outlier, Gen::lowrank};
  int64_t checked = 0, bad = 0;
  for (int64_t r : {16, 32}) {
    for (int64_t B : {1, 3}) {
      for (Storage st : storages) {
        for (Gen gen : gens) {
          const uint64_t seed = uint64_t(r * 17 + B * 5 + int(st) * 211 + int(gen) * 3001);
          Rng rng(seed);
          const int64_t d = 64, n = rng.integer(1, 160);
          std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
          sound::gen_rows(gen, rng, k.data(), n, d, d);
          sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
          const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
          LowRankRecords rec = build_lowrank(b, r, B, st, k.data(), v.data(), n, d);
          const int H = 8;
          auto qs = make_queries(gen, rng, k, n, d, H);
          std::vector<LowRankQuery> pq(H);
          std::vector<const LowRankQuery*> pp(H);
          for (int h = 0; h < H; ++h) pq[size_t(h)] = prepare_lowrank_query(b, rec, qs[size_t(h)].data()), pp[size_t(h)] = &pq[size_t(h)];
          const std::string ctx0 = cat("seed=", seed, " r=", r, " B=", B, " st=", storage_name(st), " gen=", sound::gen_name(gen), " n=", n);
          std::vector<std::vector<double>> ub(H, std::vector<double>(static_cast<size_t>(n)));
          std::vector<std::vector<float>> uf(H, std::vector<float>(static_cast<size_t>(n)));
          std::vector<double*> p(H);
          std::vector<float*> pf(H);
          for (int h = 0; h < H; ++h) p[size_t(h)] = ub[size_t(h)].data(), pf[size_t(h)] = uf[size_t(h)].data();
          cpu::lowrank_bounds_multi(rec, pp.data(), H, 0, n, p.data());
          cpu::lowrank_bounds_multi_f32(rec, pp.data(), H, 0, n, pf.data());
          for (int h = 0; h < H; ++h) {
            bad += violations(ub[size_t(h)].data(), qs[size_t(h)].data(), k.data(), b.mu.data(), d, 0, n);
            for (int64_t t = 0; t < n; ++t)
              if (!(double(uf[size_t(h)][size_t(t)]) >= ub[size_t(h)][size_t(t)]))
                ADD_FAILURE() << ctx0 << " h=" << h << " t=" << t << " float " << uf[size_t(h)][size_t(t)] << " < double "
                              << ub[size_t(h)][size_t(t)];
          }
          for (int rep = 0; rep < 4; ++rep) {
            const int hn = int(rng.integer(1, H)), h0 = int(rng.integer(0, H - hn));
            const int64_t t0 = rng.integer(0, n - 1), t1 = rng.integer(t0 + 1, n);
            std::vector<std::vector<double>> us(hn, std::vector<double>(static_cast<size_t>(t1 - t0)));
            std::vector<std::vector<float>> usf(hn, std::vector<float>(static_cast<size_t>(t1 - t0)));
            std::vector<double*> ps(hn);
            std::vector<float*> psf(hn);
            for (int h = 0; h < hn; ++h) ps[size_t(h)] = us[size_t(h)].data(), psf[size_t(h)] = usf[size_t(h)].data();
            cpu::lowrank_bounds_multi(rec, pp.data() + h0, hn, t0, t1, ps.data());
            cpu::lowrank_bounds_multi_f32(rec, pp.data() + h0, hn, t0, t1, psf.data());
            for (int h = 0; h < hn; ++h)
              for (int64_t t = t0; t < t1; ++t) {
                ++checked;
                const double a = ub[size_t(h0 + h)][size_t(t)], s = us[size_t(h)][size_t(t - t0)];
                const float fa = uf[size_t(h0 + h)][size_t(t)], fs = usf[size_t(h)][size_t(t - t0)];
                if (!(a == s) || !(fa == fs))
                  ADD_FAILURE() << ctx0 << " heads [" << h0 << "," << h0 + hn << ") span [" << t0 << "," << t1 << ") h=" << h0 + h
                                << " t=" << t << ": " << a << " vs " << s << ", float " << fa << " vs " << fs;
              }
          }
          // a NaN component in one token's sketch: +inf for every head, the other tokens unchanged
          const int64_t tn = rng.integer(0, n - 1), jn = rng.integer(0, r - 1);
          if (st == Storage::f32) rec.sketch[size_t(tn * r + jn)] = NAN;
          else rec.sketch_raw[size_t(tn * r + jn)] = st == Storage::bf16 ? uint16_t(0x7FC1) : uint16_t(0x7E01);
          cpu::lowrank_bounds_multi(rec, pp.data(), H, 0, n, p.data());
          cpu::lowrank_bounds_multi_f32(rec, pp.data(), H, 0, n, pf.data());
          for (int h = 0; h < H; ++h)
            if (!(ub[size_t(h)][size_t(tn)] == INFINITY) || !(uf[size_t(h)][size_t(tn)] == INFINITY))
              ADD_FAILURE() << ctx0 << " NaN at t=" << tn << " j=" << jn << " h=" << h << ": " << ub[size_t(h)][size_t(tn)]
                            << ", float " << uf[size_t(h)][size_t(tn)];
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 10000);
}

// The float32 epilogue of the vector low-rank bodies, next_up(fl32(s + RU_f(add))) (cpu_fast_path.md §2), on
// hand-made records whose sums s are exact (s = ±z_0): zero and signed-zero results, binade edges, subnormal and
// huge addends, overflow to +inf, NaN. Each bound equals that formula evaluated here in scalar code, is ≥ the
// double bound and ≥ s + add exactly (long double, zero tolerance).
TEST(CpuFast, LowrankFloatEpilogueEdgeCases) {
  const float z0s[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p24f, -0x1p24f, 1.5f, 0x1p-126f, 0x1p-133f, -0x1p-133f,
                       3.0e38f, -3.0e38f, 0x1.fep127f, 0.75f, -0x1p-126f, NAN};
  const double adds[] = {-1.0, -0.0, double(FLT_MAX), 0x1p24 + 1, -double(FLT_MAX), 1e-300, -1e-300, 0x1p-150,
                         -0x1p24, 0.0, 1.0 + 0x1p-40, -0.75, 0x1p-126, -0x1p-149, 1e30, -1.5};
  const int64_t n = int64_t(std::size(z0s)), r = 16;
  for (Storage st : {Storage::bf16, Storage::f16, Storage::f32}) {
    LowRankRecords rec;
    rec.n = n, rec.d = r, rec.r = r, rec.blocks = 1, rec.storage = st;
    rec.sketch.assign(size_t(n * r), 0.0f);
    rec.sketch_raw.assign(size_t(n * r), 0);
    rec.e.assign(size_t(n), 0);
    rec.rho.assign(size_t(n), 0);
    std::vector<float> z(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) {
      float v = z0s[t];
      if (st == Storage::f16) v = f16_to_f32(f32_to_f16(v));  // what the record can hold
      if (st == Storage::bf16) v = bf16_to_f32(f32_to_bf16(v));
      z[size_t(t)] = v;
      rec.sketch[size_t(t * r)] = v;
      if (st == Storage::f16) rec.sketch_raw[size_t(t * r)] = f32_to_f16(v);
      if (st == Storage::bf16) rec.sketch_raw[size_t(t * r)] = f32_to_bf16(v);
    }
    for (size_t a0 = 0; a0 < std::size(adds); a0 += 8) {
      const int H = 8;
      std::vector<LowRankQuery> pq(H);
      std::vector<const LowRankQuery*> pp(H);
      for (int h = 0; h < H; ++h) {
        pq[size_t(h)].qs32.assign(size_t(r), 0.0f);
        pq[size_t(h)].qs32[0] = h % 2 ? -1.0f : 1.0f;
        pq[size_t(h)].qs.assign(size_t(r), 0.0);
        pq[size_t(h)].qb = {0.0};
        pq[size_t(h)].const_term = adds[a0 + size_t(h)];
        pp[size_t(h)] = &pq[size_t(h)];
      }
      std::vector<std::vector<double>> ub(H, std::vector<double>(size_t(n)));
      std::vector<std::vector<float>> uf(H, std::vector<float>(size_t(n)));
      std::vector<double*> p(H);
      std::vector<float*> pf(H);
      for (int h = 0; h < H; ++h) p[size_t(h)] = ub[size_t(h)].data(), pf[size_t(h)] = uf[size_t(h)].data();
      cpu::lowrank_bounds_multi(rec, pp.data(), H, 0, n, p.data());
      cpu::lowrank_bounds_multi_f32(rec, pp.data(), H, 0, n, pf.data());
      for (int h = 0; h < H; ++h)
        for (int64_t t = 0; t < n; ++t) {
          const double add = adds[a0 + size_t(h)];
          const float sz = pq[size_t(h)].qs32[0] * z[size_t(t)];  // exact (±1 × z)
          const float A = f32_round_up(add) + 0.0f;
          const float y = sz + A;
          float want = std::nextafter(y, INFINITY);
          if (std::isnan(y) || y == INFINITY) want = INFINITY;
          const float f = uf[size_t(h)][size_t(t)];
          const double a = ub[size_t(h)][size_t(t)];
          const std::string ctx = cat(storage_name(st), " z0=", z[size_t(t)], " q0=", pq[size_t(h)].qs32[0], " add=", add);
          if (cpu::simd_level() == std::string("avx2") && !(f == want || (std::isnan(f) && std::isnan(want))))
            ADD_FAILURE() << ctx << ": float " << f << " want " << want;
          if (std::isnan(sz)) {
            EXPECT_EQ(f, INFINITY) << ctx;
            EXPECT_EQ(a, INFINITY) << ctx;
            continue;
          }
          EXPECT_GE(double(f), a) << ctx;
          EXPECT_GE((long double)f, (long double)sz + (long double)add) << ctx;
        }
    }
  }
}

TEST(CpuFast, CompactionMatchesDefinition) {
  Rng rng(7);
  for (int rep = 0; rep < 50; ++rep) {
    const int H = int(rng.integer(1, 5));
    const int64_t n = rng.integer(0, 300), t0 = rng.integer(0, 1000);
    std::vector<std::vector<float>> ub(static_cast<size_t>(H), std::vector<float>(static_cast<size_t>(n)));
    std::vector<float> thr(static_cast<size_t>(H));
    std::vector<const float*> p(static_cast<size_t>(H));
    for (int h = 0; h < H; ++h) {
      thr[size_t(h)] = float(rng.integer(-2, 2));
      for (auto& x : ub[size_t(h)]) {
        const int64_t c = rng.integer(0, 20);
        x = c == 0 ? NAN : c == 1 ? INFINITY : c == 2 ? -INFINITY : float(rng.integer(-3, 3));  // ties with thr
      }
      p[size_t(h)] = ub[size_t(h)].data();
    }
    std::vector<int64_t> want;
    for (int64_t c = 0; c < n; ++c) {
      bool keep = false;
      for (int h = 0; h < H; ++h) keep |= std::isnan(ub[size_t(h)][size_t(c)]) || ub[size_t(h)][size_t(c)] >= thr[size_t(h)];
      if (keep) want.push_back(t0 + c);
    }
    std::vector<int64_t> got(static_cast<size_t>(n) + 1), got_s(static_cast<size_t>(n) + 1);
    got.resize(size_t(cpu::compact_survivors(p.data(), thr.data(), H, n, t0, got.data())));
    {
      ScalarGuard sg(true);
      got_s.resize(size_t(cpu::compact_survivors(p.data(), thr.data(), H, n, t0, got_s.data())));
    }
    EXPECT_EQ(got, want) << "rep " << rep;
    EXPECT_EQ(got_s, want) << "rep " << rep;
  }
}

namespace {
// float64 attention of one head over the given tokens (K, V as widened float values)
std::vector<double> attend64(const float* q, const std::vector<float>& K, const std::vector<float>& V, int64_t d,
                             const std::vector<int64_t>& idx) {
  std::vector<double> s(idx.size()), o(static_cast<size_t>(d), 0.0);
  double m = -INFINITY;
  for (size_t x = 0; x < idx.size(); ++x) {
    s[x] = sound::true_score(q, K.data() + idx[x] * d, d, 1.0);
    m = std::max(m, s[x]);
  }
  double z = 0;
  for (size_t x = 0; x < idx.size(); ++x) z += (s[x] = std::exp(s[x] - m));
  for (size_t x = 0; x < idx.size(); ++x)
    for (int64_t j = 0; j < d; ++j) o[size_t(j)] += s[x] / z * double(V[size_t(idx[x] * d + j)]);
  return o;
}
}  // namespace

TEST(CpuFast, AttendMultiMatchesFloat64) {
  const cpu::KvType types[] = {cpu::KvType::f32, cpu::KvType::f16, cpu::KvType::bf16};
  for (cpu::KvType ty : types) {
    for (int64_t d : {128, 64, 40}) {
      for (int scen = 0; scen < 5; ++scen) {
        for (bool scalar : {false, true}) {
          ScalarGuard sg(scalar);
          Rng rng(uint64_t(int(ty) * 100 + d + scen * 7));
          const int64_t n = scen == 0 ? 1 : rng.integer(2, 700);
          // scen 4: 5-9 heads (the vector body takes heads in groups of four)
          const int H = int(scen == 4 ? rng.integer(5, 9) : rng.integer(1, 4));
          // scen 1: peaked scores (|s| up to ~60: many weights underflow); 2: outlier channel; 3: gaussian
          const double qs = scen == 1 ? 6.0 : 0.3;
          std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d)), q(static_cast<size_t>(H * d));
          sound::gen_rows(scen == 2 ? Gen::outlier : Gen::gauss, rng, k.data(), n, d, d);
          sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
          for (auto& x : q) x = float(qs * rng.normal() / std::sqrt(double(d)) * 4);
          // stored K, V in the type; the reference sees the same (widened) values
          std::vector<uint16_t> k16(k.size()), v16(v.size());
          for (size_t i = 0; i < k.size(); ++i) {
            if (ty == cpu::KvType::f16) k16[i] = f32_to_f16(k[i]), v16[i] = f32_to_f16(v[i]), k[i] = f16_to_f32(k16[i]), v[i] = f16_to_f32(v16[i]);
            if (ty == cpu::KvType::bf16) k16[i] = f32_to_bf16(k[i]), v16[i] = f32_to_bf16(v[i]), k[i] = bf16_to_f32(k16[i]), v[i] = bf16_to_f32(v16[i]);
          }
          cpu::KvView kv;
          kv.type = ty;
          kv.stride = d;
          kv.k = ty == cpu::KvType::f32 ? static_cast<const void*>(k.data()) : k16.data();
          kv.v = ty == cpu::KvType::f32 ? static_cast<const void*>(v.data()) : v16.data();
          std::vector<int64_t> idx;
          for (int64_t t = 0; t < n; ++t)
            if (scen == 3 || rng.uniform() < 0.6 || t == 0) idx.push_back(t);
          std::vector<float> out(static_cast<size_t>(H * d));
          const bool all = scen == 3;
          cpu::attend_multi(q.data(), H, d, kv, all ? nullptr : idx.data(), int64_t(idx.size()), out.data());
          double vmax = 0;
          for (float x : v) vmax = std::max(vmax, double(std::fabs(x)));
          for (int h = 0; h < H; ++h) {
            const std::vector<double> o = attend64(q.data() + h * d, k, v, d, idx);
            double e = 0;
            for (int64_t j = 0; j < d; ++j) e = std::max(e, std::fabs(o[size_t(j)] - double(out[size_t(h * d + j)])));
            // float32 scores: |error| ≤ Δ = γ_{d+2}·max_t Σ|q_j k_tj| (relative weight error ≤ e^{2Δ} − 1);
            // ≤ 2 ulp exp and n-term float32 sums: ≤ 1e-4 relative for n ≤ 700
            double amax = 0;
            for (int64_t t : idx) {
              double a = 0;
              for (int64_t j = 0; j < d; ++j) a += std::fabs(double(q[size_t(h * d + j)]) * k[size_t(t * d + j)]);
              amax = std::max(amax, a);
            }
            const double tol = (std::expm1(2 * gamma_n(d + 2) * amax) + 1e-4) * vmax;
            EXPECT_LE(e, tol) << kv_type_name(ty) << " d=" << d << " scen=" << scen << " scalar=" << scalar
                              << " n=" << idx.size() << " h=" << h;
          }
        }
      }
    }
  }
}

TEST(CpuFast, AttendMultiPrefetchModesAgree) {
  // Software prefetch only moves data: every mode (off, N rows ahead, the next block at block start, the
  // next block spread over the V pass) gives the same output bit for bit, on rows with a stride > d, block
  // boundaries (n = 31, 32, 33, 64, 65), dense and gathered lists; with finite inputs it also matches float64
  // attention within the tolerance of AttendMultiMatchesFloat64. Adversarial inputs: peaked scores (most
  // weights underflow), tiny magnitudes (subnormal products), a NaN in one K row (compared NaN-for-NaN).
  const cpu::KvType types[] = {cpu::KvType::bf16, cpu::KvType::f16, cpu::KvType::f32};
  const int64_t modes[] = {0, 1, 16, -1, -2};
  int cases = 0;
  for (cpu::KvType ty : types) {
    for (int64_t d : {128, 48, 40}) {
      for (int scen = 0; scen < 6; ++scen) {
        const uint64_t seed = uint64_t(7000 + int(ty) * 100 + d + scen * 7);
        Rng rng(seed);
        const int64_t sizes[] = {31, 32, 33, 64, 65};
        const int64_t n_all = scen < 5 ? sizes[scen] * 3 : rng.integer(100, 500);
        const int64_t stride = d + 16;
        const int H = int(rng.integer(1, 9));
        // scen 1: peaked scores; 2: tiny magnitudes; 3: NaN in one K row
        const double qs = scen == 1 ? 6.0 : 0.3;
        std::vector<float> k(static_cast<size_t>(n_all * d)), v(static_cast<size_t>(n_all * d)), q(static_cast<size_t>(H * d));
        sound::gen_rows(Gen::gauss, rng, k.data(), n_all, d, d);
        sound::gen_rows(Gen::gauss, rng, v.data(), n_all, d, d);
        for (auto& x : q) x = float(qs * rng.normal() / std::sqrt(double(d)) * 4);
        if (scen == 2)
          for (auto& x : k) x *= 1e-19f;
        if (scen == 3) k[size_t(rng.integer(0, n_all - 1) * d + rng.integer(0, d - 1))] = NAN;
        // stored rows at `stride` elements; the reference sees the same (widened) values
        std::vector<float> ks(static_cast<size_t>(n_all * stride), 0.0f), vs(ks.size(), 0.0f);
        std::vector<uint16_t> k16(ks.size(), 0), v16(ks.size(), 0);
        for (int64_t t = 0; t < n_all; ++t)
          for (int64_t j = 0; j < d; ++j) {
            float& kx = k[size_t(t * d + j)];
            float& vx = v[size_t(t * d + j)];
            const size_t o = size_t(t * stride + j);
            if (ty == cpu::KvType::f16) k16[o] = f32_to_f16(kx), v16[o] = f32_to_f16(vx), kx = f16_to_f32(k16[o]), vx = f16_to_f32(v16[o]);
            if (ty == cpu::KvType::bf16) k16[o] = f32_to_bf16(kx), v16[o] = f32_to_bf16(vx), kx = bf16_to_f32(k16[o]), vx = bf16_to_f32(v16[o]);
            ks[o] = kx, vs[o] = vx;
          }
        cpu::KvView kv;
        kv.type = ty;
        kv.stride = stride;
        kv.k = ty == cpu::KvType::f32 ? static_cast<const void*>(ks.data()) : k16.data();
        kv.v = ty == cpu::KvType::f32 ? static_cast<const void*>(vs.data()) : v16.data();
        for (bool gathered : {false, true}) {
          std::vector<int64_t> idx;
          for (int64_t t = 0; t < n_all; ++t)
            if (!gathered || rng.uniform() < 0.4 || t == 0) idx.push_back(t);
          const int64_t n = int64_t(idx.size());
          std::vector<float> ref_out;
          for (int64_t mode : modes) {
            const int64_t prev = cpu::set_prefetch_distance(mode);
            std::vector<float> out(static_cast<size_t>(H * d));
            cpu::attend_multi(q.data(), H, d, kv, gathered ? idx.data() : nullptr, n, out.data());
            cpu::set_prefetch_distance(prev);
            if (ref_out.empty()) {
              ref_out = out;
            } else {
              for (size_t i = 0; i < out.size(); ++i)
                ASSERT_TRUE(std::memcmp(&out[i], &ref_out[i], sizeof(float)) == 0 || (std::isnan(out[i]) && std::isnan(ref_out[i])))
                    << "seed " << seed << " " << kv_type_name(ty) << " d=" << d << " scen=" << scen << " gathered=" << gathered
                    << " mode=" << mode << " i=" << i << ": " << out[i] << " vs " << ref_out[i];
            }
          }
          ++cases;
          if (scen == 3) continue;  // NaN: only the agreement between modes
          double vmax = 0;
          for (float x : v) vmax = std::max(vmax, double(std::fabs(x)));
          for (int h = 0; h < H; ++h) {
            const std::vector<double> o = attend64(q.data() + h * d, k, v, d, idx);
            double e = 0, amax = 0;
            for (int64_t j = 0; j < d; ++j) e = std::max(e, std::fabs(o[size_t(j)] - double(ref_out[size_t(h * d + j)])));
            for (int64_t t : idx) {
              double a = 0;
              for (int64_t j = 0; j < d; ++j) a += std::fabs(double(q[size_t(h * d + j)]) * k[size_t(t * d + j)]);
              amax = std::max(amax, a);
            }
            // as in AttendMultiMatchesFloat64: e^{2Δ} − 1 with Δ = γ_{d+2}·max Σ|q·k|, + 1e-4 (exp, n-term sums)
            const double tol = (std::expm1(2 * gamma_n(d + 2) * amax) + 1e-4) * vmax;
            EXPECT_LE(e, tol) << "seed " << seed << " " << kv_type_name(ty) << " d=" << d << " scen=" << scen
                              << " gathered=" << gathered << " n=" << n << " h=" << h;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 3 * 3 * 6 * 2);
}

TEST(CpuFast, AttendWithinAprioriBound) {
  // cpu::attend (vectorised score sums and running-mean updates) against float64 attention
  for (int scen = 0; scen < 3; ++scen) {
    Rng rng(uint64_t(500 + scen));
    const int64_t d = 128, n = rng.integer(1, 900);
    std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d)), q(static_cast<size_t>(d));
    sound::gen_rows(scen == 1 ? Gen::heavy : Gen::gauss, rng, k.data(), n, d, d);
    sound::gen_rows(scen == 2 ? Gen::outlier : Gen::gauss, rng, v.data(), n, d, d);
    for (auto& x : q) x = float(rng.normal() * (scen == 1 ? 0.05 : 0.4));
    std::vector<int64_t> idx;
    for (int64_t t = 0; t < n; ++t)
      if (rng.uniform() < 0.7 || t == 0) idx.push_back(t);
    AttnOut ao;
    cpu::attend(q.data(), k.data(), v.data(), d, d, idx.data(), int64_t(idx.size()), ao);
    const std::vector<double> o = attend64(q.data(), k, v, d, idx);
    double e2 = 0;
    for (int64_t j = 0; j < d; ++j) e2 += (o[size_t(j)] - ao.out[size_t(j)]) * (o[size_t(j)] - ao.out[size_t(j)]);
    EXPECT_LE(std::sqrt(e2), ao.num_err_bound) << "scen " << scen;
    for (size_t x = 0; x < idx.size(); ++x)
      EXPECT_LE(ao.s_lo[x], sound::true_score(q.data(), k.data() + idx[x] * d, d, 1.0)) << "scen " << scen << " x " << x;
  }
}

TEST(CpuFast, FallbackPredictor) {
  cpu::FallbackPredictor p;
  p.record_bytes = 66;
  p.kv_bytes = 512;
  EXPECT_TRUE(p.use_witness());  // no observation yet
  p.observe(0.05);
  EXPECT_TRUE(p.use_witness());
  EXPECT_NEAR(p.predicted_ratio(), (66 + 0.05 * 512) / 512, 1e-12);
  for (int i = 0; i < 20; ++i) p.observe(0.95);  // elimination collapsed: the scan cannot pay
  EXPECT_GT(p.predicted_ratio(), 1.0);
  int witness = 0;
  const int steps = 4000;
  for (int i = 0; i < steps; ++i) witness += p.use_witness();
  EXPECT_GE(witness, 1);  // probes keep the estimate current ...
  EXPECT_LE(witness, 12);  // ... with back-off: at most ~log2(1024/16) + steps/1024 of them
  // a measured time ratio overrides a byte prediction that looks good
  cpu::FallbackPredictor t;
  t.record_bytes = 38;
  t.kv_bytes = 512;
  t.observe(0.05);
  EXPECT_TRUE(t.use_witness());
  t.observe_time_ratio(3.0);
  EXPECT_FALSE(t.use_witness());
  // and elimination recovering brings the witness path back at the next probe
  cpu::FallbackPredictor r;
  r.record_bytes = 66;
  r.kv_bytes = 512;
  r.observe(1.0);
  int first = -1;
  for (int i = 0; i < 100 && first < 0; ++i)
    if (r.use_witness()) {
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      r.observe(0.01);
      if (r.use_witness()) first = i;
    }
  EXPECT_GE(first, 0);
}

// The integer scan (cpu::QuantScanI16, docs/math.md §4.2b): zero violations against the compensated true
// score on every generator; never below ref:: (beyond float64 noise) and above it by at most the float32
// slack plus the weight-rounding term D ≤ s·Σ(2^b − 1) ≤ 2^-13·max|w32|·Σ(2^b − 1); the same bound for a
// token whatever span scans it; the float variant is the double bound rounded up. Specs the integer plan
// does not cover (widths 3, 5, 6, 7, misaligned runs) and non-finite weights (Gen::huge) take the float32
// scan: the test counts that the integer path really ran on the others.
TEST(CpuFast, QuantI16SoundAndCloseToRef) {
  const char* specs[] = {"8", "4", "8x16,4x48,2x64", "3x5,5x7,7x9,2", "1", "6x3,8x5,4", "2", "8x8,0x8,4"};
  const int64_t groups[] = {0, 64, 1, 7};
  const Gen gens[] = {Gen::gauss, Gen::outlier, Gen::huge, Gen::ties, Gen::grid, Gen::zeros, Gen::heavy};
  int64_t checked = 0, bad = 0, integer_runs = 0;
  for (int64_t d : {128, 96, 64, 24}) {
    for (const char* spec : specs) {
      for (int64_t G : groups) {
        for (Gen gen : gens) {
          Rng rng(uint64_t(d * 1000 + G * 7 + int(gen) * 13 + std::string(spec).size() + 5));
          const int64_t n = rng.integer(1, 150);
          std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
          sound::gen_rows(gen, rng, k.data(), n, d, d);
          sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
          const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
          BitSpec bits;
          try {
            bits = parse_bits(spec, d);
          } catch (const Error&) {
            continue;
          }
          const int64_t seal = rng.integer(1, n);
          const QuantRecords rec = build_quant(b, bits, G, seal, k.data(), v.data(), n, d);
          const int H = 4;
          auto qs = make_queries(gen, rng, k, n, d, H);
          std::vector<QuantQuery> pq(H);
          std::vector<const QuantQuery*> pp(H);
          for (int h = 0; h < H; ++h) pq[size_t(h)] = prepare_quant_query(b, rec, qs[size_t(h)].data()), pp[size_t(h)] = &pq[size_t(h)];
          double sum_b = 0;
          for (int64_t j = 0; j < d; ++j) sum_b += double((1 << bits.bits[size_t(j)]) - 1);
          cpu::QuantScanI16 scan(rec, pp.data(), H);
          integer_runs += scan.integer();
          std::vector<std::vector<double>> full(H, std::vector<double>(static_cast<size_t>(n))), plain(full);
          {
            std::vector<double*> p(H), q(H);
            for (int h = 0; h < H; ++h) p[size_t(h)] = full[size_t(h)].data(), q[size_t(h)] = plain[size_t(h)].data();
            scan.bounds(0, n, p.data());
            // vpdpwssd (AVX-VNNI, where present) and vpmaddwd + vpaddd: the same exact integers
            const bool prev = cpu::set_use_vnni(false);
            cpu::QuantScanI16(rec, pp.data(), H).bounds(0, n, q.data());
            cpu::set_use_vnni(prev);
            for (int h = 0; h < H; ++h)
              for (int64_t t = 0; t < n; ++t)
                if (!(full[size_t(h)][size_t(t)] == plain[size_t(h)][size_t(t)]) &&
                    !(std::isnan(full[size_t(h)][size_t(t)]) && std::isnan(plain[size_t(h)][size_t(t)])))
                  ADD_FAILURE() << "d=" << d << " spec=" << spec << " t=" << t << " " << cpu::quant_i16_isa() << " "
                                << full[size_t(h)][size_t(t)] << " != avx2 " << plain[size_t(h)][size_t(t)];
          }
          for (int rep = 0; rep < 3; ++rep) {
            const int64_t t0 = rep == 0 ? 0 : rng.integer(0, n - 1);
            const int64_t t1 = rep == 0 ? n : rng.integer(t0 + 1, n);
            std::vector<std::vector<double>> ub(H, std::vector<double>(static_cast<size_t>(t1 - t0))), ur(ub);
            std::vector<std::vector<float>> uf(H, std::vector<float>(static_cast<size_t>(t1 - t0)));
            std::vector<double*> p(H);
            std::vector<float*> pf(H);
            for (int h = 0; h < H; ++h) p[size_t(h)] = ub[size_t(h)].data(), pf[size_t(h)] = uf[size_t(h)].data();
            cpu::quant_bounds_multi_i16(rec, pp.data(), H, t0, t1, p.data());
            scan.bounds(t0, t1, pf.data());
            for (int h = 0; h < H; ++h) {
              ref::quant_bounds(rec, pq[size_t(h)], t0, t1, ur[size_t(h)].data());
              const std::string ctx = cat("d=", d, " spec=", spec, " G=", G, " gen=", sound::gen_name(gen), " h=", h,
                                          " [", t0, ",", t1, ")");
              bad += violations(ub[size_t(h)].data(), qs[size_t(h)].data(), k.data(), b.mu.data(), d, t0, t1);
              for (int64_t t = t0; t < t1; ++t) {
                const size_t x = size_t(t - t0);
                const int64_t g = rec.group_of[size_t(t)];
                const double slack = pq[size_t(h)].add32[size_t(g)] - pq[size_t(h)].add[size_t(g)];
                double M = 0;
                for (int64_t j = 0; j < d; ++j)
                  if (bits.bits[size_t(j)] > 0) M = std::max(M, std::fabs(double(pq[size_t(h)].w32[size_t(g * d + j)])));
                const double D = M * 0x1p-13 * sum_b;
                const double a = ub[size_t(h)][x], r = ur[size_t(h)][x];
                ++checked;
                if (!(a == full[size_t(h)][size_t(t)]))
                  ADD_FAILURE() << ctx << " t=" << t << " span bound " << a << " != full-range bound " << full[size_t(h)][size_t(t)];
                if (!(a >= r - 1e-9 * (std::fabs(r) + slack) && a <= r + 2 * slack + D + 1e-9 * std::fabs(r) + 1e-300) && !(a == r))
                  ADD_FAILURE() << ctx << " t=" << t << " i16=" << a << " ref=" << r << " slack=" << slack << " D=" << D;
                const float f = uf[size_t(h)][x];
                if (!(double(f) >= a) || (std::isfinite(a) && f != f32_round_up(a)))
                  ADD_FAILURE() << ctx << " t=" << t << " float bound " << f << " vs " << a;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 10000);
  if (std::string(cpu::simd_level()) == "avx2") {
    EXPECT_GT(integer_runs, 100);
  }
  std::printf("[quant i16] multiply-accumulate: %s\n", cpu::quant_i16_isa());
}

// The group-at-once query preparation equals the per-head one bit for bit.
TEST(CpuFast, PrepareQuantQueriesEqualsPerHead) {
  int64_t compared = 0;
  for (int64_t d : {128, 64, 24}) {
    for (const char* spec : {"8", "4", "8x16,4x48,2x64", "3x5,5x7,7x9,2"}) {
      for (int64_t G : {0, 64, 7}) {
        Rng rng(uint64_t(d * 17 + G + std::string(spec).size()));
        const int64_t n = rng.integer(1, 300);
        std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
        sound::gen_rows(Gen::outlier, rng, k.data(), n, d, d);
        sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
        const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
        BitSpec bits;
        try {
          bits = parse_bits(spec, d);
        } catch (const Error&) {
          continue;
        }
        const QuantRecords rec = build_quant(b, bits, G, n, k.data(), v.data(), n, d);
        for (int H : {1, 4, 5}) {
          auto qs = make_queries(Gen::gauss, rng, k, n, d, H);
          std::vector<const double*> qp(static_cast<size_t>(H));
          for (int h = 0; h < H; ++h) qp[size_t(h)] = qs[size_t(h)].data();
          const int64_t n_seen = rng.integer(1, n);
          for (bool w32 : {true, false}) {
            std::vector<QuantQuery> out(static_cast<size_t>(H));
            cpu::prepare_quant_queries(b, rec, qp.data(), H, n_seen, w32, out.data());
            for (int h = 0; h < H; ++h) {
              const QuantQuery one = prepare_quant_query(b, rec, qs[size_t(h)].data(), n_seen);
              EXPECT_EQ(out[size_t(h)].qr, one.qr);
              EXPECT_EQ(out[size_t(h)].add, one.add);
              EXPECT_EQ(out[size_t(h)].add32, one.add32);
              if (w32) EXPECT_EQ(out[size_t(h)].w32, one.w32);
              else EXPECT_TRUE(out[size_t(h)].w32.empty());
              ++compared;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

// The vectorised anchor scan (cpu::anchor_bounds_multi; AVX2 blend + FMA chains): zero violations against
// the compensated true score of every member, the multi-head call equal to the per-head one, above ref::
// (beyond float64 noise) and within twice the scalar body's distance to ref:: (both inside the float32
// slack of src/core/anchor.cc).
TEST(CpuFast, AnchorMultiSoundAndCloseToRef) {
  int64_t pairs = 0, bad = 0, vec = 0;
  const Gen gens[] = {Gen::gauss, Gen::outlier, Gen::huge, Gen::ties, Gen::grid, Gen::zeros, Gen::heavy, Gen::lowrank};
  for (int64_t d : {128, 64, 24, 8}) {
    for (Gen gen : gens) {
      Rng rng(uint64_t(d * 7919 + int(gen) * 31));
      const int64_t n = rng.integer(1, 300);
      std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
      sound::gen_rows(gen, rng, k.data(), n, d, d);
      sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
      const Basis basis = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
      const int H = 4;
      auto qs = make_queries(gen, rng, k, n, d, H);
      for (auto& x : qs[3]) x = double(float(x * 1e-40));  // tiny (subnormal in float32)
      std::vector<const double*> qp(H);
      for (int h = 0; h < H; ++h) qp[size_t(h)] = qs[size_t(h)].data();
      for (AnchorKind kind : {AnchorKind::page, AnchorKind::kmeans})
        for (AnchorBound bound : {AnchorBound::box, AnchorBound::ball})
          for (AnchorSpace space : {AnchorSpace::orig, AnchorSpace::rot}) {
            AnchorParams p;
            p.kind = kind, p.bound = bound, p.space = space;
            p.page = rng.integer(1, 20), p.clusters = rng.integer(1, 12), p.iterations = 3, p.seed = 5;
            const AnchorSet as = build_anchors(p, basis, k.data(), v.data(), n, d);
            const int64_t na = as.n_anchors;
            const int64_t a0 = rng.integer(0, na - 1), a1 = na;
            std::vector<std::vector<double>> um(H, std::vector<double>(static_cast<size_t>(a1 - a0))), u1(um), us(um), ur(um);
            std::vector<double*> pm(H);
            for (int h = 0; h < H; ++h) pm[size_t(h)] = um[size_t(h)].data();
            cpu::anchor_bounds_multi(as, basis, qp.data(), H, a0, a1, pm.data());
            for (int h = 0; h < H; ++h) {
              cpu::anchor_bounds(as, basis, qp[size_t(h)], a0, a1, u1[size_t(h)].data());
              {
                ScalarGuard sg(true);
                cpu::anchor_bounds(as, basis, qp[size_t(h)], a0, a1, us[size_t(h)].data());
              }
              ref::anchor_bounds(as, basis, qp[size_t(h)], a0, a1, ur[size_t(h)].data());
            }
            vec += d % 8 == 0;
            for (int h = 0; h < H; ++h)
              for (int64_t a = a0; a < a1; ++a) {
                const size_t x = size_t(a - a0);
                const double m = um[size_t(h)][x], o = u1[size_t(h)][x], sc = us[size_t(h)][x], r = ur[size_t(h)][x];
                const std::string ctx = cat("d=", d, " gen=", sound::gen_name(gen), " ", anchor_kind_name(kind), "/",
                                            anchor_bound_name(bound), "/", anchor_space_name(space), " h=", h, " a=", a);
                if (!(m == o)) ADD_FAILURE() << ctx << " multi " << m << " != single " << o;
                if (std::isfinite(r)) {
                  const double tol = 2 * std::fabs(sc - r) + 1e-9 * std::fabs(r) + 1e-300;
                  if (!(m >= r - 1e-9 * std::fabs(r) - 1e-300) || !(std::fabs(m - sc) <= tol))
                    ADD_FAILURE() << ctx << " avx " << m << " scalar " << sc << " ref " << r;
                }
                for (int64_t mm = as.member_start[size_t(a)]; mm < as.member_start[size_t(a + 1)]; ++mm) {
                  const int64_t t = as.members[size_t(mm)];
                  if (sound::bound_minus_truth(m, qp[size_t(h)], k.data() + t * d, basis.mu.data(), d).sign() < 0) ++bad;
                  ++pairs;
                }
              }
          }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(pairs, 10000);
  EXPECT_GT(vec, 0);
}

// A head's integer-scan bound does not depend on the other heads scanned with it (1 to 9 heads per call:
// the four-head kernel, the smaller ones and several blocks of four).
TEST(CpuFast, QuantI16HeadsIndependent) {
  // d 96: three 32-component nibble chunks (the vector half-step gather of the weight build), and specs
  // whose lanes outnumber the components (F16 > d: the generic gather, lanes of no component)
  for (const char* spec : {"8", "4", "8x16,4x48,2x64", "8x8,0x8,4", "2", "8x16,4x48,2"}) {
    for (int64_t G : {0, 64}) {
     for (int64_t d : {128, 96}) {
      BitSpec bs;
      try {
        bs = parse_bits(spec, d);
      } catch (const Error&) {
        continue;
      }
      const int64_t n = 300;
      Rng rng(uint64_t(G + std::string(spec).size() * 31));
      std::vector<float> k(static_cast<size_t>(n * d)), v(static_cast<size_t>(n * d));
      sound::gen_rows(Gen::heavy, rng, k.data(), n, d, d);
      sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
      const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
      const QuantRecords rec = build_quant(b, bs, G, n, k.data(), v.data(), n, d);
      const int H = 9;
      auto qs = make_queries(Gen::heavy, rng, k, n, d, H);
      std::vector<QuantQuery> pq(H);
      std::vector<const QuantQuery*> pp(H);
      for (int h = 0; h < H; ++h) pq[size_t(h)] = prepare_quant_query(b, rec, qs[size_t(h)].data()), pp[size_t(h)] = &pq[size_t(h)];
      std::vector<std::vector<float>> one(H, std::vector<float>(static_cast<size_t>(n)));
      for (int h = 0; h < H; ++h) {
        float* p = one[size_t(h)].data();
        cpu::quant_bounds_multi_i16(rec, pp.data() + h, 1, 0, n, &p);
      }
      for (int hn : {2, 3, 4, 5, 8, 9}) {
        std::vector<std::vector<float>> many(hn, std::vector<float>(static_cast<size_t>(n)));
        std::vector<float*> p(hn);
        for (int h = 0; h < hn; ++h) p[size_t(h)] = many[size_t(h)].data();
        cpu::quant_bounds_multi_i16(rec, pp.data(), hn, 0, n, p.data());
        for (int h = 0; h < hn; ++h)
          for (int64_t t = 0; t < n; ++t)
            if (!(many[size_t(h)][size_t(t)] == one[size_t(h)][size_t(t)]))
              ADD_FAILURE() << "spec=" << spec << " d=" << d << " G=" << G << " heads=" << hn << " h=" << h << " t=" << t
                            << ": " << many[size_t(h)][size_t(t)] << " vs alone " << one[size_t(h)][size_t(t)];
      }
     }
    }
  }
}
