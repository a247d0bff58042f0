#!/usr/bin/env bash
# The full run's second half (gpu_bench.sh main: steps 2-6) on one H200 with 03a45b9's binary, after call79's quick run,
# whose gpu_bench.csv travels as .gpu_carry/checks_gpu_bench.csv. Everything under $OUT as written (gpu_bench.csv,
# gpu_torch.csv, gpu_tier.csv, ncu*.csv, scan_sections.txt, log.txt).
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
OUT="$OUT" GHOSTKV_CHECKS_CSV=.gpu_carry/checks_gpu_bench.csv timeout -k 10 575 bash scripts/gpu_bench.sh main > /dev/null 2>&1
echo "main rc=$? $(( $(date +%s) - t0 )) s"
grep -E "FAILED|stopping|rror" "$OUT/log.txt" | head -10
grep -E "^# dense|checks passed" "$OUT/log.txt" | sort | uniq -c | sort -rn | head -5
tail -25 "$OUT/log.txt" | cut -c1-200
