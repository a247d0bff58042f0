// The anchor → token cascade in run_eliminate (DESIGN §4.4, §5, §6): every anchor mode ×
// {mass:1e-3, mass:1e-2, rel:5, mass:1e-2 two-stage} × {cpu, reference}: zero violations and
// certificate failures, mass_bound ≤ δ, UB_A ≥ the true score for members eliminated with their anchor
// (re-checked here from the arrays), unanchored (appended) tokens never eliminated at the anchor level;
// bytes accounting (all anchors eliminated: only anchor records + hot + metadata; anchors never
// eliminating: the no-anchor bytes + anchor records); the GQA rule for anchors; causality.
#include <gtest/gtest.h>

#include <cstdio>

#include "ghostkv/eliminate.h"
#include "test_sound_util.h"

using namespace ghostkv;
using sound::cat;
using sound::Fails;
using sound::Gen;
using sound::Rng;

namespace {

AnchorParams anchor_mode(int m) {
  AnchorParams p;
  p.kind = (m & 4) ? AnchorKind::kmeans : AnchorKind::page;
  p.bound = (m & 2) ? AnchorBound::ball : AnchorBound::box;
  p.space = (m & 1) ? AnchorSpace::rot : AnchorSpace::orig;
  p.page = 8;
  p.clusters = 12;
  p.iterations = 4;
  return p;
}

std::string mode_str(const AnchorParams& p) {
  return cat(anchor_kind_name(p.kind), "/", anchor_bound_name(p.bound), "/", anchor_space_name(p.space));
}

AnchorParams none_anchor() { return AnchorParams{}; }

// Random inputs (the generator of the soundness suite), GQA group 2, causal positions.
AttnInputs random_inputs(uint64_t seed, Gen kd) {
  Rng rng(seed);
  const int64_t n_q = 4, Hq = 2, Hkv = 1, d = 16, n_kv = 150;
  AttnInputs in;
  in.q = Tensor(DType::f32, {n_q, Hq, d});
  in.k = Tensor(DType::f32, {n_kv, Hkv, d});
  in.v = Tensor(DType::f32, {n_kv, Hkv, d});
  sound::gen_rows(kd, rng, in.k.data<float>(), n_kv, d, d);
  sound::gen_rows(Gen::gauss, rng, in.v.data<float>(), n_kv, d, d);
  sound::gen_queries(kd, rng, in.k.data<float>(), n_kv, d, in.q.data<float>(), n_q * Hq, d, d);
  in.positions = Tensor(DType::i64, {n_q});
  for (int64_t i = 0; i < n_q; ++i) in.positions.data<int64_t>()[i] = i == 0 ? 100 : rng.integer(100, n_kv - 1);
  validate_inputs(in);
  return in;
}

// Hot keys aligned with q (score +7.5), candidates opposite (−12.5): every anchor can go.
// Head 1 (if present) has the opposite query: it keeps every candidate. Queries at 150 and 299.
AttnInputs separated_inputs(int64_t Hq) {
  const int64_t n_q = 3, Hkv = 1, d = 16, n_kv = 300;
  Rng rng(77);
  AttnInputs in;
  in.q = Tensor(DType::f32, {n_q, Hq, d});
  in.k = Tensor(DType::f32, {n_kv, Hkv, d});
  in.v = Tensor(DType::f32, {n_kv, Hkv, d});
  in.positions = Tensor(DType::i64, {n_q});
  const int64_t pos[3] = {150, 299, 299};
  for (int64_t i = 0; i < n_q; ++i) in.positions.data<int64_t>()[i] = pos[i];
  float* K = in.k.data<float>();
  for (int64_t t = 0; t < n_kv; ++t) {
    const bool hot_like = t < 4 || t > 299 - 64;  // sinks and query 299's recent window
    for (int64_t j = 0; j < d; ++j) K[t * d + j] = float(0.05 * rng.normal());
    K[t * d] = hot_like ? 3.0f : -5.0f;
  }
  sound::gen_rows(Gen::gauss, rng, in.v.data<float>(), n_kv, d, d);
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t j = 0; j < d; ++j) in.q.data<float>()[(i * Hq + h) * d + j] = j == 0 ? (h == 0 ? 10.0f : -10.0f) : 0.0f;
  validate_inputs(in);
  return in;
}

// Re-checks from the arrays: anchor-eliminated tokens are eliminated, their upper_bound (UB_A) ≥ the true
// score, unanchored tokens (≥ fit_tokens) are never anchor-eliminated. Returns (query, head, cand) pairs.
int64_t recheck(const AttnInputs& in, const EliminateOptions& o, const EliminateResult& r, const std::string& ctx,
                Fails& f) {
  const int64_t n_q = in.n_q(), Hq = in.n_head_q(), Hkv = in.n_head_kv(), d = in.d_head(), n_kv = in.n_kv();
  const int64_t group = in.group();
  if (r.violations) f.add(cat("violations=", r.violations, ": ", ctx));
  if (r.certificate_failures) f.add(cat("certificate_failures=", r.certificate_failures, ": ", ctx));
  if (o.policy.kind == PolicyKind::mass && !(r.mass_bound.max <= o.policy.value))
    f.add(cat("mass_bound ", r.mass_bound.max, " > δ: ", ctx));
  int64_t pairs = 0;
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t n_seen = in.pos(i) + 1, a = std::min(o.n_sink, n_seen), b = std::max(a, n_seen - o.n_recent);
    for (int64_t g = 0; g < Hkv; ++g) {
      const uint8_t* ae = r.anchor_eliminated.data<uint8_t>() + (i * Hkv + g) * n_kv;
      const uint8_t* sv = r.survivors.data<uint8_t>() + (i * Hkv + g) * n_kv;
      const StepStats& st = r.steps[size_t(i * Hkv + g)];
      int64_t n_ae = 0;
      for (int64_t t = 0; t < n_kv; ++t) {
        if (!ae[t]) continue;
        ++n_ae;
        if (t < a || t >= b) f.add(cat("non-candidate anchor-eliminated: ", ctx, " t=", t));
        if (t >= r.fit_tokens) f.add(cat("appended token anchor-eliminated: ", ctx, " t=", t));
        if (sv[t]) f.add(cat("anchor-eliminated token survives: ", ctx, " t=", t));
      }
      if (n_ae != st.n_anchor_elim) f.add(cat("n_anchor_elim disagrees: ", ctx));
      if (st.n_records_read != st.n_cand - st.n_anchor_elim) f.add(cat("records read disagree: ", ctx));
      for (int64_t hh = 0; hh < group; ++hh) {
        const int64_t h = g * group + hh;
        const float* q = in.q.data<float>() + (i * Hq + h) * d;
        const float* ub = r.upper_bound.data<float>() + (i * Hq + h) * n_kv;
        for (int64_t t = a; t < b; ++t) {
          const double s = sound::true_score(q, in.k.data<float>() + (t * Hkv + g) * d, d, in.scale);
          const double tol = o.two_stage > 0 ? 0x1p-24 * std::fabs(s) : 0x1p-50 * std::fabs(s);
          if (!(double(ub[t]) >= s - tol))
            f.add(cat("upper_bound below the true score: ", ctx, " q", i, " h", h, " t=", t, " ub=", ub[t], " s=", s,
                      " anchor_elim=", int(ae[t])));
          ++pairs;
        }
      }
    }
  }
  return pairs;
}

EliminateOptions base_opt() {
  EliminateOptions o;
  o.witness = WitnessKind::quant;
  o.bits = "8";
  o.n_sink = 4;
  o.n_recent = 64;
  o.keep_arrays = true;
  o.threads = 1;
  return o;
}

}  // namespace

TEST(AnchorPipeline, EveryModeSoundAndCertified) {
  const char* policies[] = {"mass:1e-3", "mass:1e-2", "rel:5", "mass:1e-2"};
  const Gen gens[] = {Gen::gauss, Gen::outlier, Gen::ties, Gen::lowrank, Gen::huge};
  const int64_t n_cases = 8 * 4 * 2 * 4;
  Fails f;
  int64_t anchor_elim_total = 0;
  const int64_t pairs = sound::parallel_cases(n_cases, f, [&](int64_t cs, Fails& lf) -> int64_t {
    const int mode = int(cs % 8), pol = int((cs / 8) % 4), ref = int((cs / 32) % 2), rep = int(cs / 64);
    const uint64_t seed = 4242 + uint64_t(cs);
    const Gen kd = gens[(cs + rep) % 5];
    const AttnInputs in = (rep % 2 == 1 && pol < 2) ? separated_inputs(1 + int64_t(mode % 2)) : random_inputs(seed, kd);
    EliminateOptions o = base_opt();
    o.policy = parse_policy(policies[pol]);
    o.two_stage = pol == 3 ? 0.05 : 0;
    o.reference = ref;
    o.anchors = anchor_mode(mode);
    o.anchors.seed = seed;
    o.group = (cs % 3 == 0) ? 32 : 0;
    const EliminateResult r = run_eliminate(in, o);
    int64_t ae = 0;
    for (const StepStats& s : r.steps) ae += s.n_anchor_elim;
#pragma omp atomic
    anchor_elim_total += ae;
    return recheck(in, o, r,
                   cat("seed=", seed, " keys=", sound::gen_name(kd), " rep=", rep, " anchors=", mode_str(o.anchors),
                       " policy=", o.policy.text(), " two_stage=", o.two_stage, " reference=", ref, " G=", o.group),
                   lf);
  });
  sound::g_pairs += pairs;
  std::printf("[anchor pipeline] %lld (query, head, candidate) pairs checked, %lld anchor-level eliminations\n",
              (long long)pairs, (long long)anchor_elim_total);
  EXPECT_EQ(f.n, 0) << f.first;
  EXPECT_GT(anchor_elim_total, 0);  // the cascade is exercised, not only vacuously sound
}

TEST(AnchorPipeline, AllAnchorsEliminatedReadsOnlyAnchorsHotAndMeta) {
  for (int mode = 0; mode < 8; ++mode)
    for (bool ref : {false, true}) {
      const AttnInputs in = separated_inputs(1);
      EliminateOptions o = base_opt();
      o.policy = parse_policy("mass:1e-3");
      o.reference = ref;
      o.anchors = anchor_mode(mode);
      o.n_sink = 8;  // page 0 (tokens 0-7, holding the +3 sinks) is all hot
      const EliminateResult r = run_eliminate(in, o);
      const std::string ctx = cat(mode_str(o.anchors), " reference=", ref);
      ASSERT_EQ(r.violations, 0) << ctx;
      ASSERT_EQ(r.certificate_failures, 0) << ctx;
      EXPECT_EQ(r.fit_tokens, 151) << ctx;  // causal: anchors over the keys 0..150 that every query sees
      const int64_t d = in.d_head();
      // query 0 (pos 150): every candidate [8, 87) is anchored and goes with its anchor
      const StepStats& st = r.steps[0];
      EXPECT_EQ(st.n_anchor_elim, st.n_cand) << ctx;
      EXPECT_EQ(st.n_elim, st.n_cand) << ctx;
      EXPECT_EQ(st.n_records_read, 0) << ctx;
      const double meta = double(d * d * 4 + d * 4 + 8);  // quant witness: rotation, μ, constants
      const double expect = double(st.n_hot) * 2 * d * 2 + meta + double(st.n_anchors_read) * r.anchor_bytes;
      EXPECT_DOUBLE_EQ(st.read_bytes, expect) << ctx;
      // queries at 299: anchored candidates [8, 151) by anchor, appended ones [151, 236) by token record
      for (int64_t i = 1; i < 3; ++i) {
        EXPECT_EQ(r.steps[i].n_anchor_elim, 143) << ctx;
        EXPECT_EQ(r.steps[i].n_records_read, 85) << ctx;
      }
    }
}

TEST(AnchorPipeline, AnchorsNeverEliminatingAddOnlyAnchorBytes) {
  // one k-means cluster / one page over all prefill keys: its box/ball holds the top keys, so it never fits
  int64_t checked = 0;
  for (int mode = 0; mode < 8; ++mode)
    for (const char* pol : {"mass:1e-3", "rel:5"}) {
      const AttnInputs in = random_inputs(31 + uint64_t(mode), Gen::gauss);
      EliminateOptions o = base_opt();
      o.policy = parse_policy(pol);
      o.anchors = anchor_mode(mode);
      o.anchors.page = 1 << 20;
      o.anchors.clusters = 1;
      const EliminateResult ra = run_eliminate(in, o);
      o.anchors = none_anchor();
      const EliminateResult rn = run_eliminate(in, o);
      int64_t ae = 0;
      double extra = 0, dense = 0;
      for (size_t s = 0; s < ra.steps.size(); ++s) {
        ae += ra.steps[s].n_anchor_elim;
        EXPECT_EQ(ra.steps[s].n_elim, rn.steps[s].n_elim);
        extra += ra.steps[s].read_bytes - rn.steps[s].read_bytes;
        EXPECT_DOUBLE_EQ(ra.steps[s].read_bytes - rn.steps[s].read_bytes,
                         ra.steps[s].n_cand > 0 ? double(ra.steps[s].n_anchors_read) * ra.anchor_bytes : 0.0);
        dense += ra.steps[s].dense_bytes;
      }
      ASSERT_EQ(ae, 0) << mode_str(anchor_mode(mode)) << " " << pol;
      EXPECT_NEAR(ra.kv_bytes_frac, rn.kv_bytes_frac + extra / dense, 1e-12);
      EXPECT_EQ(ra.violations + rn.violations, 0);
      ++checked;
    }
  EXPECT_EQ(checked, 16);
}

TEST(AnchorPipeline, GqaRuleForAnchors) {
  // group of 2: head 0 alone eliminates every anchor, head 1 alone none; together: none
  for (const char* pol : {"mass:1e-2", "rel:5"})
    for (int mode = 0; mode < 8; ++mode) {
      const AttnInputs in2 = separated_inputs(2);
      EliminateOptions o = base_opt();
      o.policy = parse_policy(pol);
      o.anchors = anchor_mode(mode);
      const EliminateResult r2 = run_eliminate(in2, o);
      // head 0 alone
      const AttnInputs in1 = separated_inputs(1);
      const EliminateResult r1 = run_eliminate(in1, o);
      const std::string ctx = cat(pol, " ", mode_str(o.anchors));
      EXPECT_EQ(r2.violations + r1.violations + r2.certificate_failures + r1.certificate_failures, 0) << ctx;
      int64_t a1 = 0, a2 = 0;
      for (size_t s = 0; s < r2.steps.size(); ++s) a1 += r1.steps[s].n_anchor_elim, a2 += r2.steps[s].n_anchor_elim;
      EXPECT_GT(a1, 0) << ctx;
      EXPECT_EQ(a2, 0) << ctx;  // head 1 keeps every anchor, so the group eliminates none
      // subset: anything the group eliminates at the anchor level, head 0 alone does too
      const uint8_t* e2 = r2.anchor_eliminated.data<uint8_t>();
      const uint8_t* e1 = r1.anchor_eliminated.data<uint8_t>();
      for (int64_t x = 0; x < r2.anchor_eliminated.numel(); ++x) EXPECT_LE(e2[x], e1[x]) << ctx;
    }
}
