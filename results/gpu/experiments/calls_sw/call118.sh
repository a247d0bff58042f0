#!/usr/bin/env bash
# (Ran as call118.) The quant scan at 1 x 128K with more pages in flight (branch next/scan16): two page buffers
# per warp at one block per SM (GHOSTKV_SCAN_BUFS=2 with GHOSTKV_SCAN_WARPS 10 or 8) against the built shape and 16
# warps (one buffer), and the 10-warp int8 block built for one block per SM (GHOSTKV_SCAN_MINB1=1): checks (rand8 / rand4 with --poison, mixed) of each new build, then in turn, twice, at 5%:
# int8, int4, mixed. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 540 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for t in "w10b2:GHOSTKV_SCAN_WARPS=10 GHOSTKV_SCAN_BUFS=2" "w8b2:GHOSTKV_SCAN_WARPS=8 GHOSTKV_SCAN_BUFS=2"; do
    l=${t%%:*}; e=${t#*:}
    abrun env $e $b --device "$dev" --commit "$cm-$l" --csv "$O/ab/checks.csv" --name "$l-check-rand8" --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
    abrun env $e $b --device "$dev" --commit "$cm-$l" --csv "$O/ab/checks.csv" --name "$l-check-rand4" --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --poison
    abrun env $e $b --device "$dev" --commit "$cm-$l" --csv "$O/ab/checks.csv" --name "$l-check-mixed" --bits mixed --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05
  done
  abrun env GHOSTKV_SCAN_MINB1=1 $b --device "$dev" --commit "$cm-w10m1" --csv "$O/ab/checks.csv" --name "w10m1-check-rand8" --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
  ab() { local lbl=$1 tag=$2 nm=$3; shift 3; abrun env $tag $b --device "$dev" --commit "$cm-$lbl" --csv "$O/ab/ab.csv" --name "$nm" --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    for opt in "--bits 8" "--bits 4" "--bits mixed"; do
      ab built GHOSTKV_NONE=1 1x128K $opt
      ab w16 GHOSTKV_SCAN_WARPS=16 1x128K $opt
      ab w10b2 "GHOSTKV_SCAN_WARPS=10 GHOSTKV_SCAN_BUFS=2" 1x128K $opt
      ab w8b2 "GHOSTKV_SCAN_WARPS=8 GHOSTKV_SCAN_BUFS=2" 1x128K $opt
      [ "$opt" = "--bits 8" ] && ab w10m1 GHOSTKV_SCAN_MINB1=1 1x128K $opt
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-150 | tail -80
tar -C "$O" -cJf "$O/call118.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
