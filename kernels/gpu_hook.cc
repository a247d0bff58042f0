// The GPU decode path inside the engine's decode loop (gpu_hook.h).
#include "gpu_hook.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "decode.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"

namespace ghostkv::cuda {

GpuEliminationHook::GpuEliminationHook(const ModelConfig& cfg, int64_t capacity, CacheOptions o, bool dense)
    : cfg_(cfg), capacity_(capacity), o_(std::move(o)), dense_(dense) {
  cfg_.validate();
  GKV_CHECK(capacity_ >= 1, "GPU elimination: capacity ", capacity_, " tokens");
  GKV_CHECK(cfg_.d_head == 64 || cfg_.d_head == 128, "GPU elimination: the GPU path takes d_head 64 or 128, the model has ",
            cfg_.d_head);
  GKV_CHECK(cfg_.group() >= 1 && cfg_.group() <= 4, "GPU elimination: the GPU path takes 1-4 query heads per KV head, the model has ",
            cfg_.n_head_q, " over ", cfg_.n_head_kv);
  o_.capacity = capacity_;
  caches_.resize(size_t(cfg_.n_layer));
}

GpuEliminationHook::~GpuEliminationHook() = default;

bool GpuEliminationHook::attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache,
                                const float* v_cache, int64_t n_kv, float* out) {
  (void)pos;
  if (n != 1 || cfg_.sliding_window > 0) {  // a prefill, or a window the GPU path does not have: dense on the CPU
    ++dense_calls_;
    return false;
  }
  GKV_CHECK(layer >= 0 && layer < cfg_.n_layer, "GPU elimination: layer ", layer, " of a model of ", cfg_.n_layer);
  if (step_ < 0 || layer <= last_layer_) ++step_;
  last_layer_ = layer;
  const int hkv = int(cfg_.n_head_kv), hq = int(cfg_.n_head_q), d = int(cfg_.d_head), G = hq / hkv;
  const int64_t row = int64_t(hkv) * d;
  std::unique_ptr<GhostCache>& c = caches_[size_t(layer)];
  if (!c) {
    c = std::make_unique<GhostCache>(k_cache, v_cache, n_kv, hkv, d, o_);
  } else {
    GKV_CHECK(n_kv > c->n(), "GPU elimination: layer ", layer, " holds ", c->n(), " tokens, the step sees ", n_kv,
              " (the cache only grows)");
    c->append(k_cache + c->n() * row, v_cache + c->n() * row, n_kv - c->n());
  }
  const double scale = cfg_.attn_scale();
  std::vector<Certificate> cert(static_cast<size_t>(hq));
  c->decode(q, hq, scale, out, cert.data(), dense_);

  // the step against float64 attention over the bf16 keys and values the device holds
  EliminationLayerStats s;
  s.step = step_, s.layer = layer, s.n_kv = n_kv;
  s.max_mass_lost = std::numeric_limits<double>::quiet_NaN();
  const int64_t hot_lo = std::min<int64_t>(o_.n_sink, n_kv), hot_hi = std::max<int64_t>(n_kv - o_.n_recent, hot_lo);
  const int64_t cand = hot_hi - hot_lo;
  const int cb = witness_code_bytes(witness_k8(o_.bits == "4" ? 4 : 8, o_.bits == "mixed" ? 32 : -1, d), d);
  std::vector<double> sc(static_cast<size_t>(n_kv)), ex(static_cast<size_t>(d));
  double bytes = 0;
  int64_t with_cand = 0;
  for (int h = 0; h < hq; ++h) {
    const int g = h / G;
    double mx = -INFINITY;
    for (int64_t t = 0; t < n_kv; ++t) {
      double a = 0;
      for (int j = 0; j < d; ++j) a += double(q[h * d + j]) * double(bf16_to_f32(f32_to_bf16(k_cache[t * row + g * d + j])));
      sc[size_t(t)] = a * scale;
      mx = std::max(mx, sc[size_t(t)]);
    }
    std::fill(ex.begin(), ex.end(), 0.0);
    double z = 0;
    for (int64_t t = 0; t < n_kv; ++t) {
      const double w = std::exp(sc[size_t(t)] - mx);
      z += w;
      for (int j = 0; j < d; ++j) ex[size_t(j)] += w * double(bf16_to_f32(f32_to_bf16(v_cache[t * row + g * d + j])));
    }
    double e2 = 0, x2 = 0;
    for (int j = 0; j < d; ++j) {
      ex[size_t(j)] /= z;
      e2 += (double(out[h * d + j]) - ex[size_t(j)]) * (double(out[h * d + j]) - ex[size_t(j)]);
      x2 += ex[size_t(j)] * ex[size_t(j)];
    }
    const Certificate& ct = cert[size_t(h)];
    const double err = std::sqrt(e2), nx = std::sqrt(x2);
    s.max_out_rel_err = std::max(s.max_out_rel_err, nx > 0 ? err / nx : err);
    s.max_mass_bound = std::max(s.max_mass_bound, ct.mass_bound);
    const bool ok = ct.flags == 0 && ct.mass_bound <= o_.delta * (1 + 1e-9) && err <= ct.out_err_bound + 1e-4 * nx;
    s.certificate_failures += !ok;
    const int64_t att = std::min<int64_t>(ct.n_attended, n_kv);
    s.attended_frac += double(att) / double(n_kv);
    if (cand > 0) s.elim_rate += double(n_kv - att) / double(cand), ++with_cand;
    if (h % G == 0)  // once per KV head: what its step reads
      bytes += dense_ ? double(n_kv) * 2 * d * 2
                      : double(n_kv) * cb + double((n_kv + kPage - 1) / kPage) * 2 * d * 2 + double(att) * 2 * d * 2 +
                            double(d) * d * 4 + double(d) * 4;
  }
  s.attended_frac /= hq;
  s.elim_rate = with_cand ? s.elim_rate / double(with_cand) : 0.0;
  s.kv_bytes_frac = bytes / (double(hkv) * double(n_kv) * 2 * d * 2);
  stats_.push_back(s);
  return true;
}

}  // namespace ghostkv::cuda
