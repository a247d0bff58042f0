#!/usr/bin/env bash
# The early scan after call163 (+8.1 to +10.1 us in stage 1 against the split cut): its inputs loaded before its first
# page requests, and its prep without the rotation, one block per KV head (GHOSTKV_EARLY_PREP_FULL=1: call163's prep);
# prep letting the next kernel launch once its hot keys' loads are issued (GHOSTKV_PREP_LATE_LAUNCH=1, "late"). One binary (commit in COMMIT). Checks of three early rows; the early scan's and prep's timelines
# (GHOSTKV_EARLY_TL=1) at 1 x 128K int4 and int8, 5%, with and without late; same-call runs at 1 x 128K (5% forced and
# certified): split, split+late, early, early+late for int4, mixed and int8. One H200; everything under $OUT.
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
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|^# scan|checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  e=(--cut-split --scan-early)
  chk rand8-split-early --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
  chk mixed-split-early-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 "${e[@]}"
  chk g3-d64-4-split-early --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 "${e[@]}"
  GHOSTKV_PREP_LATE_LAUNCH=1 chk rand8-split-early-late --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
  GHOSTKV_EARLY_PREP_FULL=1 chk rand8-split-early-prepfull --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
  GHOSTKV_PREP_LATE_LAUNCH=1 chk rand8-late --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_EARLY_TL=1
  for v in "4 0 0" "4 1 0" "4 0 1" "8 0 0" "8 1 0"; do
    set -- $v; w=$1 late=$2 full=$3
    echo "+ timeline $w late=$late prep_full=$full"
    GHOSTKV_EARLY_PREP_FULL=$full GHOSTKV_PREP_LATE_LAUNCH=$late timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-$w-tl" --batch 1 --n 131072 --bits $w \
        --reps 10 --check-batches 1 --fracs 0.05 --cut-split --scan-early 2>&1 | grep -E "^# early|^forced|^certified|FAIL|rror"
  done
) > "$O/timeline.txt" 2>&1
cat "$O/timeline.txt" | cut -c1-400
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 540 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# scan|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local x=(--cut-split); [[ "$a" == early* ]] && x+=(--scan-early)
         if [[ "$a" == *late ]]; then export GHOSTKV_PREP_LATE_LAUNCH=1; else export GHOSTKV_PREP_LATE_LAUNCH=0; fi
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for w in 4 mixed; do
    for a in split early earlylate splitlate split early earlylate splitlate; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w; done
  done
  for a in split early earlylate splitlate; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-220
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
