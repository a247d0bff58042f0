// Tokenizers built from GGUF metadata against llama.cpp's own test vectors
// (../shared/tokenizers/llamacpp-vocab: vocabulary-only GGUF files, .inp strings separated by
// "\n__ggml_vocab_test__\n", .out = llama.cpp's ids, one line per string, no BOS added, as its
// test-tokenizer-0 runs them). Every case must match id for id; decode must give the text back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ghostkv/error.h"
#include "ghostkv/io/gguf.h"
#include "ghostkv/model/gguf_model.h"
#include "ghostkv/model/load.h"

using namespace ghostkv;
namespace fs = std::filesystem;

namespace {

const std::string kShared = std::string(GHOSTKV_SOURCE_DIR) + "/../shared";
const std::string kVocab = kShared + "/tokenizers/llamacpp-vocab";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(str_cat(path, ": cannot open"));
  return std::string(std::istreambuf_iterator<char>(f), {});
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& stem) {
  const std::string inp = slurp(stem + ".inp"), out = slurp(stem + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t k; (k = inp.find(sep, pos)) != std::string::npos; pos = k + sep.size()) texts.push_back(inp.substr(pos, k - pos));
  std::vector<std::string> lines;
  std::istringstream os(out);
  for (std::string line; std::getline(os, line);) lines.push_back(line);
  if (texts.size() != lines.size())
    throw Error(str_cat(stem, ": ", texts.size(), " test strings but ", lines.size(), " id lines"));
  std::vector<Case> cases;
  for (size_t i = 0; i < texts.size(); ++i) {
    Case c{texts[i], {}};
    std::istringstream ls(lines[i]);
    for (int32_t id; ls >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

void check_vocab(const std::string& name, const std::string& expect_kind) {
  if (!fs::exists(kShared)) GTEST_SKIP() << kShared << " does not exist: llama.cpp vocab tests skipped";
  const std::string stem = kVocab + "/" + name + ".gguf";
  const Tokenizer tok = load_tokenizer(stem, 0);
  EXPECT_EQ(tok.kind(), expect_kind);
  const std::vector<Case> cases = read_cases(stem);
  ASSERT_GE(cases.size(), 40u);
  int n_pass = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<int32_t> got = tok.encode(cases[i].text);
    if (got == cases[i].ids) ++n_pass;
    else {
      std::ostringstream g, e;
      for (int32_t x : got) g << ' ' << x;
      for (int32_t x : cases[i].ids) e << ' ' << x;
      ADD_FAILURE() << name << " case " << i << " '" << cases[i].text << "'\n  got     " << g.str() << "\n  llama.cpp"
                    << e.str();
    }
  }
  std::printf("[tokenizer] %s: %d / %zu llama.cpp cases identical\n", name.c_str(), n_pass, cases.size());
}

}  // namespace

TEST(TokenizerGguf, Gpt2MatchesLlamaCpp) { check_vocab("ggml-vocab-gpt-2", "byte_level_bpe/gpt2"); }

TEST(TokenizerGguf, LlamaSpmMatchesLlamaCpp) { check_vocab("ggml-vocab-llama-spm", "sentencepiece_bpe/scores"); }

TEST(TokenizerGguf, SpecialsFromMetadata) {
  if (!fs::exists(kShared)) GTEST_SKIP() << kShared << " does not exist";
  const GgufFile f(kVocab + "/ggml-vocab-llama-spm.gguf");
  const Tokenizer tok = tokenizer_from_gguf(f);
  EXPECT_EQ(tok.n_vocab(), 32000);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.token_text(1), "<s>");
  // The model loader refuses a vocabulary-only file with a clear error (no tensors).
  EXPECT_THROW(load_model(kVocab + "/ggml-vocab-llama-spm.gguf"), Error);
  const Tokenizer g = load_tokenizer(kVocab + "/ggml-vocab-gpt-2.gguf", 0);
  EXPECT_EQ(g.n_vocab(), 50257);
  EXPECT_EQ(g.eos_id(), 50256);
  EXPECT_EQ(g.decode(g.encode("Hello world, 'tis 3.14!")), "Hello world, 'tis 3.14!");
}
