#!/usr/bin/env bash
# compute-sanitizer's four tools (gpu_bench.sh sanitize) at once on the one H200 over the small rows that run the fused
# low-rank kernel with its compaction (GHOSTKV_SMALL_ROWS: the four low-rank rows with anchors), with da8b841's kernels;
# sanitize_TOOL.txt under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
GHOSTKV_SMALL_ROWS="lowrank-anc-far-b3 g2-lowrank-anc-far lowrank-anc-far-cutlocal lowrank-anc-far-ppl2" \
  GHOSTKV_SANITIZE_BUDGET_S=120 GHOSTKV_SANITIZE_ROW_S=100 OUT="$OUT" \
  timeout -k 5 150 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -12 "$OUT/stdout.txt" | cut -c1-200
