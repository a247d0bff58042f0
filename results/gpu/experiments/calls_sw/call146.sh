#!/usr/bin/env bash
# Batched compact with each batch's M_E terms after its count atomic is issued ("new", the tree's binary) against
# f560d72's binary ("old", c44102c's kernels: the M_E terms first, the atomic after them). The new binary's checks
# first (15 small rows: every witness, G 1-3, d 64, anchors, one split, ready lists, per-head fractions, the
# unbatched walk); then compact's and the scan's timelines of both at 1 x 128K int8, 5%; then same-call pairs at
# 1 x 128K int8 (5% and certified, in orders old new new old old new; 50% once each), int4, mixed, int8 with anchors,
# and 32 x 32K int8. Every timed run checks its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
for a in old new; do xz -dc .gpu_carry/bench_$a.xz > .gpu_carry/gb_$a && chmod +x .gpu_carry/gb_$a; done
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
for a in old new; do
  [ -n "$cu" ] && "$cu" -res-usage .gpu_carry/gb_$a 2>&1 | grep -A1 -E "Function .*compact_kernel" | grep -v "^--" | paste - - \
    | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage_$a.txt"
  echo "res usage $a: $(wc -l < "$O/ab/res_usage_$a.txt") compact kernels; with stack or local > 0: $(grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0' "$O/ab/res_usage_$a.txt")"
done
b=.gpu_carry/gb_new
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk rand4 --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2
  chk mixed --bits mixed --batch 2 --n 4160 --fracs 0.05 --check-batches 2
  chk g1-8 --hq 8 --hkv 8 --batch 2 --n 4160 --fracs 0.05,1 --check-batches 2
  chk g2-4 --hq 16 --hkv 8 --bits 4 --batch 2 --n 4160 --fracs 0.05 --check-batches 2
  chk g3-d64-4 --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2
  chk d64-8 --d 64 --batch 2 --n 3000 --fracs 0.05,1 --poison --check-batches 2
  chk anc8-far-b3 --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05 --check-batches 3
  chk lowrank-anc-far-b3 --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05 --check-batches 3
  chk splits98 --batch 1 --n 2000 --splits 98 --fracs 0.05,1
  chk fin --batch 2 --n 4160 --splits 1 --fracs 0.05,1 --poison
  chk heads8-b4 --batch 4 --n 8256 --check-batches 2 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1
  chk rand8-b3-8256 --batch 3 --n 8256 --check-batches 3 --fracs 0.05,0.5,1 --poison
  GHOSTKV_COMPACT_READY=1 chk rand8-ready-fin --batch 2 --n 4160 --splits 1 --fracs 0.05,1
  GHOSTKV_COMPACT_BATCH=0 chk rand8-unbatched --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | head -10
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 400 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# compact timeline"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; abrun .gpu_carry/gb_$a --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@"; }
  for a in old new; do
    abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_COMPACT_TL=1 .gpu_carry/gb_$a --device "$dev" --commit "$cm-$a-tl" --csv "$O/ab/tl.csv" \
      --name "tl-$a-1x128K-8" --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.05 \
      --scan-timeline-csv "$O/ab/scan_timeline.csv" --compact-timeline-csv "$O/ab/compact_timeline.csv"
  done
  for a in old new new old old new; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.05; done
  for a in new old; do ab $a "1x128K-8-f50" --batch 1 --n 131072 --bits 8 --fracs 0.5; done
  for a in new old; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4 --fracs 0.05; done
  for a in old new; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed --fracs 0.05; done
  for a in new old; do ab $a "1x128K-anc-8" --batch 1 --n 131072 --bits 8 --anchors --fracs 0.05; done
  for a in old new; do ab $a "32x32K-8" --batch 32 --n 32768 --bits 8 --reps 20 --fracs 0.05; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|# compact timeline" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-700
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
