// Sweeps of run_eliminate over sources × methods × policies × two-stage cuts: the experiments
// sketch-audit (bound quality: violations, recall, spearman, tightness), tradeoff (elim_rate and bytes
// against quality), validate (certificate on real attention), hierarchical (anchor → token cascade) and
// frontier (per layer and KV head). One job = one (unit, method, policy, two-stage) over all layers of
// the unit; rows: the pooled slice (all layers), per layer, and per (layer, KV head) when asked.
#include <algorithm>
#include <cmath>
#include <set>

#include "exp/common.h"
#include "ghostkv/error.h"

namespace ghostkv::exp {

static std::string ts_text(double ts) { return ts == 0 ? "0" : str_cat(ts); }

int exp_sweep(Context& ctx) {
  const json& cfg = ctx.cfg;
  GKV_CHECK(cfg.contains("sources") && cfg.contains("methods"), ctx.config_path,
            ": a sweep needs \"sources\" and \"methods\"");
  const std::string slices = cfg.value("slices", std::string("layer"));
  GKV_CHECK(slices == "all" || slices == "layer" || slices == "head", ctx.config_path, ": slices '", slices,
            "', expected all | layer | head");
  const std::vector<std::string> def_pol = cfg.value("policies", std::vector<std::string>{"mass:1e-3"});
  const std::vector<double> def_ts = cfg.value("two_stage", std::vector<double>{0});
  std::vector<SourceUnit> units = resolve_sources(ctx, cfg["sources"]);
  struct Job {
    const SourceUnit* u;
    json m;
    std::string policy;
    double ts;
    std::string key;
  };
  std::vector<Job> jobs;
  for (const SourceUnit& u : units)
    for (const json& m : cfg["methods"]) {
      if (m.contains("sources")) {  // the method runs only on the sources it names
        const auto only = m["sources"].get<std::vector<std::string>>();
        if (std::find(only.begin(), only.end(), u.source) == only.end()) continue;
      }
      const auto pols = m.value("policies", def_pol);
      const auto tss = m.value("two_stage", def_ts);
      for (const auto& p : pols)
        for (double ts : tss) {
          const std::string label = m.value("label", m.dump());
          const std::string what = short_hash(str_cat(u.spec, "|", m.dump(), "|", p, "|", ts, "|", slices, "|", ctx.seed));
          jobs.push_back({&u, m, p, ts, str_cat(u.source, "/", u.unit, "|", label, "|", p, "|ts=", ts_text(ts), "|", what)});
        }
    }
  std::set<std::string> valid;
  for (const Job& j : jobs) valid.insert(j.key);
  ResultTable table(ctx.csv_path, ctx.config_hash, &valid);
  if (table.n_dropped() > 0)
    std::fprintf(stderr, "%s: dropped %lld rows of another config from %s\n", ctx.experiment.c_str(),
                 (long long)table.n_dropped(), ctx.csv_path.c_str());
  int64_t total = 0;
  for (const Job& j : jobs) total += int64_t(j.u->layers.size());
  Progress prog(ctx.experiment, total);
  for (const Job& j : jobs) {
    if (table.done(j.key)) {
      prog.skip(int64_t(j.u->layers.size()));
      continue;
    }
    EliminateOptions o = method_options(j.m, ctx);
    o.policy = parse_policy(j.policy);
    o.two_stage = j.ts;
    std::vector<Row> rows;
    SliceAcc pooled;
    double build_ms = 0, eval_ms = 0, rec_bytes = 0, meta_bytes = 0, anchor_bytes = 0;
    int64_t n_q = 0, n_hq = 0, n_hkv = 0, d = 0, num_err_fail = 0;
    std::vector<std::pair<std::string, std::string>> lay_cols;
    for (int64_t layer : j.u->layers) {
      AttnInputs in = j.u->load(layer);
      n_q = in.n_q(), n_hq = in.n_head_q(), n_hkv = in.n_head_kv(), d = in.d_head();
      if (!o.basis_file.empty()) o.basis_layer = layer;
      EliminateResult r = run_eliminate(in, o);
      build_ms += r.build_ms, eval_ms += r.eval_ms;
      rec_bytes = r.record_bytes_per_token, meta_bytes = r.meta_bytes_per_step, anchor_bytes = r.anchor_bytes;
      num_err_fail += r.num_err_bound_failures;
      SliceAcc la;
      la.add(r, n_hkv, in.group(), -1);
      pooled.merge(la);
      if (slices != "all") {
        Row row;
        row.set("layer", layer).set("kv_head", "all");
        la.emit(row);
        row.set("build_ms", r.build_ms).set("eval_ms", r.eval_ms);
        rows.push_back(std::move(row));
      }
      if (slices == "head")
        for (int64_t g = 0; g < n_hkv; ++g) {
          SliceAcc ha;
          ha.add(r, n_hkv, in.group(), g);
          Row row;
          row.set("layer", layer).set("kv_head", g);
          ha.emit(row);
          rows.push_back(std::move(row));
        }
      prog.step(str_cat(j.u->unit, " L", layer, " ", j.m.value("label", std::string()), " ", j.policy));
    }
    Row all;
    all.set("layer", "all").set("kv_head", "all");
    pooled.emit(all);
    all.set("build_ms", build_ms).set("eval_ms", eval_ms).set("num_err_bound_failures", num_err_fail);
    rows.insert(rows.begin(), std::move(all));
    for (Row& row : rows) {
      Row full;
      full.set("source", j.u->source).set("unit", j.u->unit).set("data_kind", j.u->data_kind).set("model", j.u->model);
      full.set("ctx", j.u->ctx).set("n_q", n_q).set("n_head_q", n_hq).set("n_head_kv", n_hkv).set("d_head", d);
      full.set("n_layers", int64_t(j.u->layers.size()));
      full.set("method", j.m.value("label", std::string()));
      full.set("witness", witness_name(o.witness)).set("bits", o.witness == WitnessKind::quant ? o.bits : "");
      full.set("group", o.group).set("rank", o.rank).set("sketch", basis_kind_name(o.sketch));
      full.set("anchors", anchor_kind_name(o.anchors.kind));
      full.set("anchor_bound", o.anchors.kind == AnchorKind::none ? "" : anchor_bound_name(o.anchors.bound));
      full.set("anchor_space", o.anchors.kind == AnchorKind::none ? "" : anchor_space_name(o.anchors.space));
      full.set("policy", j.policy).set("two_stage", o.two_stage);
      full.set("n_sink", o.n_sink).set("n_recent", o.n_recent);
      full.set("record_bytes_per_token", rec_bytes).set("meta_bytes_per_step", meta_bytes);
      full.set("anchor_bytes", anchor_bytes);
      for (auto& kv : row.cols) full.set(kv.first, kv.second);
      row = std::move(full);
    }
    ctx.commit(table, j.key, std::move(rows));
  }
  prog.finish();
  std::fprintf(stderr, "%s: %lld rows in %s\n", ctx.experiment.c_str(), (long long)table.n_rows(), ctx.csv_path.c_str());
  return 0;
}

}  // namespace ghostkv::exp
