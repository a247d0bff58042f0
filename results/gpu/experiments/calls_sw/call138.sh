#!/usr/bin/env bash
# Where compact's time goes at 1 x 128K: compact's timeline (GHOSTKV_COMPACT_TL=1: per block its start, the return of
# its wait, warp 0's first segment's bounds and first survivor-count atomic, the warps' walk ends, the flush, the end)
# beside the scan's (GHOSTKV_SCAN_DEBUG=32) on one clock, int8 / int4 at 5% forced and certified, compact after the
# whole scan grid (the default at 1 x 128K) and from the ready list (GHOSTKV_COMPACT_READY=1); compact's timeline alone
# with the built scan; the same at 32 x 32K; then the built kernels with --breakdown. Every run checks its batch entry
# against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/tl"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 220 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline|# compact timeline|# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for rd in 0 1; do for bits in 8 4; do
    abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_COMPACT_TL=1 GHOSTKV_COMPACT_READY=$rd $b --device "$dev" --commit "$cm-rd$rd-tl" \
      --csv "$O/tl/tl.csv" --name "tl-rd$rd-1x128K-$bits" --batch 1 --n 131072 --bits $bits --reps 30 --check-batches 1 \
      --fracs 0.05 --scan-timeline-csv "$O/tl/scan_timeline.csv" --compact-timeline-csv "$O/tl/compact_timeline.csv"
  done; done
  abrun env GHOSTKV_COMPACT_TL=1 $b --device "$dev" --commit "$cm-tl" --csv "$O/tl/tl.csv" --name "tlc-1x128K-8" \
    --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 --compact-timeline-csv "$O/tl/compact_timeline.csv"
  abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_COMPACT_TL=1 $b --device "$dev" --commit "$cm-tl" --csv "$O/tl/tl.csv" \
    --name "tl-32x32K-8" --batch 32 --n 32768 --bits 8 --reps 20 --check-batches 1 --fracs 0.05 \
    --scan-timeline-csv "$O/tl/scan_timeline.csv" --compact-timeline-csv "$O/tl/compact_timeline.csv"
  for rd in 0 1; do
    abrun env GHOSTKV_COMPACT_READY=$rd $b --device "$dev" --commit "$cm-rd$rd" --csv "$O/tl/ab.csv" --name "1x128K-8-bd" \
      --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 --breakdown
  done
) > "$O/tl/stdout.txt" 2>&1
grep -E "^\+|FAIL|rc=|skipped|# scan timeline|# compact timeline|^forced|^certified" "$O/tl/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-900
grep "# breakdown" "$O/tl/stdout.txt" | cut -c1-400
echo "checks passed: $(grep -c 'all checks passed' "$O/tl/stdout.txt"), runs: $(grep -c '^+ ' "$O/tl/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
