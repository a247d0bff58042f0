#!/usr/bin/env bash
# (next session) Where did attend's blocks run? next/block-timeline's binary (fe1206f: --block-times, and eb3ceae's
# GHOSTKV_LR_FUSED_SMEM_PAD / GHOSTKV_LR_FUSED_EARLY): 32 × 32K low-rank with anchors at forced 5%, p0 / pad / pe / e,
# each row's blocks into $OUT/ab/bt.csv and a "# block times" line. One H200; everything under $OUT as written.
# Carry: .gpu_carry/bench.xz (= /work/keep/bench_block_times_fe1206f.xz), lib.tar.xz, COMMIT, this script.
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
  for v in p0 pad pe e; do
    pad=0; early=0; case $v in pad) pad=24000;; pe) pad=24000; early=1;; e) early=1;; esac
    echo "+ $v $(date +%T)"
    GHOSTKV_LR_FUSED_EARLY=$early GHOSTKV_LR_FUSED_SMEM_PAD=$pad timeout -k 5 90 $b --device "$dev" --commit "$cm-$v" \
      --csv "$O/ab/ab.csv" --block-times "$O/ab/bt_$v.csv" --name "$v-32x32K-lowrank-anc" --bits lowrank --anchors \
      --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05 2>&1 | grep -E "^forced|checks|FAIL|rror|block times"
  done
) > "$O/ab/stdout.txt" 2>&1
cat "$O/ab/stdout.txt" | cut -c1-300
tar -C "$O" -cJf "$O/call91_bt.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
