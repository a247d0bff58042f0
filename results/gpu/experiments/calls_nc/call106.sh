#!/usr/bin/env bash
# A current profile for the next round (483a4b2's binary: e743355's kernels): Nsight Compute's full set with the SASS
# source page of the fused low-rank kernel and of attend's one-split build in the moonshot configuration (32 x 32K
# low-rank with anchors, 5% forced). One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p /tmp/o/ncu
export CUDA_VISIBLE_DEVICES=0
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
for k in lowrank_fused_kernel attend_kernel; do
  timeout 200 "$ncu_bin" --clock-control none -k "regex:$k" -c 1 --set full --import-source no -o "/tmp/o/ncu/$k" "$b" --name ncu --bits lowrank --anchors \
    --batch 32 --n 32768 --distinct 4 --profile 0.05 > "/tmp/o/ncu/run_$k.txt" 2>&1
  echo "ncu $k rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" > "/tmp/o/ncu/ncu_${k}_483a4b2_32x32K_lranc_5.txt" 2>&1
  "$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "/tmp/o/ncu/ncu_${k}_483a4b2_32x32K_lranc_5_source.csv.xz"
  rm -f "/tmp/o/ncu/$k.ncu-rep"
  grep -E "$k|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|Issue Slots Busy|No Eligible|Executed Ipc A|Warp Cycles Per Issued" "/tmp/o/ncu/ncu_${k}_483a4b2_32x32K_lranc_5.txt" | head -12
done
tar -C /tmp/o -cJf "$OUT/call106.tar.xz" ncu
echo "total $(( $(date +%s) - t0 )) s"
