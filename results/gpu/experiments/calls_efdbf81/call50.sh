#!/usr/bin/env bash
# cl2: prep in thread-block clusters of 2 blocks of one KV head sharing the rotation by multicast bulk copies (the
# default now; call49 measured clusters of 4 slower), where prep runs one block per (b, KV head) (32 × 32K); one binary,
# GHOSTKV_PREP_CLUSTER=1 (prep as in 9b575f1) against =2, two rounds and the moonshot row a third time. GPU 0: same-call A/B at 32 × 32K: low-rank with anchors 5% (the moonshot row), int8 5/20%, int4
# with anchors 5%, two rounds in alternating order; then synccheck and initcheck over the small rows (prep-cl2 is new). GPU 1: every check row (gpu_bench.sh quick), then memcheck and racecheck.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call50.txt
xz -dc .gpu_carry/bench_cl.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
ngpu=$(nvidia-smi -L | wc -l)
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/san0 /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 260 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 555 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
  echo "sanitize1 rc=$? $(date +%T)"
) > /tmp/o/rc1.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | sed 's/; gather.*//' | tail -16; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1)
  for round in 1 2; do
    vs="1 2"; [ $round = 2 ] && vs="2 1"
    for v in $vs; do
      GHOSTKV_PREP_CLUSTER=$v abrun $b "${ab[@]}" --name "ab$round-cl$v-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05 --breakdown
      GHOSTKV_PREP_CLUSTER=$v abrun $b "${ab[@]}" --name "ab$round-cl$v-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --breakdown
      GHOSTKV_PREP_CLUSTER=$v abrun $b "${ab[@]}" --name "ab$round-cl$v-32x32K-b4-anc" --bits 4 --anchors "${big[@]}" --fracs 0.05
    done
  done
  GHOSTKV_PREP_CLUSTER=1 abrun $b "${ab[@]}" --name "ab3-cl1-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05 --breakdown
  GHOSTKV_PREP_CLUSTER=2 abrun $b "${ab[@]}" --name "ab3-cl2-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05 --breakdown
  echo "ab done $(date +%T)"
  left=$(( t0 + 555 - $(date +%s) ))
  if [ $left -gt 60 ]; then
    GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=100 OUT=/tmp/o/san0 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san0/stdout.txt 2>&1
    echo "sanitize0 rc=$? $(date +%T)"
  fi
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt | grep -v "^certified"
grep "^# breakdown" /tmp/o/ab/ab_log.txt | grep "forced:0.05"
cat /tmp/o/rc1.txt
grep -E 'FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -8
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san*/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call50.tar.xz" .
ls -la "$out"
