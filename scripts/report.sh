#!/usr/bin/env bash
# The main job: build, then produce the report under results/ (see results/core/RESULTS.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$GHOSTKV_ROOT/scripts/build.sh"
python3 "$GHOSTKV_ROOT/scripts/core_report.py"
echo "report: $GHOSTKV_ROOT/results/core/RESULTS.md (CSV: results/core/core.csv)"
