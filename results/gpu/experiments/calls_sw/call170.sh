#!/usr/bin/env bash
# The kernels after walk 2 and the staged inputs were put back (ac12218's, the compaction's timeline columns kept):
# scripts/gpu_bench.sh quick (every small checked row and the random checks; no captures carried), then the split
# timeline at 1 x 128K int4 and int8, 5% forced and certified, with its compaction columns. One H200; everything
# under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
timeout -k 10 420 bash scripts/gpu_bench.sh quick > /dev/null 2>&1; echo "quick rc=$? $(( $(date +%s) - t0 )) s"
grep -E "checks passed|FAIL|rror|done|stopping" "$OUT/log.txt" | sort | uniq -c | cut -c1-200 | tail -12
b=.gpu_carry/ghostkv_gpu_bench
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_TL=1
  for w in 4 8; do
    echo "+ timeline b$w"
    timeout -k 5 90 $b --device "$dev" --commit "$(cat .gpu_carry/COMMIT)-tl" --name "1x128K-$w-tl" --batch 1 --n 131072 \
      --bits $w --reps 10 --check-batches 1 --fracs 0.05 --cut-split 2>&1 | grep -E "^# split|^forced|^certified|FAIL|rror"
  done
) > "$OUT/timeline.txt" 2>&1
cut -c1-500 "$OUT/timeline.txt"
echo "total $(( $(date +%s) - t0 )) s"
