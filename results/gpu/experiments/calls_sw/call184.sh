#!/usr/bin/env bash
# The checks again with the kernels as they stand (a724e52's dense certificates in merge and attend's one-split build,
# 3f1f84a's rule): scripts/gpu_bench.sh quick with the real captures carried (ref23m layers 1, 4, 7 and SmolLM2 layers
# 1, 15, captured here at 4096 tokens): every bench run now also checks its dense baseline's certificates. Then, while
# time is left, memcheck and racecheck over a small row whose dense and ghost steps take one split (attend writes the
# outputs and certificates). One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
timeout -k 10 450 bash scripts/gpu_bench.sh quick > /dev/null 2>&1; echo "quick rc=$? $(( $(date +%s) - t0 )) s"
grep -E "checks passed|FAIL|rror|stopping" "$OUT/log.txt" | sed -E 's/^# [^:]*: //' | sort | uniq -c | cut -c1-200 | tail -8
grep -cE "^# .*: all checks passed" "$OUT/log.txt"
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0
b=.gpu_carry/ghostkv_gpu_bench
(
  for tool in memcheck racecheck; do
    [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $tool"; continue; }
    echo "+ $tool rand4-b26-s1 $(date +%T)"
    timeout -k 5 120 compute-sanitizer --tool $tool $b --name san-b26 --check-only --reps 1 --bits 4 --batch 26 --n 1100 \
      --fracs 0.05 --check-batches 1 --splits 1 2>&1 | grep -E "checks|SUMMARY|rror" | head -5
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
  done
) > "$OUT/sanitize.txt" 2>&1
cat "$OUT/sanitize.txt"
xz -9 "$OUT/log.txt"
echo "total $(( $(date +%s) - t0 )) s"
