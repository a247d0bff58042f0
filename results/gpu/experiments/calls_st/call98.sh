#!/usr/bin/env bash
# gpu_bench's shared rerun_rel_err (the check-only graph replay and the timed replays against the checked outputs):
# check-rand8 with --poison, once with --check-only and once timed, and a timed 32 × 32K low-rank row with anchors at 5%.
# One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
c=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$OUT/rows.csv")
{
  $b "${c[@]}" --name check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison --check-only; echo "rc=$?"
  $b "${c[@]}" --name check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison; echo "rc=$?"
  $b "${c[@]}" --name 32x32K-lowrank-anc --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05; echo "rc=$?"
} > "$OUT/log.txt" 2>&1
grep -E "^forced|^certified|graph vs direct|checks|FAIL|rc=" "$OUT/log.txt" | cut -c1-200
echo "total $(( $(date +%s) - t0 )) s"
