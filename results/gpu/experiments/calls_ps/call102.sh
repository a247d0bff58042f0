#!/usr/bin/env bash
# The fused low-rank kernel as a persistent grid (GHOSTKV_LR_PERSIST=-1: one row per SM, each taking KV heads y, y + 132
# in turn), at 1 block per SM (GHOSTKV_LR_FUSED_SMEM_PAD=12000), letting attend launch at its start
# (GHOSTKV_LR_FUSED_EARLY=1), so that attend's blocks for its first KV heads can run beside its second ones (all of its
# blocks are dispatched at once); attend 4-warp (GHOSTKV_ATTEND_WARPS=4) or 6-warp. 32 x 32K low-rank with anchors at
# forced 5% and 20%, --block-times; every row checked against float64 first. Branch next/persist. One H200.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 420 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|persist|block times"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  run() {  # name persist pad early warps
    abrun env GHOSTKV_LR_PERSIST=$2 GHOSTKV_LR_FUSED_SMEM_PAD=$3 GHOSTKV_LR_FUSED_EARLY=$4 GHOSTKV_ATTEND_WARPS=$5 $b --device "$dev" \
      --commit "$cm-$1" --csv "$O/ab/ab.csv" --block-times "$O/ab/bt_$1.csv" --name "$1-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05,0.2
  }
  run p0 0 0 0 6
  run P4 -1 12000 1 4
  run P6 -1 12000 1 6
  run Pn4 -1 12000 0 4
  run N4 -1 0 1 4
  run p4 0 0 0 4
  run P4 -1 12000 1 4
  run p0 0 0 0 6
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=|persist|block times" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-260 | tail -90
tar -C "$O" -cJf "$O/call102.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
