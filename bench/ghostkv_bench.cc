// ghostkv_bench: one decode step of certified elimination on the CPU fast path, phase by phase, against
// dense attention and the machine's read bandwidth measured in the same run (docs/cpu_fast_path.md).
//
// Shapes: n_head_q 32, n_head_kv 8, d 128, K and V bf16 per KV head [n_kv, d]; n_kv ∈ {4K, 32K, 128K}.
// Witnesses: low-rank r16 bf16, rotated quantized int8, int4 with groups of 64, mixed 8x16,4x48,2x64.
// Survivor fractions FORCED to {1, 5, 20, 100}% (thresholds on head 0's bounds; labelled forced), with
// and without anchors (pages of 16, box; with anchors the forced survivors are whole pages and only
// the surviving pages' records are scanned). Certified fractions come from run_eliminate on a real
// capture (--capture DIR): the pipeline is then timed at that fraction, labelled certified.
// Every case is validated before it is timed: bounds ≥ compensated true scores on sampled tokens,
// close to ref:: bounds, and the attention output within tolerance of float64 attention.
// Output: CSV (provenance in leading '#' lines and columns) + a markdown table under --out.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <new>
#include <sys/mman.h>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ghostkv/anchor.h"
#include "ghostkv/attention.h"
#include "ghostkv/basis.h"
#include "ghostkv/bound.h"
#include "ghostkv/cpu/fast.h"
#include "ghostkv/eliminate.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "ghostkv/io/capture.h"
#include "ghostkv/witness.h"

#include "bench_commit.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif  // GHOSTKV_BENCH_COMMIT, written at build time (bench/commit.cmake)

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ghostkv;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kD = 128, kHkv = 8, kGroup = 4, kBase = 2048;  // kBase distinct tokens per head, tiled

int n_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

int64_t l3_bytes() {
  std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string s;
  if (!(f >> s) || s.empty()) return 32 << 20;
  int64_t v = std::atoll(s.c_str());
  if (s.back() == 'K') v <<= 10;
  if (s.back() == 'M') v <<= 20;
  return v;
}

// Evicts the caches before a timed repetition when set (DRAM-resident cases): reads a buffer of 1.5× the
// L3 size, one float per cache line, on every thread.
std::function<void()> g_flush;

// best of reps of fn (seconds); at least min_time in total (flush time excluded)
double time_best(const std::function<void()>& fn, int reps, double min_time) {
  double best = 1e30, total = 0;
  for (int r = 0; r < reps || total < min_time; ++r) {
    if (g_flush) g_flush();
    const auto t0 = Clock::now();
    fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    if (r > 200) break;
  }
  return best;
}

// STREAM-like read bandwidth: every thread sums its slice of a buffer of `bytes` (AVX2 through the
// library's compaction kernel would not fit; a plain unrolled float sum vectorises under -O2 -ftree-vectorize
// only partly, so it is written with 8 independent accumulators).
double measure_read_gbps(int64_t bytes, int reps) {
  const int64_t n = bytes / 4;
  std::vector<float> buf(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) buf[size_t(i)] = float(i & 1023) * 1e-3f;
  volatile float sink = 0;
  const double s = time_best(
      [&] {
        float tot = 0;
#pragma omp parallel for schedule(static) reduction(+ : tot)
        for (int64_t c = 0; c < n; c += 4096) {
          float a[16] = {};
          const int64_t e = std::min(n, c + 4096);
          for (int64_t i = c; i + 16 <= e; i += 16)
            for (int j = 0; j < 16; ++j) a[j] += buf[size_t(i + j)];
          for (int j = 0; j < 16; ++j) tot += a[j];
        }
        sink = tot;
      },
      reps, 0.5);
  (void)sink;
  return double(bytes) / s / 1e9;
}

// Peak multiply-add rates of this machine on all threads (same threads as the cases): float32 FMA
// (vfmadd231ps ymm, ten independent chains per thread) and int16 multiply-accumulate (vpmaddwd + vpaddd,
// the integer quantized scan's instruction pair; 16 MACs per vpmaddwd). Returns multiply-adds per second.
// The ten accumulators are named variables (an array indexed in the loop was kept on the stack by GCC, so
// every FMA waited for a store-to-load round trip and the "peak" read ~0.63 of the machine's; attention
// reached 1.5x it on a 2-core EPYC), and each vpmaddwd reads its own chain's accumulator (with loop-invariant
// operands GCC hoisted the vpmaddwd out of the loop and the "int16 peak" timed vpaddd alone).
#define GKV_TEN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) double peak_fma_thread(int64_t iters) {
#define GKV_DECL(i) __m256 a##i = _mm256_set1_ps(1.0f + float(i) * 1e-3f);
  GKV_TEN(GKV_DECL)
#undef GKV_DECL
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t k = 0; k < iters; ++k) {
#define GKV_STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
    GKV_TEN(GKV_STEP)
#undef GKV_STEP
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
  }
  float s = 0;
#define GKV_SUM(i) s += _mm256_cvtss_f32(a##i);
  GKV_TEN(GKV_SUM)
#undef GKV_SUM
  return double(s);
}
__attribute__((target("avx2"))) double peak_madd_thread(int64_t iters) {
#define GKV_DECL(i) __m256i a##i = _mm256_set1_epi32(i);
  GKV_TEN(GKV_DECL)
#undef GKV_DECL
  __m256i w = _mm256_set1_epi16(-7);
  __asm__ volatile("" : "+x"(w));
  for (int64_t k = 0; k < iters; ++k) {
#define GKV_STEP(i) a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(a##i, w));
    GKV_TEN(GKV_STEP)
#undef GKV_STEP
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
  }
  int s = 0;
#define GKV_SUM(i) s += _mm256_cvtsi256_si32(a##i);
  GKV_TEN(GKV_SUM)
#undef GKV_SUM
  return double(s);
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
__attribute__((target("avx2,avxvnni"))) double peak_vnni_thread(int64_t iters) {
#define GKV_DECL(i) __m256i a##i = _mm256_set1_epi32(i);
  GKV_TEN(GKV_DECL)
#undef GKV_DECL
  __m256i x = _mm256_set1_epi16(3), w = _mm256_set1_epi16(-7);
  __asm__ volatile("" : "+x"(x), "+x"(w));
  for (int64_t k = 0; k < iters; ++k) {
#define GKV_STEP(i) a##i = _mm256_dpwssd_avx_epi32(a##i, x, w);
    GKV_TEN(GKV_STEP)
#undef GKV_STEP
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
  }
  int s = 0;
#define GKV_SUM(i) s += _mm256_cvtsi256_si32(a##i);
  GKV_TEN(GKV_SUM)
#undef GKV_SUM
  return double(s);
}
#define GKV_BENCH_VNNI 1
#endif
#endif
// kind 0: float32 FMA lanes per second; 1: int16 MACs per second with the instruction the integer scan
// uses (vpdpwssd with AVX-VNNI, else vpmaddwd + vpaddd); 0 when AVX2 is absent
double measure_peak(int kind) {
#if defined(__x86_64__)
  if (std::string(cpu::simd_level()) != "avx2") return 0;
  const int64_t iters = 20'000'000;
  double best = 1e30, sum = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
#pragma omp parallel reduction(+ : sum)
    {
#ifdef GKV_BENCH_VNNI
      if (kind == 1 && std::string(cpu::quant_i16_isa()) == "avx-vnni") sum += peak_vnni_thread(iters);
      else
#endif
        sum += kind == 0 ? peak_fma_thread(iters) : peak_madd_thread(iters);
    }
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  if (sum == 12345.0) std::fprintf(stderr, " ");  // keeps the loops
  return double(iters) * 10 * (kind == 0 ? 8 : 16) * n_threads() / best;
#else
  (void)kind;
  return 0;
#endif
}

struct Witness {
  std::string name;       // lowrank-r16 | int8 | int4-g64 | mixed
  bool lowrank = false;
  std::string bits;
  int64_t group = 0;
};

// K, V storage: 2 MiB-aligned and, with GHOSTKV_BENCH_HUGEPAGES=1, advised to transparent huge pages
// (as a serving engine would allocate its KV cache: the survivors' gathered rows then cost no TLB miss
// per row). A/B switch; off by default, recorded in the provenance line.
bool huge_pages() {
  static const bool on = [] {
    const char* e = std::getenv("GHOSTKV_BENCH_HUGEPAGES");
    return e && std::strcmp(e, "1") == 0;
  }();
  return on;
}
template <class T>
struct KvAlloc {
  using value_type = T;
  KvAlloc() = default;
  template <class U>
  KvAlloc(const KvAlloc<U>&) {}
  T* allocate(size_t n) {
    const size_t align = size_t(2) << 20, bytes = (n * sizeof(T) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge_pages()) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const KvAlloc<U>&) const { return true; }
  template <class U>
  bool operator!=(const KvAlloc<U>&) const { return false; }
};

struct HeadData {
  std::vector<uint16_t, KvAlloc<uint16_t>> k, v;  // bf16 [n, d]
  std::vector<float> kf;          // the base tokens as float (validation)
  Basis basis;
  LowRankRecords lr;
  QuantRecords qt;
  AnchorSet an;
};

// Tiles records built on kBase tokens to n tokens (same content per tile, distinct memory).
LowRankRecords tile_lowrank(const LowRankRecords& b, int64_t n) {
  LowRankRecords r = b;
  r.n = n;
  auto tile = [&](auto& dst, const auto& src, int64_t per) {
    dst.resize(size_t(n * per));
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(dst.data() + t * per, src.data() + (t % b.n) * per, size_t(per) * sizeof(src[0]));
  };
  tile(r.sketch, b.sketch, b.r);
  if (!b.sketch_raw.empty()) tile(r.sketch_raw, b.sketch_raw, b.r);
  if (!b.codes.empty()) tile(r.codes, b.codes, b.r);
  if (!b.scale.empty()) tile(r.scale, b.scale, 1);
  tile(r.e, b.e, 1);
  tile(r.rho, b.rho, b.blocks);
  tile(r.nu, b.nu, 1);
  r.zhat_pmax.clear(), r.e_pmax.clear(), r.rho_pmax.clear(), r.omega_pmax.clear();
  return r;
}

QuantRecords tile_quant(const QuantRecords& b, int64_t n) {
  QuantRecords r = b;
  r.n = n;
  const int64_t tiles = (n + b.n - 1) / b.n;
  r.codes.resize(size_t(n * b.code_bytes));
  for (int64_t t = 0; t < n; ++t)
    std::memcpy(r.codes.data() + t * b.code_bytes, b.codes.data() + (t % b.n) * b.code_bytes, size_t(b.code_bytes));
  r.nu.resize(size_t(n));
  r.group_of.resize(size_t(n));
  r.group_start.clear();
  r.half_step.clear();
  r.err.clear();
  r.n_groups = 0;
  for (int64_t x = 0; x < tiles; ++x) {
    for (int64_t g = 0; g < b.n_groups; ++g) {
      const int64_t s = x * b.n + b.group_start[size_t(g)];
      if (s >= n) break;
      r.group_start.push_back(s);
      r.half_step.insert(r.half_step.end(), b.half_step.begin() + g * b.d, b.half_step.begin() + (g + 1) * b.d);
      r.err.insert(r.err.end(), b.err.begin() + g * b.d, b.err.begin() + (g + 1) * b.d);
      ++r.n_groups;
    }
  }
  r.group_start.push_back(n);
  for (int64_t g = 0; g < r.n_groups; ++g)
    for (int64_t t = r.group_start[size_t(g)]; t < r.group_start[size_t(g + 1)]; ++t) r.group_of[size_t(t)] = g;
  for (int64_t t = 0; t < n; ++t) r.nu[size_t(t)] = b.nu[size_t(t % b.n)];
  r.resid_pmax.clear();
  return r;
}

// Keys with the structure of real post-RoPE keys: a few strong directions, heavy channels, a drifting
// mean; values gaussian.
void make_base(std::mt19937_64& g, std::vector<float>& k, std::vector<float>& v) {
  std::normal_distribution<float> N(0, 1);
  k.resize(size_t(kBase * kD));
  v.resize(size_t(kBase * kD));
  std::vector<float> dir(static_cast<size_t>(4 * kD));
  for (auto& x : dir) x = N(g);
  for (int64_t t = 0; t < kBase; ++t) {
    float c[4];
    for (int i = 0; i < 4; ++i) c[i] = N(g) * (3.0f / float(i + 1));
    for (int64_t j = 0; j < kD; ++j) {
      float x = 0.3f * N(g) + (j < 4 ? 4.0f : 0.0f);
      for (int i = 0; i < 4; ++i) x += c[i] * dir[size_t(i * kD + j)] * 0.3f;
      k[size_t(t * kD + j)] = x;
      v[size_t(t * kD + j)] = N(g);
    }
  }
}

struct Row {
  std::string source, witness, anchors, frac_kind, residency;
  int64_t n_kv = 0;
  double frac = 0, frac_actual = 0;
  double t_prep = 0, t_anchor = 0, t_scan = 0, t_compact = 0, t_attend = 0, t_total = 0, t_sum = 0, t_dense = 0, t_adaptive = 0;
  double b_anchor = 0, b_scan = 0, b_compact = 0, b_attend = 0, b_dense = 0, b_prep = 0;
  // multiply-adds per phase (float32 FMA lanes; the integer scan: int16 MACs) for the compute roofline
  double f_prep = 0, f_anchor = 0, f_scan = 0, f_attend = 0, f_dense = 0;
  bool scan_int = false;
  double t_attend_nopf = 0;
  double rec_bytes = 0;
  bool adaptive_dense = false;
  std::string valid;
};

double frac_of(double t, double bytes, double bw) { return t > 0 ? bytes / (bw * 1e9) / t : 0; }

// Roofline of a phase: the larger of bytes / read bandwidth and multiply-adds / peak rate; returns the
// fraction of it reached (roofline time / measured time) and which bound it is ("bytes" or "flops").
struct Roof {
  double frac = 0;
  const char* kind = "bytes";
};
Roof roof(double t, double bytes, double bw, double macs, double peak) {
  const double tb = bytes / (bw * 1e9), tf = peak > 0 ? macs / peak : 0;
  Roof r;
  r.kind = tf > tb ? "flops" : "bytes";
  r.frac = t > 0 ? std::max(tb, tf) / t : 0;
  return r;
}
std::string roof_cell(double t, const Roof& r) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f (%.2f%c)", t * 1e3, r.frac, r.kind[0]);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string out_dir = "ghostkv_bench_out", capture;  // never the committed results/ by default
  std::string capture_layers = "0,3,7";
  int64_t cap_queries = 16;
  std::string sizes_arg, cert_fracs_arg, wits_arg, fracs_arg, quant_scan = "i16";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      GKV_CHECK(i + 1 < argc, "ghostkv_bench: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--quick") quick = true;
    else if (a == "--out") out_dir = next();
    else if (a == "--capture") capture = next();
    else if (a == "--capture-layers") capture_layers = next();
    else if (a == "--capture-queries") cap_queries = std::atoll(next().c_str());
    else if (a == "--sizes") sizes_arg = next();
    else if (a == "--certified-fracs") cert_fracs_arg = next();
    else if (a == "--witnesses") wits_arg = next();
    else if (a == "--quant-scan") quant_scan = next();
    else if (a == "--fracs") fracs_arg = next();
    else {
      std::fprintf(stderr,
                   "usage: ghostkv_bench [--quick] [--out DIR] [--capture DIR [--capture-layers 0,3,7] "
                   "[--capture-queries 16]] [--sizes 4096,32768,131072 | none] [--certified-fracs W:F[:LABEL],...]\n"
                   "  [--witnesses lowrank-r16,int8,int4-g64,mixed] [--quant-scan i16|f32] [--fracs 0.01,0.05,0.2,1]\n"
                   "  --certified-fracs: survivor fractions that certification gave on a real capture (see the\n"
                   "  certified table of a --capture run); timed like the forced ones, labelled certified\n"
                   "  GHOSTKV_BENCH_NO_FLUSH=1: time every size warm (no cache flush)\n"
                   "  GHOSTKV_BENCH_HUGEPAGES=1: K, V on transparent huge pages (madvise)\n");
      return a == "--help" ? 0 : 2;
    }
  }
  try {
    shell("mkdir -p '" + out_dir + "'");
    const int threads = n_threads();
    const int64_t l3 = l3_bytes();
    const std::string commit = GHOSTKV_BENCH_COMMIT, dirty;
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const double bw = measure_read_gbps(std::max<int64_t>(quick ? 256 << 20 : 1024 << 20, 8 * l3), quick ? 2 : 4);
    const double peak_fma = measure_peak(0), peak_madd = measure_peak(1);
    std::fprintf(stderr, "read bandwidth %.2f GB/s, peak %.1f G float32 FMA/s, %.1f G int16 MAC/s (%s) (%d threads, simd %s, L3 %lld MiB)\n",
                 bw, peak_fma / 1e9, peak_madd / 1e9, cpu::quant_i16_isa(), threads, cpu::simd_level(), (long long)(l3 >> 20));
    // cache flush for the DRAM-resident sizes: 1.5× L3, one float per line, on every thread
    std::vector<float> flush_buf(static_cast<size_t>(3 * l3 / 2 / 4), 1.0f);
    volatile float flush_sink = 0;
    auto flush = [&] {
      const int64_t nf = int64_t(flush_buf.size());
      float tot = 0;
#pragma omp parallel for schedule(static) reduction(+ : tot)
      for (int64_t i = 0; i < nf; i += 16) tot += flush_buf[size_t(i)];
      flush_sink = tot;
    };

    std::vector<Witness> wits = {{"lowrank-r16", true, "", 0}, {"int8", false, "8", 0}, {"int4-g64", false, "4", 64},
                                 {"mixed", false, "8x16,4x48,2x64", 0}};
    std::vector<int64_t> sizes = quick ? std::vector<int64_t>{4096} : std::vector<int64_t>{4096, 32768, 131072};
    if (!sizes_arg.empty()) {
      sizes.clear();
      std::stringstream zs(sizes_arg);
      for (std::string x; std::getline(zs, x, ',');)
        if (x != "none") {
          const int64_t v = std::atoll(x.c_str());
          GKV_CHECK(v >= kBase && v % kBase == 0, "ghostkv_bench: --sizes entries must be multiples of ", kBase, ", got '", x, "'");
          sizes.push_back(v);
        }
    }
    std::vector<double> fracs = quick ? std::vector<double>{0.05, 1.0} : std::vector<double>{0.01, 0.05, 0.2, 1.0};
    if (!fracs_arg.empty()) {
      fracs.clear();
      std::stringstream fs(fracs_arg);
      for (std::string x; std::getline(fs, x, ',');)
        if (!x.empty()) fracs.push_back(std::atof(x.c_str()));
    }
    const size_t n_forced = fracs.size();
    struct CertFrac {
      std::string witness;
      double frac;
      std::string label;  // where it was certified (capture, δ), shown with the row
    };
    std::vector<CertFrac> cert_fracs;
    {
      std::stringstream cs(cert_fracs_arg);
      for (std::string x; std::getline(cs, x, ',');) {
        if (x.empty()) continue;
        const size_t c = x.find(':');
        GKV_CHECK(c != std::string::npos, "ghostkv_bench: --certified-fracs entries are WITNESS:FRACTION[:LABEL], got '", x, "'");
        const size_t c2 = x.find(':', c + 1);
        const double v = std::atof(x.substr(c + 1, c2 == std::string::npos ? std::string::npos : c2 - c - 1).c_str());
        GKV_CHECK(v > 0 && v <= 1, "ghostkv_bench: --certified-fracs fraction must be in (0, 1], got '", x, "'");
        cert_fracs.push_back({x.substr(0, c), v, c2 == std::string::npos ? "" : x.substr(c2 + 1)});
      }
    }
    if (quick) wits = {wits[0], wits[2]};
    GKV_CHECK(quant_scan == "i16" || quant_scan == "f32", "ghostkv_bench: --quant-scan must be i16 or f32, got '", quant_scan, "'");
    const bool quant_i16 = quant_scan == "i16";
    const bool no_flush = std::getenv("GHOSTKV_BENCH_NO_FLUSH") != nullptr;  // diagnostics: time every size warm
    if (!wits_arg.empty()) {
      std::vector<Witness> keep;
      for (const Witness& w : wits)
        if (("," + wits_arg + ",").find("," + w.name + ",") != std::string::npos) keep.push_back(w);
      GKV_CHECK(!keep.empty(), "ghostkv_bench: --witnesses '", wits_arg, "' names none of lowrank-r16, int8, int4-g64, mixed");
      wits = keep;
    }
    std::vector<Row> rows;

    // ---- certified fractions from real captures ----
    struct Cert {
      std::string source, witness, anchors;
      double delta, frac, elim, violations, cert_fail;
    };
    std::vector<Cert> certs;
    if (!capture.empty()) {
      std::vector<int64_t> layers;
      std::stringstream ss(capture_layers);
      for (std::string x; std::getline(ss, x, ',');) layers.push_back(std::atoll(x.c_str()));
      for (const Witness& w : wits)
        for (double delta : {1e-3, 1e-2})
          for (bool anchors : {false, true}) {
            double att = 0, seen = 0, elim = 0, viol = 0, cf = 0;
            int64_t nsteps = 0;
            for (int64_t L : layers) {
              AttnInputs full = read_capture_layer(capture, L);
              // the last cap_queries queries
              const int64_t nq = std::min(cap_queries, full.n_q()), q0 = full.n_q() - nq;
              AttnInputs in;
              in.scale = full.scale;
              in.k = full.k.clone();
              in.v = full.v.clone();
              in.q = Tensor(DType::f32, {nq, full.n_head_q(), full.d_head()});
              std::memcpy(in.q.data<float>(), full.q.data<float>() + q0 * full.n_head_q() * full.d_head(),
                          size_t(nq * full.n_head_q() * full.d_head()) * 4);
              in.positions = Tensor(DType::i64, {nq});
              for (int64_t i = 0; i < nq; ++i) in.positions.data<int64_t>()[i] = full.pos(q0 + i);
              validate_inputs(in);
              EliminateOptions o;
              o.witness = w.lowrank ? WitnessKind::lowrank : WitnessKind::quant;
              o.rank = 16;
              o.storage = Storage::bf16;
              o.bits = w.lowrank ? "8" : w.bits;
              if (w.name == "mixed" && in.d_head() != 128)  // the same proportions for another head size
                o.bits = str_cat("8x", in.d_head() / 8, ",4x", 3 * in.d_head() / 8, ",2");
              o.group = w.group;
              o.policy.kind = PolicyKind::mass;
              o.policy.value = delta;
              if (anchors) o.anchors.kind = AnchorKind::page, o.anchors.page = 16;
              const EliminateResult r = run_eliminate(in, o);
              for (const StepStats& s : r.steps) {
                att += double(s.n_seen - s.n_elim);
                seen += double(s.n_seen);
                elim += s.n_cand ? double(s.n_elim) / double(s.n_cand) : 0.0;
                ++nsteps;
              }
              viol += double(r.violations);
              cf += double(r.certificate_failures);
            }
            certs.push_back({capture, w.name, anchors ? "page16-box" : "none", delta, att / seen, elim / double(nsteps), viol, cf});
            std::fprintf(stderr, "certified %s %s anchors=%d δ=%g: attended %.4f of visible keys, elim %.4f, violations %g\n",
                         capture.c_str(), w.name.c_str(), int(anchors), delta, att / seen, elim / double(nsteps), viol);
          }
    }

    for (int64_t n : sizes) {
      std::mt19937_64 gen(static_cast<uint64_t>(n));
      std::vector<HeadData> heads(kHkv);
      std::vector<float> qall(static_cast<size_t>(kHkv * kGroup * kD));
      {
        std::normal_distribution<float> N(0, 1);
        for (auto& x : qall) x = N(gen) * 0.03f;  // σ·q_raw
      }
      // K, V (bf16, tiled from kBase distinct tokens per head) and the float base for validation
      for (int64_t g = 0; g < kHkv; ++g) {
        HeadData& h = heads[size_t(g)];
        std::vector<float> vb;
        make_base(gen, h.kf, vb);
        // the stored (bf16) values are the truth every path sees
        for (auto& x : h.kf) x = bf16_to_f32(f32_to_bf16(x));
        for (auto& x : vb) x = bf16_to_f32(f32_to_bf16(x));
        h.k.resize(size_t(n * kD));
        h.v.resize(size_t(n * kD));
        for (int64_t t = 0; t < n; ++t)
          for (int64_t j = 0; j < kD; ++j) {
            h.k[size_t(t * kD + j)] = f32_to_bf16(h.kf[size_t((t % kBase) * kD + j)]);
            h.v[size_t(t * kD + j)] = f32_to_bf16(vb[size_t((t % kBase) * kD + j)]);
          }
        h.basis = fit_basis(BasisKind::pca, h.kf.data(), kBase, kD, kD, kD, uint64_t(g));
        AnchorParams ap;
        ap.kind = AnchorKind::page;
        ap.page = 16;
        // anchors over the tiled range: pages of the base repeat, so build on the base and tile the summaries
        AnchorSet ab = build_anchors(ap, h.basis, h.kf.data(), vb.data(), kBase, kD);
        h.an = ab;
        const int64_t tiles = n / kBase;
        h.an.n_tokens = n;
        h.an.n_anchors = ab.n_anchors * tiles;
        h.an.lo.clear(), h.an.hi.clear(), h.an.nu_max.clear(), h.an.mag.clear();
        for (int64_t x = 0; x < tiles; ++x) {
          h.an.lo.insert(h.an.lo.end(), ab.lo.begin(), ab.lo.end());
          h.an.hi.insert(h.an.hi.end(), ab.hi.begin(), ab.hi.end());
          h.an.nu_max.insert(h.an.nu_max.end(), ab.nu_max.begin(), ab.nu_max.end());
          h.an.mag.insert(h.an.mag.end(), ab.mag.begin(), ab.mag.end());
        }
        h.an.anchor_of.clear(), h.an.member_start.clear(), h.an.members.clear();  // pages: token t ∈ anchor t/16
        h.qt = QuantRecords{};
        h.lr = LowRankRecords{};
        (void)vb;
      }
      const int64_t n_pages = n / 16;
      const double kv_bytes_tok = 2.0 * kD * 2;  // bf16 K + V per token and KV head
      // residency: the K, V of all KV heads against the L3 size. DRAM-resident sizes are timed with the
      // caches flushed before every repetition; cache-resident ones warm (the data of the previous rep).
      const double kv_all = double(n) * kHkv * kv_bytes_tok;
      const bool dram = kv_all > 0.5 * double(l3) && !no_flush;
      g_flush = dram ? std::function<void()>(flush) : std::function<void()>();
      const double t_dense = time_best(
          [&] {
#pragma omp parallel for schedule(static)
            for (int64_t g = 0; g < kHkv; ++g) {
              cpu::KvView kv{heads[size_t(g)].k.data(), heads[size_t(g)].v.data(), cpu::KvType::bf16, kD};
              std::vector<float> out(static_cast<size_t>(kGroup * kD));
              cpu::attend_multi(qall.data() + g * kGroup * kD, kGroup, kD, kv, nullptr, n, out.data());
            }
          },
          quick ? 5 : 7, quick ? 0.05 : 0.3);
      const double b_dense = double(n) * kHkv * kv_bytes_tok;
      const std::string residency = dram ? "dram" : "cache";
      const double f_dense = double(n) * kHkv * kGroup * 2.0 * kD;  // q·k and p·v per token and query head
      std::fprintf(stderr, "n_kv %lld: dense %.3f ms (%.2f GB/s, %s%s)\n", (long long)n, t_dense * 1e3, b_dense / t_dense / 1e9,
                   residency.c_str(), dram ? ", flushed" : "");

      for (const Witness& w : wits) {
        // records: built on the base tokens, tiled to n
        for (int64_t g = 0; g < kHkv; ++g) {
          HeadData& h = heads[size_t(g)];
          std::vector<float> vb(static_cast<size_t>(kBase * kD));
          for (int64_t t = 0; t < kBase; ++t)
            for (int64_t j = 0; j < kD; ++j) vb[size_t(t * kD + j)] = bf16_to_f32(h.v[size_t(t * kD + j)]);
          if (w.lowrank) {
            h.lr = tile_lowrank(build_lowrank(h.basis, 16, 1, Storage::bf16, h.kf.data(), vb.data(), kBase, kD), n);
          } else {
            h.qt = tile_quant(build_quant(h.basis, parse_bits(w.bits, kD), w.group, kBase, h.kf.data(), vb.data(), kBase, kD), n);
          }
        }
        const HeadData& h0 = heads[0];
        // bytes the scan reads per token (records without ν, which only the certificate reads) and writes
        const double scan_read = w.lowrank ? double(h0.lr.r * 2 + 2 + 2 * h0.lr.blocks) : double(h0.qt.code_bytes);
        const double rec_bytes = w.lowrank ? double(h0.lr.record_bytes()) : double(h0.qt.record_bytes());
        // per-head queries and preparation
        std::vector<std::vector<std::vector<double>>> qd(kHkv, std::vector<std::vector<double>>(kGroup, std::vector<double>(kD)));
        for (int64_t g = 0; g < kHkv; ++g)
          for (int64_t hh = 0; hh < kGroup; ++hh)
            for (int64_t j = 0; j < kD; ++j) qd[size_t(g)][size_t(hh)][size_t(j)] = double(qall[size_t((g * kGroup + hh) * kD + j)]);
        std::vector<std::vector<LowRankQuery>> lq(kHkv, std::vector<LowRankQuery>(kGroup));
        std::vector<std::vector<QuantQuery>> qq(kHkv, std::vector<QuantQuery>(kGroup));
        std::vector<std::vector<double>> qmu(kHkv, std::vector<double>(kGroup));
        auto prep_g = [&](int64_t g) {
          if (!w.lowrank) {
            const double* qp[kGroup];
            for (int64_t hh = 0; hh < kGroup; ++hh) qp[hh] = qd[size_t(g)][size_t(hh)].data();
            cpu::prepare_quant_queries(heads[size_t(g)].basis, heads[size_t(g)].qt, qp, int(kGroup), -1, !quant_i16,
                                       qq[size_t(g)].data());
          }
          for (int64_t hh = 0; hh < kGroup; ++hh) {
            const double* q = qd[size_t(g)][size_t(hh)].data();
            if (w.lowrank) lq[size_t(g)][size_t(hh)] = prepare_lowrank_query(heads[size_t(g)].basis, heads[size_t(g)].lr, q);
            double s = 0;
            for (int64_t j = 0; j < kD; ++j) s += q[j] * double(heads[size_t(g)].basis.mu[size_t(j)]);
            qmu[size_t(g)][size_t(hh)] = s;
          }
        };
        auto prep = [&] {
#pragma omp parallel for schedule(static)
          for (int64_t g = 0; g < kHkv; ++g) prep_g(g);
        };
        const double t_prep = time_best(prep, quick ? 5 : 7, 0.0);
        std::vector<std::vector<std::vector<float>>> ub(kHkv, std::vector<std::vector<float>>(kGroup, std::vector<float>(size_t(n))));
        // the token scan of KV head g over [t0, t1): one QuantScanI16 per (step, KV head) serves all its spans
        struct Scanner {
          std::unique_ptr<cpu::QuantScanI16> i16;
        };
        auto make_scanner = [&](int64_t g) {
          Scanner sc;
          if (!w.lowrank && quant_i16) {
            const QuantQuery* pq[kGroup];
            for (int64_t hh = 0; hh < kGroup; ++hh) pq[hh] = &qq[size_t(g)][size_t(hh)];
            sc.i16 = std::make_unique<cpu::QuantScanI16>(heads[size_t(g)].qt, pq, int(kGroup));
          }
          return sc;
        };
        auto scan_with = [&](Scanner& sc, int64_t g, int64_t t0, int64_t t1) {
          float* p[kGroup];
          for (int64_t hh = 0; hh < kGroup; ++hh) p[hh] = ub[size_t(g)][size_t(hh)].data() + t0;
          if (w.lowrank) {
            const LowRankQuery* pq[kGroup];
            for (int64_t hh = 0; hh < kGroup; ++hh) pq[hh] = &lq[size_t(g)][size_t(hh)];
            cpu::lowrank_bounds_multi_f32(heads[size_t(g)].lr, pq, kGroup, t0, t1, p);
          } else if (sc.i16) {
            sc.i16->bounds(t0, t1, p);
          } else {
            const QuantQuery* pq[kGroup];
            for (int64_t hh = 0; hh < kGroup; ++hh) pq[hh] = &qq[size_t(g)][size_t(hh)];
            cpu::quant_bounds_multi_f32(heads[size_t(g)].qt, pq, kGroup, t0, t1, p);
          }
        };
        auto scan_range = [&](int64_t g, int64_t t0, int64_t t1) {
          Scanner sc = make_scanner(g);
          scan_with(sc, g, t0, t1);
        };
        // ---- validation: bounds ≥ true scores (sampled tokens, every head), close to ref:: ----
        std::string valid = "ok";
        {
          for (int64_t g = 0; g < kHkv; ++g) scan_range(g, 0, n);
          std::mt19937_64 vr(7);
          int64_t bad = 0, far = 0;
          for (int s = 0; s < (quick ? 200 : 1000); ++s) {
            const int64_t g = int64_t(vr() % kHkv), hh = int64_t(vr() % kGroup), t = int64_t(vr() % uint64_t(n));
            const HeadData& h = heads[size_t(g)];
            const float* kt = h.kf.data() + (t % kBase) * kD;
            double truth = 0;  // centred score in float64 (bf16 keys: exact products)
            for (int64_t j = 0; j < kD; ++j) truth += qd[size_t(g)][size_t(hh)][size_t(j)] * (double(kt[j]) - double(h.basis.mu[size_t(j)]));
            const double u = ub[size_t(g)][size_t(hh)][size_t(t)];
            if (!(u >= truth - 1e-9 * std::fabs(truth))) ++bad;
            double r;
            if (w.lowrank) ref::lowrank_bounds(h.lr, lq[size_t(g)][size_t(hh)], t, t + 1, &r);
            else ref::quant_bounds(h.qt, qq[size_t(g)][size_t(hh)], t, t + 1, &r);
            // the integer scan adds its weight rounding D ≤ 2^-13·max|w32|·Σ(2^b − 1) (fast.h): allowed here
            double dtol = 0;
            if (!w.lowrank && quant_i16) {
              const QuantQuery& pq = qq[size_t(g)][size_t(hh)];
              const int64_t gg = h.qt.group_of[size_t(t)];
              double M = 0, sb = 0;
              for (int64_t j = 0; j < kD; ++j) {
                if (h.qt.bits[size_t(j)] == 0) continue;
                M = std::max(M, std::fabs(double(float(pq.qr[size_t(j)])) * f16_to_f32(h.qt.half_step[size_t(gg * kD + j)])));
                sb += double((1 << h.qt.bits[size_t(j)]) - 1);
              }
              dtol = M * 0x1p-13 * sb * 1.01;
            }
            if (std::fabs(u - r) > 1e-3 * (1 + std::fabs(r)) + dtol) ++far;
          }
          if (bad || far) valid = "FAIL(bounds below truth " + std::to_string(bad) + ", far from ref " + std::to_string(far) + ")";
        }
        const double t_scan_full = time_best(
            [&] {
#pragma omp parallel for schedule(static)
              for (int64_t g = 0; g < kHkv; ++g) scan_range(g, 0, n);
            },
            quick ? 5 : 7, quick ? 0.05 : 0.2);
        std::vector<double> wfracs = fracs;
        std::vector<std::string> wlabels(fracs.size());
        for (const CertFrac& c : cert_fracs)
          if (c.witness == w.name) wfracs.push_back(c.frac), wlabels.push_back(c.label);
        for (bool anchors : {false, true}) {
          for (size_t fi = 0; fi < wfracs.size(); ++fi) {
            const double f = wfracs[fi];
            Row row;
            row.source = "synthetic";
            row.witness = w.name;
            row.anchors = anchors ? "page16-box" : "none";
            row.frac_kind = fi < n_forced ? "forced" : wlabels[fi].empty() ? "certified" : "certified " + wlabels[fi];
            row.residency = residency;
            row.n_kv = n;
            row.frac = f;
            row.t_prep = t_prep;
            row.t_dense = t_dense;
            row.b_dense = b_dense;
            row.rec_bytes = rec_bytes;
            // forced survivors: head 0's bounds above its (1 − f) quantile, other heads never keep
            // (without anchors); with anchors, a random f of the pages survive whole.
            std::vector<std::vector<float>> thr(kHkv, std::vector<float>(kGroup, INFINITY));
            std::vector<std::vector<uint8_t>> page_keep(kHkv, std::vector<uint8_t>(size_t(n_pages), 0));
            std::mt19937_64 pg(static_cast<uint64_t>(n) * 31 + uint64_t(f * 1000));
            for (int64_t g = 0; g < kHkv; ++g) {
              if (!anchors) {
                std::vector<float> s = ub[size_t(g)][0];
                const int64_t kth = std::clamp<int64_t>(int64_t(std::ceil(f * double(n))), 1, n);
                std::nth_element(s.begin(), s.begin() + (n - kth), s.end());
                thr[size_t(g)][0] = s[size_t(n - kth)];
              } else {
                for (int64_t p = 0; p < n_pages; ++p) page_keep[size_t(g)][size_t(p)] = std::uniform_real_distribution<double>(0, 1)(pg) < f;
                for (int64_t hh = 0; hh < kGroup; ++hh) thr[size_t(g)][size_t(hh)] = -INFINITY;
              }
            }
            std::vector<std::vector<int64_t>> idx(kHkv, std::vector<int64_t>(size_t(n)));
            std::vector<int64_t> cnt(kHkv, 0);
            std::vector<std::vector<double>> uba2(kHkv * kGroup, std::vector<double>(size_t(std::max<int64_t>(h0.an.n_anchors, 1))));
            auto anchor_g = [&](int64_t g) {
              const double* qp[kGroup];
              double* up[kGroup];
              for (int64_t hh = 0; hh < kGroup; ++hh)
                qp[hh] = qd[size_t(g)][size_t(hh)].data(), up[hh] = uba2[size_t(g * kGroup + hh)].data();
              cpu::anchor_bounds_multi(heads[size_t(g)].an, heads[size_t(g)].basis, qp, int(kGroup), 0,
                                       heads[size_t(g)].an.n_anchors, up);
            };

            // token scan: all tokens, or the surviving pages' tokens (runs of pages)
            auto scan_g = [&](int64_t g) {
              if (!anchors) {
                scan_range(g, 0, n);
                return;
              }
              Scanner sc = make_scanner(g);
              for (int64_t p = 0; p < n_pages;) {
                if (!page_keep[size_t(g)][size_t(p)]) { ++p; continue; }
                int64_t p1 = p;
                while (p1 < n_pages && page_keep[size_t(g)][size_t(p1)]) ++p1;
                scan_with(sc, g, p * 16, p1 * 16);
                p = p1;
              }
            };
            auto compact_g = [&](int64_t g) {
              const float* p[kGroup];
              int64_t c = 0;
              if (!anchors) {
                for (int64_t hh = 0; hh < kGroup; ++hh) p[hh] = ub[size_t(g)][size_t(hh)].data();
                c = cpu::compact_survivors(p, thr[size_t(g)].data(), kGroup, n, 0, idx[size_t(g)].data());
              } else {
                for (int64_t pp = 0; pp < n_pages; ++pp) {
                  if (!page_keep[size_t(g)][size_t(pp)]) continue;
                  for (int64_t hh = 0; hh < kGroup; ++hh) p[hh] = ub[size_t(g)][size_t(hh)].data() + pp * 16;
                  c += cpu::compact_survivors(p, thr[size_t(g)].data(), kGroup, 16, pp * 16, idx[size_t(g)].data() + c);
                }
              }
              cnt[size_t(g)] = c;
            };
            auto attend_g = [&](int64_t g) {
              cpu::KvView kv{heads[size_t(g)].k.data(), heads[size_t(g)].v.data(), cpu::KvType::bf16, kD};
              float out[kGroup * kD];
              cpu::attend_multi(qall.data() + g * kGroup * kD, kGroup, kD, kv, idx[size_t(g)].data(), cnt[size_t(g)], out);
            };
            auto par = [&](const std::function<void(int64_t)>& fn) {
#pragma omp parallel for schedule(static)
              for (int64_t g = 0; g < kHkv; ++g) fn(g);
            };
            auto anchor_phase = [&] { par(anchor_g); };
            auto scan_phase = [&] { par(scan_g); };
            auto compact_phase = [&] { par(compact_g); };
            auto attend_phase = [&] { par(attend_g); };
            // the whole step fused per KV head (one parallel region): what a decode step runs
            auto fused_step = [&] {
              par([&](int64_t g) {
                prep_g(g);
                if (anchors) anchor_g(g);
                scan_g(g);
                compact_g(g);
                attend_g(g);
              });
            };
            scan_phase();
            compact_phase();
            double surv = 0;
            for (int64_t g = 0; g < kHkv; ++g) surv += double(cnt[size_t(g)]);
            row.frac_actual = surv / double(n * kHkv);
            // validate the attention over the survivors of head 0 against float64
            {
              std::vector<float> out(static_cast<size_t>(kGroup * kD));
              cpu::KvView kv{heads[0].k.data(), heads[0].v.data(), cpu::KvType::bf16, kD};
              cpu::attend_multi(qall.data(), kGroup, kD, kv, idx[0].data(), cnt[0], out.data());
              const int64_t m = std::min<int64_t>(cnt[0], quick ? 4096 : 1 << 30);
              std::vector<double> s(static_cast<size_t>(m));
              double mx = -INFINITY, z = 0, err = 0;
              std::vector<double> o(size_t(kD), 0.0);
              for (int64_t x = 0; x < m; ++x) {
                const float* kt = heads[0].kf.data() + (idx[0][size_t(x)] % kBase) * kD;
                double a = 0;
                for (int64_t j = 0; j < kD; ++j) a += double(qall[size_t(j)]) * kt[j];
                s[size_t(x)] = a;
                mx = std::max(mx, a);
              }
              for (int64_t x = 0; x < m; ++x) z += (s[size_t(x)] = std::exp(s[size_t(x)] - mx));
              for (int64_t x = 0; x < m; ++x)
                for (int64_t j = 0; j < kD; ++j)
                  o[size_t(j)] += s[size_t(x)] / z * double(bf16_to_f32(heads[0].v[size_t(idx[0][size_t(x)] * kD + j)]));
              if (m == cnt[0])
                for (int64_t j = 0; j < kD; ++j) err = std::max(err, std::fabs(o[size_t(j)] - double(out[size_t(j)])));
              if (err > 1e-3) valid = valid == "ok" ? "FAIL(attention err " + std::to_string(err) + ")" : valid;
            }
            row.valid = valid;
            // DRAM-resident (flushed) repetitions are each cold: fewer of them, no minimum time
            const int reps = quick || dram ? 5 : 7;
            const double mt = quick || dram ? 0.0 : 0.15;
            row.t_anchor = anchors ? time_best(anchor_phase, reps, mt) : 0.0;
            row.t_scan = anchors ? time_best(scan_phase, reps, mt) : t_scan_full;
            row.t_compact = time_best(compact_phase, reps, mt);
            row.t_attend = time_best(attend_phase, reps, mt);
            {  // the same phase without software prefetch of the gathered rows (A/B in the same run)
              const int64_t pf = cpu::set_prefetch_distance(0);
              row.t_attend_nopf = time_best(attend_phase, reps, mt);
              cpu::set_prefetch_distance(pf);
            }
            row.t_sum = row.t_prep + row.t_anchor + row.t_scan + row.t_compact + row.t_attend;
            row.t_total = time_best(fused_step, reps, mt);
            const double scanned = anchors ? 0.0 : double(n * kHkv);
            double scanned_a = scanned;
            if (anchors) {
              for (int64_t g = 0; g < kHkv; ++g)
                for (int64_t p = 0; p < n_pages; ++p) scanned_a += page_keep[size_t(g)][size_t(p)] ? 16.0 : 0.0;
            }
            row.b_anchor = anchors ? double(h0.an.n_anchors * kHkv * h0.an.anchor_bytes()) : 0.0;
            row.b_scan = scanned_a * (scan_read + 4.0 * kGroup);
            row.b_compact = scanned_a * 4.0 * kGroup + surv * 8.0;
            row.b_attend = surv * (kv_bytes_tok + 8.0);
            row.scan_int = !w.lowrank && quant_i16 && [&] {
              const QuantQuery* pq[kGroup];
              for (int64_t hh = 0; hh < kGroup; ++hh) pq[hh] = &qq[0][size_t(hh)];
              return cpu::QuantScanI16(heads[0].qt, pq, int(kGroup)).integer();
            }();
            // multiply-adds: scan H·r (low-rank) or H·d (quantized) per token; anchors 1 per component, head
            // and anchor; attention 2·d per survivor and head; prep (float64, against half the float32 peak):
            // the basis projections (d per row and head) and, quantized, the per-group sums (2·H + 3 per
            // component)
            row.f_scan = scanned_a * kGroup * (w.lowrank ? double(h0.lr.r + 2) : double(kD));
            row.f_anchor = anchors ? double(h0.an.n_anchors) * kHkv * kGroup * kD : 0.0;
            row.f_attend = surv * kGroup * 2.0 * kD;
            row.f_dense = f_dense;
            row.f_prep = double(kHkv) * kGroup * double(w.lowrank ? h0.lr.r : kD) * kD +
                         (w.lowrank ? 0.0 : double(kHkv) * double(h0.qt.n_groups) * kD * (2.0 * kGroup + 3));
            row.b_prep = w.lowrank ? double(kHkv) * h0.lr.r * kD * 4
                                   : double(kHkv) * (kD * kD * 4 + double(h0.qt.n_groups) * kD * 4 +
                                                     (quant_i16 ? 0.0 : double(h0.qt.n_groups) * kD * 4 * kGroup));
            // adaptive fallback: predicted from the bytes and the observed survivor fraction
            // adaptive fallback over 1024 steps of this case: a witness step costs t_total and reports its
            // survivor fraction and time ratio; a dense step costs t_dense
            cpu::FallbackPredictor fp;
            fp.record_bytes = (scan_read + 4.0 * kGroup) * (anchors ? scanned_a / double(n * kHkv) : 1.0) +
                              (anchors ? double(h0.an.anchor_bytes()) / 16.0 : 0.0);
            fp.kv_bytes = kv_bytes_tok;
            double t_sum = 0;
            int64_t n_witness = 0;
            const int64_t n_steps = 1024;
            for (int64_t s = 0; s < n_steps; ++s) {
              if (fp.use_witness()) {
                t_sum += row.t_total;
                ++n_witness;
                fp.observe(row.frac_actual);
                fp.observe_time_ratio(row.t_total / t_dense);
              } else {
                t_sum += t_dense;
              }
            }
            row.adaptive_dense = n_witness * 2 < n_steps;
            row.t_adaptive = t_sum / double(n_steps);
            rows.push_back(row);
            std::fprintf(stderr, "  %-11s anchors=%-10s n=%-6lld f=%.2f (actual %.3f): total %.3f ms dense %.3f ms speedup %.2fx%s %s\n",
                         w.name.c_str(), row.anchors.c_str(), (long long)n, f, row.frac_actual, row.t_total * 1e3,
                         t_dense * 1e3, t_dense / row.t_total, row.adaptive_dense ? " (adaptive: dense)" : "", valid.c_str());
          }
        }
      }
    }

    // ---- outputs ----
    // prep, anchor, scan, compact, attend, dense
    auto roofs = [&](const Row& r) {
      const double scan_peak = r.scan_int ? peak_madd : peak_fma;
      return std::vector<Roof>{roof(r.t_prep, r.b_prep, bw, r.f_prep, peak_fma / 2),  // prep sums are float64
                               roof(r.t_anchor, r.b_anchor, bw, r.f_anchor, peak_fma),
                               roof(r.t_scan, r.b_scan, bw, r.f_scan, scan_peak),
                               roof(r.t_compact, r.b_compact, bw, 0, peak_fma),
                               roof(r.t_attend, r.b_attend, bw, r.f_attend, peak_fma),
                               roof(r.t_dense, r.b_dense, bw, r.f_dense, peak_fma)};
    };
    const std::string csv_path = out_dir + (quick ? "/bench_quick.csv" : "/bench.csv");
    const std::string md_path = out_dir + (quick ? "/bench_quick.md" : "/bench.md");
    std::ofstream csv(csv_path);
    csv << "# ghostkv_bench commit=" << commit << dirty << " date=" << date << " threads=" << threads << " cpu=\"" << cpu_model()
        << "\" simd=" << cpu::simd_level() << " l3_mib=" << (l3 >> 20) << " read_gbps=" << bw << " peak_fma_g=" << peak_fma / 1e9
        << " peak_i16mac_g=" << peak_madd / 1e9 << " i16_isa=" << cpu::quant_i16_isa() << " kv_hugepages=" << huge_pages() << "\n";
    csv << "source,witness,anchors,frac_kind,residency,n_kv,n_head_q,n_head_kv,d,frac,frac_actual,record_bytes,"
           "t_prep_ms,t_anchor_ms,t_scan_ms,t_compact_ms,t_attend_ms,t_phase_sum_ms,t_total_ms,t_dense_ms,speedup,t_adaptive_ms,"
           "adaptive_dense,adaptive_vs_dense,scan_gbps,scan_bw_frac,attend_gbps,attend_bw_frac,dense_gbps,dense_bw_frac,"
           "anchor_bw_frac,compact_bw_frac,scan_arith,t_attend_nopf_ms,prep_roof,prep_roof_kind,anchor_roof,anchor_roof_kind,"
           "scan_roof,scan_roof_kind,compact_roof,compact_roof_kind,attend_roof,attend_roof_kind,dense_roof,dense_roof_kind,"
           "valid,commit,threads,cpu,date\n";
    for (const Row& r : rows) {
      csv << r.source << "," << r.witness << "," << r.anchors << "," << r.frac_kind << "," << r.residency << "," << r.n_kv << ","
          << kHkv * kGroup << "," << kHkv << "," << kD << "," << r.frac << "," << r.frac_actual << "," << r.rec_bytes << ","
          << r.t_prep * 1e3 << "," << r.t_anchor * 1e3 << "," << r.t_scan * 1e3 << "," << r.t_compact * 1e3 << ","
          << r.t_attend * 1e3 << "," << r.t_sum * 1e3 << "," << r.t_total * 1e3 << "," << r.t_dense * 1e3 << "," << r.t_dense / r.t_total << ","
          << r.t_adaptive * 1e3 << "," << int(r.adaptive_dense) << "," << r.t_adaptive / r.t_dense << ","
          << r.b_scan / r.t_scan / 1e9 << "," << frac_of(r.t_scan, r.b_scan, bw) << "," << r.b_attend / r.t_attend / 1e9 << ","
          << frac_of(r.t_attend, r.b_attend, bw) << "," << r.b_dense / r.t_dense / 1e9 << "," << frac_of(r.t_dense, r.b_dense, bw)
          << "," << frac_of(r.t_anchor, r.b_anchor, bw) << "," << frac_of(r.t_compact, r.b_compact, bw) << ","
          << (r.scan_int ? "i16" : "f32") << "," << r.t_attend_nopf * 1e3;
      for (const Roof& x : roofs(r)) csv << "," << x.frac << "," << x.kind;
      csv << "," << r.valid << ","
          << commit << dirty << "," << threads << ",\"" << cpu_model() << "\"," << date << "\n";
    }
    std::ofstream md(md_path);
    md << "Measured by `ghostkv_bench" << (quick ? " --quick" : "") << (capture.empty() ? "" : " --capture " + capture)
       << "`: commit " << commit << dirty << ", " << date << ", " << threads << " threads, " << cpu_model() << ", SIMD "
       << cpu::simd_level() << ", L3 " << (l3 >> 20) << " MiB, measured read bandwidth " << bw << " GB/s, peak "
       << peak_fma / 1e9 << " G float32 FMA/s and " << peak_madd / 1e9 << " G int16 MAC/s ("
       << (std::string(cpu::quant_i16_isa()) == "avx-vnni" ? "vpdpwssd, AVX-VNNI" : "vpmaddwd + vpaddd")
       << ", the integer scan's instruction), measured on the same threads"
       << (huge_pages() ? "; K, V on transparent huge pages (GHOSTKV_BENCH_HUGEPAGES=1)" : "") << ".\n"
       << "One decode step: 32 query heads, 8 KV heads, d 128, bf16 K, V. Times in ms (best of repeats). "
          "`total` = the whole step fused per KV head in one parallel region (prep + anchors + scan + compaction + attention; the phase columns are timed separately). "
          "Each phase: time (roofline fraction + b or f): the roofline is max(bytes / measured read bandwidth, multiply-adds / measured peak), "
          "b = the bytes term is the larger (memory-bound), f = the multiply-add term (compute-bound; the integer scan [i16] against the int16 MAC peak, "
          "everything else against the float32 FMA peak, float64 prep sums at half of it); 1.00 = at the roofline. "
          "`attend no-pf` = the survivors' attention with software prefetch off (same run). residency `dram`: caches flushed (1.5x L3 read) before every "
          "repetition; `cache`: warm. Survivor fractions are FORCED "
          "(thresholds set to keep that fraction) unless the row says certified.\n\n";
    if (!rows.empty()) md << "| witness [scan] | anchors | n_kv | residency | survivors (kind; actual) | prep | anchor | scan | compact | attend | attend no-pf | total | dense | speedup | adaptive/dense | valid |\n";
    if (!rows.empty()) md << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    char buf[1024];
    for (const Row& r : rows) {
      const std::vector<Roof> rf = roofs(r);
      const std::string wname = r.witness + (r.witness == "lowrank-r16" ? "" : r.scan_int ? " [i16]" : " [f32]");
      std::snprintf(buf, sizeof buf,
                    "| %s | %s | %lld | %s | %.1f%% %s (%.1f%%) | %s | %s | %s | %s | %s | %.3f | %.3f | %s | %.2fx | %.2f%s | %s |\n",
                    wname.c_str(), r.anchors.c_str(), (long long)r.n_kv, r.residency.c_str(), r.frac * 100,
                    r.frac_kind.c_str(), r.frac_actual * 100, roof_cell(r.t_prep, rf[0]).c_str(),
                    r.anchors == "none" ? "-" : roof_cell(r.t_anchor, rf[1]).c_str(), roof_cell(r.t_scan, rf[2]).c_str(),
                    roof_cell(r.t_compact, rf[3]).c_str(), roof_cell(r.t_attend, rf[4]).c_str(), r.t_attend_nopf * 1e3,
                    r.t_total * 1e3, roof_cell(r.t_dense, rf[5]).c_str(), r.t_dense / r.t_total, r.t_adaptive / r.t_dense,
                    r.adaptive_dense ? " (dense)" : "", r.valid.c_str());
      md << buf;
    }
    if (!certs.empty()) {
      md << "\n**Certified on a real capture** (" << capture << ", layers " << capture_layers << ", last " << cap_queries
         << " queries, run_eliminate float32 path, mass policy, page anchors of 16 with box bounds where named): the "
            "fraction of visible keys attended (hot + survivors). Give these fractions to --certified-fracs "
            "WITNESS:F to time the step at them (rows labelled certified).\n\n";
      md << "| witness | anchors | δ | attended (certified) | candidates eliminated | violations | certificate failures |\n|---|---|---|---|---|---|---|\n";
      for (const Cert& c : certs) {
        std::snprintf(buf, sizeof buf, "| %s | %s | %g | %.2f%% | %.2f%% | %g | %g |\n", c.witness.c_str(), c.anchors.c_str(),
                      c.delta, c.frac * 100, c.elim * 100, c.violations, c.cert_fail);
        md << buf;
      }
      std::ofstream cc(out_dir + (quick ? "/certified_quick.csv" : "/certified.csv"));
      cc << "# ghostkv_bench commit=" << commit << dirty << " date=" << date << " threads=" << threads << "\n";
      cc << "source,witness,anchors,delta,attended_frac,elim_rate,violations,certificate_failures\n";
      for (const Cert& c : certs)
        cc << c.source << "," << c.witness << "," << c.anchors << "," << c.delta << "," << c.frac << "," << c.elim << ","
           << c.violations << "," << c.cert_fail << "\n";
    }
    std::fprintf(stderr, "wrote %s and %s\n", csv_path.c_str(), md_path.c_str());
    for (const Row& r : rows)
      if (r.valid != "ok") {
        std::fprintf(stderr, "ghostkv_bench: validation failed: %s %s n=%lld: %s\n", r.witness.c_str(), r.anchors.c_str(),
                     (long long)r.n_kv, r.valid.c_str());
        return 1;
      }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ghostkv_bench: error: %s\n", e.what());
    return 1;
  }
}
