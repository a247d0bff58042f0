#!/usr/bin/env bash
# da3b233's binary on one H200: the balanced splits with merge's one-slice (4 sequences × 8 KV heads: 12 splits) and
# 8-slice builds (98 splits), which call54's check rows did not reach: the two check rows, then memcheck and racecheck
# on their small versions (the sanitizer rows heads8-b4 and heads8-splits98).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call56.txt
xz -dc .gpu_carry/bench_bal3.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
san="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)"
export OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
c=(--device "$dev" --commit da3b233 --csv "$out/checks.csv")
heads="heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
r() { echo "+ $*"; timeout 70 "$@" 2>&1 | grep -E "^forced|^certified|^heads|balanced|checks|FAIL|rror|SUMMARY" | cut -c1-200; echo "rc=${PIPESTATUS[0]}"; }
r $b "${c[@]}" --name check-rand8-heads-b4 --batch 4 --n 8256 --reps 3 --check-batches 4 --fracs 0.05 --extra "$heads"
r $b "${c[@]}" --name check-splits98-heads --batch 1 --n 65536 --reps 3 --check-batches 1 --splits 98 --fracs 0.05 --extra "$heads"
for tool in memcheck racecheck; do
  r $san --tool $tool --num-cuda-barriers 1024 --error-exitcode 9 --print-limit 30 -- $b --device "$dev" --commit da3b233 --name heads8-b4 --batch 4 --n 8256 --check-batches 2 --fracs 0.05 --extra "$heads" --reps 1 --check-only
  r $san --tool $tool --num-cuda-barriers 1024 --error-exitcode 9 --print-limit 30 -- $b --device "$dev" --commit da3b233 --name heads8-splits98 --batch 1 --n 32768 --check-batches 1 --splits 98 --fracs 0.05 --extra "$heads" --reps 1 --check-only
done
