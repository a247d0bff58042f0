#!/usr/bin/env bash
# A variant of e220e25's fused low-rank kernel (results/gpu/experiments/lrfused_plainhist.diff: plain shared-memory
# atomics for the anchored candidates instead of the __match_any_sync aggregation). GPU 0: same-call A/B against
# e220e25's binary, two rounds; GPU 1: the low-rank anchored check rows that run the fused kernel, with the variant.
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && xz -dc .gpu_carry/bench_var.xz > /tmp/b_var && chmod +x /tmp/b_main /tmp/b_var
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
mkdir -p /tmp/o
(
  export CUDA_VISIBLE_DEVICES=1 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  c=(--device "$dev" --commit var --csv /tmp/o/checks.csv)
  run() { echo "+ $*"; "$@" 2>&1 | grep -E 'all checks|FAIL|error|violat|Error|fused low-rank' | tail -3; }
  GHOSTKV_SCAN_OCC=1 run /tmp/b_var "${c[@]}" --name check-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
  GHOSTKV_SCAN_OCC=1 run /tmp/b_var "${c[@]}" --name check-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
  run /tmp/b_var "${c[@]}" --name lowrank-anc-far-ppl2 --bits lowrank --anchors --far-pages 0.5 --batch 300 --n 600 --reps 3 --check-batches 2 --fracs 0.05
) > /tmp/o/checks_log.txt 2>&1 &
cpid=$!
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit e220e25 --csv /tmp/o/ab.csv)
abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror" | tail -20; }
for round in 1 2; do
  for lb in main var; do
    abrun /tmp/b_$lb "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
  done
done > /tmp/o/ab_log.txt 2>&1
wait $cpid
cat /tmp/o/ab_log.txt | grep -v "^# breakdown" ; cat /tmp/o/checks_log.txt
tar -C /tmp/o -cJf "$OUT/call24.tar.xz" .
