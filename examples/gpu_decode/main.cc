// One decode step on the GPU with certified elimination, from a paged bf16 KV cache.
//
//   ghostkv_gpu_example [N_TOKENS [FAR_SHARE [STEPS]]]   (default 32768, 0.5 and 400 adaptive steps; built with the
//                                                          kernels: GHOSTKV_CUDA; an H100/H200 to run)
//
// One sequence, 32 query heads over 8 KV heads, d_head 128. The keys have a mean and a decaying spectrum, and a share
// FAR_SHARE of the pages (none holding a hot token; page p where frac(p·0.618..) < FAR_SHARE) lies far below the
// queries, so the certified policy has pages to eliminate.
// The steps a caller takes:
//   1. the paged cache: K and V in bf16 at [physical page, KV head, slot, d], a page table per sequence;
//   2. the witness per KV head: a basis fitted on the keys (the CPU library's fit_basis), the int8 records
//      (build_quant, one scale group per page), packed into the device's page layout (pack_quant_pages);
//   3. DecodeParams: the arrays, the shapes, δ, a workspace of workspace_bytes(p);
//   4. ghost_decode: the output and one certificate per query head; dense_decode: the same step over every token;
//   5. step after step, AdaptiveDecoder (adaptive.h): the ghost path where the earlier steps show it pays, dense
//      where they do not, a certificate per query head either way.
// It prints, per query head, the tokens attended, the certificate's mass and output-error bounds and the distance
// between the ghost and the dense outputs, and exits 1 if that distance exceeds the output bound plus float32
// rounding (1e-4 of the dense output's norm): the certificate's promise, checked on this step; then the adaptive
// steps' paths and time per step against the ghost path's and dense's alone, and checks the last adaptive step's
// certificates the same way.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "adaptive.h"
#include "decode.h"
#include "ghostkv/basis.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "ghostkv/witness.h"
#include "pack.h"

namespace gc = ghostkv::cuda;

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "ghostkv_gpu_example: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}
#define CK(x) check_cuda((x), #x)

template <class T>
T* upload(const std::vector<T>& h) {
  T* d = nullptr;
  CK(cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(T)));
  CK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <class T>
std::vector<T> download(const T* d, size_t n) {
  std::vector<T> h(n);
  CK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}


}  // namespace

int main(int argc, char** argv) try {
  const int n = argc > 1 ? std::atoi(argv[1]) : 32768;
  const double far_share = argc > 2 ? std::atof(argv[2]) : 0.5;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 400;
  if (argc > 4 || n < 256 || n > (1 << 20) || !(far_share >= 0.0 && far_share <= 1.0) || steps < 8 || steps > 100000) {
    std::fprintf(stderr, "usage: ghostkv_gpu_example [N_TOKENS [FAR_SHARE [STEPS]]]   (256 to 1048576 tokens, a share in "
                         "[0, 1], 8 to 100000 adaptive steps)\n");
    return 2;
  }
  constexpr int Hq = 32, Hkv = 8, G = Hq / Hkv, d = 128;
  const int pages = (n + gc::kPage - 1) / gc::kPage;
  const double scale = 1.0 / std::sqrt(double(d));
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;

  // 1. the paged cache. Logical page p sits at physical page table[p] (scattered, as a cache's allocator leaves them).
  std::vector<int32_t> table(static_cast<size_t>(pages));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<float> q(size_t(Hq) * d);
  for (float& x : q) x = float(normal(rng));
  std::vector<uint16_t> kc(size_t(pages) * Hkv * gc::kPage * d), vc(kc.size());
  auto row = [&](int g, int t) { return ((size_t(table[size_t(t / gc::kPage)]) * Hkv + g) * gc::kPage + t % gc::kPage) * d; };
  std::vector<std::vector<float>> keys(Hkv), vals(Hkv);  // per KV head, [n, d] float (the bf16 values), for step 2
  for (int g = 0; g < Hkv; ++g) {
    std::vector<double> mu(d), sd(d), away(d, 0.0);
    for (int j = 0; j < d; ++j) mu[size_t(j)] = 0.5 * normal(rng), sd[size_t(j)] = 2.0 * std::exp(-j / 24.0) + 0.25;
    for (int h = 0; h < G; ++h) {  // away: minus the group's query directions, scores about 60 lower
      const float* qh = &q[size_t(g * G + h) * d];
      double nn = 0;
      for (int j = 0; j < d; ++j) nn += double(qh[j]) * qh[j];
      for (int j = 0; j < d; ++j) away[size_t(j)] -= 60.0 / (scale * std::sqrt(double(d))) * qh[j] / std::sqrt(nn);
    }
    keys[size_t(g)].resize(size_t(n) * d);
    vals[size_t(g)].resize(size_t(n) * d);
    for (int t = 0; t < n; ++t) {
      const int p = t / gc::kPage;
      const double u = std::fmod(p * 0.6180339887498949, 1.0);  // the pages' shares spread along the sequence
      const bool far = u < far_share && p * gc::kPage >= 4 && (p + 1) * gc::kPage <= n - 64;  // no sink, no recent token
      for (int j = 0; j < d; ++j) {
        const uint16_t kb = ghostkv::f32_to_bf16(float(mu[size_t(j)] + sd[size_t(j)] * normal(rng) + (far ? away[size_t(j)] : 0.0)));
        const uint16_t vb = ghostkv::f32_to_bf16(float(normal(rng)));
        kc[row(g, t) + size_t(j)] = kb;
        vc[row(g, t) + size_t(j)] = vb;
        keys[size_t(g)][size_t(t) * d + size_t(j)] = ghostkv::bf16_to_f32(kb);
        vals[size_t(g)][size_t(t) * d + size_t(j)] = ghostkv::bf16_to_f32(vb);
      }
    }
  }

  // 2. the witness: per KV head a PCA basis, int8 records in groups of one page, packed into the page layout
  const ghostkv::BitSpec bits = ghostkv::parse_bits("8", d);
  const int k8 = gc::witness_k8(8, -1, d);
  std::vector<uint8_t> codes(size_t(pages) * Hkv * gc::kPage * size_t(gc::witness_code_bytes(k8, d)));
  std::vector<uint16_t> meta(size_t(pages) * Hkv * 2 * d);
  std::vector<uint8_t> box(size_t(pages) * Hkv * 2 * d);
  std::vector<float> nu_max(size_t(pages) * Hkv), rot(size_t(Hkv) * d * d), mu(size_t(Hkv) * d), resid(Hkv), kmax(Hkv);
  for (int g = 0; g < Hkv; ++g) {
    const std::vector<float>& kf = keys[size_t(g)];
    const ghostkv::Basis basis = ghostkv::fit_basis(ghostkv::BasisKind::pca, kf.data(), n, d, d, d, 7);
    const ghostkv::QuantRecords rec = ghostkv::build_quant(basis, bits, gc::kPage, n, kf.data(), vals[size_t(g)].data(), n, d);
    if (gc::pack_quant_pages(rec, n, table.data(), pages, Hkv, g, codes.data(), meta.data(), box.data(), nu_max.data()) != k8)
      throw ghostkv::Error("the records' widths are not the int8 layout");
    std::copy(basis.vecs.begin(), basis.vecs.end(), rot.begin() + ptrdiff_t(g) * d * d);
    std::copy(basis.mu.begin(), basis.mu.end(), mu.begin() + ptrdiff_t(g) * d);
    double km = 0;
    for (int t = 0; t < n; ++t) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += double(kf[size_t(t) * d + size_t(j)]) * kf[size_t(t) * d + size_t(j)];
      km = std::max(km, std::sqrt(s));
    }
    resid[size_t(g)] = ghostkv::f32_round_up(rec.resid_max);  // bounds on the device are float32: both rounded up
    kmax[size_t(g)] = ghostkv::f32_round_up(km * (1 + 1e-12));
  }

  // 3. the parameters: device arrays, shapes, δ, the workspace
  const std::vector<int32_t> seq_len = {n};
  gc::check_page_table(table.data(), seq_len.data(), 1, pages, n, pages);
  gc::DecodeParams p;
  p.batch = 1, p.n_head_q = Hq, p.n_head_kv = Hkv, p.d = d, p.bits = 8;
  p.max_pages = pages, p.max_seq = n;
  p.scale = float(scale), p.scale64 = scale, p.delta = 1e-3;
  p.splits = gc::default_splits(1, Hkv);
  p.k_cache = upload(kc), p.v_cache = upload(vc), p.codes = upload(codes), p.meta = upload(meta), p.nu_max = upload(nu_max);
  p.page_table = upload(table), p.seq_len = upload(seq_len);
  p.rot = upload(rot), p.mu = upload(mu), p.resid_max = upload(resid), p.k_norm_max = upload(kmax), p.q = upload(q);
  void* work = nullptr;
  CK(cudaMalloc(&work, size_t(gc::workspace_bytes(p))));
  p.work = work;
  float *out = nullptr, *out_dense = nullptr;
  gc::Certificate* cert = nullptr;
  CK(cudaMalloc(&out, size_t(Hq) * d * 4));
  CK(cudaMalloc(&out_dense, size_t(Hq) * d * 4));
  CK(cudaMalloc(&cert, size_t(Hq) * sizeof(gc::Certificate)));
  p.out = out, p.cert = cert;

  // 4. the step: ghost path, then dense over every token (its own outputs, no certificate)
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  gc::ghost_decode(p, st);
  gc::DecodeParams pd = p;
  pd.out = out_dense, pd.cert = nullptr;
  gc::dense_decode(pd, st);
  CK(cudaStreamSynchronize(st));
  const std::vector<float> o = download(out, size_t(Hq) * d), od = download(out_dense, size_t(Hq) * d);
  const std::vector<gc::Certificate> c = download(cert, size_t(Hq));

  // warm-cache timing of both paths (indicative only: ghostkv_gpu_bench times them from a cold L2, as docs/gpu.md reports)
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  auto time_us = [&](auto&& step) {
    std::vector<float> t;
    for (int i = 0; i < 23; ++i) {
      CK(cudaEventRecord(e0, st));
      step();
      CK(cudaEventRecord(e1, st));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      if (i >= 3) t.push_back(ms * 1000);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const double t_ghost = time_us([&] { gc::ghost_decode(p, st); }), t_dense = time_us([&] { gc::dense_decode(pd, st); });

  std::printf("one decode step: %d tokens, %d query heads over %d KV heads, d %d, int8 witness, delta %g, far pages %g\n",
              n, Hq, Hkv, d, p.delta, far_share);
  std::printf("head  attended  mass_bound  out_err_bound  |ghost - dense|\n");
  // heads whose output is further from the dense output than their certificate allows (or not certified)
  auto outside = [&](const std::vector<float>& out_h, const std::vector<gc::Certificate>& cert_h, bool print) {
    int bad = 0;
    for (int h = 0; h < Hq; ++h) {
      double e2 = 0, r2 = 0;
      for (int j = 0; j < d; ++j) {
        const double x = double(out_h[size_t(h) * d + size_t(j)]), y = double(od[size_t(h) * d + size_t(j)]);
        e2 += (x - y) * (x - y);
        r2 += y * y;
      }
      const gc::Certificate& ch = cert_h[size_t(h)];
      const double dist = std::sqrt(e2), slack = 1e-4 * std::sqrt(r2) + 1e-6;
      const bool ok = ch.flags == 0 && dist <= ch.out_err_bound + slack;
      bad += !ok;
      if (print)
        std::printf("%4d  %8d  %10.3e  %13.3e  %15.3e%s\n", h, ch.n_attended, ch.mass_bound, ch.out_err_bound, dist,
                    ok ? "" : "  above the bound");
    }
    return bad;
  };
  int bad = outside(o, c, true);
  double attended = 0;
  for (int h = 0; h < Hq; ++h) attended += c[size_t(h)].n_attended;
  std::printf("attended %.1f%% of the tokens on average; step %.1f us (ghost) against %.1f us (dense), warm L2\n",
              100.0 * attended / (double(Hq) * n), t_ghost, t_dense);
  std::printf("%s\n", bad ? "FAILED: a head's output is further from the dense output than its certificate allows"
                          : "every head within its certificate");

  // 5. step after step: the adaptive decoder, against each path alone (steps launched back to back, warm L2)
  auto loop_us = [&](auto&& one) {
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < steps; ++i) one();
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    return 1e3 * ms / steps;
  };
  const double l_ghost = loop_us([&] { gc::ghost_decode(p, st); }), l_dense = loop_us([&] { gc::dense_decode(pd, st); });
  gc::AdaptiveDecoder ad(p);
  int n_ghost = 0;
  gc::DecodePath last = gc::DecodePath::ghost;
  const double l_adapt = loop_us([&] {
    last = ad.step(p, st);
    n_ghost += last == gc::DecodePath::ghost;
  });
  const std::vector<float> oa = download(out, size_t(Hq) * d);
  const std::vector<gc::Certificate> ca = download(cert, size_t(Hq));
  const int bad_a = outside(oa, ca, false);
  const gc::AdaptiveRule& rule = ad.rule();
  std::printf("adaptive: %d steps, %d ghost and %d dense (times observed: %lld ghost, %lld dense; ghost %.1f us, dense %.1f "
              "us, predicted ratio %.3f); %.1f us per step against %.1f (ghost path alone) and %.1f (dense alone), warm L2\n",
              steps, n_ghost, steps - n_ghost, (long long)ad.observed(gc::DecodePath::ghost),
              (long long)ad.observed(gc::DecodePath::dense), rule.ghost_us(), rule.dense_us(), rule.predicted_ratio(), l_adapt,
              l_ghost, l_dense);
  std::printf("last adaptive step (%s): %s\n", last == gc::DecodePath::ghost ? "ghost" : "dense",
              bad_a ? "FAILED: a head outside its certificate" : "every head within its certificate");
  return bad || bad_a ? 1 : 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ghostkv_gpu_example: %s\n", e.what());
  return 2;
}
