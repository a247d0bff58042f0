// Causality: nothing a query at position p is told may depend on keys after p. Changing a key
// after p must leave that query's bounds, survivors and output bit-identical (bases fitted on the
// keys every query sees; appended keys in their own quantization groups; prefix per-head constants).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "ghostkv/eliminate.h"

using namespace ghostkv;

TEST(Causality, LaterKeysDoNotChangeEarlierQueries) {
  const int64_t n_kv = 600, Hq = 2, Hkv = 1, d = 32, n_q = 3;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> nd;
  AttnInputs base;
  base.q = Tensor(DType::f32, {n_q, Hq, d});
  base.k = Tensor(DType::f32, {n_kv, Hkv, d});
  base.v = Tensor(DType::f32, {n_kv, Hkv, d});
  for (auto* t : {&base.q, &base.k, &base.v})
    for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = nd(rng);
  for (int64_t i = 0; i < base.q.numel(); ++i) base.q.data<float>()[i] *= 3;
  base.positions = Tensor(DType::i64, {n_q});
  const int64_t pos[n_q] = {200, 400, 599};
  std::memcpy(base.positions.raw(), pos, sizeof pos);
  validate_inputs(base);
  struct Mode {
    const char* name;
    WitnessKind w;
    std::string bits;
    int64_t group;
    AnchorKind anchors;
  };
  for (const Mode& m : {Mode{"quant 4 G0", WitnessKind::quant, "4", 0, AnchorKind::none},
                        Mode{"quant 4 G64", WitnessKind::quant, "4", 64, AnchorKind::none},
                        Mode{"quant 8 kmeans", WitnessKind::quant, "8", 0, AnchorKind::kmeans},
                        Mode{"lowrank", WitnessKind::lowrank, "8", 0, AnchorKind::none}}) {
    SCOPED_TRACE(m.name);
    EliminateOptions o;
    o.witness = m.w;
    o.rank = 8;
    o.bits = m.bits;
    o.group = m.group;
    o.anchors.kind = m.anchors;
    o.anchors.bound = AnchorBound::ball;
    o.policy = parse_policy("mass:1e-2");
    o.keep_arrays = true;
    AttnInputs a;
    a.q = base.q.clone();
    a.k = base.k.clone();
    a.v = base.v.clone();
    a.positions = base.positions.clone();
    a.scale = base.scale;
    const EliminateResult r0 = run_eliminate(a, o);
    for (int64_t j = 0; j < d; ++j) a.k.data<float>()[(550 * Hkv) * d + j] *= 50;  // a key after position 400
    const EliminateResult r1 = run_eliminate(a, o);
    ASSERT_EQ(r0.violations + r1.violations, 0);
    ASSERT_EQ(r0.certificate_failures + r1.certificate_failures, 0);
    for (int64_t i = 0; i < 2; ++i) {  // queries at 200 and 400 cannot see key 550
      EXPECT_EQ(0, std::memcmp(r0.upper_bound.data<float>() + i * Hq * n_kv, r1.upper_bound.data<float>() + i * Hq * n_kv,
                               size_t(Hq * n_kv) * 4))
          << "query " << i;
      EXPECT_EQ(0, std::memcmp(r0.survivors.data<uint8_t>() + i * Hkv * n_kv, r1.survivors.data<uint8_t>() + i * Hkv * n_kv,
                               size_t(Hkv * n_kv)))
          << "query " << i;
      EXPECT_EQ(0, std::memcmp(r0.output.data<float>() + i * Hq * d, r1.output.data<float>() + i * Hq * d, size_t(Hq * d) * 4))
          << "query " << i;
    }
  }
}
