#!/usr/bin/env bash
# A/B of the token scan's block shapes on the device (GHOSTKV_SCAN_CFG, G 4 / d 128 only), against a
# second bench binary built from an earlier commit ($carry/ghostkv_gpu_bench_old, when present).
# Every row runs the bench's checks first (one batch against float64), so a faster shape that breaks
# a bound shows up as a violation in the CSV. Writes scan_ab.csv and log_ab.txt to $OUT.
#   scripts/gpu_scan_ab.sh "CFGS" "WITNESSES"      e.g. "old 1 2 3 4" "8 4"
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
carry="$root/.gpu_carry"
out="${OUT:-$root/results/gpu/run}"
mkdir -p "$out"
exec > >(tee -a "$out/log_ab.txt") 2>&1
if [ -f "$carry/lib.tar.xz" ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf "$carry/lib.tar.xz"; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:$carry/lib:${LD_LIBRARY_PATH:-}"
cfgs="${1:-old 1 2 3 4}"
wits="${2:-8 4}"
commit="$(cat "$carry/COMMIT" 2>/dev/null || echo unknown)"
device="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
for w in $wits; do
  for shape in "1 131072 20 1" "32 32768 10 4"; do
    set -- $shape
    for cfg in $cfgs; do
      bin="$carry/ghostkv_gpu_bench"; env=(GHOSTKV_SCAN_CFG="$cfg")
      if [ "$cfg" = old ]; then bin="$carry/ghostkv_gpu_bench_old"; env=(); [ -x "$bin" ] || continue; fi
      echo "+ cfg $cfg bits $w batch $1 n $2"
      env "${env[@]}" "$bin" --device "$device" --commit "$commit" --csv "$out/scan_ab.csv" \
        --name "ab-cfg$cfg-$1x$2-b$w" --bits "$w" --batch "$1" --n "$2" --distinct "$4" --reps "$3" \
        --check-batches 1 --fracs 0.05,1 2>&1 | grep -v "^#" | tail -3
    done
  done
done
