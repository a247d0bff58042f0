// The bandwidth experiment: the bytes/time model of DESIGN §7 for one decode step of a model shape,
//   dense   = n·2·d·b_kv per (layer, KV head), read from where the K,V live
//   GhostKV = n_hot·2·d·b_kv + n_cand·record_bytes + meta + n_surv·2·d·b_kv
//   time    = Σ_tiers bytes_tier / bandwidth_tier + latency_tier × fetch batches
// over a grid of contexts, survivor fractions and witness sizes, per placement scenario:
//   hbm      everything in fast memory (records and K,V in HBM)
//   offload  records + hot K,V in HBM; cold K,V in host DRAM behind PCIe (dense must fetch them all)
//   cxl      as offload, with the cold K,V behind a CXL link
// plus the points measured by a frontier CSV (its pooled elim_rate and record bytes), and this
// machine's measured host read bandwidth (measure_machine) as a reference row.
#include <cmath>
#include <filesystem>

#include "exp/common.h"
#include "ghostkv/error.h"
#include "ghostkv/machine.h"

namespace fs = std::filesystem;

namespace ghostkv::exp {

namespace {
struct Link {
  std::string name;
  double gbps = 0, latency_us = 0;
  std::string source;
};
Link link_of(const json& cfg, const char* key, Link def) {
  if (!cfg.contains("links") || !cfg["links"].contains(key)) return def;
  const json& l = cfg["links"][key];
  def.gbps = l.value("gbps", def.gbps);
  def.latency_us = l.value("latency_us", def.latency_us);
  def.source = l.value("source", std::string("config"));
  return def;
}
}  // namespace

int exp_bandwidth(Context& ctx) {
  const json& cfg = ctx.cfg;
  // Defaults: vendor peak figures (not measured here); override them in the config.
  const Link hbm = link_of(cfg, "hbm", {"hbm", 4800, 0, "NVIDIA H200 datasheet: HBM3e 4.8 TB/s peak"});
  const Link dram = link_of(cfg, "dram", {"dram", 307, 0.1, "8 x DDR5-4800 channels (JEDEC 38.4 GB/s each), peak"});
  const Link pcie = link_of(cfg, "pcie", {"pcie", 63, 5, "PCIe 5.0 x16: 32 GT/s x 16 lanes, 128b/130b, one direction; "
                                                          "5 us per DMA batch assumed"});
  const Link cxl = link_of(cfg, "cxl", {"cxl", 63, 0.5, "CXL 2.0 x16 on the PCIe 5.0 PHY (same link rate); "
                                                        "0.5 us per batch assumed (load latency ~2x local DRAM)"});
  const int64_t n_layer = cfg.value("n_layer", int64_t(32)), n_head_kv = cfg.value("n_head_kv", int64_t(8));
  const int64_t d = cfg.value("d_head", int64_t(128));
  const std::string shape = cfg.value("shape", std::string("Llama-3-8B-class (32 layers x 8 KV heads x d 128)"));
  const int64_t n_hot = cfg.value("n_hot", int64_t(68));
  const double b_kv = 2;  // bf16
  const std::vector<int64_t> ctxs = cfg.value("contexts", std::vector<int64_t>{8192, 32768, 131072});
  const std::vector<double> survs = cfg.value("survivor_fracs", std::vector<double>{0.01, 0.05, 0.1, 0.25, 0.5});
  const std::vector<double> recs = cfg.value("record_bytes", std::vector<double>{32, 56, 66, 130});
  const double meta_bytes = cfg.value("meta_bytes_per_step", double(d * d * 4 + d * 4));  // rotation V + μ (f32)
  const int64_t batches = cfg.value("fetch_batches_per_layer", int64_t(1));
  ResultTable table(ctx.csv_path, ctx.config_hash);
  const std::string job = "bandwidth";
  if (table.done(job)) {
    std::fprintf(stderr, "bandwidth: already in %s\n", ctx.csv_path.c_str());
    return 0;
  }
  std::vector<Row> rows;
  auto model_row = [&](const std::string& scen, int64_t n, double f, double rec, const std::string& point) {
    const double kv_tok = 2.0 * double(d) * b_kv;
    const double nc = double(std::max<int64_t>(0, n - n_hot));
    const double hot_b = double(std::min(n, n_hot)) * kv_tok, surv_b = f * nc * kv_tok, rec_b = nc * rec;
    const double dense_b = double(n) * kv_tok;
    const double heads = double(n_layer * n_head_kv);
    // per token, whole model: bytes on each link
    double fast_dense = 0, slow_dense = 0, fast_g = 0, slow_g = 0;
    const Link* slow = scen == "offload" ? &pcie : scen == "cxl" ? &cxl : nullptr;
    if (!slow) {
      fast_dense = dense_b * heads;
      fast_g = (hot_b + rec_b + meta_bytes + surv_b) * heads;
    } else {
      fast_dense = hot_b * heads;
      slow_dense = (dense_b - hot_b) * heads;
      fast_g = (hot_b + rec_b + meta_bytes) * heads;
      slow_g = surv_b * heads;
    }
    const double lat = slow ? slow->latency_us * double(batches * n_layer) : 0;
    const double t_dense = fast_dense / (hbm.gbps * 1e3) + (slow ? slow_dense / (slow->gbps * 1e3) + lat : 0);
    const double t_g = fast_g / (hbm.gbps * 1e3) + (slow ? slow_g / (slow->gbps * 1e3) + (f > 0 ? lat : 0) : 0);
    Row r;
    r.set("scenario", scen).set("point", point).set("shape", shape).set("ctx", n).set("survivor_frac", f);
    r.set("record_bytes", rec).set("n_hot", n_hot);
    r.set("dense_bytes_per_token", dense_b * heads).set("ghost_fast_bytes", fast_g).set("ghost_slow_bytes", slow_g);
    r.set("kv_bytes_frac", (fast_g + slow_g) / (dense_b * heads));
    r.set("dense_us", t_dense).set("ghost_us", t_g).set("speedup", t_dense / t_g);
    r.set("fast_link", str_cat(hbm.name, " ", hbm.gbps, " GB/s")).set("fast_source", hbm.source);
    r.set("slow_link", slow ? str_cat(slow->name, " ", slow->gbps, " GB/s, ", slow->latency_us, " us/batch") : "");
    r.set("slow_source", slow ? slow->source : "");
    // DESIGN §9's floor: witness bytes for a speedup S at survivor fraction f, all in one memory
    r.set("witness_bytes_for_2x", kv_tok / 2 - kv_tok * f).set("witness_bytes_for_8x", kv_tok / 8 - kv_tok * f);
    rows.push_back(std::move(r));
  };
  for (const char* scen : {"hbm", "offload", "cxl"})
    for (int64_t n : ctxs)
      for (double f : survs)
        for (double rec : recs) model_row(scen, n, f, rec, "grid");
  // measured operating points (pooled rows of a frontier CSV), placed at their own context
  std::string mcsv = cfg.value("measured_csv", std::string());
  if (!mcsv.empty()) {
    mcsv = expand_path(mcsv);
    if (fs::path(mcsv).is_relative()) mcsv = (fs::path(repo_root()) / mcsv).string();
    if (fs::exists(mcsv)) {
      for (const Row& r : read_csv(mcsv)) {
        auto g = [&](const char* k) { const std::string* v = r.get(k); return v ? *v : std::string(); };
        if (g("layer") != "all" || g("kv_head") != "all" || g("elim_rate_mean").empty()) continue;
        const double e = std::strtod(g("elim_rate_mean").c_str(), nullptr);
        const double rec = std::strtod(g("record_bytes_per_token").c_str(), nullptr) * double(d) /
                           std::max(1.0, std::strtod(g("d_head").c_str(), nullptr));  // rescaled to this d_head
        for (const char* scen : {"hbm", "offload"})
          model_row(scen, std::strtoll(g("ctx").c_str(), nullptr, 10), 1 - e, rec,
                    str_cat("measured: ", g("source"), "/", g("unit"), " ", g("method"), " ", g("policy"), " ts=",
                            g("two_stage")));
      }
    } else {
      ctx.skipped("measured points", mcsv + " not found");
    }
  }
  if (cfg.value("measure_host", true)) {
    MachineCeilings m = measure_machine(256, 256);
    Row r;
    r.set("scenario", "this machine").set("point", "measured host read bandwidth (STREAM-like sum, 256 MiB)");
    r.set("host_read_gbps", m.read_gbps).set("host_copy_gbps", m.copy_gbps).set("threads_used", m.threads);
    rows.push_back(std::move(r));
  }
  ctx.commit(table, job, std::move(rows));
  std::fprintf(stderr, "%s: %lld rows in %s\n", ctx.experiment.c_str(), (long long)table.n_rows(), ctx.csv_path.c_str());
  return 0;
}

}  // namespace ghostkv::exp
