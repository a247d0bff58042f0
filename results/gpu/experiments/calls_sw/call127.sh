#!/usr/bin/env bash
# Nsight Compute on the witness-page stream probes (gather_probe modes 5-8; call126's filter matched no kernel): one
# launch each at 1 x 128K int8, and mode 5 at int4, beside call125's scan figures (47.07 us streaming-only, 49.63 as
# built under ncu). One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ncu"
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
for spec in 5:8 6:8 7:8 8:8 5:4; do
  v=${spec%%:*} bits=${spec##*:}
  [ $(( $(date +%s) - t0 )) -lt 400 ] || { echo "skipped (time): ncu $spec"; continue; }
  timeout 90 "$ncu_bin" --clock-control none --kernel-name-base demangled -k "regex:codes_stream_probe_kernel<\(int\)$v>" -c 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy -o /tmp/ncu_probe${v}_b$bits \
    "$b" --name ncu --batch 1 --n 131072 --bits $bits --reps 2 --check-batches 1 --fracs 1 --breakdown > "$O/ncu/run_probe${v}_b$bits.txt" 2>&1
  echo "ncu $spec rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import /tmp/ncu_probe${v}_b$bits.ncu-rep > "$O/ncu/ncu_probe${v}_b${bits}_${cm}.txt" 2>&1
  grep -E "Duration|DRAM Throughput|dram__bytes_read.sum |Grid Size" "$O/ncu/ncu_probe${v}_b${bits}_${cm}.txt" | head -5
done
echo "total $(( $(date +%s) - t0 )) s"
