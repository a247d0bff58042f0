#pragma once
// One layer's attention inputs, exactly as the attention consumes them (DESIGN §2):
//   q          [n_q, n_head_q, d_head]   float32, post-RoPE, UNSCALED
//   k, v       [n_kv, n_head_kv, d_head] float32 (values widened exactly from f16/bf16 inputs)
//   positions  [n_q] int64: query i sees keys 0..positions[i] (causal); n_kv-1 when absent
//   scale      softmax scale σ (score s_t = σ·q·k_t), normally 1/sqrt(d_head)
// validate_inputs() checks shapes, GQA divisibility, finiteness and position ranges and throws
// ghostkv::Error naming the offending input and values.
#include <string>

#include "ghostkv/tensor.h"

namespace ghostkv {

struct AttnInputs {
  Tensor q, k, v;
  Tensor positions;  // int64 [n_q]
  double scale = 0.0;
  std::string name_q = "q", name_k = "k", name_v = "v", name_positions = "positions";

  int64_t n_q() const { return q.dim(0); }
  int64_t n_head_q() const { return q.dim(1); }
  int64_t d_head() const { return q.dim(2); }
  int64_t n_kv() const { return k.dim(0); }
  int64_t n_head_kv() const { return k.dim(1); }
  int64_t group() const { return n_head_q() / n_head_kv(); }
  int64_t pos(int64_t i) const { return positions.data<int64_t>()[i]; }
};

// Converts q/k/v to float32 and positions to int64 (filling n_kv-1 when empty), checks everything.
void validate_inputs(AttnInputs& in);

}  // namespace ghostkv
