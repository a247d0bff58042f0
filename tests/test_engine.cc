// Engine behaviour beyond the goldens: the attention hook really replaces dense attention,
// falling back when it declines; chunked prefill, one-token decode and capture agree; bad ids and
// context overflow are errors naming the values.
#include <gtest/gtest.h>

#include <cmath>

#include "ghostkv/model/capture.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;

namespace {
const std::string kModel = std::string(GHOSTKV_SOURCE_DIR) + "/tests/data/models/tiny-llama-gqa-llama3";

struct CountingHook : AttentionHook {
  const ModelConfig* c;
  int64_t calls = 0, declined = 0;
  bool decline = false, zero = false;
  bool attend(int64_t, const float* q, const int64_t* pos, int64_t n, const float* k, const float* v, int64_t n_kv,
              float* out) override {
    ++calls;
    if (decline) { ++declined; return false; }
    if (zero) {
      std::fill(out, out + n * c->n_head_q * c->d_head, 0.0f);
      return true;
    }
    dense_attention(q, pos, n, k, v, n_kv, c->n_head_q, c->n_head_kv, c->d_head, c->attn_scale(), c->sliding_window, out);
    return true;
  }
};

std::vector<float> run(const LlamaWeights& w, const std::vector<int32_t>& ids, AttentionHook* hook, int64_t split = 0) {
  Engine eng(w);
  std::vector<float> lg(size_t(w.cfg.n_vocab));
  if (split > 0) {
    eng.forward(ids.data(), split, nullptr, 0, hook);
    for (int64_t i = split; i < int64_t(ids.size()); ++i) eng.forward(&ids[size_t(i)], 1, lg.data(), 1, hook);
  } else {
    eng.forward(ids.data(), int64_t(ids.size()), lg.data(), 1, hook);
  }
  return lg;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}
}  // namespace

TEST(Engine, HookReplacesDenseAttentionAndCanDecline) {
  LlamaWeights w = load_model(kModel);
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(3 + (i * 37) % 250);
  const std::vector<float> base = run(w, ids, nullptr);
  CountingHook h;
  h.c = &w.cfg;
  EXPECT_EQ(max_diff(run(w, ids, &h), base), 0.0);  // the same dense computation through the hook
  EXPECT_EQ(h.calls, w.cfg.n_layer);
  h.decline = true;
  EXPECT_EQ(max_diff(run(w, ids, &h), base), 0.0);
  EXPECT_EQ(h.declined, w.cfg.n_layer);
  h.decline = false;
  h.zero = true;
  EXPECT_GT(max_diff(run(w, ids, &h), base), 1e-3);  // the hook's output is what the model uses
}

TEST(Engine, DecodeStepsMatchPrefill) {
  LlamaWeights w = load_model(kModel);
  std::vector<int32_t> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(3 + (i * 91) % 250);
  const std::vector<float> full = run(w, ids, nullptr);
  const std::vector<float> stepped = run(w, ids, nullptr, 17);
  double scale = 0;
  for (float x : full) scale = std::max(scale, double(std::fabs(x)));
  EXPECT_LE(max_diff(full, stepped) / scale, 1e-5);
}

TEST(Engine, CaptureMatchesCacheAndPositions) {
  LlamaWeights w = load_model(kModel);
  std::vector<int32_t> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(5 + i);
  Engine eng(w);
  const std::vector<int64_t> qpos = parse_query_positions("last:4", 30);
  ASSERT_EQ(qpos, (std::vector<int64_t>{26, 27, 28, 29}));
  std::vector<AttnInputs> caps = capture_layers(eng, ids, parse_layers("all", w.cfg.n_layer), qpos);
  ASSERT_EQ(int64_t(caps.size()), w.cfg.n_layer);
  for (int64_t l = 0; l < w.cfg.n_layer; ++l) {
    EXPECT_EQ(caps[l].k.shape(), (std::vector<int64_t>{30, w.cfg.n_head_kv, w.cfg.d_head}));
    EXPECT_EQ(caps[l].q.shape(), (std::vector<int64_t>{4, w.cfg.n_head_q, w.cfg.d_head}));
    EXPECT_EQ(0, std::memcmp(caps[l].k.raw(), eng.k_cache(l), caps[l].k.nbytes()));
    // dense attention over the captured tensors reproduces what the model attended (post-RoPE q, unscaled)
    validate_inputs(caps[l]);
    EXPECT_EQ(caps[l].scale, w.cfg.attn_scale());
  }
  EXPECT_THROW(parse_query_positions("last:31", 30), Error);
  EXPECT_THROW(parse_layers("0-9", w.cfg.n_layer), Error);
}

TEST(Engine, BadIdsAndContextOverflowAreErrors) {
  LlamaWeights w = load_model(kModel);
  EngineOptions eo;
  eo.max_ctx = 8;
  Engine eng(w, eo);
  std::vector<int32_t> bad = {1, 2, 999};
  try {
    eng.forward(bad.data(), 3, nullptr, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("999"), std::string::npos) << e.what();
  }
  std::vector<int32_t> many(9, 5);
  EXPECT_THROW(eng.forward(many.data(), 9, nullptr, 0), Error);
}
