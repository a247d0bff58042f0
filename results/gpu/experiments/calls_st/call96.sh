#!/usr/bin/env bash
# Why the fused blocks of some SMs take longer (call91: about 43-50 against 54-58 µs by SM at 5%): fe1206f's binary
# (--block-times), 32 × 32K low-rank with anchors at forced 5%, as built (p0, twice), without programmatic dependent
# launch (GHOSTKV_NO_PDL=1: each kernel starts after the previous one ends; twice) and with prep in single blocks
# (GHOSTKV_PREP_CLUSTER=1), p0 nopdl cl1 nopdl p0. One H200; everything under $OUT as written.
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
  for v in p0 nopdl cl1 nopdl p0; do
    i=$((i + 1))
    e=(); case $v in nopdl) e=(GHOSTKV_NO_PDL=1);; cl1) e=(GHOSTKV_PREP_CLUSTER=1);; esac
    echo "+ $v $(date +%T)"
    env "${e[@]}" timeout -k 5 90 $b --device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --block-times "$O/ab/bt.csv" \
      --name "$v$i-32x32K-lowrank-anc" --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 20 \
      --check-batches 1 --fracs 0.05 --breakdown 2>&1 | grep -E "^forced|checks|FAIL|rror|block times|breakdown" | cut -c1-400
  done
) > "$O/ab/stdout.txt" 2>&1
cat "$O/ab/stdout.txt" | cut -c1-300
tar -C "$O" -cJf "$O/call96_bt.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
