// gpu_bench: the GPU decode path, checked and timed in one run.
//   1. builds a paged bf16 KV cache and its witness records on the host with the CPU library
//      (fit_basis + build_quant: the records the CPU reference bounds use), from fresh random
//      inputs (--mode rand) or a real capture (--mode capture: one capture layer, the last
//      --queries positions as the batch, each query seeing its causal prefix through one shared
//      page list);
//   2. runs the ghost path (certified mass policy, then forced survivor fractions) and the dense
//      flash-decoding baseline with poisoned outputs, and checks against float64 on the host:
//      zero bound violations (UB ≥ exact score for every candidate of every checked head), the
//      GQA rule, mass_lost ≤ mass_bound ≤ δ, ||o − ô|| ≤ out_err_bound, ||ô_gpu − ô_ref||/||ô_ref||,
//      no certificate flagged; with --poison also the flags of a NaN query, a NaN hot key and a NaN
//      hot value;
//   3. times every path with CUDA graphs + events after warm-up, L2 flushed before each run (a 256 MB
//      memset read back, so no written line is left to write back inside the timed region; --flush
//      write skips the read-back, as the runs up to f9891a4 did),
//      median of --reps runs, next to the bytes each phase must move and the measured copy
//      bandwidth, and appends one CSV row per (case, survivor fraction); the outputs of the last timed replay of
//      the step and of stage 2 replayed alone (each timing started on poisoned outputs) must match the checked
//      ones to 1e-5 (relative norm), or the row fails;
//   --check-only: steps 1-2 only (no timing, no CSV), plus one CUDA-graph replay of each row's step checked
//      against its direct run: for compute-sanitizer (scripts/gpu_bench.sh sanitize);
//   --gpus 0,1: the whole run on each listed device in turn, in one process (per-device state).
//   --extra LABEL=F or LABEL=F0/F1/..: more forced rows, at one fraction or at per-(batch entry, KV head) fractions;
//   --balance auto|0|1: DecodeParams::balance from each row's own counts (auto), or forced (A/B of the builds);
//   --timing graph|eager: each timed run a CUDA-graph replay (the default), or the same kernels launched directly on
//      the stream behind the flush, as scripts/gpu_torch_sdpa.py times torch SDPA (the ghost tier's runs stay graph
//      replays); either way the run's first line gives a tiny kernel's time both ways (what a launch costs beyond its
//      work).
//   --scan-timeline: after each timed row, the quant scan's timeline of its last launch (the last timed replay of
//      stage 1), which only its diagnostic build records (GHOSTKV_SCAN_DEBUG=32, G 4 / d 128): when its blocks
//      started, when their wait for prep returned, when each warp's page loop ended, and each KV head's last block's
//      end (after the cut), in µs from the first block's start; --scan-timeline-csv PATH also appends every block's
//      record there (case, label, block, KV head, then the times in µs: start, wait return, end, flush barrier, done
//      count, last (1/0), the last block's cut steps (counts summed, θ found, cut warps' barrier, fence, slot atomic),
//      the 16 warps' loop ends; empty where not recorded).
//   --split-timeline-csv PATH: with GHOSTKV_SPLIT_TL=1 and the split cut's compacting scan, every scan block's record of
//      the split timeline appended there after each timed row (name, row, block, KV head, the SM it ran on, then µs from
//      the earliest block start: start, wait return, its last warp's page loop end, cut done, end).
//   --compact-timeline: after each timed row, compact's timeline of its last launch (GHOSTKV_COMPACT_TL=1, its
//      diagnostic build; the last timed replay of stage 1), from the scan's first block's start where the scan's timeline
//      of the same launch is recorded: the blocks' starts and wait returns, and per block the first segment's bounds,
//      the first survivor-count atomic, the walk, the flush and the block's end; --compact-timeline-csv PATH also
//      appends every block's record there (case, label, block, KV head, origin, then µs: start, wait return, first
//      segment in, first atomic returned, the 4 warps' walk ends, flush end, end, then warp 0's segments and the scan's
//      last block's end, then batched (GHOSTKV_COMPACT_BATCH=1, the default) the 4 warps' first batch's ends).
//   --adaptive-steps N: after each timed row, N steps of the row launched back to back (after one L2 flush; the
//      inputs are the same every step) three ways: ghost_decode, dense_decode (the bench's dense), and the library's
//      AdaptiveDecoder (adaptive.h: ghost or dense per step from the earlier steps' observations); the time per step of
//      each loop, the decoder's path counts, and its last step checked (ghost: the outputs against the checked ones;
//      dense: the outputs against a dense run's, bitwise, and every certificate exact: nothing eliminated, bounds 0,
//      n_attended the sequence's length); --adaptive-csv PATH appends the rows there; --adaptive-every K and
//      --adaptive-lag L set the decoder's AdaptiveOptions::observe_every and max_lag (defaults 32 and 4),
//      --adaptive-no-reset its reset_on_flip to false, --adaptive-probe-budget X its probe_budget (default 0.01; 0: the
//      probe interval doubles up to max_probe_every alone).
//   --adaptive-phases F1,F2,..: after the rows, one AdaptiveDecoder through forced survivor fractions F1, F2, .. in
//      turn, --adaptive-steps N steps each (the split count of each phase's own survivors; after one L2 flush), beside
//      the ghost path's and dense's loops of each phase: per phase the decoder's time per step, its path counts and
//      runs (g: ghost, d: dense), and the step at which it settled on the better loop (the first step on it after which
//      at most 2 of the next 64 take the other path; −1: never); --adaptive-phases-csv PATH appends a row per phase.
// Exit code: 0 all checks passed, 1 a check failed, 2 bad input / CUDA error.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "adaptive.h"
#include "decode.h"
#include "pack.h"
#include "ghostkv/basis.h"
#include "ghostkv/bound.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "ghostkv/io/capture.h"
#include "ghostkv/witness.h"

using namespace ghostkv;
namespace gc = ghostkv::cuda;

#define CK(x)                                                                                    \
  do {                                                                                           \
    cudaError_t e_ = (x);                                                                        \
    if (e_ != cudaSuccess) throw std::runtime_error(std::string(#x) + ": " + cudaGetErrorString(e_)); \
  } while (0)

namespace {

int g_d = 128;  // d_head of the run (64 or 128): --d, or the capture's

struct Opts {
  std::string mode = "rand", name, capture, csv, tier_csv, device = "?", commit = "?";
  int batch = 1, hq = 32, hkv = 8, bits = 8, layer = 1, queries = 8, reps = 30, check_batches = 2;
  int n8 = -1;  // --bits mixed: 32 (8x32 + 4 bits on the rest)
  int rank = 0; // --bits lowrank: 16
  int64_t n = 131072;
  double delta = 1e-3, qscale = 1.5;
  std::vector<double> fracs{0.01, 0.05, 0.2, 1.0};
  std::vector<std::string> extra_labels;  // "label=frac" (e.g. real fractions from captures), or "label=f0/f1/…": per
                                          // (batch entry, KV head) fractions, entry i taking f_{i mod k}
  int distinct = 1 << 30;  // distinct random sequences (the rest repeat them in their own pages)
  double profile = -1;  // ≥ 0: run the ghost path (forced to this fraction) and dense once each, for ncu
  bool ghost_tier = false, tier_only = false, dry = false;  // dry: build the host data only (no device)
  bool breakdown = false;   // also time each stage's kernel prefixes and the bare row gather (diagnostics)
  bool scan_timeline = false;  // also print the quant scan's timeline (GHOSTKV_SCAN_DEBUG=32; diagnostics)
  std::string scan_timeline_csv;  // and append its blocks' records to this CSV
  std::string split_timeline_csv;  // --split-timeline-csv: the split timeline's blocks (GHOSTKV_SPLIT_TL=1) appended here
  bool compact_timeline = false;  // also print compact's timeline (GHOSTKV_COMPACT_TL=1; diagnostics)
  std::string compact_timeline_csv;  // and append its blocks' records to this CSV
  int balance = -1;         // DecodeParams::balance: −1 from each row's own counts (balanced_splits), 0 or 1 forced
  bool flush_clean = true;  // the 256 MB memset read back (the L2 left clean); --flush write: memset only
  bool eager = false;       // --timing eager: each timed run launches its kernels on the stream, as torch SDPA's run
                            // does, instead of replaying their CUDA graph (--timing graph, the default)
  bool anchors = false;     // page box anchors (the anchor stage before the scan)
  bool cut_split = false;   // --cut-split: the mass policy's budget split over the scan's blocks (DecodeParams::cut_split)
  bool poison = false;      // also check the flags of non-finite inputs (poison_checks)
  double far_pages = 0;     // rand: this fraction of pages (no hot tokens) gets keys far below every query of its group
  double anchor_share = 0.5;
  int splits = 0;           // attention splits per (sequence, KV head) for dense and every row; 0: the defaults
  bool check_only = false;  // the checks alone (no timing, no CSV) and a graph replay per row: for compute-sanitizer
  int adaptive_steps = 0;   // --adaptive-steps N: also N steps of each timed row through AdaptiveDecoder (adaptive.h)
  std::string adaptive_csv; // --adaptive-csv PATH: those loops' rows appended here
  gc::AdaptiveOptions adaptive_opts;  // --adaptive-every K, --adaptive-lag L: AdaptiveOptions::observe_every, max_lag
  std::vector<double> adaptive_phases;  // --adaptive-phases F1,F2,..: one decoder through forced fractions in turn
  std::string adaptive_phases_csv;      // --adaptive-phases-csv PATH: a row per phase
  std::vector<int> gpus{0}; // devices to run on, in turn, in one process
  uint64_t seed = 1;
};

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
struct Normal {
  uint64_t s;
  bool have = false;
  double spare = 0;
  explicit Normal(uint64_t seed) : s(seed) {}
  double operator()() {
    if (have) { have = false; return spare; }
    const double u1 = (double(splitmix(s) >> 11) + 0.5) * 0x1p-53, u2 = double(splitmix(s) >> 11) * 0x1p-53;
    const double r = std::sqrt(-2 * std::log(u1));
    spare = r * std::sin(2 * M_PI * u2);
    have = true;
    return r * std::cos(2 * M_PI * u2);
  }
};

struct Host {
  int B = 0, Hq = 0, Hkv = 0, G = 0, bits = 8, CB = 0;
  int n8 = -1, k8 = 0;            // mixed: the first n8 components at 8 bits (decode.h witness_k8)
  std::string spec_csv() const { return rank ? "lowrank-r16" : n8 >= 0 ? "8x" + std::to_string(n8) + "+4x" + std::to_string(g_d - n8) : std::to_string(bits); }
  std::string spec() const { return n8 >= 0 ? "8x" + std::to_string(n8) + ",4x" + std::to_string(g_d - n8) : std::to_string(bits); }
  int max_pages = 0, n_phys = 0, max_seq = 0;
  double scale = 0;
  std::vector<int32_t> seq_len, page_table;
  std::vector<uint16_t> k, v;     // [n_phys, Hkv, 64, d] bf16
  std::vector<uint8_t> codes;     // [n_phys, Hkv, 64, CB]
  std::vector<uint16_t> meta;     // [n_phys, Hkv, 2, d]
  std::vector<float> nu_max;      // [n_phys, Hkv]
  std::vector<uint8_t> box;       // [n_phys, Hkv, 2, d] per-page min and max code per component (decode.h)
  int rank = 0;                   // 16: low-rank witness (below) instead of the codes
  std::vector<uint16_t> sketch, sk_rho, sk_err;  // [n_phys, Hkv, 64, 16], [n_phys, Hkv, 64] f16 (decode.h)
  std::vector<uint16_t> lr_box;   // [n_phys, Hkv, kLrBoxHalfs] f16: the low-rank page anchors (decode.h)
  std::vector<float> rot, mu, resid, kmax;
  std::vector<float> q;           // [B, Hq, d]
  std::vector<Basis> basis;       // [Hkv]
  std::vector<std::shared_ptr<QuantRecords>> recs;  // [B·Hkv] (checked batch entries only)
  std::vector<int> checked;       // batch entries checked against float64
  int64_t row(int b, int g, int t) const {
    return ((int64_t(page_table[size_t(b) * max_pages + t / 64]) * Hkv + g) * 64 + t % 64) * g_d;
  }
  void gather(int b, int g, std::vector<float>& kf, std::vector<float>& vf) const {
    const int n = seq_len[b];
    kf.resize(size_t(n) * g_d);
    vf.resize(size_t(n) * g_d);
    for (int t = 0; t < n; ++t) {
      const int64_t r = row(b, g, t);
      for (int i = 0; i < g_d; ++i) {
        kf[size_t(t) * g_d + i] = bf16_to_f32(k[r + i]);
        vf[size_t(t) * g_d + i] = bf16_to_f32(v[r + i]);
      }
    }
  }
};

// One (b, g) record set into the page layout (pack.h).
void scatter_records(Host& h, int b, int g, const QuantRecords& rec) {
  const int k8 = gc::pack_quant_pages(rec, h.seq_len[size_t(b)], &h.page_table[size_t(b) * h.max_pages], h.n_phys, h.Hkv,
                                      g, h.codes.data(), h.meta.data(), h.box.data(), h.nu_max.data());
  GKV_CHECK(k8 == h.k8, "gpu_bench: records packed with k8 ", k8, ", the decode parameters give ", h.k8);
}

// The low-rank witness of one (b, g) into the page layout (pack.h).
void scatter_lowrank(Host& h, int b, int g, const std::vector<float>& kf) {
  gc::pack_lowrank_pages(h.basis[size_t(g)], kf.data(), h.seq_len[size_t(b)], &h.page_table[size_t(b) * h.max_pages],
                         h.n_phys, h.Hkv, g, h.sketch.data(), h.sk_rho.data(), h.sk_err.data(), h.lr_box.data());
}

// Builds the records of every (distinct sequence, KV head) with the CPU library and scatters them
// into the page layout. Sequences b ≥ distinct repeat sequence b % distinct (same tokens, their own
// pages); with shared pages (capture) one record set per KV head serves every batch entry.
void finish_records(Host& h, const std::string& bits_spec, int distinct) {
  const BitSpec spec = parse_bits(bits_spec, g_d);
  h.CB = int((spec.total_bits() + 7) / 8);
  h.k8 = gc::witness_k8(h.bits, h.n8, g_d);
  GKV_CHECK(h.CB == gc::witness_code_bytes(h.k8, g_d), "gpu_bench: witness ", bits_spec, " is not a GPU layout");
  h.codes.assign(size_t(h.n_phys) * h.Hkv * 64 * h.CB, 0);
  h.meta.assign(size_t(h.n_phys) * h.Hkv * 2 * g_d, 0);
  h.nu_max.assign(size_t(h.n_phys) * h.Hkv, 0.0f);
  h.box.assign(size_t(h.n_phys) * h.Hkv * 2 * g_d, 0);
  if (h.rank) {
    h.sketch.assign(size_t(h.n_phys) * h.Hkv * 64 * 16, 0);
    h.sk_rho.assign(size_t(h.n_phys) * h.Hkv * 64, 0);
    h.sk_err.assign(h.sk_rho.size(), 0);
    h.lr_box.assign(size_t(h.n_phys) * h.Hkv * gc::kLrBoxHalfs, 0);
  }
  h.resid.assign(size_t(h.Hkv), 0.0f);
  h.kmax.assign(size_t(h.Hkv), 0.0f);
  h.recs.assign(size_t(h.B) * h.Hkv, nullptr);
  const bool shared = h.page_table.size() > 1 && h.B > 1 && h.page_table[0] == h.page_table[size_t(h.max_pages)];
  const int nb = shared ? 1 : std::min(distinct, h.B);
  std::vector<double> resid(size_t(nb) * h.Hkv, 0), kmax(size_t(nb) * h.Hkv, 0);
#pragma omp parallel for schedule(dynamic)
  for (int x = 0; x < nb * h.Hkv; ++x) {
    const int b = shared ? int(std::max_element(h.seq_len.begin(), h.seq_len.end()) - h.seq_len.begin()) : x / h.Hkv;
    const int g = x % h.Hkv;
    std::vector<float> kf, vf;
    h.gather(b, g, kf, vf);
    const int n = h.seq_len[size_t(b)];
    auto rec = std::make_shared<QuantRecords>(build_quant(h.basis[size_t(g)], spec, 64, n, kf.data(), vf.data(), n, g_d));
    double km = 0;
    for (int t = 0; t < n; ++t) {
      double s = 0;
      for (int i = 0; i < g_d; ++i) s += double(kf[size_t(t) * g_d + i]) * kf[size_t(t) * g_d + i];
      km = std::max(km, std::sqrt(s));
    }
    resid[size_t(x)] = rec->resid_max;
    kmax[size_t(x)] = km * (1 + 1e-12);
    if (shared) {
      scatter_records(h, b, g, *rec);
      if (h.rank) scatter_lowrank(h, b, g, kf);
      for (int bb = 0; bb < h.B; ++bb) h.recs[size_t(bb) * h.Hkv + g] = rec;
      continue;
    }
    for (int bt = b; bt < h.B; bt += nb) {
      scatter_records(h, bt, g, *rec);
      if (h.rank) scatter_lowrank(h, bt, g, kf);
      if (std::find(h.checked.begin(), h.checked.end(), bt) != h.checked.end()) h.recs[size_t(bt) * h.Hkv + g] = rec;
    }
  }
  for (int x = 0; x < nb * h.Hkv; ++x) {
    const int g = x % h.Hkv;
    h.resid[size_t(g)] = std::max(h.resid[size_t(g)], f32_round_up(resid[size_t(x)]));
    h.kmax[size_t(g)] = std::max(h.kmax[size_t(g)], f32_round_up(kmax[size_t(x)]));
  }
  h.rot.resize(size_t(h.Hkv) * g_d * g_d);
  h.mu.resize(size_t(h.Hkv) * g_d);
  for (int g = 0; g < h.Hkv; ++g) {
    std::copy(h.basis[size_t(g)].vecs.begin(), h.basis[size_t(g)].vecs.end(), h.rot.begin() + size_t(g) * g_d * g_d);
    std::copy(h.basis[size_t(g)].mu.begin(), h.basis[size_t(g)].mu.end(), h.mu.begin() + size_t(g) * g_d);
  }
}

Host make_random(const Opts& o) {
  Host h;
  h.B = o.batch; h.Hq = o.hq; h.Hkv = o.hkv; h.G = o.hq / o.hkv; h.bits = o.bits; h.n8 = o.n8; h.rank = o.rank;
  h.scale = 1.0 / std::sqrt(double(g_d));
  const int np = int((o.n + 63) / 64);
  h.max_pages = np; h.n_phys = h.B * np; h.max_seq = int(o.n);
  h.seq_len.assign(size_t(h.B), int(o.n));
  std::vector<int32_t> perm(static_cast<size_t>(h.n_phys));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::shuffle(perm.begin(), perm.end(), rng);  // pages scattered in memory: the page table is exercised
  h.page_table = perm;
  h.k.resize(size_t(h.n_phys) * h.Hkv * 64 * g_d);
  h.v.resize(h.k.size());
  // keys: k = μ_g + s ⊙ z with a decaying spectrum s (permuted per KV head), values ~ N(0, 1)
  std::vector<std::vector<double>> mu(static_cast<size_t>(h.Hkv)), sc(size_t(h.Hkv));
  for (int g = 0; g < h.Hkv; ++g) {
    Normal nr(o.seed * 1000003 + uint64_t(g));
    std::vector<int> pj(g_d);
    std::iota(pj.begin(), pj.end(), 0);
    std::mt19937_64 r2(o.seed + uint64_t(g) * 77);
    std::shuffle(pj.begin(), pj.end(), r2);
    mu[size_t(g)].resize(g_d);
    sc[size_t(g)].resize(g_d);
    for (int j = 0; j < g_d; ++j) {
      mu[size_t(g)][size_t(j)] = 0.5 * nr();
      sc[size_t(g)][size_t(pj[size_t(j)])] = 2.0 * std::exp(-j / 24.0) + 0.25;
    }
  }
  h.q.resize(size_t(h.B) * h.Hq * g_d);
  Normal nq(o.seed * 31 + 5);
  for (auto& x : h.q) x = float(o.qscale * nq());
  // --far-pages: pages (without hot tokens) whose keys are moved by −c·Σ_h q_h/||q_h|| over the
  // group's heads, c such that σ·||q||·c ≈ 60: scores ≈ 60 below the rest (structure page anchors see)
  const double c_far = 60.0 / (h.scale * o.qscale * std::sqrt(double(g_d)));
#pragma omp parallel for schedule(dynamic)
  for (int x = 0; x < h.B * h.Hkv; ++x) {
    const int b = x / h.Hkv, g = x % h.Hkv;
    if (b >= o.distinct) continue;
    Normal nr(o.seed * 7919 + uint64_t(x) * 104729 + 17);
    std::vector<double> off(size_t(g_d), 0.0);
    for (int hh = 0; hh < h.G; ++hh) {
      const float* qh = &h.q[(size_t(b) * h.Hq + size_t(g) * h.G + hh) * g_d];
      double nn = 0;
      for (int i = 0; i < g_d; ++i) nn += double(qh[i]) * qh[i];
      for (int i = 0; i < g_d; ++i) off[size_t(i)] -= c_far * qh[i] / std::sqrt(nn);
    }
    for (int t = 0; t < int(o.n); ++t) {
      const int64_t r = h.row(b, g, t);
      const int pg = t / 64;
      uint64_t hs = o.seed * 0x9E3779B97F4A7C15ull + uint64_t(x) * 1315423911ull + uint64_t(pg);
      const bool far = o.far_pages > 0 && pg * 64 >= 4 && pg * 64 + 64 <= int(o.n) - 64 &&
                       double(splitmix(hs) >> 11) * 0x1p-53 < o.far_pages;
      for (int i = 0; i < g_d; ++i) {
        h.k[size_t(r + i)] = f32_to_bf16(float(mu[size_t(g)][size_t(i)] + sc[size_t(g)][size_t(i)] * nr() +
                                               (far ? off[size_t(i)] : 0.0)));
        h.v[size_t(r + i)] = f32_to_bf16(float(nr()));
      }
    }
  }
#pragma omp parallel for schedule(dynamic)
  for (int x = 0; x < h.B * h.Hkv; ++x) {
    const int b = x / h.Hkv, g = x % h.Hkv;
    if (b < o.distinct) continue;
    for (int t = 0; t < int(o.n); t += 64) {
      const int64_t dst = h.row(b, g, t), src = h.row(b % o.distinct, g, t);
      std::memcpy(&h.k[size_t(dst)], &h.k[size_t(src)], 64 * g_d * 2);
      std::memcpy(&h.v[size_t(dst)], &h.v[size_t(src)], 64 * g_d * 2);
    }
  }
  for (int b = 0; b < std::min(o.check_batches, h.B); ++b) h.checked.push_back(b == 0 ? 0 : h.B - b);
  // basis per KV head: PCA fitted on the first ≤ 4096 keys of batch entry 0 (a calibrated basis, shared)
  h.basis.resize(size_t(h.Hkv));
  for (int g = 0; g < h.Hkv; ++g) {
    std::vector<float> kf, vf;
    const int m = int(std::min<int64_t>(o.n, 4096));
    kf.resize(size_t(m) * g_d);
    for (int t = 0; t < m; ++t)
      for (int i = 0; i < g_d; ++i) kf[size_t(t) * g_d + i] = bf16_to_f32(h.k[size_t(h.row(0, g, t) + i)]);
    h.basis[size_t(g)] = fit_basis(BasisKind::pca, kf.data(), m, g_d, g_d, g_d, o.seed);
  }
  finish_records(h, h.spec(), o.distinct);
  return h;
}

Host make_capture(const Opts& o) {
  AttnInputs in = read_capture_layer(o.capture, o.layer);
  GKV_CHECK(in.d_head() == 64 || in.d_head() == 128, o.capture, " layer ", o.layer, ": d_head ", in.d_head(),
            ", the GPU kernels need 64 or 128");
  g_d = int(in.d_head());
  Host h;
  const int nq = int(in.n_q()), n_kv = int(in.n_kv());
  h.B = std::min(o.queries, nq); h.Hq = int(in.n_head_q()); h.Hkv = int(in.n_head_kv()); h.G = h.Hq / h.Hkv;
  h.bits = o.bits;
  h.n8 = o.n8;
  h.rank = o.rank;
  h.scale = in.scale;
  h.max_pages = (n_kv + 63) / 64; h.n_phys = h.max_pages; h.max_seq = n_kv;
  h.page_table.resize(size_t(h.B) * h.max_pages);
  for (int b = 0; b < h.B; ++b)
    for (int p = 0; p < h.max_pages; ++p) h.page_table[size_t(b) * h.max_pages + p] = p;
  h.k.assign(size_t(h.n_phys) * h.Hkv * 64 * g_d, 0);
  h.v.assign(h.k.size(), 0);
  const float* kin = in.k.data<float>();
  const float* vin = in.v.data<float>();
  for (int t = 0; t < n_kv; ++t)
    for (int g = 0; g < h.Hkv; ++g)
      for (int i = 0; i < g_d; ++i) {
        const int64_t r = ((int64_t(t / 64) * h.Hkv + g) * 64 + t % 64) * g_d + i;
        h.k[size_t(r)] = f32_to_bf16(kin[(int64_t(t) * h.Hkv + g) * g_d + i]);
        h.v[size_t(r)] = f32_to_bf16(vin[(int64_t(t) * h.Hkv + g) * g_d + i]);
      }
  h.seq_len.resize(size_t(h.B));
  h.q.resize(size_t(h.B) * h.Hq * g_d);
  for (int b = 0; b < h.B; ++b) {
    const int i = nq - h.B + b;
    h.seq_len[size_t(b)] = int(in.pos(i)) + 1;
    std::copy(in.q.data<float>() + int64_t(i) * h.Hq * g_d, in.q.data<float>() + int64_t(i + 1) * h.Hq * g_d,
              h.q.begin() + size_t(b) * h.Hq * g_d);
    h.checked.push_back(b);
  }
  // basis per KV head: PCA of all captured (bf16-rounded) keys of that head
  h.basis.resize(size_t(h.Hkv));
  for (int g = 0; g < h.Hkv; ++g) {
    std::vector<float> kf(size_t(n_kv) * g_d);
    for (int t = 0; t < n_kv; ++t)
      for (int i = 0; i < g_d; ++i) kf[size_t(t) * g_d + i] = bf16_to_f32(h.k[size_t(((int64_t(t / 64) * h.Hkv + g) * 64 + t % 64) * g_d + i)]);
    h.basis[size_t(g)] = fit_basis(BasisKind::pca, kf.data(), n_kv, g_d, g_d, g_d, o.seed);
  }
  finish_records(h, h.spec(), 1);
  return h;
}

template <class T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  Dev() = default;
  explicit Dev(size_t count) : n(count) { CK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T))); }
  Dev(const std::vector<T>& h) : Dev(h.size()) { CK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
  Dev(Dev&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; }
  Dev& operator=(Dev&& o) noexcept { std::swap(p, o.p); std::swap(n, o.n); return *this; }
  ~Dev() { if (p) cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

struct Gpu {
  Dev<uint16_t> k, v, meta, sketch, sk_rho, sk_err, lr_box;
  Dev<uint8_t> codes, box;
  Dev<float> nu, rot, mu, resid, kmax, q, out;
  Dev<int32_t> pt, sl;
  Dev<uint8_t> work;
  Dev<gc::Certificate> cert;
  gc::DecodeParams p;
};

void setup_gpu(const Host& h, const Opts& o, Gpu& d) {
  d.k = Dev<uint16_t>(h.k); d.v = Dev<uint16_t>(h.v); d.meta = Dev<uint16_t>(h.meta);
  d.codes = Dev<uint8_t>(h.codes);
  if (o.anchors && !h.rank) d.box = Dev<uint8_t>(h.box);
  if (o.anchors && h.rank) d.lr_box = Dev<uint16_t>(h.lr_box);
  if (h.rank) { d.sketch = Dev<uint16_t>(h.sketch); d.sk_rho = Dev<uint16_t>(h.sk_rho); d.sk_err = Dev<uint16_t>(h.sk_err); }
  d.nu = Dev<float>(h.nu_max); d.rot = Dev<float>(h.rot); d.mu = Dev<float>(h.mu);
  d.resid = Dev<float>(h.resid); d.kmax = Dev<float>(h.kmax); d.q = Dev<float>(h.q);
  gc::check_page_table(h.page_table.data(), h.seq_len.data(), h.B, h.max_pages, h.max_seq, h.n_phys);
  d.pt = Dev<int32_t>(h.page_table); d.sl = Dev<int32_t>(h.seq_len);
  d.out = Dev<float>(size_t(h.B) * h.Hq * g_d);
  d.cert = Dev<gc::Certificate>(size_t(h.B) * h.Hq);
  gc::DecodeParams& p = d.p;
  p.batch = h.B; p.n_head_q = h.Hq; p.n_head_kv = h.Hkv; p.d = g_d; p.bits = h.bits; p.n8 = h.n8;
  p.max_pages = h.max_pages; p.max_seq = h.max_seq;
  // attention splits: one wave (dense, and the ghost path's default); each ghost row may take more
  // (ghost_splits, main), so the workspace's partials are sized for the most it can take
  p.splits = o.splits ? o.splits : gc::ghost_splits(h.B, h.Hkv, h.max_seq, 2 * int64_t(h.max_seq));  // never below default_splits
  p.scale = float(h.scale); p.scale64 = h.scale; p.delta = o.delta;
  p.k_cache = d.k.p; p.v_cache = d.v.p; p.codes = d.codes.p; p.meta = d.meta.p; p.nu_max = d.nu.p;
  p.page_table = d.pt.p; p.seq_len = d.sl.p; p.rot = d.rot.p; p.mu = d.mu.p; p.resid_max = d.resid.p;
  p.k_norm_max = d.kmax.p; p.q = d.q.p;
  p.box = !o.anchors ? nullptr : h.rank ? reinterpret_cast<const uint8_t*>(d.lr_box.p) : d.box.p;
  p.rank = h.rank;
  p.sketch = d.sketch.p; p.sk_rho = d.sk_rho.p; p.sk_err = d.sk_err.p;
  p.anchor_share = float(o.anchor_share);
  p.cut_split = o.cut_split ? 1 : 0;
  d.work = Dev<uint8_t>(size_t(gc::workspace_bytes(p)));
  if (!o.splits) p.splits = gc::default_splits(h.B, h.Hkv);  // fewer splits' partials fit in the same views
  p.work = d.work.p; p.out = d.out.p; p.cert = d.cert.p;
}

struct Check {
  int64_t violations = 0, rule_fail = 0, cert_fail = 0, num_fail = 0, nonfinite = 0, cand = 0, surv_cand = 0;
  int64_t anchor_tokens = 0;  // checked tokens whose page was eliminated by its anchor
  int64_t cut_heads = 0, cut_diff = 0;  // local cut: heads compared with the global cut's, and those not bitwise equal
  int64_t fused_heads = 0, fused_diff = 0;  // the fused low-rank kernel: heads compared with the two kernels', and those not bitwise equal
  double max_mass_bound = 0, max_mass_lost = 0, max_num_err = 0, max_ratio = 0, mean_gap = 0, max_cert_ratio = 0;
  int64_t gap_n = 0;
  double surv_frac() const { return cand ? double(surv_cand) / double(cand) : 0; }
};

// sums counts, keeps maxima
Check& operator+=(Check& a, const Check& b) {
  a.violations += b.violations; a.rule_fail += b.rule_fail; a.cert_fail += b.cert_fail; a.num_fail += b.num_fail;
  a.nonfinite += b.nonfinite; a.cand += b.cand; a.surv_cand += b.surv_cand; a.anchor_tokens += b.anchor_tokens;
  a.cut_heads += b.cut_heads; a.cut_diff += b.cut_diff;
  a.fused_heads += b.fused_heads; a.fused_diff += b.fused_diff;
  a.max_mass_bound = std::max(a.max_mass_bound, b.max_mass_bound);
  a.max_mass_lost = std::max(a.max_mass_lost, b.max_mass_lost);
  a.max_num_err = std::max(a.max_num_err, b.max_num_err);
  a.max_cert_ratio = std::max(a.max_cert_ratio, b.max_cert_ratio);
  a.mean_gap += b.mean_gap; a.gap_n += b.gap_n;
  return a;
}

// The lines on the builds a row compared (the local against the global cut; the fused low-rank kernel against the
// two kernels and compact), where it compared any
static void print_build_agreement(const Check& c) {
  if (c.cut_heads)
    std::printf("  local cut: %lld heads, theta/budget/n_surv bitwise equal to the global cut's in %lld, different in %lld\n",
                (long long)c.cut_heads, (long long)(c.cut_heads - c.cut_diff), (long long)c.cut_diff);
  if (c.fused_heads)
    std::printf("  fused low-rank kernel: %lld heads, theta/budget/n_surv/n_plist/nu_E bitwise equal to the two kernels' (M_E within 1e-4) in %lld, different in %lld\n",
                (long long)c.fused_heads, (long long)(c.fused_heads - c.fused_diff), (long long)c.fused_diff);
}

bool is_hot(int t, int n) { return t < 4 || t >= n - 64; }

// The quant scan's timeline of its last launch (gc::scan_timeline), in µs from its first block's start: the blocks'
// starts and the returns of their wait for prep (median / highest), the warps' page-loop ends (lowest / median /
// highest), per KV head the spread of its warps' ends and its last block's end after its last warp's end (the
// flush, done count and cut; median / highest over the KV heads), that last block's own parts (global cut: from its
// last warp's end to its flush's barrier, the done count, the cut), and the kernel's span.
bool file_empty(const std::string& path);  // below
static void print_scan_timeline(const std::string& name, const std::string& label, const std::string& csv_path) {
  std::vector<int64_t> tl(size_t(4096) * gc::kScanTimelineCols);
  const int n = gc::scan_timeline(tl.data(), 4096);
  if (n == 0) {
    std::printf("# scan timeline %s: none recorded (the scan's diagnostic build records it: GHOSTKV_SCAN_DEBUG=32)\n",
                label.c_str());
    return;
  }
  const int m = std::min(n, 4096);
  auto at = [&](int blk, int col) { return tl[size_t(blk) * gc::kScanTimelineCols + col]; };
  int64_t t0 = at(0, 1);
  for (int i = 0; i < m; ++i) t0 = std::min(t0, at(i, 1));
  auto us = [&](int64_t t) { return double(t - t0) * 1e-3; };
  if (!csv_path.empty()) {
    const bool fresh = file_empty(csv_path);
    FILE* f = std::fopen(csv_path.c_str(), "a");
    GKV_CHECK(f != nullptr, "gpu_bench: cannot open ", csv_path, " for the scan timeline");
    if (fresh) {
      std::fprintf(f, "case,label,block,kv_head,start_us,wait_us,end_us,flush_us,done_us,last,cut_sum_us,cut_theta_us,"
                      "cut_barrier_us,cut_fence_us,cut_slot_us");
      for (int wv = 0; wv < 16; ++wv) std::fprintf(f, ",warp%d_us", wv);
      std::fprintf(f, "\n");
    }
    auto cell = [&](int64_t t) { return t == 0 ? std::string() : std::to_string(us(t)); };
    for (int i = 0; i < m; ++i) {
      std::fprintf(f, "%s,%s,%d,%lld,%s,%s,%s,%s,%s,%lld", name.c_str(), label.c_str(), i, (long long)at(i, 0),
                   cell(at(i, 1)).c_str(), cell(at(i, 2)).c_str(), cell(at(i, 3)).c_str(), cell(at(i, 4)).c_str(),
                   cell(at(i, 5)).c_str(), (long long)at(i, 6));
      for (int col = 7; col < 12; ++col) std::fprintf(f, ",%s", cell(at(i, col)).c_str());
      for (int wv = 0; wv < 16; ++wv) std::fprintf(f, ",%s", cell(at(i, 12 + wv)).c_str());
      std::fprintf(f, "\n");
    }
    std::fclose(f);
  }
  std::vector<double> start, wait, warp_end, flush, done, cut, c_sum, c_theta, c_bar, c_fence, c_slot, c_rel;
  std::map<int64_t, std::pair<int64_t, int64_t>> warp_span;  // KV head: lowest, highest warp end
  std::map<int64_t, int64_t> head_end;                       // KV head: its last block's end
  int64_t span = 0;
  for (int i = 0; i < m; ++i) {
    start.push_back(us(at(i, 1)));
    wait.push_back(us(at(i, 2)));
    const int64_t bg = at(i, 0);
    head_end[bg] = std::max(head_end.count(bg) ? head_end[bg] : 0, at(i, 3));
    span = std::max(span, at(i, 3) - t0);
    int64_t own_last = 0;
    for (int wv = 0; wv < 16; ++wv) {
      const int64_t e = at(i, 12 + wv);
      if (e == 0) continue;
      own_last = std::max(own_last, e);
      warp_end.push_back(us(e));
      auto it = warp_span.find(bg);
      if (it == warp_span.end()) warp_span[bg] = {e, e};
      else it->second = {std::min(it->second.first, e), std::max(it->second.second, e)};
    }
    if (at(i, 6) == 1 && at(i, 4) != 0 && own_last != 0) {  // the KV head's last block (global cut)
      flush.push_back(double(at(i, 4) - own_last) * 1e-3);
      done.push_back(double(at(i, 5) - at(i, 4)) * 1e-3);
      cut.push_back(double(at(i, 3) - at(i, 5)) * 1e-3);
      if (at(i, 7) != 0 && at(i, 11) != 0) {  // the cut's steps (head 0's warp, thread 0)
        c_sum.push_back(double(at(i, 7) - at(i, 5)) * 1e-3);
        c_theta.push_back(double(at(i, 8) - at(i, 7)) * 1e-3);
        c_bar.push_back(double(at(i, 9) - at(i, 8)) * 1e-3);
        c_fence.push_back(double(at(i, 10) - at(i, 9)) * 1e-3);
        c_slot.push_back(double(at(i, 11) - at(i, 10)) * 1e-3);
        c_rel.push_back(double(at(i, 3) - at(i, 11)) * 1e-3);
      }
    }
  }
  std::vector<double> spread, tail;
  for (const auto& [bg, lh] : warp_span) {
    spread.push_back(double(lh.second - lh.first) * 1e-3);
    tail.push_back(double(head_end[bg] - lh.second) * 1e-3);
  }
  auto q = [](std::vector<double> v, double f) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[size_t(f * double(v.size() - 1) + 0.5)];
  };
  std::printf("# scan timeline %s: %d blocks, %zu KV heads, span %.2f us; block start median %.2f max %.2f; wait for "
              "prep returned median %.2f max %.2f; warp loop end min %.2f median %.2f max %.2f; per KV head: warps' end "
              "spread median %.2f max %.2f, last block's end after its last warp median %.2f max %.2f us; the last blocks (%zu): "
              "their last warp to flush barrier median %.2f max %.2f, done count median %.2f max %.2f, cut median %.2f "
              "max %.2f us (its steps, medians: counts summed %.2f, theta found %.2f, cut warps' barrier %.2f, fence %.2f, "
              "slot atomic %.2f, release store %.2f)\n",
              label.c_str(), n, head_end.size(), double(span) * 1e-3, q(start, 0.5), q(start, 1), q(wait, 0.5), q(wait, 1),
              q(warp_end, 0), q(warp_end, 0.5), q(warp_end, 1), q(spread, 0.5), q(spread, 1), q(tail, 0.5), q(tail, 1),
              flush.size(), q(flush, 0.5), q(flush, 1), q(done, 0.5), q(done, 1), q(cut, 0.5), q(cut, 1), q(c_sum, 0.5),
              q(c_theta, 0.5), q(c_bar, 0.5), q(c_fence, 0.5), q(c_slot, 0.5), q(c_rel, 0.5));
}

// compact's timeline of its last launch (gc::compact_timeline, GHOSTKV_COMPACT_TL=1), in µs from the quant scan's first
// block's start where the scan's timeline of the same launch is recorded (else from compact's first block's start):
// the blocks' starts and wait returns (the scan's last block's end beside them), then per block, medians and highest:
// warp 0's first segment's (batched: first batch's) bounds in after the wait, its first survivor-count atomic after
// that (batched: the block's first), the last warp's walk end after the wait, the flush after the last walk end, the
// block's end after the flush, batched the first batch's rows stored after its atomic; and the last block's end.
// The split cut's compacting scan's timeline and prep's (GHOSTKV_SPLIT_TL=1: gc::scan_timeline, gc::prep_timeline) of
// the last launch (the last timed replay of stage 1), in µs from the earliest of prep's and the scan's block starts:
// median and largest over blocks (warps for the page loops) of each step. csv_path (--split-timeline-csv): each block's
// record appended there too (name, row, block, KV head, SM, and its steps in µs from the same origin; loop_end: its last
// warp's page loop end).
static void print_split_timeline(const std::string& name, const std::string& label, const std::string& csv_path) {
  std::vector<int64_t> st(size_t(4096) * gc::kScanTimelineCols), pt(size_t(1024) * 2);
  const int ns = std::min(gc::scan_timeline(st.data(), 4096), 4096), np = std::min(gc::prep_timeline(pt.data(), 1024), 1024);
  if (ns == 0 || np == 0) {
    std::printf("# split timeline %s: none recorded (GHOSTKV_SPLIT_TL=1 with --cut-split)\n", label.c_str());
    return;
  }
  auto at = [&](int blk, int col) { return st[size_t(blk) * gc::kScanTimelineCols + col]; };
  int64_t t0 = at(0, 1);
  for (int i = 0; i < ns; ++i) t0 = std::min(t0, at(i, 1));
  for (int i = 0; i < np; ++i) t0 = std::min(t0, pt[size_t(i) * 2]);
  auto stat = [&](std::vector<double> v) {
    if (v.empty()) return std::string("-");
    std::sort(v.begin(), v.end());
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f/%.2f", v[v.size() / 2], v.back());
    return std::string(buf);
  };
  std::vector<double> ps, pe, ss, wt, le, cs, cd, en, cb, ca, cw;
  for (int i = 0; i < np; ++i) {
    ps.push_back(double(pt[size_t(i) * 2] - t0) * 1e-3);
    pe.push_back(double(pt[size_t(i) * 2 + 1] - t0) * 1e-3);
  }
  for (int i = 0; i < ns; ++i) {
    ss.push_back(double(at(i, 1) - t0) * 1e-3);
    wt.push_back(double(at(i, 4) - t0) * 1e-3);
    cs.push_back(double(at(i, 2) - t0) * 1e-3);
    cd.push_back(double(at(i, 5) - t0) * 1e-3);
    en.push_back(double(at(i, 3) - t0) * 1e-3);
    if (at(i, 6) != 0) cb.push_back(double(at(i, 6) - t0) * 1e-3);
    if (at(i, 7) != 0) ca.push_back(double(at(i, 7) - t0) * 1e-3);
    if (at(i, 8) != 0) cw.push_back(double(at(i, 8) - t0) * 1e-3);
    for (int wv = 0; wv < 16; ++wv)
      if (at(i, 12 + wv) != 0) le.push_back(double(at(i, 12 + wv) - t0) * 1e-3);
  }
  if (!csv_path.empty()) {
    std::FILE* f = std::fopen(csv_path.c_str(), "a");
    if (!f) {
      std::fprintf(stderr, "gpu_bench: cannot append to %s\n", csv_path.c_str());
      std::exit(1);
    }
    std::fseek(f, 0, SEEK_END);
    if (std::ftell(f) == 0) std::fprintf(f, "name,row,block,kv_head,smid,start,wait,loop_end,cut_done,end\n");
    for (int i = 0; i < ns; ++i) {
      int64_t le_max = 0;
      for (int wv = 0; wv < 16; ++wv) le_max = std::max<int64_t>(le_max, at(i, 12 + wv));
      auto us = [&](int64_t t) { return t ? double(t - t0) * 1e-3 : 0.0; };
      std::fprintf(f, "%s,%s,%d,%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.3f\n", name.c_str(), label.c_str(), i, (long long)at(i, 0),
                   (long long)at(i, 9), us(at(i, 1)), us(at(i, 4)), us(le_max), us(at(i, 5)), us(at(i, 3)));
    }
    std::fclose(f);
  }
  std::printf("# split timeline %s (us, median/max; %d prep blocks, %d scan blocks): prep start %s end %s; scan start %s "
              "wait %s page loops %s cut start %s cut done %s bounds in %s atomic %s walk %s end %s\n",
              label.c_str(), np, ns, stat(ps).c_str(), stat(pe).c_str(), stat(ss).c_str(), stat(wt).c_str(), stat(le).c_str(),
              stat(cs).c_str(), stat(cd).c_str(), stat(cb).c_str(), stat(ca).c_str(), stat(cw).c_str(), stat(en).c_str());
}

static void print_compact_timeline(const std::string& name, const std::string& label, const std::string& csv_path) {
  constexpr int C = gc::kCompactTimelineCols;
  std::vector<int64_t> tl(size_t(4096) * C);
  const int n = gc::compact_timeline(tl.data(), 4096);
  if (n == 0) {
    std::printf("# compact timeline %s: none recorded (compact's diagnostic build records it: GHOSTKV_COMPACT_TL=1)\n",
                label.c_str());
    return;
  }
  const int m = std::min(n, 4096);
  auto at = [&](int blk, int col) { return tl[size_t(blk) * C + col]; };
  std::vector<int64_t> st(size_t(4096) * gc::kScanTimelineCols);
  const int ns = std::min(gc::scan_timeline(st.data(), 4096), 4096);
  int64_t t0 = at(0, 1), scan_end = 0;
  for (int i = 0; i < m; ++i) t0 = std::min(t0, at(i, 1));
  if (ns > 0) {
    int64_t s0 = st[1];
    for (int i = 0; i < ns; ++i) {
      s0 = std::min(s0, st[size_t(i) * gc::kScanTimelineCols + 1]);
      scan_end = std::max(scan_end, st[size_t(i) * gc::kScanTimelineCols + 3]);
    }
    if (s0 <= t0 && t0 - s0 < 1000000) t0 = s0;  // the same launch's scan (within 1 ms): its start is the origin
    else scan_end = 0;
  }
  auto us = [&](int64_t t) { return double(t - t0) * 1e-3; };
  if (!csv_path.empty()) {
    const bool fresh = file_empty(csv_path);
    FILE* f = std::fopen(csv_path.c_str(), "a");
    GKV_CHECK(f != nullptr, "gpu_bench: cannot open ", csv_path, " for the compact timeline");
    if (fresh)
      std::fprintf(f, "case,label,block,kv_head,origin,start_us,wait_us,seg0_us,atomic0_us,warp0_us,warp1_us,warp2_us,warp3_us,"
                      "flush_us,end_us,segs,scan_end_us,batch0_warp0_us,batch0_warp1_us,batch0_warp2_us,batch0_warp3_us\n");
    auto cell = [&](int64_t t) { return t == 0 ? std::string() : std::to_string(us(t)); };
    for (int i = 0; i < m; ++i) {
      std::fprintf(f, "%s,%s,%d,%lld,%s", name.c_str(), label.c_str(), i, (long long)at(i, 0), scan_end ? "scan" : "compact");
      for (int col = 1; col <= 10; ++col) std::fprintf(f, ",%s", cell(at(i, col)).c_str());
      std::fprintf(f, ",%lld,%s", (long long)at(i, 11), scan_end ? std::to_string(us(scan_end)).c_str() : "");
      for (int col = 12; col < 16; ++col) std::fprintf(f, ",%s", cell(at(i, col)).c_str());
      std::fprintf(f, "\n");
    }
    std::fclose(f);
  }
  std::vector<double> start, wait, seg0, atom0, walk, flush, end_, segs, batch0;
  std::set<int64_t> heads;
  int64_t last = 0;
  for (int i = 0; i < m; ++i) {
    heads.insert(at(i, 0));
    start.push_back(us(at(i, 1)));
    wait.push_back(us(at(i, 2)));
    last = std::max(last, at(i, 10));
    if (at(i, 3)) seg0.push_back(double(at(i, 3) - at(i, 2)) * 1e-3);
    int64_t we = 0, b0 = 0;
    for (int wv = 0; wv < 4; ++wv) we = std::max(we, at(i, 5 + wv)), b0 = std::max(b0, at(i, 12 + wv));
    if (at(i, 3) && at(i, 4)) atom0.push_back(double(at(i, 4) - at(i, 3)) * 1e-3);
    if (b0 && at(i, 4)) batch0.push_back(double(b0 - at(i, 4)) * 1e-3);  // batched: the first batch's rows stored
    if (we) {
      walk.push_back(double(we - at(i, 2)) * 1e-3);
      flush.push_back(double(at(i, 9) - we) * 1e-3);
    }
    end_.push_back(double(at(i, 10) - at(i, 9)) * 1e-3);
    segs.push_back(double(at(i, 11)));
  }
  auto q = [](std::vector<double> v, double f) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[size_t(f * double(v.size() - 1) + 0.5)];
  };
  std::printf("# compact timeline %s: %d blocks, %zu KV heads, origin %s; scan's last block end %.2f; start min %.2f median "
              "%.2f max %.2f; wait returned min %.2f median %.2f max %.2f; per block (median / max): first segment in "
              "%.2f / %.2f after the wait, %s atomic %.2f / %.2f after that, walk end %.2f / %.2f after the wait, flush "
              "%.2f / %.2f after the walk, end %.2f / %.2f after the flush; warp 0's %s median %.0f max %.0f; batched: the "
              "first batch's rows %.2f / %.2f after its atomic; last block end %.2f us\n",
              label.c_str(), n, heads.size(), scan_end ? "the scan's first block's start" : "compact's first block's start",
              scan_end ? us(scan_end) : 0.0, q(start, 0), q(start, 0.5), q(start, 1), q(wait, 0), q(wait, 0.5), q(wait, 1),
              q(seg0, 0.5), q(seg0, 1), batch0.empty() ? "warp 0's first" : "the block's first", q(atom0, 0.5), q(atom0, 1),
              q(walk, 0.5), q(walk, 1), q(flush, 0.5), q(flush, 1), q(end_, 0.5), q(end_, 1),
              batch0.empty() ? "segments" : "batches", q(segs, 0.5), q(segs, 1), q(batch0, 0.5), q(batch0, 1), us(last));
}

// Whether the step wrote every field of a ghost step's certificate, poisoned (0xFF bytes: NaN doubles and floats,
// 0xFFFFFFFF integers) before it (initcheck over the example found unwritten ones: call187): budget δ·Z_L/(1 − δ) from
// prep's Z_L, m_L prep's reference max, n_attended the KV head's survivor count, reserved 0, the sums not NaN.
bool cert_fields_written(const gc::Certificate& ce, double zl, float m_l, double delta, int32_t n_surv) {
  const double budget = delta * zl / (1.0 - delta) * (1.0 - 1e-12);
  return std::abs(ce.budget - budget) <= 1e-12 * budget && ce.m_l == m_l && ce.n_attended == n_surv &&
         ce.reserved == 0u && !std::isnan(ce.m_E) && !std::isnan(ce.z_low) && !std::isnan(ce.nu_e) && !std::isnan(ce.theta);
}

// Runs the ghost path once (poisoned outputs) and checks the checked batch entries in float64. The token
// bounds are poisoned too (0xFFFF, an f16 NaN, which no stored bound is: NaN is stored as +inf), so a
// candidate whose bound the scan did not write counts as a violation. Under --check-only (the sanitizer's
// runs) they are not, so that initcheck sees any kernel read of a bound no kernel wrote; only the bounds of
// the pages the scan read are copied back there (an eliminated page's are never written: its page bound
// stands for them).
Check run_and_check(const Host& h, Gpu& d, const Opts& o, bool forced) {
  const gc::DecodeParams& p = d.p;
  const gc::Workspace w = gc::workspace_views(p);
  CK(cudaMemset(d.out.p, 0xFF, d.out.n * 4));
  CK(cudaMemset(d.cert.p, 0xFF, d.cert.n * sizeof(gc::Certificate)));
  if (!o.check_only) CK(cudaMemset(w.ub, 0xFF, size_t(h.B) * h.Hkv * p.max_seq * h.G * 2));
  gc::ghost_decode(p, nullptr);
  CK(cudaDeviceSynchronize());
  const std::vector<float> out = d.out.get();
  const std::vector<gc::Certificate> cert = d.cert.get();
  const int BK = h.B * h.Hkv, BQ = h.B * h.Hq, G = h.G;
  std::vector<int32_t> ns(static_cast<size_t>(BK)), npl(p.box ? size_t(BK) : 0);
  CK(cudaMemcpy(ns.data(), w.n_surv, size_t(BK) * 4, cudaMemcpyDeviceToHost));
  if (p.box) CK(cudaMemcpy(npl.data(), w.n_plist, size_t(BK) * 4, cudaMemcpyDeviceToHost));  // pages the scan read
  std::vector<float> qscal(static_cast<size_t>(BQ) * 4), theta(static_cast<size_t>(BQ));
  std::vector<double> zl(static_cast<size_t>(BQ));
  CK(cudaMemcpy(qscal.data(), w.qscal, qscal.size() * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(zl.data(), w.zl, zl.size() * 8, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(theta.data(), w.theta, theta.size() * 4, cudaMemcpyDeviceToHost));
  // the split cut: each block's θ (page p of a KV head: block p mod C's); theta then holds the lowest of them
  const int split_c = gc::scan_split_chunks(p);
  std::vector<uint16_t> theta_blk(split_c ? size_t(BK) * gc::kSplitMaxChunks * 4 : 0);
  if (split_c)  // the rows of the C blocks only (the others are never written)
    CK(cudaMemcpy2D(theta_blk.data(), gc::kSplitMaxChunks * 8, w.theta_blk, gc::kSplitMaxChunks * 8, size_t(split_c) * 8,
                    size_t(BK), cudaMemcpyDeviceToHost));
  auto theta_of = [&](int bg, int hq_in_group, int t) {  // the cut token t of KV head bg was held to, head hq_in_group
    if (!split_c) return double(theta[size_t((bg / h.Hkv) * h.Hq + (bg % h.Hkv) * G + hq_in_group)]);
    return double(f16_to_f32(theta_blk[(size_t(bg) * gc::kSplitMaxChunks + size_t((t / 64) % split_c)) * 4 + size_t(hq_in_group)]));
  };
  Check c;
  if (split_c && !forced)
    for (int x = 0; x < BK; ++x)
      for (int hh = 0; hh < G; ++hh) {  // theta (and the certificate's θ) is the lowest of the blocks' cuts
        double lo = INFINITY;
        for (int k = 0; k < split_c; ++k)
          lo = std::min(lo, double(f16_to_f32(theta_blk[(size_t(x) * gc::kSplitMaxChunks + size_t(k)) * 4 + size_t(hh)])));
        const size_t bq = size_t((x / h.Hkv) * h.Hq + (x % h.Hkv) * G + hh);
        if (!(double(theta[bq]) == lo) || !(double(cert[bq].theta) == lo)) c.rule_fail++;
      }
  for (float x : out) c.nonfinite += !std::isfinite(x);
  for (int x = 0; x < BK; ++x) {
    const int n = h.seq_len[size_t(x / h.Hkv)];
    const int hot = std::min(n, 4) + std::max(0, n - std::max(n - 64, std::min(n, 4)));
    c.cand += n - hot;
    c.surv_cand += ns[size_t(x)] - hot;
  }
  for (int b : h.checked) {
    for (int g = 0; g < h.Hkv; ++g) {
      const int bg = b * h.Hkv + g, n = h.seq_len[size_t(b)];
      // the survivor rows attend reads, mapped back to tokens through the sequence's page table
      std::vector<int32_t> rows(size_t(ns[size_t(bg)])), list(rows.size());
      CK(cudaMemcpy(rows.data(), w.srow + int64_t(bg) * p.max_seq, rows.size() * 4, cudaMemcpyDeviceToHost));
      gc::survivor_tokens(h.page_table.data() + int64_t(b) * h.max_pages, n, rows.data(), int64_t(rows.size()),
                          list.data());
      std::vector<uint16_t> ub(size_t(n) * G, 0xFFFF);
      const uint16_t* ub_dev = w.ub + int64_t(bg) * p.max_seq * G;
      std::vector<uint8_t> anc(size_t(n), 0);
      if (p.box) {  // tokens of a page eliminated by its anchor: the page bound is their bound
        const int64_t MP = (p.max_seq + 63) / 64;
        std::vector<uint16_t> pub(size_t(MP) * G);
        CK(cudaMemcpy(pub.data(), w.pub + int64_t(bg) * MP * G, pub.size() * 2, cudaMemcpyDeviceToHost));
        for (int pg = 0; pg * 64 < n; ++pg) {
          const int t0 = pg * 64, t1 = std::min(n, t0 + 64);
          if (pub[size_t(pg) * G] == 0xFFFF) {  // scanned: its tokens' bounds
            if (o.check_only)
              CK(cudaMemcpy(ub.data() + size_t(t0) * G, ub_dev + int64_t(t0) * G, size_t(t1 - t0) * G * 2, cudaMemcpyDeviceToHost));
            continue;
          }
          for (int t = t0; t < t1; ++t) {
            ++c.anchor_tokens;
            anc[size_t(t)] = 1;
            for (int hh = 0; hh < G; ++hh) ub[size_t(t) * G + hh] = pub[size_t(pg) * G + hh];
          }
        }
      }
      if (!p.box || !o.check_only) {  // every bound (the anchor-eliminated pages' poisoned, replaced just above)
        std::vector<uint16_t> all(size_t(n) * G);
        CK(cudaMemcpy(all.data(), ub_dev, all.size() * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < all.size(); ++i)
          if (!anc[i / size_t(G)]) ub[i] = all[i];
      }
      std::vector<uint8_t> keep(size_t(n), 0);
      for (int32_t t : list) {
        if (t < 0 || t >= n || keep[size_t(t)]) { c.rule_fail++; continue; }
        keep[size_t(t)] = 1;
      }
      for (int t = 0; t < n; ++t)
        if (is_hot(t, n) && !keep[size_t(t)]) c.rule_fail++;
      std::vector<float> kf, vf;
      h.gather(b, g, kf, vf);
      const QuantRecords* rec = h.rank ? nullptr : h.recs[size_t(bg)].get();  // reference bound (quant witness)
std::vector<Check> per(static_cast<size_t>(G));
#pragma omp parallel for schedule(dynamic)
      for (int hh = 0; hh < G; ++hh) {
        Check& cc = per[size_t(hh)];
        const int hq = g * G + hh, bq = b * h.Hq + hq;
        std::vector<double> qd(g_d);
        for (int i = 0; i < g_d; ++i) qd[size_t(i)] = h.scale * double(h.q[size_t(bq) * g_d + i]);
        std::vector<double> s(static_cast<size_t>(n));
        double m = -INFINITY;
        for (int t = 0; t < n; ++t) {
          double a = 0;
          for (int i = 0; i < g_d; ++i) a += qd[size_t(i)] * double(kf[size_t(t) * g_d + i]);
          s[size_t(t)] = a;
          m = std::max(m, a);
        }
        std::vector<double> of(g_d, 0), os(g_d, 0);
        double zf = 0, zs = 0, lost = 0;
        for (int t = 0; t < n; ++t) {
          const double e = std::exp(s[size_t(t)] - m);
          zf += e;
          if (keep[size_t(t)]) zs += e;
          for (int i = 0; i < g_d; ++i) {
            of[size_t(i)] += e * vf[size_t(t) * g_d + i];
            if (keep[size_t(t)]) os[size_t(i)] += e * vf[size_t(t) * g_d + i];
          }
        }
        for (int t = 0; t < n; ++t)
          if (!keep[size_t(t)]) lost += std::exp(s[size_t(t)] - m) / zf;
        // bounds: stored f16 (UB − m_L) + m_L ≥ exact score; gap to the float64 reference bound
        const double ml = qscal[size_t(bq) * 4 + 2];
        std::vector<double> ubr;
        if (rec) {
          QuantQuery pq = prepare_quant_query(h.basis[size_t(g)], *rec, qd.data(), n);
          ubr.resize(size_t(n));
          ref::quant_bounds(*rec, pq, 0, n, ubr.data());
          double qmu = 0;
          for (int i = 0; i < g_d; ++i) qmu += qd[size_t(i)] * double(h.basis[size_t(g)].mu[size_t(i)]);
          for (auto& x : ubr) x += qmu;
        }
        for (int t = 0; t < n; ++t) {
          if (is_hot(t, n)) continue;
          const double dv = f16_to_f32(ub[size_t(t) * G + hh]);
          const double u = dv + ml;
          if (!(u >= s[size_t(t)])) cc.violations++;
          if (rec && std::isfinite(u) && !anc[size_t(t)]) { cc.mean_gap += u - ubr[size_t(t)]; cc.gap_n++; }
          if (!forced && !keep[size_t(t)]) {
            // GQA rule: eliminated only if every head of the group is below its cut
            for (int h2 = 0; h2 < G; ++h2)
              if (!(double(f16_to_f32(ub[size_t(t) * G + h2])) < theta_of(bg, h2, t))) {
                cc.rule_fail++;
                break;
              }
          }
        }
        const gc::Certificate& ce = cert[size_t(bq)];
        double err2 = 0, num2 = 0, ref2 = 0, onorm2 = 0;
        for (int i = 0; i < g_d; ++i) {
          const double o_full = of[size_t(i)] / zf, o_s = os[size_t(i)] / zs;
          err2 += (o_full - o_s) * (o_full - o_s);
          const double og = out[size_t(bq) * g_d + i];
          num2 += (og - o_s) * (og - o_s);
          ref2 += o_s * o_s;
          onorm2 += o_full * o_full;
        }
        const double num_err = std::sqrt(num2 / ref2);
        if (!(lost <= ce.mass_bound * (1 + 1e-9)) || !(std::sqrt(err2) <= ce.out_err_bound * (1 + 1e-9) + 1e-300))
          cc.cert_fail++;
        if (!forced && !(ce.mass_bound <= o.delta * (1 + 1e-9))) cc.cert_fail++;
        if (ce.flags != 0u) cc.cert_fail++;  // finite inputs: no head may be flagged
        if (!cert_fields_written(ce, zl[size_t(bq)], qscal[size_t(bq) * 4 + 2], p.delta, ns[size_t(bg)])) cc.cert_fail++;
        if (!(num_err <= 1e-3)) cc.num_fail++;
        cc.max_mass_bound = ce.mass_bound;
        cc.max_mass_lost = lost;
        cc.max_num_err = num_err;
        cc.max_cert_ratio = lost > 0 ? ce.mass_bound / lost : 0;
      }
      for (const Check& cc : per) c += cc;
    }
  }
  if (gc::scan_cut_mode(p) == 1) {
    // the cut from the scan block's own histogram: the same step again with the global histogram's cut
    // (after the checks above, which read this step's workspace) gives bitwise the same θ, budget and
    // survivor counts (outputs and M_E may differ in the last bits: the survivors' order within a KV
    // head and M_E's atomic sums are not fixed)
    gc::set_cut_local(0);
    const bool global = gc::scan_cut_mode(p) == 0;
    CK(cudaMemset(w.theta, 0xFF, size_t(BQ) * 4));  // poisoned again: the comparison reads this run's values
    CK(cudaMemset(d.cert.p, 0xFF, d.cert.n * sizeof(gc::Certificate)));
    gc::ghost_decode(p, nullptr);
    CK(cudaDeviceSynchronize());
    gc::set_cut_local(-1);
    std::vector<float> theta2(theta.size());
    std::vector<int32_t> ns2(ns.size());
    CK(cudaMemcpy(theta2.data(), w.theta, theta2.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(ns2.data(), w.n_surv, ns2.size() * 4, cudaMemcpyDeviceToHost));
    const std::vector<gc::Certificate> cert2 = d.cert.get();
    for (int x = 0; x < BQ; ++x) {
      const size_t i = size_t(x);
      ++c.cut_heads;
      const bool same = global && std::memcmp(&theta[i], &theta2[i], 4) == 0 &&
                        std::memcmp(&cert[i].budget, &cert2[i].budget, 8) == 0 &&
                        std::memcmp(&cert[i].theta, &cert2[i].theta, 4) == 0 &&
                        ns[size_t(x / G)] == ns2[size_t(x / G)];
      c.cut_diff += !same;
    }
    c.rule_fail += c.cut_diff;  // counted with the rule's failures in the table and the CSV
  }
  if (p.box && p.rank && gc::ghost_stage1_kernels(p) < 4) {
    // the fused low-rank kernel (anchor stage and scan in one; by default its block also compacts its KV head, no
    // compact kernel after it: set_lowrank_fused_compact): the same step with the two kernels and compact gives
    // bitwise the same θ, budget, survivor counts, page-list lengths and ν_E (the same arithmetic per page, the
    // cut in the same mode; ν_E is a max), and M_E within 1e-4 relative (the anchored pages' float32 terms are
    // summed in another grouping: lanes over groups w and w + 8 instead of 64 consecutive pages, and the block's
    // compaction sums the eliminated tokens' terms over its 8 warps instead of compact's blocks)
    gc::set_lowrank_fused(0);
    const bool two = gc::ghost_stage1_kernels(p) == 4;
    CK(cudaMemset(w.theta, 0xFF, size_t(BQ) * 4));
    CK(cudaMemset(d.cert.p, 0xFF, d.cert.n * sizeof(gc::Certificate)));
    gc::ghost_decode(p, nullptr);
    CK(cudaDeviceSynchronize());
    gc::set_lowrank_fused(-1);
    std::vector<float> theta2(theta.size());
    std::vector<int32_t> ns2(ns.size()), npl2(npl.size());
    CK(cudaMemcpy(theta2.data(), w.theta, theta2.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(ns2.data(), w.n_surv, ns2.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(npl2.data(), w.n_plist, npl2.size() * 4, cudaMemcpyDeviceToHost));
    const std::vector<gc::Certificate> cert2 = d.cert.get();
    int64_t nd[6] = {};  // heads that differ in θ (workspace or certificate), budget, n_surv, n_plist, ν_E, M_E
    int first = -1;
    for (int x = 0; x < BQ; ++x) {
      const size_t i = size_t(x);
      ++c.fused_heads;
      const double me1 = cert[i].m_E, me2 = cert2[i].m_E;
      const bool d_th = std::memcmp(&theta[i], &theta2[i], 4) != 0 || std::memcmp(&cert[i].theta, &cert2[i].theta, 4) != 0;
      const bool d_bu = std::memcmp(&cert[i].budget, &cert2[i].budget, 8) != 0;
      const bool d_ns = ns[size_t(x / G)] != ns2[size_t(x / G)], d_pl = npl[size_t(x / G)] != npl2[size_t(x / G)];
      const bool d_nu = std::memcmp(&cert[i].nu_e, &cert2[i].nu_e, 4) != 0;
      // M_E may be +inf in both (forced rows eliminate tokens whose bound overflows ex2): equal then; +inf against a
      // finite value (or NaN anywhere) differs
      const bool d_me = !(me1 == me2 || (std::isfinite(me1) && std::isfinite(me2) &&
                                         std::fabs(me1 - me2) <= 1e-4 * std::max(std::fabs(me1), std::fabs(me2))));
      nd[0] += d_th; nd[1] += d_bu; nd[2] += d_ns; nd[3] += d_pl; nd[4] += d_nu; nd[5] += d_me;
      const bool same = two && !(d_th || d_bu || d_ns || d_pl || d_nu || d_me);
      if (!same && first < 0) first = x;
      c.fused_diff += !same;
    }
    if (first >= 0) {  // which fields, and the first head's values
      const size_t i = size_t(first);
      std::printf("  fused check: %s; heads differing in theta %lld, budget %lld, n_surv %lld, n_plist %lld, nu_E %lld, M_E %lld; "
                  "first: head %d theta %.9g / %.9g, n_surv %d / %d, n_plist %d / %d, nu_E %.9g / %.9g, M_E %.17g / %.17g\n",
                  two ? "two kernels ran" : "the two kernels did not run", (long long)nd[0], (long long)nd[1], (long long)nd[2],
                  (long long)nd[3], (long long)nd[4], (long long)nd[5], first, double(theta[i]), double(theta2[i]),
                  ns[i / size_t(G)], ns2[i / size_t(G)], npl[i / size_t(G)], npl2[i / size_t(G)], double(cert[i].nu_e),
                  double(cert2[i].nu_e), cert[i].m_E, cert2[i].m_E);
    }
    c.rule_fail += c.fused_diff;
  }
  if (c.gap_n) c.mean_gap /= double(c.gap_n);
  return c;
}

}  // namespace


namespace {

struct Timer {
  cudaStream_t st = nullptr;
  Dev<uint8_t> flush;
  cudaEvent_t e0, e1;
  int reps = 30;
  bool clean = true;  // the flush's written lines leave the L2 before the timed region (--flush write: not)
  bool eager = false;  // graph_ms times the launches the graph was captured from, made directly on the stream
  std::map<cudaGraphExec_t, std::function<void(cudaStream_t)>> launches;  // each graph's capture, for eager
  explicit Timer(int r, bool c, bool e = false) : flush(size_t(256) << 20), reps(r), clean(c), eager(e) {
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
  }
  ~Timer() {  // one Timer per device run (--gpus): its stream and events go with it
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaStreamDestroy(st);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // median ms of fn() with a cold L2 (a 256 MB memset before each run), after 3 warm-ups
  template <class F>
  double median_ms(F&& fn) {
    std::vector<float> t;
    for (int i = 0; i < reps + 3; ++i) {
      CK(cudaMemsetAsync(flush.p, i & 0xff, flush.n, st));
      if (clean) gc::read_through(flush.p, int64_t(flush.n), st);
      CK(cudaEventRecord(e0, st));
      fn();
      CK(cudaEventRecord(e1, st));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      if (i >= 3) t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }
  template <class F>
  cudaGraphExec_t graph(F&& launch) {
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    launch(st);
    CK(cudaStreamEndCapture(st, &g));
    cudaGraphExec_t ex;
    CK(cudaGraphInstantiate(&ex, g, 0));
    CK(cudaGraphDestroy(g));
    launches[ex] = std::function<void(cudaStream_t)>(launch);
    return ex;
  }
  // a graph of graph() destroyed, and its capture forgotten (a later graph may get the same handle)
  cudaError_t destroy(cudaGraphExec_t ex) {
    launches.erase(ex);
    return cudaGraphExecDestroy(ex);
  }
  // the median time of a graph's replay, or (eager) of the launches it was captured from: the host enqueues them
  // behind the flush, which keeps the device busy for far longer than the enqueue takes
  double graph_ms(cudaGraphExec_t ex) {
    if (eager) {
      const auto it = launches.find(ex);
      GKV_CHECK(it != launches.end(), "gpu_bench: a graph timed that Timer::graph did not capture");
      return median_ms([&] { it->second(st); });
    }
    return median_ms([&] { CK(cudaGraphLaunch(ex, st)); });
  }
  // what a launch costs beyond its work: a tiny kernel (read_through of 16 bytes) replayed as a graph and launched
  // directly, each timed as the runs are (median, L2 flush before each)
  std::pair<double, double> launch_cost_ms() {
    auto tiny = [&](cudaStream_t s) { gc::read_through(flush.p, 16, s); };
    cudaGraphExec_t g = graph(tiny);
    const double gms = median_ms([&] { CK(cudaGraphLaunch(g, st)); });
    const double ems = median_ms([&] { tiny(st); });
    CK(destroy(g));
    return {gms, ems};
  }
};

struct Bytes {
  double stage1 = 0, stage2 = 0, dense = 0;
};

// The first head whose certificate is not a dense step's exact one (finite inputs: flags 0, mass and output bounds 0,
// every token attended, θ −inf), described; empty where every head's is.
std::string dense_cert_mismatch(const Host& h, const std::vector<gc::Certificate>& cert) {
  for (int b = 0; b < h.B; ++b)
    for (int q = 0; q < h.Hq; ++q) {
      const gc::Certificate& c = cert[size_t(b) * h.Hq + q];
      if (c.flags == 0 && c.mass_bound == 0 && c.out_err_bound == 0 && c.n_attended == h.seq_len[size_t(b)] &&
          std::isinf(c.theta) && c.theta < 0 && c.m_E == 0 && c.z_low == 0 && c.budget == 0 && c.m_l == 0 && c.nu_e == 0 &&
          c.reserved == 0u)  // every field written (the buffer is poisoned before a checked run)
        continue;
      return "certificate of (" + std::to_string(b) + ", " + std::to_string(q) + "): flags " + std::to_string(c.flags) +
             ", mass " + std::to_string(c.mass_bound) + ", out_err " + std::to_string(c.out_err_bound) + ", attended " +
             std::to_string(c.n_attended) + " of " + std::to_string(h.seq_len[size_t(b)]) + ", m_E " + std::to_string(c.m_E) +
             ", z_low " + std::to_string(c.z_low) + ", budget " + std::to_string(c.budget) + ", m_L " + std::to_string(c.m_l) +
             ", nu_E " + std::to_string(c.nu_e) + ", reserved " + std::to_string(c.reserved);
    }
  return "";
}

// The bytes each phase must move (each input read once, each output written once), per step.
// pages_read: pages (summed over batch entries and KV heads) whose codes the scan reads (< 0: all).
Bytes bytes_model(const Host& h, const gc::DecodeParams& p, int64_t n_surv_total, int64_t pages_read = -1) {
  Bytes by;
  double n_tot = 0, hot = 0, pages = 0;
  for (int b = 0; b < h.B; ++b) {
    const int n = h.seq_len[size_t(b)];
    n_tot += n;
    hot += std::min(n, 68);
    pages += (n + 63) / 64;
  }
  const double Hkv = h.Hkv, G = h.G;
  // partial states written by attend, read by merge; none where attend writes the outputs (one split)
  const double partial = gc::attend_finishes(p.splits) ? 0.0 : double(h.B) * h.Hq * p.splits * (g_d + 2) * 4 * 2;
  // tokens of scanned pages (every page without anchors; partial last pages counted whole)
  const double scanned = pages_read < 0 ? Hkv * n_tot : double(pages_read) * 64;
  const double all_pages = Hkv * pages, read_pages = pages_read < 0 ? all_pages : double(pages_read);
  const double tok_bytes = h.rank ? 16 * 2 + 2 + 2 : h.CB, page_meta = h.rank ? 0 : 2 * g_d * 2;
  by.stage1 = scanned * tok_bytes              // witness of the scanned pages (codes; low-rank: ẑ, ρ, e)
              + read_pages * page_meta         // their page meta (h, err)
              + all_pages * 4                  // ν_max
              + scanned * G * 2 * 2            // UB − m_L written by the scan, read by compact
              // (compact walks the anchor stage's page list and reads the bounds of the listed pages only;
              // the anchor stage takes the ν of the pages it eliminates, so ν is still read once per page;
              // the runs from 939a12c to 11dc7a9 had compact read the pub entries of every page instead
              // of the list, counted as G·2 bytes more per page; builds from 939a12c to ad20ba5
              // also read the bounds of each warp's first segment, not counted, being no bytes the step
              // needs; builds up to 2c76096 read every bound, and their runs from ef3ee59 on counted it)
              + (p.box ? all_pages * ((h.rank ? gc::kLrBoxHalfs * 2 : 2 * g_d * 2 + 2 * g_d) + G * 2) : 0)
                                               // anchor stage: meta + box (low-rank: the 80-byte page
                                               // anchor), pub written (no kernel reads it since
                                               // 0a62fde: the check here and a user's inspection do)
              + (p.box ? read_pages * 4 * 3 : 0)  // the page list: written, read by the scan and by compact
              + Hkv * hot * g_d * 2            // hot keys read by prep (once per KV head; until 255ce1c
                                               // counted 256 bytes per query head)
              + double(n_surv_total) * 4     // survivor list
              + Hkv * g_d * g_d * 4;           // rotation (once per KV head; L2-resident across heads)
  by.stage2 = double(n_surv_total) * (2 * g_d * 2 + 4) + partial + double(h.B) * h.Hq * g_d * 4;
  by.dense = Hkv * n_tot * 2 * g_d * 2 + partial + double(h.B) * h.Hq * g_d * 4;
  return by;
}

// ||out − ref|| / ||ref|| over the finite entries of ref, for a step run again (a graph replay, a timed run) against
// its checked run: to rounding, since the rows' order within a KV head, so the sums' order, may differ. A non-finite
// entry of ref (a flagged head's output) must be non-finite in out too, else the error is +inf.
double rerun_rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  double e2 = 0, r2 = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(ref[i])) {
      if (std::isfinite(out[i])) return INFINITY;
      continue;
    }
    e2 += double(out[i] - ref[i]) * double(out[i] - ref[i]);
    r2 += double(ref[i]) * double(ref[i]);
  }
  return r2 > 0 ? std::sqrt(e2 / r2) : std::sqrt(e2);
}
// A per-KV-head device counter of the workspace, one entry per (batch entry, KV head), and its sum.
std::vector<int32_t> kv_counts(const Gpu& d, int32_t* gc::Workspace::*counter) {
  const gc::Workspace w = gc::workspace_views(d.p);
  std::vector<int32_t> ns(size_t(d.p.batch) * d.p.n_head_kv);
  CK(cudaMemcpy(ns.data(), w.*counter, ns.size() * 4, cudaMemcpyDeviceToHost));
  return ns;
}
int64_t sum_counts(const Gpu& d, int32_t* gc::Workspace::*counter) {
  int64_t s = 0;
  for (int32_t x : kv_counts(d, counter)) s += x;
  return s;
}
int64_t pages_read_total(const Gpu& d) { return d.p.box ? sum_counts(d, &gc::Workspace::n_plist) : -1; }
int64_t surv_total(const Gpu& d) { return sum_counts(d, &gc::Workspace::n_surv); }
// Each (batch entry, KV head)'s survivor fraction of its candidates (hot tokens excluded, as Check::surv_frac), from
// the device's counts, '/'-joined in b·Hkv + g order; and whether stage 2 took the balanced splits for these counts
// (decode.h: the kernels' rule, on the host), with the most tiles of one attend block without and with them.
// (the CSV's head_fracs and the printed list hold them up to this many (batch entry, KV head) pairs; past it the
// printed line gives their range and mean)
constexpr int kHeadFracsShown = 32;
struct HeadFracs {
  std::string fracs, range;
  bool balanced = false;
  int tiles_even = 0, tiles_bal = 0;
};
HeadFracs head_fracs(const Host& h, const Gpu& d, const gc::DecodeParams& pr) {
  const int H = d.p.batch * d.p.n_head_kv;
  const std::vector<int32_t> ns = kv_counts(d, &gc::Workspace::n_surv);
  std::vector<int32_t> sh(size_t(H), 0);
  HeadFracs r;
  double lo = 1e300, hi = -1e300, sum = 0;
  for (int i = 0; i < H; ++i) {
    const int n = h.seq_len[size_t(i / d.p.n_head_kv)];
    const int cand = std::max(0, n - d.p.n_sink - d.p.n_recent), hot = n - cand;
    const double f = cand ? double(ns[size_t(i)] - hot) / cand : 0.0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? "/" : "", f);
    r.fracs += buf;
    lo = std::min(lo, f);
    hi = std::max(hi, f);
    sum += f;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%d pairs, %.4f-%.4f, mean %.4f", H, H ? lo : 0.0, H ? hi : 0.0, H ? sum / H : 0.0);
  r.range = buf;
  if (gc::balance_allowed(pr)) {
    r.balanced = gc::balanced_splits(ns.data(), H, pr.splits, gc::kAttendTileRows, sh.data()) && pr.balance;
    for (int i = 0; i < H; ++i) {
      r.tiles_even = std::max(r.tiles_even, gc::split_max_tiles(ns[size_t(i)], gc::kAttendTileRows, pr.splits));
      r.tiles_bal = std::max(r.tiles_bal, gc::split_max_tiles(ns[size_t(i)], gc::kAttendTileRows, sh[size_t(i)]));
    }
  }
  return r;
}

// Non-finite inputs (--poison): one NaN query component (batch 0, query head 1), then one NaN
// component of a hot key, then of a hot value row (batch 0, KV head 0, the last token), each in a
// certified step of its own. The heads they reach (head 1; the G heads of KV head 0) must carry the
// flag, a mass bound of 1 and an infinite output bound; every other head must be unflagged, with a
// finite output. The inputs are restored after each case. Returns the number of failures.
int poison_checks(const Host& h, Gpu& d) {
  const int BQ = h.B * h.Hq;
  int fails = 0;
  auto step = [&](uint32_t want, int lo, int hi, const char* what) {
    CK(cudaMemset(d.out.p, 0xFF, d.out.n * 4));
    CK(cudaMemset(d.cert.p, 0xFF, d.cert.n * sizeof(gc::Certificate)));
    gc::DecodeParams pr = d.p;
    pr.forced_keep = -1.0f;
    gc::ghost_decode(pr, nullptr);
    CK(cudaDeviceSynchronize());
    const std::vector<gc::Certificate> cert = d.cert.get();
    const std::vector<float> out = d.out.get();
    int bad = 0;
    for (int bq = 0; bq < BQ; ++bq) {
      const gc::Certificate& c = cert[size_t(bq)];
      if (bq >= lo && bq < hi) {
        bad += !((c.flags & want) && c.mass_bound == 1.0 && std::isinf(c.out_err_bound));
      } else {
        bool fin = c.flags == 0u && c.mass_bound <= 1.0;
        for (int i = 0; i < g_d; ++i) fin = fin && std::isfinite(out[size_t(bq) * g_d + i]);
        bad += !fin;
      }
    }
    std::printf("# poison %s: heads %d..%d flagged %s, %d of %d heads wrong\n", what, lo, hi - 1,
                want == gc::kCertNonFiniteQuery ? "query" : want == gc::kCertNonFiniteHot ? "hot" : "output", bad, BQ);
    fails += bad;
  };
  {  // a query component
    std::vector<float> q = h.q;
    q[size_t(1) * g_d + 5] = NAN;
    CK(cudaMemcpy(d.q.p, q.data(), q.size() * 4, cudaMemcpyHostToDevice));
    step(gc::kCertNonFiniteQuery, 1, 2, "q[0, 1, 5] = NaN");
    CK(cudaMemcpy(d.q.p, h.q.data(), h.q.size() * 4, cudaMemcpyHostToDevice));
  }
  // component 7 of the last (hot) token of KV head 0 in a bf16 cache set to NaN for one step
  auto poison_hot = [&](uint16_t* cache, uint32_t want, const char* what) {
    const int64_t at = h.row(0, 0, h.seq_len[0] - 1) + 7;
    uint16_t nan_bf16 = 0x7FC0, saved = 0;
    CK(cudaMemcpy(&saved, cache + at, 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(cache + at, &nan_bf16, 2, cudaMemcpyHostToDevice));
    step(want, 0, h.G, what);
    CK(cudaMemcpy(cache + at, &saved, 2, cudaMemcpyHostToDevice));
  };
  poison_hot(d.k.p, gc::kCertNonFiniteHot, "k[0, kv 0, last token, 7] = NaN");
  // a hot value component: every head of the group attends it, so their outputs are NaN
  poison_hot(d.v.p, gc::kCertNonFiniteOutput, "v[0, kv 0, last token, 7] = NaN");
  return fails;
}

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, c)) if (!x.empty()) out.push_back(x);
  return out;
}

bool file_empty(const std::string& path) {
  std::ifstream f(path);
  return !f.good() || f.peek() == std::ifstream::traits_type::eof();
}

int run_on_device(const Opts& o, Host& h, int dev);

}  // namespace

int main(int argc, char** argv) try {
  Opts o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      GKV_CHECK(i + 1 < argc, "gpu_bench: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--mode") o.mode = val();
    else if (a == "--name") o.name = val();
    else if (a == "--capture") o.capture = val();
    else if (a == "--layer") o.layer = std::stoi(val());
    else if (a == "--queries") o.queries = std::stoi(val());
    else if (a == "--batch") o.batch = std::stoi(val());
    else if (a == "--n") o.n = std::stoll(val());
    else if (a == "--hq") o.hq = std::stoi(val());
    else if (a == "--hkv") o.hkv = std::stoi(val());
    else if (a == "--d") g_d = std::stoi(val());
    else if (a == "--bits") {
      const std::string v = val();
      if (v == "mixed") o.n8 = 32;  // 8x32,4x(d−32)
      else if (v == "lowrank") o.rank = 16;  // low-rank r 16 (the int8 records still give ν and the residual)
      else o.bits = std::stoi(v);
    }
    else if (a == "--delta") o.delta = std::stod(val());
    else if (a == "--qscale") o.qscale = std::stod(val());
    else if (a == "--reps") o.reps = std::stoi(val());
    else if (a == "--check-batches") o.check_batches = std::stoi(val());
    else if (a == "--fracs") { o.fracs.clear(); for (auto& x : split(val(), ',')) o.fracs.push_back(std::stod(x)); }
    else if (a == "--extra") o.extra_labels = split(val(), ',');
    else if (a == "--csv") o.csv = val();
    else if (a == "--tier-csv") o.tier_csv = val();
    else if (a == "--ghost-tier") o.ghost_tier = true;
    else if (a == "--tier-only") o.tier_only = o.ghost_tier = true;
    else if (a == "--device") o.device = val();
    else if (a == "--commit") o.commit = val();
    else if (a == "--seed") o.seed = std::stoull(val());
    else if (a == "--dry") o.dry = true;
    else if (a == "--balance") {
      const std::string v = val();
      GKV_CHECK(v == "auto" || v == "0" || v == "1", "gpu_bench --balance: auto, 0 or 1, got ", v);
      o.balance = v == "auto" ? -1 : std::stoi(v);
    }
    else if (a == "--profile") o.profile = std::stod(val());
    else if (a == "--distinct") o.distinct = std::stoi(val());
    else if (a == "--anchors") o.anchors = true;
    else if (a == "--cut-split") o.cut_split = true;
    else if (a == "--poison") o.poison = true;
    else if (a == "--breakdown") o.breakdown = true;
    else if (a == "--adaptive-steps") {
      o.adaptive_steps = std::stoi(val());
      GKV_CHECK(o.adaptive_steps >= 8 && o.adaptive_steps <= 100000, "gpu_bench: --adaptive-steps takes 8 to 100000, got ",
                o.adaptive_steps);
    } else if (a == "--adaptive-csv") o.adaptive_csv = val();
    else if (a == "--adaptive-phases") {
      o.adaptive_phases.clear();
      for (auto& x : split(val(), ',')) {
        const double f = std::stod(x);
        GKV_CHECK(f > 0 && f <= 1, "gpu_bench: --adaptive-phases takes forced fractions in (0, 1], got ", x);
        o.adaptive_phases.push_back(f);
      }
    } else if (a == "--adaptive-phases-csv") o.adaptive_phases_csv = val();
    else if (a == "--adaptive-no-reset") o.adaptive_opts.reset_on_flip = false;
    else if (a == "--adaptive-probe-budget") {
      const std::string x = val();
      const double v = std::stod(x);
      GKV_CHECK(v >= 0 && v <= 1, "gpu_bench: --adaptive-probe-budget takes 0 to 1, got ", x);
      o.adaptive_opts.probe_budget = v;
    }
    else if (a == "--adaptive-every" || a == "--adaptive-lag") {
      const int v = std::stoi(val());
      GKV_CHECK(v >= 1 && v <= 1000000, "gpu_bench: ", a, " takes 1 to 1000000, got ", v);
      (a == "--adaptive-every" ? o.adaptive_opts.observe_every : o.adaptive_opts.max_lag) = v;
    }
    else if (a == "--scan-timeline") o.scan_timeline = true;
    else if (a == "--scan-timeline-csv") o.scan_timeline = true, o.scan_timeline_csv = val();
    else if (a == "--split-timeline-csv") o.split_timeline_csv = val();
    else if (a == "--compact-timeline") o.compact_timeline = true;
    else if (a == "--compact-timeline-csv") o.compact_timeline = true, o.compact_timeline_csv = val();
    else if (a == "--flush") {
      const std::string v = val();
      GKV_CHECK(v == "write" || v == "clean", "gpu_bench: --flush takes write or clean, got ", v);
      o.flush_clean = v == "clean";
    }
    else if (a == "--timing") {
      const std::string v = val();
      GKV_CHECK(v == "graph" || v == "eager", "gpu_bench: --timing takes graph or eager, got ", v);
      o.eager = v == "eager";
    }
    else if (a == "--far-pages") o.far_pages = std::stod(val());
    else if (a == "--anchor-share") o.anchor_share = std::stod(val());
    else if (a == "--check-only") o.check_only = true;
    else if (a == "--gpus") {
      o.gpus.clear();
      for (auto& x : split(val(), ',')) o.gpus.push_back(std::stoi(x));
      GKV_CHECK(!o.gpus.empty(), "gpu_bench: --gpus needs at least one device ordinal");
    }
    else if (a == "--splits") {
      o.splits = std::stoi(val());
      GKV_CHECK(o.splits >= 0 && o.splits <= 128, "gpu_bench: --splits takes 0 (default) to 128, got ", o.splits);
    }
    else GKV_CHECK(false, "gpu_bench: unknown option ", a);
  }
  if (o.name.empty()) o.name = o.mode;
  GKV_CHECK(o.adaptive_phases.empty() || o.adaptive_steps >= 64,
            "gpu_bench: --adaptive-phases needs --adaptive-steps of at least 64 (steps per phase), got ", o.adaptive_steps);
  // the CSV rows name the device by --device only: rows of several GPUs would be indistinguishable
  GKV_CHECK(o.gpus.size() == 1 || o.check_only || (o.csv.empty() && o.tier_csv.empty()),
            "gpu_bench: --gpus with more than one device writes no CSV (give --check-only, or one device per run)");
  auto t0 = std::chrono::steady_clock::now();
  Host h = o.mode == "capture" ? make_capture(o) : make_random(o);
  std::printf("# built %d x %d KV heads, max_seq %d, witness %s bits (%d B/token) in %.1f s\n", h.B, h.Hkv, h.max_seq,
              h.spec_csv().c_str(), h.rank ? 36 : h.CB, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (o.dry) return 0;
  int n_dev = 0;
  CK(cudaGetDeviceCount(&n_dev));
  for (int dev : o.gpus)
    GKV_CHECK(dev >= 0 && dev < n_dev, "gpu_bench: --gpus ", dev, " is not a device ordinal (", n_dev, " devices)");
  int rc = 0;
  for (int dev : o.gpus) {
    CK(cudaSetDevice(dev));
    rc = std::max(rc, run_on_device(o, h, dev));
  }
  return rc;
} catch (const std::exception& e) {
  std::fprintf(stderr, "gpu_bench: error: %s\n", e.what());
  return 2;
}

namespace {
// --adaptive-steps: the row's step N times back to back, three ways (the options' comment above). Returns whether the
// decoder's last step passed its check.
bool adaptive_loops(Timer& tm, const Opts& o, const Host& h, Gpu& d, const gc::DecodeParams& pr, const std::string& label,
                    double frac, const std::vector<float>& out_checked, double ghost_ms, double dense_ms) {
  const int N = o.adaptive_steps;
  auto loop_us = [&](auto&& one) {
    CK(cudaMemsetAsync(tm.flush.p, 1, tm.flush.n, tm.st));
    gc::read_through(tm.flush.p, int64_t(tm.flush.n), tm.st);
    CK(cudaEventRecord(tm.e0, tm.st));
    for (int i = 0; i < N; ++i) one();
    CK(cudaEventRecord(tm.e1, tm.st));
    CK(cudaEventSynchronize(tm.e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, tm.e0, tm.e1));
    return 1e3 * double(ms) / N;
  };
  const double g_us = loop_us([&] { gc::ghost_decode(pr, tm.st); });
  gc::DecodeParams pdl = d.p;  // the dense loop without certificates (the decoder's dense steps write them)
  pdl.cert = nullptr;
  const double d_us = loop_us([&] { gc::dense_decode(pdl, tm.st); });
  gc::AdaptiveDecoder ad(pr, o.adaptive_opts);
  int n_ghost = 0;
  gc::DecodePath last = gc::DecodePath::ghost;
  CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));
  const double a_us = loop_us([&] {
    last = ad.step(pr, tm.st);
    n_ghost += last == gc::DecodePath::ghost;
  });
  const std::vector<float> out = d.out.get();
  const std::vector<gc::Certificate> cert = d.cert.get();
  bool ok = true;
  std::string why;
  if (last == gc::DecodePath::ghost) {
    const double rel = rerun_rel_err(out, out_checked);
    ok = rel <= 1e-5;
    if (!ok) why = "outputs " + std::to_string(rel) + " from the checked ones";
  } else {
    gc::DecodeParams pd = pr;  // the decoder's dense step: its split count
    pd.splits = gc::dense_step_splits(pr);
    gc::dense_decode(pd, tm.st);
    CK(cudaStreamSynchronize(tm.st));
    const std::vector<float> ref = d.out.get();
    ok = std::memcmp(ref.data(), out.data(), out.size() * 4) == 0;
    if (!ok) why = "outputs not bitwise a dense run's";
    if (ok) {
      why = dense_cert_mismatch(h, cert);
      ok = why.empty();
    }
  }
  const gc::AdaptiveRule& r = ad.rule();
  std::printf("# adaptive decoder %s (surv %.4f): %d steps, %d ghost, %d dense (observed %lld / %lld); us per step: "
              "adaptive %.2f, ghost path %.2f, dense %.2f (adaptive / dense %.3f, / the better of the two %.3f); predicted "
              "ratio %.3f; last step %s%s%s\n",
              label.c_str(), frac, N, n_ghost, N - n_ghost, (long long)ad.observed(gc::DecodePath::ghost),
              (long long)ad.observed(gc::DecodePath::dense), a_us, g_us, d_us, a_us / d_us, a_us / std::min(g_us, d_us),
              r.predicted_ratio(), last == gc::DecodePath::ghost ? "ghost" : "dense", ok ? ", checked" : ", FAILED: ",
              ok ? "" : why.c_str());
  if (!o.adaptive_csv.empty()) {
    const bool fresh = file_empty(o.adaptive_csv);
    FILE* f = std::fopen(o.adaptive_csv.c_str(), "a");
    GKV_CHECK(f, "gpu_bench: cannot open --adaptive-csv ", o.adaptive_csv);
    if (fresh)
      std::fprintf(f, "device,commit,case,label,surv_frac,steps,ghost_steps,dense_steps,observed_ghost,observed_dense,"
                      "adaptive_us,ghost_loop_us,dense_loop_us,ghost_ms,dense_ms,predicted_ratio,last_path,check,"
                      "observe_every,max_lag,probe_budget\n");
    std::fprintf(f, "%s,%s,%s,%s,%.6f,%d,%d,%d,%lld,%lld,%.3f,%.3f,%.3f,%.5f,%.5f,%.4f,%s,%s,%lld,%lld,%g\n", o.device.c_str(),
                 o.commit.c_str(), o.name.c_str(), label.c_str(), frac, N, n_ghost, N - n_ghost,
                 (long long)ad.observed(gc::DecodePath::ghost), (long long)ad.observed(gc::DecodePath::dense), a_us, g_us,
                 d_us, ghost_ms, dense_ms, r.predicted_ratio(), last == gc::DecodePath::ghost ? "ghost" : "dense",
                 ok ? "ok" : "FAILED", (long long)o.adaptive_opts.observe_every, (long long)o.adaptive_opts.max_lag,
                 o.adaptive_opts.probe_budget);
    std::fclose(f);
  }
  return ok;
}

// --adaptive-phases: one decoder through the forced fractions in turn (the options' comment above). Returns whether the
// decoder's last step passed its check (against a ghost or a dense run of the last phase).
bool adaptive_phase_loops(Timer& tm, const Opts& o, const Host& h, Gpu& d) {
  const int N = o.adaptive_steps, P = int(o.adaptive_phases.size());  // N ≥ 64: checked with the options
  std::vector<gc::DecodeParams> ps;
  for (const double f : o.adaptive_phases) {
    gc::DecodeParams pr = d.p;
    pr.forced_keep = float(f);
    if (o.anchors) {  // as the rows: pages kept with probability min(1, 4f), tokens within them f/that
      pr.forced_page_keep = float(std::min(1.0, 4 * f));
      pr.forced_keep = float(f / pr.forced_page_keep);
    }
    if (!o.splits) {  // the split count of this phase's survivors (a caller's: the previous step's counts)
      gc::ghost_stage1(pr, nullptr);
      CK(cudaDeviceSynchronize());
      const std::vector<int32_t> cnt = kv_counts(d, &gc::Workspace::n_surv);
      int64_t tot = 0;
      for (int32_t x : cnt) tot += x;
      pr.splits = gc::ghost_splits(h.B, h.Hkv, tot / int64_t(cnt.size()), *std::max_element(cnt.begin(), cnt.end()));
    }
    ps.push_back(pr);
  }
  auto flush = [&] {
    CK(cudaMemsetAsync(tm.flush.p, 1, tm.flush.n, tm.st));
    gc::read_through(tm.flush.p, int64_t(tm.flush.n), tm.st);
  };
  std::vector<cudaEvent_t> ev(size_t(P) + 1);
  for (auto& e : ev) CK(cudaEventCreate(&e));
  // times per step of each phase's steps (ev[i] .. ev[i + 1]), the loops one after the other from one flush
  auto phases_us = [&](auto&& one) {
    flush();
    CK(cudaEventRecord(ev[0], tm.st));
    for (int i = 0; i < P; ++i) {
      for (int k = 0; k < N; ++k) one(i);
      CK(cudaEventRecord(ev[size_t(i) + 1], tm.st));
    }
    CK(cudaEventSynchronize(ev[size_t(P)]));
    std::vector<double> us(static_cast<size_t>(P));
    for (int i = 0; i < P; ++i) {
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, ev[size_t(i)], ev[size_t(i) + 1]));
      us[size_t(i)] = 1e3 * double(ms) / N;
    }
    return us;
  };
  const std::vector<double> g_us = phases_us([&](int i) { gc::ghost_decode(ps[size_t(i)], tm.st); });
  std::vector<gc::DecodeParams> pds = ps;  // the dense loop without certificates
  for (auto& p : pds) p.cert = nullptr;
  const std::vector<double> d_us = phases_us([&](int i) { gc::dense_decode(pds[size_t(i)], tm.st); });
  gc::AdaptiveDecoder ad(ps[0], o.adaptive_opts);
  std::vector<int> path_of;  // 0 ghost, 1 dense
  CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));
  const std::vector<double> a_us =
      phases_us([&](int i) { path_of.push_back(ad.step(ps[size_t(i)], tm.st) == gc::DecodePath::ghost ? 0 : 1); });
  for (auto& e : ev) CK(cudaEventDestroy(e));
  // the last step's check: its outputs against the same step run alone on its path (dense bitwise, with every
  // certificate exact; ghost within 1e-5: the survivors' order within a KV head is not fixed)
  const std::vector<float> out = d.out.get();
  const std::vector<gc::Certificate> cert = d.cert.get();
  const bool last_ghost = path_of.back() == 0;
  if (last_ghost) {
    gc::ghost_decode(ps.back(), tm.st);
  } else {
    gc::DecodeParams pd = ps.back();
    pd.splits = gc::dense_step_splits(pd);
    gc::dense_decode(pd, tm.st);
  }
  CK(cudaStreamSynchronize(tm.st));
  const std::vector<float> ref = d.out.get();
  std::string why;
  if (last_ghost) {
    const double rel = rerun_rel_err(out, ref);
    if (!(rel <= 1e-5)) why = "outputs " + std::to_string(rel) + " from a ghost run's";
  } else if (std::memcmp(ref.data(), out.data(), out.size() * 4) != 0) {
    why = "outputs not bitwise a dense run's";
  } else {
    why = dense_cert_mismatch(h, cert);
  }
  const bool ok = why.empty();
  std::printf("# adaptive phases (%d steps each; observe every %lld, lag %lld, reset_on_flip %d, probe_budget %g): %lld "
              "resets; last step %s%s%s\n",
              N, (long long)o.adaptive_opts.observe_every, (long long)o.adaptive_opts.max_lag, int(o.adaptive_opts.reset_on_flip),
              o.adaptive_opts.probe_budget, (long long)ad.rule().resets(), last_ghost ? "ghost" : "dense", ok ? ", checked" : ", FAILED: ", why.c_str());
  FILE* csv = nullptr;
  if (!o.adaptive_phases_csv.empty()) {
    const bool fresh = file_empty(o.adaptive_phases_csv);
    csv = std::fopen(o.adaptive_phases_csv.c_str(), "a");
    GKV_CHECK(csv, "gpu_bench: cannot open --adaptive-phases-csv ", o.adaptive_phases_csv);
    if (fresh)
      std::fprintf(csv, "device,commit,case,phase,forced_frac,steps,ghost_steps,dense_steps,adaptive_us,ghost_loop_us,"
                        "dense_loop_us,better,settled_at,runs,observe_every,max_lag,reset_on_flip,check,probe_budget\n");
  }
  for (int i = 0; i < P; ++i) {
    const int b0 = i * N;
    int g = 0;
    std::string runs;  // run-length: g12d188 ...
    for (int k = 0; k < N;) {
      const int pth = path_of[size_t(b0 + k)];
      int len = 0;
      while (k < N && path_of[size_t(b0 + k)] == pth) ++k, ++len;
      runs += pth ? 'd' : 'g';
      runs += std::to_string(len);
      if (!pth) g += len;
    }
    const bool dense_better = d_us[size_t(i)] < g_us[size_t(i)];
    const int at = gc::settled_step(path_of, b0, b0 + N, dense_better), settled = at < 0 ? -1 : at - b0;  // within the phase
    std::printf("# phase %d forced %.4f: ghost %d, dense %d; us per step: adaptive %.2f, ghost path %.2f, dense %.2f "
                "(adaptive / the better %.3f); better %s, settled at step %d; runs %s\n",
                i, o.adaptive_phases[size_t(i)], g, N - g, a_us[size_t(i)], g_us[size_t(i)], d_us[size_t(i)],
                a_us[size_t(i)] / std::min(g_us[size_t(i)], d_us[size_t(i)]), dense_better ? "dense" : "ghost", settled,
                runs.c_str());
    if (csv)
      std::fprintf(csv, "%s,%s,%s,%d,%.6f,%d,%d,%d,%.3f,%.3f,%.3f,%s,%d,%s,%lld,%lld,%d,%s,%g\n", o.device.c_str(),
                   o.commit.c_str(), o.name.c_str(), i, o.adaptive_phases[size_t(i)], N, g, N - g, a_us[size_t(i)],
                   g_us[size_t(i)], d_us[size_t(i)], dense_better ? "dense" : "ghost", settled, runs.c_str(),
                   (long long)o.adaptive_opts.observe_every, (long long)o.adaptive_opts.max_lag,
                   int(o.adaptive_opts.reset_on_flip), ok ? "ok" : "FAILED", o.adaptive_opts.probe_budget);
  }
  if (csv) std::fclose(csv);
  return ok;
}

// Everything after the host data is built, on the current device `dev`: the checks, and unless
// --check-only the timings, CSV rows and the ghost tier. Returns 0 or 1 (a check failed).
int run_on_device(const Opts& o, Host& h, int dev) {
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  std::printf("# device %d: %s, %d SMs, L2 %d MB; case %s\n", dev, prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20,
              o.name.c_str());
  Gpu d;
  setup_gpu(h, o, d);
  if (o.cut_split) {
    const int sc = gc::scan_split_chunks(d.p);
    if (sc) {
      std::printf("# cut: split over %d scan blocks per KV head (--cut-split); %s\n", sc,
                  gc::scan_split_compacts(d.p) ? "each block compacts its own pages (no compact kernel)"
                                               : "the compact kernel after the scan (GHOSTKV_SPLIT_COMPACT=0)");
      if (const char* e = std::getenv("GHOSTKV_SPLIT_COMPACT")) std::printf("# GHOSTKV_SPLIT_COMPACT=%s\n", e);
    } else {
      std::printf("# cut: one per KV head (--cut-split asked; this step's scan does not take the split cut)\n");
    }
  }
  if (o.profile >= 0) {
    gc::DecodeParams pr = d.p;
    pr.forced_keep = float(o.profile);
    if (o.anchors) {
      pr.forced_page_keep = float(std::min(1.0, 4 * o.profile));
      pr.forced_keep = float(o.profile / pr.forced_page_keep);
    }
    gc::ghost_decode(pr, nullptr);
    gc::DecodeParams pd = d.p;
    pd.cert = nullptr;  // the dense path as timed
    gc::dense_decode(pd, nullptr);
    CK(cudaDeviceSynchronize());
    std::printf("# profile run: ghost path (forced %.3f) and dense, once each; %lld survivors\n", o.profile,
                (long long)surv_total(d));
    return 0;
  }
  Timer tm(o.reps, o.flush_clean, o.eager);
  std::printf("# L2 flush before each timed run: 256 MB memset%s\n",
              o.flush_clean ? ", then a read of the same 256 MB (clean lines: no write-back inside the timed region)" : "");
  if (!o.check_only) {
    const auto lc = tm.launch_cost_ms();
    std::printf("# timing: %s; a tiny kernel (16 bytes) takes %.4f ms as a graph, %.4f ms launched directly\n",
                o.eager ? "each run's kernels launched directly on the stream (--timing eager)" : "each run a CUDA graph replay",
                lc.first, lc.second);
  }
  int failures = 0;

  // copy bandwidth (bytes read + written)
  double copy_gbps = 0;
  if (!o.check_only) {
    Dev<uint8_t> a(size_t(1) << 30), b(size_t(1) << 30);
    CK(cudaMemset(a.p, 1, a.n));
    const double ms = tm.median_ms([&] { CK(cudaMemcpyAsync(b.p, a.p, a.n, cudaMemcpyDeviceToDevice, tm.st)); });
    copy_gbps = 2.0 * double(a.n) / (ms * 1e-3) / 1e9;
  }

  // dense baseline: check against float64 full attention (poisoned output and certificates first), its certificates
  // exact; timed without them (dense_base), as before dense_decode wrote them
  double dense_err = 0;
  gc::DecodeParams dense_base = d.p;
  dense_base.cert = nullptr;
  {
    gc::DecodeParams pd = d.p;
    CK(cudaMemset(d.out.p, 0xFF, d.out.n * 4));
    CK(cudaMemset(d.cert.p, 0xFF, d.cert.n * sizeof(gc::Certificate)));
    gc::dense_decode(pd, nullptr);
    CK(cudaDeviceSynchronize());
    const std::vector<float> out = d.out.get();
    const std::string cert_why = dense_cert_mismatch(h, d.cert.get());
    if (!cert_why.empty()) {
      std::printf("# dense certificates FAILED: %s\n", cert_why.c_str());
      failures++;
    }
    for (int b : h.checked)
      for (int g = 0; g < h.Hkv; ++g) {
        std::vector<float> kf, vf;
        h.gather(b, g, kf, vf);
        const int n = h.seq_len[size_t(b)];
        for (int hh = 0; hh < h.G; ++hh) {
          const int bq = b * h.Hq + g * h.G + hh;
          std::vector<double> s(static_cast<size_t>(n));
          double m = -INFINITY, z = 0;
          for (int t = 0; t < n; ++t) {
            double a = 0;
            for (int i = 0; i < g_d; ++i) a += h.scale * double(h.q[size_t(bq) * g_d + i]) * kf[size_t(t) * g_d + i];
            s[size_t(t)] = a;
            m = std::max(m, a);
          }
          std::vector<double> of(g_d, 0);
          for (int t = 0; t < n; ++t) {
            const double e = std::exp(s[size_t(t)] - m);
            z += e;
            for (int i = 0; i < g_d; ++i) of[size_t(i)] += e * vf[size_t(t) * g_d + i];
          }
          double e2 = 0, r2 = 0;
          for (int i = 0; i < g_d; ++i) {
            const double r = of[size_t(i)] / z, gq = out[size_t(bq) * g_d + i];
            e2 += (gq - r) * (gq - r);
            r2 += r * r;
          }
          dense_err = std::max(dense_err, std::isfinite(e2) ? std::sqrt(e2 / r2) : INFINITY);
        }
      }
    for (float x : out)
      if (!std::isfinite(x)) { dense_err = INFINITY; break; }
    if (!(dense_err <= 1e-3)) failures++;
  }
  cudaGraphExec_t g_dense = nullptr;
  double dense_ms = 0;
  if (!o.check_only) {
    g_dense = tm.graph([&](cudaStream_t s) { gc::dense_decode(dense_base, s); });
    dense_ms = tm.graph_ms(g_dense);
  }

  // heads: per-(batch entry, KV head) forced fractions, entry i taking heads[i mod size] (--extra label=f0/f1/…)
  struct Row { std::string label; double frac_req; std::vector<double> heads = {}; };
  std::vector<Row> rows;  // forced first: the smallest forced fraction calibrates the adaptive rule
  std::vector<double> fr_sorted = o.fracs;
  std::sort(fr_sorted.begin(), fr_sorted.end());
  for (double f : fr_sorted) rows.push_back({"forced", f});
  rows.push_back({"certified", -1});
  for (const std::string& e : o.extra_labels) {
    const auto kv = split(e, '=');
    GKV_CHECK(kv.size() == 2, "gpu_bench --extra: label=fraction or label=f0/f1/... (per KV head), got ", e);
    std::vector<double> heads;
    for (const std::string& x : split(kv[1], '/')) {
      heads.push_back(std::stod(x));
      GKV_CHECK(heads.back() >= 0 && heads.back() <= 1, "gpu_bench --extra ", kv[0], ": fractions in [0, 1], got ", x);
    }
    if (heads.size() == 1) {
      rows.push_back({kv[0], heads[0]});
      continue;
    }
    GKV_CHECK(!o.anchors, "gpu_bench --extra ", kv[0], ": per-KV-head fractions need a step without anchors");
    double mean = 0;  // the fraction of the candidates kept on average (every entry has the same candidates here)
    for (int i = 0; i < h.B * h.Hkv; ++i) mean += heads[size_t(i) % heads.size()];
    rows.push_back({kv[0], mean / (h.B * h.Hkv), heads});
  }
  if (o.tier_only) rows.clear();  // the ghost tier alone (its own process: a failure there loses nothing else)
  const bool new_csv = !o.check_only && !o.csv.empty() && file_empty(o.csv);
  FILE* csv = o.check_only || o.csv.empty() ? nullptr : std::fopen(o.csv.c_str(), "a");
  if (new_csv)
    std::fprintf(csv,
                 "device,commit,case,batch,n_kv,n_head_q,n_head_kv,bits,delta,label,surv_frac,stage1_ms,stage2_ms,"
                 "ghost_ms,dense_ms,adaptive_ms,adaptive_path,stage1_bytes,stage2_bytes,dense_bytes,copy_gbps,"
                 "stage1_vs_floor,stage2_vs_floor,ghost_vs_floor,dense_vs_floor,speedup_vs_dense,violations,"
                 "rule_fail,cert_fail,num_fail,nonfinite,max_mass_bound,max_mass_lost,max_num_err,dense_rel_err,"
                 "mean_bound_gap,anchors,pages_read_frac,splits,head_fracs,balanced,cut_blocks\n");
  std::printf("%-12s %8s %6s %9s %9s %9s %9s %9s %6s %6s %6s %5s %5s %9s %9s %6s\n", "label", "surv", "pages", "stage1", "stage2", "ghost",
              "dense", "adaptive", "s1/fl", "s2/fl", "gh/fl", "viol", "fail", "mass_bnd", "num_err", "splits");
  double stage2_fixed_ms = -1;  // calibration of the adaptive rule (first row)
  // dense runs with its own (one-wave) split count in every row (until ef3ee59 the row's was counted)
  const double dense_bytes = bytes_model(h, d.p, 0).dense;
  for (const Row& r : rows) {
    gc::DecodeParams pr = d.p;
    const bool forced = r.frac_req >= 0;
    pr.forced_keep = forced ? float(r.frac_req) : -1.0f;
    Dev<float> keep_bg;  // the row's per-head fractions, if any
    if (!r.heads.empty()) {
      std::vector<float> kb(size_t(h.B) * h.Hkv);
      for (size_t i = 0; i < kb.size(); ++i) kb[i] = float(r.heads[i % r.heads.size()]);
      keep_bg = Dev<float>(kb);
      pr.forced_keep_bg = keep_bg.p;
    }
    if (forced && o.anchors) {  // forced anchors: pages kept with probability min(1, 4f), tokens within them f/that
      pr.forced_page_keep = float(std::min(1.0, 4 * r.frac_req));
      pr.forced_keep = float(r.frac_req / pr.forced_page_keep);
    }
    // the split count and the balanced builds this step's survivors call for (at run time: the previous step's), or
    // as --splits / --balance say; one stage 1 gives the counts for both (they do not depend on either)
    const bool auto_balance = o.balance < 0;
    std::vector<int32_t> cnt;  // the counts, read once for both
    if (!o.splits || (auto_balance && gc::balance_allowed(pr))) {  // pr.splits is o.splits where given
      gc::ghost_stage1(pr, nullptr);
      CK(cudaDeviceSynchronize());
      cnt = kv_counts(d, &gc::Workspace::n_surv);
    }
    if (!o.splits) {
      int64_t tot = 0;
      for (int32_t x : cnt) tot += x;
      pr.splits = gc::ghost_splits(h.B, h.Hkv, tot / int64_t(cnt.size()), *std::max_element(cnt.begin(), cnt.end()));
    }
    pr.balance = o.balance == 1;
    if (auto_balance && gc::balance_allowed(pr)) {
      std::vector<int32_t> sh(cnt.size());
      pr.balance = gc::balanced_splits(cnt.data(), int(cnt.size()), pr.splits, gc::kAttendTileRows, sh.data());
    }
    std::string shown_label = r.label;  // printed: forced rows with their percentage
    if (forced) shown_label.append(":").append(std::to_string(int(std::lround(r.frac_req * 100))));
    std::string csv_label = r.label;  // CSV: forced rows with their fraction
    if (forced && r.label == "forced") csv_label.append(":").append(std::to_string(r.frac_req));
    const gc::DecodeParams saved = d.p;
    d.p = pr;
    const Check c = run_and_check(h, d, o, forced);
    const std::vector<float> out_checked = d.out.get();  // the timed replays below must give these outputs too
    const int64_t ns = surv_total(d), npr = pages_read_total(d);
    const HeadFracs hf = head_fracs(h, d, pr);
    d.p = saved;
    if (gc::balance_allowed(pr))
      std::printf("  heads (survivor fraction per batch entry and KV head): %s; balanced splits %s (most tiles per attend block %d, balanced %d)\n",
                  h.B * h.Hkv <= kHeadFracsShown ? hf.fracs.c_str() : hf.range.c_str(), hf.balanced ? "taken" : "not taken",
                  hf.tiles_even, hf.tiles_bal);
    if (o.check_only) {  // one replay of the step as the timed path runs it (a CUDA graph), against the direct run
      const std::vector<float> out_direct = d.out.get();
      CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));  // on the graph's stream (non-blocking): ordered before it
      cudaGraphExec_t g = tm.graph([&](cudaStream_t s) { gc::ghost_decode(pr, s); });
      CK(cudaGraphLaunch(g, tm.st));
      CK(cudaStreamSynchronize(tm.st));
      CK(tm.destroy(g));
      // survivor order (so the split-K partition) may differ: compare to rounding
      const double rel = rerun_rel_err(d.out.get(), out_direct);
      const bool bad = c.violations || c.rule_fail || c.cert_fail || c.num_fail || c.nonfinite || !(rel <= 1e-5);
      print_build_agreement(c);
      failures += bad;
      std::printf("%-12s surv %.4f viol %lld fail %lld mass_bnd %.2e num_err %.2e graph vs direct %.2e%s\n",
                  shown_label.c_str(), c.surv_frac(),
                  (long long)c.violations, (long long)(c.rule_fail + c.cert_fail + c.num_fail + c.nonfinite), c.max_mass_bound,
                  c.max_num_err, rel, bad ? "  FAILED" : "");
      continue;
    }
    auto g_all = tm.graph([&](cudaStream_t s) { gc::ghost_decode(pr, s); });
    auto g_s1 = tm.graph([&](cudaStream_t s) { gc::ghost_stage1(pr, s); });
    auto g_s2 = tm.graph([&](cudaStream_t s) { gc::ghost_stage2(pr, s); });
    // the outputs of the last timed replay of the step, and of stage 2 replayed alone after stage 1, against the checked
    // ones (rerun_rel_err)
    const auto replay_err = [&] { return rerun_rel_err(d.out.get(), out_checked); };
    CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));  // poisoned: the replays must write every output
    const double ghost_ms = tm.graph_ms(g_all);
    const double rel_all = replay_err();
    CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));
    const double s1_ms = tm.graph_ms(g_s1), s2_ms = tm.graph_ms(g_s2);
    const double rel_s2 = replay_err();
    tm.destroy(g_all); tm.destroy(g_s1); tm.destroy(g_s2);
    const bool replay_bad = !(rel_all <= 1e-5) || !(rel_s2 <= 1e-5);
    if (replay_bad)
      std::printf("  FAILED: timed replays' outputs against the checked ones: step %.2e, stage 2 alone %.2e\n", rel_all, rel_s2);
    if (o.scan_timeline) print_scan_timeline(o.name, r.label + ":" + std::to_string(r.frac_req), o.scan_timeline_csv);
    if (std::getenv("GHOSTKV_SPLIT_TL") && gc::scan_split_compacts(pr))
      print_split_timeline(o.name, r.label + ":" + std::to_string(r.frac_req), o.split_timeline_csv);
    if (o.compact_timeline)
      print_compact_timeline(o.name, r.label + ":" + std::to_string(r.frac_req), o.compact_timeline_csv);
    if (o.breakdown) {  // marginal cost of each kernel inside the chained graph; the bare gather of the rows
      std::string line = "# breakdown " + r.label + ":" + std::to_string(r.frac_req) + " stage1 prefixes ms:";
      const int n1 = gc::ghost_stage1_kernels(pr);
      for (int k = 1; k <= n1; ++k) {
        auto g = tm.graph([&](cudaStream_t s) { gc::ghost_stage_prefix(pr, s, 1, k); });
        line.append(" ").append(std::to_string(tm.graph_ms(g)));
        tm.destroy(g);
      }
      gc::ghost_stage1(pr, tm.st);  // the survivor list again, for the gather
      CK(cudaStreamSynchronize(tm.st));
      auto ga = tm.graph([&](cudaStream_t s) { gc::ghost_stage_prefix(pr, s, 2, 1); });
      line += "; attend only ms: " + std::to_string(tm.graph_ms(ga));
      tm.destroy(ga);
      const int n_modes = pr.rank == 0 && pr.codes && pr.meta ? 9 : 5;  // 5-8: the quant witness's pages
      for (int mode = 0; mode < n_modes; ++mode) {
        auto gg = tm.graph([&](cudaStream_t s) { gc::gather_probe(pr, s, mode); });
        const double ms = tm.graph_ms(gg);
        tm.destroy(gg);
        double rows = 0, pages = 0;
        if (mode == 0 || mode == 4) rows = double(ns);
        else for (int b = 0; b < h.B; ++b) rows += double(h.Hkv) * h.seq_len[size_t(b)];
        for (int b = 0; b < h.B; ++b) pages += double(h.Hkv) * ((h.seq_len[size_t(b)] + 63) / 64);
        // modes 0, 1, 4: a K and a V row (2·d bf16) per row; modes 2, 3: G f16 bounds per token; 5-8: a page's
        // codes (64 tokens' witness_code_bytes) and, but for 6, its meta (f16 h_j and err_j: 4·d bytes)
        const double page_codes = 64.0 * gc::witness_code_bytes(h.k8, g_d);
        const double bytes = mode == 2 || mode == 3 ? rows * 2.0 * (h.Hq / h.Hkv)
                             : mode >= 5            ? pages * (page_codes + (mode == 6 ? 0.0 : 4.0 * g_d))
                                                    : rows * 4 * g_d;
        const double gbps = bytes / (ms * 1e-3) / 1e9;
        static const char* kName[9] = {"; gather survivor rows ms: ", "; gather all rows ms: ", "; read bounds ms: ",
                                       "; stream bounds ms: ", "; gather survivor rows as K|V pieces ms: ",
                                       "; stream witness pages (bulk, evict-first) ms: ",
                                       "; stream witness codes only (bulk, evict-first) ms: ",
                                       "; stream witness pages (lanes, ldcs) ms: ",
                                       "; stream witness pages (bulk, evict-normal) ms: "};
        line += std::string(kName[mode]) + std::to_string(ms) + " (" + std::to_string(gbps) + " GB/s, " +
                std::to_string(gbps / copy_gbps) + " of copy)";
      }
      std::printf("%s\n", line.c_str());
    }
    if (stage2_fixed_ms < 0) {
      stage2_fixed_ms = std::max(0.0, s2_ms - c.surv_frac() * dense_ms);
    }
    Bytes by = bytes_model(h, pr, ns, npr);
    by.dense = dense_bytes;
    double all_pages = 0;
    for (int b = 0; b < h.B; ++b) all_pages += double(h.Hkv) * ((h.seq_len[size_t(b)] + 63) / 64);
    const double pages_frac = npr < 0 ? 1.0 : double(npr) / all_pages;
    const double floor_s1 = by.stage1 / (copy_gbps * 1e9) * 1e3, floor_s2 = by.stage2 / (copy_gbps * 1e9) * 1e3;
    const double floor_d = by.dense / (copy_gbps * 1e9) * 1e3;
    // adaptive: the ghost path when its predicted cost beats dense by 5% (the CPU rule's margin). The
    // prediction is the larger of the model (observed stage 1 + the fixed part of stage 2, calibrated on
    // the first row, + f × dense) and the observed ghost step (as the CPU rule takes the larger of its
    // bytes ratio and the observed time ratio). At run time f and the times are the previous steps'
    // (stage 1 varies with the pages the anchors let through); here they are this configuration's.
    const double f = c.surv_frac();
    const double predicted = std::max(s1_ms + stage2_fixed_ms + f * dense_ms, ghost_ms);
    const bool use_ghost = predicted * 1.05 < dense_ms;
    const double adaptive_ms = use_ghost ? ghost_ms : dense_ms;
    const bool adaptive_bad = o.adaptive_steps > 0 && !adaptive_loops(tm, o, h, d, pr, csv_label, f, out_checked, ghost_ms,
                                                                       dense_ms);
    const bool bad = c.violations || c.rule_fail || c.cert_fail || c.num_fail || c.nonfinite || replay_bad || adaptive_bad;
    print_build_agreement(c);
    failures += bad;
    std::printf("%-12s %8.4f %6.3f %9.4f %9.4f %9.4f %9.4f %9.4f %6.2f %6.2f %6.2f %5lld %5lld %9.2e %9.2e %6d\n",
                shown_label.c_str(), f, pages_frac, s1_ms, s2_ms,
                ghost_ms, dense_ms, adaptive_ms, s1_ms / floor_s1, s2_ms / floor_s2, ghost_ms / (floor_s1 + floor_s2),
                (long long)c.violations, (long long)(c.rule_fail + c.cert_fail + c.num_fail + c.nonfinite), c.max_mass_bound,
                c.max_num_err, pr.splits);
    if (csv)
      std::fprintf(csv,
                   "%s,%s,%s,%d,%d,%d,%d,%s,%g,%s,%.6f,%.5f,%.5f,%.5f,%.5f,%.5f,%s,%.0f,%.0f,%.0f,%.1f,%.3f,%.3f,%.3f,%.3f,"
                   "%.3f,%lld,%lld,%lld,%lld,%lld,%.3e,%.3e,%.3e,%.3e,%.3e,%d,%.5f,%d,%s,%d,%d\n",
                   o.device.c_str(), o.commit.c_str(), o.name.c_str(), h.B, h.max_seq, h.Hq, h.Hkv, h.spec_csv().c_str(), o.delta,
                   csv_label.c_str(), f, s1_ms,
                   s2_ms, ghost_ms, dense_ms, adaptive_ms, use_ghost ? "ghost" : "dense", by.stage1, by.stage2, by.dense,
                   copy_gbps, s1_ms / floor_s1, s2_ms / floor_s2, ghost_ms / (floor_s1 + floor_s2), dense_ms / floor_d,
                   dense_ms / ghost_ms, (long long)c.violations, (long long)c.rule_fail, (long long)c.cert_fail,
                   (long long)c.num_fail, (long long)c.nonfinite, c.max_mass_bound, c.max_mass_lost, c.max_num_err,
                   dense_err, c.mean_gap, int(o.anchors), pages_frac, pr.splits,
                   h.B * h.Hkv <= kHeadFracsShown ? hf.fracs.c_str() : "", int(hf.balanced), gc::scan_split_chunks(pr));
  }
  if (!o.check_only)
    std::printf("# dense: %.4f ms, %.1f GB/s of %.1f GB/s copy; dense rel err %.2e; candidates checked in %zu batch entries\n",
              dense_ms, dense_bytes / (dense_ms * 1e-3) / 1e9, copy_gbps, dense_err, h.checked.size());
  if (csv) std::fclose(csv);
  if (!o.check_only && !o.adaptive_phases.empty()) failures += !adaptive_phase_loops(tm, o, h, d);

  // ghost tier: K, V of every token in host pinned memory (zero-copy); survivors fetched over PCIe
  if (o.ghost_tier && !o.check_only) {
    const size_t kv_bytes = h.k.size() * 2;
    uint16_t *hk = nullptr, *hv = nullptr;
    CK(cudaHostAlloc(reinterpret_cast<void**>(&hk), kv_bytes, cudaHostAllocMapped));
    CK(cudaHostAlloc(reinterpret_cast<void**>(&hv), kv_bytes, cudaHostAllocMapped));
    std::memcpy(hk, h.k.data(), kv_bytes);
    std::memcpy(hv, h.v.data(), kv_bytes);
    uint16_t *dk = nullptr, *dv = nullptr;
    CK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dk), hk, 0));
    CK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dv), hv, 0));
    FILE* tc = o.tier_csv.empty() ? nullptr : std::fopen(o.tier_csv.c_str(), "a");
    if (tc && file_empty(o.tier_csv))
      std::fprintf(tc, "device,commit,case,surv_frac,zero_copy_ms,zero_copy_bytes,move_tier_ms,move_bytes,h2d_gbps\n");
    // moving the whole tier: H2D copy of K and V, then dense attention from HBM
    const double move_ms = tm.median_ms([&] {
      CK(cudaMemcpyAsync(d.k.p, hk, kv_bytes, cudaMemcpyHostToDevice, tm.st));
      CK(cudaMemcpyAsync(d.v.p, hv, kv_bytes, cudaMemcpyHostToDevice, tm.st));
      CK(cudaGraphLaunch(g_dense, tm.st));
    });
    const double h2d_ms = tm.median_ms([&] { CK(cudaMemcpyAsync(d.k.p, hk, kv_bytes, cudaMemcpyHostToDevice, tm.st)); });
    const double h2d_gbps = double(kv_bytes) / (h2d_ms * 1e-3) / 1e9;
    std::printf("# ghost tier: move whole tier + dense %.3f ms (%.1f GB/s H2D)\n", move_ms, h2d_gbps);
    std::printf("%-10s %10s %12s\n", "surv_frac", "zc_ms", "vs_move");
    for (double fr : o.fracs) {
      gc::DecodeParams pr = d.p;
      pr.forced_keep = float(fr);
      gc::ghost_stage1(pr, nullptr);  // survivor list (records in HBM)
      CK(cudaDeviceSynchronize());
      const int64_t ns = surv_total(d);
      gc::DecodeParams ph = pr;
      ph.k_cache = dk;
      ph.v_cache = dv;
      CK(cudaMemsetAsync(d.out.p, 0xFF, d.out.n * 4, tm.st));  // on the timed stream (non-blocking): ordered before it
      auto g1 = tm.graph([&](cudaStream_t s) { gc::ghost_stage1(pr, s); });
      auto g2 = tm.graph([&](cudaStream_t s) { gc::ghost_stage2(ph, s); });
      const double ms = tm.median_ms([&] { CK(cudaGraphLaunch(g1, tm.st)); CK(cudaGraphLaunch(g2, tm.st)); });
      // the zero-copy output must equal the HBM output (same survivors, same kernels)
      CK(cudaGraphLaunch(g1, tm.st));
      CK(cudaGraphLaunch(g2, tm.st));
      CK(cudaStreamSynchronize(tm.st));
      const std::vector<float> out_zc = d.out.get();
      gc::ghost_decode(pr, nullptr);
      CK(cudaDeviceSynchronize());
      const std::vector<float> out_hbm = d.out.get();
      // survivor order (and so the split-K partition) differs between runs: compare to rounding
      double e2 = 0, r2 = 0;
      for (size_t i = 0; i < out_zc.size(); ++i) {
        e2 += double(out_zc[i] - out_hbm[i]) * double(out_zc[i] - out_hbm[i]);
        r2 += double(out_hbm[i]) * double(out_hbm[i]);
      }
      const bool same = std::sqrt(e2 / r2) <= 1e-5;
      if (!same) failures++;
      tm.destroy(g1);
      tm.destroy(g2);
      std::printf("%-10.4f %10.4f %12.3f %s\n", fr, ms, ms / move_ms, same ? "" : "MISMATCH");
      if (tc)
        std::fprintf(tc, "%s,%s,%s,%.4f,%.5f,%.0f,%.5f,%.0f,%.2f\n", o.device.c_str(), o.commit.c_str(), o.name.c_str(), fr, ms,
                     double(ns) * 2 * g_d * 2, move_ms, double(kv_bytes) * 2, h2d_gbps);
    }
    if (tc) std::fclose(tc);
    cudaFreeHost(hk);
    cudaFreeHost(hv);
  }
  if (g_dense) tm.destroy(g_dense);
  if (o.poison && !o.tier_only) failures += poison_checks(h, d) != 0;
  std::printf("# %s: %s\n", o.name.c_str(), failures ? "CHECK FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
}  // namespace
