#!/usr/bin/env bash
# The full run's first half for the tree with the split cut's in-scan compaction (batches of 4, the default walk):
# every check row (gpu_bench.sh quick) into $OUT/quick; then Nsight Compute's memory sections on the split cut's scan
# (1 x 128K int8, 5% forced, --cut-split: the kernel that now also compacts) for its DRAM bytes. One H200.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p "$OUT/quick" "$OUT/ncu"
OUT="$OUT/quick" timeout -k 10 330 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$OUT/quick/log.txt"), passed: $(grep -c 'all checks passed' "$OUT/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$OUT/quick/log.txt" | head -10
export CUDA_VISIBLE_DEVICES=0
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
if [ $(( $(date +%s) - t0 )) -lt 330 ]; then
  timeout 90 "$ncu_bin" --clock-control none -k "regex:scan_kernel" -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_bytes.sum,gpu__time_duration.sum \
    "$b" --name ncu --batch 1 --n 131072 --profile 0.05 --cut-split > "$OUT/ncu/ncu_scan_split_1x128K_8_5.txt" 2>&1
  echo "ncu rc=$? $(( $(date +%s) - t0 )) s"
  grep -E "scan_kernel|dram__bytes|lts__t_bytes|gpu__time_duration|Duration|DRAM Throughput" "$OUT/ncu/ncu_scan_split_1x128K_8_5.txt" | head -12
fi
tar -C "$OUT" -cJf "$OUT/ncu.tar.xz" ncu && rm -rf "$OUT/ncu"
echo "total $(( $(date +%s) - t0 )) s"
