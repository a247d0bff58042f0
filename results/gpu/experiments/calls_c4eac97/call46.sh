#!/usr/bin/env bash
# mf: merge's maximum and l by every warp on its own (no block barrier before the outputs), the global cut's done
# count by thread 0's acq_rel add (no __threadfence per thread), the fused low-rank kernel without its two
# __threadfence. GPU 0: same-call A/B of 468fea7's binary (main, .gpu_carry/ghostkv_gpu_bench.xz) and mf
# (.gpu_carry/bench_mf.xz): 1 × 128K int8 and int4 with the real fractions, two rounds in alternating order; 32 × 32K
# low-rank with anchors at 5% and int8 at 20% (3 splits: merge) once; then synccheck and initcheck over the small rows.
# GPU 1: every check row with mf (gpu_bench.sh quick), then memcheck and racecheck over the small rows.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call46.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_mf.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_mf
nvidia-smi -L
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/san0 /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 250 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 540 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
  echo "sanitize1 rc=$? $(date +%T)"
) > /tmp/o/rc1.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -16; }
  real="real:ref23m-L1=0.749363,real:ref23m-L4=0.303112,real:ref23m-L7=0.799820,real:smollm2-L1=0.649026"
  for round in 1 2; do
    vs="main mf"; [ $round = 2 ] && vs="mf main"
    for v in $vs; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra "$real" --breakdown
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b4" --bits 4 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2 --extra "$real"
    done
  done
  for v in main mf; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05 --breakdown
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.2
  done
  echo "ab done $(date +%T)"
  left=$(( t0 + 540 - $(date +%s) ))
  if [ $left -gt 60 ]; then
    GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=100 OUT=/tmp/o/san0 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san0/stdout.txt 2>&1
    echo "sanitize0 rc=$? $(date +%T)"
  fi
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/rc1.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -20
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san*/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call46.tar.xz" .
ls -la "$out"
