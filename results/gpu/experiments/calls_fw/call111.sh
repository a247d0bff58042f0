#!/usr/bin/env bash
# racecheck alone (gpu_bench.sh sanitize, GHOSTKV_SANITIZE_TOOLS=racecheck) on the one row that call110's racecheck
# stopped at its 100 s per-row limit (lowrank-anc-far-ppl2: batch 300, the fused low-rank kernel at 12 warps), with a
# 400 s limit. bb6e89c; sanitize_racecheck.txt under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
GHOSTKV_SMALL_ROWS="lowrank-anc-far-ppl2" GHOSTKV_SANITIZE_TOOLS=racecheck \
  GHOSTKV_SANITIZE_BUDGET_S=400 GHOSTKV_SANITIZE_ROW_S=400 OUT="$OUT" \
  timeout -k 5 440 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -8 "$OUT/stdout.txt" | cut -c1-200
