// Tiered KV store (kv_store.h): tier/counter invariants under maintenance, soundness of the store's
// bounds after appends (incl. out-of-distribution keys) and basis refreshes, bit-exact save/load,
// a really-read file-backed slow region, bad files, and the cost of an append / a refresh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ghostkv/error.h"
#include "ghostkv/kv_store.h"

namespace ghostkv {
namespace {

enum class Dist { gauss, heavy, outlier_channels, reversed };

struct Data {
  int64_t d;
  std::vector<float> k, v;  // every appended token, [n, d]
};

void gen(Data& D, int64_t n, Dist dist, std::mt19937_64& rng, double scale = 1.0) {
  const int64_t d = D.d;
  std::normal_distribution<double> nd(0, 1);
  std::chi_squared_distribution<double> chi(3);
  for (int64_t t = 0; t < n; ++t) {
    const double w = dist == Dist::heavy ? std::sqrt(3.0 / std::max(chi(rng), 1e-3)) : 1.0;
    for (int64_t i = 0; i < d; ++i) {
      double sc = 3.0 / (1.0 + 0.2 * double(dist == Dist::reversed ? d - 1 - i : i));  // anisotropic
      if (dist == Dist::outlier_channels && (i % 17) == 3) sc *= 20;
      D.k.push_back(float(scale * w * sc * nd(rng) + 0.5));
      D.v.push_back(float(nd(rng)));
    }
  }
}

Basis fit_on(const Data& D, int64_t n) { return fit_basis(BasisKind::pca, D.k.data(), n, D.d, D.d, D.d, 0); }

void append_range(KvStore& s, const Data& D, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) s.append(D.k.data() + t * D.d, D.v.data() + t * D.d);
}

// exact centred score q·(k_t − μ) with the store's stored μ, in long double (exact enough: the
// bounds carry ≥ 2^-30 relative slack, long double products err by 2^-64)
long double exact_centred(const KvStore& s, const Data& D, int64_t t, const double* q) {
  long double acc = 0;
  for (int64_t i = 0; i < D.d; ++i)
    acc += (long double)q[i] * ((long double)D.k[size_t(t * D.d + i)] - (long double)s.basis().mu[size_t(i)]);
  return acc;
}

// Counts violations of the store's token and anchor bounds for a few queries, some aligned with keys
// (nearly tight) and some random.
int64_t violations(const KvStore& s, const Data& D, std::mt19937_64& rng, int n_q = 6) {
  int64_t bad = 0;
  std::normal_distribution<double> nd(0, 1);
  for (int qi = 0; qi < n_q; ++qi) {
    std::vector<double> q(static_cast<size_t>(D.d));
    if (qi % 2 == 0 && s.n() > 0) {
      const int64_t t = int64_t(rng() % uint64_t(s.n()));
      for (int64_t i = 0; i < D.d; ++i) q[size_t(i)] = 0.1 * D.k[size_t(t * D.d + i)];
    } else {
      for (auto& x : q) x = nd(rng) * 0.3;
    }
    StoreBounds b = s.bounds(q.data());
    for (int64_t t = 0; t < s.n(); ++t) {
      if (s.tier(t) == Tier::hot) continue;
      if ((long double)b.token_ub[size_t(t)] < exact_centred(s, D, t, q.data())) ++bad;
    }
    for (int64_t a = 0; a < s.n_anchors(); ++a)
      for (int64_t t : s.anchor_members(a))
        if ((long double)b.anchor_ub[size_t(a)] < exact_centred(s, D, t, q.data())) ++bad;
  }
  return bad;
}

KvStoreParams small_params(int64_t d) {
  KvStoreParams p;
  p.d_head = d;
  p.bits = "8x8,4x8,2";
  p.group = 16;
  p.n_sink = 4;
  p.n_recent = 16;
  p.ghost_after = 48;
  p.archive_after = 96;
  p.anchors.page = 8;
  return p;
}

void expect_ok(const KvStore& s) {
  std::string why;
  EXPECT_TRUE(s.check_invariants(&why)) << why;
  auto c = s.tier_counts();
  EXPECT_EQ(c[0] + c[1] + c[2] + c[3], s.n());
}

StepDecision random_decision(const KvStore& s, std::mt19937_64& rng, double p_surv) {
  StepDecision dec;
  dec.anchor_survive.resize(size_t(s.n_anchors()));
  for (auto& a : dec.anchor_survive) a = (rng() % 3 == 0);
  dec.survive.resize(size_t(s.n()));
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t t = 0; t < s.n(); ++t) {
    bool ok = u(rng) < p_surv;
    if (s.tier(t) == Tier::archive) ok = ok && dec.anchor_survive[size_t(s.anchor_of(t))];
    dec.survive[size_t(t)] = ok;
  }
  return dec;
}

// checks a step's reads against the original K,V and its counters against the decision
// the tiers before the step (read() may apply the survival policy afterwards)
struct Snap {
  std::vector<Tier> tier;
  std::array<int64_t, kNumTiers> counts;
  int64_t n_anchors;
  int64_t n() const { return int64_t(tier.size()); }
};
Snap snap(const KvStore& s) {
  Snap x{{}, s.tier_counts(), s.n_anchors()};
  for (int64_t t = 0; t < s.n(); ++t) x.tier.push_back(s.tier(t));
  return x;
}

void check_read(const KvStore& store, const Snap& s, const Data& D, const StepDecision& dec, const StepRead& r) {
  const int64_t d = D.d;
  ASSERT_TRUE(r.counters.consistent());
  int64_t expect_tok = 0, slow_kv = 0;
  for (int64_t t = 0; t < s.n(); ++t) {
    const bool taken = s.tier[size_t(t)] == Tier::hot || dec.survive[size_t(t)];
    expect_tok += taken;
    slow_kv += taken && (s.tier[size_t(t)] == Tier::ghost || s.tier[size_t(t)] == Tier::archive);
  }
  ASSERT_EQ(int64_t(r.tokens.size()), expect_tok);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const int64_t t = r.tokens[i];
    ASSERT_EQ(0, std::memcmp(r.k.data() + i * size_t(d), D.k.data() + t * d, size_t(d * 4))) << "token " << t;
    ASSERT_EQ(0, std::memcmp(r.v.data() + i * size_t(d), D.v.data() + t * d, size_t(d * 4))) << "token " << t;
  }
  const auto& B = r.counters.bucket;
  const int64_t rb = store.records().record_bytes();
  EXPECT_EQ(B[2].copied_bytes + B[3].copied_bytes,
            slow_kv * 2 * d * 4 + int64_t(r.fetched_record_tokens.size()) * rb);
  EXPECT_EQ(r.counters.total.kv_bytes, expect_tok * 2 * d * 2);
  EXPECT_EQ(B[1].records_read, s.counts[1]);
  EXPECT_EQ(B[2].records_read, s.counts[2]);
  EXPECT_EQ(B[3].anchors_read, s.n_anchors);
  // fetched archive records: archive tokens without a resident record, whose bounds from the
  // fetched records are sound
  ASSERT_EQ(r.fetched_records.size(), r.fetched_record_tokens.size() * size_t(rb));
  std::vector<double> q(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) q[size_t(i)] = 0.05 * double((i * 7) % 5) - 0.1;
  const std::vector<double> ub = store.record_bounds(q.data(), r.fetched_record_tokens, r.fetched_records.data());
  for (size_t i = 0; i < r.fetched_record_tokens.size(); ++i) {
    const int64_t t = r.fetched_record_tokens[i];
    ASSERT_EQ(s.tier[size_t(t)], Tier::archive);
    if (store.tier(t) == Tier::archive) { ASSERT_EQ(store.record_row(t), -1) << t; }
    ASSERT_GE((long double)ub[i], exact_centred(store, D, t, q.data())) << "token " << t;
  }
}

TEST(KvStore, TiersAndCountersStayConsistent) {
  const int64_t d = 32;
  std::mt19937_64 rng(11);
  Data D{d, {}, {}};
  gen(D, 400, Dist::gauss, rng);
  KvStore s(small_params(d), fit_on(D, 64));
  StepCounters sum;
  for (int64_t t = 0; t < 300; ++t) {
    append_range(s, D, t, t + 1);
    if (t % 25 == 0) {
      expect_ok(s);
      StepDecision dec = random_decision(s, rng, 0.3);
      const Snap before = snap(s);
      StepRead r = s.read(dec);
      check_read(s, before, D, dec, r);
      sum += r.counters;
      EXPECT_EQ(sum, s.cumulative());
    }
  }
  auto c = s.tier_counts();
  EXPECT_EQ(c[0], 4 + 16);
  EXPECT_GT(c[1], 0);
  EXPECT_GT(c[2], 0);
  EXPECT_GT(c[3], 0);
  EXPECT_GT(s.n_anchors(), 0);
  // age policy: tier is a function of age (archive in whole pages)
  for (int64_t t = 4; t < 300 - 16; ++t) {
    const int64_t age = 299 - t;
    if (age < 48) { EXPECT_EQ(s.tier(t), Tier::warm) << t; }
    if (age >= 48 && age < 96) { EXPECT_EQ(s.tier(t), Tier::ghost) << t; }
  }
  // explicit moves (policy off so they stick): archive → warm, warm → archive, ghost → warm
  KvStoreParams p = small_params(d);
  p.auto_policy = false;
  KvStore m(p, fit_on(D, 64));
  append_range(m, D, 0, 200);
  expect_ok(m);
  m.move({10, 11, 12, 50, 51, 90}, Tier::ghost);
  m.move({20, 21, 22, 23, 24, 25, 26, 27, 28}, Tier::archive);
  expect_ok(m);
  EXPECT_EQ(m.tier(10), Tier::ghost);
  EXPECT_EQ(m.tier(24), Tier::archive);
  m.move({24, 25}, Tier::warm);  // out of an anchor chunk: the chunk is rebuilt
  expect_ok(m);
  EXPECT_EQ(m.tier(24), Tier::warm);
  EXPECT_EQ(m.tier(26), Tier::archive);
  EXPECT_THROW(m.move({199}, Tier::ghost), Error);  // recent window: hot
  m.set_recent(4);  // slide/shrink the window: 12 tokens go warm
  expect_ok(m);
  EXPECT_EQ(m.tier_counts()[0], 4 + 4);
  m.set_recent(40);  // widen: tokens come back hot from any tier
  expect_ok(m);
  EXPECT_EQ(m.tier_counts()[0], 4 + 40);
  RefreshReport rr = m.refresh();
  expect_ok(m);
  EXPECT_GT(rr.bytes_rewritten, 0);
  for (int i = 0; i < 5; ++i) {
    StepDecision dec = random_decision(m, rng, 0.5);
    const Snap before = snap(m);
    check_read(m, before, D, dec, m.read(dec));
  }
  EXPECT_EQ(violations(m, D, rng), 0);
  // an archive token may not survive when its anchor was eliminated
  StepDecision dec = random_decision(m, rng, 0.0);
  std::fill(dec.anchor_survive.begin(), dec.anchor_survive.end(), 0);
  dec.survive[26] = 1;
  EXPECT_THROW(m.read(dec), Error);
}

TEST(KvStore, BoundsSoundAfterAppendsOutliersAndRefreshes) {
  for (Dist dist : {Dist::gauss, Dist::heavy, Dist::outlier_channels}) {
    for (uint64_t seed : {1u, 2u}) {
      SCOPED_TRACE(testing::Message() << "dist " << int(dist) << " seed " << seed);
      const int64_t d = 48;
      std::mt19937_64 rng(seed * 101 + uint64_t(dist));
      Data D{d, {}, {}};
      gen(D, 128, dist, rng);
      KvStoreParams p = small_params(d);
      p.refresh_every = 0;
      KvStore s(p, fit_on(D, 128));
      append_range(s, D, 0, 128);
      int64_t outliers_new_group = 0, n_out = 0;
      for (int round = 0; round < 6; ++round) {
        gen(D, 60, dist, rng);
        gen(D, 1, dist, rng, 40.0);  // far outside the fitted distribution
        gen(D, 19, dist, rng);
        const int64_t t0 = s.n();
        for (int64_t t = t0; t < t0 + 80; ++t) {
          QuantAppendInfo info = s.append(D.k.data() + t * d, D.v.data() + t * d);
          if (t == t0 + 60) {
            ++n_out;
            outliers_new_group += info.new_group;
            ASSERT_GE(s.record_row(t), 0);
            EXPECT_EQ(s.records().group_start[size_t(s.records().group_of[size_t(s.record_row(t))])], t);
          }
        }
        EXPECT_EQ(violations(s, D, rng), 0);
        if (round % 2 == 1) {
          s.refresh();
          expect_ok(s);
          EXPECT_EQ(violations(s, D, rng), 0);
        }
      }
      EXPECT_EQ(outliers_new_group, n_out);
      EXPECT_GT(s.n_anchors(), 0);
    }
  }
}

TEST(KvStore, RefreshPolicies) {
  const int64_t d = 32;
  std::mt19937_64 rng(5);
  Data D{d, {}, {}};
  gen(D, 300, Dist::gauss, rng);
  KvStoreParams p = small_params(d);
  p.refresh_every = 100;
  KvStore s(p, fit_on(D, 64));
  append_range(s, D, 0, 300);
  EXPECT_EQ(s.maintenance().refreshes, 3);
  EXPECT_STREQ(s.last_refresh().reason, "every");
  // drift: keys whose energy moves to the trailing (few-bit) components raise the relative
  // quantization error of new keys
  KvStoreParams q = small_params(d);
  q.drift_ratio = 1.2;
  q.drift_window = 32;
  KvStore s2(q, fit_on(D, 300));
  append_range(s2, D, 0, 300);
  EXPECT_EQ(s2.maintenance().refreshes, 0);
  Data E{d, {}, {}};
  gen(E, 200, Dist::reversed, rng);
  for (int64_t t = 0; t < 200; ++t) {
    D.k.insert(D.k.end(), E.k.begin() + t * d, E.k.begin() + (t + 1) * d);
    D.v.insert(D.v.end(), E.v.begin() + t * d, E.v.begin() + (t + 1) * d);
  }
  append_range(s2, D, 300, 500);
  EXPECT_GE(s2.maintenance().refreshes, 1);
  EXPECT_STREQ(s2.last_refresh().reason, "drift");
  expect_ok(s2);
  EXPECT_EQ(violations(s2, D, rng), 0);
}

TEST(KvStore, SurvivalPolicyKeepsSurvivorsWarm) {
  const int64_t d = 16;
  std::mt19937_64 rng(9);
  Data D{d, {}, {}};
  gen(D, 200, Dist::gauss, rng);
  KvStoreParams p = small_params(d);
  p.policy = TierPolicy::survival;
  p.survival_steps = 4;
  p.survival_min = 2;
  KvStore s(p, fit_on(D, 64));
  append_range(s, D, 0, 200);
  const int64_t star = 30;  // archived by age
  ASSERT_EQ(s.tier(star), Tier::archive);
  for (int i = 0; i < 2; ++i) {
    StepDecision dec = random_decision(s, rng, 0.0);
    if (s.tier(star) == Tier::archive) dec.anchor_survive[size_t(s.anchor_of(star))] = 1;
    dec.survive[size_t(star)] = 1;
    const Snap before = snap(s);
    check_read(s, before, D, dec, s.read(dec));
  }
  EXPECT_EQ(s.tier(star), Tier::warm);
  expect_ok(s);
  for (int i = 0; i < 4; ++i) s.read(random_decision(s, rng, 0.0));
  EXPECT_NE(s.tier(star), Tier::warm);  // no longer surviving: back to the slow tiers
  expect_ok(s);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(KvStore, SaveLoadRoundTripsBitForBit) {
  const int64_t d = 32;
  std::mt19937_64 rng(21);
  Data D{d, {}, {}};
  gen(D, 260, Dist::heavy, rng);
  gen(D, 1, Dist::heavy, rng, 30.0);
  KvStoreParams p = small_params(d);
  p.drift_ratio = 3.0;
  KvStore s(p, fit_on(D, 64));
  append_range(s, D, 0, 200);
  s.refresh();
  append_range(s, D, 200, 261);
  for (int i = 0; i < 3; ++i) s.read(random_decision(s, rng, 0.3));
  const auto dir = std::filesystem::temp_directory_path() / ("gkv_store_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string a = (dir / "a.gkvs").string(), b = (dir / "b.gkvs").string();
  s.save(a);
  KvStore l = KvStore::load(a, {SlowKind::file, (dir / "slow").string()});
  l.save(b);
  EXPECT_EQ(slurp(a), slurp(b));
  expect_ok(l);
  EXPECT_EQ(l.cumulative(), s.cumulative());
  EXPECT_EQ(l.maintenance(), s.maintenance());
  for (int i = 0; i < 4; ++i) {
    std::vector<double> q(static_cast<size_t>(d));
    std::normal_distribution<double> nd(0, 0.3);
    for (auto& x : q) x = nd(rng);
    StoreBounds x = s.bounds(q.data()), y = l.bounds(q.data());
    ASSERT_EQ(x.token_ub.size(), y.token_ub.size());
    EXPECT_EQ(0, std::memcmp(x.token_ub.data(), y.token_ub.data(), x.token_ub.size() * 8));
    ASSERT_EQ(x.anchor_ub.size(), y.anchor_ub.size());
    EXPECT_EQ(0, std::memcmp(x.anchor_ub.data(), y.anchor_ub.data(), x.anchor_ub.size() * 8));
  }
  // both keep working identically after the round trip
  append_range(s, D, 0, 20);
  append_range(l, D, 0, 20);
  s.save(a);
  l.save(b);
  EXPECT_EQ(slurp(a), slurp(b));
  std::filesystem::remove_all(dir);
}

TEST(KvStore, FileBackedSlowRegionIsReallyRead) {
  const int64_t d = 16;
  std::mt19937_64 rng(33);
  Data D{d, {}, {}};
  gen(D, 200, Dist::gauss, rng);
  const auto dir = std::filesystem::temp_directory_path() / ("gkv_slow_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string slow = (dir / "slow.kv").string();
  KvStore s(small_params(d), fit_on(D, 64), {SlowKind::file, slow});
  append_range(s, D, 0, 200);
  ASSERT_EQ(s.tier(120), Tier::ghost);
  StepDecision dec = random_decision(s, rng, 0.0);
  dec.survive[120] = dec.survive[121] = dec.survive[130] = 1;
  const Snap before = snap(s);
  StepRead r = s.read(dec);
  check_read(s, before, D, dec, r);
  EXPECT_EQ(r.counters.bucket[2].copied_bytes, 3 * 2 * d * 4);
  EXPECT_EQ(r.counters.bucket[2].fetches, 2);  // 120-121 coalesced, 130
  EXPECT_GE(int64_t(std::filesystem::file_size(slow)), 200 * 2 * d * 4 - 2 * d * 4 * 120);
  // overwrite token 130's K in the file behind the store's back: the next read must see it
  const int fd = ::open(slow.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const float marker = 12345.0f;
  ASSERT_EQ(::pwrite(fd, &marker, 4, 130 * 2 * d * 4), 4);
  ::close(fd);
  StepRead r2 = s.read(dec);
  auto it = std::find(r2.tokens.begin(), r2.tokens.end(), 130);
  ASSERT_NE(it, r2.tokens.end());
  EXPECT_EQ(r2.k[size_t(it - r2.tokens.begin()) * size_t(d)], marker);
  std::filesystem::remove_all(dir);
}

TEST(KvStore, BadFilesGiveClearErrors) {
  const int64_t d = 16;
  std::mt19937_64 rng(3);
  Data D{d, {}, {}};
  gen(D, 150, Dist::gauss, rng);
  KvStore s(small_params(d), fit_on(D, 64));
  append_range(s, D, 0, 150);
  const auto dir = std::filesystem::temp_directory_path() / ("gkv_bad_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.gkvs").string(), bad = (dir / "bad.gkvs").string();
  s.save(good);
  const std::string bytes = slurp(good);
  auto expect_error = [&](const std::string& content, const std::string& what) {
    {
      std::ofstream f(bad, std::ios::binary | std::ios::trunc);
      f.write(content.data(), int64_t(content.size()));
    }
    try {
      KvStore::load(bad);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(bad), std::string::npos) << m;
      EXPECT_NE(m.find(what), std::string::npos) << m;
    }
  };
  expect_error("GKVBASIS" + bytes.substr(8), "bad magic");
  std::string v = bytes;
  v[8] = 7;
  expect_error(v, "version 7");
  expect_error(bytes.substr(0, bytes.size() - 5), "payload is");
  expect_error(bytes + "x", "payload is");
  expect_error(bytes.substr(0, 30), "header");
  std::string h = bytes;
  h[20] = '!';
  expect_error(h, "bad kv store header");
  EXPECT_THROW(KvStore::load((dir / "missing").string()), Error);
  std::filesystem::remove_all(dir);
}

// DESIGN §3: archive tokens keep only anchors resident; their records come from the slow region
// when the anchor survives, with the same bounds as before archiving. Fast memory holds K,V of hot
// and warm tokens only.
void expect_residency(const KvStore& s) {
  const ResidentBytes r = s.resident_bytes();
  const auto c = s.tier_counts();
  const int64_t d = s.d(), rb = s.records().record_bytes();
  for (int tt = 0; tt < kNumTiers; ++tt) {
    SCOPED_TRACE(tier_name(Tier(tt)));
    const auto& x = r.tier[size_t(tt)];
    EXPECT_EQ(x.tokens, c[size_t(tt)]);
    const bool fast = tt <= int(Tier::warm), arch = tt == int(Tier::archive);
    EXPECT_EQ(x.fast_kv, fast ? c[size_t(tt)] * 2 * d * 4 : 0);
    EXPECT_EQ(x.record, arch ? 0 : c[size_t(tt)] * rb);
    EXPECT_EQ(x.slow_kv, fast ? 0 : c[size_t(tt)] * 2 * d * 4);
    EXPECT_EQ(x.slow_record, arch ? c[size_t(tt)] * rb : 0);
    if (!arch) { EXPECT_EQ(x.anchor, 0); }
  }
  EXPECT_EQ(r.fast_kv(), (c[0] + c[1]) * 2 * d * 4);
  EXPECT_EQ(r.records(), (s.n() - c[3]) * rb);
  EXPECT_EQ(s.records().n, s.n() - c[3]);
  EXPECT_EQ(int64_t(s.records().codes.size()), (s.n() - c[3]) * s.records().code_bytes);
  if (c[3] > 0) { EXPECT_GT(r.tier[3].anchor, 0); }
  int64_t slow_top = 0, arch_top = 0;
  for (int64_t t = 0; t < s.n(); ++t) {
    if (s.tier(t) == Tier::ghost || s.tier(t) == Tier::archive) slow_top = std::max(slow_top, (t + 1) * 2 * d * 4);
    if (s.tier(t) == Tier::archive) {
      arch_top = std::max(arch_top, (t + 1) * rb);
      EXPECT_EQ(s.record_row(t), -1) << t;
    } else {
      EXPECT_GE(s.record_row(t), 0) << t;
    }
  }
  EXPECT_GE(r.slow_kv_region, slow_top);
  EXPECT_GE(r.slow_record_region, arch_top);
}

TEST(KvStore, ArchiveRecordsAndSlowKvAreNotResident) {
  const int64_t d = 32;
  std::mt19937_64 rng(44);
  Data D{d, {}, {}};
  gen(D, 200, Dist::heavy, rng);
  KvStoreParams p = small_params(d);
  p.auto_policy = false;
  KvStore s(p, fit_on(D, 64));
  append_range(s, D, 0, 200);
  expect_ok(s);
  expect_residency(s);
  EXPECT_EQ(s.resident_bytes().fast_kv(), (200 - 0) * 2 * d * 4);  // all hot or warm so far
  std::vector<int64_t> arch;
  for (int64_t t = 20; t < 52; ++t) arch.push_back(t);
  s.move({60, 61, 62, 90}, Tier::ghost);
  // bounds of the soon-archived tokens while their records are resident
  std::vector<std::vector<double>> qs;
  std::vector<StoreBounds> before;
  std::normal_distribution<double> nd(0, 0.3);
  for (int qi = 0; qi < 6; ++qi) {
    std::vector<double> q(static_cast<size_t>(d));
    if (qi % 2 == 0)
      for (int64_t i = 0; i < d; ++i) q[size_t(i)] = 0.1 * D.k[size_t((20 + 5 * qi) * d + i)];
    else
      for (auto& x : q) x = nd(rng);
    before.push_back(s.bounds(q.data()));
    qs.push_back(q);
  }
  const auto moved_before = s.maintenance().slow_write_bytes;
  s.move(arch, Tier::archive);
  expect_ok(s);
  expect_residency(s);
  const auto c = s.tier_counts();
  EXPECT_EQ(c[3], 32);
  EXPECT_EQ(c[2], 4);
  EXPECT_EQ(s.resident_bytes().fast_kv(), (200 - 36) * 2 * d * 4);
  EXPECT_EQ(s.resident_bytes().tier[3].record, 0);
  EXPECT_EQ(s.maintenance().slow_write_bytes - moved_before, 32 * (2 * d * 4 + s.records().record_bytes()));
  ASSERT_GT(s.n_anchors(), 1);
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    const double* q = qs[qi].data();
    // no resident record: bounds() cannot bound archive tokens
    StoreBounds b = s.bounds(q);
    for (int64_t t : arch) EXPECT_TRUE(std::isinf(b.token_ub[size_t(t)])) << t;
    for (int64_t t = 0; t < s.n(); ++t)
      if (s.tier(t) != Tier::archive) { EXPECT_EQ(b.token_ub[size_t(t)], before[qi].token_ub[size_t(t)]) << t; }
    // only the members of surviving anchors get bounds, equal to the pre-archive ones and sound
    std::vector<uint8_t> alive(size_t(s.n_anchors()), 0);
    alive[0] = 1;
    StoreBounds one = s.bounds_for_surviving_anchors(q, alive);
    for (int64_t t : arch) {
      if (s.anchor_of(t) == 0) {
        EXPECT_EQ(one.token_ub[size_t(t)], before[qi].token_ub[size_t(t)]) << t;
        EXPECT_GE((long double)one.token_ub[size_t(t)], exact_centred(s, D, t, q)) << t;
      } else {
        EXPECT_TRUE(std::isinf(one.token_ub[size_t(t)])) << t;
      }
    }
    std::fill(alive.begin(), alive.end(), 1);
    StoreBounds all = s.bounds_for_surviving_anchors(q, alive);
    EXPECT_EQ(0, std::memcmp(all.token_ub.data(), before[qi].token_ub.data(), all.token_ub.size() * 8));
    // the read path: records fetched by read() give the same bounds
    StepDecision dec = random_decision(s, rng, 0.0);
    std::fill(dec.anchor_survive.begin(), dec.anchor_survive.end(), 0);
    dec.anchor_survive[size_t(s.n_anchors() - 1)] = 1;
    StepRead r = s.read(dec);
    ASSERT_FALSE(r.fetched_record_tokens.empty());
    std::vector<double> ub = s.record_bounds(q, r.fetched_record_tokens, r.fetched_records.data());
    for (size_t i = 0; i < ub.size(); ++i) {
      const int64_t t = r.fetched_record_tokens[i];
      EXPECT_EQ(s.anchor_of(t), s.n_anchors() - 1);
      EXPECT_EQ(ub[i], before[qi].token_ub[size_t(t)]) << t;
    }
  }
  EXPECT_EQ(violations(s, D, rng), 0);
  // back out of the archive: records and K,V return (from the slow region) unchanged
  s.move({20, 21, 33}, Tier::warm);
  s.move({40}, Tier::ghost);
  expect_ok(s);
  expect_residency(s);
  StoreBounds back = s.bounds(qs[0].data());
  for (int64_t t : {20, 21, 33, 40}) EXPECT_EQ(back.token_ub[size_t(t)], before[0].token_ub[size_t(t)]) << t;
  for (int i = 0; i < 3; ++i) {
    StepDecision dec = random_decision(s, rng, 0.5);
    const Snap sn = snap(s);
    check_read(s, sn, D, dec, s.read(dec));
  }
  // a refresh re-encodes archive records into the slow region only
  s.refresh();
  expect_ok(s);
  expect_residency(s);
  std::vector<uint8_t> alive(size_t(s.n_anchors()), 1);
  for (const auto& q : qs) {
    StoreBounds b = s.bounds_for_surviving_anchors(q.data(), alive);
    for (int64_t t = 0; t < s.n(); ++t)
      if (s.tier(t) != Tier::hot) { EXPECT_GE((long double)b.token_ub[size_t(t)], exact_centred(s, D, t, q.data())) << t; }
  }
}

TEST(KvStore, ResidencyFollowsTiersUnderPolicyAndSaveLoad) {
  const int64_t d = 16;
  std::mt19937_64 rng(45);
  Data D{d, {}, {}};
  gen(D, 320, Dist::gauss, rng);
  KvStore s(small_params(d), fit_on(D, 64));
  for (int64_t t = 0; t < 320; t += 40) {
    append_range(s, D, t, t + 40);
    expect_ok(s);
    expect_residency(s);
    std::vector<uint8_t> alive(size_t(s.n_anchors()), 1);
    std::vector<double> q(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) q[size_t(i)] = 0.1 * D.k[size_t(t * d + i)];
    StoreBounds b = s.bounds_for_surviving_anchors(q.data(), alive);
    for (int64_t u = 0; u < s.n(); ++u)
      if (s.tier(u) != Tier::hot) {
        ASSERT_FALSE(std::isinf(b.token_ub[size_t(u)])) << u;
        EXPECT_GE((long double)b.token_ub[size_t(u)], exact_centred(s, D, u, q.data())) << u;
      }
  }
  auto c = s.tier_counts();
  ASSERT_GT(c[3], 0);
  ASSERT_GT(c[2], 0);
  EXPECT_EQ(s.resident_bytes().fast_kv(), (c[0] + c[1]) * 2 * d * 4);
  const auto dir = std::filesystem::temp_directory_path() / ("gkv_res_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string a = (dir / "a.gkvs").string();
  s.save(a);
  KvStore l = KvStore::load(a);
  expect_ok(l);
  expect_residency(l);
  const ResidentBytes x = s.resident_bytes(), y = l.resident_bytes();
  EXPECT_EQ(x.tier, y.tier);
  EXPECT_EQ(x.group_tables, y.group_tables);
  std::filesystem::remove_all(dir);
}

TEST(KvStore, CostOfAppendAndRefreshAt4096) {
  const int64_t d = 128, n = 4096;
  std::mt19937_64 rng(77);
  Data D{d, {}, {}};
  gen(D, n, Dist::gauss, rng);
  KvStoreParams p;
  p.d_head = d;
  p.ghost_after = 1024;
  p.archive_after = 2048;
  KvStore s(p, fit_on(D, 512));
  const auto t0 = std::chrono::steady_clock::now();
  append_range(s, D, 0, n);
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
  RefreshReport r = s.refresh();
  auto c = s.tier_counts();
  std::printf("[kv_store cost] d_head %lld, %lld tokens (hot %lld warm %lld ghost %lld archive %lld, %lld anchors): "
              "append %.2f us/token (incl. policy); refresh %.1f ms (fit on %lld keys, %lld bytes rewritten, "
              "%lld slow bytes read)\n",
              (long long)d, (long long)n, (long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3],
              (long long)s.n_anchors(), us, r.ms, (long long)r.n_fit, (long long)r.bytes_rewritten,
              (long long)r.slow_read_bytes);
  expect_ok(s);
  RecordProperty("append_us", std::to_string(us));
  RecordProperty("refresh_ms", std::to_string(r.ms));
}

}  // namespace
}  // namespace ghostkv
