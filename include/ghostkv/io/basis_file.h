#pragma once
// Calibrated bases on disk: one Basis (rows [d_head, d_head] + centre μ + variances) per
// (layer, KV head), fitted offline on model keys (Loki-style) and loaded by `eliminate --basis`.
// Binary, little-endian: magic "GKVBASIS", uint32 version (1), uint64 header length, a JSON header
// {"model", "text_sha256", "n_layer", "n_head_kv", "d_head", "kind", "fit_tokens", "layers": [...]},
// then per (layer, head) in order: float32 vecs [d*d], float32 mu [d], float64 variance [d].
// Reading checks magic, version, sizes against the header and the file length before allocating.
#include <string>
#include <vector>

#include "ghostkv/basis.h"

namespace ghostkv {

struct BasisSet {
  std::string model, text_sha256;
  int64_t n_layer = 0, n_head_kv = 0, d_head = 0, fit_tokens = 0;
  std::vector<int64_t> layers;  // layers present, ascending
  std::vector<Basis> bases;     // [layers.size() * n_head_kv]
  const Basis& at(int64_t layer, int64_t head) const;
};

void write_basis_file(const std::string& path, const BasisSet& set);
BasisSet read_basis_file(const std::string& path);

}  // namespace ghostkv
