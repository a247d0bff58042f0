#include "ghostkv/eliminate.h"

#include <memory>

#include "ghostkv/io/basis_file.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <cmath>
#include <functional>
#include <numeric>

#include "ghostkv/attention.h"
#include "ghostkv/bound.h"
#include "ghostkv/cpu/fast.h"
#include "ghostkv/half.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ghostkv {

WitnessKind parse_witness(const std::string& s) {
  if (s == "lowrank") return WitnessKind::lowrank;
  if (s == "quant") return WitnessKind::quant;
  if (s == "proto") return WitnessKind::proto;
  if (s == "exact" || s == "oracle") return WitnessKind::exact;
  throw Error(str_cat("witness: unknown '", s, "' (expected lowrank, quant, proto or exact)"));
}

const char* witness_name(WitnessKind w) {
  switch (w) {
    case WitnessKind::lowrank: return "lowrank";
    case WitnessKind::quant: return "quant";
    case WitnessKind::proto: return "proto";
    case WitnessKind::exact: return "exact";
  }
  return "?";
}

std::string Policy::text() const {
  const char* k = kind == PolicyKind::mass ? "mass" : kind == PolicyKind::rel ? "rel" : kind == PolicyKind::abs ? "abs" : "topk";
  return str_cat(k, ":", value);
}

Policy parse_policy(const std::string& s) {
  size_t c = s.find(':');
  GKV_CHECK(c != std::string::npos, "policy: expected KIND:VALUE (mass:1e-3, rel:8, abs:0.5, topk:256), got '", s, "'");
  std::string k = s.substr(0, c), v = s.substr(c + 1);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  GKV_CHECK(end && *end == '\0' && !v.empty() && std::isfinite(x), "policy: bad value '", v, "' in '", s, "'");
  Policy p;
  p.value = x;
  if (k == "mass") {
    p.kind = PolicyKind::mass;
    GKV_CHECK(x > 0 && x < 1, "policy: mass δ must be in (0, 1), got ", x);
  } else if (k == "rel") {
    p.kind = PolicyKind::rel;
    GKV_CHECK(x >= 0, "policy: rel τ must be >= 0, got ", x);
  } else if (k == "abs") {
    p.kind = PolicyKind::abs;
  } else if (k == "topk") {
    p.kind = PolicyKind::topk;
    GKV_CHECK(x >= 0 && x == std::floor(x), "policy: topk K must be a non-negative integer, got ", x);
  } else {
    throw Error(str_cat("policy: unknown kind '", k, "' (expected mass, rel, abs or topk)"));
  }
  return p;
}

Dist dist_of(std::vector<double> x) {
  Dist d;
  if (x.empty()) return d;
  std::sort(x.begin(), x.end());
  auto q = [&](double p) {
    double pos = p * double(x.size() - 1);
    size_t i = size_t(pos);
    double f = pos - double(i);
    return i + 1 < x.size() ? x[i] * (1 - f) + x[i + 1] * f : x[i];
  };
  d.mean = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
  d.median = q(0.5);
  d.p10 = q(0.1);
  d.p90 = q(0.9);
  d.min = x.front();
  d.max = x.back();
  return d;
}

namespace {

struct HeadRecords {
  Basis basis;
  LowRankRecords lr;
  QuantRecords qt;
  ProtoRecords pr;
  std::vector<double> nu;  // [n_kv] value norms as stored (f16, rounded up), for the certificate
  std::vector<double> kn;  // [n_kv] ||k_t|| (float64), for the reference path's score lower bounds
  AnchorSet an;            // anchors over the prefill keys (opt.anchors.kind != none)
};

// ln Σ_i exp(x_i) in float64 with a rigorous error bound: |ln Σ exp(x_i) − v| ≤ err for the given
// doubles x_i; err's surplus also covers the callers' rounding of x_i = fl(y_i − m) (docs/math.md §6.3). Shifted by a = max x_i and summed linearly:
//   each exp(x_i − a): argument rounding ≤ 2^-53·(|x_i| + |a|), exp ≤ 1 ulp; the sum ≤ γ_{n}; the log and
//   the final addition ≤ 2^-52·(|a| + ln n + 1); terms that underflow are < 2^-1074 each, relative to 1.
struct LnSum {
  double v = -INFINITY, err = 0;
};
LnSum ln_sum_exp(const std::vector<double>& x) {
  LnSum r;
  if (x.empty()) return r;
  double a = -INFINITY, amax = 0;
  for (double xi : x) {
    if (!(xi < INFINITY)) return {INFINITY, 0};  // +inf or NaN: unbounded
    a = std::max(a, xi);
    amax = std::max(amax, std::fabs(xi));
  }
  if (a == -INFINITY) return r;
  double s = 0;
  for (double xi : x) s += std::exp(xi - a);
  const double n = double(x.size());
  r.v = a + std::log(s);
  r.err = 0x1p-50 * (amax + std::fabs(a) + std::log(n) + 1) + 2 * gamma_n(int64_t(n) + 4, 0x1p-53) + n * 0x1p-1074;
  return r;
}

// Candidates already eliminated at the anchor level (the cascade): excluded from stage 1 and from the
// token policy; their anchors' certified mass terms (UB_A, n_a) are charged to each head's budget.
struct PreElim {
  std::vector<uint8_t> excl;                                    // over candidates [a, b)
  std::vector<std::vector<std::pair<double, int64_t>>> terms;   // [group] (UB_A uncentred, n_a)
};

// The selection of one (query, KV head): stage-1 tokens and eliminated candidates.
struct Selection {
  std::vector<uint8_t> stage1, elim;  // over candidates [a, b)
  int64_t n_stage1 = 0, n_elim = 0;
};

// ub[h][c]: bounds of candidate c (token a + c) for group head h; hot_lo[h]: score lower bounds of
// hot tokens; stage1_lo(h, idx, out): score lower bounds of the given tokens.
Selection select(const std::vector<std::vector<double>>& ub, const std::vector<std::vector<double>>& hot_lo,
                 const std::function<void(int64_t, const std::vector<int64_t>&, double*)>& stage1_lo, int64_t a,
                 const EliminateOptions& opt, const PreElim* pre = nullptr) {
  const int64_t group = int64_t(ub.size()), nc = group ? int64_t(ub[0].size()) : 0;
  Selection sel;
  sel.stage1.assign(nc, 0);
  sel.elim.assign(nc, 0);
  if (nc == 0) return sel;
  auto excluded = [&](int64_t c) { return pre && pre->excl[c]; };
  std::vector<int64_t> eligible;
  for (int64_t c = 0; c < nc; ++c)
    if (!excluded(c)) eligible.push_back(c);
  // stage 1: each head's top-M candidates by bound, union over the group (among candidates not
  // eliminated at the anchor level; M is counted on all candidates)
  int64_t M = 0;
  if (opt.two_stage >= 1) M = int64_t(opt.two_stage);
  else if (opt.two_stage > 0) M = int64_t(std::ceil(opt.two_stage * double(nc)));
  M = std::min<int64_t>(M, int64_t(eligible.size()));
  std::vector<int64_t> order(nc);
  if (M > 0) {
    for (int64_t h = 0; h < group; ++h) {
      order = eligible;
      std::nth_element(order.begin(), order.begin() + (M - 1), order.end(),
                       [&](int64_t x, int64_t y) { return ub[h][x] > ub[h][y] || (ub[h][x] == ub[h][y] && x < y); });
      for (int64_t i = 0; i < M; ++i) sel.stage1[order[i]] = 1;
    }
  }
  std::vector<int64_t> s1;
  for (int64_t c = 0; c < nc; ++c)
    if (sel.stage1[c]) s1.push_back(a + c);
  sel.n_stage1 = int64_t(s1.size());
  // m_L and ln Z_L per head over hot ∪ stage 1
  std::vector<double> m(group, -INFINITY), lnz(group, -INFINITY);
  std::vector<double> s1lo(s1.size());
  for (int64_t h = 0; h < group; ++h) {
    if (!s1.empty()) stage1_lo(h, s1, s1lo.data());
    for (double s : hot_lo[h]) m[h] = std::max(m[h], s);
    for (double s : s1lo) m[h] = std::max(m[h], s);
    std::vector<double> xs;
    for (double s : hot_lo[h]) xs.push_back(s - m[h]);
    for (double s : s1lo) xs.push_back(s - m[h]);
    const LnSum z = ln_sum_exp(xs);
    lnz[h] = z.v - z.err;
  }
  std::vector<int64_t> count(nc, 0);
  const PolicyKind kind = opt.policy.kind;
  const double val = opt.policy.value;
  if (kind == PolicyKind::topk) {
    std::vector<uint8_t> keep(nc, 0);
    int64_t K = std::min<int64_t>(int64_t(val), nc);
    for (int64_t h = 0; h < group && K > 0; ++h) {
      std::iota(order.begin(), order.end(), 0);
      std::nth_element(order.begin(), order.begin() + (K - 1), order.end(),
                       [&](int64_t x, int64_t y) { return ub[h][x] > ub[h][y] || (ub[h][x] == ub[h][y] && x < y); });
      for (int64_t i = 0; i < K; ++i) keep[order[i]] = 1;
    }
    for (int64_t c = 0; c < nc; ++c)
      if (!keep[c] && !sel.stage1[c]) count[c] = group;
  } else {
    for (int64_t h = 0; h < group; ++h) {
      if (kind == PolicyKind::mass) {
        // longest prefix (by bound, lowest first) with M_E/(Z_L + M_E) ≤ δ  ⇔  ln M_E ≤ ln(δ/(1−δ)) + ln Z_L
        order.clear();
        for (int64_t c = 0; c < nc; ++c)
          if (!sel.stage1[c] && !excluded(c)) order.push_back(c);
        std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return ub[h][x] < ub[h][y] || (ub[h][x] == ub[h][y] && x < y); });
        // Linear running sum relative to the budget's scale c: S = Σ n_i·exp(x_i − c) must stay ≤ e^{−slack}
        // (γ_n summation over the k tokens counted (an anchor term n_a·e adds one product rounding, within
        // the γ's k ≥ number of terms), exp and argument rounding as in ln_sum_exp with the largest |x_i| so
        // far, underflowed terms n·2^-1074). The anchors eliminated before this stage start the sum, in
        // this stage's frame (m_L, Z_L over hot ∪ stage 1).
        const double c = std::log(val / (1 - val)) + lnz[h];
        double S = 0, xabs = 0;
        int64_t k = 0;
        auto fits = [&](double sum, int64_t kk) {
          const double slack = 0x1p-50 * (xabs + std::fabs(c) + std::fabs(m[h]) + 1) + 2 * gamma_n(kk + 7, 0x1p-53);
          return sum * std::exp(slack) + double(kk) * 0x1p-1074 <= 1.0;
        };
        if (pre)
          for (const auto& [u, n_a] : pre->terms[h]) {
            const double x = u - m[h];
            xabs = std::max(xabs, std::fabs(x));
            S += double(n_a) * std::exp(x - c);
            k += n_a;
          }
        if (k == 0 || fits(S, k)) {
          for (int64_t cc : order) {
            const double x = ub[h][cc] - m[h];
            const double xabs_prev = xabs;
            xabs = std::max(xabs, std::fabs(x));
            const double next = S + std::exp(x - c);
            if (!fits(next, k + 1)) {
              xabs = xabs_prev;
              break;
            }
            S = next;
            ++k;
            count[cc]++;
          }
        }
        order.resize(nc);
      } else {
        const double thr = kind == PolicyKind::rel ? m[h] - val : val;
        for (int64_t c = 0; c < nc; ++c)
          if (!sel.stage1[c] && !excluded(c) && ub[h][c] < thr) count[c]++;
      }
    }
  }
  for (int64_t c = 0; c < nc; ++c) {
    sel.elim[c] = count[c] == group || excluded(c);
    sel.n_elim += sel.elim[c];
  }
  return sel;
}

// Anchor stage of the cascade for one (query, KV head): the anchors every head of the group eliminates.
// uba[h][A]: head h's bound of anchor A (uncentred); n_a[A]: A's members that are candidates; act: the
// anchors with n_a > 0. m_L and Z_L come from the hot tokens (the token stage may raise them later).
// mass: per head the longest prefix of its anchors by UB_A with Σ n_a·e^{UB_A − m_L} within δ/(1−δ)·Z_L
// (the linear-sum-with-slack form of `select`); rel/abs: UB_A below the head's threshold.
std::vector<uint8_t> anchor_stage(const std::vector<std::vector<double>>& uba, const std::vector<int64_t>& n_a,
                                  const std::vector<int64_t>& act, const std::vector<std::vector<double>>& hot_lo,
                                  const EliminateOptions& opt) {
  const int64_t group = int64_t(uba.size()), na = int64_t(n_a.size());
  std::vector<int64_t> count(size_t(na), 0);
  const PolicyKind kind = opt.policy.kind;
  const double val = opt.policy.value;
  for (int64_t h = 0; h < group; ++h) {
    double m = -INFINITY;
    for (double s : hot_lo[h]) m = std::max(m, s);
    std::vector<double> xs;
    for (double s : hot_lo[h]) xs.push_back(s - m);
    const LnSum z = ln_sum_exp(xs);
    const double lnz = z.v - z.err;
    if (kind == PolicyKind::mass) {
      std::vector<int64_t> order = act;
      std::sort(order.begin(), order.end(),
                [&](int64_t x, int64_t y) { return uba[h][x] < uba[h][y] || (uba[h][x] == uba[h][y] && x < y); });
      const double c = std::log(val / (1 - val)) + lnz;
      double S = 0, xabs = 0;
      int64_t k = 0;
      for (int64_t A : order) {
        const double x = uba[h][A] - m;
        const double xa = std::max(xabs, std::fabs(x));
        const double next = S + double(n_a[A]) * std::exp(x - c);
        const int64_t kk = k + n_a[A];
        const double slack = 0x1p-50 * (xa + std::fabs(c) + std::fabs(m) + 1) + 2 * gamma_n(kk + 7, 0x1p-53);
        if (!(next * std::exp(slack) + double(kk) * 0x1p-1074 <= 1.0)) break;
        S = next;
        k = kk;
        xabs = xa;
        count[A]++;
      }
    } else if (kind == PolicyKind::rel || kind == PolicyKind::abs) {
      const double thr = kind == PolicyKind::rel ? m - val : val;
      for (int64_t A : act)
        if (uba[h][A] < thr) count[A]++;
    }
  }
  std::vector<uint8_t> elim(size_t(na), 0);
  for (int64_t A : act) elim[A] = count[A] == group;
  return elim;
}

double norm_d(const double* x, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) s += x[j] * x[j];
  return std::sqrt(s);
}

// average ranks (ties share their mean rank)
std::vector<double> ranks(const std::vector<double>& x) {
  const int64_t n = int64_t(x.size());
  std::vector<int64_t> o(n);
  std::iota(o.begin(), o.end(), 0);
  std::sort(o.begin(), o.end(), [&](int64_t a, int64_t b) { return x[a] < x[b]; });
  std::vector<double> r(n);
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j + 1 < n && x[o[j + 1]] == x[o[i]]) ++j;
    for (int64_t k = i; k <= j; ++k) r[o[k]] = 0.5 * double(i + j);
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const int64_t n = int64_t(a.size());
  if (n < 2) return 0;
  std::vector<double> ra = ranks(a), rb = ranks(b);
  double ma = 0, mb = 0;
  for (int64_t i = 0; i < n; ++i) ma += ra[i], mb += rb[i];
  ma /= double(n);
  mb /= double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (int64_t i = 0; i < n; ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

std::vector<int64_t> top_k(const std::vector<double>& x, int64_t k) {
  std::vector<int64_t> o(x.size());
  std::iota(o.begin(), o.end(), 0);
  k = std::min<int64_t>(k, int64_t(x.size()));
  std::partial_sort(o.begin(), o.begin() + k, o.end(), [&](int64_t a, int64_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
  o.resize(k);
  return o;
}

}  // namespace

EliminateResult run_eliminate(const AttnInputs& in, const EliminateOptions& opt) {
  const int64_t n_q = in.n_q(), Hq = in.n_head_q(), Hkv = in.n_head_kv(), d = in.d_head(), n_kv = in.n_kv();
  const int64_t group = in.group(), stride = Hkv * d;
  GKV_CHECK(opt.n_sink >= 0 && opt.n_recent >= 0, "hot window: sink and recent must be >= 0, got ", opt.n_sink, ", ",
            opt.n_recent);
  GKV_CHECK(opt.two_stage >= 0, "two-stage: M must be >= 0, got ", opt.two_stage);
  EliminateResult res;
  const float* K = in.k.data<float>();
  const float* V = in.v.data<float>();
  const float* Q = in.q.data<float>();
  // ---- prefill: fit the basis on the keys before the first query (causal), build records ----
  int64_t min_pos = n_kv;
  for (int64_t i = 0; i < n_q; ++i) min_pos = std::min(min_pos, in.pos(i));
  // every query sees keys 0..min_pos: fitting on them (and building anchors over them) is causal
  int64_t fit_n = min_pos + 1;
  if (opt.fit_all) {
    fit_n = n_kv;
    res.fit_note = "basis fitted on all keys (requested; non-causal)";
  } else {
    res.fit_note = str_cat("basis fitted on keys [0, ", fit_n, ") that every query sees; later keys appended");
  }
  res.fit_tokens = fit_n;
  const BitSpec bits = opt.witness == WitnessKind::quant ? parse_bits(opt.bits, d) : BitSpec{};
  const bool use_anchors = opt.anchors.kind != AnchorKind::none;
  if (use_anchors) {
    res.fit_note += str_cat("; anchors (", anchor_kind_name(opt.anchors.kind), " ", anchor_bound_name(opt.anchors.bound),
                            " ", anchor_space_name(opt.anchors.space), ") built over keys [0, ", fit_n, ")");
  }
  std::vector<HeadRecords> recs(Hkv);
  std::unique_ptr<BasisSet> calibrated;
  if (!opt.basis_file.empty()) {
    calibrated = std::make_unique<BasisSet>(read_basis_file(opt.basis_file));
    GKV_CHECK(opt.basis_layer >= 0, opt.basis_file, ": a basis file needs the layer of the inputs (--layer)");
    GKV_CHECK(calibrated->n_head_kv == Hkv, opt.basis_file, ": ", calibrated->n_head_kv, " KV heads, the inputs have ", Hkv);
    GKV_CHECK(opt.sketch == BasisKind::pca || opt.sketch == BasisKind::orth || opt.sketch == BasisKind::identity,
              opt.basis_file, ": calibrated bases are full rotations (pca/orth/identity), not ", basis_kind_name(opt.sketch));
    const BasisKind file_kind = calibrated->bases.empty() ? BasisKind::pca : calibrated->bases[0].kind;
    GKV_CHECK(file_kind != BasisKind::gauss, opt.basis_file, ": holds gauss bases; calibrated bases must be full rotations");
    res.fit_tokens = calibrated->fit_tokens;
    res.fit_note += str_cat("; calibrated bases from ", opt.basis_file, " (layer ", opt.basis_layer, ", fitted on ",
                           calibrated->fit_tokens, " tokens of other text)");
  }
  auto t_build0 = std::chrono::steady_clock::now();
  // KV heads are independent: built in parallel (an exception is carried out of the parallel region)
  std::vector<double> mem_bytes(static_cast<size_t>(Hkv), 0.0), anchors_n(mem_bytes), anchor_b(mem_bytes);
  std::vector<std::exception_ptr> build_err(static_cast<size_t>(Hkv));
#ifdef _OPENMP
  const int n_build_threads = int(std::min<int64_t>(Hkv, opt.threads > 0 ? opt.threads : omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_build_threads)
#endif
  for (int64_t g = 0; g < Hkv; ++g) {
   try {
    HeadRecords& hr = recs[g];
    const float* kg = K + g * d;
    const float* vg = V + g * d;
    if (opt.witness == WitnessKind::lowrank || opt.witness == WitnessKind::quant) {
      const int64_t rank = opt.witness == WitnessKind::quant ? d : opt.rank;
      if (calibrated) {
        hr.basis = calibrated->at(opt.basis_layer, g);
        GKV_CHECK(hr.basis.d_head == d, opt.basis_file, ": d_head ", hr.basis.d_head, ", the inputs have ", d);
      } else {
        hr.basis = fit_basis(opt.sketch, kg, fit_n, stride, d, rank, opt.seed + uint64_t(g));
      }
    }
    if (use_anchors) {
      if (hr.basis.d_head == 0) hr.basis = fit_basis(BasisKind::pca, kg, fit_n, stride, d, d, opt.seed + uint64_t(g));
      AnchorParams ap = opt.anchors;
      ap.seed = opt.anchors.seed + uint64_t(g);
      hr.an = build_anchors(ap, hr.basis, kg, vg, fit_n, stride);
      mem_bytes[size_t(g)] += double(hr.an.n_anchors * hr.an.anchor_bytes());
      anchors_n[size_t(g)] = double(hr.an.n_anchors);
      anchor_b[size_t(g)] = double(hr.an.anchor_bytes());
    }
    if (opt.witness == WitnessKind::lowrank) {
      hr.lr = build_lowrank(hr.basis, opt.rank, opt.residual_blocks, opt.storage, kg, vg, n_kv, stride);
      mem_bytes[size_t(g)] += double(hr.lr.record_bytes() * n_kv + hr.lr.meta_bytes());
    } else if (opt.witness == WitnessKind::quant) {
      hr.qt = build_quant(hr.basis, bits, opt.group, fit_n, kg, vg, n_kv, stride);
      mem_bytes[size_t(g)] += double(hr.qt.record_bytes() * n_kv + hr.qt.n_groups * hr.qt.group_meta_bytes() +
                                     hr.qt.meta_bytes(opt.sketch == BasisKind::identity));
    } else if (opt.witness == WitnessKind::proto) {
      hr.pr = build_proto(opt.rank, opt.seed + uint64_t(g), kg, n_kv, stride, d);
      mem_bytes[size_t(g)] += double(hr.pr.record_bytes() * n_kv + hr.pr.meta_bytes());
    }
    hr.nu.resize(n_kv);
    hr.kn.resize(n_kv);
    for (int64_t t = 0; t < n_kv; ++t) {
      double s2 = 0;
      for (int64_t j = 0; j < d; ++j) s2 += double(kg[t * stride + j]) * kg[t * stride + j];
      hr.kn[t] = std::sqrt(s2);
    }
    if (opt.witness == WitnessKind::lowrank) {
      for (int64_t t = 0; t < n_kv; ++t) hr.nu[t] = f16_to_f32(hr.lr.nu[t]);
    } else if (opt.witness == WitnessKind::quant) {
      for (int64_t t = 0; t < n_kv; ++t) hr.nu[t] = f16_to_f32(hr.qt.nu[t]);
    } else {
      for (int64_t t = 0; t < n_kv; ++t) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += double(vg[t * stride + j]) * vg[t * stride + j];
        hr.nu[t] = f16_to_f32(f16_round_up(std::sqrt(s) * (1 + kBuildSlack)));
      }
    }
   } catch (...) {
    build_err[size_t(g)] = std::current_exception();
   }
  }
  for (int64_t g = 0; g < Hkv; ++g)
    if (build_err[size_t(g)]) std::rethrow_exception(build_err[size_t(g)]);
  for (int64_t g = 0; g < Hkv; ++g) {  // in head order, as the serial loop summed them
    res.record_memory_bytes += mem_bytes[size_t(g)];
    if (use_anchors) {
      res.anchors_per_head += anchors_n[size_t(g)] / double(Hkv);
      res.anchor_bytes = anchor_b[size_t(g)];
    }
  }
  res.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_build0).count();
  // bytes per candidate record and per step of metadata
  double rec_bytes = 0, meta_bytes = 0;
  switch (opt.witness) {
    case WitnessKind::lowrank: rec_bytes = double(recs[0].lr.record_bytes()); meta_bytes = double(recs[0].lr.meta_bytes()); break;
    case WitnessKind::quant: rec_bytes = double(recs[0].qt.record_bytes()); meta_bytes = double(recs[0].qt.meta_bytes(opt.sketch == BasisKind::identity)); break;
    case WitnessKind::proto: rec_bytes = double(recs[0].pr.record_bytes() + 2); meta_bytes = double(recs[0].pr.meta_bytes()); break;
    case WitnessKind::exact: rec_bytes = double(2 * d); meta_bytes = 0; break;  // reading K (bf16) itself
  }
  // per-step metadata the anchors add to the token witness's: the rotation (rot space) unless the quant
  // witness reads it anyway; μ (orig space) unless a basis-based witness reads it anyway
  double anchor_meta = 0;
  if (use_anchors) {
    const bool has_rot = opt.witness == WitnessKind::quant && opt.sketch != BasisKind::identity;
    const bool has_mu = opt.witness == WitnessKind::quant || opt.witness == WitnessKind::lowrank;
    if (opt.anchors.space == AnchorSpace::rot && !has_rot) anchor_meta += double(d * d * 4 + 8);
    if (!has_mu) anchor_meta += double(d * 4);
  }
  res.record_bytes_per_token = rec_bytes;
  res.meta_bytes_per_step = meta_bytes;
  res.steps.resize(n_q * Hkv);
  res.heads.resize(n_q * Hq);
  if (opt.keep_arrays) {
    res.upper_bound = Tensor(DType::f32, {n_q, Hq, n_kv});
    res.survivors = Tensor(DType::u8, {n_q, Hkv, n_kv});
    res.output = Tensor(DType::f32, {n_q, Hq, d});
    res.anchor_eliminated = Tensor(DType::u8, {n_q, Hkv, n_kv});
  }
  std::vector<int64_t> num_err_fail(n_q * Hkv, 0);
  auto t_eval0 = std::chrono::steady_clock::now();
#ifdef _OPENMP
  const int n_threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
#endif
  for (int64_t step = 0; step < n_q * Hkv; ++step) {
    const int64_t i = step / Hkv, g = step % Hkv;
    const HeadRecords& hr = recs[g];
    const int64_t n_seen = in.pos(i) + 1;
    const int64_t a = std::min(opt.n_sink, n_seen);
    const int64_t b = std::max(a, n_seen - opt.n_recent);
    const int64_t nc = b - a;
    const float* kg = K + g * d;
    const float* vg = V + g * d;
    std::vector<int64_t> hot;
    for (int64_t t = 0; t < a; ++t) hot.push_back(t);
    for (int64_t t = b; t < n_seen; ++t) hot.push_back(t);
    // per group head: q, exact scores, bounds
    std::vector<std::vector<double>> qd(group, std::vector<double>(d)), s_ex(group, std::vector<double>(n_seen));
    // reference path: certified lower bounds of the float64 scores (dot2 error ≤ u64·|s| + γ_d²·σ·Σ|q_j k_j|)
    std::vector<std::vector<double>> s_lo_ref(group, std::vector<double>(opt.reference ? n_seen : 0));
    std::vector<std::vector<float>> q32(group, std::vector<float>(d));
    std::vector<std::vector<double>> ub(group, std::vector<double>(nc)), hot_lo(group), ex_c(group, std::vector<double>(nc));
    std::vector<double> qshift(group, 0.0);  // q·μ + its float64 slack: centred → uncentred
    for (int64_t hh = 0; hh < group; ++hh) {
      const int64_t h = g * group + hh;
      const float* qr = Q + (i * Hq + h) * d;
      for (int64_t j = 0; j < d; ++j) {
        qd[hh][j] = in.scale * double(qr[j]);
        q32[hh][j] = float(qd[hh][j]);
      }
      for (int64_t t = 0; t < n_seen; ++t) s_ex[hh][t] = exact_score(qr, kg + t * stride, d, in.scale);
      if (opt.reference) {
        double qn = 0;
        for (int64_t j = 0; j < d; ++j) qn += double(qr[j]) * qr[j];
        qn = std::sqrt(qn) * in.scale;
        for (int64_t t = 0; t < n_seen; ++t)
          s_lo_ref[hh][t] = s_ex[hh][t] - 0x1p-48 * (std::fabs(s_ex[hh][t]) + qn * hr.kn[t]);
      }
      for (int64_t c = 0; c < nc; ++c) ex_c[hh][c] = s_ex[hh][a + c];
      // bounds of the candidates, uncentred: UB = UB' + q·μ (+ float64 slack)
      double qmu = 0, qmu_slack = 0;
      if (opt.witness == WitnessKind::lowrank || opt.witness == WitnessKind::quant || use_anchors) {
        double mn = 0;
        for (int64_t j = 0; j < d; ++j) {
          qmu += qd[hh][j] * double(hr.basis.mu[j]);
          mn += double(hr.basis.mu[j]) * hr.basis.mu[j];
        }
        qmu_slack = kBuildSlack * norm_d(qd[hh].data(), d) * std::sqrt(mn);
      }
      qshift[hh] = qmu + qmu_slack;
      hot_lo[hh].resize(hot.size());
      if (opt.reference) {
        for (size_t x = 0; x < hot.size(); ++x) hot_lo[hh][x] = s_lo_ref[hh][hot[x]];
      } else {
        std::vector<float> tmp(hot.size());
        cpu::score_lower_bounds(q32[hh].data(), kg, stride, d, hot.data(), int64_t(hot.size()), hot_lo[hh].data(), tmp.data());
      }
    }
    auto lo_path = [&](int64_t hh, const std::vector<int64_t>& idx, double* out) {
      if (opt.reference) {
        for (size_t x = 0; x < idx.size(); ++x) out[x] = s_lo_ref[hh][idx[x]];
      } else {
        std::vector<float> tmp(idx.size());
        cpu::score_lower_bounds(q32[hh].data(), kg, stride, d, idx.data(), int64_t(idx.size()), out, tmp.data());
      }
    };
    auto lo_exact = [&](int64_t hh, const std::vector<int64_t>& idx, double* out) {
      for (size_t x = 0; x < idx.size(); ++x) out[x] = s_ex[hh][idx[x]];
    };
    // ---- anchor stage (cascade): bound the anchors that have candidates, eliminate whole anchors ----
    const AnchorSet& an = hr.an;
    const bool cascade = use_anchors && nc > 0 && opt.policy.kind != PolicyKind::topk;
    std::vector<int64_t> anchor_c(nc, -1);  // anchor of each candidate (-1: appended after fit_n, none)
    std::vector<int64_t> n_a, act;
    std::vector<std::vector<double>> uba(group);
    PreElim pre;
    pre.excl.assign(nc, 0);
    pre.terms.resize(group);
    int64_t n_anchor_elim = 0;
    if (cascade) {
      n_a.assign(size_t(an.n_anchors), 0);
      for (int64_t t = a; t < std::min(b, an.n_tokens); ++t) {
        anchor_c[t - a] = an.anchor_of[t];
        n_a[an.anchor_of[t]]++;
      }
      for (int64_t A = 0; A < an.n_anchors; ++A)
        if (n_a[A] > 0) act.push_back(A);
      for (int64_t hh = 0; hh < group; ++hh) {
        uba[hh].assign(size_t(an.n_anchors), -INFINITY);
        // bound every anchor in one scan of the span of active anchors (only active ones are used/read)
        if (!act.empty()) {
          const int64_t A0 = act.front(), A1 = act.back() + 1;
          if (opt.reference) ref::anchor_bounds(an, hr.basis, qd[hh].data(), A0, A1, uba[hh].data() + A0);
          else cpu::anchor_bounds(an, hr.basis, qd[hh].data(), A0, A1, uba[hh].data() + A0);
          for (int64_t A = A0; A < A1; ++A) uba[hh][A] += qshift[hh];
        }
      }
      const std::vector<uint8_t> aelim = anchor_stage(uba, n_a, act, hot_lo, opt);
      for (int64_t c = 0; c < nc; ++c)
        if (anchor_c[c] >= 0 && aelim[anchor_c[c]]) pre.excl[c] = 1, ++n_anchor_elim;
      for (int64_t A : act)
        if (aelim[A])
          for (int64_t hh = 0; hh < group; ++hh) pre.terms[hh].push_back({uba[hh][A], n_a[A]});
    }
    // ---- token stage: witness bounds only for candidates not eliminated at the anchor level ----
    // The float32 path scans each span once for every head of the group (cpu::*_bounds_multi: a record
    // is read once per step; each token's bound is the same as a one-head scan's).
    const bool multi = !opt.reference && (opt.witness == WitnessKind::lowrank || opt.witness == WitnessKind::quant);
    std::vector<LowRankQuery> lqs(multi && opt.witness == WitnessKind::lowrank ? size_t(group) : 0);
    std::vector<QuantQuery> qqs(multi && opt.witness == WitnessKind::quant ? size_t(group) : 0);
    if (multi && nc > 0) {
      if (opt.witness == WitnessKind::lowrank) {
        for (int64_t hh = 0; hh < group; ++hh) lqs[size_t(hh)] = prepare_lowrank_query(hr.basis, hr.lr, qd[hh].data(), n_seen);
      } else {  // the whole group in one pass over the per-group tables (bit-equal to the per-head preparation)
        std::vector<const double*> qh(static_cast<size_t>(group));
        for (int64_t hh = 0; hh < group; ++hh) qh[size_t(hh)] = qd[hh].data();
        cpu::prepare_quant_queries(hr.basis, hr.qt, qh.data(), int(group), n_seen, true, qqs.data());
      }
      std::vector<const LowRankQuery*> lp(lqs.size());
      std::vector<const QuantQuery*> qp(qqs.size());
      for (size_t x = 0; x < lqs.size(); ++x) lp[x] = &lqs[x];
      for (size_t x = 0; x < qqs.size(); ++x) qp[x] = &qqs[x];
      std::vector<double*> up(static_cast<size_t>(group));
      for (int64_t c0 = 0; c0 < nc;) {
        if (pre.excl[c0]) {
          for (int64_t hh = 0; hh < group; ++hh) ub[hh][c0] = uba[hh][anchor_c[c0]];  // the anchor's bound stands for its members
          ++c0;
          continue;
        }
        int64_t c1 = c0;
        while (c1 < nc && !pre.excl[c1]) ++c1;
        for (int64_t hh = 0; hh < group; ++hh) up[size_t(hh)] = ub[hh].data() + c0;
        if (opt.witness == WitnessKind::lowrank) cpu::lowrank_bounds_multi(hr.lr, lp.data(), int(group), a + c0, a + c1, up.data());
        else cpu::quant_bounds_multi(hr.qt, qp.data(), int(group), a + c0, a + c1, up.data());
        for (int64_t hh = 0; hh < group; ++hh)
          for (int64_t c = c0; c < c1; ++c) ub[hh][c] += qshift[hh];
        c0 = c1;
      }
    }
    for (int64_t hh = 0; hh < group && nc > 0 && !multi; ++hh) {
      LowRankQuery lq;
      QuantQuery qq;
      // per-head constants of the prefix this query sees (causal)
      if (opt.witness == WitnessKind::lowrank) lq = prepare_lowrank_query(hr.basis, hr.lr, qd[hh].data(), n_seen);
      if (opt.witness == WitnessKind::quant) qq = prepare_quant_query(hr.basis, hr.qt, qd[hh].data(), n_seen);
      for (int64_t c0 = 0; c0 < nc;) {
        if (pre.excl[c0]) {
          ub[hh][c0] = uba[hh][anchor_c[c0]];  // the anchor's bound stands for its eliminated members
          ++c0;
          continue;
        }
        int64_t c1 = c0;
        while (c1 < nc && !pre.excl[c1]) ++c1;
        const int64_t t0 = a + c0, t1 = a + c1;
        double* u = ub[hh].data() + c0;
        switch (opt.witness) {
          case WitnessKind::lowrank:
            if (opt.reference) ref::lowrank_bounds(hr.lr, lq, t0, t1, u);
            else cpu::lowrank_bounds(hr.lr, lq, t0, t1, u);
            break;
          case WitnessKind::quant:
            if (opt.reference) ref::quant_bounds(hr.qt, qq, t0, t1, u);
            else cpu::quant_bounds(hr.qt, qq, t0, t1, u);
            break;
          case WitnessKind::proto:
            proto_scores(hr.pr, qd[hh].data(), opt.proto_eps, opt.proto_sigma, t0, t1, u);
            break;
          case WitnessKind::exact:
            for (int64_t c = c0; c < c1; ++c) ub[hh][c] = ex_c[hh][c];
            break;
        }
        if (opt.witness == WitnessKind::lowrank || opt.witness == WitnessKind::quant)
          for (int64_t c = c0; c < c1; ++c) ub[hh][c] += qshift[hh];
        c0 = c1;
      }
    }
    Selection sel = select(ub, hot_lo, lo_path, a, opt, cascade ? &pre : nullptr);
    // certified oracle: true scores, same policy, same partition lower bound
    std::vector<std::vector<double>> hot_ex(group);
    for (int64_t hh = 0; hh < group; ++hh)
      for (int64_t t : hot) hot_ex[hh].push_back(s_ex[hh][t]);
    Selection osel = select(ex_c, hot_ex, lo_exact, a, opt);
    // attended set: hot ∪ stage 1 ∪ survivors
    std::vector<int64_t> att = hot;
    for (int64_t c = 0; c < nc; ++c)
      if (!sel.elim[c]) att.push_back(a + c);
    std::sort(att.begin(), att.end());
    StepStats& st = res.steps[step];
    st.n_seen = n_seen;
    st.n_hot = int64_t(hot.size());
    st.n_cand = nc;
    st.n_elim = sel.n_elim;
    st.n_stage1 = sel.n_stage1;
    st.n_oracle_elim = osel.n_elim;
    st.dense_bytes = double(n_seen) * 2 * d * 2;
    st.n_anchor_elim = n_anchor_elim;
    st.n_anchors_read = int64_t(act.size());
    st.n_records_read = nc - n_anchor_elim;
    // quant group tables: only groups with a token record read (groups are contiguous in t)
    double group_meta = 0;
    if (opt.witness == WitnessKind::quant && nc > 0) {
      int64_t n_groups_read = 0, last = -1;
      for (int64_t c = 0; c < nc; ++c)
        if (!pre.excl[c] && hr.qt.group_of[a + c] != last) last = hr.qt.group_of[a + c], ++n_groups_read;
      group_meta = double(n_groups_read) * double(hr.qt.group_meta_bytes());
    }
    const double anchor_read = cascade ? double(act.size()) * double(an.anchor_bytes()) + anchor_meta : 0.0;
    st.read_bytes = double(hot.size()) * 2 * d * 2 +
                    (nc > 0 ? double(st.n_records_read) * rec_bytes + meta_bytes + group_meta + anchor_read : 0.0) +
                    double(nc - sel.n_elim) * 2 * d * 2;
    if (opt.keep_arrays) {
      uint8_t* sv = res.survivors.data<uint8_t>() + (i * Hkv + g) * n_kv;
      for (int64_t t : att) sv[t] = 1;
      uint8_t* ae = res.anchor_eliminated.data<uint8_t>() + (i * Hkv + g) * n_kv;
      for (int64_t c = 0; c < nc; ++c) ae[a + c] = pre.excl[c];
    }
    // ν for the certificate: the anchor's ν_A for members eliminated with their anchor, ν_t otherwise
    double nu_max_e = 0;
    for (int64_t c = 0; c < nc; ++c)
      if (sel.elim[c]) nu_max_e = std::max(nu_max_e, pre.excl[c] ? an.nu_max[anchor_c[c]] : hr.nu[a + c]);
    for (int64_t hh = 0; hh < group; ++hh) {
      const int64_t h = g * group + hh;
      HeadStats& hs = res.heads[i * Hq + h];
      hs.n_cand = nc;
      // attention over the attended set
      AttnOut ao;
      std::vector<double> s_att(att.size());
      for (size_t x = 0; x < att.size(); ++x) s_att[x] = s_ex[hh][att[x]];
      AttnOut ao64;
      ref::attend(s_att.data(), vg, stride, d, att.data(), int64_t(att.size()), ao64);
      if (opt.reference) {
        ao = ao64;
        for (size_t x = 0; x < att.size(); ++x) ao.s_lo[x] = s_lo_ref[hh][att[x]];
      }
      else cpu::attend(q32[hh].data(), kg, vg, stride, d, att.data(), int64_t(att.size()), ao);
      // certificate with the final Z over every attended token
      double m = -INFINITY;
      for (double s : ao.s_lo) m = std::max(m, s);
      std::vector<double> xz, xm;
      for (double s : ao.s_lo) xz.push_back(s - m);
      for (int64_t c = 0; c < nc; ++c)
        if (sel.elim[c]) xm.push_back(ub[hh][c] - m);
      const LnSum lz = ln_sum_exp(xz), lm = ln_sum_exp(xm);
      // mass_E ≤ M_E/(Z + M_E) = 1/(1 + exp(ln Z − ln M_E)), with ln Z rounded down and ln M_E up
      // (the final exp, + and / lose ≤ 3 u64 relative: rounded up by 2^-50, capped at 1)
      hs.mass_bound = lm.v == -INFINITY ? 0.0
                                        : std::min(1.0, (1 + 0x1p-50) / (1.0 + std::exp((lz.v - lz.err) - (lm.v + lm.err))));
      const double out_norm = norm_d(ao.out.data(), d);
      // reference path: the float64 scores carry ≈ u64·|s| error each, i.e. a relative weight error of
      // ≤ 4·u64·(max|s| + 1) on the attended output, on top of the summation error
      double s_abs_max = 0;
      for (double x : ao.s_lo) s_abs_max = std::max(s_abs_max, std::fabs(x));
      double out_norm_ub = opt.reference
                               ? std::min(ao.nu_max * (1 + kBuildSlack),
                                          out_norm * (1 + kBuildSlack) +
                                              (gamma_n(int64_t(att.size()) + d + 4, 0x1p-53) * 4 + 0x1p-50 * (s_abs_max + 1)) *
                                                  ao.nu_max)
                               : std::min(ao.nu_max * (1 + kBuildSlack), out_norm * (1 + gamma_n(d + 2)) + ao.num_err_bound);
      // (E empty ⇒ 0 exactly; never 0·inf)
      hs.out_err_bound = hs.mass_bound > 0 ? hs.mass_bound * (nu_max_e + out_norm_ub) : 0.0;
      hs.out_num_err_bound = ao.num_err_bound;
      // reference: full exact attention over every visible key
      double mx = -INFINITY;
      for (double s : s_ex[hh]) mx = std::max(mx, s);
      std::vector<double> p(n_seen);
      double z = 0;
      for (int64_t t = 0; t < n_seen; ++t) z += (p[t] = std::exp(s_ex[hh][t] - mx));
      std::vector<double> o(d, 0.0);
      for (int64_t t = 0; t < n_seen; ++t) {
        p[t] /= z;
        const float* vt = vg + t * stride;
        for (int64_t j = 0; j < d; ++j) o[j] += p[t] * double(vt[j]);
      }
      double ml = 0, oml = 0;
      for (int64_t c = 0; c < nc; ++c) {
        if (sel.elim[c]) ml += p[a + c];
        if (osel.elim[c]) oml += p[a + c];
      }
      hs.mass_lost = ml;
      hs.oracle_mass_lost = oml;
      double e2 = 0, r2 = 0, n2 = 0, on = 0, n64 = 0;
      for (int64_t j = 0; j < d; ++j) {
        e2 += (o[j] - ao64.out[j]) * (o[j] - ao64.out[j]);
        r2 += (o[j] - ao.out[j]) * (o[j] - ao.out[j]);
        n2 += (ao.out[j] - ao64.out[j]) * (ao.out[j] - ao64.out[j]);
        on += o[j] * o[j];
        n64 += ao64.out[j] * ao64.out[j];
      }
      hs.out_err = std::sqrt(e2);
      hs.out_rel_err = on > 0 ? std::sqrt(r2 / on) : std::sqrt(r2);
      hs.out_num_err = n64 > 0 ? std::sqrt(n2 / n64) : std::sqrt(n2);
      if (!opt.reference && std::sqrt(n2) > ao.num_err_bound) num_err_fail[step]++;
      // the float64 reference carries its own rounding (≈ n·2^-53 relative): compare with that tolerance
      double nu_vis = 0;
      for (int64_t t = 0; t < n_seen; ++t) nu_vis = std::max(nu_vis, hr.nu[t]);
      const double ref_tol = gamma_n(n_seen + d + 8, 0x1p-53) * 4;
      hs.cert_fail = hs.mass_lost > hs.mass_bound + ref_tol || hs.out_err > hs.out_err_bound + ref_tol * nu_vis;
      // violations: bound < exact score over the candidates
      for (int64_t c = 0; c < nc; ++c)
        if (!(ub[hh][c] >= ex_c[hh][c])) hs.violations++;
      // and every anchor bound that was read, for its candidate members that were not eliminated with it
      if (cascade)
        for (int64_t c = 0; c < nc; ++c)
          if (anchor_c[c] >= 0 && !pre.excl[c] && !(uba[hh][anchor_c[c]] >= ex_c[hh][c])) hs.violations++;
      // ranking metrics over the candidates
      if (nc > 0) {
        const int64_t k = std::min<int64_t>(opt.topk_metric, nc);
        std::vector<int64_t> tk = top_k(ex_c[hh], k), tb = top_k(ub[hh], k);
        int64_t hit = 0, both = 0;
        std::vector<uint8_t> in_tk(nc, 0);
        for (int64_t c : tk) in_tk[c] = 1, hit += sel.elim[c];
        for (int64_t c : tb) both += in_tk[c];
        hs.fer_topk = double(hit) / double(k);
        hs.recall = double(both) / double(k);
        hs.spearman = spearman(ub[hh], ex_c[hh]);
      }
      // fer_mass@α: smallest set of visible keys holding mass ≥ α
      {
        std::vector<int64_t> o2(n_seen);
        std::iota(o2.begin(), o2.end(), 0);
        std::sort(o2.begin(), o2.end(), [&](int64_t x, int64_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
        double cum = 0;
        int64_t rel = 0, rel_e = 0, rel_c = 0;
        for (int64_t t : o2) {
          if (cum >= opt.fer_alpha) break;
          cum += p[t];
          ++rel;
          if (t >= a && t < b) {
            ++rel_c;
            rel_e += sel.elim[t - a];
          }
        }
        hs.fer_mass = rel ? double(rel_e) / double(rel) : 0.0;
        hs.fer_mass_chance = rel && nc ? double(sel.n_elim) / double(nc) * double(rel_c) / double(rel) : 0.0;
      }
      if (opt.keep_arrays) {
        float* ubo = res.upper_bound.data<float>() + (i * Hq + h) * n_kv;
        for (int64_t t = 0; t < n_kv; ++t) ubo[t] = -INFINITY;
        for (int64_t t : hot) ubo[t] = float(s_ex[hh][t]);
        for (int64_t c = 0; c < nc; ++c) ubo[a + c] = sel.stage1[c] ? float(ex_c[hh][c]) : f32_round_up(ub[hh][c]);
        float* oo = res.output.data<float>() + (i * Hq + h) * d;
        for (int64_t j = 0; j < d; ++j) oo[j] = float(ao.out[j]);
      }
    }
  }
  res.eval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_eval0).count();
  // ---- aggregate ----
  std::vector<double> er, oer, ml, mb, ore, one, fk, fm, rc, sp, mt, aer;
  double rb = 0, db = 0, n_rec = 0, n_cand = 0;
  for (const StepStats& s : res.steps) {
    n_rec += double(s.n_records_read);
    n_cand += double(s.n_cand);
    if (s.n_cand > 0) {
      aer.push_back(double(s.n_anchor_elim) / double(s.n_cand));
      er.push_back(double(s.n_elim) / double(s.n_cand));
      oer.push_back(double(s.n_oracle_elim) / double(s.n_cand));
    }
    rb += s.read_bytes;
    db += s.dense_bytes;
    res.candidates_checked += s.n_cand;
  }
  res.candidates_checked *= group;
  for (const HeadStats& h : res.heads) {
    res.violations += h.violations;
    res.certificate_failures += h.cert_fail;
    ml.push_back(h.mass_lost);
    mb.push_back(h.mass_bound);
    ore.push_back(h.out_rel_err);
    one.push_back(h.out_num_err);
    fm.push_back(h.fer_mass);
    if (h.n_cand > 0) {  // ranking and tightness metrics are undefined without candidates
      fk.push_back(h.fer_topk);
      rc.push_back(h.recall);
      sp.push_back(h.spearman);
      mt.push_back(h.mass_bound / std::max(h.mass_lost, 1e-300));
    }
  }
  for (int64_t f : num_err_fail) res.num_err_bound_failures += f;
  res.elim_rate = dist_of(er);
  res.oracle_elim_rate = dist_of(oer);
  res.mass_lost = dist_of(ml);
  res.mass_bound = dist_of(mb);
  res.out_rel_err = dist_of(ore);
  res.out_num_err = dist_of(one);
  res.fer_topk = dist_of(fk);
  res.fer_mass = dist_of(fm);
  res.recall = dist_of(rc);
  res.spearman = dist_of(sp);
  res.mass_tightness = dist_of(mt);
  res.kv_bytes_frac = db > 0 ? rb / db : 0.0;
  res.anchor_elim_rate = dist_of(aer);
  res.records_read_frac = n_cand > 0 ? n_rec / n_cand : 0.0;
  return res;
}

}  // namespace ghostkv
