// The model-decode experiment: certified elimination inside a real model's decode loop (EliminationHook,
// ghostkv/model/eliminate_hook.h). Per (model, text, method): the text's first `prompt_tokens` tokens (after the
// model's BOS where it has one) are prefilled densely, then `max_new` tokens are generated greedily with every layer
// of every decode step through the witness path, each step checked against float64 attention; the same prompt is also
// generated densely. One row per job: the decode steps' means and maxima (EliminationSummary) and how many of the
// generated tokens match the dense continuation. The witness records are rebuilt from the cache at every step, so the
// wall time is not a speed measurement (the column says so).
#include <chrono>
#include <filesystem>

#include "exp/common.h"
#include "ghostkv/error.h"
#include "ghostkv/io/text.h"
#include "ghostkv/model/eliminate_hook.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/model/weights.h"

namespace fs = std::filesystem;

namespace ghostkv::exp {

int exp_model_decode(Context& ctx) {
  const json& cfg = ctx.cfg;
  GKV_CHECK(cfg.contains("models") && cfg["models"].is_array() && !cfg["models"].empty(), ctx.config_path,
            ": model-decode needs a non-empty \"models\" array");
  GKV_CHECK(cfg.contains("methods") && cfg["methods"].is_array() && !cfg["methods"].empty(), ctx.config_path,
            ": model-decode needs a non-empty \"methods\" array");
  ResultTable table(ctx.csv_path, ctx.config_hash);
  int64_t total = 0;
  for (const auto& m : cfg["models"]) total += int64_t(m.at("texts").size() * cfg["methods"].size());
  Progress prog(ctx.experiment, total);
  for (const auto& mc : cfg["models"]) {
    const std::string name = mc.at("name").get<std::string>();
    const int64_t prompt_tokens = mc.value("prompt_tokens", int64_t(2048)), max_new = mc.value("max_new", int64_t(32));
    GKV_CHECK(prompt_tokens >= 1 && max_new >= 2, ctx.config_path, ": model ", name,
              ": prompt_tokens >= 1 and max_new >= 2 (got ", prompt_tokens, ", ", max_new, ")");
    std::string path;
    try {
      path = expand_path(mc.at("model").get<std::string>());
    } catch (const Error& e) {
      ctx.skipped(name, e.what());
      prog.skip(int64_t(mc.at("texts").size() * cfg["methods"].size()));
      continue;
    }
    if (!fs::exists(path)) {
      ctx.skipped(name, str_cat(path, " does not exist"));
      prog.skip(int64_t(mc.at("texts").size() * cfg["methods"].size()));
      continue;
    }
    LlamaWeights w = load_model(path);
    if (w.cfg.sliding_window > 0) {  // EliminationHook runs such models dense: nothing to measure
      ctx.skipped(name, str_cat(path, ": sliding window ", w.cfg.sliding_window, " (the witness path has none)"));
      prog.skip(int64_t(mc.at("texts").size() * cfg["methods"].size()));
      continue;
    }
    Tokenizer tok = load_tokenizer_for(path, mc.value("tokenizer", std::string()), w.cfg.n_vocab);
    for (const auto& tj : mc.at("texts")) {
      const std::string text_path = expand_path(tj.get<std::string>());
      const std::string text_name = fs::path(text_path).filename().string();
      if (!fs::exists(text_path)) {
        ctx.skipped(str_cat(name, " on ", text_path), "the text does not exist");
        prog.skip(int64_t(cfg["methods"].size()));
        continue;
      }
      std::vector<int32_t> prompt = tok.encode(read_text_file(text_path), false);
      const int32_t bos = w.cfg.bos_id >= 0 ? int32_t(w.cfg.bos_id) : tok.bos_id();
      if (bos >= 0 && (prompt.empty() || prompt[0] != bos)) prompt.insert(prompt.begin(), bos);
      GKV_CHECK(int64_t(prompt.size()) >= prompt_tokens, text_path, ": ", prompt.size(), " tokens, fewer than the ",
                prompt_tokens, " prompt_tokens of model ", name);
      prompt.resize(size_t(prompt_tokens));
      GKV_CHECK(prompt_tokens + max_new <= w.cfg.max_pos, "model ", name, ": prompt_tokens + max_new = ",
                prompt_tokens + max_new, " past its context ", w.cfg.max_pos);
      SampleOptions so;
      so.max_new = max_new;
      so.stop_at_eos = false;
      EngineOptions eo;
      eo.max_ctx = prompt_tokens + max_new;
      eo.threads = ctx.threads;
      std::vector<int32_t> dense;  // the dense continuation, once per (model, text)
      for (const auto& m : cfg["methods"]) {
        const std::string method = m.at("name").get<std::string>();
        const std::string job = str_cat(name, "|", text_name, "|", method, "|",
                                        short_hash(mc.dump() + text_path + m.dump()));
        if (table.done(job)) {
          prog.skip();
          continue;
        }
        EliminateOptions o = method_options(m, ctx);  // EliminationHook refuses an uncertified witness
        o.policy = parse_policy(m.value("policy", std::string("mass:1e-3")));
        EliminationHook hook(w.cfg, o);
        if (dense.empty()) {
          Engine eng(w, eo);
          dense = generate(eng, prompt, so);
        }
        Engine eng(w, eo);
        const auto t0 = std::chrono::steady_clock::now();
        const std::vector<int32_t> out = generate(eng, prompt, so, &hook);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        int64_t same = 0;
        while (size_t(same) < out.size() && size_t(same) < dense.size() && out[size_t(same)] == dense[size_t(same)]) ++same;
        const EliminationSummary s = summarize(hook.stats());
        Row r;
        r.set("model", name).set("text", text_name).set("method", method).set("witness", witness_name(o.witness))
            .set("bits", o.witness == WitnessKind::quant ? o.bits : std::string("-"))
            .set("rank", o.witness == WitnessKind::lowrank ? o.rank : int64_t(0)).set("policy", o.policy.text())
            .set("n_layer", w.cfg.n_layer).set("n_head_q", w.cfg.n_head_q).set("n_head_kv", w.cfg.n_head_kv)
            .set("d_head", w.cfg.d_head).set("prompt_tokens", prompt_tokens).set("new_tokens", int64_t(out.size()))
            .set("decode_steps", s.steps).set("layer_steps", s.layer_steps).set("dense_calls", hook.dense_calls())
            .set("attended_frac", s.attended_frac).set("elim_rate", s.elim_rate).set("kv_bytes_frac", s.kv_bytes_frac)
            .set("max_mass_bound", s.max_mass_bound).set("max_mass_lost", s.max_mass_lost)
            .set("max_out_rel_err", s.max_out_rel_err).set("violations", s.violations)
            .set("certificate_failures", s.certificate_failures).set("tokens_same_as_dense", same)
            .set("wall_s_witnesses_rebuilt_each_step", wall);
        ctx.commit(table, job, {r});
        prog.step(str_cat(name, " ", text_name, " ", method));
      }
    }
  }
  prog.finish();
  return 0;
}

}  // namespace ghostkv::exp
