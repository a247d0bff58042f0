#!/usr/bin/env bash
# The split count from the KV heads' spread (decode.h splits_for_rows: eight waves, 12 splits at 32 × 32K, where the
# most survivor rows of a KV head reach 1.15 × the mean), on one H200 with the tree's binary: the captures' certified
# 8-bit rows; 32 × 32K int8 with the rule (auto) against --splits 3 (the rule before) on forced 5/20%, the captures'
# mean and per-head fractions, both orders; int4, mixed and low-rank per-head rows with the rule; then every check row
# (gpu_bench.sh quick) in the time left. Everything under $OUT as written; a watchdog tars it at 520 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab" "$O/quick"
( sleep 520; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call60_watchdog.tar.xz" ab quick; rm -rf "$O/ab" "$O/quick" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  abrun() { [ $(( $(date +%s) - t0 )) -lt 200 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 "$tl" "$@" 2>&1 | grep -E "^forced|^certified|^real|checks|FAIL|rror|^# dense" | cut -c1-200 | tail -40; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  tl=60
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      abrun $b --device "$dev" --commit "$cm" --csv "$O/ab/caps.csv" --mode capture --capture "$cap" --layer "$l" --bits 8 \
        --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-b8"
    done
  done
  mean="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('$O/ab/caps.csv')) if r['label'] == 'certified']
print(','.join('real:%s=%s' % (r['case'][:-3], r['surv_frac']) for r in rows))")"
  heads="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('$O/ab/caps.csv')) if r['label'] == 'certified']
print(','.join('real-heads:%s=%s' % (r['case'][:-3], r['head_fracs']) for r in rows))")"
  echo "mean: $mean"; echo "heads: $heads"
  tl=90
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1)
  abrun $b "${ab[@]}" --name "auto1-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  abrun $b "${ab[@]}" --name "s3-1-32x32K-b8" "${big[@]}" --splits 3 --fracs 0.2 --extra "$mean,$heads"
  abrun $b "${ab[@]}" --name "s3-2-32x32K-b8" "${big[@]}" --splits 3 --fracs 0.2 --extra "$mean,$heads"
  abrun $b "${ab[@]}" --name "auto2-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  for w in 4 mixed lowrank; do
    abrun $b "${ab[@]}" --name "auto-32x32K-$w" --bits $w "${big[@]}" --fracs 0.2 --extra "$heads"
  done
  echo "ab done $(date +%T) $(( $(date +%s) - t0 )) s"
) > "$O/ab/stdout.txt" 2>&1
left=$(( t0 + 505 - $(date +%s) ))
if [ "$left" -gt 60 ]; then
  cp "$O/ab/caps.csv" /tmp/caps_call60.csv
  OUT="$O/quick" timeout -k 10 "$left" bash scripts/gpu_bench.sh quick > "$O/quick/stdout.txt" 2>&1
  echo "quick rc=$? $(( $(date +%s) - t0 )) s"
fi
grep -E "^\+|^forced|^certified|^real|FAIL|rror|done|^# dense|skipped|^rc=" "$O/ab/stdout.txt" | cut -c1-160 | tail -120
grep -h "checks passed\|FAIL\|stopping\|skipped" "$O/quick/stdout.txt" | sort | uniq -c | sort -rn | head -8
kill $wd 2>/dev/null
tar -C "$O" -cJf "$O/call60.tar.xz" ab quick && rm -rf "$O/ab" "$O/quick" "$O/call60_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
