#pragma once
// Internal to the harness (src/exp): the parsed config, the run context, sources and slice statistics.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ghostkv/eliminate.h"
#include "ghostkv/exp/harness.h"
#include "ghostkv/inputs.h"

namespace ghostkv::exp {

using json = nlohmann::json;

struct Context {
  std::string experiment, config_path, config_hash, git_commit, csv_path, out_dir;
  json cfg;
  int threads = 0;
  uint64_t seed = 0;
  int64_t stop_after_jobs = -1;
  int64_t jobs_written = 0;
  // Adds provenance columns to every row and writes the job; honours the stop hook.
  void commit(ResultTable& table, const std::string& job, std::vector<Row> rows);
  void skipped(const std::string& what, const std::string& why);  // to stderr and out_dir/skipped.txt
  std::vector<std::string> skips;
  void write_skips() const;
};

// ${VAR} expansion; ${SHARED} = $GHOSTKV_SHARED, else ../shared beside the repository root.
std::string expand_path(const std::string& s);
std::string shared_dir();
std::string repo_root();

// One unit of a source: a text (model), a seed (synthetic) or a directory (capture), with its layers.
struct SourceUnit {
  std::string source, unit;    // e.g. "smollm2-8192", "austen_persuasion"
  std::string data_kind;       // "real" | "synthetic"
  std::string model;           // model path or generator description
  int64_t ctx = 0;             // n_kv
  std::vector<int64_t> layers;
  std::string capture_dir;     // real units: the (cached) capture directory
  json synth;                  // synthetic units: the generator spec
  uint64_t seed = 0;
  std::string spec;            // the source's JSON + unit: what the unit's inputs depend on
  AttnInputs load(int64_t layer) const;  // validated inputs of one layer
};
// Resolves every source of cfg["sources"] (capturing model sources into the cache when needed);
// sources that cannot be used (missing files, unloadable model) are reported through ctx.skipped.
std::vector<SourceUnit> resolve_sources(Context& ctx, const json& sources);

// Method spec (JSON) → EliminateOptions (policy and two_stage set separately).
EliminateOptions method_options(const json& m, const Context& ctx);

// Statistics of a slice of one EliminateResult (a set of steps and of query heads).
struct SliceAcc {
  std::vector<double> elim, oracle_elim, mass_lost, mass_bound, out_rel_err, fer_topk, fer_mass, fer_mass_chance,
      recall, spearman, tightness;
  double read_bytes = 0, dense_bytes = 0, n_cand = 0, n_anchor_elim = 0, n_records = 0, cand_checked = 0;
  int64_t violations = 0, cert_failures = 0, n_steps = 0, n_heads = 0;
  void add(const EliminateResult& r, int64_t n_head_kv, int64_t group, int64_t kv_head /* -1 = all */);
  void merge(const SliceAcc& o);
  void emit(Row& row) const;
};

double quantile(std::vector<double> x, double q);  // linear interpolation; NaN when empty
double mean_of(const std::vector<double>& x);

// Experiments.
int exp_sweep(Context& ctx);  // sketch-audit, tradeoff, validate, hierarchical, frontier
int exp_baselines(Context& ctx);
int exp_bandwidth(Context& ctx);
int exp_decode_sim(Context& ctx);
int exp_model_decode(Context& ctx);

std::string short_hash(const std::string& s);  // first 12 hex digits of SHA-256

}  // namespace ghostkv::exp
