#!/usr/bin/env bash
# compute-sanitizer's racecheck over the five small rows its run at 340297c left out for time (splits98, prep-cl2,
# heads8, heads8-b4, heads8-splits98), racecheck alone on the one H200, with 2e38139's binary (340297c's kernels but
# for gather_probe, which --check-only does not run); sanitize_racecheck.txt under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
GHOSTKV_SANITIZE_TOOLS=racecheck GHOSTKV_SMALL_ROWS="splits98 prep-cl2 heads8 heads8-b4 heads8-splits98" \
  GHOSTKV_SANITIZE_BUDGET_S=420 GHOSTKV_SANITIZE_ROW_S=400 OUT="$OUT" timeout -k 10 520 bash scripts/gpu_bench.sh sanitize > "$OUT/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -12 "$OUT/stdout.txt" | cut -c1-200
