#pragma once
// The elimination pipeline for one layer (DESIGN §2-§6), evaluated causally:
//   records are built once (prefill) per KV head; for every query i and KV head g:
//   hot tokens (first n_sink, last n_recent of the keys query i sees) are attended exactly;
//   every other visible key is a candidate, bounded by its witness; the policy (with the GQA
//   rule: a KV token is eliminated only if every query head of the group eliminates it) picks the
//   eliminated set E before any K, V of a candidate is read; the survivors are attended exactly;
//   and each query head gets its certificate: mass_bound ≥ Σ_{t∈E} p_t and out_err_bound ≥ ||o − ô||.
// Everything is checked against float64 full attention (metrics, violations, certificate).
#include <cstdint>
#include <string>
#include <vector>

#include "ghostkv/anchor.h"
#include "ghostkv/basis.h"
#include "ghostkv/inputs.h"
#include "ghostkv/tensor.h"
#include "ghostkv/witness.h"

namespace ghostkv {

enum class WitnessKind { lowrank, quant, proto, exact };
WitnessKind parse_witness(const std::string& s);
const char* witness_name(WitnessKind w);

enum class PolicyKind { mass, rel, abs, topk };
struct Policy {
  PolicyKind kind = PolicyKind::mass;
  double value = 1e-3;  // δ, τ, θ or K
  std::string text() const;
};
Policy parse_policy(const std::string& s);  // "mass:1e-3", "rel:8", "abs:0.5", "topk:256"

struct EliminateOptions {
  WitnessKind witness = WitnessKind::quant;
  BasisKind sketch = BasisKind::pca;  // basis (pca/orth/gauss/identity); `proto` selects the heuristic
  int64_t rank = 16;
  int64_t residual_blocks = 1;
  Storage storage = Storage::bf16;
  std::string bits = "8";
  int64_t group = 0;                  // quant: tokens per scale group (0 = one group)
  int64_t n_sink = 4, n_recent = 64;
  Policy policy;
  double two_stage = 0;               // ≥ 1: top-M count per query head; in (0,1): fraction of candidates
  bool reference = false;             // run the float64 reference path instead of the float32 one
  bool fit_all = false;               // fit the basis on all keys (non-causal) instead of the prefix
  std::string basis_file;             // calibrated bases (ghostkv calibrate) instead of fitting on the prompt
  int64_t basis_layer = -1;           // which layer of the basis file these inputs belong to
  uint64_t seed = 0;
  double proto_eps = 0.05, proto_sigma = 0.05;
  int64_t topk_metric = 16;           // k of fer_topk@k and recall@k
  double fer_alpha = 0.9;             // α of fer_mass@α
  bool keep_arrays = false;           // fill upper_bound / survivors / output
  int threads = 0;                    // 0 = OpenMP default
  // Anchors (DESIGN §4.2-§4.4), built per KV head over the prefill keys [0, fit_n) with the same basis;
  // the cascade bounds each query's anchors first (anchors.seed + g seeds k-means of KV head g):
  //   mass: per head, the longest prefix of its anchors by UB_A (lowest first) with certified
  //         Σ n_a·e^{UB_A − m_L} within the budget of the hot tokens' Z_L; rel/abs: UB_A below the
  //         head's threshold; an anchor is eliminated only if every head of the group eliminates it;
  //   the token stage (two-stage, token witness, same policy) then runs on the remaining candidates,
  //         with the anchors' certified mass already charged to each head's budget;
  //   topk: anchors are not used (a top-K cut has no anchor-level meaning; every record is read).
  AnchorParams anchors;
};

// Per (query, KV head) step.
struct StepStats {
  int64_t n_seen = 0, n_hot = 0, n_cand = 0, n_elim = 0, n_stage1 = 0, n_oracle_elim = 0;
  int64_t n_anchor_elim = 0;   // candidates eliminated at the anchor level (subset of n_elim)
  int64_t n_anchors_read = 0;  // anchor records read (anchors with at least one candidate)
  int64_t n_records_read = 0;  // token witness records read
  double read_bytes = 0, dense_bytes = 0;
};
// Per (query, query head).
struct HeadStats {
  int64_t violations = 0;
  bool cert_fail = false;
  double mass_lost = 0, mass_bound = 0, out_err = 0, out_err_bound = 0, out_rel_err = 0, out_num_err = 0;
  double out_num_err_bound = 0;
  double fer_topk = 0, fer_mass = 0, fer_mass_chance = 0, recall = 0, spearman = 0;
  double oracle_mass_lost = 0;
  int64_t n_cand = 0;  // candidates of this step (ranking metrics are defined only when > 0)
};

struct Dist { double mean = 0, median = 0, p10 = 0, p90 = 0, min = 0, max = 0; };
Dist dist_of(std::vector<double> x);

struct EliminateResult {
  std::vector<StepStats> steps;   // [n_q, n_head_kv]
  std::vector<HeadStats> heads;   // [n_q, n_head_q]
  int64_t violations = 0, certificate_failures = 0, candidates_checked = 0;
  int64_t num_err_bound_failures = 0;  // float32 output error above its a-priori bound (not the certificate)
  Dist elim_rate, oracle_elim_rate, mass_lost, mass_bound, out_rel_err, out_num_err;
  Dist fer_topk, fer_mass, recall, spearman, mass_tightness;
  double kv_bytes_frac = 0;       // ratio of sums over steps and KV heads
  Dist anchor_elim_rate;          // n_anchor_elim / n_cand over steps with candidates
  double records_read_frac = 0;   // Σ token records read / Σ candidates
  double anchor_bytes = 0;        // bytes of one anchor record (0 without anchors)
  double anchors_per_head = 0;    // mean number of anchors per KV head
  double record_bytes_per_token = 0, meta_bytes_per_step = 0;
  double build_ms = 0, eval_ms = 0;
  double record_memory_bytes = 0; // resident witness memory over all KV heads
  int64_t fit_tokens = 0;         // keys the basis was fitted on
  std::string fit_note;
  Tensor upper_bound;             // [n_q, n_head_q, n_kv] float32, score units (uncentred)
  Tensor survivors;               // [n_q, n_head_kv, n_kv] uint8
  Tensor output;                  // [n_q, n_head_q, d_head] float32
  Tensor anchor_eliminated;       // [n_q, n_head_kv, n_kv] uint8: eliminated at the anchor level
};

EliminateResult run_eliminate(const AttnInputs& in, const EliminateOptions& opt);

}  // namespace ghostkv
