#!/usr/bin/env python3
"""Tokenizer fixtures and goldens for tests/test_tokenizer*.cc — every id comes from a peer, never
from GhostKV:
  * HF `tokenizers` (pip tokenizers==0.21.1) for tokenizer.json: it TRAINS the small fixtures and
    then encodes/decodes every test string with them (and with ../shared's ghostkv-ref-23m);
  * for llama2.c's tokenizer.bin there is no Python peer, so `llama2c_encode` below re-implements
    karpathy/llama2.c run.c encode() line by line (sorted vocab + bsearch, UTF-8 grouping, byte
    fallback + 3, then repeated rescans for the best-scoring pair).

    python3 scripts/make_tokenizer_goldens.py          # rewrites tests/data/tokenizers/

Writes (tests/data/tokenizers/):
  llama3_tiny/tokenizer.json        byte-level BPE, Split(Llama-3 regex) + ByteLevel, ignore_merges,
                                    special tokens incl. one with lstrip/rstrip and one single_word
  qwen2_tiny/tokenizer.json         NFC + Split(Qwen2 regex) + ByteLevel, normalized and non-special
                                    added tokens
  smollm_tiny/tokenizer.json        Digits(individual) + ByteLevel(use_regex) (SmolLM's form)
  llama2_tiny/tokenizer.json        Llama-2 form: Prepend("▁") + Replace(" ", "▁"), BPE with
                                    byte_fallback, decoder Replace/ByteFallback/Fuse/Strip; merges are
                                    derived from per-token scores the way transformers' LlamaConverter
                                    does; llama2_tiny/spm_vocab.tsv holds those (id, type, score, token)
  llama2_metaspace_tiny/tokenizer.json  same vocabulary, the newer Metaspace pre-tokenizer form
  <name>/goldens.tsv, ref23m_goldens.tsv, stories260k_goldens.tsv, unicode_goldens.tsv
Golden line formats (tab-separated; text as hex of its UTF-8 bytes; ids space-separated):
  E name text_hex ids decode_hex decode_skip_special_hex     encode(text) and decode(ids)
  D name ids decode_hex decode_skip_special_hex              decode of given ids
  ("=" for decode_hex: equal to the text; for decode_skip_special_hex: equal to decode_hex)
  P regex text_hex piece_hex,piece_hex,...                   Split(Regex, "isolated") pieces
  N text_hex nfc_hex                                         normalizers.NFC
"""
import json
import lzma
import os
import random
import struct
import sys
import unicodedata

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
OUT = os.path.join(ROOT, "tests", "data", "tokenizers")

GPT2_RE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_RE = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_RE = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SP = "\u2581"


# Corpus text is never copied into the repository: a slice is stored as a reference
# "@corpus:NAME:BYTE_START:BYTE_LEN" into ../shared/corpora/NAME.txt.xz (decompressed UTF-8 bytes),
# which the tests read back; decodes of such slices that differ from the text are not stored ("@skip").
CORPUS_REF = {}


def corpus(name, start, n):
    # newline="": keep the bytes as they are (no \r\n translation), so byte offsets match the file
    with lzma.open(os.path.join(SHARED, "corpora", name + ".txt.xz"), "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    piece = text[start:start + n]
    CORPUS_REF[piece] = "@corpus:%s:%d:%d" % (name, len(text[:start].encode("utf-8")), len(piece.encode("utf-8")))
    return piece


def text_col(text):
    return CORPUS_REF.get(text) or hx(text)


def derived_col(text, derived):
    return "@skip" if text in CORPUS_REF else hx(derived)


def hx(s):
    return (s.encode("utf-8") if isinstance(s, str) else s).hex()


# ---------------------------------------------------------------- test strings

def base_strings():
    s = [
        "", "a", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n", "\n ", " \n \n ", "\t\n\t",
        "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
        "  leading spaces", "trailing spaces   ", "a  b", "a   b", "a\tb", "a\t\tb", "a\nb", "a\n\nb",
        "a \n b", "a\r\nb", "line1\n  line2\n\tline3\n", "x\r\r\ny", "end.\n\n", "  \n\n  x",
        # contractions
        "I'm can't won't you're we've they'll he'd she's it's", "I'M CAN'T YOU'RE WE'VE THEY'LL HE'D SHE'S",
        "'s 'S 't 'T 're 'RE 'Re 've 'll 'LL 'd 'D 'm 'M", "''s", "'", "'x", "rock 'n' roll", "don't!",
        "\u2019s curly", "' s", "'\u017f long s", "'\u212a kelvin", "'\u00df", "'sa", "O'Neil's",
        # numbers
        "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890", "3.14159",
        "1,000,000", "2024-01-01", " 42", "x1y22z333w4444", "a1 22 333 4444 55555", "v1.2.3-rc4", "0x7FFF",
        "\u0663\u0664\u0665 Arabic-Indic", "\u00bd \u2153 \u216b \u2460", "\U0001d7d9\U0001d7da", "\u0e51\u0e52",
        # letters of many scripts, marks, symbols
        "na\u00efve caf\u00e9 r\u00e9sum\u00e9", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
        "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442",
        "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
        "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd", "\u0e44\u0e17\u0e22",
        "\u4e2d\u6587\u5b57\u7b26", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\ud55c\uad6d\uc5b4",
        "\u01c5 \u01c8 \u02b0\u02b1", "e\u0301 a\u0308 n\u0303", "\U0001d518\U0001d52b\U0001d526",
        "\U0001b11f\U0001b11f", "\U00011f04 kawi (Unicode 15)",
        "\U0001f600\U0001f44d\U0001f3fd\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1fa\U0001f1f8",
        "\u2764\ufe0f", "a\U0001f600b", " \U0001f600", "\u2211\u222b\u221a", "\u2014\u2013\u2026",
        "\u00abquotes\u00bb \u201cdouble\u201d", "\u00a9\u00ae\u2122", "zero\u200bwidth", "\ufeffbom",
        "\u00a0nbsp", "a\u3000b", "a\u2028b\u2029c", "\x0b\x0c", "\x1c\x1d\x1e\x1f", "a\x85b", "\x00a\x01",
        "tab\t\tspace  \u00a0 \u2003mixed", "(hello) [world] {x}", "#include <stdio.h>", "x += 1;  // c",
        "def f(x):\n    return x**2\n", "<html><body>hi</body></html>", "e-mail: a@b.com, url: https://x.org/y?z=1",
        "$100.00 & 50% off!!!", "...", "?!?!", "_under_score_", "CamelCaseWord", "ALLCAPS", "\u0130stanbul",
        "\u212b\u2126 ohm", "\u1100\u1161\u11a8 jamo", "\ufb01 \ufb05 ligatures",
    ]
    return s


def random_strings(seed, count):
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789", " ", "  ", "\n", "\r", "\t", "'", "'s", "'T", "'ll", ".,;:!?-()[]{}\"/\\@#$%^&*_+=<>|~`",
        "\u00e9\u00fc\u00f1\u00df\u00e6\u00f8", "\u03b1\u03b2\u03b3\u0394", "\u0436\u0449\u042f",
        "\u4e00\u4e8c\u4e09", "\u3042\u30a2", "\u0663\u0664", "\u00bd\u2160", "\U0001f600\U0001f680",
        "\u00a0\u3000\u2009", "\u0301\u0308", "\u200d", "\x0b", "\u2581",
    ]
    out = []
    for _ in range(count):
        n = rng.randint(1, 24)
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(n)))
    return out


def corpus_slices(long_chars):
    return [
        ("persuasion", corpus("austen_persuasion", 50000, 2000)),
        ("python", corpus("code_python_stdlib", 200000, 2000)),
        ("c_stb", corpus("code_c_stb", 100000, 1500)),
        ("kjv", corpus("kjv_bible", 400000, 1500)),
        ("sotu", corpus("sotu_1790_2021", 3000000, 1500)),
        ("udolpho_long", corpus("pg_Udolpho", 100000, long_chars)),
    ]


def cases(specials, seed, long_chars=4000):
    out = [("s%03d" % i, t) for i, t in enumerate(base_strings())]
    for sp in specials:
        out += [
            ("sp_alone" + sp, sp), ("sp_mid" + sp, "a" + sp + "b"), ("sp_spaced" + sp, " " + sp + " x"),
            ("sp_twice" + sp, sp + sp), ("sp_text" + sp, "Hello" + sp + " world\n" + sp + "\nnext"),
            ("sp_partial" + sp, sp[:-1] + " " + sp[1:]),
        ]
    if len(specials) >= 2:
        out.append(("sp_mix", "".join(specials) + " mixed " + specials[0] + "text" + specials[-1]))
    out += [("r%03d" % i, t) for i, t in enumerate(random_strings(seed, 200))]
    out += corpus_slices(long_chars)
    return out


# ---------------------------------------------------------------- golden writers

def write_goldens(path, tok, case_list, decode_seed, extra_decodes=()):
    lines = ["# goldens from HF tokenizers %s; see scripts/make_tokenizer_goldens.py" % tokenizers.__version__]
    for name, text in case_list:
        enc = tok.encode(text, add_special_tokens=False)
        ids = enc.ids
        dec = tok.decode(ids, skip_special_tokens=False)
        dec_skip = tok.decode(ids, skip_special_tokens=True)
        lines.append("\t".join(["E", name.replace("\t", " "), text_col(text), " ".join(map(str, ids)),
                                "=" if dec == text else derived_col(text, dec),
                                "=" if dec_skip == dec else derived_col(text, dec_skip)]))
    rng = random.Random(decode_seed)
    n = tok.get_vocab_size(with_added_tokens=True)
    seqs = [("rand%02d" % k, [rng.randrange(n) for _ in range(rng.randint(1, 20))]) for k in range(40)]
    seqs += list(extra_decodes)
    for name, ids in seqs:
        dec = tok.decode(ids, skip_special_tokens=False)
        dec_skip = tok.decode(ids, skip_special_tokens=True)
        lines.append("\t".join(["D", name, " ".join(map(str, ids)), hx(dec), "=" if dec_skip == dec else hx(dec_skip)]))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def train_corpus():
    return [corpus("austen_emma", 0, 150000), corpus("code_python_stdlib", 0, 60000), corpus("moby_dick", 0, 60000)]


def save(tok, name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "tokenizer.json")
    tok.save(path, pretty=False)
    return path


# ---------------------------------------------------------------- byte-level fixtures

def make_byte_level(name, split_re, specials, vocab_size, ignore_merges=False, nfc=False, digits=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if digits:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split_re), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train_corpus(), trainer=trainer)
    return tok


def main():
    if tokenizers.__version__ != "0.21.1":
        sys.exit("need tokenizers==0.21.1 (pip install tokenizers==0.21.1), have " + tokenizers.__version__)
    if unicodedata.unidata_version != "14.0.0":
        print("note: Python's unicodedata is", unicodedata.unidata_version, "(only used for test strings)")
    os.makedirs(OUT, exist_ok=True)

    # ghostkv-ref-23m (../shared, not committed): goldens only
    ref = Tokenizer.from_file(os.path.join(SHARED, "models", "ghostkv-ref-23m", "tokenizer.json"))
    write_goldens(os.path.join(OUT, "ref23m_goldens.tsv"), ref, cases(["<|endoftext|>"], 1, 20000), 11,
                  [("bytes_invalid", [ref.token_to_id(c) for c in ["\u0120", "\u00e4", "\u00b8"]]),
                   ("eot_text", [0, 100, 0, 200])])

    # Llama-3 pattern
    l3_special = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok = make_byte_level("llama3_tiny", LLAMA3_RE, l3_special, 700, ignore_merges=True)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False, special=True)])
    tok.add_tokens([AddedToken("<sw>", single_word=True, normalized=False, special=False)])
    bot = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                      special_tokens=[("<|begin_of_text|>", bot)])])
    path = save(tok, "llama3_tiny")
    tok = Tokenizer.from_file(path)
    extra = [("mask_ws", "a  <mask>  b"), ("mask_edge", "<mask>x<mask>"), ("sw_word", "a <sw> b"),
             ("sw_glued", "a<sw>b"), ("sw_edge", "<sw>"), ("sw_punct", "(<sw>)"), ("mask_nl", "x\n<mask>\ny")]
    write_goldens(os.path.join(OUT, "llama3_tiny", "goldens.tsv"), tok, cases(l3_special + ["<mask>"], 2) + extra, 12)

    # Qwen2 pattern, NFC, normalized and non-special added tokens
    q_special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = make_byte_level("qwen2_tiny", QWEN2_RE, q_special, 700, nfc=True)
    tok.add_tokens([AddedToken("<tool_call>", normalized=False, special=False),
                    AddedToken("\u03a9mega", normalized=True, special=False)])
    path = save(tok, "qwen2_tiny")
    tok = Tokenizer.from_file(path)
    extra = [("tool", "call <tool_call>{json}</tool_call>"), ("omega_greek", "x \u03a9mega y"),
             ("omega_ohm_nfc", "x \u2126mega y"), ("nfc_compose", "e\u0301 A\u030a \u1100\u1161\u11a8"),
             ("chat", "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n")]
    write_goldens(os.path.join(OUT, "qwen2_tiny", "goldens.tsv"), tok, cases(q_special, 3) + extra, 13)

    # SmolLM form: Digits(individual) + ByteLevel(use_regex)
    s_special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = make_byte_level("smollm_tiny", None, s_special, 600, digits=True)
    path = save(tok, "smollm_tiny")
    tok = Tokenizer.from_file(path)
    write_goldens(os.path.join(OUT, "smollm_tiny", "goldens.tsv"), tok, cases(s_special, 4), 14)

    make_llama2()
    make_stories260k()
    make_unicode_goldens()


# ---------------------------------------------------------------- Llama-2 sentencepiece form

def make_llama2():
    # 1. learn merges on "▁word" pieces (sentencepiece splits by whitespace when training)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SP), normalizers.Replace(" ", SP)])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SP, prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(train_corpus(), trainer=trainer)
    trained = json.loads(tok.to_str())["model"]
    tv, tm = trained["vocab"], trained["merges"]
    # 2. a sentencepiece-style vocabulary: specials, 256 byte tokens, merged pieces by score
    #    (= -merge index), then the single characters below every merge
    pieces, types, scores = ["<unk>", "<s>", "</s>"], [2, 3, 3], [0.0, 0.0, 0.0]
    for b in range(256):
        pieces.append("<0x%02X>" % b), types.append(6), scores.append(0.0)
    seen = set(pieces)
    merged = []
    for a, b in tm:
        if a + b not in seen:
            seen.add(a + b)
            merged.append(a + b)
    chars = [t for t, _ in sorted(tv.items(), key=lambda kv: kv[1]) if t not in seen and len(t) == 1]
    for k, p in enumerate(merged):
        pieces.append(p), types.append(1), scores.append(-float(k))
    for k, p in enumerate(chars):
        seen.add(p)
        pieces.append(p), types.append(1), scores.append(-float(len(merged) + k))
    vocab = {p: i for i, p in enumerate(pieces)}
    # 3. merges as transformers' SentencePieceExtractor derives them from scores: for each normal
    #    piece every split into two normal pieces, ordered by the piece's score, then by the ids
    normal = {p for p, t in zip(pieces, types) if t == 1}
    merges = []
    for p, t, sc in zip(pieces, types, scores):
        if t != 1:
            continue
        local = [(p[:i], p[i:], sc) for i in range(1, len(p)) if p[:i] in normal and p[i:] in normal]
        merges.extend(sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]])))
    merges = [[a, b] for a, b, _ in sorted(merges, key=lambda m: m[2], reverse=True)]
    added = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, p in enumerate(pieces[:3])]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
              "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SP},
                                                                 {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
              "pre_tokenizer": None, "post_processor": template,
              "decoder": {"type": "Sequence", "decoders": [
                  {"type": "Replace", "pattern": {"String": SP}, "content": " "}, {"type": "ByteFallback"},
                  {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": model}
    # the newer form (transformers' LlamaConverter with legacy=False): no normalizer, a Metaspace
    # pre-tokenizer; here with split=true and a Metaspace decoder in its older add_prefix_space spelling
    meta = dict(legacy)
    meta["normalizer"] = None
    meta["pre_tokenizer"] = {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": True}
    meta["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": SP, "add_prefix_space": True}, {"type": "ByteFallback"}, {"type": "Fuse"}]}
    specials = ["<s>", "</s>", "<unk>"]
    byte_seq = [3 + b for b in "\u00e9\U0001f600".encode()]
    extra_dec = [("bytes_ok", byte_seq), ("bytes_cut", byte_seq[:-1] + [vocab["a"]] + byte_seq[1:]),
                 ("bos_text", [1, vocab[SP + "the"] if SP + "the" in vocab else 300, 2]), ("lone_space", [vocab[SP]])]
    for name, doc in (("llama2_tiny", legacy), ("llama2_metaspace_tiny", meta)):
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        tok = Tokenizer.from_file(path)
        extra = [("lead_space", " Hello"), ("two_spaces", "a  b"), ("sp_lead", "<s>Hello"), ("sp_then_space", "<s> Hello"),
                 ("unk_chars", "\u4e2d\u6587 \U0001f600 done")]
        write_goldens(os.path.join(d, "goldens.tsv"), tok, cases(specials, 5) + extra, 15, extra_dec)
    with open(os.path.join(OUT, "llama2_tiny", "spm_vocab.tsv"), "w", encoding="utf-8") as f:
        f.write("# id\ttype (GGUF: 1 normal, 2 unknown, 3 control, 6 byte)\tscore\ttoken as hex of UTF-8\n")
        for i, (p, t, sc) in enumerate(zip(pieces, types, scores)):
            f.write("%d\t%d\t%r\t%s\n" % (i, t, sc, hx(p)))


# ---------------------------------------------------------------- llama2.c

def read_llama2c(path, n_vocab):
    d = open(path, "rb").read()
    off = 4
    vocab, scores = [], []
    for _ in range(n_vocab):
        sc, ln = struct.unpack_from("<fi", d, off)
        off += 8
        vocab.append(d[off:off + ln])
        scores.append(sc)
        off += ln
    return vocab, scores


def llama2c_encode(vocab, scores, text, bos, eos):
    """karpathy/llama2.c run.c encode(), statement by statement (text: bytes, a C string)."""
    import bisect
    sorted_vocab = sorted((s, i) for i, s in enumerate(vocab))  # qsort by strcmp
    keys = [s for s, _ in sorted_vocab]

    def str_lookup(s):  # bsearch
        k = bisect.bisect_left(keys, s)
        return sorted_vocab[k][1] if k < len(keys) and keys[k] == s else -1

    tokens = []
    if bos:
        tokens.append(1)
    if text != b"":  # add_dummy_prefix
        tokens.append(str_lookup(b" "))
    str_buffer = b""
    for i, c in enumerate(text):
        if (c & 0xC0) != 0x80:
            str_buffer = b""
        str_buffer += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else 0  # the terminating '\0'
        if (nxt & 0xC0) == 0x80 and len(str_buffer) < 4:
            continue
        tid = str_lookup(str_buffer)
        if tid != -1:
            tokens.append(tid)
        else:
            for b in str_buffer:  # byte_fallback: the first 3 vocab elements are <unk>, <s>, </s>
                tokens.append(b + 3)
        str_buffer = b""
    best_floor = struct.unpack("<f", struct.pack("<f", -1e10))[0]
    while True:
        best_score, best_id, best_idx = best_floor, -1, -1
        for i in range(len(tokens) - 1):
            tid = str_lookup(vocab[tokens[i]] + vocab[tokens[i + 1]])
            if tid != -1 and scores[tid] > best_score:
                best_score, best_id, best_idx = scores[tid], tid, i
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    if eos:
        tokens.append(2)
    return tokens


def make_stories260k():
    path = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
    vocab, scores = read_llama2c(path, 512)
    lines = ["# ids from a line-by-line Python re-implementation of llama2.c run.c encode() (no peer library exists)"]
    fixed = [("once", "Once upon a time"), ("once_more", "Once upon a time, there was a little girl named Lily."),
             ("lily", "Lily and Tom went to the park. They saw a big dog!"), ("quote", '"Hi," said Mom. "Let\'s go."')]
    all_cases = fixed + [(n, t) for n, t in cases([], 6) if "\x00" not in t and len(t) <= 3000]
    for name, text in all_cases:
        b = text.encode("utf-8")
        lines.append("\t".join(["E", name, text_col(text), " ".join(map(str, llama2c_encode(vocab, scores, b, False, False)))]))
    rng = random.Random(16)
    for k in range(30):  # arbitrary bytes, also invalid UTF-8: run.c is byte-based
        b = bytes(rng.choice([rng.randrange(1, 256), rng.randrange(0x80, 0xC0), ord(rng.choice("ab ."))])
                  for _ in range(rng.randint(1, 12)))
        lines.append("\t".join(["E", "bytes%02d" % k, b.hex(), " ".join(map(str, llama2c_encode(vocab, scores, b, False, False)))]))
    with open(os.path.join(OUT, "stories260k_goldens.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- regex pieces, NFC

def make_unicode_goldens():
    lines = ["# HF tokenizers %s: Split(Regex, 'isolated') pieces and normalizers.NFC" % tokenizers.__version__]
    texts = [t for _, t in cases(["<|endoftext|>"], 7) if len(t) < 400]
    rng = random.Random(17)
    for _ in range(200):  # dense mixes of the classes the alternatives distinguish
        pool = ["a", "Z", "\u00e9", "\u4e00", "1", "\u0663", "\u00bd", " ", "  ", "\t", "\n", "\r", "\u00a0", "\u3000",
                "'", "s", "S", "t", "re", "RE", "ve", "ll", "LL", "d", "m", "\u017f", ".", "!", "(", "\U0001f600",
                "\u0301", "\x0b", "\x1c", "\u2028", "\u0085"]
        texts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 16))))
    for name, re in (("gpt2", GPT2_RE), ("llama3", LLAMA3_RE), ("qwen2", QWEN2_RE)):
        split = pre_tokenizers.Split(Regex(re), behavior="isolated", invert=False)
        for t in texts:
            pieces = [p for p, _ in split.pre_tokenize_str(t)]
            assert "".join(pieces) == t
            lines.append("\t".join(["P", name, hx(t), ",".join(hx(p) for p in pieces)]))
    nfc = normalizers.NFC()
    combining = ["\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u0323", "\u0327", "\u0328", "\u031b",
                 "\u0345", "\u05b7", "\u093c", "\u3099", "\u309a", "\u0f71", "\u0f72"]
    bases = ["a", "A", "e", "o", "u", "c", "s", "\u03b1", "\u03c9", "\u0438", "\u304b", "\u30cf", "\u0915", "\u1100",
             "\u1161", "\u11a8", "\uac00", "\u00c5", "\u212b", "\u1e0b", "\u0f40"]
    nfc_texts = texts[:]
    for _ in range(300):
        t = "".join(rng.choice(bases) + "".join(rng.choice(combining) for _ in range(rng.randint(0, 3)))
                    for _ in range(rng.randint(1, 4)))
        nfc_texts.append(t)
    nfc_texts += ["".join(chr(c) for c in range(k, k + 32)) for k in range(0xC0, 0x250, 32)]
    nfc_texts += ["\u1100\u1161\u11a8\u1100\u1161", "\uac00\u11a8", "\u0344\u0301"]
    for t in nfc_texts:
        lines.append("\t".join(["N", hx(t), hx(nfc.normalize_str(t))]))
    with open(os.path.join(OUT, "unicode_goldens.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
