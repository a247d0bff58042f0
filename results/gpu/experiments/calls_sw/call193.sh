#!/usr/bin/env bash
# At the commit in COMMIT: the cache tests on a GPU (CudaCache.*, the append test among them; then the append test
# under compute-sanitizer memcheck), and every small checked row of gpu_bench.sh under compute-sanitizer's memcheck,
# synccheck and initcheck: the bench's check that every certificate field is written (7f2f12b) on every witness path,
# and the split rows under the tools with f5798de's kernels. One H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/cache_tests.xz > .gpu_carry/cache_tests && chmod +x .gpu_carry/cache_tests
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT)"
run() { local lim=$1 until=$2; shift 2
        [ $(( $(date +%s) - t0 )) -lt "$until" ] || { echo "skipped (time): $*"; return 0; }
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run 120 200 .gpu_carry/cache_tests
  run 150 250 compute-sanitizer --tool memcheck .gpu_carry/cache_tests --gtest_filter='CudaCache.Append*'
) > "$OUT/cache_tests.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|PASSED|SKIPPED|ERROR SUMMARY|rror" "$OUT/cache_tests.txt" | cut -c1-200
left=$(( 560 - ($(date +%s) - t0) ))
GHOSTKV_SANITIZE_TOOLS="memcheck synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=$(( left > 60 ? left - 40 : 20 )) \
  GHOSTKV_SANITIZE_ROW_S=120 OUT="$OUT/san" timeout -k 10 $(( left > 30 ? left : 30 )) bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize \|FAILED\|skipped" "$OUT"/san/sanitize_*.txt | sort | uniq -c | head -20
grep -h "all checks passed\|FAILED\|certificate" "$OUT"/san/sanitize_memcheck.txt | sort | uniq -c | head -10
echo "total $(( $(date +%s) - t0 )) s"
