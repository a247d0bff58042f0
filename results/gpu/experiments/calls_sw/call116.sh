#!/usr/bin/env bash
# With bd245e0: the quant scan's grid at 1 x 128K. The 10-warp int8 build holds 121 KB of shared memory, so 1 block per
# SM (16 per KV head) instead of 2 (33): is its gain the grid's? In turn, twice, at 5%: int8 as built (10 warps), at 8
# warps (GHOSTKV_SCAN_WARPS=8) and at 8 warps with 1 block per SM (GHOSTKV_SCAN_OCC=1); int4, mixed and int4 with
# anchors as built and with GHOSTKV_SCAN_OCC=1. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local lbl=$1 tag=$2 nm=$3; shift 3; abrun env $tag $b --device "$dev" --commit "$cm-$lbl" --csv "$O/ab/ab.csv" --name "$nm" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    ab built GHOSTKV_NONE=1 1x128K-b8
    ab sw8 GHOSTKV_SCAN_WARPS=8 1x128K-b8
    ab sw8occ1 "GHOSTKV_SCAN_WARPS=8 GHOSTKV_SCAN_OCC=1" 1x128K-b8
    for o in built:GHOSTKV_NONE=1 occ1:GHOSTKV_SCAN_OCC=1; do
      ab ${o%%:*} ${o#*:} 1x128K-b4 --bits 4
      ab ${o%%:*} ${o#*:} 1x128K-mixed --bits mixed
      ab ${o%%:*} ${o#*:} 1x128K-b4-anc --bits 4 --anchors
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-150 | tail -80
tar -C "$O" -cJf "$O/call116.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
