#!/usr/bin/env bash
# GhostCache's low-rank witness under compute-sanitizer: memcheck and initcheck over the whole cache GTest binary (append,
# refit and anchors with lowrank beside the quantised witnesses). At the commit in COMMIT; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p /tmp/ghostkv_lib /tmp/x
tar -C /tmp/x -xJf .gpu_carry/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
B=/tmp/x/bins
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" OMP_NUM_THREADS=16 CUDA_VISIBLE_DEVICES=0
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1; shift
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run 200 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests
  run 200 compute-sanitizer --tool initcheck $B/ghostkv_cuda_cache_tests
) > "$OUT/sanitize.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|rror" "$OUT/sanitize.txt" | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s"
