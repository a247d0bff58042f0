#!/usr/bin/env bash
# The CSV's cut_blocks column (the split cut's scan blocks per KV head; 0 for the one cut): two short timed rows of the
# tree's bench (2 x 4160 int8 at 5% and certified, with and without --cut-split), their CSV printed.
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
mkdir -p "$OUT/r"
b=.gpu_carry/ghostkv_gpu_bench; cm="$(cat .gpu_carry/COMMIT)"; dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
for x in "" --cut-split; do
  timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$OUT/r/cut_blocks.csv" --name "rand8${x:+-split}" --batch 2 --n 4160 \
    --fracs 0.05 --reps 3 --check-batches 2 $x 2>&1 | grep -E "^# cut|^forced|^certified|checks|FAIL|rror"
done
cut -d, -f2,3,10,11,41- "$OUT/r/cut_blocks.csv"
