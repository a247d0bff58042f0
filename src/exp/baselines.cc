// Baselines (include/ghostkv/exp/baselines.h): selections by window, H2O, Quest, Loki and true top-K,
// scored with the DESIGN §6 metrics against float64 full attention. The full attention of every
// (query, query head) is computed once (ExactAttention) and shared by every method and budget.
#include "ghostkv/exp/baselines.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "ghostkv/basis.h"
#include "ghostkv/error.h"

namespace ghostkv::exp {

BaselineKind parse_baseline(const std::string& s) {
  if (s == "full") return BaselineKind::full;
  if (s == "window" || s == "streamingllm") return BaselineKind::window;
  if (s == "h2o") return BaselineKind::h2o;
  if (s == "quest") return BaselineKind::quest;
  if (s == "loki") return BaselineKind::loki;
  if (s == "oracle_topk" || s == "oracle") return BaselineKind::oracle_topk;
  throw Error(str_cat("baseline '", s, "': expected full | window | h2o | quest | loki | oracle_topk"));
}
const char* baseline_name(BaselineKind k) {
  switch (k) {
    case BaselineKind::full: return "full";
    case BaselineKind::window: return "window";
    case BaselineKind::h2o: return "h2o";
    case BaselineKind::quest: return "quest";
    case BaselineKind::loki: return "loki";
    case BaselineKind::oracle_topk: return "oracle_topk";
  }
  return "?";
}

namespace {

// Full exact attention of every (query i, query head h), float64, over the keys query i sees.
struct ExactAttention {
  int64_t n_q = 0, Hq = 0, Hkv = 0, G = 0, d = 0, n_kv = 0;
  std::vector<int64_t> n_seen, a, b;             // [n_q] visible keys, candidate range [a, b)
  std::vector<std::vector<double>> s, p, o;      // [n_q·Hq] scores / weights over n_seen; output [d]
  std::vector<double> o_norm;                    // [n_q·Hq]
  std::vector<std::vector<int64_t>> topk;        // [n_q·Hq] candidate offsets of the true top-k
  std::vector<std::vector<int64_t>> rel;         // [n_q·Hq] token ids of Rel_α
  std::vector<std::vector<int32_t>> rank;        // [n_q·Hq] rank of each candidate by true score (0 = best)
  const float* k = nullptr;
  const float* v = nullptr;

  ExactAttention(const AttnInputs& in, const BaselineParams& p0) {
    n_q = in.n_q(), Hq = in.n_head_q(), Hkv = in.n_head_kv(), G = in.group(), d = in.d_head(), n_kv = in.n_kv();
    k = in.k.data<float>(), v = in.v.data<float>();
    n_seen.resize(size_t(n_q)), a.resize(size_t(n_q)), b.resize(size_t(n_q));
    for (int64_t i = 0; i < n_q; ++i) {
      n_seen[size_t(i)] = in.pos(i) + 1;
      const int64_t ns = std::min(p0.n_sink, n_seen[size_t(i)]);
      const int64_t nr = std::min(p0.n_recent, n_seen[size_t(i)] - ns);
      a[size_t(i)] = ns, b[size_t(i)] = n_seen[size_t(i)] - nr;
    }
    const size_t N = size_t(n_q * Hq);
    s.resize(N), p.resize(N), o.resize(N), o_norm.resize(N), topk.resize(N), rel.resize(N), rank.resize(N);
    const float* q = in.q.data<float>();
    const int nt = p0.threads > 0 ? p0.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t ih = 0; ih < n_q * Hq; ++ih) {
      const int64_t i = ih / Hq, h = ih % Hq, g = h / G, ns = n_seen[size_t(i)];
      const float* qi = q + (i * Hq + h) * d;
      auto& si = s[size_t(ih)];
      auto& pi = p[size_t(ih)];
      si.resize(size_t(ns)), pi.resize(size_t(ns));
      double mx = -INFINITY;
      for (int64_t t = 0; t < ns; ++t) {
        const float* kt = k + (t * Hkv + g) * d;
        double acc = 0;
        for (int64_t j = 0; j < d; ++j) acc += double(qi[j]) * double(kt[j]);
        si[size_t(t)] = acc * in.scale;
        mx = std::max(mx, si[size_t(t)]);
      }
      double z = 0;
      for (int64_t t = 0; t < ns; ++t) z += (pi[size_t(t)] = std::exp(si[size_t(t)] - mx));
      auto& oi = o[size_t(ih)];
      oi.assign(size_t(d), 0.0);
      for (int64_t t = 0; t < ns; ++t) {
        pi[size_t(t)] /= z;
        const float* vt = v + (t * Hkv + g) * d;
        for (int64_t j = 0; j < d; ++j) oi[size_t(j)] += pi[size_t(t)] * double(vt[j]);
      }
      double on = 0;
      for (double x : oi) on += x * x;
      o_norm[size_t(ih)] = std::sqrt(on);
      const int64_t a0 = a[size_t(i)], nc = b[size_t(i)] - a0;
      // candidates ranked by true score (ties: lower index first)
      std::vector<int64_t> ord(static_cast<size_t>(nc));
      std::iota(ord.begin(), ord.end(), 0);
      std::sort(ord.begin(), ord.end(), [&](int64_t x, int64_t y) {
        return si[size_t(a0 + x)] > si[size_t(a0 + y)] || (si[size_t(a0 + x)] == si[size_t(a0 + y)] && x < y);
      });
      auto& rk = rank[size_t(ih)];
      rk.resize(size_t(nc));
      for (int64_t r = 0; r < nc; ++r) rk[size_t(ord[size_t(r)])] = int32_t(r);
      const int64_t kk = std::min<int64_t>(p0.topk_metric, nc);
      topk[size_t(ih)].assign(ord.begin(), ord.begin() + kk);
      // Rel_α: smallest set of visible keys holding mass ≥ α (ties: lower index first)
      std::vector<int64_t> o2(static_cast<size_t>(ns));
      std::iota(o2.begin(), o2.end(), 0);
      std::sort(o2.begin(), o2.end(),
                [&](int64_t x, int64_t y) { return pi[size_t(x)] > pi[size_t(y)] || (pi[size_t(x)] == pi[size_t(y)] && x < y); });
      double cum = 0;
      for (int64_t t : o2) {
        if (cum >= p0.fer_alpha) break;
        cum += pi[size_t(t)];
        rel[size_t(ih)].push_back(t);
      }
    }
  }

  // Metrics of query i, head h for a kept mask over its candidates.
  void score(int64_t i, int64_t h, const std::vector<uint8_t>& keep, HeadStats& hs) const {
    const size_t ih = size_t(i * Hq + h);
    const int64_t g = h / G, a0 = a[size_t(i)], nc = b[size_t(i)] - a0, ns = n_seen[size_t(i)];
    const auto& pi = p[ih];
    double ml = 0;
    int64_t n_el = 0;
    for (int64_t c = 0; c < nc; ++c)
      if (!keep[size_t(c)]) ml += pi[size_t(a0 + c)], ++n_el;
    hs.mass_lost = ml;
    hs.n_cand = nc;
    // ô over the kept tokens, summed over the smaller of the kept and the eliminated sets
    std::vector<double> oh(static_cast<size_t>(d), 0.0);
    if (n_el <= ns - n_el) {
      std::vector<double> e(static_cast<size_t>(d), 0.0);
      for (int64_t c = 0; c < nc; ++c)
        if (!keep[size_t(c)]) {
          const float* vt = v + ((a0 + c) * Hkv + g) * d;
          for (int64_t j = 0; j < d; ++j) e[size_t(j)] += pi[size_t(a0 + c)] * double(vt[j]);
        }
      for (int64_t j = 0; j < d; ++j) oh[size_t(j)] = o[ih][size_t(j)] - e[size_t(j)];
    } else {
      for (int64_t t = 0; t < ns; ++t) {
        if (t >= a0 && t < a0 + nc && !keep[size_t(t - a0)]) continue;
        const float* vt = v + (t * Hkv + g) * d;
        for (int64_t j = 0; j < d; ++j) oh[size_t(j)] += pi[size_t(t)] * double(vt[j]);
      }
    }
    const double kept_mass = 1.0 - ml;
    double r2 = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double x = kept_mass > 0 ? oh[size_t(j)] / kept_mass : 0.0;
      r2 += (o[ih][size_t(j)] - x) * (o[ih][size_t(j)] - x);
    }
    hs.out_rel_err = o_norm[ih] > 0 ? std::sqrt(r2) / o_norm[ih] : std::sqrt(r2);
    if (nc > 0) {
      int64_t hit = 0;
      for (int64_t c : topk[ih]) hit += !keep[size_t(c)];
      hs.fer_topk = topk[ih].empty() ? 0.0 : double(hit) / double(topk[ih].size());
    }
    int64_t rel_e = 0, rel_c = 0;
    for (int64_t t : rel[ih])
      if (t >= a0 && t < a0 + nc) ++rel_c, rel_e += !keep[size_t(t - a0)];
    const double R = double(rel[ih].size());
    hs.fer_mass = R > 0 ? double(rel_e) / R : 0.0;
    hs.fer_mass_chance = R > 0 && nc > 0 ? double(n_el) / double(nc) * double(rel_c) / R : 0.0;
  }
};

// Keeps the `budget` candidates (or items) of smallest priority = min over the group's heads of their rank.
void select_by_rank(const std::vector<const std::vector<int32_t>*>& ranks, int64_t n, int64_t budget,
                    std::vector<uint8_t>& keep_item) {
  keep_item.assign(size_t(n), 0);
  if (budget <= 0) return;
  if (budget >= n) {
    keep_item.assign(size_t(n), 1);
    return;
  }
  std::vector<std::pair<int32_t, int32_t>> pr(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) {
    int32_t m = INT32_MAX;
    for (const auto* r : ranks) m = std::min(m, (*r)[size_t(c)]);
    pr[size_t(c)] = {m, int32_t(c)};
  }
  std::nth_element(pr.begin(), pr.begin() + budget, pr.end());
  for (int64_t x = 0; x < budget; ++x) keep_item[size_t(pr[size_t(x)].second)] = 1;
}

std::vector<int32_t> ranks_of(const std::vector<double>& score) {  // 0 = highest
  std::vector<int32_t> ord(score.size());
  std::iota(ord.begin(), ord.end(), 0);
  std::sort(ord.begin(), ord.end(),
            [&](int32_t x, int32_t y) { return score[size_t(x)] > score[size_t(y)] || (score[size_t(x)] == score[size_t(y)] && x < y); });
  std::vector<int32_t> r(score.size());
  for (size_t i = 0; i < ord.size(); ++i) r[size_t(ord[i])] = int32_t(i);
  return r;
}

}  // namespace

std::vector<EliminateResult> run_baselines(const AttnInputs& in, const std::vector<BaselineParams>& ps) {
  std::vector<EliminateResult> out;
  if (ps.empty()) return out;
  for (const auto& p : ps)
    GKV_CHECK(p.n_sink == ps[0].n_sink && p.n_recent == ps[0].n_recent && p.topk_metric == ps[0].topk_metric,
              "run_baselines: every params set must share n_sink, n_recent, topk_metric");
  const ExactAttention ex(in, ps[0]);
  const int64_t n_q = ex.n_q, Hq = ex.Hq, Hkv = ex.Hkv, G = ex.G, d = ex.d;
  const double tok_bytes = double(2 * d * 2);  // K and V, bf16
  const int nt = ps[0].threads > 0 ? ps[0].threads : omp_get_max_threads();
  const float* qv = in.q.data<float>();
  std::map<int64_t, std::vector<std::vector<int32_t>>> loki_ranks;  // r → [n_q·Hq] ranks of the candidates
  for (const BaselineParams& P : ps) {
    GKV_CHECK(P.kv_bytes_frac >= 0 && P.kv_bytes_frac <= 1.0 + 1e-12, "baseline ", baseline_name(P.kind),
              ": kv_bytes_frac ", P.kv_bytes_frac, " outside [0, 1]");
    GKV_CHECK(P.page >= 1 && P.loki_rank >= 1 && P.loki_rank <= d, "baseline ", baseline_name(P.kind), ": page ",
              P.page, " / loki_rank ", P.loki_rank, " out of range (d_head ", d, ")");
    EliminateResult r;
    r.steps.resize(size_t(n_q * Hkv));
    r.heads.resize(size_t(n_q * Hq));
    // per-kind state shared by the steps
    if (P.kind == BaselineKind::loki && !loki_ranks.count(P.loki_rank)) {
      // the approximate ranking does not depend on the budget: computed once per rank r
      const int64_t R = P.loki_rank, fit_n = in.pos(0) + 1;  // basis: the keys every query sees
      std::vector<Basis> basis;
      std::vector<std::vector<double>> zs;  // [Hkv][n_kv·r] sketches of k − μ
      for (int64_t g = 0; g < Hkv; ++g) {
        basis.push_back(fit_basis(BasisKind::pca, ex.k + g * d, fit_n, Hkv * d, d, R, 0));
        const Basis& B = basis.back();
        std::vector<double> z(static_cast<size_t>(ex.n_kv * R));
        for (int64_t t = 0; t < ex.n_kv; ++t) {
          const float* kt = ex.k + (t * Hkv + g) * d;
          for (int64_t j = 0; j < R; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < d; ++c) acc += double(B.row(j)[c]) * (double(kt[c]) - double(B.mu[size_t(c)]));
            z[size_t(t * R + j)] = acc;
          }
        }
        zs.push_back(std::move(z));
      }
      std::vector<std::vector<int32_t>> ranks(static_cast<size_t>(n_q * Hq));
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
      for (int64_t ih = 0; ih < n_q * Hq; ++ih) {
        const int64_t i = ih / Hq, h = ih % Hq, g = h / G, a0 = ex.a[size_t(i)], nc = ex.b[size_t(i)] - a0;
        const float* qi = qv + ih * d;
        std::vector<double> qs(static_cast<size_t>(R));
        for (int64_t j = 0; j < R; ++j) {
          double acc = 0;
          for (int64_t c = 0; c < d; ++c) acc += double(basis[size_t(g)].row(j)[c]) * double(qi[c]);
          qs[size_t(j)] = acc;
        }
        std::vector<double> sc(static_cast<size_t>(nc));
        for (int64_t c = 0; c < nc; ++c) {
          const double* z = zs[size_t(g)].data() + (a0 + c) * R;
          double acc = 0;
          for (int64_t j = 0; j < R; ++j) acc += qs[size_t(j)] * z[j];
          sc[size_t(c)] = acc;
        }
        ranks[size_t(ih)] = ranks_of(sc);
      }
      loki_ranks[R] = std::move(ranks);
    }
    std::vector<std::vector<float>> qlo, qhi;  // quest: [Hkv][n_pages·d] boxes over every page's keys
    const int64_t n_pages = (ex.n_kv + P.page - 1) / P.page;
    if (P.kind == BaselineKind::quest)
      for (int64_t g = 0; g < Hkv; ++g) {
        std::vector<float> lo(static_cast<size_t>(n_pages * d), INFINITY), hi(size_t(n_pages * d), -INFINITY);
        for (int64_t t = 0; t < ex.n_kv; ++t) {
          const float* kt = ex.k + (t * Hkv + g) * d;
          const int64_t pg = t / P.page;
          for (int64_t j = 0; j < d; ++j) {
            lo[size_t(pg * d + j)] = std::min(lo[size_t(pg * d + j)], kt[j]);
            hi[size_t(pg * d + j)] = std::max(hi[size_t(pg * d + j)], kt[j]);
          }
        }
        qlo.push_back(std::move(lo)), qhi.push_back(std::move(hi));
      }
    auto step_eval = [&](int64_t i, int64_t g, const std::vector<uint8_t>& keep, double meta_bytes) {
      StepStats& st = r.steps[size_t(i * Hkv + g)];
      const int64_t a0 = ex.a[size_t(i)], nc = ex.b[size_t(i)] - a0, ns = ex.n_seen[size_t(i)];
      int64_t kept = 0;
      for (int64_t c = 0; c < nc; ++c) kept += keep[size_t(c)];
      st.n_seen = ns, st.n_hot = ns - nc, st.n_cand = nc, st.n_elim = nc - kept, st.n_records_read = 0;
      st.dense_bytes = double(ns) * tok_bytes;
      st.read_bytes = double(st.n_hot + kept) * tok_bytes + meta_bytes;
      for (int64_t hh = 0; hh < G; ++hh) ex.score(i, g * G + hh, keep, r.heads[size_t(i * Hq + g * G + hh)]);
    };
    auto budget_tokens = [&](int64_t i, double fixed_bytes, double per_token_bytes) -> int64_t {
      const double T = P.kv_bytes_frac * double(ex.n_seen[size_t(i)]) * tok_bytes;
      const int64_t nh = ex.n_seen[size_t(i)] - (ex.b[size_t(i)] - ex.a[size_t(i)]);
      const double left = T - double(nh) * tok_bytes - fixed_bytes;
      return left <= 0 ? 0 : int64_t(std::floor(left / per_token_bytes + 1e-9));
    };
    if (P.kind == BaselineKind::h2o) {
      // sequential over decode steps, one KV head per thread: accumulated attention, final evictions
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min<int>(nt, int(Hkv)))
      for (int64_t g = 0; g < Hkv; ++g) {
        std::vector<double> acc(static_cast<size_t>(ex.n_kv), 0.0);
        std::vector<uint8_t> evicted(static_cast<size_t>(ex.n_kv), 0);
        for (int64_t i = 0; i < n_q; ++i) {
          const int64_t a0 = ex.a[size_t(i)], nc = ex.b[size_t(i)] - a0, ns = ex.n_seen[size_t(i)];
          if (i == 0)  // the prefill's attention: the first query's full attention over every visible key
            for (int64_t hh = 0; hh < G; ++hh)
              for (int64_t t = 0; t < ns; ++t) acc[size_t(t)] += ex.p[size_t(i * Hq + g * G + hh)][size_t(t)];
          // score state: 4 bytes per tracked (hot or kept) token, read every step
          const int64_t B = budget_tokens(i, 4.0 * double(ns - nc), tok_bytes + 4.0);
          std::vector<int64_t> alive;
          for (int64_t c = 0; c < nc; ++c)
            if (!evicted[size_t(a0 + c)]) alive.push_back(c);
          if (int64_t(alive.size()) > B) {
            std::sort(alive.begin(), alive.end(), [&](int64_t x, int64_t y) {
              return acc[size_t(a0 + x)] > acc[size_t(a0 + y)] || (acc[size_t(a0 + x)] == acc[size_t(a0 + y)] && x > y);
            });
            for (size_t x = size_t(std::max<int64_t>(B, 0)); x < alive.size(); ++x) evicted[size_t(a0 + alive[x])] = 1;
            alive.resize(size_t(std::max<int64_t>(B, 0)));
          }
          std::vector<uint8_t> keep(static_cast<size_t>(nc), 0);
          for (int64_t c : alive) keep[size_t(c)] = 1;
          step_eval(i, g, keep, 4.0 * double(ns - nc + int64_t(alive.size())));
          // accumulate this step's attention over the tokens it attended (renormalised)
          for (int64_t hh = 0; hh < G; ++hh) {
            const size_t ih = size_t(i * Hq + g * G + hh);
            const double km = 1.0 - r.heads[ih].mass_lost;
            for (int64_t t = 0; t < ns; ++t) {
              const bool cand = t >= a0 && t < a0 + nc;
              if (cand && !keep[size_t(t - a0)]) continue;
              if (i > 0) acc[size_t(t)] += km > 0 ? ex.p[ih][size_t(t)] / km : 0.0;
            }
          }
        }
      }
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
      for (int64_t ig = 0; ig < n_q * Hkv; ++ig) {
        const int64_t i = ig / Hkv, g = ig % Hkv;
        const int64_t a0 = ex.a[size_t(i)], nc = ex.b[size_t(i)] - a0;
        std::vector<uint8_t> keep(static_cast<size_t>(nc), 0);
        double meta = 0;
        switch (P.kind) {
          case BaselineKind::full: keep.assign(size_t(nc), 1); break;
          case BaselineKind::window: {
            const int64_t W = std::min(nc, budget_tokens(i, 0, tok_bytes));
            for (int64_t c = nc - W; c < nc; ++c) keep[size_t(c)] = 1;
            break;
          }
          case BaselineKind::oracle_topk: {
            std::vector<const std::vector<int32_t>*> rk;
            for (int64_t hh = 0; hh < G; ++hh) rk.push_back(&ex.rank[size_t(i * Hq + g * G + hh)]);
            if (P.top_k >= 0) {
              for (int64_t c = 0; c < nc; ++c)
                for (const auto* x : rk) keep[size_t(c)] |= (*x)[size_t(c)] < P.top_k;
            } else {
              select_by_rank(rk, nc, budget_tokens(i, 0, tok_bytes), keep);
            }
            break;
          }
          case BaselineKind::loki: {
            const int64_t R = P.loki_rank;
            meta = double(nc * R * 2) + double(d * R * 4 + d * 4);  // sketches (bf16) + basis rows and μ (f32)
            const auto& ranks = loki_ranks.at(R);
            std::vector<const std::vector<int32_t>*> rk;
            for (int64_t hh = 0; hh < G; ++hh) rk.push_back(&ranks[size_t(i * Hq + g * G + hh)]);
            select_by_rank(rk, nc, budget_tokens(i, meta, tok_bytes), keep);
            break;
          }
          case BaselineKind::quest: {
            const int64_t p0 = a0 / P.page, p1 = nc > 0 ? (a0 + nc - 1) / P.page + 1 : p0;
            const int64_t np = p1 - p0;
            meta = double(np) * double(2 * d * 2);  // min and max per channel, f16
            std::vector<std::vector<int32_t>> rks;
            for (int64_t hh = 0; hh < G; ++hh) {
              const float* qi = qv + (i * Hq + g * G + hh) * d;
              std::vector<double> ub(static_cast<size_t>(np));
              for (int64_t pg = 0; pg < np; ++pg) {
                const float* lo = qlo[size_t(g)].data() + (p0 + pg) * d;
                const float* hi = qhi[size_t(g)].data() + (p0 + pg) * d;
                double acc = 0;
                for (int64_t j = 0; j < d; ++j) acc += std::max(double(qi[j]) * lo[j], double(qi[j]) * hi[j]);
                ub[size_t(pg)] = acc;
              }
              rks.push_back(ranks_of(ub));
            }
            // pages in order of priority until the token budget is used
            const int64_t B = budget_tokens(i, meta, tok_bytes);
            std::vector<std::pair<int32_t, int32_t>> pr(static_cast<size_t>(np));
            for (int64_t pg = 0; pg < np; ++pg) {
              int32_t m = INT32_MAX;
              for (auto& x : rks) m = std::min(m, x[size_t(pg)]);
              pr[size_t(pg)] = {m, int32_t(pg)};
            }
            std::sort(pr.begin(), pr.end());
            int64_t used = 0;
            for (const auto& [m, pg] : pr) {
              const int64_t t0 = std::max(a0, (p0 + pg) * P.page), t1 = std::min(a0 + nc, (p0 + pg + 1) * P.page);
              if (used + (t1 - t0) > B) continue;  // a smaller page (at the edges) may still fit
              used += t1 - t0;
              for (int64_t t = t0; t < t1; ++t) keep[size_t(t - a0)] = 1;
            }
            break;
          }
          case BaselineKind::h2o: break;
        }
        step_eval(i, g, keep, meta);
      }
    }
    double rb = 0, db = 0;
    for (const auto& st : r.steps) rb += st.read_bytes, db += st.dense_bytes;
    r.kv_bytes_frac = db > 0 ? rb / db : 0;
    out.push_back(std::move(r));
  }
  return out;
}

EliminateResult run_baseline(const AttnInputs& in, const BaselineParams& p) {
  return std::move(run_baselines(in, {p})[0]);
}

}  // namespace ghostkv::exp
