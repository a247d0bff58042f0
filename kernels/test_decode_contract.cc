// CPU-side contract of the CUDA host API (runs without a GPU): parameters are validated before any
// device call, with errors that name the offending value, and the workspace views are 256-byte
// aligned, in order, disjoint and inside the buffer that workspace_bytes() sizes. The kernels
// themselves are checked on a GPU by kernels/gpu_bench.cc (scripts/gpu_bench.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "decode.h"
#include "exp_edge.h"

using namespace ghostkv::cuda;

namespace {

DecodeParams params(int batch, int hq, int hkv, int max_seq, int splits) {
  DecodeParams p;
  p.batch = batch;
  p.n_head_q = hq;
  p.n_head_kv = hkv;
  p.d = 128;
  p.bits = 8;
  p.max_seq = max_seq;
  p.max_pages = (max_seq + kPage - 1) / kPage;
  p.splits = splits;
  return p;
}

void expect_rejected(const DecodeParams& p, const std::string& needle) {
  for (int path = 0; path < 2; ++path) {
    try {
      if (path == 0) ghost_decode(p, nullptr);
      else dense_decode(p, nullptr);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace

TEST(CudaContract, RejectsUnsupportedParameters) {
  DecodeParams p = params(2, 32, 8, 256, 16);
  p.d = 96;
  expect_rejected(p, "d_head must be 64 or 128, got 96");
  p = params(2, 30, 8, 256, 16);
  expect_rejected(p, "n_head_q 30 not a multiple of n_head_kv 8");
  p = params(2, 32, 4, 256, 16);
  expect_rejected(p, "GQA group 8");
  p = params(2, 32, 8, 256, 16);
  p.n_recent = -1;
  expect_rejected(p, "n_sink and n_recent must be >= 0 with n_sink + n_recent <= 256, got 4 and -1");
  p = params(2, 32, 8, 256, 16);
  p.bits = 5;
  expect_rejected(p, "bits must be 4 or 8, got 5");
  p = params(2, 32, 8, 256, 16);
  p.n8 = 64;
  expect_rejected(p, "n8 (8-bit leading components) must be 0, 32 or d_head = 128, got 64");
  p = params(2, 32, 8, 256, 0);
  expect_rejected(p, "splits must be in [1, 128], got 0");
  p = params(2, 32, 8, 256, 129);
  expect_rejected(p, "splits must be in [1, 128], got 129");
  p = params(2, 32, 8, 256, 16);
  p.n_recent = 300;
  expect_rejected(p, "n_sink + n_recent");
  alignas(16) const uint8_t box_byte = 0;  // 16-byte aligned: only the checks under test reject it
  p = params(2, 32, 8, 256, 16);
  p.box = &box_byte;
  p.anchor_share = 0;
  expect_rejected(p, "anchor_share must be in (0, 1], got 0");
  p.anchor_share = 1.5f;
  expect_rejected(p, "anchor_share must be in (0, 1], got 1.5");
  p = params(2, 32, 8, 256, 16);
  p.rank = 8;
  expect_rejected(p, "low-rank witness rank must be 16, got 8");
  p.rank = 16;  // the low-rank witness takes page anchors too (its own box layout), with the same alignment
  p.box = reinterpret_cast<const uint8_t*>(uintptr_t(4096 + 8));
  expect_rejected(p, "box must be 16-byte aligned (bulk copies), got address 4104");
  // bulk-copied and vector-loaded records need 16-byte aligned bases
  const auto* odd = reinterpret_cast<const uint8_t*>(uintptr_t(4096 + 4));
  p = params(2, 32, 8, 256, 16);
  p.box = odd;
  expect_rejected(p, "box must be 16-byte aligned (bulk copies), got address 4100");
  p = params(2, 32, 8, 256, 16);
  p.meta = reinterpret_cast<const uint16_t*>(uintptr_t(4096 + 8));
  expect_rejected(p, "meta must be 16-byte aligned (bulk copies), got address 4104");
  p = params(2, 32, 8, 256, 16);
  p.codes = odd;
  expect_rejected(p, "codes must be 16-byte aligned");
  p = params(2, 32, 8, 256, 16);
  p.rank = 16;
  p.sketch = reinterpret_cast<const uint16_t*>(uintptr_t(4096 + 2));
  expect_rejected(p, "sketch must be 16-byte aligned");
  p = params(2, 32, 8, 256, 16);
  p.rank = 16;
  p.sk_err = reinterpret_cast<const uint16_t*>(uintptr_t(4096 + 2));
  expect_rejected(p, "sk_err must be 16-byte aligned");
  p = params(2, 32, 8, 256, 16);
  p.rank = 16;
  p.sk_rho = reinterpret_cast<const uint16_t*>(uintptr_t(4096 + 6));
  expect_rejected(p, "sk_rho must be 16-byte aligned");
}

// The breakdown's kernel count of stage 1 (gpu_bench --breakdown): prep, [anchor,] scan, compact for the quant
// witnesses (no device query: the fused kernel is low-rank only); invalid parameters are rejected first
// The A/B switches' parser: the two values, the default where unset, and an error naming the variable and the value
// for anything else (a near-miss such as "10x" or an empty string included)
TEST(CudaContract, EnvChoiceTakesOneOfTwoValues) {
  const char* name = "GHOSTKV_TEST_ENV_CHOICE";
  unsetenv(name);
  EXPECT_EQ(env_choice(name, 0, 8, 10), 0);
  setenv(name, "10", 1);
  EXPECT_EQ(env_choice(name, 0, 8, 10), 10);
  setenv(name, "8", 1);
  EXPECT_EQ(env_choice(name, 0, 8, 10), 8);
  for (const char* bad : {"9", "10x", "", "08", " 8"}) {
    setenv(name, bad, 1);
    try {
      env_choice(name, 0, 8, 10);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(name), std::string::npos) << m;
      EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
    }
  }
  unsetenv(name);
}

// the diagnostic switches: one of a set (env_one_of), an integer in a range (env_int_range); the whole string or an error
// naming the variable and the value
TEST(CudaContract, EnvOneOfAndIntRange) {
  const char* name = "GHOSTKV_TEST_ENV_SET";
  unsetenv(name);
  EXPECT_EQ(env_one_of(name, 0, {1, 2, 4}), 0);
  EXPECT_EQ(env_int_range(name, 32, 1, 32), 32);
  setenv(name, "4", 1);
  EXPECT_EQ(env_one_of(name, 0, {1, 2, 4}), 4);
  EXPECT_EQ(env_int_range(name, 32, 1, 32), 4);
  setenv(name, "0", 1);
  EXPECT_EQ(env_one_of(name, 9, {0, 7}), 0);
  EXPECT_EQ(env_int_range(name, 5, 0, 31), 0);
  setenv(name, "32", 1);
  EXPECT_EQ(env_int_range(name, 1, 1, 32), 32);
  auto refused = [&](auto f, const char* bad) {
    setenv(name, bad, 1);
    try {
      f();
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(name), std::string::npos) << m;
      EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
    }
  };
  for (const char* bad : {"3", "4x", "", "04", " 4", "-1"}) refused([&] { env_one_of(name, 0, {1, 2, 4}); }, bad);
  for (const char* bad : {"0", "33", "1x", "", "01", "+3", "-1", "99999999999"})
    refused([&] { env_int_range(name, 32, 1, 32); }, bad);
  setenv(name, "3", 1);
  try {
    env_one_of(name, 0, {1, 2, 4});
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("must be 1, 2 or 4"), std::string::npos) << e.what();
  }
  unsetenv(name);
}

TEST(CudaContract, Stage1KernelCount) {
  alignas(16) const uint8_t box_byte = 0;
  DecodeParams p = params(2, 32, 8, 256, 16);
  EXPECT_EQ(ghost_stage1_kernels(p), 3);
  p.box = &box_byte;
  p.anchor_share = 0.5f;
  EXPECT_EQ(ghost_stage1_kernels(p), 4);
  p.bits = 4;
  EXPECT_EQ(ghost_stage1_kernels(p), 4);
  p.d = 96;
  EXPECT_THROW(ghost_stage1_kernels(p), std::runtime_error);
}

// attend's survivor split: the blocks' tiles x, x + S, … cover the list's tiles exactly once; no block takes more
// tiles than the certificate's rounding count allows for; the first tile's rows, read before the count, lie in
// the entries prep zeroes. Every attend build's tile (32, 48) and every split count.
TEST(CudaContract, AttendSplitTiles) {
  for (int tile : {32, 48}) {
    ASSERT_LE(tile, kListZeroRows);
    for (int S = 1; S <= 128; ++S) {
      EXPECT_LE(attend_split_row0(0, tile, S - 1, S) + tile, S * kListZeroRows) << "tile " << tile << " S " << S;
      for (int count : {0, 1, 31, 32, 33, 47, 48, 49, 100, 1311, 1568, 1569, 3136, 6554, 26214, 39728, 131072}) {
        const int T = (count + tile - 1) / tile;
        std::vector<int> seen(size_t(T), 0);
        int most = 0;
        for (int x = 0; x < S; ++x) {
          const int n = attend_split_tiles(count, tile, x, S);
          most = std::max(most, n);
          for (int i = 0; i < n; ++i) {
            const int r0 = attend_split_row0(i, tile, x, S);
            ASSERT_TRUE(r0 >= 0 && r0 < count && r0 % tile == 0) << "tile " << tile << " S " << S << " count " << count;
            ++seen[size_t(r0 / tile)];
          }
        }
        for (int t = 0; t < T; ++t) ASSERT_EQ(seen[size_t(t)], 1) << "tile " << t << " of " << T << ", S " << S;
        EXPECT_LE(most, cert_split_tiles(count, S, tile)) << "tile " << tile << " S " << S << " count " << count;
      }
    }
  }
  EXPECT_EQ(attend_split_tiles(100, 32, 0, 3), 2);  // tiles 0 and 3 of 4
  EXPECT_EQ(attend_split_tiles(100, 32, 1, 3), 1);  // tile 1
  EXPECT_EQ(attend_split_tiles(100, 32, 3, 4), 1);  // tile 3 (rows 96..99)
  EXPECT_EQ(attend_split_tiles(96, 32, 3, 4), 0);   // no tile 3
}

// the scan's block → (KV head, chunk) map covers every pair once, with the KV heads interleaved or not
TEST(CudaContract, ScanBlockHeadIsABijection) {
  for (int heads : {1, 3, 8, 256})
    for (int chunks : {1, 2, 33, 40})
      for (bool mix : {false, true}) {
        std::vector<int> seen(size_t(heads) * chunks, 0);
        for (int y = 0; y < heads; ++y)
          for (int x = 0; x < chunks; ++x) {
            int chunk = -1;
            const int h = scan_block_head(x, y, chunks, heads, mix, &chunk);
            ASSERT_TRUE(h >= 0 && h < heads && chunk >= 0 && chunk < chunks) << heads << " " << chunks << " " << mix;
            ++seen[size_t(h) * chunks + chunk];
          }
        for (int v : seen) ASSERT_EQ(v, 1) << heads << " heads, " << chunks << " chunks, mix " << mix;
      }
  int chunk = -1;
  EXPECT_EQ(scan_block_head(1, 0, 33, 8, true, &chunk), 1);  // the second block: KV head 1, chunk 0
  EXPECT_EQ(chunk, 0);
  EXPECT_EQ(scan_block_head(0, 1, 33, 8, true, &chunk), 1);  // block 33: KV head 1, chunk 4
  EXPECT_EQ(chunk, 4);
  EXPECT_EQ(scan_block_head(0, 1, 33, 8, false, &chunk), 1);  // unmixed: row 1 is KV head 1
  EXPECT_EQ(chunk, 0);
}

TEST(CudaContract, PrepRowBlocks) {
  // 4 blocks per (b, KV head) only where they all fit one per SM (H200: 132 SMs)
  EXPECT_EQ(prep_row_blocks(1 * 8, 132), 4);    // 1 × 128K
  EXPECT_EQ(prep_row_blocks(3 * 8, 132), 4);    // the small check rows
  EXPECT_EQ(prep_row_blocks(33, 132), 4);
  EXPECT_EQ(prep_row_blocks(34, 132), 1);
  EXPECT_EQ(prep_row_blocks(17 * 8, 132), 1);   // the -cutlocal rows
  EXPECT_EQ(prep_row_blocks(32 * 8, 132), 1);   // 32 × 32K
  // the kernel's row split: whole rows per block and whole float4s per row part, at d 64 and 128
  for (int d : {64, 128}) {
    const int rows = d / kPrepRowBlocks, parts = 256 / rows;
    EXPECT_EQ(d % kPrepRowBlocks, 0) << d;
    EXPECT_EQ(256 % rows, 0) << d;
    EXPECT_EQ((d / parts) % 4, 0) << d;
  }
}

// prep's clusters (one block per (b, KV head)): the largest of want, want/2, … dividing B, so the grid (B·Hkv blocks
// in KV-head-major order) is whole clusters of one KV head each
TEST(CudaContract, PrepClusterBlocks) {
  EXPECT_EQ(prep_cluster_blocks(32, kPrepCluster), 2);  // 32 × 32K
  EXPECT_EQ(prep_cluster_blocks(8, 4), 4);
  EXPECT_EQ(prep_cluster_blocks(6, 4), 2);
  EXPECT_EQ(prep_cluster_blocks(17, 4), 1);  // odd B: no cluster
  EXPECT_EQ(prep_cluster_blocks(17, 2), 1);
  EXPECT_EQ(prep_cluster_blocks(300, 1), 1);
  for (int want : {1, 2, 4})
    for (int b = 1; b <= 300; ++b) {
      const int cl = prep_cluster_blocks(b, want);
      EXPECT_TRUE(cl == 1 || cl == 2 || cl == 4) << b;
      EXPECT_LE(cl, want) << b;
      EXPECT_EQ(b % cl, 0) << b;
      EXPECT_TRUE(cl == want || b % (2 * cl) != 0) << b << " " << want;  // the largest that divides
      if (cl > 1) {  // cluster k: blocks k·cl … k·cl + cl − 1 = (b, g) with b = x % B, g = x / B: one KV head
        for (int x = 0; x < b * 8; x += cl) EXPECT_EQ(x / b, (x + cl - 1) / b) << b;
      }
    }
}

// Balanced splits: S_h ≥ 1, ≤ merge's capacity, Σ S_h ≤ the grid; every tile of every list is taken exactly once by the
// S_h blocks of its KV head, none more than the certificate's count allows; the host rule takes them where the most
// tiles of a block drop by kBalanceMarginTiles and not where the counts are even
TEST(CudaContract, BalancedSplits) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    const int H = 1 + int(rng() % kBalanceMaxHeads), S = 2 + int(rng() % 100);
    std::vector<int32_t> n(static_cast<size_t>(H)), sh(static_cast<size_t>(H));
    const int shape = trial % 3;  // 0: uniform, 1: one heavy head, 2: random spread (some empty)
    for (int h = 0; h < H; ++h)
      n[size_t(h)] = shape == 0 ? 5000 : shape == 1 ? (h == 0 ? 200000 : 68 + int(rng() % 2000)) : int(rng() % 150000);
    const bool on = balanced_splits(n.data(), H, S, kAttendTileRows, sh.data());
    long long tot = 0, sum_s = 0;
    int even = 0, bal = 0;
    for (int h = 0; h < H; ++h) {
      tot += n[size_t(h)];
      sum_s += sh[size_t(h)];
      ASSERT_GE(sh[size_t(h)], 1);
      ASSERT_LE(sh[size_t(h)], balance_cap(S));
      ASSERT_LE(balance_cap(S), kMergePer * merge_slices(S));
      int tiles = 0;
      for (int x = 0; x < sh[size_t(h)]; ++x) {
        const int t = attend_split_tiles(n[size_t(h)], kAttendTileRows, x, sh[size_t(h)]);
        ASSERT_LE(t, cert_split_tiles(n[size_t(h)], sh[size_t(h)], kAttendTileRows));
        for (int i = 0; i < t; ++i) ASSERT_LT(attend_split_row0(i, kAttendTileRows, x, sh[size_t(h)]), n[size_t(h)]);
        tiles += t;
      }
      ASSERT_EQ(tiles, (n[size_t(h)] + kAttendTileRows - 1) / kAttendTileRows) << h;
      even = std::max(even, split_max_tiles(n[size_t(h)], kAttendTileRows, S));
      bal = std::max(bal, split_max_tiles(n[size_t(h)], kAttendTileRows, sh[size_t(h)]));
    }
    ASSERT_LE(sum_s, (long long)S * H);
    EXPECT_EQ(on, tot > 0 && bal + kBalanceMarginTiles <= even) << trial;
    if (shape == 0) {
      EXPECT_FALSE(on) << trial;
    }
    // one heavy head: taken wherever merge's capacity leaves it more splits (S at 16, 64 or 128 fills it already)
    if (shape == 1 && H >= 4 && balance_cap(S) >= S + 4) {
      EXPECT_TRUE(on) << trial << " H " << H << " S " << S;
    }
  }
  // 1 × 128K (8 KV heads, 49 splits), the fractions 0.31 / 0.67 of two heads alternating: balanced, the most tiles of
  // a block 57 → 43 (the heavy heads capped at merge's 64 splits; 41 with no cap)
  std::vector<int32_t> n(8), sh(8);
  for (int h = 0; h < 8; ++h) n[size_t(h)] = h % 2 ? 87817 : 40632;
  EXPECT_TRUE(balanced_splits(n.data(), 8, 49, kAttendTileRows, sh.data()));
  for (int h = 0; h < 8; ++h) EXPECT_LE(split_max_tiles(n[size_t(h)], kAttendTileRows, sh[size_t(h)]), 43) << h;
  EXPECT_EQ(split_max_tiles(87817, kAttendTileRows, 49), 57);
}

// merge's slices: every split count up to 128 fits P·kMergePer splits in at most 1024 threads.
TEST(CudaContract, MergeSlices) {
  for (int S = 1; S <= 128; ++S) {
    const int P = merge_slices(S);
    EXPECT_TRUE(P == 1 || P == 4 || P == 8) << S;
    EXPECT_GE(P * kMergePer, S) << S;
    EXPECT_LE(P * 128, 1024) << S;
  }
  EXPECT_EQ(merge_slices(16), 1);
  EXPECT_EQ(merge_slices(17), 4);
  EXPECT_EQ(merge_slices(49), 4);
  EXPECT_EQ(merge_slices(65), 8);
}

// The ghost path's split count: one wave, or two where one wave gives fewer than 4 splits per KV head
// and the rows per KV head reach kSplitRows per split of two waves (H200: 396 attention slots).
TEST(CudaContract, GhostSplitsForRows) {
  EXPECT_EQ(splits_for_rows(396, 8, 131072), 49);            // 1 × 128K: one wave at any count
  EXPECT_EQ(splits_for_rows(396, 8, 1), 49);
  EXPECT_EQ(splits_for_rows(396, 256, 3 * kSplitRows - 1), 1);  // 32 × 32K: below 3·kSplitRows one split
  EXPECT_EQ(splits_for_rows(396, 256, 3 * kSplitRows), 3);
  EXPECT_EQ(splits_for_rows(396, 256, 32768), 3);
  EXPECT_EQ(splits_for_rows(396, 100, 1 << 20), 7);          // one wave 3 (< 4): two waves, 7
  EXPECT_EQ(splits_for_rows(396, 100, 7 * kSplitRows - 1), 3);
  EXPECT_EQ(splits_for_rows(396, 100, 7 * kSplitRows), 7);
  EXPECT_EQ(splits_for_rows(396, 99, 1 << 20), 4);           // one wave 4: kept
  EXPECT_EQ(splits_for_rows(396, 1000, 1 << 20), 1);         // more KV heads than slots: one split
  EXPECT_EQ(splits_for_rows(396, 0, 0), 128);                // bk ≤ 0 taken as 1; capped at 128
  // the KV heads' counts spread (most ≥ 1.15 × mean): eight waves where two waves apply; below two waves' rows
  // four waves where most ≥ 1.4 × mean and ≥ kSplitRows
  EXPECT_EQ(splits_for_rows(396, 256, 9929, 24944), 12);     // 32 × 32K, ref23m layer 4's heads (mean 0.30, most 0.76)
  EXPECT_EQ(splits_for_rows(396, 256, 6544, 6777), 3);       // 32 × 32K, forced 20% (most / mean 1.035)
  EXPECT_EQ(splits_for_rows(396, 256, 10000, 11500), 12);
  EXPECT_EQ(splits_for_rows(396, 256, 10000, 11499), 3);
  EXPECT_EQ(splits_for_rows(396, 256, 3 * kSplitRows - 1, 1 << 20), 6);  // below two waves' rows: four waves
  EXPECT_EQ(splits_for_rows(396, 256, 3278, 8300), 6);       // 32 × 32K, ref23m layer 4's heads scaled to a mean of 10%
  EXPECT_EQ(splits_for_rows(396, 256, 1700, kSplitRows - 1), 1);  // the most below kSplitRows: one split
  EXPECT_EQ(splits_for_rows(396, 256, 1700, 2380), 6);       // most / mean 1.4: four waves
  EXPECT_EQ(splits_for_rows(396, 256, 1700, 2379), 1);       // below 1.4: one split
  EXPECT_EQ(splits_for_rows(396, 256, 1717, 2115), 1);       // 32 × 32K forced 5% with anchors (forced_balance.py)
  EXPECT_EQ(splits_for_rows(396, 256, 1460, kSplitRows), 6);  // the most at kSplitRows, most / mean 1.4
  EXPECT_EQ(splits_for_rows(396, 256, 1700, 1900), 1);       // forced 5%: even, one split
  EXPECT_EQ(splits_for_rows(396, 256, 0, 0), 1);             // no rows
  EXPECT_EQ(splits_for_rows(396, 100, 1 << 20, 1 << 22), 28);
  EXPECT_EQ(splits_for_rows(396, 100, 7 * kSplitRows - 1, 1 << 22), 14);
  EXPECT_EQ(splits_for_rows(396, 8, 1000, 1 << 20), 49);     // one wave of ≥ 4 splits: kept
  EXPECT_EQ(splits_for_rows(396, 256, 32768, -1), 3);        // the most not known: two waves
  for (int bk = 1; bk <= 600; ++bk) {  // within [1, 128], never fewer splits for more rows
    int prev = 0;
    for (int64_t rows : {int64_t(0), int64_t(5000), int64_t(6144), int64_t(20000), int64_t(1) << 22}) {
      const int s = splits_for_rows(396, bk, rows);
      EXPECT_GE(s, 1);
      EXPECT_LE(s, 128);
      const int ss = splits_for_rows(396, bk, rows, 2 * rows + 1);  // spread: never fewer, within merge's 128
      EXPECT_GE(ss, s);
      EXPECT_LE(ss, 128);
      EXPECT_LE(ss, splits_for_rows(396, bk, int64_t(1) << 22, int64_t(1) << 23)) << "the bench sizes its partials so";
      EXPECT_GE(s, prev) << "bk " << bk << " rows " << rows;
      prev = s;
    }
  }
}

// The anchor stage reads a page's box as one 32-bit word of minima (and one of maxima) per lane:
// box_offset must be a bijection of [0, d) that puts the 4 components the page prep gives lane ℓ
// (ℓ < 8·k8, 8-bit: 4ℓ..4ℓ+3; otherwise 4-bit: the low or high nibbles of code word ℓ/2, i.e.
// 8·(ℓ/2) + ℓ%2 + 2e) at 4ℓ..4ℓ+3, for uniform int8 and int4 and mixed 8x32 + 4 bits.
TEST(CudaContract, BoxLayoutMatchesThePagePrepLanes) {
  for (int d : {64, 128})
    for (int k8 : {d / 32, 0, 1}) {
      std::vector<int> seen(static_cast<size_t>(d), 0);
      for (int j = 0; j < d; ++j) {
        const int o = box_offset(k8, j);
        ASSERT_GE(o, 0);
        ASSERT_LT(o, d) << "k8 " << k8 << " d " << d << " component " << j;
        seen[static_cast<size_t>(o)]++;
      }
      for (int i = 0; i < d; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "k8 " << k8 << " d " << d << " offset " << i;
      for (int lane = 0; lane < d / 4; ++lane)
        for (int e = 0; e < 4; ++e) {
          const int comp = lane < 8 * k8 ? 4 * lane + e : 8 * (lane >> 1) + (lane & 1) + 2 * e;
          EXPECT_EQ(box_offset(k8, comp), 4 * lane + e) << "k8 " << k8 << " lane " << lane << " e " << e;
        }
    }
}

TEST(CudaContract, WorkspaceViewsAlignedDisjointInside) {
  struct Shape { int batch, hq, hkv, max_seq, splits; };
  for (const Shape s : {Shape{1, 32, 8, 131072, 99}, Shape{32, 32, 8, 32768, 3}, Shape{3, 4, 2, 4097, 128},
                        Shape{1, 9, 3, 65, 1}, Shape{5, 1, 1, 1, 7}}) {
    DecodeParams p = params(s.batch, s.hq, s.hkv, s.max_seq, s.splits);
    const int64_t total = workspace_bytes(p);
    std::vector<uint8_t> buf(size_t(total) + 256);
    uint8_t* base = buf.data() + (256 - reinterpret_cast<uintptr_t>(buf.data()) % 256) % 256;
    p.work = base;
    const Workspace w = workspace_views(p);
    const int64_t BQ = int64_t(s.batch) * s.hq, BK = int64_t(s.batch) * s.hkv, G = s.hq / s.hkv, S = s.splits;
    const std::vector<std::pair<const void*, int64_t>> views = {
        {w.qsig, BQ * 128 * 4}, {w.qrot, BQ * 128 * 4},  {w.qdelta, BQ * 128 * 4},
        {w.qscal, BQ * 16},     {w.flags, BQ * 4},       {w.zl, BQ * 8},          {w.ub, BK * s.max_seq * G * 2},
        {w.hist, BQ * kHistAll * 4}, {w.theta, BQ * 4},  {w.theta_a, BQ * 4}, {w.me, BQ * 8},
        {w.nu_e, BQ * 4},       {w.srow, BK * s.max_seq * 4}, {w.n_surv, BK * 4}, {w.done, BK * 4},
        {w.ready, 2 * (BK + 1) * 4}, {w.cdone, BK * 4},
        {w.pub, BK * ((s.max_seq + kPage - 1) / kPage) * G * 2}, {w.plist, BK * ((s.max_seq + kPage - 1) / kPage) * 4},
        {w.n_plist, BK * 4},
        {w.pm, BQ * S * 4},     {w.pl, BQ * S * 4},      {w.po, BQ * S * 128 * 4},
        {w.theta_blk, BK * kSplitMaxChunks * 4 * 2}};
    const uint8_t* prev_end = base;
    for (size_t i = 0; i < views.size(); ++i) {
      const uint8_t* a = static_cast<const uint8_t*>(views[i].first);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 256, 0u) << "view " << i;
      EXPECT_GE(a, prev_end) << "view " << i << " overlaps the previous one";
      prev_end = a + views[i].second;
      EXPECT_LE(prev_end, base + total) << "view " << i << " ends past workspace_bytes() = " << total;
    }
  }
}

// The scan reads each page's codes in tensor-core fragment order: witness_page_offset must be a
// bijection of the page's bytes for every supported layout (uniform int8 and int4, mixed 8x32 + 4 bits;
// d 64 and 128), keep each 8-token n-tile in its own contiguous block, and give every lane its bytes
// of an n-tile as whole load chunks.
TEST(CudaContract, WitnessPageLayoutIsAFragmentOrderBijection) {
  for (int d : {64, 128})
    for (int k8 : {d / 32, 0, 1}) {
      const int cb = witness_code_bytes(k8, d), page = kPage * cb;
      ASSERT_EQ(cb * 8, 8 * 32 * k8 + 4 * (d - 32 * k8)) << "k8 " << k8 << " d " << d;
      ASSERT_EQ(witness_lane_bytes(k8, d) % witness_chunk_bytes(k8, d), 0);
      std::vector<int> seen(static_cast<size_t>(page), 0);
      for (int t = 0; t < kPage; ++t)
        for (int b = 0; b < cb; ++b) {
          const int64_t o = witness_page_offset(k8, d, t, b);
          ASSERT_GE(o, 0);
          ASSERT_LT(o, page) << "k8 " << k8 << " d " << d << " t " << t << " byte " << b;
          seen[static_cast<size_t>(o)]++;
          EXPECT_EQ(o / (8 * cb), t / 8) << "n-tile block of token " << t;
        }
      for (int i = 0; i < page; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "k8 " << k8 << " d " << d << " offset " << i;
      // 8-bit k-steps: the 4 consecutive code bytes of one k-group land in 4 consecutive offsets (one b0/b1 word);
      // 4-bit k-steps: the 4 bytes of one code word too
      for (int t = 0; t < kPage; ++t)
        for (int b = 0; b < cb; b += 4)
          for (int e = 1; e < 4; ++e) {
            EXPECT_EQ(witness_page_offset(k8, d, t, b + e), witness_page_offset(k8, d, t, b) + e) << "k8 " << k8 << " byte " << b;
          }
    }
  // the uniform layouts are the ones the kernels were first measured with (chunks of 16 bytes, 8 at d 64 int4)
  EXPECT_EQ(witness_chunk_bytes(4, 128), 16);
  EXPECT_EQ(witness_chunk_bytes(0, 128), 16);
  EXPECT_EQ(witness_chunk_bytes(0, 64), 8);
  EXPECT_EQ(witness_chunk_bytes(1, 128), 4);
}

// The scan's closed form of a bound's histogram bin equals the definition (cut_head's edges) on every
// f16 value but NaN. v·kBinScale + kBinOffset is exact in double for every f16 v, so its floor is the
// floor the device takes after its round-down FMA.
TEST(CudaContract, HistogramBinClosedFormOnEveryF16) {
  auto f16 = [](uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double mag = e == 0 ? std::ldexp(double(m), -24) : e == 31 ? INFINITY : std::ldexp(double(1024 + m), e - 25);
    return (h & 0x8000) ? -mag : mag;
  };
  auto definition = [](double v) {
    if (!(v < 0.0)) return kHistBins + 1;
    if (v < double(kHistLo)) return 0;
    const int k = int(std::floor((v - double(kHistLo)) * 16.0));
    return 1 + (k < kHistBins - 1 ? k : kHistBins - 1);
  };
  int checked = 0, bins_hit = 0;
  std::vector<int> hit(kHistAll, 0);
  for (uint32_t h = 0; h < 65536; ++h) {
    if (((h >> 10) & 31) == 31 && (h & 1023)) continue;  // NaN: the scan stores +inf instead
    const double v = f16(uint16_t(h));
    const double x = std::floor(v * double(kBinScale) + double(kBinOffset));
    const int closed = int(x < 0 ? 0 : x > kHistBins + 1 ? kHistBins + 1 : x);
    ASSERT_EQ(closed, definition(v)) << "f16 0x" << std::hex << h << " = " << v;
    ++hit[closed];
    ++checked;
  }
  for (int k = 0; k < kHistAll; ++k) bins_hit += hit[k] > 0;
  EXPECT_EQ(checked, 65536 - 2046);
  EXPECT_EQ(bins_hit, kHistAll);  // every bin, both clamps included
}

// The cut's table of e^{edge_k} (exp_edge.h, in the kernels' image): every entry at or above the exact
// value and within one float64 ulp of it, checked against long-double exp (64-bit mantissa) with a slack of
// 1.5e-19 (about 1.4 long-double ulps) for expl's own error: an entry one float64 below the right one would fall
// short of the exact value by at least 4.9e-19 at these edges (`scripts/make_exp_edge.py --margins`), so it is
// still caught. The same check rejects the table rounded to nearest (about half its entries fall below the
// exact values), so it can fail.
namespace {
// entries below the exact e^{edge} (beyond long double's error), and entries more than one ulp above it
std::pair<int, int> exp_table_faults(const double* t) {
  int below = 0, loose = 0;
  for (int k = 0; k <= kHistBins; ++k) {
    const long double edge = (long double)kHistLo + (long double)k / 16.0L, e = expl(edge);
    below += (long double)t[k] < e * (1.0L - 1.5e-19L);
    loose += (long double)t[k] > e * (1.0L + 0x1p-52L);
  }
  return {below, loose};
}
}  // namespace

TEST(CudaContract, ExpEdgeTableRoundedUpAndTight) {
  static const double table[] = {GHOSTKV_EXP_EDGE_UP};
  static_assert(sizeof(table) / sizeof(table[0]) == kHistBins + 1, "one entry per edge");
  for (int k = 1; k <= kHistBins; ++k) ASSERT_LT(table[k - 1], table[k]) << "k " << k;
  EXPECT_EQ(table[kHistBins], 1.0);  // e^0
  const auto [below, loose] = exp_table_faults(table);
  EXPECT_EQ(below, 0);
  EXPECT_EQ(loose, 0);
  std::vector<double> nearest(kHistBins + 1);
  for (int k = 0; k <= kHistBins; ++k) nearest[size_t(k)] = double(expl((long double)kHistLo + (long double)k / 16.0L));
  EXPECT_GT(exp_table_faults(nearest.data()).first, kHistBins / 4) << "the check must reject a table rounded to nearest";
}

// compact compares the f16 bounds with θ rounded up to f16 (two heads per __hblt2): for an f16 value x,
// x < θ ⇔ x < RU_f16(θ). Checked for thresholds at, just above, just below and halfway between f16
// values (and beyond the f16 range), against the f16 values around RU_f16(θ) and random others.
TEST(CudaContract, ThresholdRoundedUpToF16KeepsTheComparison) {
  auto f16 = [](uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double mag = e == 0 ? std::ldexp(double(m), -24) : e == 31 ? INFINITY : std::ldexp(double(1024 + m), e - 25);
    return (h & 0x8000) ? -mag : mag;
  };
  std::vector<double> vals;  // every non-NaN f16 value, ascending (+0 and −0 as one)
  for (uint32_t h = 0; h < 65536; ++h)
    if (!(((h >> 10) & 31) == 31 && (h & 1023)) && h != 0x8000) vals.push_back(f16(uint16_t(h)));
  std::sort(vals.begin(), vals.end());
  ASSERT_EQ(vals.size(), size_t(65536 - 2046 - 1));
  std::vector<float> thetas = {INFINITY, -INFINITY, 1e6f, -1e6f, 65504.0f, 65520.0f, 65519.99f, 0.0f, -0.0f};
  for (size_t i = 1; i + 2 < vals.size(); ++i) {
    const float v = float(vals[i]);
    thetas.push_back(v);
    thetas.push_back(std::nextafter(v, INFINITY));
    thetas.push_back(std::nextafter(v, -INFINITY));
    thetas.push_back(float(0.5 * (vals[i] + vals[i + 1])));
  }
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  int64_t checked = 0;
  for (const float th : thetas) {
    const auto it = std::lower_bound(vals.begin(), vals.end(), double(th));  // RU_f16(θ): the least f16 ≥ θ
    ASSERT_NE(it, vals.end());
    const double ru = *it;
    const size_t at = size_t(it - vals.begin());
    auto check = [&](double x) {
      ASSERT_EQ(x < double(th), x < ru) << "x " << x << " theta " << th << " RU " << ru;
      ++checked;
    };
    for (size_t j = at >= 3 ? at - 3 : 0; j < std::min(vals.size(), at + 4); ++j) check(vals[j]);
    for (int r = 0; r < 4; ++r) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      check(vals[size_t(rng >> 33) % vals.size()]);
    }
  }
  EXPECT_GT(checked, 2000000);
}

// The scan grid: at least one block per (b, KV head), every block with a page to bound under the
// interleaved assignment (warp gw bounds pages gw, gw + C·SW, ...: simulated), no more blocks than are
// resident (slots / bk, GHOSTKV_SCAN_OCC) unless that is below one per head, and no fewer than both
// limits allow (one more block would leave a block idle or not be resident).
TEST(CudaContract, ScanGridIsResidentAndBusy) {
  const int SW = kScanBlockWarps;
  for (int P = 1; P <= 5000; ++P)
    for (int slots_per_bk : {0, 1, 2, 3, 5, 66, 1000}) {
      const int bk = 88, slots = slots_per_bk * bk, C = scan_blocks_per_head(P, slots, bk);
      ASSERT_GE(C, 1);
      for (int x = 0; x < C; ++x) {
        int pages = 0;
        for (int w = 0; w < SW; ++w)
          for (int i = SW * x + w; i < P; i += C * SW) ++pages;
        ASSERT_GT(pages, 0) << "P " << P << " C " << C << ": block " << x << " has no page";
      }
      ASSERT_LE(C, std::max(1, slots / bk)) << "P " << P;
      const bool more_busy = SW * C < P, more_resident = C + 1 <= slots / bk;
      ASSERT_FALSE(more_busy && more_resident) << "P " << P << " C " << C << ": a larger grid fits";
    }
}

