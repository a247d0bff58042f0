#!/usr/bin/env bash
# bc9f553 (the full run's binary). GPU 1: compute-sanitizer synccheck and initcheck over the 15 small rows (memcheck
# and racecheck ran on this code in call27); GPU 0: Nsight Compute's full set (and the SASS source page) of the fused
# low-rank kernel with its block's compaction, in the moonshot configuration (32 × 32K, 5% forced).
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/o/san /tmp/o/ncu
( GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="synccheck initcheck" GHOSTKV_SANITIZE_BUDGET_S=200 GHOSTKV_SANITIZE_ROW_S=180 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1; echo "sanitize rc=$?" > /tmp/o/san/rc.txt ) &
spid=$!
export CUDA_VISIBLE_DEVICES=0
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
k=lowrank_fused_kernel
timeout 150 "$ncu_bin" --clock-control none -k "regex:$k" -c 1 --set full --import-source no -o "/tmp/o/ncu/$k" "$b" --name ncu --bits lowrank --anchors \
  --batch 32 --n 32768 --distinct 4 --profile 0.05 > "/tmp/o/ncu/run_$k.txt" 2>&1
echo "ncu $k rc=$?"
"$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" > "/tmp/o/ncu/ncu_${k}_32x32K_5.txt" 2>&1
"$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "/tmp/o/ncu/ncu_${k}_32x32K_5_source.csv.xz"
rm -f "/tmp/o/ncu/$k.ncu-rep"
grep -E "lowrank_fused|Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|DRAM Throughput|Issue Slots Busy|No Eligible|Executed Ipc A|Warp Cycles Per Issued|Block Limit Registers" "/tmp/o/ncu/ncu_${k}_32x32K_5.txt" | head -16
wait $spid
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/sanitize_*.txt
tar -C /tmp/o -cJf "$OUT/call28.tar.xz" .
