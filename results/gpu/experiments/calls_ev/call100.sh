#!/usr/bin/env bash
# The balance's ceiling measured: the forced anchored rows at 32 x 32K (1 / 5%) with hashed pages (as published) and with
# GHOSTKV_FORCED_EVEN_PAGES=1 (every KV head keeps every k-th page, k = round(1 / the page fraction): the same share of
# pages in every KV head, tokens within them by the hash as before), attend_kernel as published (GHOSTKV_ATTEND_STEAL=0),
# in turn, twice for low-rank, once for int4; every row checked against float64 first. fcb9ea2's binary (branch
# next/steal-cost). One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"
mkdir -p "$O/ab"
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 400 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for rep in 1 2; do
    for e in 0 1; do
      abrun env GHOSTKV_ATTEND_STEAL=0 GHOSTKV_FORCED_EVEN_PAGES=$e $b --device "$dev" --commit "$cm-e$e" --csv "$O/ab/ab.csv" --name "e$e-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.01,0.05
    done
  done
  for e in 0 1; do
    abrun env GHOSTKV_ATTEND_STEAL=0 GHOSTKV_FORCED_EVEN_PAGES=$e $b --device "$dev" --commit "$cm-e$e" --csv "$O/ab/ab.csv" --name "e$e-32x32K-b4-anc" --bits 4 --anchors "${big[@]}" --fracs 0.05
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -70
tar -C "$O" -cJf "$O/call100.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
