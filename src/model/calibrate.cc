#include "ghostkv/model/calibrate.h"

#include "ghostkv/error.h"

namespace ghostkv {

BasisSet calibrate_bases(Engine& eng, const std::vector<std::vector<int32_t>>& texts, const std::vector<int64_t>& layers,
                         BasisKind kind, uint64_t seed) {
  const ModelConfig& c = eng.config();
  GKV_CHECK(!texts.empty(), "calibrate: no calibration text");
  const int64_t Hkv = c.n_head_kv, d = c.d_head;
  // pooled keys per (layer slot, head): [n_total, d]
  std::vector<std::vector<float>> keys(layers.size() * size_t(Hkv));
  int64_t total = 0;
  for (const auto& ids : texts) {
    GKV_CHECK(!ids.empty(), "calibrate: an empty calibration text");
    eng.reset();
    eng.forward(ids.data(), int64_t(ids.size()), nullptr, 0);
    const int64_t n = int64_t(ids.size());
    for (size_t s = 0; s < layers.size(); ++s) {
      const float* kc = eng.k_cache(layers[s]);
      for (int64_t g = 0; g < Hkv; ++g) {
        auto& dst = keys[s * size_t(Hkv) + size_t(g)];
        for (int64_t t = 0; t < n; ++t) dst.insert(dst.end(), kc + (t * Hkv + g) * d, kc + (t * Hkv + g + 1) * d);
      }
    }
    total += n;
  }
  BasisSet set;
  set.model = c.source;
  set.n_layer = c.n_layer;
  set.n_head_kv = Hkv;
  set.d_head = d;
  set.fit_tokens = total;
  set.layers = layers;
  for (size_t s = 0; s < layers.size(); ++s)
    for (int64_t g = 0; g < Hkv; ++g) {
      const auto& k = keys[s * size_t(Hkv) + size_t(g)];
      set.bases.push_back(fit_basis(kind, k.data(), total, d, d, d, seed + uint64_t(s) * 1000 + uint64_t(g)));
    }
  return set;
}

}  // namespace ghostkv
