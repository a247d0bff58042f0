#!/usr/bin/env bash
# The quant scan's page order, A/B in one call: GHOSTKV_SCAN_DYN (pages after the first from the KV head's counter)
# and GHOSTKV_SCAN_MIX (a KV head's blocks interleaved with the other heads'), configurations 00 10 01 11 twice, on
# 1 × 128K int8 (5%, 20%), int4 (5%) and int4 with anchors (20%), then 32 × 32K int8 5% (one block per KV head: only
# DYN applies) 0 1 0 1. One H200; everything under $OUT as written; a watchdog tars it at 520 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 520; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call68_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  b=.gpu_carry/ghostkv_gpu_bench
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  abrun() { [ $(( $(date +%s) - t0 )) -lt 480 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 80 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense" | cut -c1-200; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  one=(--batch 1 --n 131072 --reps 30 --check-batches 1)
  for cfg in 00 10 01 11 00 10 01 11; do
    export GHOSTKV_SCAN_DYN=${cfg:0:1} GHOSTKV_SCAN_MIX=${cfg:1:1}
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b8" "${one[@]}" --fracs 0.05,0.2
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b4-anc" --bits 4 --anchors "${one[@]}" --fracs 0.2
  done
  for cfg in 00 10 00 10; do
    export GHOSTKV_SCAN_DYN=${cfg:0:1} GHOSTKV_SCAN_MIX=${cfg:1:1}
    abrun $b "${ab[@]}" --name "dm$cfg-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05
  done
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
cat "$O/ab/stdout.txt" | cut -c1-160 | tail -90
tar -C "$O" -cJf "$O/call68.tar.xz" ab && rm -rf "$O/ab" "$O/call68_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
