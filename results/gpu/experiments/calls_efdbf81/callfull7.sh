#!/usr/bin/env bash
# The full run of the commit in .gpu_carry/COMMIT (efdbf81) on one H200 with nothing else on its host
# (scripts/gpu_bench.sh full).
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
OUT="$OUT" timeout 578 bash scripts/gpu_bench.sh full
echo "full rc=$?"
