#include "ghostkv/model/engine.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ghostkv/error.h"

namespace ghostkv {

namespace {

// Y[n, out] = X[n, in] · W[out, in]ᵀ (+ b)
void linear(const float* x, int64_t n, int64_t in, const std::vector<float>& w, int64_t out, const std::vector<float>& b,
            float* y) {
  if (n == 1)  // decode: a matrix-vector product streams W once at memory speed
    cblas_sgemv(CblasRowMajor, CblasNoTrans, int(out), int(in), 1.0f, w.data(), int(in), x, 1, 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(out), int(in), 1.0f, x, int(in), w.data(), int(in),
                0.0f, y, int(out));
  if (!b.empty())
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) y[i * out + j] += b[j];
}

// HF LlamaRMSNorm: x·rsqrt(mean(x²) + eps)·w, in float32
void rmsnorm(const float* x, int64_t n, int64_t d, const std::vector<float>& w, double eps, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    float ss = 0.0f;
    for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
    const float r = 1.0f / std::sqrt(ss / float(d) + float(eps));
    for (int64_t j = 0; j < d; ++j) y[i * d + j] = w[j] * (xi[j] * r);
  }
}

// torch.nn.LayerNorm: (x − mean)/sqrt(var + eps)·w + b, var biased; mean and var accumulated in
// float64 (torch accumulates in float32: the difference is within float32 rounding of the result).
void layernorm(const float* x, int64_t n, int64_t d, const std::vector<float>& w, const std::vector<float>& b,
               double eps, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; ++j) mean += xi[j];
    mean /= double(d);
    for (int64_t j = 0; j < d; ++j) var += (xi[j] - mean) * (xi[j] - mean);
    var /= double(d);
    const double r = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < d; ++j) y[i * d + j] = float((xi[j] - mean) * r) * w[j] + b[j];
  }
}

// GELU, tanh approximation (HF gelu_new): 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)));
// exact (HF gelu): 0.5·x·(1 + erf(x/sqrt(2))). Evaluated in float64, rounded once.
void gelu(float* x, int64_t n, FfnAct act) {
  constexpr double kSqrt2OverPi = 0.79788456080286535588, kInvSqrt2 = 0.70710678118654752440;
  if (act == FfnAct::gelu_tanh) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      x[i] = float(0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * (v + 0.044715 * v * v * v))));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      x[i] = float(0.5 * v * (1.0 + std::erf(v * kInvSqrt2)));
    }
  }
}

}  // namespace

void dense_attention(const float* q, const int64_t* pos, int64_t n, const float* k_cache, const float* v_cache,
                     int64_t n_kv, int64_t Hq, int64_t Hkv, int64_t d, double scale, int64_t window, float* out) {
  const int64_t group = Hq / Hkv, ldq = Hq * d, ldk = Hkv * d;
  const int64_t block = 64;
  std::vector<float> s;
  for (int64_t h = 0; h < Hq; ++h) {
    const int64_t g = h / group;
    for (int64_t i0 = 0; i0 < n; i0 += block) {
      const int64_t i1 = std::min(n, i0 + block), nb = i1 - i0;
      int64_t t_hi = 0, t_lo = n_kv;
      for (int64_t i = i0; i < i1; ++i) {
        GKV_ASSERT(pos[i] < n_kv, "query position beyond the cache");
        t_hi = std::max(t_hi, pos[i] + 1);
        t_lo = std::min(t_lo, window > 0 ? std::max<int64_t>(0, pos[i] - window + 1) : 0);
      }
      const int64_t nt = t_hi - t_lo;
      s.assign(size_t(nb * nt), 0.0f);
      if (nb == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, int(nt), int(d), float(scale), k_cache + t_lo * ldk + g * d, int(ldk),
                    q + i0 * ldq + h * d, 1, 0.0f, s.data(), 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nb), int(nt), int(d), float(scale), q + i0 * ldq + h * d,
                    int(ldq), k_cache + t_lo * ldk + g * d, int(ldk), 0.0f, s.data(), int(nt));
      for (int64_t i = 0; i < nb; ++i) {
        float* si = s.data() + i * nt;
        const int64_t p = pos[i0 + i];
        const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
        float m = -INFINITY;
        for (int64_t t = 0; t < nt; ++t) {
          const int64_t tt = t_lo + t;
          if (tt > p || tt < lo) si[t] = -INFINITY;
          m = std::max(m, si[t]);
        }
        float z = 0.0f;
        for (int64_t t = 0; t < nt; ++t) z += (si[t] = std::exp(si[t] - m));
        const float inv = 1.0f / z;
        for (int64_t t = 0; t < nt; ++t) si[t] *= inv;
      }
      if (nb == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, int(nt), int(d), 1.0f, v_cache + t_lo * ldk + g * d, int(ldk), s.data(), 1,
                    0.0f, out + i0 * ldq + h * d, 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nb), int(d), int(nt), 1.0f, s.data(), int(nt),
                    v_cache + t_lo * ldk + g * d, int(ldk), 0.0f, out + i0 * ldq + h * d, int(ldq));
    }
  }
}

struct Engine::Impl {
  const LlamaWeights* w;
  ModelConfig cfg;
  int64_t max_ctx = 0, n_past = 0;
  std::vector<std::vector<float>> kc, vc;  // per layer [max_ctx, Hkv, d]
  std::vector<float> cos_t, sin_t;         // [max_ctx, d/2] (float32, as HF computes them)

  void rope(float* x, int64_t n_head, const int64_t* pos, int64_t n) const {
    const int64_t d = cfg.d_head, half = d / 2;
    for (int64_t i = 0; i < n; ++i) {
      const float* c = cos_t.data() + pos[i] * half;
      const float* s = sin_t.data() + pos[i] * half;
      for (int64_t h = 0; h < n_head; ++h) {
        float* v = x + (i * n_head + h) * d;
        if (cfg.rope_style == RopeStyle::half_split) {
          for (int64_t j = 0; j < half; ++j) {
            const float a = v[j], b = v[j + half];
            v[j] = a * c[j] - b * s[j];
            v[j + half] = b * c[j] + a * s[j];
          }
        } else {
          for (int64_t j = 0; j < half; ++j) {
            const float a = v[2 * j], b = v[2 * j + 1];
            v[2 * j] = a * c[j] - b * s[j];
            v[2 * j + 1] = a * s[j] + b * c[j];
          }
        }
      }
    }
  }
};

Engine::Engine(const LlamaWeights& w, EngineOptions opt) : impl_(new Impl) {
  Impl& m = *impl_;
  m.w = &w;
  m.cfg = w.cfg;
  const ModelConfig& c = m.cfg;
  GKV_CHECK(!c.uses_rope() || c.d_head % 2 == 0, c.source, ": d_head ", c.d_head, " must be even for RoPE");
  GKV_CHECK(c.n_head_kv > 0 && c.n_head_q % c.n_head_kv == 0, c.source, ": n_head_q ", c.n_head_q,
            " is not a multiple of n_head_kv ", c.n_head_kv);
  m.max_ctx = opt.max_ctx > 0 ? opt.max_ctx : std::max<int64_t>(c.max_pos, 1);
  GKV_CHECK(m.max_ctx <= (int64_t(1) << 24), "engine: max_ctx ", m.max_ctx, " is absurd");
  if (c.learned_pos) {
    // learned absolute positions: there is no embedding for a position ≥ max_pos
    GKV_CHECK(m.max_ctx <= c.max_pos, c.source, ": max_ctx ", m.max_ctx, " exceeds the ", c.max_pos,
              " learned positions (n_positions) of the model");
    GKV_CHECK(int64_t(w.pos_embed.size()) == c.max_pos * c.d_model, c.source, ": position embedding has ",
              w.pos_embed.size(), " values, expected max_pos x d_model = ", c.max_pos, " x ", c.d_model);
  }
  if (c.layer_norm) {
    GKV_CHECK(int64_t(w.final_norm_b.size()) == c.d_model, c.source, ": final LayerNorm bias has ",
              w.final_norm_b.size(), " values, expected d_model = ", c.d_model);
    for (const LayerWeights& L : w.layers)
      GKV_CHECK(int64_t(L.attn_norm_b.size()) == c.d_model && int64_t(L.ffn_norm_b.size()) == c.d_model, c.source,
                ": a layer lacks its LayerNorm biases (", L.attn_norm_b.size(), ", ", L.ffn_norm_b.size(),
                " values, expected d_model = ", c.d_model, ")");
  }
  m.kc.resize(c.n_layer);
  m.vc.resize(c.n_layer);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    m.kc[l].assign(size_t(m.max_ctx * c.n_head_kv * c.d_head), 0.0f);
    m.vc[l].assign(size_t(m.max_ctx * c.n_head_kv * c.d_head), 0.0f);
  }
  if (!c.uses_rope()) return;
  // RoPE tables as HF computes them: inv_freq in float32, angle = float32(pos)·inv_freq in float32,
  // then cos/sin of that float32 angle (llama2.c: the same in float32 with powf).
  const std::vector<double> inv = c.rope_inv_freq();
  const int64_t half = c.d_head / 2;
  m.cos_t.resize(size_t(m.max_ctx * half));
  m.sin_t.resize(size_t(m.max_ctx * half));
  for (int64_t p = 0; p < m.max_ctx; ++p)
    for (int64_t j = 0; j < half; ++j) {
      const float ang = float(p) * float(inv[j]);
      m.cos_t[p * half + j] = float(std::cos(double(ang)));
      m.sin_t[p * half + j] = float(std::sin(double(ang)));
    }
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
const ModelConfig& Engine::config() const { return impl_->cfg; }
int64_t Engine::n_past() const { return impl_->n_past; }
int64_t Engine::max_ctx() const { return impl_->max_ctx; }
void Engine::reset() { impl_->n_past = 0; }
const float* Engine::k_cache(int64_t l) const { return impl_->kc.at(size_t(l)).data(); }
const float* Engine::v_cache(int64_t l) const { return impl_->vc.at(size_t(l)).data(); }

void Engine::forward(const int32_t* ids, int64_t n_total, float* logits, int64_t n_logits, AttentionHook* hook,
                     CaptureSink* capture) {
  Impl& m = *impl_;
  const ModelConfig& c = m.cfg;
  const LlamaWeights& w = *m.w;
  GKV_CHECK(n_logits >= 0 && n_logits <= n_total, "forward: n_logits ", n_logits, " outside [0, n = ", n_total, "]");
  GKV_CHECK(m.n_past + n_total <= m.max_ctx, "forward: context ", m.n_past + n_total, " exceeds max_ctx ", m.max_ctx,
            " of ", c.source);
  for (int64_t i = 0; i < n_total; ++i)
    GKV_CHECK(ids[i] >= 0 && ids[i] < c.n_vocab, "forward: token id ", ids[i], " at index ", i, " outside [0, n_vocab = ",
              c.n_vocab, ")");
  const int64_t D = c.d_model, Hq = c.n_head_q, Hkv = c.n_head_kv, d = c.d_head, F = c.d_ff;
  const int64_t chunk = 512;  // bounds activation memory on long prompts
  std::vector<float> x, h, q, k, v, att, o, g, u;
  std::vector<int64_t> pos;
  for (int64_t c0 = 0; c0 < n_total; c0 += chunk) {
    const int64_t n = std::min(chunk, n_total - c0);
    x.resize(size_t(n * D));
    h.resize(size_t(n * D));
    q.resize(size_t(n * Hq * d));
    k.resize(size_t(n * Hkv * d));
    v.resize(size_t(n * Hkv * d));
    att.resize(size_t(n * Hq * d));
    o.resize(size_t(n * D));
    if (c.ffn_act == FfnAct::silu_glu) g.resize(size_t(n * F));
    u.resize(size_t(n * F));
    pos.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      pos[i] = m.n_past + i;
      std::copy_n(w.embed.data() + int64_t(ids[c0 + i]) * D, D, x.data() + i * D);
      if (c.learned_pos)  // GPT-2: wte[id] + wpe[pos]
        for (int64_t j = 0; j < D; ++j) x[i * D + j] += w.pos_embed[size_t(pos[i] * D + j)];
    }
    // RMSNorm (Llama family) or LayerNorm with bias (GPT-2)
    auto norm = [&](const float* in, int64_t rows, const std::vector<float>& wt, const std::vector<float>& b, float* y) {
      if (c.layer_norm) layernorm(in, rows, D, wt, b, c.norm_eps, y);
      else rmsnorm(in, rows, D, wt, c.norm_eps, y);
    };
    const int64_t n_kv = m.n_past + n;
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const LayerWeights& L = w.layers[l];
      norm(x.data(), n, L.attn_norm, L.attn_norm_b, h.data());
      linear(h.data(), n, D, L.wq, Hq * d, L.bq, q.data());
      linear(h.data(), n, D, L.wk, Hkv * d, L.bk, k.data());
      linear(h.data(), n, D, L.wv, Hkv * d, L.bv, v.data());
      if (c.uses_rope()) {
        m.rope(q.data(), Hq, pos.data(), n);
        m.rope(k.data(), Hkv, pos.data(), n);
      }
      std::copy(k.begin(), k.end(), m.kc[l].begin() + m.n_past * Hkv * d);
      std::copy(v.begin(), v.end(), m.vc[l].begin() + m.n_past * Hkv * d);
      if (capture) capture->on_layer(l, q.data(), pos.data(), n, m.kc[l].data(), m.vc[l].data(), n_kv);
      if (!hook || !hook->attend(l, q.data(), pos.data(), n, m.kc[l].data(), m.vc[l].data(), n_kv, att.data()))
        dense_attention(q.data(), pos.data(), n, m.kc[l].data(), m.vc[l].data(), n_kv, Hq, Hkv, d, c.attn_scale(),
                        c.sliding_window, att.data());
      linear(att.data(), n, Hq * d, L.wo, D, L.bo, o.data());
      for (int64_t i = 0; i < n * D; ++i) x[i] += o[i];
      norm(x.data(), n, L.ffn_norm, L.ffn_norm_b, h.data());
      if (c.ffn_act == FfnAct::silu_glu) {
        linear(h.data(), n, D, L.w_gate, F, {}, g.data());
        linear(h.data(), n, D, L.w_up, F, {}, u.data());
        for (int64_t i = 0; i < n * F; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];  // SiLU(gate)·up
        linear(g.data(), n, F, L.w_down, D, {}, o.data());
      } else {  // GPT-2: c_proj(GELU(c_fc h))
        linear(h.data(), n, D, L.w_up, F, L.b_up, u.data());
        gelu(u.data(), n * F, c.ffn_act);
        linear(u.data(), n, F, L.w_down, D, L.b_down, o.data());
      }
      for (int64_t i = 0; i < n * D; ++i) x[i] += o[i];
    }
    m.n_past += n;
    // logits of the rows among the last n_logits of the whole call that fall in this chunk
    const int64_t first_row = n_total - n_logits;
    const int64_t r0 = std::max(first_row, c0), r1 = c0 + n;
    if (logits && r1 > r0) {
      const int64_t nr = r1 - r0;
      norm(x.data() + (r0 - c0) * D, nr, w.final_norm, w.final_norm_b, h.data());
      const std::vector<float>& head = w.lm_head.empty() ? w.embed : w.lm_head;
      linear(h.data(), nr, D, head, c.n_vocab, {}, logits + (r0 - first_row) * c.n_vocab);
    }
  }
}

std::vector<int32_t> generate(Engine& eng, const std::vector<int32_t>& prompt, const SampleOptions& opt,
                              AttentionHook* hook) {
  const ModelConfig& c = eng.config();
  GKV_CHECK(!prompt.empty(), "generate: empty prompt (give a prompt or a BOS token)");
  std::vector<float> logits(size_t(c.n_vocab));
  std::vector<int32_t> out;
  std::mt19937_64 rng(opt.seed);
  eng.forward(prompt.data(), int64_t(prompt.size()), logits.data(), 1, hook);
  for (int64_t step = 0; step < opt.max_new; ++step) {
    int32_t next = 0;
    if (opt.temperature <= 0) {
      for (int32_t i = 1; i < int32_t(c.n_vocab); ++i)
        if (logits[i] > logits[next]) next = i;
    } else {
      double mx = *std::max_element(logits.begin(), logits.end());
      std::vector<double> p(logits.size());
      double z = 0;
      for (size_t i = 0; i < p.size(); ++i) z += (p[i] = std::exp((logits[i] - mx) / opt.temperature));
      double r = std::uniform_real_distribution<double>(0, z)(rng);
      for (size_t i = 0; i < p.size(); ++i) {
        r -= p[i];
        if (r <= 0) { next = int32_t(i); break; }
      }
    }
    out.push_back(next);
    if (opt.stop_at_eos && c.eos_id >= 0 && next == c.eos_id) break;
    if (step + 1 == opt.max_new || eng.n_past() >= eng.max_ctx()) break;
    eng.forward(&next, 1, logits.data(), 1, hook);
  }
  return out;
}

}  // namespace ghostkv
