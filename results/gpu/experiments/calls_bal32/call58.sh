#!/usr/bin/env bash
# bal32 again (call57 returned nothing: every output was under /tmp and the call reached its limit before the tar).
# Everything goes straight under $OUT; a watchdog tars $OUT's folders at 530 s whatever is still running; every
# command runs under timeout -k. GPU 0: the balanced builds' small rows first (--check-only: 16 and 256 KV heads),
# then the captures' certified rows, then a same-call A/B of one binary, auto (the balanced splits where the counts
# call for them) against GHOSTKV_ATTEND_BALANCE=0 (the plain builds; the ready lists at 32 × 32K): 32 × 32K int8 at
# forced 5/20%, the captures' mean and per-head fractions, both orders; 1 × 128K int8 per-head rows both ways; the
# plain build at 6 splits on the per-head rows. GPU 1 (where the machine has two): every check row (gpu_bench.sh quick),
# then memcheck.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab" "$O/quick" "$O/san1"
( sleep 530; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call58_watchdog.tar.xz" ab quick san1 rc1.txt; rm -rf "$O/ab" "$O/quick" "$O/san1" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
ngpu="$(nvidia-smi -L | wc -l)"
(
  [ "$ngpu" -ge 2 ] || { echo "one GPU: no quick run, no sanitizer"; exit 0; }
  CUDA_VISIBLE_DEVICES=1 OUT="$O/quick" timeout -k 10 280 bash scripts/gpu_bench.sh quick > "$O/quick/stdout.txt" 2>&1
  echo "quick rc=$? $(date +%T) $(( $(date +%s) - t0 )) s"
  left=$(( t0 + 500 - $(date +%s) ))
  if [ "$left" -gt 60 ]; then
    GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck" GHOSTKV_SANITIZE_BUDGET_S=$((left - 30)) GHOSTKV_SANITIZE_ROW_S=90 \
      OUT="$O/san1" timeout -k 10 $((left - 10)) bash scripts/gpu_bench.sh sanitize > "$O/san1/stdout.txt" 2>&1
    echo "sanitize1 rc=$? $(date +%T)"
  fi
) > "$O/rc1.txt" 2>&1 &
g1=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  abrun() { [ $(( $(date +%s) - t0 )) -lt 430 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 "$tl" "$@" 2>&1 | grep -E "^forced|^certified|^real|^  heads|checks|FAIL|rror|^# dense|step" | cut -c1-260 | tail -40; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  heads8="heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  tl=60
  abrun $b --device "$dev" --commit "$cm" --name diag-heads8 --batch 2 --n 4160 --fracs 0.05 --extra "$heads8" --check-batches 2 --reps 1 --check-only
  abrun $b --device "$dev" --commit "$cm" --name diag-heads8-b32 --batch 32 --n 2100 --splits 3 --fracs 0.2 --extra "$heads8" --check-batches 2 --reps 1 --check-only
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
  tl=120
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1)
  abrun $b "${ab[@]}" --name "ab1-balauto-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  one=(--batch 1 --n 131072 --reps 20 --check-batches 1)
  abrun $b "${ab[@]}" --name "ab1-balauto-1x128K-b8" "${one[@]}" --fracs 0.05 --extra "$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-1x128K-b8" "${one[@]}" --fracs 0.05 --extra "$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab2-bal0-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  abrun $b "${ab[@]}" --name "ab2-balauto-32x32K-b8" "${big[@]}" --fracs 0.05,0.2 --extra "$mean,$heads"
  GHOSTKV_ATTEND_BALANCE=0 abrun $b "${ab[@]}" --name "ab1-bal0-splits6-32x32K-b8" "${big[@]}" --splits 6 --fracs 0.2 --extra "$heads"
  echo "ab done $(date +%T) $(( $(date +%s) - t0 )) s"
) > "$O/ab/stdout.txt" 2>&1
echo "gpu0 done $(( $(date +%s) - t0 )) s"
while kill -0 $g1 2>/dev/null && [ $(( $(date +%s) - t0 )) -lt 520 ]; do sleep 2; done
cat "$O/rc1.txt"
grep -E "^\+|^forced|^certified|^real|^  heads|FAIL|rror|done|^# dense|skipped|^rc=" "$O/ab/stdout.txt" | cut -c1-220 | tail -150
grep -h "checks passed\|FAIL\|stopping" "$O/quick/stdout.txt" | sort | uniq -c | sort -rn | head -8
grep -h "^sanitize \|FAILED" "$O"/san1/sanitize_*.txt 2>/dev/null
kill $wd 2>/dev/null
tar -C "$O" -cJf "$O/call58.tar.xz" ab quick san1 rc1.txt && rm -rf "$O/ab" "$O/quick" "$O/san1" "$O/rc1.txt" "$O/call58_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
