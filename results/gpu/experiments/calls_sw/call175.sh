#!/usr/bin/env bash
# examples/gpu_decode (ghostkv_gpu_example): a caller's decode step through the C++ API at 32768 and 131072 tokens,
# then compute-sanitizer's memcheck and racecheck at 4096 tokens. One binary (commit in COMMIT); one H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
e=.gpu_carry/ghostkv_gpu_example
(
  for n in 32768 131072; do echo "+ example $n"; timeout -k 5 120 $e $n; echo "rc=$?"; done
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  for tool in memcheck racecheck; do
    echo "+ $tool 4096"; timeout -k 5 150 "$cs" --tool $tool --error-exitcode 9 $e 4096 | tail -4; echo "rc=${PIPESTATUS[0]}"
  done
) > "$OUT/example.txt" 2>&1
cat "$OUT/example.txt" | cut -c1-200
echo "total $(( $(date +%s) - t0 )) s"
