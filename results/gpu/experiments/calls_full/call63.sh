#!/usr/bin/env bash
# Every check row (gpu_bench.sh quick) with the tree's binary (the split rule with its low-fraction branch), then,
# in the time left, the spread threshold: 32 × 32K int8 per-head rows at a mean of 50% whose most / mean is
# 1.06-1.20 (one KV head high, or half of them), --splits 3 against --splits 12, ABAB. One H200; everything under
# $OUT as written; a watchdog tars it at 560 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/quick" "$O/ab"
( sleep 560; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call63_watchdog.tar.xz" ab quick; rm -rf "$O/ab" "$O/quick" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
OUT="$O/quick" timeout -k 10 440 bash scripts/gpu_bench.sh quick > "$O/quick/stdout.txt" 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$O/quick/stdout.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  b=.gpu_carry/ghostkv_gpu_bench
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  heads="$(python3 -c "
m = 0.5
out = []
for r in (1.06, 1.10, 1.15, 1.20):
    hi = r * m
    one = [hi] + [(8 * m - hi) / 7] * 7
    half = [hi] * 4 + [(2 - r) * m] * 4
    out.append('one%d=%s' % (round(r * 100), '/'.join('%.4f' % f for f in one)))
    out.append('half%d=%s' % (round(r * 100), '/'.join('%.4f' % f for f in half)))
print(','.join(out))")"
  echo "heads: $heads"
  big=(--batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.5 --extra "$heads")
  for s in 3 12 3 12; do
    [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): splits $s"; continue; }
    echo "+ splits $s $(date +%T)"
    timeout -k 5 60 $b "${ab[@]}" --name "spread-s$s-32x32K-b8" "${big[@]}" --splits $s 2>&1 | grep -E "^forced|^certified|^one|^half|checks|FAIL|rror|^# dense" | cut -c1-200
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
  done
) > "$O/ab/stdout.txt" 2>&1
grep -h "checks passed\|FAIL\|stopping\|skipped\|quick rc" "$O/quick/stdout.txt" | sort | uniq -c | sort -rn | head -8
cat "$O/ab/stdout.txt" | cut -c1-160 | tail -60
kill $wd 2>/dev/null
tar -C "$O" -cJf "$O/call63.tar.xz" ab quick && rm -rf "$O/ab" "$O/quick" "$O/call63_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
