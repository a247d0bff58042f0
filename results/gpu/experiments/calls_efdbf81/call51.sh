#!/usr/bin/env bash
# Run-to-run spread of the rows within a percent of a target in efdbf81's full run (one H200 alone, the full run's binary
# and options, fracs cut to the row in question): 32 × 32K int4 with anchors and low-rank with anchors at 5% (stage 2
# 1.300× / 1.311× of its floor there), 1 × 128K int8 at ref23m layer 4's fraction (stage 2 1.302×); rounds until the
# time runs out.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call51.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
t0=$(date +%s)
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit efdbf81 --csv "$out/spread.csv")
big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05)
r() { [ $(( $(date +%s) - t0 )) -lt 165 ] || return 0; echo "+ $* $(date +%T)"; timeout 60 "$@" 2>&1 | grep -E "^forced|^certified|^real|checks|FAIL|rror"; }
for round in 1 2 3; do
  r $b "${ab[@]}" --name "s$round-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}"
  r $b "${ab[@]}" --name "s$round-32x32K-b4-anc" --bits 4 --anchors "${big[@]}"
  r $b "${ab[@]}" --name "s$round-1x128K-b8" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.2 --extra real:ref23m-L4=0.303112
done
echo "done $(date +%T)"
