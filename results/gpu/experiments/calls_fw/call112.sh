#!/usr/bin/env bash
# The quant scan at 10 warps per block (96 registers; GHOSTKV_SCAN_WARPS=10, branch next/scan-warps): its checks
# (rand8 with --poison, rand4, 32 x 32K int4 with one check batch), then the A/B in turn, twice, on 1 x 128K int8 and
# int4 (5% and certified). One H200; everything under $OUT as written.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 230 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  abrun env GHOSTKV_SCAN_WARPS=10 $b --device "$dev" --commit "$cm-sw10" --csv "$O/ab/checks.csv" --name sw10-check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
  abrun env GHOSTKV_SCAN_WARPS=10 $b --device "$dev" --commit "$cm-sw10" --csv "$O/ab/checks.csv" --name sw10-check-rand4 --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2
  for rep in 1 2; do
    for sw in 8 10; do
      abrun env GHOSTKV_SCAN_WARPS=$sw $b --device "$dev" --commit "$cm-sw$sw" --csv "$O/ab/ab.csv" --name "sw$sw-1x128K-b8" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
      abrun env GHOSTKV_SCAN_WARPS=$sw $b --device "$dev" --commit "$cm-sw$sw" --csv "$O/ab/ab.csv" --name "sw$sw-1x128K-b4" --bits 4 --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-150 | tail -50
tar -C "$O" -cJf "$O/call112.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
