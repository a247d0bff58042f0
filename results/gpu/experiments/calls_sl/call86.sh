#!/usr/bin/env bash
# call85 again with the carve-out: the fused low-rank kernel at 1 block per SM (two waves) with the next kernel launched at its start, so that attend's
# blocks for the first wave's KV heads run beside its second wave: 32 × 32K low-rank with anchors at forced 5% and 20%
# (and certified), --breakdown: as now (p0), GHOSTKV_LR_FUSED_SMEM_PAD=24000 (pad), GHOSTKV_LR_FUSED_EARLY=1 (e),
# both (pe), in the order p0 pe pad pe pad p0; the padded kernels at the largest shared-memory carve-out (both, with the pad); every row checked against float64 first. One H200; everything under $OUT as written.
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
  for v in p0 pe pad pe pad p0; do
    ab=(--device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --breakdown)
    bt=32; pad=0; early=0; case $v in pad) pad=24000;; e) early=1;; pe) pad=24000; early=1;; esac
    GHOSTKV_LR_FUSED_EARLY=$early GHOSTKV_LR_FUSED_SMEM_PAD=$pad abrun $b "${ab[@]}" --name "$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch $bt --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05,0.2
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/; gather all rows.*//; s/--device .* --name //' | cut -c1-220 | tail -50
tar -C "$O" -cJf "$O/call86_ab.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
