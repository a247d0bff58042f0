#!/usr/bin/env bash
# call130 again with the parts of each KV head's last scan block recorded (GHOSTKV_SCAN_DEBUG=32: from its last
# warp's page-loop end to its histogram flush's barrier, the done count, the cut and publish), at 1 x 128K int8
# (twice), int4, mixed and int8 with anchors, 5% forced and certified; every run checks its batch entry against
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 300 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  tl() { local lbl=$1 dbg=$2 nm=$3; shift 3; abrun env GHOSTKV_SCAN_DEBUG=$dbg $b --device "$dev" --commit "$cm-$lbl" --csv "$O/tl/tl.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 --scan-timeline "$@"; }
  tl dbg32 32 1x128K-8 --batch 1 --n 131072 --bits 8
  tl dbg32 32 1x128K-4 --batch 1 --n 131072 --bits 4
  tl dbg32 32 1x128K-mixed --batch 1 --n 131072 --bits mixed
  tl dbg32 32 1x128K-anc-8 --batch 1 --n 131072 --bits 8 --anchors
  tl dbg32 32 1x128K-8 --batch 1 --n 131072 --bits 8
) > "$O/tl/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|# scan timeline" "$O/tl/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-700
echo "checks passed: $(grep -c 'all checks passed' "$O/tl/stdout.txt"), runs: $(grep -c '^+ ' "$O/tl/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
