#!/usr/bin/env bash
# The low-rank anchor stage, three builds on d871e56: new = d871e56 (components outer, 7 blocks per SM,
# trailing query components in two halves), A = its body before d871e56 (128 registers, 4 blocks per SM) plus
# the ν of eliminated pages, D = two pages per lane (64-page warp-items, components outer, 4 blocks per SM).
# GPU 1: every low-rank anchored check row with D (and A); GPU 0: same-call A/B, two rounds.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call17.txt
for x in new A D; do xz -dc .gpu_carry/bench_$x.xz > /tmp/b_$x && chmod +x /tmp/b_$x; done
mkdir -p /tmp/o
(
  export CUDA_VISIBLE_DEVICES=1 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  fail=0
  for x in D A; do
    c=(--device "$dev" --commit "d871e56-$x" --csv /tmp/o/checks.csv)
    b=/tmp/b_$x
    run() { echo "+ $*"; "$@" 2>&1 | grep -E 'all checks|FAIL|error|violat|Error|local cut' | tail -4; [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED"; fail=1; }; }
    run $b "${c[@]}" --name check-lowrank-anc-far --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
    run $b "${c[@]}" --name check-lowrank-anc-far-b7 --bits lowrank --anchors --far-pages 0.5 --batch 7 --n 2000 --reps 3 --check-batches 7 --fracs 0.05
    for shape in "g1:--hq 8 --hkv 8" "g2:--hq 16 --hkv 8" "d64:--d 64" "g3d64:--d 64 --hq 24 --hkv 8"; do
      tag="${shape%%:*}"; opts=(${shape#*:})
      run $b "${c[@]}" --name "check-$tag-lowrank-anc-far" "${opts[@]}" --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.2
    done
    GHOSTKV_COMPACT_READY=1 run $b "${c[@]}" --name check-lowrank-anc-far-ready --bits lowrank --anchors --far-pages 0.5 --batch 5 --n 3000 --reps 3 --check-batches 5 --fracs 0.2
    GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
    GHOSTKV_SCAN_OCC=1 run $b "${c[@]}" --name check-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
    run $b "${c[@]}" --name check-lowrank-anc-fin --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.05 --splits 1 --reps 3 --check-batches 3
    for cap in .gpu_carry/captures/*; do
      l="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/manifest.json'))['layers'][0])" "$cap")"
      run $b "${c[@]}" --mode capture --capture "$cap" --layer "$l" --bits lowrank --anchors --queries 8 --reps 3 --fracs 1 --name "$(basename "$cap")-L$l-lowrank-anc"
    done
    [ "$x" = D ] && GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_BUDGET_S=120 GHOSTKV_SANITIZE_TOOLS="memcheck initcheck" OUT=/tmp/o/san bash -c "cp /tmp/b_D .gpu_carry/ghostkv_gpu_bench; bash scripts/gpu_bench.sh sanitize" > /tmp/o/san_stdout.txt 2>&1; echo "sanitize D rc=$?"
  done
  echo "checks fail=$fail"
) > /tmp/o/checks_log.txt 2>&1 &
cpid=$!
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit d871e56 --csv /tmp/o/ab.csv)
abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror" | tail -12; }
for round in 1 2; do
  for lb in new A D; do
    abrun /tmp/b_$lb "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
    abrun /tmp/b_$lb "${ab[@]}" --name "ab$round-$lb-1x128K-lowrank-anc" --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --breakdown
  done
done
wait $cpid
cat /tmp/o/checks_log.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt 2>/dev/null
tar -C /tmp/o -cJf "$out/call17.tar.xz" .
