#include "ghostkv/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "ghostkv/half.h"

namespace ghostkv {

static_assert(std::endian::native == std::endian::little, "safetensors reader assumes a little-endian host");

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The reference implementation (safetensors, Rust) refuses headers above 100 MB.
constexpr int64_t kMaxHeaderBytes = 100'000'000;
constexpr int64_t kMaxIndexBytes = 64 << 20;

bool dtype_from_st(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::f32;
  else if (s == "F64") *out = DType::f64;
  else if (s == "F16") *out = DType::f16;
  else if (s == "BF16") *out = DType::bf16;
  else if (s == "I32") *out = DType::i32;
  else if (s == "I64") *out = DType::i64;
  else if (s == "U8" || s == "BOOL") *out = DType::u8;
  else return false;
  return true;
}

const char* st_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

// Non-negative integer from a JSON value (rejects floats, negatives, bools).
bool as_count(const json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) return false;
    *out = int64_t(u);
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  return false;
}

std::string read_small_file(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  GKV_CHECK(fs::is_regular_file(path, ec), path, ": not a regular file (or cannot be read)");
  const auto size = fs::file_size(path, ec);
  GKV_CHECK(!ec, path, ": cannot stat file: ", ec.message());
  GKV_CHECK(int64_t(size) <= max_bytes, path, ": file is ", size, " bytes, expected at most ", max_bytes,
            " for a JSON index");
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open file");
  std::string s(size, '\0');
  f.read(s.data(), int64_t(size));
  GKV_CHECK(f.gcount() == int64_t(size), path, ": short read");
  return s;
}

}  // namespace

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  map_ = MappedFile(path, "safetensors file", 8,
                    "file is {} bytes, a safetensors file needs at least 8 (an 8-byte header length); truncated?");
  const int64_t file_bytes = map_.size();
  {  // on any error below, map_'s destructor releases the mapping
    const uint8_t* base = map_.data();
    uint64_t n_header = 0;
    std::memcpy(&n_header, base, 8);
    GKV_CHECK(n_header <= uint64_t(file_bytes - 8), path, ": header length ", n_header,
              " exceeds the file size (", file_bytes, " bytes incl. the 8-byte length); truncated or not safetensors?");
    GKV_CHECK(int64_t(n_header) <= kMaxHeaderBytes, path, ": header length ", n_header,
              " exceeds the safetensors limit of ", kMaxHeaderBytes, " bytes");
    const std::string header(reinterpret_cast<const char*>(base + 8), size_t(n_header));
    json h;
    try {
      h = json::parse(header);
    } catch (const json::exception& e) {
      throw Error(str_cat(path, ": malformed safetensors JSON header (", n_header, " bytes): ", e.what()));
    }
    GKV_CHECK(h.is_object(), path, ": safetensors header is JSON ", h.type_name(), ", expected an object");
    const uint8_t* data = base + 8 + n_header;
    const int64_t data_bytes = file_bytes - 8 - int64_t(n_header);
    std::vector<std::pair<int64_t, int64_t>> offsets;  // parallel to tensors_ before sorting
    for (auto it = h.begin(); it != h.end(); ++it) {
      const std::string& name = it.key();
      const json& e = it.value();
      if (name == "__metadata__") {
        GKV_CHECK(e.is_object() || e.is_null(), path, ": \"__metadata__\" is ", e.type_name(), ", expected an object");
        if (e.is_object())
          for (auto m2 = e.begin(); m2 != e.end(); ++m2)
            metadata_[m2.key()] = m2.value().is_string() ? m2.value().get<std::string>() : m2.value().dump();
        continue;
      }
      auto where = [&] { return str_cat(path, ": tensor '", name, "': "); };
      GKV_CHECK(e.is_object(), where(), "header entry is ", e.type_name(), ", expected an object");
      GKV_CHECK(e.contains("dtype") && e["dtype"].is_string(), where(), "missing or non-string \"dtype\"");
      GKV_CHECK(e.contains("shape") && e["shape"].is_array(), where(), "missing or non-array \"shape\"");
      GKV_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2,
                where(), "\"data_offsets\" must be an array [begin, end], got ",
                e.contains("data_offsets") ? e["data_offsets"].dump() : std::string("nothing"));
      TensorRef t;
      t.name = name;
      t.file = path;
      const std::string ds = e["dtype"].get<std::string>();
      GKV_CHECK(dtype_from_st(ds, &t.dtype), where(), "unsupported dtype '", ds,
                "' (supported: F32 F64 F16 BF16 I32 I64 U8 BOOL)");
      for (const json& d : e["shape"]) {
        int64_t v = 0;
        GKV_CHECK(as_count(d, &v), where(), "shape ", e["shape"].dump(), " has a non-integer or negative dimension");
        t.shape.push_back(v);
      }
      // numel with an overflow guard: a non-empty tensor cannot have more elements than data bytes.
      __int128 numel = std::count(t.shape.begin(), t.shape.end(), int64_t(0)) ? 0 : 1;
      for (int64_t v : t.shape) {
        if (numel == 0) break;
        numel *= v;
        GKV_CHECK(numel <= (__int128)data_bytes, where(), "shape ", shape_str(t.shape), " of ", ds,
                  " needs more bytes than the data section holds (", data_bytes, ")");
      }
      int64_t b = 0, en = 0;
      GKV_CHECK(as_count(e["data_offsets"][0], &b) && as_count(e["data_offsets"][1], &en), where(),
                "data_offsets ", e["data_offsets"].dump(), " are not non-negative integers");
      GKV_CHECK(b <= en && en <= data_bytes, where(), "data_offsets [", b, ", ", en,
                "] out of range: expected 0 <= begin <= end <= ", data_bytes, " (data section size)");
      const int64_t need = int64_t(numel) * int64_t(dtype_size(t.dtype));
      GKV_CHECK(en - b == need, where(), "data_offsets [", b, ", ", en, "] span ", en - b, " bytes, expected ",
                need, " = ", ds, " (", dtype_size(t.dtype), " bytes) x shape ", shape_str(t.shape));
      t.data = data + b;
      t.nbytes = need;
      tensors_.push_back(std::move(t));
      offsets.emplace_back(b, en);
    }
    // Sort by offset and reject overlaps (empty tensors occupy nothing).
    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t c) { return offsets[a] < offsets[c]; });
    std::vector<TensorRef> sorted;
    sorted.reserve(tensors_.size());
    int64_t prev_end = 0;
    std::string prev_name;
    for (size_t i : order) {
      const auto [b, en] = offsets[i];
      if (en > b) {
        GKV_CHECK(b >= prev_end, path, ": tensor '", tensors_[i].name, "' data_offsets [", b, ", ", en,
                  "] overlap tensor '", prev_name, "' (which ends at ", prev_end, ")");
        prev_end = en;
        prev_name = tensors_[i].name;
      }
      sorted.push_back(std::move(tensors_[i]));
    }
    tensors_ = std::move(sorted);
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  }
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept = default;



const TensorRef& SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  GKV_CHECK(it != index_.end(), path_, ": tensor '", name, "' not found (file holds ", tensors_.size(), " tensors)");
  return tensors_[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  return out;
}

WeightStore WeightStore::open_hf(const std::string& path) {
  WeightStore ws;
  ws.source_ = path;
  std::error_code ec;
  auto add_file = [&](const std::string& file) -> size_t {
    ws.files_.push_back(std::make_unique<SafetensorsFile>(file));
    return ws.files_.size() - 1;
  };
  auto index_all = [&](size_t fi) {
    for (const auto& n : ws.files_[fi]->names()) ws.index_[n] = fi;
  };
  if (fs::is_regular_file(path, ec)) {
    index_all(add_file(path));
    return ws;
  }
  GKV_CHECK(fs::is_directory(path, ec), path, ": no such file or directory (expected a checkpoint folder or a .safetensors file)");
  const fs::path dir(path);
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  if (fs::exists(index_path, ec)) {
    const std::string ip = index_path.string();
    json idx;
    try {
      idx = json::parse(read_small_file(ip, kMaxIndexBytes));
    } catch (const json::exception& e) {
      throw Error(str_cat(ip, ": malformed JSON: ", e.what()));
    }
    GKV_CHECK(idx.is_object() && idx.contains("weight_map") && idx["weight_map"].is_object(), ip,
              ": expected an object with a \"weight_map\" object {tensor name: shard file}");
    std::unordered_map<std::string, size_t> shard_of_file;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      GKV_CHECK(it.value().is_string(), ip, ": weight_map entry '", it.key(), "' is ", it.value().type_name(),
                ", expected a shard file name");
      const std::string shard = it.value().get<std::string>();
      // Shards live next to the index: refuse paths that would escape the folder.
      GKV_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos &&
                    shard != "." && shard != "..",
                ip, ": weight_map entry '", it.key(), "' names shard '", shard, "', expected a plain file name");
      auto f = shard_of_file.find(shard);
      size_t fi = 0;
      if (f == shard_of_file.end()) {
        const std::string sp = (dir / shard).string();
        GKV_CHECK(fs::exists(sp, ec), ip, ": shard '", shard, "' (for tensor '", it.key(), "') is missing: ", sp);
        fi = add_file(sp);
        shard_of_file[shard] = fi;
      } else {
        fi = f->second;
      }
      GKV_CHECK(ws.files_[fi]->has(it.key()), ip, ": tensor '", it.key(), "' is mapped to shard '", shard,
                "' but that file does not hold it");
      ws.index_[it.key()] = fi;
    }
    GKV_CHECK(!ws.files_.empty(), ip, ": weight_map is empty");
    return ws;
  }
  if (fs::exists(single_path, ec)) {
    index_all(add_file(single_path.string()));
    return ws;
  }
  throw Error(str_cat(path, ": no model.safetensors.index.json and no model.safetensors in this folder"));
}

const TensorRef& WeightStore::get(const std::string& name) const {
  auto it = index_.find(name);
  GKV_CHECK(it != index_.end(), source_, ": tensor '", name, "' not found (checkpoint holds ", index_.size(),
            " tensors in ", files_.size(), " file(s))");
  return files_[it->second]->get(name);
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [n, fi] : index_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<float> to_f32(const TensorRef& t, const std::vector<int64_t>& expect_shape) {
  GKV_CHECK(t.shape == expect_shape, t.file, ": tensor '", t.name, "': shape ", shape_str(t.shape),
            ", expected ", shape_str(expect_shape));
  const int64_t n = t.numel();
  GKV_ASSERT(n * int64_t(dtype_size(t.dtype)) == t.nbytes, "TensorRef '", t.name, "' is inconsistent");
  std::vector<float> out;
  switch (t.dtype) {
    case DType::f32:
      out.resize(size_t(n));
      if (n) std::memcpy(out.data(), t.data, size_t(t.nbytes));
      break;
    case DType::f64:
      out.resize(size_t(n));
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, t.data + 8 * i, 8);
        out[size_t(i)] = float(v);
      }
      break;
    case DType::f16:
    case DType::bf16: {
      out.resize(size_t(n));
      const bool bf = t.dtype == DType::bf16;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[size_t(i)] = bf ? bf16_to_f32(h) : f16_to_f32(h);
      }
      break;
    }
    default:
      throw Error(str_cat(t.file, ": tensor '", t.name, "': dtype ", st_name(t.dtype),
                          ", expected a floating type (F32, F16, BF16 or F64)"));
  }
  return out;
}

}  // namespace ghostkv
