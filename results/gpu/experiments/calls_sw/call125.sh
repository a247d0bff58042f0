#!/usr/bin/env bash
# Why the int8 quant scan streams at about 2.9 TB/s at 1 x 128K: the scan as built against its diagnostic builds
# (GHOSTKV_SCAN_DEBUG 4: streaming and page prep only; 20: streaming only, no prep, no dot products, no histogram, no
# stores) at 16 and 8 warps (GHOSTKV_SCAN_WARPS), 100% forced (so the output stays exact with the diagnostic bounds),
# --breakdown for the scan kernel's marginal cost; in turn, twice. Then Nsight Compute's SpeedOfLight + memory workload
# on the streaming-only scan at 16 warps and on the scan as built. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/dbg" "$O/ncu"
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  run() { local w=$1 d=$2; [ $(( $(date +%s) - t0 )) -lt 300 ] || { echo "skipped (time): w$w dbg$d"; return 0; }
    echo "+ w$w dbg$d $(date +%T)"
    GHOSTKV_SCAN_WARPS=$w GHOSTKV_SCAN_DEBUG=$d timeout -k 5 90 $b --device "$dev" --commit "$cm-w$w-d$d" --csv "$O/dbg/dbg.csv" \
      --name "1x128K-8-w$w-dbg$d" --batch 1 --n 131072 --bits 8 --reps 20 --check-batches 1 --fracs 1 --breakdown 2>&1
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for rep in 1 2; do
    for w in 16 8; do
      if [ $rep = 1 ]; then ds="0 4 20"; else ds="20 4 0"; fi
      for d in $ds; do run $w $d; done
    done
  done
) > "$O/dbg/stdout.txt" 2>&1
grep -E "^\+|^forced|^dense|scan|FAIL|rc=|skipped" "$O/dbg/stdout.txt" | cut -c1-150 | head -120
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
prof() {  # tag, env, bench options
  local tag=$1 envs=$2; shift 2
  [ $(( $(date +%s) - t0 )) -lt 450 ] || { echo "skipped (time): ncu $tag"; return 0; }
  env $envs timeout 80 "$ncu_bin" --clock-control none -k "regex:scan_kernel" -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section LaunchStats --section Occupancy --section WarpStateStats -o "/tmp/ncu_$tag" "$b" --name ncu "$@" > "$O/ncu/run_$tag.txt" 2>&1
  echo "ncu $tag rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import "/tmp/ncu_$tag.ncu-rep" > "$O/ncu/ncu_scan_${cm}_${tag}.txt" 2>&1
  grep -E "Duration|DRAM Throughput|Memory Throughput|dram__bytes|Issue Slots Busy|No Eligible|Warp Cycles Per Issued" "$O/ncu/ncu_scan_${cm}_${tag}.txt" | head -10
}
prof w16_dbg20 "GHOSTKV_SCAN_WARPS=16 GHOSTKV_SCAN_DEBUG=20" --batch 1 --n 131072 --profile 1
prof w16_dbg0 "GHOSTKV_SCAN_WARPS=16" --batch 1 --n 131072 --profile 1
prof w8_dbg20 "GHOSTKV_SCAN_WARPS=8 GHOSTKV_SCAN_DEBUG=20" --batch 1 --n 131072 --profile 1
echo "total $(( $(date +%s) - t0 )) s"
