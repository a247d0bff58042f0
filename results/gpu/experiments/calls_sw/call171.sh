#!/usr/bin/env bash
# What the eliminated tokens' M_E terms cost the split cut's compacting scan: the default walk (arm sc2,
# GHOSTKV_SPLIT_COMPACT=2) against the same walk without the M_E terms (arm nome, GHOSTKV_SPLIT_COMPACT=3, diagnostics
# only: its M_E and certificate are wrong, so its forced rows report certificate failures; its bounds and decisions are
# the default's). One binary (commit in COMMIT). The split timeline at 1 x 128K int8, 5% forced, both arms; same-call
# runs at 1 x 128K for int8 (1 / 5 / 20% forced and certified), int4 and mixed (5% forced and certified). One H200;
# everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
arm_env() { case "$1" in sc2) export GHOSTKV_SPLIT_COMPACT=2 ;; nome) export GHOSTKV_SPLIT_COMPACT=3 ;; esac; }
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
  for a in sc2 nome; do
    arm_env $a
    echo "+ timeline b8 $a"
    timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-8-tl" --batch 1 --n 131072 --bits 8 \
      --reps 10 --check-batches 1 --fracs 0.05 --cut-split 2>&1 | grep -E "^# split|^forced|^certified|FAIL|rror" | head -12
  done
) > "$O/timeline.txt" 2>&1
cut -c1-500 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | head -12; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@" --cut-split; }
  for a in sc2 nome nome sc2; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2; done
  for w in 4 mixed; do
    for a in sc2 nome nome sc2; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05; done
  done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200 | head -80
echo "total $(( $(date +%s) - t0 )) s"
