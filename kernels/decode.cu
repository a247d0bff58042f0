// GPU decode attention with certified elimination: prep → scan → cut → compact → attend → merge.
// Soundness (docs/gpu.md §Soundness): every quantity the certificate or a bound depends on is either
// computed with directed rounding (__f*_ru: sums of non-negative terms rounded up are ≥ the exact
// sums) or carries a γ_n·Σ|terms| slack; the γ constants are computed on the host in float64 and
// rounded up. Dot products use explicit __fmaf_rn/__fmul_rn, so the bound does not depend on the
// compiler's contraction choices (γ_n·Σ|terms| holds for any order, fused or not). This file must
// never be compiled with fast-math.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "decode.h"

namespace ghostkv::cuda {
namespace {

constexpr int kD = 128;           // d_head supported by these kernels
constexpr int kThreads = 128;

struct Consts {
  float g_q;        // γ_{d+3}·1.01: error of fl(Σ qσ̃_i x_i) (σ's rounding included), per unit Σ|terms|
  float c_scan;     // γ_{d+4}·(2^b + 2)·1.01: token scan, per unit Σ_j |q̃_rj|·h_j
  float inv_1mg2;   // 1/(1 − γ_2): ||σq|| ≤ ||qσ̃||/(1 − γ_2)
  float tiny;       // absolute term covering gradual underflow of every float32 product/sum
};

double gamma_n(double n) { return n * 0x1p-24 / (1.0 - n * 0x1p-24); }
float up_f(double x) { float f = float(x); return double(f) < x ? nextafterf(f, INFINITY) : f; }

Consts make_consts(int bits) {
  Consts c;
  c.g_q = up_f(gamma_n(kD + 3) * 1.01);
  c.c_scan = up_f(gamma_n(kD + 4) * double((1 << bits) + 2) * 1.01);
  c.inv_1mg2 = up_f(1.0 / (1.0 - gamma_n(2)));
  c.tiny = 0x1p-100f;
  return c;
}

__device__ __forceinline__ bool is_hot(int t, int n, int n_sink, int n_recent) {
  return t < n_sink || t >= n - n_recent;
}

__device__ __forceinline__ float warp_sum_rn(float x) {
  for (int o = 16; o > 0; o >>= 1) x = __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum_ru(float x) {
  for (int o = 16; o > 0; o >>= 1) x = __fadd_ru(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ double warp_sum_d(double x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool ok) {
  const uint32_t sa = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int n = ok ? 16 : 0;  // zero-fill past the end
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ int64_t kv_row(const DecodeParams& p, int b, int g, int t) {
  const int phys = p.page_table[int64_t(b) * p.max_pages + t / kPage];
  return ((int64_t(phys) * p.n_head_kv + g) * kPage + (t % kPage)) * kD;
}

__device__ __forceinline__ void bf16x8(const uint4& u, float* f) {
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// ---------------------------------------------------------------------------------------------
// prep: one block per (b, query head), 256 threads.
//   qσ̃ = fl(σ_f·q); q̃_r = fl(V qσ̃) with |q_r − q̃_r|_j ≤ Δ_j = g_q·Σ_i |V_ji||qσ̃_i| (ru);
//   qμ_hi ≥ σq·μ; nq_hi ≥ max(||σq||, ||qσ̃||); hot scores s̃_t with error ≤ ε_t = g_q·Σ|qσ̃_i k_ti|;
//   m_L = max s̃_t; Z_L = Σ e^{s̃_t − ε_t − m_L} (rounded down) ≤ Σ e^{s_t − m_L}.
// Also zeroes this head's histogram and accumulators (and the KV head's survivor count).
constexpr int kPrepThreads = 256;
__global__ void __launch_bounds__(kPrepThreads) prep_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int kWarps = kPrepThreads / 32;
  const int bq = blockIdx.x, b = bq / p.n_head_q, hq = bq % p.n_head_q;
  const int G = p.n_head_q / p.n_head_kv, g = hq / G;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int n = p.seq_len[b];
  __shared__ __align__(16) float sq[kD];
  __shared__ float red[3][kWarps];
  __shared__ float s_hot[256], e_hot[256];
  if (tid < kD) {
    const float qs = __fmul_rn(p.q[int64_t(bq) * kD + tid], p.scale);
    sq[tid] = qs;
    w.qsig[int64_t(bq) * kD + tid] = qs;
  }
  for (int i = tid; i < kHistAll; i += kPrepThreads) w.hist[int64_t(bq) * kHistAll + i] = 0u;
  __syncthreads();
  // rows of V: warp handles 16 rows, 8 loads in flight; lane covers i = 4·lane..4·lane+3
  const float4 q4 = reinterpret_cast<const float4*>(sq)[lane];
  const float* rot = p.rot + int64_t(g) * kD * kD;
#pragma unroll
  for (int r0 = warp * 16; r0 < warp * 16 + 16; r0 += 8) {
    float4 v[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) v[k] = reinterpret_cast<const float4*>(rot + int64_t(r0 + k) * kD)[lane];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      float acc = __fmul_rn(v[k].x, q4.x);
      acc = __fmaf_rn(v[k].y, q4.y, acc);
      acc = __fmaf_rn(v[k].z, q4.z, acc);
      acc = __fmaf_rn(v[k].w, q4.w, acc);
      float aa = __fmul_ru(fabsf(v[k].x), fabsf(q4.x));
      aa = __fmaf_ru(fabsf(v[k].y), fabsf(q4.y), aa);
      aa = __fmaf_ru(fabsf(v[k].z), fabsf(q4.z), aa);
      aa = __fmaf_ru(fabsf(v[k].w), fabsf(q4.w), aa);
      acc = warp_sum_rn(acc);
      aa = warp_sum_ru(aa);
      if (lane == 0) {
        w.qrot[int64_t(bq) * kD + r0 + k] = acc;
        w.qdelta[int64_t(bq) * kD + r0 + k] = __fmul_ru(c.g_q, aa);
      }
    }
  }
  // qμ and ||qσ̃|| (warps 0-3 cover the 128 components)
  if (warp < 4) {
    const float qs = sq[tid], mu = p.mu[int64_t(g) * kD + tid];
    const float a = warp_sum_rn(__fmul_rn(qs, mu));
    const float aa = warp_sum_ru(__fmul_ru(fabsf(qs), fabsf(mu)));
    const float nn = warp_sum_ru(__fmul_ru(qs, qs));
    if (lane == 0) { red[0][warp] = a; red[1][warp] = aa; red[2][warp] = nn; }
  }
  // hot tokens: warp per token, 4 in flight
  const int hot_lo = min(p.n_sink, n), hot_hi0 = max(n - p.n_recent, hot_lo);
  const int n_hot = min(256, hot_lo + (n - hot_hi0));
  for (int i0 = warp * 4; i0 < n_hot; i0 += kWarps * 4) {
    uint2 kk[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int i = i0 + u;
      const int t = i < hot_lo ? i : hot_hi0 + (i - hot_lo);
      kk[u] = i < n_hot ? reinterpret_cast<const uint2*>(p.k_cache + kv_row(p, b, g, t))[lane] : make_uint2(0u, 0u);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const float k0 = __uint_as_float(kk[u].x << 16), k1 = __uint_as_float(kk[u].x & 0xffff0000u);
      const float k2 = __uint_as_float(kk[u].y << 16), k3 = __uint_as_float(kk[u].y & 0xffff0000u);
      float sc = __fmul_rn(q4.x, k0);
      sc = __fmaf_rn(q4.y, k1, sc);
      sc = __fmaf_rn(q4.z, k2, sc);
      sc = __fmaf_rn(q4.w, k3, sc);
      float e = __fmul_ru(fabsf(q4.x), fabsf(k0));
      e = __fmaf_ru(fabsf(q4.y), fabsf(k1), e);
      e = __fmaf_ru(fabsf(q4.z), fabsf(k2), e);
      e = __fmaf_ru(fabsf(q4.w), fabsf(k3), e);
      sc = warp_sum_rn(sc);
      e = warp_sum_ru(e);
      if (lane == 0 && i0 + u < n_hot) { s_hot[i0 + u] = sc; e_hot[i0 + u] = __fadd_ru(__fmul_ru(c.g_q, e), c.tiny); }
    }
  }
  __syncthreads();
  // m_L = max s̃_t; Z_L = Σ e^{s̃_t − ε_t − m_L} (float64, rounded down by the final factor)
  if (warp == 0) {
    float mx = -INFINITY;
    for (int i = lane; i < n_hot; i += 32) mx = fmaxf(mx, s_hot[i]);
    mx = warp_max(mx);
    double z = 0;
    for (int i = lane; i < n_hot; i += 32) z += exp(double(s_hot[i]) - double(e_hot[i]) - double(mx));
    z = warp_sum_d(z);
    if (lane == 0) {
      float qmu = 0, qmu_abs = 0, nsq = 0;
      for (int k = 0; k < 4; ++k) { qmu = __fadd_rn(qmu, red[0][k]); qmu_abs = __fadd_ru(qmu_abs, red[1][k]); nsq = __fadd_ru(nsq, red[2][k]); }
      const float qmu_hi = __fadd_ru(__fadd_ru(qmu, __fmul_ru(c.g_q, qmu_abs)), c.tiny);
      const float nq_hi = __fmul_ru(__fsqrt_ru(nsq), c.inv_1mg2);
      float* qsc = w.qscal + int64_t(bq) * 4;
      qsc[0] = qmu_hi;
      qsc[1] = nq_hi;
      qsc[2] = mx;
      qsc[3] = __fadd_ru(__fmul_ru(c.g_q, __fmul_ru(nq_hi, p.k_norm_max[g])), c.tiny);  // ≥ |s_t − s̃_t| for every t
      w.zl[bq] = z * (1.0 - 1e-12);
      w.me[bq] = 0.0;
      w.nu_e[bq] = 0u;
      if (hq % G == 0) w.n_surv[b * p.n_head_kv + g] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// scan: grid (chunks, B·Hkv), 128 threads. Per page (= quantisation group) of 64 tokens:
//   w_hj = fl(q̃_rhj·h_j); the token dot is Σ_j w_hj m_tj = Σ_j (2w_hj)(q_tj − o) − Σ_j w_hj with
//   m = 2q − (2^b − 1), o = 2^{b−1} − 1 (all exact in float32);
//   add_h = Σ_j [(|q̃_rj| + Δ_j)·err_j + Δ_j·cmax_j + c_scan·|q̃_rj|·h_j] (ru) + ||σq||·resid + qμ_hi:
//   UB_t = fl(dot) ⊕↑ add_h ≥ σq·k_t (centred bound + qμ, see docs/gpu.md), stored as
//   f16↑(UB_t ⊖↑ m_L); candidates only (hot tokens store +inf and skip the histogram).
template <int G, int BITS>
__global__ void __launch_bounds__(kThreads) scan_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int CB = kD * BITS / 8;          // code bytes per token
  constexpr int ROW = CB + 16;               // padded smem row (conflict-free 16-byte reads)
  constexpr int QMAX = (1 << BITS) - 1;
  constexpr float OFF = float(8388608 + (1 << (BITS - 1)) - 1);
  __shared__ __align__(16) uint8_t recbuf[2][kPage * ROW];  // double-buffered (cp.async)
  __shared__ __align__(16) float w2[G][2 * 68];
  __shared__ float s_add[G], s_W[G];
  __shared__ float s_part[2][G][kPage];
  __shared__ float red_w[G][4], red_t[G][4];
  __shared__ uint32_t hist[G][kHistAll];
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int n = p.seq_len[b], npages = (n + kPage - 1) / kPage;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  float qr[G], dl[G], base[G], ml[G];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const int64_t bq = int64_t(b) * p.n_head_q + g * G + h;
    qr[h] = w.qrot[bq * kD + tid];
    dl[h] = w.qdelta[bq * kD + tid];
    const float* qsc = w.qscal + bq * 4;
    base[h] = __fadd_ru(__fadd_ru(qsc[0], __fmul_ru(qsc[1], p.resid_max[g])), c.tiny);
    ml[h] = qsc[2];
  }
  for (int i = tid; i < G * kHistAll; i += kThreads) (&hist[0][0])[i] = 0u;
  // warps 0-1: components 0-63 of tokens 0-63, warps 2-3: components 64-127 (each warp reads the
  // same weight address in every lane: broadcast shared loads)
  const int tok = ((warp & 1) << 5) | lane, half = warp >> 1;
  // the next page's records stream into the other buffer while this one is bounded
  auto issue = [&](int pg, int buf, float& hj, float& ej) {
    if (pg < npages) {
      const int64_t po = int64_t(p.page_table[int64_t(b) * p.max_pages + pg]) * p.n_head_kv + g;
      const uint8_t* src = p.codes + po * kPage * CB;
#pragma unroll
      for (int i = tid; i < kPage * CB / 16; i += kThreads) {
        const int r = i / (CB / 16), cidx = i % (CB / 16);
        cp_async16(&recbuf[buf][r * ROW + cidx * 16], src + i * 16, true);
      }
      hj = __half2float(__ushort_as_half(p.meta[po * 2 * kD + tid]));
      ej = __half2float(__ushort_as_half(p.meta[po * 2 * kD + kD + tid]));
    }
    cp_async_commit();
  };
  float hj = 0, ej = 0, hj_next = 0, ej_next = 0;
  issue(blockIdx.x, 0, hj, ej);
  int it = 0;
  for (int pg = blockIdx.x; pg < npages; pg += gridDim.x, ++it) {
    issue(pg + gridDim.x, (it + 1) & 1, hj_next, ej_next);
    const uint8_t* rec = recbuf[it & 1];
    const float cmax = __fmul_ru(hj, float(QMAX));
#pragma unroll
    for (int h = 0; h < G; ++h) {
      const float wv = __fmul_rn(qr[h], hj);
      w2[h][(tid >> 6) * 68 + (tid & 63)] = 2.0f * wv;
      const float aq = fabsf(qr[h]);
      float t = __fmul_ru(__fadd_ru(aq, dl[h]), ej);
      t = __fadd_ru(t, __fmul_ru(dl[h], cmax));
      t = __fadd_ru(t, __fmul_ru(c.c_scan, __fmul_ru(aq, hj)));
      const float ws = warp_sum_rn(wv), ts = warp_sum_ru(t);
      if (lane == 0) { red_w[h][warp] = ws; red_t[h][warp] = ts; }
    }
    cp_async_wait<1>();  // this page's records (this thread's copies)
    __syncthreads();
    if (tid < G) {
      float W = 0, T = 0;
      for (int k = 0; k < 4; ++k) { W = __fadd_rn(W, red_w[tid][k]); T = __fadd_ru(T, red_t[tid][k]); }
      s_W[tid] = W;
      s_add[tid] = __fadd_ru(T, base[tid]);
    }
    __syncthreads();
    // token dot: 2 threads per token (one per half of the components)
    float acc[G];
#pragma unroll
    for (int h = 0; h < G; ++h) acc[h] = 0.0f;
    const uint8_t* row = rec + tok * ROW + half * (CB / 2);
#pragma unroll
    for (int v = 0; v < CB / 2 / 16; ++v) {
      const uint4 u = *reinterpret_cast<const uint4*>(row + v * 16);
      const uint32_t wd[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
#pragma unroll
        for (int e4 = 0; e4 < 8 / BITS; ++e4) {  // groups of 4 components in this word
          float f[4];
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            uint32_t qb;
            if constexpr (BITS == 8) qb = __byte_perm(wd[k], 0x4B000000u, 0x7540 + e);
            else qb = ((wd[k] >> (4 * (4 * e4 + e))) & 0xFu) | 0x4B000000u;
            f[e] = __fsub_rn(__uint_as_float(qb), OFF);  // q − o, exact
          }
          const int jj = v * (128 / BITS) + k * (32 / BITS) + 4 * e4;  // first component (within the half)
#pragma unroll
          for (int h = 0; h < G; ++h) {
            const float4 ww = *reinterpret_cast<const float4*>(&w2[h][half * 68 + jj]);
            acc[h] = __fmaf_rn(ww.x, f[0], acc[h]);
            acc[h] = __fmaf_rn(ww.y, f[1], acc[h]);
            acc[h] = __fmaf_rn(ww.z, f[2], acc[h]);
            acc[h] = __fmaf_rn(ww.w, f[3], acc[h]);
          }
        }
      }
    }
    const int t = pg * kPage + tok;
    const bool valid = t < n;
    const bool hot = is_hot(t, n, p.n_sink, p.n_recent);
#pragma unroll
    for (int h = 0; h < G; ++h) s_part[half][h][tok] = acc[h];
    __syncthreads();
    __half_raw hv[G];
#pragma unroll
    for (int h = 0; h < G; ++h) {
      acc[h] = __fadd_rn(s_part[0][h][tok], s_part[1][h][tok]);
      const float ub = __fadd_ru(__fsub_rn(acc[h], s_W[h]), s_add[h]);
      const float dd = __fsub_ru(ub, ml[h]);
      __half hx = __float2half_ru(dd);
      if (dd != dd) hx = __ushort_as_half(0x7C00);  // NaN → +inf (never eliminated)
      if (hot) hx = __ushort_as_half(0x7C00);
      hv[h] = __half_raw(hx);
      // histogram: the two lanes of a token split its heads (shorter same-address atomic chains)
      if (valid && !hot && (h < (G + 1) / 2) == (half == 0)) {
        const float vv = __half2float(hx);
        int bin;
        if (!(vv < 0.0f)) bin = kHistBins + 1;
        else if (vv < kHistLo) bin = 0;
        else bin = 1 + min(kHistBins - 1, int((vv - kHistLo) * 16.0f));
        atomicAdd(&hist[h][bin], 1u);
      }
    }
    if (valid && half == 0) {
      uint16_t* dst = w.ub + (int64_t(bg) * p.max_seq + t) * G;
#pragma unroll
      for (int h = 0; h < G; ++h) dst[h] = hv[h].x;
    }
    __syncthreads();
    hj = hj_next;
    ej = ej_next;
  }
  cp_async_wait<0>();
  __syncthreads();
  for (int i = tid; i < G * kHistAll; i += kThreads) {
    const uint32_t v = (&hist[0][0])[i];
    if (v) {
      const int h = i / kHistAll, bin = i % kHistAll;
      atomicAdd(&w.hist[(int64_t(b) * p.n_head_q + g * G + h) * kHistAll + bin], v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// cut: one warp per (b, query head). Bin k < kHistBins+1 has upper edge e_k (bin 0: kHistLo,
// bin k ≥ 1: kHistLo + k/16); tokens in bins 0..K−1 satisfy UB − m_L < e_{K−1}, so
// M(K) = Σ_{k<K} count_k·e^{e_k} ≥ Σ e^{UB_t − m_L}. θ = e_{K−1} for the largest K with
// M(K) ≤ budget = δ·Z_L/(1 − δ) (then M/(Z_L + M) ≤ δ); θ = −inf when none fits.
__global__ void __launch_bounds__(256) cut_kernel(DecodeParams p, Workspace w) {
  const int bq = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  constexpr int kCand = kHistBins + 1;
  constexpr int kPer = (kCand + 255) / 256;
  const uint32_t* hs = w.hist + int64_t(bq) * kHistAll;
  auto edge = [](int k) { return k == 0 ? double(kHistLo) : double(kHistLo) + double(k) / 16.0; };
  uint32_t cnt[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int k = tid * kPer + i;
    cnt[i] = k < kCand ? hs[k] : 0u;
  }
  double val[kPer], local = 0;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    // exp's error (≤ 1 ulp) and the summation's are covered by the (1 + 1e-12) factors
    val[i] = cnt[i] ? double(cnt[i]) * exp(edge(tid * kPer + i)) * (1 + 1e-12) : 0.0;
    local += val[i];
  }
  double incl = local;
  for (int o = 1; o < 32; o <<= 1) {
    const double y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  __shared__ double s_w[8];
  __shared__ int s_best;
  if (lane == 31) s_w[warp] = incl;
  if (tid == 0) s_best = -1;
  __syncthreads();
  double run = incl - local;
  for (int k = 0; k < warp; ++k) run += s_w[k];
  const double budget = p.delta * w.zl[bq] / (1.0 - p.delta) * (1.0 - 1e-12);
  int best = -1;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int k = tid * kPer + i;
    run += val[i];
    if (k < kCand && run * (1 + 1e-12) <= budget) best = k;
  }
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  if (lane == 0 && best >= 0) atomicMax(&s_best, best);
  __syncthreads();
  if (tid == 0) {
    w.theta[bq] = s_best < 0 ? -INFINITY : float(edge(s_best));
    if (p.cert) {
      p.cert[bq].budget = budget;
      p.cert[bq].theta = w.theta[bq];
      p.cert[bq].m_l = w.qscal[int64_t(bq) * 4 + 2];
    }
  }
}

__device__ __forceinline__ uint32_t hash3(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 0x165667B1u) * 0xC2B2AE3Du;
  h ^= h >> 15; h *= 0x2C1B3C6Du; h ^= h >> 12; h *= 0x297A2D39u; h ^= h >> 15;
  return h;
}

// ---------------------------------------------------------------------------------------------
// compact: grid (chunks, B·Hkv), 256 threads, 4 consecutive tokens per thread per step. A candidate is
// eliminated iff UB_h − m_L < θ_h for every head h of the group (GQA rule), or, in forced mode, by a
// hash; survivors (and hot tokens) are appended to the KV head's list; eliminated tokens add
// e^{UB − m_L} (≥, expf error covered in merge) to M_E of every head and their page's ν to ν_E.
template <int G>
__global__ void __launch_bounds__(256) compact_kernel(DecodeParams p, Workspace w) {
  constexpr int kPer = 4;  // consecutive tokens per thread per step
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int n = p.seq_len[b];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  __shared__ int s_wsum[8], s_base;
  __shared__ double s_me[G][8];
  __shared__ uint32_t s_nu;
  float th[G];
#pragma unroll
  for (int h = 0; h < G; ++h) th[h] = w.theta[int64_t(b) * p.n_head_q + g * G + h];
  double me[G];
#pragma unroll
  for (int h = 0; h < G; ++h) me[h] = 0;
  float nu = 0;
  const uint32_t keep_thr = p.forced_keep >= 0 ? uint32_t(fminf(p.forced_keep, 1.0f) * 4294967295.0f) : 0u;
  if (tid == 0) s_nu = 0u;
  const uint16_t* ubase = w.ub + int64_t(bg) * p.max_seq * G;
  for (int t0 = blockIdx.x * 256 * kPer; t0 < n; t0 += gridDim.x * 256 * kPer) {
    bool keep[kPer];
    uint16_t raw[kPer][G];
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int t = t0 + tid * kPer + k;
#pragma unroll
      for (int h = 0; h < G; ++h) raw[k][h] = t < n ? ubase[int64_t(t) * G + h] : uint16_t(0x7C00);
    }
    int cnt = 0;
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int t = t0 + tid * kPer + k;
      const bool valid = t < n;
      const bool hot = valid && is_hot(t, n, p.n_sink, p.n_recent);
      keep[k] = hot;
      if (valid && !hot) {
        float dv[G];
        bool elim = true;
#pragma unroll
        for (int h = 0; h < G; ++h) {
          dv[h] = __half2float(__ushort_as_half(raw[k][h]));
          elim = elim && (dv[h] < th[h]);
        }
        if (p.forced_keep >= 0) elim = !(hash3(p.forced_seed, uint32_t(bg), uint32_t(t)) <= keep_thr);
        keep[k] = !elim;
        if (elim) {
#pragma unroll
          for (int h = 0; h < G; ++h) me[h] += double(expf(fmaxf(dv[h], -80.0f)));
          const int phys = p.page_table[int64_t(b) * p.max_pages + t / kPage];
          nu = fmaxf(nu, p.nu_max[int64_t(phys) * p.n_head_kv + g]);
        }
      }
      cnt += keep[k];
    }
    // block exclusive scan of the counts, one global atomic per block step
    int incl = cnt;
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += y;
    }
    if (lane == 31) s_wsum[warp] = incl;
    __syncthreads();
    int off = incl - cnt, total = 0;
    for (int k = 0; k < 8; ++k) {
      if (k < warp) off += s_wsum[k];
      total += s_wsum[k];
    }
    if (tid == 0) s_base = total ? atomicAdd(&w.n_surv[bg], total) : 0;
    __syncthreads();
    int32_t* dst = w.surv + int64_t(bg) * p.max_seq + s_base + off;
#pragma unroll
    for (int k = 0; k < kPer; ++k)
      if (keep[k]) *dst++ = t0 + tid * kPer + k;
    __syncthreads();
  }
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const double sm = warp_sum_d(me[h]);
    if (lane == 0) s_me[h][warp] = sm;
  }
  const float nuw = warp_max(nu);
  if (lane == 0 && nuw > 0) atomicMax(&s_nu, __float_as_uint(nuw));
  __syncthreads();
  if (tid < G) {
    double sm = 0;
    for (int k = 0; k < 8; ++k) sm += s_me[tid][k];
    if (sm > 0) atomicAdd(&w.me[int64_t(b) * p.n_head_q + g * G + tid], sm);
  }
  if (tid == 0 && s_nu) atomicMax(&w.nu_e[int64_t(b) * p.n_head_q + g * G], s_nu);
}

// ---------------------------------------------------------------------------------------------
// attend: split-K flash decoding, grid (splits, B·Hkv), 128 threads. Tiles of kTile tokens (K and
// V rows, gathered through the survivor list and the page table) stream into shared memory with
// cp.async, kStages deep; 16 lane groups of 8 then attend two tokens of the tile each, for all G
// heads of the KV head (K, V read once per KV head), each lane 16 of the d components.
// Partial state per (head, split): m, l = Σ e^{s−m}, o = Σ e^{s−m} v.
constexpr int kTile = 32, kStages = 4;
constexpr float kLog2e = 1.4426950408889634f;

// 2^x by the special-function unit: relative error ≤ 2^-22 for normal results (of the rounded
// argument), and results below
// 2^-126 flush to 0 (only ever lowers the sums the certificate uses as lower bounds); ex2(−inf) = 0.
__device__ __forceinline__ float ex2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
constexpr int kTileBytes = kTile * kD * 2;  // one of K or V
constexpr int kAttendSmem = kStages * 2 * kTileBytes;

template <int G, bool DENSE>
__global__ void __launch_bounds__(kThreads, 3) attend_kernel(DecodeParams p, Workspace w) {
  extern __shared__ __align__(16) uint8_t smem[];
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int n = p.seq_len[b];
  const int count = DENSE ? n : w.n_surv[bg];
  const int per = (count + gridDim.x - 1) / gridDim.x;
  const int i0 = min(count, int(blockIdx.x) * per), i1 = min(count, i0 + per);
  const int tid = threadIdx.x, grp = tid >> 3, sub = tid & 7;
  // σq·log2(e) in registers (scores in log2 units: one ex2 per weight); lane covers 16 components
  float qv[G][16];
#pragma unroll
  for (int h = 0; h < G; ++h)
#pragma unroll
    for (int k = 0; k < 16; ++k) {
      const int64_t qi = (int64_t(b) * p.n_head_q + g * G + h) * kD + sub * 16 + k;
      qv[h][k] = __fmul_rn(DENSE ? __fmul_rn(p.q[qi], p.scale) : w.qsig[qi], kLog2e);
    }
  const int32_t* list = w.surv + int64_t(bg) * p.max_seq;
  const int n_tiles = (i1 - i0 + kTile - 1) / kTile;
  // each thread copies 4 16-byte chunks of K and of V per tile: chunk c = tid + 128·k,
  // token c / 16 of the tile, bytes (c % 16)·16 of its row
  auto issue = [&](int tile) {
    if (tile < n_tiles) {
      uint8_t* ks = smem + (tile % kStages) * 2 * kTileBytes;
      uint8_t* vs = ks + kTileBytes;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int c = tid + kThreads * k, tk = c >> 4, part = c & 15;
        const int ii = i0 + tile * kTile + tk;
        const bool ok = ii < i1;
        const int t = ok ? (DENSE ? ii : list[ii]) : 0;
        const int64_t row = ok ? kv_row(p, b, g, t) : 0;
        cp_async16(ks + tk * (kD * 2) + part * 16, p.k_cache + row + part * 8, ok);
        cp_async16(vs + tk * (kD * 2) + part * 16, p.v_cache + row + part * 8, ok);
      }
    }
    cp_async_commit();
  };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) issue(s);
  float m[G], l[G], o[G][16];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    m[h] = -INFINITY; l[h] = 0.0f;
#pragma unroll
    for (int k = 0; k < 16; ++k) o[h][k] = 0.0f;
  }
  for (int it = 0; it < n_tiles; ++it) {
    issue(it + kStages - 1);
    cp_async_wait<kStages - 1>();
    __syncthreads();
    const uint8_t* ks = smem + (it % kStages) * 2 * kTileBytes;
    const uint8_t* vs = ks + kTileBytes;
    // this group's two tokens of the tile: scores first, one rescale per pair
    float sc[2][G];
    bool ok[2];
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int tk = grp + 16 * u;
      ok[u] = i0 + it * kTile + tk < i1;  // uniform within a group of 8 lanes
      float kf[16];
      const uint4* kr = reinterpret_cast<const uint4*>(ks + tk * (kD * 2) + sub * 32);
      bf16x8(kr[0], kf); bf16x8(kr[1], kf + 8);
#pragma unroll
      for (int h = 0; h < G; ++h) {
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < 16; ++k) s = __fmaf_rn(qv[h][k], kf[k], s);
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 1));
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 2));
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 4));
        sc[u][h] = ok[u] ? s : -INFINITY;
      }
    }
    if (ok[0]) {  // ok[1] implies ok[0]
      float vf0[16], vf1[16];
      const uint4* v0 = reinterpret_cast<const uint4*>(vs + grp * (kD * 2) + sub * 32);
      const uint4* v1 = reinterpret_cast<const uint4*>(vs + (grp + 16) * (kD * 2) + sub * 32);
      bf16x8(v0[0], vf0); bf16x8(v0[1], vf0 + 8);
      bf16x8(v1[0], vf1); bf16x8(v1[1], vf1 + 8);  // zero-filled when the token is past the end
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float mn = fmaxf(m[h], fmaxf(sc[0][h], sc[1][h]));
        const float corr = ex2_approx(m[h] - mn);
        const float p0 = ex2_approx(sc[0][h] - mn), p1 = ex2_approx(sc[1][h] - mn);
        l[h] = __fadd_rn(__fmaf_rn(l[h], corr, p0), p1);
#pragma unroll
        for (int k = 0; k < 16; ++k) o[h][k] = __fmaf_rn(p1, vf1[k], __fmaf_rn(p0, vf0[k], __fmul_rn(o[h][k], corr)));
        m[h] = mn;
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();
  __syncthreads();
  // combine the 16 groups of the block (the tile buffers are free now)
  float* s_m = reinterpret_cast<float*>(smem);   // [16][G]
  float* s_l = s_m + 16 * G;                      // [16][G]
  float* s_o = s_l + 16 * G;                      // [16][G][kD]
#pragma unroll
  for (int h = 0; h < G; ++h) {
    if (sub == 0) { s_m[grp * G + h] = m[h]; s_l[grp * G + h] = l[h]; }
#pragma unroll
    for (int k = 0; k < 16; ++k) s_o[(grp * G + h) * kD + sub * 16 + k] = o[h][k];
  }
  __syncthreads();
  for (int x = tid; x < G * kD; x += kThreads) {
    const int h = x / kD, j = x % kD;
    float M = -INFINITY;
    for (int r = 0; r < 16; ++r) M = fmaxf(M, s_m[r * G + h]);
    float L = 0, O = 0;
    if (M > -INFINITY) {
      for (int r = 0; r < 16; ++r) {
        const float mr = s_m[r * G + h];
        const float f = mr > -INFINITY ? exp2f(mr - M) : 0.0f;
        L = __fmaf_rn(s_l[r * G + h], f, L);
        O = __fmaf_rn(s_o[(r * G + h) * kD + j], f, O);
      }
    }
    const int64_t bq = int64_t(b) * p.n_head_q + g * G + h;
    const int64_t ps = bq * p.splits + blockIdx.x;
    if (j == 0) { w.pm[ps] = M; w.pl[ps] = L; }
    w.po[ps * kD + j] = O;
  }
}

// ---------------------------------------------------------------------------------------------
// merge: one block per (b, query head), thread j = component j. Exact merge identity (scores
// in log2 units): M = max_s m_s, L = Σ_s l_s 2^{m_s − M}, ô = Σ_s o_s 2^{m_s − M} / L.
// Certificate (ghost path): the attended scores' error is ≤ ε (qscal[3]) and l carries at most
// K = 6·count + 16·splits + 100 roundings, so Z ≥ L·e^{−ε}/(1 + γ_K) (relative to M); with
// Z_L from the hot tokens the larger is used; M_E·(1 + 2^-20) covers expf's error;
//   mass_bound = M_E/(Z + M_E), out_err_bound = mass_bound·(ν_E + ||ô||·(1 + 1e-3)).
__global__ void __launch_bounds__(kThreads) merge_kernel(DecodeParams p, Workspace w, bool certify) {
  const int bq = blockIdx.x, j = threadIdx.x, lane = j & 31, warp = j >> 5;
  const int S = p.splits;  // ≤ 128 = blockDim
  __shared__ float s_f[128], red[4];
  __shared__ float s_M, s_L;
  const float ms = j < S ? w.pm[int64_t(bq) * S + j] : -INFINITY;
  const float mw = warp_max(ms);
  if (lane == 0) red[warp] = mw;
  __syncthreads();
  if (j == 0) s_M = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
  __syncthreads();
  const float M = s_M;
  const float f = ms > -INFINITY ? exp2f(ms - M) : 0.0f;  // partial maxima are in log2 units
  s_f[j] = f;
  const float lw = warp_sum_rn(j < S ? __fmul_rn(w.pl[int64_t(bq) * S + j], f) : 0.0f);
  __syncthreads();
  if (lane == 0) red[warp] = lw;
  __syncthreads();
  if (j == 0) s_L = __fadd_rn(__fadd_rn(red[0], red[1]), __fadd_rn(red[2], red[3]));
  __syncthreads();
  const float L = s_L;
  float O = 0;
  const float* po = w.po + int64_t(bq) * S * kD + j;
#pragma unroll 8
  for (int s = 0; s < S; ++s) O = __fmaf_rn(po[int64_t(s) * kD], s_f[s], O);
  const float out = O / L;
  p.out[int64_t(bq) * kD + j] = out;
  if (!certify) return;
  const float ss = warp_sum_ru(__fmul_ru(out, out));
  __syncthreads();
  if (lane == 0) red[warp] = ss;
  __syncthreads();
  if (j == 0) {
    const float onorm = __fsqrt_ru(__fadd_ru(__fadd_ru(red[0], red[1]), __fadd_ru(red[2], red[3])));
    const int b = bq / p.n_head_q, hq = bq % p.n_head_q, G = p.n_head_q / p.n_head_kv;
    const int count = w.n_surv[b * p.n_head_kv + hq / G];
    const double eps = double(w.qscal[int64_t(bq) * 4 + 3]);
    const double m_l = double(w.qscal[int64_t(bq) * 4 + 2]);
    // l: ≤ K roundings per term (γ_K), ≤ n_ex2 ex2.approx factors of relative error ≤ 1e-5 each
    // (2^-22, plus ln2·|arg|·2^-24 from the argument's rounding with |arg| ≤ 126 before results
    // flush to 0, which only lowers l), scores in log2
    // units with error ≤ ε·log2(e)·1.01 (the extra rounding of σq·log2e)
    const int per = (count + S - 1) / S, tiles = (per + kTile - 1) / kTile;
    const double K = 4.0 * (per + 16.0) + 4.0 * S + 300.0;
    const double gK = K * 0x1p-24 / (1.0 - K * 0x1p-24);
    const double n_ex2 = tiles + 4.0;
    double z = double(L) * exp(-eps * 1.01) / (1.0 + gK) * pow(1.0 - 1e-5, n_ex2) *
               exp(double(M) * 0.69314718055994531 - m_l) * (1.0 - 1e-9);
    if (!(z > w.zl[bq])) z = w.zl[bq];
    const double me = w.me[bq] * (1.0 + 0x1p-20);
    const double mass = me > 0 ? me / (z + me) * (1.0 + 1e-12) : 0.0;
    const float nu_e = __uint_as_float(w.nu_e[bq - hq % G]);  // stored at the group's first head
    Certificate& c = p.cert[bq];
    c.mass_bound = mass;
    c.out_err_bound = mass * (double(nu_e) + double(onorm) * (1.0 + 1e-3)) * (1.0 + 1e-12);
    c.m_E = me;
    c.z_low = z;
    c.nu_e = nu_e;
    c.n_attended = count;
  }
}

std::string g_last_error;

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    g_last_error = std::string(what) + ": " + cudaGetErrorString(e);
    throw std::runtime_error(g_last_error);
  }
}

int group_of(const DecodeParams& p) { return p.n_head_q / p.n_head_kv; }

void validate(const DecodeParams& p) {
  if (p.d != kD) throw std::runtime_error("ghostkv cuda: d_head must be 128, got " + std::to_string(p.d));
  if (p.n_head_kv <= 0 || p.n_head_q % p.n_head_kv)
    throw std::runtime_error("ghostkv cuda: n_head_q " + std::to_string(p.n_head_q) + " not a multiple of n_head_kv " +
                             std::to_string(p.n_head_kv));
  const int G = group_of(p);
  if (G != 1 && G != 2 && G != 3 && G != 4)
    throw std::runtime_error("ghostkv cuda: GQA group " + std::to_string(G) + " not in {1,2,3,4}");
  if (p.bits != 4 && p.bits != 8) throw std::runtime_error("ghostkv cuda: bits must be 4 or 8, got " + std::to_string(p.bits));
  if (p.n_sink + p.n_recent > 256) throw std::runtime_error("ghostkv cuda: n_sink + n_recent must be <= 256");
  if (p.splits < 1 || p.splits > 128) throw std::runtime_error("ghostkv cuda: splits must be in [1, 128], got " + std::to_string(p.splits));
}

template <class F>
void dispatch_g(int G, F&& f) {
  switch (G) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
  }
}

}  // namespace

static int64_t align256(int64_t x) { return (x + 255) / 256 * 256; }

int64_t workspace_bytes(const DecodeParams& p) {
  const int64_t BQ = int64_t(p.batch) * p.n_head_q, BK = int64_t(p.batch) * p.n_head_kv, G = p.n_head_q / p.n_head_kv;
  int64_t s = 0;
  s += 3 * align256(BQ * kD * 4) + align256(BQ * 16) + align256(BQ * 8);
  s += align256(BK * p.max_seq * G * 2) + align256(BQ * kHistAll * 4) + align256(BQ * 4) + align256(BQ * 8) + align256(BQ * 4);
  s += align256(BK * p.max_seq * 4) + align256(BK * 4);
  s += 2 * align256(BQ * p.splits * 4) + align256(BQ * p.splits * kD * 4);
  return s;
}

Workspace workspace_views(const DecodeParams& p) {
  const int64_t BQ = int64_t(p.batch) * p.n_head_q, BK = int64_t(p.batch) * p.n_head_kv, G = p.n_head_q / p.n_head_kv;
  char* c = static_cast<char*>(p.work);
  auto take = [&](int64_t bytes) { char* r = c; c += align256(bytes); return r; };
  Workspace w;
  w.qsig = reinterpret_cast<float*>(take(BQ * kD * 4));
  w.qrot = reinterpret_cast<float*>(take(BQ * kD * 4));
  w.qdelta = reinterpret_cast<float*>(take(BQ * kD * 4));
  w.qscal = reinterpret_cast<float*>(take(BQ * 16));
  w.zl = reinterpret_cast<double*>(take(BQ * 8));
  w.ub = reinterpret_cast<uint16_t*>(take(BK * p.max_seq * G * 2));
  w.hist = reinterpret_cast<uint32_t*>(take(BQ * kHistAll * 4));
  w.theta = reinterpret_cast<float*>(take(BQ * 4));
  w.me = reinterpret_cast<double*>(take(BQ * 8));
  w.nu_e = reinterpret_cast<uint32_t*>(take(BQ * 4));
  w.surv = reinterpret_cast<int32_t*>(take(BK * p.max_seq * 4));
  w.n_surv = reinterpret_cast<int32_t*>(take(BK * 4));
  w.pm = reinterpret_cast<float*>(take(BQ * p.splits * 4));
  w.pl = reinterpret_cast<float*>(take(BQ * p.splits * 4));
  w.po = reinterpret_cast<float*>(take(BQ * p.splits * kD * 4));
  return w;
}

int device_sm_count() {
  int dev = 0, sms = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}

const char* last_error() { return g_last_error.c_str(); }

void ghost_stage1(const DecodeParams& p, void* stream) {
  validate(p);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Workspace w = workspace_views(p);
  const Consts c = make_consts(p.bits);
  const int G = group_of(p), BK = p.batch * p.n_head_kv, BQ = p.batch * p.n_head_q;
  const int sms = device_sm_count();
  prep_kernel<<<BQ, kPrepThreads, 0, st>>>(p, w, c);
  check_launch("prep_kernel");
  const int max_pages_seq = (p.max_seq + kPage - 1) / kPage;
  const int scan_chunks = std::max(1, std::min(max_pages_seq, (8 * sms + BK - 1) / BK));
  dispatch_g(G, [&](auto gc) {
    constexpr int GG = decltype(gc)::value;
    if (p.bits == 8) scan_kernel<GG, 8><<<dim3(scan_chunks, BK), kThreads, 0, st>>>(p, w, c);
    else scan_kernel<GG, 4><<<dim3(scan_chunks, BK), kThreads, 0, st>>>(p, w, c);
  });
  check_launch("scan_kernel");
  cut_kernel<<<BQ, 256, 0, st>>>(p, w);
  check_launch("cut_kernel");
  const int cchunks = std::max(1, std::min((p.max_seq + 1023) / 1024, (4 * sms + BK - 1) / BK));
  dispatch_g(G, [&](auto gc) {
    constexpr int GG = decltype(gc)::value;
    compact_kernel<GG><<<dim3(cchunks, BK), 256, 0, st>>>(p, w);
  });
  check_launch("compact_kernel");
}

void ghost_stage2(const DecodeParams& p, void* stream) {
  validate(p);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Workspace w = workspace_views(p);
  const int G = group_of(p), BK = p.batch * p.n_head_kv, BQ = p.batch * p.n_head_q;
  dispatch_g(G, [&](auto gc) {
    constexpr int GG = decltype(gc)::value;
    static bool attr = false;
    if (!attr) {
      cudaFuncSetAttribute(attend_kernel<GG, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, kAttendSmem);
      attr = true;
    }
    attend_kernel<GG, false><<<dim3(p.splits, BK), kThreads, kAttendSmem, st>>>(p, w);
  });
  check_launch("attend_kernel");
  merge_kernel<<<BQ, kThreads, 0, st>>>(p, w, p.cert != nullptr);
  check_launch("merge_kernel");
}

void ghost_decode(const DecodeParams& p, void* stream) {
  ghost_stage1(p, stream);
  ghost_stage2(p, stream);
}

void dense_decode(const DecodeParams& p, void* stream) {
  validate(p);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Workspace w = workspace_views(p);
  const int G = group_of(p), BK = p.batch * p.n_head_kv, BQ = p.batch * p.n_head_q;
  dispatch_g(G, [&](auto gc) {
    constexpr int GG = decltype(gc)::value;
    static bool attr = false;
    if (!attr) {
      cudaFuncSetAttribute(attend_kernel<GG, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, kAttendSmem);
      attr = true;
    }
    attend_kernel<GG, true><<<dim3(p.splits, BK), kThreads, kAttendSmem, st>>>(p, w);
  });
  check_launch("attend_kernel(dense)");
  merge_kernel<<<BQ, kThreads, 0, st>>>(p, w, false);
  check_launch("merge_kernel(dense)");
}

}  // namespace ghostkv::cuda
