#!/usr/bin/env bash
# The split count at 32 × 32K with the heads' own survivor fractions (call58: 6 splits per KV head beat 3 on every
# per-head row, by 19-47 µs of stage 2). One H200, the tree's binary (eec1a65's kernels): the captures' certified 8-bit
# rows, then 32 × 32K int8 with --splits 3, 4, 6, 8, 12 (the plain builds, the ready lists), each on forced 20%, the
# captures' mean and per-head fractions; then 3 and 6 again (the order's effect); int4 per-head rows at 3 and 6.
# Everything under $OUT as written; a watchdog tars it at 400 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 400; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call59_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 "$tl" "$@" 2>&1 | grep -E "^forced|^certified|^real|checks|FAIL|rror|^# dense" | cut -c1-200 | tail -40; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
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
  for s in 3 4 6 8 12 6 3; do
    abrun $b "${ab[@]}" --name "s$s-32x32K-b8" "${big[@]}" --splits $s --fracs 0.2 --extra "$mean,$heads"
  done
  for s in 3 6; do
    abrun $b "${ab[@]}" --name "s$s-32x32K-b4" --bits 4 "${big[@]}" --splits $s --fracs 0.2 --extra "$heads"
  done
  echo "ab done $(date +%T) $(( $(date +%s) - t0 )) s"
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|^real|FAIL|rror|done|^# dense|skipped|^rc=" "$O/ab/stdout.txt" | cut -c1-160 | tail -150
kill $wd 2>/dev/null
tar -C "$O" -cJf "$O/call59.tar.xz" ab && rm -rf "$O/ab" "$O/call59_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
