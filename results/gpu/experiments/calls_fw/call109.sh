#!/usr/bin/env bash
# The full run in one call with bb6e89c (the fused low-rank block at 12 warps): every check row (gpu_bench.sh quick)
# into $OUT/quick, then gpu_bench.sh main with quick's gpu_bench.csv into $OUT/main. One H200; everything under $OUT as
# written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p "$OUT/quick" "$OUT/main"
OUT="$OUT/quick" timeout -k 10 260 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$OUT/quick/log.txt"), passed: $(grep -c 'all checks passed' "$OUT/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$OUT/quick/log.txt" | head -10
O="$OUT"; OUT="$O/main" GHOSTKV_CHECKS_CSV="$O/quick/gpu_bench.csv" timeout -k 10 $(( 590 - ($(date +%s) - t0) )) bash scripts/gpu_bench.sh main > /dev/null 2>&1
echo "main rc=$? $(( $(date +%s) - t0 )) s"
grep -E "FAILED|stopping|rror" "$O/main/log.txt" | head -10
grep -E "^# dense|checks passed" "$OUT/main/log.txt" | sort | uniq -c | sort -rn | head -5
tail -25 "$OUT/main/log.txt" | cut -c1-200
