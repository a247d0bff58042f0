#!/usr/bin/env bash
# The main job: build, then run every experiment of experiments/report/config.json from scratch, plot,
# and write results/RESULTS.md, results/FRONTIER.md and the README headline.
#   scripts/report.sh            fresh: the experiments' CSVs are cleared first, every number is recomputed
#   scripts/report.sh --resume   continue a killed run: finished jobs (rows already in the CSVs) are skipped
#   scripts/report.sh --no-run   only regenerate plots and markdown from the CSVs
# Model captures (prefill of each model on each text) are cached under $GHOSTKV_CACHE/captures.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$GHOSTKV_ROOT/scripts/build.sh"
mode="${1:-}"
if [ -z "$mode" ]; then
  for exp in $(python3 -c "import json,sys; print(' '.join(s['experiment'] for s in json.load(open(sys.argv[1]))['run']))" \
                 "$GHOSTKV_ROOT/experiments/report/config.json"); do
    rm -f "$GHOSTKV_ROOT/results/$exp/"*.csv
  done
  rm -f "$GHOSTKV_ROOT/results/report_times.json"
  python3 "$GHOSTKV_ROOT/scripts/exp_report.py"
elif [ "$mode" = "--resume" ]; then
  python3 "$GHOSTKV_ROOT/scripts/exp_report.py"
else
  python3 "$GHOSTKV_ROOT/scripts/exp_report.py" "$@"
fi
echo "report: $GHOSTKV_ROOT/results/RESULTS.md and results/FRONTIER.md; plots and CSVs under results/<experiment>/"
