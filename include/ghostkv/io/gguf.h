#pragma once
// GGUF reader (ggml's single-file model format, versions 2 and 3), memory-mapped.
// File layout (all little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv × (string key, u32 value_type, value), n_tensors × (string name, u32 n_dims,
//   n_dims × u64 ne (innermost first), u32 ggml_type, u64 offset), padding to `general.alignment`
//   (default 32), then the data section; a tensor's bytes are data[offset, offset + nbytes).
//   string = u64 length + bytes (no NUL); array = u32 elem_type, u64 count, count × value.
// A tensor with ne = [ne0, ne1] is ne1 rows of ne0 contiguous elements: in our [out, in] row-major
// vocabulary, shape() = {ne1, ne0} (outermost first). Every count, length, offset and extent is
// checked against the file size at open, and counts are capped (kMax* below), so a truncated or
// malicious file gives a ghostkv::Error naming the file, the field and the values, never a crash
// or an absurd allocation. Tensor pointers stay valid while the GgufFile lives (moves keep them).
// Dequantisation to float32 follows ggml's dequantize_row_* bit for bit (the project builds with
// -ffp-contract=off, so d·q + m rounds twice, as ggml's scalar code and gguf-py's numpy do):
//   F32, F16, BF16 (exact widening); Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32-element blocks).
// Other ggml types (K-quants, I-quants, …) are read as tensor infos but dequantising them is an Error.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ghostkv/io/mapped_file.h"

namespace ghostkv {

enum class GgufValueType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

// ggml_type ids as stored in tensor infos (ggml.h).
enum class GgmlType : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, bf16 = 30,
};
// "F32", "Q4_1", … ; "type<N>" for ids this reader does not know.
std::string ggml_type_name(uint32_t type);
// Elements per block and bytes per block of a ggml type; false for unknown types.
bool ggml_type_layout(uint32_t type, int64_t* block_elems, int64_t* block_bytes);
// Whether dequantize_ggml() supports the type.
bool ggml_type_dequantizable(uint32_t type);
// Dequantises n elements (a multiple of the block size) from src to dst, as ggml does.
// Error naming `what` for unsupported types or a partial block.
void dequantize_ggml(uint32_t type, const uint8_t* src, int64_t n, float* dst, const std::string& what);

// One metadata value. Scalars: integers in i (signed types, bool) or u (unsigned types), floats in
// f; strings in s; arrays in elem_type + items (nested arrays allowed).
struct GgufValue {
  GgufValueType type = GgufValueType::u8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  GgufValueType elem_type = GgufValueType::u8;
  std::vector<GgufValue> items;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;       // ggml order: innermost (contiguous) dimension first
  uint32_t type = 0;             // GgmlType id
  int64_t offset = 0;            // within the data section
  int64_t nbytes = 0;
  const uint8_t* data = nullptr; // inside the mapping
  int64_t numel() const;
  std::vector<int64_t> shape() const;  // outermost first: {ne[n-1], …, ne[0]}
};

class GgufFile {
 public:
  static constexpr int64_t kMaxTensors = 1 << 20;
  static constexpr int64_t kMaxKv = 1 << 20;
  static constexpr int64_t kMaxStringBytes = 1 << 26;   // one string
  static constexpr int64_t kMaxArrayItems = 1 << 26;    // one array
  static constexpr int64_t kMaxDims = 4;                // GGML_MAX_DIMS
  static constexpr int kMaxNesting = 8;

  explicit GgufFile(const std::string& path);  // maps and validates; throws ghostkv::Error
  ~GgufFile();
  GgufFile(GgufFile&& o) noexcept;
  GgufFile& operator=(GgufFile&& o) noexcept;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  int64_t alignment() const { return alignment_; }
  int64_t data_offset() const { return data_offset_; }  // file offset of the data section

  // ---- metadata ----
  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue& get(const std::string& key) const;  // Error naming the key and file if absent
  const std::vector<std::string>& keys() const { return keys_; }  // in file order
  // Typed getters: Error naming the file, key, actual type (and value when out of range).
  int64_t get_int(const std::string& key) const;      // any integer type (u64 ≤ INT64_MAX)
  double get_float(const std::string& key) const;     // f32/f64, or any integer type
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;   // f32 items (exact)
  std::vector<int32_t> get_i32_array(const std::string& key) const; // integer items within int32
  // Defaults when the key is absent (present with a wrong type is still an Error).
  int64_t get_int_or(const std::string& key, int64_t dflt) const { return has(key) ? get_int(key) : dflt; }
  double get_float_or(const std::string& key, double dflt) const { return has(key) ? get_float(key) : dflt; }
  bool get_bool_or(const std::string& key, bool dflt) const { return has(key) ? get_bool(key) : dflt; }

  // ---- tensors ----
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  const GgufTensorInfo& tensor(const std::string& name) const;  // Error naming tensor and file
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // in file order
  // Dequantised float32 copy after checking shape() == expect_shape (outermost first, e.g.
  // {rows, cols}); Error naming the file, the tensor, the expected and the actual shape.
  std::vector<float> to_f32(const std::string& name, const std::vector<int64_t>& expect_shape) const;

 private:
  std::string path_;
  MappedFile map_;
  uint32_t version_ = 0;
  int64_t alignment_ = 32;
  int64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace ghostkv
