#!/usr/bin/env bash
# Where the quant scan's compaction (GHOSTKV_SCAN_COMPACT=1) spends its time at 1 x 128K: the scan's timeline
# (GHOSTKV_SCAN_DEBUG=32, now with each block's time on seeing its KV head's cut flag and at the end of its compaction)
# at int8 / int4, 5% forced and certified, with the compaction (C) and without (B: compact kernel); then the built
# kernels, B and C in turn at int8 5% and certified with --breakdown, twice. Every run checks its batch entry against
# float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/tl"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 200 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline|# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for cp in 1 0; do for bits in 8 4; do
    abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_SCAN_COMPACT=$cp $b --device "$dev" --commit "$cm-cp$cp-dbg32" --csv "$O/tl/tl.csv" \
      --name "tl-cp$cp-1x128K-$bits" --batch 1 --n 131072 --bits $bits --reps 30 --check-batches 1 --fracs 0.05 \
      --scan-timeline-csv "$O/tl/timeline.csv"
  done; done
  for rep in 1 2; do for cp in 1 0; do
    abrun env GHOSTKV_SCAN_COMPACT=$cp $b --device "$dev" --commit "$cm-cp$cp" --csv "$O/tl/ab.csv" --name "1x128K-8-bd" \
      --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 --breakdown
  done; done
) > "$O/tl/stdout.txt" 2>&1
grep -E "^\+|FAIL|rc=|skipped|# scan timeline|^forced|^certified" "$O/tl/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-700
grep "# breakdown" "$O/tl/stdout.txt" | cut -c1-120
echo "checks passed: $(grep -c 'all checks passed' "$O/tl/stdout.txt"), runs: $(grep -c '^+ ' "$O/tl/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
