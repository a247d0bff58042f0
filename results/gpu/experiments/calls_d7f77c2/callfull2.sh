#!/usr/bin/env bash
# The full run of the commit in .gpu_carry/COMMIT on GPU 0 (scripts/gpu_bench.sh full); GPU 1 meanwhile:
# compute-sanitizer racecheck, synccheck and initcheck over the 15 small rows (memcheck ran on this build in call32).
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/o/san
( GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="racecheck synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=420 GHOSTKV_SANITIZE_ROW_S=300 OUT=/tmp/o/san timeout 500 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1; echo "sanitize rc=$?" > /tmp/o/san/rc.txt ) &
spid=$!
CUDA_VISIBLE_DEVICES=0 OUT="$OUT" timeout 570 bash scripts/gpu_bench.sh full
echo "full rc=$?"
wait $spid
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$OUT/san.tar.xz" san
