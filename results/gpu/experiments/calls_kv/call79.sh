#!/usr/bin/env bash
# Every check row (gpu_bench.sh quick) with 03a45b9's binary (compact_walk's M_E terms without a branch per lane where
# a segment eliminates any), the first half of a full run on one H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
OUT="$OUT" timeout -k 10 560 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$OUT/log.txt"), passed: $(grep -c 'all checks passed' "$OUT/log.txt")"
grep -E "FAILED|stopping|rror" "$OUT/log.txt" | head -10
