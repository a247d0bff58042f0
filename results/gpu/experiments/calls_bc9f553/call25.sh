#!/usr/bin/env bash
# The working tree after e220e25/f19e867: the fused low-rank kernel with plain shared-memory atomics for the
# anchored candidates (merged), and its block compacting its KV head itself (CP; GHOSTKV_LR_FUSED_COMPACT=0 keeps
# the compact kernel). GPU 0: same-call A/B of e220e25's binary (main), the tree with CP off (nocp) and on (cp),
# two rounds, then every check row (gpu_bench.sh quick) and the fused check rows with CP off; GPU 1:
# compute-sanitizer's four tools over the 15 small rows.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call25.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_cp.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_BUDGET_S=330 GHOSTKV_SANITIZE_ROW_S=250 OUT=/tmp/o/san bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$?"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit "$(cat .gpu_carry/COMMIT)" --csv /tmp/o/ab/ab.csv)
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun() { echo "+ $*"; "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror|fused low-rank|local cut" | tail -14; }
  for round in 1 2; do
    abrun /tmp/b_main "${ab[@]}" --name "ab$round-main-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
    GHOSTKV_LR_FUSED_COMPACT=0 abrun $bin "${ab[@]}" --name "ab$round-nocp-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
    abrun $bin "${ab[@]}" --name "ab$round-cp-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
  done
  echo "ab done"
  c=(--device "$dev" --commit tree --csv /tmp/o/ab/checks_nocp.csv)
  export GHOSTKV_LR_FUSED_COMPACT=0
  GHOSTKV_SCAN_OCC=1 abrun $bin "${c[@]}" --name check-nocp-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
  GHOSTKV_SCAN_OCC=1 abrun $bin "${c[@]}" --name check-nocp-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
) > /tmp/o/ab/ab_log.txt 2>&1
( CUDA_VISIBLE_DEVICES=0 OUT=/tmp/o/quick timeout 240 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$?" )
wait $spid
cat /tmp/o/ab/ab_log.txt | grep -v "^# breakdown"
grep -E 'all checks|FAILED|stopping|fail=|fused low-rank' /tmp/o/quick/log.txt | tail -60
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call25.tar.xz" .
ls -la "$out"
