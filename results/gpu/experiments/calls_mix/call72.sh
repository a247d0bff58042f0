#!/usr/bin/env bash
# compute-sanitizer's four tools (gpu_bench.sh sanitize) over the small checked rows with the full run's binary
# (340297c: the scan's blocks interleaving the KV heads), all four on the one H200 at once; sanitize_TOOL.txt
# under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
GHOSTKV_SANITIZE_BUDGET_S=270 GHOSTKV_SANITIZE_ROW_S=240 OUT="$OUT" timeout -k 10 320 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -12 "$OUT/stdout.txt" | cut -c1-200
