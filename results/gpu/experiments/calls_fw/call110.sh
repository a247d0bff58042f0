#!/usr/bin/env bash
# With bb6e89c: the last part of gpu_bench.sh main that call109 did not reach in its time limit (Nsight Compute DRAM
# bytes with anchors, ncu_anc.csv, and the scan's sections, scan_sections.txt: the same commands as gpu_bench.sh), then
# compute-sanitizer's four tools (gpu_bench.sh sanitize) over the small rows that run the fused low-rank kernel (now 12
# warps). One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p "$OUT/main" "$OUT/san"
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)"
bench=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
export OMP_NUM_THREADS="$(nproc)"
timeout -k 5 120 "$ncu_bin" --clock-control none --csv --page raw \
  --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
  "$bench" --name ncu --bits 4 --anchors --batch 1 --n 131072 --profile 0.05 >"$OUT/main/ncu_anc.csv"
echo "ncu anchors rc=$? $(( $(date +%s) - t0 )) s"
timeout -k 5 120 "$ncu_bin" --clock-control none -k regex:scan_kernel --section WarpStateStats --section MemoryWorkloadAnalysis \
  --section Occupancy "$bench" --name ncu --batch 1 --n 131072 --profile 0.05 >"$OUT/main/scan_sections.txt" 2>&1
echo "ncu sections rc=$? $(( $(date +%s) - t0 )) s"
tail -n 8 "$OUT/main/ncu_anc.csv" | cut -c1-200
GHOSTKV_SMALL_ROWS="lowrank-anc-far-b3 g2-lowrank-anc-far lowrank-anc-far-cutlocal lowrank-anc-far-ppl2" \
  GHOSTKV_SANITIZE_BUDGET_S=120 GHOSTKV_SANITIZE_ROW_S=100 OUT="$OUT/san" \
  timeout -k 5 150 bash scripts/gpu_bench.sh sanitize > "$OUT/san/stdout.txt" 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
tail -12 "$OUT/san/stdout.txt" | cut -c1-200
