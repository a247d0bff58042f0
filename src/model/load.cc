#include "ghostkv/model/load.h"

#include <filesystem>

#include "ghostkv/error.h"
#include "ghostkv/model/gguf_model.h"

namespace ghostkv {

namespace fs = std::filesystem;

Tokenizer load_tokenizer(const std::string& path, int64_t n_vocab) {
  GKV_CHECK(fs::exists(path), path, ": tokenizer file not found");
  if (fs::path(path).extension() == ".json") return Tokenizer::from_hf_json(path);
  if (fs::path(path).extension() == ".bin") return Tokenizer::from_llama2c(path, n_vocab);
  if (fs::path(path).extension() == ".gguf") return load_gguf_tokenizer(path);
  throw Error(str_cat(path, ": unknown tokenizer format (expected tokenizer.json, a llama2.c tokenizer .bin or a .gguf)"));
}

Tokenizer load_tokenizer_for(const std::string& model_path, const std::string& tokenizer_path, int64_t n_vocab) {
  if (!tokenizer_path.empty()) return load_tokenizer(tokenizer_path, n_vocab);
  fs::path p(model_path);
  if (fs::is_directory(p)) {
    GKV_CHECK(fs::exists(p / "tokenizer.json"), model_path, ": no tokenizer.json in the model folder (give --tokenizer)");
    return Tokenizer::from_hf_json((p / "tokenizer.json").string());
  }
  if (p.extension() == ".gguf") return load_gguf_tokenizer(model_path);  // the vocabulary is in its metadata
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (fs::exists(dir / "tokenizer.bin")) return Tokenizer::from_llama2c((dir / "tokenizer.bin").string(), n_vocab);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("tok", 0) == 0 && e.path().extension() == ".bin") return Tokenizer::from_llama2c(e.path().string(), n_vocab);
  }
  throw Error(str_cat(model_path, ": no tokenizer found beside the model (give --tokenizer PATH)"));
}

}  // namespace ghostkv
