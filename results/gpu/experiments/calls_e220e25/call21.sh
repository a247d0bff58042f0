#!/usr/bin/env bash
# c8f6095 (the fused low-rank kernel: anchor stage + scan in one). GPU 0: a same-call A/B of the fused kernel
# against the two kernels (GHOSTKV_LR_FUSED=0, the same binary), two rounds, then every check row
# (gpu_bench.sh quick); GPU 1: compute-sanitizer's four tools over the 15 small rows.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call21.txt
xz -dc .gpu_carry/bench_new.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_BUDGET_S=300 GHOSTKV_SANITIZE_ROW_S=250 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$?"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv /tmp/o/ab/ab.csv)
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror|fused low-rank|local cut" | tail -14; }
  for round in 1 2; do
    for lb in two fused; do
      f=1; [ "$lb" = two ] && f=0
      GHOSTKV_LR_FUSED=$f abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
      GHOSTKV_LR_FUSED=$f abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-lowrank-anc" --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2 --breakdown
    done
  done
  echo "ab done"
) > /tmp/o/ab/ab_log.txt 2>&1
( CUDA_VISIBLE_DEVICES=0 OUT=/tmp/o/quick timeout 300 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$?" ) 
wait $spid
cat /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=|fused low-rank' /tmp/o/quick/log.txt | tail -80
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call21.tar.xz" .
ls -la "$out"
