#pragma once
// The experiment harness: `ghostkv run EXPERIMENT --config FILE`.
//   experiments  sketch-audit, tradeoff, validate, hierarchical, frontier (sweeps of run_eliminate),
//                baselines (full / window / H2O / Quest / Loki / oracle top-K at matched kv_bytes_frac),
//                bandwidth (the DESIGN §7 bytes/time model), decode-sim (KvStore over decode steps),
//                model-decode (certified elimination inside a model's decode loop: EliminationHook),
//                report (runs the experiments its config lists, in order)
//   sources      synthetic generators, capture directories, or model + text in-process (prefill with
//                capture, queries at the last N positions, causal); model captures are cached on disk
//   outputs      one CSV per config (default results/<experiment>/<experiment>.csv): one row per
//                configuration and slice, with provenance (git commit, config hash, seed, threads)
// Resumable: work is done in jobs; every finished job's rows are written atomically (tmp + rename)
// before the next job starts, and a rerun with the same config skips the jobs already in the CSV.
// Rows of a different config hash are dropped on open (the CSV describes one config), unless the table
// is given the set of valid job keys: then exactly the rows of those jobs are kept (job keys carry a hash
// of everything the job computes, so configs that share jobs share their rows).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ghostkv::exp {

// One CSV row: ordered (column, value) pairs; numbers are formatted with 9 significant digits.
struct Row {
  std::vector<std::pair<std::string, std::string>> cols;
  Row& set(const std::string& key, const std::string& value);
  Row& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
  Row& set(const std::string& key, double value);
  Row& set(const std::string& key, int64_t value);
  Row& set(const std::string& key, int value) { return set(key, int64_t(value)); }
  const std::string* get(const std::string& key) const;
};

// A resumable CSV of rows grouped by job key (column "job").
class ResultTable {
 public:
  ResultTable(std::string path, std::string config_hash, const std::set<std::string>* valid_jobs = nullptr);
  bool done(const std::string& job) const { return jobs_.count(job) > 0; }
  // Appends the rows of one job (each gets "job" and "config_hash") and rewrites the file atomically.
  void add_job(const std::string& job, std::vector<Row> rows);
  int64_t n_rows() const { return int64_t(rows_.size()); }
  int64_t n_jobs() const { return int64_t(jobs_.size()); }
  int64_t n_dropped() const { return dropped_; }
  const std::string& path() const { return path_; }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  void write() const;
  std::string path_, config_hash_;
  std::vector<Row> rows_;
  std::set<std::string> jobs_;
  int64_t dropped_ = 0;
};

// RFC-4180 CSV (quoted fields with "" escapes), read back as rows of (header, value).
std::vector<Row> read_csv(const std::string& path);
// Atomic text write: PATH.tmp, flushed, then renamed over PATH.
void write_file_atomic(const std::string& path, const std::string& text);

// A progress bar with ETA on stderr.
class Progress {
 public:
  Progress(std::string what, int64_t total);
  void step(const std::string& label);  // one unit of work finished
  void skip(int64_t n = 1);             // units already done (resumed): not counted in the rate
  void finish();

 private:
  void draw(const std::string& label) const;
  std::string what_;
  int64_t total_ = 0, done_ = 0, skipped_ = 0;
  double t0_ = 0;
};

struct RunArgs {
  std::string experiment, config, out;  // out: CSV path override ("" = the config's or the default)
  int threads = 0;                      // 0 = the config's, else all cores
  int64_t stop_after_jobs = -1;         // test hook: exit(75) after this many jobs were written
};

const std::vector<std::string>& experiment_names();
// Runs one experiment (or "report"); returns the process exit code. Throws ghostkv::Error on bad input.
int run_experiment(const RunArgs& args);

}  // namespace ghostkv::exp
