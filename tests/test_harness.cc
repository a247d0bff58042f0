// The experiment harness: resumable, atomic CSVs (in-process and through `ghostkv run` killed after N
// jobs), CSV round trips, and the baselines' metrics and byte budgets checked against run_eliminate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "ghostkv/eliminate.h"
#include "ghostkv/exp/baselines.h"
#include "ghostkv/exp/harness.h"
#include "ghostkv/synth.h"

namespace fs = std::filesystem;
using namespace ghostkv;
using namespace ghostkv::exp;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ghostkv_test_harness_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

int run_cli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + " '" + std::string(GHOSTKV_CLI_PATH) + "' " + args + " 2>/dev/null";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string val(const Row& r, const std::string& k) {
  const std::string* v = r.get(k);
  return v ? *v : std::string("<absent>");
}

}  // namespace

TEST(Harness, CsvRoundTripQuotesCommasNewlines) {
  fs::path d = fresh_dir("csv");
  ResultTable t((d / "x.csv").string(), "hashA");
  Row r;
  r.set("plain", "a").set("comma", "b,c").set("quote", "say \"hi\"").set("newline", "l1\nl2").set("num", 0.125);
  t.add_job("job 1", {r});
  std::vector<Row> back = read_csv((d / "x.csv").string());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(val(back[0], "comma"), "b,c");
  EXPECT_EQ(val(back[0], "quote"), "say \"hi\"");
  EXPECT_EQ(val(back[0], "newline"), "l1\nl2");
  EXPECT_EQ(val(back[0], "num"), "0.125");
  EXPECT_EQ(val(back[0], "job"), "job 1");
  EXPECT_EQ(val(back[0], "config_hash"), "hashA");
}

TEST(Harness, ResultTableResumesSkipsAndDropsOtherConfigs) {
  fs::path d = fresh_dir("table");
  const std::string path = (d / "t.csv").string();
  {
    ResultTable t(path, "h1");
    for (int j = 0; j < 3; ++j) {
      std::vector<Row> rows(2);
      rows[0].set("slice", "a").set("v", j);
      rows[1].set("slice", "b").set("v", j + 10);
      t.add_job("job" + std::to_string(j), rows);
      // after every job the file on disk is complete: it parses and holds exactly the jobs so far
      EXPECT_EQ(read_csv(path).size(), size_t(2 * (j + 1)));
      EXPECT_FALSE(fs::exists(path + ".tmp"));
    }
  }
  // a stale temporary left by a killed writer is never read, and is replaced by the next write
  { std::ofstream(path + ".tmp") << "garbage,\"unterminated\n"; }
  {
    ResultTable t(path, "h1");
    EXPECT_EQ(t.n_jobs(), 3);
    EXPECT_EQ(t.n_rows(), 6);
    EXPECT_TRUE(t.done("job1"));
    EXPECT_FALSE(t.done("job3"));
    t.add_job("job3", {Row().set("slice", "a").set("v", 3)});
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  }
  std::vector<Row> rows = read_csv(path);
  ASSERT_EQ(rows.size(), 7u);
  std::set<std::pair<std::string, std::string>> keys;
  for (const Row& r : rows) keys.insert({val(r, "job"), val(r, "slice")});
  EXPECT_EQ(keys.size(), 7u) << "a (job, slice) row is duplicated";
  // a different config: its rows are dropped, nothing of the old config is reported as done
  ResultTable other(path, "h2");
  EXPECT_EQ(other.n_rows(), 0);
  EXPECT_EQ(other.n_dropped(), 7);
  EXPECT_FALSE(other.done("job1"));
}

TEST(Harness, KilledSweepResumesToTheSameRows) {
  fs::path d = fresh_dir("resume");
  const fs::path cfg = d / "cfg.json";
  std::ofstream(cfg) << R"({"experiment": "tradeoff", "seed": 3, "slices": "layer",
    "sources": [{"name": "syn", "kind": "synthetic", "gen": "structured", "n_kv": 600, "n_q": 6,
                 "n_head_q": 4, "n_head_kv": 2, "d_head": 32, "n_layer": 2, "diffuse_frac": 0, "seeds": [3]}],
    "methods": [{"label": "int8", "witness": "quant", "bits": "8"},
                {"label": "lowrank r8", "witness": "lowrank", "rank": 8}],
    "policies": ["mass:1e-3", "mass:1e-2"]})";
  const std::string a = (d / "a.csv").string(), b = (d / "b.csv").string();
  // killed after 2 of 4 jobs (flag), then after 1 more (environment hook), then finished
  EXPECT_EQ(run_cli("run tradeoff --config " + cfg.string() + " --out " + a + " --stop-after-jobs 2"), 75);
  const size_t rows_2 = read_csv(a).size();
  EXPECT_EQ(rows_2, 2u * 3u);  // per job: the pooled row + 2 layers
  EXPECT_EQ(run_cli("run tradeoff --config " + cfg.string() + " --out " + a, "GHOSTKV_RUN_STOP_AFTER_JOBS=1"), 75);
  EXPECT_EQ(read_csv(a).size(), 3u * 3u);
  EXPECT_EQ(run_cli("run tradeoff --config " + cfg.string() + " --out " + a), 0);
  EXPECT_EQ(run_cli("run tradeoff --config " + cfg.string() + " --out " + a), 0);  // nothing left: no change
  EXPECT_EQ(run_cli("run tradeoff --config " + cfg.string() + " --out " + b), 0);  // uninterrupted
  std::vector<Row> ra = read_csv(a), rb = read_csv(b);
  ASSERT_EQ(ra.size(), 4u * 3u);
  ASSERT_EQ(rb.size(), ra.size());
  auto key = [](const Row& r) { return val(r, "job") + "|" + val(r, "layer") + "|" + val(r, "kv_head"); };
  std::map<std::string, const Row*> mb;
  for (const Row& r : rb) mb[key(r)] = &r;
  std::set<std::string> seen;
  for (const Row& r : ra) {
    EXPECT_TRUE(seen.insert(key(r)).second) << "duplicated row " << key(r);
    ASSERT_TRUE(mb.count(key(r))) << "row missing from the uninterrupted run: " << key(r);
    for (const auto& [k, v] : r.cols) {
      if (k == "build_ms" || k == "eval_ms") continue;  // timings differ between runs
      EXPECT_EQ(v, val(*mb[key(r)], k)) << key(r) << " column " << k;
    }
  }
  EXPECT_FALSE(fs::exists(a + ".tmp"));
}

TEST(Harness, BadConfigIsAnErrorNamingTheFile) {
  fs::path d = fresh_dir("bad");
  std::ofstream(d / "bad.json") << "{\"experiment\": \"tradeoff\", \"sources\": [";
  EXPECT_THROW(run_experiment({"tradeoff", (d / "bad.json").string(), (d / "o.csv").string()}), Error);
  std::ofstream(d / "kind.json") << R"({"experiment": "tradeoff", "sources": [{"name": "x", "kind": "nope"}], "methods": []})";
  try {
    run_experiment({"tradeoff", (d / "kind.json").string(), (d / "o.csv").string()});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_experiment({"no-such-experiment", (d / "kind.json").string(), ""}), Error);
}

// oracle top-K as a baseline must equal run_eliminate with true scores and the top-K policy: the same
// survivors, hence the same mass_lost / fer (both float64), and out_rel_err equal up to the float32 path.
TEST(Harness, OracleTopKBaselineMatchesRunEliminate) {
  for (uint64_t seed : {1u, 2u}) {
    SynthSpec sp;
    sp.kind = seed == 1 ? "structured" : "gaussian";
    sp.n_kv = 777, sp.n_q = 9, sp.n_head_q = 6, sp.n_head_kv = 2, sp.d_head = 32, sp.seed = seed;
    AttnInputs in = make_synthetic(sp);
    const int64_t K = 37;
    EliminateOptions o;
    o.witness = WitnessKind::exact;
    o.policy = parse_policy("topk:37");
    EliminateResult e = run_eliminate(in, o);
    BaselineParams p;
    p.kind = BaselineKind::oracle_topk;
    p.top_k = K;
    EliminateResult b = run_baseline(in, p);
    ASSERT_EQ(e.steps.size(), b.steps.size());
    for (size_t s = 0; s < e.steps.size(); ++s) {
      EXPECT_EQ(e.steps[s].n_cand, b.steps[s].n_cand) << "seed " << seed << " step " << s;
      EXPECT_EQ(e.steps[s].n_elim, b.steps[s].n_elim) << "seed " << seed << " step " << s;
    }
    for (size_t h = 0; h < e.heads.size(); ++h) {
      EXPECT_NEAR(e.heads[h].mass_lost, b.heads[h].mass_lost, 1e-12) << "seed " << seed << " head-step " << h;
      EXPECT_EQ(e.heads[h].fer_topk, b.heads[h].fer_topk) << "seed " << seed << " head-step " << h;
      EXPECT_NEAR(e.heads[h].fer_mass, b.heads[h].fer_mass, 1e-12);
      EXPECT_NEAR(e.heads[h].fer_mass_chance, b.heads[h].fer_mass_chance, 1e-12);
      // float32 attention over the survivors vs float64: relative error ≤ ~1e-5 on these sizes
      EXPECT_NEAR(e.heads[h].out_rel_err, b.heads[h].out_rel_err, 1e-5 + 1e-4 * b.heads[h].out_rel_err);
    }
  }
}

TEST(Harness, BaselinesStayWithinTheirByteBudget) {
  SynthSpec sp;
  sp.n_kv = 1500, sp.n_q = 12, sp.n_head_q = 4, sp.n_head_kv = 2, sp.d_head = 64, sp.seed = 5;
  AttnInputs in = make_synthetic(sp);
  for (double f : {0.1, 0.3, 0.6}) {
    std::vector<BaselineParams> ps;
    for (auto k : {BaselineKind::window, BaselineKind::h2o, BaselineKind::quest, BaselineKind::loki,
                   BaselineKind::oracle_topk}) {
      BaselineParams p;
      p.kind = k;
      p.kv_bytes_frac = f;
      ps.push_back(p);
    }
    std::vector<EliminateResult> rs = run_baselines(in, ps);
    for (size_t x = 0; x < ps.size(); ++x) {
      // within the budget, unless its mandatory bytes (hot K,V + metadata) alone exceed it: then it
      // selects nothing (Loki's sketch of every candidate can cost more than a small budget)
      for (const StepStats& s : rs[x].steps) {
        if (s.read_bytes > f * s.dense_bytes + 1e-6) {
          EXPECT_EQ(s.n_elim, s.n_cand) << baseline_name(ps[x].kind) << " at " << f << ": over budget with "
                                        << s.n_cand - s.n_elim << " tokens selected";
        }
      }
      // and uses it: within one page/token (+ the rounding of the budget) of the target
      EXPECT_GT(rs[x].kv_bytes_frac, f - 0.03) << baseline_name(ps[x].kind) << " at " << f;
      for (const HeadStats& h : rs[x].heads) {
        EXPECT_GE(h.mass_lost, 0.0);
        EXPECT_LE(h.mass_lost, 1.0 + 1e-12);
      }
    }
  }
  BaselineParams full;
  full.kind = BaselineKind::full;
  EliminateResult r = run_baseline(in, full);
  EXPECT_DOUBLE_EQ(r.kv_bytes_frac, 1.0);
  for (const HeadStats& h : r.heads) {
    EXPECT_EQ(h.mass_lost, 0.0);
    EXPECT_LT(h.out_rel_err, 1e-12);
  }
}

// The tiered decode simulation: with tier moves by age and by survival (tokens leaving and re-entering
// the archive), every eliminated token's bound (its anchor's when the anchor went) dominates its exact
// score, the certificate holds on every step, and the store's invariants hold at the end.
TEST(Harness, DecodeSimIsCertifiedThroughTierMoves) {
  fs::path d = fresh_dir("decode");
  std::ofstream(d / "cfg.json") << R"({"experiment": "decode-sim", "seed": 1, "delta": 1e-3,
    "sources": [{"name": "syn", "kind": "synthetic", "gen": "structured", "n_kv": 2600, "n_q": 12,
                 "n_head_q": 4, "n_head_kv": 1, "d_head": 64, "diffuse_frac": 0}],
    "tier_policies": ["age", "survival"], "bits": "8", "group": 32, "ghost_after": 256,
    "archive_after": 1024, "anchors": "page", "page": 16, "anchor_bound": "box", "anchor_space": "rot"})";
  ASSERT_EQ(run_experiment({"decode-sim", (d / "cfg.json").string(), (d / "o.csv").string()}), 0);
  int heads = 0, steps = 0;
  for (const Row& r : read_csv((d / "o.csv").string())) {
    if (val(r, "row") == "step") {
      ++steps;
      continue;
    }
    ++heads;
    EXPECT_EQ(val(r, "violations"), "0") << val(r, "tier_policy");
    EXPECT_EQ(val(r, "certificate_failures"), "0") << val(r, "tier_policy");
    EXPECT_EQ(val(r, "store_invariants"), "1") << val(r, "tier_policy");
    EXPECT_GT(std::stoll(val(r, "candidates_checked")), 0) << "nothing was eliminated: the test checks nothing";
    EXPECT_LE(std::stod(val(r, "mass_lost_max")), 1e-3 * (1 + 1e-9));
  }
  EXPECT_EQ(heads, 2);
  EXPECT_EQ(steps, 2 * 12);
}

// Certified elimination inside a model's decode loop (model-decode): the reference checkpoint on real text, every
// decode step of every layer through the witness path; a model that is not there is skipped, naming its path.
TEST(Harness, ModelDecodeKeepsEveryCertificate) {
  const fs::path shared = fs::path(GHOSTKV_SOURCE_DIR) / ".." / "shared";
  if (!fs::exists(shared)) GTEST_SKIP() << "../shared does not exist on this machine: no reference model to test";
  // ${SHARED} below is the folder just checked, whatever the working directory and $GHOSTKV_ROOT (run from a build
  // folder without scripts/env.sh, it resolved beside the build folder and every model was skipped)
  const char* old_shared = std::getenv("GHOSTKV_SHARED");
  const std::string saved = old_shared ? old_shared : "";
  setenv("GHOSTKV_SHARED", fs::canonical(shared).c_str(), 1);
  struct Restore {
    bool had;
    std::string v;
    ~Restore() { had ? setenv("GHOSTKV_SHARED", v.c_str(), 1) : unsetenv("GHOSTKV_SHARED"); }
  } restore{old_shared != nullptr, saved};
  fs::path d = fresh_dir("model_decode");
  std::ofstream(d / "cfg.json") << R"({"experiment": "model-decode", "seed": 1,
    "models": [{"name": "ref23m", "model": "${SHARED}/models/ghostkv-ref-23m",
                "texts": ["${SHARED}/corpora/austen_persuasion.txt.xz"], "prompt_tokens": 700, "max_new": 5},
               {"name": "absent", "model": "${SHARED}/models/no-such-model", "texts": ["${SHARED}/corpora/austen_persuasion.txt.xz"]}],
    "methods": [{"name": "int8", "witness": "quant", "bits": "8", "policy": "mass:1e-3"},
                {"name": "int4-recent16", "witness": "quant", "bits": "4", "recent": 16, "policy": "mass:1e-3"}]})";
  ASSERT_EQ(run_experiment({"model-decode", (d / "cfg.json").string(), (d / "o.csv").string()}), 0);
  const std::vector<Row> rows = read_csv((d / "o.csv").string());
  ASSERT_EQ(rows.size(), 2u);
  for (const Row& r : rows) {
    EXPECT_EQ(val(r, "model"), "ref23m");
    EXPECT_EQ(val(r, "new_tokens"), "5");
    EXPECT_EQ(val(r, "decode_steps"), "4") << "5 new tokens: 4 decode forwards after the prefill's";
    EXPECT_EQ(val(r, "layer_steps"), "32");
    EXPECT_EQ(val(r, "dense_calls"), "16") << "the prefill: 2 chunks of at most 512 queries x 8 layers";
    EXPECT_EQ(val(r, "violations"), "0") << val(r, "method");
    EXPECT_EQ(val(r, "certificate_failures"), "0") << val(r, "method");
    EXPECT_LE(std::stod(val(r, "max_mass_bound")), 1e-3 * (1 + 1e-9));
    EXPECT_LT(std::stod(val(r, "attended_frac")), 1.0) << "nothing was eliminated: the test checks nothing";
    EXPECT_GE(std::stoll(val(r, "tokens_same_as_dense")), 1) << "the first token comes from the dense prefill";
  }
  std::ifstream sk(d / "o.skipped.txt");
  std::stringstream ss;
  ss << sk.rdbuf();
  EXPECT_NE(ss.str().find("no-such-model"), std::string::npos) << ss.str();
}

TEST(Harness, ResultTableKeepsTheValidJobsOfAnyConfig) {
  fs::path d = fresh_dir("valid");
  const std::string path = (d / "t.csv").string();
  {
    ResultTable t(path, "h1");
    t.add_job("shared#abc", {Row().set("v", 1)});
    t.add_job("gone#def", {Row().set("v", 2)});
  }
  const std::set<std::string> valid = {"shared#abc", "new#123"};
  ResultTable t(path, "h2", &valid);
  EXPECT_TRUE(t.done("shared#abc"));   // the same job in another config: reused
  EXPECT_FALSE(t.done("gone#def"));    // not a job of this config: dropped
  EXPECT_FALSE(t.done("new#123"));
  EXPECT_EQ(t.n_rows(), 1);
  EXPECT_EQ(t.n_dropped(), 1);
}
