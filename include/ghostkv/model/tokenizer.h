#pragma once
// Tokenizers: text <-> token ids, reproducing the reference implementations id for id.
//   byte-level BPE  (GPT-2, Llama-3, Qwen2, SmolLM): added tokens split out, regex pre-split, bytes
//                   mapped to GPT-2's printable code points, merges lowest rank first (leftmost).
//   sentencepiece   (Llama-2, Mistral): "▁" prefix + space escape, merges by rank (tokenizer.json)
//   BPE             or by the merged piece's score (GGUF), <0xNN> byte fallback.
//   llama2c         run.c encode(): " " dummy prefix, code points else bytes (id = byte + 3), then
//                   the best-SCORING adjacent pair is merged (leftmost on ties) while any exists.
// Guarantee: exact. Ids equal HF tokenizers 0.21.1 (Tokenizer.encode(text, add_special_tokens=False);
// decode = its decode(ids, skip_special_tokens)) and llama2.c run.c's encode; tests/test_tokenizer.cc
// checks goldens from those peers. Character classes are Unicode 14.0, as the Oniguruma inside HF
// tokenizers. Text must be valid UTF-8 (Error otherwise; llama2c is byte-based like run.c).
// tokenizer.json support: model BPE; normalizers Prepend, Replace(String), NFC; pre-tokenizers
// ByteLevel, Split(known Regex, Isolated), Digits, Metaspace; decoders ByteLevel, Replace,
// ByteFallback, Fuse, Strip, Metaspace (Sequence of any). Anything else: Error naming it.
// Owners are move-only; encode/decode are const and thread-safe after construction.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ghostkv {

// Vocabulary facts that GGUF metadata carries next to the token list. -1 = absent.
struct TokenizerSpecials {
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  bool add_space_prefix = true;  // sentencepiece only: "▁" before each run of text
};

class Tokenizer {
 public:
  // GGUF token types (llama.cpp's llama_token_type). Control, user-defined and unknown tokens
  // written in the text are split out as single ids; byte tokens are "<0xNN>".
  enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

  using Specials = TokenizerSpecials;

  // HF tokenizers' tokenizer.json. BOS/EOS: tokenizer_config.json beside it when it names them
  // (null = none); else BOS from the post-processor template's leading special token; else the
  // conventional names (<s>, <|begin_of_text|>, <bos>, <|startoftext|> / </s>, <|end_of_text|>,
  // <eos>, <|endoftext|>). The template is not applied: encode adds BOS only when asked.
  static Tokenizer from_hf_json(const std::string& tokenizer_json_path);
  // llama2.c tokenizer.bin: int32 max_token_length, then n_vocab × (float32 score, int32 len,
  // bytes). Ids 0 unk, 1 BOS, 2 EOS, 3..258 the bytes 0x00..0xFF.
  static Tokenizer from_llama2c(const std::string& tokenizer_bin_path, int64_t n_vocab);
  // Byte-level BPE from a token list (GPT-2 byte-mapped strings, index = id) and merges in rank
  // order. pretokenizer: "gpt2", "llama3", "qwen2" or "smollm" (digits split singly, then gpt2).
  // token_types: empty (all normal; BOS/EOS then count as control) or one per token.
  static Tokenizer byte_level_bpe(std::vector<std::string> tokens,
                                  std::vector<std::pair<std::string, std::string>> merges,
                                  const std::string& pretokenizer, std::vector<int32_t> token_types = {},
                                  Specials specials = {});
  // Sentencepiece BPE from a token list ("▁" for spaces), per-token scores and token types:
  // merges the adjacent pair whose concatenation is a normal/user-defined token of highest score.
  static Tokenizer sentencepiece_bpe(std::vector<std::string> tokens, std::vector<float> scores,
                                     std::vector<int32_t> token_types, Specials specials = {});

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Special tokens written in the text ("<|endoftext|>", "<s>") become their single ids (llama2c:
  // never, as in run.c). add_bos prepends bos_id() (Error if there is none); nothing else is added.
  std::vector<int32_t> encode(const std::string& text, bool add_bos = false) const;
  // Text of ids through the tokenizer's decoder. Special tokens are rendered as their text unless
  // skip_special (HF: special added tokens; GGUF: control and unknown; llama2c: BOS and EOS).
  // Invalid UTF-8 from byte tokens becomes U+FFFD, as in HF. llama2c follows run.c's decode():
  // raw bytes, and the leading space of a piece after BOS (here also of the first piece) dropped.
  // Error on ids outside [0, n_vocab).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The vocabulary string of id, unprocessed ("Ġthe", "▁the", "<0x0A>"; "" for an id no token
  // has); Error if out of range.
  std::string token_text(int32_t id) const;
  // Id of an exact vocabulary string (added tokens included), -1 if absent.
  int32_t token_id(const std::string& text) const;

  int64_t n_vocab() const;  // max id + 1, added tokens included
  int32_t bos_id() const;   // -1 when absent
  int32_t eos_id() const;   // -1 when absent
  // "byte_level_bpe/gpt2" (or /llama3, /qwen2, /smollm), "sentencepiece_bpe/merges" (tokenizer.json),
  // "sentencepiece_bpe/scores" (GGUF-style vocab), "llama2c"; "bpe" for other tokenizer.json BPEs.
  std::string kind() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  const Impl& impl() const;
  std::unique_ptr<Impl> impl_;
};

// ---- building blocks, public so that tests can compare them with the peer piece by piece ----

// The pre-split regexes of byte-level BPE tokenizers, as hand-written matchers (no std::regex):
//   kGpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2   as kLlama3 with \p{N} (single digits) for \p{N}{1,3}
// Leftmost-first alternation with backtracking, as Oniguruma runs them.
enum class PretokenizerRegex { kGpt2, kLlama3, kQwen2 };
// The regex source string as it appears in tokenizer.json ("pattern": {"Regex": ...}).
const char* pretokenizer_regex_source(PretokenizerRegex re);
// Splits valid UTF-8 text into consecutive pieces (every byte lands in exactly one piece).
std::vector<std::string_view> split_pretokens(std::string_view text, PretokenizerRegex re);

// Strict UTF-8 (no overlongs, surrogates or code points beyond U+10FFFF): Error naming the offset.
std::u32string utf8_to_utf32(std::string_view text);
void append_utf8(std::string& out, char32_t c);

// Unicode 14.0 classes (src/model/unicode_tables.cc, generated by scripts/make_unicode_tables.py).
const char* unicode_version();
bool unicode_is_letter(char32_t c);      // \p{L}
bool unicode_is_number(char32_t c);      // \p{N}
bool unicode_is_whitespace(char32_t c);  // \s = White_Space
int unicode_combining_class(char32_t c);
int unicode_canonical_decomposition(char32_t c, char32_t out[2]);  // 0, 1 or 2 code points
char32_t unicode_primary_composite(char32_t first, char32_t second);  // 0 when none
// NFC of valid UTF-8 (Error otherwise), as HF tokenizers' NFC normalizer.
std::string unicode_nfc(std::string_view text);

}  // namespace ghostkv
