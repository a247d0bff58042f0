#!/usr/bin/env bash
# initcheck over the 14 small rows with 11dc7a9's binary (bounds poisoned by the bench, compact's first segment
# fixed); then Nsight Compute's full set on the moonshot configuration's low-rank scan and low-rank anchor stage
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
GHOSTKV_SANITIZE_TOOLS=initcheck GHOSTKV_SANITIZE_BUDGET_S=330 GHOSTKV_SANITIZE_ROW_S=200 OUT="$OUT" bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1
echo "sanitize rc=$?"
grep -E "^sanitize|ERROR SUMMARY|skipped|FAILED" "$OUT/sanitize_initcheck.txt" | sort | uniq -c
grep -E "Uninitialized|^=========     at" "$OUT/sanitize_initcheck.txt" | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
for k in lowrank_page_kernel lowrank_anchor_kernel; do
  timeout 120 "$ncu_bin" --clock-control none -k "regex:$k" --set full "$b" --name ncu --bits lowrank --anchors --batch 32 --n 32768 \
    --distinct 4 --profile 0.05 > "$OUT/ncu_${k}_32x32K_5.txt" 2>&1
  echo "ncu $k rc=$?"
  grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|DRAM Throughput|Issue Slots Busy|No Eligible|Memory Throughput|Executed Ipc A|Warp Cycles Per Issued" "$OUT/ncu_${k}_32x32K_5.txt" | head -14
done
