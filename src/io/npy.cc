#include "ghostkv/io/npy.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace ghostkv {

namespace {

struct Header {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Parses the Python-literal dict of an .npy header: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
Header parse_header(const std::string& path, const std::string& h) {
  Header out;
  auto value_of = [&](const std::string& key) -> std::string {
    size_t k = h.find("'" + key + "'");
    GKV_CHECK(k != std::string::npos, path, ": npy header lacks '", key, "': ", h);
    size_t c = h.find(':', k);
    GKV_CHECK(c != std::string::npos, path, ": malformed npy header: ", h);
    return h.substr(c + 1);
  };
  std::string d = trim(value_of("descr"));
  GKV_CHECK(!d.empty() && (d[0] == '\'' || d[0] == '"'), path, ": npy descr is not a simple string (structured dtypes are not supported): ", h);
  size_t e = d.find(d[0], 1);
  GKV_CHECK(e != std::string::npos, path, ": malformed npy descr: ", h);
  out.descr = d.substr(1, e - 1);
  std::string f = trim(value_of("fortran_order"));
  out.fortran = f.rfind("True", 0) == 0;
  GKV_CHECK(out.fortran || f.rfind("False", 0) == 0, path, ": malformed fortran_order: ", h);
  std::string s = trim(value_of("shape"));
  GKV_CHECK(!s.empty() && s[0] == '(', path, ": malformed npy shape: ", h);
  size_t close = s.find(')');
  GKV_CHECK(close != std::string::npos, path, ": malformed npy shape: ", h);
  std::string body = s.substr(1, close - 1);
  std::stringstream ss(body);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    if (item.back() == 'L') item.pop_back();
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    GKV_CHECK(end && *end == '\0' && v >= 0, path, ": bad dimension '", item, "' in npy shape ", s.substr(0, close + 1));
    out.shape.push_back(v);
  }
  return out;
}

DType dtype_from_descr(const std::string& path, const std::string& descr) {
  if (descr == "<f4") return DType::f32;
  if (descr == "<f8") return DType::f64;
  if (descr == "<f2") return DType::f16;
  if (descr == "<u2" || descr == "<V2" || descr == "|V2") return DType::bf16;
  if (descr == "<i4") return DType::i32;
  if (descr == "<i8") return DType::i64;
  if (descr == "|u1" || descr == "<u1" || descr == "|b1") return DType::u8;
  throw Error(str_cat(path, ": unsupported npy dtype '", descr,
                      "' (supported: <f4 <f8 <f2 <u2 as bfloat16 <i4 <i8 |u1, little-endian)"));
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::f16: return "<f2";
    case DType::bf16: return "<u2";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
  }
  return "?";
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open file");
  f.seekg(0, std::ios::end);
  const int64_t file_size = f.tellg();
  f.seekg(0);
  char magic[8];
  f.read(magic, 8);
  GKV_CHECK(f.gcount() == 8 && std::string(magic, 6) == "\x93NUMPY", path, ": not an .npy file (bad magic)");
  int major = uint8_t(magic[6]);
  GKV_CHECK(major >= 1 && major <= 3, path, ": unsupported npy format version ", major);
  uint64_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (uint64_t(b[1]) << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (uint64_t(b[1]) << 8) | (uint64_t(b[2]) << 16) | (uint64_t(b[3]) << 24);
  }
  GKV_CHECK(f.good() && int64_t(hlen) <= file_size, path, ": truncated npy header (header length ", hlen,
            ", file size ", file_size, ")");
  std::string h(hlen, '\0');
  f.read(h.data(), int64_t(hlen));
  GKV_CHECK(f.gcount() == int64_t(hlen), path, ": truncated npy header");
  Header hd = parse_header(path, h);
  GKV_CHECK(!hd.fortran, path, ": Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  DType dt = dtype_from_descr(path, hd.descr);
  // Guard against absurd shapes before allocating: the payload must be in the file.
  const int64_t data_off = f.tellg();
  __int128 need = int64_t(dtype_size(dt));
  for (int64_t s : hd.shape) {
    need *= s;
    GKV_CHECK(need <= (__int128)file_size, path, ": npy shape ", shape_str(hd.shape), " of ", hd.descr,
              " needs more bytes than the file has (", file_size, ")");
  }
  GKV_CHECK(int64_t(need) == file_size - data_off, path, ": npy payload is ", file_size - data_off,
            " bytes, shape ", shape_str(hd.shape), " of ", hd.descr, " needs ", int64_t(need),
            (int64_t(need) > file_size - data_off ? " (file truncated)" : " (trailing bytes)"));
  Tensor t(dt, hd.shape);
  if (t.nbytes()) f.read(reinterpret_cast<char*>(t.raw()), int64_t(t.nbytes()));
  GKV_CHECK(t.nbytes() == 0 || f.gcount() == int64_t(t.nbytes()), path, ": short read");
  return t;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    GKV_CHECK(f.good(), tmp, ": cannot create file");
    f.write(bytes.data(), int64_t(bytes.size()));
    f.flush();
    GKV_CHECK(f.good(), tmp, ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(str_cat(path, ": cannot rename temporary file into place"));
  }
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string dict = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) dict += std::to_string(t.shape()[i]) + (t.shape().size() == 1 ? "," : (i + 1 < t.shape().size() ? ", " : ""));
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(dict.size() & 0xff);
  out += char((dict.size() >> 8) & 0xff);
  out += dict;
  out.append(reinterpret_cast<const char*>(t.raw()), t.nbytes());
  write_file_atomic(path, out);
}

}  // namespace ghostkv
