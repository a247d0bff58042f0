#!/usr/bin/env bash
# bal: attend's balanced splits (the grid's blocks dealt to the KV heads by their survivor counts where the step has
# several splits, no ready lists and B·Hkv ≤ 32; decode.h), per-KV-head forced fractions in the bench (--extra
# NAME=f0/f1/..; real-heads: the captures' own (query, KV head) fractions), on the tree of 000407d + this change.
# GPU 0: the captures' certified 8-bit rows (for their per-head fractions), then a same-call A/B at 1 × 128K int8 of one
# binary, GHOSTKV_ATTEND_BALANCE=1 against =0, on forced 5/20% (even counts: not taken), the captures' mean fractions
# and their per-head fractions, two rounds in alternating order; efdbf81's binary (the published run's) on the forced
# and mean rows at 1 × 128K and 32 × 32K int8 (the code moved in attend); then synccheck and initcheck. GPU 1: every
# check row (gpu_bench.sh quick, the new heads rows among them), then memcheck and racecheck.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call52.txt
xz -dc .gpu_carry/bench_bal.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/bench_efdbf81.xz > .gpu_carry/bench_old && chmod +x .gpu_carry/bench_old
echo "000407d+bal" > .gpu_carry/COMMIT
b=.gpu_carry/ghostkv_gpu_bench
o=.gpu_carry/bench_old
nvidia-smi -L
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/san0 /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 290 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 560 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
  echo "sanitize1 rc=$? $(date +%T)"
) > /tmp/o/rc1.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 150 "$@" 2>&1 | grep -E "^forced|^certified|^real|^  heads|checks|FAIL|rror" | tail -30; }
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
  one=(--batch 1 --n 131072 --reps 20 --check-batches 1)
  for round in 1 2; do
    vs="1 0"; [ $round = 2 ] && vs="0 1"
    for v in $vs; do
      GHOSTKV_ATTEND_BALANCE=$v abrun $b "${ab[@]}" --name "ab$round-bal$v-1x128K-b8" "${one[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
    done
  done
  abrun $o "${ab[@]}" --name "ab1-old-1x128K-b8" "${one[@]}" --fracs 0.05,0.2 --extra "$mean"
  abrun $b "${ab[@]}" --name "ab1-new-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2
  abrun $o "${ab[@]}" --name "ab1-old-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2
  GHOSTKV_ATTEND_BALANCE=1 abrun $b "${ab[@]}" --name "ab1-bal1-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads"
  echo "ab done $(date +%T)"
  left=$(( t0 + 560 - $(date +%s) ))
  if [ $left -gt 60 ]; then
    GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=100 OUT=/tmp/o/san0 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san0/stdout.txt 2>&1
    echo "sanitize0 rc=$? $(date +%T)"
  fi
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^  heads" /tmp/o/ab/ab_log.txt | grep -v "^certified"
grep "^  heads" /tmp/o/ab/ab_log.txt | cut -c1-200 | sort | uniq -c | sort -rn | head -12
cat /tmp/o/rc1.txt
grep -E 'FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -8
grep -c "balanced splits taken" /tmp/o/quick/log.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san*/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call52.tar.xz" .
ls -la "$out"
