#!/usr/bin/env bash
# pr: prep in 4 blocks per (b, KV head) where B·Hkv·4 ≤ SMs (each computes a quarter of q̃_r and Δ, so one SM loads 16 KB of
# the rotation instead of 64 KB; block 0 does the rest), one binary: GHOSTKV_PREP_ROWS=1 (prep as in c4eac97) against
# GHOSTKV_PREP_ROWS=4. GPU 0: same-call A/B at 1 × 128K int8 and int4 with the real fractions, two rounds in alternating
# order, low-rank with anchors at 5% once. GPU 1 (if the host has two): every check row (gpu_bench.sh quick: the small
# rows take 4 blocks), then memcheck and racecheck over the small rows; with one GPU the checks follow the A/B.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call48.txt
xz -dc .gpu_carry/bench_pr.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
ngpu=$(nvidia-smi -L | wc -l)
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/ab
side() {
  local gpu=$1
  ( CUDA_VISIBLE_DEVICES=$gpu OUT=/tmp/o/quick timeout $(( t0 + 400 - $(date +%s) )) bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 400 - $(date +%s) ))
  if [ $left -gt 60 ]; then
    GHOSTKV_SANITIZE_GPUS=$gpu GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
    echo "sanitize rc=$? $(date +%T)"
  fi
}
if [ "$ngpu" -ge 2 ]; then side 1 > /tmp/o/rc1.txt 2>&1 & spid=$!; fi
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | sed 's/; gather.*//' | tail -16; }
  real="real:ref23m-L1=0.749363,real:ref23m-L4=0.303112,real:ref23m-L7=0.799820,real:smollm2-L1=0.649026"
  for round in 1 2; do
    vs="1 4"; [ $round = 2 ] && vs="4 1"
    for v in $vs; do
      GHOSTKV_PREP_ROWS=$v abrun $b "${ab[@]}" --name "ab$round-r$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2 --extra "$real" --breakdown
      if [ "$ngpu" -ge 2 ] || [ $round = 1 ]; then
        GHOSTKV_PREP_ROWS=$v abrun $b "${ab[@]}" --name "ab$round-r$v-1x128K-b4" --bits 4 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2 --extra "$real"
      fi
    done
  done
  for v in 1 4; do
    GHOSTKV_PREP_ROWS=$v abrun $b "${ab[@]}" --name "ab1-r$v-1x128K-lowrank-anc" --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --breakdown
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
if [ "$ngpu" -ge 2 ]; then wait $spid; else side 0 > /tmp/o/rc1.txt 2>&1; fi
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt | grep -v "^real:\|^certified" 
grep "^# breakdown" /tmp/o/ab/ab_log.txt | grep "forced:0.05" 
cat /tmp/o/rc1.txt
grep -E 'FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -8
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san1/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call48.tar.xz" .
ls -la "$out"
