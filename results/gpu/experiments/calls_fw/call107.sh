#!/usr/bin/env bash
# The fused low-rank block at 12 or 16 warps (4ae3be2, branch next/fused-warps; GHOSTKV_LR_FUSED_WARPS 8 / 12 / 16):
# first the checks at 12 and 16 warps (every row against float64 on its check batches; the fused kernel against the
# two kernels and compact, bitwise), then the A/B in turn, twice: 32 x 32K low-rank with anchors at 5 / 20% and
# certified. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
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
  big=(--batch 32 --n 32768 --distinct 4 --reps 20)
  for fw in 16 12; do
    abrun env GHOSTKV_LR_FUSED_WARPS=$fw $b --device "$dev" --commit "$cm-fw$fw" --csv "$O/ab/checks.csv" --name "fw$fw-check-lowrank-anc-far-cutlocal" --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05 --poison
    for cap in .gpu_carry/captures/*; do
      l="$(python3 -c "import json,sys; L = json.load(open(sys.argv[1]+'/manifest.json'))['layers']; print(L[min(1, len(L) - 1)])" "$cap")"
      abrun env GHOSTKV_LR_FUSED_WARPS=$fw $b --device "$dev" --commit "$cm-fw$fw" --csv "$O/ab/checks.csv" --mode capture --capture "$cap" --layer "$l" --bits lowrank --anchors --queries 8 --reps 3 --fracs 1 --name "fw$fw-$(basename "$cap")-L$l-lowrank-anc"
    done
    abrun env GHOSTKV_LR_FUSED_WARPS=$fw $b --device "$dev" --commit "$cm-fw$fw" --csv "$O/ab/checks.csv" --name "fw$fw-32x32K-lowrank-anc-check" --bits lowrank --anchors "${big[@]}" --reps 3 --check-batches 2 --fracs 0.01,0.05,0.2
  done
  for rep in 1 2; do
    for fw in 8 16 12; do
      abrun env GHOSTKV_LR_FUSED_WARPS=$fw $b --device "$dev" --commit "$cm-fw$fw" --csv "$O/ab/ab.csv" --name "fw$fw-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --check-batches 1 --fracs 0.05,0.2
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|fused|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -80
tar -C "$O" -cJf "$O/call107.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
