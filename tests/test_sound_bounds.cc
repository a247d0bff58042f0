// Soundness acceptance tests of the token witnesses and their bounds (DESIGN §4.1, §4.1b, §4.5):
// for every token t and query q, ref:: and cpu:: bounds must satisfy UB'_t ≥ q·(k_t − μ), with the
// truth evaluated by compensated arithmetic on the stored inputs (k, μ float32; q float64) and
// compared with ZERO tolerance (sign of ub − truth as an error-free compensated sum).
// cpu:: must also stay close to ref:: (within the float32 slack that prepare_*_query derives).
// Inputs: several distributions (tests/test_sound_util.h), every basis, storage, bit spec, group
// size, residual block count, and the awkward sizes d ∈ {1,2,3,64,127,128,129},
// n ∈ {1,2,5,67,257}; plus inputs built to make the bounds nearly tight through float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ghostkv/attention.h"
#include "ghostkv/basis.h"
#include "ghostkv/bound.h"
#include "ghostkv/half.h"
#include "ghostkv/witness.h"
#include "test_expect_error.h"
#include "test_sound_util.h"

using namespace ghostkv;
using sound::Acc;
using sound::cat;
using sound::Gen;
using sound::Fails;
using sound::Rng;

namespace {

constexpr int64_t kDims[] = {1, 2, 3, 64, 127, 128, 129};
constexpr int64_t kNs[] = {1, 2, 5, 67, 257};
constexpr BasisKind kBases[] = {BasisKind::pca, BasisKind::orth, BasisKind::gauss, BasisKind::identity};
constexpr Storage kStorages[] = {Storage::f32, Storage::f16, Storage::bf16, Storage::int8};
constexpr int64_t kGroups[] = {0, 1, 7, 64};

std::string mixed_spec(int64_t d) {
  if (d == 128) return "8x16,4x48,2x64";
  if (d > 64) return "8x16,4x48,2";
  if (d >= 3) return cat("8x", d / 3, ",4x", d / 3, ",2");
  if (d == 2) return "8x1,4";
  return "3";
}

// Per-token check of one bound array against the truth; `path` names ref/cpu in messages.
void check_tokens(const char* path, const std::string& ctx, const double* ub, const double* q, const float* keys,
                  int64_t stride, const float* mu, int64_t d, int64_t t0, int64_t t1, Fails& f) {
  for (int64_t t = t0; t < t1; ++t) {
    const double u = ub[t - t0];
    if (std::isnan(u)) {
      f.add(cat(path, " NaN bound: ", ctx, " token ", t));
      continue;
    }
    if (u == INFINITY) continue;
    const Acc diff = sound::bound_minus_truth(u, q, keys + t * stride, mu, d);
    if (diff.sign() < 0) {
      const Acc tr = sound::centred_score(q, keys + t * stride, mu, d);
      f.add(cat(path, " VIOLATION: ", ctx, " token ", t, " ub=", u, " truth=", tr.value(), " (ub-truth=",
                diff.value(), ")"));
    }
  }
}

// Exact z = Pᵀ(k − μ) (compensated), for the record checks.
std::vector<double> exact_proj(const Basis& b, int64_t rows, const float* k) {
  const int64_t d = b.d_head;
  std::vector<double> z(rows);
  for (int64_t j = 0; j < rows; ++j) {
    std::vector<double> qj(d);
    for (int64_t i = 0; i < d; ++i) qj[i] = double(b.row(j)[i]);
    z[j] = sound::centred_score(qj.data(), k, b.mu.data(), d).value();
  }
  return z;
}

struct LowrankCase {
  int64_t d = 0, n = 0, r = 0, blocks = 1, n_fit = 0;
  BasisKind basis = BasisKind::pca;
  Storage storage = Storage::f32;
  Gen dist = Gen::gauss;
  uint64_t seed = 0;
  std::string str() const {
    return cat("lowrank seed=", seed, " d=", d, " n=", n, " r=", r, " B=", blocks, " basis=", basis_kind_name(basis),
               " storage=", storage_name(storage), " dist=", sound::gen_name(dist), " n_fit=", n_fit);
  }
};

// Runs one low-rank case: record checks, then bounds of n_query queries (+ residual-aligned ones).
int64_t run_lowrank_case(const LowrankCase& c, int64_t n_query, Fails& f) {
  Rng rng(c.seed);
  const int64_t d = c.d, n = c.n;
  std::vector<float> k(size_t(n * d)), v(size_t(n * d));
  sound::gen_rows(c.dist, rng, k.data(), n, d, d);
  sound::gen_rows(Gen::gauss, rng, v.data(), n, d, d);
  const Basis b = fit_basis(c.basis, k.data(), c.n_fit, d, d, c.r, c.seed);
  const LowRankRecords rec = build_lowrank(b, c.r, c.blocks, c.storage, k.data(), v.data(), n, d);
  const std::string ctx = c.str();
  // ---- record checks (diagnostic: the stored terms must dominate what they stand for) ----
  // (a subset of ≤ ~40 tokens per case: the compensated projections cost O(d²) per token)
  std::vector<std::vector<double>> res(static_cast<size_t>(n), std::vector<double>(d));
  std::vector<int64_t> checked;
  const int64_t t_step = std::max<int64_t>(1, n / 40);
  for (int64_t t = 0; t < n; t += (t + t_step < n ? t_step : std::max<int64_t>(1, n - 1 - t))) {
    checked.push_back(t);
    const float* kt = k.data() + t * d;
    const std::vector<double> z = exact_proj(b, c.r, kt);
    double e2 = 0, r2 = 0;
    for (int64_t j = 0; j < c.r; ++j) {
      const double zh = rec.sketch[size_t(t * c.r + j)];
      if (c.storage == Storage::int8) {
        const double want = double(f16_to_f32(rec.scale[size_t(t)])) * rec.codes[size_t(t * c.r + j)];
        if (zh != want) f.add(cat("int8 sketch != scale*code: ", ctx, " t=", t, " j=", j));
      }
      e2 += (z[j] - zh) * (z[j] - zh);
    }
    for (int64_t i = 0; i < d; ++i) {
      double x = double(kt[i]) - double(b.mu[i]);
      for (int64_t j = 0; j < c.r; ++j) x -= z[j] * double(b.row(j)[i]);
      res[size_t(t)][i] = x;
      r2 += x * x;
    }
    const double e = f16_to_f32(rec.e[size_t(t)]);
    if (!(e >= std::sqrt(e2) * (1 - 1e-9))) f.add(cat("stored e below ||z-zhat||: ", ctx, " t=", t, " e=", e, " actual=", std::sqrt(e2)));
    if (c.blocks == 1) {
      const double rho = f16_to_f32(rec.rho[size_t(t)]);
      if (!(rho >= std::sqrt(r2) * (1 - 1e-9) - 1e-300))
        f.add(cat("stored rho below ||r||: ", ctx, " t=", t, " rho=", rho, " actual=", std::sqrt(r2)));
    }
    double vn = 0;
    for (int64_t i = 0; i < d; ++i) vn += double(v[size_t(t * d + i)]) * v[size_t(t * d + i)];
    if (!(double(f16_to_f32(rec.nu[size_t(t)])) >= std::sqrt(vn))) f.add(cat("stored nu below ||v||: ", ctx, " t=", t));
  }
  // ---- bounds ----
  const double sigma = 1.0 / std::sqrt(double(d));
  std::vector<float> qraw(size_t(n_query * d));
  sound::gen_queries(c.dist, rng, k.data(), n, d, qraw.data(), n_query, d, d);
  std::vector<std::vector<double>> queries;
  for (int64_t i = 0; i < n_query; ++i) {
    std::vector<double> q(d);
    for (int64_t j = 0; j < d; ++j) q[j] = sigma * double(qraw[size_t(i * d + j)]);
    queries.push_back(q);
  }
  // Cauchy–Schwarz equality: q ∝ a token's residual direction (plus a part in span P)
  for (int64_t x = 0; x < 2 && n > 0; ++x) {
    const int64_t t = rng.pick(checked);
    const double rn = sound::norm2(res[size_t(t)].data(), d);
    if (!(rn > 0)) continue;
    std::vector<double> q(d);
    const double beta = rng.uniform(0.5, 4.0) * (c.dist == Gen::huge ? 1e-5 : 1.0);
    const double alpha = x == 0 ? 0.0 : rng.uniform(-1, 1) * beta;
    for (int64_t i = 0; i < d; ++i) q[i] = beta * res[size_t(t)][i] / rn + alpha * double(b.row(0)[i]);
    queries.push_back(q);
  }
  int64_t pairs = 0;
  std::vector<double> ub_ref(static_cast<size_t>(n)), ub_cpu(static_cast<size_t>(n));
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const double* q = queries[qi].data();
    const LowRankQuery pq = prepare_lowrank_query(b, rec, q);
    // half the time a sub-range [t0, t1): offsets must be handled
    int64_t t0 = 0, t1 = n;
    if (qi % 2 == 1 && n > 2) {
      t0 = rng.integer(0, n - 1);
      t1 = rng.integer(t0 + 1, n);
    }
    ref::lowrank_bounds(rec, pq, t0, t1, ub_ref.data());
    cpu::lowrank_bounds(rec, pq, t0, t1, ub_cpu.data());
    const std::string qctx = cat(ctx, " query=", qi);
    check_tokens("ref", qctx, ub_ref.data(), q, k.data(), d, b.mu.data(), d, t0, t1, f);
    check_tokens("cpu", qctx, ub_cpu.data(), q, k.data(), d, b.mu.data(), d, t0, t1, f);
    // cpu vs ref: cpu ≥ ref − (float64 noise), cpu − ref ≤ 2·slack32 + the upward roundings of
    // ||q_s|| and the block coefficients to float32 (≤ 2u relative on those terms) + float64 noise.
    double qb_sum = 0;
    for (double x : pq.qb) qb_sum += x;
    const double scale = pq.nqs * (rec.zhat_max + rec.e_max) + qb_sum * rec.rho_max + std::fabs(pq.const_term);
    for (int64_t t = t0; t < t1; ++t) {
      const double r = ub_ref[size_t(t - t0)], u = ub_cpu[size_t(t - t0)];
      if (r == INFINITY) {
        if (u != INFINITY) f.add(cat("ref=+inf but cpu finite: ", qctx, " t=", t, " cpu=", u));
        continue;
      }
      if (u == INFINITY) {
        if (std::isfinite(scale)) f.add(cat("cpu=+inf but ref finite: ", qctx, " t=", t, " ref=", r));
        continue;
      }
      double terms = pq.nqs * f16_to_f32(rec.e[size_t(t)]);
      for (int64_t bb = 0; bb < c.blocks; ++bb) terms += pq.qb[size_t(bb)] * f16_to_f32(rec.rho[size_t(t * c.blocks + bb)]);
      const double noise = 0x1p-44 * scale;
      if (!(u >= r - noise)) f.add(cat("cpu below ref: ", qctx, " t=", t, " cpu=", u, " ref=", r));
      if (!(u - r <= 2 * pq.slack32 + 0x1p-21 * terms + noise))
        f.add(cat("cpu far above ref: ", qctx, " t=", t, " cpu=", u, " ref=", r, " slack32=", pq.slack32));
    }
    pairs += t1 - t0;
  }
  return pairs;
}

struct QuantCase {
  int64_t d = 0, n = 0, group = 0, seal_at = 0, n_fit = 0;
  BasisKind basis = BasisKind::pca;
  std::string bits;
  Gen dist = Gen::gauss;
  uint64_t seed = 0;
  std::string str() const {
    return cat("quant seed=", seed, " d=", d, " n=", n, " bits=", bits, " G=", group, " seal_at=", seal_at,
               " basis=", basis_kind_name(basis), " dist=", sound::gen_name(dist), " n_fit=", n_fit);
  }
};

int64_t run_quant_case(const QuantCase& c, int64_t n_query, Fails& f) {
  Rng rng(c.seed);
  const int64_t d = c.d, n = c.n;
  std::vector<float> k(size_t(n * d)), v(size_t(n * d));
  sound::gen_rows(c.dist, rng, k.data(), n, d, d);
  sound::gen_rows(Gen::heavy, rng, v.data(), n, d, d);
  const Basis b = fit_basis(c.basis, k.data(), c.n_fit, d, d, d, c.seed);
  const BitSpec spec = parse_bits(c.bits, d);
  const QuantRecords rec = build_quant(b, spec, c.group, c.seal_at, k.data(), v.data(), n, d);
  const std::string ctx = c.str();
  // ---- record checks: groups, codes, and err ≥ |c − ĉ| from the dequantised values ----
  if (rec.group_start.front() != 0 || rec.group_start.back() != n) f.add(cat("group_start does not cover [0, n): ", ctx));
  for (int64_t g = 0; g < rec.n_groups; ++g) {
    const int64_t a = rec.group_start[size_t(g)], e = rec.group_start[size_t(g + 1)];
    if (e <= a && n > 0) f.add(cat("empty group: ", ctx, " g=", g));
    if (c.group > 0 && e - a > c.group) f.add(cat("group larger than G: ", ctx, " g=", g));
    if (a < c.seal_at && e > c.seal_at) f.add(cat("group straddles seal_at: ", ctx, " g=", g));
    for (int64_t t = a; t < e; ++t)
      if (rec.group_of[size_t(t)] != g) f.add(cat("group_of mismatch: ", ctx, " t=", t));
  }
  const int64_t t_step = std::max<int64_t>(1, n / 40);
  for (int64_t t = 0; t < n; t += (t + t_step < n ? t_step : std::max<int64_t>(1, n - 1 - t))) {
    const int64_t g = rec.group_of[size_t(t)];
    const std::vector<double> cx = exact_proj(b, d, k.data() + t * d);
    std::vector<float> row(d);
    rec.decode_row(t, row.data());
    for (int64_t j = 0; j < d; ++j) {
      const int m = rec.decode(t, j);
      const int bj = spec.bits[size_t(j)];
      if (double(m) != double(row[size_t(j)])) f.add(cat("decode != decode_row: ", ctx, " t=", t, " j=", j));
      if (bj == 0 ? m != 0 : (std::abs(m) > (1 << bj) - 1 || (m & 1) == 0))
        f.add(cat("code out of range: ", ctx, " t=", t, " j=", j, " m=", m));
      const double chat = double(f16_to_f32(rec.half_step[size_t(g * d + j)])) * m;
      const double err = f16_to_f32(rec.err[size_t(g * d + j)]);
      if (!(err >= std::fabs(cx[size_t(j)] - chat) * (1 - 1e-9)))
        f.add(cat("stored err below |c-chat|: ", ctx, " t=", t, " j=", j, " err=", err, " actual=", std::fabs(cx[size_t(j)] - chat)));
    }
  }
  // ---- bounds ----
  const double sigma = 1.0 / std::sqrt(double(d));
  std::vector<float> qraw(size_t(n_query * d));
  sound::gen_queries(c.dist, rng, k.data(), n, d, qraw.data(), n_query, d, d);
  int64_t pairs = 0;
  std::vector<double> ub_ref(static_cast<size_t>(n)), ub_cpu(static_cast<size_t>(n)), q(d);
  for (int64_t qi = 0; qi < n_query; ++qi) {
    for (int64_t j = 0; j < d; ++j) q[j] = sigma * double(qraw[size_t(qi * d + j)]);
    const QuantQuery pq = prepare_quant_query(b, rec, q.data());
    int64_t t0 = 0, t1 = n;
    if (qi % 2 == 1 && n > 2) {
      t0 = rng.integer(0, n - 1);
      t1 = rng.integer(t0 + 1, n);
    }
    ref::quant_bounds(rec, pq, t0, t1, ub_ref.data());
    cpu::quant_bounds(rec, pq, t0, t1, ub_cpu.data());
    const std::string qctx = cat(ctx, " query=", qi);
    check_tokens("ref", qctx, ub_ref.data(), q.data(), k.data(), d, b.mu.data(), d, t0, t1, f);
    check_tokens("cpu", qctx, ub_cpu.data(), q.data(), k.data(), d, b.mu.data(), d, t0, t1, f);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t g = rec.group_of[size_t(t)];
      const double r = ub_ref[size_t(t - t0)], u = ub_cpu[size_t(t - t0)];
      if (r == INFINITY || u == INFINITY) {
        if (r == INFINITY && u != INFINITY) f.add(cat("ref=+inf but cpu finite: ", qctx, " t=", t));
        continue;
      }
      const double noise = 0x1p-44 * (std::fabs(r) + pq.add[size_t(g)]);
      if (!(u >= r - noise)) f.add(cat("cpu below ref: ", qctx, " t=", t, " cpu=", u, " ref=", r));
      if (!(u - r <= 2 * (pq.add32[size_t(g)] - pq.add[size_t(g)]) + noise))
        f.add(cat("cpu far above ref: ", qctx, " t=", t, " cpu=", u, " ref=", r));
    }
    pairs += t1 - t0;
  }
  return pairs;
}

}  // namespace

// Every (d, n) of the awkward sizes, several random configurations each, both witnesses.
TEST(SoundBounds, AwkwardSizesAllConfigs) {
  Fails f;
  constexpr int64_t kReps = 6, nd = std::size(kDims), nn = std::size(kNs);
  const int64_t pairs = sound::parallel_cases(nd * nn * kReps, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const int64_t d = kDims[ci / (nn * kReps)], n = kNs[(ci / kReps) % nn];
    const uint64_t seed = 1000 + uint64_t(ci);
    Rng rng(seed);
    LowrankCase c;
    c.seed = seed;
    c.d = d;
    c.n = n;
    c.basis = kBases[(seed / 3) % 4];
    c.storage = kStorages[seed % 4];
    c.dist = sound::kAllGens[rng.integer(0, 7)];
    c.r = std::clamp<int64_t>(rng.pick(std::vector<int64_t>{1, d / 4, d / 2, d - 1, d}), 1, d);
    std::vector<int64_t> bl = {1};
    if (d - c.r >= 2) bl.push_back(2);
    if (d - c.r >= 8) bl.push_back(8);
    c.blocks = rng.pick(bl);
    c.n_fit = rng.integer(1, n);
    int64_t p = run_lowrank_case(c, d > 100 ? 6 : 12, fl);
    QuantCase qc;
    qc.seed = seed;
    qc.d = d;
    qc.n = n;
    qc.basis = kBases[(seed / 5) % 4];
    qc.dist = sound::kAllGens[rng.integer(0, 7)];
    qc.bits = rng.pick(std::vector<std::string>{"8", "4", "2", "1", "0", mixed_spec(d)});
    qc.group = kGroups[rng.integer(0, 3)];
    qc.seal_at = rng.integer(0, n);
    qc.n_fit = rng.integer(1, n);
    p += run_quant_case(qc, d > 100 ? 4 : 10, fl);
    return p;
  });
  sound::g_pairs += pairs;
  std::printf("[sound] awkward sizes: %lld cases, %lld (query, token) pairs\n", (long long)(2 * nd * nn * kReps),
              (long long)pairs);
  EXPECT_EQ(f.n, 0) << f.first;
}

// The full cross product of basis × storage × residual blocks (low rank) and basis × bit spec ×
// group size (quantized) on d = 64 and 128, every key distribution.
TEST(SoundBounds, AllBasesStoragesBitsGroups) {
  Fails f;
  std::vector<LowrankCase> lr;
  std::vector<QuantCase> qt;
  uint64_t seed = 50000;
  for (int64_t d : {64, 128}) {
    for (BasisKind bk : kBases) {
      for (Storage st : kStorages) {
        for (int64_t B : {1, 2, 8}) {
          LowrankCase c;
          c.seed = ++seed;
          c.d = d;
          c.n = 200;
          c.r = d == 64 ? 16 : 32;
          c.blocks = B;
          c.basis = bk;
          c.storage = st;
          c.dist = sound::kAllGens[seed % 8];
          c.n_fit = 150;
          lr.push_back(c);
        }
      }
      for (const std::string& bits : {std::string("8"), std::string("4"), std::string("2"), std::string("1"),
                                       std::string("0"), mixed_spec(d)}) {
        for (int64_t G : kGroups) {
          QuantCase c;
          c.seed = ++seed;
          c.d = d;
          c.n = 120;
          c.basis = bk;
          c.bits = bits;
          c.group = G;
          c.seal_at = 80 + int64_t(seed % 40);
          c.n_fit = c.seal_at;
          c.dist = sound::kAllGens[seed % 8];
          qt.push_back(c);
        }
      }
    }
  }
  const int64_t n_lr = int64_t(lr.size());
  const int64_t pairs = sound::parallel_cases(n_lr + int64_t(qt.size()), f, [&](int64_t ci, Fails& fl) -> int64_t {
    return ci < n_lr ? run_lowrank_case(lr[size_t(ci)], 8, fl) : run_quant_case(qt[size_t(ci - n_lr)], 3, fl);
  });
  sound::g_pairs += pairs;
  std::printf("[sound] bases x storages x blocks, bases x bits x groups: %zu + %zu cases, %lld pairs\n", lr.size(),
              qt.size(), (long long)pairs);
  EXPECT_EQ(f.n, 0) << f.first;
}

// Keys exactly in the span of P (identity basis, f32 storage: ẑ = z exactly, ρ ≈ 0 up to a tiny
// planted residual), queries that cancel inside q_s·ẑ (Σ|terms| ≫ |sum|: the float32 dot product's
// relative error is maximal) plus q_⊥ ∝ the token's residual (Cauchy–Schwarz equality). The only
// margin left is the slack of docs/math.md §4: the float32 path must still dominate.
TEST(SoundBounds, LowrankInSpanF32NearlyTight) {
  Fails f;
  double worst_gap = INFINITY;  // smallest (ub − truth)/Σ|q_s ẑ| seen at the target token
  const int64_t pairs = sound::parallel_cases(120, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = uint64_t(ci) + 1;
    int64_t pairs = 0;
    double gap_min = INFINITY;
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{3, 16, 64, 127, 128, 129});
    const int64_t r = std::clamp<int64_t>(rng.pick(std::vector<int64_t>{1, 2, d / 2, d - 9, d - 1}), 1, d - 1);
    std::vector<int64_t> bl = {1};
    if (d - r >= 2) bl.push_back(2);
    if (d - r >= 8) bl.push_back(8);
    const int64_t B = rng.pick(bl);
    const int64_t half = 40, n = 2 * half;
    const double scale = std::ldexp(1.0, int(rng.integer(-10, 30)));  // 2^-10 .. 2^30: exact grid
    std::vector<float> k(size_t(n * d), 0.0f), v(size_t(n * d), 1.0f);
    for (int64_t t = 0; t < half; ++t) {
      for (int64_t j = 0; j < r; ++j) k[size_t(t * d + j)] = float(double(rng.integer(-1000, 1000)) * scale);
      if (t % 3 == 0)  // a tiny residual for some tokens (exactly representable)
        for (int64_t j = r; j < d; ++j) k[size_t(t * d + j)] = float(double(rng.integer(-4, 4)) * scale * 0x1p-20);
      for (int64_t j = 0; j < d; ++j) k[size_t((t + half) * d + j)] = -k[size_t(t * d + j)];  // μ = 0 exactly
    }
    const Basis b = fit_basis(BasisKind::identity, k.data(), n, d, d, r, seed);
    for (float m : b.mu)
      if (m != 0.0f) {
        fl.add(cat("in-span seed=", seed, ": mu not exactly 0"));
        return 0;
      }
    const LowRankRecords rec = build_lowrank(b, r, B, Storage::f32, k.data(), v.data(), n, d);
    for (int qi = 0; qi < 24; ++qi) {
      const int64_t t = rng.integer(0, n - 1);
      const float* kt = k.data() + t * d;
      std::vector<double> q(d, 0.0);
      // q_s: random, then the component on the largest |z_j| cancels the rest (to float precision)
      int64_t jm = 0;
      for (int64_t j = 0; j < r; ++j) {
        q[j] = double(rng.integer(-1000, 1000)) / 997.0;
        if (std::fabs(kt[j]) > std::fabs(kt[jm])) jm = j;
      }
      if (kt[jm] != 0) {
        double s = 0;
        for (int64_t j = 0; j < r; ++j)
          if (j != jm) s += q[j] * kt[j];
        q[jm] = -s / kt[jm] + (qi % 2 ? 1e-7 : -1e-7) * std::fabs(q[jm]);
      }
      // q_⊥ ∝ residual of t (if any), else a random complement direction
      double rn = 0;
      for (int64_t j = r; j < d; ++j) rn += double(kt[j]) * kt[j];
      rn = std::sqrt(rn);
      const double beta = rng.uniform(0.1, 3.0);
      for (int64_t j = r; j < d; ++j) q[j] = rn > 0 ? beta * kt[j] / rn : beta * rng.normal() / std::sqrt(double(d - r));
      if (scale > 1e6)  // huge keys: keep scores far below the overflow limit
        for (auto& x : q) x *= 1e-6;
      const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
      std::vector<double> ubr(n), ubc(n);
      ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
      cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
      const std::string ctx = cat("in-span seed=", seed, " d=", d, " r=", r, " B=", B, " scale=", scale, " query=", qi,
                                  " target=", t);
      check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      double sabs = 0;
      for (int64_t j = 0; j < r; ++j) sabs += std::fabs(q[j] * kt[j]);
      if (sabs > 0 && std::isfinite(ubc[t])) {
        const Acc gap = sound::bound_minus_truth(ubc[t], q.data(), kt, b.mu.data(), d);
        gap_min = std::min(gap_min, gap.value() / sabs);
      }
      pairs += n;
    }
#pragma omp critical(sound_gap)
    worst_gap = std::min(worst_gap, gap_min);
    return pairs;
  });
  sound::g_pairs += pairs;
  std::printf("[sound] in-span nearly tight: %lld pairs, tightest cpu gap / sum|q_s z| = %.3g\n", (long long)pairs,
              worst_gap);
  EXPECT_EQ(f.n, 0) << f.first;
  // the construction must actually reach the float32 regime (otherwise it tests nothing)
  EXPECT_LT(worst_gap, 1e-4);
}

// Rotated quantized witness made tight: identity rotation, one token per group (G = 1), query
// signs aligned with the token's quantization error (Hölder equality in Σ|q_rj|·err_j), large
// codes to stress the float32 dot product. Also keys exactly on the grid (zero error) with G = 0.
TEST(SoundBounds, QuantGridNearlyTight) {
  Fails f;
  double worst_gap = INFINITY;
  const int64_t pairs = sound::parallel_cases(80, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = uint64_t(ci) + 1;
    int64_t pairs = 0;
    double gap_min = INFINITY;
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{1, 2, 3, 64, 127, 128, 129});
    const std::string bits = rng.pick(std::vector<std::string>{"8", "4", "2", "1", mixed_spec(d)});
    const BitSpec spec = parse_bits(bits, d);
    const bool on_grid = seed % 2 == 0;
    const int64_t G = on_grid ? 0 : 1;
    const int64_t half = 48, n = 2 * half + 2;
    const double H = std::ldexp(1.0, int(rng.integer(-12, 12)));  // an f16-exact half step
    const std::string cctx = cat("quant tight seed=", seed, " d=", d, " bits=", bits, " G=", G, " H=", H);
    std::vector<float> k(size_t(n * d), 0.0f), v(size_t(n * d), 1.0f);
    for (int64_t t = 0; t < half; ++t) {
      for (int64_t j = 0; j < d; ++j) {
        const int bj = spec.bits[size_t(j)];
        double x;
        if (on_grid) {
          const int64_t qmax = (int64_t(1) << bj) - 1;  // odd multiples of H in [−qmax·H, qmax·H]
          x = bj == 0 ? 0.0 : H * double(2 * rng.integer(0, qmax) - qmax);
        } else {
          x = H * rng.uniform(-300, 300);
        }
        k[size_t(t * d + j)] = float(x);
        k[size_t((t + half) * d + j)] = float(-x);
      }
    }
    // the group maximum: 2^b·H in every component (sets h = H exactly); and its negative
    for (int64_t j = 0; j < d; ++j) {
      const double amax = std::ldexp(H, spec.bits[size_t(j)]);
      k[size_t((n - 2) * d + j)] = float(amax);
      k[size_t((n - 1) * d + j)] = float(-amax);
    }
    const Basis b = fit_basis(BasisKind::identity, k.data(), n, d, d, d, seed);
    for (float m : b.mu)
      if (m != 0.0f) {
        fl.add(cctx + ": mu not exactly 0");
        return 0;
      }
    const QuantRecords rec = build_quant(b, spec, G, n, k.data(), v.data(), n, d);
    if (on_grid) {
      for (int64_t j = 0; j < d; ++j)
        if (spec.bits[size_t(j)] > 0 && double(f16_to_f32(rec.half_step[size_t(j)])) != H)
          fl.add(cat(cctx, ": half step of component ", j, " is ", f16_to_f32(rec.half_step[size_t(j)])));
      for (int64_t t = 0; t < 2 * half; ++t)  // grid tokens reconstruct exactly
        for (int64_t j = 0; j < d; ++j)
          if (spec.bits[size_t(j)] > 0 && H * rec.decode(t, j) != double(k[size_t(t * d + j)]))
            fl.add(cat(cctx, ": grid token ", t, " component ", j, " not reconstructed exactly"));
    }
    for (int qi = 0; qi < 16; ++qi) {
      const int64_t t = rng.integer(0, n - 1);
      const int64_t g = rec.group_of[size_t(t)];
      std::vector<double> q(d);
      for (int64_t j = 0; j < d; ++j) {
        const double chat = double(f16_to_f32(rec.half_step[size_t(g * d + j)])) * rec.decode(t, j);
        const double e = double(k[size_t(t * d + j)]) - chat;
        const double w = rng.uniform(0.5, 2.0);
        q[j] = (e > 0 ? w : e < 0 ? -w : (rng.integer(0, 1) ? w : -w));
      }
      const QuantQuery pq = prepare_quant_query(b, rec, q.data());
      std::vector<double> ubr(n), ubc(n);
      ref::quant_bounds(rec, pq, 0, n, ubr.data());
      cpu::quant_bounds(rec, pq, 0, n, ubc.data());
      const std::string ctx = cat(cctx, " query=", qi, " target=", t);
      check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      if (!on_grid) {
        double sabs = 0;
        for (int64_t j = 0; j < d; ++j) sabs += std::fabs(q[j] * k[size_t(t * d + j)]);
        const Acc gap = sound::bound_minus_truth(ubc[t], q.data(), k.data() + t * d, b.mu.data(), d);
        if (sabs > 0) gap_min = std::min(gap_min, gap.value() / sabs);
      }
      pairs += n;
    }
#pragma omp critical(sound_gap)
    worst_gap = std::min(worst_gap, gap_min);
    return pairs;
  });
  sound::g_pairs += pairs;
  std::printf("[sound] quant nearly tight: %lld pairs, tightest cpu gap / sum|q k| = %.3g\n", (long long)pairs, worst_gap);
  EXPECT_EQ(f.n, 0) << f.first;
  EXPECT_LT(worst_gap, 1e-2);
}

// Exact ties: every key identical (x_t = 0 for all t: truth 0), or drawn from a pool of 2.
TEST(SoundBounds, ExactTies) {
  Fails f;
  const int64_t pairs = sound::parallel_cases(24, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = uint64_t(ci) + 1;
    int64_t pairs = 0;
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{1, 3, 64, 129}), n = d > 100 ? 67 : 257;
    std::vector<float> k(size_t(n * d)), v(size_t(n * d), 0.5f), p0(d), p1(d);
    for (int64_t j = 0; j < d; ++j) {
      p0[j] = float(rng.normal() * (seed % 3 == 0 ? 1e4 : 1.0));
      p1[j] = float(rng.normal());
    }
    for (int64_t t = 0; t < n; ++t) {
      const auto& p = (seed % 2 == 0 || rng.integer(0, 1)) ? p0 : p1;
      std::copy(p.begin(), p.end(), k.begin() + t * d);
    }
    const int64_t nq = 4;
    std::vector<float> qraw(size_t(nq * d));
    sound::gen_queries(Gen::gauss, rng, k.data(), n, d, qraw.data(), nq, d, d);
    for (BasisKind bk : kBases) {
      const int64_t r = std::max<int64_t>(1, d / 4);
      const Basis b = fit_basis(bk, k.data(), n, d, d, r, seed);
      for (Storage st : kStorages) {
        const LowRankRecords rec = build_lowrank(b, r, 1, st, k.data(), v.data(), n, d);
        for (int64_t qi = 0; qi < nq; ++qi) {
          std::vector<double> q(d);
          for (int64_t j = 0; j < d; ++j) q[j] = double(qraw[size_t(qi * d + j)]) / std::sqrt(double(d));
          const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
          std::vector<double> ubr(n), ubc(n);
          ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
          cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
          const std::string ctx = cat("ties lowrank seed=", seed, " d=", d, " basis=", basis_kind_name(bk),
                                      " storage=", storage_name(st), " query=", qi);
          check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
          check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
          pairs += n;
        }
      }
      const Basis bq = fit_basis(bk, k.data(), n, d, d, d, seed);
      for (const std::string bits : {"8", "1", "0"}) {
        const QuantRecords rec = build_quant(bq, parse_bits(bits, d), seed % 2 ? 7 : 0, n / 2, k.data(), v.data(), n, d);
        for (int64_t qi = 0; qi < nq; ++qi) {
          std::vector<double> q(d);
          for (int64_t j = 0; j < d; ++j) q[j] = double(qraw[size_t(qi * d + j)]) / std::sqrt(double(d));
          const QuantQuery pq = prepare_quant_query(bq, rec, q.data());
          std::vector<double> ubr(n), ubc(n);
          ref::quant_bounds(rec, pq, 0, n, ubr.data());
          cpu::quant_bounds(rec, pq, 0, n, ubc.data());
          const std::string ctx = cat("ties quant seed=", seed, " d=", d, " basis=", basis_kind_name(bk), " bits=", bits,
                                      " query=", qi);
          check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
          check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
          pairs += n;
        }
      }
    }
    return pairs;
  });
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

// Huge norms: keys at 1e3..1e12 with small queries (scores stay finite), f16 sketch overflow
// (|z| > 65504: the stored sketch saturates, e must absorb it or become +inf), a key (nearly)
// equal to μ.
TEST(SoundBounds, HugeNormsF16Overflow) {
  Fails f;
  int64_t pairs = sound::parallel_cases(40, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = uint64_t(ci) + 1;
    int64_t pairs = 0;
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{2, 3, 64, 128}), n = 67;
    const double kscale = std::pow(10.0, rng.uniform(3, 12));
    std::vector<float> k(size_t(n * d)), v(size_t(n * d), 1.0f);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < d; ++j) k[size_t(t * d + j)] = float(kscale * rng.normal() * (j < 2 ? 1.0 : 1e-3));
    for (int64_t j = 0; j < d; ++j) {  // the last key ≈ the mean of the others (≈ μ)
      double s = 0;
      for (int64_t t = 0; t < n - 1; ++t) s += k[size_t(t * d + j)];
      k[size_t((n - 1) * d + j)] = float(s / double(n - 1));
    }
    for (BasisKind bk : kBases) {
      const int64_t r = std::max<int64_t>(1, d / 2);
      const Basis b = fit_basis(bk, k.data(), n, d, d, r, seed);
      const Basis bq = fit_basis(bk, k.data(), n, d, d, d, seed);
      for (Storage st : kStorages) {
        const LowRankRecords rec = build_lowrank(b, r, 1, st, k.data(), v.data(), n, d);
        if (st == Storage::f16) {
          // saturated sketch entries: e must cover |z − 65504| (or be +inf)
          for (int64_t t = 0; t < n; t += 5) {
            const std::vector<double> z = exact_proj(b, r, k.data() + t * d);
            double e2 = 0;
            for (int64_t j = 0; j < r; ++j) {
              const double dz = z[j] - rec.sketch[size_t(t * r + j)];
              e2 += dz * dz;
            }
            const double e = f16_to_f32(rec.e[size_t(t)]);
            if (!(e >= std::sqrt(e2) * (1 - 1e-9)))
              fl.add(cat("f16 overflow: e below actual, seed=", seed, " t=", t, " e=", e, " actual=", std::sqrt(e2)));
          }
        }
        for (int qi = 0; qi < 6; ++qi) {
          std::vector<double> q(d);
          for (int64_t j = 0; j < d; ++j) q[j] = rng.normal() / kscale * rng.uniform(1, 50);
          const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
          std::vector<double> ubr(n), ubc(n);
          ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
          cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
          const std::string ctx = cat("huge lowrank seed=", seed, " d=", d, " kscale=", kscale, " basis=",
                                      basis_kind_name(bk), " storage=", storage_name(st), " query=", qi);
          check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
          check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
          pairs += n;
        }
      }
      for (const std::string bits : {"8", "4", "1"}) {
        const QuantRecords rec = build_quant(bq, parse_bits(bits, d), 7, n, k.data(), v.data(), n, d);
        for (int qi = 0; qi < 3; ++qi) {
          std::vector<double> q(d);
          for (int64_t j = 0; j < d; ++j) q[j] = rng.normal() / kscale * rng.uniform(1, 50);
          const QuantQuery pq = prepare_quant_query(bq, rec, q.data());
          std::vector<double> ubr(n), ubc(n);
          ref::quant_bounds(rec, pq, 0, n, ubr.data());
          cpu::quant_bounds(rec, pq, 0, n, ubc.data());
          const std::string ctx = cat("huge quant seed=", seed, " d=", d, " kscale=", kscale, " basis=",
                                      basis_kind_name(bk), " bits=", bits, " query=", qi);
          check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
          check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
          pairs += n;
        }
      }
    }
    return pairs;
  });
  // f16 overflow must give +inf or a value above the truth, never NaN: a direct instance
  {
    const int64_t d = 4, n = 4;
    std::vector<float> k = {2e5f, 0, 0, 0, -2e5f, 0, 0, 0, 7e4f, 1, 0, 0, -7e4f, -1, 0, 0}, v(16, 1.0f);
    const Basis b = fit_basis(BasisKind::identity, k.data(), n, d, d, 2, 0);
    const LowRankRecords rec = build_lowrank(b, 2, 1, Storage::f16, k.data(), v.data(), n, d);
    for (double s : {1.0, -1.0}) {
      std::vector<double> q = {s * 1e-3, 0.5, 0.25, 0.0};
      const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
      std::vector<double> ubr(n), ubc(n);
      ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
      cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
      check_tokens("ref", cat("f16 overflow direct s=", s), ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
      check_tokens("cpu", cat("f16 overflow direct s=", s), ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
      pairs += n;
    }
  }
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

// int8 sketch of an exact zero vector (a key equal to μ: amax 0, scale 0) among symmetric keys.
TEST(SoundBounds, Int8ZeroVector) {
  Fails f;
  int64_t pairs = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{1, 2, 3, 64, 129}), half = 16, n = 2 * half + 1;
    std::vector<float> k(size_t(n * d), 0.0f), v(size_t(n * d), 1.0f);
    for (int64_t t = 0; t < half; ++t)
      for (int64_t j = 0; j < d; ++j) {
        k[size_t(t * d + j)] = float(rng.integer(-50, 50)) * 0.25f;
        k[size_t((t + half) * d + j)] = -k[size_t(t * d + j)];
      }
    // token n-1 stays the zero vector; μ = 0 exactly
    for (BasisKind bk : kBases) {
      const int64_t r = std::max<int64_t>(1, d / 2);
      const Basis b = fit_basis(bk, k.data(), n, d, d, r, seed);
      for (float m : b.mu) ASSERT_EQ(m, 0.0f);
      const LowRankRecords rec = build_lowrank(b, r, 1, Storage::int8, k.data(), v.data(), n, d);
      EXPECT_EQ(rec.scale[size_t(n - 1)], 0) << "zero vector: int8 scale should be 0, seed " << seed;
      for (int qi = 0; qi < 8; ++qi) {
        std::vector<double> q(d);
        for (int64_t j = 0; j < d; ++j) q[j] = rng.normal();
        const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
        std::vector<double> ubr(n), ubc(n);
        ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
        cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
        const std::string ctx = cat("int8 zero vector seed=", seed, " d=", d, " basis=", basis_kind_name(bk), " query=", qi);
        check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
        check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
        pairs += n;
      }
    }
  }
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

// Queries so small that their projections are subnormal in float32 (σ·q_j ~ 1e-42 .. 1e-39), with
// keys large enough that the scores are ordinary numbers. validate_inputs accepts such inputs
// (finite, σ·|q|·|k| far below 1e30). Gradual underflow of q_s → float32 (low-rank) and of
// w = q_r32·h (quantized) has an ABSOLUTE error up to 2^-150 per element that a purely relative
// γ_n slack does not cover (found by these tests: 6201 and 4552 violations before the library
// added the kF32Eta terms); the float32 path must stay sound here too.
TEST(SoundBounds, SubnormalQueryProjectionsLowrankCpu) {
  Fails f;
  int64_t pairs = 0;
  const int64_t d = 8, n = 64, r = 4;
  Rng rng(1);
  std::vector<float> k(size_t(n * d), 0.0f), v(size_t(n * d), 1.0f);
  for (int64_t t = 0; t < n / 2; ++t)
    for (int64_t j = 0; j < r; ++j) {
      k[size_t(t * d + j)] = float(double(rng.integer(-1000, 1000)) * 1e12);
      k[size_t((t + n / 2) * d + j)] = -k[size_t(t * d + j)];
    }
  const Basis b = fit_basis(BasisKind::identity, k.data(), n, d, d, r, 0);
  const LowRankRecords rec = build_lowrank(b, r, 1, Storage::f32, k.data(), v.data(), n, d);
  for (int qi = 0; qi < 200; ++qi) {
    std::vector<double> q(d);
    for (int64_t j = 0; j < d; ++j) q[j] = (double(rng.integer(0, 999)) + 0.37) * 1e-44 * (rng.integer(0, 1) ? 1 : -1);
    const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
    std::vector<double> ubr(n), ubc(n);
    ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
    cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
    const std::string ctx = cat("subnormal q_s lowrank (identity, f32, d=8, r=4, keys=int*1e12 symmetric, rng seed 1) query=", qi);
    check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
    check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
    pairs += n;
  }
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.n << " violations; first:\n" << f.first;
}

TEST(SoundBounds, SubnormalQueryProjectionsQuantCpu) {
  Fails f;
  int64_t pairs = 0;
  const int64_t d = 8, n = 64;
  Rng rng(1);
  std::vector<float> k(size_t(n * d)), v(size_t(n * d), 1.0f);
  for (auto& x : k) x = float(rng.normal());
  const Basis b = fit_basis(BasisKind::identity, k.data(), n, d, d, d, 0);
  const QuantRecords rec = build_quant(b, parse_bits("8", d), 0, n, k.data(), v.data(), n, d);
  for (int qi = 0; qi < 200; ++qi) {
    std::vector<double> q(d);
    for (int64_t j = 0; j < d; ++j) q[j] = (double(rng.integer(0, 999)) + 0.37) * 1e-45 * (rng.integer(0, 1) ? 1 : -1);
    const QuantQuery pq = prepare_quant_query(b, rec, q.data());
    std::vector<double> ubr(n), ubc(n);
    ref::quant_bounds(rec, pq, 0, n, ubr.data());
    cpu::quant_bounds(rec, pq, 0, n, ubc.data());
    const std::string ctx = cat("subnormal w32 quant (identity, bits 8, G=0, d=8, N(0,1) keys, rng seed 1) query=", qi);
    check_tokens("ref", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
    check_tokens("cpu", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, f);
    pairs += n;
  }
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.n << " violations; first:\n" << f.first;
}


// The underflow regime swept: query scales 1e-46..1e-30 (σ·q subnormal or near the float32
// normal limit), keys from 1 to 1e15 (symmetric: μ = 0, so f32 sketches are exact and only the
// slack separates bound and truth), every basis, storage, a few bit specs and groups.
TEST(SoundBounds, UnderflowSweep) {
  Fails f;
  const int64_t pairs = sound::parallel_cases(96, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = 31000 + uint64_t(ci);
    Rng rng(seed);
    int64_t pairs = 0;
    const int64_t d = rng.pick(std::vector<int64_t>{2, 3, 8, 64, 129}), half = 32, n = 2 * half;
    const double kscale = std::pow(10.0, double(rng.integer(0, 15)));
    const int64_t r = std::max<int64_t>(1, d / 2);
    std::vector<float> k(size_t(n * d), 0.0f), v(size_t(n * d), 1.0f);
    for (int64_t t = 0; t < half; ++t)
      for (int64_t j = 0; j < d; ++j) {
        const bool in_span = j < r || t % 4 == 0;
        k[size_t(t * d + j)] = in_span ? float(double(rng.integer(-1000, 1000)) * kscale) : 0.0f;
        k[size_t((t + half) * d + j)] = -k[size_t(t * d + j)];
      }
    const BasisKind bk = kBases[ci % 4];
    const Basis b = fit_basis(bk, k.data(), n, d, d, r, seed);
    const Basis bq = fit_basis(bk, k.data(), n, d, d, d, seed);
    const Storage st = kStorages[(ci / 4) % 4];
    const LowRankRecords rec = build_lowrank(b, r, 1, st, k.data(), v.data(), n, d);
    const std::string bits = rng.pick(std::vector<std::string>{"8", "4", "1", mixed_spec(d)});
    const int64_t G = rng.pick(std::vector<int64_t>{0, 1, 7});
    const QuantRecords qrec = build_quant(bq, parse_bits(bits, d), G, n, k.data(), v.data(), n, d);
    for (int qi = 0; qi < 12; ++qi) {
      const double qscale = std::pow(10.0, rng.uniform(-46, -30));
      std::vector<double> q(d);
      for (int64_t j = 0; j < d; ++j) q[j] = rng.normal() * qscale;
      const std::string ctx = cat("underflow seed=", seed, " d=", d, " kscale=", kscale, " qscale=", qscale, " basis=",
                                  basis_kind_name(bk), " storage=", storage_name(st), " bits=", bits, " G=", G,
                                  " query=", qi);
      const LowRankQuery pq = prepare_lowrank_query(b, rec, q.data());
      std::vector<double> ubr(n), ubc(n);
      ref::lowrank_bounds(rec, pq, 0, n, ubr.data());
      cpu::lowrank_bounds(rec, pq, 0, n, ubc.data());
      check_tokens("ref lowrank", ctx, ubr.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      check_tokens("cpu lowrank", ctx, ubc.data(), q.data(), k.data(), d, b.mu.data(), d, 0, n, fl);
      const QuantQuery qq = prepare_quant_query(bq, qrec, q.data());
      ref::quant_bounds(qrec, qq, 0, n, ubr.data());
      cpu::quant_bounds(qrec, qq, 0, n, ubc.data());
      check_tokens("ref quant", ctx, ubr.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
      check_tokens("cpu quant", ctx, ubc.data(), q.data(), k.data(), d, bq.mu.data(), d, 0, n, fl);
      pairs += 2 * n;
    }
    return pairs;
  });
  sound::g_pairs += pairs;
  EXPECT_EQ(f.n, 0) << f.first;
}

// One large random sweep of its own: ≥ 10^6 (query, token) pairs of certified bounds, checked
// against the compensated truth on both paths.
TEST(SoundBounds, MillionPairsRandomSweep) {
  Fails f;
  const int64_t n_cases = 260;
  const int64_t pairs = sound::parallel_cases(n_cases, f, [&](int64_t ci, Fails& fl) -> int64_t {
    const uint64_t seed = 900001 + uint64_t(ci);
    Rng rng(seed);
    const int64_t d = rng.pick(std::vector<int64_t>{5, 16, 32, 64});
    const int64_t n = rng.pick(std::vector<int64_t>{67, 257, 600});
    if (seed % 2) {
      LowrankCase c;
      c.seed = seed;
      c.d = d;
      c.n = n;
      c.r = std::clamp<int64_t>(rng.pick(std::vector<int64_t>{1, d / 4, d / 2}), 1, d);
      c.basis = kBases[rng.integer(0, 3)];
      c.storage = kStorages[rng.integer(0, 3)];
      c.dist = sound::kAllGens[rng.integer(0, 7)];
      std::vector<int64_t> bl = {1};
      if (d - c.r >= 2) bl.push_back(2);
      if (d - c.r >= 8) bl.push_back(8);
      c.blocks = rng.pick(bl);
      c.n_fit = rng.integer(1, n);
      return run_lowrank_case(c, 24, fl);
    }
    QuantCase c;
    c.seed = seed;
    c.d = d;
    c.n = n;
    c.basis = kBases[rng.integer(0, 3)];
    c.dist = sound::kAllGens[rng.integer(0, 7)];
    c.bits = rng.pick(std::vector<std::string>{"8", "4", "2", "1", "0", mixed_spec(d)});
    c.group = kGroups[rng.integer(0, 3)];
    c.seal_at = rng.integer(0, n);
    c.n_fit = rng.integer(1, n);
    return run_quant_case(c, 24, fl);
  });
  sound::g_pairs += pairs;
  std::printf("[sound] random sweep: %lld pairs over seeds 900001..%lld\n", (long long)pairs, (long long)(900000 + n_cases));
  EXPECT_EQ(f.n, 0) << f.first;
  EXPECT_GE(pairs, 1'000'000);
}

// build_quant refuses a non-finite key or value, naming the token and component (a NaN would pass the
// scale and error maxima unseen and leave finite records for a key that has no bound).
TEST(SoundBounds, QuantWitnessRefusesNonFiniteKeysAndValues) {
  const int64_t n = 40, d = 16;
  std::vector<float> k(size_t(n * d)), v(size_t(n * d));
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = float(std::sin(0.37 * double(i)));
    v[i] = float(std::cos(0.11 * double(i)));
  }
  const Basis b = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 1);
  const BitSpec spec = parse_bits("8", d);
  EXPECT_NO_THROW(build_quant(b, spec, 8, n, k.data(), v.data(), n, d));
  std::vector<float> kb = k;
  kb[size_t(10 * d + 3)] = std::numeric_limits<float>::quiet_NaN();
  test::expect_error([&] { build_quant(b, spec, 8, n, kb.data(), v.data(), n, d); },
                     {"key of token 10", "component 3", "not finite"});
  std::vector<float> vb = v;
  vb[size_t(7 * d + 15)] = -std::numeric_limits<float>::infinity();
  test::expect_error([&] { build_quant(b, spec, 8, n, k.data(), vb.data(), n, d); },
                     {"value of token 7", "component 15", "not finite"});
}
