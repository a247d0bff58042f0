#!/usr/bin/env bash
# The survivor counts' stride (GHOSTKV_SURV_STRIDE, A/B switch): compact's count atomics of the 8 KV heads of a step in
# one 32-byte sector (1, the default), a sector each (8) or 256 bytes each (64). A few checks at each stride first;
# then compact's and the scan's timelines at strides 1 and 64 (1 x 128K int8, 5%); then same-call pairs at 1 x 128K
# int8 5% and certified in orders 1 8 64 64 8 1, int4 1 64, 32 x 32K int8 1 64 64 1. Every timed run checks its batch
# entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
b=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  for s in 8 64; do
    GHOSTKV_SURV_STRIDE=$s chk rand8-s$s --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
    GHOSTKV_SURV_STRIDE=$s chk g3-d64-4-s$s --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2
    GHOSTKV_SURV_STRIDE=$s chk anc8-far-b3-s$s --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05 --check-batches 3
    GHOSTKV_SURV_STRIDE=$s GHOSTKV_COMPACT_READY=1 chk rand8-ready-fin-s$s --batch 2 --n 4160 --splits 1 --fracs 0.05,1
    GHOSTKV_SURV_STRIDE=$s chk heads8-b4-s$s --batch 4 --n 8256 --check-batches 2 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1
    GHOSTKV_SURV_STRIDE=$s chk lowrank-anc-far-b3-s$s --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05 --check-batches 3
  done
  GHOSTKV_SURV_STRIDE=3 chk bad-stride --batch 1 --n 2000 --fracs 0.05
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | head -10
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 280 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# compact timeline"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local s=$1 nm=$2; shift 2; abrun env GHOSTKV_SURV_STRIDE=$s $b --device "$dev" --commit "$cm-s$s" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for s in 1 64; do
    abrun env GHOSTKV_SURV_STRIDE=$s GHOSTKV_SCAN_DEBUG=32 GHOSTKV_COMPACT_TL=1 $b --device "$dev" --commit "$cm-s$s-tl" --csv "$O/ab/tl.csv" \
      --name "tl-s$s-1x128K-8" --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 \
      --scan-timeline-csv "$O/ab/scan_timeline.csv" --compact-timeline-csv "$O/ab/compact_timeline.csv"
  done
  for s in 1 8 64 64 8 1; do ab $s "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for s in 1 64; do ab $s "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for s in 1 64 64 1; do ab $s "32x32K-8" --batch 32 --n 32768 --bits 8 --reps 20; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|# compact timeline" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-900
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
