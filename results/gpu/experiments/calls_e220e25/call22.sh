#!/usr/bin/env bash
# 9fdb693: attend's one-split survivors build at 6 warps (GHOSTKV_ATTEND_WARPS=6) against 4 warps, the same binary.
# GPU 0: same-call A/B, two rounds, 32 × 32K rows with one split; GPU 1: every check row with 6 warps
# (gpu_bench.sh quick), then memcheck and racecheck over the 15 small rows with 6 warps.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call22.txt
xz -dc .gpu_carry/bench_new.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  export GHOSTKV_ATTEND_WARPS=6
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 290 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$?" )
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=200 GHOSTKV_SANITIZE_ROW_S=190 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$?"
) > /tmp/o/rc1.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv /tmp/o/ab/ab.csv)
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | tail -14; }
  for round in 1 2; do
    for wa in 4 6; do
      GHOSTKV_ATTEND_WARPS=$wa abrun $bin "${ab[@]}" --name "ab$round-w$wa-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
      GHOSTKV_ATTEND_WARPS=$wa abrun $bin "${ab[@]}" --name "ab$round-w$wa-32x32K-b4" --bits 4 --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
      GHOSTKV_ATTEND_WARPS=$wa abrun $bin "${ab[@]}" --name "ab$round-w$wa-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
    done
  done
  echo "ab done"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
cat /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | grep -v "all checks" | tail -20
grep -c "all checks passed" /tmp/o/quick/log.txt
cat /tmp/o/rc1.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call22.tar.xz" .
