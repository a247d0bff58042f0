#!/usr/bin/env bash
# racecheck and synccheck with 468fea7's binary (the published run's) over the 16 small rows (one H200).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call45.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
mkdir -p /tmp/o/san
GHOSTKV_SANITIZE_GPUS=0 GHOSTKV_SANITIZE_TOOLS="racecheck synccheck" GHOSTKV_SANITIZE_BUDGET_S=280 GHOSTKV_SANITIZE_ROW_S=200 OUT=/tmp/o/san timeout 300 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
echo "sanitize rc=$?"
grep -h "^sanitize " /tmp/o/san/sanitize_*.txt
cp /tmp/o/san/sanitize_*.txt "$out/"
