// GPU decode attention with certified elimination: prep → scan → compact (cut + GQA rule) → attend
// → merge.
// Soundness (docs/gpu.md §Soundness): every quantity the certificate or a bound depends on is either
// exact (the scan's integer dot products), computed with directed rounding (__f*_ru: sums of
// non-negative terms rounded up are ≥ the exact sums) or carries a γ_n·Σ|terms| slack; the γ
// constants are computed on the host in float64 and rounded up, the histogram's e^{edge} table is
// generated exactly and rounded up (exp_edge.h).
// Float dot products use explicit __fmaf_rn/__fmul_rn, so no bound depends on the compiler's
// contraction choices. This file must never be compiled with fast-math.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "decode.h"
#include "exp_edge.h"

namespace ghostkv::cuda {
namespace {

constexpr int kScanWarps = 4;     // warps per scan block (each streams its own pages)
constexpr int kAttThreads = 128;  // attend: 16 lane groups of 8
constexpr int kPrepThreads = 256;
constexpr int kCompactThreads = 128;
// compact's segment: two pages (kCompactPages) of two rows of 32 tokens (kCompactRows), below
constexpr int kCompactSeg = 128, kCompactRows = kCompactSeg / 32, kCompactPages = kCompactSeg / kPage;
static_assert(kPage == 64 && kCompactPages == 2, "a segment is two pages of two rows of 32 tokens");
constexpr int kMergeThreads = 128;
constexpr int kRank = kSketchRank;  // low-rank witness: sketch components per token (decode.h)
constexpr uint16_t kPageScanned = 0xFFFF;  // pub of a page the scan reads (an f16 NaN: no bound is NaN)

struct Consts {
  float g_q;        // γ_{d+3}·1.01: error of fl(Σ qσ̃_i x_i) (σ's rounding included), per unit Σ|terms|
  float inv_1mg2;   // 1/(1 − γ_2): ||σq|| ≤ ||qσ̃||/(1 − γ_2)
  float tiny;       // absolute term covering gradual underflow of every float32 product/sum
  float g_r;        // γ_{kRank+1}·1.01: error of the low-rank scan's float32 dot, per unit Σ|terms|
  int l2_first;     // the scan's witness pages are read with an L2 evict-first policy (stage1 decides)
  int scan_mix;     // the quant scan's consecutive blocks belong to different KV heads (block L: head L mod B·Hkv)
  int cut_pre;      // the quant scan's cut stages e^{edge} in shared memory and loads Z_L, m_L first (GHOSTKV_CUT_PRE)
  int cut_coal;     // with cut_pre, the global cut copies its counts to shared memory with coalesced loads (GHOSTKV_CUT_COAL)
  int split_tl;     // the split cut's compacting scan and prep record their timeline (GHOSTKV_SPLIT_TL; diagnostics)
};

// e^{edge_k} of the histogram's bin edges, rounded up (scripts/make_exp_edge.py: exact to 60 digits, then
// the next float64 at or above; checked by cuda_contract). Initialised data of the module, so every device
// has it from the module's load (no upload, nothing per device or per capture). Global memory, not
// __constant__: the cut reads it at a different index in every lane.
static_assert(GHOSTKV_EXP_EDGE_COUNT == kHistBins + 1, "kernels/exp_edge.h is for another kHistBins: regenerate it");
__device__ double g_exp_edge[kHistBins + 1] = {GHOSTKV_EXP_EDGE_UP};

double gamma_n(double n) { return n * 0x1p-24 / (1.0 - n * 0x1p-24); }
float up_f(double x) { float f = float(x); return double(f) < x ? nextafterf(f, INFINITY) : f; }

Consts make_consts(int d) {
  Consts c;
  c.g_q = up_f(gamma_n(d + 3) * 1.01);
  c.inv_1mg2 = up_f(1.0 / (1.0 - gamma_n(2)));
  c.tiny = 0x1p-100f;
  c.g_r = up_f(gamma_n(kRank + 1) * 1.01);
  c.l2_first = 0;
  c.scan_mix = 0;
  c.cut_pre = 0;
  c.cut_coal = 0;
  c.split_tl = 0;
  return c;
}

__host__ __device__ __forceinline__ double hist_edge(int k) {
  return k == 0 ? double(kHistLo) : double(kHistLo) + double(k) / 16.0;
}

// Histogram bin of a stored bound v = f16↑(UB − m_L) (an f16 value, never NaN: NaN is stored as +inf):
// 0 below kHistLo, kHistBins + 1 at or above 0, else 1 + ⌊(v − kHistLo)·16⌋ (the bins of cut_head),
// in four instructions: clamp(⌊v·kBinScale + kBinOffset⌋, 0, kHistBins + 1) with the FMA rounded down
// (⌊RD(x)⌋ = ⌊x⌋: integers are floats). test_decode_contract checks the closed form against the
// definition on every f16 value.
static_assert(kBinOffset == float(int(kBinOffset)), "the closed form needs an integer offset");
__device__ __forceinline__ int hist_bin(float v) {
  return int(fminf(fmaxf(__fmaf_rd(v, kBinScale, kBinOffset), 0.0f), float(kHistBins + 1)));
}

// ---- programmatic dependent launch: wait for the previous kernel's writes; let the next start ----
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_launch_next() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
// prep's timeline (Consts::split_tl, diagnostics): per block of the last launch (blockIdx.y·gridDim.x + blockIdx.x),
// the GPU's global timer (ns) after its wait (griddepcontrol.wait) and at thread 0's end
inline constexpr int kPrepTlMax = 1024;
__device__ long long g_prep_tl[kPrepTlMax][2];
__device__ int g_prep_tl_blocks;
__device__ __forceinline__ long long timer_ns() {
  long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}
__device__ __forceinline__ int32_t ld_acquire_gpu(const int32_t* a) {
  int32_t v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(a) : "memory");
  return v;
}
__device__ __forceinline__ void st_release_gpu(int32_t* a, int32_t v) {
  asm volatile("st.release.gpu.global.s32 [%0], %1;" ::"l"(a), "r"(v) : "memory");
}
// old value of *a, *a += v: a release of what happened before it (in the block: what came before a block
// barrier that precedes it) and an acquire of what the earlier adds released (for what follows it, and in the
// block what follows a barrier after it)
__device__ __forceinline__ int32_t atom_add_acq_rel_gpu(int32_t* a, int32_t v) {
  int32_t old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;" : "=r"(old) : "l"(a), "r"(v) : "memory");
  return old;
}
// Entry `row` of a ready list (decode.h Workspace::ready), once written: the KV head it names; −1 when
// it stays unwritten for seconds or names no KV head of [0, n_bg). Through the API neither happens (compact
// runs after the scan that fills list 0, and attend reads list 1 only right after the kernel that fills it,
// compact or the fused low-rank kernel that compacts its KV heads, in ghost_decode): a guard against a stalled
// producer. No trap here: a trap anywhere in attend costs it register spills; compact traps on −1, attend's
// blocks exit (the one-split build traps) and merge traps when list 1 is incomplete (a failed launch instead
// of a hang).
__device__ __forceinline__ int wait_list(const int32_t* list, int row, int n_bg) {
  int v;
  for (uint32_t k = 0; (v = ld_acquire_gpu(&list[1 + row])) == 0; ++k) {
    if (k == (1u << 24)) return -1;  // 2^24 sleeps (__nanosleep(64) took about 0.26 µs each on the H200)
    __nanosleep(64);
  }
  return v >= 1 && v <= n_bg ? v - 1 : -1;
}

// ---- mbarrier + bulk copy (the copy engine moves contiguous bytes into shared memory) ----
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk_g2s(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(smem_u32(bar))
               : "memory");
}
// The same into the same offset of the shared memory of every block of the cluster in cta_mask, each block's
// mbarrier at bar's offset taking complete_tx of the bytes it receives
[[maybe_unused]] __device__ __forceinline__ void bulk_g2s_multicast(void* dst, const void* src, uint32_t bytes, uint64_t* bar, uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1], %2, [%3], %4;" ::"r"(
          smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar)), "h"(cta_mask)
      : "memory");
}
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }
[[maybe_unused]] __device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
// The same with an L2 eviction priority (createpolicy): the scan streams every witness page once and,
// where the bounds it writes fit in the L2 (scan_l2_first), marks it evict-first so those bounds,
// read next by compact, tend to stay there; evict-normal is the default priority of a plain copy.
__device__ __forceinline__ uint64_t l2_evict_first() {
  uint64_t pol;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(pol));
  return pol;
}
__device__ __forceinline__ uint64_t l2_evict_normal() {
  uint64_t pol;
  asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;" : "=l"(pol));
  return pol;
}
__device__ __forceinline__ void bulk_g2s_hint(void* dst, const void* src, uint32_t bytes, uint64_t* bar, uint64_t pol) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
          smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar)), "l"(pol)
      : "memory");
}
// 16-byte cp.async (zero-filled when !ok); a thread's cp.asyncs complete by groups (cp_async_commit, cp_async_wait)
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(ok ? 16 : 0)
               : "memory");
}
// a thread's cp.asyncs since its last commit form a group; wait until at most N of its groups are pending
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity)
        : "memory");
  }
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

template <int D>
__device__ __forceinline__ int64_t kv_row_off(const DecodeParams& p, int g, int row_id) {  // row_id = phys·kPage + slot
  return ((int64_t(row_id / kPage) * p.n_head_kv + g) * kPage + (row_id % kPage)) * D;
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
// prep: one block per (b, KV head), 256 threads, for the G query heads of the group (each rotation
// row and each hot key row is read once for all G heads). Per head:
//   qσ̃ = fl(σ_f·q); q̃_r = fl(V qσ̃) with |q_r − q̃_r|_j ≤ Δ_j = g_q·Σ_i |V_ji||qσ̃_i| (ru);
//   qμ_hi ≥ σq·μ; nq_hi ≥ max(||σq||, ||qσ̃||); hot scores s̃_t with error ≤ g_q·Σ|qσ̃_i k_ti| ≤
//   ε_t = g_q·nq_hi·||k_t|| (Cauchy-Schwarz; ||k_t|| rounded up, once per token for all G heads);
//   m_L = max s̃_t; Z_L = Σ e^{s̃_t − ε_t − m_L} (rounded down) ≤ Σ e^{s_t − m_L}.
// Every float sum is a dot product rounded to nearest (error ≤ g_q·Σ|terms| in any order) or a sum of
// non-negative terms rounded up (an upper bound in any order). Also zeroes the heads' histograms (ZH) and
// accumulators and the KV head's counters. Every input load is issued at the start (the first pass's
// hot keys right after their page-table entries), and the rotation's dot products run while the hot
// keys are in flight. (Before: one block of 512 threads per query head, whose registers allowed one
// block per SM: 7.8 waves at 32 × 32K; then the hot keys were requested after a barrier and consumed
// first, Σ|qσ̃_i k_ti| summed per head.)
// ZH: zero the group's global histograms (not where the scan's cut reads its own and there is no anchor
// stage: kCutLocal without anchors, or the fused low-rank kernel, whose block counts its anchored candidates
// itself; with a separate anchor stage the local cut reads that stage's counts from them).
// DBG (diagnostics only, GHOSTKV_PREP_DEBUG, G 4 / d 128: the outputs are then wrong): bit 1 skips the rotation's
// loads (zeros), 2 the hot keys' page-table and row loads (zeros), 4 Z_L's exponentials and θ_A.
// R: blocks per (b, KV head), grid (B·Hkv, R). Block y computes the rows [y·d/R, (y+1)·d/R) of q̃_r and Δ (d/R rows of
// the rotation: one SM loads 64 KB / R of it); block 0 also everything else above. R 1: one block does all (the
// kernel before this round, its PTX). prep_rows() picks R.
// CL (R 1 only): thread-block clusters of CL blocks, the same KV head and CL consecutive sequences (the grid in KV-head
// major order: block x is (b, g) = (x % B, x / B), B a multiple of CL); block k of a cluster loads rows
// [k·d/CL, (k+1)·d/CL) of the KV head's rotation by one bulk copy multicast into every block's shared memory, so the
// L2 serves each rotation CL times less (at 32 × 32K 8 MB instead of 16 with CL 2). The rotation's dot products then
// read it from shared memory, each lane starting its row part at float4 (lane mod RC/4) (16-byte loads, conflict-free
// at d 128, two-way conflicts at d 64 where a row part is 4 float4s; the sums in that rotated order: other roundings,
// the same bound). prep_cluster() picks CL: 2 (the H200, 32 × 32K:
// prep −1.0 to −1.4 µs at 5% forced against CL 1; CL 4 was 4.6 to 7.1 µs slower, the cause not isolated; docs/gpu.md).
template <int G, int D, bool ZH = true, int DBG = 0, int R = 1, int CL = 1>
__global__ void __launch_bounds__(kPrepThreads, 2) prep_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int kWarps = kPrepThreads / 32, VPL = D / 32;  // comps per lane (the per-head sums)
  constexpr int ROWS = D / R;  // rotation rows of this block
  constexpr int RP = kPrepThreads / ROWS, RC = D / RP;  // q̃_r: parts per rotation row, components per part
  static_assert(D % R == 0 && kPrepThreads % ROWS == 0 && DBG * (R - 1) == 0, "whole rows per block; DBG at R 1");
  static_assert(CL == 1 || (R == 1 && DBG == 0 && D % CL == 0 && CL <= 16), "clusters with one block per (b, KV head)");
  constexpr int QPT = (G * D + kPrepThreads - 1) / kPrepThreads;  // query components per thread
  static_assert(G <= kWarps, "a warp per head for the per-head sums");
  static_assert(RC % 4 == 0 && kPrepThreads % D == 0 && D <= 128, "row parts of whole float4s");
  static_assert(kPrepThreads == 256, "s_hot covers 256 hot tokens; the hot passes are two halves of 128 threads");
  static_assert(kHistAll % 2 == 0, "8-byte histogram stores (a head's bins: kHistAll·4 bytes)");
  const int bx = blockIdx.x;
  const int b = CL > 1 ? bx % p.batch : bx / p.n_head_kv, g = CL > 1 ? bx / p.batch : bx % p.n_head_kv;
  const int bg = CL > 1 ? b * p.n_head_kv + g : bx;
  const int ry = R > 1 ? int(blockIdx.y) : 0;  // the block's part of the rows
  const bool rows_only = R > 1 && ry != 0;      // this block: its rows of q̃_r and Δ, nothing else
  const int64_t bq0 = int64_t(b) * p.n_head_q + int64_t(g) * G;  // the group's first query head
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  __shared__ __align__(16) float sq[G][D];
  __shared__ float s_mu[D];
  __shared__ float s_hot[G][256], s_kn[256];             // hot scores; Σ k_ti² (ru) of each hot token
  __shared__ float red_a[RP][G][ROWS], red_b[RP][G][ROWS];  // parts of the q̃_r and Δ sums
  __shared__ float red_h[2][G][128], red_k[2][128];      // halves of the hot scores and of Σ k_ti²
  [[maybe_unused]] __shared__ __align__(8) uint64_t s_vbar;  // CL > 1: the rotation's arrival in this block
  [[maybe_unused]] extern __shared__ __align__(128) float s_rot[];  // CL > 1: the KV head's rotation, D × D
  if constexpr (CL > 1) {
    // the rotation is an input no stage writes: requested before the wait, as the scan's first pages. Every block's
    // mbarrier is initialised (and seen by the cluster) before any block's multicast can signal it.
    if (threadIdx.x == 0) {
      mbar_init(&s_vbar, 1);
      mbar_init_fence();
    }
    cluster_arrive();
    cluster_wait();
    if (threadIdx.x == 0) {
      mbar_expect_tx(&s_vbar, uint32_t(D) * D * 4);  // this block's arrival; the bytes of all CL slices
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
      constexpr uint32_t kSlice = uint32_t(D) * D * 4 / CL;
      const uint32_t k = cluster_rank();
      bulk_g2s_multicast(reinterpret_cast<uint8_t*>(s_rot) + k * kSlice,
                         reinterpret_cast<const uint8_t*>(p.rot + int64_t(g) * D * D) + k * kSlice, kSlice, &s_vbar,
                         uint16_t((1u << CL) - 1u));
#else  // the portable PTX (no sm_90a features): each block copies the whole rotation itself
      bulk_g2s(s_rot, p.rot + int64_t(g) * D * D, uint32_t(D) * D * 4, &s_vbar);
#endif
    }
  }
  pdl_wait();  // before letting the scan launch: its early page requests rely on this order
  pdl_launch_next();
  const int ptl_blk = blockIdx.y * gridDim.x + blockIdx.x;
  const bool ptl = c.split_tl && ptl_blk < kPrepTlMax && threadIdx.x == 0;
  if (ptl) {
    g_prep_tl[ptl_blk][0] = timer_ns();
    if (ptl_blk == 0) g_prep_tl_blocks = gridDim.x * gridDim.y;
  }
  // every input load first: the query, μ, the rotation row parts, the hot keys of the first pass
  const int n = p.seq_len[b];
  float qv[QPT];
#pragma unroll
  for (int k = 0; k < QPT; ++k) qv[k] = tid + k * kPrepThreads < G * D ? p.q[bq0 * D + tid + k * kPrepThreads] : 0.0f;
  const float muv = tid < D ? p.mu[int64_t(g) * D + tid] : 0.0f, knmax = p.k_norm_max[g];
  // q̃_r and Δ: thread t owns row t % ROWS of the block's, part t / ROWS of its components (RP parts of RC)
  const int r_loc = tid % ROWS, r_row = ry * ROWS + r_loc, r_part = tid / ROWS;
  float4 vv[RC / 4];  // CL > 1: unused (the rotation comes from shared memory)
  if constexpr (CL == 1) {
    const float4* vrow = reinterpret_cast<const float4*>(p.rot + (int64_t(g) * D + r_row) * D + r_part * RC);
#pragma unroll
    for (int c4 = 0; c4 < RC / 4; ++c4) vv[c4] = (DBG & 1) ? make_float4(0.0f, 0.0f, 0.0f, 0.0f) : __ldg(vrow + c4);
  }
  const int hot_lo = min(p.n_sink, n), hot_hi0 = max(n - p.n_recent, hot_lo);
  const int n_hot = rows_only ? 0 : min(256, hot_lo + (n - hot_hi0));
  // hot scores: thread t owns token i0 + t % 128, half t / 128 of its components
  constexpr int HC = D / 2;
  const int part = tid / 128;
  auto hot_row = [&](int i) {  // the hot token's K row, this thread's half
    const int t = i < hot_lo ? i : hot_hi0 + (i - hot_lo);
    const int row = p.page_table[int64_t(b) * p.max_pages + t / kPage] * kPage + t % kPage;
    return reinterpret_cast<const uint4*>(p.k_cache + kv_row_off<D>(p, g, row) + part * HC);
  };
  uint4 kk[HC / 8];
  if (DBG & 2) {
#pragma unroll
    for (int c8 = 0; c8 < HC / 8; ++c8) kk[c8] = make_uint4(0u, 0u, 0u, 0u);
  } else if (tid % 128 < n_hot) {
    const uint4* kr = hot_row(tid % 128);
#pragma unroll
    for (int c8 = 0; c8 < HC / 8; ++c8) kk[c8] = __ldg(kr + c8);
  }
  if (!rows_only) {  // the first entries of the KV head's survivor list: attend reads its first tile's row ids before the count
    int32_t* sr = w.srow + int64_t(bg) * p.max_seq;
    const int nz = min(p.max_seq, p.splits * kListZeroRows);
    for (int i = tid; i < nz; i += kPrepThreads) sr[i] = 0;
  }
  if (ZH && !rows_only) {  // zero the heads' histograms (8-byte stores: bq0·kHistAll·4 is a multiple of 8)
    uint2* hz = reinterpret_cast<uint2*>(w.hist + bq0 * kHistAll);
    for (int i = tid; i < G * kHistAll / 2; i += kPrepThreads) hz[i] = make_uint2(0u, 0u);
  }
#pragma unroll
  for (int k = 0; k < QPT; ++k) {
    const int i = tid + k * kPrepThreads;
    if (i >= G * D) break;
    const float qs = __fmul_rn(qv[k], p.scale);
    sq[i / D][i % D] = qs;
    if (!rows_only) w.qsig[bq0 * D + i] = qs;
  }
  if (tid < D) s_mu[tid] = muv;
  __syncthreads();
  // Every dot product below is one thread's FMA chain over a part of the components (no shuffle
  // reductions: their dependent chains, G per row and token, bounded the kernel), the parts added
  // through shared memory by strided loops over (head, row or token). qσ̃ is read from shared memory,
  // the same address in every lane. The rotation first (its rows arrive first: L2-resident across the
  // KV head's blocks), while the hot keys are in flight.
  {
    float acc[G], aa[G];
#pragma unroll
    for (int h = 0; h < G; ++h) { acc[h] = 0.0f; aa[h] = 0.0f; }
    if constexpr (CL > 1) mbar_wait(&s_vbar, 0);  // every slice of the rotation is here
#pragma unroll
    for (int c4 = 0; c4 < RC / 4; ++c4) {
      // CL > 1: float4 cc of the row part from shared memory, lanes starting at different float4s
      const int cc = CL > 1 ? (c4 + lane) % (RC / 4) : c4;
      float4 v4;
      if constexpr (CL > 1) v4 = *reinterpret_cast<const float4*>(&s_rot[r_row * D + r_part * RC + 4 * cc]);
      else v4 = vv[c4];
      const float x[4] = {v4.x, v4.y, v4.z, v4.w};
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float4 q4 = *reinterpret_cast<const float4*>(&sq[h][r_part * RC + 4 * cc]);
        const float qq[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          acc[h] = __fmaf_rn(x[e], qq[e], acc[h]);
          aa[h] = __fmaf_ru(fabsf(x[e]), fabsf(qq[e]), aa[h]);
        }
      }
    }
#pragma unroll
    for (int h = 0; h < G; ++h) { red_a[r_part][h][r_loc] = acc[h]; red_b[r_part][h][r_loc] = aa[h]; }
  }
  for (int i0 = 0; i0 < n_hot; i0 += 128) {
    const int i = i0 + tid % 128;
    if (i0) {  // a second pass (more than 128 hot tokens): its keys now
      __syncthreads();  // the previous pass has read red_h, red_k
      if (i < n_hot && !(DBG & 2)) {
        const uint4* kr = hot_row(i);
#pragma unroll
        for (int c8 = 0; c8 < HC / 8; ++c8) kk[c8] = __ldg(kr + c8);
      }
    }
    if (i < n_hot) {
      float sc[G], kn = 0.0f;
#pragma unroll
      for (int h = 0; h < G; ++h) sc[h] = 0.0f;
#pragma unroll
      for (int c8 = 0; c8 < HC / 8; ++c8) {
        float kf[8];
        bf16x8(kk[c8], kf);
#pragma unroll
        for (int e = 0; e < 8; ++e) kn = __fmaf_ru(kf[e], kf[e], kn);
#pragma unroll
        for (int h = 0; h < G; ++h) {
          const float4 qa = *reinterpret_cast<const float4*>(&sq[h][part * HC + 8 * c8]);
          const float4 qb = *reinterpret_cast<const float4*>(&sq[h][part * HC + 8 * c8 + 4]);
          const float qq[8] = {qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w};
#pragma unroll
          for (int e = 0; e < 8; ++e) sc[h] = __fmaf_rn(qq[e], kf[e], sc[h]);
        }
      }
#pragma unroll
      for (int h = 0; h < G; ++h) red_h[part][h][tid % 128] = sc[h];
      red_k[part][tid % 128] = kn;
    }
    __syncthreads();
    for (int x = tid; x < (G + 1) * 128; x += kPrepThreads) {
      const int h = x / 128, j = x % 128;
      if (i0 + j >= n_hot) continue;
      if (h < G)
        s_hot[h][i0 + j] = __fadd_rn(red_h[0][h][j], red_h[1][h][j]);
      else
        s_kn[i0 + j] = __fadd_ru(red_k[0][j], red_k[1][j]);
    }
  }
  if (n_hot == 0) __syncthreads();  // red_a, red_b are complete
  for (int x = tid; x < G * ROWS; x += kPrepThreads) {
    const int h = x / ROWS, r = x % ROWS, row = ry * ROWS + r;
    float acc = red_a[0][h][r], aa = red_b[0][h][r];
#pragma unroll
    for (int pp = 1; pp < RP; ++pp) { acc = __fadd_rn(acc, red_a[pp][h][r]); aa = __fadd_ru(aa, red_b[pp][h][r]); }
    w.qrot[(bq0 + h) * D + row] = acc;
    w.qdelta[(bq0 + h) * D + row] = __fmul_ru(c.g_q, aa);
  }
  if (rows_only) {
    if (ptl) g_prep_tl[ptl_blk][1] = timer_ns();
    return;
  }
  __syncthreads();  // s_hot, s_kn complete
  // per head (warp h): qμ, ||qσ̃||, m_L = max s̃_t, Z_L = Σ e^{s̃_t − ε_t − m_L} (float64, rounded down by
  // the final factor)
  if (warp < G) {
    const int h = warp;
    const int64_t bq = bq0 + h;
    float a = 0, aa = 0, nn = 0;
    bool bad_q = false;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int j = lane * VPL + k;
      const float qs = sq[h][j], mu = s_mu[j];
      bad_q = bad_q || !isfinite(qs);
      a = __fmaf_rn(qs, mu, a);
      aa = __fmaf_ru(fabsf(qs), fabsf(mu), aa);
      nn = __fmaf_ru(qs, qs, nn);
    }
    const float qmu = warp_sum_rn(a), qmu_abs = warp_sum_ru(aa), nsq = warp_sum_ru(nn);
    const float nq_hi = __fmul_ru(__fsqrt_ru(nsq), c.inv_1mg2);  // the same in every lane (xor butterfly)
    float mx = -INFINITY;
    bool bad_hot = false;
    for (int i = lane; i < n_hot; i += 32) {
      mx = fmaxf(mx, s_hot[h][i]);
      bad_hot = bad_hot || !isfinite(s_hot[h][i]);
    }
    mx = warp_max(mx);
    const uint32_t flags = (__any_sync(0xffffffffu, bad_q) ? kCertNonFiniteQuery : 0u) |
                           (__any_sync(0xffffffffu, bad_hot) ? kCertNonFiniteHot : 0u);
    double z = (DBG & 4) ? 1.0 : 0.0;
    for (int i = lane; i < ((DBG & 4) ? 0 : n_hot); i += 32) {
      float eps = __fadd_ru(__fmul_ru(c.g_q, __fmul_ru(nq_hi, __fsqrt_ru(s_kn[i]))), c.tiny);  // ε_t
      if (isnan(eps)) eps = INFINITY;  // 0·∞ (a zero query and an overflowing ‖k‖², or the reverse): the
                                       // token then adds nothing to Z_L, which stays a lower bound
      z += exp(double(s_hot[h][i]) - double(eps) - double(mx));
    }
    z = warp_sum_d(z);
    const double zl = z * (1.0 - 1e-12);
    if (p.box && !(DBG & 4)) {  // θ_A of the anchor stage: the largest edge e_k with n_cand·e^{e_k}·(1 + 1e-11) ≤ anchor_share·budget
      const double budget = p.delta * zl / (1.0 - p.delta) * (1.0 - 1e-12) * double(p.anchor_share);
      const int n_cand = hot_hi0 - hot_lo;
      int best = -1;
#pragma unroll
      for (int i = 0; i < (kHistBins + 32) / 32; ++i) {  // every load in flight at once
        const int k = lane + 32 * i;
        if (k <= kHistBins && double(n_cand) * g_exp_edge[k] * (1 + 1e-11) <= budget) best = k;  // e^{edge} increases with k
      }
      for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
      if (lane == 0) w.theta_a[bq] = best < 0 ? -INFINITY : float(hist_edge(best));
    }
    if (lane == 0) {
      const float qmu_hi = __fadd_ru(__fadd_ru(qmu, __fmul_ru(c.g_q, qmu_abs)), c.tiny);
      float* qsc = w.qscal + bq * 4;
      qsc[0] = qmu_hi;
      qsc[1] = nq_hi;
      qsc[2] = mx;
      qsc[3] = __fadd_ru(__fmul_ru(c.g_q, __fmul_ru(nq_hi, knmax)), c.tiny);  // ≥ |s_t − s̃_t| for every t
      w.zl[bq] = zl;
      if (p.cert) {  // the certificate's fields no later stage writes: the cut's budget (every cut's, from this Z_L) and m_L
        Certificate& ce = p.cert[bq];
        ce.budget = p.delta * zl / (1.0 - p.delta) * (1.0 - 1e-12);
        ce.m_l = mx;
        ce.reserved = 0u;
      }
      w.flags[bq] = flags;
      w.me[bq] = 0.0;
      w.nu_e[bq] = 0u;
      w.theta[bq] = INFINITY;  // the cut overwrites it, or (the split cut compacting in the scan) lowers it per block
      if (h == 0) {
        w.n_surv[bg] = 0;
        w.done[bg] = 0;
        w.n_plist[bg] = 0;
        w.ready[1 + bg] = 0;
        w.ready[p.batch * p.n_head_kv + 2 + bg] = 0;
        w.cdone[bg] = 0;
        if (bg == 0) w.ready[0] = w.ready[p.batch * p.n_head_kv + 1] = 0;
      }
    }
  }
  if constexpr (CL > 1) {  // no block leaves while a multicast it issued may still write into another
    cluster_arrive();
    cluster_wait();
  }
  if (ptl) g_prep_tl[ptl_blk][1] = timer_ns();  // thread 0: warp 0's head, the last of its stores issued
}

// The scan's timeline (diagnostics: GHOSTKV_SCAN_DEBUG bit 32, the DBG build): per block of the last launch, on the
// GPU's global timer (ns): its KV head, its start, the return of griddepcontrol.wait, its end (thread 0, after the
// histogram flush and done count, and in the last block of a KV head after the cut), the end of the flush's barrier,
// the end of the done count, whether it was its KV head's last block, in the last block thread 0's steps of the cut
// (its counts summed, θ found, the cut warps' barrier, the fence, the ready-list slot), the end of each warp's page loop
inline constexpr int kScanTlMax = 4096, kScanTlCols = 12 + 16;
__device__ long long g_scan_tl[kScanTlMax][kScanTlCols];
__device__ int g_scan_tl_blocks;
__device__ __forceinline__ long long global_ns() {
  long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}
// the timer read once dep is available (a branch on it, never taken, makes the read wait for its load or arithmetic)
__device__ __forceinline__ long long global_ns_after(long long dep) {
  if (dep == 0x7ff0dead0000beefLL) __trap();
  return global_ns();
}

// ---------------------------------------------------------------------------------------------
// cut_head's LEAN path: bin lane·kPer + i's mass bound, from its count
template <int kPer>
__device__ __forceinline__ double lean_bin(const uint32_t (&cnt)[kPer], const double* edge, int lane, int i) {
  return cnt[i] ? double(cnt[i]) * edge[lane * kPer + i] * (1 + 1e-12) : 0.0;
}

// cut of one query head (one warp): bin k < kHistBins+1 has upper edge e_k (bin 0: kHistLo,
// bin k ≥ 1: kHistLo + k/16); tokens in bins 0..K−1 satisfy UB − m_L < e_{K−1}, so
// M(K) = Σ_{k<K} count_k·e^{e_k} ≥ Σ e^{UB_t − m_L}. θ = e_{K−1} for the largest K with
// M(K) ≤ budget = δ·Z_L/(1 − δ) (then M/(Z_L + M) ≤ δ); θ = −inf when none fits. e^{e_k} comes
// rounded up from g_exp_edge; the sums' roundings are covered by the (1 + 1e-12) factors.
// LEAN (the low-rank scan, 64 registers): the counts stay in registers and e^{edge} comes from the
// block's shared copy of g_exp_edge (edge), recomputed in the second pass; otherwise (the quant scan)
// the kPer bin values are held as doubles, every load in flight at once (its registers are free here).
// SMEM: the counts come from the block's own histogram in shared memory (local_hist; the block is its KV
// head's only one, and an anchor stage's counts were added into it first), not from the global one.
// PRE (the quant scan, GHOSTKV_CUT_PRE, default): e^{edge} from the block's shared copy (edge) rather than from
// global memory behind each count, and Z_L and m_L (prep's) loaded before the counts, not after their sums.
// tl (the quant scan's timeline, thread 0 of the last block): the timer once the counts are summed (tl[0]) and once
// θ's bin is found (tl[1]).
// SPLIT (finish_scan_split: the split cut of DecodeParams::cut_split, with SMEM and PRE): the block's own candidates
// n_c are its histogram's total (every bin, the overflow bin's too), and the budget is the block's share
// budget·n_c/n_cand·(1 − 1e-12), n_cand the KV head's candidates: the shares' sum stays below the budget (each
// quotient and product is rounded to nearest, within 2^-53 of its value: far inside the 1e-12). θ goes to th_out
// (f16 bits: every edge and −inf are exact in f16), not to Workspace::theta; compact writes the certificate's θ (the
// lowest of the blocks'). Every cut leaves the certificate's budget (the whole budget) and m_L to prep.
template <bool LEAN, bool SMEM = false, bool PRE = false, bool SPLIT = false>
__device__ void cut_head(const DecodeParams& p, const Workspace& w, int64_t bq, const double* edge,
                         const uint32_t* local_hist = nullptr, long long* tl = nullptr, uint16_t* th_out = nullptr,
                         int n_cand = 0) {
  constexpr int kCand = kHistBins + 1, kPer = (kCand + 31) / 32;
  static_assert(!SPLIT || (!LEAN && SMEM && PRE), "the split cut reads the block's own histogram, edges staged");
  [[maybe_unused]] uint32_t ctot = 0;  // SPLIT: the lane's bins' counts, every bin
  const int lane = threadIdx.x & 31;
  const uint32_t* hs = w.hist + bq * kHistAll;
  [[maybe_unused]] double zl_pre = 0.0;
  if constexpr (PRE) zl_pre = w.zl[bq];
  double local = 0;
  [[maybe_unused]] double val[LEAN ? 1 : kPer];
  [[maybe_unused]] uint32_t cnt[LEAN ? kPer : 1];
  if constexpr (!LEAN) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int k = lane * kPer + i;
      uint32_t c = 0u;
      if constexpr (SPLIT) {
        c = k < kHistAll ? local_hist[k] : 0u;
        ctot += c;
        if (k >= kCand) c = 0u;
      } else if constexpr (SMEM) {
        c = k < kCand ? local_hist[k] : 0u;
      } else {
        c = k < kCand ? __ldcg(&hs[k]) : 0u;  // L2: the other blocks' atomics
      }
      val[i] = c ? double(c) * (PRE ? edge[k] : __ldg(&g_exp_edge[k])) * (1 + 1e-12) : 0.0;
      local += val[i];
    }
  } else {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int k = lane * kPer + i;
      if constexpr (SMEM) cnt[i] = k < kCand ? local_hist[k] : 0u;
      else cnt[i] = k < kCand ? __ldcg(&hs[k]) : 0u;
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) local += lean_bin(cnt, edge, lane, i);
  }
  if (tl && threadIdx.x == 0) tl[0] = global_ns_after(__double_as_longlong(local));
  double incl = local;
  for (int o = 1; o < 32; o <<= 1) {
    const double y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  // the lanes before this one: the previous lane's inclusive sum (incl − local would lose a prefix far
  // below this lane's own bins to rounding, and M(K) would come out short of the sum it stands for)
  double run = __shfl_up_sync(0xffffffffu, incl, 1);
  if (lane == 0) run = 0.0;
  const double budget = p.delta * (PRE ? zl_pre : w.zl[bq]) / (1.0 - p.delta) * (1.0 - 1e-12);
  double budget_c = budget;  // the budget this cut may spend
  if constexpr (SPLIT) {
    for (int o = 16; o > 0; o >>= 1) ctot += __shfl_xor_sync(0xffffffffu, ctot, o);
    budget_c = ctot == 0u || n_cand <= 0 ? 0.0 : budget * (double(ctot) / double(n_cand)) * (1.0 - 1e-12);
  }
  int best = -1;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int k = lane * kPer + i;
    if constexpr (LEAN) run += lean_bin(cnt, edge, lane, i);
    else run += val[i];
    if (k < kCand && run * (1 + 1e-12) <= budget_c) best = k;
  }
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  if (tl && threadIdx.x == 0) tl[1] = global_ns_after(best);
  if (SPLIT && lane == 0) {
    const float th = best < 0 ? -INFINITY : float(hist_edge(best));
    *th_out = __half_as_ushort(__float2half_ru(th));
  } else if (lane == 0) {
    const float th = best < 0 ? -INFINITY : float(hist_edge(best));
    w.theta[bq] = th;
    if (p.cert) p.cert[bq].theta = th;  // the certificate's budget and m_L are prep's (the same Z_L and m_L)
  }
}

// After the cut: warps 0..G−1 of the last block have written θ (and the certificate's fields) of
// their heads; thread 0 then appends the KV head to the ready list (Workspace::ready), the order in
// which compact, launched with from_list, takes the KV heads (it waits for its entry instead of for
// the whole scan grid).
// tl (the quant scan's timeline): thread 0 records the timer after the barrier (tl[0]), the fence (tl[1]) and the
// slot's atomic (tl[2]).
template <int G>
__device__ __forceinline__ void publish_cut(const Workspace& w, int bg, long long* tl = nullptr) {
  if constexpr (G > 1) asm volatile("bar.sync 1, %0;" ::"n"(G * 32) : "memory");  // the G cut warps
  else __syncwarp();
  if (threadIdx.x == 0) {
    if (tl) tl[0] = global_ns();
    __threadfence();
    if (tl) tl[1] = global_ns();
    const int slot = atomicAdd(&w.ready[0], 1);
    if (tl) tl[2] = global_ns_after(slot);
    st_release_gpu(&w.ready[1 + slot], bg + 1);
  }
}

// The scan's end of block (every thread), per build of the scan (template argument CUT of scan_kernel):
//   kCutGlobal (finish_scan_block): the block's histogram goes to the global one (atomics), then the done
//     count (thread 0's acq_rel add after a block barrier); the last block of its (b, KV head) computes the cut of the G heads from the global
//     histogram.
//   kCutLocal (finish_scan_local): the block is its KV head's only one (grid.x 1), so its own histogram,
//     plus the anchor stage's counts where there is one (read from the global histogram, complete before
//     the scan's griddepcontrol.wait returned), is the KV head's: the cut reads it in shared memory, with
//     no flush, fence or done count (without anchors, and in the fused low-rank kernel, whose block counted
//     its anchored candidates itself, the global histogram is not used and prep skips zeroing it). stage1
//     launches it only there; the block traps otherwise.
//   kCutSplit (finish_scan_split): DecodeParams::cut_split, several blocks per KV head. Each block cuts its own
//     histogram against its share of the budget (cut_head's SPLIT) as soon as its pages are done: no flush, done
//     count, last block or ready list. Block c takes the KV head's pages p ≡ c (mod C) (its warp w: pages
//     w·C + c + k·C·SW), so that every block's candidates sample the whole sequence (scripts/split_cut.py: on real
//     captures the survivors then rise by 0.1-0.7 points at 16 blocks, by up to 4.0 with runs of 4 pages per block).
inline constexpr int kCutGlobal = 0, kCutLocal = 1, kCutSplit = 2;
static_assert(kCutSplit == kCutModeSplit, "scan_cut_mode's value for the split cut (decode.h)");
// kCutGlobal (and the low-rank scan's global cut, LEAN)
// tl (diagnostics, the quant scan's timeline): thread 0 records the global timer after the flush's barrier
// (tl[0]), after the done count (tl[1]), whether the block is its KV head's last (tl[2]) and, in the last block, the
// cut's steps (tl[3..7]: cut_head's and publish_cut's).
// edge_buf (the quant scan's cut with PRE, NT threads per block): shared memory free once every page is done, where
// the block stages g_exp_edge (its loads issued before the flush, so that their latency overlaps it and the done
// count) for the last block's cut.
template <int NT>
__device__ __forceinline__ void edge_stage_load(double (&ev)[(kHistBins + NT) / NT], int tid) {
#pragma unroll
  for (int j = 0; j < (kHistBins + NT) / NT; ++j) {
    const int i = tid + j * NT;
    ev[j] = i <= kHistBins ? __ldg(&g_exp_edge[i]) : 0.0;
  }
}
template <int NT>
__device__ __forceinline__ void edge_stage_store(const double (&ev)[(kHistBins + NT) / NT], double* edge_buf, int tid) {
#pragma unroll
  for (int j = 0; j < (kHistBins + NT) / NT; ++j)
    if (tid + j * NT <= kHistBins) edge_buf[tid + j * NT] = ev[j];
}
// cnt_buf (the quant scan's cut with PRE, GHOSTKV_CUT_COAL, default): shared memory free once every page is done
// ([G][kHistAll] words), where the last block copies its G heads' counts from the global histogram (contiguous there)
// with every thread's loads coalesced, before the cut warps read them lane by lane (lane ℓ's kPer consecutive bins:
// a stride of kPer = 33 words, so the 32 lanes hit distinct banks). Without it each cut lane loads its 33 bins from
// L2 itself, and each of the warp's 33 loads touches 32 lines (call133: 2.6-2.7 µs).
template <int G, bool LEAN = false, int NT = 0>
__device__ void finish_scan_block(const DecodeParams& p, const Workspace& w, const uint32_t* hist, int b, int g,
                                  long long* tl = nullptr, double* edge_buf = nullptr, uint32_t* cnt_buf = nullptr) {
  const int tid = threadIdx.x, bg = b * p.n_head_kv + g;
  static_assert(NT == 0 || !LEAN, "the staged edges are the quant scan's");
  [[maybe_unused]] double ev[NT > 0 ? (kHistBins + NT) / NT : 1];
  if constexpr (NT > 0)
    if (edge_buf) edge_stage_load<NT>(ev, tid);
  __syncthreads();
  for (int i = tid; i < G * kHistAll; i += blockDim.x) {
    const uint32_t v = hist[i];
    if (v) {
      uint32_t* gh = w.hist + int64_t(b) * p.n_head_q * kHistAll + int64_t(g) * G * kHistAll;  // heads g·G.. contiguous
      atomicAdd(&gh[i], v);
    }
  }
  if constexpr (NT > 0)
    if (edge_buf) edge_stage_store<NT>(ev, edge_buf, tid);
  // the done count: thread 0's acq_rel add after the barrier releases the block's histogram atomics and, in
  // the last block, acquires the other blocks' (the barrier after it orders the cut warps' loads after it).
  // Until a274ee7 every thread ran __threadfence() (MEMBAR.SC.GPU) before the barrier, and the last block's
  // cut warps another one before their loads.
  __shared__ bool s_last;
  __syncthreads();
  if (tl && tid == 0) tl[0] = global_ns();
  if (tid == 0) s_last = atom_add_acq_rel_gpu(&w.done[bg], 1) == int(gridDim.x) - 1;
  if (tl && tid == 0) {
    tl[1] = global_ns();
    tl[2] = s_last;
  }
  __syncthreads();
  if constexpr (LEAN) {
    if (!s_last) return;
    __shared__ double s_edge[kHistBins + 1];  // e^{edge_k} rounded up: one load per thread, not 33 per lane
    for (int i = tid; i <= kHistBins; i += blockDim.x) s_edge[i] = g_exp_edge[i];
    __syncthreads();
    if ((tid >> 5) >= G) return;
    cut_head<true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), s_edge);
  } else {
    if (!s_last) return;
    if constexpr (NT > 0)
      if (edge_buf && cnt_buf) {
        constexpr int kAll = G * kHistAll, kPerT = (kAll + NT - 1) / NT;
        const uint32_t* gh = w.hist + int64_t(b) * p.n_head_q * kHistAll + int64_t(g) * G * kHistAll;
        uint32_t v[kPerT];  // every load in flight before the first store
#pragma unroll
        for (int j = 0; j < kPerT; ++j) v[j] = tid + j * NT < kAll ? __ldcg(&gh[tid + j * NT]) : 0u;  // L2: the atomics
#pragma unroll
        for (int j = 0; j < kPerT; ++j)
          if (tid + j * NT < kAll) cnt_buf[tid + j * NT] = v[j];
        __syncthreads();
        if ((tid >> 5) >= G) return;
        cut_head<false, true, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), edge_buf,
                                    cnt_buf + (tid >> 5) * kHistAll, tl ? tl + 3 : nullptr);
        publish_cut<G>(w, bg, tl ? tl + 5 : nullptr);
        return;
      }
    if ((tid >> 5) >= G) return;
    if (NT > 0 && edge_buf)
      cut_head<false, false, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), edge_buf, nullptr, tl ? tl + 3 : nullptr);
    else
      cut_head<false>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), nullptr, nullptr, tl ? tl + 3 : nullptr);
  }
  publish_cut<G>(w, bg, tl ? tl + 5 : nullptr);
}

// kCutLocal (the quant scan; LEAN: the low-rank scan)
// GH: an anchor stage's counts are in the global histogram (false: the fused low-rank kernel, whose block put
// its anchored candidates in its own histogram). PUB: the KV head goes onto the ready list for compact (false:
// the fused low-rank block that compacts its KV head itself)
template <int G, bool LEAN = false, bool GH = true, bool PUB = true, int NT = 0>
__device__ void finish_scan_local(const DecodeParams& p, const Workspace& w, uint32_t* hist, int b, int g,
                                  double* edge_buf = nullptr) {
  const int tid = threadIdx.x, bg = b * p.n_head_kv + g;
  static_assert(NT == 0 || !LEAN, "the staged edges are the quant scan's");
  [[maybe_unused]] double ev[NT > 0 ? (kHistBins + NT) / NT : 1];
  if constexpr (NT > 0)
    if (edge_buf) edge_stage_load<NT>(ev, tid);
  __syncthreads();
  if (gridDim.x != 1) __trap();  // other blocks' counts exist
  if (GH && p.box != nullptr) {  // the anchor stage's counts (its eliminated pages' candidates) into the block's
    const uint32_t* gh = w.hist + int64_t(b) * p.n_head_q * kHistAll + int64_t(g) * G * kHistAll;
    for (int i = tid; i < G * kHistAll; i += blockDim.x) hist[i] += __ldcg(&gh[i]);
    __syncthreads();
  }
  if constexpr (LEAN) {
    __shared__ double s_edge[kHistBins + 1];  // e^{edge_k} rounded up (as finish_scan_block's LEAN cut)
    for (int i = tid; i <= kHistBins; i += blockDim.x) s_edge[i] = g_exp_edge[i];
    __syncthreads();
    if ((tid >> 5) >= G) return;
    cut_head<true, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), s_edge, hist + (tid >> 5) * kHistAll);
  } else {
    if constexpr (NT > 0)
      if (edge_buf) {
        edge_stage_store<NT>(ev, edge_buf, tid);
        __syncthreads();
      }
    if ((tid >> 5) >= G) return;
    if (NT > 0 && edge_buf)
      cut_head<false, true, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), edge_buf, hist + (tid >> 5) * kHistAll);
    else
      cut_head<false, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), nullptr, hist + (tid >> 5) * kHistAll);
  }
  if constexpr (PUB) publish_cut<G>(w, bg);
}

// kCutSplit: block chunk of KV head (b, g) stages the cut's edges in its page buffers (edge_buf: free once every page is
// done), then warps 0..G−1 cut their heads from the block's histogram against the block's share of the budget
// (cut_head's SPLIT) into Workspace::theta_blk (the row of (b·Hkv + g, chunk); heads G..3 +inf).
template <int G, int NT>
__device__ void finish_scan_split(const DecodeParams& p, const Workspace& w, const uint32_t* hist, int b, int g, int chunk,
                                  double* edge_buf) {
  const int tid = threadIdx.x, bg = b * p.n_head_kv + g;
  double ev[(kHistBins + NT) / NT];
  edge_stage_load<NT>(ev, tid);
  __syncthreads();  // every warp is done with its pages (the buffers) and its histogram atomics
  edge_stage_store<NT>(ev, edge_buf, tid);
  uint16_t* th = w.theta_blk + (int64_t(bg) * kSplitMaxChunks + chunk) * 4;
  if (tid >= G && tid < 4) th[tid] = 0x7C00u;  // pad heads: +inf (compact compares two heads a word)
  __syncthreads();
  if ((tid >> 5) >= G) return;
  const int n = p.seq_len[b];
  const int hot_lo = min(p.n_sink, n), hot_hi = max(n - p.n_recent, hot_lo);  // the KV head's candidates (prep's)
  cut_head<false, true, true, true>(p, w, int64_t(b) * p.n_head_q + g * G + (tid >> 5), edge_buf,
                                    hist + (tid >> 5) * kHistAll, nullptr, th + (tid >> 5), hot_hi - hot_lo);
}

// The split cut's compaction inside the scan (scan_kernel's SC; defined after compact's pieces below): KB segments a
// batch per warp
template <int G, int SW, bool FORCED, int KB>
__device__ void scan_split_compact(const DecodeParams& p, const Workspace& w, int b, int g, int chunk, int split, long long* sft);
// scan_kernel's SC (the split cut's compaction in the scan): 0 none (the compact kernel after the scan), else
// 1 + FORCED + 2·V, V the walk (GHOSTKV_SPLIT_COMPACT − 1): 0 batches of 2 segments a warp (compact's), 1 batches of 4
// (the default: one batch per warp at 1 × 128K; call159: stage 1 0.3-0.8 µs shorter than batches of 2, 8 pairs). A third
// walk, batches of 4 whose first batch's bounds and page-table entries each warp prefetched into the L1
// (prefetch.global.L1) between the block's last bound store and its cut, was 0.1-0.4 µs slower than batches of 2
// (fa2c4ad, call159) and is not built; nor is batches of 4 with the batch's M_E terms computed by warps 1.. while
// thread 0's survivor-count atomic was in flight (warp 0's after it): 0.0-0.6 µs slower than batches of 4 (8bf51c7,
// call162, 6 pairs, mean +0.38), certified rows (no M_E term) included.
__host__ __device__ constexpr bool sc_forced(int sc) { return sc > 0 && ((sc - 1) & 1); }
__host__ __device__ constexpr int sc_batch(int sc) { return sc > 2 ? 4 : 2; }

// ---------------------------------------------------------------------------------------------
// scan: grid (chunks, B·Hkv), 8 warps; each warp streams whole pages (codes in fragment order +
// per-page meta; with anchors only the listed pages) into its own NB page buffers with the bulk-copy
// engine and bounds the page's 64 tokens. b_j: component j's width (8 or 4), Q_j = 2^{b_j} − 1.
// Per page and head (page_prep, 8 lanes per head): w_j = fl(q̃_rj·h_j); S = 2^e > max|w_j|/32639;
//   W_j = rint(w_j/S) ∈ [−32639, 32639] (one FMA: w_j·2^-e + (1.5·2^23 + 128) rounds to an integer,
//   whose low 16 bits are W_j + 128), split as W_j = 256·a_j + b_j (a_j ∈ [−127, 127], b_j int8);
//   E = S·(1/2 + 2^-8)·Σ_j Q_j ≥ Σ_j Q_j·(|w_j − S·W_j| + 2^-23·|w_j|) ≥ |Σ_j (q̃_rj·h_j − S·W_j)·m_tj|;
//   add = Σ_j [(|q̃_rj| + Δ_j)·err_j + Δ_j·Q_j·h_j] + E + qμ_hi + ||σq||·resid (all rounded up).
// Per token: X = Σ_j W_j c_tj = 256·Σ_j a_j c_tj + Σ_j b_j c_tj by the integer tensor cores
// (mma.m16n8k32 u8 × s8 → s32: A = 16 tokens' codes, B = the 2G query planes), EXACT in int32
// (|Σ_j a_j c_tj|, |Σ_j b_j c_tj| < 2^23); Y = Σ_j W_j m_tj = 2X − K with m = 2c − Q and K = Σ_j Q_j·W_j
// (one more tile, whose A is every code at its maximum): |Y|, |K| ≤ Σ_j |W_j|·Q_j < 2^31, so Y is
// computed exactly modulo 2^32 (X itself may not fit); UB_t − m_L ≤ S·ru(Y) ⊕↑ (add ⊖↑ m_L), stored as f16↑; hot tokens
// store +inf and skip the histogram. docs/gpu.md has the proof.
// K8: 8-bit k-steps (the first 32·K8 components at 8 bits, the rest at 4; decode.h witness_k8)
template <int D, int K8>
struct ScanShape {
  static constexpr int CB = 32 * K8 + 16 * (D / 32 - K8);   // code bytes per token
  static constexpr int PB = kPage * CB;     // code bytes per page
  static constexpr int MB = 2 * D * 2;      // meta bytes per page (f16 h_j, f16 err_j)
  static constexpr int BUF = PB + MB;
  static constexpr int NW = D / 4;          // query words (4 int8 lanes each) per plane row
  static constexpr int KS = D / 32;         // mma k-steps
  static constexpr int BPL = 8 * K8 + 4 * (KS - K8);  // code bytes per lane per 8 tokens
  static constexpr int CBY = BPL % 16 == 0 ? 16 : BPL % 8 == 0 ? 8 : 4, NC = BPL / CBY;  // load chunks
  // page prep: lane ℓ preps head ℓ & 3 over CPL consecutive components (the WPL query words of word
  // lanes WPL·(ℓ >> 2) + u, lane_comps); NQ float4 of query factors per lane
  static constexpr int CPL = D / 8, WPL = D / 32, NQ = 3 * CPL / 4;
  // plane rows in shared memory: row 2h (a) and 2h + 1 (b) of head h; k-word kw = 8·ks + 4·j + q sits
  // at q·2·KS + 2·ks + j, so a lane's B fragments (q = lane & 3) are 2·KS consecutive words; rows
  // padded to ROW words so that 8 lanes' 16-byte loads hit distinct banks
  static constexpr int ROW = NW + (KS == 4 ? 4 : 0);
  static_assert(CPL % 8 == 0 && WPL % 2 == 0 && (2 * KS) % 4 == 0, "d 64 or 128");
  // Σ_j Q_j over the d components, and (1/2 + 2^-8)·Σ_j Q_j (exact in float); Σ_j |W_j|·Q_j must fit int32
  static constexpr double SUMQ = 255.0 * 32 * K8 + 15.0 * (D - 32 * K8);
  static constexpr float EC = float(SUMQ * (0.5 + 0x1p-8));
  static_assert(double(EC) == SUMQ * (0.5 + 0x1p-8), "E's factor must be exact");
  static_assert(32639.0 * SUMQ < 2147483647.0, "Y and K must fit int32");
};
// NB: pages in flight per warp (its page buffers); SW: warps per block. The block's histogram has one
// 32-bit count per (head, bin).
template <int G, int D, int K8, int NB, int SW>
constexpr int scan_smem_bytes() {
  using S = ScanShape<D, K8>;
  return SW * NB * S::BUF + SW * 8 * S::ROW * 4 + S::NQ * 32 * 16 + G * kHistAll * 4;
}
// The scan's block shape: 8 warps of one page buffer each, two blocks per SM (16 warps, at most 128
// registers). On the H200 (G 4, d 128; results/gpu/experiments/scan_shape_ab.csv) it beat 4 warps ×
// 2 buffers at 2 blocks per SM (the shape before) by 15–29% of stage 1 for int8 and int4 at 1 × 128K
// and 32 × 32K; against the next-best shape tried (4 warps × 1 buffer at 4 blocks per SM) it was 3–8%
// faster for int8 and level (within 1%) for int4: the scan is bound by each warp's per-page latency
// chains, so resident warps matter more than pages in flight.
constexpr int kScanBufs = 1, kScanMinBlocks = 2;
// The scan's blocks by default interleave the KV heads (Consts::scan_mix; GHOSTKV_SCAN_MIX=0 keeps the blocks
// of one KV head consecutive): stage 1 at 1 × 128K 0.0-0.9 µs shorter (0.45 µs, 0.7% on average) on each of
// the 14 rows of two same-call A/Bs (results/gpu/experiments/ab_scan_order_call68/69). Taking a warp's pages
// after the first from a per-KV-head counter instead of fixed strides was slower there (+5 to +7 µs at
// 1 × 128K, +68 to +76 µs at 32 × 32K) and is not built.
constexpr int kScanMixDefault = 1;
static_assert(kScanBlockWarps == 8, "decode.h kScanBlockWarps: the shape measured");

// d += A·B for one m16n8k32 tile: A rows u8 (16 tokens' codes), B columns s8 (the query planes)
__device__ __forceinline__ void mma_u8s8(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The components of one query word (4 int8 lanes) of k-order, as the anchor stage's lanes own them
// and the scan's page prep packs them. Word lanes ℓ < 8·K8 (8-bit codes): components 4ℓ..4ℓ+3; the
// others (4-bit codes): the low or high nibbles of code word ℓ/2, components 8·(ℓ/2) + ℓ%2 + 2e.
// kword_of: the word's index in a plane row (k-order).
template <int K8>
__device__ __forceinline__ void lane_comps(int lane, int (&comp)[4]) {
#pragma unroll
  for (int e = 0; e < 4; ++e) comp[e] = lane < 8 * K8 ? 4 * lane + e : 8 * (lane >> 1) + (lane & 1) + 2 * e;
}
template <int K8>
__host__ __device__ constexpr int kword_of(int lane) {
  return lane < 8 * K8 ? lane : (lane >> 3) * 8 + (lane & 1) * 4 + ((lane >> 1) & 3);
}
template <int K8>
__device__ __forceinline__ int lane_qmax(int lane) { return lane < 8 * K8 ? 255 : 15; }

// Where k-word kw = 8·ks + 4·j + q sits in a plane row (ScanShape::ROW), and the offset of word u of
// a prep lane from its word 0: the same for every lane of one width (d 128: 8u for 8-bit words,
// 8·(u/2) + u%2 for 4-bit ones; d 64: 4u and u).
template <int KS>
__host__ __device__ constexpr int plane_pos(int kw) { return (kw & 3) * 2 * KS + 2 * (kw >> 3) + ((kw >> 2) & 1); }
template <int D>
__host__ __device__ constexpr int word_off(bool w8, int u) {  // from word lanes 0.. (8-bit), 8·WPL.. (4-bit)
  constexpr int KS = D / 32, WPL = D / 32;
  return w8 ? plane_pos<KS>(kword_of<D / 32>(u)) - plane_pos<KS>(kword_of<D / 32>(0))
            : plane_pos<KS>(kword_of<0>(8 * WPL + u)) - plane_pos<KS>(kword_of<0>(8 * WPL));
}
template <int D, int K8>
__device__ __forceinline__ int scan_word_off(bool is8, int u) {
  const int o8 = word_off<D>(true, u), o4 = word_off<D>(false, u);
  return K8 == 0 ? o4 : K8 == D / 32 ? o8 : (is8 ? o8 : o4);
}
// The offsets hold for every prep lane, not only the reference ones: for each lane group i (word lanes
// WPL·i..) and word u, the word's plane position is word 0's plus word_off of the group's width; and the
// plane positions of a row's words are a permutation of 0..NW−1.
template <int D, int K8>
constexpr bool scan_word_offsets_hold() {
  constexpr int KS = D / 32, WPL = D / 32, NW = D / 4;
  bool seen[NW] = {};
  for (int i = 0; i < 8; ++i) {
    const bool is8 = (D / 8) * i < 32 * K8;
    for (int u = 0; u < WPL; ++u) {
      const int pos = plane_pos<KS>(kword_of<K8>(WPL * i + u));
      if (pos != plane_pos<KS>(kword_of<K8>(WPL * i)) + word_off<D>(is8, u) || pos < 0 || pos >= NW || seen[pos]) return false;
      seen[pos] = true;
    }
  }
  return true;
}
static_assert(scan_word_offsets_hold<128, 0>() && scan_word_offsets_hold<128, 1>() && scan_word_offsets_hold<128, 2>() &&
                  scan_word_offsets_hold<128, 3>() && scan_word_offsets_hold<128, 4>() && scan_word_offsets_hold<64, 0>() &&
                  scan_word_offsets_hold<64, 1>() && scan_word_offsets_hold<64, 2>(),
              "the scan's plane positions");

// The scan's per-lane constants: the page prep's head h = lane & 3 and component group i = lane >> 2
// (components CPL·i .. CPL·i + CPL − 1, all of one width: is8), the query factors in shared memory
// (sq: [NQ][32 lanes] float4, in word order: value 4u + e is component e of word u; q̃_r, then
// qa = |q̃_r| + Δ, then qb = Δ·Q, both rounded up), base = qμ_hi + ||σq||·resid_max + 2·tiny (rounded
// up), m_L of the head, and where the lane's WPL words go in its head's plane rows.
struct ScanLane {
  int h, i, pbase;  // pbase: where word 0 goes in the lane's plane rows (word u: + scan_word_off)
  bool active, is8;
  float base, ml;
  const float4* sq;
};
// Every warp computes the same values; warp 0 stores the query factors; the caller syncs.
template <int G, int D, int K8>
__device__ __forceinline__ void scan_lane_setup(const DecodeParams& p, const Workspace& w, const Consts& c, int b, int g,
                                                ScanLane& sl, float4* sq) {
  using SS = ScanShape<D, K8>;
  constexpr int CPL = SS::CPL, WPL = SS::WPL, KS = SS::KS;
  const int lane = threadIdx.x & 31;
  sl.h = lane & 3;
  sl.i = lane >> 2;
  sl.active = sl.h < G;
  sl.is8 = CPL * sl.i < 32 * K8;
  const float QMAX = sl.is8 ? 255.0f : 15.0f;
  const int64_t bq = int64_t(b) * p.n_head_q + g * G + (sl.active ? sl.h : 0);
  float v[3][CPL];
#pragma unroll
  for (int u = 0; u < WPL; ++u) {
    const int wl = WPL * sl.i + u;  // word lane
    int comp[4];
    lane_comps<K8>(wl, comp);
    if (u == 0) sl.pbase = plane_pos<KS>(kword_of<K8>(wl));
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float q = sl.active ? w.qrot[bq * D + comp[e]] : 0.0f, d = sl.active ? w.qdelta[bq * D + comp[e]] : 0.0f;
      v[0][4 * u + e] = q;
      v[1][4 * u + e] = __fadd_ru(fabsf(q), d);
      v[2][4 * u + e] = __fmul_ru(d, QMAX);
    }
  }
  if (threadIdx.x < 32) {
#pragma unroll
    for (int r = 0; r < 3; ++r)
#pragma unroll
      for (int k = 0; k < CPL / 4; ++k)
        sq[(r * CPL / 4 + k) * 32 + lane] = make_float4(v[r][4 * k], v[r][4 * k + 1], v[r][4 * k + 2], v[r][4 * k + 3]);
  }
  const float* qsc = w.qscal + bq * 4;
  sl.base = sl.active ? __fadd_ru(__fadd_ru(__fadd_ru(qsc[0], __fmul_ru(qsc[1], p.resid_max[g])), c.tiny), c.tiny) : 0.0f;
  sl.ml = sl.active ? qsc[2] : 0.0f;
  sl.sq = sq;
}

// CPL f16 values of the lane's components (src: the first, 16-byte aligned) as floats in word order
// (value 4u + e: component e of word u; 8-bit words hold consecutive components, 4-bit words the even
// or odd ones of 8).
template <int D, int K8>
__device__ __forceinline__ void load_lane_halves(const uint16_t* src, bool is8, float (&v)[D / 8]) {
  constexpr int CPL = D / 8, WPL = D / 32;
  float nat[CPL];
#pragma unroll
  for (int k = 0; k < CPL / 8; ++k) {
    const uint4 u = reinterpret_cast<const uint4*>(src)[k];
    const uint32_t wd[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int m = 0; m < 4; ++m) {
      nat[8 * k + 2 * m] = __half2float(__ushort_as_half(uint16_t(wd[m] & 0xffffu)));
      nat[8 * k + 2 * m + 1] = __half2float(__ushort_as_half(uint16_t(wd[m] >> 16)));
    }
  }
#pragma unroll
  for (int u = 0; u < WPL; ++u)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float v8 = nat[4 * u + e], v4 = nat[8 * (u >> 1) + (u & 1) + 2 * e];
      v[4 * u + e] = K8 == 0 ? v4 : K8 == D / 32 ? v8 : (is8 ? v8 : v4);
    }
}

// The page prep of the lane's head over its components (docs/gpu.md §Soundness). The 8 lanes of a head
// (lane masks 4, 8, 16) reduce max|w_j| and the bracket sum. pa/pb: the lane's WPL words of planes a
// and b; S; addml = add ⊖↑ m_L. max|w_j| by fmaxf ignores a NaN w_j, but a NaN w_j needs a NaN or
// infinite q̃_rj or h_j, and then (h_j, err_j ≥ 0: pack_quant_pages refuses others) the bracket sum is
// NaN or +inf; a weight ±inf, or max|w_j| ≥ 2^74 (S out of range), makes addml = +inf: every bound of
// the page is then +inf or NaN, stored as +inf (test_scan_bound_exact.py replays these cases).
template <int D, int K8>
__device__ __forceinline__ void page_prep(const uint16_t* meta, const ScanLane& sl, uint32_t (&pa)[D / 32],
                                          uint32_t (&pb)[D / 32], float& S, float& addml) {
  using SS = ScanShape<D, K8>;
  constexpr int CPL = SS::CPL, WPL = SS::WPL;
  const int lane = threadIdx.x & 31;
  float hv[CPL], ev[CPL];
  load_lane_halves<D, K8>(meta + CPL * sl.i, sl.is8, hv);
  load_lane_halves<D, K8>(meta + D + CPL * sl.i, sl.is8, ev);
  float wv[CPL], M = 0.0f, pta = 0.0f, ptb = 0.0f;
#pragma unroll
  for (int k = 0; k < CPL / 4; ++k) {
    const float4 q = sl.sq[k * 32 + lane], qa = sl.sq[(CPL / 4 + k) * 32 + lane], qb = sl.sq[(CPL / 2 + k) * 32 + lane];
    const float qv[4] = {q.x, q.y, q.z, q.w}, qav[4] = {qa.x, qa.y, qa.z, qa.w}, qbv[4] = {qb.x, qb.y, qb.z, qb.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      wv[4 * k + e] = __fmul_rn(qv[e], hv[4 * k + e]);
      M = fmaxf(M, fabsf(wv[4 * k + e]));
      pta = __fmaf_ru(qav[e], ev[4 * k + e], pta);
      ptb = __fmaf_ru(qbv[e], hv[4 * k + e], ptb);
    }
  }
  float part = __fadd_ru(pta, ptb);
#pragma unroll
  for (int o = 4; o < 32; o <<= 1) {
    M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    part = __fadd_ru(part, __shfl_xor_sync(0xffffffffu, part, o));
  }
  const bool bad = !(M < 0x1p74f);
  // ex with 2^ex > x = M/32639 (rounded up), so |w_j|/S < 32639·(1 + 2^-23) and |W_j| ≤ 32639:
  // x's biased exponent − 126 (x is normal or 0; 0 and anything below 2^-100 take ex = −100)
  const float x = __fmul_ru(bad ? 1.0f : M, 1.0f / 32639.0f);
  const int ex = max(-100, int(__float_as_uint(x) >> 23) - 126);
  S = __int_as_float((ex + 127) << 23);
  const float inv_s = __int_as_float((127 - ex) << 23);
#pragma unroll
  for (int u = 0; u < WPL; ++u) {
    uint32_t f[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) f[e] = __float_as_uint(__fmaf_rn(wv[4 * u + e], inv_s, 12583040.0f));  // 0x4B400080 + W
    const uint32_t lo = __byte_perm(f[0], f[1], 0x5140), hi = __byte_perm(f[2], f[3], 0x5140);
    pa[u] = __byte_perm(lo, hi, 0x7632);               // bytes 1: a = (W + 128) >> 8
    pb[u] = __byte_perm(lo, hi, 0x5410) ^ 0x80808080u;  // bytes 0 ^ 0x80: b = W − 256·a (W mod 256)
  }
  const float add = __fadd_ru(__fadd_ru(part, __fmul_ru(S, SS::EC)), sl.base);
  addml = bad ? INFINITY : __fsub_ru(add, sl.ml);
}

// DBG: built with the diagnostic switches (GHOSTKV_SCAN_DEBUG; only for G 4 / d 128).
// The page scans' block set-up: lane 0 of each warp initialises its NB page buffers' mbarriers (one
// arrival each), and the block zeroes its histogram (n_hist bins); tid = threadIdx.x, its lane and warp
template <int SW, int NB>
__device__ __forceinline__ void scan_block_init(uint64_t (&bars)[SW][NB], uint32_t* hist, int n_hist, int tid, int lane,
                                                int warp) {
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < NB; ++k) mbar_init(&bars[warp][k], 1);
    mbar_init_fence();
  }
  for (int i = tid; i < n_hist; i += SW * 32) hist[i] = 0u;
}

// NCH (GHOSTKV_SCAN_CHUNKS, with one buffer per warp): the page's codes arrive as NCH chunks of 4 / NCH m-tiles,
// each under its own mbarrier (the meta with the first); a warp requests chunk k of its next page as soon as its dot
// products are done with chunk k of this one, not after the whole page (page prep reads the meta into registers
// before the first chunk is released).
// SC (with kCutSplit only): 0 the compact kernel after the scan; else the block compacts its own pages after its cut
// (scan_split_compact: the policy's decision, or with sc_forced the forced survivors of DecodeParams::forced_keep),
// in batches of sc_batch segments a warp (above)
template <int G, int D, int K8, int NB, int SW, int MINB, bool DBG, int CUT = kCutGlobal, int NCH = 1, int SC = 0>
__global__ void __launch_bounds__(SW * 32, MINB) scan_kernel(DecodeParams p, Workspace w, Consts c, int dbg) {
  using SS = ScanShape<D, K8>;
  constexpr int PB = SS::PB, BUF = SS::BUF, KS = SS::KS, BPL = SS::BPL, CBY = SS::CBY, NC = SS::NC, WPL = SS::WPL,
                ROW = SS::ROW;
  constexpr int CHB = PB / NCH, MTC = 4 / NCH;  // code bytes and m-tiles per chunk
  static_assert(G <= 4, "the page prep and the D fragment hold one head per lane & 3");
  static_assert(NCH == 1 || (NB == 1 && 4 % NCH == 0 && CHB % 16 == 0), "chunks: one buffer, whole m-tiles, 16-byte copies");
  static_assert(SC == 0 || (CUT == kCutSplit && NCH == 1 && !DBG), "the scan compacts with the split cut only");
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[SW][NB * NCH];
  uint8_t* bufs = smem;                                                    // [warp][NB][BUF]
  uint32_t* planes = reinterpret_cast<uint32_t*>(smem + SW * NB * BUF);    // [warp][8 rows][ROW]
  float4* sq = reinterpret_cast<float4*>(planes + SW * 8 * ROW);          // [NQ][32]: q̃_r, qa, qb by lane
  uint32_t* hist = reinterpret_cast<uint32_t*>(sq + SS::NQ * 32);          // [G·kHistAll]
  int chunk = 0;  // the block's KV head and chunk (scan_block_head: with c.scan_mix, KV heads interleaved)
  const int bg = scan_block_head(blockIdx.x, blockIdx.y, gridDim.x, gridDim.y, c.scan_mix, &chunk);
  const int b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int tl_blk = blockIdx.y * gridDim.x + blockIdx.x;
  const bool tl = DBG && (dbg & 32) && tl_blk < kScanTlMax;  // the timeline (diagnostics)
  // the split cut's compacting scan's timeline (Consts::split_tl): thread 0's start (column 1), the return of its wait
  // for prep (4), its cut's start (2), its cut done (5), in its compaction warp 0's first bounds in (6), thread 0's first
  // survivor-count atomic's return (7) and its walk's end (8), its end (3), each warp's page loop end (12 + warp), and
  // the SM it ran on (9)
  const bool stl = SC > 0 && c.split_tl && tl_blk < kScanTlMax;
  if (stl && tid == 0) {
    uint32_t smid;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    g_scan_tl[tl_blk][0] = bg;
    g_scan_tl[tl_blk][9] = smid;
    g_scan_tl[tl_blk][6] = g_scan_tl[tl_blk][7] = g_scan_tl[tl_blk][8] = 0;  // a block without segments records none
    g_scan_tl[tl_blk][1] = global_ns();
    if (tl_blk == 0) g_scan_tl_blocks = gridDim.x * gridDim.y;
  }
  if (tl && tid == 0) {
    g_scan_tl[tl_blk][0] = bg;
    g_scan_tl[tl_blk][1] = global_ns();
    if (tl_blk == 0) g_scan_tl_blocks = gridDim.x * gridDim.y;
  }
  if (tl && tid < kScanTlCols - 4) g_scan_tl[tl_blk][4 + tid] = 0;  // what the block does not record stays 0
  scan_block_init<SW, NB * NCH>(bars, hist, G * kHistAll, tid, lane, warp);
  for (int i = lane; i < 8 * ROW; i += 32) planes[warp * 8 * ROW + i] = 0u;  // rows ≥ 2G stay zero
  __syncthreads();
  const int n = p.seq_len[b];
  // the pages to read: every page, or the anchor stage's list (i-th page: lpage(i))
  const bool listed = p.box != nullptr;
  if (CUT == kCutSplit && listed) __trap();  // stage1 builds the split cut without anchors only
  const int64_t MP = (p.max_seq + kPage - 1) / kPage;
  const int32_t* plist = w.plist + int64_t(bg) * MP;
  int npages = (n + kPage - 1) / kPage;  // the list's length once the anchor stage is done
  auto lpage = [&](int i) { return listed ? __ldcg(&plist[i]) : i; };
  // the warp's first page; kCutSplit: the block's pages are those ≡ chunk (mod chunks), its warps' in turn
  const int gw = CUT == kCutSplit ? warp * int(gridDim.x) + chunk : chunk * SW + warp, nw = gridDim.x * SW;
  uint8_t* mybuf = bufs + warp * NB * BUF;
  uint32_t* myplanes = planes + warp * 8 * ROW;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const uint64_t pol = c.l2_first ? l2_evict_first() : l2_evict_normal();
  auto issue_chunk = [&](int i, int k, int phys) {  // lane 0; chunk k (NCH > 1, one buffer) of the i-th page
    if (i < npages) {
      const int64_t po = int64_t(phys) * p.n_head_kv + g;
      mbar_expect_tx(&bars[warp][k], CHB + (k == 0 ? SS::MB : 0));
      bulk_g2s_hint(mybuf + k * CHB, p.codes + po * PB + k * CHB, CHB, &bars[warp][k], pol);
      if (k == 0) bulk_g2s_hint(mybuf + PB, p.meta + po * 2 * D, SS::MB, &bars[warp][k], pol);
    }
  };
  auto issue = [&](int i, int buf, int phys) {  // lane 0; i: index in the page order
    if constexpr (NCH > 1) {
#pragma unroll
      for (int k = 0; k < NCH; ++k) issue_chunk(i, k, phys);
    } else if (i < npages) {
      const int64_t po = int64_t(phys) * p.n_head_kv + g;
      mbar_expect_tx(&bars[warp][buf], PB + SS::MB);
      bulk_g2s_hint(mybuf + buf * BUF, p.codes + po * PB, PB, &bars[warp][buf], pol);
      bulk_g2s_hint(mybuf + buf * BUF + PB, p.meta + po * 2 * D, SS::MB, &bars[warp][buf], pol);
    }
  };
  int phys_next = 0;  // physical page of the next page to issue (lane 0), loaded one step ahead
  auto issue_first = [&] {
    if (lane == 0) {
#pragma unroll
      for (int k = 0; k < NB; ++k)
        if (gw + k * nw < npages) issue(gw + k * nw, k, ptab[lpage(gw + k * nw)]);
      if (gw + NB * nw < npages) phys_next = ptab[lpage(gw + NB * nw)];
    }
  };
  // Without anchors the first pages are requested before the wait for prep: seq_len, the page table,
  // the codes and the meta are inputs that no stage writes, and prep waits for the kernels before it
  // (griddepcontrol.wait) before it lets this one launch (launch_dependents), so every earlier writer
  // in the stream has finished. prep must keep that order.
  if (!listed) issue_first();
  pdl_wait();
  if (tl && tid == 0) g_scan_tl[tl_blk][2] = global_ns();
  if (stl && tid == 0) g_scan_tl[tl_blk][4] = global_ns();
  if (listed) {
    npages = w.n_plist[bg];
    issue_first();
  }
  ScanLane sl;
  scan_lane_setup<G, D, K8>(p, w, c, b, g, sl, sq);
  __syncthreads();
  // epilogue role: the D fragment's rows lane >> 2 and lane >> 2 + 8 (tokens), columns 2·(lane & 3)
  // and + 1 (head lane & 3, planes a and b): the same head as the lane's page prep
  const int r = lane >> 2, my_h = sl.h;
  const bool has_head = sl.active;
  int it = 0;
  for (int i = gw; i < npages; i += nw, ++it) {
    const int buf = it % NB;
    const int pg = lpage(i);
    const uint32_t phase = uint32_t((it / NB) & 1);
    mbar_wait(&bars[warp][NCH > 1 ? 0 : buf], phase);  // NCH > 1: the first chunk and the meta
    const uint8_t* rec = mybuf + buf * BUF;
    const uint16_t* meta = reinterpret_cast<const uint16_t*>(rec + PB);
    // per-page query weights of the lane's head, written as its plane rows (2h: a, 2h+1: b)
    uint32_t pa[WPL], pb[WPL];
    float my_S = 1.0f, my_addml = 0.0f;
    if (DBG && (dbg & 16)) {
#pragma unroll
      for (int u = 0; u < WPL; ++u) pa[u] = pb[u] = 0u;
    } else {
      page_prep<D, K8>(meta, sl, pa, pb, my_S, my_addml);
    }
    if (has_head) {
      uint32_t* row_a = myplanes + (2 * my_h) * ROW + sl.pbase;
#pragma unroll
      for (int u = 0; u < WPL; ++u) {
        row_a[scan_word_off<D, K8>(sl.is8, u)] = pa[u];
        row_a[ROW + scan_word_off<D, K8>(sl.is8, u)] = pb[u];
      }
    }
    __syncwarp();
    uint32_t fb[2 * KS];  // B fragments: plane row lane >> 2, k = ks·32 + (lane & 3)·4 (+16): words 2ks, 2ks+1
#pragma unroll
    for (int k = 0; k < 2 * KS / 4; ++k) {
      const uint4 u = *reinterpret_cast<const uint4*>(myplanes + r * ROW + (lane & 3) * 2 * KS + 4 * k);
      fb[4 * k] = u.x; fb[4 * k + 1] = u.y; fb[4 * k + 2] = u.z; fb[4 * k + 3] = u.w;
    }
    // K = Σ_j Q_j·W_j of the lane's head: a tile whose every code is at its maximum
    int kacc[4] = {0, 0, 0, 0};
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      const uint32_t qa = ks < K8 ? 0xffffffffu : 0x0f0f0f0fu;
      mma_u8s8(kacc, qa, qa, qa, qa, fb[2 * ks], fb[2 * ks + 1]);
    }
    const uint32_t my_K = uint32_t(kacc[0]) * 256u + uint32_t(kacc[1]);  // |K| < 2^31
    int acc[4][4];
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
      if constexpr (NCH > 1)
        if (mt > 0 && mt % MTC == 0) mbar_wait(&bars[warp][mt / MTC], phase);
      acc[mt][0] = acc[mt][1] = acc[mt][2] = acc[mt][3] = 0;
      uint32_t bw[2][BPL / 4];  // the lane's code words of tokens 16mt + r (n-tile 2mt) and + 8 (2mt + 1)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int cc = 0; cc < NC; ++cc) {
          const uint8_t* src = rec + (((2 * mt + hf) * NC + cc) * 32 + lane) * CBY;
          if constexpr (CBY == 16) {
            const uint4 u = *reinterpret_cast<const uint4*>(src);
            bw[hf][cc * 4 + 0] = u.x; bw[hf][cc * 4 + 1] = u.y; bw[hf][cc * 4 + 2] = u.z; bw[hf][cc * 4 + 3] = u.w;
          } else if constexpr (CBY == 8) {
            const uint2 u = *reinterpret_cast<const uint2*>(src);
            bw[hf][cc * 2 + 0] = u.x; bw[hf][cc * 2 + 1] = u.y;
          } else {
            bw[hf][cc] = *reinterpret_cast<const uint32_t*>(src);
          }
        }
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        if (ks < K8) {
          mma_u8s8(acc[mt], bw[0][2 * ks], bw[1][2 * ks], bw[0][2 * ks + 1], bw[1][2 * ks + 1], fb[2 * ks], fb[2 * ks + 1]);
        } else {
          const uint32_t c0 = bw[0][2 * K8 + (ks - K8)], c1 = bw[1][2 * K8 + (ks - K8)];
          mma_u8s8(acc[mt], c0 & 0x0f0f0f0fu, c1 & 0x0f0f0f0fu, (c0 >> 4) & 0x0f0f0f0fu, (c1 >> 4) & 0x0f0f0f0fu,
                   fb[2 * ks], fb[2 * ks + 1]);
        }
      }
      if constexpr (NCH > 1)
        if ((mt + 1) % MTC == 0) {
          __syncwarp();  // every lane is done with chunk mt / MTC (and, at the first, the meta and the query planes)
          if (lane == 0) {
            issue_chunk(i + nw, mt / MTC, phys_next);
            if (mt == 3 && i + 2 * nw < npages) phys_next = ptab[lpage(i + 2 * nw)];
          }
        }
    }
    if constexpr (NCH == 1) {
      __syncwarp();  // every lane is done with this buffer and the query planes
      if (lane == 0) {
        issue(i + NB * nw, buf, phys_next);
        if (i + (NB + 1) * nw < npages) phys_next = ptab[lpage(i + (NB + 1) * nw)];
      }
    }
    if (i + nw >= npages) pdl_launch_next();
    // epilogue: lane (token 16mt + r + 8·hf, head my_h); a plain page (no hot token, none at or past
    // n: most pages) skips the per-token tests
    auto epilogue = [&](auto plain_c) {
      constexpr bool PLAIN = decltype(plain_c)::value;
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int t = pg * kPage + mt * 16 + hf * 8 + r;
          int key = -1;  // histogram slot of this lane's (head, token); −1: none
          if (has_head && (PLAIN || t < n)) {
            const bool hot = !PLAIN && is_hot(t, n, p.n_sink, p.n_recent);
            // Y = Σ W_j m_tj = 2·(256·Σ a_j c_tj + Σ b_j c_tj) − K, exact modulo 2^32 and |Y| < 2^31
            const int Y = int(uint32_t(acc[mt][2 * hf]) * 512u + uint32_t(acc[mt][2 * hf + 1]) * 2u - my_K);
            // S·Y is exact: one rounding up; fminf turns NaN into +inf (never eliminated)
            const float dd = fminf(__fmaf_ru(my_S, __int2float_ru(Y), my_addml), INFINITY);
            __half hx = __float2half_ru(dd);
            if (hot) hx = __ushort_as_half(0x7C00);
            if (!(DBG && (dbg & 2))) w.ub[(int64_t(bg) * p.max_seq + t) * G + my_h] = __half_as_ushort(hx);
            if (!hot) key = my_h * kHistAll + hist_bin(__half2float(hx));
          }
          if (DBG && (dbg & 8)) {  // lanes with the same (head, bin) add once
            const uint32_t same = __match_any_sync(0xffffffffu, key);
            if (key >= 0 && lane == __ffs(same) - 1) atomicAdd(&hist[key], uint32_t(__popc(same)));
          } else if (key >= 0 && !(DBG && (dbg & 1))) {
            atomicAdd(&hist[key], 1u);
          }
        }
    };
    if (!(DBG && (dbg & 4))) {  // diagnostics (GHOSTKV_SCAN_DEBUG 4): streaming and page prep only
      if (pg * kPage >= p.n_sink && (pg + 1) * kPage <= n - p.n_recent) epilogue(std::true_type{});
      else epilogue(std::false_type{});
    }
  }
  if ((tl || stl) && lane == 0 && warp < 16) g_scan_tl[tl_blk][12 + warp] = global_ns();
  // the cut's e^{edge} staged in the page buffers, free now (every page issued was waited for)
  static_assert(SW * NB * BUF >= (kHistBins + 1) * int(sizeof(double)), "the page buffers hold the edge table");
  double* edge_buf = c.cut_pre ? reinterpret_cast<double*>(bufs) : nullptr;
  // and the last block's copy of its heads' counts after it, where the page buffers hold both (not d 64 at 4 bits with G 3 or 4)
  constexpr int kEdgeBytes = (kHistBins + 2) * int(sizeof(double));  // 16-byte multiple
  constexpr bool kCntFits = SW * NB * BUF >= kEdgeBytes + G * kHistAll * int(sizeof(uint32_t));
  uint32_t* cnt_buf = kCntFits && c.cut_pre && c.cut_coal ? reinterpret_cast<uint32_t*>(bufs + kEdgeBytes) : nullptr;
  if constexpr (CUT == kCutSplit) {
    if (stl && tid == 0) g_scan_tl[tl_blk][2] = global_ns();
    finish_scan_split<G, SW * 32>(p, w, hist, b, g, chunk, reinterpret_cast<double*>(bufs));
    if constexpr (SC > 0) {
      __syncthreads();  // the block's θ row (warps 0..G−1) and every bound it wrote, visible to the whole block
      if (stl && tid == 0) g_scan_tl[tl_blk][5] = global_ns();
      scan_split_compact<G, SW, sc_forced(SC), sc_batch(SC)>(p, w, b, g, chunk, int(gridDim.x),
                                                             stl ? &g_scan_tl[tl_blk][6] : nullptr);
      if (stl && tid == 0) g_scan_tl[tl_blk][3] = global_ns();
    }
  } else if constexpr (CUT == kCutLocal) finish_scan_local<G, false, true, true, SW * 32>(p, w, hist, b, g, edge_buf);
  else finish_scan_block<G, false, SW * 32>(p, w, hist, b, g, tl ? &g_scan_tl[tl_blk][4] : nullptr, edge_buf, cnt_buf);
  if (tl && tid == 0) g_scan_tl[tl_blk][3] = global_ns();
}

// ---------------------------------------------------------------------------------------------
// low-rank scan (witness "lowrank", DESIGN §4.1 with P = the first kRank rows of the rotation V):
// lowrank_page_kernel below streams the pages; each lane bounds two tokens of a page. With c_t = V(k_t − μ)
// (float64 at build time) and r_t = k_t − μ − Vᵀc_t (||r_t|| ≤ resid_max), the record holds
// ẑ_t = f16(c_t,j<R), e_t ≥ ||c_t,j<R − ẑ_t|| and ρ_t ≥ ||c_t,j≥R|| (both rounded up, f16). For σq with
// q_r = Vσq, |q_r − q̃_r|_j ≤ Δ_j (prep):
//   σq·(k_t − μ) = q_r,s·ẑ_t + q_r,s·(c_s − ẑ) + q_r,⊥·c_⊥ + σq·r_t
//                ≤ fl(q̃_s·ẑ_t) + Σ_j a_j|ẑ_tj| + ns·e_t + np·ρ_t + ||σq||·resid_max
//                ≤ fl(q̃_s·ẑ_t) + A·max_j|ẑ_tj| + ns·e_t + np·ρ_t + ||σq||·resid_max,
// a_j = γ_{R+1}·|q̃_j| + Δ_j (the float32 dot's error and the query's), A ≥ Σ_{j<R} a_j, ns ≥
// ||(|q̃_j| + Δ_j)_{j<R}||, np ≥ ||(|q̃_j| + Δ_j)_{j≥R}||, every bracket summed with round-up. The second
// line trades Σ_j a_j|ẑ_tj| (R directed FMAs per head and token) for one product per head and a max per
// token (exact): a_j is ~1e-6 of |q̃_j|, far below the f16 rounding of the stored bound. Then UB_t = that
// ⊕↑ qμ_hi as in the quant scan: f16↑(UB_t ⊖↑ m_L) to ub, the histogram, and the last block's cut.

// The low-rank scan's query factors of the group's G heads into shared memory (warp h: head h):
// q̃_s, A, the additive term, ns, np and m_L (above)
template <int G, int D>
__device__ __forceinline__ void lowrank_setup(const DecodeParams& p, const Workspace& w, const Consts& c, int b, int g,
                                              float (*s_q)[kRank], float* s_a1, float* s_add, float* s_ns,
                                              float* s_np, float* s_ml) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float g_r = c.g_r;
  if (warp < G) {  // warp h: the query factors of head h
    const int64_t bq = int64_t(b) * p.n_head_q + g * G + warp;
    float ss = 0.0f, sp = 0.0f, sa = 0.0f;
    for (int j = lane; j < D; j += 32) {
      const float q = w.qrot[bq * D + j], dl = w.qdelta[bq * D + j];
      const float m = __fadd_ru(fabsf(q), dl);
      if (j < kRank) {
        s_q[warp][j] = q;
        sa = __fadd_ru(sa, __fmaf_ru(g_r, fabsf(q), dl));
        ss = __fmaf_ru(m, m, ss);
      } else {
        sp = __fmaf_ru(m, m, sp);
      }
    }
    ss = warp_sum_ru(ss);
    sp = warp_sum_ru(sp);
    sa = warp_sum_ru(sa);
    if (lane == 0) {
      const float* qsc = w.qscal + bq * 4;
      s_a1[warp] = sa;
      s_ns[warp] = __fsqrt_ru(ss);
      s_np[warp] = __fsqrt_ru(sp);
      s_add[warp] = __fadd_ru(__fadd_ru(qsc[0], __fmul_ru(qsc[1], p.resid_max[g])), c.tiny);
      s_ml[warp] = qsc[2];
    }
  }
}

// The bounds f16↑(UB − m_L) of the G heads for a lane's two tokens of a page (each: sketch words 8 × 2 f16,
// e_t and ρ_t f16 bits): q̃_s from shared memory by 16-byte loads, each used for both tokens; a NaN anywhere
// makes the bound NaN, stored as +inf (fminf), never eliminated
template <int G>
__device__ __forceinline__ void lowrank_bound2(const uint32_t (&zw)[2][8], const uint16_t (&eb)[2], const uint16_t (&rb)[2],
                                               const float (*s_q)[kRank], const float* s_a1, const float* s_add,
                                               const float* s_ns, const float* s_np, const float* s_ml, uint16_t (&out)[2][G]) {
  float z[2][kRank], zmax[2], e[2], rho[2];
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    zmax[k] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&zw[k][i]));
      z[k][2 * i] = f.x;
      z[k][2 * i + 1] = f.y;
      zmax[k] = fmaxf(zmax[k], fmaxf(fabsf(f.x), fabsf(f.y)));
    }
    e[k] = __half2float(__ushort_as_half(eb[k]));
    rho[k] = __half2float(__ushort_as_half(rb[k]));
  }
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const float4* q4 = reinterpret_cast<const float4*>(s_q[h]);
    float sd[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < kRank / 4; ++i) {
      const float4 q = q4[i];
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        sd[k] = __fmaf_rn(q.x, z[k][4 * i], sd[k]);
        sd[k] = __fmaf_rn(q.y, z[k][4 * i + 1], sd[k]);
        sd[k] = __fmaf_rn(q.z, z[k][4 * i + 2], sd[k]);
        sd[k] = __fmaf_rn(q.w, z[k][4 * i + 3], sd[k]);
      }
    }
    const float a1 = s_a1[h], ns = s_ns[h], np = s_np[h], add = s_add[h], ml = s_ml[h];
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      float ub = __fadd_ru(sd[k], __fmul_ru(a1, zmax[k]));
      ub = __fadd_ru(ub, __fmaf_ru(ns, e[k], __fmul_ru(np, rho[k])));
      ub = __fadd_ru(ub, add);
      const float dd = fminf(__fsub_ru(ub, ml), INFINITY);
      out[k][h] = __half_as_ushort(__float2half_ru(dd));
    }
  }
}

// A token's G bounds to ub (one 8-byte store at G 4 where aligned)
template <int G>
__device__ __forceinline__ void lowrank_store(uint16_t* dst, const uint16_t (&out)[G]) {
  if constexpr (G == 4) {
    if ((reinterpret_cast<uintptr_t>(dst) & 7) == 0) {
      *reinterpret_cast<uint2*>(dst) = make_uint2(out[0] | (uint32_t(out[1]) << 16), out[2] | (uint32_t(out[3]) << 16));
      return;
    }
  }
#pragma unroll
  for (int h = 0; h < G; ++h) dst[h] = out[h];
}

// The low-rank scan's page buffers (kLrBufs per warp): a page's sketches, e_t and ρ_t
constexpr int kLrBufs = 4, kLrSketchBytes = kPage * kRank * 2, kLrPageBytes = kLrSketchBytes + 2 * kPage * 2;
// page buffers per warp of a low-rank block of sw warps (the scan's and the fused kernel's): kLrBufs at 8 warps, 2 at more
// (two blocks per SM at 12 warps by shared memory)
__host__ __device__ constexpr int lr_bufs(int sw) { return sw <= 8 ? kLrBufs : 2; }
static_assert(kLrSketchBytes % 16 == 0 && (kPage * 2) % 16 == 0, "bulk copies move multiples of 16 bytes");

// A lane's two tokens (slots ℓ and ℓ + 32) of a page in a page buffer: sketch words, e_t and ρ_t f16 bits
__device__ __forceinline__ void lowrank_read_page(const uint8_t* rec, int lane, uint32_t (&zw)[2][8], uint16_t (&eb)[2],
                                                  uint16_t (&rb)[2]) {
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int s = hf * 32 + lane;
    const uint4* zp = reinterpret_cast<const uint4*>(rec + s * kRank * 2);
    const uint4 u0 = zp[0], u1 = zp[1];
    zw[hf][0] = u0.x; zw[hf][1] = u0.y; zw[hf][2] = u0.z; zw[hf][3] = u0.w;
    zw[hf][4] = u1.x; zw[hf][5] = u1.y; zw[hf][6] = u1.z; zw[hf][7] = u1.w;
    eb[hf] = reinterpret_cast<const uint16_t*>(rec + kLrSketchBytes)[s];
    rb[hf] = reinterpret_cast<const uint16_t*>(rec + kLrSketchBytes + kPage * 2)[s];
  }
}

// The bounds of a lane's two tokens of page pg (lowrank_bound2), stored to ub (a slot at or past n is
// computed and not stored; a hot token stores +inf and skips the histogram) and counted in the block's
// histogram
template <int G>
__device__ __forceinline__ void lowrank_bound_store(const DecodeParams& p, const Workspace& w, uint32_t* hist, int bg, int pg,
                                                    int n, int lane, const uint32_t (&zw)[2][8], const uint16_t (&eb)[2],
                                                    const uint16_t (&rb)[2], const float (*s_q)[kRank], const float* s_a1,
                                                    const float* s_add, const float* s_ns, const float* s_np,
                                                    const float* s_ml) {
  uint16_t out[2][G];
  lowrank_bound2<G>(zw, eb, rb, s_q, s_a1, s_add, s_ns, s_np, s_ml, out);
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int t = pg * kPage + hf * 32 + lane;
    if (t >= n) continue;
    if (is_hot(t, n, p.n_sink, p.n_recent)) {
#pragma unroll
      for (int h = 0; h < G; ++h) out[hf][h] = 0x7C00;
    } else {
#pragma unroll
      for (int h = 0; h < G; ++h) atomicAdd(&hist[h * kHistAll + hist_bin(__half2float(__ushort_as_half(out[hf][h])))], 1u);
    }
    lowrank_store<G>(w.ub + (int64_t(bg) * p.max_seq + t) * G, out[hf]);
  }
}

// The low-rank scan by pages: grid (chunks, B·Hkv) of kScanBlockWarps warps, as the quant scan (every
// block resident where the slots allow; no block waits for another); each warp streams whole pages (pages gw, gw + nw, … of its KV
// head): the page's sketches (kPage·kRank f16), e_t and ρ_t (kPage f16 each) by three bulk copies into one
// of its kLrBufs page buffers, kLrBufs pages ahead (the first before the wait for prep: inputs, as in the
// quant scan), with the quant scan's L2 policy; lane ℓ bounds the page's tokens ℓ and ℓ + 32 by
// lowrank_bound2 (the arithmetic above), then the block's histogram and the last block's cut (the lean
// cut: finish_scan_block's LEAN), or, where the block is its KV head's only one, its own cut
// (finish_scan_local's LEAN). (Until this kernel: a thread per token, 256 per block, whose
// page-table load and record loads were a dependent chain per token; under ncu DRAM was 20% busy at
// 1 × 128K, experiments/ncu_lowrank_6d0d30a.txt.)
template <int G>
constexpr int lowrank_page_smem() {
  return kScanBlockWarps * lr_bufs(kScanBlockWarps) * kLrPageBytes + G * kHistAll * 4;
}
// (At 12 warps of 80 registers, 2 page buffers each, the low-rank scan was slower on the H200: stage 1 at 32 × 32K
// 158 → 163 µs, at 1 × 128K 42 → 44 µs at 5%; call108. It is bound by its instructions' issue, not by latency.)
template <int G, int D, int CUT = kCutGlobal>  // CUT: kCutGlobal or kCutLocal (finish_scan_local's LEAN cut)
__global__ void __launch_bounds__(kScanBlockWarps * 32, 2) lowrank_page_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int SW = kScanBlockWarps, NB = lr_bufs(SW), PBY = kLrPageBytes;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[SW][NB];
  __shared__ __align__(16) float s_q[G][kRank];
  __shared__ float s_a1[G], s_add[G], s_ns[G], s_np[G], s_ml[G];
  uint32_t* hist = reinterpret_cast<uint32_t*>(smem + SW * NB * PBY);  // [G·kHistAll]
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  scan_block_init<SW, NB>(bars, hist, G * kHistAll, tid, lane, warp);
  __syncwarp();
  const int n = p.seq_len[b];
  // the pages to read: every page, or the anchor stage's list (i-th page: lpage(i)), as the quant scan
  const bool listed = p.box != nullptr;
  const int32_t* plist = w.plist + int64_t(bg) * ((p.max_seq + kPage - 1) / kPage);
  int npages = (n + kPage - 1) / kPage;  // the list's length once the anchor stage is done
  auto lpage = [&](int i) { return listed ? __ldcg(&plist[i]) : i; };
  const int gw = blockIdx.x * SW + warp, nw = gridDim.x * SW;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const uint64_t pol = c.l2_first ? l2_evict_first() : l2_evict_normal();
  uint8_t* mybuf = smem + warp * NB * PBY;
  auto issue = [&](int i, int buf, int phys) {  // lane 0; phys: page i's physical page
    if (i < npages) {
      const int64_t po = int64_t(phys) * p.n_head_kv + g;
      uint8_t* dst = mybuf + buf * PBY;
      mbar_expect_tx(&bars[warp][buf], PBY);
      bulk_g2s_hint(dst, p.sketch + po * kPage * kRank, kLrSketchBytes, &bars[warp][buf], pol);
      bulk_g2s_hint(dst + kLrSketchBytes, p.sk_err + po * kPage, kPage * 2, &bars[warp][buf], pol);
      bulk_g2s_hint(dst + kLrSketchBytes + kPage * 2, p.sk_rho + po * kPage, kPage * 2, &bars[warp][buf], pol);
    }
  };
  // without anchors the first pages before the wait for prep: seq_len, the page table and the records are
  // inputs no stage writes, and prep waits for the kernels before it before it lets this one launch (as the
  // quant scan); with anchors after the wait, once the anchor stage's list is complete
  // lane 0: the physical page of the next page to issue, loaded one step ahead, and (with anchors) the list
  // entry of the page after it, loaded a step before that, so that no step waits for a list entry before it
  // can request a page-table entry
  int phys_next = 0, lp_next = 0;
  auto issue_first = [&] {
    if (lane == 0) {
      int ph[NB];
#pragma unroll
      for (int k = 0; k < NB; ++k) ph[k] = gw + k * nw < npages ? __ldg(&ptab[lpage(gw + k * nw)]) : 0;  // every load in flight
#pragma unroll
      for (int k = 0; k < NB; ++k) issue(gw + k * nw, k, ph[k]);
      if (gw + NB * nw < npages) phys_next = __ldg(&ptab[lpage(gw + NB * nw)]);
      if (gw + (NB + 1) * nw < npages) lp_next = lpage(gw + (NB + 1) * nw);
    }
  };
  if (!listed) issue_first();
  pdl_wait();
  if (listed) {
    npages = w.n_plist[bg];
    issue_first();
  }
  lowrank_setup<G, D>(p, w, c, b, g, s_q, s_a1, s_add, s_ns, s_np, s_ml);
  __syncthreads();
  int it = 0;
  int pg_next = gw < npages ? lpage(gw) : 0;  // every lane: the page of the next step, loaded a step ahead
  for (int i = gw; i < npages; i += nw, ++it) {
    const int buf = it % NB, pg = pg_next;
    if (i + nw < npages) pg_next = lpage(i + nw);
    mbar_wait(&bars[warp][buf], uint32_t((it / NB) & 1));
    uint32_t zw[2][8];
    uint16_t eb[2], rb[2];
    lowrank_read_page(mybuf + buf * PBY, lane, zw, eb, rb);
    __syncwarp();  // every lane holds its records: the buffer takes the page NB ahead
    if (lane == 0) {
      issue(i + NB * nw, buf, phys_next);
      if (i + (NB + 1) * nw < npages) phys_next = __ldg(&ptab[lp_next]);
      if (i + (NB + 2) * nw < npages) lp_next = lpage(i + (NB + 2) * nw);
    }
    if (i + nw >= npages) pdl_launch_next();
    lowrank_bound_store<G>(p, w, hist, bg, pg, n, lane, zw, eb, rb, s_q, s_a1, s_add, s_ns, s_np, s_ml);
  }
  if constexpr (CUT == kCutLocal) finish_scan_local<G, true>(p, w, hist, b, g);
  else finish_scan_block<G, true>(p, w, hist, b, g);
}

__device__ __forceinline__ uint32_t hash3(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 0x165667B1u) * 0xC2B2AE3Du;
  h ^= h >> 15; h *= 0x2C1B3C6Du; h ^= h >> 12; h *= 0x297A2D39u; h ^= h >> 15;
  return h;
}

// 2^x by the special-function unit: at most 2 ulp from the correctly rounded result (PTX ISA), so
// relative error ≤ 2.5·2^-23 for normal results; results below 2^-126 flush to 0 (ftz); ex2(−inf) = 0.
__device__ __forceinline__ float ex2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// An upper bound of e^v up to ex2's error: v is raised to ≥ −80 (so the result, ≥ 2^-115.5, is never
// flushed) and x = RU(v·L↑ + c) ≥ v·log2 e, with L↑ = RU_f(log2 e) = 0x3FB8AA3C (exceeds log2 e by
// 9.995e-8, so v·L↑ falls short of v·log2 e by at most 80 · 9.995e-8 < 8e-6 for v ≥ −80) and c = 1e-5f.
// +inf stays +inf.
__device__ __forceinline__ float ex2_up(float v) {
  return ex2_approx(__fmaf_ru(fmaxf(v, -80.0f), __uint_as_float(0x3FB8AA3Cu), 1e-5f));
}

// ---------------------------------------------------------------------------------------------
// anchor: a grid of resident blocks of kScanWarps warps; each warp takes a contiguous range of the
// flat page slots (b, KV head, page < max_pages), so every warp has the same share whatever B·Hkv is
// (slots past a sequence's end cost an empty mbarrier phase: shares are even when seq_len ≈ max_seq). A slot's
// meta and box (12 B per token at d 128) come into one of the warp's kAnchorBufs shared buffers by the
// bulk-copy engine, kAnchorBufs slots ahead of the one being bounded (lane i holds the physical page
// of the i-th slot of a window of 32, so lane 0 issues without a dependent load). θ_A comes from prep.
// Per page and head, in float32 with directed rounding and no quantisation of the weights: with
// w_j = fl(q̃_rj·h_j) and lo_j ≤ c_tj ≤ hi_j for every token of the page (m = 2c − Q_j, Q_j = 2^{b_j} − 1),
//   Σ_j q̃_rj h_j m_tj ≤ Σ_j max(w_j·m_lo,j, w_j·m_hi,j) + Σ_j Q_j·2^-23·|q̃_rj|·|h_j|   (+ 2^-134)
// term by term (w_j·m is linear in m; |q̃_rj h_j − w_j| ≤ 2^-24|q̃_rj h_j| + 2^-150, |m_tj| ≤ Q_j), and
// max(w·m_lo, w·m_hi) = w·m_mid + |w|·m_half with m_mid = lo + hi − Q_j, m_half = |hi − lo| (integers), so
//   UB_A = Σ↑_j [w_j·m_mid,j + |w_j|·m_half,j + (Δ_j·Q_j + Q_j·2^-23·|q̃_rj|)·|h_j| + (|q̃_rj| + Δ_j)·|err_j|]
//          ⊕↑ qμ_hi ⊕↑ ||σq||·resid_max ⊕↑ 2·tiny ≥ σq·k_t for every token of the page (docs/gpu.md
// §Soundness; every term enters through an FMA rounded up, so each partial sum bounds the exact one, in
// any order; the tiny terms cover gradual underflow). A weight that is not finite makes its two box
// terms NaN or +inf (never −inf, never finite), and a finite one never gives −inf under round-up, so
// the page's bound is then +inf or NaN (NaN is stored as +inf: never eliminated). A page
// without hot tokens is eliminated whole when f16↑(UB_A − m_L) < θ_A for every head of the group
// (forced mode: by a hash of the page, probability 1 − forced_page_keep); its f16 bounds go to pub, its
// candidates to the histogram, their M_E terms (count·ex2_up(bound), compact's form) to M_E and the page's ν
// to ν_E, so the cut and the certificate count them; compact does not visit the page. Every other page goes
// to plist, 32 at a time (one atomic each). θ_A: the largest histogram edge e_j with
// n_cand·e^{e_j}·(1 + 1e-11) ≤ anchor_share·budget; the cut's prefix up to e_j then costs at most that,
// so θ ≥ θ_A and the GQA rule eliminates the page's tokens. (Before: the scan's page prep, W_j
// quantised to 15 bits, θ_A searched by every warp, and each page's meta read by dependent loads:
// several times the instructions and latency per page.)

// The anchor stage's page sums, one per head in part[] of every lane, summed over the warp (each add
// rounded up: an upper bound of the exact sum in any order): returns head h's sum in the lanes of head h
// (G 4: lanes 8h..8h+7, by a reduce-scatter: at xor 16 each half keeps two heads and sends the other
// two, at xor 8 one; G 1-3: the butterfly, lane h < G taking head h's; 0 in the other lanes).
template <int G>
__device__ __forceinline__ float anchor_head_sum(float (&part)[G], int lane) {
  if constexpr (G == 4) {
    const bool b4 = lane & 16, b3 = lane & 8;
    float k0 = b4 ? part[2] : part[0], k1 = b4 ? part[3] : part[1];
    const float s0 = b4 ? part[0] : part[2], s1 = b4 ? part[1] : part[3];
    k0 = __fadd_ru(k0, __shfl_xor_sync(0xffffffffu, s0, 16));
    k1 = __fadd_ru(k1, __shfl_xor_sync(0xffffffffu, s1, 16));
    float k = b3 ? k1 : k0;
    k = __fadd_ru(k, __shfl_xor_sync(0xffffffffu, b3 ? k0 : k1, 8));
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) k = __fadd_ru(k, __shfl_xor_sync(0xffffffffu, k, o));
    return k;
  } else {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
#pragma unroll
      for (int h = 0; h < G; ++h) part[h] = __fadd_ru(part[h], __shfl_xor_sync(0xffffffffu, part[h], o));
    float r = 0.0f;
#pragma unroll
    for (int h = 0; h < G; ++h) r = lane == h ? part[h] : r;
    return r;
  }
}

constexpr int kAnchorBufs = 4;
template <int G, int D, int K8>
__global__ void __launch_bounds__(kScanWarps * 32) anchor_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int NW = D / 4, MB = 2 * D * 2, BX = 2 * D, BUF = MB + BX;  // meta (f16 h_j, err_j), box bytes
  __shared__ __align__(128) uint8_t sbuf[kScanWarps][kAnchorBufs][BUF];
  __shared__ __align__(8) uint64_t bars[kScanWarps][kAnchorBufs];
  // the slot's record offset phys·Hkv + g, also its page's ν index (−1: nothing read), set before its arrive
  __shared__ int64_t spo[kScanWarps][kAnchorBufs];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < kAnchorBufs; ++k) mbar_init(&bars[warp][k], 1);
    mbar_init_fence();
  }
  __syncwarp();
  pdl_wait();
  pdl_launch_next();
  int comp[4];
  lane_comps<K8>(lane, comp);
  const int QI = lane_qmax<K8>(lane);
  const float QMAX = float(QI), QE = QMAX * 0x1p-23f;  // both exact
  const bool has_word = lane < NW;
  const bool forced = p.forced_keep >= 0;
  const uint32_t page_thr = uint32_t(fminf(fmaxf(p.forced_page_keep, 0.0f), 1.0f) * 4294967295.0f);
  const int MP = (p.max_seq + kPage - 1) / kPage;
  // this warp's contiguous range of the flat page slots v = bg·MP + pg over every (b, KV head)
  const int64_t total = int64_t(p.batch) * p.n_head_kv * MP, nwarps = int64_t(gridDim.x) * kScanWarps;
  const int64_t per = (total + nwarps - 1) / nwarps;
  const int64_t v0 = (int64_t(blockIdx.x) * kScanWarps + warp) * per, v1 = min(total, v0 + per);
  // (b·Hkv + g, page) of the slot being bounded and of the next slot to issue, advanced by one per slot
  // (no 64-bit division per page)
  int cbg = 0, cpg = 0;
  if (v0 < v1) { cbg = int(v0 / MP); cpg = int(v0 % MP); }
  int ibg = cbg, ipg = cpg;
  // issue side: slot wv + lane's record offset (phys·Hkv + g; −1: past its sequence, nothing to load)
  int64_t wv = -1, wpo = -1;
  auto issue = [&](int64_t v, int buf) {  // every lane (the window's loads and shuffle); lane 0 issues;
    // called once per slot, in order from v0
    const int bgv = ibg, pgv = ipg;
    if (++ipg == MP) { ipg = 0; ++ibg; }
    if (v >= v1) return;
    if (wv < 0 || v >= wv + 32) {
      wv = v;
      wpo = -1;
      if (v + lane < v1) {
        int xbg = bgv, xpg = pgv + lane;
        if (xpg >= MP) { xbg += xpg / MP; xpg %= MP; }
        const int xb = xbg / p.n_head_kv;
        if (xpg * kPage < p.seq_len[xb])
          wpo = int64_t(__ldg(&p.page_table[int64_t(xb) * p.max_pages + xpg]));
        if (wpo >= 0) wpo = wpo * p.n_head_kv + xbg % p.n_head_kv;
      }
    }
    const int i = int(v - wv);
    const int64_t po = int64_t(uint64_t(uint32_t(__shfl_sync(0xffffffffu, int(uint64_t(wpo) & 0xffffffffu), i))) |
                               (uint64_t(uint32_t(__shfl_sync(0xffffffffu, int(uint64_t(wpo) >> 32), i))) << 32));
    if (lane == 0) {
      spo[warp][buf] = po;  // a negative page-table entry: nothing read, the page goes to the scan
      if (po >= 0) {
        mbar_expect_tx(&bars[warp][buf], BUF);
        bulk_g2s(sbuf[warp][buf], p.meta + po * 2 * D, MB, &bars[warp][buf]);
        bulk_g2s(sbuf[warp][buf] + MB, p.box + po * 2 * D, BX, &bars[warp][buf]);
      } else {
        mbar_expect_tx(&bars[warp][buf], 0);  // the slot's phase completes with nothing to copy
      }
    }
  };
  // the state of the current (b, KV head): its sequence and the lane's query factors q̃_rj,
  // |q̃_rj| + Δ_j and Δ_j·Q_j + Q_j·2^-23·|q̃_rj| (rounded up) of its 4 components, per head
  int bg = -1, b = 0, g = 0, n = 0, npages = 0, hot_lo = 0, hot_hi = 0;
  // The page's G sums are reduced over the warp so that each lane ends with one head's (anchor_head_sum):
  // at G 4 by a reduce-scatter (lanes 8h..8h+7 hold head h's sum: 6 shuffles instead of 20), else by the
  // butterfly, lane h < G taking head h's. A lane's tail (f16 bound, θ_A test, and on elimination the
  // pub entry, histogram count and M_E term) is its head's; the head's first lane (lead) writes.
  const int myh = G == 4 ? lane >> 3 : lane;
  const bool hvalid = myh < G, lead = G == 4 ? (lane & 7) == 0 : hvalid;
  float qr[G][4], qa[G][4], qb[G][4], base_l = 0.0f, ml_l = 0.0f, th_l = 0.0f;
  auto enter = [&](int nbg) {
    bg = nbg; b = bg / p.n_head_kv; g = bg % p.n_head_kv;
    n = p.seq_len[b]; npages = (n + kPage - 1) / kPage;
    hot_lo = min(p.n_sink, n); hot_hi = max(n - p.n_recent, hot_lo);
#pragma unroll
    for (int h = 0; h < G; ++h) {
      const int64_t bq = int64_t(b) * p.n_head_q + g * G + h;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float q = has_word ? w.qrot[bq * D + comp[e]] : 0.0f, dl = has_word ? w.qdelta[bq * D + comp[e]] : 0.0f;
        qr[h][e] = q;
        qa[h][e] = __fadd_ru(fabsf(q), dl);
        qb[h][e] = __fadd_ru(__fmul_ru(dl, QMAX), __fmul_ru(QE, fabsf(q)));  // Δ_j·Q_j + Q_j·2^-23·|q̃_rj|
      }
    }
    if (hvalid) {  // the lane's head: its additive term, m_L and θ_A
      const int64_t bq = int64_t(b) * p.n_head_q + g * G + myh;
      const float* qsc = w.qscal + bq * 4;
      base_l = __fadd_ru(__fadd_ru(__fadd_ru(qsc[0], __fmul_ru(qsc[1], p.resid_max[g])), c.tiny), c.tiny);
      ml_l = qsc[2];
      th_l = w.theta_a[bq];
    }
  };
  // M_E of the eliminated pages' candidates (the lead lane of each head: a float32 sum rounded up of
  // count·ex2_up(UB_A − m_L), compact's terms for them), added to the KV head's M_E when the warp leaves it
  // (its last KV head: at the end, summed over the block's warps that end in it)
  // and (lane 0) ν_E of the eliminated pages (the max of their ν; the last page's loaded and folded in at
  // the next elimination or the flush), compact's for the pages it visits
  float me_l = 0.0f, nu_l = 0.0f, nu_ld = 0.0f;
  auto flush_me = [&] {
    if (lead && bg >= 0 && me_l > 0.0f) atomicAdd(&w.me[int64_t(b) * p.n_head_q + g * G + myh], double(me_l));
    me_l = 0.0f;
    nu_l = fmaxf(nu_l, nu_ld);
    if (lane == 0 && bg >= 0 && nu_l > 0.0f) atomicMax(&w.nu_e[int64_t(b) * p.n_head_q + g * G], __float_as_uint(nu_l));
    nu_l = nu_ld = 0.0f;
  };
  // pages to scan, appended to plist 32 at a time (lane i holds the i-th; one atomic per flush)
  int lst = 0, n_lst = 0;
  auto flush = [&] {
    if (!n_lst) return;
    int at = 0;
    if (lane == 0) at = atomicAdd(&w.n_plist[bg], n_lst);
    at = __shfl_sync(0xffffffffu, at, 0);
    if (lane < n_lst) w.plist[int64_t(bg) * MP + at + lane] = lst;
    n_lst = 0;
  };
#pragma unroll
  for (int k = 0; k < kAnchorBufs; ++k) issue(v0 + k, k);
  int k = 0;
  for (int64_t v = v0; v < v1; ++v, ++k) {
    const int buf = k % kAnchorBufs, vbg = cbg, pg = cpg;
    if (++cpg == MP) { cpg = 0; ++cbg; }
    if (vbg != bg) {
      flush();
      flush_me();
      enter(vbg);
    }
    mbar_wait(&bars[warp][buf], uint32_t((k / kAnchorBufs) & 1));
    if (pg < npages) {
      const int t0 = pg * kPage, t1 = min(n, t0 + kPage);
      bool skip = false;
      float dvl = 0.0f;  // the lane's head's f16 bound of the page (bounded pages)
      if (t0 >= hot_lo && t1 <= hot_hi && spo[warp][buf] >= 0) {  // no hot token in the page, its records read
        const uint16_t* meta = reinterpret_cast<const uint16_t*>(sbuf[warp][buf]);
        const uint32_t* bx = reinterpret_cast<const uint32_t*>(sbuf[warp][buf] + MB);
        // per component: h_j, |err_j|, and the box as m_mid = (m_lo + m_hi)/2 = lo + hi − Q_j and
        // m_half = |m_hi − m_lo|/2 = |hi − lo| (exact small integers), so that
        // max(w·m_lo, w·m_hi) = w·m_mid + |w|·m_half exactly
        float hj[4], ej[4], mmid[4], mhalf[4];
        const uint32_t lo4 = has_word ? bx[lane] : 0u, hi4 = has_word ? bx[NW + lane] : 0u;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          hj[e] = has_word ? __half2float(__ushort_as_half(meta[comp[e]])) : 0.0f;
          ej[e] = has_word ? fabsf(__half2float(__ushort_as_half(meta[D + comp[e]]))) : 0.0f;
          const int lo = int((lo4 >> (8 * e)) & 0xffu), hi = int((hi4 >> (8 * e)) & 0xffu);
          mmid[e] = float(lo + hi - QI);
          mhalf[e] = float(abs(hi - lo));
        }
        float part[G];
#pragma unroll
        for (int h = 0; h < G; ++h) {
          float a = 0.0f, t = 0.0f;
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float wj = __fmul_rn(qr[h][e], hj[e]);
            a = __fmaf_ru(fabsf(wj), mhalf[e], __fmaf_ru(wj, mmid[e], a));
            t = __fmaf_ru(qa[h][e], ej[e], __fmaf_ru(qb[h][e], fabsf(hj[e]), t));
          }
          part[h] = __fadd_ru(a, t);
        }
        const float sum = anchor_head_sum<G>(part, lane);  // head myh's sum (rounded up), 0 where !hvalid
        const float dd = __fsub_ru(__fadd_ru(sum, base_l), ml_l);
        dvl = dd != dd ? INFINITY : __half2float(__float2half_ru(dd));
        const bool all_below = __all_sync(0xffffffffu, !hvalid || dvl < th_l);
        skip = forced ? p.forced_page_keep >= 0 && !(hash3(p.forced_seed ^ 0x5bd1e995u, uint32_t(bg), uint32_t(pg)) <= page_thr)
                      : all_below;
      }
      if (skip) {
        if (lead) {  // head myh's pub entry, histogram count and M_E term
          const int64_t bq = int64_t(b) * p.n_head_q + g * G + myh;
          w.pub[(int64_t(bg) * MP + pg) * G + myh] = __half_as_ushort(__float2half_ru(dvl));  // exact: an f16 value
          atomicAdd(&w.hist[bq * kHistAll + hist_bin(dvl)], uint32_t(t1 - t0));
          me_l = __fadd_ru(me_l, __fmul_ru(float(t1 - t0), ex2_up(dvl)));
        }
        if (lane == 0) {
          nu_l = fmaxf(nu_l, nu_ld);
          nu_ld = __ldg(&p.nu_max[spo[warp][buf]]);
        }
      } else {
        if (lane < G) w.pub[(int64_t(bg) * MP + pg) * G + lane] = kPageScanned;
        if (lane == n_lst) lst = pg;
        if (++n_lst == 32) flush();
      }
    }
    __syncwarp();  // every lane is done with the buffer
    issue(v + kAnchorBufs, buf);
  }
  flush();
  nu_l = fmaxf(nu_l, nu_ld);  // the last KV head's ν_E (its M_E below)
  if (lane == 0 && bg >= 0 && nu_l > 0.0f) atomicMax(&w.nu_e[int64_t(b) * p.n_head_q + g * G], __float_as_uint(nu_l));
  // the warps' last M_E sums: one atomic per head for the warps of the block that end in the same KV head
  // (at 1 × 128K every warp ends in one of 8 KV heads: an atomic per warp and head queued on 32 addresses)
  __shared__ float s_mea[kScanWarps][G];
  __shared__ int s_bga[kScanWarps];
  if (lane == 0) s_bga[warp] = bg;
  if (lead) s_mea[warp][myh] = me_l;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 0; k < kScanWarps; ++k) {
      const int kb = s_bga[k];
      bool first = kb >= 0;  // the first warp of its KV head in the block adds the others' sums
      for (int j = 0; j < k; ++j) first = first && s_bga[j] != kb;
      if (!first) continue;
      float sm[G];
#pragma unroll
      for (int h = 0; h < G; ++h) sm[h] = s_mea[k][h];
      for (int j = k + 1; j < kScanWarps; ++j)
        if (s_bga[j] == kb) {
#pragma unroll
          for (int h = 0; h < G; ++h) sm[h] = __fadd_ru(sm[h], s_mea[j][h]);
        }
      const int64_t bq0 = int64_t(kb / p.n_head_kv) * p.n_head_q + (kb % p.n_head_kv) * G;
#pragma unroll
      for (int h = 0; h < G; ++h)
        if (sm[h] > 0.0f) atomicAdd(&w.me[bq0 + h], double(sm[h]));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// low-rank anchor: the low-rank witness's page anchor (box over the sketches, decode.h: per page and KV
// head lo_j ≤ ẑ_tj ≤ hi_j, e_t ≤ E and ρ_t ≤ P for every token of the page, 80 bytes). From the low-rank
// identity (lowrank_page_kernel's comment; q_r the exact rotated query, |q_r,j − q̃_j| ≤ Δ_j):
//   σq·(k_t − μ) ≤ Σ_j q̃_j ẑ_tj + Σ_j Δ_j|ẑ_tj| + ns·e_t + np·ρ_t + ||σq||·resid_max
//               ≤ Σ↑_j [max(q̃_j·lo_j, q̃_j·hi_j) + Δ_j·max(|lo_j|, |hi_j|)] ⊕↑ ns·E ⊕↑ np·P ⊕↑ qμ_hi
//                 ⊕↑ ||σq||·resid_max ⊕↑ 2·tiny =: UB_A
// for every token of the page (q̃_j·ẑ is linear in ẑ over [lo_j, hi_j]; every product and sum rounded up
// bounds the exact one, in any order; the max is NaN-propagating (max.NaN), so a NaN anywhere makes the
// bound NaN, stored as +inf: never eliminated; no float32 dot is bounded, so no γ term). The elimination,
// θ_A, pub, the histogram, M_E and the page list are the quant anchor stage's (anchor_kernel above).
// Layout: PPL pages per lane (1 or 2, chosen per step by stage1, below). Warp-items are (b·Hkv + g, 32·PPL
// consecutive pages): the warp puts the KV head's query factors in shared memory (q̃_j, Δ_j for j < 16; per
// head ns, np, the additive term, m_L, θ_A), then lane ℓ loads pages 32·PPL·chunk + 32k + ℓ's page-table
// entries and 80-byte records (five 16-byte loads each) and bounds each for the G heads alone (components
// outer, heads inner); the histogram counts of a warp-item are aggregated per (page slot, head, bin)
// (__match_any_sync), M_E per head by a warp sum rounded up, ν_E (the eliminated pages' ν, compact's for
// the rest) by a warp max, the page list by one atomic per warp-item. (Up to d871e56 a lane per page with
// its per-component arrays at 128 registers; 6 or 7 blocks per SM at 80 or 72 registers were slower, the
// rounds of 939a12c and of this change.)
// (A warp per page with bulk copies into shared buffers, as the quant anchor stage, took 43-58 µs at
// 32 × 32K: 131K copies of 80 bytes.)
__device__ __forceinline__ float fmax_nan(float a, float b) {
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
}
// A page's box bound UB_A ⊖↑ m_L as f16↑ (dv, +inf for NaN) for the G heads from its 80-byte record and the
// KV head's query factors (q̃_j, Δ_j for j < kRank; per head ns, np, the additive term, m_L), components outer,
// heads inner: a component pair's box is unpacked once for the G heads (each head's sum is rounded up term by
// term, in the order j = 0, 1, ..); returns whether every head's bound is below its θ_A (th)
template <int G>
__device__ __forceinline__ bool lowrank_anchor_bound(const uint4 (&rec)[kLrBoxHalfs / 8], const float (*s_q)[kRank],
                                                     const float (*s_d)[kRank], const float* s_ns, const float* s_np,
                                                     const float* s_add, const float* s_ml, const float* s_th, float (&dv)[G]) {
  const uint32_t* rw = reinterpret_cast<const uint32_t*>(rec);
  float part[G];
#pragma unroll
  for (int h = 0; h < G; ++h) part[h] = 0.0f;
#pragma unroll
  for (int i = 0; i < kRank / 2; ++i) {
    const float2 l2 = __half22float2(*reinterpret_cast<const __half2*>(&rw[i]));
    const float2 h2 = __half22float2(*reinterpret_cast<const __half2*>(&rw[kRank / 2 + i]));
    const float lo[2] = {l2.x, l2.y}, hi[2] = {h2.x, h2.y};
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int j = 2 * i + e;
      const float am = fmax_nan(fabsf(lo[e]), fabsf(hi[e]));
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float q = s_q[h][j];
        part[h] = __fadd_ru(part[h], fmax_nan(__fmul_ru(q, lo[e]), __fmul_ru(q, hi[e])));
        part[h] = __fmaf_ru(s_d[h][j], am, part[h]);
      }
    }
  }
  const float2 ep = __half22float2(*reinterpret_cast<const __half2*>(&rw[kRank]));  // E, P
  bool all_below = true;
#pragma unroll
  for (int h = 0; h < G; ++h) {
    float pt = __fadd_ru(part[h], __fmaf_ru(s_ns[h], ep.x, __fmul_ru(s_np[h], ep.y)));
    pt = __fadd_ru(pt, s_add[h]);
    const float dd = __fsub_ru(pt, s_ml[h]);
    dv[h] = dd != dd ? INFINITY : __half2float(__float2half_ru(dd));
    all_below = all_below && dv[h] < s_th[h];
  }
  return all_below;
}

// A lane's page after its bound (valid: inside the sequence; skip: eliminated): its pub entry, and for an
// eliminated page its ν (nuv, a max), its candidates in the histogram of head h at hist + h·kHistAll (AGG: lanes of
// one bin share one atomic, the anchor stage's global histogram; otherwise a plain atomic per lane, the fused kernel's
// shared one, where that was faster: round of e220e25) and their M_E terms count·ex2_up(bound) (me, compact's form)
template <int G, bool AGG = true>
__device__ __forceinline__ void lowrank_anchor_tail(const DecodeParams& p, const Workspace& w, int bg, int g, int MP, int lane,
                                                    int pg, int phys, int n, bool valid, bool skip, const float (&dv)[G],
                                                    uint32_t* hist, float (&me)[G], float& nuv) {
  const int t0 = pg * kPage, t1 = min(n, t0 + kPage);
  if (skip) nuv = fmaxf(nuv, __ldg(&p.nu_max[int64_t(phys) * p.n_head_kv + g]));
  uint16_t* pu = w.pub + (int64_t(bg) * MP + pg) * G;
  if (valid) {
#pragma unroll
    for (int h = 0; h < G; ++h) pu[h] = skip ? __half_as_ushort(__float2half_ru(dv[h])) : kPageScanned;  // exact: dv is f16
  }
  const uint32_t cnt = skip ? uint32_t(t1 - t0) : 0u;  // the page's candidates (it holds no hot token)
#pragma unroll
  for (int h = 0; h < G; ++h) {
    if constexpr (AGG) {
      const int bin = skip ? hist_bin(dv[h]) : -1 - lane;
      const uint32_t peers = __match_any_sync(0xffffffffu, bin);
      const uint32_t tot = __reduce_add_sync(peers, cnt);
      if (skip && lane == __ffs(peers) - 1) atomicAdd(&hist[h * kHistAll + bin], tot);
    } else {
      if (skip) atomicAdd(&hist[h * kHistAll + hist_bin(dv[h])], cnt);  // shared memory: plain atomics
    }
    if (skip) me[h] = __fadd_ru(me[h], __fmul_ru(float(cnt), ex2_up(dv[h])));
  }
}

// The low-rank anchor stage's query factors of the G heads of KV head g into shared memory (one warp): lane ℓ < 8G
// takes head ℓ/8, sketch components 2(ℓ mod 8), +1, and every 8th trailing component from kRank + ℓ mod 8 (ns²,
// np² summed rounded up, then over the head's 8 lanes); q̃_j, Δ_j for j < kRank, ns, np, the additive term
// (qμ_hi ⊕↑ ||σq||·resid_max ⊕↑ 2·tiny), m_L and θ_A per head
template <int G, int D>
__device__ __forceinline__ void lowrank_anchor_factors(const DecodeParams& p, const Workspace& w, const Consts& c, int b, int g,
                                                       int lane, float (*s_q)[kRank], float (*s_d)[kRank], float* s_ns,
                                                       float* s_np, float* s_add, float* s_ml, float* s_th) {
  static_assert(G * 8 <= 32, "the query factors: a head per 8 lanes");
  const int lh = lane >> 3, lj = 2 * (lane & 7);
  float ss = 0.0f, sp = 0.0f;
  if (lh < G) {
    const int64_t bq = int64_t(b) * p.n_head_q + g * G + lh;
    const float* qr = w.qrot + bq * D;
    const float* qd = w.qdelta + bq * D;
    float tq[(D - kRank) / 8], td[(D - kRank) / 8];
#pragma unroll
    for (int k = 0; k < (D - kRank) / 8; ++k) {  // every load in flight at once
      tq[k] = qr[kRank + 8 * k + (lane & 7)];
      td[k] = qd[kRank + 8 * k + (lane & 7)];
    }
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const float q = qr[lj + e], dl = qd[lj + e];
      s_q[lh][lj + e] = q;
      s_d[lh][lj + e] = dl;
      const float m = __fadd_ru(fabsf(q), dl);
      ss = __fmaf_ru(m, m, ss);
    }
#pragma unroll
    for (int k = 0; k < (D - kRank) / 8; ++k) {
      const float m = __fadd_ru(fabsf(tq[k]), td[k]);
      sp = __fmaf_ru(m, m, sp);
    }
    if ((lane & 7) == 0) {
      const float* qsc = w.qscal + bq * 4;
      s_add[lh] = __fadd_ru(__fadd_ru(__fadd_ru(qsc[0], __fmul_ru(qsc[1], p.resid_max[g])), c.tiny), c.tiny);
      s_ml[lh] = qsc[2];
      s_th[lh] = w.theta_a[bq];
    }
  }
#pragma unroll
  for (int o = 4; o > 0; o >>= 1) {
    ss = __fadd_ru(ss, __shfl_xor_sync(0xffffffffu, ss, o));
    sp = __fadd_ru(sp, __shfl_xor_sync(0xffffffffu, sp, o));
  }
  if (lh < G && (lane & 7) == 0) {
    s_ns[lh] = __fsqrt_ru(ss);
    s_np[lh] = __fsqrt_ru(sp);
  }
  __syncwarp();
}

// A warp's anchored M_E terms (a warp sum rounded up per head, one float64 atomic each) and ν_E (a warp max,
// one atomicMax on the float bits at the group's first head) into the step's accumulators
template <int G>
__device__ __forceinline__ void lowrank_anchor_flush(const DecodeParams& p, const Workspace& w, int b, int g, int lane,
                                                     const float (&me)[G], float nuv) {
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const float m = warp_sum_ru(me[h]);
    if (lane == 0 && m > 0.0f) atomicAdd(&w.me[int64_t(b) * p.n_head_q + g * G + h], double(m));
  }
  const float numx = warp_max(nuv);
  if (lane == 0 && numx > 0.0f) atomicMax(&w.nu_e[int64_t(b) * p.n_head_q + g * G], __float_as_uint(numx));
}

// PPL pages per lane (1 or 2): warp-items of 32·PPL pages; stage1 takes 2 where items of 32 pages outnumber
// the resident warps (32 × 32K: 4096 items, 2112 warps at 4 blocks per SM), so that no warp takes a second
// item, and 1 elsewhere (1 × 128K: 512 items), where halving the warps would lengthen the stage
constexpr int kLrAnchorWarps = 4;
template <int G, int D, int PPL>
__global__ void __launch_bounds__(kLrAnchorWarps * 32, 4) lowrank_anchor_kernel(DecodeParams p, Workspace w, Consts c) {
  __shared__ float s_q[kLrAnchorWarps][G][kRank], s_d[kLrAnchorWarps][G][kRank];
  __shared__ float s_ns[kLrAnchorWarps][G], s_np[kLrAnchorWarps][G], s_add[kLrAnchorWarps][G], s_ml[kLrAnchorWarps][G],
      s_th[kLrAnchorWarps][G];
  static_assert(G * 8 <= 32, "the query factors: a head per 8 lanes");
  constexpr int IP = 32 * PPL;  // pages per warp-item
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  pdl_wait();
  pdl_launch_next();
  const bool forced = p.forced_keep >= 0;
  const uint32_t page_thr = uint32_t(fminf(fmaxf(p.forced_page_keep, 0.0f), 1.0f) * 4294967295.0f);
  const int MP = (p.max_seq + kPage - 1) / kPage, CH = (MP + IP - 1) / IP;
  const int items = p.batch * p.n_head_kv * CH;
  for (int it = blockIdx.x * kLrAnchorWarps + warp; it < items; it += gridDim.x * kLrAnchorWarps) {
    const int bg = it / CH, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
    const int n = p.seq_len[b], npages = (n + kPage - 1) / kPage;
    const int hot_lo = min(p.n_sink, n), hot_hi = max(n - p.n_recent, hot_lo);
    // the lane's pages IP·chunk + 32k + ℓ and their records (inputs: loaded before the query factors' reductions)
    int pg[PPL], phys[PPL];
    uint4 rec[PPL][kLrBoxHalfs / 8];
#pragma unroll
    for (int k = 0; k < PPL; ++k) {
      pg[k] = (it % CH) * IP + 32 * k + lane;
      phys[k] = pg[k] < npages ? __ldg(&p.page_table[int64_t(b) * p.max_pages + pg[k]]) : -1;
    }
#pragma unroll
    for (int k = 0; k < PPL; ++k)
      if (phys[k] >= 0) {
        const uint4* src = reinterpret_cast<const uint4*>(p.box + (int64_t(phys[k]) * p.n_head_kv + g) * (kLrBoxHalfs * 2));
#pragma unroll
        for (int i = 0; i < kLrBoxHalfs / 8; ++i) rec[k][i] = __ldg(&src[i]);
      }
    lowrank_anchor_factors<G, D>(p, w, c, b, g, lane, s_q[warp], s_d[warp], s_ns[warp], s_np[warp], s_add[warp], s_ml[warp],
                                 s_th[warp]);
    bool skip[PPL];
    float dv[PPL][G];
#pragma unroll
    for (int k = 0; k < PPL; ++k) {
      const int t0 = pg[k] * kPage, t1 = min(n, t0 + kPage);
      skip[k] = false;
      if (phys[k] >= 0 && t0 >= hot_lo && t1 <= hot_hi) {  // no hot token in the page, its record read
        const bool all_below = lowrank_anchor_bound<G>(rec[k], s_q[warp], s_d[warp], s_ns[warp], s_np[warp], s_add[warp],
                                                       s_ml[warp], s_th[warp], dv[k]);
        skip[k] = forced ? p.forced_page_keep >= 0 && !(hash3(p.forced_seed ^ 0x5bd1e995u, uint32_t(bg), uint32_t(pg[k])) <= page_thr)
                         : all_below;
      }
    }
    // per page: pub, the histogram counts (lanes of one bin share one atomic), M_E and ν_E terms (compact's for
    // the pages the scan reads)
    float me[G], nuv = 0.0f;
#pragma unroll
    for (int h = 0; h < G; ++h) me[h] = 0.0f;
    uint32_t keep[PPL];
#pragma unroll
    for (int k = 0; k < PPL; ++k) {
      const bool valid = pg[k] < npages;
      lowrank_anchor_tail<G>(p, w, bg, g, MP, lane, pg[k], phys[k], n, valid, skip[k], dv[k],
                             w.hist + (int64_t(b) * p.n_head_q + g * G) * kHistAll, me, nuv);
      keep[k] = __ballot_sync(0xffffffffu, valid && !skip[k]);  // pages the scan reads
    }
    lowrank_anchor_flush<G>(p, w, b, g, lane, me, nuv);
    int tot = 0;
#pragma unroll
    for (int k = 0; k < PPL; ++k) tot += __popc(keep[k]);
    int at = 0;
    if (lane == 0 && tot) at = atomicAdd(&w.n_plist[bg], tot);
    at = __shfl_sync(0xffffffffu, at, 0);
#pragma unroll
    for (int k = 0; k < PPL; ++k) {
      if (keep[k] >> lane & 1u) w.plist[int64_t(bg) * MP + at + __popc(keep[k] & ((1u << lane) - 1u))] = pg[k];
      at += __popc(keep[k]);
    }
    __syncwarp();  // the shared factors are read before the next item writes them
  }
}

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------
// compact: grid (chunks, B·Hkv) of blocks that are all resident at once, 128 threads, no block
// barrier before the end; specialised at compile time for anchors (BOX) and forced survivors (FORCED).
// Each warp takes segments of two pages (kCompactSeg = 128 tokens; warp w of the KV head's W warps:
// segments w, w + W, ...): without anchors pages 2s and 2s + 1 of the sequence, with anchors the anchor
// stage's list entries 2s and 2s + 1 (the pages it let through, Workspace::plist: the pages it eliminated
// are not visited at all). The lane's k-th token of a segment is slot 32(k mod 2) + lane of the segment's
// page k/2, so every load is coalesced (G·2 bytes per token) and the 32 tokens of a row share one page
// (its physical page and ν are warp-uniform). The next segment's bounds and physical pages are loaded
// before the current one is processed (with anchors, its list entries one segment before that). A
// candidate is eliminated iff UB_h − m_L < θ_h for every head h of the group (GQA rule; θ from the scan's
// cut), or, in forced mode, by a hash; the rows of survivors (and hot tokens: physical page · kPage +
// slot, all attend reads) are appended in the segment's order: a ballot per row and one atomicAdd per
// segment. An eliminated token adds ex2_up(UB − m_L) ≥ (1 − 2.5·2^-23)·e^{UB − m_L} to M_E of every head
// (float32 sums rounded up per lane, float64 across lanes; merge's factor covers the ex2 error) and
// its page's ν to ν_E. A page an anchor eliminated (it holds a candidate and no hot token) had its M_E
// terms (count·ex2_up(UB_A − m_L) per head) and its ν added by the anchor stage. (Up to 2c76096 every
// bound was read, and an anchored token added ex2_up of its page bound here; up to this kernel's list
// walk every segment was visited, a page the anchor stage eliminated skipped by its pub entry.)
// (kCompactSeg, kCompactRows, kCompactPages: at the top of the file)

template <int G>
struct CompactSeg {  // one lane's share of a segment: its tokens' bounds (G f16 each), the pages
  uint32_t wd[kCompactRows][(G + 1) / 2];
  int32_t phys[kCompactPages];
};

// a segment's pages (logical; −1: none) and its rows' tokens: row k is slot 32(k mod 2) + lane of page k/2
__device__ __forceinline__ int compact_token(const int (&pg)[kCompactPages], int k, int lane) {
  return pg[k >> 1] < 0 ? INT_MAX : pg[k >> 1] * kPage + 32 * (k & 1) + lane;
}
// the segment's bounds and physical pages (a token at or past n: +inf bounds, not read); SL: the physical pages are
// given (ph, from the fused block's list in shared memory) instead of loaded from the page table
template <int G, bool SL = false>
__device__ __forceinline__ void compact_load(CompactSeg<G>& s, const uint16_t* ubase, const int32_t* ptab,
                                             const int (&pg)[kCompactPages], int lane, int n,
                                             const int (&ph)[kCompactPages]) {
#pragma unroll
  for (int k = 0; k < kCompactRows; ++k) {
    const int t = compact_token(pg, k, lane);
    const uint16_t* src = ubase + int64_t(t) * G;  // dereferenced only where t < n (t: INT_MAX for no page)
    if (t >= n) {
#pragma unroll
      for (int i = 0; i < (G + 1) / 2; ++i) s.wd[k][i] = 0x7C007C00u;
    } else if constexpr (G == 4) {
      const uint2 u = __ldcs(reinterpret_cast<const uint2*>(src));
      s.wd[k][0] = u.x;
      s.wd[k][1] = u.y;
    } else if constexpr (G == 2) {
      s.wd[k][0] = __ldcs(reinterpret_cast<const unsigned int*>(src));
    } else {
#pragma unroll
      for (int i = 0; i < (G + 1) / 2; ++i) {
        const uint32_t lo = __ldcs(reinterpret_cast<const unsigned short*>(src + 2 * i));
        const uint32_t hi = 2 * i + 1 < G ? uint32_t(__ldcs(reinterpret_cast<const unsigned short*>(src + 2 * i + 1))) : 0u;
        s.wd[k][i] = lo | (hi << 16);
      }
    }
  }
#pragma unroll
  for (int q = 0; q < kCompactPages; ++q) s.phys[q] = pg[q] >= 0 && pg[q] * kPage < n ? (SL ? ph[q] : __ldg(&ptab[pg[q]])) : 0;
}

// head h's bound of the lane's row-k token (an f16 value) as float
template <int G>
__device__ __forceinline__ float compact_dv(const CompactSeg<G>& s, int k, int h) {
  const __half2 x = *reinterpret_cast<const __half2*>(&s.wd[k][h >> 1]);
  return (h & 1) ? __high2float(x) : __low2float(x);
}

// compact's θ for KV head (b, g): θ_h as the least f16 ≥ θ_h (RU; a pad head: +inf), two heads a word: for an f16
// value x, x < θ ⇔ x < RU_f16(θ) (x < RU(θ) with θ not an f16 puts x at or below the f16 under θ), NaN compares false
// either way
template <int G>
__device__ __forceinline__ void compact_theta(const DecodeParams& p, const Workspace& w, int b, int g,
                                              uint32_t (&th2)[(G + 1) / 2]) {
#pragma unroll
  for (int i = 0; i < (G + 1) / 2; ++i) {
    const float lo = w.theta[int64_t(b) * p.n_head_q + g * G + 2 * i];
    const float hi = 2 * i + 1 < G ? w.theta[int64_t(b) * p.n_head_q + g * G + 2 * i + 1] : INFINITY;
    th2[i] = uint32_t(__half_as_ushort(__float2half_ru(lo))) | uint32_t(__half_as_ushort(__float2half_ru(hi))) << 16;
  }
}
// forced mode: a candidate is kept iff its hash is at most this (the KV head's fraction of 2^32 − 1)
template <bool BOX>
__device__ __forceinline__ uint32_t compact_keep_thr(const DecodeParams& p, int bg) {
  return uint32_t(fminf(fmaxf(BOX || !p.forced_keep_bg ? p.forced_keep : p.forced_keep_bg[bg], 0.0f), 1.0f) * 4294967295.0f);
}
// A segment's decisions, shared by both walks: for each row k the lane's token (t: a candidate when
// cold_lo ≤ t < cold_hi, hot when below n otherwise) is eliminated (elim[k]) when it is a candidate and UB_h − m_L < θ_h
// for every head (two heads per comparison, see th2) or, FORCED, when its hash is above keep_thr; keep[k] is the
// warp's ballot of the tokens kept (hot, or candidates not eliminated), any[q] whether any lane eliminated a token
// of page q (warp-uniform), tot the warp's kept count. th2 holds the θ of the segment's first page, th2b of its second
// (the same but with the split cut, where the two pages belong to different scan blocks).
template <int G, bool FORCED>
__device__ __forceinline__ void compact_decide(const DecodeParams& p, const CompactSeg<G>& cs, const int (&pg)[kCompactPages],
                                               int lane, int n, int cold_lo, int cold_hi, int bg, uint32_t keep_thr,
                                               const uint32_t (&th2)[(G + 1) / 2], const uint32_t (&th2b)[(G + 1) / 2],
                                               bool (&elim)[kCompactRows], uint32_t (&keep)[kCompactRows],
                                               bool (&any)[kCompactPages], int& tot) {
#pragma unroll
  for (int k = 0; k < kCompactRows; ++k) {
    const int t = compact_token(pg, k, lane);
    const bool cand = t >= cold_lo && t < cold_hi, hot = t < n && !cand;
    bool el;
    if constexpr (FORCED) {
      el = !(hash3(p.forced_seed, uint32_t(bg), uint32_t(t)) <= keep_thr);
    } else {
      el = true;
#pragma unroll
      for (int i = 0; i < (G + 1) / 2; ++i)
        el = el && __hblt2(*reinterpret_cast<const __half2*>(&cs.wd[k][i]),
                           *reinterpret_cast<const __half2*>(k < kCompactRows / 2 ? &th2[i] : &th2b[i]));
    }
    el = el && cand;
    elim[k] = el;
    any[k >> 1] |= __any_sync(0xffffffffu, el);
    keep[k] = __ballot_sync(0xffffffffu, hot || (cand && !el));
    tot += __popc(keep[k]);
  }
}
// The eliminated tokens' M_E terms of a segment where any lane eliminated (the caller tests any): every row's terms
// without a branch per lane (a lane that keeps its token adds +0, which leaves its sum's bits as they are), so that
// the rows' exponentials and sums can interleave.
template <int G>
__device__ __forceinline__ void compact_me_terms(const CompactSeg<G>& cs, const bool (&elim)[kCompactRows], float (&me)[G]) {
#pragma unroll
  for (int k = 0; k < kCompactRows; ++k)
#pragma unroll
    for (int h = 0; h < G; ++h) {
      const float e = ex2_up(compact_dv<G>(cs, k, h));
      me[h] = __fadd_ru(me[h], elim[k] ? e : 0.0f);
    }
}

// compact's segment walk for KV head bg by the grid's W-warp blocks of row bg (warp w of block x: segments
// x·W + w, x·W + w + X·W, ..): appends the survivors' rows to Workspace::srow, and returns this lane's M_E
// terms (me, rounded-up float32 sums) and its ν max (nu). compact_kernel's warps (a KV head's chunks × 4) with
// GHOSTKV_COMPACT_BATCH=0 (by default they take compact_walk_batched below) and, after its cut, the fused low-rank
// block's warps (lowrank_fused_kernel's CP, a grid of one block per row) call it.
// The KV head's survivor count, where each segment takes its rows' places (an atomic per segment): Workspace::n_surv
// (compact_kernel), or with SC the shared-memory count s_cnt, which the fused block stores into n_surv at its end (an
// atomic of a few cycles on the segment's path instead of an L2 round trip).
// SL (the fused block, with anchors): the list's pages and their physical pages from the block's own list in shared
// memory (sl: (page, physical page) in the list's order, the global list's entries) instead of the global list and the
// page table: no L2 load before a segment's bounds.
// TL (compact's timeline build, diagnostics): lane 0 records into tl (the block's row of g_compact_tl) the timer once the
// warp's first segment's bounds are in (warp 0: column 3), once its first survivor-count atomic returned (warp 0:
// column 4), and at the end of its walk (warp w: column 5 + w), and its segment count (warp 0: column 11).
template <int G, bool BOX, bool FORCED, int W, bool SC = false, bool SL = false, bool TL = false>
__device__ __forceinline__ void compact_walk(const DecodeParams& p, const Workspace& w, int bg, int b, int g, int lane,
                                             int* s_cnt, float (&me)[G], float& nu, const int2* sl = nullptr,
                                             long long* tl = nullptr) {
  static_assert(!SL || BOX, "the shared list is the anchor stage's");
  const int n = p.seq_len[b];
  const int cold_lo = p.n_sink, cold_hi = n - p.n_recent;  // candidates: cold_lo ≤ t < cold_hi (≤ n)
  uint32_t th2[(G + 1) / 2];
  compact_theta<G>(p, w, b, g, th2);
#pragma unroll
  for (int h = 0; h < G; ++h) me[h] = 0.0f;
  nu = 0.0f;
  [[maybe_unused]] const uint32_t keep_thr = FORCED ? compact_keep_thr<BOX>(p, bg) : 0u;
  const uint16_t* ubase = w.ub + int64_t(bg) * p.max_seq * G;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const float* numax = p.nu_max + g;
  int32_t* srow = w.srow + int64_t(bg) * p.max_seq;
  // segments: without anchors the sequence's pages in pairs; with anchors the list's (its length and
  // entries: the anchor stage, complete before the scan started, which finished before this KV head's cut)
  [[maybe_unused]] const int32_t* plist = BOX ? w.plist + int64_t(bg) * ((p.max_seq + kPage - 1) / kPage) : nullptr;
  const int n_list = BOX ? __ldcg(&w.n_plist[bg]) : 0;
  const int nseg = BOX ? (n_list + 1) / 2 : (n + kCompactSeg - 1) / kCompactSeg;
  // a segment's pages are held one per lane (lane ℓ: page ℓ mod 2; one register for a segment ahead),
  // taken by shuffles where used
  auto seg_page = [&](int s) {
    const int i = kCompactPages * s + (lane & 1);
    if constexpr (SL) return i < n_list ? sl[i].x : -1;
    else if constexpr (BOX) return i < n_list ? __ldcg(&plist[i]) : -1;
    else return i;
  };
  [[maybe_unused]] auto seg_phys = [&](int s) {  // SL: the lane's page's physical page
    const int i = kCompactPages * s + (lane & 1);
    return i < n_list ? sl[i].y : 0;
  };
  auto pages_of = [&](int pl, int (&pg)[kCompactPages]) {
#pragma unroll
    for (int q = 0; q < kCompactPages; ++q) pg[q] = BOX ? __shfl_sync(0xffffffffu, pl, q) : pl - (lane & 1) + q;
  };
  [[maybe_unused]] auto phys_of = [&](int pp, int (&ph)[kCompactPages]) {
#pragma unroll
    for (int q = 0; q < kCompactPages; ++q) ph[q] = SL ? __shfl_sync(0xffffffffu, pp, q) : 0;
  };
  const int sstride = gridDim.x * W;
  const uint32_t lt = (1u << lane) - 1u;
  int s = blockIdx.x * W + (int(threadIdx.x) >> 5);
  CompactSeg<G> cur;
  int pc[kCompactPages];  // the current segment's pages
  int pn = seg_page(s + sstride);  // the next segment's (lane: page lane mod 2)
  [[maybe_unused]] int ppn = SL ? seg_phys(s + sstride) : 0;  // SL: its physical page
  pages_of(seg_page(s), pc);
  {
    int ph[kCompactPages];
    phys_of(SL ? seg_phys(s) : 0, ph);
    if (s < nseg) compact_load<G, SL>(cur, ubase, ptab, pc, lane, n, ph);
  }
  [[maybe_unused]] const int warp_tl = int(threadIdx.x) >> 5;
  [[maybe_unused]] int segs_tl = 0;
  for (; s < nseg; s += sstride) {
    if constexpr (TL) {
      if (segs_tl == 0 && warp_tl == 0 && lane == 0) tl[3] = global_ns_after(cur.wd[kCompactRows - 1][0]);
      ++segs_tl;
    }
    CompactSeg<G> nxt;
    if (s + sstride < nseg) {
      int pg[kCompactPages], ph[kCompactPages];
      pages_of(pn, pg);
      phys_of(ppn, ph);
      compact_load<G, SL>(nxt, ubase, ptab, pg, lane, n, ph);
    }
    const int pnn = seg_page(s + 2 * sstride);  // with anchors: list entries a segment ahead of their bounds
    [[maybe_unused]] const int ppnn = SL ? seg_phys(s + 2 * sstride) : 0;
    float nuv[kCompactPages];  // the pages' ν, used at the end of the segment (latency overlapped)
#pragma unroll
    for (int q = 0; q < kCompactPages; ++q) nuv[q] = __ldg(&numax[int64_t(cur.phys[q]) * p.n_head_kv]);
    bool page_any[kCompactPages];
#pragma unroll
    for (int q = 0; q < kCompactPages; ++q) page_any[q] = false;
    uint32_t keep_rows[kCompactRows];
    bool elim_rows[kCompactRows];
    int tot = 0;
    compact_decide<G, FORCED>(p, cur, pc, lane, n, cold_lo, cold_hi, bg, keep_thr, th2, th2, elim_rows, keep_rows, page_any, tot);
    int at = 0;  // the atomic's latency overlaps the eliminated tokens' M_E terms below
    if (lane == 0 && tot) at = SC ? atomicAdd(s_cnt, tot) : atomicAdd(&w.n_surv[bg], tot);
    if (page_any[0] || page_any[1]) compact_me_terms<G>(cur, elim_rows, me);
#pragma unroll
    for (int q = 0; q < kCompactPages; ++q) nu = page_any[q] ? fmaxf(nu, nuv[q]) : nu;
    at = __shfl_sync(0xffffffffu, at, 0);
    if constexpr (TL) {
      if (segs_tl == 1 && warp_tl == 0 && lane == 0) tl[4] = global_ns_after(at);
    }
    int32_t* sr = srow + at;
    int off = 0;
#pragma unroll
    for (int k = 0; k < kCompactRows; ++k) {
      if (keep_rows[k] >> lane & 1u) {
        const int t = compact_token(pc, k, lane), j = off + __popc(keep_rows[k] & lt);
        sr[j] = cur.phys[k >> 1] * kPage + (t & (kPage - 1));
      }
      off += __popc(keep_rows[k]);
    }
    cur = nxt;  // on the last segment nxt was not loaded; the loop ends before cur is read again
    pages_of(pn, pc);
    pn = pnn;
    if constexpr (SL) ppn = ppnn;
  }
  if constexpr (TL) {
    if (lane == 0) {
      tl[5 + warp_tl] = global_ns_after(me[0] + nu);
      if (warp_tl == 0) tl[11] = segs_tl;
    }
  }
}

// compact's segments in batches (compact_kernel's BT, the default since call140): the block's warps take their segments
// as compact_walk does (warp w of block x: segments x·W + w + k·X·W), K at a time. A batch's bounds and physical pages
// (with anchors its list entries, loaded one batch ahead) are all requested before any is used, so a batch costs one
// round trip to memory instead of one per segment; its survivors' places come from one atomic per block and batch
// (the warps' counts summed in shared memory) instead of one per warp and segment, which at 1 × 128K had 1,024
// atomics queue on each KV head's count (call138: warp 0's first returned 2.3-2.5 µs after its bounds, median). The
// decisions, M_E terms and ν are compact_walk's, per segment; the rows go in the order of the segments within a warp,
// warp after warp within the block's batch. Every warp of the block runs the block's batch count (warp 0's segments /
// K, rounded up: segments past the end hold no token), since the batch's places take two block barriers.
// TL (the timeline build): warp 0's first batch's bounds in (column 3), thread 0's first atomic's return (column 4),
// each warp's walk end (column 5 + w) and first batch's end (column 12 + w), warp 0's batch count (column 11).
// Segments per batch: 2 at 8 blocks per SM (64 registers, no spills at any G), since call147: at 1 × 128K 132 blocks per
// KV head, each warp's 1-2 segments one batch. A batch of 4 at 4 blocks per SM (128 registers; 66 blocks per KV head)
// was 0.78 µs slower in stage 1 on average over 8 same-call pairs (0.1-1.6, every pair): call143's Nsight Compute
// source page had a fifth of compact's samples in the batch's decisions and a sixth in its row stores, both a
// warp's serial work waiting on fixed latencies (stall_wait), at 4 warps per scheduler.
template <int G>
inline constexpr int kCompactBatch = 2;

// SPLIT (the split cut, split = its blocks per KV head C): each page's θ is its scan block's (page p: block p mod C,
// Workspace::theta_blk). The block loads the KV head's C rows once (a word per thread, issued before the first batch's
// bounds) into shared memory, stored there after the first batch's bounds were requested; each segment then reads its
// pages' words from there. (Loading each page's words from L2 with the segment's bounds, 665643a, made compact about
// 3 µs slower at 1 × 128K where every token survived: call152.)
// SF (scan_split_compact: the split cut's scan block compacting its own pages, split = C, chunk = c): the block's
// pages c + C·k are its segments' (segment s: k = 2s, 2s + 1), its W warps taking segments w, w + W, ..; every page
// is held to the block's own θ (its row of Workspace::theta_blk, written by its cut before the block's barrier).
// sft (SF, GHOSTKV_SPLIT_TL): the timer at warp 0's first batch's bounds in (sft[0]), thread 0's first survivor-count
// atomic's return (sft[1]) and its walk's end (sft[2]).
template <int G, bool BOX, bool FORCED, int W, bool TL = false, bool SPLIT = false, bool SF = false, int KB = kCompactBatch<G>>
__device__ __forceinline__ void compact_walk_batched(const DecodeParams& p, const Workspace& w, int bg, int b, int g,
                                                     int lane, float (&me)[G], float& nu, int (&s_place)[W],
                                                     long long* tl = nullptr, int split = 0, int chunk = 0,
                                                     long long* sft = nullptr) {
  static_assert(!(SPLIT || SF) || !BOX, "the split cut is built without anchors");
  static_assert(!(SPLIT && SF), "one of the split cut's two walks");
  static_assert(!SPLIT || 2 * kSplitMaxChunks <= W * 32, "a word of the split cut's θ rows per thread");
  [[maybe_unused]] __shared__ uint32_t s_th[SPLIT ? 2 * kSplitMaxChunks : 1];
  [[maybe_unused]] uint32_t th_word = 0x7C007C00u;  // SPLIT: word threadIdx.x of the KV head's θ rows (2 per block)
  if constexpr (SPLIT && !FORCED)
    if (int(threadIdx.x) < 2 * split)
      th_word = __ldcg(reinterpret_cast<const uint32_t*>(w.theta_blk + int64_t(bg) * kSplitMaxChunks * 4) + threadIdx.x);
  constexpr int K = KB;  // segments a batch
  const int warp = int(threadIdx.x) >> 5;
  const int n = p.seq_len[b];
  const int cold_lo = p.n_sink, cold_hi = n - p.n_recent;  // candidates: cold_lo ≤ t < cold_hi (≤ n)
  uint32_t th2[(G + 1) / 2];
  if constexpr (SPLIT) {
#pragma unroll
    for (int i = 0; i < (G + 1) / 2; ++i) th2[i] = 0x7C007C00u;  // unused: each page's own θ
  } else if constexpr (SF) {  // the block's own cut (f16 bits rounded up, pad heads +inf: finish_scan_split)
    const uint32_t* row = reinterpret_cast<const uint32_t*>(w.theta_blk + (int64_t(bg) * kSplitMaxChunks + chunk) * 4);
#pragma unroll
    for (int i = 0; i < (G + 1) / 2; ++i) th2[i] = FORCED ? 0x7C007C00u : __ldcg(row + i);
  } else {
    compact_theta<G>(p, w, b, g, th2);
  }
#pragma unroll
  for (int h = 0; h < G; ++h) me[h] = 0.0f;
  nu = 0.0f;
  [[maybe_unused]] const uint32_t keep_thr = FORCED ? compact_keep_thr<BOX>(p, bg) : 0u;
  const uint16_t* ubase = w.ub + int64_t(bg) * p.max_seq * G;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const float* numax = p.nu_max + g;
  int32_t* srow = w.srow + int64_t(bg) * p.max_seq;
  [[maybe_unused]] const int32_t* plist = BOX ? w.plist + int64_t(bg) * ((p.max_seq + kPage - 1) / kPage) : nullptr;
  const int n_list = BOX ? __ldcg(&w.n_plist[bg]) : 0;
  const int npg = (n + kPage - 1) / kPage, npg_blk = SF ? (npg > chunk ? (npg - chunk + split - 1) / split : 0) : 0;
  const int nseg = BOX ? (n_list + 1) / 2 : SF ? (npg_blk + 1) / 2 : (n + kCompactSeg - 1) / kCompactSeg;
  auto seg_page = [&](int s) {  // segment s's page lane mod 2 (−1: none; without anchors a page past the end has no token;
                                // SF: the page's index k among the block's)
    const int i = kCompactPages * s + (lane & 1);
    if constexpr (BOX) return i < n_list ? __ldcg(&plist[i]) : -1;
    else return i;
  };
  const int sstride = SF ? W : gridDim.x * W, s0 = SF ? warp : blockIdx.x * W + warp, x0 = SF ? 0 : blockIdx.x * W;
  const int nb = nseg > x0 ? ((nseg - x0 + sstride - 1) / sstride + K - 1) / K : 0;  // warp 0's segments / K
  const uint32_t lt = (1u << lane) - 1u;
  const int no_ph[kCompactPages] = {0, 0};
  int pl[K];  // this batch's segments' pages (lane: page lane mod 2)
#pragma unroll
  for (int j = 0; j < K; ++j) pl[j] = seg_page(s0 + j * sstride);
  for (int bt = 0; bt < nb; ++bt) {
    CompactSeg<G> cs[K];
    int pc[K][kCompactPages];
#pragma unroll
    for (int j = 0; j < K; ++j) {
#pragma unroll
      for (int q = 0; q < kCompactPages; ++q)
        pc[j][q] = BOX ? __shfl_sync(0xffffffffu, pl[j], q) : SF ? chunk + split * (pl[j] - (lane & 1) + q) : pl[j] - (lane & 1) + q;
      compact_load<G>(cs[j], ubase, ptab, pc[j], lane, n, no_ph);  // a segment past the end: +inf bounds, no load
    }
    [[maybe_unused]] uint32_t tp[SPLIT && !FORCED ? K : 1][kCompactPages][(G + 1) / 2];  // SPLIT: the pages' θ
    if constexpr (SPLIT && !FORCED) {
      if (bt == 0) {  // the θ rows into shared memory, once (every warp takes the same number of batches)
        if (int(threadIdx.x) < 2 * split) s_th[threadIdx.x] = th_word;
        __syncthreads();
      }
#pragma unroll
      for (int j = 0; j < K; ++j)
#pragma unroll
        for (int q = 0; q < kCompactPages; ++q) {
          const int pg = pc[j][q];
          const uint32_t* tw = s_th + 2 * (pg >= 0 ? pg % split : 0);
#pragma unroll
          for (int i = 0; i < (G + 1) / 2; ++i) tp[j][q][i] = pg >= 0 && pg * kPage < n ? tw[i] : 0x7C007C00u;
        }
    }
    if constexpr (BOX) {  // the next batch's list entries, a batch ahead of their bounds
#pragma unroll
      for (int j = 0; j < K; ++j) pl[j] = seg_page(s0 + ((bt + 1) * K + j) * sstride);
    } else {
#pragma unroll
      for (int j = 0; j < K; ++j) pl[j] += kCompactPages * K * sstride;
    }
    if constexpr (TL) {
      if (bt == 0 && warp == 0 && lane == 0) tl[3] = global_ns_after(cs[K - 1].wd[kCompactRows - 1][0]);
    }
    if (SF && sft && bt == 0 && warp == 0 && lane == 0) sft[0] = global_ns_after(cs[K - 1].wd[kCompactRows - 1][0]);
    float nuv[K][kCompactPages];  // the pages' ν, used after the batch's atomic (latency overlapped)
    bool pany[K][kCompactPages];
    uint32_t keep[K][kCompactRows];
    int tot = 0;
#pragma unroll
    for (int j = 0; j < K; ++j) {
#pragma unroll
      for (int q = 0; q < kCompactPages; ++q) nuv[j][q] = __ldg(&numax[int64_t(cs[j].phys[q]) * p.n_head_kv]), pany[j][q] = false;
      bool elim_rows[kCompactRows];
      if constexpr (SPLIT && !FORCED)
        compact_decide<G, FORCED>(p, cs[j], pc[j], lane, n, cold_lo, cold_hi, bg, keep_thr, tp[j][0], tp[j][1], elim_rows,
                                  keep[j], pany[j], tot);
      else
        compact_decide<G, FORCED>(p, cs[j], pc[j], lane, n, cold_lo, cold_hi, bg, keep_thr, th2, th2, elim_rows, keep[j],
                                  pany[j], tot);
      if (pany[j][0] || pany[j][1]) compact_me_terms<G>(cs[j], elim_rows, me);
    }
    // the batch's places: the warps' counts in shared memory, one atomic (thread 0), each warp after those before it
    if (lane == 0) s_place[warp] = tot;
    __syncthreads();
    if (threadIdx.x == 0) {
      int sum = 0;
#pragma unroll
      for (int k = 0; k < W; ++k) sum += s_place[k];
      int at = sum ? atomicAdd(&w.n_surv[bg], sum) : 0;
      if constexpr (TL) {
        if (bt == 0) tl[4] = global_ns_after(at);
      }
      if (SF && sft && bt == 0) sft[1] = global_ns_after(at);
#pragma unroll
      for (int k = 0; k < W; ++k) {
        const int c = s_place[k];
        s_place[k] = at;
        at += c;
      }
    }
    __syncthreads();
    int at = s_place[warp];
    __syncwarp();  // every lane's read before lane 0's next write
#pragma unroll
    for (int j = 0; j < K; ++j) {
#pragma unroll
      for (int q = 0; q < kCompactPages; ++q) nu = pany[j][q] ? fmaxf(nu, nuv[j][q]) : nu;
#pragma unroll
      for (int k = 0; k < kCompactRows; ++k) {
        if (keep[j][k] >> lane & 1u) {
          const int t = compact_token(pc[j], k, lane);
          srow[at + __popc(keep[j][k] & lt)] = cs[j].phys[k >> 1] * kPage + (t & (kPage - 1));
        }
        at += __popc(keep[j][k]);
      }
    }
    if constexpr (TL) {
      if (bt == 0 && lane == 0) tl[12 + warp] = global_ns_after(at);
    }
  }
  if constexpr (TL) {
    if (lane == 0) {
      tl[5 + warp] = global_ns_after(me[0] + nu);
      if (warp == 0) tl[11] = nb;
    }
  }
  if (SF && sft && threadIdx.x == 0) sft[2] = global_ns_after(__float_as_int(me[0] + nu));
}

// The block's M_E terms and ν (compact_walk's, per lane) into the KV head's M_E (float64 atomics) and ν_E (a
// max): float64 sums per warp, then per block. Every thread of the block (W warps); s_nu must be 0 before the
// call (set by any thread: the first barrier here makes it visible).
template <int G, int W>
__device__ __forceinline__ void compact_flush(const DecodeParams& p, const Workspace& w, int b, int g, const float (&me)[G],
                                              float nu, double (&s_me)[G][W], uint32_t& s_nu) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const double sm = warp_sum_d(double(me[h]));
    if (lane == 0) s_me[h][warp] = sm;
  }
  const float nuw = warp_max(nu);
  __syncthreads();
  if (lane == 0 && nuw > 0) atomicMax(&s_nu, __float_as_uint(nuw));
  __syncthreads();
  if (tid < G) {
    double sm = 0;
    for (int k = 0; k < W; ++k) sm += s_me[tid][k];
    if (sm > 0) atomicAdd(&w.me[int64_t(b) * p.n_head_q + g * G + tid], sm);
  }
  if (tid == 0 && s_nu) atomicMax(&w.nu_e[int64_t(b) * p.n_head_q + g * G], s_nu);
}

// *a = min(*a, v) for float v that is not NaN, *a starting at +inf (prep): a non-negative float orders as its bits
// do as signed ints, a negative one in reverse as unsigned ints, and every negative one's bits lie above every
// non-negative one's as unsigned, below as signed
__device__ __forceinline__ void atomic_min_float(float* a, float v) {
  if (v >= 0.0f) atomicMin(reinterpret_cast<int*>(a), __float_as_int(v));
  else atomicMax(reinterpret_cast<unsigned int*>(a), __float_as_uint(v));
}

// The split cut's compaction inside the scan (scan_kernel's SC, every thread of the block, after the barrier that
// follows its cut): the block compacts its own pages c + C·k against its own θ (compact_walk_batched's SF: the bounds
// its warps have just written, from L2), appends their survivors to the KV head's list (one atomic per batch), adds
// its M_E and ν_E (compact_flush), and lowers Workspace::theta of its G heads to its cut (atomic_min_float: prep set
// +inf; the certificate's θ is written from it in stage 2). No compact kernel runs after the scan then, and no block
// waits for another: the split cut leaves each block's decisions to its own histogram.
// sft: the timeline's columns 6-8 (compact_walk_batched's sft) or null.
template <int G, int SW, bool FORCED, int KB>
__device__ void scan_split_compact(const DecodeParams& p, const Workspace& w, int b, int g, int chunk, int split, long long* sft) {
  __shared__ double s_me[G][SW];
  __shared__ uint32_t s_nu;
  __shared__ int s_place[SW];
  const int tid = threadIdx.x, lane = tid & 31, bg = b * p.n_head_kv + g;
  if (tid == 0) s_nu = 0u;
  if (tid < G)
    atomic_min_float(&w.theta[int64_t(b) * p.n_head_q + g * G + tid],
                     __half2float(__ushort_as_half(__ldcg(&w.theta_blk[(int64_t(bg) * kSplitMaxChunks + chunk) * 4 + tid]))));
  float me[G], nu;
  compact_walk_batched<G, false, FORCED, SW, false, false, true, KB>(p, w, bg, b, g, lane, me, nu, s_place, nullptr, split, chunk, sft);
  compact_flush<G, SW>(p, w, b, g, me, nu, s_me, s_nu);  // its first barrier makes s_nu's zero visible
}

// KV head bg onto list 1 (attend's order, Workspace::ready): its survivor rows, count, M_E and ν_E are
// complete (thread 0, after a barrier of the block that finished them)
__device__ __forceinline__ void publish_compacted(const DecodeParams& p, const Workspace& w, int bg) {
  __threadfence();
  int32_t* list = w.ready + p.batch * p.n_head_kv + 1;
  st_release_gpu(&list[1 + atomicAdd(&list[0], 1)], bg + 1);
}

// from_list: block row y takes the y-th KV head whose cut is done (publish_cut), once it is, instead
// of waiting for the whole scan grid (griddepcontrol.wait); the scan's blocks are all resident before
// this grid launches (programmatic launch), so the wait cannot block them.
// compact's timeline (diagnostics: GHOSTKV_COMPACT_TL=1, the TL build): per block of the last launch, on the GPU's
// global timer (ns): its KV head, its start, the return of its wait (griddepcontrol.wait, or its list entry), warp 0's
// first segment's (batched: first batch's) bounds in, the first survivor-count atomic's return (warp 0's; batched: the
// block's first), each warp's walk end (4 columns), the end of the flush (thread 0, after its atomics were issued), the
// block's end (thread 0; from_list: after the done count and, in the KV head's last block, the publication), warp 0's
// segment (batched: batch) count, then batched each warp's first batch's end (4 columns). Blocks past the first
// kCompactTlMax record into an extra row, which is not read.
inline constexpr int kCompactTlMax = 4096, kCompactTlCols = 16;
__device__ long long g_compact_tl[kCompactTlMax + 1][kCompactTlCols];
__device__ int g_compact_tl_blocks;

// BT: the segments in batches (compact_walk_batched, GHOSTKV_COMPACT_BATCH, the default; 2 segments a batch: 64
// registers at 8 blocks per SM; a batch of 4 took 128 registers and 4 blocks per SM, and spilled at 64); otherwise
// compact_walk.
// SPLIT (BT, without anchors): the scan's split cut (DecodeParams::cut_split) with split blocks per KV head: each
// page's θ is its block's (compact_walk_batched's SPLIT), and warp 0 of each KV head's block 0 first writes the lowest
// of its heads' blocks' cuts into Workspace::theta and the certificate's θ (one round of loads and a warp reduction;
// e133b97-b088822 read the C rows one after the other at the block's end: stage 1 level either way, call156).
template <int G, bool BOX, bool FORCED, bool TL = false, bool BT = false, bool SPLIT = false>
__global__ void __launch_bounds__(kCompactThreads, 8) compact_kernel(DecodeParams p, Workspace w, int from_list, int split) {
  static_assert(!SPLIT || (BT && !BOX), "the split cut: batched walk, no anchors");
  constexpr int kWarps = kCompactThreads / 32;
  static_assert(!TL || 12 + kWarps <= kCompactTlCols, "the timeline's warp columns");
  const int tid = threadIdx.x, lane = tid & 31;
  __shared__ double s_me[G][kWarps];
  __shared__ uint32_t s_nu;
  __shared__ int s_bg;
  [[maybe_unused]] const int tl_blk = blockIdx.y * gridDim.x + blockIdx.x;
  [[maybe_unused]] long long* tl = TL ? g_compact_tl[min(tl_blk, kCompactTlMax)] : nullptr;
  if constexpr (TL) {
    if (tid == 0) {
      tl[1] = global_ns();
      if (tl_blk == 0) g_compact_tl_blocks = gridDim.x * gridDim.y;
    }
  }
  if (tid == 0) s_nu = 0u;
  int bg = blockIdx.y;
  if (from_list) {
    if (tid == 0) s_bg = wait_list(w.ready, blockIdx.y, gridDim.y);
    __syncthreads();
    bg = s_bg;
    if (bg < 0) __trap();
  } else {
    pdl_wait();
  }
  if constexpr (TL) {
    if (tid == 0) tl[0] = bg, tl[2] = global_ns();
  }
  pdl_launch_next();
  const int b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  if constexpr (SPLIT) {  // the KV head's block 0, warp 0: θ (and the certificate's) the lowest of the C blocks' cuts
    static_assert(kSplitMaxChunks <= 64, "two θ rows per lane");
    if (blockIdx.x == 0 && tid < 32) {  // lane ℓ: rows ℓ and ℓ + 32, both loads in flight at once (G halves a row)
      const uint2* rows = reinterpret_cast<const uint2*>(w.theta_blk + int64_t(bg) * kSplitMaxChunks * 4);
      const uint2 inf2 = make_uint2(0x7C007C00u, 0x7C007C00u);
      const uint2 r0 = lane < split ? __ldcg(rows + lane) : inf2, r1 = lane + 32 < split ? __ldcg(rows + lane + 32) : inf2;
      float th[4] = {fminf(__low2float(*reinterpret_cast<const __half2*>(&r0.x)), __low2float(*reinterpret_cast<const __half2*>(&r1.x))),
                     fminf(__high2float(*reinterpret_cast<const __half2*>(&r0.x)), __high2float(*reinterpret_cast<const __half2*>(&r1.x))),
                     fminf(__low2float(*reinterpret_cast<const __half2*>(&r0.y)), __low2float(*reinterpret_cast<const __half2*>(&r1.y))),
                     fminf(__high2float(*reinterpret_cast<const __half2*>(&r0.y)), __high2float(*reinterpret_cast<const __half2*>(&r1.y)))};
#pragma unroll
      for (int h = 0; h < 4; ++h)
        for (int o = 16; o > 0; o >>= 1) th[h] = fminf(th[h], __shfl_xor_sync(0xffffffffu, th[h], o));
      if (lane < G) {  // every edge and −inf are exact f16 values (cut_head's SPLIT)
        const int64_t bq = int64_t(b) * p.n_head_q + g * G + lane;
        const float t = lane == 0 ? th[0] : lane == 1 ? th[1] : lane == 2 ? th[2] : th[3];
        w.theta[bq] = t;
        if (p.cert) p.cert[bq].theta = t;
      }
    }
  }
  float me[G], nu;
  if constexpr (BT) {
    __shared__ int s_place[kWarps];
    compact_walk_batched<G, BOX, FORCED, kWarps, TL, SPLIT>(p, w, bg, b, g, lane, me, nu, s_place, tl, split);
  } else {
    compact_walk<G, BOX, FORCED, kWarps, false, false, TL>(p, w, bg, b, g, lane, nullptr, me, nu, nullptr, tl);
  }
  compact_flush<G, kWarps>(p, w, b, g, me, nu, s_me, s_nu);  // its first barrier makes s_nu's zero visible
  if constexpr (TL) {
    if (tid == 0) tl[9] = global_ns();
  }
  if (from_list) {  // the KV head's last compact block appends it to list 1 (attend's order)
    __syncthreads();
    if (tid == 0) {
      __threadfence();
      if (atomicAdd(&w.cdone[bg], 1) == int(gridDim.x) - 1) publish_compacted(p, w, bg);
    }
  }
  if constexpr (TL) {
    if (tid == 0) tl[10] = global_ns();
  }
}

// ---------------------------------------------------------------------------------------------
// lowrank_fused: the low-rank anchor stage and the low-rank scan in one kernel (stage1 launches it for the
// low-rank witness with anchors where the low-rank scan has one block per KV head: the local cut; GHOSTKV_LR_FUSED=0
// keeps the two kernels). Grid (1, B·Hkv) of kLrFusedWarps warps (below), a block per KV head. The block sets up the KV head's query factors once (the scan's, lowrank_setup, by warps
// 0..G−1, and the anchor stage's, lowrank_anchor_factors, by its last warp: the same arithmetic as the two
// kernels', so the bounds, the eliminated pages and the cut are bitwise theirs), bounds its share of the KV head's pages by their anchors (warp w of block x:
// the 32-page groups x·SW + w + k·X·SW, a lane per page, GP groups' page-table entries and records in flight;
// the arithmetic, the elimination and its pub, M_E and ν_E are lowrank_anchor_kernel's), counts the candidates
// of the pages it eliminates in its own histogram, appends the pages it lets through to the KV head's page list
// (compact's) and to its own list in shared memory with their physical pages, then streams that list spread
// over its warps as the low-rank scan does (kLrBufs pages ahead; no page-table or list load between a page and
// its copy), and cuts from its own histogram (finish_scan_local, without the global one). Against the two
// kernels: no wait for the whole anchor grid before the scan's first copy, one set-up of the query factors per
// block instead of one per warp-item and one per scan block, no global histogram atomics for the anchored
// candidates (their shared ones plain, without the anchor stage's __match_any_sync aggregation: cheaper there,
// round of e220e25), no list loads in the scan pass. CP (lowrank_fused_compact): the block then compacts its
// KV head itself (compact_walk over the KV head's page list in global memory, its warps; 2: forced survivors)
// and puts it on attend's list (list 1), and no compact kernel is launched: no launch, no wait for list 0, no
// publish of the cut (list 0 is not written). Where a KV head has several scan blocks (1 × 128K) the two kernels stay: there the
// fused kernel with the global cut (a block per range of 32-page groups) made stage 1 20% slower (round of
// c8f6095: most warps had no group to bound, and the blocks' lists were short).
constexpr int kLrFusedGroups = 2;  // 32-page groups per warp in flight in the anchor pass (at 8 warps; 1 at more)
// The fused block's warps: 12 (80 registers, 2 page buffers per warp, one 32-page group in flight per warp in the anchor
// pass; 24 warps per SM), the build GHOSTKV_LR_FUSED_WARPS=8 (G 4, d 128) keeps for A/B runs: 8 (120 registers, 4 page
// buffers, two groups in flight; 16 warps per SM). On the H200 (call107) the 12-warp block took 4-6 µs off stage 1 at
// 32 × 32K with anchors (5%: 66.9-67.3 → 61.0-61.5 µs); at 16 warps (64 registers, 40-64 B of spills) it was slower.
constexpr int kLrFusedWarps = 12;
__host__ __device__ constexpr int lowrank_fused_list_cap(int max_seq, int fw = kLrFusedWarps) {  // list entries of the block (its KV head's pages)
  const int groups = ((max_seq + kPage - 1) / kPage + 31) / 32;
  return (groups + fw - 1) / fw * fw * 32;
}
template <int G>
constexpr int lowrank_fused_smem(int list_cap, int fw = kLrFusedWarps) {
  return fw * lr_bufs(fw) * kLrPageBytes + G * kHistAll * 4 + list_cap * int(sizeof(int2));
}
// DBG (diagnostics only, GHOSTKV_LR_DEBUG, G 4 / d 128, forced survivors: the bounds are then wrong, the pages and
// survivors the hash keeps are not): bit 1 takes the query factors as zeros instead of setting them up, 2 skips the
// compaction's segment walk (no survivor), 4 the scan pass's bounds (their arithmetic, stores and histogram).
template <int G, int D, int CP = 0, int DBG = 0, int FW = kLrFusedWarps>  // CP: 0 compact kernel after it; 1 compacts itself (policy), 2 (forced survivors)
__global__ void __launch_bounds__(FW * 32, 2) lowrank_fused_kernel(DecodeParams p, Workspace w, Consts c) {
  constexpr int SW = FW, NB = lr_bufs(FW), PBY = kLrPageBytes, GP = FW > 8 ? 1 : kLrFusedGroups, RW = kLrBoxHalfs / 8;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[SW][NB];
  __shared__ __align__(16) float s_q[G][kRank];
  __shared__ float s_a1[G], s_add[G], s_ns[G], s_np[G], s_ml[G];  // the scan's (lowrank_setup)
  __shared__ float s_qa[G][kRank], s_da[G][kRank], s_nsa[G], s_npa[G], s_adda[G], s_mla[G], s_th[G];  // the anchor's
  __shared__ int s_n;
  __shared__ uint32_t s_nu;  // CP: compact_flush's ν max
  __shared__ int s_cnt;      // CP: the KV head's survivor count
  uint32_t* hist = reinterpret_cast<uint32_t*>(smem + SW * NB * PBY);  // [G·kHistAll]
  int2* s_list = reinterpret_cast<int2*>(hist + G * kHistAll);         // (page, physical page) let through
  static_assert((SW * NB * PBY + G * kHistAll * 4) % 8 == 0, "the list's int2 alignment");
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  scan_block_init<SW, NB>(bars, hist, G * kHistAll, tid, lane, warp);
  if (tid == 0) { s_n = 0; s_nu = 0u; s_cnt = 0; }
  const int n = p.seq_len[b], npages = (n + kPage - 1) / kPage;
  const int MP = (p.max_seq + kPage - 1) / kPage, NG = (MP + 31) / 32;
  const int gw = blockIdx.x * SW + warp, nw = gridDim.x * SW;
  const int hot_lo = min(p.n_sink, n), hot_hi = max(n - p.n_recent, hot_lo);
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const bool forced = p.forced_keep >= 0;
  const uint32_t page_thr = uint32_t(fminf(fmaxf(p.forced_page_keep, 0.0f), 1.0f) * 4294967295.0f);
  // the anchor pass: GP groups' pages per lane, their page-table entries and records (inputs: the first
  // pass's are requested before the wait for prep)
  int pg[GP], phys[GP];
  uint4 rec[GP][RW];
  auto load = [&](int k0) {
#pragma unroll
    for (int k = 0; k < GP; ++k) {
      pg[k] = (gw + (k0 + k) * nw) * 32 + lane;  // past MP where the group is past NG: never valid
      phys[k] = gw + (k0 + k) * nw < NG && pg[k] < npages ? __ldg(&ptab[pg[k]]) : -1;
    }
#pragma unroll
    for (int k = 0; k < GP; ++k)
      if (phys[k] >= 0) {
        const uint4* src = reinterpret_cast<const uint4*>(p.box + (int64_t(phys[k]) * p.n_head_kv + g) * (kLrBoxHalfs * 2));
#pragma unroll
        for (int i = 0; i < RW; ++i) rec[k][i] = __ldg(&src[i]);
      }
  };
  load(0);
  pdl_wait();
  if constexpr ((DBG & 1) != 0) {
    if (tid < G * kRank) s_q[tid / kRank][tid % kRank] = s_qa[tid / kRank][tid % kRank] = s_da[tid / kRank][tid % kRank] = 0.0f;
    if (tid < G) s_a1[tid] = s_add[tid] = s_ns[tid] = s_np[tid] = s_ml[tid] = s_nsa[tid] = s_npa[tid] = s_adda[tid] = s_mla[tid] = s_th[tid] = 0.0f;
  } else {
    lowrank_setup<G, D>(p, w, c, b, g, s_q, s_a1, s_add, s_ns, s_np, s_ml);  // warps 0..G−1
    if (warp == SW - 1) lowrank_anchor_factors<G, D>(p, w, c, b, g, lane, s_qa, s_da, s_nsa, s_npa, s_adda, s_mla, s_th);
  }
  __syncthreads();  // the factors, the zeroed histogram, s_n, the mbarriers
  float me[G], nuv = 0.0f;
#pragma unroll
  for (int h = 0; h < G; ++h) me[h] = 0.0f;
  for (int k0 = 0; gw + k0 * nw < NG; k0 += GP) {
    if (k0) load(k0);
#pragma unroll
    for (int k = 0; k < GP; ++k) {
      const int t0 = pg[k] * kPage, t1 = min(n, t0 + kPage);
      bool skip = false;
      float dv[G];
      if (phys[k] >= 0 && t0 >= hot_lo && t1 <= hot_hi) {  // no hot token in the page, its record read
        const bool all_below = lowrank_anchor_bound<G>(rec[k], s_qa, s_da, s_nsa, s_npa, s_adda, s_mla, s_th, dv);
        skip = forced ? p.forced_page_keep >= 0 && !(hash3(p.forced_seed ^ 0x5bd1e995u, uint32_t(bg), uint32_t(pg[k])) <= page_thr)
                      : all_below;
      }
      const bool valid = phys[k] >= 0;
      lowrank_anchor_tail<G, false>(p, w, bg, g, MP, lane, pg[k], phys[k], n, valid, skip, dv, hist, me, nuv);
      const uint32_t keep = __ballot_sync(0xffffffffu, valid && !skip);  // pages the scan reads
      if (keep) {
        int at = 0, sat = 0;
        if (lane == 0) {
          at = atomicAdd(&w.n_plist[bg], __popc(keep));
          sat = atomicAdd(&s_n, __popc(keep));
        }
        at = __shfl_sync(0xffffffffu, at, 0);
        sat = __shfl_sync(0xffffffffu, sat, 0);
        if (keep >> lane & 1u) {
          const int r = __popc(keep & ((1u << lane) - 1u));
          w.plist[int64_t(bg) * MP + at + r] = pg[k];
          s_list[sat + r] = make_int2(pg[k], phys[k]);
        }
      }
    }
  }
  lowrank_anchor_flush<G>(p, w, b, g, lane, me, nuv);
  __syncthreads();  // the block's list is complete
  const int nl = s_n;
  // the scan pass: warp w takes the block's list entries w, w + SW, ..
  const uint64_t pol = c.l2_first ? l2_evict_first() : l2_evict_normal();
  uint8_t* mybuf = smem + warp * NB * PBY;
  auto issue = [&](int i, int buf) {  // lane 0
    if (i < nl) {
      const int64_t po = int64_t(s_list[i].y) * p.n_head_kv + g;
      uint8_t* dst = mybuf + buf * PBY;
      mbar_expect_tx(&bars[warp][buf], PBY);
      bulk_g2s_hint(dst, p.sketch + po * kPage * kRank, kLrSketchBytes, &bars[warp][buf], pol);
      bulk_g2s_hint(dst + kLrSketchBytes, p.sk_err + po * kPage, kPage * 2, &bars[warp][buf], pol);
      bulk_g2s_hint(dst + kLrSketchBytes + kPage * 2, p.sk_rho + po * kPage, kPage * 2, &bars[warp][buf], pol);
    }
  };
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < NB; ++k) issue(warp + k * SW, k);
  }
  int it = 0;
  for (int i = warp; i < nl; i += SW, ++it) {
    const int buf = it % NB, pgi = s_list[i].x;
    mbar_wait(&bars[warp][buf], uint32_t((it / NB) & 1));
    uint32_t zw[2][8];
    uint16_t eb[2], rb[2];
    lowrank_read_page(mybuf + buf * PBY, lane, zw, eb, rb);
    __syncwarp();  // every lane holds its records: the buffer takes the page NB ahead
    if (lane == 0) issue(i + NB * SW, buf);
    if (i + SW >= nl) pdl_launch_next();
    if constexpr ((DBG & 4) == 0) lowrank_bound_store<G>(p, w, hist, bg, pgi, n, lane, zw, eb, rb, s_q, s_a1, s_add, s_ns, s_np, s_ml);
  }
  if constexpr (CP == 0) {
    finish_scan_local<G, true, false>(p, w, hist, b, g);
  } else {
    // the bounds, the page list and θ (this block's stores and atomics) are read back by compact_walk after the
    // barriers below, which order them whatever the loads' cache operator (.cg/.cs are hints in the PTX model).
    // Until a274ee7 every thread also ran __threadfence() before and after the cut (under ncu 0.8% of the
    // kernel's stall samples: experiments/ncu_lowrank_fused_kernel_bc9f553_stalls.txt); they ordered nothing the
    // barriers do not.
    finish_scan_local<G, true, false, false>(p, w, hist, b, g);
    __syncthreads();  // θ of the G heads
    __shared__ double s_me[G][SW];
    float me2[G], nu2 = 0.0f;
    if constexpr ((DBG & 2) != 0) {
#pragma unroll
      for (int h = 0; h < G; ++h) me2[h] = 0.0f;
    } else {
      // SL: the walk takes the block's pages from its own list in shared memory
      compact_walk<G, true, CP == 2, SW, true, true>(p, w, bg, b, g, lane, &s_cnt, me2, nu2, s_list);
    }
    compact_flush<G, SW>(p, w, b, g, me2, nu2, s_me, s_nu);  // s_cnt is final after its first barrier
    __syncthreads();  // M_E's and ν_E's atomics (threads 0..G−1) before the publish
    if (tid == 0) {
      w.n_surv[bg] = s_cnt;
      publish_compacted(p, w, bg);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// attend: split-K flash decoding, grid (splits, B·Hkv), 128 threads (the survivors' one-split build: 192, tiles
// of 48 tokens, 24 lane groups; attend_warps). Tiles of kTile tokens (K and V
// rows) stream into shared memory kStages deep, completing on one mbarrier per stage: a dense tile is
// two bulk copies (K rows, V rows: a tile never crosses a page); a survivor tile is gathered by
// 16-byte cp.asyncs of every thread, addressed by the survivor rows of compact (loaded one tile
// ahead), each thread's copies arriving on the stage's mbarrier. NT/8 lane groups of 8 attend two tokens of the tile each, for
// all G heads of the KV head; a lane holds the components {8·sub..8·sub+7} (+64 for d 128).
// Partial state per (head, split): m, l = Σ e^{s−m}, o = Σ e^{s−m} v, in log2 units; the running
// max is raised only when a score exceeds it by more than 8 (weights ≤ 2^8, exact identity).
// from_list (survivors only): block row y takes the y-th KV head of list 1 (every compact block of it done, or
// the fused low-rank block that compacted it) instead of waiting for the whole previous grid.
// FIN (one split per KV head: the 32 × 32K steps at 1-5%): the block's combined state is the merged one,
// so it writes the output (merge_kernel's identity at S = 1, bitwise its result) and, where p.cert is given, each
// head's certificate (ghost path: write_certificate; dense: write_dense_certificate, as merge would); no merge kernel
// is launched.
constexpr int kTile = 32, kStages = 4;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLazy = 8.0f;

// The certificate of query head bq (ghost path) from its merged state: M (log2 units) and L of the
// exact merge identity over S splits, onorm ≥ ||ô|| (float32, rounded up). merge_kernel's thread 0, or
// attend's warp h when the step has one split (attend_kernel's FIN).
// groups: the lane groups whose states the block combined (attend's NT/8; 16 for the merged splits' blocks).
// The certificate's inputs of query head bq, loaded apart from its arithmetic so that merge can issue
// these loads with its others, before its first reduction.
struct CertIn {
  int count;
  float eps, m_l, nu_e, theta;
  double zl, me;
  uint32_t flags;
};
__device__ __forceinline__ CertIn load_cert_inputs(const DecodeParams& p, const Workspace& w, int bq) {
  const int b = bq / p.n_head_q, hq = bq % p.n_head_q, G = p.n_head_q / p.n_head_kv;
  CertIn ci;
  ci.count = w.n_surv[b * p.n_head_kv + hq / G];
  ci.eps = w.qscal[int64_t(bq) * 4 + 3];
  ci.m_l = w.qscal[int64_t(bq) * 4 + 2];
  ci.zl = w.zl[bq];
  ci.me = w.me[bq];
  ci.nu_e = __uint_as_float(w.nu_e[bq - hq % G]);  // stored at the group's first head
  ci.flags = w.flags[bq];
  ci.theta = w.theta[bq];
  return ci;
}
__device__ __forceinline__ void write_certificate(const DecodeParams& p, const CertIn& ci, int bq, float M, float L,
                                                  float onorm, int S, int groups = 16) {
  const int count = ci.count;
  const double eps = double(ci.eps);
  const double m_l = double(ci.m_l);
  // l: ≤ K roundings per term (γ_K) — the per-split sums, the lazy rescales (≤ one per tile), the
  // combines (the block's groups, the splits); tiles counted at kTile (a larger tile has fewer, so the count
  // bounds them); ≤ n_ex2 ex2.approx factors of relative error ≤ 1e-5 each (2 ulp: ≤ 2.5·2^-23, plus ln2·|arg|·2^-24
  // from the argument's rounding with |arg| ≤ 126 before results flush to 0, which only lowers l);
  // scores in log2 units with error ≤ ε·log2(e)·1.01 (the extra rounding of σq·log2e)
  const int per = (count + S - 1) / S, tiles = (per + kTile - 1) / kTile + 1;  // cert_split_tiles(count, S, kTile) + 1
  const double K = 4.0 * (per + double(groups) + tiles) + 4.0 * S + 300.0;
  const double gK = K * 0x1p-24 / (1.0 - K * 0x1p-24);
  const double n_ex2 = tiles + 4.0;
  double z = double(L) * exp(-eps * 1.01) / (1.0 + gK) * pow(1.0 - 1e-5, n_ex2) *
             exp(double(M) * 0.69314718055994531 - m_l) * (1.0 - 1e-9);
  if (!(z > ci.zl)) z = ci.zl;
  // M_E: compact's per-lane float32 sums (rounded up) of ex2_up ≥ e^{UB − m_L}·(1 − 2.5·2^-23), summed
  // in float64 (≤ 1e-10 relative): the factor 1 + 2^-18 covers both with a margin
  const double me = ci.me * (1.0 + 0x1p-18);
  double mass = me == 0.0 ? 0.0 : me / (z + me) * (1.0 + 1e-12);
  if (!(mass <= 1.0)) mass = 1.0;  // M_E = +inf (a float32 sum past 3.4e38) or NaN, or rounding past 1: the mass is ≤ 1
  const float nu_e = ci.nu_e;
  Certificate& c = p.cert[bq];
  // a non-finite query or hot score (prep), or an output norm that is NaN or +inf (a non-finite value
  // row was attended, or the values are large enough to overflow float32): nothing is certified
  const uint32_t flags = ci.flags | (onorm <= FLT_MAX ? 0u : kCertNonFiniteOutput);
  c.flags = flags;
  c.theta = ci.theta;  // the cut's (every cut writes Workspace::theta; the split cut its blocks' lowest)
  c.mass_bound = flags ? 1.0 : mass;
  c.out_err_bound = flags ? double(INFINITY) : mass * (double(nu_e) + double(onorm) * (1.0 + 1e-3)) * (1.0 + 1e-12);
  c.m_E = me;
  c.z_low = z;
  c.nu_e = nu_e;
  c.n_attended = count;
}

// The exact certificate of a dense step (dense_decode with p.cert): nothing eliminated, mass and output bounds 0, every
// token attended; a non-finite scaled query component (bad_q) or output norm (onorm, rounded up) flags the head.
__device__ __forceinline__ void write_dense_certificate(const DecodeParams& p, int64_t bq, float onorm, bool bad_q) {
  const uint32_t flags = (bad_q ? kCertNonFiniteQuery : 0u) | (onorm <= FLT_MAX ? 0u : kCertNonFiniteOutput);
  Certificate c;
  c.flags = flags;
  c.mass_bound = flags ? 1.0 : 0.0;
  c.out_err_bound = flags ? double(INFINITY) : 0.0;
  c.m_E = 0.0;
  c.z_low = 0.0;  // not computed by the dense path (0 is a lower bound)
  c.budget = 0.0;
  c.m_l = 0.0f;
  c.theta = -INFINITY;  // nothing is eliminated
  c.nu_e = 0.0f;
  c.n_attended = p.seq_len[bq / p.n_head_q];
  c.reserved = 0u;
  p.cert[bq] = c;
}

// ex2_approx (above): results below 2^-126 flush to 0, which only ever lowers the sums the
// certificate uses as lower bounds.
template <int D, int NT = kAttThreads>
constexpr int attend_smem_bytes() { return kStages * 2 * (NT / 4) * D * 2; }

// Balanced splits (decode.h): every lane of the calling warp takes part; lane h < H holds KV head h's survivor count
// n (0 past H). Returns whether the step takes them (the same in every lane, every warp and both kernels: the same
// counts, the same integer arithmetic), and lane h's S_h and first flat block (base).
struct BalanceLane {
  bool on;
  int s_h, base;
};
__device__ __forceinline__ BalanceLane balance_lane(int n, int H, int S, int tile) {
  const int lane = threadIdx.x & 31;
  const bool mine = lane < H;
  long long tot = mine ? n : 0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) tot += __shfl_xor_sync(0xffffffffu, tot, o);
  const int T = S * H, sh = mine ? balanced_split(n, tot, H, T, balance_cap(S)) : 0;
  int mx_n = mine ? n : 0, mx_t = mine ? split_max_tiles(n, tile, sh) : 0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    mx_n = max(mx_n, __shfl_xor_sync(0xffffffffu, mx_n, o));
    mx_t = max(mx_t, __shfl_xor_sync(0xffffffffu, mx_t, o));
  }
  int incl = sh;  // inclusive prefix sum of S_h over the lanes
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  return {tot > 0 && balance_pays(split_max_tiles(mx_n, tile, S), mx_t), sh, incl - sh};
}

// NT: threads per block (NT/8 lane groups, tiles of NT/4 tokens); 128, or 192 for the survivors' one-split
// build (attend_warps: 6 warps, 2 blocks per SM at 168 registers)
// BAL (survivors, S > 1 splits, not from a list: DecodeParams::balance and balance_allowed): the build that may deal the
// grid's blocks to the KV heads by their counts (balanced splits, decode.h), deciding from every KV head's count on
// the device. It costs the plain build's step more (the counts' loads and decision, a barrier, its split read from
// shared memory at each use), so the grid's own split keeps the plain build.
template <int G, int D, bool DENSE, bool FIN = false, int NT = kAttThreads, bool BAL = false>
__global__ void __launch_bounds__(NT, NT == kAttThreads ? 3 : 2) attend_kernel(DecodeParams p, Workspace w, int from_list) {
  constexpr int kTile = NT / 4, NG = NT / 8, kAttThreads = NT;  // this build's tile and lane groups
  static_assert(!BAL || (!DENSE && !FIN && kTile == kAttendTileRows), "decode.h's balanced splits count this build's tiles");
  static_assert(!DENSE || NT == 128, "a dense tile stays in one page: 32 tokens");
  static_assert(NT == 128 || FIN, "merge's certificate counts 16 lane groups: other block sizes finish the heads themselves");
  constexpr int RB = D * 2, TB = kTile * RB, CPL = D / 8, NV = CPL / 8;  // NV uint4 per lane per row
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[kStages];
  int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int tid = threadIdx.x, grp = tid >> 3, sub = tid & 7, warp = tid >> 5;
  if (tid == 0) {
    // dense: one arrival (expect_tx) per phase (survivors: no mbarrier, each lane waits for its own copies)
    for (int s = 0; s < kStages; ++s) mbar_init(&bars[s], 1);
    mbar_init_fence();
  }
  __syncthreads();
  if (!DENSE && from_list) {  // block row y: the y-th KV head of list 1 (compacted)
    __shared__ int s_bg;
    if (tid == 0) s_bg = wait_list(w.ready + p.batch * p.n_head_kv + 1, blockIdx.y, gridDim.y);
    __syncthreads();
    bg = s_bg;
    if (bg < 0) {
      if constexpr (FIN) __trap();  // no merge follows to trap: no output stands
      return;  // merge traps (its list check)
    }
    b = bg / p.n_head_kv;
    g = bg % p.n_head_kv;
  } else {
    pdl_wait();
  }
  // BAL: every KV head's count, loaded beside this block's own inputs below (its grid KV head's), decides whether the
  // grid's blocks are dealt to the KV heads by their counts (decode.h, balanced splits)
  [[maybe_unused]] const int bal_n = BAL && (tid & 31) < p.batch * p.n_head_kv ? w.n_surv[tid & 31] : 0;
  const int n = p.seq_len[b];
  int count = DENSE ? n : w.n_surv[bg];
  // dense: block x takes the contiguous tiles of rows [i0, i1) (aligned to kTile: a dense tile stays in one page);
  // survivors: block x takes the list's tiles x, x + S, x + 2S, … (S = gridDim.x), so the first tile's rows
  // x·kTile.. do not depend on the count and their ids are loaded beside it (row_of). prep zeroes the list's first
  // S·kListZeroRows entries, so an id read there past the count is initialised; it is never used.
  int per = (count + gridDim.x - 1) / gridDim.x;
  per = (per + kTile - 1) / kTile * kTile;
  const int i0 = min(count, int(blockIdx.x) * per), i1 = min(count, i0 + per);
  int S = gridDim.x, xb = blockIdx.x;
  // BAL: the first tile's row ids under the grid's own split (read whatever the count, in prep's zeroed entries: in
  // flight with the counts' loads; the plain build reads them in its first load_rows, beside the count's load)
  [[maybe_unused]] int spec[2] = {-1, -1};
  if constexpr (BAL) {
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int ii = attend_split_row0(0, kTile, xb, S) + grp + NG * u;
      spec[u] = ii < p.max_seq ? w.srow[int64_t(bg) * p.max_seq + ii] : -1;
    }
  }
  // σq·log2(e) in registers (scores in log2 units: one ex2 per weight)
  float qv[G][CPL];
  auto load_q = [&] {
#pragma unroll
    for (int h = 0; h < G; ++h)
#pragma unroll
      for (int k8 = 0; k8 < CPL / 8; ++k8) {  // components k8·64 + sub·8 .. + 7: survivors by two 16-byte loads
        const int64_t qi = (int64_t(b) * p.n_head_q + g * G + h) * D + k8 * 64 + sub * 8;
        float x[8];
        if constexpr (DENSE) {
#pragma unroll
          for (int e = 0; e < 8; ++e) x[e] = __fmul_rn(p.q[qi + e], p.scale);  // the caller's q: no alignment promised
        } else {
          const float4 a = *reinterpret_cast<const float4*>(w.qsig + qi), c = *reinterpret_cast<const float4*>(w.qsig + qi + 4);
          x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w; x[4] = c.x; x[5] = c.y; x[6] = c.z; x[7] = c.w;
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) qv[h][k8 * 8 + e] = __fmul_rn(x[e], kLog2e);
      }
  };
  load_q();
  [[maybe_unused]] bool remapped = false;  // balanced: this block's KV head, split and split count come from the counts
  if constexpr (BAL) {
    {
      const BalanceLane bl = balance_lane(bal_n, p.batch * p.n_head_kv, S, kTile);
      if (bl.on) {
        const int flat = int(blockIdx.y) * S + int(blockIdx.x);
        const uint32_t hit = __ballot_sync(0xffffffffu, bl.s_h > 0 && flat >= bl.base && flat < bl.base + bl.s_h);
        if (hit == 0u) return;  // an idle block (Σ S_h < T): the same in every warp
        const int hl = __ffs(hit) - 1;
        bg = hl;
        b = bg / p.n_head_kv;
        g = bg % p.n_head_kv;
        S = __shfl_sync(0xffffffffu, bl.s_h, hl);
        xb = flat - __shfl_sync(0xffffffffu, bl.base, hl);
        count = __shfl_sync(0xffffffffu, bal_n, hl);
        remapped = true;
        load_q();
      }
    }
  }
  // BAL: the split (x, S) and whether it was remapped, in shared memory and read there at each use (volatile), so
  // that they hold no registers through the tile loop (the plain build reads blockIdx.x and gridDim.x; in registers
  // the BAL build spilled 44 B at G 4, d 128, and its stage 2 took 2.8-4.9 µs more than the plain build's at 1 × 128K
  // where the counts are even, against 2.1-3.8 µs without the spills: docs/gpu.md)
  [[maybe_unused]] __shared__ int s_split[3];
  if constexpr (BAL) {
    if (tid == 0) { s_split[0] = xb; s_split[1] = S; s_split[2] = remapped; }
    __syncthreads();
  }
  auto row0 = [&](int tile) {  // its first row
    if constexpr (BAL) {
      const volatile int* vs = s_split;
      return attend_split_row0(tile, kTile, vs[0], vs[1]);
    }
    return DENSE ? i0 + tile * kTile : attend_split_row0(tile, kTile, xb, S);
  };
  const int row_end = DENSE ? i1 : count;
  const int32_t* rows = w.srow + int64_t(bg) * p.max_seq;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const int n_tiles = DENSE ? (i1 - i0 + kTile - 1) / kTile : attend_split_tiles(count, kTile, xb, S);
  // dense: warp 0 issues two bulk copies per tile (K rows, V rows of one page);
  // survivors: lane sub of a group copies the chunks sub + 8·v (v < NV) of the K and V rows of the group's two
  // tokens, the chunks it reads below; a row r = phys·kPage + slot of KV head g starts
  // ((phys·Hkv + g)·kPage + slot)·D elements into the cache, so a chunk's byte address is
  // base_g + phys·page_bytes + slot·RB + (sub + 8·v)·16: a shift, a mask and a wide multiply-add per row
  constexpr int CH = 1;
  static_assert((kPage & (kPage - 1)) == 0 && RB == NV * 128, "rows of NV 128-byte halves, 8 lanes each");
  [[maybe_unused]] const uint64_t kbase =
      reinterpret_cast<uint64_t>(p.k_cache + int64_t(g) * kPage * D) + uint64_t(sub) * 16;
  [[maybe_unused]] const uint64_t vbase =
      reinterpret_cast<uint64_t>(p.v_cache + int64_t(g) * kPage * D) + uint64_t(sub) * 16;
  [[maybe_unused]] const uint32_t page_bytes = uint32_t(p.n_head_kv) * uint32_t(kPage * RB);  // one physical page, every KV head
  int rnext[CH];  // dense: rnext[0] = row of the tile's first token (warp 0)
  // survivors (a warp pipeline of its own: each lane copies exactly the 16-byte chunks it reads, those of its
  // group's two tokens grp and grp + NG, so a lane waits only for its own cp.async groups and no barrier joins
  // the warps between tiles): the rows of the tiles two and one ahead of the next issue
  [[maybe_unused]] int ra[2] = {0, 0}, rb[2] = {0, 0};
  auto row_of = [&](int tile, int u) {
    const int ii = row0(tile) + grp + NG * u;
    const bool in = tile < n_tiles && ii < row_end;
    if constexpr (BAL) {
      if (tile == 0 && !reinterpret_cast<const volatile int*>(s_split)[2]) return in ? spec[u] : -1;  // loaded above (ii)
    } else if (tile == 0) {  // read whatever the count (in prep's zeroed entries): in flight with the count's load
      const int v = ii < p.max_seq ? rows[ii] : -1;
      return in ? v : -1;
    }
    return in ? rows[ii] : -1;
  };
  auto load_rows = [&](int tile) {
    if constexpr (DENSE) {
      const int t = i0 + tile * kTile;
      rnext[0] = tile < n_tiles ? ptab[t / kPage] * kPage + t % kPage : 0;
    } else {
      ra[0] = rb[0]; ra[1] = rb[1];
      rb[0] = row_of(tile, 0); rb[1] = row_of(tile, 1);
    }
  };
  auto issue = [&](int tile) {
    if (tile >= n_tiles) return;
    const int nv = min(kTile, row_end - row0(tile));
    uint8_t* ks = smem + (tile % kStages) * 2 * TB;
    uint8_t* vs = ks + TB;
    [[maybe_unused]] uint64_t* bar = &bars[tile % kStages];
    if constexpr (DENSE) {
      if (tid == 0) {
        mbar_expect_tx(bar, uint32_t(2 * nv * RB));
        const int64_t off = kv_row_off<D>(p, g, rnext[0]);
        bulk_g2s(ks, p.k_cache + off, uint32_t(nv * RB), bar);
        bulk_g2s(vs, p.v_cache + off, uint32_t(nv * RB), bar);
      }
    } else {
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int tk = grp + NG * u;
        const bool ok = tk < nv;  // ra[u] is −1 past the block's range, never read then
        const uint32_t r = ok ? uint32_t(ra[u]) : 0u;
        const uint64_t off = uint64_t(r / kPage) * page_bytes + (r % kPage) * uint32_t(RB);
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          cp_async16(ks + tk * RB + v * 128 + sub * 16, reinterpret_cast<const void*>(kbase + off + v * 128), ok);
          cp_async16(vs + tk * RB + v * 128 + sub * 16, reinterpret_cast<const void*>(vbase + off + v * 128), ok);
        }
      }
    }
  };
  if constexpr (DENSE) {
    if (warp == 0) {
      for (int s = 0; s < kStages - 1; ++s) {
        load_rows(s);
        issue(s);
      }
      load_rows(kStages - 1);
    }
  } else {
    load_rows(0);
    for (int s = 0; s < kStages - 1; ++s) {
      load_rows(s + 1);  // ra: tile s, rb: tile s + 1
      issue(s);
      cp_async_commit();
    }
    load_rows(kStages);  // ra: tile kStages − 1, rb: tile kStages
  }
  float m[G], l[G], o[G][CPL];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    m[h] = -INFINITY; l[h] = 0.0f;
#pragma unroll
    for (int k = 0; k < CPL; ++k) o[h][k] = 0.0f;
  }
  for (int it = 0; it < n_tiles; ++it) {
    if constexpr (DENSE) {
      if (warp == 0) {
        issue(it + kStages - 1);
        load_rows(it + kStages);  // consumed next iteration: the loads' latency hides behind this tile
      }
      mbar_wait(&bars[it % kStages], uint32_t((it / kStages) & 1));
    } else {
      issue(it + kStages - 1);  // ra's rows (loaded two iterations ago)
      cp_async_commit();        // an empty group past the last tile keeps the count
      load_rows(it + kStages + 1);
      cp_async_wait<kStages - 1>();  // this lane's copies of tile it
    }
    const uint8_t* ks = smem + (it % kStages) * 2 * TB;
    const uint8_t* vs = ks + TB;
    float sc[2][G];
    bool ok[2];
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int tk = grp + NG * u;
      ok[u] = row0(it) + tk < row_end;  // uniform within a group of 8 lanes
      float kf[CPL];
#pragma unroll
      for (int v = 0; v < NV; ++v) bf16x8(*reinterpret_cast<const uint4*>(ks + tk * RB + v * 128 + sub * 16), kf + 8 * v);
#pragma unroll
      for (int h = 0; h < G; ++h) {
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < CPL; ++k) s = __fmaf_rn(qv[h][k], kf[k], s);
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 1));
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 2));
        s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, 4));
        sc[u][h] = ok[u] ? s : -INFINITY;
      }
    }
    if (ok[0]) {  // ok[1] implies ok[0]
      float p0[G], p1[G];
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float mx = fmaxf(sc[0][h], sc[1][h]);
        if (mx > m[h] + kLazy) {  // raise the reference (rare after the first tiles)
          const float corr = ex2_approx(m[h] - mx);
          l[h] = __fmul_rn(l[h], corr);
#pragma unroll
          for (int k = 0; k < CPL; ++k) o[h][k] = __fmul_rn(o[h][k], corr);
          m[h] = mx;
        }
        p0[h] = ex2_approx(sc[0][h] - m[h]);
        p1[h] = ex2_approx(sc[1][h] - m[h]);  // 0 when the second token is past the end
        l[h] = __fadd_rn(__fadd_rn(l[h], p0[h]), p1[h]);
      }
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        if (u == 1 && !ok[1]) break;  // past the block's last row (not copied: dense; zero-filled: survivors)
        float vf[CPL];
#pragma unroll
        for (int v = 0; v < NV; ++v)
          bf16x8(*reinterpret_cast<const uint4*>(vs + (grp + NG * u) * RB + v * 128 + sub * 16), vf + 8 * v);
#pragma unroll
        for (int h = 0; h < G; ++h) {
          const float pw = u ? p1[h] : p0[h];
#pragma unroll
          for (int k = 0; k < CPL; ++k) o[h][k] = __fmaf_rn(pw, vf[k], o[h][k]);
        }
      }
    }
    if constexpr (DENSE) __syncthreads();  // stage it % kStages is free: the next iteration refills it
    // survivors: a lane refills only chunks it has read itself (program order)
  }
  if constexpr (!DENSE) {
    cp_async_wait<0>();
    __syncthreads();  // every warp is done with the tiles: the combine below reuses their bytes
  }
  pdl_launch_next();
  // combine the NG groups of the block (the tile buffers are free now: every copy has completed)
  float* s_m = reinterpret_cast<float*>(smem);   // [NG][G]
  float* s_l = s_m + NG * G;                      // [NG][G]
  float* s_o = s_l + NG * G;                      // [NG][G][D]
  [[maybe_unused]] float* s_sq = s_o + NG * G * D;  // FIN: [G][D] out² (rounded up)
  [[maybe_unused]] float* s_fm = s_sq + G * D;      // FIN: [G] M, then [G] L
  [[maybe_unused]] float* s_fl = s_fm + G;
  float2* s_lf = reinterpret_cast<float2*>(s_fl + G);  // [NG][G] each group's l and scale factor (an even float offset)
  float* s_gM = reinterpret_cast<float*>(s_lf + NG * G);         // [G] each head's M
  static_assert((NG * G * (D + 4) + G * D + 3 * G) * 4 <= kStages * 2 * kTile * D * 2,
                "the combine's shared memory fits in the tile buffers");
#pragma unroll
  for (int h = 0; h < G; ++h) {
    if (sub == 0) { s_m[grp * G + h] = m[h]; s_l[grp * G + h] = l[h]; }
#pragma unroll
    for (int k = 0; k < CPL; ++k) s_o[(grp * G + h) * D + (k / 8) * 64 + sub * 8 + (k % 8)] = o[h][k];
  }
  __syncthreads();
  // each group's scale factor 2^(m_r − M) once per (group, head), by a thread each (before: once per output
  // component; with the partials' stores 31% of the warp instructions at 1 × 128K, 5%, 49 splits, under ncu: docs/gpu.md;
  // the same values and sums in the same order, so the same bits)
  if (tid < NG * G) {
    const int r = tid / G, h = tid % G;
    float M = -INFINITY;
#pragma unroll
    for (int q = 0; q < NG; ++q) M = fmaxf(M, s_m[q * G + h]);
    const float mr = s_m[r * G + h];
    s_lf[r * G + h] = make_float2(s_l[r * G + h], M > -INFINITY && mr > -INFINITY ? exp2f(mr - M) : 0.0f);
    if (r == 0) s_gM[h] = M;
  }
  __syncthreads();
  for (int x = tid; x < G * D; x += kAttThreads) {
    const int h = x / D, j = x % D;
    const float M = s_gM[h];
    float L = 0, O = 0;
    if (M > -INFINITY) {
#pragma unroll
      for (int r = 0; r < NG; ++r) {
        const float2 lf = s_lf[r * G + h];
        L = __fmaf_rn(lf.x, lf.y, L);
        O = __fmaf_rn(s_o[(r * G + h) * D + j], lf.y, O);
      }
    }
    const int64_t bq = int64_t(b) * p.n_head_q + g * G + h;
    if constexpr (FIN) {  // the one split's state is the merged one: merge_kernel's output at S = 1
      const float out = __fadd_rn(O, 0.0f) / L;  // merge's (O·1 + 0 + …) / L: a −0 becomes +0 there too
      p.out[bq * D + j] = out;
      s_sq[h * D + j] = __fmul_ru(out, out);
      if (j == 0) { s_fm[h] = M; s_fl[h] = L; }
    } else {
      // balanced: the flat block's slot, G per block (merge reads them by the same counts)
      const int64_t ps = BAL && reinterpret_cast<const volatile int*>(s_split)[2]
                             ? (int64_t(blockIdx.y) * gridDim.x + blockIdx.x) * G + h : bq * p.splits + blockIdx.x;
      if (j == 0) { w.pm[ps] = M; w.pl[ps] = L; }
      w.po[ps * D + j] = O;
    }
  }
  if constexpr (FIN) {  // the certificate of head h by warp h (G ≤ 4 warps); dense: the exact one
    __syncthreads();
    if (p.cert != nullptr && warp < G) {
      const int64_t bq = int64_t(b) * p.n_head_q + g * G + warp;
      float ss = 0.0f;
      [[maybe_unused]] bool bad_q = false;
      for (int j = tid & 31; j < D; j += 32) {
        ss = __fadd_ru(ss, s_sq[warp * D + j]);
        if constexpr (DENSE) bad_q |= !isfinite(__fmul_rn(p.q[bq * D + j], p.scale));
      }
      ss = warp_sum_ru(ss);
      if constexpr (DENSE) {
        bad_q = __any_sync(0xffffffffu, bad_q);
        if ((tid & 31) == 0) write_dense_certificate(p, bq, __fsqrt_ru(ss), bad_q);
      } else if ((tid & 31) == 0) {
        write_certificate(p, load_cert_inputs(p, w, int(bq)), int(bq), s_fm[warp], s_fl[warp], __fsqrt_ru(ss), 1, NG);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gather probe (diagnostics): read the K and V rows that attend would read (mode 0: the survivor
// list of compact; mode 1: every token of every sequence, in order), with nothing else to do: half a
// warp per row, 8 tokens of a warp in flight; mode 2: the bounds compact reads (G·2 bytes per token,
// every token below seq_len), a lane per token, 8 rows of 32 tokens of a warp in flight (mode 3, the
// same bytes by bulk copies: bounds_stream_probe_kernel below); mode 4: the survivor rows of mode 0, each
// as one aligned 512-byte piece (K and V rows of the even token of its pair in the K array, of the odd one in
// the V array), the access a cache with each token's K and V rows adjacent would need. It measures
// what the memory system gives this access pattern; the xor of the words goes to po so that the
// loads are kept.
template <int D>
__global__ void __launch_bounds__(256) gather_probe_kernel(DecodeParams p, Workspace w, int mode) {
  constexpr int kU = 8, kLanesRow = D * 2 / 16;  // 16-byte pieces per row (16 at d 128, 8 at d 64)
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int lane = threadIdx.x & 31, half = lane / 16, sub = lane % 16;
  pdl_wait();
  const int n = mode == 0 || mode == 4 ? w.n_surv[bg] : p.seq_len[b];
  const int wid = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, nwarps = gridDim.x * (blockDim.x / 32);
  if (mode == 2) {
    const int G = p.n_head_q / p.n_head_kv;
    const uint16_t* ub = w.ub + int64_t(bg) * p.max_seq * G;
    uint32_t acc = 0;
    for (int t0 = wid * kU * 32; t0 < n; t0 += nwarps * kU * 32) {
      uint32_t x[kU];
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int t = t0 + 32 * u + lane;
        x[u] = 0;
        if (t < n) {
          const uint16_t* s = ub + int64_t(t) * G;
          if (G == 4) {
            const uint2 v = __ldcs(reinterpret_cast<const uint2*>(s));
            x[u] = v.x ^ v.y;
          } else {
            for (int h = 0; h < G; ++h) x[u] ^= __ldcs(reinterpret_cast<const unsigned short*>(s + h));
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kU; ++u) acc ^= x[u];
    }
    if (acc == 0x9E3779B9u) w.po[0] = float(acc);  // practically never: keeps the loads
    return;
  }
  const int32_t* rows = w.srow + int64_t(bg) * p.max_seq;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  uint32_t acc = 0;
  const uint16_t* base = half ? p.v_cache : p.k_cache;
  for (int i0 = wid * kU; i0 < n; i0 += nwarps * kU) {
    uint4 x[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int i = i0 + u;
      x[u] = make_uint4(0, 0, 0, 0);
      if (i < n && sub < kLanesRow) {
        const int row = mode != 1 ? rows[i] : ptab[i / kPage] * kPage + i % kPage;
        const int64_t off = kv_row_off<D>(p, g, row);
        if (mode == 4) {  // one 512-byte piece per row, as a cache with each token's K and V rows adjacent would have
          const uint16_t* c2 = ((off / D) & 1) ? p.v_cache + off - D : p.k_cache + off;
          x[u] = __ldcs(reinterpret_cast<const uint4*>(c2) + half * kLanesRow + sub);
        } else {
          x[u] = __ldcs(reinterpret_cast<const uint4*>(base + off) + sub);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) acc ^= x[u].x ^ x[u].y ^ x[u].z ^ x[u].w;
  }
  if (acc == 0x9E3779B9u) w.po[0] = float(acc);  // practically never: keeps the loads
}

// bounds stream probe (diagnostics, gather_probe mode 3): the bounds of mode 2 moved by the bulk-copy
// engine instead: each warp takes pieces wid, wid + W, ... of its KV head's bytes (kProbePiece each,
// kProbeStages in flight) into shared memory and xors them. The byte range is widened to 16-byte
// boundaries (the few bytes outside lie inside the workspace); a short last piece leaves stale bytes
// in the buffer, which are xored too (it only measures).
constexpr int kProbePiece = 2048, kProbeStages = 4, kProbeWarps = 4;
constexpr int kProbeSmem = kProbeWarps * kProbeStages * kProbePiece;
__global__ void __launch_bounds__(kProbeWarps * 32) bounds_stream_probe_kernel(DecodeParams p, Workspace w) {
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[kProbeWarps][kProbeStages];
  const int bg = blockIdx.y, b = bg / p.n_head_kv;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int G = p.n_head_q / p.n_head_kv;
  if (lane == 0) {
    for (int k = 0; k < kProbeStages; ++k) mbar_init(&bars[warp][k], 1);
    mbar_init_fence();
  }
  __syncwarp();
  pdl_wait();
  const int n = p.seq_len[b];
  const uint8_t* ub = reinterpret_cast<const uint8_t*>(w.ub);
  const int64_t start = int64_t(bg) * p.max_seq * G * 2;
  const int64_t lo = start & ~int64_t(15), hi = (start + int64_t(n) * G * 2 + 15) & ~int64_t(15);
  const int64_t npieces = (hi - lo + kProbePiece - 1) / kProbePiece;
  const int wid = blockIdx.x * kProbeWarps + warp, nw = gridDim.x * kProbeWarps;
  uint8_t* buf = smem + warp * kProbeStages * kProbePiece;
  auto issue = [&](int64_t i, int st) {  // lane 0
    const int64_t off = lo + i * kProbePiece;
    const uint32_t bytes = uint32_t(hi - off < kProbePiece ? hi - off : kProbePiece);
    mbar_expect_tx(&bars[warp][st], bytes);
    bulk_g2s(buf + st * kProbePiece, ub + off, bytes, &bars[warp][st]);
  };
  if (lane == 0)
    for (int s = 0; s < kProbeStages; ++s)
      if (wid + int64_t(s) * nw < npieces) issue(wid + int64_t(s) * nw, s);
  uint32_t acc = 0;
  int it = 0;
  for (int64_t i = wid; i < npieces; i += nw, ++it) {
    const int st = it % kProbeStages;
    mbar_wait(&bars[warp][st], uint32_t(it / kProbeStages) & 1u);
    const uint4* q = reinterpret_cast<const uint4*>(buf + st * kProbePiece);
#pragma unroll
    for (int j = 0; j < kProbePiece / 16 / 32; ++j) {
      const uint4 v = q[j * 32 + lane];
      acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    __syncwarp();  // every lane has read the buffer before the next copy into it
    if (lane == 0 && i + int64_t(kProbeStages) * nw < npieces) issue(i + int64_t(kProbeStages) * nw, st);
  }
  if (acc == 0x9E3779B9u) w.po[0] = float(acc);  // practically never: keeps the reads
}

// witness page stream probe (diagnostics, gather_probe modes 5-8): every witness page of each KV head (codes
// and meta of the quant witnesses), read as the 16-warp scan reads them, with nothing done on the bytes: warp
// gw of the KV head's grid row takes pages gw, gw + W, ... (the scan's order, through the page table), one page
// in flight per warp. VAR 5: codes and meta by two bulk copies into the warp's buffer, L2 evict-first (the scan's
// streaming); 6: the codes alone by one bulk copy, evict-first; 7: codes and meta by the warp's lanes (16-byte
// __ldcs loads, a whole page's issued before any is used; no shared memory); 8: as 5 with evict-normal. The
// xor of the words goes to po so that the reads are kept. It measures what the memory system gives the scan's
// access pattern, and which part of the pattern (the copy engine, the meta's second copy, the L2 policy) costs.
constexpr int kCodesProbeWarps = 16;
template <int VAR>
__global__ void __launch_bounds__(kCodesProbeWarps * 32, 1) codes_stream_probe_kernel(DecodeParams p, Workspace w, int pb) {
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[kCodesProbeWarps];
  const int bg = blockIdx.y, b = bg / p.n_head_kv, g = bg % p.n_head_kv;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int mb = 4 * p.d, buf_bytes = pb + mb;  // meta: f16 h_j and err_j per component
  if (VAR != 7 && lane == 0) {
    mbar_init(&bars[warp], 1);
    mbar_init_fence();
  }
  __syncwarp();
  pdl_wait();
  const int npages = (p.seq_len[b] + kPage - 1) / kPage;
  const int32_t* ptab = p.page_table + int64_t(b) * p.max_pages;
  const int gw = blockIdx.x * kCodesProbeWarps + warp, nw = gridDim.x * kCodesProbeWarps;
  uint32_t acc = 0;
  if constexpr (VAR == 7) {
    const int n16 = pb / 16, m16 = mb / 16;  // ≤ 512 code pieces (8 KB), ≤ 32 meta pieces
    for (int i = gw; i < npages; i += nw) {
      const int64_t po = int64_t(ptab[i]) * p.n_head_kv + g;
      const uint4* src = reinterpret_cast<const uint4*>(p.codes + po * pb);
      uint4 x[17];
#pragma unroll
      for (int u = 0; u < 16; ++u) x[u] = u * 32 + lane < n16 ? __ldcs(src + u * 32 + lane) : make_uint4(0, 0, 0, 0);
      x[16] = lane < m16 ? __ldcs(reinterpret_cast<const uint4*>(p.meta + po * 2 * p.d) + lane) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < 17; ++u) acc ^= x[u].x ^ x[u].y ^ x[u].z ^ x[u].w;
    }
  } else {
    uint8_t* buf = smem + warp * buf_bytes;
    const uint64_t pol = VAR == 8 ? l2_evict_normal() : l2_evict_first();
    int it = 0;
    for (int i = gw; i < npages; i += nw, ++it) {
      if (lane == 0) {
        const int64_t po = int64_t(ptab[i]) * p.n_head_kv + g;
        mbar_expect_tx(&bars[warp], uint32_t(VAR == 6 ? pb : buf_bytes));
        bulk_g2s_hint(buf, p.codes + po * pb, uint32_t(pb), &bars[warp], pol);
        if (VAR != 6) bulk_g2s_hint(buf + pb, p.meta + po * 2 * p.d, uint32_t(mb), &bars[warp], pol);
      }
      mbar_wait(&bars[warp], uint32_t(it) & 1u);
      const uint4 v = reinterpret_cast<const uint4*>(buf)[lane];
      acc ^= v.x ^ v.y ^ v.z ^ v.w;
      __syncwarp();  // every lane has read the buffer before the next copy into it
    }
  }
  if (acc == 0x9E3779B9u) w.po[0] = float(acc);  // practically never: keeps the reads
}

// ---------------------------------------------------------------------------------------------
// merge: one block per (b, query head) of P·128 threads: thread (slice, j) holds component j of the splits
// slice, slice + P, … (at most kMergePer of them: P = 1 up to 16 splits, 4 up to 64, 8 up to 128). Exact merge
// identity (scores in log2 units): M = max_s m_s, L = Σ_s l_s 2^{m_s − M}, ô = Σ_s o_s 2^{m_s − M} / L.
// Every load is issued right after the wait, before the first reduction: the splits' m and l (thread s), the
// thread's o values and (thread 0) the certificate's inputs, one round trip to the L2 where the former kernel made
// four or more (m; l after the maximum; o in chunks of 16 splits; the certificate's inputs at the end).
// Sums: P = 1 adds o in the former kernel's order (4 accumulators by s mod 4 over whole chunks of 16 splits, the
// rest in the first; the same bits); P > 1 adds each slice's splits in order, then the slices in order.
// Certificate (ghost path): the attended scores' error is ≤ ε (qscal[3]) and l carries at most
// K = 4·(per + 16) + 4·splits + 300 roundings, so Z ≥ L·e^{−ε}/(1 + γ_K) (relative to M); with
// Z_L from the hot tokens the larger is used; M_E·(1 + 2^-18) covers ex2_up's error (compact);
//   mass_bound = M_E/(Z + M_E), out_err_bound = mass_bound·(ν_E + ||ô||·(1 + 1e-3)).
// certify: 0 none, 1 the ghost path's (above), 2 a dense step's exact one (write_dense_certificate: thread j also checks
// the scaled query component j, loaded with the rest).
// lists: attend took its KV heads from list 1 (compact's, or the fused low-rank blocks'), which must then hold all
// of them (else trap).
// BAL: attend's BAL build ran: every KV head's count decides (as there) whether the partials lie in the balanced slots.
template <int D, int P, bool BAL = false>
__global__ void __launch_bounds__(kMergeThreads * P) merge_kernel(DecodeParams p, Workspace w, int certify, int lists) {
  static_assert(D <= kMergeThreads && kMergeThreads == 128, "a thread per component; the splits' m and l by warps 0-3");
  const int bq = blockIdx.x, tid = threadIdx.x, j = tid % kMergeThreads, slice = tid / kMergeThreads;
  const int lane = tid & 31, warp = tid >> 5;
  int S = p.splits;  // ≤ P·kMergePer (merge_slices; balanced: S_h ≤ balance_cap(p.splits), the same)
  __shared__ float s_f[kMergeThreads], red_m[4], red_l[4], red_s[4];
  __shared__ float s_o[P > 1 ? P : 1][D];
  pdl_wait();
  pdl_launch_next();
  const int listed = lists ? __ldcg(&w.ready[p.batch * p.n_head_kv + 1]) : p.batch * p.n_head_kv;  // checked below
  // BAL: every KV head's count, loaded beside the grid's own layout below (attend's decision, decode.h)
  [[maybe_unused]] const int bal_n = BAL && lane < p.batch * p.n_head_kv ? w.n_surv[lane] : 0;
  // split s of query head bq: its m, l at slot(s), its o at slot(s)·D (balanced: the flat block base + s, G per block)
  int64_t s0 = int64_t(bq) * S, sstep = 1;
  float ms, ls, x[kMergePer];
  auto load = [&] {
    const bool mine = tid < S;  // thread s < S: split s's m and l (warps 0-3)
    ms = mine ? w.pm[s0 + tid * sstep] : -INFINITY;
    ls = mine ? w.pl[s0 + tid * sstep] : 0.0f;
    const float* po = w.po + s0 * D + j;
#pragma unroll
    for (int k = 0; k < kMergePer; ++k) {
      const int s = slice + P * k;
      x[k] = j < D && s < S ? po[int64_t(s) * sstep * D] : 0.0f;
    }
  };
  load();
  CertIn ci{};
  if (certify == 1 && tid == 0) ci = load_cert_inputs(p, w, bq);
  // dense (certify 2): whether the scaled query component j is finite (the exact certificate's flag)
  const bool bad_q = certify == 2 && slice == 0 && j < D && !isfinite(__fmul_rn(p.q[int64_t(bq) * D + j], p.scale));
  if constexpr (BAL) {
    const BalanceLane bl = balance_lane(bal_n, p.batch * p.n_head_kv, S, kAttendTileRows);
    if (bl.on) {  // reload from the balanced slots
      const int G = p.n_head_q / p.n_head_kv, bg = bq / G;  // b·Hkv + g (bq = b·Hq + g·G + h)
      S = __shfl_sync(0xffffffffu, bl.s_h, bg);
      s0 = int64_t(__shfl_sync(0xffffffffu, bl.base, bg)) * G + bq % G;
      sstep = G;
      load();
    }
  }
  const bool mine = tid < S;
  if (warp < 4) {
    const float mw = warp_max(ms);
    if (lane == 0) red_m[warp] = mw;
  }
  __syncthreads();
  const float M = fmaxf(fmaxf(red_m[0], red_m[1]), fmaxf(red_m[2], red_m[3]));
  if (warp < 4) {
    const float f = ms > -INFINITY ? exp2f(ms - M) : 0.0f;  // partial maxima are in log2 units; 0 past S
    s_f[tid] = f;
    const float lw = warp_sum_rn(mine ? __fmul_rn(ls, f) : 0.0f);
    if (lane == 0) red_l[warp] = lw;
  }
  __syncthreads();
  const float L = __fadd_rn(__fadd_rn(red_l[0], red_l[1]), __fadd_rn(red_l[2], red_l[3]));
  float out = 0.0f;
  if constexpr (P == 1) {
    if (j < D) {
      float O[4] = {0, 0, 0, 0};
      const int whole = S / 16 * 16;  // splits in whole chunks of 16: O[s & 3]; the rest: O[0]
#pragma unroll
      for (int k = 0; k < kMergePer; ++k) {
        if (k < whole) O[k & 3] = __fmaf_rn(x[k], s_f[k], O[k & 3]);
        else if (k < S) O[0] = __fmaf_rn(x[k], s_f[k], O[0]);
      }
      out = __fadd_rn(__fadd_rn(O[0], O[1]), __fadd_rn(O[2], O[3])) / L;
      p.out[int64_t(bq) * D + j] = out;
    }
  } else {
    if (j < D) {
      float O = 0.0f;  // s_f[s] = 0 and x = 0 past S
#pragma unroll
      for (int k = 0; k < kMergePer; ++k) O = __fmaf_rn(x[k], s_f[slice + P * k], O);
      s_o[slice][j] = O;
    }
    __syncthreads();
    if (slice == 0 && j < D) {
      float O = s_o[0][j];
#pragma unroll
      for (int q = 1; q < P; ++q) O = __fadd_rn(O, s_o[q][j]);
      out = O / L;
      p.out[int64_t(bq) * D + j] = out;
    }
  }
  if (listed != p.batch * p.n_head_kv) __trap();  // attend missed KV heads: no output stands
  if (!certify) return;
  if (warp < 4) {
    const float ss = warp_sum_ru(__fmul_ru(out, out));  // 0 from threads past D
    if (lane == 0) red_s[warp] = ss;
  }
  bool any_bad_q = false;
  if (certify == 2) any_bad_q = __syncthreads_or(bad_q);
  else __syncthreads();
  if (tid == 0) {
    const float onorm = __fsqrt_ru(__fadd_ru(__fadd_ru(red_s[0], red_s[1]), __fadd_ru(red_s[2], red_s[3])));
    if (certify == 2) write_dense_certificate(p, bq, onorm, any_bad_q);
    else write_certificate(p, ci, bq, M, L, onorm, S);
  }
}

thread_local std::string g_last_error;  // per thread: several threads may each drive a device

void check_launch(const char* what, cudaError_t e = cudaSuccess) {
  if (e == cudaSuccess) e = cudaGetLastError();
  if (e != cudaSuccess) {
    g_last_error = std::string(what) + ": " + cudaGetErrorString(e);
    throw std::runtime_error(g_last_error);
  }
}

bool use_pdl() {
  static const bool on = env_choice("GHOSTKV_NO_PDL", 0, 0, 1) == 0;
  return on;
}

// Launch with programmatic stream serialization (the kernel may start while its predecessor drains;
// every kernel waits for it with griddepcontrol.wait before touching global memory).
// (in thread-block clusters of `cluster` blocks along x where cluster > 1)
template <class... KArgs, class... Args>
void launch_cluster(const char* what, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                    int cluster, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (cluster > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = unsigned(cluster);
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  if (use_pdl()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  check_launch(what, cudaLaunchKernelEx(&cfg, kernel, KArgs(args)...));
}
template <class... KArgs, class... Args>
void launch(const char* what, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
            Args... args) {
  launch_cluster(what, kernel, grid, block, smem, st, 1, args...);
}

// GHOSTKV_SCAN_DEBUG (diagnostics only; the bounds are then incomplete): bit 1 skips the histogram,
// 2 the bound stores, 4 the epilogue (bound stores, histogram; the dot products still run), 8 aggregates the histogram
// updates per warp (__match_any_sync), 16 skips the page prep (zero query planes), 32 records the scan's timeline
// (g_scan_tl, read by scan_timeline; nothing skipped).
// GHOSTKV_SCAN_OCC=N: at most N scan blocks per SM in the grid (default: as many as are resident).
// GHOSTKV_PREP_DEBUG (diagnostics only; G 4, d 128; 1, 2, 4 or 7): prep_kernel's DBG build (the outputs are then wrong).
int prep_debug() {
  static const int v = env_one_of("GHOSTKV_PREP_DEBUG", 0, {0, 1, 2, 4, 7});
  return v;
}
// prep's blocks per (b, KV head) (prep_kernel's R): decode.h prep_row_blocks; GHOSTKV_PREP_ROWS=1 or 4 forces it
// (A/B runs).
int prep_rows(int64_t bk, int sms) {
  static const int forced = env_one_of("GHOSTKV_PREP_ROWS", 0, {1, 4});
  static_assert(kPrepRowBlocks == 4, "prep_kernel is instantiated for R 1 and 4");
  if (forced) return forced;
  return prep_row_blocks(bk, sms);
}
// prep's cluster size (prep_kernel's CL) where it runs one block per (b, KV head): prep_cluster_blocks with
// kPrepCluster, or with GHOSTKV_PREP_CLUSTER=1, 2 or 4 (A/B runs)
int prep_cluster(int batch) {
  static const int forced = env_one_of("GHOSTKV_PREP_CLUSTER", 0, {1, 2, 4});
  return prep_cluster_blocks(batch, forced ? forced : kPrepCluster);
}
int scan_debug() {
  static const int v = env_int_range("GHOSTKV_SCAN_DEBUG", 0, 0, 63);  // the bits above
  return v;
}

// a cap on blocks per SM from the environment variable `name` (1-32, another value an error; 32 when unset)
int env_blocks_cap(const char* name) {
  return env_int_range(name, 32, 1, 32);
}

// Values that depend on the device (occupancy, the L2's size) and one-time set-up that the runtime keeps per
// device (a kernel's shared-memory limit): computed once per device, on first use from a thread whose current
// device it is, so one process may drive several GPUs (e.g. a model's layers split over them). Thread-safe.
constexpr int kMaxDevices = 64;
int current_device() {
  int dev = 0;
  // its own status only (check_launch would also take, and report as this call's, an error pending from the
  // caller's earlier work)
  const cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) throw std::runtime_error(std::string("ghostkv cuda: cudaGetDevice: ") + cudaGetErrorString(e));
  if (dev < 0 || dev >= kMaxDevices)
    throw std::runtime_error("ghostkv cuda: device ordinal " + std::to_string(dev) + " outside 0.." + std::to_string(kMaxDevices - 1));
  return dev;
}
template <class T>
class PerDevice {
 public:
  template <class F>
  T get(F&& make) {
    const int dev = current_device();
    std::lock_guard<std::mutex> lock(m_);
    if (!have_[dev]) {
      v_[dev] = make();
      have_[dev] = true;
    }
    return v_[dev];
  }

 private:
  std::mutex m_;
  bool have_[kMaxDevices] = {};
  T v_[kMaxDevices] = {};
};

// Whether compact and, in ghost_decode, the survivors' attend take their KV heads from the ready lists
// (compact_kernel's and attend_kernel's from_list: each KV head as soon as its previous stage is done for
// it; list 1 is filled by compact or, where it compacts, by the fused low-rank kernel, which writes it whatever
// this rule says) instead of waiting for the whole previous grid. On where the batch holds at least as many KV heads as the device
// has SMs (B·Hkv ≥ SMs): there the heads finish at different times and the next stage's blocks take
// their place (32 × 32K on the H200: the step 0.6-1.9% faster, docs/gpu.md); with few KV heads (1 × 128K:
// 8) it gained nothing and stage 1 took 0.3-1.0 µs longer. GHOSTKV_COMPACT_READY=0 / 1 forces it off / on.
int compact_from_list(int bk) {
  static const int forced = env_choice("GHOSTKV_COMPACT_READY", -1, 0, 1);
  if (forced >= 0) return forced;
  return bk >= device_sm_count() ? 1 : 0;
}

// The scan's cut (scan_kernel's CUT, lowrank_page_kernel's): the local one where the scan has one block per
// KV head, with or without an anchor stage (set_cut_local(0) or GHOSTKV_CUT_LOCAL=0 keep the global one
// there: A/B runs and the bench's bitwise check of the two).
int g_cut_local = -1;  // −1: GHOSTKV_CUT_LOCAL decides (set_cut_local)
// The split cut's blocks compact their own pages inside the scan (scan_kernel's SC; no compact kernel):
// GHOSTKV_SPLIT_COMPACT=0 keeps the compact kernel after the scan, 1 / 2 the walk's batches of 2 / 4 segments a warp
// (A/B runs; default 2)
static int split_compact_mode() {  // 0: the compact kernel; 1, 2: in the scan, walk (mode − 1) of scan_kernel's SC
  static const int m = env_one_of("GHOSTKV_SPLIT_COMPACT", 2, {0, 1, 2});
  return m;
}
static bool split_compact_on() { return split_compact_mode() > 0; }
static bool cut_local_on() {
  static const bool env = env_choice("GHOSTKV_CUT_LOCAL", 1, 0, 1) == 1;
  return g_cut_local < 0 ? env : g_cut_local == 1;
}
int scan_occupancy() {
  static const int v = env_blocks_cap("GHOSTKV_SCAN_OCC");
  return v;
}
// An A/B switch: the environment variable `name` set to 0 or 1 overrides the default; anything else is an error.
// The quant scan's block order (Consts::scan_mix): GHOSTKV_SCAN_MIX
static int env_switch(const char* name, int dflt) { return env_choice(name, dflt, 0, 1); }
int scan_mix_on() {
  static const int v = env_switch("GHOSTKV_SCAN_MIX", kScanMixDefault);
  return v;
}
// The quant scan's cut (Consts::cut_pre): GHOSTKV_CUT_PRE=0 keeps the cut before it (e^{edge} read from global memory
// behind each count, Z_L after the sums), for A/B runs. Call132 (16 same-call pairs at 1 × 128K and 32 × 32K): the cut
// 4.1-4.35 µs against 5.4-6.6 (the scan's timeline), stage 1 −0.80 µs on average (−1.9 to +0.1).
static int cut_pre_on() {
  static const int v = env_switch("GHOSTKV_CUT_PRE", 1);
  return v;
}
// The quant scan's global cut (Consts::cut_coal, with cut_pre): its last block copies the counts into its free page
// buffers by coalesced loads of every thread, and the cut warps read them from there. Call134 (16 same-call pairs at
// 1 × 128K, int8 / int4 / mixed at 5% and certified twice, int8 with anchors and with --breakdown once): stage 1 −0.50 µs
// on average (−1.8 to +0.9). GHOSTKV_CUT_COAL=0 keeps each cut lane loading its own 33 counts from L2 (A/B runs).
static int cut_coal_on() {
  static const int v = env_switch("GHOSTKV_CUT_COAL", 1);
  return v;
}
// Consts::split_tl (GHOSTKV_SPLIT_TL=1, diagnostics: decode.h prep_timeline)
static int split_tl_on() {
  static const int v = env_switch("GHOSTKV_SPLIT_TL", 0);
  return v;
}

// blocks of Kern (Threads per block, no dynamic shared memory) resident per SM: the occupancy API,
// once per kernel instantiation (the variants differ in registers) and device
template <auto Kern, int Threads>
int resident_blocks() {
  static PerDevice<int> v;
  return v.get([] {
    int occ = 0;
    check_launch("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
                 cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, Kern, Threads, 0));
    return std::max(1, occ);
  });
}

// GHOSTKV_COMPACT_TL=1 (diagnostics): compact's timeline build (compact_kernel's TL; read by compact_timeline)
static bool compact_timeline_on() {
  static const bool v = env_choice("GHOSTKV_COMPACT_TL", 0, 0, 1) == 1;
  return v;
}

// compact's segments in batches (compact_kernel's BT, the default): GHOSTKV_COMPACT_BATCH=0 keeps compact_walk, one
// segment at a time with a survivor-count atomic per warp and segment (A/B runs). Call138's timeline (1 × 128K, int8 and
// int4 at 5% and certified): warp 0's first atomic returned 2.3-2.6 µs (median; max 5.1-5.7) after its bounds, the walk
// 6.6-7.0 µs (median) for 2 segments a warp; at 32 × 32K 33.4-33.5 µs for 16. Call141 (12 same-call pairs at 1 × 128K
// int8 / int4 / mixed / anchors and 32 × 32K int8): stage 1 −2.37 µs on average (−4.5 to +0.3), 11 faster.
static bool compact_batched_on() {
  static const bool v = env_choice("GHOSTKV_COMPACT_BATCH", 1, 0, 1) == 1;
  return v;
}

// GHOSTKV_COMPACT_OCC=N (A/B runs): compact's grid at ≤ N blocks per SM (default: as many as fit)
int compact_occupancy() {
  static const int v = env_blocks_cap("GHOSTKV_COMPACT_OCC");
  return v;
}

int group_of(const DecodeParams& p) { return p.n_head_q / p.n_head_kv; }

void validate(const DecodeParams& p) {
  if (p.d != 128 && p.d != 64) throw std::runtime_error("ghostkv cuda: d_head must be 64 or 128, got " + std::to_string(p.d));
  if (p.n_head_kv <= 0 || p.n_head_q % p.n_head_kv)
    throw std::runtime_error("ghostkv cuda: n_head_q " + std::to_string(p.n_head_q) + " not a multiple of n_head_kv " +
                             std::to_string(p.n_head_kv));
  const int G = group_of(p);
  if (G != 1 && G != 2 && G != 3 && G != 4)
    throw std::runtime_error("ghostkv cuda: GQA group " + std::to_string(G) + " not in {1,2,3,4}");
  if (p.n8 >= 0) {
    if (p.n8 != 0 && p.n8 != 32 && p.n8 != p.d)
      throw std::runtime_error("ghostkv cuda: n8 (8-bit leading components) must be 0, 32 or d_head = " + std::to_string(p.d) +
                               ", got " + std::to_string(p.n8));
  } else if (p.bits != 4 && p.bits != 8) {
    throw std::runtime_error("ghostkv cuda: bits must be 4 or 8, got " + std::to_string(p.bits));
  }
  if (p.n_sink < 0 || p.n_recent < 0 || p.n_sink + p.n_recent > 256)
    throw std::runtime_error("ghostkv cuda: n_sink and n_recent must be >= 0 with n_sink + n_recent <= 256, got " +
                             std::to_string(p.n_sink) + " and " + std::to_string(p.n_recent));
  if (p.rank != 0 && p.rank != kRank)
    throw std::runtime_error("ghostkv cuda: low-rank witness rank must be " + std::to_string(kRank) + ", got " + std::to_string(p.rank));
  if (p.box && !(p.anchor_share > 0 && p.anchor_share <= 1))
    throw std::runtime_error("ghostkv cuda: anchor_share must be in (0, 1], got " + std::to_string(p.anchor_share));
  if (p.splits < 1 || p.splits > 128) throw std::runtime_error("ghostkv cuda: splits must be in [1, 128], got " + std::to_string(p.splits));
  if (p.cut_split != 0 && p.cut_split != 1)
    throw std::runtime_error("ghostkv cuda: cut_split must be 0 or 1, got " + std::to_string(p.cut_split));
  // the bulk copies (codes, meta, box; the low-rank records) need 16-byte aligned bases
  const std::pair<const char*, const void*> aligned16[] = {{"codes", p.codes}, {"meta", p.meta},     {"box", p.box},
                                                           {"sketch", p.sketch}, {"sk_err", p.sk_err}, {"sk_rho", p.sk_rho}};
  for (const auto& [name, ptr] : aligned16)
    if (reinterpret_cast<uintptr_t>(ptr) % 16)
      throw std::runtime_error(std::string("ghostkv cuda: ") + name + " must be 16-byte aligned (bulk copies), got address " +
                               std::to_string(reinterpret_cast<uintptr_t>(ptr)));
}

template <class F>
void dispatch(int G, int D, F&& f) {
  auto with_d = [&](auto gc) {
    if (D == 64) f(gc, std::integral_constant<int, 64>{});
    else f(gc, std::integral_constant<int, 128>{});
  };
  switch (G) {
    case 1: with_d(std::integral_constant<int, 1>{}); break;
    case 2: with_d(std::integral_constant<int, 2>{}); break;
    case 3: with_d(std::integral_constant<int, 3>{}); break;
    case 4: with_d(std::integral_constant<int, 4>{}); break;
  }
}

template <class K>
void raise_smem(K kernel, int bytes) {
  check_launch("cudaFuncSetAttribute", cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}

// blocks of kernel (threads per block, smem bytes of dynamic shared memory, raised first) resident per SM;
// throws, naming what, where not one fits (the page scans' grids need every block resident)
template <class K>
int resident_blocks_smem(K kernel, int threads, int smem, const char* what) {
  raise_smem(kernel, smem);
  int occ = 0;
  check_launch("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
               cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, threads, smem));
  if (occ < 1)
    throw std::runtime_error(std::string("ghostkv cuda: ") + what + " cannot be resident (" + std::to_string(smem) + " B shared)");
  return occ;
}

}  // namespace

static int64_t align256(int64_t x) { return (x + 255) / 256 * 256; }

int64_t workspace_bytes(const DecodeParams& p) {
  const int64_t BQ = int64_t(p.batch) * p.n_head_q, BK = int64_t(p.batch) * p.n_head_kv, G = p.n_head_q / p.n_head_kv;
  const int64_t D = p.d;
  int64_t s = 0;
  s += 3 * align256(BQ * D * 4) + align256(BQ * 16) + align256(BQ * 4) + align256(BQ * 8);
  s += align256(BK * p.max_seq * G * 2) + align256(BQ * kHistAll * 4) + 2 * align256(BQ * 4) + align256(BQ * 8) + align256(BQ * 4);
  s += align256(BK * p.max_seq * 4) + 2 * align256(BK * 4) + align256(2 * (BK + 1) * 4) + align256(BK * 4);
  const int64_t MP = (p.max_seq + kPage - 1) / kPage;
  s += align256(BK * MP * G * 2) + align256(BK * MP * 4) + align256(BK * 4);
  s += 2 * align256(BQ * p.splits * 4) + align256(BQ * p.splits * D * 4);
  s += align256(BK * kSplitMaxChunks * 4 * 2);
  return s;
}

Workspace workspace_views(const DecodeParams& p) {
  const int64_t BQ = int64_t(p.batch) * p.n_head_q, BK = int64_t(p.batch) * p.n_head_kv, G = p.n_head_q / p.n_head_kv;
  const int64_t D = p.d;
  char* c = static_cast<char*>(p.work);
  auto take = [&](int64_t bytes) { char* r = c; c += align256(bytes); return r; };
  Workspace w;
  w.qsig = reinterpret_cast<float*>(take(BQ * D * 4));
  w.qrot = reinterpret_cast<float*>(take(BQ * D * 4));
  w.qdelta = reinterpret_cast<float*>(take(BQ * D * 4));
  w.qscal = reinterpret_cast<float*>(take(BQ * 16));
  w.flags = reinterpret_cast<uint32_t*>(take(BQ * 4));
  w.zl = reinterpret_cast<double*>(take(BQ * 8));
  w.ub = reinterpret_cast<uint16_t*>(take(BK * p.max_seq * G * 2));
  w.hist = reinterpret_cast<uint32_t*>(take(BQ * kHistAll * 4));
  w.theta = reinterpret_cast<float*>(take(BQ * 4));
  w.theta_a = reinterpret_cast<float*>(take(BQ * 4));
  w.me = reinterpret_cast<double*>(take(BQ * 8));
  w.nu_e = reinterpret_cast<uint32_t*>(take(BQ * 4));
  w.srow = reinterpret_cast<int32_t*>(take(BK * p.max_seq * 4));
  w.n_surv = reinterpret_cast<int32_t*>(take(BK * 4));
  w.done = reinterpret_cast<int32_t*>(take(BK * 4));
  w.ready = reinterpret_cast<int32_t*>(take(2 * (BK + 1) * 4));
  w.cdone = reinterpret_cast<int32_t*>(take(BK * 4));
  const int64_t MP = (p.max_seq + kPage - 1) / kPage;
  w.pub = reinterpret_cast<uint16_t*>(take(BK * MP * G * 2));
  w.plist = reinterpret_cast<int32_t*>(take(BK * MP * 4));
  w.n_plist = reinterpret_cast<int32_t*>(take(BK * 4));
  w.pm = reinterpret_cast<float*>(take(BQ * p.splits * 4));
  w.pl = reinterpret_cast<float*>(take(BQ * p.splits * 4));
  w.po = reinterpret_cast<float*>(take(BQ * p.splits * D * 4));
  w.theta_blk = reinterpret_cast<uint16_t*>(take(BK * kSplitMaxChunks * 4 * 2));
  return w;
}

int device_sm_count() {
  int dev = 0, sms = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}

int scan_blocks_per_head(int max_pages, int slots, int bk) {
  return std::max(1, std::min((max_pages + kScanBlockWarps - 1) / kScanBlockWarps, slots / std::max(1, bk)));
}

// attend's shared memory at launch. A grid of fewer than 3 blocks per SM (e.g. 32 × 32K: one split of
// 256 KV heads on 132 SMs) asks for more shared memory than it uses, so that no SM holds more than
// ceil(grid / SMs) blocks: under programmatic dependent launch the blocks are placed while compact
// still occupies SMs, and without the cap some SMs took 3 blocks and others none (the step was up to
// 1.3× slower than stage 2 timed alone). GHOSTKV_ATTEND_SPREAD=0 turns the cap off (A/B runs).
constexpr int kAttendSpreadSmem1 = 160 * 1024, kAttendSpreadSmem2 = 96 * 1024;  // ≤ 1 resp. ≤ 2 per SM (228 KB)
int attend_launch_smem(int smem, int grid) {
  static const bool on = env_choice("GHOSTKV_ATTEND_SPREAD", 1, 0, 1) == 1;
  if (!on) return smem;
  const int sms = device_sm_count(), per_sm = (grid + sms - 1) / sms;
  if (per_sm == 1) return std::max(smem, kAttendSpreadSmem1);
  if (per_sm == 2) return std::max(smem, kAttendSpreadSmem2);
  return smem;
}

// The survivors' attend with one split per KV head (attend finishing the heads): blocks of 6 warps, tiles of 48
// rows (12 warps per SM where two blocks share one; GHOSTKV_ATTEND_WARPS=4 keeps the 4-warp build), where B·Hkv
// ≤ 2 × the SM count (two 6-warp blocks per SM hold the grid in one wave; above that the 4-warp build, three per
// SM, as the split rule assumes). At 32 × 32K
// on an H200 (round of 9fdb693, same-call A/B) 6 warps took stage 2 at 5% from 77.5-77.9 to 73.3-73.8 µs
// (int8, int4) and from 86.9 to 81.7-81.8 µs (low-rank with anchors), and at 1% from 29.9 to 30.8-31.0 µs (int8)
// and from 34.4-34.9 to 34.1-34.4 µs (low-rank with anchors). The dense path keeps 4 warps (a dense tile stays
// in one page).
int attend_warps() {
  static const int v = env_choice("GHOSTKV_ATTEND_WARPS", 6, 4, 6);
  return v;
}

int default_splits(int batch, int n_head_kv) {
  const int slots = 3 * device_sm_count();  // attend: 3 blocks per SM
  return std::max(1, std::min(128, slots / std::max(1, batch * n_head_kv)));
}

int ghost_splits(int batch, int n_head_kv, int64_t rows_per_kv_head, int64_t rows_max_kv_head) {
  return splits_for_rows(3 * device_sm_count(), batch * n_head_kv, rows_per_kv_head, rows_max_kv_head);
}

const char* last_error() { return g_last_error.c_str(); }

// The scan streams every witness page once. When the bounds it writes (read next by compact) fit in
// half the L2, its page copies carry an L2 evict-first policy so those bounds tend to stay there;
// larger bound arrays cannot stay, and there the policy measured slower (docs/gpu.md, round of
// 6494d5f..). GHOSTKV_SCAN_L2_HINT=0 / 1 forces it off / on (A/B runs).
static int scan_l2_first(int64_t bound_bytes) {
  static const int forced = env_choice("GHOSTKV_SCAN_L2_HINT", -1, 0, 1);  // −1 (unset): the size rule
  if (forced >= 0) return forced ? 1 : 0;
  static PerDevice<int> l2_bytes;
  const int l2 = l2_bytes.get([] {
    int bytes = 0;
    check_launch("cudaDeviceGetAttribute(L2 size)", cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, current_device()));
    return bytes;
  });
  return bound_bytes <= int64_t(l2) / 2 ? 1 : 0;
}

// The token scan of witness K8 (ScanShape): its kernel for the cut mode and its grid (chunks, B·Hkv).
// CUT kCutLocal only where chunks is 1 (finish_scan_local; with anchors too); GHOSTKV_SCAN_DEBUG builds the
// global cut only.
struct ScanPlan {
  int chunks = 0, cut = kCutGlobal;
};
// The quant scan's warps per block. 16 (one block per SM) with the global cut at G 4 / d 128, with or without
// anchors, 8 (two blocks per SM) elsewhere (kScanBlockWarps). With anchors at 1 × 128K (calls 121-122, 16 against 8
// warps in turn): int8 −1.0 to −3.8 µs (6 of 6 pairs), mixed −0.2 to −1.2 (4 of 4), int4 −0.8 to +0.2 (5 of 6). On the H200, same-call A/Bs at 1 × 128K at 5% forced and certified, in
// turn (calls 117-118, 8 pairs per witness), stage 1 against the rule before (10 warps for int8, 8 for the others):
// int8 −0.52 µs on average (6 of 8 pairs faster, −1.1 to +0.3), mixed −0.51 (8 of 8, −0.9 to −0.3), int4 −0.22 (6 of
// 8, −0.5 to +0.1). The 10-warp int8 block (121 KB of shared memory: one block per SM too; calls 112-113) had taken
// 2.6-3.2 µs off 8 warps' int8 stage 1 there and was slower with int4, mixed, anchors and at 32 × 32K (the local cut,
// where this rule keeps 8 warps). Tried and not kept: 12 warps (no faster than 10); 8 warps at one block per SM
// (GHOSTKV_SCAN_OCC=1, call116: slower than at two); two page buffers per warp at one block per SM with 10 or 8 warps
// (call118: int8 level with one buffer, int4 +4 to +12 µs, mixed +0.2 to +8); the 10-warp block built for one block
// per SM (130-147 registers, no stack; call118: level). So the int8 scan is not limited by its pages in flight.
// GHOSTKV_SCAN_WARPS=8 or 16 (A/B runs) takes that count for every G 4 / d 128 build instead; 0 if unset (the rule).
static int scan_warps_env() {
  static const int v = env_choice("GHOSTKV_SCAN_WARPS", 0, 8, 16);
  return v;
}
// GHOSTKV_SCAN_CHUNKS=2 or 4: the 16-warp quant scan with the global cut (not the DEBUG build) receives each page's
// codes in that many chunks and requests the next page's chunk as its dot products finish with this one's
// (scan_kernel's NCH); 1 (default): one bulk copy of the whole page, requested after the page's dot products. Call129
// (1 × 128K, same-call pairs in stage 1): int8 level (2 chunks −0.7 to +0.3 µs), int4 slower (+0.1 to +0.4; 4 chunks
// +3.8 to +4.5), mixed −0.5 to −1.0 with 2 chunks (4: +4.3 to +5.2): an A/B switch, not the default.
static int scan_chunks_env() {
  static const int v = env_one_of("GHOSTKV_SCAN_CHUNKS", 1, {1, 2, 4});
  return v;
}
// The launch bound's blocks per SM: 8 warps two (128 registers), more one (16 warps: 128 registers)
template <int SW>
constexpr int scan_minb() { return SW > kScanBlockWarps ? 1 : kScanMinBlocks; }
template <int GG, int DD, int BB, int SW = kScanBlockWarps>
static ScanPlan scan_plan(const DecodeParams& p) {
  constexpr int NB = kScanBufs, MINB = scan_minb<SW>();
  constexpr int smem = scan_smem_bytes<GG, DD, BB, NB, SW>();
  // of the global build, or the debug one (GHOSTKV_SCAN_DEBUG, fixed per process); the local build holds the
  // same shared memory and register cap
  static PerDevice<int> occ_dev;
  const int occ = occ_dev.get([] {
    auto* kern = scan_kernel<GG, DD, BB, NB, SW, MINB, false>;
    if constexpr (GG == 4 && DD == 128)
      if (scan_debug()) kern = scan_kernel<GG, DD, BB, NB, SW, MINB, true>;
    return resident_blocks_smem(kern, SW * 32, smem, "scan kernel");
  });
  ScanPlan s;
  const int max_pages_seq = (p.max_seq + kPage - 1) / kPage;
  s.chunks = scan_blocks_per_head(max_pages_seq, std::min(occ, scan_occupancy()) * device_sm_count(),
                                  p.batch * p.n_head_kv);
  if (s.chunks == 1 && !scan_debug() && cut_local_on()) s.cut = kCutLocal;
  // the split cut (DecodeParams::cut_split): without anchors, the 16-warp build's chunks, diagnostics or compact's ready list
  if (p.cut_split == 1 && s.cut == kCutGlobal && !p.box && s.chunks >= 2 && s.chunks <= kSplitMaxChunks && !scan_debug() &&
      (SW != 16 || scan_chunks_env() == 1) && !compact_from_list(p.batch * p.n_head_kv))
    s.cut = kCutSplit;
  return s;
}

// The quant scan's warps per block for a step on p (scan_warps_env's rule) and that build's plan
template <int GG, int DD, int BB>
static int scan_warps_for(const DecodeParams& p) {
  if constexpr (GG == 4 && DD == 128) {
    const int env = scan_warps_env();
    if (env == 16 || (env == 0 && scan_plan<GG, DD, BB, 16>(p).cut != kCutLocal)) return 16;
  }
  return kScanBlockWarps;
}
template <int GG, int DD, int BB>
static ScanPlan scan_plan_for(const DecodeParams& p) {
  if constexpr (GG == 4 && DD == 128)
    if (scan_warps_for<GG, DD, BB>(p) == 16) return scan_plan<GG, DD, BB, 16>(p);
  return scan_plan<GG, DD, BB>(p);
}

// The low-rank scan's grid and cut (the quant scan's rules: every block resident, the local cut where a KV
// head has one block)
template <int GG, int DD>
static ScanPlan lowrank_plan(const DecodeParams& p) {
  constexpr int smem = lowrank_page_smem<GG>();
  static PerDevice<int> occ_dev;
  const int occ = occ_dev.get([] { return resident_blocks_smem(lowrank_page_kernel<GG, DD>, kScanBlockWarps * 32, smem, "low-rank scan"); });
  ScanPlan s;
  const int max_pages_seq = (p.max_seq + kPage - 1) / kPage;
  s.chunks = scan_blocks_per_head(max_pages_seq, std::min(occ, scan_occupancy()) * device_sm_count(), p.batch * p.n_head_kv);
  if (s.chunks == 1 && cut_local_on()) s.cut = kCutLocal;
  return s;
}

void set_cut_local(int on) { g_cut_local = on < 0 ? -1 : on ? 1 : 0; }

// The low-rank witness with anchors: the fused kernel (lowrank_fused_kernel) where the low-rank scan's cut is the
// local one (lowrank_fused_fits); otherwise (or GHOSTKV_LR_FUSED=0 / set_lowrank_fused(0): A/B runs and the
// bench's check of both) the anchor stage and the scan as two kernels.
int g_lr_fused = -1;  // −1: GHOSTKV_LR_FUSED decides
static bool lr_fused_on() {
  static const bool env = env_switch("GHOSTKV_LR_FUSED", 1) == 1;
  return g_lr_fused < 0 ? env : g_lr_fused == 1;
}
// The fused block also compacts its KV head (lowrank_fused_kernel's CP; stage 1 is then 2 kernels):
// GHOSTKV_LR_FUSED_COMPACT=0 / set_lowrank_fused_compact(0) keep compact's kernel after it (A/B runs; the bench's
// fused check compares the default, the block's compaction where it runs, with the two kernels and compact).
int g_lr_fused_compact = -1;  // −1: GHOSTKV_LR_FUSED_COMPACT decides
static bool lr_fused_compact_on() {
  static const bool env = env_switch("GHOSTKV_LR_FUSED_COMPACT", 1) == 1;
  return g_lr_fused_compact < 0 ? env : g_lr_fused_compact == 1;
}
static int lowrank_fused_cp(const DecodeParams& p) { return lr_fused_compact_on() ? (p.forced_keep >= 0 ? 2 : 1) : 0; }
// GHOSTKV_LR_DEBUG (diagnostics only; G 4, d 128; 1, 2, 3, 4 or 7): lowrank_fused_kernel's DBG build, for the rows of
// forced survivors (the policy's rows keep their build)
int lr_debug() {
  static const int v = env_one_of("GHOSTKV_LR_DEBUG", 0, {0, 1, 2, 3, 4, 7});
  return v;
}
// GHOSTKV_LR_FUSED_WARPS (A/B runs; G 4, d 128; the CP 1 and 2 builds): 8 or 12 warps per fused block (other shapes and
// builds: kLrFusedWarps whatever it says)
template <int GG, int DD>
static int lr_fused_warps(int cp) {
  static const int env = env_choice("GHOSTKV_LR_FUSED_WARPS", kLrFusedWarps, 8, 12);
  if constexpr (GG == 4 && DD == 128) return cp == 1 || (cp == 2 && !lr_debug()) ? env : kLrFusedWarps;
  return kLrFusedWarps;
}
// f(kernel) for the fused kernel's build of CP (0-2)
template <int GG, int DD, class F>
static void with_fused_kernel(int cp, F&& f) {
  if constexpr (GG == 4 && DD == 128) {  // the forced survivors' build only (cp 2); other rows keep theirs
    if (lr_fused_warps<GG, DD>(cp) == 8) return cp == 2 ? f(lowrank_fused_kernel<GG, DD, 2, 0, 8>) : f(lowrank_fused_kernel<GG, DD, 1, 0, 8>);
    const int dbg = cp == 2 ? lr_debug() : 0;
    if (dbg == 1) return f(lowrank_fused_kernel<GG, DD, 2, 1>);
    if (dbg == 2) return f(lowrank_fused_kernel<GG, DD, 2, 2>);
    if (dbg == 3) return f(lowrank_fused_kernel<GG, DD, 2, 3>);
    if (dbg == 4) return f(lowrank_fused_kernel<GG, DD, 2, 4>);
    if (dbg == 7) return f(lowrank_fused_kernel<GG, DD, 2, 7>);
  } else {
    if (lr_debug()) throw std::runtime_error("ghostkv cuda: GHOSTKV_LR_DEBUG is built for G 4, d 128 only");
  }
  if (cp == 2) f(lowrank_fused_kernel<GG, DD, 2>);
  else if (cp == 1) f(lowrank_fused_kernel<GG, DD, 1>);
  else f(lowrank_fused_kernel<GG, DD, 0>);
}
// where the low-rank scan's cut is the local one (a block per KV head) and as many fused blocks, with their page
// lists, fit per SM as low-rank scan blocks. The occupancy of each (device, build, list size) is asked once.
template <int GG, int DD>
static bool lowrank_fused_fits(const DecodeParams& p, const ScanPlan& plan) {
  if (plan.cut != kCutLocal) return false;
  static PerDevice<int> occ_page;  // the low-rank scan's blocks per SM (raises the fused builds' shared-memory limit once)
  const int page = occ_page.get([] {
    int optin = 0;
    check_launch("cudaDeviceGetAttribute", cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, current_device()));
    for (int cp = 0; cp < 3; ++cp)  // (the builds of the warps GHOSTKV_LR_FUSED_WARPS picks)
      with_fused_kernel<GG, DD>(cp, [&](auto kern) {
        cudaFuncAttributes fa{};
        check_launch("cudaFuncGetAttributes", cudaFuncGetAttributes(&fa, kern));
        raise_smem(kern, optin - int(fa.sharedSizeBytes));
      });
    return resident_blocks_smem(lowrank_page_kernel<GG, DD>, kScanBlockWarps * 32, lowrank_page_smem<GG>(), "low-rank scan");
  });
  const int cp = lowrank_fused_cp(p), fw = lr_fused_warps<GG, DD>(cp);
  const int smem = lowrank_fused_smem<GG>(lowrank_fused_list_cap(p.max_seq, fw), fw);
  static std::mutex m;
  static std::map<std::tuple<int, int, int>, int> occ_of;
  const auto key = std::make_tuple(current_device(), cp, smem);
  std::lock_guard<std::mutex> lock(m);
  auto it = occ_of.find(key);
  if (it == occ_of.end()) {
    int occ = 0;
    with_fused_kernel<GG, DD>(cp, [&](auto kern) {
      check_launch("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
                   cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kern, fw * 32, smem));
    });
    it = occ_of.emplace(key, occ).first;
  }
  return it->second >= page;
}
static bool lowrank_fused(const DecodeParams& p) {
  if (!p.box || !p.rank || !lr_fused_on()) return false;
  bool on = false;
  dispatch(group_of(p), p.d, [&](auto gc, auto dc) {
    constexpr int GG = decltype(gc)::value, DD = decltype(dc)::value;
    on = lowrank_fused_fits<GG, DD>(p, lowrank_plan<GG, DD>(p));
  });
  return on;
}
void set_lowrank_fused(int on) { g_lr_fused = on < 0 ? -1 : on ? 1 : 0; }
void set_lowrank_fused_compact(int on) { g_lr_fused_compact = on < 0 ? -1 : on ? 1 : 0; }
int ghost_stage1_kernels(const DecodeParams& p) {
  validate(p);
  if (p.box && p.rank && lowrank_fused(p)) return lowrank_fused_cp(p) ? 2 : 3;
  if (scan_split_compacts(p)) return 2;
  return p.box ? 4 : 3;
}

// The token scan's plan for a step on p (every witness: the low-rank scan's or the quant scan's of p's width)
static ScanPlan step_scan_plan(const DecodeParams& p) {
  validate(p);
  ScanPlan s;
  dispatch(group_of(p), p.d, [&](auto gc, auto dc) {
    constexpr int GG = decltype(gc)::value, DD = decltype(dc)::value;
    const int k8 = witness_k8(p.bits, p.n8, p.d);
    if (p.rank) s = lowrank_plan<GG, DD>(p);
    else if (k8 == DD / 32) s = scan_plan_for<GG, DD, DD / 32>(p);
    else if (k8 == 1) s = scan_plan_for<GG, DD, 1>(p);
    else s = scan_plan_for<GG, DD, 0>(p);
  });
  return s;
}

int scan_split_chunks(const DecodeParams& p) {
  const ScanPlan s = step_scan_plan(p);
  return s.cut == kCutSplit ? s.chunks : 0;
}

int scan_cut_mode(const DecodeParams& p) { return step_scan_plan(p).cut; }

bool scan_split_compacts(const DecodeParams& p) {  // the plan (occupancy: a device) only where the split cut may apply
  return p.cut_split == 1 && !p.box && !p.rank && split_compact_on() && scan_split_chunks(p) > 0;
}

// A grid of resident blocks (occ per SM) for `items` work items at `per_block` per block: at least one
// block, at most as many as are resident at once (the anchor stages' grids)
static int resident_grid(int occ, int sms, int64_t items, int per_block) {
  return int(std::max<int64_t>(1, std::min<int64_t>(int64_t(occ) * sms, (items + per_block - 1) / per_block)));
}

static void stage1(const DecodeParams& p, void* stream, int upto) {
  validate(p);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Workspace w = workspace_views(p);
  Consts c = make_consts(p.d);
  const int G = group_of(p), BK = p.batch * p.n_head_kv;
  const int sms = device_sm_count();
  c.l2_first = scan_l2_first(int64_t(BK) * p.max_seq * G * 2);
  c.scan_mix = scan_mix_on();
  c.cut_pre = cut_pre_on();
  c.cut_coal = cut_coal_on();
  c.split_tl = split_tl_on();
  const int max_pages_seq = (p.max_seq + kPage - 1) / kPage;
  dispatch(G, p.d, [&](auto gc, auto dc) {
    constexpr int GG = decltype(gc)::value, DD = decltype(dc)::value;
    int launched = 0;
    auto more = [&] { return launched++ < upto; };
    int fused_cp = 0;  // the fused low-rank block compacts its KV head: no compact kernel
    int split = 0;     // the split cut's blocks per KV head (0: one cut per KV head)
    bool split_cp = false;  // the split cut's scan blocks compact their pages (scan_split_compact): no compact kernel
    auto launch_prep = [&](bool zh) {  // zh: prep zeroes the global histograms (ZH)
      auto* k = zh ? prep_kernel<GG, DD, true> : prep_kernel<GG, DD, false>;
      const int rows = prep_rows(BK, sms);
      if (rows == kPrepRowBlocks) k = zh ? prep_kernel<GG, DD, true, 0, kPrepRowBlocks> : prep_kernel<GG, DD, false, 0, kPrepRowBlocks>;
      if (const int dbg = prep_debug()) {
        if (rows != 1) throw std::runtime_error("ghostkv cuda: GHOSTKV_PREP_DEBUG is built for one prep block per KV head (GHOSTKV_PREP_ROWS=1)");
        if constexpr (GG == 4 && DD == 128) {
          switch (dbg) {
            case 1: k = zh ? prep_kernel<GG, DD, true, 1> : prep_kernel<GG, DD, false, 1>; break;
            case 2: k = zh ? prep_kernel<GG, DD, true, 2> : prep_kernel<GG, DD, false, 2>; break;
            case 4: k = zh ? prep_kernel<GG, DD, true, 4> : prep_kernel<GG, DD, false, 4>; break;
            default: k = zh ? prep_kernel<GG, DD, true, 7> : prep_kernel<GG, DD, false, 7>; break;
          }
        } else {
          throw std::runtime_error("ghostkv cuda: GHOSTKV_PREP_DEBUG is built for G 4, d 128 only");
        }
      }
      const int cl = rows == 1 && !prep_debug() ? prep_cluster(p.batch) : 1;
      if (cl > 1) {
        auto* kc = zh ? prep_kernel<GG, DD, true, 0, 1, 4> : prep_kernel<GG, DD, false, 0, 1, 4>;
        if (cl == 2) kc = zh ? prep_kernel<GG, DD, true, 0, 1, 2> : prep_kernel<GG, DD, false, 0, 1, 2>;
        const int smem = DD * DD * 4;
        static PerDevice<bool> attr_cl[2][2];  // [zh][cl 4]
        attr_cl[zh][cl == 4].get([&] { raise_smem(kc, smem); return true; });
        launch_cluster("prep_kernel", kc, dim3(BK, 1), dim3(kPrepThreads), smem, st, cl, p, w, c);
      } else {
        launch("prep_kernel", k, dim3(BK, rows), dim3(kPrepThreads), 0, st, p, w, c);
      }
    };
    auto scan_sw = [&](auto bc, auto swc) {
      constexpr int BB = decltype(bc)::value;
      constexpr int NB = kScanBufs, SW = decltype(swc)::value, MINB = scan_minb<SW>();
      constexpr int smem = scan_smem_bytes<GG, DD, BB, NB, SW>();
      const ScanPlan plan = scan_plan<GG, DD, BB, SW>(p);
      // prep zeroes the global histograms only where the cut reads them
      if (more()) {
        launch_prep(!((plan.cut == kCutLocal || plan.cut == kCutSplit) && !p.box));
      }
      if (plan.cut == kCutSplit) split = plan.chunks;
      if (p.box && more()) {  // every block resident at once
        const int aocc = resident_blocks<anchor_kernel<GG, DD, BB>, kScanWarps * 32>();
        const int64_t slots = int64_t(BK) * max_pages_seq;
        const int ablocks = resident_grid(aocc, sms, slots, kScanWarps);
        launch("anchor_kernel", anchor_kernel<GG, DD, BB>, dim3(ablocks), dim3(kScanWarps * 32), 0, st, p, w, c);
      }
      auto* kern = scan_kernel<GG, DD, BB, NB, SW, MINB, false>;
      if (scan_debug()) {
        if constexpr (GG == 4 && DD == 128) kern = scan_kernel<GG, DD, BB, NB, SW, MINB, true>;
        else throw std::runtime_error("ghostkv cuda: GHOSTKV_SCAN_DEBUG is built for G 4, d 128 only");
      } else if (plan.cut == kCutLocal) {
        kern = scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutLocal>;
      } else if (plan.cut == kCutSplit) {
        kern = scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutSplit>;
        if (split_compact_on()) {
          split_cp = true;
          const bool fk = p.forced_keep >= 0;  // SC = 1 + forced + 2·(mode − 1)
          auto sc = [&](auto scc) {
            constexpr int S = decltype(scc)::value;
            kern = fk ? scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutSplit, 1, S + 1>
                      : scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutSplit, 1, S>;
          };
          if (split_compact_mode() == 1) sc(std::integral_constant<int, 1>{});
          else sc(std::integral_constant<int, 3>{});
        }
      }
      if constexpr (SW == 16 && GG == 4 && DD == 128) {
        const int nch = scan_chunks_env();
        if (nch > 1 && !scan_debug() && plan.cut == kCutGlobal) {
          kern = nch == 2 ? scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutGlobal, 2>
                          : scan_kernel<GG, DD, BB, NB, SW, MINB, false, kCutGlobal, 4>;
        }
      }
      // per build of the cut (DBG and the chunks are fixed per process; the split cut with its compaction: 3, 4) and device
      static PerDevice<bool> attr[5];
      attr[split_cp ? 3 + (p.forced_keep >= 0) : plan.cut].get([&] { raise_smem(kern, smem); return true; });
      if (more()) launch("scan_kernel", kern, dim3(plan.chunks, BK), dim3(SW * 32), smem, st, p, w, c, scan_debug());
    };
    auto scan = [&](auto bc) {  // the warps per block (scan_warps_for)
      if constexpr (GG == 4 && DD == 128)
        if (scan_warps_for<GG, DD, decltype(bc)::value>(p) == 16) return scan_sw(bc, std::integral_constant<int, 16>{});
      scan_sw(bc, std::integral_constant<int, kScanBlockWarps>{});
    };
    const int k8 = witness_k8(p.bits, p.n8, p.d);
    if (p.rank) {
      // the page-streaming scan: the quant scan's grid rule (every block resident at once); the cut from the
      // block's own histogram where it is its KV head's only block (the quant scan's rule, lowrank_plan)
      const ScanPlan lplan = lowrank_plan<GG, DD>(p);
      const bool fused = p.box && lr_fused_on() && lowrank_fused_fits<GG, DD>(p, lplan);
      if (more()) {  // the global histograms: read by the global cut, and by the local one after the anchor stage
        launch_prep(!(lplan.cut == kCutLocal && (!p.box || fused)));
      }
      if (fused) {
        fused_cp = lowrank_fused_cp(p);
        const int fw = lr_fused_warps<GG, DD>(fused_cp);
        const int smem = lowrank_fused_smem<GG>(lowrank_fused_list_cap(p.max_seq, fw), fw);
        if (more())
          with_fused_kernel<GG, DD>(fused_cp, [&](auto kern) {
            launch(fused_cp ? "lowrank_fused_kernel(compact)" : "lowrank_fused_kernel", kern, dim3(1, BK),
                   dim3(fw * 32), smem, st, p, w, c);
          });
      } else if (p.box && more()) {  // the low-rank anchor stage: a warp per 32·PPL pages of a KV head, all resident at most
        auto anchor = [&](auto ppl) {
          constexpr int PPL = decltype(ppl)::value;
          const int aocc = resident_blocks<lowrank_anchor_kernel<GG, DD, PPL>, kLrAnchorWarps * 32>();
          const int64_t items = int64_t(BK) * ((max_pages_seq + 32 * PPL - 1) / (32 * PPL));
          const int ablocks = resident_grid(aocc, sms, items, kLrAnchorWarps);
          launch("lowrank_anchor_kernel", lowrank_anchor_kernel<GG, DD, PPL>, dim3(ablocks), dim3(kLrAnchorWarps * 32), 0, st,
                 p, w, c);
        };
        const int64_t items1 = int64_t(BK) * ((max_pages_seq + 31) / 32);
        const int occ1 = resident_blocks<lowrank_anchor_kernel<GG, DD, 1>, kLrAnchorWarps * 32>();
        if (items1 > int64_t(occ1) * sms * kLrAnchorWarps) anchor(std::integral_constant<int, 2>{});
        else anchor(std::integral_constant<int, 1>{});
      }
      constexpr int smem = lowrank_page_smem<GG>();
      if (!fused && more()) {
        if (lplan.cut == kCutLocal) {
          static PerDevice<bool> attr;
          attr.get([&] { raise_smem(lowrank_page_kernel<GG, DD, kCutLocal>, smem); return true; });
          launch("lowrank_page_kernel", lowrank_page_kernel<GG, DD, kCutLocal>, dim3(lplan.chunks, BK), dim3(kScanBlockWarps * 32),
                 smem, st, p, w, c);
        } else {
          launch("lowrank_page_kernel", lowrank_page_kernel<GG, DD>, dim3(lplan.chunks, BK), dim3(kScanBlockWarps * 32), smem,
                 st, p, w, c);
        }
      }
    } else if (k8 == DD / 32) scan(std::integral_constant<int, DD / 32>{});
    else if (k8 == 1) scan(std::integral_constant<int, 1>{});
    else scan(std::integral_constant<int, 0>{});
    if (!fused_cp && !split_cp) {  // compact: at most as many blocks as are resident (at least one per KV head); a warp takes
                      // ≥ kMinSegs segments where the sequence allows
      auto go = [&](auto box, auto forced) {
        constexpr bool BOX = decltype(box)::value, FORCED = decltype(forced)::value;
        const bool tl = compact_timeline_on(), bt = compact_batched_on();
        auto* kern = tl ? (bt ? compact_kernel<GG, BOX, FORCED, true, true> : compact_kernel<GG, BOX, FORCED, true, false>)
                        : (bt ? compact_kernel<GG, BOX, FORCED, false, true> : compact_kernel<GG, BOX, FORCED, false, false>);
        const int cocc =
            tl ? (bt ? resident_blocks<compact_kernel<GG, BOX, FORCED, true, true>, kCompactThreads>()
                     : resident_blocks<compact_kernel<GG, BOX, FORCED, true, false>, kCompactThreads>())
               : (bt ? resident_blocks<compact_kernel<GG, BOX, FORCED, false, true>, kCompactThreads>()
                     : resident_blocks<compact_kernel<GG, BOX, FORCED, false, false>, kCompactThreads>());
        constexpr int per_block = kCompactThreads / 32 * kCompactSeg, kMinSegs = 1;
        const int cchunks = std::max(1, std::min((p.max_seq + kMinSegs * per_block - 1) / (kMinSegs * per_block),
                                                 std::min(cocc, compact_occupancy()) * sms / BK));
        if (more()) launch("compact_kernel", kern, dim3(cchunks, BK), dim3(kCompactThreads), 0, st, p, w, compact_from_list(BK), 0);
      };
      auto go_split = [&](auto forced) {  // the split cut: the batched walk without anchors, each page's θ its scan block's
        constexpr bool FORCED = decltype(forced)::value;
        auto* kern = compact_kernel<GG, false, FORCED, false, true, true>;
        const int cocc = resident_blocks<compact_kernel<GG, false, FORCED, false, true, true>, kCompactThreads>();
        constexpr int per_block = kCompactThreads / 32 * kCompactSeg;
        const int cchunks = std::max(1, std::min((p.max_seq + per_block - 1) / per_block, std::min(cocc, compact_occupancy()) * sms / BK));
        if (more()) launch("compact_kernel", kern, dim3(cchunks, BK), dim3(kCompactThreads), 0, st, p, w, 0, split);
      };
      using T = std::true_type;
      using F = std::false_type;
      const bool forced = p.forced_keep >= 0;
      if (split) {
        if (compact_timeline_on() || !compact_batched_on())
          throw std::runtime_error("ghostkv cuda: the split cut runs the batched compact without its timeline "
                                   "(GHOSTKV_COMPACT_TL=0, GHOSTKV_COMPACT_BATCH=1)");
        forced ? go_split(T{}) : go_split(F{});
      } else if (p.box) forced ? go(T{}, T{}) : go(T{}, F{});
      else forced ? go(F{}, T{}) : go(F{}, F{});
    }
  });
}

void ghost_stage1(const DecodeParams& p, void* stream) { stage1(p, stream, 1 << 30); }

// One split per KV head: attend finishes the heads itself (attend_kernel's FIN) instead of a merge kernel
// after it; GHOSTKV_ATTEND_FIN=0 keeps the merge kernel (A/B runs).
bool attend_finishes(int splits) {
  static const bool on = env_choice("GHOSTKV_ATTEND_FIN", 1, 0, 1) == 1;
  return splits == 1 && on;
}

bool balance_allowed(const DecodeParams& p) {
  static const bool on = env_choice("GHOSTKV_ATTEND_BALANCE", 1, 0, 1) == 1;
  const int BK = p.batch * p.n_head_kv;
  return on && p.splits > 1 && !attend_finishes(p.splits) && BK <= kBalanceMaxHeads && !compact_from_list(BK);
}

bool balanced_splits(const int32_t* counts, int H, int S, int tile, int32_t* s_h) {
  long long tot = 0;
  int mx_n = 0, mx_t = 0;
  for (int h = 0; h < H; ++h) {
    tot += counts[h];
    mx_n = std::max(mx_n, int(counts[h]));
  }
  for (int h = 0; h < H; ++h) {
    s_h[h] = balanced_split(counts[h], tot, H, S * H, balance_cap(S));
    mx_t = std::max(mx_t, split_max_tiles(counts[h], tile, s_h[h]));
  }
  return tot > 0 && balance_pays(split_max_tiles(mx_n, tile, S), mx_t);
}

// after_compact: launched right after this step's compaction (ghost_decode: compact, or the fused low-rank
// kernel that compacts), so the survivors' attend may take its KV heads from list 1 (its only wait then: it
// does not wait for the kernel before it in the stream, which is that kernel, itself ordered after everything
// earlier). A stage 2 launched on its
// own (ghost_stage2, prefixes) waits for the whole previous grid, whatever it is.
template <bool DENSE>
static void stage2(const DecodeParams& p, cudaStream_t st, bool certify, int upto = 2, bool after_compact = false) {
  const Workspace w = workspace_views(p);
  const int G = group_of(p), BK = p.batch * p.n_head_kv, BQ = p.batch * p.n_head_q;
  const int lists = !DENSE && after_compact ? compact_from_list(BK) : 0;
  dispatch(G, p.d, [&](auto gc, auto dc) {
    constexpr int GG = decltype(gc)::value, DD = decltype(dc)::value;
    constexpr int smem = attend_smem_bytes<DD>();
    static PerDevice<bool> attr;
    attr.get([&] {
      raise_smem(attend_kernel<GG, DD, DENSE>, std::max(smem, kAttendSpreadSmem1));
      raise_smem(attend_kernel<GG, DD, DENSE, true>, std::max(smem, kAttendSpreadSmem1));
      if constexpr (!DENSE) raise_smem(attend_kernel<GG, DD, false, false, kAttThreads, true>, std::max(smem, kAttendSpreadSmem1));
      return true;
    });
    // one split: attend writes the outputs and (p.cert given: certify) the certificates; no merge
    if (attend_finishes(p.splits)) {
      if constexpr (!DENSE) {
        // the survivors' build of 6 warps (tiles of 48 rows; the default) where its two blocks per SM hold the
        // grid in one wave (the 4-warp build fits 3 per SM)
        if (attend_warps() == 6 && BK <= 2 * device_sm_count()) {
          constexpr int NT = 192, smem6 = attend_smem_bytes<DD, NT>();
          static PerDevice<bool> attr6;
          attr6.get([&] { raise_smem(attend_kernel<GG, DD, false, true, NT>, std::max(smem6, kAttendSpreadSmem1)); return true; });
          launch("attend_kernel(fin, 6 warps)", attend_kernel<GG, DD, false, true, NT>, dim3(1, BK), dim3(NT),
                 attend_launch_smem(smem6, BK), st, p, w, lists);
          return;
        }
      }
      launch(DENSE ? "attend_kernel(dense, fin)" : "attend_kernel(fin)", attend_kernel<GG, DD, DENSE, true>, dim3(1, BK),
             dim3(kAttThreads), attend_launch_smem(smem, BK), st, p, w, lists);
      return;
    }
    // balanced splits (decode.h): the BAL builds decide from the counts whether to take them
    const bool bal = !DENSE && !lists && p.balance && balance_allowed(p);
    if (bal)
      launch("attend_kernel(balanced)", attend_kernel<GG, DD, false, false, kAttThreads, true>, dim3(p.splits, BK),
             dim3(kAttThreads), attend_launch_smem(smem, p.splits * BK), st, p, w, lists);
    else
      launch(DENSE ? "attend_kernel(dense)" : "attend_kernel", attend_kernel<GG, DD, DENSE>, dim3(p.splits, BK),
             dim3(kAttThreads), attend_launch_smem(smem, p.splits * BK), st, p, w, lists);
    if (upto >= 2) {
      const int P = merge_slices(p.splits);
      auto go = [&](auto kern) {
        launch(DENSE ? "merge_kernel(dense)" : bal ? "merge_kernel(balanced)" : "merge_kernel", kern, dim3(BQ),
               dim3(kMergeThreads * P), 0, st, p, w, certify ? (DENSE ? 2 : 1) : 0, lists);
      };
      if (bal) {
        if (P == 1) go(merge_kernel<DD, 1, true>);
        else if (P == 4) go(merge_kernel<DD, 4, true>);
        else go(merge_kernel<DD, 8, true>);
      } else {
        if (P == 1) go(merge_kernel<DD, 1>);
        else if (P == 4) go(merge_kernel<DD, 4>);
        else go(merge_kernel<DD, 8>);
      }
    }
  });
}

void ghost_stage2(const DecodeParams& p, void* stream) {
  validate(p);
  stage2<false>(p, static_cast<cudaStream_t>(stream), p.cert != nullptr);
}

void ghost_decode(const DecodeParams& p, void* stream) {
  ghost_stage1(p, stream);
  stage2<false>(p, static_cast<cudaStream_t>(stream), p.cert != nullptr, 2, true);
}

void ghost_stage_prefix(const DecodeParams& p, void* stream, int stage, int n_kernels) {
  if ((stage != 1 && stage != 2) || n_kernels < 1)
    throw std::invalid_argument("ghostkv cuda: ghost_stage_prefix needs stage 1 or 2 and n_kernels >= 1 (got stage " +
                                std::to_string(stage) + ", n_kernels " + std::to_string(n_kernels) + ")");
  if (stage == 1) stage1(p, stream, n_kernels);
  else {
    validate(p);
    stage2<false>(p, static_cast<cudaStream_t>(stream), p.cert != nullptr, n_kernels);
  }
}

__global__ void read_through_kernel(const uint4* buf, int64_t n, uint32_t* sink) {
  uint32_t x = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint4 v = __ldcg(buf + i);
    x ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (x == 0x9E3779B9u && sink) *sink = x;  // keeps the loads; almost never taken
}

void read_through(const void* buf, int64_t bytes, void* stream) {
  if (bytes <= 0 || bytes % 16) throw std::runtime_error("ghostkv cuda: read_through needs a positive multiple of 16 bytes");
  read_through_kernel<<<4 * device_sm_count(), 512, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint4*>(buf), bytes / 16, nullptr);
  check_launch("read_through_kernel", cudaGetLastError());
}

int scan_timeline(int64_t* out, int max_blocks) {
  static_assert(kScanTlCols == kScanTimelineCols, "decode.h's column count");
  int n = 0;
  check_launch("scan_timeline", cudaMemcpyFromSymbol(&n, g_scan_tl_blocks, sizeof(int)));
  const int m = std::min(std::min(n, max_blocks), kScanTlMax);
  if (m > 0) check_launch("scan_timeline", cudaMemcpyFromSymbol(out, g_scan_tl, size_t(m) * kScanTlCols * sizeof(long long)));
  return n;
}

int prep_timeline(int64_t* out, int max_blocks) {
  int n = 0;
  check_launch("prep_timeline", cudaMemcpyFromSymbol(&n, g_prep_tl_blocks, sizeof(int)));
  const int m = std::min(std::min(n, max_blocks), kPrepTlMax);
  if (m > 0) check_launch("prep_timeline", cudaMemcpyFromSymbol(out, g_prep_tl, size_t(m) * 2 * sizeof(long long)));
  return n;
}

int compact_timeline(int64_t* out, int max_blocks) {
  static_assert(kCompactTlCols == kCompactTimelineCols, "decode.h's column count");
  int n = 0;
  check_launch("compact_timeline", cudaMemcpyFromSymbol(&n, g_compact_tl_blocks, sizeof(int)));
  const int m = std::min(std::min(n, max_blocks), kCompactTlMax);
  if (m > 0)
    check_launch("compact_timeline", cudaMemcpyFromSymbol(out, g_compact_tl, size_t(m) * kCompactTlCols * sizeof(long long)));
  return n;
}

void gather_probe(const DecodeParams& p, void* stream, int mode) {
  validate(p);
  if (mode < 0 || mode > 8) throw std::runtime_error("ghostkv cuda: gather_probe mode must be 0-8, got " + std::to_string(mode));
  const Workspace w = workspace_views(p);
  const int BK = p.batch * p.n_head_kv, blocks = std::max(1, 16 * device_sm_count() / BK);
  if (mode >= 5) {  // the witness pages as the 16-warp scan streams them: its grid (one block per SM)
    if (p.rank != 0 || !p.codes || !p.meta)
      throw std::runtime_error("ghostkv cuda: gather_probe modes 5-8 read a quant witness's codes and meta");
    const int pb = kPage * witness_code_bytes(witness_k8(p.bits, p.n8, p.d), p.d), smem = kCodesProbeWarps * (pb + 4 * p.d);
    const int chunks = scan_blocks_per_head((p.max_seq + kPage - 1) / kPage, device_sm_count(), BK);
    auto go = [&](auto kern) {
      raise_smem(kern, smem);
      launch("codes_stream_probe_kernel", kern, dim3(chunks, BK), dim3(kCodesProbeWarps * 32), mode == 7 ? 0 : smem,
             static_cast<cudaStream_t>(stream), p, w, pb);
    };
    if (mode == 5) go(codes_stream_probe_kernel<5>);
    else if (mode == 6) go(codes_stream_probe_kernel<6>);
    else if (mode == 7) go(codes_stream_probe_kernel<7>);
    else go(codes_stream_probe_kernel<8>);
    return;
  }
  if (mode == 3) {  // as many blocks as are resident (every one at once while B·Hkv ≤ that count)
    static PerDevice<int> occ_dev;
    const int occ = occ_dev.get([] {
      int o = 0;
      raise_smem(bounds_stream_probe_kernel, kProbeSmem);
      check_launch("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
                   cudaOccupancyMaxActiveBlocksPerMultiprocessor(&o, bounds_stream_probe_kernel, kProbeWarps * 32, kProbeSmem));
      return std::max(o, 1);
    });
    launch("bounds_stream_probe_kernel", bounds_stream_probe_kernel, dim3(std::max(1, occ * device_sm_count() / BK), BK),
           dim3(kProbeWarps * 32), kProbeSmem, static_cast<cudaStream_t>(stream), p, w);
    return;
  }
  auto go = [&](auto kern) {
    launch("gather_probe_kernel", kern, dim3(blocks, BK), dim3(256), 0, static_cast<cudaStream_t>(stream), p, w, mode);
  };
  if (p.d == 128) go(gather_probe_kernel<128>);
  else go(gather_probe_kernel<64>);
}

void dense_decode(const DecodeParams& p, void* stream) {
  validate(p);
  stage2<true>(p, static_cast<cudaStream_t>(stream), p.cert != nullptr);
}

int env_one_of(const char* name, int dflt, std::initializer_list<int> values) {
  const char* e = std::getenv(name);
  if (!e) return dflt;
  const std::string v = e;
  std::string allowed;
  int i = 0;
  for (const int a : values) {
    if (v == std::to_string(a)) return a;
    allowed += (i == 0 ? "" : i + 1 == int(values.size()) ? " or " : ", ") + std::to_string(a);
    ++i;
  }
  throw std::runtime_error(std::string("ghostkv cuda: ") + name + " must be " + allowed + ", got '" + v + "'");
}

int env_choice(const char* name, int dflt, int a, int b) { return env_one_of(name, dflt, {a, b}); }

int env_int_range(const char* name, int dflt, int lo, int hi) {
  const char* e = std::getenv(name);
  if (!e) return dflt;
  const std::string v = e;
  // the whole string, decimal, no sign, space or leading zero (as env_one_of takes it)
  bool ok = !v.empty() && v.size() <= 9 && (v == "0" || v[0] != '0');
  for (const char ch : v) ok = ok && ch >= '0' && ch <= '9';
  const int m = ok ? std::stoi(v) : -1;
  if (!ok || m < lo || m > hi)
    throw std::runtime_error(std::string("ghostkv cuda: ") + name + " must be an integer from " + std::to_string(lo) + " to " +
                             std::to_string(hi) + ", got '" + v + "'");
  return m;
}

}  // namespace ghostkv::cuda
