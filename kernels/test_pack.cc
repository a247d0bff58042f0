// Host-side packing of witness records into the device page layout (pack.h), checked against the
// CPU library's records on random keys with a shuffled page table: every code byte lands at its
// fragment-order position, the page meta and ν maxima are the records', the page boxes are the exact
// per-component code ranges, and the low-rank sketch's e and ρ bound their norms as recomputed in
// long double. Bad record sets are rejected with errors that name the value.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "decode.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"
#include "pack.h"

using namespace ghostkv;
using namespace ghostkv::cuda;

namespace {

struct Case {
  int d;
  std::string spec;  // "8", "4" or "8x32,4xN"
};

std::vector<float> random_keys(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> k(size_t(n) * d);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i) k[size_t(t) * d + i] = nd(rng) * (1.0f + 3.0f * float(i % 7 == 0)) + 0.5f;
  return k;
}

std::vector<int32_t> shuffled_pages(int n_pages, int n_phys, uint64_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(n_phys));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), std::mt19937_64(seed));
  all.resize(size_t(n_pages));
  return all;
}

TEST(CudaPack, QuantPagesMatchTheRecords) {
  for (const Case& cs : {Case{128, "8"}, Case{128, "4"}, Case{128, "8x32,4x96"}, Case{64, "8x32,4x32"}, Case{64, "4"}}) {
    const int d = cs.d, n = 3 * kPage + 17, n_pages = (n + kPage - 1) / kPage, n_phys = 7, Hkv = 3, g = 1;
    SCOPED_TRACE(cs.spec + " d " + std::to_string(d));
    const std::vector<float> k = random_keys(n, d, 11 + d), v = random_keys(n, d, 12 + d);
    const Basis bs = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
    const QuantRecords rec = build_quant(bs, parse_bits(cs.spec, d), kPage, n, k.data(), v.data(), n, d);
    const std::vector<int32_t> pt = shuffled_pages(n_pages, n_phys, 5);
    const int k8 = cs.spec == "8" ? d / 32 : cs.spec == "4" ? 0 : 1, CB = witness_code_bytes(k8, d);
    ASSERT_EQ(rec.code_bytes, CB);
    std::vector<uint8_t> codes(size_t(n_phys) * Hkv * kPage * CB, 0xA5), box(size_t(n_phys) * Hkv * 2 * d, 0xA5);
    std::vector<uint16_t> meta(size_t(n_phys) * Hkv * 2 * d, 0xA5A5);
    std::vector<float> nu(size_t(n_phys) * Hkv, -1.0f);
    ASSERT_EQ(pack_quant_pages(rec, n, pt.data(), n_phys, Hkv, g, codes.data(), meta.data(), box.data(), nu.data()), k8);
    for (int t = 0; t < n; ++t) {
      const uint8_t* page = &codes[size_t((int64_t(pt[size_t(t / kPage)]) * Hkv + g) * kPage * CB)];
      for (int by = 0; by < CB; ++by)
        ASSERT_EQ(page[witness_page_offset(k8, d, t % kPage, by)], rec.codes[size_t(t) * CB + by]) << "token " << t << " byte " << by;
    }
    for (int p = 0; p < n_pages; ++p) {
      const int64_t at = int64_t(pt[size_t(p)]) * Hkv + g;
      for (int j = 0; j < d; ++j) {
        EXPECT_EQ(meta[size_t(at * 2 * d + j)], rec.half_step[size_t(p) * d + j]);
        EXPECT_EQ(meta[size_t(at * 2 * d + d + j)], rec.err[size_t(p) * d + j]);
      }
      float nm = 0;
      for (int t = p * kPage; t < std::min(n, p * kPage + kPage); ++t) nm = std::max(nm, f16_to_f32(rec.nu[size_t(t)]));
      EXPECT_EQ(nu[size_t(at)], nm);
      // box: the exact range of each component's code m = (odd integer + Q)/2 over the page's tokens
      for (int j = 0; j < d; ++j) {
        const int Q = (1 << rec.bits[size_t(j)]) - 1;
        int lo = 1 << 30, hi = -1;
        for (int t = p * kPage; t < std::min(n, p * kPage + kPage); ++t) {
          const int c = (rec.decode(t, j) + Q) / 2;
          lo = std::min(lo, c);
          hi = std::max(hi, c);
        }
        EXPECT_EQ(box[size_t(at * 2 * d + box_offset(k8, j))], lo) << "page " << p << " component " << j;
        EXPECT_EQ(box[size_t(at * 2 * d + d + box_offset(k8, j))], hi) << "page " << p << " component " << j;
      }
    }
    // nothing outside KV head g of the listed pages is written
    for (int phys = 0; phys < n_phys; ++phys)
      for (int hk = 0; hk < Hkv; ++hk) {
        const bool listed = std::find(pt.begin(), pt.end(), phys) != pt.end();
        if (listed && hk == g) continue;
        EXPECT_EQ(nu[size_t(phys * Hkv + hk)], -1.0f) << phys << "," << hk;
        EXPECT_EQ(meta[size_t((phys * Hkv + hk) * 2 * d)], 0xA5A5) << phys << "," << hk;
      }
  }
}

TEST(CudaPack, QuantPagesRejectRecordsOutsideTheLayout) {
  const int d = 128, n = 2 * kPage;
  const std::vector<float> k = random_keys(n, d, 3), v = random_keys(n, d, 4);
  const Basis bs = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
  const std::vector<int32_t> pt{0, 1};
  std::vector<uint8_t> codes(size_t(2) * kPage * d), box(size_t(2) * 2 * d);
  std::vector<uint16_t> meta(size_t(2) * 2 * d);
  std::vector<float> nu(2);
  auto expect_error = [&](const QuantRecords& rec, const std::string& needle) {
    try {
      pack_quant_pages(rec, n, pt.data(), 2, 1, 0, codes.data(), meta.data(), box.data(), nu.data());
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(build_quant(bs, parse_bits("8", d), 32, n, k.data(), v.data(), n, d), "quantisation group 32");
  expect_error(build_quant(bs, parse_bits("4x32,8x96", d), kPage, n, k.data(), v.data(), n, d), "component 32 has 8 bits");
  expect_error(build_quant(bs, parse_bits("8x16,4x112", d), kPage, n, k.data(), v.data(), n, d), "16 leading 8-bit");
  expect_error(build_quant(bs, parse_bits("8x32,2x96", d), kPage, n, k.data(), v.data(), n, d), "has 2 bits");
  // a corrupt half-step or error bound (negative, infinite, NaN) never reaches the device; -0 is zero
  const QuantRecords good = build_quant(bs, parse_bits("8", d), kPage, n, k.data(), v.data(), n, d);
  for (const uint16_t bad : {uint16_t(0xBC00), uint16_t(0x8001), uint16_t(0xFC00), uint16_t(0x7C00), uint16_t(0x7E00)}) {
    QuantRecords r = good;
    r.half_step[size_t(d + 5)] = bad;
    expect_error(r, "page 1 component 5 half-step");
    r = good;
    r.err[size_t(7)] = bad;
    expect_error(r, "page 0 component 7 error bound");
  }
  QuantRecords zero = good;
  zero.half_step[size_t(3)] = zero.err[size_t(3)] = 0x8000;
  EXPECT_NO_THROW(pack_quant_pages(zero, n, pt.data(), 2, 1, 0, codes.data(), meta.data(), box.data(), nu.data()));
  // a token's value norm bound: NaN or negative is refused (the page's max would drop it and ν_E understate
  // the eliminated tokens' output error), naming the token, before anything is written; +inf and -0 pass
  for (const uint16_t bad : {uint16_t(0xBC00), uint16_t(0x8001), uint16_t(0x7E00), uint16_t(0xFE00)}) {
    QuantRecords r = good;
    r.nu[size_t(70)] = bad;
    std::fill(codes.begin(), codes.end(), uint8_t(0xA5));
    std::fill(nu.begin(), nu.end(), -7.0f);
    expect_error(r, "token 70 value norm bound");
    EXPECT_TRUE(std::all_of(codes.begin(), codes.end(), [](uint8_t c) { return c == 0xA5; }));
    EXPECT_TRUE(std::all_of(nu.begin(), nu.end(), [](float x) { return x == -7.0f; }));
  }
  for (const uint16_t ok : {uint16_t(0x7C00), uint16_t(0x8000)}) {
    QuantRecords r = good;
    r.nu[size_t(70)] = ok;
    EXPECT_NO_THROW(pack_quant_pages(r, n, pt.data(), 2, 1, 0, codes.data(), meta.data(), box.data(), nu.data()));
  }
  QuantRecords inf = good;
  inf.nu[size_t(70)] = 0x7C00;
  pack_quant_pages(inf, n, pt.data(), 2, 1, 0, codes.data(), meta.data(), box.data(), nu.data());
  EXPECT_TRUE(std::isinf(nu[1])) << "page 1 (tokens 64..127) takes token 70's +inf";
}

TEST(CudaPack, LowrankSketchBoundsItsNorms) {
  for (int d : {64, 128}) {
    const int n = 2 * kPage + 5, n_pages = 3, n_phys = 5, Hkv = 2, g = 1, R = kSketchRank;
    const std::vector<float> k = random_keys(n, d, 21 + d);
    const Basis bs = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
    const std::vector<int32_t> pt = shuffled_pages(n_pages, n_phys, 9);
    std::vector<uint16_t> sk(size_t(n_phys) * Hkv * kPage * R), rho(size_t(n_phys) * Hkv * kPage), err(rho.size());
    pack_lowrank_pages(bs, k.data(), n, pt.data(), n_phys, Hkv, g, sk.data(), rho.data(), err.data());
    double worst_e = 0, worst_r = 0;
    for (int t = 0; t < n; ++t) {
      const int64_t row = (int64_t(pt[size_t(t / kPage)]) * Hkv + g) * kPage + t % kPage;
      long double e2 = 0, r2 = 0;
      for (int j = 0; j < d; ++j) {
        long double c = 0;
        for (int i = 0; i < d; ++i) c += (long double)bs.row(j)[i] * ((long double)k[size_t(t) * d + i] - bs.mu[size_t(i)]);
        if (j < R) {
          const long double z = f16_to_f32(sk[size_t(row * R + j)]);
          ASSERT_LE(std::fabs((double)(c - z)), std::ldexp(std::fabs((double)c), -10) + 0x1p-24) << "ẑ is not f16(c)";
          e2 += (c - z) * (c - z);
        } else {
          r2 += c * c;
        }
      }
      const double e = f16_to_f32(err[size_t(row)]), r = f16_to_f32(rho[size_t(row)]);
      ASSERT_GE((long double)e, std::sqrt(e2)) << "token " << t;
      ASSERT_GE((long double)r, std::sqrt(r2)) << "token " << t;
      worst_e = std::max(worst_e, e / std::max(1e-30, (double)std::sqrt(e2)));
      worst_r = std::max(worst_r, r / (double)std::sqrt(r2));
    }
    EXPECT_LT(worst_r, 1.002);  // rounded up to f16, not loose
    EXPECT_GT(worst_e, 1.0);
  }
  const std::vector<float> bad(size_t(128), NAN);
  const std::vector<float> k = random_keys(kPage, 128, 1);
  const Basis bs = fit_basis(BasisKind::pca, k.data(), kPage, 128, 128, 128, 3);
  const std::vector<int32_t> pt{0};
  std::vector<uint16_t> sk(size_t(kPage) * kSketchRank), rho(kPage), err(kPage);
  EXPECT_THROW(pack_lowrank_pages(bs, bad.data(), 1, pt.data(), 1, 1, 0, sk.data(), rho.data(), err.data()), Error);
}

// The low-rank page anchor: per page, the min and max of every ẑ_tj, the max e_t and the max ρ_t over
// the page's tokens (a partial last page: its tokens only), each attained by a token (exact maxima of the
// stored values), the pad zero; other KV heads' and pages' entries untouched.
TEST(CudaPack, LowrankPageAnchorIsTheExactRangeOfItsTokens) {
  const int d = 128, n = 2 * kPage + 5, n_pages = 3, n_phys = 5, Hkv = 2, g = 1, R = kSketchRank;
  const std::vector<float> k = random_keys(n, d, 77);
  const Basis bs = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
  const std::vector<int32_t> pt = shuffled_pages(n_pages, n_phys, 4);
  std::vector<uint16_t> sk(size_t(n_phys) * Hkv * kPage * R), rho(size_t(n_phys) * Hkv * kPage), err(rho.size()),
      box(size_t(n_phys) * Hkv * kLrBoxHalfs, 0x5A5A);
  pack_lowrank_pages(bs, k.data(), n, pt.data(), n_phys, Hkv, g, sk.data(), rho.data(), err.data(), box.data());
  std::vector<int> used(size_t(n_phys) * Hkv, 0);
  for (int pg = 0; pg < n_pages; ++pg) {
    const int64_t slot = int64_t(pt[size_t(pg)]) * Hkv + g;
    used[size_t(slot)] = 1;
    const uint16_t* bx = box.data() + slot * kLrBoxHalfs;
    const int t0 = pg * kPage, t1 = std::min(n, t0 + kPage);
    for (int j = 0; j < R; ++j) {
      const float lo = f16_to_f32(bx[j]), hi = f16_to_f32(bx[R + j]);
      bool lo_hit = false, hi_hit = false;
      for (int t = t0; t < t1; ++t) {
        const float z = f16_to_f32(sk[size_t((slot * kPage + t - t0) * R + j)]);
        ASSERT_LE(lo, z) << "page " << pg << " component " << j << " token " << t;
        ASSERT_GE(hi, z) << "page " << pg << " component " << j << " token " << t;
        lo_hit |= z == lo;
        hi_hit |= z == hi;
      }
      EXPECT_TRUE(lo_hit && hi_hit) << "page " << pg << " component " << j << ": range not attained";
    }
    float emax = 0, rmax = 0;
    for (int t = t0; t < t1; ++t) {
      emax = std::max(emax, f16_to_f32(err[size_t(slot * kPage + t - t0)]));
      rmax = std::max(rmax, f16_to_f32(rho[size_t(slot * kPage + t - t0)]));
    }
    EXPECT_EQ(f16_to_f32(bx[2 * R]), emax) << "page " << pg;
    EXPECT_EQ(f16_to_f32(bx[2 * R + 1]), rmax) << "page " << pg;
    EXPECT_GT(rmax, 0.0f);
    for (int i = 2 * R + 2; i < kLrBoxHalfs; ++i) EXPECT_EQ(bx[i], 0) << "pad " << i;
  }
  for (size_t slot = 0; slot < used.size(); ++slot) {
    if (!used[slot]) {
      for (int i = 0; i < kLrBoxHalfs; ++i) ASSERT_EQ(box[slot * kLrBoxHalfs + i], 0x5A5A) << "slot " << slot << " written";
    }
  }
}

// A page table entry outside [0, n_phys) is refused, naming it, before anything is written (the
// pack functions index the caller's arrays by it); check_page_table does the same for a whole batch.
TEST(CudaPack, RefusesPageTableEntriesOutsideTheCache) {
  const int d = 128, n = 2 * kPage + 3, n_phys = 4;
  const std::vector<float> k = random_keys(n, d, 5), v = random_keys(n, d, 6);
  const Basis bs = fit_basis(BasisKind::pca, k.data(), n, d, d, d, 3);
  const QuantRecords rec = build_quant(bs, parse_bits("8", d), kPage, n, k.data(), v.data(), n, d);
  std::vector<uint8_t> codes(size_t(n_phys) * kPage * d, 0xA5), box(size_t(n_phys) * 2 * d, 0xA5);
  std::vector<uint16_t> meta(size_t(n_phys) * 2 * d, 0xA5A5), sk(size_t(n_phys) * kPage * kSketchRank, 0x5A5A),
      rho(size_t(n_phys) * kPage, 0x5A5A), err(rho.size(), 0x5A5A);
  std::vector<float> nu(size_t(n_phys), -1.0f);
  for (const int32_t bad : {-1, n_phys, 1 << 30}) {
    const std::vector<int32_t> pt{0, 2, bad};  // the third page (tokens 128..130) is out of the cache
    const std::string needle = "logical page 2 (tokens 128..130) maps to physical page " + std::to_string(bad) + ", not in [0, 4)";
    try {
      pack_quant_pages(rec, n, pt.data(), n_phys, 1, 0, codes.data(), meta.data(), box.data(), nu.data());
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    try {
      pack_lowrank_pages(bs, k.data(), n, pt.data(), n_phys, 1, 0, sk.data(), rho.data(), err.data());
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    // nothing written by either
    EXPECT_TRUE(std::all_of(codes.begin(), codes.end(), [](uint8_t c) { return c == 0xA5; }));
    EXPECT_TRUE(std::all_of(box.begin(), box.end(), [](uint8_t c) { return c == 0xA5; }));
    EXPECT_TRUE(std::all_of(meta.begin(), meta.end(), [](uint16_t c) { return c == 0xA5A5; }));
    EXPECT_TRUE(std::all_of(nu.begin(), nu.end(), [](float x) { return x == -1.0f; }));
    for (const auto* a : {&sk, &rho, &err}) EXPECT_TRUE(std::all_of(a->begin(), a->end(), [](uint16_t c) { return c == 0x5A5A; }));
  }
  EXPECT_THROW(pack_quant_pages(rec, n, std::vector<int32_t>{0, 1, 2}.data(), 0, 1, 0, codes.data(), meta.data(), box.data(),
                                nu.data()),
               Error);  // no physical page at all
  // the whole batch: two sequences sharing pages (allowed), then each way to be wrong
  std::vector<int32_t> table{0, 1, 2, 0, 1, 3}, len{130, 150};
  EXPECT_NO_THROW(check_page_table(table.data(), len.data(), 2, 3, 192, n_phys));
  std::vector<int32_t> edge{1, 192};  // the shortest and the longest sequence allowed
  EXPECT_NO_THROW(check_page_table(table.data(), edge.data(), 2, 3, 192, n_phys));
  EXPECT_THROW(check_page_table(table.data(), len.data(), 2, 3, 192, 3), Error);  // page 3 of sequence 1 is past 3 pages
  auto expect_error = [&](const std::string& needle, int max_pages, int max_seq) {
    try {
      check_page_table(table.data(), len.data(), 2, max_pages, max_seq, n_phys);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  table[5] = 4;
  expect_error("page table: sequence 1: logical page 2 (tokens 128..149) maps to physical page 4, not in [0, 4)", 3, 192);
  table[5] = -7;
  expect_error("maps to physical page -7", 3, 192);
  table[5] = 3;
  len[0] = 193;
  expect_error("sequence 0 has seq_len 193, not in [1, max_seq 192]", 3, 192);
  len[0] = 0;
  expect_error("sequence 0 has seq_len 0", 3, 192);
  len[0] = 130;
  expect_error("2 columns hold 128 tokens, max_seq is 192", 2, 192);
  table[2] = -1;  // a column past the sequence's pages is not read: not checked
  len[0] = 128;
  EXPECT_NO_THROW(check_page_table(table.data(), len.data(), 2, 3, 192, n_phys));
  table[4] = 3;  // sequence 1 uses physical page 3 twice: a survivor row would name two tokens
  expect_error("page table: sequence 1: logical pages 1 and 2 both map to physical page 3", 3, 192);
  table[2] = 1;  // a repeat past the sequence's pages (sequence 0 uses 2 pages) is not read
  table[4] = 1;
  EXPECT_NO_THROW(check_page_table(table.data(), len.data(), 2, 3, 192, n_phys));
}

// Survivor rows (physical page · kPage + slot) map back to the tokens of their sequence through its
// page table; rows outside the sequence's first seq_len tokens (another page, the unused tail of its
// last page, negative) give −1.
TEST(CudaPack, SurvivorRowsMapBackToTokens) {
  const std::vector<int32_t> table{7, 2, 9, 5};  // 4 columns; the sequence uses 3 pages (130 tokens)
  const int n = 130;
  std::vector<int32_t> rows, want;
  for (int t : {0, 1, 63, 64, 100, 127, 128, 129}) {
    rows.push_back(table[size_t(t / kPage)] * kPage + t % kPage);
    want.push_back(t);
  }
  for (int32_t r : {9 * kPage + 2,  // slot 2 of the last page: token 130, past seq_len
                    5 * kPage,      // page 5 is the 4th column, past the sequence's pages
                    0, -1, 3 * kPage + 1})
    rows.push_back(r), want.push_back(-1);
  std::vector<int32_t> got(rows.size(), 12345);
  survivor_tokens(table.data(), n, rows.data(), int64_t(rows.size()), got.data());
  EXPECT_EQ(got, want);
  survivor_tokens(table.data(), n, rows.data(), 0, got.data());  // an empty list writes nothing
  EXPECT_EQ(got, want);
}

}  // namespace

// GhostCache::append rebuilds a page's records from that page's tokens alone (the page is the quantisation group):
// for the same basis, each page built and packed on its own gives the bytes of the whole sequence built and packed at
// once, the last page partial included, and a page built before its last tokens came differs only in that page.
TEST(CudaPack, APageBuiltAloneIsItsPartOfTheWholeBuild) {
  for (const Case& cs : {Case{128, "8"}, Case{128, "4"}, Case{128, "8x32,4x96"}, Case{64, "4"}}) {
    const int d = cs.d, n = 4 * kPage + 23, n_pages = (n + kPage - 1) / kPage, Hkv = 2, g = 1;
    SCOPED_TRACE(cs.spec + " d " + std::to_string(d));
    const std::vector<float> k = random_keys(n, d, 31 + d), v = random_keys(n, d, 32 + d);
    const Basis bs = fit_basis(BasisKind::pca, k.data(), 2 * kPage, d, d, d, 3);  // fitted on a prefix, as a cache's
    const BitSpec spec = parse_bits(cs.spec, d);
    const QuantRecords whole = build_quant(bs, spec, kPage, n, k.data(), v.data(), n, d);
    const int k8 = cs.spec == "8" ? d / 32 : cs.spec == "4" ? 0 : 1, CB = witness_code_bytes(k8, d);
    std::vector<int32_t> ident(static_cast<size_t>(n_pages));
    std::iota(ident.begin(), ident.end(), 0);
    const size_t cpage = size_t(Hkv) * kPage * CB, mpage = size_t(Hkv) * 2 * d;
    std::vector<uint8_t> codes(n_pages * cpage, 0), box(n_pages * size_t(Hkv) * 2 * d, 0);
    std::vector<uint16_t> meta(n_pages * mpage, 0);
    std::vector<float> nu(size_t(n_pages) * Hkv, 0.0f);
    ASSERT_EQ(pack_quant_pages(whole, n, ident.data(), n_pages, Hkv, g, codes.data(), meta.data(), box.data(), nu.data()), k8);
    double resid = 0;
    const int32_t zero = 0;
    for (int p = 0; p < n_pages; ++p) {
      const int cnt = std::min(kPage, n - p * kPage);
      const QuantRecords one = build_quant(bs, spec, kPage, cnt, k.data() + size_t(p) * kPage * d,
                                           v.data() + size_t(p) * kPage * d, cnt, d);
      resid = std::max(resid, one.resid_max);
      std::vector<uint8_t> c1(cpage, 0), b1(size_t(Hkv) * 2 * d, 0);
      std::vector<uint16_t> m1(mpage, 0);
      std::vector<float> nu1(static_cast<size_t>(Hkv), 0.0f);
      ASSERT_EQ(pack_quant_pages(one, cnt, &zero, 1, Hkv, g, c1.data(), m1.data(), b1.data(), nu1.data()), k8);
      EXPECT_TRUE(std::equal(c1.begin(), c1.end(), codes.begin() + ptrdiff_t(p * cpage))) << "codes of page " << p;
      EXPECT_TRUE(std::equal(m1.begin(), m1.end(), meta.begin() + ptrdiff_t(p * mpage))) << "meta of page " << p;
      EXPECT_EQ(nu1[size_t(g)], nu[size_t(p) * Hkv + g]) << "nu_max of page " << p;
    }
    EXPECT_EQ(resid, whole.resid_max);
    // the last page built with 5 of its 23 tokens (an earlier append): its own scales, so other bytes than the final ones
    const int last = n_pages - 1;
    const QuantRecords early = build_quant(bs, spec, kPage, 5, k.data() + size_t(last) * kPage * d,
                                           v.data() + size_t(last) * kPage * d, 5, d);
    std::vector<uint8_t> c5(cpage, 0), b5(size_t(Hkv) * 2 * d, 0);
    std::vector<uint16_t> m5(mpage, 0);
    std::vector<float> nu5(static_cast<size_t>(Hkv), 0.0f);
    ASSERT_EQ(pack_quant_pages(early, 5, &zero, 1, Hkv, g, c5.data(), m5.data(), b5.data(), nu5.data()), k8);
    EXPECT_FALSE(std::equal(m5.begin(), m5.end(), meta.begin() + ptrdiff_t(last * mpage)));
  }
}

// The low-rank witness as GhostCache builds it, a page at a time: for a fixed basis, the sketch, ρ, e and page anchor of
// each page built alone (its tokens only, at physical page 0) are that page's part of the whole-sequence build, so an
// append that rebuilds the pages it touches leaves the others' bytes as they were.
TEST(CudaPack, ALowRankPageBuiltAloneIsItsPartOfTheWholeBuild) {
  for (const int d : {128, 64}) {
    const int n = 4 * kPage + 23, n_pages = (n + kPage - 1) / kPage, Hkv = 2, g = 1;
    SCOPED_TRACE("d " + std::to_string(d));
    const std::vector<float> k = random_keys(n, d, 41 + d);
    const Basis bs = fit_basis(BasisKind::pca, k.data(), 2 * kPage, d, d, d, 3);
    std::vector<int32_t> ident(static_cast<size_t>(n_pages));
    std::iota(ident.begin(), ident.end(), 0);
    const size_t spage = size_t(Hkv) * kPage * kSketchRank, rpage = size_t(Hkv) * kPage, bpage = size_t(Hkv) * kLrBoxHalfs;
    std::vector<uint16_t> sk(n_pages * spage, 0), rho(n_pages * rpage, 0), err(rho.size(), 0), box(n_pages * bpage, 0);
    pack_lowrank_pages(bs, k.data(), n, ident.data(), n_pages, Hkv, g, sk.data(), rho.data(), err.data(), box.data());
    const int32_t zero = 0;
    for (int p = 0; p < n_pages; ++p) {
      const int cnt = std::min(kPage, n - p * kPage);
      std::vector<uint16_t> s1(spage, 0), r1(rpage, 0), e1(rpage, 0), b1(bpage, 0);
      pack_lowrank_pages(bs, k.data() + size_t(p) * kPage * d, cnt, &zero, 1, Hkv, g, s1.data(), r1.data(), e1.data(),
                         b1.data());
      EXPECT_TRUE(std::equal(s1.begin(), s1.end(), sk.begin() + ptrdiff_t(p * spage))) << "sketch of page " << p;
      EXPECT_TRUE(std::equal(r1.begin(), r1.end(), rho.begin() + ptrdiff_t(p * rpage))) << "rho of page " << p;
      EXPECT_TRUE(std::equal(e1.begin(), e1.end(), err.begin() + ptrdiff_t(p * rpage))) << "e of page " << p;
      EXPECT_TRUE(std::equal(b1.begin(), b1.end(), box.begin() + ptrdiff_t(p * bpage))) << "anchor of page " << p;
      // KV head g's entries hold the page (not all zero); the other head's are left as they were
      EXPECT_TRUE(std::any_of(s1.begin() + ptrdiff_t(size_t(g) * kPage * kSketchRank), s1.end(), [](uint16_t x) { return x != 0; }));
      EXPECT_TRUE(std::all_of(s1.begin(), s1.begin() + ptrdiff_t(size_t(g) * kPage * kSketchRank), [](uint16_t x) { return x == 0; }));
    }
  }
}
