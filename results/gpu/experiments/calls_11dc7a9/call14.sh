#!/usr/bin/env bash
# next/plist-ahead: the low-rank scan's list entries loaded a step ahead. Checks (every low-rank row of the
# check set, the new binary), then a same-call A/B against main's binary (11dc7a9) on the low-rank rows
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call14.txt
export OMP_NUM_THREADS="$(nproc)"
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b && chmod +x /tmp/b
xz -dc .gpu_carry/ghostkv_gpu_bench_main.xz > /tmp/bm && chmod +x /tmp/bm
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
c=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$out/checks.csv")
fail=0
run() { echo "+ $*"; "$@" 2>&1 | grep -E 'all checks|FAIL|error|violat|Error|local cut' | tail -4; [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED"; fail=1; }; }
b=/tmp/b
run $b "${c[@]}" --name check-lowrank --bits lowrank --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
run $b "${c[@]}" --name check-lowrank-anc-far --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
run $b "${c[@]}" --name check-lowrank-anc-far-b7 --bits lowrank --anchors --far-pages 0.5 --batch 7 --n 2000 --reps 3 --check-batches 7 --fracs 0.05
for shape in "g1:--hq 8 --hkv 8" "g2:--hq 16 --hkv 8" "d64:--d 64" "g3d64:--d 64 --hq 24 --hkv 8"; do
  tag="${shape%%:*}"; opts=(${shape#*:})
  run $b "${c[@]}" --name "check-$tag-lowrank" "${opts[@]}" --bits lowrank --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.05,1
  run $b "${c[@]}" --name "check-$tag-lowrank-anc-far" "${opts[@]}" --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.2
done
GHOSTKV_COMPACT_READY=1 run $b "${c[@]}" --name check-lowrank-anc-far-ready --bits lowrank --anchors --far-pages 0.5 --batch 5 --n 3000 --reps 3 --check-batches 5 --fracs 0.2
GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-lowrank-cutlocal --bits lowrank --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,1
GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
run $b "${c[@]}" --name check-lowrank-anc-fin --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.05 --splits 1 --reps 3 --check-batches 3
for cap in .gpu_carry/captures/*; do
  l="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/manifest.json'))['layers'][0])" "$cap")"
  run $b "${c[@]}" --mode capture --capture "$cap" --layer "$l" --bits lowrank --anchors --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-lowrank-anc"
done
echo "checks fail=$fail"
[ "$fail" = 0 ] || exit 1
ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$out/ab.csv")
abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks" | tail -8; }
for round in 1 2; do
  for lb in main new; do
    bin=/tmp/b; [ "$lb" = main ] && bin=/tmp/bm
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank" --bits lowrank --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05
    abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-lowrank-anc" --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --breakdown
  done
done
echo "done fail=$fail"
