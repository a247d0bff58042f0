#!/usr/bin/env bash
# attend_steal_kernel's costs taken apart (0bf01fa, branch next/steal-cost): same-call runs, in turn, of attend_kernel
# (GHOSTKV_ATTEND_STEAL=0) and attend_steal_kernel with 8-tile chunks, no joins (GHOSTKV_STEAL_MIN 1e9) and
# GHOSTKV_STEAL_DBG 3 (fixed chunks, no atomic, no end protocol), 1 (fixed chunks, the end protocol), 0 (claims from the
# counter, the end protocol): 32 x 32K low-rank with anchors at 1 / 5% (twice), the small even row at 5 / 100%, every row
# checked against float64 first. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"
mkdir -p "$O/ab"
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 400 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for v in "0 0" "1 3" "1 1" "1 0"; do
    set -- $v
    abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=8 GHOSTKV_STEAL_MIN=1000000000 GHOSTKV_STEAL_DBG=$2 $b --device "$dev" --commit "$cm-s$1-d$2" --csv "$O/ab/ab.csv" --name "s$1-d$2-even" --batch 4 --n 8256 --reps 10 --check-batches 4 --splits 1 --fracs 0.05,1
  done
  for rep in 1 2; do
    for v in "0 0" "1 3" "1 1" "1 0"; do
      set -- $v
      abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=8 GHOSTKV_STEAL_MIN=1000000000 GHOSTKV_STEAL_DBG=$2 $b --device "$dev" --commit "$cm-s$1-d$2" --csv "$O/ab/ab.csv" --name "s$1-d$2-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.01,0.05
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -70
tar -C "$O" -cJf "$O/call99.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
