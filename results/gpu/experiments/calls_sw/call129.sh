#!/usr/bin/env bash
# The 16-warp quant scan receiving each page's codes in chunks (GHOSTKV_SCAN_CHUNKS=2 / 4: a warp requests chunk k of
# its next page as soon as its dot products are done with chunk k of this one) against the whole-page copy (1):
# compute-sanitizer's four tools with 4 chunks on rand8 / rand4 / mixed / anc8-far-b3 / anc4-far; checks with
# --poison (rand8, rand4) and mixed for 2 and 4 chunks (16 warps, the global cut); then at 1 x 128K, 5% forced and
# certified, int8 / int4 / mixed, chunks 1 / 2 / 4 in turn, twice (order reversed the second time), and the anchored
# int8 / int4 rows once. Every timed run checks its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
GHOSTKV_SCAN_CHUNKS=4 GHOSTKV_SMALL_ROWS="rand8 rand4 mixed anc8-far-b3 anc4-far" GHOSTKV_SANITIZE_BUDGET_S=130 \
  GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san timeout -k 5 145 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize_chunks4.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 545 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for ch in 2 4; do
    e="GHOSTKV_SCAN_CHUNKS=$ch GHOSTKV_SCAN_WARPS=16 GHOSTKV_CUT_LOCAL=0"
    abrun env $e $b --device "$dev" --commit "$cm-c$ch" --csv "$O/ab/checks.csv" --name "c$ch-check-rand8" --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
    abrun env $e $b --device "$dev" --commit "$cm-c$ch" --csv "$O/ab/checks.csv" --name "c$ch-check-rand4" --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --poison
    abrun env $e $b --device "$dev" --commit "$cm-c$ch" --csv "$O/ab/checks.csv" --name "c$ch-check-mixed" --bits mixed --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05
  done
  ab() { local ch=$1 nm=$2; shift 2; abrun env GHOSTKV_SCAN_CHUNKS=$ch $b --device "$dev" --commit "$cm-c$ch" --csv "$O/ab/ab.csv" --name "$nm" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    if [ $rep = 1 ]; then order="1 2 4"; else order="4 2 1"; fi
    for bits in 8 4 mixed; do for ch in $order; do ab $ch "1x128K-$bits" --bits $bits; done; done
  done
  for bits in 8 4; do for ch in 1 4 2; do ab $ch "1x128K-anc-$bits" --bits $bits --anchors; done; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-130 | tail -90
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
