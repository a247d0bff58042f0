#!/usr/bin/env bash
# Is the fused low-rank kernel bound per block (latency) or per SM (throughput)? 32 × 32K low-rank with anchors at
# forced 5% and 20% (and certified), --breakdown: batch 32 (256 blocks, 2 per SM, one wave) against batch 32 with
# GHOSTKV_LR_FUSED_SMEM_PAD=24000 (1 block per SM, two waves) and batch 16 (128 blocks, 1 per SM, one wave), in the
# order p0 pad b16 b16 pad p0; every row checked against float64 first. One H200; everything under $OUT as written.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense|^# breakdown|fused low-rank"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  b=.gpu_carry/ghostkv_gpu_bench
  for v in p0 pad b16 b16 pad p0; do
    ab=(--device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --breakdown)
    bt=32; pad=0; [ "$v" = b16 ] && bt=16; [ "$v" = pad ] && pad=24000
    GHOSTKV_LR_FUSED_SMEM_PAD=$pad abrun $b "${ab[@]}" --name "$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch $bt --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05,0.2
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/; gather all rows.*//; s/--device .* --name //' | cut -c1-220 | tail -50
tar -C "$O" -cJf "$O/call84_ab.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
