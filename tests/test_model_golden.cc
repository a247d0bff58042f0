// Engine numerics against Hugging Face transformers 5.17 (goldens written by
// scripts/make_model_goldens.py on float32 CPU with eager attention; tiny-gpt2 by
// scripts/make_gpt2_golden.py in float64; never by this engine).
// Tolerances (issue "Real models (1)"): logits max|Δ|/max|logit| ≤ 1e-4; post-RoPE K (and V) of the
// cache max|Δ|/max|K| ≤ 1e-4; greedy ids identical for 32 tokens, tie-aware (a step whose top-2 gap
// in the golden is below 2·tol·max|logit| may legitimately differ: reported, not failed).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ghostkv/io/npy.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(GHOSTKV_SOURCE_DIR) + "/tests/data";
const std::string kShared = std::string(GHOSTKV_SOURCE_DIR) + "/../shared";

std::vector<int32_t> ids_of(const std::string& f) {
  Tensor t = read_npy(f);
  std::vector<int32_t> v(size_t(t.numel()));
  std::copy_n(t.data<int32_t>(), t.numel(), v.begin());
  return v;
}

double max_abs(const float* p, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, double(std::fabs(p[i])));
  return m;
}

void check_model(const std::string& model_dir, const std::string& gdir, double tol = 1e-4) {
  SCOPED_TRACE(model_dir);
  LlamaWeights w = load_model(model_dir);
  const std::vector<int32_t> ids = ids_of(gdir + "/ids.npy");
  const int64_t n = int64_t(ids.size()), V = w.cfg.n_vocab;
  EngineOptions eo;
  eo.max_ctx = std::max<int64_t>(n, w.cfg.max_pos);
  Engine eng(w, eo);
  std::vector<float> logits(size_t(n * V));
  eng.forward(ids.data(), n, logits.data(), n);
  // full rows
  Tensor rows = read_npy(gdir + "/logit_rows.npy"), gl = read_npy(gdir + "/logits.npy");
  ASSERT_EQ(gl.dim(1), V);
  const double scale = max_abs(gl.data<float>(), gl.numel());
  double worst = 0;
  for (int64_t r = 0; r < rows.numel(); ++r) {
    const int64_t row = rows.data<int32_t>()[r];
    for (int64_t j = 0; j < V; ++j)
      worst = std::max(worst, std::fabs(double(logits[size_t(row * V + j)]) - gl.data<float>()[r * V + j]));
  }
  std::printf("[model] %s: logits max|Δ|/max|logit| = %.3g over %lld full rows (max|logit| %.2f)\n",
              fs::path(gdir).filename().c_str(), worst / scale, (long long)rows.numel(), scale);
  EXPECT_LE(worst / scale, tol);
  // every row: the golden top-5 logits, and the argmax unless it is a near-tie
  Tensor ti = read_npy(gdir + "/topk_ids.npy"), tv = read_npy(gdir + "/topk_vals.npy");
  int64_t near_ties = 0;
  double worst_topk = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* li = logits.data() + i * V;
    for (int64_t k = 0; k < 5; ++k)
      worst_topk = std::max(worst_topk, std::fabs(double(li[ti.data<int32_t>()[i * 5 + k]]) - tv.data<float>()[i * 5 + k]));
    int64_t am = 0;
    for (int64_t j = 1; j < V; ++j)
      if (li[j] > li[am]) am = j;
    const double gap = tv.data<float>()[i * 5] - tv.data<float>()[i * 5 + 1];
    if (am != ti.data<int32_t>()[i * 5]) {
      if (gap < 2 * tol * scale) ++near_ties;
      else ADD_FAILURE() << "row " << i << ": argmax " << am << " vs transformers " << ti.data<int32_t>()[i * 5] << " (gap " << gap << ")";
    }
  }
  EXPECT_LE(worst_topk / scale, tol) << "top-5 logits of some row";
  if (near_ties) std::printf("[model] %lld rows differ in argmax on near-ties (reported, not failed)\n", (long long)near_ties);
  // post-RoPE K and V in the cache
  Tensor kp = read_npy(gdir + "/k_pos.npy"), gk = read_npy(gdir + "/k.npy"), gv = read_npy(gdir + "/v.npy");
  const int64_t L = w.cfg.n_layer, P = kp.numel(), Hkv = w.cfg.n_head_kv, d = w.cfg.d_head;
  ASSERT_EQ(gk.shape(), (std::vector<int64_t>{L, P, Hkv, d}));
  for (const auto& [g, name] : {std::pair{&gk, "K"}, std::pair{&gv, "V"}}) {
    const double s = max_abs(g->data<float>(), g->numel());
    double wk = 0;
    for (int64_t l = 0; l < L; ++l) {
      const float* cache = name[0] == 'K' ? eng.k_cache(l) : eng.v_cache(l);
      for (int64_t p = 0; p < P; ++p)
        for (int64_t x = 0; x < Hkv * d; ++x)
          wk = std::max(wk, std::fabs(double(cache[kp.data<int32_t>()[p] * Hkv * d + x]) - g->data<float>()[(l * P + p) * Hkv * d + x]));
    }
    std::printf("[model] %s: cache %s max|Δ|/max = %.3g\n", fs::path(gdir).filename().c_str(), name, wk / s);
    EXPECT_LE(wk / s, tol) << name;
  }
  // greedy, tie-aware
  const std::vector<int32_t> prompt = ids_of(gdir + "/greedy_prompt.npy"), want = ids_of(gdir + "/greedy.npy");
  Tensor gap = read_npy(gdir + "/greedy_gap.npy");
  eng.reset();
  SampleOptions so;
  so.max_new = int64_t(want.size());
  so.stop_at_eos = false;
  const std::vector<int32_t> got = generate(eng, prompt, so);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (gap.data<float>()[i] < 2 * tol * scale) {
      std::printf("[model] greedy diverges at step %zu on a near-tie (gap %.3g): compared %zu tokens\n", i,
                  gap.data<float>()[i], i);
    } else {
      ADD_FAILURE() << "greedy step " << i << ": " << got[i] << " vs transformers " << want[i] << " (gap " << gap.data<float>()[i] << ")";
    }
    break;
  }
}

}  // namespace

TEST(ModelGolden, TinyLlamaGqaLlama3Rope) {
  check_model(kData + "/models/tiny-llama-gqa-llama3", kData + "/goldens/tiny-llama-gqa-llama3");
}
TEST(ModelGolden, TinyQwen2Bias) { check_model(kData + "/models/tiny-qwen2-bias", kData + "/goldens/tiny-qwen2-bias"); }
TEST(ModelGolden, TinyMistralSlidingWindow) {
  check_model(kData + "/models/tiny-mistral-swa", kData + "/goldens/tiny-mistral-swa");
}

// GPT-2 (learned positions, LayerNorm, fused Conv1D c_attn, GELU tanh) over its whole 128-token
// context; golden from transformers in float64 (scripts/make_gpt2_golden.py), so the tolerance is
// 1e-5 (float32 compute measures ~3e-7; GELU erf in place of tanh measures ~9e-5 and must fail).
TEST(ModelGolden, TinyGpt2) { check_model(kData + "/models/tiny-gpt2", kData + "/goldens/tiny-gpt2", 1e-5); }

TEST(ModelGolden, GhostkvRef23mHeldOutPassage4096) {
  if (!fs::exists(kShared)) GTEST_SKIP() << "../shared does not exist on this machine: no reference model to test";
  check_model(kShared + "/models/ghostkv-ref-23m", kData + "/goldens/ref23m");
}

TEST(ModelGolden, Stories260kGreedyMatchesLlama2cReference) {
  if (!fs::exists(kShared)) GTEST_SKIP() << "../shared does not exist on this machine";
  const std::string bin = kShared + "/models/stories260K/stories260K.bin";
  LlamaWeights w = load_model(bin);
  Tokenizer tok = load_tokenizer_for(bin, "", w.cfg.n_vocab);
  Engine eng(w);
  SampleOptions so;
  so.max_new = 40;
  const std::vector<int32_t> out = generate(eng, {int32_t(tok.bos_id() >= 0 ? tok.bos_id() : 1)}, so);
  const std::string text = tok.decode(out);
  // the llama2.c reference program prints this from BOS at temperature 0 (models README)
  const std::string ref = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
  EXPECT_EQ(text.substr(0, ref.size()), ref) << text;
}
