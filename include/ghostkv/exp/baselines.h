#pragma once
// Baselines of KV-token selection for decode attention, evaluated on one layer's inputs exactly as
// run_eliminate is (causal: query i sees keys 0..pos_i; hot = first n_sink + last n_recent keys it sees,
// always read; candidates = the rest; GQA: one selection per KV head, shared by its query heads), with
// the DESIGN §6 metrics computed in float64 against full exact attention.
//   full         every key (kv_bytes_frac 1)
//   window       StreamingLLM: sinks + a recent window widened to the byte budget
//   h2o          H2O: heavy hitters by attention accumulated over the decode steps (queries in order;
//                step 0 starts from its own full attention, as a prefill would); evictions are final
//   quest        Quest: pages of `page` tokens, per-channel min/max (f16) per page, UB_page =
//                Σ_j max(q_j lo_j, q_j hi_j); top pages read
//   loki         Loki: PCA basis of the keys every query sees, rank-r sketch (bf16) per token,
//                approximate scores (Pᵀq)·(Pᵀ(k − μ)); top tokens read
//   oracle_topk  top tokens by the true score (the ceiling of any top-K selector; its scores are free)
// Budgets are bytes: per (query, KV head) step the method reads at most kv_bytes_frac × dense bytes,
// counting hot K,V, its metadata (page boxes, sketches, basis, H2O's score state) and the selected
// tokens' K,V, all in bf16 (f16 boxes) as DESIGN §6 counts them; GQA selections are the union of the
// group's per-head rankings, interleaved by rank, cut at the budget. Not certified: mass_bound is not
// computed (0), violations 0 by definition.
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/eliminate.h"
#include "ghostkv/inputs.h"

namespace ghostkv::exp {

enum class BaselineKind { full, window, h2o, quest, loki, oracle_topk };
BaselineKind parse_baseline(const std::string& s);
const char* baseline_name(BaselineKind k);

struct BaselineParams {
  BaselineKind kind = BaselineKind::oracle_topk;
  double kv_bytes_frac = 0.25;  // byte budget per step as a fraction of dense
  int64_t top_k = -1;           // ≥ 0: fixed top-K per query head (oracle_topk only), no byte budget
  int64_t n_sink = 4, n_recent = 64;
  int64_t page = 16;            // quest
  int64_t loki_rank = 32;       // loki
  int64_t topk_metric = 16;
  double fer_alpha = 0.9;
  int threads = 0;
};

// Fills steps (n_seen, n_hot, n_cand, n_elim, read/dense bytes) and heads (mass_lost, out_rel_err,
// fer_topk, fer_mass, fer_mass_chance, n_cand) and kv_bytes_frac; other fields stay 0.
EliminateResult run_baseline(const AttnInputs& in, const BaselineParams& p);
// Several methods/budgets on the same inputs, sharing one exact attention (all must share n_sink,
// n_recent and topk_metric).
std::vector<EliminateResult> run_baselines(const AttnInputs& in, const std::vector<BaselineParams>& ps);

}  // namespace ghostkv::exp
