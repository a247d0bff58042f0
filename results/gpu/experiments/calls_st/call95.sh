#!/usr/bin/env bash
# compute-sanitizer's four tools (gpu_bench.sh sanitize) at once on the one H200 over the 16 small rows that call90 did not
# take (every small row but the four low-rank rows with anchors), with 258fc68 (e743355's kernels); sanitize_TOOL.txt
# under $OUT as written; rows not started within the budget are listed as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
GHOSTKV_SMALL_ROWS="rand8 rand4 mixed lowrank anc8-far-b3 anc4-far g1-mixed-anc-far g3-d64-4 rand4-cutlocal anc4-far-ready rand8-ready-fin splits98 prep-cl2 heads8 heads8-b4 heads8-splits98" \
  GHOSTKV_SANITIZE_BUDGET_S=430 GHOSTKV_SANITIZE_ROW_S=150 OUT="$OUT" \
  timeout -k 5 540 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -14 "$OUT/stdout.txt" | cut -c1-200
