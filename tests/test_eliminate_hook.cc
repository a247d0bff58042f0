// Certified elimination inside the engine's decode loop (EliminationHook): on the reference checkpoint and real
// text every decode step of every layer keeps its certificate against float64 attention and eliminates keys; the
// prefill and sliding-window models stay dense; the hook's output is the witness path's, within its certificate of
// dense attention.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "ghostkv/error.h"
#include "ghostkv/io/text.h"
#include "ghostkv/model/eliminate_hook.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;
namespace fs = std::filesystem;

namespace {
const std::string kShared = std::string(GHOSTKV_SOURCE_DIR) + "/../shared";

ModelConfig small_config() {
  ModelConfig c;
  c.d_model = 64, c.n_layer = 1, c.n_head_q = 4, c.n_head_kv = 2, c.d_head = 16, c.d_ff = 128, c.n_vocab = 32;
  c.max_pos = 1024;
  return c;
}
}  // namespace

TEST(EliminationHook, RealModelDecodeKeepsEveryCertificate) {
  if (!fs::exists(kShared)) GTEST_SKIP() << "../shared does not exist on this machine: no reference model to test";
  const std::string dir = kShared + "/models/ghostkv-ref-23m";
  LlamaWeights w = load_model(dir);
  Tokenizer tok = load_tokenizer_for(dir, "", w.cfg.n_vocab);
  std::vector<int32_t> prompt = tok.encode(read_text_file(kShared + "/corpora/austen_persuasion.txt.xz").substr(0, 3000), false);
  ASSERT_GT(prompt.size(), 400u);
  EliminateOptions o;  // quant int8, mass:1e-3, 4 sinks + 64 recent
  EliminationHook hook(w.cfg, o);
  Engine eng(w);
  SampleOptions so;
  so.max_new = 8;
  so.stop_at_eos = false;
  const std::vector<int32_t> out = generate(eng, prompt, so, &hook);
  ASSERT_EQ(out.size(), 8u);
  // the prefill (chunks of 512 queries, every layer) dense, then 7 decode forwards through the hook
  ASSERT_NE(prompt.size() % 512, 1u) << "a last prefill chunk of one query would go through the hook";
  EXPECT_EQ(hook.dense_calls(), int64_t((prompt.size() + 511) / 512) * w.cfg.n_layer);
  ASSERT_EQ(int64_t(hook.stats().size()), 7 * w.cfg.n_layer);
  for (size_t i = 0; i < hook.stats().size(); ++i) {
    const EliminationLayerStats& s = hook.stats()[i];
    EXPECT_EQ(s.step, int64_t(i) / w.cfg.n_layer);
    EXPECT_EQ(s.layer, int64_t(i) % w.cfg.n_layer);
    EXPECT_EQ(s.n_kv, int64_t(prompt.size()) + s.step + 1);
    EXPECT_EQ(s.violations, 0) << "step " << s.step << " layer " << s.layer;
    EXPECT_EQ(s.certificate_failures, 0) << "step " << s.step << " layer " << s.layer;
    EXPECT_LE(s.max_mass_bound, 1e-3 * (1 + 1e-9));
    EXPECT_LE(s.max_mass_lost, s.max_mass_bound * (1 + 1e-9));
  }
  const EliminationSummary m = summarize(hook.stats());
  EXPECT_EQ(m.steps, 7);
  EXPECT_LT(m.attended_frac, 0.9) << "the certified policy eliminates keys on real text";
  EXPECT_GT(m.elim_rate, 0.1);
  // dense greedy from the same prompt: the continuation is printed by `generate --compare-dense`; here each step's
  // certificate is the contract, checked above (a near-tie may legitimately flip a token)
  Engine dense(w);
  const std::vector<int32_t> ref = generate(dense, prompt, so);
  EXPECT_EQ(out[0], ref[0]) << "the first token comes from the dense prefill";
}

TEST(EliminationHook, PrefillAndSlidingWindowStayDense) {
  ModelConfig c = small_config();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  const int64_t n_kv = 300;
  std::vector<float> q(size_t(3 * c.n_head_q * c.d_head)), k(size_t(n_kv * c.n_head_kv * c.d_head)), v(k.size()),
      out(q.size(), -1.0f);
  for (float& x : q) x = nd(rng);
  for (float& x : k) x = nd(rng);
  for (float& x : v) x = nd(rng);
  const int64_t pos3[3] = {n_kv - 3, n_kv - 2, n_kv - 1};
  EliminationHook hook(c, EliminateOptions{});
  EXPECT_FALSE(hook.attend(0, q.data(), pos3, 3, k.data(), v.data(), n_kv, out.data()));  // several queries: dense
  EXPECT_EQ(hook.dense_calls(), 1);
  EXPECT_TRUE(hook.stats().empty());
  EXPECT_EQ(out[0], -1.0f) << "a declined call writes nothing";
  c.sliding_window = 128;
  EliminationHook windowed(c, EliminateOptions{});
  EXPECT_FALSE(windowed.attend(0, q.data(), pos3 + 2, 1, k.data(), v.data(), n_kv, out.data()));
  EXPECT_EQ(windowed.dense_calls(), 1);
}

TEST(EliminationHook, OneQueryIsTheWitnessPathWithinItsCertificate) {
  // keys with a few large-score tokens among many small ones, so that the mass policy eliminates; the hook's output
  // against dense attention on the same cache: within the certificate's output bound (the witness path attends the
  // survivors exactly), and the step's stats say what was eliminated
  const ModelConfig c = small_config();
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  const int64_t n_kv = 600, Hq = c.n_head_q, Hkv = c.n_head_kv, d = c.d_head;
  std::vector<float> q(size_t(Hq * d)), k(size_t(n_kv * Hkv * d)), v(k.size()), out(q.size()), ref(q.size());
  for (float& x : q) x = 2.0f * nd(rng);
  for (int64_t h = 1; h < Hq; h += 2)  // the two heads of a group ask the same (the GQA rule needs both to eliminate)
    for (int64_t j = 0; j < d; ++j) q[size_t(h * d + j)] = q[size_t((h - 1) * d + j)];
  for (float& x : k) x = 0.3f * nd(rng);
  for (float& x : v) x = nd(rng);
  for (int64_t t = 100; t < n_kv; t += 97)  // a few keys aligned with the query of their group's first head
    for (int64_t g = 0; g < Hkv; ++g)
      for (int64_t j = 0; j < d; ++j) k[size_t((t * Hkv + g) * d + j)] = q[size_t(g * (Hq / Hkv) * d + j)];
  const int64_t pos = n_kv - 1;
  EliminationHook hook(c, EliminateOptions{});
  ASSERT_TRUE(hook.attend(0, q.data(), &pos, 1, k.data(), v.data(), n_kv, out.data()));
  dense_attention(q.data(), &pos, 1, k.data(), v.data(), n_kv, Hq, Hkv, d, c.attn_scale(), 0, ref.data());
  ASSERT_EQ(hook.stats().size(), 1u);
  const EliminationLayerStats& s = hook.stats()[0];
  EXPECT_EQ(s.step, 0);
  EXPECT_EQ(s.n_kv, n_kv);
  EXPECT_EQ(s.violations, 0);
  EXPECT_EQ(s.certificate_failures, 0);
  EXPECT_GT(s.elim_rate, 0.3) << "most keys carry no mass here";
  EXPECT_LT(s.attended_frac, 0.7);
  EXPECT_LE(s.max_mass_bound, 1e-3);
  double e2 = 0, r2 = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    e2 += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    r2 += double(ref[i]) * ref[i];
  }
  // per head ||o − ô|| ≤ mass_bound·(ν_E + ||ô||·(1 + 1e-3)) ≤ about 2·δ·max||v|| here; summed over the heads, loosely
  EXPECT_LT(std::sqrt(e2 / r2), 2e-2);
  EXPECT_LE(s.max_out_rel_err, 2e-2);
}

TEST(EliminationHook, RefusesAnUncertifiedWitness) {
  EliminateOptions o;
  o.witness = WitnessKind::proto;
  try {
    EliminationHook hook(small_config(), o);
    FAIL() << "the prototype's heuristic (not a bound) was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quant or lowrank"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'proto'"), std::string::npos) << e.what();
  }
}
