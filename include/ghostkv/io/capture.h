#pragma once
// Capture directories: one layer's attention inputs on disk (docs/formats.md).
//   DIR/manifest.json   {"format": "ghostkv-capture", "version": 1, "model": ..., "text_sha256": ...,
//                        "n_kv": N, "scale": σ, "n_head_q": .., "n_head_kv": .., "d_head": ..,
//                        "layers": [0, 1, ...], "dtype": "float32"}
//   DIR/layer_XX/q.npy  [n_q, n_head_q, d_head] post-RoPE, unscaled
//   DIR/layer_XX/k.npy, v.npy [n_kv, n_head_kv, d_head];  positions.npy int32 [n_q]
#include <string>
#include <vector>

#include "ghostkv/inputs.h"

namespace ghostkv {

struct CaptureInfo {
  std::string model, text_sha256, dtype = "float32";
  int64_t n_kv = 0, n_head_q = 0, n_head_kv = 0, d_head = 0;
  double scale = 0;
  std::vector<int64_t> layers;
};

std::string layer_dir(const std::string& dir, int64_t layer);  // DIR/layer_XX
CaptureInfo read_capture_info(const std::string& dir);
AttnInputs read_capture_layer(const std::string& dir, int64_t layer);  // validated
// Writes the manifest (atomically) and one layer; creates folders as needed.
void write_capture_info(const std::string& dir, const CaptureInfo& info);
void write_capture_layer(const std::string& dir, int64_t layer, const AttnInputs& in);

}  // namespace ghostkv
