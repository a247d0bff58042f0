#!/usr/bin/env bash
# What tells one allocation of an H200 from another (experiments/torch_spread_4b1d068.txt: torch SDPA's time falls into
# two groups 2% apart while the device line reads the same): the device's nvidia-smi -q record without serial numbers
# and UUIDs ($OUT/device.txt, as gpu_bench.sh now writes it) and torch SDPA's time at the two main shapes, twice
# (scripts/gpu_torch_sdpa.py as gpu_bench.sh runs it; $OUT/gpu_torch_{1,2}.csv). One H200; run once per allocation.
# Run from the repository root: OUT=... bash results/gpu/experiments/calls_sw/call151.sh
set -uo pipefail
cd "$(dirname "$0")/../../../.."
t0=$(date +%s)
nvidia-smi -L | sed -E 's/ \(UUID: [^)]*\)//'
nvidia-smi -q 2>/dev/null | grep -viE "serial|uuid|\bpdi\b" > "$OUT/device.txt"
nvidia-smi --query-gpu=name,driver_version,vbios_version,clocks.max.sm,clocks.max.mem,power.limit,power.max_limit,ecc.mode.current,pcie.link.gen.max,pcie.link.width.max,temperature.gpu --format=csv
device="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
for k in 1 2; do
  python3 scripts/gpu_torch_sdpa.py --cases 1x131072,32x32768 --reps 50 --csv "$OUT/gpu_torch_$k.csv" \
    --device-name "$device" --commit "$(cat .gpu_carry/COMMIT 2>/dev/null || echo tree)" 2>&1 | tail -3
done
echo "total $(( $(date +%s) - t0 )) s"
