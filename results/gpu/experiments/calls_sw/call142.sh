#!/usr/bin/env bash
# Batched compact's grid and wait at 1 x 128K (the tree's binary, no kernel change): arm A the default (4 blocks per
# SM: 66 blocks per KV head, one batch a warp; compact after the whole scan grid), B GHOSTKV_COMPACT_OCC=2 (33 blocks
# per KV head, two batches a warp: half the count atomics), C GHOSTKV_COMPACT_READY=1 (each KV head compacted as soon
# as its cut is done). int8 at 5% forced and certified in orders A B C then C B A, int4 once. Every timed run checks
# its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
b=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 190 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  arm() { case $1 in A) echo "GHOSTKV_COMPACT_BATCH=1";; B) echo "GHOSTKV_COMPACT_OCC=2";; C) echo "GHOSTKV_COMPACT_READY=1";; esac; }
  ab() { local a=$1 nm=$2; shift 2; abrun env $(arm $a) $b --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for a in A B C C B A; do ab $a 1x128K-8 --batch 1 --n 131072 --bits 8; done
  for a in A B C; do ab $a 1x128K-4 --batch 1 --n 131072 --bits 4; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-300
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
