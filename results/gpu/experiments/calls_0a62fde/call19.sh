#!/usr/bin/env bash
# 0a62fde (the published run's binary): GPU 1: compute-sanitizer's four tools over the 14 small rows (the
# low-rank anchor stage at one page per lane there); GPU 0: Nsight Compute's full set on the moonshot
# configuration's low-rank anchor stage (two pages per lane) and compact (the list walk)
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/o/san /tmp/o/ncu
( GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_BUDGET_S=240 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1; echo "sanitize rc=$?" > /tmp/o/san/rc.txt ) &
spid=$!
export CUDA_VISIBLE_DEVICES=0
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
for k in lowrank_anchor_kernel compact_kernel; do
  timeout 150 "$ncu_bin" --clock-control none -k "regex:$k" --set full "$b" --name ncu --bits lowrank --anchors --batch 32 --n 32768 \
    --distinct 4 --profile 0.05 > "/tmp/o/ncu/ncu_${k}_32x32K_5.txt" 2>&1
  echo "ncu $k rc=$?"
  grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|DRAM Throughput|Issue Slots Busy|No Eligible|Memory Throughput|Executed Ipc A|Warp Cycles Per Issued|dram__bytes|Block Limit Registers" "/tmp/o/ncu/ncu_${k}_32x32K_5.txt" | head -16
done
wait $spid
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/sanitize_*.txt
tar -C /tmp/o -cJf "$OUT/call19.tar.xz" .
