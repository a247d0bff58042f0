#!/usr/bin/env bash
# The tree after 928c7dc with attend's block combine computing each lane group's scale factor once per (group, head)
# instead of once per output component, and the survivors' query by 16-byte loads (cb; the same values, sums in the
# same order). GPU 0: same-call A/B of dd9edbd's binary (main, .gpu_carry/ghostkv_gpu_bench.xz) and cb
# (.gpu_carry/bench_cb.xz): 1 × 128K int8 twice, the 32 × 32K rows once (time for a full run after this call).
# GPU 1: racecheck over the small rows with cb (the checks of every row come with the full run).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call41.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_cb.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_cb
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="racecheck" GHOSTKV_SANITIZE_BUDGET_S=200 GHOSTKV_SANITIZE_ROW_S=120 OUT=/tmp/o/san timeout 215 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -14; }
  for v in main cb; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra real:ref23m-L4=0.302818 --breakdown
  done
  for v in main cb; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05 --breakdown
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
  done
  for v in cb main; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab2-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra real:ref23m-L4=0.302818 --breakdown
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call41.tar.xz" .
ls -la "$out"
