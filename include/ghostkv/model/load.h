#pragma once
// Opening a model and its tokenizer from a path, as the CLI and the harness do:
//   HF folder (config.json + safetensors)      → tokenizer: FOLDER/tokenizer.json
//   llama2.c .bin                               → tokenizer: --tokenizer, else tokenizer.bin / tok*.bin beside it
//   .gguf                                       → tokenizer: --tokenizer, else the one in its metadata
#include <string>

#include "ghostkv/model/tokenizer.h"
#include "ghostkv/model/weights.h"

namespace ghostkv {

Tokenizer load_tokenizer_for(const std::string& model_path, const std::string& tokenizer_path, int64_t n_vocab);
Tokenizer load_tokenizer(const std::string& tokenizer_path, int64_t n_vocab);  // by file type (.json, .bin, .gguf)

}  // namespace ghostkv
