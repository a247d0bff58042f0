// The GPU decode path inside the engine's decode loop (gpu_hook.h).
#include "gpu_hook.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "check64.h"
#include "decode.h"
#include "ghostkv/error.h"

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

  // the step against float64 attention over the bf16 keys and values the device holds (check64.h); a ghost step with
  // its detail (the tokens attended, every candidate's bound), so bound violations and the mass given up are counted
  StepDetail det;
  if (!dense_) c->last_step(&det);
  EliminationLayerStats s;
  s.step = step_, s.layer = layer, s.n_kv = n_kv;
  s.max_mass_lost = 0;
  const int64_t hot_lo = std::min<int64_t>(o_.n_sink, n_kv), hot_hi = std::max<int64_t>(n_kv - o_.n_recent, hot_lo);
  const int64_t cand = hot_hi - hot_lo;
  // per token of a page the scan reads: the codes, or the low-rank sketch (ẑ in f16, ρ, e); per page: the quantised
  // witness's meta (h_j, err_j in f16), ν_max, and with anchors the box (2·d bytes of codes, or the low-rank anchor's
  // kLrBoxHalfs f16) and the page bound written (G f16)
  const bool lowrank = o_.bits == "lowrank";
  const double tok = lowrank ? kSketchRank * 2 + 2 + 2
                             : witness_code_bytes(witness_k8(o_.bits == "4" ? 4 : 8, o_.bits == "mixed" ? 32 : -1, d), d);
  const double page_meta = (lowrank ? 0.0 : 2.0 * d * 2) + 4, page_box = (lowrank ? kLrBoxHalfs * 2.0 : 2.0 * d) + 2.0 * G;
  double bytes = 0;
  int64_t with_cand = 0;
  for (int h = 0; h < hq; ++h) {
    const int g = h / G;
    const Certificate& ct = cert[size_t(h)];
    const HeadCheck hc = check_head(q + int64_t(h) * d, k_cache, v_cache, n_kv, hkv, d, g, scale, out + int64_t(h) * d, ct,
                                    dense_ ? 0.0 : o_.delta, dense_ ? nullptr : det.kept.data() + int64_t(g) * n_kv,
                                    dense_ ? nullptr : det.bound.data() + int64_t(h) * n_kv);
    s.max_out_rel_err = std::max(s.max_out_rel_err, hc.exact_norm > 0 ? hc.out_err / hc.exact_norm : hc.out_err);
    s.max_mass_bound = std::max(s.max_mass_bound, ct.mass_bound);
    if (!dense_) s.max_mass_lost = std::max(s.max_mass_lost, hc.mass_lost);  // dense: nothing given up
    s.violations += hc.violations;
    s.certificate_failures += !hc.cert_ok;
    int64_t att = std::min<int64_t>(ct.n_attended, n_kv);
    if (!dense_) {  // the list the step attended agrees with its certificate's count
      att = std::count(det.kept.begin() + int64_t(g) * n_kv, det.kept.begin() + int64_t(g + 1) * n_kv, uint8_t(1));
      if (att != ct.n_attended) ++s.certificate_failures;
    }
    s.attended_frac += double(att) / double(n_kv);
    if (cand > 0) s.elim_rate += double(n_kv - att) / double(cand), ++with_cand;
    if (h % G == 0) {  // once per KV head: what its step reads
      const double pages = double((n_kv + kPage - 1) / kPage);
      // the witness of every token, or with anchors that of the pages the scan read (whole pages) plus every page's box
      const double codes = dense_      ? 0.0
                           : o_.anchors ? double(det.pages_read[size_t(g)]) * kPage * tok + pages * page_box
                                        : double(n_kv) * tok;
      bytes += dense_ ? double(n_kv) * 2 * d * 2
                      : codes + pages * page_meta + double(att) * 2 * d * 2 + double(d) * d * 4 + double(d) * 4;
    }
  }
  s.attended_frac /= hq;
  s.elim_rate = with_cand ? s.elim_rate / double(with_cand) : 0.0;
  s.kv_bytes_frac = bytes / (double(hkv) * double(n_kv) * 2 * d * 2);
  stats_.push_back(s);
  return true;
}

}  // namespace ghostkv::cuda
