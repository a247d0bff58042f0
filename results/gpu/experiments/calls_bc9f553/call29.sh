#!/usr/bin/env bash
# A variant of bc9f553 (results/gpu/experiments/attend8.diff): attend's one-split survivors build at 8 warps
# (tiles of 64 rows, 3 stages, σq·log2e in shared memory, 128 registers; GHOSTKV_ATTEND_WARPS=8) against the
# 6-warp build (the default), the same binary. GPU 0: same-call A/B, two rounds, then the one-split check rows
# with 8 warps; GPU 1: memcheck and racecheck over the 15 small rows with 8 warps.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call29.txt
xz -dc .gpu_carry/bench_att8.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/o/san /tmp/o/ab
( GHOSTKV_ATTEND_WARPS=8 GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=190 GHOSTKV_SANITIZE_ROW_S=180 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1; echo "sanitize rc=$?" > /tmp/o/san/rc.txt ) &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit att8 --csv /tmp/o/ab/ab.csv)
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror" | tail -14; }
  for round in 1 2; do
    for wa in 6 8; do
      GHOSTKV_ATTEND_WARPS=$wa abrun $bin "${ab[@]}" --name "ab$round-w$wa-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
      GHOSTKV_ATTEND_WARPS=$wa abrun $bin "${ab[@]}" --name "ab$round-w$wa-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
    done
  done
  echo "ab done"
  export GHOSTKV_ATTEND_WARPS=8
  c=(--device "$dev" --commit att8 --csv /tmp/o/ab/checks.csv)
  for shape in "rand8:--batch 3 --n 8256 --fracs 0.05,1 --poison" "anc4:--bits 4 --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.2" \
      "lowrank:--bits lowrank --batch 3 --n 8256 --fracs 0.05,1" \
      "lowrank-anc:--bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.05" "g1-mixed:--hq 8 --hkv 8 --bits mixed --batch 3 --n 5000 --fracs 0.05" \
      "g2-b8:--hq 16 --hkv 8 --batch 3 --n 5000 --fracs 0.05" "d64-4:--d 64 --bits 4 --batch 3 --n 5000 --fracs 0.05" "d64-g3-mixed:--d 64 --hq 24 --hkv 8 --bits mixed --batch 3 --n 5000 --fracs 0.05"; do
    tag="${shape%%:*}"; opts=(${shape#*:})
    abrun $bin "${c[@]}" --name "check8-$tag-fin" "${opts[@]}" --splits 1 --reps 3 --check-batches 3
  done
  GHOSTKV_COMPACT_READY=1 abrun $bin "${c[@]}" --name check8-rand8-ready-fin --batch 3 --n 8256 --splits 1 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/sanitize_*.txt
tar -C /tmp/o -cJf "$out/call29.tar.xz" .
