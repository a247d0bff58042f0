#!/usr/bin/env bash
# compute-sanitizer again (GPU 1) with the compact fix and more tracked mbarriers, and meanwhile on GPU 0 a
# same-call A/B of the compact change (new binary) against ad20ba5's binary on the anchored rows
set -uo pipefail
cd "$(dirname "$0")/.."
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/ghostkv_gpu_bench_main.xz > /tmp/bm && chmod +x /tmp/bm
nvidia-smi -L
( export GHOSTKV_SANITIZE_GPUS=1; GHOSTKV_SANITIZE_BUDGET_S=300 GHOSTKV_SANITIZE_ROW_S=200 OUT="$OUT" bash scripts/gpu_bench.sh sanitize > /dev/null 2>&1; echo "sanitize rc=$?" > "$OUT/sanitize_rc.txt" ) &
spid=$!
(
source scripts/gpu_env.sh log_ab.txt
export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv "$out/ab.csv")
abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks" | tail -8; }
for round in 1 2; do
  for lb in main new; do
    bin=.gpu_carry/ghostkv_gpu_bench; [ "$lb" = main ] && bin=/tmp/bm
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-b4-anc" --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2 --breakdown
    abrun $bin "${ab[@]}" --name "ab$round-$lb-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05 --breakdown
    abrun $bin "${ab[@]}" --name "ab$round-$lb-1x128K-b4-anc" --bits 4 --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.05 --breakdown
  done
done
)
wait $spid
cat "$OUT/sanitize_rc.txt"
for f in "$OUT"/sanitize_*.txt; do echo "== $f"; grep -E "^sanitize|ERROR SUMMARY|RACECHECK SUMMARY|skipped|FAILED|overflow|^=========  *(Invalid|Uninit|Race|Barrier|Error|Warning)" "$f" | sort | uniq -c | head -20; done
