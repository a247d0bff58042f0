// Tiered KV store (kv_store.h). Data movement is real: slow tiers live in a separate host buffer or
// a file (pwrite/pread), and every byte counted as "copied" was memcpy'd or pread.
#include "ghostkv/kv_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ghostkv/bound.h"
#include "ghostkv/error.h"
#include "ghostkv/io/npy.h"

namespace ghostkv {

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::hot: return "hot";
    case Tier::warm: return "warm";
    case Tier::ghost: return "ghost";
    case Tier::archive: return "archive";
  }
  return "?";
}

TierCounters& TierCounters::operator+=(const TierCounters& o) {
  tokens += o.tokens;
  records_read += o.records_read;
  record_bytes += o.record_bytes;
  group_meta_bytes += o.group_meta_bytes;
  anchors_read += o.anchors_read;
  anchor_bytes += o.anchor_bytes;
  meta_bytes += o.meta_bytes;
  kv_read += o.kv_read;
  kv_bytes += o.kv_bytes;
  copied_bytes += o.copied_bytes;
  fetches += o.fetches;
  return *this;
}

StepCounters& StepCounters::operator+=(const StepCounters& o) {
  for (int b = 0; b < kNumBuckets; ++b) bucket[size_t(b)] += o.bucket[size_t(b)];
  total += o.total;
  dense_bytes += o.dense_bytes;
  return *this;
}

bool StepCounters::consistent() const {
  TierCounters s;
  for (const auto& b : bucket) s += b;
  return s == total && s.bytes() == total.bytes();
}

// ---------------- slow regions ----------------

namespace {

struct Slow {
  virtual ~Slow() = default;
  virtual void write(int64_t off, const void* p, int64_t n) = 0;
  virtual void read(int64_t off, void* p, int64_t n) const = 0;
  virtual int64_t size() const = 0;
};

struct HostSlow final : Slow {
  std::vector<uint8_t> buf;
  void write(int64_t off, const void* p, int64_t n) override {
    if (int64_t(buf.size()) < off + n) buf.resize(size_t(off + n));
    std::memcpy(buf.data() + off, p, size_t(n));
  }
  void read(int64_t off, void* p, int64_t n) const override {
    GKV_ASSERT(off + n <= int64_t(buf.size()), "slow host region: read past the end");
    std::memcpy(p, buf.data() + off, size_t(n));
  }
  int64_t size() const override { return int64_t(buf.size()); }
};

struct FileSlow final : Slow {
  std::string path;
  int fd = -1;
  explicit FileSlow(std::string p) : path(std::move(p)) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    GKV_CHECK(fd >= 0, path, ": cannot create the slow-region file (", std::strerror(errno), ")");
  }
  ~FileSlow() override {
    if (fd >= 0) ::close(fd);
  }
  void write(int64_t off, const void* p, int64_t n) override {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::pwrite(fd, c, size_t(n), off);
      GKV_CHECK(w > 0, path, ": slow-region write failed (", std::strerror(errno), ")");
      c += w, off += w, n -= w;
    }
  }
  void read(int64_t off, void* p, int64_t n) const override {
    char* c = static_cast<char*>(p);
    while (n > 0) {
      ssize_t r = ::pread(fd, c, size_t(n), off);
      GKV_CHECK(r > 0, path, ": slow-region read failed at offset ", off, " (", std::strerror(errno), ")");
      c += r, off += r, n -= r;
    }
  }
  int64_t size() const override {
    const off_t e = ::lseek(fd, 0, SEEK_END);
    return e < 0 ? 0 : int64_t(e);
  }
};

std::unique_ptr<Slow> make_slow(const SlowSpec& s, const char* suffix) {
  if (s.kind == SlowKind::host) return std::make_unique<HostSlow>();
  GKV_CHECK(!s.path.empty(), "kv store: file-backed slow region needs a path");
  return std::make_unique<FileSlow>(s.path + suffix);
}

bool is_fast(Tier t) { return t == Tier::hot || t == Tier::warm; }

const char* akind_name(AnchorKind k) {
  return k == AnchorKind::page ? "page" : k == AnchorKind::kmeans ? "kmeans" : "none";
}

struct Chunk {
  std::vector<int64_t> tokens;  // global ids, ascending
  AnchorSet set;
};

}  // namespace

struct KvStore::Impl {
  KvStoreParams p;
  BitSpec spec;
  Basis basis;
  QuantRecords rec;                 // resident: group tables by token id; rows = non-archive tokens
  QuantAppendState ast;
  int64_t d = 0;
  int64_t n_recent = 0;
  std::vector<float> fk, fv;        // [n_fast, d] fast memory: one slot per hot/warm token
  std::vector<int64_t> kslot;       // [n] fast slot of token t, −1 for slow tokens
  std::vector<int64_t> ktok;        // [n_fast] token of each fast slot
  std::vector<int64_t> rrow;        // [n] resident record row of token t, −1 for archive tokens
  std::vector<int64_t> rtok;        // [rows] token of each resident record row (ascending)
  bool rows_dirty = false;          // tiers changed to/from archive since the last sync_rows()
  std::vector<uint8_t> tier;        // [n]
  std::vector<uint32_t> hist;       // [n] survival history, bit 0 = last step
  std::unique_ptr<Slow> skv, srec;  // slow K,V slots and slow record slots
  std::vector<Chunk> chunks;
  std::vector<int64_t> chunk_of, local_of, chunk_off;  // token → chunk, index inside it; chunk → first anchor
  std::deque<double> drift;          // relative quantization error of the last M appended keys
  double fit_rel_err = 0;            // the same mean over the keys of the last (re)build
  int64_t since_refresh = 0, steps = 0;
  StepCounters cum;
  MaintenanceCounters mc;
  RefreshReport last;

  int64_t n() const { return int64_t(tier.size()); }
  int64_t kv_slot() const { return 2 * d * 4; }
  bool is_hot(int64_t t) const { return t < p.n_sink || t >= n() - n_recent; }

  const float* fast_k(int64_t t) const { return fk.data() + kslot[size_t(t)] * d; }
  const float* fast_v(int64_t t) const { return fv.data() + kslot[size_t(t)] * d; }
  void add_fast(int64_t t, const float* k, const float* v) {
    kslot[size_t(t)] = int64_t(ktok.size());
    ktok.push_back(t);
    fk.insert(fk.end(), k, k + d);
    fv.insert(fv.end(), v, v + d);
  }
  void drop_fast(int64_t t) {  // the last slot moves into the freed one: fast memory stays compact
    const int64_t sl = kslot[size_t(t)], last = int64_t(ktok.size()) - 1;
    GKV_ASSERT(sl >= 0, "kv store: token without a fast slot");
    if (sl != last) {
      std::memcpy(fk.data() + sl * d, fk.data() + last * d, size_t(d * 4));
      std::memcpy(fv.data() + sl * d, fv.data() + last * d, size_t(d * 4));
      ktok[size_t(sl)] = ktok[size_t(last)];
      kslot[size_t(ktok[size_t(sl)])] = sl;
    }
    ktok.pop_back();
    fk.resize(size_t(last * d));
    fv.resize(size_t(last * d));
    kslot[size_t(t)] = -1;
  }
  // group of token t: from its resident row, else from the (resident) group table
  int64_t group_of_tok(int64_t t) const {
    if (rrow[size_t(t)] >= 0) return rec.group_of[size_t(rrow[size_t(t)])];
    return int64_t(std::upper_bound(rec.group_start.begin(), rec.group_start.end(), t) - rec.group_start.begin()) - 1;
  }
  void write_slow_rec_row(int64_t t, int64_t row) {
    const int64_t rb = rec.record_bytes();
    std::vector<uint8_t> buf(static_cast<size_t>(rb));
    std::memcpy(buf.data(), rec.codes.data() + row * rec.code_bytes, size_t(rec.code_bytes));
    std::memcpy(buf.data() + rec.code_bytes, &rec.nu[size_t(row)], 2);
    srec->write(t * rb, buf.data(), rb);
    mc.slow_write_bytes += rb;
  }
  void write_slow_kv(int64_t t) {
    std::vector<float> buf(size_t(2 * d));
    std::memcpy(buf.data(), fast_k(t), size_t(d * 4));
    std::memcpy(buf.data() + d, fast_v(t), size_t(d * 4));
    skv->write(t * kv_slot(), buf.data(), kv_slot());
    mc.slow_write_bytes += kv_slot();
  }
  void write_slow_rec(int64_t t) {
    GKV_ASSERT(rrow[size_t(t)] >= 0, "kv store: archiving a token without a resident record");
    write_slow_rec_row(t, rrow[size_t(t)]);
  }
  // Rebuilds the resident record rows after tier changes: archive tokens' rows are dropped (their
  // records are in the slow region), tokens that left the archive get theirs back from it.
  void sync_rows() {
    if (!rows_dirty) return;
    rows_dirty = false;
    const int64_t cb = rec.code_bytes, rb = rec.record_bytes();
    std::vector<int64_t> gof, toks;
    std::vector<uint8_t> codes;
    std::vector<uint16_t> nu;
    std::vector<uint8_t> buf(static_cast<size_t>(rb));
    for (int64_t t = 0; t < n(); ++t) {
      const int64_t r = rrow[size_t(t)];
      if (Tier(tier[size_t(t)]) == Tier::archive) {
        rrow[size_t(t)] = -1;
        continue;
      }
      if (r >= 0) {
        gof.push_back(rec.group_of[size_t(r)]);
        codes.insert(codes.end(), rec.codes.begin() + r * cb, rec.codes.begin() + (r + 1) * cb);
        nu.push_back(rec.nu[size_t(r)]);
      } else {
        srec->read(t * rb, buf.data(), rb);
        mc.slow_read_bytes += rb;
        gof.push_back(group_of_tok(t));
        codes.insert(codes.end(), buf.begin(), buf.begin() + cb);
        uint16_t v;
        std::memcpy(&v, buf.data() + cb, 2);
        nu.push_back(v);
      }
      rrow[size_t(t)] = int64_t(toks.size());
      toks.push_back(t);
    }
    rec.group_of = std::move(gof);
    rec.codes = std::move(codes);
    rec.nu = std::move(nu);
    rec.n = int64_t(toks.size());
    rtok = std::move(toks);
  }
  void reindex_rows() {
    rrow.assign(size_t(n()), -1);
    for (size_t i = 0; i < rtok.size(); ++i) rrow[size_t(rtok[i])] = int64_t(i);
  }
  // K,V of token t into k, v (from fast or slow memory); counts maintenance reads of slow tokens
  void fetch_kv(int64_t t, float* k, float* v) {
    if (is_fast(Tier(tier[size_t(t)]))) {
      std::memcpy(k, fast_k(t), size_t(d * 4));
      std::memcpy(v, fast_v(t), size_t(d * 4));
    } else {
      std::vector<float> buf(size_t(2 * d));
      skv->read(t * kv_slot(), buf.data(), kv_slot());
      mc.slow_read_bytes += kv_slot();
      std::memcpy(k, buf.data(), size_t(d * 4));
      std::memcpy(v, buf.data() + d, size_t(d * 4));
    }
  }

  void set_tier(int64_t t, Tier to) {
    const Tier from = Tier(tier[size_t(t)]);
    if (from == to) return;
    if (is_fast(from) && !is_fast(to)) {
      write_slow_kv(t);
      drop_fast(t);
    } else if (!is_fast(from) && is_fast(to)) {
      std::vector<float> buf(size_t(2 * d));
      skv->read(t * kv_slot(), buf.data(), kv_slot());
      mc.slow_read_bytes += kv_slot();
      add_fast(t, buf.data(), buf.data() + d);
    }
    if (to == Tier::archive) write_slow_rec(t);
    if (to == Tier::archive || from == Tier::archive) rows_dirty = true;
    tier[size_t(t)] = uint8_t(to);
    mc.moves += 1;
  }

  AnchorSet build_chunk(const std::vector<int64_t>& toks, const std::vector<float>* all_k,
                        const std::vector<float>* all_v) {
    const int64_t m = int64_t(toks.size());
    std::vector<float> k(size_t(m * d)), v(size_t(m * d));
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = toks[size_t(i)];
      if (all_k) {
        std::memcpy(k.data() + i * d, all_k->data() + t * d, size_t(d * 4));
        std::memcpy(v.data() + i * d, all_v->data() + t * d, size_t(d * 4));
      } else {
        fetch_kv(t, k.data() + i * d, v.data() + i * d);
      }
    }
    mc.anchor_rebuilds += 1;
    return build_anchors(p.anchors, basis, k.data(), v.data(), m, d);
  }

  void reindex_chunks() {
    chunk_of.assign(size_t(n()), -1);
    local_of.assign(size_t(n()), -1);
    chunk_off.assign(chunks.size() + 1, 0);
    for (size_t c = 0; c < chunks.size(); ++c) {
      for (size_t i = 0; i < chunks[c].tokens.size(); ++i) {
        chunk_of[size_t(chunks[c].tokens[i])] = int64_t(c);
        local_of[size_t(chunks[c].tokens[i])] = int64_t(i);
      }
      chunk_off[c + 1] = chunk_off[c] + chunks[c].set.n_anchors;
    }
  }
  int64_t n_anchors() const { return chunk_off.empty() ? 0 : chunk_off.back(); }
  int64_t global_anchor(int64_t t) const {
    const int64_t c = chunk_of[size_t(t)];
    if (c < 0) return -1;
    return chunk_off[size_t(c)] + chunks[size_t(c)].set.anchor_of[size_t(local_of[size_t(t)])];
  }

  void move_batch(std::vector<int64_t> toks, Tier to) {
    std::sort(toks.begin(), toks.end());
    toks.erase(std::unique(toks.begin(), toks.end()), toks.end());
    std::vector<uint8_t> touched(chunks.size(), 0);
    std::vector<int64_t> newly;
    for (int64_t t : toks) {
      GKV_CHECK(t >= 0 && t < n(), "kv store: move of token ", t, " outside [0, ", n(), ")");
      GKV_CHECK(Tier(tier[size_t(t)]) != Tier::hot, "kv store: token ", t,
                " is hot (sink or recent window); resize the window with set_recent instead");
      const Tier from = Tier(tier[size_t(t)]);
      if (from == to) continue;
      if (from == Tier::archive) touched[size_t(chunk_of[size_t(t)])] = 1;
      if (to == Tier::archive) newly.push_back(t);
      set_tier(t, to);
    }
    bool changed = !newly.empty();
    std::vector<Chunk> kept;
    for (size_t c = 0; c < chunks.size(); ++c) {
      if (!touched[c]) {
        kept.push_back(std::move(chunks[c]));
        continue;
      }
      changed = true;
      Chunk ch;
      for (int64_t t : chunks[c].tokens)
        if (Tier(tier[size_t(t)]) == Tier::archive) ch.tokens.push_back(t);
      if (ch.tokens.empty()) continue;
      ch.set = build_chunk(ch.tokens, nullptr, nullptr);
      kept.push_back(std::move(ch));
    }
    if (!newly.empty()) {
      Chunk ch;
      ch.tokens = newly;
      ch.set = build_chunk(ch.tokens, nullptr, nullptr);
      kept.push_back(std::move(ch));
    }
    chunks = std::move(kept);
    if (changed) reindex_chunks();
    sync_rows();
  }

  Tier desired(int64_t t) const {
    const int64_t age = n() - 1 - t;
    if (p.policy == TierPolicy::survival) {
      const uint32_t mask = p.survival_steps >= 32 ? ~0u : ((1u << p.survival_steps) - 1);
      if (std::popcount(hist[size_t(t)] & mask) >= p.survival_min) return Tier::warm;
    }
    if (age >= p.archive_after) return Tier::archive;
    if (age >= p.ghost_after) return Tier::ghost;
    return Tier::warm;
  }

  void apply_policy() {
    std::array<std::vector<int64_t>, kNumTiers> to;
    std::vector<int64_t> pending;  // want archive, not archived yet
    for (int64_t t = 0; t < n(); ++t) {
      if (is_hot(t)) continue;
      const Tier want = desired(t), cur = Tier(tier[size_t(t)]);
      if (want == Tier::archive) {
        if (cur != Tier::archive) pending.push_back(t);
      } else if (want != cur) {
        to[size_t(want)].push_back(t);
      }
    }
    // archive whole pages only; the rest waits in ghost
    const int64_t page = std::max<int64_t>(1, p.anchors.page);
    const int64_t full = int64_t(pending.size()) / page * page;
    std::vector<int64_t> arch(pending.begin(), pending.begin() + full);
    for (size_t i = size_t(full); i < pending.size(); ++i)
      if (Tier(tier[size_t(pending[i])]) != Tier::ghost) to[size_t(Tier::ghost)].push_back(pending[i]);
    for (int tt = 1; tt < kNumTiers; ++tt)
      if (tt != int(Tier::archive) && !to[size_t(tt)].empty()) move_batch(to[size_t(tt)], Tier(tt));
    if (!arch.empty()) move_batch(arch, Tier::archive);
  }

  // gathers every K,V (fast or slow) in token order
  void gather_all(std::vector<float>& k, std::vector<float>& v, int64_t* slow_bytes) {
    k.resize(size_t(n() * d));
    v.resize(size_t(n() * d));
    const int64_t before = mc.slow_read_bytes;
    for (int64_t t = 0; t < n(); ++t) fetch_kv(t, k.data() + t * d, v.data() + t * d);
    if (slow_bytes) *slow_bytes = mc.slow_read_bytes - before;
  }

  // records of every token with the current basis; archive tokens' records go to the slow region
  // only (their row is written there and dropped). Returns the number of archive records written.
  int64_t rebuild_records(const std::vector<float>& k, const std::vector<float>& v) {
    rec = quant_records_empty(spec, p.group);
    ast = QuantAppendState{p.range_sigmas, false};
    double sum = 0;
    int64_t archived = 0;
    const int64_t nt = int64_t(k.size()) / d;
    rtok.clear();
    for (int64_t t = 0; t < nt; ++t) {
      QuantAppendInfo info = quant_append_at(rec, ast, basis, k.data() + t * d, v.data() + t * d, t);
      sum += info.err_norm / std::max(info.c_norm, 1e-300);
      if (Tier(tier[size_t(t)]) == Tier::archive) {
        write_slow_rec_row(t, rec.n - 1);
        rec.n -= 1;
        rec.group_of.pop_back();
        rec.codes.resize(size_t(rec.n * rec.code_bytes));
        rec.nu.pop_back();
        ++archived;
      } else {
        rtok.push_back(t);
      }
    }
    reindex_rows();
    rows_dirty = false;
    fit_rel_err = nt > 0 ? sum / double(nt) : 0.0;
    drift.clear();
    since_refresh = 0;
    return archived;
  }
};

// ---------------- KvStore ----------------

KvStore::KvStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KvStore::~KvStore() = default;
KvStore::KvStore(KvStore&&) noexcept = default;
KvStore& KvStore::operator=(KvStore&&) noexcept = default;

static void check_params(const KvStoreParams& p, const Basis& basis) {
  GKV_CHECK(p.d_head > 0 && basis.d_head == p.d_head && int64_t(basis.vecs.size()) == p.d_head * p.d_head &&
                int64_t(basis.mu.size()) == p.d_head && int64_t(basis.variance.size()) == p.d_head,
            "kv store: basis has d_head ", basis.d_head, ", params d_head ", p.d_head);
  GKV_CHECK(p.group >= 1, "kv store: group must be >= 1, got ", p.group);
  GKV_CHECK(p.n_sink >= 0 && p.n_recent >= 0, "kv store: n_sink ", p.n_sink, ", n_recent ", p.n_recent,
            " must be >= 0");
  GKV_CHECK(p.anchors.kind != AnchorKind::none, "kv store: the archive tier needs anchors (page or kmeans)");
  GKV_CHECK(p.survival_steps >= 1 && p.survival_steps <= 32, "kv store: survival_steps ", p.survival_steps,
            " outside [1, 32]");
  GKV_CHECK(p.drift_window >= 1, "kv store: drift_window must be >= 1");
}

KvStore::KvStore(const KvStoreParams& p, Basis basis, SlowSpec slow) : impl_(std::make_unique<Impl>()) {
  check_params(p, basis);
  Impl& s = *impl_;
  s.p = p;
  s.d = p.d_head;
  s.spec = parse_bits(p.bits, p.d_head);
  s.basis = std::move(basis);
  s.rec = quant_records_empty(s.spec, p.group);
  s.ast = QuantAppendState{p.range_sigmas, false};
  s.n_recent = p.n_recent;
  s.skv = make_slow(slow, "");
  s.srec = make_slow(slow, ".rec");
  s.reindex_chunks();
}

QuantAppendInfo KvStore::append(const float* k, const float* v) {
  Impl& s = *impl_;
  const int64_t t_new = s.n();
  QuantAppendInfo info = quant_append_at(s.rec, s.ast, s.basis, k, v, t_new);
  s.tier.push_back(uint8_t(Tier::hot));
  s.kslot.push_back(-1);
  s.add_fast(t_new, k, v);
  s.rrow.push_back(s.rec.n - 1);
  s.rtok.push_back(t_new);
  s.hist.push_back(0);
  s.chunk_of.push_back(-1);
  s.local_of.push_back(-1);
  s.mc.appends += 1;
  const int64_t leaving = s.n() - 1 - s.n_recent;
  if (leaving >= s.p.n_sink && Tier(s.tier[size_t(leaving)]) == Tier::hot) s.set_tier(leaving, Tier::warm);
  s.drift.push_back(info.err_norm / std::max(info.c_norm, 1e-300));
  while (int64_t(s.drift.size()) > s.p.drift_window) s.drift.pop_front();
  s.since_refresh += 1;
  if (s.p.auto_policy) s.apply_policy();
  if (s.p.refresh_every > 0 && s.since_refresh >= s.p.refresh_every) {
    refresh("every");
  } else if (s.p.drift_ratio > 0 && int64_t(s.drift.size()) == s.p.drift_window) {
    double m = 0;
    for (double e : s.drift) m += e;
    m /= double(s.drift.size());
    // a basis given at construction has no fit baseline: the first M keys appended with it set it
    if (s.fit_rel_err <= 0) s.fit_rel_err = m;
    else if (m > s.p.drift_ratio * s.fit_rel_err) refresh("drift");
  }
  return info;
}

void KvStore::set_recent(int64_t n_recent) {
  Impl& s = *impl_;
  GKV_CHECK(n_recent >= 0, "kv store: n_recent must be >= 0, got ", n_recent);
  const int64_t n = s.n();
  if (n_recent < s.n_recent) {
    std::vector<int64_t> out;
    for (int64_t t = std::max(s.p.n_sink, n - s.n_recent); t < n - n_recent; ++t) out.push_back(t);
    s.n_recent = n_recent;
    for (int64_t t : out) s.set_tier(t, Tier::warm);
  } else if (n_recent > s.n_recent) {
    // tokens entering the window become hot (leaving archive chunks first)
    std::vector<int64_t> in;
    for (int64_t t = std::max(s.p.n_sink, n - n_recent); t < n - s.n_recent; ++t)
      if (Tier(s.tier[size_t(t)]) != Tier::hot) in.push_back(t);
    s.move_batch(in, Tier::warm);
    s.n_recent = n_recent;
    for (int64_t t : in) s.set_tier(t, Tier::hot);
  }
  s.sync_rows();
  if (s.p.auto_policy) s.apply_policy();
}

void KvStore::move(const std::vector<int64_t>& tokens, Tier to) {
  GKV_CHECK(to != Tier::hot, "kv store: hot is not a move target (it is the sinks + the recent window)");
  impl_->move_batch(tokens, to);
}

void KvStore::apply_policy() { impl_->apply_policy(); }

RefreshReport KvStore::refresh(const char* reason) {
  Impl& s = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t d = s.d, n = s.n();
  RefreshReport r;
  r.reason = reason;
  std::vector<float> k, v;
  s.gather_all(k, v, &r.slow_read_bytes);
  // refit on the resident (fast) keys; with fewer than 2·d of them, on every key
  std::vector<float> fit;
  for (int64_t t = 0; t < n; ++t)
    if (is_fast(Tier(s.tier[size_t(t)]))) fit.insert(fit.end(), k.begin() + t * d, k.begin() + (t + 1) * d);
  if (int64_t(fit.size()) / d < 2 * d) fit = k;
  r.n_fit = int64_t(fit.size()) / d;
  GKV_CHECK(r.n_fit >= 2, "kv store: refresh needs at least 2 keys, have ", r.n_fit);
  s.basis = fit_basis(BasisKind::pca, fit.data(), r.n_fit, d, d, d, 0);
  const int64_t archived = s.rebuild_records(k, v);
  int64_t anchor_bytes = 0;
  for (Chunk& c : s.chunks) {
    c.set = s.build_chunk(c.tokens, &k, &v);
    anchor_bytes += c.set.n_anchors * c.set.anchor_bytes();
  }
  s.reindex_chunks();
  r.bytes_rewritten = n * s.rec.record_bytes() + s.rec.n_groups * s.rec.group_meta_bytes() +
                      archived * s.rec.record_bytes() + anchor_bytes;
  s.mc.refreshes += 1;
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  s.last = r;
  return r;
}

const RefreshReport& KvStore::last_refresh() const { return impl_->last; }

StoreBounds KvStore::bounds(const double* q) const {
  const Impl& s = *impl_;
  StoreBounds b;
  b.token_ub.assign(size_t(s.n()), INFINITY);
  if (s.rec.n > 0) {  // resident rows only: archive tokens have no resident record (+inf here)
    QuantQuery pq = prepare_quant_query(s.basis, s.rec, q);
    std::vector<double> ub(size_t(s.rec.n));
    cpu::quant_bounds(s.rec, pq, 0, s.rec.n, ub.data());
    for (int64_t i = 0; i < s.rec.n; ++i) {
      const int64_t t = s.rtok[size_t(i)];
      if (Tier(s.tier[size_t(t)]) != Tier::hot) b.token_ub[size_t(t)] = ub[size_t(i)];
    }
  }
  b.anchor_ub.resize(size_t(s.n_anchors()));
  for (size_t c = 0; c < s.chunks.size(); ++c)
    cpu::anchor_bounds(s.chunks[c].set, s.basis, q, 0, s.chunks[c].set.n_anchors, b.anchor_ub.data() + s.chunk_off[c]);
  return b;
}

std::vector<double> KvStore::record_bounds(const double* q, const std::vector<int64_t>& tokens,
                                           const uint8_t* records) const {
  const Impl& s = *impl_;
  const int64_t m = int64_t(tokens.size()), cb = s.rec.code_bytes, rb = s.rec.record_bytes();
  std::vector<double> ub(size_t(m), INFINITY);
  if (m == 0) return ub;
  // a records view of the fetched rows (codes + the group of each token from the group table)
  QuantRecords v;
  v.d = s.rec.d;
  v.bits = s.rec.bits;
  v.code_bytes = cb;
  v.n = m;
  v.group_of.resize(size_t(m));
  v.codes.resize(size_t(m * cb));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t t = tokens[size_t(i)];
    GKV_CHECK(t >= 0 && t < s.n(), "kv store: record of token ", t, " outside [0, ", s.n(), ")");
    v.group_of[size_t(i)] = s.group_of_tok(t);
    std::memcpy(v.codes.data() + i * cb, records + i * rb, size_t(cb));
  }
  QuantQuery pq = prepare_quant_query(s.basis, s.rec, q);
  cpu::quant_bounds(v, pq, 0, m, ub.data());
  return ub;
}

StoreBounds KvStore::bounds_for_surviving_anchors(const double* q, const std::vector<uint8_t>& anchor_survive) const {
  const Impl& s = *impl_;
  GKV_CHECK(int64_t(anchor_survive.size()) == s.n_anchors(), "kv store: anchor mask has ", anchor_survive.size(),
            " entries, the store has ", s.n_anchors(), " anchors");
  StoreBounds b = bounds(q);
  std::vector<int64_t> toks;
  for (int64_t a = 0; a < s.n_anchors(); ++a)
    if (anchor_survive[size_t(a)]) {
      auto m = anchor_members(a);
      toks.insert(toks.end(), m.begin(), m.end());
    }
  std::sort(toks.begin(), toks.end());
  const int64_t rb = s.rec.record_bytes();
  std::vector<uint8_t> recs(toks.size() * size_t(rb));
  for (size_t i = 0; i < toks.size();) {
    size_t j = i + 1;
    while (j < toks.size() && toks[j] == toks[j - 1] + 1) ++j;
    s.srec->read(toks[i] * rb, recs.data() + i * size_t(rb), int64_t(j - i) * rb);
    i = j;
  }
  std::vector<double> ub = record_bounds(q, toks, recs.data());
  for (size_t i = 0; i < toks.size(); ++i) b.token_ub[size_t(toks[i])] = ub[i];
  return b;
}

StepRead KvStore::read(const StepDecision& dec) {
  Impl& s = *impl_;
  const int64_t n = s.n(), d = s.d, na = s.n_anchors();
  GKV_CHECK(int64_t(dec.survive.size()) == n, "kv store read: survive mask has ", dec.survive.size(),
            " entries, the store has ", n, " tokens");
  GKV_CHECK(int64_t(dec.anchor_survive.size()) == na, "kv store read: anchor mask has ", dec.anchor_survive.size(),
            " entries, the store has ", na, " anchors");
  StepRead out;
  StepCounters& sc = out.counters;
  auto& B = sc.bucket;
  sc.dense_bytes = n * 2 * d * 2;
  B[kNumTiers].meta_bytes = s.rec.meta_bytes(false);
  const int64_t rb = s.rec.record_bytes(), gmb = s.rec.group_meta_bytes();
  std::vector<std::vector<uint8_t>> seen(kNumTiers, std::vector<uint8_t>(size_t(s.rec.n_groups), 0));
  auto touch_group = [&](int tt, int64_t t) {
    const int64_t g = s.group_of_tok(t);
    if (!seen[size_t(tt)][size_t(g)]) {
      seen[size_t(tt)][size_t(g)] = 1;
      B[size_t(tt)].group_meta_bytes += gmb;
    }
  };
  // which tokens are read (K,V)
  std::vector<uint8_t> take(size_t(n), 0);
  for (int64_t t = 0; t < n; ++t) {
    const Tier tr = Tier(s.tier[size_t(t)]);
    B[size_t(tr)].tokens += 1;
    if (tr == Tier::hot) {
      take[size_t(t)] = 1;
      continue;
    }
    if (tr == Tier::warm || tr == Tier::ghost) {
      B[size_t(tr)].records_read += 1;
      B[size_t(tr)].record_bytes += rb;
      touch_group(int(tr), t);
    }
    if (dec.survive[size_t(t)]) {
      if (tr == Tier::archive) {
        const int64_t a = s.global_anchor(t);
        GKV_CHECK(dec.anchor_survive[size_t(a)], "kv store read: archive token ", t, " survives but its anchor ", a,
                  " was eliminated");
      }
      take[size_t(t)] = 1;
    }
  }
  // archive: every anchor read; surviving anchors bring in their members' records (coalesced runs)
  auto& A = B[size_t(Tier::archive)];
  for (const Chunk& c : s.chunks) {
    A.anchors_read += c.set.n_anchors;
    A.anchor_bytes += c.set.n_anchors * c.set.anchor_bytes();
  }
  std::vector<int64_t> rec_toks;
  for (int64_t a = 0; a < na; ++a) {
    if (!dec.anchor_survive[size_t(a)]) continue;
    auto m = anchor_members(a);
    rec_toks.insert(rec_toks.end(), m.begin(), m.end());
  }
  std::sort(rec_toks.begin(), rec_toks.end());
  out.fetched_record_tokens = rec_toks;
  out.fetched_records.resize(rec_toks.size() * size_t(rb));
  for (size_t i = 0; i < rec_toks.size();) {
    size_t j = i + 1;
    while (j < rec_toks.size() && rec_toks[j] == rec_toks[j - 1] + 1) ++j;
    s.srec->read(rec_toks[i] * rb, out.fetched_records.data() + i * size_t(rb), int64_t(j - i) * rb);
    A.fetches += 1;
    A.copied_bytes += int64_t(j - i) * rb;
    for (size_t u = i; u < j; ++u) touch_group(int(Tier::archive), rec_toks[u]);
    i = j;
  }
  A.records_read += int64_t(rec_toks.size());
  A.record_bytes += int64_t(rec_toks.size()) * rb;
  // K,V of hot tokens and survivors, in token order; runs of slow tokens are one fetch each
  for (int64_t t = 0; t < n; ++t)
    if (take[size_t(t)]) out.tokens.push_back(t);
  const int64_t m = int64_t(out.tokens.size());
  out.k.resize(size_t(m * d));
  out.v.resize(size_t(m * d));
  std::vector<float> buf;
  for (int64_t i = 0; i < m;) {
    const int64_t t = out.tokens[size_t(i)];
    const Tier tr = Tier(s.tier[size_t(t)]);
    auto& C = B[size_t(tr)];
    if (is_fast(tr)) {
      std::memcpy(out.k.data() + i * d, s.fast_k(t), size_t(d * 4));
      std::memcpy(out.v.data() + i * d, s.fast_v(t), size_t(d * 4));
      C.kv_read += 1;
      C.kv_bytes += 2 * d * 2;
      C.copied_bytes += 2 * d * 4;
      ++i;
      continue;
    }
    int64_t j = i + 1;
    while (j < m && out.tokens[size_t(j)] == out.tokens[size_t(j - 1)] + 1 && Tier(s.tier[size_t(out.tokens[size_t(j)])]) == tr)
      ++j;
    const int64_t run = j - i;
    buf.resize(size_t(run * 2 * d));
    s.skv->read(t * s.kv_slot(), buf.data(), run * s.kv_slot());
    for (int64_t u = 0; u < run; ++u) {
      std::memcpy(out.k.data() + (i + u) * d, buf.data() + u * 2 * d, size_t(d * 4));
      std::memcpy(out.v.data() + (i + u) * d, buf.data() + u * 2 * d + d, size_t(d * 4));
    }
    C.fetches += 1;
    C.kv_read += run;
    C.kv_bytes += run * 2 * d * 2;
    C.copied_bytes += run * s.kv_slot();
    i = j;
  }
  for (const auto& b : B) sc.total += b;
  for (int64_t t = 0; t < n; ++t) s.hist[size_t(t)] = (s.hist[size_t(t)] << 1) | (take[size_t(t)] ? 1u : 0u);
  s.cum += sc;
  s.steps += 1;
  if (s.p.auto_policy && s.p.policy == TierPolicy::survival) s.apply_policy();
  return out;
}

int64_t KvStore::n() const { return impl_->n(); }
int64_t KvStore::d() const { return impl_->d; }
Tier KvStore::tier(int64_t t) const { return Tier(impl_->tier.at(size_t(t))); }
std::array<int64_t, kNumTiers> KvStore::tier_counts() const {
  std::array<int64_t, kNumTiers> c{};
  for (uint8_t t : impl_->tier) c[t] += 1;
  return c;
}
int64_t KvStore::n_anchors() const { return impl_->n_anchors(); }
std::vector<int64_t> KvStore::anchor_members(int64_t a) const {
  const Impl& s = *impl_;
  GKV_CHECK(a >= 0 && a < s.n_anchors(), "kv store: anchor ", a, " outside [0, ", s.n_anchors(), ")");
  const size_t c = size_t(std::upper_bound(s.chunk_off.begin(), s.chunk_off.end(), a) - s.chunk_off.begin() - 1);
  const AnchorSet& set = s.chunks[c].set;
  const int64_t la = a - s.chunk_off[c];
  std::vector<int64_t> m;
  for (int64_t i = set.member_start[size_t(la)]; i < set.member_start[size_t(la + 1)]; ++i)
    m.push_back(s.chunks[c].tokens[size_t(set.members[size_t(i)])]);
  std::sort(m.begin(), m.end());
  return m;
}
int64_t KvStore::anchor_of(int64_t t) const { return impl_->global_anchor(t); }
const Basis& KvStore::basis() const { return impl_->basis; }
const QuantRecords& KvStore::records() const { return impl_->rec; }
int64_t KvStore::record_row(int64_t t) const { return impl_->rrow.at(size_t(t)); }

int64_t ResidentBytes::fast_kv() const {
  int64_t s = 0;
  for (const auto& t : tier) s += t.fast_kv;
  return s;
}
int64_t ResidentBytes::records() const {
  int64_t s = 0;
  for (const auto& t : tier) s += t.record;
  return s;
}

ResidentBytes KvStore::resident_bytes() const {
  const Impl& s = *impl_;
  ResidentBytes r;
  const int64_t rb = s.rec.record_bytes();
  for (uint8_t t : s.tier) {
    auto& x = r.tier[t];
    x.tokens += 1;
    if (!is_fast(Tier(t))) x.slow_kv += s.kv_slot();
    if (Tier(t) == Tier::archive) x.slow_record += rb;
  }
  // from the containers themselves: what each fast slot / resident row belongs to
  for (int64_t t : s.ktok) r.tier[s.tier[size_t(t)]].fast_kv += 2 * s.d * 4;
  for (int64_t t : s.rtok) r.tier[s.tier[size_t(t)]].record += rb;
  GKV_ASSERT(r.fast_kv() == int64_t(s.fk.size() + s.fv.size()) * 4, "kv store: fast slot accounting");
  GKV_ASSERT(r.records() == int64_t(s.rec.codes.size() + s.rec.nu.size() * 2), "kv store: record accounting");
  for (const Chunk& c : s.chunks) r.tier[size_t(Tier::archive)].anchor += c.set.n_anchors * c.set.anchor_bytes();
  r.group_tables = int64_t(s.rec.group_start.size()) * 8 + int64_t(s.rec.half_step.size() + s.rec.err.size()) * 2;
  r.record_index = int64_t(s.rec.group_of.size()) * 8;
  r.token_index = int64_t(s.tier.size() + s.hist.size() * 4) +
                  8 * int64_t(s.kslot.size() + s.rrow.size() + s.chunk_of.size() + s.local_of.size() + s.ktok.size() +
                              s.rtok.size());
  r.slow_kv_region = s.skv->size();
  r.slow_record_region = s.srec->size();
  return r;
}
const KvStoreParams& KvStore::params() const { return impl_->p; }
const StepCounters& KvStore::cumulative() const { return impl_->cum; }
const MaintenanceCounters& KvStore::maintenance() const { return impl_->mc; }

bool KvStore::check_invariants(std::string* why) const {
  const Impl& s = *impl_;
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  const int64_t n = s.n();
  if (int64_t(s.kslot.size()) != n || int64_t(s.rrow.size()) != n || int64_t(s.hist.size()) != n ||
      int64_t(s.fk.size()) != int64_t(s.ktok.size()) * s.d || s.fv.size() != s.fk.size() ||
      int64_t(s.rtok.size()) != s.rec.n || int64_t(s.rec.group_of.size()) != s.rec.n ||
      int64_t(s.rec.codes.size()) != s.rec.n * s.rec.code_bytes || int64_t(s.rec.nu.size()) != s.rec.n)
    return fail("sizes");
  for (size_t i = 0; i < s.ktok.size(); ++i)
    if (s.ktok[i] < 0 || s.ktok[i] >= n || s.kslot[size_t(s.ktok[i])] != int64_t(i)) return fail("fast slot map");
  for (size_t i = 0; i < s.rtok.size(); ++i)
    if (s.rtok[i] < 0 || s.rtok[i] >= n || s.rrow[size_t(s.rtok[i])] != int64_t(i) || (i > 0 && s.rtok[i] <= s.rtok[i - 1]))
      return fail("record row map");
  std::vector<int> cover(size_t(n), 0);
  for (int64_t a = 0; a < s.n_anchors(); ++a)
    for (int64_t t : anchor_members(a)) cover[size_t(t)] += 1;
  for (int64_t t = 0; t < n; ++t) {
    const Tier tr = Tier(s.tier[size_t(t)]);
    if (s.tier[size_t(t)] >= kNumTiers) return fail(str_cat("token ", t, ": no tier"));
    if ((tr == Tier::hot) != s.is_hot(t)) return fail(str_cat("token ", t, ": hot iff sink or recent"));
    if ((tr == Tier::archive) != (cover[size_t(t)] == 1) || cover[size_t(t)] > 1)
      return fail(str_cat("token ", t, ": archive iff in exactly one anchor (", cover[size_t(t)], ")"));
    if (is_fast(tr) != (s.kslot[size_t(t)] >= 0))
      return fail(str_cat("token ", t, ": fast slot state disagrees with tier ", tier_name(tr)));
    if ((tr == Tier::archive) != (s.rrow[size_t(t)] < 0))
      return fail(str_cat("token ", t, ": resident record state disagrees with tier ", tier_name(tr)));
    const int64_t g = s.group_of_tok(t);
    if (g < 0 || g >= s.rec.n_groups || s.rec.group_start[size_t(g)] > t || t >= s.rec.group_start[size_t(g + 1)])
      return fail(str_cat("token ", t, ": group index"));
  }
  if (s.rec.group_start.back() != n || s.rec.n_groups + 1 != int64_t(s.rec.group_start.size()))
    return fail("group table");
  if (!s.cum.consistent()) return fail("cumulative counters: buckets do not sum to the total");
  return true;
}

// ---------------- persistence ----------------

static constexpr char kMagic[8] = {'G', 'K', 'V', 'S', 'T', 'O', 'R', 'E'};
// version 2: group_of / codes / ν hold the resident rows only (non-archive tokens, in token order);
// archive records are only in the trailing archive-record section
static constexpr uint32_t kVersion = 2;
static constexpr int kCounterFields = int(sizeof(TierCounters) / 8);
static_assert(sizeof(TierCounters) % 8 == 0);

void KvStore::save(const std::string& path) const {
  const Impl& s = *impl_;
  const int64_t n = s.n(), d = s.d;
  std::vector<int64_t> chunk_sizes;
  for (const Chunk& c : s.chunks) chunk_sizes.push_back(int64_t(c.tokens.size()));
  const KvStoreParams& p = s.p;
  nlohmann::json h = {
      {"d_head", d}, {"n", n}, {"bits", p.bits}, {"group", p.group}, {"n_sink", p.n_sink},
      {"n_recent_param", p.n_recent}, {"n_recent", s.n_recent},
      {"policy", p.policy == TierPolicy::age ? "age" : "survival"}, {"auto_policy", p.auto_policy},
      {"ghost_after", p.ghost_after}, {"archive_after", p.archive_after}, {"survival_steps", p.survival_steps},
      {"survival_min", p.survival_min}, {"refresh_every", p.refresh_every}, {"drift_window", p.drift_window},
      {"anchor_kind", akind_name(p.anchors.kind)},
      {"anchor_bound", p.anchors.bound == AnchorBound::box ? "box" : "ball"},
      {"anchor_space", p.anchors.space == AnchorSpace::orig ? "orig" : "rot"}, {"page", p.anchors.page},
      {"clusters", p.anchors.clusters}, {"iterations", p.anchors.iterations}, {"anchor_seed", p.anchors.seed},
      {"basis_kind", basis_kind_name(s.basis.kind)}, {"basis_rank", s.basis.rank}, {"n_groups", s.rec.n_groups},
      {"code_bytes", s.rec.code_bytes}, {"open", s.ast.open}, {"drift_len", int64_t(s.drift.size())},
      {"since_refresh", s.since_refresh}, {"steps", s.steps}, {"chunk_sizes", chunk_sizes},
      {"maintenance", {s.mc.appends, s.mc.moves, s.mc.refreshes, s.mc.slow_write_bytes, s.mc.slow_read_bytes,
                       s.mc.anchor_rebuilds}}};
  const std::string hs = h.dump();
  std::string out(kMagic, 8);
  auto put = [&](const void* ptr, size_t nb) { out.append(reinterpret_cast<const char*>(ptr), nb); };
  auto putv = [&](const auto& vec) { put(vec.data(), vec.size() * sizeof(vec[0])); };
  put(&kVersion, 4);
  const uint64_t hl = hs.size();
  put(&hl, 8);
  out += hs;
  // doubles kept bit-exact in the payload
  const double dbl[3] = {p.range_sigmas, p.drift_ratio, s.fit_rel_err};
  put(dbl, sizeof dbl);
  putv(s.basis.vecs);
  putv(s.basis.mu);
  putv(s.basis.variance);
  putv(s.rec.group_start);
  putv(s.rec.group_of);
  putv(s.rec.codes);
  putv(s.rec.half_step);
  putv(s.rec.err);
  putv(s.rec.nu);
  put(&s.rec.resid_max, 8);
  putv(s.tier);
  putv(s.hist);
  for (const Chunk& c : s.chunks) putv(c.tokens);
  std::vector<double> dr(s.drift.begin(), s.drift.end());
  putv(dr);
  for (const auto& b : s.cum.bucket) put(&b, sizeof b);
  put(&s.cum.total, sizeof s.cum.total);
  put(&s.cum.dense_bytes, 8);
  // K,V: fast tokens from fast memory, slow tokens from the slow region; archive records
  std::vector<float> kv(size_t(2 * d));
  const int64_t rb = s.rec.record_bytes();
  std::vector<uint8_t> rbuf(static_cast<size_t>(rb));
  for (int64_t t = 0; t < n; ++t) {
    if (is_fast(Tier(s.tier[size_t(t)]))) {
      put(s.fast_k(t), size_t(d * 4));
      put(s.fv.data() + s.kslot[size_t(t)] * d, size_t(d * 4));
    } else {
      s.skv->read(t * s.kv_slot(), kv.data(), s.kv_slot());
      putv(kv);
    }
  }
  for (int64_t t = 0; t < n; ++t)
    if (Tier(s.tier[size_t(t)]) == Tier::archive) {
      s.srec->read(t * rb, rbuf.data(), rb);
      putv(rbuf);
    }
  write_file_atomic(path, out);
}

KvStore KvStore::load(const std::string& path, SlowSpec slow) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f.good(), path, ": cannot open kv store file");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string data = ss.str();
  GKV_CHECK(data.size() >= 20 && std::memcmp(data.data(), kMagic, 8) == 0, path,
            ": not a GhostKV store file (bad magic; expected \"GKVSTORE\", written by KvStore::save)");
  uint32_t ver;
  uint64_t hl;
  std::memcpy(&ver, data.data() + 8, 4);
  std::memcpy(&hl, data.data() + 12, 8);
  GKV_CHECK(ver == kVersion, path, ": kv store file version ", ver, ", this build reads version ", kVersion);
  GKV_CHECK(hl <= data.size() - 20, path, ": header length ", hl, " beyond the file size ", data.size());
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  KvStoreParams& p = s.p;
  int64_t n = 0, n_groups = 0, code_bytes = 0, drift_len = 0;
  std::vector<int64_t> chunk_sizes;
  std::string basis_kind;
  try {
    nlohmann::json h = nlohmann::json::parse(data.substr(20, hl));
    p.d_head = h.at("d_head");
    n = h.at("n");
    p.bits = h.at("bits");
    p.group = h.at("group");
    p.n_sink = h.at("n_sink");
    p.n_recent = h.at("n_recent_param");
    s.n_recent = h.at("n_recent");
    p.policy = h.at("policy") == "age" ? TierPolicy::age : TierPolicy::survival;
    p.auto_policy = h.at("auto_policy");
    p.ghost_after = h.at("ghost_after");
    p.archive_after = h.at("archive_after");
    p.survival_steps = h.at("survival_steps");
    p.survival_min = h.at("survival_min");
    p.refresh_every = h.at("refresh_every");
    p.drift_window = h.at("drift_window");
    p.anchors.kind = parse_anchor_kind(h.at("anchor_kind"));
    p.anchors.bound = parse_anchor_bound(h.at("anchor_bound"));
    p.anchors.space = parse_anchor_space(h.at("anchor_space"));
    p.anchors.page = h.at("page");
    p.anchors.clusters = h.at("clusters");
    p.anchors.iterations = h.at("iterations");
    p.anchors.seed = h.at("anchor_seed");
    basis_kind = h.at("basis_kind");
    s.basis.rank = h.at("basis_rank");
    n_groups = h.at("n_groups");
    code_bytes = h.at("code_bytes");
    s.ast.open = h.at("open");
    drift_len = h.at("drift_len");
    s.since_refresh = h.at("since_refresh");
    s.steps = h.at("steps");
    chunk_sizes = h.at("chunk_sizes").get<std::vector<int64_t>>();
    auto m = h.at("maintenance").get<std::vector<int64_t>>();
    GKV_CHECK(m.size() == 6, "maintenance counters: ", m.size(), " entries, expected 6");
    s.mc = {m[0], m[1], m[2], m[3], m[4], m[5]};
  } catch (const std::exception& e) {
    throw Error(str_cat(path, ": bad kv store header: ", e.what()));
  }
  const int64_t d = p.d_head;
  GKV_CHECK(d > 0 && d <= 4096 && n >= 0 && n <= (int64_t(1) << 32) && n_groups >= 0 && n_groups <= n + 1 &&
                drift_len >= 0 && drift_len <= (int64_t(1) << 24),
            path, ": implausible header (d_head ", d, ", n ", n, ", n_groups ", n_groups, ")");
  try {
    s.spec = parse_bits(p.bits, d);
  } catch (const Error& e) {
    throw Error(str_cat(path, ": ", e.what()));
  }
  GKV_CHECK(code_bytes == (s.spec.total_bits() + 7) / 8, path, ": code_bytes ", code_bytes, " does not match bits '",
            p.bits, "'");
  int64_t n_arch_sum = 0;
  for (int64_t c : chunk_sizes) {
    GKV_CHECK(c > 0 && c <= n, path, ": bad anchor chunk size ", c);
    n_arch_sum += c;
  }
  GKV_CHECK(n_arch_sum <= n, path, ": anchor chunks hold ", n_arch_sum, " tokens, the store has ", n);
  const uint64_t rb = uint64_t(code_bytes + 2);
  const int64_t n_res = n - n_arch_sum;  // resident record rows
  const uint64_t fixed = 24 + uint64_t(d * d * 4 + d * 4 + d * 8) + uint64_t(n_groups + 1) * 8 + uint64_t(n_res) * 8 +
                         uint64_t(n_res) * uint64_t(code_bytes) + uint64_t(n_groups * d) * 4 + uint64_t(n_res) * 2 + 8 +
                         uint64_t(n) * 5 + uint64_t(n_arch_sum) * 8 + uint64_t(drift_len) * 8 +
                         uint64_t(kNumBuckets + 1) * sizeof(TierCounters) + 8 + uint64_t(n) * uint64_t(2 * d * 4) +
                         uint64_t(n_arch_sum) * rb;
  GKV_CHECK(data.size() - 20 - hl == fixed, path, ": payload is ", data.size() - 20 - hl, " bytes, the header needs ",
            fixed, " (n ", n, ", d_head ", d, ", ", n_groups, " groups; truncated or corrupt file?)");
  const char* cur = data.data() + 20 + hl;
  auto take = [&](void* dst, size_t nb) {
    std::memcpy(dst, cur, nb);
    cur += nb;
  };
  auto takev = [&](auto& vec, size_t count) {
    vec.resize(count);
    take(vec.data(), count * sizeof(vec[0]));
  };
  double dbl[3];
  take(dbl, sizeof dbl);
  p.range_sigmas = dbl[0];
  p.drift_ratio = dbl[1];
  s.fit_rel_err = dbl[2];
  s.basis.kind = parse_basis_kind(basis_kind);
  s.basis.d_head = d;
  takev(s.basis.vecs, size_t(d * d));
  takev(s.basis.mu, size_t(d));
  takev(s.basis.variance, size_t(d));
  QuantRecords& r = s.rec;
  r = quant_records_empty(s.spec, p.group);
  r.n = n_res;
  r.n_groups = n_groups;
  takev(r.group_start, size_t(n_groups + 1));
  takev(r.group_of, size_t(n_res));
  takev(r.codes, size_t(n_res * code_bytes));
  takev(r.half_step, size_t(n_groups * d));
  takev(r.err, size_t(n_groups * d));
  takev(r.nu, size_t(n_res));
  take(&r.resid_max, 8);
  // structural checks before anything indexes with these numbers
  GKV_CHECK(r.group_start.front() == 0 && r.group_start.back() == n &&
                std::is_sorted(r.group_start.begin(), r.group_start.end()),
            path, ": corrupt group table");
  takev(s.tier, size_t(n));
  takev(s.hist, size_t(n));
  int64_t n_arch = 0;
  for (uint8_t t : s.tier) {
    GKV_CHECK(t < kNumTiers, path, ": bad tier code ", int(t));
    n_arch += Tier(t) == Tier::archive;
  }
  GKV_CHECK(n_arch == n_arch_sum, path, ": ", n_arch, " archive tokens, the anchor chunks hold ", n_arch_sum);
  for (int64_t t = 0; t < n; ++t)
    if (Tier(s.tier[size_t(t)]) != Tier::archive) s.rtok.push_back(t);
  for (int64_t i = 0; i < n_res; ++i) {
    const int64_t g = r.group_of[size_t(i)], t = s.rtok[size_t(i)];
    GKV_CHECK(g >= 0 && g < n_groups && r.group_start[size_t(g)] <= t && t < r.group_start[size_t(g + 1)], path,
              ": corrupt group index of token ", t);
  }
  for (int64_t c : chunk_sizes) {
    Chunk ch;
    takev(ch.tokens, size_t(c));
    for (int64_t t : ch.tokens)
      GKV_CHECK(t >= 0 && t < n && Tier(s.tier[size_t(t)]) == Tier::archive, path, ": anchor chunk token ", t,
                " is not an archived token");
    s.chunks.push_back(std::move(ch));
  }
  std::vector<double> dr;
  takev(dr, size_t(drift_len));
  s.drift.assign(dr.begin(), dr.end());
  for (auto& b : s.cum.bucket) take(&b, sizeof b);
  take(&s.cum.total, sizeof s.cum.total);
  take(&s.cum.dense_bytes, 8);
  s.d = d;
  s.ast.range_sigmas = p.range_sigmas;
  try {
    check_params(p, s.basis);
  } catch (const Error& e) {
    throw Error(str_cat(path, ": ", e.what()));
  }
  s.skv = make_slow(slow, "");
  s.srec = make_slow(slow, ".rec");
  s.kslot.assign(size_t(n), -1);
  s.reindex_rows();
  std::vector<float> kv(size_t(2 * d));
  for (int64_t t = 0; t < n; ++t) {
    takev(kv, size_t(2 * d));
    if (is_fast(Tier(s.tier[size_t(t)]))) {
      s.add_fast(t, kv.data(), kv.data() + d);
    } else {
      s.skv->write(t * s.kv_slot(), kv.data(), s.kv_slot());
    }
  }
  std::vector<uint8_t> rbuf;
  for (int64_t t = 0; t < n; ++t)
    if (Tier(s.tier[size_t(t)]) == Tier::archive) {
      takev(rbuf, size_t(rb));
      s.srec->write(t * int64_t(rb), rbuf.data(), int64_t(rb));
    }
  GKV_ASSERT(cur == data.data() + data.size(), "kv store load: payload accounting");
  // anchors are derived data: rebuilt deterministically from the archived K,V and the basis
  const MaintenanceCounters saved = s.mc;
  s.reindex_chunks();
  for (Chunk& c : s.chunks) c.set = s.build_chunk(c.tokens, nullptr, nullptr);
  s.mc = saved;
  s.reindex_chunks();
  KvStore store(std::move(impl));
  std::string why;
  GKV_CHECK(store.check_invariants(&why), path, ": inconsistent kv store (", why, ")");
  return store;
}

}  // namespace ghostkv
