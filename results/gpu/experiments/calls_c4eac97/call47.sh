#!/usr/bin/env bash
# Where prep's time goes (diagnostics; binary pd: c4eac97's kernels plus prep's DBG builds, GHOSTKV_PREP_DEBUG):
# stage 1's prefixes (--breakdown) at 1 × 128K int8, 32 × 32K low-rank with anchors and 32 × 32K int8, all at 5%,
# with prep as built (0), without the rotation's loads (1), without the hot keys' loads (2), without Z_L's exponentials
# and θ_A (4), without all three (7), then as built again. Rows with a DBG build fail their checks (wrong outputs by
# design). Then Nsight Compute's full set with the SASS source page of prep at 32 × 32K low-rank with anchors.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call47.txt
xz -dc .gpu_carry/bench_pd.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
b=.gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
t0=$(date +%s)
mkdir -p /tmp/o/ab /tmp/o/ncu
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit tree --csv /tmp/o/ab/pd.csv)
abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror" | sed 's/; gather.*//' | tail -8; }
shapes=("1x128K-b8:--batch 1 --n 131072 --reps 20" "32x32K-lranc:--bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10" "32x32K-b8:--batch 32 --n 32768 --distinct 4 --reps 10")
for s in "${shapes[@]}"; do
  name="${s%%:*}"; opts=(${s#*:})
  for dbg in 0 1 2 4 7 0; do
    GHOSTKV_PREP_DEBUG=$dbg abrun $b "${ab[@]}" --name "pd$dbg-$name" "${opts[@]}" --check-batches 1 --fracs 0.05 --breakdown
  done
done
echo "diag done $(date +%T), $(( $(date +%s) - t0 )) s"
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
k=prep_kernel
timeout 150 "$ncu_bin" --clock-control none -k "regex:$k" -c 1 --set full --import-source no -o "/tmp/o/ncu/$k" "$b" --name ncu --bits lowrank --anchors \
  --batch 32 --n 32768 --distinct 4 --profile 0.05 > "/tmp/o/ncu/run_$k.txt" 2>&1
echo "ncu $k rc=$? $(date +%T)"
"$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" > "/tmp/o/ncu/ncu_${k}_32x32K_lranc.txt" 2>&1
"$ncu_bin" --import "/tmp/o/ncu/$k.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "/tmp/o/ncu/ncu_${k}_32x32K_lranc_source.csv.xz"
rm -f "/tmp/o/ncu/$k.ncu-rep"
grep -E "prep_kernel|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|L2 Cache Throughput|Issue Slots Busy|No Eligible|Warp Cycles Per Issued" "/tmp/o/ncu/ncu_${k}_32x32K_lranc.txt" | head -14
tar -C /tmp/o -cJf "$out/call47.tar.xz" .
ls -la "$out"
