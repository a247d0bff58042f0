#pragma once
// Ghost path or dense, step by step: the adaptive fallback of the GPU decode path.
//
// Elimination pays only where few tokens survive: stage 1 reads every witness whatever the survivors, so a
// step that keeps half its tokens costs about what dense attention costs (docs/gpu.md). AdaptiveDecoder
// runs one decode step at a time, either ghost_decode or dense_decode, choosing from what the earlier steps
// showed: their survivor fraction (the KV heads' survivor counts over their tokens) and their measured
// times (CUDA events around each path's launches). The rule (AdaptiveRule below, host-only) is the CPU
// library's cpu::FallbackPredictor (the witness path while its predicted cost, the larger of the bytes model
// and the observed time ratio, beats dense by the margin; probes of the witness path with exponential
// back-off while dense wins) plus the GPU's need for a dense time: the first four steps are ghost, dense, ghost,
// dense (the first step of each path carries one-time set-up and is not observed), and while the ghost path
// wins, one step in dense_every is dense, to keep the dense time current as the sequence grows. While dense wins the
// probe interval doubles after each probe that confirms dense, but stays within probe_budget's cost (the interval at
// which the probes cost that share of a dense step), so the way back never waits for the doubled interval's 1024
// steps. A probe's observation replaces the ghost path's averages instead of joining them: they are as old as the
// last ghost step, up to max_probe_every steps back. So does any observation that reverses the decision decisively on its own
// (reset_on_flip): where elimination collapses, the rule turns to dense at the ghost path's next observation
// (at most observe_every + max_lag steps later) instead of after several; the way back waits for the next probe
// (probe_budget bounds how far off that is).
//
// Observations are taken without blocking the host while it is at most max_lag steps ahead of them: each path's
// events and, after a ghost step, the survivor counts (copied to pinned host memory) are read at a later step once
// the GPU has reached them; an observation max_lag steps old is waited for (cudaEventSynchronize), so decisions are
// never made on older data however far the host runs ahead (the GPU still has max_lag − 1 steps queued). A step
// launched while its path's previous observation is still in flight, or fewer than observe_every steps after it (unless
// it switches paths: a probe or a dense refresh), is not observed.
// Every step writes a certificate per query head where p.cert is given: the ghost path's own, or on a dense
// step the exact one, written by dense_decode's last kernel (nothing eliminated, mass_bound = out_err_bound = 0,
// n_attended = the sequence's length; flags as the ghost path sets them for a non-finite query or output).
// Eager launches only: the choice is made on the host before each step, so a captured graph would fix it. One
// decoder per stream of steps, driven from one thread at a time.
#include <cstdint>
#include <memory>
#include <vector>

#include "decode.h"
#include "ghostkv/cpu/fast.h"

namespace ghostkv::cuda {

enum class DecodePath { ghost, dense };

struct AdaptiveOptions {
  double margin = 1.05;          // the ghost path must be predicted faster than dense by this factor
  double decay = 0.8;            // weight of the previous estimate in the exponential averages
  int64_t dense_every = 256;     // while the ghost path wins: one dense step in this many (its time's refresh)
  int64_t min_probe_every = 16;  // while dense wins: a ghost probe after this many dense steps, doubling after
  int64_t max_probe_every = 1024;  // each probe that confirms dense, up to this many
  int64_t max_lag = 4;           // AdaptiveDecoder: the host waits for an observation once it is this many steps old
  int64_t observe_every = 32;    // AdaptiveDecoder: a path's step is observed at most once in this many steps, but for
                                 // a step that switches paths (a probe, a dense refresh), observed whenever it can be
  double probe_budget = 0.01;    // while dense wins: after a probe that confirms it, the next probe comes at most
                                 // ceil((r − 1) / probe_budget) dense steps later (r: the predicted ratio after the
                                 // probe's observation; never under min_probe_every), so that probes cost at most this
                                 // share of a dense step on average and the way back to the ghost path waits at most
                                 // that long instead of the doubled interval (up to max_probe_every); 0: the doubling
                                 // alone
  bool reset_on_flip = true;     // an observation that on its own (with the other path's current average) reverses the
                                 // decision decisively (dense faster by the margin while the ghost path is chosen, the
                                 // ghost path faster by the margin squared while dense is) replaces the averages (that
                                 // path's time; a ghost step's survivor fraction) instead of entering them at weight
                                 // 1 − decay: the rule follows a collapse of elimination at the ghost path's next
                                 // observation, not after several
};

// The witness bytes a ghost step reads or writes per token and KV head beyond the survivors' K and V
// (stage 1: codes or sketch, the page's meta and ν shared over its 64 tokens, the bounds written by the scan
// and read by the compaction, the page anchors where p.box is given), and the K + V bytes per token and
// KV head (bf16). The bytes model of AdaptiveRule, per token; the bench's bytes_model counts the same terms per
// step, and also the hot keys, the rotation and the survivor list.
double witness_bytes_per_token(const DecodeParams& p);
inline double kv_bytes_per_token(const DecodeParams& p) { return 4.0 * p.d; }

// The decision alone, on the host (no CUDA): which path the next step takes, from the observations given.
class AdaptiveRule {
 public:
  AdaptiveRule(double witness_bytes, double kv_bytes, AdaptiveOptions o = {});
  DecodePath choose();                                  // the next step's path (counts it as launched)
  void observe_ghost(double survivor_frac, double us);  // a ghost step's survivor fraction and time (us < 0: none)
  void observe_dense(double us);                        // a dense step's time
  double predicted_ratio() const;                       // ghost cost / dense cost at the current estimates
  double ghost_us() const { return ghost_us_; }         // exponential averages of the observed times (−1: none)
  double dense_us() const { return dense_us_; }
  int64_t chosen(DecodePath path) const { return path == DecodePath::ghost ? n_ghost_ : n_dense_; }
  const cpu::FallbackPredictor& predictor() const { return fp_; }
  int64_t resets() const { return resets_; }  // observations that replaced the averages (reset_on_flip; probes not counted)

 private:
  bool ghost_predicted(const cpu::FallbackPredictor& fp) const;
  bool flips(const cpu::FallbackPredictor& alone) const;
  int64_t budget_interval() const;
  AdaptiveOptions o_;
  cpu::FallbackPredictor fp_;
  double ghost_us_ = -1, dense_us_ = -1;
  int64_t n_ghost_ = 0, n_dense_ = 0, ghost_run_ = 0;  // ghost_run_: ghost steps since the last dense one
  bool probing_ = false;  // the last ghost step was a probe (chosen while dense was predicted)
  int64_t resets_ = 0;
};

// AdaptiveDecoder's observation bookkeeping, host-only (tested without a GPU): one slot per path (0 ghost, 1 dense)
// holding the step whose observation is in flight; the host waits for it once it is max_lag steps old.
// A path's next observation waits until its last one is done and observe_every steps old (each observation's
// events and copy cost the stream a few µs), unless forced (a step that switches paths).
struct ObservationSlots {
  int64_t max_lag = 4, every = 32;
  bool pending[2] = {false, false}, ever[2] = {false, false};
  int64_t issued[2] = {0, 0};
  bool must_wait(int path, int64_t step) const { return pending[path] && step - issued[path] >= max_lag; }
  bool free(int path) const { return !pending[path]; }
  bool may_issue(int path, int64_t step, bool force = false) const {
    return !pending[path] && (force || !ever[path] || step - issued[path] >= every);
  }
  void issue(int path, int64_t step) { pending[path] = true, ever[path] = true, issued[path] = step; }
  void done(int path) { pending[path] = false; }
};

// Where a run of decoder steps settled on a path (host-only; gpu_bench --adaptive-phases and the tests use it): the first
// step s in [from, to) that took the path (paths[s]: 0 ghost, 1 dense; dense says which) and after which, within the
// next `window` steps, at most `others` took the other one (the probes, 16 and 48 dense steps on, or a dense refresh);
// −1 where no step does (fewer than `window` steps left count as none).
inline int settled_step(const std::vector<int>& paths, int from, int to, bool dense, int window = 64, int others = 2) {
  for (int s = from; s + window <= to; ++s) {
    if ((paths[size_t(s)] == 1) != dense) continue;
    int other = 0;
    for (int k = s; k < s + window; ++k) other += (paths[size_t(k)] == 1) != dense;
    if (other <= others) return s;
  }
  return -1;
}

// The split count of AdaptiveDecoder's dense steps: one wave (default_splits), or p.splits where that is fewer (the
// workspace holds p.splits partial states).
int dense_step_splits(const DecodeParams& p);

// One decode step at a time by the rule above. Built for p's batch and KV heads on the device current at
// construction; every step's p must have the same batch and n_head_kv (else std::invalid_argument) and its
// workspace (p.work, workspace_bytes(p)) as for ghost_decode. Its dense steps run at default_splits (one wave),
// or at p.splits where that is fewer (the workspace holds p.splits partial states).
class AdaptiveDecoder {
 public:
  explicit AdaptiveDecoder(const DecodeParams& p, AdaptiveOptions o = {});
  ~AdaptiveDecoder();
  AdaptiveDecoder(const AdaptiveDecoder&) = delete;
  AdaptiveDecoder& operator=(const AdaptiveDecoder&) = delete;
  DecodePath step(const DecodeParams& p, void* stream);  // launches the step (returns after launching)
  const AdaptiveRule& rule() const;
  int64_t observed(DecodePath path) const;  // steps of that path whose time was observed so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghostkv::cuda
