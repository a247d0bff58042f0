#!/usr/bin/env bash
# The full run's first half for the tree of compact's batches of 2 at 8 blocks per SM (call147, 55e9daa and after):
# every check row (gpu_bench.sh quick) into $OUT/quick; compute-sanitizer's four tools on the small rows that run the
# batched compact with G 4, G 3, anchors and the ready list (rand8, g3-d64-4, anc8-far-b3, anc4-far-ready); then
# Nsight Compute's full set on the compact kernel and the int8 scan (1 x 128K at 5%). One H200; at most 8 files come
# back from a call, so the ncu reports are tarred (ncu.tar.xz) beside sanitize.tar.xz and the quick run's CSV and log.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
cuobjdump -res-usage .gpu_carry/ghostkv_gpu_bench 2>/dev/null | grep -A1 "compact_kernel" | grep -oE "REG:[0-9]+ STACK:[0-9]+" | sort | uniq -c
mkdir -p "$OUT/quick" /tmp/san "$OUT/ncu"
OUT="$OUT/quick" timeout -k 10 280 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$OUT/quick/log.txt"), passed: $(grep -c 'all checks passed' "$OUT/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$OUT/quick/log.txt" | head -10
GHOSTKV_SMALL_ROWS="rand8 g3-d64-4 anc8-far-b3 anc4-far-ready" GHOSTKV_SANITIZE_BUDGET_S=150 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 165 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$OUT/sanitize.tar.xz" san
export CUDA_VISIBLE_DEVICES=0
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
b=.gpu_carry/ghostkv_gpu_bench
cm="$(cat .gpu_carry/COMMIT)"
prof() {  # kernel, tag, bench options
  local k=$1 tag=$2; shift 2
  [ $(( $(date +%s) - t0 )) -lt 460 ] || { echo "skipped (time): ncu $k"; return 0; }
  timeout 100 "$ncu_bin" --clock-control none -k "regex:$k" -c 1 --set full --import-source no -o "/tmp/ncu_$k" "$b" --name ncu "$@" \
    > "$OUT/ncu/run_$k.txt" 2>&1
  echo "ncu $k rc=$? $(( $(date +%s) - t0 )) s"
  "$ncu_bin" --import "/tmp/ncu_$k.ncu-rep" > "$OUT/ncu/ncu_${k}_${cm}_${tag}.txt" 2>&1
  "$ncu_bin" --import "/tmp/ncu_$k.ncu-rep" --page source --print-source sass --csv 2>/dev/null | xz > "$OUT/ncu/ncu_${k}_${cm}_${tag}_source.csv.xz"
  rm -f "/tmp/ncu_$k.ncu-rep"
  grep -E "$k|Duration|Registers Per|Achieved Occupancy|DRAM Throughput|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|Block Limit" "$OUT/ncu/ncu_${k}_${cm}_${tag}.txt" | head -14
}
prof compact_kernel 1x128K_8_5 --batch 1 --n 131072 --profile 0.05
prof scan_kernel 1x128K_8_5 --batch 1 --n 131072 --profile 0.05

tar -C "$OUT" -cJf "$OUT/ncu.tar.xz" ncu && rm -rf "$OUT/ncu"
echo "total $(( $(date +%s) - t0 )) s"
