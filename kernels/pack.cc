#include "pack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode.h"
#include "ghostkv/error.h"
#include "ghostkv/half.h"

namespace ghostkv::cuda {

namespace {

// every logical page of n_tokens tokens maps to a physical page in [0, n_phys)
void check_pages(const char* who, const int32_t* page_table, int64_t n_tokens, int64_t n_phys) {
  GKV_CHECK(n_phys >= 1, who, ": ", n_phys, " physical pages");
  for (int64_t p = 0; p * kPage < n_tokens; ++p)
    GKV_CHECK(page_table[p] >= 0 && page_table[p] < n_phys, who, ": logical page ", p, " (tokens ", p * kPage, "..",
              std::min<int64_t>(n_tokens, (p + 1) * kPage) - 1, ") maps to physical page ", page_table[p],
              ", not in [0, ", n_phys, ")");
}

}  // namespace

void check_page_table(const int32_t* page_table, const int32_t* seq_len, int batch, int max_pages, int max_seq,
                      int64_t n_phys) {
  GKV_CHECK(batch >= 1 && max_seq >= 1, "page table: batch ", batch, ", max_seq ", max_seq);
  GKV_CHECK(int64_t(max_pages) * kPage >= max_seq, "page table: ", max_pages, " columns hold ", int64_t(max_pages) * kPage,
            " tokens, max_seq is ", max_seq);
  for (int b = 0; b < batch; ++b) {
    GKV_CHECK(seq_len[b] >= 1 && seq_len[b] <= max_seq, "page table: sequence ", b, " has seq_len ", seq_len[b],
              ", not in [1, max_seq ", max_seq, "]");
    const std::string who = "page table: sequence " + std::to_string(b);
    const int32_t* row = page_table + int64_t(b) * max_pages;
    check_pages(who.c_str(), row, seq_len[b], n_phys);
    // one sequence's pages are distinct (a survivor row then names one token: survivor_tokens)
    std::unordered_map<int32_t, int64_t> first;
    for (int64_t lp = 0; lp * kPage < seq_len[b]; ++lp) {
      const auto [it, fresh] = first.emplace(row[lp], lp);
      GKV_CHECK(fresh, who, ": logical pages ", it->second, " and ", lp, " both map to physical page ", row[lp]);
    }
  }
}

void survivor_tokens(const int32_t* page_table_row, int seq_len, const int32_t* rows, int64_t n_rows, int32_t* tokens) {
  std::unordered_map<int32_t, int64_t> logical;  // physical page -> logical page (the first, if repeated)
  for (int64_t lp = 0; lp * kPage < seq_len; ++lp) logical.emplace(page_table_row[lp], lp);
  for (int64_t i = 0; i < n_rows; ++i) {
    tokens[i] = -1;
    if (rows[i] < 0) continue;
    const auto it = logical.find(rows[i] / kPage);
    if (it == logical.end()) continue;
    const int64_t t = it->second * kPage + rows[i] % kPage;
    if (t < seq_len) tokens[i] = int32_t(t);
  }
}

int pack_quant_pages(const QuantRecords& rec, int64_t n_tokens, const int32_t* page_table, int64_t n_phys, int n_head_kv,
                      int g, uint8_t* codes, uint16_t* meta, uint8_t* box, float* nu_max) {
  const int d = int(rec.d);
  GKV_CHECK(d == 64 || d == 128, "pack_quant_pages: d_head must be 64 or 128, got ", d);
  GKV_CHECK(n_tokens >= 1 && n_tokens <= rec.n, "pack_quant_pages: ", n_tokens, " tokens asked of a record set of ", rec.n);
  GKV_CHECK(g >= 0 && g < n_head_kv, "pack_quant_pages: KV head ", g, " not in [0, ", n_head_kv, ")");
  check_pages("pack_quant_pages", page_table, n_tokens, n_phys);
  int n8 = 0;
  while (n8 < d && rec.bits[size_t(n8)] == 8) ++n8;
  for (int j = n8; j < d; ++j)
    GKV_CHECK(rec.bits[size_t(j)] == 4, "pack_quant_pages: component ", j, " has ", rec.bits[size_t(j)],
              " bits; the GPU layout takes 8 bits on a leading block and 4 on the rest");
  GKV_CHECK(n8 % 32 == 0, "pack_quant_pages: ", n8, " leading 8-bit components is not a multiple of 32");
  const int k8 = n8 / 32, CB = witness_code_bytes(k8, d);
  GKV_CHECK(rec.code_bytes == CB, "pack_quant_pages: ", rec.code_bytes, " code bytes per token, the layout has ", CB);
  GKV_CHECK(rec.group == kPage, "pack_quant_pages: quantisation group ", rec.group, ", the page is ", kPage);
  // every refusal comes before the first write: the groups start at their pages, and the scan's bound
  // takes h_j and err_j as non-negative and finite (docs/gpu.md, Soundness): a corrupt record set is
  // refused here, before a page reaches the device
  for (int64_t p = 0; p * kPage < n_tokens; ++p) {
    GKV_CHECK(rec.group_start[size_t(p)] == p * kPage, "pack_quant_pages: group ", p, " starts at token ",
              rec.group_start[size_t(p)], ", not at its page's first token ", p * kPage);
    for (int j = 0; j < d; ++j)
      for (const auto* arr : {&rec.half_step, &rec.err}) {
        const float x = f16_to_f32((*arr)[size_t(p * d + j)]);
        GKV_CHECK(std::isfinite(x) && x >= 0.0f, "pack_quant_pages: page ", p, " component ", j,
                  arr == &rec.half_step ? " half-step " : " error bound ", x, " is negative or not finite");
      }
  }
  // ν (a rounded-up ||v_t||) bounds the output error of the eliminated tokens: a NaN or a negative value
  // would be dropped by the page's max, and ν_E would understate it (+inf is sound: nothing is certified)
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float x = f16_to_f32(rec.nu[size_t(t)]);
    GKV_CHECK(x >= 0.0f, "pack_quant_pages: token ", t, " value norm bound ", x, " is negative or NaN");
  }
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t phys = page_table[t / kPage];
    uint8_t* page = codes + (phys * n_head_kv + g) * kPage * CB;
    for (int by = 0; by < CB; ++by) page[witness_page_offset(k8, d, int(t % kPage), by)] = rec.codes[size_t(t * CB + by)];
  }
  for (int64_t p = 0; p * kPage < n_tokens; ++p) {
    const int64_t phys = page_table[p];
    const int64_t t0 = p * kPage, t1 = std::min<int64_t>(n_tokens, t0 + kPage);
    uint16_t* m = meta + (phys * n_head_kv + g) * 2 * d;
    std::memcpy(m, &rec.half_step[size_t(p * d)], size_t(d) * 2);
    std::memcpy(m + d, &rec.err[size_t(p * d)], size_t(d) * 2);
    float nm = 0;
    for (int64_t t = t0; t < t1; ++t) nm = std::max(nm, f16_to_f32(rec.nu[size_t(t)]));
    nu_max[phys * n_head_kv + g] = nm;
    // page anchor: min and max code of each component over the page's tokens (codes LSB-first)
    uint8_t* bx = box + (phys * n_head_kv + g) * 2 * d;
    for (int j = 0; j < d; ++j) {
      int lo = 255, hi = 0;
      for (int64_t t = t0; t < t1; ++t) {
        const int j4 = j - 32 * k8;
        const int c = j4 < 0 ? rec.codes[size_t(t * CB + j)] : (rec.codes[size_t(t * CB + 32 * k8 + j4 / 2)] >> (4 * (j4 & 1))) & 15;
        lo = std::min(lo, c);
        hi = std::max(hi, c);
      }
      bx[box_offset(k8, j)] = uint8_t(lo);
      bx[d + box_offset(k8, j)] = uint8_t(hi);
    }
  }
  return k8;
}

void pack_lowrank_pages(const Basis& basis, const float* keys, int64_t n_tokens, const int32_t* page_table,
                        int64_t n_phys, int n_head_kv, int g, uint16_t* sketch, uint16_t* sk_rho, uint16_t* sk_err,
                        uint16_t* box) {
  const int d = int(basis.d_head), R = kSketchRank;
  GKV_CHECK(d == 64 || d == 128, "pack_lowrank_pages: d_head must be 64 or 128, got ", d);
  GKV_CHECK(n_tokens >= 1, "pack_lowrank_pages: ", n_tokens, " tokens");
  GKV_CHECK(g >= 0 && g < n_head_kv, "pack_lowrank_pages: KV head ", g, " not in [0, ", n_head_kv, ")");
  check_pages("pack_lowrank_pages", page_table, n_tokens, n_phys);
  for (int64_t t = 0; t < n_tokens; ++t)  // every refusal before the first write
    for (int i = 0; i < d; ++i)
      GKV_CHECK(std::isfinite(keys[t * d + i]), "pack_lowrank_pages: key ", t, " component ", i, " is ", keys[t * d + i]);
  std::vector<double> x(static_cast<size_t>(d)), c(static_cast<size_t>(d));
  for (int64_t t = 0; t < n_tokens; ++t) {
    double xx = 0;
    for (int i = 0; i < d; ++i) {
      const float k = keys[t * d + i];
      x[size_t(i)] = double(k) - double(basis.mu[size_t(i)]);
      xx += x[size_t(i)] * x[size_t(i)];
    }
    for (int j = 0; j < d; ++j) {
      const float* pr = basis.row(j);
      double sj = 0;
      for (int i = 0; i < d; ++i) sj += double(pr[i]) * x[size_t(i)];
      c[size_t(j)] = sj;
    }
    const double slack = kBuildSlack * std::sqrt(xx);
    const int64_t row = (int64_t(page_table[t / kPage]) * n_head_kv + g) * kPage + t % kPage;
    double e2 = 0, r2 = 0;
    for (int j = 0; j < d; ++j) {
      if (j < R) {
        const uint16_t zh = f32_to_f16(float(c[size_t(j)]));
        sketch[row * R + j] = zh;
        const double dz = c[size_t(j)] - double(f16_to_f32(zh));
        e2 += dz * dz;
      } else {
        r2 += c[size_t(j)] * c[size_t(j)];
      }
    }
    sk_err[row] = f16_round_up((std::sqrt(e2) + slack) * (1 + kBuildSlack));
    sk_rho[row] = f16_round_up((std::sqrt(r2) + slack) * (1 + kBuildSlack));
  }
  if (!box) return;
  for (int64_t p = 0; p * kPage < n_tokens; ++p) {  // the page anchors, from the stored values
    const int64_t t0 = p * kPage, t1 = std::min<int64_t>(n_tokens, t0 + kPage);
    const int64_t row0 = (int64_t(page_table[p]) * n_head_kv + g) * kPage;
    uint16_t* bx = box + (int64_t(page_table[p]) * n_head_kv + g) * kLrBoxHalfs;
    std::fill(bx, bx + kLrBoxHalfs, uint16_t(0));
    float emax = 0, rmax = 0;
    for (int j = 0; j < R; ++j) {
      float lo = INFINITY, hi = -INFINITY;
      uint16_t lob = 0, hib = 0;
      bool nan = false;  // cannot come from finite keys; a NaN end makes the page's bound NaN (never eliminated)
      for (int64_t t = t0; t < t1; ++t) {
        const uint16_t zb = sketch[(row0 + t - t0) * R + j];
        const float z = f16_to_f32(zb);
        nan = nan || z != z;
        if (z < lo) { lo = z; lob = zb; }
        if (z > hi) { hi = z; hib = zb; }
      }
      if (nan) lob = hib = 0x7E00;
      bx[j] = lob;
      bx[R + j] = hib;
    }
    uint16_t eb = 0, rb = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t row = row0 + t - t0;
      if (f16_to_f32(sk_err[row]) > emax) { emax = f16_to_f32(sk_err[row]); eb = sk_err[row]; }
      if (f16_to_f32(sk_rho[row]) > rmax) { rmax = f16_to_f32(sk_rho[row]); rb = sk_rho[row]; }
    }
    bx[2 * R] = eb;
    bx[2 * R + 1] = rb;
  }
}

}  // namespace ghostkv::cuda
