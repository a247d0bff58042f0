#!/usr/bin/env bash
# The quant scan in one block of 16 warps per SM at 128 registers (GHOSTKV_SCAN_WARPS=16, branch next/scan16 5dd6e13):
# its checks (rand8 with --poison, rand4, mixed), then in turn, twice, at 1 x 128K and 5%: int8 as built (10 warps), at
# 16 and at 8; int4 and mixed as built (8 warps) and at 16. One H200; everything under $OUT as written.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 270 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ck() { abrun env GHOSTKV_SCAN_WARPS=16 $b --device "$dev" --commit "$cm-sw16" --csv "$O/ab/checks.csv" "$@"; }
  ck --name sw16-check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
  ck --name sw16-check-rand4 --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --poison
  ck --name sw16-check-mixed --bits mixed --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05
  ab() { local lbl=$1 tag=$2 nm=$3; shift 3; abrun env $tag $b --device "$dev" --commit "$cm-$lbl" --csv "$O/ab/ab.csv" --name "$nm" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    ab built GHOSTKV_NONE=1 1x128K-b8
    ab sw16 GHOSTKV_SCAN_WARPS=16 1x128K-b8
    ab sw8 GHOSTKV_SCAN_WARPS=8 1x128K-b8
    for o in built:GHOSTKV_NONE=1 sw16:GHOSTKV_SCAN_WARPS=16; do
      ab ${o%%:*} ${o#*:} 1x128K-b4 --bits 4
      ab ${o%%:*} ${o#*:} 1x128K-mixed --bits mixed
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-150 | tail -80
tar -C "$O" -cJf "$O/call117.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
