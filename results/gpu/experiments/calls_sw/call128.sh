#!/usr/bin/env bash
# call126 again with its output kept (call126 left more than 8 files: its CSV and log did not come back): the
# witness-page stream probes (gather_probe modes 5-8, --breakdown) at 1 x 128K int8 / int4 / mixed, 5%, in turn,
# twice, and 32 x 32K int8 once; the streaming-only scan (GHOSTKV_SCAN_DEBUG=20, 16 warps, 100% forced) in the same
# call; then Nsight Compute on the scan as built and streaming-only at a later launch (--launch-skip 20) than
# call125's first one, to see whether ncu's 47-50 us (against the probe's 35 us) is the first launch's.
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
  run() { local bits=$1 batch=$2 n=$3 fr=$4 tag=$5; [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $tag"; return 0; }
    echo "+ $tag bits $bits batch $batch n $n $(date +%T)"
    timeout -k 5 120 $b --device "$dev" --commit "$cm" --csv "$O/probe/probe.csv" --name "$tag-$bits-${batch}x$n" \
      --batch $batch --n $n --bits $bits --reps 20 --check-batches 1 --fracs $fr --breakdown 2>&1
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for rep in 1 2; do
    for bits in 8 4 mixed; do run $bits 1 131072 0.05 probe; done
  done
  run 8 1 131072 1 probe100
  GHOSTKV_SCAN_WARPS=16 GHOSTKV_SCAN_DEBUG=20 run 8 1 131072 1 dbg20
  run 8 32 32768 0.05 probe
) > "$O/probe/stdout.txt" 2>&1
grep -E "^\+|# breakdown|FAIL|passed|rc=|skipped" "$O/probe/stdout.txt" | cut -c1-200 | head -60
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
for spec in built:0 built:20 dbg20:20; do
  tag=${spec%%:*} skip=${spec##*:}; envs=""; [ $tag = dbg20 ] && envs="GHOSTKV_SCAN_DEBUG=20"
  [ $(( $(date +%s) - t0 )) -lt 450 ] || { echo "skipped (time): ncu $spec"; continue; }
  env GHOSTKV_SCAN_WARPS=16 $envs timeout 90 "$ncu_bin" --clock-control none -k "regex:scan_kernel" --launch-skip $skip -c 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats -o /tmp/ncu_$tag$skip \
    "$b" --name ncu --batch 1 --n 131072 --bits 8 --reps 20 --check-batches 1 --fracs 1 > /dev/null 2>&1
  echo "ncu $spec rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import /tmp/ncu_$tag$skip.ncu-rep > "$O/ncu/ncu_scan_${cm}_${tag}_skip$skip.txt" 2>&1
  grep -E "Duration|DRAM Throughput" "$O/ncu/ncu_scan_${cm}_${tag}_skip$skip.txt" | head -3
done
echo "total $(( $(date +%s) - t0 )) s"
