#pragma once
// Capturing real attention inputs from the engine: a prefill of `ids` records, for each chosen
// layer, exactly what that layer's attention consumes — q post-RoPE UNSCALED at the chosen query
// positions [n_q, n_head_q, d_head], and k (post-RoPE), v of every position [n, n_head_kv, d_head].
#include <string>
#include <vector>

#include "ghostkv/inputs.h"
#include "ghostkv/model/engine.h"

namespace ghostkv {

// "last:N" | "all" | "first:N" | "a,b,c" over n tokens → sorted positions (checked in range).
std::vector<int64_t> parse_query_positions(const std::string& spec, int64_t n);
// "all" | "a,b,c" | "a-b" → layer indices in [0, n_layer).
std::vector<int64_t> parse_layers(const std::string& spec, int64_t n_layer);

// Resets the engine, prefills ids, returns one AttnInputs per requested layer (scale = σ of the model).
std::vector<AttnInputs> capture_layers(Engine& eng, const std::vector<int32_t>& ids, const std::vector<int64_t>& layers,
                                       const std::vector<int64_t>& query_pos);

}  // namespace ghostkv
