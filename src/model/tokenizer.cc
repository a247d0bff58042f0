// Tokenizer: the encode pipeline (added tokens -> normalizer -> pre-tokenizer -> model) and the
// decode pipeline (ids -> token strings -> decoder chain) as HF tokenizers 0.21.1 runs them; the
// tokenizer.json reader; llama2.c's run.c encode/decode; the GGUF-style constructors.
// Pre-split regexes, UTF-8 and NFC live in tokenizer_pretokenize.cc.
#include "ghostkv/model/tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "ghostkv/error.h"

namespace ghostkv {

namespace {

using nlohmann::json;

const std::string kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁", sentencepiece's space

// ---- UTF-8 ----

size_t utf8_char_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

// The code point ending at byte `end` of valid UTF-8 `s` (end > 0); *start receives its offset.
char32_t utf8_char_before(std::string_view s, size_t end, size_t* start) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  *start = b;
  std::u32string c = utf8_to_utf32(s.substr(b, end - b));
  return c.empty() ? 0 : c[0];
}

char32_t utf8_char_at(std::string_view s, size_t i) {
  size_t len = std::min(utf8_char_len(static_cast<unsigned char>(s[i])), s.size() - i);
  std::u32string c = utf8_to_utf32(s.substr(i, len));
  return c.empty() ? 0 : c[0];
}

// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char b = p[i];
    if (b < 0x80) {
      out.push_back(char(b));
      ++i;
      continue;
    }
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    }
    size_t k = 1;
    for (; need > 0 && k <= need && i + k < n; ++k) {
      unsigned char c = p[i + k];
      if (!(k == 1 ? (c >= lo && c <= hi) : (c & 0xC0) == 0x80)) break;
    }
    if (need > 0 && k == need + 1) {
      out.append(s.substr(i, k));
    } else {
      out.append("\xEF\xBF\xBD");  // the valid prefix (at least the lead byte) is one replacement
    }
    i += k;
  }
  return out;
}

int hex_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// "<0xNN>": HF's byte_fallback looks bytes up as format!("<{:#04X}>") (upper-case digits only);
// its ByteFallback decoder and GGUF byte tokens accept either case.
int parse_byte_token(std::string_view t, bool upper_only = false) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  if (upper_only && (std::islower(static_cast<unsigned char>(t[3])) || std::islower(static_cast<unsigned char>(t[4]))))
    return -1;
  int h = hex_digit(t[3]), l = hex_digit(t[4]);
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order.
struct ByteMap {
  std::array<std::string, 256> byte_to_utf8;
  std::vector<int16_t> unicode_to_byte;  // [324], -1 outside the image
};

const ByteMap& byte_map() {
  static const ByteMap m = [] {
    ByteMap b;
    b.unicode_to_byte.assign(324, -1);
    int extra = 0;
    for (int x = 0; x < 256; ++x) {
      bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      char32_t cp = printable ? char32_t(x) : char32_t(256 + extra++);
      append_utf8(b.byte_to_utf8[x], cp);
      b.unicode_to_byte[cp] = int16_t(x);
    }
    return b;
  }();
  return m;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  size_t i = 0;
  for (size_t k; (k = s.find(from, i)) != std::string::npos; i = k + from.size()) out.append(s, i, k - i).append(to);
  out.append(s, i, std::string::npos);
  s = std::move(out);
}

bool is_alnum(char32_t c) { return unicode_is_letter(c) || unicode_is_number(c); }

// A string quoted for an error message: printable ASCII as is, other bytes as \xNN (arbitrary
// vocabulary bytes must not break the message).
std::string quote_bytes(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(char(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out + (s.size() > 200 ? "\"..." : "\"");
}

uint64_t merge_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// ---- pipeline pieces ----

struct AddedToken {
  std::string content;      // what is matched (normalized tokens: the normalized content)
  std::string content_raw;  // as written in the vocabulary
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

struct Segment {
  std::string text;
  int32_t id;     // >= 0: an added token
  size_t offset;  // byte offset in the string that was split
};

struct Piece {
  std::string text;
  bool at_origin;  // starts at offset 0 of the original text (Metaspace prepend_scheme "first")
};

enum class NormKind { kPrepend, kReplace, kNfc };
struct NormStep {
  NormKind kind;
  std::string a, b;
};

enum class PrependScheme { kAlways, kFirst, kNever };
enum class PreKind { kByteLevel, kSplit, kDigits, kMetaspace };
struct PreStep {
  PreKind kind;
  bool add_prefix_space = false, use_regex = false;       // ByteLevel
  PretokenizerRegex regex = PretokenizerRegex::kGpt2;      // Split
  bool individual_digits = false;                         // Digits
  std::string replacement;                                // Metaspace
  PrependScheme prepend_scheme = PrependScheme::kAlways;  // Metaspace
  bool split = true;                                      // Metaspace
};

enum class DecKind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
struct DecStep {
  explicit DecStep(DecKind k) : kind(k) {}
  DecKind kind;
  std::string a, b;  // Replace: pattern, content; Metaspace: replacement
  char32_t strip_char = ' ';
  int64_t start = 0, stop = 0;
  PrependScheme prepend_scheme = PrependScheme::kAlways;
};

enum class ModelKind { kBpeRank, kBpeScore, kLlama2c };

struct Sym {
  int32_t id;
  int32_t prev, next;
  bool alive;
};

}  // namespace

struct Tokenizer::Impl {
  std::string kind, source;
  std::vector<std::string> tokens;  // [n_vocab] id -> vocabulary string ("" for unassigned ids)
  std::vector<uint8_t> present;     // [n_vocab] 1 when the id is assigned
  std::vector<uint8_t> special;     // [n_vocab] dropped by decode(skip_special)
  std::unordered_map<std::string, int32_t> model_vocab;  // the model's vocabulary
  std::vector<AddedToken> added_raw, added_norm;         // split out before / after normalization
  std::vector<std::vector<int32_t>> raw_by_first, norm_by_first;  // [256] by first byte, longest first
  std::vector<NormStep> normalizers;
  std::vector<PreStep> pretokenizers;
  ModelKind model = ModelKind::kBpeRank;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a, b) -> (rank, merged id)
  std::vector<float> scores;        // [n_vocab] score models
  std::vector<uint8_t> mergeable;   // [n_vocab] score models: may be the result of a merge
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  int32_t unk_id = -1, space_id = -1;
  std::array<int32_t, 256> byte_ids{};  // <0xNN> token of each byte, -1 when absent
  bool has_decoder = false;
  std::vector<DecStep> decoders;
  int32_t bos = -1, eos = -1;

  // ---- construction ----

  void finish_vocab() {
    present.resize(tokens.size(), 0);
    special.resize(tokens.size(), 0);
    byte_ids.fill(-1);
    for (const auto& [text, id] : model_vocab) {
      int b = parse_byte_token(text, true);
      if (b >= 0) byte_ids[b] = id;
    }
    auto index = [](const std::vector<AddedToken>& added, std::vector<std::vector<int32_t>>& by_first) {
      by_first.assign(256, {});
      for (size_t k = 0; k < added.size(); ++k)
        if (!added[k].content.empty()) by_first[static_cast<unsigned char>(added[k].content[0])].push_back(int32_t(k));
      for (auto& v : by_first)
        std::stable_sort(v.begin(), v.end(),
                         [&](int32_t a, int32_t b) { return added[a].content.size() > added[b].content.size(); });
    };
    index(added_raw, raw_by_first);
    index(added_norm, norm_by_first);
  }

  int32_t lookup(const std::string& text) const {
    for (const auto& a : added_raw)
      if (a.content_raw == text) return a.id;
    for (const auto& a : added_norm)
      if (a.content_raw == text) return a.id;
    auto it = model_vocab.find(text);
    return it == model_vocab.end() ? -1 : it->second;
  }

  // ---- added tokens: leftmost-longest, as HF's Aho-Corasick (MatchKind::LeftmostLongest) ----

  std::vector<Segment> split_added(const std::string& text, const std::vector<AddedToken>& added,
                                   const std::vector<std::vector<int32_t>>& by_first) const {
    std::vector<Segment> out;
    if (added.empty() || text.empty()) {
      out.push_back({text, -1, 0});
      return out;
    }
    size_t start_offset = 0;
    for (size_t pos = 0; pos < text.size();) {
      const AddedToken* hit = nullptr;
      for (int32_t k : by_first[static_cast<unsigned char>(text[pos])]) {
        if (text.compare(pos, added[k].content.size(), added[k].content) == 0) {
          hit = &added[k];
          break;
        }
      }
      if (!hit) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + hit->content.size();
      pos = stop;  // the search resumes after this match whatever is decided below
      if (hit->single_word) {
        size_t b;
        bool start_space = start == 0 || !is_alnum(utf8_char_before(text, start, &b));
        bool stop_space = stop == text.size() || !is_alnum(utf8_char_at(text, stop));
        if (!start_space || !stop_space) continue;
      }
      if (hit->lstrip) {
        size_t s = start, b;
        while (s > 0 && unicode_is_whitespace(utf8_char_before(text, s, &b))) s = b;
        start = std::max(s, start_offset);
      }
      if (hit->rstrip) {
        while (stop < text.size() && unicode_is_whitespace(utf8_char_at(text, stop)))
          stop += utf8_char_len(static_cast<unsigned char>(text[stop]));
      }
      if (start_offset < start) out.push_back({text.substr(start_offset, start - start_offset), -1, start_offset});
      out.push_back({text.substr(start, stop - start), hit->id, start});
      start_offset = stop;
    }
    if (start_offset < text.size()) out.push_back({text.substr(start_offset), -1, start_offset});
    return out;
  }

  // ---- normalizer, pre-tokenizer ----

  std::string normalize(std::string s) const {
    for (const NormStep& n : normalizers) {
      if (n.kind == NormKind::kPrepend) {
        if (!s.empty()) s = n.a + s;
      } else if (n.kind == NormKind::kReplace) {
        replace_all(s, n.a, n.b);
      } else {
        s = unicode_nfc(s);
      }
    }
    return s;
  }

  std::vector<Piece> pretokenize(std::string s, bool at_origin) const {
    std::vector<Piece> pieces;
    pieces.push_back({std::move(s), at_origin});
    for (const PreStep& p : pretokenizers) {
      std::vector<Piece> next;
      for (Piece& piece : pieces) {
        bool first = true;
        auto emit = [&](std::string_view part) {
          if (part.empty()) return;
          next.push_back({std::string(part), piece.at_origin && first});
          first = false;
        };
        switch (p.kind) {
          case PreKind::kByteLevel: {
            std::string t = std::move(piece.text);
            if (p.add_prefix_space && (t.empty() || t[0] != ' ')) t.insert(0, " ");
            std::vector<std::string_view> parts;
            if (p.use_regex) {
              parts = split_pretokens(t, PretokenizerRegex::kGpt2);
            } else {
              parts.push_back(t);
            }
            const ByteMap& bm = byte_map();
            for (std::string_view part : parts) {
              std::string mapped;
              mapped.reserve(part.size() * 2);
              for (unsigned char b : part) mapped += bm.byte_to_utf8[b];
              emit(mapped);
            }
            break;
          }
          case PreKind::kSplit:
            for (std::string_view part : split_pretokens(piece.text, p.regex)) emit(part);
            break;
          case PreKind::kDigits: {
            // digits isolated (individual) or in runs (contiguous); everything else in runs
            std::string_view t = piece.text;
            size_t run_start = 0;
            int run_kind = -1;  // 0: non-digits, 1: digits
            for (size_t i = 0; i < t.size();) {
              size_t len = utf8_char_len(static_cast<unsigned char>(t[i]));
              int digit = unicode_is_number(utf8_char_at(t, i)) ? 1 : 0;
              if (digit && p.individual_digits) {
                emit(t.substr(run_start, i - run_start));
                emit(t.substr(i, len));
                run_start = i + len;
                run_kind = -1;
              } else {
                if (run_kind != -1 && run_kind != digit) {
                  emit(t.substr(run_start, i - run_start));
                  run_start = i;
                }
                run_kind = digit;
              }
              i += len;
            }
            emit(t.substr(run_start));
            break;
          }
          case PreKind::kMetaspace: {
            std::string t = std::move(piece.text);
            replace_all(t, " ", p.replacement);
            bool starts = t.compare(0, p.replacement.size(), p.replacement) == 0;
            if (!starts && (p.prepend_scheme == PrependScheme::kAlways ||
                            (p.prepend_scheme == PrependScheme::kFirst && piece.at_origin)))
              t.insert(0, p.replacement);
            if (!p.split) {
              emit(t);
              break;
            }
            // MergedWithNext: every replacement character begins a new piece
            size_t b = 0;
            for (size_t k = t.find(p.replacement, 1); k != std::string::npos; k = t.find(p.replacement, k + 1)) {
              emit(std::string_view(t).substr(b, k - b));
              b = k;
            }
            emit(std::string_view(t).substr(b));
            break;
          }
        }
      }
      pieces = std::move(next);
    }
    return pieces;
  }

  // ---- models ----

  // HF tokenizers' BPE::merge_word + Word::merge_all: the word's characters (or their <0xNN>
  // bytes, or unk), then the pair of lowest merge rank, leftmost on ties, until none is a merge.
  void bpe_rank(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      auto it = model_vocab.find(word);
      if (it != model_vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<Sym> syms;
    syms.reserve(word.size());
    auto add = [&](int32_t id) { syms.push_back({id, int32_t(syms.size()) - 1, -1, true}); };
    int32_t pending_unk = -1;  // one pending unk, fused with the next unk when fuse_unk
    for (size_t i = 0; i < word.size();) {
      size_t len = std::min(utf8_char_len(static_cast<unsigned char>(word[i])), word.size() - i);
      std::string ch = word.substr(i, len);
      i += len;
      auto it = model_vocab.find(ch);
      if (it != model_vocab.end()) {
        if (pending_unk >= 0) add(pending_unk), pending_unk = -1;
        add(it->second);
        continue;
      }
      if (byte_fallback &&
          std::all_of(ch.begin(), ch.end(), [&](char b) { return byte_ids[static_cast<unsigned char>(b)] >= 0; })) {
        for (unsigned char b : ch) add(byte_ids[b]);  // as HF: a pending unk is not flushed here
        continue;
      }
      if (unk_id >= 0) {
        if (pending_unk >= 0 && !fuse_unk) add(pending_unk);
        pending_unk = unk_id;
      }
      // no unk token: HF drops the character
    }
    if (pending_unk >= 0) add(pending_unk);
    for (size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = int32_t(k + 1);

    struct Cand {
      int32_t rank, pos, new_id;
    };
    auto worse = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
    std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> q(worse);
    auto push = [&](int32_t pos) {
      const Sym& s = syms[pos];
      if (s.next < 0) return;
      auto it = merges.find(merge_key(s.id, syms[s.next].id));
      if (it != merges.end()) q.push({it->second.first, pos, it->second.second});
    };
    for (size_t k = 0; k + 1 < syms.size(); ++k) push(int32_t(k));
    while (!q.empty()) {
      Cand top = q.top();
      q.pop();
      Sym& s = syms[top.pos];
      if (!s.alive || s.next < 0) continue;
      Sym& r = syms[s.next];
      auto it = merges.find(merge_key(s.id, r.id));
      if (it == merges.end() || it->second.second != top.new_id) continue;  // stale entry
      s.id = top.new_id;
      r.alive = false;
      s.next = r.next;
      if (s.next >= 0) syms[s.next].prev = top.pos;
      if (s.prev >= 0) push(s.prev);
      push(top.pos);
    }
    for (const Sym& s : syms)
      if (s.alive) out.push_back(s.id);
  }

  // Score-ordered BPE. Symbols start as the characters of the word (sentencepiece; id -1 when
  // outside the vocabulary) or as run.c's first-pass ids (llama2c). The adjacent pair whose
  // concatenated text is a mergeable token of highest score is merged, leftmost on ties
  // (llama.cpp's llm_tokenizer_spm; run.c rescans for the same choice), until none is.
  void bpe_score(std::vector<std::string> texts, std::vector<int32_t> ids, std::vector<int32_t>& out) const {
    const int32_t n = int32_t(texts.size());
    if (n == 0) return;
    std::vector<Sym> syms(n);
    for (int32_t k = 0; k < n; ++k) syms[k] = {ids[k], k - 1, k + 1 < n ? k + 1 : -1, true};
    struct Cand {
      float score;
      int32_t left, right, size, id;
    };
    auto worse = [](const Cand& a, const Cand& b) { return a.score != b.score ? a.score < b.score : a.left > b.left; };
    std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> q(worse);
    auto push = [&](int32_t left) {
      if (left < 0 || syms[left].next < 0) return;
      int32_t right = syms[left].next;
      std::string t = texts[left] + texts[right];
      auto it = model_vocab.find(t);
      if (it == model_vocab.end() || !mergeable[it->second]) return;
      float sc = scores[it->second];
      // run.c searches from best_score = -1e10 with a strict '>': such scores never merge there
      if (model == ModelKind::kLlama2c && !(sc > -1e10f)) return;
      q.push({sc, left, right, int32_t(t.size()), it->second});
    };
    for (int32_t k = 0; k + 1 < n; ++k) push(k);
    while (!q.empty()) {
      Cand c = q.top();
      q.pop();
      Sym& l = syms[c.left];
      Sym& r = syms[c.right];
      if (!l.alive || !r.alive || l.next != c.right ||
          int32_t(texts[c.left].size() + texts[c.right].size()) != c.size)
        continue;  // stale: one side has changed since the entry was pushed
      texts[c.left] += texts[c.right];
      texts[c.right].clear();
      l.id = c.id;
      r.alive = false;
      l.next = r.next;
      if (l.next >= 0) syms[l.next].prev = c.left;
      push(l.prev);
      push(c.left);
    }
    for (int32_t k = 0; k < n; ++k) {
      if (!syms[k].alive) continue;
      if (syms[k].id >= 0) {
        out.push_back(syms[k].id);
        continue;
      }
      for (unsigned char b : texts[k]) {  // a character outside the vocabulary: its bytes, else unk
        if (byte_ids[b] >= 0) {
          out.push_back(byte_ids[b]);
          continue;
        }
        GKV_CHECK(unk_id >= 0, "tokenizer (", kind, ", ", source, "): character ", quote_bytes(texts[k]),
                  " is outside the vocabulary, which has no byte token <0x", std::hex, int(b), std::dec,
                  "> and no unk token");
        out.push_back(unk_id);
        break;
      }
    }
  }

  void encode_word(const std::string& word, std::vector<int32_t>& out) const {
    if (model == ModelKind::kBpeRank) {
      bpe_rank(word, out);
      return;
    }
    std::vector<std::string> texts;
    std::vector<int32_t> ids;
    for (size_t i = 0; i < word.size();) {
      size_t len = std::min(utf8_char_len(static_cast<unsigned char>(word[i])), word.size() - i);
      texts.push_back(word.substr(i, len));
      auto it = model_vocab.find(texts.back());
      ids.push_back(it == model_vocab.end() ? -1 : it->second);
      i += len;
    }
    bpe_score(std::move(texts), std::move(ids), out);
  }

  // run.c encode(): a " " token when the text is non-empty, then each code point (grouped by the
  // UTF-8 continuation-byte rule, at most 4 bytes) as its token, else its bytes as ids byte + 3,
  // then score-ordered merges. Deviation: run.c reads a C string and stops at a NUL byte; here a
  // NUL is the byte token 3.
  void encode_llama2c(const std::string& text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::vector<std::string> texts{tokens[space_id]};
    std::vector<int32_t> ids{space_id};
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if ((c & 0xC0) != 0x80) buf.clear();
      buf.push_back(char(c));
      bool next_cont = i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
      if (next_cont && buf.size() < 4) continue;
      auto it = model_vocab.find(buf);
      if (it != model_vocab.end()) {
        texts.push_back(tokens[it->second]);
        ids.push_back(it->second);
      } else {
        for (unsigned char b : buf) {
          texts.push_back(tokens[b + 3]);
          ids.push_back(b + 3);
        }
      }
      buf.clear();
    }
    bpe_score(std::move(texts), std::move(ids), out);
  }

  std::vector<int32_t> encode(const std::string& text, bool add_bos) const {
    std::vector<int32_t> out;
    if (add_bos) {
      GKV_CHECK(bos >= 0, "tokenizer (", kind, ", ", source, "): encode(add_bos = true), but there is no BOS token");
      out.push_back(bos);
    }
    if (model == ModelKind::kLlama2c) {
      encode_llama2c(text, out);
      return out;
    }
    (void)utf8_to_utf32(text);  // validates, naming the offending offset
    for (Segment& seg : split_added(text, added_raw, raw_by_first)) {
      if (seg.id >= 0) {
        out.push_back(seg.id);
        continue;
      }
      if (seg.text.empty()) continue;
      std::string norm = normalize(std::move(seg.text));
      for (Segment& sub : split_added(norm, added_norm, norm_by_first)) {
        if (sub.id >= 0) {
          out.push_back(sub.id);
          continue;
        }
        if (sub.text.empty()) continue;
        for (const Piece& p : pretokenize(std::move(sub.text), seg.offset == 0 && sub.offset == 0))
          encode_word(p.text, out);
      }
    }
    return out;
  }

  // ---- decode ----

  std::string decode_llama2c(const std::vector<int32_t>& ids, bool skip_special) const {
    // run.c decode(): a piece loses its leading space after BOS (here also as the first piece, so
    // that decode(encode(x)) == x); a "<0xNN>" piece is that byte (sscanf "<0x%02hhX>").
    std::string out;
    int32_t prev = -1;
    for (size_t k = 0; k < ids.size(); ++k) {
      int32_t id = ids[k];
      if (skip_special && special[id]) {
        prev = id;
        continue;
      }
      std::string_view piece = tokens[id];
      if ((prev == bos || k == 0) && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
      int h = piece.size() >= 4 && piece.substr(0, 3) == "<0x" ? hex_digit(piece[3]) : -1;
      if (h >= 0) {
        int l = piece.size() > 4 ? hex_digit(piece[4]) : -1;
        out.push_back(char(l >= 0 ? h * 16 + l : h));
      } else {
        out.append(piece);
      }
      prev = id;
    }
    return out;
  }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const {
    const int64_t n = int64_t(tokens.size());
    for (size_t k = 0; k < ids.size(); ++k)
      GKV_CHECK(ids[k] >= 0 && ids[k] < n, "tokenizer (", kind, ", ", source, "): decode: id ", ids[k],
                " at position ", k, " is outside [0, n_vocab = ", n, ")");
    if (model == ModelKind::kLlama2c) return decode_llama2c(ids, skip_special);
    std::vector<std::string> toks;
    toks.reserve(ids.size());
    for (int32_t id : ids)
      if (present[id] && !(skip_special && special[id])) toks.push_back(tokens[id]);
    if (!has_decoder) {  // HF: the tokens joined by spaces
      std::string out;
      for (size_t k = 0; k < toks.size(); ++k) out += (k ? " " : "") + toks[k];
      return out;
    }
    for (const DecStep& d : decoders) apply_decoder(d, toks);
    std::string out;
    for (const std::string& t : toks) out += t;
    return out;
  }

  static void apply_decoder(const DecStep& d, std::vector<std::string>& toks) {
    switch (d.kind) {
      case DecKind::kByteLevel: {
        // per token: its characters through the inverse byte map, or its raw bytes when a
        // character is outside the map; then lossy UTF-8 over the whole
        const ByteMap& bm = byte_map();
        std::string bytes;
        for (const std::string& t : toks) {
          std::string mapped;
          std::u32string cps;
          bool ok = true;
          try {
            cps = utf8_to_utf32(t);
          } catch (const Error&) {
            ok = false;  // a vocabulary string that is not UTF-8 (GGUF): its raw bytes
          }
          for (char32_t c : cps) {
            if (c >= bm.unicode_to_byte.size() || bm.unicode_to_byte[c] < 0) {
              ok = false;
              break;
            }
            mapped.push_back(char(bm.unicode_to_byte[c]));
          }
          bytes += ok ? mapped : t;
        }
        toks.assign(1, utf8_lossy(bytes));
        break;
      }
      case DecKind::kReplace:
        for (std::string& t : toks) replace_all(t, d.a, d.b);
        break;
      case DecKind::kByteFallback: {
        // runs of <0xNN> tokens become their bytes when valid UTF-8, else one U+FFFD per token
        std::vector<std::string> next;
        std::string pending;
        size_t n_pending = 0;
        auto flush = [&] {
          if (n_pending == 0) return;
          if (utf8_lossy(pending) == pending) {
            next.push_back(pending);
          } else {
            for (size_t k = 0; k < n_pending; ++k) next.push_back("\xEF\xBF\xBD");
          }
          pending.clear();
          n_pending = 0;
        };
        for (std::string& t : toks) {
          int b = parse_byte_token(t);
          if (b >= 0) {
            pending.push_back(char(b));
            ++n_pending;
          } else {
            flush();
            next.push_back(std::move(t));
          }
        }
        flush();
        toks = std::move(next);
        break;
      }
      case DecKind::kFuse: {
        std::string all;
        for (const std::string& t : toks) all += t;
        toks.assign(1, std::move(all));
        break;
      }
      case DecKind::kStrip: {
        // up to `start` leading and `stop` trailing copies of the character; on the UTF-8 bytes,
        // which is the same as on characters (UTF-8 is self-synchronizing) and never throws
        std::string c;
        append_utf8(c, d.strip_char);
        for (std::string& t : toks) {
          size_t a = 0, b = t.size();
          for (int64_t k = 0; k < d.start && b - a >= c.size() && t.compare(a, c.size(), c) == 0; ++k) a += c.size();
          for (int64_t k = 0; k < d.stop && b - a >= c.size() && t.compare(b - c.size(), c.size(), c) == 0; ++k) b -= c.size();
          t = t.substr(a, b - a);
        }
        break;
      }
      case DecKind::kMetaspace:
        for (size_t k = 0; k < toks.size(); ++k) {
          replace_all(toks[k], d.a, " ");
          if (k == 0 && d.prepend_scheme != PrependScheme::kNever && !toks[k].empty() && toks[k][0] == ' ')
            toks[k].erase(0, 1);
        }
        break;
    }
  }

  // ---- GGUF-style vocabularies ----

  // The vocabulary, the special flags and the tokens split out of text (control, user-defined and
  // unknown; with no types given, BOS/EOS count as control and unk as unknown).
  void fill_generic_vocab(std::vector<std::string> toks, const std::vector<int32_t>& types, const Specials& sp,
                          const char* who) {
    const size_t n = toks.size();
    GKV_CHECK(n > 0 && n <= size_t(INT32_MAX), who, ": the vocabulary has ", n, " tokens");
    GKV_CHECK(types.empty() || types.size() == n, who, ": ", types.size(), " token types for ", n, " tokens");
    for (size_t i = 0; i < types.size(); ++i)
      GKV_CHECK(types[i] >= 1 && types[i] <= 6, who, ": token ", i, " has type ", types[i],
                ", not a GGUF token type (1 normal .. 6 byte)");
    for (auto [what, id] : {std::pair{"bos_id", sp.bos_id}, {"eos_id", sp.eos_id}, {"unk_id", sp.unk_id}})
      GKV_CHECK(id >= -1 && id < int64_t(n), who, ": ", what, " = ", id, " is outside [-1, n_vocab = ", n, ")");
    tokens = std::move(toks);
    bos = sp.bos_id;
    eos = sp.eos_id;
    unk_id = sp.unk_id;
    present.assign(n, 1);
    special.assign(n, 0);
    for (size_t i = 0; i < n; ++i) model_vocab[tokens[i]] = int32_t(i);  // llama.cpp: a later duplicate wins
    mergeable.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      int32_t t = !types.empty()                                         ? types[i]
                  : (int32_t(i) == sp.bos_id || int32_t(i) == sp.eos_id) ? kControl
                  : int32_t(i) == sp.unk_id                              ? kUnknown
                                                                         : kNormal;
      mergeable[i] = t == kNormal || t == kUserDefined;
      if ((t == kControl || t == kUserDefined || t == kUnknown) && !tokens[i].empty()) {
        AddedToken a;
        a.content = a.content_raw = tokens[i];
        a.id = int32_t(i);
        a.special = t != kUserDefined;
        added_raw.push_back(a);
        special[i] = a.special;
      }
    }
  }

  // ---- tokenizer.json ----

  static std::unique_ptr<Impl> from_hf_json(const std::string& path);
  void parse_normalizer(const json& n, const std::string& path);
  void parse_pretokenizer(const json& n, const std::string& path);
  void parse_decoder(const json& n, const std::string& path);
  void resolve_bos_eos(const json& doc, const std::string& path);
};

namespace {

std::string brief(const std::string& dumped) { return dumped.size() > 200 ? dumped.substr(0, 200) + "..." : dumped; }

// tokenizer.json field access with errors that name the file and the field.
const json& need(const json& o, const char* key, const std::string& path, const std::string& where) {
  GKV_CHECK(o.is_object(), path, ": ", where, " is not a JSON object");
  auto it = o.find(key);
  GKV_CHECK(it != o.end(), path, ": ", where, " has no \"", key, "\"");
  return *it;
}

std::string need_string(const json& o, const char* key, const std::string& path, const std::string& where) {
  const json& v = need(o, key, path, where);
  GKV_CHECK(v.is_string(), path, ": ", where, ".", key, " is ", brief(v.dump()), ", not a string");
  return v.get<std::string>();
}

bool opt_bool(const json& o, const char* key, bool def, const std::string& path, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return def;
  GKV_CHECK(it->is_boolean(), path, ": ", where, ".", key, " is ", brief(it->dump()), ", not true/false");
  return it->get<bool>();
}

int64_t need_int(const json& o, const char* key, const std::string& path, const std::string& where) {
  const json& v = need(o, key, path, where);
  GKV_CHECK(v.is_number_integer(), path, ": ", where, ".", key, " is ", brief(v.dump()), ", not an integer");
  return v.get<int64_t>();
}

std::string string_pattern(const json& n, const std::string& path, const std::string& where) {
  const json& p = need(n, "pattern", path, where);
  GKV_CHECK(p.is_object() && p.contains("String") && p["String"].is_string(), path, ": ", where, ".pattern is ",
            brief(p.dump()), "; only {\"String\": ...} patterns are supported here");
  return p["String"].get<std::string>();
}

PrependScheme parse_prepend_scheme(const json& n, const std::string& path, const std::string& where) {
  if (n.contains("prepend_scheme")) {
    std::string s = need_string(n, "prepend_scheme", path, where);
    if (s == "always") return PrependScheme::kAlways;
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    throw Error(str_cat(path, ": ", where, ".prepend_scheme is \"", s, "\" (expected always, first or never)"));
  }
  // the older form: add_prefix_space true/false
  return opt_bool(n, "add_prefix_space", true, path, where) ? PrependScheme::kAlways : PrependScheme::kNever;
}

std::string single_char(const json& n, const char* key, const std::string& path, const std::string& where) {
  std::string s = need_string(n, key, path, where);
  GKV_CHECK(utf8_to_utf32(s).size() == 1, path, ": ", where, ".", key, " is \"", s, "\", not a single character");
  return s;
}

}  // namespace

void Tokenizer::Impl::parse_normalizer(const json& n, const std::string& path) {
  if (n.is_null()) return;
  std::string type = need_string(n, "type", path, "normalizer");
  if (type == "Sequence") {
    const json& list = need(n, "normalizers", path, "normalizer Sequence");
    GKV_CHECK(list.is_array(), path, ": normalizer Sequence.normalizers is not an array");
    for (const json& x : list) parse_normalizer(x, path);
  } else if (type == "Prepend") {
    normalizers.push_back({NormKind::kPrepend, need_string(n, "prepend", path, "normalizer Prepend"), ""});
  } else if (type == "Replace") {
    normalizers.push_back({NormKind::kReplace, string_pattern(n, path, "normalizer Replace"),
                           need_string(n, "content", path, "normalizer Replace")});
  } else if (type == "NFC") {
    normalizers.push_back({NormKind::kNfc, "", ""});
  } else {
    throw Error(str_cat(path, ": normalizer type \"", type, "\" is not supported (supported: Sequence, Prepend, Replace, NFC)"));
  }
}

void Tokenizer::Impl::parse_pretokenizer(const json& n, const std::string& path) {
  if (n.is_null()) return;
  std::string type = need_string(n, "type", path, "pre_tokenizer");
  PreStep p;
  if (type == "Sequence") {
    const json& list = need(n, "pretokenizers", path, "pre_tokenizer Sequence");
    GKV_CHECK(list.is_array(), path, ": pre_tokenizer Sequence.pretokenizers is not an array");
    for (const json& x : list) parse_pretokenizer(x, path);
    return;
  } else if (type == "ByteLevel") {
    p.kind = PreKind::kByteLevel;
    p.add_prefix_space = opt_bool(n, "add_prefix_space", true, path, "pre_tokenizer ByteLevel");
    p.use_regex = opt_bool(n, "use_regex", true, path, "pre_tokenizer ByteLevel");
  } else if (type == "Split") {
    p.kind = PreKind::kSplit;
    const json& pat = need(n, "pattern", path, "pre_tokenizer Split");
    GKV_CHECK(pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string(), path,
              ": pre_tokenizer Split.pattern is ", brief(pat.dump()), "; only the known {\"Regex\": ...} patterns are supported");
    std::string re = pat["Regex"].get<std::string>();
    bool known = false;
    for (PretokenizerRegex r : {PretokenizerRegex::kGpt2, PretokenizerRegex::kLlama3, PretokenizerRegex::kQwen2}) {
      if (re == pretokenizer_regex_source(r)) p.regex = r, known = true;
    }
    GKV_CHECK(known, path, ": pre_tokenizer Split regex ", quote_bytes(re),
              " is not one of the known patterns (gpt2, llama3, qwen2; see ghostkv/model/tokenizer.h)");
    std::string behavior = need_string(n, "behavior", path, "pre_tokenizer Split");
    GKV_CHECK(behavior == "Isolated", path, ": pre_tokenizer Split.behavior is \"", behavior, "\"; only Isolated is supported");
    GKV_CHECK(!opt_bool(n, "invert", false, path, "pre_tokenizer Split"), path, ": pre_tokenizer Split.invert = true is not supported");
  } else if (type == "Digits") {
    p.kind = PreKind::kDigits;
    p.individual_digits = opt_bool(n, "individual_digits", false, path, "pre_tokenizer Digits");
  } else if (type == "Metaspace") {
    p.kind = PreKind::kMetaspace;
    p.replacement = single_char(n, "replacement", path, "pre_tokenizer Metaspace");
    p.prepend_scheme = parse_prepend_scheme(n, path, "pre_tokenizer Metaspace");
    p.split = opt_bool(n, "split", true, path, "pre_tokenizer Metaspace");
  } else {
    throw Error(str_cat(path, ": pre_tokenizer type \"", type,
                        "\" is not supported (supported: Sequence, ByteLevel, Split, Digits, Metaspace)"));
  }
  pretokenizers.push_back(p);
}

void Tokenizer::Impl::parse_decoder(const json& n, const std::string& path) {
  if (n.is_null()) return;
  has_decoder = true;
  std::string type = need_string(n, "type", path, "decoder");
  DecStep d(DecKind::kFuse);
  if (type == "Sequence") {
    const json& list = need(n, "decoders", path, "decoder Sequence");
    GKV_CHECK(list.is_array(), path, ": decoder Sequence.decoders is not an array");
    for (const json& x : list) parse_decoder(x, path);
    return;
  } else if (type == "ByteLevel") {
    d.kind = DecKind::kByteLevel;
  } else if (type == "Replace") {
    d.kind = DecKind::kReplace;
    d.a = string_pattern(n, path, "decoder Replace");
    d.b = need_string(n, "content", path, "decoder Replace");
  } else if (type == "ByteFallback") {
    d.kind = DecKind::kByteFallback;
  } else if (type == "Fuse") {
    d.kind = DecKind::kFuse;
  } else if (type == "Strip") {
    d.kind = DecKind::kStrip;
    d.strip_char = utf8_to_utf32(single_char(n, "content", path, "decoder Strip"))[0];
    d.start = need_int(n, "start", path, "decoder Strip");
    d.stop = need_int(n, "stop", path, "decoder Strip");
  } else if (type == "Metaspace") {
    d.kind = DecKind::kMetaspace;
    d.a = single_char(n, "replacement", path, "decoder Metaspace");
    d.prepend_scheme = parse_prepend_scheme(n, path, "decoder Metaspace");
  } else {
    throw Error(str_cat(path, ": decoder type \"", type,
                        "\" is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)"));
  }
  decoders.push_back(d);
}

// BOS/EOS: tokenizer_config.json beside tokenizer.json when it names them (null = none); else BOS
// from the post-processor template's leading special token; else conventional names.
void Tokenizer::Impl::resolve_bos_eos(const json& doc, const std::string& path) {
  bool bos_set = false, eos_set = false;
  std::filesystem::path cfg_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(cfg_path)) {
    const std::string cfg_name = cfg_path.string();
    std::ifstream f(cfg_path);
    json cfg;
    try {
      cfg = json::parse(f);
    } catch (const json::exception& e) {
      throw Error(str_cat(cfg_name, ": not valid JSON: ", e.what()));
    }
    GKV_CHECK(cfg.is_object(), cfg_name, ": not a JSON object");
    for (auto [key, dst, set] : {std::tuple{"bos_token", &bos, &bos_set}, {"eos_token", &eos, &eos_set}}) {
      auto it = cfg.find(key);
      if (it == cfg.end()) continue;
      *set = true;
      if (it->is_null()) continue;
      const json& v = it->is_object() ? need(*it, "content", cfg_name, key) : *it;
      GKV_CHECK(v.is_string(), cfg_name, ": ", key, " is ", brief(it->dump()), ", not a token string");
      *dst = lookup(v.get<std::string>());
      GKV_CHECK(*dst >= 0, cfg_name, ": ", key, " \"", v.get<std::string>(), "\" is not in the vocabulary of ", path);
    }
  }
  if (!bos_set) {
    std::vector<const json*> procs;
    if (doc.contains("post_processor")) procs.push_back(&doc["post_processor"]);
    for (size_t k = 0; k < procs.size() && bos < 0; ++k) {
      const json& p = *procs[k];
      if (!p.is_object()) continue;
      if (p.value("type", "") == "Sequence" && p.contains("processors") && p["processors"].is_array())
        for (const json& x : p["processors"]) procs.push_back(&x);
      if (p.value("type", "") != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array() ||
          p["single"].empty())
        continue;
      const json& first = p["single"][0];
      if (first.is_object() && first.contains("SpecialToken") && first["SpecialToken"].contains("id") &&
          first["SpecialToken"]["id"].is_string())
        bos = lookup(first["SpecialToken"]["id"].get<std::string>());
    }
  }
  for (auto [dst, set, names] : {std::tuple{&bos, bos_set, std::vector<std::string>{"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"}},
                                 std::tuple{&eos, eos_set, std::vector<std::string>{"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"}}}) {
    for (size_t k = 0; k < names.size() && !set && *dst < 0; ++k) *dst = lookup(names[k]);
  }
}

std::unique_ptr<Tokenizer::Impl> Tokenizer::Impl::from_hf_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open tokenizer.json");
  json doc;
  try {
    doc = json::parse(f);
  } catch (const json::exception& e) {
    throw Error(str_cat(path, ": not valid JSON: ", e.what()));
  }
  auto im = std::make_unique<Impl>();
  im->source = path;
  try {
    GKV_CHECK(doc.is_object(), path, ": not a JSON object");
    const json& m = need(doc, "model", path, "the document");
    GKV_CHECK(m.is_object(), path, ": model is not a JSON object");
    std::string type = m.contains("type") ? need_string(m, "type", path, "model") : (m.contains("merges") ? "BPE" : "?");
    GKV_CHECK(type == "BPE", path, ": model type \"", type, "\" is not supported (only BPE)");
    const json& vocab = need(m, "vocab", path, "model");
    GKV_CHECK(vocab.is_object(), path, ": model.vocab is not a JSON object {token: id}");
    int64_t n = 0;
    for (const auto& [text, idj] : vocab.items()) {
      GKV_CHECK(idj.is_number_integer() && idj.get<int64_t>() >= 0 && idj.get<int64_t>() < INT32_MAX, path,
                ": model.vocab[", quote_bytes(text), "] = ", brief(idj.dump()), " is not an id in [0, 2^31 - 1)");
      int32_t id = int32_t(idj.get<int64_t>());
      im->model_vocab[text] = id;
      n = std::max<int64_t>(n, int64_t(id) + 1);
    }
    GKV_CHECK(n > 0, path, ": model.vocab is empty");
    im->tokens.resize(n);
    im->present.assign(n, 0);
    for (const auto& [text, id] : im->model_vocab) im->tokens[id] = text, im->present[id] = 1;

    auto null_or = [&](const char* key) -> const json* {
      auto it = m.find(key);
      return it == m.end() || it->is_null() ? nullptr : &*it;
    };
    if (const json* d = null_or("dropout"))
      GKV_CHECK(d->is_number() && d->get<double>() <= 0.0, path, ": model.dropout = ", brief(d->dump()),
                " is not supported (dropout is for training; set it to null)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (const json* v = null_or(key))
        GKV_CHECK(v->is_string() && v->get<std::string>().empty(), path, ": model.", key, " = ", brief(v->dump()),
                  " is not supported");
    }
    im->byte_fallback = opt_bool(m, "byte_fallback", false, path, "model");
    im->fuse_unk = opt_bool(m, "fuse_unk", false, path, "model");
    im->ignore_merges = opt_bool(m, "ignore_merges", false, path, "model");
    if (const json* u = null_or("unk_token")) {
      GKV_CHECK(u->is_string(), path, ": model.unk_token is ", brief(u->dump()), ", not a string");
      auto it = im->model_vocab.find(u->get<std::string>());
      GKV_CHECK(it != im->model_vocab.end(), path, ": model.unk_token \"", u->get<std::string>(), "\" is not in model.vocab");
      im->unk_id = it->second;
    }
    const json& merges = need(m, "merges", path, "model");
    GKV_CHECK(merges.is_array(), path, ": model.merges is not an array");
    for (size_t r = 0; r < merges.size(); ++r) {
      const json& x = merges[r];
      std::string a, b;
      if (x.is_string()) {  // "a b": exactly one space
        std::string s = x.get<std::string>();
        size_t sp = s.find(' ');
        GKV_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, path, ": model.merges[", r,
                  "] = ", brief(x.dump()), " is not two tokens separated by one space");
        a = s.substr(0, sp), b = s.substr(sp + 1);
      } else {
        GKV_CHECK(x.is_array() && x.size() == 2 && x[0].is_string() && x[1].is_string(), path, ": model.merges[", r,
                  "] = ", brief(x.dump()), " is neither \"a b\" nor [\"a\", \"b\"]");
        a = x[0].get<std::string>(), b = x[1].get<std::string>();
      }
      auto ia = im->model_vocab.find(a), ib = im->model_vocab.find(b), iab = im->model_vocab.find(a + b);
      GKV_CHECK(ia != im->model_vocab.end() && ib != im->model_vocab.end(), path, ": model.merges[", r, "] = ",
                brief(x.dump()), " names a token that is not in model.vocab");
      GKV_CHECK(iab != im->model_vocab.end(), path, ": model.merges[", r, "] = ", brief(x.dump()), " makes ",
                quote_bytes(a + b), ", which is not in model.vocab");
      im->merges[merge_key(ia->second, ib->second)] = {int32_t(r), iab->second};  // HF: a later duplicate wins
    }

    if (doc.contains("added_tokens") && !doc["added_tokens"].is_null()) {
      const json& added = doc["added_tokens"];
      GKV_CHECK(added.is_array(), path, ": added_tokens is not an array");
      for (size_t k = 0; k < added.size(); ++k) {
        const json& t = added[k];
        std::string where = str_cat("added_tokens[", k, "]");
        AddedToken a;
        int64_t id = need_int(t, "id", path, where);
        GKV_CHECK(id >= 0 && id < INT32_MAX, path, ": ", where, ".id = ", id, " is not an id in [0, 2^31 - 1)");
        a.id = int32_t(id);
        a.content = a.content_raw = need_string(t, "content", path, where);
        GKV_CHECK(!a.content.empty(), path, ": ", where, ".content is empty");
        a.special = opt_bool(t, "special", false, path, where);
        a.lstrip = opt_bool(t, "lstrip", false, path, where);
        a.rstrip = opt_bool(t, "rstrip", false, path, where);
        a.single_word = opt_bool(t, "single_word", false, path, where);
        bool normalized = opt_bool(t, "normalized", !a.special, path, where);
        if (a.id >= int64_t(im->tokens.size())) {
          im->tokens.resize(a.id + 1);
          im->present.resize(a.id + 1, 0);
        }
        im->tokens[a.id] = a.content;  // HF's id_to_token looks at added tokens first
        im->present[a.id] = 1;
        im->special.resize(im->tokens.size(), 0);
        im->special[a.id] = a.special;
        (normalized ? im->added_norm : im->added_raw).push_back(a);
      }
    }
    im->special.resize(im->tokens.size(), 0);

    if (doc.contains("normalizer")) im->parse_normalizer(doc["normalizer"], path);
    if (doc.contains("pre_tokenizer")) im->parse_pretokenizer(doc["pre_tokenizer"], path);
    if (doc.contains("decoder")) im->parse_decoder(doc["decoder"], path);
    // normalized added tokens are matched in normalized text, by their normalized content
    for (AddedToken& a : im->added_norm) a.content = im->normalize(a.content_raw);

    // kind
    bool byte_level = std::any_of(im->pretokenizers.begin(), im->pretokenizers.end(),
                                  [](const PreStep& p) { return p.kind == PreKind::kByteLevel; });
    if (byte_level) {
      std::string re = "none";
      bool digits = false;
      for (const PreStep& p : im->pretokenizers) {
        if (p.kind == PreKind::kDigits && p.individual_digits) digits = true;
        if (p.kind == PreKind::kByteLevel && p.use_regex) re = digits ? "smollm" : "gpt2";
        if (p.kind == PreKind::kSplit)
          re = p.regex == PretokenizerRegex::kGpt2 ? "gpt2" : p.regex == PretokenizerRegex::kLlama3 ? "llama3" : "qwen2";
      }
      im->kind = "byte_level_bpe/" + re;
    } else if (im->byte_fallback || !im->normalizers.empty() ||
               std::any_of(im->pretokenizers.begin(), im->pretokenizers.end(),
                           [](const PreStep& p) { return p.kind == PreKind::kMetaspace; })) {
      im->kind = "sentencepiece_bpe/merges";
    } else {
      im->kind = "bpe";
    }
    im->finish_vocab();
    im->resolve_bos_eos(doc, path);
  } catch (const json::exception& e) {
    throw Error(str_cat(path, ": unexpected tokenizer.json structure: ", e.what()));
  }
  return im;
}

// ---- Tokenizer ----

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_hf_json(const std::string& path) { return Tokenizer(Impl::from_hf_json(path)); }

const Tokenizer::Impl& Tokenizer::impl() const {
  GKV_ASSERT(impl_ != nullptr, "use of a moved-from Tokenizer");  // a bug, not bad input
  return *impl_;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_bos) const {
  return impl().encode(text, add_bos);
}
std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return impl().decode(ids, skip_special);
}
int64_t Tokenizer::n_vocab() const { return int64_t(impl().tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl().bos; }
int32_t Tokenizer::eos_id() const { return impl().eos; }
std::string Tokenizer::kind() const { return impl().kind; }
int32_t Tokenizer::token_id(const std::string& text) const { return impl().lookup(text); }

std::string Tokenizer::token_text(int32_t id) const {
  const Impl& im = impl();
  GKV_CHECK(id >= 0 && id < int64_t(im.tokens.size()), "tokenizer (", im.kind, ", ", im.source, "): token_text: id ", id,
            " is outside [0, n_vocab = ", im.tokens.size(), ")");
  return im.tokens[id];
}

Tokenizer Tokenizer::from_llama2c(const std::string& path, int64_t n_vocab) {
  GKV_CHECK(n_vocab >= 259 && n_vocab < INT32_MAX, path, ": n_vocab = ", n_vocab,
            " is not a llama2.c vocabulary size (needs >= 259: unk, BOS, EOS and 256 byte tokens)");
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open llama2.c tokenizer file");
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  GKV_CHECK(data.size() >= 4, path, ": ", data.size(), " bytes, shorter than the 4-byte header (max_token_length)");
  auto rd_i32 = [&](size_t off) {
    int32_t v;
    std::memcpy(&v, data.data() + off, 4);
    return v;
  };
  const int32_t max_len = rd_i32(0);
  GKV_CHECK(max_len > 0, path, ": max_token_length = ", max_len, " (must be > 0)");
  GKV_CHECK(4 + 8 * uint64_t(n_vocab) <= data.size(), path, ": ", data.size(), " bytes cannot hold n_vocab = ",
            n_vocab, " tokens (>= 8 bytes each); truncated, or n_vocab is wrong");
  auto im = std::make_unique<Impl>();
  im->kind = "llama2c";
  im->source = path;
  im->model = ModelKind::kLlama2c;
  im->tokens.resize(n_vocab);
  im->scores.resize(n_vocab);
  size_t off = 4;
  for (int64_t i = 0; i < n_vocab; ++i) {
    GKV_CHECK(off + 8 <= data.size(), path, ": truncated at token ", i, " of n_vocab = ", n_vocab, " (offset ", off,
              ", file size ", data.size(), " bytes)");
    std::memcpy(&im->scores[i], data.data() + off, 4);
    const int32_t len = rd_i32(off + 4);
    off += 8;
    GKV_CHECK(len >= 0 && len <= max_len, path, ": token ", i, " has length ", len, ", outside [0, max_token_length = ",
              max_len, "]");
    GKV_CHECK(off + size_t(len) <= data.size(), path, ": truncated inside token ", i, " (", len, " bytes at offset ", off,
              ", file size ", data.size(), ")");
    im->tokens[i].assign(data, off, size_t(len));
    off += size_t(len);
  }
  GKV_CHECK(off == data.size(), path, ": ", data.size() - off, " bytes follow the ", n_vocab,
            " tokens: n_vocab does not match the file (use the model header's vocab_size)");
  // run.c looks strings up by bsearch; on a duplicate string we take the lowest id
  for (int64_t i = n_vocab - 1; i >= 0; --i) im->model_vocab[im->tokens[i]] = int32_t(i);
  auto sp = im->model_vocab.find(" ");
  GKV_CHECK(sp != im->model_vocab.end(), path, ": no \" \" token, which llama2.c's encode needs as its dummy prefix");
  im->space_id = sp->second;
  im->mergeable.assign(n_vocab, 1);
  im->present.assign(n_vocab, 1);
  im->special.assign(n_vocab, 0);
  im->special[1] = im->special[2] = 1;
  im->bos = 1;
  im->eos = 2;
  im->unk_id = 0;
  im->byte_ids.fill(-1);
  return Tokenizer(std::move(im));
}

Tokenizer Tokenizer::byte_level_bpe(std::vector<std::string> tokens, std::vector<std::pair<std::string, std::string>> merges,
                                    const std::string& pretokenizer, std::vector<int32_t> token_types, Specials specials) {
  const char* who = "byte_level_bpe";
  auto im = std::make_unique<Impl>();
  im->source = "byte_level_bpe vocabulary";
  im->fill_generic_vocab(std::move(tokens), token_types, specials, who);
  im->model = ModelKind::kBpeRank;
  im->kind = "byte_level_bpe/" + pretokenizer;
  PreStep bl;
  bl.kind = PreKind::kByteLevel;
  if (pretokenizer == "gpt2" || pretokenizer == "smollm") {
    if (pretokenizer == "smollm") {  // llama.cpp's "smollm": \p{N} split off singly, then gpt2
      PreStep d;
      d.kind = PreKind::kDigits;
      d.individual_digits = true;
      im->pretokenizers.push_back(d);
    }
    bl.use_regex = true;
  } else if (pretokenizer == "llama3" || pretokenizer == "qwen2") {
    PreStep s;
    s.kind = PreKind::kSplit;
    s.regex = pretokenizer == "llama3" ? PretokenizerRegex::kLlama3 : PretokenizerRegex::kQwen2;
    im->pretokenizers.push_back(s);
    im->ignore_merges = pretokenizer == "llama3";  // as Llama-3's tokenizer.json and llama.cpp
  } else {
    throw Error(str_cat(who, ": unknown pretokenizer \"", pretokenizer, "\" (known: gpt2, llama3, qwen2, smollm)"));
  }
  im->pretokenizers.push_back(bl);
  im->has_decoder = true;
  im->decoders.emplace_back(DecKind::kByteLevel);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    auto ia = im->model_vocab.find(a), ib = im->model_vocab.find(b), iab = im->model_vocab.find(a + b);
    GKV_CHECK(ia != im->model_vocab.end() && ib != im->model_vocab.end(), who, ": merge ", r, " (", quote_bytes(a),
              ", ", quote_bytes(b), ") names a token that is not in the vocabulary");
    GKV_CHECK(iab != im->model_vocab.end(), who, ": merge ", r, " (", quote_bytes(a), ", ", quote_bytes(b), ") makes ",
              quote_bytes(a + b), ", which is not in the vocabulary");
    im->merges[merge_key(ia->second, ib->second)] = {int32_t(r), iab->second};
  }
  im->finish_vocab();
  return Tokenizer(std::move(im));
}

Tokenizer Tokenizer::sentencepiece_bpe(std::vector<std::string> tokens, std::vector<float> scores,
                                       std::vector<int32_t> token_types, Specials specials) {
  const char* who = "sentencepiece_bpe";
  GKV_CHECK(scores.size() == tokens.size(), who, ": ", scores.size(), " scores for ", tokens.size(), " tokens");
  auto im = std::make_unique<Impl>();
  im->source = "sentencepiece_bpe vocabulary";
  im->kind = "sentencepiece_bpe/scores";
  im->model = ModelKind::kBpeScore;
  im->scores = std::move(scores);
  im->fill_generic_vocab(std::move(tokens), token_types, specials, who);
  im->finish_vocab();
  if (!token_types.empty()) {  // byte tokens: exactly those typed as bytes
    im->byte_ids.fill(-1);
    for (size_t i = 0; i < token_types.size(); ++i) {
      if (token_types[i] != kByte) continue;
      int b = parse_byte_token(im->tokens[i]);
      GKV_CHECK(b >= 0, who, ": token ", i, " ", quote_bytes(im->tokens[i]), " has the byte type but is not <0xNN>");
      im->byte_ids[b] = int32_t(i);
    }
  }
  if (specials.add_space_prefix) im->normalizers.push_back({NormKind::kPrepend, kSpaceMark, ""});
  im->normalizers.push_back({NormKind::kReplace, " ", kSpaceMark});
  im->has_decoder = true;
  DecStep rep(DecKind::kReplace);
  rep.a = kSpaceMark;
  rep.b = " ";
  im->decoders.push_back(rep);
  im->decoders.emplace_back(DecKind::kByteFallback);
  im->decoders.emplace_back(DecKind::kFuse);
  if (specials.add_space_prefix) {
    DecStep st(DecKind::kStrip);
    st.strip_char = ' ';
    st.start = 1;
    im->decoders.push_back(st);
  }
  return Tokenizer(std::move(im));
}

}  // namespace ghostkv
