#!/usr/bin/env bash
# GhostCache grown by appends (CacheOptions::capacity, GhostCache::append) through the Python module, and the GPU path
# inside the CPU engine's decode loop (ghostkv generate --gpu) on ghostkv-ref-23m, at the commit in COMMIT. One H200;
# output under $OUT. The tree travels without results/ and tests/data (the size limit): nothing here reads them.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib /tmp/models
xz -dc .gpu_carry/ghostkv.xz > .gpu_carry/ghostkv && chmod +x .gpu_carry/ghostkv
xz -dc .gpu_carry/libghostkv_gpu.so.xz > .gpu_carry/py/libghostkv_gpu.so && cp python/ghostkv_gpu.py .gpu_carry/py/
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
tar -C /tmp/models -xJf .gpu_carry/ref23m.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1 until=$2; shift 2
        [ $(( $(date +%s) - t0 )) -lt "$until" ] || { echo "skipped (time): $*"; return 0; }
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
P="$(xz -dc .gpu_carry/austen_persuasion.txt.xz | head -c 14000)"
M=/tmp/models/ghostkv-ref-23m
(
  run 120 400 python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run 150 400 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --grow
) > "$OUT/python.txt" 2>&1
grep -E "^\+|^rc=|grown cache|past the capacity|NaN|gpu_python_check|test_gpu_python|FAIL|rror|skipped" "$OUT/python.txt" | cut -c1-220
(
  run 150 430 .gpu_carry/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --compare-dense \
      --stats-csv "$OUT/gpu_decode_b8.csv"
  run 120 480 .gpu_carry/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --bits 4 \
      --compare-dense --stats-csv "$OUT/gpu_decode_b4.csv"
) > "$OUT/generate.txt" 2>&1
grep -E "^\+|^rc=|elimination|dense generation|rror|skipped" "$OUT/generate.txt" | cut -c1-400
(
  run 100 520 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --grow --n 131072 --far 0.9 --bits 4
  run 60 560 compute-sanitizer --tool memcheck python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --grow --n 4096 --far 0.9
) > "$OUT/more.txt" 2>&1
grep -E "^\+|^rc=|grown cache|gpu_python_check|ERROR SUMMARY|FAIL|rror|skipped" "$OUT/more.txt" | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s"
