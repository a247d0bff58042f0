#pragma once
// The GPU decode path inside the engine's decode loop: an AttentionHook that holds one GhostCache (cache.h) per layer,
// built from the layer's K and V at the first decode step (the prompt's keys) and grown by GhostCache::append with each
// step's new token, and runs every decode step's attention on the GPU: the ghost path (witness bounds, the certified
// policy, attention over the hot tokens and the survivors, the certificate) or, with dense, every token.
//
// Each step is checked on the host against attention in float64 over the keys and values as the device holds them
// (bf16; check64.h): a head fails its certificate if it is flagged, its mass bound exceeds δ (1 + 1e-9), or
// ||o − o_exact|| exceeds out_err_bound + 1e-4·||o_exact|| (the float32 arithmetic of attention, which the
// certificate does not cover; as scripts/gpu_python_check.py). A ghost step's detail (GhostCache::last_step: the
// tokens attended and every candidate's bound) is read back too, so the hook also counts bound violations (a bound
// below its exact score) and checks the mass given up against mass_bound, the change elimination made to the output
// against out_err_bound, and the survivor list against the certificate's n_attended.
//
// What it is and is not: one sequence, synchronous steps with host copies of q and the output: it shows the kernels'
// certificates in a real model's loop, not decode speed. The prefill stays on the CPU (dense); models with a sliding
// window run dense; the KV cache is rounded to bf16 on the device, so a continuation is compared with the same hook in
// dense mode (every token attended over the same bf16 cache), not with the CPU engine's float32 attention.
#include <cstdint>
#include <memory>
#include <vector>

#include "cache.h"
#include "ghostkv/model/eliminate_hook.h"
#include "ghostkv/model/engine.h"

namespace ghostkv::cuda {

class GpuEliminationHook : public AttentionHook {
 public:
  // capacity: the most tokens a layer's cache will hold (prompt + new tokens); o: the witness bits, hot tokens, δ
  // (its capacity is set from the first argument). dense: every token attended (the comparison run).
  GpuEliminationHook(const ModelConfig& cfg, int64_t capacity, CacheOptions o, bool dense = false);
  ~GpuEliminationHook() override;
  bool attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache, const float* v_cache,
              int64_t n_kv, float* out) override;

  // per (decode step, layer): attended_frac (n_attended / n_kv, mean over query heads), elim_rate (eliminated /
  // candidates), kv_bytes_frac (the GPU path's bytes: per KV head the witness of every token, its codes or its low-rank
  // sketch (with anchors: of the pages the scan read, and every page's box and bound; not the page list, 12 bytes per
  // page read), every page's meta (quantised witness) and ν_max, the bf16 K and V of the attended tokens and the
  // rotation and μ, over n_kv·2·d·2), max_mass_bound, max_out_rel_err (against
  // float64), max_mass_lost (float64; 0 in dense mode: nothing given up), violations, certificate_failures
  const std::vector<EliminationLayerStats>& stats() const { return stats_; }
  int64_t dense_calls() const { return dense_calls_; }

 private:
  ModelConfig cfg_;
  int64_t capacity_;
  CacheOptions o_;
  bool dense_;
  std::vector<std::unique_ptr<GhostCache>> caches_;
  std::vector<EliminationLayerStats> stats_;
  int64_t dense_calls_ = 0, last_layer_ = -1, step_ = -1;
};

}  // namespace ghostkv::cuda
