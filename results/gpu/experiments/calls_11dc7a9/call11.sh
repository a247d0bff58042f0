#!/usr/bin/env bash
# The multi-GPU checks (--gpus 0,1) and compute-sanitizer's four tools over the small rows, with 6017d3b's binary
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
OUT="$OUT" timeout 170 bash scripts/gpu_bench.sh multi > /dev/null 2>&1; echo "multi rc=$?"
grep -E "^\+|all checks|FAIL|rror|local cut|# device|graph vs" "$OUT/log.txt" | cut -c1-230 | tail -60
GHOSTKV_SANITIZE_BUDGET_S=260 GHOSTKV_SANITIZE_ROW_S=150 OUT="$OUT" bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1; echo "sanitize rc=$?"
for f in "$OUT"/sanitize_*.txt; do echo "== $f"; grep -E "^sanitize|ERROR SUMMARY|RACECHECK SUMMARY|skipped|FAILED|Terminated|^=========  *(Invalid|Uninit|Race|Barrier|Error|Warning)" "$f" | sort | uniq -c | head -20; done
