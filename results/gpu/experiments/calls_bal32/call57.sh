#!/usr/bin/env bash
# bal32: balanced splits past 32 KV heads (several counts per lane; at 32 × 32K the balanced attend waits for compact
# instead of taking the ready lists) and τ, the least tiles per block that fits the grid (decode.h), on the tree's binary.
# GPU 0: the captures' certified 8-bit rows (their mean and per-head fractions), then a same-call A/B of one binary,
# GHOSTKV_ATTEND_BALANCE unset (auto: from each row's counts) against =0 (the plain builds, the ready lists at 32 × 32K):
# 32 × 32K int8 forced 5/20%, the captures' mean and per-head fractions, two rounds in alternating order; int4 per-head
# once each way; the plain build at 6 splits (--splits 6) on the per-head rows; 1 × 128K int8 per-head rows both ways;
# then synccheck and initcheck over the small rows. GPU 1: every check row (gpu_bench.sh quick), then memcheck and
# racecheck.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call57.txt
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/san0 /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 300 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 560 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
  echo "sanitize1 rc=$? $(date +%T)"
) > /tmp/o/rc1.txt 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv /tmp/o/ab/ab.csv)
  abrun() { [ $(( $(date +%s) - t0 )) -lt 380 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout 150 "$@" 2>&1 | grep -E "^forced|^certified|^real|^  heads|checks|FAIL|rror|^# dense" | cut -c1-260 | tail -40; }
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      abrun $b --device "$dev" --commit tree --csv /tmp/o/ab/caps.csv --mode capture --capture "$cap" --layer "$l" --bits 8 \
        --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-b8"
    done
  done
  mean="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('/tmp/o/ab/caps.csv')) if r['label'] == 'certified']
print(','.join('real:%s=%s' % (r['case'][:-3], r['surv_frac']) for r in rows))")"
  heads="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('/tmp/o/ab/caps.csv')) if r['label'] == 'certified']
print(','.join('real-heads:%s=%s' % (r['case'][:-3], r['head_fracs']) for r in rows))")"
  echo "mean: $mean"; echo "heads: $heads"
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1)
  for round in 1 2; do
    vs="auto 0"; [ $round = 2 ] && vs="0 auto"
    for v in $vs; do
      if [ $v = 0 ]; then e=(env GHOSTKV_ATTEND_BALANCE=0); else e=(env); fi
      abrun "${e[@]}" $b "${ab[@]}" --name "ab$round-bal$v-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
    done
  done
  abrun $b "${ab[@]}" --name "ab1-balauto-32x32K-b4" --bits 4 "${big[@]}" --fracs 0.2 --extra "$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-32x32K-b4" --bits 4 "${big[@]}" --fracs 0.2 --extra "$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-splits6-32x32K-b8" "${big[@]}" --splits 6 --fracs 0.2 --extra "$heads"
  one=(--batch 1 --n 131072 --reps 20 --check-batches 1)
  abrun $b "${ab[@]}" --name "ab1-balauto-1x128K-b8" "${one[@]}" --fracs 0.05 --extra "$mean,$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-1x128K-b8" "${one[@]}" --fracs 0.05 --extra "$mean,$heads"
  echo "ab done $(date +%T) $(( $(date +%s) - t0 )) s"
  left=$(( t0 + 560 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san0 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san0/stdout.txt 2>&1
  echo "sanitize0 rc=$? $(date +%T)"
) > /tmp/o/ab/stdout.txt 2>&1
wait
cat /tmp/o/rc1.txt
grep -E "^\+|^forced|^certified|^real|^  heads|FAIL|rror|done|^# dense|skipped" /tmp/o/ab/stdout.txt | cut -c1-200 | tail -120
grep -h "checks passed\|FAIL\|stopping" /tmp/o/quick/stdout.txt | sort | uniq -c | sort -rn | head -5
grep -h "^sanitize \|FAILED" /tmp/o/san*/sanitize_*.txt
tar -C /tmp/o -cJf "$OUT/call57.tar.xz" .
echo "total $(( $(date +%s) - t0 )) s"
