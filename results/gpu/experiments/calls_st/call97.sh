#!/usr/bin/env bash
# What sets each attend block's time: the block-times build of branch next/block-timeline with each block's KV head and
# survivor rows (list 1): 32 × 32K low-rank with anchors at forced 1% and 5%, as built (p0, twice) and without programmatic
# dependent launch (GHOSTKV_NO_PDL=1), p0 nopdl p0. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
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
  i=0
  for v in p0 nopdl p0; do
    i=$((i + 1))
    e=(); case $v in nopdl) e=(GHOSTKV_NO_PDL=1);; cl1) e=(GHOSTKV_PREP_CLUSTER=1);; esac
    echo "+ $v $(date +%T)"
    env "${e[@]}" timeout -k 5 90 $b --device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --block-times "$O/ab/bt.csv" \
      --name "$v$i-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 20 \
      --check-batches 1 --fracs 0.01,0.05 2>&1 | grep -E "^forced|checks|FAIL|rror|block times|breakdown" | cut -c1-400
  done
) > "$O/ab/stdout.txt" 2>&1
cat "$O/ab/stdout.txt" | cut -c1-300
tar -C "$O" -cJf "$O/call97_bt.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
