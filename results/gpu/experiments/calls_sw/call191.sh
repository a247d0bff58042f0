#!/usr/bin/env bash
# With Certificate free of padding and prep writing its budget and m_L (f5798de; the C API copies the fields one by one):
# the Python module's host test with the GPU, gpu_python_check.py at 32768 tokens
# (int8) and 131072 (int4, 0.9 far), and the example at 32768 tokens (half far, 64 adaptive steps). One H200; output
# under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib
xz -dc .gpu_carry/libghostkv_gpu.so.xz > .gpu_carry/py/libghostkv_gpu.so && cp python/ghostkv_gpu.py .gpu_carry/py/
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
run() { echo "+ $* $(date +%T)"; timeout -k 5 120 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py
  run python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --n 131072 --far 0.9 --bits 4
  run .gpu_carry/ghostkv_gpu_example 32768 0.5 64
) > "$OUT/python.txt" 2>&1
grep -E "^\+|^rc=|attended|NaN|every|adaptive|gpu_python_check|test_gpu_python|FAIL|rror" "$OUT/python.txt" | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s"
