// The decode-sim experiment: a tiered KvStore per (layer, KV head) over decode steps (DESIGN §3, §7).
// The keys every query sees are appended as a prefill (the basis is fitted on them, full rank); then
// for each query position in order, the keys up to it are appended (tiers move by the store's policy:
// age or survival) and one certified step is taken:
//   per query head: m_L, Z_L from the hot tokens (exact, centred); archive anchors and resident token
//   records bounded (store.bounds); anchors first: the longest prefix by UB_A (lowest first) with
//   M/(Z_L + M) ≤ δ, M = Σ n_a·e^{UB_A − m_L}; an anchor goes only if every head of the group lets it
//   go; members of surviving anchors are bounded from their fetched records; then tokens by the same
//   rule with the eliminated anchors' mass already charged; a token goes only if every head lets it go.
//   store.read(decision) moves the bytes (per-tier counters); exact attention over what was read is
//   compared with full float64 attention: mass_lost, mass_bound (certificate with the final Z), violations.
// Time per step = Σ_buckets bytes / bandwidth + latency × fetch batches (one per slow tier read; fast: hot, warm, meta at the fast
// link; slow: ghost, archive at the slow link); the dense step reads every K,V from where it lives.
// Rows: per (unit, layer, KV head) over all steps, and per step for the first (layer, KV head).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "exp/common.h"
#include "ghostkv/basis.h"
#include "ghostkv/error.h"
#include "ghostkv/kv_store.h"

namespace ghostkv::exp {

namespace {
struct Links {
  double fast_gbps = 4800, slow_gbps = 63, slow_latency_us = 5;
};
TierPolicy parse_tier_policy(const std::string& s) {
  if (s == "age") return TierPolicy::age;
  if (s == "survival") return TierPolicy::survival;
  throw Error(str_cat("decode-sim: tier_policy '", s, "', expected age | survival"));
}
}  // namespace

int exp_decode_sim(Context& ctx) {
  const json& cfg = ctx.cfg;
  GKV_CHECK(cfg.contains("sources"), ctx.config_path, ": decode-sim needs \"sources\"");
  std::vector<SourceUnit> units = resolve_sources(ctx, cfg["sources"]);
  const double delta = cfg.value("delta", 1e-3);
  Links L;
  if (cfg.contains("links")) {
    L.fast_gbps = cfg["links"].value("fast_gbps", L.fast_gbps);
    L.slow_gbps = cfg["links"].value("slow_gbps", L.slow_gbps);
    L.slow_latency_us = cfg["links"].value("slow_latency_us", L.slow_latency_us);
  }
  const std::vector<std::string> policies = cfg.value("tier_policies", std::vector<std::string>{"age"});
  ResultTable table(ctx.csv_path, ctx.config_hash);
  int64_t total = 0;
  for (const SourceUnit& u : units) total += int64_t(u.layers.size() * policies.size());
  Progress prog(ctx.experiment, total);
  for (const SourceUnit& u : units)
    for (const std::string& tp : policies)
      for (int64_t layer : u.layers) {
        const std::string job = str_cat(u.source, "/", u.unit, "|", tp, "|layer=", layer);
        if (table.done(job)) {
          prog.skip();
          continue;
        }
        AttnInputs in = u.load(layer);
        const int64_t Hq = in.n_head_q(), Hkv = in.n_head_kv(), G = in.group(), d = in.d_head(), n_q = in.n_q();
        const float* K = in.k.data<float>();
        const float* V = in.v.data<float>();
        const float* Q = in.q.data<float>();
        KvStoreParams sp;
        sp.d_head = d;
        sp.bits = cfg.value("bits", sp.bits);
        sp.group = cfg.value("group", sp.group);
        sp.n_sink = cfg.value("sink", sp.n_sink);
        sp.n_recent = cfg.value("recent", sp.n_recent);
        sp.policy = parse_tier_policy(tp);
        sp.ghost_after = cfg.value("ghost_after", sp.ghost_after);
        sp.archive_after = cfg.value("archive_after", sp.archive_after);
        sp.anchors.kind = parse_anchor_kind(cfg.value("anchors", std::string("page")));
        sp.anchors.bound = parse_anchor_bound(cfg.value("anchor_bound", std::string("box")));
        sp.anchors.space = parse_anchor_space(cfg.value("anchor_space", std::string("rot")));
        sp.anchors.page = cfg.value("page", sp.anchors.page);
        std::vector<Row> rows;
        for (int64_t g = 0; g < Hkv; ++g) {
          const int64_t fit_n = in.pos(0) + 1;
          Basis basis = fit_basis(BasisKind::pca, K + g * d, fit_n, Hkv * d, d, d, ctx.seed);
          const std::vector<float> mu = basis.mu;
          KvStore store(sp, std::move(basis));
          int64_t appended = 0;
          auto append_to = [&](int64_t n_end) {
            for (; appended < n_end; ++appended)
              store.append(K + (appended * Hkv + g) * d, V + (appended * Hkv + g) * d);
          };
          append_to(fit_n);
          StepCounters cum;
          std::vector<double> mass_lost, mass_bound, surv_frac, t_ghost_us, t_dense_hbm_us, t_dense_off_us;
          int64_t violations = 0, cert_fail = 0, n_checked = 0;
          std::array<int64_t, kNumTiers> tiers_first{}, tiers_last{};
          for (int64_t i = 0; i < n_q; ++i) {
            append_to(in.pos(i) + 1);
            const int64_t n = store.n();
            if (i == 0) tiers_first = store.tier_counts();
            // exact centred scores of every head of the group (float64)
            std::vector<std::vector<double>> sq(size_t(G), std::vector<double>(static_cast<size_t>(d)));
            std::vector<std::vector<double>> ex(size_t(G), std::vector<double>(static_cast<size_t>(n)));
            for (int64_t hh = 0; hh < G; ++hh) {
              const float* q = Q + (i * Hq + g * G + hh) * d;
              for (int64_t j = 0; j < d; ++j) sq[size_t(hh)][size_t(j)] = in.scale * double(q[j]);
              for (int64_t t = 0; t < n; ++t) {
                const float* kt = K + (t * Hkv + g) * d;
                double acc = 0;
                for (int64_t j = 0; j < d; ++j) acc += sq[size_t(hh)][size_t(j)] * (double(kt[j]) - double(mu[size_t(j)]));
                ex[size_t(hh)][size_t(t)] = acc;
              }
            }
            std::vector<uint8_t> is_hot(static_cast<size_t>(n), 0);
            for (int64_t t = 0; t < n; ++t) is_hot[size_t(t)] = store.tier(t) == Tier::hot;
            const int64_t na = store.n_anchors();
            std::vector<StoreBounds> sb(static_cast<size_t>(G));
            std::vector<double> mL(static_cast<size_t>(G), -INFINITY), ZL(static_cast<size_t>(G), 0.0),
                MA(static_cast<size_t>(G), 0.0);
            std::vector<uint8_t> anchor_survive(static_cast<size_t>(na), 0);
            std::vector<std::vector<int64_t>> members(static_cast<size_t>(na));
            for (int64_t a = 0; a < na; ++a) members[size_t(a)] = store.anchor_members(a);
            for (int64_t hh = 0; hh < G; ++hh) {
              for (int64_t t = 0; t < n; ++t)
                if (is_hot[size_t(t)]) mL[size_t(hh)] = std::max(mL[size_t(hh)], ex[size_t(hh)][size_t(t)]);
              for (int64_t t = 0; t < n; ++t)
                if (is_hot[size_t(t)]) ZL[size_t(hh)] += std::exp(ex[size_t(hh)][size_t(t)] - mL[size_t(hh)]);
              sb[size_t(hh)] = store.bounds(sq[size_t(hh)].data());
              // anchor stage: the longest prefix (lowest UB_A first) within δ
              std::vector<int64_t> ord(static_cast<size_t>(na));
              std::iota(ord.begin(), ord.end(), 0);
              const auto& ua = sb[size_t(hh)].anchor_ub;
              std::sort(ord.begin(), ord.end(), [&](int64_t x, int64_t y) { return ua[size_t(x)] < ua[size_t(y)]; });
              double M = 0;
              size_t cut = 0;
              for (; cut < ord.size(); ++cut) {
                const double w = double(members[size_t(ord[cut])].size()) * std::exp(ua[size_t(ord[cut])] - mL[size_t(hh)]);
                if ((M + w) / (ZL[size_t(hh)] + M + w) > delta) break;
                M += w;
              }
              for (size_t x = cut; x < ord.size(); ++x) anchor_survive[size_t(ord[x])] = 1;
            }
            // anchors eliminated by the whole group: their mass charged to every head
            for (int64_t hh = 0; hh < G; ++hh)
              for (int64_t a = 0; a < na; ++a)
                if (!anchor_survive[size_t(a)])
                  MA[size_t(hh)] += double(members[size_t(a)].size()) *
                                    std::exp(sb[size_t(hh)].anchor_ub[size_t(a)] - mL[size_t(hh)]);
            // token stage over resident records and the members of surviving anchors
            std::vector<uint8_t> survive(static_cast<size_t>(n), 0);
            std::vector<std::vector<double>> tub(static_cast<size_t>(G));
            for (int64_t hh = 0; hh < G; ++hh) {
              StoreBounds b2 = store.bounds_for_surviving_anchors(sq[size_t(hh)].data(), anchor_survive);
              tub[size_t(hh)] = b2.token_ub;
              std::vector<int64_t> cand;
              for (int64_t t = 0; t < n; ++t)
                if (!is_hot[size_t(t)] && std::isfinite(b2.token_ub[size_t(t)])) cand.push_back(t);
              std::sort(cand.begin(), cand.end(),
                        [&](int64_t x, int64_t y) { return b2.token_ub[size_t(x)] < b2.token_ub[size_t(y)]; });
              double M = MA[size_t(hh)];
              size_t cut = 0;
              for (; cut < cand.size(); ++cut) {
                const double w = std::exp(b2.token_ub[size_t(cand[cut])] - mL[size_t(hh)]);
                if ((M + w) / (ZL[size_t(hh)] + M + w) > delta) break;
                M += w;
              }
              for (size_t x = cut; x < cand.size(); ++x) survive[size_t(cand[x])] = 1;
            }
            StepDecision dec;
            dec.survive = survive;
            dec.anchor_survive = anchor_survive;
            // the anchor of every token at decision time (read() may move tokens between tiers afterwards)
            std::vector<int64_t> anchor_at(static_cast<size_t>(n), -1);
            for (int64_t t = 0; t < n; ++t) anchor_at[size_t(t)] = store.anchor_of(t);
            StepRead rd = store.read(dec);
            std::vector<uint8_t> read(static_cast<size_t>(n), 0);
            for (int64_t t : rd.tokens) read[size_t(t)] = 1;
            int64_t n_cand = 0, n_surv = 0;
            for (int64_t t = 0; t < n; ++t)
              if (!is_hot[size_t(t)]) ++n_cand, n_surv += read[size_t(t)];
            surv_frac.push_back(n_cand ? double(n_surv) / double(n_cand) : 0.0);
            // metrics and certificate per head
            for (int64_t hh = 0; hh < G; ++hh) {
              const auto& e = ex[size_t(hh)];
              double mx = -INFINITY;
              for (double s : e) mx = std::max(mx, s);
              double z = 0, zl = 0;
              for (int64_t t = 0; t < n; ++t) z += std::exp(e[size_t(t)] - mx);
              double ml = 0, ME = 0, Zatt = 0;
              for (int64_t t = 0; t < n; ++t) {
                if (read[size_t(t)]) {
                  Zatt += std::exp(e[size_t(t)] - mL[size_t(hh)]);
                  continue;
                }
                ml += std::exp(e[size_t(t)] - mx) / z;
                const int64_t a = anchor_at[size_t(t)];
                double ub = tub[size_t(hh)][size_t(t)];
                if (a >= 0 && !anchor_survive[size_t(a)]) ub = sb[size_t(hh)].anchor_ub[size_t(a)];
                ME += std::exp(ub - mL[size_t(hh)]);
                ++n_checked;
                if (ub < e[size_t(t)] - 1e-9 * (std::fabs(e[size_t(t)]) + 1)) ++violations;
              }
              (void)zl;
              const double mb = ME > 0 ? ME / (Zatt + ME) : 0.0;
              mass_lost.push_back(ml);
              mass_bound.push_back(mb);
              if (ml > mb * (1 + 1e-9) + 1e-15) ++cert_fail;
            }
            const StepCounters& c = rd.counters;
            cum += c;
            auto us = [](double bytes, double gbps) { return bytes / (gbps * 1e3); };
            const double fast_b = double(c.bucket[0].bytes() + c.bucket[1].bytes() + c.bucket[4].bytes());
            const double slow_b = double(c.bucket[2].bytes() + c.bucket[3].bytes());
            // the slow reads of one step go out as one gather batch per slow tier (the store's coalesced
            // read calls are reported as `fetches`; a DMA engine takes them as one batch)
            const int64_t fetches = c.bucket[2].fetches + c.bucket[3].fetches;
            const int64_t batches = int64_t(c.bucket[2].fetches > 0) + int64_t(c.bucket[3].fetches > 0);
            t_ghost_us.push_back(us(fast_b, L.fast_gbps) + us(slow_b, L.slow_gbps) + double(batches) * L.slow_latency_us);
            const auto tc = store.tier_counts();
            const double kv_tok = double(2 * d * 2);
            t_dense_hbm_us.push_back(us(double(n) * kv_tok, L.fast_gbps));
            const double slow_tokens = double(tc[2] + tc[3]);
            t_dense_off_us.push_back(us(double(n - tc[2] - tc[3]) * kv_tok, L.fast_gbps) +
                                     us(slow_tokens * kv_tok, L.slow_gbps) + (slow_tokens > 0 ? L.slow_latency_us : 0));
            tiers_last = tc;
            if (layer == u.layers.front() && g == 0) {
              Row r;
              r.set("row", "step").set("layer", layer).set("kv_head", g).set("step", i).set("n_kv", n);
              for (int tt = 0; tt < kNumTiers; ++tt) r.set(str_cat("tokens_", tier_name(Tier(tt))), tc[size_t(tt)]);
              const char* bn[kNumBuckets] = {"hot", "warm", "ghost", "archive", "meta"};
              for (int bb = 0; bb < kNumBuckets; ++bb) r.set(str_cat("bytes_", bn[bb]), c.bucket[size_t(bb)].bytes());
              r.set("fetches", fetches).set("fetch_batches", batches).set("dense_bytes", c.dense_bytes);
              r.set("kv_bytes_frac", double(c.total.bytes()) / double(c.dense_bytes));
              r.set("survivor_frac", surv_frac.back());
              r.set("mass_lost_max", *std::max_element(mass_lost.end() - G, mass_lost.end()));
              r.set("mass_bound_max", *std::max_element(mass_bound.end() - G, mass_bound.end()));
              r.set("ghost_us", t_ghost_us.back()).set("dense_hbm_us", t_dense_hbm_us.back());
              r.set("dense_offload_us", t_dense_off_us.back());
              rows.push_back(std::move(r));
            }
          }
          Row r;
          r.set("row", "head").set("layer", layer).set("kv_head", g).set("steps", n_q);
          for (int tt = 0; tt < kNumTiers; ++tt) {
            r.set(str_cat("tokens_", tier_name(Tier(tt)), "_first"), tiers_first[size_t(tt)]);
            r.set(str_cat("tokens_", tier_name(Tier(tt)), "_last"), tiers_last[size_t(tt)]);
          }
          const char* bn[kNumBuckets] = {"hot", "warm", "ghost", "archive", "meta"};
          for (int bb = 0; bb < kNumBuckets; ++bb) r.set(str_cat("bytes_", bn[bb]), cum.bucket[size_t(bb)].bytes());
          r.set("dense_bytes", cum.dense_bytes).set("kv_bytes_frac", double(cum.total.bytes()) / double(cum.dense_bytes));
          r.set("survivor_frac_mean", mean_of(surv_frac));
          r.set("mass_lost_mean", mean_of(mass_lost)).set("mass_lost_max", quantile(mass_lost, 1.0));
          r.set("mass_bound_max", quantile(mass_bound, 1.0)).set("violations", violations);
          r.set("candidates_checked", n_checked).set("certificate_failures", cert_fail);
          double tg = 0, th = 0, to = 0;
          for (size_t s = 0; s < t_ghost_us.size(); ++s) tg += t_ghost_us[s], th += t_dense_hbm_us[s], to += t_dense_off_us[s];
          r.set("ghost_us_per_step", tg / double(n_q)).set("dense_hbm_us_per_step", th / double(n_q));
          r.set("dense_offload_us_per_step", to / double(n_q));
          r.set("speedup_vs_dense_hbm", th / tg).set("speedup_vs_dense_offload", to / tg);
          const MaintenanceCounters& mc = store.maintenance();
          r.set("moves", mc.moves).set("slow_write_bytes", mc.slow_write_bytes);
          std::string why;
          r.set("store_invariants", int64_t(store.check_invariants(&why)));
          rows.push_back(std::move(r));
        }
        for (Row& r : rows) {
          Row f;
          f.set("source", u.source).set("unit", u.unit).set("data_kind", u.data_kind).set("model", u.model);
          f.set("ctx", u.ctx).set("tier_policy", tp).set("delta", delta).set("bits", sp.bits).set("group", sp.group);
          f.set("ghost_after", sp.ghost_after).set("archive_after", sp.archive_after);
          f.set("anchors", str_cat(anchor_kind_name(sp.anchors.kind), "-", sp.anchors.page, " ",
                                   anchor_bound_name(sp.anchors.bound), " ", anchor_space_name(sp.anchors.space)));
          f.set("fast_gbps", L.fast_gbps).set("slow_gbps", L.slow_gbps).set("slow_latency_us", L.slow_latency_us);
          for (auto& kv : r.cols) f.set(kv.first, kv.second);
          r = std::move(f);
        }
        ctx.commit(table, job, std::move(rows));
        prog.step(str_cat(u.unit, " ", tp, " L", layer));
      }
  prog.finish();
  std::fprintf(stderr, "%s: %lld rows in %s\n", ctx.experiment.c_str(), (long long)table.n_rows(), ctx.csv_path.c_str());
  return 0;
}

}  // namespace ghostkv::exp
