#!/usr/bin/env bash
# The working tree after 47d4c46: the fused low-rank block that compacts also does prep's work (prep folded in; a
# one-block lists_reset_kernel zeroes the ready lists instead of prep). GPU 0: same-call A/B of bc9f553's binary
# (main), the tree (pf) and the tree without the fused kernel's two __threadfence (pfnf), two rounds, then the
# fused check rows (G 1/2/4, G 3 d 64) with the tree; GPU 1: every check row (gpu_bench.sh quick), then
# compute-sanitizer memcheck and racecheck over the 15 small rows.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call30.txt
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_main && chmod +x /tmp/b_main
xz -dc .gpu_carry/bench_pfnf.xz > /tmp/b_pfnf && chmod +x /tmp/b_pfnf
xz -dc .gpu_carry/bench_pf.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
date +%T
mkdir -p /tmp/o/quick /tmp/o/san /tmp/o/ab
(
  ( CUDA_VISIBLE_DEVICES=1 OUT=/tmp/o/quick timeout 230 bash scripts/gpu_bench.sh quick > /tmp/o/quick/stdout.txt 2>&1; echo "quick rc=$? $(date +%T)" )
  GHOSTKV_SANITIZE_GPUS=1 GHOSTKV_SANITIZE_TOOLS="memcheck racecheck" GHOSTKV_SANITIZE_BUDGET_S=260 GHOSTKV_SANITIZE_ROW_S=240 OUT=/tmp/o/san timeout 280 bash scripts/gpu_bench.sh sanitize > /tmp/o/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(date +%T)"
) > /tmp/o/san/rc.txt 2>&1 &
spid=$!
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 120 "$@" 2>&1 | grep -E "^# breakdown|^forced|^certified|checks|FAIL|rror|fused low-rank|local cut" | tail -14; }
  for round in 1 2; do
    for v in main pf pfnf; do
      bin=/tmp/b_$v; [ $v = pf ] && bin=.gpu_carry/ghostkv_gpu_bench
      abrun $bin "${ab[@]}" --name "ab$round-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2 --breakdown
    done
  done
  echo "ab done $(date +%T)"
  c=(--device "$dev" --commit tree --csv /tmp/o/ab/checks.csv)
  export GHOSTKV_SCAN_OCC=1
  bin=.gpu_carry/ghostkv_gpu_bench
  abrun $bin "${c[@]}" --name check-pf-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,0.2
  abrun $bin "${c[@]}" --name check-pf-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
  abrun $bin "${c[@]}" --name check-pf-g2-lowrank-anc-far-cutlocal --hq 16 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
  abrun $bin "${c[@]}" --name check-pf-g3-d64-lowrank-anc-cutlocal --hq 24 --hkv 8 --d 64 --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 3000 --reps 3 --check-batches 4 --fracs 0.05
  echo "checks done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
wait $spid
grep -v "^# breakdown" /tmp/o/ab/ab_log.txt
grep -E 'all checks|FAILED|stopping|fail=|fused low-rank' /tmp/o/quick/log.txt | tail -40
cat /tmp/o/san/rc.txt
grep -h "^sanitize \|gpu_bench.sh sanitize" /tmp/o/san/*.txt
tar -C /tmp/o -cJf "$out/call30.tar.xz" .
ls -la "$out"
