// llama2.c legacy (v0) checkpoint reader. Layout (karpathy/llama2.c run.c, export.py legacy_export):
//   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len (little-endian), then float32
//   token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
//   wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden],
//   w3 [L, hidden, dim], rms_final [dim], freq_cis_real/imag [seq_len, head_size/2] each (unused),
//   wcls [vocab, dim] only when vocab_size < 0 (otherwise the classifier is the embedding).
// w1 is the gate, w3 the up projection: FFN(x) = w2 (silu(w1 x) ⊙ w3 x).
// The file size must match these dimensions exactly; it is checked before anything is allocated.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ghostkv/error.h"
#include "ghostkv/model/weights.h"

namespace ghostkv {

namespace {

// llama2.c's version-1/2 exports start with this uint32 magic ("ak42") instead of v0's dims.
constexpr uint32_t kLlama2cMagic = 0x616b3432;

class FloatReader {
 public:
  FloatReader(std::ifstream& f, const std::string& path) : f_(f), path_(path) {}
  std::vector<float> read(int64_t n, const char* what) {
    std::vector<float> v(static_cast<size_t>(n));
    f_.read(reinterpret_cast<char*>(v.data()), n * 4);
    GKV_CHECK(f_.gcount() == n * 4, path_, ": short read of ", what, " (", n, " floats)");
    return v;
  }
  void skip(int64_t n) { f_.seekg(n * 4, std::ios::cur); }

 private:
  std::ifstream& f_;
  const std::string& path_;
};

}  // namespace

LlamaWeights load_llama2c(const std::string& path) {
  std::error_code ec;
  GKV_CHECK(std::filesystem::is_regular_file(path, ec), path, ": no such file (expected a llama2.c .bin)");
  const int64_t file_bytes = int64_t(std::filesystem::file_size(path, ec));
  GKV_CHECK(!ec, path, ": cannot stat file: ", ec.message());
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open file");
  GKV_CHECK(file_bytes >= 28, path, ": file is ", file_bytes, " bytes, a llama2.c checkpoint needs at least a 28-byte header");
  int32_t h[7];
  f.read(reinterpret_cast<char*>(h), sizeof h);
  GKV_CHECK(f.gcount() == sizeof h, path, ": short read of the header");
  GKV_CHECK(uint32_t(h[0]) != kLlama2cMagic, path,
            ": llama2.c version 1/2 export (magic \"ak42\"); only the legacy v0 layout is supported "
            "(export with --version 0)");
  const int64_t dim = h[0], hidden = h[1], n_layer = h[2], n_head = h[3], n_kv = h[4], vocab_signed = h[5], seq_len = h[6];
  const bool shared = vocab_signed > 0;
  const int64_t vocab = shared ? vocab_signed : -vocab_signed;
  const std::string dims = str_cat("(dim ", dim, ", hidden ", hidden, ", layers ", n_layer, ", heads ", n_head,
                                   ", kv heads ", n_kv, ", vocab ", vocab_signed, ", seq_len ", seq_len, ")");
  GKV_CHECK(dim > 0 && hidden > 0 && n_layer > 0 && n_head > 0 && n_kv > 0 && vocab > 0 && seq_len > 0, path,
            ": header dims ", dims, ", expected all positive (vocab may be negative: separate classifier)");
  GKV_CHECK(dim % n_head == 0, path, ": dim ", dim, " is not a multiple of n_heads ", n_head);
  GKV_CHECK(n_head % n_kv == 0, path, ": n_heads ", n_head, " is not a multiple of n_kv_heads ", n_kv);
  const int64_t head = dim / n_head, kv_dim = n_kv * head;
  GKV_CHECK(head % 2 == 0, path, ": head size ", head, ", expected even (RoPE rotates pairs)");

  ModelConfig c;
  c.arch = "llama";
  c.source = path;
  c.d_model = dim;
  c.n_layer = n_layer;
  c.n_head_q = n_head;
  c.n_head_kv = n_kv;
  c.d_head = head;
  c.d_ff = hidden;
  c.n_vocab = vocab;
  c.max_pos = seq_len;
  c.norm_eps = 1e-5;  // run.c rmsnorm
  c.rope_theta = 10000;
  c.rope_style = RopeStyle::adjacent;
  c.tie_embeddings = shared;
  c.bos_id = 1;
  c.eos_id = 2;
  c.validate();

  // All factors are < 2^31, so the products fit easily in 128 bits.
  const __int128 L = n_layer;
  const __int128 n_floats = __int128(vocab) * dim + L * dim + L * dim * dim + 2 * L * kv_dim * dim + L * dim * dim +
                            L * dim + 3 * L * hidden * dim + dim + __int128(seq_len) * (head / 2) * 2 +
                            (shared ? 0 : __int128(vocab) * dim);
  const __int128 want_bytes = 28 + 4 * n_floats;
  GKV_CHECK(want_bytes == file_bytes, path, ": file is ", file_bytes, " bytes, header dims ", dims, " imply ",
            int64_t(want_bytes > INT64_MAX ? INT64_MAX : want_bytes), " bytes",
            (want_bytes > file_bytes ? " (truncated, or wrong dims)" : " (trailing bytes, or wrong dims)"));

  LlamaWeights w;
  w.cfg = c;
  FloatReader r(f, path);
  w.embed = r.read(vocab * dim, "token_embedding");
  w.layers.resize(size_t(n_layer));
  for (auto& l : w.layers) l.attn_norm = r.read(dim, "rms_att");
  for (auto& l : w.layers) l.wq = r.read(dim * dim, "wq");
  for (auto& l : w.layers) l.wk = r.read(kv_dim * dim, "wk");
  for (auto& l : w.layers) l.wv = r.read(kv_dim * dim, "wv");
  for (auto& l : w.layers) l.wo = r.read(dim * dim, "wo");
  for (auto& l : w.layers) l.ffn_norm = r.read(dim, "rms_ffn");
  for (auto& l : w.layers) l.w_gate = r.read(hidden * dim, "w1");
  for (auto& l : w.layers) l.w_down = r.read(dim * hidden, "w2");
  for (auto& l : w.layers) l.w_up = r.read(hidden * dim, "w3");
  w.final_norm = r.read(dim, "rms_final");
  r.skip(seq_len * (head / 2) * 2);  // freq_cis_real, freq_cis_imag
  if (!shared) w.lm_head = r.read(vocab * dim, "wcls");
  return w;
}

}  // namespace ghostkv
