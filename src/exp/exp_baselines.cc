// The baselines experiment: per (unit, layer), GhostKV configurations (their kv_bytes_frac taken from a
// frontier CSV of the same sources when it has the row, else measured here with run_eliminate) and every
// baseline at the SAME kv_bytes_frac (matched per layer), plus a fixed grid of byte fractions.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "exp/common.h"
#include "ghostkv/error.h"
#include "ghostkv/exp/baselines.h"

namespace fs = std::filesystem;

namespace ghostkv::exp {

namespace {
std::string num_key(const std::string& s) {  // "0.05" and "0.0500000000" compare equal
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && !s.empty()) return str_cat(v);
  return s;
}
}  // namespace

int exp_baselines(Context& ctx) {
  const json& cfg = ctx.cfg;
  GKV_CHECK(cfg.contains("sources"), ctx.config_path, ": baselines need \"sources\"");
  std::vector<SourceUnit> units = resolve_sources(ctx, cfg["sources"]);
  const std::vector<std::string> kinds =
      cfg.value("baselines", std::vector<std::string>{"full", "window", "h2o", "quest", "loki", "oracle_topk"});
  const std::vector<double> fracs = cfg.value("fracs", std::vector<double>{0.1, 0.25, 0.5});
  const json gk = cfg.value("ghostkv", json::array());
  BaselineParams base;
  base.page = cfg.value("page", base.page);
  base.loki_rank = cfg.value("loki_rank", base.loki_rank);
  base.n_sink = cfg.value("sink", base.n_sink);
  base.n_recent = cfg.value("recent", base.n_recent);
  base.threads = ctx.threads;
  // kv_bytes_frac and metrics of GhostKV rows already measured by a frontier run on the same sources
  std::map<std::string, Row> matched;
  std::string match_csv = cfg.value("match_csv", std::string());
  if (!match_csv.empty()) {
    match_csv = expand_path(match_csv);
    if (fs::path(match_csv).is_relative()) match_csv = (fs::path(repo_root()) / match_csv).string();
    if (fs::exists(match_csv)) {
      for (Row& r : read_csv(match_csv)) {
        auto g = [&](const char* k) { const std::string* v = r.get(k); return v ? *v : std::string(); };
        if (g("kv_head") != "all") continue;
        matched[str_cat(g("source"), "/", g("unit"), "|", g("method"), "|", g("policy"), "|", num_key(g("two_stage")),
                        "|", g("layer"))] = r;
      }
      std::fprintf(stderr, "baselines: %zu GhostKV rows available from %s\n", matched.size(), match_csv.c_str());
    } else {
      std::fprintf(stderr, "baselines: %s not found; GhostKV rows are measured here\n", match_csv.c_str());
    }
  }
  json what = cfg;  // everything but the sources and the output path decides a job's rows
  what.erase("sources");
  what.erase("output");
  const std::string what_hash = short_hash(what.dump());
  auto job_of = [&](const SourceUnit& u, int64_t layer) {
    return str_cat(u.source, "/", u.unit, "|layer=", layer, "|", short_hash(u.spec + "|" + what_hash));
  };
  std::set<std::string> valid;
  for (const SourceUnit& u : units)
    for (int64_t layer : u.layers) valid.insert(job_of(u, layer));
  ResultTable table(ctx.csv_path, ctx.config_hash, &valid);
  int64_t total = 0;
  for (const SourceUnit& u : units) total += int64_t(u.layers.size());
  Progress prog(ctx.experiment, total);
  static const char* kMetricCols[] = {"n_steps", "elim_rate_mean", "elim_rate_p10", "elim_rate_median", "elim_rate_p90",
                                      "oracle_elim_rate_mean", "kv_bytes_frac", "mass_lost_mean", "mass_lost_p90",
                                      "mass_lost_max", "mass_bound_mean", "mass_bound_max", "out_rel_err_mean",
                                      "out_rel_err_p90", "out_rel_err_max", "fer_topk_mean", "fer_topk_chance",
                                      "fer_mass_mean", "fer_mass_chance", "violations", "certificate_failures"};
  for (const SourceUnit& u : units)
    for (int64_t layer : u.layers) {
      const std::string job = job_of(u, layer);
      if (table.done(job)) {
        prog.skip();
        continue;
      }
      AttnInputs in = u.load(layer);
      std::vector<Row> rows;
      auto head = [&](Row& row, const std::string& family, const std::string& method, double target,
                      const std::string& matched_to) {
        Row f;
        f.set("source", u.source).set("unit", u.unit).set("data_kind", u.data_kind).set("model", u.model);
        f.set("ctx", u.ctx).set("n_q", in.n_q()).set("n_head_q", in.n_head_q()).set("n_head_kv", in.n_head_kv());
        f.set("d_head", in.d_head()).set("layer", layer).set("kv_head", "all");
        f.set("family", family).set("method", method).set("target_frac", target).set("matched_to", matched_to);
        for (auto& kv : row.cols) f.set(kv.first, kv.second);
        row = std::move(f);
      };
      std::vector<std::pair<std::string, double>> targets;  // (matched_to, frac)
      for (double f : fracs) targets.emplace_back("grid", f);
      for (const json& m : gk) {
        const std::string label = m.value("label", m.dump());
        const std::string pol = m.value("policy", std::string("mass:1e-3"));
        const double ts = m.value("two_stage", 0.0);
        const std::string key = str_cat(u.source, "/", u.unit, "|", label, "|", pol, "|", str_cat(ts), "|", layer);
        Row row;
        if (auto it = matched.find(key); it != matched.end()) {
          for (const char* c : kMetricCols)
            if (const std::string* v = it->second.get(c)) row.set(c, *v);
          row.set("ghostkv_from", "frontier csv");
        } else {
          EliminateOptions o = method_options(m, ctx);
          o.policy = parse_policy(pol);
          o.two_stage = ts;
          EliminateResult r = run_eliminate(in, o);
          SliceAcc acc;
          acc.add(r, in.n_head_kv(), in.group(), -1);
          acc.emit(row);
          row.set("ghostkv_from", "measured");
        }
        const double F = std::strtod(row.get("kv_bytes_frac")->c_str(), nullptr);
        row.set("policy", pol).set("two_stage", ts);
        head(row, "ghostkv", label, F, "");
        rows.push_back(std::move(row));
        // matched at GhostKV's bytes; where those exceed dense (witness bytes with little elimination) the
        // baselines get the dense budget (they read everything) so that means over layers stay comparable
        if (F > 0) targets.emplace_back(label, std::min(F, 1.0));
      }
      std::vector<BaselineParams> ps;
      std::vector<std::pair<std::string, double>> meta;
      for (const std::string& k : kinds) {
        const BaselineKind kind = parse_baseline(k);
        if (kind == BaselineKind::full) {
          BaselineParams p = base;
          p.kind = kind;
          p.kv_bytes_frac = 1;
          ps.push_back(p), meta.emplace_back("dense", 1.0);
          continue;
        }
        for (const auto& [to, f] : targets) {
          BaselineParams p = base;
          p.kind = kind;
          p.kv_bytes_frac = f;
          ps.push_back(p), meta.emplace_back(to, f);
        }
      }
      std::vector<EliminateResult> res = run_baselines(in, ps);
      for (size_t x = 0; x < ps.size(); ++x) {
        SliceAcc acc;
        acc.add(res[x], in.n_head_kv(), in.group(), -1);
        Row row;
        acc.emit(row);
        // no certificate and no bound: blank what does not apply
        for (const char* c : {"oracle_elim_rate_mean", "oracle_elim_rate_median", "mass_bound_mean", "mass_bound_max",
                              "mass_tightness_median", "recall_mean", "spearman_mean", "violations", "candidates_checked",
                              "certificate_failures", "anchor_elim_rate", "records_read_frac", "safe_cert"})
          row.set(c, "");
        if (ps[x].kind == BaselineKind::quest) row.set("page", ps[x].page);
        if (ps[x].kind == BaselineKind::loki) row.set("rank", ps[x].loki_rank);
        head(row, "baseline", baseline_name(ps[x].kind), meta[x].second, meta[x].first);
        rows.push_back(std::move(row));
      }
      ctx.commit(table, job, std::move(rows));
      prog.step(str_cat(u.unit, " L", layer));
    }
  prog.finish();
  std::fprintf(stderr, "%s: %lld rows in %s\n", ctx.experiment.c_str(), (long long)table.n_rows(), ctx.csv_path.c_str());
  return 0;
}

}  // namespace ghostkv::exp
