#pragma once
// Tiered KV store for one (layer, KV head) (DESIGN §3, §4.1b, §4.4, §6, §7), with online
// maintenance and save/load.
//   tokens   t = 0..n−1 in append order; every token is in exactly one tier:
//     hot      first n_sink tokens + the last n_recent (the recent window); K,V in fast memory
//     warm     K,V fast + token record (rotated-quantized witness, QuantRecords)
//     ghost    K,V in the SLOW region (a separate host buffer, or a file read with pread) + record
//     archive  K,V and token record in the slow region; only page/k-means anchors (anchor.h) are
//              resident; a surviving anchor's member records are fetched from the slow region
//   records  built with the CURRENT basis by quant_append (witness.h): groups of G tokens whose
//            half-steps are fixed at opening (±range_sigmas·σ); an out-of-range key opens a new
//            group; err measured, so bounds stay sound for every appended key.
//   memory   fast K,V: compacted slots [hot + warm, d] float32 each for K and V (a slot map; slow
//            tokens have no fast slot); resident records (records()): the group tables (indexed by
//            token id) plus one row (group, codes, ν) per hot/warm/ghost token in token order —
//            archive tokens have NO resident record; slow KV region slot t at t·2d·4 (K then V,
//            float32); slow record region slot t at t·record_bytes (codes then ν), written when t
//            is archived and read back only when its anchor survives (read(), or
//            bounds_for_surviving_anchors()). resident_bytes() reports all of it per tier.
// Bounds (bounds()) are CENTRED; bounds() gives +inf for hot AND archive tokens (no resident record);
// archive tokens are bounded from their fetched records (record_bounds / bounds_for_surviving_anchors), UB'_t ≥ σq·(k_t − μ) in exact arithmetic, through cpu::quant_bounds
// and cpu::anchor_bounds (sound, docs/math.md §4). Byte counters follow DESIGN §6 kv_bytes_frac
// (bf16-equivalent K,V) and separately count the bytes actually copied; Σ buckets = total.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ghostkv/anchor.h"
#include "ghostkv/basis.h"
#include "ghostkv/witness.h"

namespace ghostkv {

// quant_append (witness.h) with rows decoupled from token ids (src/core/witness_append.cc): the group
// tables are indexed by token id t (≥ the end of the table); group_of, codes, ν get one row at the end.
QuantAppendInfo quant_append_at(QuantRecords& rec, QuantAppendState& st, const Basis& basis, const float* k,
                                const float* v, int64_t t);

enum class Tier : uint8_t { hot = 0, warm = 1, ghost = 2, archive = 3 };
inline constexpr int kNumTiers = 4;
const char* tier_name(Tier t);
enum class TierPolicy { age, survival };
enum class SlowKind { host, file };

struct SlowSpec {
  SlowKind kind = SlowKind::host;
  std::string path;  // file: K,V region at `path`, record region at `path`.rec (created, truncated)
};

struct KvStoreParams {
  int64_t d_head = 128;
  std::string bits = "8x16,4x48,2";  // BitSpec (parse_bits)
  int64_t group = 32;                // G tokens per record group
  double range_sigmas = 4.0;         // opening half-step covers ±range_sigmas·σ_j
  int64_t n_sink = 4, n_recent = 64;
  TierPolicy policy = TierPolicy::age;
  bool auto_policy = true;           // apply the policy after every append
  int64_t ghost_after = 256;         // age (tokens appended after t) ≥ W → ghost
  int64_t archive_after = 1024;      // age ≥ A → archive (moved in batches of anchors.page tokens)
  int64_t survival_steps = 8;        // survival policy: of the last S read steps ...
  int64_t survival_min = 2;          // ... a token that survived ≥ s of them stays (or returns) warm
  AnchorParams anchors = {AnchorKind::page, AnchorBound::box, AnchorSpace::orig, 16, 64, 10, 0};
  int64_t refresh_every = 0;         // refresh the basis every N appended tokens (0: off)
  int64_t drift_window = 64;         // M: drift = mean relative quantization error of the last M keys
  double drift_ratio = 0;            // refresh when drift > ratio · (the same mean at the last fit); 0: off
};

// Bytes of one decode step, per bucket (hot, warm, ghost, archive, meta = basis/μ/constants).
struct TierCounters {
  int64_t tokens = 0;             // tokens in the tier at the step
  int64_t records_read = 0;       // token records read (bound checked)
  int64_t record_bytes = 0;
  int64_t group_meta_bytes = 0;   // group tables (h, err) of the groups read
  int64_t anchors_read = 0;
  int64_t anchor_bytes = 0;
  int64_t meta_bytes = 0;         // per-step basis rows, μ, constants (meta bucket only)
  int64_t kv_read = 0;            // tokens whose K,V were read
  int64_t kv_bytes = 0;           // bf16-equivalent: kv_read·2·d·2
  int64_t copied_bytes = 0;       // bytes actually copied (K,V float32 + records fetched)
  int64_t fetches = 0;            // slow-region read calls
  int64_t bytes() const { return record_bytes + group_meta_bytes + anchor_bytes + meta_bytes + kv_bytes; }
  TierCounters& operator+=(const TierCounters& o);
  bool operator==(const TierCounters& o) const = default;
};
inline constexpr int kNumBuckets = kNumTiers + 1;  // + meta
struct StepCounters {
  std::array<TierCounters, kNumBuckets> bucket;  // [hot, warm, ghost, archive, meta]
  TierCounters total;
  int64_t dense_bytes = 0;  // n·2·d·2
  StepCounters& operator+=(const StepCounters& o);
  bool consistent() const;  // Σ buckets == total, field by field
  bool operator==(const StepCounters& o) const = default;
};

struct MaintenanceCounters {
  int64_t appends = 0, moves = 0, refreshes = 0, slow_write_bytes = 0, slow_read_bytes = 0;
  int64_t anchor_rebuilds = 0;
  bool operator==(const MaintenanceCounters& o) const = default;
};

struct RefreshReport {
  double ms = 0;
  int64_t n_fit = 0;               // resident keys the basis was refitted on
  int64_t bytes_rewritten = 0;     // records + group tables + archive record slots + anchors
  int64_t slow_read_bytes = 0;     // K,V fetched from the slow region to rebuild
  const char* reason = "";
};

// The bounds decision of one step: survive[t] for every token (ignored for hot tokens: always read;
// an archive token may survive only if its anchor survives), anchor_survive[a] per archive anchor.
struct StepDecision {
  std::vector<uint8_t> survive;         // [n]
  std::vector<uint8_t> anchor_survive;  // [n_anchors]
};
struct StepRead {
  std::vector<int64_t> tokens;  // tokens whose K,V were read (hot + survivors), ascending
  std::vector<float> k, v;      // [tokens.size(), d] copied from their tiers
  std::vector<int64_t> fetched_record_tokens;  // archive tokens whose records were fetched
  std::vector<uint8_t> fetched_records;        // [.., record_bytes] as read from the slow region
  StepCounters counters;
};

struct StoreBounds {
  std::vector<double> token_ub;   // [n] centred UB'_t; +inf for hot tokens (never eliminated) and for
                                  // archive tokens whose records were not fetched
  std::vector<double> anchor_ub;  // [n_anchors] centred anchor bounds (archive)
};

// What the store holds, per tier (bytes). fast_kv: K,V slots in fast memory; record: resident token
// records (codes + ν, record_bytes each); anchor: resident anchor records; slow_kv / slow_record: the
// tier's slots in the slow regions.
struct TierResidency {
  int64_t tokens = 0, fast_kv = 0, record = 0, anchor = 0, slow_kv = 0, slow_record = 0;
  bool operator==(const TierResidency& o) const = default;
};
struct ResidentBytes {
  std::array<TierResidency, kNumTiers> tier;
  int64_t group_tables = 0;       // resident group tables (group_start + h, err) shared by all tiers
  int64_t record_index = 0;       // resident per-row group indices (8 bytes per resident record)
  int64_t token_index = 0;        // per-token maps (tier, history, slot/row/chunk maps), all tiers
  int64_t slow_kv_region = 0;     // actual size of the slow K,V region (host buffer / file)
  int64_t slow_record_region = 0; // actual size of the slow record region
  int64_t fast_kv() const;        // Σ tiers
  int64_t records() const;        // Σ tiers
};

class KvStore {
 public:
  KvStore(const KvStoreParams& p, Basis basis, SlowSpec slow = {});
  ~KvStore();
  KvStore(KvStore&&) noexcept;
  KvStore& operator=(KvStore&&) noexcept;
  KvStore(const KvStore&) = delete;
  KvStore& operator=(const KvStore&) = delete;

  // ---- maintenance ----
  QuantAppendInfo append(const float* k, const float* v);  // d floats each
  void set_recent(int64_t n_recent);   // resize the recent window (tokens leaving it go to warm)
  void move(const std::vector<int64_t>& tokens, Tier to);  // explicit move (hot is not a target)
  void apply_policy();
  RefreshReport refresh(const char* reason = "explicit");
  const RefreshReport& last_refresh() const;

  // ---- decode step ----
  StoreBounds bounds(const double* q) const;  // q = σ·q_raw [d], float64; archive tokens: +inf
  // bounds of archive tokens from records fetched from the slow region (e.g. StepRead's
  // fetched_record_tokens / fetched_records): ub[i] for tokens[i], bit-identical to the bound the
  // resident record gave before the token was archived (same basis)
  std::vector<double> record_bounds(const double* q, const std::vector<int64_t>& tokens,
                                    const uint8_t* records) const;
  // bounds() plus the archive members of the surviving anchors, bounded from their records read
  // (coalesced) from the slow region; not counted in the step counters (read() counts its fetch)
  StoreBounds bounds_for_surviving_anchors(const double* q, const std::vector<uint8_t>& anchor_survive) const;
  StepRead read(const StepDecision& dec);

  // ---- state ----
  int64_t n() const;
  int64_t d() const;
  Tier tier(int64_t t) const;
  std::array<int64_t, kNumTiers> tier_counts() const;
  int64_t n_anchors() const;
  std::vector<int64_t> anchor_members(int64_t a) const;  // global token ids
  int64_t anchor_of(int64_t t) const;                      // −1 unless archived
  const Basis& basis() const;
  const QuantRecords& records() const;  // RESIDENT records: rows = non-archive tokens (record_row)
  int64_t record_row(int64_t t) const;   // row of token t in records(), −1 for archive tokens
  ResidentBytes resident_bytes() const;
  const KvStoreParams& params() const;
  const StepCounters& cumulative() const;
  const MaintenanceCounters& maintenance() const;
  bool check_invariants(std::string* why = nullptr) const;  // one tier per token, counters consistent

  // ---- persistence: magic "GKVSTORE", uint32 version, uint64 header length, JSON header, payload.
  // The slow region's location is not part of the state: load() puts it where `slow` says.
  void save(const std::string& path) const;
  static KvStore load(const std::string& path, SlowSpec slow = {});

  struct Impl;

 private:
  explicit KvStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghostkv
