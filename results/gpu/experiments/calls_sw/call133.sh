#!/usr/bin/env bash
# The quant scan's cut step by step (GHOSTKV_SCAN_DEBUG=32 with the last block's thread 0 timing its head's counts
# summed, θ's bin found, the cut warps' barrier, the fence, the ready-list slot's atomic and the release store), at
# 1 x 128K int8 and int4, 5% forced and certified, with the staged inputs (GHOSTKV_CUT_PRE=1, the default) and without
# (0); every run checks its batch entry against float64. One H200; everything under $OUT.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 150 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for pre in 1 0; do for bits in 8 4; do
    abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_CUT_PRE=$pre $b --device "$dev" --commit "$cm-pre$pre-dbg32" --csv "$O/tl/tl.csv" \
      --name "tl-pre$pre-1x128K-$bits" --batch 1 --n 131072 --bits $bits --reps 30 --check-batches 1 --fracs 0.05 \
      --scan-timeline-csv "$O/tl/timeline.csv"
  done; done
  abrun env GHOSTKV_SCAN_DEBUG=32 $b --device "$dev" --commit "$cm-pre1-dbg32" --csv "$O/tl/tl.csv" \
    --name "tl-pre1-1x128K-8" --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 --scan-timeline-csv "$O/tl/timeline.csv"
) > "$O/tl/stdout.txt" 2>&1
grep -E "^\+|FAIL|rc=|skipped|# scan timeline" "$O/tl/stdout.txt" | sed -E 's/--device .* --name //' | sed -E 's/.*(last blocks)/\1/' | cut -c1-400
echo "checks passed: $(grep -c 'all checks passed' "$O/tl/stdout.txt"), runs: $(grep -c '^+ ' "$O/tl/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
