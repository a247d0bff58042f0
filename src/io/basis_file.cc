#include "ghostkv/io/basis_file.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ghostkv/error.h"
#include "ghostkv/io/npy.h"

namespace ghostkv {

static constexpr char kMagic[8] = {'G', 'K', 'V', 'B', 'A', 'S', 'I', 'S'};
static constexpr uint32_t kVersion = 1;

const Basis& BasisSet::at(int64_t layer, int64_t head) const {
  auto it = std::find(layers.begin(), layers.end(), layer);
  GKV_CHECK(it != layers.end(), "basis file (", model, "): no layer ", layer, " (has ", layers.size(), " layers)");
  GKV_CHECK(head >= 0 && head < n_head_kv, "basis file (", model, "): KV head ", head, " outside [0, ", n_head_kv, ")");
  return bases[size_t((it - layers.begin()) * n_head_kv + head)];
}

void write_basis_file(const std::string& path, const BasisSet& s) {
  GKV_CHECK(int64_t(s.bases.size()) == int64_t(s.layers.size()) * s.n_head_kv, "basis file: ", s.bases.size(),
            " bases for ", s.layers.size(), " layers x ", s.n_head_kv, " heads");
  nlohmann::json h = {{"model", s.model}, {"text_sha256", s.text_sha256}, {"n_layer", s.n_layer},
                      {"n_head_kv", s.n_head_kv}, {"d_head", s.d_head}, {"fit_tokens", s.fit_tokens},
                      {"layers", s.layers}, {"kind", s.bases.empty() ? "" : basis_kind_name(s.bases[0].kind)}};
  const std::string hs = h.dump();
  std::string out(kMagic, 8);
  auto put = [&](const void* p, size_t n) { out.append(reinterpret_cast<const char*>(p), n); };
  put(&kVersion, 4);
  const uint64_t hl = hs.size();
  put(&hl, 8);
  out += hs;
  const int64_t d = s.d_head;
  for (const Basis& b : s.bases) {
    GKV_CHECK(b.d_head == d && int64_t(b.vecs.size()) == d * d && int64_t(b.mu.size()) == d &&
                  int64_t(b.variance.size()) == d,
              "basis file: a basis does not have d_head = ", d);
    put(b.vecs.data(), b.vecs.size() * 4);
    put(b.mu.data(), b.mu.size() * 4);
    put(b.variance.data(), b.variance.size() * 8);
  }
  write_file_atomic(path, out);
}

BasisSet read_basis_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open basis file");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string data = ss.str();
  GKV_CHECK(data.size() >= 20 && std::memcmp(data.data(), kMagic, 8) == 0, path,
            ": not a GhostKV basis file (bad magic; write one with `ghostkv calibrate`)");
  uint32_t ver;
  uint64_t hl;
  std::memcpy(&ver, data.data() + 8, 4);
  std::memcpy(&hl, data.data() + 12, 8);
  GKV_CHECK(ver == kVersion, path, ": basis file version ", ver, ", this build reads version ", kVersion);
  GKV_CHECK(hl <= data.size() - 20, path, ": header length ", hl, " beyond the file size ", data.size());
  BasisSet s;
  std::string kind;
  try {
    nlohmann::json h = nlohmann::json::parse(data.substr(20, hl));
    s.model = h.at("model");
    s.text_sha256 = h.value("text_sha256", "");
    s.n_layer = h.at("n_layer");
    s.n_head_kv = h.at("n_head_kv");
    s.d_head = h.at("d_head");
    s.fit_tokens = h.value("fit_tokens", int64_t(0));
    s.layers = h.at("layers").get<std::vector<int64_t>>();
    kind = h.value("kind", "pca");
  } catch (const std::exception& e) {
    throw Error(str_cat(path, ": bad basis file header: ", e.what()));
  }
  const int64_t d = s.d_head;
  GKV_CHECK(d > 0 && d <= 4096 && s.n_head_kv > 0 && s.n_head_kv <= 4096 && s.layers.size() <= 4096, path,
            ": implausible header (d_head ", d, ", n_head_kv ", s.n_head_kv, ", ", s.layers.size(), " layers)");
  const uint64_t per = uint64_t(d * d * 4 + d * 4 + d * 8);
  const uint64_t n = s.layers.size() * uint64_t(s.n_head_kv);
  GKV_CHECK(data.size() == 20 + hl + n * per, path, ": payload is ", data.size() - 20 - hl, " bytes, the header needs ",
            n * per, " (", n, " bases of d_head ", d, ")");
  const char* p = data.data() + 20 + hl;
  for (uint64_t i = 0; i < n; ++i) {
    Basis b;
    b.kind = parse_basis_kind(kind);
    b.d_head = d;
    b.rank = d;
    b.vecs.resize(size_t(d * d));
    b.mu.resize(size_t(d));
    b.variance.resize(size_t(d));
    std::memcpy(b.vecs.data(), p, size_t(d * d * 4));
    p += d * d * 4;
    std::memcpy(b.mu.data(), p, size_t(d * 4));
    p += d * 4;
    std::memcpy(b.variance.data(), p, size_t(d * 8));
    p += d * 8;
    s.bases.push_back(std::move(b));
  }
  return s;
}

}  // namespace ghostkv
