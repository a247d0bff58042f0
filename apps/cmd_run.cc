// ghostkv run EXPERIMENT --config FILE: the experiment harness (include/ghostkv/exp/harness.h).
#include <CLI/CLI.hpp>

#include "ghostkv/exp/harness.h"

namespace ghostkv::cli {

namespace {
exp::RunArgs run_args;
}

void add_run_command(CLI::App& app) {
  std::string names;
  for (const auto& n : exp::experiment_names()) names += (names.empty() ? "" : " | ") + n;
  auto* c = app.add_subcommand("run", "Run an experiment from its config; rows go to a resumable CSV");
  c->add_option("experiment", run_args.experiment, names)->required();
  c->add_option("--config", run_args.config, "experiment config (JSON; experiments/<name>/*.json)")->required();
  c->add_option("--out", run_args.out, "CSV path (default: the config's \"output\", else results/<experiment>/<experiment>.csv)");
  c->add_option("--threads", run_args.threads, "threads (0 = the config's, else all cores)");
  c->add_option("--stop-after-jobs", run_args.stop_after_jobs, "test hook: exit with code 75 after N jobs were written")
      ->group("");
}

int run_run_command(CLI::App& app) {
  (void)app;
  return exp::run_experiment(run_args);
}

}  // namespace ghostkv::cli
