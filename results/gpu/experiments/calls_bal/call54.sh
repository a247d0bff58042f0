#!/usr/bin/env bash
# bal3: attend's BAL build with its split in shared memory (no spills); before it, bal2: the balanced splits as builds of their own (attend's and merge's BAL template builds, chosen by
# DecodeParams::balance, which the bench sets from each row's own counts: --balance auto); the plain builds are
# efdbf81's again. GPU 0: the captures' certified 8-bit rows (their per-head fractions), then a same-call A/B at
# 1 × 128K int8: `auto` (the default), efdbf81's binary (the published run's), `--balance 0` on the per-head rows, and
# `--balance 1` on the even rows (the BAL builds where they do not pay), two rounds in alternating order; int4 per-head
# rows auto / 0 twice (efdbf81's binary and 32 × 32K as in call53: not here). GPU 1: every check row (gpu_bench.sh quick), then all four
# compute-sanitizer tools.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call54.txt
xz -dc .gpu_carry/bench_bal3.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/bench_efdbf81.xz > .gpu_carry/bench_old && chmod +x .gpu_carry/bench_old
echo "$(cat .gpu_carry/COMMIT_NEW)" > .gpu_carry/COMMIT
b=.gpu_carry/ghostkv_gpu_bench
o=.gpu_carry/bench_old
nvidia-smi -L
t0=$(date +%s)
date +%T
mkdir -p /tmp/o/quick /tmp/o/san1 /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 280 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  left=$(( t0 + 565 - $(date +%s) ))
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 20)) GHOSTKV_SANITIZE_ROW_S=150 OUT=/tmp/o/san1 timeout $((left - 5)) bash scripts/gpu_bench.sh sanitize > /tmp/o/san1/stdout.txt 2>&1
  echo "sanitize1 rc=$? $(date +%T)"
) > /tmp/o/rc1.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout 150 "$@" 2>&1 | grep -E "^forced|^certified|^real|^  heads|checks|FAIL|rror" | tail -30; }
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
    arms="auto b0 b1"; [ $round = 2 ] && arms="b1 b0 auto"
    for a in $arms; do
      case $a in
        auto) abrun $b "${ab[@]}" --name "ab$round-auto-1x128K-b8" "${one[@]}" --fracs 0.05,0.2 --extra "$mean,$heads" ;;
        b0) abrun $b "${ab[@]}" --name "ab$round-b0-1x128K-b8" "${one[@]}" --fracs 0.05 --extra "$heads" --balance 0 ;;
        b1) abrun $b "${ab[@]}" --name "ab$round-b1-1x128K-b8" "${one[@]}" --fracs 0.05,0.2 --extra "$mean" --balance 1 ;;
      esac
    done
  done
  abrun $b "${ab[@]}" --name "ab1-auto-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads"
  abrun $b "${ab[@]}" --name "ab1-b0-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads" --balance 0
  abrun $b "${ab[@]}" --name "ab2-b0-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads" --balance 0
  abrun $b "${ab[@]}" --name "ab2-auto-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05 --extra "$heads"
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^  heads" /tmp/o/ab/ab_log.txt | grep -v "^certified" | cut -c1-220
cat /tmp/o/rc1.txt
grep -E 'FAILED|stopping|fail=' /tmp/o/quick/log.txt | tail -8
grep -c "balanced splits taken" /tmp/o/quick/log.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san*/*.txt | sort -u
tar -C /tmp/o -cJf "$out/call54.tar.xz" .
ls -la "$out"
