#!/usr/bin/env bash
# Which scan blocks end the split cut's page loops last at 1 x 128K, and on which SMs? The split timeline's blocks
# (GHOSTKV_SPLIT_TL=1, --split-timeline-csv: each block's SM, start, wait for prep, last page-loop end, cut done, end)
# for int8 and int4 at 5% forced and certified, three processes each (each row records the last timed replay of its
# stage 1). One binary (commit in COMMIT); one H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_TL=1
  for r in 1 2 3; do
    for w in 8 4; do
      [ $(( $(date +%s) - t0 )) -lt 300 ] || { echo "skipped (time): $w $r"; continue; }
      echo "+ b$w run $r $(date +%T)"
      timeout -k 5 90 $b --device "$dev" --commit "$cm" --csv "$O/rows.csv" --name "1x128K-$w-r$r" --batch 1 --n 131072 \
        --bits $w --reps 10 --check-batches 1 --fracs 0.05 --cut-split --split-timeline-csv "$O/split_tl.csv" 2>&1 |
        grep -E "^# split|^forced|^certified|checks|FAIL|rror" | head -12
      echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
    done
  done
) > "$O/stdout.txt" 2>&1
cut -c1-300 "$O/stdout.txt"
wc -l "$O/split_tl.csv"
echo "total $(( $(date +%s) - t0 )) s"
