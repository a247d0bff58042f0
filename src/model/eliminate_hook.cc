// Certified elimination inside the engine's decode loop (eliminate_hook.h).
#include "ghostkv/model/eliminate_hook.h"

#include <algorithm>
#include <cstring>

#include "ghostkv/error.h"
#include "ghostkv/inputs.h"

namespace ghostkv {

EliminationHook::EliminationHook(const ModelConfig& cfg, EliminateOptions opt) : cfg_(cfg), opt_(std::move(opt)) {
  cfg_.validate();
  GKV_CHECK(opt_.witness == WitnessKind::quant || opt_.witness == WitnessKind::lowrank,
            "elimination in the decode loop: the witness takes quant or lowrank (the certified witnesses), got '",
            witness_name(opt_.witness), "'");
  opt_.keep_arrays = true;  // the output
}

bool EliminationHook::attend(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float* k_cache,
                             const float* v_cache, int64_t n_kv, float* out) {
  if (n != 1 || cfg_.sliding_window > 0) {  // a prefill, or a window the witness path does not have: dense
    ++dense_calls_;
    return false;
  }
  if (step_ < 0 || layer <= last_layer_) ++step_;  // layers come in order within a forward
  last_layer_ = layer;
  const int64_t Hq = cfg_.n_head_q, Hkv = cfg_.n_head_kv, d = cfg_.d_head;
  AttnInputs in;
  in.q = Tensor(DType::f32, {1, Hq, d});
  in.k = Tensor(DType::f32, {n_kv, Hkv, d});
  in.v = Tensor(DType::f32, {n_kv, Hkv, d});
  in.positions = Tensor(DType::i64, {1});
  std::memcpy(in.q.data<float>(), q, sizeof(float) * size_t(Hq * d));
  std::memcpy(in.k.data<float>(), k_cache, sizeof(float) * size_t(n_kv * Hkv * d));
  std::memcpy(in.v.data<float>(), v_cache, sizeof(float) * size_t(n_kv * Hkv * d));
  in.positions.data<int64_t>()[0] = pos[0];
  in.scale = cfg_.attn_scale();
  in.name_q = str_cat("layer ", layer, " q");
  in.name_k = str_cat("layer ", layer, " k cache");
  in.name_v = str_cat("layer ", layer, " v cache");
  validate_inputs(in);
  EliminateOptions o = opt_;
  if (!o.basis_file.empty()) o.basis_layer = layer;
  const EliminateResult r = run_eliminate(in, o);
  std::memcpy(out, r.output.data<float>(), sizeof(float) * size_t(Hq * d));

  EliminationLayerStats s;
  s.step = step_, s.layer = layer, s.n_kv = n_kv;
  int64_t with_cand = 0;
  for (const StepStats& st : r.steps) {
    s.attended_frac += st.n_seen > 0 ? double(st.n_seen - st.n_elim) / double(st.n_seen) : 1.0;
    if (st.n_cand > 0) s.elim_rate += double(st.n_elim) / double(st.n_cand), ++with_cand;
  }
  s.attended_frac /= double(std::max<size_t>(r.steps.size(), 1));
  s.elim_rate = with_cand ? s.elim_rate / double(with_cand) : 0.0;
  s.kv_bytes_frac = r.kv_bytes_frac;
  for (const HeadStats& h : r.heads) {
    s.max_mass_bound = std::max(s.max_mass_bound, h.mass_bound);
    s.max_mass_lost = std::max(s.max_mass_lost, h.mass_lost);
    s.max_out_rel_err = std::max(s.max_out_rel_err, h.out_rel_err);
  }
  s.violations = r.violations;
  s.certificate_failures = r.certificate_failures;
  stats_.push_back(s);
  return true;
}

EliminationSummary summarize(const std::vector<EliminationLayerStats>& stats) {
  EliminationSummary m;
  int64_t last_step = -1;
  for (const EliminationLayerStats& s : stats) {
    if (s.step != last_step) ++m.steps, last_step = s.step;
    ++m.layer_steps;
    m.attended_frac += s.attended_frac;
    m.elim_rate += s.elim_rate;
    m.kv_bytes_frac += s.kv_bytes_frac;
    m.max_mass_bound = std::max(m.max_mass_bound, s.max_mass_bound);
    m.max_mass_lost = std::max(m.max_mass_lost, s.max_mass_lost);
    m.max_out_rel_err = std::max(m.max_out_rel_err, s.max_out_rel_err);
    m.violations += s.violations;
    m.certificate_failures += s.certificate_failures;
  }
  if (m.layer_steps > 0) {
    m.attended_frac /= double(m.layer_steps);
    m.elim_rate /= double(m.layer_steps);
    m.kv_bytes_frac /= double(m.layer_steps);
  }
  return m;
}

}  // namespace ghostkv
