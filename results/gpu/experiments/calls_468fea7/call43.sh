#!/usr/bin/env bash
# f: attend's survivors by interleaved tiles (the first tile's row ids beside the count; prep zeroes the lists' first
# splits·64 entries) on top of the merge of 27c844d. GPU 0: same-call A/B of 27c844d's binary (m2, .gpu_carry/bench_m2.xz)
# and the tree's (il, .gpu_carry/bench_il.xz): 1 × 128K int8 and int4 with the real fractions, two rounds in alternating
# order; 32 × 32K int8 at 5% and low-rank with anchors at 5% once. Before it, on the same GPU (one H200 lent):
# compute-sanitizer memcheck and initcheck over the small rows (with the new 98-split row).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call43.txt
xz -dc .gpu_carry/bench_m2.xz > /tmp/b_m2 && chmod +x /tmp/b_m2
xz -dc .gpu_carry/bench_il.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_il
nvidia-smi -L
date +%T
mkdir -p /tmp/o/san /tmp/o/ab
(
  GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="memcheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=125 GHOSTKV_SANITIZE_ROW_S=100 OUT=/tmp/o/san timeout 135 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -16; }
  real="real:ref23m-L1=0.749363,real:ref23m-L4=0.303112,real:ref23m-L7=0.799820,real:smollm2-L1=0.649026"
  for round in 1 2; do
    vs="m2 il"; [ $round = 2 ] && vs="il m2"
    for v in $vs; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra "$real" --breakdown
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b4" --bits 4 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2 --extra "$real"
    done
  done
  for v in m2 il; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call43.tar.xz" .
ls -la "$out"
