#pragma once
// Offline calibration (Loki-style): fit one basis and centre per (layer, KV head) on the post-RoPE
// keys of a model over calibration texts, to be saved with write_basis_file and loaded by
// `eliminate --basis` instead of fitting on the prompt.
#include <string>
#include <vector>

#include "ghostkv/basis.h"
#include "ghostkv/io/basis_file.h"
#include "ghostkv/model/engine.h"

namespace ghostkv {

// Each entry of `texts` is a token sequence prefilled on its own (the engine is reset between them);
// keys of every position are pooled per (layer, KV head).
BasisSet calibrate_bases(Engine& eng, const std::vector<std::vector<int32_t>>& texts, const std::vector<int64_t>& layers,
                         BasisKind kind, uint64_t seed);

}  // namespace ghostkv
