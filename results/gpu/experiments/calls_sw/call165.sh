#!/usr/bin/env bash
# The early scan after call164 (its factors done 9-10 us after its start: their loads queued behind the first page
# requests of every block): the first page requests after the factors (GHOSTKV_EARLY_ISSUE=1) or the odd warps' only
# (=2); the cut's e^{edge} table prefetched into the L2 at the scan's start (GHOSTKV_EDGE_PREFETCH=1); 15 scan blocks
# per KV head (GHOSTKV_SPLIT_CHUNKS=15: beside prep's 8 blocks). One binary (commit in COMMIT). Timelines
# (GHOSTKV_EARLY_TL=1) of the split cut's scan (early or not) at 1 x 128K int4, 5%; checks of two early rows with
# each issue mode; same-call runs at 1 x 128K (5% forced and certified) for int4, mixed and int8. One H200; $OUT.
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
  for is in 1 2; do
    export GHOSTKV_EARLY_ISSUE=$is GHOSTKV_EDGE_PREFETCH=1
    chk rand8-split-early-i$is --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
    chk g3-d64-4-split-early-i$is --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 "${e[@]}"
  done
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
arm_env() {  # arm name -> environment
  unset GHOSTKV_EARLY_ISSUE GHOSTKV_EDGE_PREFETCH GHOSTKV_SPLIT_CHUNKS
  X=(--cut-split)
  case "$1" in
    split) ;;
    splitpf) export GHOSTKV_EDGE_PREFETCH=1 ;;
    early0) X+=(--scan-early) ;;
    early1) X+=(--scan-early); export GHOSTKV_EARLY_ISSUE=1 ;;
    early2) X+=(--scan-early); export GHOSTKV_EARLY_ISSUE=2 ;;
    early1pf) X+=(--scan-early); export GHOSTKV_EARLY_ISSUE=1 GHOSTKV_EDGE_PREFETCH=1 ;;
    early1c15) X+=(--scan-early); export GHOSTKV_EARLY_ISSUE=1 GHOSTKV_SPLIT_CHUNKS=15 ;;
  esac
}
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_EARLY_TL=1
  for a in split early0 early1 early2 early1pf early1c15; do
    arm_env $a
    echo "+ timeline int4 $a"
    timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-4-tl" --batch 1 --n 131072 --bits 4 \
      --reps 10 --check-batches 1 --fracs 0.05 "${X[@]}" 2>&1 | grep -E "^# early|^forced|^certified|FAIL|rror"
  done
) > "$O/timeline.txt" 2>&1
cut -c1-420 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 550 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${X[@]}"; }
  for w in 4 mixed; do
    for a in split early1 early2 early1c15 split early1 early2 early1c15; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w; done
  done
  for a in split early1 early2 early1c15; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
