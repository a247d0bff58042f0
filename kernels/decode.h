#pragma once
// GPU decode attention with certified elimination (DESIGN §2-§5) for one layer, batch ≥ 1.
// Plain C++ host API over raw device pointers (no CUDA types): kernels live in decode.cu.
//
// Memory layouts (device unless noted; one physical page = kPage tokens of one KV head):
//   k_cache, v_cache [n_phys, n_head_kv, kPage, d]  bf16 (raw bits)
//   codes            [n_phys, n_head_kv, kPage·witness_code_bytes]  rotated quantised keys (witness
//                    "quant": 8 bits on the first 32·k8 components, 4 on the rest, k8 = witness_k8;
//                    LSB-first as QuantRecords; one scale group = one page), each page's bytes
//                    permuted into tensor-core fragment order: code byte `byte` of token `t` of the
//                    page lives at witness_page_offset(k8, d, t, byte)
//                    d (= d_head) is 64 or 128; G = n_head_q / n_head_kv is 1..4
//   meta             [n_phys, n_head_kv, 2, d]  f16: half-step h_j, then err_j (rounded up)
//   nu_max           [n_phys, n_head_kv]        f32 ≥ max ||v_t|| over the page (rounded up)
//   sketch (rank 16) [n_phys, n_head_kv, kPage, 16] f16 ẑ_t: the first 16 rotated components of k_t − μ
//                    (the low-rank witness, DESIGN §4.1 with P = the leading rows of rot: used instead of
//                    codes/meta when DecodeParams::rank = 16); sk_rho, sk_err [n_phys, n_head_kv, kPage]
//                    f16, rounded up: ρ_t ≥ ||trailing d − 16 rotated components||, e_t ≥ ||c_t,<16 − ẑ_t||
//   box (optional)   [n_phys, n_head_kv, 2, d]  u8 page anchor: min, then max, of each component's
//                    code over the page's tokens, component j at box_offset(k8, j) of each half;
//                    with the low-rank witness (rank 16) instead [n_phys, n_head_kv, kLrBoxHalfs] f16:
//                    the min of ẑ_tj over the page's tokens for j < 16, then the max, then max e_t, max
//                    ρ_t, then zeros (80 bytes: one bulk copy)
//   page_table       [batch, max_pages] int32 physical page of each logical page; seq_len [batch]
//   rot              [n_head_kv, d, d] f32 rows of the rotation V (16-byte aligned, as k_cache and
//                    v_cache; codes, meta, box, sketch, sk_rho and sk_err too: validate() rejects others);
//                    mu [n_head_kv, d];
//   Every page-table entry of a page inside its sequence must be a physical page of these arrays: that
//   is not checked on the device, and a negative or out-of-range entry is a contract violation in every
//   stage (reads out of bounds); the anchor stage at least never eliminates such a page on stale data.
//   resid_max        [n_head_kv] ≥ max ||x_t − Vᵀ c_t||;  k_norm_max [n_head_kv] ≥ max ||k_t||
//   q                [batch, n_head_q, d] f32, post-RoPE, UNSCALED
// Stages: prep (σq, Vσq, hot scores → m_L, Z_L), anchor (with a box: the page box bound over the
// codes, or over the sketches with the low-rank witness, UB_A ≥ σq·k_t for every token of the page,
// from the page's meta and box alone; a page whose
// UB_A − m_L is below θ_A for every head of the group is eliminated whole and its codes are never
// read: θ_A is the largest histogram edge with n_cand·e^{θ_A} ≤ anchor_share·budget, so the cut that
// follows is ≥ θ_A and the GQA rule eliminates every token of the page), scan (token bounds from exact integer dot products
// of the codes with the query split into two int8 planes per page, stored as f16 UB − m_L rounded
// up, + histogram), compact (the per-head certified cut of the mass policy, then the GQA rule: a
// token is eliminated iff every head of its group eliminates it; survivor list, M_E, ν), attend
// (split-K flash decoding over hot + survivors, tiles moved by the bulk-copy engine), merge (exact
// (m, l, o) merge and the certificate per query head; where a step has one split, attend writes the
// outputs and certificates itself and merge is not launched). All launches go to one stream, chained by
// programmatic dependent launch (GHOSTKV_NO_PDL=1 turns it off), and are graph-capturable.
// The workspace needs no initialisation: prep zeroes what the next stages accumulate.
#include <cstdint>
#include <initializer_list>

namespace ghostkv::cuda {

inline constexpr int kPage = 64;     // tokens per page (= quantisation group)
inline constexpr int kHistBins = 1024;  // histogram of UB − m_L over [kHistLo, 0), width 1/16
inline constexpr float kHistLo = -64.0f;
inline constexpr int kHistAll = kHistBins + 2;  // + underflow (< kHistLo) and overflow (≥ 0) bins
inline constexpr int kSketchRank = 16;  // components of the low-rank witness's sketch (DecodeParams::rank)
inline constexpr int kLrBoxHalfs = 40;  // f16 per (page, KV head) of the low-rank page anchor (box, above)
// The scan's closed form of a bound's bin (bin 0 below kHistLo, kHistBins + 1 at or above 0, else
// 1 + ⌊(v − kHistLo)·16⌋) for a bound v that is an f16 value: clamp(⌊v·kBinScale + kBinOffset⌋, 0,
// kHistBins + 1), with the FMA rounded down on the device (⌊RD(x)⌋ = ⌊x⌋: integers are floats).
inline constexpr float kBinScale = 16.0f;
inline constexpr float kBinOffset = 1.0f - kHistLo * kBinScale;

// Code widths: the first 32·k8 rotated components at 8 bits, the other d − 32·k8 at 4 bits (k8 = d/32:
// uniform int8; k8 = 0: uniform int4; in between: mixed, e.g. k8 = 1 at d 128 is "8x32,4x96"), packed
// LSB-first as in a QuantRecords row (the 8-bit components are bytes 0..32·k8−1, then two 4-bit
// components per byte).
inline int witness_k8(int bits, int n8, int d) { return n8 >= 0 ? n8 / 32 : bits == 8 ? d / 32 : 0; }
inline int witness_code_bytes(int k8, int d) { return 32 * k8 + 16 * (d / 32 - k8); }

// Position of code byte `byte` (as in a QuantRecords row) of token t (0..kPage-1) inside its page:
// the page is read as B fragments of mma.m16n8k32 (8 tokens per n-tile, 32 code components per
// k-step), each lane's bytes of an n-tile contiguous (8 per 8-bit k-step, then 4 per 4-bit k-step),
// cut into chunks of 16, 8 or 4 bytes, consecutive lanes one chunk apart, so the scan loads them
// conflict-free. A 4-bit k-step is one 32-bit code word w per lane: its k-order is (w & 0x0f0f0f0f,
// (w >> 4) & 0x0f0f0f0f); the query planes use the same order.
inline int witness_lane_bytes(int k8, int d) { return 8 * k8 + 4 * (d / 32 - k8); }
inline int witness_chunk_bytes(int k8, int d) {
  const int bpl = witness_lane_bytes(k8, d);
  return bpl % 16 == 0 ? 16 : bpl % 8 == 0 ? 8 : 4;
}
inline int64_t witness_page_offset(int k8, int d, int t, int byte) {
  const int bpl = witness_lane_bytes(k8, d), cby = witness_chunk_bytes(k8, d), nc = bpl / cby;
  int lane, bi;
  if (byte < 32 * k8) {
    const int ks = byte / 32, j = (byte % 32) / 16, q = (byte % 16) / 4, e = byte % 4;
    lane = (t % 8) * 4 + q;
    bi = ks * 8 + j * 4 + e;
  } else {
    const int b4 = byte - 32 * k8, cw = b4 / 4, e = b4 % 4, ks = cw / 4, q = cw % 4;
    lane = (t % 8) * 4 + q;
    bi = 8 * k8 + ks * 4 + e;
  }
  return (int64_t(t / 8) * nc + bi / cby) * 32 * cby + int64_t(lane) * cby + bi % cby;
}

// Position of component j inside each half of a page's box: the order in which the page prep's lanes
// own components (lane ℓ < 8·k8: 4ℓ..4ℓ+3; lane ℓ ≥ 8·k8: the low or high nibbles of 4-bit code word
// (ℓ − 8·k8)/2, i.e. 32·k8 + 8·((ℓ − 8·k8)/2) + ℓ%2 + 2e), so a lane reads its 4 minima (maxima) as
// one 32-bit word.
inline int box_offset(int k8, int j) {
  if (j < 32 * k8) return j;
  const int j4 = j - 32 * k8, r = j4 % 8, lane = 8 * k8 + 2 * (j4 / 8) + (r & 1), e = r >> 1;
  return 4 * lane + e;
}

struct Certificate {    // per (batch, query head)
  double mass_bound;    // ≥ Σ_{t∈E} p_t
  double out_err_bound; // ≥ ||o − ô_exact||
  double m_E;           // Σ_{t∈E} e^{UB_t − m_L} (rounded up)
  double z_low;         // certified lower bound of Σ_{attended} e^{s_t − m_L}
  double budget;        // δ·Z_L/(1 − δ): the cut's (prep writes it on every ghost step, forced ones too; 0 on a dense step)
  float m_l, theta;     // reference max (hot scores) and the cut on UB − m_L
  float nu_e;           // ≥ max ||v_t|| over eliminated tokens (page maxima)
  int32_t n_attended;
  uint32_t flags;       // 0, or kCertNonFinite* bits: then mass_bound = 1 and out_err_bound = +inf
  uint32_t reserved;    // 0: no padding, so every byte of a certificate is written by the step
};
static_assert(sizeof(Certificate) == 64, "Certificate: 5 doubles, 6 four-byte fields, no padding");
// Certificate::flags: the head's query (after the softmax scale) or one of its hot tokens' scores is
// not finite (NaN or ±inf: a non-finite q or hot key), or the norm of its output, in float32 rounded up,
// is NaN or +inf (kCertNonFiniteOutput: a non-finite value row among the attended tokens, or values so
// large, ||ô|| ≳ 1.8e19 or rows near 1e35, that the norm or the attention's sums overflow; the output
// bound would be +inf then anyway). Nothing is certified for that head; its output is whatever the
// arithmetic gives (typically NaN).
inline constexpr uint32_t kCertNonFiniteQuery = 1u, kCertNonFiniteHot = 2u, kCertNonFiniteOutput = 4u;

struct DecodeParams {
  int batch = 1, n_head_q = 32, n_head_kv = 8, d = 128, bits = 8;
  int rank = 0;              // 16: the low-rank witness (sketch, sk_rho, sk_err) instead of codes/meta
  int n8 = -1;               // ≥ 0: mixed widths, the first n8 components (0, 32 or d) at 8 bits, the rest
                             // at 4 (bits is then ignored)
  int max_pages = 0;         // columns of page_table
  int n_sink = 4, n_recent = 64;
  int splits = 16;           // split-K blocks per (batch, KV head); default_splits() fills one wave
  float scale = 0;           // σ (as float; its rounding is in the slack)
  double scale64 = 0;
  double delta = 1e-3;       // mass policy δ
  float forced_keep = -1;    // ≥ 0: keep each candidate with this probability (forced survivor fraction)
  float anchor_share = 0.5f; // with a box: the share of the budget that whole-page elimination may use
  float forced_page_keep = -1;  // ≥ 0 (forced mode, with a box): keep each page without hot tokens with
                                // this probability; the tokens of the other pages are eliminated unread
  uint32_t forced_seed = 1;
  // inputs
  const uint16_t *k_cache = nullptr, *v_cache = nullptr;
  const uint8_t* codes = nullptr;
  const uint16_t* meta = nullptr;
  const float* nu_max = nullptr;
  const uint8_t* box = nullptr;  // page anchors (nullptr: no anchor stage, every page is scanned)
  const uint16_t *sketch = nullptr, *sk_rho = nullptr, *sk_err = nullptr;  // low-rank witness (rank > 0)
  const int32_t *page_table = nullptr, *seq_len = nullptr;
  const float *rot = nullptr, *mu = nullptr, *resid_max = nullptr, *k_norm_max = nullptr;
  const float* q = nullptr;
  // workspace (sizes: workspace_bytes) and outputs
  void* work = nullptr;
  int max_seq = 0;           // ≥ every seq_len
  float* out = nullptr;      // [batch, n_head_q, d]
  Certificate* cert = nullptr;  // [batch, n_head_q]
  // (added last: the kernels that do not read them keep their parameter offsets)
  const float* forced_keep_bg = nullptr;  // forced mode (forced_keep ≥ 0) without a box: B·Hkv probabilities on the
                                          // device, sequence b's KV head g keeping its candidates with entry
                                          // b·Hkv + g instead of forced_keep (per-head survivor fractions)
  int balance = 0;           // 1: stage 2 runs the builds that may take balanced splits (attend's blocks dealt to the
                             // KV heads by this step's survivor counts, decided on the device where it pays; decode.h
                             // below). Fixed in a captured graph: set it from a previous step's counts
                             // (balanced_splits), as the split count; 0 keeps the grid's own split (the plain builds,
                             // fewer registers: no cost where the counts are even)
  int cut_split = 0;         // 1: the mass policy's budget split over the token scan's blocks where a KV head has
                             // several (1 × 128K: 16; quant witnesses without anchors): block c of KV
                             // head (b, g) cuts its own candidates, n_c of the KV head's n, against the share
                             // budget·n_c/n as soon as its pages are done (no global histogram, no last block, no
                             // wait for the others), so each head's eliminated mass stays within the whole budget
                             // (δ as before); the cut differs per block (Workspace::theta_blk) and can keep more
                             // tokens than the one cut (scripts/split_cut.py measures how many on real captures).
                             // 0: one cut per KV head (DESIGN §5). scan_cut_mode says which a step gets.
};

// Workspace views (device pointers inside p.work), for checking and for the bench.
struct Workspace {
  float *qsig, *qrot, *qdelta;   // [B·Hq, d]
  float* qscal;                  // [B·Hq, 4]: qmu_hi, nq_hi, m_l, eps_score
  uint32_t* flags;               // [B·Hq] kCertNonFinite* bits found by prep
  double* zl;                    // [B·Hq]
  uint16_t* ub;                  // [B·Hkv, max_seq, group] f16 bits: UB − m_L rounded up (+inf: hot/unread)
  uint32_t* hist;                // [B·Hq, kHistAll]
  float* theta;                  // [B·Hq]
  float* theta_a;                // [B·Hq] θ_A of the anchor stage (prep; with a box only)
  double* me;                    // [B·Hq]
  uint32_t* nu_e;                // [B·Hq] float bits
  int32_t* srow;                 // [B·Hkv, max_seq] survivor rows (hot included): physical page · kPage +
                                 // slot, in token order within each segment of compact (survivor_tokens
                                 // maps them back to tokens on the host)
  int32_t* n_surv;               // [B·Hkv]
  int32_t* done;                 // [B·Hkv] scan blocks finished (the last one computes the cut; unused where
                                 // the scan has one block per KV head: that block's own histogram gives the
                                 // cut; hist is then neither zeroed nor read without anchors, and holds only
                                 // the anchor stage's counts with them)
  int32_t* ready;                // [2, B·Hkv + 1] two lists of KV heads (GHOSTKV_COMPACT_READY): [l][0] how
                                 // many are in list l, [l][1 + i] 1 + the i-th (0 until written). List 0:
                                 // the cut is done (compact takes them in this order; not written where the
                                 // fused low-rank block compacts), list 1: every compact block of the KV head
                                 // is done, or the fused low-rank block that compacted it (attend takes them
                                 // in this order)
  int32_t* cdone;                // [B·Hkv] compact blocks finished
  uint16_t* pub;                 // [B·Hkv, max_pages, group] f16: UB_A − m_L of a page eliminated by its
                                 // anchor (rounded up); 0xFFFF: the page is scanned
  int32_t* plist;                // [B·Hkv, max_pages] pages the scan reads (anchor stage), in any order
  int32_t* n_plist;              // [B·Hkv]
  float *pm, *pl, *po;           // [B·Hq, splits], [B·Hq, splits], [B·Hq, splits, d] (not written where a
                                 // step has one split: attend then writes the outputs)
  uint16_t* theta_blk;           // [B·Hkv, kSplitMaxChunks, 4] f16 bits: with the split cut, block c's cut θ_c,h of
                                 // head h of the group (+inf past G); page p of the KV head is block p mod C's
                                 // (C = scan_split_chunks). theta and Certificate::theta then hold the lowest of them.
};
// The split cut's most blocks per KV head (DecodeParams::cut_split; more: the one cut).
inline constexpr int kSplitMaxChunks = 64;
int64_t workspace_bytes(const DecodeParams& p);
Workspace workspace_views(const DecodeParams& p);

// stream: a cudaStream_t passed as void* (nullptr = default stream). Each returns after launching.
void ghost_decode(const DecodeParams& p, void* stream);         // all stages
void ghost_stage1(const DecodeParams& p, void* stream);         // prep, [anchor,] scan, cut, compact (ghost_stage1_kernels)
void ghost_stage2(const DecodeParams& p, void* stream);         // attend [+ merge] (after a ghost_stage1 on p.work)
// Diagnostics (gpu_bench --breakdown): launch only the first n_kernels kernels of stage 1 (prep,
// [anchor,] scan, compact, or fewer fused: ghost_stage1_kernels) or stage 2 (attend, merge), n_kernels ≥ 1; the step's results are then
// incomplete, except stage 2 with one split, whose one kernel (attend finishing the heads) is the stage.
void ghost_stage_prefix(const DecodeParams& p, void* stream, int stage, int n_kernels);
// The token scan's cut for a step on p (every witness): 0 the global histogram's (the last scan block of a
// KV head), 1 the block's own histogram (one scan block per KV head; with anchors, the anchor stage's counts
// are added into it first). set_cut_local(0) keeps the global cut where the local one
// would apply, set_cut_local(1) allows it again, set_cut_local(−1) leaves it to GHOSTKV_CUT_LOCAL (the
// default: allowed unless that is 0); for checks that θ and the outputs are bitwise the same either way.
int scan_cut_mode(const DecodeParams& p);
void set_cut_local(int on);
// 2 from scan_cut_mode: the split cut (DecodeParams::cut_split), where p asks for it and its scan has 2 to
// kSplitMaxChunks blocks per KV head (the quant scan without anchors, not with GHOSTKV_SCAN_DEBUG or
// GHOSTKV_SCAN_CHUNKS, and compact waiting for the whole scan: GHOSTKV_COMPACT_READY off). scan_split_chunks: its
// blocks per KV head C (page p is block p mod C's), 0 where the step does not get the split cut.
inline constexpr int kCutModeSplit = 2;
int scan_split_chunks(const DecodeParams& p);
// Whether a step on p with the split cut has its scan blocks compact their own pages after their cuts (no compact
// kernel; ghost_stage1_kernels 2): wherever scan_split_chunks > 0, unless GHOSTKV_SPLIT_COMPACT=0 (A/B runs: the
// compact kernel after the whole scan). GHOSTKV_SPLIT_COMPACT=1 / 2 (default 2) picks the block's walk: batches of 2
// segments a warp (compact's) or of 4. The survivors, θ, M_E and ν_E are those of the compact kernel (the same
// decisions; M_E summed in another grouping), the rows' order within a KV head differs.
bool scan_split_compacts(const DecodeParams& p);
// The environment variable `name` as one of two decimal values a and b (the whole string), dflt where it is unset; any
// other value throws std::runtime_error naming the variable and the value (the A/B switches: GHOSTKV_LR_FUSED,
// GHOSTKV_SCAN_WARPS, GHOSTKV_LR_FUSED_WARPS, ..)
int env_choice(const char* name, int dflt, int a, int b);
// The same for a set of values (env_choice is it with two), and for any integer in [lo, hi] written the same way (decimal,
// the whole string, no sign, space or leading zero): the diagnostic switches (GHOSTKV_PREP_DEBUG, GHOSTKV_SCAN_DEBUG's
// bits, GHOSTKV_SCAN_OCC, ..)
int env_one_of(const char* name, int dflt, std::initializer_list<int> values);
int env_int_range(const char* name, int dflt, int lo, int hi);
// The low-rank witness with anchors runs its anchor stage and scan as one kernel (lowrank_fused_kernel) where
// the low-rank scan has one block per KV head (its local cut: 32 × 32K on an H200); set_lowrank_fused(0)
// keeps the two kernels, 1 allows the fused one again, −1 leaves it to GHOSTKV_LR_FUSED (0 or 1; default: allowed; another value is an error). The two give bitwise the same
// bounds, eliminated pages, θ and survivor counts (the same arithmetic; gpu_bench checks it).
void set_lowrank_fused(int on);
// Where the fused low-rank kernel runs, its block also compacts its KV head (no compact kernel);
// set_lowrank_fused_compact(0) keeps compact's kernel after it, 1 allows the block's compaction again, −1 leaves it
// to GHOSTKV_LR_FUSED_COMPACT (0 or 1; default: allowed; another value is an error). θ, the survivor counts and ν_E are the same
// either way (the same arithmetic; the bench's fused check compares them with the two kernels and compact);
// M_E is summed in another grouping, and the rows' order within a KV head differs.
void set_lowrank_fused_compact(int on);
// Kernels of stage 1 for a step on p (ghost_stage_prefix's n_kernels of the whole stage): prep, [anchor,]
// scan, compact; 3 with the fused low-rank kernel, 2 where its block also compacts, or where the split cut's scan
// blocks compact (scan_split_compacts)
int ghost_stage1_kernels(const DecodeParams& p);
// Whether a step of `splits` attention splits per KV head has attend write the outputs and certificates
// (one split; GHOSTKV_ATTEND_FIN=0 keeps the merge kernel): no partial states then, and no merge launch.
bool attend_finishes(int splits);
// Host-side check of a batch's page table and sequence lengths (host arrays, as uploaded to
// DecodeParams::page_table / seq_len): every seq_len in [1, max_seq], max_pages·kPage ≥ max_seq, and
// every logical page a sequence uses mapped to a physical page in [0, n_phys), no physical page used
// twice by one sequence (sequences may share pages). The kernels do not
// check the table (an entry outside reads outside the cache); throws ghostkv::Error naming the
// sequence, the page and the value.
void check_page_table(const int32_t* page_table, const int32_t* seq_len, int batch, int max_pages, int max_seq,
                      int64_t n_phys);
// Host: the tokens of a survivor list. rows[i] (Workspace::srow, physical page · kPage + slot) is
// mapped back through the page table of its sequence (page_table_row: the sequence's row of the
// table, seq_len its length): tokens[i] = its token, or −1 where the row is no slot of the sequence's
// first seq_len tokens. The pages of one sequence are distinct (check_page_table refuses a repeat).
void survivor_tokens(const int32_t* page_table_row, int seq_len, const int32_t* rows, int64_t n_rows, int32_t* tokens);
// Diagnostics: only read the K and V rows attend reads (mode 0: compact's survivor list of the last
// stage 1; mode 1: every token, in order), or the bounds compact reads (mode 2: a lane per token;
// mode 3: by bulk copies into shared memory; mode 4: the survivor rows as K|V pieces), or the quant witness's
// pages as the 16-warp scan streams them, nothing done on the bytes (5: codes and meta by two bulk copies per
// page, L2 evict-first, as the scan; 6: the codes alone; 7: codes and meta by the lanes' 16-byte __ldcs loads;
// 8: as 5 with evict-normal; a rank-0 witness only), for the bandwidth each access pattern gets.
void gather_probe(const DecodeParams& p, void* stream, int mode);
// Diagnostics: the quant scan's timeline of its last launch on the current device, recorded only by its DBG build
// with GHOSTKV_SCAN_DEBUG bit 32 (G 4 / d 128): per block (index blockIdx.y · gridDim.x + blockIdx.x), on the GPU's
// global timer in ns: its KV head (b · n_head_kv + g), its start, the return of its wait for prep, its end (after
// the histogram flush and done count; in the last block of a KV head, after the cut), the end of the flush (its
// block barrier), the end of the done count, 1 where the block was its KV head's last (these three with the global
// cut only), in the last block thread 0's steps of the cut (its head's counts summed, θ's bin found, the cut warps'
// barrier, the fence, the ready-list slot's atomic; the end above follows the release store), then the end of each
// warp's page loop (16 columns); 0 where the block records none. Copies min(blocks, max_blocks, 4096) rows of
// kScanTimelineCols into out and returns the launch's block count (0: none).
inline constexpr int kScanTimelineCols = 28;
int scan_timeline(int64_t* out, int max_blocks);
// Diagnostics: compact's timeline of its last launch on the current device, recorded only by its TL build
// (GHOSTKV_COMPACT_TL=1): per block (blockIdx.y · gridDim.x + blockIdx.x), on the GPU's global timer in ns: its KV head,
// its start, the return of its wait (for the scan grid, or for its ready-list entry), warp 0's first segment's bounds
// in (batched: its first batch's), the first survivor-count atomic returned (warp 0's; batched: the block's), each of
// its 4 warps' walk end, the end of its flush (thread 0), its end (after the done count and publication where compact
// takes its KV heads from the ready list), warp 0's segment (batched: batch) count, then batched each warp's first
// batch's end (4 columns); 0 where not recorded. Copies min(blocks, max_blocks, 4096) rows of kCompactTimelineCols into
// out and returns the launch's block count (0: none).
inline constexpr int kCompactTimelineCols = 16;
int compact_timeline(int64_t* out, int max_blocks);
// Diagnostics (GHOSTKV_SPLIT_TL=1): the split cut's scan compacting its own pages (scan_split_compacts) records into
// the scan's timeline (scan_timeline) per block its KV head, its start (column 1), the return of its wait for prep (4),
// its cut's start (2), its cut done (5), in its compaction warp 0's first bounds in (6), thread 0's first survivor-count
// atomic's return (7) and its walk's end (8) (0 where the block has no segment), its end (3), each warp's page loop
// end (12 + warp) and the SM it ran on (9: %smid); prep records per block
// (blockIdx.y · gridDim.x + blockIdx.x) the global timer after its wait and at thread 0's end. prep_timeline copies
// min(blocks, max_blocks, 1024) rows of 2 into out and returns the launch's block count (0: none).
int prep_timeline(int64_t* out, int max_blocks);
// Reads bytes (a multiple of 16) at buf once and keeps nothing: after a large write, the L2 then holds
// clean lines of buf only (the bench's clean cold-L2 flush: the write-back of the written lines is
// done before the timed region instead of inside it).
void read_through(const void* buf, int64_t bytes, void* stream);
// Dense flash decoding (our baseline): every token of every sequence, same split-K kernel. Where p.cert is given its
// last kernel (merge, or attend with one split) writes each head's exact certificate: flags for a non-finite scaled
// query component or output norm, mass_bound = out_err_bound = 0 otherwise (1 and +inf when flagged), n_attended the
// sequence's length, theta −inf, every other field 0.
void dense_decode(const DecodeParams& p, void* stream);
// Device attributes used for sizing.
int device_sm_count();
// Split-K blocks per (batch, KV head) that fill one wave of the attention kernel on this device.
int default_splits(int batch, int n_head_kv);
// The ghost path's split count for a step whose KV heads hold about rows_per_kv_head survivor rows, the most of
// them rows_max_kv_head (the previous step's, e.g.; the bench passes the mean and the most over the KV heads; −1:
// not known; the count is fixed when a graph is built, the rows are only known on the device): one wave (slots /
// bk) unless that gives fewer than 4 splits per KV head. Then, with even counts, two waves where rows_per_kv_head
// reaches kSplitRows per split of two waves, else one. Where the KV heads' counts spread (rows_max_kv_head ≥
// kSplitSpread·rows_per_kv_head), eight waves (4 × two) where two waves' rows are reached; below that, four waves
// (2 × two) where the most rows reach kSplitRows and the spread reaches kSplitSpreadLow, else one.
// On an H200 at 32 × 32K (bk 256, slots 396: one wave 1 split, two 3, four 6, eight 12; docs/gpu.md):
// - even counts: 3 splits instead of 1 from 6144 rows (19% survivors) on: stage 2 over 20-100% survivors 6-9% faster,
//   and 2-7 µs slower at 1-5%, where it keeps 1; 12 splits took 19-24 µs more than 3 (most / mean ≤ 1.04);
// - the real captures' own per-(sequence, KV head) fractions (most / mean 1.24-2.5, means 30-80%): 12 splits took stage 2
//   42-89 µs (5-18%) less than 3 and 18-30 µs less than 6; 16 within 5 µs of 12, 24 worse;
// - at a 50% mean with most / mean 1.06-1.20 (one KV head high, or half of them; means of two runs): 3 splits better
//   at 1.06 and at 1.10 with one head high, 12 better at 1.10 with half of them high and from 1.15 on (the step
//   5.7-27.7 µs shorter); so kSplitSpread = 1.15;
// - those real fractions scaled to a mean of 5% and 10%: the step at 6 splits within 1.9 µs of the best of 1, 3, 6
//   and 12 on all ten rows, up to 62 µs shorter than at 1; at 5% and 10% means with most / mean 1.2 the step at 6
//   splits 1.8 µs shorter to 3.4 µs longer than at 1, from 1.4 on 3.6-46.5 µs shorter; the forced 5% rows with
//   anchors (pages by a hash; most / mean 1.23) 0.3 µs shorter and 2.1 µs longer
//   at 6; so kSplitSpreadLow = 1.4.
// Dense attention measured best at one wave. slots: the attention kernel's resident blocks (3 per SM).
inline constexpr int kSplitRows = 2048;
inline constexpr int kSplitSpreadPct = 115;     // kSplitSpread = 1.15
inline constexpr int kSplitSpreadLowPct = 140;  // kSplitSpreadLow = 1.4
inline int splits_for_rows(int slots, int bk, int64_t rows_per_kv_head, int64_t rows_max_kv_head = -1) {
  bk = bk > 0 ? bk : 1;
  const int one = slots / bk < 1 ? 1 : slots / bk > 128 ? 128 : slots / bk;
  if (one >= 4) return one;
  const int two = 2 * slots / bk < one ? one : 2 * slots / bk;  // ≤ 7: one ≤ 3
  const bool spread = rows_max_kv_head * 100 >= rows_per_kv_head * kSplitSpreadPct && rows_max_kv_head > 0;
  if (rows_per_kv_head >= int64_t(kSplitRows) * two) return spread ? 4 * two : two;  // ≤ 28
  const bool spread_low = rows_max_kv_head * 100 >= rows_per_kv_head * kSplitSpreadLowPct && rows_max_kv_head > 0;
  return spread_low && rows_max_kv_head >= kSplitRows ? 2 * two : one;
}
// splits_for_rows with this device's slots
int ghost_splits(int batch, int n_head_kv, int64_t rows_per_kv_head, int64_t rows_max_kv_head = -1);
// The token scan's grid: C blocks per (batch, KV head) of W warps (kScanBlockWarps; 16 for the quant witnesses with
// the global cut and no anchors at G 4 / d 128, decode.cu scan_warps_env); warp w of block x bounds the pages i with
// i mod (W·C) = W·x + w. Every block is resident at once where slots (blocks the device holds) allow:
// C = max(1, min(⌈max_pages/kScanBlockWarps⌉, slots/bk)).
inline constexpr int kScanBlockWarps = 8;
int scan_blocks_per_head(int max_pages, int slots, int bk);

// Work splits shared by the kernels and the host tests (host and device: no device state).
#ifdef __CUDACC__
#define GHOSTKV_HD __host__ __device__
#else
#define GHOSTKV_HD
#endif
// attend over a survivor list of `count` rows in tiles of `tile` rows, S splits: block x takes the list's tiles
// x, x + S, x + 2S, … (so its first tile's rows x·tile.. are known before the count); its number of tiles, and
// the first row of its i-th tile
GHOSTKV_HD constexpr int attend_split_tiles(int count, int tile, int x, int S) {
  return count > x * tile ? ((count + tile - 1) / tile - x + S - 1) / S : 0;
}
GHOSTKV_HD constexpr int attend_split_row0(int i, int tile, int x, int S) { return (x + i * S) * tile; }
// The quant scan's grid (chunks, B·Hkv): block (x, y) bounds chunk x of KV head y, or with `mix` (the default,
// Consts::scan_mix) the linear block L = y·chunks + x bounds chunk L / (B·Hkv) of KV head L mod (B·Hkv), so that
// blocks launched one after another belong to different KV heads. Either way a bijection of the grid onto the
// (KV head, chunk) pairs. Returns the KV head; *chunk its chunk.
GHOSTKV_HD constexpr int scan_block_head(int x, int y, int chunks, int heads, bool mix, int* chunk) {
  const int l = y * chunks + x;
  *chunk = mix ? l / heads : x;
  return mix ? l % heads : y;
}
// prep zeroes the first splits·kListZeroRows entries of each survivor list every step: attend reads its first
// tile's row ids (rows < S·tile ≤ S·kListZeroRows) before the count, initialised and never used past it
inline constexpr int kListZeroRows = 64;
// the tiles per split that the certificate's rounding count allows for (write_certificate's `tiles` is this + 1,
// written out there in the same arithmetic): rows per split ⌈count/S⌉ in tiles of `tile`; a block of
// attend_split_tiles takes at most as many
GHOSTKV_HD constexpr int cert_split_tiles(int count, int S, int tile) { return ((count + S - 1) / S + tile - 1) / tile; }
// merge: P slices of 128 threads, each thread holding at most kMergePer splits' partial outputs (S ≤ 128)
inline constexpr int kMergePer = 16;
GHOSTKV_HD constexpr int merge_slices(int S) { return S <= kMergePer ? 1 : S <= 4 * kMergePer ? 4 : 8; }
// Balanced splits. attend over the survivor lists with S > 1 splits per KV head gives each KV head S blocks, so
// a step takes as long as its KV head with the most survivors takes (real heads keep very different fractions).
// Where the lists are not taken from the ready lists and H = B·Hkv ≤ kBalanceMaxHeads, attend and merge read
// every KV head's survivor count n_h first and, where it pays, deal the grid's T = S·H blocks to the KV heads
// in proportion to their counts: S_h = balanced_split(n_h, N = Σ n_h, H, T, cap) ≥ 1 (Σ S_h ≤ T; cap = merge's
// capacity at S, kMergePer·merge_slices(S)), KV head h taking the flat blocks [Σ_{h'<h} S_h', … + S_h) of the grid
// (flat = blockIdx.y·S + blockIdx.x; the rest idle) and its partials at flat·G + head. It pays where the most
// tiles a block takes drop by at least kBalanceMarginTiles (balance_pays): the balanced blocks load their
// query and first rows after the counts, and merge its partials, one more round trip each.
inline constexpr int kBalanceMaxHeads = 32, kBalanceMarginTiles = 2;
GHOSTKV_HD constexpr int balanced_split(long long n, long long total, int heads, int blocks, int cap) {
  if (total <= 0 || blocks <= heads) return 1;
  const long long s = 1 + (long long)(blocks - heads) * n / total;
  return int(s < cap ? s : cap);
}
GHOSTKV_HD constexpr int balance_cap(int S) { return kMergePer * merge_slices(S); }
// the most tiles one of S blocks takes over a list of n rows (block 0's: attend_split_tiles decreases in x)
GHOSTKV_HD constexpr int split_max_tiles(long long n, int tile, int S) { return attend_split_tiles(int(n), tile, 0, S); }
GHOSTKV_HD constexpr bool balance_pays(int max_tiles_even, int max_tiles_balanced) {
  return max_tiles_balanced + kBalanceMarginTiles <= max_tiles_even;
}
// Host: whether a step with these survivor counts (H KV heads, S splits, tiles of `tile` rows) takes the balanced
// splits, and each KV head's S_h (the kernels' decision, for the bench and the tests)
bool balanced_splits(const int32_t* counts, int H, int S, int tile, int32_t* s_h);
// attend's tile (rows) where balanced splits apply (the 4-warp build)
inline constexpr int kAttendTileRows = 32;
// whether stage 2 of a ghost step on p may take balanced splits where p.balance asks for them (S > 1, not from the
// ready lists, B·Hkv ≤ kBalanceMaxHeads; GHOSTKV_ATTEND_BALANCE=0 turns them off)
bool balance_allowed(const DecodeParams& p);
// prep's blocks per (b, KV head) (prep_kernel's R): 4 where the B·Hkv·4 blocks fit one per SM, so that four SMs load a
// KV head's 64 KB rotation (16 KB each) for each of its sequences; else 1 (the grid then covers the SMs already; the
// blocks then share each rotation in clusters, prep_cluster_blocks).
// Block y of the 4 computes the rows [y·d/4, (y+1)·d/4) of q̃_r and Δ, each row in 256/(d/4) parts of whole float4s
// (d 64 and 128; prep_kernel asserts it).
inline constexpr int kPrepRowBlocks = 4;
GHOSTKV_HD constexpr int prep_row_blocks(long long bk, int sms) { return bk * kPrepRowBlocks <= sms ? kPrepRowBlocks : 1; }
// Where prep runs one block per (b, KV head): thread-block clusters of the blocks of `cl` sequences of one KV head (cl
// the largest of want, want/2, … that divides B; 1: no cluster), one bulk copy each multicasting a slice of the
// rotation into every block of the cluster (at 32 × 32K 8 MB through the L2 instead of 16 with 2). kPrepCluster is the
// default want (GHOSTKV_PREP_CLUSTER=1, 2 or 4 overrides it): 2 measured 1.0-1.4 µs faster than 1 at 32 × 32K (5% forced) on the
// H200, 4 slower than 1 (docs/gpu.md).
inline constexpr int kPrepCluster = 2;
GHOSTKV_HD constexpr int prep_cluster_blocks(int batch, int want) {
  int cl = want;
  while (cl > 1 && batch % cl != 0) cl /= 2;
  return cl > 1 ? cl : 1;
}
const char* last_error();  // the calling thread's last failure message (empty until a call on this thread failed)

}  // namespace ghostkv::cuda
