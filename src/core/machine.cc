#include "ghostkv/machine.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "ghostkv/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ghostkv {

std::string MachineCeilings::describe() const {
  return str_cat("sgemm ", sgemm_gflops, " GFLOP/s, read ", read_gbps, " GB/s, copy ", copy_gbps, " GB/s, ", threads,
                 " threads");
}

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

MachineCeilings measure_machine(int64_t n, int64_t stream_mib) {
  MachineCeilings m;
#ifdef _OPENMP
  m.threads = omp_get_max_threads();
#else
  m.threads = 1;
#endif
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(size_t(n * n)), b(size_t(n * n)), c(size_t(n * n));
  for (auto& x : a) x = u(rng);
  for (auto& x : b) x = u(rng);
  double best = 1e30;
  for (int rep = 0; rep < 4; ++rep) {  // first run warms up BLAS threads
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(n), int(n), 1.0f, a.data(), int(n), b.data(),
                int(n), 0.0f, c.data(), int(n));
    if (rep > 0) best = std::min(best, seconds_since(t0));
  }
  m.sgemm_gflops = 2.0 * double(n) * double(n) * double(n) / best / 1e9;
  // STREAM-like read (sum) and copy over a buffer far beyond the last-level cache
  const int64_t count = stream_mib * (1 << 20) / int64_t(sizeof(float));
  std::vector<float> s(static_cast<size_t>(count)), t(static_cast<size_t>(count));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) s[size_t(i)] = float(i & 1023), t[size_t(i)] = 0.0f;
  double best_read = 1e30, best_copy = 1e30;
  volatile float sink = 0;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    float acc = 0;
    // 16 independent partial sums per thread, so that the loop is bound by memory, not add latency
#pragma omp parallel for schedule(static) reduction(+ : acc)
    for (int64_t blk = 0; blk < count / 16; ++blk) {
      float part[16];
      const float* p = s.data() + blk * 16;
      for (int k = 0; k < 16; ++k) part[k] = p[k];
      float tot = 0;
      for (int k = 0; k < 16; ++k) tot += part[k];
      acc += tot;
    }
    best_read = std::min(best_read, seconds_since(t0));
    sink = sink + acc;
    t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) t[size_t(i)] = s[size_t(i)];
    best_copy = std::min(best_copy, seconds_since(t0));
  }
  m.read_gbps = double(count) * 4 / best_read / 1e9;
  m.copy_gbps = 2.0 * double(count) * 4 / best_copy / 1e9;
  return m;
}

double forward_flops(const ModelConfig& c, int64_t n_past, int64_t n, bool with_logits) {
  const double D = double(c.d_model), q = double(c.n_head_q * c.d_head), kv = double(c.n_head_kv * c.d_head);
  const double per_tok_proj = 2.0 * (D * q + 2 * D * kv + q * D + 3 * D * double(c.d_ff));
  double keys = 0;  // Σ over the n tokens of the keys each attends (causal, window-limited)
  for (int64_t i = 0; i < n; ++i) {
    int64_t seen = n_past + i + 1;
    if (c.sliding_window > 0) seen = std::min(seen, c.sliding_window);
    keys += double(seen);
  }
  const double attn = 2.0 * 2.0 * double(c.n_head_q) * double(c.d_head) * keys;  // q·k and p·v
  return double(c.n_layer) * (per_tok_proj * double(n) + attn) + (with_logits ? 2.0 * D * double(c.n_vocab) : 0.0);
}

double decode_bytes(const ModelConfig& c, int64_t n_kv, bool with_logits) {
  const double D = double(c.d_model), q = double(c.n_head_q * c.d_head), kv = double(c.n_head_kv * c.d_head);
  const double layer = 4.0 * (D * q + 2 * D * kv + q * D + 3 * D * double(c.d_ff) + 2 * D);
  const double cache = 4.0 * 2 * kv * double(n_kv);
  return double(c.n_layer) * (layer + cache) + 4.0 * D * (with_logits ? double(c.n_vocab) + 2 : 2);
}

}  // namespace ghostkv
