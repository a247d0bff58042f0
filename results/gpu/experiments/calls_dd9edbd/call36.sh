#!/usr/bin/env bash
# dd9edbd (the full run's binary): Nsight Compute's full set of attend (the survivors' one-split build, per-warp
# pipelines) at the moonshot's configuration (low-rank with anchors, 5%) and at int8 without anchors (5%).
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_wp && chmod +x /tmp/b_wp
mkdir -p /tmp/o/ncu
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
for c in "lranc:--bits lowrank --anchors" "b8:"; do
  v="${c%%:*}"; opts=(${c#*:})
  timeout 120 "$ncu_bin" --clock-control none -k "regex:attend_kernel" -c 1 --set full --import-source no -o "/tmp/o/ncu/$v" /tmp/b_wp --name ncu "${opts[@]}" \
    --batch 32 --n 32768 --distinct 4 --splits 1 --profile 0.05 > "/tmp/o/ncu/run_$v.txt" 2>&1
  echo "ncu $v rc=$?"
  "$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" > "$OUT/ncu_attend_dd9edbd_${v}_32x32K_5.txt" 2>&1
  "$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "$OUT/ncu_attend_dd9edbd_${v}_32x32K_5_source.csv.xz"
  grep -E "attend_kernel|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|No Eligible|Executed Ipc A|Warp Cycles Per Issued" "$OUT/ncu_attend_dd9edbd_${v}_32x32K_5.txt" | head -12
done
