#!/usr/bin/env bash
# The split rule with its low-fraction branch (four waves, 6 splits at 32 × 32K, where the KV heads spread, the mean is
# below two waves' rows and the most reach kSplitRows), on one H200 with the tree's binary: the captures' certified
# 8-bit rows; 32 × 32K int8 with the rule (auto) on forced 1/5/20%, the per-head rows and the per-head fractions
# scaled to means of 5% and 10%, against --splits 1 on the low rows, in the order auto, 1, auto. A watchdog tars $OUT
# at 150 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 150; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call62_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  abrun() { [ $(( $(date +%s) - t0 )) -lt 130 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 "$tl" "$@" 2>&1 | grep -E "^forced|^certified|^real|^low|checks|FAIL|rror|^# dense" | cut -c1-200 | tail -40; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  tl=60
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      abrun $b --device "$dev" --commit "$cm" --csv "$O/ab/caps.csv" --mode capture --capture "$cap" --layer "$l" --bits 8 \
        --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-b8"
    done
  done
  heads="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('$O/ab/caps.csv')) if r['label'] == 'certified']
print(','.join('real-heads:%s=%s' % (r['case'][:-3], r['head_fracs']) for r in rows))")"
  low="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('$O/ab/caps.csv')) if r['label'] == 'certified']
out = []
for m in (0.05, 0.10):
    for r in rows:
        f = [float(x) for x in r['head_fracs'].split('/')]
        k = m / (sum(f) / len(f))
        out.append('low%d-heads:%s=%s' % (round(m * 100), r['case'][:-3], '/'.join('%.4f' % min(1.0, x * k) for x in f)))
print(','.join(out))")"
  echo "heads: $heads"; echo "low: $low"
  tl=90
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1)
  abrun $b "${ab[@]}" --name "auto1-32x32K-b8" "${big[@]}" --fracs 0.01,0.05,0.2 --extra "$heads,$low"
  abrun $b "${ab[@]}" --name "s1-32x32K-b8" "${big[@]}" --splits 1 --fracs 0.01,0.05 --extra "$low"
  abrun $b "${ab[@]}" --name "auto2-32x32K-b8" "${big[@]}" --fracs 0.01,0.05,0.2 --extra "$heads,$low"
  echo "ab done $(date +%T) $(( $(date +%s) - t0 )) s"
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|^real|^low|FAIL|rror|done|^# dense|skipped|^rc=" "$O/ab/stdout.txt" | cut -c1-150 | tail -80
kill $wd 2>/dev/null
tar -C "$O" -cJf "$O/call62.tar.xz" ab && rm -rf "$O/ab" "$O/call62_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
