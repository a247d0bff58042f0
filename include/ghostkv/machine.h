#pragma once
// Measured machine ceilings, taken in the same run as the numbers they normalise (timings on a
// shared machine are noisy: report ratios against these, never absolute claims).
//   sgemm_gflops     float32 C = A·Bᵀ through the linked BLAS, n×n×n, best of several runs
//   read_gbps        a STREAM-like sum over a buffer far larger than the last-level cache
// and the work of one transformer forward, for roofline fractions.
#include <cstdint>
#include <string>

#include "ghostkv/model/config.h"

namespace ghostkv {

struct MachineCeilings {
  double sgemm_gflops = 0;
  double read_gbps = 0;
  double copy_gbps = 0;  // bytes read + bytes written
  int threads = 0;
  std::string describe() const;
};
MachineCeilings measure_machine(int64_t sgemm_n = 2048, int64_t stream_mib = 1024);

// FLOPs of the projections + attention for tokens [n_past, n_past + n) (causal, 2 per multiply-add),
// without the lm_head unless with_logits.
double forward_flops(const ModelConfig& c, int64_t n_past, int64_t n, bool with_logits);
// Bytes a decode step reads at context n_kv: float32 weights of every layer and the final norm, the
// embedding row, the classifier when logits are produced, and the float32 KV cache of n_kv tokens.
double decode_bytes(const ModelConfig& c, int64_t n_kv, bool with_logits);

}  // namespace ghostkv
