#!/usr/bin/env bash
# The tree after db8dc9b with attend's survivor row ids in two alternating register pairs (pp: no move waits for the
# previous iteration's row loads). GPU 0: same-call A/B of dd9edbd's binary (main, .gpu_carry/ghostkv_gpu_bench.xz) and pp
# (.gpu_carry/bench_pp.xz), two rounds. GPU 1: every check row with pp (gpu_bench.sh quick), then memcheck and racecheck.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call37.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_pp.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_pp
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 230 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=280 GHOSTKV_SANITIZE_ROW_S=250 OUT=/tmp/o/san timeout 300 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -14; }
  for round in 1 2; do
    for v in main pp; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2
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
tar -C /tmp/o -cJf "$out/call37.tar.xz" .
ls -la "$out"
