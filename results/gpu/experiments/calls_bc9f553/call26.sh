#!/usr/bin/env bash
# Diagnostic: which fields of the fused check differ on check-lowrank-anc-far-cutlocal (G 4, 5% forced), with the
# block's compaction off and on; the same row certified only, and G 2.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call26.txt
xz -dc .gpu_carry/bench_cp.xz > /tmp/b && chmod +x /tmp/b
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
c=(--device "$dev" --commit tree --csv /tmp/diag.csv)
run() { echo "+ $*"; "$@" 2>&1 | grep -E "fused|^forced|^certified|checks|FAIL|rror" | tail -12; }
for cp in 0 1; do
  GHOSTKV_LR_FUSED_COMPACT=$cp GHOSTKV_SCAN_OCC=1 run /tmp/b "${c[@]}" --name diag-cp$cp --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 1 --check-batches 4 --fracs 0.05,0.2
done
GHOSTKV_SCAN_OCC=1 run /tmp/b "${c[@]}" --name diag-nofar --bits lowrank --anchors --batch 17 --n 4160 --reps 1 --check-batches 4 --fracs 0.05
GHOSTKV_SCAN_OCC=1 run /tmp/b "${c[@]}" --name diag-g2 --hq 16 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 1 --check-batches 4 --fracs 0.05
