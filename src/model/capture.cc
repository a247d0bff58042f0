#include "ghostkv/model/capture.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "ghostkv/error.h"

namespace ghostkv {

static int64_t parse_int(const std::string& s, const std::string& ctx) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  GKV_CHECK(!s.empty() && end && *end == '\0', ctx, ": '", s, "' is not an integer");
  return v;
}

std::vector<int64_t> parse_query_positions(const std::string& spec, int64_t n) {
  std::vector<int64_t> out;
  if (spec == "all") {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
  } else if (spec.rfind("last:", 0) == 0 || spec.rfind("first:", 0) == 0) {
    const bool last = spec[0] == 'l';
    int64_t k = parse_int(spec.substr(spec.find(':') + 1), "queries");
    GKV_CHECK(k > 0 && k <= n, "queries: ", spec, " needs 1..", n, " positions (the text has ", n, " tokens)");
    for (int64_t i = 0; i < k; ++i) out.push_back(last ? n - k + i : i);
  } else {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      int64_t p = parse_int(item, "queries");
      GKV_CHECK(p >= 0 && p < n, "queries: position ", p, " outside [0, ", n, ")");
      out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  GKV_CHECK(!out.empty(), "queries: '", spec, "' selects no position");
  return out;
}

std::vector<int64_t> parse_layers(const std::string& spec, int64_t n_layer) {
  std::vector<int64_t> out;
  if (spec == "all" || spec.empty()) {
    for (int64_t l = 0; l < n_layer; ++l) out.push_back(l);
    return out;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t dash = item.find('-');
    int64_t a = parse_int(dash == std::string::npos ? item : item.substr(0, dash), "layers");
    int64_t b = dash == std::string::npos ? a : parse_int(item.substr(dash + 1), "layers");
    GKV_CHECK(a >= 0 && b < n_layer && a <= b, "layers: '", item, "' outside [0, ", n_layer, ")");
    for (int64_t l = a; l <= b; ++l) out.push_back(l);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {
class QuerySink : public CaptureSink {
 public:
  QuerySink(const ModelConfig& c, const std::vector<int64_t>& layers, const std::vector<int64_t>& qpos)
      : c_(c), qpos_(qpos), slot_(size_t(c.n_layer), -1) {
    for (size_t i = 0; i < layers.size(); ++i) slot_[size_t(layers[i])] = int64_t(i);
    q_.resize(layers.size());
    for (auto& q : q_) q.assign(size_t(int64_t(qpos.size()) * c.n_head_q * c.d_head), 0.0f);
  }
  void on_layer(int64_t layer, const float* q, const int64_t* pos, int64_t n, const float*, const float*, int64_t) override {
    const int64_t s = slot_[size_t(layer)];
    if (s < 0) return;
    const int64_t row = c_.n_head_q * c_.d_head;
    for (int64_t i = 0; i < n; ++i) {
      auto it = std::lower_bound(qpos_.begin(), qpos_.end(), pos[i]);
      if (it != qpos_.end() && *it == pos[i])
        std::memcpy(q_[size_t(s)].data() + (it - qpos_.begin()) * row, q + i * row, size_t(row) * sizeof(float));
    }
  }
  std::vector<std::vector<float>> q_;

 private:
  const ModelConfig& c_;
  std::vector<int64_t> qpos_;
  std::vector<int64_t> slot_;
};
}  // namespace

std::vector<AttnInputs> capture_layers(Engine& eng, const std::vector<int32_t>& ids, const std::vector<int64_t>& layers,
                                       const std::vector<int64_t>& query_pos) {
  const ModelConfig& c = eng.config();
  const int64_t n = int64_t(ids.size());
  for (int64_t p : query_pos) GKV_CHECK(p >= 0 && p < n, "capture: query position ", p, " outside [0, ", n, ")");
  eng.reset();
  QuerySink sink(c, layers, query_pos);
  eng.forward(ids.data(), n, nullptr, 0, nullptr, &sink);
  std::vector<AttnInputs> out;
  const int64_t nq = int64_t(query_pos.size()), kv_row = c.n_head_kv * c.d_head;
  for (size_t s = 0; s < layers.size(); ++s) {
    AttnInputs in;
    in.q = Tensor(DType::f32, {nq, c.n_head_q, c.d_head});
    std::memcpy(in.q.raw(), sink.q_[s].data(), in.q.nbytes());
    in.k = Tensor(DType::f32, {n, c.n_head_kv, c.d_head});
    in.v = Tensor(DType::f32, {n, c.n_head_kv, c.d_head});
    std::memcpy(in.k.raw(), eng.k_cache(layers[s]), size_t(n * kv_row) * sizeof(float));
    std::memcpy(in.v.raw(), eng.v_cache(layers[s]), size_t(n * kv_row) * sizeof(float));
    in.positions = Tensor(DType::i64, {nq});
    for (int64_t i = 0; i < nq; ++i) in.positions.data<int64_t>()[i] = query_pos[size_t(i)];
    in.scale = c.attn_scale();
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace ghostkv
