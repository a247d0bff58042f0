#!/usr/bin/env bash
# At the commit in COMMIT: compute-sanitizer's racecheck over the five split-cut small rows, which call194's time budget
# skipped. One H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
echo "commit $(cat .gpu_carry/COMMIT)"
GHOSTKV_SMALL_ROWS="rand8-split rand4-split mixed-split-b3 g3-d64-4-split g2-8-split" GHOSTKV_SANITIZE_TOOLS=racecheck \
  GHOSTKV_SANITIZE_BUDGET_S=250 GHOSTKV_SANITIZE_ROW_S=120 OUT="$OUT/san" timeout -k 10 300 bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize \|skipped\|FAILED\|all checks passed\|RACECHECK SUMMARY" "$OUT"/san/sanitize_racecheck.txt | head -20
echo "total $(( $(date +%s) - t0 )) s"
