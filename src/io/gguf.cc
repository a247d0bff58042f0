#include "ghostkv/io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "ghostkv/error.h"
#include "ghostkv/half.h"

namespace ghostkv {

static_assert(std::endian::native == std::endian::little, "GGUF reader assumes a little-endian host");

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8: return "UINT8";
    case GgufValueType::i8: return "INT8";
    case GgufValueType::u16: return "UINT16";
    case GgufValueType::i16: return "INT16";
    case GgufValueType::u32: return "UINT32";
    case GgufValueType::i32: return "INT32";
    case GgufValueType::f32: return "FLOAT32";
    case GgufValueType::boolean: return "BOOL";
    case GgufValueType::string: return "STRING";
    case GgufValueType::array: return "ARRAY";
    case GgufValueType::u64: return "UINT64";
    case GgufValueType::i64: return "INT64";
    case GgufValueType::f64: return "FLOAT64";
  }
  return "?";
}

namespace {

struct TypeLayout {
  uint32_t id;
  const char* name;
  int64_t block_elems, block_bytes;
};

// ggml's type traits (block sizes of the K-quants: QK_K = 256).
constexpr TypeLayout kLayouts[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},     {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292},  {24, "I8", 1, 1},        {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},       {28, "F64", 1, 8},       {30, "BF16", 1, 2},
};

const TypeLayout* find_layout(uint32_t type) {
  for (const TypeLayout& l : kLayouts)
    if (l.id == type) return &l;
  return nullptr;
}

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// ---- ggml's dequantize_row_* (scalar reference versions), 32-element blocks ----
// Q4_0: {f16 d; u8 qs[16]}: x[j] = (lo(qs[j]) - 8)·d, x[j+16] = (hi(qs[j]) - 8)·d
// Q4_1: {f16 d, m; u8 qs[16]}: x[j] = lo(qs[j])·d + m, x[j+16] = hi(qs[j])·d + m
// Q5_0: {f16 d; u32 qh; u8 qs[16]}: 5th bit of element j is bit j of qh; (q - 16)·d
// Q5_1: {f16 d, m; u32 qh; u8 qs[16]}: q·d + m
// Q8_0: {f16 d; i8 qs[32]}: qs[j]·d
void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(int(qs[j] & 0x0F) - 8) * d;
    y[j + 16] = float(int(qs[j] >> 4) - 8) * d;
  }
}
void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(qs[j] & 0x0F) * d + m;
    y[j + 16] = float(qs[j] >> 4) * d + m;
  }
}
void dequant_q5_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
    y[j] = float((int(qs[j] & 0x0F) | h0) - 16) * d;
    y[j + 16] = float((int(qs[j] >> 4) | h1) - 16) * d;
  }
}
void dequant_q5_1(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
    y[j] = float(int(qs[j] & 0x0F) | h0) * d + m;
    y[j + 16] = float(int(qs[j] >> 4) | h1) * d + m;
  }
}
void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = float(qs[j]) * d;
}

// Bounds-checked little-endian cursor over the mapping.
class Cursor {
 public:
  Cursor(const uint8_t* base, int64_t size, const std::string& path) : base_(base), size_(size), path_(path) {}
  int64_t pos() const { return pos_; }
  void need(int64_t n, const std::string& what) const {
    GKV_CHECK(n >= 0 && n <= size_ - pos_, path_, ": truncated GGUF file: ", what, " needs ", n, " bytes at offset ",
              pos_, " but the file has ", size_, " bytes");
  }
  template <class T>
  T read(const std::string& what) {
    need(int64_t(sizeof(T)), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += int64_t(sizeof(T));
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what + " (string length)");
    GKV_CHECK(n <= uint64_t(GgufFile::kMaxStringBytes), path_, ": ", what, ": string length ", n,
              " exceeds the limit of ", GgufFile::kMaxStringBytes, " bytes (corrupt file?)");
    need(int64_t(n), what + " (string bytes)");
    std::string s(reinterpret_cast<const char*>(base_ + pos_), size_t(n));
    pos_ += int64_t(n);
    return s;
  }

 private:
  const uint8_t* base_;
  int64_t size_;
  int64_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& c, GgufValueType type, const std::string& what, const std::string& path, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufValueType::u8: v.u = c.read<uint8_t>(what); break;
    case GgufValueType::i8: v.i = c.read<int8_t>(what); break;
    case GgufValueType::u16: v.u = c.read<uint16_t>(what); break;
    case GgufValueType::i16: v.i = c.read<int16_t>(what); break;
    case GgufValueType::u32: v.u = c.read<uint32_t>(what); break;
    case GgufValueType::i32: v.i = c.read<int32_t>(what); break;
    case GgufValueType::u64: v.u = c.read<uint64_t>(what); break;
    case GgufValueType::i64: v.i = c.read<int64_t>(what); break;
    case GgufValueType::f32: v.f = c.read<float>(what); break;
    case GgufValueType::f64: v.f = c.read<double>(what); break;
    case GgufValueType::boolean: {
      const uint8_t b = c.read<uint8_t>(what);
      GKV_CHECK(b <= 1, path, ": ", what, ": BOOL value ", int(b), " is neither 0 nor 1");
      v.i = b;
      break;
    }
    case GgufValueType::string: v.s = c.read_string(what); break;
    case GgufValueType::array: {
      GKV_CHECK(depth < GgufFile::kMaxNesting, path, ": ", what, ": arrays nested deeper than ",
                GgufFile::kMaxNesting, " levels");
      const uint32_t et = c.read<uint32_t>(what + " (array element type)");
      GKV_CHECK(et <= uint32_t(GgufValueType::f64), path, ": ", what, ": unknown array element type ", et,
                " (expected 0..12)");
      v.elem_type = GgufValueType(et);
      const uint64_t n = c.read<uint64_t>(what + " (array length)");
      GKV_CHECK(n <= uint64_t(GgufFile::kMaxArrayItems), path, ": ", what, ": array length ", n,
                " exceeds the limit of ", GgufFile::kMaxArrayItems, " (corrupt file?)");
      // Every item takes at least one byte, so a length beyond the remaining bytes is corrupt:
      // refuse it before reserving anything.
      c.need(int64_t(n), what + " (" + std::to_string(n) + " array items)");
      v.items.reserve(size_t(n));
      for (uint64_t k = 0; k < n; ++k)
        v.items.push_back(read_value(c, v.elem_type, what + "[" + std::to_string(k) + "]", path, depth + 1));
      break;
    }
    default:
      throw Error(str_cat(path, ": ", what, ": unknown GGUF value type ", uint32_t(type), " (expected 0..12)"));
  }
  return v;
}

bool is_int_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::u16: case GgufValueType::i16:
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::u64: case GgufValueType::i64:
      return true;
    default: return false;
  }
}
bool is_unsigned(GgufValueType t) {
  return t == GgufValueType::u8 || t == GgufValueType::u16 || t == GgufValueType::u32 || t == GgufValueType::u64;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  const TypeLayout* l = find_layout(type);
  return l ? l->name : "type" + std::to_string(type);
}

bool ggml_type_layout(uint32_t type, int64_t* block_elems, int64_t* block_bytes) {
  const TypeLayout* l = find_layout(type);
  if (!l) return false;
  *block_elems = l->block_elems;
  *block_bytes = l->block_bytes;
  return true;
}

bool ggml_type_dequantizable(uint32_t type) {
  switch (GgmlType(type)) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: case GgmlType::q4_0: case GgmlType::q4_1:
    case GgmlType::q5_0: case GgmlType::q5_1: case GgmlType::q8_0:
      return true;
    default: return false;
  }
}

void dequantize_ggml(uint32_t type, const uint8_t* src, int64_t n, float* dst, const std::string& what) {
  int64_t be = 0, bb = 0;
  GKV_CHECK(ggml_type_layout(type, &be, &bb) && ggml_type_dequantizable(type), what, ": tensor type ",
            ggml_type_name(type), " is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)");
  GKV_CHECK(n >= 0 && n % be == 0, what, ": ", n, " elements is not a whole number of ", ggml_type_name(type),
            " blocks of ", be);
  const int64_t nb = n / be;
  switch (GgmlType(type)) {
    case GgmlType::f32: std::memcpy(dst, src, size_t(n) * 4); break;
    case GgmlType::f16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_at(src + 2 * i);
      break;
    case GgmlType::bf16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      break;
    case GgmlType::q4_0: for (int64_t b = 0; b < nb; ++b) dequant_q4_0(src + b * bb, dst + b * 32); break;
    case GgmlType::q4_1: for (int64_t b = 0; b < nb; ++b) dequant_q4_1(src + b * bb, dst + b * 32); break;
    case GgmlType::q5_0: for (int64_t b = 0; b < nb; ++b) dequant_q5_0(src + b * bb, dst + b * 32); break;
    case GgmlType::q5_1: for (int64_t b = 0; b < nb; ++b) dequant_q5_1(src + b * bb, dst + b * 32); break;
    case GgmlType::q8_0: for (int64_t b = 0; b < nb; ++b) dequant_q8_0(src + b * bb, dst + b * 32); break;
    default: GKV_ASSERT(false, "unreachable");
  }
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const { return std::vector<int64_t>(ne.rbegin(), ne.rend()); }

GgufFile::GgufFile(const std::string& path) : path_(path) {
  map_ = MappedFile(path, "GGUF file", 24, "{} bytes is too short for a GGUF header (24 bytes)");
  const int64_t file_bytes = map_.size();
  {  // on any error below, map_'s destructor releases the mapping
    const uint8_t* base = map_.data();
    Cursor c(base, file_bytes, path_);
    const uint32_t magic = c.read<uint32_t>("magic");
    GKV_CHECK(std::memcmp(&magic, "GGUF", 4) == 0, path, ": not a GGUF file (magic bytes ",
              std::string(reinterpret_cast<const char*>(base), 4), ", expected GGUF)");
    version_ = c.read<uint32_t>("version");
    GKV_CHECK(version_ == 2 || version_ == 3, path, ": GGUF version ", version_, " is not supported (expected 2 or 3)");
    const uint64_t n_tensors = c.read<uint64_t>("tensor_count");
    const uint64_t n_kv = c.read<uint64_t>("metadata_kv_count");
    GKV_CHECK(n_tensors <= uint64_t(kMaxTensors), path, ": tensor_count ", n_tensors, " exceeds the limit of ",
              kMaxTensors);
    GKV_CHECK(n_kv <= uint64_t(kMaxKv), path, ": metadata_kv_count ", n_kv, " exceeds the limit of ", kMaxKv);
    for (uint64_t k = 0; k < n_kv; ++k) {
      const std::string what = "metadata entry " + std::to_string(k);
      std::string key = c.read_string(what + " key");
      const uint32_t t = c.read<uint32_t>("metadata '" + key + "' value type");
      GKV_CHECK(t <= uint32_t(GgufValueType::f64), path, ": metadata '", key, "': unknown value type ", t,
                " (expected 0..12)");
      GgufValue v = read_value(c, GgufValueType(t), "metadata '" + key + "'", path_, 0);
      GKV_CHECK(!kv_.count(key), path, ": metadata key '", key, "' appears twice");
      keys_.push_back(key);
      kv_.emplace(std::move(key), std::move(v));
    }
    if (has("general.alignment")) {
      const GgufValue& a = get("general.alignment");
      GKV_CHECK(a.type == GgufValueType::u32, path, ": general.alignment has type ", gguf_value_type_name(a.type),
                ", expected UINT32");
      GKV_CHECK(a.u > 0 && (a.u & (a.u - 1)) == 0, path, ": general.alignment = ", a.u,
                " is not a positive power of two");
      alignment_ = int64_t(a.u);
    }
    tensors_.reserve(size_t(std::min<uint64_t>(n_tensors, uint64_t(file_bytes / 24))));
    for (uint64_t k = 0; k < n_tensors; ++k) {
      GgufTensorInfo ti;
      ti.name = c.read_string("tensor info " + std::to_string(k) + " name");
      const std::string what = "tensor '" + ti.name + "'";
      const uint32_t n_dims = c.read<uint32_t>(what + " n_dims");
      GKV_CHECK(n_dims >= 1 && n_dims <= uint32_t(kMaxDims), path, ": ", what, ": n_dims = ", n_dims,
                ", expected 1..", kMaxDims);
      int64_t numel = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t ne = c.read<uint64_t>(what + " ne[" + std::to_string(d) + "]");
        GKV_CHECK(ne <= uint64_t(INT64_MAX), path, ": ", what, ": ne[", d, "] = ", ne, " out of range");
        GKV_CHECK(ne == 0 || numel <= INT64_MAX / 8 / int64_t(ne), path, ": ", what, ": element count overflows (ne[",
                  d, "] = ", ne, ")");
        numel *= int64_t(ne);
        ti.ne.push_back(int64_t(ne));
      }
      ti.type = c.read<uint32_t>(what + " type");
      int64_t be = 0, bb = 0;
      GKV_CHECK(ggml_type_layout(ti.type, &be, &bb), path, ": ", what, ": unknown ggml type id ", ti.type);
      GKV_CHECK(ti.ne[0] % be == 0, path, ": ", what, ": ne[0] = ", ti.ne[0], " is not a multiple of the ",
                ggml_type_name(ti.type), " block size ", be);
      ti.nbytes = numel / be * bb;
      const uint64_t off = c.read<uint64_t>(what + " offset");
      GKV_CHECK(off <= uint64_t(file_bytes), path, ": ", what, ": data offset ", off, " beyond the file size ",
                file_bytes);
      GKV_CHECK(off % uint64_t(alignment_) == 0, path, ": ", what, ": data offset ", off,
                " is not a multiple of the alignment ", alignment_);
      ti.offset = int64_t(off);
      GKV_CHECK(!tensor_index_.count(ti.name), path, ": tensor name '", ti.name, "' appears twice");
      tensor_index_.emplace(ti.name, tensors_.size());
      tensors_.push_back(std::move(ti));
    }
    const int64_t data_start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
    data_offset_ = data_start;
    GKV_CHECK(tensors_.empty() || data_start <= file_bytes, path, ": data section would start at ", data_start,
              " beyond the file size ", file_bytes);
    std::vector<const GgufTensorInfo*> by_off;
    for (GgufTensorInfo& t : tensors_) {
      GKV_CHECK(t.offset <= file_bytes - data_start && t.nbytes <= file_bytes - data_start - t.offset, path,
                ": tensor '", t.name, "' (", ggml_type_name(t.type), " ", shape_text(t.ne), ", ", t.nbytes,
                " bytes at data offset ", t.offset, ") extends beyond the end of the file (", file_bytes,
                " bytes, data section at ", data_start, "): truncated file?");
      t.data = base + data_start + t.offset;
      by_off.push_back(&t);
    }
    std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_off.size(); ++i)
      GKV_CHECK(by_off[i - 1]->offset + by_off[i - 1]->nbytes <= by_off[i]->offset, path, ": tensors '",
                by_off[i - 1]->name, "' (offset ", by_off[i - 1]->offset, ", ", by_off[i - 1]->nbytes,
                " bytes) and '", by_off[i]->name, "' (offset ", by_off[i]->offset, ") overlap");
  }
}

GgufFile::~GgufFile() = default;
GgufFile::GgufFile(GgufFile&& o) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&& o) noexcept = default;



const GgufValue& GgufFile::get(const std::string& key) const {
  auto it = kv_.find(key);
  GKV_CHECK(it != kv_.end(), path_, ": GGUF metadata key '", key, "' is missing");
  return it->second;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(is_int_type(v.type), path_, ": metadata '", key, "' has type ", gguf_value_type_name(v.type),
            ", expected an integer");
  if (is_unsigned(v.type)) {
    GKV_CHECK(v.u <= uint64_t(INT64_MAX), path_, ": metadata '", key, "' = ", v.u, " is out of range");
    return int64_t(v.u);
  }
  return v.i;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type == GgufValueType::f32 || v.type == GgufValueType::f64) return v.f;
  GKV_CHECK(is_int_type(v.type), path_, ": metadata '", key, "' has type ", gguf_value_type_name(v.type),
            ", expected a number");
  return is_unsigned(v.type) ? double(v.u) : double(v.i);
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(v.type == GgufValueType::boolean, path_, ": metadata '", key, "' has type ",
            gguf_value_type_name(v.type), ", expected BOOL");
  return v.i != 0;
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(v.type == GgufValueType::string, path_, ": metadata '", key, "' has type ",
            gguf_value_type_name(v.type), ", expected STRING");
  return v.s;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(v.type == GgufValueType::array && v.elem_type == GgufValueType::string, path_, ": metadata '", key,
            "' has type ", gguf_value_type_name(v.type),
            (v.type == GgufValueType::array ? str_cat(" of ", gguf_value_type_name(v.elem_type)) : ""),
            ", expected ARRAY of STRING");
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const GgufValue& x : v.items) out.push_back(x.s);
  return out;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(v.type == GgufValueType::array && v.elem_type == GgufValueType::f32, path_, ": metadata '", key,
            "' has type ", gguf_value_type_name(v.type),
            (v.type == GgufValueType::array ? str_cat(" of ", gguf_value_type_name(v.elem_type)) : ""),
            ", expected ARRAY of FLOAT32");
  std::vector<float> out;
  out.reserve(v.items.size());
  for (const GgufValue& x : v.items) out.push_back(float(x.f));
  return out;
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  GKV_CHECK(v.type == GgufValueType::array && is_int_type(v.elem_type), path_, ": metadata '", key, "' has type ",
            gguf_value_type_name(v.type),
            (v.type == GgufValueType::array ? str_cat(" of ", gguf_value_type_name(v.elem_type)) : ""),
            ", expected ARRAY of an integer type");
  std::vector<int32_t> out;
  out.reserve(v.items.size());
  for (size_t k = 0; k < v.items.size(); ++k) {
    const GgufValue& x = v.items[k];
    const bool ok = is_unsigned(v.elem_type) ? x.u <= uint64_t(INT32_MAX) : (x.i >= INT32_MIN && x.i <= INT32_MAX);
    GKV_CHECK(ok, path_, ": metadata '", key, "'[", k, "] = ", (is_unsigned(v.elem_type) ? str_cat(x.u) : str_cat(x.i)),
              " does not fit in int32");
    out.push_back(int32_t(is_unsigned(v.elem_type) ? int64_t(x.u) : x.i));
  }
  return out;
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  GKV_CHECK(it != tensor_index_.end(), path_, ": GGUF tensor '", name, "' is missing");
  return tensors_[it->second];
}

std::vector<float> GgufFile::to_f32(const std::string& name, const std::vector<int64_t>& expect_shape) const {
  const GgufTensorInfo& t = tensor(name);
  // Trailing ggml dimensions of size 1 are not part of the shape (ggml pads ne to 4 with ones).
  std::vector<int64_t> shape = t.shape();
  while (shape.size() > expect_shape.size() && shape.front() == 1) shape.erase(shape.begin());
  GKV_CHECK(shape == expect_shape, path_, ": tensor '", name, "': shape ", shape_text(t.shape()),
            " (ggml ne ", shape_text(t.ne), "), expected ", shape_text(expect_shape), " from the model metadata");
  std::vector<float> out(size_t(t.numel()));
  dequantize_ggml(t.type, t.data, t.numel(), out.data(), path_ + ": tensor '" + name + "'");
  return out;
}

}  // namespace ghostkv
