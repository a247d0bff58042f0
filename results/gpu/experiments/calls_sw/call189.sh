#!/usr/bin/env bash
# The full run's second half for the tree of call188 (prep writing the certificate's budget and m_L; the probe budget): gpu_bench.sh main with call188's quick gpu_bench.csv (carried as
# .gpu_carry/checks_gpu_bench.csv) into $OUT/main. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p "$OUT/main"
O="$OUT"; OUT="$O/main" GHOSTKV_CHECKS_CSV=.gpu_carry/checks_gpu_bench.csv timeout -k 10 585 bash scripts/gpu_bench.sh main > /dev/null 2>&1
echo "main rc=$? $(( $(date +%s) - t0 )) s"
grep -E "FAILED|stopping|rror" "$O/main/log.txt" | head -10
grep -E "^# dense|checks passed" "$O/main/log.txt" | sort | uniq -c | sort -rn | head -5
tail -20 "$O/main/log.txt" | cut -c1-200
