#pragma once
// One sequence's KV cache on the GPU with its witnesses, built from host keys and values, and a decode step on it:
// the steps of examples/gpu_decode behind one object, for callers that hold K and V on the host (the Python module
// ghostkv_gpu, the C API of c_api.h).
//
//   GhostCache cache(k, v, n, n_head_kv, d);            // k, v: [n, n_head_kv, d] float32, host
//   cache.decode(q, n_head_q, scale, out, cert);         // q: [n_head_q, d]; out: [n_head_q, d]; cert: [n_head_q]
//   cache.append(k_new, v_new, m);                       // m more tokens (room for them: CacheOptions::capacity)
//   cache.last_step(&detail);                            // what the last ghost step attended, and its bounds
//   cache.refit();                                       // the basis refitted on every token held
//
// Construction fits a PCA basis per KV head on its keys (the CPU library's fit_basis), builds the quantised records
// (build_quant, one scale group per page of kPage tokens: int8, int4 or mixed widths; for the low-rank witness the
// sketch of pack_lowrank_pages, with int8 records kept on the host only for ν and the residual bound) and copies the
// bf16 K and V, the packed witnesses and the rotation to the device, in pages laid out in order (page table = identity), with room
// for CacheOptions::capacity tokens. append adds tokens as a decode loop produces them: their bf16 rows, and the records
// of every page they touch rebuilt from all of that page's tokens with the KV head's basis from construction (the page
// is the quantisation group, so a page's record never depends on another page; the basis is not refitted: refit does
// that on demand). decode runs ghost_decode (or dense_decode) on the current stream, waits for it and copies the
// outputs and the certificates back. Every call is synchronous: this is an entry point for checks and notebooks, not
// the way to time a step (ghostkv_gpu_bench does that).
//
// Errors (std::invalid_argument for bad shapes, options or non-finite keys and values, naming the values;
// std::runtime_error for CUDA, naming the call) are thrown before anything is left half built.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode.h"

namespace ghostkv::cuda {

struct CacheOptions {
  std::string bits = "8";  // "8", "4" or "mixed" (the first 32 components at 8 bits, the rest at 4): the quantised
                           // witness; "lowrank": the rank-16 sketch of the rotated keys with residual norms (decode.h;
                           // 36 bytes per token and KV head instead of the codes, 128 at int8)
  int n_sink = 4, n_recent = 64;  // hot tokens: always attended
  double delta = 1e-3;            // the mass policy's δ
  int64_t capacity = 0;           // tokens the cache has room for (append fills it); 0: the n it is built with
  bool anchors = false;           // page anchors (a box of each page's codes, or of its sketches with the low-rank
                                  // witness): the anchor stage eliminates whole pages
                                  // from their meta and box alone, before the scan reads their codes (decode.h)
};

// What a ghost step attended and the bounds it decided by, copied from the device (GhostCache::last_step): for checks
// of a step against float64 attention (check64.h), where the certificate alone does not show which tokens went.
struct StepDetail {
  int64_t n = 0;               // tokens the step saw
  int n_head_q = 0;
  std::vector<uint8_t> kept;   // [n_head_kv, n]: 1 where the token was attended (the hot tokens and the survivors)
  std::vector<double> bound;   // [n_head_q, n]: an upper bound on σ·q·k_t for that query head (the f16 UB − m_L
                               // stored by the scan, plus m_L; with anchors, for the tokens of a page its anchor
                               // eliminated, the page's bound); +inf for the hot tokens, which are attended exactly
  std::vector<int64_t> pages_read;  // [n_head_kv]: pages whose codes the scan read (every page without anchors)
};

class GhostCache {
 public:
  // k, v: [n, n_head_kv, d] float32 on the host (each value rounded to bf16 on the device); d 64 or 128;
  // n ≥ 1. Needs a CUDA device (sm_90): the one current now, which must be current at each decode.
  GhostCache(const float* k, const float* v, int64_t n, int n_head_kv, int d, CacheOptions o = {});
  ~GhostCache();
  GhostCache(const GhostCache&) = delete;
  GhostCache& operator=(const GhostCache&) = delete;

  // One step: q [n_head_q, d] float32 (host; n_head_q a multiple of n_head_kv, at most 4 per KV head), scores
  // σ·q·k with σ = scale > 0; out [n_head_q, d] and cert [n_head_q] on the host. dense: every token attended
  // (dense_decode; exact certificates) instead of the ghost path.
  void decode(const float* q, int n_head_q, double scale, float* out, Certificate* cert, bool dense = false);

  // Appends m ≥ 1 tokens after the n held: k, v [m, n_head_kv, d] float32 (host), n + m ≤ capacity(). Their K and V
  // rows go to the device in bf16, and every page they touch gets its records rebuilt (the last page held and the new
  // ones); resid_max and k_norm_max rise where the new keys need it, so every bound stays sound. Bad arguments
  // (std::invalid_argument, naming the values: no room, non-finite or bf16-overflowing values) change nothing. A CUDA
  // failure part way leaves the cache unusable (every later call throws), never half updated and in use.
  void append(const float* k, const float* v, int64_t m);

  // Refits each KV head's basis on every token held (as construction fits it on the tokens it is given) and rebuilds
  // every page's records with it, so the cache is then the one a construction from all n tokens builds: the same
  // rotation, records and bounds. For a cache grown far past the tokens its basis was fitted on; the bounds are sound
  // either way, a refitted basis is tighter (docs/gpu.md measures the difference on real keys). Copies K and V back to
  // the host (2·n·n_head_kv·d floats there while it runs). A CUDA failure part way leaves the cache unusable.
  void refit();

  // The last decode's detail (StepDetail), read back from the device. Only right after a ghost decode (not a dense one,
  // not after an append or a refit since): std::logic_error otherwise, naming which.
  void last_step(StepDetail* d) const;

  int64_t n() const;
  int64_t capacity() const;
  int n_head_kv() const;
  int d() const;
  const CacheOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghostkv::cuda
