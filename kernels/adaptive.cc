// The adaptive fallback's rule and bytes model (adaptive.h), host only: tested without a GPU.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "adaptive.h"

namespace ghostkv::cuda {

double witness_bytes_per_token(const DecodeParams& p) {
  const int G = p.n_head_q / p.n_head_kv;
  const bool lowrank = p.rank > 0;
  // the token's own bytes: the codes (quant) or ẑ (16 f16), ρ and e (low-rank)
  const double tok = lowrank ? kSketchRank * 2 + 2 + 2 : witness_code_bytes(witness_k8(p.bits, p.n8, p.d), p.d);
  const double page = (lowrank ? 0.0 : 2.0 * p.d * 2)  // the page's meta (h, err; f16)
                      + 4.0                              // ν_max
                      + (p.box ? (lowrank ? kLrBoxHalfs * 2.0 : 2.0 * p.d * 2 + 2.0 * p.d) + 2.0 * G : 0.0);  // anchors
  return tok + page / kPage + 2.0 * G * 2;  // + the bounds (G f16), written by the scan and read back
}

AdaptiveRule::AdaptiveRule(double witness_bytes, double kv_bytes, AdaptiveOptions o) : o_(o) {
  if (!(kv_bytes > 0) || !(witness_bytes >= 0) || !(o.margin >= 1) || !(o.decay >= 0 && o.decay < 1) ||
      o.dense_every < 1 || o.min_probe_every < 1 || o.max_probe_every < o.min_probe_every || o.max_lag < 1 ||
      o.observe_every < 1 || !(o.probe_budget >= 0 && o.probe_budget <= 1))
    throw std::invalid_argument("ghostkv cuda: AdaptiveRule needs kv_bytes > 0, witness_bytes >= 0, margin >= 1, decay in "
                                "[0, 1), dense_every >= 1, 1 <= min_probe_every <= max_probe_every, max_lag >= 1 and "
                                "observe_every >= 1, probe_budget in [0, 1] (got kv_bytes " +
                                std::to_string(kv_bytes) + ", witness_bytes " + std::to_string(witness_bytes) + ", margin " +
                                std::to_string(o.margin) + ", decay " + std::to_string(o.decay) + ", dense_every " +
                                std::to_string(o.dense_every) + ", probes " + std::to_string(o.min_probe_every) + ".." +
                                std::to_string(o.max_probe_every) + ", max_lag " + std::to_string(o.max_lag) +
                                ", observe_every " + std::to_string(o.observe_every) + ", probe_budget " +
                                std::to_string(o.probe_budget) + ")");
  fp_.record_bytes = witness_bytes;
  fp_.kv_bytes = kv_bytes;
  fp_.margin = o.margin;
  fp_.decay = o.decay;
  fp_.probe_every = fp_.min_probe_every = o.min_probe_every;
  fp_.max_probe_every = o.max_probe_every;
}

DecodePath AdaptiveRule::choose() {
  DecodePath path;
  if (n_ghost_ < 2 && n_ghost_ <= n_dense_) path = DecodePath::ghost;  // warm-up: ghost, dense, ghost, dense
  else if (n_dense_ < 2) path = DecodePath::dense;
  else if (ghost_run_ >= o_.dense_every) path = DecodePath::dense;  // the dense time's refresh
  else {
    const bool predicted = ghost_predicted(fp_);
    path = fp_.use_witness() ? DecodePath::ghost : DecodePath::dense;
    if (path == DecodePath::ghost) probing_ = !predicted;
  }
  if (path == DecodePath::ghost) ++n_ghost_, ++ghost_run_;
  else ++n_dense_, ghost_run_ = 0;
  return path;
}

namespace {
double ema(double old, double x, double decay) { return old < 0 ? x : decay * old + (1 - decay) * x; }
}  // namespace

// Whether the predictor's estimates choose the ghost path (as FallbackPredictor::use_witness decides, before probes).
bool AdaptiveRule::ghost_predicted(const cpu::FallbackPredictor& fp) const {
  return fp.survive_ema < 0 || fp.predicted_ratio() * fp.margin < 1.0;
}

// reset_on_flip: whether `alone` (one observation with the other path's current average) reverses the decision of the
// averages decisively: dense faster by the margin where the averages choose the ghost path, the ghost path faster by
// the margin twice where they choose dense. Observations inside that band are averaged in, so noise near the margin
// does not toss the decision from one observation to the next.
bool AdaptiveRule::flips(const cpu::FallbackPredictor& alone) const {
  const double r = alone.predicted_ratio();
  return ghost_predicted(fp_) ? r >= o_.margin : r * o_.margin * o_.margin < 1.0;
}

void AdaptiveRule::observe_ghost(double survivor_frac, double us) {
  const double f = std::clamp(survivor_frac, 0.0, 1.0);
  bool flip = false;
  if (!probing_ && o_.reset_on_flip && fp_.survive_ema >= 0 && us >= 0 && dense_us_ > 0) {
    cpu::FallbackPredictor alone = fp_;  // this observation alone, with dense's current average
    alone.survive_ema = f;
    alone.time_ratio_ema = us / dense_us_;
    flip = flips(alone);
  }
  const bool probe = probing_;
  if (probing_ || flip) fp_.survive_ema = -1, ghost_us_ = -1;  // a probe, or a flip, replaces the stale averages
  resets_ += flip;
  probing_ = false;
  fp_.observe(f);
  if (us >= 0) ghost_us_ = ema(ghost_us_, us, o_.decay);
  if (ghost_us_ >= 0 && dense_us_ > 0) fp_.time_ratio_ema = ghost_us_ / dense_us_;
  if (probe && o_.probe_budget > 0 && !ghost_predicted(fp_))
    fp_.probe_every = std::min(fp_.probe_every, budget_interval());
}

// The probe interval at which probes cost probe_budget of a dense step on average: a probe costs r − 1 dense steps
// more than the dense step it replaces (r: the predicted ratio), within [min_probe_every, max_probe_every].
int64_t AdaptiveRule::budget_interval() const {
  const double iv = std::ceil(std::max(fp_.predicted_ratio() - 1.0, 0.0) / o_.probe_budget);
  if (!(iv < double(o_.max_probe_every))) return o_.max_probe_every;  // NaN too: the cap
  return std::max(o_.min_probe_every, int64_t(iv));
}

void AdaptiveRule::observe_dense(double us) {
  if (!(us >= 0)) return;
  if (o_.reset_on_flip && dense_us_ > 0 && ghost_us_ >= 0 && fp_.survive_ema >= 0) {
    cpu::FallbackPredictor alone = fp_;  // this observation alone, with the ghost path's current average
    alone.time_ratio_ema = ghost_us_ / us;
    if (flips(alone)) dense_us_ = -1, ++resets_;
  }
  dense_us_ = ema(dense_us_, us, o_.decay);
  if (ghost_us_ >= 0 && dense_us_ > 0) fp_.time_ratio_ema = ghost_us_ / dense_us_;
}

double AdaptiveRule::predicted_ratio() const { return fp_.predicted_ratio(); }

}  // namespace ghostkv::cuda
