#!/usr/bin/env bash
# What the memory system gives the quant scan's access pattern (gather_probe modes 5-8, --breakdown): the witness
# pages of every KV head read as the 16-warp scan reads them, nothing done on the bytes: 5 codes + meta by two bulk
# copies per page (L2 evict-first, the scan's streaming), 6 codes only, 7 codes + meta by the lanes' __ldcs loads,
# 8 as 5 with evict-normal; beside the scan's own marginal. 1 x 128K int8 / int4 / mixed at 5%, in turn, twice;
# 32 x 32K int8 once. Then Nsight Compute on the four probe kernels at 1 x 128K int8. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/probe" "$O/ncu"
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  run() { local bits=$1 batch=$2 n=$3; [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $bits $batch $n"; return 0; }
    echo "+ probe bits $bits batch $batch n $n $(date +%T)"
    timeout -k 5 120 $b --device "$dev" --commit "$cm" --csv "$O/probe/probe.csv" --name "probe-$bits-${batch}x$n" \
      --batch $batch --n $n --bits $bits --reps 20 --check-batches 1 --fracs 0.05 --breakdown 2>&1
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for rep in 1 2; do
    for bits in 8 4 mixed; do run $bits 1 131072; done
  done
  run 8 32 32768
) > "$O/probe/stdout.txt" 2>&1
grep -E "^\+|# breakdown|FAIL|passed|rc=|skipped" "$O/probe/stdout.txt" | cut -c1-1200 | head -60
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
for v in 5 6 7 8; do
  [ $(( $(date +%s) - t0 )) -lt 480 ] || { echo "skipped (time): ncu $v"; continue; }
  timeout 90 "$ncu_bin" --clock-control none --kernel-name-base demangled -k "regex:codes_stream_probe_kernel<$v>" -c 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy -o /tmp/ncu_probe$v \
    "$b" --name ncu --batch 1 --n 131072 --bits 8 --reps 2 --check-batches 1 --fracs 1 --breakdown > "$O/ncu/run_probe$v.txt" 2>&1
  echo "ncu $v rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import /tmp/ncu_probe$v.ncu-rep > "$O/ncu/ncu_probe${v}_${cm}.txt" 2>&1
  grep -E "Duration|DRAM Throughput|Memory Throughput" "$O/ncu/ncu_probe${v}_${cm}.txt" | head -4
done
echo "total $(( $(date +%s) - t0 )) s"
