#!/usr/bin/env bash
# One H200 alone, da3b233's binary (call54's): the captures' certified 8-bit rows (their per-head fractions), then
# 32 × 32K int8 at the captures' mean and per-head fractions (B·Hkv 256: no balanced splits there; the cost of the
# per-head spread as it is), then 1 × 128K int8 per-head rows with the balanced splits (auto) and without (0).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call55.txt
xz -dc .gpu_carry/bench_bal3.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
t0=$(date +%s)
mkdir -p /tmp/o
export OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit da3b233 --csv /tmp/o/rows.csv)
abrun() { [ $(( $(date +%s) - t0 )) -lt 250 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^forced|^certified|^real|^  heads|checks|FAIL|rror" | cut -c1-230 | tail -30; }
for cap in .gpu_carry/captures/*; do
  for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
    abrun $b --device "$dev" --commit da3b233 --csv /tmp/o/caps.csv --mode capture --capture "$cap" --layer "$l" --bits 8 \
      --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-b8"
  done
done
mean="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('/tmp/o/caps.csv')) if r['label'] == 'certified']
print(','.join('real:%s=%s' % (r['case'][:-3], r['surv_frac']) for r in rows))")"
heads="$(python3 -c "
import csv
rows = [r for r in csv.DictReader(open('/tmp/o/caps.csv')) if r['label'] == 'certified']
print(','.join('real-heads:%s=%s' % (r['case'][:-3], r['head_fracs']) for r in rows))")"
abrun $b "${ab[@]}" --name "32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.2 --extra "$mean,$heads"
abrun $b "${ab[@]}" --name "auto-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --extra "$heads"
abrun $b "${ab[@]}" --name "b0-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --extra "$heads" --balance 0
echo "done $(date +%T) $(( $(date +%s) - t0 )) s"
cp /tmp/o/*.csv "$out/"
