// Vectorised float32 kernels (include/ghostkv/cpu/fast.h): a scalar body and an AVX2 + FMA + F16C body
// per kernel, picked at run time. The AVX2 bodies are compiled with a target pragma, so the library
// needs no -march flag and runs unchanged on machines without AVX2.
// Never compiled with fast-math: the scans' soundness relies on IEEE rounding (docs/math.md §4).
#include "ghostkv/cpu/fast.h"

#include "cpu/fast_internal.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ghostkv/error.h"
#include "ghostkv/half.h"

#if defined(__x86_64__) || defined(__i386__)
#define GKV_X86 1
#include <immintrin.h>
#else
#define GKV_X86 0
#endif

namespace ghostkv::cpu {

namespace {

std::atomic<bool> g_force_scalar{false};

// attention's software prefetch (set_prefetch_distance): N > 0 rows ahead of the token being scored;
// kPrefetchBlock: the whole next block at each block start; kPrefetchNext (the default): the next block's K
// and V rows spread over this block's V pass; kPrefetchNextV (internal, dense attention under kPrefetchNext):
// the next block's V rows only (contiguous K rows are followed by the hardware prefetcher, the V pass's
// column-chunk order is not)
constexpr int64_t kPrefetchBlock = -1, kPrefetchNext = -2, kPrefetchNextV = -3;

// GHOSTKV_PREFETCH=N|block|next sets the initial mode (N = 0: off); GHOSTKV_NO_PREFETCH=1 turns it off;
// set_prefetch_distance overrides both.
std::atomic<int64_t> g_prefetch{[] {
  if (std::getenv("GHOSTKV_NO_PREFETCH")) return int64_t(0);
  const char* e = std::getenv("GHOSTKV_PREFETCH");
  if (!e || std::strcmp(e, "next") == 0) return kPrefetchNext;
  if (std::strcmp(e, "block") == 0) return kPrefetchBlock;
  return int64_t(std::max(0, std::atoi(e)));
}()};
inline int64_t prefetch_distance() { return g_prefetch.load(std::memory_order_relaxed); }

// sketch rows prefetched this many tokens ahead by the bf16 low-rank scan (GHOSTKV_LOWRANK_PREFETCH=N, 0 = off;
// 64-1024 measured alike on the 2-core EPYC, none 1.2x slower from DRAM)
const int64_t lowrank_ahead = [] {
  const char* e = std::getenv("GHOSTKV_LOWRANK_PREFETCH");
  return e ? int64_t(std::max(0, std::atoi(e))) : int64_t(128);
}();

// records prefetched this many tokens ahead by the integer scan (GHOSTKV_SCAN_PREFETCH=N, 0 = off)
const int64_t scan_ahead = [] {
  const char* e = std::getenv("GHOSTKV_SCAN_PREFETCH");
  return e ? int64_t(std::max(0, std::atoi(e))) : int64_t(16);
}();

bool cpu_has_avx2() {
#if GKV_X86
  __builtin_cpu_init();
  const char* env = std::getenv("GHOSTKV_SIMD");
  if (env && std::strcmp(env, "scalar") == 0) return false;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool use_avx2() {
  static const bool has = cpu_has_avx2();
  return has && !g_force_scalar.load(std::memory_order_relaxed);
}

std::atomic<bool> g_no_vnni{false};
// AVX-VNNI (vpdpwssd, VEX): used by the integer quant scan when present (GHOSTKV_NO_VNNI=1 or
// set_use_vnni(false) keeps vpmaddwd + vpaddd; the sums are the same exact integers)
bool use_avxvnni() {
#if GKV_X86 && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
  static const bool has = [] {
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avxvnni") && !std::getenv("GHOSTKV_NO_VNNI");
  }();
  return has && use_avx2() && !g_no_vnni.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

inline void store_bound(double* p, double s) { *p = std::isnan(s) ? INFINITY : s; }
inline void store_bound(float* p, double s) { *p = std::isnan(s) ? INFINITY : f32_round_up(s); }

// ---------------------------------------------------------------- scalar kernels
// One token of the low-rank scan (the definition the vector body reorders).
inline float lowrank_token(const LowRankRecords& rec, const float* qs, float nqs, const float* qb, int64_t t) {
  const int64_t r = rec.r, B = rec.blocks;
  const float* z = rec.sketch.data() + t * r;
  float acc = 0.0f;
  for (int64_t j = 0; j < r; ++j) acc += qs[j] * z[j];
  acc += nqs * f16_to_f32(rec.e[size_t(t)]);
  const uint16_t* rho = rec.rho.data() + t * B;
  for (int64_t b = 0; b < B; ++b) acc += qb[b] * f16_to_f32(rho[b]);
  return acc;
}

struct LowRankHead {
  const float* qs;
  float nqs;
  std::vector<float> qb;
  double add;
  float add32;  // RU_f(add), −0 made +0: the float32 epilogue's addend (add_up8)
};

std::vector<LowRankHead> lowrank_heads(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads) {
  std::vector<LowRankHead> hs(static_cast<size_t>(n_heads));
  for (int h = 0; h < n_heads; ++h) {
    hs[size_t(h)].qs = pq[h]->qs32.data();
    hs[size_t(h)].nqs = f32_round_up(pq[h]->nqs);
    hs[size_t(h)].qb.resize(size_t(rec.blocks));
    for (int64_t b = 0; b < rec.blocks; ++b) hs[size_t(h)].qb[size_t(b)] = f32_round_up(pq[h]->qb[size_t(b)]);
    hs[size_t(h)].add = pq[h]->const_term + pq[h]->slack32;
    hs[size_t(h)].add32 = f32_round_up(hs[size_t(h)].add) + 0.0f;
  }
  return hs;
}

template <class T>
void lowrank_scalar(const LowRankRecords& rec, const std::vector<LowRankHead>& hs, int64_t t0, int64_t t1,
                    int64_t tb, T* const* ub) {
  for (int64_t t = t0; t < t1; ++t)
    for (size_t h = 0; h < hs.size(); ++h) {
      const float acc = lowrank_token(rec, hs[h].qs, hs[h].nqs, hs[h].qb.data(), t);
      store_bound(ub[h] + (t - tb), double(acc) + hs[h].add);
    }
}

template <class T>
void quant_scalar(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                  int64_t tb, T* const* ub) {
  const int64_t d = rec.d;
  std::vector<float> m(static_cast<size_t>(d));
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t g = rec.group_of[size_t(t)];
    rec.decode_row(t, m.data());
    for (int h = 0; h < n_heads; ++h) {
      const float* w = pq[h]->w32.data() + g * d;
      float acc = 0.0f;
      for (int64_t j = 0; j < d; ++j) acc += w[j] * m[size_t(j)];
      store_bound(ub[h] + (t - tb), double(acc) + pq[h]->add32[size_t(g)]);
    }
  }
}

// Decoding plan of a quant record for 8 components at a time: lanes 0-3 read one unaligned 32-bit
// word at byte_lo, lanes 4-7 one at byte_hi; lane l takes (word >> shift_l) & mask_l, m = 2·code − bias.
struct QuantPlan {
  bool ok = false;
  bool all8 = false;        // every component 8 bits: a byte per component
  int64_t nb = 0;           // blocks of 8 components
  int64_t last_byte = 0;    // bytes a row's decode touches (rows whose reads pass the array end: scalar)
  std::vector<int32_t> byte_lo, byte_hi;
  std::vector<int32_t> shift, mask, bias;  // [nb * 8]
  // per block: 0 = the two-word decode above; 1 = eight byte-aligned 8-bit codes (one 8-byte widen);
  // 2 = eight byte-aligned codes of one width b ≤ 4 (one 32-bit word at byte_lo, lane l shifted by l·b)
  std::vector<uint8_t> kind;
};

QuantPlan make_plan(const QuantRecords& rec) {
  QuantPlan p;
  const int64_t d = rec.d;
  if (d % 8 != 0 || d == 0) return p;
  p.nb = d / 8;
  p.all8 = std::all_of(rec.bits.begin(), rec.bits.end(), [](int b) { return b == 8; });
  std::vector<int64_t> off(static_cast<size_t>(d) + 1, 0);
  for (int64_t j = 0; j < d; ++j) off[size_t(j) + 1] = off[size_t(j)] + rec.bits[size_t(j)];
  p.byte_lo.resize(size_t(p.nb));
  p.byte_hi.resize(size_t(p.nb));
  p.shift.resize(size_t(d));
  p.mask.resize(size_t(d));
  p.bias.resize(size_t(d));
  p.ok = true;
  for (int64_t k = 0; k < p.nb; ++k) {
    for (int half = 0; half < 2; ++half) {
      const int64_t j0 = 8 * k + 4 * half;
      const int64_t base = off[size_t(j0)] / 8;
      (half ? p.byte_hi : p.byte_lo)[size_t(k)] = int32_t(base);
      p.last_byte = std::max(p.last_byte, base + 4);
      for (int64_t j = j0; j < j0 + 4; ++j) {
        const int b = rec.bits[size_t(j)];
        const int64_t s = off[size_t(j)] - 8 * base;
        if (s + b > 32) p.ok = false;
        p.shift[size_t(j)] = int32_t(s);
        p.mask[size_t(j)] = b ? int32_t((1u << b) - 1) : 0;
        p.bias[size_t(j)] = b ? int32_t((1u << b) - 1) : 0;
      }
    }
  }
  p.kind.assign(size_t(p.nb), 0);
  for (int64_t k = 0; k < p.nb; ++k) {
    const int b = rec.bits[size_t(8 * k)];
    bool same = off[size_t(8 * k)] % 8 == 0;
    for (int64_t j = 8 * k; j < 8 * k + 8; ++j) same = same && rec.bits[size_t(j)] == b;
    if (!same || b == 0) continue;
    if (b == 8) {
      p.kind[size_t(k)] = 1;
      p.last_byte = std::max<int64_t>(p.last_byte, p.byte_lo[size_t(k)] + 8);
    } else if (b <= 4) {
      p.kind[size_t(k)] = 2;
      for (int l = 0; l < 8; ++l) p.shift[size_t(8 * k + l)] = int32_t(l * b);
    }
  }
  if (p.all8) p.last_byte = d;
  return p;
}

// ---------------------------------------------------------------- integer quantized scan: plan
// A record's components as byte-aligned runs of one width b ∈ {1, 2, 4, 8} (zero-bit components carry
// no bits and are skipped), cut into chunks of ≤ 16 bytes. Byte l of a chunk (a 16-bit lane after the
// widen) holds 8/b fields, field f = bits [f·b, f·b + b) = the code of component perm[(field0 + f)·16 + l].
// Every (chunk, field) is one 16-lane int16 weight vector per head; lanes of no component weigh 0, so
// the bytes a 16-byte load reads past a chunk (the next chunk, the next row, padding bits) add nothing.
struct I16Plan {
  bool ok = false;
  struct Chunk {
    int32_t byte_off, bits, field0;
  };
  std::vector<Chunk> chunks;
  int64_t n_fields = 0;
  std::vector<int32_t> perm;  // [n_fields · 16] component of each weight lane; d (a zero slot) = none
  std::vector<double> bmax;   // [d] 2^b_j − 1
  // The weight build works in "float order": in each block of 16 lanes, float position q = 8u + e holds
  // lane (e / 4)·8 + 4u + e % 4, so that packing the two 8-float halves (vpackssdw) yields the lanes in
  // order. fperm [n_fields·16]: component at each float position (d = none, weighs 0); fbmax, fbmaxf:
  // 2^b − 1 there (0 for none); lbmax16 [n_fields·16]: 2^b − 1 of each lane, as int16.
  std::vector<int32_t> fperm;
  std::vector<double> fbmax;
  std::vector<float> fbmaxf;
  std::vector<int16_t> lbmax16;
  bool nibbles = false;       // every chunk 16 bytes of 4-bit codes: lanes of field 0/1 = even/odd components
  // the chunks as runs of one width, chunk k of a run at byte0 + 16k with fields field0 + (8/bits)·k
  struct Run {
    int32_t bits, byte0, field0, n;
  };
  std::vector<Run> runs;
  int64_t last_byte = 0;      // bytes past a row's start that its 16-byte loads touch
  int32_t wmax = 0;           // |wi| ≤ wmax keeps Σ_j |wi_j|·(2^b_j − 1) < 2^31 (no int32 overflow)
  int k = 0;                  // s = 2^(ilogb(M) − k): M/s < 2^(k+1) ≤ wmax + 1
};

I16Plan make_i16_plan(const QuantRecords& rec) {
  I16Plan p;
  const int64_t d = rec.d;
  if (d <= 0 || int64_t(rec.bits.size()) != d) return p;
  int64_t bit = 0;
  double sum_b = 0;
  std::vector<std::pair<int, std::vector<int32_t>>> runs;  // (bits, components), each starting byte-aligned
  p.bmax.assign(size_t(d), 0.0);
  for (int64_t j = 0; j < d; ++j) {
    const int b = rec.bits[size_t(j)];
    if (b == 0) continue;
    if (b != 1 && b != 2 && b != 4 && b != 8) return p;
    if (runs.empty() || runs.back().first != b) {
      if (bit % 8 != 0) return p;
      runs.push_back({b, {}});
    }
    runs.back().second.push_back(int32_t(j));
    bit += b;
    p.bmax[size_t(j)] = double((1 << b) - 1);
    sum_b += p.bmax[size_t(j)];
  }
  if (runs.empty()) return p;
  int64_t byte = 0;
  for (const auto& [b, comps] : runs) {
    const int64_t per_byte = 8 / b, per_chunk = 16 * per_byte;
    for (int64_t c0 = 0; c0 < int64_t(comps.size()); c0 += per_chunk) {
      const int64_t nc = std::min<int64_t>(per_chunk, int64_t(comps.size()) - c0);
      p.chunks.push_back({int32_t(byte), b, int32_t(p.n_fields)});
      p.perm.resize(size_t((p.n_fields + per_byte) * 16), int32_t(d));
      for (int64_t x = 0; x < nc; ++x)
        p.perm[size_t((p.n_fields + x % per_byte) * 16 + x / per_byte)] = comps[size_t(c0 + x)];
      p.n_fields += per_byte;
      p.last_byte = std::max(p.last_byte, byte + 16);
      byte += (nc * b + 7) / 8;
    }
  }
  for (const I16Plan::Chunk& c : p.chunks) {
    if (!p.runs.empty()) {
      I16Plan::Run& r = p.runs.back();
      if (r.bits == c.bits && c.byte_off == r.byte0 + 16 * r.n && c.field0 == r.field0 + 8 / r.bits * r.n) {
        ++r.n;
        continue;
      }
    }
    p.runs.push_back({c.bits, c.byte_off, c.field0, 1});
  }
  const int64_t F16 = p.n_fields * 16;
  p.fperm.assign(size_t(F16), int32_t(d));
  p.fbmax.assign(size_t(F16), 0.0);
  p.fbmaxf.assign(size_t(F16), 0.0f);
  p.lbmax16.assign(size_t(F16), 0);
  for (int64_t x = 0; x < F16; ++x) {
    const int64_t q = x % 16, lane = x - q + (q % 8) / 4 * 8 + q / 8 * 4 + q % 4;
    const int32_t j = p.perm[size_t(lane)];
    p.fperm[size_t(x)] = j;
    if (j < d) p.fbmax[size_t(x)] = p.bmax[size_t(j)], p.fbmaxf[size_t(x)] = float(p.bmax[size_t(j)]);
    if (p.perm[size_t(x)] < d) p.lbmax16[size_t(x)] = int16_t(p.bmax[size_t(p.perm[size_t(x)])]);
  }
  p.nibbles = int64_t(p.perm.size()) == d && d % 32 == 0;
  for (int64_t x = 0; p.nibbles && x < d; ++x)
    p.nibbles = p.perm[size_t(x)] == (x / 32) * 32 + 2 * (x % 16) + (x / 16) % 2;
  const double wm = std::min(32767.0, std::floor((0x1p31 - 1) / sum_b));
  if (wm < 1) return p;
  p.wmax = int32_t(wm);
  p.k = 0;
  while ((int64_t(2) << (p.k + 1)) <= int64_t(p.wmax) + 1) ++p.k;  // 2^(k+1) ≤ wmax + 1
  p.ok = true;
  return p;
}

// Integer weights of one group for every head: w [n_heads][n_fields·16] int16; the bound of a token with
// raw-code dot product J = Σ wi·code is two_s·J + cadd (two_s = 2·s; cadd = add32 + D − s·K, rounded up,
// plus the rounding of that final float64 sum).
struct I16Slot {
  int64_t g = -1;
  bool finite = true;
  std::vector<int16_t> w;
  std::vector<double> two_s, cadd;
  // heads 0-3 in the layout of a pair's results [h0 a, h0 b, h1 a, h1 b, h2 a, h2 b, h3 a, h3 b]
  alignas(32) double pair_s[8] = {}, pair_c[8] = {};
};

// ---------------------------------------------------------------- AVX2 kernels
#if GKV_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

// [Σ v0, Σ v1, ..., Σ v7]
inline __m256 hsum8x8(const __m256* v) {
  const __m256 s01 = _mm256_hadd_ps(v[0], v[1]), s23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 s45 = _mm256_hadd_ps(v[4], v[5]), s67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 a = _mm256_hadd_ps(s01, s23), b = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 float32 sums + per-lane double addends → the stored bounds (NaN → +inf; float: rounded up)
inline __m256d nan_to_inf(__m256d x) {
  return _mm256_blendv_pd(x, _mm256_set1_pd(INFINITY), _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
}
inline void store8(double* out, __m256 sums, __m256d add_lo, __m256d add_hi) {
  const __m256d lo = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(sums)), add_lo);
  const __m256d hi = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(sums, 1)), add_hi);
  _mm256_storeu_pd(out, nan_to_inf(lo));
  _mm256_storeu_pd(out + 4, nan_to_inf(hi));
}
// smallest float ≥ x for 4 doubles (x not NaN)
inline __m128 round_up_ps(__m256d x) {
  const __m128 f = _mm256_cvtpd_ps(x);
  const __m256d back = _mm256_cvtps_pd(f);
  const __m128i below = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
      _mm256_castpd_si256(_mm256_cmp_pd(back, x, _CMP_LT_OQ)), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7)));
  // next float up: +1 ulp in the bit pattern for f ≥ 0, −1 for f < 0 (f = −0 cannot be below x here)
  const __m128i fi = _mm_castps_si128(f);
  const __m128i neg = _mm_srai_epi32(fi, 31);                 // −1 where f < 0
  const __m128i step = _mm_or_si128(neg, _mm_set1_epi32(1));  // +1 or −1
  return _mm_castsi128_ps(_mm_add_epi32(fi, _mm_and_si128(below, step)));
}
inline void store8(float* out, __m256 sums, __m256d add_lo, __m256d add_hi) {
  const __m256d lo = nan_to_inf(_mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(sums)), add_lo));
  const __m256d hi = nan_to_inf(_mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(sums, 1)), add_hi));
  _mm_storeu_ps(out, round_up_ps(lo));
  _mm_storeu_ps(out + 4, round_up_ps(hi));
}

// 8 consecutive sketch values of token t starting at component j, widened exactly to float32
inline __m256 load_sketch8(const LowRankRecords& rec, int64_t t, int64_t j, float scale) {
  const int64_t o = t * rec.r + j;
  switch (rec.storage) {
    case Storage::f32: return _mm256_loadu_ps(rec.sketch.data() + o);
    case Storage::bf16: {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rec.sketch_raw.data() + o));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    case Storage::f16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rec.sketch_raw.data() + o)));
    case Storage::int8: {
      const __m128i c = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rec.codes.data() + o));
      // exact: an f16 significand (11 bits) times a 7-bit integer
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c)), _mm256_set1_ps(scale));
    }
  }
  return _mm256_setzero_ps();
}

inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The low-rank scans' float32 epilogue (docs/cpu_fast_path.md §2): the next float above fl32(s + a), which is
// ≥ s + a exactly (a float ≥ the double addend, never −0, so fl32(s + a) is never −0); NaN and +inf → +inf.
// One add, an integer ±1 on the bits (+1 for y ≥ +0, −1 for y < 0) and a blend, instead of two float64
// conversions and an exact round-up per 4 lanes.
inline __m256 add_up8(__m256 s, __m256 a) {
  const __m256 y = _mm256_add_ps(s, a);
  const __m256i b = _mm256_castps_si256(y);
  const __m256i step = _mm256_or_si256(_mm256_srai_epi32(b, 31), _mm256_set1_epi32(1));
  const __m256 up = _mm256_castsi256_ps(_mm256_add_epi32(b, step));
  return _mm256_blendv_ps(up, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(y, _mm256_set1_ps(INFINITY), _CMP_NLT_UQ));
}
// the bounds of cnt ≤ 8 tokens of one head from the float32 sums s
inline void store_lowrank8(double* out, int64_t cnt, __m256 s, const LowRankHead& hd) {
  const __m256d add = _mm256_set1_pd(hd.add);
  if (cnt == 8) return store8(out, s, add, add);
  alignas(32) double tmp[8];
  store8(tmp, s, add, add);
  for (int64_t tk = 0; tk < cnt; ++tk) out[tk] = tmp[tk];
}
inline void store_lowrank8(float* out, int64_t cnt, __m256 s, const LowRankHead& hd) {
  const __m256 u = add_up8(s, _mm256_set1_ps(hd.add32));
  if (cnt == 8) return _mm256_storeu_ps(out, u);
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, u);
  for (int64_t tk = 0; tk < cnt; ++tk) out[tk] = tmp[tk];
}

// Tokens are taken 8 at a time; a last partial batch repeats its last token and stores only the real
// ones, so every token's bound is the same whatever span [t0, t1) it is scanned in.
template <class T>
void lowrank_avx2(const LowRankRecords& rec, const std::vector<LowRankHead>& hs, int64_t t0, int64_t t1,
                  T* const* ub) {
  const int64_t r = rec.r, B = rec.blocks, R = r / 8;
  const int H = int(hs.size());
  std::vector<float> zbuf(static_cast<size_t>(8 * r));
  alignas(32) uint16_t ebuf[8], rbuf[8];
  int64_t tt[8];
  for (int64_t t = t0; t < t1; t += 8) {
    const int64_t cnt = std::min<int64_t>(8, t1 - t);
    for (int tk = 0; tk < 8; ++tk) tt[tk] = t + std::min<int64_t>(tk, cnt - 1);
    for (int tk = 0; tk < 8; ++tk) {
      const float sc = rec.storage == Storage::int8 ? f16_to_f32(rec.scale[size_t(tt[tk])]) : 0.0f;
      for (int64_t k = 0; k < R; ++k) _mm256_storeu_ps(zbuf.data() + tk * r + 8 * k, load_sketch8(rec, tt[tk], 8 * k, sc));
      ebuf[tk] = rec.e[size_t(tt[tk])];
    }
    const __m256 e = load_f16x8(ebuf);
    __m256 rho[8];
    const int64_t Bv = std::min<int64_t>(B, 8);
    for (int64_t b = 0; b < Bv; ++b) {
      for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rec.rho[size_t(tt[tk] * B + b)];
      rho[b] = load_f16x8(rbuf);
    }
    for (int h = 0; h < H; ++h) {
      const LowRankHead& hd = hs[size_t(h)];
      __m256 acc[8];
      for (int tk = 0; tk < 8; ++tk) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(hd.qs), _mm256_loadu_ps(zbuf.data() + tk * r));
        for (int64_t k = 1; k < R; ++k)
          a = _mm256_fmadd_ps(_mm256_loadu_ps(hd.qs + 8 * k), _mm256_loadu_ps(zbuf.data() + tk * r + 8 * k), a);
        acc[tk] = a;
      }
      __m256 s = hsum8x8(acc);
      s = _mm256_fmadd_ps(_mm256_set1_ps(hd.nqs), e, s);
      for (int64_t b = 0; b < B; ++b) {
        __m256 rb;
        if (b < Bv) {
          rb = rho[b];
        } else {
          for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rec.rho[size_t(tt[tk] * B + b)];
          rb = load_f16x8(rbuf);
        }
        s = _mm256_fmadd_ps(_mm256_set1_ps(hd.qb[size_t(b)]), rb, s);
      }
      store_lowrank8(ub[h] + (t - t0), cnt, s, hd);
    }
  }
}

// decode 8 components (block k) of a row into m (exact small odd integers as float32)
inline __m256 decode8(const QuantPlan& p, const uint8_t* row, int64_t k) {
  __m256i c;
  if (p.all8) {
    c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * k)));
    c = _mm256_sub_epi32(_mm256_slli_epi32(c, 1), _mm256_set1_epi32(255));
    return _mm256_cvtepi32_ps(c);
  }
  const uint8_t kind = p.kind[size_t(k)];
  if (kind == 1) {
    c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + p.byte_lo[size_t(k)])));
    c = _mm256_sub_epi32(_mm256_slli_epi32(c, 1), _mm256_set1_epi32(255));
    return _mm256_cvtepi32_ps(c);
  }
  if (kind == 2) {
    int32_t word;
    std::memcpy(&word, row + p.byte_lo[size_t(k)], 4);
    const __m256i sh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.shift.data() + 8 * k));
    const __m256i mk = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.mask.data() + 8 * k));
    const __m256i bi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias.data() + 8 * k));
    c = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(word), sh), mk);
    c = _mm256_sub_epi32(_mm256_slli_epi32(c, 1), bi);
    return _mm256_cvtepi32_ps(c);
  }
  int32_t lo, hi;
  std::memcpy(&lo, row + p.byte_lo[size_t(k)], 4);
  std::memcpy(&hi, row + p.byte_hi[size_t(k)], 4);
  const __m256i w = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi32(lo)), _mm_set1_epi32(hi), 1);
  const __m256i sh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.shift.data() + 8 * k));
  const __m256i mk = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.mask.data() + 8 * k));
  const __m256i bi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias.data() + 8 * k));
  c = _mm256_and_si256(_mm256_srlv_epi32(w, sh), mk);
  c = _mm256_sub_epi32(_mm256_slli_epi32(c, 1), bi);
  return _mm256_cvtepi32_ps(c);
}

template <int HN>
inline void quant_pair_dot(const QuantPlan& p, const QuantQuery* const* pq, const uint8_t* ra, const uint8_t* rb, bool sa,
                           bool sb, const float* mrow, int64_t d, int64_t ga, int64_t gb, __m256* out) {
  __m256 acc[2 * HN];
  for (int i = 0; i < 2 * HN; ++i) acc[i] = _mm256_setzero_ps();
  const float* wa[HN];
  const float* wb[HN];
  for (int h = 0; h < HN; ++h) wa[h] = pq[h]->w32.data() + ga * d, wb[h] = pq[h]->w32.data() + gb * d;
  const bool same = ga == gb;
  for (int64_t k = 0; k < p.nb; ++k) {
    const __m256 ma = sa ? decode8(p, ra, k) : _mm256_loadu_ps(mrow + 8 * k);
    const __m256 mb = sb ? decode8(p, rb, k) : _mm256_loadu_ps(mrow + d + 8 * k);
    for (int h = 0; h < HN; ++h) {
      const __m256 w0 = _mm256_loadu_ps(wa[h] + 8 * k);
      const __m256 w1 = same ? w0 : _mm256_loadu_ps(wb[h] + 8 * k);
      acc[2 * h] = _mm256_fmadd_ps(w0, ma, acc[2 * h]);
      acc[2 * h + 1] = _mm256_fmadd_ps(w1, mb, acc[2 * h + 1]);
    }
  }
  for (int i = 0; i < 8; ++i) out[i] = i < 2 * HN ? acc[i] : _mm256_setzero_ps();
}

inline void store_one(double* p, double s) { *p = std::isnan(s) ? INFINITY : s; }
inline void store_one(float* p, double s) {
  if (std::isnan(s)) {
    *p = INFINITY;
    return;
  }
  float f = float(s);
  if (double(f) < s) f = std::nextafter(f, INFINITY);
  *p = f;
}

// Two tokens × up to four heads per pass: each token's codes are decoded once per pass straight into
// registers, each weight chunk is loaded once for both tokens when they share a group, and every
// (head, token) sum is one FMA chain over the blocks followed by the same 8-lane reduction, so a
// token's bound does not depend on its partner or on the span it is scanned in.
// The common preamble of the quant scans over tokens [t0, t1):
//   safe_end: rows below it can be read with 32-bit loads up to byte `last_byte` of the row without
//   passing the end of the code array (later rows go through a zero-padded copy or the scalar decoder);
//   GroupCursor: the group of each token, by a running pointer over group_start when it describes
//   contiguous groups (tokens visited in ascending order), group_of otherwise (views of fetched rows).
inline int64_t safe_end(const QuantRecords& rec, int64_t last_byte, int64_t t0, int64_t t1) {
  int64_t t_safe = t1;
  while (t_safe > t0 && (t_safe - 1) * rec.code_bytes + last_byte > int64_t(rec.codes.size())) --t_safe;
  return t_safe;
}
struct GroupCursor {
  const QuantRecords& rec;
  bool runs;
  int64_t g;
  GroupCursor(const QuantRecords& r, int64_t t0, int64_t t1)
      : rec(r),
        runs(r.n_groups > 0 && int64_t(r.group_start.size()) == r.n_groups + 1 &&
             r.group_start[size_t(r.n_groups)] == r.n && t1 <= r.n),
        g(t0 < t1 ? r.group_of[size_t(t0)] : 0) {}
  int64_t operator()(int64_t t) {
    if (!runs) return rec.group_of[size_t(t)];
    while (t >= rec.group_start[size_t(g + 1)]) ++g;
    return g;
  }
};

template <class T>
void quant_avx2(const QuantRecords& rec, const QuantPlan& p, const QuantQuery* const* pq, int n_heads, int64_t t0,
                int64_t t1, T* const* ub) {
  const int64_t d = rec.d, cb = rec.code_bytes;
  // rows whose 32-bit reads could pass the end of the code array are decoded by the scalar decoder
  const int64_t t_safe = safe_end(rec, p.last_byte, t0, t1);
  std::vector<float> mrow(static_cast<size_t>(2 * d));
  GroupCursor group_of(rec, t0, t1);
  alignas(32) float sums[8];
  for (int64_t t = t0; t < t1; t += 2) {
    const int64_t ta = t, tb = std::min(t + 1, t1 - 1);
    const int64_t ga = group_of(ta), gb = group_of(tb);
    const bool sa = ta < t_safe, sb = tb < t_safe;
    const uint8_t* ra = rec.codes.data() + ta * cb;
    const uint8_t* rb = rec.codes.data() + tb * cb;
    if (!sa) rec.decode_row(ta, mrow.data());
    if (!sb) rec.decode_row(tb, mrow.data() + d);
    for (int h0 = 0; h0 < n_heads; h0 += 4) {
      const int hn = std::min(4, n_heads - h0);
      __m256 acc[8];
      switch (hn) {  // a compile-time head count keeps the eight accumulators in registers
        case 1: quant_pair_dot<1>(p, pq + h0, ra, rb, sa, sb, mrow.data(), d, ga, gb, acc); break;
        case 2: quant_pair_dot<2>(p, pq + h0, ra, rb, sa, sb, mrow.data(), d, ga, gb, acc); break;
        case 3: quant_pair_dot<3>(p, pq + h0, ra, rb, sa, sb, mrow.data(), d, ga, gb, acc); break;
        default: quant_pair_dot<4>(p, pq + h0, ra, rb, sa, sb, mrow.data(), d, ga, gb, acc); break;
      }
      _mm256_store_ps(sums, hsum8x8(acc));
      for (int h = 0; h < hn; ++h) {
        const double* ad = pq[h0 + h]->add32.data();
        store_one(ub[h0 + h] + (ta - t0), double(sums[2 * h]) + ad[ga]);
        if (tb != ta) store_one(ub[h0 + h] + (tb - t0), double(sums[2 * h + 1]) + ad[gb]);
      }
    }
  }
}

// Variant: the 8 tokens' codes decoded once into a row buffer, then each head's 8 dot products read it
// (fewer live registers than the pair kernel; faster where decoding is one widen, as for all-int8 codes).
template <class T>
void quant_avx2_rows(const QuantRecords& rec, const QuantPlan& p, const QuantQuery* const* pq, int n_heads, int64_t t0,
                int64_t t1, T* const* ub) {
  const int64_t d = rec.d, cb = rec.code_bytes;
  // rows whose 32-bit reads could pass the end of the code array are decoded by the scalar decoder
  // (the values are exact integers either way; the dot product below is the same for every token)
  const int64_t t_safe = safe_end(rec, p.last_byte, t0, t1);
  std::vector<float> mbuf(static_cast<size_t>(8 * d));
  GroupCursor group_of(rec, t0, t1);
  int64_t gt[8], tt[8];
  alignas(32) T tmp[8];
  for (int64_t t = t0; t < t1; t += 8) {
    const int64_t cnt = std::min<int64_t>(8, t1 - t);
    for (int tk = 0; tk < 8; ++tk) {
      tt[tk] = t + std::min<int64_t>(tk, cnt - 1);
      gt[tk] = group_of(tt[tk]);
      if (tk < cnt) {
        if (tt[tk] < t_safe) {
          const uint8_t* row = rec.codes.data() + tt[tk] * cb;
          for (int64_t k = 0; k < p.nb; ++k) _mm256_storeu_ps(mbuf.data() + tk * d + 8 * k, decode8(p, row, k));
        } else {
          rec.decode_row(tt[tk], mbuf.data() + tk * d);
        }
      } else {
        std::memcpy(mbuf.data() + tk * d, mbuf.data() + (cnt - 1) * d, size_t(d) * sizeof(float));
      }
    }
    for (int h = 0; h < n_heads; ++h) {
      const float* w0 = pq[h]->w32.data();
      __m256 acc[8];
      for (int tk = 0; tk < 8; ++tk) {
        const float* w = w0 + gt[tk] * d;
        const float* m = mbuf.data() + tk * d;
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(w), _mm256_loadu_ps(m));
        __m256 a1 = _mm256_setzero_ps();
        int64_t k = 1;
        for (; k + 1 < p.nb; k += 2) {
          a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8 * k), _mm256_loadu_ps(m + 8 * k), a1);
          a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8 * k + 8), _mm256_loadu_ps(m + 8 * k + 8), a0);
        }
        if (k < p.nb) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8 * k), _mm256_loadu_ps(m + 8 * k), a1);
        acc[tk] = _mm256_add_ps(a0, a1);
      }
      const __m256 s = hsum8x8(acc);
      const double* ad = pq[h]->add32.data();
      const __m256d lo = _mm256_setr_pd(ad[gt[0]], ad[gt[1]], ad[gt[2]], ad[gt[3]]);
      const __m256d hi = _mm256_setr_pd(ad[gt[4]], ad[gt[5]], ad[gt[6]], ad[gt[7]]);
      if (cnt == 8) {
        store8(ub[h] + (t - t0), s, lo, hi);
      } else {
        store8(tmp, s, lo, hi);
        for (int64_t tk = 0; tk < cnt; ++tk) ub[h][t - t0 + tk] = tmp[tk];
      }
    }
  }
}

int64_t compact_avx2(const float* const* ub, const float* thr, int n_heads, int64_t n, int64_t t0, int64_t* idx) {
  int64_t cnt = 0, c = 0;
  for (; c + 8 <= n; c += 8) {
    __m256 keep = _mm256_setzero_ps();
    for (int h = 0; h < n_heads; ++h)
      keep = _mm256_or_ps(keep, _mm256_cmp_ps(_mm256_loadu_ps(ub[h] + c), _mm256_set1_ps(thr[h]), _CMP_NLT_UQ));
    unsigned bits = unsigned(_mm256_movemask_ps(keep));
    while (bits) {
      idx[cnt++] = t0 + c + __builtin_ctz(bits);
      bits &= bits - 1;
    }
  }
  for (; c < n; ++c) {
    bool keep = false;
    for (int h = 0; h < n_heads; ++h) keep |= !(ub[h][c] < thr[h]);
    if (keep) idx[cnt++] = t0 + c;
  }
  return cnt;
}

// e^x for x ≤ 0 (x < −87.3 → ≈ 1.2e-38, −inf → 0): range reduction by ln 2 (two-part constant),
// degree-6 polynomial; ≤ 2 ulp relative on the normal range.
inline __m256 exp_ps(__m256 x) {
  const __m256 ninf = _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(ninf, y);
}

inline __m256 load_kv8(const void* base, KvType type, int64_t off) {
  switch (type) {
    case KvType::f32: return _mm256_loadu_ps(static_cast<const float*>(base) + off);
    case KvType::f16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + off)));
    case KvType::bf16: {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + off));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
  return _mm256_setzero_ps();
}

constexpr int64_t kBlock = 64;

// GHOSTKV_PREFETCH_HINT=t0|t1|nta (A/B of the cache level the gathered rows are prefetched into)
int prefetch_hint() {
  static const int hint = [] {
    const char* e = std::getenv("GHOSTKV_PREFETCH_HINT");
    return e && std::strcmp(e, "t1") == 0 ? 1 : e && std::strcmp(e, "nta") == 0 ? 2 : 0;
  }();
  return hint;
}

// One block of the online softmax: sh[x] ← e^{sh[x] − mx} for x < bn (mx ≥ every sh[x] and ≥ m), l ←
// l·e^{m − mx} + Σ_x sh[x], m ← mx; returns e^{m_old − mx} (0 when m_old = −inf), the factor by which the
// running output must be rescaled.
inline float softmax_block(float* sh, int64_t bn, float mx, float& m, float& l) {
  const float scale = m == -INFINITY ? 0.0f : std::exp(m - mx);
  m = mx;
  __m256 lsum = _mm256_setzero_ps();
  int64_t x = 0;
  for (; x + 8 <= bn; x += 8) {
    const __m256 w = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(sh + x), _mm256_set1_ps(mx)));
    _mm256_storeu_ps(sh + x, w);
    lsum = _mm256_add_ps(lsum, w);
  }
  float ls = hsum(lsum);
  for (; x < bn; ++x) ls += (sh[x] = std::exp(sh[x] - mx));
  l = l * scale + ls;
  return scale;
}

// softmax_block for HN heads at once (head h's scores at s + h·stride), the same results per head: block
// max (max_ps returns its second operand when either is NaN: a NaN score is skipped, as by std::max), then
// the weights with the HN heads' exp_ps chains interleaved; scale[h] = e^{m_old − m_new} (1 when the max
// did not move, 0 when m_old = −inf).
template <int HN>
inline void softmax_block_heads(float* s, int64_t stride, int64_t bn, float* m, float* l, float* scale) {
  __m256 mv[HN], lsum[HN];
  float mx[HN];
  for (int h = 0; h < HN; ++h) mv[h] = _mm256_set1_ps(m[h]), lsum[h] = _mm256_setzero_ps();
  int64_t x = 0;
  for (; x + 8 <= bn; x += 8)
    for (int h = 0; h < HN; ++h) mv[h] = _mm256_max_ps(_mm256_loadu_ps(s + h * stride + x), mv[h]);
  for (int h = 0; h < HN; ++h) {
    mx[h] = hmax(mv[h]);
    for (int64_t y = x; y < bn; ++y) mx[h] = std::max(mx[h], s[h * stride + y]);
    scale[h] = m[h] == -INFINITY ? 0.0f : m[h] == mx[h] ? 1.0f : std::exp(m[h] - mx[h]);
    m[h] = mx[h];
  }
  for (x = 0; x + 8 <= bn; x += 8)
    for (int h = 0; h < HN; ++h) {
      float* sh = s + h * stride + x;
      const __m256 w = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(sh), _mm256_set1_ps(mx[h])));
      _mm256_storeu_ps(sh, w);
      lsum[h] = _mm256_add_ps(lsum[h], w);
    }
  for (int h = 0; h < HN; ++h) {
    float ls = hsum(lsum[h]);
    for (int64_t y = x; y < bn; ++y) ls += (s[h * stride + y] = std::exp(s[h * stride + y] - mx[h]));
    l[h] = l[h] * scale[h] + ls;
  }
}

// Prefetches the K and V rows of token `row` (every cache line), hint 0: T0, 1: T1, 2: NTA.
inline void prefetch_kv_row(const KvView& kv, int64_t row, int64_t esz, int64_t row_bytes, int hint) {
  const int64_t off = row * kv.stride * esz;
  const char* kp = static_cast<const char*>(kv.k) + off;
  const char* vp = static_cast<const char*>(kv.v) + off;
  for (int64_t by = 0; by < row_bytes; by += 64) {
    if (hint == 1) {
      _mm_prefetch(kp + by, _MM_HINT_T1);
      _mm_prefetch(vp + by, _MM_HINT_T1);
    } else if (hint == 2) {
      _mm_prefetch(kp + by, _MM_HINT_NTA);
      _mm_prefetch(vp + by, _MM_HINT_NTA);
    } else {
      _mm_prefetch(kp + by, _MM_HINT_T0);
      _mm_prefetch(vp + by, _MM_HINT_T0);
    }
  }
}

void attend_avx2(const float* q, int H, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* out) {
  const int64_t nb = d / 8;
  std::vector<float> s(static_cast<size_t>(H * kBlock)), o(static_cast<size_t>(H * d), 0.0f), m(static_cast<size_t>(H), -INFINITY), l(static_cast<size_t>(H), 0.0f);
  std::vector<float> kbuf(static_cast<size_t>(8 * d));
  const int64_t esz = kv_type_bytes(kv.type), row_bytes = d * esz;
  auto prefetch_block = [&](int64_t nb0) {  // gathered rows of the next block: K and V, every cache line
    const int64_t nn = std::min(kBlock, n - nb0);
    for (int64_t x = 0; x < nn; ++x) {
      const int64_t off = idx[nb0 + x] * kv.stride * esz;
      for (int64_t by = 0; by < row_bytes; by += 64) {
        _mm_prefetch(static_cast<const char*>(kv.k) + off + by, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(kv.v) + off + by, _MM_HINT_T0);
      }
    }
  };
  // gathered rows: prefetched `dist` tokens ahead of the token being scored (K and V, every cache line)
  const int64_t dist = prefetch_distance();
  const int hint = prefetch_hint();
  auto prefetch_rows = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < std::min(i1, n); ++i) prefetch_kv_row(kv, idx[i], esz, row_bytes, hint);
  };
  if (idx && n > 0) {
    if (dist < 0) prefetch_block(0);
    else if (dist > 0) prefetch_rows(0, dist);
  }
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t bn = std::min(kBlock, n - b0);
    if (dist < 0 && idx && b0 + kBlock < n) prefetch_block(b0 + kBlock);
    // scores of the block for every head: 8 tokens at a time, K converted once per token
    for (int64_t x = 0; x < bn; x += 8) {
      const int64_t xn = std::min<int64_t>(8, bn - x);
      if (dist > 0 && idx) prefetch_rows(b0 + x + dist, b0 + x + dist + 8);
      for (int64_t tk = 0; tk < 8; ++tk) {
        const int64_t t = tk < xn ? (idx ? idx[b0 + x + tk] : b0 + x + tk) : -1;
        for (int64_t k = 0; k < nb; ++k)
          _mm256_storeu_ps(kbuf.data() + tk * d + 8 * k,
                           t >= 0 ? load_kv8(kv.k, kv.type, t * kv.stride + 8 * k) : _mm256_setzero_ps());
      }
      for (int h = 0; h < H; ++h) {
        const float* qh = q + h * d;
        __m256 acc[8];
        for (int tk = 0; tk < 8; ++tk) acc[tk] = _mm256_setzero_ps();
        for (int64_t k = 0; k < nb; ++k) {  // one q chunk serves the 8 tokens
          const __m256 qk = _mm256_loadu_ps(qh + 8 * k);
          for (int tk = 0; tk < 8; ++tk) acc[tk] = _mm256_fmadd_ps(qk, _mm256_loadu_ps(kbuf.data() + tk * d + 8 * k), acc[tk]);
        }
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, hsum8x8(acc));
        for (int64_t tk = 0; tk < xn; ++tk) s[size_t(h * kBlock + x + tk)] = tmp[tk];
      }
    }
    // per head: new max, rescale, weights
    for (int h = 0; h < H; ++h) {
      float* sh = s.data() + h * kBlock;
      float mx = m[size_t(h)];
      for (int64_t x = 0; x < bn; ++x) mx = std::max(mx, sh[x]);
      const float scale = softmax_block(sh, bn, mx, m[size_t(h)], l[size_t(h)]);
      if (scale != 1.0f) {
        float* oh = o.data() + h * d;
        for (int64_t k = 0; k < nb; ++k)
          _mm256_storeu_ps(oh + 8 * k, _mm256_mul_ps(_mm256_loadu_ps(oh + 8 * k), _mm256_set1_ps(scale)));
      }
    }
    // o_h += Σ w_ht v_t: per pair of 8-column chunks, up to 4 heads' accumulators stay in registers while
    // the block's V rows (L1-resident after the first chunk) stream past; one V load serves every head
    int64_t trow[kBlock];
    for (int64_t x = 0; x < bn; ++x) trow[x] = (idx ? idx[b0 + x] : b0 + x) * kv.stride;
    for (int h0 = 0; h0 < H; h0 += 4) {
      const int hn = std::min(4, H - h0);
      const float* w0 = s.data() + h0 * kBlock;
      for (int64_t k = 0; k < nb; k += 2) {
        const bool two = k + 1 < nb;
        __m256 a0[4], a1[4];
        for (int h = 0; h < 4; ++h) a0[h] = a1[h] = _mm256_setzero_ps();
        for (int64_t x = 0; x < bn; ++x) {
          const __m256 v0 = load_kv8(kv.v, kv.type, trow[x] + 8 * k);
          const __m256 v1 = two ? load_kv8(kv.v, kv.type, trow[x] + 8 * k + 8) : _mm256_setzero_ps();
          for (int h = 0; h < hn; ++h) {
            const __m256 wv = _mm256_broadcast_ss(w0 + h * kBlock + x);
            a0[h] = _mm256_fmadd_ps(wv, v0, a0[h]);
            a1[h] = _mm256_fmadd_ps(wv, v1, a1[h]);
          }
        }
        for (int h = 0; h < hn; ++h) {
          float* oh = o.data() + (h0 + h) * d + 8 * k;
          _mm256_storeu_ps(oh, _mm256_add_ps(_mm256_loadu_ps(oh), a0[h]));
          if (two) _mm256_storeu_ps(oh + 8, _mm256_add_ps(_mm256_loadu_ps(oh + 8), a1[h]));
        }
      }
    }
  }
  for (int h = 0; h < H; ++h) {
    const float inv = l[size_t(h)] > 0 ? 1.0f / l[size_t(h)] : 0.0f;
    for (int64_t j = 0; j < d; ++j) out[h * d + j] = o[size_t(h * d + j)] * inv;
  }
}

// ---- attention for d % 16 == 0: K, V in the pair layout, 2 tokens × up to 4 heads per pass ----
// 16 values of a row from column 16c as two float32 vectors, exactly widened, in the "pair layout": bf16
// lo = the even columns, hi = the odd ones (one 256-bit load, a shift and a mask: no cross-lane work);
// f16 / f32 lo = columns 0-7, hi = 8-15. q is permuted into the same layout once per call, o accumulated
// in it and permuted back at the end; a dot product only changes its summation order.
// The value in a register: GCC otherwise folds the bf16 row's load into both the shift and the mask (two
// 256-bit loads of the same 32 bytes per 16 columns).
inline __m256i in_reg(__m256i x) {
  __asm__("" : "+x"(x));
  return x;
}

template <KvType TY>
inline void load_kv16(const void* base, int64_t off, __m256& lo, __m256& hi) {
  if constexpr (TY == KvType::bf16) {
      const __m256i x = in_reg(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + off)));
      lo = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
      hi = _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(int(0xFFFF0000u))));
  } else if constexpr (TY == KvType::f16) {
      const uint16_t* p = static_cast<const uint16_t*>(base) + off;
      lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  } else {
      const float* p = static_cast<const float*>(base) + off;
      lo = _mm256_loadu_ps(p);
      hi = _mm256_loadu_ps(p + 8);
  }
}
// column of position i (0..15) of a 16-column chunk in the pair layout
inline int64_t pair_col(KvType type, int64_t i) { return type == KvType::bf16 ? (i < 8 ? 2 * i : 2 * (i - 8) + 1) : i; }

constexpr int64_t kBlock16 = 32;

// scores of tokens ta, tb (rows at element offsets) for HN heads (qp: HN rows of d floats, pair layout):
// r01 = [h0 a, h0 b, h1 a, h1 b], r23 = the same for heads 2, 3 (set when HN > 2)
template <KvType TY, int HN>
inline void score_pair(const float* qp, int64_t d, const KvView& kv, int64_t oa, int64_t ob, __m128& r01, __m128& r23) {
  // 2·HN chains (HN ≤ 2: lo and hi columns in separate chains, 4·HN) so that FMA latency stays hidden
  constexpr bool split = HN <= 2;
  __m256 acc[8], acc_hi[4];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) acc_hi[i] = _mm256_setzero_ps();
  for (int64_t c = 0; c < d; c += 16) {
    __m256 alo, ahi, blo, bhi;
    load_kv16<TY>(kv.k, oa + c, alo, ahi);
    load_kv16<TY>(kv.k, ob + c, blo, bhi);
    for (int h = 0; h < HN; ++h) {
      const __m256 ql = _mm256_loadu_ps(qp + h * d + c), qh = _mm256_loadu_ps(qp + h * d + c + 8);
      acc[2 * h] = _mm256_fmadd_ps(ql, alo, acc[2 * h]);
      acc[2 * h + 1] = _mm256_fmadd_ps(ql, blo, acc[2 * h + 1]);
      if (split) {
        acc_hi[2 * h] = _mm256_fmadd_ps(qh, ahi, acc_hi[2 * h]);
        acc_hi[2 * h + 1] = _mm256_fmadd_ps(qh, bhi, acc_hi[2 * h + 1]);
      } else {
        acc[2 * h] = _mm256_fmadd_ps(qh, ahi, acc[2 * h]);
        acc[2 * h + 1] = _mm256_fmadd_ps(qh, bhi, acc[2 * h + 1]);
      }
    }
  }
  if (split)
    for (int i = 0; i < 2 * HN; ++i) acc[i] = _mm256_add_ps(acc[i], acc_hi[i]);
  // hsum8x8 with its last step on 128-bit halves, which are already in the stores' layout (no vperm2f128,
  // no staging through memory): the same additions in the same order
  const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
  r01 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  if constexpr (HN > 2) {
    const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
    r23 = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
  }
}

// o_h += Σ_x w_hx v_x for HN heads over the block's rows (pair layout), 16 columns per pass with the
// 2·HN accumulators in registers; two tokens per iteration, one V load serving every head
template <KvType TY, int HN>
inline void accumulate_v(float* o, int64_t d, const KvView& kv, const int64_t* trow, int64_t bn, const float* w,
                         int64_t wstride, const char* pk, const char* pv, const int64_t* prow, const int64_t* kro, int64_t pn) {
  const int64_t esz = int64_t(sizeof(uint16_t)) * (TY == KvType::f32 ? 2 : 1);
  const int64_t lines = (d * esz + 63) / 64;
  for (int64_t c = 0; c < d; c += 16) {
    __m256 lo[HN], hi[HN];
    for (int h = 0; h < HN; ++h) lo[h] = hi[h] = _mm256_setzero_ps();
    // the next block's V rows and (pk != nullptr) the K rows with kro[x] ≥ 0, line c/16 of each row per pass:
    // spread over the V pass, so that its arithmetic covers their latency (prow, kro: element offsets, pn rows)
    const int64_t line = c / 16;
    const int64_t xp = line < lines ? pn : 0;
    for (int64_t x = 0; x < bn; ++x) {
      if (x < xp) {
        if (pk && kro[x] >= 0) _mm_prefetch(pk + kro[x] * esz + 64 * line, _MM_HINT_T0);
        _mm_prefetch(pv + prow[x] * esz + 64 * line, _MM_HINT_T0);
      }
      __m256 vl, vh;
      load_kv16<TY>(kv.v, trow[x] + c, vl, vh);
      for (int h = 0; h < HN; ++h) {
        const __m256 wv = _mm256_broadcast_ss(w + h * wstride + x);
        lo[h] = _mm256_fmadd_ps(wv, vl, lo[h]);
        hi[h] = _mm256_fmadd_ps(wv, vh, hi[h]);
      }
    }
    for (int h = 0; h < HN; ++h) {
      float* oh = o + h * d + c;
      _mm256_storeu_ps(oh, _mm256_add_ps(_mm256_loadu_ps(oh), lo[h]));
      _mm256_storeu_ps(oh + 8, _mm256_add_ps(_mm256_loadu_ps(oh + 8), hi[h]));
    }
  }
}

template <KvType TY, int HN>
void attend16_heads(const float* qp, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* o, float* m,
                    float* l, int64_t dist, int hint) {
  int64_t kro[kBlock16];
  alignas(32) float s[4 * kBlock16];
  int64_t trows[2][kBlock16];
  const int64_t esz = kv_type_bytes(kv.type), row_bytes = d * esz;
  // kPrefetchNext(V): the next block's rows are prefetched during this block's V pass, so their element
  // offsets are computed one block ahead (trows double-buffered)
  const bool next = dist == kPrefetchNext || dist == kPrefetchNextV;
  if (next) {
    for (int64_t x = 0; x < std::min(kBlock16, n); ++x) {
      trows[0][x] = (idx ? idx[x] : x) * kv.stride;
      prefetch_kv_row(kv, idx ? idx[x] : x, esz, row_bytes, hint);
    }
  }
  auto prefetch_row = [&](int64_t i) {
    if (i < n) prefetch_kv_row(kv, idx ? idx[i] : i, esz, row_bytes, hint);
  };
  if (dist > 0)
    for (int64_t i = 0; i < std::min(dist, n); ++i) prefetch_row(i);
  for (int64_t b0 = 0; b0 < n; b0 += kBlock16) {
    const int64_t bn = std::min(kBlock16, n - b0);
    if (dist == kPrefetchBlock && b0 + kBlock16 < n)
      for (int64_t i = b0 + kBlock16; i < std::min(n, b0 + 2 * kBlock16); ++i) prefetch_row(i);
    int64_t* trow = trows[(b0 / kBlock16) & 1];
    int64_t* prow = trows[((b0 / kBlock16) & 1) ^ 1];
    const int64_t pn = next ? std::max<int64_t>(0, std::min(kBlock16, n - b0 - kBlock16)) : 0;
    if (!next)
      for (int64_t x = 0; x < bn; ++x) trow[x] = (idx ? idx[b0 + x] : b0 + x) * kv.stride;
    for (int64_t x = 0; x < pn; ++x) prow[x] = (idx ? idx[b0 + kBlock16 + x] : b0 + kBlock16 + x) * kv.stride;
    // K: only the rows that start a run (kro = −1 for the others): a row right after its predecessor is left
    // to the hardware prefetcher (prefetching every K row made 100% gathered rows 20% slower than none)
    if (dist == kPrefetchNext)
      for (int64_t x = 0; x < pn; ++x) kro[x] = x == 0 || prow[x] != prow[x - 1] + kv.stride ? prow[x] : -1;
    // scores: two tokens × HN heads per pass (a last odd token is scored twice, stored once)
    for (int64_t x = 0; x < bn; x += 2) {
      if (dist > 0) {
        prefetch_row(b0 + x + dist);
        prefetch_row(b0 + x + dist + 1);
      }
      const bool two = x + 1 < bn;
      __m128 r01 = _mm_setzero_ps(), r23 = _mm_setzero_ps();
      score_pair<TY, HN>(qp, d, kv, trow[x], trow[two ? x + 1 : x], r01, r23);
      if (two) {  // x even, s 32-byte aligned: 8-byte aligned pairs
        _mm_storel_pi(reinterpret_cast<__m64*>(s + x), r01);
        if (HN > 1) _mm_storeh_pi(reinterpret_cast<__m64*>(s + kBlock16 + x), r01);
        if (HN > 2) _mm_storel_pi(reinterpret_cast<__m64*>(s + 2 * kBlock16 + x), r23);
        if (HN > 3) _mm_storeh_pi(reinterpret_cast<__m64*>(s + 3 * kBlock16 + x), r23);
      } else {
        alignas(16) float tmp[8];
        _mm_store_ps(tmp, r01);
        _mm_store_ps(tmp + 4, r23);
        for (int h = 0; h < HN; ++h) s[h * kBlock16 + x] = tmp[2 * h];
      }
    }
    // every head's new max, weights and rescale, the heads interleaved (each exp_ps is a ~20-deep dependency
    // chain; one head at a time, the block softmax alone took 10.5 µs per 1024 tokens and 4 heads, 8.7 now)
    float scale[HN];
    softmax_block_heads<HN>(s, kBlock16, bn, m, l, scale);
    for (int h = 0; h < HN; ++h)
      if (scale[h] != 1.0f) {
        float* oh = o + h * d;
        for (int64_t k = 0; k < d; k += 8)
          _mm256_storeu_ps(oh + k, _mm256_mul_ps(_mm256_loadu_ps(oh + k), _mm256_set1_ps(scale[h])));
      }
    accumulate_v<TY, HN>(o, d, kv, trow, bn, s, kBlock16, dist == kPrefetchNextV ? nullptr : static_cast<const char*>(kv.k),
                         static_cast<const char*>(kv.v), prow, kro, pn);
  }
}

template <KvType TY>
void attend16_dispatch(int hn, const float* qp, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* o,
                       float* m, float* l, int64_t dist, int hint) {
  switch (hn) {
    case 1: return attend16_heads<TY, 1>(qp, d, kv, idx, n, o, m, l, dist, hint);
    case 2: return attend16_heads<TY, 2>(qp, d, kv, idx, n, o, m, l, dist, hint);
    case 3: return attend16_heads<TY, 3>(qp, d, kv, idx, n, o, m, l, dist, hint);
    default: return attend16_heads<TY, 4>(qp, d, kv, idx, n, o, m, l, dist, hint);
  }
}

void attend16_avx2(const float* q, int H, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* out,
                   int64_t dist, int hint) {
  std::vector<float> qp(static_cast<size_t>(H * d)), o(static_cast<size_t>(H * d), 0.0f);
  std::vector<float> m(static_cast<size_t>(H), -INFINITY), l(static_cast<size_t>(H), 0.0f);
  for (int h = 0; h < H; ++h)
    for (int64_t c = 0; c < d; c += 16)
      for (int64_t i = 0; i < 16; ++i) qp[size_t(h * d + c + i)] = q[h * d + c + pair_col(kv.type, i)];
  // heads in groups of four (K read once per group; one group for GQA groups of ≤ 4 heads)
  for (int h0 = 0; h0 < H; h0 += 4) {
    const int hn = std::min(4, H - h0);
    float* qh = qp.data() + h0 * d;
    float* oh = o.data() + h0 * d;
    float* mh = m.data() + h0;
    float* lh = l.data() + h0;
    switch (kv.type) {
      case KvType::bf16: attend16_dispatch<KvType::bf16>(hn, qh, d, kv, idx, n, oh, mh, lh, dist, hint); break;
      case KvType::f16: attend16_dispatch<KvType::f16>(hn, qh, d, kv, idx, n, oh, mh, lh, dist, hint); break;
      case KvType::f32: attend16_dispatch<KvType::f32>(hn, qh, d, kv, idx, n, oh, mh, lh, dist, hint); break;
    }
  }
  for (int h = 0; h < H; ++h) {
    const float inv = l[size_t(h)] > 0 ? 1.0f / l[size_t(h)] : 0.0f;
    for (int64_t c = 0; c < d; c += 16)
      for (int64_t i = 0; i < 16; ++i) out[h * d + c + pair_col(kv.type, i)] = o[size_t(h * d + c + i)] * inv;
  }
}

// ---- low-rank scan for r % 16 == 0 and f32 / f16 / bf16 sketches: two tokens × up to four heads per pass ----
// The sketch of a token is read 16 components at a time in the pair layout of load_kv16 (qs permuted to
// match once per call), the 2·HN dot products of a token pair are reduced together (hsum8x8), and the four
// pairs of an 8-token batch are transposed into one 8-token vector per head (64-bit unpacks) for the e and
// ρ terms and the store, as in lowrank_avx2. Summation order: per lane r/8 chained FMAs, then the tree.
template <KvType TY, int HN, int RC, class T>  // RC: the rank when fixed at compile time (0: rec.r)
void lowrank16_heads(const LowRankRecords& rec, const LowRankHead* hs, const float* qp, int64_t t0, int64_t t1,
                     T* const* ub) {
  const int64_t r = RC > 0 ? RC : rec.r, B = rec.blocks;
  const void* base = TY == KvType::f32 ? static_cast<const void*>(rec.sketch.data()) : rec.sketch_raw.data();
  alignas(32) uint16_t rbuf[8];
  int64_t tt[8];
  for (int64_t t = t0; t < t1; t += 8) {
    const int64_t cnt = std::min<int64_t>(8, t1 - t);
    for (int tk = 0; tk < 8; ++tk) tt[tk] = t + std::min<int64_t>(tk, cnt - 1);
    __m256 red[4];
    for (int p = 0; p < 4; ++p) {
      const int64_t oa = tt[2 * p] * r, ob = tt[2 * p + 1] * r;
      __m256 acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
      for (int64_t c = 0; c < r; c += 16) {
        __m256 alo, ahi, blo, bhi;
        load_kv16<TY>(base, oa + c, alo, ahi);
        load_kv16<TY>(base, ob + c, blo, bhi);
        for (int h = 0; h < HN; ++h) {
          const __m256 ql = _mm256_loadu_ps(qp + h * r + c), qh = _mm256_loadu_ps(qp + h * r + c + 8);
          acc[2 * h] = _mm256_fmadd_ps(qh, ahi, _mm256_fmadd_ps(ql, alo, acc[2 * h]));
          acc[2 * h + 1] = _mm256_fmadd_ps(qh, bhi, _mm256_fmadd_ps(ql, blo, acc[2 * h + 1]));
        }
      }
      red[p] = hsum8x8(acc);  // [h0 a, h0 b, h1 a, h1 b, h2 a, h2 b, h3 a, h3 b]
    }
    // 4 × 4 transpose of 64-bit (token pair) elements: head h gets [t0 .. t7]
    const __m256d u0 = _mm256_unpacklo_pd(_mm256_castps_pd(red[0]), _mm256_castps_pd(red[1]));
    const __m256d u1 = _mm256_unpackhi_pd(_mm256_castps_pd(red[0]), _mm256_castps_pd(red[1]));
    const __m256d u2 = _mm256_unpacklo_pd(_mm256_castps_pd(red[2]), _mm256_castps_pd(red[3]));
    const __m256d u3 = _mm256_unpackhi_pd(_mm256_castps_pd(red[2]), _mm256_castps_pd(red[3]));
    __m256 sums[4];
    sums[0] = _mm256_castpd_ps(_mm256_permute2f128_pd(u0, u2, 0x20));
    sums[1] = _mm256_castpd_ps(_mm256_permute2f128_pd(u1, u3, 0x20));
    sums[2] = _mm256_castpd_ps(_mm256_permute2f128_pd(u0, u2, 0x31));
    sums[3] = _mm256_castpd_ps(_mm256_permute2f128_pd(u1, u3, 0x31));
    __m256 e;
    if (cnt == 8) {
      e = load_f16x8(rec.e.data() + t);
    } else {
      for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rec.e[size_t(tt[tk])];
      e = load_f16x8(rbuf);
    }
    __m256 rho0;
    if (B == 1 && cnt == 8) {
      rho0 = load_f16x8(rec.rho.data() + t);
    } else {
      for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rec.rho[size_t(tt[tk] * B)];
      rho0 = load_f16x8(rbuf);
    }
    for (int h = 0; h < HN; ++h) {
      const LowRankHead& hd = hs[h];
      __m256 s = _mm256_fmadd_ps(_mm256_set1_ps(hd.nqs), e, sums[h]);
      s = _mm256_fmadd_ps(_mm256_set1_ps(hd.qb[0]), rho0, s);
      for (int64_t b = 1; b < B; ++b) {
        for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rec.rho[size_t(tt[tk] * B + b)];
        s = _mm256_fmadd_ps(_mm256_set1_ps(hd.qb[size_t(b)]), load_f16x8(rbuf), s);
      }
      store_lowrank8(ub[h] + (t - t0), cnt, s, hd);
    }
  }
}

// ---- low-rank scan, bf16 sketches with r % 16 == 0: 8 tokens in the lanes, no horizontal reductions ----
// Per 16-component chunk the 32-bit words (components 2j, 2j+1) of 8 tokens are brought into the lanes by an
// in-lane 4 × 4 transpose: row k holds the chunk's words 0-3 of token k in its low 128 bits and those of token
// k + 4 in its high ones (one 128-bit load and one 128-bit insert), so the unpacks give, per word j, one vector
// [word j of tokens 0..7] (words 4-7 from the chunks' high halves in the same way). Even components by a 32-bit
// shift, odd ones by a mask; each multiplies a broadcast query component (a table of r × HN vectors, read as
// FMA memory operands). Two chains per head, the even and the odd components (8 independent chains for 4 heads
// in every half-chunk), started with the products ||q_s||·e and qb_0·ρ_0 and added at the end, then ρ blocks
// 1..B−1: each term passes ≤ r/2 + 1 + (B − 1) roundings ≤ r + B + 3 (the slack of docs/math.md §4.1).
// Table qt (32-byte aligned): [r][HN] query components, then [HN] ||q_s|| (rounded up), [HN] qb_0, [HN] the
// float32 addend, each broadcast to 8 lanes.
template <int HN, int RC, int BC, class T>  // RC, BC: rank and ρ blocks when fixed at compile time (0: rec's)
inline void lowrank16t_block(const uint16_t* z, int64_t r, const uint16_t* e, const uint16_t* rho, int64_t B,
                             const LowRankHead* hs, const float* qt, T* const* out, int64_t cnt) {
  if (RC > 0) r = RC;
  if (BC > 0) B = BC;
  const __m256i himask = _mm256_set1_epi32(int(0xFFFF0000u));
  const float* qn = qt + r * 8 * HN;  // ||q_s||, qb_0, addend
  // the chains start with the e term (even) and the ρ_0 term (odd): one product each instead of a zero
  const __m256 ev0 = load_f16x8(e), rho0 = load_f16x8(rho);
  __m256 acc[2 * HN];
  for (int h = 0; h < HN; ++h) {
    acc[2 * h] = _mm256_mul_ps(_mm256_load_ps(qn + 8 * h), ev0);
    acc[2 * h + 1] = _mm256_mul_ps(_mm256_load_ps(qn + 8 * HN + 8 * h), rho0);
  }
  for (int64_t c = 0; c < r; c += 16) {
    for (int half = 0; half < 2; ++half) {  // words 0-3 (components c..c+7), words 4-7 (c+8..c+15)
      __m256 x[4];
      for (int k = 0; k < 4; ++k)
        x[k] = _mm256_castsi256_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(z + k * r + c + 8 * half))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(z + (k + 4) * r + c + 8 * half)), 1));
      const __m256 l01 = _mm256_unpacklo_ps(x[0], x[1]), h01 = _mm256_unpackhi_ps(x[0], x[1]);
      const __m256 l23 = _mm256_unpacklo_ps(x[2], x[3]), h23 = _mm256_unpackhi_ps(x[2], x[3]);
      __m256i w[4];
      w[0] = _mm256_castpd_si256(_mm256_unpacklo_pd(_mm256_castps_pd(l01), _mm256_castps_pd(l23)));
      w[1] = _mm256_castpd_si256(_mm256_unpackhi_pd(_mm256_castps_pd(l01), _mm256_castps_pd(l23)));
      w[2] = _mm256_castpd_si256(_mm256_unpacklo_pd(_mm256_castps_pd(h01), _mm256_castps_pd(h23)));
      w[3] = _mm256_castpd_si256(_mm256_unpackhi_pd(_mm256_castps_pd(h01), _mm256_castps_pd(h23)));
      for (int j = 0; j < 4; ++j) {
        const __m256 ev = _mm256_castsi256_ps(_mm256_slli_epi32(w[j], 16));
        const __m256 od = _mm256_castsi256_ps(_mm256_and_si256(w[j], himask));
        const float* qc = qt + (c + 8 * half + 2 * j) * 8 * HN;  // [component][head][8 lanes]
        for (int h = 0; h < HN; ++h) {
          acc[2 * h] = _mm256_fmadd_ps(_mm256_load_ps(qc + 8 * h), ev, acc[2 * h]);
          acc[2 * h + 1] = _mm256_fmadd_ps(_mm256_load_ps(qc + 8 * HN + 8 * h), od, acc[2 * h + 1]);
        }
      }
    }
  }
  alignas(16) uint16_t rbuf[8];
  for (int h = 0; h < HN; ++h) {
    __m256 s = _mm256_add_ps(acc[2 * h], acc[2 * h + 1]);
    for (int64_t b = 1; b < B; ++b) {  // ρ blocks 1..B−1 (rho: block 0 of 8 tokens, token stride 1 block)
      for (int tk = 0; tk < 8; ++tk) rbuf[tk] = rho[8 * b + tk];
      s = _mm256_fmadd_ps(_mm256_set1_ps(hs[h].qb[size_t(b)]), load_f16x8(rbuf), s);
    }
    if constexpr (std::is_same_v<T, float>) {
      const __m256 u = add_up8(s, _mm256_load_ps(qn + 16 * HN + 8 * h));
      if (cnt == 8) {
        _mm256_storeu_ps(out[h], u);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, u);
        for (int64_t tk = 0; tk < cnt; ++tk) out[h][tk] = tmp[tk];
      }
    } else {
      store_lowrank8(out[h], cnt, s, hs[h]);
    }
  }
}

template <int HN, int RC, int BC, class T>
void lowrank16t_heads(const LowRankRecords& rec, const LowRankHead* hs, const float* qt, int64_t t0, int64_t t1,
                      T* const* ub) {
  const int64_t r = RC > 0 ? RC : rec.r, B = BC > 0 ? BC : rec.blocks;
  const uint16_t* base = rec.sketch_raw.data();
  // ρ in blocks of 8 tokens, block-major ([b][8 tokens]), for B > 1 and the tail
  alignas(32) uint16_t rho8[8 * 64];
  T* out[HN];
  const int64_t full = t0 + (t1 - t0) / 8 * 8, last = std::max<int64_t>(0, rec.n - 8);
  for (int64_t t = t0; t < full; t += 8) {
    for (int h = 0; h < HN; ++h) out[h] = ub[h] + (t - t0);
    const uint16_t* rho = rec.rho.data() + t;
    if (B != 1) {
      for (int64_t b = 0; b < B; ++b)
        for (int tk = 0; tk < 8; ++tk) rho8[8 * b + tk] = rec.rho[size_t((t + tk) * B + b)];
      rho = rho8;
    }
    // the sketch rows lowrank_ahead tokens ahead (r/4 lines per 8-token block); e and ρ (2 bytes a token each)
    // are left to the hardware prefetcher
    if (lowrank_ahead > 0) {
      const char* pf = reinterpret_cast<const char*>(base + std::min(t + lowrank_ahead, last) * r);
      for (int64_t l = 0; l < r / 4; ++l) _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
    }
    lowrank16t_block<HN, RC, BC>(base + t * r, r, rec.e.data() + t, rho, B, hs, qt, out, 8);
  }
  if (full < t1) {  // the last tokens, padded by repeating the last one (each lane's bound is its token's alone)
    const int64_t cnt = t1 - full;
    std::vector<uint16_t> zp(static_cast<size_t>(8 * r));
    alignas(16) uint16_t ep[8];
    for (int tk = 0; tk < 8; ++tk) {
      const int64_t tt = full + std::min<int64_t>(tk, cnt - 1);
      std::memcpy(zp.data() + tk * r, base + tt * r, size_t(r) * sizeof(uint16_t));
      ep[tk] = rec.e[size_t(tt)];
      for (int64_t b = 0; b < B; ++b) rho8[8 * b + tk] = rec.rho[size_t(tt * B + b)];
    }
    for (int h = 0; h < HN; ++h) out[h] = ub[h] + (full - t0);
    lowrank16t_block<HN, RC, BC>(zp.data(), r, ep, rho8, B, hs, qt, out, cnt);
  }
}

template <int HN, class T>
void lowrank16t_ranks(const LowRankRecords& rec, const LowRankHead* hs, const float* qt, int64_t t0, int64_t t1,
                      T* const* ub) {
  if (rec.r == 16 && rec.blocks == 1) return lowrank16t_heads<HN, 16, 1>(rec, hs, qt, t0, t1, ub);
  if (rec.blocks == 1) return lowrank16t_heads<HN, 0, 1>(rec, hs, qt, t0, t1, ub);
  lowrank16t_heads<HN, 0, 0>(rec, hs, qt, t0, t1, ub);
}

// bf16, r % 16 == 0, blocks ≤ 64 (the tail's ρ buffer)
template <class T>
void lowrank16t_avx2(const LowRankRecords& rec, const std::vector<LowRankHead>& hs, int64_t t0, int64_t t1,
                     T* const* ub) {
  const int64_t r = rec.r;
  const int H = int(hs.size());
  for (int h0 = 0; h0 < H; h0 += 4) {
    const int hn = std::min(4, H - h0);
    std::vector<float> buf(static_cast<size_t>((r + 3) * hn * 8 + 8));
    float* qt = buf.data() + (8 - (reinterpret_cast<uintptr_t>(buf.data()) / sizeof(float)) % 8) % 8;  // 32-byte aligned
    for (int h = 0; h < hn; ++h) {
      const LowRankHead& hd = hs[size_t(h0 + h)];
      for (int l = 0; l < 8; ++l) {
        for (int64_t j = 0; j < r; ++j) qt[(j * hn + h) * 8 + l] = hd.qs[j];
        qt[(r * hn + h) * 8 + l] = hd.nqs;
        qt[((r + 1) * hn + h) * 8 + l] = hd.qb[0];
        qt[((r + 2) * hn + h) * 8 + l] = hd.add32;
      }
    }
    const LowRankHead* hp = hs.data() + h0;
    T* const* u = ub + h0;
    switch (hn) {
      case 1: lowrank16t_ranks<1>(rec, hp, qt, t0, t1, u); break;
      case 2: lowrank16t_ranks<2>(rec, hp, qt, t0, t1, u); break;
      case 3: lowrank16t_ranks<3>(rec, hp, qt, t0, t1, u); break;
      default: lowrank16t_ranks<4>(rec, hp, qt, t0, t1, u); break;
    }
  }
}

template <KvType TY, class T>
void lowrank16_avx2(const LowRankRecords& rec, const std::vector<LowRankHead>& hs, int64_t t0, int64_t t1,
                    T* const* ub) {
  const int64_t r = rec.r;
  const int H = int(hs.size());
  std::vector<float> qp(static_cast<size_t>(H * r));
  for (int h = 0; h < H; ++h)
    for (int64_t c = 0; c < r; c += 16)
      for (int64_t i = 0; i < 16; ++i) qp[size_t(h * r + c + i)] = hs[size_t(h)].qs[c + pair_col(TY, i)];
  for (int h0 = 0; h0 < H; h0 += 4) {
    const int hn = std::min(4, H - h0);
    const LowRankHead* hp = hs.data() + h0;
    const float* q = qp.data() + h0 * r;
    T* const* u = ub + h0;
    switch (hn) {
      case 1: lowrank16_heads<TY, 1, 0>(rec, hp, q, t0, t1, u); break;
      case 2: lowrank16_heads<TY, 2, 0>(rec, hp, q, t0, t1, u); break;
      case 3: lowrank16_heads<TY, 3, 0>(rec, hp, q, t0, t1, u); break;
      default:
        if (r == 16) lowrank16_heads<TY, 4, 16>(rec, hp, q, t0, t1, u);
        else lowrank16_heads<TY, 4, 0>(rec, hp, q, t0, t1, u);
        break;
    }
  }
}

// the r % 16 == 0 body where the storage allows it (int8 sketches and other ranks: lowrank_avx2)
template <class T>
bool lowrank16_dispatch(const LowRankRecords& rec, const std::vector<LowRankHead>& hs, int64_t t0, int64_t t1,
                        T* const* ub) {
  if (rec.r % 16 != 0 || rec.r <= 0) return false;
  switch (rec.storage) {
    case Storage::bf16:
      if (rec.blocks > 64) { lowrank16_avx2<KvType::bf16>(rec, hs, t0, t1, ub); return true; }
      lowrank16t_avx2(rec, hs, t0, t1, ub);
      return true;
    case Storage::f16: lowrank16_avx2<KvType::f16>(rec, hs, t0, t1, ub); return true;
    case Storage::f32: lowrank16_avx2<KvType::f32>(rec, hs, t0, t1, ub); return true;
    case Storage::int8: return false;
  }
  return false;
}

// ---------------------------------------------------------------- integer quantized scan: kernels
inline double hsum4d(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Builds the integer weights of group g (math.md §4.2b): f_j = fl32(q32_j·h_gj) (= w32_gj), M = max|f_j|,
// s = 2^(ilogb M − k), wi_j = clamp(round(f_j/s), ±wmax), δ_j = |f_j − s·wi_j|, D = Σ δ_j·(2^b_j − 1),
// K = Σ wi_j·(2^b_j − 1), AW = Σ |wi_j|·(2^b_j − 1).
// Exactness (float32 lanes): f·(1/s) is exact (a power of two; a subnormal quotient is < 1/2 and rounds to
// 0 either way); s·wi is exact; f − s·wi is exact by Sterbenz when wi ≠ 0 (|f − s·wi| ≤ s ≤ |s·wi|, same
// sign) and is f itself when wi = 0; so δ_j is exact. D sums the exact products δ_j·(2^b_j − 1) (≤ 32
// significant bits) in float64 (relative error ≤ γ64_d, covered by the factor 1 + 2^-36); K and AW are
// exact int32 sums (vpmaddwd; |wi| ≤ wmax keeps them < 2^31). M < 2^-100 (1/s would overflow float32)
// takes the float64 scalar loop, which is exact for the same reasons.
// Everything runs in the plan's float order (q32 permuted once per scan object, the group's half-steps
// once per group for all heads), so the packed int16 weights come out in lane order with no per-head
// shuffle; positions of no component have q = h = 0, so f = 0, wi = 0 and δ = 0 there. M and the finite
// test come from one integer max over |f|'s bits (NaN > inf > every finite value as unsigned bits).
// [a0 a2 a4 a6 b0 b2 b4 b6] (odd: a1 a3 .. b7): [a0 a2 b0 b2 | a4 a6 b4 b6] in 64-bit order 0 2 1 3
inline __m256 pick_even_odd(__m256 a, __m256 b, int odd) {
  const __m256 t = odd ? _mm256_shuffle_ps(a, b, 0xDD) : _mm256_shuffle_ps(a, b, 0x88);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}
void build_i16_slot(I16Slot& sl, int64_t g, const QuantRecords& rec, const I16Plan& p, const float* q32,
                    const QuantQuery* const* pq, int H) {
  const int64_t d = rec.d, F16 = p.n_fields * 16;
  sl.g = g;
  sl.finite = true;
  sl.w.resize(size_t(H * F16));
  sl.two_s.assign(size_t(H), 0.0);
  sl.cadd.assign(size_t(H), 0.0);
  const uint16_t* hrow = rec.half_step.data() + g * d;
  thread_local std::vector<float> fbuf, hf, hc;
  thread_local std::vector<int32_t> wi32;
  fbuf.resize(size_t(F16));
  hf.resize(size_t(F16));
  wi32.resize(size_t(F16));
  hc.resize(size_t(d + 1));
  for (int64_t j = 0; j < d; j += 8)  // d % 8 == 0 (QuantScanI16)
    _mm256_storeu_ps(hc.data() + j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hrow + j))));
  hc[size_t(d)] = 0.0f;  // the position of no component
  if (p.nibbles) {  // float order of 32 components: [0 2 4 6 16 18 20 22], [8 .. 14 24 .. 30], then the odd ones
    for (int64_t c = 0; c < d; c += 32) {
      const __m256 v0 = _mm256_loadu_ps(hc.data() + c), v1 = _mm256_loadu_ps(hc.data() + c + 8);
      const __m256 v2 = _mm256_loadu_ps(hc.data() + c + 16), v3 = _mm256_loadu_ps(hc.data() + c + 24);
      _mm256_storeu_ps(hf.data() + c, pick_even_odd(v0, v2, 0));
      _mm256_storeu_ps(hf.data() + c + 8, pick_even_odd(v1, v3, 0));
      _mm256_storeu_ps(hf.data() + c + 16, pick_even_odd(v0, v2, 1));
      _mm256_storeu_ps(hf.data() + c + 24, pick_even_odd(v1, v3, 1));
    }
  } else {
    const int32_t* fp = p.fperm.data();
    for (int64_t x = 0; x < F16; ++x) hf[size_t(x)] = hc[size_t(fp[x])];  // the group's half-steps in float order
  }
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int h = 0; h < H; ++h) {
    const float* qh = q32 + h * F16;
    __m256i mxb = _mm256_setzero_si256();
    for (int64_t j = 0; j < F16; j += 8) {
      const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(qh + j), _mm256_loadu_ps(hf.data() + j));
      _mm256_storeu_ps(fbuf.data() + j, x);
      mxb = _mm256_max_epu32(mxb, _mm256_castps_si256(_mm256_andnot_ps(sign, x)));
    }
    __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(mxb), _mm256_extracti128_si256(mxb, 1));
    m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x4E));
    m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0xB1));
    const uint32_t mb = uint32_t(_mm_cvtsi128_si32(m4));
    if (mb >= 0x7f800000u) {  // inf or NaN
      sl.finite = false;
      return;
    }
    float M;
    std::memcpy(&M, &mb, 4);
    double s = 1.0, Dd = 0;
    bool d32 = false;  // Dd is a float32 FMA-chain sum (bounded below), not a float64 one
    if (M >= 0x1p-126f) {  // normal M: s = 2^(exponent(M) − k) from the bits
      const int e = int((mb >> 23) & 0xff) - 127 - p.k;
      const uint64_t sb = uint64_t(e + 1023) << 52;
      std::memcpy(&s, &sb, 8);
    } else if (M > 0) {
      s = std::ldexp(1.0, std::ilogb(M) - p.k);
    }
    int16_t* w = sl.w.data() + h * F16;
    // int16 weights, 16 lanes per pack (float order → lane order); K, AW exact by vpmaddwd against 2^b − 1
    __m256i K = _mm256_setzero_si256(), AW = K;
    auto pack16 = [&](int64_t j, __m256i a, __m256i b) {  // wi of float positions j..j+7, j+8..j+15
      const __m256i wv = _mm256_packs_epi32(a, b);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(w + j), wv);
      const __m256i bm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.lbmax16.data() + j));
      K = _mm256_add_epi32(K, _mm256_madd_epi16(wv, bm));
      AW = _mm256_add_epi32(AW, _mm256_madd_epi16(_mm256_abs_epi16(wv), bm));
    };
    if (M >= 0x1p-100f) {  // rounded and packed in registers, 16 lanes per pass
      const __m256 vs = _mm256_set1_ps(float(s)), vinv = _mm256_set1_ps(float(1.0 / s)), lim = _mm256_set1_ps(float(p.wmax));
      const __m256 nlim = _mm256_sub_ps(_mm256_setzero_ps(), lim);
      // D in two FMA chains (float positions j..j+7 and j+8..j+15): one chain waited on the FMA latency
      __m256 D[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t j = 0; j < F16; j += 16) {
        __m256i wi[2];
        for (int u = 0; u < 2; ++u) {
          const __m256 x = _mm256_loadu_ps(fbuf.data() + j + 8 * u);
          __m256 r = _mm256_round_ps(_mm256_mul_ps(x, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          r = _mm256_min_ps(_mm256_max_ps(r, nlim), lim);
          const __m256 del = _mm256_andnot_ps(sign, _mm256_fnmadd_ps(r, vs, x));  // exact (Sterbenz)
          D[u] = _mm256_fmadd_ps(del, _mm256_loadu_ps(p.fbmaxf.data() + j + 8 * u), D[u]);  // nonnegative terms
          wi[u] = _mm256_cvtps_epi32(r);
        }
        pack16(j, wi[0], wi[1]);
      }
      Dd = double(hsum(_mm256_add_ps(D[0], D[1])));
      d32 = true;
    } else {
      if (M == 0) {
        std::fill(wi32.begin(), wi32.end(), 0);
      } else {  // tiny weights: the same steps in float64 scalars
        for (int64_t j = 0; j < F16; ++j) {
          const double x = fbuf[size_t(j)];
          const double r = std::clamp(std::nearbyint(x / s), -double(p.wmax), double(p.wmax));
          Dd += std::fabs(x - r * s) * p.fbmax[size_t(j)];
          wi32[size_t(j)] = int32_t(r);
        }
      }
      for (int64_t j = 0; j < F16; j += 16)
        pack16(j, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wi32.data() + j)),
               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wi32.data() + j + 8)));
    }
    // the lane sums of K and AW in int32 (exact: every partial sum of K is ≤ AW < 2^31 in magnitude)
    const __m256i ka = _mm256_hadd_epi32(K, AW);                             // [K01 K23 A01 A23] per half
    const __m128i kh = _mm_add_epi32(_mm256_castsi256_si128(ka), _mm256_extracti128_si256(ka, 1));
    const __m128i k2 = _mm_hadd_epi32(kh, kh);                               // [K, AW, K, AW]
    const double Kd = double(_mm_cvtsi128_si32(k2)), AWd = double(_mm_extract_epi32(k2, 1));
    // D: per lane two float32 FMA chains of ≤ F16/16 exact products each, their sum, then a 3-level tree,
    // all terms ≥ 0: every term passes ≤ F16/16 + 4 ≤ max(d, F16/16 + 1) + 3 roundings (d + 3 for every
    // spec with F16 ≤ 16·(d − 1)), relative error ≤ γ of that (and ≤ 2^-150 absolute per operation where
    // subnormal); the float64 scalar sum: γ64_{F16}
    const int64_t depth = std::max(d, F16 / 16 + 1) + 3;
    Dd = d32 ? Dd * (1 + 2 * gamma_n(depth)) + double(depth) * 0x1p-149 : Dd * (1 + 0x1p-36);
    const double C = (pq[h]->add32[size_t(g)] + Dd) * (1 + 0x1p-52);  // ↑ of the sum
    double cp = C - s * Kd;                                           // s·K exact
    // ↑ of that difference, and the final fl64(2s·J + cadd): |2s·J| ≤ 2s·AW
    cp = cp + 0x1p-51 * (std::fabs(cp) + 2 * s * AWd);
    if (cp != cp) cp = INFINITY;  // fl64(2s·J + NaN) would be mapped to +inf: the same, once per group
    sl.two_s[size_t(h)] = 2 * s;
    sl.cadd[size_t(h)] = cp;
    if (h < 4) sl.pair_s[2 * h] = sl.pair_s[2 * h + 1] = 2 * s, sl.pair_c[2 * h] = sl.pair_c[2 * h + 1] = cp;
  }
}

// [x.lo + x.hi, y.lo + y.hi] (128-bit halves) by inserts and an extract: vperm2i128 is 8 micro-ops on Zen 1
inline __m256i add_halves(__m256i x, __m256i y) {
  return _mm256_add_epi32(_mm256_inserti128_si256(x, _mm256_castsi256_si128(y), 1),
                          _mm256_inserti128_si256(y, _mm256_extracti128_si256(x, 1), 0));
}
// two hadd levels of v[0..3]: per 128-bit half [Σ v0, Σ v1, Σ v2, Σ v3] over that half's four lanes
inline __m256i hsum4x2_epi32(const __m256i* v) {
  const __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
  const __m256i w = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(u, w), _mm256_unpackhi_epi64(u, w));
}
inline __m256i hsum8x8_epi32(const __m256i* v) { return add_halves(hsum4x2_epi32(v), hsum4x2_epi32(v + 4)); }

// Two tokens (rows ra, rb; weights wa, wb of their groups) × HN heads: acc[2h] = J of token a for head h,
// acc[2h + 1] of token b, as 8 int32 lane partials.
template <int HN>
inline void i16_field(__m256i xa, __m256i xb, const int16_t* wa, const int16_t* wb, bool same, int64_t hstride,
                      __m256i* acc) {
  for (int h = 0; h < HN; ++h) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa + h * hstride));
    const __m256i w1 = same ? w0 : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + h * hstride));
    acc[2 * h] = _mm256_add_epi32(acc[2 * h], _mm256_madd_epi16(xa, w0));
    acc[2 * h + 1] = _mm256_add_epi32(acc[2 * h + 1], _mm256_madd_epi16(xb, w1));
  }
}
// 1-bit chunks (eight fields per byte) out of line: inlined, they made GCC spill the accumulators of the
// common 8/4/2-bit chunks
template <int HN>
__attribute__((noinline)) void i16_bits1(__m256i xa, __m256i xb, const int16_t* fa, const int16_t* fb, bool same,
                                         int64_t hstride, __m256i* acc) {
  const __m256i m = _mm256_set1_epi16(1);
  for (int f = 0; f < 8; ++f) {
    const __m128i sh = _mm_cvtsi32_si128(f);
    i16_field<HN>(_mm256_and_si256(_mm256_srl_epi16(xa, sh), m), _mm256_and_si256(_mm256_srl_epi16(xb, sh), m),
                  fa + 16 * f, fb + 16 * f, same, hstride, acc);
  }
}
template <int HN>
inline void i16_pair(const I16Plan& p, const uint8_t* ra, const uint8_t* rb, const int16_t* wa, const int16_t* wb,
                     int64_t hstride, __m256i* out) {
  __m256i acc[2 * HN];
  for (int i = 0; i < 2 * HN; ++i) acc[i] = _mm256_setzero_si256();
  const bool same = wa == wb;
  const I16Plan::Chunk* ch = p.chunks.data();
  const int64_t nc = int64_t(p.chunks.size());
  for (int64_t c = 0; c < nc; ++c) {
    const __m256i xa = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ra + ch[c].byte_off)));
    const __m256i xb = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rb + ch[c].byte_off)));
    const int16_t* fa = wa + int64_t(ch[c].field0) * 16;
    const int16_t* fb = wb + int64_t(ch[c].field0) * 16;
    switch (ch[c].bits) {
      case 8: i16_field<HN>(xa, xb, fa, fb, same, hstride, acc); break;
      case 4: {
        const __m256i m = _mm256_set1_epi16(15);
        i16_field<HN>(_mm256_and_si256(xa, m), _mm256_and_si256(xb, m), fa, fb, same, hstride, acc);
        i16_field<HN>(_mm256_srli_epi16(xa, 4), _mm256_srli_epi16(xb, 4), fa + 16, fb + 16, same, hstride, acc);
        break;
      }
      case 2: {
        const __m256i m = _mm256_set1_epi16(3);
        i16_field<HN>(_mm256_and_si256(xa, m), _mm256_and_si256(xb, m), fa, fb, same, hstride, acc);
        i16_field<HN>(_mm256_and_si256(_mm256_srli_epi16(xa, 2), m), _mm256_and_si256(_mm256_srli_epi16(xb, 2), m), fa + 16,
                      fb + 16, same, hstride, acc);
        i16_field<HN>(_mm256_and_si256(_mm256_srli_epi16(xa, 4), m), _mm256_and_si256(_mm256_srli_epi16(xb, 4), m), fa + 32,
                      fb + 32, same, hstride, acc);
        i16_field<HN>(_mm256_srli_epi16(xa, 6), _mm256_srli_epi16(xb, 6), fa + 48, fb + 48, same, hstride, acc);
        break;
      }
      default: {  // 1 bit (through a copy, so that acc's address does not escape and it stays in registers)
        __m256i tmp[2 * HN];
        for (int i = 0; i < 2 * HN; ++i) tmp[i] = acc[i];
        i16_bits1<HN>(xa, xb, fa, fb, same, hstride, tmp);
        for (int i = 0; i < 2 * HN; ++i) acc[i] = tmp[i];
        break;
      }
    }
  }
  for (int i = 0; i < 8; ++i) out[i] = i < 2 * HN ? acc[i] : _mm256_setzero_si256();
}

// The four-head case with the accumulators as named locals (GCC keeps an array of them in memory
// across the chunk switch): the same sums as i16_pair<4>. MADD(acc, x, w) adds the pair products of x·w:
// vpmaddwd + vpaddd, or one vpdpwssd where AVX-VNNI is present (the same exact int32 sums: no term or
// partial sum reaches 2^31, math.md §4.2b).
struct I16Acc4 {
  __m256i a0, a1, a2, a3, a4, a5, a6, a7;
};
#define GKV_I16_FIELD4(NAME, ATTR, MADD)                                                                            \
  ATTR __attribute__((always_inline)) inline void NAME(I16Acc4& c, __m256i xa, __m256i xb, const int16_t* wa,       \
                                                       const int16_t* wb, bool same, int64_t hs) {                   \
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa));                                   \
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa + hs));                              \
    const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa + 2 * hs));                          \
    const __m256i w3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wa + 3 * hs));                          \
    c.a0 = MADD(c.a0, xa, w0);                                                                                       \
    c.a2 = MADD(c.a2, xa, w1);                                                                                       \
    c.a4 = MADD(c.a4, xa, w2);                                                                                       \
    c.a6 = MADD(c.a6, xa, w3);                                                                                       \
    if (same) {                                                                                                      \
      c.a1 = MADD(c.a1, xb, w0);                                                                                     \
      c.a3 = MADD(c.a3, xb, w1);                                                                                     \
      c.a5 = MADD(c.a5, xb, w2);                                                                                     \
      c.a7 = MADD(c.a7, xb, w3);                                                                                     \
    } else {                                                                                                         \
      c.a1 = MADD(c.a1, xb, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb)));                              \
      c.a3 = MADD(c.a3, xb, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + hs)));                         \
      c.a5 = MADD(c.a5, xb, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2 * hs)));                     \
      c.a7 = MADD(c.a7, xb, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 3 * hs)));                     \
    }                                                                                                                \
  }
#define GKV_I16_PAIR4(NAME, ATTR, FIELD, SAME)                                                                      \
  ATTR void NAME(const I16Plan& p, const uint8_t* ra, const uint8_t* rb, const int16_t* wa, const int16_t* wb,       \
                 int64_t hstride, __m256i* out) {                                                                    \
    I16Acc4 c;                                                                                                       \
    c.a0 = c.a1 = c.a2 = c.a3 = c.a4 = c.a5 = c.a6 = c.a7 = _mm256_setzero_si256();                                  \
    const bool same = SAME;                                                                                          \
    const I16Plan::Chunk* ch = p.chunks.data();                                                                      \
    const int64_t nc = int64_t(p.chunks.size());                                                                    \
    for (int64_t k = 0; k < nc; ++k) {                                                                               \
      const __m256i xa = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ra + ch[k].byte_off))); \
      const __m256i xb = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rb + ch[k].byte_off))); \
      const int16_t* fa = wa + int64_t(ch[k].field0) * 16;                                                          \
      const int16_t* fb = wb + int64_t(ch[k].field0) * 16;                                                          \
      const int bits = ch[k].bits;                                                                                   \
      if (bits == 8) {                                                                                               \
        FIELD(c, xa, xb, fa, fb, same, hstride);                                                                     \
      } else if (bits == 4) {                                                                                        \
        const __m256i m = _mm256_set1_epi16(15);                                                                     \
        FIELD(c, _mm256_and_si256(xa, m), _mm256_and_si256(xb, m), fa, fb, same, hstride);                           \
        FIELD(c, _mm256_srli_epi16(xa, 4), _mm256_srli_epi16(xb, 4), fa + 16, fb + 16, same, hstride);               \
      } else { /* 2 or 1 bits: 8/b fields of b bits */                                                               \
        const __m256i m = _mm256_set1_epi16(int16_t((1 << bits) - 1));                                               \
        for (int f = 0; f < 8 / bits; ++f) {                                                                         \
          const __m128i sh = _mm_cvtsi32_si128(f * bits);                                                            \
          FIELD(c, _mm256_and_si256(_mm256_srl_epi16(xa, sh), m), _mm256_and_si256(_mm256_srl_epi16(xb, sh), m),     \
                fa + 16 * f, fb + 16 * f, same, hstride);                                                            \
        }                                                                                                            \
      }                                                                                                              \
    }                                                                                                                \
    out[0] = c.a0, out[1] = c.a1, out[2] = c.a2, out[3] = c.a3;                                                      \
    out[4] = c.a4, out[5] = c.a5, out[6] = c.a6, out[7] = c.a7;                                                      \
  }
#define GKV_MADD_AVX2(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define GKV_MADD_VNNI(acc, x, w) _mm256_dpwssd_avx_epi32(acc, x, w)
GKV_I16_FIELD4(i16_field4, , GKV_MADD_AVX2)
GKV_I16_PAIR4(i16_pair4, , i16_field4, wa == wb)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define GKV_HAVE_AVXVNNI 1
GKV_I16_FIELD4(i16_field4_vnni, __attribute__((target("avx2,fma,f16c,avxvnni"))), GKV_MADD_VNNI)
GKV_I16_PAIR4(i16_pair4_vnni, __attribute__((target("avx2,fma,f16c,avxvnni"))), i16_field4_vnni, wa == wb)
#else
#define GKV_HAVE_AVXVNNI 0
#endif

// Eight tokens of one group (rows r0 + t·cb) × four heads, two tokens at a time, the chunks taken run by
// run (one width per inner loop, so the eight accumulators stay in registers): the same exact sums as
// i16_pair4, each pair k left as two vectors of per-half sums (hsum4x2_epi32): J[2k] = [h0 a, h0 b, h1 a, h1 b],
// J[2k + 1] = [h2 a, h2 b, h3 a, h3 b] for a = 2k, b = 2k + 1 (the scan adds the halves after its transposes).
#define GKV_I16_F(xa, xb, f)                                                                                        \
  do {                                                                                                               \
    const __m256i x_a = (xa), x_b = (xb);                                                                            \
    const int16_t* f_ = (f);                                                                                         \
    __m256i w_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(f_));                                          \
    a0 = MADD(a0, x_a, w_), a1 = MADD(a1, x_b, w_);                                                                  \
    w_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(f_ + hs));                                             \
    a2 = MADD(a2, x_a, w_), a3 = MADD(a3, x_b, w_);                                                                  \
    w_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(f_ + 2 * hs));                                         \
    a4 = MADD(a4, x_a, w_), a5 = MADD(a5, x_b, w_);                                                                  \
    w_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(f_ + 3 * hs));                                         \
    a6 = MADD(a6, x_a, w_), a7 = MADD(a7, x_b, w_);                                                                  \
    /* the accumulators live in registers here (else GCC spills them in the unrolled 2- and 1-bit loops) */          \
    __asm__("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));                  \
  } while (0)
#define GKV_I16_RUNS4(NAME, ATTR, MADD)                                                                             \
  ATTR void NAME(const I16Plan& p, const uint8_t* r0, int64_t cb, const int16_t* w, int64_t hs, __m256i* J) {       \
   for (int k = 0; k < 4; ++k) {                                                                                     \
    const uint8_t* ra = r0 + 2 * k * cb;                                                                             \
    const uint8_t* rb = ra + cb;                                                                                     \
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;              \
    for (const I16Plan::Run& r : p.runs) {                                                                           \
      const uint8_t* pa = ra + r.byte0;                                                                              \
      const uint8_t* pb = rb + r.byte0;                                                                              \
      const int16_t* f = w + int64_t(r.field0) * 16;                                                                 \
      const int n = r.n;                                                                                             \
      if (r.bits == 8) {                                                                                             \
        for (int k = 0; k < n; ++k, pa += 16, pb += 16, f += 16)                                                     \
          GKV_I16_F(_mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa))),                     \
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb))), f);                 \
      } else if (r.bits == 4) {                                                                                      \
        const __m256i m = _mm256_set1_epi16(15);                                                                     \
        for (int k = 0; k < n; ++k, pa += 16, pb += 16, f += 32) {                                                   \
          const __m256i xa = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa)));            \
          const __m256i xb = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)));            \
          GKV_I16_F(_mm256_and_si256(xa, m), _mm256_and_si256(xb, m), f);                                            \
          GKV_I16_F(_mm256_srli_epi16(xa, 4), _mm256_srli_epi16(xb, 4), f + 16);                                     \
        }                                                                                                            \
      } else if (r.bits == 2) {                                                                                      \
        const __m256i m = _mm256_set1_epi16(3);                                                                      \
        for (int k = 0; k < n; ++k, pa += 16, pb += 16, f += 64) {                                                   \
          const __m256i xa = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa)));            \
          const __m256i xb = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)));            \
          GKV_I16_F(_mm256_and_si256(xa, m), _mm256_and_si256(xb, m), f);                                            \
          GKV_I16_F(_mm256_and_si256(_mm256_srli_epi16(xa, 2), m), _mm256_and_si256(_mm256_srli_epi16(xb, 2), m), f + 16); \
          GKV_I16_F(_mm256_and_si256(_mm256_srli_epi16(xa, 4), m), _mm256_and_si256(_mm256_srli_epi16(xb, 4), m), f + 32); \
          GKV_I16_F(_mm256_srli_epi16(xa, 6), _mm256_srli_epi16(xb, 6), f + 48);                                     \
        }                                                                                                            \
      } else {                                                                                                       \
        const __m256i m = _mm256_set1_epi16(1);                                                                      \
        for (int k = 0; k < n; ++k, pa += 16, pb += 16, f += 128) {                                                  \
          const __m256i xa = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa)));            \
          const __m256i xb = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)));            \
          for (int b = 0; b < 8; ++b) {                                                                              \
            const __m128i sh = _mm_cvtsi32_si128(b);                                                                 \
            GKV_I16_F(_mm256_and_si256(_mm256_srl_epi16(xa, sh), m), _mm256_and_si256(_mm256_srl_epi16(xb, sh), m),  \
                      f + 16 * b);                                                                                   \
          }                                                                                                          \
        }                                                                                                            \
      }                                                                                                              \
    }                                                                                                                \
    const __m256i v[8] = {a0, a1, a2, a3, a4, a5, a6, a7};                                                           \
    J[2 * k] = hsum4x2_epi32(v), J[2 * k + 1] = hsum4x2_epi32(v + 4);                                                \
   }                                                                                                                 \
  }
#define MADD GKV_MADD_AVX2
GKV_I16_RUNS4(i16_runs4, , MADD)
#undef MADD
#if GKV_HAVE_AVXVNNI
#define MADD GKV_MADD_VNNI
GKV_I16_RUNS4(i16_runs4_vnni, __attribute__((target("avx2,fma,f16c,avxvnni"))), MADD)
#undef MADD
#endif
#undef GKV_I16_F
#undef GKV_I16_RUNS4
#undef GKV_I16_FIELD4
#undef GKV_I16_PAIR4

// 8 results [h0 a, h0 b, h1 a, h1 b, h2 a, h2 b, h3 a, h3 b] → ub (NaN → +inf; float: rounded up)
inline void store_pair(double* const* ub, int h0, int hn, int64_t off, bool two, __m256d lo, __m256d hi) {
  alignas(32) double r[8];
  _mm256_store_pd(r, nan_to_inf(lo));
  _mm256_store_pd(r + 4, nan_to_inf(hi));
  for (int h = 0; h < hn; ++h) {
    ub[h0 + h][off] = r[2 * h];
    if (two) ub[h0 + h][off + 1] = r[2 * h + 1];
  }
}
inline void store_pair(float* const* ub, int h0, int hn, int64_t off, bool two, __m256d lo, __m256d hi) {
  alignas(16) float r[8];
  _mm_store_ps(r, round_up_ps(nan_to_inf(lo)));
  _mm_store_ps(r + 4, round_up_ps(nan_to_inf(hi)));
  for (int h = 0; h < hn; ++h) {
    if (two) {
      std::memcpy(ub[h0 + h] + off, r + 2 * h, 8);
    } else {
      ub[h0 + h][off] = r[2 * h];
    }
  }
}

// 8 tokens × head h: the 8 exact J as int32 → fl64(2s·J + cadd) (one FMA rounding) → ub (float: rounded
// up). Bit for bit what store_pair writes for the same tokens: 2s·J is finite, so the sum is NaN exactly
// when cadd is, and the slot stores such a cadd as +inf (what nan_to_inf makes of the sum).
inline void store_oct(double* out, __m256i J, __m256d s2, __m256d c) {
  _mm256_storeu_pd(out, _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(J)), s2, c));
  _mm256_storeu_pd(out + 4, _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(J, 1)), s2, c));
}
// round_up_ps of two vectors: the 64-bit "below" masks are packed into one 8-lane mask (even 32-bit
// halves, then the 64-bit quarters back in token order) and the +-1 ulp step is taken 8 lanes at a time
inline void store_oct(float* out, __m256i J, __m256d s2, __m256d c) {
  const __m256d lo = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(J)), s2, c);
  const __m256d hi = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(J, 1)), s2, c);
  const __m128 flo = _mm256_cvtpd_ps(lo), fhi = _mm256_cvtpd_ps(hi);
  const __m256 blo = _mm256_castpd_ps(_mm256_cmp_pd(_mm256_cvtps_pd(flo), lo, _CMP_LT_OQ));
  const __m256 bhi = _mm256_castpd_ps(_mm256_cmp_pd(_mm256_cvtps_pd(fhi), hi, _CMP_LT_OQ));
  const __m256i below =
      _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(blo, bhi, 0x88)), 0xD8);  // tokens 0..7
  const __m256i fi = _mm256_castps_si256(_mm256_set_m128(fhi, flo));
  const __m256i step = _mm256_or_si256(_mm256_srai_epi32(fi, 31), _mm256_set1_epi32(1));  // +1, or -1 where f < 0
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi32(fi, _mm256_and_si256(below, step)));
}

// The scan: t in [t0, t1), two tokens per pass; `slot(g)` returns the built weights of group g (or null
// when they are not finite: those tokens take the float32 scan).
template <class T, class SlotFn, class FloatFn>
void quant_i16_avx2(const QuantRecords& rec, const I16Plan& p, int n_heads, int64_t t0, int64_t t1, T* const* ub,
                    SlotFn&& slot, FloatFn&& float_scan) {
  const int64_t cb = rec.code_bytes, hstride = p.n_fields * 16;
  const int64_t t_safe = safe_end(rec, p.last_byte, t0, t1);
  GroupCursor group_of(rec, t0, t1);
  std::vector<uint8_t> pad(size_t(2 * (p.last_byte + cb + 32)), 0);  // unsafe rows, zero-padded
  const bool vnni = use_avxvnni();
  // the code rows kScanAhead tokens ahead are prefetched: the scan is compute-heavy, and without it the
  // hardware prefetcher does not keep a DRAM-resident record stream ahead of it
  const uint8_t* codes_end = rec.codes.data() + rec.codes.size();
  uint8_t* pa = pad.data();
  uint8_t* pb = pad.data() + p.last_byte + cb + 32;
  const bool oct_ok = n_heads % 4 == 0;
  for (int64_t t = t0; t < t1;) {
    // 8 tokens of one group, heads four at a time: the same exact J per token as the pair path, reduced
    // and bounded 8 tokens per vector (one FMA, the NaN map and the round-up per 8 bounds and head)
    if (oct_ok && t + 8 <= t_safe && t + 8 <= t1) {
      const int64_t g8 = group_of(t);
      const bool one = group_of.runs ? t + 8 <= rec.group_start[size_t(g8 + 1)] : rec.group_of[size_t(t + 7)] == g8;
      const I16Slot* s8 = one ? slot(g8) : nullptr;
      if (s8) {
        const uint8_t* r0 = rec.codes.data() + t * cb;
        if (scan_ahead > 0) {
          const uint8_t* pf0 = r0 + scan_ahead * cb;
          const uint8_t* pf1 = std::min(pf0 + 8 * cb, codes_end);
          for (const uint8_t* q = pf0; q < pf1; q += 64) _mm_prefetch(reinterpret_cast<const char*>(q), _MM_HINT_T0);
        }
        for (int h0 = 0; h0 < n_heads; h0 += 4) {
          const int16_t* w = s8->w.data() + h0 * hstride;
          __m256i J[8];
          // per 128-bit half (the sums of its lanes): J[2k] = [h0 a, h0 b, h1 a, h1 b], J[2k + 1] = [h2 a, h2 b,
          // h3 a, h3 b] of tokens a = 2k, b = 2k + 1
#if GKV_HAVE_AVXVNNI
          if (vnni)
            i16_runs4_vnni(p, r0, cb, w, hstride, J);
          else
#endif
            i16_runs4(p, r0, cb, w, hstride, J);
          // 64-bit lanes are (token 2k, 2k + 1) pairs of one head: each head's tokens 0-3 and 4-7 by 64-bit
          // unpacks within the halves, then the two halves added (exact int32 sums in another order)
          const __m256i jh[4] = {add_halves(_mm256_unpacklo_epi64(J[0], J[2]), _mm256_unpacklo_epi64(J[4], J[6])),
                                 add_halves(_mm256_unpackhi_epi64(J[0], J[2]), _mm256_unpackhi_epi64(J[4], J[6])),
                                 add_halves(_mm256_unpacklo_epi64(J[1], J[3]), _mm256_unpacklo_epi64(J[5], J[7])),
                                 add_halves(_mm256_unpackhi_epi64(J[1], J[3]), _mm256_unpackhi_epi64(J[5], J[7]))};
          for (int h = 0; h < 4; ++h)
            store_oct(ub[h0 + h] + (t - t0), jh[h], _mm256_set1_pd(s8->two_s[size_t(h0 + h)]),
                      _mm256_set1_pd(s8->cadd[size_t(h0 + h)]));
        }
        t += 8;
        continue;
      }
    }
    const int64_t ta = t, tb = std::min(t + 1, t1 - 1);
    t += 2;
    const int64_t ga = group_of(ta), gb = group_of(tb);
    const I16Slot* sa = slot(ga);
    const I16Slot* sb = slot(gb);
    if (!sa || !sb) {  // non-finite weights in one of the groups: the float32 scan for these tokens
      T* sub[64];
      for (int h = 0; h < n_heads && h < 64; ++h) sub[h] = ub[h] + (ta - t0);
      float_scan(ta, tb + 1, sub);
      continue;
    }
    const uint8_t* ra = rec.codes.data() + ta * cb;
    const uint8_t* rb = rec.codes.data() + tb * cb;
    if (scan_ahead > 0) {
      const uint8_t* pf0 = ra + scan_ahead * cb;
      const uint8_t* pf1 = std::min(pf0 + 2 * cb, codes_end);
      for (const uint8_t* q = pf0; q < pf1; q += 64) _mm_prefetch(reinterpret_cast<const char*>(q), _MM_HINT_T0);
    }
    if (ta >= t_safe) ra = static_cast<const uint8_t*>(std::memcpy(pa, ra, size_t(cb)));
    if (tb >= t_safe) rb = static_cast<const uint8_t*>(std::memcpy(pb, rb, size_t(cb)));
    for (int h0 = 0; h0 < n_heads; h0 += 4) {
      const int hn = std::min(4, n_heads - h0);
      __m256i acc[8];
      const int16_t* wa = sa->w.data() + h0 * hstride;
      const int16_t* wb = sb->w.data() + h0 * hstride;
      switch (hn) {
        case 1: i16_pair<1>(p, ra, rb, wa, wb, hstride, acc); break;
        case 2: i16_pair<2>(p, ra, rb, wa, wb, hstride, acc); break;
        case 3: i16_pair<3>(p, ra, rb, wa, wb, hstride, acc); break;
        default:
#if GKV_HAVE_AVXVNNI
          if (vnni) {
            i16_pair4_vnni(p, ra, rb, wa, wb, hstride, acc);
            break;
          }
#endif
          i16_pair4(p, ra, rb, wa, wb, hstride, acc);
          break;
      }
      // one rounding per bound: 2s·J is exact (|J| < 2^31, 2s a power of two), then + cadd (FMA)
      const __m256i J = hsum8x8_epi32(acc);
      if (h0 == 0) {  // pair layout: token a's lanes from sa, token b's from sb
        const __m256d jl = _mm256_cvtepi32_pd(_mm256_castsi256_si128(J)), jh = _mm256_cvtepi32_pd(_mm256_extracti128_si256(J, 1));
        const __m256d lo = _mm256_fmadd_pd(jl, _mm256_blend_pd(_mm256_load_pd(sa->pair_s), _mm256_load_pd(sb->pair_s), 0xA),
                                           _mm256_blend_pd(_mm256_load_pd(sa->pair_c), _mm256_load_pd(sb->pair_c), 0xA));
        const __m256d hi = _mm256_fmadd_pd(jh, _mm256_blend_pd(_mm256_load_pd(sa->pair_s + 4), _mm256_load_pd(sb->pair_s + 4), 0xA),
                                           _mm256_blend_pd(_mm256_load_pd(sa->pair_c + 4), _mm256_load_pd(sb->pair_c + 4), 0xA));
        store_pair(ub, h0, hn, ta - t0, tb != ta, lo, hi);
        continue;
      }
      const double* as = sa->two_s.data() + h0;
      const double* bs = sb->two_s.data() + h0;
      const double* ac = sa->cadd.data() + h0;
      const double* bc = sb->cadd.data() + h0;
      const int h1 = hn > 1 ? 1 : 0, h2 = hn > 2 ? 2 : 0, h3 = hn > 3 ? 3 : 0;
      const __m256d lo = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(J)), _mm256_setr_pd(as[0], bs[0], as[h1], bs[h1]),
                                         _mm256_setr_pd(ac[0], bc[0], ac[h1], bc[h1]));
      const __m256d hi = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(J, 1)),
                                         _mm256_setr_pd(as[h2], bs[h2], as[h3], bs[h3]), _mm256_setr_pd(ac[h2], bc[h2], ac[h3], bc[h3]));
      store_pair(ub, h0, hn, ta - t0, tb != ta, lo, hi);
    }
  }
}

#pragma GCC pop_options
#endif  // GKV_X86

float kv_at(const KvView& kv, const void* base, int64_t off) {
  switch (kv.type) {
    case KvType::f32: return static_cast<const float*>(base)[off];
    case KvType::f16: return f16_to_f32(static_cast<const uint16_t*>(base)[off]);
    case KvType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(base)[off]);
  }
  return 0.0f;
}

void attend_scalar(const float* q, int H, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* out) {
  std::vector<float> o(static_cast<size_t>(H * d), 0.0f), kr(static_cast<size_t>(d)), vr(static_cast<size_t>(d));
  std::vector<float> m(static_cast<size_t>(H), -INFINITY), l(static_cast<size_t>(H), 0.0f);
  for (int64_t x = 0; x < n; ++x) {
    const int64_t t = idx ? idx[x] : x;
    for (int64_t j = 0; j < d; ++j) kr[size_t(j)] = kv_at(kv, kv.k, t * kv.stride + j);
    for (int64_t j = 0; j < d; ++j) vr[size_t(j)] = kv_at(kv, kv.v, t * kv.stride + j);
    for (int h = 0; h < H; ++h) {
      float s = 0.0f;
      for (int64_t j = 0; j < d; ++j) s += q[h * d + j] * kr[size_t(j)];
      float& mh = m[size_t(h)];
      float* oh = o.data() + h * d;
      if (s > mh) {
        const float c = mh == -INFINITY ? 0.0f : std::exp(mh - s);
        l[size_t(h)] *= c;
        for (int64_t j = 0; j < d; ++j) oh[j] *= c;
        mh = s;
      }
      const float w = std::exp(s - mh);
      l[size_t(h)] += w;
      for (int64_t j = 0; j < d; ++j) oh[j] += w * vr[size_t(j)];
    }
  }
  for (int h = 0; h < H; ++h) {
    const float inv = l[size_t(h)] > 0 ? 1.0f / l[size_t(h)] : 0.0f;
    for (int64_t j = 0; j < d; ++j) out[h * d + j] = o[size_t(h * d + j)] * inv;
  }
}

template <class T>
void lowrank_dispatch(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                      T* const* ub) {
  if (t1 <= t0 || n_heads <= 0) return;
  const std::vector<LowRankHead> hs = lowrank_heads(rec, pq, n_heads);
#if GKV_X86
  if (use_avx2() && lowrank16_dispatch(rec, hs, t0, t1, ub)) return;
  if (use_avx2() && rec.r % 8 == 0 && rec.r > 0) return lowrank_avx2(rec, hs, t0, t1, ub);
#endif
  lowrank_scalar(rec, hs, t0, t1, t0, ub);
}

template <class T>
void quant_dispatch(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                    T* const* ub) {
  if (t1 <= t0 || n_heads <= 0) return;
#if GKV_X86
  if (use_avx2()) {
    const QuantPlan p = make_plan(rec);
    if (p.ok) {
      static const int choice = [] {  // GHOSTKV_QUANT_KERNEL=rows|pair overrides the per-spec default
        const char* e = std::getenv("GHOSTKV_QUANT_KERNEL");
        return e && std::strcmp(e, "rows") == 0 ? 1 : e && std::strcmp(e, "pair") == 0 ? 2 : 0;
      }();
      const bool rows = choice == 1 || (choice == 0 && p.all8);
      return rows ? quant_avx2_rows(rec, p, pq, n_heads, t0, t1, ub) : quant_avx2(rec, p, pq, n_heads, t0, t1, ub);
    }
  }
#endif
  quant_scalar(rec, pq, n_heads, t0, t1, t0, ub);
}

}  // namespace

struct QuantScanI16::Impl {
  const QuantRecords& rec;
  std::vector<const QuantQuery*> pq;
  int H = 0;
  I16Plan plan;
  bool integer = false;
  std::vector<float> q32;  // [H, n_fields·16] fl32(qr) in the plan's float order (0 where no component)
  I16Slot slots[2];
  int lru = 0;
  Impl(const QuantRecords& r, const QuantQuery* const* p, int h) : rec(r), pq(p, p + h), H(h) {}
  const I16Slot* slot(int64_t g) {
    for (int i = 0; i < 2; ++i)
      if (slots[i].g == g) {
        lru = 1 - i;
        return slots[i].finite ? &slots[i] : nullptr;
      }
#if GKV_X86
    I16Slot& s = slots[lru];
    build_i16_slot(s, g, rec, plan, q32.data(), pq.data(), H);
    lru = 1 - lru;
    return s.finite ? &s : nullptr;
#else
    return nullptr;
#endif
  }
  template <class T>
  void run(int64_t t0, int64_t t1, T* const* ub) {
    if (t1 <= t0 || H <= 0) return;
#if GKV_X86
    if (integer && use_avx2())
      return quant_i16_avx2(
          rec, plan, H, t0, t1, ub, [&](int64_t g) { return slot(g); },
          [&](int64_t a, int64_t b, T* const* u) { quant_dispatch(rec, pq.data(), H, a, b, u); });
#endif
    quant_dispatch(rec, pq.data(), H, t0, t1, ub);
  }
};

const char* simd_level() { return use_avx2() ? "avx2" : "scalar"; }

bool set_force_scalar(bool on) { return g_force_scalar.exchange(on); }

bool set_use_vnni(bool on) { return !g_no_vnni.exchange(!on); }
const char* quant_i16_isa() { return use_avx2() ? (use_avxvnni() ? "avx-vnni" : "avx2") : "none"; }

int64_t set_prefetch_distance(int64_t tokens) { return g_prefetch.exchange(std::max(tokens, kPrefetchNext)); }

bool avx2_active() { return use_avx2(); }

void lowrank_bounds_multi(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads, int64_t t0,
                          int64_t t1, double* const* ub) {
  lowrank_dispatch(rec, pq, n_heads, t0, t1, ub);
}
void lowrank_bounds_multi_f32(const LowRankRecords& rec, const LowRankQuery* const* pq, int n_heads, int64_t t0,
                              int64_t t1, float* const* ub) {
  lowrank_dispatch(rec, pq, n_heads, t0, t1, ub);
}
void quant_bounds_multi(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                        double* const* ub) {
  quant_dispatch(rec, pq, n_heads, t0, t1, ub);
}
void quant_bounds_multi_f32(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            float* const* ub) {
  quant_dispatch(rec, pq, n_heads, t0, t1, ub);
}

QuantScanI16::QuantScanI16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads)
    : impl_(std::make_unique<Impl>(rec, pq, n_heads)) {
  Impl& m = *impl_;
#if GKV_X86
  if (!use_avx2() || n_heads <= 0 || n_heads > 64 || rec.d % 8 != 0) return;
  m.plan = make_i16_plan(rec);
  if (!m.plan.ok) return;
  const int64_t F16 = m.plan.n_fields * 16;
  m.q32.resize(size_t(n_heads * F16));
  for (int h = 0; h < n_heads; ++h)
    for (int64_t x = 0; x < F16; ++x) {
      const int32_t j = m.plan.fperm[size_t(x)];
      m.q32[size_t(h * F16 + x)] = j < rec.d ? float(pq[h]->qr[size_t(j)]) : 0.0f;
    }
  m.integer = true;
#else
  (void)m;
#endif
}
QuantScanI16::~QuantScanI16() = default;
bool QuantScanI16::integer() const { return impl_->integer && use_avx2(); }
void QuantScanI16::bounds(int64_t t0, int64_t t1, float* const* ub) { impl_->run(t0, t1, ub); }
void QuantScanI16::bounds(int64_t t0, int64_t t1, double* const* ub) { impl_->run(t0, t1, ub); }

void quant_bounds_multi_i16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            float* const* ub) {
  QuantScanI16(rec, pq, n_heads).bounds(t0, t1, ub);
}
void quant_bounds_multi_i16(const QuantRecords& rec, const QuantQuery* const* pq, int n_heads, int64_t t0, int64_t t1,
                            double* const* ub) {
  QuantScanI16(rec, pq, n_heads).bounds(t0, t1, ub);
}

int64_t compact_survivors(const float* const* ub, const float* thr, int n_heads, int64_t n, int64_t t0, int64_t* idx) {
#if GKV_X86
  if (use_avx2()) return compact_avx2(ub, thr, n_heads, n, t0, idx);
#endif
  int64_t cnt = 0;
  for (int64_t c = 0; c < n; ++c) {
    bool keep = false;
    for (int h = 0; h < n_heads; ++h) keep |= !(ub[h][c] < thr[h]);
    if (keep) idx[cnt++] = t0 + c;
  }
  return cnt;
}

const char* kv_type_name(KvType t) { return t == KvType::f32 ? "f32" : t == KvType::f16 ? "f16" : "bf16"; }
int64_t kv_type_bytes(KvType t) { return t == KvType::f32 ? 4 : 2; }

void attend_multi(const float* q, int n_heads, int64_t d, const KvView& kv, const int64_t* idx, int64_t n, float* out) {
  GKV_CHECK(n_heads > 0 && d > 0, "attend_multi: n_heads ", n_heads, " and d ", d, " must be > 0");
#if GKV_X86
  if (use_avx2() && d % 16 == 0)
    return attend16_avx2(q, n_heads, d, kv, idx, n, out,
                         idx ? prefetch_distance() : prefetch_distance() == kPrefetchNext ? kPrefetchNextV : 0, prefetch_hint());
  if (use_avx2() && d % 8 == 0) return attend_avx2(q, n_heads, d, kv, idx, n, out);
#endif
  attend_scalar(q, n_heads, d, kv, idx, n, out);
}

double FallbackPredictor::predicted_ratio() const {
  const double f = survive_ema < 0 ? 0.0 : survive_ema;
  const double bytes = kv_bytes > 0 ? (record_bytes + f * kv_bytes) / kv_bytes : 1.0;
  return std::max(bytes, time_ratio_ema);
}

bool FallbackPredictor::use_witness() {
  if (survive_ema < 0) return true;
  if (predicted_ratio() * margin < 1.0) {
    probe_every = min_probe_every;
    since_probe = 0;
    return true;
  }
  if (++since_probe >= probe_every) {  // probe; the next probe comes later unless this one wins
    since_probe = 0;
    probe_every = std::min(max_probe_every, probe_every * 2);
    return true;
  }
  return false;
}

void FallbackPredictor::observe(double survive_frac) {
  survive_ema = survive_ema < 0 ? survive_frac : decay * survive_ema + (1 - decay) * survive_frac;
}

void FallbackPredictor::observe_time_ratio(double ratio) {
  time_ratio_ema = time_ratio_ema < 0 ? ratio : decay * time_ratio_ema + (1 - decay) * ratio;
}

}  // namespace ghostkv::cpu
