// The CUDA path from the installed package (find_package(ghostkv), ghostkv::ghostkv_cuda): the host side of its API,
// which needs no GPU: the workspace a step needs, the witness page layout, the adaptive rule's first choices and
// GhostCache's refusal of a non-finite key (before any CUDA call).
// examples/gpu_decode is a whole step.
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <ghostkv/cuda/adaptive.h>
#include <ghostkv/cuda/cache.h>
#include <ghostkv/cuda/decode.h>
#include <ghostkv/cuda/pack.h>

int main() {
  namespace gc = ghostkv::cuda;
  gc::DecodeParams p;  // 1 × 32 query heads over 8 KV heads, d 128, int8 witness
  p.max_seq = 131072;
  p.max_pages = p.max_seq / gc::kPage;
  p.splits = 16;
  const long long ws = static_cast<long long>(gc::workspace_bytes(p));
  const int k8 = gc::witness_k8(p.bits, p.n8, p.d), cb = gc::witness_code_bytes(k8, p.d);
  std::printf("workspace for 1 x %d tokens: %lld bytes; int8 witness: %d code bytes per token\n", p.max_seq, ws, cb);
  // the adaptive rule (host-only): its warm-up takes each path twice, ghost first
  gc::AdaptiveRule rule(gc::witness_bytes_per_token(p), gc::kv_bytes_per_token(p));
  const bool warm = rule.choose() == gc::DecodePath::ghost && rule.choose() == gc::DecodePath::dense;
  std::printf("adaptive rule: %.2f witness bytes per token against %.0f K, V bytes; warm-up %s\n",
              gc::witness_bytes_per_token(p), gc::kv_bytes_per_token(p), warm ? "ghost, dense" : "unexpected");
  // GhostCache (cache.h): a non-finite key is refused, named, before anything touches the device
  std::vector<float> k(100 * 128, 0.5f), v(100 * 128, 0.25f);
  k[3 * 128 + 9] = NAN;
  std::string why;
  try {
    gc::GhostCache c(k.data(), v.data(), 100, 1, 128);
  } catch (const std::invalid_argument& e) {
    why = e.what();
  }
  const bool named = why.find("key nan at token 3, KV head 0, component 9") != std::string::npos;
  std::printf("GhostCache: %s\n", named ? why.c_str() : "the non-finite key was not named");
  return ws > 0 && cb == 128 && warm && named ? 0 : 1;
}
