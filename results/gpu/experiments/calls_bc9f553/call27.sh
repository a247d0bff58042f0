#!/usr/bin/env bash
# The tree with the fused block's compaction counting its survivors in shared memory. GPU 0: same-call A/B of the
# block's compaction off (nocp, GHOSTKV_LR_FUSED_COMPACT=0) and on (cp), the same binary, two rounds; GPU 1:
# compute-sanitizer memcheck and racecheck over the 15 small rows, then the check rows that run the fused kernel,
# with the block's compaction on and off.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call27.txt
xz -dc .gpu_carry/bench_cp.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
mkdir -p /tmp/o/san /tmp/o/ab /tmp/o/chk
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=250 GHOSTKV_SANITIZE_ROW_S=230 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$?"
  export CUDA_VISIBLE_DEVICES=1 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  c=(--device "$dev" --commit tree --csv /tmp/o/chk/checks.csv)
  run() { echo "+ $*"; "$@" 2>&1 | grep -E 'all checks|FAIL|error|violat|Error|fused' | tail -6; }
  for cp in 1 0; do
    export GHOSTKV_LR_FUSED_COMPACT=$cp GHOSTKV_SCAN_OCC=1
    run .gpu_carry/ghostkv_gpu_bench "${c[@]}" --name check-cp$cp-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,0.2
    run .gpu_carry/ghostkv_gpu_bench "${c[@]}" --name check-cp$cp-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
    run .gpu_carry/ghostkv_gpu_bench "${c[@]}" --name check-cp$cp-g2-lowrank-anc-far-cutlocal --hq 16 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
    run .gpu_carry/ghostkv_gpu_bench "${c[@]}" --name check-cp$cp-g3-d64-lowrank-anc-cutlocal --hq 24 --hkv 8 --d 64 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 3000 --reps 3 --check-batches 4 --fracs 0.05
  done
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror|fused" | tail -14; }
  for round in 1 2; do
    for cp in 0 1; do
      GHOSTKV_LR_FUSED_COMPACT=$cp abrun $bin "${ab[@]}" --name "ab$round-cp$cp-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
    done
  done
  echo "ab done"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call27.tar.xz" .
