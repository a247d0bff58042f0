#!/usr/bin/env bash
# The fused low-rank kernel at 1 block per SM (GHOSTKV_LR_FUSED_SMEM_PAD=12000, two waves; the fused and attend kernels
# at the largest shared-memory carve-out) with the next kernel launched at its start (GHOSTKV_LR_FUSED_EARLY=1) and
# attend's 4-warp build (GHOSTKV_ATTEND_WARPS=4: one warp per scheduler beside the fused block's two, where the 6-warp
# build's 168 registers × 2 warps on one scheduler do not fit beside them): 32 × 32K low-rank with anchors at forced 5%
# and 20% (and certified), --breakdown; p0 (as now), p4 (4-warp attend only), pad4 (pad and 4 warps), pe4 (pad, early
# and 4 warps), in the order p0 pe4 pad4 p4 pe4 pad4; every row checked against float64 first. One H200; everything
# under $OUT as written.
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
  for v in p0 pe4 pad4 p4 pe4 pad4; do
    ab=(--device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --breakdown)
    pad=0; early=0; aw=6; case $v in p4) aw=4;; pad4) pad=12000; aw=4;; pe4) pad=12000; early=1; aw=4;; esac
    GHOSTKV_ATTEND_WARPS=$aw GHOSTKV_LR_FUSED_EARLY=$early GHOSTKV_LR_FUSED_SMEM_PAD=$pad abrun $b "${ab[@]}" --name "$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05,0.2
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/; gather all rows.*//; s/--device .* --name //' | cut -c1-220 | tail -50
tar -C "$O" -cJf "$O/call88_ab.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
