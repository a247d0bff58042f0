#!/usr/bin/env bash
# The tree after dd9edbd with attend's balanced one-split build (SK: the survivors' tiles spread evenly over one wave
# of blocks, KV heads split over blocks merged by the block completing the last piece). GPU 0: same-call A/B of the
# same binary with GHOSTKV_ATTEND_BALANCED=0 (a block per KV head, dd9edbd's build) and =1, two rounds.
# GPU 1: every check row (gpu_bench.sh quick), then memcheck and racecheck over the small rows.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call35.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_sk
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 260 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=250 GHOSTKV_SANITIZE_ROW_S=220 OUT=/tmp/o/san timeout 280 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -14; }
  for round in 1 2; do
    for v in 0 1; do
      export GHOSTKV_ATTEND_BALANCED=$v
      abrun /tmp/b_sk "${ab[@]}" --name "ab$round-bal$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05 --breakdown
      abrun /tmp/b_sk "${ab[@]}" --name "ab$round-bal$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
      abrun /tmp/b_sk "${ab[@]}" --name "ab$round-bal$v-32x32K-b4-anc" --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05
    done
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | grep -v "all checks passed" | tail -20
grep -c "all checks passed" /tmp/o/quick/log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call35.tar.xz" .
ls -la "$out"
