#!/usr/bin/env bash
# d871e56 (the low-rank scan's list entries a step ahead, the low-rank anchor stage at 7 blocks per SM,
# compact walking the anchor stage's page list): GPU 0: every check row (gpu_bench.sh quick); GPU 1:
# compute-sanitizer's four tools over the 14 small rows (--check-only, unpoisoned bounds), then a same-call
# A/B against c79d1a7's binary (the kernels of the run of 11dc7a9), two rounds
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call16.txt
xz -dc .gpu_carry/bench_new.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/bench_c79d1a7.xz > /tmp/bm && chmod +x /tmp/bm
nvidia-smi -L
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
( CUDA_VISIBLE_DEVICES=0 OUT=/tmp/o/quick bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$?" ) &
qpid=$!
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_BUDGET_S=200 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$?"
  export CUDA_VISIBLE_DEVICES=1 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror" | tail -12; }
  for round in 1 2; do
    for lb in main new; do
      bin=.gpu_carry/ghostkv_gpu_bench; [ "$lb" = main ] && bin=/tmp/bm
      abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
      abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-b4-anc" --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
      abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-b4-anc" --bits 4 --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2
      abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-lowrank-anc" --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05
      abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-b4" --bits 4 --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
    done
  done
  echo "ab done"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $qpid
cat /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -60
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call16.tar.xz" .
ls -la "$out"
