#!/usr/bin/env bash
# The steal kernel's own loop (call99: +8.3 us at 5%): fixed chunks without the end protocol (GHOSTKV_STEAL_DBG=3) of
# 2 warp tiles (16 rows: warp w's k-th chunk (6k + w)·16) against 8 (64 rows), and attend_kernel, in turn, twice:
# whether the chunks' size (the rows a warp reads together) or the loop itself costs. 32 x 32K low-rank with anchors at
# 1 / 5% and the small even row at 5 / 100%, every row checked against float64 first; fcb9ea2's binary (branch
# next/steal-cost). One H200; everything under $OUT as written.
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
  for rep in 1 2; do
    for v in "0 8" "1 2" "1 8"; do
      set -- $v
      abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=$2 GHOSTKV_STEAL_DBG=3 $b --device "$dev" --commit "$cm-s$1-c$2" --csv "$O/ab/ab.csv" --name "s$1-c$2-even" --batch 4 --n 8256 --reps 10 --check-batches 4 --splits 1 --fracs 0.05,1
      abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=$2 GHOSTKV_STEAL_DBG=3 $b --device "$dev" --commit "$cm-s$1-c$2" --csv "$O/ab/ab.csv" --name "s$1-c$2-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.01,0.05
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -70
tar -C "$O" -cJf "$O/call101.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
