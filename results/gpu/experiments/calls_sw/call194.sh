#!/usr/bin/env bash
# At the commit in COMMIT: compute-sanitizer's racecheck over every small checked row of gpu_bench.sh (call193 ran
# memcheck, synccheck and initcheck), beside gpu_python_check.py --grow at 131072 tokens (int4, 0.9 far: call192's
# run of it stopped at its 100 s limit). One H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p .gpu_carry/py && xz -dc .gpu_carry/libghostkv_gpu.so.xz > .gpu_carry/py/libghostkv_gpu.so && cp python/ghostkv_gpu.py .gpu_carry/py/
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0
echo "commit $(cat .gpu_carry/COMMIT)"
( timeout -k 5 480 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --grow --n 131072 --far 0.9 --bits 4 \
    > "$OUT/grow131072.txt" 2>&1; echo "grow rc=$? $(( $(date +%s) - t0 )) s" >> "$OUT/grow131072.txt" ) &
GHOSTKV_SANITIZE_TOOLS=racecheck GHOSTKV_SANITIZE_BUDGET_S=440 GHOSTKV_SANITIZE_ROW_S=200 OUT="$OUT/san" \
  timeout -k 10 520 bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
wait
grep -h "^sanitize \|skipped\|FAILED" "$OUT"/san/sanitize_racecheck.txt | head
grep -E "grown cache|past the capacity|gpu_python_check|FAIL|grow rc" "$OUT/grow131072.txt" | cut -c1-200
grep -c "FAILED" "$OUT/grow131072.txt"
echo "total $(( $(date +%s) - t0 )) s"
