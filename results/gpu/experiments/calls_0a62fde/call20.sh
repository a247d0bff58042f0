#!/usr/bin/env bash
# 0a62fde's binary: the new small row lowrank-anc-far-ppl2 (300 × 600 tokens, 8 KV heads: the low-rank anchor stage
# at two pages per lane) checked plainly, its anchor kernel's build named by Nsight Compute, then the four
# compute-sanitizer tools on it (two per GPU), as gpu_bench.sh sanitize runs a row
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call20.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
row=(--bits lowrank --anchors --far-pages 0.5 --batch 300 --n 600 --check-batches 2 --fracs 0.05 --reps 1)
c=(--device "$dev" --commit 0a62fde --name lowrank-anc-far-ppl2)
CUDA_VISIBLE_DEVICES=0 $b "${c[@]}" "${row[@]}" --csv "$out/ppl2.csv" 2>&1 | grep -E 'all checks|FAIL|rror' ; echo "plain rc=${PIPESTATUS[0]}"
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
CUDA_VISIBLE_DEVICES=0 timeout 120 "$ncu_bin" -k regex:lowrank_anchor --metrics launch__grid_size,launch__registers_per_thread $b "${c[@]}" "${row[@]}" --check-only 2>&1 | grep -E 'lowrank_anchor_kernel|grid_size|registers' | sort | uniq -c | head -8
san="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)"
i=0
for tool in memcheck racecheck synccheck initcheck; do
  topts=(); [ "$tool" = racecheck ] || [ "$tool" = synccheck ] && topts=(--num-cuda-barriers 1024)
  ( CUDA_VISIBLE_DEVICES=$((i % 2)) timeout 240 "$san" --tool $tool "${topts[@]}" --error-exitcode 9 --print-limit 30 -- $b "${c[@]}" "${row[@]}" --check-only > "$out/sanitize_${tool}_ppl2.txt" 2>&1; echo "$tool rc=$?" >> "$out/sanitize_${tool}_ppl2.txt" ) &
  i=$((i + 1))
done
wait
for tool in memcheck racecheck synccheck initcheck; do grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY|all checks|rc=' "$out/sanitize_${tool}_ppl2.txt"; done
