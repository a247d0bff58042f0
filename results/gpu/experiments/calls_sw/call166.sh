#!/usr/bin/env bash
# The early scan with its factors' σq components read from shared memory once per lane (not per rotation row: call165's
# timeline put its factors 7 us after its start, the non-early scan's wait for prep returning at 5.7). One binary
# (commit in COMMIT). Checks of four early rows (both issue modes); timelines (GHOSTKV_EARLY_TL=1) at 1 x 128K int4,
# 5%: split, early0 (first pages before the factors, the default), early1 (after, GHOSTKV_EARLY_ISSUE=1); same-call
# runs at 1 x 128K (5% forced and certified) for int4, mixed and int8. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  e=(--cut-split --scan-early)
  for is in 0 1; do
    export GHOSTKV_EARLY_ISSUE=$is
    chk rand8-split-early-i$is --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
    chk g3-d64-4-split-early-i$is --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 "${e[@]}"
  done
  unset GHOSTKV_EARLY_ISSUE
  chk mixed-split-early-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 "${e[@]}"
  chk g1-mixed-split-early --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 "${e[@]}"
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
arm_env() {
  unset GHOSTKV_EARLY_ISSUE
  X=(--cut-split)
  case "$1" in
    split) ;;
    early0) X+=(--scan-early) ;;
    early1) X+=(--scan-early); export GHOSTKV_EARLY_ISSUE=1 ;;
  esac
}
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_EARLY_TL=1
  for a in split early0 early1; do
    arm_env $a
    echo "+ timeline int4 $a"
    timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-4-tl" --batch 1 --n 131072 --bits 4 \
      --reps 10 --check-batches 1 --fracs 0.05 "${X[@]}" 2>&1 | grep -E "^# early|^forced|^certified|FAIL|rror"
  done
) > "$O/timeline.txt" 2>&1
cut -c1-420 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 370 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${X[@]}"; }
  for w in 4 mixed; do
    for a in split early0 early1 split early0 early1; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w; done
  done
  for a in split early0 early1; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
