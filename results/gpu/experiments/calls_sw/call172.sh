#!/usr/bin/env bash
# Forced survivors' M_E terms added up in the split cut's page loop, where each bound is made (arm mescan,
# GHOSTKV_SPLIT_COMPACT=4: scan_kernel's SC 8), instead of in its compaction (arm sc2, the default walk); call171 timed
# the compaction's terms at 1.2-2.2 us of int8 stage 1 (forced rows). One binary (commit in COMMIT). Checks of the
# mescan arm (forced and certified small rows, G 1-4, d 64, poisoned outputs); the split timeline at 1 x 128K int8, 5%,
# both arms; same-call runs at 1 x 128K for int8 (1 / 5 / 20% forced and certified), int4 and mixed (5% forced and
# certified). One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
arm_env() { case "$1" in sc2) export GHOSTKV_SPLIT_COMPACT=2 ;; mescan) export GHOSTKV_SPLIT_COMPACT=4 ;; esac; }
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_COMPACT=4
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8-split-mescan --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split-mescan --bits 4 --batch 2 --n 4160 --fracs 0.2,0.01 --check-batches 2 --cut-split
  chk mixed-split-mescan-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 --cut-split
  chk g3-d64-4-split-mescan --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split-mescan --hq 16 --hkv 8 --batch 2 --n 5000 --fracs 0.05,1 --check-batches 2 --cut-split
  chk g1-mixed-split-mescan --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 --cut-split
  GHOSTKV_SPLIT_TL=1 chk rand8-split-mescan-tl --batch 2 --n 4160 --fracs 0.05,1 --check-batches 2 --cut-split
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_TL=1
  for a in sc2 mescan; do
    arm_env $a
    echo "+ timeline b8 $a"
    timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-8-tl" --batch 1 --n 131072 --bits 8 \
      --reps 10 --check-batches 1 --fracs 0.05 --cut-split 2>&1 | grep -E "^# split|^forced|^certified|FAIL|rror" | head -12
  done
) > "$O/timeline.txt" 2>&1
cut -c1-500 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 170 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | head -12; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@" --cut-split; }
  for a in sc2 mescan mescan sc2; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2; done
  for w in 4 mixed; do
    for a in sc2 mescan mescan sc2; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05; done
  done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200 | head -80
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
