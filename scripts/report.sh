#!/usr/bin/env bash
# The main job: build, then run every experiment of experiments/report/config.json (resumable: a rerun
# skips finished jobs), plot, and write results/RESULTS.md, results/FRONTIER.md and the README headline.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$GHOSTKV_ROOT/scripts/build.sh"
python3 "$GHOSTKV_ROOT/scripts/exp_report.py" "$@"
echo "report: $GHOSTKV_ROOT/results/RESULTS.md and results/FRONTIER.md; plots and CSVs under results/<experiment>/"
