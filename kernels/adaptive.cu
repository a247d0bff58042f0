// The adaptive fallback of the GPU decode path (adaptive.h): AdaptiveDecoder's launches and non-blocking
// observations (the rule itself: adaptive.cc).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "adaptive.h"

namespace ghostkv::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("ghostkv cuda: AdaptiveDecoder: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

int dense_step_splits(const DecodeParams& p) { return std::min(p.splits, default_splits(p.batch, p.n_head_kv)); }

struct AdaptiveDecoder::Impl {
  AdaptiveRule rule;
  int batch, n_head_kv, device = -1;
  cudaEvent_t ev[2][3] = {};  // per path: start, after its kernels, after the survivor counts' copy
  ObservationSlots slots;
  int64_t steps = 0, observed[2] = {0, 0};
  int last = -1;  // the previous step's path
  int32_t* counts = nullptr;  // pinned: [batch·n_head_kv] survivor counts, then [batch] sequence lengths
  Impl(const DecodeParams& p, AdaptiveOptions o)
      : rule(witness_bytes_per_token(p), kv_bytes_per_token(p), o), batch(p.batch), n_head_kv(p.n_head_kv) {
    slots.max_lag = o.max_lag, slots.every = o.observe_every;
  }
};

AdaptiveDecoder::AdaptiveDecoder(const DecodeParams& p, AdaptiveOptions o) {
  if (p.batch < 1 || p.n_head_kv < 1)
    throw std::invalid_argument("ghostkv cuda: AdaptiveDecoder: batch " + std::to_string(p.batch) + ", n_head_kv " +
                                std::to_string(p.n_head_kv));
  auto m = std::make_unique<Impl>(p, o);
  check(cudaGetDevice(&m->device), "cudaGetDevice");
  check(cudaMallocHost(&m->counts, sizeof(int32_t) * size_t(p.batch) * (p.n_head_kv + 1)), "cudaMallocHost");
  for (auto& path : m->ev)
    for (auto& e : path) check(cudaEventCreate(&e), "cudaEventCreate");
  impl_ = std::move(m);
}

AdaptiveDecoder::~AdaptiveDecoder() {
  if (!impl_) return;
  for (int i = 0; i < 2; ++i)
    if (!impl_->slots.free(i)) cudaEventSynchronize(impl_->ev[i][2]);  // the copy into counts must land first
  for (auto& path : impl_->ev)
    for (auto& e : path)
      if (e) cudaEventDestroy(e);
  cudaFreeHost(impl_->counts);
}

const AdaptiveRule& AdaptiveDecoder::rule() const { return impl_->rule; }
int64_t AdaptiveDecoder::observed(DecodePath path) const { return impl_->observed[path == DecodePath::ghost ? 0 : 1]; }

DecodePath AdaptiveDecoder::step(const DecodeParams& p, void* stream) {
  Impl& m = *impl_;
  if (p.batch != m.batch || p.n_head_kv != m.n_head_kv)
    throw std::invalid_argument("ghostkv cuda: AdaptiveDecoder built for batch " + std::to_string(m.batch) + ", n_head_kv " +
                                std::to_string(m.n_head_kv) + ", stepped with batch " + std::to_string(p.batch) +
                                ", n_head_kv " + std::to_string(p.n_head_kv));
  int dev = -1;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev != m.device)
    throw std::invalid_argument("ghostkv cuda: AdaptiveDecoder built on device " + std::to_string(m.device) +
                                ", stepped on device " + std::to_string(dev));
  // the observations the GPU has reached
  for (int i = 0; i < 2; ++i) {
    if (m.slots.free(i)) continue;
    if (m.slots.must_wait(i, m.steps)) check(cudaEventSynchronize(m.ev[i][2]), "cudaEventSynchronize");
    const cudaError_t e = cudaEventQuery(m.ev[i][2]);
    if (e == cudaErrorNotReady) continue;
    check(e, "cudaEventQuery");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, m.ev[i][0], m.ev[i][1]), "cudaEventElapsedTime");
    if (i == 0) {
      double surv = 0, tokens = 0;
      for (int k = 0; k < m.batch * m.n_head_kv; ++k) surv += m.counts[k];
      for (int b = 0; b < m.batch; ++b) tokens += double(m.n_head_kv) * m.counts[m.batch * m.n_head_kv + b];
      m.rule.observe_ghost(tokens > 0 ? surv / tokens : 1.0, 1e3 * ms);
    } else {
      m.rule.observe_dense(1e3 * ms);
    }
    m.slots.done(i);
    ++m.observed[i];
  }
  const DecodePath path = m.rule.choose();
  const int i = path == DecodePath::ghost ? 0 : 1;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  // not the path's first step (one-time set-up); a step that switches paths whenever its slot is free
  const bool observe = m.slots.may_issue(i, m.steps, i != m.last) && m.rule.chosen(path) > 1;
  m.last = i;
  if (observe) check(cudaEventRecord(m.ev[i][0], st), "cudaEventRecord");
  if (path == DecodePath::ghost) {
    ghost_decode(p, stream);
  } else {
    DecodeParams pd = p;
    pd.splits = dense_step_splits(p);
    dense_decode(pd, stream);  // with p.cert: the exact certificates too
  }
  if (observe) {
    check(cudaEventRecord(m.ev[i][1], st), "cudaEventRecord");
    if (path == DecodePath::ghost) {
      const Workspace w = workspace_views(p);
      const size_t bk = size_t(m.batch) * m.n_head_kv;
      check(cudaMemcpyAsync(m.counts, w.n_surv, bk * 4, cudaMemcpyDeviceToHost, st), "cudaMemcpyAsync");
      check(cudaMemcpyAsync(m.counts + bk, p.seq_len, size_t(m.batch) * 4, cudaMemcpyDeviceToHost, st), "cudaMemcpyAsync");
    }
    check(cudaEventRecord(m.ev[i][2], st), "cudaEventRecord");
    m.slots.issue(i, m.steps);
  }
  ++m.steps;
  return path;
}

}  // namespace ghostkv::cuda
