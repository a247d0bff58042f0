#!/usr/bin/env bash
# The quant scan's cut with its inputs staged (GHOSTKV_CUT_PRE=1, the new default: e^{edge} staged in the free page
# buffers by loads issued before the histogram flush, Z_L and m_L loaded before the counts) against the cut before
# (GHOSTKV_CUT_PRE=0): compute-sanitizer's four tools on rand8, rand4-cutlocal (the local cut) and anc8-far-b3; the
# scan's timeline (GHOSTKV_SCAN_DEBUG=32, raw records in timeline.csv) at 1 x 128K int8 and int4, both arms; then the
# built scan, both arms in turn, twice (order reversed the second time): 1 x 128K int8 / int4 / mixed at 5% forced
# and certified; then once each 1 x 128K int8 with anchors and 32 x 32K int8 (8 warps, the local cut). Every timed run
# checks its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
GHOSTKV_SMALL_ROWS="rand8 rand4-cutlocal anc8-far-b3" GHOSTKV_SANITIZE_BUDGET_S=100 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 115 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize_cutpre.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 540 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for pre in 1 0; do for bits in 8 4; do
    abrun env GHOSTKV_SCAN_DEBUG=32 GHOSTKV_CUT_PRE=$pre $b --device "$dev" --commit "$cm-pre$pre-dbg32" --csv "$O/ab/tl.csv" \
      --name "tl-pre$pre-1x128K-$bits" --batch 1 --n 131072 --bits $bits --reps 30 --check-batches 1 --fracs 0.05 \
      --scan-timeline-csv "$O/ab/timeline.csv"
  done; done
  ab() { local pre=$1 nm=$2; shift 2; abrun env GHOSTKV_CUT_PRE=$pre $b --device "$dev" --commit "$cm-pre$pre" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    if [ $rep = 1 ]; then order="0 1"; else order="1 0"; fi
    for bits in 8 4 mixed; do for pre in $order; do ab $pre "1x128K-$bits" --batch 1 --n 131072 --bits $bits; done; done
  done
  for pre in 0 1; do ab $pre 1x128K-anc-8 --batch 1 --n 131072 --bits 8 --anchors; done
  for pre in 0 1; do ab $pre 32x32K-8 --batch 32 --n 32768 --bits 8; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|# scan timeline" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-600
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
