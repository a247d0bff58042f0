#pragma once
// Memory-mapped safetensors reader (Hugging Face format), and a store over one file or a sharded
// checkpoint folder.
// File layout: u64 little-endian N, then N bytes of JSON header
//   {"<name>": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [b, e]}, ..., "__metadata__": {...}}
// then the data section; tensor bytes are data[b, e), C order, little-endian. Offsets are
// validated at open (in range, e - b == numel × dtype size, no two tensors overlap), so a
// TensorRef's bytes always lie inside the mapping. Pointers stay valid while the owning
// SafetensorsFile / WeightStore lives (moves keep them valid: the mapping does not move).
// Supported dtypes: F64 F32 F16 BF16 I64 I32 U8 (BOOL as U8); others are rejected at open.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ghostkv/io/mapped_file.h"
#include "ghostkv/tensor.h"

namespace ghostkv {

struct TensorRef {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;      // in memory order, outermost first
  const uint8_t* data = nullptr;   // inside the mapping; not necessarily aligned
  int64_t nbytes = 0;
  std::string file;                // the .safetensors path it lives in (for error messages)
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // maps and validates; throws ghostkv::Error
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& o) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& o) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorRef& get(const std::string& name) const;  // Error naming the tensor and file if absent
  std::vector<std::string> names() const;                 // in data-offset order
  const std::string& path() const { return path_; }
  const std::unordered_map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  MappedFile map_;
  std::vector<TensorRef> tensors_;                  // sorted by data offset
  std::unordered_map<std::string, size_t> index_;   // name -> position in tensors_
  std::unordered_map<std::string, std::string> metadata_;  // "__metadata__" (string values only)
};

// The tensors of a checkpoint: a folder holding model.safetensors, or a sharded
// model.safetensors.index.json ({"weight_map": {name: shard file}}), or one .safetensors path.
class WeightStore {
 public:
  static WeightStore open_hf(const std::string& path);
  WeightStore(WeightStore&&) noexcept = default;
  WeightStore& operator=(WeightStore&&) noexcept = default;
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorRef& get(const std::string& name) const;  // Error naming the tensor and the store
  std::vector<std::string> names() const;               // sorted
  const std::string& source() const { return source_; }
  int64_t n_files() const { return int64_t(files_.size()); }

 private:
  WeightStore() = default;
  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, size_t> index_;  // name -> file
};

// Widens an F32/F16/BF16/F64 tensor to float32 (f16/bf16 exactly, f64 rounded to nearest) after
// checking its shape equals expect_shape ({rows, cols} or {n}). Errors name the file, the tensor,
// the expected and the actual shape or dtype.
std::vector<float> to_f32(const TensorRef& t, const std::vector<int64_t>& expect_shape);

}  // namespace ghostkv
