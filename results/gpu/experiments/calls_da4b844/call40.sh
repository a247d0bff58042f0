#!/usr/bin/env bash
# dd9edbd (the published run's binary): Nsight Compute's full set of stage 2 at 1 × 128K, int8, 5% forced, the
# default 49 splits: the survivors' attend (4-warp multi-split build) and merge, for where attend's time over the
# bare gather of its rows goes (round of da4b844's tree: attend 19.7-20.1 µs, gather 13.0-13.4, merge 4.5-5).
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
mkdir -p /tmp/o/ncu
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
v=b8_1x128K_5
timeout 200 "$ncu_bin" --clock-control none -k "regex:attend_kernel|merge_kernel" -c 2 --set full --import-source no -o "/tmp/o/ncu/$v" /tmp/b_main --name ncu \
  --batch 1 --n 131072 --profile 0.05 > "/tmp/o/ncu/run_$v.txt" 2>&1
echo "ncu rc=$?"
tail -5 "/tmp/o/ncu/run_$v.txt"
"$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" > "$OUT/ncu_stage2_dd9edbd_$v.txt" 2>&1
"$ncu_bin" --import "/tmp/o/ncu/$v.ncu-rep" --page source --print-source sass --csv -k "regex:attend_kernel" 2>/dev/null | xz > "$OUT/ncu_attend_dd9edbd_${v}_source.csv.xz"
grep -E "attend_kernel|merge_kernel|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|No Eligible|Executed Ipc A|Warp Cycles Per Issued" "$OUT/ncu_stage2_dd9edbd_$v.txt" | head -24
ls -la "$OUT"
