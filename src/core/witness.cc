#include "ghostkv/witness.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "ghostkv/error.h"
#include "ghostkv/half.h"

namespace ghostkv {

Storage parse_storage(const std::string& s) {
  if (s == "f32") return Storage::f32;
  if (s == "f16") return Storage::f16;
  if (s == "bf16") return Storage::bf16;
  if (s == "int8") return Storage::int8;
  throw Error(str_cat("storage: unknown '", s, "' (expected f32, f16, bf16 or int8)"));
}

const char* storage_name(Storage s) {
  switch (s) {
    case Storage::f32: return "f32";
    case Storage::f16: return "f16";
    case Storage::bf16: return "bf16";
    case Storage::int8: return "int8";
  }
  return "?";
}

int64_t storage_bytes(Storage s) { return s == Storage::f32 ? 4 : s == Storage::int8 ? 1 : 2; }

int64_t LowRankRecords::record_bytes() const {
  // sketch + (int8 scale) + e + residual norms + ν, all as stored
  return r * storage_bytes(storage) + (storage == Storage::int8 ? 2 : 0) + 2 + 2 * blocks + 2;
}

int64_t LowRankRecords::meta_bytes() const {
  // basis rows read to project the query: P (r rows) for B = 1, all d rows for B > 1; μ; 4 constants
  int64_t rows = blocks > 1 ? d : r;
  return rows * d * 4 + d * 4 + 4 * 8;
}

static double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}

LowRankRecords build_lowrank(const Basis& basis, int64_t rank, int64_t blocks, Storage storage, const float* k,
                             const float* v, int64_t n, int64_t stride) {
  const int64_t d = basis.d_head;
  GKV_CHECK(rank >= 1 && rank <= d, "lowrank witness: rank ", rank, " outside [1, d_head = ", d, "]");
  GKV_CHECK(blocks >= 1 && (blocks == 1 || blocks <= d - rank), "lowrank witness: residual blocks ", blocks,
            " outside [1, d_head - rank = ", d - rank, "]");
  // the float32 scan's slack γ_{r+B+3} is derived for r + B ≤ 2000 (docs/math.md §4)
  GKV_CHECK(rank + blocks <= 2000, "lowrank witness: rank + blocks = ", rank + blocks, " exceeds 2000");
  LowRankRecords rec;
  rec.n = n;
  rec.d = d;
  rec.r = rank;
  rec.blocks = blocks;
  rec.storage = storage;
  rec.sketch.resize(size_t(n * rank));
  if (storage == Storage::f16 || storage == Storage::bf16) rec.sketch_raw.resize(size_t(n * rank));
  if (storage == Storage::int8) {
    rec.codes.resize(size_t(n * rank));
    rec.scale.resize(size_t(n));
  }
  rec.e.resize(size_t(n));
  rec.rho.resize(size_t(n * blocks));
  rec.nu.resize(size_t(n));
  const int64_t n_perp = d - rank;
  const int64_t bsize = blocks > 1 ? (n_perp + blocks - 1) / blocks : n_perp;
  std::vector<double> x(d), z(rank), res(d), u(std::max<int64_t>(n_perp, 1)), pr(rank);
  double zhat_max = 0, e_max = 0, rho_max = 0, omega = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* kt = k + t * stride;
    for (int64_t i = 0; i < d; ++i) x[i] = double(kt[i]) - double(basis.mu[i]);
    const double xn = norm2(x.data(), d);
    const double slack = kBuildSlack * xn;
    for (int64_t j = 0; j < rank; ++j) {
      const float* p = basis.row(j);
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(p[i]) * x[i];
      z[j] = s;
    }
    res = x;
    for (int64_t j = 0; j < rank; ++j) {
      const float* p = basis.row(j);
      for (int64_t i = 0; i < d; ++i) res[i] -= z[j] * double(p[i]);
    }
    // stored sketch
    float* zh = rec.sketch.data() + t * rank;
    if (storage == Storage::int8) {
      double amax = 0;
      for (int64_t j = 0; j < rank; ++j) amax = std::max(amax, std::fabs(z[j]));
      uint16_t sb = f16_round_up(std::min(amax / 127.0, 65504.0));
      rec.scale[size_t(t)] = sb;
      const double s = f16_to_f32(sb);
      for (int64_t j = 0; j < rank; ++j) {
        double c = s > 0 ? std::nearbyint(z[j] / s) : 0.0;
        c = std::clamp(c, -127.0, 127.0);
        rec.codes[size_t(t * rank + j)] = int8_t(c);
        zh[j] = float(s * c);  // exact: 11-bit significand times a 7-bit integer
      }
    } else if (storage == Storage::f16) {
      for (int64_t j = 0; j < rank; ++j) {
        float zz = float(std::clamp(z[j], -65504.0, 65504.0));
        uint16_t h = f32_to_f16(zz);
        rec.sketch_raw[size_t(t * rank + j)] = h;
        zh[j] = f16_to_f32(h);
      }
    } else if (storage == Storage::bf16) {
      for (int64_t j = 0; j < rank; ++j) {
        uint16_t h = f32_to_bf16(float(z[j]));
        rec.sketch_raw[size_t(t * rank + j)] = h;
        zh[j] = bf16_to_f32(h);
      }
    } else {
      for (int64_t j = 0; j < rank; ++j) zh[j] = float(z[j]);
    }
    double e2 = 0, zh2 = 0;
    for (int64_t j = 0; j < rank; ++j) {
      double dz = z[j] - double(zh[j]);
      e2 += dz * dz;
      zh2 += double(zh[j]) * zh[j];
    }
    const double e = std::sqrt(e2) + slack;
    rec.e[size_t(t)] = f16_round_up(e);
    e_max = std::max(e_max, double(f16_to_f32(rec.e[size_t(t)])));
    zhat_max = std::max(zhat_max, std::sqrt(zh2));
    const double rn = norm2(res.data(), d) + slack;
    rho_max = std::max(rho_max, rn);
    // non-orthonormality of the stored P: ||Pᵀ r_t||
    for (int64_t j = 0; j < rank; ++j) {
      const float* p = basis.row(j);
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(p[i]) * res[i];
      pr[j] = s;
    }
    omega = std::max(omega, norm2(pr.data(), rank) + slack);
    if (blocks == 1) {
      rec.rho[size_t(t)] = f16_round_up(rn);
    } else {
      for (int64_t j = 0; j < n_perp; ++j) {
        const float* p = basis.row(rank + j);
        double s = 0;
        for (int64_t i = 0; i < d; ++i) s += double(p[i]) * res[i];
        u[j] = s;
      }
      for (int64_t b = 0; b < blocks; ++b) {
        int64_t j0 = b * bsize, j1 = std::min(n_perp, j0 + bsize);
        double bn = j1 > j0 ? norm2(u.data() + j0, j1 - j0) : 0.0;
        rec.rho[size_t(t * blocks + b)] = f16_round_up(bn + slack);
      }
    }
    const float* vt = v + t * stride;
    double vn = 0;
    for (int64_t i = 0; i < d; ++i) vn += double(vt[i]) * vt[i];
    rec.nu[size_t(t)] = f16_round_up(std::sqrt(vn) * (1 + kBuildSlack));
    rec.zhat_pmax.push_back(zhat_max * (1 + kBuildSlack));
    rec.e_pmax.push_back(e_max);
    rec.rho_pmax.push_back(rho_max * (1 + kBuildSlack));
    rec.omega_pmax.push_back(omega * (1 + kBuildSlack));
  }
  rec.zhat_max = zhat_max * (1 + kBuildSlack);
  rec.e_max = e_max;
  rec.rho_max = rho_max * (1 + kBuildSlack);
  rec.omega = omega * (1 + kBuildSlack);
  return rec;
}

// ---------------- bit specs ----------------

int64_t BitSpec::total_bits() const {
  int64_t s = 0;
  for (int b : bits) s += b;
  return s;
}

BitSpec parse_bits(const std::string& spec_in, int64_t d) {
  BitSpec out;
  out.text = spec_in;
  std::string spec = spec_in;
  if (spec.rfind("int", 0) == 0) spec = spec.substr(3);
  GKV_CHECK(!spec.empty(), "bits: empty spec (examples: 8, int4, 8x16,4x48,2x64)");
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t x = item.find('x');
    char* end = nullptr;
    long b = std::strtol(item.substr(0, x).c_str(), &end, 10);
    GKV_CHECK(end && *end == '\0' && !item.empty() && b >= 0 && b <= 8, "bits: bad entry '", item, "' in '", spec_in,
              "' (bits per component must be 0..8)");
    int64_t count;
    if (x == std::string::npos) {
      GKV_CHECK(comma == std::string::npos, "bits: entry '", item, "' without a count must be last in '", spec_in, "'");
      count = d - int64_t(out.bits.size());
    } else {
      count = std::strtol(item.substr(x + 1).c_str(), &end, 10);
      GKV_CHECK(end && *end == '\0' && count > 0, "bits: bad count in '", item, "' of '", spec_in, "'");
    }
    GKV_CHECK(int64_t(out.bits.size()) + count <= d, "bits: '", spec_in, "' covers more than d_head = ", d,
              " components");
    out.bits.insert(out.bits.end(), size_t(count), int(b));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  GKV_CHECK(int64_t(out.bits.size()) == d, "bits: '", spec_in, "' covers ", out.bits.size(),
            " components, d_head is ", d);
  return out;
}

// ---------------- rotated quantized key ----------------

int64_t QuantRecords::record_bytes() const { return code_bytes + 2; }

int64_t QuantRecords::meta_bytes(bool identity_rotation) const {
  return (identity_rotation ? 0 : d * d * 4) + d * 4 + 8;
}

int QuantRecords::decode(int64_t t, int64_t j) const {
  const uint8_t* c = codes.data() + t * code_bytes;
  int64_t bit = 0;
  for (int64_t i = 0; i < j; ++i) bit += bits[size_t(i)];
  int b = bits[size_t(j)];
  if (b == 0) return 0;
  uint32_t q = 0;
  for (int i = 0; i < b; ++i, ++bit) q |= uint32_t((c[bit >> 3] >> (bit & 7)) & 1u) << i;
  return int(2 * q) - ((1 << b) - 1);
}

void QuantRecords::decode_row(int64_t t, float* out) const {
  // LSB-first bit stream: refill a 64-bit buffer a byte at a time, take b bits per component
  const uint8_t* c = codes.data() + t * code_bytes;
  const uint8_t* end = c + code_bytes;
  uint64_t buf = 0;
  int have = 0;
  for (int64_t j = 0; j < d; ++j) {
    const int b = bits[size_t(j)];
    if (b == 0) { out[j] = 0.0f; continue; }
    while (have < b && c < end) { buf |= uint64_t(*c++) << have; have += 8; }
    const uint32_t q = uint32_t(buf & ((1u << b) - 1));
    buf >>= b;
    have -= b;
    out[j] = float(int(2 * q) - ((1 << b) - 1));
  }
}

QuantRecords build_quant(const Basis& basis, const BitSpec& spec, int64_t group, int64_t seal_at, const float* k,
                         const float* v, int64_t n, int64_t stride) {
  const int64_t d = basis.d_head;
  GKV_CHECK(int64_t(spec.bits.size()) == d, "quant witness: bit spec covers ", spec.bits.size(),
            " components, d_head is ", d);
  GKV_CHECK(group >= 0, "quant witness: group size must be >= 0 (0 = one group), got ", group);
  // a NaN would pass every max() below unseen (codes from an undefined conversion, finite steps)
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i) {
      GKV_CHECK(std::isfinite(k[t * stride + i]), "quant witness: key of token ", t, ", component ", i, " is ",
                k[t * stride + i], " (not finite)");
      GKV_CHECK(std::isfinite(v[t * stride + i]), "quant witness: value of token ", t, ", component ", i, " is ",
                v[t * stride + i], " (not finite)");
    }
  QuantRecords rec;
  rec.n = n;
  rec.d = d;
  rec.group = group;
  rec.bits = spec.bits;
  rec.code_bytes = (spec.total_bits() + 7) / 8;
  // groups: G consecutive tokens from 0; a new group always starts at seal_at
  seal_at = std::clamp<int64_t>(seal_at, 0, n);
  rec.group_start.push_back(0);
  auto add_range = [&](int64_t a, int64_t b, int64_t g) {
    if (b <= a) return;
    if (rec.group_start.back() != a) rec.group_start.push_back(a);
    for (int64_t s = a + g; s < b; s += g) rec.group_start.push_back(s);
  };
  add_range(0, seal_at, group > 0 ? group : seal_at);
  // keys after seal_at were not there when the groups were fitted: each is its own group, so no
  // token's scale or error depends on a later key (causality; DESIGN §4.1b)
  add_range(seal_at, n, 1);
  if (rec.group_start.back() != n) rec.group_start.push_back(n);
  if (n == 0) rec.group_start = {0, 0};
  rec.n_groups = int64_t(rec.group_start.size()) - 1;
  rec.group_of.resize(size_t(n));
  rec.codes.assign(size_t(n * rec.code_bytes), 0);
  rec.half_step.assign(size_t(rec.n_groups * d), 0);
  rec.err.assign(size_t(rec.n_groups * d), 0);
  rec.nu.resize(size_t(n));
  // rotate in float64 with the stored rotation
  std::vector<double> c(static_cast<size_t>(n * d)), xn(static_cast<size_t>(n));
  std::vector<double> x(d);
  double resid_max = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* kt = k + t * stride;
    for (int64_t i = 0; i < d; ++i) x[i] = double(kt[i]) - double(basis.mu[i]);
    double xx = 0;
    for (int64_t i = 0; i < d; ++i) xx += x[i] * x[i];
    xn[size_t(t)] = std::sqrt(xx);
    std::vector<double> res(x);
    for (int64_t j = 0; j < d; ++j) {
      const float* p = basis.row(j);
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(p[i]) * x[i];
      c[size_t(t * d + j)] = s;
      for (int64_t i = 0; i < d; ++i) res[i] -= s * double(p[i]);
    }
    resid_max = std::max(resid_max, norm2(res.data(), d) + kBuildSlack * xn[size_t(t)]);
    rec.resid_pmax.push_back(resid_max * (1 + kBuildSlack));
    const float* vt = v + t * stride;
    double vn = 0;
    for (int64_t i = 0; i < d; ++i) vn += double(vt[i]) * vt[i];
    rec.nu[size_t(t)] = f16_round_up(std::sqrt(vn) * (1 + kBuildSlack));
  }
  rec.resid_max = resid_max * (1 + kBuildSlack);
  std::vector<int64_t> bit_off(size_t(d + 1), 0);
  for (int64_t j = 0; j < d; ++j) bit_off[size_t(j + 1)] = bit_off[size_t(j)] + spec.bits[size_t(j)];
  for (int64_t g = 0; g < rec.n_groups; ++g) {
    const int64_t t0 = rec.group_start[size_t(g)], t1 = rec.group_start[size_t(g + 1)];
    for (int64_t t = t0; t < t1; ++t) rec.group_of[size_t(t)] = g;
    for (int64_t j = 0; j < d; ++j) {
      const int b = spec.bits[size_t(j)];
      double amax = 0;
      for (int64_t t = t0; t < t1; ++t) amax = std::max(amax, std::fabs(c[size_t(t * d + j)]));
      double h = 0;
      uint16_t hb = 0;
      if (b > 0 && amax > 0) {
        hb = f16_round_up(std::min(amax / double(1 << b), 65504.0));
        h = f16_to_f32(hb);
      }
      rec.half_step[size_t(g * d + j)] = hb;
      const int qmax = (1 << b) - 1;
      double err = 0;
      for (int64_t t = t0; t < t1; ++t) {
        const double cj = c[size_t(t * d + j)];
        double chat = 0;
        if (b > 0) {
          double qd = h > 0 ? std::floor(cj / (2 * h)) + double(1 << (b - 1)) : double(1 << (b - 1));
          const int64_t q = int64_t(std::clamp(qd, 0.0, double(qmax)));
          uint8_t* dst = rec.codes.data() + t * rec.code_bytes;
          for (int i = 0; i < b; ++i) {
            int64_t bit = bit_off[size_t(j)] + i;
            if ((q >> i) & 1) dst[bit >> 3] = uint8_t(dst[bit >> 3] | (1u << (bit & 7)));
          }
          chat = h * double(2 * q - qmax);  // exact in float32 as well
        }
        err = std::max(err, std::fabs(cj - chat) + kBuildSlack * xn[size_t(t)]);
      }
      rec.err[size_t(g * d + j)] = f16_round_up(err);
    }
  }
  return rec;
}

ProtoRecords build_proto(int64_t rank, uint64_t seed, const float* k, int64_t n, int64_t stride, int64_t d) {
  GKV_CHECK(rank >= 1, "proto heuristic: rank must be >= 1, got ", rank);
  ProtoRecords rec;
  rec.n = n;
  rec.d = d;
  rec.r = rank;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 7);
  std::normal_distribution<double> nd(0.0, 1.0 / std::sqrt(double(rank)));
  rec.proj.resize(size_t(rank * d));
  for (auto& p : rec.proj) p = float(nd(rng));
  rec.sketch.resize(size_t(n * rank));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < rank; ++j) {
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(rec.proj[size_t(j * d + i)]) * k[t * stride + i];
      rec.sketch[size_t(t * rank + j)] = float(s);
    }
  return rec;
}

}  // namespace ghostkv
