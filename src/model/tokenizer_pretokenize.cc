// Pre-split regexes of byte-level BPE tokenizers as hand-written matchers, UTF-8 helpers and NFC.
// Each matcher returns the end of the leftmost-first alternative that matches at a position, with
// the backtracking Oniguruma would do spelled out (see the comments at each alternative).
#include <algorithm>

#include "ghostkv/error.h"
#include "ghostkv/model/tokenizer.h"

namespace ghostkv {

namespace {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t c) {
  if (unicode_is_letter(c)) return CharClass::kLetter;
  if (unicode_is_number(c)) return CharClass::kNumber;
  if (unicode_is_whitespace(c)) return CharClass::kSpace;
  return CharClass::kOther;
}

bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }

// Simple case folding restricted to what the contraction alternatives can meet: ASCII letters and
// U+017F LATIN SMALL LETTER LONG S, whose case fold is 's' (so "(?i:'s)" matches "'ſ").
char32_t fold_contraction_letter(char32_t c, bool ignore_case) {
  if (!ignore_case) return c;
  if (c >= 'A' && c <= 'Z') return c + ('a' - 'A');
  if (c == 0x17F) return 's';
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d: returns the end, or i when none matches.
size_t match_contraction(const std::u32string& s, size_t i, bool ignore_case) {
  const size_t n = s.size();
  if (s[i] != '\'' || i + 1 >= n) return i;
  char32_t a = fold_contraction_letter(s[i + 1], ignore_case);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if (i + 2 >= n) return i;
  char32_t b = fold_contraction_letter(s[i + 2], ignore_case);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return i;
}

size_t run_of(const std::vector<CharClass>& cls, size_t i, CharClass c) {
  while (i < cls.size() && cls[i] == c) ++i;
  return i;
}

// \s+(?!\S)|\s+ at a whitespace run [i, e): the lookahead fails at e unless e is the end, so the
// first alternative backtracks one character (needs >= 2); else \s+ takes the one character.
size_t match_space_tail(size_t i, size_t e, size_t n) {
  if (e == n) return e;
  if (e - i >= 2) return e - 1;
  return i + 1;
}

size_t match_gpt2(const std::u32string& s, const std::vector<CharClass>& cls, size_t i) {
  const size_t n = s.size();
  size_t e = match_contraction(s, i, false);
  if (e > i) return e;
  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": the optional space only when a run follows it.
  if (s[i] == ' ' && i + 1 < n && cls[i + 1] != CharClass::kSpace) return run_of(cls, i + 1, cls[i + 1]);
  if (cls[i] != CharClass::kSpace) return run_of(cls, i, cls[i]);
  return match_space_tail(i, run_of(cls, i, CharClass::kSpace), n);
}

size_t match_llama3(const std::u32string& s, const std::vector<CharClass>& cls, size_t i, size_t max_digits) {
  const size_t n = s.size();
  size_t e = match_contraction(s, i, true);
  if (e > i) return e;
  // [^\r\n\p{L}\p{N}]?\p{L}+ : the optional character is taken when a letter follows it; without it
  // \p{L}+ needs s[i] itself to be a letter.
  if (cls[i] == CharClass::kLetter) return run_of(cls, i, CharClass::kLetter);
  if (!is_newline(s[i]) && cls[i] != CharClass::kNumber && i + 1 < n && cls[i + 1] == CharClass::kLetter)
    return run_of(cls, i + 1, CharClass::kLetter);
  // \p{N}{1,3} (llama3) or \p{N} (qwen2)
  if (cls[i] == CharClass::kNumber) return std::min(run_of(cls, i, CharClass::kNumber), i + max_digits);
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  size_t j = (s[i] == ' ' && i + 1 < n && cls[i + 1] == CharClass::kOther) ? i + 1 : i;
  if (cls[j] == CharClass::kOther) {
    j = run_of(cls, j, CharClass::kOther);
    while (j < n && is_newline(s[j])) ++j;
    return j;
  }
  // s[i] is whitespace. \s*[\r\n]+ : \s* backtracks from the end of the run to the last \r or \n
  // in it, and [\r\n]+ then takes that one character.
  e = run_of(cls, i, CharClass::kSpace);
  for (size_t k = e; k > i; --k)
    if (is_newline(s[k - 1])) return k;
  return match_space_tail(i, e, n);
}

// Hangul syllable constants (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose_canonical(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t si = c - kSBase;
    out.push_back(kLBase + si / kNCount);
    out.push_back(kVBase + (si % kNCount) / kTCount);
    if (si % kTCount != 0) out.push_back(kTBase + si % kTCount);
    return;
  }
  char32_t parts[2];
  int k = unicode_canonical_decomposition(c, parts);
  if (k == 0) {
    out.push_back(c);
    return;
  }
  decompose_canonical(parts[0], out);
  if (k == 2) decompose_canonical(parts[1], out);
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  return unicode_primary_composite(a, b);
}

}  // namespace

std::u32string utf8_to_utf32(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    unsigned char b = p[i];
    char32_t c;
    size_t len;
    if (b < 0x80) {
      c = b, len = 1;
    } else if (b >= 0xC2 && b < 0xE0) {
      c = b & 0x1F, len = 2;
    } else if (b >= 0xE0 && b < 0xF0) {
      c = b & 0x0F, len = 3;
    } else if (b >= 0xF0 && b < 0xF5) {
      c = b & 0x07, len = 4;
    } else {
      throw Error(str_cat("text is not valid UTF-8: byte 0x", std::hex, int(b), std::dec, " at offset ", i,
                          " cannot start a character"));
    }
    GKV_CHECK(i + len <= n, "text is not valid UTF-8: the ", len, "-byte character at offset ", i,
              " is cut off by the end of the text (", n, " bytes)");
    for (size_t k = 1; k < len; ++k) {
      GKV_CHECK((p[i + k] & 0xC0) == 0x80, "text is not valid UTF-8: byte ", k, " of the character at offset ", i,
                " is not a continuation byte");
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    bool overlong = (len == 3 && c < 0x800) || (len == 4 && c < 0x10000);
    GKV_CHECK(!overlong && c <= 0x10FFFF && !(c >= 0xD800 && c < 0xE000), "text is not valid UTF-8: the ",
              len, "-byte sequence at offset ", i, " encodes U+", std::hex, uint32_t(c), std::dec,
              " (overlong, surrogate or beyond U+10FFFF)");
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

const char* pretokenizer_regex_source(PretokenizerRegex re) {
  switch (re) {
    case PretokenizerRegex::kGpt2:
      return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    case PretokenizerRegex::kLlama3:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    case PretokenizerRegex::kQwen2:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  }
  GKV_ASSERT(false, "unknown PretokenizerRegex ", int(re));
  return "";
}

std::vector<std::string_view> split_pretokens(std::string_view text, PretokenizerRegex re) {
  std::u32string s = utf8_to_utf32(text);
  std::vector<CharClass> cls(s.size());
  std::vector<size_t> byte_at(s.size() + 1, 0);  // byte offset of each code point
  for (size_t i = 0; i < s.size(); ++i) {
    cls[i] = classify(s[i]);
    char32_t c = s[i];
    byte_at[i + 1] = byte_at[i] + (c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4);
  }
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t e = re == PretokenizerRegex::kGpt2    ? match_gpt2(s, cls, i)
               : re == PretokenizerRegex::kLlama3 ? match_llama3(s, cls, i, 3)
                                                  : match_llama3(s, cls, i, 1);
    GKV_ASSERT(e > i && e <= s.size(), "pre-split matcher made no progress at ", i);
    out.push_back(text.substr(byte_at[i], byte_at[e] - byte_at[i]));
    i = e;
  }
  return out;
}

std::string unicode_nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
  std::u32string in = utf8_to_utf32(text), d;
  d.reserve(in.size() + 8);
  for (char32_t c : in) decompose_canonical(c, d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (unicode_combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && unicode_combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return unicode_combining_class(a) < unicode_combining_class(b); });
    i = j;
  }
  // Canonical composition: a character joins the last starter unless blocked, i.e. unless a
  // character between them has class 0 or a class >= its own.
  std::u32string r;
  r.reserve(d.size());
  size_t starter = std::u32string::npos;
  int prev_cc = 0;
  for (char32_t c : d) {
    int cc = unicode_combining_class(c);
    if (starter != std::u32string::npos) {
      bool adjacent = starter == r.size() - 1;
      bool blocked = !adjacent && (prev_cc == 0 || prev_cc >= cc);
      if (!blocked) {
        char32_t comp = compose_pair(r[starter], c);
        if (comp != 0) {
          r[starter] = comp;
          continue;
        }
      }
    }
    if (cc == 0) starter = r.size();
    r.push_back(c);
    prev_cc = cc;
  }
  std::string out;
  out.reserve(text.size());
  for (char32_t c : r) append_utf8(out, c);
  return out;
}

}  // namespace ghostkv
