#!/usr/bin/env bash
# The fused low-rank block at 12 warps by default (its checks at G 1 / 2 / 3 / 4, d 64 and 128, with --poison), and the
# low-rank scan at 12 warps (GHOSTKV_LR_SCAN_WARPS=12: its checks, global and local cut, then the A/B in turn, twice, on
# 32 x 32K and 1 x 128K low-rank without anchors). One H200; everything under $OUT as written.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 560 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 120 "$@" 2>&1 | grep -E "^forced|^certified|checks|fused|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  sm=(--device "$dev" --csv "$O/ab/checks.csv" --reps 3 --poison)
  abrun $b "${sm[@]}" --commit "$cm" --name fw12-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --check-batches 4 --fracs 0.05
  abrun $b "${sm[@]}" --commit "$cm" --name fw12-g2-lowrank-anc-far-cutlocal --hq 16 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --check-batches 4 --fracs 0.05
  abrun $b "${sm[@]}" --commit "$cm" --name fw12-g3-d64-lowrank-anc-far-cutlocal --d 64 --hq 24 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --check-batches 4 --fracs 0.05
  abrun $b "${sm[@]}" --commit "$cm" --name fw12-g4-d64-lowrank-anc-far-cutlocal --d 64 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --check-batches 4 --fracs 0.05,1
  abrun env GHOSTKV_LR_SCAN_WARPS=12 $b "${sm[@]}" --commit "$cm-lw12" --name lw12-check-lowrank --bits lowrank --batch 3 --n 8256 --check-batches 3 --fracs 0.05,1
  abrun env GHOSTKV_LR_SCAN_WARPS=12 $b "${sm[@]}" --commit "$cm-lw12" --name lw12-check-lowrank-cutlocal --bits lowrank --batch 17 --n 4160 --check-batches 4 --fracs 0.05,1
  abrun env GHOSTKV_LR_SCAN_WARPS=12 GHOSTKV_LR_FUSED=0 $b "${sm[@]}" --commit "$cm-lw12-nofuse" --name lw12-check-lowrank-anc-far-cutlocal-twokernels --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --check-batches 4 --fracs 0.05
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for rep in 1 2; do
    for lw in 8 12; do
      abrun env GHOSTKV_LR_SCAN_WARPS=$lw $b --device "$dev" --commit "$cm-lw$lw" --csv "$O/ab/ab.csv" --name "lw$lw-32x32K-lowrank" --bits lowrank "${big[@]}" --fracs 0.05,0.2
      abrun env GHOSTKV_LR_SCAN_WARPS=$lw $b --device "$dev" --commit "$cm-lw$lw" --csv "$O/ab/ab.csv" --name "lw$lw-1x128K-lowrank" --bits lowrank --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-160 | tail -80
tar -C "$O" -cJf "$O/call108.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
