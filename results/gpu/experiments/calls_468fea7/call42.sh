#!/usr/bin/env bash
# 46c1605: merge with every load issued after its wait (P·128 threads, a slice of the splits each; the certificate's
# inputs with them) and the global cut's e^{edge} table prefetched into the L2 (mg). GPU 0: same-call A/B of
# fdcedd7's binary (main, .gpu_carry/ghostkv_gpu_bench.xz) and mg (.gpu_carry/bench_mg.xz): 1 × 128K int8 and int4
# with the real fractions, two rounds in alternating order, 32 × 32K int4 with anchors at 20% and int8 at 5% once.
# GPU 1: compute-sanitizer memcheck, racecheck, synccheck, initcheck over the small rows with mg.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call42.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_mg.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_mg
nvidia-smi -L
date +%T
mkdir -p /tmp/o/san /tmp/o/ab
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=440 GHOSTKV_SANITIZE_ROW_S=250 OUT=/tmp/o/san timeout 450 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -16; }
  real="real:ref23m-L1=0.749363,real:ref23m-L4=0.303112,real:ref23m-L7=0.799820,real:smollm2-L1=0.649026"
  for round in 1 2; do
    vs="main mg"; [ $round = 2 ] && vs="mg main"
    for v in $vs; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra "$real" --breakdown
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b4" --bits 4 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2 --extra "$real"
    done
  done
  for v in main mg; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-b4-anc" --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.2
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call42.tar.xz" .
ls -la "$out"
