#!/usr/bin/env bash
# call38's cluster build with its combines' loads issued at once (distributed shared memory, then the clusters'
# partials) and no more clusters than the device holds at once. GPU 0: same-call A/B of one binary,
# GHOSTKV_ATTEND_CLUSTER=0 (the 4-warp build and merge), 2, 4 and 8, two rounds. GPU 1: every check row
# (gpu_bench.sh quick) with clusters of 2, then memcheck and racecheck with clusters of 4.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call39.txt
xz -dc .gpu_carry/bench_cl.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_cl
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  ( GHOSTKV_ATTEND_CLUSTER=2 CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 230 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  GHOSTKV_ATTEND_CLUSTER=4 GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=330 GHOSTKV_SANITIZE_ROW_S=250 OUT=/tmp/o/san timeout 360 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^# attention|^forced|^certified|^real|checks|FAIL|rror" | tail -17; }
  real="real:ref23m-L1=0.749333,real:ref23m-L4=0.302818,real:ref23m-L7=0.800207,real:smollm2-L15=0.532258"
  for round in 1 2; do
    for c in 0 2 4 8; do
      export GHOSTKV_ATTEND_CLUSTER=$c
      abrun /tmp/b_cl "${ab[@]}" --name "ab$round-c$c-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra "$real" --breakdown
      abrun /tmp/b_cl "${ab[@]}" --name "ab$round-c$c-4x32K-b4" --bits 4 --batch 4 --n 32768 --reps 20 --check-batches 1 --fracs 0.05,0.2
    done
  done
  unset GHOSTKV_ATTEND_CLUSTER
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | grep -v "all checks passed" | tail -20
grep -c "all checks passed" /tmp/o/quick/log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call39.tar.xz" .
ls -la "$out"
