#pragma once
// Certified elimination inside the engine's decode loop: an AttentionHook that runs the witness path
// (run_eliminate: witnesses, bounds, the certified policy with the GQA rule, exact attention over the hot
// tokens and the survivors, the certificate) for every layer of every decode step, on the cache exactly as
// the engine holds it, and records per (step, layer) what was attended and what the certificate gave up.
// Each step is also checked against float64 full attention (run_eliminate's checks: bound violations,
// certificate failures, the output's distance from exact attention).
//
// What it is and is not:
//   - it replaces attention for forwards of ONE query (decode); a prefill (several queries) stays dense (the engine
//     prefills in chunks of 512 queries: a last chunk of one query goes through the hook like a decode step);
//   - the witness records are built from the cache at every step (the basis fitted on every key the step
//     sees): it shows elimination and its certificates in a real model's loop, it does not make decoding
//     faster (building the records reads every key);
//   - models with a sliding window run dense (the witness path has no window).
#include <cstdint>
#include <vector>

#include "ghostkv/eliminate.h"
#include "ghostkv/model/engine.h"

namespace ghostkv {

// One (decode step, layer).
struct EliminationLayerStats {
  int64_t step = 0;            // decode step (0: the first token after the prefill's)
  int64_t layer = 0;
  int64_t n_kv = 0;            // keys the step sees
  double attended_frac = 0;    // (hot + survivors) / keys, mean over KV heads
  double elim_rate = 0;        // eliminated / candidates, mean over KV heads with candidates (0 without)
  double kv_bytes_frac = 0;    // bytes read (witnesses, metadata, the attended K, V) / dense K, V bytes
  double max_mass_bound = 0;   // over query heads: the certificate's bound on the eliminated attention mass
  double max_mass_lost = 0;    // the eliminated mass in float64 (≤ mass_bound: checked)
  double max_out_rel_err = 0;  // ||o − o_exact|| / ||o_exact|| against float64 full attention
  int64_t violations = 0;      // bounds below the exact score (must be 0)
  int64_t certificate_failures = 0;  // mass or output error above its certificate (must be 0)
};

class EliminationHook : public AttentionHook {
 public:
  // opt: the witness and policy (EliminateOptions; keep_arrays is set by the hook); its basis_file, if any, is
  // read per layer (basis_layer = the layer). Only the certified witnesses (quant, lowrank): others throw.
  EliminationHook(const ModelConfig& cfg, EliminateOptions opt);
  bool attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache, const float* v_cache,
              int64_t n_kv, float* out) override;

  const std::vector<EliminationLayerStats>& stats() const { return stats_; }
  int64_t dense_calls() const { return dense_calls_; }  // forwards left to dense attention (prefills, windows)

 private:
  ModelConfig cfg_;
  EliminateOptions opt_;
  std::vector<EliminationLayerStats> stats_;
  int64_t dense_calls_ = 0, last_layer_ = -1, step_ = -1;
};

// Totals over a run's stats: means of attended_frac, elim_rate and kv_bytes_frac over (step, layer), maxima of the
// rest, sums of violations and certificate failures.
struct EliminationSummary {
  int64_t steps = 0, layer_steps = 0;
  double attended_frac = 0, elim_rate = 0, kv_bytes_frac = 0, max_mass_bound = 0, max_mass_lost = 0,
         max_out_rel_err = 0;
  int64_t violations = 0, certificate_failures = 0;
};
EliminationSummary summarize(const std::vector<EliminationLayerStats>& stats);

}  // namespace ghostkv
