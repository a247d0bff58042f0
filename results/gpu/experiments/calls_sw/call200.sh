#!/usr/bin/env bash
# GhostCache::refit on a GPU: the cache GTests (refit equals the cache built at once, bitwise; the two-GPU test skips on
# one), the Python module's tests (refit, last_step) and under memcheck, and scripts/gpu_capture_grow.py with the refit
# after the last query: ghostkv-ref-23m layers 1, 2, 4, 5, 7 and SmolLM2-135M layers 1, 8, 15, 22, 29 (austen_persuasion),
# int8 and int4. At the commit in COMMIT; one H200; output under $OUT. The tree travels without results/ and
# tests/data (the size limit): nothing here reads them.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib /tmp/x
tar -C /tmp/x -xJf .gpu_carry/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
tar -C /tmp/x -xJf .gpu_carry/captures.tar.xz
cp /tmp/x/bins/libghostkv_gpu.so python/ghostkv_gpu.py .gpu_carry/py/
B=/tmp/x/bins
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1 until=$2; shift 2
        [ $(( $(date +%s) - t0 )) -lt "$until" ] || { echo "skipped (time): $*"; return 0; }
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run 60 300 $B/ghostkv_cuda_cache_tests
  run 90 300 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests --gtest_filter=CudaCache.Refit*
  run 120 330 python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run 200 360 compute-sanitizer --tool memcheck python3 tests/scripts/test_gpu_python.py .gpu_carry/py
) > "$OUT/tests.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|gpu_python_check|test_gpu_python|rror|skipped" "$OUT/tests.txt" | cut -c1-220
R=/tmp/x/captures/ghostkv-ref-23m-austen_persuasion-aff2d7534d28
S=/tmp/x/captures/SmolLM2-135M-Instruct.Q4_1.gguf-austen_persuasion-9e41cd264062
(
  run 150 440 python3 scripts/gpu_capture_grow.py $R --lib-dir .gpu_carry/py
  run 150 460 python3 scripts/gpu_capture_grow.py $R --lib-dir .gpu_carry/py --bits 4
  run 200 500 python3 scripts/gpu_capture_grow.py $S --lib-dir .gpu_carry/py
  run 200 540 python3 scripts/gpu_capture_grow.py $S --lib-dir .gpu_carry/py --bits 4
) > "$OUT/capture_grow.txt" 2>&1
grep -E "^\+|^rc=|gpu_capture_grow|FAIL|rror|skipped" "$OUT/capture_grow.txt" | cut -c1-300
echo "total $(( $(date +%s) - t0 )) s"
