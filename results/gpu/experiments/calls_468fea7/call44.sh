#!/usr/bin/env bash
# After the full run of 468fea7: its stage 2 at 32 × 32K with 3 splits came out 0.9-2.4% above fdcedd7's run (another
# host; torch SDPA there 2.8% slower, our dense the same). Same-call A/B of 27c844d's binary (m2: merge of 46c1605,
# contiguous split ranges) and 468fea7's (il: interleaved tiles), 32 × 32K int8 at 20%, 100% and certified (3 splits)
# and 5% (1 split), three rounds in alternating order; low-rank with anchors at 20% once each.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh log_call44.txt
xz -dc .gpu_carry/bench_m2.xz > /tmp/b_m2 && chmod +x /tmp/b_m2
xz -dc .gpu_carry/ghostkv_gpu_bench.xz > /tmp/b_il && chmod +x /tmp/b_il
nvidia-smi -L
mkdir -p /tmp/o/ab
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=8
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  ab=(--device "$dev" --commit tree --csv /tmp/o/ab/ab.csv)
  abrun() { echo "+ $* $(date +%T)"; timeout 100 "$@" 2>&1 | grep -E "^forced|^certified|^real|checks|FAIL|rror" | tail -8; }
  for round in 1 2 3; do
    vs="m2 il"; [ $round = 2 ] && vs="il m2"
    for v in $vs; do
      abrun /tmp/b_$v "${ab[@]}" --name "ab$round-$v-32x32K-b8" --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.05,0.2,1
    done
  done
  for v in m2 il; do
    abrun /tmp/b_$v "${ab[@]}" --name "ab1-$v-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.2
  done
  echo "ab done $(date +%T)"
) > /tmp/o/ab/ab_log.txt 2>&1
cat /tmp/o/ab/ab_log.txt
tar -C /tmp/o -cJf "$out/call44.tar.xz" .
