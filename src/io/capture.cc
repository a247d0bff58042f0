#include "ghostkv/io/capture.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ghostkv/io/npy.h"

namespace ghostkv {

namespace fs = std::filesystem;

std::string layer_dir(const std::string& dir, int64_t layer) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "layer_%02lld", static_cast<long long>(layer));
  return (fs::path(dir) / buf).string();
}

CaptureInfo read_capture_info(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  std::ifstream f(path);
  GKV_CHECK(f.good(), path, ": cannot open capture manifest (is '", dir, "' a capture directory?)");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw Error(str_cat(path, ": invalid JSON: ", e.what()));
  }
  CaptureInfo c;
  try {
    if (j.contains("format"))
      GKV_CHECK(j["format"] == "ghostkv-capture", path, ": format is ", j["format"].dump(), ", expected \"ghostkv-capture\"");
    if (j.contains("version")) GKV_CHECK(j["version"].get<int>() == 1, path, ": unsupported capture version ", j["version"].dump());
    c.model = j.value("model", "");
    c.text_sha256 = j.value("text_sha256", "");
    c.dtype = j.value("dtype", "float32");
    c.n_kv = j.value("n_kv", int64_t(0));
    c.n_head_q = j.value("n_head_q", int64_t(0));
    c.n_head_kv = j.value("n_head_kv", int64_t(0));
    c.d_head = j.value("d_head", int64_t(0));
    GKV_CHECK(j.contains("scale"), path, ": manifest lacks \"scale\" (the softmax scale σ)");
    c.scale = j["scale"].get<double>();
    if (j.contains("layers")) c.layers = j["layers"].get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(path, ": bad manifest field: ", e.what()));
  }
  return c;
}

AttnInputs read_capture_layer(const std::string& dir, int64_t layer) {
  CaptureInfo info = read_capture_info(dir);
  const std::string ld = layer_dir(dir, layer);
  GKV_CHECK(fs::is_directory(ld), ld, ": no such layer in the capture (manifest lists ", info.layers.size(), " layers)");
  AttnInputs in;
  in.name_q = ld + "/q.npy";
  in.name_k = ld + "/k.npy";
  in.name_v = ld + "/v.npy";
  in.name_positions = ld + "/positions.npy";
  in.q = read_npy(in.name_q);
  in.k = read_npy(in.name_k);
  in.v = read_npy(in.name_v);
  GKV_CHECK(fs::exists(in.name_positions), in.name_positions,
            ": missing (a capture must say which keys each query sees; without it every query would see all keys)");
  in.positions = read_npy(in.name_positions);
  in.scale = info.scale;
  validate_inputs(in);
  if (info.n_kv) GKV_CHECK(in.n_kv() == info.n_kv, in.name_k, ": n_kv = ", in.n_kv(), " but the manifest says ", info.n_kv);
  return in;
}

void write_capture_info(const std::string& dir, const CaptureInfo& c) {
  fs::create_directories(dir);
  nlohmann::json j = {{"format", "ghostkv-capture"}, {"version", 1}, {"model", c.model}, {"text_sha256", c.text_sha256},
                      {"n_kv", c.n_kv}, {"scale", c.scale}, {"n_head_q", c.n_head_q}, {"n_head_kv", c.n_head_kv},
                      {"d_head", c.d_head}, {"layers", c.layers}, {"dtype", c.dtype}};
  write_file_atomic((fs::path(dir) / "manifest.json").string(), j.dump(2) + "\n");
}

void write_capture_layer(const std::string& dir, int64_t layer, const AttnInputs& in) {
  const std::string ld = layer_dir(dir, layer);
  fs::create_directories(ld);
  write_npy(ld + "/q.npy", in.q);
  write_npy(ld + "/k.npy", in.k);
  write_npy(ld + "/v.npy", in.v);
  Tensor p(DType::i32, {in.n_q()});
  for (int64_t i = 0; i < in.n_q(); ++i) p.data<int32_t>()[i] = int32_t(in.pos(i));
  write_npy(ld + "/positions.npy", p);
}

}  // namespace ghostkv
