#!/usr/bin/env bash
# The final tree's binaries on a GPU (the cache GTests, memcheck on the refit and append tests, the Python module's
# tests with the GPU and under memcheck), and the first part of SmolLM2-135M-Instruct's GGUF, the binaries and the
# shared libraries kept in /tmp/keep for call202 on the same warm machine (the carry limit takes the GGUF in two
# calls; an ignored folder of the tree does not outlast a call). At the commit in COMMIT; one H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p /tmp/keep && cp .gpu_carry/smol_part00 .gpu_carry/bins.tar.xz .gpu_carry/lib.tar.xz /tmp/keep/ && ls -la /tmp/keep
mkdir -p .gpu_carry/py /tmp/ghostkv_lib /tmp/x
tar -C /tmp/x -xJf .gpu_carry/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
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
  run 90 300 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests --gtest_filter=CudaCache.Refit*:CudaCache.Append*
  run 120 330 python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run 200 360 compute-sanitizer --tool memcheck python3 tests/scripts/test_gpu_python.py .gpu_carry/py
) > "$OUT/tests.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|gpu_python_check|test_gpu_python|rror|skipped" "$OUT/tests.txt" | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s; kept for the next call"
