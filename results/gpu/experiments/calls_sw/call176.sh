#!/usr/bin/env bash
# examples/gpu_decode (ghostkv_gpu_example) with more of the pages far below the queries: 131072 tokens at far shares
# 0.5, 0.9 and 0.97, 32768 tokens at 0.9. One binary (commit in COMMIT); one H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
e=.gpu_carry/ghostkv_gpu_example
(
  for a in "131072 0.5" "131072 0.9" "131072 0.97" "32768 0.9"; do echo "+ example $a"; timeout -k 5 120 $e $a; echo "rc=$?"; done
) > "$OUT/example.txt" 2>&1
grep -E "^\+|^one|attended|every|FAILED|rc=" "$OUT/example.txt"
echo "total $(( $(date +%s) - t0 )) s"
