#!/usr/bin/env bash
# 47d4c46 with attend's survivor tiles interleaved over the block's list (row c of tile t = entry c·n_tiles + t;
# ilv). GPU 0: same-call A/B of bc9f553's binary (main; every kernel the same PTX as 47d4c46's) and ilv, two
# rounds: 32 × 32K low-rank with anchors (breakdown), int8; 1 × 128K int8, int4 with anchors. GPU 1: every check
# row with ilv (gpu_bench.sh quick), then Nsight Compute's full set of attend (the survivors' one-split build) at
# the moonshot's configuration for main and ilv.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call31.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_ilv.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
cp .gpu_carry/ghostkv_gpu_bench /tmp/b_ilv
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/ncu /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 230 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  export CUDA_VISIBLE_DEVICES=1
  ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
  k=attend_kernel
  for v in main ilv; do
    timeout 100 "$ncu_bin" --clock-control none -k "regex:$k" -c 1 --set full --import-source no -o "/tmp/o/ncu/$v" /tmp/b_$v --name ncu --bits lowrank --anchors \
      --batch 32 --n 32768 --distinct 4 --splits 1 --profile 0.05 > "/tmp/o/ncu/run_$v.txt" 2>&1
    echo "ncu $v rc=$? $(date +%T)"
    "$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" > "/tmp/o/ncu/ncu_attend_${v}_32x32K_5.txt" 2>&1
    "$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "/tmp/o/ncu/ncu_attend_${v}_32x32K_5_source.csv.xz"
    rm -f "/tmp/o/ncu/$v.ncu-rep"
    grep -E "attend_kernel|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|No Eligible|Executed Ipc A|Warp Cycles Per Issued" "/tmp/o/ncu/ncu_attend_${v}_32x32K_5.txt" | head -12
  done
) > /tmp/o/ncu/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|^real|checks|FAIL|rror" | tail -14; }
  for round in 1 2; do
    for v in main ilv; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b8" --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-1x128K-b4-anc" --bits 4 --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05,0.2
    done
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=' /tmp/o/quick/log.txt | grep -v "all checks passed" | tail -20
grep -c "all checks passed" /tmp/o/quick/log.txt
cat /tmp/o/ncu/rc.txt
tar -C /tmp/o -cJf "$out/call31.tar.xz" .
ls -la "$out"
