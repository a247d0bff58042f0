#!/usr/bin/env bash
# compute-sanitizer's racecheck and synccheck (gpu_bench.sh sanitize, GHOSTKV_SANITIZE_TOOLS) over the 20 small rows with
# the published run's binary (03a45b9), as many rows as 140 s start, both
# on the one H200 at once; sanitize_TOOL.txt under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
GHOSTKV_SANITIZE_TOOLS="synccheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=140 GHOSTKV_SANITIZE_ROW_S=120 OUT="$OUT" \
  timeout -k 5 165 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -8 "$OUT/stdout.txt" | cut -c1-200
