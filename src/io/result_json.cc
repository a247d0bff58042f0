#include "ghostkv/io/result_json.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace ghostkv {

using nlohmann::json;

static json num(double x) {
  if (std::isfinite(x)) return x;
  return x > 0 ? json("inf") : x < 0 ? json("-inf") : json("nan");
}

static json dist_json(const Dist& d) {
  return {{"mean", num(d.mean)}, {"median", num(d.median)}, {"p10", num(d.p10)}, {"p90", num(d.p90)},
          {"min", num(d.min)}, {"max", num(d.max)}};
}

static json options_obj(const EliminateOptions& o) {
  json j = {{"witness", witness_name(o.witness)},
            {"sketch", basis_kind_name(o.sketch)},
            {"policy", o.policy.text()},
            {"sink", o.n_sink},
            {"recent", o.n_recent},
            {"two_stage", o.two_stage},
            {"path", o.reference ? "float64 reference" : "float32 cpu"},
            {"seed", o.seed},
            {"fit", o.fit_all ? "all" : "prefix"}};
  if (!o.basis_file.empty()) j["basis_file"] = o.basis_file;
  json an = {{"kind", anchor_kind_name(o.anchors.kind)}};
  if (o.anchors.kind != AnchorKind::none) {
    an["bound"] = anchor_bound_name(o.anchors.bound);
    an["space"] = anchor_space_name(o.anchors.space);
    if (o.anchors.kind == AnchorKind::page) an["page"] = o.anchors.page;
    if (o.anchors.kind == AnchorKind::kmeans) {
      an["clusters"] = o.anchors.clusters;
      an["iterations"] = o.anchors.iterations;
      an["seed"] = o.anchors.seed;
    }
  }
  j["anchors"] = an;
  if (o.witness == WitnessKind::lowrank) {
    j["rank"] = o.rank;
    j["residual_blocks"] = o.residual_blocks;
    j["storage"] = storage_name(o.storage);
  } else if (o.witness == WitnessKind::quant) {
    j["bits"] = o.bits;
    j["group"] = o.group;
  } else if (o.witness == WitnessKind::proto) {
    j["rank"] = o.rank;
    j["proto_eps"] = o.proto_eps;
    j["proto_sigma"] = o.proto_sigma;
  }
  return j;
}

std::string options_json(const EliminateOptions& opt, int indent) { return options_obj(opt).dump(indent); }

std::string eliminate_result_json(const EliminateResult& r, const EliminateOptions& opt, const std::string& inputs_desc,
                                  int indent) {
  json j;
  j["violations"] = r.violations;
  j["certificate_failures"] = r.certificate_failures;
  j["num_err_bound_failures"] = r.num_err_bound_failures;
  j["candidates_checked"] = r.candidates_checked;
  j["elim_rate"] = num(r.elim_rate.mean);
  j["oracle_elim_rate"] = num(r.oracle_elim_rate.mean);
  j["kv_bytes_frac"] = num(r.kv_bytes_frac);
  j["anchor_elim_rate"] = num(r.anchor_elim_rate.mean);
  j["records_read_frac"] = num(r.records_read_frac);
  j["mass_lost_max"] = num(r.mass_lost.max);
  j["mass_bound_max"] = num(r.mass_bound.max);
  j["out_rel_err_max"] = num(r.out_rel_err.max);
  j["out_num_err_max"] = num(r.out_num_err.max);
  double oe = 0, oeb = 0;
  for (const HeadStats& h : r.heads) {
    oe = std::max(oe, h.out_err);
    oeb = std::max(oeb, h.out_err_bound);
  }
  j["out_err_max"] = num(oe);
  j["out_err_bound_max"] = num(oeb);
  j["distributions"] = {{"elim_rate", dist_json(r.elim_rate)},
                        {"oracle_elim_rate", dist_json(r.oracle_elim_rate)},
                        {"anchor_elim_rate", dist_json(r.anchor_elim_rate)},
                        {"mass_lost", dist_json(r.mass_lost)},
                        {"mass_bound", dist_json(r.mass_bound)},
                        {"mass_tightness", dist_json(r.mass_tightness)},
                        {"out_rel_err", dist_json(r.out_rel_err)},
                        {"out_num_err", dist_json(r.out_num_err)},
                        {"fer_topk", dist_json(r.fer_topk)},
                        {"fer_mass", dist_json(r.fer_mass)},
                        {"recall", dist_json(r.recall)},
                        {"spearman", dist_json(r.spearman)}};
  j["aggregation"] =
      "elim_rate: over (query, KV head) steps with candidates; mass/out/fer/recall/spearman: over (query, query head); "
      "kv_bytes_frac: ratio of sums";
  j["metric_params"] = {{"topk_k", opt.topk_metric}, {"fer_alpha", opt.fer_alpha}};
  j["bytes"] = {{"record_bytes_per_token", r.record_bytes_per_token},
                {"meta_bytes_per_step", r.meta_bytes_per_step},
                {"record_memory_bytes", r.record_memory_bytes},
                {"anchor_bytes", r.anchor_bytes},
                {"anchors_per_head", r.anchors_per_head},
                {"dense_bytes_per_token", "2 * 2 * d_head (K and V in bf16)"}};
  j["timing_ms"] = {{"build", r.build_ms}, {"eval", r.eval_ms}};
  j["fit"] = {{"tokens", r.fit_tokens}, {"note", r.fit_note}};
  j["options"] = options_obj(opt);
  j["inputs"] = json::parse(inputs_desc.empty() ? "{}" : inputs_desc);
  return j.dump(indent);
}

}  // namespace ghostkv
