#!/usr/bin/env bash
# next/plist-ahead with the quant scan's list entries a step ahead (d 128): checks of the quant anchored builds,
# then a same-call A/B against main's binary (11dc7a9), two rounds
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call15.txt
export OMP_NUM_THREADS="$(nproc)"
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b && chmod +x /tmp/b
xz -dc .gpu_carry/ghostkv_gpu_bench_main.xz > /tmp/bm && chmod +x /tmp/bm
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
c=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$out/checks.csv")
fail=0
run() { echo "+ $*"; "$@" 2>&1 | grep -E 'all checks|FAIL|error|violat|Error|local cut' | tail -4; [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED"; fail=1; }; }
b=/tmp/b
run $b "${c[@]}" --name check-anc4-far --bits 4 --anchors --far-pages 0.5 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2
run $b "${c[@]}" --name check-anc8-far-b7 --anchors --far-pages 0.5 --batch 7 --n 2000 --reps 3 --check-batches 7 --fracs 0.05
run $b "${c[@]}" --name check-anc-mixed-far-b3 --bits mixed --anchors --far-pages 0.5 --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.2
run $b "${c[@]}" --name check-g2-4-anc-far --hq 16 --hkv 8 --bits 4 --anchors --far-pages 0.5 --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.2
GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-anc4-far-cutlocal --bits 4 --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.2
run $b "${c[@]}" --mode capture --capture .gpu_carry/captures/ref23m --layer 4 --bits 4 --anchors --queries 8 --reps 3 --fracs 1 --name ref23m-L4-b4-anc
echo "checks fail=$fail"
[ "$fail" = 0 ] || exit 1
ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$out/ab.csv")
abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^forced|^certified|checks" | tail -8; }
for round in 1 2; do
  for lb in main new; do
    bin=/tmp/b; [ "$lb" = main ] && bin=/tmp/bm
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-b4-anc" --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.2
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-b4" --bits 4 --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
    abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-b4-anc" --bits 4 --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05
  done
done
echo "done fail=$fail"
