#!/usr/bin/env bash
# The Python module ghostkv_gpu (ctypes over libghostkv_gpu.so, the C interface of GhostCache) on one H200: the host
# test with a GPU present (its refusals, then scripts/gpu_python_check.py on 4096 tokens), then gpu_python_check.py at
# 32768 tokens (int8, half the pages far), 131072 (int4, 0.9 far), G 3 / d 64 (mixed, 20000 tokens) and G 2 (50000,
# 0.3 far). Every head's output against exact attention in float64 within its certificate. Output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib
xz -dc .gpu_carry/libghostkv_gpu.so.xz > .gpu_carry/py/libghostkv_gpu.so && cp python/ghostkv_gpu.py .gpu_carry/py/
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
python3 -c "import sys, numpy; print(sys.version.split()[0], numpy.__version__)"
run() { echo "+ $* $(date +%T)"; timeout -k 5 120 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --n 131072 --far 0.9 --bits 4
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --n 20000 --bits mixed --hq 24 --hkv 8 --d 64
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --n 50000 --far 0.3 --hq 16 --hkv 8
) > "$OUT/python.txt" 2>&1
grep -E "^\+|^rc=|attended|NaN|gpu_python_check|test_gpu_python|FAIL|rror" "$OUT/python.txt" | cut -c1-200
echo "total $(( $(date +%s) - t0 )) s"
