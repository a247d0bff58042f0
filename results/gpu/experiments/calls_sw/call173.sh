#!/usr/bin/env bash
# Do the scan's blocks that start late on prep's SMs set stage 1's tail at 1 x 128K? prep runs 4 blocks per KV head
# there (32 blocks, one SM each) and the 16-warp scan one block per SM (128 blocks), so about 28 scan blocks can start
# only once prep's blocks leave (the split timeline's largest scan start is about 5.5 us against 0.8 in the median).
# Arms (one binary; commit in COMMIT): base (the rule: prep 4 blocks per KV head, 16 scan blocks per KV head),
# c12 (GHOSTKV_SCAN_KV_BLOCKS=12: 96 scan blocks beside prep's 32), p1 (GHOSTKV_PREP_ROWS=1: prep one block per KV
# head), p1c15 (both: 8 prep blocks beside 120 scan blocks). The split timeline at int8 and int4, 5% forced, per arm;
# then same-call runs in turn at 1 x 128K with the split cut (int8 1 / 5 / 20% and certified, int4 and mixed 5% and
# certified) and with the one cut (int8 5 / 20%, int4 5%, certified). Every run checks its first batch entry against
# float64 first. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
arm_env() {
  unset GHOSTKV_SCAN_KV_BLOCKS GHOSTKV_PREP_ROWS
  case "$1" in
    c12) export GHOSTKV_SCAN_KV_BLOCKS=12 ;;
    p1) export GHOSTKV_PREP_ROWS=1 ;;
    p1c15) export GHOSTKV_PREP_ROWS=1 GHOSTKV_SCAN_KV_BLOCKS=15 ;;
  esac
}
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_TL=1
  for w in 8 4; do
    for a in base c12 p1 p1c15; do
      arm_env $a
      echo "+ timeline b$w $a"
      timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-$w-tl" --batch 1 --n 131072 --bits $w \
        --reps 10 --check-batches 1 --fracs 0.05 --cut-split 2>&1 | grep -E "^# split|^# cut|^forced|^certified|FAIL|rror" | head -12
    done
  done
) > "$O/timeline.txt" 2>&1
cut -c1-420 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^forced|^certified|checks|FAIL|rror" | head -12; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 csv=$2 nm=$3; shift 3; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/$csv" --name "$nm" --reps 30 --check-batches 1 "$@"; }
  for a in base c12 p1 p1c15 p1c15 p1 c12 base; do ab $a ab_split.csv "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2 --cut-split; done
  for w in 4 mixed; do
    for a in base c12 p1 p1c15 p1c15 p1 c12 base; do ab $a ab_split.csv "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05 --cut-split; done
  done
  for a in base c12 p1c15 p1c15 c12 base; do ab $a ab_one.csv "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.05,0.2; done
  for a in base c12 p1c15 p1c15 c12 base; do ab $a ab_one.csv "1x128K-4" --batch 1 --n 131072 --bits 4 --fracs 0.05; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^# cut|^forced|^certified|FAIL|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-160 | head -150
echo "total $(( $(date +%s) - t0 )) s"
