// ghostkv: the command-line front end. A thin layer: parse flags, call the library, print.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ghostkv/eliminate.h"
#include "ghostkv/io/capture.h"
#include "ghostkv/io/npy.h"
#include "ghostkv/io/result_json.h"
#include "ghostkv/synth.h"

namespace fs = std::filesystem;
using namespace ghostkv;

namespace ghostkv::cli {
void add_model_commands(CLI::App& app);
int run_model_command(CLI::App& app);
void add_run_command(CLI::App& app);
int run_run_command(CLI::App& app);
}  // namespace ghostkv::cli

namespace {

struct EliminateArgs {
  std::string q, k, v, positions, capture, out, witness = "quant", sketch = "pca", storage = "bf16", bits = "8",
                                                  policy = "mass:1e-3";
  int64_t layer = -1, rank = 16, blocks = 1, group = 0, sink = 4, recent = 64, topk_metric = 16;
  std::string anchors = "none", anchor_bound = "box", anchor_space = "orig", basis;
  int64_t page = 16, clusters = 64, kmeans_iters = 10;
  double scale = 0, two_stage = 0;
  bool json = false, reference = false, fit_all = false;
  uint64_t seed = 0;
  int threads = 0;
};

void add_eliminate(CLI::App& app, EliminateArgs& a) {
  auto* c = app.add_subcommand("eliminate", "Certified elimination on one layer's Q, K, V; prints metrics");
  c->add_option("--q", a.q, "Q.npy [n_q, n_head_q, d] unscaled post-RoPE queries");
  c->add_option("--k", a.k, "K.npy [n_kv, n_head_kv, d] post-RoPE keys");
  c->add_option("--v", a.v, "V.npy [n_kv, n_head_kv, d] values");
  c->add_option("--positions", a.positions, "P.npy int32/int64 [n_q]: query i sees keys 0..P[i]");
  c->add_option("--capture", a.capture, "capture directory (manifest.json + layer_XX/)");
  c->add_option("--layer", a.layer, "layer of the capture");
  c->add_option("--scale", a.scale, "softmax scale σ (default: the capture's, else 1/sqrt(d))");
  c->add_option("--witness", a.witness, "lowrank | quant | proto (prototype heuristic) | exact (oracle)")->capture_default_str();
  c->add_option("--sketch", a.sketch, "basis: pca | orth | gauss | identity; 'proto' selects the prototype heuristic")->capture_default_str();
  c->add_option("--rank", a.rank, "sketch rank r (lowrank, proto)")->capture_default_str();
  c->add_option("--residual-blocks", a.blocks, "B residual-block norms (lowrank)")->capture_default_str();
  c->add_option("--storage", a.storage, "sketch storage f32 | f16 | bf16 | int8 (lowrank)")->capture_default_str();
  c->add_option("--bits", a.bits, "bit allocation of the rotated key, e.g. 8, int4, 8x16,4x48,2x64 (quant)")->capture_default_str();
  c->add_option("--group", a.group, "tokens per scale group, 0 = one scale per component (quant)")->capture_default_str();
  c->add_option("--sink", a.sink, "attention-sink tokens always attended")->capture_default_str();
  c->add_option("--recent", a.recent, "recent-window tokens always attended")->capture_default_str();
  c->add_option("--policy", a.policy, "mass:D | rel:T | abs:T | topk:K")->capture_default_str();
  c->add_option("--two-stage", a.two_stage, "attend each head's top-M candidates by bound first (M >= 1 count, < 1 fraction)");
  c->add_option("--out", a.out, "write upper_bound.npy, survivors.npy, output.npy here");
  c->add_option("--seed", a.seed, "seed of random bases")->capture_default_str();
  c->add_option("--threads", a.threads, "threads (0 = all)");
  c->add_option("--topk-metric", a.topk_metric, "k of fer_topk@k and recall@k")->capture_default_str();
  c->add_option("--anchors", a.anchors, "anchor grouping: none | page | kmeans (built over the prefill keys)")->capture_default_str();
  c->add_option("--anchor-bound", a.anchor_bound, "anchor summary: box | ball")->capture_default_str();
  c->add_option("--anchor-space", a.anchor_space, "anchor coordinates: orig (k - mu) | rot (basis rows)")->capture_default_str();
  c->add_option("--page", a.page, "tokens per page (--anchors page)")->capture_default_str();
  c->add_option("--clusters", a.clusters, "k of k-means (--anchors kmeans)")->capture_default_str();
  c->add_option("--kmeans-iters", a.kmeans_iters, "Lloyd iterations (--anchors kmeans)")->capture_default_str();
  c->add_option("--basis", a.basis, "calibrated basis file (ghostkv calibrate) instead of fitting on the keys given; "
                 "the layer is --layer");
  c->add_flag("--reference", a.reference, "use the float64 reference path instead of the float32 one");
  c->add_flag("--fit-all", a.fit_all, "fit the basis on all keys (non-causal)");
  c->add_flag("--json", a.json, "print one JSON object");
}

int run_eliminate_cmd(const EliminateArgs& a) {
  AttnInputs in;
  nlohmann::json desc;
  if (!a.capture.empty()) {
    GKV_CHECK(a.q.empty() && a.k.empty() && a.v.empty(), "eliminate: give either --capture or --q/--k/--v, not both");
    GKV_CHECK(a.layer >= 0, "eliminate: --capture needs --layer L (>= 0)");
    in = read_capture_layer(a.capture, a.layer);
    desc = {{"capture", a.capture}, {"layer", a.layer}};
    if (a.scale != 0) {
      GKV_CHECK(a.scale > 0, "--scale: must be > 0, got ", a.scale);
      in.scale = a.scale;
      validate_inputs(in);  // the float32 score-range check depends on the scale
    }
  } else {
    GKV_CHECK(!a.q.empty() && !a.k.empty() && !a.v.empty(), "eliminate: need --q, --k and --v (or --capture DIR --layer L)");
    in.name_q = a.q;
    in.name_k = a.k;
    in.name_v = a.v;
    in.q = read_npy(a.q);
    in.k = read_npy(a.k);
    in.v = read_npy(a.v);
    if (!a.positions.empty()) {
      in.name_positions = a.positions;
      in.positions = read_npy(a.positions);
    }
    GKV_CHECK(a.scale >= 0, "--scale: must be > 0, got ", a.scale);
    in.scale = a.scale;  // 0 = 1/sqrt(d)
    validate_inputs(in);
    desc = {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"positions", a.positions}};
  }
  desc["n_q"] = in.n_q();
  desc["n_kv"] = in.n_kv();
  desc["n_head_q"] = in.n_head_q();
  desc["n_head_kv"] = in.n_head_kv();
  desc["d_head"] = in.d_head();
  desc["scale"] = in.scale;
  EliminateOptions o;
  o.witness = parse_witness(a.witness);
  if (a.sketch == "proto") o.witness = WitnessKind::proto;
  else o.sketch = parse_basis_kind(a.sketch);
  o.rank = a.rank;
  o.residual_blocks = a.blocks;
  o.storage = parse_storage(a.storage);
  o.bits = a.bits;
  o.group = a.group;
  o.n_sink = a.sink;
  o.n_recent = a.recent;
  o.policy = parse_policy(a.policy);
  o.two_stage = a.two_stage;
  o.reference = a.reference;
  o.fit_all = a.fit_all;
  o.basis_file = a.basis;
  o.basis_layer = a.layer;
  o.seed = a.seed;
  o.threads = a.threads;
  o.topk_metric = a.topk_metric;
  o.keep_arrays = !a.out.empty();
  o.anchors.kind = parse_anchor_kind(a.anchors);
  o.anchors.bound = parse_anchor_bound(a.anchor_bound);
  o.anchors.space = parse_anchor_space(a.anchor_space);
  o.anchors.page = a.page;
  o.anchors.clusters = a.clusters;
  o.anchors.iterations = a.kmeans_iters;
  o.anchors.seed = a.seed;
  EliminateResult r = run_eliminate(in, o);
  if (!a.out.empty()) {
    fs::create_directories(a.out);
    write_npy((fs::path(a.out) / "upper_bound.npy").string(), r.upper_bound);
    write_npy((fs::path(a.out) / "survivors.npy").string(), r.survivors);
    write_npy((fs::path(a.out) / "output.npy").string(), r.output);
    if (o.anchors.kind != AnchorKind::none)
      write_npy((fs::path(a.out) / "anchor_eliminated.npy").string(), r.anchor_eliminated);
  }
  if (a.json) {
    std::cout << eliminate_result_json(r, o, desc.dump()) << "\n";
  } else {
    std::printf("witness %s  policy %s  path %s\n", witness_name(o.witness), o.policy.text().c_str(),
                o.reference ? "float64" : "float32");
    std::printf("violations %lld  certificate_failures %lld  (over %lld (query, head, candidate) triples)\n",
                (long long)r.violations, (long long)r.certificate_failures, (long long)r.candidates_checked);
    std::printf("elim_rate %.4f (median %.4f, p10 %.4f, p90 %.4f)  oracle %.4f\n", r.elim_rate.mean, r.elim_rate.median,
                r.elim_rate.p10, r.elim_rate.p90, r.oracle_elim_rate.mean);
    if (o.anchors.kind != AnchorKind::none)
      std::printf("anchors %s %s %s  %.1f per head, %.0f B each  anchor_elim_rate %.4f  records_read_frac %.4f\n",
                  anchor_kind_name(o.anchors.kind), anchor_bound_name(o.anchors.bound), anchor_space_name(o.anchors.space),
                  r.anchors_per_head, r.anchor_bytes, r.anchor_elim_rate.mean, r.records_read_frac);
    std::printf("kv_bytes_frac %.4f  record %.0f B/token  mass_lost_max %.3g  mass_bound_max %.3g  out_rel_err_max %.3g\n",
                r.kv_bytes_frac, r.record_bytes_per_token, r.mass_lost.max, r.mass_bound.max, r.out_rel_err.max);
    std::printf("build %.1f ms  eval %.1f ms  (%s)\n", r.build_ms, r.eval_ms, r.fit_note.c_str());
  }
  return 0;
}

struct SynthArgs {
  SynthSpec spec;
  std::string out;
};

void add_synth(CLI::App& app, SynthArgs& a) {
  auto* c = app.add_subcommand("synth", "Write synthetic attention inputs as a capture directory (layer 0)");
  c->add_option("--kind", a.spec.kind, "gaussian (the prototype's) | structured")->capture_default_str();
  c->add_option("--n-kv", a.spec.n_kv, "keys")->capture_default_str();
  c->add_option("--n-q", a.spec.n_q, "queries (the last n_q positions)")->capture_default_str();
  c->add_option("--heads-q", a.spec.n_head_q, "query heads")->capture_default_str();
  c->add_option("--heads-kv", a.spec.n_head_kv, "KV heads")->capture_default_str();
  c->add_option("--d-head", a.spec.d_head, "head dimension")->capture_default_str();
  c->add_option("--seed", a.spec.seed, "seed")->capture_default_str();
  c->add_option("--key-rank", a.spec.key_rank, "structured: rank of the key content")->capture_default_str();
  c->add_option("--key-noise", a.spec.key_noise, "structured: isotropic key noise std")->capture_default_str();
  c->add_option("--needles", a.spec.n_needles, "structured: planted needles per KV head")->capture_default_str();
  c->add_option("--diffuse-frac", a.spec.diffuse_head_frac, "structured: fraction of query heads with flat attention")
      ->capture_default_str();
  c->add_option("--out", a.out, "output capture directory")->required();
}

int run_synth_cmd(const SynthArgs& a) {
  AttnInputs in = make_synthetic(a.spec);
  CaptureInfo info;
  info.model = "synthetic:" + synth_describe(a.spec);
  info.n_kv = in.n_kv();
  info.n_head_q = in.n_head_q();
  info.n_head_kv = in.n_head_kv();
  info.d_head = in.d_head();
  info.scale = in.scale;
  info.layers = {0};
  write_capture_layer(a.out, 0, in);
  write_capture_info(a.out, info);
  std::printf("wrote %s (layer 0: q [%lld, %lld, %lld], k/v [%lld, %lld, %lld])\n", a.out.c_str(), (long long)in.n_q(),
              (long long)in.n_head_q(), (long long)in.d_head(), (long long)in.n_kv(), (long long)in.n_head_kv(),
              (long long)in.d_head());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ghostkv: certified KV-cache token elimination for decode attention"};
  app.require_subcommand(1);
  EliminateArgs ea;
  SynthArgs sa;
  add_eliminate(app, ea);
  add_synth(app, sa);
  cli::add_model_commands(app);
  cli::add_run_command(app);
  app.add_subcommand("version", "Print the version");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "ghostkv: error: %s\n", e.what());
    return 2;
  }
  try {
    if (app.got_subcommand("eliminate")) return run_eliminate_cmd(ea);
    if (app.got_subcommand("synth")) return run_synth_cmd(sa);
    if (app.got_subcommand("run")) return cli::run_run_command(app);
    for (const char* c : {"generate", "logits", "tokenize", "capture", "model-bench", "calibrate"})
      if (app.got_subcommand(c)) return cli::run_model_command(app);
    if (app.got_subcommand("version")) {
      std::printf("ghostkv 0.1.0\n");
      return 0;
    }
  } catch (const ghostkv::Error& e) {
    std::fprintf(stderr, "ghostkv: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ghostkv: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
