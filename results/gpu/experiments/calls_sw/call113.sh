#!/usr/bin/env bash
# The quant scan at 10 (and 12) warps per block (GHOSTKV_SCAN_WARPS; branch next/scan-warps): checks of the 10-warp
# builds not yet run (local cut: int8 / int4 / mixed at 17 x 8 KV heads; mixed and anchored global builds) and of
# the 12-warp one, then the A/B in turn, twice: 32 x 32K int8 / mixed / int4 at 5%, 1 x 128K mixed and int4 with
# anchors at 5% (8 vs 10 warps), 1 x 128K int8 (8 / 10 / 12). One H200; everything under $OUT as written.
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
  big=(--batch 32 --n 32768 --distinct 4 --reps 20)
  abrun() { [ $(( $(date +%s) - t0 )) -lt 560 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 120 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ck() { local sw=$1; shift; abrun env GHOSTKV_SCAN_WARPS=$sw $b --device "$dev" --commit "$cm-sw$sw" --csv "$O/ab/checks.csv" "$@"; }
  ck 10 --name sw10-check-rand8-cutlocal --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,1 --poison
  ck 10 --name sw10-check-rand4-cutlocal --bits 4 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.2
  ck 10 --name sw10-check-mixed-cutlocal --bits mixed --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05 --poison
  ck 10 --name sw10-check-mixed --bits mixed --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
  ck 10 --name sw10-check-anc4-far --bits 4 --anchors --far-pages 0.5 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --poison
  ck 10 --name sw10-check-anc-mixed-far-b3 --bits mixed --anchors --far-pages 0.5 --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.05
  ck 12 --name sw12-check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
  ab() { local sw=$1 nm=$2; shift 2; abrun env GHOSTKV_SCAN_WARPS=$sw $b --device "$dev" --commit "$cm-sw$sw" --csv "$O/ab/ab.csv" --name "sw$sw-$nm" "$@"; }
  for rep in 1 2; do
    for sw in 8 10; do
      ab $sw 32x32K-b8 "${big[@]}" --check-batches 1 --fracs 0.05
      ab $sw 32x32K-mixed --bits mixed "${big[@]}" --check-batches 1 --fracs 0.05
      ab $sw 1x128K-mixed --bits mixed --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
      ab $sw 1x128K-b4-anc --bits 4 --anchors --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
    done
    for sw in 8 10 12; do ab $sw 1x128K-b8 --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05; done
  done
  for sw in 8 10; do ab $sw 32x32K-b4 --bits 4 "${big[@]}" --check-batches 1 --fracs 0.05; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-150 | tail -80
tar -C "$O" -cJf "$O/call113.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
