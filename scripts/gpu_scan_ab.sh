#!/usr/bin/env bash
# Same-run A/B of bench binaries on the device: for each witness and main shape, each binary in turn
# ($carry/ghostkv_gpu_bench_LABEL, or $carry/ghostkv_gpu_bench for "new"). Every row runs the bench's
# checks first (one batch against float64), so a faster variant that breaks a bound shows up in the CSV.
# Writes scan_ab.csv and log_ab.txt to $OUT. GHOSTKV_AB_ARGS replaces the fractions and adds options, e.g.
# GHOSTKV_AB_ARGS="--fracs 0.05,0.2 --breakdown" for each kernel's marginal cost (docs/gpu.md).
#   scripts/gpu_scan_ab.sh "LABELS" "WITNESSES"      e.g. "old new" "8 4"
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh" log_ab.txt
labels="${1:-old new}"
wits="${2:-8 4}"
commit="$(cat "$carry/COMMIT" 2>/dev/null || echo unknown)"
device="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
for w in $wits; do
  for shape in "1 131072 20 1" "32 32768 10 4"; do
    set -- $shape
    for label in $labels; do
      bin="$carry/ghostkv_gpu_bench"
      [ "$label" = new ] || bin="$carry/ghostkv_gpu_bench_$label"
      [ -x "$bin" ] || { echo "no $bin"; continue; }
      echo "+ $label bits $w batch $1 n $2"
      "$bin" --device "$device" --commit "$commit" --csv "$out/scan_ab.csv" \
        --name "ab-$label-$1x$2-b$w" --bits "$w" --batch "$1" --n "$2" --distinct "$4" --reps "$3" \
        --check-batches 1 ${GHOSTKV_AB_ARGS:---fracs 0.05,1} 2>&1 | grep -E "^# breakdown|^forced|^certified|checks" | tail -12
    done
  done
done
