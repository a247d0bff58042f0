// ghostkv model subcommands: generate, logits, tokenize, capture (thin: parse, call the library, print).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <random>

#include "ghostkv/io/capture.h"
#include "ghostkv/io/npy.h"
#include "ghostkv/io/text.h"
#include "ghostkv/machine.h"
#include "ghostkv/model/calibrate.h"
#include "ghostkv/model/capture.h"
#include "ghostkv/model/eliminate_hook.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#ifdef GHOSTKV_WITH_CUDA
#include "gpu_hook.h"
#endif

namespace ghostkv::cli {

namespace {
struct ModelArgs {
  std::string model, tokenizer, prompt, ids, out, rows, text, queries = "last:64", layers = "all", bos = "auto";
  std::vector<std::string> texts;
  std::string kind = "pca";
  int64_t max_new = 64, ctx = 0, n_decode = 16;
  double temp = 0;
  uint64_t seed = 0;
  int threads = 0;
  // generate --eliminate: certified elimination in every layer of every decode step (EliminationHook)
  std::string eliminate, witness = "quant", bits = "8", basis, stats_csv;
  int64_t rank = 16, sink = 4, recent = 64;
  bool compare_dense = false, gpu = false;
  std::string gen_anchors = "none";
};
ModelArgs g;

std::vector<int32_t> encode_with_bos(const Tokenizer& tok, const ModelConfig& cfg, const std::string& text) {
  std::vector<int32_t> ids = tok.encode(text, false);
  const int32_t bos = cfg.bos_id >= 0 ? int32_t(cfg.bos_id) : tok.bos_id();
  const bool want = g.bos == "yes" || (g.bos == "auto" && bos >= 0);
  GKV_CHECK(g.bos == "auto" || g.bos == "yes" || g.bos == "no", "--bos: expected auto, yes or no, got '", g.bos, "'");
  if (want) {
    GKV_CHECK(bos >= 0, "--bos yes: the model has no BOS token");
    if (ids.empty() || ids[0] != bos) ids.insert(ids.begin(), bos);
  }
  return ids;
}
}  // namespace

void add_model_commands(CLI::App& app) {
  auto* bm = app.add_subcommand("model-bench", "Prefill and decode tokens/s against sgemm GFLOP/s and memory bandwidth measured in the same run");
  bm->add_option("--model", g.model, "model: HF folder, GGUF file or llama2.c .bin")->required();
  bm->add_option("--ctx", g.ctx, "prefill length (default: the model's context)");
  bm->add_option("--decode", g.n_decode, "decode steps timed after the prefill")->capture_default_str();

  auto* gen = app.add_subcommand("generate", "Generate text with a model (CPU engine)");
  gen->add_option("--model", g.model, "HF folder (config.json + safetensors), GGUF file or llama2.c .bin")->required();
  gen->add_option("--tokenizer", g.tokenizer, "tokenizer.json, GGUF or llama2.c tokenizer .bin (default: the model's own)");
  gen->add_option("--prompt", g.prompt, "prompt text (default: empty, i.e. BOS only)");
  gen->add_option("--max-new", g.max_new, "tokens to generate")->capture_default_str();
  gen->add_option("--temp", g.temp, "temperature (0 = greedy)")->capture_default_str();
  gen->add_option("--seed", g.seed, "sampling seed")->capture_default_str();
  gen->add_option("--bos", g.bos, "prepend BOS: auto (when the model has one) | yes | no")->capture_default_str();
  gen->add_option("--eliminate", g.eliminate,
                  "certified elimination in every layer of every decode step with this policy (mass:D | rel:T | abs:T | "
                  "topk:K), each step checked against float64 attention; summary on stderr (default: dense)");
  gen->add_option("--witness", g.witness, "with --eliminate: quant | lowrank")->capture_default_str();
  gen->add_option("--bits", g.bits, "with --eliminate: bit allocation of the quant witness")->capture_default_str();
  gen->add_option("--rank", g.rank, "with --eliminate: rank of the lowrank witness")->capture_default_str();
  gen->add_option("--sink", g.sink, "with --eliminate: attention-sink tokens always attended")->capture_default_str();
  gen->add_option("--recent", g.recent, "with --eliminate: recent-window tokens always attended")->capture_default_str();
  gen->add_option("--basis", g.basis, "with --eliminate: calibrated basis file (ghostkv calibrate) instead of fitting "
                  "on the keys each step sees");
  gen->add_option("--stats-csv", g.stats_csv, "with --eliminate: one row per (decode step, layer) written here");
  gen->add_flag("--compare-dense", g.compare_dense, "with --eliminate: also generate densely and report where the "
                "continuations first differ");
  gen->add_flag("--gpu", g.gpu, "with --eliminate mass:D: run every decode step's attention on the GPU path (a "
                "GhostCache per layer, grown by each step's token; --bits 8 | 4 | mixed, or --witness lowrank at rank "
                "16), each step checked against "
                "float64; --compare-dense then compares with the GPU's dense path (the same bf16 cache). Needs a CUDA build "
                "and an sm_90 GPU");
  gen->add_option("--anchors", g.gen_anchors, "with --gpu: none | page (a box of each 64-token page's codes, or sketches "
                  "with --witness lowrank: the anchor stage eliminates whole pages before their witnesses are read)")
      ->capture_default_str();

  auto* lg = app.add_subcommand("logits", "Full-prompt forward; writes float32 logits [n or N, n_vocab]");
  lg->add_option("--model", g.model, "model: HF folder, GGUF file or llama2.c .bin")->required();
  lg->add_option("--ids", g.ids, "IDS.npy int32 [n], used as given (no BOS added)")->required();
  lg->add_option("--out", g.out, "LOGITS.npy")->required();
  lg->add_option("--rows", g.rows, "last:N = only the last N rows");

  auto* tk = app.add_subcommand("tokenize", "Print token ids (space-separated, no BOS added)");
  tk->add_option("--tokenizer", g.tokenizer, "tokenizer.json, GGUF file (its embedded tokenizer) or llama2.c tokenizer .bin")->required();
  tk->add_option("--text", g.text, "text to encode")->required();

  auto* cal = app.add_subcommand("calibrate", "Fit per-(layer, KV head) bases offline on model keys; write a basis file");
  cal->add_option("--model", g.model, "model: HF folder, GGUF file or llama2.c .bin")->required();
  cal->add_option("--tokenizer", g.tokenizer, "tokenizer (default: beside the model)");
  cal->add_option("--text", g.texts, "calibration text file(s) (.xz is decompressed); repeat for several")->required();
  cal->add_option("--ctx", g.ctx, "tokens per text (default: the model's context)");
  cal->add_option("--layers", g.layers, "all | a,b,c | a-b")->capture_default_str();
  cal->add_option("--kind", g.kind, "pca | orth | identity")->capture_default_str();
  cal->add_option("--seed", g.seed, "seed (orth)")->capture_default_str();
  cal->add_option("--bos", g.bos, "prepend BOS: auto | yes | no")->capture_default_str();
  cal->add_option("--out", g.out, "basis file to write")->required();

  auto* cap = app.add_subcommand("capture", "Capture post-RoPE q, k, v of real text per layer into a capture directory");
  cap->add_option("--model", g.model, "model: HF folder, GGUF file or llama2.c .bin")->required();
  cap->add_option("--tokenizer", g.tokenizer, "tokenizer (default: beside the model)");
  cap->add_option("--text", g.text, "text file (.xz is decompressed; - = stdin)")->required();
  cap->add_option("--ctx", g.ctx, "tokens of the text to use (default: the model's context)");
  cap->add_option("--layers", g.layers, "all | a,b,c | a-b")->capture_default_str();
  cap->add_option("--queries", g.queries, "last:N | first:N | all | a,b,c")->capture_default_str();
  cap->add_option("--bos", g.bos, "prepend BOS: auto | yes | no")->capture_default_str();
  cap->add_option("--out", g.out, "output directory")->required();
}

int run_model_command(CLI::App& app) {
  if (app.got_subcommand("tokenize")) {
    Tokenizer tok = load_tokenizer(g.tokenizer, 0);
    std::vector<int32_t> ids = tok.encode(g.text, false);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
    return 0;
  }
  LlamaWeights w = load_model(g.model);
  if (app.got_subcommand("logits")) {
    Tensor t = read_npy(g.ids);
    GKV_CHECK(t.ndim() == 1 && (t.dtype() == DType::i32 || t.dtype() == DType::i64), g.ids,
              ": expected int32 [n] token ids, got ", dtype_name(t.dtype()), " ", shape_str(t.shape()));
    Tensor ti = t.to_i64();
    std::vector<int32_t> ids(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      const int64_t id = ti.data<int64_t>()[i];
      GKV_CHECK(id >= 0 && id < w.cfg.n_vocab, g.ids, ": token id ", id, " at index ", i, " outside [0, n_vocab = ",
                w.cfg.n_vocab, ")");
      ids[size_t(i)] = int32_t(id);
    }
    GKV_CHECK(!ids.empty(), g.ids, ": no token ids");
    int64_t n_rows = int64_t(ids.size());
    if (!g.rows.empty()) {
      GKV_CHECK(g.rows.rfind("last:", 0) == 0, "--rows: expected last:N, got '", g.rows, "'");
      char* end = nullptr;
      n_rows = std::strtoll(g.rows.c_str() + 5, &end, 10);
      GKV_CHECK(end && *end == '\0' && g.rows.size() > 5, "--rows: '", g.rows, "' is not last:N with an integer N");
      GKV_CHECK(n_rows >= 1 && n_rows <= int64_t(ids.size()), "--rows: N = ", n_rows, " outside [1, ", ids.size(), "]");
    }
    EngineOptions eo;
    eo.max_ctx = std::max<int64_t>(int64_t(ids.size()), w.cfg.max_pos);
    Engine eng(w, eo);
    Tensor logits(DType::f32, {n_rows, w.cfg.n_vocab});
    eng.forward(ids.data(), int64_t(ids.size()), logits.data<float>(), n_rows);
    write_npy(g.out, logits);
    return 0;
  }
  if (app.got_subcommand("model-bench")) {
    const ModelConfig& c = w.cfg;
    const int64_t ctx = g.ctx > 0 ? g.ctx : c.max_pos;
    std::fprintf(stderr, "measuring the machine (sgemm, memory bandwidth)...\n");
    const MachineCeilings mc = measure_machine();
    std::vector<int32_t> ids(static_cast<size_t>(ctx));
    std::mt19937 rng(3);
    for (auto& t : ids) t = int32_t(rng() % uint32_t(c.n_vocab));
    EngineOptions eo;
    eo.max_ctx = ctx + g.n_decode;
    Engine eng(w, eo);
    std::vector<float> logits(static_cast<size_t>(c.n_vocab));
    auto t0 = std::chrono::steady_clock::now();
    eng.forward(ids.data(), ctx, logits.data(), 1);
    const double pre_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < g.n_decode; ++i) {
      int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      eng.forward(&next, 1, logits.data(), 1);
    }
    const double dec_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double pre_gflops = forward_flops(c, 0, ctx, true) / pre_s / 1e9;
    double dec_bytes = 0, dec_flops = 0;
    for (int64_t i = 0; i < g.n_decode; ++i) {
      dec_bytes += decode_bytes(c, ctx + i + 1, true);
      dec_flops += forward_flops(c, ctx + i, 1, true);
    }
    const double dec_gbps = dec_bytes / dec_s / 1e9;
    std::printf("machine: %s\n", mc.describe().c_str());
    std::printf("prefill %lld tokens: %.2f s, %.1f tokens/s, %.1f GFLOP/s = %.2f of measured sgemm\n", (long long)ctx,
                pre_s, double(ctx) / pre_s, pre_gflops, pre_gflops / mc.sgemm_gflops);
    std::printf("decode at %lld: %.1f tokens/s, %.2f GB/s read (weights + KV cache, float32) = %.2f of measured read "
                "bandwidth; %.1f GFLOP/s = %.2f of sgemm\n",
                (long long)ctx, double(g.n_decode) / dec_s, dec_gbps, dec_gbps / mc.read_gbps, dec_flops / dec_s / 1e9,
                dec_flops / dec_s / 1e9 / mc.sgemm_gflops);
    std::printf("memory: weights %.1f MiB (float32), KV cache %.1f MiB at %lld tokens\n",
                double(w.n_params()) * 4 / 1048576.0,
                double(c.n_layer) * 2 * double(c.n_head_kv * c.d_head) * 4 * double(eo.max_ctx) / 1048576.0,
                (long long)eo.max_ctx);
    return 0;
  }
  Tokenizer tok = load_tokenizer_for(g.model, g.tokenizer, w.cfg.n_vocab);
  if (app.got_subcommand("generate")) {
    std::vector<int32_t> prompt = encode_with_bos(tok, w.cfg, g.prompt);
    GKV_CHECK(!prompt.empty(), "generate: empty prompt and the model has no BOS token (give --prompt)");
    Engine eng(w);
    SampleOptions so;
    so.max_new = g.max_new;
    so.temperature = g.temp;
    so.seed = g.seed;
    GKV_CHECK(!g.eliminate.empty() || (g.stats_csv.empty() && !g.compare_dense && !g.gpu),
              "generate: --stats-csv, --compare-dense and --gpu go with --eliminate POLICY");
    GKV_CHECK(g.gen_anchors == "none" || g.gen_anchors == "page", "generate: --anchors takes none or page, got '",
              g.gen_anchors, "'");
    GKV_CHECK(g.gen_anchors == "none" || g.gpu, "generate: --anchors page goes with --gpu (the GPU path's page anchors)");
    std::unique_ptr<AttentionHook> hook;
    std::function<const std::vector<EliminationLayerStats>&()> hook_stats;
    std::function<std::unique_ptr<AttentionHook>()> dense_hook;  // --compare-dense's reference (none: the CPU engine)
    std::string method;
    if (!g.eliminate.empty() && g.gpu) {
#ifdef GHOSTKV_WITH_CUDA
      const Policy pol = parse_policy(g.eliminate);
      GKV_CHECK(pol.kind == PolicyKind::mass, "generate --gpu: the GPU path takes the mass policy (mass:D), got '",
                g.eliminate, "'");
      GKV_CHECK((g.witness == "quant" || (g.witness == "lowrank" && g.rank == cuda::kSketchRank)) && g.basis.empty(),
                "generate --gpu: the GPU path's witness is quant (--bits 8 | 4 | mixed) or lowrank at --rank ",
                cuda::kSketchRank, ", with a basis fitted on the prompt's keys; got --witness ", g.witness,
                g.witness == "lowrank" ? " --rank " + std::to_string(g.rank) : std::string(),
                g.basis.empty() ? "" : " with --basis");
      cuda::CacheOptions co;
      co.bits = g.witness == "lowrank" ? "lowrank" : g.bits;
      co.n_sink = int(g.sink), co.n_recent = int(g.recent), co.delta = pol.value;
      co.anchors = g.gen_anchors == "page";
      const int64_t cap = int64_t(prompt.size()) + g.max_new;
      auto gh = std::make_unique<cuda::GpuEliminationHook>(w.cfg, cap, co);
      const cuda::GpuEliminationHook* ghp = gh.get();
      hook_stats = [ghp]() -> const std::vector<EliminationLayerStats>& { return ghp->stats(); };
      dense_hook = [&w, cap, co]() { return std::make_unique<cuda::GpuEliminationHook>(w.cfg, cap, co, true); };
      hook = std::move(gh);
      method = (g.witness == "lowrank" ? "GPU lowrank r" + std::to_string(cuda::kSketchRank) : "GPU quant " + g.bits) +
               (co.anchors ? ", page anchors" : "");
#else
      GKV_CHECK(false, "generate --gpu: this ghostkv was built without CUDA (GHOSTKV_CUDA: a build where nvcc exists)");
#endif
    } else if (!g.eliminate.empty()) {
      EliminateOptions eo;
      eo.witness = parse_witness(g.witness);
      eo.policy = parse_policy(g.eliminate);
      eo.bits = g.bits;
      eo.rank = g.rank;
      eo.n_sink = g.sink;
      eo.n_recent = g.recent;
      eo.basis_file = g.basis;
      eo.threads = g.threads;
      auto eh = std::make_unique<EliminationHook>(w.cfg, eo);
      const EliminationHook* ehp = eh.get();
      hook_stats = [ehp]() -> const std::vector<EliminationLayerStats>& { return ehp->stats(); };
      hook = std::move(eh);
      method = g.witness == "quant" ? "quant " + g.bits : "lowrank r" + std::to_string(g.rank);
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> out = generate(eng, prompt, so, hook.get());
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (hook) {
      const EliminationSummary m = summarize(hook_stats());
      std::fprintf(stderr,
                   "elimination (%s, %s): %lld decode steps x %lld layers (the prefill dense%s); keys attended %.1f%% "
                   "(mean), candidates eliminated %.1f%%, kv_bytes_frac %.3f; max mass bound %.3g, max mass lost %.3g, "
                   "max output error %.3g (relative to float64 attention); %lld bound violations, %lld certificate "
                   "failures; %.1f s (%s: not a speed measurement)\n",
                   g.eliminate.c_str(), method.c_str(), (long long)m.steps, (long long)w.cfg.n_layer,
                   w.cfg.sliding_window > 0 ? "; a sliding-window model: every step dense" : "",
                   100 * m.attended_frac, 100 * m.elim_rate, m.kv_bytes_frac, m.max_mass_bound, m.max_mass_lost,
                   m.max_out_rel_err, (long long)m.violations, (long long)m.certificate_failures, gen_s,
                   g.gpu ? "synchronous steps with host copies and a float64 check" : "witnesses rebuilt every step");
      if (!g.stats_csv.empty()) {
        std::FILE* f = std::fopen(g.stats_csv.c_str(), "w");
        GKV_CHECK(f, "generate: cannot write --stats-csv ", g.stats_csv);
        std::fprintf(f, "step,layer,n_kv,attended_frac,elim_rate,kv_bytes_frac,max_mass_bound,max_mass_lost,"
                        "max_out_rel_err,violations,certificate_failures\n");
        for (const EliminationLayerStats& s : hook_stats())
          std::fprintf(f, "%lld,%lld,%lld,%.6f,%.6f,%.6f,%.6e,%.6e,%.6e,%lld,%lld\n", (long long)s.step,
                       (long long)s.layer, (long long)s.n_kv, s.attended_frac, s.elim_rate, s.kv_bytes_frac,
                       s.max_mass_bound, s.max_mass_lost, s.max_out_rel_err, (long long)s.violations,
                       (long long)s.certificate_failures);
        GKV_CHECK(std::fclose(f) == 0, "generate: writing --stats-csv ", g.stats_csv, " failed");
      }
      if (g.compare_dense) {
        Engine dense(w);
        std::unique_ptr<AttentionHook> dh = dense_hook ? dense_hook() : nullptr;
        const std::vector<int32_t> ref = generate(dense, prompt, so, dh.get());
        const char* which = dh ? "dense generation (GPU, every token attended)" : "dense generation";
        size_t same = 0;
        while (same < out.size() && same < ref.size() && out[same] == ref[same]) ++same;
        if (same == out.size() && same == ref.size())
          std::fprintf(stderr, "%s: the same %zu tokens\n", which, ref.size());
        else
          std::fprintf(stderr, "%s: the first %zu of %zu tokens the same, then %d (eliminated) against %d (dense)\n",
                       which, same, ref.size(), same < out.size() ? out[same] : -1, same < ref.size() ? ref[same] : -1);
      }
    }
    // print the prompt and the continuation, without a leading BOS (as llama2.c prints)
    std::vector<int32_t> all(prompt.begin() + (prompt[0] == tok.bos_id() || prompt[0] == int32_t(w.cfg.bos_id) ? 1 : 0),
                             prompt.end());
    all.insert(all.end(), out.begin(), out.end());
    std::cout << tok.decode(all) << std::endl;
    return 0;
  }
  if (app.got_subcommand("calibrate")) {
    const int64_t ctx = g.ctx > 0 ? g.ctx : w.cfg.max_pos;
    std::vector<std::vector<int32_t>> texts;
    std::string all_text;
    for (const std::string& f : g.texts) {
      const std::string text = read_text_file(f);
      all_text += text;
      std::vector<int32_t> ids = encode_with_bos(tok, w.cfg, text);
      if (int64_t(ids.size()) > ctx) ids.resize(size_t(ctx));
      texts.push_back(std::move(ids));
    }
    EngineOptions eo;
    eo.max_ctx = ctx;
    Engine eng(w, eo);
    auto t0 = std::chrono::steady_clock::now();
    const BasisKind kind = parse_basis_kind(g.kind);
    GKV_CHECK(kind != BasisKind::gauss, "calibrate --kind: pca, orth or identity (calibrated bases are full rotations)");
    BasisSet set = calibrate_bases(eng, texts, parse_layers(g.layers, w.cfg.n_layer), kind, g.seed);
    set.model = g.model;
    set.text_sha256 = sha256_hex(all_text);
    write_basis_file(g.out, set);
    std::fprintf(stderr, "calibrated %zu layers x %lld KV heads on %lld tokens in %.1f s -> %s\n", set.layers.size(),
                 (long long)set.n_head_kv, (long long)set.fit_tokens,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), g.out.c_str());
    return 0;
  }
  if (app.got_subcommand("capture")) {
    const std::string text = read_text_file(g.text);
    std::vector<int32_t> ids = encode_with_bos(tok, w.cfg, text);
    const int64_t ctx = g.ctx > 0 ? g.ctx : w.cfg.max_pos;
    GKV_CHECK(int64_t(ids.size()) >= ctx || g.ctx == 0, g.text, ": ", ids.size(), " tokens, fewer than --ctx ", ctx);
    if (int64_t(ids.size()) > ctx) ids.resize(size_t(ctx));
    const std::vector<int64_t> layers = parse_layers(g.layers, w.cfg.n_layer);
    const std::vector<int64_t> qpos = parse_query_positions(g.queries, int64_t(ids.size()));
    EngineOptions eo;
    eo.max_ctx = std::max<int64_t>(int64_t(ids.size()), 1);
    Engine eng(w, eo);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<AttnInputs> caps = capture_layers(eng, ids, layers, qpos);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    CaptureInfo info;
    info.model = g.model;
    info.text_sha256 = sha256_hex(text);
    info.n_kv = int64_t(ids.size());
    info.n_head_q = w.cfg.n_head_q;
    info.n_head_kv = w.cfg.n_head_kv;
    info.d_head = w.cfg.d_head;
    info.scale = w.cfg.attn_scale();
    info.layers = layers;
    for (size_t s = 0; s < layers.size(); ++s) write_capture_layer(g.out, layers[s], caps[s]);
    Tensor idt(DType::i32, {int64_t(ids.size())});
    std::copy(ids.begin(), ids.end(), idt.data<int32_t>());
    write_npy(g.out + "/ids.npy", idt);
    write_capture_info(g.out, info);
    std::fprintf(stderr, "captured %zu layers, %zu tokens, %zu queries in %.0f ms (%.0f tokens/s prefill) -> %s\n",
                 layers.size(), ids.size(), qpos.size(), ms, double(ids.size()) / (ms / 1000), g.out.c_str());
    return 0;
  }
  return 0;
}

}  // namespace ghostkv::cli
