#!/usr/bin/env bash
# After 2bedd23: GhostCache::last_step with anchors copies only the token bounds the scan wrote. initcheck and memcheck over
# the cache GTest binary, and over gpu_python_check.py through the Python module (4096 tokens, --grow --anchors, int8 and
# low-rank; and low-rank without anchors). At the commit in COMMIT; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib /tmp/x
tar -C /tmp/x -xJf .gpu_carry/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
cp /tmp/x/bins/libghostkv_gpu.so python/ghostkv_gpu.py .gpu_carry/py/
B=/tmp/x/bins
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" OMP_NUM_THREADS=16 CUDA_VISIBLE_DEVICES=0
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1; shift
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
PC="python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --n 4096 --far 0.9"
(
  run 200 compute-sanitizer --tool initcheck $B/ghostkv_cuda_cache_tests
  run 200 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests
  for t in initcheck memcheck; do
    run 150 compute-sanitizer --tool $t $PC --grow --anchors
    run 150 compute-sanitizer --tool $t $PC --grow --anchors --bits lowrank
    run 150 compute-sanitizer --tool $t $PC --grow --bits lowrank
  done
) > "$OUT/sanitize.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|attended|all checks|rror" "$OUT/sanitize.txt" | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s"
